#ifndef SHOAL_BATCH_NODEOPS_H
#define SHOAL_BATCH_NODEOPS_H

#include <stdbool.h>
#include <stdint.h>

#include "batch/model.h"

struct err;

/*
 * Operations on compute nodes (private to batch/; see nodeops.c for the
 * design note): reboot, disable and enable scheduling, removal from the
 * pool, and what each does to the tasks running on the node (the
 * deallocation option). Knows nothing of HTTP; node_api.c, pool_api.c and
 * super.c call it. Every function runs with model->mu held and journals
 * the tasks it changes; the caller saves the node (model_save_node) and
 * waits for the journal before answering.
 */

/*
 * ComputeNodeDeallocationOption / ComputeNodeRebootOption /
 * DisableComputeNodeSchedulingOption (one enum: each is a subset). Stored
 * in pool documents (mpool.dealloc): never renumber.
 */
enum nodeops_option {
    NODEOPS_REQUEUE = 0,    /* kill, back to active, requeueCount++ */
    NODEOPS_TERMINATE,      /* kill, completed with failureInfo TaskEnded */
    NODEOPS_TASKCOMPLETION, /* let them finish, start no new ones */
    NODEOPS_RETAINEDDATA,   /* as taskcompletion (task data is kept) */
};

/* Wire name ("requeue", ...) to option; NULL or "" is requeue.
 * -ERR_INVALID for anything else. */
int nodeops_option_parse(const char *s, enum nodeops_option *out);
const char *nodeops_option_name(enum nodeops_option o);

/* Runs of n still tied to a task (cancelled ones excluded). */
int nodeops_live_runs(const struct mnode *n);
/* No task runs on n any more (cancelled attempts may still be dying). */
bool nodeops_drained(const struct mnode *n);

/*
 * Apply opt to the tasks running on n: requeue or terminate them (their
 * attempts are cancelled on the agent), or leave them be. why ends up in
 * the failureInfo message of terminated tasks ("node rebooted").
 */
void nodeops_release_runs(struct model *m, struct mnode *n,
                          enum nodeops_option opt, const char *why,
                          int64_t now);

/*
 * ComputeNode_Reboot: only from idle or running (else 409
 * NodeBeingRebooted, NodeStateUnusable or OperationInvalidForCurrentState).
 * The node becomes rebooting at once and takes no new task; its tasks are
 * released per opt; the agent is told to reboot once none runs
 * (nodeops_reboot_due), and the node starts over (starting, start task)
 * when the agent comes back with a new boot id.
 */
int nodeops_reboot(struct model *m, struct mnode *n, enum nodeops_option opt,
                   int64_t now, struct err *err);
/* Whether the next sync response must carry "reboot". */
bool nodeops_reboot_due(const struct mnode *n);
/* The agent came back with a new boot id: the reboot is done. */
void nodeops_rebooted(struct mnode *n);

/*
 * ComputeNode_DisableScheduling (opt: requeue, terminate or
 * taskcompletion; retaineddata is refused by the schema): scheduling
 * disabled, tasks released per opt; the node is offline as soon as no task
 * runs on it. 409 NodeAlreadyInTargetSchedulingState when already disabled.
 */
int nodeops_disable_scheduling(struct model *m, struct mnode *n,
                               enum nodeops_option opt, int64_t now,
                               struct err *err);
/* ComputeNode_EnableScheduling: offline -> idle; 409 when enabled. */
int nodeops_enable_scheduling(struct model *m, struct mnode *n, int64_t now,
                              struct err *err);

/*
 * The node leaves its pool (removenodes, resize down, pool delete): state
 * leavingpool, tasks released per opt. super.c stops the agent (local) or
 * lets the "stop" reach it (remote) once nodeops_drained(n), then deletes
 * the node. A no-op for a node already leaving.
 */
void nodeops_remove(struct model *m, struct mnode *n, enum nodeops_option opt,
                    int64_t now);

#endif
