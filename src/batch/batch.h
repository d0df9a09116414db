#ifndef SHOAL_BATCH_H
#define SHOAL_BATCH_H

#include <stdbool.h>
#include <stdint.h>

struct auth;
struct config;
struct db;
struct err;
struct http_service;
struct listen_ports;

/*
 * The batch service: its public entry points, called by shoald's main.
 *
 * batch_service_open: set up (schema migrations, recovery of what a crash
 * left behind) over an open database and the account table; both outlive
 * the service. batch_service_http: the handlers to serve on the listener.
 * batch_service_start: called once every listener is bound (ports known).
 * batch_service_close: stop background work and free; after the listener
 * has stopped.
 */
struct batch_service;

int batch_service_open(const struct config *cfg, struct db *db,
                       const struct auth *auth, struct batch_service **out,
                       struct err *err);
const struct http_service *batch_service_http(struct batch_service *s);
int batch_service_start(struct batch_service *s,
                        const struct listen_ports *ports, struct err *err);
void batch_service_close(struct batch_service *s);

/*
 * State-change events, for the event log and notifications (issue 6).
 * Every creation, state change and removal of a pool, node, job, task or
 * job schedule is handed to sink->event inside the SQLite transaction that
 * commits it, in commit order, with the db lock held (so an event is
 * durable exactly when its change is); a failure rolls the transaction
 * back and it is retried.
 * sink->committed runs after each commit that carried events. Strings are
 * borrowed for the call. Set the sink after batch_service_open and before
 * batch_service_start; it stays for the life of the service.
 */
enum batch_event_kind {
    BATCH_EVENT_POOL = 1,
    BATCH_EVENT_NODE,
    BATCH_EVENT_JOB,
    BATCH_EVENT_TASK,
    BATCH_EVENT_SCHEDULE, /* job schedules: id is the schedule's */
};

/* What a job looks like, for media job states (notifications.md §2.4). */
struct batch_job_picture {
    const char *state;            /* batch job state, e.g. "active" */
    const char *terminate_reason; /* executionInfo.terminateReason or NULL */
    bool user_terminated;         /* Job_Terminate was called */
    uint64_t assigned;            /* tasks ever handed to a node */
    uint64_t running;             /* tasks running now */
    uint64_t failed;              /* completed tasks with result failure */
};

struct batch_event {
    const char *account;
    enum batch_event_kind kind;
    const char *id;        /* pool, node, job, task or job schedule id */
    const char *job_id;    /* job and task events */
    const char *job_name;  /* job and task events: displayName, else id */
    const char *pool_id;   /* node events */
    const char *old_state; /* wire spelling; NULL: created */
    const char *new_state; /* NULL: removed */
    bool has_exit_code;    /* task events */
    int exit_code;
    const char *failure_code; /* task events, NULL when none */
    /* job creation: the notificationSubscriptions JSON array, or NULL */
    const char *subscriptions;
    /* job and task events: the job before and after the change */
    struct batch_job_picture job_before, job_after;
    int64_t time_ms;
};

struct batch_event_sink {
    int (*event)(void *ctx, struct db *db, const struct batch_event *ev,
                 struct err *err);
    void (*committed)(void *ctx);
    void *ctx;
};

void batch_service_set_event_sink(struct batch_service *s,
                                  const struct batch_event_sink *sink);

/* Does the job exist (case-insensitive id)? Thread-safe; takes no db lock. */
bool batch_service_job_exists(struct batch_service *s, const char *account,
                              const char *job_id);

#endif
