/*
 * file_api.c: the File operations of the Batch REST API, for local nodes.
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
 *
 * Replies: GET sends the bytes with sendfile (ocp-range "bytes=a-b" or
 * "bytes=a-" selects a slice; the status stays 200 as the SDKs expect),
 * HEAD the same headers: ocp-creation-time, ocp-batch-file-isdirectory,
 * ocp-batch-file-url, ocp-batch-file-mode (octal), Content-Type,
 * Last-Modified. Lists walk the tree (depth-bounded), sort by name, and
 * page with maxresults and $skiptoken (an offset); contentLength is
 * rendered as a string, as the real service does.
 *
 * Threads: http workers; the model lock is held only to find the paths.
 * Remote nodes (join.c) keep their files on their own machine: files of a
 * task that ran on one are 409 TaskFilesUnavailable, and a remote node's
 * own files 409 OperationInvalidForCurrentState, each with a message that
 * says so (outputFiles is the way to collect what tasks make there).
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
#include "batch/odata.h"
#include "batch/super.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define LIST_MAX_DEPTH   32
#define LIST_MAX_ENTRIES 100000

struct fentry {
    char *name;
    struct stat st;
};

struct flist {
    struct fentry *v;
    size_t n, cap;
};

/* Resolve the root directory and the base URL of the files route. */
static int find_root(struct breq *b, char **root_out, char **url_out,
                     struct err *e)
{
    struct model *m = &b->s->model;
    int rc = 0;

    pthread_mutex_lock(&m->mu);
    if (b->route == R_TASK_FILE || b->route == R_TASK_FILES) {
        struct mjob *j = model_job_find(m, b->acct->name, b->seg[1]);
        struct mtask *t = j ? model_task_find(j, b->seg[3]) : NULL;
        if (!j) {
            rc = err_set(e, ERR_NOTFOUND, "JobNotFound",
                         "the specified job '%s' does not exist", b->seg[1]);
        } else if (!t) {
            rc = err_set(e, ERR_NOTFOUND, "TaskNotFound",
                         "the specified task '%s' does not exist", b->seg[3]);
        } else if (t->files_cleaned) {
            rc = err_set(e, ERR_CONFLICT, "TaskFilesCleanedup",
                         "the files of task '%s' have been cleaned up", t->id);
        } else if (!t->node_id || !t->node_pool ||
                   !model_node_find(m, t->node_id)) {
            rc = err_set(e, ERR_CONFLICT, "TaskFilesUnavailable",
                         "the files of task '%s' are not available", t->id);
        } else if (model_node_find(m, t->node_id)->remote) {
            rc = err_set(e, ERR_CONFLICT, "TaskFilesUnavailable",
                         "task '%s' ran on remote node '%s': its files are on "
                         "that machine (use outputFiles to collect them)",
                         t->id, t->node_id);
        } else {
            *root_out =
                xasprintf("%s/%s/%s/workitems/%s/job-1/%s", b->s->nodes_dir,
                          t->node_pool, t->node_id, j->id, t->id);
            *url_out =
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
        } else if (n->remote) {
            rc = err_set(e, ERR_CONFLICT, "OperationInvalidForCurrentState",
                         "node '%s' is a remote node: its files are on that "
                         "machine, not served by shoald",
                         n->id);
        } else {
            *root_out = xasprintf("%s/%s/%s", b->s->nodes_dir, p->id, n->id);
            *url_out =
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

/*
 * Open rel under root, one component at a time, never following a symlink.
 * *fd_out is an O_RDONLY fd of the file or directory.
 */
static int open_under(const char *root, const char *rel, int *fd_out,
                      struct err *e)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *p = rel;

    if (dir < 0)
        return not_found(e, rel);
    while (*p) {
        size_t n = strcspn(p, "/");
        char comp[1024];
        int next;
        if (n == 0 || n >= sizeof(comp) || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.')) {
            close(dir);
            err_set(e, ERR_INVALID, "InvalidPropertyValue",
                    "the file path '%s' is not valid", rel);
            err_add_detail(e, "PropertyName", "filePath");
            return -ERR_INVALID;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        next =
            openat(dir, comp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        close(dir);
        if (next < 0)
            return not_found(e, rel);
        dir = next;
        p += n;
        if (*p == '/') {
            p++;
            if (!*p) {
                close(dir);
                return not_found(e, rel);
            }
        }
    }
    *fd_out = dir;
    return 0;
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

static int parse_range(const char *v, uint64_t size, uint64_t *off,
                       uint64_t *len, struct err *e)
{
    const char *dash;
    char a[32], bb[32];
    uint64_t lo, hi;

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
    if (parse_u64(a, 0, UINT64_MAX, &lo) < 0)
        goto bad;
    if (bb[0]) {
        if (parse_u64(bb, lo, UINT64_MAX, &hi) < 0)
            goto bad;
    } else {
        hi = size ? size - 1 : 0;
    }
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
bad:
    err_set(e, ERR_INVALID, "InvalidHeaderValue",
            "the value for one of the http headers is not in the correct "
            "format");
    err_add_detail(e, "HeaderName", "ocp-range");
    return -ERR_INVALID;
}

static void file_get(struct http_req *req, const char *root,
                     const char *base_url, const char *rel)
{
    struct err e = ERR_INIT;
    struct stat st;
    int fd = -1;
    uint64_t off = 0, len;
    const char *range = http_header(req, "ocp-range");

    if (open_under(root, rel, &fd, &e) < 0)
        goto fail;
    if (fstat(fd, &st) < 0) {
        err_sys(&e, "stat");
        goto fail;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        not_found(&e, rel);
        goto fail;
    }
    file_headers(req, base_url, rel, &st);
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        if (http_is_head(req)) {
            http_reply(req, 200, NULL, NULL);
            return;
        }
        not_found(&e, rel);
        batch_api_fail(req, &e);
        return;
    }
    len = (uint64_t)st.st_size;
    if (range && !http_is_head(req) &&
        parse_range(range, (uint64_t)st.st_size, &off, &len, &e) < 0)
        goto fail;
    http_add_header(req, "Content-Type", "application/octet-stream");
    {
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
            fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    http_reply_fd(req, 200, fd, off, len);
    return;
fail:
    if (fd >= 0)
        close(fd);
    batch_api_fail(req, &e);
}

static void file_delete(struct http_req *req, const char *root, const char *rel)
{
    struct err e = ERR_INIT;
    struct stat st;
    int fd = -1;
    char *full;
    const char *rec = http_param(req, "recursive");

    if (open_under(root, rel, &fd, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    if (fstat(fd, &st) < 0) {
        close(fd);
        err_sys(&e, "stat");
        batch_api_fail(req, &e);
        return;
    }
    close(fd);
    full = xasprintf("%s/%s", root, rel);
    if (S_ISDIR(st.st_mode)) {
        if (!rec || !str_ieq(rec, "true")) {
            if (rmdir(full) < 0) {
                free(full);
                err_set(&e, ERR_CONFLICT, "DirectoryNotEmpty",
                        "the directory '%s' is not empty", rel);
                batch_api_fail(req, &e);
                return;
            }
        } else {
            super_rm_rf(full);
        }
    } else if (unlink(full) < 0) {
        free(full);
        err_sys(&e, "delete '%s'", rel);
        batch_api_fail(req, &e);
        return;
    }
    free(full);
    http_reply(req, 200, NULL, NULL);
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

static void file_list(struct http_req *req, const char *root,
                      const char *base_url)
{
    struct batch_list l;
    struct err e = ERR_INIT;
    struct flist fl = { NULL, 0, 0 };
    const char *rec = http_param(req, "recursive");
    json_t *items;
    uint64_t next = 0;
    size_t count = 0;
    int fd;

    if (batch_api_list_start(req, 1000, file_prop, &l) < 0)
        return;
    items = json_array();
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        walk(fd, "", rec && str_ieq(rec, "true"), 0, &fl);
    if (fl.n)
        qsort(fl.v, fl.n, sizeof(*fl.v), cmp_entry);
    for (size_t i = (size_t)l.after; i < fl.n; i++) {
        struct fentry *fe = &fl.v[i];
        bool match = true;
        json_t *o, *pr;
        char t[TIMEFMT_ISO_LEN], mode[16], len[32];
        char *url;
        if (odata_eval(l.filter, file_prop, fe, &match, &e) < 0)
            break;
        if (!match)
            continue;
        if (count == l.max) {
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
        batch_api_select(o, l.select, l.nselect);
        json_array_append_new(items, o);
        count++;
        free(url);
    }
    for (size_t i = 0; i < fl.n; i++)
        free(fl.v[i].name);
    free(fl.v);
    batch_api_list_end(req, &l, "files", items, next, &e);
}

void file_api_handle(struct http_req *req)
{
    struct breq *b = batch_api_state(req);
    struct err e = ERR_INIT;
    char *root = NULL, *url = NULL;
    const char *meth = req->method;

    if (find_root(b, &root, &url, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    if (b->route == R_TASK_FILES || b->route == R_NODE_FILES) {
        if (strcmp(meth, "GET") == 0)
            file_list(req, root, url);
        else
            batch_api_bad_method(req);
    } else if (strcmp(meth, "GET") == 0 || strcmp(meth, "HEAD") == 0) {
        file_get(req, root, url, b->file_path);
    } else if (strcmp(meth, "DELETE") == 0) {
        file_delete(req, root, b->file_path);
    } else {
        batch_api_bad_method(req);
    }
    free(root);
    free(url);
}
