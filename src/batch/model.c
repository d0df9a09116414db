/*
 * model.c: the in-memory batch model and its storage documents.
 *
 * Purpose: hold every pool, node, job and task of every account in memory,
 * so reads, uniqueness checks and scheduling never wait for SQLite, and
 * render each entity as the storage document the journal writes (store.c).
 *
 * Structures (model.h):
 *   model ── pools (idmap "account/id", list in creation order)
 *         ── jobs  (idmap "account/id", list in creation order)
 *         ── queues (idmap "account/poolid"): runnable jobs per pool id,
 *            each job's runnable tasks in a heap of its own (sched.c)
 *         ── nodes (idmap id), tasks (u64map rowid), job_rows (u64map)
 *   mpool ── nodes[] (creation order)
 *   mjob  ── tasks[] (rowid order, NULL holes after deletes), tasks_by_id
 *   mtask ── run (while running) ── mrun ── node
 *
 * Invariants:
 *   - ids are unique per account case-insensitively (idmap folds case);
 *     node ids and rowids are global.
 *   - job->counts[s] is the number of tasks in state s (slot_counts: their
 *     requiredSlots); succeeded + failed = counts[COMPLETED]. Only
 *     model_task_set_state and model_task_new/free change them.
 *   - a task is in its job's heap (heap_idx != SIZE_MAX) only while
 *     active, its job is active and it has no unmet dependencies
 *     (deps_unmet == 0, deps.c); it has a run only while running.
 *   - every change is journalled by the caller (model_save_*) before the
 *     model lock is dropped, so storage order equals memory order.
 *
 * State machines (wire names):
 *
 *   task:  active ──assign──▶ running ──exit/terminate──▶ completed
 *            ▲ ▲                 │ retry (non-zero exit, retries left) │
 *            │ └─────────────────┘ requeue (node lost, pool shrunk)    │
 *            └──────────── reactivate (a failed task) ◀────────────────┘
 *          An active task with unmet dependencies (deps.c) is not queued:
 *          it waits, visibly active. exitcond.c decides whether a
 *          completion satisfies its dependents and what its job does.
 *          A task of a job with a preparation task (waitForSuccess) goes
 *          active ─assign─▶ preparing ─prep succeeded─▶ running on a node
 *          that has not run it yet; if the preparation fails the task is
 *          back to active, uncounted, and never put on that node (prep.c).
 *
 *   job:   active ──terminate / all tasks done──▶ terminating ──▶ completed
 *            │  ▲                      (runs killed, release tasks run)
 *            ▼  │ (its tasks queued)
 *          disabling ──(runs gone)──▶ disabled ──enable──▶ enabling
 *            disable: requeue / terminate kill the running tasks (back to
 *            active, requeueCount++ / completed TaskEnded); wait lets them
 *            finish; nothing new starts until enabled (sched.c)
 *          any ──delete──▶ deleting ──(runs and releases gone)──▶ removed
 *
 *   node:  creating ─▶ starting ─▶ waitingforstarttask ─▶ idle ⇄ running
 *                ▲         │               └─▶ starttaskfailed
 *                │         └─ no heartbeat ─▶ unusable ─(agent back)─▶ idle
 *                └── rebooting ◀──reboot── idle|running   (nodeops.c)
 *          idle ⇄ offline (scheduling disabled / enabled; running until
 *                 its tasks end)
 *          any ──pool shrinks / deleted / removenodes──▶ leavingpool
 *                 ──(tasks done per the deallocation option)──▶ removed
 *          A remote node (join.c) is created by its agent's join, not by
 *          the supervisor, and follows the same machine.
 *
 *   pool:  active ──delete──▶ deleting;  allocation steady ⇄ resizing
 *          (resizing ─stopresize─▶ stopping ─▶ steady; resizing ─past
 *          resizeTimeout─▶ steady with resizeErrors, super.c)
 *
 * Storage documents (version 1; store.c holds them in TEXT columns). To
 * change a document: add fields freely (loaders ignore unknown keys and
 * default missing ones); to change the meaning of a field, bump "v" and
 * teach the loader both versions.
 *
 * Threads: every function here runs with model->mu held (the caller's).
 * Ownership: the model owns every entity; specs passed to _new are taken.
 */
#include "batch/model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batch/batch.h"
#include "batch/deps.h"
#include "batch/jobmgr.h"
#include "batch/prep.h"
#include "batch/sched.h"
#include "batch/schedule.h"
#include "batch/store.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define MODEL_DOC_VERSION    1
#define RETENTION_DEFAULT_MS (7ll * 24 * 3600 * 1000)

/* ---- names ------------------------------------------------------------ */

static const char *const task_names[] = { "active", "preparing", "running",
                                          "completed" };
static const char *const job_names[] = { "active",   "disabling",   "disabled",
                                         "enabling", "terminating", "completed",
                                         "deleting" };
static const char *const node_names[] = {
    "creating", "starting", "waitingforstarttask", "starttaskfailed", "idle",
    "running",  "unusable", "leavingpool",         "offline",         "unknown",
    "rebooting"
};

static int parse_name(const char *s, const char *const *names, size_t n,
                      int *out)
{
    for (size_t i = 0; i < n; i++) {
        if (str_ieq(s, names[i])) {
            *out = (int)i;
            return 0;
        }
    }
    return -ERR_INVALID;
}

const char *model_task_state_name(enum task_state s)
{
    return task_names[s];
}

int model_task_state_parse(const char *s, enum task_state *out)
{
    int v;

    if (parse_name(s, task_names, ARRAY_SIZE(task_names), &v) < 0)
        return -ERR_INVALID;
    *out = (enum task_state)v;
    return 0;
}

const char *model_job_state_name(enum job_state s)
{
    return job_names[s];
}

int model_job_state_parse(const char *s, enum job_state *out)
{
    int v;

    if (parse_name(s, job_names, ARRAY_SIZE(job_names), &v) < 0)
        return -ERR_INVALID;
    *out = (enum job_state)v;
    return 0;
}

const char *model_pool_state_name(enum pool_state s)
{
    return s == POOL_ACTIVE ? "active" : "deleting";
}

const char *model_pool_alloc_name(enum pool_alloc s)
{
    static const char *const names[] = { "steady", "resizing", "stopping" };

    return names[s];
}

const char *model_node_state_name(enum node_state s)
{
    return node_names[s];
}

int model_node_state_parse(const char *s, enum node_state *out)
{
    int v;

    if (parse_name(s, node_names, ARRAY_SIZE(node_names), &v) < 0)
        return -ERR_INVALID;
    *out = (enum node_state)v;
    return 0;
}

const char *model_result_name(enum task_result r)
{
    if (r == RESULT_SUCCESS)
        return "success";
    if (r == RESULT_FAILURE)
        return "failure";
    return NULL;
}

struct mfail *model_fail_new(const char *category, const char *code,
                             const char *message)
{
    struct mfail *f = xcalloc(1, sizeof(*f));

    snprintf(f->category, sizeof(f->category), "%s",
             category && *category ? category : "usererror");
    snprintf(f->code, sizeof(f->code), "%s", code ? code : "");
    f->message = xstrdup(message ? message : "");
    return f;
}

void model_fail_free(struct mfail *f)
{
    if (!f)
        return;
    free(f->message);
    free(f);
}

/* ---- model -------------------------------------------------------------- */

void model_init(struct model *m, struct store *st)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    m->store = st;
    idmap_init(&m->pools);
    idmap_init(&m->jobs);
    idmap_init(&m->queues);
    idmap_init(&m->nodes);
    u64map_init(&m->tasks);
    u64map_init(&m->job_rows);
    m->next_rowid = 1;
}

void model_release(struct model *m)
{
    /* Pools first: their nodes' runs point at jobs. */
    while (m->npools)
        model_pool_free(m, m->pool_list[m->npools - 1]);
    while (m->njobs)
        model_job_free(m, m->job_list[m->njobs - 1]);
    schedule_release_all(m);
    for (size_t i = 0; i < m->queues.cap; i++) {
        struct idmap_ent *e = &m->queues.ents[i];
        struct mqueue *q;
        if (!e->key || !e->val)
            continue;
        q = e->val;
        free(q->jheap);
        free(q->key);
        free(q);
        e->val = NULL;
    }
    idmap_release(&m->pools);
    idmap_release(&m->jobs);
    idmap_release(&m->queues);
    idmap_release(&m->nodes);
    u64map_release(&m->tasks);
    u64map_release(&m->job_rows);
    free(m->pool_list);
    free(m->job_list);
    free(m->retain);
    pthread_mutex_destroy(&m->mu);
}

uint64_t model_next_rowid(struct model *m)
{
    return m->next_rowid++;
}

uint64_t model_next_etag(struct model *m)
{
    return ++m->etag_counter;
}

void model_etag_str(uint64_t etag, char out[24])
{
    uint64_t v = (uint64_t)0x8DC000000000000ull + (etag & 0xFFFFFFFFFFFFull);

    snprintf(out, 24, "0x%015" PRIX64, v);
}

char *model_key(const char *account, const char *id)
{
    return xasprintf("%s/%s", account, id);
}

struct mpool *model_pool_find(struct model *m, const char *account,
                              const char *id)
{
    char *k = model_key(account, id);
    struct mpool *p = idmap_get(&m->pools, k);

    free(k);
    return p;
}

struct mjob *model_job_find(struct model *m, const char *account,
                            const char *id)
{
    char *k = model_key(account, id);
    struct mjob *j = idmap_get(&m->jobs, k);

    free(k);
    return j;
}

struct mtask *model_task_find(struct mjob *j, const char *id)
{
    return idmap_get(&j->tasks_by_id, id);
}

struct mnode *model_node_find(struct model *m, const char *id)
{
    return idmap_get(&m->nodes, id);
}

struct mqueue *model_queue_get(struct model *m, const char *account,
                               const char *pool_id)
{
    char *k = model_key(account, pool_id);
    struct mqueue *q = idmap_get(&m->queues, k);

    if (!q) {
        q = xcalloc(1, sizeof(*q));
        q->key = k;
        k = NULL;
        idmap_put(&m->queues, q->key, q);
    }
    free(k);
    return q;
}

void model_queue_maybe_free(struct model *m, struct mqueue *q)
{
    if (!q || q->pool || q->njobs > 0 || q->n > 0)
        return;
    idmap_del(&m->queues, q->key);
    free(q->jheap);
    free(q->key);
    free(q);
}

/* ---- vectors --------------------------------------------------------------
 */

static void vec_push(void ***arr, size_t *n, size_t *cap, void *v)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16, bytes;
        if (!size_mul(ncap, sizeof(void *), &bytes))
            BUG("vector too large");
        *arr = xrealloc(*arr, bytes);
        *cap = ncap;
    }
    (*arr)[(*n)++] = v;
}

static void vec_remove(void **arr, size_t *n, void *v)
{
    for (size_t i = 0; i < *n; i++) {
        if (arr[i] == v) {
            memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(void *));
            (*n)--;
            return;
        }
    }
}

/* ---- events ----------------------------------------------------------------
 */

static bool events_on(const struct model *m)
{
    return !m->loading && m->store && store_wants_events(m->store);
}

static void picture(const struct mjob *j, struct batch_job_picture *p)
{
    p->state = model_job_state_name(j->state);
    p->terminate_reason = j->terminate_reason;
    p->user_terminated = j->user_terminated;
    p->assigned = j->assigned;
    /* A preparing task is assigned, not yet running: Scheduled (§2.4). */
    p->running = (uint64_t)j->counts[TASK_RUNNING];
    p->failed = (uint64_t)j->failed;
}

static const char *job_name(const struct mjob *j)
{
    const char *n = json_string_value(json_object_get(j->spec, "displayName"));

    return n && *n ? n : j->id;
}

static void event_base(struct batch_event *ev, const char *account,
                       enum batch_event_kind kind, const char *id,
                       const char *old_state, const char *new_state)
{
    memset(ev, 0, sizeof(*ev));
    ev->account = account;
    ev->kind = kind;
    ev->id = id;
    ev->old_state = old_state;
    ev->new_state = new_state;
    ev->time_ms = timefmt_now_ms();
}

static void task_event(struct model *m, struct mtask *t, const char *old,
                       const char *new_state,
                       const struct batch_job_picture *before)
{
    struct batch_event ev;

    event_base(&ev, t->job->account, BATCH_EVENT_TASK, t->id, old, new_state);
    ev.job_id = t->job->id;
    ev.job_name = job_name(t->job);
    if (new_state && t->state == TASK_COMPLETED) {
        ev.has_exit_code = t->has_exit;
        ev.exit_code = t->exit_code;
        ev.failure_code = t->fail ? t->fail->code : NULL;
    }
    if (before)
        ev.job_before = *before;
    else
        picture(t->job, &ev.job_before);
    picture(t->job, &ev.job_after);
    store_event(m->store, &ev);
}

static void job_event(struct model *m, struct mjob *j, const char *old,
                      const char *new_state,
                      const struct batch_job_picture *before)
{
    struct batch_event ev;
    char *subs = NULL;

    event_base(&ev, j->account, BATCH_EVENT_JOB, j->id, old, new_state);
    ev.job_id = j->id;
    ev.job_name = job_name(j);
    if (before)
        ev.job_before = *before;
    else
        picture(j, &ev.job_before);
    picture(j, &ev.job_after);
    if (!new_state)
        ev.job_after.state = NULL;
    if (!old) {
        json_t *s = json_object_get(j->spec, "notificationSubscriptions");
        if (json_is_array(s))
            subs = json_dumps(s, JSON_COMPACT);
        ev.subscriptions = subs;
    }
    store_event(m->store, &ev);
    free(subs);
}

static void node_event(struct model *m, struct mnode *n, const char *old,
                       const char *new_state)
{
    struct batch_event ev;

    event_base(&ev, n->pool->account, BATCH_EVENT_NODE, n->id, old, new_state);
    ev.pool_id = n->pool->id;
    store_event(m->store, &ev);
}

static void pool_event(struct model *m, struct mpool *p, const char *old,
                       const char *new_state)
{
    struct batch_event ev;

    event_base(&ev, p->account, BATCH_EVENT_POOL, p->id, old, new_state);
    ev.pool_id = p->id;
    store_event(m->store, &ev);
}

void model_event_task_removed(struct model *m, struct mtask *t)
{
    if (events_on(m))
        task_event(m, t, model_task_state_name(t->state), NULL, NULL);
}

void model_event_job_removed(struct model *m, struct mjob *j)
{
    if (events_on(m))
        job_event(m, j, model_job_state_name(j->state), NULL, NULL);
}

void model_event_node_removed(struct model *m, struct mnode *n)
{
    if (events_on(m))
        node_event(m, n, model_node_state_name(n->state), NULL);
}

void model_event_pool_removed(struct model *m, struct mpool *p)
{
    if (events_on(m))
        pool_event(m, p, model_pool_state_name(p->state), NULL);
}

/* ---- pools and nodes -------------------------------------------------------
 */

struct mpool *model_pool_new(struct model *m, const char *account,
                             const char *id, json_t *spec, int64_t now)
{
    struct mpool *p = xcalloc(1, sizeof(*p));
    char *k = model_key(account, id);

    p->rowid = model_next_rowid(m);
    p->account = xstrdup(account);
    p->id = xstrdup(id);
    p->spec = spec;
    p->state = POOL_ACTIVE;
    p->alloc = POOL_STEADY;
    p->created_ms = p->modified_ms = p->state_ms = p->alloc_ms = now;
    p->etag = model_next_etag(m);
    model_pool_apply_spec(p);
    if (idmap_put(&m->pools, k, p) < 0)
        BUG("pool id taken");
    free(k);
    vec_push((void ***)&m->pool_list, &m->npools, &m->pools_cap, p);
    p->queue = model_queue_get(m, account, id);
    p->queue->pool = p;
    if (events_on(m))
        pool_event(m, p, NULL, model_pool_state_name(p->state));
    return p;
}

void model_pool_free(struct model *m, struct mpool *p)
{
    char *k;

    if (!p)
        return;
    while (p->nnodes)
        model_node_free(m, p->nodes[p->nnodes - 1]);
    k = model_key(p->account, p->id);
    idmap_del(&m->pools, k);
    free(k);
    vec_remove((void **)m->pool_list, &m->npools, p);
    if (p->queue) {
        p->queue->pool = NULL;
        model_queue_maybe_free(m, p->queue);
    }
    json_decref(p->spec);
    json_decref(p->resize_errors);
    free(p->nodes);
    free(p->account);
    free(p->id);
    free(p);
}

void model_pool_apply_spec(struct mpool *p)
{
    json_t *v;

    v = json_object_get(p->spec, "targetDedicatedNodes");
    p->target = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    v = json_object_get(p->spec, "targetLowPriorityNodes");
    p->target_low = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    v = json_object_get(p->spec, "taskSlotsPerNode");
    p->slots = json_is_integer(v) ? (int)json_integer_value(v) : 1;
    v = json_object_get(p->spec, "resizeTimeout");
    p->resize_timeout_ms = 15 * 60 * 1000;
    if (json_is_string(v))
        timefmt_parse_duration(json_string_value(v), &p->resize_timeout_ms);
    v = json_object_get(p->spec, "x-shoal-allocation");
    p->join_mode =
        json_is_string(v) && str_ieq(json_string_value(v), "jointoken");
}

struct mnode *model_node_new(struct model *m, struct mpool *p, const char *id,
                             int64_t now)
{
    struct mnode *n = xcalloc(1, sizeof(*n));

    n->rowid = model_next_rowid(m);
    n->pool = p;
    n->id = xstrdup(id);
    n->state = NODE_CREATING;
    n->state_ms = n->alloc_ms = now;
    n->sched_enabled = true;
    n->pid = -1;
    if (idmap_put(&m->nodes, id, n) < 0)
        BUG("node id taken");
    vec_push((void ***)&p->nodes, &p->nnodes, &p->nodes_cap, n);
    if (events_on(m))
        node_event(m, n, NULL, model_node_state_name(n->state));
    return n;
}

void model_node_free(struct model *m, struct mnode *n)
{
    if (!n)
        return;
    idmap_del(&m->nodes, n->id);
    vec_remove((void **)n->pool->nodes, &n->pool->nnodes, n);
    for (size_t i = 0; i < n->nruns; i++) {
        struct mrun *r = n->runs[i];
        if (r->task)
            r->task->run = NULL;
        if (r->job)
            r->job->nruns--;
        free(r);
    }
    for (size_t i = 0; i < n->npurges; i++)
        free(n->purges[i]);
    free(n->purges);
    free(n->runs);
    model_fail_free(n->st_fail);
    free(n->id);
    free(n);
}

void model_node_set_state(struct model *m, struct mnode *n, enum node_state s,
                          int64_t now)
{
    enum node_state old = n->state;

    if (old == s)
        return;
    n->state = s;
    n->state_ms = now;
    if (events_on(m))
        node_event(m, n, model_node_state_name(old), model_node_state_name(s));
}

void model_pool_set_state(struct model *m, struct mpool *p, enum pool_state s,
                          int64_t now)
{
    enum pool_state old = p->state;

    if (old == s)
        return;
    p->state = s;
    p->state_ms = now;
    p->modified_ms = now;
    if (events_on(m))
        pool_event(m, p, model_pool_state_name(old), model_pool_state_name(s));
}

void model_pool_set_alloc(struct mpool *p, enum pool_alloc a, int64_t now)
{
    if (p->alloc == a)
        return;
    p->alloc = a;
    p->alloc_ms = now;
}

/* ---- jobs
 * --------------------------------------------------------------------- */

struct mjob *model_job_new(struct model *m, const char *account, const char *id,
                           json_t *spec, int64_t now)
{
    struct mjob *j = xcalloc(1, sizeof(*j));
    char *k = model_key(account, id);

    j->rowid = model_next_rowid(m);
    j->account = xstrdup(account);
    j->id = xstrdup(id);
    j->spec = spec;
    j->state = JOB_ACTIVE;
    j->created_ms = j->modified_ms = j->state_ms = j->start_ms = now;
    j->etag = model_next_etag(m);
    j->qidx = SIZE_MAX;
    idmap_init(&j->tasks_by_id);
    if (idmap_put(&m->jobs, k, j) < 0)
        BUG("job id taken");
    free(k);
    u64map_put(&m->job_rows, j->rowid, j);
    vec_push((void ***)&m->job_list, &m->njobs, &m->jobs_cap, j);
    model_job_apply_spec(m, j);
    prep_job_init(j);
    jobmgr_job_init(j);
    if (events_on(m))
        job_event(m, j, NULL, model_job_state_name(j->state), NULL);
    return j;
}

void model_job_free(struct model *m, struct mjob *j)
{
    char *k;

    if (!j)
        return;
    j->ntasks_frozen = true; /* no compaction while we walk the vector */
    for (size_t i = 0; i < j->ntasks; i++) {
        if (!j->tasks[i])
            continue;
        /* Out of the queue first (callers normally did that already). */
        sched_dequeue(j->tasks[i]);
        model_task_free(m, j->tasks[i]);
    }
    k = model_key(j->account, j->id);
    idmap_del(&m->jobs, k);
    free(k);
    u64map_del(&m->job_rows, j->rowid);
    vec_remove((void **)m->job_list, &m->njobs, j);
    if (j->queue) {
        j->queue->njobs--;
        model_queue_maybe_free(m, j->queue);
    }
    idmap_release(&j->tasks_by_id);
    deps_job_free(j);
    prep_job_free(m, j);
    jobmgr_job_free(j);
    json_decref(j->spec);
    free(j->theap);
    free(j->tasks);
    free(j->terminate_reason);
    free(j->account);
    free(j->id);
    free(j);
}

void model_job_apply_spec(struct model *m, struct mjob *j)
{
    json_t *v, *c;
    const char *pool_id;

    v = json_object_get(j->spec, "priority");
    j->priority = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    v = json_object_get(j->spec, "onAllTasksComplete");
    j->terminate_on_complete =
        json_is_string(v) && str_ieq(json_string_value(v), "terminatejob");
    c = json_object_get(j->spec, "constraints");
    v = json_object_get(c, "maxTaskRetryCount");
    j->max_retries = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    v = json_object_get(c, "maxWallClockTime");
    j->max_wall_ms = TIMEFMT_DURATION_INF;
    if (json_is_string(v))
        timefmt_parse_duration(json_string_value(v), &j->max_wall_ms);
    pool_id = json_string_value(
        json_object_get(json_object_get(j->spec, "poolInfo"), "poolId"));
    if (!pool_id)
        pool_id = "";
    if (!j->queue ||
        !str_ieq(j->queue->key + strlen(j->account) + 1, pool_id)) {
        struct mqueue *old = j->queue;
        j->queue = model_queue_get(m, j->account, pool_id);
        j->queue->njobs++;
        if (old) {
            old->njobs--;
            model_queue_maybe_free(m, old);
        }
    }
}

void model_job_set_state(struct model *m, struct mjob *j, enum job_state s,
                         int64_t now)
{
    struct batch_job_picture before;
    bool ev = events_on(m);

    if (j->state == s)
        return;
    if (ev)
        picture(j, &before);
    j->prev_state = j->state;
    j->prev_state_ms = j->state_ms;
    j->has_prev = true;
    j->state = s;
    j->state_ms = now;
    j->modified_ms = now;
    if (ev)
        job_event(m, j, before.state, model_job_state_name(s), &before);
}

/* ---- tasks
 * ------------------------------------------------------------------- */

static void job_count(struct mjob *j, struct mtask *t, int delta)
{
    j->counts[t->state] += delta;
    j->slot_counts[t->state] += delta * t->slots;
    if (t->state == TASK_COMPLETED) {
        if (t->result == RESULT_FAILURE) {
            j->failed += delta;
            j->slots_failed += delta * t->slots;
        } else {
            j->succeeded += delta;
            j->slots_succeeded += delta * t->slots;
        }
    }
}

struct mtask *model_task_new(struct model *m, struct mjob *j, const char *id,
                             char *spec_take, json_t *spec_json, int64_t now)
{
    struct mtask *t = xcalloc(1, sizeof(*t));

    t->rowid = model_next_rowid(m);
    t->seq = t->rowid;
    t->job = j;
    t->id = xstrdup(id);
    t->spec = spec_take;
    t->state = TASK_ACTIVE;
    t->created_ms = t->modified_ms = t->state_ms = now;
    t->etag = model_next_etag(m);
    t->heap_idx = SIZE_MAX;
    if (spec_json)
        model_task_apply_spec_json(t, spec_json);
    else
        model_task_apply_spec(t);
    if (idmap_put(&j->tasks_by_id, id, t) < 0)
        BUG("task id taken");
    u64map_put(&m->tasks, t->rowid, t);
    t->job_idx = j->ntasks;
    vec_push((void ***)&j->tasks, &j->ntasks, &j->tasks_cap, t);
    j->live++;
    job_count(j, t, 1);
    if (events_on(m))
        task_event(m, t, NULL, model_task_state_name(t->state), NULL);
    return t;
}

void model_task_free(struct model *m, struct mtask *t)
{
    struct mjob *j;

    if (!t)
        return;
    j = t->job;
    if (t->run)
        t->run->task = NULL;
    job_count(j, t, -1);
    idmap_del(&j->tasks_by_id, t->id);
    u64map_del(&m->tasks, t->rowid);
    j->tasks[t->job_idx] = NULL;
    j->live--;
    /* Compact the vector when it is mostly holes (job_idx is refreshed). */
    if (!j->ntasks_frozen && j->ntasks > 64 && j->live < j->ntasks / 4) {
        size_t w = 0;
        for (size_t i = 0; i < j->ntasks; i++) {
            if (!j->tasks[i])
                continue;
            j->tasks[i]->job_idx = w;
            j->tasks[w++] = j->tasks[i];
        }
        j->ntasks = w;
    }
    model_fail_free(t->fail);
    free(t->node_id);
    free(t->node_pool);
    free(t->dep_ranges);
    free(t->affinity);
    free(t->spec);
    free(t->id);
    free(t);
}

json_t *model_task_spec_json(const struct mtask *t)
{
    return json_loads(t->spec, 0, NULL);
}

void model_task_apply_spec(struct mtask *t)
{
    json_t *spec = model_task_spec_json(t);

    model_task_apply_spec_json(t, spec);
    json_decref(spec);
}

void model_task_apply_spec_json(struct mtask *t, json_t *spec)
{
    json_t *v, *c;

    t->slots = 1;
    t->max_retries = -2;
    t->max_wall_ms = TIMEFMT_DURATION_INF;
    t->retention_ms = -1;
    FREE_AND_NULL(t->affinity);
    if (!spec)
        return;
    v = json_object_get(json_object_get(spec, "affinityInfo"), "affinityId");
    if (json_is_string(v)) {
        /* Nodes show affinityId "TVM:<node id>"; a bare node id works too. */
        const char *a = json_string_value(v);
        t->affinity = xstrdup(strncasecmp(a, "TVM:", 4) == 0 ? a + 4 : a);
    }
    v = json_object_get(spec, "requiredSlots");
    if (json_is_integer(v))
        t->slots = (int)json_integer_value(v);
    c = json_object_get(spec, "constraints");
    v = json_object_get(c, "maxTaskRetryCount");
    if (json_is_integer(v))
        t->max_retries = (int)json_integer_value(v);
    v = json_object_get(c, "maxWallClockTime");
    if (json_is_string(v))
        timefmt_parse_duration(json_string_value(v), &t->max_wall_ms);
    v = json_object_get(c, "retentionTime");
    if (json_is_string(v))
        timefmt_parse_duration(json_string_value(v), &t->retention_ms);
}

void model_task_set_state(struct model *m, struct mtask *t, enum task_state s,
                          int64_t now)
{
    struct mjob *j = t->job;
    struct batch_job_picture before;
    enum task_state old = t->state;
    bool ev = events_on(m);

    if (ev)
        picture(j, &before);
    /* First assignment (attempt 1 was just taken): "tasks ever assigned". */
    if ((s == TASK_RUNNING || s == TASK_PREPARING) && old == TASK_ACTIVE &&
        t->attempt == 1)
        j->assigned++;
    job_count(j, t, -1);
    if (t->state != s) {
        t->prev_state = t->state;
        t->prev_state_ms = t->state_ms;
        t->has_prev = true;
        t->state = s;
        t->state_ms = now;
    }
    job_count(j, t, 1);
    t->modified_ms = now;
    if (ev && old != s)
        task_event(m, t, model_task_state_name(old), model_task_state_name(s),
                   &before);
}

int model_task_max_retries(const struct mtask *t)
{
    return t->max_retries != -2 ? t->max_retries : t->job->max_retries;
}

int64_t model_task_max_wall(const struct mtask *t)
{
    return t->max_wall_ms;
}

int64_t model_task_retention(const struct mtask *t)
{
    return t->retention_ms >= 0 ? t->retention_ms : RETENTION_DEFAULT_MS;
}

/* ---- storage documents
 * ---------------------------------------------------------- */

void model_json_str(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    buf_addc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf_addc(b, '\\');
            buf_addc(b, (char)*p);
        } else if (*p < 0x20) {
            char esc[7] = {
                '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0
            };
            buf_adds(b, esc);
        } else {
            buf_addc(b, (char)*p);
        }
    }
    buf_addc(b, '"');
}

static void add_fail(struct buf *b, const char *name, const struct mfail *f)
{
    if (!f)
        return;
    buf_addf(b, ",\"%s\":{\"category\":", name);
    model_json_str(b, f->category);
    buf_adds(b, ",\"code\":");
    model_json_str(b, f->code);
    buf_adds(b, ",\"message\":");
    model_json_str(b, f->message);
    buf_addc(b, '}');
}

static char *dump_take(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);

    json_decref(o);
    if (!s)
        BUG("out of memory rendering a document");
    return s;
}

uint64_t model_save_pool(struct model *m, struct mpool *p)
{
    json_t *o = json_object();

    json_object_set_new(o, "v", json_integer(MODEL_DOC_VERSION));
    json_object_set_new(o, "account", json_string(p->account));
    json_object_set_new(o, "id", json_string(p->id));
    json_object_set(o, "spec", p->spec);
    json_object_set_new(o, "state",
                        json_string(model_pool_state_name(p->state)));
    json_object_set_new(o, "alloc",
                        json_string(model_pool_alloc_name(p->alloc)));
    json_object_set_new(o, "cm", json_integer(p->created_ms));
    json_object_set_new(o, "mm", json_integer(p->modified_ms));
    json_object_set_new(o, "sm", json_integer(p->state_ms));
    json_object_set_new(o, "am", json_integer(p->alloc_ms));
    json_object_set_new(o, "etag", json_integer((json_int_t)p->etag));
    if (p->join_hash[0]) {
        json_object_set_new(o, "jt", json_string(p->join_hash));
        json_object_set_new(o, "jtm", json_integer(p->join_ms));
    }
    if (p->dealloc)
        json_object_set_new(o, "do", json_integer(p->dealloc));
    if (p->resize_errors)
        json_object_set(o, "re", p->resize_errors);
    return store_put(m->store, STORE_POOL, p->rowid, 0, dump_take(o), NULL);
}

uint64_t model_save_node(struct model *m, struct mnode *n)
{
    struct buf b = BUF_INIT;

    buf_addf(&b, "{\"v\":%d,\"id\":", MODEL_DOC_VERSION);
    model_json_str(&b, n->id);
    buf_addf(&b,
             ",\"state\":\"%s\",\"sm\":%" PRId64 ",\"am\":%" PRId64
             ",\"bm\":%" PRId64 ",\"sched\":%s,\"token\":\"%s\",\"tr\":%d,"
             "\"ts\":%d,\"pid\":%d",
             model_node_state_name(n->state), n->state_ms, n->alloc_ms,
             n->boot_ms, n->sched_enabled ? "true" : "false", n->token_hash,
             n->total_run, n->total_succeeded, (int)n->pid);
    if (n->remote) {
        buf_adds(&b, ",\"remote\":true,\"ip\":");
        model_json_str(&b, n->ip);
    }
    if (n->reboot_pending && !n->reboot_sent)
        buf_adds(&b, ",\"rb\":true");
    if (n->st_state != START_NONE) {
        buf_addf(&b,
                 ",\"st\":{\"state\":\"%s\",\"s\":%" PRId64 ",\"e\":%" PRId64
                 ",\"r\":%d,\"res\":%d,\"w\":%s",
                 n->st_state == START_RUNNING ? "running" : "completed",
                 n->st_start_ms, n->st_end_ms, n->st_retry, (int)n->st_result,
                 n->st_wait ? "true" : "false");
        if (n->st_has_exit)
            buf_addf(&b, ",\"x\":%d", n->st_exit);
        add_fail(&b, "f", n->st_fail);
        buf_addc(&b, '}');
    }
    buf_addc(&b, '}');
    return store_put(m->store, STORE_NODE, n->rowid, n->pool->rowid,
                     buf_detach(&b, NULL), NULL);
}

uint64_t model_save_job(struct model *m, struct mjob *j)
{
    json_t *o = json_object();

    json_object_set_new(o, "v", json_integer(MODEL_DOC_VERSION));
    json_object_set_new(o, "account", json_string(j->account));
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set(o, "spec", j->spec);
    json_object_set_new(o, "state",
                        json_string(model_job_state_name(j->state)));
    if (j->has_prev) {
        json_object_set_new(o, "ps",
                            json_string(model_job_state_name(j->prev_state)));
        json_object_set_new(o, "psm", json_integer(j->prev_state_ms));
    }
    json_object_set_new(o, "sm", json_integer(j->state_ms));
    json_object_set_new(o, "cm", json_integer(j->created_ms));
    json_object_set_new(o, "mm", json_integer(j->modified_ms));
    json_object_set_new(o, "etag", json_integer((json_int_t)j->etag));
    json_object_set_new(o, "start", json_integer(j->start_ms));
    json_object_set_new(o, "end", json_integer(j->end_ms));
    if (j->terminate_reason)
        json_object_set_new(o, "reason", json_string(j->terminate_reason));
    if (j->user_terminated)
        json_object_set_new(o, "ut", json_true());
    prep_job_save(j, o);
    return store_put(m->store, STORE_JOB, j->rowid, 0, dump_take(o), NULL);
}

static char *task_doc(const struct mtask *t)
{
    struct buf b = BUF_INIT;

    buf_addf(&b, "{\"v\":%d,\"id\":", MODEL_DOC_VERSION);
    model_json_str(&b, t->id);
    buf_addf(&b,
             ",\"seq\":%" PRIu64 ",\"st\":\"%s\",\"sm\":%" PRId64
             ",\"cm\":%" PRId64 ",\"mm\":%" PRId64 ",\"etag\":%" PRIu64
             ",\"a\":%" PRIu32 ",\"rc\":%d,\"qc\":%d",
             t->seq, model_task_state_name(t->state), t->state_ms,
             t->created_ms, t->modified_ms, t->etag, t->attempt, t->retry_count,
             t->requeue_count);
    if (t->has_prev)
        buf_addf(&b, ",\"ps\":\"%s\",\"psm\":%" PRId64,
                 model_task_state_name(t->prev_state), t->prev_state_ms);
    if (t->last_retry_ms)
        buf_addf(&b, ",\"lr\":%" PRId64, t->last_retry_ms);
    if (t->last_requeue_ms)
        buf_addf(&b, ",\"lq\":%" PRId64, t->last_requeue_ms);
    if (t->start_ms)
        buf_addf(&b, ",\"s\":%" PRId64, t->start_ms);
    if (t->end_ms)
        buf_addf(&b, ",\"e\":%" PRId64, t->end_ms);
    if (t->has_exit)
        buf_addf(&b, ",\"x\":%d", t->exit_code);
    if (t->result != RESULT_NONE)
        buf_addf(&b, ",\"res\":%d", (int)t->result);
    if (t->deliver_seq)
        buf_addf(&b, ",\"ds\":%" PRIu64, t->deliver_seq);
    if (t->node_id) {
        buf_adds(&b, ",\"n\":");
        model_json_str(&b, t->node_id);
    }
    if (t->node_pool) {
        buf_adds(&b, ",\"np\":");
        model_json_str(&b, t->node_pool);
    }
    if (t->files_cleaned)
        buf_adds(&b, ",\"fc\":true");
    add_fail(&b, "f", t->fail);
    buf_addc(&b, '}');
    return buf_detach(&b, NULL);
}

uint64_t model_save_task(struct model *m, struct mtask *t)
{
    return store_put(m->store, STORE_TASK, t->rowid, t->job->rowid, task_doc(t),
                     NULL);
}

uint64_t model_save_task_spec(struct model *m, struct mtask *t)
{
    return store_put(m->store, STORE_TASK, t->rowid, t->job->rowid, task_doc(t),
                     xstrdup(t->spec));
}

uint64_t model_delete_pool(struct model *m, uint64_t rowid)
{
    return store_del(m->store, STORE_POOL, rowid);
}

uint64_t model_delete_node(struct model *m, uint64_t rowid)
{
    return store_del(m->store, STORE_NODE, rowid);
}

uint64_t model_delete_job(struct model *m, uint64_t rowid)
{
    return store_del(m->store, STORE_JOB, rowid);
}

uint64_t model_delete_task(struct model *m, uint64_t rowid)
{
    return store_del(m->store, STORE_TASK, rowid);
}

/* ---- loading
 * ---------------------------------------------------------------------- */

static int64_t jint(json_t *o, const char *k, int64_t dflt)
{
    json_t *v = json_object_get(o, k);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static struct mfail *load_fail(json_t *f)
{
    if (!json_is_object(f))
        return NULL;
    return model_fail_new(jstr(f, "category"), jstr(f, "code"),
                          jstr(f, "message"));
}

static void bump(struct model *m, uint64_t rowid, uint64_t etag)
{
    if (rowid >= m->next_rowid)
        m->next_rowid = rowid + 1;
    if (etag > m->etag_counter)
        m->etag_counter = etag;
}

static json_t *load_doc(const char *doc, const char *what, uint64_t rowid,
                        struct err *err)
{
    json_error_t je;
    json_t *o = json_loads(doc, 0, &je);

    if (!json_is_object(o) || !jstr(o, "id")) {
        json_decref(o);
        err_set(err, ERR_INVALID, "InternalError",
                "%s row %" PRIu64 " does not parse: %s", what, rowid, je.text);
        return NULL;
    }
    return o;
}

int model_load_pool(struct model *m, uint64_t rowid, const char *doc,
                    struct err *err)
{
    json_t *o = load_doc(doc, "pool", rowid, err);
    json_t *spec;
    struct mpool *p;
    uint64_t save_next;

    if (!o)
        return -ERR_INVALID;
    if (!jstr(o, "account") || !json_is_object(json_object_get(o, "spec")) ||
        model_pool_find(m, jstr(o, "account"), jstr(o, "id"))) {
        json_decref(o);
        return err_set(err, ERR_INVALID, "InternalError",
                       "pool row %" PRIu64 " is bad", rowid);
    }
    spec = json_object_get(o, "spec");
    json_incref(spec);
    save_next = m->next_rowid;
    p = model_pool_new(m, jstr(o, "account"), jstr(o, "id"), spec, 0);
    m->next_rowid = save_next;
    p->rowid = rowid;
    p->state = str_ieq(jstr(o, "state") ? jstr(o, "state") : "", "deleting")
                   ? POOL_DELETING
                   : POOL_ACTIVE;
    p->alloc = POOL_STEADY;
    if (jstr(o, "alloc") && str_ieq(jstr(o, "alloc"), "resizing"))
        p->alloc = POOL_RESIZING;
    p->created_ms = jint(o, "cm", 0);
    p->modified_ms = jint(o, "mm", 0);
    p->state_ms = jint(o, "sm", 0);
    p->alloc_ms = jint(o, "am", 0);
    p->etag = (uint64_t)jint(o, "etag", 0);
    if (jstr(o, "jt") && strlen(jstr(o, "jt")) < sizeof(p->join_hash)) {
        snprintf(p->join_hash, sizeof(p->join_hash), "%s", jstr(o, "jt"));
        p->join_ms = jint(o, "jtm", 0);
    }
    p->dealloc = (int)jint(o, "do", 0);
    if (json_is_array(json_object_get(o, "re")))
        p->resize_errors = json_incref(json_object_get(o, "re"));
    bump(m, rowid, p->etag);
    json_decref(o);
    return 0;
}

int model_load_node(struct model *m, uint64_t rowid, uint64_t pool_rowid,
                    const char *doc, struct err *err)
{
    json_t *o = load_doc(doc, "node", rowid, err);
    struct mpool *p = NULL;
    struct mnode *n;
    json_t *st;
    uint64_t save_next;
    const char *tok;

    if (!o)
        return -ERR_INVALID;
    for (size_t i = 0; i < m->npools; i++) {
        if (m->pool_list[i]->rowid == pool_rowid)
            p = m->pool_list[i];
    }
    if (!p || model_node_find(m, jstr(o, "id"))) {
        json_decref(o);
        return err_set(err, ERR_INVALID, "InternalError",
                       "node row %" PRIu64 " has no pool", rowid);
    }
    save_next = m->next_rowid;
    n = model_node_new(m, p, jstr(o, "id"), jint(o, "am", 0));
    m->next_rowid = save_next;
    n->rowid = rowid;
    if (!jstr(o, "state") ||
        model_node_state_parse(jstr(o, "state"), &n->state) < 0)
        n->state = NODE_UNKNOWN;
    n->state_ms = jint(o, "sm", 0);
    n->boot_ms = jint(o, "bm", 0);
    n->sched_enabled = !json_is_false(json_object_get(o, "sched"));
    tok = jstr(o, "token");
    snprintf(n->token_hash, sizeof(n->token_hash), "%s", tok ? tok : "");
    n->total_run = (int)jint(o, "tr", 0);
    n->total_succeeded = (int)jint(o, "ts", 0);
    n->pid = (pid_t)jint(o, "pid", -1);
    n->remote = json_is_true(json_object_get(o, "remote"));
    if (jstr(o, "ip"))
        snprintf(n->ip, sizeof(n->ip), "%s", jstr(o, "ip"));
    n->reboot_pending = json_is_true(json_object_get(o, "rb"));
    st = json_object_get(o, "st");
    if (json_is_object(st)) {
        n->st_state =
            str_ieq(jstr(st, "state") ? jstr(st, "state") : "", "running")
                ? START_RUNNING
                : START_COMPLETED;
        n->st_start_ms = jint(st, "s", 0);
        n->st_end_ms = jint(st, "e", 0);
        n->st_retry = (int)jint(st, "r", 0);
        n->st_wait = json_is_true(json_object_get(st, "w"));
        n->st_result = (enum task_result)jint(st, "res", 0);
        if (json_object_get(st, "x")) {
            n->st_has_exit = true;
            n->st_exit = (int)jint(st, "x", 0);
        }
        n->st_fail = load_fail(json_object_get(st, "f"));
    }
    bump(m, rowid, 0);
    json_decref(o);
    return 0;
}

int model_load_job(struct model *m, uint64_t rowid, const char *doc,
                   struct err *err)
{
    json_t *o = load_doc(doc, "job", rowid, err);
    json_t *spec;
    struct mjob *j;
    uint64_t save_next;

    if (!o)
        return -ERR_INVALID;
    if (!jstr(o, "account") || !json_is_object(json_object_get(o, "spec")) ||
        model_job_find(m, jstr(o, "account"), jstr(o, "id"))) {
        json_decref(o);
        return err_set(err, ERR_INVALID, "InternalError",
                       "job row %" PRIu64 " is bad", rowid);
    }
    spec = json_object_get(o, "spec");
    json_incref(spec);
    save_next = m->next_rowid;
    j = model_job_new(m, jstr(o, "account"), jstr(o, "id"), spec, 0);
    m->next_rowid = save_next;
    u64map_del(&m->job_rows, j->rowid);
    j->rowid = rowid;
    u64map_put(&m->job_rows, rowid, j);
    if (!jstr(o, "state") ||
        model_job_state_parse(jstr(o, "state"), &j->state) < 0)
        j->state = JOB_ACTIVE;
    if (jstr(o, "ps") &&
        model_job_state_parse(jstr(o, "ps"), &j->prev_state) == 0) {
        j->has_prev = true;
        j->prev_state_ms = jint(o, "psm", 0);
    }
    j->state_ms = jint(o, "sm", 0);
    j->created_ms = jint(o, "cm", 0);
    j->modified_ms = jint(o, "mm", 0);
    j->etag = (uint64_t)jint(o, "etag", 0);
    j->start_ms = jint(o, "start", 0);
    j->end_ms = jint(o, "end", 0);
    if (jstr(o, "reason"))
        j->terminate_reason = xstrdup(jstr(o, "reason"));
    j->user_terminated = json_is_true(json_object_get(o, "ut"));
    prep_job_load(m, j, o);
    bump(m, rowid, j->etag);
    json_decref(o);
    return 0;
}

int model_load_task(struct model *m, uint64_t rowid, uint64_t job_rowid,
                    const char *spec, const char *doc, struct err *err)
{
    json_t *o = load_doc(doc, "task", rowid, err);
    struct mjob *j = u64map_get(&m->job_rows, job_rowid);
    struct mtask *t;
    uint64_t save_next;
    enum task_state s = TASK_ACTIVE;

    if (!o)
        return -ERR_INVALID;
    if (!j || model_task_find(j, jstr(o, "id"))) {
        json_decref(o);
        return err_set(err, ERR_INVALID, "InternalError",
                       "task row %" PRIu64 " has no job", rowid);
    }
    save_next = m->next_rowid;
    t = model_task_new(m, j, jstr(o, "id"), xstrdup(spec), NULL, 0);
    m->next_rowid = save_next;
    u64map_del(&m->tasks, t->rowid);
    t->rowid = rowid;
    u64map_put(&m->tasks, rowid, t);
    t->seq = (uint64_t)jint(o, "seq", (int64_t)rowid);
    if (jstr(o, "st"))
        model_task_state_parse(jstr(o, "st"), &s);
    t->result = (enum task_result)jint(o, "res", 0);
    t->state_ms = jint(o, "sm", 0);
    t->created_ms = jint(o, "cm", 0);
    t->modified_ms = jint(o, "mm", 0);
    t->etag = (uint64_t)jint(o, "etag", 0);
    t->attempt = (uint32_t)jint(o, "a", 0);
    if (t->attempt > 0)
        j->assigned++;
    t->retry_count = (int)jint(o, "rc", 0);
    t->requeue_count = (int)jint(o, "qc", 0);
    if (jstr(o, "ps") &&
        model_task_state_parse(jstr(o, "ps"), &t->prev_state) == 0) {
        t->has_prev = true;
        t->prev_state_ms = jint(o, "psm", 0);
    }
    t->last_retry_ms = jint(o, "lr", 0);
    t->last_requeue_ms = jint(o, "lq", 0);
    t->start_ms = jint(o, "s", 0);
    t->end_ms = jint(o, "e", 0);
    if (json_object_get(o, "x")) {
        t->has_exit = true;
        t->exit_code = (int)jint(o, "x", 0);
    }
    t->deliver_seq = (uint64_t)jint(o, "ds", 0);
    if (jstr(o, "n"))
        t->node_id = xstrdup(jstr(o, "n"));
    if (jstr(o, "np"))
        t->node_pool = xstrdup(jstr(o, "np"));
    t->files_cleaned = json_is_true(json_object_get(o, "fc"));
    t->fail = load_fail(json_object_get(o, "f"));
    /* Recount under the loaded state and result (new() counted ACTIVE). */
    job_count(j, t, -1);
    t->result = (enum task_result)jint(o, "res", 0);
    t->state = s;
    job_count(j, t, 1);
    bump(m, rowid, t->etag);
    json_decref(o);
    return 0;
}
