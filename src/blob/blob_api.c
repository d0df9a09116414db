/*
 * blob_api.c: the blob service over HTTP: entry points (blob.h), routing,
 * authentication and authorisation, and the blob-level operations. The
 * service- and container-level operations live in container_api.c; the
 * store (blob_store.c and friends) does all SQL and file work. This file
 * parses requests and renders replies, nothing else.
 *
 * Request flow (struct blob_req in req->state, begin to done):
 *
 *   begin   split the path (/account/container/blob), route (method,
 *           level, restype, comp, x-ms-copy-source) to an operation,
 *           authenticate (auth_storage: SharedKey / SharedKeyLite / SAS),
 *           authorise (below), validate names, then prepare the body:
 *           a Put Blob of at most 64 KiB is buffered (its bytes go into
 *           SQLite with its row, see blob_store.c); larger Put Blob,
 *           Put Block and Append Block open a temp file and stream the
 *           body into it through req->sink, computing MD5 (or CRC-64 for
 *           blocks) on the way and starting disk writeback every 8 MiB;
 *           XML bodies are buffered with a limit. Any failure here is
 *           answered at once, before a body byte is read.
 *   end     the body is in: run the operation and reply. Uploads verify
 *           the digest, publish the file (fsync, rename), commit through
 *           the store (group commit, fsync of the WAL) and only then answer
 *           2xx: durable before acknowledged. Append Block copies its temp
 *           file onto the end of the blob's (blob_object_append). A worker
 *           serves many connections, so end never waits on the worker
 *           (on_end): reads run there, a small Put Blob parks the request
 *           while its commit runs (put_blob_end, http_wait), everything
 *           else runs on the handler pool (http_offload).
 *   done    free the state; a temp file that was never published (client
 *           gone mid-upload, digest mismatch, error) is removed.
 *
 * Authorisation, per operation (table `ops`): a SAS must carry one of the
 * operation's permission letters (storage-wire.md §4), the right
 * resource type for an account SAS ('s' service, 'c' container, 'o'
 * blob), and a service SAS may not touch service-level or container
 * administration (create, delete, metadata, ACL). A service SAS with si
 * takes st/se/sp from the container's stored access policy. A SAS without
 * 'w' may create a blob but not overwrite one (create_only). Anonymous
 * requests reach only public containers: "blob" access allows reading
 * blobs, "container" access also listing and container properties;
 * anything else is 404 ResourceNotFound, as Azure answers (Azurite
 * answers 403), so a private container's existence is not revealed.
 *
 * Reads: Get Blob looks the blob up and opens its file (or copies its
 * inline bytes) in one critical section (blob_object_get), then sends the
 * file with sendfile (http_reply_fd), so a concurrent overwrite cannot mix
 * versions. HEAD replies carry the same body object (not sent), which is
 * how Content-Length comes out right.
 *
 * Threads: begin/end/done run on the listener's worker threads, many at
 * once, and end also on its handler pool; a parked Put Blob's commit
 * finishes on the group commit's thread. struct blob_service is read-only
 * after open.
 */
#include "blob/blob.h"
#include "blob/blobint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"
#include "core/xml.h"
#include "db/db.h"
#include "http/http.h"

#define XML_BODY_MAX   (8u << 20) /* a 50,000-entry block list fits */
#define SMALL_BODY_MAX (64u << 10)
#define MD5_CHUNK      (64u << 10)

struct blob_service {
    struct http_service http;
    const struct config *cfg;
    const struct auth *auth;
    struct blob_store *store;
};

enum level { LEVEL_SERVICE, LEVEL_CONTAINER, LEVEL_BLOB };

/* How an operation is authorised and run. */
struct op_info {
    const char *name;
    char restype;      /* account SAS srt: 's', 'c', 'o'; 0: by level */
    const char *perms; /* SAS letters, any one suffices; NULL: none */
    bool service_sas;  /* a service SAS may call it */
    int anon;          /* 0 never, else the public access level needed */
    void (*begin)(struct blob_req *r, struct err *e, int *rc);
    void (*end)(struct blob_req *r);
};

static void put_blob_begin(struct blob_req *r, struct err *e, int *rc);
static void put_block_begin(struct blob_req *r, struct err *e, int *rc);
static void xml_body_begin(struct blob_req *r, struct err *e, int *rc);
static void small_body_begin(struct blob_req *r, struct err *e, int *rc);
static void put_blob_end(struct blob_req *r);
static void put_block_end(struct blob_req *r);
static void put_block_list_end(struct blob_req *r);
static void append_block_begin(struct blob_req *r, struct err *e, int *rc);
static void append_block_end(struct blob_req *r);
static void copy_blob_end(struct blob_req *r);
static void get_block_list_end(struct blob_req *r);
static void get_blob_end(struct blob_req *r);
static void set_props_end(struct blob_req *r);
static void set_meta_end(struct blob_req *r);
static void delete_blob_end(struct blob_req *r);
static void blob_lease_end(struct blob_req *r);

static const struct op_info ops[BLOB_OP_COUNT] = {
    [BLOB_OP_LIST_CONTAINERS] = { "ListContainers", 's', "l", false, 0, NULL,
                                  container_api_list_containers },
    [BLOB_OP_GET_SERVICE_PROPS] = { "GetServiceProperties", 's', "r", false, 0,
                                    NULL, container_api_service_props },
    [BLOB_OP_SET_SERVICE_PROPS] = { "SetServiceProperties", 's', "w", false, 0,
                                    small_body_begin,
                                    container_api_service_props },
    [BLOB_OP_SERVICE_STATS] = { "GetServiceStats", 's', "r", false, 0, NULL,
                                container_api_service_props },
    [BLOB_OP_ACCOUNT_INFO] = { "GetAccountInfo", 0, NULL, true, 0, NULL,
                               container_api_account_info },
    [BLOB_OP_CREATE_CONTAINER] = { "CreateContainer", 'c', "cw", false, 0, NULL,
                                   container_api_create },
    [BLOB_OP_GET_CONTAINER_PROPS] = { "GetContainerProperties", 'c', "r", true,
                                      BLOB_ACCESS_CONTAINER, NULL,
                                      container_api_get_props },
    [BLOB_OP_DELETE_CONTAINER] = { "DeleteContainer", 'c', "d", false, 0, NULL,
                                   container_api_delete },
    [BLOB_OP_SET_CONTAINER_META] = { "SetContainerMetadata", 'c', "w", false, 0,
                                     NULL, container_api_set_meta },
    [BLOB_OP_GET_CONTAINER_ACL] = { "GetContainerAcl", 'c', "r", false, 0, NULL,
                                    container_api_get_acl },
    [BLOB_OP_SET_CONTAINER_ACL] = { "SetContainerAcl", 'c', "w", false, 0,
                                    small_body_begin, container_api_set_acl },
    [BLOB_OP_CONTAINER_LEASE] = { "LeaseContainer", 'c', "w", true, 0, NULL,
                                  container_api_lease },
    [BLOB_OP_LIST_BLOBS] = { "ListBlobs", 'c', "l", true, BLOB_ACCESS_CONTAINER,
                             NULL, container_api_list_blobs },
    [BLOB_OP_PUT_BLOB] = { "PutBlob", 'o', "cw", true, 0, put_blob_begin,
                           put_blob_end },
    [BLOB_OP_COPY_BLOB] = { "CopyBlob", 'o', "cw", true, 0, NULL,
                            copy_blob_end },
    [BLOB_OP_PUT_BLOCK] = { "PutBlock", 'o', "cw", true, 0, put_block_begin,
                            put_block_end },
    [BLOB_OP_PUT_BLOCK_LIST] = { "PutBlockList", 'o', "cw", true, 0,
                                 xml_body_begin, put_block_list_end },
    [BLOB_OP_APPEND_BLOCK] = { "AppendBlock", 'o', "aw", true, 0,
                               append_block_begin, append_block_end },
    [BLOB_OP_GET_BLOCK_LIST] = { "GetBlockList", 'o', "r", true,
                                 BLOB_ACCESS_BLOB, NULL, get_block_list_end },
    [BLOB_OP_GET_BLOB] = { "GetBlob", 'o', "r", true, BLOB_ACCESS_BLOB, NULL,
                           get_blob_end },
    [BLOB_OP_SET_BLOB_PROPS] = { "SetBlobProperties", 'o', "w", true, 0, NULL,
                                 set_props_end },
    [BLOB_OP_GET_BLOB_META] = { "GetBlobMetadata", 'o', "r", true,
                                BLOB_ACCESS_BLOB, NULL, get_blob_end },
    [BLOB_OP_SET_BLOB_META] = { "SetBlobMetadata", 'o', "w", true, 0, NULL,
                                set_meta_end },
    [BLOB_OP_DELETE_BLOB] = { "DeleteBlob", 'o', "d", true, 0, NULL,
                              delete_blob_end },
    [BLOB_OP_BLOB_LEASE] = { "LeaseBlob", 'o', "w", true, 0, NULL,
                             blob_lease_end },
};

/* ---- shared helpers ------------------------------------------------------ */

void blob_api_reply_error(struct blob_req *r, const struct err *e)
{
    if (e->code == ERR_IO || e->code == ERR_INTERNAL || e->code == ERR_NOMEM)
        log_error("blob request failed op=%s code=%s msg=%s", ops[r->op].name,
                  e->svc, e->msg);
    else
        log_debug("blob request refused op=%s status=%d code=%s msg=%s",
                  ops[r->op].name, err_http_status(e->code), e->svc, e->msg);
    http_reply_storage_error(r->req, e);
}

static int bad_header(struct err *e, const char *name, const char *value)
{
    err_set(e, ERR_INVALID, "InvalidHeaderValue",
            "the value for header '%s' is not in the correct format", name);
    err_add_detail(e, "HeaderName", name);
    err_add_detail(e, "HeaderValue", value ? value : "");
    return -ERR_INVALID;
}

static int bad_param(struct err *e, const char *name, const char *value)
{
    err_set(e, ERR_INVALID, "InvalidQueryParameterValue",
            "value for query parameter '%s' is not valid", name);
    err_add_detail(e, "QueryParameterName", name);
    err_add_detail(e, "QueryParameterValue", value ? value : "");
    return -ERR_INVALID;
}

int blob_api_parse_cond(struct blob_req *r, struct blob_cond *c, struct err *e)
{
    struct http_req *req = r->req;

    return blob_cond_parse(http_header(req, "If-Match"),
                           http_header(req, "If-None-Match"),
                           http_header(req, "If-Modified-Since"),
                           http_header(req, "If-Unmodified-Since"), c, e);
}

struct meta_ctx {
    struct buf *out;
    struct err *e;
    int rc;
};

static void meta_each(void *arg, const char *name, const char *value)
{
    struct meta_ctx *m = arg;

    if (m->rc < 0 || strncasecmp(name, "x-ms-meta-", 10) != 0)
        return;
    m->rc = blob_names_meta_add(m->out, name + 10, value, m->e);
}

int blob_api_parse_meta(struct blob_req *r, struct buf *out, struct err *e)
{
    struct meta_ctx m = { out, e, 0 };

    http_header_each(r->req, meta_each, &m);
    return m.rc;
}

void blob_api_add_meta(struct blob_req *r, const char *meta)
{
    const char *n, *v;
    size_t nl, vl, pos = 0;
    char name[300];

    while (blob_names_meta_next(meta, &pos, &n, &nl, &v, &vl)) {
        char *value = xstrndup(v, vl);

        snprintf(name, sizeof(name), "x-ms-meta-%.*s", (int)nl, n);
        http_add_header(r->req, name, value);
        free(value);
    }
}

void blob_api_add_time(struct blob_req *r, const char *name, int64_t ms)
{
    char t[TIMEFMT_RFC1123_LEN];

    timefmt_rfc1123(ms, t);
    http_add_header(r->req, name, t);
}

void blob_api_add_etag(struct blob_req *r, uint64_t etag, int64_t mtime_ms)
{
    char tag[24];

    blob_cond_etag(etag, tag);
    http_add_header(r->req, "ETag", tag);
    blob_api_add_time(r, "Last-Modified", mtime_ms);
}

void blob_api_add_lease(struct blob_req *r, const struct blob_lease *l,
                        int64_t now_ms)
{
    enum blob_lease_state s = blob_lease_effective(l, now_ms);
    const char *d = blob_lease_duration_str(l, s);

    http_add_header(r->req, "x-ms-lease-state", blob_lease_state_str(s));
    http_add_header(r->req, "x-ms-lease-status", blob_lease_status_str(s));
    if (d)
        http_add_header(r->req, "x-ms-lease-duration", d);
}

void blob_api_endpoint(struct blob_req *r, struct buf *b)
{
    const char *host = http_header(r->req, "Host");

    buf_adds(b, "http://");
    xml_escape(b, host ? host : "127.0.0.1", strlen(host ? host : "127.0.0.1"));
    buf_addc(b, '/');
    xml_escape(b, r->path.account, strlen(r->path.account));
}

int blob_api_parse_lease(struct blob_req *r, struct blob_lease_req *rq,
                         struct err *e)
{
    struct http_req *req = r->req;
    const char *a = http_header(req, "x-ms-lease-action");
    const char *v;

    memset(rq, 0, sizeof(*rq));
    if (!a) {
        err_set(e, ERR_INVALID, "MissingRequiredHeader",
                "header 'x-ms-lease-action' is required");
        err_add_detail(e, "HeaderName", "x-ms-lease-action");
        return -ERR_INVALID;
    }
    if (str_ieq(a, "acquire"))
        rq->action = BLOB_LEASE_ACQUIRE;
    else if (str_ieq(a, "renew"))
        rq->action = BLOB_LEASE_RENEW;
    else if (str_ieq(a, "change"))
        rq->action = BLOB_LEASE_CHANGE;
    else if (str_ieq(a, "release"))
        rq->action = BLOB_LEASE_RELEASE;
    else if (str_ieq(a, "break"))
        rq->action = BLOB_LEASE_BREAK;
    else
        return bad_header(e, "x-ms-lease-action", a);
    rq->lease_id = http_header(req, "x-ms-lease-id");
    if (rq->lease_id && !blob_lease_id_ok(rq->lease_id))
        return bad_header(e, "x-ms-lease-id", rq->lease_id);
    rq->proposed_id = http_header(req, "x-ms-proposed-lease-id");
    if (rq->proposed_id && !blob_lease_id_ok(rq->proposed_id))
        return bad_header(e, "x-ms-proposed-lease-id", rq->proposed_id);
    if (rq->action == BLOB_LEASE_ACQUIRE) {
        v = http_header(req, "x-ms-lease-duration");
        if (!v || parse_i64(v, -1, 60, &rq->duration_s) < 0 ||
            (rq->duration_s != -1 && rq->duration_s < 15))
            return bad_header(e, "x-ms-lease-duration", v);
    }
    if (rq->action == BLOB_LEASE_BREAK) {
        v = http_header(req, "x-ms-lease-break-period");
        if (v) {
            if (parse_i64(v, 0, 60, &rq->break_period_s) < 0)
                return bad_header(e, "x-ms-lease-break-period", v);
            rq->has_break_period = true;
        }
    }
    return 0;
}

/* x-ms-lease-id of an ordinary operation: NULL or a GUID. */
static int lease_id_header(struct blob_req *r, const char **out, struct err *e)
{
    const char *v = http_header(r->req, "x-ms-lease-id");

    if (v && !blob_lease_id_ok(v))
        return bad_header(e, "x-ms-lease-id", v);
    *out = v;
    return 0;
}

static int parse_md5(const char *name, const char *v,
                     unsigned char out[CRYPTO_MD5_LEN], struct err *e)
{
    struct buf b = BUF_INIT;
    int rc = 0;

    buf_init(&b, 64);
    if (codec_base64_decode(&b, v, strlen(v)) < 0 || b.len != CRYPTO_MD5_LEN) {
        err_set(e, ERR_INVALID, "InvalidMd5",
                "the md5 value specified in the request is invalid; it must "
                "be 128 bits and base64-encoded");
        err_add_detail(e, "HeaderName", name);
        err_add_detail(e, "HeaderValue", v);
        rc = -ERR_INVALID;
    } else {
        memcpy(out, b.data, CRYPTO_MD5_LEN);
    }
    buf_release(&b);
    return rc;
}

static void add_md5(struct blob_req *r, const char *name,
                    const unsigned char md5[CRYPTO_MD5_LEN])
{
    struct buf b = BUF_INIT;

    codec_base64_encode(&b, md5, CRYPTO_MD5_LEN);
    http_add_header(r->req, name, b.data);
    buf_release(&b);
}

static void add_crc64(struct blob_req *r, uint64_t crc)
{
    unsigned char le[8];
    struct buf b = BUF_INIT;

    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(crc >> (8 * i));
    codec_base64_encode(&b, le, sizeof(le));
    http_add_header(r->req, "x-ms-content-crc64", b.data);
    buf_release(&b);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/*
 * Content settings of a write. std: also take the standard headers
 * (Put Blob reads Content-Type etc. when x-ms-blob-content-* is absent).
 */
static int parse_content(struct blob_req *r, struct blob_content *c, bool std,
                         struct err *e)
{
    struct http_req *req = r->req;
    const char *v;

    memset(c, 0, sizeof(*c));
    v = http_header(req, "x-ms-blob-content-type");
    c->type = dup_or_null(v     ? v
                          : std ? http_header(req, "Content-Type")
                                : NULL);
    v = http_header(req, "x-ms-blob-content-encoding");
    c->encoding = dup_or_null(v     ? v
                              : std ? http_header(req, "Content-Encoding")
                                    : NULL);
    v = http_header(req, "x-ms-blob-content-language");
    c->language = dup_or_null(v     ? v
                              : std ? http_header(req, "Content-Language")
                                    : NULL);
    v = http_header(req, "x-ms-blob-cache-control");
    c->cache_control = dup_or_null(v     ? v
                                   : std ? http_header(req, "Cache-Control")
                                         : NULL);
    v = http_header(req, "x-ms-blob-content-disposition");
    c->disposition = dup_or_null(v     ? v
                                 : std ? http_header(req, "Content-Disposition")
                                       : NULL);
    v = http_header(req, "x-ms-blob-content-md5");
    if (v && v[0]) {
        if (parse_md5("x-ms-blob-content-md5", v, c->md5, e) < 0) {
            blob_content_release(c);
            return -ERR_INVALID;
        }
        c->has_md5 = true;
    }
    return 0;
}

/* Read the conditions and lease id of a write. */
static int parse_wcond(struct blob_req *r, struct blob_cond *c,
                       struct blob_wcond *wc, struct err *e)
{
    int rc = blob_api_parse_cond(r, c, e);

    if (rc < 0)
        return rc;
    wc->cond = c;
    return lease_id_header(r, &wc->lease_id, e);
}

/* ---- routing ------------------------------------------------------------- */

static int unsupported_verb(struct err *e, const char *method)
{
    return err_set(e, ERR_METHOD, "UnsupportedHttpVerb",
                   "the resource doesn't support the specified http verb "
                   "'%s'",
                   method);
}

static int not_implemented(struct err *e, const char *what)
{
    return err_set(e, ERR_NOTIMPL, "NotImplemented",
                   "%s is not implemented by shoal", what);
}

static bool is(const char *a, const char *b)
{
    return a && str_ieq(a, b);
}

static int route_service(struct http_req *req, const char *m,
                         const char *restype, const char *comp,
                         enum blob_op *op, struct err *e)
{
    bool get = strcmp(m, "GET") == 0, head = strcmp(m, "HEAD") == 0;

    if (is(comp, "list") && !restype) {
        if (!get)
            return unsupported_verb(e, m);
        *op = BLOB_OP_LIST_CONTAINERS;
        return 0;
    }
    if (is(restype, "service") && is(comp, "properties")) {
        if (get) {
            *op = BLOB_OP_GET_SERVICE_PROPS;
            return 0;
        }
        if (strcmp(m, "PUT") == 0) {
            *op = BLOB_OP_SET_SERVICE_PROPS;
            return 0;
        }
        return unsupported_verb(e, m);
    }
    if (is(restype, "service") && is(comp, "stats") && get) {
        *op = BLOB_OP_SERVICE_STATS;
        return 0;
    }
    if (is(restype, "account") && is(comp, "properties") && (get || head)) {
        *op = BLOB_OP_ACCOUNT_INFO;
        return 0;
    }
    if (comp && (is(comp, "batch") || is(comp, "userdelegationkey") ||
                 is(comp, "blobs")))
        return not_implemented(e, "this service operation");
    (void)req;
    return bad_param(e, comp ? "comp" : "restype", comp ? comp : restype);
}

static int route_container(const char *m, const char *comp, enum blob_op *op,
                           struct err *e)
{
    bool get = strcmp(m, "GET") == 0, head = strcmp(m, "HEAD") == 0;
    bool put = strcmp(m, "PUT") == 0, del = strcmp(m, "DELETE") == 0;

    if (!comp) {
        if (put)
            *op = BLOB_OP_CREATE_CONTAINER;
        else if (get || head)
            *op = BLOB_OP_GET_CONTAINER_PROPS;
        else if (del)
            *op = BLOB_OP_DELETE_CONTAINER;
        else
            return unsupported_verb(e, m);
    } else if (is(comp, "metadata")) {
        if (put)
            *op = BLOB_OP_SET_CONTAINER_META;
        else if (get || head)
            *op = BLOB_OP_GET_CONTAINER_PROPS;
        else
            return unsupported_verb(e, m);
    } else if (is(comp, "acl")) {
        if (put)
            *op = BLOB_OP_SET_CONTAINER_ACL;
        else if (get || head)
            *op = BLOB_OP_GET_CONTAINER_ACL;
        else
            return unsupported_verb(e, m);
    } else if (is(comp, "lease")) {
        if (!put)
            return unsupported_verb(e, m);
        *op = BLOB_OP_CONTAINER_LEASE;
    } else if (is(comp, "list")) {
        if (!get)
            return unsupported_verb(e, m);
        *op = BLOB_OP_LIST_BLOBS;
    } else if (is(comp, "batch") || is(comp, "blobs") || is(comp, "rename") ||
               is(comp, "undelete")) {
        return not_implemented(e, "this container operation");
    } else {
        return bad_param(e, "comp", comp);
    }
    return 0;
}

static int route_blob(struct http_req *req, const char *m, const char *comp,
                      enum blob_op *op, struct err *e)
{
    bool get = strcmp(m, "GET") == 0, head = strcmp(m, "HEAD") == 0;
    bool put = strcmp(m, "PUT") == 0, del = strcmp(m, "DELETE") == 0;

    if (!comp) {
        if (put) {
            *op = http_header(req, "x-ms-copy-source") ? BLOB_OP_COPY_BLOB
                                                       : BLOB_OP_PUT_BLOB;
        } else if (get || head) {
            *op = BLOB_OP_GET_BLOB;
        } else if (del) {
            *op = BLOB_OP_DELETE_BLOB;
        } else {
            return unsupported_verb(e, m);
        }
    } else if (is(comp, "block")) {
        if (!put)
            return unsupported_verb(e, m);
        if (http_header(req, "x-ms-copy-source"))
            return not_implemented(e, "put block from url");
        *op = BLOB_OP_PUT_BLOCK;
    } else if (is(comp, "blocklist")) {
        if (put)
            *op = BLOB_OP_PUT_BLOCK_LIST;
        else if (get || head)
            *op = BLOB_OP_GET_BLOCK_LIST;
        else
            return unsupported_verb(e, m);
    } else if (is(comp, "properties")) {
        if (!put)
            return unsupported_verb(e, m);
        *op = BLOB_OP_SET_BLOB_PROPS;
    } else if (is(comp, "metadata")) {
        if (put)
            *op = BLOB_OP_SET_BLOB_META;
        else if (get || head)
            *op = BLOB_OP_GET_BLOB_META;
        else
            return unsupported_verb(e, m);
    } else if (is(comp, "lease")) {
        if (!put)
            return unsupported_verb(e, m);
        *op = BLOB_OP_BLOB_LEASE;
    } else if (is(comp, "appendblock")) {
        if (!put)
            return unsupported_verb(e, m);
        if (http_header(req, "x-ms-copy-source"))
            return not_implemented(e, "append block from url");
        *op = BLOB_OP_APPEND_BLOCK;
    } else if (is(comp, "copy") || is(comp, "tier") || is(comp, "snapshot") ||
               is(comp, "tags") || is(comp, "page") || is(comp, "pagelist") ||
               is(comp, "undelete") || is(comp, "expiry") ||
               is(comp, "immutabilityPolicies") || is(comp, "legalhold") ||
               is(comp, "query") || is(comp, "seal")) {
        return not_implemented(e, "this blob operation");
    } else {
        return bad_param(e, "comp", comp);
    }
    return 0;
}

static enum level path_level(const struct blob_path *p)
{
    if (!p->container)
        return LEVEL_SERVICE;
    return p->blob ? LEVEL_BLOB : LEVEL_CONTAINER;
}

static int route(struct blob_req *r, struct err *e)
{
    struct http_req *req = r->req;
    const char *m = req->method;
    const char *restype = http_param(req, "restype");
    const char *comp = http_param(req, "comp");

    if (restype && !restype[0])
        restype = NULL;
    if (comp && !comp[0])
        comp = NULL;
    switch (path_level(&r->path)) {
    case LEVEL_SERVICE:
        return route_service(req, m, restype, comp, &r->op, e);
    case LEVEL_CONTAINER:
        if (is(restype, "account") && is(comp, "properties"))
            return route_service(req, m, restype, comp, &r->op, e);
        if (is(restype, "container"))
            return route_container(m, comp, &r->op, e);
        if (restype)
            return bad_param(e, "restype", restype);
        /* /account/name without restype: a blob in $root. */
        r->path.blob = r->path.container;
        r->path.blob_len = strlen(r->path.blob);
        r->path.container = xstrdup("$root");
        return route_blob(req, m, comp, &r->op, e);
    case LEVEL_BLOB:
    default:
        if (is(restype, "account") && is(comp, "properties"))
            return route_service(req, m, restype, comp, &r->op, e);
        return route_blob(req, m, comp, &r->op, e);
    }
}

/* ---- authorisation ------------------------------------------------------- */

static int resource_not_found(struct err *e)
{
    return err_set(e, ERR_NOTFOUND, "ResourceNotFound",
                   "the specified resource does not exist");
}

static int apply_policy(struct blob_req *r, struct err *e)
{
    struct blob_policy p;

    if (!r->path.container ||
        blob_container_policy(r->store, r->path.account, r->path.container,
                              r->auth.sas.si, &p) < 0)
        return err_set(e, ERR_AUTH, "AuthenticationFailed",
                       "the stored access policy '%s' was not found",
                       r->auth.sas.si);
    return auth_sas_apply_policy(&r->auth, p.has_start, p.start_ms,
                                 p.has_expiry, p.expiry_ms, p.perms, e);
}

static int authorize(struct blob_req *r, struct err *e)
{
    const struct op_info *op = &ops[r->op];
    struct http_req *req = r->req;
    enum level lv = path_level(&r->path);
    char restype = op->restype;
    int rc;

    rc = auth_storage(r->svc->auth, req, AUTH_BLOB, r->path.account,
                      r->path.container, r->path.blob, &r->auth, e);
    if (rc < 0)
        return rc;
    if (!restype)
        restype = lv == LEVEL_SERVICE ? 's' : lv == LEVEL_CONTAINER ? 'c' : 'o';
    switch (r->auth.kind) {
    case AUTH_SHAREDKEY:
        return 0;
    case AUTH_SAS_SERVICE:
        if (!op->service_sas)
            return err_set(e, ERR_AUTH, "AuthorizationFailure",
                           "a service sas cannot authorise %s", op->name);
        if (r->auth.sas.si[0]) {
            rc = apply_policy(r, e);
            if (rc < 0)
                return rc;
        }
        /* fall through */
    case AUTH_SAS_ACCOUNT:
        rc = auth_sas_check(&r->auth, AUTH_BLOB, restype, op->perms,
                            timefmt_now_ms(), req->client_ip, e);
        if (rc < 0)
            return rc;
        r->create_only = !(r->auth.sas.perms & AUTH_PERM('w'));
        return 0;
    case AUTH_ANON:
    default: {
        enum blob_access access;

        if (!op->anon || !r->path.container ||
            blob_container_access(r->store, r->path.account, r->path.container,
                                  &access) < 0 ||
            (int)access < op->anon)
            return resource_not_found(e);
        return 0;
    }
    }
}

static int validate_names(struct blob_req *r, struct err *e)
{
    if (r->path.container && !blob_names_container_ok(r->path.container))
        return err_set(e, ERR_INVALID, "InvalidResourceName",
                       "the specified resource name contains invalid "
                       "characters");
    if (r->path.blob && !blob_names_blob_ok(r->path.blob, r->path.blob_len))
        return err_set(e, ERR_INVALID, "InvalidResourceName",
                       "the specified blob name is not valid");
    return 0;
}

static bool version_ok(const char *v)
{
    /* YYYY-MM-DD; any such version is accepted (no whitelist). */
    if (!v)
        return true;
    if (strlen(v) != 10 || v[4] != '-' || v[7] != '-')
        return false;
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (v[i] < '0' || v[i] > '9'))
            return false;
    }
    return true;
}

/* ---- uploads ------------------------------------------------------------- */

static int upload_sink(struct http_req *req, const char *data, size_t len)
{
    struct blob_req *r = req->state;

    if (!r->ws)
        return 0;
    return blob_wstream_write(r->ws, data, len, &req->err);
}

/*
 * The body is all in: the temp file has every byte and r->md5 or r->crc64
 * its digest. A write that failed on the way (the writer thread's) shows
 * here.
 */
static int upload_finish(struct blob_req *r, struct err *e)
{
    int rc;

    if (!r->ws) {
        if (r->md5_on)
            crypto_md5("", 0, r->md5);
        return 0;
    }
    rc = blob_wstream_finish(r->ws, r->md5, &r->crc64, e);
    r->written = blob_wstream_written(r->ws);
    blob_wstream_free(r->ws);
    r->ws = NULL;
    return rc;
}

/*
 * Common start of an upload: length rules, container, then where the body
 * goes: with inline_ok and at most BLOB_INLINE_MAX bytes, http buffers it
 * (req->body; it is stored in SQLite); otherwise a temp file, fed by the
 * sink with the digest computed on the way.
 */
static int upload_start(struct blob_req *r, uint64_t max, bool md5,
                        bool inline_ok, struct err *e)
{
    struct http_req *req = r->req;
    enum blob_access access;
    int rc;

    if (!req->has_length)
        return err_set(e, ERR_LENGTH, "MissingContentLengthHeader",
                       "content-length header is required");
    if (req->length > max) {
        char lim[32];

        snprintf(lim, sizeof(lim), "%llu", (unsigned long long)max);
        err_set(e, ERR_TOOBIG, "RequestBodyTooLarge",
                "the request body is too large and exceeds the maximum "
                "permissible limit");
        err_add_detail(e, "MaxLimit", lim);
        return -ERR_TOOBIG;
    }
    /*
     * A small body is buffered and its transaction finds the container
     * (404 then): looking it up here would wait for the database behind
     * the commit in progress, and hold back every small upload.
     */
    if (inline_ok && req->length <= BLOB_INLINE_MAX) {
        req->body_max = BLOB_INLINE_MAX;
        return 0;
    }
    if (blob_container_access(r->store, r->path.account, r->path.container,
                              &access) < 0)
        return err_set(e, ERR_NOTFOUND, "ContainerNotFound",
                       "the specified container does not exist");
    r->md5_on = md5;
    if (req->length > 0) {
        rc = blob_files_create(blob_store_files(r->store), &r->file, &r->fd, e);
        if (rc == 0)
            rc = blob_wstream_open(blob_store_files(r->store), r->fd,
                                   req->length, md5, &r->ws, e);
        if (rc < 0)
            return rc;
    }
    req->sink = upload_sink;
    return 0;
}

/* Publish the temp file; from here on the store decides its fate. */
static int upload_publish(struct blob_req *r, struct err *e)
{
    int fd = r->fd;

    if (!r->file)
        return 0;
    r->fd = -1;
    r->published = true;
    return blob_files_publish(blob_store_files(r->store), r->file, fd, e);
}

static void put_blob_begin(struct blob_req *r, struct err *e, int *rc)
{
    struct http_req *req = r->req;
    const char *bt = http_header(req, "x-ms-blob-type");
    struct blob_content c;
    struct blob_cond cond;
    struct blob_wcond wc = { NULL, NULL };
    struct buf meta = BUF_INIT;
    unsigned char md5[CRYPTO_MD5_LEN];
    const char *cm = http_header(req, "Content-MD5");

    if (!bt) {
        err_set(e, ERR_INVALID, "MissingRequiredHeader",
                "header 'x-ms-blob-type' is required");
        err_add_detail(e, "HeaderName", "x-ms-blob-type");
        *rc = -ERR_INVALID;
        return;
    }
    if (str_ieq(bt, "PageBlob")) {
        *rc = not_implemented(e, "page blobs");
        return;
    }
    if (!str_ieq(bt, "BlockBlob") && !str_ieq(bt, "AppendBlob")) {
        *rc = bad_header(e, "x-ms-blob-type", bt);
        return;
    }
    if (str_ieq(bt, "AppendBlob") && req->has_length && req->length != 0) {
        /* an append blob is created empty; Append Block adds the bytes */
        *rc =
            bad_header(e, "Content-Length", http_header(req, "Content-Length"));
        return;
    }
    if (cm && parse_md5("Content-MD5", cm, md5, e) < 0) {
        *rc = -ERR_INVALID;
        return;
    }
    /* Refuse bad headers before a body byte is read. */
    *rc = parse_content(r, &c, true, e);
    if (*rc < 0)
        return;
    blob_content_release(&c);
    *rc = parse_wcond(r, &cond, &wc, e);
    if (*rc == 0)
        *rc = blob_api_parse_meta(r, &meta, e);
    buf_release(&meta);
    if (*rc < 0)
        return;
    if (blob_cond_none_star(&cond)) {
        /* Python's default no-overwrite upload: fail before the body. */
        struct blob_props p;
        struct err ignore = ERR_INIT;

        memset(&p, 0, sizeof(p));
        if (blob_object_get(r->store, r->path.account, r->path.container,
                            r->path.blob, &p, NULL, NULL, &ignore) == 0) {
            blob_props_release(&p);
            *rc = err_set(e, ERR_CONFLICT, "BlobAlreadyExists",
                          "the specified blob already exists");
            return;
        }
    }
    *rc = upload_start(r, BLOB_PUT_MAX, true, true, e);
}

/*
 * A Put Blob from its checks to its reply. A small blob (bytes in
 * req->body, stored inline) does not wait for its commit on the worker
 * thread: put_blob_end hands it to the group commit (blob_object_put_submit)
 * and parks the request (http_wait); the committing thread wakes it
 * (put_blob_committed) and end() runs again to reply. A larger blob
 * commits in place: its end runs on the handler pool (on_end), and has
 * already waited for its file's fsync.
 */
struct put_state {
    struct blob_put_call call;
    struct http_wait wait;
    struct err e;
    struct blob_content c;
    struct blob_cond cond;
    struct blob_wcond wc;
    struct buf meta;
    struct blob_props out;
    struct blob_put put;
    unsigned char md5[CRYPTO_MD5_LEN];
    int rc;
};

static void put_state_free(struct put_state *ps)
{
    if (!ps)
        return;
    blob_props_release(&ps->out);
    blob_content_release(&ps->c);
    buf_release(&ps->meta);
    free(ps);
}

static void put_blob_reply(struct blob_req *r, struct put_state *ps)
{
    if (ps->rc < 0) {
        blob_api_reply_error(r, &ps->e);
        return;
    }
    blob_api_add_etag(r, ps->out.etag, ps->out.mtime_ms);
    add_md5(r, "Content-MD5", ps->md5);
    http_add_header(r->req, "x-ms-request-server-encrypted", "true");
    http_reply(r->req, 201, NULL, NULL);
}

/* The group commit's thread: the small blob's commit is over. */
static void put_blob_committed(struct blob_put_call *x, int rc)
{
    struct put_state *ps = (struct put_state *)x;

    ps->rc = rc;
    http_wait_done(&ps->wait);
}

static void put_blob_end(struct blob_req *r)
{
    struct http_req *req = r->req;
    struct put_state *ps = r->put;
    struct err *e;
    const char *cm = http_header(req, "Content-MD5");
    bool append = is(http_header(req, "x-ms-blob-type"), "AppendBlob");
    unsigned char want[CRYPTO_MD5_LEN];
    int rc;

    if (ps) {
        /* end() again: the commit is over, or the wake-up was spurious */
        if (!http_wait_pending(req, &ps->wait))
            put_blob_reply(r, ps);
        return;
    }
    ps = xcalloc(1, sizeof(*ps));
    ps->e = (struct err)ERR_INIT;
    ps->meta = (struct buf)BUF_INIT;
    e = &ps->e;
    if (r->file) {
        rc = upload_finish(r, e);
        memcpy(ps->md5, r->md5, sizeof(ps->md5));
    } else {
        /* small: the body is in req->body and goes to SQLite */
        crypto_md5(req->body.data, req->body.len, ps->md5);
        r->written = req->body.len;
        rc = 0;
    }
    if (rc == 0)
        rc = parse_content(r, &ps->c, true, e);
    if (rc == 0)
        rc = parse_wcond(r, &ps->cond, &ps->wc, e);
    if (rc == 0)
        rc = blob_api_parse_meta(r, &ps->meta, e);
    if (rc < 0)
        goto out;
    /*
     * The blob's MD5 header wins the check when both are sent. An append
     * blob's (it has no bytes yet) is only a property to store, and it
     * gets no digest of its own.
     */
    if (!append && (ps->c.has_md5 || cm)) {
        if (ps->c.has_md5)
            memcpy(want, ps->c.md5, sizeof(want));
        else
            parse_md5("Content-MD5", cm, want, e);
        if (memcmp(want, ps->md5, sizeof(want)) != 0) {
            rc = err_set(e, ERR_INVALID, "Md5Mismatch",
                         "the md5 value specified in the request did not "
                         "match with the md5 value calculated by the "
                         "server");
            goto out;
        }
    }
    if (!ps->c.has_md5 && !append) {
        memcpy(ps->c.md5, ps->md5, sizeof(ps->md5));
        ps->c.has_md5 = true;
    }
    if (!ps->c.type)
        ps->c.type = xstrdup("application/octet-stream");
    rc = upload_publish(r, e);
    if (rc < 0)
        goto out;
    ps->put.type = append ? BLOB_TYPE_APPEND : BLOB_TYPE_BLOCK;
    ps->put.file = r->file;
    ps->put.size = r->written;
    ps->put.data = r->file ? NULL : req->body.data;
    ps->put.content = &ps->c;
    ps->put.meta = ps->meta.data;
    ps->put.create_only = r->create_only;
    ps->call.account = r->path.account;
    ps->call.container = r->path.container;
    ps->call.name = r->path.blob;
    ps->call.wc = &ps->wc;
    ps->call.p = &ps->put;
    ps->call.out = &ps->out;
    if (!r->file) {
        r->put = ps;
        ps->call.done = put_blob_committed;
        http_wait_start(req, &ps->wait);
        blob_object_put_submit(r->store, &ps->call, e);
        return;
    }
    rc = blob_object_put(r->store, r->path.account, r->path.container,
                         r->path.blob, &ps->wc, &ps->put, &ps->out, e);
out:
    ps->rc = rc;
    put_blob_reply(r, ps);
    put_state_free(ps);
}

static int block_id_param(struct blob_req *r, unsigned char id[64], size_t *len,
                          struct err *e)
{
    const char *v = http_param(r->req, "blockid");

    if (!v) {
        err_set(e, ERR_INVALID, "MissingRequiredQueryParameter",
                "a query parameter that's mandatory for this request is not "
                "specified");
        err_add_detail(e, "QueryParameterName", "blockid");
        return -ERR_INVALID;
    }
    return blob_names_block_id(v, strlen(v), id, len, e);
}

/*
 * The transactional digest headers of a block upload (Put Block, Append
 * Block): a Content-MD5 that parses, or an x-ms-content-crc64, not both.
 * The upload digests MD5 when Content-MD5 is there, else CRC-64.
 */
static int digest_headers(struct blob_req *r, struct err *e)
{
    const char *cm = http_header(r->req, "Content-MD5");
    unsigned char md5[CRYPTO_MD5_LEN];

    if (cm && parse_md5("Content-MD5", cm, md5, e) < 0)
        return -ERR_INVALID;
    if (cm && http_header(r->req, "x-ms-content-crc64"))
        return err_set(e, ERR_INVALID, "BothCrc64AndMd5HeaderPresent",
                       "both x-ms-content-crc64 and content-md5 are "
                       "present");
    return 0;
}

/* The body is in: its digest against the one the client sent, if any. */
static int digest_check(struct blob_req *r, struct err *e)
{
    const char *cm = http_header(r->req, "Content-MD5");
    const char *crc = http_header(r->req, "x-ms-content-crc64");
    unsigned char want[CRYPTO_MD5_LEN];

    if (r->md5_on) {
        parse_md5("Content-MD5", cm, want, e);
        if (memcmp(want, r->md5, sizeof(want)) != 0)
            return err_set(e, ERR_INVALID, "Md5Mismatch",
                           "the md5 value specified in the request did not "
                           "match with the md5 value calculated by the "
                           "server");
    } else if (crc) {
        struct buf b = BUF_INIT;
        uint64_t v = 0;

        buf_init(&b, 16);
        if (codec_base64_decode(&b, crc, strlen(crc)) < 0 || b.len != 8) {
            buf_release(&b);
            return bad_header(e, "x-ms-content-crc64", crc);
        }
        for (int i = 7; i >= 0; i--)
            v = v << 8 | (unsigned char)b.data[i];
        buf_release(&b);
        if (v != r->crc64)
            return err_set(e, ERR_INVALID, "Crc64Mismatch",
                           "the crc64 value specified in the request did "
                           "not match with the crc64 value calculated by "
                           "the server");
    }
    return 0;
}

/* The digest in a block upload's reply: MD5 if the client sent one. */
static void add_digest(struct blob_req *r)
{
    if (r->md5_on)
        add_md5(r, "Content-MD5", r->md5);
    else
        add_crc64(r, r->crc64);
}

static void put_block_begin(struct blob_req *r, struct err *e, int *rc)
{
    struct http_req *req = r->req;
    unsigned char id[BLOB_BLOCK_ID_MAX];
    const char *lid;
    size_t idlen;

    *rc = block_id_param(r, id, &idlen, e);
    if (*rc == 0)
        *rc = digest_headers(r, e);
    if (*rc == 0)
        *rc = lease_id_header(r, &lid, e);
    if (*rc == 0)
        *rc = upload_start(r, BLOB_BLOCK_MAX,
                           http_header(req, "Content-MD5") != NULL, false, e);
}

static void put_block_end(struct blob_req *r)
{
    struct http_req *req = r->req;
    struct err e = ERR_INIT;
    unsigned char id[BLOB_BLOCK_ID_MAX];
    const char *lid = NULL;
    size_t idlen;
    int rc;

    rc = block_id_param(r, id, &idlen, &e);
    if (rc == 0)
        rc = lease_id_header(r, &lid, &e);
    if (rc == 0)
        rc = upload_finish(r, &e);
    if (rc == 0)
        rc = digest_check(r, &e);
    if (rc == 0)
        rc = upload_publish(r, &e);
    if (rc == 0)
        rc = blob_object_put_block(r->store, r->path.account, r->path.container,
                                   r->path.blob, lid, id, idlen, r->file,
                                   r->written, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
        return;
    }
    add_digest(r);
    http_add_header(req, "x-ms-request-server-encrypted", "true");
    http_reply(req, 201, NULL, NULL);
}

/* ---- Append Block -------------------------------------------------------- */

/* The append conditions (x-ms-blob-condition-maxsize, -appendpos). */
static int append_conditions(struct blob_req *r, struct blob_append *a,
                             struct err *e)
{
    const char *ms = http_header(r->req, "x-ms-blob-condition-maxsize");
    const char *ap = http_header(r->req, "x-ms-blob-condition-appendpos");

    if (ms && parse_u64(ms, 0, INT64_MAX, &a->max_size) < 0)
        return bad_header(e, "x-ms-blob-condition-maxsize", ms);
    if (ap && parse_u64(ap, 0, INT64_MAX, &a->append_pos) < 0)
        return bad_header(e, "x-ms-blob-condition-appendpos", ap);
    a->has_max_size = ms != NULL;
    a->has_append_pos = ap != NULL;
    return 0;
}

/*
 * Append Block: the body streams to a temp file (digested like Put Block's),
 * then blob_object_append puts it at the end of the blob. Checks that need
 * no lookup run before the body is read.
 */
static void append_block_begin(struct blob_req *r, struct err *e, int *rc)
{
    struct http_req *req = r->req;
    struct blob_append a;
    struct blob_cond cond;
    struct blob_wcond wc;

    memset(&a, 0, sizeof(a));
    *rc = digest_headers(r, e);
    if (*rc == 0)
        *rc = parse_wcond(r, &cond, &wc, e);
    if (*rc == 0)
        *rc = append_conditions(r, &a, e);
    if (*rc == 0 && req->has_length && req->length == 0)
        *rc = bad_header(e, "Content-Length", "0");
    if (*rc == 0)
        *rc = upload_start(r, BLOB_APPEND_MAX,
                           http_header(req, "Content-MD5") != NULL, false, e);
}

static void append_block_end(struct blob_req *r)
{
    struct http_req *req = r->req;
    struct err e = ERR_INIT;
    struct blob_append a;
    struct blob_cond cond;
    struct blob_wcond wc;
    struct blob_props out;
    uint64_t offset = 0;
    char num[24];
    int rc;

    memset(&a, 0, sizeof(a));
    memset(&out, 0, sizeof(out));
    rc = parse_wcond(r, &cond, &wc, &e);
    if (rc == 0)
        rc = append_conditions(r, &a, &e);
    if (rc == 0)
        rc = upload_finish(r, &e);
    if (rc == 0)
        rc = digest_check(r, &e);
    if (rc == 0) {
        a.src = r->fd;
        a.len = r->written;
        rc = blob_object_append(r->store, r->path.account, r->path.container,
                                r->path.blob, &wc, &a, &offset, &out, &e);
    }
    if (rc < 0) {
        blob_props_release(&out);
        blob_api_reply_error(r, &e);
        return;
    }
    blob_api_add_etag(r, out.etag, out.mtime_ms);
    add_digest(r);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)offset);
    http_add_header(req, "x-ms-blob-append-offset", num);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)out.append_blocks);
    http_add_header(req, "x-ms-blob-committed-block-count", num);
    http_add_header(req, "x-ms-request-server-encrypted", "true");
    blob_props_release(&out);
    http_reply(req, 201, NULL, NULL);
}

static void xml_body_begin(struct blob_req *r, struct err *e, int *rc)
{
    (void)e;
    r->req->body_max = XML_BODY_MAX;
    *rc = 0;
}

static void small_body_begin(struct blob_req *r, struct err *e, int *rc)
{
    (void)e;
    r->req->body_max = SMALL_BODY_MAX;
    *rc = 0;
}

static void put_block_list_end(struct blob_req *r)
{
    struct http_req *req = r->req;
    struct err e = ERR_INIT;
    struct blob_block_ref *refs = NULL;
    size_t n = 0;
    struct blob_content c;
    struct blob_cond cond;
    struct blob_wcond wc = { NULL, NULL };
    struct buf meta = BUF_INIT;
    struct blob_props out;
    unsigned char md5[CRYPTO_MD5_LEN];
    int rc;

    memset(&c, 0, sizeof(c));
    memset(&out, 0, sizeof(out));
    rc = parse_content(r, &c, false, &e);
    if (rc == 0)
        rc = parse_wcond(r, &cond, &wc, &e);
    if (rc == 0)
        rc = blob_api_parse_meta(r, &meta, &e);
    if (rc == 0)
        rc = blob_xmlbody_blocklist(req->body.data, req->body.len, &refs, &n,
                                    &e);
    if (rc < 0)
        goto out;
    if (!c.type)
        c.type = xstrdup("application/octet-stream");
    rc = blob_object_commit_blocks(r->store, r->path.account, r->path.container,
                                   r->path.blob, &wc, refs, n, &c, meta.data,
                                   r->create_only, &out, &e);
    if (rc < 0)
        goto out;
    crypto_md5(req->body.data, req->body.len, md5);
    blob_api_add_etag(r, out.etag, out.mtime_ms);
    add_md5(r, "Content-MD5", md5);
    http_add_header(req, "x-ms-request-server-encrypted", "true");
    http_reply(req, 201, NULL, NULL);
out:
    if (rc < 0)
        blob_api_reply_error(r, &e);
    free(refs);
    blob_props_release(&out);
    blob_content_release(&c);
    buf_release(&meta);
}

/* ---- Copy Blob ----------------------------------------------------------- */

/*
 * The source of a copy must be a blob of this service and account. Its
 * authority must be the Host the request came to (or name the same
 * port); the query (a SAS) is not needed: a SharedKey or account SAS
 * caller may read the account anyway, and a service SAS caller may only
 * copy from public containers.
 */
static int copy_source(struct blob_req *r, const char *url,
                       struct blob_path *src, struct err *e)
{
    const char *host = http_header(r->req, "Host");
    const char *a, *slash, *q;
    char *path;
    size_t alen;
    int rc;

    a = strstr(url, "://");
    if (!a)
        goto bad;
    a += 3;
    slash = strchr(a, '/');
    if (!slash)
        goto bad;
    alen = (size_t)(slash - a);
    if (host && !(strlen(host) == alen && strncasecmp(host, a, alen) == 0)) {
        const char *hp = strrchr(host, ':');
        const char *up = memchr(a, ':', alen);
        size_t ul = up ? (size_t)(slash - up) : 0;

        if (!hp || !up || strlen(hp) != ul || strncmp(hp, up, ul) != 0)
            return err_set(e, ERR_NOTIMPL, "CannotVerifyCopySource",
                           "copies from other services are not supported");
    }
    q = strchr(slash, '?');
    path = xstrndup(slash, q ? (size_t)(q - slash) : strlen(slash));
    rc = blob_names_split_path(path, src, e);
    free(path);
    if (rc < 0)
        return rc;
    if (!src->container || !src->blob ||
        !blob_names_container_ok(src->container) ||
        !blob_names_blob_ok(src->blob, src->blob_len)) {
        blob_names_path_release(src);
        goto bad;
    }
    if (strcmp(src->account, r->path.account) != 0) {
        blob_names_path_release(src);
        return err_set(e, ERR_NOTIMPL, "CannotVerifyCopySource",
                       "copies from another account are not supported");
    }
    return 0;
bad:
    return bad_header(e, "x-ms-copy-source", url);
}

static void copy_blob_end(struct blob_req *r)
{
    struct http_req *req = r->req;
    struct blob_files *files = blob_store_files(r->store);
    struct err e = ERR_INIT;
    struct blob_path src;
    struct blob_props sp, out;
    struct blob_cond cond;
    struct blob_wcond wc = { NULL, NULL };
    struct buf meta = BUF_INIT;
    struct blob_copy_info ci;
    struct blob_put put;
    struct buf data = BUF_INIT;
    char copy_id[37];
    int sfd = -1, dfd = -1;
    uint64_t file = 0;
    bool published = false;
    int rc;

    memset(&src, 0, sizeof(src));
    memset(&sp, 0, sizeof(sp));
    memset(&out, 0, sizeof(out));
    rc = parse_wcond(r, &cond, &wc, &e);
    if (rc == 0)
        rc = blob_api_parse_meta(r, &meta, &e);
    if (rc == 0)
        rc = copy_source(r, http_header(req, "x-ms-copy-source"), &src, &e);
    if (rc < 0)
        goto out;
    if (r->auth.kind == AUTH_SAS_SERVICE) {
        enum blob_access acc;

        if (blob_container_access(r->store, src.account, src.container, &acc) <
                0 ||
            acc == BLOB_ACCESS_PRIVATE) {
            rc = err_set(&e, ERR_AUTH, "CannotVerifyCopySource",
                         "the copy source is not public and a service sas "
                         "cannot read it");
            goto out;
        }
    }
    rc = blob_object_get(r->store, src.account, src.container, src.blob, &sp,
                         &sfd, &data, &e);
    if (rc < 0)
        goto out;
    if (sfd >= 0) {
        rc = blob_files_create(files, &file, &dfd, &e);
        if (rc == 0)
            rc = blob_files_copy(dfd, sfd, 0, sp.size, &e);
        if (rc < 0)
            goto out;
        published = true;
        rc = blob_files_publish(files, file, dfd, &e);
        dfd = -1;
        if (rc < 0)
            goto out;
    }
    crypto_uuid(copy_id);
    memset(&ci, 0, sizeof(ci));
    ci.id = copy_id;
    ci.source = (char *)http_header(req, "x-ms-copy-source");
    ci.time_ms = timefmt_now_ms();
    ci.len = sp.size;
    memset(&put, 0, sizeof(put));
    put.type = sp.type;
    put.append_blocks = sp.append_blocks;
    put.file = file;
    put.size = sp.size;
    put.data = data.data;
    put.content = &sp.content;
    put.meta = meta.len ? meta.data : sp.meta;
    put.create_only = r->create_only;
    put.copy = &ci;
    rc = blob_object_put(r->store, r->path.account, r->path.container,
                         r->path.blob, &wc, &put, &out, &e);
    if (rc < 0)
        goto out;
    blob_api_add_etag(r, out.etag, out.mtime_ms);
    http_add_header(req, "x-ms-copy-id", copy_id);
    http_add_header(req, "x-ms-copy-status", "success");
    http_add_header(req, "x-ms-request-server-encrypted", "true");
    http_reply(req, 202, NULL, NULL);
out:
    if (rc < 0)
        blob_api_reply_error(r, &e);
    if (sfd >= 0)
        close(sfd);
    if (!published && file)
        blob_files_discard(files, file, dfd);
    blob_props_release(&sp);
    blob_props_release(&out);
    blob_names_path_release(&src);
    buf_release(&meta);
    buf_release(&data);
}

/* ---- reads --------------------------------------------------------------- */

static void add_content_headers(struct blob_req *r, const struct blob_props *p)
{
    const struct auth_sas *s = &r->auth.sas;
    bool sas = r->auth.kind == AUTH_SAS_SERVICE;
    const char *v;

    v = sas && s->rsct[0] ? s->rsct : p->content.type;
    if (v)
        http_add_header(r->req, "Content-Type", v);
    v = sas && s->rsce[0] ? s->rsce : p->content.encoding;
    if (v)
        http_add_header(r->req, "Content-Encoding", v);
    v = sas && s->rscl[0] ? s->rscl : p->content.language;
    if (v)
        http_add_header(r->req, "Content-Language", v);
    v = sas && s->rscc[0] ? s->rscc : p->content.cache_control;
    if (v)
        http_add_header(r->req, "Cache-Control", v);
    v = sas && s->rscd[0] ? s->rscd : p->content.disposition;
    if (v)
        http_add_header(r->req, "Content-Disposition", v);
}

static void add_blob_headers(struct blob_req *r, const struct blob_props *p,
                             int64_t now)
{
    struct http_req *req = r->req;

    blob_api_add_etag(r, p->etag, p->mtime_ms);
    blob_api_add_time(r, "x-ms-creation-time", p->ctime_ms);
    blob_api_add_meta(r, p->meta);
    http_add_header(req, "x-ms-blob-type", blob_type_str(p->type));
    if (p->type == BLOB_TYPE_APPEND) {
        char n[24];

        snprintf(n, sizeof(n), "%llu", (unsigned long long)p->append_blocks);
        http_add_header(req, "x-ms-blob-committed-block-count", n);
    }
    blob_api_add_lease(r, &p->lease, now);
    http_add_header(req, "x-ms-server-encrypted", "true");
    http_add_header(req, "Accept-Ranges", "bytes");
    if (p->copy.id) {
        char progress[48];

        http_add_header(req, "x-ms-copy-id", p->copy.id);
        if (p->copy.source)
            http_add_header(req, "x-ms-copy-source", p->copy.source);
        http_add_header(req, "x-ms-copy-status", "success");
        snprintf(progress, sizeof(progress), "%llu/%llu",
                 (unsigned long long)p->copy.len,
                 (unsigned long long)p->copy.len);
        http_add_header(req, "x-ms-copy-progress", progress);
        blob_api_add_time(r, "x-ms-copy-completion-time", p->copy.time_ms);
    }
}

/* The digest of a range of an inline blob. */
static void mem_digest(const char *p, size_t len, bool md5,
                       unsigned char out[CRYPTO_MD5_LEN], uint64_t *crc)
{
    if (md5)
        crypto_md5(p, len, out);
    else
        *crc = crypto_crc64(0, p, len);
}

static int range_digest(int fd, uint64_t off, uint64_t len, bool md5,
                        unsigned char out[CRYPTO_MD5_LEN], uint64_t *crc,
                        struct err *e)
{
    struct crypto_md5_ctx c;
    char *chunk = xmalloc(MD5_CHUNK);
    int rc = 0;

    memset(&c, 0, sizeof(c));
    if (md5 && crypto_md5_init(&c) < 0) {
        free(chunk);
        return err_set(e, ERR_NOMEM, "InternalError", "out of memory");
    }
    *crc = 0;
    while (len > 0) {
        size_t want = len > MD5_CHUNK ? MD5_CHUNK : (size_t)len;
        ssize_t n = pread(fd, chunk, want, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = err_sys(e, "read blob data");
            break;
        }
        if (md5)
            crypto_md5_update(&c, chunk, (size_t)n);
        else
            *crc = crypto_crc64(*crc, chunk, (size_t)n);
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    if (md5) {
        crypto_md5_final(&c, out);
        crypto_md5_release(&c);
    }
    free(chunk);
    return rc;
}

static bool header_true(struct http_req *req, const char *name)
{
    const char *v = http_header(req, name);

    return v && str_ieq(v, "true");
}

static void get_blob_end(struct blob_req *r)
{
    struct http_req *req = r->req;
    struct err e = ERR_INIT;
    struct blob_props p;
    struct blob_range range;
    struct blob_cond cond;
    const char *xr = http_header(req, "x-ms-range");
    const char *rh = http_header(req, "Range");
    const char *lid = NULL;
    bool want_md5 = header_true(req, "x-ms-range-get-content-md5");
    bool want_crc = header_true(req, "x-ms-range-get-content-crc64");
    bool meta_only = r->op == BLOB_OP_GET_BLOB_META;
    unsigned char md5[CRYPTO_MD5_LEN];
    uint64_t off = 0, len = 0, crc = 0;
    int64_t now = timefmt_now_ms();
    struct buf data = BUF_INIT;
    int fd = -1;
    int rc;

    memset(&p, 0, sizeof(p));
    range.present = false;
    if (xr && blob_range_parse(xr, &range) < 0) {
        rc = bad_header(&e, "x-ms-range", xr);
        goto out;
    }
    if (!xr && rh && blob_range_parse(rh, &range) < 0)
        range.present = false; /* an unsupported Range is ignored */
    rc = blob_api_parse_cond(r, &cond, &e);
    if (rc == 0)
        rc = lease_id_header(r, &lid, &e);
    if (rc < 0)
        goto out;
    if ((want_md5 || want_crc) && !meta_only) {
        if (want_md5 && want_crc) {
            rc = err_set(&e, ERR_INVALID, "InvalidInput",
                         "only one of the range digests may be requested");
            goto out;
        }
        if (!range.present) {
            rc = bad_header(&e,
                            want_md5 ? "x-ms-range-get-content-md5"
                                     : "x-ms-range-get-content-crc64",
                            "true");
            goto out;
        }
    }
    rc = blob_object_get(r->store, r->path.account, r->path.container,
                         r->path.blob, &p, meta_only ? NULL : &fd, &data, &e);
    if (rc < 0)
        goto out;
    rc = blob_lease_check(&p.lease, lid, false, false, now, &e);
    if (rc == 0)
        rc = blob_cond_eval(&cond, true, true, p.etag, p.mtime_ms, &e);
    if (rc < 0)
        goto out;
    if (meta_only) {
        blob_api_add_etag(r, p.etag, p.mtime_ms);
        blob_api_add_meta(r, p.meta);
        http_reply(req, 200, NULL, NULL);
        goto out;
    }
    rc = blob_range_resolve(&range, p.size, &off, &len, &e);
    if (rc < 0) {
        char cr[48];

        snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)p.size);
        http_add_header(req, "Content-Range", cr);
        goto out;
    }
    if ((want_md5 || want_crc) && len > BLOB_RANGE_MD5_MAX) {
        rc = err_set(&e, ERR_INVALID, "OutOfRangeInput",
                     "the requested range is larger than 4 mib, the limit "
                     "for a range digest");
        goto out;
    }
    if ((want_md5 || want_crc) && fd < 0) {
        mem_digest(data.data + off, (size_t)len, want_md5, md5, &crc);
    } else if (want_md5 || want_crc) {
        rc = range_digest(fd, off, len, want_md5, md5, &crc, &e);
        if (rc < 0)
            goto out;
    }
    add_blob_headers(r, &p, now);
    add_content_headers(r, &p);
    if (http_is_head(req)) {
        http_add_header(req, "x-ms-access-tier", "Hot");
        http_add_header(req, "x-ms-access-tier-inferred", "true");
    }
    if (range.present) {
        char cr[80];

        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu",
                 (unsigned long long)off, (unsigned long long)(off + len - 1),
                 (unsigned long long)p.size);
        http_add_header(req, "Content-Range", cr);
        if (want_md5)
            add_md5(r, "Content-MD5", md5);
        if (want_crc)
            add_crc64(r, crc);
        if (p.content.has_md5)
            add_md5(r, "x-ms-blob-content-md5", p.content.md5);
    } else if (p.content.has_md5) {
        add_md5(r, "Content-MD5", p.content.md5);
    }
    if (len == 0) {
        http_reply(req, 200, NULL, NULL);
    } else if (fd < 0) {
        /* inline: the range of the bytes read with the properties; HEAD
         * gets them too, so Content-Length is right (none are sent) */
        struct buf body = BUF_INIT;

        buf_add(&body, data.data + off, (size_t)len);
        http_reply(req, range.present ? 206 : 200, NULL, &body);
        buf_release(&body);
    } else {
        http_reply_fd(req, range.present ? 206 : 200, fd, off, len);
        fd = -1; /* taken by http */
    }
out:
    if (rc < 0)
        blob_api_reply_error(r, &e);
    if (fd >= 0)
        close(fd);
    buf_release(&data);
    blob_props_release(&p);
}

static void render_blocks(struct buf *b, const char *tag,
                          const struct blob_block_info *v, size_t n)
{
    buf_addf(b, "<%s>", tag);
    for (size_t i = 0; i < n; i++) {
        buf_adds(b, "<Block><Name>");
        codec_base64_encode(b, v[i].id, v[i].idlen);
        buf_addf(b, "</Name><Size>%llu</Size></Block>",
                 (unsigned long long)v[i].size);
    }
    buf_addf(b, "</%s>", tag);
}

static void get_block_list_end(struct blob_req *r)
{
    struct http_req *req = r->req;
    const char *type = http_param(req, "blocklisttype");
    struct err e = ERR_INIT;
    struct blob_props p;
    struct blob_block_info *cv = NULL, *uv = NULL;
    size_t nc = 0, nu = 0;
    bool committed = true, uncommitted = false;
    const char *lid = NULL;
    struct buf b = BUF_INIT;
    int rc;

    memset(&p, 0, sizeof(p));
    if (type && str_ieq(type, "uncommitted")) {
        committed = false;
        uncommitted = true;
    } else if (type && str_ieq(type, "all")) {
        uncommitted = true;
    } else if (type && !str_ieq(type, "committed")) {
        rc = bad_param(&e, "blocklisttype", type);
        goto out;
    }
    rc = lease_id_header(r, &lid, &e);
    if (rc < 0)
        goto out;
    rc = blob_object_block_list(r->store, r->path.account, r->path.container,
                                r->path.blob, committed, uncommitted, &p, &cv,
                                &nc, &uv, &nu, &e);
    if (rc < 0)
        goto out;
    if (p.committed) {
        char size[24];

        rc =
            blob_lease_check(&p.lease, lid, false, false, timefmt_now_ms(), &e);
        if (rc < 0)
            goto out;
        blob_api_add_etag(r, p.etag, p.mtime_ms);
        snprintf(size, sizeof(size), "%llu", (unsigned long long)p.size);
        http_add_header(req, "x-ms-blob-content-length", size);
    }
    buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    if (committed)
        render_blocks(&b, "CommittedBlocks", cv, nc);
    if (uncommitted)
        render_blocks(&b, "UncommittedBlocks", uv, nu);
    buf_adds(&b, "</BlockList>");
    http_reply(req, 200, "application/xml", &b);
out:
    if (rc < 0)
        blob_api_reply_error(r, &e);
    buf_release(&b);
    free(cv);
    free(uv);
    blob_props_release(&p);
}

/* ---- other writes -------------------------------------------------------- */

static void set_props_end(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct blob_content c;
    struct blob_cond cond;
    struct blob_wcond wc = { NULL, NULL };
    struct blob_props out;
    int rc;

    memset(&c, 0, sizeof(c));
    memset(&out, 0, sizeof(out));
    rc = parse_content(r, &c, false, &e);
    if (rc == 0)
        rc = parse_wcond(r, &cond, &wc, &e);
    if (rc == 0)
        rc = blob_object_set_content(r->store, r->path.account,
                                     r->path.container, r->path.blob, &wc, &c,
                                     &out, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
    } else {
        blob_api_add_etag(r, out.etag, out.mtime_ms);
        http_reply(r->req, 200, NULL, NULL);
    }
    blob_props_release(&out);
    blob_content_release(&c);
}

static void set_meta_end(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct blob_cond cond;
    struct blob_wcond wc = { NULL, NULL };
    struct buf meta = BUF_INIT;
    struct blob_props out;
    int rc;

    memset(&out, 0, sizeof(out));
    rc = parse_wcond(r, &cond, &wc, &e);
    if (rc == 0)
        rc = blob_api_parse_meta(r, &meta, &e);
    if (rc == 0)
        rc = blob_object_set_meta(r->store, r->path.account, r->path.container,
                                  r->path.blob, &wc, meta.data, &out, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
    } else {
        blob_api_add_etag(r, out.etag, out.mtime_ms);
        http_add_header(r->req, "x-ms-request-server-encrypted", "true");
        http_reply(r->req, 200, NULL, NULL);
    }
    blob_props_release(&out);
    buf_release(&meta);
}

static void delete_blob_end(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct blob_cond cond;
    struct blob_wcond wc = { NULL, NULL };
    const char *ds = http_header(r->req, "x-ms-delete-snapshots");
    int rc;

    if (ds && !str_ieq(ds, "include") && !str_ieq(ds, "only")) {
        blob_api_reply_error(r,
                             (bad_header(&e, "x-ms-delete-snapshots", ds), &e));
        return;
    }
    rc = parse_wcond(r, &cond, &wc, &e);
    if (rc == 0)
        rc = blob_object_delete(r->store, r->path.account, r->path.container,
                                r->path.blob, &wc, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
        return;
    }
    http_add_header(r->req, "x-ms-delete-type-permanent", "true");
    http_reply(r->req, 202, NULL, NULL);
}

static int lease_status(enum blob_lease_action a)
{
    switch (a) {
    case BLOB_LEASE_ACQUIRE:
        return 201;
    case BLOB_LEASE_BREAK:
        return 202;
    default:
        return 200;
    }
}

static void blob_lease_end(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct blob_lease_req rq;
    struct blob_cond cond;
    struct blob_props out;
    char id[40];
    int64_t t = 0;
    int rc;

    memset(&out, 0, sizeof(out));
    rc = blob_api_parse_lease(r, &rq, &e);
    if (rc == 0 && rq.action == BLOB_LEASE_BREAK && r->auth.kind != AUTH_ANON &&
        r->auth.kind != AUTH_SHAREDKEY)
        rc = auth_sas_check(&r->auth, AUTH_BLOB, 'o', "wd", timefmt_now_ms(),
                            r->req->client_ip, &e);
    if (rc == 0)
        rc = blob_api_parse_cond(r, &cond, &e);
    if (rc == 0)
        rc = blob_object_lease(r->store, r->path.account, r->path.container,
                               r->path.blob, &cond, &rq, &out, id, &t, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
    } else {
        char secs[24];

        blob_api_add_etag(r, out.etag, out.mtime_ms);
        if (id[0])
            http_add_header(r->req, "x-ms-lease-id", id);
        if (rq.action == BLOB_LEASE_BREAK) {
            snprintf(secs, sizeof(secs), "%lld", (long long)t);
            http_add_header(r->req, "x-ms-lease-time", secs);
        }
        http_reply(r->req, lease_status(rq.action), NULL, NULL);
    }
    blob_props_release(&out);
}

/* ---- entry points -------------------------------------------------------- */

static void on_begin(struct http_req *req)
{
    struct blob_service *s = req->svc;
    struct blob_req *r = xcalloc(1, sizeof(*r));
    struct err e = ERR_INIT;
    int rc;

    r->svc = s;
    r->req = req;
    r->store = s->store;
    r->fd = -1;
    r->op = BLOB_OP_GET_BLOB; /* for logs until routed */
    req->state = r;

    if (!version_ok(http_header(req, "x-ms-version"))) {
        rc = bad_header(&e, "x-ms-version", http_header(req, "x-ms-version"));
        goto fail;
    }
    rc = blob_names_split_path(req->path, &r->path, &e);
    if (rc < 0)
        goto fail;
    rc = route(r, &e);
    if (rc < 0)
        goto fail;
    rc = authorize(r, &e);
    if (rc < 0)
        goto fail;
    rc = validate_names(r, &e);
    if (rc < 0)
        goto fail;
    log_debug("blob request op=%s account=%s container=%s", ops[r->op].name,
              r->path.account, r->path.container ? r->path.container : "");
    if (ops[r->op].begin) {
        ops[r->op].begin(r, &e, &rc);
        if (rc < 0)
            goto fail;
    }
    return;
fail:
    blob_api_reply_error(r, &e);
}

static void end_offloaded(struct http_req *req)
{
    struct blob_req *r = req->state;

    ops[r->op].end(r);
}

/*
 * Which ends run on the worker thread: the ones that never wait for the
 * disk or a commit (reads under the db lock, a small Put Blob's hand-over
 * to the group commit). The others (file fsyncs, copies, commits waited
 * for) run on the handler pool, so that a worker, serving many
 * connections, is never stuck behind one of them.
 */
static bool end_inline(const struct blob_req *r)
{
    switch (r->op) {
    case BLOB_OP_PUT_BLOB:
        return r->file == 0;
    case BLOB_OP_GET_BLOB:
    case BLOB_OP_GET_BLOB_META:
    case BLOB_OP_GET_CONTAINER_PROPS:
    case BLOB_OP_GET_CONTAINER_ACL:
    case BLOB_OP_GET_SERVICE_PROPS:
    case BLOB_OP_SERVICE_STATS:
    case BLOB_OP_ACCOUNT_INFO:
    case BLOB_OP_GET_BLOCK_LIST:
        return true;
    default:
        return false;
    }
}

static void on_end(struct http_req *req)
{
    struct blob_req *r = req->state;

    if (end_inline(r))
        ops[r->op].end(r);
    else
        http_offload(req, end_offloaded);
}

static void on_done(struct http_req *req)
{
    struct blob_req *r = req->state;

    if (!r)
        return;
    if (r->put) {
        http_wait_drain(&r->put->wait); /* shutdown: it may still commit */
        put_state_free(r->put);
    }
    blob_wstream_free(r->ws); /* before its fd goes */
    if (r->file && !r->published)
        blob_files_discard(blob_store_files(r->store), r->file, r->fd);
    else if (r->fd >= 0)
        close(r->fd);
    blob_names_path_release(&r->path);
    free(r);
    req->state = NULL;
}

int blob_service_open(const struct config *cfg, struct db *db,
                      const struct auth *auth, struct blob_service **out,
                      struct err *err)
{
    struct blob_service *s = xcalloc(1, sizeof(*s));
    int rc;

    s->cfg = cfg;
    s->auth = auth;
    rc = blob_store_open(cfg, db, &s->store, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->http.name = "blob";
    s->http.ctx = s;
    s->http.begin = on_begin;
    s->http.end = on_end;
    s->http.done = on_done;
    *out = s;
    return 0;
}

const struct http_service *blob_service_http(struct blob_service *s)
{
    return &s->http;
}

int blob_service_start(struct blob_service *s, const struct listen_ports *ports,
                       struct err *err)
{
    (void)ports;
    return blob_store_start(s->store, err);
}

void blob_service_close(struct blob_service *s)
{
    if (!s)
        return;
    blob_store_close(s->store);
    free(s);
}
