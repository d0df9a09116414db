/*
 * test_url.c: endpoint splitting, path and query escaping, nextLink
 * parsing, and shoal_doc path lookups.
 */
#include "unit.h"

#include <string.h>

#include <jansson.h>

#include "client/clientint.h"

static void split_ok(const char *url, const char *origin, const char *base)
{
    char *o = NULL, *b = NULL;

    assert_int_equal(url_split(url, &o, &b), 0);
    assert_string_equal(o, origin);
    assert_string_equal(b, base);
    free(o);
    free(b);
}

static void test_split(void **state)
{
    (void)state;
    split_ok("http://127.0.0.1:10000/devstoreaccount1",
             "http://127.0.0.1:10000", "/devstoreaccount1");
    split_ok("http://127.0.0.1:10000/devstoreaccount1///",
             "http://127.0.0.1:10000", "/devstoreaccount1");
    split_ok("https://acme.blob.core.windows.net",
             "https://acme.blob.core.windows.net", "");
    split_ok("HTTPS://h/", "https://h", "");
    split_ok("http://[::1]:8080/a/b", "http://[::1]:8080", "/a/b");
}

static void test_split_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        "127.0.0.1:10000",
        "file:///etc/passwd",
        "http:/h",
        "http://",
        "http://:80/",
        "http://h:0/",
        "http://h:65536/",
        "http://h:/",
        "http://u:p@h/",
        "http://h/a?b",
        "http://h/a#b",
        "http://h/a b",
        "http://h/a\tb",
        "http://h\\x/",
        "http://[::1/",
        "http://[]/",
        "http://[::1]x/",
        "http://h_o%st/",
        "http://h/\x80",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *o = NULL, *b = NULL;

        if (url_split(bad[i], &o, &b) != SHOAL_ERR_INVALID)
            fail_msg("accepted '%s'", bad[i]);
        assert_null(o);
    }
    assert_int_equal(url_split(NULL, NULL, NULL), SHOAL_ERR_INVALID);
}

static void test_segments(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    assert_int_equal(url_add_segment(&b, "c", false), 0);
    assert_int_equal(url_add_segment(&b, "dir/a b+c?d#e%f\xc3\xa9~_.-", true),
                     0);
    assert_string_equal(b.data, "/c/dir/a%20b%2Bc%3Fd%23e%25f%C3%A9~_.-");
    buf_reset(&b);
    /* Batch file paths are one segment: '/' travels as %2F. */
    assert_int_equal(url_add_segment(&b, "wd/out.txt", false), 0);
    assert_string_equal(b.data, "/wd%2Fout.txt");
    assert_int_equal(url_add_segment(&b, "", false), SHOAL_ERR_INVALID);
    assert_int_equal(url_add_segment(&b, NULL, false), SHOAL_ERR_INVALID);
    buf_release(&b);
}

static void test_query(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    assert_int_equal(url_add_query(&b, "$filter", "state ne 'completed'", true),
                     0);
    assert_int_equal(url_add_query(&b, "$select", "id,state", false), 0);
    assert_int_equal(url_add_query(&b, "prefix", "a&b=c/d", false), 0);
    assert_string_equal(b.data, "?$filter=state%20ne%20%27completed%27"
                                "&$select=id%2Cstate&prefix=a%26b%3Dc%2Fd");
    buf_release(&b);
}

static void test_from_link(void **state)
{
    shoal_client *c = NULL;
    struct req r;

    (void)state;
    assert_int_equal(
        shoal_client_new("UseDevelopmentStorage=true", &c, NULL, 0), 0);
    req_init(&r, c, SVC_BATCH, "GET");
    assert_int_equal(
        req_from_link(&r, "https://acct.region.batch.azure.com/jobs/j%201/"
                          "tasks?api-version=2022-10-01.16.0&%24skiptoken="
                          "a%2Bb%3D&$select=id%2Cstate&empty="),
        0);
    assert_string_equal(r.path.data, "/jobs/j%201/tasks");
    assert_int_equal(r.query.n, 4);
    assert_string_equal(r.query.v[1].name, "$skiptoken");
    assert_string_equal(r.query.v[1].value, "a+b=");
    assert_string_equal(r.query.v[2].value, "id,state");
    assert_string_equal(r.query.v[3].value, "");
    assert_int_equal(req_from_link(&r, "no-scheme/jobs"), SHOAL_ERR_PROTOCOL);
    assert_int_equal(req_from_link(&r, "http://h"), SHOAL_ERR_PROTOCOL);
    assert_int_equal(req_from_link(&r, "http://h/a b"), SHOAL_ERR_PROTOCOL);
    assert_int_equal(req_from_link(&r, "http://h/a?x=%zz"), SHOAL_ERR_PROTOCOL);
    req_release(&r);
    shoal_client_free(c);
}

static void test_header_injection(void **state)
{
    shoal_client *c = NULL;
    struct shoal_kv meta[] = { { "ok_1", "v" }, { "bad-name", "v" } };
    struct req r;

    (void)state;
    assert_int_equal(
        shoal_client_new("UseDevelopmentStorage=true", &c, NULL, 0), 0);
    req_init(&r, c, SVC_BLOB, "PUT");
    assert_int_equal(req_header(&r, "x-ms-meta-a", "v\r\nx-evil: 1"),
                     SHOAL_ERR_INVALID);
    assert_true(r.bad);
    req_release(&r);
    req_init(&r, c, SVC_BLOB, "PUT");
    assert_int_equal(req_meta(&r, meta, 1), 0);
    assert_string_equal(kvlist_get(&r.headers, "x-ms-meta-ok_1"), "v");
    assert_int_equal(req_meta(&r, meta + 1, 1), SHOAL_ERR_INVALID);
    /* transport_send refuses before sending anything. */
    assert_int_equal(transport_send(c, &r), SHOAL_ERR_INVALID);
    req_release(&r);
    shoal_client_free(c);
}

static void test_doc_paths(void **state)
{
    json_t *items = json_loads(
        "[{\"id\":\"t1\",\"executionInfo\":{\"exitCode\":3,\"result\":"
        "\"failure\"},\"resourceFiles\":[{\"httpUrl\":\"u0\"},{\"httpUrl\":"
        "\"u1\"}],\"props\":{\"contentLength\":\"42\"}},{\"id\":\"t2\"}]",
        0, NULL);
    shoal_doc *d = NULL;
    int64_t v = 0;
    char *s;

    (void)state;
    assert_non_null(items);
    assert_int_equal(shoal_doc_take(items, &d), 0);
    assert_int_equal(shoal_doc_count(d), 2);
    assert_string_equal(shoal_doc_str(d, 0, "id"), "t1");
    assert_string_equal(shoal_doc_str(d, 0, "executionInfo/result"), "failure");
    assert_int_equal(shoal_doc_int(d, 0, "executionInfo/exitCode", &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(shoal_doc_int(d, 0, "props/contentLength", &v), 0);
    assert_int_equal(v, 42);
    assert_string_equal(shoal_doc_str(d, 0, "resourceFiles/1/httpUrl"), "u1");
    assert_null(shoal_doc_str(d, 0, "resourceFiles/2/httpUrl"));
    assert_null(shoal_doc_str(d, 0, "resourceFiles/x/httpUrl"));
    assert_null(shoal_doc_str(d, 0, "executionInfo/exitCode"));
    assert_null(shoal_doc_str(d, 0, "executionInfo//result"));
    assert_null(shoal_doc_str(d, 5, "id"));
    assert_int_equal(shoal_doc_int(d, 1, "executionInfo/exitCode", &v),
                     SHOAL_ERR_NOTFOUND);
    assert_true(shoal_doc_has(d, 1, "id"));
    assert_false(shoal_doc_has(d, 1, "state"));
    s = shoal_doc_json(d, 1, false);
    assert_string_equal(s, "{\"id\":\"t2\"}");
    shoal_free(s);
    assert_null(shoal_doc_json(d, 7, false));
    shoal_doc_free(d);
    shoal_doc_free(NULL);
    /* Not an array: refused, and the value is freed (ASan checks). */
    assert_int_equal(shoal_doc_take(json_object(), &d), SHOAL_ERR_PROTOCOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_hostile),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_from_link),
        cmocka_unit_test(test_header_injection),
        cmocka_unit_test(test_doc_paths),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
