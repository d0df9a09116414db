/*
 * buf.c: growable byte buffers.
 *
 * Invariants: data is never NULL and data[len] == '\0'. While alloc == 0,
 * data points at buf_slopbuf (a shared empty string that is never written:
 * buf_setlen(b, 0) on it writes the NUL that is already there). alloc counts
 * the bytes allocated, NUL included; len + 1 <= alloc once allocated. max
 * bounds len: growth beyond it fails with -ERR_TOOBIG, which is how request
 * headers, XML and JSON bodies and filters are bounded by construction.
 * Growth doubles; allocation failure is reported, never fatal, so libshoal
 * can share this file.
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

char buf_slopbuf[1];

void buf_init(struct buf *b, size_t max)
{
    b->data = buf_slopbuf;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
}

void buf_release(struct buf *b)
{
    if (b->alloc)
        free(b->data);
    buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
    buf_setlen(b, 0);
}

void buf_setlen(struct buf *b, size_t len)
{
    if (len > b->len)
        len = b->len;
    b->len = len;
    if (b->alloc)
        b->data[len] = '\0';
}

int buf_grow(struct buf *b, size_t extra)
{
    size_t need, nalloc;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return -ERR_TOOBIG;
    need = b->len + extra + 1;
    if (need < b->len)
        return -ERR_TOOBIG;
    if (need <= b->alloc)
        return 0;
    nalloc = b->alloc ? b->alloc : 64;
    while (nalloc < need) {
        if (nalloc > ((size_t)-1) / 2) {
            nalloc = need;
            break;
        }
        nalloc *= 2;
    }
    p = realloc(b->alloc ? b->data : NULL, nalloc);
    if (!p)
        return -ERR_NOMEM;
    if (!b->alloc)
        p[0] = '\0';
    b->data = p;
    b->alloc = nalloc;
    return 0;
}

int buf_add(struct buf *b, const void *data, size_t len)
{
    int rc;

    if (len == 0)
        return 0;
    rc = buf_grow(b, len);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n, rc;
    size_t room;

    room = b->alloc ? b->alloc - b->len : 0;
    va_copy(cp, ap);
    n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, cp);
    va_end(cp);
    if (n < 0)
        return -ERR_INVALID;
    if ((size_t)n < room) {
        if (n > 0 && b->len + (size_t)n > b->max) {
            b->data[b->len] = '\0';
            return -ERR_TOOBIG;
        }
        b->len += (size_t)n;
        return 0;
    }
    rc = buf_grow(b, (size_t)n);
    if (rc < 0) {
        if (b->alloc)
            b->data[b->len] = '\0';
        return rc;
    }
    va_copy(cp, ap);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, cp);
    va_end(cp);
    b->len += (size_t)n;
    return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *buf_detach(struct buf *b, size_t *len_out)
{
    char *p;

    if (len_out)
        *len_out = b->len;
    if (!b->alloc) {
        p = malloc(1);
        if (p)
            p[0] = '\0';
        return p;
    }
    p = b->data;
    buf_init(b, b->max);
    return p;
}
