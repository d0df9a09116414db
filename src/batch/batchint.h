#ifndef SHOAL_BATCH_BATCHINT_H
#define SHOAL_BATCH_BATCHINT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch/model.h"
#include "http/http.h"

#define SHOAL_NODE_AGENT_VERSION "shoal-node/1"

struct account;
struct auth;
struct config;
struct db;
struct fileproxy;
struct fileproxy_op;
struct odata_expr;
struct odata_value;
struct super;

/*
 * Private to batch/: the service struct shared by batch.c (lifecycle and
 * ticker), batch_api.c (routing and the helpers every *_api.c uses) and
 * the per-resource API files. See batch.c for the design note.
 */
struct batch_service {
    struct http_service http;
    const struct config *cfg;
    struct db *db;
    const struct auth *auth;
    struct store *store;
    struct model model;
    struct super *super;
    char *data_dir;
    char *nodes_dir; /* DATA/nodes */
    char *batch_url; /* "http://127.0.0.1:PORT", for agents */
    char *blob_url;
    uint64_t seq_base; /* node protocol response numbers start here */
    struct fileproxy *proxy; /* file requests for remote nodes */
    pthread_t ticker;
    bool ticker_running;
    bool stopping;
    pthread_mutex_t tick_mu;
    pthread_cond_t tick_cv;
};

/* The routes of the public API (batch_api.c decides, handlers serve). */
enum batch_route {
    R_NONE = 0,
    R_POOLS,       /* /pools */
    R_POOL,        /* /pools/{p} */
    R_POOL_ACTION, /* /pools/{p}/{action} */
    R_POOL_JOINTOKEN, /* /pools/{p}/jointoken (join.c) */
    R_NODES,       /* /pools/{p}/nodes */
    R_NODE,        /* /pools/{p}/nodes/{n} */
    R_NODE_ACTION, /* /pools/{p}/nodes/{n}/{action} */
    R_NODE_FILES,  /* /pools/{p}/nodes/{n}/files */
    R_NODE_FILE,   /* /pools/{p}/nodes/{n}/files/{path} */
    R_JOBS,        /* /jobs */
    R_JOB,         /* /jobs/{j} */
    R_JOB_ACTION,  /* /jobs/{j}/{terminate|disable|enable} */
    R_TASKCOUNTS,  /* /jobs/{j}/taskcounts */
    R_JOB_PREPSTATUS, /* /jobs/{j}/jobpreparationandreleasetaskstatus */
    R_SCHEDULES,       /* /jobschedules (schedule_api.c) */
    R_SCHEDULE,        /* /jobschedules/{s} */
    R_SCHEDULE_ACTION, /* /jobschedules/{s}/{terminate|disable|enable} */
    R_SCHEDULE_JOBS,   /* /jobschedules/{s}/jobs (job_api.c) */
    R_TASKS,       /* /jobs/{j}/tasks */
    R_COLLECTION,  /* /jobs/{j}/addtaskcollection */
    R_TASK,        /* /jobs/{j}/tasks/{t} */
    R_TASK_ACTION, /* /jobs/{j}/tasks/{t}/{action} */
    R_TASK_FILES,  /* /jobs/{j}/tasks/{t}/files */
    R_TASK_FILE,   /* /jobs/{j}/tasks/{t}/files/{path} */
    R_NODECOUNTS,  /* /nodecounts */
    R_IMAGES,      /* /supportedimages */
    R_EMPTY_LIST,  /* /applications: an empty list */
    R_NOTIMPL,     /* recognised but not implemented */
};

/* Per-request state of the public API (req->state). */
struct breq {
    int magic;
    struct batch_service *s;
    const struct account *acct;
    enum batch_route route;
    char **seg; /* decoded path segments */
    size_t nseg;
    char *file_path; /* R_*_FILE: decoded, joined */
    struct fileproxy_op *fop; /* waiting for a remote node (fileproxy.c) */
    bool strict;     /* reject unknown body properties */
    char base[300];  /* "http://host" as the client addressed us */
};

#define BREQ_MAGIC 0x62726571

/* ---- batch_api.c: helpers for the handlers ---- */

/* Fill s->http with the batch API's handlers. */
void batch_api_init(struct batch_service *s);

/* Reply with an error (Batch OData JSON). */
void batch_api_fail(struct http_req *req, const struct err *e);
/* 405 for a method the route does not serve. */
void batch_api_bad_method(struct http_req *req);
/* Wait for the journal up to the last ticket; reply 500 and return false
 * when the write failed. */
bool batch_api_durable(struct http_req *req, uint64_t ticket);
/* Reply with a JSON body (o is taken). */
void batch_api_json(struct http_req *req, int status, json_t *o);
/* ETag and Last-Modified headers. */
void batch_api_entity_headers(struct http_req *req, uint64_t etag,
                              int64_t modified_ms);
/* 201 empty body with Location, DataServiceId, ETag, Last-Modified. */
void batch_api_created(struct http_req *req, const char *url, uint64_t etag,
                       int64_t modified_ms);
/* 200/202/204 for an action on url: DataServiceId (+ ETag etc. if etag). */
void batch_api_done(struct http_req *req, int status, const char *url,
                    uint64_t etag, int64_t modified_ms);
/*
 * If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since against
 * an entity. read: a GET/HEAD (a failed If-None-Match or If-Modified-Since
 * is 304); otherwise 412 ConditionNotMet. 0 when the request may proceed.
 */
int batch_api_conditions(struct http_req *req, bool read, uint64_t etag,
                         int64_t modified_ms, struct err *err);
/* Add "key": ISO 8601 time with 7 fractional digits. */
void batch_api_time(json_t *o, const char *key, int64_t ms);
/* Add "key": ISO 8601 duration. */
void batch_api_duration(json_t *o, const char *key, int64_t ms);
/* The body as a validated object of kind (see spec.h). */
int batch_api_body(struct http_req *req, int kind, bool allow_empty,
                   json_t **out, struct err *err);
/*
 * List plumbing: maxresults (1..limit, default limit), $filter parsed,
 * $select parsed, and the continuation token ($skiptoken, a rowid).
 */
struct batch_list {
    size_t max;
    struct odata_expr *filter;
    char **select;
    size_t nselect;
    uint64_t after; /* continue after this rowid (0 = from the start) */
};
int batch_api_list_begin(struct http_req *req, size_t limit,
                         struct batch_list *l, struct err *err);
void batch_api_list_release(struct batch_list *l);
/* Keep only the $select'ed top-level properties of o. */
void batch_api_select(json_t *o, char **select, size_t nselect);
/*
 * Reply {"odata.metadata": base/$metadata#what, "value": items,
 * "odata.nextLink": the same URL with $skiptoken=next when next != 0}.
 */
void batch_api_list_reply(struct http_req *req, const char *what, json_t *items,
                          uint64_t next);
/*
 * batch_api_list_begin, then refuse a $filter naming a property get() does
 * not know (odata_check). -1 when it failed: l is released and the error
 * replied.
 */
int batch_api_list_start(struct http_req *req, size_t limit,
                         int (*get)(void *ctx, const char *prop,
                                    struct odata_value *out),
                         struct batch_list *l);
/*
 * Finish a list: e set, reply it (items dropped); otherwise
 * batch_api_list_reply (items taken). Releases l.
 */
void batch_api_list_end(struct http_req *req, struct batch_list *l,
                        const char *what, json_t *items, uint64_t next,
                        const struct err *e);
/*
 * GET/HEAD of one entity: the read conditions (batch_api_conditions) and
 * $select (*sel, *nsel; NULL and 0 without one). 0 when it may go on.
 */
int batch_api_get_begin(struct http_req *req, uint64_t etag,
                        int64_t modified_ms, char ***sel, size_t *nsel,
                        struct err *err);
/*
 * Reply 200 with entity o (taken): "odata.metadata":
 * base/$metadata#what/@Element, only the $select'ed properties; frees sel.
 */
void batch_api_get_reply(struct http_req *req, const char *what, json_t *o,
                         char **sel, size_t nsel);
/* The account name of the request. */
const char *batch_api_account(struct http_req *req);
struct breq *batch_api_state(struct http_req *req);

/* ---- per-resource handlers (called from batch_api.c) ---- */

void pool_api_handle(struct http_req *req);
void job_api_handle(struct http_req *req);
void task_api_handle(struct http_req *req);
void file_api_handle(struct http_req *req);
void node_api_handle(struct http_req *req); /* compute node list/get/... */
void prep_api_handle(struct http_req *req); /* prep/release status list */
void schedule_api_handle(struct http_req *req); /* job schedules */

/* Renderers shared between files. */
json_t *pool_api_render(struct breq *b, const struct mpool *p);
json_t *node_api_render(struct breq *b, const struct mnode *n);

/* ---- the agent protocol (agent_api.c), under /_node/v1 ---- */
void agent_api_begin(struct http_req *req);
void agent_api_end(struct http_req *req);
void agent_api_done(struct http_req *req);
/* Waker for sched: resume n's parked poll. */
void agent_api_wake(void *ctx, struct mnode *n);

#endif
