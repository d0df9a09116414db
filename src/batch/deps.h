#ifndef SHOAL_BATCH_DEPS_H
#define SHOAL_BATCH_DEPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "batch/model.h"

struct err;

/*
 * Task dependencies (private to batch/; see deps.c for the design note):
 * dependsOn {taskIds, taskIdRanges} of the tasks of a job with
 * usesTaskDependencies. Each task keeps a count of unmet dependencies
 * (mtask.deps_unmet); sched_enqueue() leaves a task with a non-zero count
 * out of its queue, and deps_task_completed() decrements the counts of the
 * dependents of a task that completed in a way that satisfies them, queueing
 * those that reach zero. The cost is linear in the edges of the graph.
 *
 * Every function runs with model->mu held (the caller's) and changes only
 * memory: nothing here is journalled, the bookkeeping is rebuilt from the
 * stored specs and states by deps_recover().
 */

/* Whether j lets its tasks depend on each other (usesTaskDependencies). */
bool deps_job_enabled(const struct mjob *j);

/*
 * Add-time check of a validated TaskAddParameter against its job: a
 * dependsOn on a job without usesTaskDependencies is 400
 * TaskDependenciesNotSpecifiedOnJob. 0 when the task may be added.
 */
int deps_check_add(const struct mjob *j, json_t *spec, struct err *err);

/*
 * Register the dependencies of t, a task just created (before it is first
 * offered to sched_enqueue): t->deps_unmet becomes the number of taskIds
 * not yet satisfied plus the number of ranges not yet wholly satisfied.
 * Dependencies on tasks not added yet wait for them. spec is t's parsed
 * spec (borrowed) or NULL to parse t->spec when it has a dependsOn.
 */
void deps_task_added(struct model *m, struct mtask *t, json_t *spec);

/*
 * t has just completed (state completed, result set): if its exit options
 * say its dependents may proceed (exitcond.c: success by default, a
 * failure only with dependencyAction satisfy), mark it satisfied and
 * release its dependents, queueing each one whose count reaches zero. A
 * task satisfies its dependents at most once; a blocking failure keeps
 * them waiting (active) until t is reactivated and completes again.
 */
void deps_task_completed(struct model *m, struct mtask *t);

/*
 * After loading (before sched_recover queues anything): mark the satisfied
 * tasks from their stored states and re-register the dependencies of the
 * tasks that have not run yet.
 */
void deps_recover(struct model *m);

/* Free j's dependency index (model_job_free). */
void deps_job_free(struct mjob *j);

/*
 * Operations done for j so far (dependencies registered, cursor steps and
 * waiters visited): the unit tests hold the bookkeeping to a linear bound
 * with it.
 */
uint64_t deps_ops(const struct mjob *j);

#endif
