/*
 * http.c: the HTTP server glue over libmicrohttpd (MHD).
 *
 * Each listener is one MHD daemon in "epoll internal thread + thread pool"
 * mode with suspend/resume allowed, fed by an acceptor thread of ours
 * (acceptor_main: connections are spread over the workers evenly, see
 * there); quiesce stops the acceptor and closes the listening socket. MHD's URL unescaping is disabled (a no-op
 * unescape callback) and the raw request target is captured by the URI log
 * callback, which runs first for every request and allocates our per-request
 * struct req_priv. So req->path and req->query are exactly what the client
 * sent: the SharedKey signatures are computed over the raw path, and query
 * values are decoded by us (%XX only, as storage wants).
 *
 * Per request, the access handler runs:
 *
 *     first call (headers)  -> service begin()
 *     body chunks           -> req->sink, or buffered into req->body
 *     last call (size 0)    -> service end()    [again after each resume]
 *     completed callback    -> service done(), then free
 *
 * A reply is recorded in req_priv (status, headers, body kind) by http_reply*
 * and queued on MHD by the access handler when the service function returns,
 * because MHD only accepts responses from inside its callbacks. A reply made
 * in begin() to a request with a body is queued at once: MHD then does not
 * read the body and closes the connection after the reply (for Expect:
 * 100-continue clients, no body byte is sent at all); without a body it
 * waits for the final call, so the connection stays open. A reply made
 * while the body streams in (a sink error, 413) cannot be queued then
 * (MHD 0.9.75 refuses it): the rest of the body is drained, up to
 * HTTP_DRAIN_MAX bytes, and the reply is queued at the final call.
 *
 * Suspend/resume: a request parks itself with http_suspend() from its
 * handler or stream reader; any thread wakes it with http_resume(). A resume
 * that arrives before the suspend (the producer was quicker) is remembered
 * in resume_pending and applied right after the suspend, so no wakeup is
 * lost. The per-request mutex orders the two. On shutdown every suspended
 * request is resumed with shutting_down set, so handlers can answer. A
 * resumer holds the request's mutex while MHD may already be finishing the
 * request on its worker: priv_free waits until no resumer is inside
 * (resumers).
 *
 * Workers that serve many connections must not block. Two ways out, both
 * built on suspend/resume:
 *
 *   http_wait     the handler hands its work to another thread (a group
 *                 commit) and parks; that thread's http_wait_done wakes
 *                 it and end() runs again to reply.
 *   http_offload  end() runs on the listener's handler pool; the reply it
 *                 records is queued when the pool hands the request back.
 *                 Offloaded requests stay out of the suspended list, so
 *                 shutdown stops the pool (which finishes its queue)
 *                 before it resumes anything.
 *
 * The pool and the group committer sleep on event counts (core/futex.h),
 * not condition variables: glibc 2.36 can lose a pthread_cond_signal.
 *
 * A limit of libmicrohttpd 0.9.75: a resumed connection is read before
 * its handler runs again, and a read that finds the client's half-close
 * (EOF) closes the connection, reply or not. So a client that shuts its
 * sending side after a request does not get the reply of a request that
 * parked (a write waiting for its commit, a long poll). HTTP clients keep
 * their side open until the reply; the write itself is unaffected.
 *
 * TLS: a listener given a certificate and key (http_server_opts) serves
 * HTTPS through MHD's GnuTLS support; the PEM texts stay in the server
 * struct for the daemon's lifetime. Everything above works the same.
 *
 * Ownership: req_priv owns the raw URI, path, query, params and response
 * parts; header values are borrowed from MHD and valid until done().
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/crypto.h"
#include "core/futex.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "core/xml.h"

#define HTTP_BODY_MAX_DEFAULT (1u << 20)
#define HTTP_MAX_PARAMS 64
#define HTTP_DRAIN_MAX (8u << 20) /* body bytes read after an early reply */

enum body_kind { BODY_NONE, BODY_BUF, BODY_FD, BODY_STREAM };

struct hdr {
    char *name;
    char *value;
};

struct fake_hdr {
    char *name;
    char *value;
};

struct req_priv {
    struct http_server *server;
    struct MHD_Connection *conn; /* NULL for fake requests */
    char *uri;
    bool begun;
    bool ended;
    bool queued;
    bool counted;
    uint64_t drained; /* body bytes discarded after an early reply */

    /* the reply */
    bool replied;
    int status;
    struct hdr *hdrs;
    size_t nhdrs;
    enum body_kind kind;
    struct buf body;
    int fd;
    uint64_t fd_off, fd_len;
    ssize_t (*read)(void *ctx, uint64_t pos, char *out, size_t max);
    void *read_ctx;
    void (*read_free)(void *ctx);
    const char *ctype;
    char *ctype_own;

    /* suspend/resume */
    pthread_mutex_t mu;
    atomic_int resumers; /* threads inside http_resume (priv_free waits) */
    bool offloaded;      /* end() runs on the pool (not in the list) */
    struct http_wait *wait; /* the last http_wait_start (fake requests) */
    struct req_priv *pool_next;
    void (*pool_fn)(struct http_req *req);
    bool suspended;
    bool resume_pending;
    bool shutting_down;
    unsigned suspends;              /* http_suspend calls, ever */
    struct req_priv *sprev, *snext; /* suspended list */

    /* fake requests */
    struct fake_hdr *fhdrs;
    size_t nfhdrs;
    char *fake_body;
    struct http_req req;
};

struct http_server {
    struct MHD_Daemon *d;
    int lfd;            /* the listening socket (ours, not MHD's) */
    int stop_pipe[2];   /* written to stop the acceptor */
    pthread_t acceptor;
    bool accepting;     /* the acceptor thread runs */
    const struct http_service *svc;
    struct http_server_opts opts;
    atomic_uint active;
    pthread_mutex_t mu; /* guards the suspended list and stopping */
    struct req_priv *suspended;
    bool stopping;
    int port;
    struct buf tls_cert, tls_key; /* PEM, kept for MHD's lifetime */

    /* the blocking pool (http_offload) */
    pthread_t *pool;
    size_t npool;
    pthread_mutex_t pool_mu;
    atomic_int pool_ev;                      /* an event count: work */
    struct req_priv *pool_head, **pool_tail; /* queued requests (pool_mu) */
    bool pool_stop;                          /* (pool_mu) */
};

static struct req_priv *priv_of(struct http_req *req)
{
    return req->priv;
}

/* ---- request parsing ---------------------------------------------------- */

static void add_param(struct http_req *req, const char *s, size_t n,
                      size_t *cap)
{
    const char *eq = memchr(s, '=', n);
    size_t nl = eq ? (size_t)(eq - s) : n;
    struct buf name = BUF_INIT, value = BUF_INIT;

    if (n == 0 || req->nparams >= HTTP_MAX_PARAMS)
        return;
    /* Undecodable names or values are kept raw: the service rejects them. */
    if (codec_pct_decode(&name, s, nl, false) < 0) {
        buf_reset(&name);
        buf_add(&name, s, nl);
    }
    if (eq && codec_pct_decode(&value, eq + 1, n - nl - 1, false) < 0) {
        buf_reset(&value);
        buf_add(&value, eq + 1, n - nl - 1);
    }
    if (req->nparams == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        req->params = xrealloc(req->params, *cap * sizeof(*req->params));
    }
    req->params[req->nparams].name = buf_detach(&name, NULL);
    req->params[req->nparams].value = buf_detach(&value, NULL);
    if (!req->params[req->nparams].name || !req->params[req->nparams].value)
        BUG("out of memory parsing query");
    req->nparams++;
}

static void parse_target(struct http_req *req, const char *uri)
{
    const char *q = strchr(uri, '?');
    size_t cap = 0;

    if (q) {
        req->path = xstrndup(uri, (size_t)(q - uri));
        req->query = xstrdup(q + 1);
    } else {
        req->path = xstrdup(uri);
        req->query = xstrdup("");
    }
    for (const char *s = req->query; *s;) {
        const char *amp = strchr(s, '&');
        size_t n = amp ? (size_t)(amp - s) : strlen(s);
        add_param(req, s, n, &cap);
        if (!amp)
            break;
        s = amp + 1;
    }
}

static struct req_priv *priv_new(struct http_server *s, const char *uri)
{
    struct req_priv *p = xcalloc(1, sizeof(*p));

    p->server = s;
    p->uri = xstrdup(uri ? uri : "/");
    p->fd = -1;
    buf_init(&p->body, (size_t)-1);
    pthread_mutex_init(&p->mu, NULL);
    p->req.priv = p;
    p->req.body_max = HTTP_BODY_MAX_DEFAULT;
    buf_init(&p->req.body, HTTP_BODY_MAX_DEFAULT);
    crypto_uuid(p->req.id);
    snprintf(p->req.client_ip, sizeof(p->req.client_ip), "127.0.0.1");
    parse_target(&p->req, p->uri);
    return p;
}

static void priv_free(struct req_priv *p)
{
    struct http_req *req = &p->req;

    /* A resumer may still be leaving http_resume (it holds p->mu). */
    for (int n; (n = atomic_load(&p->resumers)) != 0;)
        futex_wait_while(&p->resumers, n);

    for (size_t i = 0; i < req->nparams; i++) {
        free(req->params[i].name);
        free(req->params[i].value);
    }
    free(req->params);
    free(req->path);
    free(req->query);
    buf_release(&req->body);
    for (size_t i = 0; i < p->nhdrs; i++) {
        free(p->hdrs[i].name);
        free(p->hdrs[i].value);
    }
    free(p->hdrs);
    buf_release(&p->body);
    if (p->fd >= 0)
        close(p->fd);
    if (p->read_free && p->read_ctx)
        p->read_free(p->read_ctx);
    free(p->ctype_own);
    for (size_t i = 0; i < p->nfhdrs; i++) {
        free(p->fhdrs[i].name);
        free(p->fhdrs[i].value);
    }
    free(p->fhdrs);
    free(p->fake_body);
    pthread_mutex_destroy(&p->mu);
    free(p->uri);
    free(p);
}

/* ---- accessors ------------------------------------------------------------ */

const char *http_header(struct http_req *req, const char *name)
{
    struct req_priv *p = priv_of(req);

    if (p->conn)
        return MHD_lookup_connection_value(p->conn, MHD_HEADER_KIND, name);
    for (size_t i = 0; i < p->nfhdrs; i++) {
        if (strcasecmp(p->fhdrs[i].name, name) == 0)
            return p->fhdrs[i].value;
    }
    return NULL;
}

const char *http_param(struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++) {
        if (strcasecmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    }
    return NULL;
}

struct each_ctx {
    void (*fn)(void *ctx, const char *name, const char *value);
    void *ctx;
};

static enum MHD_Result each_cb(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value)
{
    struct each_ctx *e = cls;

    (void)kind;
    e->fn(e->ctx, key, value ? value : "");
    return MHD_YES;
}

void http_header_each(struct http_req *req,
                      void (*fn)(void *ctx, const char *name,
                                 const char *value),
                      void *ctx)
{
    struct req_priv *p = priv_of(req);
    struct each_ctx e = {fn, ctx};

    if (p->conn) {
        MHD_get_connection_values(p->conn, MHD_HEADER_KIND, each_cb, &e);
        return;
    }
    for (size_t i = 0; i < p->nfhdrs; i++)
        fn(ctx, p->fhdrs[i].name, p->fhdrs[i].value);
}

bool http_is_head(struct http_req *req)
{
    return strcmp(req->method, "HEAD") == 0;
}

bool http_replied(struct http_req *req)
{
    return priv_of(req)->replied;
}

bool http_shutting_down(struct http_req *req)
{
    return priv_of(req)->shutting_down;
}

/* ---- replies ---------------------------------------------------------------- */

void http_add_header(struct http_req *req, const char *name,
                     const char *value)
{
    struct req_priv *p = priv_of(req);

    p->hdrs = xrealloc(p->hdrs, (p->nhdrs + 1) * sizeof(*p->hdrs));
    p->hdrs[p->nhdrs].name = xstrdup(name);
    p->hdrs[p->nhdrs].value = xstrdup(value);
    p->nhdrs++;
}

static bool begin_reply(struct req_priv *p, int status)
{
    if (p->replied) {
        log_error("second reply to one request status=%d", status);
        return false;
    }
    p->replied = true;
    p->status = status;
    return true;
}

static void set_ctype(struct req_priv *p, const char *ctype)
{
    free(p->ctype_own);
    p->ctype_own = ctype ? xstrdup(ctype) : NULL;
    p->ctype = p->ctype_own;
}

void http_reply(struct http_req *req, int status, const char *content_type,
                struct buf *body)
{
    struct req_priv *p = priv_of(req);

    if (!begin_reply(p, status))
        return;
    set_ctype(p, content_type);
    p->kind = BODY_BUF;
    if (body) {
        buf_release(&p->body);
        p->body = *body;
        buf_init(body, body->max);
    }
}

void http_reply_fd(struct http_req *req, int status, int fd, uint64_t off,
                   uint64_t len)
{
    struct req_priv *p = priv_of(req);

    if (!begin_reply(p, status)) {
        close(fd);
        return;
    }
    p->kind = BODY_FD;
    p->fd = fd;
    p->fd_off = off;
    p->fd_len = len;
}

void http_reply_stream(struct http_req *req, int status,
                       const char *content_type,
                       ssize_t (*read)(void *ctx, uint64_t pos, char *out,
                                       size_t max),
                       void *ctx, void (*free_ctx)(void *ctx))
{
    struct req_priv *p = priv_of(req);

    if (!begin_reply(p, status)) {
        if (free_ctx)
            free_ctx(ctx);
        return;
    }
    set_ctype(p, content_type);
    p->kind = BODY_STREAM;
    p->read = read;
    p->read_ctx = ctx;
    p->read_free = free_ctx;
}

/* ---- error bodies ----------------------------------------------------------- */

void http_reply_storage_error(struct http_req *req, const struct err *err)
{
    struct buf b = BUF_INIT;
    char ts[TIMEFMT_ISO_LEN];
    int status = err_http_status(err->code);
    const char *code = err->svc[0] ? err->svc : "InternalError";

    http_add_header(req, "x-ms-error-code", code);
    if (http_is_head(req) || status == 304) {
        http_reply(req, status, NULL, NULL);
        return;
    }
    timefmt_iso8601(timefmt_now_ms(), 7, ts);
    buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>");
    xml_escape(&b, code, strlen(code));
    buf_adds(&b, "</Code><Message>");
    xml_escape(&b, err->msg, strlen(err->msg));
    buf_addf(&b, "\nRequestId:%s\nTime:%s</Message>", req->id, ts);
    for (int i = 0; i < err->ndetails; i++)
        xml_elem(&b, err->details[i].name, err->details[i].value);
    buf_adds(&b, "</Error>");
    http_reply(req, status, "application/xml", &b);
    buf_release(&b);
}

void http_reply_batch_error(struct http_req *req, const struct err *err)
{
    json_t *o, *msg, *vals;
    char ts[TIMEFMT_ISO_LEN];
    char *text, *meta, *dump;
    const char *host = http_header(req, "Host");
    struct buf b = BUF_INIT;
    int status = err_http_status(err->code);

    if (http_is_head(req) || status == 304) {
        http_reply(req, status, NULL, NULL);
        return;
    }
    timefmt_iso8601(timefmt_now_ms(), 7, ts);
    text = xasprintf("%s\nRequestId:%s\nTime:%s", err->msg, req->id, ts);
    meta = xasprintf("http://%s/$metadata#Microsoft.Azure.Batch.Protocol."
                     "Entities.Container.errors/@Element",
                     host ? host : "localhost");
    o = json_object();
    json_object_set_new(o, "odata.metadata", json_string(meta));
    json_object_set_new(o, "code",
                        json_string(err->svc[0] ? err->svc : "InternalError"));
    msg = json_object();
    json_object_set_new(msg, "lang", json_string("en-US"));
    json_object_set_new(msg, "value", json_string(text));
    json_object_set_new(o, "message", msg);
    if (err->ndetails) {
        vals = json_array();
        for (int i = 0; i < err->ndetails; i++) {
            json_t *kv = json_object();
            json_object_set_new(kv, "key",
                                json_string(err->details[i].name));
            json_object_set_new(kv, "value",
                                json_string(err->details[i].value));
            json_array_append_new(vals, kv);
        }
        json_object_set_new(o, "values", vals);
    }
    dump = json_dumps(o, JSON_COMPACT);
    if (dump)
        buf_adds(&b, dump);
    free(dump);
    json_decref(o);
    free(text);
    free(meta);
    http_reply(req, status, "application/json;odata=minimalmetadata", &b);
    buf_release(&b);
}

/* ---- suspend / resume ------------------------------------------------------- */

static void slist_add(struct http_server *s, struct req_priv *p)
{
    pthread_mutex_lock(&s->mu);
    if (p->sprev || p->snext || s->suspended == p) {
        if (s->stopping)
            p->resume_pending = true;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    p->sprev = NULL;
    p->snext = s->suspended;
    if (s->suspended)
        s->suspended->sprev = p;
    s->suspended = p;
    if (s->stopping)
        p->resume_pending = true;
    pthread_mutex_unlock(&s->mu);
}

static void slist_del(struct http_server *s, struct req_priv *p)
{
    pthread_mutex_lock(&s->mu);
    if (p->sprev)
        p->sprev->snext = p->snext;
    else if (s->suspended == p)
        s->suspended = p->snext;
    if (p->snext)
        p->snext->sprev = p->sprev;
    p->sprev = p->snext = NULL;
    pthread_mutex_unlock(&s->mu);
}

void http_suspend(struct http_req *req)
{
    struct req_priv *p = priv_of(req);
    bool now = false;

    if (!p->conn)
        return;
    pthread_mutex_lock(&p->mu);
    p->suspends++;
    if (!p->suspended) {
        MHD_suspend_connection(p->conn);
        p->suspended = true;
        if (p->resume_pending || p->server->stopping) {
            p->resume_pending = false;
            if (p->server->stopping)
                p->shutting_down = true;
            now = true;
        }
    }
    pthread_mutex_unlock(&p->mu);
    slist_add(p->server, p);
    if (now)
        http_resume(req);
}

/*
 * Hand a parked connection back to MHD, or remember the wake-up if it is
 * not parked (yet), or parked on the pool (unless the pool itself is
 * handing it back: offload_done). Once MHD has the connection back, the
 * worker may finish the request and free p before we unlock: priv_free
 * waits for resumers to leave.
 */
static void resume(struct req_priv *p, bool offload_done)
{
    atomic_fetch_add(&p->resumers, 1);
    pthread_mutex_lock(&p->mu);
    if (offload_done)
        p->offloaded = false;
    if (p->suspended && !p->offloaded) {
        p->suspended = false;
        MHD_resume_connection(p->conn);
    } else {
        p->resume_pending = true;
    }
    pthread_mutex_unlock(&p->mu);
    if (atomic_fetch_sub(&p->resumers, 1) == 1)
        futex_wake_all(&p->resumers);
}

void http_resume(struct http_req *req)
{
    struct req_priv *p = priv_of(req);

    if (p->conn)
        resume(p, false);
}

/* ---- waiting for another thread (http_wait) ------------------------------ */

enum { WAIT_PENDING = 1, WAIT_DONE, WAIT_RESUMED };

void http_wait_start(struct http_req *req, struct http_wait *w)
{
    w->req = req;
    atomic_store(&w->state, WAIT_PENDING);
    priv_of(req)->wait = w;
    http_suspend(req);
}

void http_wait_done(struct http_wait *w)
{
    struct http_req *req = w->req;

    atomic_store(&w->state, WAIT_DONE);
    http_resume(req);
    atomic_store(&w->state, WAIT_RESUMED);
    futex_wake_all(&w->state);
}

bool http_wait_pending(struct http_req *req, struct http_wait *w)
{
    if (atomic_load(&w->state) != WAIT_PENDING)
        return false;
    if (http_shutting_down(req)) {
        /* Resumed for shutdown: the work ends soon; wait here. */
        futex_wait_while(&w->state, WAIT_PENDING);
        return false;
    }
    http_suspend(req); /* a wake-up that came early is not lost */
    return true;
}

void http_wait_drain(struct http_wait *w)
{
    if (!w->req)
        return;
    futex_wait_while(&w->state, WAIT_PENDING);
    futex_wait_while(&w->state, WAIT_DONE);
}

/* ---- the blocking pool (http_offload) ------------------------------------ */

static void body_error(struct req_priv *p, const struct err *e);

void http_offload(struct http_req *req, void (*fn)(struct http_req *req))
{
    struct req_priv *p = priv_of(req);
    struct http_server *s = p->server;

    if (!p->conn || !s || s->opts.pool_threads == 0) {
        fn(req); /* fake requests (unit tests), or no pool */
        return;
    }
    pthread_mutex_lock(&s->pool_mu);
    if (s->pool_stop) {
        /* shutting down, the pool is gone: block this worker instead */
        pthread_mutex_unlock(&s->pool_mu);
        fn(req);
        return;
    }
    /*
     * Suspended outside the list: shutdown's resume_all must not hand
     * the request back to MHD while a pool thread runs its handler.
     */
    pthread_mutex_lock(&p->mu);
    p->suspends++;
    MHD_suspend_connection(p->conn);
    p->suspended = true;
    p->offloaded = true;
    p->pool_fn = fn;
    pthread_mutex_unlock(&p->mu);
    p->pool_next = NULL;
    *s->pool_tail = p;
    s->pool_tail = &p->pool_next;
    pthread_mutex_unlock(&s->pool_mu);
    futex_event_signal(&s->pool_ev, 1);
}

static void *pool_main(void *arg)
{
    struct http_server *s = arg;

    for (;;) {
        int seen = futex_event_sample(&s->pool_ev);
        struct req_priv *p;

        pthread_mutex_lock(&s->pool_mu);
        p = s->pool_head;
        if (p) {
            s->pool_head = p->pool_next;
            if (!s->pool_head)
                s->pool_tail = &s->pool_head;
        }
        if (!p && s->pool_stop) {
            pthread_mutex_unlock(&s->pool_mu);
            break; /* stopping, and the queue is empty */
        }
        pthread_mutex_unlock(&s->pool_mu);
        if (!p) {
            futex_event_wait(&s->pool_ev, seen);
            continue;
        }

        log_set_request(p->req.id);
        p->pool_fn(&p->req);
        if (!p->replied) {
            struct err e = ERR_INIT;

            log_error("handler returned without a reply path=%s",
                      p->req.path);
            err_set(&e, ERR_INTERNAL, "InternalError", "no reply");
            body_error(p, &e);
        }
        log_set_request(NULL);
        resume(p, true);
    }
    return NULL;
}

/* Let the pool finish what is queued, then end its threads. */
static void pool_stop(struct http_server *s)
{
    if (!s->npool)
        return;
    pthread_mutex_lock(&s->pool_mu);
    s->pool_stop = true;
    pthread_mutex_unlock(&s->pool_mu);
    futex_event_signal(&s->pool_ev, INT_MAX);
    for (size_t i = 0; i < s->npool; i++)
        pthread_join(s->pool[i], NULL);
    free(s->pool);
    s->pool = NULL;
    s->npool = 0;
}

/* ---- MHD glue ----------------------------------------------------------------- */

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct req_priv *p = cls;
    ssize_t n;

    slist_del(p->server, p);
    n = p->read(p->read_ctx, pos, buf, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n;
}

static void std_headers(struct req_priv *p, struct MHD_Response *r)
{
    struct http_req *req = &p->req;
    const char *v;

    if (p->server->opts.flavor == HTTP_STORAGE) {
        MHD_add_response_header(r, "x-ms-request-id", req->id);
        v = http_header(req, "x-ms-version");
        if (v)
            MHD_add_response_header(r, "x-ms-version", v);
        v = http_header(req, "x-ms-client-request-id");
        if (v)
            MHD_add_response_header(r, "x-ms-client-request-id", v);
        MHD_add_response_header(r, "Server", "shoal");
    } else {
        MHD_add_response_header(r, "request-id", req->id);
        v = http_header(req, "client-request-id");
        if (v)
            MHD_add_response_header(r, "client-request-id", v);
        MHD_add_response_header(r, "DataServiceVersion", "3.0");
    }
}

static enum MHD_Result queue_reply(struct req_priv *p)
{
    struct MHD_Response *r = NULL;
    enum MHD_Result ret;

    switch (p->kind) {
    case BODY_NONE:
    case BODY_BUF:
        r = MHD_create_response_from_buffer(p->body.len, p->body.data,
                                            MHD_RESPMEM_MUST_COPY);
        break;
    case BODY_FD:
        r = MHD_create_response_from_fd_at_offset64(p->fd_len, p->fd,
                                                    p->fd_off);
        if (r)
            p->fd = -1; /* MHD closes it */
        break;
    case BODY_STREAM:
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
                                              stream_cb, p, NULL);
        break;
    }
    if (!r) {
        log_error("cannot create response status=%d", p->status);
        return MHD_NO;
    }
    std_headers(p, r);
    if (p->ctype)
        MHD_add_response_header(r, "Content-Type", p->ctype);
    for (size_t i = 0; i < p->nhdrs; i++)
        MHD_add_response_header(r, p->hdrs[i].name, p->hdrs[i].value);
    ret = MHD_queue_response(p->conn, (unsigned)p->status, r);
    MHD_destroy_response(r);
    p->queued = true;
    return ret;
}

static void body_error(struct req_priv *p, const struct err *e)
{
    struct http_req *req = &p->req;

    if (req->on_error)
        req->on_error(req, e);
    else if (p->server->opts.flavor == HTTP_STORAGE)
        http_reply_storage_error(req, e);
    else
        http_reply_batch_error(req, e);
}

static void feed_body(struct req_priv *p, const char *data, size_t len)
{
    struct http_req *req = &p->req;
    struct err e = ERR_INIT;

    req->received += len;
    if (p->replied)
        return;
    if (req->sink) {
        if (req->sink(req, data, len) < 0 && !p->replied)
            body_error(p, &req->err);
        return;
    }
    if (req->body.len + len > req->body_max) {
        req->body_too_big = true;
        err_set(&e, ERR_TOOBIG, "RequestBodyTooLarge",
                "the request body is larger than %zu bytes", req->body_max);
        {
            char lim[32];
            snprintf(lim, sizeof(lim), "%zu", req->body_max);
            err_add_detail(&e, "MaxLimit", lim);
        }
        body_error(p, &e);
        return;
    }
    if (buf_add(&req->body, data, len) < 0) {
        err_set(&e, ERR_NOMEM, "InternalError", "out of memory");
        body_error(p, &e);
    }
}

static void set_client_ip(struct req_priv *p)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(p->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
                  p->req.client_ip, sizeof(p->req.client_ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  p->req.client_ip, sizeof(p->req.client_ip));
}

static bool has_body(struct http_req *req)
{
    const char *te = http_header(req, "Transfer-Encoding");

    return (req->has_length && req->length > 0) ||
           (te && strcasecmp(te, "chunked") == 0);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *s = cls;
    struct req_priv *p = priv_new(s, uri);

    p->conn = conn;
    p->counted = true;
    atomic_fetch_add(&s->active, 1);
    return p;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct http_server *s = cls;
    struct req_priv *p = *con_cls;
    struct http_req *req;

    (void)url;
    (void)version;
    if (!p) {
        p = uri_cb(s, url, conn);
        *con_cls = p;
    }
    req = &p->req;
    if (p->queued) {
        /* Already answered (early reply): drop what else comes. */
        *upload_size = 0;
        return MHD_YES;
    }
    if (!p->begun) {
        const char *cl;
        p->begun = true;
        p->conn = conn;
        req->method = method;
        req->svc = s->svc->ctx;
        req->service = s->svc;
        set_client_ip(p);
        cl = http_header(req, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            req->length = strtoull(cl, &end, 10);
            req->has_length = errno == 0 && end != cl && *end == '\0';
        }
        log_set_request(req->id);
        log_debug("request method=%s path=%s svc=%s", method, req->path,
                  s->svc->name);
        s->svc->begin(req);
        buf_init(&req->body, req->body_max);
        log_set_request(NULL);
        /*
         * An early reply to a request with a body is queued now, so MHD
         * does not read the body (and closes the connection after the
         * reply). Without a body, wait for the final call: queued then,
         * the connection stays open for the next request.
         */
        if (p->replied && has_body(req))
            return queue_reply(p);
        return MHD_YES;
    }
    if (*upload_size) {
        if (p->replied) {
            /*
             * Replied while the body streams in: MHD 0.9.75 refuses a
             * response queued mid-upload (MHD_queue_response returns
             * MHD_NO and the client sees the connection drop), so drain
             * the rest, up to HTTP_DRAIN_MAX, and queue at the end.
             */
            p->drained += *upload_size;
            *upload_size = 0;
            return p->drained > HTTP_DRAIN_MAX ? MHD_NO : MHD_YES;
        }
        log_set_request(req->id);
        feed_body(p, upload, *upload_size);
        log_set_request(NULL);
        *upload_size = 0;
        return MHD_YES;
    }
    /* End of the request (or a resume). */
    if (p->suspended || p->sprev || p->snext || s->suspended == p)
        slist_del(s, p);
    log_set_request(req->id);
    p->ended = true;
    {
        /*
         * A handler that suspended may already have been resumed (the
         * producer was quicker): MHD then calls us again, so count the
         * suspend, not the flag.
         */
        unsigned before = p->suspends;
        if (!p->replied)
            s->svc->end(req);
        log_set_request(NULL);
        if (p->replied)
            return queue_reply(p);
        if (p->suspends != before)
            return MHD_YES;
    }
    log_error("handler returned without a reply path=%s", req->path);
    {
        struct err e = ERR_INIT;
        err_set(&e, ERR_INTERNAL, "InternalError", "no reply");
        body_error(p, &e);
    }
    return queue_reply(p);
}

static void completed_cb(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct req_priv *p = *con_cls;

    (void)conn;
    if (!p)
        return;
    slist_del(s, p);
    p->req.aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
    if (p->begun && s->svc->done) {
        log_set_request(p->req.id);
        s->svc->done(&p->req);
        log_set_request(NULL);
    }
    if (p->counted)
        atomic_fetch_sub(&s->active, 1);
    priv_free(p);
    *con_cls = NULL;
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
    return uri_cb(cls, uri, c);
}

__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("libmicrohttpd: %s", line);
}

/* Read a PEM file (bounded) for the TLS options. */
static int read_pem(const char *path, struct buf *out, struct err *err)
{
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "r");

    if (!f)
        return err_set(err, ERR_INVALID, NULL, "cannot read TLS file '%s'",
                       path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out->len + n > (1u << 20) || buf_add(out, chunk, n) < 0) {
            fclose(f);
            return err_set(err, ERR_INVALID, NULL, "TLS file '%s' is too big",
                           path);
        }
    }
    fclose(f);
    if (!strstr(out->data, "-----BEGIN "))
        return err_set(err, ERR_INVALID, NULL, "TLS file '%s' is not PEM",
                       path);
    return 0;
}

/*
 * The acceptor. shoald accepts connections itself and hands each to MHD
 * with MHD_add_connection, which picks the worker from the socket number:
 * connections opened together get consecutive numbers and so land on
 * different workers. When MHD's workers accept for themselves, the first
 * to wake takes several new connections in a row (16 client connections
 * were seen spread over 5 of 8 workers), and a request that waits for its
 * group commit (db/dbgroup.c) holds up every other connection of its
 * worker: fewer requests reach a group, and each fsync carries fewer.
 */
static void *acceptor_main(void *arg)
{
    struct http_server *s = arg;
    struct pollfd pf[2];

    pf[0].fd = s->lfd;
    pf[0].events = POLLIN;
    pf[1].fd = s->stop_pipe[0];
    pf[1].events = POLLIN;
    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("listener poll failed service=%s errno=%d",
                      s->svc->name, errno);
            break;
        }
        if (pf[1].revents)
            break;
        for (int i = 0; i < 64; i++) {
            struct sockaddr_storage sa;
            socklen_t len = sizeof(sa);
            int fd = accept(s->lfd, (struct sockaddr *)&sa, &len);

            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                    errno == ENOMEM) {
                    log_warn("accept: out of descriptors service=%s",
                             s->svc->name);
                    poll(NULL, 0, 10); /* let connections close */
                }
                break; /* EAGAIN, ECONNABORTED, EINTR: back to poll */
            }
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            /* MHD makes it non-blocking, and closes it if it cannot take
             * it. */
            if (MHD_add_connection(s->d, fd, (struct sockaddr *)&sa, len) !=
                MHD_YES)
                log_warn("connection refused by the server service=%s",
                         s->svc->name);
        }
    }
    return NULL;
}

/* Bind and listen on host:port (0: any free port). */
static int listen_on(struct http_server *s, const char *host, int port,
                     struct err *err)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sa4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    int one = 1;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, host, &sa4->sin_addr) == 1) {
        sa4->sin_family = AF_INET;
        sa4->sin_port = htons((uint16_t)port);
        len = sizeof(*sa4);
    } else if (inet_pton(AF_INET6, host, &sa6->sin6_addr) == 1) {
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((uint16_t)port);
        len = sizeof(*sa6);
    } else {
        return err_set(err, ERR_INVALID, NULL,
                       "bad listen address '%s' (want an IP address)", host);
    }
    s->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);
    if (s->lfd < 0)
        return err_sys(err, "socket");
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(s->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(s->lfd, (struct sockaddr *)&ss, len) < 0 ||
        listen(s->lfd, 1024) < 0) {
        int e = errno;

        close(s->lfd);
        s->lfd = -1;
        errno = e;
        return err_set(err, ERR_IO, NULL,
                       "cannot listen on %s port %d for %s: %s", host, port,
                       s->svc->name, strerror(e));
    }
    len = sizeof(ss);
    if (getsockname(s->lfd, (struct sockaddr *)&ss, &len) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? sa6->sin6_port
                                                 : sa4->sin_port);
    return 0;
}

/* Stop accepting: end the acceptor and close the listening socket. */
static void stop_accepting(struct http_server *s)
{
    if (s->accepting) {
        char c = 0;

        if (write(s->stop_pipe[1], &c, 1) < 0)
            log_warn("acceptor stop write failed errno=%d", errno);
        pthread_join(s->acceptor, NULL);
        s->accepting = false;
    }
    if (s->lfd >= 0) {
        close(s->lfd);
        s->lfd = -1;
    }
    if (s->stop_pipe[0] >= 0) {
        close(s->stop_pipe[0]);
        close(s->stop_pipe[1]);
        s->stop_pipe[0] = s->stop_pipe[1] = -1;
    }
}

int http_server_start(const struct http_service *svc,
                      const struct http_server_opts *opts,
                      struct http_server **out, struct err *err)
{
    struct http_server *s = xcalloc(1, sizeof(*s));
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET |
                     MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls[3] = { { MHD_OPTION_END, 0, NULL },
                                     { MHD_OPTION_END, 0, NULL },
                                     { MHD_OPTION_END, 0, NULL } };
    int rc;

    s->svc = svc;
    s->opts = *opts;
    s->lfd = -1;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    buf_init(&s->tls_cert, 1u << 20);
    buf_init(&s->tls_key, 1u << 20);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    s->pool_tail = &s->pool_head;
    if (opts->tls_cert_file && opts->tls_cert_file[0]) {
        if (read_pem(opts->tls_cert_file, &s->tls_cert, err) < 0 ||
            read_pem(opts->tls_key_file ? opts->tls_key_file : "", &s->tls_key,
                     err) < 0) {
            rc = -ERR_INVALID;
            goto fail;
        }
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            rc = err_set(err, ERR_INVALID, NULL,
                         "libmicrohttpd was built without TLS: unset "
                         "tls.cert_file");
            goto fail;
        }
        flags |= MHD_USE_TLS;
        tls[0].option = MHD_OPTION_HTTPS_MEM_KEY;
        tls[0].ptr_value = s->tls_key.data;
        tls[1].option = MHD_OPTION_HTTPS_MEM_CERT;
        tls[1].ptr_value = s->tls_cert.data;
    }
    rc = listen_on(s, opts->host, opts->port, err);
    if (rc < 0)
        goto fail;
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)opts->threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)opts->idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)10000, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(32 * 1024), MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, s,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    if (!s->d) {
        rc = err_set(err, ERR_IO, NULL, "cannot start the %s server",
                     svc->name);
        goto fail;
    }
    if (pipe(s->stop_pipe) < 0 ||
        fcntl(s->stop_pipe[0], F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(s->stop_pipe[1], F_SETFD, FD_CLOEXEC) < 0) {
        rc = err_sys(err, "pipe");
        goto fail;
    }
    if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
        rc = err_set(err, ERR_IO, NULL, "cannot start the %s acceptor",
                     svc->name);
        goto fail;
    }
    if (opts->pool_threads > 0) {
        s->pool = xcalloc((size_t)opts->pool_threads, sizeof(*s->pool));
        for (; s->npool < (size_t)opts->pool_threads; s->npool++) {
            if (pthread_create(&s->pool[s->npool], NULL, pool_main, s) != 0) {
                rc = err_set(err, ERR_IO, NULL,
                             "cannot start the %s handler pool", svc->name);
                goto fail;
            }
        }
    }
    s->accepting = true;
    *out = s;
    return 0;
fail:
    stop_accepting(s);
    pool_stop(s);
    free(s->pool);
    if (s->d)
        MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->mu);
    buf_release(&s->tls_cert);
    buf_release(&s->tls_key);
    free(s);
    return rc;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

/*
 * Shutdown: wake every parked request with shutting_down set, so its
 * handler answers now instead of at its long-poll timeout; a request that
 * suspends from now on is woken at once the same way.
 */
static void resume_all(struct http_server *s)
{
    struct req_priv *p;

    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    for (p = s->suspended; p; p = p->snext) {
        pthread_mutex_lock(&p->mu);
        p->shutting_down = true;
        if (p->suspended) {
            p->suspended = false;
            MHD_resume_connection(p->conn);
        } else {
            p->resume_pending = true;
        }
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

void http_server_quiesce(struct http_server *s)
{
    stop_accepting(s);
    resume_all(s);
}

unsigned http_server_active(const struct http_server *s)
{
    return atomic_load(&s->active);
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    pool_stop(s); /* offloaded handlers finish and hand back first */
    resume_all(s);
    /* Give resumed handlers a moment to answer before the sockets close. */
    for (int i = 0; i < 100 && s->suspended; i++)
        usleep(10000);
    stop_accepting(s);
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->mu);
    buf_release(&s->tls_cert);
    buf_release(&s->tls_key);
    free(s);
}

/* ---- fake requests for unit tests --------------------------------------------- */

struct http_req *http_fake_new(const char *method, const char *target,
                               const char *const *headers)
{
    struct req_priv *p = priv_new(NULL, target);
    struct http_req *req = &p->req;

    req->method = method;
    for (size_t i = 0; headers && headers[i]; i++) {
        const char *c = strchr(headers[i], ':');
        const char *v;
        if (!c)
            continue;
        v = c + 1;
        while (*v == ' ')
            v++;
        p->fhdrs = xrealloc(p->fhdrs, (p->nfhdrs + 1) * sizeof(*p->fhdrs));
        p->fhdrs[p->nfhdrs].name = xstrndup(headers[i],
                                            (size_t)(c - headers[i]));
        p->fhdrs[p->nfhdrs].value = xstrdup(v);
        p->nfhdrs++;
    }
    {
        const char *cl = http_header(req, "Content-Length");
        if (cl) {
            char *end;
            req->length = strtoull(cl, &end, 10);
            req->has_length = end != cl && *end == '\0';
        }
    }
    return req;
}

void http_fake_run(struct http_req *req, const struct http_service *svc,
                   const char *body, size_t len)
{
    struct req_priv *p = priv_of(req);
    struct http_server fake;

    memset(&fake, 0, sizeof(fake));
    fake.svc = svc;
    p->server = &fake;
    req->svc = svc->ctx;
    req->service = svc;
    p->begun = true;
    svc->begin(req);
    buf_init(&req->body, req->body_max);
    if (!p->replied && len)
        feed_body(p, body, len);
    if (!p->replied)
        svc->end(req);
    /*
     * A handler waiting for another thread (http_wait): once that is
     * done (it may already be), end() again, as a resume would.
     */
    if (!p->replied && p->wait) {
        futex_wait_while(&p->wait->state, WAIT_PENDING);
        svc->end(req);
    }
    if (svc->done)
        svc->done(req);
    p->server = NULL;
}

int http_fake_status(struct http_req *req)
{
    return priv_of(req)->replied ? priv_of(req)->status : 0;
}

const char *http_fake_body(struct http_req *req)
{
    return priv_of(req)->body.data;
}

const char *http_fake_resp_header(struct http_req *req, const char *name)
{
    struct req_priv *p = priv_of(req);

    for (size_t i = 0; i < p->nhdrs; i++) {
        if (strcasecmp(p->hdrs[i].name, name) == 0)
            return p->hdrs[i].value;
    }
    return NULL;
}

void http_fake_free(struct http_req *req)
{
    if (req)
        priv_free(priv_of(req));
}
