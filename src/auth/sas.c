/*
 * sas.c: storage shared access signatures (storage-wire.md §4).
 *
 * A request with a sig parameter and no Authorization header is a SAS
 * request. ss or srt present makes it an account SAS; otherwise it is a
 * service SAS (blob: sr says what it covers; queue: the queue in the URL).
 * User-delegation SAS (skoid...) needs OAuth and is refused.
 *
 * Strings-to-sign ('\n'-joined, absent fields are empty lines; every value
 * is the decoded query value exactly as received, never re-serialised):
 *
 *   blob, sv >= 2020-12-06   sp st se canon si sip spr sv sr snap ses
 *                            rscc rscd rsce rscl rsct            (16)
 *   blob, 2018-11-09 ..      sp st se canon si sip spr sv sr snap
 *                            rscc rscd rsce rscl rsct            (15)
 *   blob, 2015-04-05 ..      sp st se canon si sip spr sv
 *                            rscc rscd rsce rscl rsct            (13)
 *   queue                    sp st se /queue/acct/queue si sip spr sv
 *   account, >= 2020-12-06   acct sp ss srt st se sip spr sv ses + "\n"
 *   account, 2015-04-05 ..   acct sp ss srt st se sip spr sv + "\n"
 *
 * canon is /blob/acct/container for sr=c and /blob/acct/container/blob for
 * sr=b|bs|bv (the decoded blob name the caller addressed), so a blob SAS
 * replayed on another blob fails the signature. snap is the request's
 * snapshot parameter for sr=bs, versionid for sr=bv, else empty. The
 * layouts come from the SDKs' generators (JS storage-blob 12.34, the same
 * gates Azurite uses): an sv newer than any we know gets the newest layout;
 * an sv older than 2015-04-05 is refused (its canon had no service prefix).
 *
 * What is checked where:
 *   sas_verify        field syntax (sv, st, se, sp letters, sip, spr, ss,
 *                     srt), mandatory fields of account SAS, signature
 *                     (key 1, then key 2, constant time)
 *   auth_sas_apply_policy  stored access policy merge (si): a field in
 *                     both places is refused
 *   auth_sas_check    time window, IP range, protocol, account SAS
 *                     services and resource types, service SAS scope,
 *                     permission letters
 * The split exists because a stored policy (loaded by the service) may
 * supply st, se and sp after the signature is known to be good.
 *
 * Permission letters: the HMAC covers the literal sp, then sp is parsed as
 * a set of AUTH_PERM bits. Letters a-z we do not know are kept as bits no
 * operation checks, so a newer SDK's letter grants nothing and breaks
 * nothing; any other byte is 400 InvalidQueryParameterValue.
 *
 * Reentrant; no allocation except the string-to-sign buffer.
 */
#include "auth/authint.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "http/http.h"

#define SAS_MIN_VERSION "2015-04-05"
#define SAS_V_SNAPSHOT  "2018-11-09"
#define SAS_V_SES       "2020-12-06"

static const char *param(struct http_req *req, const char *name)
{
    const char *v = http_param(req, name);

    return v ? v : "";
}

static bool has_param(struct http_req *req, const char *name)
{
    return http_param(req, name) != NULL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "YYYY-MM-DD" exactly; versions then compare as strings. */
static bool valid_version(const char *v)
{
    int i;

    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (v[i] != '-')
                return false;
        } else if (!is_digit(v[i])) {
            return false;
        }
    }
    return v[10] == '\0';
}

static int not_well_formed(struct err *err, const char *what)
{
    char msg[128];

    snprintf(msg, sizeof(msg), "sas field '%s' is not well formed", what);
    return auth_fail(err, "AuthenticationFailed",
                     "Signature fields not well formed.", msg);
}

static int add_lines(struct buf *out, const char *const *v, size_t n)
{
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < n; i++) {
        rc = buf_adds(out, v[i]);
        if (rc == 0 && i + 1 < n)
            rc = buf_addc(out, '\n');
    }
    return rc;
}

static int blob_sts(struct http_req *req, const char *account,
                    const char *container, const char *blob, struct buf *canon,
                    struct buf *out, struct err *err)
{
    const char *sv = param(req, "sv");
    const char *sr = param(req, "sr");
    const char *snap = "";
    const char *v[16];
    size_t n = 0;
    int rc;

    if (!has_param(req, "sr"))
        return auth_fail(err, "AuthenticationFailed",
                         "Missing required sr for a service SAS.",
                         "sas field 'sr' is missing");
    if (!container)
        return auth_fail(err, "AuthorizationFailure", NULL,
                         "a service sas does not cover account operations");
    if (strcmp(sr, "c") == 0) {
        rc = buf_addf(canon, "/blob/%s/%s", account, container);
    } else if (strcmp(sr, "b") == 0 || strcmp(sr, "bs") == 0 ||
               strcmp(sr, "bv") == 0) {
        if (!blob)
            return auth_fail(err, "AuthorizationFailure", NULL,
                             "a blob sas does not cover container "
                             "operations");
        rc = buf_addf(canon, "/blob/%s/%s/%s", account, container, blob);
        if (strcmp(sr, "bs") == 0)
            snap = param(req, "snapshot");
        else if (strcmp(sr, "bv") == 0)
            snap = param(req, "versionid");
    } else {
        return auth_fail(err, "AuthenticationFailed",
                         "The signed resource is not supported.",
                         "sas signed resource is not supported");
    }
    if (rc < 0)
        return err_set(err, ERR_NOMEM, "InternalError", "out of memory");

    v[n++] = param(req, "sp");
    v[n++] = param(req, "st");
    v[n++] = param(req, "se");
    v[n++] = canon->data;
    v[n++] = param(req, "si");
    v[n++] = param(req, "sip");
    v[n++] = param(req, "spr");
    v[n++] = sv;
    if (strcmp(sv, SAS_V_SNAPSHOT) >= 0) {
        v[n++] = sr;
        v[n++] = snap;
    }
    if (strcmp(sv, SAS_V_SES) >= 0)
        v[n++] = param(req, "ses");
    v[n++] = param(req, "rscc");
    v[n++] = param(req, "rscd");
    v[n++] = param(req, "rsce");
    v[n++] = param(req, "rscl");
    v[n++] = param(req, "rsct");
    if (add_lines(out, v, n) < 0)
        return err_set(err, ERR_INVALID, "InvalidQueryParameterValue",
                       "sas fields too large");
    return 0;
}

int sas_string_to_sign(struct http_req *req, enum auth_service svc,
                       const char *account, const char *container,
                       const char *blob, enum auth_kind *kind_out,
                       struct buf *out, struct err *err)
{
    struct buf canon = BUF_INIT;
    const char *sv = param(req, "sv");
    int rc;

    buf_reset(out);
    if (!has_param(req, "sv"))
        return auth_fail(err, "AuthenticationFailed",
                         "Missing required sv for a SAS.",
                         "sas field 'sv' is missing");
    if (!valid_version(sv))
        return not_well_formed(err, "sv");
    if (strcmp(sv, SAS_MIN_VERSION) < 0)
        return auth_fail(err, "AuthenticationFailed",
                         "The SAS version is not supported.",
                         "sas version is not supported");

    if (has_param(req, "ss") || has_param(req, "srt")) {
        const char *v[10];
        size_t n = 0;

        v[n++] = account;
        v[n++] = param(req, "sp");
        v[n++] = param(req, "ss");
        v[n++] = param(req, "srt");
        v[n++] = param(req, "st");
        v[n++] = param(req, "se");
        v[n++] = param(req, "sip");
        v[n++] = param(req, "spr");
        v[n++] = sv;
        if (strcmp(sv, SAS_V_SES) >= 0)
            v[n++] = param(req, "ses");
        rc = add_lines(out, v, n);
        if (rc == 0)
            rc = buf_addc(out, '\n'); /* account SAS ends with a newline */
        if (rc < 0)
            return err_set(err, ERR_INVALID, "InvalidQueryParameterValue",
                           "sas fields too large");
        *kind_out = AUTH_SAS_ACCOUNT;
        return 0;
    }

    if (has_param(req, "skoid") || has_param(req, "sktid"))
        return auth_fail(err, "AuthenticationFailed",
                         "User delegation SAS is not supported.",
                         "user delegation sas is not supported");
    if (svc == AUTH_QUEUE) {
        const char *v[8];

        if (!container)
            return auth_fail(err, "AuthorizationFailure", NULL,
                             "a queue sas does not cover account operations");
        buf_init(&canon, AUTH_STS_MAX);
        rc = buf_addf(&canon, "/queue/%s/%s", account, container);
        v[0] = param(req, "sp");
        v[1] = param(req, "st");
        v[2] = param(req, "se");
        v[3] = canon.data;
        v[4] = param(req, "si");
        v[5] = param(req, "sip");
        v[6] = param(req, "spr");
        v[7] = sv;
        if (rc == 0)
            rc = add_lines(out, v, 8);
        if (rc < 0)
            rc = err_set(err, ERR_INVALID, "InvalidQueryParameterValue",
                         "sas fields too large");
    } else {
        buf_init(&canon, AUTH_STS_MAX);
        rc = blob_sts(req, account, container, blob, &canon, out, err);
    }
    buf_release(&canon);
    if (rc == 0)
        *kind_out = AUTH_SAS_SERVICE;
    return rc;
}

int sas_parse_perms(const char *s, uint32_t *out)
{
    uint32_t bits = 0;

    for (; *s; s++) {
        if (*s < 'a' || *s > 'z')
            return -ERR_INVALID;
        bits |= AUTH_PERM(*s);
    }
    *out = bits;
    return 0;
}

int sas_parse_time(const char *s, int64_t *ms_out)
{
    if (!s || !s[0])
        return -ERR_INVALID;
    return timefmt_parse_iso8601(s, ms_out) < 0 ? -ERR_INVALID : 0;
}

/* One dotted quad, whole string [s, e). */
static int parse_ipv4(const char *s, const char *e, uint32_t *out)
{
    uint32_t v = 0;
    int part;

    for (part = 0; part < 4; part++) {
        unsigned octet = 0;
        int digits = 0;

        while (s < e && is_digit(*s) && digits < 4) {
            octet = octet * 10 + (unsigned)(*s - '0');
            digits++;
            s++;
        }
        if (digits == 0 || digits > 3 || octet > 255)
            return -ERR_INVALID;
        v = v << 8 | octet;
        if (part < 3) {
            if (s >= e || *s != '.')
                return -ERR_INVALID;
            s++;
        }
    }
    if (s != e)
        return -ERR_INVALID;
    *out = v;
    return 0;
}

int sas_parse_ip(const char *s, uint32_t *lo_out, uint32_t *hi_out)
{
    const char *dash = strchr(s, '-');
    const char *end = s + strlen(s);
    uint32_t lo;
    uint32_t hi;

    if (dash) {
        if (parse_ipv4(s, dash, &lo) < 0 ||
            parse_ipv4(dash + 1, end, &hi) < 0 || hi < lo)
            return -ERR_INVALID;
    } else {
        if (parse_ipv4(s, end, &lo) < 0)
            return -ERR_INVALID;
        hi = lo;
    }
    *lo_out = lo;
    *hi_out = hi;
    return 0;
}

bool sas_ip_in_range(const char *client, uint32_t lo, uint32_t hi)
{
    static const char mapped[] = "::ffff:";
    uint32_t ip;

    if (!client)
        return false;
    if (strncasecmp(client, mapped, sizeof(mapped) - 1) == 0)
        client += sizeof(mapped) - 1;
    if (parse_ipv4(client, client + strlen(client), &ip) < 0)
        return false;
    return ip >= lo && ip <= hi;
}

static int copy_field(char *dst, size_t max, const char *v)
{
    size_t n = strlen(v);

    if (n >= max)
        return -ERR_INVALID;
    memcpy(dst, v, n + 1);
    return 0;
}

static bool letters_only(const char *s)
{
    for (; *s; s++) {
        if (*s < 'a' || *s > 'z')
            return false;
    }
    return true;
}

/* A text field of struct auth_sas, named as its query parameter. */
#define SAS_SIZE(f) sizeof(((struct auth_sas *)0)->f)
#define SAS_TEXT(f) #f, offsetof(struct auth_sas, f), SAS_SIZE(f)

/* Fill out->sas from the query; syntax only. */
static int parse_fields(struct http_req *req, enum auth_kind kind,
                        struct auth_sas *s, struct err *err)
{
    static const struct {
        const char *name;
        size_t off;
        size_t max;
    } text[] = {
        { SAS_TEXT(sv) },   { SAS_TEXT(sr) },   { SAS_TEXT(si) },
        { SAS_TEXT(sip) },  { SAS_TEXT(spr) },  { SAS_TEXT(ss) },
        { SAS_TEXT(srt) },  { SAS_TEXT(rscc) }, { SAS_TEXT(rscd) },
        { SAS_TEXT(rsce) }, { SAS_TEXT(rscl) }, { SAS_TEXT(rsct) },
    };
    uint32_t lo;
    uint32_t hi;
    size_t i;

    for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        if (copy_field((char *)s + text[i].off, text[i].max,
                       param(req, text[i].name)) < 0)
            return not_well_formed(err, text[i].name);
    }
    if (has_param(req, "st")) {
        if (sas_parse_time(param(req, "st"), &s->st_ms) < 0)
            return not_well_formed(err, "st");
        s->has_st = true;
    }
    if (has_param(req, "se")) {
        if (sas_parse_time(param(req, "se"), &s->se_ms) < 0)
            return not_well_formed(err, "se");
        s->has_se = true;
    }
    if (s->has_st && s->has_se && s->se_ms <= s->st_ms)
        return auth_fail(err, "AuthenticationFailed",
                         "Signed expiry time must be after signed start "
                         "time.",
                         "sas expiry is not after its start");
    if (has_param(req, "sp")) {
        if (sas_parse_perms(param(req, "sp"), &s->perms) < 0) {
            err_set(err, ERR_INVALID, "InvalidQueryParameterValue",
                    "sas permissions '%s' are not letters", param(req, "sp"));
            err_add_detail(err, "QueryParameterName", "sp");
            err_add_detail(err, "QueryParameterValue", param(req, "sp"));
            return -ERR_INVALID;
        }
        s->has_sp = true;
    }
    if (s->sip[0] && sas_parse_ip(s->sip, &lo, &hi) < 0)
        return not_well_formed(err, "sip");
    if (s->spr[0] && strcmp(s->spr, "https") != 0 &&
        strcmp(s->spr, "https,http") != 0 &&
        strcmp(s->spr, "http,https") != 0 && strcmp(s->spr, "http") != 0)
        return not_well_formed(err, "spr");
    if (!letters_only(s->ss))
        return not_well_formed(err, "ss");
    if (!letters_only(s->srt))
        return not_well_formed(err, "srt");
    if (kind == AUTH_SAS_ACCOUNT) {
        /* No stored policies for account SAS: everything must be here. */
        if (!s->ss[0] || !s->srt[0] || !s->has_sp || !s->has_se)
            return auth_fail(err, "AuthenticationFailed",
                             "An account SAS needs ss, srt, sp and se.",
                             "account sas is missing a mandatory field");
    }
    return 0;
}

int sas_verify(const struct auth *a, struct http_req *req,
               enum auth_service svc, const char *account,
               const char *container, const char *blob, struct auth_result *out,
               struct err *err)
{
    struct buf sts = BUF_INIT;
    unsigned char mac[AUTH_MAC_LEN];
    const struct account *acct;
    enum auth_kind kind = AUTH_ANON;
    int rc;

    acct = auth_find(a, account);
    if (!acct)
        return auth_fail(err, "AuthenticationFailed",
                         "The account is not known to this server.",
                         "unknown account");
    if (auth_decode_sig(param(req, "sig"), mac) < 0)
        return not_well_formed(err, "sig");
    buf_init(&sts, AUTH_STS_MAX);
    rc = sas_string_to_sign(req, svc, account, container, blob, &kind, &sts,
                            err);
    if (rc < 0)
        goto out;
    memset(&out->sas, 0, sizeof(out->sas));
    rc = parse_fields(req, kind, &out->sas, err);
    if (rc < 0)
        goto out;
    if (!auth_match(acct, &sts, mac)) {
        auth_log_sts("sas", &sts);
        rc = auth_fail(err, "AuthenticationFailed", "Signature did not match.",
                       "sas signature did not match");
        goto out;
    }
    out->kind = kind;
    out->acct = acct;
    rc = 0;
out:
    if (rc < 0)
        memset(&out->sas, 0, sizeof(out->sas));
    buf_release(&sts);
    return rc;
}

int auth_sas_apply_policy(struct auth_result *r, bool has_start,
                          int64_t start_ms, bool has_expiry, int64_t expiry_ms,
                          const char *perms, struct err *err)
{
    struct auth_sas *s = &r->sas;
    bool has_perms = perms && perms[0];
    uint32_t bits = 0;

    if (r->kind != AUTH_SAS_SERVICE)
        return 0;
    if ((has_start && s->has_st) || (has_expiry && s->has_se) ||
        (has_perms && s->has_sp))
        return auth_fail(err, "AuthenticationFailed",
                         "A field is given by both the SAS and the stored "
                         "access policy.",
                         "sas and stored access policy both set a field");
    if (has_perms) {
        /* Policies were validated when stored; skip anything odd. */
        for (; *perms; perms++) {
            if (*perms >= 'a' && *perms <= 'z')
                bits |= AUTH_PERM(*perms);
        }
        s->perms = bits;
        s->has_sp = true;
    }
    if (has_start) {
        s->st_ms = start_ms;
        s->has_st = true;
    }
    if (has_expiry) {
        s->se_ms = expiry_ms;
        s->has_se = true;
    }
    if (s->has_st && s->has_se && s->se_ms <= s->st_ms)
        return auth_fail(err, "AuthenticationFailed",
                         "Signed expiry time must be after signed start "
                         "time.",
                         "sas expiry is not after its start");
    return 0;
}

int auth_sas_check(const struct auth_result *r, enum auth_service svc,
                   char restype, const char *perm_any, int64_t now_ms,
                   const char *client_ip, struct err *err)
{
    const struct auth_sas *s = &r->sas;
    uint32_t lo;
    uint32_t hi;

    if (r->kind != AUTH_SAS_SERVICE && r->kind != AUTH_SAS_ACCOUNT)
        return 0;
    if (!s->has_se)
        return auth_fail(err, "AuthenticationFailed",
                         "Signed expiry time is required.",
                         "sas has no expiry");
    if (s->has_st && now_ms < s->st_ms)
        return auth_fail(err, "AuthenticationFailed",
                         "Signature not valid in the specified time frame.",
                         "sas is not valid yet");
    if (now_ms >= s->se_ms)
        return auth_fail(err, "AuthenticationFailed",
                         "Signature not valid in the specified time frame.",
                         "sas has expired");
    if (s->sip[0]) {
        if (sas_parse_ip(s->sip, &lo, &hi) < 0 ||
            !sas_ip_in_range(client_ip, lo, hi))
            return auth_fail(err, "AuthorizationSourceIPMismatch", NULL,
                             "client address is outside the sas ip range");
    }
    /* We serve plain HTTP only: a https-only SAS never applies. */
    if (strcmp(s->spr, "https") == 0)
        return auth_fail(err, "AuthorizationProtocolMismatch", NULL,
                         "sas requires https");
    if (r->kind == AUTH_SAS_ACCOUNT) {
        char want = svc == AUTH_QUEUE ? 'q' : 'b';

        if (!strchr(s->ss, want))
            return auth_fail(err, "AuthorizationServiceMismatch", NULL,
                             "account sas does not cover this service");
        if (!restype || !strchr(s->srt, restype))
            return auth_fail(err, "AuthorizationResourceTypeMismatch", NULL,
                             "account sas does not cover this resource type");
    } else {
        if (restype == 's')
            return auth_fail(err, "AuthorizationFailure", NULL,
                             "a service sas does not cover service "
                             "operations");
        if (svc == AUTH_BLOB && restype == 'c' && s->sr[0] == 'b')
            return auth_fail(err, "AuthorizationFailure", NULL,
                             "a blob sas does not cover container "
                             "operations");
    }
    if (perm_any && perm_any[0]) {
        const char *p;

        for (p = perm_any; *p; p++) {
            if (*p >= 'a' && *p <= 'z' && (s->perms & AUTH_PERM(*p)))
                return 0;
        }
        return auth_fail(err, "AuthorizationPermissionMismatch", NULL,
                         "sas permissions do not allow this operation");
    }
    return 0;
}
