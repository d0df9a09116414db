/*
 * shoal_job_watch.c: follow the event log with long polls.
 *
 *   GET /events?since=CURSOR[&jobId=J][&types=T1,T2]&timeout=HOLD
 *     200 {"value":[event...],"lastSeq":N}   events with seq > CURSOR,
 *                                            or none after HOLD seconds
 *     410 EventCursorExpired                 CURSOR is older than what
 *                                            the service retains
 *
 * The watch is a loop around one cursor (notifications.md §5.6):
 *
 *        cursor = since (or none: the service starts from its newest)
 *          |
 *          v
 *   +-> poll(cursor) --ok--> for each event with seq > cursor, in order:
 *   |      |                   cursor = seq; fn(old, new, event)
 *   |      |                   (fn non-zero: return 0)
 *   |      |                 cursor = max(cursor, lastSeq)
 *   |      |                 backoff = base --------------------------+
 *   |      +--410-----------> return SHOAL_ERR_GONE                   |
 *   |      +--connect, timeout, 5xx, 429: sleep backoff, double it,   |
 *   |      |  (give up after give_up_ms unreachable) ----------------+|
 *   |      +--anything else--> return it                             ||
 *   +----------------------------------------------------------------++
 *
 * Because the cursor only moves past events already handed to fn (or
 * filtered out by the service, which lastSeq covers), a connection that
 * drops mid-reply, or a service that restarts, loses nothing: the next
 * poll asks again from the same cursor. Events at or below the cursor
 * (a reply racing a retry) are skipped, so none is passed twice.
 *
 * The hold time stays under the client's stall timeout (an empty poll
 * sends no byte until it ends) and under the watch's own deadline. A
 * reply's events are all parsed before any is passed on: a bad one fails
 * the watch with SHOAL_ERR_PROTOCOL and the cursor stays before it.
 *
 * Thread-safe: the state is the caller's stack; fn runs on the caller's
 * thread.
 */
#include "client/clientint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/timefmt.h"

#define WATCH_HOLD_S      25
#define WATCH_HOLD_MAX_S  3600
#define WATCH_MAX_REPLY   (64u << 20)
#define WATCH_STALL_SLACK 5 /* seconds between the hold and the stall limit */

struct watch {
    const char *job_id;
    const char *types;
    shoal_watch_fn fn;
    void *ctx;
    int64_t cursor; /* < 0: none yet */
    bool stopped;
    int status; /* of the last poll */
};

static void sleep_ms(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void free_events(shoal_event **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        shoal_event_free(v[i]);
    free(v);
}

/* Parse a reply into events; all or nothing. */
static int parse_reply(shoal_client *c, json_t *reply, shoal_event ***out,
                       size_t *n_out, int64_t *last_out)
{
    json_t *value = json_object_get(reply, "value");
    json_t *last = json_object_get(reply, "lastSeq");
    shoal_event **v = NULL;
    size_t n, i;
    char why[160];
    int rc;

    if (!json_is_array(value) || !json_is_integer(last) ||
        json_integer_value(last) < 0)
        return client_fail(c, SHOAL_ERR_PROTOCOL,
                           "events reply without value and lastSeq");
    n = json_array_size(value);
    if (n > 0) {
        v = calloc(n, sizeof(*v));
        if (!v)
            return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        rc = shoal_event_from_json(json_array_get(value, i), &v[i], why,
                                   sizeof(why));
        if (rc < 0) {
            free_events(v, i);
            return client_fail(c, rc, "bad event in the events reply: %s", why);
        }
    }
    *out = v;
    *n_out = n;
    *last_out = (int64_t)json_integer_value(last);
    return 0;
}

static int poll_once(shoal_client *c, struct watch *w, int hold_s)
{
    json_t *reply = NULL;
    shoal_event **evs = NULL;
    size_t n = 0, i;
    int64_t last = 0;
    char num[32];
    struct req r;
    int rc;

    w->status = 0;
    rc = batchreq_init(c, &r, "GET", "events", NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    buf_init(&r.resp, WATCH_MAX_REPLY); /* still empty: nothing to free */
    if (w->cursor >= 0) {
        snprintf(num, sizeof(num), "%lld", (long long)w->cursor);
        req_query(&r, "since", num);
    }
    if (w->job_id)
        req_query(&r, "jobId", w->job_id);
    if (w->types && *w->types)
        req_query(&r, "types", w->types);
    snprintf(num, sizeof(num), "%d", hold_s);
    req_query(&r, "timeout", num);
    rc = batchreq_send(c, &r, NULL, &reply);
    w->status = r.status;
    req_release(&r);
    if (rc < 0)
        return rc;
    rc = parse_reply(c, reply, &evs, &n, &last);
    json_decref(reply);
    if (rc < 0)
        return rc;
    for (i = 0; i < n; i++) {
        const shoal_event *ev = evs[i];
        int64_t seq = shoal_event_seq(ev);

        if (w->cursor >= 0 && seq <= w->cursor)
            continue; /* seen already */
        w->cursor = seq;
        if (w->fn(shoal_event_old_state(ev), shoal_event_new_state(ev), ev,
                  w->ctx) != 0) {
            w->stopped = true;
            break;
        }
    }
    if (!w->stopped && last > w->cursor)
        w->cursor = last;
    free_events(evs, n);
    return 0;
}

static bool transient(int rc, int status)
{
    return rc == SHOAL_ERR_CONNECT || rc == SHOAL_ERR_TIMEOUT ||
           rc == SHOAL_ERR_SERVER || (rc == SHOAL_ERR_HTTP && status == 429);
}

/* The hold for the next poll: under the deadline and the stall limit. */
static int hold_for(const shoal_client *c, int hold, int64_t deadline,
                    int64_t now)
{
    int64_t h = hold;

    if (deadline) {
        int64_t left = (deadline - now + 999) / 1000;

        if (left < h)
            h = left;
    }
    if (c->stall_timeout_ms > 0 &&
        h > c->stall_timeout_ms / 1000 - WATCH_STALL_SLACK)
        h = c->stall_timeout_ms / 1000 - WATCH_STALL_SLACK;
    if (c->timeout_ms > 0 && h > c->timeout_ms / 1000 - 1)
        h = c->timeout_ms / 1000 - 1;
    return h < 1 ? 1 : (int)h;
}

int shoal_job_watch(shoal_client *c, const char *job_id, int64_t since_seq,
                    const char *types, shoal_watch_fn fn, void *ctx,
                    int64_t timeout_ms, const struct shoal_watch_opts *opts)
{
    struct watch w;
    int hold = WATCH_HOLD_S;
    int64_t give_up = 0, start, deadline, backoff, down_since = 0;
    int rc;

    memset(&w, 0, sizeof(w));
    w.cursor = since_seq < 0 ? -1 : since_seq;
    if (opts && opts->last_seq_out)
        *opts->last_seq_out = w.cursor;
    if (!fn)
        return client_fail(c, SHOAL_ERR_INVALID, "no watch callback");
    if (job_id && !*job_id)
        return client_fail(c, SHOAL_ERR_INVALID, "empty job id");
    if (timeout_ms < 0)
        return client_fail(c, SHOAL_ERR_INVALID, "negative timeout");
    if (opts && opts->hold_s > 0)
        hold =
            opts->hold_s < WATCH_HOLD_MAX_S ? opts->hold_s : WATCH_HOLD_MAX_S;
    if (opts && opts->give_up_ms > 0)
        give_up = opts->give_up_ms;
    w.job_id = job_id;
    w.types = types;
    w.fn = fn;
    w.ctx = ctx;
    start = timefmt_mono_ms();
    deadline = timeout_ms > 0 ? start + timeout_ms : 0;
    backoff = c->retry_base_ms > 0 ? c->retry_base_ms : 1;
    for (;;) {
        int64_t now = timefmt_mono_ms();

        if (deadline && now >= deadline) {
            rc = client_fail(c, SHOAL_ERR_TIMEOUT, "watch timed out");
            break;
        }
        rc = poll_once(c, &w, hold_for(c, hold, deadline, now));
        if (rc == 0) {
            backoff = c->retry_base_ms > 0 ? c->retry_base_ms : 1;
            down_since = 0;
            if (w.stopped)
                break;
            continue;
        }
        if (!transient(rc, w.status))
            break;
        now = timefmt_mono_ms();
        if (down_since == 0)
            down_since = now;
        if (give_up && now - down_since >= give_up)
            break;
        if (deadline && now + backoff > deadline)
            sleep_ms(deadline - now);
        else
            sleep_ms(backoff);
        backoff = backoff * 2 < c->retry_max_ms ? backoff * 2 : c->retry_max_ms;
    }
    if (opts && opts->last_seq_out)
        *opts->last_seq_out = w.cursor;
    return rc;
}
