#ifndef SHOAL_AUTH_H
#define SHOAL_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct http_req;

/*
 * Accounts and request authentication: storage SharedKey / SharedKeyLite,
 * storage SAS (service and account), and Batch SharedKey. See auth.c (and
 * canon.c, sharedkey.c, sas.c, batchkey.c) for the design notes; wire
 * layouts are in shared/notes/storage-wire.md §3-4 and batch-wire.md §5.
 *
 * Threads: add accounts before serving; afterwards struct auth is read-only
 * and every function below may be called from any number of threads.
 *
 * Errors: every authentication or authorization failure is -ERR_AUTH (403)
 * with err->svc set to the service's code (AuthenticationFailed,
 * InvalidAuthenticationInfo, Authorization*) and, for signature and date
 * failures, a detail AuthenticationErrorDetail. Malformed input that is
 * not about credentials is -ERR_INVALID (400) with its own code. On a
 * signature mismatch the server's string-to-sign is logged at debug level;
 * signatures and keys are never logged.
 */

#define AUTH_NAME_MAX 64
#define AUTH_KEY_MAX 128

struct account {
    char name[AUTH_NAME_MAX];
    unsigned char key[2][AUTH_KEY_MAX]; /* decoded keys */
    size_t keylen[2];
    int nkeys;                          /* 1 or 2 */
    char key_b64[2][AUTH_KEY_MAX * 2];  /* as configured, for clients */
};

struct auth {
    struct account *accounts;
    size_t naccounts;
    int64_t skew_ms; /* allowed clock skew on x-ms-date / ocp-date */
};

#define AUTH_DEV_ACCOUNT "devstoreaccount1"
#define AUTH_DEV_KEY                                                           \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/*
 * Initialise an empty account set. skew_ms is the allowed difference
 * between a request's x-ms-date / ocp-date / Date and our clock; 0 or less
 * turns the check off (tests with fixed vectors do that).
 */
void auth_init(struct auth *a, int64_t skew_ms);
/* Free the accounts (keys are wiped first). a may be re-initialised. */
void auth_release(struct auth *a);
/*
 * Add an account with a base64 key (strict base64, 1..AUTH_KEY_MAX bytes
 * decoded). Names are 3-24 lower-case letters and digits, as storage
 * account names are (devstoreaccount1 qualifies). Adding a name that exists
 * adds its second key (key 2, tried after key 1); a third key is refused.
 * Returns 0 or -ERR_INVALID (svc InvalidAccountName / InvalidAccountKey).
 * Invalidates pointers from auth_find.
 */
int auth_add_account(struct auth *a, const char *name, const char *key_b64,
                     struct err *err);
/*
 * Parse "name:key[,name:key...]" and add each (spaces around entries and
 * empty entries are ignored; "a:K1,a:K2" sets a key pair). NULL or "" adds
 * nothing. Stops at the first bad entry with its error; accounts added
 * before it stay.
 */
int auth_add_accounts(struct auth *a, const char *spec, struct err *err);
/*
 * The account named name, or NULL. The pointer stays valid until the next
 * auth_add_account or auth_release.
 */
const struct account *auth_find(const struct auth *a, const char *name);

/* Storage. */
enum auth_service { AUTH_BLOB, AUTH_QUEUE };

enum auth_kind {
    AUTH_ANON = 0,     /* no Authorization header and no sig */
    AUTH_SHAREDKEY,    /* SharedKey or SharedKeyLite, verified */
    AUTH_SAS_SERVICE,  /* service SAS, signature verified */
    AUTH_SAS_ACCOUNT,  /* account SAS, signature verified */
};

/* SAS permission letters as a bit set: 1 << (letter - 'a'). */
#define AUTH_PERM(c) (1u << ((c) - 'a'))

struct auth_sas {
    char sv[32], sr[8], si[65], sip[80], spr[16];
    char ss[8], srt[8];
    int64_t st_ms, se_ms;   /* valid when has_st / has_se */
    bool has_st, has_se;
    uint32_t perms;         /* parsed sp */
    bool has_sp;
    /* response overrides (blob GET/HEAD), decoded, "" if absent */
    char rscc[256], rscd[256], rsce[128], rscl[128], rsct[256];
};

struct auth_result {
    enum auth_kind kind;
    const struct account *acct;
    struct auth_sas sas;
};

/*
 * Authenticate a storage request addressed to account (from the URL; for
 * the secondary endpoint pass the primary name). container and blob
 * (decoded; NULL when not addressed) form the SAS canonical resource; for
 * the queue service, container is the queue name.
 *
 * An Authorization header selects SharedKey/SharedKeyLite (even if the
 * query also has sig); else a sig parameter selects SAS; else the result
 * is AUTH_ANON and the service decides (public containers). *out is reset
 * first; on success out->acct is the account and, for SAS, out->sas holds
 * the parsed fields. Verifies the SharedKey signature and date window, or
 * the SAS signature and its fields' syntax; does not check SAS time,
 * permissions or IP (see auth_sas_check), because a stored access policy
 * (si) may supply them.
 *
 * Errors (-ERR_AUTH, 403, unless noted):
 *   InvalidAuthenticationInfo  Authorization garbled: no "scheme acct:sig",
 *                              unknown scheme, signature not base64 of 32
 *                              bytes
 *   AuthenticationFailed       signature mismatch (SharedKey or SAS),
 *                              account in the header differs from the URL,
 *                              unknown account, date missing, malformed or
 *                              outside the skew, SAS fields malformed or
 *                              missing (sv, sr, account SAS ss/srt/sp/se),
 *                              sv older than 2015-04-05, sr=d, user
 *                              delegation SAS
 *   AuthorizationFailure       a service SAS on an account-level request,
 *                              a blob SAS (sr=b|bs|bv) on a container one
 *   -ERR_INVALID 400           InvalidQueryParameterValue: malformed
 *                              %-encoding in a signed query, or SAS sp with
 *                              anything but letters a-z (unknown letters
 *                              are accepted and grant nothing)
 */
int auth_storage(const struct auth *a, struct http_req *req,
                 enum auth_service svc, const char *account,
                 const char *container, const char *blob,
                 struct auth_result *out, struct err *err);

/*
 * Merge a stored access policy into a service SAS with si: its start,
 * expiry and permissions apply; a field given in both places is refused
 * (403 AuthenticationFailed), as is an expiry not after the start.
 * has_start / has_expiry say which times the policy defines; perms NULL or
 * "" means it defines no permissions. The caller loads the policy named
 * r->sas.si (a missing one is 403 AuthenticationFailed, the caller's to
 * report). No-op (0) for anything but AUTH_SAS_SERVICE.
 */
int auth_sas_apply_policy(struct auth_result *r, bool has_start,
                          int64_t start_ms, bool has_expiry,
                          int64_t expiry_ms, const char *perms,
                          struct err *err);

/*
 * Check a SAS for an operation, in this order (each a -ERR_AUTH):
 *   time     se required, st <= now_ms < se: AuthenticationFailed
 *   sip      client_ip (IPv4, or IPv4-mapped IPv6) in the range:
 *            AuthorizationSourceIPMismatch
 *   spr      "https" alone never applies (we serve plain HTTP):
 *            AuthorizationProtocolMismatch
 *   account  ss has svc ('b'/'q'): AuthorizationServiceMismatch; srt has
 *            restype ('s' service, 'c' container/queue, 'o' blob/message):
 *            AuthorizationResourceTypeMismatch
 *   service  restype 's' refused, and blob sr=b|bs|bv refused for 'c':
 *            AuthorizationFailure
 *   perms    one of the letters in perm_any (e.g. "cw") is granted; NULL
 *            or "" skips the check: AuthorizationPermissionMismatch
 * Scope within a container is the signature's job: sr=c covers any blob,
 * sr=b only the blob named in the signed resource. No-op (0) for SharedKey
 * and anonymous results.
 */
int auth_sas_check(const struct auth_result *r, enum auth_service svc,
                   char restype, const char *perm_any, int64_t now_ms,
                   const char *client_ip, struct err *err);

/*
 * Batch SharedKey: verify Authorization "SharedKey account:sig" over the
 * Batch string-to-sign, with the SDK tolerances of batch-wire.md §5.3
 * (Content-Length "" vs "0" on empty bodies, blank query values dropped),
 * and the ocp-date/Date skew. The account comes from the header. On
 * success *acct_out is the account (untouched on failure).
 * Errors (-ERR_AUTH, 403): InvalidAuthenticationInfo when Authorization is
 * missing or not "SharedKey name:base64-mac"; AuthenticationFailed for an
 * unknown account, a missing/malformed/skewed date or a signature
 * mismatch, with the value AuthenticationErrorDetail. -ERR_INVALID
 * (InvalidQueryParameterValue) for malformed %-encoding in the query.
 */
int auth_batch(const struct auth *a, struct http_req *req,
               const struct account **acct_out, struct err *err);

/*
 * Signing helper (tests, and anything in the daemon that signs): base64
 * HMAC-SHA256 of msg[0..len) with the account's key k (0 or 1), written
 * NUL-terminated to out (44 characters). Returns 0, -ERR_INVALID for a key
 * index the account lacks, or -ERR_NOMEM.
 */
int auth_sign(const struct account *acct, int k, const char *msg, size_t len,
              char out[64]);

#endif
