/*
 * codec.c: base64, hex and URL percent-encoding over struct buf.
 *
 * Encoders work through a small stack buffer and append it to the output
 * with buf_add, one chunk at a time, so the only allocation is the output
 * buffer's own growth and its size limit (max) is honoured as usual.
 *
 * Decoders are strict because their input comes from the network:
 *
 *   base64   standard alphabet (RFC 4648 section 4), length a multiple of 4,
 *            '=' padding required and only at the end, no whitespace or line
 *            breaks. The unused low bits of the last symbol before padding
 *            must be zero ("QR==" is refused, "QQ==" accepted), so every byte
 *            string has exactly one accepted encoding. Block ids depend on
 *            that: two spellings of one id must not name two blocks.
 *   percent  "%XX" with hex digits of either case; a '%' without two hex
 *            digits is invalid. A decoded or literal NUL byte is invalid,
 *            since decoded names become C strings downstream.
 *
 * On a decoding error the bytes decoded so far stay in the buffer; callers
 * reset it. Lookup tables are const and built at compile time, so every
 * function is thread-safe.
 */
#include "core/codec.h"

#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

#define CODEC_CHUNK 1024

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 symbol, or -1 for anything outside the alphabet. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Value of a hex digit, or -1. */
static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int codec_base64_encode(struct buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    char chunk[CODEC_CHUNK];
    size_t n = 0;
    int rc;

    while (len >= 3) {
        uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];

        chunk[n++] = b64_alphabet[(v >> 18) & 63];
        chunk[n++] = b64_alphabet[(v >> 12) & 63];
        chunk[n++] = b64_alphabet[(v >> 6) & 63];
        chunk[n++] = b64_alphabet[v & 63];
        p += 3;
        len -= 3;
        if (n == sizeof(chunk)) {
            rc = buf_add(out, chunk, n);
            if (rc < 0)
                return rc;
            n = 0;
        }
    }
    if (len > 0) {
        uint32_t v = (uint32_t)p[0] << 16;

        if (len == 2)
            v |= (uint32_t)p[1] << 8;
        chunk[n++] = b64_alphabet[(v >> 18) & 63];
        chunk[n++] = b64_alphabet[(v >> 12) & 63];
        chunk[n++] = len == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
        chunk[n++] = '=';
    }
    return n > 0 ? buf_add(out, chunk, n) : 0;
}

int codec_base64_decode(struct buf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char chunk[CODEC_CHUNK];
    size_t n = 0;
    size_t i;
    int rc;

    if (len % 4 != 0)
        return -ERR_INVALID;
    for (i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int a = b64_value(p[i]);
        int b = b64_value(p[i + 1]);
        int c;
        int d;
        uint32_t v;

        if (a < 0 || b < 0)
            return -ERR_INVALID;
        if (last && p[i + 2] == '=') {
            /* "xx==": one byte; the low 4 bits of b must be zero. */
            if (p[i + 3] != '=' || (b & 0x0f) != 0)
                return -ERR_INVALID;
            v = (uint32_t)a << 18 | (uint32_t)b << 12;
            chunk[n++] = (unsigned char)(v >> 16);
        } else if (last && p[i + 3] == '=') {
            /* "xxx=": two bytes; the low 2 bits of c must be zero. */
            c = b64_value(p[i + 2]);
            if (c < 0 || (c & 0x03) != 0)
                return -ERR_INVALID;
            v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
            chunk[n++] = (unsigned char)(v >> 16);
            chunk[n++] = (unsigned char)(v >> 8);
        } else {
            c = b64_value(p[i + 2]);
            d = b64_value(p[i + 3]);
            if (c < 0 || d < 0)
                return -ERR_INVALID;
            v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
                (uint32_t)d;
            chunk[n++] = (unsigned char)(v >> 16);
            chunk[n++] = (unsigned char)(v >> 8);
            chunk[n++] = (unsigned char)v;
        }
        if (n + 3 > sizeof(chunk)) {
            rc = buf_add(out, chunk, n);
            if (rc < 0)
                return rc;
            n = 0;
        }
    }
    return n > 0 ? buf_add(out, chunk, n) : 0;
}

int codec_hex_encode(struct buf *out, const void *data, size_t len, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    const unsigned char *p = data;
    char chunk[CODEC_CHUNK];
    size_t n = 0;
    size_t i;
    int rc;

    for (i = 0; i < len; i++) {
        chunk[n++] = digits[p[i] >> 4];
        chunk[n++] = digits[p[i] & 0x0f];
        if (n == sizeof(chunk)) {
            rc = buf_add(out, chunk, n);
            if (rc < 0)
                return rc;
            n = 0;
        }
    }
    return n > 0 ? buf_add(out, chunk, n) : 0;
}

int codec_pct_decode(struct buf *out, const char *s, size_t len,
                     bool plus_is_space)
{
    const unsigned char *p = (const unsigned char *)s;
    char chunk[CODEC_CHUNK];
    size_t n = 0;
    size_t i = 0;
    int rc;

    while (i < len) {
        unsigned char c = p[i];

        if (c == '%') {
            int hi;
            int lo;

            if (len - i < 3)
                return -ERR_INVALID;
            hi = hex_value(p[i + 1]);
            lo = hex_value(p[i + 2]);
            if (hi < 0 || lo < 0)
                return -ERR_INVALID;
            c = (unsigned char)(hi << 4 | lo);
            i += 3;
        } else {
            if (c == '+' && plus_is_space)
                c = ' ';
            i++;
        }
        if (c == '\0')
            return -ERR_INVALID;
        chunk[n++] = (char)c;
        if (n == sizeof(chunk)) {
            rc = buf_add(out, chunk, n);
            if (rc < 0)
                return rc;
            n = 0;
        }
    }
    return n > 0 ? buf_add(out, chunk, n) : 0;
}

/* Unreserved characters of RFC 3986 section 2.3. */
static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

int codec_pct_encode(struct buf *out, const char *s, size_t len,
                     const char *keep)
{
    static const char digits[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    char chunk[CODEC_CHUNK];
    size_t n = 0;
    size_t i;
    int rc;

    for (i = 0; i < len; i++) {
        unsigned char c = p[i];

        /* c != 0: strchr would match the terminator of keep. */
        if (is_unreserved(c) ||
            (keep != NULL && c != '\0' && strchr(keep, c) != NULL)) {
            chunk[n++] = (char)c;
        } else {
            chunk[n++] = '%';
            chunk[n++] = digits[c >> 4];
            chunk[n++] = digits[c & 0x0f];
        }
        if (n + 3 > sizeof(chunk)) {
            rc = buf_add(out, chunk, n);
            if (rc < 0)
                return rc;
            n = 0;
        }
    }
    return n > 0 ? buf_add(out, chunk, n) : 0;
}
