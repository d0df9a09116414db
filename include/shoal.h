#ifndef SHOAL_H
#define SHOAL_H

/*
 * libshoal: the C client library of shoal (and of the services whose wire
 * protocols shoal speaks: Azure Blob and Queue storage, Azure Batch).
 *
 * Conventions, for every function below unless its paragraph says more:
 *
 * - Functions return SHOAL_OK (0) or a negative SHOAL_ERR_* code. After a
 *   failure, shoal_client_last_error() gives the detail (HTTP status, the
 *   service's error code such as "ContainerNotFound", its message). The
 *   last error is per client, not per thread: when several threads share a
 *   client, the detail belongs to whichever call failed last. A successful
 *   call leaves it alone (like errno).
 * - Nothing aborts. Out of memory is SHOAL_ERR_NOMEM.
 * - Strings passed in are borrowed for the call. Anything a function hands
 *   back through a `*_out` parameter is owned by the caller and freed with
 *   the matching *_free function (or shoal_free for plain strings and
 *   buffers); on failure `*_out` is left untouched.
 * - A shoal_client may be shared by threads: requests on one client run
 *   concurrently and reuse connections.
 * - Names (containers, blobs, queues, ids) are passed unescaped; the library
 *   escapes them for the URL.
 * - Times are milliseconds since the Unix epoch (UTC); durations are
 *   milliseconds unless the name says seconds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHOAL_VERSION_STRING "0.1.0"

/* Error codes: every function returns 0 or one of these. */
enum shoal_error_code {
    SHOAL_OK = 0,
    SHOAL_ERR_NOMEM = -1,         /* out of memory */
    SHOAL_ERR_INVALID = -2,       /* bad argument, connection string, name */
    SHOAL_ERR_IO = -3,            /* local file error (message says which) */
    SHOAL_ERR_CONNECT = -4,       /* service unreachable, after retries */
    SHOAL_ERR_TIMEOUT = -5,       /* request or wait timed out */
    SHOAL_ERR_HTTP = -6,          /* service refused the request (4xx) */
    SHOAL_ERR_NOTFOUND = -7,      /* 404 */
    SHOAL_ERR_CONFLICT = -8,      /* 409: exists, being deleted, ... */
    SHOAL_ERR_AUTH = -9,          /* 401 or 403 */
    SHOAL_ERR_PRECONDITION = -10, /* 412: a condition did not hold */
    SHOAL_ERR_SERVER = -11,       /* 5xx, after retries */
    SHOAL_ERR_PROTOCOL = -12,     /* reply we could not understand */
    SHOAL_ERR_CANCELLED = -13,    /* a callback asked to stop */
    SHOAL_ERR_GONE = -14,         /* 410: e.g. a watch cursor too old */
};

/* A short lowercase description of a code ("not found"). Never NULL. */
const char *shoal_strerror(int code);

/* Free a string or buffer the library returned. NULL is a no-op. */
void shoal_free(void *p);

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

typedef struct shoal_client shoal_client;

/*
 * Connection settings for shoal_client_new_with(). Any field may be NULL.
 * The storage account name and base64 key sign blob and queue requests;
 * batch_account and batch_key (default: the storage ones) sign Batch
 * requests. Endpoint URLs are "scheme://host[:port][/base-path]"; path-style
 * storage endpoints carry the account as the base path
 * ("http://127.0.0.1:10000/devstoreaccount1"). sas is a SAS token (without
 * the '?') used instead of a key for storage requests.
 */
struct shoal_config {
    const char *account;
    const char *key;
    const char *blob_url;
    const char *queue_url;
    const char *batch_url;
    const char *batch_account;
    const char *batch_key;
    const char *sas;
};

/*
 * Create a client from an Azure connection string: "Key=Value;..." with the
 * keys DefaultEndpointsProtocol, AccountName, AccountKey, EndpointSuffix,
 * BlobEndpoint, QueueEndpoint, SharedAccessSignature and
 * UseDevelopmentStorage=true (devstoreaccount1 and its well-known key, blob
 * http://127.0.0.1:10000/devstoreaccount1, queue :10001, batch :10002;
 * DevelopmentStorageProxyUri moves the host), plus shoal's extensions
 * BatchEndpoint, BatchAccountName and BatchAccountKey. Keys are
 * case-insensitive; explicit endpoints override the derived ones; unknown
 * keys are ignored. Errors: SHOAL_ERR_INVALID (malformed, a key given twice,
 * a key that is not base64, nothing to connect to), SHOAL_ERR_NOMEM. The
 * reason of an SHOAL_ERR_INVALID is written to err_out (may be NULL) as a
 * NUL-terminated message of at most errlen bytes, since there is no client
 * yet to ask.
 */
int shoal_client_new(const char *connection_string, shoal_client **out,
                     char *err_out, size_t errlen);

/* Create a client from explicit settings; errors as shoal_client_new. */
int shoal_client_new_with(const struct shoal_config *cfg, shoal_client **out,
                          char *err_out, size_t errlen);

/* Free a client. Requests must not be in flight. NULL is a no-op. */
void shoal_client_free(shoal_client *c);

/* Tunables for shoal_client_set(). Defaults in brackets. */
enum shoal_option {
    SHOAL_OPT_RETRIES,            /* [4] retries after the first try */
    SHOAL_OPT_RETRY_BASE_MS,      /* [200] first backoff, doubled per try */
    SHOAL_OPT_RETRY_MAX_MS,       /* [5000] cap on one backoff */
    SHOAL_OPT_CONNECT_TIMEOUT_MS, /* [10000] */
    SHOAL_OPT_TIMEOUT_MS,         /* [0 = none] whole request */
    SHOAL_OPT_STALL_TIMEOUT_MS,   /* [60000] no byte moved for this long */
    SHOAL_OPT_PARALLEL,           /* [4] threads per blob transfer, 1..64 */
    SHOAL_OPT_BLOCK_SIZE,         /* [4 MiB] Put Block / range size */
    SHOAL_OPT_SINGLE_PUT_MAX,     /* [32 MiB] largest single Put Blob */
};

/*
 * Set an option; SHOAL_ERR_INVALID when the value is out of range.
 * Not thread-safe against requests in flight on the same client.
 */
int shoal_client_set(shoal_client *c, enum shoal_option opt, int64_t value);

/* Detail of the last failure on a client (see the conventions above). */
struct shoal_error {
    int code;              /* SHOAL_ERR_*, 0 if nothing failed yet */
    int http_status;       /* 0 when no reply was received */
    char service_code[64]; /* "ContainerNotFound", "JobNotFound"; or "" */
    char message[512];     /* the service's message (first line) or ours */
    char request_id[64];   /* the service's request id, when known */
};

/* Copy the last error of c into *out. Thread-safe. */
void shoal_client_last_error(const shoal_client *c, struct shoal_error *out);

/*
 * The account name for storage requests and the endpoint URLs, borrowed
 * for the life of the client ("" when not configured).
 */
const char *shoal_client_account(const shoal_client *c);
const char *shoal_client_blob_url(const shoal_client *c);
const char *shoal_client_queue_url(const shoal_client *c);
const char *shoal_client_batch_url(const shoal_client *c);

/* A name/value pair: metadata, environment settings. */
struct shoal_kv {
    const char *name;
    const char *value;
};

/* ------------------------------------------------------------------ */
/* Shared access signatures                                            */
/* ------------------------------------------------------------------ */

/*
 * Make a SAS token (query string without '?', sv=2021-12-02) signed with
 * the client's storage key, valid from start_ms (0: no start, valid at
 * once) until expiry_ms. perms are permission letters in any order; they
 * are validated and put in the canonical order (blob "racwdxytmei",
 * container "racwdxyltfmei", queue "raup"). Errors: SHOAL_ERR_INVALID
 * (unknown letter, empty perms, expiry not after start, no key).
 *
 * shoal_sas_blob signs for one blob (sr=b), shoal_sas_container for a
 * container and its blobs (sr=c), shoal_sas_queue for a queue.
 * shoal_sas_account signs an account SAS: services is a subset of "bqf"
 * (blob, queue, file), resource_types of "sco" (service, container,
 * object), perms of "rwdxylacupfti".
 */
int shoal_sas_blob(shoal_client *c, const char *container, const char *blob,
                   const char *perms, int64_t start_ms, int64_t expiry_ms,
                   char **token_out);
int shoal_sas_container(shoal_client *c, const char *container,
                        const char *perms, int64_t start_ms, int64_t expiry_ms,
                        char **token_out);
int shoal_sas_queue(shoal_client *c, const char *queue, const char *perms,
                    int64_t start_ms, int64_t expiry_ms, char **token_out);
int shoal_sas_account(shoal_client *c, const char *services,
                      const char *resource_types, const char *perms,
                      int64_t start_ms, int64_t expiry_ms, char **token_out);

/*
 * The URL of a container (blob NULL), a blob or a queue, escaped, with
 * "?" + sas appended when sas is not NULL. Returned in *url_out.
 */
int shoal_blob_url(shoal_client *c, const char *container, const char *blob,
                   const char *sas, char **url_out);
int shoal_queue_url(shoal_client *c, const char *queue, const char *sas,
                    char **url_out);

/* ------------------------------------------------------------------ */
/* Blob storage                                                        */
/* ------------------------------------------------------------------ */

/*
 * Progress of a transfer: done of total bytes. Called from the library's
 * worker threads, but never concurrently for one transfer. Return 0 to go
 * on, anything else to stop the transfer with SHOAL_ERR_CANCELLED.
 */
struct shoal_progress {
    int (*fn)(int64_t done, int64_t total, void *ctx);
    void *ctx;
};

/*
 * Create a container. With if_not_exists, an existing container is fine
 * (*created_out, if not NULL, says which happened); without it, an existing
 * container is SHOAL_ERR_CONFLICT (ContainerAlreadyExists).
 */
int shoal_container_create(shoal_client *c, const char *name,
                           bool if_not_exists, bool *created_out);
/* Delete a container and its blobs. SHOAL_ERR_NOTFOUND if absent. */
int shoal_container_delete(shoal_client *c, const char *name);

/* One container in a listing; strings valid during the callback only. */
struct shoal_container_item {
    const char *name;
    const char *etag;
    const char *last_modified; /* RFC 1123 as the service sent it */
    const struct shoal_kv *meta;
    size_t nmeta;
};

/*
 * List containers whose names start with prefix (may be NULL), calling fn
 * for each; fn returns 0 to go on, non-zero to stop (SHOAL_ERR_CANCELLED).
 * Follows continuation markers to the end.
 */
int shoal_container_list(shoal_client *c, const char *prefix,
                         int (*fn)(const struct shoal_container_item *item,
                                   void *ctx),
                         void *ctx);

/* Upload options; a zeroed struct (or NULL) means defaults. */
struct shoal_upload_opts {
    const char *content_type;    /* default application/octet-stream */
    const struct shoal_kv *meta; /* x-ms-meta-* */
    size_t nmeta;
    bool no_overwrite; /* fail with SHOAL_ERR_CONFLICT if it exists */
    struct shoal_progress progress;
};

/*
 * Upload a local file as a block blob. Files up to SHOAL_OPT_SINGLE_PUT_MAX
 * go in one Put Blob; larger ones as SHOAL_OPT_BLOCK_SIZE blocks, up to
 * SHOAL_OPT_PARALLEL in flight, then Put Block List. Errors:
 * SHOAL_ERR_IO (reading the file), the service's errors, CANCELLED.
 */
int shoal_blob_upload(shoal_client *c, const char *container, const char *blob,
                      const char *path, const struct shoal_upload_opts *opts);

/* Upload len bytes from memory in one Put Blob. */
int shoal_blob_put(shoal_client *c, const char *container, const char *blob,
                   const void *data, size_t len,
                   const struct shoal_upload_opts *opts);

/*
 * Download a blob to path: a HEAD, then SHOAL_OPT_BLOCK_SIZE ranges in
 * parallel (conditional on the first ETag, so a blob replaced meanwhile
 * fails with SHOAL_ERR_PRECONDITION rather than mixing versions). Writes a
 * temporary file beside path and renames it into place on success; path is
 * not touched on failure. progress may be NULL.
 */
int shoal_blob_download(shoal_client *c, const char *container,
                        const char *blob, const char *path,
                        const struct shoal_progress *progress);

/*
 * Read a whole blob into memory: at most max bytes (a larger blob fails
 * with SHOAL_ERR_INVALID). *data_out is NUL-terminated (the NUL is not
 * counted in *len_out); free it with shoal_free.
 */
int shoal_blob_get(shoal_client *c, const char *container, const char *blob,
                   size_t max, char **data_out, size_t *len_out);

/* Blob properties, from shoal_blob_properties(); free with _free. */
struct shoal_blob_props {
    int64_t size;
    const char *etag;
    const char *last_modified;
    const char *creation_time;
    const char *content_type;
    const char *content_md5;
    const char *blob_type;
    const struct shoal_kv *meta;
    size_t nmeta;
};

int shoal_blob_properties(shoal_client *c, const char *container,
                          const char *blob, struct shoal_blob_props **out);
void shoal_blob_props_free(struct shoal_blob_props *p);

/* Replace all metadata of a blob (n == 0 clears it). */
int shoal_blob_set_metadata(shoal_client *c, const char *container,
                            const char *blob, const struct shoal_kv *meta,
                            size_t n);

/* Delete a blob (and its snapshots). SHOAL_ERR_NOTFOUND if absent. */
int shoal_blob_delete(shoal_client *c, const char *container, const char *blob);

/* One blob (or, in a hierarchical listing, a prefix) in a listing. */
struct shoal_blob_item {
    const char *name;
    bool is_prefix; /* a BlobPrefix: only name is set */
    int64_t size;
    const char *etag;
    const char *last_modified;
    const char *content_type;
    const char *content_md5;
    const char *blob_type;
    const struct shoal_kv *meta; /* with include_metadata */
    size_t nmeta;
};

/* Listing options; NULL means a flat listing of everything. */
struct shoal_list_opts {
    const char *prefix;
    const char *delimiter; /* "/" for a hierarchical listing */
    bool include_metadata;
    int max_results;    /* page size, 0 = the service's (5000) */
    const char *marker; /* start from this continuation marker */
    bool one_page;      /* stop after one page (see next_marker_out) */
};

/*
 * List blobs of a container in name order, calling fn for each item
 * (strings valid during the call only); fn returns 0 to go on, non-zero to
 * stop with SHOAL_ERR_CANCELLED. Follows continuation markers unless
 * opts->one_page; then *next_marker_out (if not NULL) receives the marker
 * of the next page, or NULL at the end.
 */
int shoal_blob_list(shoal_client *c, const char *container,
                    const struct shoal_list_opts *opts,
                    int (*fn)(const struct shoal_blob_item *item, void *ctx),
                    void *ctx, char **next_marker_out);

/* ------------------------------------------------------------------ */
/* Queue storage                                                       */
/* ------------------------------------------------------------------ */

/*
 * Create a queue. An existing queue with the same metadata is fine
 * (*created_out false); with other metadata it is SHOAL_ERR_CONFLICT.
 */
int shoal_queue_create(shoal_client *c, const char *name,
                       const struct shoal_kv *meta, size_t nmeta,
                       bool *created_out);
int shoal_queue_delete(shoal_client *c, const char *name);
/* List queues (prefix may be NULL); fn as for shoal_container_list. */
int shoal_queue_list(shoal_client *c, const char *prefix,
                     int (*fn)(const char *name, const struct shoal_kv *meta,
                               size_t nmeta, void *ctx),
                     void *ctx);
/* Approximate number of messages in a queue. */
int shoal_queue_count(shoal_client *c, const char *name, int64_t *count_out);

/* A message. Strings are owned by the list that holds it. */
struct shoal_message {
    const char *id;
    const char *pop_receipt; /* NULL for peeked messages */
    const char *text;
    const char *insertion_time;
    const char *expiration_time;
    const char *next_visible; /* NULL for peeked messages */
    int64_t dequeue_count;
};

struct shoal_messages {
    size_t n;
    struct shoal_message *v;
};

void shoal_messages_free(struct shoal_messages *m);

/*
 * Put a message: text is sent verbatim (XML-escaped, not base64).
 * visibility_s delays it (0: visible at once); ttl_s is its time to live
 * (0: the service default of 7 days, -1: never expires). out (may be NULL)
 * receives the message as the service describes it (id, pop receipt).
 */
int shoal_queue_put(shoal_client *c, const char *queue, const char *text,
                    int visibility_s, int ttl_s, struct shoal_messages **out);
/*
 * Get up to n (1..32) messages, hiding them for visibility_s seconds
 * (0: the service default, 30 s). An empty queue gives an empty list.
 */
int shoal_queue_get(shoal_client *c, const char *queue, int n, int visibility_s,
                    struct shoal_messages **out);
/* Peek up to n (1..32) messages without hiding them. */
int shoal_queue_peek(shoal_client *c, const char *queue, int n,
                     struct shoal_messages **out);
/*
 * Update a message's visibility (and its text, unless text is NULL). The
 * new pop receipt goes to *pop_receipt_out (may be NULL).
 */
int shoal_queue_update(shoal_client *c, const char *queue, const char *id,
                       const char *pop_receipt, const char *text,
                       int visibility_s, char **pop_receipt_out);
int shoal_queue_delete_message(shoal_client *c, const char *queue,
                               const char *id, const char *pop_receipt);
/* Delete every message of a queue. */
int shoal_queue_clear(shoal_client *c, const char *queue);

/* ------------------------------------------------------------------ */
/* Batch: documents                                                    */
/* ------------------------------------------------------------------ */

/*
 * A shoal_doc holds what a Batch get or list returned: a list of entities
 * (pools, nodes, jobs, tasks, files), one for a get. Fields are addressed
 * by '/'-separated paths as in OData ("executionInfo/exitCode"); a numeric
 * segment indexes an array ("resourceFiles/0/httpUrl").
 */
typedef struct shoal_doc shoal_doc;

#define SHOAL_DOC_ALL ((size_t)-1)

size_t shoal_doc_count(const shoal_doc *d);
/*
 * The string at path in entity i, borrowed until shoal_doc_free; NULL when
 * absent or not a string (numbers are read with shoal_doc_int).
 */
const char *shoal_doc_str(const shoal_doc *d, size_t i, const char *path);
/* The integer at path (a JSON number, or a string of digits as Batch sends
 * int64 values); SHOAL_ERR_NOTFOUND when absent or not an integer. */
int shoal_doc_int(const shoal_doc *d, size_t i, const char *path, int64_t *out);
/* Whether path exists in entity i. */
bool shoal_doc_has(const shoal_doc *d, size_t i, const char *path);
/*
 * Entity i (or, with SHOAL_DOC_ALL, all as an array) as JSON text, pretty
 * when pretty; NULL when out of memory or i is out of range. Free with
 * shoal_free.
 */
char *shoal_doc_json(const shoal_doc *d, size_t i, bool pretty);
void shoal_doc_free(shoal_doc *d);

/* List options for Batch lists; NULL means all, every field. */
struct shoal_query {
    const char *filter; /* OData $filter, e.g. "state eq 'completed'" */
    const char *select; /* $select, e.g. "id,state" */
    const char *expand; /* $expand, e.g. "stats" */
    int max_results;    /* 0: all pages; else stop after this many */
};

/* ------------------------------------------------------------------ */
/* Batch: pools and nodes                                              */
/* ------------------------------------------------------------------ */

/* A resource file a task (or start task) downloads before it runs. */
struct shoal_resource_file {
    const char *http_url;              /* one of http_url and */
    const char *storage_container_url; /* storage_container_url */
    const char *blob_prefix;           /* with storage_container_url */
    const char *file_path;             /* destination, relative */
    const char *file_mode;             /* e.g. "0755"; NULL: default */
};

struct shoal_start_task {
    const char *command_line; /* not run under a shell */
    const struct shoal_resource_file *resource_files;
    size_t nresource_files;
    const struct shoal_kv *env;
    size_t nenv;
    bool wait_for_success;
    bool elevated;   /* run as the pool's admin auto-user */
    int max_retries; /* 0: none, -1: unlimited */
};

struct shoal_pool_spec {
    const char *id;
    const char *vm_size; /* NULL: "standard_d1_v2" */
    int target_nodes;
    int slots_per_node;                        /* 0: 1 */
    const struct shoal_start_task *start_task; /* NULL: none */
    const char *json; /* a whole PoolAddParameter instead */
};

/* Add a pool. SHOAL_ERR_CONFLICT (PoolExists) when the id is taken. */
int shoal_pool_add(shoal_client *c, const struct shoal_pool_spec *spec);
/* Get one pool; select may be NULL. */
int shoal_pool_get(shoal_client *c, const char *id, const char *select,
                   shoal_doc **out);
int shoal_pool_list(shoal_client *c, const struct shoal_query *q,
                    shoal_doc **out);
int shoal_pool_delete(shoal_client *c, const char *id);
/* Resize to target_nodes dedicated nodes. */
int shoal_pool_resize(shoal_client *c, const char *id, int target_nodes);
/*
 * shoal only: a new join token for a pool created with
 * "x-shoal-allocation": "jointoken" (the previous token stops working;
 * nodes that joined keep theirs). *token_out and *join_url_out (the batch
 * URL as the server saw this client use it) are freed with shoal_free.
 * shoal_pool_revoke_join_token deletes the pool's token.
 */
int shoal_pool_join_token(shoal_client *c, const char *pool, char **token_out,
                          char **join_url_out);
int shoal_pool_revoke_join_token(shoal_client *c, const char *pool);
/* Nodes of a pool. */
int shoal_pool_list_nodes(shoal_client *c, const char *pool,
                          const struct shoal_query *q, shoal_doc **out);
int shoal_pool_get_node(shoal_client *c, const char *pool, const char *node,
                        shoal_doc **out);

/* ------------------------------------------------------------------ */
/* Batch: jobs                                                         */
/* ------------------------------------------------------------------ */

/* Which job state changes a notification endpoint hears of. */
enum shoal_target_state {
    SHOAL_TARGET_FINAL = 1, /* FinalStatesOnly: Finished, Error, Canceled */
    SHOAL_TARGET_ALL = 2,   /* All: every change (never NewState Queued) */
};

/* A job's subscription of a notification endpoint (see Notifications). */
struct shoal_subscription {
    const char *endpoint_id; /* "nb:nepid:UUID:..." */
    enum shoal_target_state target;
};

struct shoal_job_spec {
    const char *id;
    const char *pool_id;
    int priority;                   /* -1000..1000 */
    int max_task_retries;           /* 0: none, -1: unlimited */
    bool terminate_on_all_complete; /* onAllTasksComplete terminatejob */
    bool uses_task_dependencies;
    const char *json; /* a whole JobAddParameter instead */
    /* Sent as shoal's notificationSubscriptions extension field. */
    const struct shoal_subscription *subscriptions;
    size_t nsubscriptions;
};

int shoal_job_add(shoal_client *c, const struct shoal_job_spec *spec);
int shoal_job_get(shoal_client *c, const char *id, const char *select,
                  shoal_doc **out);
int shoal_job_list(shoal_client *c, const struct shoal_query *q,
                   shoal_doc **out);
/* Terminate a job; reason may be NULL (the service says UserTerminate). */
int shoal_job_terminate(shoal_client *c, const char *id, const char *reason);
int shoal_job_delete(shoal_client *c, const char *id);
/* PATCH a job with a JSON object of the fields to change. */
int shoal_job_patch(shoal_client *c, const char *id, const char *json);

/*
 * A job's notification subscriptions (shoal's extension,
 * /jobs/J/notificationsubscriptions): each names an endpoint and a
 * target. shoal_job_subscriptions lists them as a doc of
 * {notificationEndPointId, targetJobState ("All" | "FinalStatesOnly")};
 * shoal_job_set_subscriptions replaces the whole set (n == 0 clears it);
 * shoal_job_subscribe adds one endpoint or changes its target, and
 * shoal_job_unsubscribe removes one (SHOAL_ERR_NOTFOUND when it was not
 * subscribed). subscribe and unsubscribe read the set and write it back:
 * two clients changing one job's set at once may lose one change.
 * Errors: SHOAL_ERR_NOTFOUND (JobNotFound, NotificationEndPointNotFound),
 * SHOAL_ERR_INVALID (a bad target or empty id).
 */
int shoal_job_subscriptions(shoal_client *c, const char *job, shoal_doc **out);
int shoal_job_set_subscriptions(shoal_client *c, const char *job,
                                const struct shoal_subscription *subs,
                                size_t n);
int shoal_job_subscribe(shoal_client *c, const char *job,
                        const char *endpoint_id,
                        enum shoal_target_state target);
int shoal_job_unsubscribe(shoal_client *c, const char *job,
                          const char *endpoint_id);

/* ------------------------------------------------------------------ */
/* Batch: tasks                                                        */
/* ------------------------------------------------------------------ */

enum shoal_upload_condition {
    SHOAL_UPLOAD_TASK_SUCCESS = 0,
    SHOAL_UPLOAD_TASK_FAILURE,
    SHOAL_UPLOAD_TASK_COMPLETION,
};

/* A file the node uploads to blob storage after the task. */
struct shoal_output_file {
    const char *pattern;       /* relative to the task's working dir */
    const char *container_url; /* with a SAS granting write */
    const char *path;          /* blob name (or prefix for wildcards) */
    enum shoal_upload_condition condition;
};

struct shoal_task_spec {
    const char *id;
    const char *command_line; /* not run under a shell */
    const char *display_name;
    const struct shoal_resource_file *resource_files;
    size_t nresource_files;
    const struct shoal_output_file *output_files;
    size_t noutput_files;
    const struct shoal_kv *env;
    size_t nenv;
    int max_retries;          /* 0: the job's, -1: unlimited */
    int64_t max_wall_clock_s; /* 0: unlimited */
    int required_slots;       /* 0: 1 */
    bool elevated;
    const char *json; /* a whole TaskAddParameter instead */
};

/* Add one task. SHOAL_ERR_CONFLICT (TaskExists) when the id is taken. */
int shoal_task_add(shoal_client *c, const char *job,
                   const struct shoal_task_spec *spec);

/*
 * Add n tasks with Add Task Collection, in chunks of 100 (halving a chunk
 * the service finds too large), re-sending tasks that failed with a server
 * error. A task already in the job with that id counts as added only when
 * it was added by an earlier try of this call. Returns 0 when every task
 * was added; otherwise SHOAL_ERR_HTTP (or the first whole-request error),
 * with *failed_out (may be NULL) set to the number of tasks not added and
 * the last error naming the first one.
 */
int shoal_tasks_add(shoal_client *c, const char *job,
                    const struct shoal_task_spec *specs, size_t n,
                    size_t *failed_out);
/* Same, from TaskAddParameter JSON texts. */
int shoal_tasks_add_json(shoal_client *c, const char *job,
                         const char *const *json, size_t n, size_t *failed_out);

int shoal_task_get(shoal_client *c, const char *job, const char *task,
                   const char *select, shoal_doc **out);
int shoal_task_list(shoal_client *c, const char *job,
                    const struct shoal_query *q, shoal_doc **out);
int shoal_task_terminate(shoal_client *c, const char *job, const char *task);
int shoal_task_delete(shoal_client *c, const char *job, const char *task);

/*
 * Task files (paths relative to the task directory: "stdout.txt",
 * "wd/out.txt"). read: into memory, at most max bytes (SHOAL_ERR_INVALID
 * when larger), NUL-terminated; download: to a local file (written beside
 * it and renamed). list: every file, recursively when recursive.
 */
int shoal_task_file_read(shoal_client *c, const char *job, const char *task,
                         const char *path, size_t max, char **data_out,
                         size_t *len_out);
int shoal_task_file_download(shoal_client *c, const char *job, const char *task,
                             const char *path, const char *dest);
int shoal_task_file_list(shoal_client *c, const char *job, const char *task,
                         bool recursive, shoal_doc **out);

/* Task counts as shoal_tasks_wait() sees them. */
struct shoal_task_counts {
    int64_t total;
    int64_t active; /* includes preparing */
    int64_t running;
    int64_t completed;
    int64_t succeeded;
    int64_t failed; /* -1 when the service cannot say */
    int64_t elapsed_ms;
};

/*
 * Wait until every task of the job is completed (the Batch SDKs'
 * TaskStateMonitor): polls the task list with $filter=state ne 'completed'
 * and $select=id,state, backing off from 250 ms to 2 s while nothing
 * changes. progress (may be NULL) is called with the counts whenever they
 * change (and once at the start); it returns 0 to go on, non-zero to stop
 * with SHOAL_ERR_CANCELLED. timeout_ms 0 waits forever; on expiry the
 * result is SHOAL_ERR_TIMEOUT. *counts_out (may be NULL) receives the last
 * counts in every case. Completed tasks that failed are counted, not an
 * error: check counts_out->failed.
 */
int shoal_tasks_wait(shoal_client *c, const char *job, int64_t timeout_ms,
                     int (*progress)(const struct shoal_task_counts *counts,
                                     void *ctx),
                     void *ctx, struct shoal_task_counts *counts_out);

/* ------------------------------------------------------------------ */
/* Events: watching state changes                                      */
/* ------------------------------------------------------------------ */

/*
 * shoal records every state change of a pool, node, job or task in an
 * ordered event log (shoal's extension of the Batch API, GET /events on
 * the Batch endpoint): each event has a sequence number, higher for later
 * commits (gaps are possible), so "everything after N" is a cursor that
 * survives reconnects. The service keeps events for a while (by age and
 * count); a cursor older than that is refused with 410
 * EventCursorExpired, and the client must list again and watch from the
 * newest sequence (shoal_event_last_seq).
 *
 * Event types (shoal_event_type_name spells them as the service does):
 */
enum shoal_event_type {
    SHOAL_EVENT_UNKNOWN = 0,     /* a type this library does not know */
    SHOAL_EVENT_JOB_STATE,       /* JobStateChange: media job states */
    SHOAL_EVENT_TASK_STATE,      /* TaskStateChange: Batch task states */
    SHOAL_EVENT_POOL_STATE,      /* PoolStateChange */
    SHOAL_EVENT_NODE_STATE,      /* NodeStateChange */
    SHOAL_EVENT_JOB_BATCH_STATE, /* JobBatchStateChange: Batch job states */
    SHOAL_EVENT_ENDPOINT,        /* NotificationEndPointRegistration */
    /* JobScheduleStateChange: job schedule states (active, disabled...) */
    SHOAL_EVENT_JOB_SCHEDULE_STATE,
};

/*
 * Media job states in JobStateChange events and notification messages:
 * Queued (no task assigned yet), Scheduled, Processing, Finished, Error,
 * Canceling, Canceled. The final ones are Finished, Error and Canceled.
 * Task events carry Batch task states: active, preparing, running,
 * completed.
 */
#define SHOAL_WATCH_NOW ((int64_t)-1) /* since: only events from now on */

typedef struct shoal_event shoal_event;

/*
 * Parse one event as the service renders it (a JSON object: sequence,
 * time, type, entityType, entityId, jobId, oldState, newState, exitCode,
 * failureCode, etag, properties), e.g. the data line of an SSE event.
 * Known fields must have their types (a string, or null where the service
 * writes null) and sane lengths; sequence must be a positive integer.
 * Unknown fields and types are allowed. Errors: SHOAL_ERR_PROTOCOL (with
 * no client to record it, the reason goes to why, which may be NULL),
 * SHOAL_ERR_NOMEM. Free the event with shoal_event_free.
 */
int shoal_event_parse(const char *json, size_t len, shoal_event **out,
                      char *why, size_t whylen);
void shoal_event_free(shoal_event *ev);

/*
 * Accessors. Strings are borrowed from the event (valid until it is
 * freed; during a watch callback, until the callback returns) and NULL
 * when the service sent none: an endpoint event has no job id, the first
 * change of an entity has no old state.
 */
enum shoal_event_type shoal_event_type(const shoal_event *ev);
const char *shoal_event_type_name(const shoal_event *ev);
int64_t shoal_event_seq(const shoal_event *ev);
/* Time of the change: as sent (ISO 8601 UTC), and in ms (0 if absent). */
const char *shoal_event_time(const shoal_event *ev);
int64_t shoal_event_time_ms(const shoal_event *ev);
/* "job", "task", "pool", "node" or "notificationEndPoint". */
const char *shoal_event_entity_type(const shoal_event *ev);
const char *shoal_event_entity_id(const shoal_event *ev);
const char *shoal_event_job_id(const shoal_event *ev);
/* The task id of a task event (its entity id), else NULL. */
const char *shoal_event_task_id(const shoal_event *ev);
const char *shoal_event_old_state(const shoal_event *ev);
const char *shoal_event_new_state(const shoal_event *ev);
/* A task's exit code; SHOAL_ERR_NOTFOUND when the event has none. */
int shoal_event_exit_code(const shoal_event *ev, int64_t *out);
/* A task's failure code ("FailureExitCode", ...), or NULL. */
const char *shoal_event_failure_code(const shoal_event *ev);
/* The event's ETag: the same on every delivery of this event. */
const char *shoal_event_etag(const shoal_event *ev);
/* A string member of the event's properties ("JobName"), or NULL. */
const char *shoal_event_property(const shoal_event *ev, const char *name);
/* The event as compact JSON text, as received; free with shoal_free. */
char *shoal_event_json(const shoal_event *ev);
/* Whether state is a final media job state (Finished, Error, Canceled). */
bool shoal_event_state_is_final(const char *state);

/*
 * The newest sequence number the service has recorded (0 when none):
 * list what you need, then watch from this value, and nothing falls in
 * between.
 */
int shoal_event_last_seq(shoal_client *c, int64_t *seq_out);

/*
 * Called for each event of a watch, in sequence order, with the entity's
 * previous and current state (old and new state of the event; either may
 * be NULL) and the event itself (borrowed for the call). Return 0 to go
 * on, anything else to end the watch.
 */
typedef int (*shoal_watch_fn)(const char *prev_state, const char *cur_state,
                              const shoal_event *ev, void *ctx);

/* Watch tunables; a zeroed struct (or NULL) means defaults. */
struct shoal_watch_opts {
    int hold_s;            /* [25] how long the service holds an empty poll */
    int64_t give_up_ms;    /* [0: never] fail after this long unreachable */
    int64_t *last_seq_out; /* if not NULL: the cursor reached, on return */
};

/*
 * Watch the event log with long polls (GET /events): call fn for every
 * event with a sequence number above since_seq (SHOAL_WATCH_NOW: above
 * the newest one when the watch starts; 0: everything retained) that
 * concerns job_id (NULL: every job, pool, node and endpoint) and whose
 * type is in types (comma-separated names, "JobStateChange,
 * TaskStateChange"; NULL: all).
 *
 * The watch keeps its cursor across requests, so a dropped connection,
 * a 5xx or a restarted service costs nothing but time: the next poll
 * resumes after the last sequence seen, backing off (SHOAL_OPT_RETRY_*)
 * while the service is unreachable, for give_up_ms (then the last
 * failure is returned) or until the timeout. Events at or below the
 * cursor are never passed twice.
 *
 * Returns 0 when fn asked to stop, SHOAL_ERR_TIMEOUT when timeout_ms
 * (0: none) passed, SHOAL_ERR_GONE when the cursor is older than what the
 * service retains (the last error names EventCursorExpired: list again,
 * then watch from shoal_event_last_seq), SHOAL_ERR_PROTOCOL for an event
 * that does not parse (none of that reply is passed on), or the error of
 * a request that retrying cannot fix (SHOAL_ERR_AUTH, SHOAL_ERR_HTTP,
 * SHOAL_ERR_INVALID for a bad types list ...). In every case
 * opts->last_seq_out receives the cursor to resume from (the sequence of
 * the last event passed to fn, or beyond it past events the filters
 * skipped; SHOAL_WATCH_NOW if no reply came). fn runs on the calling
 * thread; the client may be used from fn, and several watches may run on
 * one client at once.
 */
int shoal_job_watch(shoal_client *c, const char *job_id, int64_t since_seq,
                    const char *types, shoal_watch_fn fn, void *ctx,
                    int64_t timeout_ms, const struct shoal_watch_opts *opts);

/* ------------------------------------------------------------------ */
/* Notifications: endpoints and queue messages                         */
/* ------------------------------------------------------------------ */

/*
 * A notification endpoint receives a message for every state change of
 * the jobs subscribed to it (and one when it is registered or deleted):
 * a storage queue of the service (created if missing) or a webhook URL.
 * Messages follow the Azure Media Services job notification format:
 *
 *   {"MessageVersion":"1.0","EventType":"JobStateChange","ETag":"<64 hex>",
 *    "TimeStamp":"2024-05-01T12:00:00.000Z","Properties":{"JobId":...,
 *    "JobName":...,"OldState":"Processing","NewState":"Finished",
 *    "AccountName":...,"Sequence":"42"}}
 *
 * Delivery is at least once: a message may come twice (same ETag), and a
 * queue does not keep order (sort by TimeStamp, then Sequence).
 */
enum shoal_endpoint_type {
    SHOAL_ENDPOINT_QUEUE = 1,
    SHOAL_ENDPOINT_WEBHOOK = 3,
};

struct shoal_endpoint_spec {
    const char *name; /* 1..256 characters */
    enum shoal_endpoint_type type;
    const char *address; /* queue name, or http(s) URL */
    bool base64;         /* queue messages base64-encoded */
};

/*
 * Register an endpoint. *out (may be NULL) receives the entity: id
 * ("nb:nepid:UUID:..."), name, endpointType ("queue" | "webhook"),
 * endpointAddress, created, and for a webhook its signingKey (base64;
 * returned only here: keep it to check the ms-signature of deliveries).
 */
int shoal_endpoint_create(shoal_client *c,
                          const struct shoal_endpoint_spec *spec,
                          shoal_doc **out);
/* One endpoint (with pendingDeliveries and deadLetters counts), or all. */
int shoal_endpoint_get(shoal_client *c, const char *id, shoal_doc **out);
int shoal_endpoint_list(shoal_client *c, shoal_doc **out);
/* Delete an endpoint (its subscriptions go too). */
int shoal_endpoint_delete(shoal_client *c, const char *id);

/*
 * A notification message, parsed. Strings are owned by the struct (or,
 * in a shoal_notify_consume callback, borrowed for the call); NULL when
 * absent. Webhook messages (MessageVersion 1.1) number their EventType;
 * event_type spells it as a name either way.
 */
struct shoal_notification {
    const char *message_version; /* "1.0" queue, "1.1" webhook */
    const char *event_type;      /* "JobStateChange", ... */
    const char *etag;
    const char *timestamp; /* as sent */
    int64_t time_ms;       /* TimeStamp in ms; 0 when absent */
    int64_t sequence;      /* Properties.Sequence; -1 when absent */
    const char *job_id;    /* Properties.JobId, ... */
    const char *job_name;
    const char *old_state;
    const char *new_state;
    const struct shoal_kv *props; /* every property; numbers as text */
    size_t nprops;
    bool was_base64;                     /* the text was base64 of the JSON */
    const struct shoal_message *message; /* consume: the queue message */
};

/*
 * Parse a message text: JSON, or base64 of JSON (as older storage
 * clients wrote queue messages). Rules: an object with a non-empty
 * string ETag (at most 256 bytes), an EventType (a string, or a number
 * as webhooks send), a Properties object, a TimeStamp string in ISO 8601
 * if present, a Sequence of digits if present; at most 1 MiB of text.
 * Errors: SHOAL_ERR_PROTOCOL (reason in why, may be NULL),
 * SHOAL_ERR_NOMEM. Free with shoal_notification_free.
 */
int shoal_notification_parse(const char *text, size_t len,
                             struct shoal_notification **out, char *why,
                             size_t whylen);
void shoal_notification_free(struct shoal_notification *n);
/* A property by name (case-sensitive), or NULL. */
const char *shoal_notification_prop(const struct shoal_notification *n,
                                    const char *name);

/*
 * A bounded set of recently seen keys (ETags), evicting the least
 * recently used beyond max entries (0: 4096). Not thread-safe.
 * shoal_dedupe_seen tells whether key is in the set (and refreshes it);
 * shoal_dedupe_add puts it in (SHOAL_ERR_NOMEM; SHOAL_ERR_INVALID for a
 * key over 256 bytes).
 */
typedef struct shoal_dedupe shoal_dedupe;

int shoal_dedupe_new(size_t max, shoal_dedupe **out);
void shoal_dedupe_free(shoal_dedupe *d);
bool shoal_dedupe_seen(shoal_dedupe *d, const char *key);
int shoal_dedupe_add(shoal_dedupe *d, const char *key);
size_t shoal_dedupe_count(const shoal_dedupe *d);

/* What a shoal_notify_consume callback did with a message. */
enum shoal_notify_action {
    SHOAL_NOTIFY_NEXT = 0, /* handled: delete it, go on */
    SHOAL_NOTIFY_STOP = 1, /* handled: delete it, then return 0 */
    SHOAL_NOTIFY_KEEP = 2, /* not handled: back after visibility_s; go on */
    /* anything else: leave it, stop with SHOAL_ERR_CANCELLED */
};

/* Consumer tunables; a zeroed struct (or NULL) means defaults. */
struct shoal_notify_opts {
    int batch;            /* [32] messages per get, 1..32 */
    int visibility_s;     /* [60] hidden from others while handled */
    int64_t poll_min_ms;  /* [250] first wait after an empty get */
    int64_t poll_max_ms;  /* [5000] waits double up to this */
    int64_t timeout_ms;   /* [0: none] then SHOAL_ERR_TIMEOUT */
    bool until_empty;     /* return 0 at the first empty get */
    shoal_dedupe *dedupe; /* [a set for this call] ETags handled */
    /*
     * A message that does not parse: return 0 to delete it, non-zero to
     * leave it in the queue. NULL: leave it. why says what is wrong.
     */
    int (*bad)(const struct shoal_message *m, const char *why, void *ctx);
};

/*
 * Consume notification messages from a queue: get up to opts->batch
 * messages (hiding them for visibility_s), parse each, drop duplicates
 * (an ETag already handled, in this batch or before: deleted without a
 * call), sort the rest by TimeStamp, then Sequence, then queue order,
 * and call fn for each; a message is deleted once fn returns
 * SHOAL_NOTIFY_NEXT or SHOAL_NOTIFY_STOP and only then is its ETag
 * remembered. An empty get waits poll_min_ms, doubling to poll_max_ms.
 * When the consumer stops, messages of the batch not yet passed to fn are
 * made visible again at once.
 *
 * A delete that fails because the message is already gone or its pop
 * receipt went stale (fn took longer than visibility_s) is not an error:
 * the message comes back, and the ETag set drops it then.
 *
 * Returns 0 when fn said SHOAL_NOTIFY_STOP or (until_empty) the queue was
 * empty, SHOAL_ERR_CANCELLED when fn said stop otherwise,
 * SHOAL_ERR_TIMEOUT, or the error of a queue request. fn runs on the
 * calling thread.
 */
int shoal_notify_consume(shoal_client *c, const char *queue,
                         int (*fn)(const struct shoal_notification *n,
                                   void *ctx),
                         void *ctx, const struct shoal_notify_opts *opts);

#ifdef __cplusplus
}
#endif

#endif
