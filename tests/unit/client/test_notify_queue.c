/*
 * test_notify_queue.c: notification messages: parsing (JSON and base64,
 * a table of hostile cases), the ETag set (LRU bounds), batch ordering,
 * and shoal_notify_consume against a fake queue.
 *
 * The fake queue (libmicrohttpd on 127.0.0.1, port 0) serves one queue,
 * /acct/q, as the Queue REST API does for what the consumer uses:
 *
 *   GET    /acct/q/messages?numofmessages=N&visibilitytimeout=V
 *          up to N visible messages in insertion order; each becomes
 *          hidden with a fresh pop receipt (no clock: hidden until
 *          fake_reshow() or an update with visibilitytimeout=0)
 *   DELETE /acct/q/messages/ID?popreceipt=R   204; 404 if gone or stale
 *   PUT    /acct/q/messages/ID?popreceipt=R&visibilitytimeout=0
 *          visible again, new pop receipt in x-ms-popreceipt
 *
 * and counts gets, deletes and updates.
 */
#include "unit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "client/clientint.h"
#include "core/codec.h"

#define FQ_MAX 32

struct fmsg {
    char id[16];
    char *text;
    bool used;
    bool visible;
    bool deleted;
    int receipt;
    int dequeues;
};

struct fake {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t lock;
    struct fmsg m[FQ_MAX];
    int n;
    int gets, deletes, updates;
    int last_num;
};

static struct fake F;

static void fake_clear(void)
{
    int i;

    pthread_mutex_lock(&F.lock);
    for (i = 0; i < F.n; i++)
        free(F.m[i].text);
    memset(F.m, 0, sizeof(F.m));
    F.n = F.gets = F.deletes = F.updates = 0;
    pthread_mutex_unlock(&F.lock);
}

static int fake_put(const char *text)
{
    int i;

    pthread_mutex_lock(&F.lock);
    i = F.n++;
    snprintf(F.m[i].id, sizeof(F.m[i].id), "m%d", i);
    F.m[i].text = strdup(text);
    F.m[i].used = true;
    F.m[i].visible = true;
    pthread_mutex_unlock(&F.lock);
    return i;
}

/* Hidden messages that were not deleted come back (a visibility lapse). */
static void fake_reshow(void)
{
    int i;

    pthread_mutex_lock(&F.lock);
    for (i = 0; i < F.n; i++) {
        if (!F.m[i].deleted)
            F.m[i].visible = true;
    }
    pthread_mutex_unlock(&F.lock);
}

static bool fake_deleted(int i)
{
    bool d;

    pthread_mutex_lock(&F.lock);
    d = F.m[i].deleted;
    pthread_mutex_unlock(&F.lock);
    return d;
}

static bool fake_visible(int i)
{
    bool v;

    pthread_mutex_lock(&F.lock);
    v = F.m[i].visible;
    pthread_mutex_unlock(&F.lock);
    return v;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *body, const char *receipt)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                        MHD_RESPMEM_MUST_COPY);
    if (*body)
        MHD_add_response_header(r, "Content-Type", "application/xml");
    if (receipt)
        MHD_add_response_header(r, "x-ms-popreceipt", receipt);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void xml_text(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            buf_adds(b, "&amp;");
            break;
        case '<':
            buf_adds(b, "&lt;");
            break;
        case '>':
            buf_adds(b, "&gt;");
            break;
        case '"':
            buf_adds(b, "&quot;");
            break;
        default:
            buf_addc(b, *s);
        }
    }
}

static struct fmsg *find_msg(const char *id)
{
    int i;

    for (i = 0; i < F.n; i++) {
        if (strcmp(F.m[i].id, id) == 0)
            return &F.m[i];
    }
    return NULL;
}

static bool receipt_ok(struct MHD_Connection *conn, const struct fmsg *m)
{
    const char *r =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "popreceipt");
    char want[32];

    snprintf(want, sizeof(want), "r%d", m->receipt);
    return r && strcmp(r, want) == 0 && !m->deleted;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    static int marker;
    static const char notfound[] =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>"
        "MessageNotFound</Code><Message>gone</Message></Error>";
    struct buf b = BUF_INIT;
    enum MHD_Result rc;

    (void)cls;
    (void)version;
    (void)upload;
    if (!*con_cls) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&F.lock);
    if (strcmp(url, "/acct/q/messages") == 0 && strcmp(method, "GET") == 0) {
        const char *nv = MHD_lookup_connection_value(
            conn, MHD_GET_ARGUMENT_KIND, "numofmessages");
        int want = nv ? (int)strtol(nv, NULL, 10) : 1, got = 0, i;

        F.gets++;
        F.last_num = want;
        buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                     "<QueueMessagesList>");
        for (i = 0; i < F.n && got < want; i++) {
            struct fmsg *m = &F.m[i];

            if (!m->visible || m->deleted)
                continue;
            m->visible = false;
            m->receipt++;
            m->dequeues++;
            got++;
            buf_addf(&b,
                     "<QueueMessage><MessageId>%s</MessageId>"
                     "<InsertionTime>Wed, 01 May 2024 12:00:00 GMT"
                     "</InsertionTime><ExpirationTime>Wed, 08 May 2024 "
                     "12:00:00 GMT</ExpirationTime><PopReceipt>r%d"
                     "</PopReceipt><TimeNextVisible>Wed, 01 May 2024 "
                     "12:01:00 GMT</TimeNextVisible><DequeueCount>%d"
                     "</DequeueCount><MessageText>",
                     m->id, m->receipt, m->dequeues);
            xml_text(&b, m->text);
            buf_adds(&b, "</MessageText></QueueMessage>");
        }
        buf_adds(&b, "</QueueMessagesList>");
        pthread_mutex_unlock(&F.lock);
        rc = reply(conn, 200, b.data, NULL);
        buf_release(&b);
        return rc;
    }
    if (strncmp(url, "/acct/q/messages/", 17) == 0) {
        struct fmsg *m = find_msg(url + 17);

        if (!m || !receipt_ok(conn, m)) {
            pthread_mutex_unlock(&F.lock);
            return reply(conn, 404, notfound, NULL);
        }
        if (strcmp(method, "DELETE") == 0) {
            F.deletes++;
            m->deleted = true;
            pthread_mutex_unlock(&F.lock);
            return reply(conn, 204, "", NULL);
        }
        if (strcmp(method, "PUT") == 0) {
            char r[32];

            F.updates++;
            m->visible = true;
            m->receipt++;
            snprintf(r, sizeof(r), "r%d", m->receipt);
            pthread_mutex_unlock(&F.lock);
            return reply(conn, 204, "", r);
        }
    }
    pthread_mutex_unlock(&F.lock);
    return reply(conn, 400, "", NULL);
}

static int setup(void **state)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_mutex_init(&F.lock, NULL);
    F.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                           handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                           MHD_OPTION_END);
    if (!F.d)
        return -1;
    info = MHD_get_daemon_info(F.d, MHD_DAEMON_INFO_BIND_PORT);
    F.port = info ? info->port : 0;
    return F.port ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fake_clear();
    MHD_stop_daemon(F.d);
    pthread_mutex_destroy(&F.lock);
    return 0;
}

static shoal_client *client(void)
{
    char cs[512];
    shoal_client *c = NULL;

    snprintf(cs, sizeof(cs),
             "AccountName=acct;AccountKey=" CLIENT_DEV_KEY ";"
             "QueueEndpoint=http://127.0.0.1:%d/acct",
             F.port);
    assert_int_equal(shoal_client_new(cs, &c, NULL, 0), 0);
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_RETRY_BASE_MS, 1), 0);
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_RETRY_MAX_MS, 2), 0);
    return c;
}

/* A queue message text for a job state change. */
static char *msg(const char *etag, const char *ts, int seq, const char *old,
                 const char *cur)
{
    struct buf b = BUF_INIT;

    buf_addf(&b,
             "{\"MessageVersion\":\"1.0\",\"EventType\":\"JobStateChange\","
             "\"ETag\":\"%s\",\"TimeStamp\":\"%s\",\"Properties\":{"
             "\"JobId\":\"j1\",\"JobName\":\"j1\",\"OldState\":\"%s\","
             "\"NewState\":\"%s\",\"AccountName\":\"acct\","
             "\"Sequence\":\"%d\"}}",
             etag, ts, old, cur, seq);
    return buf_detach(&b, NULL);
}

static char *b64(const char *s)
{
    struct buf b = BUF_INIT;

    codec_base64_encode(&b, s, strlen(s));
    return buf_detach(&b, NULL);
}

/* ---- parsing ---- */

static void test_parse_json_and_base64(void **state)
{
    char *t =
        msg("aa", "2024-05-01T12:00:00.000Z", 7, "Processing", "Finished");
    char *e = b64(t);
    struct buf wrapped = BUF_INIT;
    struct shoal_notification *n = NULL;
    size_t i;

    (void)state;
    assert_int_equal(shoal_notification_parse(t, strlen(t), &n, NULL, 0), 0);
    assert_string_equal(n->message_version, "1.0");
    assert_string_equal(n->event_type, "JobStateChange");
    assert_string_equal(n->etag, "aa");
    assert_string_equal(n->timestamp, "2024-05-01T12:00:00.000Z");
    assert_int_equal(n->time_ms, 1714564800000LL);
    assert_int_equal(n->sequence, 7);
    assert_string_equal(n->job_id, "j1");
    assert_string_equal(n->job_name, "j1");
    assert_string_equal(n->old_state, "Processing");
    assert_string_equal(n->new_state, "Finished");
    assert_int_equal(n->nprops, 6);
    assert_string_equal(shoal_notification_prop(n, "AccountName"), "acct");
    assert_null(shoal_notification_prop(n, "accountname"));
    assert_false(n->was_base64);
    assert_null(n->message);
    shoal_notification_free(n);
    /* base64, line-wrapped at 76 with CRLF as some encoders do */
    for (i = 0; e[i]; i++) {
        if (i && i % 76 == 0)
            buf_adds(&wrapped, "\r\n");
        buf_addc(&wrapped, e[i]);
    }
    assert_int_equal(
        shoal_notification_parse(wrapped.data, wrapped.len, &n, NULL, 0), 0);
    assert_true(n->was_base64);
    assert_string_equal(n->new_state, "Finished");
    shoal_notification_free(n);
    shoal_notification_free(NULL);
    buf_release(&wrapped);
    free(e);
    free(t);
}

static void test_parse_webhook_and_values(void **state)
{
    static const char hook[] =
        "{\"MessageVersion\":\"1.1\",\"EventType\":4,\"ETag\":\"bb\","
        "\"TimeStamp\":\"2024-05-01T12:00:00.1234567Z\",\"Properties\":{"
        "\"TaskId\":\"t1\",\"Progress\":12.5,\"Count\":3,\"Ok\":true,"
        "\"No\":false,\"Gone\":null,\"Nested\":{\"a\":[1]}}}";
    static const char reg[] =
        "  {\"EventType\":\"NotificationEndPointRegistration\",\"ETag\":\"c\","
        "\"Properties\":{\"State\":\"Registered\"}}";
    struct shoal_notification *n = NULL;

    (void)state;
    assert_int_equal(shoal_notification_parse(hook, strlen(hook), &n, NULL, 0),
                     0);
    assert_string_equal(n->event_type, "TaskStateChange");
    assert_string_equal(n->message_version, "1.1");
    assert_string_equal(shoal_notification_prop(n, "Progress"), "12.5");
    assert_string_equal(shoal_notification_prop(n, "Count"), "3");
    assert_string_equal(shoal_notification_prop(n, "Ok"), "true");
    assert_string_equal(shoal_notification_prop(n, "No"), "false");
    assert_null(shoal_notification_prop(n, "Gone"));
    assert_string_equal(shoal_notification_prop(n, "Nested"), "{\"a\":[1]}");
    assert_int_equal(n->nprops, 6);
    assert_int_equal(n->sequence, -1);
    assert_null(n->job_id);
    shoal_notification_free(n);
    assert_int_equal(shoal_notification_parse(reg, strlen(reg), &n, NULL, 0),
                     0);
    assert_null(n->message_version);
    assert_null(n->timestamp);
    assert_int_equal(n->time_ms, 0);
    shoal_notification_free(n);
}

static void test_parse_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        "   \r\n",
        "{",
        "{\"ETag\":\"a\",\"EventType\":\"JobStateChange\",\"Properties\":{}",
        "[]",
        "null",
        "42",
        "\"text\"",
        /* base64 garbage, base64 of non-JSON, base64 of truncated JSON */
        "!!!!",
        "aGVsbG8=",
        "eyJFVGFnIjoi",
        "eyJFVGFn",
        "QR==",
        /* ETag */
        "{\"EventType\":\"JobStateChange\",\"Properties\":{}}",
        "{\"ETag\":5,\"EventType\":\"JobStateChange\",\"Properties\":{}}",
        "{\"ETag\":\"\",\"EventType\":\"JobStateChange\",\"Properties\":{}}",
        "{\"ETag\":null,\"EventType\":\"JobStateChange\",\"Properties\":{}}",
        /* EventType */
        "{\"ETag\":\"a\",\"Properties\":{}}",
        "{\"ETag\":\"a\",\"EventType\":true,\"Properties\":{}}",
        "{\"ETag\":\"a\",\"EventType\":99,\"Properties\":{}}",
        "{\"ETag\":\"a\",\"EventType\":\"\",\"Properties\":{}}",
        "{\"ETag\":\"a\",\"EventType\":[\"x\"],\"Properties\":{}}",
        /* Properties */
        "{\"ETag\":\"a\",\"EventType\":\"JobStateChange\"}",
        "{\"ETag\":\"a\",\"EventType\":\"JobStateChange\",\"Properties\":[]}",
        "{\"ETag\":\"a\",\"EventType\":\"JobStateChange\",\"Properties\":\"\"}",
        /* TimeStamp, Sequence, MessageVersion */
        "{\"ETag\":\"a\",\"EventType\":\"X\",\"Properties\":{},"
        "\"TimeStamp\":17}",
        "{\"ETag\":\"a\",\"EventType\":\"X\",\"Properties\":{},"
        "\"TimeStamp\":\"yesterday\"}",
        "{\"ETag\":\"a\",\"EventType\":\"X\",\"Properties\":{\"Sequence\":"
        "\"x1\"}}",
        "{\"ETag\":\"a\",\"EventType\":\"X\",\"Properties\":{\"Sequence\":"
        "-1}}",
        "{\"ETag\":\"a\",\"EventType\":\"X\",\"Properties\":{},"
        "\"MessageVersion\":1}",
        /* duplicate keys, bad UTF-8 */
        "{\"ETag\":\"a\",\"ETag\":\"b\",\"EventType\":\"X\","
        "\"Properties\":{}}",
        "{\"ETag\":\"a\xc3\",\"EventType\":\"X\",\"Properties\":{}}",
    };
    struct shoal_notification *n = NULL;
    struct buf big = BUF_INIT;
    char why[160];
    char *e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (shoal_notification_parse(bad[i], strlen(bad[i]), &n, why,
                                     sizeof(why)) != SHOAL_ERR_PROTOCOL)
            fail_msg("accepted hostile message %zu: %s", i, bad[i]);
        assert_null(n);
        assert_true(why[0] != '\0');
    }
    /* A 300-byte ETag. */
    buf_adds(&big, "{\"EventType\":\"X\",\"Properties\":{},\"ETag\":\"");
    for (i = 0; i < 300; i++)
        buf_addc(&big, 'f');
    buf_adds(&big, "\"}");
    assert_int_equal(
        shoal_notification_parse(big.data, big.len, &n, why, sizeof(why)),
        SHOAL_ERR_PROTOCOL);
    assert_non_null(strstr(why, "ETag"));
    /* 300 properties. */
    buf_reset(&big);
    buf_adds(&big, "{\"EventType\":\"X\",\"ETag\":\"a\",\"Properties\":{");
    for (i = 0; i < 300; i++)
        buf_addf(&big, "%s\"k%zu\":\"v\"", i ? "," : "", i);
    buf_adds(&big, "}}");
    assert_int_equal(
        shoal_notification_parse(big.data, big.len, &n, why, sizeof(why)),
        SHOAL_ERR_PROTOCOL);
    assert_non_null(strstr(why, "properties"));
    /* Over 1 MiB of text, in JSON and in base64. */
    buf_reset(&big);
    buf_adds(&big, "{\"EventType\":\"X\",\"ETag\":\"a\",\"Properties\":{"
                   "\"Pad\":\"");
    for (i = 0; i < (1u << 20); i++)
        buf_addc(&big, 'p');
    buf_adds(&big, "\"}}");
    assert_int_equal(
        shoal_notification_parse(big.data, big.len, &n, why, sizeof(why)),
        SHOAL_ERR_PROTOCOL);
    e = b64(big.data);
    assert_int_equal(shoal_notification_parse(e, strlen(e), &n, NULL, 0),
                     SHOAL_ERR_PROTOCOL);
    free(e);
    /* A large but allowed property value is kept whole. */
    buf_reset(&big);
    buf_adds(&big, "{\"EventType\":\"X\",\"ETag\":\"a\",\"Properties\":{"
                   "\"Pad\":\"");
    for (i = 0; i < 60000; i++)
        buf_addc(&big, 'p');
    buf_adds(&big, "\"}}");
    assert_int_equal(shoal_notification_parse(big.data, big.len, &n, NULL, 0),
                     0);
    assert_int_equal(strlen(shoal_notification_prop(n, "Pad")), 60000);
    shoal_notification_free(n);
    buf_release(&big);
    assert_int_equal(shoal_notification_parse(NULL, 0, &n, NULL, 0),
                     SHOAL_ERR_PROTOCOL);
}

/* ---- the ETag set ---- */

static void test_dedupe_lru(void **state)
{
    shoal_dedupe *d = NULL;
    char key[32];
    char longkey[300];
    int i;

    (void)state;
    assert_int_equal(shoal_dedupe_new(3, &d), 0);
    assert_false(shoal_dedupe_seen(d, "a"));
    assert_int_equal(shoal_dedupe_add(d, "a"), 0);
    assert_int_equal(shoal_dedupe_add(d, "b"), 0);
    assert_int_equal(shoal_dedupe_add(d, "c"), 0);
    assert_int_equal(shoal_dedupe_add(d, "a"), 0); /* again: no growth */
    assert_int_equal(shoal_dedupe_count(d), 3);
    /* "a" was refreshed, so "b" is the oldest and goes first. */
    assert_int_equal(shoal_dedupe_add(d, "d"), 0);
    assert_int_equal(shoal_dedupe_count(d), 3);
    assert_false(shoal_dedupe_seen(d, "b"));
    assert_true(shoal_dedupe_seen(d, "a"));
    /* A lookup refreshes too: now "c" is the oldest. */
    assert_true(shoal_dedupe_seen(d, "d"));
    assert_true(shoal_dedupe_seen(d, "a"));
    assert_int_equal(shoal_dedupe_add(d, "e"), 0);
    assert_false(shoal_dedupe_seen(d, "c"));
    assert_true(shoal_dedupe_seen(d, "d"));
    assert_true(shoal_dedupe_seen(d, "e"));
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(shoal_dedupe_add(d, longkey), SHOAL_ERR_INVALID);
    assert_int_equal(shoal_dedupe_add(d, NULL), SHOAL_ERR_INVALID);
    assert_false(shoal_dedupe_seen(d, NULL));
    shoal_dedupe_free(d);
    shoal_dedupe_free(NULL);

    /* Many keys through a small set: bounded, and the newest are kept. */
    assert_int_equal(shoal_dedupe_new(100, &d), 0);
    for (i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "etag-%d", i);
        assert_int_equal(shoal_dedupe_add(d, key), 0);
        assert_true(shoal_dedupe_count(d) <= 100);
    }
    assert_int_equal(shoal_dedupe_count(d), 100);
    for (i = 9900; i < 10000; i++) {
        snprintf(key, sizeof(key), "etag-%d", i);
        assert_true(shoal_dedupe_seen(d, key));
    }
    for (i = 0; i < 9900; i += 97) {
        snprintf(key, sizeof(key), "etag-%d", i);
        assert_false(shoal_dedupe_seen(d, key));
    }
    shoal_dedupe_free(d);
    assert_int_equal(shoal_dedupe_new(0, &d), 0); /* default size */
    shoal_dedupe_free(d);
    assert_int_equal(shoal_dedupe_new((size_t)1 << 30, &d), SHOAL_ERR_INVALID);
}

/* ---- ordering ---- */

static void test_sort_by_time_then_sequence(void **state)
{
    static const struct {
        const char *ts;
        int seq;
    } in[] = {
        { "2024-05-01T12:00:02.000Z", 5 }, /* 0 */
        { "2024-05-01T12:00:01.000Z", 9 }, /* 1: earlier time wins */
        { "2024-05-01T12:00:02.000Z", 4 }, /* 2: same time, lower seq */
        { "2024-05-01T12:00:02.000Z", 4 }, /* 3: a tie keeps batch order */
        { "2024-05-01T11:59:59", 10 },     /* 4: no zone: UTC */
    };
    static const int want[] = { 4, 1, 2, 3, 0 };
    struct shoal_notification *v[5], *orig[5];
    size_t i;

    (void)state;
    for (i = 0; i < 5; i++) {
        char etag[8];
        char *t;

        snprintf(etag, sizeof(etag), "e%zu", i);
        t = msg(etag, in[i].ts, in[i].seq, "Scheduled", "Processing");
        assert_int_equal(shoal_notification_parse(t, strlen(t), &v[i], NULL, 0),
                         0);
        orig[i] = v[i];
        free(t);
    }
    shoal_notify_sort(v, 5);
    for (i = 0; i < 5; i++)
        assert_ptr_equal(v[i], orig[want[i]]);
    for (i = 0; i < 5; i++)
        shoal_notification_free(v[i]);
}

/* ---- consuming ---- */

struct got {
    char etags[32][16];
    int n;
    const char *stop_etag; /* answer SHOAL_NOTIFY_STOP here */
    const char *keep_etag; /* answer SHOAL_NOTIFY_KEEP here */
    const char *abort_etag;
    int bad;
    int bad_answer;
    char message_id[16];
};

static int on_msg(const struct shoal_notification *n, void *ctx)
{
    struct got *g = ctx;

    if (g->n < 32)
        snprintf(g->etags[g->n++], sizeof(g->etags[0]), "%s", n->etag);
    assert_non_null(n->message);
    snprintf(g->message_id, sizeof(g->message_id), "%s", n->message->id);
    if (g->stop_etag && strcmp(n->etag, g->stop_etag) == 0)
        return SHOAL_NOTIFY_STOP;
    if (g->keep_etag && strcmp(n->etag, g->keep_etag) == 0)
        return SHOAL_NOTIFY_KEEP;
    if (g->abort_etag && strcmp(n->etag, g->abort_etag) == 0)
        return -1;
    return SHOAL_NOTIFY_NEXT;
}

static int on_bad(const struct shoal_message *m, const char *why, void *ctx)
{
    struct got *g = ctx;

    (void)m;
    assert_non_null(why);
    g->bad++;
    return g->bad_answer;
}

static void test_consume_orders_dedupes_deletes(void **state)
{
    shoal_client *c = client();
    struct shoal_notify_opts o = { 0 };
    struct got g = { 0 };
    char *t3 =
        msg("e3", "2024-05-01T12:00:03.000Z", 3, "Processing", "Finished");
    char *t1 = msg("e1", "2024-05-01T12:00:01.000Z", 1, "Queued", "Scheduled");
    char *t2 =
        msg("e2", "2024-05-01T12:00:02.000Z", 2, "Scheduled", "Processing");
    char *t2b = b64(t2);
    int i3, i1, dup, i2, bad;

    (void)state;
    fake_clear();
    i3 = fake_put(t3);
    i1 = fake_put(t1);
    dup = fake_put(t1); /* redelivered: same ETag */
    i2 = fake_put(t2b);
    bad = fake_put("not a notification");
    o.until_empty = true;
    o.bad = on_bad;
    o.batch = 10;
    g.bad_answer = 1; /* leave it */
    assert_int_equal(shoal_notify_consume(c, "q", on_msg, &g, &o), 0);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.etags[0], "e1");
    assert_string_equal(g.etags[1], "e2");
    assert_string_equal(g.etags[2], "e3");
    assert_int_equal(g.bad, 1);
    assert_true(fake_deleted(i1));
    assert_true(fake_deleted(i2));
    assert_true(fake_deleted(i3));
    assert_true(fake_deleted(dup)); /* dropped without a call */
    assert_false(fake_deleted(bad));
    assert_int_equal(F.last_num, 10);
    /* The bad one comes back; this time the handler says delete it. */
    fake_reshow();
    g.bad_answer = 0;
    assert_int_equal(shoal_notify_consume(c, "q", on_msg, &g, &o), 0);
    assert_int_equal(g.bad, 2);
    assert_true(fake_deleted(bad));
    assert_int_equal(g.n, 3);
    shoal_client_free(c);
    free(t1);
    free(t2);
    free(t2b);
    free(t3);
}

static void test_consume_stop_keep_abort(void **state)
{
    shoal_client *c = client();
    struct shoal_notify_opts o = { 0 };
    struct got g = { 0 };
    char *a = msg("a", "2024-05-01T12:00:01.000Z", 1, "Queued", "Scheduled");
    char *b =
        msg("b", "2024-05-01T12:00:02.000Z", 2, "Scheduled", "Processing");
    char *f = msg("f", "2024-05-01T12:00:03.000Z", 3, "Processing", "Finished");
    int ia, ib, ifin;

    (void)state;
    /* STOP on b: a and b deleted, f given back at once, untouched. */
    fake_clear();
    ia = fake_put(a);
    ib = fake_put(b);
    ifin = fake_put(f);
    g.stop_etag = "b";
    assert_int_equal(shoal_notify_consume(c, "q", on_msg, &g, &o), 0);
    assert_int_equal(g.n, 2);
    assert_true(fake_deleted(ia));
    assert_true(fake_deleted(ib));
    assert_false(fake_deleted(ifin));
    assert_true(fake_visible(ifin));
    assert_int_equal(F.updates, 1);

    /* KEEP: left hidden, not deleted, not given back. */
    memset(&g, 0, sizeof(g));
    g.keep_etag = "f";
    o.until_empty = true;
    assert_int_equal(shoal_notify_consume(c, "q", on_msg, &g, &o), 0);
    assert_int_equal(g.n, 1);
    assert_false(fake_deleted(ifin));
    assert_false(fake_visible(ifin));

    /* Any other answer: SHOAL_ERR_CANCELLED, the message given back. */
    fake_reshow();
    memset(&g, 0, sizeof(g));
    g.abort_etag = "f";
    assert_int_equal(shoal_notify_consume(c, "q", on_msg, &g, &o),
                     SHOAL_ERR_CANCELLED);
    assert_false(fake_deleted(ifin));
    assert_true(fake_visible(ifin));
    shoal_client_free(c);
    free(a);
    free(b);
    free(f);
}

static void test_consume_dedupe_across_calls(void **state)
{
    shoal_client *c = client();
    struct shoal_notify_opts o = { 0 };
    shoal_dedupe *d = NULL;
    struct got g = { 0 };
    char *a = msg("same", "2024-05-01T12:00:01.000Z", 1, "Queued", "Scheduled");
    int first, again;

    (void)state;
    fake_clear();
    assert_int_equal(shoal_dedupe_new(16, &d), 0);
    o.dedupe = d;
    o.until_empty = true;
    o.batch = 1;
    first = fake_put(a);
    assert_int_equal(shoal_notify_consume(c, "q", on_msg, &g, &o), 0);
    assert_int_equal(g.n, 1);
    assert_true(fake_deleted(first));
    /* The same event delivered again later: deleted without a call. */
    again = fake_put(a);
    assert_int_equal(shoal_notify_consume(c, "q", on_msg, &g, &o), 0);
    assert_int_equal(g.n, 1);
    assert_true(fake_deleted(again));
    assert_int_equal(shoal_dedupe_count(d), 1);
    shoal_dedupe_free(d);
    shoal_client_free(c);
    free(a);
}

static void test_consume_timeout_and_arguments(void **state)
{
    shoal_client *c = client();
    struct shoal_notify_opts o = { 0 };
    struct got g = { 0 };

    (void)state;
    fake_clear();
    o.timeout_ms = 50;
    o.poll_min_ms = 5;
    o.poll_max_ms = 10;
    assert_int_equal(shoal_notify_consume(c, "q", on_msg, &g, &o),
                     SHOAL_ERR_TIMEOUT);
    assert_true(F.gets >= 2);
    o.batch = 33;
    assert_int_equal(shoal_notify_consume(c, "q", on_msg, &g, &o),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_notify_consume(c, "q", NULL, &g, NULL),
                     SHOAL_ERR_INVALID);
    /* A missing queue is the queue request's error. */
    assert_int_equal(shoal_notify_consume(c, "nope", on_msg, &g, NULL),
                     SHOAL_ERR_HTTP);
    shoal_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_json_and_base64),
        cmocka_unit_test(test_parse_webhook_and_values),
        cmocka_unit_test(test_parse_hostile),
        cmocka_unit_test(test_dedupe_lru),
        cmocka_unit_test(test_sort_by_time_then_sequence),
        cmocka_unit_test(test_consume_orders_dedupes_deletes),
        cmocka_unit_test(test_consume_stop_keep_abort),
        cmocka_unit_test(test_consume_dedupe_across_calls),
        cmocka_unit_test(test_consume_timeout_and_arguments),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
