/*
 * test_blob_xmlbody.c: Put Block List and Set Container ACL bodies: the
 * shapes the SDKs send, and a table of hostile documents (entity bombs,
 * DOCTYPEs, truncation, wrong elements, bad ids, mixed id lengths, too
 * many blocks or policies, bad permissions and dates).
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blobint.h"
#include "core/buf.h"
#include "core/err.h"

static int parse_list(const char *xml, struct blob_block_ref **refs, size_t *n,
                      struct err *e)
{
    return blob_xmlbody_blocklist(xml, strlen(xml), refs, n, e);
}

static void test_blocklist_ok(void **state)
{
    const char *xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
                      "<Latest>YWFh</Latest><Committed>YmJi</Committed>"
                      "<Uncommitted>Y2Nj</Uncommitted></BlockList>";
    struct blob_block_ref *refs = NULL;
    struct err e = ERR_INIT;
    size_t n = 0;

    (void)state;
    assert_int_equal(parse_list(xml, &refs, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_int_equal(refs[0].kind, BLOB_BLOCK_LATEST);
    assert_int_equal(refs[1].kind, BLOB_BLOCK_COMMITTED);
    assert_int_equal(refs[2].kind, BLOB_BLOCK_UNCOMMITTED);
    assert_memory_equal(refs[0].id, "aaa", 3);
    assert_memory_equal(refs[2].id, "ccc", 3);
    assert_int_equal(refs[1].idlen, 3);
    free(refs);

    /* an empty list is a valid (empty) blob; whitespace is fine */
    refs = NULL;
    assert_int_equal(parse_list("<BlockList>\n  </BlockList>", &refs, &n, &e),
                     0);
    assert_int_equal(n, 0);
    free(refs);
}

static void test_blocklist_hostile(void **state)
{
    static const struct {
        const char *xml;
        const char *code;
    } cases[] = {
        { "", "InvalidXmlDocument" },
        { "<BlockList>", "InvalidXmlDocument" },
        { "<BlockList><Latest>YWFh</Latest>", "InvalidXmlDocument" },
        { "<BlockList><Latest>YWFh</Committed></BlockList>",
          "InvalidXmlDocument" },
        { "not xml at all", "InvalidXmlDocument" },
        { "<Blocks><Latest>YWFh</Latest></Blocks>", "InvalidXmlDocument" },
        { "<BlockList><Block>YWFh</Block></BlockList>", "InvalidXmlDocument" },
        { "<BlockList><Latest><x/>YWFh</Latest></BlockList>",
          "InvalidXmlDocument" },
        { "<!DOCTYPE d [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>"
          "<BlockList><Latest>&b;</Latest></BlockList>",
          "InvalidXmlDocument" },
        { "<!DOCTYPE d SYSTEM \"file:///etc/passwd\"><BlockList/>",
          "InvalidXmlDocument" },
        { "<BlockList><Latest>&xxe;</Latest></BlockList>",
          "InvalidXmlDocument" },
        { "<BlockList><Latest>YWFh</Latest></BlockList><BlockList/>",
          "InvalidXmlDocument" },
        { "<BlockList><Latest>\xff\xfe</Latest></BlockList>",
          "InvalidXmlDocument" },
        { "<BlockList><Latest></Latest></BlockList>", "InvalidBlockId" },
        { "<BlockList><Latest>not base64!</Latest></BlockList>",
          "InvalidBlockId" },
        { "<BlockList><Latest> YWFh</Latest></BlockList>", "InvalidBlockId" },
        { "<BlockList><Latest>YWF</Latest></BlockList>", "InvalidBlockId" },
        { "<BlockList><Latest>QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU"
          "FBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=</Latest></BlockList>",
          "InvalidBlockId" },
        { "<BlockList><Latest>YWFh</Latest><Latest>YWFhYQ==</Latest>"
          "</BlockList>",
          "InvalidBlockList" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct blob_block_ref *refs = NULL;
        struct err e = ERR_INIT;
        size_t n = 99;
        int rc = parse_list(cases[i].xml, &refs, &n, &e);

        if (rc != -ERR_INVALID || strcmp(e.svc, cases[i].code) != 0)
            fail_msg("case %zu: rc %d code '%s', want %s", i, rc, e.svc,
                     cases[i].code);
        assert_null(refs);
        assert_int_equal(n, 99);
    }
}

static void test_blocklist_too_long(void **state)
{
    struct buf b = BUF_INIT;
    struct blob_block_ref *refs = NULL;
    struct err e = ERR_INIT;
    size_t n = 0;

    (void)state;
    buf_adds(&b, "<BlockList>");
    for (int i = 0; i < BLOB_MAX_COMMITTED; i++)
        buf_adds(&b, "<Latest>YWFh</Latest>");
    buf_adds(&b, "</BlockList>");
    assert_int_equal(blob_xmlbody_blocklist(b.data, b.len, &refs, &n, &e), 0);
    assert_int_equal(n, BLOB_MAX_COMMITTED);
    free(refs);
    refs = NULL;
    buf_setlen(&b, b.len - strlen("</BlockList>"));
    buf_adds(&b, "<Latest>YWFh</Latest></BlockList>");
    assert_int_equal(blob_xmlbody_blocklist(b.data, b.len, &refs, &n, &e),
                     -ERR_INVALID);
    assert_string_equal(e.svc, "InvalidBlockList");
    assert_null(refs);
    buf_release(&b);
}

static void test_acl_ok(void **state)
{
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>"
        "<SignedIdentifier><Id>read-only</Id><AccessPolicy>"
        "<Start>2030-01-01T00:00:00.0000000Z</Start>"
        "<Expiry>2030-01-02T00:00:00Z</Expiry><Permission>rl</Permission>"
        "</AccessPolicy></SignedIdentifier>"
        "<SignedIdentifier><Id>bare</Id></SignedIdentifier>"
        "</SignedIdentifiers>";
    struct blob_policy p[BLOB_MAX_POLICIES];
    struct err e = ERR_INIT;
    struct buf b = BUF_INIT;
    size_t n = 0;

    (void)state;
    assert_int_equal(blob_xmlbody_acl(xml, strlen(xml), p, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(p[0].id, "read-only");
    assert_true(p[0].has_start && p[0].has_expiry);
    assert_true(p[0].expiry_ms - p[0].start_ms == 86400000);
    assert_string_equal(p[0].perms, "rl");
    assert_string_equal(p[1].id, "bare");
    assert_false(p[1].has_start);
    assert_string_equal(p[1].perms, "");

    /* render and parse again: the same policies */
    blob_xmlbody_acl_render(&b, p, n);
    {
        struct blob_policy q[BLOB_MAX_POLICIES];
        size_t m = 0;

        assert_int_equal(blob_xmlbody_acl(b.data, b.len, q, &m, &e), 0);
        assert_int_equal(m, 2);
        assert_true(q[0].start_ms == p[0].start_ms);
        assert_string_equal(q[0].perms, "rl");
    }
    buf_release(&b);

    assert_int_equal(blob_xmlbody_acl("", 0, p, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(blob_xmlbody_acl(" \r\n", 3, p, &n, &e), 0);
    assert_int_equal(blob_xmlbody_acl("<SignedIdentifiers/>", 20, p, &n, &e),
                     0);
    assert_int_equal(n, 0);
}

static void test_acl_hostile(void **state)
{
    static const char *const bad[] = {
        "<SignedIdentifiers>",
        "<Other/>",
        "<SignedIdentifiers><X/></SignedIdentifiers>",
        "<SignedIdentifiers><SignedIdentifier/></SignedIdentifiers>",
        "<SignedIdentifiers><SignedIdentifier><Id></Id></SignedIdentifier>"
        "</SignedIdentifiers>",
        "<SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy>"
        "<Permission>rz</Permission></AccessPolicy></SignedIdentifier>"
        "</SignedIdentifiers>",
        "<SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy>"
        "<Permission>rr</Permission></AccessPolicy></SignedIdentifier>"
        "</SignedIdentifiers>",
        "<SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy>"
        "<Start>tomorrow</Start></AccessPolicy></SignedIdentifier>"
        "</SignedIdentifiers>",
        "<SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy>"
        "<Bogus/></AccessPolicy></SignedIdentifier></SignedIdentifiers>",
        "<SignedIdentifiers><SignedIdentifier><Id>a</Id></SignedIdentifier>"
        "<SignedIdentifier><Id>a</Id></SignedIdentifier>"
        "</SignedIdentifiers>",
        "<SignedIdentifiers>"
        "<SignedIdentifier><Id>1</Id></SignedIdentifier>"
        "<SignedIdentifier><Id>2</Id></SignedIdentifier>"
        "<SignedIdentifier><Id>3</Id></SignedIdentifier>"
        "<SignedIdentifier><Id>4</Id></SignedIdentifier>"
        "<SignedIdentifier><Id>5</Id></SignedIdentifier>"
        "<SignedIdentifier><Id>6</Id></SignedIdentifier>"
        "</SignedIdentifiers>",
        "<SignedIdentifiers><SignedIdentifier><Id>aaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</Id></SignedIdentifier>"
        "</SignedIdentifiers>",
        "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
        "<SignedIdentifiers><SignedIdentifier><Id>&e;</Id>"
        "</SignedIdentifier></SignedIdentifiers>",
    };
    struct blob_policy p[BLOB_MAX_POLICIES];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err e = ERR_INIT;
        size_t n = 0;

        if (blob_xmlbody_acl(bad[i], strlen(bad[i]), p, &n, &e) != -ERR_INVALID)
            fail_msg("acl case %zu accepted", i);
        assert_true(strcmp(e.svc, "InvalidXmlDocument") == 0 ||
                    strcmp(e.svc, "InvalidXmlNodeValue") == 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocklist_ok),
        cmocka_unit_test(test_blocklist_hostile),
        cmocka_unit_test(test_blocklist_too_long),
        cmocka_unit_test(test_acl_ok),
        cmocka_unit_test(test_acl_hostile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
