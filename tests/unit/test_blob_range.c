/*
 * test_blob_range.c: Range / x-ms-range parsing and clamping, and the
 * conditional-request logic (If-Match, If-None-Match, If-Modified-Since,
 * If-Unmodified-Since) for reads and writes, with hostile inputs.
 */
#include "unit.h"

#include <string.h>

#include "blob/blobint.h"
#include "core/err.h"

static void test_range_parse(void **state)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t start, end;
        bool open;
    } cases[] = {
        { "bytes=0-0", 0, 0, 0, false },
        { "bytes=0-1023", 0, 0, 1023, false },
        { "bytes=5-", 0, 5, 0, true },
        { "bytes=18446744073709551615-", 0, UINT64_MAX, 0, true },
        { "bytes=18446744073709551616-", -ERR_INVALID, 0, 0, false },
        { "bytes=10-5", -ERR_INVALID, 0, 0, false },
        { "bytes=-5", -ERR_INVALID, 0, 0, false },
        { "bytes=0-1,3-4", -ERR_INVALID, 0, 0, false },
        { "bytes= 0-1", -ERR_INVALID, 0, 0, false },
        { "bytes=0-1 ", -ERR_INVALID, 0, 0, false },
        { "bytes=a-b", -ERR_INVALID, 0, 0, false },
        { "bytes=-", -ERR_INVALID, 0, 0, false },
        { "bytes=", -ERR_INVALID, 0, 0, false },
        { "items=0-1", -ERR_INVALID, 0, 0, false },
        { "", -ERR_INVALID, 0, 0, false },
        { "bytes=+1-2", -ERR_INVALID, 0, 0, false },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct blob_range r;
        int rc = blob_range_parse(cases[i].in, &r);

        if (rc != cases[i].rc)
            fail_msg("range '%s': rc %d want %d", cases[i].in, rc, cases[i].rc);
        if (rc == 0) {
            assert_true(r.present);
            assert_true(r.start == cases[i].start);
            assert_true(r.open == cases[i].open);
            if (!r.open)
                assert_true(r.end == cases[i].end);
        }
    }
    {
        struct blob_range r;

        assert_int_equal(blob_range_parse(NULL, &r), 0);
        assert_false(r.present);
    }
}

static void test_range_resolve(void **state)
{
    struct blob_range r;
    struct err e = ERR_INIT;
    uint64_t off, len;

    (void)state;
    r.present = false;
    assert_int_equal(blob_range_resolve(&r, 100, &off, &len, &e), 0);
    assert_true(off == 0 && len == 100);
    assert_int_equal(blob_range_resolve(&r, 0, &off, &len, &e), 0);
    assert_true(len == 0);

    blob_range_parse("bytes=0-9", &r);
    assert_int_equal(blob_range_resolve(&r, 100, &off, &len, &e), 0);
    assert_true(off == 0 && len == 10);
    /* the end is clamped to the blob */
    blob_range_parse("bytes=90-1000", &r);
    assert_int_equal(blob_range_resolve(&r, 100, &off, &len, &e), 0);
    assert_true(off == 90 && len == 10);
    blob_range_parse("bytes=99-", &r);
    assert_int_equal(blob_range_resolve(&r, 100, &off, &len, &e), 0);
    assert_true(off == 99 && len == 1);
    /* start at or past the end: 416 */
    blob_range_parse("bytes=100-", &r);
    assert_int_equal(blob_range_resolve(&r, 100, &off, &len, &e), -ERR_RANGE);
    assert_string_equal(e.svc, "InvalidRange");
    /* any range on an empty blob: 416 (the Python SDK relies on it) */
    blob_range_parse("bytes=0-33554431", &r);
    assert_int_equal(blob_range_resolve(&r, 0, &off, &len, &e), -ERR_RANGE);
    blob_range_parse("bytes=18446744073709551615-", &r);
    assert_int_equal(blob_range_resolve(&r, 5, &off, &len, &e), -ERR_RANGE);
}

#define ETAG  0x8DD0123456789ABull
#define MTIME 1700000000000LL /* Tue, 14 Nov 2023 22:13:20 GMT */

static int eval(const char *im, const char *inm, const char *ims,
                const char *ius, bool read, bool exists)
{
    struct blob_cond c;
    struct err e = ERR_INIT;
    int rc = blob_cond_parse(im, inm, ims, ius, &c, &e);

    if (rc < 0)
        return rc;
    return blob_cond_eval(&c, read, exists, ETAG, MTIME + 500, &e);
}

static void test_cond(void **state)
{
    char tag[24];
    const char *before = "Tue, 14 Nov 2023 22:13:19 GMT";
    const char *same = "Tue, 14 Nov 2023 22:13:20 GMT";
    const char *after = "Tue, 14 Nov 2023 22:13:21 GMT";

    (void)state;
    blob_cond_etag(ETAG, tag);
    assert_string_equal(tag, "\"0x8DD0123456789AB\"");

    assert_int_equal(eval(NULL, NULL, NULL, NULL, true, true), 0);
    /* If-Match */
    assert_int_equal(eval(tag, NULL, NULL, NULL, false, true), 0);
    assert_int_equal(eval("0x8DD0123456789AB", NULL, NULL, NULL, false, true),
                     0);
    assert_int_equal(
        eval("W/\"0x8dd0123456789ab\"", NULL, NULL, NULL, false, true), 0);
    assert_int_equal(
        eval("\"0x1\", \"0x8DD0123456789AB\"", NULL, NULL, NULL, false, true),
        0);
    assert_int_equal(eval("*", NULL, NULL, NULL, false, true), 0);
    assert_int_equal(eval("\"0x1\"", NULL, NULL, NULL, false, true),
                     -ERR_PRECONDITION);
    assert_int_equal(eval("\"0x1\"", NULL, NULL, NULL, true, true),
                     -ERR_PRECONDITION);
    assert_int_equal(eval("*", NULL, NULL, NULL, false, false),
                     -ERR_PRECONDITION);
    assert_int_equal(eval(tag, NULL, NULL, NULL, false, false),
                     -ERR_PRECONDITION);
    /* a prefix of the etag is not the etag */
    assert_int_equal(
        eval("\"0x8DD0123456789A\"", NULL, NULL, NULL, false, true),
        -ERR_PRECONDITION);
    assert_int_equal(eval("", NULL, NULL, NULL, false, true),
                     -ERR_PRECONDITION);
    /* If-None-Match */
    assert_int_equal(eval(NULL, tag, NULL, NULL, true, true),
                     -ERR_NOT_MODIFIED);
    assert_int_equal(eval(NULL, tag, NULL, NULL, false, true),
                     -ERR_PRECONDITION);
    assert_int_equal(eval(NULL, "\"0x1\"", NULL, NULL, true, true), 0);
    assert_int_equal(eval(NULL, "*", NULL, NULL, false, false), 0);
    assert_int_equal(eval(NULL, "*", NULL, NULL, false, true),
                     -ERR_PRECONDITION);
    /* If-Modified-Since, second resolution */
    assert_int_equal(eval(NULL, NULL, before, NULL, true, true), 0);
    assert_int_equal(eval(NULL, NULL, same, NULL, true, true),
                     -ERR_NOT_MODIFIED);
    assert_int_equal(eval(NULL, NULL, after, NULL, true, true),
                     -ERR_NOT_MODIFIED);
    assert_int_equal(eval(NULL, NULL, same, NULL, false, true),
                     -ERR_PRECONDITION);
    assert_int_equal(eval(NULL, NULL, same, NULL, false, false), 0);
    /* If-Unmodified-Since */
    assert_int_equal(eval(NULL, NULL, NULL, same, false, true), 0);
    assert_int_equal(eval(NULL, NULL, NULL, after, false, true), 0);
    assert_int_equal(eval(NULL, NULL, NULL, before, false, true),
                     -ERR_PRECONDITION);
    assert_int_equal(eval(NULL, NULL, NULL, before, true, true),
                     -ERR_PRECONDITION);
    /* If-Match wins over If-Unmodified-Since; If-None-Match over IMS */
    assert_int_equal(eval(tag, NULL, NULL, before, false, true), 0);
    assert_int_equal(eval(NULL, "\"0x1\"", same, NULL, true, true), 0);
    /* bad dates are refused, not ignored */
    assert_int_equal(eval(NULL, NULL, "yesterday", NULL, true, true),
                     -ERR_INVALID);
    assert_int_equal(
        eval(NULL, NULL, NULL, "Tue, 99 Nov 2023 99:99:99 GMT", false, true),
        -ERR_INVALID);
}

static void test_cond_star(void **state)
{
    struct blob_cond c;

    (void)state;
    blob_cond_parse(NULL, "*", NULL, NULL, &c, NULL);
    assert_true(blob_cond_none_star(&c));
    blob_cond_parse(NULL, " * ", NULL, NULL, &c, NULL);
    assert_true(blob_cond_none_star(&c));
    blob_cond_parse(NULL, "\"*\"", NULL, NULL, &c, NULL);
    assert_false(blob_cond_none_star(&c));
    blob_cond_parse("*", NULL, NULL, NULL, &c, NULL);
    assert_false(blob_cond_none_star(&c));
    assert_true(blob_cond_any(&c));
    blob_cond_parse(NULL, NULL, NULL, NULL, &c, NULL);
    assert_false(blob_cond_any(&c));
    assert_false(blob_cond_none_star(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_parse),
        cmocka_unit_test(test_range_resolve),
        cmocka_unit_test(test_cond),
        cmocka_unit_test(test_cond_star),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
