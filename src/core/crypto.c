/*
 * crypto.c: hashes, MACs, CRC-64, randomness and UUIDs.
 *
 * Hashes and HMAC go through OpenSSL's EVP layer (the low-level SHA256_* and
 * MD5_* calls are deprecated in OpenSSL 3). The one-shot functions return
 * void by contract; OpenSSL can only fail there when it runs out of memory,
 * and then the output is filled with random bytes instead: a signature or
 * digest compared against it fails closed, and nothing aborts (libshoal
 * links this file and must not abort).
 *
 * CRC-64 is our own, table-driven, slicing-by-8. The polynomial is Azure
 * Storage's, 0x9A6C9329AC4BC9B5 in reflected form, and the convention is
 * Azure's too (the storage SDKs start from a context of 0 and invert it on
 * entry and exit of every update). That makes crypto_crc64(0, ...) the
 * CRC-64/NVME check (init and xorout all ones): "123456789" gives
 * 0xAE8B14860A799888, and feeding data in pieces, passing the previous result
 * back in, gives the same value as one call. The tables (8 x 256 words,
 * 16 KiB) are built once, under pthread_once, on first use; after that they
 * are read-only, so any thread may call crypto_crc64.
 *
 *   T[0][b]   = CRC of the single byte b (no inversion)
 *   T[k][b]   = T[k-1][b] >> 8 ^ T[0][T[k-1][b] & 0xff]
 *
 * so T[k] advances a byte through k further zero bytes, and one round folds
 * eight input bytes with eight lookups.
 *
 * Random bytes come from getrandom(2) (blocking only until the kernel pool
 * is first initialised, at boot); a failure there aborts, as the header
 * says: there is no safe fallback for key and token generation.
 */
#include "core/crypto.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/err.h"

#define CRC64_POLY 0x9A6C9329AC4BC9B5ULL

static uint64_t crc64_table[8][256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

void crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
                        size_t msglen, unsigned char out[CRYPTO_SHA256_LEN])
{
    static const unsigned char empty[1];
    unsigned int outlen = 0;

    /* OpenSSL treats a NULL key as "reuse the last one"; never pass it. */
    if (key == NULL || keylen == 0) {
        key = empty;
        keylen = 0;
    }
    if (msg == NULL)
        msg = empty;
    if (keylen > INT32_MAX ||
        HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen) ==
            NULL ||
        outlen != CRYPTO_SHA256_LEN)
        crypto_random(out, CRYPTO_SHA256_LEN);
}

/* One-shot digest of len bytes; random bytes on an OpenSSL failure. */
static void digest(const EVP_MD *md, const void *data, size_t len,
                   unsigned char *out, unsigned int want)
{
    static const unsigned char empty[1];
    unsigned int outlen = 0;

    if (data == NULL)
        data = empty;
    if (EVP_Digest(data, len, out, &outlen, md, NULL) != 1 || outlen != want)
        crypto_random(out, want);
}

void crypto_sha256(const void *data, size_t len,
                   unsigned char out[CRYPTO_SHA256_LEN])
{
    digest(EVP_sha256(), data, len, out, CRYPTO_SHA256_LEN);
}

void crypto_md5(const void *data, size_t len, unsigned char out[CRYPTO_MD5_LEN])
{
    digest(EVP_md5(), data, len, out, CRYPTO_MD5_LEN);
}

int crypto_md5_init(struct crypto_md5_ctx *c)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    c->md = NULL;
    if (ctx == NULL)
        return -ERR_NOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return -ERR_NOMEM;
    }
    c->md = ctx;
    return 0;
}

void crypto_md5_update(struct crypto_md5_ctx *c, const void *data, size_t len)
{
    /* MD5 update has no failure mode once initialised. */
    if (len > 0)
        (void)EVP_DigestUpdate(c->md, data, len);
}

void crypto_md5_final(struct crypto_md5_ctx *c,
                      unsigned char out[CRYPTO_MD5_LEN])
{
    unsigned int outlen = 0;

    if (EVP_DigestFinal_ex(c->md, out, &outlen) != 1 ||
        outlen != CRYPTO_MD5_LEN)
        crypto_random(out, CRYPTO_MD5_LEN);
}

void crypto_md5_release(struct crypto_md5_ctx *c)
{
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

static void crc64_init_tables(void)
{
    unsigned b;
    int k;

    for (b = 0; b < 256; b++) {
        uint64_t crc = b;

        for (k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ CRC64_POLY : crc >> 1;
        crc64_table[0][b] = crc;
    }
    for (b = 0; b < 256; b++) {
        uint64_t crc = crc64_table[0][b];

        for (k = 1; k < 8; k++) {
            crc = (crc >> 8) ^ crc64_table[0][crc & 0xff];
            crc64_table[k][b] = crc;
        }
    }
}

/* Little-endian 64-bit load; compilers turn this into one mov on x86. */
static uint64_t load_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
           (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

uint64_t crypto_crc64(uint64_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;

    pthread_once(&crc64_once, crc64_init_tables);
    crc = ~crc;
    while (len >= 8) {
        crc ^= load_le64(p);
        crc = crc64_table[7][crc & 0xff] ^ crc64_table[6][(crc >> 8) & 0xff] ^
              crc64_table[5][(crc >> 16) & 0xff] ^
              crc64_table[4][(crc >> 24) & 0xff] ^
              crc64_table[3][(crc >> 32) & 0xff] ^
              crc64_table[2][(crc >> 40) & 0xff] ^
              crc64_table[1][(crc >> 48) & 0xff] ^ crc64_table[0][crc >> 56];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        crc = (crc >> 8) ^ crc64_table[0][(crc ^ *p) & 0xff];
        p++;
        len--;
    }
    return ~crc;
}

void crypto_random(void *out, size_t len)
{
    unsigned char *p = out;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "fatal: getrandom failed errno=%d\n", errno);
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
}

void crypto_uuid(char out[37])
{
    unsigned char b[16];

    crypto_random(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
