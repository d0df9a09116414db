/*
 * test_batch_schedule.c: the timing rule of job schedules
 * (src/batch/schedule.c schedule_next, schedule_first, schedule_times_of)
 * with a fake clock: run-once, recurrence, at most one active job, the
 * start window (capped at the interval), doNotRunUntil and doNotRunAfter,
 * and skipping many missed occurrences at once; then schedules in a model
 * over SQLite (schedule_tick with a fake clock): the jobs they make, one
 * active at a time, terminate, delete, and a save/load round trip.
 */
#include "unit.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "batch/model.h"
#include "batch/schedule.h"
#include "batch/sched.h"
#include "batch/store.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"

#include "batch_fx.h"

#define MIN (60 * 1000ll)
#define T0  1700000000000ll /* an arbitrary "now" */

static struct schedule_times times(int64_t until, int64_t after, int64_t window,
                                   int64_t interval)
{
    struct schedule_times t;

    t.not_until = until;
    t.not_after = after;
    t.window_ms = window;
    t.interval_ms = interval;
    return t;
}

static void test_once_now(void **state)
{
    struct schedule_times t = times(0, 0, TIMEFMT_DURATION_INF, 0);
    int64_t next = schedule_first(&t, T0, 0, 0);

    (void)state;
    assert_int_equal(next, T0);
    assert_int_equal(schedule_next(&t, &next, T0, false), SCHEDULE_CREATE);
    assert_int_equal(next, -1);
    /* Nothing more, whether or not the job is still active. */
    assert_int_equal(schedule_next(&t, &next, T0 + MIN, true), SCHEDULE_DONE);
    assert_int_equal(schedule_next(&t, &next, T0 + MIN, false), SCHEDULE_DONE);
    /* A schedule replaced after its one job: nothing to run again. */
    assert_int_equal(schedule_first(&t, T0 + MIN, 1, T0), -1);
}

static void test_recurrence(void **state)
{
    struct schedule_times t = times(0, 0, TIMEFMT_DURATION_INF, MIN);
    int64_t next = schedule_first(&t, T0, 0, 0);

    (void)state;
    assert_int_equal(schedule_next(&t, &next, T0, false), SCHEDULE_CREATE);
    assert_int_equal(next, T0 + MIN);
    assert_int_equal(schedule_next(&t, &next, T0 + MIN - 1, false),
                     SCHEDULE_WAIT);
    /* Due, but the last job is still active: wait (inside the window). */
    assert_int_equal(schedule_next(&t, &next, T0 + MIN + 10, true),
                     SCHEDULE_WAIT);
    assert_int_equal(next, T0 + MIN);
    /* It finished late within the interval: the job is made, on the grid. */
    assert_int_equal(schedule_next(&t, &next, T0 + MIN + 30000, false),
                     SCHEDULE_CREATE);
    assert_int_equal(next, T0 + 2 * MIN);
    /* Still active for a whole interval: that occurrence is skipped. */
    assert_int_equal(schedule_next(&t, &next, T0 + 3 * MIN, true),
                     SCHEDULE_WAIT);
    assert_int_equal(next, T0 + 3 * MIN);
}

static void test_start_window(void **state)
{
    struct schedule_times t = times(0, 0, 2 * MIN, 10 * MIN);
    int64_t next = T0;

    (void)state;
    /* Active job past the window: skip to the next occurrence. */
    assert_int_equal(schedule_next(&t, &next, T0 + 2 * MIN, true),
                     SCHEDULE_WAIT);
    assert_int_equal(next, T0 + 10 * MIN);
    /* Within the window of that one: made. */
    assert_int_equal(schedule_next(&t, &next, T0 + 11 * MIN, false),
                     SCHEDULE_CREATE);
    assert_int_equal(next, T0 + 20 * MIN);
    /* A run-once schedule whose window closed unseen is done. */
    t = times(0, 0, MIN, 0);
    next = T0;
    assert_int_equal(schedule_next(&t, &next, T0 + MIN, false), SCHEDULE_DONE);
    assert_int_equal(next, -1);
    t = times(0, 0, MIN, 0);
    next = T0;
    assert_int_equal(schedule_next(&t, &next, T0 + MIN - 1, false),
                     SCHEDULE_CREATE);
}

static void test_window_capped_at_interval(void **state)
{
    struct schedule_times t = times(0, 0, 60 * MIN, MIN);
    int64_t next = T0;

    (void)state;
    /* A window longer than the interval does not carry an occurrence
     * into the next interval. */
    assert_int_equal(schedule_next(&t, &next, T0 + MIN + 1, true),
                     SCHEDULE_WAIT);
    assert_int_equal(next, T0 + MIN);
    assert_int_equal(schedule_next(&t, &next, T0 + MIN + 2, false),
                     SCHEDULE_CREATE);
    assert_int_equal(next, T0 + 2 * MIN);
}

static void test_missed_many(void **state)
{
    struct schedule_times t = times(0, 0, TIMEFMT_DURATION_INF, MIN);
    int64_t next = T0;
    int64_t now = T0 + 1000000 * MIN + 5; /* down for two years */

    (void)state;
    assert_int_equal(schedule_next(&t, &next, now, false), SCHEDULE_CREATE);
    assert_int_equal(next, T0 + 1000001 * MIN);
}

static void test_not_until(void **state)
{
    struct schedule_times t =
        times(T0 + 60 * MIN, 0, TIMEFMT_DURATION_INF, MIN);
    int64_t next = schedule_first(&t, T0, 0, 0);

    (void)state;
    assert_int_equal(next, T0 + 60 * MIN);
    assert_int_equal(schedule_next(&t, &next, T0, false), SCHEDULE_WAIT);
    assert_int_equal(schedule_next(&t, &next, T0 + 60 * MIN, false),
                     SCHEDULE_CREATE);
    assert_int_equal(next, T0 + 61 * MIN);
    /* Replaced after a job ran at T0+60: the next is an interval later,
     * or doNotRunUntil if that is later still. */
    assert_int_equal(schedule_first(&t, T0 + 60 * MIN + 5, 1, T0 + 60 * MIN),
                     T0 + 61 * MIN);
    t.not_until = T0 + 90 * MIN;
    assert_int_equal(schedule_first(&t, T0 + 60 * MIN + 5, 1, T0 + 60 * MIN),
                     T0 + 90 * MIN);
}

static void test_not_after(void **state)
{
    struct schedule_times t =
        times(0, T0 + 2 * MIN + 1, TIMEFMT_DURATION_INF, MIN);
    int64_t next = T0;

    (void)state;
    assert_int_equal(schedule_next(&t, &next, T0, false), SCHEDULE_CREATE);
    assert_int_equal(schedule_next(&t, &next, T0 + MIN, false),
                     SCHEDULE_CREATE);
    assert_int_equal(schedule_next(&t, &next, T0 + 2 * MIN, false),
                     SCHEDULE_CREATE);
    assert_int_equal(next, T0 + 3 * MIN);
    /* T0+3m is after doNotRunAfter: done. */
    assert_int_equal(schedule_next(&t, &next, T0 + 2 * MIN + 10, false),
                     SCHEDULE_DONE);
    assert_int_equal(next, -1);
    /* Already past when the schedule is made: done at once. */
    t = times(0, T0 - 1, TIMEFMT_DURATION_INF, 0);
    next = schedule_first(&t, T0, 0, 0);
    assert_int_equal(schedule_next(&t, &next, T0, false), SCHEDULE_DONE);
}

static void test_times_of(void **state)
{
    json_t *s = json_pack("{s:s, s:s, s:s, s:s}", "doNotRunUntil",
                          "2023-11-14T22:13:20Z", "doNotRunAfter",
                          "2023-11-15T00:00:00.5Z", "startWindow", "PT5M",
                          "recurrenceInterval", "PT1H");
    struct schedule_times t;

    (void)state;
    schedule_times_of(s, &t);
    assert_int_equal(t.not_until, 1700000000000ll);
    assert_int_equal(t.not_after, 1700006400500ll);
    assert_int_equal(t.window_ms, 5 * MIN);
    assert_int_equal(t.interval_ms, 60 * MIN);
    json_decref(s);
    schedule_times_of(NULL, &t);
    assert_int_equal(t.not_until, 0);
    assert_int_equal(t.not_after, 0);
    assert_true(t.window_ms == TIMEFMT_DURATION_INF);
    assert_int_equal(t.interval_ms, 0);
}

/* ---- in a model --------------------------------------------------------- */

static int setup(void **state)
{
    *state = batch_fx_new("schedule", BATCH_FX_WAIT);
    return 0;
}

static int teardown(void **state)
{
    batch_fx_free(*state);
    return 0;
}

/* schedule_tick takes the lock itself; tests run single-threaded. */
static struct mschedule *add(struct batch_fx *f, const char *id, json_t *sched,
                             int64_t now)
{
    json_t *spec =
        json_pack("{s:s, s:o, s:{s:{s:s}}}", "id", id, "schedule", sched,
                  "jobSpecification", "poolInfo", "poolId", "p");

    return schedule_new(&f->m, "acct", id, spec, now);
}

static size_t jobs_of(struct batch_fx *f, const struct mschedule *s)
{
    size_t n = 0;

    for (size_t i = 0; i < f->m.njobs; i++)
        n += schedule_owns(s, f->m.job_list[i]->id);
    return n;
}

static void test_model_recurring(void **state)
{
    struct batch_fx *f = *state;
    struct mschedule *s =
        add(f, "rec", json_pack("{s:s}", "recurrenceInterval", "PT1M"), T0);
    struct mjob *j;

    schedule_tick(&f->m, T0);
    assert_string_equal(s->recent, "rec:job-1");
    assert_int_equal(s->next_ms, T0 + MIN);
    j = model_job_find(&f->m, "acct", "rec:job-1");
    assert_non_null(j);
    assert_int_equal(j->state, JOB_ACTIVE);
    /* Nothing new before the next occurrence, nor while job-1 is active. */
    schedule_tick(&f->m, T0 + MIN - 1);
    schedule_tick(&f->m, T0 + MIN + 1);
    assert_int_equal(jobs_of(f, s), 1);
    /* job-1 ends within the interval: job-2 follows at once. */
    sched_job_terminate(&f->m, j, NULL, T0 + MIN + 2);
    assert_int_equal(j->state, JOB_COMPLETED);
    schedule_tick(&f->m, T0 + MIN + 3);
    assert_string_equal(s->recent, "rec:job-2");
    assert_int_equal(s->next_ms, T0 + 2 * MIN);
    assert_int_equal(jobs_of(f, s), 2);
    /* Disabled: nothing is made; enabled again, the missed one is made
     * while its window (the interval) is open. */
    schedule_disable(&f->m, s, T0 + MIN + 4);
    sched_job_terminate(&f->m, model_job_find(&f->m, "acct", "rec:job-2"), NULL,
                        T0 + MIN + 5);
    schedule_tick(&f->m, T0 + 2 * MIN + 10);
    assert_int_equal(jobs_of(f, s), 2);
    schedule_enable(&f->m, s, T0 + 2 * MIN + 20);
    schedule_tick(&f->m, T0 + 2 * MIN + 30);
    assert_string_equal(s->recent, "rec:job-3");
    /* Terminate: the active job is terminated, the schedule completes. */
    schedule_terminate(&f->m, s, T0 + 2 * MIN + 40);
    j = model_job_find(&f->m, "acct", "rec:job-3");
    assert_int_equal(j->state, JOB_COMPLETED);
    assert_string_equal(j->terminate_reason, "TerminateJobSchedule");
    assert_int_equal(s->state, SCHEDULE_COMPLETED);
    assert_int_equal(s->end_ms, T0 + 2 * MIN + 40);
    schedule_tick(&f->m, T0 + 10 * MIN);
    assert_int_equal(jobs_of(f, s), 3);
    /* Delete: its jobs go (the batch ticker removes deleting jobs), then
     * the schedule. */
    schedule_delete(&f->m, s, T0 + 10 * MIN);
    assert_int_equal(s->state, SCHEDULE_DELETING);
    sched_tick(&f->m, T0 + 10 * MIN, 0, INT64_MAX / 2);
    assert_int_equal(jobs_of(f, s), 0);
    schedule_tick(&f->m, T0 + 10 * MIN + 1);
    assert_null(schedule_find(&f->m, "acct", "rec"));
}

static void test_model_once_and_reload(void **state)
{
    struct batch_fx *f = *state;
    struct mschedule *s;

    s = add(f, "once", json_object(), T0);
    schedule_tick(&f->m, T0);
    assert_string_equal(s->recent, "once:job-1");
    assert_int_equal(s->next_ms, -1);
    schedule_tick(&f->m, T0 + 5);
    assert_int_equal(s->state, SCHEDULE_ACTIVE); /* its job is active */
    s = add(f, "later",
            json_pack("{s:s, s:s}", "doNotRunUntil", "2030-01-01T00:00:00Z",
                      "recurrenceInterval", "PT1H"),
            T0);
    schedule_tick(&f->m, T0 + 10);
    assert_null(s->recent);
    /* Reload from SQLite: the same timetable and counters. */
    batch_fx_close(f);
    batch_fx_open(f);
    s = schedule_find(&f->m, "acct", "later");
    assert_non_null(s);
    assert_int_equal(s->next_ms, 1893456000000ll);
    assert_int_equal(s->times.interval_ms, 60 * MIN);
    s = schedule_find(&f->m, "acct", "once");
    assert_non_null(s);
    assert_string_equal(s->recent, "once:job-1");
    assert_int_equal(s->njobs, 1);
    /* Its job completes: so does the schedule, with no second job. */
    sched_job_terminate(&f->m, model_job_find(&f->m, "acct", "once:job-1"),
                        NULL, T0 + 20);
    schedule_tick(&f->m, T0 + 30);
    assert_int_equal(s->state, SCHEDULE_COMPLETED);
    assert_int_equal(jobs_of(f, s), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once_now),
        cmocka_unit_test(test_recurrence),
        cmocka_unit_test(test_start_window),
        cmocka_unit_test(test_window_capped_at_interval),
        cmocka_unit_test(test_missed_many),
        cmocka_unit_test(test_not_until),
        cmocka_unit_test(test_not_after),
        cmocka_unit_test(test_times_of),
        cmocka_unit_test_setup_teardown(test_model_recurring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_once_and_reload, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
