/*
 * shoal_pool.c: Batch pools and their compute nodes.
 *
 * Requests (batch-wire.md §6):
 *   add     POST   /pools                     201
 *   get     GET    /pools/P[?$select]
 *   list    GET    /pools[?$filter&$select]   (paged, batchreq.c)
 *   delete  DELETE /pools/P                   202
 *   resize  POST   /pools/P/resize            202 {targetDedicatedNodes}
 *   nodes   GET    /pools/P/nodes[/N]
 *
 * A pool spec becomes a PoolAddParameter: the vmSize is recorded by shoal
 * (and required by Azure), the image is the one the Azure quickstarts use,
 * so the same program runs against either service. The start task runs as
 * the pool's auto-user, admin when elevated.
 *
 * Thread-safe: all state is per call.
 */
#include "client/clientint.h"

#include <string.h>

#include <jansson.h>

static json_t *start_task_json(const struct shoal_start_task *st)
{
    json_t *o = json_object();
    json_t *ui = NULL, *au = NULL;

    if (!o)
        return NULL;
    if (batchreq_set_str(o, "commandLine", st->command_line) < 0)
        goto fail;
    if (st->nresource_files &&
        json_object_set_new(o, "resourceFiles",
                            batchreq_resource_files(st->resource_files,
                                                    st->nresource_files)) < 0)
        goto fail;
    if (st->nenv && json_object_set_new(o, "environmentSettings",
                                        batchreq_env(st->env, st->nenv)) < 0)
        goto fail;
    if (batchreq_set_bool(o, "waitForSuccess", st->wait_for_success) < 0)
        goto fail;
    if (st->max_retries &&
        batchreq_set_int(o, "maxTaskRetryCount", st->max_retries) < 0)
        goto fail;
    if (st->elevated) {
        ui = json_object();
        au = json_object();
        if (!ui || !au || json_object_set_new(ui, "autoUser", au) < 0) {
            json_decref(au);
            json_decref(ui);
            goto fail;
        }
        if (batchreq_set_str(au, "scope", "pool") < 0 ||
            batchreq_set_str(au, "elevationLevel", "admin") < 0 ||
            json_object_set_new(o, "userIdentity", ui) < 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *pool_json(const struct shoal_pool_spec *s)
{
    json_t *o = json_object();
    json_t *vm = NULL;

    if (!o)
        return NULL;
    vm = json_pack("{s:{s:s,s:s,s:s,s:s},s:s}", "imageReference", "publisher",
                   "canonical", "offer", "0001-com-ubuntu-server-focal", "sku",
                   "20_04-lts", "version", "latest", "nodeAgentSKUId",
                   "batch.node.ubuntu 20.04");
    if (!vm || batchreq_set_str(o, "id", s->id) < 0 ||
        batchreq_set_str(o, "vmSize",
                         s->vm_size ? s->vm_size : "standard_d1_v2") < 0 ||
        json_object_set_new(o, "virtualMachineConfiguration", vm) < 0 ||
        batchreq_set_int(o, "targetDedicatedNodes", s->target_nodes) < 0 ||
        batchreq_set_int(o, "taskSlotsPerNode",
                         s->slots_per_node > 0 ? s->slots_per_node : 1) < 0)
        goto fail;
    if (s->start_task) {
        json_t *st = start_task_json(s->start_task);

        if (!st || json_object_set_new(o, "startTask", st) < 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

int shoal_pool_add(shoal_client *c, const struct shoal_pool_spec *spec)
{
    json_t *body = NULL;
    int rc;

    if (!spec)
        return client_fail(c, SHOAL_ERR_INVALID, "no pool spec");
    if (spec->json) {
        rc = batchreq_parse_user(c, spec->json, &body);
        if (rc < 0)
            return rc;
    } else {
        if (!spec->id || !*spec->id || spec->target_nodes < 0 ||
            spec->slots_per_node < 0 ||
            (spec->start_task && !spec->start_task->command_line))
            return client_fail(c, SHOAL_ERR_INVALID, "incomplete pool spec");
        body = pool_json(spec);
        if (!body)
            return client_fail(c, SHOAL_ERR_INVALID,
                               "pool spec: out of memory or text not UTF-8");
    }
    rc = batchreq_call(c, "POST", "pools", NULL, NULL, NULL, body, NULL);
    json_decref(body);
    return rc;
}

int shoal_pool_get(shoal_client *c, const char *id, const char *select,
                   shoal_doc **out)
{
    return batchreq_get_path(c, "pools", id ? id : "", NULL, NULL, select, out);
}

int shoal_pool_list(shoal_client *c, const struct shoal_query *q,
                    shoal_doc **out)
{
    return batchreq_list_path(c, "pools", NULL, NULL, NULL, q, out);
}

int shoal_pool_delete(shoal_client *c, const char *id)
{
    return batchreq_call(c, "DELETE", "pools", id ? id : "", NULL, NULL, NULL,
                         NULL);
}

int shoal_pool_resize(shoal_client *c, const char *id, int target_nodes)
{
    json_t *body;
    struct req r;
    int rc;

    if (target_nodes < 0)
        return client_fail(c, SHOAL_ERR_INVALID, "negative node count");
    rc = batchreq_init(c, &r, "POST", "pools", id ? id : "", "resize", NULL);
    if (rc < 0)
        return rc;
    body = json_pack("{s:i}", "targetDedicatedNodes", target_nodes);
    if (!body) {
        req_release(&r);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    rc = batchreq_send(c, &r, body, NULL);
    json_decref(body);
    req_release(&r);
    return rc;
}

int shoal_pool_join_token(shoal_client *c, const char *pool, char **token_out,
                          char **join_url_out)
{
    json_t *reply = NULL;
    const char *token, *url;
    int rc;

    *token_out = NULL;
    *join_url_out = NULL;
    rc = batchreq_call(c, "POST", "pools", pool ? pool : "", "jointoken", NULL,
                       NULL, &reply);
    if (rc < 0)
        return rc;
    token = json_string_value(json_object_get(reply, "token"));
    url = json_string_value(json_object_get(reply, "joinUrl"));
    if (!token || !url) {
        json_decref(reply);
        return client_fail(c, SHOAL_ERR_PROTOCOL,
                           "the server answered no join token");
    }
    *token_out = strdup(token);
    *join_url_out = strdup(url);
    json_decref(reply);
    if (!*token_out || !*join_url_out) {
        free(*token_out);
        free(*join_url_out);
        *token_out = *join_url_out = NULL;
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    return 0;
}

int shoal_pool_revoke_join_token(shoal_client *c, const char *pool)
{
    return batchreq_call(c, "DELETE", "pools", pool ? pool : "", "jointoken",
                         NULL, NULL, NULL);
}

int shoal_pool_list_nodes(shoal_client *c, const char *pool,
                          const struct shoal_query *q, shoal_doc **out)
{
    return batchreq_list_path(c, "pools", pool ? pool : "", "nodes", NULL, q,
                              out);
}

int shoal_pool_get_node(shoal_client *c, const char *pool, const char *node,
                        shoal_doc **out)
{
    return batchreq_get_path(c, "pools", pool ? pool : "", "nodes",
                             node ? node : "", NULL, out);
}
