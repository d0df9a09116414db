#ifndef SHOAL_BUF_H
#define SHOAL_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * struct buf: a growable byte buffer (git's strbuf plus curl dynbuf's limit).
 *
 * After BUF_INIT or buf_init(), data is never NULL and always NUL-terminated,
 * yet binary-safe (len rules). An empty buffer allocates nothing (data points
 * at a shared empty string). Growing past max fails with -ERR_TOOBIG; running
 * out of memory fails with -ERR_NOMEM (never aborts: libshoal uses this too).
 * buf_detach() is the only way to take the bytes.
 */
struct buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t max;
};

extern char buf_slopbuf[];
#define BUF_INIT {buf_slopbuf, 0, 0, (size_t)-1}

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
/* Length to zero, keeps the allocation. */
void buf_reset(struct buf *b);
/* Make room for extra more bytes (plus the NUL). */
int buf_grow(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Shorten to len (len <= b->len). */
void buf_setlen(struct buf *b, size_t len);
/*
 * Take the bytes: returns a malloc'd NUL-terminated string (never NULL unless
 * out of memory), stores its length in *len_out if not NULL, and leaves b
 * empty (as after buf_init with the same max).
 */
char *buf_detach(struct buf *b, size_t *len_out);

#endif
