/*
 * Unit tests for src/notify: media job states, the event log and its
 * ETags, subscriptions (All vs FinalStatesOnly) feeding the outbox, queue
 * delivery through a recording sink (exactly once, in seq order), the
 * endpoint API over fake requests, and hostile input to it.
 */
#include "unit.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "db/db.h"
#include "http/http.h"
#include "notify/notify.h"
#include "notify/notifyint.h"

struct fixture {
    char dir[64];
    struct config cfg;
    struct db *db;
    struct notify *n;
    char *msgs[64];
    char queues[64][64];
    size_t nmsgs;
    bool fail_notfound;
};

static int sink(void *ctx, struct db *db, const char *account,
                const char *queue, const char *text, size_t len, bool create,
                struct err *err)
{
    struct fixture *f = ctx;

    (void)db;
    (void)account;
    (void)create;
    if (f->fail_notfound)
        return err_set(err, ERR_NOTFOUND, "QueueNotFound", "no queue");
    if (f->nmsgs < 64) {
        f->msgs[f->nmsgs] = strndup(text, len);
        snprintf(f->queues[f->nmsgs], sizeof(f->queues[0]), "%s", queue);
        f->nmsgs++;
    }
    return 0;
}

static void clear_msgs(struct fixture *f);

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char arg0[] = "t";
    char *argv[] = {arg0, NULL};
    char path[128];

    snprintf(f->dir, sizeof(f->dir), "/tmp/shoal-notify-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(config_load(&f->cfg, 1, argv), 0);
    snprintf(path, sizeof(path), "%s/meta.db", f->dir);
    assert_int_equal(db_open(path, false, &f->db, NULL), 0);
    assert_int_equal(notify_open(&f->cfg, f->db, &f->n, NULL), 0);
    notify_set_queue_sink(f->n, sink, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[160];

    notify_close(f->n);
    db_close(f->db);
    config_release(&f->cfg);
    clear_msgs(f);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Run one request through notify's router; returns status, body copied. */
static int call(struct fixture *f, const char *method, const char *target,
                const char *body, char **body_out)
{
    static const char *const hdrs[] = {"Host: 127.0.0.1", NULL};
    struct http_req *req = http_fake_new(method, target, hdrs);
    int status;

    assert_true(notify_api_route(f->n, req, "acct", false));
    if (body)
        buf_add(&req->body, body, strlen(body));
    assert_true(notify_api_route(f->n, req, "acct", true));
    status = http_fake_status(req);
    if (body_out)
        *body_out = strdup(http_fake_body(req));
    notify_api_done(f->n, req);
    http_fake_free(req);
    return status;
}

/* Deliver what is due, synchronously, by starting and stopping. */
static void drain(struct fixture *f)
{
    assert_int_equal(notify_start(f->n, NULL), 0);
    for (int i = 0; i < 200; i++) {
        size_t before = f->nmsgs;
        usleep(5000);
        if (i > 20 && f->nmsgs == before)
            break;
    }
    notify_close(f->n);
    assert_int_equal(notify_open(&f->cfg, f->db, &f->n, NULL), 0);
    notify_set_queue_sink(f->n, sink, f);
}

static void media_states(void **state)
{
    struct notify_job_picture p = {0};

    (void)state;
    p.state = "active";
    assert_string_equal(notify_media_state(&p), "Queued");
    p.assigned = 1;
    assert_string_equal(notify_media_state(&p), "Scheduled");
    p.running = 1;
    assert_string_equal(notify_media_state(&p), "Processing");
    p.state = "completed";
    p.running = 0;
    p.terminate_reason = "AllTasksComplete";
    assert_string_equal(notify_media_state(&p), "Finished");
    p.failed = 1;
    assert_string_equal(notify_media_state(&p), "Error");
    p.failed = 0;
    p.terminate_reason = "MaxWallClockTimeExpiry";
    assert_string_equal(notify_media_state(&p), "Error");
    p.terminate_reason = "UserTerminate";
    assert_string_equal(notify_media_state(&p), "Canceled");
    p.terminate_reason = "because I said so";
    assert_string_equal(notify_media_state(&p), "Canceled");
    p.state = "terminating";
    p.user_terminated = true;
    assert_string_equal(notify_media_state(&p), "Canceling");
    /* Deleting cancels, whoever asked; other terminations are no state
     * of their own: a job that never ran a task is still Queued. */
    p.state = "deleting";
    p.user_terminated = false;
    assert_string_equal(notify_media_state(&p), "Canceling");
    p.state = "terminating";
    p.terminate_reason = "AllTasksComplete";
    p.assigned = 0;
    p.running = 0;
    assert_string_equal(notify_media_state(&p), "Queued");
    p.assigned = 1;
    assert_string_equal(notify_media_state(&p), "Scheduled");
    p.running = 1;
    assert_string_equal(notify_media_state(&p), "Processing");
    assert_true(notify_media_state_final("Finished"));
    assert_true(notify_media_state_final("Error"));
    assert_true(notify_media_state_final("Canceled"));
    assert_false(notify_media_state_final("Processing"));
}

static char *create_endpoint(struct fixture *f, const char *queue)
{
    char body[256], *out = NULL, *id;
    json_t *o;

    snprintf(body, sizeof(body),
             "{\"name\":\"n1\",\"endpointType\":\"queue\","
             "\"endpointAddress\":\"%s\"}",
             queue);
    assert_int_equal(call(f, "POST", "/notificationendpoints", body, &out),
                     201);
    o = json_loads(out, 0, NULL);
    assert_non_null(o);
    id = strdup(json_string_value(json_object_get(o, "id")));
    assert_true(strncmp(id, "nb:nepid:UUID:", 14) == 0);
    json_decref(o);
    free(out);
    return id;
}

static void job_event(struct fixture *f, const char *job, const char *from,
                      const char *to)
{
    struct notify_event ev = {0};

    ev.account = "acct";
    ev.kind = NOTIFY_JOB_STATE;
    ev.entity_id = job;
    ev.job_id = job;
    ev.old_state = from;
    ev.new_state = to;
    db_lock(f->db);
    assert_int_equal(db_begin(f->db, NULL), 0);
    assert_int_equal(notify_event_tx(f->n, &ev, NULL, NULL), 0);
    assert_int_equal(db_commit(f->db, NULL), 0);
    db_unlock(f->db);
}

static void subscribe(struct fixture *f, const char *job, const char *ep,
                      const char *target)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"value\":[{\"notificationEndPointId\":\"%s\","
             "\"targetJobState\":\"%s\"}]}",
             ep, target);
    char path[128];
    snprintf(path, sizeof(path), "/jobs/%s/notificationsubscriptions", job);
    assert_int_equal(call(f, "PUT", path, body, NULL), 200);
}

static void subscribe2(struct fixture *f, const char *job, const char *ep1,
                       const char *t1, const char *ep2, const char *t2)
{
    char body[768], path[128];

    snprintf(body, sizeof(body),
             "{\"value\":[{\"notificationEndPointId\":\"%s\","
             "\"targetJobState\":\"%s\"},{\"notificationEndPointId\":"
             "\"%s\",\"targetJobState\":\"%s\"}]}",
             ep1, t1, ep2, t2);
    snprintf(path, sizeof(path), "/jobs/%s/notificationsubscriptions", job);
    assert_int_equal(call(f, "PUT", path, body, NULL), 200);
}

static void clear_msgs(struct fixture *f)
{
    for (size_t i = 0; i < f->nmsgs; i++)
        free(f->msgs[i]);
    f->nmsgs = 0;
}

static void all_vs_final(void **state)
{
    struct fixture *f = *state;
    char *all = create_endpoint(f, "qall");
    char *fin = create_endpoint(f, "qfinal");
    size_t nall = 0, nfin = 0, nreg = 0;

    /* PUT replaces the job's list; the id is matched case-insensitively. */
    subscribe(f, "JobA", all, "All");
    subscribe2(f, "joba", all, "All", fin, "FinalStatesOnly");
    job_event(f, "JobA", "Queued", "Scheduled");
    job_event(f, "JobA", "Scheduled", "Processing");
    job_event(f, "JobA", "Processing", "Finished");
    job_event(f, "other", "Queued", "Scheduled");
    drain(f);
    for (size_t i = 0; i < f->nmsgs; i++) {
        json_t *m = json_loads(f->msgs[i], 0, NULL);
        const char *type;
        assert_non_null(m);
        type = json_string_value(json_object_get(m, "EventType"));
        assert_string_equal(
            json_string_value(json_object_get(m, "MessageVersion")), "1.0");
        assert_int_equal(
            strlen(json_string_value(json_object_get(m, "ETag"))), 64);
        if (strcmp(type, "NotificationEndPointRegistration") == 0) {
            nreg++;
        } else {
            json_t *p = json_object_get(m, "Properties");
            assert_string_equal(type, "JobStateChange");
            assert_string_equal(
                json_string_value(json_object_get(p, "JobId")), "JobA");
            if (strcmp(f->queues[i], "qall") == 0)
                nall++;
            else {
                assert_string_equal(
                    json_string_value(json_object_get(p, "NewState")),
                    "Finished");
                nfin++;
            }
        }
        json_decref(m);
    }
    assert_int_equal(nreg, 2);
    assert_int_equal(nall, 3);
    assert_int_equal(nfin, 1);
    free(all);
    free(fin);
}

static void order_and_once(void **state)
{
    struct fixture *f = *state;
    char *ep = create_endpoint(f, "qorder");
    long last = 0;

    subscribe(f, "j1", ep, "All");
    for (int i = 0; i < 20; i++)
        job_event(f, "j1", "Scheduled", "Processing");
    drain(f);
    assert_int_equal(f->nmsgs, 21); /* registration + 20, no duplicate */
    for (size_t i = 0; i < f->nmsgs; i++) {
        json_t *m = json_loads(f->msgs[i], 0, NULL);
        const char *seq = json_string_value(
            json_object_get(json_object_get(m, "Properties"), "Sequence"));
        assert_non_null(seq);
        assert_true(strtol(seq, NULL, 10) > last);
        last = strtol(seq, NULL, 10);
        json_decref(m);
    }
    /* Restarting delivers nothing again: the outbox rows are gone. */
    clear_msgs(f);
    drain(f);
    assert_int_equal(f->nmsgs, 0);
    free(ep);
}

static void missing_queue_dead_letters(void **state)
{
    struct fixture *f = *state;
    char *ep = create_endpoint(f, "qgone");
    char path[256], *out = NULL;
    json_t *o;

    f->fail_notfound = true;
    drain(f);
    snprintf(path, sizeof(path), "/notificationendpoints/%s/deadletters",
             ep);
    assert_int_equal(call(f, "GET", path, NULL, &out), 200);
    o = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(o, "value")), 1);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(o, "value"), 0),
            "deadLetterReason")),
        "QueueNotFound");
    json_decref(o);
    free(out);
    /* Replay: the message goes back to the outbox and is delivered. */
    f->fail_notfound = false;
    snprintf(path, sizeof(path),
             "/notificationendpoints/%s/deadletters/replay", ep);
    assert_int_equal(call(f, "POST", path, NULL, NULL), 204);
    drain(f);
    assert_int_equal(f->nmsgs, 1);
    free(ep);
}

static void hostile_endpoint_bodies(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"name\":\"a\",\"name\":\"b\",\"endpointType\":\"queue\","
        "\"endpointAddress\":\"qq1\"}",
        "{\"endpointType\":\"queue\",\"endpointAddress\":\"qq1\"}",
        "{\"name\":\"a\",\"endpointType\":\"carrier-pigeon\","
        "\"endpointAddress\":\"qq1\"}",
        "{\"name\":\"a\",\"endpointType\":\"queue\","
        "\"endpointAddress\":\"Bad_Queue\"}",
        "{\"name\":\"a\",\"endpointType\":\"queue\","
        "\"endpointAddress\":\"../../etc\"}",
        "{\"name\":\"a\",\"endpointType\":\"webhook\","
        "\"endpointAddress\":\"file:///etc/passwd\"}",
        "{\"name\":\"a\",\"endpointType\":\"queue\",\"endpointAddress\":5}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(
            call(f, "POST", "/notificationendpoints", bad[i], NULL), 400);
    assert_int_equal(
        call(f, "GET", "/notificationendpoints/nb:nepid:UUID:nope", NULL,
             NULL),
        404);
    assert_int_equal(
        call(f, "DELETE", "/notificationendpoints/%zz", NULL, NULL), 404);
    assert_int_equal(call(f, "PUT", "/jobs/j/notificationsubscriptions",
                          "{\"value\":[{\"notificationEndPointId\":\"x\","
                          "\"targetJobState\":\"All\"}]}",
                          NULL),
                     404);
    assert_int_equal(call(f, "PUT", "/jobs/j/notificationsubscriptions",
                          "{\"value\":[{\"targetJobState\":\"Sometimes\"}]}",
                          NULL),
                     400);
    assert_int_equal(call(f, "GET", "/events?since=-1", NULL, NULL), 400);
    assert_int_equal(call(f, "GET", "/events?types=Nope", NULL, NULL), 400);
    assert_int_equal(call(f, "PATCH", "/events", NULL, NULL), 405);
    /* Nothing was registered by any of that. */
    {
        char *out = NULL;
        json_t *o;
        assert_int_equal(
            call(f, "GET", "/notificationendpoints", NULL, &out), 200);
        o = json_loads(out, 0, NULL);
        assert_int_equal(json_array_size(json_object_get(o, "value")), 0);
        json_decref(o);
        free(out);
    }
}

static void etag_stable_and_distinct(void **state)
{
    struct fixture *f = *state;
    char *out = NULL;
    json_t *o, *v;
    const char *e1, *e2;

    job_event(f, "j2", "Scheduled", "Processing");
    job_event(f, "j2", "Scheduled", "Processing");
    assert_int_equal(call(f, "GET", "/events?since=0&timeout=0", NULL, &out),
                     200);
    o = json_loads(out, 0, NULL);
    v = json_object_get(o, "value");
    assert_int_equal(json_array_size(v), 2);
    e1 = json_string_value(json_object_get(json_array_get(v, 0), "etag"));
    e2 = json_string_value(json_object_get(json_array_get(v, 1), "etag"));
    assert_string_not_equal(e1, e2);
    assert_int_equal(json_integer_value(json_object_get(o, "lastSeq")), 2);
    /* Reading again gives the very same ETags. */
    {
        char *out2 = NULL;
        json_t *o2;
        assert_int_equal(
            call(f, "GET", "/events?since=0&timeout=0", NULL, &out2), 200);
        o2 = json_loads(out2, 0, NULL);
        assert_string_equal(
            e1, json_string_value(json_object_get(
                    json_array_get(json_object_get(o2, "value"), 0),
                    "etag")));
        json_decref(o2);
        free(out2);
    }
    json_decref(o);
    free(out);
    /* Filtered by job and type. */
    assert_int_equal(call(f, "GET",
                          "/events?since=0&timeout=0&jobId=J2&types="
                          "TaskStateChange",
                          NULL, &out),
                     200);
    o = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(o, "value")), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "lastSeq")), 2);
    json_decref(o);
    free(out);
}

/* The webhook AccountId: a version-8 GUID, stable per account, distinct. */
static void account_ids(void **state)
{
    char a[NOTIFY_ACCOUNT_ID_LEN], b[NOTIFY_ACCOUNT_ID_LEN];
    char c[NOTIFY_ACCOUNT_ID_LEN];
    char *msg;
    json_t *m;

    (void)state;
    notify_account_id("devstoreaccount1", a);
    notify_account_id("devstoreaccount1", b);
    notify_account_id("devstoreaccount2", c);
    assert_int_equal(strlen(a), 36);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", a[i]));
    }
    assert_int_equal(a[14], '8');
    assert_non_null(strchr("89ab", a[19]));
    /* on webhook messages only */
    msg = notify_render_message("devstoreaccount1", NOTIFY_JOB_STATE, 7, 0,
                                "{}", "e", true, "ep1");
    m = json_loads(msg, 0, NULL);
    assert_non_null(m);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m, "Properties"),
                                          "AccountId")),
        a);
    json_decref(m);
    free(msg);
    msg = notify_render_message("devstoreaccount1", NOTIFY_JOB_STATE, 7, 0,
                                "{}", "e", false, NULL);
    m = json_loads(msg, 0, NULL);
    assert_null(json_object_get(json_object_get(m, "Properties"),
                                "AccountId"));
    json_decref(m);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(media_states),
        cmocka_unit_test(account_ids),
        cmocka_unit_test_setup_teardown(all_vs_final, setup, teardown),
        cmocka_unit_test_setup_teardown(order_and_once, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_queue_dead_letters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(hostile_endpoint_bodies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(etag_stable_and_distinct, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
