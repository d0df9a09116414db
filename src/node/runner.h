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
    gid_t extra_gid;          /* with run_as: a supplementary group besides
                                 gid (the pool's shared group); 0 = none */
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
 * turns true the process group is killed (terminate). It is read with
 * __atomic_load_n; set it with __atomic_store_n(flag, true,
 * __ATOMIC_RELEASE), or a plain write races (TSan says so). Returns 0 when the
 * task ran its course (whatever its exit code) or failed in a way recorded
 * in res (download/upload failure, timeout); negative only for internal
 * errors (res->category "servererror" is then set too).
 * Thread-safe: several tasks run at once in different threads.
 *
 * Details the caller relies on (runner.c's design note has the rest):
 *
 *   - failureInfo codes: BlobNotFound, BlobAccessDenied, BlobDownloadTimedOut,
 *     BlobDownloadMiscError, ResourceFileCreateFailed, DiskFull (downloads;
 *     ran false); CommandProgramNotFound, CommandLaunchFailed (ran false, no
 *     exit code); TaskEnded (timed_out or cancelled; exit_code 137);
 *     FailureExitCode (exit code != 0); FileUploadAccessDenied,
 *     FileUploadMiscError (uploads); servererror Unknown (internal). All but
 *     the last are category usererror; the first failure recorded wins.
 *   - max_wall_ms counts from the launch of the command (downloads are not
 *     included); cancel also stops downloads and uploads in flight.
 *   - Output files are uploaded only when the command ran and was not
 *     cancelled; a literal pattern naming a missing file is not a failure.
 *   - t->env is the whole environment of the task, plus PATH, HOME and LANG
 *     when it lacks them (the agent's; HOME is wd with run_as). The caller
 *     puts the AZ_BATCH_* variables there; output patterns may use them
 *     ("$AZ_BATCH_TASK_DIR/x"). A later duplicate name wins.
 *   - The process must keep SIGCHLD at SIG_DFL (children are waited for by
 *     pid; SIG_IGN would reap them first) and should ignore SIGPIPE (libcurl
 *     runs with CURLOPT_NOSIGNAL, so TLS writes to a closed peer can raise
 *     it). Tasks get default dispositions and an empty signal mask.
 *   - With run_as the caller must be root; task_dir becomes group t->gid,
 *     mode 0750, and wd owner t->uid:t->gid, mode 0770. The process runs
 *     as t->uid with groups t->gid (and t->extra_gid when not 0).
 *   - res->message never contains a URL's query (SAS signatures).
 */
int runner_run(const struct runner_task *t, const volatile bool *cancel,
               struct runner_result *res);

/*
 * Split a command line into arguments the way the real service does on
 * Linux: whitespace separates, single and double quotes group (quotes
 * removed), backslash escapes the next character outside single quotes;
 * no variable or glob expansion. Precisely, as POSIX sh quoting without
 * expansions: inside double quotes a backslash escapes only \ " $ ` (and
 * is kept before anything else, so `printf "a\nb"` keeps its \n); outside
 * quotes it escapes any character; backslash-newline is removed in both; a
 * lone backslash at the very end is kept literally. "" and '' make empty
 * arguments. *argv_out is a NULL-terminated malloc'd array of malloc'd
 * strings (free with runner_free_args); *argc_out may be NULL. -ERR_INVALID
 * (svc "InvalidCommandLine") on an unterminated quote or an empty command
 * (nothing but whitespace). Thread-safe.
 */
int runner_split_args(const char *cmd, char ***argv_out, size_t *argc_out,
                      struct err *err);
/* Free an array from runner_split_args; NULL is a no-op. */
void runner_free_args(char **argv);

/*
 * Match a path (relative, '/'-separated) against an output filePattern,
 * segment by segment. In a segment: '*' is any run of characters, '?' one
 * character, '[abc]', '[a-c]' and '[!a]' (or '[^a]') one character from
 * (or not from) the set; ']' first in a set is literal, an unclosed '[' is
 * a literal '['; brackets escape wildcards ("abc[*]" matches "abc*").
 * Backslash is an ordinary character (only '/' separates on Linux). A
 * segment that is exactly "**" matches zero or more whole segments. A path
 * segment starting with '.' matches only a pattern segment that starts with
 * a literal '.': "*" skips ".git", ".*" matches it, "**" never crosses it.
 * Empty segments are ignored on both sides ("a//b" is "a/b"). Matching is on
 * bytes. Cost is O(pattern segments x path segments x segment length): no
 * exponential backtracking on hostile patterns. Thread-safe.
 */
bool runner_glob_match(const char *pattern, const char *path);

/*
 * Upload size bytes of fd (read with pread from offset 0) as blob `blob`
 * of the container at container_url (a container URL with its SAS), the
 * way output files go: one Put Blob, or blocks for large files, with the
 * same retries. 0 on success; -1 with why filled in the words shoald's
 * nodelogs.c uses ("the storage service refused the upload with status
 * 403", "cannot upload to it (REASON)"), never with the SAS. Blocks for
 * the transfer. Thread-safe.
 */
int runner_upload_blob(int fd, uint64_t size, const char *container_url,
                       const char *blob, char *why, size_t whylen);

/*
 * Process-wide tunables of the transfers. The defaults suit production;
 * tests shrink them to exercise block uploads and retries with small files.
 * runner_get_limits copies the current values; runner_set_limits replaces
 * them (a call in flight keeps the values it started with). Thread-safe.
 */
struct runner_limits {
    uint64_t single_put_max; /* largest file sent as one Put Blob (64 MiB) */
    uint64_t block_size;     /* Put Block size above that (8 MiB; grown to
                                stay within 50,000 blocks) */
    long connect_timeout_s;  /* TCP/TLS connect (30) */
    long stall_timeout_s;    /* under 1 byte/s this long: timed out (120) */
    int http_attempts;       /* tries per request on 408, 429, 5xx and
                                network errors (3) */
    long retry_delay_ms;     /* first back-off, doubled per retry (500) */
};

void runner_get_limits(struct runner_limits *out);
void runner_set_limits(const struct runner_limits *l);

#endif
