#ifndef SHOAL_NODE_FILESERVE_H
#define SHOAL_NODE_FILESERVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct err;

/*
 * The agent's side of file requests (see fileserve.c for the design note;
 * the wire is docs/node-protocol.md, "File requests"): shoald asks, in a
 * sync response's "fileOps", for a file's metadata or bytes, a listing, a
 * delete or an upload of the service logs; worker threads do it under the
 * node root and answer with POST /_node/v1/fileop/{id}.
 */

enum fileserve_kind {
    FILESERVE_STAT,
    FILESERVE_GET,
    FILESERVE_LIST,
    FILESERVE_DELETE,
    FILESERVE_LOGS,
};

/* One request, parsed (fileserve_parse_op). Strings are owned. */
struct fileserve_op {
    uint64_t id;
    enum fileserve_kind kind;
    char *base;     /* directory under the root ("" = the root) */
    char *path;     /* STAT, GET, DELETE: below base */
    uint64_t off;   /* GET */
    int64_t max;    /* GET: -1 = to the end */
    bool recursive; /* LIST, DELETE */
    char *url;      /* LOGS: container URL with SAS (never logged) */
    char *vdir;     /* LOGS */
    int64_t start_ms;
};

/*
 * Parse one element of "fileOps". Hostile input (wrong types, ids out of
 * 1..2^53, negative offsets, missing fields, NUL bytes, oversized
 * strings, an unknown op, a vdir with '..') is -ERR_INVALID; *id_out is
 * set whenever the id itself was good, so the caller can still answer.
 * Release out with fileserve_op_release (also after a failure).
 */
int fileserve_parse_op(json_t *o, struct fileserve_op *out, uint64_t *id_out,
                       struct err *err);
void fileserve_op_release(struct fileserve_op *op);

/*
 * Do op under root, now, in the calling thread. *head_out is the answer's
 * JSON header (caller frees); for a GET of a regular file, *fd_out (else
 * -1, caller closes) and [*off_out, *off_out + *len_out) are the bytes to
 * send after it. agent_log is the agent's log for LOGS (a regular file,
 * or skipped). Paths are walked one component at a time with O_NOFOLLOW
 * from root: '..', '.', empty components (so absolute paths) are
 * "invalid"; missing files, symlinks and special files "notfound".
 * Thread-safe.
 */
void fileserve_exec(const char *root, const char *agent_log,
                    const struct fileserve_op *op, json_t **head_out,
                    int *fd_out, uint64_t *off_out, uint64_t *len_out);

/*
 * The server of one agent: worker threads (at most a few at once) that
 * run what fileserve_submit queues and send the answers to shoald at
 * server (moved by fileserve_set_server). Strings are copied. Never
 * freed: the agent lives as long as the process.
 */
struct fileserve;
struct fileserve *fileserve_new(const char *root, const char *agent_log,
                                const char *server, const char *token,
                                const char *node_id, const char *ca_file);
void fileserve_set_server(struct fileserve *fs, const char *server);

/*
 * Queue the "fileOps" of a sync response (NULL or not an array: nothing).
 * Returns at once. An id already queued or in progress is skipped (a
 * request sent again while its answer is on the way).
 */
void fileserve_submit(struct fileserve *fs, json_t *ops);

#endif
