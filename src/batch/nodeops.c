/*
 * nodeops.c: operations on compute nodes and the deallocation options.
 *
 * Purpose: one place for what reboot, disable/enable scheduling and
 * removal (removenodes, resize down, pool delete) do to a node and to the
 * tasks running on it, so node_api.c, pool_api.c and super.c agree.
 *
 * The option (ComputeNodeDeallocationOption and its siblings) decides the
 * fate of the running tasks:
 *
 *   requeue         each attempt is cancelled on the agent (the run stays,
 *                   task-less, holding its slots until the agent confirms
 *                   the kill) and the task goes back to active with
 *                   requeueCount + 1: it may run elsewhere at once.
 *   terminate       the attempt is cancelled and the task completes with
 *                   failureInfo TaskEnded (sched_task_terminate) and a
 *                   message naming the operation; it never runs again.
 *   taskcompletion  nothing happens to them: the node takes no new task
 *   retaineddata    and the operation finishes when the last one ends.
 *                   shoal keeps task data either way, so retaineddata
 *                   does not also wait for retention periods to expire.
 *
 * Node state (model.c has the whole machine):
 *
 *   reboot:   idle|running ──▶ rebooting ──(drained: "reboot" sent)──▶
 *             (agent re-executes itself, new boot id) ──▶ starting ──▶
 *             waitingforstarttask ──▶ idle
 *   disable:  idle ──▶ offline; running ──(its tasks end)──▶ offline
 *             (sched_node_refresh); enable: offline ──▶ idle
 *   remove:   any ──▶ leavingpool ──(drained)──▶ agent stopped ──▶ gone
 *
 * Invariants: a rebooting or leaving node is never given a task
 * (sched_node_usable); reboot_sent implies reboot_pending; a node is
 * "drained" when no run of it is tied to a task.
 *
 * Threads: every function runs under model->mu (the caller's).
 * Ownership: nothing is allocated here beyond what sched/model own.
 */
#include "batch/nodeops.h"

#include <stdlib.h>
#include <string.h>

#include "batch/sched.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"

static const char *const option_names[] = { "requeue", "terminate",
                                            "taskcompletion", "retaineddata" };

int nodeops_option_parse(const char *s, enum nodeops_option *out)
{
    if (!s || !*s) {
        *out = NODEOPS_REQUEUE;
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(option_names); i++) {
        if (str_ieq(s, option_names[i])) {
            *out = (enum nodeops_option)i;
            return 0;
        }
    }
    return -ERR_INVALID;
}

const char *nodeops_option_name(enum nodeops_option o)
{
    if ((size_t)o >= ARRAY_SIZE(option_names))
        return option_names[0];
    return option_names[o];
}

int nodeops_live_runs(const struct mnode *n)
{
    int live = 0;

    for (size_t i = 0; i < n->nruns; i++)
        live += n->runs[i]->task != NULL;
    return live;
}

bool nodeops_drained(const struct mnode *n)
{
    return nodeops_live_runs(n) == 0;
}

/*
 * Cancel r on its agent and put its task back in the queue, counted as a
 * requeue (the attempt may have started). The task-less run keeps its
 * slots until the agent reports the kill.
 */
static void requeue_run(struct model *m, struct mrun *r, int64_t now)
{
    struct mtask *t = r->task;

    t->run = NULL;
    r->task = NULL;
    r->cancel = true;
    t->requeue_count++;
    t->last_requeue_ms = now;
    t->start_ms = 0;
    model_task_set_state(m, t, TASK_ACTIVE, now);
    t->etag = model_next_etag(m);
    model_save_task(m, t);
    sched_enqueue(m, t);
}

void nodeops_release_runs(struct model *m, struct mnode *n,
                          enum nodeops_option opt, const char *why, int64_t now)
{
    size_t i = 0;

    if (opt == NODEOPS_TASKCOMPLETION || opt == NODEOPS_RETAINEDDATA)
        return;
    /* Each step detaches one run's task; cancelled runs stay listed. */
    while (i < n->nruns) {
        struct mrun *r = n->runs[i];
        struct mtask *t = r->task;

        if (!t) {
            i++;
            continue;
        }
        if (opt == NODEOPS_REQUEUE) {
            requeue_run(m, r, now);
        } else {
            sched_task_terminate(m, t, now);
            if (t->fail) {
                free(t->fail->message);
                t->fail->message = xasprintf(
                    "The task was terminated because its compute node %s", why);
                model_save_task(m, t);
            }
        }
        i = 0; /* sched may have reordered n->runs */
    }
    sched_wake_node(n);
    sched_node_refresh(m, n, now);
}

int nodeops_reboot(struct model *m, struct mnode *n, enum nodeops_option opt,
                   int64_t now, struct err *err)
{
    if (n->state == NODE_REBOOTING)
        return err_set(err, ERR_CONFLICT, "NodeBeingRebooted",
                       "the node '%s' is already rebooting", n->id);
    if (n->state == NODE_UNUSABLE)
        return err_set(err, ERR_CONFLICT, "NodeStateUnusable",
                       "the node '%s' is unusable", n->id);
    if (n->removing || (n->state != NODE_IDLE && n->state != NODE_RUNNING))
        return err_set(err, ERR_CONFLICT, "OperationInvalidForCurrentState",
                       "the node '%s' is %s: only an idle or running node "
                       "can be rebooted",
                       n->id, model_node_state_name(n->state));
    n->reboot_pending = true;
    n->reboot_sent = false;
    model_node_set_state(m, n, NODE_REBOOTING, now);
    nodeops_release_runs(m, n, opt, "was rebooted", now);
    sched_wake_node(n);
    log_info("node rebooting node=%s pool=%s option=%s", n->id, n->pool->id,
             nodeops_option_name(opt));
    return 0;
}

bool nodeops_reboot_due(const struct mnode *n)
{
    return n->reboot_pending && !n->reboot_sent && nodeops_drained(n);
}

void nodeops_rebooted(struct mnode *n)
{
    n->reboot_pending = false;
    n->reboot_sent = false;
}

int nodeops_disable_scheduling(struct model *m, struct mnode *n,
                               enum nodeops_option opt, int64_t now,
                               struct err *err)
{
    if (!n->sched_enabled)
        return err_set(err, ERR_CONFLICT, "NodeAlreadyInTargetSchedulingState",
                       "task scheduling is already disabled on node '%s'",
                       n->id);
    n->sched_enabled = false;
    nodeops_release_runs(m, n, opt, "had task scheduling disabled", now);
    if (n->state == NODE_IDLE ||
        (n->state == NODE_RUNNING && nodeops_drained(n)))
        model_node_set_state(m, n, NODE_OFFLINE, now);
    return 0;
}

int nodeops_enable_scheduling(struct model *m, struct mnode *n, int64_t now,
                              struct err *err)
{
    if (n->sched_enabled)
        return err_set(err, ERR_CONFLICT, "NodeAlreadyInTargetSchedulingState",
                       "task scheduling is already enabled on node '%s'",
                       n->id);
    n->sched_enabled = true;
    if (n->state == NODE_OFFLINE)
        model_node_set_state(m, n, NODE_IDLE, now);
    /* A parked poll may now take work. */
    sched_wake_node(n);
    return 0;
}

void nodeops_remove(struct model *m, struct mnode *n, enum nodeops_option opt,
                    int64_t now)
{
    if (n->removing)
        return;
    n->removing = true;
    model_node_set_state(m, n, NODE_LEAVING, now);
    nodeops_release_runs(m, n, opt, "left the pool", now);
    sched_wake_node(n);
    log_info("node leaving pool node=%s pool=%s option=%s", n->id, n->pool->id,
             nodeops_option_name(opt));
}
