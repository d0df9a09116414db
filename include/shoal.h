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
/* Nodes of a pool. */
int shoal_pool_list_nodes(shoal_client *c, const char *pool,
                          const struct shoal_query *q, shoal_doc **out);
int shoal_pool_get_node(shoal_client *c, const char *pool, const char *node,
                        shoal_doc **out);

/* ------------------------------------------------------------------ */
/* Batch: jobs                                                         */
/* ------------------------------------------------------------------ */

struct shoal_job_spec {
    const char *id;
    const char *pool_id;
    int priority;                   /* -1000..1000 */
    int max_task_retries;           /* 0: none, -1: unlimited */
    bool terminate_on_all_complete; /* onAllTasksComplete terminatejob */
    bool uses_task_dependencies;
    const char *json; /* a whole JobAddParameter instead */
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

#ifdef __cplusplus
}
#endif

#endif
