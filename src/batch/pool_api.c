/*
 * pool_api.c: the Pool operations of the Batch REST API.
 *
 *   POST   /pools                          Pool_Add        201
 *   GET    /pools                          Pool_List       200
 *   GET    /pools/{p}                      Pool_Get        200
 *   HEAD   /pools/{p}                      Pool_Exists     200 / 404
 *   DELETE /pools/{p}                      Pool_Delete     202
 *   PATCH  /pools/{p}                      Pool_Patch      200
 *   POST   /pools/{p}/updateproperties     Pool_UpdateProperties 204
 *   POST   /pools/{p}/resize               Pool_Resize     202
 *   POST   /pools/{p}/stopresize           Pool_StopResize 202
 *   POST   /pools/{p}/removenodes          Pool_RemoveNodes 202
 *   POST   /pools/{p}/enableautoscale, disableautoscale, evaluateautoscale
 *                                          501 NotImplemented
 *
 * vmSize and the image are recorded and shown, not interpreted: every node
 * is a local shoal-node process (super.c), or, in a pool created with
 * "x-shoal-allocation": "jointoken", an agent that joined it from another
 * machine (join.c); such a pool starts empty, its target counts the joined
 * nodes, and a resize may only shrink it. A pool with a target above its
 * node count is "resizing" until the supervisor has the nodes up.
 *
 * Shrinking (resize down, removenodes, delete) makes nodes leave per the
 * nodeDeallocationOption (nodeops.c: requeue, terminate, taskcompletion,
 * retaineddata); a resize down picks idle nodes before busy ones (super.c).
 *
 * resizeTimeout (pool add, resize, removenodes): at least
 * sched.min_resize_timeout_ms (5 minutes, as the service) or 400
 * InvalidPropertyValue; absent on a resize means the default 15 minutes
 * for that resize. A resize still unfinished when it runs out ends steady
 * with resizeErrors [AllocationTimedout] (super.c); a stopresize leaves
 * [ResizeStopped] (the service's PoolResizeErrorCodes); the next resize
 * clears them. resizeErrors are shown only while the pool is steady.
 *
 * Structures: none of its own; it parses (spec.c), changes the model under
 * its lock, waits for the journal, and renders CloudPool JSON.
 * Threads: http workers. Ownership: rendered JSON is handed to the reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "batch/batchint.h"
#include "batch/nodeops.h"
#include "batch/odata.h"
#include "batch/sched.h"
#include "batch/spec.h"
#include "batch/store.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

static int pool_not_found(struct err *e, const char *id)
{
    return err_set(e, ERR_NOTFOUND, "PoolNotFound",
                   "the specified pool '%s' does not exist", id);
}

static void copy_field(json_t *out, json_t *spec, const char *key)
{
    json_t *v = json_object_get(spec, key);

    if (v)
        json_object_set(out, key, v);
}

static size_t live_nodes(const struct mpool *p)
{
    size_t n = 0;

    for (size_t i = 0; i < p->nnodes; i++)
        n += !p->nodes[i]->removing;
    return n;
}

/*
 * resizeTimeout of a PoolAddParameter, PoolResizeParameter or
 * NodeRemoveParameter: at least sched.min_resize_timeout_ms (the service's
 * 5 minutes), else 400 InvalidPropertyValue (the spec: "If you specify a
 * value less than 5 minutes, the Batch service returns an error").
 */
static int check_resize_timeout(const struct batch_service *s, json_t *body,
                                struct err *e)
{
    const char *v = json_string_value(json_object_get(body, "resizeTimeout"));
    int64_t ms = 0, min = s->cfg->min_resize_timeout_ms;
    char reason[64];

    if (!v || (timefmt_parse_duration(v, &ms) == 0 && ms >= min))
        return 0;
    if (min % 60000 == 0)
        snprintf(reason, sizeof(reason), "the minimum value is %lld minutes",
                 (long long)(min / 60000));
    else
        snprintf(reason, sizeof(reason), "the minimum value is %lld ms",
                 (long long)min);
    err_set(e, ERR_INVALID, "InvalidPropertyValue",
            "the value provided for property 'resizeTimeout' is invalid");
    err_add_detail(e, "PropertyName", "resizeTimeout");
    err_add_detail(e, "Reason", reason);
    return -ERR_INVALID;
}

/*
 * A resize (or removenodes) starts: its resizeTimeout (absent: the default
 * 15 minutes, not the last resize's) becomes the pool's, and the errors of
 * the last resize are forgotten.
 */
static void resize_begin(struct mpool *p, json_t *body)
{
    json_t *v = json_object_get(body, "resizeTimeout");

    if (v)
        json_object_set(p->spec, "resizeTimeout", v);
    else
        json_object_del(p->spec, "resizeTimeout");
    json_decref(p->resize_errors);
    p->resize_errors = NULL;
}

json_t *pool_api_render(struct breq *b, const struct mpool *p)
{
    json_t *o = json_object();
    json_t *v;
    char etag[24];
    char *url = xasprintf("%s/pools/%s", b->base, p->id);
    size_t live = live_nodes(p);
    size_t dedicated = live < (size_t)p->target ? live : (size_t)p->target;

    model_etag_str(p->etag, etag);
    json_object_set_new(o, "id", json_string(p->id));
    copy_field(o, p->spec, "displayName");
    json_object_set_new(o, "url", json_string(url));
    json_object_set_new(o, "eTag", json_string(etag));
    batch_api_time(o, "lastModified", p->modified_ms);
    batch_api_time(o, "creationTime", p->created_ms);
    json_object_set_new(o, "state",
                        json_string(model_pool_state_name(p->state)));
    batch_api_time(o, "stateTransitionTime", p->state_ms);
    json_object_set_new(o, "allocationState",
                        json_string(model_pool_alloc_name(p->alloc)));
    batch_api_time(o, "allocationStateTransitionTime", p->alloc_ms);
    copy_field(o, p->spec, "vmSize");
    copy_field(o, p->spec, "cloudServiceConfiguration");
    copy_field(o, p->spec, "virtualMachineConfiguration");
    batch_api_duration(o, "resizeTimeout", p->resize_timeout_ms);
    /* The last resize's errors, shown only once it is over (the spec). */
    if (p->resize_errors && p->alloc == POOL_STEADY &&
        json_array_size(p->resize_errors) > 0)
        json_object_set(o, "resizeErrors", p->resize_errors);
    json_object_set_new(o, "currentDedicatedNodes",
                        json_integer((json_int_t)dedicated));
    json_object_set_new(o, "currentLowPriorityNodes",
                        json_integer((json_int_t)(live - dedicated)));
    json_object_set_new(o, "targetDedicatedNodes", json_integer(p->target));
    json_object_set_new(o, "targetLowPriorityNodes",
                        json_integer(p->target_low));
    json_object_set_new(o, "enableAutoScale", json_false());
    v = json_object_get(p->spec, "enableInterNodeCommunication");
    json_object_set_new(o, "enableInterNodeCommunication",
                        json_boolean(json_is_true(v)));
    copy_field(o, p->spec, "networkConfiguration");
    v = json_object_get(p->spec, "startTask");
    if (v) {
        json_t *st = json_deep_copy(v);
        if (!json_object_get(st, "maxTaskRetryCount"))
            json_object_set_new(st, "maxTaskRetryCount", json_integer(0));
        if (!json_object_get(st, "waitForSuccess"))
            json_object_set_new(st, "waitForSuccess", json_true());
        if (!json_object_get(st, "userIdentity")) {
            json_t *ui = json_object(), *au = json_object();
            json_object_set_new(au, "scope", json_string("pool"));
            json_object_set_new(au, "elevationLevel", json_string("nonadmin"));
            json_object_set_new(ui, "autoUser", au);
            json_object_set_new(st, "userIdentity", ui);
        }
        json_object_set_new(o, "startTask", st);
    }
    copy_field(o, p->spec, "certificateReferences");
    copy_field(o, p->spec, "applicationLicenses");
    json_object_set_new(o, "taskSlotsPerNode", json_integer(p->slots));
    v = json_object_get(p->spec, "taskSchedulingPolicy");
    if (v) {
        json_object_set(o, "taskSchedulingPolicy", v);
    } else {
        json_t *tsp = json_object();
        json_object_set_new(tsp, "nodeFillType", json_string("spread"));
        json_object_set_new(o, "taskSchedulingPolicy", tsp);
    }
    copy_field(o, p->spec, "userAccounts");
    copy_field(o, p->spec, "metadata");
    copy_field(o, p->spec, "targetNodeCommunicationMode");
    copy_field(o, p->spec, "x-shoal-allocation");
    free(url);
    return o;
}

/* ---- $filter properties of CloudPool ------------------------------------- */

static int pool_prop(void *ctx, const char *prop, struct odata_value *out)
{
    const struct mpool *p = ctx;
    const char *s = NULL;

    memset(out, 0, sizeof(*out));
    if (strcmp(prop, "id") == 0) {
        s = p ? p->id : "";
    } else if (strcmp(prop, "state") == 0) {
        s = p ? model_pool_state_name(p->state) : "";
    } else if (strcmp(prop, "allocationState") == 0) {
        s = p ? model_pool_alloc_name(p->alloc) : "";
    } else if (strcmp(prop, "vmSize") == 0) {
        s = p ? json_string_value(json_object_get(p->spec, "vmSize")) : "";
    } else if (strcmp(prop, "displayName") == 0) {
        s = p ? json_string_value(json_object_get(p->spec, "displayName")) : "";
    } else if (strcmp(prop, "creationTime") == 0 ||
               strcmp(prop, "lastModified") == 0 ||
               strcmp(prop, "stateTransitionTime") == 0) {
        out->type = ODATA_TIME;
        out->i = !p                                  ? 0
                 : strcmp(prop, "creationTime") == 0 ? p->created_ms
                 : strcmp(prop, "lastModified") == 0 ? p->modified_ms
                                                     : p->state_ms;
        return 0;
    } else if (strcmp(prop, "targetDedicatedNodes") == 0 ||
               strcmp(prop, "currentDedicatedNodes") == 0 ||
               strcmp(prop, "taskSlotsPerNode") == 0) {
        out->type = ODATA_INT;
        out->i = !p                                          ? 0
                 : strcmp(prop, "targetDedicatedNodes") == 0 ? p->target
                 : strcmp(prop, "taskSlotsPerNode") == 0
                     ? p->slots
                     : (int64_t)live_nodes(p);
        return 0;
    } else {
        return err_set(NULL, ERR_INVALID, "InvalidQueryParameterValue",
                       "unknown property");
    }
    if (s) {
        out->type = ODATA_STR;
        out->s = s;
    }
    return 0;
}

/* ---- handlers
 * ---------------------------------------------------------------- */

static void pool_add(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    json_t *spec = NULL;
    struct mpool *p;
    const char *id, *alloc;
    char *url;
    uint64_t etag, ticket;
    int64_t now = timefmt_now_ms(), mod;

    if (batch_api_body(req, SPEC_POOL_ADD, false, &spec, &e) < 0 ||
        check_resize_timeout(b->s, spec, &e) < 0) {
        json_decref(spec);
        batch_api_fail(req, &e);
        return;
    }
    id = json_string_value(json_object_get(spec, "id"));
    alloc = json_string_value(json_object_get(spec, "x-shoal-allocation"));
    if (alloc && str_ieq(alloc, "jointoken") &&
        (json_integer_value(json_object_get(spec, "targetDedicatedNodes")) ||
         json_integer_value(json_object_get(spec, "targetLowPriorityNodes")))) {
        /* Its nodes are the agents that join (join.c): it starts empty. */
        err_set(&e, ERR_INVALID, "InvalidPropertyValue",
                "a jointoken pool starts with no nodes: its target counts the "
                "agents that join it");
        err_add_detail(&e, "PropertyName", "targetDedicatedNodes");
        json_decref(spec);
        batch_api_fail(req, &e);
        return;
    }
    pthread_mutex_lock(&m->mu);
    if (model_pool_find(m, b->acct->name, id)) {
        pthread_mutex_unlock(&m->mu);
        err_set(&e, ERR_CONFLICT, "PoolExists",
                "the specified pool '%s' already exists", id);
        json_decref(spec);
        batch_api_fail(req, &e);
        return;
    }
    p = model_pool_new(m, b->acct->name, id, spec, now);
    if (p->target + p->target_low > 0)
        model_pool_set_alloc(p, POOL_RESIZING, now);
    model_save_pool(m, p);
    url = xasprintf("%s/pools/%s", b->base, p->id);
    etag = p->etag;
    mod = p->modified_ms;
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    log_info("pool added pool=%s target=%d slots=%d", id, p->target, p->slots);
    if (batch_api_durable(req, ticket))
        batch_api_created(req, url, etag, mod);
    free(url);
}

static void pool_list(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct batch_list l;
    struct err e = ERR_INIT;
    json_t *items;
    uint64_t next = 0;
    size_t count = 0;

    if (batch_api_list_start(req, 1000, pool_prop, &l) < 0)
        return;
    items = json_array();
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->npools; i++) {
        struct mpool *p = m->pool_list[i];
        bool match = true;
        json_t *o;
        if (strcmp(p->account, b->acct->name) != 0 || p->rowid <= l.after)
            continue;
        if (odata_eval(l.filter, pool_prop, p, &match, &e) < 0)
            break;
        if (!match)
            continue;
        if (count == l.max) {
            next = m->pool_list[i - 1]->rowid;
            break;
        }
        o = pool_api_render(b, p);
        batch_api_select(o, l.select, l.nselect);
        json_array_append_new(items, o);
        count++;
    }
    pthread_mutex_unlock(&m->mu);
    batch_api_list_end(req, &l, "pools", items, next, &e);
}

static void pool_get(struct http_req *req, struct breq *b, struct mpool *p)
{
    struct err e = ERR_INIT;
    json_t *o;
    char **sel;
    size_t nsel;

    if (batch_api_get_begin(req, p->etag, p->modified_ms, &sel, &nsel, &e) <
        0) {
        pthread_mutex_unlock(&b->s->model.mu);
        batch_api_fail(req, &e);
        return;
    }
    o = pool_api_render(b, p);
    batch_api_entity_headers(req, p->etag, p->modified_ms);
    pthread_mutex_unlock(&b->s->model.mu);
    batch_api_get_reply(req, "pools", o, sel, nsel);
}

static void merge_start_meta(struct mpool *p, json_t *body, bool replace)
{
    static const char *const keys[] = { "startTask", "certificateReferences",
                                        "metadata",
                                        "targetNodeCommunicationMode" };

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (v)
            json_object_set(p->spec, keys[i], v);
        else if (replace && i != 3)
            json_object_del(p->spec, keys[i]);
    }
}

static void pool_action(struct http_req *req, struct breq *b, struct mpool *p,
                        const char *action)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    json_t *body = NULL;
    int64_t now = timefmt_now_ms();
    uint64_t ticket, etag;
    int64_t mod;
    char *url;
    int status = 202;
    int kind = -1;

    if (str_ieq(action, "resize"))
        kind = SPEC_POOL_RESIZE;
    else if (str_ieq(action, "updateproperties"))
        kind = SPEC_POOL_PROPS;
    else if (str_ieq(action, "removenodes"))
        kind = SPEC_POOL_REMOVE_NODES;
    else if (str_ieq(action, "enableautoscale") ||
             str_ieq(action, "disableautoscale") ||
             str_ieq(action, "evaluateautoscale")) {
        pthread_mutex_unlock(&m->mu);
        err_set(&e, ERR_NOTIMPL, "NotImplemented",
                "autoscale is not supported by shoal: resize the pool "
                "instead");
        batch_api_fail(req, &e);
        return;
    } else if (!str_ieq(action, "stopresize")) {
        pthread_mutex_unlock(&m->mu);
        err_set(&e, ERR_NOTFOUND, "ResourceNotFound",
                "the specified resource does not exist");
        batch_api_fail(req, &e);
        return;
    }
    /* Validate the body before any state check, outside the lock. */
    pthread_mutex_unlock(&m->mu);
    if (kind >= 0 && (batch_api_body(req, kind, false, &body, &e) < 0 ||
                      check_resize_timeout(b->s, body, &e) < 0)) {
        json_decref(body);
        batch_api_fail(req, &e);
        return;
    }
    pthread_mutex_lock(&m->mu);
    p = model_pool_find(m, b->acct->name, b->seg[1]);
    if (!p) {
        pool_not_found(&e, b->seg[1]);
        goto fail;
    }
    if (p->state == POOL_DELETING) {
        err_set(&e, ERR_CONFLICT, "PoolBeingDeleted",
                "the specified pool '%s' has been marked for deletion", p->id);
        goto fail;
    }
    if (batch_api_conditions(req, false, p->etag, p->modified_ms, &e) < 0)
        goto fail;
    if (kind == SPEC_POOL_RESIZE) {
        json_t *v;
        if (p->alloc != POOL_STEADY) {
            err_set(&e, ERR_CONFLICT, "PoolBeingResized",
                    "the specified pool '%s' is not in the steady allocation "
                    "state",
                    p->id);
            goto fail;
        }
        v = json_object_get(body, "targetDedicatedNodes");
        if (p->join_mode &&
            json_integer_value(v) + json_integer_value(json_object_get(
                                        body, "targetLowPriorityNodes")) >
                p->target + p->target_low) {
            err_set(&e, ERR_CONFLICT, "OperationInvalidForCurrentState",
                    "nodes join pool '%s' with its join token: a resize can "
                    "only shrink it",
                    p->id);
            goto fail;
        }
        /* Which nodes go, and what of their tasks: super.c, nodeops.c. */
        {
            enum nodeops_option opt = NODEOPS_REQUEUE;
            nodeops_option_parse(json_string_value(json_object_get(
                                     body, "nodeDeallocationOption")),
                                 &opt);
            p->dealloc = (int)opt;
        }
        json_object_set_new(p->spec, "targetDedicatedNodes",
                            json_integer(v ? json_integer_value(v) : 0));
        v = json_object_get(body, "targetLowPriorityNodes");
        if (v)
            json_object_set(p->spec, "targetLowPriorityNodes", v);
        resize_begin(p, body);
        model_pool_apply_spec(p);
        model_pool_set_alloc(p, POOL_RESIZING, now);
    } else if (kind == SPEC_POOL_PROPS) {
        merge_start_meta(p, body, true);
        status = 204;
    } else if (kind == SPEC_POOL_REMOVE_NODES) {
        json_t *list = json_object_get(body, "nodeList"), *v;
        size_t i;
        int gone = 0;
        enum nodeops_option opt = NODEOPS_REQUEUE;

        nodeops_option_parse(
            json_string_value(json_object_get(body, "nodeDeallocationOption")),
            &opt);
        if (p->alloc != POOL_STEADY) {
            err_set(&e, ERR_CONFLICT, "PoolBeingResized",
                    "the specified pool '%s' is not in the steady allocation "
                    "state",
                    p->id);
            goto fail;
        }
        json_array_foreach(list, i, v)
        {
            struct mnode *n = model_node_find(m, json_string_value(v));
            if (!n || n->pool != p) {
                err_set(&e, ERR_NOTFOUND, "NodeNotFound",
                        "the node '%s' does not exist in pool '%s'",
                        json_string_value(v), p->id);
                goto fail;
            }
        }
        json_array_foreach(list, i, v)
        {
            struct mnode *n = model_node_find(m, json_string_value(v));
            if (n->removing)
                continue;
            nodeops_remove(m, n, opt, now);
            model_save_node(m, n);
            gone++;
        }
        if (gone) {
            int left = p->target + p->target_low - gone;
            if (left < 0)
                left = 0;
            json_object_set_new(
                p->spec, "targetDedicatedNodes",
                json_integer(left < p->target ? left : p->target));
            json_object_set_new(
                p->spec, "targetLowPriorityNodes",
                json_integer(left < p->target ? 0 : left - p->target));
            resize_begin(p, body);
            model_pool_apply_spec(p);
            model_pool_set_alloc(p, POOL_RESIZING, now);
        }
    } else {
        /* stopresize */
        size_t live = live_nodes(p);
        if (p->alloc == POOL_STEADY) {
            err_set(&e, ERR_CONFLICT, "OperationInvalidForCurrentState",
                    "the pool '%s' is not resizing", p->id);
            goto fail;
        }
        json_object_set_new(p->spec, "targetDedicatedNodes",
                            json_integer((json_int_t)live));
        json_object_set_new(p->spec, "targetLowPriorityNodes", json_integer(0));
        model_pool_apply_spec(p);
        model_pool_set_alloc(p, POOL_STOPPING, now);
        /* What the stopped resize did not do is its error (as the
         * service's ResizeStopped); the previous ones are gone. */
        json_decref(p->resize_errors);
        p->resize_errors = json_pack(
            "[{s:s, s:s}]", "code", "ResizeStopped", "message",
            "Desired number of dedicated nodes could not be allocated due to "
            "a stop resize operation");
    }
    p->modified_ms = now;
    p->etag = model_next_etag(m);
    model_save_pool(m, p);
    etag = p->etag;
    mod = p->modified_ms;
    url = xasprintf("%s/pools/%s", b->base, p->id);
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    json_decref(body);
    if (batch_api_durable(req, ticket))
        batch_api_done(req, status, url, etag, mod);
    free(url);
    return;
fail:
    pthread_mutex_unlock(&m->mu);
    json_decref(body);
    batch_api_fail(req, &e);
}

static void pool_patch(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    json_t *body = NULL;
    struct mpool *p;
    int64_t now = timefmt_now_ms(), mod;
    uint64_t ticket, etag;
    char *url;

    if (batch_api_body(req, SPEC_POOL_PATCH, false, &body, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    pthread_mutex_lock(&m->mu);
    p = model_pool_find(m, b->acct->name, b->seg[1]);
    if (!p) {
        pool_not_found(&e, b->seg[1]);
        goto fail;
    }
    if (p->state == POOL_DELETING) {
        err_set(&e, ERR_CONFLICT, "PoolBeingDeleted",
                "the specified pool '%s' has been marked for deletion", p->id);
        goto fail;
    }
    if (batch_api_conditions(req, false, p->etag, p->modified_ms, &e) < 0)
        goto fail;
    merge_start_meta(p, body, false);
    p->modified_ms = now;
    p->etag = model_next_etag(m);
    model_save_pool(m, p);
    etag = p->etag;
    mod = p->modified_ms;
    url = xasprintf("%s/pools/%s", b->base, p->id);
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    json_decref(body);
    if (batch_api_durable(req, ticket))
        batch_api_done(req, 200, url, etag, mod);
    free(url);
    return;
fail:
    pthread_mutex_unlock(&m->mu);
    json_decref(body);
    batch_api_fail(req, &e);
}

void pool_api_handle(struct http_req *req)
{
    struct breq *b = batch_api_state(req);
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    struct mpool *p;
    const char *meth = req->method;

    if (b->route == R_POOLS) {
        if (strcmp(meth, "POST") == 0)
            pool_add(req, b);
        else if (strcmp(meth, "GET") == 0)
            pool_list(req, b);
        else
            batch_api_bad_method(req);
        return;
    }
    if (b->route == R_POOL && strcmp(meth, "PATCH") == 0) {
        pool_patch(req, b);
        return;
    }
    pthread_mutex_lock(&m->mu);
    p = model_pool_find(m, b->acct->name, b->seg[1]);
    if (!p) {
        pthread_mutex_unlock(&m->mu);
        pool_not_found(&e, b->seg[1]);
        batch_api_fail(req, &e);
        return;
    }
    if (b->route == R_POOL_ACTION) {
        if (strcmp(meth, "POST") != 0) {
            pthread_mutex_unlock(&m->mu);
            batch_api_bad_method(req);
            return;
        }
        pool_action(req, b, p, b->seg[2]);
        return;
    }
    if (strcmp(meth, "GET") == 0 || strcmp(meth, "HEAD") == 0) {
        pool_get(req, b, p);
        return;
    }
    if (strcmp(meth, "DELETE") == 0) {
        int64_t now = timefmt_now_ms();
        uint64_t ticket;
        char *url;
        if (p->state == POOL_DELETING) {
            pthread_mutex_unlock(&m->mu);
            err_set(&e, ERR_CONFLICT, "PoolBeingDeleted",
                    "the specified pool '%s' has been marked for deletion",
                    b->seg[1]);
            batch_api_fail(req, &e);
            return;
        }
        if (batch_api_conditions(req, false, p->etag, p->modified_ms, &e) < 0) {
            pthread_mutex_unlock(&m->mu);
            batch_api_fail(req, &e);
            return;
        }
        model_pool_set_state(m, p, POOL_DELETING, now);
        p->etag = model_next_etag(m);
        for (size_t i = 0; i < p->nnodes; i++) {
            struct mnode *n = p->nodes[i];
            if (n->removing)
                continue;
            nodeops_remove(m, n, NODEOPS_REQUEUE, now);
            model_save_node(m, n);
        }
        model_save_pool(m, p);
        url = xasprintf("%s/pools/%s", b->base, p->id);
        ticket = store_last_ticket(m->store);
        pthread_mutex_unlock(&m->mu);
        log_info("pool deleting pool=%s", b->seg[1]);
        if (batch_api_durable(req, ticket))
            batch_api_done(req, 202, url, 0, 0);
        free(url);
        return;
    }
    pthread_mutex_unlock(&m->mu);
    batch_api_bad_method(req);
}
