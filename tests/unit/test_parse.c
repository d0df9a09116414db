/*
 * test_parse.c: number parsing and string predicates, with a table of
 * hostile inputs (signs, spaces, overflow by one, empty, embedded junk).
 */
#include "unit.h"

#include "core/err.h"
#include "core/parse.h"

struct u64_case {
    const char *in;
    uint64_t min, max;
    int rc;
    uint64_t want;
};

static void test_parse_u64_table(void **state)
{
    static const struct u64_case cases[] = {
        { "0", 0, UINT64_MAX, 0, 0 },
        { "1", 0, UINT64_MAX, 0, 1 },
        { "007", 0, UINT64_MAX, 0, 7 },
        { "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX },
        { "18446744073709551616", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "99999999999999999999", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "184467440737095516150", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "-1", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "-0", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "+1", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { " 1", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "1 ", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "1a", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "0x10", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "1e3", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "1.0", 0, UINT64_MAX, -ERR_INVALID, 0 },
        { "\xd9\xa1", 0, UINT64_MAX, -ERR_INVALID, 0 }, /* Arabic one */
        { "5", 5, 5, 0, 5 },
        { "4", 5, 10, -ERR_INVALID, 0 },
        { "11", 5, 10, -ERR_INVALID, 0 },
        { "10", 5, 10, 0, 10 },
        { "60", 15, 60, 0, 60 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t out = 12345;
        int rc = parse_u64(cases[i].in, cases[i].min, cases[i].max, &out);

        if (rc != cases[i].rc)
            fail_msg("case %zu '%s': rc %d want %d", i, cases[i].in, rc,
                     cases[i].rc);
        if (rc == 0)
            assert_true(out == cases[i].want);
        else
            assert_true(out == 12345); /* untouched on failure */
    }
    assert_int_equal(parse_u64(NULL, 0, 1, &(uint64_t){ 0 }), -ERR_INVALID);
}

struct i64_case {
    const char *in;
    int64_t min, max;
    int rc;
    int64_t want;
};

static void test_parse_i64_table(void **state)
{
    static const struct i64_case cases[] = {
        { "0", INT64_MIN, INT64_MAX, 0, 0 },
        { "-0", INT64_MIN, INT64_MAX, 0, 0 },
        { "-1", INT64_MIN, INT64_MAX, 0, -1 },
        { "42", INT64_MIN, INT64_MAX, 0, 42 },
        { "9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX },
        { "9223372036854775808", INT64_MIN, INT64_MAX, -ERR_INVALID, 0 },
        { "-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN },
        { "-9223372036854775809", INT64_MIN, INT64_MAX, -ERR_INVALID, 0 },
        { "-18446744073709551616", INT64_MIN, INT64_MAX, -ERR_INVALID, 0 },
        { "-", INT64_MIN, INT64_MAX, -ERR_INVALID, 0 },
        { "--1", INT64_MIN, INT64_MAX, -ERR_INVALID, 0 },
        { "+1", INT64_MIN, INT64_MAX, -ERR_INVALID, 0 },
        { "", INT64_MIN, INT64_MAX, -ERR_INVALID, 0 },
        { "- 1", INT64_MIN, INT64_MAX, -ERR_INVALID, 0 },
        { "1-", INT64_MIN, INT64_MAX, -ERR_INVALID, 0 },
        { "-1", -1, -1, 0, -1 },
        { "-2", -1, 60, -ERR_INVALID, 0 },
        { "61", -1, 60, -ERR_INVALID, 0 },
        { "-1", 0, 10, -ERR_INVALID, 0 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t out = 12345;
        int rc = parse_i64(cases[i].in, cases[i].min, cases[i].max, &out);

        if (rc != cases[i].rc)
            fail_msg("case %zu '%s': rc %d want %d", i, cases[i].in, rc,
                     cases[i].rc);
        if (rc == 0)
            assert_true(out == cases[i].want);
        else
            assert_true(out == 12345);
    }
    assert_int_equal(parse_i64(NULL, 0, 1, &(int64_t){ 0 }), -ERR_INVALID);
}

static void test_parse_bool(void **state)
{
    bool b = false;

    (void)state;
    assert_int_equal(parse_bool("true", &b), 0);
    assert_true(b);
    assert_int_equal(parse_bool("FALSE", &b), 0);
    assert_false(b);
    assert_int_equal(parse_bool("True", &b), 0);
    assert_true(b);
    b = true;
    assert_int_equal(parse_bool("1", &b), -ERR_INVALID);
    assert_int_equal(parse_bool("yes", &b), -ERR_INVALID);
    assert_int_equal(parse_bool("", &b), -ERR_INVALID);
    assert_int_equal(parse_bool("true ", &b), -ERR_INVALID);
    assert_int_equal(parse_bool("tru", &b), -ERR_INVALID);
    assert_int_equal(parse_bool("truex", &b), -ERR_INVALID);
    assert_int_equal(parse_bool(NULL, &b), -ERR_INVALID);
    assert_true(b); /* untouched */
}

static void test_str_predicates(void **state)
{
    (void)state;
    assert_true(str_ieq("", ""));
    assert_true(str_ieq("Content-MD5", "content-md5"));
    assert_false(str_ieq("abc", "abcd"));
    assert_false(str_ieq("abcd", "abc"));
    assert_false(str_ieq("a", ""));
    /* Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ. */
    assert_false(str_ieq("@", "`"));
    assert_false(str_ieq("[", "{"));
    assert_false(str_ieq("\xc4", "\xe4"));

    assert_true(str_iprefix("x-ms-meta-Foo", "X-MS-META-"));
    assert_true(str_iprefix("abc", ""));
    assert_true(str_iprefix("abc", "ABC"));
    assert_false(str_iprefix("ab", "abc"));
    assert_false(str_iprefix("", "a"));

    assert_true(str_prefix("/devstoreaccount1/c", "/devstoreaccount1"));
    assert_true(str_prefix("abc", ""));
    assert_false(str_prefix("Abc", "abc"));
    assert_false(str_prefix("ab", "abc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64_table),
        cmocka_unit_test(test_parse_i64_table),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_str_predicates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
