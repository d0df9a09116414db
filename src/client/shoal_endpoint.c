/*
 * shoal_endpoint.c: notification endpoints (shoal's extension of Batch).
 *
 * Requests (notifications.md §5.2, notify_api.c):
 *   create  POST   /notificationendpoints      201 entity (id, name,
 *           {"name","endpointType":"queue"|"webhook","endpointAddress",
 *            "base64"?}                         endpointType, address,
 *                                               created, signingKey once)
 *   get     GET    /notificationendpoints/ID   200 entity + counts
 *   list    GET    /notificationendpoints      200 {"value":[entity...]}
 *   delete  DELETE /notificationendpoints/ID   200
 *
 * Ids ("nb:nepid:UUID:...") go in the path percent-encoded like any
 * segment. Entities come back as shoal_docs, as the Batch entities do.
 *
 * Thread-safe: all state is per call.
 */
#include "client/clientint.h"

#include <jansson.h>

#define EP_PATH "notificationendpoints"

int shoal_endpoint_create(shoal_client *c,
                          const struct shoal_endpoint_spec *spec,
                          shoal_doc **out)
{
    json_t *body = NULL;
    json_t *reply = NULL;
    json_t *items = NULL;
    const char *type;
    int rc;

    if (!spec || !spec->name || !*spec->name || !spec->address ||
        !*spec->address)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "an endpoint needs a name and an address");
    if (spec->type == SHOAL_ENDPOINT_QUEUE)
        type = "queue";
    else if (spec->type == SHOAL_ENDPOINT_WEBHOOK)
        type = "webhook";
    else
        return client_fail(c, SHOAL_ERR_INVALID,
                           "endpoint type must be queue or webhook");
    body = json_object();
    if (!body || batchreq_set_str(body, "name", spec->name) < 0 ||
        batchreq_set_str(body, "endpointType", type) < 0 ||
        batchreq_set_str(body, "endpointAddress", spec->address) < 0 ||
        (spec->base64 && batchreq_set_bool(body, "base64", true) < 0)) {
        json_decref(body);
        return client_fail(c, SHOAL_ERR_INVALID,
                           "endpoint: out of memory or text not UTF-8");
    }
    rc = batchreq_call(c, "POST", EP_PATH, NULL, NULL, NULL, body,
                       out ? &reply : NULL);
    json_decref(body);
    if (rc < 0 || !out)
        return rc;
    if (!json_is_object(reply) ||
        !json_is_string(json_object_get(reply, "id"))) {
        json_decref(reply);
        return client_fail(c, SHOAL_ERR_PROTOCOL,
                           "endpoint reply without an id");
    }
    json_object_del(reply, "odata.metadata");
    items = json_array();
    if (!items || json_array_append_new(items, reply) < 0) {
        json_decref(items);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    rc = shoal_doc_take(items, out);
    if (rc < 0)
        client_fail(c, rc, "out of memory");
    return rc;
}

int shoal_endpoint_get(shoal_client *c, const char *id, shoal_doc **out)
{
    return batchreq_get_path(c, EP_PATH, id ? id : "", NULL, NULL, NULL, out);
}

int shoal_endpoint_list(shoal_client *c, shoal_doc **out)
{
    return batchreq_list_path(c, EP_PATH, NULL, NULL, NULL, NULL, out);
}

int shoal_endpoint_delete(shoal_client *c, const char *id)
{
    return batchreq_call(c, "DELETE", EP_PATH, id ? id : "", NULL, NULL, NULL,
                         NULL);
}
