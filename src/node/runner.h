#ifndef SHOAL_RUNNER_H
#define SHOAL_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/*
 * The task runner of shoal-node: runs one task (or start task, job
 * preparation/release task) on this node, start to finish, in the calling
 * thread. See runner.c for the design note.
 *
 * Steps: create task_dir and task_dir/wd; download resource files into wd
 * (httpUrl: GET; storageContainerUrl: List Blobs with the SAS, then GET
 * each, filtered by blobPrefix; filePath relative to wd, never escaping it;
 * fileMode applied); split command_line into arguments (quotes honoured, no
 * expansion, as the real service: runner_split_args); exec it directly in
 * wd with the environment given (nothing inherited but PATH, HOME, LANG),
 * in its own process group, stdout to task_dir/stdout.txt and stderr to
 * task_dir/stderr.txt; kill the process group at max_wall_ms; wait; upload
 * the output files whose condition matches the outcome (filePattern with
 * *, **, ?, [abc], [!a], relative to wd, or to task_dir for names like
 * ../stdout.txt; destination container URL with SAS: path is the blob name
 * for a literal pattern, a prefix for a wildcard; Put Blob, or blocks for
 * large files).
 */
struct runner_env {
    char *name;
    char *value;
};

struct runner_resource {
    char *http_url;       /* exactly one of http_url, container_url */
    char *container_url;  /* container URL with SAS (r + l) */
    char *blob_prefix;    /* with container_url, may be NULL */
    char *file_path;      /* relative to wd; required with http_url */
    char *file_mode;      /* octal string, e.g. "0755"; NULL = 0770 */
};

enum runner_upload_when {
    RUNNER_UPLOAD_SUCCESS = 1,   /* taskSuccess: exit 0 */
    RUNNER_UPLOAD_FAILURE = 2,   /* taskFailure */
    RUNNER_UPLOAD_COMPLETION = 3 /* taskCompletion: always */
};

struct runner_output {
    char *pattern;        /* filePattern */
    char *container_url;  /* destination container URL with SAS (w) */
    char *path;           /* blob name or prefix, may be NULL */
    enum runner_upload_when when;
};

struct runner_task {
    const char *task_dir;     /* e.g. ROOT/workitems/JOB/job-1/TASK */
    const char *command_line;
    const struct runner_env *env;
    size_t nenv;
    const struct runner_resource *res;
    size_t nres;
    const struct runner_output *out;
    size_t nout;
    int64_t max_wall_ms;      /* <= 0: no limit */
    bool run_as;              /* drop to uid/gid (shoald runs as root) */
    uid_t uid;
    gid_t gid;
};

struct runner_result {
    bool ran;              /* the command was started */
    int exit_code;         /* valid when ran */
    bool timed_out;        /* killed at max_wall_ms */
    bool cancelled;        /* killed because *cancel became true */
    int64_t start_ms;      /* when the task started (downloads included) */
    int64_t end_ms;
    /* failureInfo, empty category when none */
    char category[16];     /* "usererror" or "servererror" */
    char code[64];         /* e.g. BlobDownloadMiscError, TaskEnded */
    char message[512];
};

/*
 * Run t to the end and fill *res. cancel, when not NULL, is polled: when it
 * turns true the process group is killed (terminate). Returns 0 when the
 * task ran its course (whatever its exit code) or failed in a way recorded
 * in res (download/upload failure, timeout); negative only for internal
 * errors (res->category "servererror" is then set too).
 * Thread-safe: several tasks run at once in different threads.
 */
int runner_run(const struct runner_task *t, const volatile bool *cancel,
               struct runner_result *res);

/*
 * Split a command line into arguments the way the real service does on
 * Linux: whitespace separates, single and double quotes group (quotes
 * removed), backslash escapes the next character outside single quotes;
 * no variable or glob expansion. *argv_out is a NULL-terminated malloc'd
 * array of malloc'd strings (free with runner_free_args). -ERR_INVALID on
 * an unterminated quote or an empty command.
 */
int runner_split_args(const char *cmd, char ***argv_out, size_t *argc_out,
                      struct err *err);
void runner_free_args(char **argv);

#endif
