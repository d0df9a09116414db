/*
 * agent_api.c: the server side of the node agent protocol, version 1
 * (docs/node-protocol.md is the reference; this note is the summary).
 *
 *   POST /_node/v1/sync   one exchange: the agent's news in, work out
 *   POST /_node/v1/kick   wake this node's parked sync (empty body, 204)
 *   POST /_node/v1/join   a remote agent joins a pool with its join token
 *                         and gets a node id and token (join.c)
 *   POST /_node/v1/fileop/{id}
 *                         the agent's answer to a file request (204)
 *
 * All but join carry "Authorization: Bearer TOKEN" and "X-Shoal-Node:
 * NODE". The
 * token's SHA-256 must equal the node's token_hash (constant-time compare);
 * else 401 and the agent exits. An unknown node is 404 (it was removed).
 *
 * A sync request says: who (boot: a uuid per agent process), what it has
 * seen (ack: the seq of the last response it processed), what it runs
 * (running: [[rowid, attempt]...]), what finished (reports: outcomes, kept
 * and resent by the agent until acknowledged), its start task's status,
 * whether it needs its configuration, and whether the server may hold the
 * request (wait). The response carries a new seq, acks (reports now
 * durable), cancels, assignments (as many as the node has free slots, each
 * with everything needed to run: command line, environment, resource and
 * output files, wall-clock limit, identity), job directories to purge, and
 * the configuration when asked.
 *
 * Delivery and loss (the invariants that make restarts safe):
 *   - The agent issues syncs one at a time; its ack therefore tells which
 *     responses reached it. A run assigned in a response the agent never
 *     acknowledged (seq > ack) was never started: back to the queue, no
 *     count. A delivered run the agent lists neither as running nor in a
 *     report is lost: requeued with requeueCount++.
 *   - A different boot id means a new agent process (or a new shoald, which
 *     starts with empty boot ids): every run not in its running list or its
 *     reports is lost. After a shoald crash, runs rebuilt from SQLite wait
 *     for this first sync (or the heartbeat timeout).
 *   - Reports are idempotent by (rowid, attempt): the first applies the
 *     outcome, later copies are only acknowledged. Acks are sent after the
 *     journal commit, so an acknowledged completion survives a crash, and an
 *     unacknowledged one is resent: never lost, never applied twice.
 *   - Assignments are sent after their "running" state is durable.
 *
 * Job preparation and release (prep.c): a sync's "preps" (the agent's
 * snapshots of them) are applied before its reports, so a preparation that
 * failed blocks the node before the tasks it held back ("prepFailed"
 * reports) are requeued, uncounted; their acks go out as "prepAcks". An
 * assignment carries the job's preparation while it has not succeeded on
 * the node, and "userKey"/"groupKey" (ident.c); a response carries the
 * release tasks pending for the node, and such a node does not park.
 *
 * Node operations (nodeops.c): a response carries "reboot" once a
 * rebooting node runs no task (the agent then re-executes itself, and its
 * new boot id ends the reboot), and "stop" once a leaving node runs none.
 *
 * Long-poll: with nothing to say and no work to give, a sync with wait
 * parks (http_suspend) on node->parked until work arrives for the pool
 * (sched's waker), a cancel or purge is queued, a kick comes, a file
 * request is queued, a newer sync from the same node supersedes it, or
 * node.poll_ms passes (the ticker). Every sync and kick is a heartbeat.
 *
 * File requests (fileproxy.c): the file API and uploadbatchservicelogs
 * for a remote node queue a request for it; a response carries the
 * unsent ones ("fileOps") and marks them sent with its seq. The next sync
 * sends again what never arrived (ack < seq, or a new boot id). The agent
 * answers each with POST /_node/v1/fileop/{id}: the token is checked in
 * begin(), before any body byte is read, the id must be a request sent to
 * that very node (else 404 FileOpNotFound, body not read), and the body
 * (a JSON header line, then the bytes of a read) streams through
 * fileproxy_upload_feed into a temp file; end() hands the answer to the
 * waiting REST request and replies 204.
 *
 * Threads: http workers, and the waker under the model lock. The parked
 * request pointer is only touched under the model lock, and done() clears
 * it, so a wake never touches a finished request. Ownership: struct
 * areq (req->state) is freed in done().
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/batchint.h"
#include "batch/fileproxy.h"
#include "batch/ident.h"
#include "batch/join.h"
#include "batch/nodeops.h"
#include "batch/prep.h"
#include "batch/sched.h"
#include "batch/store.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define AREQ_MAGIC          0x61726571
#define AGENT_BODY_MAX      (8u << 20)
#define AGENT_PROTO_VERSION 1
#define FILEOP_PREFIX       "/_node/v1/fileop/"

struct areq {
    int magic;
    struct batch_service *s;
    char node[80];
    bool kick;
    bool join;       /* POST /_node/v1/join (join.c) */
    bool fileop;     /* POST /_node/v1/fileop/{id} (fileproxy.c) */
    bool parked;     /* suspended on node->parked */
    bool woken;      /* resumed by a wake */
    bool superseded; /* a newer sync came: answer empty */
    bool need_config;
    json_t *acks; /* built on the first pass */
    json_t *cancel;
    json_t *prep_acks; /* [job, kind, n] of the "preps" applied (prep.c) */
    /* fileop: the answer coming in */
    struct fileproxy_upload *up;
};

static void reply_err(struct http_req *req, int code, const char *svc,
                      const char *msg)
{
    struct err e = ERR_INIT;

    err_set(&e, code, svc, "%s", msg);
    http_reply_batch_error(req, &e);
}

/* auth_node's refusal: code ERR_NOTFOUND (no such node) or anything else. */
static void reply_auth_failed(struct http_req *req, int code)
{
    if (code == ERR_NOTFOUND)
        reply_err(req, ERR_NOTFOUND, "NodeNotFound",
                  "this node is not part of any pool");
    else
        reply_err(req, ERR_AUTH, "AuthenticationFailed", "bad node token");
}

static void reply_json(struct http_req *req, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    struct buf b = BUF_INIT;

    json_decref(o);
    if (!s)
        BUG("out of memory rendering a sync reply");
    buf_adds(&b, s);
    free(s);
    http_reply(req, 200, "application/json", &b);
    buf_release(&b);
}

/* Check the bearer token (model lock held). */
static struct mnode *auth_node(struct batch_service *s, struct http_req *req,
                               const char *node_id, int *code)
{
    const char *a = http_header(req, "Authorization");
    struct mnode *n;
    unsigned char h[CRYPTO_SHA256_LEN];
    struct buf hex = BUF_INIT;
    bool ok;

    n = model_node_find(&s->model, node_id);
    if (!n) {
        *code = ERR_NOTFOUND;
        return NULL;
    }
    if (!a || !str_iprefix(a, "Bearer ") || !n->token_hash[0]) {
        *code = ERR_AUTH;
        return NULL;
    }
    a += 7;
    crypto_sha256(a, strlen(a), h);
    codec_hex_encode(&hex, h, sizeof(h), false);
    ok = hex.len == strlen(n->token_hash) &&
         crypto_equal(hex.data, n->token_hash, hex.len);
    buf_release(&hex);
    if (!ok) {
        *code = ERR_AUTH;
        return NULL;
    }
    return n;
}

static int fileop_sink(struct http_req *req, const char *data, size_t len)
{
    struct areq *a = req->state;

    return fileproxy_upload_feed(a->s->proxy, a->up, data, len, &req->err);
}

/*
 * POST /_node/v1/fileop/{id}: check the token and the id before the body
 * is read, so a stale or foreign answer costs no transfer.
 */
static void fileop_begin(struct http_req *req, struct areq *a)
{
    struct model *m = &a->s->model;
    struct err e = ERR_INIT;
    uint64_t id;
    int code = 0;

    if (fileproxy_parse_id(req->path + strlen(FILEOP_PREFIX), &id) < 0) {
        reply_err(req, ERR_NOTFOUND, "ResourceNotFound",
                  "unknown node protocol path");
        return;
    }
    pthread_mutex_lock(&m->mu);
    if (!auth_node(a->s, req, a->node, &code)) {
        pthread_mutex_unlock(&m->mu);
        reply_auth_failed(req, code);
        return;
    }
    pthread_mutex_unlock(&m->mu);
    if (fileproxy_upload_begin(a->s->proxy, a->node, id, &a->up, &e) < 0) {
        http_reply_batch_error(req, &e);
        return;
    }
    a->fileop = true;
    req->sink = fileop_sink;
}

static void fileop_end(struct http_req *req, struct areq *a)
{
    struct err e = ERR_INIT;

    if (fileproxy_upload_end(a->s->proxy, a->up, &e) < 0) {
        http_reply_batch_error(req, &e);
        return;
    }
    http_reply(req, 204, NULL, NULL);
}

void agent_api_begin(struct http_req *req)
{
    struct areq *a = xcalloc(1, sizeof(*a));
    const char *node = http_header(req, "X-Shoal-Node");

    a->magic = AREQ_MAGIC;
    a->s = req->svc;
    req->state = a;
    if (strcmp(req->method, "POST") != 0) {
        reply_err(req, ERR_METHOD, "UnsupportedHttpVerb",
                  "the node protocol uses POST");
        return;
    }
    if (strcmp(req->path, "/_node/v1/join") == 0) {
        /* No node yet: the join token says which pool (join.c). */
        a->join = true;
        req->body_max = JOIN_BODY_MAX;
        return;
    }
    if (!node || strlen(node) >= sizeof(a->node)) {
        reply_err(req, ERR_INVALID, "MissingRequiredHeader",
                  "X-Shoal-Node is required");
        return;
    }
    snprintf(a->node, sizeof(a->node), "%s", node);
    if (str_prefix(req->path, FILEOP_PREFIX)) {
        fileop_begin(req, a);
        return;
    }
    if (strcmp(req->path, "/_node/v1/kick") == 0) {
        a->kick = true;
    } else if (strcmp(req->path, "/_node/v1/sync") != 0) {
        reply_err(req, ERR_NOTFOUND, "ResourceNotFound",
                  "unknown node protocol path");
        return;
    }
    req->body_max = AGENT_BODY_MAX;
}

/* ---- helpers ---------------------------------------------------------------
 */

static bool pair_in(json_t *list, uint64_t rowid, uint32_t attempt)
{
    size_t i;
    json_t *v;

    json_array_foreach(list, i, v)
    {
        if ((uint64_t)json_integer_value(json_array_get(v, 0)) == rowid &&
            (uint32_t)json_integer_value(json_array_get(v, 1)) == attempt)
            return true;
    }
    return false;
}

static bool report_in(json_t *reports, uint64_t rowid, uint32_t attempt)
{
    size_t i;
    json_t *v;

    json_array_foreach(reports, i, v)
    {
        if ((uint64_t)json_integer_value(json_object_get(v, "r")) == rowid &&
            (uint32_t)json_integer_value(json_object_get(v, "a")) == attempt)
            return true;
    }
    return false;
}

static json_t *pair(uint64_t rowid, uint32_t attempt)
{
    json_t *p = json_array();

    json_array_append_new(p, json_integer((json_int_t)rowid));
    json_array_append_new(p, json_integer((json_int_t)attempt));
    return p;
}

static json_t *start_task_spec(const struct mpool *p)
{
    json_t *st = json_object_get(p->spec, "startTask");

    return st ? json_deep_copy(st) : json_null();
}

/* How long a sync may stay parked: the poll period, and never long
 * enough to miss a heartbeat. */
static int64_t park_ms(const struct batch_service *s)
{
    int64_t ms = s->cfg->node_poll_ms;

    if (ms > s->cfg->node_heartbeat_timeout_ms / 3)
        ms = s->cfg->node_heartbeat_timeout_ms / 3;
    return ms > 10 ? ms : 10;
}

/*
 * The node's state from its agent's start task and its runs. The start
 * task is the one the agent got (and reports), not the pool's current one:
 * a start task added to the pool applies to nodes that join later.
 */
static void node_state_update(struct model *m, struct mnode *n,
                              bool need_config, int64_t now)
{
    enum node_state s;

    if (n->removing || n->reboot_pending)
        return;
    if (need_config)
        s = NODE_STARTING;
    else if (n->st_state == START_RUNNING && n->st_wait)
        s = NODE_WAITING_START;
    else if (n->st_state == START_COMPLETED && n->st_result == RESULT_FAILURE &&
             n->st_wait)
        s = NODE_START_FAILED;
    else if (nodeops_live_runs(n) > 0)
        s = NODE_RUNNING; /* as sched_node_refresh: cancelled runs are not */
    else
        s = n->sched_enabled ? NODE_IDLE : NODE_OFFLINE;
    model_node_set_state(m, n, s, now);
}

static void apply_start_report(struct mnode *n, json_t *st)
{
    const char *state = json_string_value(json_object_get(st, "state"));
    json_t *f = json_object_get(st, "fail");

    if (!state)
        return;
    if (strcmp(state, "running") == 0)
        n->st_state = START_RUNNING;
    else if (strcmp(state, "completed") == 0)
        n->st_state = START_COMPLETED;
    else
        n->st_state = START_NONE;
    n->st_start_ms = json_integer_value(json_object_get(st, "start"));
    n->st_end_ms = json_integer_value(json_object_get(st, "end"));
    n->st_retry = (int)json_integer_value(json_object_get(st, "retry"));
    n->st_wait = json_is_true(json_object_get(st, "waitForSuccess"));
    n->st_has_exit = json_is_integer(json_object_get(st, "exit"));
    n->st_exit = (int)json_integer_value(json_object_get(st, "exit"));
    model_fail_free(n->st_fail);
    n->st_fail = NULL;
    if (json_is_object(f))
        n->st_fail =
            model_fail_new(json_string_value(json_object_get(f, "category")),
                           json_string_value(json_object_get(f, "code")),
                           json_string_value(json_object_get(f, "message")));
    n->st_result = RESULT_NONE;
    if (n->st_state == START_COMPLETED)
        n->st_result = n->st_fail || !n->st_has_exit || n->st_exit != 0
                           ? RESULT_FAILURE
                           : RESULT_SUCCESS;
}

static json_t *assignment(const struct mrun *r)
{
    const struct mtask *t = r->task;
    const struct mjob *j = t->job;
    json_t *spec = model_task_spec_json(t);
    json_t *o = json_object(), *env = json_array(), *v, *e;
    size_t i;
    int64_t wall = model_task_max_wall(t);

    json_object_set_new(o, "r", json_integer((json_int_t)r->rowid));
    json_object_set_new(o, "a", json_integer((json_int_t)r->attempt));
    json_object_set_new(o, "job", json_string(j->id));
    json_object_set_new(o, "task", json_string(t->id));
    json_object_set(o, "cmd", json_object_get(spec, "commandLine"));
    v = json_object_get(j->spec, "commonEnvironmentSettings");
    json_array_foreach(v, i, e) json_array_append(env, e);
    v = json_object_get(spec, "environmentSettings");
    json_array_foreach(v, i, e) json_array_append(env, e);
    json_object_set_new(o, "env", env);
    v = json_object_get(spec, "resourceFiles");
    if (v)
        json_object_set(o, "res", v);
    v = json_object_get(spec, "outputFiles");
    if (v)
        json_object_set(o, "out", v);
    json_object_set_new(o, "slots", json_integer(t->slots));
    json_object_set_new(o, "wallMs",
                        json_integer(wall == TIMEFMT_DURATION_INF ? -1 : wall));
    /* admin, and the user and group it runs as (ident.c) */
    ident_add(o, r->node->pool, j, t->rowid,
              json_object_get(spec, "userIdentity"));
    prep_assignment_add(j, r->node, o);
    json_decref(spec);
    return o;
}

/*
 * Build the response (model lock held): new seq, acks and cancels from the
 * first pass, assignments for the free slots, purges, configuration.
 */
static json_t *build_response(struct batch_service *s, struct areq *a,
                              struct mnode *n, int64_t now)
{
    struct model *m = &s->model;
    json_t *o = json_object(), *assign = json_array(), *cancel, *purge, *rel;
    json_t *fops;
    struct mrun **runs = NULL;
    size_t nruns = 0, cap = 0;
    uint64_t seq;

    if (n->seq < s->seq_base)
        n->seq = s->seq_base;
    seq = ++n->seq;
    json_object_set_new(o, "v", json_integer(AGENT_PROTO_VERSION));
    json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    json_object_set_new(o, "pollMs", json_integer(park_ms(s)));
    json_object_set_new(o, "heartbeatMs",
                        json_integer(s->cfg->node_heartbeat_timeout_ms));
    if (a->need_config) {
        json_t *c = json_object();
        json_object_set_new(c, "poolId", json_string(n->pool->id));
        json_object_set_new(c, "account", json_string(n->pool->account));
        json_object_set_new(c, "accountUrl", json_string(s->batch_url));
        json_object_set_new(c, "slots", json_integer(n->pool->slots));
        json_object_set_new(c, "startTask", start_task_spec(n->pool));
        json_object_set_new(
            c, "startTaskAdmin",
            json_boolean(ident_is_admin(
                n->pool,
                json_object_get(json_object_get(n->pool->spec, "startTask"),
                                "userIdentity"))));
        json_object_set_new(o, "config", c);
    }
    json_object_set_new(o, "acks",
                        a->acks ? json_incref(a->acks) : json_array());
    cancel = a->cancel ? json_deep_copy(a->cancel) : json_array();
    for (size_t i = 0; i < n->nruns; i++) {
        if (n->runs[i]->cancel)
            json_array_append_new(cancel,
                                  pair(n->runs[i]->rowid, n->runs[i]->attempt));
    }
    json_object_set_new(o, "cancel", cancel);
    sched_assign(m, n, seq, SIZE_MAX, &runs, &nruns, &cap, now);
    for (size_t i = 0; i < nruns; i++)
        json_array_append_new(assign, assignment(runs[i]));
    free(runs);
    json_object_set_new(o, "assign", assign);
    purge = json_array();
    for (size_t i = 0; i < n->npurges; i++)
        json_array_append_new(purge, json_string(n->purges[i]));
    json_object_set_new(o, "purge", purge);
    json_object_set_new(
        o, "prepAcks", a->prep_acks ? json_incref(a->prep_acks) : json_array());
    rel = json_array();
    prep_node_releases(m, n, rel);
    json_object_set_new(o, "release", rel);
    /* File requests for this node (fileproxy.c); absent when none. */
    fops = json_array();
    fileproxy_node_take(s->proxy, n->id, seq, fops);
    if (json_array_size(fops))
        json_object_set_new(o, "fileOps", fops);
    else
        json_decref(fops);
    /* Leaving or rebooting: once no task of it runs (nodeops.c). */
    if (n->removing && nodeops_drained(n)) {
        json_object_set_new(o, "stop", json_true());
        n->stop_sent = true;
    } else {
        json_object_set_new(o, "stop", json_false());
    }
    if (nodeops_reboot_due(n)) {
        json_object_set_new(o, "reboot", json_true());
        n->reboot_sent = true;
        log_info("node told to reboot node=%s pool=%s", n->id, n->pool->id);
    }
    if (nruns)
        node_state_update(m, n, false, now);
    return o;
}

static bool has_work(const struct mnode *n)
{
    const struct mqueue *q = n->pool->queue;

    return sched_node_usable(n) && q && q->n > 0 &&
           n->slots_used < n->pool->slots && prep_queue_runnable(q, n);
}

static void finish(struct http_req *req, struct batch_service *s, json_t *o,
                   uint64_t ticket)
{
    struct err e = ERR_INIT;

    if (store_wait(s->store, ticket, &e) < 0) {
        json_decref(o);
        http_reply_batch_error(req, &e);
        return;
    }
    reply_json(req, o);
}

/* ---- the exchange
 * ----------------------------------------------------------------- */

static void sync_first(struct http_req *req, struct areq *a)
{
    struct batch_service *s = a->s;
    struct model *m = &s->model;
    struct err e = ERR_INIT;
    json_error_t je;
    json_t *body, *running, *reports, *v;
    const char *boot;
    struct mnode *n;
    int code = 0;
    int64_t now = timefmt_now_ms(), mono = timefmt_mono_ms();
    uint64_t ack, ticket;
    bool wait, changed = false, was_contacted;
    size_t i;
    json_t *o;

    body =
        json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &je);
    boot = json_string_value(json_object_get(body, "boot"));
    running = json_object_get(body, "running");
    reports = json_object_get(body, "reports");
    if (!json_is_object(body) || !boot || strlen(boot) >= sizeof(n->boot) ||
        (running && !json_is_array(running)) ||
        (reports && !json_is_array(reports))) {
        json_decref(body);
        reply_err(req, ERR_INVALID, "InvalidRequestBody",
                  "malformed sync request");
        return;
    }
    ack = (uint64_t)json_integer_value(json_object_get(body, "ack"));
    wait = json_is_true(json_object_get(body, "wait"));
    a->need_config = json_is_true(json_object_get(body, "needConfig"));

    pthread_mutex_lock(&m->mu);
    n = auth_node(s, req, a->node, &code);
    if (!n) {
        pthread_mutex_unlock(&m->mu);
        json_decref(body);
        reply_auth_failed(req, code);
        return;
    }
    n->last_seen_mono = mono;
    if (n->remote && strcmp(n->ip, req->client_ip) != 0) {
        snprintf(n->ip, sizeof(n->ip), "%s", req->client_ip);
        changed = true;
    }
    if (n->parked) {
        struct areq *old = n->parked->state;
        old->superseded = true;
        old->woken = true;
        http_resume(n->parked);
        n->parked = NULL;
    }
    /* File requests whose response never reached this agent process go
     * out again (fileproxy.c). */
    fileproxy_node_synced(s->proxy, n->id, strcmp(boot, n->boot) != 0, ack);
    if (strcmp(boot, n->boot) != 0) {
        /* A new agent process, or a new shoald: resync. */
        log_info("node agent connected node=%s pool=%s runs=%zu", n->id,
                 n->pool->id, n->nruns);
        snprintf(n->boot, sizeof(n->boot), "%s", boot);
        n->boot_ms = now;
        was_contacted = n->contacted;
        n->contacted = true;
        /* A node told to reboot reruns its job preparations as their
         * rerunOnNodeRebootAfterSuccess says; any new process gets again
         * the release tasks the old one was running (prep.c). */
        if (n->reboot_sent)
            prep_node_rebooted(m, n);
        else
            prep_node_resync(m, n);
        /*
         * A new process is a rebooted node (nodeops.c), unless this is only
         * the first sync since shoald started: a reboot still pending then
         * (tasks finishing first) must still be sent.
         */
        if (n->reboot_sent || was_contacted)
            nodeops_rebooted(n);
        for (i = n->nruns; i-- > 0;) {
            struct mrun *r = n->runs[i];
            if (pair_in(running, r->rowid, r->attempt)) {
                r->delivered = true;
                continue;
            }
            if (report_in(reports, r->rowid, r->attempt))
                continue;
            /*
             * An agent that has processed responses (ack > 0: it outlived
             * a restart of shoald) but not the one that carried this
             * attempt never started it: back to the queue, uncounted. A new
             * process (ack 0) may have lost a run it had: counted.
             */
            if (r->task)
                sched_run_lost(m, r, !(ack > 0 && r->deliver_seq > ack), now);
            else
                sched_run_free(m, r, now);
        }
        changed = true;
    } else {
        /* Same process after "reboot" went out: it never got it. Again. */
        n->reboot_sent = false;
        for (i = n->nruns; i-- > 0;) {
            struct mrun *r = n->runs[i];
            if (!r->delivered) {
                if (r->deliver_seq <= ack) {
                    r->delivered = true;
                } else {
                    /* Its response never reached the agent. */
                    if (r->task)
                        sched_run_lost(m, r, false, now);
                    else
                        sched_run_free(m, r, now);
                    continue;
                }
            }
            if (pair_in(running, r->rowid, r->attempt) ||
                report_in(reports, r->rowid, r->attempt))
                continue;
            if (r->task)
                sched_run_lost(m, r, true, now);
            else
                sched_run_free(m, r, now);
        }
    }
    /* Preparation and release news first: a preparation that failed here
     * must block the node before its tasks are requeued (prep.c). */
    a->prep_acks = json_array();
    prep_apply_reports(m, n, json_object_get(body, "preps"), a->prep_acks, now);
    a->acks = json_array();
    json_array_foreach(reports, i, v)
    {
        struct sched_outcome out;
        uint64_t rowid = (uint64_t)json_integer_value(json_object_get(v, "r"));
        uint32_t att = (uint32_t)json_integer_value(json_object_get(v, "a"));
        json_t *f = json_object_get(v, "fail");
        struct mrun *r = sched_run_find(n, rowid, att);

        json_array_append_new(a->acks, pair(rowid, att));
        if (!r)
            continue;
        if (json_is_true(json_object_get(v, "prepFailed"))) {
            /* Never started: its job's preparation failed here. */
            sched_run_lost(m, r, false, now);
            changed = true;
            continue;
        }
        memset(&out, 0, sizeof(out));
        out.ran = json_is_true(json_object_get(v, "ran"));
        out.exit_code = (int)json_integer_value(json_object_get(v, "exit"));
        out.timed_out = json_is_true(json_object_get(v, "timedOut"));
        out.start_ms = json_integer_value(json_object_get(v, "start"));
        out.end_ms = json_integer_value(json_object_get(v, "end"));
        out.category = json_string_value(json_object_get(f, "category"));
        out.code = json_string_value(json_object_get(f, "code"));
        out.message = json_string_value(json_object_get(f, "message"));
        sched_run_finished(m, r, &out, now);
        changed = true;
    }
    a->cancel = json_array();
    json_array_foreach(running, i, v)
    {
        uint64_t rowid = (uint64_t)json_integer_value(json_array_get(v, 0));
        uint32_t att = (uint32_t)json_integer_value(json_array_get(v, 1));
        if (!sched_run_find(n, rowid, att))
            json_array_append_new(a->cancel, pair(rowid, att));
    }
    v = json_object_get(body, "startTask");
    if (json_is_object(v)) {
        enum start_state before = n->st_state;
        int64_t before_end = n->st_end_ms;
        apply_start_report(n, v);
        if (n->st_state != before || n->st_end_ms != before_end)
            changed = true;
    }
    json_array_foreach(json_object_get(body, "purged"), i, v)
    {
        const char *job = json_string_value(v);
        for (size_t k = 0; job && k < n->npurges; k++) {
            if (strcmp(n->purges[k], job) == 0) {
                free(n->purges[k]);
                n->purges[k] = n->purges[--n->npurges];
                break;
            }
        }
    }
    {
        enum node_state before = n->state;
        node_state_update(m, n, a->need_config, now);
        if (n->state != before)
            changed = true;
    }
    if (changed)
        model_save_node(m, n);
    json_decref(body);

    if (wait && json_array_size(a->acks) == 0 &&
        json_array_size(a->cancel) == 0 && !a->need_config && n->npurges == 0 &&
        !(n->removing && nodeops_drained(n)) && !nodeops_reboot_due(n) &&
        !has_work(n) && !n->kick_pending &&
        json_array_size(a->prep_acks) == 0 && !prep_node_has_releases(n) &&
        !fileproxy_node_pending(s->proxy, n->id)) {
        bool cancels = false;
        for (i = 0; i < n->nruns; i++)
            cancels = cancels || n->runs[i]->cancel;
        if (!cancels) {
            n->parked = req;
            n->park_deadline_mono = mono + park_ms(s);
            a->parked = true;
            http_suspend(req);
            pthread_mutex_unlock(&m->mu);
            return;
        }
    }
    n->kick_pending = false;
    o = build_response(s, a, n, now);
    ticket = store_last_ticket(s->store);
    pthread_mutex_unlock(&m->mu);
    finish(req, s, o, ticket);
    (void)e;
}

static void sync_resumed(struct http_req *req, struct areq *a)
{
    struct batch_service *s = a->s;
    struct model *m = &s->model;
    struct mnode *n;
    json_t *o;
    uint64_t ticket;
    int64_t now = timefmt_now_ms();

    pthread_mutex_lock(&m->mu);
    n = model_node_find(m, a->node);
    if (n && n->parked == req)
        n->parked = NULL;
    /*
     * An idle poll that ran to its deadline, or any at shutdown, closes its
     * connection: the agent reconnects for the next one, so a server that
     * stopped accepting (quiesce) drains within one poll period.
     */
    if (!n || http_shutting_down(req) ||
        timefmt_mono_ms() >= n->park_deadline_mono)
        http_add_header(req, "Connection", "close");
    if (!n || a->superseded || http_shutting_down(req)) {
        pthread_mutex_unlock(&m->mu);
        o = json_object();
        json_object_set_new(o, "v", json_integer(AGENT_PROTO_VERSION));
        json_object_set_new(o, "seq", json_integer(0));
        json_object_set_new(o, "acks", json_array());
        json_object_set_new(o, "cancel", json_array());
        json_object_set_new(o, "assign", json_array());
        json_object_set_new(o, "purge", json_array());
        reply_json(req, o);
        return;
    }
    n->last_seen_mono = timefmt_mono_ms();
    n->kick_pending = false;
    o = build_response(s, a, n, now);
    ticket = store_last_ticket(s->store);
    pthread_mutex_unlock(&m->mu);
    finish(req, s, o, ticket);
}

static void kick(struct http_req *req, struct areq *a)
{
    struct model *m = &a->s->model;
    struct mnode *n;
    int code = 0;

    pthread_mutex_lock(&m->mu);
    n = auth_node(a->s, req, a->node, &code);
    if (!n) {
        pthread_mutex_unlock(&m->mu);
        reply_auth_failed(req, code);
        return;
    }
    n->last_seen_mono = timefmt_mono_ms();
    if (n->parked)
        agent_api_wake(a->s, n);
    else
        n->kick_pending = true;
    pthread_mutex_unlock(&m->mu);
    http_reply(req, 204, NULL, NULL);
}

void agent_api_end(struct http_req *req)
{
    struct areq *a = req->state;

    if (!a || a->magic != AREQ_MAGIC)
        BUG("agent request without state");
    if (a->join) {
        join_agent(req, a->s);
        return;
    }
    if (a->kick) {
        kick(req, a);
        return;
    }
    if (a->fileop) {
        fileop_end(req, a);
        return;
    }
    if (a->parked)
        sync_resumed(req, a);
    else
        sync_first(req, a);
}

void agent_api_done(struct http_req *req)
{
    struct areq *a = req->state;

    if (!a || a->magic != AREQ_MAGIC)
        return;
    if (a->parked) {
        struct model *m = &a->s->model;
        struct mnode *n;
        pthread_mutex_lock(&m->mu);
        n = model_node_find(m, a->node);
        if (n && n->parked == req)
            n->parked = NULL;
        pthread_mutex_unlock(&m->mu);
    }
    fileproxy_upload_free(a->s->proxy, a->up);
    json_decref(a->acks);
    json_decref(a->cancel);
    json_decref(a->prep_acks);
    free(a);
    req->state = NULL;
}

void agent_api_wake(void *ctx, struct mnode *n)
{
    struct http_req *req = n->parked;
    struct areq *a;

    (void)ctx;
    if (!req)
        return;
    a = req->state;
    a->woken = true;
    n->parked = NULL;
    http_resume(req);
}
