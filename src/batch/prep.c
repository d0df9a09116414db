/*
 * prep.c: job preparation and release tasks.
 *
 * Purpose: run a job's preparation task on a node before the first task of
 * the job there, keep the job's tasks off a node where it failed (with
 * waitForSuccess), run the release task on each node that ran the job when
 * the job ends, and keep the per-node status the
 * jobpreparationandreleasetaskstatus list shows (prep_api.c).
 *
 * Structures (prep.h): mjob->prep (NULL for a job with neither task) holds
 * the settings read from the job's spec and one struct prep_node per node
 * the job's tasks were assigned to, in creation order (seq), indexed by
 * node id. Records outlive their node, as the real list includes nodes
 * since removed; they go with the job. They are stored in the job's
 * storage document ("prep", see prep_job_save), so they survive restarts.
 *
 * Who runs what. The agent runs the preparation itself, once per job per
 * agent process, before the task that needs it; shoald only decides
 * whether an assignment carries it (prep_gate):
 *
 *   record absent or not completed   PREPARE (waitForSuccess: the task is
 *                                    "preparing" until the agent reports
 *                                    success) or ALONG (the task runs at
 *                                    once, the preparation beside it)
 *   completed, success (or no wait)  RUN: nothing to send
 *   completed, failure, wait         BLOCKED: sched_assign passes the
 *                                    job over on this node (its tasks run
 *                                    elsewhere or wait, as the real
 *                                    service)
 *
 * A preparation that fails with waitForSuccess makes the agent report its
 * waiting tasks as not started ("prepFailed"); agent_api.c puts them back
 * in the queue uncounted, and this node's gate is BLOCKED from then on. A
 * successful one turns the job's preparing tasks on the node to running.
 *
 * Release (prep_release_start, from sched.c when the job is terminating or
 * deleted before completing): every record where tasks ran after a
 * preparation that completed (successfully, or at all without
 * waitForSuccess) gets rel_pending; its node's rel_pending count makes the
 * next sync response carry the release (prep_node_releases), resent until
 * the agent reports it running. The job stays terminating (or deleting)
 * while prep_release_busy: a release is pending or running on a node that
 * still exists and is not unusable or leaving.
 *
 * State of one record (prep and release alike, as the agent reports it):
 *
 *   none ──agent starts it──▶ running ──exit 0 / retries spent──▶ completed
 *                                ▲                                   │
 *                                └── node rebooted (prep_node_rebooted,
 *                                    rerunOnNodeRebootAfterSuccess) ─┘
 *
 * Agent reports are snapshots ("preps" in a sync, docs/node-protocol.md),
 * applied as they come and acknowledged; the agent resends a record until
 * its ack, so a lost response loses nothing.
 *
 * Threads: everything runs with the model lock held (the caller's).
 * Ownership: records are owned by their job's mjob_prep; spec JSON is
 * borrowed from the job.
 */
#include "batch/prep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/ident.h"
#include "batch/sched.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define PREP_ID_DEFAULT "jobpreparation"
#define REL_ID_DEFAULT  "jobrelease"
#define REL_WALL_MAX_MS (15ll * 60 * 1000)

/* ---- the spec ----------------------------------------------------------- */

static int bad_prop(struct err *err, const char *path, const char *reason)
{
    err_set(err, ERR_INVALID, "InvalidPropertyValue",
            "the value provided for property '%s' is invalid", path);
    err_add_detail(err, "PropertyName", path);
    err_add_detail(err, "Reason", reason);
    return -ERR_INVALID;
}

int prep_spec_normalize(json_t *spec, struct err *err)
{
    json_t *p = json_object_get(spec, "jobPreparationTask");
    json_t *r = json_object_get(spec, "jobReleaseTask");
    json_t *v;
    int64_t ms = 0;

    if (r && !p)
        return bad_prop(err, "jobReleaseTask",
                        "a job release task needs a job preparation task");
    if (p) {
        if (!json_object_get(p, "id"))
            json_object_set_new(p, "id", json_string(PREP_ID_DEFAULT));
        if (!json_object_get(p, "waitForSuccess"))
            json_object_set_new(p, "waitForSuccess", json_true());
        if (!json_object_get(p, "rerunOnNodeRebootAfterSuccess"))
            json_object_set_new(p, "rerunOnNodeRebootAfterSuccess",
                                json_true());
    }
    if (!r)
        return 0;
    if (!json_object_get(r, "id"))
        json_object_set_new(r, "id", json_string(REL_ID_DEFAULT));
    v = json_object_get(r, "maxWallClockTime");
    if (json_is_string(v) &&
        (timefmt_parse_duration(json_string_value(v), &ms) < 0 ||
         ms > REL_WALL_MAX_MS))
        return bad_prop(err, "jobReleaseTask.maxWallClockTime",
                        "the maximum is 15 minutes");
    if (!v)
        json_object_set_new(r, "maxWallClockTime", json_string("PT15M"));
    if (!json_object_get(r, "retentionTime"))
        json_object_set_new(r, "retentionTime", json_string("P7D"));
    if (str_ieq(json_string_value(json_object_get(p, "id")),
                json_string_value(json_object_get(r, "id"))))
        return bad_prop(err, "jobReleaseTask.id",
                        "the job preparation and release tasks need "
                        "different ids");
    return 0;
}

/* ---- per job ------------------------------------------------------------ */

void prep_job_init(struct mjob *j)
{
    json_t *p = json_object_get(j->spec, "jobPreparationTask");
    json_t *r = json_object_get(j->spec, "jobReleaseTask");
    struct mjob_prep *jp;
    const char *id;

    j->prep = NULL;
    if (!json_is_object(p) && !json_is_object(r))
        return;
    jp = xcalloc(1, sizeof(*jp));
    idmap_init(&jp->by_node);
    jp->has_prep = json_is_object(p);
    jp->has_rel = json_is_object(r);
    id = json_string_value(json_object_get(p, "id"));
    jp->prep_id = xstrdup(id ? id : PREP_ID_DEFAULT);
    id = json_string_value(json_object_get(r, "id"));
    jp->rel_id = xstrdup(id ? id : REL_ID_DEFAULT);
    jp->wait = !json_is_false(json_object_get(p, "waitForSuccess"));
    jp->rerun =
        !json_is_false(json_object_get(p, "rerunOnNodeRebootAfterSuccess"));
    j->prep = jp;
}

static void node_free(struct prep_node *pn)
{
    model_fail_free(pn->prep.fail);
    model_fail_free(pn->rel.fail);
    free(pn->node_id);
    free(pn->pool_id);
    free(pn);
}

void prep_job_free(struct model *m, struct mjob *j)
{
    struct mjob_prep *jp = j->prep;

    if (!jp)
        return;
    for (size_t i = 0; i < jp->n; i++) {
        struct prep_node *pn = jp->v[i];
        struct mnode *n =
            pn->rel_pending ? model_node_find(m, pn->node_id) : NULL;
        if (n && n->rel_pending > 0)
            n->rel_pending--;
        node_free(pn);
    }
    idmap_release(&jp->by_node);
    free(jp->v);
    free(jp->prep_id);
    free(jp->rel_id);
    free(jp);
    j->prep = NULL;
}

bool prep_job_has(const struct mjob *j)
{
    return j->prep != NULL;
}

int prep_task_id_check(const struct mjob *j, const char *id, struct err *err)
{
    const struct mjob_prep *jp = j->prep;

    if (!jp || !id)
        return 0;
    if (jp->has_prep && str_ieq(id, jp->prep_id))
        return err_set(err, ERR_CONFLICT, "TaskIdSameAsJobPreparationTask",
                       "the task id '%s' is the id of the job preparation "
                       "task",
                       id);
    if (jp->has_rel && str_ieq(id, jp->rel_id))
        return err_set(err, ERR_CONFLICT, "TaskIdSameAsJobReleaseTask",
                       "the task id '%s' is the id of the job release task",
                       id);
    return 0;
}

/* Append pn (new, with its node id) to jp. */
static void push(struct mjob_prep *jp, struct prep_node *pn)
{
    if (jp->n == jp->cap) {
        size_t cap = jp->cap ? jp->cap * 2 : 8, bytes;
        if (!size_mul(cap, sizeof(*jp->v), &bytes))
            BUG("too many job preparation records");
        jp->v = xrealloc(jp->v, bytes);
        jp->cap = cap;
    }
    jp->v[jp->n++] = pn;
    pn->seq = jp->n;
    idmap_put(&jp->by_node, pn->node_id, pn);
}

static struct prep_node *record(struct mjob_prep *jp, const struct mnode *n,
                                bool create)
{
    struct prep_node *pn = idmap_get(&jp->by_node, n->id);

    if (pn || !create)
        return pn;
    pn = xcalloc(1, sizeof(*pn));
    pn->node_id = xstrdup(n->id);
    pn->pool_id = xstrdup(n->pool->id);
    push(jp, pn);
    return pn;
}

/* ---- scheduling --------------------------------------------------------- */

enum prep_gate prep_gate(const struct mjob *j, const struct mnode *n)
{
    const struct mjob_prep *jp = j->prep;
    const struct prep_node *pn;

    if (!jp || !jp->has_prep)
        return PREP_GATE_RUN;
    pn = idmap_get(&jp->by_node, n->id);
    if (pn && pn->prep.state == PREP_COMPLETED && !pn->again) {
        if (pn->prep.result == RESULT_SUCCESS || !jp->wait)
            return PREP_GATE_RUN;
        return PREP_GATE_BLOCKED;
    }
    return jp->wait ? PREP_GATE_PREPARE : PREP_GATE_ALONG;
}

bool prep_queue_runnable(const struct mqueue *q, const struct mnode *n)
{
    /* Jobs, not tasks: a blocked job costs one look however many tasks
     * it has queued, and the first job without a failed preparation here
     * (most have none) ends the walk. */
    for (size_t i = 0; i < q->jn; i++) {
        if (prep_gate(q->jheap[i], n) != PREP_GATE_BLOCKED)
            return true;
    }
    return false;
}

void prep_assigned(struct model *m, struct mjob *j, struct mnode *n)
{
    struct prep_node *pn;

    if (!j->prep)
        return;
    pn = record(j->prep, n, true);
    if (pn->ran)
        return;
    pn->ran = true;
    model_save_job(m, j);
}

/* The parts every job-level task shares: command, env, files, identity. */
static json_t *job_task(const struct mjob *j, const struct mpool *p,
                        json_t *spec, const char *id)
{
    json_t *o = json_object(), *env = json_array(), *v, *e;
    size_t i;

    json_object_set_new(o, "id", json_string(id));
    json_object_set(o, "cmd", json_object_get(spec, "commandLine"));
    v = json_object_get(j->spec, "commonEnvironmentSettings");
    json_array_foreach(v, i, e) json_array_append(env, e);
    v = json_object_get(spec, "environmentSettings");
    json_array_foreach(v, i, e) json_array_append(env, e);
    json_object_set_new(o, "env", env);
    v = json_object_get(spec, "resourceFiles");
    if (v)
        json_object_set(o, "res", v);
    ident_add(o, p, j, 0, json_object_get(spec, "userIdentity"));
    return o;
}

static json_int_t wall_of(json_t *v)
{
    int64_t ms = TIMEFMT_DURATION_INF;

    if (json_is_string(v))
        timefmt_parse_duration(json_string_value(v), &ms);
    return ms == TIMEFMT_DURATION_INF ? -1 : (json_int_t)ms;
}

void prep_assignment_add(const struct mjob *j, const struct mnode *n, json_t *o)
{
    const struct mjob_prep *jp = j->prep;
    enum prep_gate g;
    json_t *spec, *c, *p;

    if (!jp || !jp->has_prep)
        return;
    json_object_set_new(o, "prepId", json_string(jp->prep_id));
    g = prep_gate(j, n);
    if (g != PREP_GATE_PREPARE && g != PREP_GATE_ALONG)
        return;
    spec = json_object_get(j->spec, "jobPreparationTask");
    c = json_object_get(spec, "constraints");
    p = job_task(j, n->pool, spec, jp->prep_id);
    json_object_set_new(p, "wait", json_boolean(jp->wait));
    json_object_set_new(
        p, "retries",
        json_integer(
            json_is_integer(json_object_get(c, "maxTaskRetryCount"))
                ? json_integer_value(json_object_get(c, "maxTaskRetryCount"))
                : 0));
    json_object_set_new(
        p, "wallMs",
        json_integer(wall_of(json_object_get(c, "maxWallClockTime"))));
    json_object_set_new(o, "prep", p);
}

/* ---- release ------------------------------------------------------------ */

static bool node_alive(const struct mnode *n)
{
    return n && !n->removing && n->state != NODE_UNUSABLE &&
           n->state != NODE_LEAVING;
}

void prep_release_start(struct model *m, struct mjob *j)
{
    struct mjob_prep *jp = j->prep;
    bool changed = false;

    if (!jp || !jp->has_rel || jp->releasing)
        return;
    jp->releasing = true;
    for (size_t i = 0; i < jp->n; i++) {
        struct prep_node *pn = jp->v[i];
        struct mnode *n;
        if (!pn->ran || pn->rel_pending || pn->rel.state != PREP_NONE ||
            pn->prep.state != PREP_COMPLETED)
            continue;
        if (pn->prep.result != RESULT_SUCCESS && jp->wait)
            continue;
        pn->rel_pending = true;
        changed = true;
        n = model_node_find(m, pn->node_id);
        if (n) {
            n->rel_pending++;
            sched_wake_node(n);
        }
    }
    if (changed) {
        log_info("job release tasks dispatched job=%s", j->id);
        model_save_job(m, j);
    }
}

bool prep_release_busy(struct model *m, const struct mjob *j)
{
    const struct mjob_prep *jp = j->prep;

    if (!jp || !jp->has_rel)
        return false;
    for (size_t i = 0; i < jp->n; i++) {
        const struct prep_node *pn = jp->v[i];
        if (!pn->rel_pending && pn->rel.state != PREP_RUNNING)
            continue;
        if (node_alive(model_node_find(m, pn->node_id)))
            return true;
    }
    return false;
}

bool prep_node_has_releases(const struct mnode *n)
{
    return n->rel_pending > 0;
}

void prep_node_releases(struct model *m, struct mnode *n, json_t *arr)
{
    if (n->rel_pending <= 0)
        return;
    for (size_t i = 0; i < m->njobs; i++) {
        struct mjob *j = m->job_list[i];
        struct mjob_prep *jp = j->prep;
        struct prep_node *pn;
        json_t *spec, *o;
        if (!jp || !jp->has_rel || strcmp(j->account, n->pool->account) != 0)
            continue;
        pn = record(jp, n, false);
        if (!pn || !pn->rel_pending)
            continue;
        spec = json_object_get(j->spec, "jobReleaseTask");
        o = job_task(j, n->pool, spec, jp->rel_id);
        json_object_set_new(o, "job", json_string(j->id));
        json_object_set_new(o, "prepId", json_string(jp->prep_id));
        json_object_set_new(
            o, "wallMs",
            json_integer(wall_of(json_object_get(spec, "maxWallClockTime"))));
        json_array_append_new(arr, o);
    }
}

/* ---- agent reports ------------------------------------------------------ */

static void exec_apply(struct prep_exec *e, json_t *v)
{
    const char *state = json_string_value(json_object_get(v, "state"));
    json_t *f = json_object_get(v, "fail");

    e->state = PREP_NONE;
    if (state && strcmp(state, "running") == 0)
        e->state = PREP_RUNNING;
    else if (state && strcmp(state, "completed") == 0)
        e->state = PREP_COMPLETED;
    e->start_ms = json_integer_value(json_object_get(v, "start"));
    e->end_ms = e->state == PREP_COMPLETED
                    ? json_integer_value(json_object_get(v, "end"))
                    : 0;
    e->retry = (int)json_integer_value(json_object_get(v, "retry"));
    e->last_retry_ms = e->retry > 0 ? e->start_ms : 0;
    e->has_exit = e->state == PREP_COMPLETED &&
                  json_is_integer(json_object_get(v, "exit"));
    e->exit_code =
        e->has_exit ? (int)json_integer_value(json_object_get(v, "exit")) : 0;
    model_fail_free(e->fail);
    e->fail = NULL;
    if (e->state == PREP_COMPLETED && json_is_object(f))
        e->fail =
            model_fail_new(json_string_value(json_object_get(f, "category")),
                           json_string_value(json_object_get(f, "code")),
                           json_string_value(json_object_get(f, "message")));
    e->result = RESULT_NONE;
    if (e->state == PREP_COMPLETED)
        e->result = e->fail || !e->has_exit || e->exit_code != 0
                        ? RESULT_FAILURE
                        : RESULT_SUCCESS;
}

/* The preparation succeeded on n: its job's preparing tasks there run. */
static void promote(struct model *m, struct mjob *j, struct mnode *n,
                    int64_t now)
{
    for (size_t i = 0; i < n->nruns; i++) {
        struct mrun *r = n->runs[i];
        struct mtask *t = r->task;
        if (r->job != j || !t || t->state != TASK_PREPARING)
            continue;
        t->start_ms = now;
        model_task_set_state(m, t, TASK_RUNNING, now);
        t->etag = model_next_etag(m);
        model_save_task(m, t);
    }
}

void prep_apply_reports(struct model *m, struct mnode *n, json_t *preps,
                        json_t *acks, int64_t now)
{
    size_t i;
    json_t *v;

    json_array_foreach(preps, i, v)
    {
        const char *job = json_string_value(json_object_get(v, "job"));
        const char *kind = json_string_value(json_object_get(v, "kind"));
        struct mjob *j;
        struct prep_node *pn;
        struct prep_exec *e;
        json_t *ack;
        bool rel;

        if (!job || !kind)
            continue;
        ack = json_array();
        json_array_append_new(ack, json_string(job));
        json_array_append_new(ack, json_string(kind));
        json_array_append(ack, json_object_get(v, "n"));
        json_array_append_new(acks, ack);
        j = model_job_find(m, n->pool->account, job);
        if (!j || !j->prep)
            continue;
        rel = strcmp(kind, "release") == 0;
        pn = record(j->prep, n, true);
        e = rel ? &pn->rel : &pn->prep;
        exec_apply(e, v);
        if (!rel && e->state != PREP_NONE)
            pn->again = false;
        if (rel && pn->rel_pending && e->state != PREP_NONE) {
            pn->rel_pending = false;
            if (n->rel_pending > 0)
                n->rel_pending--;
        }
        if (e->state == PREP_COMPLETED)
            log_info("job %s task completed job=%s node=%s exit=%d result=%s",
                     rel ? "release" : "preparation", j->id, n->id,
                     e->has_exit ? e->exit_code : -1,
                     model_result_name(e->result));
        model_save_job(m, j);
        if (!rel && e->state == PREP_COMPLETED && e->result == RESULT_SUCCESS)
            promote(m, j, n, now);
        if (rel && e->state == PREP_COMPLETED)
            sched_job_check(m, j, now);
    }
}

void prep_node_resync(struct model *m, struct mnode *n)
{
    for (size_t i = 0; i < m->njobs; i++) {
        struct mjob *j = m->job_list[i];
        struct prep_node *pn;
        if (!j->prep || !j->prep->has_rel ||
            strcmp(j->account, n->pool->account) != 0)
            continue;
        pn = record(j->prep, n, false);
        if (!pn || pn->rel_pending || pn->rel.state != PREP_RUNNING)
            continue;
        pn->rel_pending = true;
        n->rel_pending++;
        model_save_job(m, j);
    }
}

void prep_node_rebooted(struct model *m, struct mnode *n)
{
    for (size_t i = 0; i < m->njobs; i++) {
        struct mjob *j = m->job_list[i];
        struct prep_node *pn;
        if (!j->prep || !j->prep->has_prep ||
            strcmp(j->account, n->pool->account) != 0)
            continue;
        pn = record(j->prep, n, false);
        if (!pn || pn->again)
            continue;
        if (pn->prep.state == PREP_COMPLETED &&
            (pn->prep.result != RESULT_SUCCESS || !j->prep->rerun))
            continue;
        if (pn->prep.state == PREP_NONE)
            continue;
        pn->again = true;
        model_save_job(m, j);
    }
    prep_node_resync(m, n);
}

/* ---- storage ------------------------------------------------------------ */

static json_t *exec_doc(const struct prep_exec *e)
{
    json_t *o = json_object();

    json_object_set_new(o, "st", json_integer(e->state));
    json_object_set_new(o, "s", json_integer(e->start_ms));
    json_object_set_new(o, "e", json_integer(e->end_ms));
    json_object_set_new(o, "lr", json_integer(e->last_retry_ms));
    json_object_set_new(o, "r", json_integer(e->retry));
    json_object_set_new(o, "res", json_integer(e->result));
    if (e->has_exit)
        json_object_set_new(o, "x", json_integer(e->exit_code));
    if (e->fail) {
        json_t *f = json_object();
        json_object_set_new(f, "category", json_string(e->fail->category));
        json_object_set_new(f, "code", json_string(e->fail->code));
        json_object_set_new(f, "message", json_string(e->fail->message));
        json_object_set_new(o, "f", f);
    }
    return o;
}

static void exec_load(struct prep_exec *e, json_t *o)
{
    json_t *f = json_object_get(o, "f");
    json_int_t st = json_integer_value(json_object_get(o, "st"));

    e->state = st == PREP_RUNNING     ? PREP_RUNNING
               : st == PREP_COMPLETED ? PREP_COMPLETED
                                      : PREP_NONE;
    e->start_ms = json_integer_value(json_object_get(o, "s"));
    e->end_ms = json_integer_value(json_object_get(o, "e"));
    e->last_retry_ms = json_integer_value(json_object_get(o, "lr"));
    e->retry = (int)json_integer_value(json_object_get(o, "r"));
    st = json_integer_value(json_object_get(o, "res"));
    e->result = st == RESULT_SUCCESS   ? RESULT_SUCCESS
                : st == RESULT_FAILURE ? RESULT_FAILURE
                                       : RESULT_NONE;
    e->has_exit = json_is_integer(json_object_get(o, "x"));
    e->exit_code = (int)json_integer_value(json_object_get(o, "x"));
    if (json_is_object(f))
        e->fail =
            model_fail_new(json_string_value(json_object_get(f, "category")),
                           json_string_value(json_object_get(f, "code")),
                           json_string_value(json_object_get(f, "message")));
}

void prep_job_save(const struct mjob *j, json_t *doc)
{
    const struct mjob_prep *jp = j->prep;
    json_t *arr;

    if (!jp || jp->n == 0)
        return;
    arr = json_array();
    for (size_t i = 0; i < jp->n; i++) {
        const struct prep_node *pn = jp->v[i];
        json_t *o = json_object();
        json_object_set_new(o, "node", json_string(pn->node_id));
        json_object_set_new(o, "pool", json_string(pn->pool_id));
        json_object_set_new(o, "ran", json_boolean(pn->ran));
        json_object_set_new(o, "rp", json_boolean(pn->rel_pending));
        json_object_set_new(o, "again", json_boolean(pn->again));
        json_object_set_new(o, "p", exec_doc(&pn->prep));
        json_object_set_new(o, "r", exec_doc(&pn->rel));
        json_array_append_new(arr, o);
    }
    json_object_set_new(doc, "prep", arr);
}

void prep_job_load(struct model *m, struct mjob *j, json_t *doc)
{
    struct mjob_prep *jp = j->prep;
    size_t i;
    json_t *o;

    if (!jp)
        return;
    json_array_foreach(json_object_get(doc, "prep"), i, o)
    {
        const char *node = json_string_value(json_object_get(o, "node"));
        const char *pool = json_string_value(json_object_get(o, "pool"));
        struct prep_node *pn;
        struct mnode *n;
        if (!node || !pool || idmap_get(&jp->by_node, node))
            continue;
        pn = xcalloc(1, sizeof(*pn));
        pn->node_id = xstrdup(node);
        pn->pool_id = xstrdup(pool);
        pn->ran = json_is_true(json_object_get(o, "ran"));
        pn->rel_pending = json_is_true(json_object_get(o, "rp"));
        pn->again = json_is_true(json_object_get(o, "again"));
        exec_load(&pn->prep, json_object_get(o, "p"));
        exec_load(&pn->rel, json_object_get(o, "r"));
        push(jp, pn);
        n = pn->rel_pending ? model_node_find(m, pn->node_id) : NULL;
        if (n)
            n->rel_pending++;
    }
}
