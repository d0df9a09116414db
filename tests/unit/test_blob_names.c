/*
 * test_blob_names.c: container, blob and metadata name rules, path
 * splitting (with hostile paths: dot segments raw and encoded, bad
 * percent-encoding, encoded NULs), block ids and the metadata form.
 */
#include "unit.h"

#include <string.h>

#include "blob/blobint.h"
#include "core/buf.h"
#include "core/err.h"

static void test_container_names(void **state)
{
    static const struct {
        const char *name;
        bool ok;
    } cases[] = {
        { "abc", true },
        { "a-b-c", true },
        { "0123456789", true },
        { "$root", true },
        { "$logs", true },
        { "$web", true },
        { "ab", false },
        { "", false },
        { "-abc", false },
        { "abc-", false },
        { "a--b", false },
        { "ABC", false },
        { "a_b", false },
        { "a.b", false },
        { "a b", false },
        { "$other", false },
        { "..", false },
        { "../x", false },
        { "caf\xc3\xa9", false },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          true }, /* 63 */
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          false }, /* 64 */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (blob_names_container_ok(cases[i].name) != cases[i].ok)
            fail_msg("container name '%s': want %d", cases[i].name,
                     cases[i].ok);
    }
    assert_false(blob_names_container_ok(NULL));
}

static bool blob_ok(const char *s)
{
    return blob_names_blob_ok(s, strlen(s));
}

static void test_blob_names(void **state)
{
    char big[4200];

    (void)state;
    assert_true(blob_ok("a"));
    assert_true(blob_ok("dir/sub/file.txt"));
    assert_true(blob_ok("with space and %41"));
    assert_true(blob_ok("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac"));
    assert_true(blob_ok("emoji \xf0\x9f\x98\x80"));
    assert_true(blob_ok("..."));
    assert_true(blob_ok("a..b"));
    assert_true(blob_ok("a/"));
    assert_false(blob_ok(""));
    assert_false(blob_ok("."));
    assert_false(blob_ok(".."));
    assert_false(blob_ok("../etc/passwd"));
    assert_false(blob_ok("a/../b"));
    assert_false(blob_ok("a/./b"));
    assert_false(blob_ok("a/.."));
    assert_false(blob_ok("tab\there"));
    assert_false(blob_ok("nl\n"));
    assert_false(blob_ok("\x7f"));
    assert_false(blob_ok("\xff"));             /* never valid UTF-8 */
    assert_false(blob_ok("\xc0\xaf"));         /* overlong '/' */
    assert_false(blob_ok("\xe0\x80\xaf"));     /* overlong '/' */
    assert_false(blob_ok("\xed\xa0\x80"));     /* surrogate */
    assert_false(blob_ok("\xf4\x90\x80\x80")); /* > U+10FFFF */
    assert_false(blob_ok("\xc3"));             /* truncated */
    assert_false(blob_ok("\xef\xbf\xbf"));     /* U+FFFF */
    assert_false(blob_names_blob_ok(NULL, 0));
    /* 1024 characters pass, 1025 fail; multi-byte characters count once */
    memset(big, 'x', 1024);
    big[1024] = '\0';
    assert_true(blob_ok(big));
    big[1024] = 'x';
    big[1025] = '\0';
    assert_false(blob_ok(big));
    for (int i = 0; i < 1024; i++)
        memcpy(big + 3 * i, "\xe6\x97\xa5", 3);
    big[3 * 1024] = '\0';
    assert_true(blob_ok(big));
    memcpy(big + 3 * 1024, "\xe6\x97\xa5", 4);
    assert_false(blob_ok(big));
}

static void test_meta_names(void **state)
{
    (void)state;
    assert_true(blob_names_meta_ok("color"));
    assert_true(blob_names_meta_ok("_x1"));
    assert_true(blob_names_meta_ok("CamelCase"));
    assert_false(blob_names_meta_ok(""));
    assert_false(blob_names_meta_ok("1abc"));
    assert_false(blob_names_meta_ok("a-b"));
    assert_false(blob_names_meta_ok("a b"));
    assert_false(blob_names_meta_ok("a:b"));
}

static void test_meta_form(void **state)
{
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;
    const char *n, *v;
    size_t nl, vl, pos = 0;
    char big[9000];

    (void)state;
    assert_int_equal(blob_names_meta_add(&b, "a", "1", &e), 0);
    assert_int_equal(blob_names_meta_add(&b, "B_2", "x:y z", &e), 0);
    assert_int_equal(blob_names_meta_add(&b, "empty", "", &e), 0);
    assert_string_equal(b.data, "a:1\nB_2:x:y z\nempty:\n");
    assert_true(blob_names_meta_next(b.data, &pos, &n, &nl, &v, &vl));
    assert_int_equal(nl, 1);
    assert_int_equal(vl, 1);
    assert_true(blob_names_meta_next(b.data, &pos, &n, &nl, &v, &vl));
    assert_int_equal(nl, 3);
    assert_memory_equal(v, "x:y z", 5);
    assert_true(blob_names_meta_next(b.data, &pos, &n, &nl, &v, &vl));
    assert_int_equal(vl, 0);
    assert_false(blob_names_meta_next(b.data, &pos, &n, &nl, &v, &vl));

    assert_int_equal(blob_names_meta_add(&b, "bad-name", "1", &e),
                     -ERR_INVALID);
    assert_string_equal(e.svc, "InvalidMetadata");
    assert_int_equal(blob_names_meta_add(&b, "", "1", &e), -ERR_INVALID);
    assert_string_equal(e.svc, "EmptyMetadataKey");
    assert_int_equal(blob_names_meta_add(&b, "ctl", "a\x01", &e), -ERR_INVALID);
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(blob_names_meta_add(&b, "huge", big, &e), -ERR_INVALID);
    assert_string_equal(e.svc, "MetadataTooLarge");
    /* failures left the form unchanged */
    assert_string_equal(b.data, "a:1\nB_2:x:y z\nempty:\n");
    buf_release(&b);
}

static void test_split_path(void **state)
{
    struct blob_path p;
    struct err e = ERR_INIT;

    (void)state;
    assert_int_equal(blob_names_split_path("/acct", &p, &e), 0);
    assert_string_equal(p.account, "acct");
    assert_null(p.container);
    assert_null(p.blob);
    blob_names_path_release(&p);

    assert_int_equal(blob_names_split_path("/acct/", &p, &e), 0);
    assert_null(p.container);
    blob_names_path_release(&p);

    assert_int_equal(blob_names_split_path("/acct/cont", &p, &e), 0);
    assert_string_equal(p.container, "cont");
    assert_null(p.blob);
    blob_names_path_release(&p);

    assert_int_equal(blob_names_split_path("/acct/cont/", &p, &e), 0);
    assert_string_equal(p.container, "cont");
    assert_null(p.blob);
    blob_names_path_release(&p);

    assert_int_equal(
        blob_names_split_path("/acct/cont/dir/a%20b%2Fc%C3%A9", &p, &e), 0);
    assert_string_equal(p.blob, "dir/a b/c\xc3\xa9");
    assert_int_equal(p.blob_len, strlen("dir/a b/c\xc3\xa9"));
    blob_names_path_release(&p);

    /* '+' is not a space in storage paths */
    assert_int_equal(blob_names_split_path("/acct/cont/a+b", &p, &e), 0);
    assert_string_equal(p.blob, "a+b");
    blob_names_path_release(&p);
}

static void test_split_path_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        "acct/cont",
        "/",
        "//cont/blob",
        "/acct/cont/../x",
        "/acct/cont/a/../../x",
        "/acct/cont/%2e%2e/x",
        "/acct/cont/%2E%2E",
        "/acct/cont/a/%2e/b",
        "/acct/cont/a%2F..%2Fb",
        "/acct/cont/%",
        "/acct/cont/%4",
        "/acct/cont/%zz",
        "/acct/cont/a%00b",
        "/ac%00ct/cont",
        "/acct/c%00/b",
    };
    struct blob_path p;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err e = ERR_INIT;
        int rc = blob_names_split_path(bad[i], &p, &e);

        if (rc != -ERR_INVALID)
            fail_msg("path '%s' accepted", bad[i]);
        assert_string_equal(e.svc, "InvalidUri");
        assert_null(p.account);
        assert_null(p.blob);
    }
    /* a container segment of ".." splits, and fails the name rule */
    {
        struct err e = ERR_INIT;

        assert_int_equal(blob_names_split_path("/acct/../x", &p, &e), 0);
        assert_false(blob_names_container_ok(p.container));
        blob_names_path_release(&p);
    }
    assert_int_equal(blob_names_split_path(NULL, &p, NULL), -ERR_INVALID);
}

static void test_block_ids(void **state)
{
    unsigned char id[BLOB_BLOCK_ID_MAX];
    size_t len = 0;
    struct err e = ERR_INIT;
    /* 64 bytes of 'A' in base64, then 65 */
    const char *b64_64 =
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==";
    const char *b64_65 =
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";

    (void)state;
    assert_int_equal(blob_names_block_id("YWJj", 4, id, &len, &e), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(id, "abc", 3);
    assert_int_equal(blob_names_block_id(b64_64, strlen(b64_64), id, &len, &e),
                     0);
    assert_int_equal(len, 64);
    assert_int_equal(blob_names_block_id(b64_65, strlen(b64_65), id, &len, &e),
                     -ERR_INVALID);
    assert_string_equal(e.svc, "InvalidBlockId");
    assert_int_equal(blob_names_block_id("", 0, id, &len, &e), -ERR_INVALID);
    assert_int_equal(blob_names_block_id("YWJ", 3, id, &len, &e), -ERR_INVALID);
    assert_int_equal(blob_names_block_id("YW Jj", 5, id, &len, &e),
                     -ERR_INVALID);
    assert_int_equal(blob_names_block_id("YWJj%3D", 7, id, &len, &e),
                     -ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_names),
        cmocka_unit_test(test_blob_names),
        cmocka_unit_test(test_meta_names),
        cmocka_unit_test(test_meta_form),
        cmocka_unit_test(test_split_path),
        cmocka_unit_test(test_split_path_hostile),
        cmocka_unit_test(test_block_ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
