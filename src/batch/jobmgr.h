#ifndef SHOAL_BATCH_JOBMGR_H
#define SHOAL_BATCH_JOBMGR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "batch/model.h"

struct err;

/*
 * Job manager tasks (private to batch/; see jobmgr.c for the design note):
 * the jobManagerTask of a job (or of a job schedule's jobSpecification)
 * becomes a task of the job, made with it; the scheduler asks how many
 * slots its runs take (runExclusive) and whether its completion ends the
 * job (killJobOnCompletion). Everything but jobmgr_spec_normalize runs
 * with the model lock held.
 */

/* What the scheduler needs of a job's manager task (mjob.jm). */
struct jobmgr {
    char *id;       /* the task's id (unique in the job, case-insensitive) */
    bool kill;      /* killJobOnCompletion */
    bool exclusive; /* runExclusive */
};

/*
 * Normalize the jobManagerTask of a validated JobAddParameter or
 * JobSpecification in place (after prep_spec_normalize, which gives the
 * preparation and release tasks their ids): killJobOnCompletion,
 * runExclusive and allowLowPriorityNode default to true, as the real
 * service shows them. -ERR_INVALID (InvalidPropertyValue,
 * jobManagerTask.id) when its id is the preparation's or the release's.
 * Pure; any thread.
 */
int jobmgr_spec_normalize(json_t *spec, struct err *err);

/* Read j's job manager settings from j->spec (model_job_new); free them. */
void jobmgr_job_init(struct mjob *j);
void jobmgr_job_free(struct mjob *j);

/*
 * Make j's job manager task, if j has one: a task of j with the
 * TaskAddParameter fields of the jobManagerTask, journalled and queued.
 * Call right after the job is made (job add, a job schedule's new job),
 * before any other task exists, so it comes first in the job's order.
 * Returns the task (borrowed) or NULL.
 */
struct mtask *jobmgr_task_add(struct model *m, struct mjob *j, int64_t now);

/* Is t its job's manager task? O(1). */
bool jobmgr_is(const struct mtask *t);

/*
 * The slots a run of t holds on a node of p: t->slots, or all of p's
 * taskSlotsPerNode for a job manager task with runExclusive (no other task
 * runs beside it, and it starts only on a node with nothing running).
 */
int jobmgr_slots(const struct mtask *t, const struct mpool *p);

/* Does j end now because its manager task (killJobOnCompletion) completed? */
bool jobmgr_ends_job(struct mjob *j);

#endif
