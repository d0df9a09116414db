/*
 * parse.c: range-checked number parsing and ASCII string predicates.
 *
 * Everything here reads outside input (query parameters, headers, config
 * values), so the rules are strict and locale-free: a number is the whole
 * string, decimal digits only, with an optional leading '-' for signed
 * values; no spaces, no '+', no hex, no empty string. Leading zeros are
 * accepted ("007" is 7), as .NET's int parsing accepts them. Overflow is
 * detected digit by digit before it happens, so no input can wrap.
 *
 * The string helpers compare ASCII case-insensitively by hand instead of
 * calling strcasecmp, whose answer depends on the locale.
 *
 * No state; every function is thread-safe. Nothing allocates.
 */
#include "core/parse.h"

#include <string.h>

#include "core/err.h"

/* Lowercase an ASCII letter; leave every other byte alone. */
static unsigned char lower(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned char)(c - 'A' + 'a');
    return c;
}

/*
 * Parse the digits of s as an unsigned magnitude no greater than limit.
 * Returns 0 or -ERR_INVALID (no digits, a non-digit, or above limit).
 */
static int parse_digits(const char *s, uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return -ERR_INVALID;
    for (; *s; s++) {
        unsigned d;

        if (*s < '0' || *s > '9')
            return -ERR_INVALID;
        d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10)
            return -ERR_INVALID;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;

    if (s == NULL)
        return -ERR_INVALID;
    if (parse_digits(s, UINT64_MAX, &v) < 0)
        return -ERR_INVALID;
    if (v < min || v > max)
        return -ERR_INVALID;
    *out = v;
    return 0;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    uint64_t mag;
    int64_t v;

    if (s == NULL)
        return -ERR_INVALID;
    if (*s == '-') {
        /* The magnitude of INT64_MIN is INT64_MAX + 1. */
        if (parse_digits(s + 1, (uint64_t)INT64_MAX + 1, &mag) < 0)
            return -ERR_INVALID;
        if (mag == (uint64_t)INT64_MAX + 1)
            v = INT64_MIN;
        else
            v = -(int64_t)mag;
    } else {
        if (parse_digits(s, (uint64_t)INT64_MAX, &mag) < 0)
            return -ERR_INVALID;
        v = (int64_t)mag;
    }
    if (v < min || v > max)
        return -ERR_INVALID;
    *out = v;
    return 0;
}

int parse_bool(const char *s, bool *out)
{
    if (s == NULL)
        return -ERR_INVALID;
    if (str_ieq(s, "true")) {
        *out = true;
        return 0;
    }
    if (str_ieq(s, "false")) {
        *out = false;
        return 0;
    }
    return -ERR_INVALID;
}

bool str_ieq(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;

    for (; *p && *q; p++, q++) {
        if (lower(*p) != lower(*q))
            return false;
    }
    return *p == *q;
}

bool str_iprefix(const char *s, const char *prefix)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *q = (const unsigned char *)prefix;

    for (; *q; p++, q++) {
        if (*p == '\0' || lower(*p) != lower(*q))
            return false;
    }
    return true;
}

bool str_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);

    return strncmp(s, prefix, n) == 0;
}
