/*
 * notify_api.c: HTTP for events and notifications, on the batch port.
 *
 *   GET    /events?since=SEQ&jobId=J&types=T1,T2&timeout=S
 *            long-poll: {"value":[event...],"lastSeq":N} as soon as there
 *            are events after SEQ (or an empty list at the timeout);
 *            with "Accept: text/event-stream": Server-Sent Events, each
 *            "id: SEQ / event: TYPE / data: JSON", a ":" heartbeat every
 *            15 s, an "event: bookmark" (id = newest seq) after 60 s of
 *            silence on a filtered stream; resume with Last-Event-ID.
 *            SEQ older than what is retained: 410 EventCursorExpired.
 *   POST   /notificationendpoints            {"name","endpointType":
 *            "queue"|"webhook","endpointAddress","base64"?} -> 201 + entity
 *            (a webhook's signingKey is returned here only)
 *   GET    /notificationendpoints[/{id}]
 *   DELETE /notificationendpoints/{id}      -> 200, Unregistration message
 *   GET    /notificationendpoints/{id}/deadletters
 *   POST   /notificationendpoints/{id}/deadletters/replay -> 204
 *   GET|PUT /jobs/{id}/notificationsubscriptions {"value":[{
 *            "notificationEndPointId","targetJobState"}]}
 *
 * A watch request parks itself (http_suspend) on n->watchers after it has
 * registered and found nothing new; notify_committed() resumes every parked
 * watcher, which then re-reads from its cursor. Registering before reading
 * (under n->mu) closes the lost-wakeup window; a resume that beats the
 * suspend is kept by http (resume_pending). A parked watcher also carries
 * its due time (due_mono): the long-poll deadline, or for SSE the next
 * heartbeat (15 s after the last byte) or bookmark (60 s after the last
 * event or bookmark, filtered streams only; heartbeats do not postpone
 * it); the watch timer thread (notify.c) resumes it then. The watch state
 * belongs to the request (req->state) and is unlinked and freed in done().
 *
 * Routes are matched exactly (notify_is_route): /events,
 * /notificationendpoints[/...] and /jobs/{id}/notificationsubscriptions
 * with {id} one path segment; anything else, e.g. a task named
 * "notificationsubscriptions", is batch's.
 * Bodies are buffered up to NOTIFY_BODY_MAX (64 KiB); a Content-Length over
 * it is refused with 413 before any body byte is read.
 *
 * Changes after review (tests in tests/integ/notify_*.test.mjs): long-poll
 * timeouts and SSE bookmarks now fire (watch timer, last_event_mono); a
 * stream whose cursor expires sends one error event and ends (it repeated
 * the error forever); the route match no longer takes any /jobs path that
 * contains "/notificationsubscriptions"; an oversized declared body is
 * refused at the headers (a 413 queued mid-body was dropped by MHD).
 */
#include "notify/notify.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"
#include "db/db.h"
#include "auth/auth.h"
#include "http/http.h"
#include "notify/notifyint.h"
#include "queue/queue.h"

#define WATCH_BATCH 500

struct notify_watch {
    struct notify *n;
    struct http_req *req;
    char account[64];
    char job_key[256];
    bool has_job;
    uint32_t types; /* bit per kind; 0 = all */
    int64_t cursor;
    bool sse;
    bool started;            /* SSE: the retry line was written */
    bool finished;           /* SSE: the last bytes queued; end after them */
    int64_t deadline_mono;   /* long-poll: answer by then */
    int64_t last_write_mono; /* SSE: any byte (heartbeat after 15 s) */
    int64_t last_event_mono; /* SSE: an event or bookmark (bookmark, 60 s) */
    int64_t due_mono;        /* while parked: when the timer resumes it */
    struct buf pending;
    size_t pending_off;
    bool parked;
    struct notify_watch *prev, *next;
};

struct notify_reqstate {
    int magic;
    struct notify_watch *watch;
};

static void reply_json(struct http_req *req, int status, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    struct buf b = BUF_INIT;

    if (s)
        buf_adds(&b, s);
    free(s);
    json_decref(o);
    http_reply(req, status, "application/json;odata=minimalmetadata", &b);
    buf_release(&b);
}

static void reply_err(struct http_req *req, const struct err *e)
{
    http_reply_batch_error(req, e);
}

/* ---- watch ------------------------------------------------------------------ */

static void watch_unpark_locked(struct notify *n, struct notify_watch *w)
{
    if (!w->parked)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        n->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->parked = false;
}

void notify_watch_wake_locked(struct notify *n)
{
    while (n->watchers) {
        struct notify_watch *w = n->watchers;
        watch_unpark_locked(n, w);
        http_resume(w->req);
    }
}

int64_t notify_watch_tick_locked(struct notify *n, int64_t now_mono)
{
    struct notify_watch *w = n->watchers, *next;
    int64_t earliest = 0;

    for (; w; w = next) {
        next = w->next;
        if (w->due_mono <= now_mono) {
            watch_unpark_locked(n, w);
            http_resume(w->req);
        } else if (earliest == 0 || w->due_mono < earliest) {
            earliest = w->due_mono;
        }
    }
    return earliest;
}

/*
 * Park w until a commit or its due time: the long-poll deadline, or for
 * SSE the next heartbeat (or bookmark, on a filtered stream). The watch
 * timer sleeps until the earliest due time; wake it when w is earlier.
 */
static void watch_park(struct notify_watch *w)
{
    struct notify *n = w->n;
    int64_t due;

    if (w->sse) {
        due = w->last_write_mono + NOTIFY_HEARTBEAT_MS;
        if (w->types && w->last_event_mono + NOTIFY_BOOKMARK_MS < due)
            due = w->last_event_mono + NOTIFY_BOOKMARK_MS;
    } else {
        due = w->deadline_mono;
    }
    pthread_mutex_lock(&n->mu);
    w->due_mono = due;
    if (!w->parked) {
        w->parked = true;
        w->prev = NULL;
        w->next = n->watchers;
        if (n->watchers)
            n->watchers->prev = w;
        n->watchers = w;
    }
    if (n->watch_wake_at == 0 || due < n->watch_wake_at) {
        n->watch_wake_at = due;
        pthread_cond_broadcast(&n->watch_cond);
    }
    pthread_mutex_unlock(&n->mu);
}

static const char *entity_type(int kind)
{
    switch (kind) {
    case NOTIFY_JOB_STATE:
    case NOTIFY_JOB_BATCH_STATE:
        return "job";
    case NOTIFY_TASK_STATE:
        return "task";
    case NOTIFY_POOL_STATE:
        return "pool";
    case NOTIFY_NODE_STATE:
        return "node";
    case NOTIFY_JOB_SCHEDULE_STATE:
        return "jobSchedule";
    }
    return "notificationEndPoint";
}

static json_t *event_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_error_t jerr;
    json_t *props = json_loads((const char *)sqlite3_column_text(st, 7), 0,
                               &jerr);
    int kind = sqlite3_column_int(st, 2);
    char t[TIMEFMT_ISO_LEN];
    json_t *v;

    timefmt_iso8601(sqlite3_column_int64(st, 1), 7, t);
    json_object_set_new(o, "sequence",
                        json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "time", json_string(t));
    json_object_set_new(o, "type", json_string(notify_kind_name(kind)));
    json_object_set_new(o, "entityType", json_string(entity_type(kind)));
    if (sqlite3_column_type(st, 3) != SQLITE_NULL)
        json_object_set_new(
            o, "entityId",
            json_string((const char *)sqlite3_column_text(st, 3)));
    if (props && (v = json_object_get(props, "JobId")))
        json_object_set(o, "jobId", v);
    if (props && (v = json_object_get(props, "PoolId")))
        json_object_set(o, "poolId", v);
    json_object_set_new(o, "oldState",
                        sqlite3_column_type(st, 5) == SQLITE_NULL
                            ? json_null()
                            : json_string((const char *)
                                              sqlite3_column_text(st, 5)));
    json_object_set_new(o, "newState",
                        sqlite3_column_type(st, 6) == SQLITE_NULL
                            ? json_null()
                            : json_string((const char *)
                                              sqlite3_column_text(st, 6)));
    if (kind == NOTIFY_TASK_STATE) {
        v = props ? json_object_get(props, "ExitCode") : NULL;
        json_object_set(o, "exitCode", v ? v : json_null());
        v = props ? json_object_get(props, "FailureCode") : NULL;
        json_object_set(o, "failureCode", v ? v : json_null());
    }
    json_object_set_new(o, "etag",
                        json_string((const char *)sqlite3_column_text(st, 8)));
    if (props)
        json_object_set_new(o, "properties", props);
    return o;
}

/*
 * Read up to WATCH_BATCH events after w->cursor into arr (or SSE text into
 * w->pending). Advances the cursor past filtered-out events. Returns the
 * number of events emitted, or -ERR_GONE when the cursor is too old.
 */
static int watch_read(struct notify_watch *w, json_t *arr)
{
    struct notify *n = w->n;
    sqlite3_stmt *st;
    int emitted = 0, rows;

    db_lock(n->db);
    if (w->cursor < n->pruned_through) {
        db_unlock(n->db);
        return -ERR_GONE;
    }
    /*
     * A full batch that the types filter emptied is not the end: read on,
     * or a matching event behind 500 others would wait for the next commit.
     */
    do {
        rows = 0;
        if (w->has_job) {
            st = db_stmt(n->db,
                         "SELECT seq, ts, kind, entity_id, job_key, old_state,"
                         " new_state, props, etag FROM events WHERE seq > ?"
                         " AND account = ? AND job_key = ? ORDER BY seq"
                         " LIMIT 500");
            sqlite3_bind_text(st, 3, w->job_key, -1, SQLITE_STATIC);
        } else {
            st = db_stmt(n->db,
                         "SELECT seq, ts, kind, entity_id, job_key, old_state,"
                         " new_state, props, etag FROM events WHERE seq > ?"
                         " AND account = ? ORDER BY seq LIMIT 500");
        }
        sqlite3_bind_int64(st, 1, w->cursor);
        sqlite3_bind_text(st, 2, w->account, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            int64_t seq = sqlite3_column_int64(st, 0);
            int kind = sqlite3_column_int(st, 2);
            int bit = kind == NOTIFY_EP_UNREGISTERED ? NOTIFY_EP_REGISTERED
                                                     : kind;

            rows++;
            w->cursor = seq;
            if (w->types && !(w->types & (1u << bit)))
                continue;
            if (arr) {
                json_array_append_new(arr, event_json(st));
            } else {
                json_t *o = event_json(st);
                char *s = json_dumps(o, JSON_COMPACT);
                buf_addf(&w->pending, "id: %lld\nevent: %s\ndata: %s\n\n",
                         (long long)seq, notify_kind_name(kind),
                         s ? s : "{}");
                free(s);
                json_decref(o);
            }
            emitted++;
        }
        sqlite3_reset(st);
    } while (emitted == 0 && rows == WATCH_BATCH);
    db_unlock(n->db);
    return emitted;
}

static void reply_gone(struct http_req *req, int64_t since, int64_t pruned)
{
    struct err e = ERR_INIT;
    char a[32], b[32];

    err_set(&e, ERR_GONE, "EventCursorExpired",
            "events after %lld are no longer retained (oldest kept is after "
            "%lld): list again and watch from x-shoal-event-seq",
            (long long)since, (long long)pruned);
    snprintf(a, sizeof(a), "%lld", (long long)since);
    snprintf(b, sizeof(b), "%lld", (long long)pruned);
    err_add_detail(&e, "Since", a);
    err_add_detail(&e, "OldestAvailableAfter", b);
    reply_err(req, &e);
}

static ssize_t sse_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    struct notify_watch *w = ctx;
    int64_t now;
    int rc;

    (void)pos;
    for (;;) {
        if (w->pending_off < w->pending.len) {
            size_t k = w->pending.len - w->pending_off;
            if (k > max)
                k = max;
            memcpy(out, w->pending.data + w->pending_off, k);
            w->pending_off += k;
            if (w->pending_off == w->pending.len) {
                buf_reset(&w->pending);
                w->pending_off = 0;
            }
            w->last_write_mono = timefmt_mono_ms();
            return (ssize_t)k;
        }
        if (w->finished)
            return -1;
        if (!w->started) {
            w->started = true;
            buf_adds(&w->pending, "retry: 2000\n\n");
            continue;
        }
        if (http_shutting_down(w->req))
            return -1;
        watch_park(w);
        rc = watch_read(w, NULL);
        if (rc < 0) {
            /* One error event, then the end of the stream. */
            buf_adds(&w->pending, "event: error\ndata: {\"code\":"
                                  "\"EventCursorExpired\"}\n\n");
            w->finished = true;
            pthread_mutex_lock(&w->n->mu);
            watch_unpark_locked(w->n, w);
            pthread_mutex_unlock(&w->n->mu);
            continue;
        }
        now = timefmt_mono_ms();
        if (rc > 0)
            w->last_event_mono = now;
        if (rc > 0 || w->pending.len) {
            pthread_mutex_lock(&w->n->mu);
            watch_unpark_locked(w->n, w);
            pthread_mutex_unlock(&w->n->mu);
            continue;
        }
        if (w->types && now - w->last_event_mono >= NOTIFY_BOOKMARK_MS) {
            int64_t last;
            db_lock(w->n->db);
            last = notify_last_seq_locked(w->n);
            db_unlock(w->n->db);
            if (last > w->cursor)
                w->cursor = last;
            buf_addf(&w->pending, "id: %lld\nevent: bookmark\ndata: {}\n\n",
                     (long long)w->cursor);
            w->last_event_mono = now;
            continue;
        }
        if (now - w->last_write_mono >= NOTIFY_HEARTBEAT_MS) {
            buf_adds(&w->pending, ":\n\n");
            continue;
        }
        http_suspend(w->req);
        return 0;
    }
}

static int parse_types(const char *s, uint32_t *out, struct err *e)
{
    char tmp[512];
    char *save = NULL, *tok;

    *out = 0;
    if (!s || !*s)
        return 0;
    if (strlen(s) >= sizeof(tmp))
        return err_set(e, ERR_INVALID, "InvalidQueryParameterValue",
                       "types is too long");
    snprintf(tmp, sizeof(tmp), "%s", s);
    for (tok = strtok_r(tmp, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int k;
        while (*tok == ' ')
            tok++;
        k = notify_kind_parse(tok);
        if (k < 0)
            return err_set(e, ERR_INVALID, "InvalidQueryParameterValue",
                           "unknown event type '%s'", tok);
        *out |= 1u << k;
    }
    return 0;
}

static void watch_start(struct notify *n, struct http_req *req,
                        const char *account, struct notify_reqstate *rs)
{
    struct notify_watch *w = xcalloc(1, sizeof(*w));
    struct err e = ERR_INIT;
    const char *since = http_param(req, "since");
    const char *lei = http_header(req, "Last-Event-ID");
    const char *job = http_param(req, "jobId");
    const char *accept = http_header(req, "Accept");
    const char *to = http_param(req, "timeout");
    uint64_t tmo = 30;
    int64_t cur, pruned;

    w->n = n;
    w->req = req;
    buf_init(&w->pending, (size_t)-1);
    rs->watch = w;
    snprintf(w->account, sizeof(w->account), "%s", account);
    if (job && *job) {
        if (strlen(job) >= sizeof(w->job_key)) {
            err_set(&e, ERR_INVALID, "InvalidQueryParameterValue",
                    "jobId is too long");
            goto bad;
        }
        w->has_job = true;
        notify_job_key(job, w->job_key, sizeof(w->job_key));
    }
    if (parse_types(http_param(req, "types"), &w->types, &e) < 0)
        goto bad;
    if (to && parse_u64(to, 0, 3600, &tmo) < 0) {
        err_set(&e, ERR_INVALID, "InvalidQueryParameterValue",
                "timeout must be 0..3600 seconds");
        goto bad;
    }
    w->sse = accept && strstr(accept, "text/event-stream") != NULL;
    db_lock(n->db);
    cur = notify_last_seq_locked(n);
    pruned = n->pruned_through; /* written under the db lock too */
    db_unlock(n->db);
    if (w->sse && lei && *lei)
        since = lei;
    if (since) {
        int64_t v;
        if (parse_i64(since, 0, INT64_MAX, &v) < 0) {
            err_set(&e, ERR_INVALID, "InvalidQueryParameterValue",
                    "since must be a sequence number");
            err_add_detail(&e, "QueryParameterName", "since");
            goto bad;
        }
        w->cursor = v;
    } else {
        w->cursor = cur;
    }
    if (w->cursor < pruned) {
        reply_gone(req, w->cursor, pruned);
        return;
    }
    w->deadline_mono = timefmt_mono_ms() + (int64_t)tmo * 1000;
    w->last_write_mono = timefmt_mono_ms();
    w->last_event_mono = w->last_write_mono;
    if (w->sse) {
        char s[32];
        snprintf(s, sizeof(s), "%lld", (long long)cur);
        http_add_header(req, "x-shoal-event-seq", s);
        http_add_header(req, "Cache-Control", "no-cache");
        http_reply_stream(req, 200, "text/event-stream", sse_read, w, NULL);
    }
    return;
bad:
    reply_err(req, &e);
}

static void watch_poll(struct notify_watch *w)
{
    struct http_req *req = w->req;
    json_t *arr;
    int rc;

    watch_park(w);
    arr = json_array();
    rc = watch_read(w, arr);
    if (rc == -ERR_GONE) {
        int64_t pruned;
        pthread_mutex_lock(&w->n->mu);
        watch_unpark_locked(w->n, w);
        pruned = w->n->pruned_through;
        pthread_mutex_unlock(&w->n->mu);
        json_decref(arr);
        reply_gone(req, w->cursor, pruned);
        return;
    }
    if (rc > 0 || timefmt_mono_ms() >= w->deadline_mono ||
        http_shutting_down(req)) {
        json_t *o = json_object();
        char s[32];
        pthread_mutex_lock(&w->n->mu);
        watch_unpark_locked(w->n, w);
        pthread_mutex_unlock(&w->n->mu);
        json_object_set_new(o, "value", arr);
        json_object_set_new(o, "lastSeq", json_integer(w->cursor));
        snprintf(s, sizeof(s), "%lld", (long long)w->cursor);
        http_add_header(req, "x-shoal-event-seq", s);
        reply_json(req, 200, o);
        return;
    }
    json_decref(arr);
    http_suspend(req);
}

/* ---- endpoints ------------------------------------------------------------- */

static json_t *endpoint_json(sqlite3_stmt *st, struct notify *n)
{
    json_t *o = json_object();
    char t[TIMEFMT_ISO_LEN];
    int type = sqlite3_column_int(st, 4);
    const char *id = (const char *)sqlite3_column_text(st, 0);
    sqlite3_stmt *q;

    timefmt_iso8601(sqlite3_column_int64(st, 3), 7, t);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(
        o, "name", json_string((const char *)sqlite3_column_text(st, 2)));
    json_object_set_new(o, "endpointType",
                        json_string(type == 1 ? "queue" : "webhook"));
    json_object_set_new(
        o, "endpointAddress",
        json_string((const char *)sqlite3_column_text(st, 5)));
    json_object_set_new(o, "created", json_string(t));
    json_object_set_new(o, "base64",
                        json_boolean(sqlite3_column_int(st, 6)));
    q = db_stmt(n->db, "SELECT COUNT(*) FROM outbox WHERE endpoint_id=?");
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) == SQLITE_ROW)
        json_object_set_new(o, "pendingDeliveries",
                            json_integer(sqlite3_column_int64(q, 0)));
    sqlite3_reset(q);
    q = db_stmt(n->db,
                "SELECT COUNT(*) FROM dead_letters WHERE endpoint_id=?");
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) == SQLITE_ROW)
        json_object_set_new(o, "deadLetters",
                            json_integer(sqlite3_column_int64(q, 0)));
    sqlite3_reset(q);
    return o;
}

static const char *jstr(json_t *o, const char *a, const char *b)
{
    const char *v = json_string_value(json_object_get(o, a));

    return v ? v : json_string_value(json_object_get(o, b));
}

static void endpoint_create(struct notify *n, struct http_req *req,
                            const char *account)
{
    struct err e = ERR_INIT;
    json_error_t jerr;
    json_t *body = json_loadb(req->body.data, req->body.len,
                              JSON_REJECT_DUPLICATES, &jerr);
    const char *name, *addr, *tstr;
    json_t *tv;
    int type = 0;
    bool base64 = false;
    char uuid[37], id[64], created[TIMEFMT_ISO_LEN];
    char key_b64[128] = "";
    int64_t now = timefmt_now_ms(), seq = 0;
    struct notify_event ev;
    sqlite3_stmt *st;
    json_t *out;

    if (!body || !json_is_object(body)) {
        err_set(&e, ERR_INVALID, "InvalidRequestBody",
                "the body is not a JSON object: %s", jerr.text);
        goto bad;
    }
    name = jstr(body, "name", "Name");
    addr = jstr(body, "endpointAddress", "EndPointAddress");
    tv = json_object_get(body, "endpointType");
    if (!tv)
        tv = json_object_get(body, "EndPointType");
    tstr = json_string_value(tv);
    if (json_is_integer(tv))
        type = (int)json_integer_value(tv);
    else if (tstr && (strcasecmp(tstr, "queue") == 0 ||
                      strcasecmp(tstr, "AzureQueue") == 0))
        type = 1;
    else if (tstr && strcasecmp(tstr, "webhook") == 0)
        type = 3;
    base64 = json_is_true(json_object_get(body, "base64"));
    if (!name || !*name || strlen(name) > 256) {
        err_set(&e, ERR_INVALID, "MissingRequiredProperty",
                "name is required (1..256 characters)");
        err_add_detail(&e, "PropertyName", "name");
        goto bad;
    }
    if (type != 1 && type != 3) {
        err_set(&e, ERR_INVALID, "InvalidPropertyValue",
                "endpointType must be queue or webhook");
        err_add_detail(&e, "PropertyName", "endpointType");
        goto bad;
    }
    if (!addr || (type == 1 && queue_check_name(addr, NULL) < 0) ||
        (type == 3 && strncmp(addr, "http://", 7) != 0 &&
         strncmp(addr, "https://", 8) != 0) ||
        strlen(addr) > 2048) {
        err_set(&e, ERR_INVALID, "InvalidPropertyValue",
                type == 1 ? "endpointAddress must be a queue name"
                          : "endpointAddress must be an http(s) URL");
        err_add_detail(&e, "PropertyName", "endpointAddress");
        goto bad;
    }
    crypto_uuid(uuid);
    snprintf(id, sizeof(id), "nb:nepid:UUID:%s", uuid);
    timefmt_iso8601(now, 7, created);
    if (type == 3) {
        unsigned char key[64];
        struct buf kb = BUF_INIT;
        crypto_random(key, sizeof(key));
        codec_base64_encode(&kb, key, sizeof(key));
        snprintf(key_b64, sizeof(key_b64), "%s", kb.data);
        buf_release(&kb);
    }
    db_lock(n->db);
    if (db_begin(n->db, &e) < 0) {
        db_unlock(n->db);
        goto bad;
    }
    st = db_stmt(n->db, "INSERT INTO endpoints(id, account, name, created,"
                        " type, address, signing_key, base64)"
                        " VALUES(?,?,?,?,?,?,?,?)");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int(st, 5, type);
    sqlite3_bind_text(st, 6, addr, -1, SQLITE_STATIC);
    if (type == 3)
        sqlite3_bind_text(st, 7, key_b64, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, base64 ? 1 : 0);
    memset(&ev, 0, sizeof(ev));
    ev.account = account;
    ev.kind = NOTIFY_EP_REGISTERED;
    ev.entity_id = id;
    ev.job_name = name;
    ev.new_state = "Registered";
    ev.created = created;
    if (db_step_done(n->db, st, &e) < 0 ||
        notify_event_tx(n, &ev, &seq, &e) < 0 ||
        notify_outbox_add_tx(n, id, seq, now, &e) < 0 ||
        db_commit(n->db, &e) < 0) {
        db_rollback(n->db);
        db_unlock(n->db);
        goto bad;
    }
    st = db_stmt(n->db, "SELECT id, account, name, created, type, address,"
                        " base64 FROM endpoints WHERE id=?");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    out = sqlite3_step(st) == SQLITE_ROW ? endpoint_json(st, n) : json_object();
    sqlite3_reset(st);
    db_unlock(n->db);
    notify_committed(n);
    if (type == 3)
        json_object_set_new(out, "signingKey", json_string(key_b64));
    {
        char *loc = xasprintf("/notificationendpoints/%s", id);
        http_add_header(req, "Location", loc);
        http_add_header(req, "DataServiceId", loc);
        free(loc);
    }
    log_info("notification endpoint registered id=%s type=%s", id,
             type == 1 ? "queue" : "webhook");
    json_decref(body);
    reply_json(req, 201, out);
    return;
bad:
    json_decref(body);
    reply_err(req, &e);
}

static void endpoint_list(struct notify *n, struct http_req *req,
                          const char *account, const char *id)
{
    struct err e = ERR_INIT;
    json_t *arr = json_array();
    sqlite3_stmt *st;

    db_lock(n->db);
    if (id) {
        st = db_stmt(n->db, "SELECT id, account, name, created, type,"
                            " address, base64 FROM endpoints WHERE id=? AND"
                            " account=? AND deleted=0");
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            json_t *o = endpoint_json(st, n);
            sqlite3_reset(st);
            db_unlock(n->db);
            json_decref(arr);
            reply_json(req, 200, o);
            return;
        }
        sqlite3_reset(st);
        db_unlock(n->db);
        json_decref(arr);
        err_set(&e, ERR_NOTFOUND, "NotificationEndPointNotFound",
                "notification endpoint '%s' not found", id);
        reply_err(req, &e);
        return;
    }
    st = db_stmt(n->db, "SELECT id, account, name, created, type, address,"
                        " base64 FROM endpoints WHERE account=? AND"
                        " deleted=0 ORDER BY created, id");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, endpoint_json(st, n));
    sqlite3_reset(st);
    db_unlock(n->db);
    {
        json_t *o = json_object();
        json_object_set_new(o, "value", arr);
        reply_json(req, 200, o);
    }
}

static void endpoint_delete(struct notify *n, struct http_req *req,
                            const char *account, const char *id)
{
    struct err e = ERR_INIT;
    struct notify_event ev;
    sqlite3_stmt *st;
    char *name = NULL, *created = NULL;
    int64_t seq = 0, now = timefmt_now_ms();

    db_lock(n->db);
    st = db_stmt(n->db, "SELECT name, created FROM endpoints WHERE id=? AND"
                        " account=? AND deleted=0");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        char t[TIMEFMT_ISO_LEN];
        name = db_col_strdup(st, 0);
        timefmt_iso8601(sqlite3_column_int64(st, 1), 7, t);
        created = xstrdup(t);
    }
    sqlite3_reset(st);
    if (!name) {
        db_unlock(n->db);
        err_set(&e, ERR_NOTFOUND, "NotificationEndPointNotFound",
                "notification endpoint '%s' not found", id);
        reply_err(req, &e);
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.account = account;
    ev.kind = NOTIFY_EP_UNREGISTERED;
    ev.entity_id = id;
    ev.job_name = name;
    ev.old_state = "Registered";
    ev.new_state = "Unregistered";
    ev.created = created;
    if (db_begin(n->db, &e) < 0)
        goto fail;
    st = db_stmt(n->db, "UPDATE endpoints SET deleted=1 WHERE id=?");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (db_step_done(n->db, st, &e) < 0)
        goto fail_tx;
    st = db_stmt(n->db, "DELETE FROM job_subscriptions WHERE endpoint_id=?");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (db_step_done(n->db, st, &e) < 0 ||
        notify_event_tx(n, &ev, &seq, &e) < 0 ||
        notify_outbox_add_tx(n, id, seq, now, &e) < 0 ||
        db_commit(n->db, &e) < 0)
        goto fail_tx;
    db_unlock(n->db);
    notify_committed(n);
    free(name);
    free(created);
    http_reply(req, 200, NULL, NULL);
    return;
fail_tx:
    db_rollback(n->db);
fail:
    db_unlock(n->db);
    free(name);
    free(created);
    reply_err(req, &e);
}

static bool endpoint_exists_locked(struct notify *n, const char *account,
                                   const char *id)
{
    sqlite3_stmt *st = db_stmt(n->db, "SELECT 1 FROM endpoints WHERE id=?"
                                      " AND account=?");
    bool found;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return found;
}

static void dead_letters(struct notify *n, struct http_req *req,
                         const char *account, const char *id, bool replay)
{
    struct err e = ERR_INIT;
    sqlite3_stmt *st;
    json_t *arr;

    db_lock(n->db);
    if (!endpoint_exists_locked(n, account, id)) {
        db_unlock(n->db);
        err_set(&e, ERR_NOTFOUND, "NotificationEndPointNotFound",
                "notification endpoint '%s' not found", id);
        reply_err(req, &e);
        return;
    }
    if (replay) {
        int64_t now = timefmt_now_ms();
        if (db_begin(n->db, &e) < 0)
            goto fail;
        st = db_stmt(n->db, "INSERT OR IGNORE INTO outbox(endpoint_id, seq,"
                            " next_at, first_at) SELECT endpoint_id, seq, ?,"
                            " ? FROM dead_letters WHERE endpoint_id=?");
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
        if (db_step_done(n->db, st, &e) < 0)
            goto fail_tx;
        st = db_stmt(n->db, "DELETE FROM dead_letters WHERE endpoint_id=?");
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (db_step_done(n->db, st, &e) < 0 || db_commit(n->db, &e) < 0)
            goto fail_tx;
        db_unlock(n->db);
        notify_committed(n);
        http_reply(req, 204, NULL, NULL);
        return;
    }
    arr = json_array();
    st = db_stmt(n->db, "SELECT d.seq, d.reason, d.attempts, d.last_outcome,"
                        " d.last_attempt_at, d.dead_at, v.ts FROM"
                        " dead_letters d LEFT JOIN events v ON v.seq = d.seq"
                        " WHERE d.endpoint_id=? ORDER BY d.seq");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_object();
        char t[TIMEFMT_ISO_LEN];
        json_object_set_new(o, "sequence",
                            json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(
            o, "deadLetterReason",
            json_string((const char *)sqlite3_column_text(st, 1)));
        json_object_set_new(o, "deliveryAttempts",
                            json_integer(sqlite3_column_int(st, 2)));
        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            json_object_set_new(
                o, "lastDeliveryOutcome",
                json_string((const char *)sqlite3_column_text(st, 3)));
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
            timefmt_iso8601(sqlite3_column_int64(st, 4), 7, t);
            json_object_set_new(o, "lastDeliveryAttemptTime", json_string(t));
        }
        timefmt_iso8601(sqlite3_column_int64(st, 5), 7, t);
        json_object_set_new(o, "deadLetterTime", json_string(t));
        if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
            timefmt_iso8601(sqlite3_column_int64(st, 6), 7, t);
            json_object_set_new(o, "publishTime", json_string(t));
        }
        json_array_append_new(arr, o);
    }
    sqlite3_reset(st);
    db_unlock(n->db);
    {
        json_t *o = json_object();
        json_object_set_new(o, "value", arr);
        reply_json(req, 200, o);
    }
    return;
fail_tx:
    db_rollback(n->db);
fail:
    db_unlock(n->db);
    reply_err(req, &e);
}

static void subscriptions(struct notify *n, struct http_req *req,
                          const char *account, const char *job)
{
    struct err e = ERR_INIT;
    char jk[256];
    sqlite3_stmt *st;

    if (strlen(job) >= sizeof(jk) ||
        (n->job_exists && !n->job_exists(n->job_ctx, account, job))) {
        err_set(&e, ERR_NOTFOUND, "JobNotFound",
                "the specified job '%s' does not exist", job);
        reply_err(req, &e);
        return;
    }
    notify_job_key(job, jk, sizeof(jk));
    if (strcmp(req->method, "PUT") == 0) {
        json_error_t jerr;
        json_t *body = json_loadb(req->body.data, req->body.len,
                                  JSON_REJECT_DUPLICATES, &jerr);
        json_t *arr = body ? json_object_get(body, "value") : NULL;
        char *text;
        if (!arr || !json_is_array(arr)) {
            json_decref(body);
            err_set(&e, ERR_INVALID, "InvalidRequestBody",
                    "the body must be {\"value\":[subscription...]}");
            reply_err(req, &e);
            return;
        }
        text = json_dumps(arr, JSON_COMPACT);
        json_decref(body);
        db_lock(n->db);
        if (db_begin(n->db, &e) < 0 ||
            notify_unsubscribe_job_tx(n, account, job, &e) < 0 ||
            notify_subscribe_tx(n, account, job, text ? text : "[]", false,
                                &e) < 0 ||
            db_commit(n->db, &e) < 0) {
            db_rollback(n->db);
            db_unlock(n->db);
            free(text);
            reply_err(req, &e);
            return;
        }
        db_unlock(n->db);
        free(text);
        http_reply(req, 200, NULL, NULL);
        return;
    }
    {
        json_t *arr = json_array(), *o = json_object();
        db_lock(n->db);
        st = db_stmt(n->db, "SELECT endpoint_id, target FROM"
                            " job_subscriptions WHERE account=? AND"
                            " job_key=? ORDER BY endpoint_id");
        sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, jk, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *s = json_object();
            json_object_set_new(
                s, "notificationEndPointId",
                json_string((const char *)sqlite3_column_text(st, 0)));
            json_object_set_new(s, "targetJobState",
                                json_string(sqlite3_column_int(st, 1) == 2
                                                ? "All"
                                                : "FinalStatesOnly"));
            json_array_append_new(arr, s);
        }
        sqlite3_reset(st);
        db_unlock(n->db);
        json_object_set_new(o, "value", arr);
        reply_json(req, 200, o);
    }
}

/* ---- routing ---------------------------------------------------------------- */

static const int reqstate_magic = 0x6e6f7466; /* "notf" */

/*
 * The paths notify serves: /events, /notificationendpoints[/...] and
 * /jobs/{one segment}/notificationsubscriptions exactly. Anything else under
 * /jobs (a task whose id is "notificationsubscriptions", say) is batch's.
 */
bool notify_is_route(const char *p)
{
    static const char subs[] = "/notificationsubscriptions";
    const char *slash;

    if (strcmp(p, "/events") == 0)
        return true;
    if (strncmp(p, "/notificationendpoints", 22) == 0 &&
        (p[22] == '\0' || p[22] == '/'))
        return true;
    if (strncmp(p, "/jobs/", 6) != 0)
        return false;
    slash = strchr(p + 6, '/');
    return slash && slash > p + 6 && strcmp(slash, subs) == 0;
}

/* Decode one path segment into out; false if it does not decode. */
static bool segment(const char *s, size_t len, char *out, size_t outlen)
{
    struct buf b = BUF_INIT;
    bool ok = codec_pct_decode(&b, s, len, false) == 0 && b.len < outlen &&
              b.len > 0;

    if (ok)
        memcpy(out, b.data, b.len + 1);
    buf_release(&b);
    return ok;
}

bool notify_api_route(struct notify *n, struct http_req *req,
                      const char *account, bool at_end)
{
    const char *p = req->path;
    const char *m = req->method;
    struct err e = ERR_INIT;
    char id[256];
    struct notify_reqstate *rs;

    if (!n)
        return false;
    if (!notify_is_route(p))
        return false;
    if (!at_end) {
        req->body_max = NOTIFY_BODY_MAX;
        /*
         * A declared length over the limit is refused now, with headers
         * only: a reply queued while the body streams in is refused by
         * MHD (the client would see the connection close, no 413).
         */
        if (req->has_length && req->length > NOTIFY_BODY_MAX) {
            char lim[32];
            err_set(&e, ERR_TOOBIG, "RequestBodyTooLarge",
                    "the request body is larger than %u bytes",
                    NOTIFY_BODY_MAX);
            snprintf(lim, sizeof(lim), "%u", NOTIFY_BODY_MAX);
            err_add_detail(&e, "MaxLimit", lim);
            reply_err(req, &e);
        }
        return true;
    }
    rs = req->state;
    if (!rs) {
        rs = xcalloc(1, sizeof(*rs));
        rs->magic = reqstate_magic;
        req->state = rs;
    }
    if (strcmp(p, "/events") == 0) {
        if (strcmp(m, "GET") != 0)
            goto method;
        if (!rs->watch)
            watch_start(n, req, account, rs);
        if (!http_replied(req) && rs->watch && !rs->watch->sse)
            watch_poll(rs->watch);
        return true;
    }
    if (strncmp(p, "/jobs/", 6) == 0) {
        const char *s = p + 6;
        const char *slash = strchr(s, '/');
        if (!slash || strcmp(slash, "/notificationsubscriptions") != 0 ||
            !segment(s, (size_t)(slash - s), id, sizeof(id)))
            goto notfound;
        if (strcmp(m, "GET") != 0 && strcmp(m, "PUT") != 0)
            goto method;
        subscriptions(n, req, account, id);
        return true;
    }
    p += 22;
    if (*p == '\0') {
        if (strcmp(m, "POST") == 0)
            endpoint_create(n, req, account);
        else if (strcmp(m, "GET") == 0)
            endpoint_list(n, req, account, NULL);
        else
            goto method;
        return true;
    }
    if (*p != '/')
        goto notfound;
    p++;
    {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (!segment(p, len, id, sizeof(id)))
            goto notfound;
        if (!slash) {
            if (strcmp(m, "GET") == 0)
                endpoint_list(n, req, account, id);
            else if (strcmp(m, "DELETE") == 0)
                endpoint_delete(n, req, account, id);
            else
                goto method;
            return true;
        }
        if (strcmp(slash, "/deadletters") == 0 && strcmp(m, "GET") == 0) {
            dead_letters(n, req, account, id, false);
            return true;
        }
        if (strcmp(slash, "/deadletters/replay") == 0 &&
            strcmp(m, "POST") == 0) {
            dead_letters(n, req, account, id, true);
            return true;
        }
    }
notfound:
    err_set(&e, ERR_NOTFOUND, "ResourceNotFound",
            "no such resource '%s'", req->path);
    reply_err(req, &e);
    return true;
method:
    err_set(&e, ERR_METHOD, "UnsupportedHttpVerb",
            "%s is not supported on '%s'", m, req->path);
    reply_err(req, &e);
    return true;
}

void notify_api_done(struct notify *n, struct http_req *req)
{
    struct notify_reqstate *rs = req->state;

    if (!rs || rs->magic != reqstate_magic)
        return;
    if (rs->watch) {
        pthread_mutex_lock(&n->mu);
        watch_unpark_locked(n, rs->watch);
        pthread_mutex_unlock(&n->mu);
        buf_release(&rs->watch->pending);
        free(rs->watch);
    }
    free(rs);
    req->state = NULL;
}

/* ---- the batch listener wrapper -------------------------------------------- */

/*
 * The notify routes live on the batch port beside the Batch API. Rather
 * than teach batch_api about them, shoald wraps the batch service: requests
 * whose path is a notify route are authenticated (Batch SharedKey) and
 * served here; every other request goes to the inner service untouched.
 * The choice depends on the path only, so done() can repeat it.
 */
struct notify_wrap {
    struct http_service svc;
    const struct http_service *inner;
    struct notify *n;
    const struct auth *auth;
};


struct wrap_state {
    struct notify_reqstate rs; /* first: notify_api_route uses req->state */
    char account[AUTH_NAME_MAX];
};

static void wrap_begin(struct http_req *req)
{
    struct notify_wrap *w = req->svc;
    const struct account *acct = NULL;
    struct err e = ERR_INIT;
    struct wrap_state *ws;

    if (!notify_is_route(req->path)) {
        req->svc = w->inner->ctx;
        w->inner->begin(req);
        return;
    }
    if (auth_batch(w->auth, req, &acct, &e) < 0) {
        http_reply_batch_error(req, &e);
        return;
    }
    ws = xcalloc(1, sizeof(*ws));
    ws->rs.magic = reqstate_magic;
    snprintf(ws->account, sizeof(ws->account), "%s", acct->name);
    req->state = ws;
    notify_api_route(w->n, req, ws->account, false);
}

/*
 * Job add may carry the extension field notificationSubscriptions. Batch
 * stores it with the job and hands it back in the job's creation event,
 * where notify records it in the same transaction; that path cannot fail
 * on a bad item, so the items are checked here first, before batch sees
 * the request: well-formed, and naming endpoints of this account. The
 * account is the one batch has already authenticated in begin().
 */
static bool job_add_subscriptions_ok(struct notify *n, struct http_req *req)
{
    const char *auth = http_header(req, "Authorization");
    const char *colon;
    char account[AUTH_NAME_MAX];
    json_error_t jerr;
    json_t *body, *subs, *it;
    struct err e = ERR_INIT;
    size_t i;
    int rc = 0;

    if (strcmp(req->method, "POST") != 0 || strcmp(req->path, "/jobs") != 0)
        return true;
    body = json_loadb(req->body.data, req->body.len, 0, &jerr);
    subs = body ? json_object_get(body, "notificationSubscriptions") : NULL;
    if (!subs || json_is_null(subs)) {
        json_decref(body);
        return true;
    }
    if (!auth || strncmp(auth, "SharedKey ", 10) != 0 ||
        !(colon = strchr(auth + 10, ':')) ||
        (size_t)(colon - auth - 10) >= sizeof(account)) {
        json_decref(body);
        return true; /* batch answers for the credentials */
    }
    snprintf(account, sizeof(account), "%.*s", (int)(colon - auth - 10),
             auth + 10);
    if (!json_is_array(subs)) {
        rc = err_set(&e, ERR_INVALID, "InvalidPropertyValue",
                     "notificationSubscriptions must be an array");
        err_add_detail(&e, "PropertyName", "notificationSubscriptions");
    }
    db_lock(n->db);
    json_array_foreach(subs, i, it)
    {
        const char *ep;
        json_t *t;
        sqlite3_stmt *st;

        if (rc < 0)
            break;
        ep = jstr(it, "notificationEndPointId", "NotificationEndPointId");
        t = json_object_get(it, "targetJobState");
        if (!t)
            t = json_object_get(it, "TargetJobState");
        if (!ep || !((json_is_string(t) &&
                      (strcasecmp(json_string_value(t), "All") == 0 ||
                       strcasecmp(json_string_value(t),
                                  "FinalStatesOnly") == 0)) ||
                     (json_is_integer(t) && (json_integer_value(t) == 1 ||
                                             json_integer_value(t) == 2)))) {
            rc = err_set(&e, ERR_INVALID, "InvalidPropertyValue",
                         "notificationSubscriptions[%zu] needs "
                         "notificationEndPointId and targetJobState All or "
                         "FinalStatesOnly",
                         i);
            err_add_detail(&e, "PropertyName", "notificationSubscriptions");
            break;
        }
        st = db_stmt(n->db, "SELECT 1 FROM endpoints WHERE id=? AND"
                            " account=? AND deleted=0");
        sqlite3_bind_text(st, 1, ep, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW)
            rc = err_set(&e, ERR_NOTFOUND, "NotificationEndPointNotFound",
                         "notification endpoint '%s' not found", ep);
        sqlite3_reset(st);
    }
    db_unlock(n->db);
    json_decref(body);
    if (rc < 0)
        reply_err(req, &e);
    return rc == 0;
}

static void wrap_end(struct http_req *req)
{
    struct notify_wrap *w = req->service->ctx;
    struct wrap_state *ws = req->state;

    if (!notify_is_route(req->path)) {
        req->svc = w->inner->ctx;
        if (job_add_subscriptions_ok(w->n, req))
            w->inner->end(req);
        return;
    }
    notify_api_route(w->n, req, ws->account, true);
}

static void wrap_done(struct http_req *req)
{
    struct notify_wrap *w = req->service->ctx;
    struct wrap_state *ws = req->state;

    if (!notify_is_route(req->path)) {
        req->svc = w->inner->ctx;
        if (w->inner->done)
            w->inner->done(req);
        return;
    }
    if (!ws)
        return;
    if (ws->rs.watch) {
        pthread_mutex_lock(&w->n->mu);
        watch_unpark_locked(w->n, ws->rs.watch);
        pthread_mutex_unlock(&w->n->mu);
        buf_release(&ws->rs.watch->pending);
        free(ws->rs.watch);
    }
    free(ws);
    req->state = NULL;
}

const struct http_service *notify_wrap_service(struct notify *n,
                                               const struct http_service *in,
                                               const struct auth *auth)
{
    struct notify_wrap *w = xcalloc(1, sizeof(*w));

    w->svc.name = in->name;
    w->svc.ctx = w;
    w->svc.begin = wrap_begin;
    w->svc.end = wrap_end;
    w->svc.done = wrap_done;
    w->inner = in;
    w->n = n;
    w->auth = auth;
    n->wrap = w;
    return &w->svc;
}
