#ifndef SHOAL_NOTIFY_H
#define SHOAL_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth;
struct config;
struct http_service;
struct db;
struct err;
struct http_req;

/*
 * Events, watch and notifications (notes/notifications.md).
 *
 * The batch service appends an event for every state change, inside the
 * same SQLite transaction as the change (notify_event_tx); the event gets
 * the next sequence number, and a row in the outbox for every notification
 * endpoint that must hear of it. After the commit, notify_committed() wakes
 * the watchers (GET /events, SSE or long-poll) and the dispatcher, which
 * delivers the outbox to storage queues (through the queue sink shoald
 * wires in) and webhooks, at least once, with backoff and dead letters.
 *
 * HTTP: notify_api_route() serves, on the batch port, /events,
 * /notificationendpoints[/{id}[/deadletters[/replay]]] and
 * /jobs/{id}/notificationsubscriptions; batch_api calls it after auth.
 */
struct notify;

enum notify_kind {
    NOTIFY_JOB_STATE = 1,       /* JobStateChange: media job states */
    NOTIFY_EP_REGISTERED = 2,   /* NotificationEndPointRegistration */
    NOTIFY_EP_UNREGISTERED = 3, /* ... with State Unregistered */
    NOTIFY_TASK_STATE = 4,      /* TaskStateChange: batch task states */
    NOTIFY_POOL_STATE = 10,     /* PoolStateChange */
    NOTIFY_NODE_STATE = 11,     /* NodeStateChange */
    NOTIFY_JOB_BATCH_STATE = 12, /* JobBatchStateChange: batch job states */
    /* JobScheduleStateChange: job schedule states */
    NOTIFY_JOB_SCHEDULE_STATE = 13
};

struct notify_event {
    const char *account;
    enum notify_kind kind;
    const char *entity_id; /* pool, node, job, task, job schedule or
                              endpoint id */
    const char *job_id;    /* job and task events, else NULL */
    const char *job_name;  /* JobStateChange: the job's display name */
    const char *pool_id;   /* node events */
    const char *old_state; /* as the kind spells states; NULL = none */
    const char *new_state;
    bool has_exit_code;    /* task events */
    int exit_code;
    const char *failure_code; /* task events, may be NULL */
    const char *created;   /* endpoint events: creation time, ISO 8601 */
};

/* Media job states (JobStateChange), from a job's batch picture. */
struct notify_job_picture {
    const char *state;          /* batch job state: active, completed... */
    const char *terminate_reason; /* executionInfo.terminateReason or NULL */
    bool user_terminated;       /* Job_Terminate was called */
    uint64_t assigned;          /* tasks ever handed to a node */
    uint64_t running;           /* tasks running now */
    uint64_t failed;            /* completed tasks with result failure */
};

/*
 * The media state of a job: Queued, Scheduled, Processing, Finished,
 * Error, Canceling, Canceled (notifications.md §2.4). Static string.
 */
const char *notify_media_state(const struct notify_job_picture *p);
bool notify_media_state_final(const char *state);

/*
 * Delivery into a storage queue of this server: called with the db lock
 * held inside an open transaction, so the enqueue and the outbox delete
 * commit together (each event is enqueued exactly once). create: make the
 * queue when it is missing (endpoint registration); otherwise a missing
 * queue is -ERR_NOTFOUND.
 */
int notify_open(const struct config *cfg, struct db *db, struct notify **out,
                struct err *err);
void notify_set_queue_sink(struct notify *n,
                           int (*fn)(void *ctx, struct db *db,
                                     const char *account, const char *queue,
                                     const char *text, size_t len,
                                     bool create, struct err *err),
                           void *ctx);
/* Does this job exist? For the subscriptions API (lock not held). */
void notify_set_job_lookup(struct notify *n,
                           bool (*fn)(void *ctx, const char *account,
                                      const char *job_id),
                           void *ctx);
/* Start the dispatcher and pruning thread. */
int notify_start(struct notify *n, struct err *err);
/* Stop threads (resumes nothing: the listener must be stopped first). */
void notify_close(struct notify *n);

/*
 * Append an event (db lock held, transaction open). Fills *seq_out when
 * not NULL. Job media events get outbox rows for the job's subscriptions
 * (All: every change; FinalStatesOnly: final NewState only).
 */
int notify_event_tx(struct notify *n, const struct notify_event *ev,
                    int64_t *seq_out, struct err *err);

/*
 * Subscriptions given on job add (extension field notificationSubscriptions)
 * (db lock held, transaction open). subs is the JSON array as text; each
 * item {"notificationEndPointId": id, "targetJobState": "All" |
 * "FinalStatesOnly" | 1 | 2}. -ERR_INVALID on a bad item, -ERR_NOTFOUND
 * for an unknown endpoint.
 */
int notify_subscribe_tx(struct notify *n, const char *account,
                        const char *job_id, const char *subs_json,
                        bool lenient, struct err *err);

/*
 * lenient (the job-add path, validated beforehand by the batch wrapper):
 * subscriptions naming an endpoint deleted since are skipped, not errors,
 * so the transaction that creates the job never fails on them.
 */

/*
 * The media state of a job after a change (db lock held, transaction
 * open). after is the job's picture, NULL when the job was removed. The
 * state last reported for the job is kept in the database; a JobStateChange
 * event (with outbox rows for the job's subscriptions) is appended only
 * when the state moves forward: Queued < Scheduled < Processing <
 * Canceling < Finished | Error | Canceled. A job whose tasks all finish
 * and go idle stays Processing; nothing follows a final state. A job
 * removed before a final state (deleted: Canceling) ends Canceled.
 */
int notify_job_media_tx(struct notify *n, const char *account,
                        const char *job_id, const char *job_name,
                        const struct notify_job_picture *after,
                        struct err *err);
/* Drop a job's subscriptions (job delete; lock held, transaction open). */
int notify_unsubscribe_job_tx(struct notify *n, const char *account,
                              const char *job_id, struct err *err);

/* The newest sequence number (lock held): x-shoal-event-seq. */
int64_t notify_last_seq_locked(struct notify *n);

/* Wake watchers and the dispatcher after a commit that wrote events. */
void notify_committed(struct notify *n);

/*
 * Serve the notify routes. Returns true when path is one of them (the
 * request is then answered or suspended); false to let batch route it.
 * account is the authenticated account. Call from begin() (bodies are
 * buffered; notify sets req->body_max) and again from end().
 */
bool notify_api_route(struct notify *n, struct http_req *req,
                      const char *account, bool at_end);
void notify_api_done(struct notify *n, struct http_req *req);

/*
 * The batch listener's service with the notify routes in front: requests
 * to /events, /notificationendpoints... and /jobs/{id}/notificationsubscriptions
 * are authenticated with Batch SharedKey and served by notify; everything
 * else goes to inner unchanged. The wrapper lives as long as n.
 */
const struct http_service *notify_wrap_service(struct notify *n,
                                               const struct http_service *in,
                                               const struct auth *auth);

#endif
