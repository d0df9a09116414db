#ifndef SHOAL_CLIENTINT_H
#define SHOAL_CLIENTINT_H

/*
 * clientint.h: what the files of libshoal share and users do not see
 * (SQLite's btreeInt.h idea). The public contract is include/shoal.h.
 *
 * Layering inside the library:
 *
 *   shoal_blob.c shoal_container.c shoal_queue.c shoal_sas.c   storage
 *   shoal_pool.c shoal_job.c shoal_task.c shoal_tasks.c        batch
 *   shoal_event.c shoal_job_watch.c shoal_endpoint.c           events
 *   shoal_notify.c shoal_dedupe.c                  notification messages
 *        |               batchreq.c (JSON bodies, lists, shoal_doc)
 *        v                    |
 *   transport.c  <------------+   one request: sign, send, retry
 *        |
 *   sign.c  url.c  kvlist.c  arena.c  xfer.c    helpers
 *   connstr.c  shoal_client.c                    configuration
 *
 * Everything here is reentrant; shared state lives in struct shoal_client
 * behind its locks.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "shoal.h"
#include "core/buf.h"

/* Wire versions we speak. */
#define CLIENT_STORAGE_VERSION "2021-12-02"
#define CLIENT_BATCH_VERSION   "2022-10-01.16.0"
#define CLIENT_DEV_ACCOUNT     "devstoreaccount1"
#define CLIENT_DEV_KEY \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/* Bounds on what we keep in memory. */
#define CLIENT_MAX_REPLY   (256u << 20) /* a reply body held in memory */
#define CLIENT_MAX_URL     (64u << 10)
#define CLIENT_HANDLE_POOL 16 /* idle curl handles kept */

/* ---- kvlist.c: owned name/value pairs in insertion order ---- */

struct kv {
    char *name;
    char *value;
};

struct kvlist {
    struct kv *v;
    size_t n;
    size_t alloc;
};

#define KVLIST_INIT \
    {               \
        NULL, 0, 0  \
    }

/* Append copies of name and value[0..len); SHOAL_ERR_NOMEM. */
int kvlist_add(struct kvlist *l, const char *name, const char *value);
int kvlist_addn(struct kvlist *l, const char *name, size_t nlen,
                const char *value, size_t vlen);
/* Value of the first pair whose name matches case-insensitively. */
const char *kvlist_get(const struct kvlist *l, const char *name);
void kvlist_release(struct kvlist *l);

/* ---- arena.c: strings freed together ---- */

struct arena {
    char **v;
    size_t n;
    size_t alloc;
};

#define ARENA_INIT \
    {              \
        NULL, 0, 0 \
    }

/* Copy s (NULL gives NULL and is not an error); NULL on out of memory. */
char *arena_strdup(struct arena *a, const char *s, bool *oom);
char *arena_strndup(struct arena *a, const char *s, size_t n, bool *oom);
/* Take ownership of p (freed with the arena); false on out of memory. */
bool arena_take(struct arena *a, void *p);
void arena_release(struct arena *a);

/* ---- url.c: endpoints and escaping ---- */

/*
 * Split an endpoint URL "http[s]://host[:port][/path]" into the origin
 * ("http://host:port") and the base path ("" or "/path" without a trailing
 * slash). Refuses other schemes, userinfo, a query or fragment, spaces and
 * control bytes, an empty host or a bad port: SHOAL_ERR_INVALID.
 */
int url_split(const char *url, char **origin_out, char **base_out);
/*
 * Append "/" + seg percent-encoded (unreserved characters pass; '/' too
 * when keep_slash, for blob names). SHOAL_ERR_INVALID for an empty seg.
 */
int url_add_segment(struct buf *b, const char *seg, bool keep_slash);
/* Append "name=value" percent-encoded, preceded by '?' or '&'. */
int url_add_query(struct buf *b, const char *name, const char *value,
                  bool first);

/* ---- sign.c: SharedKey strings to sign ---- */

/*
 * Storage SharedKey string-to-sign (storage-wire.md §3): headers is every
 * request header (content-length among them when there is a body), path
 * the escaped path as sent, query the decoded parameters. Appends to out.
 */
int sign_storage_string(const char *method, const struct kvlist *headers,
                        const char *account, const char *path,
                        const struct kvlist *query, struct buf *out);
/* Batch SharedKey string-to-sign (batch-wire.md §5.1). */
int sign_batch_string(const char *method, const struct kvlist *headers,
                      const char *account, const char *path,
                      const struct kvlist *query, struct buf *out);
/* Append base64(HMAC-SHA256(key, msg)). */
int sign_hmac(const unsigned char *key, size_t keylen, const char *msg,
              size_t len, struct buf *out);

/* ---- connstr.c: connection strings ---- */

struct connstr {
    char *account;
    char *key;
    char *blob_url;
    char *queue_url;
    char *batch_url;
    char *batch_account;
    char *batch_key;
    char *sas;
};

/*
 * Parse an Azure connection string (see shoal_client_new) into cs, whose
 * strings are then owned by cs. SHOAL_ERR_INVALID with a reason in
 * why[0..whylen), or SHOAL_ERR_NOMEM. Endpoints are derived but not
 * validated (url_split does that).
 */
int connstr_parse(const char *s, struct connstr *cs, char *why, size_t whylen);
void connstr_release(struct connstr *cs);

/* ---- shoal_client.c: the client ---- */

enum svc { SVC_BLOB = 0, SVC_QUEUE, SVC_BATCH, SVC_COUNT };

struct endpoint {
    char *origin; /* "http://127.0.0.1:10000"; NULL when not configured */
    char *base;   /* "/devstoreaccount1" or "" */
    char *url;    /* origin + base */
};

struct shoal_client {
    struct endpoint ep[SVC_COUNT];
    char *account;
    unsigned char *key;
    size_t keylen;
    char *batch_account;
    unsigned char *batch_key;
    size_t batch_keylen;
    char *sas;

    int retries;
    int64_t retry_base_ms;
    int64_t retry_max_ms;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t stall_timeout_ms;
    int parallel;
    int64_t block_size;
    int64_t single_put_max;

    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *idle[CLIENT_HANDLE_POOL];
    size_t nidle;

    pthread_mutex_t err_lock;
    struct shoal_error last;
};

/*
 * Record a failure as the client's last error and return code, so callers
 * can write `return client_fail(c, SHOAL_ERR_INVALID, "bad name '%s'", n);`.
 */
int client_fail(shoal_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record a full error (from a reply). */
void client_set_error(shoal_client *c, const struct shoal_error *e);

/* ---- transport.c: one HTTP request with signing and retries ---- */

struct req {
    enum svc svc;
    const char *method;
    struct buf path;       /* escaped, starts with the endpoint's base */
    struct kvlist query;   /* decoded names and values, in order */
    struct kvlist headers; /* request headers beyond the defaults */

    /* Body: memory, or body_len bytes of body_fd from body_off. */
    const char *body;
    size_t body_len;
    int body_fd;
    int64_t body_off;

    /* Reply. */
    int status;
    char reason[128];
    struct kvlist resp_headers; /* names lower-cased */
    struct buf resp;            /* body of errors, and of 2xx unless out_fd */
    int out_fd;                 /* 2xx body written here at out_off */
    int64_t out_off;
    int64_t out_written;
    int64_t out_max; /* refuse more than this to out_fd */

    /*
     * Progress of the body in flight (bytes sent or received so far in this
     * try), optional; returning non-zero aborts with SHOAL_ERR_CANCELLED.
     */
    int (*xfer_fn)(int64_t now, void *ctx);
    void *xfer_ctx;

    bool oom; /* a builder failed: transport_send reports SHOAL_ERR_NOMEM */
    bool bad; /* a header would be unsafe: SHOAL_ERR_INVALID */
};

void req_init(struct req *r, shoal_client *c, enum svc svc, const char *method);
void req_release(struct req *r);
int req_segment(struct req *r, const char *seg, bool keep_slash);
int req_query(struct req *r, const char *name, const char *value);
int req_header(struct req *r, const char *name, const char *value);
/*
 * Add a header (SHOAL_ERR_INVALID, remembered for transport_send, when the
 * name or value holds a line break). req_meta adds x-ms-meta-NAME headers,
 * refusing names that are not C identifiers.
 */
int req_meta(struct req *r, const struct shoal_kv *meta, size_t n);
/* A reply header by name (case-insensitive), or NULL. */
const char *req_reply_header(const struct req *r, const char *name);
/*
 * Set the path and query from an absolute URL's path and query (used for
 * odata.nextLink); the URL's origin is ignored (ours is used).
 */
int req_from_link(struct req *r, const char *link);

/*
 * Send r: sign (per try), perform, retry with exponential backoff and
 * jitter on connection errors and retryable statuses (408, 429, 500, 502,
 * 503, 504) up to c->retries times. Returns 0 on a 2xx; otherwise records
 * the error as the client's last error (parsing the service's XML or JSON
 * error body) and returns the SHOAL_ERR_* code. r->status holds the final
 * status (0 when no reply came). The builders' out-of-memory flag is
 * reported here, so callers may ignore their return values.
 */
int transport_send(shoal_client *c, struct req *r);

/* Map a status to a SHOAL_ERR_* code (0 for 2xx). */
int transport_status_code(int status);

/* ---- xfer.c: parallel parts with progress ---- */

struct xfer {
    shoal_client *c;
    size_t nparts;
    int (*part)(struct xfer *x, size_t i, void *ctx);
    void *ctx;
    const struct shoal_progress *progress;
    int64_t total;

    /* Internal. */
    pthread_mutex_t lock;
    size_t next;
    int rc;
    int64_t done;
};

/*
 * Run x->part for i in [0, nparts) on up to nthreads threads (the caller's
 * among them). The first failure stops the rest; its code is returned.
 */
int xfer_run(struct xfer *x, int nthreads);
/* Count bytes done and report progress; false when asked to stop. */
bool xfer_add_done(struct xfer *x, int64_t bytes);
/* Whether another part failed (workers check it between requests). */
bool xfer_failed(struct xfer *x);

/* ---- listxml.c: storage XML replies ---- */

struct xml_node;

/* Send r and parse its XML reply into *root_out (free with xml_free). */
int listxml_fetch(shoal_client *c, struct req *r, struct xml_node **root_out);
/* Text of child `name` of n, or NULL when absent. */
const char *listxml_text(const struct xml_node *n, const char *name);
/*
 * The children of a <Metadata> element (md may be NULL) as an array of
 * borrowed name/value pairs (*out NULL when there are none); free the
 * array (not the strings) with free().
 */
int listxml_meta(const struct xml_node *md, struct shoal_kv **out,
                 size_t *n_out);
/* Metadata from reply headers x-ms-meta-*, names and values copied into a. */
int listxml_header_meta(const struct req *r, struct arena *a,
                        struct shoal_kv **out, size_t *n_out);

/* ---- batchreq.c: Batch JSON requests ---- */

struct json_t;

/*
 * Start a Batch request for the path /s1[/s2[/s3[/s4]]] (a NULL ends the
 * path; each segment escaped, '/' included). SHOAL_ERR_INVALID (recorded)
 * for an empty segment; on failure r needs no release.
 */
int batchreq_init(shoal_client *c, struct req *r, const char *method,
                  const char *s1, const char *s2, const char *s3,
                  const char *s4);
/*
 * Send a Batch request with body (NULL: none; borrowed). On success,
 * *reply_out (if not NULL) receives the parsed JSON reply (NULL when the
 * reply had no body). SHOAL_ERR_PROTOCOL for an unparseable reply.
 */
int batchreq_send(shoal_client *c, struct req *r, struct json_t *body,
                  struct json_t **reply_out);
/*
 * GET a list (r holds the path), adding q's options, following
 * odata.nextLink until q->max_results items or the end; the items land in
 * a new doc.
 */
int batchreq_list(shoal_client *c, struct req *r, const struct shoal_query *q,
                  shoal_doc **out);
/* GET one entity into a new one-item doc. */
int batchreq_get(shoal_client *c, struct req *r, const char *select,
                 shoal_doc **out);
/*
 * One whole request on the path /s1[/s2[/s3[/s4]]]: batchreq_init, then
 * batchreq_send, batchreq_get or batchreq_list, then the release. Errors
 * as theirs; body stays the caller's.
 */
int batchreq_call(shoal_client *c, const char *method, const char *s1,
                  const char *s2, const char *s3, const char *s4,
                  struct json_t *body, struct json_t **reply_out);
int batchreq_get_path(shoal_client *c, const char *s1, const char *s2,
                      const char *s3, const char *s4, const char *select,
                      shoal_doc **out);
int batchreq_list_path(shoal_client *c, const char *s1, const char *s2,
                       const char *s3, const char *s4,
                       const struct shoal_query *q, shoal_doc **out);
/* Parse JSON text given by a user; SHOAL_ERR_INVALID with a message. */
int batchreq_parse_user(shoal_client *c, const char *text, struct json_t **out);
/* Helpers for building bodies; each returns 0 or SHOAL_ERR_NOMEM. */
int batchreq_set_str(struct json_t *o, const char *key, const char *value);
int batchreq_set_int(struct json_t *o, const char *key, int64_t value);
int batchreq_set_bool(struct json_t *o, const char *key, bool value);
struct json_t *batchreq_resource_files(const struct shoal_resource_file *rf,
                                       size_t n);
struct json_t *batchreq_env(const struct shoal_kv *env, size_t n);

/* ---- shoal_doc.c ---- */

/* A doc over array items (taken: freed with the doc, even on failure). */
int shoal_doc_take(struct json_t *items, shoal_doc **out);

/* ---- shoal_task.c: task specs as JSON (shared with shoal_tasks.c) ---- */

/* A TaskAddParameter for spec (its json, parsed, when set). */
int shoal_task_spec_json(shoal_client *c, const struct shoal_task_spec *spec,
                         struct json_t **out);

/* ---- shoal_event.c: watch events ---- */

/*
 * An event from one object of a GET /events reply (a reference to o is
 * taken; o is not changed). SHOAL_ERR_PROTOCOL with the reason in why.
 */
int shoal_event_from_json(struct json_t *o, shoal_event **out, char *why,
                          size_t whylen);

/* ---- shoal_notify.c: notification messages ---- */

/*
 * Sort notifications made by shoal_notification_parse (only those: the
 * sort uses their private part) by TimeStamp, then Sequence, then their
 * position in v: the consumer's batch order.
 */
void shoal_notify_sort(struct shoal_notification **v, size_t n);

#endif
