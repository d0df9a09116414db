/*
 * test_batch_sched.c: the batch model, scheduler and journal
 * (src/batch/model.c, sched.c, store.c) without HTTP: queue order (job
 * priority, then arrival; re-keyed on priority changes), slot accounting
 * with requiredSlots, retries, requeues, terminate, onAllTasksComplete,
 * task counts, a save/load round trip through SQLite that rebuilds the
 * queues and the runs, passing over jobs blocked on a node and tasks that
 * prefer another node (no fixed limit), and job manager tasks.
 */
#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/batch.h"
#include "batch/jobmgr.h"
#include "batch/model.h"
#include "batch/prep.h"
#include "batch/sched.h"
#include "batch/store.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"

#include "batch_fx.h"

static int setup(void **state)
{
    *state = batch_fx_new("sched", 0);
    return 0;
}

static int teardown(void **state)
{
    batch_fx_free(*state);
    return 0;
}

static struct mjob *job(struct batch_fx *f, const char *id, const char *pool_id,
                        int prio)
{
    json_t *spec = json_pack("{s:s, s:{s:s}, s:i}", "id", id, "poolInfo",
                             "poolId", pool_id, "priority", prio);
    struct mjob *j = model_job_new(&f->m, "acct", id, spec, 1000);

    model_save_job(&f->m, j);
    return j;
}

static struct mtask *task(struct batch_fx *f, struct mjob *j, const char *id,
                          const char *extra)
{
    char *spec = xasprintf("{\"id\":\"%s\",\"commandLine\":\"x\"%s%s}", id,
                           extra ? "," : "", extra ? extra : "");
    struct mtask *t = model_task_new(&f->m, j, id, spec, NULL, 2000);

    model_save_task_spec(&f->m, t);
    sched_enqueue(&f->m, t);
    return t;
}

/* Assign up to max tasks to n; returns the ids, space separated. */
static char *assign(struct batch_fx *f, struct mnode *n, size_t max)
{
    struct mrun **runs = NULL;
    size_t nr = 0, cap = 0;
    struct buf b;

    buf_init(&b, (size_t)-1);
    sched_assign(&f->m, n, 1, max, &runs, &nr, &cap, 3000);
    for (size_t i = 0; i < nr; i++)
        buf_addf(&b, "%s%s", i ? " " : "", runs[i]->task->id);
    free(runs);
    return buf_detach(&b, NULL);
}

static void finish(struct batch_fx *f, struct mtask *t, bool ran, int code)
{
    struct sched_outcome o;

    memset(&o, 0, sizeof(o));
    o.ran = ran;
    o.exit_code = code;
    o.start_ms = 3000;
    o.end_ms = 4000;
    assert_non_null(t->run);
    sched_run_finished(&f->m, t->run, &o, 4000);
}

static void expect_assign(struct batch_fx *f, struct mnode *n, size_t max,
                          const char *want)
{
    char *got = assign(f, n, max);

    assert_string_equal(got, want);
    free(got);
}

static void test_priority_then_arrival(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *lo = job(f, "lo", "p", 0), *hi = job(f, "hi", "p", 5);
    struct mtask *a0 = task(f, lo, "a0", NULL);
    struct mtask *a1 = task(f, lo, "a1", NULL);
    struct mtask *b0 = task(f, hi, "b0", NULL);
    struct mtask *b1 = task(f, hi, "b1", NULL);

    pthread_mutex_lock(&f->m.mu);
    expect_assign(f, n, SIZE_MAX, "b0");
    expect_assign(f, n, SIZE_MAX, ""); /* one slot, taken */
    assert_int_equal(n->state, NODE_RUNNING);
    finish(f, b0, true, 0);
    assert_int_equal(n->state, NODE_IDLE);
    /* Raise lo above hi: its queued tasks move ahead. */
    json_object_set_new(lo->spec, "priority", json_integer(9));
    model_job_apply_spec(&f->m, lo);
    sched_job_reprioritize(lo);
    expect_assign(f, n, SIZE_MAX, "a0");
    finish(f, a0, true, 0);
    expect_assign(f, n, SIZE_MAX, "a1");
    finish(f, a1, true, 0);
    expect_assign(f, n, SIZE_MAX, "b1");
    finish(f, b1, true, 0);
    expect_assign(f, n, SIZE_MAX, "");
    assert_int_equal(lo->counts[TASK_COMPLETED], 2);
    assert_int_equal(hi->succeeded, 2);
    assert_int_equal(n->total_run, 4);
    pthread_mutex_unlock(&f->m.mu);
}

static void test_slots(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 3);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", "p", 0);
    struct mtask *big = task(f, j, "big", "\"requiredSlots\":2");
    struct mtask *s1 = task(f, j, "s1", NULL);
    struct mtask *s2 = task(f, j, "s2", NULL);

    pthread_mutex_lock(&f->m.mu);
    expect_assign(f, n, SIZE_MAX, "big s1");
    assert_int_equal(n->slots_used, 3);
    assert_int_equal(j->slot_counts[TASK_RUNNING], 3);
    assert_int_equal(j->counts[TASK_RUNNING], 2);
    finish(f, s1, true, 0);
    expect_assign(f, n, SIZE_MAX, "s2");
    finish(f, big, true, 0);
    finish(f, s2, true, 0);
    assert_int_equal(n->slots_used, 0);
    assert_int_equal(j->slots_succeeded, 4);
    pthread_mutex_unlock(&f->m.mu);
}

static void test_retry_and_requeue(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", "p", 0);
    struct mtask *t =
        task(f, j, "t", "\"constraints\":{\"maxTaskRetryCount\":1}");
    struct mtask *u = task(f, j, "u", NULL);
    struct mtask *d = task(f, j, "d", NULL);

    pthread_mutex_lock(&f->m.mu);
    expect_assign(f, n, SIZE_MAX, "t");
    assert_int_equal(t->attempt, 1);
    finish(f, t, true, 7);
    /* Retried: active again, ahead of u (arrival order is kept). */
    assert_int_equal(t->state, TASK_ACTIVE);
    assert_int_equal(t->retry_count, 1);
    assert_true(t->last_retry_ms > 0);
    expect_assign(f, n, SIZE_MAX, "t");
    assert_int_equal(t->attempt, 2);
    finish(f, t, true, 7);
    assert_int_equal(t->state, TASK_COMPLETED);
    assert_int_equal(t->result, RESULT_FAILURE);
    assert_true(t->has_exit);
    assert_int_equal(t->exit_code, 7);
    assert_string_equal(t->fail->code, "FailureExitCode");
    /* A download failure is not retried and has no exit code. */
    expect_assign(f, n, SIZE_MAX, "u");
    {
        struct sched_outcome o;
        memset(&o, 0, sizeof(o));
        o.ran = false;
        o.category = "usererror";
        o.code = "BlobNotFound";
        o.message = "missing";
        sched_run_finished(&f->m, u->run, &o, 5000);
    }
    assert_int_equal(u->state, TASK_COMPLETED);
    assert_false(u->has_exit);
    assert_string_equal(u->fail->code, "BlobNotFound");
    /* A lost run is requeued, counted. */
    expect_assign(f, n, SIZE_MAX, "d");
    sched_run_lost(&f->m, d->run, true, 6000);
    assert_int_equal(d->state, TASK_ACTIVE);
    assert_int_equal(d->requeue_count, 1);
    assert_int_equal(n->slots_used, 0);
    /* An undelivered one is requeued, not counted. */
    expect_assign(f, n, SIZE_MAX, "d");
    sched_run_lost(&f->m, d->run, false, 6000);
    assert_int_equal(d->requeue_count, 1);
    assert_int_equal(d->attempt, 2);
    assert_int_equal(j->counts[TASK_ACTIVE], 1);
    assert_int_equal(j->failed, 2);
    pthread_mutex_unlock(&f->m.mu);
}

static void test_terminate_and_auto_complete(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 2);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", "p", 0);
    struct mtask *a = task(f, j, "a", NULL);
    struct mtask *b = task(f, j, "b", NULL);
    struct mrun *r;

    pthread_mutex_lock(&f->m.mu);
    json_object_set_new(j->spec, "onAllTasksComplete",
                        json_string("terminatejob"));
    model_job_apply_spec(&f->m, j);
    expect_assign(f, n, SIZE_MAX, "a b");
    r = a->run;
    sched_task_terminate(&f->m, a, 5000);
    assert_int_equal(a->state, TASK_COMPLETED);
    assert_string_equal(a->fail->code, "TaskEnded");
    assert_null(a->run);
    /* The run holds its slot until the agent confirms the kill. */
    assert_true(r->cancel);
    assert_null(r->task);
    assert_int_equal(n->slots_used, 2);
    finish(f, b, true, 0);
    /* All tasks done, but a cancelled run remains: terminating. */
    assert_int_equal(j->state, JOB_TERMINATING);
    assert_string_equal(j->terminate_reason, "AllTasksComplete");
    sched_run_free(&f->m, r, 6000);
    assert_int_equal(j->state, JOB_COMPLETED);
    assert_int_equal(n->slots_used, 0);
    pthread_mutex_unlock(&f->m.mu);
}

static void test_disabled_job_not_scheduled(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", "p", 0);

    task(f, j, "a", NULL);
    pthread_mutex_lock(&f->m.mu);
    sched_job_disable(&f->m, j, "requeue", 3000);
    expect_assign(f, n, SIZE_MAX, "");
    sched_job_enable(&f->m, j, 3000);
    expect_assign(f, n, SIZE_MAX, "a");
    /* Offline and starting nodes get nothing. */
    pthread_mutex_unlock(&f->m.mu);
}

static void test_many_in_order(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *js[5];
    int last_prio = 1 << 30;
    uint64_t last_seq = 0;

    pthread_mutex_lock(&f->m.mu);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof(id), "j%d", i);
        js[i] = job(f, id, "p", (i * 37) % 11 - 5);
    }
    for (int i = 0; i < 3000; i++) {
        char id[16];
        snprintf(id, sizeof(id), "t%d", i);
        task(f, js[(i * 7) % 5], id, NULL);
    }
    for (int i = 0; i < 3000; i++) {
        struct mrun **runs = NULL;
        size_t nr = 0, cap = 0;
        struct mtask *t;
        sched_assign(&f->m, n, 1, 1, &runs, &nr, &cap, 3000);
        assert_int_equal(nr, 1);
        t = runs[0]->task;
        free(runs);
        assert_true(t->job->priority <= last_prio);
        if (t->job->priority == last_prio)
            assert_true(t->seq > last_seq);
        last_prio = t->job->priority;
        last_seq = t->seq;
        finish(f, t, true, 0);
    }
    assert_int_equal(p->queue->n, 0);
    pthread_mutex_unlock(&f->m.mu);
}

static void test_round_trip(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 2);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "Job", "p", 3);
    struct mtask *a, *b, *c;
    struct err e = ERR_INIT;
    uint64_t arow, brow;

    pthread_mutex_lock(&f->m.mu);
    a = task(f, j, "a", NULL);
    b = task(f, j, "b", "\"constraints\":{\"maxWallClockTime\":\"PT5S\"}");
    c = task(f, j, "c", NULL);
    (void)c;
    expect_assign(f, n, 1, "a");
    finish(f, a, true, 3);
    expect_assign(f, n, 1, "b");
    arow = a->rowid;
    brow = b->rowid;
    pthread_mutex_unlock(&f->m.mu);
    assert_int_equal(store_wait(f->st, store_last_ticket(f->st), &e), 0);

    batch_fx_close(f);
    batch_fx_open(f);
    sched_recover(&f->m, timefmt_mono_ms());
    pthread_mutex_lock(&f->m.mu);
    j = model_job_find(&f->m, "acct", "job"); /* case-insensitive */
    assert_non_null(j);
    assert_string_equal(j->id, "Job");
    assert_int_equal(j->priority, 3);
    a = model_task_find(j, "A");
    b = model_task_find(j, "b");
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->rowid, arow);
    assert_int_equal(b->rowid, brow);
    assert_int_equal(a->state, TASK_COMPLETED);
    assert_int_equal(a->exit_code, 3);
    assert_int_equal(a->result, RESULT_FAILURE);
    assert_string_equal(a->fail->code, "FailureExitCode");
    assert_int_equal(b->state, TASK_RUNNING);
    assert_int_equal(b->max_wall_ms, 5000);
    assert_int_equal(j->counts[TASK_ACTIVE], 1);
    assert_int_equal(j->counts[TASK_RUNNING], 1);
    assert_int_equal(j->failed, 1);
    /* The running task waits on its node for the agent's word. */
    n = model_node_find(&f->m, "n1");
    assert_non_null(n);
    assert_non_null(b->run);
    assert_ptr_equal(b->run->node, n);
    assert_int_equal(n->slots_used, 1);
    /* c is queued again; ids and etags keep growing. */
    assert_int_equal(n->pool->queue->n, 1);
    {
        struct mtask *d = task(f, j, "d", NULL);
        assert_true(d->rowid > brow);
        assert_true(d->etag > b->etag);
    }
    expect_assign(f, n, SIZE_MAX, "c");
    pthread_mutex_unlock(&f->m.mu);
}

/* ---- passing over what a node cannot take -------------------------------- */

/* The agent on n reports that the preparation of job_id failed there. */
static void prep_failed(struct batch_fx *f, struct mnode *n, const char *job_id)
{
    json_t *preps = json_pack(
        "[{s:s, s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:{s:s, s:s, s:s}}]", "job",
        job_id, "kind", "prep", "n", 1, "state", "completed", "start", 2500,
        "end", 2600, "exit", 3, "retry", 0, "fail", "category", "usererror",
        "code", "FailureExitCode", "message", "exit");
    json_t *acks = json_array();

    prep_apply_reports(&f->m, n, preps, acks, 2700);
    json_decref(preps);
    json_decref(acks);
}

static struct mjob *prep_job(struct batch_fx *f, const char *id,
                             const char *pool_id)
{
    json_t *spec =
        json_pack("{s:s, s:{s:s}, s:{s:s}}", "id", id, "poolInfo", "poolId",
                  pool_id, "jobPreparationTask", "commandLine", "prep");
    struct err e = ERR_INIT;
    struct mjob *j;

    assert_int_equal(prep_spec_normalize(spec, &e), 0);
    j = model_job_new(&f->m, "acct", id, spec, 1000);
    model_save_job(&f->m, j);
    return j;
}

/*
 * A node passes over a whole job whose preparation failed there, however
 * many tasks it has queued (it used to give up after 32 of them and take
 * nothing that pass), and the queue keeps its order.
 */
static void test_blocked_job_passed_over(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *a = batch_fx_node(f, p, "a");
    struct mnode *b = batch_fx_node(f, p, "b");
    struct mjob *pj, *other;
    struct mrun **runs = NULL;
    size_t nr = 0, cap = 0;
    struct mtask *first;

    pthread_mutex_lock(&f->m.mu);
    pj = prep_job(f, "pj", "p");
    for (int i = 0; i < 1000; i++) {
        char id[16];
        snprintf(id, sizeof(id), "t%d", i);
        task(f, pj, id, NULL);
    }
    /* a tries t0, its preparation fails: t0 goes back, uncounted. */
    sched_assign(&f->m, a, 1, 1, &runs, &nr, &cap, 3000);
    assert_int_equal(nr, 1);
    first = runs[0]->task;
    assert_string_equal(first->id, "t0");
    assert_int_equal(first->state, TASK_PREPARING);
    prep_failed(f, a, "pj");
    assert_int_equal(prep_gate(pj, a), PREP_GATE_BLOCKED);
    sched_run_lost(&f->m, runs[0], false, 3000);
    free(runs);
    assert_int_equal(p->queue->n, 1000);
    /* Nothing else is queued: a has nothing to take, and says so. */
    expect_assign(f, a, SIZE_MAX, "");
    assert_false(prep_queue_runnable(p->queue, a));
    assert_true(prep_queue_runnable(p->queue, b));
    /* Another job's tasks, behind the 1,000: a takes one in one pass. */
    other = job(f, "other", "p", 0);
    task(f, other, "x", NULL);
    task(f, other, "y", NULL);
    assert_true(prep_queue_runnable(p->queue, a));
    expect_assign(f, a, SIZE_MAX, "x");
    /* Everything passed over is back, in order: b takes t0 first. */
    assert_int_equal(p->queue->n, 1001);
    assert_int_equal(pj->tn, 1000);
    expect_assign(f, b, SIZE_MAX, "t0");
    assert_int_equal(p->queue->n, 1000);
    pthread_mutex_unlock(&f->m.mu);
}

/*
 * Affinity: a node passes over tasks that prefer another node only as far
 * as that node has room (counting what it was already left in this pass);
 * past that it takes them, so no pass scans a long run of them.
 */
static void test_affinity_room(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 2);
    struct mnode *a = batch_fx_node(f, p, "a");
    struct mnode *b = batch_fx_node(f, p, "b");
    struct mjob *j = job(f, "j", "p", 0);

    pthread_mutex_lock(&f->m.mu);
    for (int i = 0; i < 200; i++) {
        char id[16];
        snprintf(id, sizeof(id), "a%d", i);
        task(f, j, id, "\"affinityInfo\":{\"affinityId\":\"TVM:b\"}");
    }
    /* b has room for two: a leaves it a0 and a1, takes a2 and a3. */
    expect_assign(f, a, SIZE_MAX, "a2 a3");
    assert_int_equal(a->reserved, 0);
    assert_int_equal(b->reserved, 0);
    expect_assign(f, b, SIZE_MAX, "a0 a1");
    /* Both full. */
    expect_assign(f, a, SIZE_MAX, "");
    assert_int_equal(p->queue->n, 196);
    pthread_mutex_unlock(&f->m.mu);
}

/* ---- job manager tasks ------------------------------------------------- */

static struct mjob *jm_job(struct batch_fx *f, const char *id, bool kill,
                           bool exclusive)
{
    json_t *spec = json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:b, s:b}}", "id", id,
                             "poolInfo", "poolId", "p", "jobManagerTask", "id",
                             "m", "commandLine", "mgr", "killJobOnCompletion",
                             kill, "runExclusive", exclusive);
    struct err e = ERR_INIT;
    struct mjob *j;

    assert_int_equal(jobmgr_spec_normalize(spec, &e), 0);
    j = model_job_new(&f->m, "acct", id, spec, 1000);
    model_save_job(&f->m, j);
    assert_non_null(jobmgr_task_add(&f->m, j, 1000));
    sched_job_check(&f->m, j, 1000);
    return j;
}

static void test_job_manager(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 2);
    struct mnode *n1 = batch_fx_node(f, p, "n1");
    struct mnode *n2 = batch_fx_node(f, p, "n2");
    struct mjob *j, *k, *s;
    struct mtask *m, *t1, *t2;
    struct mrun *r1, *r2;
    struct err e = ERR_INIT;
    json_t *bad;

    pthread_mutex_lock(&f->m.mu);
    /* Defaults; an id taken by the preparation task is refused. */
    bad = json_pack("{s:{s:s}, s:{s:s, s:s}}", "jobPreparationTask",
                    "commandLine", "p", "jobManagerTask", "id",
                    "JobPreparation", "commandLine", "m");
    assert_int_equal(prep_spec_normalize(bad, &e), 0);
    assert_int_equal(jobmgr_spec_normalize(bad, &e), -ERR_INVALID);
    assert_string_equal(e.svc, "InvalidPropertyValue");
    json_decref(bad);
    bad = json_pack("{s:{s:s, s:s}}", "jobManagerTask", "id", "m",
                    "commandLine", "m");
    assert_int_equal(jobmgr_spec_normalize(bad, &e), 0);
    assert_true(json_is_true(json_object_get(
        json_object_get(bad, "jobManagerTask"), "killJobOnCompletion")));
    assert_true(json_is_true(json_object_get(
        json_object_get(bad, "jobManagerTask"), "runExclusive")));
    json_decref(bad);

    /* Made with its job, first in the job's order; a job with only its
     * manager task is not "complete". */
    j = jm_job(f, "j", true, true);
    json_object_set_new(j->spec, "onAllTasksComplete",
                        json_string("terminatejob"));
    model_job_apply_spec(&f->m, j);
    m = model_task_find(j, "M");
    assert_non_null(m);
    assert_true(jobmgr_is(m));
    assert_int_equal(j->state, JOB_ACTIVE);
    t1 = task(f, j, "t1", NULL);
    t2 = task(f, j, "t2", NULL);
    assert_false(jobmgr_is(t1));
    /* runExclusive: alone on n1, holding both slots. */
    expect_assign(f, n1, SIZE_MAX, "m");
    assert_int_equal(n1->slots_used, 2);
    assert_int_equal(j->slot_counts[TASK_RUNNING], 1);
    expect_assign(f, n1, SIZE_MAX, "");
    expect_assign(f, n2, SIZE_MAX, "t1 t2");
    r1 = t1->run;
    r2 = t2->run;
    /* It completes (even failing): the job ends, JMComplete, and its
     * running tasks are terminated. */
    finish(f, m, true, 1);
    assert_int_equal(n1->slots_used, 0);
    assert_int_equal(j->state, JOB_TERMINATING);
    assert_string_equal(j->terminate_reason, "JMComplete");
    assert_int_equal(t1->state, TASK_COMPLETED);
    assert_string_equal(t1->fail->code, "TaskEnded");
    sched_run_free(&f->m, r1, 5000);
    sched_run_free(&f->m, r2, 5000);
    assert_int_equal(j->state, JOB_COMPLETED);

    /* killJobOnCompletion false: the job goes on; runExclusive false: it
     * shares its node. An exclusive one waits for a node with nothing
     * running, and nothing overtakes it meanwhile. */
    k = jm_job(f, "k", false, false);
    task(f, k, "k1", NULL);
    expect_assign(f, n1, SIZE_MAX, "m k1");
    finish(f, model_task_find(k, "m"), true, 0);
    assert_int_equal(k->state, JOB_ACTIVE);
    s = jm_job(f, "s", true, true);
    task(f, s, "s1", NULL);
    expect_assign(f, n1, SIZE_MAX, "");
    expect_assign(f, n2, SIZE_MAX, "m");
    expect_assign(f, n1, SIZE_MAX, "s1");
    finish(f, model_task_find(k, "k1"), true, 0);
    assert_int_equal(k->state, JOB_ACTIVE);
    pthread_mutex_unlock(&f->m.mu);

    /* Reload: the job's manager settings come back from its spec, and the
     * running exclusive run holds its node's slots again. */
    assert_int_equal(store_wait(f->st, store_last_ticket(f->st), &e), 0);
    batch_fx_close(f);
    batch_fx_open(f);
    sched_recover(&f->m, timefmt_mono_ms());
    pthread_mutex_lock(&f->m.mu);
    s = model_job_find(&f->m, "acct", "s");
    assert_non_null(s->jm);
    assert_string_equal(s->jm->id, "m");
    assert_true(s->jm->kill);
    n2 = model_node_find(&f->m, "n2");
    assert_int_equal(n2->slots_used, 2);
    k = model_job_find(&f->m, "acct", "k");
    assert_false(k->jm->kill);
    assert_int_equal(k->state, JOB_ACTIVE);
    pthread_mutex_unlock(&f->m.mu);
}

/* ---- events ---------------------------------------------------------- */

struct evlog {
    pthread_mutex_t mu;
    char line[64][160];
    int n;
    int committed;
};

static int on_event(void *ctx, struct db *db, const struct batch_event *ev,
                    struct err *err)
{
    struct evlog *l = ctx;

    (void)db;
    (void)err;
    pthread_mutex_lock(&l->mu);
    if (l->n < 64) {
        if (ev->kind == BATCH_EVENT_TASK || ev->kind == BATCH_EVENT_JOB)
            snprintf(l->line[l->n++], 160,
                     "%d %s %s>%s asg=%llu/%llu "
                     "run=%llu/%llu fail=%llu exit=%d",
                     (int)ev->kind, ev->id, ev->old_state ? ev->old_state : "-",
                     ev->new_state ? ev->new_state : "-",
                     (unsigned long long)ev->job_before.assigned,
                     (unsigned long long)ev->job_after.assigned,
                     (unsigned long long)ev->job_before.running,
                     (unsigned long long)ev->job_after.running,
                     (unsigned long long)ev->job_after.failed,
                     ev->has_exit_code ? ev->exit_code : -1);
        else
            snprintf(l->line[l->n++], 160, "%d %s %s>%s", (int)ev->kind, ev->id,
                     ev->old_state ? ev->old_state : "-",
                     ev->new_state ? ev->new_state : "-");
    }
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static void on_committed(void *ctx)
{
    struct evlog *l = ctx;

    pthread_mutex_lock(&l->mu);
    l->committed++;
    pthread_mutex_unlock(&l->mu);
}

static void test_events(void **state)
{
    struct batch_fx *f = *state;
    struct evlog log;
    struct batch_event_sink sink = { on_event, on_committed, &log };
    struct err e = ERR_INIT;
    struct mpool *p;
    struct mnode *n;
    struct mjob *j;
    struct mtask *t;
    static const char *const want[] = {
        "1 p ->active",
        "2 n1 ->creating",
        "2 n1 creating>idle",
        "3 j ->active asg=0/0 run=0/0 fail=0 exit=-1",
        "4 t ->active asg=0/0 run=0/0 fail=0 exit=-1",
        "4 t active>running asg=0/1 run=0/1 fail=0 exit=-1",
        "2 n1 idle>running",
        "2 n1 running>idle",
        "4 t running>completed asg=1/1 run=1/0 fail=1 exit=2",
        "3 j active>terminating asg=1/1 run=0/0 fail=1 exit=-1",
        "3 j terminating>completed asg=1/1 run=0/0 fail=1 exit=-1",
        "4 t completed>- asg=1/1 run=0/0 fail=1 exit=-1",
    };

    memset(&log, 0, sizeof(log));
    pthread_mutex_init(&log.mu, NULL);
    store_set_sink(f->st, &sink);
    pthread_mutex_lock(&f->m.mu);
    p = batch_fx_pool(f, "p", 1);
    n = model_node_new(&f->m, p, "n1", 1000);
    model_node_set_state(&f->m, n, NODE_IDLE, 1000);
    j = job(f, "j", "p", 0);
    t = task(f, j, "t", NULL);
    expect_assign(f, n, SIZE_MAX, "t");
    finish(f, t, true, 2);
    j->user_terminated = true;
    sched_job_terminate(&f->m, j, NULL, 5000);
    sched_task_delete(&f->m, t);
    pthread_mutex_unlock(&f->m.mu);
    assert_int_equal(store_wait(f->st, store_last_ticket(f->st), &e), 0);
    pthread_mutex_lock(&log.mu);
    assert_int_equal(log.n, (int)ARRAY_SIZE(want));
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        assert_string_equal(log.line[i], want[i]);
    assert_true(log.committed >= 1);
    pthread_mutex_unlock(&log.mu);
    store_set_sink(f->st, NULL);
    pthread_mutex_destroy(&log.mu);
}

static void test_idmap(void **state)
{
    struct idmap m = IDMAP_INIT;
    struct u64map u = U64MAP_INIT;
    int vals[2000];

    (void)state;
    for (int i = 0; i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "Key%d", i);
        vals[i] = i;
        assert_int_equal(idmap_put(&m, k, &vals[i]), 0);
        u64map_put(&u, (uint64_t)i + 1, &vals[i]);
    }
    assert_int_equal(idmap_put(&m, "KEY7", &vals[0]), -ERR_CONFLICT);
    assert_ptr_equal(idmap_get(&m, "key1999"), &vals[1999]);
    for (int i = 0; i < 2000; i += 2) {
        char k[16];
        snprintf(k, sizeof(k), "kEy%d", i);
        assert_ptr_equal(idmap_del(&m, k), &vals[i]);
        assert_ptr_equal(u64map_del(&u, (uint64_t)i + 1), &vals[i]);
    }
    for (int i = 0; i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%d", i);
        if (i % 2)
            assert_ptr_equal(idmap_get(&m, k), &vals[i]);
        else
            assert_null(idmap_get(&m, k));
        assert_ptr_equal(u64map_get(&u, (uint64_t)i + 1),
                         i % 2 ? &vals[i] : NULL);
    }
    assert_int_equal(m.n, 1000);
    idmap_release(&m);
    u64map_release(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_priority_then_arrival, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_and_requeue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_terminate_and_auto_complete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_disabled_job_not_scheduled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocked_job_passed_over, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_affinity_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_manager, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test(test_idmap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
