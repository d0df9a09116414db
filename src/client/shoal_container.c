/*
 * shoal_container.c: blob containers: create (if not exists), delete, list.
 *
 * Requests (storage-wire.md §5.1):
 *   create  PUT    /ACCOUNT/NAME?restype=container      201 | 409 exists
 *   delete  DELETE /ACCOUNT/NAME?restype=container      202 | 404
 *   list    GET    /ACCOUNT/?comp=list&prefix=&include=metadata&marker=
 *
 * Listings follow NextMarker until it comes back empty; each page's XML
 * tree lives while its items are handed to the callback.
 *
 * Thread-safe (per request state only).
 */
#include "client/clientint.h"

#include <stdlib.h>
#include <string.h>

#include "core/xml.h"

int shoal_container_create(shoal_client *c, const char *name,
                           bool if_not_exists, bool *created_out)
{
    struct shoal_error e;
    struct req r;
    int rc;

    req_init(&r, c, SVC_BLOB, "PUT");
    if (req_segment(&r, name, false) == SHOAL_ERR_INVALID) {
        req_release(&r);
        return client_fail(c, SHOAL_ERR_INVALID, "empty container name");
    }
    req_query(&r, "restype", "container");
    rc = transport_send(c, &r);
    if (rc == SHOAL_ERR_CONFLICT && if_not_exists) {
        shoal_client_last_error(c, &e);
        if (strcmp(e.service_code, "ContainerAlreadyExists") == 0) {
            if (created_out)
                *created_out = false;
            rc = 0;
            goto out;
        }
    }
    if (rc == 0 && created_out)
        *created_out = true;
out:
    req_release(&r);
    return rc;
}

int shoal_container_delete(shoal_client *c, const char *name)
{
    struct req r;
    int rc;

    req_init(&r, c, SVC_BLOB, "DELETE");
    if (req_segment(&r, name, false) == SHOAL_ERR_INVALID) {
        req_release(&r);
        return client_fail(c, SHOAL_ERR_INVALID, "empty container name");
    }
    req_query(&r, "restype", "container");
    rc = transport_send(c, &r);
    req_release(&r);
    return rc;
}

static int list_page(shoal_client *c, const char *prefix, const char *marker,
                     int (*fn)(const struct shoal_container_item *item,
                               void *ctx),
                     void *ctx, char **next_out)
{
    struct xml_node *root = NULL;
    const struct xml_node *list, *it;
    const char *next;
    struct req r;
    int rc;

    req_init(&r, c, SVC_BLOB, "GET");
    if (buf_addc(&r.path, '/') < 0)
        r.oom = true;
    req_query(&r, "comp", "list");
    if (prefix && *prefix)
        req_query(&r, "prefix", prefix);
    req_query(&r, "include", "metadata");
    if (marker)
        req_query(&r, "marker", marker);
    rc = listxml_fetch(c, &r, &root);
    if (rc < 0)
        goto out;
    list = xml_child(root, "Containers");
    for (it = list ? list->child : NULL; it; it = it->next) {
        const struct xml_node *props = xml_child(it, "Properties");
        struct shoal_container_item item;
        struct shoal_kv *meta = NULL;
        size_t nmeta = 0;

        if (strcmp(it->name, "Container") != 0)
            continue;
        if (listxml_meta(xml_child(it, "Metadata"), &meta, &nmeta) < 0) {
            rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
            goto out;
        }
        memset(&item, 0, sizeof(item));
        item.name = listxml_text(it, "Name");
        item.etag = listxml_text(props, "Etag");
        item.last_modified = listxml_text(props, "Last-Modified");
        item.meta = meta;
        item.nmeta = nmeta;
        rc = item.name ? fn(&item, ctx) : 0;
        free(meta);
        if (rc != 0) {
            rc = client_fail(c, SHOAL_ERR_CANCELLED, "listing stopped");
            goto out;
        }
    }
    next = listxml_text(root, "NextMarker");
    *next_out = NULL;
    if (next && *next) {
        *next_out = strdup(next);
        if (!*next_out)
            rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
out:
    xml_free(root);
    req_release(&r);
    return rc;
}

int shoal_container_list(shoal_client *c, const char *prefix,
                         int (*fn)(const struct shoal_container_item *item,
                                   void *ctx),
                         void *ctx)
{
    char *marker = NULL;
    int rc;

    do {
        char *next = NULL;

        rc = list_page(c, prefix, marker, fn, ctx, &next);
        free(marker);
        marker = next;
    } while (rc == 0 && marker);
    free(marker);
    return rc;
}
