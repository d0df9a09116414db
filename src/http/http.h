#ifndef SHOAL_HTTP_H
#define SHOAL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/err.h"

/*
 * The HTTP server glue over libmicrohttpd (see http.c for the design note).
 *
 * A listener serves one struct http_service. For each request, http builds a
 * struct http_req (raw path, decoded query, request id), then calls:
 *
 *   begin(req)   headers are in. The handler may reply at once (errors,
 *                GET, HEAD: the body, if any, is then not read), or
 *                prepare for a body: by default http buffers it into
 *                req->body up to req->body_max (default 1 MiB) and answers
 *                413 past that; a handler that streams sets req->sink.
 *   end(req)     the whole body has arrived. The handler must reply, or
 *                call http_suspend() and reply later from end(), which http
 *                calls again after http_resume().
 *   done(req)    optional; the request is over (replied and sent, or the
 *                client went away: req->aborted). Free req->state here.
 *
 * Threads: begin/end/sink/done run on the listener's worker threads (many
 * at once, one request at a time per thread). http_resume() may be called
 * from any thread.
 *
 * Borrowed pointers: header values, path, query and params live until
 * done() returns; copy what must outlive the request.
 */
struct http_req;

struct http_service {
    const char *name; /* "blob", "queue", "batch": for logs */
    void *ctx;        /* the service's context, as req->svc */
    void (*begin)(struct http_req *req);
    void (*end)(struct http_req *req);
    void (*done)(struct http_req *req);
};

struct http_param {
    char *name;  /* decoded */
    char *value; /* decoded (%XX only; '+' stays '+') */
};

struct http_req {
    /* Set by http before begin(). */
    const char *method;     /* "GET", "PUT", ... as sent */
    char *path;             /* raw path as sent, percent-encoded, no query */
    char *query;            /* raw query without '?', "" if none */
    struct http_param *params;
    size_t nparams;
    char id[40];            /* request id, a uuid */
    char client_ip[64];
    bool has_length;        /* Content-Length was sent */
    uint64_t length;        /* its value */
    void *svc;              /* struct http_service.ctx */
    const struct http_service *service;

    /* Set by the handler. */
    void *state;            /* per-request handler state, freed in done() */
    size_t body_max;        /* buffered body limit (default 1 MiB) */
    /*
     * Streaming body: called for each chunk instead of buffering. Return 0,
     * or a negative err code after filling req->err; http then replies with
     * req->on_error (set by the handler at begin) and drops the rest.
     */
    int (*sink)(struct http_req *req, const char *data, size_t len);
    void (*on_error)(struct http_req *req, const struct err *err);

    /* Filled by http. */
    struct buf body;        /* buffered body (when no sink) */
    uint64_t received;      /* body bytes seen so far */
    bool body_too_big;      /* buffered body passed body_max */
    bool aborted;           /* in done(): the client went away / not sent */
    struct err err;         /* scratch for sink errors */

    /* Private to http. */
    void *priv;
};

/*
 * Request accessors. http_header: case-insensitive name, first value, NULL
 * if absent. http_param: case-insensitive name, decoded value, NULL if
 * absent. http_header_each: every header, in arrival order.
 */
const char *http_header(struct http_req *req, const char *name);
const char *http_param(struct http_req *req, const char *name);
void http_header_each(struct http_req *req,
                      void (*fn)(void *ctx, const char *name,
                                 const char *value),
                      void *ctx);

/*
 * Responses. Headers added before the reply are sent with it (name and value
 * are copied). A request gets exactly one reply; http adds Date,
 * Content-Length and the service's request-id header itself.
 *
 * http_reply: body may be NULL (no body); its bytes are taken (b is left
 * empty). content_type may be NULL.
 * http_reply_fd: sends len bytes of fd from off with sendfile; fd is taken
 * (closed by http). For HEAD, pass the length the GET would send: http sends
 * headers with that Content-Length and no body.
 * http_reply_stream: chunked body produced by read(); it returns bytes
 * written into out (<= max), 0 when it has nothing yet (it must then have
 * called http_suspend, or it will be called again soon), or -1 at the end.
 */
void http_add_header(struct http_req *req, const char *name,
                     const char *value);
void http_reply(struct http_req *req, int status, const char *content_type,
                struct buf *body);
void http_reply_fd(struct http_req *req, int status, int fd, uint64_t off,
                   uint64_t len);
void http_reply_stream(struct http_req *req, int status,
                       const char *content_type,
                       ssize_t (*read)(void *ctx, uint64_t pos, char *out,
                                       size_t max),
                       void *ctx, void (*free_ctx)(void *ctx));
bool http_replied(struct http_req *req);
bool http_is_head(struct http_req *req);

/*
 * Long-poll support: http_suspend() (from begin/end or a stream read only)
 * parks the request; http_resume() wakes it and end() (or the stream read)
 * runs again. A suspended request must be resumed eventually; http resumes
 * all on shutdown with req->shutting_down set.
 */
void http_suspend(struct http_req *req);
void http_resume(struct http_req *req);
bool http_shutting_down(struct http_req *req);

/*
 * Waiting for another thread without holding the worker (a write handed
 * to a group commit, dbgroup_submit). In end():
 *
 *     if (st->wait.req) {                     // end() again: resumed
 *         if (http_wait_pending(req, &st->wait))
 *             return;                         // not yet: parked again
 *         reply ...; return;
 *     }
 *     ... checks ...
 *     http_wait_start(req, &st->wait);        // parks the request
 *     hand the work over; its thread ends with http_wait_done(&st->wait)
 *
 * http_wait_done may come from any thread, before or after end() returns;
 * nothing of w may be touched by that thread after it. done() calls
 * http_wait_drain(w) before freeing what the other thread uses: at
 * shutdown a request can be over before its work is. A zeroed http_wait
 * is "not started" (drain returns at once).
 */
struct http_wait {
    struct http_req *req; /* set by http_wait_start */
    _Atomic int state;    /* private */
};
void http_wait_start(struct http_req *req, struct http_wait *w);
void http_wait_done(struct http_wait *w);
bool http_wait_pending(struct http_req *req, struct http_wait *w);
void http_wait_drain(struct http_wait *w);

/*
 * Run fn(req) on the listener's handler pool instead of the worker thread
 * (from end() only): for handlers that wait on the disk or on a commit,
 * so that the worker goes on serving its other connections. fn replies as
 * end() would (it must reply; it must not suspend); the reply is sent once
 * fn returns. Without a pool (opts.pool_threads 0, fake requests) fn runs
 * at once.
 */
void http_offload(struct http_req *req, void (*fn)(struct http_req *req));

/*
 * Error replies in each service's own format. Storage: XML
 * <Error><Code/><Message/>(details)</Error>, x-ms-error-code, no body for
 * HEAD and 304. Batch: OData JSON {"odata.metadata", "code",
 * "message":{"lang","value"}, "values":[{key,value}]}. The status comes from
 * err_http_status(err->code).
 */
void http_reply_storage_error(struct http_req *req, const struct err *err);
void http_reply_batch_error(struct http_req *req, const struct err *err);

/*
 * For unit tests: a request that no socket carries. target is the raw
 * "path?query"; headers is a NULL-terminated list of "Name: value" strings;
 * client_ip "127.0.0.1". Replies are captured: http_fake_status() and
 * http_fake_body() (borrowed) read them back. Free with http_fake_free().
 */
struct http_req *http_fake_new(const char *method, const char *target,
                               const char *const *headers);
/* Feed a body to a fake request and run its service's begin/end. */
void http_fake_run(struct http_req *req, const struct http_service *svc,
                   const char *body, size_t len);
int http_fake_status(struct http_req *req);
const char *http_fake_body(struct http_req *req);
const char *http_fake_resp_header(struct http_req *req, const char *name);
void http_fake_free(struct http_req *req);

/* Listener lifecycle (shoald's main). */
struct http_server;
/*
 * The flavour decides the standard headers on every reply. Storage:
 * x-ms-request-id, x-ms-version (echoed), x-ms-client-request-id (echoed),
 * Server. Batch: request-id, client-request-id (echoed),
 * DataServiceVersion: 3.0.
 */
enum http_flavor { HTTP_STORAGE, HTTP_BATCH };

struct http_server_opts {
    const char *host;        /* bind address, e.g. "127.0.0.1" */
    int port;                /* 0 = pick a free one */
    int threads;             /* worker threads (MHD's, one epoll each) */
    int pool_threads;        /* handler pool for http_offload; 0: none */
    int idle_timeout_s;      /* connection idle timeout */
    enum http_flavor flavor;
    /*
     * HTTPS (libmicrohttpd over GnuTLS) when both are set: PEM files of
     * the certificate (chain) and its private key, read once at start.
     * A file that cannot be read or parsed fails the start with
     * -ERR_INVALID naming it.
     */
    const char *tls_cert_file;
    const char *tls_key_file;
};
int http_server_start(const struct http_service *svc,
                      const struct http_server_opts *opts,
                      struct http_server **out, struct err *err);
int http_server_port(const struct http_server *s);
/* Stop accepting new connections (in-flight ones continue). */
void http_server_quiesce(struct http_server *s);
/* Requests in flight. */
unsigned http_server_active(const struct http_server *s);
/* Resume all suspended requests (shutdown), then stop and free. */
void http_server_stop(struct http_server *s);

#endif
