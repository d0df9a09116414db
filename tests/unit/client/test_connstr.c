/*
 * test_connstr.c: connection strings, the friendly forms and a table of
 * hostile ones (storage-wire.md §2; the format is Azure's, plus shoal's
 * BatchEndpoint / BatchAccountName / BatchAccountKey).
 */
#include "unit.h"

#include <string.h>

#include "client/clientint.h"

#define DEVKEY CLIENT_DEV_KEY

static void test_dev(void **state)
{
    struct connstr cs;
    char why[128];

    (void)state;
    assert_int_equal(
        connstr_parse("UseDevelopmentStorage=true", &cs, why, sizeof(why)), 0);
    assert_string_equal(cs.account, "devstoreaccount1");
    assert_string_equal(cs.key, DEVKEY);
    assert_string_equal(cs.blob_url, "http://127.0.0.1:10000/devstoreaccount1");
    assert_string_equal(cs.queue_url,
                        "http://127.0.0.1:10001/devstoreaccount1");
    assert_string_equal(cs.batch_url, "http://127.0.0.1:10002");
    assert_null(cs.sas);
    connstr_release(&cs);
}

static void test_dev_proxy_and_overrides(void **state)
{
    struct connstr cs;

    (void)state;
    assert_int_equal(
        connstr_parse(" usedevelopmentstorage = TRUE ; "
                      "DevelopmentStorageProxyUri=http://10.0.0.5/;"
                      "BlobEndpoint=http://127.0.0.1:4242/devstoreaccount1;;",
                      &cs, NULL, 0),
        0);
    assert_string_equal(cs.blob_url, "http://127.0.0.1:4242/devstoreaccount1");
    assert_string_equal(cs.queue_url, "http://10.0.0.5:10001/devstoreaccount1");
    assert_string_equal(cs.batch_url, "http://10.0.0.5:10002");
    connstr_release(&cs);
}

static void test_full(void **state)
{
    struct connstr cs;

    (void)state;
    assert_int_equal(
        connstr_parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=" DEVKEY ";"
            "BlobEndpoint=http://127.0.0.1:3/devstoreaccount1;"
            "QueueEndpoint=http://127.0.0.1:4/devstoreaccount1;"
            "BatchEndpoint=http://127.0.0.1:5;TableEndpoint=x;",
            &cs, NULL, 0),
        0);
    assert_string_equal(cs.account, "devstoreaccount1");
    assert_string_equal(cs.key, DEVKEY);
    assert_string_equal(cs.blob_url, "http://127.0.0.1:3/devstoreaccount1");
    assert_string_equal(cs.queue_url, "http://127.0.0.1:4/devstoreaccount1");
    assert_string_equal(cs.batch_url, "http://127.0.0.1:5");
    assert_null(cs.batch_account);
    connstr_release(&cs);
}

static void test_derived_endpoints(void **state)
{
    struct connstr cs;

    (void)state;
    assert_int_equal(connstr_parse("AccountName=acme;AccountKey=" DEVKEY
                                   ";EndpointSuffix=example.net;"
                                   "BatchAccountName=acmebatch;"
                                   "BatchAccountKey=QUJD",
                                   &cs, NULL, 0),
                     0);
    assert_string_equal(cs.blob_url, "https://acme.blob.example.net");
    assert_string_equal(cs.queue_url, "https://acme.queue.example.net");
    assert_null(cs.batch_url);
    assert_string_equal(cs.batch_account, "acmebatch");
    assert_string_equal(cs.batch_key, "QUJD");
    connstr_release(&cs);
}

static void test_sas_only(void **state)
{
    struct connstr cs;

    (void)state;
    assert_int_equal(connstr_parse("BlobEndpoint=http://h:1/a;"
                                   "SharedAccessSignature=?sv=1&sig=a%3D",
                                   &cs, NULL, 0),
                     0);
    assert_string_equal(cs.sas, "sv=1&sig=a%3D");
    assert_null(cs.key);
    connstr_release(&cs);
}

struct hostile {
    const char *in;
    const char *why; /* a word of the expected reason */
};

static const struct hostile hostile[] = {
    { "", "empty" },
    { ";;;", "names no" },
    { "AccountName", "without '='" },
    { "=value", "empty key" },
    { "AccountName=a;AccountName=b", "twice" },
    { "accountname=a;ACCOUNTNAME=a", "twice" },
    { "AccountName=a;AccountKey=!!!notbase64", "base64" },
    { "AccountName=a;AccountKey=", "base64" },
    { "AccountName=a;AccountKey=QUJ", "base64" },
    { "AccountKey=QUJD", "without AccountName" },
    { "AccountName=a/b;AccountKey=QUJD", "AccountName" },
    { "AccountName=a\nx-ms-evil: 1", "control" },
    { "AccountName=a\r;AccountKey=QUJD", "control" },
    { "AccountName=\x7f", "control" },
    { "AccountName=", "AccountName" },
    { "UseDevelopmentStorage=maybe", "true or false" },
    { "UseDevelopmentStorage=false", "names no" },
    { "DevelopmentStorageProxyUri=http://x", "needs" },
    { "AccountName=a;DefaultEndpointsProtocol=ftp", "http or https" },
    { "BatchEndpoint=http://x;BatchAccountName=a b", "BatchAccountName" },
    { "BatchEndpoint=http://x;BatchAccountKey=@@", "base64" },
    { "BlobEndpoint=http://x;SharedAccessSignature=?", "empty" },
    { "Unknown=1", "names no" },
};

static void test_hostile(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct connstr cs;
        char why[256];

        memset(&cs, 0, sizeof(cs));
        why[0] = '\0';
        if (connstr_parse(hostile[i].in, &cs, why, sizeof(why)) !=
            SHOAL_ERR_INVALID)
            fail_msg("accepted hostile string #%zu", i);
        if (!strstr(why, hostile[i].why))
            fail_msg("#%zu: reason '%s' lacks '%s'", i, why, hostile[i].why);
        assert_null(cs.account);
    }
}

static void test_too_long(void **state)
{
    struct connstr cs;
    char *big = malloc(20000);

    (void)state;
    memset(big, 'a', 19999);
    big[19999] = '\0';
    memcpy(big, "AccountName=", 12);
    assert_int_equal(connstr_parse(big, &cs, NULL, 0), SHOAL_ERR_INVALID);
    free(big);
    assert_int_equal(connstr_parse(NULL, &cs, NULL, 0), SHOAL_ERR_INVALID);
}

static void test_client_rejects_bad_endpoints(void **state)
{
    static const char *const bad[] = {
        "BlobEndpoint=ftp://h/a",         "BlobEndpoint=http://",
        "BlobEndpoint=http://user@h/a",   "BlobEndpoint=http://h:99999/a",
        "BlobEndpoint=http://h:12x/a",    "BlobEndpoint=http://h/a?x=1",
        "BlobEndpoint=http://h/a#frag",   "BlobEndpoint=http://h /a",
        "BlobEndpoint=http://h/\xc3\xa4", "BatchEndpoint=http://[::1",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        shoal_client *c = NULL;
        char why[256];

        if (shoal_client_new(bad[i], &c, why, sizeof(why)) != SHOAL_ERR_INVALID)
            fail_msg("accepted '%s'", bad[i]);
        assert_null(c);
        assert_non_null(strstr(why, "endpoint"));
    }
}

static void test_client_accessors(void **state)
{
    shoal_client *c = NULL;

    (void)state;
    assert_int_equal(shoal_client_new("UseDevelopmentStorage=true;"
                                      "BatchEndpoint=HTTP://[::1]:7/",
                                      &c, NULL, 0),
                     0);
    assert_string_equal(shoal_client_account(c), "devstoreaccount1");
    assert_string_equal(shoal_client_blob_url(c),
                        "http://127.0.0.1:10000/devstoreaccount1");
    assert_string_equal(shoal_client_batch_url(c), "http://[::1]:7");
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_PARALLEL, 0),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_PARALLEL, 8), 0);
    assert_int_equal(shoal_client_set(c, SHOAL_OPT_RETRIES, -1),
                     SHOAL_ERR_INVALID);
    shoal_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dev),
        cmocka_unit_test(test_dev_proxy_and_overrides),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_derived_endpoints),
        cmocka_unit_test(test_sas_only),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_client_rejects_bad_endpoints),
        cmocka_unit_test(test_client_accessors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
