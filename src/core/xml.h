#ifndef SHOAL_XML_H
#define SHOAL_XML_H

#include <stddef.h>

struct buf;
struct err;

/*
 * XML for the storage services: escaping for writers, and a small bounded
 * tree parser (expat) for request bodies (block lists, signed identifiers,
 * queue messages). The parser rejects any DOCTYPE (no entity expansion), more
 * than XML_MAX_DEPTH levels or XML_MAX_NODES elements, and malformed input,
 * with -ERR_INVALID and svc "InvalidXmlDocument". Attributes are ignored.
 */
#define XML_MAX_DEPTH 16
#define XML_MAX_NODES 200000

struct xml_node {
    char *name;              /* element name */
    char *text;              /* concatenated character data, never NULL */
    size_t textlen;
    struct xml_node *child;  /* first child */
    struct xml_node *next;   /* next sibling */
};

/*
 * Parse data[0..len) into a tree; *root_out (set only on success) is the
 * root element, freed by the caller with xml_free. Returns 0, -ERR_INVALID
 * (svc "InvalidXmlDocument") or -ERR_NOMEM. Thread-safe.
 */
int xml_parse(const char *data, size_t len, struct xml_node **root_out,
              struct err *err);
/* Free a tree from xml_parse; NULL is a no-op. */
void xml_free(struct xml_node *root);
/* First child element named name, or NULL. */
struct xml_node *xml_child(const struct xml_node *n, const char *name);

/*
 * Append s with & < > " ' escaped (safe in text and attributes), and CR as
 * "&#xD;" (readers would turn a raw CR into LF). Other bytes pass through:
 * C0 controls other than tab, LF and CR cannot appear in XML 1.0 at all, so
 * callers must not pass them.
 */
int xml_escape(struct buf *out, const char *s, size_t len);
/* Append <name>escaped text</name>; name is not escaped; NULL text is "". */
int xml_elem(struct buf *out, const char *name, const char *text);

#endif
