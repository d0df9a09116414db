/*
 * queue_api.c: the Azure Queue REST API over http.h: routing,
 * authentication, parameter and body checks, and the XML replies. No SQL
 * here: operations run qstore.c functions, writes through the group commit
 * (dbgroup_submit, db.h; the request waits parked, see queue_api_end).
 *
 * Request flow:
 *
 *   begin():  route (path + comp/restype + method -> enum qop), resolve
 *             the account (path-style, or host-style from Host), check the
 *             signature (auth_storage) and, for SAS, the stored policy,
 *             time, IP and permission letters; then every query parameter
 *             of the operation. Any failure is answered here, before the
 *             body is read. Operations with a body set req->body_max.
 *   end():    parse the body (XML), run the operation (writes in a group
 *             commit, reads under the db lock) and reply; a write replies
 *             from its second end(), once its commit is over.
 *   done():   free the per-request state.
 *
 * Routes (path-style /account/..., or host-style account.host/...):
 *
 *   /                  GET comp=list | GET,PUT restype=service&comp=properties
 *                      | GET restype=service&comp=stats
 *   /q                 PUT create | DELETE | GET,HEAD,PUT comp=metadata
 *                      | GET,HEAD,PUT comp=acl
 *   /q/messages        POST put | GET get (peekonly=true: peek) | DELETE clear
 *   /q/messages/id     PUT update | DELETE delete
 *
 * Permissions: each operation names the letter a queue (service) SAS needs
 * (none: not allowed with a service SAS), the letters an account SAS may
 * use (any one), and its account-SAS resource type (s service, c queue,
 * o message); the table `ops` below is the one place for them.
 *
 * Per-request state (struct qreq) is allocated in begin and freed in done;
 * everything it points to is owned by it. Borrowed from http: header
 * values, path and params, valid until done. The XML of a Get/Peek/List is
 * rendered straight from the SQLite row by the store's callbacks (the text
 * is never copied in between).
 *
 * Threads: any number of requests at once; nothing here is shared but the
 * service (read-only apart from the db and its group commit).
 */
#include "queue/queueint.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"
#include "core/xml.h"
#include "db/db.h"

#define XML_DECL                "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
#define QUEUE_SMALL_BODY_MAX    (64 * 1024) /* ACL, properties, stray bodies */
#define QUEUE_SEG_MAX           256         /* a decoded path segment */
#define QUEUE_GET_VIS_DEFAULT_S 30

enum qop {
    QOP_LIST,
    QOP_PROPS_GET,
    QOP_PROPS_SET,
    QOP_STATS,
    QOP_CREATE,
    QOP_DELETE,
    QOP_META_GET,
    QOP_META_SET,
    QOP_ACL_GET,
    QOP_ACL_SET,
    QOP_PUT,
    QOP_GET,
    QOP_PEEK,
    QOP_CLEAR,
    QOP_MSG_DELETE,
    QOP_MSG_UPDATE,
};

struct qop_info {
    const char *name; /* for logs */
    const char *sas;  /* queue SAS letter(s); NULL = not allowed */
    const char *acct; /* account SAS letters, any one suffices */
    char restype;     /* account SAS srt: 's', 'c' or 'o' */
    bool write;       /* runs in a group commit */
};

static const struct qop_info ops[] = {
    [QOP_LIST] = { "ListQueues", NULL, "l", 's', false },
    [QOP_PROPS_GET] = { "GetServiceProperties", NULL, "r", 's', false },
    [QOP_PROPS_SET] = { "SetServiceProperties", NULL, "w", 's', true },
    [QOP_STATS] = { "GetServiceStats", NULL, "r", 's', false },
    [QOP_CREATE] = { "CreateQueue", NULL, "cw", 'c', true },
    [QOP_DELETE] = { "DeleteQueue", NULL, "d", 'c', true },
    [QOP_META_GET] = { "GetQueueMetadata", "r", "r", 'c', false },
    [QOP_META_SET] = { "SetQueueMetadata", NULL, "w", 'c', true },
    [QOP_ACL_GET] = { "GetQueueACL", NULL, "r", 'c', false },
    [QOP_ACL_SET] = { "SetQueueACL", NULL, "w", 'c', true },
    [QOP_PUT] = { "PutMessage", "a", "a", 'o', true },
    [QOP_GET] = { "GetMessages", "p", "p", 'o', true },
    [QOP_PEEK] = { "PeekMessages", "r", "r", 'o', false },
    [QOP_CLEAR] = { "ClearMessages", NULL, "d", 'o', true },
    [QOP_MSG_DELETE] = { "DeleteMessage", "p", "p", 'o', true },
    [QOP_MSG_UPDATE] = { "UpdateMessage", "u", "u", 'o', true },
};

/* Per-request state: what begin() learned, what end() produces. */
struct qreq {
    enum qop op;
    char account[AUTH_NAME_MAX];
    char queue[QUEUE_SEG_MAX];
    bool id_ok; /* msgid parsed (else: not found) */
    int64_t rowid;
    uint64_t nonce;
    uint64_t pop;
    int64_t vis_s;
    int64_t ttl_s;
    unsigned n;
    bool with_meta;
    bool host_style;    /* account from Host, not the path */
    const char *prefix; /* borrowed from http params */
    const char *marker;
    size_t max;
    bool has_max;

    /* inputs decoded in end() */
    const char *text; /* into body tree */
    size_t len;
    char *meta; /* encoded metadata (in and out) */
    struct qstore_policy acl[QSTORE_ACL_MAX];
    int nacl;
    struct qstore_props props;

    /* results */
    bool created;
    int64_t count;
    struct qstore_msg msg;
    char *next_marker;
    struct buf out; /* reply body */

    /* a write waiting for its group commit (see queue_api_end) */
    struct dbgroup_op gop;
    struct http_wait wait;
    struct xml_node *root; /* the body's tree: text points into it */
    struct err err;
    int rc;
};

/* ---- small helpers ------------------------------------------------------- */

static int bad_param(struct err *err, const char *name, const char *value,
                     const char *reason)
{
    int rc = err_set(err, ERR_INVALID, "InvalidQueryParameterValue",
                     "value for one of the query parameters specified in "
                     "the request uri is invalid");

    err_add_detail(err, "QueryParameterName", name);
    err_add_detail(err, "QueryParameterValue", value);
    err_add_detail(err, "Reason", reason);
    return rc;
}

/*
 * An integer query parameter in [min, max]: absent gives def (or 400
 * MissingRequiredQueryParameter when required), malformed 400
 * InvalidQueryParameterValue, out of range 400
 * OutOfRangeQueryParameterValue with the bounds, as Azure details them.
 */
static int param_int(struct http_req *req, const char *name, int64_t min,
                     int64_t max, bool required, int64_t def, int64_t *out,
                     struct err *err)
{
    const char *v = http_param(req, name);
    char lo[24], hi[24];
    int64_t x;
    int rc;

    if (!v) {
        if (required) {
            rc = err_set(err, ERR_INVALID, "MissingRequiredQueryParameter",
                         "a query parameter that is mandatory for this "
                         "request is not specified");
            err_add_detail(err, "QueryParameterName", name);
            return rc;
        }
        *out = def;
        return 0;
    }
    if (parse_i64(v, INT64_MIN, INT64_MAX, &x) < 0)
        return bad_param(err, name, v, "not an integer");
    if (x < min || x > max) {
        rc = err_set(err, ERR_INVALID, "OutOfRangeQueryParameterValue",
                     "one of the query parameters specified in the request "
                     "uri is outside the permissible range");
        snprintf(lo, sizeof(lo), "%lld", (long long)min);
        snprintf(hi, sizeof(hi), "%lld", (long long)max);
        err_add_detail(err, "QueryParameterName", name);
        err_add_detail(err, "QueryParameterValue", v);
        err_add_detail(err, "MinimumAllowed", lo);
        err_add_detail(err, "MaximumAllowed", hi);
        return rc;
    }
    *out = x;
    return 0;
}

static void add_time_header(struct http_req *req, const char *name, int64_t ms)
{
    char t[TIMEFMT_RFC1123_LEN];

    timefmt_rfc1123(ms, t);
    http_add_header(req, name, t);
}

static void elem_time(struct buf *b, const char *name, int64_t ms)
{
    char t[TIMEFMT_RFC1123_LEN];

    timefmt_rfc1123(ms, t);
    xml_elem(b, name, t);
}

/* ---- metadata ------------------------------------------------------------ */

/*
 * Metadata travels as x-ms-meta-<name> headers and is stored encoded as
 * "name\nvalue\n" pairs sorted by lower-cased name (header values cannot
 * hold a newline, names are C# identifiers). Names keep their case; two
 * sets are equal when names match case-insensitively and values exactly.
 */
struct meta_kv {
    const char *name;
    const char *value;
};

struct meta_collect {
    struct meta_kv *kv;
    size_t n;
    size_t bytes;
    int rc;
    struct err *err;
};

static bool is_identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    }
    return true;
}

static void meta_header(void *ctx, const char *name, const char *value)
{
    struct meta_collect *m = ctx;
    const char *key;

    if (m->rc < 0 || !str_iprefix(name, "x-ms-meta-"))
        return;
    key = name + strlen("x-ms-meta-");
    if (!*key) {
        m->rc = err_set(m->err, ERR_INVALID, "EmptyMetadataKey",
                        "the key for one of the metadata key-value pairs is "
                        "empty");
        return;
    }
    if (!is_identifier(key) || !queue_text_valid(value, strlen(value)) ||
        strpbrk(value, "\r\n")) {
        m->rc = err_set(m->err, ERR_INVALID, "InvalidMetadata",
                        "the metadata specified is invalid: '%s'", key);
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (strcasecmp(m->kv[i].name, key) == 0) {
            m->rc = err_set(m->err, ERR_INVALID, "InvalidMetadata",
                            "metadata name '%s' given twice", key);
            return;
        }
    }
    m->bytes += strlen(key) + strlen(value);
    m->kv = xrealloc(m->kv, (m->n + 1) * sizeof(*m->kv));
    m->kv[m->n].name = key;
    m->kv[m->n].value = value;
    m->n++;
}

static int cmp_kv(const void *a, const void *b)
{
    const struct meta_kv *x = a, *y = b;

    return strcasecmp(x->name, y->name);
}

/* Collect, check and encode the request's metadata into *out. */
static int meta_from_headers(struct http_req *req, char **out, struct err *err)
{
    struct meta_collect m = { NULL, 0, 0, 0, err };
    struct buf b = BUF_INIT;

    http_header_each(req, meta_header, &m);
    if (m.rc == 0 && m.bytes > QUEUE_META_MAX)
        m.rc = err_set(err, ERR_INVALID, "MetadataTooLarge",
                       "the size of the specified metadata exceeds %d bytes",
                       QUEUE_META_MAX);
    if (m.rc == 0) {
        if (m.n > 1)
            qsort(m.kv, m.n, sizeof(*m.kv), cmp_kv);
        for (size_t i = 0; i < m.n; i++)
            buf_addf(&b, "%s\n%s\n", m.kv[i].name, m.kv[i].value);
        *out = buf_detach(&b, NULL);
    }
    free(m.kv);
    buf_release(&b);
    return m.rc;
}

/*
 * Walk encoded metadata: each call yields one pair as pointers into s with
 * lengths; returns false at the end.
 */
static bool meta_next(const char **s, const char **name, size_t *nlen,
                      const char **value, size_t *vlen)
{
    const char *p = *s;
    const char *nl;

    if (!p || !*p)
        return false;
    nl = strchr(p, '\n');
    if (!nl)
        return false;
    *name = p;
    *nlen = (size_t)(nl - p);
    p = nl + 1;
    nl = strchr(p, '\n');
    if (!nl)
        return false;
    *value = p;
    *vlen = (size_t)(nl - p);
    *s = nl + 1;
    return true;
}

static bool meta_equal(const char *a, const char *b)
{
    const char *an, *av, *bn, *bv;
    size_t anl, avl, bnl, bvl;

    for (;;) {
        bool ha = meta_next(&a, &an, &anl, &av, &avl);
        bool hb = meta_next(&b, &bn, &bnl, &bv, &bvl);

        if (ha != hb)
            return false;
        if (!ha)
            return true;
        if (anl != bnl || strncasecmp(an, bn, anl) != 0 || avl != bvl ||
            memcmp(av, bv, avl) != 0)
            return false;
    }
}

static void meta_to_headers(struct http_req *req, const char *meta)
{
    const char *n, *v;
    size_t nl, vl;
    struct buf h = BUF_INIT, val = BUF_INIT;

    while (meta_next(&meta, &n, &nl, &v, &vl)) {
        buf_reset(&h);
        buf_reset(&val);
        buf_adds(&h, "x-ms-meta-");
        buf_add(&h, n, nl);
        buf_add(&val, v, vl);
        http_add_header(req, h.data, val.data);
    }
    buf_release(&h);
    buf_release(&val);
}

static void meta_to_xml(struct buf *b, const char *meta)
{
    const char *n, *v;
    size_t nl, vl;

    buf_adds(b, "<Metadata>");
    while (meta_next(&meta, &n, &nl, &v, &vl)) {
        buf_addc(b, '<');
        buf_add(b, n, nl);
        buf_addc(b, '>');
        xml_escape(b, v, vl);
        buf_adds(b, "</");
        buf_add(b, n, nl);
        buf_addc(b, '>');
    }
    buf_adds(b, "</Metadata>");
}

/* ---- routing ------------------------------------------------------------- */

static int invalid_uri(struct err *err)
{
    return err_set(err, ERR_INVALID, "InvalidUri",
                   "the requested uri does not represent any resource on "
                   "the server");
}

static int bad_verb(struct err *err, const char *method)
{
    return err_set(err, ERR_METHOD, "UnsupportedHttpVerb",
                   "the resource does not support the '%s' verb", method);
}

static int decode_seg(const char *s, size_t n, char *out, size_t max,
                      struct err *err)
{
    struct buf b = BUF_INIT;
    int rc;

    buf_init(&b, max - 1);
    rc = codec_pct_decode(&b, s, n, false);
    if (rc == 0)
        memcpy(out, b.data, b.len + 1);
    buf_release(&b);
    if (rc == -ERR_TOOBIG)
        return err_set(err, ERR_INVALID, "OutOfRangeInput",
                       "a path segment is too long");
    if (rc < 0)
        return invalid_uri(err);
    return 0;
}

/* Host's first DNS label, when Host is a name with a dot (host-style). */
static bool host_label(struct http_req *req, char *out, size_t max)
{
    const char *h = http_header(req, "Host");
    size_t n;

    if (!h || !strchr(h, '.') || h[0] == '[')
        return false;
    n = strcspn(h, ".:");
    if (n == 0 || n >= max)
        return false;
    memcpy(out, h, n);
    out[n] = '\0';
    /* an IPv4 literal is never an account */
    return strspn(out, "0123456789") != n;
}

static bool is_method(struct http_req *req, const char *m)
{
    return strcmp(req->method, m) == 0;
}

static int route(struct queue_service *s, struct http_req *req, struct qreq *q,
                 struct err *err)
{
    const char *seg[5];
    size_t len[5];
    size_t nseg = 0, first = 0, rest;
    const char *p = req->path;
    const char *comp = http_param(req, "comp");
    const char *restype = http_param(req, "restype");
    char label[AUTH_NAME_MAX];
    char msgid[64];
    int rc;

    if (*p != '/')
        return invalid_uri(err);
    p++;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);

        if (n == 0 || nseg == ARRAY_SIZE(seg))
            return invalid_uri(err);
        seg[nseg] = p;
        len[nseg] = n;
        nseg++;
        if (!slash)
            break;
        p = slash + 1; /* a trailing slash ends the path */
    }

    /* Path-style when the first segment names an account we serve. */
    q->account[0] = '\0';
    if (nseg > 0 && len[0] < sizeof(q->account)) {
        memcpy(q->account, seg[0], len[0]);
        q->account[len[0]] = '\0';
    }
    if (q->account[0] && auth_find(s->auth, q->account)) {
        first = 1;
    } else if (host_label(req, label, sizeof(label)) &&
               auth_find(s->auth, label)) {
        memcpy(q->account, label, strlen(label) + 1);
        q->host_style = true;
        first = 0;
    } else if (nseg > 0 && q->account[0]) {
        first = 1; /* unknown account: authentication will say so */
    } else {
        return invalid_uri(err);
    }
    rest = nseg - first;

    if (rest == 0) {
        if (comp && str_ieq(comp, "list")) {
            if (!is_method(req, "GET"))
                return bad_verb(err, req->method);
            q->op = QOP_LIST;
            return 0;
        }
        if (restype && str_ieq(restype, "service") && comp &&
            str_ieq(comp, "properties")) {
            if (is_method(req, "GET") || is_method(req, "HEAD"))
                q->op = QOP_PROPS_GET;
            else if (is_method(req, "PUT"))
                q->op = QOP_PROPS_SET;
            else
                return bad_verb(err, req->method);
            return 0;
        }
        if (restype && str_ieq(restype, "service") && comp &&
            str_ieq(comp, "stats")) {
            if (!is_method(req, "GET") && !is_method(req, "HEAD"))
                return bad_verb(err, req->method);
            q->op = QOP_STATS;
            return 0;
        }
        return invalid_uri(err);
    }
    rc = decode_seg(seg[first], len[first], q->queue, sizeof(q->queue), err);
    if (rc < 0)
        return rc;
    if (rest == 1) {
        if (!comp) {
            if (is_method(req, "PUT"))
                q->op = QOP_CREATE;
            else if (is_method(req, "DELETE"))
                q->op = QOP_DELETE;
            else
                return bad_verb(err, req->method);
            return 0;
        }
        if (str_ieq(comp, "metadata") || str_ieq(comp, "acl")) {
            bool meta = str_ieq(comp, "metadata");

            if (is_method(req, "GET") || is_method(req, "HEAD"))
                q->op = meta ? QOP_META_GET : QOP_ACL_GET;
            else if (is_method(req, "PUT"))
                q->op = meta ? QOP_META_SET : QOP_ACL_SET;
            else
                return bad_verb(err, req->method);
            return 0;
        }
        return bad_param(err, "comp", comp, "unknown component");
    }
    if (len[first + 1] != 8 || memcmp(seg[first + 1], "messages", 8) != 0 ||
        rest > 3)
        return invalid_uri(err);
    if (rest == 2) {
        const char *peek = http_param(req, "peekonly");
        bool is_peek = false;

        if (peek && parse_bool(peek, &is_peek) < 0)
            return bad_param(err, "peekonly", peek, "not true or false");
        if (is_method(req, "POST"))
            q->op = QOP_PUT;
        else if (is_method(req, "GET")) /* HEAD must not dequeue */
            q->op = is_peek ? QOP_PEEK : QOP_GET;
        else if (is_method(req, "DELETE"))
            q->op = QOP_CLEAR;
        else
            return bad_verb(err, req->method);
        return 0;
    }
    if (is_method(req, "PUT"))
        q->op = QOP_MSG_UPDATE;
    else if (is_method(req, "DELETE"))
        q->op = QOP_MSG_DELETE;
    else
        return bad_verb(err, req->method);
    /* An id we could never have issued is simply not found (later). */
    q->id_ok = len[first + 2] < sizeof(msgid) &&
               decode_seg(seg[first + 2], len[first + 2], msgid, sizeof(msgid),
                          NULL) == 0 &&
               qstore_parse_id(msgid, &q->rowid, &q->nonce) == 0;
    return 0;
}

/* ---- authentication and authorization ------------------------------------ */

static int authorize(struct queue_service *s, struct http_req *req,
                     struct qreq *q, struct err *err)
{
    const struct qop_info *oi = &ops[q->op];
    bool service_level = oi->restype == 's';
    struct auth_result ar;
    struct qstore_policy pol;
    int rc;

    rc = auth_storage(s->auth, req, AUTH_QUEUE, q->account,
                      service_level ? NULL : q->queue, NULL, &ar, err);
    if (rc < 0)
        return rc;
    switch (ar.kind) {
    case AUTH_SHAREDKEY:
        return 0;
    case AUTH_ANON:
        return err_set(err, ERR_AUTH, "AuthorizationFailure",
                       "this request is not authorized to perform this "
                       "operation (no credentials)");
    case AUTH_SAS_ACCOUNT:
        return auth_sas_check(&ar, AUTH_QUEUE, oi->restype, oi->acct,
                              timefmt_now_ms(), req->client_ip, err);
    case AUTH_SAS_SERVICE:
        break;
    }
    if (service_level)
        return err_set(err, ERR_AUTH, "AuthorizationFailure",
                       "a queue sas cannot authorize a service operation");
    if (!oi->sas)
        return err_set(err, ERR_AUTH, "AuthorizationPermissionMismatch",
                       "a queue sas cannot authorize %s", oi->name);
    if (ar.sas.si[0]) {
        db_lock(s->db);
        rc = qstore_acl_find(s->db, q->account, q->queue, ar.sas.si, &pol, err);
        db_unlock(s->db);
        if (rc == -ERR_NOTFOUND)
            return err_set(err, ERR_AUTH, "AuthenticationFailed",
                           "the signed identifier '%s' does not exist",
                           ar.sas.si);
        if (rc < 0)
            return rc;
        rc = auth_sas_apply_policy(&ar, pol.has_start, pol.start_ms,
                                   pol.has_expiry, pol.expiry_ms,
                                   pol.has_perms ? pol.perms : NULL, err);
        if (rc < 0)
            return rc;
    }
    return auth_sas_check(&ar, AUTH_QUEUE, oi->restype, oi->sas,
                          timefmt_now_ms(), req->client_ip, err);
}

/* ---- query parameters per operation -------------------------------------- */

static int check_params(struct http_req *req, struct qreq *q, struct err *err)
{
    int64_t v = 0;
    const char *s;
    int rc;

    rc = param_int(req, "timeout", 0, INT64_MAX, false, 0, &v, err);
    if (rc < 0)
        return rc;
    if (ops[q->op].restype != 's') {
        rc = queue_check_name(q->queue, err);
        if (rc < 0)
            return rc;
    }
    switch (q->op) {
    case QOP_LIST:
        q->prefix = http_param(req, "prefix");
        q->marker = http_param(req, "marker");
        if (!q->prefix)
            q->prefix = "";
        if (!q->marker)
            q->marker = "";
        rc = param_int(req, "maxresults", 1, INT64_MAX, false, QUEUE_LIST_MAX,
                       &v, err);
        if (rc < 0)
            return rc;
        q->has_max = http_param(req, "maxresults") != NULL;
        q->max = v > QUEUE_LIST_MAX ? QUEUE_LIST_MAX : (size_t)v;
        s = http_param(req, "include");
        q->with_meta = false;
        while (s && *s) {
            size_t n = strcspn(s, ",");

            if (n == 8 && strncasecmp(s, "metadata", 8) == 0)
                q->with_meta = true;
            s += n;
            if (*s == ',')
                s++;
        }
        return 0;
    case QOP_PUT:
        rc = param_int(req, "messagettl", -1, INT32_MAX, false,
                       QUEUE_TTL_DEFAULT_S, &q->ttl_s, err);
        if (rc == 0 && q->ttl_s == 0)
            rc = param_int(req, "messagettl", 1, INT32_MAX, false, 0, &v, err);
        if (rc < 0)
            return rc;
        rc = param_int(req, "visibilitytimeout", 0,
                       q->ttl_s < 0 || q->ttl_s > QUEUE_VIS_MAX_S
                           ? QUEUE_VIS_MAX_S
                           : q->ttl_s - 1,
                       false, 0, &q->vis_s, err);
        return rc;
    case QOP_GET:
        rc = param_int(req, "numofmessages", 1, QUEUE_GET_MAX, false, 1, &v,
                       err);
        if (rc < 0)
            return rc;
        q->n = (unsigned)v;
        return param_int(req, "visibilitytimeout", 1, QUEUE_VIS_MAX_S, false,
                         QUEUE_GET_VIS_DEFAULT_S, &q->vis_s, err);
    case QOP_PEEK:
        rc = param_int(req, "numofmessages", 1, QUEUE_GET_MAX, false, 1, &v,
                       err);
        q->n = (unsigned)v;
        return rc;
    case QOP_MSG_UPDATE:
        rc = param_int(req, "visibilitytimeout", 0, QUEUE_VIS_MAX_S, true, 0,
                       &q->vis_s, err);
        if (rc < 0)
            return rc;
        /* Update, like Delete, needs a pop receipt. */
        /* FALLTHROUGH */
    case QOP_MSG_DELETE:
        s = http_param(req, "popreceipt");
        if (!s) {
            rc = err_set(err, ERR_INVALID, "MissingRequiredQueryParameter",
                         "a query parameter that is mandatory for this "
                         "request is not specified");
            err_add_detail(err, "QueryParameterName", "popreceipt");
            return rc;
        }
        if (qstore_parse_pop(s, &q->pop) < 0)
            return bad_param(err, "popreceipt", s, "invalid receipt format");
        return 0;
    default:
        return 0;
    }
}

/* ---- request bodies ------------------------------------------------------ */

/*
 * <QueueMessage><MessageText>...</MessageText></QueueMessage>: the text
 * (decoded) stays in *root_out's tree.
 */
static int parse_message(struct http_req *req, struct qreq *q,
                         struct xml_node **root_out, struct err *err)
{
    struct xml_node *root = NULL, *t;
    int rc;

    rc = xml_parse(req->body.data, req->body.len, &root, err);
    if (rc < 0)
        return rc;
    *root_out = root;
    if (strcmp(root->name, "QueueMessage") != 0)
        return err_set(err, ERR_INVALID, "InvalidXmlDocument",
                       "the root element is not QueueMessage");
    t = xml_child(root, "MessageText");
    if (!t)
        return err_set(err, ERR_INVALID, "InvalidXmlDocument",
                       "the MessageText element is missing");
    if (t->textlen > QUEUE_TEXT_MAX) {
        rc = err_set(err, ERR_TOOBIG, "RequestBodyTooLarge",
                     "the request body is too large and exceeds the "
                     "maximum permissible limit");
        err_add_detail(err, "MaxLimit", "65536");
        return rc;
    }
    q->text = t->text;
    q->len = t->textlen;
    return 0;
}

static bool valid_perms(const char *s)
{
    unsigned seen = 0;

    for (; *s; s++) {
        const char *at = strchr("raup", *s);
        unsigned bit;

        if (!at || !*s)
            return false;
        bit = 1u << (at - "raup");
        if (seen & bit)
            return false;
        seen |= bit;
    }
    return true;
}

static int bad_node(struct err *err, const char *name, const char *value)
{
    int rc = err_set(err, ERR_INVALID, "InvalidXmlNodeValue",
                     "the value for one of the xml nodes is not in the "
                     "correct format");

    err_add_detail(err, "XmlNodeName", name);
    err_add_detail(err, "XmlNodeValue", value);
    return rc;
}

static int parse_acl(struct http_req *req, struct qreq *q, struct err *err)
{
    struct xml_node *root = NULL, *si;
    int rc;

    q->nacl = 0;
    if (req->body.len == 0)
        return 0; /* no body: remove every policy */
    rc = xml_parse(req->body.data, req->body.len, &root, err);
    if (rc < 0)
        return rc;
    if (strcmp(root->name, "SignedIdentifiers") != 0) {
        rc = err_set(err, ERR_INVALID, "InvalidXmlDocument",
                     "the root element is not SignedIdentifiers");
        goto out;
    }
    for (si = root->child; si; si = si->next) {
        struct qstore_policy *p;
        struct xml_node *id, *ap, *n;

        if (strcmp(si->name, "SignedIdentifier") != 0) {
            rc = err_set(err, ERR_INVALID, "InvalidXmlDocument",
                         "unexpected element '%s'", si->name);
            goto out;
        }
        if (q->nacl == QSTORE_ACL_MAX) {
            rc = err_set(err, ERR_INVALID, "InvalidXmlDocument",
                         "more than %d signed identifiers", QSTORE_ACL_MAX);
            goto out;
        }
        p = &q->acl[q->nacl];
        memset(p, 0, sizeof(*p));
        id = xml_child(si, "Id");
        if (!id || id->textlen == 0 || id->textlen > QSTORE_SID_MAX ||
            strlen(id->text) != id->textlen) {
            rc = bad_node(err, "Id", id ? id->text : "");
            goto out;
        }
        memcpy(p->id, id->text, id->textlen + 1);
        for (int i = 0; i < q->nacl; i++) {
            if (strcmp(q->acl[i].id, p->id) == 0) {
                rc = bad_node(err, "Id", p->id);
                goto out;
            }
        }
        ap = xml_child(si, "AccessPolicy");
        n = ap ? xml_child(ap, "Start") : NULL;
        if (n && n->textlen) {
            if (timefmt_parse_iso8601(n->text, &p->start_ms) < 0) {
                rc = bad_node(err, "Start", n->text);
                goto out;
            }
            p->has_start = true;
        }
        n = ap ? xml_child(ap, "Expiry") : NULL;
        if (n && n->textlen) {
            if (timefmt_parse_iso8601(n->text, &p->expiry_ms) < 0) {
                rc = bad_node(err, "Expiry", n->text);
                goto out;
            }
            p->has_expiry = true;
        }
        n = ap ? xml_child(ap, "Permission") : NULL;
        if (n && n->textlen) {
            if (n->textlen >= sizeof(p->perms) || !valid_perms(n->text)) {
                rc = bad_node(err, "Permission", n->text);
                goto out;
            }
            memcpy(p->perms, n->text, n->textlen + 1);
            p->has_perms = true;
        }
        q->nacl++;
    }
    rc = 0;
out:
    xml_free(root);
    return rc;
}

/* Serialise an element subtree back to XML (text escaped; whitespace-only
 * text beside child elements dropped). */
static void node_to_xml(struct buf *b, const struct xml_node *n, int depth)
{
    bool blank = strspn(n->text, " \t\r\n") == n->textlen;

    buf_addf(b, "<%s>", n->name);
    if (!(n->child && blank))
        xml_escape(b, n->text, n->textlen);
    if (depth < XML_MAX_DEPTH) {
        for (const struct xml_node *c = n->child; c; c = c->next)
            node_to_xml(b, c, depth + 1);
    }
    buf_addf(b, "</%s>", n->name);
}

static const char *const prop_names[4] = { "Logging", "HourMetrics",
                                           "MinuteMetrics", "Cors" };

static const char *const prop_defaults[4] = {
    "<Logging><Version>1.0</Version><Delete>false</Delete><Read>false</Read>"
    "<Write>false</Write><RetentionPolicy><Enabled>false</Enabled>"
    "</RetentionPolicy></Logging>",
    "<HourMetrics><Version>1.0</Version><Enabled>false</Enabled>"
    "<RetentionPolicy><Enabled>false</Enabled></RetentionPolicy>"
    "</HourMetrics>",
    "<MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled>"
    "<RetentionPolicy><Enabled>false</Enabled></RetentionPolicy>"
    "</MinuteMetrics>",
    "<Cors />",
};

static int parse_props(struct http_req *req, struct qreq *q, struct err *err)
{
    struct xml_node *root = NULL;
    int rc;

    rc = xml_parse(req->body.data, req->body.len, &root, err);
    if (rc < 0)
        return rc;
    if (strcmp(root->name, "StorageServiceProperties") != 0) {
        rc = err_set(err, ERR_INVALID, "InvalidXmlDocument",
                     "the root element is not StorageServiceProperties");
        goto out;
    }
    for (int i = 0; i < 4; i++) {
        struct xml_node *n = xml_child(root, prop_names[i]);
        struct buf b = BUF_INIT;

        if (!n)
            continue;
        node_to_xml(&b, n, 1);
        q->props.part[i] = buf_detach(&b, NULL);
    }
out:
    xml_free(root);
    return rc;
}

/* ---- operations (db lock held; writes inside a group commit) ------------- */

static void render_msg_head(struct buf *b, const struct qstore_msg *m)
{
    char id[QSTORE_ID_LEN];

    qstore_format_id(m->rowid, m->nonce, id);
    buf_adds(b, "<QueueMessage><MessageId>");
    buf_adds(b, id);
    buf_adds(b, "</MessageId>");
    elem_time(b, "InsertionTime", m->inserted_ms);
    elem_time(b, "ExpirationTime", m->expires_ms);
}

static int emit_get(void *ctx, const struct qstore_msg *m)
{
    struct buf *b = ctx;
    char pop[QSTORE_POP_LEN];

    qstore_format_pop(m->pop, pop);
    render_msg_head(b, m);
    xml_elem(b, "PopReceipt", pop);
    elem_time(b, "TimeNextVisible", m->visible_ms);
    buf_addf(b, "<DequeueCount>%lld</DequeueCount><MessageText>",
             (long long)m->dequeue_count);
    xml_escape(b, m->text, m->len);
    return buf_adds(b, "</MessageText></QueueMessage>");
}

static int emit_peek(void *ctx, const struct qstore_msg *m)
{
    struct buf *b = ctx;

    render_msg_head(b, m);
    buf_addf(b, "<DequeueCount>%lld</DequeueCount><MessageText>",
             (long long)m->dequeue_count);
    xml_escape(b, m->text, m->len);
    return buf_adds(b, "</MessageText></QueueMessage>");
}

struct list_ctx {
    struct buf *b;
};

static int emit_queue(void *ctx, const char *name, const char *meta)
{
    struct list_ctx *l = ctx;

    buf_adds(l->b, "<Queue>");
    xml_elem(l->b, "Name", name);
    if (meta)
        meta_to_xml(l->b, meta);
    return buf_adds(l->b, "</Queue>");
}

static int run_op(struct db *db, void *arg, struct err *err)
{
    struct qreq *q = arg;
    int64_t now = timefmt_now_ms();
    int64_t qid;
    int rc;

    switch (q->op) {
    case QOP_LIST: {
        struct list_ctx l = { &q->out };

        return qstore_queue_list(db, q->account, q->prefix, q->marker, q->max,
                                 q->with_meta, emit_queue, &l, &q->next_marker,
                                 err);
    }
    case QOP_PROPS_GET:
        return qstore_props_get(db, q->account, &q->props, err);
    case QOP_PROPS_SET:
        return qstore_props_set(db, q->account, &q->props, err);
    case QOP_STATS:
        return 0;
    case QOP_CREATE: {
        char *old = NULL;

        rc = qstore_queue_create(db, q->account, q->queue, q->meta, now,
                                 &q->created, &old, err);
        if (rc == 0 && !q->created && !meta_equal(old, q->meta))
            rc = err_set(err, ERR_CONFLICT, "QueueAlreadyExists",
                         "the specified queue already exists");
        free(old);
        return rc;
    }
    case QOP_DELETE:
        return qstore_queue_delete(db, q->account, q->queue, err);
    case QOP_META_GET:
        return qstore_queue_props(db, q->account, q->queue, &q->meta, &q->count,
                                  err);
    case QOP_META_SET:
        return qstore_queue_set_meta(db, q->account, q->queue, q->meta, err);
    case QOP_ACL_GET:
        return qstore_acl_get(db, q->account, q->queue, q->acl, &q->nacl, err);
    case QOP_ACL_SET:
        return qstore_acl_set(db, q->account, q->queue, q->acl, q->nacl, err);
    case QOP_PUT:
        return queue_put_msg(db, q->account, q->queue, q->text, q->len,
                             q->vis_s * 1000, q->ttl_s, false, &q->msg, err);
    default:
        break;
    }
    rc = qstore_queue_id(db, q->account, q->queue, &qid, err);
    if (rc < 0)
        return rc;
    switch (q->op) {
    case QOP_GET:
        return qstore_msg_get(db, qid, q->n, now, q->vis_s * 1000, emit_get,
                              &q->out, err);
    case QOP_PEEK:
        return qstore_msg_peek(db, qid, q->n, now, emit_peek, &q->out, err);
    case QOP_CLEAR:
        return qstore_msg_clear(db, qid, err);
    case QOP_MSG_DELETE:
        if (!q->id_ok)
            return err_set(err, ERR_NOTFOUND, "MessageNotFound",
                           "the specified message does not exist");
        return qstore_msg_delete(db, qid, q->rowid, q->nonce, q->pop, now, err);
    case QOP_MSG_UPDATE:
        if (!q->id_ok)
            return err_set(err, ERR_NOTFOUND, "MessageNotFound",
                           "the specified message does not exist");
        return qstore_msg_update(db, qid, q->rowid, q->nonce, q->pop, now,
                                 q->vis_s * 1000, q->text, q->len, &q->msg,
                                 err);
    default:
        return err_set(err, ERR_INTERNAL, "InternalError", "unrouted op");
    }
}

/* ---- replies ------------------------------------------------------------- */

static void reply_xml(struct http_req *req, int status, struct buf *b)
{
    http_reply(req, status, "application/xml", b);
}

static void reply_list(struct http_req *req, struct qreq *q)
{
    const char *host = http_header(req, "Host");
    struct buf b = BUF_INIT;

    if (!host)
        host = "127.0.0.1";
    buf_adds(&b, XML_DECL "<EnumerationResults ServiceEndpoint=\"http://");
    xml_escape(&b, host, strlen(host));
    buf_addc(&b, '/');
    if (!q->host_style) {
        buf_adds(&b, q->account);
        buf_addc(&b, '/');
    }
    buf_adds(&b, "\">");
    if (q->prefix[0])
        xml_elem(&b, "Prefix", q->prefix);
    if (q->marker[0])
        xml_elem(&b, "Marker", q->marker);
    if (q->has_max)
        buf_addf(&b, "<MaxResults>%zu</MaxResults>", q->max);
    buf_adds(&b, "<Queues>");
    buf_add(&b, q->out.data, q->out.len);
    buf_adds(&b, "</Queues>");
    if (q->next_marker)
        xml_elem(&b, "NextMarker", q->next_marker);
    else
        buf_adds(&b, "<NextMarker />");
    buf_adds(&b, "</EnumerationResults>");
    reply_xml(req, 200, &b);
    buf_release(&b);
}

static void reply_acl(struct http_req *req, struct qreq *q)
{
    struct buf b = BUF_INIT;
    char t[TIMEFMT_ISO_LEN];

    buf_adds(&b, XML_DECL "<SignedIdentifiers>");
    for (int i = 0; i < q->nacl; i++) {
        const struct qstore_policy *p = &q->acl[i];

        buf_adds(&b, "<SignedIdentifier>");
        xml_elem(&b, "Id", p->id);
        buf_adds(&b, "<AccessPolicy>");
        if (p->has_start) {
            timefmt_iso8601(p->start_ms, 7, t);
            xml_elem(&b, "Start", t);
        }
        if (p->has_expiry) {
            timefmt_iso8601(p->expiry_ms, 7, t);
            xml_elem(&b, "Expiry", t);
        }
        if (p->has_perms)
            xml_elem(&b, "Permission", p->perms);
        buf_adds(&b, "</AccessPolicy></SignedIdentifier>");
    }
    buf_adds(&b, "</SignedIdentifiers>");
    reply_xml(req, 200, &b);
    buf_release(&b);
}

static void reply_props(struct http_req *req, struct qreq *q)
{
    struct buf b = BUF_INIT;

    buf_adds(&b, XML_DECL "<StorageServiceProperties>");
    for (int i = 0; i < 4; i++)
        buf_adds(&b, q->props.part[i] ? q->props.part[i] : prop_defaults[i]);
    buf_adds(&b, "</StorageServiceProperties>");
    reply_xml(req, 200, &b);
    buf_release(&b);
}

static void reply_stats(struct http_req *req)
{
    struct buf b = BUF_INIT;

    buf_adds(&b, XML_DECL "<StorageServiceStats><GeoReplication>"
                          "<Status>live</Status>");
    elem_time(&b, "LastSyncTime", timefmt_now_ms());
    buf_adds(&b, "</GeoReplication></StorageServiceStats>");
    reply_xml(req, 200, &b);
    buf_release(&b);
}

static void reply_ok(struct http_req *req, struct qreq *q)
{
    struct buf b = BUF_INIT;
    char pop[QSTORE_POP_LEN];
    char count[24];

    switch (q->op) {
    case QOP_LIST:
        reply_list(req, q);
        return;
    case QOP_PROPS_GET:
        reply_props(req, q);
        return;
    case QOP_PROPS_SET:
        http_reply(req, 202, NULL, NULL);
        return;
    case QOP_STATS:
        reply_stats(req);
        return;
    case QOP_CREATE:
        http_reply(req, q->created ? 201 : 204, NULL, NULL);
        return;
    case QOP_META_GET:
        meta_to_headers(req, q->meta);
        snprintf(count, sizeof(count), "%lld", (long long)q->count);
        http_add_header(req, "x-ms-approximate-messages-count", count);
        http_add_header(req, "Cache-Control", "no-cache");
        http_reply(req, 200, NULL, NULL);
        return;
    case QOP_ACL_GET:
        reply_acl(req, q);
        return;
    case QOP_PUT:
        qstore_format_pop(q->msg.pop, pop);
        buf_adds(&b, XML_DECL "<QueueMessagesList>");
        render_msg_head(&b, &q->msg);
        xml_elem(&b, "PopReceipt", pop);
        elem_time(&b, "TimeNextVisible", q->msg.visible_ms);
        buf_adds(&b, "</QueueMessage></QueueMessagesList>");
        reply_xml(req, 201, &b);
        break;
    case QOP_GET:
    case QOP_PEEK:
        /* q->out already holds the declaration and the messages */
        buf_adds(&q->out, "</QueueMessagesList>");
        http_add_header(req, "Cache-Control", "no-cache");
        reply_xml(req, 200, &q->out);
        break;
    case QOP_MSG_UPDATE:
        qstore_format_pop(q->msg.pop, pop);
        http_add_header(req, "x-ms-popreceipt", pop);
        add_time_header(req, "x-ms-time-next-visible", q->msg.visible_ms);
        http_reply(req, 204, NULL, NULL);
        break;
    default: /* DELETE, META_SET, ACL_SET, CLEAR, MSG_DELETE */
        http_reply(req, 204, NULL, NULL);
        break;
    }
    buf_release(&b);
}

/* ---- handlers ------------------------------------------------------------ */

void queue_api_begin(struct http_req *req)
{
    struct queue_service *s = req->svc;
    struct qreq *q = xcalloc(1, sizeof(*q));
    struct err e = ERR_INIT;

    buf_init(&q->out, (size_t)-1);
    req->state = q;
    if (route(s, req, q, &e) < 0 || authorize(s, req, q, &e) < 0 ||
        check_params(req, q, &e) < 0) {
        log_debug("queue request refused method=%s path=%s code=%s",
                  req->method, req->path, e.svc);
        http_reply_storage_error(req, &e);
        return;
    }
    switch (q->op) {
    case QOP_PUT:
    case QOP_MSG_UPDATE:
        req->body_max = QUEUE_BODY_MAX;
        break;
    default:
        req->body_max = QUEUE_SMALL_BODY_MAX;
        break;
    }
    /*
     * Refuse an announced oversized body now: an Expect: 100-continue
     * client then never sends it, and nobody has to read and drop it.
     */
    if (req->has_length && req->length > req->body_max) {
        char lim[24];

        err_set(&e, ERR_TOOBIG, "RequestBodyTooLarge",
                "the request body is too large and exceeds the maximum "
                "permissible limit");
        snprintf(lim, sizeof(lim), "%zu", req->body_max);
        err_add_detail(&e, "MaxLimit", lim);
        http_reply_storage_error(req, &e);
    }
}

static void reply(struct http_req *req, struct qreq *q, int rc,
                  const struct err *e)
{
    if (rc < 0) {
        log_debug("queue request failed op=%s code=%s msg=%s", ops[q->op].name,
                  e->svc, e->msg);
        http_reply_storage_error(req, e);
    } else {
        reply_ok(req, q);
    }
}

/* The group commit's thread: a write is over (queue_api_end). */
static void write_done(struct dbgroup_op *op, int rc)
{
    struct qreq *q = (struct qreq *)((char *)op - offsetof(struct qreq, gop));

    q->rc = rc;
    http_wait_done(&q->wait);
}

/*
 * Writes do not wait for their commit on the worker thread: end() hands
 * the operation to the group commit (dbgroup_submit) and parks the request
 * (http_wait); the committing thread wakes it, and end() runs again to
 * reply. So a worker serves many connections, and the commit's waiters
 * are not threads. Reads run here, under the db lock.
 */
void queue_api_end(struct http_req *req)
{
    struct queue_service *s = req->svc;
    struct qreq *q = req->state;
    int rc = 0;

    if (q->wait.req) {
        /* end() again: the commit is over, or the wake-up was spurious */
        if (!http_wait_pending(req, &q->wait))
            reply(req, q, q->rc, &q->err);
        return;
    }
    q->err = (struct err)ERR_INIT;
    switch (q->op) {
    case QOP_PUT:
        rc = parse_message(req, q, &q->root, &q->err);
        break;
    case QOP_MSG_UPDATE:
        if (req->body.len)
            rc = parse_message(req, q, &q->root, &q->err);
        break;
    case QOP_CREATE:
    case QOP_META_SET:
        rc = meta_from_headers(req, &q->meta, &q->err);
        break;
    case QOP_ACL_SET:
        rc = parse_acl(req, q, &q->err);
        break;
    case QOP_PROPS_SET:
        rc = parse_props(req, q, &q->err);
        break;
    default:
        break;
    }
    if (q->op == QOP_GET || q->op == QOP_PEEK)
        buf_adds(&q->out, XML_DECL "<QueueMessagesList>");
    if (rc == 0 && ops[q->op].write) {
        http_wait_start(req, &q->wait);
        dbgroup_submit(s->commit, &q->gop, run_op, q, &q->err, write_done);
        return;
    }
    if (rc == 0) {
        db_lock(s->db);
        rc = run_op(s->db, q, &q->err);
        db_unlock(s->db);
    }
    reply(req, q, rc, &q->err);
}

void queue_api_done(struct http_req *req)
{
    struct qreq *q = req->state;

    if (!q)
        return;
    http_wait_drain(&q->wait); /* shutdown: the write may still commit */
    xml_free(q->root);
    free(q->meta);
    free(q->next_marker);
    qstore_props_release(&q->props);
    buf_release(&q->out);
    free(q);
    req->state = NULL;
}
