/*
 * test_timefmt.c: clocks, RFC 1123 / RFC 850 / asctime, ISO 8601 times and
 * durations, with tables of hostile inputs (truncations, out-of-range
 * fields, junk after the value, overflowing numbers) for every parser.
 */
#include "unit.h"

#include <string.h>

#include "core/err.h"
#include "core/timefmt.h"

#define MS_1994 784111777000LL /* Sun, 06 Nov 1994 08:49:37 GMT */
#define MS_MIN  (-11644473600000LL)
#define MS_MAX  253402300799999LL

static void test_clocks(void **state)
{
    int64_t now = timefmt_now_ms();
    int64_t m1 = timefmt_mono_ms();
    int64_t m2 = timefmt_mono_ms();

    (void)state;
    /* After 2020-01-01 and before 2100-01-01. */
    assert_true(now > 1577836800000LL);
    assert_true(now < 4102444800000LL);
    assert_true(m2 >= m1);
}

static void test_rfc1123_format(void **state)
{
    char out[TIMEFMT_RFC1123_LEN];

    (void)state;
    timefmt_rfc1123(MS_1994, out);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    timefmt_rfc1123(MS_1994 + 999, out); /* ms truncated */
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    timefmt_rfc1123(0, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    timefmt_rfc1123(-1, out);
    assert_string_equal(out, "Wed, 31 Dec 1969 23:59:59 GMT");
    timefmt_rfc1123(951782400000LL, out);
    assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
    /* Out of range values clamp. */
    timefmt_rfc1123(INT64_MAX, out);
    assert_string_equal(out, "Fri, 31 Dec 9999 23:59:59 GMT");
    timefmt_rfc1123(INT64_MIN, out);
    assert_string_equal(out, "Mon, 01 Jan 1601 00:00:00 GMT");
    assert_int_equal(strlen(out), TIMEFMT_RFC1123_LEN - 1);
}

struct time_case {
    const char *in;
    int rc;
    int64_t want;
};

static void run_time_table(const struct time_case *cases, size_t n,
                           int (*fn)(const char *, int64_t *))
{
    size_t i;

    for (i = 0; i < n; i++) {
        int64_t out = 777;
        int rc = fn(cases[i].in, &out);

        if (rc != cases[i].rc)
            fail_msg("case %zu '%s': rc %d want %d", i, cases[i].in, rc,
                     cases[i].rc);
        if (rc == 0 && out != cases[i].want)
            fail_msg("case %zu '%s': got %lld want %lld", i, cases[i].in,
                     (long long)out, (long long)cases[i].want);
        if (rc != 0 && out != 777)
            fail_msg("case %zu '%s': output written on failure", i,
                     cases[i].in);
    }
}

static void test_rfc1123_parse_table(void **state)
{
    static const struct time_case cases[] = {
        { "Sun, 06 Nov 1994 08:49:37 GMT", 0, MS_1994 },
        /* The weekday is not checked against the date. */
        { "Mon, 06 Nov 1994 08:49:37 GMT", 0, MS_1994 },
        { "sun, 06 nov 1994 08:49:37 gmt", 0, MS_1994 },
        { "Sun, 6 Nov 1994 08:49:37 GMT", 0, MS_1994 },
        { "Sunday, 06-Nov-94 08:49:37 GMT", 0, MS_1994 },
        { "Sun Nov  6 08:49:37 1994", 0, MS_1994 },
        { "Sun Nov 06 08:49:37 1994", 0, MS_1994 },
        { "Thu, 01 Jan 1970 00:00:00 GMT", 0, 0 },
        { "Wed, 31 Dec 1969 23:59:59 GMT", 0, -1000 },
        { "Tue, 29 Feb 2000 00:00:00 GMT", 0, 951782400000LL },
        { "Mon, 01 Jan 1601 00:00:00 GMT", 0, MS_MIN },
        { "Fri, 31 Dec 9999 23:59:59 GMT", 0, MS_MAX - 999 },
        /* hostile */
        { "", -ERR_INVALID, 0 },
        { "Sun", -ERR_INVALID, 0 },
        { "Sun,", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 08:49:37", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 08:49:37 GM", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 08:49:37 GMT ", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 08:49:37 UTC", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 08:49:37 +0000", -ERR_INVALID, 0 },
        { " Sun, 06 Nov 1994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun,  06 Nov 1994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Xyz, 06 Nov 1994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nox 1994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun, 006 Nov 1994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 94 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 19944 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun, 00 Nov 1994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun, 31 Nov 1994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun, 29 Feb 1900 00:00:00 GMT", -ERR_INVALID, 0 },
        { "Sun, 29 Feb 2023 00:00:00 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 24:00:00 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 23:60:00 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 23:59:60 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 8:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 08:49 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 08-49-37 GMT", -ERR_INVALID, 0 },
        { "Sun, 31 Dec 1600 23:59:59 GMT", -ERR_INVALID, 0 },
        { "Sun, 06 Nov -994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sunday, 06-Nov-1994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sunday, 06 Nov 1994 08:49:37 GMT", -ERR_INVALID, 0 },
        { "Sun Nov  6 08:49:37 1994 ", -ERR_INVALID, 0 },
        { "Sun Nov   6 08:49:37 1994", -ERR_INVALID, 0 },
        { "Sun Nov  6 08:49:37 94", -ERR_INVALID, 0 },
        { "Sun Nov  6 08:49:37", -ERR_INVALID, 0 },
        { "Sun, 06 Nov 1994 08:49:37 GMT\0junk", 0, MS_1994 },
    };

    (void)state;
    run_time_table(cases, sizeof(cases) / sizeof(cases[0]),
                   timefmt_parse_rfc1123);
    assert_int_equal(timefmt_parse_rfc1123(NULL, &(int64_t){ 0 }),
                     -ERR_INVALID);
}

static void test_rfc850_century(void **state)
{
    int64_t ms;

    (void)state;
    /*
     * Two-digit years at most 50 years ahead of now; the rest are past.
     * These cases (and "-94" in the table) hold until 2044.
     */
    assert_int_equal(
        timefmt_parse_rfc1123("Tuesday, 01-Jan-30 00:00:00 GMT", &ms), 0);
    assert_true(ms == 1893456000000LL); /* 2030, not 1930 */
    assert_int_equal(
        timefmt_parse_rfc1123("Friday, 01-Jan-99 00:00:00 GMT", &ms), 0);
    assert_true(ms == 915148800000LL); /* 1999, not 2099 (until 2049) */
}

static void test_rfc1123_roundtrip(void **state)
{
    static const int64_t samples[] = {
        0, MS_1994, 951782400000LL, -1000, MS_MIN, MS_MAX - 999, 1709208000000LL
    };
    char out[TIMEFMT_RFC1123_LEN];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        int64_t back = 0;

        timefmt_rfc1123(samples[i], out);
        assert_int_equal(timefmt_parse_rfc1123(out, &back), 0);
        assert_true(back == samples[i]);
    }
}

static void test_iso8601_format(void **state)
{
    char out[TIMEFMT_ISO_LEN];
    int64_t ms = 1606244114610LL; /* 2020-11-24T18:55:14.610Z */

    (void)state;
    timefmt_iso8601(ms, 0, out);
    assert_string_equal(out, "2020-11-24T18:55:14Z");
    timefmt_iso8601(ms, 1, out);
    assert_string_equal(out, "2020-11-24T18:55:14.6Z");
    timefmt_iso8601(ms, 2, out);
    assert_string_equal(out, "2020-11-24T18:55:14.61Z");
    timefmt_iso8601(ms, 3, out);
    assert_string_equal(out, "2020-11-24T18:55:14.610Z");
    timefmt_iso8601(ms, 7, out);
    assert_string_equal(out, "2020-11-24T18:55:14.6100000Z");
    timefmt_iso8601(ms, 99, out);
    assert_string_equal(out, "2020-11-24T18:55:14.6100000Z");
    timefmt_iso8601(ms, -5, out);
    assert_string_equal(out, "2020-11-24T18:55:14Z");
    timefmt_iso8601(-1, 3, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    timefmt_iso8601(5, 7, out);
    assert_string_equal(out, "1970-01-01T00:00:00.0050000Z");
    timefmt_iso8601(INT64_MAX, 7, out);
    assert_string_equal(out, "9999-12-31T23:59:59.9990000Z");
    timefmt_iso8601(INT64_MIN, 7, out);
    assert_string_equal(out, "1601-01-01T00:00:00.0000000Z");
}

static void test_iso8601_parse_table(void **state)
{
    static const struct time_case cases[] = {
        { "2020-11-24T18:55:14Z", 0, 1606244114000LL },
        { "2020-11-24T18:55:14.6103234Z", 0, 1606244114610LL },
        { "2020-11-24T18:55:14.6109999999999999Z", 0, 1606244114610LL },
        { "2020-11-24T18:55:14.6Z", 0, 1606244114600LL },
        { "2020-11-24T18:55:14.61Z", 0, 1606244114610LL },
        { "2020-11-24T18:55:14", 0, 1606244114000LL },
        { "2020-11-24T18:55Z", 0, 1606244100000LL },
        { "2020-11-24T18:55", 0, 1606244100000LL },
        { "2020-11-24", 0, 1606176000000LL },
        { "2020-11-24T18:55:14+01:00", 0, 1606244114000LL - 3600000 },
        { "2020-11-24T18:55:14-05:30", 0, 1606244114000LL + 19800000 },
        { "2020-11-24T18:55:14.5+00:00", 0, 1606244114500LL },
        { "2021-07-01T00:00+01:30", 0, 1625092200000LL },
        { "1970-01-01T00:00:00Z", 0, 0 },
        { "1601-01-01T00:00:00Z", 0, MS_MIN },
        { "9999-12-31T23:59:59.999Z", 0, MS_MAX },
        { "2024-02-29T12:00:00Z", 0, 1709208000000LL },
        /* hostile */
        { "", -ERR_INVALID, 0 },
        { "2020", -ERR_INVALID, 0 },
        { "2020-11", -ERR_INVALID, 0 },
        { "2020-11-2", -ERR_INVALID, 0 },
        { "20201124", -ERR_INVALID, 0 },
        { "2020-11-24T", -ERR_INVALID, 0 },
        { "2020-11-24T18", -ERR_INVALID, 0 },
        { "2020-11-24T18:", -ERR_INVALID, 0 },
        { "2020-11-24T18:5", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:1", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14.", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14.Z", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14ZZ", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14Z ", -ERR_INVALID, 0 },
        { " 2020-11-24T18:55:14Z", -ERR_INVALID, 0 },
        { "2020-11-24 18:55:14Z", -ERR_INVALID, 0 },
        { "2020-11-24t18:55:14Z", -ERR_INVALID, 0 },
        { "2020-11-24Z", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14+01", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14+0100", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14+24:00", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14+01:60", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14Z+01:00", -ERR_INVALID, 0 },
        { "2020-13-01T00:00:00Z", -ERR_INVALID, 0 },
        { "2020-00-01T00:00:00Z", -ERR_INVALID, 0 },
        { "2020-01-00T00:00:00Z", -ERR_INVALID, 0 },
        { "2020-04-31T00:00:00Z", -ERR_INVALID, 0 },
        { "2023-02-29T00:00:00Z", -ERR_INVALID, 0 },
        { "2020-01-01T24:00:00Z", -ERR_INVALID, 0 },
        { "2020-01-01T23:60:00Z", -ERR_INVALID, 0 },
        { "2020-01-01T23:59:60Z", -ERR_INVALID, 0 },
        { "1600-12-31T23:59:59Z", -ERR_INVALID, 0 },
        { "0000-01-01T00:00:00Z", -ERR_INVALID, 0 },
        { "10000-01-01T00:00:00Z", -ERR_INVALID, 0 },
        { "-2020-01-01T00:00:00Z", -ERR_INVALID, 0 },
        { "+2020-01-01T00:00:00Z", -ERR_INVALID, 0 },
        /* In range locally, out of range once the offset is applied. */
        { "1601-01-01T00:00:00+01:00", -ERR_INVALID, 0 },
        { "9999-12-31T23:59:59-01:00", -ERR_INVALID, 0 },
        { "2020-1a-01T00:00:00Z", -ERR_INVALID, 0 },
        { "2020-11-24T18:55:14.6103234\xffZ", -ERR_INVALID, 0 },
    };

    (void)state;
    run_time_table(cases, sizeof(cases) / sizeof(cases[0]),
                   timefmt_parse_iso8601);
    assert_int_equal(timefmt_parse_iso8601(NULL, &(int64_t){ 0 }),
                     -ERR_INVALID);
}

static void test_iso8601_roundtrip(void **state)
{
    static const int64_t samples[] = {
        0, 1, 999, -1, 1606244114610LL, MS_MIN, MS_MAX, 951782400123LL
    };
    char out[TIMEFMT_ISO_LEN];
    size_t i;
    int d;

    (void)state;
    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        for (d = 3; d <= 7; d++) {
            int64_t back = 0;

            timefmt_iso8601(samples[i], d, out);
            assert_int_equal(timefmt_parse_iso8601(out, &back), 0);
            assert_true(back == samples[i]);
        }
    }
}

static void test_duration_parse_table(void **state)
{
    static const struct time_case cases[] = {
        { "PT15M", 0, 15 * 60000LL },
        { "P7D", 0, 7 * 86400000LL },
        { "PT1H30M5.5S", 0, 5405500LL },
        { "P1DT2H3M4.5S", 0, 93784500LL },
        { "PT0S", 0, 0 },
        { "P0D", 0, 0 },
        { "PT0.001S", 0, 1 },
        { "PT0.0009999S", 0, 0 }, /* truncated to ms */
        { "PT1.23456789S", 0, 1234 },
        { "PT36H", 0, 36 * 3600000LL },
        { "PT90M", 0, 90 * 60000LL },
        { "PT3600S", 0, 3600000LL },
        { "P1DT1S", 0, 86401000LL },
        { "P10675199DT2H48M5.4775807S", 0, TIMEFMT_DURATION_INF },
        /* At the max once truncated to ms: still infinite. */
        { "P10675199DT2H48M5.477S", 0, TIMEFMT_DURATION_INF },
        { "P10675199DT2H48M5.476S", 0, 922337203685476LL },
        /* hostile */
        { "", -ERR_INVALID, 0 },
        { "P", -ERR_INVALID, 0 },
        { "PT", -ERR_INVALID, 0 },
        { "T1H", -ERR_INVALID, 0 },
        { "1H", -ERR_INVALID, 0 },
        { "pt1h", -ERR_INVALID, 0 },
        { "-PT1H", -ERR_INVALID, 0 },
        { "PT-1H", -ERR_INVALID, 0 },
        { "P-1D", -ERR_INVALID, 0 },
        { "PT+1H", -ERR_INVALID, 0 },
        { "P1Y", -ERR_INVALID, 0 },
        { "P1M", -ERR_INVALID, 0 },
        { "P1Y2M3D", -ERR_INVALID, 0 },
        { "P1W", -ERR_INVALID, 0 },
        { "P1DT", -ERR_INVALID, 0 },
        { "P1D2H", -ERR_INVALID, 0 },
        { "PT1M1H", -ERR_INVALID, 0 },
        { "PT1S1M", -ERR_INVALID, 0 },
        { "PT1H1H", -ERR_INVALID, 0 },
        { "PT1S1S", -ERR_INVALID, 0 },
        { "P1DT1H2D", -ERR_INVALID, 0 },
        { "PT1.5H", -ERR_INVALID, 0 },
        { "PT1.5M", -ERR_INVALID, 0 },
        { "P1.5D", -ERR_INVALID, 0 },
        { "PT1.S", -ERR_INVALID, 0 },
        { "PT.5S", -ERR_INVALID, 0 },
        { "PT1", -ERR_INVALID, 0 },
        { "PTH", -ERR_INVALID, 0 },
        { "PT1X", -ERR_INVALID, 0 },
        { "PT1H ", -ERR_INVALID, 0 },
        { " PT1H", -ERR_INVALID, 0 },
        { "PT1 H", -ERR_INVALID, 0 },
        { "P1DT1H\0junk", 0, 90000000LL },
        /* Overflow: beyond TimeSpan.MaxValue, or beyond any int64. */
        { "P10675199DT2H48M5.4775808S", -ERR_INVALID, 0 },
        { "P10675200D", -ERR_INVALID, 0 },
        { "PT9223372036854775807S", -ERR_INVALID, 0 },
        { "PT9223372036854775808S", -ERR_INVALID, 0 },
        { "PT99999999999999999999999999H", -ERR_INVALID, 0 },
        { "P106751991167300D", -ERR_INVALID, 0 },
        { "P9223372036854775807D", -ERR_INVALID, 0 },
    };

    (void)state;
    run_time_table(cases, sizeof(cases) / sizeof(cases[0]),
                   timefmt_parse_duration);
    assert_int_equal(timefmt_parse_duration(NULL, &(int64_t){ 0 }),
                     -ERR_INVALID);
}

static void test_duration_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        { 0, "PT0S" },
        { -5, "PT0S" },
        { 1, "PT0.001S" },
        { 500, "PT0.5S" },
        { 1230, "PT1.23S" },
        { 15 * 60000LL, "PT15M" },
        { 7 * 86400000LL, "P7D" },
        { 93784500LL, "P1DT2H3M4.5S" },
        { 86400000LL + 1000, "P1DT1S" },
        { 3600000LL, "PT1H" },
        { 5405500LL, "PT1H30M5.5S" },
        { 922337203685476LL, "P10675199DT2H48M5.476S" },
        { 922337203685477LL, "P10675199DT2H48M5.4775807S" },
        { TIMEFMT_DURATION_INF, "P10675199DT2H48M5.4775807S" },
    };
    char out[48];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t back = -1;

        timefmt_duration(cases[i].ms, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
        /* Everything rendered parses back (negatives render as zero). */
        assert_int_equal(timefmt_parse_duration(out, &back), 0);
        if (cases[i].ms >= 0 && cases[i].ms < 922337203685477LL)
            assert_true(back == cases[i].ms);
    }
    /* A short buffer is truncated, never overrun. */
    {
        char small[5] = "xxxx";

        timefmt_duration(93784500LL, small, sizeof(small));
        assert_string_equal(small, "P1DT");
        timefmt_duration(93784500LL, small, 0);
        assert_string_equal(small, "P1DT");
    }
}

static void test_duration_inf_roundtrip(void **state)
{
    char out[48];
    int64_t ms = 0;

    (void)state;
    timefmt_duration(TIMEFMT_DURATION_INF, out, sizeof(out));
    assert_int_equal(timefmt_parse_duration(out, &ms), 0);
    assert_true(ms == TIMEFMT_DURATION_INF);
}

/*
 * The calendar arithmetic against the C library's gmtime_r, over the whole
 * supported range: random instants plus the edges, every day boundary
 * around them, and the parse of each formatted text back to its instant.
 */
static void test_calendar_vs_libc(void **state)
{
    static const char *days[] = { "Sun", "Mon", "Tue", "Wed",
                                  "Thu", "Fri", "Sat" };
    static const char *mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    const int64_t lo = MS_MIN, hi = MS_MAX;
    uint64_t x = 0x9e3779b97f4a7c15ull;

    (void)state;
    for (int i = 0; i < 200000; i++) {
        int64_t ms, back;
        time_t secs;
        struct tm tm;
        char got[TIMEFMT_RFC1123_LEN], want[64], iso[TIMEFMT_ISO_LEN];

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (i < 4)
            ms = (int64_t[]){ lo, hi, 0, -1 }[i];
        else if (i < 1000)
            ms = (int64_t)(i - 500) * 86400000 + (int64_t)(x % 3) - 1;
        else
            ms = lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
        secs = (time_t)((ms - (((ms % 1000) + 1000) % 1000)) / 1000);
        assert_non_null(gmtime_r(&secs, &tm));
        snprintf(want, sizeof(want), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        timefmt_rfc1123(ms, got);
        assert_string_equal(got, want);
        assert_int_equal(timefmt_parse_rfc1123(got, &back), 0);
        assert_int_equal(back, (int64_t)secs * 1000);
        timefmt_iso8601(ms, 3, iso);
        assert_int_equal(timefmt_parse_iso8601(iso, &back), 0);
        assert_int_equal(back, ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_rfc1123_format),
        cmocka_unit_test(test_rfc1123_parse_table),
        cmocka_unit_test(test_rfc850_century),
        cmocka_unit_test(test_rfc1123_roundtrip),
        cmocka_unit_test(test_calendar_vs_libc),
        cmocka_unit_test(test_iso8601_format),
        cmocka_unit_test(test_iso8601_parse_table),
        cmocka_unit_test(test_iso8601_roundtrip),
        cmocka_unit_test(test_duration_parse_table),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_duration_inf_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
