/*
 * test_codec.c: base64 (RFC 4648 vectors, strictness table), hex, and
 * percent-encoding both ways, with hostile inputs for every decoder.
 */
#include "unit.h"

#include <string.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"

struct b64_vec {
    const char *plain;
    const char *encoded;
};

/* RFC 4648 section 10. */
static const struct b64_vec b64_vectors[] = {
    { "", "" },
    { "f", "Zg==" },
    { "fo", "Zm8=" },
    { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" },
    { "fooba", "Zm9vYmE=" },
    { "foobar", "Zm9vYmFy" },
};

static void test_base64_vectors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
        struct buf b = BUF_INIT;
        const struct b64_vec *v = &b64_vectors[i];

        assert_int_equal(codec_base64_encode(&b, v->plain, strlen(v->plain)),
                         0);
        assert_string_equal(b.data, v->encoded);
        buf_reset(&b);
        assert_int_equal(
            codec_base64_decode(&b, v->encoded, strlen(v->encoded)), 0);
        assert_int_equal(b.len, strlen(v->plain));
        assert_memory_equal(b.data, v->plain, b.len);
        buf_release(&b);
    }
}

static void test_base64_binary_roundtrip(void **state)
{
    unsigned char data[5000];
    struct buf enc = BUF_INIT;
    struct buf dec = BUF_INIT;
    size_t len;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 131 + 7);
    /* Lengths across the 1024-byte chunk boundaries and all remainders. */
    for (len = 0; len < sizeof(data); len += 97) {
        size_t l;

        for (l = len; l < len + 3 && l <= sizeof(data); l++) {
            buf_reset(&enc);
            buf_reset(&dec);
            assert_int_equal(codec_base64_encode(&enc, data, l), 0);
            assert_int_equal(enc.len, (l + 2) / 3 * 4);
            assert_int_equal(codec_base64_decode(&dec, enc.data, enc.len), 0);
            assert_int_equal(dec.len, l);
            assert_memory_equal(dec.data, data, l);
        }
    }
    /* A block id the SDKs use: 8 zero bytes. */
    buf_reset(&enc);
    memset(data, 0, 8);
    assert_int_equal(codec_base64_encode(&enc, data, 8), 0);
    assert_string_equal(enc.data, "AAAAAAAAAAA=");
    /* All 256 byte values, both alphabets' last symbols. */
    buf_reset(&enc);
    data[0] = 0xfb;
    data[1] = 0xff;
    data[2] = 0xbf;
    assert_int_equal(codec_base64_encode(&enc, data, 3), 0);
    assert_string_equal(enc.data, "+/+/");
    buf_release(&enc);
    buf_release(&dec);
}

static void test_base64_hostile(void **state)
{
    static const char *const bad[] = {
        "Zg",           /* no padding */
        "Zg=",          /* short padding */
        "Zm9",          /* length not a multiple of 4 */
        "Z===",         /* three pads */
        "====",         /* all padding */
        "Zg==Zg==",     /* padding in the middle */
        "Zm=v",         /* pad before data */
        "Zg= =",        /* space */
        "Zm9v\n",       /* newline */
        "Zm9v\r\nYg==", /* line break between groups */
        " Zm9v",        /* leading space */
        "Zm9v\tYmFy",   /* tab */
        "Zm9-",         /* url-safe alphabet */
        "Zm9_",         /* url-safe alphabet */
        "Zm9.",         /* junk */
        "Zh==",         /* non-zero trailing bits (one byte) */
        "Zm9=",         /* non-zero trailing bits (two bytes) */
        "QR==",         /* non-zero trailing bits */
        "Zm\x80v",      /* high byte */
        "Zm\xffv",      /* high byte */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b = BUF_INIT;
        int rc = codec_base64_decode(&b, bad[i], strlen(bad[i]));

        if (rc != -ERR_INVALID)
            fail_msg("case %zu '%s': rc %d", i, bad[i], rc);
        buf_release(&b);
    }
    /* An embedded NUL inside the given length is just an invalid symbol. */
    {
        struct buf b = BUF_INIT;

        assert_int_equal(codec_base64_decode(&b, "Zm\0v", 4), -ERR_INVALID);
        buf_release(&b);
    }
    /* Canonical spelling of the same byte is accepted. */
    {
        struct buf b = BUF_INIT;

        assert_int_equal(codec_base64_decode(&b, "QQ==", 4), 0);
        assert_string_equal(b.data, "A");
        buf_release(&b);
    }
}

static void test_base64_limit(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 4);
    assert_int_equal(codec_base64_encode(&b, "abcd", 4), -ERR_TOOBIG);
    buf_release(&b);
    buf_init(&b, 2);
    assert_int_equal(codec_base64_decode(&b, "Zm9v", 4), -ERR_TOOBIG);
    buf_release(&b);
}

static void test_hex(void **state)
{
    static const unsigned char data[] = { 0x00, 0x01, 0xab, 0xcd, 0xef, 0xff };
    struct buf b = BUF_INIT;

    (void)state;
    assert_int_equal(codec_hex_encode(&b, data, sizeof(data), false), 0);
    assert_string_equal(b.data, "0001abcdefff");
    buf_reset(&b);
    assert_int_equal(codec_hex_encode(&b, data, sizeof(data), true), 0);
    assert_string_equal(b.data, "0001ABCDEFFF");
    buf_reset(&b);
    assert_int_equal(codec_hex_encode(&b, data, 0, false), 0);
    assert_int_equal(b.len, 0);
    buf_release(&b);
}

static void test_hex_long(void **state)
{
    unsigned char data[3000];
    struct buf b = BUF_INIT;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)i;
    assert_int_equal(codec_hex_encode(&b, data, sizeof(data), false), 0);
    assert_int_equal(b.len, 2 * sizeof(data));
    for (i = 0; i < sizeof(data); i++) {
        char want[3];

        snprintf(want, sizeof(want), "%02x", data[i]);
        assert_memory_equal(b.data + 2 * i, want, 2);
    }
    buf_release(&b);
}

struct pct_case {
    const char *in;
    bool plus_is_space;
    int rc;
    const char *want;
};

static void test_pct_decode_table(void **state)
{
    static const struct pct_case cases[] = {
        { "", false, 0, "" },
        { "abc", false, 0, "abc" },
        { "a%20b", false, 0, "a b" },
        { "a%2fb%2Fc", false, 0, "a/b/c" },
        { "a+b", false, 0, "a+b" },
        { "a+b", true, 0, "a b" },
        { "%2B", true, 0, "+" },
        { "%E2%82%AC", false, 0, "\xe2\x82\xac" },
        { "%25", false, 0, "%" },
        { "%2525", false, 0, "%25" }, /* decoded once only */
        { "%", false, -ERR_INVALID, NULL },
        { "%2", false, -ERR_INVALID, NULL },
        { "abc%", false, -ERR_INVALID, NULL },
        { "%G0", false, -ERR_INVALID, NULL },
        { "%0G", false, -ERR_INVALID, NULL },
        { "%%41", false, -ERR_INVALID, NULL },
        { "% 41", false, -ERR_INVALID, NULL },
        { "%-1", false, -ERR_INVALID, NULL },
        { "%+1", true, -ERR_INVALID, NULL },
        { "%00", false, -ERR_INVALID, NULL },
        { "a%00b", true, -ERR_INVALID, NULL },
        { "%u0041", false, -ERR_INVALID, NULL },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = BUF_INIT;
        int rc = codec_pct_decode(&b, cases[i].in, strlen(cases[i].in),
                                  cases[i].plus_is_space);

        if (rc != cases[i].rc)
            fail_msg("case %zu '%s': rc %d want %d", i, cases[i].in, rc,
                     cases[i].rc);
        if (rc == 0)
            assert_string_equal(b.data, cases[i].want);
        buf_release(&b);
    }
    /* A literal NUL inside the length is refused too. */
    {
        struct buf b = BUF_INIT;

        assert_int_equal(codec_pct_decode(&b, "a\0b", 3, false), -ERR_INVALID);
        buf_release(&b);
    }
    /* Only len bytes are read: "%4" followed by '1' outside the range. */
    {
        struct buf b = BUF_INIT;

        assert_int_equal(codec_pct_decode(&b, "%41", 2, false), -ERR_INVALID);
        buf_reset(&b);
        assert_int_equal(codec_pct_decode(&b, "ab%41", 2, false), 0);
        assert_string_equal(b.data, "ab");
        buf_release(&b);
    }
}

static void test_pct_encode(void **state)
{
    struct buf b = BUF_INIT;
    const char all[] = "AZaz09-._~ !\"#$%&'()*+,/:;<=>?@[\\]^`{|}";

    (void)state;
    assert_int_equal(codec_pct_encode(&b, all, strlen(all), NULL), 0);
    assert_string_equal(b.data, "AZaz09-._~%20%21%22%23%24%25%26%27%28%29%2A"
                                "%2B%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E"
                                "%60%7B%7C%7D");
    buf_reset(&b);
    assert_int_equal(codec_pct_encode(&b, "dir/a b.txt", 11, "/"), 0);
    assert_string_equal(b.data, "dir/a%20b.txt");
    buf_reset(&b);
    /* UTF-8 bytes, a NUL and DEL are always escaped, upper hex. */
    assert_int_equal(codec_pct_encode(&b, "\xe2\x82\xac\0\x7f", 5, "/"), 0);
    assert_string_equal(b.data, "%E2%82%AC%00%7F");
    buf_reset(&b);
    /* keep="" passes only unreserved characters. */
    assert_int_equal(codec_pct_encode(&b, "a/b", 3, ""), 0);
    assert_string_equal(b.data, "a%2Fb");
    buf_release(&b);
}

static void test_pct_roundtrip(void **state)
{
    unsigned char data[2048];
    struct buf enc = BUF_INIT;
    struct buf dec = BUF_INIT;
    size_t i;

    (void)state;
    /* Every non-NUL byte value, many times over chunk boundaries. */
    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i % 255 + 1);
    assert_int_equal(
        codec_pct_encode(&enc, (const char *)data, sizeof(data), "/+"), 0);
    assert_int_equal(codec_pct_decode(&dec, enc.data, enc.len, false), 0);
    assert_int_equal(dec.len, sizeof(data));
    assert_memory_equal(dec.data, data, sizeof(data));
    buf_release(&enc);
    buf_release(&dec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_binary_roundtrip),
        cmocka_unit_test(test_base64_hostile),
        cmocka_unit_test(test_base64_limit),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_hex_long),
        cmocka_unit_test(test_pct_decode_table),
        cmocka_unit_test(test_pct_encode),
        cmocka_unit_test(test_pct_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
