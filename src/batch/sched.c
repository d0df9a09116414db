/*
 * sched.c: the scheduler.
 *
 * Purpose: decide which task runs where, and carry out every transition
 * that follows from it, so a scheduling decision is O(log n) and never a
 * scan of the tasks.
 *
 * Structures:
 *   mqueue (one per pool id): a heap of the jobs that have queued tasks,
 *     keyed by (-job priority, seq of the job's first queued task); each
 *     job keeps its queued (active) tasks in a heap of its own by seq.
 *     Taking tops yields tasks in (-priority, seq) order, as one heap of
 *     tasks would, but lets a node pass over a whole job in O(log jobs).
 *     seq is the task's arrival order and survives retries and requeues,
 *     so a retried task keeps its place.
 *   mrun: one attempt of a task on a node, holding task->slots of the
 *     node's pool->slots (all of them for a job manager task with
 *     runExclusive, jobmgr.c). node->runs lists them; task->run points
 *     back. A run outlives its task's interest in it when the task is
 *     terminated or deleted while running (run->task NULL, cancel set):
 *     the slots stay taken until the agent confirms the kill.
 *
 * Placement (sched_assign, for one node n): take the top task of the top
 * job while it fits n's free slots. Passed over, and put back in order at
 * the end of the call:
 *   - a job whose preparation failed on n (prep_gate BLOCKED): the whole
 *     job at once, however many tasks it has queued;
 *   - a task whose affinityInfo names another usable node of the pool
 *     with room for it now (that node is woken). Room already promised to
 *     tasks passed over in this call counts as taken (mnode.reserved), so
 *     a call passes over at most as many such tasks as the other nodes
 *     have free slots; when the node is busy or gone, anyone takes it.
 * There is no other limit: a node finds the first task it can take in
 * O((jobs + tasks passed over) log n), never by scanning a job's tasks.
 * Strict order otherwise: when the top task needs more requiredSlots than
 * n has free, n takes nothing more (no scan for a smaller task; a wide
 * task is never starved by narrow ones behind it); a task wider than the
 * pool's taskSlotsPerNode can never run and leaves the heap, staying
 * active (the spec only says a task runs on a node with enough free
 * slots). Priority across jobs sharing a pool is the heap key itself.
 *
 * Dependencies and exit conditions: a task waiting on dependencies
 * (deps_unmet > 0, deps.c) is never queued; every completion goes through
 * task_finish, which tells deps.c (dependents may be released); a run
 * that completes a task also applies its jobAction (exitcond.c) when the
 * job's onTaskFailure is performexitoptionsjobaction: terminate (reason
 * TaskFailed) or disable (as Job_Disable with requeue).
 *
 * Invariants:
 *   - t in its job's heap  <=>  t->state == active && job active && not
 *     running && t->deps_unmet == 0 (and t fits the pool; see placement).
 *   - j in its queue's heap  <=>  j's heap is not empty (outside
 *     sched_assign, which puts back what it passed over before it
 *     returns); queue->n is the number of queued tasks of all its jobs.
 *   - node->reserved == 0 outside sched_assign.
 *   - node->slots_used == sum of its runs' slots.
 *   - job->nruns == number of runs (anywhere) with run->job == job; a job
 *     in terminating/deleting moves on only when it reaches 0.
 *   - a task's attempt number only grows; a run is identified on the wire
 *     by (task rowid, attempt), so stale reports never touch a newer run.
 *
 * Task transitions here (see model.c for the full machines):
 *   active ──assign──▶ running        (attempt++, run created, startTime)
 *   active ──assign──▶ preparing      (the node must run the job's
 *                                      preparation first; prep.c turns it
 *                                      running when that succeeds)
 *   running ──finished, failed, retries left──▶ active (retryCount++)
 *   running ──finished──▶ completed   (result, exitCode, failureInfo)
 *   running|preparing ──lost──▶ active (requeueCount++ if it may have run)
 *   active|running ──terminate──▶ completed (TaskEnded if it was running)
 *
 * Job preparation (prep.c): sched_assign asks prep_gate for each top
 * job; a job whose preparation failed on n (waitForSuccess) is passed
 * over for n (see placement), so its tasks run on another node or wait.
 * Job manager tasks (jobmgr.c): created with their job, so they are
 * first in its order; with runExclusive a run takes every slot of its
 * node; a completed one with killJobOnCompletion terminates its job
 * (JMComplete, sched_job_check). Jobs: disable puts the job in disabling, kills
 * (requeue, terminate) or keeps (wait) its runs, and sched_job_check makes
 * it disabled once its runs are gone; enable makes it enabling, queues its
 * active tasks and makes it active. A failed attempt of a
 * disabling or disabled job still retries (queued after enable).
 * Terminating and deleting jobs also wait for their release tasks
 * (prep_release_busy) before completing or going away.
 *
 * Threads: everything runs under model->mu (the caller's), except
 * sched_tick which takes it. The waker callback is called under the lock
 * and must only resume a request (http_resume), never block.
 */
#include "batch/sched.h"

#include <stdlib.h>
#include <string.h>

#include "batch/deps.h"
#include "batch/exitcond.h"
#include "batch/jobmgr.h"
#include "batch/prep.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

static sched_wake_fn waker;
static void *waker_ctx;

void sched_set_waker(sched_wake_fn fn, void *ctx)
{
    waker = fn;
    waker_ctx = ctx;
}

/* ---- the two-level heap ------------------------------------------------- */

/*
 * A job's heap holds its queued tasks by seq (one job, one priority); the
 * queue's heap holds the jobs that have any, by (-priority, their top
 * task's seq). A job's key changes when its priority or its top task does;
 * every such change re-sifts the job.
 */
static void tset(struct mjob *j, size_t i, struct mtask *t)
{
    j->theap[i] = t;
    t->heap_idx = i;
}

static void tsift_up(struct mjob *j, size_t i)
{
    struct mtask *t = j->theap[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (j->theap[p]->seq < t->seq)
            break;
        tset(j, i, j->theap[p]);
        i = p;
    }
    tset(j, i, t);
}

static void tsift_down(struct mjob *j, size_t i)
{
    struct mtask *t = j->theap[i];

    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, c;
        if (l >= j->tn)
            break;
        c = (r < j->tn && j->theap[r]->seq < j->theap[l]->seq) ? r : l;
        if (t->seq < j->theap[c]->seq)
            break;
        tset(j, i, j->theap[c]);
        i = c;
    }
    tset(j, i, t);
}

static bool job_before(const struct mjob *a, const struct mjob *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return a->theap[0]->seq < b->theap[0]->seq;
}

static void jset(struct mqueue *q, size_t i, struct mjob *j)
{
    q->jheap[i] = j;
    j->qidx = i;
}

static void jsift_up(struct mqueue *q, size_t i)
{
    struct mjob *j = q->jheap[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!job_before(j, q->jheap[p]))
            break;
        jset(q, i, q->jheap[p]);
        i = p;
    }
    jset(q, i, j);
}

static void jsift_down(struct mqueue *q, size_t i)
{
    struct mjob *j = q->jheap[i];

    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, c;
        if (l >= q->jn)
            break;
        c = (r < q->jn && job_before(q->jheap[r], q->jheap[l])) ? r : l;
        if (!job_before(q->jheap[c], j))
            break;
        jset(q, i, q->jheap[c]);
        i = c;
    }
    jset(q, i, j);
}

/* The job's key changed: put it back in its place. */
static void job_resift(struct mqueue *q, struct mjob *j)
{
    jsift_down(q, j->qidx);
    jsift_up(q, j->qidx);
}

static void job_push(struct mqueue *q, struct mjob *j)
{
    if (q->jn == q->jcap) {
        size_t cap = q->jcap ? q->jcap * 2 : 16, bytes;
        if (!size_mul(cap, sizeof(*q->jheap), &bytes))
            BUG("queue too large");
        q->jheap = xrealloc(q->jheap, bytes);
        q->jcap = cap;
    }
    q->jheap[q->jn] = j;
    j->qidx = q->jn++;
    jsift_up(q, j->qidx);
}

static void job_pull(struct mqueue *q, struct mjob *j)
{
    size_t i = j->qidx;
    struct mjob *last;

    j->qidx = SIZE_MAX;
    last = q->jheap[--q->jn];
    if (i == q->jn)
        return;
    jset(q, i, last);
    job_resift(q, last);
}

/* Queue t in its job's heap, and the job in q when it was empty. */
static void task_push(struct mqueue *q, struct mtask *t)
{
    struct mjob *j = t->job;

    if (j->tn == j->tcap) {
        size_t cap = j->tcap ? j->tcap * 2 : 16, bytes;
        if (!size_mul(cap, sizeof(*j->theap), &bytes))
            BUG("queue too large");
        j->theap = xrealloc(j->theap, bytes);
        j->tcap = cap;
    }
    j->theap[j->tn] = t;
    t->heap_idx = j->tn++;
    tsift_up(j, t->heap_idx);
    q->n++;
    if (j->qidx == SIZE_MAX)
        job_push(q, j);
    else if (t->heap_idx == 0)
        jsift_up(q, j->qidx); /* a smaller seq on top: the key went down */
}

static void task_pull(struct mqueue *q, struct mtask *t)
{
    struct mjob *j = t->job;
    size_t i = t->heap_idx;
    struct mtask *last;

    t->heap_idx = SIZE_MAX;
    q->n--;
    last = j->theap[--j->tn];
    if (i != j->tn) {
        tset(j, i, last);
        tsift_down(j, i);
        tsift_up(j, last->heap_idx);
    }
    if (j->tn == 0)
        job_pull(q, j);
    else if (i == 0)
        jsift_down(q, j->qidx); /* a larger seq on top: the key went up */
}

static bool job_schedulable(const struct mjob *j)
{
    return j->state == JOB_ACTIVE || j->state == JOB_ENABLING;
}

/* A failed attempt may be retried (queued once the job is schedulable). */
static bool job_retries(const struct mjob *j)
{
    return j->state == JOB_ACTIVE || j->state == JOB_ENABLING ||
           j->state == JOB_DISABLING || j->state == JOB_DISABLED;
}

static void wake_pool(struct model *m, struct mqueue *q)
{
    struct mpool *p = q->pool;

    (void)m;
    if (!p || !waker)
        return;
    for (size_t i = 0; i < p->nnodes; i++) {
        struct mnode *n = p->nodes[i];
        if (n->parked && sched_node_usable(n) && n->slots_used < p->slots)
            waker(waker_ctx, n);
    }
}

static void wake_node(struct mnode *n)
{
    if (n->parked && waker)
        waker(waker_ctx, n);
}

void sched_wake_node(struct mnode *n)
{
    wake_node(n);
}

void sched_enqueue(struct model *m, struct mtask *t)
{
    struct mqueue *q = t->job->queue;

    if (t->heap_idx != SIZE_MAX || t->state != TASK_ACTIVE || t->run ||
        t->deps_unmet > 0 || !job_schedulable(t->job) || !q)
        return;
    task_push(q, t);
    wake_pool(m, q);
}

void sched_dequeue(struct mtask *t)
{
    if (t->heap_idx == SIZE_MAX)
        return;
    task_pull(t->job->queue, t);
}

void sched_job_reprioritize(struct mjob *j)
{
    /* Within the job the order is seq alone: only the job moves. */
    if (j->qidx != SIZE_MAX)
        job_resift(j->queue, j);
}

void sched_job_requeue_all(struct model *m, struct mjob *j)
{
    if (!job_schedulable(j) || j->counts[TASK_ACTIVE] == 0)
        return;
    for (size_t i = 0; i < j->ntasks; i++) {
        if (j->tasks[i])
            sched_enqueue(m, j->tasks[i]);
    }
}

/* ---- nodes ------------------------------------------------------------------
 */

bool sched_node_usable(const struct mnode *n)
{
    return (n->state == NODE_IDLE || n->state == NODE_RUNNING) &&
           n->sched_enabled && !n->removing && n->pool->state == POOL_ACTIVE;
}

void sched_node_refresh(struct model *m, struct mnode *n, int64_t now)
{
    int live = 0;

    if (n->state != NODE_IDLE && n->state != NODE_RUNNING &&
        n->state != NODE_OFFLINE)
        return;
    for (size_t i = 0; i < n->nruns; i++)
        live += n->runs[i]->task != NULL;
    /* Scheduling disabled (nodeops.c): offline once its tasks are done. */
    model_node_set_state(m, n,
                         live               ? NODE_RUNNING
                         : n->sched_enabled ? NODE_IDLE
                                            : NODE_OFFLINE,
                         now);
}

static void run_add(struct mnode *n, struct mrun *r)
{
    if (n->nruns == n->runs_cap) {
        size_t cap = n->runs_cap ? n->runs_cap * 2 : 8, bytes;
        if (!size_mul(cap, sizeof(*n->runs), &bytes))
            BUG("too many runs");
        n->runs = xrealloc(n->runs, bytes);
        n->runs_cap = cap;
    }
    n->runs[n->nruns++] = r;
    n->slots_used += r->slots;
}

/*
 * Soft affinity (affinityInfo): the node t prefers, when that is another
 * usable node of n's pool with room for t now, counting what this
 * sched_assign call already left to it (x->reserved); else NULL (n may
 * take it).
 */
static struct mnode *affinity_elsewhere(struct model *m, const struct mnode *n,
                                        const struct mtask *t)
{
    struct mnode *x;

    if (!t->affinity || str_ieq(t->affinity, n->id))
        return NULL;
    x = model_node_find(m, t->affinity);
    if (!x || x->pool != n->pool || !sched_node_usable(x) ||
        x->slots_used + x->reserved + jobmgr_slots(t, x->pool) > x->pool->slots)
        return NULL;
    return x;
}

/* A growable stash of pointers (the passes-over of one sched_assign). */
struct stash {
    void **v;
    size_t n, cap;
};

static void stash_add(struct stash *s, void *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16, bytes;
        if (!size_mul(cap, sizeof(*s->v), &bytes))
            BUG("stash too large");
        s->v = xrealloc(s->v, bytes);
        s->cap = cap;
    }
    s->v[s->n++] = p;
}

size_t sched_assign(struct model *m, struct mnode *n, uint64_t seq, size_t max,
                    struct mrun ***out, size_t *nout, size_t *cap, int64_t now)
{
    struct mqueue *q = n->pool->queue;
    struct stash jobs = { 0 }, tasks = { 0 }, promised = { 0 };
    size_t got = 0;

    if (!sched_node_usable(n) || !q)
        return 0;
    while (got < max && q->jn > 0) {
        struct mjob *j = q->jheap[0];
        struct mtask *t = j->theap[0];
        struct mnode *x;
        struct mrun *r;
        enum prep_gate gate;
        int slots;

        if (n->slots_used >= n->pool->slots)
            break; /* full: nothing to look at */
        gate = prep_gate(j, n);
        if (gate == PREP_GATE_BLOCKED) {
            /* The job's preparation failed on n: none of its tasks may
             * run here. The whole job steps aside (put back below). */
            job_pull(q, j);
            stash_add(&jobs, j);
            continue;
        }
        if (t->slots > n->pool->slots) {
            /* Can never fit on this pool: it waits (as the real service
             * leaves it active); keep the queue moving past it. */
            task_pull(q, t);
            continue;
        }
        x = affinity_elsewhere(m, n, t);
        if (x) {
            /* Leave it to the node it prefers (put back below, in order).
             * Its room is promised, so the passes-over of one call are
             * bounded by the free slots of the other nodes. */
            task_pull(q, t);
            stash_add(&tasks, t);
            if (x->reserved == 0)
                stash_add(&promised, x);
            x->reserved += jobmgr_slots(t, x->pool);
            wake_node(x);
            continue;
        }
        slots = jobmgr_slots(t, n->pool);
        if (n->slots_used + slots > n->pool->slots)
            break;
        task_pull(q, t);
        r = xcalloc(1, sizeof(*r));
        r->node = n;
        r->task = t;
        r->job = j;
        r->rowid = t->rowid;
        r->attempt = ++t->attempt;
        r->slots = slots;
        r->deliver_seq = seq;
        t->deliver_seq = seq;
        j->nruns++;
        run_add(n, r);
        t->run = r;
        t->start_ms = now;
        t->end_ms = 0;
        free(t->node_id);
        t->node_id = xstrdup(n->id);
        free(t->node_pool);
        t->node_pool = xstrdup(n->pool->id);
        t->files_cleaned = false;
        model_task_set_state(
            m, t, gate == PREP_GATE_PREPARE ? TASK_PREPARING : TASK_RUNNING,
            now);
        t->etag = model_next_etag(m);
        model_save_task(m, t);
        prep_assigned(m, j, n);
        if (*nout == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *out = xrealloc(*out, *cap * sizeof(**out));
        }
        (*out)[(*nout)++] = r;
        got++;
    }
    /* Back without waking the pool: the preferred nodes were woken. */
    for (size_t i = 0; i < tasks.n; i++)
        task_push(q, tasks.v[i]);
    for (size_t i = 0; i < jobs.n; i++) {
        struct mjob *j = jobs.v[i];
        if (j->qidx == SIZE_MAX)
            job_push(q, j);
    }
    for (size_t i = 0; i < promised.n; i++)
        ((struct mnode *)promised.v[i])->reserved = 0;
    free(jobs.v);
    free(tasks.v);
    free(promised.v);
    if (got)
        sched_node_refresh(m, n, now);
    return got;
}

struct mrun *sched_run_find(struct mnode *n, uint64_t rowid, uint32_t attempt)
{
    for (size_t i = 0; i < n->nruns; i++) {
        struct mrun *r = n->runs[i];
        if (r->rowid == rowid && r->attempt == attempt)
            return r;
    }
    return NULL;
}

void sched_run_free(struct model *m, struct mrun *r, int64_t now)
{
    struct mnode *n = r->node;

    for (size_t i = 0; i < n->nruns; i++) {
        if (n->runs[i] == r) {
            n->runs[i] = n->runs[--n->nruns];
            break;
        }
    }
    n->slots_used -= r->slots;
    if (r->task)
        r->task->run = NULL;
    if (r->job) {
        r->job->nruns--;
        if (r->job->nruns == 0)
            sched_job_check(m, r->job, now);
    }
    free(r);
    sched_node_refresh(m, n, now);
    if (n->pool->queue && n->pool->queue->n > 0 && sched_node_usable(n))
        wake_node(n);
}

/* ---- retention ----------------------------------------------------------- */

static void retain_push(struct model *m, int64_t at, uint64_t rowid)
{
    size_t i;

    if (m->nretain == m->retain_cap) {
        size_t cap = m->retain_cap ? m->retain_cap * 2 : 64, bytes;
        if (!size_mul(cap, sizeof(*m->retain), &bytes))
            BUG("retention heap too large");
        m->retain = xrealloc(m->retain, bytes);
        m->retain_cap = cap;
    }
    i = m->nretain++;
    while (i > 0 && m->retain[(i - 1) / 2].at > at) {
        m->retain[i] = m->retain[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    m->retain[i].at = at;
    m->retain[i].rowid = rowid;
}

static struct mretain retain_pop(struct model *m)
{
    struct mretain top = m->retain[0], last = m->retain[--m->nretain];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m->nretain)
            break;
        if (c + 1 < m->nretain && m->retain[c + 1].at < m->retain[c].at)
            c++;
        if (last.at <= m->retain[c].at)
            break;
        m->retain[i] = m->retain[c];
        i = c;
    }
    if (m->nretain)
        m->retain[i] = last;
    return top;
}

static void retain_task(struct model *m, struct mtask *t)
{
    int64_t r = model_task_retention(t);

    if (!t->node_id || t->files_cleaned || r >= TIMEFMT_DURATION_INF / 2)
        return;
    retain_push(m, t->end_ms + r, t->rowid);
}

/* Put "job" or "job/task" on n's purge list (the agent removes the dir). */
static void purge_add(struct mnode *n, const char *what);

static void retention_expire(struct model *m, int64_t now)
{
    while (m->nretain > 0 && m->retain[0].at <= now) {
        struct mretain e = retain_pop(m);
        struct mtask *t = u64map_get(&m->tasks, e.rowid);
        struct mnode *n;
        char *what;
        if (!t || t->state != TASK_COMPLETED || t->files_cleaned ||
            !t->node_id || t->end_ms + model_task_retention(t) > now)
            continue;
        n = model_node_find(m, t->node_id);
        if (n) {
            what = xasprintf("%s/%s", t->job->id, t->id);
            purge_add(n, what);
            free(what);
        }
        t->files_cleaned = true;
        model_save_task(m, t);
    }
}

/* ---- completion ---------------------------------------------------------- */

static void task_finish(struct model *m, struct mtask *t, int64_t now)
{
    model_task_set_state(m, t, TASK_COMPLETED, now);
    t->etag = model_next_etag(m);
    model_save_task(m, t);
    retain_task(m, t);
    deps_task_completed(m, t);
}

/* onTaskFailure performexitoptionsjobaction: t's jobAction (exitcond.c). */
static void job_action(struct model *m, struct mtask *t, int64_t now)
{
    struct mjob *j = t->job;
    struct exitcond_options xo;

    if (j->state != JOB_ACTIVE || !exitcond_job_acts(j))
        return;
    exitcond_eval(t, NULL, &xo);
    if (xo.job_action == EXITCOND_JOB_TERMINATE) {
        log_info("job action terminate job=%s task=%s", j->id, t->id);
        sched_job_terminate(m, j, "TaskFailed", now);
    } else if (xo.job_action == EXITCOND_JOB_DISABLE) {
        /* The spec: as Job_Disable with disableTasks requeue. */
        log_info("job action disable job=%s task=%s", j->id, t->id);
        sched_job_disable(m, j, "requeue", now);
    }
}

void sched_run_finished(struct model *m, struct mrun *r,
                        const struct sched_outcome *o, int64_t now)
{
    struct mtask *t = r->task;
    struct mnode *n = r->node;
    bool failed;
    int max;

    if (!t) {
        sched_run_free(m, r, now);
        return;
    }
    t->start_ms = o->start_ms > 0 ? o->start_ms : t->start_ms;
    t->end_ms = o->end_ms > 0 ? o->end_ms : now;
    t->has_exit = o->ran;
    t->exit_code = o->ran ? o->exit_code : 0;
    model_fail_free(t->fail);
    t->fail = NULL;
    failed = !o->ran || o->timed_out || o->exit_code != 0 ||
             (o->category && *o->category);
    if (failed) {
        const char *code = o->code && *o->code ? o->code : NULL;
        const char *msg = o->message && *o->message ? o->message : NULL;
        if (!code)
            code = o->timed_out ? "MaxWallClockTimeExceeded"
                   : o->ran     ? "FailureExitCode"
                                : "Unknown";
        if (!msg)
            msg = o->timed_out ? "The task exceeded its maximum wall clock time"
                  : o->ran
                      ? "The task process exited with an unexpected exit code"
                      : "The task could not be started";
        t->fail = model_fail_new(
            o->category && *o->category ? o->category : "usererror", code, msg);
    }
    t->result = failed ? RESULT_FAILURE : RESULT_SUCCESS;
    n->total_run++;
    if (!failed)
        n->total_succeeded++;
    max = model_task_max_retries(t);
    sched_run_free(m, r, now);
    if (failed && o->ran && !o->timed_out &&
        (max == -1 || t->retry_count < max) && job_retries(t->job)) {
        t->retry_count++;
        t->last_retry_ms = now;
        t->result = RESULT_NONE;
        model_task_set_state(m, t, TASK_ACTIVE, now);
        t->etag = model_next_etag(m);
        model_save_task(m, t);
        sched_enqueue(m, t);
        return;
    }
    task_finish(m, t, now);
    job_action(m, t, now);
    sched_job_check(m, t->job, now);
}

void sched_run_lost(struct model *m, struct mrun *r, bool count, int64_t now)
{
    struct mtask *t = r->task;

    sched_run_free(m, r, now);
    if (!t || (t->state != TASK_RUNNING && t->state != TASK_PREPARING))
        return;
    if (count) {
        t->requeue_count++;
        t->last_requeue_ms = now;
    }
    t->start_ms = 0;
    model_task_set_state(m, t, TASK_ACTIVE, now);
    t->etag = model_next_etag(m);
    model_save_task(m, t);
    sched_enqueue(m, t);
}

/* ---- user actions
 * ------------------------------------------------------------ */

static void cancel_run(struct mrun *r)
{
    if (r->task)
        r->task->run = NULL;
    r->task = NULL;
    r->cancel = true;
    wake_node(r->node);
}

void sched_task_terminate(struct model *m, struct mtask *t, int64_t now)
{
    if (t->state == TASK_COMPLETED)
        return;
    sched_dequeue(t);
    if (t->run) {
        struct mnode *n = t->run->node;
        cancel_run(t->run);
        sched_node_refresh(m, n, now);
    }
    t->end_ms = now;
    model_fail_free(t->fail);
    t->fail = model_fail_new("usererror", "TaskEnded",
                             "Task Was Ended by User Request");
    t->result = RESULT_FAILURE;
    task_finish(m, t, now);
    sched_job_check(m, t->job, now);
}

void sched_task_delete(struct model *m, struct mtask *t)
{
    struct mjob *j = t->job;

    sched_dequeue(t);
    if (t->run) {
        struct mnode *n = t->run->node;
        cancel_run(t->run);
        sched_node_refresh(m, n, timefmt_now_ms());
    }
    model_event_task_removed(m, t);
    model_delete_task(m, t->rowid);
    model_task_free(m, t);
    sched_job_check(m, j, timefmt_now_ms());
}

static void purge_add(struct mnode *n, const char *what)
{
    for (size_t k = 0; k < n->npurges; k++) {
        if (strcmp(n->purges[k], what) == 0)
            return;
    }
    n->purges = xrealloc(n->purges, (n->npurges + 1) * sizeof(char *));
    n->purges[n->npurges++] = xstrdup(what);
    wake_node(n);
}

void sched_purge_job(struct model *m, struct mjob *j)
{
    struct mpool *p = j->queue ? j->queue->pool : NULL;

    (void)m;
    if (!p)
        return;
    for (size_t i = 0; i < p->nnodes; i++)
        purge_add(p->nodes[i], j->id);
}

static void job_kill_runs(struct model *m, struct mjob *j, bool terminate,
                          int64_t now)
{
    for (size_t i = 0; i < j->ntasks; i++) {
        struct mtask *t = j->tasks[i];
        if (!t)
            continue;
        sched_dequeue(t);
        if (t->run && terminate) {
            sched_task_terminate(m, t, now);
        } else if (t->run) {
            struct mnode *n = t->run->node;
            cancel_run(t->run);
            sched_node_refresh(m, n, now);
        }
    }
}

void sched_job_terminate(struct model *m, struct mjob *j, const char *reason,
                         int64_t now)
{
    if (j->state == JOB_COMPLETED || j->state == JOB_TERMINATING ||
        j->state == JOB_DELETING)
        return;
    free(j->terminate_reason);
    j->terminate_reason = xstrdup(reason && *reason ? reason : "UserTerminate");
    model_job_set_state(m, j, JOB_TERMINATING, now);
    j->etag = model_next_etag(m);
    job_kill_runs(m, j, true, now);
    model_save_job(m, j);
    sched_job_check(m, j, now);
}

void sched_job_delete(struct model *m, struct mjob *j, int64_t now)
{
    if (j->state == JOB_DELETING)
        return;
    /* A job deleted before it completed runs its release tasks. */
    if (j->state != JOB_COMPLETED)
        prep_release_start(m, j);
    model_job_set_state(m, j, JOB_DELETING, now);
    j->etag = model_next_etag(m);
    job_kill_runs(m, j, false, now);
    model_save_job(m, j);
    sched_job_check(m, j, now);
}

void sched_job_disable(struct model *m, struct mjob *j,
                       const char *disable_tasks, int64_t now)
{
    /* disabling until the runs are gone (sched_job_check), then disabled;
     * disabling a disabled job again changes nothing but the ETag. */
    if (j->state != JOB_DISABLED)
        model_job_set_state(m, j, JOB_DISABLING, now);
    j->etag = model_next_etag(m);
    for (size_t i = 0; i < j->ntasks; i++) {
        struct mtask *t = j->tasks[i];
        if (!t)
            continue;
        sched_dequeue(t);
        if (!t->run || (disable_tasks && str_ieq(disable_tasks, "wait")))
            continue;
        if (disable_tasks && str_ieq(disable_tasks, "terminate")) {
            sched_task_terminate(m, t, now);
        } else {
            struct mrun *r = t->run;
            struct mnode *n = r->node;
            cancel_run(r);
            sched_node_refresh(m, n, now);
            t->requeue_count++;
            t->last_requeue_ms = now;
            t->start_ms = 0;
            model_task_set_state(m, t, TASK_ACTIVE, now);
            t->etag = model_next_etag(m);
            model_save_task(m, t);
        }
    }
    model_save_job(m, j);
    sched_job_check(m, j, now);
}

void sched_job_enable(struct model *m, struct mjob *j, int64_t now)
{
    /* enabling while its tasks go back to the queue, which is done here
     * and now: then active (both transitions are events). */
    model_job_set_state(m, j, JOB_ENABLING, now);
    j->etag = model_next_etag(m);
    sched_job_requeue_all(m, j);
    sched_job_check(m, j, now);
    model_save_job(m, j);
}

void sched_job_check(struct model *m, struct mjob *j, int64_t now)
{
    if (j->state == JOB_ENABLING) {
        model_job_set_state(m, j, JOB_ACTIVE, now);
        model_save_job(m, j);
    }
    if (j->state == JOB_DISABLING && j->nruns == 0) {
        model_job_set_state(m, j, JOB_DISABLED, now);
        model_save_job(m, j);
    }
    if (j->state == JOB_ACTIVE && jobmgr_ends_job(j)) {
        /* killJobOnCompletion: the job ends with its manager task. */
        log_info("job manager task completed job=%s task=%s", j->id, j->jm->id);
        sched_job_terminate(m, j, "JMComplete", now);
        return;
    }
    if (j->state == JOB_ACTIVE && j->terminate_on_complete &&
        j->counts[TASK_ACTIVE] == 0 && j->counts[TASK_PREPARING] == 0 &&
        j->counts[TASK_RUNNING] == 0) {
        free(j->terminate_reason);
        j->terminate_reason = xstrdup("AllTasksComplete");
        model_job_set_state(m, j, JOB_TERMINATING, now);
        j->etag = model_next_etag(m);
        model_save_job(m, j);
    }
    if (j->state == JOB_TERMINATING)
        prep_release_start(m, j);
    if (j->state == JOB_TERMINATING && j->nruns == 0 &&
        !prep_release_busy(m, j)) {
        model_job_set_state(m, j, JOB_COMPLETED, now);
        j->end_ms = now;
        j->etag = model_next_etag(m);
        model_save_job(m, j);
    }
    /* Deleting jobs are removed by the ticker (not here: callers may still
     * hold pointers into the job). */
}

void sched_node_lose_runs(struct model *m, struct mnode *n, int64_t now)
{
    while (n->nruns > 0) {
        struct mrun *r = n->runs[n->nruns - 1];
        if (r->task)
            sched_run_lost(m, r, true, now);
        else
            sched_run_free(m, r, now);
    }
}

/* ---- periodic work
 * ------------------------------------------------------------ */

void sched_tick(struct model *m, int64_t now, int64_t mono,
                int64_t heartbeat_timeout_ms)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->npools; i++) {
        struct mpool *p = m->pool_list[i];
        for (size_t k = 0; k < p->nnodes; k++) {
            struct mnode *n = p->nodes[k];
            if (n->parked && mono >= n->park_deadline_mono)
                wake_node(n);
            if (n->state == NODE_UNUSABLE || n->state == NODE_LEAVING ||
                n->removing)
                continue;
            if (mono - n->last_seen_mono > heartbeat_timeout_ms) {
                log_warn("node lost heartbeat node=%s pool=%s runs=%zu", n->id,
                         p->id, n->nruns);
                model_node_set_state(m, n, NODE_UNUSABLE, now);
                sched_node_lose_runs(m, n, now);
                model_save_node(m, n);
            }
        }
    }
    retention_expire(m, now);
    for (size_t i = 0; i < m->njobs;) {
        struct mjob *j = m->job_list[i];
        if ((j->state == JOB_ACTIVE || j->state == JOB_DISABLING ||
             j->state == JOB_DISABLED || j->state == JOB_ENABLING) &&
            j->max_wall_ms != TIMEFMT_DURATION_INF &&
            now - j->created_ms > j->max_wall_ms)
            sched_job_terminate(m, j, "MaxWallClockTimeExpiry", now);
        if (j->state == JOB_TERMINATING || j->state == JOB_ENABLING ||
            j->state == JOB_DISABLING)
            sched_job_check(m, j, now);
        if (j->state == JOB_DELETING && j->nruns == 0 &&
            !prep_release_busy(m, j)) {
            sched_purge_job(m, j);
            model_event_job_removed(m, j);
            model_delete_job(m, j->rowid);
            model_job_free(m, j);
            continue;
        }
        i++;
    }
    pthread_mutex_unlock(&m->mu);
}

void sched_recover(struct model *m, int64_t mono)
{
    deps_recover(m); /* counts first: sched_enqueue skips waiting tasks */
    for (size_t i = 0; i < m->npools; i++) {
        struct mpool *p = m->pool_list[i];
        for (size_t k = 0; k < p->nnodes; k++)
            p->nodes[k]->last_seen_mono = mono;
    }
    for (size_t i = 0; i < m->njobs; i++) {
        struct mjob *j = m->job_list[i];
        for (size_t k = 0; k < j->ntasks; k++) {
            struct mtask *t = j->tasks[k];
            struct mnode *n;
            struct mrun *r;
            if (!t)
                continue;
            if (t->state == TASK_ACTIVE) {
                sched_enqueue(m, t);
                continue;
            }
            if (t->state == TASK_COMPLETED) {
                retain_task(m, t);
                continue;
            }
            if (t->state != TASK_RUNNING && t->state != TASK_PREPARING)
                continue;
            n = t->node_id ? model_node_find(m, t->node_id) : NULL;
            if (!n) {
                /* Its node is gone: the attempt may have run. */
                t->requeue_count++;
                t->last_requeue_ms = timefmt_now_ms();
                t->start_ms = 0;
                model_task_set_state(m, t, TASK_ACTIVE, timefmt_now_ms());
                model_save_task(m, t);
                sched_enqueue(m, t);
                continue;
            }
            /* Wait for the agent to say whether it still runs it. */
            r = xcalloc(1, sizeof(*r));
            r->node = n;
            r->task = t;
            r->job = j;
            r->rowid = t->rowid;
            r->attempt = t->attempt;
            r->slots = jobmgr_slots(t, n->pool);
            r->deliver_seq = t->deliver_seq;
            r->delivered = true;
            j->nruns++;
            run_add(n, r);
            t->run = r;
        }
        /* A job manager task that completed just before a crash ends its
         * job now if that was not journalled yet. */
        if (j->state == JOB_ACTIVE && j->jm)
            sched_job_check(m, j, timefmt_now_ms());
    }
}
