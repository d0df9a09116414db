/*
 * timefmt.c: clocks, and the text forms of times the wire protocols use.
 *
 * A time is int64 milliseconds since the Unix epoch, UTC. Conversion to and
 * from calendar fields is day arithmetic on the proleptic Gregorian
 * calendar (days_from_civil, civil_from_days), not gmtime_r and timegm:
 * glibc takes a process-wide lock in both, and every reply formats a Date. Parsers accept only years 1601..9999 (the
 * range .NET's DateTime and Windows FILETIME share, which is what Azure
 * validates against); formatters clamp their input into the same range, so
 * their output always has a four-digit year and fits the declared sizes.
 *
 * Formats:
 *
 *   RFC 1123   "Sun, 06 Nov 1994 08:49:37 GMT"   (x-ms-date, Last-Modified)
 *   RFC 850    "Sunday, 06-Nov-94 08:49:37 GMT"  (parse only, HTTP/1.1)
 *   asctime    "Sun Nov  6 08:49:37 1994"        (parse only, HTTP/1.1)
 *   ISO 8601   "2020-11-24T18:55:14.6103234Z"    (Batch, SAS st/se)
 *   duration   "P1DT2H3M4.5S"                    (Batch constraints)
 *
 * The parsers are hand-written cursors over a NUL-terminated string: every
 * step checks the next byte before moving, so none reads past the NUL, and
 * the whole string must be consumed. Month and weekday names match ASCII
 * case-insensitively; the weekday is not checked against the date. A
 * two-digit RFC 850 year is placed in the century that puts it no more than
 * 50 years in the future (RFC 9110 section 5.6.7). Seconds run 00..59: .NET,
 * and therefore Azure, refuses a leap second, and so do we.
 *
 * Durations are computed in .NET ticks (100 ns) so that TimeSpan.MaxValue,
 * "P10675199DT2H48M5.4775807S" = INT64_MAX ticks, is recognised exactly. Any
 * duration from INT64_MAX ticks rounded down to whole ms upwards maps to
 * TIMEFMT_DURATION_INF; anything beyond INT64_MAX ticks is invalid, as it is
 * for .NET. Years, months and weeks are refused (their length in ms is not
 * fixed, and Batch never sends them), as are negative durations and
 * fractions on anything but seconds.
 *
 * No state; every function is thread-safe.
 */
#include "core/timefmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

/* 1601-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z. */
#define TIMEFMT_MIN_MS (-11644473600000LL)
#define TIMEFMT_MAX_MS 253402300799999LL

#define TICKS_PER_MS    10000ULL
#define DURATION_INF_MS ((uint64_t)INT64_MAX / TICKS_PER_MS)

static const char *const wday_short[7] = { "Sun", "Mon", "Tue", "Wed",
                                           "Thu", "Fri", "Sat" };
static const char *const wday_long[7] = { "Sunday",    "Monday",   "Tuesday",
                                          "Wednesday", "Thursday", "Friday",
                                          "Saturday" };
static const char *const month_short[12] = { "Jan", "Feb", "Mar", "Apr",
                                             "May", "Jun", "Jul", "Aug",
                                             "Sep", "Oct", "Nov", "Dec" };

static const char duration_max_str[] = "P10675199DT2H48M5.4775807S";

int64_t timefmt_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t timefmt_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Days since 1970-01-01 of year y, month m (1..12), day d, and back. A
 * year is counted from March, so the leap day ends it; 400-year eras of
 * 146097 days repeat exactly.
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/*
 * Split ms (clamped to the supported range) into calendar fields and the
 * millisecond remainder.
 */
static void split_ms(int64_t ms, struct tm *tm, int *msec)
{
    int64_t secs, days, sod;
    int y, m, d;

    if (ms < TIMEFMT_MIN_MS)
        ms = TIMEFMT_MIN_MS;
    if (ms > TIMEFMT_MAX_MS)
        ms = TIMEFMT_MAX_MS;
    *msec = (int)(((ms % 1000) + 1000) % 1000);
    secs = (ms - *msec) / 1000;
    days = (secs >= 0 ? secs : secs - 86399) / 86400;
    sod = secs - days * 86400;
    civil_from_days(days, &y, &m, &d);
    memset(tm, 0, sizeof(*tm));
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    tm->tm_hour = (int)(sod / 3600);
    tm->tm_min = (int)(sod / 60 % 60);
    tm->tm_sec = (int)(sod % 60);
    tm->tm_wday = (int)(((days + 4) % 7 + 7) % 7); /* 1970-01-01: Thursday */
    tm->tm_yday = (int)(days - days_from_civil(y, 1, 1));
}

void timefmt_rfc1123(int64_t ms, char out[TIMEFMT_RFC1123_LEN])
{
    struct tm tm;
    int msec;

    split_ms(ms, &tm, &msec);
    snprintf(out, TIMEFMT_RFC1123_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             wday_short[tm.tm_wday % 7], tm.tm_mday % 100,
             month_short[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000,
             tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
}

void timefmt_iso8601(int64_t ms, int frac_digits, char out[TIMEFMT_ISO_LEN])
{
    struct tm tm;
    char frac[9] = "";
    int msec;

    split_ms(ms, &tm, &msec);
    if (frac_digits > 7)
        frac_digits = 7;
    if (frac_digits > 0) {
        char digits[8];
        int i;

        /* Three real digits, then zeros: ms is all the precision we keep. */
        snprintf(digits, sizeof(digits), "%03u0000", (unsigned)msec % 1000u);
        frac[0] = '.';
        for (i = 0; i < frac_digits; i++)
            frac[i + 1] = digits[i];
        frac[frac_digits + 1] = '\0';
    }
    snprintf(out, TIMEFMT_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, frac);
}

/* ---- parsing helpers: a cursor that never steps over the NUL ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (char)(c - 'A' + 'a');
    return c;
}

/* Consume exactly n digits (n <= 9) into *out. */
static bool take_digits(const char **sp, int n, int *out)
{
    const char *s = *sp;
    int v = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *sp = s + n;
    *out = v;
    return true;
}

/* Consume one or two digits. */
static bool take_1or2_digits(const char **sp, int *out)
{
    if (!is_digit((*sp)[0]))
        return false;
    return take_digits(sp, is_digit((*sp)[1]) ? 2 : 1, out);
}

static bool take_char(const char **sp, char c)
{
    if (**sp != c)
        return false;
    (*sp)++;
    return true;
}

/* Consume word (ASCII case-insensitive) if s starts with it. */
static bool take_word(const char **sp, const char *word)
{
    const char *s = *sp;
    size_t i;

    for (i = 0; word[i]; i++) {
        if (s[i] == '\0' || lower(s[i]) != lower(word[i]))
            return false;
    }
    *sp = s + i;
    return true;
}

/* Consume a three-letter month name; *mon is 0..11. */
static bool take_month(const char **sp, int *mon)
{
    int i;

    for (i = 0; i < 12; i++) {
        if (take_word(sp, month_short[i])) {
            *mon = i;
            return true;
        }
    }
    return false;
}

/* Consume one of the seven weekday names in names. */
static bool take_wday(const char **sp, const char *const names[7])
{
    int i;

    for (i = 0; i < 7; i++) {
        if (take_word(sp, names[i]))
            return true;
    }
    return false;
}

/* "hh:mm:ss" */
static bool take_hms(const char **sp, int *h, int *m, int *s)
{
    return take_digits(sp, 2, h) && take_char(sp, ':') &&
           take_digits(sp, 2, m) && take_char(sp, ':') && take_digits(sp, 2, s);
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int mon)
{
    static const int days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (mon == 1 && is_leap(y))
        return 29;
    return days[mon];
}

/*
 * Validate calendar fields (mon 0..11) and turn them into ms since the
 * epoch. Returns 0 or -ERR_INVALID.
 */
static int fields_to_ms(int year, int mon, int mday, int hour, int min, int sec,
                        int msec, int64_t *ms_out)
{
    int64_t secs;

    if (year < 1601 || year > 9999 || mon < 0 || mon > 11 || mday < 1 ||
        mday > days_in_month(year, mon) || hour > 23 || min > 59 || sec > 59)
        return -ERR_INVALID;
    secs = days_from_civil(year, mon + 1, mday) * 86400 + hour * 3600 +
           min * 60 + sec;
    *ms_out = secs * 1000 + msec;
    return 0;
}

/* Current UTC year, for two-digit RFC 850 years. */
static int current_year(void)
{
    struct tm tm;
    int msec;

    split_ms(timefmt_now_ms(), &tm, &msec);
    return tm.tm_year + 1900;
}

int timefmt_parse_rfc1123(const char *s, int64_t *ms_out)
{
    int year = 0, mon = 0, mday = 0, hour = 0, min = 0, sec = 0;
    const char *p = s;

    if (s == NULL)
        return -ERR_INVALID;
    if (take_wday(&p, wday_long)) {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        int yy;
        int now;

        if (!(take_char(&p, ',') && take_char(&p, ' ') &&
              take_digits(&p, 2, &mday) && take_char(&p, '-') &&
              take_month(&p, &mon) && take_char(&p, '-') &&
              take_digits(&p, 2, &yy) && take_char(&p, ' ') &&
              take_hms(&p, &hour, &min, &sec) && take_char(&p, ' ') &&
              take_word(&p, "GMT")))
            return -ERR_INVALID;
        now = current_year();
        year = now - now % 100 + yy;
        if (year > now + 50)
            year -= 100;
    } else if (take_wday(&p, wday_short)) {
        if (take_char(&p, ',')) {
            /* RFC 1123: "Sun, 06 Nov 1994 08:49:37 GMT" */
            if (!(take_char(&p, ' ') && take_1or2_digits(&p, &mday) &&
                  take_char(&p, ' ') && take_month(&p, &mon) &&
                  take_char(&p, ' ') && take_digits(&p, 4, &year) &&
                  take_char(&p, ' ') && take_hms(&p, &hour, &min, &sec) &&
                  take_char(&p, ' ') && take_word(&p, "GMT")))
                return -ERR_INVALID;
        } else {
            /* asctime: "Sun Nov  6 08:49:37 1994" */
            if (!(take_char(&p, ' ') && take_month(&p, &mon) &&
                  take_char(&p, ' ')))
                return -ERR_INVALID;
            (void)take_char(&p, ' '); /* space-padded day */
            if (!(take_1or2_digits(&p, &mday) && take_char(&p, ' ') &&
                  take_hms(&p, &hour, &min, &sec) && take_char(&p, ' ') &&
                  take_digits(&p, 4, &year)))
                return -ERR_INVALID;
        }
    } else {
        return -ERR_INVALID;
    }
    if (*p != '\0')
        return -ERR_INVALID;
    return fields_to_ms(year, mon, mday, hour, min, sec, 0, ms_out);
}

int timefmt_parse_iso8601(const char *s, int64_t *ms_out)
{
    int year = 0, mon = 0, mday = 0, hour = 0, min = 0, sec = 0, msec = 0;
    int64_t offset_ms = 0;
    int64_t ms;
    const char *p = s;

    if (s == NULL)
        return -ERR_INVALID;
    if (!(take_digits(&p, 4, &year) && take_char(&p, '-') &&
          take_digits(&p, 2, &mon) && take_char(&p, '-') &&
          take_digits(&p, 2, &mday)))
        return -ERR_INVALID;
    if (*p != '\0') {
        if (!(take_char(&p, 'T') && take_digits(&p, 2, &hour) &&
              take_char(&p, ':') && take_digits(&p, 2, &min)))
            return -ERR_INVALID;
        if (take_char(&p, ':')) {
            if (!take_digits(&p, 2, &sec))
                return -ERR_INVALID;
            if (take_char(&p, '.')) {
                int n = 0;

                if (!is_digit(*p))
                    return -ERR_INVALID;
                /* Keep three digits; the rest are below our precision. */
                for (; is_digit(*p); p++, n++) {
                    if (n < 3)
                        msec = msec * 10 + (*p - '0');
                }
                for (; n < 3; n++)
                    msec *= 10;
            }
        }
        if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            int oh = 0;
            int om = 0;

            p++;
            if (!(take_digits(&p, 2, &oh) && take_char(&p, ':') &&
                  take_digits(&p, 2, &om)) ||
                oh > 23 || om > 59)
                return -ERR_INVALID;
            offset_ms = sign * ((int64_t)oh * 3600000 + (int64_t)om * 60000);
        } else {
            (void)take_char(&p, 'Z');
        }
        if (*p != '\0')
            return -ERR_INVALID;
    }
    if (fields_to_ms(year, mon - 1, mday, hour, min, sec, msec, &ms) < 0)
        return -ERR_INVALID;
    /* Local time = UTC + offset, so UTC = local - offset. */
    ms -= offset_ms;
    if (ms < TIMEFMT_MIN_MS || ms > TIMEFMT_MAX_MS)
        return -ERR_INVALID;
    *ms_out = ms;
    return 0;
}

/*
 * Read an unsigned decimal (at least one digit) without overflowing.
 * Values past INT64_MAX are refused: no component can be that large.
 */
static bool take_u64(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;

    if (!is_digit(*s))
        return false;
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');

        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *sp = s;
    *out = v;
    return true;
}

/* *acc += v * mul, refusing anything past INT64_MAX. */
static bool add_scaled(uint64_t *acc, uint64_t v, uint64_t mul)
{
    uint64_t limit = (uint64_t)INT64_MAX;

    if (v != 0 && v > limit / mul)
        return false;
    v *= mul;
    if (v > limit - *acc)
        return false;
    *acc += v;
    return true;
}

int timefmt_parse_duration(const char *s, int64_t *ms_out)
{
    static const uint64_t unit_ticks[3] = {
        3600ULL * 10000000ULL, /* H */
        60ULL * 10000000ULL,   /* M */
        10000000ULL,           /* S */
    };
    static const char units[] = "HMS";
    const char *p = s;
    uint64_t ticks = 0;
    uint64_t v;
    bool any = false;

    if (s == NULL || !take_char(&p, 'P'))
        return -ERR_INVALID;
    if (*p != 'T' && *p != '\0') {
        /* The date part: only days are allowed. */
        if (!take_u64(&p, &v) || !take_char(&p, 'D') ||
            !add_scaled(&ticks, v, 86400ULL * 10000000ULL))
            return -ERR_INVALID;
        any = true;
    }
    if (take_char(&p, 'T')) {
        int next = 0; /* index into units: H, M and S, in that order */
        bool any_time = false;

        while (*p != '\0') {
            uint64_t frac = 0;
            bool has_frac = false;
            const char *u;

            if (!take_u64(&p, &v))
                return -ERR_INVALID;
            if (take_char(&p, '.')) {
                int n = 0;

                if (!is_digit(*p))
                    return -ERR_INVALID;
                /* Seven digits are ticks; further ones are dropped. */
                for (; is_digit(*p); p++, n++) {
                    if (n < 7)
                        frac = frac * 10 + (uint64_t)(*p - '0');
                }
                for (; n < 7; n++)
                    frac *= 10;
                has_frac = true;
            }
            u = *p != '\0' ? strchr(units, *p) : NULL;
            if (u == NULL || u - units < next)
                return -ERR_INVALID;
            next = (int)(u - units);
            if (has_frac && *u != 'S')
                return -ERR_INVALID;
            if (!add_scaled(&ticks, v, unit_ticks[next]) ||
                !add_scaled(&ticks, frac, 1))
                return -ERR_INVALID;
            next++;
            p++;
            any_time = true;
        }
        if (!any_time)
            return -ERR_INVALID;
        any = true;
    }
    if (*p != '\0' || !any)
        return -ERR_INVALID;
    if (ticks / TICKS_PER_MS >= DURATION_INF_MS)
        *ms_out = TIMEFMT_DURATION_INF;
    else
        *ms_out = (int64_t)(ticks / TICKS_PER_MS);
    return 0;
}

void timefmt_duration(int64_t ms, char *out, size_t outlen)
{
    char tmp[64];
    size_t n = 0;
    int64_t days, hours, mins, secs, msec;

    if (outlen == 0)
        return;
    if (ms >= (int64_t)DURATION_INF_MS) {
        snprintf(out, outlen, "%s", duration_max_str);
        return;
    }
    if (ms < 0)
        ms = 0;
    days = ms / 86400000;
    hours = ms / 3600000 % 24;
    mins = ms / 60000 % 60;
    secs = ms / 1000 % 60;
    msec = ms % 1000;

    tmp[n++] = 'P';
    if (days > 0)
        n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%lldD",
                              (long long)days);
    if (hours > 0 || mins > 0 || secs > 0 || msec > 0 || days == 0) {
        tmp[n++] = 'T';
        if (hours > 0)
            n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%lldH",
                                  (long long)hours);
        if (mins > 0)
            n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%lldM",
                                  (long long)mins);
        if (secs > 0 || msec > 0 || (days == 0 && hours == 0 && mins == 0)) {
            n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%lld",
                                  (long long)secs);
            if (msec > 0) {
                char frac[8];
                int len;

                /* Trailing zeros dropped, as .NET's XmlConvert does. */
                len = snprintf(frac, sizeof(frac), "%03lld", (long long)msec);
                while (len > 0 && frac[len - 1] == '0')
                    len--;
                frac[len] = '\0';
                n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, ".%s", frac);
            }
            tmp[n++] = 'S';
        }
    }
    tmp[n] = '\0';
    snprintf(out, outlen, "%s", tmp);
}
