/*
 * nodelogs.c: the Batch service logs of a node, copied to a container
 * (ComputeNode_UploadBatchServiceLogs).
 *
 * Purpose: what the real service calls its "Batch service log files" are,
 * for shoal, the files that tell how a node got on: the agent's own log
 * (DATA/nodes/POOL/NODE.log, where super.c sends shoal-node's stderr) and
 * the start task's stdout.txt and stderr.txt. node_api.c picks the node,
 * this file picks the files and uploads them.
 *
 * Time range: the REST call names startTime (and maybe endTime); "any log
 * file containing a log message in the time range will be uploaded". A
 * file last written before startTime holds no such message and is skipped;
 * every other one is uploaded whole. endTime is not used to skip files
 * (we do not know when a file's first line was written), which can only
 * upload more than asked, as the spec allows.
 *
 * Upload: one Put Blob per file (x-ms-blob-type BlockBlob) to
 * CONTAINER/VDIR/NAME?SAS with libcurl, sending the size the file had when
 * the upload began (a log may grow meanwhile). The SAS is never logged nor
 * put in an error message.
 *
 * Remote nodes: their logs are on their own machine, so node_api.c checks
 * the URL here (nodelogs_check_url) and sends the request to the node's
 * agent (fileproxy.c), which picks the same three files by the same rule
 * (shoal-node.log being its stderr, when that is a file) and uploads them
 * itself under the same virtual directory (src/node/fileserve.c), with
 * the same error words; the REST reply waits for its answer.
 *
 * Threads: any; no shared state. Ownership: the caller owns the file list.
 */
#include "batch/nodelogs.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"

#define NODELOGS_TIMEOUT_S 60L

static void add_file(struct nodelogs_file **v, size_t *n, const char *path,
                     const char *name, int64_t start_ms)
{
    struct stat st;
    int64_t mtime_ms;

    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (mtime_ms < start_ms)
        return;
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n].path = xstrdup(path);
    (*v)[*n].name = xstrdup(name);
    (*n)++;
}

void nodelogs_collect(const char *agent_log, const char *node_root,
                      int64_t start_ms, struct nodelogs_file **out,
                      size_t *n_out)
{
    struct nodelogs_file *v = NULL;
    size_t n = 0;
    char *p;

    add_file(&v, &n, agent_log, "shoal-node.log", start_ms);
    p = xasprintf("%s/startup/stdout.txt", node_root);
    add_file(&v, &n, p, "startup/stdout.txt", start_ms);
    free(p);
    p = xasprintf("%s/startup/stderr.txt", node_root);
    add_file(&v, &n, p, "startup/stderr.txt", start_ms);
    free(p);
    *out = v;
    *n_out = n;
}

void nodelogs_free(struct nodelogs_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(files[i].path);
        free(files[i].name);
    }
    free(files);
}

struct src {
    FILE *f;
    uint64_t left;
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct src *s = ud;
    size_t want = size * nitems, got;

    if (want > s->left)
        want = (size_t)s->left;
    if (want == 0)
        return 0;
    got = fread(buf, 1, want, s->f);
    s->left -= got;
    return got;
}

static size_t discard_cb(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static int bad_url(struct err *err, const char *why)
{
    err_set(err, ERR_INVALID, "InvalidPropertyValue",
            "the value provided for property 'containerUrl' is invalid: %s",
            why);
    err_add_detail(err, "PropertyName", "containerUrl");
    return -ERR_INVALID;
}

int nodelogs_check_url(const char *container_url, struct err *err)
{
    if (!container_url || (!str_iprefix(container_url, "http://") &&
                           !str_iprefix(container_url, "https://")))
        return bad_url(err, "it is not an http or https URL");
    return 0;
}

int nodelogs_bad_url(const char *why, struct err *err)
{
    return bad_url(err, why);
}

static int put_one(CURL *c, const struct nodelogs_file *file, const char *base,
                   const char *query, const char *vdir, struct err *err)
{
    struct curl_slist *h = NULL;
    struct src s = { NULL, 0 };
    struct stat st;
    char *url = NULL;
    long status = 0;
    CURLcode cc;
    int rc = -ERR_INVALID;

    s.f = fopen(file->path, "rb");
    if (!s.f || fstat(fileno(s.f), &st) < 0) {
        /* Gone since it was picked (rotated, node removed): skip it. */
        rc = 0;
        goto out;
    }
    s.left = (uint64_t)st.st_size;
    url = xasprintf("%s/%s/%s%s%s", base, vdir, file->name, *query ? "?" : "",
                    query);
    h = curl_slist_append(h, "x-ms-blob-type: BlockBlob");
    h = curl_slist_append(h, "x-ms-version: 2021-08-06");
    h = curl_slist_append(h, "Content-Type: text/plain; charset=utf-8");
    h = curl_slist_append(h, "Expect:");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &s);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s.left);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, NODELOGS_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        char why[300];
        snprintf(why, sizeof(why), "cannot upload to it (%s)",
                 curl_easy_strerror(cc));
        bad_url(err, why);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        char why[120];
        snprintf(why, sizeof(why),
                 "the storage service refused the upload with status %ld",
                 status);
        bad_url(err, why);
        goto out;
    }
    rc = 0;
out:
    curl_slist_free_all(h);
    free(url);
    if (s.f)
        fclose(s.f);
    return rc;
}

int nodelogs_upload(const struct nodelogs_file *files, size_t n,
                    const char *container_url, const char *vdir,
                    struct err *err)
{
    char *base = NULL;
    const char *q;
    CURL *c = NULL;
    int rc = 0;

    if (nodelogs_check_url(container_url, err) < 0)
        return -ERR_INVALID;
    q = strchr(container_url, '?');
    base = xstrndup(container_url,
                    q ? (size_t)(q - container_url) : strlen(container_url));
    while (base[0] && base[strlen(base) - 1] == '/')
        base[strlen(base) - 1] = '\0';
    q = q ? q + 1 : "";
    if (n == 0)
        goto out;
    c = curl_easy_init();
    if (!c) {
        rc = err_set(err, ERR_NOMEM, "InternalError", "cannot start libcurl");
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put_one(c, &files[i], base, q, vdir, err);
out:
    if (c)
        curl_easy_cleanup(c);
    free(base);
    return rc;
}
