/*
 * fileproxy.c: file requests for remote nodes, carried over the node
 * protocol (docs/node-protocol.md, "File requests").
 *
 * Purpose: a joined node keeps its files on its own machine, and its agent
 * may sit behind NAT: shoald never connects to it. So a REST request about
 * such a node's files (file_api.c) or logs (node_api.c) becomes a struct
 * fileproxy_op, which the node's next sync response carries to the agent
 * ("fileOps"); the agent does it (src/node/fileserve.c, same path rules as
 * file_api.c's local walk) and answers with its own request,
 * POST /_node/v1/fileop/{id}. Meanwhile the REST request is suspended.
 *
 *   REST request         registry (px->ops)          agent
 *   ------------         ------------------          -----
 *   submit: queue op,    pending, unsent
 *   wake the parked      -- sync response "fileOps" -->  runs it in a
 *   sync, http_suspend   pending, sent (seq)             worker thread
 *                        <-- POST /_node/v1/fileop/ID --
 *                        pending, answering (header,
 *                        then bytes into a temp file)
 *   end() again: reply   done: unlinked, resumed
 *
 * An op leaves the registry ("done", and its REST request is resumed)
 * exactly once: answered; failed by the ticker (node gone: 404
 * NodeNotFound or 409 TaskFilesUnavailable; node unusable: 409
 * NodeStateUnusable; no answer within FILEPROXY_WAIT_MS, or
 * FILEPROXY_LOGS_WAIT_MS for logs, counted again from each chunk of a
 * streaming answer: 500 OperationTimedOut); a malformed answer (500
 * InternalError); or shoald stopping (503 ServerBusy, from
 * fileproxy_poll). A REST request that goes away first withdraws its op
 * (fileproxy_op_free from breq's release).
 *
 * Delivery: an op is "sent" in the response numbered seq. The next sync
 * of the same agent process says whether that response was processed
 * (ack >= seq); if not, the op is sent again. A sync from a new agent
 * process (new boot id) has every sent, unanswered op sent again, as does
 * an answer that breaks off (the agent only skips ids it is working on).
 * A restarted shoald knows no op: the agent's answer gets 404 and is
 * dropped. Op ids count up from the start time in microseconds, so they
 * do not repeat across restarts, and an answer is taken only from the
 * node the op was sent to.
 *
 * Answer bytes (GET) go to a temp file in tmp_dir, unlinked as soon as it
 * is made, then to the REST client with sendfile: neither process holds a
 * file in memory, and nothing is left behind by a crash.
 *
 * Threads: http workers (submit, poll, upload), the batch ticker (tick),
 * sync handlers (node_*, under the model lock). px->mu guards the list and
 * every op field but the REST side's own (tag, result once done). Lock
 * order: model.mu, then px->mu. An op's REST request is only resumed while
 * the op is pending, under px->mu, and a suspended request cannot end
 * before it is resumed (MHD keeps it), so req is always valid there.
 * Ownership: the REST request owns its op (breq.fop); the registry only
 * links it while pending. An upload owns its temp file until the op takes
 * it; the op hands it to the reply.
 */
#include "batch/fileproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/batchint.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define FILEPROXY_MAX_ENTRIES 100000
#define FILEPROXY_NAME_MAX    4096
#define FILEPROXY_MSG_MAX     400
#define FILEPROXY_ID_MAX      (1ull << 53)
#define FILEPROXY_TIME_MAX    (1ll << 40) /* seconds, either side of 1970 */
#define FILEPROXY_FILES_MAX   1000
#define FILEPROXY_TOUCH_MS    500 /* progress of a streaming answer */

struct fileproxy_op {
    struct fileproxy_op *next; /* in px->ops while pending */
    uint64_t id;
    char *node;
    enum fileproxy_kind kind;
    bool task;
    char *base, *path, *url, *vdir, *tag;
    uint64_t off;
    int64_t max;
    bool recursive;
    int64_t start_ms;
    int64_t wait_ms;
    struct http_req *req;
    int64_t deadline_mono;
    bool pending;   /* linked in px->ops */
    bool sent;      /* in a response ... */
    uint64_t seq;   /* ... numbered seq */
    bool answering; /* an answer is coming in */
    bool done;      /* left the registry: err or ans below */
    struct err err; /* err.code != 0: failed */
    struct fileproxy_answer ans;
    int fd; /* GET bytes, or -1 */
};

struct fileproxy {
    pthread_mutex_t mu;
    char *tmp_dir;
    struct fileproxy_op *ops; /* pending, oldest first */
    uint64_t next_id;
};

struct fileproxy_upload {
    uint64_t id;
    char *node;
    enum fileproxy_kind kind;
    uint64_t off;
    int64_t max;
    struct buf head;
    bool head_done;
    bool completed; /* handed to its op */
    struct fileproxy_answer ans;
    int fd;
    uint64_t got;
    int64_t touched_mono;
};

static const char *const kind_names[] = {
    [FILEPROXY_STAT] = "stat", [FILEPROXY_GET] = "get",
    [FILEPROXY_LIST] = "list", [FILEPROXY_DELETE] = "delete",
    [FILEPROXY_LOGS] = "logs",
};

static const struct {
    const char *name;
    enum fileproxy_fail fail;
} fail_names[] = {
    { "invalid", FILEPROXY_FAIL_INVALID },
    { "notfound", FILEPROXY_FAIL_NOTFOUND },
    { "notempty", FILEPROXY_FAIL_NOTEMPTY },
    { "io", FILEPROXY_FAIL_IO },
    { "upload", FILEPROXY_FAIL_UPLOAD },
};

struct fileproxy *fileproxy_new(const char *tmp_dir)
{
    struct fileproxy *px = xcalloc(1, sizeof(*px));

    pthread_mutex_init(&px->mu, NULL);
    px->tmp_dir = xstrdup(tmp_dir);
    px->next_id = (uint64_t)timefmt_now_ms() * 1000;
    return px;
}

void fileproxy_free(struct fileproxy *px)
{
    if (!px)
        return;
    /* Every REST request ended before (breq release withdrew its op). */
    if (px->ops)
        log_warn("file requests left at shutdown");
    pthread_mutex_destroy(&px->mu);
    free(px->tmp_dir);
    free(px);
}

/* ---- the registry (px->mu held) ------------------------------------------ */

static struct fileproxy_op *find_op(struct fileproxy *px, uint64_t id)
{
    for (struct fileproxy_op *op = px->ops; op; op = op->next) {
        if (op->id == id)
            return op;
    }
    return NULL;
}

static void unlink_op(struct fileproxy *px, struct fileproxy_op *op)
{
    for (struct fileproxy_op **pp = &px->ops; *pp; pp = &(*pp)->next) {
        if (*pp == op) {
            *pp = op->next;
            break;
        }
    }
    op->next = NULL;
    op->pending = false;
}

/* The op leaves the registry; its REST request runs end() again. */
static void finish(struct fileproxy *px, struct fileproxy_op *op)
{
    unlink_op(px, op);
    op->done = true;
    http_resume(op->req);
}

static int gone(struct err *err, const char *node, bool task)
{
    if (task)
        return err_set(err, ERR_CONFLICT, "TaskFilesUnavailable",
                       "the node '%s' the task ran on has left the pool: its "
                       "files are not available",
                       node);
    return err_set(err, ERR_NOTFOUND, "NodeNotFound",
                   "the specified node '%s' does not exist", node);
}

static int unusable(struct err *err, const char *node)
{
    return err_set(err, ERR_CONFLICT, "NodeStateUnusable",
                   "node '%s' is unusable: its agent does not answer", node);
}

static void fail_op(struct fileproxy *px, uint64_t id, const struct err *e)
{
    struct fileproxy_op *op;

    pthread_mutex_lock(&px->mu);
    op = find_op(px, id);
    if (op) {
        err_set(&op->err, ERR_INTERNAL, "InternalError",
                "node '%s' sent a malformed answer: %s", op->node, e->msg);
        log_warn("malformed file answer node=%s id=%" PRIu64 " why=%s",
                 op->node, id, e->msg);
        finish(px, op);
    }
    pthread_mutex_unlock(&px->mu);
}

/* ---- the REST side ------------------------------------------------------- */

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
}

int fileproxy_submit(struct batch_service *s, struct http_req *req,
                     const struct fileproxy_ask *ask,
                     struct fileproxy_op **op_out, struct err *err)
{
    struct fileproxy *px = s->proxy;
    struct model *m = &s->model;
    struct fileproxy_op *op, **tail;
    struct mnode *n;
    size_t waiting = 0;

    pthread_mutex_lock(&m->mu);
    n = model_node_find(m, ask->node);
    if (!n || !n->remote) {
        pthread_mutex_unlock(&m->mu);
        return gone(err, ask->node, ask->task);
    }
    if (n->state == NODE_UNUSABLE) {
        pthread_mutex_unlock(&m->mu);
        return unusable(err, n->id);
    }
    pthread_mutex_lock(&px->mu);
    for (tail = &px->ops; *tail; tail = &(*tail)->next)
        waiting += strcmp((*tail)->node, n->id) == 0;
    if (waiting >= FILEPROXY_NODE_MAX) {
        pthread_mutex_unlock(&px->mu);
        pthread_mutex_unlock(&m->mu);
        return err_set(err, ERR_BUSY, "ServerBusy",
                       "too many file requests are waiting for node '%s'",
                       n->id);
    }
    op = xcalloc(1, sizeof(*op));
    op->id = ++px->next_id;
    op->node = xstrdup(n->id);
    op->kind = ask->kind;
    op->task = ask->task;
    op->base = dup_or_empty(ask->base);
    op->path = dup_or_empty(ask->path);
    op->url = dup_or_empty(ask->url);
    op->vdir = dup_or_empty(ask->vdir);
    op->tag = dup_or_empty(ask->tag);
    /* The wire's integers are signed: an offset past any file is 416
     * whatever its value. */
    op->off = ask->off > INT64_MAX ? INT64_MAX : ask->off;
    op->max = ask->max < 0 ? -1 : ask->max;
    op->recursive = ask->recursive;
    op->start_ms = ask->start_ms;
    op->wait_ms = ask->kind == FILEPROXY_LOGS ? FILEPROXY_LOGS_WAIT_MS
                                              : FILEPROXY_WAIT_MS;
    op->deadline_mono = timefmt_mono_ms() + op->wait_ms;
    op->req = req;
    op->fd = -1;
    op->pending = true;
    *tail = op;
    *op_out = op;
    pthread_mutex_unlock(&px->mu);
    if (n->parked)
        agent_api_wake(s, n);
    pthread_mutex_unlock(&m->mu);
    log_debug("file request queued node=%s id=%" PRIu64 " op=%s", op->node,
              op->id, kind_names[op->kind]);
    /* An answer quicker than this is kept by http (resume before suspend). */
    http_suspend(req);
    return 0;
}

int fileproxy_poll(struct batch_service *s, struct http_req *req,
                   struct fileproxy_op *op,
                   const struct fileproxy_answer **ans_out, int *fd_out,
                   struct err *err)
{
    struct fileproxy *px = s->proxy;

    pthread_mutex_lock(&px->mu);
    if (!op->done) {
        if (!http_shutting_down(req)) {
            pthread_mutex_unlock(&px->mu);
            http_suspend(req);
            return 1;
        }
        unlink_op(px, op);
        op->done = true;
        err_set(&op->err, ERR_BUSY, "ServerBusy",
                "the server is shutting down");
    }
    pthread_mutex_unlock(&px->mu);
    if (op->err.code) {
        *err = op->err;
        return -op->err.code;
    }
    if (fd_out && (op->kind == FILEPROXY_STAT || op->kind == FILEPROXY_GET)) {
        if (op->fd >= 0) {
            *fd_out = op->fd;
            op->fd = -1;
        } else {
            /* No bytes (HEAD, a directory, an empty slice): http still
             * wants a descriptor to announce the length with. */
            *fd_out = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (*fd_out < 0)
                return err_sys(err, "open '/dev/null'");
        }
    }
    *ans_out = &op->ans;
    return 0;
}

const char *fileproxy_op_tag(const struct fileproxy_op *op)
{
    return op->tag;
}

void fileproxy_op_free(struct batch_service *s, struct fileproxy_op *op)
{
    struct fileproxy *px = s->proxy;

    if (!op)
        return;
    pthread_mutex_lock(&px->mu);
    if (op->pending)
        unlink_op(px, op);
    pthread_mutex_unlock(&px->mu);
    if (op->fd >= 0)
        close(op->fd);
    fileproxy_answer_release(&op->ans);
    free(op->node);
    free(op->base);
    free(op->path);
    free(op->url);
    free(op->vdir);
    free(op->tag);
    free(op);
}

/* ---- the sync side (model lock held) ------------------------------------- */

void fileproxy_node_synced(struct fileproxy *px, const char *node,
                           bool new_boot, uint64_t ack)
{
    pthread_mutex_lock(&px->mu);
    for (struct fileproxy_op *op = px->ops; op; op = op->next) {
        if (!op->sent || op->answering || strcmp(op->node, node) != 0)
            continue;
        if (new_boot || op->seq > ack) {
            op->sent = false;
            log_debug("file request sent again node=%s id=%" PRIu64
                      " new_boot=%d",
                      node, op->id, new_boot);
        }
    }
    pthread_mutex_unlock(&px->mu);
}

bool fileproxy_node_pending(struct fileproxy *px, const char *node)
{
    bool any = false;

    pthread_mutex_lock(&px->mu);
    for (struct fileproxy_op *op = px->ops; op && !any; op = op->next)
        any = !op->sent && strcmp(op->node, node) == 0;
    pthread_mutex_unlock(&px->mu);
    return any;
}

static json_t *op_json(const struct fileproxy_op *op)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer((json_int_t)op->id));
    json_object_set_new(o, "op", json_string(kind_names[op->kind]));
    switch (op->kind) {
    case FILEPROXY_GET:
        json_object_set_new(o, "off", json_integer((json_int_t)op->off));
        json_object_set_new(o, "max", json_integer(op->max));
        /* fall through */
    case FILEPROXY_STAT:
    case FILEPROXY_DELETE:
        json_object_set_new(o, "base", json_string(op->base));
        json_object_set_new(o, "path", json_string(op->path));
        if (op->kind == FILEPROXY_DELETE)
            json_object_set_new(o, "recursive", json_boolean(op->recursive));
        break;
    case FILEPROXY_LIST:
        json_object_set_new(o, "base", json_string(op->base));
        json_object_set_new(o, "recursive", json_boolean(op->recursive));
        break;
    case FILEPROXY_LOGS:
        json_object_set_new(o, "url", json_string(op->url));
        json_object_set_new(o, "vdir", json_string(op->vdir));
        json_object_set_new(o, "start", json_integer(op->start_ms));
        break;
    }
    return o;
}

void fileproxy_node_take(struct fileproxy *px, const char *node, uint64_t seq,
                         json_t *ops)
{
    pthread_mutex_lock(&px->mu);
    for (struct fileproxy_op *op = px->ops; op; op = op->next) {
        if (op->sent || strcmp(op->node, node) != 0)
            continue;
        json_array_append_new(ops, op_json(op));
        op->sent = true;
        op->seq = seq;
    }
    pthread_mutex_unlock(&px->mu);
}

/* ---- answers ------------------------------------------------------------- */

int fileproxy_upload_begin(struct fileproxy *px, const char *node, uint64_t id,
                           struct fileproxy_upload **up_out, struct err *err)
{
    struct fileproxy_upload *up;
    struct fileproxy_op *op;
    int64_t mono = timefmt_mono_ms();

    pthread_mutex_lock(&px->mu);
    op = find_op(px, id);
    if (!op || op->answering || strcmp(op->node, node) != 0) {
        pthread_mutex_unlock(&px->mu);
        return err_set(err, ERR_NOTFOUND, "FileOpNotFound",
                       "no file request %" PRIu64 " waits for this node", id);
    }
    op->answering = true;
    if (op->deadline_mono < mono + FILEPROXY_WAIT_MS)
        op->deadline_mono = mono + FILEPROXY_WAIT_MS;
    up = xcalloc(1, sizeof(*up));
    up->id = id;
    up->node = xstrdup(node);
    up->kind = op->kind;
    up->off = op->off;
    up->max = op->max;
    up->fd = -1;
    up->touched_mono = mono;
    buf_init(&up->head, FILEPROXY_HEAD_MAX);
    pthread_mutex_unlock(&px->mu);
    *up_out = up;
    return 0;
}

static int malformed(struct fileproxy *px, struct fileproxy_upload *up,
                     struct err *err)
{
    fail_op(px, up->id, err);
    up->completed = true; /* nothing to resend: the request failed */
    return -err->code;
}

/* A temp file for the bytes, unlinked at once. */
static int tmp_open(const char *dir, struct err *err)
{
    char *path = xasprintf("%s/.fileproxy-XXXXXX", dir);
    int fd = mkstemp(path);

    if (fd < 0) {
        err_sys(err, "create a temp file in '%s'", dir);
        free(path);
        return -1;
    }
    unlink(path);
    free(path);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        err_sys(err, "fcntl");
        close(fd);
        return -1;
    }
    return fd;
}

/* Push the op's deadline while its answer streams in. */
static void touch(struct fileproxy *px, struct fileproxy_upload *up)
{
    int64_t mono = timefmt_mono_ms();
    struct fileproxy_op *op;

    if (mono - up->touched_mono < FILEPROXY_TOUCH_MS)
        return;
    up->touched_mono = mono;
    pthread_mutex_lock(&px->mu);
    op = find_op(px, up->id);
    if (op)
        op->deadline_mono = mono + FILEPROXY_WAIT_MS;
    pthread_mutex_unlock(&px->mu);
}

int fileproxy_upload_feed(struct fileproxy *px, struct fileproxy_upload *up,
                          const char *data, size_t len, struct err *err)
{
    if (up->completed)
        return err_set(err, ERR_INVALID, "InvalidRequestBody",
                       "the answer was refused");
    if (!up->head_done) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;

        if (buf_add(&up->head, data, n) < 0) {
            err_set(err, ERR_TOOBIG, "RequestBodyTooLarge",
                    "the answer's header is larger than %u bytes",
                    FILEPROXY_HEAD_MAX);
            return malformed(px, up, err);
        }
        if (!nl)
            return 0;
        up->head_done = true;
        if (fileproxy_parse_answer(up->head.data, up->head.len, up->kind,
                                   up->off, up->max, &up->ans, err) < 0)
            return malformed(px, up, err);
        buf_release(&up->head);
        data += n + 1;
        len -= n + 1;
        if (up->ans.len > 0) {
            up->fd = tmp_open(px->tmp_dir, err);
            if (up->fd < 0)
                return malformed(px, up, err);
        }
    }
    if (len > up->ans.len - up->got) {
        err_set(err, ERR_INVALID, "InvalidRequestBody",
                "more bytes than the %" PRIu64 " announced", up->ans.len);
        return malformed(px, up, err);
    }
    while (len > 0) {
        ssize_t w = write(up->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err_sys(err, "write the answer to a temp file");
            return malformed(px, up, err);
        }
        data += w;
        len -= (size_t)w;
        up->got += (uint64_t)w;
    }
    touch(px, up);
    return 0;
}

int fileproxy_upload_end(struct fileproxy *px, struct fileproxy_upload *up,
                         struct err *err)
{
    struct fileproxy_op *op;

    if (up->completed)
        return err_set(err, ERR_INVALID, "InvalidRequestBody",
                       "the answer was refused");
    if (!up->head_done) {
        err_set(err, ERR_INVALID, "InvalidRequestBody",
                "the answer has no header line");
        return malformed(px, up, err);
    }
    if (up->got != up->ans.len) {
        err_set(err, ERR_INVALID, "InvalidRequestBody",
                "%" PRIu64 " bytes announced, %" PRIu64 " sent", up->ans.len,
                up->got);
        return malformed(px, up, err);
    }
    pthread_mutex_lock(&px->mu);
    op = find_op(px, up->id);
    if (!op) {
        pthread_mutex_unlock(&px->mu);
        up->completed = true;
        return err_set(err, ERR_NOTFOUND, "FileOpNotFound",
                       "file request %" PRIu64 " no longer waits", up->id);
    }
    op->ans = up->ans;
    memset(&up->ans, 0, sizeof(up->ans));
    op->fd = up->fd;
    up->fd = -1;
    up->completed = true;
    log_debug("file request answered node=%s id=%" PRIu64 " bytes=%" PRIu64,
              op->node, op->id, up->got);
    finish(px, op);
    pthread_mutex_unlock(&px->mu);
    return 0;
}

void fileproxy_upload_free(struct fileproxy *px, struct fileproxy_upload *up)
{
    if (!up)
        return;
    if (!up->completed) {
        /* Broken off: the op waits for another try (the agent retries, or
         * gets it again with the next sync). */
        struct fileproxy_op *op;
        pthread_mutex_lock(&px->mu);
        op = find_op(px, up->id);
        if (op) {
            op->answering = false;
            op->sent = false;
        }
        pthread_mutex_unlock(&px->mu);
    }
    if (up->fd >= 0)
        close(up->fd);
    fileproxy_answer_release(&up->ans);
    buf_release(&up->head);
    free(up->node);
    free(up);
}

/* ---- the ticker ---------------------------------------------------------- */

void fileproxy_tick(struct batch_service *s, int64_t mono)
{
    struct fileproxy *px = s->proxy;
    struct model *m = &s->model;
    struct fileproxy_op *op, *next;
    bool empty;

    pthread_mutex_lock(&px->mu);
    empty = px->ops == NULL;
    pthread_mutex_unlock(&px->mu);
    if (empty)
        return;
    pthread_mutex_lock(&m->mu);
    pthread_mutex_lock(&px->mu);
    for (op = px->ops; op; op = next) {
        struct mnode *n = model_node_find(m, op->node);
        next = op->next;
        if (!n || !n->remote) {
            gone(&op->err, op->node, op->task);
        } else if (n->state == NODE_UNUSABLE && !op->answering) {
            unusable(&op->err, op->node);
        } else if (mono >= op->deadline_mono) {
            err_set(&op->err, ERR_TIMEOUT, "OperationTimedOut",
                    "node '%s' did not answer within %" PRId64 " seconds",
                    op->node, op->wait_ms / 1000);
        } else {
            continue;
        }
        log_warn("file request failed node=%s id=%" PRIu64 " code=%s", op->node,
                 op->id, op->err.svc);
        finish(px, op);
    }
    pthread_mutex_unlock(&px->mu);
    pthread_mutex_unlock(&m->mu);
}

/* ---- parsers ------------------------------------------------------------- */

int fileproxy_parse_id(const char *s, uint64_t *out)
{
    if (!s || strlen(s) > 20)
        return -ERR_INVALID;
    return parse_u64(s, 1, FILEPROXY_ID_MAX, out);
}

static int bad(struct err *err, const char *why)
{
    return err_set(err, ERR_INVALID, "InvalidRequestBody", "%s", why);
}

static bool get_int(json_t *o, const char *key, int64_t lo, int64_t hi,
                    int64_t *out)
{
    json_t *v = json_object_get(o, key);
    json_int_t x;

    if (!json_is_integer(v))
        return false;
    x = json_integer_value(v);
    if (x < lo || x > hi)
        return false;
    *out = (int64_t)x;
    return true;
}

static bool int_in(json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > hi)
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* mode, size, ctime, mtime into st: a directory or a regular file. */
static bool fill_stat(json_t *mode, json_t *size, json_t *ctime, json_t *mtime,
                      struct stat *st)
{
    int64_t md, sz, ct, mt;

    if (!int_in(mode, 0, 0xFFFFFFFFll, &md) ||
        !int_in(size, 0, INT64_MAX, &sz) ||
        !int_in(ctime, -FILEPROXY_TIME_MAX, FILEPROXY_TIME_MAX, &ct) ||
        !int_in(mtime, -FILEPROXY_TIME_MAX, FILEPROXY_TIME_MAX, &mt))
        return false;
    memset(st, 0, sizeof(*st));
    st->st_mode = (mode_t)md;
    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
        return false;
    st->st_size = (off_t)sz;
    st->st_ctime = (time_t)ct;
    st->st_mtime = (time_t)mt;
    return true;
}

/* A relative name: no empty, "." or ".." component, no NUL. */
static bool name_ok(json_t *v)
{
    const char *s = json_string_value(v);
    size_t len;

    if (!s)
        return false;
    len = json_string_length(v);
    if (len == 0 || len > FILEPROXY_NAME_MAX || strlen(s) != len)
        return false;
    return fsutil_rel_name_ok(s);
}

/* What the node owes for a GET of [off, off + max) of a file like st. */
static uint64_t owed(const struct stat *st, uint64_t off, int64_t max)
{
    uint64_t size = (uint64_t)st->st_size, rest;

    if (!S_ISREG(st->st_mode) || off >= size)
        return 0;
    rest = size - off;
    return max >= 0 && (uint64_t)max < rest ? (uint64_t)max : rest;
}

/* A copy of s cut to at most FILEPROXY_MSG_MAX bytes on a UTF-8 boundary. */
static char *message_dup(const char *s)
{
    size_t n = strlen(s);

    if (n > FILEPROXY_MSG_MAX) {
        n = FILEPROXY_MSG_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return xstrndup(s, n);
}

static int parse_entries(json_t *arr, struct fileproxy_answer *out,
                         struct err *err)
{
    size_t i, n = json_array_size(arr);
    json_t *e;

    if (!json_is_array(arr))
        return bad(err, "entries is not an array");
    if (n > FILEPROXY_MAX_ENTRIES)
        return bad(err, "too many entries");
    out->entries = xcalloc(n ? n : 1, sizeof(*out->entries));
    json_array_foreach(arr, i, e)
    {
        struct fileproxy_entry *fe = &out->entries[out->nentries];
        if (!json_is_array(e) || json_array_size(e) != 5)
            return bad(err, "an entry is not [name, mode, size, ctime, "
                            "mtime]");
        if (!name_ok(json_array_get(e, 0)))
            return bad(err, "an entry has a bad name");
        if (!fill_stat(json_array_get(e, 1), json_array_get(e, 2),
                       json_array_get(e, 3), json_array_get(e, 4), &fe->st))
            return bad(err, "an entry has bad metadata");
        fe->name = xstrdup(json_string_value(json_array_get(e, 0)));
        out->nentries++;
    }
    return 0;
}

int fileproxy_parse_answer(const char *text, size_t len,
                           enum fileproxy_kind kind, uint64_t off, int64_t max,
                           struct fileproxy_answer *out, struct err *err)
{
    json_error_t je;
    json_t *o, *v;
    int64_t x;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        rc = bad(err, "not a JSON object");
        goto out;
    }
    v = json_object_get(o, "v");
    if (v && (!json_is_integer(v) || json_integer_value(v) != 1)) {
        rc = bad(err, "unknown version");
        goto out;
    }
    v = json_object_get(o, "ok");
    if (!json_is_boolean(v)) {
        rc = bad(err, "no ok");
        goto out;
    }
    if (json_is_false(v)) {
        const char *e = json_string_value(json_object_get(o, "error"));
        json_t *msg = json_object_get(o, "message");
        for (size_t i = 0; e && i < sizeof(fail_names) / sizeof(*fail_names);
             i++) {
            if (strcmp(e, fail_names[i].name) == 0)
                out->fail = fail_names[i].fail;
        }
        if (out->fail == FILEPROXY_FAIL_NONE) {
            rc = bad(err, "unknown error kind");
            goto out;
        }
        if (msg && !json_is_string(msg)) {
            rc = bad(err, "message is not a string");
            goto out;
        }
        if (msg)
            out->message = message_dup(json_string_value(msg));
        goto out;
    }
    switch (kind) {
    case FILEPROXY_STAT:
    case FILEPROXY_GET:
        if (!fill_stat(json_object_get(o, "mode"), json_object_get(o, "size"),
                       json_object_get(o, "ctime"), json_object_get(o, "mtime"),
                       &out->st)) {
            rc = bad(err, "bad file metadata");
            goto out;
        }
        if (kind == FILEPROXY_STAT) {
            if (json_object_get(o, "len") && (!get_int(o, "len", 0, 0, &x))) {
                rc = bad(err, "bytes after a stat");
                goto out;
            }
            break;
        }
        if (!get_int(o, "len", 0, INT64_MAX, &x) ||
            (uint64_t)x != owed(&out->st, off, max)) {
            rc = bad(err, "len is not what was asked for");
            goto out;
        }
        out->len = (uint64_t)x;
        break;
    case FILEPROXY_LIST:
        rc = parse_entries(json_object_get(o, "entries"), out, err);
        break;
    case FILEPROXY_DELETE:
        break;
    case FILEPROXY_LOGS:
        if (!get_int(o, "files", 0, FILEPROXY_FILES_MAX, &x)) {
            rc = bad(err, "bad files count");
            goto out;
        }
        out->files = (uint64_t)x;
        break;
    }
out:
    json_decref(o);
    return rc;
}

void fileproxy_answer_release(struct fileproxy_answer *a)
{
    for (size_t i = 0; i < a->nentries; i++)
        free(a->entries[i].name);
    free(a->entries);
    free(a->message);
    memset(a, 0, sizeof(*a));
}
