/*
 * container_api.c: the blob service's service-level and container-level
 * operations over HTTP: List Containers, service properties and stats,
 * account information, and Create / Get Properties / Delete / Set
 * Metadata / Get and Set ACL / Lease / List Blobs of a container.
 *
 * blob_api.c routes, authenticates, authorises and validates names, then
 * calls one function here from end(); each parses what it needs, calls the
 * store and renders the reply (XML bodies per storage-wire.md §6). No SQL
 * and no file access here.
 *
 * Service properties are a fixed document (logging, metrics, CORS and
 * soft delete all off); Set Service Properties accepts and ignores its
 * body, which lets SDK setup code run unchanged.
 *
 * Listings: the store returns a page (blob_list.c); here it becomes
 * EnumerationResults. Prefix, Marker, MaxResults and Delimiter echo what
 * the request gave; NextMarker is always present, empty on the last page.
 * Etags are unquoted in List Blobs and quoted in List Containers, as the
 * service writes them.
 *
 * Threads: any worker thread; no state of its own.
 */
#include "blob/blobint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"
#include "core/xml.h"
#include "http/http.h"

static const char service_props_xml[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><StorageServiceProperties>"
    "<Logging><Version>1.0</Version><Read>false</Read><Write>false</Write>"
    "<Delete>false</Delete><RetentionPolicy><Enabled>false</Enabled>"
    "</RetentionPolicy></Logging><HourMetrics><Version>1.0</Version>"
    "<Enabled>false</Enabled><RetentionPolicy><Enabled>false</Enabled>"
    "</RetentionPolicy></HourMetrics><MinuteMetrics><Version>1.0</Version>"
    "<Enabled>false</Enabled><RetentionPolicy><Enabled>false</Enabled>"
    "</RetentionPolicy></MinuteMetrics><Cors/>"
    "<DeleteRetentionPolicy><Enabled>false</Enabled>"
    "</DeleteRetentionPolicy><StaticWebsite><Enabled>false</Enabled>"
    "</StaticWebsite></StorageServiceProperties>";

static const char service_stats_xml[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><StorageServiceStats>"
    "<GeoReplication><Status>live</Status><LastSyncTime></LastSyncTime>"
    "</GeoReplication></StorageServiceStats>";

static void reply_xml(struct blob_req *r, int status, struct buf *b)
{
    http_reply(r->req, status, "application/xml", b);
}

void container_api_service_props(struct blob_req *r)
{
    struct buf b = BUF_INIT;

    if (r->op == BLOB_OP_SET_SERVICE_PROPS) {
        http_reply(r->req, 202, NULL, NULL);
        return;
    }
    buf_adds(&b, r->op == BLOB_OP_SERVICE_STATS ? service_stats_xml
                                                : service_props_xml);
    reply_xml(r, 200, &b);
    buf_release(&b);
}

void container_api_account_info(struct blob_req *r)
{
    http_add_header(r->req, "x-ms-sku-name", "Standard_LRS");
    http_add_header(r->req, "x-ms-account-kind", "StorageV2");
    http_add_header(r->req, "x-ms-is-hns-enabled", "false");
    http_reply(r->req, 200, NULL, NULL);
}

static const char *access_str(enum blob_access a)
{
    switch (a) {
    case BLOB_ACCESS_BLOB:
        return "blob";
    case BLOB_ACCESS_CONTAINER:
        return "container";
    case BLOB_ACCESS_PRIVATE:
    default:
        return NULL;
    }
}

static int parse_access(struct blob_req *r, enum blob_access *out,
                        struct err *e)
{
    const char *v = http_header(r->req, "x-ms-blob-public-access");

    *out = BLOB_ACCESS_PRIVATE;
    if (!v || !v[0])
        return 0;
    if (str_ieq(v, "container")) {
        *out = BLOB_ACCESS_CONTAINER;
    } else if (str_ieq(v, "blob")) {
        *out = BLOB_ACCESS_BLOB;
    } else {
        err_set(e, ERR_INVALID, "InvalidHeaderValue",
                "the value for header 'x-ms-blob-public-access' is not "
                "valid");
        err_add_detail(e, "HeaderName", "x-ms-blob-public-access");
        err_add_detail(e, "HeaderValue", v);
        return -ERR_INVALID;
    }
    return 0;
}

static int lease_id(struct blob_req *r, const char **out, struct err *e)
{
    const char *v = http_header(r->req, "x-ms-lease-id");

    *out = v;
    if (v && !blob_lease_id_ok(v)) {
        err_set(e, ERR_INVALID, "InvalidHeaderValue",
                "the value for header 'x-ms-lease-id' is not valid");
        err_add_detail(e, "HeaderName", "x-ms-lease-id");
        err_add_detail(e, "HeaderValue", v);
        return -ERR_INVALID;
    }
    return 0;
}

void container_api_create(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct buf meta = BUF_INIT;
    struct blob_container c;
    enum blob_access access;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = parse_access(r, &access, &e);
    if (rc == 0)
        rc = blob_api_parse_meta(r, &meta, &e);
    if (rc == 0)
        rc = blob_container_create(r->store, r->path.account, r->path.container,
                                   access, meta.data, &c, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
    } else {
        blob_api_add_etag(r, c.etag, c.mtime_ms);
        http_reply(r->req, 201, NULL, NULL);
    }
    blob_container_release(&c);
    buf_release(&meta);
}

static void add_container_headers(struct blob_req *r,
                                  const struct blob_container *c)
{
    const char *a = access_str(c->access);

    blob_api_add_etag(r, c->etag, c->mtime_ms);
    if (a)
        http_add_header(r->req, "x-ms-blob-public-access", a);
}

void container_api_get_props(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct blob_container c;
    const char *lid = NULL;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = lease_id(r, &lid, &e);
    if (rc == 0)
        rc = blob_container_get(r->store, r->path.account, r->path.container,
                                &c, &e);
    if (rc == 0)
        rc = blob_lease_check(&c.lease, lid, false, true, timefmt_now_ms(), &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
        goto out;
    }
    add_container_headers(r, &c);
    blob_api_add_meta(r, c.meta);
    blob_api_add_lease(r, &c.lease, timefmt_now_ms());
    http_add_header(r->req, "x-ms-has-immutability-policy", "false");
    http_add_header(r->req, "x-ms-has-legal-hold", "false");
    http_add_header(r->req, "x-ms-default-encryption-scope",
                    "$account-encryption-key");
    http_add_header(r->req, "x-ms-deny-encryption-scope-override", "false");
    http_reply(r->req, 200, NULL, NULL);
out:
    blob_container_release(&c);
}

static int parse_wcond(struct blob_req *r, struct blob_cond *cond,
                       struct blob_wcond *wc, struct err *e)
{
    int rc = blob_api_parse_cond(r, cond, e);

    wc->cond = cond;
    if (rc == 0)
        rc = lease_id(r, &wc->lease_id, e);
    return rc;
}

void container_api_delete(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct blob_cond cond;
    struct blob_wcond wc = { NULL, NULL };
    int rc;

    rc = parse_wcond(r, &cond, &wc, &e);
    if (rc == 0)
        rc = blob_container_delete(r->store, r->path.account, r->path.container,
                                   &wc, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
        return;
    }
    http_reply(r->req, 202, NULL, NULL);
}

void container_api_set_meta(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct blob_cond cond;
    struct blob_wcond wc = { NULL, NULL };
    struct buf meta = BUF_INIT;
    struct blob_container c;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = parse_wcond(r, &cond, &wc, &e);
    if (rc == 0)
        rc = blob_api_parse_meta(r, &meta, &e);
    if (rc == 0)
        rc = blob_container_set_meta(r->store, r->path.account,
                                     r->path.container, &wc, meta.data, &c, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
    } else {
        blob_api_add_etag(r, c.etag, c.mtime_ms);
        http_reply(r->req, 200, NULL, NULL);
    }
    blob_container_release(&c);
    buf_release(&meta);
}

void container_api_get_acl(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct blob_container c;
    struct blob_policy pol[BLOB_MAX_POLICIES];
    size_t n = 0;
    const char *lid = NULL;
    struct buf b = BUF_INIT;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = lease_id(r, &lid, &e);
    if (rc == 0)
        rc = blob_container_get_acl(r->store, r->path.account,
                                    r->path.container, lid, &c, pol, &n, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
        goto out;
    }
    add_container_headers(r, &c);
    blob_xmlbody_acl_render(&b, pol, n);
    reply_xml(r, 200, &b);
out:
    buf_release(&b);
    blob_container_release(&c);
}

void container_api_set_acl(struct blob_req *r)
{
    struct http_req *req = r->req;
    struct err e = ERR_INIT;
    struct blob_cond cond;
    struct blob_wcond wc = { NULL, NULL };
    struct blob_container c;
    struct blob_policy pol[BLOB_MAX_POLICIES];
    enum blob_access access;
    size_t n = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = parse_wcond(r, &cond, &wc, &e);
    if (rc == 0)
        rc = parse_access(r, &access, &e);
    if (rc == 0)
        rc = blob_xmlbody_acl(req->body.data, req->body.len, pol, &n, &e);
    if (rc == 0)
        rc =
            blob_container_set_acl(r->store, r->path.account, r->path.container,
                                   &wc, access, pol, n, &c, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
    } else {
        blob_api_add_etag(r, c.etag, c.mtime_ms);
        http_reply(req, 200, NULL, NULL);
    }
    blob_container_release(&c);
}

void container_api_lease(struct blob_req *r)
{
    struct err e = ERR_INIT;
    struct blob_lease_req rq;
    struct blob_cond cond;
    struct blob_container c;
    char id[40] = "";
    int64_t t = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = blob_api_parse_lease(r, &rq, &e);
    if (rc == 0)
        rc = blob_api_parse_cond(r, &cond, &e);
    if (rc == 0 && (cond.if_match || cond.if_none_match)) {
        rc = err_set(&e, ERR_INVALID, "UnsupportedHeader",
                     "container leases support only date conditions");
        err_add_detail(&e, "HeaderName",
                       cond.if_match ? "If-Match" : "If-None-Match");
    }
    if (rc == 0)
        rc = blob_container_lease(r->store, r->path.account, r->path.container,
                                  &cond, &rq, &c, id, &t, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
    } else {
        char secs[24];
        int status = rq.action == BLOB_LEASE_ACQUIRE ? 201
                     : rq.action == BLOB_LEASE_BREAK ? 202
                                                     : 200;

        blob_api_add_etag(r, c.etag, c.mtime_ms);
        if (id[0])
            http_add_header(r->req, "x-ms-lease-id", id);
        if (rq.action == BLOB_LEASE_BREAK) {
            snprintf(secs, sizeof(secs), "%lld", (long long)t);
            http_add_header(r->req, "x-ms-lease-time", secs);
        }
        http_reply(r->req, status, NULL, NULL);
    }
    blob_container_release(&c);
}

/* ---- listings ------------------------------------------------------------ */

/* maxresults: absent -> 5000; 1.. (capped at 5000); else 400. */
static int parse_max(struct blob_req *r, size_t *out, struct err *e)
{
    const char *v = http_param(r->req, "maxresults");
    uint64_t n;

    *out = BLOB_LIST_MAX;
    if (!v)
        return 0;
    if (parse_u64(v, 0, UINT64_MAX, &n) < 0) {
        err_set(e, ERR_INVALID, "InvalidQueryParameterValue",
                "value for query parameter 'maxresults' is not valid");
        err_add_detail(e, "QueryParameterName", "maxresults");
        err_add_detail(e, "QueryParameterValue", v);
        return -ERR_INVALID;
    }
    if (n == 0) {
        err_set(e, ERR_INVALID, "OutOfRangeQueryParameterValue",
                "value for query parameter 'maxresults' is out of range");
        err_add_detail(e, "QueryParameterName", "maxresults");
        err_add_detail(e, "QueryParameterValue", v);
        err_add_detail(e, "MinimumAllowed", "1");
        err_add_detail(e, "MaximumAllowed", "5000");
        return -ERR_INVALID;
    }
    *out = n > BLOB_LIST_MAX ? BLOB_LIST_MAX : (size_t)n;
    return 0;
}

/* Whether the comma list include= holds word. */
static bool includes(const char *list, const char *word)
{
    size_t wl = strlen(word);

    if (!list)
        return false;
    for (const char *s = list; *s;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);

        while (n > 0 && *s == ' ') {
            s++;
            n--;
        }
        if (n == wl && strncasecmp(s, word, n) == 0)
            return true;
        if (!end)
            break;
        s = end + 1;
    }
    return false;
}

static void echo_params(struct buf *b, struct blob_req *r, bool delim)
{
    const char *v;

    v = http_param(r->req, "prefix");
    if (v)
        xml_elem(b, "Prefix", v);
    v = http_param(r->req, "marker");
    if (v)
        xml_elem(b, "Marker", v);
    v = http_param(r->req, "maxresults");
    if (v)
        xml_elem(b, "MaxResults", v);
    v = http_param(r->req, "delimiter");
    if (delim && v)
        xml_elem(b, "Delimiter", v);
}

static void render_meta(struct buf *b, const char *meta)
{
    const char *n, *v;
    size_t nl, vl, pos = 0;

    buf_adds(b, "<Metadata>");
    while (blob_names_meta_next(meta, &pos, &n, &nl, &v, &vl)) {
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

static void render_lease(struct buf *b, const struct blob_lease *l, int64_t now)
{
    enum blob_lease_state s = blob_lease_effective(l, now);
    const char *d = blob_lease_duration_str(l, s);

    xml_elem(b, "LeaseStatus", blob_lease_status_str(s));
    xml_elem(b, "LeaseState", blob_lease_state_str(s));
    if (d)
        xml_elem(b, "LeaseDuration", d);
}

void container_api_list_containers(struct blob_req *r)
{
    struct http_req *req = r->req;
    struct err e = ERR_INIT;
    struct blob_container_list l;
    const char *prefix = http_param(req, "prefix");
    bool with_meta = includes(http_param(req, "include"), "metadata");
    char t[TIMEFMT_RFC1123_LEN], tag[24];
    int64_t now = timefmt_now_ms();
    struct buf b = BUF_INIT;
    size_t max;
    int rc;

    memset(&l, 0, sizeof(l));
    rc = parse_max(r, &max, &e);
    if (rc == 0)
        rc = blob_list_containers(r->store, r->path.account, prefix,
                                  http_param(req, "marker"), max, &l, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
        return;
    }
    buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                 "<EnumerationResults ServiceEndpoint=\"");
    blob_api_endpoint(r, &b);
    buf_adds(&b, "\">");
    echo_params(&b, r, false);
    buf_adds(&b, "<Containers>");
    for (size_t i = 0; i < l.n; i++) {
        const struct blob_container *c = &l.items[i];
        const char *a = access_str(c->access);

        buf_adds(&b, "<Container>");
        xml_elem(&b, "Name", c->name);
        buf_adds(&b, "<Properties>");
        timefmt_rfc1123(c->mtime_ms, t);
        xml_elem(&b, "Last-Modified", t);
        blob_cond_etag(c->etag, tag);
        xml_elem(&b, "Etag", tag);
        render_lease(&b, &c->lease, now);
        if (a)
            xml_elem(&b, "PublicAccess", a);
        buf_adds(&b, "<DefaultEncryptionScope>$account-encryption-key"
                     "</DefaultEncryptionScope>"
                     "<DenyEncryptionScopeOverride>false"
                     "</DenyEncryptionScopeOverride>"
                     "<HasImmutabilityPolicy>false</HasImmutabilityPolicy>"
                     "<HasLegalHold>false</HasLegalHold></Properties>");
        if (with_meta)
            render_meta(&b, c->meta);
        buf_adds(&b, "</Container>");
    }
    buf_adds(&b, "</Containers>");
    xml_elem(&b, "NextMarker", l.next_marker);
    buf_adds(&b, "</EnumerationResults>");
    reply_xml(r, 200, &b);
    buf_release(&b);
    blob_list_containers_release(&l);
}

static void render_blob(struct buf *b, const struct blob_list_item *it,
                        bool with_meta, int64_t now)
{
    const struct blob_props *p = &it->props;
    char t[TIMEFMT_RFC1123_LEN], tag[24];

    buf_adds(b, "<Blob><Name>");
    xml_escape(b, it->name, it->name_len);
    buf_adds(b, "</Name><Properties>");
    timefmt_rfc1123(p->ctime_ms, t);
    xml_elem(b, "Creation-Time", t);
    timefmt_rfc1123(p->mtime_ms, t);
    xml_elem(b, "Last-Modified", t);
    blob_cond_etag(p->etag, tag);
    /* unquoted here, unlike the header */
    buf_adds(b, "<Etag>");
    buf_add(b, tag + 1, strlen(tag) - 2);
    buf_adds(b, "</Etag>");
    buf_addf(b, "<Content-Length>%llu</Content-Length>",
             (unsigned long long)p->size);
    xml_elem(b, "Content-Type", p->content.type);
    xml_elem(b, "Content-Encoding", p->content.encoding);
    xml_elem(b, "Content-Language", p->content.language);
    buf_adds(b, "<Content-CRC64/><Content-MD5>");
    if (p->content.has_md5)
        codec_base64_encode(b, p->content.md5, CRYPTO_MD5_LEN);
    buf_adds(b, "</Content-MD5>");
    xml_elem(b, "Cache-Control", p->content.cache_control);
    xml_elem(b, "Content-Disposition", p->content.disposition);
    buf_adds(b, "<BlobType>");
    buf_adds(b, blob_type_str(p->type));
    buf_adds(b, "</BlobType>");
    if (p->committed && p->type == BLOB_TYPE_BLOCK)
        buf_adds(b, "<AccessTier>Hot</AccessTier>"
                    "<AccessTierInferred>true</AccessTierInferred>");
    render_lease(b, &p->lease, now);
    buf_adds(b, "<ServerEncrypted>true</ServerEncrypted></Properties>");
    if (with_meta)
        render_meta(b, p->meta);
    buf_adds(b, "</Blob>");
}

void container_api_list_blobs(struct blob_req *r)
{
    struct http_req *req = r->req;
    const char *include = http_param(req, "include");
    bool with_meta = includes(include, "metadata");
    struct err e = ERR_INIT;
    struct blob_list_opts o;
    struct blob_list_result res;
    int64_t now = timefmt_now_ms();
    struct buf b = BUF_INIT;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&res, 0, sizeof(res));
    o.prefix = http_param(req, "prefix");
    o.delimiter = http_param(req, "delimiter");
    o.marker = http_param(req, "marker");
    o.uncommitted = includes(include, "uncommittedblobs");
    if (o.marker && !o.marker[0])
        o.marker = NULL;
    rc = parse_max(r, &o.max, &e);
    if (rc == 0)
        rc = blob_list_blobs(r->store, r->path.account, r->path.container, &o,
                             &res, &e);
    if (rc < 0) {
        blob_api_reply_error(r, &e);
        return;
    }
    buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                 "<EnumerationResults ServiceEndpoint=\"");
    blob_api_endpoint(r, &b);
    buf_adds(&b, "\" ContainerName=\"");
    xml_escape(&b, r->path.container, strlen(r->path.container));
    buf_adds(&b, "\">");
    echo_params(&b, r, true);
    buf_adds(&b, "<Blobs>");
    for (size_t i = 0; i < res.n; i++) {
        const struct blob_list_item *it = &res.items[i];

        if (it->is_prefix) {
            buf_adds(&b, "<BlobPrefix><Name>");
            xml_escape(&b, it->name, it->name_len);
            buf_adds(&b, "</Name></BlobPrefix>");
        } else {
            render_blob(&b, it, with_meta, now);
        }
    }
    buf_adds(&b, "</Blobs>");
    xml_elem(&b, "NextMarker", res.next_marker);
    buf_adds(&b, "</EnumerationResults>");
    reply_xml(r, 200, &b);
    buf_release(&b);
    blob_list_result_release(&res);
}
