/*
 * test_batch_prep.c: job preparation and release tasks in the model
 * (src/batch/prep.c with sched.c) without HTTP or agents: spec defaults
 * and errors, task ids taken by them, the gate (preparing, then running
 * once the agent reports success; a failure keeps the job's tasks off that
 * node), the release sent to the nodes that ran the job and holding the
 * job in terminating until it completes, a reboot that reruns the
 * preparation, and a save/load round trip.
 */
#include "unit.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/model.h"
#include "batch/prep.h"
#include "batch/sched.h"
#include "batch/store.h"
#include "core/err.h"
#include "core/mem.h"
#include "db/db.h"

#include "batch_fx.h"

static int setup(void **state)
{
    *state = batch_fx_new("prep", BATCH_FX_WAIT);
    return 0;
}

static int teardown(void **state)
{
    batch_fx_free(*state);
    return 0;
}

/* A pool of two one-slot nodes and a job with prep (waitForSuccess) and
 * release, normalized as job_api.c does. */
static struct mjob *setup_job(struct batch_fx *f, struct mnode **n1,
                              struct mnode **n2)
{
    struct mpool *p = batch_fx_pool(f, "p", 1);
    json_t *js =
        json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}}", "id", "j", "poolInfo",
                  "poolId", "p", "jobPreparationTask", "commandLine", "prep",
                  "jobReleaseTask", "commandLine", "rel");
    struct err e = ERR_INIT;
    struct mjob *j;

    *n1 = batch_fx_node(f, p, "n1");
    *n2 = batch_fx_node(f, p, "n2");
    assert_int_equal(prep_spec_normalize(js, &e), 0);
    j = model_job_new(&f->m, "acct", "j", js, 1000);
    model_save_job(&f->m, j);
    return j;
}

static struct mtask *task(struct batch_fx *f, struct mjob *j, const char *id)
{
    char *spec = xasprintf("{\"id\":\"%s\",\"commandLine\":\"x\"}", id);
    struct mtask *t = model_task_new(&f->m, j, id, spec, NULL, 2000);

    model_save_task_spec(&f->m, t);
    sched_enqueue(&f->m, t);
    return t;
}

static size_t assign(struct batch_fx *f, struct mnode *n, struct mrun **out)
{
    struct mrun **runs = NULL;
    size_t nr = 0, cap = 0;

    sched_assign(&f->m, n, 1, SIZE_MAX, &runs, &nr, &cap, 3000);
    if (out)
        *out = nr ? runs[0] : NULL;
    free(runs);
    return nr;
}

/* The agent on n reports its preparation or release of j. */
static void report(struct batch_fx *f, struct mnode *n, const char *kind,
                   const char *state, int exit_code)
{
    json_t *preps =
        json_pack("[{s:s, s:s, s:i, s:s, s:i, s:i, s:i, s:i}]", "job", "j",
                  "kind", kind, "n", 1, "state", state, "start", 2500, "end",
                  2600, "exit", exit_code, "retry", 0);
    json_t *acks = json_array();

    if (exit_code != 0) /* as the agent: a failure has its failureInfo */
        json_object_set_new(json_array_get(preps, 0), "fail",
                            json_pack("{s:s, s:s, s:s}", "category",
                                      "usererror", "code", "FailureExitCode",
                                      "message", "exit"));
    prep_apply_reports(&f->m, n, preps, acks, 4000);
    assert_int_equal(json_array_size(acks), 1);
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(acks, 0), 1)), kind);
    json_decref(preps);
    json_decref(acks);
}

static void test_spec(void **state)
{
    struct err e = ERR_INIT;
    json_t *s =
        json_pack("{s:{s:s}, s:{s:s}}", "jobPreparationTask", "commandLine",
                  "a", "jobReleaseTask", "commandLine", "b");
    json_t *p, *r;

    (void)state;
    assert_int_equal(prep_spec_normalize(s, &e), 0);
    p = json_object_get(s, "jobPreparationTask");
    r = json_object_get(s, "jobReleaseTask");
    assert_string_equal(json_string_value(json_object_get(p, "id")),
                        "jobpreparation");
    assert_true(json_is_true(json_object_get(p, "waitForSuccess")));
    assert_true(
        json_is_true(json_object_get(p, "rerunOnNodeRebootAfterSuccess")));
    assert_string_equal(json_string_value(json_object_get(r, "id")),
                        "jobrelease");
    assert_string_equal(
        json_string_value(json_object_get(r, "maxWallClockTime")), "PT15M");
    json_decref(s);
    /* A release needs a preparation; at most 15 minutes; distinct ids. */
    s = json_pack("{s:{s:s}}", "jobReleaseTask", "commandLine", "b");
    assert_int_equal(prep_spec_normalize(s, &e), -ERR_INVALID);
    assert_string_equal(e.svc, "InvalidPropertyValue");
    json_decref(s);
    s = json_pack("{s:{s:s}, s:{s:s, s:s}}", "jobPreparationTask",
                  "commandLine", "a", "jobReleaseTask", "commandLine", "b",
                  "maxWallClockTime", "PT15M1S");
    assert_int_equal(prep_spec_normalize(s, &e), -ERR_INVALID);
    json_decref(s);
    s = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "jobPreparationTask",
                  "commandLine", "a", "id", "same", "jobReleaseTask",
                  "commandLine", "b", "id", "SAME");
    assert_int_equal(prep_spec_normalize(s, &e), -ERR_INVALID);
    json_decref(s);
}

static void test_gate_and_release(void **state)
{
    struct batch_fx *f = *state;
    struct mnode *n1, *n2;
    struct mjob *j = setup_job(f, &n1, &n2);
    struct mtask *a = task(f, j, "a"), *b = task(f, j, "b");
    struct err e = ERR_INIT;
    struct mrun *r;
    json_t *rel;

    assert_int_equal(prep_task_id_check(j, "JobPreparation", &e),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "TaskIdSameAsJobPreparationTask");
    assert_int_equal(prep_task_id_check(j, "jobrelease", &e), -ERR_CONFLICT);
    assert_string_equal(e.svc, "TaskIdSameAsJobReleaseTask");
    assert_int_equal(prep_task_id_check(j, "x", &e), 0);

    /* n1 gets a, preparing: the preparation has not run there. */
    assert_int_equal(prep_gate(j, n1), PREP_GATE_PREPARE);
    assert_int_equal(assign(f, n1, &r), 1);
    assert_ptr_equal(r->task, a);
    assert_int_equal(a->state, TASK_PREPARING);
    report(f, n1, "prep", "running", 0);
    assert_int_equal(a->state, TASK_PREPARING);
    report(f, n1, "prep", "completed", 0);
    assert_int_equal(a->state, TASK_RUNNING);
    assert_int_equal(prep_gate(j, n1), PREP_GATE_RUN);

    /* n2 gets b; its preparation fails: b goes back (the agent reports it
     * not started), uncounted, and n2 is blocked for the job. */
    assert_int_equal(assign(f, n2, &r), 1);
    assert_ptr_equal(r->task, b);
    report(f, n2, "prep", "completed", 3);
    assert_int_equal(prep_gate(j, n2), PREP_GATE_BLOCKED);
    sched_run_lost(&f->m, r, false, 4000);
    assert_int_equal(b->state, TASK_ACTIVE);
    assert_int_equal(b->requeue_count, 0);
    assert_int_equal(assign(f, n2, NULL), 0);
    assert_int_equal(b->state, TASK_ACTIVE);
    assert_true(f->m.queues.n > 0);

    /* a ends on n1; n1 takes b. */
    r = a->run;
    {
        struct sched_outcome o = { .ran = true, .exit_code = 0 };
        sched_run_finished(&f->m, r, &o, 5000);
    }
    assert_int_equal(assign(f, n1, &r), 1);
    assert_ptr_equal(r->task, b);
    assert_int_equal(b->state, TASK_RUNNING);

    /* Terminate: the release goes to n1 (ran the job, prep succeeded),
     * not to n2 (its prep failed); the job waits for it. */
    sched_job_terminate(&f->m, j, NULL, 6000);
    sched_run_free(&f->m, r, 6100); /* the agent confirmed the kill */
    assert_int_equal(j->state, JOB_TERMINATING);
    assert_true(prep_node_has_releases(n1));
    assert_false(prep_node_has_releases(n2));
    assert_true(prep_release_busy(&f->m, j));
    rel = json_array();
    prep_node_releases(&f->m, n1, rel);
    assert_int_equal(json_array_size(rel), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(rel, 0), "job")), "j");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(rel, 0), "cmd")),
        "rel");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(rel, 0), "wallMs")),
        15 * 60 * 1000);
    json_decref(rel);
    report(f, n1, "release", "running", 0);
    assert_false(prep_node_has_releases(n1));
    assert_true(prep_release_busy(&f->m, j));
    sched_job_check(&f->m, j, 7000);
    assert_int_equal(j->state, JOB_TERMINATING);
    report(f, n1, "release", "completed", 0);
    assert_int_equal(j->state, JOB_COMPLETED);

    /* Reload: the records come back. */
    batch_fx_close(f);
    batch_fx_open(f);
    j = model_job_find(&f->m, "acct", "j");
    assert_non_null(j->prep);
    assert_int_equal(j->prep->n, 2);
    assert_string_equal(j->prep->v[0]->node_id, "n1");
    assert_int_equal(j->prep->v[0]->prep.result, RESULT_SUCCESS);
    assert_int_equal(j->prep->v[0]->rel.state, PREP_COMPLETED);
    assert_int_equal(j->prep->v[1]->prep.exit_code, 3);
    assert_int_equal(j->prep->v[1]->prep.result, RESULT_FAILURE);
    assert_non_null(j->prep->v[1]->prep.fail);
    n2 = model_node_find(&f->m, "n2");
    assert_int_equal(prep_gate(j, n2), PREP_GATE_BLOCKED);
}

static void test_release_node_gone(void **state)
{
    struct batch_fx *f = *state;
    struct mnode *n1, *n2;
    struct mjob *j = setup_job(f, &n1, &n2);
    struct mtask *a = task(f, j, "a");
    struct mrun *r;

    (void)n2;
    assert_int_equal(assign(f, n1, &r), 1);
    report(f, n1, "prep", "completed", 0);
    assert_int_equal(a->state, TASK_RUNNING);
    sched_job_delete(&f->m, j, 5000);
    sched_run_free(&f->m, r, 5100);
    /* Deleted while active: the release runs first. */
    assert_true(prep_release_busy(&f->m, j));
    /* The node becomes unusable: nobody to wait for. */
    n1->state = NODE_UNUSABLE;
    assert_false(prep_release_busy(&f->m, j));
}

static void test_reboot(void **state)
{
    struct batch_fx *f = *state;
    struct mnode *n1, *n2;
    struct mjob *j = setup_job(f, &n1, &n2);
    struct mrun *r;

    (void)n2;
    task(f, j, "a");
    assert_int_equal(assign(f, n1, &r), 1);
    report(f, n1, "prep", "completed", 0);
    assert_int_equal(prep_gate(j, n1), PREP_GATE_RUN);
    /* rerunOnNodeRebootAfterSuccess (true by default): again after a
     * reboot, until the agent reports it anew. */
    prep_node_rebooted(&f->m, n1);
    assert_int_equal(prep_gate(j, n1), PREP_GATE_PREPARE);
    report(f, n1, "prep", "running", 0);
    assert_int_equal(prep_gate(j, n1), PREP_GATE_PREPARE);
    report(f, n1, "prep", "completed", 0);
    assert_int_equal(prep_gate(j, n1), PREP_GATE_RUN);
    /* Without it, a success stands. */
    j->prep->rerun = false;
    prep_node_rebooted(&f->m, n1);
    assert_int_equal(prep_gate(j, n1), PREP_GATE_RUN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test_setup_teardown(test_gate_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_node_gone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reboot, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
