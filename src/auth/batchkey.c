/*
 * batchkey.c: Batch SharedKey (batch-wire.md §5).
 *
 * String-to-sign: twelve lines, each ending in '\n':
 *
 *   VERB, Content-Encoding, Content-Language, Content-Length (as sent),
 *   Content-MD5, Content-Type (raw), Date (empty when ocp-date is present),
 *   If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range
 *
 * then every ocp-* header with a non-empty value ("name:value\n", names
 * lower-cased, byte order), then "/" + account + the raw path, then one
 * "\n" + name + ":" + value per query parameter, names and values decoded
 * (%XX), names as sent, byte order, the first value of a repeated name.
 *
 * The account comes from the Authorization header, never from the URL.
 *
 * Client variants tolerated (batch-wire.md §5.3), tried after the plain
 * form, in every combination that applies to the request:
 *
 *   BATCHKEY_CL_FLIP     body empty: Python signs "0" on POST/PUT/PATCH/
 *                        DELETE, JS "0" on POST only, others ""; we see
 *                        the header (or not) and flip "" <-> "0"
 *   BATCHKEY_DROP_BLANK  Python's parse_qs drops blank query values
 *   BATCHKEY_SIGN_DATE   a client that sets Date as well as ocp-date and
 *                        signs it (none of the SDKs; cheap to allow)
 *
 * At most eight strings and sixteen HMACs for a request no client signed;
 * the common case is one string and one HMAC. The ocp-date (or Date) must
 * be within the configured skew of our clock.
 *
 * Reentrant; all memory is per call.
 */
#include "auth/authint.h"

#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "http/http.h"

#define BK_SCHEME_MAX 16

static const char *hdr(struct http_req *req, const char *name)
{
    const char *v = http_header(req, name);

    return v ? v : "";
}

/* Whether the raw query has a parameter with an empty value. */
static bool has_blank_param(const struct canon_list *q)
{
    size_t i;

    for (i = 0; i < q->n; i++) {
        if (q->v[i].value[0] == '\0')
            return true;
    }
    return false;
}

static int build(struct http_req *req, const char *account, unsigned flags,
                 const struct canon_list *ocp, const struct canon_list *q,
                 struct buf *out)
{
    const char *path = req->path && req->path[0] ? req->path : "/";
    const char *len = hdr(req, "Content-Length");
    const char *date = hdr(req, "Date");
    const char *last = NULL;
    size_t i;
    int rc;

    buf_reset(out);
    if (flags & BATCHKEY_CL_FLIP)
        len = len[0] == '\0' ? "0" : strcmp(len, "0") == 0 ? "" : len;
    if (http_header(req, "ocp-date") && !(flags & BATCHKEY_SIGN_DATE))
        date = "";
    rc = buf_addf(out, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n",
                  req->method, hdr(req, "Content-Encoding"),
                  hdr(req, "Content-Language"), len, hdr(req, "Content-MD5"),
                  hdr(req, "Content-Type"), date, hdr(req, "If-Modified-Since"),
                  hdr(req, "If-Match"), hdr(req, "If-None-Match"),
                  hdr(req, "If-Unmodified-Since"), hdr(req, "Range"));
    for (i = 0; rc == 0 && i < ocp->n; i++)
        rc = buf_addf(out, "%s:%s\n", ocp->v[i].name, ocp->v[i].value);
    if (rc == 0)
        rc = buf_addf(out, "/%s%s", account, path);
    /* q is sorted by name, then arrival: the first of a name wins. */
    for (i = 0; rc == 0 && i < q->n; i++) {
        const struct canon_pair *p = &q->v[i];

        if ((flags & BATCHKEY_DROP_BLANK) && p->value[0] == '\0')
            continue;
        if (last && strcmp(last, p->name) == 0)
            continue;
        last = p->name;
        rc = buf_addf(out, "\n%s:%s", p->name, p->value);
    }
    return rc;
}

int batchkey_string_to_sign(struct http_req *req, const char *account,
                            unsigned flags, struct buf *out)
{
    struct canon_list ocp = CANON_LIST_INIT;
    struct canon_list q = CANON_LIST_INIT;
    int rc;

    rc = canon_headers(req, "ocp-", true, &ocp);
    if (rc == 0)
        rc = canon_query(req->query, false, &q);
    if (rc == 0) {
        canon_sort(&ocp, CANON_ORDER_BYTES);
        canon_sort(&q, CANON_ORDER_BYTES);
        rc = build(req, account, flags, &ocp, &q, out);
    }
    canon_list_release(&q);
    canon_list_release(&ocp);
    return rc;
}

static int check_date(const struct auth *a, struct http_req *req,
                      struct err *err)
{
    const char *date = http_header(req, "ocp-date");
    int64_t when;
    int64_t now;

    if (!date || !date[0])
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
    if (when < now - a->skew_ms || when > now + a->skew_ms)
        return auth_fail(err, "AuthenticationFailed",
                         "Request date header is outside the allowed clock "
                         "skew.",
                         "request date header outside the allowed skew");
    return 0;
}

static bool body_empty(struct http_req *req)
{
    const char *len = http_header(req, "Content-Length");

    return !len || len[0] == '\0' || strcmp(len, "0") == 0;
}

int auth_batch(const struct auth *a, struct http_req *req,
               const struct account **acct_out, struct err *err)
{
    struct canon_list ocp = CANON_LIST_INIT;
    struct canon_list q = CANON_LIST_INIT;
    struct buf sts = BUF_INIT;
    struct buf first = BUF_INIT;
    unsigned char mac[AUTH_MAC_LEN];
    char scheme[BK_SCHEME_MAX];
    char name[AUTH_NAME_MAX];
    const struct account *acct;
    const char *authz = http_header(req, "Authorization");
    const char *sig;
    unsigned allowed = 0;
    unsigned flags;
    int rc;

    if (!authz)
        return auth_fail(err, "InvalidAuthenticationInfo",
                         "The Authorization header is missing.",
                         "authorization header is missing");
    if (auth_parse_header(authz, scheme, sizeof(scheme), name, sizeof(name),
                          &sig) < 0 ||
        strcmp(scheme, "SharedKey") != 0)
        return auth_fail(err, "InvalidAuthenticationInfo",
                         "The Authorization header is not in the SharedKey "
                         "format.",
                         "authorization header is malformed");
    if (auth_decode_sig(sig, mac) < 0)
        return auth_fail(err, "InvalidAuthenticationInfo",
                         "The signature is not a base64 MAC.",
                         "authorization signature is not a base64 mac");
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
    rc = canon_headers(req, "ocp-", true, &ocp);
    if (rc == 0)
        rc = canon_query(req->query, false, &q);
    if (rc < 0)
        goto fail_build;
    canon_sort(&ocp, CANON_ORDER_BYTES);
    canon_sort(&q, CANON_ORDER_BYTES);

    if (body_empty(req))
        allowed |= BATCHKEY_CL_FLIP;
    if (has_blank_param(&q))
        allowed |= BATCHKEY_DROP_BLANK;
    if (http_header(req, "ocp-date") && http_header(req, "Date"))
        allowed |= BATCHKEY_SIGN_DATE;
    /* Every subset of the allowed variants, plain form first. */
    for (flags = 0; flags <= allowed; flags++) {
        if ((flags & ~allowed) != 0)
            continue;
        rc = build(req, name, flags, &ocp, &q, &sts);
        if (rc < 0)
            goto fail_build;
        if (first.len == 0) {
            rc = buf_add(&first, sts.data, sts.len);
            if (rc < 0)
                goto fail_build;
        }
        if (auth_match(acct, &sts, mac)) {
            *acct_out = acct;
            rc = 0;
            goto out;
        }
    }
    auth_log_sts("batch", &first);
    rc = auth_fail(err, "AuthenticationFailed",
                   "The MAC signature found in the HTTP request is not the "
                   "same as any computed signature.",
                   "signature did not match");
    goto out;
fail_build:
    if (rc == -ERR_NOMEM)
        rc = err_set(err, ERR_NOMEM, "InternalError", "out of memory");
    else if (rc == -ERR_TOOBIG)
        rc = err_set(err, ERR_INVALID, "InvalidHeaderValue",
                     "request headers too large to authenticate");
    else
        rc = err_set(err, ERR_INVALID, "InvalidQueryParameterValue",
                     "malformed percent-encoding in the query string");
out:
    buf_release(&first);
    buf_release(&sts);
    canon_list_release(&q);
    canon_list_release(&ocp);
    return rc;
}
