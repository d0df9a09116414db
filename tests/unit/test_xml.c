/*
 * test_xml.c: the bounded expat tree parser and the escaping writers.
 *
 * Shapes the storage services parse (block list, queue message, signed
 * identifiers), text and entity handling, and a table of hostile documents:
 * DOCTYPE in every form (billion laughs, external entities), truncation,
 * unclosed and mismatched tags, junk after the root, invalid UTF-8, NUL
 * bytes, too deep and too many elements.
 */
#include "unit.h"

#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/xml.h"

/* Parse a NUL-terminated document that must be accepted. */
static struct xml_node *parse_ok(const char *doc)
{
    struct err err = ERR_INIT;
    struct xml_node *root = NULL;
    int rc = xml_parse(doc, strlen(doc), &root, &err);

    if (rc != 0)
        fail_msg("parse of '%.60s' failed: %s", doc, err.msg);
    assert_non_null(root);
    return root;
}

/* Parse len bytes that must be refused as InvalidXmlDocument. */
static void parse_bad(const char *doc, size_t len, const char *what)
{
    struct err err = ERR_INIT;
    struct xml_node *root = (struct xml_node *)(uintptr_t)0x1;
    int rc = xml_parse(doc, len, &root, &err);

    if (rc != -ERR_INVALID)
        fail_msg("%s: rc %d, want -ERR_INVALID", what, rc);
    assert_int_equal(err.code, ERR_INVALID);
    assert_string_equal(err.svc, "InvalidXmlDocument");
    assert_true(err.msg[0] != '\0');
    /* Untouched on failure. */
    assert_true(root == (struct xml_node *)(uintptr_t)0x1);
}

static void test_block_list(void **state)
{
    const char *doc = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                      "<BlockList>\n"
                      "  <Committed>AAAAAA==</Committed>\n"
                      "  <Uncommitted>AQAAAA==</Uncommitted>\n"
                      "  <Latest>AgAAAA==</Latest>\n"
                      "</BlockList>\n";
    struct xml_node *root = parse_ok(doc);
    struct xml_node *c;

    (void)state;
    assert_string_equal(root->name, "BlockList");
    c = root->child;
    assert_non_null(c);
    assert_string_equal(c->name, "Committed");
    assert_string_equal(c->text, "AAAAAA==");
    assert_int_equal(c->textlen, 8);
    assert_null(c->child);
    c = c->next;
    assert_string_equal(c->name, "Uncommitted");
    assert_string_equal(c->text, "AQAAAA==");
    c = c->next;
    assert_string_equal(c->name, "Latest");
    assert_string_equal(c->text, "AgAAAA==");
    assert_null(c->next);
    /* The root's own text is the whitespace between its children. */
    assert_int_equal(root->textlen, strspn(root->text, " \n"));

    assert_ptr_equal(xml_child(root, "Latest"), c);
    assert_string_equal(xml_child(root, "Committed")->text, "AAAAAA==");
    assert_null(xml_child(root, "latest")); /* case-sensitive */
    assert_null(xml_child(root, "Nope"));
    assert_null(xml_child(NULL, "Latest"));
    xml_free(root);
}

static void test_queue_message_and_identifiers(void **state)
{
    struct xml_node *root;
    struct xml_node *si;
    struct xml_node *ap;

    (void)state;
    root = parse_ok("<QueueMessage><MessageText>hello &lt;world&gt; &amp; "
                    "&quot;you&quot; &apos;x&apos; &#x20AC; &#65;"
                    "</MessageText></QueueMessage>");
    assert_string_equal(root->name, "QueueMessage");
    assert_string_equal(xml_child(root, "MessageText")->text,
                        "hello <world> & \"you\" 'x' \xe2\x82\xac A");
    xml_free(root);

    root = parse_ok("<SignedIdentifiers><SignedIdentifier><Id>id1</Id>"
                    "<AccessPolicy><Start>2020-01-01T00:00:00Z</Start>"
                    "<Expiry>2021-01-01T00:00:00Z</Expiry>"
                    "<Permission>rw</Permission></AccessPolicy>"
                    "</SignedIdentifier><SignedIdentifier><Id>id2</Id>"
                    "</SignedIdentifier></SignedIdentifiers>");
    si = xml_child(root, "SignedIdentifier");
    assert_non_null(si);
    assert_string_equal(xml_child(si, "Id")->text, "id1");
    ap = xml_child(si, "AccessPolicy");
    assert_string_equal(xml_child(ap, "Permission")->text, "rw");
    assert_string_equal(xml_child(ap, "Expiry")->text, "2021-01-01T00:00:00Z");
    assert_string_equal(xml_child(si->next, "Id")->text, "id2");
    assert_null(si->next->next);
    xml_free(root);
}

static void test_text_rules(void **state)
{
    struct xml_node *root;

    (void)state;
    /* Text is per element, concatenated around children. */
    root = parse_ok("<a>x &amp; y<b>in</b>z<![CDATA[<raw>&]]></a>");
    assert_string_equal(root->text, "x & yz<raw>&");
    assert_int_equal(root->textlen, 12);
    assert_string_equal(root->child->text, "in");
    xml_free(root);

    /* Empty elements have "" text, never NULL; attributes are ignored. */
    root = parse_ok("<a k=\"v\" j='&lt;'><b/><c></c></a>");
    assert_string_equal(root->text, "");
    assert_int_equal(root->textlen, 0);
    assert_non_null(root->child->text);
    assert_string_equal(root->child->text, "");
    assert_string_equal(root->child->next->text, "");
    xml_free(root);

    /* Comments and processing instructions are skipped. */
    root = parse_ok("<!-- c --><?pi x?><a><!-- in -->t<?pi y?>u</a><!-- e -->");
    assert_string_equal(root->text, "tu");
    xml_free(root);

    /* UTF-8 text passes through; namespace prefixes stay in the name. */
    root = parse_ok(
        "<ns:a xmlns:ns=\"urn:x\">caf\xc3\xa9 \xf0\x9f\x90\x9f</ns:a>");
    assert_string_equal(root->name, "ns:a");
    assert_string_equal(root->text, "caf\xc3\xa9 \xf0\x9f\x90\x9f");
    xml_free(root);

    /* A declared Latin-1 document comes out as UTF-8. */
    root = parse_ok("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
                    "<a>caf\xe9</a>");
    assert_string_equal(root->text, "caf\xc3\xa9");
    xml_free(root);

    /* CR LF is normalised to LF by the parser; &#xD; keeps a CR. */
    root = parse_ok("<a>1\r\n2&#xD;</a>");
    assert_string_equal(root->text, "1\n2\r");
    xml_free(root);
}

static void test_doctype_rejected(void **state)
{
    static const char *const docs[] = {
        /* billion laughs */
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
        "]>\n"
        "<BlockList><Latest>&lol9;</Latest></BlockList>",
        /* external entity */
        "<?xml version=\"1.0\"?>"
        "<!DOCTYPE a [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
        "<a>&xxe;</a>",
        /* external DTD */
        "<!DOCTYPE a SYSTEM \"http://127.0.0.1:1/evil.dtd\"><a/>",
        /* a DOCTYPE with nothing in it is still refused */
        "<!DOCTYPE a><a/>",
        /* parameter entities */
        "<!DOCTYPE a [<!ENTITY % p \"x\"> %p;]><a/>",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct err err = ERR_INIT;
        struct xml_node *root = NULL;

        assert_int_equal(xml_parse(docs[i], strlen(docs[i]), &root, &err),
                         -ERR_INVALID);
        assert_null(root);
        assert_string_equal(err.svc, "InvalidXmlDocument");
        assert_non_null(strstr(err.msg, "doctype"));
    }
}

static void test_hostile_table(void **state)
{
    static const struct {
        const char *doc;
        size_t len; /* 0: strlen */
        const char *what;
    } cases[] = {
        { "", 0, "empty" },
        { " \n\t", 0, "whitespace only" },
        { "<?xml version=\"1.0\"?>", 0, "declaration only" },
        { "<?xml version", 0, "truncated declaration" },
        { "<", 0, "lone angle" },
        { "<a", 0, "truncated start tag" },
        { "<a>", 0, "unclosed root" },
        { "<a><b>x</b>", 0, "truncated after child" },
        { "<a><b></a>", 0, "mismatched" },
        { "<a></b>", 0, "wrong end tag" },
        { "<a></A>", 0, "case mismatch" },
        { "</a>", 0, "end tag first" },
        { "<a/><b/>", 0, "two roots" },
        { "<a/>junk", 0, "text after root" },
        { "junk<a/>", 0, "text before root" },
        { "<a>&foo;</a>", 0, "undefined entity" },
        { "<a>&amp</a>", 0, "unterminated entity" },
        { "<a>&#0;</a>", 0, "NUL character reference" },
        { "<a>&#x1;</a>", 0, "control character reference" },
        { "<a>&#xD800;</a>", 0, "surrogate character reference" },
        { "<a>&#x110000;</a>", 0, "out of range character reference" },
        { "<a>\x01</a>", 0, "raw control character" },
        { "<a>\xff</a>", 0, "invalid UTF-8 byte" },
        { "<a>\xc0\x80</a>", 0, "overlong NUL" },
        { "<a>\xc3</a>", 0, "truncated sequence" },
        { "<a>\xed\xa0\x80</a>", 0, "UTF-8 surrogate" },
        { "<a>\xf4\x90\x80\x80</a>", 0, "beyond U+10FFFF" },
        { "<\xff/>", 0, "invalid name byte" },
        { "<a>x\0y</a>", 10, "embedded NUL" },
        { "<a b=\"1\" b=\"2\"/>", 0, "duplicate attribute" },
        { "<a b=1/>", 0, "unquoted attribute" },
        { "<a><![CDATA[x</a>", 0, "unterminated CDATA" },
        { "<a><!-- x </a>", 0, "unterminated comment" },
        { "<a>]]></a>", 0, "CDATA end in text" },
        { "<1a/>", 0, "bad name" },
        { "<?xml version=\"1.0\" encoding=\"x-bogus\"?><a/>", 0,
          "unknown encoding" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].doc);

        parse_bad(cases[i].doc, len, cases[i].what);
    }
    /* err may be NULL. */
    {
        struct xml_node *root = NULL;

        assert_int_equal(xml_parse("<a>", 3, &root, NULL), -ERR_INVALID);
        assert_null(root);
    }
    /* Only len bytes are read: a valid prefix of a longer string. */
    {
        struct xml_node *root = NULL;

        assert_int_equal(xml_parse("<a/>garbage", 4, &root, NULL), 0);
        assert_string_equal(root->name, "a");
        xml_free(root);
    }
}

/* "<d><d>...</d></d>" nested n deep. */
static void nested(struct buf *b, int n)
{
    int i;

    buf_reset(b);
    for (i = 0; i < n; i++)
        assert_int_equal(buf_adds(b, "<d>"), 0);
    assert_int_equal(buf_adds(b, "x"), 0);
    for (i = 0; i < n; i++)
        assert_int_equal(buf_adds(b, "</d>"), 0);
}

static void test_depth_limit(void **state)
{
    struct buf b = BUF_INIT;
    struct xml_node *root = NULL;
    struct xml_node *n;
    struct err err = ERR_INIT;
    int depth = 0;

    (void)state;
    nested(&b, XML_MAX_DEPTH);
    assert_int_equal(xml_parse(b.data, b.len, &root, &err), 0);
    for (n = root; n != NULL; n = n->child) {
        depth++;
        if (n->child == NULL)
            assert_string_equal(n->text, "x");
    }
    assert_int_equal(depth, XML_MAX_DEPTH);
    xml_free(root);

    root = NULL;
    nested(&b, XML_MAX_DEPTH + 1);
    parse_bad(b.data, b.len, "one level too deep");

    /* Far too deep: stops early, no stack growth, nothing leaked. */
    nested(&b, 100000);
    parse_bad(b.data, b.len, "100000 levels");

    /* Unclosed deep nesting (truncated) frees the partial tree. */
    nested(&b, XML_MAX_DEPTH);
    parse_bad(b.data, b.len / 2, "truncated deep document");
    buf_release(&b);
}

/* "<r><b/><b/>...</r>" with n elements in all (root included). */
static void many(struct buf *b, size_t n)
{
    size_t i;

    buf_reset(b);
    assert_int_equal(buf_adds(b, "<r>"), 0);
    for (i = 1; i < n; i++)
        assert_int_equal(buf_add(b, "<b>t</b>", 8), 0);
    assert_int_equal(buf_adds(b, "</r>"), 0);
}

static void test_node_limit(void **state)
{
    struct buf b = BUF_INIT;
    struct xml_node *root = NULL;
    struct xml_node *n;
    struct err err = ERR_INIT;
    size_t count = 0;

    (void)state;
    many(&b, XML_MAX_NODES);
    assert_int_equal(xml_parse(b.data, b.len, &root, &err), 0);
    for (n = root->child; n != NULL; n = n->next) {
        count++;
        assert_int_equal(n->textlen, 1);
    }
    assert_int_equal(count, XML_MAX_NODES - 1);
    xml_free(root); /* 200k siblings: freed without recursion */

    many(&b, XML_MAX_NODES + 1);
    parse_bad(b.data, b.len, "one element too many");
    many(&b, 250000);
    parse_bad(b.data, b.len, "250000 elements");
    buf_release(&b);
}

static void test_large_text(void **state)
{
    struct buf b = BUF_INIT;
    struct xml_node *root = NULL;
    struct err err = ERR_INIT;
    size_t n = (17u << 20) + 123; /* crosses the 16 MiB feed chunk */
    size_t i;

    (void)state;
    assert_int_equal(buf_adds(&b, "<a>"), 0);
    assert_int_equal(buf_grow(&b, n + 8), 0);
    for (i = 0; i < n; i++)
        assert_int_equal(buf_addc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(buf_adds(&b, "</a>"), 0);
    assert_int_equal(xml_parse(b.data, b.len, &root, &err), 0);
    assert_int_equal(root->textlen, n);
    assert_int_equal(strlen(root->text), n);
    assert_memory_equal(root->text, b.data + 3, n);
    xml_free(root);

    /* Broken at the very end, beyond the first chunk. */
    root = NULL;
    buf_setlen(&b, b.len - 1);
    parse_bad(b.data, b.len, "large truncated");
    buf_release(&b);
}

static void test_free_null(void **state)
{
    (void)state;
    xml_free(NULL);
}

static void test_escape(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    assert_int_equal(xml_escape(&b, "a&b<c>d\"e'f", 11), 0);
    assert_string_equal(b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    buf_reset(&b);
    assert_int_equal(xml_escape(&b, "&&", 2), 0);
    assert_string_equal(b.data, "&amp;&amp;");
    buf_reset(&b);
    assert_int_equal(xml_escape(&b, "plain text\n\ttab", 15), 0);
    assert_string_equal(b.data, "plain text\n\ttab");
    buf_reset(&b);
    assert_int_equal(xml_escape(&b, "a\r\nb", 4), 0);
    assert_string_equal(b.data, "a&#xD;\nb");
    buf_reset(&b);
    assert_int_equal(xml_escape(&b, "", 0), 0);
    assert_int_equal(b.len, 0);
    /* Only len bytes. */
    assert_int_equal(xml_escape(&b, "ab<", 2), 0);
    assert_string_equal(b.data, "ab");
    buf_release(&b);

    buf_init(&b, 5);
    assert_int_equal(xml_escape(&b, "<<", 2), -ERR_TOOBIG);
    buf_release(&b);
}

static void test_elem_roundtrip(void **state)
{
    struct buf b = BUF_INIT;
    struct xml_node *root;
    const char *text = "x < y & \"q\" 'a' > z\r\n\xe2\x82\xac";

    (void)state;
    assert_int_equal(buf_adds(&b, "<R>"), 0);
    assert_int_equal(xml_elem(&b, "Name", text), 0);
    assert_int_equal(xml_elem(&b, "Empty", NULL), 0);
    assert_int_equal(xml_elem(&b, "Blank", ""), 0);
    assert_int_equal(buf_adds(&b, "</R>"), 0);
    assert_string_equal(b.data,
                        "<R><Name>x &lt; y &amp; &quot;q&quot; &apos;a&apos; "
                        "&gt; z&#xD;\n\xe2\x82\xac</Name><Empty></Empty>"
                        "<Blank></Blank></R>");
    root = parse_ok(b.data);
    assert_string_equal(xml_child(root, "Name")->text, text);
    assert_string_equal(xml_child(root, "Empty")->text, "");
    xml_free(root);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_list),
        cmocka_unit_test(test_queue_message_and_identifiers),
        cmocka_unit_test(test_text_rules),
        cmocka_unit_test(test_doctype_rejected),
        cmocka_unit_test(test_hostile_table),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_large_text),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_elem_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
