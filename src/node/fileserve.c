/*
 * fileserve.c: the node agent's side of file requests.
 *
 * Purpose: the file API and uploadbatchservicelogs of the Batch REST API
 * for a node whose files are on this machine while shoald is elsewhere
 * (a joined node; shoald's side is src/batch/fileproxy.c, the wire
 * docs/node-protocol.md). shoald never connects to the agent: its sync
 * response carries the requests ("fileOps"), and this file answers each
 * with its own request, POST /_node/v1/fileop/{id}, whose body is a JSON
 * header line and, for a read, the bytes.
 *
 *   op       asks                      answers (header)
 *   stat     base, path                ok, mode, size, ctime, mtime
 *   get      base, path, off, max      the same, len; then len bytes
 *   list     base, recursive           entries [[name, mode, size,
 *                                      ctime, mtime]...]
 *   delete   base, path, recursive     ok
 *   logs     url, vdir, start          files (number uploaded)
 *   failure: {"ok": false, "error": invalid|notfound|notempty|io|upload,
 *             "message": ...}
 *
 * Path rules (the same as shoald's file_api.c for local nodes, so a
 * remote node answers exactly as a local one): the root is opened, then
 * base and path are walked one component at a time with
 * openat(O_NOFOLLOW); an empty, "." or ".." component (an absolute path
 * has an empty first one) is "invalid", a component that cannot be
 * opened (missing, a symlink, planted by a task or not) is "notfound",
 * and only directories and regular files exist. ROOT/agent (the agent's
 * identity: its node token) does not exist for these requests: a local
 * node's root has no such directory, and the token must not leak. A
 * delete unlinks the
 * last component from the directory the walk reached (unlinkat), never by
 * path; a recursive one descends with O_NOFOLLOW too. A list walks at
 * most 32 levels and 100000 entries, skipping symlinks and special files.
 *
 * Logs: the files shoald uploads for a local node: the agent's log
 * ("shoal-node.log": its stderr, when that is a regular file; shoald
 * writes local agents' stderr to DATA/nodes/POOL/NODE.log), and
 * startup/stdout.txt and startup/stderr.txt, each when it was last
 * written at or after start; Put Blob (or blocks) to url as VDIR/NAME with
 * runner_upload_blob. The SAS is never logged.
 *
 * Threads: fileserve_submit runs in the sync thread (under the agent's
 * lock: it only queues). Up to FILESERVE_WORKERS detached worker threads
 * take requests off the queue, do them and send the answers, each over
 * its own link; a worker with nothing left exits. fs->mu guards the
 * queue, the ids in progress and the server URL. Bytes are read from the
 * file as libcurl sends them (link_post_stream): no file is held in
 * memory. An answer that cannot be delivered is retried a few times, then
 * dropped: shoald's request times out or gets it again with a later sync
 * (ids in progress are skipped, others done again).
 *
 * Ownership: the queue owns its ops; a worker owns the op it took.
 */
#include "node/fileserve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "node/link.h"
#include "node/runner.h"

#define FILESERVE_WORKERS     4
#define FILESERVE_QUEUE_MAX   256
#define FILESERVE_ID_MAX      (1ull << 53)
#define FILESERVE_PATH_MAX    4096
#define FILESERVE_URL_MAX     8192
#define FILESERVE_COMP_MAX    FSUTIL_NAME_MAX
#define FILESERVE_LIST_DEPTH  32
#define FILESERVE_LIST_MAX    100000
#define FILESERVE_STALL_S     30
#define FILESERVE_ATTEMPTS    3
#define FILESERVE_BACKOFF_MS  250
#define FILESERVE_ANSWER_PATH "/_node/v1/fileop/"
#define FILESERVE_HIDDEN      "agent" /* ROOT/agent: identity.json */

static const char *const kind_names[] = {
    [FILESERVE_STAT] = "stat", [FILESERVE_GET] = "get",
    [FILESERVE_LIST] = "list", [FILESERVE_DELETE] = "delete",
    [FILESERVE_LOGS] = "logs",
};

struct job {
    struct job *next;
    struct fileserve_op op;
    char *refused; /* could not be parsed: answer this ("io") instead */
};

struct fileserve {
    pthread_mutex_t mu;
    char *root, *agent_log, *server, *token, *node_id, *ca_file;
    struct job *head, **tail;
    size_t queued;
    int workers;
    uint64_t busy[FILESERVE_QUEUE_MAX + FILESERVE_WORKERS]; /* ids */
    size_t nbusy;
};

/* ---- parsing ------------------------------------------------------------- */

static int bad(struct err *err, const char *why)
{
    return err_set(err, ERR_INVALID, "InvalidRequest", "bad file request: %s",
                   why);
}

/* A string field: present, no NUL, at most max bytes. */
static int str_field(json_t *o, const char *key, size_t max, char **out,
                     struct err *err)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);

    if (!s)
        return bad(err, "a string field is missing");
    if (json_string_length(v) != strlen(s) || strlen(s) > max)
        return bad(err, "a string field is too long or has a NUL");
    *out = xstrdup(s);
    return 0;
}

int fileserve_parse_op(json_t *o, struct fileserve_op *out, uint64_t *id_out,
                       struct err *err)
{
    json_t *v;
    const char *kind;
    size_t k;

    memset(out, 0, sizeof(*out));
    out->max = -1;
    if (!json_is_object(o))
        return bad(err, "not an object");
    v = json_object_get(o, "id");
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        (uint64_t)json_integer_value(v) > FILESERVE_ID_MAX)
        return bad(err, "bad id");
    out->id = (uint64_t)json_integer_value(v);
    *id_out = out->id;
    kind = json_string_value(json_object_get(o, "op"));
    for (k = 0; kind && k < sizeof(kind_names) / sizeof(*kind_names); k++) {
        if (strcmp(kind, kind_names[k]) == 0)
            break;
    }
    if (!kind || k == sizeof(kind_names) / sizeof(*kind_names))
        return bad(err, "unknown op");
    out->kind = (enum fileserve_kind)k;
    v = json_object_get(o, "recursive");
    if (v && !json_is_boolean(v))
        return bad(err, "recursive is not a boolean");
    out->recursive = json_is_true(v);
    if (out->kind == FILESERVE_LOGS) {
        if (str_field(o, "url", FILESERVE_URL_MAX, &out->url, err) < 0 ||
            str_field(o, "vdir", FILESERVE_PATH_MAX, &out->vdir, err) < 0)
            return -ERR_INVALID;
        if (!fsutil_rel_name_ok(out->vdir))
            return bad(err, "bad vdir");
        v = json_object_get(o, "start");
        if (v && !json_is_integer(v))
            return bad(err, "start is not an integer");
        out->start_ms = v ? (int64_t)json_integer_value(v) : 0;
        return 0;
    }
    if (str_field(o, "base", FILESERVE_PATH_MAX, &out->base, err) < 0)
        return -ERR_INVALID;
    if (out->kind == FILESERVE_LIST)
        return 0;
    if (str_field(o, "path", FILESERVE_PATH_MAX, &out->path, err) < 0)
        return -ERR_INVALID;
    if (out->kind == FILESERVE_GET) {
        v = json_object_get(o, "off");
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
            return bad(err, "bad off");
        out->off = v ? (uint64_t)json_integer_value(v) : 0;
        v = json_object_get(o, "max");
        if (v && (!json_is_integer(v) || json_integer_value(v) < -1))
            return bad(err, "bad max");
        out->max = v ? (int64_t)json_integer_value(v) : -1;
    }
    return 0;
}

void fileserve_op_release(struct fileserve_op *op)
{
    free(op->base);
    free(op->path);
    free(op->url);
    free(op->vdir);
    memset(op, 0, sizeof(*op));
}

/* ---- doing it ------------------------------------------------------------ */

/*
 * Walk rel from dir (taken) with fsutil_walk: the same rules as
 * file_api.c's local walk. at_root: dir is the node root, whose
 * FILESERVE_HIDDEN does not exist.
 */
static enum fsutil_walk walk(int dir, const char *rel, bool at_root,
                             int *fd_out, int *parent_out,
                             char leaf[FILESERVE_COMP_MAX])
{
    return fsutil_walk(dir, rel, at_root ? FILESERVE_HIDDEN : NULL, fd_out,
                       parent_out, leaf);
}

/* root, then base: the directory the request is about. */
static enum fsutil_walk open_base(const char *root, const char *base,
                                  int *fd_out)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dir < 0)
        return FSUTIL_WALK_NOTFOUND;
    return walk(dir, base, true, fd_out, NULL, NULL);
}

static json_t *fail_head(const char *kind, const char *message)
{
    json_t *o = json_object();

    json_object_set_new(o, "v", json_integer(1));
    json_object_set_new(o, "ok", json_false());
    json_object_set_new(o, "error", json_string(kind));
    if (message)
        json_object_set_new(o, "message", json_string(message));
    return o;
}

static json_t *walk_fail(enum fsutil_walk rc)
{
    return fail_head(rc == FSUTIL_WALK_INVALID ? "invalid" : "notfound", NULL);
}

static json_t *sys_fail(const char *what, const char *rel)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "%s '%s': %s", what, rel, strerror(errno));
    return fail_head("io", msg);
}

static json_t *ok_head(void)
{
    json_t *o = json_object();

    json_object_set_new(o, "v", json_integer(1));
    json_object_set_new(o, "ok", json_true());
    return o;
}

static void stat_fields(json_t *o, const struct stat *st)
{
    json_object_set_new(o, "mode", json_integer((json_int_t)st->st_mode));
    json_object_set_new(o, "size", json_integer((json_int_t)st->st_size));
    json_object_set_new(o, "ctime", json_integer((json_int_t)st->st_ctime));
    json_object_set_new(o, "mtime", json_integer((json_int_t)st->st_mtime));
}

static json_t *do_stat(const char *root, const struct fileserve_op *op,
                       int *fd_out, uint64_t *off_out, uint64_t *len_out)
{
    struct stat st;
    enum fsutil_walk rc;
    json_t *o;
    int dir, fd;

    rc = open_base(root, op->base, &dir);
    if (rc == FSUTIL_WALK_OK)
        rc = walk(dir, op->path, !*op->base, &fd, NULL, NULL);
    if (rc != FSUTIL_WALK_OK)
        return walk_fail(rc);
    if (fstat(fd, &st) < 0) {
        o = sys_fail("stat", op->path);
        close(fd);
        return o;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        close(fd);
        return fail_head("notfound", NULL);
    }
    o = ok_head();
    stat_fields(o, &st);
    if (op->kind == FILESERVE_GET) {
        uint64_t size = (uint64_t)st.st_size, len = 0;
        if (S_ISREG(st.st_mode) && op->off < size) {
            len = size - op->off;
            if (op->max >= 0 && (uint64_t)op->max < len)
                len = (uint64_t)op->max;
        }
        json_object_set_new(o, "len", json_integer((json_int_t)len));
        if (len > 0) {
            int flags = fcntl(fd, F_GETFL);
            if (flags >= 0)
                fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
            *fd_out = fd;
            *off_out = op->off;
            *len_out = len;
            return o;
        }
    }
    close(fd);
    return o;
}

/* file_api.c's walk: entries [name, mode, size, ctime, mtime]. at_root:
 * dirfd is the node root (FILESERVE_HIDDEN is skipped). */
static void list_walk(int dirfd, const char *prefix, bool at_root,
                      bool recursive, int depth, json_t *out)
{
    DIR *d = fdopendir(dirfd);
    struct dirent *de;

    if (!d) {
        close(dirfd);
        return;
    }
    while ((de = readdir(d)) != NULL &&
           json_array_size(out) < FILESERVE_LIST_MAX) {
        struct stat st;
        json_t *e;
        char *name;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            (at_root && strcmp(de->d_name, FILESERVE_HIDDEN) == 0))
            continue;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            continue;
        name = *prefix ? xasprintf("%s/%s", prefix, de->d_name)
                       : xstrdup(de->d_name);
        e = json_array();
        json_array_append_new(e, json_string(name));
        json_array_append_new(e, json_integer((json_int_t)st.st_mode));
        json_array_append_new(e, json_integer((json_int_t)st.st_size));
        json_array_append_new(e, json_integer((json_int_t)st.st_ctime));
        json_array_append_new(e, json_integer((json_int_t)st.st_mtime));
        /* A name that is not UTF-8 cannot travel in JSON: skipped. */
        if (json_array_size(e) == 5 && json_string_value(json_array_get(e, 0)))
            json_array_append(out, e);
        json_decref(e);
        if (recursive && S_ISDIR(st.st_mode) && depth < FILESERVE_LIST_DEPTH) {
            int sub = openat(dirfd, de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                list_walk(sub, name, false, true, depth + 1, out);
        }
        free(name);
    }
    closedir(d);
}

static json_t *do_list(const char *root, const struct fileserve_op *op)
{
    json_t *o = ok_head(), *entries = json_array();
    int dir;

    /* A missing directory lists nothing, as for a local node. */
    if (open_base(root, op->base, &dir) == FSUTIL_WALK_OK)
        list_walk(dir, "", !*op->base, op->recursive, 0, entries);
    json_object_set_new(o, "entries", entries);
    return o;
}

static json_t *do_delete(const char *root, const struct fileserve_op *op)
{
    char leaf[FILESERVE_COMP_MAX];
    struct stat st;
    enum fsutil_walk rc;
    json_t *o = NULL;
    int dir, fd = -1, parent = -1;

    rc = open_base(root, op->base, &dir);
    if (rc == FSUTIL_WALK_OK)
        rc = walk(dir, op->path, !*op->base, &fd, &parent, leaf);
    if (rc != FSUTIL_WALK_OK)
        return walk_fail(rc);
    if (fstat(fd, &st) < 0) {
        o = sys_fail("stat", op->path);
        goto out;
    }
    close(fd);
    fd = -1;
    if (S_ISDIR(st.st_mode) && !op->recursive) {
        if (unlinkat(parent, leaf, AT_REMOVEDIR) < 0)
            o = fail_head("notempty", NULL);
    } else if (S_ISDIR(st.st_mode)) {
        int sub = openat(parent, leaf,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0)
            fsutil_rm_under(sub);
        unlinkat(parent, leaf, AT_REMOVEDIR);
    } else if (unlinkat(parent, leaf, 0) < 0) {
        o = sys_fail("delete", op->path);
    }
out:
    if (fd >= 0)
        close(fd);
    close(parent);
    return o ? o : ok_head();
}

struct logfile {
    const char *name;
    int fd;
    uint64_t size;
};

/* Pick fd (taken) when it is a regular file last written at or after
 * start_ms. */
static void pick(struct logfile *v, size_t *n, const char *name, int fd,
                 int64_t start_ms)
{
    struct stat st;

    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 <
            start_ms) {
        close(fd);
        return;
    }
    v[*n].name = name;
    v[*n].fd = fd;
    v[*n].size = (uint64_t)st.st_size;
    (*n)++;
}

static int open_in_root(const char *root, const char *rel)
{
    int fd = -1;

    if (open_base(root, rel, &fd) != FSUTIL_WALK_OK)
        return -1;
    return fd;
}

static json_t *do_logs(const char *root, const char *agent_log,
                       const struct fileserve_op *op)
{
    struct logfile files[3];
    size_t n = 0;
    json_t *o = NULL;
    char why[400];

    if (!str_iprefix(op->url, "http://") && !str_iprefix(op->url, "https://"))
        return fail_head("upload", "it is not an http or https URL");
    if (agent_log)
        pick(files, &n, "shoal-node.log",
             open(agent_log, O_RDONLY | O_CLOEXEC | O_NONBLOCK), op->start_ms);
    pick(files, &n, "startup/stdout.txt",
         open_in_root(root, "startup/stdout.txt"), op->start_ms);
    pick(files, &n, "startup/stderr.txt",
         open_in_root(root, "startup/stderr.txt"), op->start_ms);
    for (size_t i = 0; i < n; i++) {
        char *blob;
        int flags = fcntl(files[i].fd, F_GETFL);
        if (flags >= 0)
            fcntl(files[i].fd, F_SETFL, flags & ~O_NONBLOCK);
        if (o)
            continue;
        blob = xasprintf("%s/%s", op->vdir, files[i].name);
        if (runner_upload_blob(files[i].fd, files[i].size, op->url, blob, why,
                               sizeof(why)) < 0)
            o = fail_head("upload", why);
        free(blob);
    }
    for (size_t i = 0; i < n; i++)
        close(files[i].fd);
    if (o)
        return o;
    o = ok_head();
    json_object_set_new(o, "files", json_integer((json_int_t)n));
    return o;
}

void fileserve_exec(const char *root, const char *agent_log,
                    const struct fileserve_op *op, json_t **head_out,
                    int *fd_out, uint64_t *off_out, uint64_t *len_out)
{
    *fd_out = -1;
    *off_out = 0;
    *len_out = 0;
    switch (op->kind) {
    case FILESERVE_STAT:
    case FILESERVE_GET:
        *head_out = do_stat(root, op, fd_out, off_out, len_out);
        break;
    case FILESERVE_LIST:
        *head_out = do_list(root, op);
        break;
    case FILESERVE_DELETE:
        *head_out = do_delete(root, op);
        break;
    case FILESERVE_LOGS:
        *head_out = do_logs(root, agent_log, op);
        break;
    }
}

/* ---- the workers --------------------------------------------------------- */

struct fileserve *fileserve_new(const char *root, const char *agent_log,
                                const char *server, const char *token,
                                const char *node_id, const char *ca_file)
{
    struct fileserve *fs = xcalloc(1, sizeof(*fs));

    pthread_mutex_init(&fs->mu, NULL);
    fs->root = xstrdup(root);
    fs->agent_log = agent_log ? xstrdup(agent_log) : NULL;
    fs->server = xstrdup(server);
    fs->token = xstrdup(token);
    fs->node_id = xstrdup(node_id);
    fs->ca_file = ca_file ? xstrdup(ca_file) : NULL;
    fs->tail = &fs->head;
    return fs;
}

void fileserve_set_server(struct fileserve *fs, const char *server)
{
    pthread_mutex_lock(&fs->mu);
    free(fs->server);
    fs->server = xstrdup(server);
    pthread_mutex_unlock(&fs->mu);
}

/* fs->mu held */
static bool is_busy(const struct fileserve *fs, uint64_t id)
{
    for (size_t i = 0; i < fs->nbusy; i++) {
        if (fs->busy[i] == id)
            return true;
    }
    return false;
}

static void unbusy(struct fileserve *fs, uint64_t id)
{
    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < fs->nbusy; i++) {
        if (fs->busy[i] == id) {
            fs->busy[i] = fs->busy[--fs->nbusy];
            break;
        }
    }
    pthread_mutex_unlock(&fs->mu);
}

static void ms_sleep(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* POST the answer, a few times if the network or shoald falters. */
static void send_answer(struct fileserve *fs, uint64_t id, const char *head,
                        int fd, uint64_t off, uint64_t len)
{
    char path[64];
    long backoff = FILESERVE_BACKOFF_MS;

    snprintf(path, sizeof(path), FILESERVE_ANSWER_PATH "%" PRIu64, id);
    for (int attempt = 1; attempt <= FILESERVE_ATTEMPTS; attempt++) {
        struct buf resp = BUF_INIT;
        struct link *l;
        long status = 0;
        int rc;

        pthread_mutex_lock(&fs->mu);
        l = link_new(fs->server, fs->token, fs->node_id);
        pthread_mutex_unlock(&fs->mu);
        link_set_ca(l, fs->ca_file);
        rc = link_post_stream(l, path, head, strlen(head), fd, off, len,
                              FILESERVE_STALL_S, &status, &resp);
        link_free(l);
        buf_release(&resp);
        if (rc == 0 && status < 500) {
            if (status >= 300)
                log_debug("file answer refused id=%" PRIu64 " status=%ld", id,
                          status);
            return;
        }
        if (attempt < FILESERVE_ATTEMPTS) {
            ms_sleep(backoff);
            backoff *= 2;
        }
    }
    log_warn("file answer not delivered id=%" PRIu64, id);
}

static void serve(struct fileserve *fs, struct job *j)
{
    struct fileserve_op *op = &j->op;
    json_t *head = NULL;
    uint64_t off = 0, len = 0;
    char *text, *line;
    int fd = -1;

    if (j->refused)
        head = fail_head("io", j->refused);
    else
        fileserve_exec(fs->root, fs->agent_log, op, &head, &fd, &off, &len);
    text = json_dumps(head, JSON_COMPACT);
    json_decref(head);
    if (!text)
        BUG("out of memory rendering a file answer");
    line = xasprintf("%s\n", text);
    free(text);
    log_debug("file request done id=%" PRIu64 " op=%s bytes=%" PRIu64, op->id,
              kind_names[op->kind], len);
    send_answer(fs, op->id, line, fd, off, len);
    free(line);
    if (fd >= 0)
        close(fd);
}

static void *worker(void *arg)
{
    struct fileserve *fs = arg;

    for (;;) {
        struct job *j;
        pthread_mutex_lock(&fs->mu);
        j = fs->head;
        if (!j) {
            fs->workers--;
            pthread_mutex_unlock(&fs->mu);
            return NULL;
        }
        fs->head = j->next;
        if (!fs->head)
            fs->tail = &fs->head;
        fs->queued--;
        pthread_mutex_unlock(&fs->mu);
        serve(fs, j);
        unbusy(fs, j->op.id);
        fileserve_op_release(&j->op);
        free(j->refused);
        free(j);
    }
}

void fileserve_submit(struct fileserve *fs, json_t *ops)
{
    size_t i;
    json_t *v;

    if (!json_is_array(ops))
        return;
    json_array_foreach(ops, i, v)
    {
        struct err e = ERR_INIT;
        struct job *j = xcalloc(1, sizeof(*j));
        uint64_t id = 0;
        pthread_t t;
        pthread_attr_t attr;

        if (fileserve_parse_op(v, &j->op, &id, &e) < 0) {
            log_warn("bad file request id=%" PRIu64 " why=%s", id, e.msg);
            fileserve_op_release(&j->op);
            if (!id) {
                free(j);
                continue;
            }
            /* With an id it can still be answered (a newer shoald?). */
            j->op.id = id;
            j->refused = xstrdup(e.msg);
        }
        pthread_mutex_lock(&fs->mu);
        if (is_busy(fs, j->op.id) || fs->queued >= FILESERVE_QUEUE_MAX) {
            if (!is_busy(fs, j->op.id))
                log_warn("file request dropped, queue full id=%" PRIu64,
                         j->op.id);
            pthread_mutex_unlock(&fs->mu);
            fileserve_op_release(&j->op);
            free(j);
            continue;
        }
        fs->busy[fs->nbusy++] = j->op.id;
        *fs->tail = j;
        fs->tail = &j->next;
        fs->queued++;
        if (fs->workers < FILESERVE_WORKERS) {
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &attr, worker, fs) == 0)
                fs->workers++;
            pthread_attr_destroy(&attr);
        }
        pthread_mutex_unlock(&fs->mu);
    }
}
