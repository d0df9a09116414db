/*
 * batchreq.c: Batch requests with JSON bodies, gets and paged lists.
 *
 * Every Batch request carries api-version (batch-wire.md §2); bodies are
 * camelCase JSON sent as "application/json; odata=minimalmetadata;
 * charset=utf-8" (the Python SDK's type, which servers accept). Replies are
 * parsed with jansson. Lists follow odata.nextLink verbatim (the link
 * carries api-version and the original options, §3): its path and query
 * are taken, our own origin is kept, and it is signed afresh. A link that
 * repeats the previous one ends the listing (a server bug must not loop
 * us forever).
 *
 * Entities handed to users lose their "odata.metadata" member: it names
 * the service's own URL and means nothing to a caller.
 *
 * Thread-safe: all state is per call.
 */
#include "client/clientint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define BATCH_CT "application/json; odata=minimalmetadata; charset=utf-8"

int batchreq_init(shoal_client *c, struct req *r, const char *method,
                  const char *s1, const char *s2, const char *s3,
                  const char *s4)
{
    const char *segs[4] = { s1, s2, s3, s4 };
    int i;

    req_init(r, c, SVC_BATCH, method);
    for (i = 0; i < 4 && segs[i]; i++) {
        if (req_segment(r, segs[i], false) == SHOAL_ERR_INVALID) {
            req_release(r);
            return client_fail(c, SHOAL_ERR_INVALID, "empty id");
        }
    }
    return 0;
}

int batchreq_send(shoal_client *c, struct req *r, json_t *body,
                  json_t **reply_out)
{
    json_error_t je;
    char *text = NULL;
    json_t *reply = NULL;
    int rc;

    if (!kvlist_get(&r->query, "api-version"))
        req_query(r, "api-version", CLIENT_BATCH_VERSION);
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        r->body = text;
        r->body_len = strlen(text);
        req_header(r, "Content-Type", BATCH_CT);
    }
    rc = transport_send(c, r);
    r->body = NULL;
    r->body_len = 0;
    free(text);
    if (rc < 0 || !reply_out)
        return rc;
    if (r->resp.len > 0) {
        reply = json_loadb(r->resp.data, r->resp.len, 0, &je);
        if (!reply)
            return client_fail(c, SHOAL_ERR_PROTOCOL,
                               "bad JSON reply: %s (line %d)", je.text,
                               je.line);
    }
    *reply_out = reply;
    return 0;
}

static void add_options(struct req *r, const struct shoal_query *q)
{
    char num[32];

    if (!q)
        return;
    if (q->filter && *q->filter)
        req_query(r, "$filter", q->filter);
    if (q->select && *q->select)
        req_query(r, "$select", q->select);
    if (q->expand && *q->expand)
        req_query(r, "$expand", q->expand);
    if (q->max_results > 0) {
        snprintf(num, sizeof(num), "%d",
                 q->max_results < 1000 ? q->max_results : 1000);
        req_query(r, "maxresults", num);
    }
}

int batchreq_list(shoal_client *c, struct req *r, const struct shoal_query *q,
                  shoal_doc **out)
{
    json_t *items = json_array();
    json_t *reply = NULL;
    char *prev = NULL;
    size_t limit = q && q->max_results > 0 ? (size_t)q->max_results : 0;
    int rc;

    if (!items)
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    add_options(r, q);
    for (;;) {
        json_t *value, *link, *it;
        size_t i;

        rc = batchreq_send(c, r, NULL, &reply);
        if (rc < 0)
            goto out;
        value = reply ? json_object_get(reply, "value") : NULL;
        if (!json_is_array(value)) {
            rc = client_fail(c, SHOAL_ERR_PROTOCOL,
                             "list reply without a value array");
            goto out;
        }
        json_array_foreach(value, i, it)
        {
            if (limit && json_array_size(items) >= limit)
                break;
            if (json_is_object(it))
                json_object_del(it, "odata.metadata");
            if (json_array_append(items, it) < 0) {
                rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
                goto out;
            }
        }
        link = json_object_get(reply, "odata.nextLink");
        if (!json_is_string(link) || !*json_string_value(link) ||
            (limit && json_array_size(items) >= limit) ||
            (prev && strcmp(prev, json_string_value(link)) == 0))
            break;
        free(prev);
        prev = strdup(json_string_value(link));
        if (!prev) {
            rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = req_from_link(r, prev);
        if (rc < 0) {
            rc = client_fail(c, rc == SHOAL_ERR_NOMEM ? rc : SHOAL_ERR_PROTOCOL,
                             "bad odata.nextLink '%s'", prev);
            goto out;
        }
        json_decref(reply);
        reply = NULL;
    }
    rc = shoal_doc_take(items, out);
    items = NULL;
    if (rc < 0)
        client_fail(c, rc, "out of memory");
out:
    free(prev);
    json_decref(reply);
    json_decref(items);
    return rc;
}

int batchreq_get(shoal_client *c, struct req *r, const char *select,
                 shoal_doc **out)
{
    json_t *reply = NULL;
    json_t *items = NULL;
    int rc;

    if (select && *select)
        req_query(r, "$select", select);
    rc = batchreq_send(c, r, NULL, &reply);
    if (rc < 0)
        return rc;
    if (!json_is_object(reply)) {
        json_decref(reply);
        return client_fail(c, SHOAL_ERR_PROTOCOL, "reply is not an object");
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

int batchreq_call(shoal_client *c, const char *method, const char *s1,
                  const char *s2, const char *s3, const char *s4, json_t *body,
                  json_t **reply_out)
{
    struct req r;
    int rc;

    rc = batchreq_init(c, &r, method, s1, s2, s3, s4);
    if (rc < 0)
        return rc;
    rc = batchreq_send(c, &r, body, reply_out);
    req_release(&r);
    return rc;
}

int batchreq_get_path(shoal_client *c, const char *s1, const char *s2,
                      const char *s3, const char *s4, const char *select,
                      shoal_doc **out)
{
    struct req r;
    int rc;

    rc = batchreq_init(c, &r, "GET", s1, s2, s3, s4);
    if (rc < 0)
        return rc;
    rc = batchreq_get(c, &r, select, out);
    req_release(&r);
    return rc;
}

int batchreq_list_path(shoal_client *c, const char *s1, const char *s2,
                       const char *s3, const char *s4,
                       const struct shoal_query *q, shoal_doc **out)
{
    struct req r;
    int rc;

    rc = batchreq_init(c, &r, "GET", s1, s2, s3, s4);
    if (rc < 0)
        return rc;
    rc = batchreq_list(c, &r, q, out);
    req_release(&r);
    return rc;
}

int batchreq_parse_user(shoal_client *c, const char *text, json_t **out)
{
    json_error_t je;
    json_t *j;

    if (!text)
        return client_fail(c, SHOAL_ERR_INVALID, "no JSON given");
    j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return client_fail(c, SHOAL_ERR_INVALID, "bad JSON: %s (line %d)",
                           je.text, je.line);
    if (!json_is_object(j)) {
        json_decref(j);
        return client_fail(c, SHOAL_ERR_INVALID, "JSON must be an object");
    }
    *out = j;
    return 0;
}

int batchreq_set_str(json_t *o, const char *key, const char *value)
{
    json_t *v;

    if (!value)
        return 0;
    v = json_string(value);
    if (!v)
        return SHOAL_ERR_INVALID; /* NULL also means: not UTF-8 */
    return json_object_set_new(o, key, v) < 0 ? SHOAL_ERR_NOMEM : 0;
}

int batchreq_set_int(json_t *o, const char *key, int64_t value)
{
    return json_object_set_new(o, key, json_integer((json_int_t)value)) < 0
               ? SHOAL_ERR_NOMEM
               : 0;
}

int batchreq_set_bool(json_t *o, const char *key, bool value)
{
    return json_object_set_new(o, key, json_boolean(value)) < 0
               ? SHOAL_ERR_NOMEM
               : 0;
}

json_t *batchreq_resource_files(const struct shoal_resource_file *rf, size_t n)
{
    json_t *a = json_array();
    size_t i;

    if (!a)
        return NULL;
    for (i = 0; i < n; i++) {
        json_t *o = json_object();

        if (!o || json_array_append_new(a, o) < 0 ||
            batchreq_set_str(o, "httpUrl", rf[i].http_url) < 0 ||
            batchreq_set_str(o, "storageContainerUrl",
                             rf[i].storage_container_url) < 0 ||
            batchreq_set_str(o, "blobPrefix", rf[i].blob_prefix) < 0 ||
            batchreq_set_str(o, "filePath", rf[i].file_path) < 0 ||
            batchreq_set_str(o, "fileMode", rf[i].file_mode) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *batchreq_env(const struct shoal_kv *env, size_t n)
{
    json_t *a = json_array();
    size_t i;

    if (!a)
        return NULL;
    for (i = 0; i < n; i++) {
        json_t *o = json_object();

        if (!o || json_array_append_new(a, o) < 0 ||
            batchreq_set_str(o, "name", env[i].name) < 0 ||
            batchreq_set_str(o, "value", env[i].value ? env[i].value : "") <
                0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
