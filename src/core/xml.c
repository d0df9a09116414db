/*
 * xml.c: XML escaping for writers, and a bounded tree parser for request
 * bodies (block lists, signed identifiers, queue messages, and list replies
 * in libshoal).
 *
 * Parsing is expat, in streaming mode, feeding a tree of struct xml_node:
 *
 *   <BlockList><Latest>QUFB</Latest><Committed>QkJC</Committed></BlockList>
 *
 *   BlockList --child--> Latest --next--> Committed
 *                          |                 |
 *                        "QUFB"            "QkJC"   (text)
 *
 * While parsing, a fixed stack of XML_MAX_DEPTH frames holds the open
 * elements: the node, its last child (so appending a sibling is O(1)) and a
 * struct buf collecting the element's own character data (text of children
 * is theirs; whitespace between children is the parent's). When the element
 * closes, its text is copied out at its exact size and the frame's buffer is
 * reused by the next element at that depth, so a 50,000-entry block list
 * costs one allocation per node plus one per non-empty text.
 *
 * Each node is one allocation holding the struct and its name; an element
 * without text points at a shared empty string instead of allocating one
 * (xml_free knows not to free it). Nodes are linked into the tree as soon as
 * they open, so on any failure the partial tree is freed from the root.
 *
 * Defences, all answered with -ERR_INVALID and svc "InvalidXmlDocument":
 *
 *   - any DOCTYPE: the start-doctype handler stops the parser before an
 *     internal subset is read, so no entity is ever declared, let alone
 *     expanded (billion laughs, external entities);
 *   - more than XML_MAX_DEPTH open elements, or more than XML_MAX_NODES
 *     elements in all;
 *   - anything expat finds malformed: truncated or empty documents, unclosed
 *     or mismatched tags, text or a second element after the root, bytes that
 *     are not valid in the declared encoding (UTF-8 by default).
 *
 * Out of memory is -ERR_NOMEM (this file is in libshoal, which never
 * aborts). Expat's strings are borrowed for the length of a callback, so
 * names and text are copied. The parser keeps no global state: any thread
 * may parse, and a finished tree is plain memory owned by the caller.
 */
#include "core/xml.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

/* Bytes handed to XML_Parse at a time (it takes an int length). */
#define XML_FEED_CHUNK (16u << 20)

/* Shared text of every element without character data; never freed. */
static char xml_empty[1];

struct xml_frame {
    struct xml_node *node;
    struct xml_node *last_child;
    struct buf text;
};

struct xml_parser {
    XML_Parser xp;
    struct xml_node *root;
    struct xml_frame stack[XML_MAX_DEPTH];
    int depth;
    size_t nodes;
    int rc;          /* 0, or the -ERR_* that made us stop the parser */
    const char *why; /* message for our own ERR_INVALID refusals */
};

static void parser_fail(struct xml_parser *st, int rc, const char *why)
{
    if (st->rc == 0) {
        st->rc = rc;
        st->why = why;
    }
    XML_StopParser(st->xp, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name,
                             const XML_Char **atts)
{
    struct xml_parser *st = ud;
    struct xml_node *node;
    size_t namelen = strlen(name);
    size_t size;

    (void)atts;
    if (st->rc != 0)
        return;
    if (st->depth >= XML_MAX_DEPTH) {
        parser_fail(st, -ERR_INVALID, "xml nesting too deep");
        return;
    }
    if (st->nodes >= XML_MAX_NODES) {
        parser_fail(st, -ERR_INVALID, "xml has too many elements");
        return;
    }
    if (!size_add(sizeof(*node), namelen, &size) || !size_add(size, 1, &size)) {
        parser_fail(st, -ERR_NOMEM, NULL);
        return;
    }
    node = malloc(size);
    if (node == NULL) {
        parser_fail(st, -ERR_NOMEM, NULL);
        return;
    }
    node->name = (char *)(node + 1);
    memcpy(node->name, name, namelen + 1);
    node->text = xml_empty;
    node->textlen = 0;
    node->child = NULL;
    node->next = NULL;
    st->nodes++;

    if (st->depth == 0) {
        /* expat allows only one root, so this runs once. */
        st->root = node;
    } else {
        struct xml_frame *parent = &st->stack[st->depth - 1];

        if (parent->last_child != NULL)
            parent->last_child->next = node;
        else
            parent->node->child = node;
        parent->last_child = node;
    }
    st->stack[st->depth].node = node;
    st->stack[st->depth].last_child = NULL;
    buf_reset(&st->stack[st->depth].text);
    st->depth++;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xml_parser *st = ud;
    struct xml_frame *f;

    (void)name;
    if (st->rc != 0 || st->depth == 0)
        return;
    f = &st->stack[st->depth - 1];
    if (f->text.len > 0) {
        char *text = malloc(f->text.len + 1);

        if (text == NULL) {
            parser_fail(st, -ERR_NOMEM, NULL);
            return;
        }
        memcpy(text, f->text.data, f->text.len + 1);
        f->node->text = text;
        f->node->textlen = f->text.len;
    }
    st->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xml_parser *st = ud;
    int rc;

    if (st->rc != 0 || st->depth == 0 || len <= 0)
        return;
    rc = buf_add(&st->stack[st->depth - 1].text, s, (size_t)len);
    if (rc < 0)
        parser_fail(st, rc, "xml text too large");
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name,
                               const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    parser_fail(ud, -ERR_INVALID, "xml doctype not allowed");
}

/* Turn a failed parse into rc and err. */
static int parse_error(struct xml_parser *st, struct err *err)
{
    enum XML_Error code;

    if (st->rc == -ERR_NOMEM)
        return err_set(err, ERR_NOMEM, NULL, "out of memory parsing xml");
    if (st->rc == -ERR_TOOBIG)
        return err_set(err, ERR_TOOBIG, NULL, "%s", st->why);
    if (st->rc != 0)
        return err_set(err, ERR_INVALID, "InvalidXmlDocument", "%s", st->why);
    code = XML_GetErrorCode(st->xp);
    if (code == XML_ERROR_NO_MEMORY)
        return err_set(err, ERR_NOMEM, NULL, "out of memory parsing xml");
    return err_set(err, ERR_INVALID, "InvalidXmlDocument",
                   "xml not well formed at line %lu column %lu: %s",
                   (unsigned long)XML_GetCurrentLineNumber(st->xp),
                   (unsigned long)XML_GetCurrentColumnNumber(st->xp),
                   XML_ErrorString(code));
}

int xml_parse(const char *data, size_t len, struct xml_node **root_out,
              struct err *err)
{
    struct xml_parser st;
    int rc = 0;
    int i;

    memset(&st, 0, sizeof(st));
    for (i = 0; i < XML_MAX_DEPTH; i++)
        buf_init(&st.stack[i].text, (size_t)-1);

    st.xp = XML_ParserCreate(NULL);
    if (st.xp == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory parsing xml");
        goto out;
    }
    XML_SetUserData(st.xp, &st);
    XML_SetElementHandler(st.xp, on_start, on_end);
    XML_SetCharacterDataHandler(st.xp, on_text);
    XML_SetStartDoctypeDeclHandler(st.xp, on_doctype);

    /* One call with isFinal set even for empty input, so it is refused. */
    do {
        size_t n = len < XML_FEED_CHUNK ? len : XML_FEED_CHUNK;
        bool is_final = n == len;

        if (XML_Parse(st.xp, data, (int)n, is_final) != XML_STATUS_OK) {
            rc = parse_error(&st, err);
            goto out;
        }
        data += n;
        len -= n;
    } while (len > 0);

    *root_out = st.root;
    st.root = NULL; /* ownership moved to the caller */
out:
    xml_free(st.root);
    for (i = 0; i < XML_MAX_DEPTH; i++)
        buf_release(&st.stack[i].text);
    if (st.xp != NULL)
        XML_ParserFree(st.xp);
    return rc;
}

void xml_free(struct xml_node *root)
{
    struct xml_node *n = root;

    /*
     * Seen as a binary tree (child = left, next = right), rotate each left
     * subtree up until a node has none, then free it and move right. No
     * recursion and no stack, however long the sibling lists are.
     */
    while (n != NULL) {
        if (n->child != NULL) {
            struct xml_node *c = n->child;

            n->child = c->next;
            c->next = n;
            n = c;
        } else {
            struct xml_node *next = n->next;

            if (n->text != xml_empty)
                free(n->text);
            free(n);
            n = next;
        }
    }
}

struct xml_node *xml_child(const struct xml_node *n, const char *name)
{
    struct xml_node *c;

    if (n == NULL)
        return NULL;
    for (c = n->child; c != NULL; c = c->next) {
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

/* The entity for c, or NULL when c goes out as itself. */
static const char *escape_of(unsigned char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&apos;";
    case '\r':
        /* A raw CR reaches readers as LF; a reference keeps it. */
        return "&#xD;";
    default:
        return NULL;
    }
}

int xml_escape(struct buf *out, const char *s, size_t len)
{
    size_t start = 0;
    size_t i;
    int rc;

    for (i = 0; i < len; i++) {
        const char *e = escape_of((unsigned char)s[i]);

        if (e == NULL)
            continue;
        if (i > start) {
            rc = buf_add(out, s + start, i - start);
            if (rc < 0)
                return rc;
        }
        rc = buf_adds(out, e);
        if (rc < 0)
            return rc;
        start = i + 1;
    }
    if (i > start)
        return buf_add(out, s + start, i - start);
    return 0;
}

int xml_elem(struct buf *out, const char *name, const char *text)
{
    int rc;

    rc = buf_addf(out, "<%s>", name);
    if (rc < 0)
        return rc;
    if (text != NULL) {
        rc = xml_escape(out, text, strlen(text));
        if (rc < 0)
            return rc;
    }
    return buf_addf(out, "</%s>", name);
}
