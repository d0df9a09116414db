/*
 * sign.c: SharedKey strings to sign, storage and Batch flavours.
 *
 * Storage (storage-wire.md §3): twelve standard lines, each ending '\n':
 *
 *   VERB, Content-Encoding, Content-Language, Content-Length ("" when 0),
 *   Content-MD5, Content-Type, Date, If-Modified-Since, If-Match,
 *   If-None-Match, If-Unmodified-Since, Range
 *
 * then every x-ms-* header as "name:value\n" (name lower-cased, sorted
 * byte-wise: the names we send hold no '-'/'_'/digit clashes that would make
 * the SDK orders differ), then "/" + account + the escaped path as sent,
 * then per query parameter, sorted by lower-cased name, "\n" + name + ":" +
 * the decoded values (a repeated name's values sorted and joined by ',').
 * Path-style URLs therefore name the account twice, as the server expects.
 *
 * Batch (batch-wire.md §5.1): the same twelve lines with Content-Length as
 * sent ("0" stays "0") and Date empty because we always send ocp-date; then
 * every ocp-* header with a non-empty value, then "/" + account + path, then
 * "\n" + name + ":" + value per parameter, names as sent (byte order), the
 * first value of a repeated name.
 *
 * The header list must already hold every header that will be sent,
 * content-length included (transport.c adds it before signing).
 *
 * Reentrant; memory is per call.
 */
#include "client/clientint.h"

#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "core/parse.h"

static const char *const std_lines[] = {
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
};

struct pair {
    char *name; /* lower-cased copy (storage) or borrowed (batch) */
    const char *value;
    size_t idx;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a;
    const struct pair *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    c = strcmp(x->value, y->value);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_pair_stable(const void *a, const void *b)
{
    const struct pair *x = a;
    const struct pair *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static char *lower_dup(const char *s)
{
    size_t n = strlen(s), i;
    char *p = malloc(n + 1);

    if (!p)
        return NULL;
    for (i = 0; i <= n; i++) {
        char ch = s[i];

        p[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    return p;
}

static void free_pairs(struct pair *p, size_t n)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; i < n; i++)
        free(p[i].name);
    free(p);
}

/*
 * Copy the entries of l whose lower-cased name starts with prefix (all when
 * prefix is NULL) and, when nonempty, have a non-empty value; sorted.
 */
static int collect(const struct kvlist *l, const char *prefix, bool nonempty,
                   bool by_value, struct pair **out, size_t *n_out)
{
    struct pair *p = NULL;
    size_t n = 0, i, bytes;

    if (!size_mul(l->n + 1, sizeof(*p), &bytes))
        return SHOAL_ERR_NOMEM;
    p = calloc(1, bytes);
    if (!p)
        return SHOAL_ERR_NOMEM;
    for (i = 0; i < l->n; i++) {
        if (prefix && !str_iprefix(l->v[i].name, prefix))
            continue;
        if (nonempty && !l->v[i].value[0])
            continue;
        p[n].name = lower_dup(l->v[i].name);
        if (!p[n].name) {
            free_pairs(p, n);
            return SHOAL_ERR_NOMEM;
        }
        p[n].value = l->v[i].value;
        p[n].idx = i;
        n++;
    }
    qsort(p, n, sizeof(*p), by_value ? cmp_pair : cmp_pair_stable);
    *out = p;
    *n_out = n;
    return 0;
}

static int std_block(const char *method, const struct kvlist *h, bool storage,
                     struct buf *out)
{
    size_t i;

    if (buf_addf(out, "%s\n", method) < 0)
        return SHOAL_ERR_NOMEM;
    for (i = 0; i < sizeof(std_lines) / sizeof(std_lines[0]); i++) {
        const char *v = kvlist_get(h, std_lines[i]);

        if (!v)
            v = "";
        if (storage && i == 2 && strcmp(v, "0") == 0)
            v = "";
        if (!storage && i == 5 && kvlist_get(h, "ocp-date"))
            v = "";
        if (buf_adds(out, v) < 0 || buf_addc(out, '\n') < 0)
            return SHOAL_ERR_NOMEM;
    }
    return 0;
}

static int header_block(const struct kvlist *h, const char *prefix,
                        bool nonempty, struct buf *out)
{
    struct pair *p = NULL;
    size_t n = 0, i;
    int rc;

    rc = collect(h, prefix, nonempty, false, &p, &n);
    if (rc < 0)
        return rc;
    for (i = 0; i < n; i++) {
        if (buf_addf(out, "%s:%s\n", p[i].name, p[i].value) < 0) {
            rc = SHOAL_ERR_NOMEM;
            break;
        }
    }
    free_pairs(p, n);
    return rc;
}

int sign_storage_string(const char *method, const struct kvlist *headers,
                        const char *account, const char *path,
                        const struct kvlist *query, struct buf *out)
{
    struct pair *p = NULL;
    size_t n = 0, i;
    int rc;

    rc = std_block(method, headers, true, out);
    if (rc < 0)
        return rc;
    rc = header_block(headers, "x-ms-", false, out);
    if (rc < 0)
        return rc;
    if (buf_addf(out, "/%s%s", account, path) < 0)
        return SHOAL_ERR_NOMEM;
    rc = collect(query, NULL, false, true, &p, &n);
    if (rc < 0)
        return rc;
    for (i = 0; i < n && rc == 0; i++) {
        bool same = i > 0 && strcmp(p[i].name, p[i - 1].name) == 0;

        if (same)
            rc = buf_addf(out, ",%s", p[i].value);
        else
            rc = buf_addf(out, "\n%s:%s", p[i].name, p[i].value);
        if (rc < 0)
            rc = SHOAL_ERR_NOMEM;
    }
    free_pairs(p, n);
    return rc;
}

static int cmp_raw(const void *a, const void *b)
{
    const struct kv *const *x = a;
    const struct kv *const *y = b;
    int c = strcmp((*x)->name, (*y)->name);

    if (c)
        return c;
    return *x < *y ? -1 : *x > *y;
}

int sign_batch_string(const char *method, const struct kvlist *headers,
                      const char *account, const char *path,
                      const struct kvlist *query, struct buf *out)
{
    const struct kv **v = NULL;
    size_t i, bytes;
    int rc;

    rc = std_block(method, headers, false, out);
    if (rc < 0)
        return rc;
    rc = header_block(headers, "ocp-", true, out);
    if (rc < 0)
        return rc;
    if (buf_addf(out, "/%s%s", account, path) < 0)
        return SHOAL_ERR_NOMEM;
    if (!size_mul(query->n + 1, sizeof(*v), &bytes))
        return SHOAL_ERR_NOMEM;
    v = malloc(bytes);
    if (!v)
        return SHOAL_ERR_NOMEM;
    for (i = 0; i < query->n; i++)
        v[i] = &query->v[i];
    /* Sorting by (name, position) keeps the first value of a repeat first. */
    qsort(v, query->n, sizeof(*v), cmp_raw);
    for (i = 0; i < query->n; i++) {
        if (i > 0 && strcmp(v[i]->name, v[i - 1]->name) == 0)
            continue;
        if (buf_addf(out, "\n%s:%s", v[i]->name, v[i]->value) < 0) {
            rc = SHOAL_ERR_NOMEM;
            break;
        }
    }
    free(v);
    return rc;
}

int sign_hmac(const unsigned char *key, size_t keylen, const char *msg,
              size_t len, struct buf *out)
{
    unsigned char mac[CRYPTO_SHA256_LEN];

    crypto_hmac_sha256(key, keylen, msg, len, mac);
    if (codec_base64_encode(out, mac, sizeof(mac)) < 0)
        return SHOAL_ERR_NOMEM;
    return 0;
}
