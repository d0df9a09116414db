/*
 * test_crypto.c: known vectors (RFC 4231 HMAC-SHA256, FIPS 180-2 SHA-256,
 * RFC 1321 MD5, the CRC-64/NVME check value), incremental use, CRC-64
 * chaining across every split point against a bitwise reference, UUID
 * shape, and constant-time comparison.
 */
#include "unit.h"

#include <string.h>

#include "core/crypto.h"

/* Hex string to bytes, for readable vectors. */
static void unhex(const char *hex, unsigned char *out, size_t n)
{
    size_t i;

    assert_int_equal(strlen(hex), 2 * n);
    for (i = 0; i < n; i++) {
        unsigned v;

        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
}

static void test_hmac_sha256_rfc4231(void **state)
{
    unsigned char want[CRYPTO_SHA256_LEN];
    unsigned char got[CRYPTO_SHA256_LEN];
    unsigned char key1[20];
    unsigned char key6[131];

    (void)state;
    /* Test case 2: key "Jefe". */
    unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
          want, sizeof(want));
    crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, got);
    assert_memory_equal(got, want, sizeof(want));

    /* Test case 1: 20 bytes of 0x0b, "Hi There". */
    memset(key1, 0x0b, sizeof(key1));
    unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
          want, sizeof(want));
    crypto_hmac_sha256(key1, sizeof(key1), "Hi There", 8, got);
    assert_memory_equal(got, want, sizeof(want));

    /* Test case 6: a key longer than the block size is hashed first. */
    memset(key6, 0xaa, sizeof(key6));
    unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
          want, sizeof(want));
    crypto_hmac_sha256(key6, sizeof(key6),
                       "Test Using Larger Than Block-Size Key - Hash Key First",
                       54, got);
    assert_memory_equal(got, want, sizeof(want));
}

static void test_hmac_sha256_empty(void **state)
{
    unsigned char want[CRYPTO_SHA256_LEN];
    unsigned char got[CRYPTO_SHA256_LEN];
    unsigned char again[CRYPTO_SHA256_LEN];

    (void)state;
    /* HMAC-SHA256 with an empty key over an empty message. */
    unhex("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
          want, sizeof(want));
    crypto_hmac_sha256(NULL, 0, NULL, 0, got);
    assert_memory_equal(got, want, sizeof(want));
    crypto_hmac_sha256("", 0, "", 0, again);
    assert_memory_equal(again, want, sizeof(want));
}

static void test_sha256(void **state)
{
    unsigned char want[CRYPTO_SHA256_LEN];
    unsigned char got[CRYPTO_SHA256_LEN];

    (void)state;
    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
          want, sizeof(want));
    crypto_sha256("abc", 3, got);
    assert_memory_equal(got, want, sizeof(want));

    unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
          want, sizeof(want));
    crypto_sha256(NULL, 0, got);
    assert_memory_equal(got, want, sizeof(want));

    unhex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
          want, sizeof(want));
    crypto_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  56, got);
    assert_memory_equal(got, want, sizeof(want));
}

static void test_md5(void **state)
{
    static const struct {
        const char *in;
        const char *hex;
    } vecs[] = {
        { "", "d41d8cd98f00b204e9800998ecf8427e" },
        { "a", "0cc175b9c0f1b6a831c399e269772661" },
        { "abc", "900150983cd24fb0d6963f7d28e17f72" },
        { "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
    };
    unsigned char want[CRYPTO_MD5_LEN];
    unsigned char got[CRYPTO_MD5_LEN];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        unhex(vecs[i].hex, want, sizeof(want));
        crypto_md5(vecs[i].in, strlen(vecs[i].in), got);
        assert_memory_equal(got, want, sizeof(want));
    }
    crypto_md5(NULL, 0, got);
    unhex(vecs[0].hex, want, sizeof(want));
    assert_memory_equal(got, want, sizeof(want));
}

static void test_md5_incremental(void **state)
{
    unsigned char data[10000];
    unsigned char one[CRYPTO_MD5_LEN];
    unsigned char inc[CRYPTO_MD5_LEN];
    struct crypto_md5_ctx c = { 0 };
    size_t off;
    size_t step = 1;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7 + 3);
    crypto_md5(data, sizeof(data), one);

    assert_int_equal(crypto_md5_init(&c), 0);
    for (off = 0; off < sizeof(data); off += step, step = step * 2 + 1) {
        size_t n = sizeof(data) - off < step ? sizeof(data) - off : step;

        crypto_md5_update(&c, data + off, n);
    }
    crypto_md5_update(&c, data, 0);
    crypto_md5_final(&c, inc);
    crypto_md5_release(&c);
    assert_memory_equal(one, inc, sizeof(one));

    /* Release is safe twice and on a zeroed struct. */
    crypto_md5_release(&c);
    {
        struct crypto_md5_ctx z = { 0 };

        crypto_md5_release(&z);
    }

    /* Empty stream is MD5(""). */
    assert_int_equal(crypto_md5_init(&c), 0);
    crypto_md5_final(&c, inc);
    crypto_md5_release(&c);
    unhex("d41d8cd98f00b204e9800998ecf8427e", one, sizeof(one));
    assert_memory_equal(one, inc, sizeof(one));
}

/* Bit-at-a-time reference with the same convention (~crc in and out). */
static uint64_t crc64_ref(uint64_t crc, const unsigned char *p, size_t len)
{
    size_t i;
    int k;

    crc = ~crc;
    for (i = 0; i < len; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x9A6C9329AC4BC9B5ULL : crc >> 1;
    }
    return ~crc;
}

static void test_crc64_check_value(void **state)
{
    (void)state;
    /* CRC-64/NVME check value, the variant Azure Storage uses. */
    assert_true(crypto_crc64(0, "123456789", 9) == 0xAE8B14860A799888ULL);
    assert_true(crypto_crc64(0, "", 0) == 0);
    assert_true(crypto_crc64(0, NULL, 0) == 0);
    assert_true(crypto_crc64(0x1234, NULL, 0) == 0x1234);
}

static void test_crc64_chaining(void **state)
{
    unsigned char data[300];
    uint64_t whole;
    size_t i;
    size_t split;

    (void)state;
    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 31 + 17);
    whole = crypto_crc64(0, data, sizeof(data));
    assert_true(whole == crc64_ref(0, data, sizeof(data)));
    /* Every split point, including misaligned ones, chains exactly. */
    for (split = 0; split <= sizeof(data); split++) {
        uint64_t c = crypto_crc64(0, data, split);

        c = crypto_crc64(c, data + split, sizeof(data) - split);
        if (c != whole)
            fail_msg("split %zu differs", split);
    }
    /* Every length 0..300 and every start offset 0..7 (alignment). */
    for (i = 0; i < 8; i++) {
        size_t len;

        for (len = 0; len + i <= sizeof(data); len += 13) {
            if (crypto_crc64(0, data + i, len) != crc64_ref(0, data + i, len))
                fail_msg("offset %zu len %zu differs", i, len);
        }
    }
}

static void test_random_and_uuid(void **state)
{
    unsigned char a[64] = { 0 };
    unsigned char b[64] = { 0 };
    char u1[37];
    char u2[37];
    int i;

    (void)state;
    crypto_random(a, sizeof(a));
    crypto_random(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    crypto_random(a, 0);

    crypto_uuid(u1);
    crypto_uuid(u2);
    assert_int_equal(strlen(u1), 36);
    assert_string_not_equal(u1, u2);
    for (i = 0; i < 36; i++) {
        char c = u1[i];

        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(c, '-');
        else
            assert_true((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    assert_int_equal(u1[14], '4');
    assert_non_null(strchr("89ab", u1[19]));
}

static void test_equal(void **state)
{
    (void)state;
    assert_true(crypto_equal("abc", "abc", 3));
    assert_false(crypto_equal("abc", "abd", 3));
    assert_false(crypto_equal("\x00\x01", "\x00\x02", 2));
    assert_true(crypto_equal("x", "y", 0));
    assert_true(crypto_equal("a\0b", "a\0b", 3));
    assert_false(crypto_equal("a\0b", "a\0c", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_hmac_sha256_empty),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_md5),
        cmocka_unit_test(test_md5_incremental),
        cmocka_unit_test(test_crc64_check_value),
        cmocka_unit_test(test_crc64_chaining),
        cmocka_unit_test(test_random_and_uuid),
        cmocka_unit_test(test_equal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
