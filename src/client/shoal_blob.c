/*
 * shoal_blob.c: block blobs: upload, download, read, list, properties,
 * metadata, delete, and blob/container URLs.
 *
 * Upload (storage-wire.md §5.1):
 *
 *   size <= single_put_max:  PUT /A/C/B  x-ms-blob-type: BlockBlob, body
 *   larger:                  PUT /A/C/B?comp=block&blockid=ID   x nblocks
 *                            (parallel, xfer.c), then
 *                            PUT /A/C/B?comp=blocklist  <BlockList><Latest>
 *
 * Block ids are base64("shoal-block-" + 10-digit index): all the same
 * length, as the service requires. Content type, metadata and the
 * no-overwrite condition (If-None-Match: *) travel on the request that
 * creates the blob: Put Blob, or Put Block List. Bodies are read from the
 * file with pread (transport.c), so parts share one descriptor and a retry
 * re-reads its own range.
 *
 * Download:
 *
 *   HEAD /A/C/B                  size, ETag
 *   GET  /A/C/B  If-Match: ETag  (size <= block size), or
 *   GET  x-ms-range: bytes=a-b   If-Match: ETag, parallel, pwrite at a
 *
 * into a temporary file beside the destination (mkstemp), renamed over it
 * when every byte has arrived; on failure the temporary is unlinked and the
 * destination is untouched. A blob replaced between the HEAD and a range
 * fails that range with 412 (SHOAL_ERR_PRECONDITION) instead of mixing
 * versions.
 *
 * Progress: parts report when they finish (xfer_add_done, serialized); a
 * single request reports as bytes move (curl's transfer callback). Both
 * can cancel.
 *
 * Thread-safe: all state is per call.
 */
#include "client/clientint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/parse.h"
#include "core/xml.h"

#define BLOB_ID_FMT "shoal-block-%010zu"

static int blob_req(shoal_client *c, struct req *r, const char *method,
                    const char *container, const char *blob)
{
    req_init(r, c, SVC_BLOB, method);
    if (!container || !*container || (blob && !*blob)) {
        req_release(r);
        return client_fail(c, SHOAL_ERR_INVALID,
                           "empty container or blob name");
    }
    req_segment(r, container, false);
    if (blob)
        req_segment(r, blob, true);
    return 0;
}

int shoal_blob_url(shoal_client *c, const char *container, const char *blob,
                   const char *sas, char **url_out)
{
    struct buf b = BUF_INIT;
    int rc = SHOAL_ERR_NOMEM;

    if (!c->ep[SVC_BLOB].url)
        return client_fail(c, SHOAL_ERR_INVALID, "no blob endpoint configured");
    if (!container || !*container || (blob && !*blob))
        return client_fail(c, SHOAL_ERR_INVALID,
                           "empty container or blob name");
    if (buf_adds(&b, c->ep[SVC_BLOB].url) < 0 ||
        url_add_segment(&b, container, false) < 0 ||
        (blob && url_add_segment(&b, blob, true) < 0) ||
        (sas && (buf_addc(&b, '?') < 0 || buf_adds(&b, sas) < 0)))
        goto out;
    *url_out = buf_detach(&b, NULL);
    if (*url_out)
        rc = 0;
out:
    buf_release(&b);
    if (rc < 0)
        client_fail(c, rc, "out of memory");
    return rc;
}

/* ---- upload ---- */

static const char *ctype(const struct shoal_upload_opts *o)
{
    return o && o->content_type ? o->content_type : "application/octet-stream";
}

struct single_progress {
    const struct shoal_progress *p;
    int64_t total;
};

static int single_xfer(int64_t now, void *ud)
{
    struct single_progress *sp = ud;

    return sp->p->fn(now, sp->total, sp->p->ctx);
}

/* One Put Blob from memory (fd < 0) or from a file. */
static int put_blob(shoal_client *c, const char *container, const char *blob,
                    const void *data, int fd, size_t len,
                    const struct shoal_upload_opts *opts)
{
    struct single_progress sp;
    struct req r;
    int rc;

    rc = blob_req(c, &r, "PUT", container, blob);
    if (rc < 0)
        return rc;
    req_header(&r, "x-ms-blob-type", "BlockBlob");
    req_header(&r, "Content-Type", ctype(opts));
    if (opts && opts->no_overwrite)
        req_header(&r, "If-None-Match", "*");
    if (opts)
        req_meta(&r, opts->meta, opts->nmeta);
    r.body = data;
    r.body_fd = fd;
    r.body_off = 0;
    r.body_len = len;
    if (opts && opts->progress.fn) {
        sp.p = &opts->progress;
        sp.total = (int64_t)len;
        r.xfer_fn = single_xfer;
        r.xfer_ctx = &sp;
        if (opts->progress.fn(0, sp.total, opts->progress.ctx) != 0) {
            req_release(&r);
            return client_fail(c, SHOAL_ERR_CANCELLED, "cancelled");
        }
    }
    rc = transport_send(c, &r);
    if (rc == 0 && opts && opts->progress.fn &&
        opts->progress.fn(sp.total, sp.total, opts->progress.ctx) != 0)
        rc = client_fail(c, SHOAL_ERR_CANCELLED, "cancelled");
    req_release(&r);
    return rc;
}

int shoal_blob_put(shoal_client *c, const char *container, const char *blob,
                   const void *data, size_t len,
                   const struct shoal_upload_opts *opts)
{
    if (!data && len)
        return client_fail(c, SHOAL_ERR_INVALID, "no data");
    return put_blob(c, container, blob, data ? data : "", -1, len, opts);
}

struct up {
    const char *container;
    const char *blob;
    int fd;
    int64_t size;
    int64_t bs;
};

static int block_id(size_t i, struct buf *out)
{
    char raw[64];
    int n = snprintf(raw, sizeof(raw), BLOB_ID_FMT, i);

    return codec_base64_encode(out, raw, (size_t)n) < 0 ? SHOAL_ERR_NOMEM : 0;
}

static int put_block(struct xfer *x, size_t i, void *ud)
{
    struct up *u = ud;
    struct buf id = BUF_INIT;
    struct req r;
    int64_t off = (int64_t)i * u->bs;
    int64_t len = u->size - off < u->bs ? u->size - off : u->bs;
    int rc;

    if (xfer_failed(x))
        return 0;
    rc = blob_req(x->c, &r, "PUT", u->container, u->blob);
    if (rc < 0)
        return rc;
    if (block_id(i, &id) < 0)
        r.oom = true;
    req_query(&r, "comp", "block");
    req_query(&r, "blockid", id.data);
    req_header(&r, "Content-Type", "application/octet-stream");
    r.body_fd = u->fd;
    r.body_off = off;
    r.body_len = (size_t)len;
    rc = transport_send(x->c, &r);
    req_release(&r);
    buf_release(&id);
    if (rc == 0 && !xfer_add_done(x, len))
        rc = SHOAL_ERR_CANCELLED;
    return rc;
}

static int put_block_list(shoal_client *c, const struct up *u, size_t n,
                          const struct shoal_upload_opts *opts)
{
    struct buf xml = BUF_INIT;
    struct buf id = BUF_INIT;
    struct req r;
    size_t i;
    int rc;

    rc = blob_req(c, &r, "PUT", u->container, u->blob);
    if (rc < 0)
        return rc;
    if (buf_adds(&xml, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                       "<BlockList>") < 0)
        r.oom = true;
    for (i = 0; i < n && !r.oom; i++) {
        buf_reset(&id);
        if (block_id(i, &id) < 0 || xml_elem(&xml, "Latest", id.data) < 0)
            r.oom = true;
    }
    if (buf_adds(&xml, "</BlockList>") < 0)
        r.oom = true;
    req_query(&r, "comp", "blocklist");
    req_header(&r, "Content-Type", "application/xml");
    req_header(&r, "x-ms-blob-content-type", ctype(opts));
    if (opts && opts->no_overwrite)
        req_header(&r, "If-None-Match", "*");
    if (opts)
        req_meta(&r, opts->meta, opts->nmeta);
    r.body = xml.data;
    r.body_len = xml.len;
    rc = transport_send(c, &r);
    req_release(&r);
    buf_release(&xml);
    buf_release(&id);
    return rc;
}

int shoal_blob_upload(shoal_client *c, const char *container, const char *blob,
                      const char *path, const struct shoal_upload_opts *opts)
{
    struct stat st;
    struct xfer x;
    struct up u;
    size_t nblocks;
    int fd = -1;
    int rc;

    if (!path)
        return client_fail(c, SHOAL_ERR_INVALID, "no file");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return client_fail(c, SHOAL_ERR_IO, "open '%s': %s", path,
                           strerror(errno));
    if (fstat(fd, &st) < 0) {
        rc = client_fail(c, SHOAL_ERR_IO, "stat '%s': %s", path,
                         strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = client_fail(c, SHOAL_ERR_IO, "'%s' is not a regular file", path);
        goto out;
    }
    if ((int64_t)st.st_size <= c->single_put_max) {
        rc = put_blob(c, container, blob, NULL, fd, (size_t)st.st_size, opts);
        goto out;
    }
    memset(&u, 0, sizeof(u));
    u.container = container;
    u.blob = blob;
    u.fd = fd;
    u.size = (int64_t)st.st_size;
    u.bs = c->block_size;
    nblocks = (size_t)((u.size + u.bs - 1) / u.bs);
    if (nblocks > 50000) {
        rc = client_fail(
            c, SHOAL_ERR_INVALID,
            "'%s' needs %zu blocks (limit 50000): raise the block size", path,
            nblocks);
        goto out;
    }
    memset(&x, 0, sizeof(x));
    x.c = c;
    x.nparts = nblocks;
    x.part = put_block;
    x.ctx = &u;
    x.progress = opts && opts->progress.fn ? &opts->progress : NULL;
    x.total = u.size;
    if (x.progress && x.progress->fn(0, u.size, x.progress->ctx) != 0) {
        rc = client_fail(c, SHOAL_ERR_CANCELLED, "cancelled");
        goto out;
    }
    rc = xfer_run(&x, c->parallel);
    if (rc == 0)
        rc = put_block_list(c, &u, nblocks, opts);
out:
    close(fd);
    return rc;
}

/* ---- properties ---- */

struct props_box {
    struct shoal_blob_props pub; /* first: the user's pointer is ours */
    struct arena arena;
};

void shoal_blob_props_free(struct shoal_blob_props *p)
{
    struct props_box *b = (struct props_box *)p;

    if (!b)
        return;
    arena_release(&b->arena);
    free(b);
}

static int head(shoal_client *c, const char *container, const char *blob,
                struct req *r)
{
    int rc = blob_req(c, r, "HEAD", container, blob);

    if (rc < 0)
        return rc;
    rc = transport_send(c, r);
    if (rc < 0)
        req_release(r);
    return rc;
}

static int64_t content_length(const struct req *r)
{
    const char *v = req_reply_header(r, "Content-Length");
    uint64_t n;

    if (!v || parse_u64(v, 0, INT64_MAX, &n) < 0)
        return -1;
    return (int64_t)n;
}

int shoal_blob_properties(shoal_client *c, const char *container,
                          const char *blob, struct shoal_blob_props **out)
{
    struct props_box *b;
    struct shoal_kv *meta = NULL;
    struct req r;
    bool oom = false;
    int rc;

    if (!blob)
        return client_fail(c, SHOAL_ERR_INVALID, "empty blob name");
    rc = head(c, container, blob, &r);
    if (rc < 0)
        return rc;
    b = calloc(1, sizeof(*b));
    if (!b) {
        req_release(&r);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    b->pub.size = content_length(&r);
#define COPY(field, hdr) \
    b->pub.field = arena_strdup(&b->arena, req_reply_header(&r, hdr), &oom)
    COPY(etag, "ETag");
    COPY(last_modified, "Last-Modified");
    COPY(creation_time, "x-ms-creation-time");
    COPY(content_type, "Content-Type");
    COPY(content_md5, "Content-MD5");
    COPY(blob_type, "x-ms-blob-type");
#undef COPY
    if (oom || listxml_header_meta(&r, &b->arena, &meta, &b->pub.nmeta) < 0) {
        shoal_blob_props_free(&b->pub);
        req_release(&r);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    b->pub.meta = meta;
    req_release(&r);
    *out = &b->pub;
    return 0;
}

int shoal_blob_set_metadata(shoal_client *c, const char *container,
                            const char *blob, const struct shoal_kv *meta,
                            size_t n)
{
    struct req r;
    int rc;

    if (!blob)
        return client_fail(c, SHOAL_ERR_INVALID, "empty blob name");
    rc = blob_req(c, &r, "PUT", container, blob);
    if (rc < 0)
        return rc;
    req_query(&r, "comp", "metadata");
    req_meta(&r, meta, n);
    rc = transport_send(c, &r);
    req_release(&r);
    return rc;
}

int shoal_blob_delete(shoal_client *c, const char *container, const char *blob)
{
    struct req r;
    int rc;

    if (!blob)
        return client_fail(c, SHOAL_ERR_INVALID, "empty blob name");
    rc = blob_req(c, &r, "DELETE", container, blob);
    if (rc < 0)
        return rc;
    req_header(&r, "x-ms-delete-snapshots", "include");
    rc = transport_send(c, &r);
    req_release(&r);
    return rc;
}

/* ---- download ---- */

struct down {
    const char *container;
    const char *blob;
    const char *etag;
    int fd;
    int64_t size;
    int64_t bs;
    const struct shoal_progress *progress;
};

static int get_range(struct xfer *x, size_t i, void *ud)
{
    struct down *d = ud;
    char range[64];
    struct req r;
    int64_t off = (int64_t)i * d->bs;
    int64_t len = d->size - off < d->bs ? d->size - off : d->bs;
    int rc;

    if (xfer_failed(x))
        return 0;
    rc = blob_req(x->c, &r, "GET", d->container, d->blob);
    if (rc < 0)
        return rc;
    snprintf(range, sizeof(range), "bytes=%lld-%lld", (long long)off,
             (long long)(off + len - 1));
    req_header(&r, "x-ms-range", range);
    if (d->etag)
        req_header(&r, "If-Match", d->etag);
    r.out_fd = d->fd;
    r.out_off = off;
    r.out_max = len;
    rc = transport_send(x->c, &r);
    if (rc == 0 && (r.status != 206 || r.out_written != len))
        rc = client_fail(x->c, SHOAL_ERR_PROTOCOL,
                         "range %s: got %lld bytes with status %d", range,
                         (long long)r.out_written, r.status);
    req_release(&r);
    if (rc == 0 && !xfer_add_done(x, len))
        rc = SHOAL_ERR_CANCELLED;
    return rc;
}

static int get_whole(shoal_client *c, struct down *d)
{
    struct single_progress sp;
    struct req r;
    int rc;

    rc = blob_req(c, &r, "GET", d->container, d->blob);
    if (rc < 0)
        return rc;
    if (d->etag)
        req_header(&r, "If-Match", d->etag);
    r.out_fd = d->fd;
    r.out_off = 0;
    r.out_max = d->size;
    if (d->progress) {
        sp.p = d->progress;
        sp.total = d->size;
        r.xfer_fn = single_xfer;
        r.xfer_ctx = &sp;
    }
    rc = transport_send(c, &r);
    if (rc == 0 && r.out_written != d->size)
        rc = client_fail(c, SHOAL_ERR_PROTOCOL, "got %lld of %lld bytes",
                         (long long)r.out_written, (long long)d->size);
    req_release(&r);
    return rc;
}

int shoal_blob_download(shoal_client *c, const char *container,
                        const char *blob, const char *path,
                        const struct shoal_progress *progress)
{
    struct buf tmp = BUF_INIT;
    struct req hr;
    struct down d;
    struct xfer x;
    bool have_head = false;
    char *etag = NULL;
    int fd = -1;
    int rc;

    if (!blob || !path || !*path)
        return client_fail(c, SHOAL_ERR_INVALID, "empty blob name or path");
    if (progress && !progress->fn)
        progress = NULL;
    rc = head(c, container, blob, &hr);
    if (rc < 0)
        return rc;
    have_head = true;
    memset(&d, 0, sizeof(d));
    d.container = container;
    d.blob = blob;
    d.size = content_length(&hr);
    d.bs = c->block_size;
    d.progress = progress;
    if (d.size < 0) {
        rc = client_fail(c, SHOAL_ERR_PROTOCOL, "no Content-Length on HEAD");
        goto out;
    }
    if (req_reply_header(&hr, "ETag")) {
        etag = strdup(req_reply_header(&hr, "ETag"));
        if (!etag) {
            rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    d.etag = etag;
    if (buf_addf(&tmp, "%s.shoal-XXXXXX", path) < 0) {
        rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        goto out;
    }
    fd = mkstemp(tmp.data);
    if (fd < 0) {
        rc = client_fail(c, SHOAL_ERR_IO, "create '%s': %s", tmp.data,
                         strerror(errno));
        goto out;
    }
    if (fchmod(fd, 0644) < 0 || ftruncate(fd, (off_t)d.size) < 0) {
        rc =
            client_fail(c, SHOAL_ERR_IO, "'%s': %s", tmp.data, strerror(errno));
        goto out;
    }
    d.fd = fd;
    if (progress && progress->fn(0, d.size, progress->ctx) != 0) {
        rc = client_fail(c, SHOAL_ERR_CANCELLED, "cancelled");
        goto out;
    }
    if (d.size == 0) {
        rc = 0;
    } else if (d.size <= d.bs) {
        rc = get_whole(c, &d);
        if (rc == 0 && progress &&
            progress->fn(d.size, d.size, progress->ctx) != 0)
            rc = client_fail(c, SHOAL_ERR_CANCELLED, "cancelled");
    } else {
        memset(&x, 0, sizeof(x));
        x.c = c;
        x.nparts = (size_t)((d.size + d.bs - 1) / d.bs);
        x.part = get_range;
        x.ctx = &d;
        x.progress = progress;
        x.total = d.size;
        rc = xfer_run(&x, c->parallel);
    }
    if (rc < 0)
        goto out;
    if (close(fd) < 0) {
        fd = -1;
        rc = client_fail(c, SHOAL_ERR_IO, "close '%s': %s", tmp.data,
                         strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp.data, path) < 0) {
        rc = client_fail(c, SHOAL_ERR_IO, "rename to '%s': %s", path,
                         strerror(errno));
        goto out;
    }
    buf_reset(&tmp);
out:
    if (fd >= 0)
        close(fd);
    if (tmp.len)
        unlink(tmp.data);
    buf_release(&tmp);
    free(etag);
    if (have_head)
        req_release(&hr);
    return rc;
}

int shoal_blob_get(shoal_client *c, const char *container, const char *blob,
                   size_t max, char **data_out, size_t *len_out)
{
    struct req r;
    size_t len;
    char *p;
    int rc;

    if (!blob)
        return client_fail(c, SHOAL_ERR_INVALID, "empty blob name");
    rc = blob_req(c, &r, "GET", container, blob);
    if (rc < 0)
        return rc;
    r.resp.max = max < CLIENT_MAX_REPLY ? max : CLIENT_MAX_REPLY;
    rc = transport_send(c, &r);
    if (rc == 0) {
        p = buf_detach(&r.resp, &len);
        if (!p) {
            rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        } else {
            *data_out = p;
            if (len_out)
                *len_out = len;
        }
    }
    req_release(&r);
    return rc;
}

/* ---- listing ---- */

static int list_page(shoal_client *c, const char *container,
                     const struct shoal_list_opts *o, const char *marker,
                     int (*fn)(const struct shoal_blob_item *item, void *ctx),
                     void *ctx, char **next_out)
{
    struct xml_node *root = NULL;
    const struct xml_node *blobs, *it;
    const char *next;
    char num[32];
    struct req r;
    int rc;

    rc = blob_req(c, &r, "GET", container, NULL);
    if (rc < 0)
        return rc;
    req_query(&r, "restype", "container");
    req_query(&r, "comp", "list");
    if (o && o->prefix && *o->prefix)
        req_query(&r, "prefix", o->prefix);
    if (o && o->delimiter && *o->delimiter)
        req_query(&r, "delimiter", o->delimiter);
    if (o && o->max_results > 0) {
        snprintf(num, sizeof(num), "%d", o->max_results);
        req_query(&r, "maxresults", num);
    }
    if (o && o->include_metadata)
        req_query(&r, "include", "metadata");
    if (marker && *marker)
        req_query(&r, "marker", marker);
    rc = listxml_fetch(c, &r, &root);
    if (rc < 0)
        goto out;
    blobs = xml_child(root, "Blobs");
    for (it = blobs ? blobs->child : NULL; it; it = it->next) {
        const struct xml_node *props = xml_child(it, "Properties");
        struct shoal_blob_item item;
        struct shoal_kv *meta = NULL;
        const char *len;
        uint64_t n;

        memset(&item, 0, sizeof(item));
        item.name = listxml_text(it, "Name");
        if (!item.name)
            continue;
        if (strcmp(it->name, "BlobPrefix") == 0) {
            item.is_prefix = true;
        } else if (strcmp(it->name, "Blob") == 0) {
            len = listxml_text(props, "Content-Length");
            item.size =
                len && parse_u64(len, 0, INT64_MAX, &n) == 0 ? (int64_t)n : -1;
            item.etag = listxml_text(props, "Etag");
            item.last_modified = listxml_text(props, "Last-Modified");
            item.content_type = listxml_text(props, "Content-Type");
            item.content_md5 = listxml_text(props, "Content-MD5");
            item.blob_type = listxml_text(props, "BlobType");
            if (listxml_meta(xml_child(it, "Metadata"), &meta, &item.nmeta) <
                0) {
                rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
                goto out;
            }
            item.meta = meta;
        } else {
            continue;
        }
        rc = fn(&item, ctx);
        free(meta);
        if (rc != 0) {
            rc = client_fail(c, SHOAL_ERR_CANCELLED, "listing stopped");
            goto out;
        }
    }
    next = listxml_text(root, "NextMarker");
    *next_out = NULL;
    if (next && *next) {
        *next_out = strdup(next);
        if (!*next_out)
            rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
out:
    xml_free(root);
    req_release(&r);
    return rc;
}

int shoal_blob_list(shoal_client *c, const char *container,
                    const struct shoal_list_opts *opts,
                    int (*fn)(const struct shoal_blob_item *item, void *ctx),
                    void *ctx, char **next_marker_out)
{
    char *marker = NULL;
    int rc;

    if (opts && opts->marker) {
        marker = strdup(opts->marker);
        if (!marker)
            return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    for (;;) {
        char *next = NULL;

        rc = list_page(c, container, opts, marker, fn, ctx, &next);
        free(marker);
        marker = next;
        if (rc < 0 || !marker)
            break;
        if (opts && opts->one_page)
            break;
    }
    if (rc == 0 && next_marker_out) {
        *next_marker_out = marker;
        marker = NULL;
    }
    free(marker);
    return rc;
}
