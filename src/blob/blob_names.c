/*
 * blob_names.c: what the blob service accepts as a name, and the shapes
 * names travel in.
 *
 * Paths. Requests are path-style, /account/container/blob, with the raw
 * (percent-encoded) path as the client sent it. The account is the first
 * segment, the container the second, and the blob name everything after
 * the container's slash, decoded as a whole: "%2F" and "/" both become a
 * slash, which is part of the name. A blob name with a "." or ".." segment
 * is refused (InvalidUri) instead of being normalised: the SDKs' URL
 * classes would normalise such a name on the client side, so it could
 * never be addressed consistently. None of this touches the filesystem:
 * bytes are stored by file id (blob_files.c), so a name can never reach a
 * path; the rules here are about the wire, not about safety of the disk.
 *
 * Names. Containers: 3-63 characters of [a-z0-9-], starting and ending
 * with a letter or digit, no "--"; plus the reserved $root, $logs, $web.
 * Blobs: 1-1024 characters (Unicode code points) of valid UTF-8, without
 * C0 controls (XML 1.0 cannot carry them in listings). Metadata names are
 * C# identifiers.
 *
 * Metadata form. Inside shoal a set of metadata is one string of
 * "name:value\n" lines, in the order received, which is what the
 * database stores. Names cannot hold ':' or '\n' (identifiers) and values
 * cannot hold '\n' (they were header values), so the form needs no
 * escaping. The 8 KiB limit counts names and values, as the service does.
 *
 * Everything here is pure and reentrant.
 */
#include "blob/blobint.h"

#include <string.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool blob_names_container_ok(const char *name)
{
    size_t n;

    if (!name)
        return false;
    if (strcmp(name, "$root") == 0 || strcmp(name, "$logs") == 0 ||
        strcmp(name, "$web") == 0)
        return true;
    n = strlen(name);
    if (n < 3 || n > BLOB_CONTAINER_MAX)
        return false;
    if (!is_lower_alnum(name[0]) || !is_lower_alnum(name[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '-') {
            if (name[i + 1] == '-')
                return false;
            continue;
        }
        if (!is_lower_alnum(name[i]))
            return false;
    }
    return true;
}

/*
 * Length of the UTF-8 sequence at s[0..n), or 0 if it is not a valid,
 * shortest-form encoding of a scalar value (no surrogates, <= U+10FFFF).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        if (n < 2 || (s[1] & 0xC0) != 0x80)
            return 0;
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* past U+10FFFF */
        return 4;
    }
    return 0;
}

static bool dot_segment(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

static bool has_dot_segment(const char *name, size_t len)
{
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '/') {
            if (dot_segment(name + start, i - start))
                return true;
            start = i + 1;
        }
    }
    return false;
}

bool blob_names_blob_ok(const char *name, size_t len)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t chars = 0;
    size_t i = 0;

    if (!name || len == 0 || len > BLOB_NAME_MAX_BYTES)
        return false;
    while (i < len) {
        size_t k;

        if (s[i] < 0x20 || s[i] == 0x7F)
            return false;
        k = utf8_len(s + i, len - i);
        if (k == 0)
            return false;
        /* U+FFFE and U+FFFF are not XML characters */
        if (k == 3 && s[i] == 0xEF && s[i + 1] == 0xBF && s[i + 2] >= 0xBE)
            return false;
        i += k;
        if (++chars > BLOB_NAME_MAX_CHARS)
            return false;
    }
    return !has_dot_segment(name, len);
}

bool blob_names_meta_ok(const char *name)
{
    char c = name ? name[0] : '\0';

    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
        return false;
    for (const char *p = name + 1; *p; p++) {
        c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static int decode_part(const char *s, size_t n, char **out, size_t *len_out,
                       struct err *err)
{
    struct buf b = BUF_INIT;

    buf_init(&b, 64 * 1024);
    if (codec_pct_decode(&b, s, n, false) < 0) {
        buf_release(&b);
        return err_set(err, ERR_INVALID, "InvalidUri",
                       "the request path is not a valid uri");
    }
    *out = buf_detach(&b, len_out);
    if (!*out)
        BUG("out of memory decoding a path");
    return 0;
}

void blob_names_path_release(struct blob_path *p)
{
    FREE_AND_NULL(p->account);
    FREE_AND_NULL(p->container);
    FREE_AND_NULL(p->blob);
    p->blob_len = 0;
}

int blob_names_split_path(const char *raw_path, struct blob_path *out,
                          struct err *err)
{
    const char *s = raw_path;
    const char *slash;
    size_t n;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s || s[0] != '/')
        return err_set(err, ERR_INVALID, "InvalidUri",
                       "the request path must start with '/'");
    s++;
    slash = strchr(s, '/');
    n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0)
        return err_set(err, ERR_INVALID, "InvalidUri",
                       "the request path names no account");
    rc = decode_part(s, n, &out->account, NULL, err);
    if (rc < 0)
        goto fail;
    if (!slash || slash[1] == '\0')
        return 0;
    s = slash + 1;
    slash = strchr(s, '/');
    n = slash ? (size_t)(slash - s) : strlen(s);
    rc = decode_part(s, n, &out->container, NULL, err);
    if (rc < 0)
        goto fail;
    if (!slash || slash[1] == '\0')
        return 0;
    rc = decode_part(slash + 1, strlen(slash + 1), &out->blob, &out->blob_len,
                     err);
    if (rc < 0)
        goto fail;
    if (has_dot_segment(out->blob, out->blob_len)) {
        rc = err_set(err, ERR_INVALID, "InvalidUri",
                     "blob names with '.' or '..' segments are not allowed");
        goto fail;
    }
    return 0;
fail:
    blob_names_path_release(out);
    return rc;
}

int blob_names_meta_add(struct buf *b, const char *name, const char *value,
                        struct err *err)
{
    size_t used = 0;
    size_t pos = 0;
    const char *n, *v;
    size_t nl, vl;

    if (!name[0])
        return err_set(err, ERR_INVALID, "EmptyMetadataKey",
                       "a metadata name is empty");
    if (!blob_names_meta_ok(name))
        return err_set(err, ERR_INVALID, "InvalidMetadata",
                       "metadata name '%.64s' is not a valid identifier", name);
    for (const char *p = value; *p; p++) {
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return err_set(err, ERR_INVALID, "InvalidMetadata",
                           "metadata value of '%.64s' holds a control "
                           "character",
                           name);
    }
    while (blob_names_meta_next(b->data, &pos, &n, &nl, &v, &vl))
        used += nl + vl;
    if (used + strlen(name) + strlen(value) > BLOB_META_MAX)
        return err_set(err, ERR_INVALID, "MetadataTooLarge",
                       "metadata is larger than %d bytes", BLOB_META_MAX);
    buf_adds(b, name);
    buf_addc(b, ':');
    buf_adds(b, value);
    buf_addc(b, '\n');
    return 0;
}

bool blob_names_meta_next(const char *meta, size_t *pos, const char **name,
                          size_t *name_len, const char **value,
                          size_t *value_len)
{
    const char *s, *colon, *nl;

    if (!meta)
        return false;
    s = meta + *pos;
    if (!*s)
        return false;
    nl = strchr(s, '\n');
    if (!nl)
        nl = s + strlen(s);
    colon = memchr(s, ':', (size_t)(nl - s));
    if (!colon)
        colon = nl;
    *name = s;
    *name_len = (size_t)(colon - s);
    *value = colon < nl ? colon + 1 : nl;
    *value_len = (size_t)(nl - *value);
    *pos = (size_t)(nl - meta) + (*nl ? 1 : 0);
    return true;
}

int blob_names_block_id(const char *b64, size_t len,
                        unsigned char out[BLOB_BLOCK_ID_MAX], size_t *len_out,
                        struct err *err)
{
    struct buf b = BUF_INIT;
    int rc = 0;

    buf_init(&b, 2 * BLOB_BLOCK_ID_MAX);
    if (len == 0 || len > 4 * BLOB_BLOCK_ID_MAX ||
        codec_base64_decode(&b, b64, len) < 0 || b.len == 0 ||
        b.len > BLOB_BLOCK_ID_MAX) {
        rc = err_set(err, ERR_INVALID, "InvalidBlockId",
                     "the block id is not valid base64 of 1 to %d bytes",
                     BLOB_BLOCK_ID_MAX);
        goto out;
    }
    memcpy(out, b.data, b.len);
    *len_out = b.len;
out:
    buf_release(&b);
    return rc;
}
