/*
 * auth.c: accounts, the storage entry point and the helpers every
 * verifier shares.
 *
 * The directory splits by concept:
 *
 *   auth.c       accounts (struct auth), auth_storage's dispatch, auth_sign,
 *                signature decoding and constant-time matching
 *   canon.c      canonicalization shared by the SharedKey flavours: raw
 *                query parsing, header collection, the SDKs' sort orders
 *   sharedkey.c  storage SharedKey / SharedKeyLite
 *   sas.c        storage SAS (service and account), stored-policy merge,
 *                time/IP/protocol/permission checks
 *   batchkey.c   Batch SharedKey
 *
 * Accounts. struct auth owns a flat array of struct account, grown by
 * auth_add_account and freed by auth_release. Adding a name that already
 * exists adds that account's second key (key 2), so "a:K1,a:K2" configures
 * a key pair. Names follow the storage rule (3-24 characters, lower-case
 * letters and digits; devstoreaccount1 qualifies). Keys are kept decoded
 * for HMAC and as configured (base64) for clients.
 *
 * Threads: configure the accounts before serving; afterwards struct auth is
 * read-only and every function here may run on any number of threads.
 * Pointers returned by auth_find (and stored in struct auth_result) stay
 * valid until the next auth_add_account or auth_release.
 *
 * Request flow (auth_storage): an Authorization header selects SharedKey
 * (sharedkey.c) even when the query also carries sig, because the SAS
 * parameters are then just part of the signed query; else a sig parameter
 * selects SAS (sas.c); else the request is anonymous (AUTH_ANON) and the
 * service decides whether the resource is public.
 *
 * Errors are ERR_AUTH (403) with the storage/Batch code in err->svc and,
 * for signature failures, an AuthenticationErrorDetail detail. The
 * server's string-to-sign is logged at debug level on a mismatch (as Azure
 * returns it in the error); signatures and keys are never logged.
 */
#include "auth/auth.h"
#include "auth/authint.h"

#include <string.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http.h"

#define AUTH_NAME_MIN_LEN 3
#define AUTH_NAME_MAX_LEN 24

void auth_init(struct auth *a, int64_t skew_ms)
{
    a->accounts = NULL;
    a->naccounts = 0;
    a->skew_ms = skew_ms;
}

void auth_release(struct auth *a)
{
    if (a->accounts) {
        /* Wipe the keys before the memory goes back to malloc. */
        memset(a->accounts, 0, a->naccounts * sizeof(*a->accounts));
        free(a->accounts);
    }
    a->accounts = NULL;
    a->naccounts = 0;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    size_t i;

    if (n < AUTH_NAME_MIN_LEN || n > AUTH_NAME_MAX_LEN)
        return false;
    for (i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

const struct account *auth_find(const struct auth *a, const char *name)
{
    size_t i;

    if (!name)
        return NULL;
    for (i = 0; i < a->naccounts; i++) {
        if (strcmp(a->accounts[i].name, name) == 0)
            return &a->accounts[i];
    }
    return NULL;
}

int auth_add_account(struct auth *a, const char *name, const char *key_b64,
                     struct err *err)
{
    struct buf key = BUF_INIT;
    struct account *acct = NULL;
    size_t b64len;
    size_t bytes;
    int k;
    int rc;

    if (!name || !valid_name(name))
        return err_set(err, ERR_INVALID, "InvalidAccountName",
                       "invalid account name '%s'", name ? name : "");
    b64len = key_b64 ? strlen(key_b64) : 0;
    if (b64len == 0 || b64len >= sizeof(acct->key_b64[0]))
        return err_set(err, ERR_INVALID, "InvalidAccountKey",
                       "invalid key for account '%s'", name);
    buf_init(&key, AUTH_KEY_MAX);
    rc = codec_base64_decode(&key, key_b64, b64len);
    if (rc < 0 || key.len == 0) {
        rc = err_set(err, ERR_INVALID, "InvalidAccountKey",
                     "invalid key for account '%s'", name);
        goto out;
    }

    acct = (struct account *)auth_find(a, name);
    if (acct && acct->nkeys >= 2) {
        rc = err_set(err, ERR_INVALID, "InvalidAccountKey",
                     "account '%s' already has two keys", name);
        goto out;
    }
    if (!acct) {
        if (!size_add(a->naccounts, 1, &bytes) ||
            !size_mul(bytes, sizeof(*a->accounts), &bytes)) {
            rc = err_set(err, ERR_NOMEM, NULL, "too many accounts");
            goto out;
        }
        a->accounts = xrealloc(a->accounts, bytes);
        acct = &a->accounts[a->naccounts++];
        memset(acct, 0, sizeof(*acct));
        snprintf(acct->name, sizeof(acct->name), "%s", name);
    }
    k = acct->nkeys++;
    memcpy(acct->key[k], key.data, key.len);
    acct->keylen[k] = key.len;
    memcpy(acct->key_b64[k], key_b64, b64len + 1);
    rc = 0;
out:
    if (key.alloc)
        memset(key.data, 0, key.len);
    buf_release(&key);
    return rc;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

int auth_add_accounts(struct auth *a, const char *spec, struct err *err)
{
    const char *p = spec ? spec : "";
    char name[AUTH_NAME_MAX];
    char key[AUTH_KEY_MAX * 2];

    while (*p) {
        const char *end = strchr(p, ',');
        const char *colon;
        const char *s;
        const char *e;
        size_t n;
        int rc;

        if (!end)
            end = p + strlen(p);
        s = p;
        e = end;
        while (s < e && is_space(*s))
            s++;
        while (e > s && is_space(e[-1]))
            e--;
        p = *end ? end + 1 : end;
        if (s == e)
            continue;
        colon = memchr(s, ':', (size_t)(e - s));
        if (!colon)
            return err_set(err, ERR_INVALID, "InvalidAccountKey",
                           "account entry without ':'");
        n = (size_t)(colon - s);
        if (n >= sizeof(name))
            return err_set(err, ERR_INVALID, "InvalidAccountName",
                           "account name too long");
        memcpy(name, s, n);
        name[n] = '\0';
        n = (size_t)(e - colon - 1);
        if (n >= sizeof(key))
            return err_set(err, ERR_INVALID, "InvalidAccountKey",
                           "invalid key for account '%s'", name);
        memcpy(key, colon + 1, n);
        key[n] = '\0';
        rc = auth_add_account(a, name, key, err);
        memset(key, 0, sizeof(key));
        if (rc < 0)
            return rc;
    }
    return 0;
}

int auth_sign(const struct account *acct, int k, const char *msg, size_t len,
              char out[64])
{
    unsigned char mac[CRYPTO_SHA256_LEN];
    struct buf b = BUF_INIT;
    int rc;

    if (!acct || k < 0 || k >= acct->nkeys)
        return -ERR_INVALID;
    crypto_hmac_sha256(acct->key[k], acct->keylen[k], msg, len, mac);
    rc = codec_base64_encode(&b, mac, sizeof(mac));
    if (rc == 0)
        memcpy(out, b.data, b.len + 1); /* 44 characters and the NUL */
    buf_release(&b);
    return rc;
}

int auth_storage(const struct auth *a, struct http_req *req,
                 enum auth_service svc, const char *account,
                 const char *container, const char *blob,
                 struct auth_result *out, struct err *err)
{
    const char *authz = http_header(req, "Authorization");

    memset(out, 0, sizeof(*out));
    out->kind = AUTH_ANON;
    if (authz)
        return sharedkey_verify(a, req, authz, account, out, err);
    if (http_param(req, "sig"))
        return sas_verify(a, req, svc, account, container, blob, out, err);
    return 0;
}

int auth_decode_sig(const char *s, unsigned char mac_out[AUTH_MAC_LEN])
{
    struct buf b = BUF_INIT;
    size_t n = strlen(s);
    int rc = -ERR_INVALID;

    /* A MAC is 44 base64 characters; anything longer is not one. */
    if (n != 44)
        goto out;
    buf_init(&b, AUTH_MAC_LEN);
    if (codec_base64_decode(&b, s, n) < 0 || b.len != AUTH_MAC_LEN)
        goto out;
    memcpy(mac_out, b.data, AUTH_MAC_LEN);
    rc = 0;
out:
    buf_release(&b);
    return rc;
}

bool auth_match(const struct account *acct, const struct buf *sts,
                const unsigned char mac[AUTH_MAC_LEN])
{
    unsigned char want[CRYPTO_SHA256_LEN];
    int k;

    for (k = 0; k < acct->nkeys && k < 2; k++) {
        crypto_hmac_sha256(acct->key[k], acct->keylen[k], sts->data, sts->len,
                           want);
        if (crypto_equal(want, mac, AUTH_MAC_LEN))
            return true;
    }
    return false;
}

int auth_fail(struct err *err, const char *svc, const char *detail,
              const char *msg)
{
    int rc = err_set(err, ERR_AUTH, svc, "%s", msg);

    if (detail)
        err_add_detail(err, "AuthenticationErrorDetail", detail);
    return rc;
}

void auth_log_sts(const char *what, const struct buf *sts)
{
    struct buf esc = BUF_INIT;
    size_t i;

    if (log_level_current < LOG_DEBUG)
        return;
    buf_init(&esc, AUTH_STS_MAX * 2);
    for (i = 0; i < sts->len; i++) {
        unsigned char c = (unsigned char)sts->data[i];
        int rc;

        if (c == '\n')
            rc = buf_adds(&esc, "\\n");
        else if (c == '\\')
            rc = buf_adds(&esc, "\\\\");
        else if (c < 0x20 || c == 0x7f)
            rc = buf_addf(&esc, "\\x%02x", c);
        else
            rc = buf_addc(&esc, (char)c);
        if (rc < 0)
            break;
    }
    log_debug("signature mismatch auth=%s string_to_sign='%s'", what, esc.data);
    buf_release(&esc);
}

int auth_parse_header(const char *value, char *scheme_out, size_t scheme_max,
                      char *account_out, size_t account_max,
                      const char **sig_out)
{
    const char *sp = strchr(value, ' ');
    const char *name;
    const char *colon;
    size_t n;

    if (!sp || sp == value)
        return -ERR_INVALID;
    n = (size_t)(sp - value);
    if (n >= scheme_max)
        return -ERR_INVALID;
    memcpy(scheme_out, value, n);
    scheme_out[n] = '\0';
    name = sp;
    while (*name == ' ')
        name++;
    colon = strchr(name, ':');
    if (!colon || colon == name)
        return -ERR_INVALID;
    n = (size_t)(colon - name);
    if (n >= account_max)
        return -ERR_INVALID;
    memcpy(account_out, name, n);
    account_out[n] = '\0';
    if (colon[1] == '\0')
        return -ERR_INVALID;
    *sig_out = colon + 1;
    return 0;
}
