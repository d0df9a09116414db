/*
 * blob_xmlbody.c: the XML request bodies of the blob service, parsed into
 * plain structs: Put Block List (BlockList) and Set Container ACL
 * (SignedIdentifiers); and the SignedIdentifiers reply of Get Container ACL.
 *
 * Parsing goes through core/xml.c, which already refuses DOCTYPEs, deep or
 * huge trees and malformed documents (InvalidXmlDocument). This file adds
 * the shape: the root element, the children allowed, and the values:
 *
 *   BlockList      children Committed | Uncommitted | Latest, each a
 *                  base64 block id of 1..64 bytes, all of one decoded
 *                  length, at most 50,000 of them. Anything else in the
 *                  tree is InvalidXmlDocument; a bad id InvalidBlockId; a
 *                  length mismatch or too many InvalidBlockList.
 *   SignedIdentifiers  up to 5 SignedIdentifier, each with an Id (1..64
 *                  characters, unique) and an optional AccessPolicy with
 *                  optional Start, Expiry (ISO 8601) and Permission
 *                  (letters of "racwdxyltfmei"). Bad values are
 *                  InvalidXmlNodeValue.
 *
 * Element names match exactly (the service is case-sensitive here too).
 * Pure and reentrant; results are plain memory owned by the caller.
 */
#include "blob/blobint.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "core/xml.h"

#define CONTAINER_PERMS "racwdxyltfmei"

static int bad_doc(struct err *err, const char *what)
{
    return err_set(err, ERR_INVALID, "InvalidXmlDocument",
                   "xml specified is not syntactically valid: %s", what);
}

static int bad_value(struct err *err, const char *node, const char *what)
{
    err_set(err, ERR_INVALID, "InvalidXmlNodeValue",
            "the value for one of the xml nodes is not in the correct "
            "format: %s",
            what);
    err_add_detail(err, "XmlNodeName", node);
    return -ERR_INVALID;
}

int blob_xmlbody_blocklist(const char *xml, size_t len,
                           struct blob_block_ref **refs_out, size_t *n_out,
                           struct err *err)
{
    struct xml_node *root = NULL;
    struct blob_block_ref *refs = NULL;
    size_t n = 0, alloc = 0;
    const struct xml_node *c;
    int rc;

    rc = xml_parse(xml, len, &root, err);
    if (rc < 0)
        goto out;
    if (strcmp(root->name, "BlockList") != 0) {
        rc = bad_doc(err, "the root element must be BlockList");
        goto out;
    }
    for (c = root->child; c; c = c->next) {
        struct blob_block_ref r;

        if (strcmp(c->name, "Committed") == 0) {
            r.kind = BLOB_BLOCK_COMMITTED;
        } else if (strcmp(c->name, "Uncommitted") == 0) {
            r.kind = BLOB_BLOCK_UNCOMMITTED;
        } else if (strcmp(c->name, "Latest") == 0) {
            r.kind = BLOB_BLOCK_LATEST;
        } else {
            rc = bad_doc(err, "unexpected element in BlockList");
            goto out;
        }
        if (c->child) {
            rc = bad_doc(err, "a block id holds elements");
            goto out;
        }
        rc = blob_names_block_id(c->text, c->textlen, r.id, &r.idlen, err);
        if (rc < 0)
            goto out;
        if (n > 0 && r.idlen != refs[0].idlen) {
            rc = err_set(err, ERR_INVALID, "InvalidBlockList",
                         "the specified block list is invalid: block ids "
                         "differ in length");
            goto out;
        }
        if (n == BLOB_MAX_COMMITTED) {
            rc = err_set(err, ERR_INVALID, "InvalidBlockList",
                         "the block list has more than %d blocks",
                         BLOB_MAX_COMMITTED);
            goto out;
        }
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            refs = xrealloc(refs, alloc * sizeof(*refs));
        }
        refs[n++] = r;
    }
    *refs_out = refs;
    *n_out = n;
    refs = NULL;
    rc = 0;
out:
    free(refs);
    xml_free(root);
    return rc;
}

static bool perms_ok(const char *s)
{
    bool seen[26] = { false };

    for (; *s; s++) {
        if (*s < 'a' || *s > 'z' || !strchr(CONTAINER_PERMS, *s) ||
            seen[*s - 'a'])
            return false;
        seen[*s - 'a'] = true;
    }
    return true;
}

static int parse_policy(const struct xml_node *ap, struct blob_policy *p,
                        struct err *err)
{
    for (const struct xml_node *c = ap->child; c; c = c->next) {
        if (strcmp(c->name, "Start") == 0) {
            if (c->textlen == 0)
                continue;
            if (timefmt_parse_iso8601(c->text, &p->start_ms) < 0)
                return bad_value(err, "Start", "not an ISO 8601 date");
            p->has_start = true;
        } else if (strcmp(c->name, "Expiry") == 0) {
            if (c->textlen == 0)
                continue;
            if (timefmt_parse_iso8601(c->text, &p->expiry_ms) < 0)
                return bad_value(err, "Expiry", "not an ISO 8601 date");
            p->has_expiry = true;
        } else if (strcmp(c->name, "Permission") == 0) {
            if (c->textlen >= sizeof(p->perms) || !perms_ok(c->text))
                return bad_value(err, "Permission",
                                 "not a set of container sas letters");
            memcpy(p->perms, c->text, c->textlen + 1);
        } else {
            return bad_doc(err, "unexpected element in AccessPolicy");
        }
    }
    return 0;
}

int blob_xmlbody_acl(const char *xml, size_t len,
                     struct blob_policy out[BLOB_MAX_POLICIES], size_t *n_out,
                     struct err *err)
{
    struct xml_node *root = NULL;
    size_t n = 0;
    int rc = 0;

    *n_out = 0;
    /* An empty body sets the public access level alone. */
    while (len > 0 && (xml[0] == ' ' || xml[0] == '\n' || xml[0] == '\r' ||
                       xml[0] == '\t')) {
        xml++;
        len--;
    }
    if (len == 0)
        return 0;
    rc = xml_parse(xml, len, &root, err);
    if (rc < 0)
        goto out;
    if (strcmp(root->name, "SignedIdentifiers") != 0) {
        rc = bad_doc(err, "the root element must be SignedIdentifiers");
        goto out;
    }
    for (const struct xml_node *si = root->child; si; si = si->next) {
        const struct xml_node *id, *ap;
        struct blob_policy *p;

        if (strcmp(si->name, "SignedIdentifier") != 0) {
            rc = bad_doc(err, "unexpected element in SignedIdentifiers");
            goto out;
        }
        if (n == BLOB_MAX_POLICIES) {
            rc = bad_doc(err, "more than 5 signed identifiers");
            goto out;
        }
        p = &out[n];
        memset(p, 0, sizeof(*p));
        id = xml_child(si, "Id");
        if (!id || id->textlen == 0 || id->textlen > BLOB_POLICY_ID_MAX ||
            strlen(id->text) != id->textlen) {
            rc = bad_value(err, "Id", "an id of 1 to 64 characters");
            goto out;
        }
        memcpy(p->id, id->text, id->textlen + 1);
        for (size_t k = 0; k < n; k++) {
            if (strcmp(out[k].id, p->id) == 0) {
                rc = bad_value(err, "Id", "signed identifiers repeat");
                goto out;
            }
        }
        for (const struct xml_node *c = si->child; c; c = c->next) {
            if (strcmp(c->name, "Id") != 0 &&
                strcmp(c->name, "AccessPolicy") != 0) {
                rc = bad_doc(err, "unexpected element in SignedIdentifier");
                goto out;
            }
        }
        ap = xml_child(si, "AccessPolicy");
        if (ap) {
            rc = parse_policy(ap, p, err);
            if (rc < 0)
                goto out;
        }
        n++;
    }
    *n_out = n;
out:
    xml_free(root);
    return rc;
}

void blob_xmlbody_acl_render(struct buf *b, const struct blob_policy *p,
                             size_t n)
{
    char ts[TIMEFMT_ISO_LEN];

    buf_adds(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                "<SignedIdentifiers>");
    for (size_t i = 0; i < n; i++) {
        buf_adds(b, "<SignedIdentifier>");
        xml_elem(b, "Id", p[i].id);
        buf_adds(b, "<AccessPolicy>");
        if (p[i].has_start) {
            timefmt_iso8601(p[i].start_ms, 7, ts);
            xml_elem(b, "Start", ts);
        }
        if (p[i].has_expiry) {
            timefmt_iso8601(p[i].expiry_ms, 7, ts);
            xml_elem(b, "Expiry", ts);
        }
        if (p[i].perms[0])
            xml_elem(b, "Permission", p[i].perms);
        buf_adds(b, "</AccessPolicy></SignedIdentifier>");
    }
    buf_adds(b, "</SignedIdentifiers>");
}
