/*
 * url.c: endpoint URLs and escaping.
 *
 * An endpoint is split once, when the client is made, into its origin
 * ("http://127.0.0.1:10000") and base path ("/devstoreaccount1", or "" for
 * the root). Requests then build their path as base + escaped segments and
 * sign exactly the bytes they send, so what url_add_segment produces is
 * what the server canonicalizes.
 *
 * Escaping is strict: only RFC 3986 unreserved characters pass (plus '/'
 * inside blob names, as the SDKs keep it), everything else is %XX. Servers
 * decode %XX only, so '+' and ' ' both travel encoded. Query names keep '$'
 * ("$filter"), which Batch services expect literally.
 *
 * Reentrant; no state.
 */
#include "client/clientint.h"

#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/parse.h"

#define URL_MAX 2048

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static bool bad_byte(unsigned char ch)
{
    return ch <= 0x20 || ch >= 0x7f;
}

static int check_port(const char *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 5)
        return SHOAL_ERR_INVALID;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return SHOAL_ERR_INVALID;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    return v >= 1 && v <= 65535 ? 0 : SHOAL_ERR_INVALID;
}

/* host[:port] or [v6][:port]; no userinfo. */
static int check_authority(const char *a, size_t n)
{
    const char *colon = NULL;
    size_t i, hostlen;

    if (n == 0)
        return SHOAL_ERR_INVALID;
    for (i = 0; i < n; i++) {
        if (a[i] == '@')
            return SHOAL_ERR_INVALID;
    }
    if (a[0] == '[') {
        const char *end = memchr(a, ']', n);

        if (!end || end == a + 1)
            return SHOAL_ERR_INVALID;
        if ((size_t)(end - a) + 1 == n)
            return 0;
        if (end[1] != ':')
            return SHOAL_ERR_INVALID;
        return check_port(end + 2, n - (size_t)(end - a) - 2);
    }
    for (i = 0; i < n; i++) {
        if (a[i] == ':') {
            colon = a + i;
            break;
        }
    }
    hostlen = colon ? (size_t)(colon - a) : n;
    if (hostlen == 0)
        return SHOAL_ERR_INVALID;
    for (i = 0; i < hostlen; i++) {
        char ch = a[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
            return SHOAL_ERR_INVALID;
    }
    if (colon)
        return check_port(colon + 1, n - hostlen - 1);
    return 0;
}

int url_split(const char *url, char **origin_out, char **base_out)
{
    size_t schemelen, len, alen, plen, i;
    const char *auth, *path;
    char *origin = NULL;
    char *base = NULL;

    if (!url)
        return SHOAL_ERR_INVALID;
    len = strlen(url);
    if (len > URL_MAX)
        return SHOAL_ERR_INVALID;
    for (i = 0; i < len; i++) {
        if (bad_byte((unsigned char)url[i]) || url[i] == '?' || url[i] == '#' ||
            url[i] == '\\')
            return SHOAL_ERR_INVALID;
    }
    if (str_iprefix(url, "http://"))
        schemelen = 7;
    else if (str_iprefix(url, "https://"))
        schemelen = 8;
    else
        return SHOAL_ERR_INVALID;
    auth = url + schemelen;
    path = strchr(auth, '/');
    alen = path ? (size_t)(path - auth) : strlen(auth);
    if (check_authority(auth, alen) < 0)
        return SHOAL_ERR_INVALID;
    if (!path)
        path = auth + alen;
    plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    origin = dupn(url, schemelen + alen);
    base = dupn(path, plen);
    if (!origin || !base) {
        free(origin);
        free(base);
        return SHOAL_ERR_NOMEM;
    }
    /* The scheme in lower case; the host is case-insensitive anyway. */
    for (i = 0; i < schemelen; i++) {
        if (origin[i] >= 'A' && origin[i] <= 'Z')
            origin[i] = (char)(origin[i] - 'A' + 'a');
    }
    *origin_out = origin;
    *base_out = base;
    return 0;
}

int url_add_segment(struct buf *b, const char *seg, bool keep_slash)
{
    if (!seg || !*seg)
        return SHOAL_ERR_INVALID;
    if (buf_addc(b, '/') < 0)
        return SHOAL_ERR_NOMEM;
    if (codec_pct_encode(b, seg, strlen(seg), keep_slash ? "/" : NULL) < 0)
        return SHOAL_ERR_NOMEM;
    return 0;
}

int url_add_query(struct buf *b, const char *name, const char *value,
                  bool first)
{
    if (buf_addc(b, first ? '?' : '&') < 0)
        return SHOAL_ERR_NOMEM;
    if (codec_pct_encode(b, name, strlen(name), "$") < 0)
        return SHOAL_ERR_NOMEM;
    if (buf_addc(b, '=') < 0)
        return SHOAL_ERR_NOMEM;
    if (codec_pct_encode(b, value, strlen(value), NULL) < 0)
        return SHOAL_ERR_NOMEM;
    return 0;
}
