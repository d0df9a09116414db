/*
 * sharedkey.c: storage SharedKey and SharedKeyLite (storage-wire.md §3).
 *
 * String-to-sign, SharedKey (13 lines, each but the last ending in '\n'):
 *
 *   VERB, Content-Encoding, Content-Language, Content-Length ("" when it
 *   is "0" or absent), Content-MD5, Content-Type, Date, If-Modified-Since,
 *   If-Match, If-None-Match, If-Unmodified-Since, Range,
 *   then the canonicalized x-ms-* headers ("name:value\n" each, names
 *   lower-cased, sorted), then the canonicalized resource.
 *
 * SharedKeyLite: VERB, Content-MD5, Content-Type, Date, the x-ms-* headers,
 * then "/account/path" plus "?comp=<value>" when comp is present.
 *
 * Canonicalized resource: "/" + account + the raw path as received (so a
 * path-style URL names the account twice: /devstoreaccount1/devstoreaccount1
 * /c/b), then for each query parameter sorted by lower-cased decoded name:
 * "\n" + name + ":" + decoded value; a repeated name gets one line with its
 * values sorted and joined by ','.
 *
 * Every value comes from the request as received: the method, the header
 * values (http_header), the raw path and raw query. Nothing is
 * re-serialised, so what the client signed is what we rebuild.
 *
 * Verification (sharedkey_verify): parse "SharedKey account:sig", match the
 * URL account, find the key pair, check the x-ms-date / Date window, then
 * try key 1 and key 2 against each tolerated variant until one matches:
 * header orders Python, byte, JS (only those that differ from an order
 * already tried), and, when both Content-Encoding and Content-Language are
 * present and differ, the JS swap of those two lines. The first variant is
 * what current SDKs produce, so the common case costs one string and at
 * most two HMACs. On failure the first variant's string is logged at
 * debug level.
 *
 * Reentrant; all memory is per call.
 */
#include "auth/authint.h"

#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "http/http.h"

#define SK_SCHEME_MAX 16

static const char *hdr(struct http_req *req, const char *name)
{
    const char *v = http_header(req, name);

    return v ? v : "";
}

static int cmp_name_value(const void *a, const void *b)
{
    const struct canon_pair *x = a;
    const struct canon_pair *y = b;
    int d = strcmp(x->name, y->name);

    return d ? d : strcmp(x->value, y->value);
}

/*
 * Parse the raw query with lower-cased names, sort by name then value and
 * merge repeated names into one value joined by ','.
 */
static int storage_query(struct http_req *req, struct canon_list *q)
{
    size_t i;
    size_t keep = 0;
    int rc;

    rc = canon_query(req->query, true, q);
    if (rc < 0)
        return rc;
    if (q->n > 1)
        qsort(q->v, q->n, sizeof(*q->v), cmp_name_value);
    for (i = 0; i < q->n; i++) {
        if (keep > 0 && strcmp(q->v[keep - 1].name, q->v[i].name) == 0) {
            char *joined =
                xasprintf("%s,%s", q->v[keep - 1].value, q->v[i].value);

            free(q->v[keep - 1].value);
            q->v[keep - 1].value = joined;
            free(q->v[i].name);
            free(q->v[i].value);
            continue;
        }
        q->v[keep++] = q->v[i];
    }
    q->n = keep;
    return 0;
}

static int build(struct http_req *req, const char *account, unsigned flags,
                 const struct canon_list *hdrs, const struct canon_list *q,
                 struct buf *out)
{
    const char *path = req->path && req->path[0] ? req->path : "/";
    const char *len = hdr(req, "Content-Length");
    bool swap = flags & SHAREDKEY_SWAP_CE_CL;
    size_t i;
    int rc;

    buf_reset(out);
    if (strcmp(len, "0") == 0)
        len = "";
    if (flags & SHAREDKEY_LITE) {
        rc = buf_addf(out, "%s\n%s\n%s\n%s\n", req->method,
                      hdr(req, "Content-MD5"), hdr(req, "Content-Type"),
                      hdr(req, "Date"));
    } else {
        rc = buf_addf(out, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n",
                      req->method,
                      hdr(req, swap ? "Content-Language" : "Content-Encoding"),
                      hdr(req, swap ? "Content-Encoding" : "Content-Language"),
                      len, hdr(req, "Content-MD5"), hdr(req, "Content-Type"),
                      hdr(req, "Date"), hdr(req, "If-Modified-Since"),
                      hdr(req, "If-Match"), hdr(req, "If-None-Match"),
                      hdr(req, "If-Unmodified-Since"), hdr(req, "Range"));
    }
    for (i = 0; rc == 0 && i < hdrs->n; i++)
        rc = buf_addf(out, "%s:%s\n", hdrs->v[i].name, hdrs->v[i].value);
    if (rc == 0)
        rc = buf_addf(out, "/%s%s", account, path);
    if (flags & SHAREDKEY_LITE) {
        for (i = 0; rc == 0 && i < q->n; i++) {
            if (strcmp(q->v[i].name, "comp") == 0)
                rc = buf_addf(out, "?comp=%s", q->v[i].value);
        }
    } else {
        for (i = 0; rc == 0 && i < q->n; i++)
            rc = buf_addf(out, "\n%s:%s", q->v[i].name, q->v[i].value);
    }
    return rc;
}

int sharedkey_string_to_sign(struct http_req *req, const char *account,
                             unsigned flags, enum canon_order order,
                             struct buf *out)
{
    struct canon_list hdrs = CANON_LIST_INIT;
    struct canon_list q = CANON_LIST_INIT;
    int rc;

    rc = canon_headers(req, "x-ms-", false, &hdrs);
    if (rc == 0)
        rc = storage_query(req, &q);
    if (rc == 0) {
        canon_sort(&hdrs, order);
        rc = build(req, account, flags, &hdrs, &q, out);
    }
    canon_list_release(&q);
    canon_list_release(&hdrs);
    return rc;
}

/* Map a failure to build the string (not a signature failure) to err. */
static int build_error(int rc, struct err *err)
{
    if (rc == -ERR_NOMEM)
        return err_set(err, ERR_NOMEM, "InternalError", "out of memory");
    if (rc == -ERR_TOOBIG)
        return err_set(err, ERR_INVALID, "InvalidHeaderValue",
                       "request headers too large to authenticate");
    return err_set(err, ERR_INVALID, "InvalidQueryParameterValue",
                   "malformed percent-encoding in the query string");
}

/* The x-ms-date (or Date) window. */
static int check_date(const struct auth *a, struct http_req *req,
                      struct err *err)
{
    const char *date = http_header(req, "x-ms-date");
    int64_t when;
    int64_t now;

    if (!date)
        date = http_header(req, "Date");
    if (!date || !date[0])
        return auth_fail(err, "AuthenticationFailed",
                         "Request date header not specified.",
                         "request date header not specified");
    if (timefmt_parse_rfc1123(date, &when) < 0)
        return auth_fail(err, "AuthenticationFailed",
                         "The request date header is not a valid RFC 1123 "
                         "date.",
                         "request date header is malformed");
    if (a->skew_ms <= 0)
        return 0;
    now = timefmt_now_ms();
    if (when < now - a->skew_ms)
        return auth_fail(err, "AuthenticationFailed",
                         "Request date header too old.",
                         "request date header too old");
    if (when > now + a->skew_ms)
        return auth_fail(err, "AuthenticationFailed",
                         "Request date header too far in the future.",
                         "request date header too far in the future");
    return 0;
}

/* Whether the current order of hdrs equals one already tried. */
static bool order_seen(const struct canon_list *hdrs, const size_t *seen,
                       int nseen)
{
    int k;
    size_t i;

    for (k = 0; k < nseen; k++) {
        const size_t *s = seen + (size_t)k * hdrs->n;

        for (i = 0; i < hdrs->n; i++) {
            if (s[i] != hdrs->v[i].idx)
                break;
        }
        if (i == hdrs->n)
            return true;
    }
    return false;
}

int sharedkey_verify(const struct auth *a, struct http_req *req,
                     const char *authz, const char *account,
                     struct auth_result *out, struct err *err)
{
    struct canon_list hdrs = CANON_LIST_INIT;
    struct canon_list q = CANON_LIST_INIT;
    struct buf sts = BUF_INIT;
    struct buf first = BUF_INIT;
    unsigned char mac[AUTH_MAC_LEN];
    char scheme[SK_SCHEME_MAX];
    char name[AUTH_NAME_MAX];
    const struct account *acct;
    const char *sig;
    size_t *seen = NULL;
    size_t bytes;
    unsigned flags = 0;
    int nswap = 1;
    int swap;
    int order;
    int rc;

    if (auth_parse_header(authz, scheme, sizeof(scheme), name, sizeof(name),
                          &sig) < 0)
        return auth_fail(err, "InvalidAuthenticationInfo", NULL,
                         "authorization header is malformed");
    if (strcmp(scheme, "SharedKeyLite") == 0)
        flags |= SHAREDKEY_LITE;
    else if (strcmp(scheme, "SharedKey") != 0)
        return auth_fail(err, "InvalidAuthenticationInfo", NULL,
                         "authorization scheme is not supported");
    if (auth_decode_sig(sig, mac) < 0)
        return auth_fail(err, "InvalidAuthenticationInfo", NULL,
                         "authorization signature is not a base64 mac");
    if (!account || strcmp(name, account) != 0)
        return auth_fail(err, "AuthenticationFailed",
                         "The account in the Authorization header does not "
                         "match the account in the request URL.",
                         "authorization account does not match the url");
    acct = auth_find(a, name);
    if (!acct)
        return auth_fail(err, "AuthenticationFailed",
                         "The account is not known to this server.",
                         "unknown account");
    rc = check_date(a, req, err);
    if (rc < 0)
        return rc;

    buf_init(&sts, AUTH_STS_MAX);
    buf_init(&first, AUTH_STS_MAX);
    rc = canon_headers(req, "x-ms-", false, &hdrs);
    if (rc == 0)
        rc = storage_query(req, &q);
    if (rc < 0) {
        rc = build_error(rc, err);
        goto out;
    }
    if (!size_mul(hdrs.n ? hdrs.n : 1, CANON_ORDER_COUNT, &bytes) ||
        !size_mul(bytes, sizeof(*seen), &bytes)) {
        rc = build_error(-ERR_NOMEM, err);
        goto out;
    }
    seen = xmalloc(bytes);

    /*
     * The swap only changes anything when both headers are present and
     * differ; SharedKeyLite signs neither.
     */
    if (!(flags & SHAREDKEY_LITE) && http_header(req, "Content-Encoding") &&
        http_header(req, "Content-Language") &&
        strcmp(hdr(req, "Content-Encoding"), hdr(req, "Content-Language")) != 0)
        nswap = 2;
    for (swap = 0; swap < nswap; swap++) {
        int nseen = 0;

        for (order = 0; order < CANON_ORDER_COUNT; order++) {
            size_t i;

            canon_sort(&hdrs, (enum canon_order)order);
            if (order_seen(&hdrs, seen, nseen))
                continue;
            for (i = 0; i < hdrs.n; i++)
                seen[(size_t)nseen * hdrs.n + i] = hdrs.v[i].idx;
            nseen++;
            rc = build(req, account, flags | (swap ? SHAREDKEY_SWAP_CE_CL : 0),
                       &hdrs, &q, &sts);
            if (rc < 0) {
                rc = build_error(rc, err);
                goto out;
            }
            if (first.len == 0) {
                rc = buf_add(&first, sts.data, sts.len);
                if (rc < 0) {
                    rc = build_error(rc, err);
                    goto out;
                }
            }
            if (auth_match(acct, &sts, mac)) {
                out->kind = AUTH_SHAREDKEY;
                out->acct = acct;
                rc = 0;
                goto out;
            }
        }
    }
    auth_log_sts(flags & SHAREDKEY_LITE ? "sharedkeylite" : "sharedkey",
                 &first);
    rc = auth_fail(err, "AuthenticationFailed",
                   "The MAC signature found in the HTTP request is not the "
                   "same as any computed signature.",
                   "signature did not match");
out:
    free(seen);
    buf_release(&first);
    buf_release(&sts);
    canon_list_release(&q);
    canon_list_release(&hdrs);
    return rc;
}
