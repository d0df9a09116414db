/*
 * test_retry.c: the transport against a fault-injecting server.
 *
 * A tiny libmicrohttpd server on 127.0.0.1 (port 0) answers by path:
 *
 *   /acct/flaky...        503 ServerBusy twice, then 201
 *   /acct/down...         503 always
 *   /acct/gone...         501 always (not retryable)
 *   /acct/missing...      404 ContainerNotFound (XML body)
 *   HEAD /acct/c/nob      404, x-ms-error-code only
 *   /jobs/nojob           404 JobNotFound (Batch JSON body)
 *   /pools                two pages joined by an absolute odata.nextLink
 *                         that names another host
 *
 * and records hits, connections and the auth headers it saw. A closed
 * port gives the connection-refused case. Backoff is set to 1 ms so the
 * test takes no time; nothing waits on a clock.
 */
#include "unit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "client/clientint.h"

struct fake {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t lock;
    int flaky_hits;
    int down_hits;
    int gone_hits;
    int missing_hits;
    int pool_pages;
    int connections;
    char auth[256];
    char date[64];
    char version[64];
    char skiptoken[64];
};

static struct fake F;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *body, const char *ctype,
                             const char *code)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                        MHD_RESPMEM_MUST_COPY);
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    if (code)
        MHD_add_response_header(r, "x-ms-error-code", code);
    MHD_add_response_header(r, "x-ms-request-id", "req-123");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char busy_xml[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code>"
    "<Message>The server is busy.\nRequestId:x\nTime:y</Message></Error>";

static void note(struct MHD_Connection *conn, const char *name, char *dst,
                 size_t n)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

    snprintf(dst, n, "%s", v ? v : "");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    static int marker;
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
    note(conn, "Authorization", F.auth, sizeof(F.auth));
    note(conn, "x-ms-date", F.date, sizeof(F.date));
    note(conn, "x-ms-version", F.version, sizeof(F.version));
    if (strncmp(url, "/acct/flaky", 11) == 0) {
        int hit = ++F.flaky_hits;

        pthread_mutex_unlock(&F.lock);
        if (hit <= 2)
            return reply(conn, 503, busy_xml, "application/xml", "ServerBusy");
        return reply(conn, 201, "", NULL, NULL);
    }
    if (strncmp(url, "/acct/down", 10) == 0) {
        F.down_hits++;
        pthread_mutex_unlock(&F.lock);
        return reply(conn, 503, busy_xml, "application/xml", "ServerBusy");
    }
    if (strncmp(url, "/acct/gone", 10) == 0) {
        F.gone_hits++;
        pthread_mutex_unlock(&F.lock);
        return reply(conn, 501, "", NULL, "NotImplemented");
    }
    if (strncmp(url, "/acct/missing", 13) == 0) {
        F.missing_hits++;
        pthread_mutex_unlock(&F.lock);
        return reply(conn, 404,
                     "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                     "<Error><Code>ContainerNotFound</Code><Message>The "
                     "specified container does not exist.\nRequestId:r\n"
                     "Time:t</Message></Error>",
                     "application/xml", "ContainerNotFound");
    }
    if (strcmp(url, "/acct/c/nob") == 0 && strcmp(method, "HEAD") == 0) {
        pthread_mutex_unlock(&F.lock);
        return reply(conn, 404, "", NULL, "BlobNotFound");
    }
    if (strcmp(url, "/jobs/nojob") == 0) {
        pthread_mutex_unlock(&F.lock);
        return reply(conn, 404,
                     "{\"odata.metadata\":\"x\",\"code\":\"JobNotFound\","
                     "\"message\":{\"lang\":\"en-US\",\"value\":\"The "
                     "specified job does not exist.\\nRequestId:r\"}}",
                     "application/json;odata=minimalmetadata", NULL);
    }
    if (strcmp(url, "/pools") == 0) {
        const char *tok = MHD_lookup_connection_value(
            conn, MHD_GET_ARGUMENT_KIND, "$skiptoken");

        F.pool_pages++;
        snprintf(F.skiptoken, sizeof(F.skiptoken), "%s", tok ? tok : "");
        pthread_mutex_unlock(&F.lock);
        if (!tok)
            return reply(conn, 200,
                         "{\"odata.metadata\":\"m\",\"value\":[{\"id\":\"p1\","
                         "\"odata.metadata\":\"x\"},{\"id\":\"p2\"}],"
                         "\"odata.nextLink\":\"https://elsewhere.example/"
                         "pools?api-version=2022-10-01.16.0&%24skiptoken="
                         "page%202\"}",
                         "application/json", NULL);
        return reply(conn, 200, "{\"value\":[{\"id\":\"p3\"}]}",
                     "application/json", NULL);
    }
    pthread_mutex_unlock(&F.lock);
    rc = reply(conn, 400, "", NULL, "Unexpected");
    return rc;
}

static void on_conn(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                    enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)conn;
    (void)socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&F.lock);
        F.connections++;
        pthread_mutex_unlock(&F.lock);
    }
}

static int setup(void **state)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    pthread_mutex_init(&F.lock, NULL);
    F.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                           handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                           MHD_OPTION_NOTIFY_CONNECTION, on_conn, NULL,
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
             "BlobEndpoint=http://127.0.0.1:%d/acct;"
             "BatchEndpoint=http://127.0.0.1:%d",
             port, port);
    assert_int_equal(shoal_client_new(cs, &c, NULL, 0), 0);
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_RETRY_BASE_MS, 1), 0);
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_RETRY_MAX_MS, 2), 0);
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_RETRIES, 3), 0);
    return c;
}

static void test_503_twice_then_ok(void **state)
{
    shoal_client *c = client_on(F.port);
    bool created = false;

    (void)state;
    assert_int_equal(shoal_container_create(c, "flaky", false, &created), 0);
    assert_true(created);
    assert_int_equal(F.flaky_hits, 3);
    /* Every try was signed. */
    assert_true(strncmp(F.auth, "SharedKey acct:", 15) == 0);
    assert_int_equal(strlen(F.auth), 15 + 44);
    assert_int_equal(strlen(F.date), 29);
    assert_string_equal(F.version, CLIENT_STORAGE_VERSION);
    shoal_client_free(c);
}

static void test_503_forever(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_error e;

    (void)state;
    assert_int_equal(shoal_container_create(c, "down", false, NULL),
                     SHOAL_ERR_SERVER);
    assert_int_equal(F.down_hits, 4); /* one try and three retries */
    shoal_client_last_error(c, &e);
    assert_int_equal(e.code, SHOAL_ERR_SERVER);
    assert_int_equal(e.http_status, 503);
    assert_string_equal(e.service_code, "ServerBusy");
    assert_string_equal(e.message, "The server is busy.");
    assert_string_equal(e.request_id, "req-123");
    shoal_client_free(c);
}

static void test_no_retry_on_501_and_404(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_error e;

    (void)state;
    assert_int_equal(shoal_container_create(c, "gone", false, NULL),
                     SHOAL_ERR_SERVER);
    assert_int_equal(F.gone_hits, 1);
    assert_int_equal(shoal_container_delete(c, "missing"), SHOAL_ERR_NOTFOUND);
    assert_int_equal(F.missing_hits, 1);
    shoal_client_last_error(c, &e);
    assert_int_equal(e.http_status, 404);
    assert_string_equal(e.service_code, "ContainerNotFound");
    assert_string_equal(e.message, "The specified container does not exist.");
    shoal_client_free(c);
}

static void test_head_error_code(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_blob_props *p = NULL;
    struct shoal_error e;

    (void)state;
    assert_int_equal(shoal_blob_properties(c, "c", "nob", &p),
                     SHOAL_ERR_NOTFOUND);
    assert_null(p);
    shoal_client_last_error(c, &e);
    assert_string_equal(e.service_code, "BlobNotFound");
    shoal_client_free(c);
}

static void test_batch_json_error(void **state)
{
    shoal_client *c = client_on(F.port);
    struct shoal_error e;
    shoal_doc *d = NULL;

    (void)state;
    assert_int_equal(shoal_job_get(c, "nojob", NULL, &d), SHOAL_ERR_NOTFOUND);
    assert_null(d);
    shoal_client_last_error(c, &e);
    assert_string_equal(e.service_code, "JobNotFound");
    assert_string_equal(e.message, "The specified job does not exist.");
    assert_true(strncmp(F.auth, "SharedKey acct:", 15) == 0);
    shoal_client_free(c);
}

static void test_next_link_paging(void **state)
{
    shoal_client *c = client_on(F.port);
    shoal_doc *d = NULL;

    (void)state;
    assert_int_equal(shoal_pool_list(c, NULL, &d), 0);
    assert_int_equal(shoal_doc_count(d), 3);
    assert_string_equal(shoal_doc_str(d, 2, "id"), "p3");
    /* odata.metadata is dropped from entities. */
    assert_false(shoal_doc_has(d, 0, "odata.metadata"));
    /* The link's host was replaced by ours; its token arrived decoded. */
    assert_int_equal(F.pool_pages, 2);
    assert_string_equal(F.skiptoken, "page 2");
    shoal_doc_free(d);
    shoal_client_free(c);
}

static void test_connection_reuse(void **state)
{
    shoal_client *c = client_on(F.port);
    int before, i;

    (void)state;
    /* Let earlier clients' connections be counted first. */
    pthread_mutex_lock(&F.lock);
    before = F.connections;
    pthread_mutex_unlock(&F.lock);
    for (i = 0; i < 5; i++)
        assert_int_equal(shoal_container_delete(c, "missing"),
                         SHOAL_ERR_NOTFOUND);
    pthread_mutex_lock(&F.lock);
    assert_int_equal(F.connections - before, 1);
    pthread_mutex_unlock(&F.lock);
    shoal_client_free(c);
}

static void test_closed_port(void **state)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    struct shoal_error e;
    shoal_client *c;
    int fd, port;

    (void)state;
    /* Bind a port, then close it: nothing listens there now. */
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
    assert_int_equal(shoal_container_create(c, "x", false, NULL),
                     SHOAL_ERR_CONNECT);
    shoal_client_last_error(c, &e);
    assert_int_equal(e.code, SHOAL_ERR_CONNECT);
    assert_int_equal(e.http_status, 0);
    assert_non_null(strstr(e.message, "127.0.0.1"));
    shoal_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_503_twice_then_ok),
        cmocka_unit_test(test_503_forever),
        cmocka_unit_test(test_no_retry_on_501_and_404),
        cmocka_unit_test(test_head_error_code),
        cmocka_unit_test(test_batch_json_error),
        cmocka_unit_test(test_next_link_paging),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_closed_port),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
