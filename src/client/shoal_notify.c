/*
 * shoal_notify.c: notification messages from a storage queue.
 *
 * Message format (notifications.md §2.1; the webhook 1.1 form of §2.2 is
 * parsed too):
 *
 *   {"MessageVersion":"1.0","EventType":"JobStateChange","ETag":"<hex>",
 *    "TimeStamp":"2024-05-01T12:00:00.000Z","Properties":{"JobId":"j1",
 *    "JobName":"j1","OldState":"Processing","NewState":"Finished",
 *    "AccountName":"a","Sequence":"42"}}
 *
 * Parsing (shoal_notification_parse): the text is JSON, or base64 of JSON
 * (AMS-era storage clients base64-encoded queue text; shoal endpoints may
 * ask for it): text whose first non-blank byte is not '{' is decoded as
 * base64 (blanks removed, strict alphabet and padding) and must then be
 * JSON. The rules are the header's; everything failing them is one
 * SHOAL_ERR_PROTOCOL with a reason, never a crash or a partial struct.
 * A parsed notification is one box: the public struct first, the arena
 * that owns its strings and property array behind it.
 *
 * Consuming (shoal_notify_consume), per batch:
 *
 *   get N (hidden for visibility_s) --empty--> wait, doubling; or return
 *     |
 *   parse each ---bad---> opts->bad decides: delete, or leave it hidden
 *     |
 *   sort by (TimeStamp, Sequence, queue order)
 *     |
 *   for each: ETag handled before? --yes--> delete, no call
 *     |  fn(): NEXT/STOP -> remember ETag, delete (STOP: then return 0)
 *     |        KEEP      -> leave it hidden (back after visibility_s)
 *     |        other     -> stop: SHOAL_ERR_CANCELLED
 *   on stop: the batch's unhandled messages are made visible at once
 *
 * The ETag is remembered before the delete, so a message whose delete
 * fails (stale pop receipt) is dropped when it comes back. A queue is not
 * FIFO and AMS promised no order; shoal enqueues in sequence order, and a
 * batch is put in time order here, which is all a consumer can do without
 * holding messages back.
 *
 * Thread-safe in the usual sense: all state is the call's (or the
 * caller's dedupe set, which must not be shared by concurrent consumers).
 */
#include "client/clientint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/codec.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define NOTIF_TEXT_MAX    (1u << 20)
#define NOTIF_ETAG_MAX    256
#define NOTIF_NAME_MAX    64
#define NOTIF_PROPS_MAX   256
#define NOTIF_BATCH       32
#define NOTIF_VISIBILITY  60
#define NOTIF_POLL_MIN_MS 250
#define NOTIF_POLL_MAX_MS 5000

struct notif_box {
    struct shoal_notification pub; /* first: the user's pointer is ours */
    struct arena arena;
    size_t index; /* position in the batch: the last sort key */
};

static void why_set(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

void shoal_notification_free(struct shoal_notification *n)
{
    struct notif_box *b = (struct notif_box *)n;

    if (!b)
        return;
    arena_release(&b->arena);
    free(b);
}

const char *shoal_notification_prop(const struct shoal_notification *n,
                                    const char *name)
{
    size_t i;

    if (!n || !name)
        return NULL;
    for (i = 0; i < n->nprops; i++) {
        if (strcmp(n->props[i].name, name) == 0)
            return n->props[i].value;
    }
    return NULL;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The JSON text of a message: as is, or decoded from base64 into b. */
static int message_json(const char *text, size_t len, struct buf *b,
                        const char **json_out, size_t *len_out, bool *was_b64,
                        char *why, size_t whylen)
{
    struct buf clean = BUF_INIT;
    size_t i = 0;
    int rc = SHOAL_ERR_PROTOCOL;

    while (i < len && is_blank(text[i]))
        i++;
    if (i < len && text[i] == '{') {
        *json_out = text;
        *len_out = len;
        *was_b64 = false;
        return 0;
    }
    for (; i < len; i++) {
        if (is_blank(text[i]))
            continue;
        if (buf_addc(&clean, text[i]) < 0) {
            rc = SHOAL_ERR_NOMEM;
            goto out;
        }
    }
    if (clean.len == 0) {
        why_set(why, whylen, "empty message");
        goto out;
    }
    if (codec_base64_decode(b, clean.data, clean.len) < 0) {
        why_set(why, whylen, "neither JSON nor base64");
        goto out;
    }
    for (i = 0; i < b->len && is_blank(b->data[i]); i++)
        ;
    if (i == b->len || b->data[i] != '{') {
        why_set(why, whylen, "base64 of something other than a JSON object");
        goto out;
    }
    *json_out = b->data;
    *len_out = b->len;
    *was_b64 = true;
    rc = 0;
out:
    buf_release(&clean);
    return rc;
}

/* A property value as text (numbers, booleans, nested JSON); NULL: skip. */
static char *value_text(json_t *v, bool *oom)
{
    char num[64];
    char *s;

    switch (json_typeof(v)) {
    case JSON_STRING:
        s = strdup(json_string_value(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = strdup(num);
        break;
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        s = strdup(num);
        break;
    case JSON_TRUE:
        s = strdup("true");
        break;
    case JSON_FALSE:
        s = strdup("false");
        break;
    case JSON_NULL:
        return NULL;
    default:
        s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        break;
    }
    if (!s)
        *oom = true;
    return s;
}

static const char *event_type_name(json_int_t code)
{
    switch (code) {
    case 1:
        return "JobStateChange";
    case 2:
        return "NotificationEndPointRegistration";
    case 3:
        return "NotificationEndPointUnregistration";
    case 4:
        return "TaskStateChange";
    case 5:
        return "TaskProgress";
    default:
        return NULL;
    }
}

/* Fill b from the parsed object o; SHOAL_ERR_PROTOCOL with a reason. */
static int fill(struct notif_box *b, json_t *o, char *why, size_t whylen)
{
    struct shoal_notification *n = &b->pub;
    json_t *ver = json_object_get(o, "MessageVersion");
    json_t *type = json_object_get(o, "EventType");
    json_t *etag = json_object_get(o, "ETag");
    json_t *ts = json_object_get(o, "TimeStamp");
    json_t *props = json_object_get(o, "Properties");
    struct shoal_kv *kv = NULL;
    const char *key, *tname, *seq;
    size_t np, i = 0, bytes;
    bool oom = false;
    json_t *v;

    if (ver &&
        (!json_is_string(ver) || json_string_length(ver) > NOTIF_NAME_MAX)) {
        why_set(why, whylen, "MessageVersion is not a short string");
        return SHOAL_ERR_PROTOCOL;
    }
    if (!json_is_string(etag) || json_string_length(etag) == 0 ||
        json_string_length(etag) > NOTIF_ETAG_MAX) {
        why_set(why, whylen, "no ETag string of 1..%d bytes", NOTIF_ETAG_MAX);
        return SHOAL_ERR_PROTOCOL;
    }
    if (json_is_string(type) && json_string_length(type) > 0 &&
        json_string_length(type) <= NOTIF_NAME_MAX) {
        tname = json_string_value(type);
    } else if (json_is_integer(type)) {
        tname = event_type_name(json_integer_value(type));
        if (!tname) {
            why_set(why, whylen, "unknown EventType %lld",
                    (long long)json_integer_value(type));
            return SHOAL_ERR_PROTOCOL;
        }
    } else {
        why_set(why, whylen, "no EventType name or number");
        return SHOAL_ERR_PROTOCOL;
    }
    if (ts && (!json_is_string(ts) || json_string_length(ts) > NOTIF_NAME_MAX ||
               timefmt_parse_iso8601(json_string_value(ts), &n->time_ms) < 0)) {
        why_set(why, whylen, "TimeStamp is not an ISO 8601 time");
        return SHOAL_ERR_PROTOCOL;
    }
    if (!json_is_object(props)) {
        why_set(why, whylen, "no Properties object");
        return SHOAL_ERR_PROTOCOL;
    }
    np = json_object_size(props);
    if (np > NOTIF_PROPS_MAX) {
        why_set(why, whylen, "more than %d properties", NOTIF_PROPS_MAX);
        return SHOAL_ERR_PROTOCOL;
    }
    if (np > 0) {
        if (!size_mul(np, sizeof(*kv), &bytes) || !(kv = calloc(1, bytes)))
            return SHOAL_ERR_NOMEM;
        if (!arena_take(&b->arena, kv)) {
            free(kv);
            return SHOAL_ERR_NOMEM;
        }
    }
    json_object_foreach(props, key, v)
    {
        char *s = value_text(v, &oom);

        if (!s)
            continue;
        if (!arena_take(&b->arena, s)) {
            free(s);
            return SHOAL_ERR_NOMEM;
        }
        kv[i].name = arena_strdup(&b->arena, key, &oom);
        kv[i].value = s;
        i++;
    }
    n->props = kv;
    n->nprops = i;
    n->message_version = arena_strdup(&b->arena, json_string_value(ver), &oom);
    n->event_type = arena_strdup(&b->arena, tname, &oom);
    n->etag = arena_strdup(&b->arena, json_string_value(etag), &oom);
    n->timestamp = arena_strdup(&b->arena, json_string_value(ts), &oom);
    if (oom)
        return SHOAL_ERR_NOMEM;
    n->job_id = shoal_notification_prop(n, "JobId");
    n->job_name = shoal_notification_prop(n, "JobName");
    n->old_state = shoal_notification_prop(n, "OldState");
    n->new_state = shoal_notification_prop(n, "NewState");
    n->sequence = -1;
    seq = shoal_notification_prop(n, "Sequence");
    if (seq && parse_i64(seq, 0, INT64_MAX, &n->sequence) < 0) {
        why_set(why, whylen, "Sequence is not a number");
        return SHOAL_ERR_PROTOCOL;
    }
    return 0;
}

int shoal_notification_parse(const char *text, size_t len,
                             struct shoal_notification **out, char *why,
                             size_t whylen)
{
    struct buf dec = BUF_INIT;
    struct notif_box *b = NULL;
    const char *json;
    size_t jlen;
    json_error_t je;
    json_t *o = NULL;
    bool was_b64;
    int rc;

    if (!text || !out) {
        why_set(why, whylen, "no message text");
        return SHOAL_ERR_PROTOCOL;
    }
    if (len > NOTIF_TEXT_MAX) {
        why_set(why, whylen, "message over %u bytes", NOTIF_TEXT_MAX);
        return SHOAL_ERR_PROTOCOL;
    }
    rc = message_json(text, len, &dec, &json, &jlen, &was_b64, why, whylen);
    if (rc < 0)
        goto out;
    o = json_loadb(json, jlen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        why_set(why, whylen,
                o ? "message is not a JSON object" : "bad JSON in the message");
        rc = SHOAL_ERR_PROTOCOL;
        goto out;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        rc = SHOAL_ERR_NOMEM;
        goto out;
    }
    rc = fill(b, o, why, whylen);
    if (rc < 0)
        goto out;
    b->pub.was_base64 = was_b64;
    *out = &b->pub;
    b = NULL;
out:
    if (rc == SHOAL_ERR_NOMEM)
        why_set(why, whylen, "out of memory");
    if (b)
        shoal_notification_free(&b->pub);
    json_decref(o);
    buf_release(&dec);
    return rc;
}

/* ---- ordering ---- */

static int cmp_notif(const void *a, const void *b)
{
    const struct notif_box *x = *(const struct notif_box *const *)a;
    const struct notif_box *y = *(const struct notif_box *const *)b;

    if (x->pub.time_ms != y->pub.time_ms)
        return x->pub.time_ms < y->pub.time_ms ? -1 : 1;
    if (x->pub.sequence != y->pub.sequence)
        return x->pub.sequence < y->pub.sequence ? -1 : 1;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return 0;
}

void shoal_notify_sort(struct shoal_notification **v, size_t n)
{
    size_t i;

    /* The index makes the order total, so qsort's instability is moot. */
    for (i = 0; i < n; i++)
        ((struct notif_box *)v[i])->index = i;
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_notif);
}

/* ---- consuming ---- */

struct consume {
    shoal_client *c;
    const char *queue;
    int (*fn)(const struct shoal_notification *n, void *ctx);
    void *ctx;
    const struct shoal_notify_opts *opts;
    shoal_dedupe *seen;
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

/* Delete a handled message; one already gone is not a failure. */
static int delete_msg(struct consume *k, const struct shoal_message *m)
{
    struct shoal_error e;
    int rc;

    rc = shoal_queue_delete_message(k->c, k->queue, m->id, m->pop_receipt);
    if (rc == 0 || rc == SHOAL_ERR_NOTFOUND)
        return 0;
    shoal_client_last_error(k->c, &e);
    if (strcmp(e.service_code, "PopReceiptMismatch") == 0)
        return 0;
    return rc;
}

/* Give messages we will not handle back to the queue now. */
static void release_msgs(struct consume *k, struct shoal_notification **v,
                         size_t from, size_t n)
{
    size_t i;

    for (i = from; i < n; i++) {
        const struct shoal_message *m = v[i]->message;

        /* Best effort: at worst it comes back after visibility_s. */
        shoal_queue_update(k->c, k->queue, m->id, m->pop_receipt, NULL, 0,
                           NULL);
    }
}

/*
 * Handle one batch. Returns 0 to go on, 1 to stop with success, or a
 * negative code.
 */
static int handle_batch(struct consume *k, const struct shoal_messages *ms)
{
    struct shoal_notification **v = NULL;
    size_t n = 0, i, bytes;
    char why[160];
    int rc = 0, r;

    if (!size_mul(ms->n ? ms->n : 1, sizeof(*v), &bytes) ||
        !(v = calloc(1, bytes)))
        return client_fail(k->c, SHOAL_ERR_NOMEM, "out of memory");
    for (i = 0; i < ms->n; i++) {
        const struct shoal_message *m = &ms->v[i];
        const char *text = m->text ? m->text : "";

        r = shoal_notification_parse(text, strlen(text), &v[n], why,
                                     sizeof(why));
        if (r == SHOAL_ERR_NOMEM) {
            rc = client_fail(k->c, r, "out of memory");
            goto out;
        }
        if (r < 0) {
            if (k->opts->bad && k->opts->bad(m, why, k->ctx) == 0) {
                rc = delete_msg(k, m);
                if (rc < 0)
                    goto out;
            }
            continue;
        }
        ((struct notif_box *)v[n])->pub.message = m;
        n++;
    }
    shoal_notify_sort(v, n);
    for (i = 0; i < n; i++) {
        const struct shoal_notification *nt = v[i];

        if (shoal_dedupe_seen(k->seen, nt->etag)) {
            rc = delete_msg(k, nt->message);
            if (rc < 0)
                goto out;
            continue;
        }
        r = k->fn(nt, k->ctx);
        if (r == SHOAL_NOTIFY_KEEP)
            continue;
        if (r != SHOAL_NOTIFY_NEXT && r != SHOAL_NOTIFY_STOP) {
            release_msgs(k, v, i, n);
            rc = client_fail(k->c, SHOAL_ERR_CANCELLED, "the consumer stopped");
            goto out;
        }
        if (shoal_dedupe_add(k->seen, nt->etag) == SHOAL_ERR_NOMEM) {
            release_msgs(k, v, i, n);
            rc = client_fail(k->c, SHOAL_ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = delete_msg(k, nt->message);
        if (rc < 0) {
            release_msgs(k, v, i + 1, n);
            goto out;
        }
        if (r == SHOAL_NOTIFY_STOP) {
            release_msgs(k, v, i + 1, n);
            rc = 1;
            goto out;
        }
    }
out:
    for (i = 0; i < n; i++)
        shoal_notification_free(v[i]);
    free(v);
    return rc;
}

int shoal_notify_consume(shoal_client *c, const char *queue,
                         int (*fn)(const struct shoal_notification *n,
                                   void *ctx),
                         void *ctx, const struct shoal_notify_opts *opts)
{
    static const struct shoal_notify_opts none;
    struct shoal_notify_opts o = opts ? *opts : none;
    shoal_dedupe *own = NULL;
    struct consume k;
    int64_t deadline = 0, wait;
    int rc;

    if (!fn)
        return client_fail(c, SHOAL_ERR_INVALID, "no consumer callback");
    if (o.batch == 0)
        o.batch = NOTIF_BATCH;
    if (o.visibility_s == 0)
        o.visibility_s = NOTIF_VISIBILITY;
    if (o.poll_min_ms <= 0)
        o.poll_min_ms = NOTIF_POLL_MIN_MS;
    if (o.poll_max_ms <= 0)
        o.poll_max_ms = NOTIF_POLL_MAX_MS;
    if (o.poll_max_ms < o.poll_min_ms)
        o.poll_max_ms = o.poll_min_ms;
    if (o.batch < 1 || o.batch > 32 || o.visibility_s < 1 || o.timeout_ms < 0)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "batch must be 1..32, visibility and timeout "
                           "positive");
    if (!o.dedupe) {
        rc = shoal_dedupe_new(0, &own);
        if (rc < 0)
            return client_fail(c, rc, "out of memory");
        o.dedupe = own;
    }
    memset(&k, 0, sizeof(k));
    k.c = c;
    k.queue = queue;
    k.fn = fn;
    k.ctx = ctx;
    k.opts = &o;
    k.seen = o.dedupe;
    if (o.timeout_ms > 0)
        deadline = timefmt_mono_ms() + o.timeout_ms;
    wait = o.poll_min_ms;
    for (;;) {
        struct shoal_messages *ms = NULL;
        int64_t now;

        if (deadline && timefmt_mono_ms() >= deadline) {
            rc = client_fail(c, SHOAL_ERR_TIMEOUT, "consumer timed out");
            break;
        }
        rc = shoal_queue_get(c, queue, o.batch, o.visibility_s, &ms);
        if (rc < 0)
            break;
        if (ms->n == 0) {
            shoal_messages_free(ms);
            if (o.until_empty)
                break;
            now = timefmt_mono_ms();
            sleep_ms(deadline && deadline - now < wait ? deadline - now : wait);
            wait = wait * 2 < o.poll_max_ms ? wait * 2 : o.poll_max_ms;
            continue;
        }
        wait = o.poll_min_ms;
        rc = handle_batch(&k, ms);
        shoal_messages_free(ms);
        if (rc != 0) {
            if (rc > 0)
                rc = 0;
            break;
        }
    }
    shoal_dedupe_free(own);
    return rc;
}
