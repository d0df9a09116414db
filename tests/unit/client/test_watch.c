/*
 * test_watch.c: watch events: parsing (a table of hostile cases) and the
 * shoal_job_watch loop against a scripted /events server.
 *
 * The fake server (libmicrohttpd on 127.0.0.1, port 0) holds events
 * 1..F.nevents and answers GET /events like notify_api.c: the events with
 * seq > since (at most F.page per reply) and lastSeq. Scripted faults, by
 * request number (1-based): drop_at closes the connection without a reply,
 * fail_at answers 503, bad_at answers a reply holding a malformed event,
 * replay_at repeats an event the client already has. gone_below makes any
 * since under it 410 EventCursorExpired; jump_to makes an empty reply's
 * lastSeq jump (events the server filtered out). It records the query of
 * every request. Backoff is 1 ms; nothing waits on a wall clock except
 * the one timeout test (300 ms), which asserts only the result.
 */
#include "unit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "client/clientint.h"

#define MAX_REQS 64

struct fake {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t lock;
    int nevents;
    int page;
    int drop_at, fail_at, bad_at, replay_at;
    long gone_below;
    long jump_to;
    int nreqs;
    char since[MAX_REQS][24]; /* "" when absent */
    char job[64];
    char types[128];
    char timeout[16];
};

static struct fake F;

static void fake_reset(int nevents, int page)
{
    pthread_mutex_lock(&F.lock);
    F.nevents = nevents;
    F.page = page;
    F.drop_at = F.fail_at = F.bad_at = F.replay_at = 0;
    F.gone_below = 0;
    F.jump_to = 0;
    F.nreqs = 0;
    memset(F.since, 0, sizeof(F.since));
    F.job[0] = F.types[0] = F.timeout[0] = '\0';
    pthread_mutex_unlock(&F.lock);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *body)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                        MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void add_event(struct buf *b, long seq)
{
    buf_addf(b,
             "{\"sequence\":%ld,\"time\":\"2024-05-01T12:00:%02ld.0000000Z\","
             "\"type\":\"TaskStateChange\",\"entityType\":\"task\","
             "\"entityId\":\"t%ld\",\"jobId\":\"j1\",\"oldState\":"
             "\"running\",\"newState\":\"completed\",\"exitCode\":%ld,"
             "\"failureCode\":null,\"etag\":\"e%ld\",\"properties\":"
             "{\"JobId\":\"j1\",\"TaskId\":\"t%ld\"}}",
             seq, seq % 60, seq, seq % 3, seq, seq);
}

static void copy_arg(struct MHD_Connection *conn, const char *name, char *dst,
                     size_t n)
{
    const char *v =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);

    snprintf(dst, n, "%s", v ? v : "");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    static int marker;
    struct buf b = BUF_INIT;
    const char *since;
    long cur = 0, last, seq;
    int req, sent = 0;
    enum MHD_Result rc;

    (void)cls;
    (void)version;
    (void)upload;
    (void)method;
    if (!*con_cls) {
        *con_cls = &marker;
        return MHD_YES;
    }
    *upload_size = 0;
    if (strcmp(url, "/events") != 0)
        return reply(conn, 404, "{\"code\":\"NotFound\"}");
    pthread_mutex_lock(&F.lock);
    req = ++F.nreqs;
    since = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since");
    if (req <= MAX_REQS)
        snprintf(F.since[req - 1], sizeof(F.since[0]), "%s",
                 since ? since : "");
    copy_arg(conn, "jobId", F.job, sizeof(F.job));
    copy_arg(conn, "types", F.types, sizeof(F.types));
    copy_arg(conn, "timeout", F.timeout, sizeof(F.timeout));
    if (since)
        cur = strtol(since, NULL, 10);
    else
        cur = F.nevents; /* from now */
    if (req == F.drop_at) {
        pthread_mutex_unlock(&F.lock);
        return MHD_NO; /* close without a reply */
    }
    if (req == F.fail_at) {
        pthread_mutex_unlock(&F.lock);
        return reply(conn, 503,
                     "{\"code\":\"ServerBusy\",\"message\":"
                     "{\"value\":\"busy\"}}");
    }
    if (since && cur < F.gone_below) {
        pthread_mutex_unlock(&F.lock);
        return reply(conn, 410,
                     "{\"code\":\"EventCursorExpired\",\"message\":{\"value\":"
                     "\"events after 0 are no longer retained\"}}");
    }
    buf_adds(&b, "{\"value\":[");
    if (req == F.bad_at) {
        add_event(&b, cur + 1);
        buf_adds(&b, ",{\"sequence\":\"x\",\"type\":\"TaskStateChange\"}");
        sent = 2;
        last = cur + 2;
    } else {
        if (req == F.replay_at && cur > 0) {
            add_event(&b, cur); /* the client has this one */
            sent++;
        }
        for (seq = cur + 1; seq <= F.nevents && sent < F.page; seq++) {
            if (sent)
                buf_addc(&b, ',');
            add_event(&b, seq);
            sent++;
        }
        last = seq - 1 > cur ? seq - 1 : cur;
        if (sent == 0 && F.jump_to > last)
            last = F.jump_to;
    }
    buf_addf(&b, "],\"lastSeq\":%ld}", last);
    pthread_mutex_unlock(&F.lock);
    if (sent == 0) {
        /* A short hold, so an idle watch does not spin. */
        struct timespec ts = { 0, 20 * 1000000L };

        nanosleep(&ts, NULL);
    }
    rc = reply(conn, 200, b.data);
    buf_release(&b);
    return rc;
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
    MHD_stop_daemon(F.d);
    pthread_mutex_destroy(&F.lock);
    return 0;
}

static shoal_client *client_on(int port)
{
    char cs[512];
    shoal_client *c = NULL;

    snprintf(cs, sizeof(cs),
             "AccountName=acct;AccountKey=" CLIENT_DEV_KEY ";"
             "BatchEndpoint=http://127.0.0.1:%d",
             port);
    assert_int_equal(shoal_client_new(cs, &c, NULL, 0), 0);
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_RETRY_BASE_MS, 1), 0);
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_RETRY_MAX_MS, 2), 0);
    /* No retries inside one request: the watch's own loop must cope. */
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_RETRIES, 0), 0);
    return c;
}

/* ---- the callback ---- */

struct seen {
    int64_t seqs[64];
    int n;
    int64_t stop_at; /* return non-zero at this seq */
    char prev[16], cur[16];
};

static int collect(const char *prev, const char *cur, const shoal_event *ev,
                   void *ctx)
{
    struct seen *s = ctx;
    int64_t seq = shoal_event_seq(ev);

    if (s->n < 64)
        s->seqs[s->n++] = seq;
    snprintf(s->prev, sizeof(s->prev), "%s", prev ? prev : "");
    snprintf(s->cur, sizeof(s->cur), "%s", cur ? cur : "");
    return seq >= s->stop_at;
}

static void assert_seqs(const struct seen *s, int from, int to)
{
    int i;

    assert_int_equal(s->n, to - from + 1);
    for (i = 0; i < s->n; i++)
        assert_int_equal(s->seqs[i], from + i);
}

/* ---- the watch loop ---- */

static void test_watch_in_order(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_watch_opts o = { 0 };
    struct seen s = { .stop_at = 5 };
    int64_t last = -7;

    (void)state;
    fake_reset(5, 2);
    o.last_seq_out = &last;
    assert_int_equal(shoal_job_watch(c, "j1", 0, NULL, collect, &s, 0, &o), 0);
    assert_seqs(&s, 1, 5);
    assert_int_equal(last, 5);
    assert_string_equal(s.prev, "running");
    assert_string_equal(s.cur, "completed");
    assert_int_equal(F.nreqs, 3);
    assert_string_equal(F.since[0], "0");
    assert_string_equal(F.since[1], "2");
    assert_string_equal(F.since[2], "4");
    assert_string_equal(F.job, "j1");
    assert_string_equal(F.timeout, "25");
    shoal_client_free(c);
}

static void test_watch_resumes_after_drop_and_503(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_watch_opts o = { 0 };
    struct seen s = { .stop_at = 6 };
    int64_t last = 0;

    (void)state;
    fake_reset(6, 2);
    F.drop_at = 2; /* the connection goes away after the first page */
    F.fail_at = 3;
    o.last_seq_out = &last;
    assert_int_equal(shoal_job_watch(c, NULL, 0, NULL, collect, &s, 0, &o), 0);
    /* Nothing lost, nothing twice. */
    assert_seqs(&s, 1, 6);
    assert_int_equal(last, 6);
    assert_string_equal(F.since[1], "2");
    assert_string_equal(F.since[2], "2");
    assert_string_equal(F.since[3], "2");
    shoal_client_free(c);
}

static void test_watch_skips_replayed_events(void **state)
{
    shoal_client *c = client_on(F.port);
    struct seen s = { .stop_at = 4 };

    (void)state;
    fake_reset(4, 2);
    F.replay_at = 2;
    assert_int_equal(shoal_job_watch(c, NULL, 0, NULL, collect, &s, 0, NULL),
                     0);
    assert_seqs(&s, 1, 4);
    shoal_client_free(c);
}

static void test_watch_gone(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_watch_opts o = { 0 };
    struct seen s = { .stop_at = 100 };
    struct shoal_error e;
    int64_t last = 0;

    (void)state;
    fake_reset(5, 10);
    F.gone_below = 3;
    o.last_seq_out = &last;
    assert_int_equal(shoal_job_watch(c, NULL, 1, NULL, collect, &s, 0, &o),
                     SHOAL_ERR_GONE);
    assert_int_equal(s.n, 0);
    assert_int_equal(last, 1);
    shoal_client_last_error(c, &e);
    assert_int_equal(e.http_status, 410);
    assert_string_equal(e.service_code, "EventCursorExpired");
    assert_string_equal(shoal_strerror(SHOAL_ERR_GONE), "no longer available");
    /* From a retained cursor it works. */
    s.stop_at = 5;
    assert_int_equal(shoal_job_watch(c, NULL, 3, NULL, collect, &s, 0, &o), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.seqs[0], 4);
    shoal_client_free(c);
}

static void test_watch_bad_event_fails_whole_reply(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_watch_opts o = { 0 };
    struct seen s = { .stop_at = 100 };
    struct shoal_error e;
    int64_t last = 0;

    (void)state;
    fake_reset(5, 10);
    F.bad_at = 1;
    o.last_seq_out = &last;
    assert_int_equal(shoal_job_watch(c, NULL, 0, NULL, collect, &s, 0, &o),
                     SHOAL_ERR_PROTOCOL);
    assert_int_equal(s.n, 0); /* not even the good first one */
    assert_int_equal(last, 0);
    shoal_client_last_error(c, &e);
    assert_non_null(strstr(e.message, "sequence"));
    shoal_client_free(c);
}

static void test_watch_timeout_and_from_now(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_watch_opts o = { 0 };
    struct seen s = { .stop_at = 100 };
    int64_t last = 0;

    (void)state;
    fake_reset(3, 10);
    o.last_seq_out = &last;
    assert_int_equal(shoal_job_watch(c, NULL, SHOAL_WATCH_NOW,
                                     "JobStateChange,TaskStateChange", collect,
                                     &s, 300, &o),
                     SHOAL_ERR_TIMEOUT);
    assert_int_equal(s.n, 0);
    assert_int_equal(last, 3); /* the newest, from the first reply */
    assert_string_equal(F.since[0], "");
    assert_string_equal(F.since[1], "3");
    assert_string_equal(F.types, "JobStateChange,TaskStateChange");
    assert_string_equal(F.timeout, "1"); /* held no longer than the timeout */
    shoal_client_free(c);
}

static void test_watch_filtered_lastseq_moves_cursor(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_watch_opts o = { .hold_s = 7 };
    struct seen s = { .stop_at = 100 };
    int64_t last = 0;

    (void)state;
    fake_reset(0, 10);
    F.jump_to = 40;
    o.last_seq_out = &last;
    assert_int_equal(shoal_job_watch(c, "j 1/x", 0, NULL, collect, &s, 200, &o),
                     SHOAL_ERR_TIMEOUT);
    assert_int_equal(last, 40);
    assert_string_equal(F.since[1], "40");
    assert_string_equal(F.job, "j 1/x"); /* escaped, and decoded there */
    shoal_client_free(c);
}

static void test_watch_gives_up(void **state)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    struct shoal_watch_opts o = { .give_up_ms = 30 };
    struct seen s = { .stop_at = 100 };
    shoal_client *c;
    int fd, port;

    (void)state;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    c = client_on(port);
    assert_int_equal(shoal_job_watch(c, NULL, 0, NULL, collect, &s, 0, &o),
                     SHOAL_ERR_CONNECT);
    shoal_client_free(c);
}

static void test_watch_bad_arguments(void **state)
{
    shoal_client *c = client_on(F.port);
    struct seen s = { 0 };

    (void)state;
    assert_int_equal(shoal_job_watch(c, NULL, 0, NULL, NULL, NULL, 0, NULL),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_job_watch(c, "", 0, NULL, collect, &s, 0, NULL),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_job_watch(c, NULL, 0, NULL, collect, &s, -1, NULL),
                     SHOAL_ERR_INVALID);
    shoal_client_free(c);
}

static void test_last_seq(void **state)
{
    shoal_client *c = client_on(F.port);
    int64_t seq = -1;

    (void)state;
    fake_reset(9, 10);
    assert_int_equal(shoal_event_last_seq(c, &seq), 0);
    assert_int_equal(seq, 9);
    assert_string_equal(F.since[0], "");
    assert_string_equal(F.timeout, "0");
    shoal_client_free(c);
}

/* ---- parsing ---- */

static void test_event_accessors(void **state)
{
    static const char ev_text[] =
        "{\"sequence\":\"42\",\"time\":\"2024-05-01T12:00:01.5000000Z\","
        "\"type\":\"TaskStateChange\",\"entityType\":\"task\","
        "\"entityId\":\"t7\",\"jobId\":\"j1\",\"oldState\":\"running\","
        "\"newState\":\"completed\",\"exitCode\":3,\"failureCode\":"
        "\"FailureExitCode\",\"etag\":\"abc\",\"properties\":{\"JobId\":"
        "\"j1\",\"ExitCode\":3},\"future\":[1,2]}";
    shoal_event *ev = NULL;
    int64_t code = 0;
    char *json;

    (void)state;
    assert_int_equal(shoal_event_parse(ev_text, strlen(ev_text), &ev, NULL, 0),
                     0);
    assert_int_equal(shoal_event_type(ev), SHOAL_EVENT_TASK_STATE);
    assert_string_equal(shoal_event_type_name(ev), "TaskStateChange");
    assert_int_equal(shoal_event_seq(ev), 42);
    assert_int_equal(shoal_event_time_ms(ev), 1714564801500LL);
    assert_string_equal(shoal_event_time(ev), "2024-05-01T12:00:01.5000000Z");
    assert_string_equal(shoal_event_entity_type(ev), "task");
    assert_string_equal(shoal_event_entity_id(ev), "t7");
    assert_string_equal(shoal_event_task_id(ev), "t7");
    assert_string_equal(shoal_event_job_id(ev), "j1");
    assert_string_equal(shoal_event_old_state(ev), "running");
    assert_string_equal(shoal_event_new_state(ev), "completed");
    assert_int_equal(shoal_event_exit_code(ev, &code), 0);
    assert_int_equal(code, 3);
    assert_string_equal(shoal_event_failure_code(ev), "FailureExitCode");
    assert_string_equal(shoal_event_etag(ev), "abc");
    assert_string_equal(shoal_event_property(ev, "JobId"), "j1");
    assert_null(shoal_event_property(ev, "ExitCode")); /* not a string */
    assert_null(shoal_event_property(ev, "Nope"));
    json = shoal_event_json(ev);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"future\":[1,2]"));
    shoal_free(json);
    shoal_event_free(ev);
    shoal_event_free(NULL);
    assert_true(shoal_event_state_is_final("Finished"));
    assert_true(shoal_event_state_is_final("Error"));
    assert_true(shoal_event_state_is_final("Canceled"));
    assert_false(shoal_event_state_is_final("Canceling"));
    assert_false(shoal_event_state_is_final(NULL));
}

static void test_event_minimal_and_unknown(void **state)
{
    static const char *const ok[] = {
        "{\"sequence\":1,\"type\":\"JobStateChange\",\"oldState\":null,"
        "\"newState\":\"Scheduled\",\"jobId\":\"j\",\"entityType\":\"job\","
        "\"entityId\":\"j\"}",
        "{\"sequence\":2,\"type\":\"SomethingNew\",\"extra\":{\"a\":[]}}",
        "{\"sequence\":3,\"type\":\"NotificationEndPointRegistration\","
        "\"exitCode\":null,\"failureCode\":null,\"properties\":null}",
    };
    shoal_event *ev = NULL;
    int64_t code;

    (void)state;
    assert_int_equal(shoal_event_parse(ok[0], strlen(ok[0]), &ev, NULL, 0), 0);
    assert_int_equal(shoal_event_type(ev), SHOAL_EVENT_JOB_STATE);
    assert_null(shoal_event_old_state(ev));
    assert_null(shoal_event_task_id(ev));
    assert_null(shoal_event_time(ev));
    assert_int_equal(shoal_event_time_ms(ev), 0);
    assert_int_equal(shoal_event_exit_code(ev, &code), SHOAL_ERR_NOTFOUND);
    shoal_event_free(ev);
    assert_int_equal(shoal_event_parse(ok[1], strlen(ok[1]), &ev, NULL, 0), 0);
    assert_int_equal(shoal_event_type(ev), SHOAL_EVENT_UNKNOWN);
    shoal_event_free(ev);
    assert_int_equal(shoal_event_parse(ok[2], strlen(ok[2]), &ev, NULL, 0), 0);
    assert_int_equal(shoal_event_type(ev), SHOAL_EVENT_ENDPOINT);
    shoal_event_free(ev);
}

static void test_event_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"sequence\":1,\"type\":\"JobStateChange\"",
        "[]",
        "null",
        "\"sequence\"",
        "{}",
        "{\"type\":\"JobStateChange\"}",
        "{\"sequence\":0,\"type\":\"JobStateChange\"}",
        "{\"sequence\":-5,\"type\":\"JobStateChange\"}",
        "{\"sequence\":1.5,\"type\":\"JobStateChange\"}",
        "{\"sequence\":\"12a\",\"type\":\"JobStateChange\"}",
        "{\"sequence\":true,\"type\":\"JobStateChange\"}",
        "{\"sequence\":1}",
        "{\"sequence\":1,\"type\":\"\"}",
        "{\"sequence\":1,\"type\":7}",
        "{\"sequence\":1,\"type\":null}",
        "{\"sequence\":1,\"type\":\"JobStateChange\",\"time\":\"soon\"}",
        "{\"sequence\":1,\"type\":\"JobStateChange\",\"time\":12}",
        "{\"sequence\":1,\"type\":\"JobStateChange\",\"entityId\":5}",
        "{\"sequence\":1,\"type\":\"JobStateChange\",\"jobId\":[\"j\"]}",
        "{\"sequence\":1,\"type\":\"JobStateChange\",\"newState\":{}}",
        "{\"sequence\":1,\"type\":\"JobStateChange\",\"oldState\":false}",
        "{\"sequence\":1,\"type\":\"TaskStateChange\",\"exitCode\":\"0\"}",
        "{\"sequence\":1,\"type\":\"TaskStateChange\",\"exitCode\":0.5}",
        "{\"sequence\":1,\"type\":\"TaskStateChange\",\"failureCode\":1}",
        "{\"sequence\":1,\"type\":\"TaskStateChange\",\"etag\":1}",
        "{\"sequence\":1,\"type\":\"TaskStateChange\",\"properties\":[]}",
        "{\"sequence\":1,\"type\":\"TaskStateChange\",\"properties\":\"x\"}",
        /* duplicate keys */
        "{\"sequence\":1,\"sequence\":2,\"type\":\"JobStateChange\"}",
        /* invalid UTF-8 */
        "{\"sequence\":1,\"type\":\"Job\xff\"}",
        /* NUL escapes are refused by the JSON parser */
        "{\"sequence\":1,\"type\":\"Job\\u0000x\"}",
    };
    char why[160];
    struct buf big = BUF_INIT;
    shoal_event *ev = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ev = NULL;
        if (shoal_event_parse(bad[i], strlen(bad[i]), &ev, why, sizeof(why)) !=
            SHOAL_ERR_PROTOCOL)
            fail_msg("accepted hostile event %zu: %s", i, bad[i]);
        assert_null(ev);
        assert_true(why[0] != '\0');
    }
    /* Huge strings: a 2000-byte id, a 100-byte state, a 300-byte etag. */
    buf_adds(&big, "{\"sequence\":1,\"type\":\"JobStateChange\","
                   "\"entityId\":\"");
    for (i = 0; i < 2000; i++)
        buf_addc(&big, 'a');
    buf_adds(&big, "\"}");
    assert_int_equal(
        shoal_event_parse(big.data, big.len, &ev, why, sizeof(why)),
        SHOAL_ERR_PROTOCOL);
    assert_non_null(strstr(why, "entityId"));
    buf_reset(&big);
    buf_adds(&big, "{\"sequence\":1,\"type\":\"JobStateChange\","
                   "\"newState\":\"");
    for (i = 0; i < 100; i++)
        buf_addc(&big, 'S');
    buf_adds(&big, "\"}");
    assert_int_equal(shoal_event_parse(big.data, big.len, &ev, NULL, 0),
                     SHOAL_ERR_PROTOCOL);
    buf_reset(&big);
    buf_adds(&big, "{\"sequence\":1,\"type\":\"JobStateChange\",\"etag\":\"");
    for (i = 0; i < 300; i++)
        buf_addc(&big, 'e');
    buf_adds(&big, "\"}");
    assert_int_equal(shoal_event_parse(big.data, big.len, &ev, NULL, 0),
                     SHOAL_ERR_PROTOCOL);
    /* Over 1 MiB of text is refused before parsing. */
    buf_reset(&big);
    buf_adds(&big, "{\"sequence\":1,\"type\":\"JobStateChange\",\"pad\":\"");
    for (i = 0; i < (1u << 20); i++)
        buf_addc(&big, ' ');
    buf_adds(&big, "\"}");
    assert_int_equal(
        shoal_event_parse(big.data, big.len, &ev, why, sizeof(why)),
        SHOAL_ERR_PROTOCOL);
    assert_non_null(strstr(why, "bytes"));
    /* Deep nesting in an unknown member: the parser's limit, no crash. */
    buf_reset(&big);
    buf_adds(&big, "{\"sequence\":1,\"type\":\"X\",\"deep\":");
    for (i = 0; i < 5000; i++)
        buf_addc(&big, '[');
    for (i = 0; i < 5000; i++)
        buf_addc(&big, ']');
    buf_adds(&big, "}");
    assert_int_equal(shoal_event_parse(big.data, big.len, &ev, NULL, 0),
                     SHOAL_ERR_PROTOCOL);
    buf_release(&big);
    assert_int_equal(shoal_event_parse(NULL, 0, &ev, NULL, 0),
                     SHOAL_ERR_PROTOCOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_accessors),
        cmocka_unit_test(test_event_minimal_and_unknown),
        cmocka_unit_test(test_event_hostile),
        cmocka_unit_test(test_watch_in_order),
        cmocka_unit_test(test_watch_resumes_after_drop_and_503),
        cmocka_unit_test(test_watch_skips_replayed_events),
        cmocka_unit_test(test_watch_gone),
        cmocka_unit_test(test_watch_bad_event_fails_whole_reply),
        cmocka_unit_test(test_watch_timeout_and_from_now),
        cmocka_unit_test(test_watch_filtered_lastseq_moves_cursor),
        cmocka_unit_test(test_watch_gives_up),
        cmocka_unit_test(test_watch_bad_arguments),
        cmocka_unit_test(test_last_seq),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
