/*
 * test_odata.c: $filter parsing and evaluation, $select parsing.
 *
 * A table of valid filters is evaluated against three fake tasks (a getter
 * over id, state, executionInfo/exitCode, executionInfo/result,
 * creationTime and allowTaskPreemption); a table of hostile filters checks
 * the exact error message, offset included. Generated inputs cover the
 * bounds: nesting one past ODATA_MAX_DEPTH, "not" x 100000, 70,000 bytes,
 * too many nodes, and the .NET TaskStateMonitor "id eq" or-chain.
 */
#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/odata.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"

struct entity {
    const char *id;
    const char *state;
    bool has_exit;
    int64_t exit_code;
    const char *result; /* NULL: no executionInfo/result */
    const char *created;
    bool preempt;
    int calls;   /* getter calls, for the short-circuit tests */
    int fail_rc; /* when non-zero, every lookup returns it */
};

static struct entity ents[3] = {
    { "task-1", "completed", true, 0, "success", "2020-01-01T00:00:00Z", true,
      0, 0 },
    { "task-2", "completed", true, 1, "failure", "2021-06-01T12:00:00Z", false,
      0, 0 },
    { "prep-it's", "running", false, 0, NULL, "2019-03-04T05:06:07Z", true, 0,
      0 },
};

static int get(void *ctx, const char *prop, struct odata_value *out)
{
    struct entity *en = ctx;
    int64_t ms;

    en->calls++;
    if (en->fail_rc)
        return en->fail_rc;
    if (strcmp(prop, "id") == 0) {
        out->type = ODATA_STR;
        out->s = en->id;
    } else if (strcmp(prop, "state") == 0) {
        out->type = ODATA_STR;
        out->s = en->state;
    } else if (strcmp(prop, "executionInfo/exitCode") == 0) {
        out->type = en->has_exit ? ODATA_INT : ODATA_NULL;
        out->i = en->exit_code;
    } else if (strcmp(prop, "executionInfo/result") == 0) {
        out->type = en->result ? ODATA_STR : ODATA_NULL;
        out->s = en->result;
    } else if (strcmp(prop, "creationTime") == 0) {
        if (timefmt_parse_iso8601(en->created, &ms) < 0)
            return -ERR_INTERNAL;
        out->type = ODATA_TIME;
        out->i = ms;
    } else if (strcmp(prop, "allowTaskPreemption") == 0) {
        out->type = ODATA_BOOL;
        out->b = en->preempt;
    } else {
        return -ERR_INVALID;
    }
    return 0;
}

struct valid_case {
    const char *filter;
    bool want[3]; /* match for ents[0], ents[1], ents[2] */
};

static void test_filter_valid_table(void **state)
{
    static const struct valid_case cases[] = {
        { "state eq 'completed'", { 1, 1, 0 } },
        { "state EQ 'completed'", { 1, 1, 0 } },
        { "state ne 'completed'", { 0, 0, 1 } },
        { "state eq 'Completed'", { 0, 0, 0 } },
        { "'completed' eq state", { 1, 1, 0 } },
        { "id eq 'task-1' or id eq 'task-2'", { 1, 1, 0 } },
        { "id eq 'task-1' OR id eq 'nope'", { 1, 0, 0 } },
        { "startswith(id,'task')", { 1, 1, 0 } },
        { "startswith( id , 'prep' )", { 0, 0, 1 } },
        { "StartsWith(id,'')", { 1, 1, 1 } },
        { "startswith(id,'task-10')", { 0, 0, 0 } },
        { "startswith(executionInfo/result,'fail')", { 0, 1, 0 } },
        { "executionInfo/exitCode ne 0", { 0, 1, 1 } },
        { "executionInfo/exitCode eq 0", { 1, 0, 0 } },
        { "executionInfo/exitCode eq null", { 0, 0, 1 } },
        { "executionInfo/exitCode ne null", { 1, 1, 0 } },
        { "executionInfo/exitCode gt 0", { 0, 1, 0 } },
        { "executionInfo/exitCode ge 0", { 1, 1, 0 } },
        { "executionInfo/exitCode lt 1", { 1, 0, 0 } },
        { "executionInfo/exitCode le -1", { 0, 0, 0 } },
        { "executionInfo/exitCode gt null", { 0, 0, 0 } },
        { "executionInfo/exitCode lt 9223372036854775807", { 1, 1, 0 } },
        { "executionInfo/exitCode gt -9223372036854775808", { 1, 1, 0 } },
        { "executionInfo/exitCode eq 007", { 0, 0, 0 } },
        { "executionInfo/result eq 'failure'", { 0, 1, 0 } },
        { "state eq 'completed' and executionInfo/exitCode ne 0", { 0, 1, 0 } },
        { "not (state eq 'completed')", { 0, 0, 1 } },
        { "not not state eq 'running'", { 0, 0, 1 } },
        { "NOT(state eq 'running')", { 1, 1, 0 } },
        { "not startswith(id,'task')", { 0, 0, 1 } },
        { "(id eq 'task-1' or id eq 'task-2') and "
          "executionInfo/result eq 'success'",
          { 1, 0, 0 } },
        /* "and" binds tighter than "or". */
        { "executionInfo/result eq 'failure' or id eq 'task-1' and "
          "state eq 'running'",
          { 0, 1, 0 } },
        { "id eq 'prep-it''s'", { 0, 0, 1 } },
        { "id eq ''''", { 0, 0, 0 } },
        { "id eq 'task-1' and state eq 'completed' and "
          "executionInfo/exitCode eq 0 and executionInfo/result eq 'success'",
          { 1, 0, 0 } },
        { "creationTime gt datetime'2020-06-01T00:00:00Z'", { 0, 1, 0 } },
        { "creationTime le datetime'2020-01-01T00:00:00.000Z'", { 1, 0, 1 } },
        { "creationTime eq DateTime'2020-01-01T00:00:00Z'", { 1, 0, 0 } },
        { "creationTime ge datetime'2021-06-01T14:00:00+02:00'", { 0, 1, 0 } },
        { "creationTime lt datetime'2020-01-01'", { 0, 0, 1 } },
        /* Mismatched types compare false, even under ne. */
        { "executionInfo/exitCode eq '0'", { 0, 0, 0 } },
        { "executionInfo/exitCode ne '0'", { 0, 0, 1 } },
        { "creationTime gt '2000-01-01T00:00:00Z'", { 0, 0, 0 } },
        { "state eq 1", { 0, 0, 0 } },
        { "allowTaskPreemption eq true", { 1, 0, 1 } },
        { "allowTaskPreemption ne TRUE", { 0, 1, 0 } },
        { "allowTaskPreemption eq false", { 0, 1, 0 } },
        { "allowTaskPreemption gt false", { 0, 0, 0 } },
        { "1 eq 1", { 1, 1, 1 } },
        { "null eq null", { 1, 1, 1 } },
        { "NULL ne null", { 0, 0, 0 } },
        { "'b' gt 'a'", { 1, 1, 1 } },
        { "state eq 'completed'\t\r\n", { 1, 1, 0 } },
        { "  ( ( state eq 'running' ) )  ", { 0, 0, 1 } },
        { "(state eq 'running')or(id eq 'task-1')", { 1, 0, 1 } },
        { "id eq '\xc3\xa9moji \xe2\x9c\x93 \xf0\x9f\x98\x80'", { 0, 0, 0 } },
    };
    size_t i;
    int j;

    (void)state;
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        struct err err = ERR_INIT;
        struct odata_expr *e = NULL;
        int rc = odata_parse_filter(cases[i].filter, &e, &err);

        if (rc != 0)
            fail_msg("case %zu \"%s\": rc %d: %s", i, cases[i].filter, rc,
                     err.msg);
        assert_non_null(e);
        assert_int_equal(err.code, 0);
        for (j = 0; j < 3; j++) {
            bool m = !cases[i].want[j];

            rc = odata_eval(e, get, &ents[j], &m, &err);
            if (rc != 0)
                fail_msg("case %zu \"%s\" entity %d: eval rc %d: %s", i,
                         cases[i].filter, j, rc, err.msg);
            if (m != cases[i].want[j])
                fail_msg("case %zu \"%s\" entity %d: match %d want %d", i,
                         cases[i].filter, j, m, cases[i].want[j]);
        }
        odata_free(e);
    }
}

static void test_filter_blank(void **state)
{
    static const char *const blanks[] = { "", " ", "   ", "\t", " \r\n\t " };
    struct err err = ERR_INIT;
    struct odata_expr *e;
    bool m;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_SIZE(blanks); i++) {
        e = (struct odata_expr *)&err; /* any non-NULL value */
        assert_int_equal(odata_parse_filter(blanks[i], &e, &err), 0);
        assert_null(e);
        m = false;
        assert_int_equal(odata_eval(e, get, &ents[0], &m, &err), 0);
        assert_true(m);
    }
    e = (struct odata_expr *)&err;
    assert_int_equal(odata_parse_filter(NULL, &e, &err), 0);
    assert_null(e);
    assert_int_equal(odata_check(NULL, get, &ents[0], &err), 0);
    assert_int_equal(err.code, 0);
    odata_free(NULL);
}

struct bad_case {
    const char *filter;
    const char *msg; /* the whole message */
};

static void check_bad(const char *filter, const char *msg, size_t i)
{
    struct err err = ERR_INIT;
    struct odata_expr *e = (struct odata_expr *)&err;
    int rc = odata_parse_filter(filter, &e, &err);

    if (rc != -ERR_INVALID)
        fail_msg("case %zu \"%.60s\": rc %d want %d", i, filter, rc,
                 -ERR_INVALID);
    /* *out untouched on failure */
    assert_ptr_equal(e, (struct odata_expr *)&err);
    assert_int_equal(err.code, ERR_INVALID);
    assert_string_equal(err.svc, "InvalidQueryParameterValue");
    if (strcmp(err.msg, msg) != 0)
        fail_msg("case %zu \"%.60s\": msg \"%s\" want \"%s\"", i, filter,
                 err.msg, msg);
    assert_int_equal(err.ndetails, 1);
    assert_string_equal(err.details[0].name, "QueryParameterName");
    assert_string_equal(err.details[0].value, "$filter");
}

static void test_filter_hostile_table(void **state)
{
    static const struct bad_case cases[] = {
        /* strings */
        { "state eq 'completed", "$filter: unterminated string at offset 9" },
        { "'", "$filter: unterminated string at offset 0" },
        { "id eq 'a''", "$filter: unterminated string at offset 6" },
        { "id eq '''", "$filter: unterminated string at offset 6" },
        /* operators and structure */
        { "state like 'x'", "$filter: unknown operator 'like' at offset 6" },
        { "state == 'x'", "$filter: unexpected character at offset 6" },
        { "state eq 'x' garbage", "$filter: unexpected token at offset 13" },
        { "state eq 'x')", "$filter: unexpected token at offset 12" },
        { "state eq 'x' 'y'", "$filter: unexpected token at offset 13" },
        { "(state eq 'x'", "$filter: unexpected end at offset 13" },
        { "state eq", "$filter: unexpected end at offset 8" },
        { "state", "$filter: unexpected end at offset 5" },
        { "eq eq 'x'", "$filter: unexpected token at offset 0" },
        { "state eq and", "$filter: unexpected token at offset 9" },
        { "state eq 'x' and", "$filter: unexpected end at offset 16" },
        { "state eq 'x' or or state eq 'y'",
          "$filter: unexpected token at offset 16" },
        { "state eq 'x' eq 'y'", "$filter: unexpected token at offset 13" },
        { "and", "$filter: unexpected token at offset 0" },
        { "not", "$filter: unexpected end at offset 3" },
        { "()", "$filter: unexpected token at offset 1" },
        { ")", "$filter: unexpected token at offset 0" },
        { ",", "$filter: unexpected token at offset 0" },
        { "true", "$filter: unexpected end at offset 4" },
        { "state eq 'x';", "$filter: unexpected character at offset 12" },
        { "state eq 'x' && id eq 'y'",
          "$filter: unexpected character at offset 13" },
        { "state eq \"x\"", "$filter: unexpected character at offset 9" },
        { "state eq -", "$filter: unexpected character at offset 9" },
        /* property paths */
        { "executionInfo/ eq 1",
          "$filter: invalid property path at offset 13" },
        { "executionInfo//exitCode eq 1",
          "$filter: invalid property path at offset 13" },
        { "executionInfo/1 eq 1",
          "$filter: invalid property path at offset 13" },
        { "/id eq 1", "$filter: unexpected character at offset 0" },
        { "id/ eq 1", "$filter: invalid property path at offset 2" },
        /* numbers */
        { "executionInfo/exitCode eq 9223372036854775808",
          "$filter: integer out of range at offset 26" },
        { "executionInfo/exitCode eq -9223372036854775809",
          "$filter: integer out of range at offset 26" },
        { "executionInfo/exitCode eq 99999999999999999999999999999",
          "$filter: integer out of range at offset 26" },
        { "executionInfo/exitCode eq 1.5",
          "$filter: invalid number at offset 26" },
        { "executionInfo/exitCode eq 12abc",
          "$filter: invalid number at offset 26" },
        { "executionInfo/exitCode eq 0x10",
          "$filter: invalid number at offset 26" },
        { "executionInfo/exitCode eq 1L",
          "$filter: invalid number at offset 26" },
        /* datetime literals */
        { "creationTime gt datetime'yesterday'",
          "$filter: invalid datetime at offset 16" },
        { "creationTime gt datetime'2020-13-01T00:00:00Z'",
          "$filter: invalid datetime at offset 16" },
        { "creationTime gt datetime''",
          "$filter: invalid datetime at offset 16" },
        { "creationTime gt datetime'2020-01-01T00:00:00Z'''",
          "$filter: invalid datetime at offset 16" },
        { "creationTime gt datetime'",
          "$filter: unterminated string at offset 24" },
        { "creationTime gt datetime'2020-01-01T00:00:00Z"
          "0000000000000000000000000000000000000000000000000000000000000000'",
          "$filter: invalid datetime at offset 16" },
        /* startswith */
        { "startswith(id)", "$filter: unexpected token at offset 13" },
        { "startswith(id, 1)", "$filter: unexpected token at offset 15" },
        { "startswith('a', id)", "$filter: unexpected token at offset 11" },
        { "startswith(null, 'a')", "$filter: unexpected token at offset 11" },
        { "startswith(id,'a'", "$filter: unexpected end at offset 17" },
        { "startswith(id,'a',)", "$filter: unexpected token at offset 17" },
        { "startswith(", "$filter: unexpected end at offset 11" },
        /* bytes: binary, control characters, invalid UTF-8 */
        { "id eq 'a\xff'", "$filter: invalid utf-8 in string at offset 8" },
        { "id eq '\xc0\x80'", "$filter: invalid utf-8 in string at offset 7" },
        { "id eq '\xc1\xbf'", "$filter: invalid utf-8 in string at offset 7" },
        { "id eq '\xe0\x80\xaf'",
          "$filter: invalid utf-8 in string at offset 7" },
        { "id eq '\xed\xa0\x80'",
          "$filter: invalid utf-8 in string at offset 7" },
        { "id eq '\xf4\x90\x80\x80'",
          "$filter: invalid utf-8 in string at offset 7" },
        { "id eq '\xf8\x88\x80\x80\x80'",
          "$filter: invalid utf-8 in string at offset 7" },
        { "id eq 'x\xe2\x82'", "$filter: invalid utf-8 in string at offset 8" },
        { "id eq '\xe2\x82", "$filter: invalid utf-8 in string at offset 7" },
        { "id eq '\x80'", "$filter: invalid utf-8 in string at offset 7" },
        { "\x01\x02\x03", "$filter: unexpected character at offset 0" },
        { "id eq 'a' \x7f", "$filter: unexpected character at offset 10" },
        { "\xff\xfe", "$filter: unexpected character at offset 0" },
        { "id\xc3\xa9 eq 'a'", "$filter: unexpected character at offset 2" },
        { "\xc3\xa9 eq 'a'", "$filter: unexpected character at offset 0" },
        { "state\veq 'x'", "$filter: unexpected character at offset 5" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_SIZE(cases); i++)
        check_bad(cases[i].filter, cases[i].msg, i);
}

/* A string of n copies of unit followed by tail; caller frees. */
static char *repeat(const char *unit, size_t n, const char *tail)
{
    struct buf b = BUF_INIT;
    size_t i;

    for (i = 0; i < n; i++)
        assert_int_equal(buf_adds(&b, unit), 0);
    assert_int_equal(buf_adds(&b, tail), 0);
    return buf_detach(&b, NULL);
}

static void expect_ok(const char *filter, int ent, bool want)
{
    struct err err = ERR_INIT;
    struct odata_expr *e = NULL;
    bool m = !want;

    if (odata_parse_filter(filter, &e, &err) != 0)
        fail_msg("\"%.60s...\": %s", filter, err.msg);
    assert_int_equal(odata_eval(e, get, &ents[ent], &m, &err), 0);
    assert_true(m == want);
    odata_free(e);
}

static void test_filter_depth(void **state)
{
    char *s;

    (void)state;
    /* Exactly ODATA_MAX_DEPTH levels parse, one more does not. */
    s = repeat("not ", ODATA_MAX_DEPTH, "state eq 'running'");
    expect_ok(s, 2, true); /* 64 nots: even */
    free(s);
    s = repeat("not ", ODATA_MAX_DEPTH + 1, "state eq 'running'");
    check_bad(s, "$filter: nesting deeper than 64 at offset 256", 0);
    free(s);

    s = repeat("(", ODATA_MAX_DEPTH, "state eq 'running'");
    {
        char *t = repeat(")", ODATA_MAX_DEPTH, "");
        struct buf b = BUF_INIT;

        assert_int_equal(buf_adds(&b, s), 0);
        assert_int_equal(buf_adds(&b, t), 0);
        free(s);
        free(t);
        s = buf_detach(&b, NULL);
    }
    expect_ok(s, 2, true);
    free(s);
    s = repeat("(", ODATA_MAX_DEPTH + 1, "state eq 'running')");
    check_bad(s, "$filter: nesting deeper than 64 at offset 64", 0);
    free(s);
    /* Mixed: "not (" counts both. */
    s = repeat("not (", ODATA_MAX_DEPTH / 2, "not state eq 'x'");
    check_bad(s, "$filter: nesting deeper than 64 at offset 160", 0);
    free(s);

    /* Stack hostile but within ODATA_MAX_LEN: stops at the limit. */
    s = repeat("not ", 16000, "state eq 'x'");
    check_bad(s, "$filter: nesting deeper than 64 at offset 256", 0);
    free(s);
    s = repeat("(", 65000, "");
    check_bad(s, "$filter: nesting deeper than 64 at offset 64", 0);
    free(s);
    /* Beyond it: refused on length before any parsing. */
    s = repeat("not ", 100000, "state eq 'x'");
    check_bad(s, "$filter: longer than 65536 bytes at offset 65536", 0);
    free(s);
}

static void test_filter_length(void **state)
{
    char *s;

    (void)state;
    s = repeat("a", 70000, "");
    check_bad(s, "$filter: longer than 65536 bytes at offset 65536", 0);
    free(s);
    s = repeat(" ", 70000, "");
    check_bad(s, "$filter: longer than 65536 bytes at offset 65536", 0);
    free(s);

    /* Exactly ODATA_MAX_LEN bytes is allowed: "id eq '" + a... + "'". */
    s = repeat("a", ODATA_MAX_LEN - 8, "'");
    {
        struct buf b = BUF_INIT;

        assert_int_equal(buf_adds(&b, "id eq '"), 0);
        assert_int_equal(buf_adds(&b, s), 0);
        free(s);
        s = buf_detach(&b, NULL);
    }
    assert_int_equal(strlen(s), ODATA_MAX_LEN);
    expect_ok(s, 0, false);
    free(s);

    /*
     * 4096 nodes pass, the 4097th does not. An or-chain of k comparisons
     * is k + 1 nodes (one n-ary OR), and the node that overflows is the
     * 4096th comparison, at offset 4095 * strlen("1 eq 1 or ").
     */
    s = repeat("1 eq 1 or ", ODATA_MAX_NODES - 2, "1 eq 1");
    expect_ok(s, 0, true);
    free(s);
    s = repeat("1 eq 1 or ", ODATA_MAX_NODES - 1, "1 eq 1");
    check_bad(s, "$filter: more than 4096 nodes at offset 40950", 0);
    free(s);
}

/* The .NET TaskStateMonitor form: ~500 bytes of "id eq 'x' or ...". */
static void test_filter_or_chain(void **state)
{
    struct buf b = BUF_INIT;
    struct odata_expr *e = NULL;
    struct err err = ERR_INIT;
    bool m;
    int i;

    (void)state;
    for (i = 0; b.len < 480; i++)
        assert_int_equal(buf_addf(&b, "id eq 'mon-task-%04d' or ", i), 0);
    assert_int_equal(buf_adds(&b, "id eq 'task-2'"), 0);
    assert_true(b.len >= 500);
    assert_int_equal(odata_parse_filter(b.data, &e, &err), 0);

    ents[0].calls = 0;
    m = true;
    assert_int_equal(odata_eval(e, get, &ents[0], &m, &err), 0);
    assert_false(m);
    assert_int_equal(ents[0].calls, i + 1); /* every arm */
    ents[1].calls = 0;
    m = false;
    assert_int_equal(odata_eval(e, get, &ents[1], &m, &err), 0);
    assert_true(m);
    odata_free(e);
    buf_release(&b);
}

static void test_filter_eval_errors(void **state)
{
    struct err err = ERR_INIT;
    struct odata_expr *e = NULL;
    bool m;

    (void)state;
    /* Unknown property: the getter's -ERR_INVALID becomes a 400. */
    assert_int_equal(odata_parse_filter("bogus eq 1", &e, &err), 0);
    m = true;
    assert_int_equal(odata_eval(e, get, &ents[0], &m, &err), -ERR_INVALID);
    assert_true(m); /* untouched */
    assert_int_equal(err.code, ERR_INVALID);
    assert_string_equal(err.svc, "InvalidQueryParameterValue");
    assert_string_equal(err.msg, "$filter: unknown property 'bogus'");
    err_clear(&err);
    assert_int_equal(odata_check(e, get, &ents[0], &err), -ERR_INVALID);
    assert_string_equal(err.msg, "$filter: unknown property 'bogus'");
    odata_free(e);
    err_clear(&err);

    /* Inside startswith and under not, too. */
    assert_int_equal(odata_parse_filter("not startswith(x/y, 'a')", &e, &err),
                     0);
    assert_int_equal(odata_eval(e, get, &ents[0], &m, &err), -ERR_INVALID);
    assert_string_equal(err.msg, "$filter: unknown property 'x/y'");
    odata_free(e);
    err_clear(&err);

    /* Reserved words are not properties; "startswith" alone is one. */
    assert_int_equal(odata_parse_filter("startswith eq 'a'", &e, &err), 0);
    assert_int_equal(odata_eval(e, get, &ents[0], &m, &err), -ERR_INVALID);
    assert_string_equal(err.msg, "$filter: unknown property 'startswith'");
    odata_free(e);
    err_clear(&err);

    /* Short circuit: an arm not reached is not looked up ... */
    assert_int_equal(
        odata_parse_filter("id eq 'task-1' or bogus eq 1", &e, &err), 0);
    ents[0].calls = 0;
    m = false;
    assert_int_equal(odata_eval(e, get, &ents[0], &m, &err), 0);
    assert_true(m);
    assert_int_equal(ents[0].calls, 1);
    assert_int_equal(err.code, 0);
    assert_int_equal(odata_eval(e, get, &ents[1], &m, &err), -ERR_INVALID);
    err_clear(&err);
    /* ... but odata_check finds it whatever the data. */
    assert_int_equal(odata_check(e, get, &ents[0], &err), -ERR_INVALID);
    assert_string_equal(err.msg, "$filter: unknown property 'bogus'");
    odata_free(e);
    err_clear(&err);

    assert_int_equal(
        odata_parse_filter("state eq 'running' and bogus eq 1", &e, &err), 0);
    ents[0].calls = 0;
    m = true;
    assert_int_equal(odata_eval(e, get, &ents[0], &m, &err), 0);
    assert_false(m);
    assert_int_equal(ents[0].calls, 1);
    odata_free(e);

    /* odata_check passes a filter whose properties all exist. */
    assert_int_equal(odata_parse_filter("state eq 'x' or (not "
                                        "startswith(id,'a') and "
                                        "executionInfo/exitCode ne 0)",
                                        &e, &err),
                     0);
    assert_int_equal(odata_check(e, get, &ents[2], &err), 0);
    assert_int_equal(err.code, 0);

    /* Any other getter failure propagates with its own code. */
    ents[2].fail_rc = -ERR_IO;
    assert_int_equal(odata_eval(e, get, &ents[2], &m, &err), -ERR_IO);
    assert_int_equal(err.code, ERR_IO);
    ents[2].fail_rc = 0;
    odata_free(e);
}

struct select_case {
    const char *in;
    int rc;
    const char *want; /* names joined by '|', or the error message */
};

static void test_select_table(void **state)
{
    static char *untouched[1]; /* what *fields_out holds before a failure */
    static const struct select_case cases[] = {
        { "id, executionInfo", 0, "id|executionInfo" },
        { "id,state", 0, "id|state" },
        { "  id ,  state  ", 0, "id|state" },
        { "\tid,\tstate\t", 0, "id|state" },
        { "id", 0, "id" },
        { "", 0, "" },
        { "   ", 0, "" },
        { "id,id, state,id", 0, "id|state" },
        { "id,ID", 0, "id|ID" },
        { "_x1,y_2", 0, "_x1|y_2" },
        { "id,,state", -ERR_INVALID, "$select: empty item at offset 3" },
        { "id, ,state", -ERR_INVALID, "$select: empty item at offset 4" },
        { "id,", -ERR_INVALID, "$select: empty item at offset 3" },
        { "id, ", -ERR_INVALID, "$select: empty item at offset 4" },
        { ",id", -ERR_INVALID, "$select: empty item at offset 0" },
        { ",", -ERR_INVALID, "$select: empty item at offset 0" },
        { "id state", -ERR_INVALID, "$select: unexpected token at offset 3" },
        { "executionInfo/exitCode", -ERR_INVALID,
          "$select: invalid property name at offset 0" },
        { "id,1abc", -ERR_INVALID,
          "$select: invalid property name at offset 3" },
        { "id,'state'", -ERR_INVALID,
          "$select: invalid property name at offset 3" },
        { "i\xff", -ERR_INVALID, "$select: invalid property name at offset 0" },
        { "\xc3\xa9t\xc3\xa9", -ERR_INVALID,
          "$select: invalid property name at offset 0" },
        { "id;drop", -ERR_INVALID,
          "$select: invalid property name at offset 0" },
        { "*", -ERR_INVALID, "$select: invalid property name at offset 0" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        struct err err = ERR_INIT;
        char **fields = untouched;
        size_t n = 999, k;
        int rc = odata_parse_select(cases[i].in, &fields, &n, &err);

        if (rc != cases[i].rc)
            fail_msg("case %zu \"%s\": rc %d want %d (%s)", i, cases[i].in, rc,
                     cases[i].rc, err.msg);
        if (rc < 0) {
            assert_ptr_equal(fields, untouched);
            assert_int_equal(n, 999);
            assert_string_equal(err.svc, "InvalidQueryParameterValue");
            assert_string_equal(err.details[0].value, "$select");
            if (strcmp(err.msg, cases[i].want) != 0)
                fail_msg("case %zu \"%s\": msg \"%s\" want \"%s\"", i,
                         cases[i].in, err.msg, cases[i].want);
            continue;
        }
        {
            struct buf b = BUF_INIT;

            for (k = 0; k < n; k++) {
                if (k)
                    assert_int_equal(buf_addc(&b, '|'), 0);
                assert_int_equal(buf_adds(&b, fields[k]), 0);
            }
            if (strcmp(b.data, cases[i].want) != 0)
                fail_msg("case %zu \"%s\": got \"%s\" want \"%s\"", i,
                         cases[i].in, b.data, cases[i].want);
            buf_release(&b);
        }
        if (n == 0)
            assert_null(fields);
        odata_free_select(fields, n);
    }
}

static void test_select_bounds(void **state)
{
    struct buf b = BUF_INIT;
    struct err err = ERR_INIT;
    char **fields = NULL;
    size_t n = 0;
    char *s;
    int i;

    (void)state;
    assert_int_equal(odata_parse_select(NULL, &fields, &n, &err), 0);
    assert_null(fields);
    assert_int_equal(n, 0);
    odata_free_select(NULL, 0);

    /* 20,000 duplicates collapse to one name. */
    s = repeat("id,", 20000, " id"); /* 60,003 bytes */
    assert_int_equal(odata_parse_select(s, &fields, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(fields[0], "id");
    odata_free_select(fields, n);
    free(s);

    s = repeat("a", 70000, "");
    assert_int_equal(odata_parse_select(s, &fields, &n, &err), -ERR_INVALID);
    assert_string_equal(err.msg,
                        "$select: longer than 65536 bytes at offset 65536");
    free(s);

    /* ODATA_MAX_SELECT distinct names pass; one more does not. */
    for (i = 0; i < ODATA_MAX_SELECT; i++)
        assert_int_equal(buf_addf(&b, "%sp%d", i ? "," : "", i), 0);
    assert_int_equal(odata_parse_select(b.data, &fields, &n, &err), 0);
    assert_int_equal(n, ODATA_MAX_SELECT);
    assert_string_equal(fields[ODATA_MAX_SELECT - 1], "p127");
    odata_free_select(fields, n);
    assert_int_equal(buf_adds(&b, ",p0,extra"), 0);
    err_clear(&err);
    assert_int_equal(odata_parse_select(b.data, &fields, &n, &err),
                     -ERR_INVALID);
    assert_string_equal(err.msg, "$select: more than 128 properties at "
                                 "offset 533");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_valid_table),
        cmocka_unit_test(test_filter_blank),
        cmocka_unit_test(test_filter_hostile_table),
        cmocka_unit_test(test_filter_depth),
        cmocka_unit_test(test_filter_length),
        cmocka_unit_test(test_filter_or_chain),
        cmocka_unit_test(test_filter_eval_errors),
        cmocka_unit_test(test_select_table),
        cmocka_unit_test(test_select_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
