#ifndef SHOAL_CRYPTO_H
#define SHOAL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Crypto helpers over OpenSSL libcrypto: HMAC-SHA256 (SharedKey, SAS,
 * webhook signatures), SHA-256 (event ETags), MD5 (Content-MD5), plus
 * CRC-64 (Azure's x-ms-content-crc64, our own), random bytes and UUIDs.
 * All are thread-safe.
 */
#define CRYPTO_SHA256_LEN 32
#define CRYPTO_MD5_LEN 16

/*
 * One-shot HMAC-SHA256, SHA-256 and MD5. If OpenSSL fails (only possible
 * when out of memory) out is filled with random bytes, so a comparison
 * against it fails closed; nothing aborts.
 */
void crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
                        size_t msglen, unsigned char out[CRYPTO_SHA256_LEN]);
void crypto_sha256(const void *data, size_t len,
                   unsigned char out[CRYPTO_SHA256_LEN]);
void crypto_md5(const void *data, size_t len,
                unsigned char out[CRYPTO_MD5_LEN]);

/* Incremental MD5 for streamed bodies. init returns -ERR_NOMEM on failure. */
struct crypto_md5_ctx {
    void *md; /* EVP_MD_CTX * */
};
int crypto_md5_init(struct crypto_md5_ctx *c);
void crypto_md5_update(struct crypto_md5_ctx *c, const void *data,
                       size_t len);
void crypto_md5_final(struct crypto_md5_ctx *c,
                      unsigned char out[CRYPTO_MD5_LEN]);
/* Frees the context; safe after final and on a zeroed struct. */
void crypto_md5_release(struct crypto_md5_ctx *c);

/*
 * CRC-64 with the reflected polynomial 0x9A6C9329AC4BC9B5, as Azure Storage
 * uses: crc = crypto_crc64(0, data, len); continue with the previous value.
 * The value is inverted on entry and exit (Azure's convention), so this is
 * CRC-64/NVME: crypto_crc64(0, "123456789", 9) == 0xAE8B14860A799888. On the
 * wire (x-ms-content-crc64) it is the 8 bytes little-endian, base64-encoded.
 */
uint64_t crypto_crc64(uint64_t crc, const void *data, size_t len);

/* Cryptographically random bytes; aborts if the kernel cannot give them. */
void crypto_random(void *out, size_t len);
/* Random v4 UUID, lowercase, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
void crypto_uuid(char out[37]);
/* Constant-time comparison of two equal-length byte strings. */
bool crypto_equal(const void *a, const void *b, size_t len);

#endif
