#ifndef SHOAL_CODEC_H
#define SHOAL_CODEC_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/*
 * Text codecs: base64, hex and URL percent-encoding. Encoders append to a
 * struct buf; decoders append the decoded bytes and return -ERR_INVALID on
 * malformed input (leaving what was appended so far; callers reset on error).
 * All return -ERR_NOMEM / -ERR_TOOBIG from the buffer.
 */
int codec_base64_encode(struct buf *out, const void *data, size_t len);
/*
 * Standard alphabet with padding; whitespace is invalid, the length must be a
 * multiple of 4, and the unused bits before the padding must be zero ("QR=="
 * is invalid, "QQ==" is "A"), so each byte string has one accepted spelling.
 */
int codec_base64_decode(struct buf *out, const char *s, size_t len);
/* Hex, lowercase unless upper. */
int codec_hex_encode(struct buf *out, const void *data, size_t len,
                     bool upper);
/*
 * Percent-decode s[0..len). '%XX' is decoded; a '%' not followed by two hex
 * digits is invalid. When plus_is_space, '+' becomes ' ' (form encoding);
 * storage decodes %XX only. Decoded NUL bytes are invalid (names are C
 * strings downstream).
 */
int codec_pct_decode(struct buf *out, const char *s, size_t len,
                     bool plus_is_space);
/*
 * Percent-encode: unreserved characters (A-Z a-z 0-9 - . _ ~) and any
 * character in `keep` (may be NULL) pass through; everything else, NUL bytes
 * included, becomes %XX (upper hex).
 */
int codec_pct_encode(struct buf *out, const char *s, size_t len,
                     const char *keep);

#endif
