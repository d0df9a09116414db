/*
 * connstr.c: Azure storage connection strings, plus shoal's Batch keys.
 *
 * Grammar: segments separated by ';', each "Key=Value" split at the first
 * '=' (account keys end in '='), whitespace around keys and values
 * trimmed, empty segments skipped. Keys are matched case-insensitively;
 * unknown keys are ignored (connection strings from the portal carry
 * TableEndpoint, FileEndpoint ...), but a known key given twice is an
 * error: the two sources would disagree and we would guess.
 *
 * Derivation, in order:
 *
 *   UseDevelopmentStorage=true  account devstoreaccount1, its public key,
 *                               blob  http://127.0.0.1:10000/devstoreaccount1
 *                               queue http://127.0.0.1:10001/devstoreaccount1
 *                               batch http://127.0.0.1:10002
 *                               (DevelopmentStorageProxyUri replaces
 *                               "http://127.0.0.1")
 *   AccountName (no endpoint)   PROTO://ACCOUNT.blob.SUFFIX and .queue.;
 *                               PROTO from DefaultEndpointsProtocol
 *                               (default https), SUFFIX from EndpointSuffix
 *                               (default core.windows.net)
 *   explicit *Endpoint keys     override whatever was derived
 *   BatchAccountName/Key        default to AccountName/AccountKey
 *
 * Everything is validated that could end up in a URL or a signature:
 * control bytes anywhere are refused, account names are [A-Za-z0-9_-]
 * (1..64), keys must be base64. The string is bounded (CONNSTR_MAX).
 *
 * Reentrant; the result's strings belong to struct connstr.
 */
#include "client/clientint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/codec.h"
#include "core/parse.h"

#define CONNSTR_MAX 8192

enum ckey {
    CK_PROTOCOL,
    CK_ACCOUNT,
    CK_KEY,
    CK_SUFFIX,
    CK_BLOB,
    CK_QUEUE,
    CK_SAS,
    CK_DEV,
    CK_PROXY,
    CK_BATCH,
    CK_BATCH_ACCOUNT,
    CK_BATCH_KEY,
    CK_COUNT
};

static const char *const ckey_names[CK_COUNT] = {
    "DefaultEndpointsProtocol",
    "AccountName",
    "AccountKey",
    "EndpointSuffix",
    "BlobEndpoint",
    "QueueEndpoint",
    "SharedAccessSignature",
    "UseDevelopmentStorage",
    "DevelopmentStorageProxyUri",
    "BatchEndpoint",
    "BatchAccountName",
    "BatchAccountKey",
};

static int why_set(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int why_set(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why && whylen) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return SHOAL_ERR_INVALID;
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dupf(const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = buf_vaddf(&b, fmt, ap);
    va_end(ap);
    if (rc < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool valid_account(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 64)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool valid_key(const char *s)
{
    struct buf b = BUF_INIT;
    bool ok;

    ok = *s && codec_base64_decode(&b, s, strlen(s)) == 0 && b.len > 0;
    buf_release(&b);
    return ok;
}

void connstr_release(struct connstr *cs)
{
    free(cs->account);
    free(cs->key);
    free(cs->blob_url);
    free(cs->queue_url);
    free(cs->batch_url);
    free(cs->batch_account);
    free(cs->batch_key);
    free(cs->sas);
    memset(cs, 0, sizeof(*cs));
}

/* Split s into the values table; each value owned by vals. */
static int split(const char *s, char *vals[CK_COUNT], char *why, size_t whylen)
{
    const char *p = s;

    while (*p) {
        const char *end = strchr(p, ';');
        const char *eq, *k0, *k1, *v0, *v1;
        size_t seglen = end ? (size_t)(end - p) : strlen(p);
        int k;

        k0 = p;
        k1 = p + seglen;
        while (k0 < k1 && is_space(*k0))
            k0++;
        if (k0 == k1)
            goto next; /* empty segment */
        eq = memchr(k0, '=', (size_t)(k1 - k0));
        if (!eq)
            return why_set(why, whylen,
                           "segment without '=' in connection string");
        v0 = eq + 1;
        v1 = k1;
        k1 = eq;
        while (k1 > k0 && is_space(k1[-1]))
            k1--;
        if (k1 == k0)
            return why_set(why, whylen, "empty key in connection string");
        while (v0 < v1 && is_space(*v0))
            v0++;
        while (v1 > v0 && is_space(v1[-1]))
            v1--;
        for (k = 0; k < CK_COUNT; k++) {
            size_t kl = strlen(ckey_names[k]);

            if ((size_t)(k1 - k0) == kl &&
                strncasecmp(k0, ckey_names[k], kl) == 0)
                break;
        }
        if (k < CK_COUNT) {
            if (vals[k])
                return why_set(why, whylen,
                               "key '%s' given twice in connection string",
                               ckey_names[k]);
            vals[k] = dupn(v0, (size_t)(v1 - v0));
            if (!vals[k])
                return SHOAL_ERR_NOMEM;
        }
next:
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static int take(char **dst, char *src)
{
    if (!src)
        return SHOAL_ERR_NOMEM;
    free(*dst);
    *dst = src;
    return 0;
}

static int derive(char *v[CK_COUNT], struct connstr *cs, char *why,
                  size_t whylen)
{
    const char *proto = v[CK_PROTOCOL] ? v[CK_PROTOCOL] : "https";
    const char *suffix = v[CK_SUFFIX] ? v[CK_SUFFIX] : "core.windows.net";
    bool dev = false;

    if (v[CK_DEV]) {
        if (str_ieq(v[CK_DEV], "true"))
            dev = true;
        else if (!str_ieq(v[CK_DEV], "false"))
            return why_set(why, whylen,
                           "UseDevelopmentStorage must be true or false");
    }
    if (v[CK_PROXY] && !dev)
        return why_set(
            why, whylen,
            "DevelopmentStorageProxyUri needs UseDevelopmentStorage=true");
    if (!str_ieq(proto, "http") && !str_ieq(proto, "https"))
        return why_set(why, whylen,
                       "DefaultEndpointsProtocol must be http or https");
    if (dev) {
        const char *host = v[CK_PROXY] ? v[CK_PROXY] : "http://127.0.0.1";
        size_t hl = strlen(host);

        while (hl > 0 && host[hl - 1] == '/')
            hl--;
        if (take(&cs->account,
                 dupn(CLIENT_DEV_ACCOUNT, strlen(CLIENT_DEV_ACCOUNT))) < 0 ||
            take(&cs->key, dupn(CLIENT_DEV_KEY, strlen(CLIENT_DEV_KEY))) < 0 ||
            take(&cs->blob_url, dupf("%.*s:10000/%s", (int)hl, host,
                                     CLIENT_DEV_ACCOUNT)) < 0 ||
            take(&cs->queue_url, dupf("%.*s:10001/%s", (int)hl, host,
                                      CLIENT_DEV_ACCOUNT)) < 0 ||
            take(&cs->batch_url, dupf("%.*s:10002", (int)hl, host)) < 0)
            return SHOAL_ERR_NOMEM;
    }
    if (v[CK_ACCOUNT]) {
        if (!valid_account(v[CK_ACCOUNT]))
            return why_set(why, whylen, "bad AccountName in connection string");
        if (take(&cs->account, v[CK_ACCOUNT]) < 0)
            return SHOAL_ERR_NOMEM;
        v[CK_ACCOUNT] = NULL;
        if (!dev && (take(&cs->blob_url, dupf("%s://%s.blob.%s", proto,
                                              cs->account, suffix)) < 0 ||
                     take(&cs->queue_url, dupf("%s://%s.queue.%s", proto,
                                               cs->account, suffix)) < 0))
            return SHOAL_ERR_NOMEM;
    }
    if (v[CK_KEY]) {
        if (!valid_key(v[CK_KEY]))
            return why_set(why, whylen, "AccountKey is not base64");
        if (!cs->account)
            return why_set(why, whylen, "AccountKey without AccountName");
        take(&cs->key, v[CK_KEY]);
        v[CK_KEY] = NULL;
    }
    if (v[CK_BLOB]) {
        take(&cs->blob_url, v[CK_BLOB]);
        v[CK_BLOB] = NULL;
    }
    if (v[CK_QUEUE]) {
        take(&cs->queue_url, v[CK_QUEUE]);
        v[CK_QUEUE] = NULL;
    }
    if (v[CK_BATCH]) {
        take(&cs->batch_url, v[CK_BATCH]);
        v[CK_BATCH] = NULL;
    }
    if (v[CK_SAS]) {
        const char *s = v[CK_SAS];

        if (*s == '?')
            s++;
        if (!*s)
            return why_set(why, whylen, "empty SharedAccessSignature");
        if (take(&cs->sas, dupn(s, strlen(s))) < 0)
            return SHOAL_ERR_NOMEM;
    }
    if (v[CK_BATCH_ACCOUNT]) {
        if (!valid_account(v[CK_BATCH_ACCOUNT]))
            return why_set(why, whylen,
                           "bad BatchAccountName in connection string");
        take(&cs->batch_account, v[CK_BATCH_ACCOUNT]);
        v[CK_BATCH_ACCOUNT] = NULL;
    }
    if (v[CK_BATCH_KEY]) {
        if (!valid_key(v[CK_BATCH_KEY]))
            return why_set(why, whylen, "BatchAccountKey is not base64");
        take(&cs->batch_key, v[CK_BATCH_KEY]);
        v[CK_BATCH_KEY] = NULL;
    }
    if (!cs->blob_url && !cs->queue_url && !cs->batch_url)
        return why_set(why, whylen,
                       "connection string names no account or endpoint");
    return 0;
}

int connstr_parse(const char *s, struct connstr *cs, char *why, size_t whylen)
{
    char *vals[CK_COUNT] = { NULL };
    struct connstr tmp;
    size_t i, len;
    int rc, k;

    memset(&tmp, 0, sizeof(tmp));
    if (why && whylen)
        why[0] = '\0';
    if (!s || !*s)
        return why_set(why, whylen, "empty connection string");
    len = strlen(s);
    if (len > CONNSTR_MAX)
        return why_set(why, whylen, "connection string longer than %d bytes",
                       CONNSTR_MAX);
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x20 || ch == 0x7f)
            return why_set(why, whylen,
                           "control character in connection string");
    }
    rc = split(s, vals, why, whylen);
    if (rc < 0)
        goto out;
    rc = derive(vals, &tmp, why, whylen);
    if (rc < 0)
        goto out;
    *cs = tmp;
    memset(&tmp, 0, sizeof(tmp));
out:
    if (rc == SHOAL_ERR_NOMEM)
        why_set(why, whylen, "out of memory");
    connstr_release(&tmp);
    for (k = 0; k < CK_COUNT; k++)
        free(vals[k]);
    return rc;
}
