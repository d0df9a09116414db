#ifndef SHOAL_BATCH_MODEL_H
#define SHOAL_BATCH_MODEL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "batch/idmap.h"

struct err;
struct http_req;
struct store;

/*
 * The in-memory batch model (private to batch/; see model.c for the design
 * note): pools, their nodes, jobs, their tasks, and the runs that tie a task
 * attempt to a node. Everything lives in memory under one mutex
 * (model->mu); SQLite (store.c) is the durable copy, written through the
 * journal in the order the model changed.
 *
 * Rule for every mutation: hold mu, change the structs, call the matching
 * model_save_* (which renders the storage document and queues it, returning
 * a ticket), drop mu, then store_wait(ticket) before answering the client.
 */

enum task_state { TASK_ACTIVE, TASK_PREPARING, TASK_RUNNING, TASK_COMPLETED };
#define TASK_NSTATES 4
enum job_state {
    JOB_ACTIVE,
    JOB_DISABLING,
    JOB_DISABLED,
    JOB_ENABLING,
    JOB_TERMINATING,
    JOB_COMPLETED,
    JOB_DELETING,
};
enum pool_state { POOL_ACTIVE, POOL_DELETING };
enum pool_alloc { POOL_STEADY, POOL_RESIZING, POOL_STOPPING };
enum node_state {
    NODE_CREATING,
    NODE_STARTING,
    NODE_WAITING_START,
    NODE_START_FAILED,
    NODE_IDLE,
    NODE_RUNNING,
    NODE_UNUSABLE,
    NODE_LEAVING,
    NODE_OFFLINE,
    NODE_UNKNOWN,
    NODE_REBOOTING, /* nodeops.c: waiting to reboot, or rebooting */
};
enum task_result { RESULT_NONE, RESULT_SUCCESS, RESULT_FAILURE };
enum start_state { START_NONE, START_RUNNING, START_COMPLETED };

/* Wire names (lower case, as the spec spells them) and their parsers. */
const char *model_task_state_name(enum task_state s);
int model_task_state_parse(const char *s, enum task_state *out);
const char *model_job_state_name(enum job_state s);
int model_job_state_parse(const char *s, enum job_state *out);
const char *model_pool_state_name(enum pool_state s);
const char *model_pool_alloc_name(enum pool_alloc s);
const char *model_node_state_name(enum node_state s);
int model_node_state_parse(const char *s, enum node_state *out);
const char *model_result_name(enum task_result r); /* NULL for NONE */

/* failureInfo of a task or start task. */
struct mfail {
    char category[16]; /* usererror | servererror */
    char code[64];
    char *message;
};

struct mfail *model_fail_new(const char *category, const char *code,
                             const char *message);
void model_fail_free(struct mfail *f);

struct mpool;
struct mnode;
struct mjob;
struct mtask;
struct deps_job;
struct deps_ranges;
struct mjob_prep;
struct jobmgr;
struct schedule_set;

/*
 * The runnable tasks of one pool id (per account), in two levels (sched.c):
 * each job keeps its queued tasks in a heap by arrival (seq), and the queue
 * keeps the jobs that have any in a heap by job priority (high first), then
 * the arrival of their first task. Taking tops gives the tasks in (priority,
 * seq) order, and a job that a node cannot take at all is passed over in
 * one step. Jobs name their pool by id and may do so before the pool
 * exists, so queues are created on demand and outlive neither their pool
 * nor their last job by much (freed when both are gone and nothing is
 * queued).
 */
struct mqueue {
    char *key;           /* "account/poolid" as first spelled */
    struct mjob **jheap; /* jobs with queued tasks */
    size_t jn, jcap;
    size_t n;           /* queued tasks, all jobs together */
    struct mpool *pool; /* NULL while no pool has this id */
    int njobs;          /* jobs naming this pool */
};

/* One attempt of a task on a node (see sched.c). */
struct mrun {
    struct mnode *node;
    struct mtask *task; /* NULL once the task let go (terminated, deleted) */
    struct mjob *job;   /* counted in job->nruns until the run is freed */
    uint64_t rowid;     /* the task's row id */
    uint32_t attempt;
    int slots;
    uint64_t deliver_seq; /* response that carried the assignment */
    bool delivered;       /* the agent acknowledged that response */
    bool cancel;          /* the agent must kill it */
};

struct mtask {
    uint64_t rowid;
    uint64_t seq; /* arrival order, kept across retries and requeues */
    uint64_t deliver_seq; /* sync response that carried the attempt (kept
                             across a restart of shoald, agent_api.c) */
    struct mjob *job;
    char *id;
    char *spec; /* validated TaskAddParameter, compact JSON, owned */
    enum task_state state, prev_state;
    bool has_prev;
    int64_t created_ms, modified_ms, state_ms, prev_state_ms;
    uint64_t etag;
    int slots;            /* requiredSlots */
    int max_retries;      /* from the task's constraints; -2 = not given */
    int64_t max_wall_ms;  /* TIMEFMT_DURATION_INF when not given */
    int64_t retention_ms; /* -1 = not given (7 days) */
    /* executionInfo */
    int64_t start_ms, end_ms; /* 0 = absent */
    bool has_exit;
    int exit_code;
    enum task_result result;
    struct mfail *fail;
    int retry_count, requeue_count;
    int64_t last_retry_ms, last_requeue_ms; /* 0 = absent */
    uint32_t attempt;
    char *node_id;   /* nodeInfo: node of the current or last run */
    char *node_pool; /* its pool id */
    bool files_cleaned;
    /* dependencies (deps.c) and placement */
    uint32_t deps_unmet;            /* unmet dependsOn: queued only at 0 */
    bool deps_satisfied;            /* completed and released dependents */
    struct deps_ranges *dep_ranges; /* range cursors (one block) or NULL */
    char *affinity; /* affinityInfo node id ("TVM:" dropped) or NULL */
    /* links */
    struct mrun *run; /* while running */
    size_t heap_idx;  /* in job->theap (queued), or SIZE_MAX */
    size_t job_idx;   /* in job->tasks */
};

struct mjob {
    uint64_t rowid;
    char *account;
    char *id;
    json_t *spec; /* JobAddParameter as validated, kept current by updates */
    enum job_state state, prev_state;
    bool has_prev;
    int64_t created_ms, modified_ms, state_ms, prev_state_ms;
    uint64_t etag;
    int priority;
    bool terminate_on_complete; /* onAllTasksComplete: terminatejob */
    int max_retries;            /* constraints.maxTaskRetryCount, 0 */
    int64_t max_wall_ms;        /* constraints.maxWallClockTime */
    int64_t start_ms, end_ms;
    char *terminate_reason;
    struct mqueue *queue;
    struct idmap tasks_by_id;
    struct mtask **tasks; /* rowid order; NULL holes after deletes */
    size_t ntasks, tasks_cap, live;
    bool ntasks_frozen; /* being freed: no compaction */
    int counts[TASK_NSTATES], slot_counts[TASK_NSTATES];
    uint64_t assigned;    /* tasks ever handed to a node */
    bool user_terminated; /* Job_Terminate was called */
    int succeeded, failed, slots_succeeded, slots_failed;
    int nruns;              /* runs on nodes, cancelled ones included */
    struct deps_job *deps;  /* dependency index (deps.c), NULL until used */
    struct mjob_prep *prep; /* preparation/release (prep.c), NULL if none */
    struct jobmgr *jm;      /* job manager task (jobmgr.c), NULL if none */
    /* queued tasks (sched.c): a heap by seq; the job is in queue->jheap
     * (at qidx) exactly while it is not empty */
    struct mtask **theap;
    size_t tn, tcap;
    size_t qidx; /* in queue->jheap, or SIZE_MAX */
};

struct mpool {
    uint64_t rowid;
    char *account;
    char *id;
    json_t *spec; /* PoolAddParameter as validated, kept current */
    enum pool_state state;
    enum pool_alloc alloc;
    int64_t created_ms, modified_ms, state_ms, alloc_ms;
    uint64_t etag;
    int target, target_low;
    int slots; /* taskSlotsPerNode */
    int64_t resize_timeout_ms;
    json_t *resize_errors; /* resizeErrors of the last resize (super.c,
                              pool_api.c): an array, or NULL = none */
    /* nodes (nodeops.c, join.c) */
    bool join_mode;     /* x-shoal-allocation jointoken: nodes join */
    char join_hash[65]; /* hex SHA-256 of the join token; "" = none */
    int64_t join_ms;    /* when the join token was made */
    int dealloc;        /* enum nodeops_option of the last resize */
    struct mqueue *queue;
    struct mnode **nodes; /* creation order */
    size_t nnodes, nodes_cap;
};

struct mnode {
    uint64_t rowid;
    struct mpool *pool;
    char *id;
    enum node_state state;
    int64_t state_ms, alloc_ms, boot_ms;
    bool sched_enabled;
    char token_hash[65]; /* hex SHA-256 of the agent's token */
    int total_run, total_succeeded;
    /* startTaskInfo */
    enum start_state st_state;
    bool st_wait; /* the agent's start task has waitForSuccess */
    int64_t st_start_ms, st_end_ms;
    bool st_has_exit;
    int st_exit;
    int st_retry;
    enum task_result st_result;
    struct mfail *st_fail;
    /* session with the agent (memory only) */
    char boot[40];
    bool contacted; /* since this shoald started */
    int64_t last_seen_mono;
    uint64_t seq;
    struct mrun **runs;
    size_t nruns, runs_cap;
    int slots_used;
    int reserved; /* sched_assign: slots promised to affinity tasks (0
                     outside a call) */
    struct http_req *parked;
    int64_t park_deadline_mono;
    bool kick_pending;
    char **purges; /* job ids whose dirs the agent should remove */
    size_t npurges;
    int rel_pending; /* job release tasks to send it (prep.c) */
    /* local agent process (super.c) */
    pid_t pid;
    bool adopted;
    int64_t respawn_mono;
    int64_t stop_mono; /* SIGTERM sent (leaving); 0 = not yet */
    int crashes;
    bool removing; /* leaving the pool */
    /* node operations (nodeops.c) and remote nodes (join.c) */
    bool remote;         /* joined with a join token: no local process */
    char ip[64];         /* ipAddress: the agent's address as last seen */
    bool reboot_pending; /* rebooting: "reboot" goes out once drained */
    bool reboot_sent;    /* ... and went out; waiting for a new boot */
    bool stop_sent;      /* a response with "stop" went out (remote) */
};

/* A completed task's files to remove at `at` (retentionTime). */
struct mretain {
    int64_t at;
    uint64_t rowid;
};

struct model {
    pthread_mutex_t mu;
    struct store *store;
    struct idmap pools;     /* "account/id" -> mpool */
    struct idmap jobs;      /* "account/id" -> mjob */
    struct idmap queues;    /* "account/poolid" -> mqueue */
    struct idmap nodes;     /* node id -> mnode (ids are global) */
    struct u64map tasks;    /* rowid -> mtask */
    struct u64map job_rows; /* rowid -> mjob */
    struct mpool **pool_list;
    size_t npools, pools_cap;
    struct mjob **job_list;
    size_t njobs, jobs_cap;
    uint64_t next_rowid;
    uint64_t etag_counter;
    bool loading;           /* store_load running: no events */
    struct mretain *retain; /* min-heap by at (sched.c) */
    size_t nretain, retain_cap;
    struct schedule_set *scheds; /* job schedules (schedule.c), or NULL */
};

void model_init(struct model *m, struct store *st);
void model_release(struct model *m);

/* Row ids (one counter for every kind, so task rowids are unique) and
 * ETags, rendered "0x8DC..." (15 hex digits). */
uint64_t model_next_rowid(struct model *m);
uint64_t model_next_etag(struct model *m);
void model_etag_str(uint64_t etag, char out[24]);

/* "account/id", malloc'd. */
char *model_key(const char *account, const char *id);

/* Lookup (NULL if absent). */
struct mpool *model_pool_find(struct model *m, const char *account,
                              const char *id);
struct mjob *model_job_find(struct model *m, const char *account,
                            const char *id);
struct mtask *model_task_find(struct mjob *j, const char *id);
struct mnode *model_node_find(struct model *m, const char *id);

/* The queue for account/poolid, created on demand. */
struct mqueue *model_queue_get(struct model *m, const char *account,
                               const char *pool_id);
/* Free q if no pool or job refers to it and it is empty. */
void model_queue_maybe_free(struct model *m, struct mqueue *q);

/*
 * Entity creation and removal. _new functions allocate and link the entity
 * into the model (maps, lists, parents); they take ownership of spec.
 * _free unlinks and frees (the caller has already let go of runs and queue
 * membership).
 */
struct mpool *model_pool_new(struct model *m, const char *account,
                             const char *id, json_t *spec, int64_t now);
void model_pool_free(struct model *m, struct mpool *p);
struct mnode *model_node_new(struct model *m, struct mpool *p, const char *id,
                             int64_t now);
void model_node_free(struct model *m, struct mnode *n);
struct mjob *model_job_new(struct model *m, const char *account, const char *id,
                           json_t *spec, int64_t now);
void model_job_free(struct model *m, struct mjob *j);
/*
 * spec_take: compact JSON of the TaskAddParameter, owned from now on;
 * spec_json: the same, parsed (borrowed), or NULL to parse spec_take.
 */
struct mtask *model_task_new(struct model *m, struct mjob *j, const char *id,
                             char *spec_take, json_t *spec_json, int64_t now);
void model_task_free(struct model *m, struct mtask *t);

/* Apply the job's spec fields that drive behaviour (priority, constraints,
 * onAllTasksComplete, pool) to the struct; after add, patch and update. */
void model_job_apply_spec(struct model *m, struct mjob *j);
/* Same for a pool (target, slots, resize timeout). */
void model_pool_apply_spec(struct mpool *p);
/* Same for a task (requiredSlots, constraints). */
void model_task_apply_spec(struct mtask *t);
void model_task_apply_spec_json(struct mtask *t, json_t *spec);

/*
 * State changes: set the state, keep previousState and the times, the job's
 * counters, and journal a state-change event (batch.h) when a sink is set.
 * They do not save the entity; the caller does.
 */
void model_task_set_state(struct model *m, struct mtask *t, enum task_state s,
                          int64_t now);
void model_job_set_state(struct model *m, struct mjob *j, enum job_state s,
                         int64_t now);
void model_node_set_state(struct model *m, struct mnode *n, enum node_state s,
                          int64_t now);
void model_pool_set_state(struct model *m, struct mpool *p, enum pool_state s,
                          int64_t now);
void model_pool_set_alloc(struct mpool *p, enum pool_alloc a, int64_t now);

/* Removal events (the entity is about to be freed). */
void model_event_task_removed(struct model *m, struct mtask *t);
void model_event_job_removed(struct model *m, struct mjob *j);
void model_event_node_removed(struct model *m, struct mnode *n);
void model_event_pool_removed(struct model *m, struct mpool *p);

/* Effective limits of a task: its own, else its job's, else defaults. */
int model_task_max_retries(const struct mtask *t);
int64_t model_task_max_wall(const struct mtask *t);
int64_t model_task_retention(const struct mtask *t);

/*
 * Journal the entity's current state (render its storage document and
 * queue it). Return the ticket to store_wait() on. model_save_task_spec
 * also rewrites the spec column (on add and constraint updates).
 */
uint64_t model_save_pool(struct model *m, struct mpool *p);
uint64_t model_save_node(struct model *m, struct mnode *n);
uint64_t model_save_job(struct model *m, struct mjob *j);
uint64_t model_save_task(struct model *m, struct mtask *t);
uint64_t model_save_task_spec(struct model *m, struct mtask *t);
uint64_t model_delete_pool(struct model *m, uint64_t rowid);
uint64_t model_delete_node(struct model *m, uint64_t rowid);
uint64_t model_delete_job(struct model *m, uint64_t rowid);
uint64_t model_delete_task(struct model *m, uint64_t rowid);

/*
 * Restore from storage documents (store.c calls these while loading).
 * Return 0 or -ERR_INVALID for a document that does not parse (the row
 * is then skipped and logged).
 */
int model_load_pool(struct model *m, uint64_t rowid, const char *doc,
                    struct err *err);
int model_load_node(struct model *m, uint64_t rowid, uint64_t pool_rowid,
                    const char *doc, struct err *err);
int model_load_job(struct model *m, uint64_t rowid, const char *doc,
                   struct err *err);
int model_load_task(struct model *m, uint64_t rowid, uint64_t job_rowid,
                    const char *spec, const char *doc, struct err *err);

/* Parse a task's spec (new reference) or NULL if it does not parse. */
json_t *model_task_spec_json(const struct mtask *t);

/* Escape s as a JSON string (with quotes) into b. */
struct buf;
void model_json_str(struct buf *b, const char *s);

#endif
