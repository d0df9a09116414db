/*
 * test_batch_deps.c: task dependencies, exit conditions and placement
 * (src/batch/deps.c, exitcond.c and their hooks in sched.c) without HTTP:
 * the dependency bookkeeping on 100,000-task chains, fan-outs and ranges
 * held to a linear number of operations (deps_ops counts them; no timing),
 * diamonds, blocking and satisfying failures, reactivation, exit options,
 * job actions, a restart that rebuilds the counts from storage, soft
 * affinity and requiredSlots.
 */
#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/deps.h"
#include "batch/exitcond.h"
#include "batch/model.h"
#include "batch/sched.h"
#include "batch/store.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"

#include "batch_fx.h"

#define BIG_N 100000

static int setup(void **state)
{
    *state = batch_fx_new("deps", 0);
    return 0;
}

static int teardown(void **state)
{
    batch_fx_free(*state);
    return 0;
}

/* A job on pool "p"; deps: usesTaskDependencies; on_fail: onTaskFailure. */
static struct mjob *job(struct batch_fx *f, const char *id, bool deps,
                        const char *on_fail)
{
    json_t *spec = json_pack("{s:s, s:{s:s}, s:b}", "id", id, "poolInfo",
                             "poolId", "p", "usesTaskDependencies", deps);
    struct mjob *j;

    if (on_fail)
        json_object_set_new(spec, "onTaskFailure", json_string(on_fail));
    j = model_job_new(&f->m, "acct", id, spec, 1000);
    model_save_job(&f->m, j);
    return j;
}

/* Add a task the way task_api.c does: create, register, save, offer. */
static struct mtask *task(struct batch_fx *f, struct mjob *j, const char *id,
                          const char *extra)
{
    char *spec = xasprintf("{\"id\":\"%s\",\"commandLine\":\"x\"%s%s}", id,
                           extra ? "," : "", extra ? extra : "");
    json_t *o = json_loads(spec, 0, NULL);
    struct mtask *t;

    assert_non_null(o);
    t = model_task_new(&f->m, j, id, spec, o, 2000);
    deps_task_added(&f->m, t, o);
    model_save_task_spec(&f->m, t);
    sched_enqueue(&f->m, t);
    json_decref(o);
    return t;
}

static void finish_run(struct batch_fx *f, struct mrun *r, bool ran, int code,
                       const char *fail_code)
{
    struct sched_outcome o;

    memset(&o, 0, sizeof(o));
    o.ran = ran;
    o.exit_code = code;
    o.start_ms = 3000;
    o.end_ms = 4000;
    if (fail_code) {
        o.category = "usererror";
        o.code = fail_code;
    }
    sched_run_finished(&f->m, r, &o, 4000);
}

static void finish(struct batch_fx *f, struct mtask *t, bool ran, int code)
{
    assert_non_null(t->run);
    finish_run(f, t->run, ran, code, NULL);
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

static void expect_assign(struct batch_fx *f, struct mnode *n, size_t max,
                          const char *want)
{
    char *got = assign(f, n, max);

    assert_string_equal(got, want);
    free(got);
}

/*
 * Run everything runnable on n until nothing is left, each run ending with
 * exit 0; order[] gets the tasks in the order they were started. Returns
 * how many ran.
 */
static size_t drain(struct batch_fx *f, struct mnode *n, struct mtask **order,
                    size_t max)
{
    size_t total = 0;

    for (;;) {
        struct mrun **runs = NULL;
        size_t nr = 0, cap = 0;
        sched_assign(&f->m, n, 1, SIZE_MAX, &runs, &nr, &cap, 3000);
        if (nr == 0) {
            free(runs);
            return total;
        }
        for (size_t i = 0; i < nr; i++) {
            if (order && total < max)
                order[total] = runs[i]->task;
            total++;
            finish_run(f, runs[i], true, 0, NULL);
        }
        free(runs);
    }
}

static void save_wait(struct batch_fx *f)
{
    struct err e = ERR_INIT;

    assert_int_equal(store_wait(f->st, store_last_ticket(f->st), &e), 0);
}

/* ---- graphs at scale: operations, not time ----------------------------- */

static void chain(struct batch_fx *f, bool reverse)
{
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", true, NULL);
    struct mtask **order = xcalloc(BIG_N, sizeof(*order));
    char id[32], extra[64];

    pthread_mutex_lock(&f->m.mu);
    for (int k = 0; k < BIG_N; k++) {
        int i = reverse ? BIG_N - 1 - k : k;
        snprintf(id, sizeof(id), "c%d", i);
        snprintf(extra, sizeof(extra), "\"dependsOn\":{\"taskIds\":[\"c%d\"]}",
                 i - 1);
        task(f, j, id, i ? extra : NULL);
    }
    /* Only the head of the chain is runnable. */
    assert_int_equal(j->queue->n, 1);
    assert_int_equal(drain(f, n, order, BIG_N), BIG_N);
    for (int i = 0; i < BIG_N; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        assert_string_equal(order[i]->id, id);
    }
    assert_int_equal(j->succeeded, BIG_N);
    /* Linear: a lookup and a wait per edge at add, a visit per release. */
    assert_true(deps_ops(j) <= 3ull * BIG_N);
    pthread_mutex_unlock(&f->m.mu);
    free(order);
}

static void test_chain(void **state)
{
    chain(*state, false);
}

/* Dependents added before the tasks they wait on (ids not yet known). */
static void test_chain_reverse(void **state)
{
    chain(*state, true);
}

static void test_fanout(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 256);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", true, NULL);
    const char *dep = "\"dependsOn\":{\"taskIds\":[\"root\"]}";
    struct mtask *root;
    char id[32];

    pthread_mutex_lock(&f->m.mu);
    /* The leaves first: they wait on an id nobody has added yet. */
    for (int i = 0; i < BIG_N; i++) {
        snprintf(id, sizeof(id), "leaf%d", i);
        task(f, j, id, dep);
    }
    assert_int_equal(j->queue->n, 0);
    root = task(f, j, "root", NULL);
    assert_int_equal(j->queue->n, 1);
    expect_assign(f, n, SIZE_MAX, "root");
    finish(f, root, true, 0);
    /* One release makes every leaf runnable at once. */
    assert_int_equal(j->queue->n, BIG_N);
    assert_int_equal(drain(f, n, NULL, 0), BIG_N);
    assert_int_equal(j->succeeded, BIG_N + 1);
    assert_true(deps_ops(j) <= 3ull * BIG_N + 10);
    pthread_mutex_unlock(&f->m.mu);
}

static void test_ranges(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", true, NULL);
    struct mtask *join, *huge, *t;
    char id[32], extra[96];
    uint64_t ops;

    pthread_mutex_lock(&f->m.mu);
    /* A join on the whole range, added first, then a chain of ranges:
     * task i waits on [i-1, i-1] (canonical decimal ids). */
    snprintf(extra, sizeof(extra),
             "\"dependsOn\":{\"taskIdRanges\":[{\"start\":0,\"end\":%d}]}",
             BIG_N - 1);
    join = task(f, j, "join", extra);
    for (int i = 0; i < BIG_N; i++) {
        snprintf(id, sizeof(id), "%d", i);
        snprintf(extra, sizeof(extra),
                 "\"dependsOn\":{\"taskIdRanges\":[{\"start\":%d,\"end\":%d}]}",
                 i - 1, i - 1);
        task(f, j, id, i ? extra : NULL);
    }
    assert_int_equal(j->queue->n, 1);
    assert_int_equal(join->deps_unmet, 1);
    assert_int_equal(drain(f, n, NULL, 0), BIG_N + 1);
    assert_int_equal(join->state, TASK_COMPLETED);
    /* Each id of the join's range: a visit, two cursor steps, a wait. */
    assert_true(deps_ops(j) <= 8ull * BIG_N + 16);

    /* A range over ids that do not all exist waits on the first missing
     * one, at a cost of the ids that do exist. */
    ops = deps_ops(j);
    huge = task(f, j, "huge",
                "\"dependsOn\":{\"taskIdRanges\":[{\"start\":0,"
                "\"end\":2147483647}]}");
    assert_int_equal(huge->deps_unmet, 1);
    assert_true(deps_ops(j) - ops <= BIG_N + 4);
    /* "007" is not in [7, 7]; "7" is. */
    t = task(f, j, "r7",
             "\"dependsOn\":{\"taskIdRanges\":[{\"start\":7,"
             "\"end\":7}],\"taskIds\":[\"007\"]}");
    assert_int_equal(t->deps_unmet, 1);
    task(f, j, "007", NULL);
    expect_assign(f, n, SIZE_MAX, "007");
    finish(f, model_task_find(j, "007"), true, 0);
    expect_assign(f, n, SIZE_MAX, "r7");
    finish(f, t, true, 0);
    expect_assign(f, n, SIZE_MAX, "");
    assert_int_equal(huge->state, TASK_ACTIVE);
    pthread_mutex_unlock(&f->m.mu);
}

static void test_diamond(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 4);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", true, NULL);
    struct mtask *a, *b, *c, *d;

    pthread_mutex_lock(&f->m.mu);
    d = task(f, j, "d", "\"dependsOn\":{\"taskIds\":[\"b\",\"C\"]}");
    b = task(f, j, "b", "\"dependsOn\":{\"taskIds\":[\"a\"]}");
    c = task(f, j, "c", "\"dependsOn\":{\"taskIds\":[\"a\"]}");
    a = task(f, j, "a", NULL);
    assert_int_equal(d->deps_unmet, 2);
    expect_assign(f, n, SIZE_MAX, "a");
    finish(f, a, true, 0);
    expect_assign(f, n, SIZE_MAX, "b c");
    finish(f, c, true, 0);
    expect_assign(f, n, SIZE_MAX, ""); /* d still waits for b */
    assert_int_equal(d->deps_unmet, 1);
    finish(f, b, true, 0);
    expect_assign(f, n, SIZE_MAX, "d");
    finish(f, d, true, 0);
    assert_int_equal(j->succeeded, 4);
    pthread_mutex_unlock(&f->m.mu);
}

/* Task_Reactivate as task_api.c does it. */
static void reactivate(struct batch_fx *f, struct mtask *t)
{
    t->retry_count = 0;
    t->has_exit = false;
    t->exit_code = 0;
    model_fail_free(t->fail);
    t->fail = NULL;
    t->result = RESULT_NONE;
    t->start_ms = t->end_ms = 0;
    model_task_set_state(&f->m, t, TASK_ACTIVE, 5000);
    model_save_task(&f->m, t);
    sched_enqueue(&f->m, t);
}

static void test_failure_blocks_satisfy_releases(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 4);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", true, NULL);
    struct mtask *a, *b, *s, *s2, *z, *z2, *e;

    pthread_mutex_lock(&f->m.mu);
    a = task(f, j, "a", NULL);
    b = task(f, j, "b", "\"dependsOn\":{\"taskIds\":[\"a\"]}");
    /* Exit 3 satisfies by its code; any other failure by default. */
    s = task(f, j, "s",
             "\"exitConditions\":{\"exitCodes\":[{\"code\":3,\"exitOptions\":"
             "{\"dependencyAction\":\"satisfy\"}}]}");
    s2 = task(f, j, "s2", "\"dependsOn\":{\"taskIds\":[\"s\"]}");
    /* A success that blocks: exit 0 listed with block. */
    z = task(f, j, "z",
             "\"exitConditions\":{\"exitCodeRanges\":[{\"start\":0,\"end\":0,"
             "\"exitOptions\":{\"dependencyAction\":\"block\"}}]}");
    z2 = task(f, j, "z2", "\"dependsOn\":{\"taskIds\":[\"z\"]}");
    e = task(f, j, "e", "\"dependsOn\":{\"taskIds\":[\"a\",\"s\"]}");
    expect_assign(f, n, SIZE_MAX, "a s z");
    finish(f, a, true, 1);
    finish(f, s, true, 3);
    finish(f, z, true, 0);
    assert_int_equal(a->result, RESULT_FAILURE);
    assert_int_equal(z->result, RESULT_SUCCESS);
    expect_assign(f, n, SIZE_MAX, "s2");
    finish(f, s2, true, 0);
    expect_assign(f, n, SIZE_MAX, "");
    /* Blocked: still active, visibly so, and never queued. */
    assert_int_equal(b->state, TASK_ACTIVE);
    assert_int_equal(z2->state, TASK_ACTIVE);
    assert_int_equal(e->deps_unmet, 1);
    assert_int_equal(b->heap_idx, SIZE_MAX);
    /* Reactivated, the failed dependency runs again; its success
     * releases both of its dependents. */
    reactivate(f, a);
    expect_assign(f, n, SIZE_MAX, "a");
    finish(f, a, true, 0);
    expect_assign(f, n, SIZE_MAX, "b e");
    finish(f, b, true, 0);
    finish(f, e, true, 0);
    assert_int_equal(z2->state, TASK_ACTIVE);
    pthread_mutex_unlock(&f->m.mu);
}

/* A terminated dependent keeps waiting; reactivated, it still waits. */
static void test_terminated_dependent(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", true, NULL);
    struct mtask *a, *b;

    pthread_mutex_lock(&f->m.mu);
    b = task(f, j, "b", "\"dependsOn\":{\"taskIds\":[\"a\"]}");
    sched_task_terminate(&f->m, b, 3000);
    assert_int_equal(b->state, TASK_COMPLETED);
    reactivate(f, b);
    expect_assign(f, n, SIZE_MAX, "");
    a = task(f, j, "a", NULL);
    expect_assign(f, n, SIZE_MAX, "a");
    finish(f, a, true, 0);
    expect_assign(f, n, SIZE_MAX, "b");
    /* Deleting a waiting dependent leaves a stale waiter, skipped. */
    finish(f, b, true, 0);
    b = task(f, j, "w", "\"dependsOn\":{\"taskIds\":[\"later\"]}");
    sched_task_delete(&f->m, b);
    a = task(f, j, "later", NULL);
    expect_assign(f, n, SIZE_MAX, "later");
    finish(f, a, true, 0);
    expect_assign(f, n, SIZE_MAX, "");
    pthread_mutex_unlock(&f->m.mu);
}

/* ---- exit conditions --------------------------------------------------- */

struct xcase {
    bool ran;
    int code;
    const char *fail_code; /* failureInfo code, NULL for a success */
    int want_action;
    bool want_satisfy;
};

static void test_exit_options(void **state)
{
    struct batch_fx *f = *state;
    struct mjob *j = job(f, "j", true, NULL);
    const char *xc =
        "\"exitConditions\":{"
        "\"exitCodes\":[{\"code\":0,\"exitOptions\":{\"jobAction\":"
        "\"terminate\"}},{\"code\":5,\"exitOptions\":{\"jobAction\":\"none\","
        "\"dependencyAction\":\"satisfy\"}}],"
        "\"exitCodeRanges\":[{\"start\":10,\"end\":20,\"exitOptions\":{"
        "\"jobAction\":\"disable\"}}],"
        "\"preProcessingError\":{\"dependencyAction\":\"satisfy\"},"
        "\"fileUploadError\":{\"jobAction\":\"none\"},"
        "\"default\":{\"jobAction\":\"disable\",\"dependencyAction\":"
        "\"satisfy\"}}";
    static const struct xcase cases[] = {
        /* exit 0 listed: terminate, but still satisfies (code 0) */
        { true, 0, NULL, EXITCOND_JOB_TERMINATE, true },
        { true, 5, "FailureExitCode", EXITCOND_JOB_NONE, true },
        /* range: its jobAction; dependencyAction defaults to block */
        { true, 15, "FailureExitCode", EXITCOND_JOB_DISABLE, false },
        { true, 7, "FailureExitCode", EXITCOND_JOB_DISABLE, true },
        /* never ran: preProcessingError; jobAction defaults terminate */
        { false, 0, "BlobNotFound", EXITCOND_JOB_TERMINATE, true },
        /* upload error after exit 0 (listed): the code's entry wins; what
         * it leaves out takes the failure defaults */
        { true, 0, "FileUploadMiscError", EXITCOND_JOB_TERMINATE, false },
        /* an unlisted code with an upload error: fileUploadError */
        { true, 9, "FileUploadAccessDenied", EXITCOND_JOB_NONE, false },
    };
    struct mtask *t;
    struct exitcond_options xo;

    pthread_mutex_lock(&f->m.mu);
    t = task(f, j, "t", xc);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        t->has_exit = cases[i].ran;
        t->exit_code = cases[i].code;
        model_fail_free(t->fail);
        t->fail = cases[i].fail_code
                      ? model_fail_new("usererror", cases[i].fail_code, "m")
                      : NULL;
        t->result = t->fail ? RESULT_FAILURE : RESULT_SUCCESS;
        exitcond_eval(t, NULL, &xo);
        if ((int)xo.job_action != cases[i].want_action ||
            xo.satisfy != cases[i].want_satisfy)
            fail_msg("case %zu: action %d satisfy %d", i, (int)xo.job_action,
                     (int)xo.satisfy);
    }
    /* No exitConditions: the defaults. */
    t = task(f, j, "plain", NULL);
    t->result = RESULT_SUCCESS;
    exitcond_eval(t, NULL, &xo);
    assert_int_equal(xo.job_action, EXITCOND_JOB_NONE);
    assert_true(xo.satisfy);
    t->result = RESULT_FAILURE;
    exitcond_eval(t, NULL, &xo);
    assert_int_equal(xo.job_action, EXITCOND_JOB_TERMINATE);
    assert_false(xo.satisfy);
    pthread_mutex_unlock(&f->m.mu);
}

static void test_add_checks(void **state)
{
    struct batch_fx *f = *state;
    struct mjob *plain = job(f, "plain", false, NULL);
    struct mjob *acts = job(f, "acts", true, "performexitoptionsjobaction");
    json_t *dep = json_loads("{\"dependsOn\":{\"taskIds\":[\"a\"]}}", 0, NULL);
    json_t *ja = json_loads("{\"exitConditions\":{\"exitCodeRanges\":[{"
                            "\"start\":1,\"end\":2,\"exitOptions\":{"
                            "\"jobAction\":\"disable\"}}]}}",
                            0, NULL);
    json_t *none = json_loads("{\"exitConditions\":{\"default\":{"
                              "\"jobAction\":\"none\"}}}",
                              0, NULL);
    struct err e = ERR_INIT;

    pthread_mutex_lock(&f->m.mu);
    assert_int_equal(deps_check_add(plain, dep, &e), -ERR_INVALID);
    assert_string_equal(e.svc, "TaskDependenciesNotSpecifiedOnJob");
    assert_int_equal(deps_check_add(acts, dep, NULL), 0);
    err_clear(&e);
    assert_int_equal(exitcond_check_add(plain, ja, &e), -ERR_INVALID);
    assert_string_equal(e.svc, "InvalidPropertyValue");
    assert_string_equal(e.details[0].value,
                        "exitConditions.exitCodeRanges[0].exitOptions."
                        "jobAction");
    assert_int_equal(exitcond_check_add(plain, none, NULL), 0);
    assert_int_equal(exitcond_check_add(acts, ja, NULL), 0);
    pthread_mutex_unlock(&f->m.mu);
    json_decref(dep);
    json_decref(ja);
    json_decref(none);
}

static void test_job_actions(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 4);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *quiet = job(f, "quiet", false, NULL);
    struct mjob *term = job(f, "term", false, "performexitoptionsjobaction");
    struct mjob *dis = job(f, "dis", false, "performexitoptionsjobaction");
    struct mtask *q, *t, *t2, *d, *d2;

    pthread_mutex_lock(&f->m.mu);
    q = task(f, quiet, "q", NULL);
    t = task(f, term, "t", NULL);
    t2 = task(f, term, "t2", NULL);
    d = task(f, dis, "d",
             "\"exitConditions\":{\"exitCodes\":[{\"code\":0,"
             "\"exitOptions\":{\"jobAction\":\"disable\"}}]}");
    d2 = task(f, dis, "d2", NULL);
    expect_assign(f, n, SIZE_MAX, "q t t2 d");
    /* noaction: a failure leaves the job alone */
    finish(f, q, true, 1);
    assert_int_equal(quiet->state, JOB_ACTIVE);
    /* default for a failure: terminate, reason TaskFailed; t2 is ended
     * (the job completes once the agent confirms t2's kill) */
    finish(f, t, true, 2);
    assert_int_equal(term->state, JOB_TERMINATING);
    assert_string_equal(term->terminate_reason, "TaskFailed");
    assert_int_equal(t2->state, TASK_COMPLETED);
    /* exit 0 mapped to disable: the job is disabled, d2 waits */
    finish(f, d, true, 0);
    assert_int_equal(d->result, RESULT_SUCCESS);
    assert_true(dis->state == JOB_DISABLED || dis->state == JOB_DISABLING);
    assert_int_equal(d2->state, TASK_ACTIVE);
    expect_assign(f, n, SIZE_MAX, "");
    pthread_mutex_unlock(&f->m.mu);
}

/* ---- restart ----------------------------------------------------------- */

static void test_recover(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 4);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", true, NULL);
    struct mtask *a, *x;

    pthread_mutex_lock(&f->m.mu);
    a = task(f, j, "a", NULL);
    x = task(f, j, "x", NULL);
    task(f, j, "b", "\"dependsOn\":{\"taskIds\":[\"a\",\"x\"]}");
    task(f, j, "c", "\"dependsOn\":{\"taskIds\":[\"b\"]}");
    task(f, j, "r",
         "\"dependsOn\":{\"taskIdRanges\":[{\"start\":1,"
         "\"end\":3}]}");
    task(f, j, "1", NULL);
    expect_assign(f, n, SIZE_MAX, "a x 1");
    finish(f, a, true, 0);
    finish(f, x, true, 4); /* x failed: b blocks */
    pthread_mutex_unlock(&f->m.mu);
    save_wait(f);

    batch_fx_close(f);
    batch_fx_open(f);
    sched_recover(&f->m, timefmt_mono_ms());
    pthread_mutex_lock(&f->m.mu);
    j = model_job_find(&f->m, "acct", "j");
    n = model_node_find(&f->m, "n1");
    assert_non_null(j);
    assert_true(model_task_find(j, "a")->deps_satisfied);
    assert_false(model_task_find(j, "x")->deps_satisfied);
    assert_int_equal(model_task_find(j, "b")->deps_unmet, 1);
    assert_int_equal(model_task_find(j, "c")->deps_unmet, 1);
    assert_int_equal(model_task_find(j, "r")->deps_unmet, 1);
    /* "1" was running: its run waits for the agent's word. */
    x = model_task_find(j, "1");
    assert_non_null(x->run);
    n->state = NODE_IDLE;
    finish(f, x, true, 0);
    task(f, j, "2", NULL);
    task(f, j, "3", NULL);
    assert_int_equal(drain(f, n, NULL, 0), 3); /* 2, 3, then r */
    assert_int_equal(model_task_find(j, "r")->state, TASK_COMPLETED);
    assert_int_equal(model_task_find(j, "b")->state, TASK_ACTIVE);
    pthread_mutex_unlock(&f->m.mu);
}

/* ---- placement --------------------------------------------------------- */

static void test_affinity(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 2);
    struct mnode *n1 = batch_fx_node(f, p, "n1");
    struct mnode *n2 = batch_fx_node(f, p, "n2");
    struct mjob *j = job(f, "j", false, NULL);
    const char *to2 = "\"affinityInfo\":{\"affinityId\":\"TVM:n2\"}";

    pthread_mutex_lock(&f->m.mu);
    task(f, j, "a", to2);
    task(f, j, "b", to2);
    task(f, j, "c", NULL);
    task(f, j, "d", "\"affinityInfo\":{\"affinityId\":\"n2\"}");
    /* n1 leaves a and b to n2 (which has room), takes c; d too since n2
     * can take only two. */
    expect_assign(f, n1, 1, "c");
    expect_assign(f, n2, SIZE_MAX, "a b");
    expect_assign(f, n1, SIZE_MAX, "d");
    /* A node that is gone or busy does not hold its tasks back. */
    task(f, j, "e", to2);
    task(f, j, "g", "\"affinityInfo\":{\"affinityId\":\"TVM:nosuch\"}");
    finish(f, model_task_find(j, "c"), true, 0);
    expect_assign(f, n1, SIZE_MAX, "e");
    finish(f, model_task_find(j, "d"), true, 0);
    expect_assign(f, n1, SIZE_MAX, "g");
    assert_string_equal(model_task_find(j, "a")->node_id, "n2");
    pthread_mutex_unlock(&f->m.mu);
}

static void test_required_slots(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 4);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", false, NULL);
    struct mtask *wide, *three, *two;

    pthread_mutex_lock(&f->m.mu);
    wide = task(f, j, "wide", "\"requiredSlots\":5");
    three = task(f, j, "three", "\"requiredSlots\":3");
    two = task(f, j, "two", "\"requiredSlots\":2");
    task(f, j, "one", NULL);
    /* wide never fits a 4-slot node and stays active; three takes 3 of
     * 4 slots; two does not fit the one left and nothing overtakes it. */
    expect_assign(f, n, SIZE_MAX, "three");
    assert_int_equal(n->slots_used, 3);
    assert_int_equal(j->slot_counts[TASK_RUNNING], 3);
    assert_int_equal(j->slot_counts[TASK_ACTIVE], 5 + 2 + 1);
    finish(f, three, true, 0);
    expect_assign(f, n, SIZE_MAX, "two one");
    finish(f, two, true, 0);
    assert_int_equal(j->slots_succeeded, 5);
    assert_int_equal(wide->state, TASK_ACTIVE);
    assert_int_equal(wide->heap_idx, SIZE_MAX);
    pthread_mutex_unlock(&f->m.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_reverse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diamond, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_blocks_satisfy_releases,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminated_dependent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_exit_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_affinity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required_slots, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
