/*
 * runner.c: runs one task on this node, start to finish, in the calling
 * thread: directories, resource files, the command, output files.
 *
 *   runner_run
 *     |- dirs       task_dir (0750) and task_dir/wd (0770); with run_as, wd
 *     |             belongs to uid:gid and task_dir to group gid, so the
 *     |             task can write wd but cannot replace stdout.txt
 *     |- downloads  each resource file: GET into a temp file beside the
 *     |             destination, fchmod/fchown, renameat into place
 *     |- launch     fork; the child only makes async-signal-safe calls
 *     |             (everything it needs is built before the fork) and
 *     |             reports a failed exec through a CLOEXEC pipe
 *     |- wait       waitpid(pid, WNOHANG) with short sleeps, polling *cancel
 *     |             and the deadline; kill(-pgid, SIGKILL) to stop
 *     |- uploads    output files whose condition matches the outcome
 *     '- result     res: ran, exit code, timed_out/cancelled, failureInfo
 *
 * Threads. Several runner_run calls proceed at once in different threads of
 * the agent. Nothing here installs signal handlers: each call waits for its
 * own pid only, so the agent must leave SIGCHLD at its default (SIG_IGN
 * would let the kernel reap our children and waitpid would fail). Fork in a
 * threaded process means the child may not take locks (malloc, stdio):
 * argv, envp, the candidate program paths and all fds are prepared in the
 * parent; the child does setpgid, dup2, close_range, chdir, setgroups,
 * setgid, setuid, execve, write and _exit only. Every fd we open is
 * O_CLOEXEC and the child closes every fd above 3 before exec, so one task
 * never inherits another's pipes or files. The process-wide state is: curl
 * initialised once (pthread_once), the agent's PATH/HOME/LANG read once,
 * the transfer limits (mutex), and an atomic counter for temp names.
 *
 * Paths. Everything under task_dir is reached with openat() from a
 * directory fd, one component at a time with O_NOFOLLOW, so a task that
 * plants symlinks in wd (it runs before later downloads on a retry, and
 * before uploads) cannot make the agent, which may be root, write or read
 * outside the task directory. Resource file paths must be relative and free
 * of ".." (ResourceFileCreateFailed otherwise; blob names from a container
 * listing too). Output patterns are resolved relative to wd; a leading
 * "../" reaches task_dir (stdout.txt, stderr.txt), an absolute pattern must
 * lie under task_dir, and "$NAME"/"${NAME}" are expanded from the task's own
 * environment first; anything reaching further out is refused
 * (FileUploadMiscError). The upload walk skips symlinks and non-regular
 * files and descends no deeper than the pattern can match.
 *
 * Outcome and failureInfo (category, code, message; the first failure
 * recorded wins):
 *
 *   download failed     usererror BlobNotFound (404), BlobAccessDenied
 *                       (401/403), BlobDownloadTimedOut (stalled transfer),
 *                       BlobDownloadMiscError (other), ResourceFileCreateFailed
 *                       (bad path or local file error), DiskFull (ENOSPC);
 *                       the command is not run: ran = false
 *   launch failed       usererror CommandProgramNotFound (ENOENT/ENOTDIR on
 *                       every PATH candidate), CommandLaunchFailed (other
 *                       errno, bad command line); ran = false, no exit code
 *   timed out           usererror TaskEnded; exit_code 137 (SIGKILL). Azure's
 *                       docs show {ServerError, TaskEnded} for this case,
 *                       but servererror is reserved here for internal
 *                       errors (it says "not the user's fault"), and a task
 *                       exceeding its own constraint is the user's
 *   cancelled           usererror TaskEnded "Task Was Ended by User Request"
 *                       (the recorded real message for Task_Terminate)
 *   exit code != 0      usererror FailureExitCode
 *   upload failed       usererror FileUploadAccessDenied (401/403) or
 *                       FileUploadMiscError (other; our name, not seen on
 *                       the wire); recorded only when nothing failed before
 *   internal error      servererror Unknown, runner_run returns < 0
 *
 * Output files are uploaded only when the command ran and was not
 * cancelled: success (exit 0, not timed out) selects taskSuccess and
 * taskCompletion, anything else taskFailure and taskCompletion. A literal
 * pattern naming a missing file uploads nothing and is not a failure. Blob
 * names: a literal pattern goes to path (or its own file name; a path ending
 * in '/' is a directory for it), a wildcard match to path + "/" + its path
 * below the pattern's literal leading directories (pattern "res/?.txt"
 * uploads res/a.txt as PATH/a.txt).
 * Processes the task leaves running after a normal exit (a start task's
 * daemon) are not killed; on timeout or cancel the whole process group is.
 *
 * Transfers use one curl easy handle per call (kept alive across requests),
 * http and https only (so an httpUrl of file:///etc/shadow cannot be read by
 * a root agent), redirects followed for GETs, a stall timeout instead of a
 * total one (inputs may be large), and a few retries with back-off on 408,
 * 429, 5xx and network errors. Messages and logs show URLs without their
 * query, so SAS signatures never reach a log or a failureInfo.
 * runner_upload_blob puts one file the way output files go, outside any
 * task: the agent's upload of its service logs (fileserve.c).
 */
#include "node/runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"
#include "core/xml.h"

#define RUNNER_X_MS_VERSION "2021-12-02"
#define RUNNER_USER_AGENT   "shoal-node/0.1"
#define RUNNER_DEFAULT_PATH \
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RUNNER_DEFAULT_LANG      "C.UTF-8"
#define RUNNER_LIST_MAX          (64u << 20) /* one List Blobs reply */
#define RUNNER_MAX_BLOCKS        50000u      /* committed blocks per blob */
#define RUNNER_WALK_MAX_DEPTH    64          /* directory levels under "**" */
#define RUNNER_KILL_EXIT         137         /* 128 + SIGKILL */
#define RUNNER_WAIT_MAX_SLEEP_MS 50 /* latency of cancel and deadline */

/* Child-to-parent report of a failed launch, through the CLOEXEC pipe. */
enum launch_stage {
    LAUNCH_SETUP = 1, /* setpgid, dup2, chdir, setgroups, setgid, setuid */
    LAUNCH_EXEC = 2,  /* execve of every candidate failed */
};

struct launch_report {
    int stage;
    int err;
};

/* Outcome of one HTTP exchange (after retries). */
enum http_outcome {
    HTTP_DONE,      /* a response arrived; see status */
    HTTP_TIMEOUT,   /* the transfer stalled */
    HTTP_NETERR,    /* connection or protocol failure */
    HTTP_LOCAL,     /* our side: file write/read error, body too big */
    HTTP_CANCELLED, /* *cancel turned true */
};

/* One call of runner_run. */
struct run {
    const struct runner_task *t;
    const volatile bool *cancel;
    struct runner_result *res;
    struct runner_limits lim;
    char *wd;    /* task_dir/wd */
    int task_fd; /* task_dir, O_DIRECTORY */
    int wd_fd;   /* task_dir/wd */
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
    int rc;           /* internal error, 0 when none */
    long fail_status; /* HTTP status of a refused upload (0: none) */
    CURLcode last_cc; /* of the last transfer */
};

/* Body source and sink of one HTTP exchange. */
struct xfer {
    struct run *r;
    int out_fd; /* GET: body to this fd (pwrite), or -1 */
    uint64_t out_off;
    struct buf *out_buf; /* GET: body to this buffer, or NULL */
    int in_fd;           /* PUT: body from this fd (pread), or -1 */
    const char *in_mem;  /* PUT: body from memory, or NULL */
    uint64_t in_start;   /* first byte of the body in the source */
    uint64_t in_len;
    uint64_t in_off;   /* bytes sent so far */
    int local_errno;   /* our side failed (0 when not) */
    bool local_toobig; /* out_buf reached its limit */
};

static pthread_once_t runner_once = PTHREAD_ONCE_INIT;
static bool runner_curl_ok;
static char *agent_path;
static char *agent_home;
static char *agent_lang;

static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;
static struct runner_limits limits = {
    .single_put_max = 64u << 20,
    .block_size = 8u << 20,
    .connect_timeout_s = 30,
    .stall_timeout_s = 120,
    .http_attempts = 3,
    .retry_delay_ms = 500,
};

static atomic_ulong tmp_counter;

static void runner_init_once(void)
{
    const char *v;

    runner_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    /* The header's promise: nothing inherited but PATH, HOME and LANG. */
    v = getenv("PATH");
    agent_path = xstrdup(v && *v ? v : RUNNER_DEFAULT_PATH);
    v = getenv("HOME");
    agent_home = v && *v ? xstrdup(v) : NULL;
    v = getenv("LANG");
    agent_lang = xstrdup(v && *v ? v : RUNNER_DEFAULT_LANG);
}

void runner_get_limits(struct runner_limits *out)
{
    pthread_mutex_lock(&limits_lock);
    *out = limits;
    pthread_mutex_unlock(&limits_lock);
}

void runner_set_limits(const struct runner_limits *l)
{
    pthread_mutex_lock(&limits_lock);
    limits = *l;
    if (limits.block_size == 0)
        limits.block_size = 8u << 20;
    if (limits.http_attempts < 1)
        limits.http_attempts = 1;
    pthread_mutex_unlock(&limits_lock);
}

/* Daemon policy for buffer growth: out of memory is fatal (STYLE §3). */
static void must(int rc)
{
    if (rc < 0) {
        log_error("runner buffer failure rc=%s", err_code_name(rc));
        abort();
    }
}

/* ------------------------------------------------------------------------
 * Result helpers
 */

static void result_vfail(struct runner_result *res, const char *category,
                         const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void result_vfail(struct runner_result *res, const char *category,
                         const char *code, const char *fmt, va_list ap)
{
    if (res->category[0])
        return; /* the first failure is the one reported */
    snprintf(res->category, sizeof(res->category), "%s", category);
    snprintf(res->code, sizeof(res->code), "%s", code);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
}

static void user_fail(struct run *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void user_fail(struct run *r, const char *code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    result_vfail(r->res, "usererror", code, fmt, ap);
    va_end(ap);
}

/* An internal error: runner_run will return rc (negative). */
static void server_fail(struct run *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void server_fail(struct run *r, int rc, const char *fmt, ...)
{
    va_list ap;

    /* An internal error outranks a user failure already recorded. */
    r->res->category[0] = '\0';
    va_start(ap, fmt);
    result_vfail(r->res, "servererror", "Unknown", fmt, ap);
    va_end(ap);
    if (!r->rc)
        r->rc = rc;
}

/*
 * The flag is written by another thread: an atomic load keeps that from
 * being a data race (C11) when the writer stores atomically too.
 */
static bool is_cancelled(const struct run *r)
{
    return r->cancel && __atomic_load_n(r->cancel, __ATOMIC_ACQUIRE);
}

/* Sleep ms, waking early when cancelled. */
static void nap(const struct run *r, long ms)
{
    while (ms > 0 && !is_cancelled(r)) {
        long step =
            ms < RUNNER_WAIT_MAX_SLEEP_MS ? ms : RUNNER_WAIT_MAX_SLEEP_MS;
        struct timespec ts = { step / 1000, (step % 1000) * 1000000L };

        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* ------------------------------------------------------------------------
 * Command-line splitting
 */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static void args_push(char ***argv, size_t *argc, size_t *cap, struct buf *w)
{
    if (*argc + 1 >= *cap) {
        size_t bytes;

        *cap = *cap ? *cap * 2 : 8;
        if (!size_mul(*cap, sizeof(**argv), &bytes))
            BUG("argument count overflow");
        *argv = xrealloc(*argv, bytes);
    }
    (*argv)[(*argc)++] = xstrndup(w->data, w->len);
    (*argv)[*argc] = NULL;
    buf_reset(w);
}

int runner_split_args(const char *cmd, char ***argv_out, size_t *argc_out,
                      struct err *err)
{
    int rc = -ERR_INVALID;
    char **argv = NULL;
    size_t argc = 0;
    size_t cap = 0;
    struct buf w = BUF_INIT;
    bool in_word = false;
    const char *p = cmd;

    while (*p) {
        char c = *p;

        if (is_space(c)) {
            if (in_word)
                args_push(&argv, &argc, &cap, &w);
            in_word = false;
            p++;
        } else if (c == '\'') {
            const char *end = strchr(p + 1, '\'');

            if (!end) {
                err_set(err, ERR_INVALID, "InvalidCommandLine",
                        "unterminated single quote in command line");
                goto out;
            }
            must(buf_add(&w, p + 1, (size_t)(end - p - 1)));
            in_word = true;
            p = end + 1;
        } else if (c == '"') {
            p++;
            for (;;) {
                if (!*p) {
                    err_set(err, ERR_INVALID, "InvalidCommandLine",
                            "unterminated double quote in command line");
                    goto out;
                }
                if (*p == '"')
                    break;
                if (*p == '\\' && p[1] &&
                    (p[1] == '\\' || p[1] == '"' || p[1] == '$' ||
                     p[1] == '`' || p[1] == '\n')) {
                    if (p[1] != '\n')
                        must(buf_addc(&w, p[1]));
                    p += 2;
                    continue;
                }
                must(buf_addc(&w, *p));
                p++;
            }
            in_word = true;
            p++;
        } else if (c == '\\') {
            if (p[1] == '\n') {
                p += 2; /* line continuation */
                continue;
            }
            if (p[1]) {
                must(buf_addc(&w, p[1]));
                p += 2;
            } else {
                must(buf_addc(&w, '\\'));
                p++;
            }
            in_word = true;
        } else {
            must(buf_addc(&w, c));
            in_word = true;
            p++;
        }
    }
    if (in_word)
        args_push(&argv, &argc, &cap, &w);
    if (argc == 0) {
        err_set(err, ERR_INVALID, "InvalidCommandLine", "empty command line");
        goto out;
    }
    *argv_out = argv;
    argv = NULL;
    if (argc_out)
        *argc_out = argc;
    rc = 0;
out:
    runner_free_args(argv);
    buf_release(&w);
    return rc;
}

void runner_free_args(char **argv)
{
    size_t i;

    if (!argv)
        return;
    for (i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* ------------------------------------------------------------------------
 * Glob matching
 */

struct seg {
    const char *s;
    size_t len;
};

/* Split s on '/', dropping empty segments; *n_out segments, malloc'd. */
static struct seg *segs_split(const char *s, size_t *n_out)
{
    size_t n = 0;
    size_t i = 0;
    const char *p;
    struct seg *v;
    size_t bytes;

    for (p = s; *p; p++)
        if (*p != '/' && (p == s || p[-1] == '/'))
            n++;
    if (!size_mul(n ? n : 1, sizeof(*v), &bytes))
        BUG("segment count overflow");
    v = xmalloc(bytes);
    p = s;
    while (*p) {
        const char *start;

        while (*p == '/')
            p++;
        if (!*p)
            break;
        start = p;
        while (*p && *p != '/')
            p++;
        v[i].s = start;
        v[i].len = (size_t)(p - start);
        i++;
    }
    *n_out = i;
    return v;
}

/*
 * Match one character c against the element at p[*pi] ('?', a bracket set
 * or a literal); advance *pi past the element.
 */
static bool elem_match(const char *p, size_t plen, size_t *pi, char c)
{
    size_t i = *pi;

    if (p[i] == '?') {
        *pi = i + 1;
        return true;
    }
    if (p[i] == '[') {
        size_t j = i + 1;
        bool negate = false;
        bool found = false;
        size_t first;

        if (j < plen && (p[j] == '!' || p[j] == '^')) {
            negate = true;
            j++;
        }
        first = j;
        while (j < plen && (p[j] != ']' || j == first)) {
            unsigned char lo = (unsigned char)p[j];
            unsigned char hi = lo;

            if (j + 2 < plen && p[j + 1] == '-' && p[j + 2] != ']') {
                hi = (unsigned char)p[j + 2];
                j += 3;
            } else {
                j++;
            }
            if ((unsigned char)c >= lo && (unsigned char)c <= hi)
                found = true;
        }
        if (j < plen) { /* p[j] == ']': a well-formed set */
            *pi = j + 1;
            return found != negate;
        }
        /* No closing bracket: the '[' is literal. */
    }
    *pi = i + 1;
    return p[i] == c;
}

/* One segment: '*' (not crossing '/', which a segment cannot hold). */
static bool seg_match(const struct seg *pat, const struct seg *str)
{
    const char *p = pat->s;
    size_t plen = pat->len;
    const char *s = str->s;
    size_t slen = str->len;
    size_t pi = 0;
    size_t si = 0;
    size_t star_p = SIZE_MAX;
    size_t star_s = 0;

    if (slen > 0 && s[0] == '.' && (plen == 0 || p[0] != '.'))
        return false; /* dot-files only when named */
    /*
     * Greedy with one back-track point: correct because every element but
     * '*' consumes exactly one character, and linear-ish in practice.
     */
    while (si < slen) {
        size_t next = pi;

        if (pi < plen && p[pi] == '*') {
            while (pi < plen && p[pi] == '*')
                pi++;
            star_p = pi;
            star_s = si;
            continue;
        }
        if (pi < plen && elem_match(p, plen, &next, s[si])) {
            pi = next;
            si++;
            continue;
        }
        if (star_p != SIZE_MAX) {
            pi = star_p;
            si = ++star_s;
            continue;
        }
        return false;
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

static bool seg_is_globstar(const struct seg *g)
{
    return g->len == 2 && g->s[0] == '*' && g->s[1] == '*';
}

bool runner_glob_match(const char *pattern, const char *path)
{
    struct seg *ps;
    struct seg *ss;
    size_t np;
    size_t ns;
    size_t cells;
    unsigned char *dp;
    size_t i;
    size_t j;
    bool match;

    ps = segs_split(pattern, &np);
    ss = segs_split(path, &ns);
    /* dp[i * (ns + 1) + j]: pattern segments i.. match path segments j.. */
    if (!size_mul(np + 1, ns + 1, &cells))
        BUG("glob table overflow");
    dp = xcalloc(cells, 1);
    dp[np * (ns + 1) + ns] = 1;
    for (i = np; i-- > 0;) {
        for (j = ns + 1; j-- > 0;) {
            unsigned char v;

            if (seg_is_globstar(&ps[i])) {
                v = dp[(i + 1) * (ns + 1) + j];
                if (!v && j < ns && ss[j].s[0] != '.')
                    v = dp[i * (ns + 1) + j + 1];
            } else {
                v = j < ns && dp[(i + 1) * (ns + 1) + j + 1] &&
                    seg_match(&ps[i], &ss[j]);
            }
            dp[i * (ns + 1) + j] = v;
        }
    }
    match = dp[0] != 0;
    free(dp);
    free(ps);
    free(ss);
    return match;
}

static bool has_wildcard(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (s[i] == '*' || s[i] == '?' || s[i] == '[')
            return true;
    return false;
}

/* ------------------------------------------------------------------------
 * Paths under task_dir
 */

/*
 * Normalize a relative path: drop empty and "." components, join the rest
 * with '/'. Returns false (out left empty) when it is absolute, has a ".."
 * component or no component at all.
 */
static bool rel_normalize(const char *in, struct buf *out)
{
    size_t n;
    size_t i;
    struct seg *v;
    bool ok = true;

    buf_reset(out);
    if (!in || in[0] == '/')
        return false;
    v = segs_split(in, &n);
    for (i = 0; i < n && ok; i++) {
        if (v[i].len == 1 && v[i].s[0] == '.')
            continue;
        if (v[i].len == 2 && v[i].s[0] == '.' && v[i].s[1] == '.') {
            ok = false;
            break;
        }
        if (out->len)
            must(buf_addc(out, '/'));
        must(buf_add(out, v[i].s, v[i].len));
    }
    free(v);
    if (!ok || out->len == 0) {
        buf_reset(out);
        return false;
    }
    return true;
}

/*
 * Open the directory rel (normalized, may be empty) under the directory fd
 * base, one component at a time without following symlinks; with create,
 * missing components are made (0770, owned by the task user with run_as).
 * Returns a new O_CLOEXEC fd, or -1 with errno set.
 */
static int dir_open_under(const struct run *r, int base, const char *rel,
                          size_t len, bool create)
{
    int cur = base;
    size_t i = 0;

    while (i < len) {
        char name[NAME_MAX + 1];
        size_t start = i;
        size_t n;
        int next;

        while (i < len && rel[i] != '/')
            i++;
        n = i - start;
        if (i < len)
            i++;
        if (n == 0)
            continue;
        if (n > NAME_MAX) {
            if (cur != base)
                close(cur);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(name, rel + start, n);
        name[n] = '\0';
        if (create) {
            if (mkdirat(cur, name, 0770) == 0) {
                if (r->t->run_as && fchownat(cur, name, r->t->uid, r->t->gid,
                                             AT_SYMLINK_NOFOLLOW) < 0)
                    log_warn("runner chown failed dir=%s errno=%d", name,
                             errno);
            } else if (errno != EEXIST) {
                int e = errno;

                if (cur != base)
                    close(cur);
                errno = e;
                return -1;
            }
        }
        next =
            openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            int e = errno;

            if (cur != base)
                close(cur);
            errno = e;
            return -1;
        }
        if (cur != base)
            close(cur);
        cur = next;
    }
    if (cur == base)
        return fcntl(base, F_DUPFD_CLOEXEC, 0);
    return cur;
}

/* mkdir -p for the agent's own path (trusted: symlinks are followed). */
static int mkdir_p(const char *path, mode_t mode)
{
    char *p = xstrdup(path);
    char *q;
    int rc = 0;
    int e;

    for (q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = -1;
            break;
        }
        *q = '/';
    }
    if (rc == 0 && mkdir(p, mode) < 0 && errno != EEXIST)
        rc = -1;
    e = errno;
    free(p);
    errno = e; /* the caller tells ENOSPC apart */
    return rc;
}

/* ------------------------------------------------------------------------
 * URLs
 */

/* Length of url before its query or fragment. */
static size_t url_base_len(const char *url)
{
    return strcspn(url, "?#");
}

/* url without its query, for messages and logs (never a SAS signature). */
static const char *url_show(const char *url, char *out, size_t outlen)
{
    size_t n = url_base_len(url);

    snprintf(out, outlen, "%.*s", (int)(n > INT_MAX ? INT_MAX : n), url);
    return out;
}

/*
 * The URL of blob name in a container URL: the percent-encoded name (slashes
 * kept) inserted into the path before the SAS query.
 */
static char *blob_url(const char *container_url, const char *name)
{
    struct buf b = BUF_INIT;
    size_t n = url_base_len(container_url);
    const char *rest = container_url + n;

    while (n > 0 && container_url[n - 1] == '/')
        n--;
    must(buf_add(&b, container_url, n));
    must(buf_addc(&b, '/'));
    must(codec_pct_encode(&b, name, strlen(name), "/"));
    if (*rest == '?')
        must(buf_add(&b, rest, strcspn(rest, "#")));
    return buf_detach(&b, NULL);
}

/* Append a query parameter (value percent-encoded) to a URL in b. */
static void url_add_query(struct buf *b, const char *name, const char *value)
{
    must(buf_addc(b, memchr(b->data, '?', b->len) ? '&' : '?'));
    must(buf_adds(b, name));
    must(buf_addc(b, '='));
    must(codec_pct_encode(b, value, strlen(value), NULL));
}

/* ------------------------------------------------------------------------
 * HTTP (libcurl)
 */

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * nmemb;
    long code = 0;
    size_t done = 0;

    curl_easy_getinfo(x->r->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300)
        return len; /* error and redirect bodies are dropped */
    if (x->out_buf) {
        if (buf_add(x->out_buf, data, len) < 0) {
            x->local_toobig = true;
            return 0;
        }
        return len;
    }
    while (x->out_fd >= 0 && done < len) {
        ssize_t n =
            pwrite(x->out_fd, data + done, len - done, (off_t)x->out_off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            x->local_errno = n < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)n;
        x->out_off += (uint64_t)n;
    }
    return len;
}

static size_t on_read(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t want = size * nmemb;
    uint64_t left = x->in_len - x->in_off;

    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (x->in_mem) {
        memcpy(data, x->in_mem + x->in_start + x->in_off, want);
        x->in_off += want;
        return want;
    }
    for (;;) {
        ssize_t n =
            pread(x->in_fd, data, want, (off_t)(x->in_start + x->in_off));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* A file that shrank under us cannot fill Content-Length. */
            x->local_errno = n < 0 ? errno : EIO;
            return CURL_READFUNC_ABORT;
        }
        x->in_off += (uint64_t)n;
        return (size_t)n;
    }
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    const struct run *r = ud;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return is_cancelled(r) ? 1 : 0;
}

static struct curl_slist *slist_add(struct curl_slist *l, const char *h)
{
    struct curl_slist *n = curl_slist_append(l, h);

    if (!n) {
        log_error("out of memory in curl_slist_append");
        abort();
    }
    return n;
}

static bool status_retryable(long status)
{
    return status == 408 || status == 429 || status >= 500;
}

/*
 * One request, retried on transient failures. put: PUT with the body from
 * x (in_fd or in_mem), else GET into x (out_fd or out_buf). *status_out is
 * the final HTTP status when HTTP_DONE.
 */
static enum http_outcome http_do(struct run *r, bool put, const char *url,
                                 struct curl_slist *headers, struct xfer *x,
                                 long *status_out)
{
    enum http_outcome oc = HTTP_NETERR;
    long delay = r->lim.retry_delay_ms;
    int attempt;

    *status_out = 0;
    for (attempt = 1; attempt <= r->lim.http_attempts; attempt++) {
        CURL *c = r->curl;
        CURLcode cc;
        long status = 0;

        x->r = r;
        x->local_errno = 0;
        x->local_toobig = false;
        x->in_off = 0;
        x->out_off = 0;
        if (x->out_buf)
            buf_reset(x->out_buf);
        if (x->out_fd >= 0 && ftruncate(x->out_fd, 0) < 0) {
            x->local_errno = errno;
            return HTTP_LOCAL;
        }
        r->curl_err[0] = '\0';
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_err);
        curl_easy_setopt(c, CURLOPT_USERAGENT, RUNNER_USER_AGENT);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, r->lim.connect_timeout_s);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, r->lim.stall_timeout_s);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
        if (headers)
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        if (put) {
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, x);
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                             (curl_off_t)x->in_len);
        } else {
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        }
        cc = curl_easy_perform(c);
        r->last_cc = cc;
        if (x->local_errno || x->local_toobig)
            return HTTP_LOCAL;
        if (is_cancelled(r))
            return HTTP_CANCELLED;
        if (cc == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            *status_out = status;
            oc = HTTP_DONE;
            if (!status_retryable(status))
                return oc;
        } else if (cc == CURLE_OPERATION_TIMEDOUT) {
            oc = HTTP_TIMEOUT;
        } else {
            oc = HTTP_NETERR;
            if (!r->curl_err[0])
                snprintf(r->curl_err, sizeof(r->curl_err), "%s",
                         curl_easy_strerror(cc));
        }
        if (attempt < r->lim.http_attempts) {
            nap(r, delay);
            delay *= 2;
        }
    }
    return oc;
}

/* ------------------------------------------------------------------------
 * Resource files
 */

/* "0755" -> 0755; false when not 1..6 octal digits up to 07777. */
static bool parse_mode(const char *s, mode_t *out)
{
    unsigned long v = 0;
    size_t i;

    if (!s || !*s || strlen(s) > 6)
        return false;
    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '7')
            return false;
        v = v * 8 + (unsigned long)(s[i] - '0');
    }
    if (v > 07777)
        return false;
    *out = (mode_t)v;
    return true;
}

/* Record a failed download of url (shown without its query). */
static void download_fail(struct run *r, enum http_outcome oc, long status,
                          const struct xfer *x, const char *url,
                          const char *what)
{
    char shown[256];

    url_show(url, shown, sizeof(shown));
    switch (oc) {
    case HTTP_CANCELLED:
        r->res->cancelled = true;
        user_fail(r, "TaskEnded", "Task Was Ended by User Request");
        break;
    case HTTP_TIMEOUT:
        user_fail(r, "BlobDownloadTimedOut",
                  "The download of %s '%s' timed out", what, shown);
        break;
    case HTTP_LOCAL:
        if (x->local_toobig)
            user_fail(r, "BlobDownloadMiscError",
                      "The reply listing '%s' is too large", shown);
        else if (x->local_errno == ENOSPC || x->local_errno == EDQUOT)
            user_fail(r, "DiskFull",
                      "The node ran out of disk space downloading '%s'", shown);
        else
            user_fail(r, "ResourceFileCreateFailed",
                      "Writing the download of '%s' failed: %s", shown,
                      strerror(x->local_errno));
        break;
    case HTTP_NETERR:
        user_fail(r, "BlobDownloadMiscError",
                  "The download of %s '%s' failed: %s", what, shown,
                  r->curl_err);
        break;
    case HTTP_DONE:
        if (status == 404)
            user_fail(r, "BlobNotFound", "The %s '%s' was not found", what,
                      shown);
        else if (status == 401 || status == 403)
            user_fail(r, "BlobAccessDenied",
                      "Access to the %s '%s' was denied (HTTP %ld)", what,
                      shown, status);
        else
            user_fail(r, "BlobDownloadMiscError",
                      "The download of %s '%s' failed with HTTP %ld", what,
                      shown, status);
        break;
    }
}

/*
 * GET url into rel (normalized, relative to wd): a temp file beside the
 * destination, then renamed over it. Returns 0 or -1 (failure recorded).
 */
static int download_file(struct run *r, const char *url, const char *rel,
                         mode_t mode)
{
    int rc = -1;
    int dir_fd = -1;
    int fd = -1;
    char tmp[64];
    bool tmp_made = false;
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    size_t dir_len = slash ? (size_t)(slash - rel) : 0;
    struct xfer x = { .out_fd = -1, .in_fd = -1 };
    enum http_outcome oc;
    long status = 0;

    if (strlen(base) > NAME_MAX) {
        user_fail(r, "ResourceFileCreateFailed",
                  "The resource file path '%s' has a name too long", rel);
        goto out;
    }
    dir_fd = dir_open_under(r, r->wd_fd, rel, dir_len, true);
    if (dir_fd < 0) {
        user_fail(r, errno == ENOSPC ? "DiskFull" : "ResourceFileCreateFailed",
                  "The directory of resource file '%s' could not be created: "
                  "%s",
                  rel, strerror(errno));
        goto out;
    }
    snprintf(tmp, sizeof(tmp), ".shoal-dl.%ld.%lu", (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1));
    fd = openat(dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
    if (fd < 0) {
        user_fail(r, errno == ENOSPC ? "DiskFull" : "ResourceFileCreateFailed",
                  "The resource file '%s' could not be created: %s", rel,
                  strerror(errno));
        goto out;
    }
    tmp_made = true;
    x.out_fd = fd;
    oc = http_do(r, false, url, NULL, &x, &status);
    if (oc != HTTP_DONE || status < 200 || status >= 300) {
        download_fail(r, oc, status, &x, url, "blob");
        goto out;
    }
    if (fchmod(fd, mode) < 0) {
        user_fail(r, "ResourceFileCreateFailed",
                  "The mode of resource file '%s' could not be set: %s", rel,
                  strerror(errno));
        goto out;
    }
    if (r->t->run_as && fchown(fd, r->t->uid, r->t->gid) < 0)
        log_warn("runner chown failed file=%s errno=%d", rel, errno);
    if (renameat(dir_fd, tmp, dir_fd, base) < 0) {
        user_fail(r, "ResourceFileCreateFailed",
                  "The resource file '%s' could not be created: %s", rel,
                  strerror(errno));
        goto out;
    }
    tmp_made = false;
    rc = 0;
out:
    if (tmp_made)
        unlinkat(dir_fd, tmp, 0);
    if (fd >= 0)
        close(fd);
    if (dir_fd >= 0)
        close(dir_fd);
    return rc;
}

/* Text of child name of n, or "" (never NULL). */
static const char *xml_text(const struct xml_node *n, const char *name)
{
    const struct xml_node *c = n ? xml_child(n, name) : NULL;

    return c ? c->text : "";
}

/*
 * storageContainerUrl: List Blobs page by page (prefix = blobPrefix), GET
 * each blob into wd/filePath/name. Returns 0 or -1 (failure recorded).
 */
static int download_container(struct run *r, const struct runner_resource *rs)
{
    int rc = -1;
    struct buf list_url = BUF_INIT;
    struct buf body = BUF_INIT;
    struct buf dest = BUF_INIT;
    struct buf joined = BUF_INIT;
    char *marker = NULL;
    struct xml_node *root = NULL;
    struct curl_slist *h = NULL;
    const char *prefix = rs->blob_prefix ? rs->blob_prefix : "";
    mode_t mode = 0770;
    char shown[256];

    url_show(rs->container_url, shown, sizeof(shown));
    if (rs->file_mode && !parse_mode(rs->file_mode, &mode)) {
        user_fail(r, "ResourceFileCreateFailed",
                  "The file mode '%.16s' is not an octal mode", rs->file_mode);
        goto out;
    }
    buf_init(&body, RUNNER_LIST_MAX);
    h = slist_add(h, "x-ms-version: " RUNNER_X_MS_VERSION);
    for (;;) {
        struct xfer x = { .out_fd = -1, .in_fd = -1, .out_buf = &body };
        const struct xml_node *blobs;
        const struct xml_node *b;
        enum http_outcome oc;
        long status = 0;
        const char *next;

        buf_reset(&list_url);
        must(buf_adds(&list_url, rs->container_url));
        /* restype and comp first keeps the URL readable in server logs. */
        url_add_query(&list_url, "restype", "container");
        url_add_query(&list_url, "comp", "list");
        if (*prefix)
            url_add_query(&list_url, "prefix", prefix);
        if (marker)
            url_add_query(&list_url, "marker", marker);
        oc = http_do(r, false, list_url.data, h, &x, &status);
        if (oc != HTTP_DONE || status < 200 || status >= 300) {
            download_fail(r, oc, status, &x, rs->container_url, "container");
            goto out;
        }
        xml_free(root);
        root = NULL;
        if (xml_parse(body.data, body.len, &root, NULL) < 0 ||
            strcmp(root->name, "EnumerationResults") != 0) {
            user_fail(r, "BlobDownloadMiscError",
                      "The container '%s' returned an invalid blob list",
                      shown);
            goto out;
        }
        blobs = xml_child(root, "Blobs");
        for (b = blobs ? blobs->child : NULL; b; b = b->next) {
            const struct xml_node *nm;
            char *url;
            int drc;

            if (strcmp(b->name, "Blob") != 0)
                continue;
            nm = xml_child(b, "Name");
            if (!nm || nm->textlen == 0 || strlen(nm->text) != nm->textlen)
                continue;
            if (!str_prefix(nm->text, prefix))
                continue; /* the server should have filtered it already */
            if (nm->text[nm->textlen - 1] == '/')
                continue; /* a directory marker, not a file */
            buf_reset(&joined);
            if (rs->file_path && *rs->file_path) {
                must(buf_adds(&joined, rs->file_path));
                must(buf_addc(&joined, '/'));
            }
            must(buf_add(&joined, nm->text, nm->textlen));
            if (!rel_normalize(joined.data, &dest)) {
                user_fail(r, "ResourceFileCreateFailed",
                          "The blob '%.200s' would be written outside the "
                          "working directory",
                          nm->text);
                goto out;
            }
            url = blob_url(rs->container_url, nm->text);
            drc = download_file(r, url, dest.data, mode);
            free(url);
            if (drc < 0)
                goto out;
        }
        next = xml_text(root, "NextMarker");
        if (!*next)
            break;
        if (marker && strcmp(marker, next) == 0) {
            user_fail(r, "BlobDownloadMiscError",
                      "The container '%s' repeated its list marker", shown);
            goto out;
        }
        free(marker);
        marker = xstrdup(next);
    }
    rc = 0;
out:
    curl_slist_free_all(h);
    xml_free(root);
    free(marker);
    buf_release(&joined);
    buf_release(&dest);
    buf_release(&body);
    buf_release(&list_url);
    return rc;
}

/* One resource file. Returns 0 or -1 (failure recorded). */
static int download_resource(struct run *r, const struct runner_resource *rs)
{
    int rc = -1;
    struct buf rel = BUF_INIT;
    mode_t mode = 0770;

    if (rs->container_url && !rs->http_url) {
        rc = download_container(r, rs);
        goto out;
    }
    if (!rs->http_url || rs->container_url) {
        user_fail(r, "ResourceFileCreateFailed",
                  "A resource file needs exactly one of httpUrl and "
                  "storageContainerUrl");
        goto out;
    }
    if (!rs->file_path || !rel_normalize(rs->file_path, &rel) ||
        rs->file_path[strlen(rs->file_path) - 1] == '/') {
        user_fail(r, "ResourceFileCreateFailed",
                  "The resource file path '%.200s' must name a file inside "
                  "the working directory",
                  rs->file_path ? rs->file_path : "");
        goto out;
    }
    if (rs->file_mode && !parse_mode(rs->file_mode, &mode)) {
        user_fail(r, "ResourceFileCreateFailed",
                  "The file mode '%.16s' is not an octal mode", rs->file_mode);
        goto out;
    }
    rc = download_file(r, rs->http_url, rel.data, mode);
out:
    buf_release(&rel);
    return rc;
}

/* ------------------------------------------------------------------------
 * Launch
 */

/* Everything the child needs, built before fork. */
struct launch {
    char **argv;    /* split command line */
    char **envp;    /* NAME=value strings */
    char **paths;   /* candidate program paths, NULL-terminated */
    char **sh_argv; /* "/bin/sh", <slot>, argv[1..]: for ENOEXEC */
    const char *wd;
    int fd_in; /* all >= 3, O_CLOEXEC */
    int fd_out;
    int fd_err;
    int pipe_r;
    int pipe_w;
    int max_fd; /* close-all fallback bound */
    bool run_as;
    uid_t uid;
    gid_t gid;
    gid_t groups[2]; /* gid, then the extra group if any */
    size_t ngroups;
};

static void strv_free(char **v)
{
    runner_free_args(v);
}

static void strv_push(char ***v, size_t *n, size_t *cap, char *s)
{
    if (*n + 1 >= *cap) {
        size_t bytes;

        *cap = *cap ? *cap * 2 : 16;
        if (!size_mul(*cap, sizeof(**v), &bytes))
            BUG("vector overflow");
        *v = xrealloc(*v, bytes);
    }
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/* Value of name in the task's environment (last setting wins), or NULL. */
static const char *task_env(const struct runner_task *t, const char *name,
                            size_t len)
{
    size_t i;

    for (i = t->nenv; i-- > 0;) {
        const char *n = t->env[i].name;

        if (n && strlen(n) == len && memcmp(n, name, len) == 0)
            return t->env[i].value ? t->env[i].value : "";
    }
    return NULL;
}

static bool env_name_ok(const char *n)
{
    return n && *n && !strchr(n, '=');
}

/* Whether t->env[i] is set again further down the list. */
static bool env_set_later(const struct runner_task *t, size_t i)
{
    size_t j;

    for (j = i + 1; j < t->nenv; j++)
        if (t->env[j].name && strcmp(t->env[j].name, t->env[i].name) == 0)
            return true;
    return false;
}

/*
 * envp: the task's variables (a later duplicate replaces an earlier one),
 * then PATH, HOME and LANG when the task did not set them: the agent's
 * PATH and LANG, and HOME the agent's, or wd for a task running as another
 * user (the agent's home is not theirs).
 */
static char **env_build(const struct run *r)
{
    const struct runner_task *t = r->t;
    char **envp = NULL;
    size_t n = 0;
    size_t cap = 0;
    size_t i;

    for (i = 0; i < t->nenv; i++) {
        const char *name = t->env[i].name;
        const char *value = t->env[i].value ? t->env[i].value : "";

        if (!env_name_ok(name)) {
            log_warn("runner skipped an invalid environment variable name");
            continue;
        }
        if (env_set_later(t, i))
            continue; /* a later setting of the same name wins */
        strv_push(&envp, &n, &cap, xasprintf("%s=%s", name, value));
    }
    if (!task_env(t, "PATH", 4))
        strv_push(&envp, &n, &cap, xasprintf("PATH=%s", agent_path));
    if (!task_env(t, "HOME", 4)) {
        const char *home = t->run_as || !agent_home ? r->wd : agent_home;

        strv_push(&envp, &n, &cap, xasprintf("HOME=%s", home));
    }
    if (!task_env(t, "LANG", 4))
        strv_push(&envp, &n, &cap, xasprintf("LANG=%s", agent_lang));
    return envp;
}

/* execvp's search, done before fork: the candidate paths for argv0. */
static char **paths_build(const struct run *r, const char *argv0)
{
    char **v = NULL;
    size_t n = 0;
    size_t cap = 0;
    const char *path;
    const char *p;

    if (strchr(argv0, '/') || !*argv0) {
        strv_push(&v, &n, &cap, xstrdup(argv0));
        return v;
    }
    path = task_env(r->t, "PATH", 4);
    if (!path)
        path = agent_path;
    p = path;
    for (;;) {
        size_t len = strcspn(p, ":");

        if (len == 0)
            strv_push(&v, &n, &cap, xstrdup(argv0)); /* "" is the cwd */
        else
            strv_push(&v, &n, &cap, xasprintf("%.*s/%s", (int)len, p, argv0));
        if (!p[len])
            break;
        p += len + 1;
    }
    return v;
}

/* Move fd to a number >= 3 (0..2 become the child's stdio). */
static int fd_high(int fd)
{
    int h;

    if (fd < 0 || fd >= 3)
        return fd;
    h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return h;
}

static void child_report(int fd, int stage, int e) __attribute__((noreturn));

static void child_report(int fd, int stage, int e)
{
    struct launch_report rep = { stage, e };
    ssize_t n;

    do {
        n = write(fd, &rep, sizeof(rep));
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

/*
 * The child between fork and exec: async-signal-safe calls only (no malloc,
 * no stdio, no locks), since another thread may have held any lock at the
 * fork.
 */
static void child_run(struct launch *l) __attribute__((noreturn));

static void child_run(struct launch *l)
{
    struct sigaction sa;
    sigset_t none;
    int sig;
    int w = l->pipe_w;
    int e = ENOENT;
    bool eacces = false;
    size_t i;

    /* Default dispositions (the agent may ignore SIGPIPE), nothing blocked. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setpgid(0, 0) < 0)
        child_report(w, LAUNCH_SETUP, errno);
    if (dup2(l->fd_in, 0) < 0 || dup2(l->fd_out, 1) < 0 ||
        dup2(l->fd_err, 2) < 0)
        child_report(w, LAUNCH_SETUP, errno);
    /* Keep the report pipe as fd 3 (close-on-exec), close the rest. */
    if (w != 3) {
        if (dup2(w, 3) < 0)
            child_report(w, LAUNCH_SETUP, errno);
        w = 3;
        fcntl(w, F_SETFD, FD_CLOEXEC);
    }
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 4u, ~0u, 0u) < 0)
#endif
    {
        int fd;

        for (fd = 4; fd < l->max_fd; fd++)
            close(fd);
    }
    if (chdir(l->wd) < 0)
        child_report(w, LAUNCH_SETUP, errno);
    if (l->run_as) {
        if (setgroups(l->ngroups, l->groups) < 0 || setgid(l->gid) < 0 ||
            setuid(l->uid) < 0)
            child_report(w, LAUNCH_SETUP, errno);
    }
    for (i = 0; l->paths[i]; i++) {
        execve(l->paths[i], l->argv, l->envp);
        e = errno;
        if (e == ENOEXEC) {
            /* No #! line: run it with sh, as execvp does. */
            l->sh_argv[1] = l->paths[i];
            execve("/bin/sh", l->sh_argv, l->envp);
            e = errno;
        }
        if (e == EACCES)
            eacces = true;
        else if (e != ENOENT && e != ENOTDIR && e != ENAMETOOLONG && e != ELOOP)
            break;
    }
    if (eacces && (e == ENOENT || e == ENOTDIR))
        e = EACCES;
    child_report(w, LAUNCH_EXEC, e);
}

/* Open task_dir/name for the child's output, owned by the task user. */
static int open_output(const struct run *r, const char *name)
{
    int fd =
        openat(r->task_fd, name,
               O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);

    if (fd >= 0 && r->t->run_as && fchown(fd, r->t->uid, r->t->gid) < 0)
        log_warn("runner chown failed file=%s errno=%d", name, errno);
    return fd_high(fd);
}

static void launch_release(struct launch *l)
{
    int *fds[] = { &l->fd_in, &l->fd_out, &l->fd_err, &l->pipe_r, &l->pipe_w };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    runner_free_args(l->argv);
    strv_free(l->envp);
    strv_free(l->paths);
    if (l->sh_argv) {
        free(l->sh_argv[0]);
        free(l->sh_argv); /* the other slots are borrowed from argv */
    }
    memset(l, 0, sizeof(*l));
    l->fd_in = l->fd_out = l->fd_err = l->pipe_r = l->pipe_w = -1;
}

/* Build l for t. Returns 0, or -1 with the failure recorded. */
static int launch_prepare(struct run *r, struct launch *l)
{
    struct err e = ERR_INIT;
    size_t argc = 0;
    size_t i;
    size_t bytes;
    struct rlimit rl;
    int p[2];

    l->fd_in = l->fd_out = l->fd_err = l->pipe_r = l->pipe_w = -1;
    if (runner_split_args(r->t->command_line ? r->t->command_line : "",
                          &l->argv, &argc, &e) < 0) {
        user_fail(r, "CommandLaunchFailed", "The command line is invalid: %s",
                  e.msg);
        return -1;
    }
    l->envp = env_build(r);
    l->paths = paths_build(r, l->argv[0]);
    if (!size_mul(argc + 2, sizeof(char *), &bytes))
        BUG("argument count overflow");
    l->sh_argv = xmalloc(bytes);
    l->sh_argv[0] = xstrdup("/bin/sh");
    l->sh_argv[1] = NULL;
    for (i = 1; i <= argc; i++)
        l->sh_argv[i + 1] = l->argv[i];
    l->wd = r->wd;
    l->run_as = r->t->run_as;
    l->uid = r->t->uid;
    l->gid = r->t->gid;
    l->groups[0] = r->t->gid;
    l->ngroups = 1;
    if (r->t->extra_gid && r->t->extra_gid != r->t->gid)
        l->groups[l->ngroups++] = r->t->extra_gid;
    l->max_fd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < 65536)
        l->max_fd = (int)rl.rlim_cur;
    l->fd_in = fd_high(open("/dev/null", O_RDONLY | O_CLOEXEC));
    l->fd_out = open_output(r, "stdout.txt");
    l->fd_err = open_output(r, "stderr.txt");
    if (l->fd_in < 0 || l->fd_out < 0 || l->fd_err < 0) {
        server_fail(r, -ERR_IO, "Opening the task's standard files failed: %s",
                    strerror(errno));
        return -1;
    }
    if (syscall(SYS_pipe2, p, O_CLOEXEC) < 0) {
        server_fail(r, -ERR_IO, "pipe failed: %s", strerror(errno));
        return -1;
    }
    l->pipe_r = fd_high(p[0]);
    l->pipe_w = fd_high(p[1]);
    if (l->pipe_r < 0 || l->pipe_w < 0) {
        server_fail(r, -ERR_IO, "pipe failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void launch_fail(struct run *r, const struct launch *l,
                        const struct launch_report *rep)
{
    const char *prog = l->argv[0];

    if (rep->stage == LAUNCH_EXEC &&
        (rep->err == ENOENT || rep->err == ENOTDIR))
        user_fail(r, "CommandProgramNotFound",
                  "The command program '%.200s' was not found", prog);
    else if (rep->stage == LAUNCH_EXEC)
        user_fail(r, "CommandLaunchFailed",
                  "The command program '%.200s' could not be started: %s", prog,
                  strerror(rep->err));
    else
        user_fail(r, "CommandLaunchFailed",
                  "The task process could not be set up: %s",
                  strerror(rep->err));
}

/* Wait for pid, killing its group at the deadline or on cancel. */
static int wait_child(struct run *r, pid_t pid, int *status_out)
{
    int64_t deadline = 0;
    long sleep_ms = 1;
    int st = 0;
    pid_t w;

    if (r->t->max_wall_ms > 0)
        deadline = timefmt_mono_ms() + r->t->max_wall_ms;
    for (;;) {
        int64_t now;

        w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            server_fail(r, -ERR_INTERNAL,
                        "waitpid failed: %s (is SIGCHLD ignored?)",
                        strerror(errno));
            kill(-pid, SIGKILL);
            return -1;
        }
        now = timefmt_mono_ms();
        if (is_cancelled(r) || (deadline && now >= deadline)) {
            if (is_cancelled(r))
                r->res->cancelled = true;
            else
                r->res->timed_out = true;
            kill(-pid, SIGKILL);
            do {
                w = waitpid(pid, &st, 0);
            } while (w < 0 && errno == EINTR);
            if (w != pid) {
                server_fail(r, -ERR_INTERNAL, "waitpid failed: %s",
                            strerror(errno));
                return -1;
            }
            break;
        }
        {
            long ms = sleep_ms;
            struct timespec ts;

            if (deadline && deadline - now < ms)
                ms = (long)(deadline - now);
            ts.tv_sec = ms / 1000;
            ts.tv_nsec = (ms % 1000) * 1000000L;
            nanosleep(&ts, NULL);
        }
        if (sleep_ms < RUNNER_WAIT_MAX_SLEEP_MS)
            sleep_ms *= 2;
    }
    *status_out = st;
    return 0;
}

/* Run the command; fills ran, exit_code, timed_out, cancelled. */
static int launch_run(struct run *r)
{
    int rc = -1;
    struct launch l;
    struct launch_report rep;
    ssize_t n;
    pid_t pid;
    int st = 0;

    memset(&l, 0, sizeof(l));
    if (launch_prepare(r, &l) < 0)
        goto out;
    pid = fork();
    if (pid < 0) {
        server_fail(r, -ERR_IO, "fork failed: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child_run(&l);
    close(l.pipe_w);
    l.pipe_w = -1;
    /* Also here, so a kill(-pid) right away reaches the new group. */
    setpgid(pid, pid);
    do {
        n = read(l.pipe_r, &rep, sizeof(rep));
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(rep)) {
        launch_fail(r, &l, &rep);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        goto out;
    }
    r->res->ran = true;
    log_debug("task started pid=%ld dir=%s", (long)pid, r->t->task_dir);
    if (wait_child(r, pid, &st) < 0)
        goto out;
    if (WIFEXITED(st))
        r->res->exit_code = WEXITSTATUS(st);
    else if (WIFSIGNALED(st))
        r->res->exit_code = 128 + WTERMSIG(st);
    else
        r->res->exit_code = RUNNER_KILL_EXIT;
    rc = 0;
out:
    launch_release(&l);
    return rc;
}

/* ------------------------------------------------------------------------
 * Output files
 */

static void upload_fail(struct run *r, enum http_outcome oc, long status,
                        const struct xfer *x, const char *blob)
{
    switch (oc) {
    case HTTP_CANCELLED:
        r->res->cancelled = true;
        user_fail(r, "TaskEnded", "Task Was Ended by User Request");
        break;
    case HTTP_TIMEOUT:
        user_fail(r, "FileUploadMiscError",
                  "The upload of blob '%.200s' timed out", blob);
        break;
    case HTTP_LOCAL:
        user_fail(r, "FileUploadMiscError",
                  "Reading the file for blob '%.200s' failed: %s", blob,
                  strerror(x->local_errno ? x->local_errno : EIO));
        break;
    case HTTP_NETERR:
        user_fail(r, "FileUploadMiscError",
                  "The upload of blob '%.200s' failed: %s", blob, r->curl_err);
        break;
    case HTTP_DONE:
        if (status == 401 || status == 403)
            user_fail(r, "FileUploadAccessDenied",
                      "Access was denied uploading blob '%.200s' (HTTP %ld)",
                      blob, status);
        else
            user_fail(r, "FileUploadMiscError",
                      "The upload of blob '%.200s' failed with HTTP %ld", blob,
                      status);
        break;
    }
}

/* PUT bytes [off, off + len) of fd (or of mem) to url. 0 or -1. */
static int put_range(struct run *r, const char *url, struct curl_slist *headers,
                     int fd, const char *mem, uint64_t off, uint64_t len,
                     const char *blob)
{
    struct xfer x = {
        .out_fd = -1, .in_fd = fd, .in_mem = mem, .in_start = off, .in_len = len
    };
    enum http_outcome oc;
    long status = 0;

    oc = http_do(r, true, url, headers, &x, &status);
    if (oc != HTTP_DONE || status < 200 || status >= 300) {
        if (oc == HTTP_DONE)
            r->fail_status = status;
        upload_fail(r, oc, status, &x, blob);
        return -1;
    }
    return 0;
}

/*
 * Upload size bytes of fd as blob name in the container: one Put Blob up to
 * single_put_max, else Put Block per block_size and Put Block List. Block
 * ids are base64 of "shoal-block-" and a 10-digit index: one length for all
 * blocks of a blob, as the service requires.
 */
static int upload_fd(struct run *r, int fd, uint64_t size,
                     const char *container_url, const char *blob)
{
    int rc = -1;
    char *url = blob_url(container_url, blob);
    struct curl_slist *h = NULL;
    struct buf list = BUF_INIT;
    struct buf burl = BUF_INIT;
    struct buf id = BUF_INIT;
    uint64_t bs = r->lim.block_size;
    uint64_t nblocks;
    uint64_t i;

    h = slist_add(h, "x-ms-version: " RUNNER_X_MS_VERSION);
    h = slist_add(h, "Expect:");
    if (size <= r->lim.single_put_max) {
        h = slist_add(h, "x-ms-blob-type: BlockBlob");
        h = slist_add(h, "Content-Type: application/octet-stream");
        rc = put_range(r, url, h, fd, NULL, 0, size, blob);
        goto out;
    }
    nblocks = (size + bs - 1) / bs;
    if (nblocks > RUNNER_MAX_BLOCKS) {
        bs = (size + RUNNER_MAX_BLOCKS - 1) / RUNNER_MAX_BLOCKS;
        nblocks = (size + bs - 1) / bs;
    }
    must(buf_adds(&list, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                         "<BlockList>"));
    for (i = 0; i < nblocks; i++) {
        char raw[32];
        uint64_t off = i * bs;
        uint64_t len = size - off < bs ? size - off : bs;
        int n = snprintf(raw, sizeof(raw), "shoal-block-%010llu",
                         (unsigned long long)i);

        buf_reset(&id);
        must(codec_base64_encode(&id, raw, (size_t)n));
        buf_reset(&burl);
        must(buf_adds(&burl, url));
        url_add_query(&burl, "comp", "block");
        url_add_query(&burl, "blockid", id.data);
        if (put_range(r, burl.data, h, fd, NULL, off, len, blob) < 0)
            goto out;
        must(buf_addf(&list, "<Latest>%s</Latest>", id.data));
    }
    must(buf_adds(&list, "</BlockList>"));
    buf_reset(&burl);
    must(buf_adds(&burl, url));
    url_add_query(&burl, "comp", "blocklist");
    h = slist_add(h, "Content-Type: application/xml");
    rc = put_range(r, burl.data, h, -1, list.data, 0, list.len, blob);
out:
    curl_slist_free_all(h);
    buf_release(&id);
    buf_release(&burl);
    buf_release(&list);
    free(url);
    return rc;
}

/* Open name in dir_fd for upload: a regular file, symlinks refused. */
static int open_regular(int dir_fd, const char *name, uint64_t *size_out)
{
    struct stat st;
    int fd =
        openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    *size_out = (uint64_t)st.st_size;
    return fd;
}

/* Upload dir_fd/name as blob; a file that vanished or is not regular is
 * skipped. Returns 0 or -1 (failure recorded). */
static int upload_one(struct run *r, const struct runner_output *o, int dir_fd,
                      const char *name, const char *blob)
{
    uint64_t size = 0;
    int fd = open_regular(dir_fd, name, &size);
    int rc;

    if (fd < 0) {
        log_debug("output file skipped name=%s errno=%d", name, errno);
        return 0;
    }
    log_debug("uploading output blob=%s size=%llu", blob,
              (unsigned long long)size);
    rc = upload_fd(r, fd, size, o->container_url, blob);
    close(fd);
    return rc;
}

int runner_upload_blob(int fd, uint64_t size, const char *container_url,
                       const char *blob, char *why, size_t whylen)
{
    struct runner_result res;
    struct run r;
    int rc;

    memset(&res, 0, sizeof(res));
    memset(&r, 0, sizeof(r));
    r.res = &res;
    r.task_fd = -1;
    r.wd_fd = -1;
    pthread_once(&runner_once, runner_init_once);
    runner_get_limits(&r.lim);
    if (!runner_curl_ok || !(r.curl = curl_easy_init())) {
        snprintf(why, whylen, "cannot upload to it (%s)",
                 "libcurl could not be initialised");
        return -1;
    }
    rc = upload_fd(&r, fd, size, container_url, blob);
    if (rc < 0 && r.fail_status)
        snprintf(why, whylen,
                 "the storage service refused the upload with status %ld",
                 r.fail_status);
    else if (rc < 0 && r.last_cc != CURLE_OK)
        snprintf(why, whylen, "cannot upload to it (%s)",
                 curl_easy_strerror(r.last_cc));
    else if (rc < 0)
        snprintf(why, whylen, "cannot upload to it (%s)", res.message);
    curl_easy_cleanup(r.curl);
    return rc;
}

/* Expand $NAME and ${NAME} from the task's environment; unknown names and
 * lone '$' stay as written. */
static void pattern_expand(const struct runner_task *t, const char *in,
                           struct buf *out)
{
    const char *p = in;

    while (*p) {
        const char *name;
        size_t len = 0;
        bool braced;
        const char *v;

        if (*p != '$') {
            must(buf_addc(out, *p++));
            continue;
        }
        braced = p[1] == '{';
        name = p + (braced ? 2 : 1);
        while ((name[len] >= 'A' && name[len] <= 'Z') ||
               (name[len] >= 'a' && name[len] <= 'z') || name[len] == '_' ||
               (len > 0 && name[len] >= '0' && name[len] <= '9'))
            len++;
        if (len == 0 || (braced && name[len] != '}') ||
            !(v = task_env(t, name, len))) {
            must(buf_addc(out, *p++));
            continue;
        }
        must(buf_adds(out, v));
        p = name + len + (braced ? 1 : 0);
    }
}

/*
 * Resolve a filePattern into a path relative to task_dir: relative patterns
 * start in wd, absolute ones must lie under task_dir; "." and ".." are
 * applied lexically (the walk follows no symlinks, so that is also what the
 * file system would do). Returns false when the result leaves task_dir or is
 * empty.
 */
static bool pattern_resolve(const struct run *r, const char *pattern,
                            struct buf *out)
{
    struct buf in = BUF_INIT;
    struct seg *v = NULL;
    size_t *stack = NULL;
    size_t n;
    size_t depth = 0;
    size_t i;
    bool ok = false;
    size_t bytes;

    buf_reset(out);
    if (pattern[0] == '/') {
        size_t tl = strlen(r->t->task_dir);

        while (tl > 1 && r->t->task_dir[tl - 1] == '/')
            tl--;
        if (strncmp(pattern, r->t->task_dir, tl) != 0 || pattern[tl] != '/')
            goto out;
        must(buf_adds(&in, pattern + tl + 1));
    } else {
        must(buf_adds(&in, "wd/"));
        must(buf_adds(&in, pattern));
    }
    v = segs_split(in.data, &n);
    if (!size_mul(n ? n : 1, sizeof(*stack), &bytes))
        BUG("pattern segment overflow");
    stack = xmalloc(bytes);
    for (i = 0; i < n; i++) {
        if (v[i].len == 1 && v[i].s[0] == '.')
            continue;
        if (v[i].len == 2 && v[i].s[0] == '.' && v[i].s[1] == '.') {
            if (depth == 0)
                goto out;
            depth--;
            continue;
        }
        stack[depth++] = i;
    }
    for (i = 0; i < depth; i++) {
        if (i)
            must(buf_addc(out, '/'));
        must(buf_add(out, v[stack[i]].s, v[stack[i]].len));
    }
    ok = depth > 0;
out:
    free(stack);
    free(v);
    buf_release(&in);
    return ok;
}

/* Walk state for a wildcard pattern. */
struct walk {
    struct run *r;
    const struct runner_output *o;
    const char *rest;   /* the pattern below the literal base */
    const char *prefix; /* destination path, "" for the container root */
    int max_depth;      /* directory levels the pattern can reach */
    bool dot_dirs;      /* the pattern names dot segments */
    struct buf rel;     /* current path relative to the base */
    struct buf blob;
};

/* Walk dir_fd (taken over), uploading what matches. 0 or -1. */
static int walk_dir(struct walk *w, int dir_fd, int depth)
{
    int rc = 0;
    DIR *d = fdopendir(dir_fd);
    struct dirent *de;

    if (!d) {
        close(dir_fd);
        return 0;
    }
    while ((de = readdir(d)) != NULL && !is_cancelled(w->r)) {
        const char *name = de->d_name;
        size_t saved = w->rel.len;
        struct stat st;

        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (saved)
            must(buf_addc(&w->rel, '/'));
        must(buf_adds(&w->rel, name));
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            buf_setlen(&w->rel, saved);
            continue;
        }
        if (S_ISDIR(st.st_mode) && depth + 1 < w->max_depth &&
            (name[0] != '.' || w->dot_dirs)) {
            int sub = openat(dirfd(d), name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

            if (sub >= 0 && walk_dir(w, sub, depth + 1) < 0)
                rc = -1;
        } else if (S_ISREG(st.st_mode) &&
                   runner_glob_match(w->rest, w->rel.data)) {
            buf_reset(&w->blob);
            if (*w->prefix) {
                must(buf_adds(&w->blob, w->prefix));
                must(buf_addc(&w->blob, '/'));
            }
            must(buf_add(&w->blob, w->rel.data, w->rel.len));
            if (upload_one(w->r, w->o, dirfd(d), name, w->blob.data) < 0)
                rc = -1;
        }
        buf_setlen(&w->rel, saved);
    }
    closedir(d);
    return rc;
}

/* One outputFiles entry. Returns 0 or -1 (failure recorded). */
static int upload_output(struct run *r, const struct runner_output *o)
{
    int rc = -1;
    struct buf expanded = BUF_INIT;
    struct buf rel = BUF_INIT;
    struct buf prefix = BUF_INIT;
    struct walk w;
    struct seg *v = NULL;
    size_t n = 0;
    size_t nbase = 0;
    size_t base_len = 0;
    size_t i;
    int dir_fd = -1;
    const char *path = o->path ? o->path : "";

    memset(&w, 0, sizeof(w));
    w.rel = (struct buf)BUF_INIT;
    w.blob = (struct buf)BUF_INIT;
    pattern_expand(r->t, o->pattern, &expanded);
    if (!pattern_resolve(r, expanded.data, &rel)) {
        user_fail(r, "FileUploadMiscError",
                  "The output file pattern '%.200s' reaches outside the task "
                  "directory",
                  o->pattern);
        goto out;
    }
    /* Destination path without leading or trailing slashes. */
    while (*path == '/')
        path++;
    must(buf_adds(&prefix, path));
    while (prefix.len && prefix.data[prefix.len - 1] == '/')
        buf_setlen(&prefix, prefix.len - 1);
    /* The literal leading segments are opened; the rest is matched. */
    v = segs_split(rel.data, &n);
    while (nbase < n && !has_wildcard(v[nbase].s, v[nbase].len))
        nbase++;
    if (nbase > 0)
        base_len = (size_t)(v[nbase - 1].s + v[nbase - 1].len - rel.data);
    if (nbase == n) {
        /* A literal pattern: one file, named by path or by itself. */
        const char *last = v[n - 1].s;
        size_t dir_len =
            n > 1 ? (size_t)(v[n - 2].s + v[n - 2].len - rel.data) : 0;

        dir_fd = dir_open_under(r, r->task_fd, rel.data, dir_len, false);
        if (dir_fd < 0) {
            log_debug("output file not found pattern=%s", o->pattern);
            rc = 0;
            goto out;
        }
        /* A path ending in '/' is a directory for the file to go in. */
        if (prefix.len && path[strlen(path) - 1] == '/') {
            must(buf_addc(&prefix, '/'));
            must(buf_adds(&prefix, last));
        }
        rc = upload_one(r, o, dir_fd, last, prefix.len ? prefix.data : last);
        goto out;
    }
    dir_fd = dir_open_under(r, r->task_fd, rel.data, base_len, false);
    if (dir_fd < 0) {
        log_debug("output base not found pattern=%s", o->pattern);
        rc = 0;
        goto out;
    }
    w.r = r;
    w.o = o;
    w.rest = v[nbase].s;
    w.prefix = prefix.data;
    w.max_depth = (int)(n - nbase);
    for (i = nbase; i < n; i++) {
        if (v[i].len == 2 && v[i].s[0] == '*' && v[i].s[1] == '*')
            w.max_depth = RUNNER_WALK_MAX_DEPTH;
        if (v[i].s[0] == '.')
            w.dot_dirs = true;
    }
    rc = walk_dir(&w, dir_fd, 0);
    dir_fd = -1; /* walk_dir took it */
out:
    if (dir_fd >= 0)
        close(dir_fd);
    free(v);
    buf_release(&w.rel);
    buf_release(&w.blob);
    buf_release(&prefix);
    buf_release(&rel);
    buf_release(&expanded);
    return rc;
}

static void upload_outputs(struct run *r, bool success)
{
    size_t i;

    for (i = 0; i < r->t->nout && !is_cancelled(r); i++) {
        const struct runner_output *o = &r->t->out[i];

        if (o->when == RUNNER_UPLOAD_SUCCESS && !success)
            continue;
        if (o->when == RUNNER_UPLOAD_FAILURE && success)
            continue;
        if (!o->pattern || !*o->pattern || !o->container_url) {
            user_fail(r, "FileUploadMiscError",
                      "An output file needs a filePattern and a container "
                      "URL");
            continue;
        }
        upload_output(r, o);
    }
}

/* ------------------------------------------------------------------------
 * The task
 */

/* task_dir (0750) and wd (0770), owned for the task user with run_as. */
static int dirs_prepare(struct run *r)
{
    const struct runner_task *t = r->t;

    if (mkdir_p(t->task_dir, 0750) < 0) {
        if (errno == ENOSPC)
            user_fail(r, "DiskFull", "The node ran out of disk space");
        else
            server_fail(r, -ERR_IO, "Creating the task directory failed: %s",
                        strerror(errno));
        return -1;
    }
    r->task_fd = open(t->task_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->task_fd < 0 ||
        (mkdirat(r->task_fd, "wd", 0770) < 0 && errno != EEXIST) ||
        (r->wd_fd = openat(r->task_fd, "wd",
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
            0) {
        if (errno == ENOSPC)
            user_fail(r, "DiskFull", "The node ran out of disk space");
        else
            server_fail(r, -ERR_IO,
                        "Creating the task working directory failed: %s",
                        strerror(errno));
        return -1;
    }
    if (fchmod(r->task_fd, 0750) < 0 || fchmod(r->wd_fd, 0770) < 0)
        log_warn("runner chmod failed dir=%s errno=%d", t->task_dir, errno);
    if (t->run_as && (fchown(r->task_fd, (uid_t)-1, t->gid) < 0 ||
                      fchown(r->wd_fd, t->uid, t->gid) < 0))
        log_warn("runner chown failed dir=%s errno=%d", t->task_dir, errno);
    r->wd = xasprintf("%s/wd", t->task_dir);
    return 0;
}

int runner_run(const struct runner_task *t, const volatile bool *cancel,
               struct runner_result *res)
{
    struct run r;
    size_t i;
    bool success;

    memset(res, 0, sizeof(*res));
    res->start_ms = timefmt_now_ms();
    memset(&r, 0, sizeof(r));
    r.t = t;
    r.cancel = cancel;
    r.res = res;
    r.task_fd = -1;
    r.wd_fd = -1;
    pthread_once(&runner_once, runner_init_once);
    runner_get_limits(&r.lim);
    if (!t->task_dir || !*t->task_dir || !t->command_line) {
        server_fail(&r, -ERR_INVALID, "The task has no directory or command");
        goto out;
    }
    if (!runner_curl_ok || !(r.curl = curl_easy_init())) {
        server_fail(&r, -ERR_INTERNAL, "libcurl could not be initialised");
        goto out;
    }
    if (dirs_prepare(&r) < 0)
        goto out;
    for (i = 0; i < t->nres; i++) {
        if (is_cancelled(&r))
            break;
        if (download_resource(&r, &t->res[i]) < 0)
            goto out;
    }
    if (is_cancelled(&r)) {
        res->cancelled = true;
        user_fail(&r, "TaskEnded", "Task Was Ended by User Request");
        goto out;
    }
    if (launch_run(&r) < 0)
        goto out;
    if (res->timed_out)
        user_fail(&r, "TaskEnded",
                  "The task exceeded its maximum wall clock time and was "
                  "ended");
    else if (res->cancelled)
        user_fail(&r, "TaskEnded", "Task Was Ended by User Request");
    else if (res->exit_code != 0)
        user_fail(&r, "FailureExitCode",
                  "The task exited with an exit code representing a failure");
    success = res->exit_code == 0 && !res->timed_out && !res->cancelled;
    if (!res->cancelled)
        upload_outputs(&r, success);
out:
    res->end_ms = timefmt_now_ms();
    log_debug("task finished dir=%s ran=%d exit=%d code=%s",
              t->task_dir ? t->task_dir : "", res->ran, res->exit_code,
              res->code[0] ? res->code : "none");
    if (r.curl)
        curl_easy_cleanup(r.curl);
    if (r.wd_fd >= 0)
        close(r.wd_fd);
    if (r.task_fd >= 0)
        close(r.task_fd);
    free(r.wd);
    return r.rc;
}
