/*
 * blob_cond.c: conditional requests (If-Match, If-None-Match,
 * If-Modified-Since, If-Unmodified-Since) on blobs and containers.
 *
 * ETags are a 64-bit counter (blob_store_etag) on the wire as "0x<HEX>",
 * quoted in headers: the same shape as the service's "0x8DD..." (our
 * counter starts at the current .NET tick count, so values look alike).
 * A header may list several etags separated by commas, quoted or not, with
 * or without W/; "*" matches any existing resource.
 *
 * Evaluation follows RFC 9110 §13.2.2, which is also what the service
 * does:
 *
 *   1. If-Match present: the resource must exist and match, else 412.
 *   2. else If-Unmodified-Since: modified after the date -> 412.
 *   3. If-None-Match present: a match (or "*" and existing) -> 304 for
 *      reads, 412 for writes.
 *   4. else If-Modified-Since: not modified after the date -> 304 for
 *      reads, 412 for writes.
 *
 * Dates are compared in whole seconds (Last-Modified has no fraction).
 * The storage twist, If-None-Match: * on a Put Blob over an existing blob
 * being 409 BlobAlreadyExists, is applied by the caller (blob_object.c).
 *
 * Pure and reentrant; the struct borrows the header strings.
 */
#include "blob/blobint.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/timefmt.h"

void blob_cond_etag(uint64_t etag, char out[24])
{
    snprintf(out, 24, "\"0x%llX\"", (unsigned long long)etag);
}

static int bad_date(struct err *err, const char *header, const char *value)
{
    err_set(err, ERR_INVALID, "InvalidHeaderValue",
            "the value of header '%s' is not a valid date", header);
    err_add_detail(err, "HeaderName", header);
    err_add_detail(err, "HeaderValue", value);
    return -ERR_INVALID;
}

int blob_cond_parse(const char *if_match, const char *if_none_match,
                    const char *ims, const char *ius, struct blob_cond *c,
                    struct err *err)
{
    memset(c, 0, sizeof(*c));
    c->if_match = if_match;
    c->if_none_match = if_none_match;
    if (ims) {
        if (timefmt_parse_rfc1123(ims, &c->ims_ms) < 0)
            return bad_date(err, "If-Modified-Since", ims);
        c->has_ims = true;
    }
    if (ius) {
        if (timefmt_parse_rfc1123(ius, &c->ius_ms) < 0)
            return bad_date(err, "If-Unmodified-Since", ius);
        c->has_ius = true;
    }
    return 0;
}

bool blob_cond_any(const struct blob_cond *c)
{
    return c && (c->if_match || c->if_none_match || c->has_ims || c->has_ius);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Whether the list in header matches etag (or "*" with exists). */
static bool list_matches(const char *header, bool exists, uint64_t etag)
{
    char want[24];
    const char *w;
    size_t wl;
    const char *s = header;

    blob_cond_etag(etag, want);
    w = want + 1; /* without the quotes */
    wl = strlen(w) - 1;
    while (*s) {
        const char *end;
        size_t n;

        while (is_space(*s) || *s == ',')
            s++;
        if (!*s)
            break;
        end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        n = (size_t)(end - s);
        while (n > 0 && is_space(s[n - 1]))
            n--;
        if (n == 1 && s[0] == '*') {
            if (exists)
                return true;
        } else if (exists) {
            if (n >= 2 && s[0] == 'W' && s[1] == '/') {
                s += 2;
                n -= 2;
            }
            if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
                s++;
                n -= 2;
            }
            if (n == wl && strncasecmp(s, w, n) == 0)
                return true;
        }
        s = end;
    }
    return false;
}

bool blob_cond_none_star(const struct blob_cond *c)
{
    const char *s;
    size_t n;

    if (!c || !c->if_none_match)
        return false;
    s = c->if_none_match;
    while (is_space(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        n--;
    return n == 1 && s[0] == '*';
}

static int not_met(struct err *err)
{
    return err_set(err, ERR_PRECONDITION, "ConditionNotMet",
                   "the condition specified using http conditional "
                   "header(s) is not met");
}

static int not_modified(struct err *err)
{
    return err_set(err, ERR_NOT_MODIFIED, "ConditionNotMet",
                   "the condition specified using http conditional "
                   "header(s) is not met");
}

int blob_cond_eval(const struct blob_cond *c, bool is_read, bool exists,
                   uint64_t etag, int64_t mtime_ms, struct err *err)
{
    int64_t mtime_s = mtime_ms / 1000;

    if (!c)
        return 0;
    if (c->if_match) {
        if (!list_matches(c->if_match, exists, etag))
            return not_met(err);
    } else if (c->has_ius && exists) {
        if (mtime_s > c->ius_ms / 1000)
            return not_met(err);
    }
    if (c->if_none_match) {
        if (list_matches(c->if_none_match, exists, etag))
            return is_read ? not_modified(err) : not_met(err);
    } else if (c->has_ims && exists) {
        if (mtime_s <= c->ims_ms / 1000)
            return is_read ? not_modified(err) : not_met(err);
    }
    return 0;
}
