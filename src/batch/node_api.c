/*
 * node_api.c: the Compute Node operations of the Batch REST API.
 *
 *   GET  /pools/{p}/nodes                          ComputeNode_List
 *   GET  /pools/{p}/nodes/{n}                      ComputeNode_Get
 *   POST /pools/{p}/nodes/{n}/reboot               202 {nodeRebootOption}
 *   POST /pools/{p}/nodes/{n}/disablescheduling    200
 *                                      {nodeDisableSchedulingOption}
 *   POST /pools/{p}/nodes/{n}/enablescheduling     200
 *   POST /pools/{p}/nodes/{n}/uploadbatchservicelogs  200
 *        {containerUrl, startTime, endTime} -> {virtualDirectoryName,
 *        numberOfFilesUploaded}: shoald uploads a local node's logs
 *        (nodelogs.c); a remote node's agent uploads its own, asked
 *        through the node protocol (fileproxy.c), and the reply waits
 *        for its answer
 *   GET  /pools/{p}/nodes/{n}/remoteloginsettings, rdp; POST reimage,
 *        users ...                                  501 NotImplemented
 *   GET  /nodecounts                               Account_ListPoolNodeCounts
 *
 * Node state comes from the agent protocol (agent_api.c), the supervisor
 * (super.c) and the node operations (nodeops.c, which also decide what
 * happens to the running tasks); this file parses the requests, calls
 * nodeops under the model lock, and renders ComputeNode JSON (startTaskInfo,
 * runningTasksCount, runningTaskSlotsCount, ipAddress: the agent's address
 * for a remote node, 127.0.0.1 for a local one).
 *
 * Threads: http workers. Ownership: rendered JSON goes to the reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "batch/batchint.h"
#include "batch/fileproxy.h"
#include "batch/nodelogs.h"
#include "batch/nodeops.h"
#include "batch/odata.h"
#include "batch/sched.h"
#include "batch/spec.h"
#include "batch/store.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

json_t *node_api_render(struct breq *b, const struct mnode *n)
{
    json_t *o = json_object(), *v, *recent;
    char *url = xasprintf("%s/pools/%s/nodes/%s", b->base, n->pool->id, n->id);
    char *aff = xasprintf("TVM:%s", n->id);
    int running = 0, slots = 0;

    recent = json_array();
    for (size_t i = 0; i < n->nruns; i++) {
        const struct mrun *r = n->runs[i];
        json_t *ti, *ei;
        char *turl;
        if (!r->task)
            continue;
        running++;
        slots += r->slots;
        ti = json_object();
        turl = xasprintf("%s/jobs/%s/tasks/%s", b->base, r->task->job->id,
                         r->task->id);
        json_object_set_new(ti, "taskUrl", json_string(turl));
        json_object_set_new(ti, "jobId", json_string(r->task->job->id));
        json_object_set_new(ti, "taskId", json_string(r->task->id));
        json_object_set_new(ti, "taskState", json_string("running"));
        ei = json_object();
        if (r->task->start_ms)
            batch_api_time(ei, "startTime", r->task->start_ms);
        json_object_set_new(ei, "retryCount",
                            json_integer(r->task->retry_count));
        json_object_set_new(ei, "requeueCount",
                            json_integer(r->task->requeue_count));
        json_object_set_new(ti, "executionInfo", ei);
        json_array_append_new(recent, ti);
        free(turl);
    }
    json_object_set_new(o, "id", json_string(n->id));
    json_object_set_new(o, "url", json_string(url));
    json_object_set_new(o, "state",
                        json_string(model_node_state_name(n->state)));
    json_object_set_new(o, "schedulingState",
                        json_string(n->sched_enabled ? "enabled" : "disabled"));
    batch_api_time(o, "stateTransitionTime", n->state_ms);
    if (n->boot_ms)
        batch_api_time(o, "lastBootTime", n->boot_ms);
    batch_api_time(o, "allocationTime", n->alloc_ms);
    json_object_set_new(
        o, "ipAddress",
        json_string(n->remote && n->ip[0] ? n->ip : "127.0.0.1"));
    json_object_set_new(o, "affinityId", json_string(aff));
    v = json_object_get(n->pool->spec, "vmSize");
    if (v)
        json_object_set(o, "vmSize", v);
    json_object_set_new(o, "totalTasksRun", json_integer(n->total_run));
    json_object_set_new(o, "runningTasksCount", json_integer(running));
    json_object_set_new(o, "runningTaskSlotsCount", json_integer(slots));
    json_object_set_new(o, "totalTasksSucceeded",
                        json_integer(n->total_succeeded));
    if (json_array_size(recent))
        json_object_set_new(o, "recentTasks", recent);
    else
        json_decref(recent);
    v = json_object_get(n->pool->spec, "startTask");
    if (v)
        json_object_set(o, "startTask", v);
    if (n->st_state != START_NONE) {
        json_t *si = json_object();
        json_object_set_new(si, "state",
                            json_string(n->st_state == START_RUNNING
                                            ? "running"
                                            : "completed"));
        batch_api_time(si, "startTime", n->st_start_ms);
        if (n->st_state == START_COMPLETED && n->st_end_ms)
            batch_api_time(si, "endTime", n->st_end_ms);
        if (n->st_state == START_COMPLETED && n->st_has_exit)
            json_object_set_new(si, "exitCode", json_integer(n->st_exit));
        if (n->st_state == START_COMPLETED && n->st_fail) {
            json_t *fo = json_object();
            json_object_set_new(fo, "category",
                                json_string(n->st_fail->category));
            json_object_set_new(fo, "code", json_string(n->st_fail->code));
            json_object_set_new(fo, "message",
                                json_string(n->st_fail->message));
            json_object_set_new(si, "failureInfo", fo);
        }
        json_object_set_new(si, "retryCount", json_integer(n->st_retry));
        if (n->st_state == START_COMPLETED && model_result_name(n->st_result))
            json_object_set_new(si, "result",
                                json_string(model_result_name(n->st_result)));
        json_object_set_new(o, "startTaskInfo", si);
    }
    json_object_set_new(o, "isDedicated", json_true());
    {
        json_t *ai = json_object();
        json_object_set_new(ai, "version",
                            json_string(SHOAL_NODE_AGENT_VERSION));
        batch_api_time(ai, "lastUpdateTime",
                       n->boot_ms ? n->boot_ms : n->alloc_ms);
        json_object_set_new(o, "nodeAgentInfo", ai);
    }
    free(url);
    free(aff);
    return o;
}

static int node_prop(void *ctx, const char *prop, struct odata_value *out)
{
    const struct mnode *n = ctx;
    const char *s = NULL;

    memset(out, 0, sizeof(*out));
    if (strcmp(prop, "id") == 0) {
        s = n ? n->id : "";
    } else if (strcmp(prop, "state") == 0) {
        s = n ? model_node_state_name(n->state) : "";
    } else if (strcmp(prop, "schedulingState") == 0) {
        s = n && !n->sched_enabled ? "disabled" : "enabled";
    } else if (strcmp(prop, "totalTasksRun") == 0 ||
               strcmp(prop, "totalTasksSucceeded") == 0) {
        out->type = ODATA_INT;
        out->i = !n                                   ? 0
                 : strcmp(prop, "totalTasksRun") == 0 ? n->total_run
                                                      : n->total_succeeded;
        return 0;
    } else {
        return err_set(NULL, ERR_INVALID, "InvalidQueryParameterValue",
                       "unknown property");
    }
    out->type = ODATA_STR;
    out->s = s;
    return 0;
}

static void node_counts(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    json_t *items = json_array();
    static const struct {
        const char *key;
        enum node_state st;
    } keys[] = {
        { "creating", NODE_CREATING },
        { "idle", NODE_IDLE },
        { "offline", NODE_OFFLINE },
        { "running", NODE_RUNNING },
        { "starting", NODE_STARTING },
        { "startTaskFailed", NODE_START_FAILED },
        { "leavingPool", NODE_LEAVING },
        { "unknown", NODE_UNKNOWN },
        { "unusable", NODE_UNUSABLE },
        { "waitingForStartTask", NODE_WAITING_START },
        { "rebooting", NODE_REBOOTING },
    };

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->npools; i++) {
        struct mpool *p = m->pool_list[i];
        json_t *o, *d, *lp;
        if (strcmp(p->account, b->acct->name) != 0)
            continue;
        o = json_object();
        d = json_object();
        lp = json_object();
        json_object_set_new(o, "poolId", json_string(p->id));
        for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
            int c = 0;
            for (size_t x = 0; x < p->nnodes; x++)
                c += p->nodes[x]->state == keys[k].st;
            json_object_set_new(d, keys[k].key, json_integer(c));
            json_object_set_new(lp, keys[k].key, json_integer(0));
        }
        json_object_set_new(d, "preempted", json_integer(0));
        json_object_set_new(d, "reimaging", json_integer(0));
        json_object_set_new(d, "total", json_integer((json_int_t)p->nnodes));
        json_object_set_new(lp, "preempted", json_integer(0));
        json_object_set_new(lp, "rebooting", json_integer(0));
        json_object_set_new(lp, "reimaging", json_integer(0));
        json_object_set_new(lp, "total", json_integer(0));
        json_object_set_new(o, "dedicated", d);
        json_object_set_new(o, "lowPriority", lp);
        json_array_append_new(items, o);
    }
    pthread_mutex_unlock(&m->mu);
    batch_api_list_reply(req, "poolnodecounts", items, 0);
}

/* ---- node operations (nodeops.c) ---------------------------------------- */

static int node_find(struct breq *b, struct mpool **p_out, struct mnode **n_out,
                     struct err *e)
{
    struct model *m = &b->s->model;
    struct mpool *p = model_pool_find(m, b->acct->name, b->seg[1]);
    struct mnode *n = p ? model_node_find(m, b->seg[3]) : NULL;

    if (!p)
        return err_set(e, ERR_NOTFOUND, "PoolNotFound",
                       "the specified pool '%s' does not exist", b->seg[1]);
    if (!n || n->pool != p)
        return err_set(e, ERR_NOTFOUND, "NodeNotFound",
                       "the specified node '%s' does not exist", b->seg[3]);
    *p_out = p;
    *n_out = n;
    return 0;
}

static void logs_reply(struct http_req *req, struct breq *b, const char *vdir,
                       uint64_t nfiles)
{
    json_t *o = json_object();
    char *meta;

    meta = xasprintf("%s/$metadata#Microsoft.Azure.Batch.Protocol.Entities."
                     "UploadBatchServiceLogsResult",
                     b->base);
    json_object_set_new(o, "odata.metadata", json_string(meta));
    free(meta);
    json_object_set_new(o, "virtualDirectoryName", json_string(vdir));
    json_object_set_new(o, "numberOfFilesUploaded",
                        json_integer((json_int_t)nfiles));
    batch_api_json(req, 200, o);
}

/* A remote node's agent answered (or the wait ended). */
static void upload_logs_finish(struct http_req *req, struct breq *b)
{
    const struct fileproxy_answer *a = NULL;
    struct err e = ERR_INIT;
    int rc = fileproxy_poll(b->s, req, b->fop, &a, NULL, &e);

    if (rc > 0)
        return; /* suspended again */
    if (rc < 0) {
        batch_api_fail(req, &e);
    } else if (a->fail == FILEPROXY_FAIL_UPLOAD) {
        nodelogs_bad_url(a->message ? a->message : "the upload failed", &e);
        batch_api_fail(req, &e);
    } else if (a->fail) {
        err_set(&e, ERR_IO, "InternalError", "%s",
                a->message ? a->message : "the node failed");
        batch_api_fail(req, &e);
    } else {
        logs_reply(req, b, fileproxy_op_tag(b->fop), a->files);
    }
    fileproxy_op_free(b->s, b->fop);
    b->fop = NULL;
}

/*
 * uploadbatchservicelogs: the node's files are picked under the lock, then
 * uploaded without it (nodelogs.c); the answer comes once they are up. A
 * remote node's agent is asked to do the same (fileproxy.c): the request
 * waits, suspended, and ends in upload_logs_finish.
 */
static void upload_logs(struct http_req *req, struct breq *b, json_t *body)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    struct mpool *p;
    struct mnode *n;
    struct nodelogs_file *files = NULL;
    size_t nfiles = 0;
    char *log = NULL, *root = NULL, *vdir = NULL, *nid = NULL;
    char uuid[37];
    int64_t start_ms = 0;
    const char *url = json_string_value(json_object_get(body, "containerUrl"));

    if (b->fop) {
        upload_logs_finish(req, b);
        return;
    }
    timefmt_parse_iso8601(json_string_value(json_object_get(body, "startTime")),
                          &start_ms);
    pthread_mutex_lock(&m->mu);
    if (node_find(b, &p, &n, &e) < 0) {
        pthread_mutex_unlock(&m->mu);
        goto fail;
    }
    if (n->remote) {
        struct fileproxy_ask ask;
        crypto_uuid(uuid);
        vdir = xasprintf("%s/%s/%s", p->id, n->id, uuid);
        nid = xstrdup(n->id);
        pthread_mutex_unlock(&m->mu);
        if (nodelogs_check_url(url, &e) < 0)
            goto fail;
        memset(&ask, 0, sizeof(ask));
        ask.kind = FILEPROXY_LOGS;
        ask.node = nid;
        ask.url = url;
        ask.vdir = vdir;
        ask.start_ms = start_ms;
        ask.tag = vdir;
        if (fileproxy_submit(b->s, req, &ask, &b->fop, &e) < 0)
            goto fail;
        goto out;
    }
    log = xasprintf("%s/%s/%s.log", b->s->nodes_dir, p->id, n->id);
    root = xasprintf("%s/%s/%s", b->s->nodes_dir, p->id, n->id);
    crypto_uuid(uuid);
    vdir = xasprintf("%s/%s/%s", p->id, n->id, uuid);
    pthread_mutex_unlock(&m->mu);
    nodelogs_collect(log, root, start_ms, &files, &nfiles);
    if (nodelogs_upload(files, nfiles, url, vdir, &e) < 0)
        goto fail;
    logs_reply(req, b, vdir, nfiles);
    goto out;
fail:
    batch_api_fail(req, &e);
out:
    nodelogs_free(files, nfiles);
    free(log);
    free(root);
    free(vdir);
    free(nid);
}

/*
 * POST reboot (202), disablescheduling and enablescheduling (200),
 * uploadbatchservicelogs (200); GET remoteloginsettings and rdp, POST
 * reimage and users: 501 NotImplemented (no remote login on shoal nodes,
 * no reimage of a process).
 */
static void node_action(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    const char *action = b->seg[4];
    struct err e = ERR_INIT;
    json_t *body = NULL;
    struct mpool *p;
    struct mnode *n;
    enum nodeops_option opt = NODEOPS_REQUEUE;
    int kind = -1, status = 200, rc;
    int64_t now = timefmt_now_ms();
    uint64_t ticket;
    char *url;
    bool get = strcmp(req->method, "GET") == 0;

    if (str_ieq(action, "remoteloginsettings") || str_ieq(action, "rdp")) {
        if (!get) {
            batch_api_bad_method(req);
            return;
        }
        pthread_mutex_lock(&m->mu);
        rc = node_find(b, &p, &n, &e);
        pthread_mutex_unlock(&m->mu);
        if (rc == 0)
            err_set(&e, ERR_NOTIMPL, "NotImplemented",
                    "remote login is not supported by shoal: its nodes run "
                    "no login service for pool users");
        batch_api_fail(req, &e);
        return;
    }
    if (str_ieq(action, "reboot"))
        kind = SPEC_NODE_REBOOT;
    else if (str_ieq(action, "disablescheduling"))
        kind = SPEC_NODE_DISABLE_SCHEDULING;
    else if (str_ieq(action, "uploadbatchservicelogs"))
        kind = SPEC_NODE_UPLOAD_LOGS;
    else if (!str_ieq(action, "enablescheduling")) {
        err_set(&e, ERR_NOTIMPL, "NotImplemented",
                "node operation '%s' is not supported by shoal", action);
        batch_api_fail(req, &e);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        batch_api_bad_method(req);
        return;
    }
    if (kind >= 0 && batch_api_body(req, kind, kind != SPEC_NODE_UPLOAD_LOGS,
                                    &body, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    if (kind == SPEC_NODE_UPLOAD_LOGS) {
        upload_logs(req, b, body);
        json_decref(body);
        return;
    }
    if (kind == SPEC_NODE_REBOOT)
        nodeops_option_parse(
            json_string_value(json_object_get(body, "nodeRebootOption")), &opt);
    else if (kind == SPEC_NODE_DISABLE_SCHEDULING)
        nodeops_option_parse(json_string_value(json_object_get(
                                 body, "nodeDisableSchedulingOption")),
                             &opt);
    json_decref(body);
    pthread_mutex_lock(&m->mu);
    rc = node_find(b, &p, &n, &e);
    if (rc == 0 && kind == SPEC_NODE_REBOOT) {
        rc = nodeops_reboot(m, n, opt, now, &e);
        status = 202;
    } else if (rc == 0 && kind == SPEC_NODE_DISABLE_SCHEDULING) {
        rc = nodeops_disable_scheduling(m, n, opt, now, &e);
    } else if (rc == 0) {
        rc = nodeops_enable_scheduling(m, n, now, &e);
    }
    if (rc < 0) {
        pthread_mutex_unlock(&m->mu);
        batch_api_fail(req, &e);
        return;
    }
    model_save_node(m, n);
    url = xasprintf("%s/pools/%s/nodes/%s", b->base, p->id, n->id);
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    if (batch_api_durable(req, ticket))
        batch_api_done(req, status, url, 0, 0);
    free(url);
}

void node_api_handle(struct http_req *req)
{
    struct breq *b = batch_api_state(req);
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    struct mpool *p;
    struct mnode *n;

    if (b->route == R_NODECOUNTS) {
        if (strcmp(req->method, "GET") != 0)
            batch_api_bad_method(req);
        else
            node_counts(req, b);
        return;
    }
    if (b->route == R_NODE_ACTION) {
        node_action(req, b);
        return;
    }
    pthread_mutex_lock(&m->mu);
    p = model_pool_find(m, b->acct->name, b->seg[1]);
    if (!p) {
        pthread_mutex_unlock(&m->mu);
        err_set(&e, ERR_NOTFOUND, "PoolNotFound",
                "the specified pool '%s' does not exist", b->seg[1]);
        batch_api_fail(req, &e);
        return;
    }
    if (b->route == R_NODES) {
        struct batch_list l;
        json_t *items;
        uint64_t next = 0;
        size_t count = 0;
        pthread_mutex_unlock(&m->mu);
        if (strcmp(req->method, "GET") != 0) {
            batch_api_bad_method(req);
            return;
        }
        if (batch_api_list_start(req, 1000, node_prop, &l) < 0)
            return;
        items = json_array();
        pthread_mutex_lock(&m->mu);
        p = model_pool_find(m, b->acct->name, b->seg[1]);
        for (size_t i = 0; p && i < p->nnodes; i++) {
            bool match = true;
            json_t *o;
            n = p->nodes[i];
            if (n->rowid <= l.after)
                continue;
            if (odata_eval(l.filter, node_prop, n, &match, &e) < 0)
                break;
            if (!match)
                continue;
            if (count == l.max) {
                next = p->nodes[i - 1]->rowid;
                break;
            }
            o = node_api_render(b, n);
            batch_api_select(o, l.select, l.nselect);
            json_array_append_new(items, o);
            count++;
        }
        pthread_mutex_unlock(&m->mu);
        batch_api_list_end(req, &l, "nodes", items, next, &e);
        return;
    }
    n = model_node_find(m, b->seg[3]);
    if (!n || n->pool != p) {
        pthread_mutex_unlock(&m->mu);
        err_set(&e, ERR_NOTFOUND, "NodeNotFound",
                "the specified node '%s' does not exist", b->seg[3]);
        batch_api_fail(req, &e);
        return;
    }
    if (b->route == R_NODE && strcmp(req->method, "GET") == 0) {
        json_t *o = node_api_render(b, n);
        char **sel = NULL;
        size_t nsel = 0;
        const char *s = http_param(req, "$select");
        pthread_mutex_unlock(&m->mu);
        if (s && odata_parse_select(s, &sel, &nsel, &e) < 0) {
            json_decref(o);
            batch_api_fail(req, &e);
            return;
        }
        batch_api_get_reply(req, "nodes", o, sel, nsel);
        return;
    }
    pthread_mutex_unlock(&m->mu);
    batch_api_bad_method(req);
}
