#ifndef SHOAL_BATCH_NODELOGS_H
#define SHOAL_BATCH_NODELOGS_H

#include <stddef.h>
#include <stdint.h>

struct err;

/*
 * ComputeNode_UploadBatchServiceLogs (private to batch/;
 * see nodelogs.c for the design note): pick a node's log files and copy
 * them to a blob container given by a SAS URL. Knows nothing of the model
 * or of HTTP serving; call it without the model lock.
 */
struct nodelogs_file {
    char *path; /* on this machine */
    char *name; /* blob name below the virtual directory */
};

/*
 * The log files of the node whose agent log is agent_log and whose root is
 * node_root: the agent log ("shoal-node.log"), then the start task's
 * startup/stdout.txt and startup/stderr.txt, each only when it exists and
 * was last written at or after start_ms (a file untouched since then holds
 * no line of the range). *out is a malloc'd array; free with
 * nodelogs_free.
 */
void nodelogs_collect(const char *agent_log, const char *node_root,
                      int64_t start_ms, struct nodelogs_file **out,
                      size_t *n_out);
void nodelogs_free(struct nodelogs_file *files, size_t n);

/*
 * Put Blob each file to container_url (an http(s) URL of a container,
 * with its SAS query) as vdir/NAME, the bytes the file had when the upload
 * began. -ERR_INVALID ("InvalidPropertyValue", PropertyName containerUrl)
 * when the URL is not usable or the storage service refused a write (its
 * status is in the message; the SAS never is). Blocks up to 60 s per file.
 * Thread-safe.
 */
int nodelogs_upload(const struct nodelogs_file *files, size_t n,
                    const char *container_url, const char *vdir,
                    struct err *err);

/*
 * The checks and words of nodelogs_upload, for a remote node's upload
 * (its agent uploads; node_api.c renders its answer):
 * nodelogs_check_url: -ERR_INVALID unless container_url is an http(s)
 * URL. nodelogs_bad_url: fill err as a refused upload says, why being
 * the reason ("the storage service refused the upload with status 403");
 * returns -ERR_INVALID. Thread-safe.
 */
int nodelogs_check_url(const char *container_url, struct err *err);
int nodelogs_bad_url(const char *why, struct err *err);

#endif
