#ifndef SHOAL_BATCH_SCHED_H
#define SHOAL_BATCH_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch/model.h"

/*
 * The scheduler (private to batch/; see sched.c for the design note): the
 * runnable queue of each pool, the runs that tie task attempts to node
 * slots, and every task and job transition that follows from assignment,
 * completion, loss and user actions. Knows nothing of HTTP: parked agent
 * polls are woken through the wake callback.
 *
 * Every function runs with model->mu held and journals what it changes
 * (model_save_*); the caller waits for store_last_ticket() before it
 * answers anyone who must see the change durable.
 */

/* How a run ended, as the agent reports it. */
struct sched_outcome {
    bool ran;       /* the command was started */
    int exit_code;  /* when ran */
    bool timed_out; /* killed at maxWallClockTime */
    int64_t start_ms, end_ms;
    const char *category; /* failureInfo, NULL or "" when none */
    const char *code;
    const char *message;
};

/* Called (model lock held) when node n has a parked poll to wake. */
typedef void (*sched_wake_fn)(void *ctx, struct mnode *n);
void sched_set_waker(sched_wake_fn fn, void *ctx);

/* Resume n's parked poll, if any (it then answers from the model). */
void sched_wake_node(struct mnode *n);

/*
 * A task that is active in an active job, with no unmet dependencies
 * (deps.c), joins its queue (O(log n)); otherwise nothing happens.
 */
void sched_enqueue(struct model *m, struct mtask *t);
/* Leave the queue if queued (O(log n)). */
void sched_dequeue(struct mtask *t);
/* Re-key the queued tasks of j after a priority change. */
void sched_job_reprioritize(struct mjob *j);
/* Queue every active task of j (job enabled, or pool appeared). */
void sched_job_requeue_all(struct model *m, struct mjob *j);

/* Whether n may be given tasks now. */
bool sched_node_usable(const struct mnode *n);
/* Recompute idle/running/offline of an operational node from its runs and
 * its scheduling state. */
void sched_node_refresh(struct model *m, struct mnode *n, int64_t now);

/*
 * Fill n's free slots from its pool's queue, at most max tasks: each task
 * becomes running with a new attempt and a run on n carrying seq. The runs
 * are appended to *out (grown with xrealloc). Returns how many. Strict
 * queue order: stops at a task that does not fit n's free slots (a job
 * manager task with runExclusive needs all of them); passes over (and
 * puts back) whole jobs whose preparation failed on n and tasks whose
 * affinityInfo names another node of the pool with room for them, with no
 * fixed limit and without scanning a job's tasks (see sched.c).
 */
size_t sched_assign(struct model *m, struct mnode *n, uint64_t seq, size_t max,
                    struct mrun ***out, size_t *nout, size_t *cap, int64_t now);

/* Find n's run of (rowid, attempt), or NULL. */
struct mrun *sched_run_find(struct mnode *n, uint64_t rowid, uint32_t attempt);
/* Drop a run: free its slots; the task (if still attached) lets go. */
void sched_run_free(struct model *m, struct mrun *r, int64_t now);

/*
 * The run of an attached task ended with o: the task retries (back to
 * active, retryCount++) or completes (result, failureInfo, exit code), and
 * its job may complete. Frees the run.
 */
void sched_run_finished(struct model *m, struct mrun *r,
                        const struct sched_outcome *o, int64_t now);
/*
 * The run was lost (agent gone, node unusable, response never delivered):
 * the task goes back to its queue; count says whether the attempt may have
 * started (requeueCount++) or certainly did not. Frees the run.
 */
void sched_run_lost(struct model *m, struct mrun *r, bool count, int64_t now);

/*
 * User terminate: an active task completes at once (never ran); a running
 * one completes with failureInfo TaskEnded and its run is cancelled on the
 * agent. Completed: no-op.
 */
void sched_task_terminate(struct model *m, struct mtask *t, int64_t now);
/* Task delete: leave queue and run (cancelled), then free. */
void sched_task_delete(struct model *m, struct mtask *t);

/* Job transitions (journalled). reason NULL = "UserTerminate". */
void sched_job_terminate(struct model *m, struct mjob *j, const char *reason,
                         int64_t now);
void sched_job_delete(struct model *m, struct mjob *j, int64_t now);
/* disable_tasks: requeue | terminate | wait. */
void sched_job_disable(struct model *m, struct mjob *j,
                       const char *disable_tasks, int64_t now);
void sched_job_enable(struct model *m, struct mjob *j, int64_t now);
/* onAllTasksComplete and terminating → completed; after any change. */
void sched_job_check(struct model *m, struct mjob *j, int64_t now);

/* A node's agent is gone or the node leaves: requeue its runs. */
void sched_node_lose_runs(struct model *m, struct mnode *n, int64_t now);

/* Put a job id on the purge list of every node of its pool. */
void sched_purge_job(struct model *m, struct mjob *j);

/*
 * Periodic work (the batch service's ticker): parked poll deadlines,
 * heartbeat timeouts, job wall clock, terminating/deleting jobs whose runs
 * are gone, retention. Takes the lock itself.
 */
void sched_tick(struct model *m, int64_t now, int64_t mono,
                int64_t heartbeat_timeout_ms);

/* After loading: rebuild queues and runs from task states. */
void sched_recover(struct model *m, int64_t mono);

#endif
