/*
 * test_batch_api.c: the Batch REST front door (src/batch/batch_api.c and
 * the resource files) through http_fake requests, no sockets and no
 * agents: api-version and auth checks in order, routing errors, the
 * create/get/list conventions of batch-wire.md §3 (201 + Location, ETag,
 * odata.metadata, defaults shown, continuation links that carry the
 * query), add-collection results, and body limits.
 */
#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/auth.h"
#include "batch/batch.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"
#include "http/http.h"

#define API "2022-10-01.16.0"

struct fx {
    char dir[64];
    struct config cfg;
    struct auth auth;
    struct db *db;
    struct batch_service *svc;
};

static struct fx *F;

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct err e = ERR_INIT;
    char *path;

    snprintf(f->dir, sizeof(f->dir), "/tmp/shoal-bapi-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->cfg.data_dir = f->dir;
    f->cfg.host = (char *)"127.0.0.1";
    f->cfg.node_bin = (char *)"";
    f->cfg.node_run_as = (char *)"nobody";
    f->cfg.node_heartbeat_timeout_ms = 30000;
    f->cfg.node_poll_ms = 1000;
    auth_init(&f->auth, 0);
    assert_int_equal(
        auth_add_account(&f->auth, AUTH_DEV_ACCOUNT, AUTH_DEV_KEY, &e), 0);
    path = xasprintf("%s/meta.db", f->dir);
    assert_int_equal(db_open(path, false, &f->db, &e), 0);
    free(path);
    assert_int_equal(batch_service_open(&f->cfg, f->db, &f->auth, &f->svc, &e),
                     0);
    F = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    const char *files[] = { "meta.db", "meta.db-wal", "meta.db-shm" };

    batch_service_close(f->svc);
    db_close(f->db);
    auth_release(&f->auth);
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char *p = xasprintf("%s/%s", f->dir, files[i]);
        unlink(p);
        free(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/*
 * A signed request: method, path, query (raw, may be ""), decoded query
 * pairs for the signature (name=value, sorted by the caller), body.
 */
struct resp {
    int status;
    json_t *json;
    char *location, *etag;
};

static void resp_free(struct resp *r)
{
    json_decref(r->json);
    free(r->location);
    free(r->etag);
}

static struct resp call(const char *method, const char *path, const char *query,
                        const char *const *signq, const char *body, bool sign,
                        const char *key)
{
    const struct account *acct = auth_find(&F->auth, AUTH_DEV_ACCOUNT);
    struct account bad;
    char date[TIMEFMT_RFC1123_LEN], sig[64], clen[32];
    struct buf sts, target, h1, h2, h3, h4;
    const char *hdrs[6] = { NULL };
    struct http_req *req;
    struct resp r;
    size_t blen = body ? strlen(body) : 0;
    int nh = 0;

    memset(&r, 0, sizeof(r));
    buf_init(&sts, (size_t)-1);
    buf_init(&target, (size_t)-1);
    buf_init(&h1, (size_t)-1);
    buf_init(&h2, (size_t)-1);
    buf_init(&h3, (size_t)-1);
    buf_init(&h4, (size_t)-1);
    timefmt_rfc1123(timefmt_now_ms(), date);
    snprintf(clen, sizeof(clen), "%zu", blen);
    buf_addf(&sts, "%s\n\n\n%s\n\n%s\n\n\n\n\n\n\nocp-date:%s\n/%s%s", method,
             body ? clen : "", body ? "application/json" : "", date,
             AUTH_DEV_ACCOUNT, path);
    for (size_t i = 0; signq && signq[i]; i++) {
        const char *eq = strchr(signq[i], '=');
        buf_addf(&sts, "\n%.*s:%s", (int)(eq - signq[i]), signq[i], eq + 1);
    }
    if (key) {
        struct err e = ERR_INIT;
        struct auth tmp;
        auth_init(&tmp, 0);
        assert_int_equal(auth_add_account(&tmp, AUTH_DEV_ACCOUNT, key, &e), 0);
        bad = *auth_find(&tmp, AUTH_DEV_ACCOUNT);
        auth_release(&tmp);
        acct = &bad;
    }
    auth_sign(acct, 0, sts.data, sts.len, sig);
    buf_addf(&h1, "ocp-date: %s", date);
    hdrs[nh++] = h1.data;
    if (sign) {
        buf_addf(&h2, "Authorization: SharedKey %s:%s", AUTH_DEV_ACCOUNT, sig);
        hdrs[nh++] = h2.data;
    }
    if (body) {
        buf_addf(&h3, "Content-Length: %s", clen);
        hdrs[nh++] = h3.data;
        buf_adds(&h4, "Content-Type: application/json");
        hdrs[nh++] = h4.data;
    }
    hdrs[nh++] = "Host: batch.test:1234";
    buf_addf(&target, "%s%s%s", path, *query ? "?" : "", query);
    req = http_fake_new(method, target.data, hdrs);
    http_fake_run(req, batch_service_http(F->svc), body, blen);
    r.status = http_fake_status(req);
    if (http_fake_body(req) && *http_fake_body(req))
        r.json = json_loads(http_fake_body(req), 0, NULL);
    if (http_fake_resp_header(req, "Location"))
        r.location = xstrdup(http_fake_resp_header(req, "Location"));
    if (http_fake_resp_header(req, "ETag"))
        r.etag = xstrdup(http_fake_resp_header(req, "ETag"));
    http_fake_free(req);
    buf_release(&sts);
    buf_release(&target);
    buf_release(&h1);
    buf_release(&h2);
    buf_release(&h3);
    buf_release(&h4);
    return r;
}

static const char *const API_Q[] = { "api-version=" API, NULL };

static const char *code_of(const struct resp *r)
{
    return json_string_value(json_object_get(r->json, "code"));
}

static void test_checks_in_order(void **state)
{
    struct resp r;

    (void)state;
    r = call("GET", "/jobs", "", NULL, NULL, false, NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(code_of(&r), "MissingRequiredQueryParameter");
    resp_free(&r);
    r = call("GET", "/jobs", "api-version=2022-10-01", NULL, NULL, true, NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(code_of(&r), "UnsupportedRequestVersion");
    resp_free(&r);
    r = call("GET", "/jobs", "api-version=2022-10-01.16", NULL, NULL, true,
             NULL);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    r = call("GET", "/jobs", "api-version=" API, API_Q, NULL, false, NULL);
    assert_true(r.status == 401 || r.status == 403);
    resp_free(&r);
    r = call("GET", "/jobs", "api-version=" API, API_Q, NULL, true,
             "c2hvYWwtdGVzdC1ub3QtdGhlLWtleQ==");
    assert_int_equal(r.status, 403);
    assert_string_equal(code_of(&r), "AuthenticationFailed");
    resp_free(&r);
    r = call("GET", "/jobs", "api-version=" API, API_Q, NULL, true, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(
        json_string_value(json_object_get(r.json, "odata.metadata")),
        "http://batch.test:1234/$metadata#jobs");
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 0);
    resp_free(&r);
}

static void test_routes(void **state)
{
    struct resp r;

    (void)state;
    r = call("GET", "/nosuch", "api-version=" API, API_Q, NULL, true, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    r = call("GET", "/certificates", "api-version=" API, API_Q, NULL, true,
             NULL);
    assert_int_equal(r.status, 501);
    assert_string_equal(code_of(&r), "NotImplemented");
    resp_free(&r);
    r = call("PUT", "/pools", "api-version=" API, API_Q, "{}", true, NULL);
    assert_int_equal(r.status, 405);
    resp_free(&r);
    r = call("GET", "/pools/nope", "api-version=" API, API_Q, NULL, true, NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal(code_of(&r), "PoolNotFound");
    resp_free(&r);
    r = call("GET", "/jobs/nope/tasks", "api-version=" API, API_Q, NULL, true,
             NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal(code_of(&r), "JobNotFound");
    resp_free(&r);
}

static void test_pool_and_defaults(void **state)
{
    struct resp r;
    json_t *st;

    (void)state;
    r = call("POST", "/pools", "api-version=" API, API_Q,
             "{\"id\":\"P1\",\"vmSize\":\"small\",\"startTask\":{"
             "\"commandLine\":\"/bin/true\"}}",
             true, NULL);
    assert_int_equal(r.status, 201);
    assert_null(r.json);
    assert_string_equal(r.location, "http://batch.test:1234/pools/P1");
    assert_non_null(r.etag);
    assert_true(strncmp(r.etag, "0x", 2) == 0 && strlen(r.etag) == 17);
    resp_free(&r);
    r = call("POST", "/pools", "api-version=" API, API_Q,
             "{\"id\":\"p1\",\"vmSize\":\"small\"}", true, NULL);
    assert_int_equal(r.status, 409);
    assert_string_equal(code_of(&r), "PoolExists");
    resp_free(&r);
    r = call("GET", "/pools/p1", "api-version=" API, API_Q, NULL, true, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), "P1");
    assert_string_equal(
        json_string_value(json_object_get(r.json, "odata.metadata")),
        "http://batch.test:1234/$metadata#pools/@Element");
    assert_int_equal(
        json_integer_value(json_object_get(r.json, "taskSlotsPerNode")), 1);
    assert_string_equal(
        json_string_value(json_object_get(r.json, "resizeTimeout")), "PT15M");
    assert_string_equal(
        json_string_value(json_object_get(r.json, "allocationState")),
        "steady");
    st = json_object_get(r.json, "startTask");
    assert_true(json_is_true(json_object_get(st, "waitForSuccess")));
    assert_int_equal(
        json_integer_value(json_object_get(st, "maxTaskRetryCount")), 0);
    /* 7 fractional digits */
    assert_int_equal(
        strlen(json_string_value(json_object_get(r.json, "creationTime"))),
        strlen("2020-11-24T18:55:14.6103234Z"));
    resp_free(&r);
    r = call("POST", "/pools/p1/enableautoscale", "api-version=" API, API_Q,
             "{}", true, NULL);
    assert_int_equal(r.status, 501);
    resp_free(&r);
}

static void test_tasks_and_paging(void **state)
{
    struct resp r;
    const char *next;
    const char *const q2[] = { "api-version=" API, "maxresults=2", NULL };
    json_t *v;

    (void)state;
    r = call("POST", "/jobs", "api-version=" API, API_Q,
             "{\"id\":\"j\",\"poolInfo\":{\"poolId\":\"nopool\"}}", true, NULL);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    r = call("POST", "/jobs/j/addtaskcollection", "api-version=" API, API_Q,
             "{\"value\":[{\"id\":\"a\",\"commandLine\":\"x\"},{\"id\":\"b\","
             "\"commandLine\":\"x\"},{\"id\":\"A\",\"commandLine\":\"x\"},"
             "{\"id\":\"c\",\"commandLine\":\"x\"},{\"id\":\"d\","
             "\"commandLine\":\"x\"}]}",
             true, NULL);
    assert_int_equal(r.status, 200);
    v = json_object_get(r.json, "value");
    assert_int_equal(json_array_size(v), 5);
    resp_free(&r);
    r = call("POST", "/jobs/j/tasks", "api-version=" API, API_Q,
             "{\"id\":\"B\",\"commandLine\":\"x\"}", true, NULL);
    assert_int_equal(r.status, 409);
    assert_string_equal(code_of(&r), "TaskExists");
    resp_free(&r);
    r = call("GET", "/jobs/j/tasks", "api-version=" API "&maxresults=2", q2,
             NULL, true, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 2);
    next = json_string_value(json_object_get(r.json, "odata.nextLink"));
    assert_non_null(next);
    assert_non_null(strstr(next, "http://batch.test:1234/jobs/j/tasks?"));
    assert_non_null(strstr(next, "api-version=" API));
    assert_non_null(strstr(next, "maxresults=2"));
    assert_non_null(strstr(next, "$skiptoken="));
    resp_free(&r);
    r = call("GET", "/jobs/j/taskcounts", "api-version=" API, API_Q, NULL, true,
             NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(r.json, "taskCounts"), "active")),
                     4);
    resp_free(&r);
}

static void test_collection_results(void **state)
{
    struct resp r;
    json_t *v, *x;
    size_t i;
    int ok = 0, dup = 0;

    (void)state;
    r = call("POST", "/jobs", "api-version=" API, API_Q,
             "{\"id\":\"j2\",\"poolInfo\":{\"poolId\":\"nopool\"}}", true,
             NULL);
    resp_free(&r);
    r = call("POST", "/jobs/j2/addtaskcollection", "api-version=" API, API_Q,
             "{\"value\":[{\"id\":\"a\",\"commandLine\":\"x\"},{\"id\":\"A\","
             "\"commandLine\":\"x\"},{\"id\":\"b\",\"commandLine\":\"x\"}]}",
             true, NULL);
    assert_int_equal(r.status, 200);
    v = json_object_get(r.json, "value");
    json_array_foreach(v, i, x)
    {
        const char *status = json_string_value(json_object_get(x, "status"));
        if (strcmp(status, "success") == 0) {
            ok++;
            assert_non_null(json_object_get(x, "eTag"));
            assert_non_null(json_object_get(x, "location"));
        } else {
            dup++;
            assert_string_equal(status, "clienterror");
            assert_string_equal(json_string_value(json_object_get(x, "taskId")),
                                "A");
            assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(x, "error"), "code")),
                                "TaskExists");
        }
    }
    assert_int_equal(ok, 2);
    assert_int_equal(dup, 1);
    resp_free(&r);
}

static void test_body_limit(void **state)
{
    struct buf b;
    struct resp r;
    char *s;

    (void)state;
    buf_init(&b, (size_t)-1);
    buf_adds(&b, "{\"id\":\"big\",\"commandLine\":\"");
    for (int i = 0; i < (1 << 20); i++)
        buf_addc(&b, 'x');
    buf_adds(&b, "\"}");
    s = buf_detach(&b, NULL);
    r = call("POST", "/jobs/j/tasks", "api-version=" API, API_Q, s, true, NULL);
    assert_int_equal(r.status, 413);
    assert_string_equal(code_of(&r), "RequestBodyTooLarge");
    resp_free(&r);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checks_in_order),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_pool_and_defaults),
        cmocka_unit_test(test_tasks_and_paging),
        cmocka_unit_test(test_collection_results),
        cmocka_unit_test(test_body_limit),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
