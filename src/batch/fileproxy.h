#ifndef SHOAL_BATCH_FILEPROXY_H
#define SHOAL_BATCH_FILEPROXY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct batch_service;
struct err;
struct http_req;

/*
 * File requests for remote nodes (private to batch/; see fileproxy.c for
 * the design note and docs/node-protocol.md for the wire): a REST request
 * about a joined node's files (file_api.c) or logs (node_api.c) becomes a
 * request to that node's agent, carried by its next sync response
 * ("fileOps"); the REST request waits, suspended, until the agent answers
 * with POST /_node/v1/fileop/{id} (agent_api.c), the node is lost, or a
 * bound passes.
 */

/* Largest JSON header of an answer (a list of 100000 entries fits). */
#define FILEPROXY_HEAD_MAX (16u << 20)
/* How long a REST request waits for the agent to answer, and, once its
 * answer streams in, for each next chunk. */
#define FILEPROXY_WAIT_MS 30000
/* The same for uploadbatchservicelogs: the agent uploads first. */
#define FILEPROXY_LOGS_WAIT_MS 120000
/* Requests waiting for one node at once; more are 503 ServerBusy. */
#define FILEPROXY_NODE_MAX 64

enum fileproxy_kind {
    FILEPROXY_STAT,   /* "stat": metadata of base/path */
    FILEPROXY_GET,    /* "get": metadata and bytes [off, off + max) */
    FILEPROXY_LIST,   /* "list": the entries under base */
    FILEPROXY_DELETE, /* "delete": base/path */
    FILEPROXY_LOGS,   /* "logs": upload the node's service logs */
};

/* Why a node could not do it (the answer's "error"). */
enum fileproxy_fail {
    FILEPROXY_FAIL_NONE = 0,
    FILEPROXY_FAIL_INVALID,  /* "invalid": '..', '.', empty component */
    FILEPROXY_FAIL_NOTFOUND, /* "notfound": missing, symlink, special */
    FILEPROXY_FAIL_NOTEMPTY, /* "notempty": rmdir of a full directory */
    FILEPROXY_FAIL_IO,       /* "io": anything else (message says) */
    FILEPROXY_FAIL_UPLOAD,   /* "upload": the container refused the logs */
};

/* What a caller asks; fileproxy_submit copies the strings. */
struct fileproxy_ask {
    enum fileproxy_kind kind;
    const char *node; /* node id */
    bool task;        /* task files: a node gone means 409
                         TaskFilesUnavailable, not 404 NodeNotFound */
    const char *base; /* directory under the node root ("" = the root) */
    const char *path; /* STAT, GET, DELETE: below base */
    uint64_t off;     /* GET: first byte */
    int64_t max;      /* GET: at most this many bytes; -1 = to the end */
    bool recursive;   /* LIST, DELETE */
    const char *url;  /* LOGS: container URL with its SAS (never logged) */
    const char *vdir; /* LOGS: virtual directory of the blobs */
    int64_t start_ms; /* LOGS: startTime */
    const char *tag;  /* kept for the caller: fileproxy_op_tag */
};

/* One entry of a LIST answer. st: st_mode (type and permission bits as
 * the node has them), st_size, st_ctime, st_mtime; the rest zero. */
struct fileproxy_entry {
    char *name; /* relative to base, '/'-separated */
    struct stat st;
};

/* A node's answer, parsed (fileproxy_parse_answer). */
struct fileproxy_answer {
    enum fileproxy_fail fail;
    char *message;  /* with fail: the node's words, or NULL */
    struct stat st; /* STAT, GET: as in struct fileproxy_entry */
    uint64_t len;   /* GET: bytes that follow the header */
    struct fileproxy_entry *entries; /* LIST, in the node's order */
    size_t nentries;
    uint64_t files; /* LOGS: numberOfFilesUploaded */
};

struct fileproxy;        /* the registry of a batch service */
struct fileproxy_op;     /* one request, owned by the REST request */
struct fileproxy_upload; /* one answer coming in */

/*
 * The registry. tmp_dir holds the bytes of GET answers while they arrive
 * (unlinked at once: nothing is left behind by a crash). Free with
 * fileproxy_free once no request uses it.
 */
struct fileproxy *fileproxy_new(const char *tmp_dir);
void fileproxy_free(struct fileproxy *px);

/*
 * REST side (http workers; takes the model lock, so call it without).
 * The node must exist, be remote and not be unusable (409
 * NodeStateUnusable); at most FILEPROXY_NODE_MAX requests wait per node
 * (503 ServerBusy). On success the request is queued for the node, its
 * parked sync is woken, req is suspended (http_suspend) and *op_out is
 * the caller's to keep (in struct breq) until fileproxy_op_free.
 */
int fileproxy_submit(struct batch_service *s, struct http_req *req,
                     const struct fileproxy_ask *ask,
                     struct fileproxy_op **op_out, struct err *err);

/*
 * After req was resumed (end() runs again): 1 when the answer has not
 * come (req is suspended again: return), 0 with the answer (*ans_out
 * borrowed until fileproxy_op_free; for STAT and GET *fd_out is a
 * descriptor to reply with, taken: the GET bytes from offset 0, or
 * /dev/null), or negative with err filled: 500 OperationTimedOut, 409
 * NodeStateUnusable, 404 NodeNotFound or 409 TaskFilesUnavailable (the
 * node is gone), 500 InternalError (a malformed answer), 503 ServerBusy
 * (shoald is stopping).
 */
int fileproxy_poll(struct batch_service *s, struct http_req *req,
                   struct fileproxy_op *op,
                   const struct fileproxy_answer **ans_out, int *fd_out,
                   struct err *err);

/* The ask's tag. Borrowed, valid until fileproxy_op_free. */
const char *fileproxy_op_tag(const struct fileproxy_op *op);

/* Withdraw op if it still waits, and free it. NULL is a no-op. Any
 * thread; takes the registry lock. */
void fileproxy_op_free(struct batch_service *s, struct fileproxy_op *op);

/*
 * Sync side (agent_api.c, model lock held; the registry lock nests
 * inside it). fileproxy_node_synced: a sync from node came; with new_boot
 * (a new agent process) every request it was sent is sent again,
 * otherwise those sent in responses after ack (never processed).
 * fileproxy_node_pending: a request waits to be sent (the sync must not
 * park). fileproxy_node_take: append those requests to ops (the "fileOps"
 * of the response numbered seq) and mark them sent.
 */
void fileproxy_node_synced(struct fileproxy *px, const char *node,
                           bool new_boot, uint64_t ack);
bool fileproxy_node_pending(struct fileproxy *px, const char *node);
void fileproxy_node_take(struct fileproxy *px, const char *node, uint64_t seq,
                         json_t *ops);

/*
 * The answer endpoint, POST /_node/v1/fileop/{id} (agent_api.c, token
 * already checked). begin: id must be a request sent to node and not yet
 * answered (else 404 FileOpNotFound). feed: each body chunk; the body is
 * the JSON header, '\n', then the header's "len" bytes (GET). end: the
 * body is complete; the waiting REST request gets the answer. A malformed
 * answer fails the REST request (500) and returns -ERR_INVALID; an upload
 * that breaks off leaves the request waiting for another try. free: any
 * time after begin succeeded (NULL is a no-op).
 */
int fileproxy_upload_begin(struct fileproxy *px, const char *node, uint64_t id,
                           struct fileproxy_upload **up_out, struct err *err);
int fileproxy_upload_feed(struct fileproxy *px, struct fileproxy_upload *up,
                          const char *data, size_t len, struct err *err);
int fileproxy_upload_end(struct fileproxy *px, struct fileproxy_upload *up,
                         struct err *err);
void fileproxy_upload_free(struct fileproxy *px, struct fileproxy_upload *up);

/*
 * The ticker (takes the model lock): fail the requests whose node is gone
 * or unusable, or whose time is up.
 */
void fileproxy_tick(struct batch_service *s, int64_t mono);

/*
 * Parsers of outside input (exposed for the unit tests).
 * fileproxy_parse_id: the {id} of the answer path, decimal 1..2^53.
 * fileproxy_parse_answer: the JSON header of an answer to a request of
 * kind (hostile input: wrong types, out-of-range numbers, unknown errors,
 * bad entry names, too many entries are -ERR_INVALID). For GET, off and
 * max are the request's: "len" must be what the node owes for them.
 * Release with fileproxy_answer_release (also after a failure).
 */
int fileproxy_parse_id(const char *s, uint64_t *out);
int fileproxy_parse_answer(const char *text, size_t len,
                           enum fileproxy_kind kind, uint64_t off, int64_t max,
                           struct fileproxy_answer *out, struct err *err);
void fileproxy_answer_release(struct fileproxy_answer *a);

#endif
