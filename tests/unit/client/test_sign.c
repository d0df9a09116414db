/*
 * test_sign.c: SharedKey strings to sign (storage and Batch flavours) and
 * their signatures. The expected signatures were computed independently
 * with node's crypto.createHmac over the layouts written out by hand from
 * storage-wire.md §3 and batch-wire.md §5 (the storage vector is the
 * Python SDK upload captured in the notes).
 */
#include "unit.h"

#include <string.h>

#include "client/clientint.h"
#include "core/codec.h"

#define DATE  "Sat, 21 Nov 2026 05:17:01 GMT"
#define BDATE "Tue, 24 Nov 2020 18:55:14 GMT"

static char *sig(const char *sts)
{
    struct buf k = BUF_INIT;
    struct buf out = BUF_INIT;
    char *s;

    assert_int_equal(
        codec_base64_decode(&k, CLIENT_DEV_KEY, strlen(CLIENT_DEV_KEY)), 0);
    assert_int_equal(
        sign_hmac((const unsigned char *)k.data, k.len, sts, strlen(sts), &out),
        0);
    s = buf_detach(&out, NULL);
    buf_release(&k);
    return s;
}

static void test_storage_put_blob(void **state)
{
    struct kvlist h = KVLIST_INIT;
    struct kvlist q = KVLIST_INIT;
    struct buf s = BUF_INIT;
    char *mac;
    const char *want =
        "PUT\n\n\n11\n\napplication/octet-stream\n\n\n\n\n\n\n"
        "x-ms-blob-type:BlockBlob\n"
        "x-ms-client-request-id:0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0\n"
        "x-ms-date:" DATE "\nx-ms-version:2021-12-02\n"
        "/devstoreaccount1/devstoreaccount1/pyc/dir1/small.txt";

    (void)state;
    /* Insertion order differs from the sorted order on purpose. */
    kvlist_add(&h, "x-ms-version", "2021-12-02");
    kvlist_add(&h, "Content-Type", "application/octet-stream");
    kvlist_add(&h, "x-ms-date", DATE);
    kvlist_add(&h, "X-MS-Blob-Type", "BlockBlob");
    kvlist_add(&h, "x-ms-client-request-id",
               "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
    kvlist_add(&h, "Content-Length", "11");
    kvlist_add(&h, "User-Agent", "not signed");
    assert_int_equal(sign_storage_string("PUT", &h, "devstoreaccount1",
                                         "/devstoreaccount1/pyc/dir1/small.txt",
                                         &q, &s),
                     0);
    assert_string_equal(s.data, want);
    mac = sig(s.data);
    assert_string_equal(mac, "4On8qNssvqdXX7Op55ST13nW58PDduXEj8T388jFo0E=");
    free(mac);
    buf_release(&s);
    kvlist_release(&h);
    kvlist_release(&q);
}

static void test_storage_query_and_zero_length(void **state)
{
    struct kvlist h = KVLIST_INIT;
    struct kvlist q = KVLIST_INIT;
    struct buf s = BUF_INIT;
    char *mac;
    const char *want =
        "GET\n\n\n\n\n\n\n\n\n\n\n\n"
        "x-ms-date:" DATE "\nx-ms-version:2021-12-02\n"
        "/devstoreaccount1/devstoreaccount1/c\n"
        "comp:list\ninclude:metadata,snapshots\nprefix:a b/\xc3\xbc\n"
        "restype:container";

    (void)state;
    kvlist_add(&h, "x-ms-date", DATE);
    kvlist_add(&h, "x-ms-version", "2021-12-02");
    /* Content-Length 0 signs as an empty line (storage rule). */
    kvlist_add(&h, "Content-Length", "0");
    kvlist_add(&q, "restype", "container");
    kvlist_add(&q, "Include", "snapshots");
    kvlist_add(&q, "comp", "list");
    kvlist_add(&q, "prefix", "a b/\xc3\xbc");
    kvlist_add(&q, "include", "metadata");
    assert_int_equal(sign_storage_string("GET", &h, "devstoreaccount1",
                                         "/devstoreaccount1/c", &q, &s),
                     0);
    assert_string_equal(s.data, want);
    mac = sig(s.data);
    assert_string_equal(mac, "VlRbbCmJ3kiC36uHeUNwyLI+CaaeKYqOhOo0/j0n9n8=");
    free(mac);
    buf_release(&s);
    kvlist_release(&h);
    kvlist_release(&q);
}

static void test_batch_get(void **state)
{
    struct kvlist h = KVLIST_INIT;
    struct kvlist q = KVLIST_INIT;
    struct buf s = BUF_INIT;
    char *mac;
    const char *want = "GET\n\n\n\n\n\n\n\n\n\n\n\n"
                       "ocp-date:" BDATE "\n"
                       "/devstoreaccount1/jobs/j1/tasks\n"
                       "$select:id,state\napi-version:2022-10-01.16.0";

    (void)state;
    kvlist_add(&h, "ocp-date", BDATE);
    kvlist_add(&h, "client-request-id", "not-signed");
    kvlist_add(&h, "Accept", "application/json");
    /* Empty ocp-* values are skipped; Date is blank when ocp-date is set. */
    kvlist_add(&h, "ocp-empty", "");
    kvlist_add(&h, "Date", BDATE);
    kvlist_add(&q, "api-version", "2022-10-01.16.0");
    kvlist_add(&q, "$select", "id,state");
    kvlist_add(&q, "$select", "ignored: first value wins");
    assert_int_equal(sign_batch_string("GET", &h, "devstoreaccount1",
                                       "/jobs/j1/tasks", &q, &s),
                     0);
    assert_string_equal(s.data, want);
    mac = sig(s.data);
    assert_string_equal(mac, "EOcEWW7mTr+/xDhqL6CzVDiyIfsQo8tH1Jo2k/g+UTo=");
    free(mac);
    buf_release(&s);
    kvlist_release(&h);
    kvlist_release(&q);
}

static void test_batch_post(void **state)
{
    struct kvlist h = KVLIST_INIT;
    struct kvlist q = KVLIST_INIT;
    struct buf s = BUF_INIT;
    char *mac;
    const char *want =
        "POST\n\n\n27\n\napplication/json; odata=minimalmetadata; "
        "charset=utf-8\n\n\n\n\n\n\nocp-date:" BDATE "\n"
        "/devstoreaccount1/jobs\napi-version:2022-10-01.16.0";

    (void)state;
    kvlist_add(&h, "Content-Type",
               "application/json; odata=minimalmetadata; charset=utf-8");
    kvlist_add(&h, "Content-Length", "27");
    kvlist_add(&h, "ocp-date", BDATE);
    kvlist_add(&q, "api-version", "2022-10-01.16.0");
    assert_int_equal(
        sign_batch_string("POST", &h, "devstoreaccount1", "/jobs", &q, &s), 0);
    assert_string_equal(s.data, want);
    mac = sig(s.data);
    assert_string_equal(mac, "meUdgaRHlxQYcGwmu3XLQUAELfyzW/D+N/lOblX4ybA=");
    free(mac);
    buf_release(&s);
    kvlist_release(&h);
    kvlist_release(&q);
}

static void test_batch_keeps_zero_length(void **state)
{
    struct kvlist h = KVLIST_INIT;
    struct kvlist q = KVLIST_INIT;
    struct buf s = BUF_INIT;

    (void)state;
    kvlist_add(&h, "Content-Length", "0");
    kvlist_add(&h, "ocp-date", BDATE);
    assert_int_equal(
        sign_batch_string("POST", &h, "a", "/jobs/j/terminate", &q, &s), 0);
    assert_string_equal(s.data, "POST\n\n\n0\n\n\n\n\n\n\n\n\n"
                                "ocp-date:" BDATE "\n/a/jobs/j/terminate");
    buf_release(&s);
    kvlist_release(&h);
    kvlist_release(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storage_put_blob),
        cmocka_unit_test(test_storage_query_and_zero_length),
        cmocka_unit_test(test_batch_get),
        cmocka_unit_test(test_batch_post),
        cmocka_unit_test(test_batch_keeps_zero_length),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
