/*
 * blob_range.c: byte ranges of Get Blob (Range and x-ms-range).
 *
 * The service accepts "bytes=START-END" (END inclusive, clamped to the
 * blob) and "bytes=START-"; blob_api.c prefers x-ms-range over Range, as
 * the service does. A START at or past the end of the blob is 416
 * InvalidRange, so any range on an empty blob is too (Python's SDK relies
 * on that: its first ranged GET of an empty blob must fail, then it
 * retries without a range). Suffix ranges ("bytes=-N") and multi-range
 * requests are not supported by the service and are refused here.
 *
 * Pure and reentrant.
 */
#include "blob/blobint.h"

#include <string.h>

#include "core/err.h"

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parse a run of digits at *s into *out, advancing *s; false on overflow
 * or no digits. */
static bool number(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;

    if (!digit(*p))
        return false;
    while (digit(*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        p++;
    }
    *s = p;
    *out = v;
    return true;
}

int blob_range_parse(const char *s, struct blob_range *out)
{
    struct blob_range r = { false, 0, 0, false };

    if (!s) {
        *out = r;
        return 0;
    }
    if (strncmp(s, "bytes=", 6) != 0)
        return -ERR_INVALID;
    s += 6;
    if (!number(&s, &r.start) || *s != '-')
        return -ERR_INVALID;
    s++;
    if (*s == '\0') {
        r.open = true;
    } else {
        if (!number(&s, &r.end) || *s != '\0' || r.end < r.start)
            return -ERR_INVALID;
    }
    r.present = true;
    *out = r;
    return 0;
}

int blob_range_resolve(const struct blob_range *r, uint64_t size,
                       uint64_t *off_out, uint64_t *len_out, struct err *err)
{
    uint64_t end;

    if (!r->present) {
        *off_out = 0;
        *len_out = size;
        return 0;
    }
    if (r->start >= size)
        return err_set(err, ERR_RANGE, "InvalidRange",
                       "the range specified is invalid for the current size "
                       "of the resource");
    end = r->open || r->end >= size ? size - 1 : r->end;
    *off_out = r->start;
    *len_out = end - r->start + 1;
    return 0;
}
