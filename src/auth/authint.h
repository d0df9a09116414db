#ifndef SHOAL_AUTHINT_H
#define SHOAL_AUTHINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"

struct buf;
struct err;
struct http_req;

/*
 * Private to src/auth (and its unit tests): the pieces auth.c, canon.c,
 * sharedkey.c, sas.c and batchkey.c share. Nothing outside the directory
 * includes this; services use auth.h.
 */

/* Upper bound of any string-to-sign we build (headers are bounded well
 * below this by http; the limit only stops a runaway). */
#define AUTH_STS_MAX (1024 * 1024)

/* Length of a raw HMAC-SHA256 MAC (its base64 form is 44 characters). */
#define AUTH_MAC_LEN 32

/*
 * auth.c helpers.
 *
 * auth_decode_sig: base64-decode a signature as received into mac_out.
 * Returns 0, or -ERR_INVALID when s is not strict base64 of exactly 32
 * bytes.
 *
 * auth_match: true when the HMAC-SHA256 of sts under one of acct's keys
 * equals mac (constant-time per key; key 1 is tried first).
 *
 * auth_fail: err_set(err, ERR_AUTH, svc, "%s", msg) plus the detail
 * AuthenticationErrorDetail = detail (when not NULL). Returns -ERR_AUTH.
 *
 * auth_log_sts: log_debug the server's string-to-sign with newlines shown
 * as "\n", tagged with what (e.g. "sharedkey"). Never logs signatures.
 */
int auth_decode_sig(const char *s, unsigned char mac_out[AUTH_MAC_LEN]);
bool auth_match(const struct account *acct, const struct buf *sts,
                const unsigned char mac[AUTH_MAC_LEN]);
int auth_fail(struct err *err, const char *svc, const char *detail,
              const char *msg);
void auth_log_sts(const char *what, const struct buf *sts);
/*
 * Parse an Authorization value "<scheme> <account>:<sig>". scheme_out
 * and account_out receive NUL-terminated copies (truncation is an error),
 * *sig_out points into value. Returns 0 or -ERR_INVALID (no space, no
 * colon, empty parts, overlong parts).
 */
int auth_parse_header(const char *value, char *scheme_out, size_t scheme_max,
                      char *account_out, size_t account_max,
                      const char **sig_out);

/*
 * canon.c: canonicalization shared by the SharedKey flavours.
 *
 * A canon_list is a growable array of owned name/value pairs. idx records
 * arrival order (for stable sorts and "first value wins").
 */
struct canon_pair {
    char *name;
    char *value;
    size_t idx;
};

struct canon_list {
    struct canon_pair *v;
    size_t n;
    size_t alloc;
};

#define CANON_LIST_INIT \
    {                   \
        NULL, 0, 0      \
    }

void canon_list_release(struct canon_list *l);

/*
 * Parse a raw query string ("a=1&b=%2F", no '?') into decoded pairs
 * (%XX only; '+' stays '+'). A segment without '=' has value "". Empty
 * segments are skipped. lower: lower-case the decoded names.
 * Returns 0, -ERR_INVALID (bad percent-encoding or a NUL) or -ERR_NOMEM.
 */
int canon_query(const char *query, bool lower, struct canon_list *out);

/*
 * Collect the request headers whose lower-cased name starts with prefix
 * ("x-ms-", "ocp-"): names lower-cased, values copied as received,
 * repeated names merged into one value joined with ','. skip_empty drops
 * headers with an empty value (Batch). Order is arrival order.
 */
int canon_headers(struct http_req *req, const char *prefix, bool skip_empty,
                  struct canon_list *out);

/*
 * Header-name sort orders the SDKs use (storage-wire.md §3.1):
 *   CANON_ORDER_PY     '-' < '_' < digits < letters (Python's weights)
 *   CANON_ORDER_BYTES  plain byte order (the documented rule; Batch)
 *   CANON_ORDER_JS     JS storage-common's culture-like comparator: '-' and
 *                      '\'' are ignored at the first level and break ties
 *                      at the last one; '_' sorts before digits
 * Ties on the name fall back to arrival order.
 */
enum canon_order {
    CANON_ORDER_PY = 0,
    CANON_ORDER_BYTES,
    CANON_ORDER_JS,
    CANON_ORDER_COUNT
};

void canon_sort(struct canon_list *l, enum canon_order order);
/* Comparators, exposed for tests: <0, 0, >0. */
int canon_compare(const char *a, const char *b, enum canon_order order);

/*
 * sharedkey.c: storage SharedKey / SharedKeyLite.
 *
 * sharedkey_string_to_sign builds the string-to-sign of req for account
 * (the URL account) with the given flags and header order. It is what a
 * client would sign; used by the verifier and by tests.
 * Returns 0, -ERR_INVALID (bad query encoding), -ERR_NOMEM, -ERR_TOOBIG.
 *
 * sharedkey_verify authenticates a request that carries Authorization;
 * auth_storage calls it. See auth.h for the errors.
 */
enum sharedkey_flags {
    SHAREDKEY_LITE = 1 << 0,       /* SharedKeyLite layout */
    SHAREDKEY_SWAP_CE_CL = 1 << 1, /* JS: Content-Language on line 2 */
};

int sharedkey_string_to_sign(struct http_req *req, const char *account,
                             unsigned flags, enum canon_order order,
                             struct buf *out);
int sharedkey_verify(const struct auth *a, struct http_req *req,
                     const char *authz, const char *account,
                     struct auth_result *out, struct err *err);

/*
 * sas.c: storage shared access signatures.
 *
 * sas_verify authenticates a request that carries sig (and no
 * Authorization); auth_storage calls it.
 *
 * sas_string_to_sign builds the string the SAS signature covers, from the
 * request's decoded query parameters and the addressed resource, by kind
 * and sv. On success *kind_out is AUTH_SAS_SERVICE or AUTH_SAS_ACCOUNT.
 * Errors are ERR_AUTH/ERR_INVALID with svc codes, as sas_verify's.
 *
 * sas_parse_perms: letters a-z into AUTH_PERM bits (unknown letters are
 * kept as bits nobody checks); -ERR_INVALID on any other byte.
 *
 * sas_parse_time: the st/se forms (YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.f]]Z).
 *
 * sas_parse_ip: "a.b.c.d" or "a.b.c.d-e.f.g.h" into a host-order range;
 * -ERR_INVALID otherwise. sas_ip_in_range: whether client (IPv4 text, or
 * an IPv4-mapped IPv6 address) lies in [lo, hi].
 */
int sas_verify(const struct auth *a, struct http_req *req,
               enum auth_service svc, const char *account,
               const char *container, const char *blob, struct auth_result *out,
               struct err *err);
int sas_string_to_sign(struct http_req *req, enum auth_service svc,
                       const char *account, const char *container,
                       const char *blob, enum auth_kind *kind_out,
                       struct buf *out, struct err *err);
int sas_parse_perms(const char *s, uint32_t *out);
int sas_parse_time(const char *s, int64_t *ms_out);
int sas_parse_ip(const char *s, uint32_t *lo_out, uint32_t *hi_out);
bool sas_ip_in_range(const char *client, uint32_t lo, uint32_t hi);

/*
 * batchkey.c: Batch SharedKey.
 *
 * batchkey_string_to_sign builds the Batch string-to-sign of req for
 * account. flags select the tolerated client variants (batch-wire.md
 * §5.3): BATCHKEY_CL_FLIP signs an empty body's Content-Length as "0"
 * when the header is absent or empty and as "" when it is "0";
 * BATCHKEY_DROP_BLANK omits query parameters with an empty value (and then
 * keeps the first non-empty value of a repeated name, like Python's
 * parse_qs); BATCHKEY_SIGN_DATE signs the Date header on line 7 even when
 * ocp-date is present.
 */
enum batchkey_flags {
    BATCHKEY_CL_FLIP = 1 << 0,
    BATCHKEY_DROP_BLANK = 1 << 1,
    BATCHKEY_SIGN_DATE = 1 << 2,
};

int batchkey_string_to_sign(struct http_req *req, const char *account,
                            unsigned flags, struct buf *out);

#endif
