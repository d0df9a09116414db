/*
 * events.c: the glue between the batch service and notify.
 *
 * Batch hands every state change of a pool, node, job, task or job
 * schedule to its event sink inside the transaction that commits the
 * change (batch.h). Here each becomes an event in notify's log
 * (PoolStateChange, NodeStateChange, JobBatchStateChange, TaskStateChange,
 * JobScheduleStateChange, with the batch states as the wire spells them),
 * and every job or task event also feeds
 * the job's media state (notify_job_media_tx), which appends a
 * JobStateChange and its notifications when the state moves forward. A
 * job's creation records its notificationSubscriptions in the same
 * transaction; its removal drops them. After the commit, notify wakes its
 * watchers and dispatcher.
 *
 * Services never include each other; shoald, which owns both, is the one
 * place that knows both headers.
 */
#include "shoald/events.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "batch/batch.h"
#include "core/err.h"
#include "notify/notify.h"

static void picture(const struct batch_job_picture *b,
                    struct notify_job_picture *n)
{
    n->state = b->state;
    n->terminate_reason = b->terminate_reason;
    n->user_terminated = b->user_terminated;
    n->assigned = b->assigned;
    n->running = b->running;
    n->failed = b->failed;
}

static int on_event(void *ctx, struct db *db, const struct batch_event *ev,
                    struct err *err)
{
    struct notify *n = ctx;
    struct notify_event ne;
    struct notify_job_picture after;
    int rc;

    (void)db;
    memset(&ne, 0, sizeof(ne));
    ne.account = ev->account;
    ne.entity_id = ev->id;
    ne.old_state = ev->old_state;
    ne.new_state = ev->new_state;
    switch (ev->kind) {
    case BATCH_EVENT_POOL:
        ne.kind = NOTIFY_POOL_STATE;
        break;
    case BATCH_EVENT_NODE:
        ne.kind = NOTIFY_NODE_STATE;
        ne.pool_id = ev->pool_id;
        break;
    case BATCH_EVENT_JOB:
        ne.kind = NOTIFY_JOB_BATCH_STATE;
        ne.job_id = ev->job_id;
        ne.job_name = ev->job_name;
        break;
    case BATCH_EVENT_SCHEDULE:
        ne.kind = NOTIFY_JOB_SCHEDULE_STATE;
        break;
    case BATCH_EVENT_TASK:
        ne.kind = NOTIFY_TASK_STATE;
        ne.job_id = ev->job_id;
        ne.job_name = ev->job_name;
        ne.has_exit_code = ev->has_exit_code;
        ne.exit_code = ev->exit_code;
        ne.failure_code = ev->failure_code;
        break;
    }
    rc = notify_event_tx(n, &ne, NULL, err);
    if (rc < 0 || (ev->kind != BATCH_EVENT_JOB && ev->kind != BATCH_EVENT_TASK))
        return rc;
    if (ev->kind == BATCH_EVENT_JOB && !ev->old_state && ev->subscriptions) {
        rc = notify_subscribe_tx(n, ev->account, ev->job_id,
                                 ev->subscriptions, true, err);
        if (rc < 0)
            return rc;
    }
    if (ev->kind == BATCH_EVENT_JOB && !ev->new_state) {
        rc = notify_job_media_tx(n, ev->account, ev->job_id, ev->job_name,
                                 NULL, err);
        if (rc == 0)
            rc = notify_unsubscribe_job_tx(n, ev->account, ev->job_id, err);
        return rc;
    }
    if (ev->kind == BATCH_EVENT_TASK && !ev->new_state)
        return 0; /* a task removed: the job's picture is unchanged */
    picture(&ev->job_after, &after);
    return notify_job_media_tx(n, ev->account, ev->job_id, ev->job_name,
                               &after, err);
}

static void on_committed(void *ctx)
{
    notify_committed(ctx);
}

static bool job_exists(void *ctx, const char *account, const char *job_id)
{
    return batch_service_job_exists(ctx, account, job_id);
}

void events_wire(struct batch_service *b, struct notify *n)
{
    struct batch_event_sink sink = {on_event, on_committed, n};

    batch_service_set_event_sink(b, &sink);
    notify_set_job_lookup(n, job_exists, b);
}
