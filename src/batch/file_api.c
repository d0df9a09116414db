/*
 * file_api.c: the File operations of the Batch REST API.
 *
 *   GET|HEAD|DELETE /jobs/{j}/tasks/{t}/files/{filePath}
 *   GET             /jobs/{j}/tasks/{t}/files[?recursive=true]
 *   GET|HEAD|DELETE /pools/{p}/nodes/{n}/files/{filePath}
 *   GET             /pools/{p}/nodes/{n}/files[?recursive=true]
 *
 * Task files live in the node root of the node that ran the task last:
 * DATA/nodes/POOL/NODE/workitems/JOB/job-1/TASK (stdout.txt, stderr.txt,
 * wd/...); node files are the node root itself (startup/stdout.txt,
 * shared/...). filePath arrives as one percent-encoded segment (SDKs
 * encode '/' as %2F) or as several segments; batch_api.c decodes and joins
 * it. It is then walked one component at a time with openat(O_NOFOLLOW)
 * from the root: empty, "." and ".." components are refused (400), and a
 * symlink planted by a task cannot lead outside (the open fails, 404).
 * A delete never goes by path: the walk keeps the directory holding the
 * last component and unlinks the name from it (unlinkat), so a task that
 * swaps a component for a symlink after the walk cannot redirect it. A
 * recursive delete descends with openat(O_DIRECTORY | O_NOFOLLOW) and
 * fdopendir, unlinking each entry from its own directory: a symlink
 * inside is removed as a link, never followed (at most 256 levels, as
 * super_rm_rf and the agent's delete).
 *
 * Replies: GET sends the bytes with sendfile (ocp-range "bytes=a-b" or
 * "bytes=a-" selects a slice; the status stays 200 as the SDKs expect),
 * HEAD the same headers: ocp-creation-time, ocp-batch-file-isdirectory,
 * ocp-batch-file-url, ocp-batch-file-mode (octal), Content-Type,
 * Last-Modified. Lists walk the tree (depth-bounded), sort by name, and
 * page with maxresults and $skiptoken (an offset); contentLength is
 * rendered as a string, as the real service does.
 *
 * Remote nodes (join.c) keep their files on their own machine, whose
 * agent shoald cannot call: the request goes to the agent through the
 * node protocol (fileproxy.c) and this request waits for the answer,
 * suspended (b->fop). The agent walks its root with the same rules
 * (src/node/fileserve.c), so statuses, headers and bodies are those of a
 * local node. What is asked: GET a slice ("get": the range, once parsed;
 * a malformed ocp-range asks "stat" only, so the 400 still comes after
 * the path checks), HEAD "stat", DELETE "delete", lists "list" (the
 * entries come back unsorted and unpaged: list_page sorts, filters and
 * pages them as a local walk's). The bytes of a GET arrive in a temp file
 * and go out with sendfile, as a local file's. On top of the local
 * errors: 500 OperationTimedOut (no answer in time), 409
 * NodeStateUnusable (the node is lost), 503 ServerBusy.
 *
 * Threads: http workers; the model lock is held only to find the paths.
 * Ownership: a remote request's op belongs to the breq (freed with it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "batch/batchint.h"
#include "batch/fileproxy.h"
#include "batch/odata.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define LIST_MAX_DEPTH   32
#define LIST_MAX_ENTRIES 100000
#define LEAF_MAX         FSUTIL_NAME_MAX

struct fentry {
    char *name;
    struct stat st;
};

struct flist {
    struct fentry *v;
    size_t n, cap;
};

/* Where a files route's files are. */
struct froot {
    char *root; /* a local node's directory; NULL for a remote node */
    char *url;  /* the base URL of the files route */
    char *node; /* a remote node's id */
    char *base; /* ... and the directory under its root */
    bool task;
};

static void froot_release(struct froot *fr)
{
    free(fr->root);
    free(fr->url);
    free(fr->node);
    free(fr->base);
}

/* Resolve the root directory (or remote node) and the base URL. */
static int find_root(struct breq *b, struct froot *fr, struct err *e)
{
    struct model *m = &b->s->model;
    int rc = 0;

    memset(fr, 0, sizeof(*fr));
    pthread_mutex_lock(&m->mu);
    if (b->route == R_TASK_FILE || b->route == R_TASK_FILES) {
        struct mjob *j = model_job_find(m, b->acct->name, b->seg[1]);
        struct mtask *t = j ? model_task_find(j, b->seg[3]) : NULL;
        struct mnode *n = NULL;
        if (t && t->node_id)
            n = model_node_find(m, t->node_id);
        if (!j) {
            rc = err_set(e, ERR_NOTFOUND, "JobNotFound",
                         "the specified job '%s' does not exist", b->seg[1]);
        } else if (!t) {
            rc = err_set(e, ERR_NOTFOUND, "TaskNotFound",
                         "the specified task '%s' does not exist", b->seg[3]);
        } else if (t->files_cleaned) {
            rc = err_set(e, ERR_CONFLICT, "TaskFilesCleanedup",
                         "the files of task '%s' have been cleaned up", t->id);
        } else if (!n || !t->node_pool) {
            rc = err_set(e, ERR_CONFLICT, "TaskFilesUnavailable",
                         "the files of task '%s' are not available", t->id);
        } else {
            fr->task = true;
            if (n->remote) {
                fr->node = xstrdup(n->id);
                fr->base = xasprintf("workitems/%s/job-1/%s", j->id, t->id);
            } else {
                fr->root =
                    xasprintf("%s/%s/%s/workitems/%s/job-1/%s", b->s->nodes_dir,
                              t->node_pool, t->node_id, j->id, t->id);
            }
            fr->url =
                xasprintf("%s/jobs/%s/tasks/%s/files", b->base, j->id, t->id);
        }
    } else {
        struct mpool *p = model_pool_find(m, b->acct->name, b->seg[1]);
        struct mnode *n = p ? model_node_find(m, b->seg[3]) : NULL;
        if (!p) {
            rc = err_set(e, ERR_NOTFOUND, "PoolNotFound",
                         "the specified pool '%s' does not exist", b->seg[1]);
        } else if (!n || n->pool != p) {
            rc = err_set(e, ERR_NOTFOUND, "NodeNotFound",
                         "the specified node '%s' does not exist", b->seg[3]);
        } else {
            if (n->remote) {
                fr->node = xstrdup(n->id);
                fr->base = xstrdup("");
            } else {
                fr->root = xasprintf("%s/%s/%s", b->s->nodes_dir, p->id, n->id);
            }
            fr->url =
                xasprintf("%s/pools/%s/nodes/%s/files", b->base, p->id, n->id);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int not_found(struct err *e, const char *path)
{
    return err_set(e, ERR_NOTFOUND, "FileNotFound",
                   "the specified file '%s' does not exist", path);
}

static int bad_path(struct err *e, const char *path)
{
    err_set(e, ERR_INVALID, "InvalidPropertyValue",
            "the file path '%s' is not valid", path);
    err_add_detail(e, "PropertyName", "filePath");
    return -ERR_INVALID;
}

/*
 * Open rel under root, one component at a time, never following a symlink.
 * *fd_out is an O_RDONLY fd of the file or directory. With parent_out,
 * *parent_out is the directory holding the last component, reached by the
 * same walk, and leaf its name: what a delete unlinks from.
 */
static int open_under(const char *root, const char *rel, int *fd_out,
                      int *parent_out, char leaf[LEAF_MAX], struct err *e)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dir < 0)
        return not_found(e, rel);
    switch (fsutil_walk(dir, rel, NULL, fd_out, parent_out, leaf)) {
    case FSUTIL_WALK_OK:
        return 0;
    case FSUTIL_WALK_INVALID:
        return bad_path(e, rel);
    case FSUTIL_WALK_NOTFOUND:
        break;
    }
    return not_found(e, rel);
}

static void file_mode_str(mode_t mode, char out[16])
{
    snprintf(out, 16, "0%o", (unsigned)mode);
}

static char *entry_url(const char *base_url, const char *name)
{
    struct buf u = BUF_INIT;

    buf_addf(&u, "%s/", base_url);
    codec_pct_encode(&u, name, strlen(name), NULL);
    return buf_detach(&u, NULL);
}

static void file_headers(struct http_req *req, const char *base_url,
                         const char *name, const struct stat *st)
{
    char t[TIMEFMT_RFC1123_LEN], mode[16];
    char *url = entry_url(base_url, name);

    timefmt_rfc1123((int64_t)st->st_ctime * 1000, t);
    http_add_header(req, "ocp-creation-time", t);
    http_add_header(req, "ocp-batch-file-isdirectory",
                    S_ISDIR(st->st_mode) ? "True" : "False");
    http_add_header(req, "ocp-batch-file-url", url);
    file_mode_str(st->st_mode, mode);
    http_add_header(req, "ocp-batch-file-mode", mode);
    timefmt_rfc1123((int64_t)st->st_mtime * 1000, t);
    http_add_header(req, "Last-Modified", t);
    free(url);
}

/* ocp-range "bytes=a-b" or "bytes=a-": *lo, and *hi when *has_hi. */
static int parse_range_spec(const char *v, uint64_t *lo, uint64_t *hi,
                            bool *has_hi, struct err *e)
{
    const char *dash;
    char a[32], bb[32];

    if (!str_iprefix(v, "bytes="))
        goto bad;
    v += 6;
    dash = strchr(v, '-');
    if (!dash || (size_t)(dash - v) >= sizeof(a) ||
        strlen(dash + 1) >= sizeof(bb))
        goto bad;
    memcpy(a, v, (size_t)(dash - v));
    a[dash - v] = '\0';
    snprintf(bb, sizeof(bb), "%s", dash + 1);
    if (parse_u64(a, 0, UINT64_MAX, lo) < 0)
        goto bad;
    *has_hi = bb[0] != '\0';
    if (*has_hi && parse_u64(bb, *lo, UINT64_MAX, hi) < 0)
        goto bad;
    return 0;
bad:
    err_set(e, ERR_INVALID, "InvalidHeaderValue",
            "the value for one of the http headers is not in the correct "
            "format");
    err_add_detail(e, "HeaderName", "ocp-range");
    return -ERR_INVALID;
}

static int parse_range(const char *v, uint64_t size, uint64_t *off,
                       uint64_t *len, struct err *e)
{
    uint64_t lo, hi;
    bool has_hi;

    if (parse_range_spec(v, &lo, &hi, &has_hi, e) < 0)
        return -ERR_INVALID;
    if (!has_hi)
        hi = size ? size - 1 : 0;
    if (lo >= size) {
        return err_set(e, ERR_RANGE, "InvalidRange",
                       "the range specified is invalid for the current size "
                       "of the resource");
    }
    if (hi >= size)
        hi = size - 1;
    *off = lo;
    *len = hi - lo + 1;
    return 0;
}

/*
 * GET or HEAD of a file found: st its metadata, fd (taken) the file, or
 * with slice only the bytes a remote node sent, from offset 0: exactly
 * the range asked for (fileproxy.c checked their count).
 */
static void get_reply(struct http_req *req, const char *base_url,
                      const char *rel, const struct stat *st, int fd,
                      bool slice)
{
    struct err e = ERR_INIT;
    uint64_t off = 0, len;
    const char *range = http_header(req, "ocp-range");

    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode)) {
        not_found(&e, rel);
        goto fail;
    }
    file_headers(req, base_url, rel, st);
    if (S_ISDIR(st->st_mode)) {
        close(fd);
        if (http_is_head(req)) {
            http_reply(req, 200, NULL, NULL);
            return;
        }
        not_found(&e, rel);
        batch_api_fail(req, &e);
        return;
    }
    len = (uint64_t)st->st_size;
    if (range && !http_is_head(req) &&
        parse_range(range, (uint64_t)st->st_size, &off, &len, &e) < 0)
        goto fail;
    http_add_header(req, "Content-Type", "application/octet-stream");
    if (slice) {
        http_reply_fd(req, 200, fd, 0, len);
        return;
    }
    {
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
            fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    http_reply_fd(req, 200, fd, off, len);
    return;
fail:
    close(fd);
    batch_api_fail(req, &e);
}

static void file_get(struct http_req *req, const char *root,
                     const char *base_url, const char *rel)
{
    struct err e = ERR_INIT;
    struct stat st;
    int fd = -1;

    if (open_under(root, rel, &fd, NULL, NULL, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    if (fstat(fd, &st) < 0) {
        err_sys(&e, "stat");
        close(fd);
        batch_api_fail(req, &e);
        return;
    }
    get_reply(req, base_url, rel, &st, fd, false);
}

/* Every unlink is relative to parent, the directory the walk reached. */
static void file_delete(struct http_req *req, const char *root, const char *rel)
{
    struct err e = ERR_INIT;
    struct stat st;
    char leaf[LEAF_MAX];
    int fd = -1, parent = -1;
    const char *rec = http_param(req, "recursive");

    if (open_under(root, rel, &fd, &parent, leaf, &e) < 0)
        goto fail;
    if (fstat(fd, &st) < 0) {
        err_sys(&e, "stat");
        goto fail;
    }
    close(fd);
    fd = -1;
    if (S_ISDIR(st.st_mode) && (!rec || !str_ieq(rec, "true"))) {
        if (unlinkat(parent, leaf, AT_REMOVEDIR) < 0) {
            err_set(&e, ERR_CONFLICT, "DirectoryNotEmpty",
                    "the directory '%s' is not empty", rel);
            goto fail;
        }
    } else if (S_ISDIR(st.st_mode)) {
        int sub;
        /* As super_rm_rf did: what replaced the directory goes too. */
        if (unlinkat(parent, leaf, 0) < 0) {
            sub = openat(parent, leaf,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                fsutil_rm_under(sub);
                unlinkat(parent, leaf, AT_REMOVEDIR);
            }
        }
    } else if (unlinkat(parent, leaf, 0) < 0) {
        err_sys(&e, "delete '%s'", rel);
        goto fail;
    }
    close(parent);
    http_reply(req, 200, NULL, NULL);
    return;
fail:
    if (fd >= 0)
        close(fd);
    if (parent >= 0)
        close(parent);
    batch_api_fail(req, &e);
}

/* ---- lists
 * ------------------------------------------------------------------- */

static void walk(int dirfd, const char *prefix, bool recursive, int depth,
                 struct flist *out)
{
    DIR *d = fdopendir(dirfd);
    struct dirent *de;

    if (!d) {
        close(dirfd);
        return;
    }
    while ((de = readdir(d)) != NULL && out->n < LIST_MAX_ENTRIES) {
        struct fentry fe;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd, de->d_name, &fe.st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISREG(fe.st.st_mode) && !S_ISDIR(fe.st.st_mode))
            continue;
        fe.name = *prefix ? xasprintf("%s/%s", prefix, de->d_name)
                          : xstrdup(de->d_name);
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 64;
            out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
        }
        out->v[out->n++] = fe;
        if (recursive && S_ISDIR(fe.st.st_mode) && depth < LIST_MAX_DEPTH) {
            int sub = openat(dirfd, de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                walk(sub, fe.name, true, depth + 1, out);
        }
    }
    closedir(d);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct fentry *)a)->name,
                  ((const struct fentry *)b)->name);
}

static int file_prop(void *ctx, const char *prop, struct odata_value *out)
{
    const struct fentry *fe = ctx;

    memset(out, 0, sizeof(*out));
    if (strcmp(prop, "name") == 0) {
        out->type = ODATA_STR;
        out->s = fe ? fe->name : "";
    } else if (strcmp(prop, "isDirectory") == 0) {
        out->type = ODATA_BOOL;
        out->b = fe && S_ISDIR(fe->st.st_mode);
    } else if (strcmp(prop, "properties/contentLength") == 0) {
        out->type = ODATA_INT;
        out->i = fe ? (int64_t)fe->st.st_size : 0;
    } else if (strcmp(prop, "properties/lastModified") == 0) {
        out->type = ODATA_TIME;
        out->i = fe ? (int64_t)fe->st.st_mtime * 1000 : 0;
    } else {
        return err_set(NULL, ERR_INVALID, "InvalidQueryParameterValue",
                       "unknown property");
    }
    return 0;
}

/* Reply the page l asks for of the entries fl (sorted here, then freed;
 * l released). */
static void list_page(struct http_req *req, struct batch_list *l,
                      const char *base_url, struct flist *fl_in)
{
    struct err e = ERR_INIT;
    struct flist fl = *fl_in;
    json_t *items = json_array();
    uint64_t next = 0;
    size_t count = 0;

    if (fl.n)
        qsort(fl.v, fl.n, sizeof(*fl.v), cmp_entry);
    for (size_t i = (size_t)l->after; i < fl.n; i++) {
        struct fentry *fe = &fl.v[i];
        bool match = true;
        json_t *o, *pr;
        char t[TIMEFMT_ISO_LEN], mode[16], len[32];
        char *url;
        if (odata_eval(l->filter, file_prop, fe, &match, &e) < 0)
            break;
        if (!match)
            continue;
        if (count == l->max) {
            next = i;
            break;
        }
        o = json_object();
        url = entry_url(base_url, fe->name);
        json_object_set_new(o, "name", json_string(fe->name));
        json_object_set_new(o, "url", json_string(url));
        json_object_set_new(o, "isDirectory",
                            json_boolean(S_ISDIR(fe->st.st_mode)));
        pr = json_object();
        timefmt_iso8601((int64_t)fe->st.st_ctime * 1000, 7, t);
        json_object_set_new(pr, "creationTime", json_string(t));
        timefmt_iso8601((int64_t)fe->st.st_mtime * 1000, 7, t);
        json_object_set_new(pr, "lastModified", json_string(t));
        snprintf(len, sizeof(len), "%" PRId64,
                 S_ISDIR(fe->st.st_mode) ? (int64_t)0
                                         : (int64_t)fe->st.st_size);
        json_object_set_new(pr, "contentLength", json_string(len));
        json_object_set_new(pr, "contentType",
                            json_string("application/octet-stream"));
        file_mode_str(fe->st.st_mode, mode);
        json_object_set_new(pr, "fileMode", json_string(mode));
        json_object_set_new(o, "properties", pr);
        batch_api_select(o, l->select, l->nselect);
        json_array_append_new(items, o);
        count++;
        free(url);
    }
    for (size_t i = 0; i < fl.n; i++)
        free(fl.v[i].name);
    free(fl.v);
    batch_api_list_end(req, l, "files", items, next, &e);
}

static void file_list(struct http_req *req, const char *root,
                      const char *base_url)
{
    struct batch_list l;
    struct flist fl = { NULL, 0, 0 };
    const char *rec = http_param(req, "recursive");
    int fd;

    if (batch_api_list_start(req, 1000, file_prop, &l) < 0)
        return;
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        walk(fd, "", rec && str_ieq(rec, "true"), 0, &fl);
    list_page(req, &l, base_url, &fl);
}

/* ---- remote nodes (fileproxy.c) ------------------------------------------ */

/* Ask the node's agent; the request waits, suspended, in b->fop. */
static void remote_start(struct http_req *req, struct breq *b,
                         const struct froot *fr, bool list)
{
    struct fileproxy_ask ask;
    struct err e = ERR_INIT;
    const char *meth = req->method;
    const char *rec = http_param(req, "recursive");

    memset(&ask, 0, sizeof(ask));
    ask.node = fr->node;
    ask.task = fr->task;
    ask.base = fr->base;
    ask.path = b->file_path;
    ask.tag = fr->url;
    ask.max = -1;
    ask.recursive = rec && str_ieq(rec, "true");
    if (list) {
        struct batch_list l;
        if (strcmp(meth, "GET") != 0) {
            batch_api_bad_method(req);
            return;
        }
        /* A bad query fails now, not after a round trip. */
        if (batch_api_list_start(req, 1000, file_prop, &l) < 0)
            return;
        batch_api_list_release(&l);
        ask.kind = FILEPROXY_LIST;
    } else if (strcmp(meth, "GET") == 0 || strcmp(meth, "HEAD") == 0) {
        const char *range = http_header(req, "ocp-range");
        struct err scratch = ERR_INIT;
        uint64_t lo = 0, hi = 0;
        bool has_hi = false;
        ask.kind = FILEPROXY_STAT;
        /* A malformed range asks for the metadata only: its 400 comes
         * after the path checks, as for a local file. */
        if (!http_is_head(req) &&
            (!range ||
             parse_range_spec(range, &lo, &hi, &has_hi, &scratch) == 0)) {
            ask.kind = FILEPROXY_GET;
            ask.off = lo;
            if (has_hi && hi - lo < (uint64_t)INT64_MAX)
                ask.max = (int64_t)(hi - lo + 1);
        }
    } else if (strcmp(meth, "DELETE") == 0) {
        ask.kind = FILEPROXY_DELETE;
    } else {
        batch_api_bad_method(req);
        return;
    }
    if (fileproxy_submit(b->s, req, &ask, &b->fop, &e) < 0)
        batch_api_fail(req, &e);
}

/* The error a node reported, as file_api.c says it for local files. */
static void remote_fail(struct http_req *req, const struct fileproxy_answer *a,
                        const char *rel)
{
    struct err e = ERR_INIT;

    switch (a->fail) {
    case FILEPROXY_FAIL_INVALID:
        err_set(&e, ERR_INVALID, "InvalidPropertyValue",
                "the file path '%s' is not valid", rel);
        err_add_detail(&e, "PropertyName", "filePath");
        break;
    case FILEPROXY_FAIL_NOTFOUND:
        not_found(&e, rel);
        break;
    case FILEPROXY_FAIL_NOTEMPTY:
        err_set(&e, ERR_CONFLICT, "DirectoryNotEmpty",
                "the directory '%s' is not empty", rel);
        break;
    default:
        err_set(&e, ERR_IO, "InternalError", "%s",
                a->message ? a->message : "the node failed");
        break;
    }
    batch_api_fail(req, &e);
}

/* The answer came (or the wait ended): reply as for a local node. */
static void remote_finish(struct http_req *req, struct breq *b, bool list)
{
    const struct fileproxy_answer *a = NULL;
    struct err e = ERR_INIT;
    const char *url;
    int fd = -1;
    int rc;

    rc = fileproxy_poll(b->s, req, b->fop, &a, &fd, &e);
    if (rc > 0)
        return; /* suspended again */
    url = fileproxy_op_tag(b->fop);
    if (rc < 0) {
        batch_api_fail(req, &e);
    } else if (a->fail) {
        remote_fail(req, a, list ? "" : b->file_path);
    } else if (list) {
        struct flist fl = { NULL, 0, 0 };
        struct batch_list l;
        if (batch_api_list_start(req, 1000, file_prop, &l) == 0) {
            fl.cap = fl.n = a->nentries;
            fl.v = xcalloc(fl.n ? fl.n : 1, sizeof(*fl.v));
            for (size_t i = 0; i < fl.n; i++) {
                fl.v[i].name = xstrdup(a->entries[i].name);
                fl.v[i].st = a->entries[i].st;
            }
            list_page(req, &l, url, &fl);
        }
    } else if (strcmp(req->method, "DELETE") == 0) {
        http_reply(req, 200, NULL, NULL);
    } else {
        get_reply(req, url, b->file_path, &a->st, fd, true);
        fd = -1;
    }
    if (fd >= 0)
        close(fd);
    fileproxy_op_free(b->s, b->fop);
    b->fop = NULL;
}

void file_api_handle(struct http_req *req)
{
    struct breq *b = batch_api_state(req);
    struct err e = ERR_INIT;
    struct froot fr;
    const char *meth = req->method;
    bool list = b->route == R_TASK_FILES || b->route == R_NODE_FILES;

    if (b->fop) {
        remote_finish(req, b, list);
        return;
    }
    if (find_root(b, &fr, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    if (fr.node) {
        remote_start(req, b, &fr, list);
    } else if (list) {
        if (strcmp(meth, "GET") == 0)
            file_list(req, fr.root, fr.url);
        else
            batch_api_bad_method(req);
    } else if (strcmp(meth, "GET") == 0 || strcmp(meth, "HEAD") == 0) {
        file_get(req, fr.root, fr.url, b->file_path);
    } else if (strcmp(meth, "DELETE") == 0) {
        file_delete(req, fr.root, b->file_path);
    } else {
        batch_api_bad_method(req);
    }
    froot_release(&fr);
}
