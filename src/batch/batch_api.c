/*
 * batch_api.c: the Batch REST front door on the batch port.
 *
 * Purpose: for every request, in this order (batch-wire.md §5.4): the
 * agent protocol prefix /_node/ goes to agent_api.c (its own bearer auth);
 * otherwise api-version (required: 400 MissingRequiredQueryParameter;
 * anything but YYYY-MM-DD.N.N: 400 UnsupportedRequestVersion; any
 * well-formed version is served with 2022-10-01.16.0 semantics, and versions
 * newer than that have unknown body properties ignored rather than
 * refused), Batch SharedKey (auth_batch), then the route, decided from the
 * decoded path segments, and the handler of the resource file
 * (pool_api.c, job_api.c, task_api.c, node_api.c, file_api.c,
 * schedule_api.c, prep_api.c; join.c for shoal's /pools/{p}/jointoken).
 *
 * Handlers run from end() (the body, if any, is buffered by http up to
 * 1 MiB; beyond that http answers 413 RequestBodyTooLarge). Errors found
 * in begin() are answered at once. This file also holds the helpers every
 * handler shares: JSON replies, entity headers, conditional headers, the
 * list plumbing ($filter, $select, maxresults, odata.nextLink with our
 * continuation $skiptoken) and time rendering.
 *
 * Structures: struct breq (batchint.h) is the per-request state, in
 * req->state from begin() to done().
 *
 * Threads: http worker threads, many at once. Handlers take the model lock
 * for their reads and changes and never hold it while waiting for the
 * journal. Ownership: breq owns its segments; header values are borrowed
 * from http until done().
 */
#include "batch/batchint.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "batch/fileproxy.h"
#include "batch/join.h"
#include "batch/odata.h"
#include "batch/spec.h"
#include "batch/store.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define API_VERSION_CURRENT "2022-10-01.16.0"
#define JSON_CTYPE          "application/json;odata=minimalmetadata"
#define BODY_LIMIT          (1u << 20)
#define BODY_READ_MAX       (4u << 20)

/* ---- replies ------------------------------------------------------------ */

void batch_api_fail(struct http_req *req, const struct err *e)
{
    http_reply_batch_error(req, e);
}

void batch_api_bad_method(struct http_req *req)
{
    struct err e = ERR_INIT;

    err_set(&e, ERR_METHOD, "UnsupportedHttpVerb",
            "the resource doesn't support the specified http verb '%s'",
            req->method);
    batch_api_fail(req, &e);
}

bool batch_api_durable(struct http_req *req, uint64_t ticket)
{
    struct batch_service *s = batch_api_state(req)->s;
    struct err e = ERR_INIT;

    if (store_wait(s->store, ticket, &e) < 0) {
        batch_api_fail(req, &e);
        return false;
    }
    return true;
}

void batch_api_json(struct http_req *req, int status, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    struct buf b = BUF_INIT;

    json_decref(o);
    if (!s)
        BUG("out of memory rendering JSON");
    buf_adds(&b, s);
    free(s);
    if (http_is_head(req))
        buf_release(&b);
    http_reply(req, status, JSON_CTYPE, &b);
    buf_release(&b);
}

void batch_api_entity_headers(struct http_req *req, uint64_t etag,
                              int64_t modified_ms)
{
    char e[24], lm[TIMEFMT_RFC1123_LEN];

    model_etag_str(etag, e);
    timefmt_rfc1123(modified_ms, lm);
    http_add_header(req, "ETag", e);
    http_add_header(req, "Last-Modified", lm);
}

void batch_api_created(struct http_req *req, const char *url, uint64_t etag,
                       int64_t modified_ms)
{
    http_add_header(req, "Location", url);
    http_add_header(req, "DataServiceId", url);
    batch_api_entity_headers(req, etag, modified_ms);
    http_reply(req, 201, NULL, NULL);
}

void batch_api_done(struct http_req *req, int status, const char *url,
                    uint64_t etag, int64_t modified_ms)
{
    if (url)
        http_add_header(req, "DataServiceId", url);
    if (etag)
        batch_api_entity_headers(req, etag, modified_ms);
    http_reply(req, status, NULL, NULL);
}

static bool etag_list_has(const char *list, const char *etag)
{
    const char *p = list;

    while (*p) {
        size_t n;
        while (*p == ' ' || *p == ',')
            p++;
        n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if ((n == 1 && p[0] == '*') ||
            (n == strlen(etag) && strncmp(p, etag, n) == 0))
            return true;
        if (n >= 2 && p[0] == '"' && p[n - 1] == '"' && n - 2 == strlen(etag) &&
            strncmp(p + 1, etag, n - 2) == 0)
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

int batch_api_conditions(struct http_req *req, bool read, uint64_t etag,
                         int64_t modified_ms, struct err *err)
{
    const char *im = http_header(req, "If-Match");
    const char *inm = http_header(req, "If-None-Match");
    const char *ims = http_header(req, "If-Modified-Since");
    const char *ius = http_header(req, "If-Unmodified-Since");
    char e[24];
    int64_t t, mod_s = modified_ms / 1000;

    model_etag_str(etag, e);
    if (im && !etag_list_has(im, e))
        return err_set(err, ERR_PRECONDITION, "ConditionNotMet",
                       "the condition specified using http conditional "
                       "header(s) is not met");
    if (ius && timefmt_parse_rfc1123(ius, &t) == 0 && mod_s > t / 1000)
        return err_set(err, ERR_PRECONDITION, "ConditionNotMet",
                       "the condition specified using http conditional "
                       "header(s) is not met");
    if (inm && etag_list_has(inm, e))
        return err_set(err, read ? ERR_NOT_MODIFIED : ERR_PRECONDITION,
                       "ConditionNotMet",
                       "the condition specified using http conditional "
                       "header(s) is not met");
    if (ims && timefmt_parse_rfc1123(ims, &t) == 0 && mod_s <= t / 1000)
        return err_set(err, read ? ERR_NOT_MODIFIED : ERR_PRECONDITION,
                       "ConditionNotMet",
                       "the condition specified using http conditional "
                       "header(s) is not met");
    return 0;
}

void batch_api_time(json_t *o, const char *key, int64_t ms)
{
    char s[TIMEFMT_ISO_LEN];

    timefmt_iso8601(ms, 7, s);
    json_object_set_new(o, key, json_string(s));
}

void batch_api_duration(json_t *o, const char *key, int64_t ms)
{
    char s[48];

    timefmt_duration(ms, s, sizeof(s));
    json_object_set_new(o, key, json_string(s));
}

int batch_api_body(struct http_req *req, int kind, bool allow_empty,
                   json_t **out, struct err *err)
{
    struct breq *b = batch_api_state(req);
    json_t *in = NULL;
    int rc;

    rc = spec_parse_body(req->body.data, req->body.len, allow_empty, &in, err);
    if (rc < 0)
        return rc;
    rc = spec_check((enum spec_kind)kind, in, b->strict, out, err);
    json_decref(in);
    return rc;
}

struct breq *batch_api_state(struct http_req *req)
{
    return req->state;
}

const char *batch_api_account(struct http_req *req)
{
    return batch_api_state(req)->acct->name;
}

/* ---- lists
 * -------------------------------------------------------------------- */

int batch_api_list_begin(struct http_req *req, size_t limit,
                         struct batch_list *l, struct err *err)
{
    const char *v;
    uint64_t n;
    int rc;

    memset(l, 0, sizeof(*l));
    l->max = limit;
    v = http_param(req, "maxresults");
    if (v) {
        if (parse_u64(v, 1, limit, &n) < 0) {
            err_set(err, ERR_INVALID, "InvalidQueryParameterValue",
                    "maxresults must be between 1 and %zu", limit);
            err_add_detail(err, "QueryParameterName", "maxresults");
            err_add_detail(err, "QueryParameterValue", v);
            return -ERR_INVALID;
        }
        l->max = (size_t)n;
    }
    v = http_param(req, "$skiptoken");
    if (v && parse_u64(v, 0, UINT64_MAX - 1, &l->after) < 0) {
        err_set(err, ERR_INVALID, "InvalidQueryParameterValue",
                "the continuation token is not valid");
        err_add_detail(err, "QueryParameterName", "$skiptoken");
        return -ERR_INVALID;
    }
    v = http_param(req, "$filter");
    if (v) {
        rc = odata_parse_filter(v, &l->filter, err);
        if (rc < 0) {
            err_add_detail(err, "QueryParameterName", "$filter");
            return rc;
        }
    }
    v = http_param(req, "$select");
    if (v) {
        rc = odata_parse_select(v, &l->select, &l->nselect, err);
        if (rc < 0) {
            err_add_detail(err, "QueryParameterName", "$select");
            batch_api_list_release(l);
            return rc;
        }
    }
    return 0;
}

void batch_api_list_release(struct batch_list *l)
{
    odata_free(l->filter);
    if (l->select)
        odata_free_select(l->select, l->nselect);
    memset(l, 0, sizeof(*l));
}

void batch_api_select(json_t *o, char **select, size_t nselect)
{
    const char *key;
    json_t *v;
    void *tmp;

    if (!select || nselect == 0)
        return;
    json_object_foreach_safe(o, tmp, key, v)
    {
        bool keep = strcmp(key, "odata.metadata") == 0;
        (void)v;
        for (size_t i = 0; i < nselect && !keep; i++)
            keep = strcmp(select[i], key) == 0;
        if (!keep)
            json_object_del(o, key);
    }
}

void batch_api_list_reply(struct http_req *req, const char *what, json_t *items,
                          uint64_t next)
{
    struct breq *b = batch_api_state(req);
    json_t *o = json_object();
    char *meta = xasprintf("%s/$metadata#%s", b->base, what);

    json_object_set_new(o, "odata.metadata", json_string(meta));
    json_object_set_new(o, "value", items);
    if (next) {
        struct buf u = BUF_INIT;
        const char *q = req->query;
        bool first = true;

        buf_addf(&u, "%s%s?", b->base, req->path);
        while (*q) {
            size_t n = strcspn(q, "&");
            if (n > 0 && !str_iprefix(q, "$skiptoken=") &&
                !str_iprefix(q, "%24skiptoken=")) {
                if (!first)
                    buf_addc(&u, '&');
                buf_add(&u, q, n);
                first = false;
            }
            q += n;
            if (*q)
                q++;
        }
        buf_addf(&u, "%s$skiptoken=%" PRIu64, first ? "" : "&", next);
        json_object_set_new(o, "odata.nextLink", json_string(u.data));
        buf_release(&u);
    }
    free(meta);
    batch_api_json(req, 200, o);
}

int batch_api_list_start(struct http_req *req, size_t limit,
                         int (*get)(void *ctx, const char *prop,
                                    struct odata_value *out),
                         struct batch_list *l)
{
    struct err e = ERR_INIT;

    if (batch_api_list_begin(req, limit, l, &e) < 0 ||
        odata_check(l->filter, get, NULL, &e) < 0) {
        batch_api_list_release(l);
        batch_api_fail(req, &e);
        return -1;
    }
    return 0;
}

void batch_api_list_end(struct http_req *req, struct batch_list *l,
                        const char *what, json_t *items, uint64_t next,
                        const struct err *e)
{
    if (e->code) {
        json_decref(items);
        batch_api_fail(req, e);
    } else {
        batch_api_list_reply(req, what, items, next);
    }
    batch_api_list_release(l);
}

/* ---- one entity
 * ------------------------------------------------------------------ */

int batch_api_get_begin(struct http_req *req, uint64_t etag,
                        int64_t modified_ms, char ***sel, size_t *nsel,
                        struct err *err)
{
    const char *s = http_param(req, "$select");

    *sel = NULL;
    *nsel = 0;
    if (batch_api_conditions(req, true, etag, modified_ms, err) < 0 ||
        (s && odata_parse_select(s, sel, nsel, err) < 0))
        return -1;
    return 0;
}

void batch_api_get_reply(struct http_req *req, const char *what, json_t *o,
                         char **sel, size_t nsel)
{
    struct breq *b = batch_api_state(req);
    char *meta = xasprintf("%s/$metadata#%s/@Element", b->base, what);

    json_object_set_new(o, "odata.metadata", json_string(meta));
    free(meta);
    batch_api_select(o, sel, nsel);
    if (sel)
        odata_free_select(sel, nsel);
    batch_api_json(req, 200, o);
}

/* ---- routing
 * --------------------------------------------------------------------- */

static bool api_version_ok(const char *v, bool *strict)
{
    /* YYYY-MM-DD.N.N */
    size_t i;
    int dots = 0;

    if (strlen(v) < 14)
        return false;
    for (i = 0; i < 10; i++) {
        bool dash = i == 4 || i == 7;
        if (dash ? v[i] != '-' : !isdigit((unsigned char)v[i]))
            return false;
    }
    if (v[10] != '.')
        return false;
    for (i = 11; v[i]; i++) {
        if (v[i] == '.') {
            if (!isdigit((unsigned char)v[i - 1]))
                return false;
            dots++;
        } else if (!isdigit((unsigned char)v[i])) {
            return false;
        }
    }
    if (dots != 1 || !isdigit((unsigned char)v[i - 1]) ||
        !isdigit((unsigned char)v[11]))
        return false;
    {
        int c = strncmp(v, API_VERSION_CURRENT, 10);
        uint64_t major = 0, minor = 0;
        const char *dot = strchr(v + 11, '.');
        char tmp[24];
        size_t n = (size_t)(dot - (v + 11));
        if (n >= sizeof(tmp) || strlen(dot + 1) >= sizeof(tmp))
            return false;
        memcpy(tmp, v + 11, n);
        tmp[n] = '\0';
        if (parse_u64(tmp, 0, 1000000, &major) < 0 ||
            parse_u64(dot + 1, 0, 1000000, &minor) < 0)
            return false;
        *strict =
            c < 0 || (c == 0 && (major < 16 || (major == 16 && minor == 0)));
    }
    return true;
}

static void split_path(struct breq *b, const char *path)
{
    const char *p = path;
    size_t cap = 0;

    while (*p == '/')
        p++;
    while (*p) {
        size_t n = strcspn(p, "/");
        struct buf d = BUF_INIT;
        if (codec_pct_decode(&d, p, n, false) < 0) {
            buf_reset(&d);
            buf_add(&d, p, n);
        }
        if (b->nseg == cap) {
            cap = cap ? cap * 2 : 8;
            b->seg = xrealloc(b->seg, cap * sizeof(char *));
        }
        b->seg[b->nseg++] = buf_detach(&d, NULL);
        p += n;
        while (*p == '/')
            p++;
    }
}

static bool seg_is(struct breq *b, size_t i, const char *s)
{
    return i < b->nseg && str_ieq(b->seg[i], s);
}

static void join_rest(struct breq *b, size_t from)
{
    struct buf j = BUF_INIT;

    for (size_t i = from; i < b->nseg; i++) {
        if (i > from)
            buf_addc(&j, '/');
        buf_adds(&j, b->seg[i]);
    }
    b->file_path = buf_detach(&j, NULL);
}

static enum batch_route route_of(struct breq *b)
{
    size_t n = b->nseg;

    if (n == 0)
        return R_NONE;
    if (seg_is(b, 0, "pools")) {
        if (n == 1)
            return R_POOLS;
        if (n == 2)
            return R_POOL;
        if (n == 3 && seg_is(b, 2, "jointoken"))
            return R_POOL_JOINTOKEN;
        if (n == 3)
            return seg_is(b, 2, "nodes") ? R_NODES : R_POOL_ACTION;
        if (!seg_is(b, 2, "nodes"))
            return R_NONE;
        if (n == 4)
            return R_NODE;
        if (n == 5)
            return seg_is(b, 4, "files") ? R_NODE_FILES : R_NODE_ACTION;
        if (seg_is(b, 4, "files")) {
            join_rest(b, 5);
            return R_NODE_FILE;
        }
        return R_NONE;
    }
    if (seg_is(b, 0, "jobs")) {
        if (n == 1)
            return R_JOBS;
        if (n == 2)
            return R_JOB;
        if (n == 3) {
            if (seg_is(b, 2, "tasks"))
                return R_TASKS;
            if (seg_is(b, 2, "addtaskcollection"))
                return R_COLLECTION;
            if (seg_is(b, 2, "taskcounts"))
                return R_TASKCOUNTS;
            if (seg_is(b, 2, "jobpreparationandreleasetaskstatus"))
                return R_JOB_PREPSTATUS;
            if (seg_is(b, 2, "terminate") || seg_is(b, 2, "disable") ||
                seg_is(b, 2, "enable"))
                return R_JOB_ACTION;
            return R_NOTIMPL;
        }
        if (!seg_is(b, 2, "tasks"))
            return R_NONE;
        if (n == 4)
            return R_TASK;
        if (n == 5)
            return seg_is(b, 4, "files") ? R_TASK_FILES : R_TASK_ACTION;
        if (seg_is(b, 4, "files")) {
            join_rest(b, 5);
            return R_TASK_FILE;
        }
        return R_NONE;
    }
    if (n == 1 && seg_is(b, 0, "nodecounts"))
        return R_NODECOUNTS;
    if (n == 1 && seg_is(b, 0, "supportedimages"))
        return R_IMAGES;
    if (n == 1 && seg_is(b, 0, "applications"))
        return R_EMPTY_LIST;
    if (seg_is(b, 0, "jobschedules")) {
        if (n == 1)
            return R_SCHEDULES;
        if (n == 2)
            return R_SCHEDULE;
        if (n == 3)
            return seg_is(b, 2, "jobs") ? R_SCHEDULE_JOBS : R_SCHEDULE_ACTION;
        return R_NONE;
    }
    if (seg_is(b, 0, "certificates") || seg_is(b, 0, "applications") ||
        seg_is(b, 0, "poolusagemetrics") || seg_is(b, 0, "lifetimepoolstats") ||
        seg_is(b, 0, "lifetimejobstats"))
        return R_NOTIMPL;
    return R_NONE;
}

static void breq_free(struct breq *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nseg; i++)
        free(b->seg[i]);
    free(b->seg);
    free(b->file_path);
    fileproxy_op_free(b->s, b->fop); /* withdrawn if it still waits */
    free(b);
}

static void on_begin(struct http_req *req)
{
    struct batch_service *s = req->svc;
    struct breq *b;
    struct err e = ERR_INIT;
    const char *v, *host;
    bool strict = true;

    if (str_prefix(req->path, "/_node/")) {
        agent_api_begin(req);
        return;
    }
    b = xcalloc(1, sizeof(*b));
    b->magic = BREQ_MAGIC;
    b->s = s;
    req->state = b;
    host = http_header(req, "Host");
    snprintf(b->base, sizeof(b->base), "%s://%s",
             s->cfg->tls_cert_file && s->cfg->tls_cert_file[0] ? "https"
                                                               : "http",
             host && *host && !strpbrk(host, "\"\\ ") ? host : "127.0.0.1");
    v = http_param(req, "api-version");
    if (!v) {
        err_set(&e, ERR_INVALID, "MissingRequiredQueryParameter",
                "a query parameter that's mandatory for this request is not "
                "specified");
        err_add_detail(&e, "QueryParameterName", "api-version");
        goto fail;
    }
    if (!api_version_ok(v, &strict)) {
        err_set(&e, ERR_INVALID, "UnsupportedRequestVersion",
                "the specified api-version '%.64s' is not supported", v);
        err_add_detail(&e, "QueryParameterName", "api-version");
        err_add_detail(&e, "QueryParameterValue", v);
        goto fail;
    }
    b->strict = strict;
    if (auth_batch(s->auth, req, &b->acct, &e) < 0)
        goto fail;
    split_path(b, req->path);
    b->route = route_of(b);
    if (b->route == R_NONE) {
        err_set(&e, ERR_NOTFOUND, "ResourceNotFound",
                "the specified resource does not exist");
        goto fail;
    }
    if (b->route == R_NOTIMPL) {
        err_set(&e, ERR_NOTIMPL, "NotImplemented",
                "this operation is not supported by shoal");
        goto fail;
    }
    /*
     * Bodies are limited to 1 MiB (the real limit). http buffers up to a
     * few MiB so the 413 can be answered after the whole body was read: a
     * reply while the client is still sending ends in a reset that loses
     * the RequestBodyTooLarge the SDKs key on (the Python SDK halves its
     * chunk on it). Past BODY_READ_MAX http answers early.
     */
    req->body_max = BODY_READ_MAX;
    return;
fail:
    batch_api_fail(req, &e);
}

static void images_reply(struct http_req *req)
{
    json_t *items = json_array();
    json_t *img = json_object();
    json_t *ref = json_object();

    json_object_set_new(ref, "publisher", json_string("canonical"));
    json_object_set_new(ref, "offer",
                        json_string("0001-com-ubuntu-server-focal"));
    json_object_set_new(ref, "sku", json_string("20_04-lts"));
    json_object_set_new(ref, "version", json_string("latest"));
    json_object_set_new(img, "nodeAgentSKUId",
                        json_string("batch.node.ubuntu 20.04"));
    json_object_set_new(img, "imageReference", ref);
    json_object_set_new(img, "osType", json_string("linux"));
    json_object_set_new(img, "capabilities", json_array());
    json_object_set_new(img, "verificationType", json_string("verified"));
    json_array_append_new(items, img);
    batch_api_list_reply(req, "supportedimages", items, 0);
}

static void on_end(struct http_req *req)
{
    struct breq *b = req->state;

    if (str_prefix(req->path, "/_node/")) {
        agent_api_end(req);
        return;
    }
    if (!b || b->magic != BREQ_MAGIC)
        BUG("batch request without state");
    if (req->body.len > BODY_LIMIT) {
        struct err e = ERR_INIT;
        char lim[32];
        snprintf(lim, sizeof(lim), "%u", BODY_LIMIT);
        err_set(&e, ERR_TOOBIG, "RequestBodyTooLarge",
                "the request body is larger than %u bytes", BODY_LIMIT);
        err_add_detail(&e, "MaxLimit", lim);
        batch_api_fail(req, &e);
        return;
    }
    switch (b->route) {
    case R_POOLS:
    case R_POOL:
    case R_POOL_ACTION:
        pool_api_handle(req);
        break;
    case R_POOL_JOINTOKEN:
        join_api_handle(req);
        break;
    case R_NODES:
    case R_NODE:
    case R_NODE_ACTION:
    case R_NODECOUNTS:
        node_api_handle(req);
        break;
    case R_JOBS:
    case R_JOB:
    case R_JOB_ACTION:
    case R_TASKCOUNTS:
    case R_SCHEDULE_JOBS:
        job_api_handle(req);
        break;
    case R_JOB_PREPSTATUS:
        prep_api_handle(req);
        break;
    case R_SCHEDULES:
    case R_SCHEDULE:
    case R_SCHEDULE_ACTION:
        schedule_api_handle(req);
        break;
    case R_TASKS:
    case R_COLLECTION:
    case R_TASK:
    case R_TASK_ACTION:
        task_api_handle(req);
        break;
    case R_NODE_FILES:
    case R_NODE_FILE:
    case R_TASK_FILES:
    case R_TASK_FILE:
        file_api_handle(req);
        break;
    case R_IMAGES:
        images_reply(req);
        break;
    case R_EMPTY_LIST:
        batch_api_list_reply(req, "applications", json_array(), 0);
        break;
    default: {
        struct err e = ERR_INIT;
        err_set(&e, ERR_NOTFOUND, "ResourceNotFound",
                "the specified resource does not exist");
        batch_api_fail(req, &e);
    }
    }
}

static void on_done(struct http_req *req)
{
    struct breq *b = req->state;

    if (str_prefix(req->path, "/_node/")) {
        agent_api_done(req);
        return;
    }
    if (b && b->magic == BREQ_MAGIC)
        breq_free(b);
    req->state = NULL;
}

void batch_api_init(struct batch_service *s)
{
    s->http.name = "batch";
    s->http.ctx = s;
    s->http.begin = on_begin;
    s->http.end = on_end;
    s->http.done = on_done;
}
