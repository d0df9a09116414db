/*
 * test_sas.c: SAS generation. Expected signatures were computed
 * independently with node's crypto over the string-to-sign layouts of
 * storage-wire.md §4 (sv 2021-12-02), for fixed times:
 * st 2026-01-01T00:00:00Z (1767225600000 ms), se two hours later.
 */
#include "unit.h"

#include <string.h>

#include "shoal.h"

#define ST   1767225600000LL
#define SE   1767232800000LL
#define ST_Q "st=2026-01-01T00%3A00%3A00Z"
#define SE_Q "se=2026-01-01T02%3A00%3A00Z"

static shoal_client *dev(void)
{
    shoal_client *c = NULL;

    assert_int_equal(
        shoal_client_new("UseDevelopmentStorage=true", &c, NULL, 0), 0);
    return c;
}

static void test_blob(void **state)
{
    shoal_client *c = dev();
    char *tok = NULL, *url = NULL;

    (void)state;
    assert_int_equal(
        shoal_sas_blob(c, "input", "dir/a b.txt", "r", ST, SE, &tok), 0);
    assert_string_equal(tok, "sv=2021-12-02&" ST_Q "&" SE_Q "&sr=b&sp=r&sig="
                             "cmVEBqPJUPvPqKlnDcnGwmRph9IaeCYT1ST8cMHGUFI%3D");
    assert_int_equal(shoal_blob_url(c, "input", "dir/a b.txt", tok, &url), 0);
    assert_non_null(strstr(url, "http://127.0.0.1:10000/devstoreaccount1/"
                                "input/dir/a%20b.txt?sv=2021-12-02&"));
    shoal_free(tok);
    shoal_free(url);
    shoal_client_free(c);
}

static void test_container_canonical_order(void **state)
{
    shoal_client *c = dev();
    char *tok = NULL;

    (void)state;
    /* "lwr" is written in the canonical order "rwl"; no start time. */
    assert_int_equal(shoal_sas_container(c, "output", "lwr", 0, SE, &tok), 0);
    assert_string_equal(tok,
                        "sv=2021-12-02&" SE_Q "&sr=c&sp=rwl&sig="
                        "gFEqfh1Bv1%2Fkn%2FDAYPUUIwDIWAu9JoBSe%2F6T8Y8YWog%3D");
    shoal_free(tok);
    shoal_client_free(c);
}

static void test_queue(void **state)
{
    shoal_client *c = dev();
    char *tok = NULL;

    (void)state;
    assert_int_equal(shoal_sas_queue(c, "jobs", "pura", ST, SE, &tok), 0);
    assert_string_equal(tok,
                        "sv=2021-12-02&" ST_Q "&" SE_Q "&sp=raup&sig="
                        "lEn84Z74N39meMi8XKM%2BiXOUIWOQOZErje3vTM6cPg4%3D");
    shoal_free(tok);
    shoal_client_free(c);
}

static void test_account(void **state)
{
    shoal_client *c = dev();
    char *tok = NULL;

    (void)state;
    assert_int_equal(shoal_sas_account(c, "qb", "ocs", "lr", ST, SE, &tok), 0);
    assert_string_equal(
        tok, "sv=2021-12-02&ss=bq&srt=sco&" ST_Q "&" SE_Q "&sp=rl&sig="
             "ZCx8LFhsk7dLai%2FTc3xqDWMpI8QnARknFipHRE2MNVk%3D");
    shoal_free(tok);
    shoal_client_free(c);
}

static void test_refusals(void **state)
{
    shoal_client *c = dev();
    shoal_client *nokey = NULL;
    struct shoal_error e;
    char *tok = NULL;

    (void)state;
    assert_int_equal(shoal_sas_blob(c, "a", "b", "rz", 0, SE, &tok),
                     SHOAL_ERR_INVALID);
    shoal_client_last_error(c, &e);
    assert_int_equal(e.code, SHOAL_ERR_INVALID);
    assert_non_null(strstr(e.message, "permissions"));
    assert_int_equal(shoal_sas_blob(c, "a", "b", "", 0, SE, &tok),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_sas_blob(c, "a", "b", NULL, 0, SE, &tok),
                     SHOAL_ERR_INVALID);
    /* A queue SAS has no 'l'; a container SAS has no 'p'. */
    assert_int_equal(shoal_sas_queue(c, "q", "rl", 0, SE, &tok),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_sas_container(c, "a", "rp", 0, SE, &tok),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_sas_blob(c, "a", "b", "r", SE, ST, &tok),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_sas_blob(c, "a", "b", "r", 0, 0, &tok),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_sas_blob(c, "", "b", "r", 0, SE, &tok),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_sas_account(c, "bx", "sco", "r", 0, SE, &tok),
                     SHOAL_ERR_INVALID);
    assert_int_equal(shoal_sas_account(c, "b", "scx", "r", 0, SE, &tok),
                     SHOAL_ERR_INVALID);
    assert_null(tok);
    /* A client made from a SAS alone cannot sign another one. */
    assert_int_equal(shoal_client_new("BlobEndpoint=http://127.0.0.1:1/a;"
                                      "SharedAccessSignature=sv=x&sig=y",
                                      &nokey, NULL, 0),
                     0);
    assert_int_equal(shoal_sas_blob(nokey, "a", "b", "r", 0, SE, &tok),
                     SHOAL_ERR_INVALID);
    shoal_client_free(nokey);
    shoal_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob),
        cmocka_unit_test(test_container_canonical_order),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_account),
        cmocka_unit_test(test_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
