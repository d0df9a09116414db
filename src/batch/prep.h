#ifndef SHOAL_BATCH_PREP_H
#define SHOAL_BATCH_PREP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch/idmap.h"
#include "batch/model.h"

struct err;

/*
 * Job preparation and release tasks (private to batch/; see prep.c for the
 * design note): a job's settings, one record per (job, node) with what ran
 * there, the gate the scheduler asks before putting a task of the job on a
 * node, the release dispatch when the job ends, and the records the agents
 * report. Every function runs with the model lock held and journals what it
 * changes (model_save_job).
 */

enum prep_state { PREP_NONE, PREP_RUNNING, PREP_COMPLETED };

/* executionInfo of a preparation or release task on one node. */
struct prep_exec {
    enum prep_state state;
    int64_t start_ms, end_ms, last_retry_ms; /* 0 = absent */
    bool has_exit;
    int exit_code;
    int retry;
    enum task_result result;
    struct mfail *fail;
};

/* One node that a job's tasks were assigned to. */
struct prep_node {
    uint64_t seq; /* 1-based creation order: list order and continuation */
    char *node_id, *pool_id;
    bool ran;         /* a task of the job was assigned here */
    bool rel_pending; /* the release is to be sent (counted in rel_pending
                         of the node while it exists) */
    bool again;       /* the node rebooted: run the preparation again */
    struct prep_exec prep, rel;
};

/* Per job (mjob->prep), NULL-safe accessors below. */
struct mjob_prep {
    bool has_prep, has_rel;
    bool wait;  /* jobPreparationTask.waitForSuccess */
    bool rerun; /* rerunOnNodeRebootAfterSuccess */
    char *prep_id, *rel_id;
    bool releasing; /* releases dispatched (memory only; idempotent) */
    struct prep_node **v;
    size_t n, cap;
    struct idmap by_node; /* node id -> prep_node */
};

/* What the scheduler may do with a task of a job on a node. */
enum prep_gate {
    PREP_GATE_RUN,     /* no preparation to wait for here */
    PREP_GATE_PREPARE, /* send the preparation along; the task is
                          preparing until it succeeds (waitForSuccess) */
    PREP_GATE_ALONG,   /* send it along; the task runs meanwhile */
    PREP_GATE_BLOCKED, /* it failed here (waitForSuccess): not this node */
};

/*
 * Normalize the jobPreparationTask and jobReleaseTask of a validated
 * JobAddParameter or JobSpecification in place: default ids
 * ("jobpreparation", "jobrelease"), waitForSuccess and
 * rerunOnNodeRebootAfterSuccess true, release maxWallClockTime and
 * retentionTime. -ERR_INVALID (InvalidPropertyValue) for a release
 * without a preparation, a release maxWallClockTime over 15 minutes, or
 * both with the same id.
 */
int prep_spec_normalize(json_t *spec, struct err *err);

/* Read j's settings from j->spec (model_job_new); free them. */
void prep_job_init(struct mjob *j);
void prep_job_free(struct model *m, struct mjob *j);
/* Store the node records in a job's storage document / load them back
 * (model_save_job, model_load_job; m to count pending releases). */
void prep_job_save(const struct mjob *j, json_t *doc);
void prep_job_load(struct model *m, struct mjob *j, json_t *doc);

/* Does j have a preparation or release task? */
bool prep_job_has(const struct mjob *j);
/*
 * A task id equal to the preparation's or release's (case-insensitively):
 * -ERR_CONFLICT TaskIdSameAsJobPreparationTask / TaskIdSameAsJobReleaseTask.
 */
int prep_task_id_check(const struct mjob *j, const char *id, struct err *err);

/* The gate for a task of j on n (O(1)). */
enum prep_gate prep_gate(const struct mjob *j, const struct mnode *n);
/*
 * Whether some job with queued tasks in q is not blocked on n by a failed
 * preparation: else n has nothing to take and its long-poll may park
 * instead of spinning. O(jobs queued in q) at worst.
 */
bool prep_queue_runnable(const struct mqueue *q, const struct mnode *n);
/* A task of j was just assigned to n: remember the node. */
void prep_assigned(struct model *m, struct mjob *j, struct mnode *n);
/*
 * Add to a task's assignment: "prepId" when j has a preparation task (for
 * AZ_BATCH_JOB_PREP_DIR), and "prep" (the task to run first) when the
 * gate says so.
 */
void prep_assignment_add(const struct mjob *j, const struct mnode *n,
                         json_t *o);

/*
 * The job ends (terminating, or deleted while not completed): mark the
 * release for every node where tasks ran after a preparation that
 * completed, and wake those nodes. Idempotent.
 */
void prep_release_start(struct model *m, struct mjob *j);
/* Is a release of j still to run or running on a node that is alive? */
bool prep_release_busy(struct model *m, const struct mjob *j);

/* Releases to send to n, appended to arr; whether there are any. */
bool prep_node_has_releases(const struct mnode *n);
void prep_node_releases(struct model *m, struct mnode *n, json_t *arr);

/*
 * Apply the "preps" records of a sync from n (the agent's view of each
 * preparation and release it ran) and append their acks ([job, kind, n])
 * to acks. A preparation that succeeded turns the job's preparing tasks
 * on n to running; a release that completed lets its job move on.
 */
void prep_apply_reports(struct model *m, struct mnode *n, json_t *preps,
                        json_t *acks, int64_t now);
/* A new agent process on n: releases it was running are sent again. */
void prep_node_resync(struct model *m, struct mnode *n);
/*
 * n rebooted (its files kept): preparations that succeeded there run
 * again before the job's next task when rerunOnNodeRebootAfterSuccess,
 * and ones that did not complete run again anyway.
 */
void prep_node_rebooted(struct model *m, struct mnode *n);

#endif
