/*
 * listxml.c: reading storage XML replies (listings, queue messages).
 *
 * Replies are parsed with core/xml.h into a bounded tree (no DOCTYPE, depth
 * and node limits), then read with the helpers here. Strings handed out
 * point into the tree: they live until xml_free, which is why listing
 * callbacks get them only for the duration of the call.
 *
 * Reentrant.
 */
#include "client/clientint.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/xml.h"

int listxml_fetch(shoal_client *c, struct req *r, struct xml_node **root_out)
{
    struct err e = ERR_INIT;
    int rc;

    rc = transport_send(c, r);
    if (rc < 0)
        return rc;
    rc = xml_parse(r->resp.data, r->resp.len, root_out, &e);
    if (rc == -ERR_NOMEM)
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    if (rc < 0)
        return client_fail(c, SHOAL_ERR_PROTOCOL, "bad XML reply: %s", e.msg);
    return 0;
}

const char *listxml_text(const struct xml_node *n, const char *name)
{
    const struct xml_node *ch = n ? xml_child(n, name) : NULL;

    return ch ? ch->text : NULL;
}

int listxml_meta(const struct xml_node *md, struct shoal_kv **out,
                 size_t *n_out)
{
    const struct xml_node *ch;
    struct shoal_kv *v;
    size_t n = 0, bytes;

    *out = NULL;
    *n_out = 0;
    if (!md)
        return 0;
    for (ch = md->child; ch; ch = ch->next)
        n++;
    if (n == 0)
        return 0;
    if (!size_mul(n, sizeof(*v), &bytes))
        return SHOAL_ERR_NOMEM;
    v = malloc(bytes);
    if (!v)
        return SHOAL_ERR_NOMEM;
    n = 0;
    for (ch = md->child; ch; ch = ch->next) {
        v[n].name = ch->name;
        v[n].value = ch->text;
        n++;
    }
    *out = v;
    *n_out = n;
    return 0;
}

int listxml_header_meta(const struct req *r, struct arena *a,
                        struct shoal_kv **out, size_t *n_out)
{
    const struct kvlist *h = &r->resp_headers;
    struct shoal_kv *v = NULL;
    size_t n = 0, i, bytes;
    bool oom = false;

    *out = NULL;
    *n_out = 0;
    for (i = 0; i < h->n; i++) {
        if (str_iprefix(h->v[i].name, "x-ms-meta-"))
            n++;
    }
    if (n == 0)
        return 0;
    if (!size_mul(n, sizeof(*v), &bytes))
        return SHOAL_ERR_NOMEM;
    v = malloc(bytes);
    if (!v || !arena_take(a, v)) {
        free(v);
        return SHOAL_ERR_NOMEM;
    }
    n = 0;
    for (i = 0; i < h->n; i++) {
        if (!str_iprefix(h->v[i].name, "x-ms-meta-"))
            continue;
        v[n].name = arena_strdup(a, h->v[i].name + 10, &oom);
        v[n].value = arena_strdup(a, h->v[i].value, &oom);
        n++;
    }
    if (oom)
        return SHOAL_ERR_NOMEM;
    *out = v;
    *n_out = n;
    return 0;
}
