/*
 * link.c: the agent's HTTP client for the node protocol.
 *
 * Purpose: POST small JSON documents to shoald's /_node/v1/... with the
 * agent's bearer token and node id, over one kept-alive connection.
 *
 * TLS: an https base URL is verified (peer and host name) against the
 * system's CAs, or the PEM file given with link_set_ca (shoal-node --ca:
 * shoald's own certificate when it is self-signed).
 *
 * Structures: struct link holds a libcurl easy handle, the base URL and
 * the header list (Content-Type, Authorization: Bearer, X-Shoal-Node, and
 * an empty Expect so curl never waits for 100-continue). Responses are
 * appended to a struct buf bounded by LINK_RESP_MAX. link_post_stream
 * sends a body read from a file as it goes (the answer to a file request,
 * fileserve.c), bounded by a stall timeout instead of a total one.
 *
 * Threads: a link belongs to one thread. curl_global_init is the caller's
 * (main) business. Ownership: the link owns its copies; the token is never
 * logged.
 */
#include "node/link.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#define LINK_RESP_MAX (64u << 20)

struct link {
    CURL *h;
    char *base;
    struct curl_slist *hdrs;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = size * n;

    if (b->len + len > LINK_RESP_MAX || buf_add(b, p, len) < 0)
        return 0;
    return len;
}

struct link *link_new(const char *base_url, const char *token,
                      const char *node_id)
{
    struct link *l = xcalloc(1, sizeof(*l));
    char *h;

    l->h = curl_easy_init();
    if (!l->h)
        BUG("curl_easy_init failed");
    l->base = xstrdup(base_url);
    l->hdrs = curl_slist_append(l->hdrs, "Content-Type: application/json");
    l->hdrs = curl_slist_append(l->hdrs, "Expect:");
    h = xasprintf("Authorization: Bearer %s", token);
    l->hdrs = curl_slist_append(l->hdrs, h);
    free(h);
    h = xasprintf("X-Shoal-Node: %s", node_id);
    l->hdrs = curl_slist_append(l->hdrs, h);
    free(h);
    if (!l->hdrs)
        BUG("out of memory building headers");
    curl_easy_setopt(l->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(l->h, CURLOPT_HTTPHEADER, l->hdrs);
    curl_easy_setopt(l->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(l->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(l->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(l->h, CURLOPT_PROTOCOLS_STR, "http,https");
    return l;
}

void link_free(struct link *l)
{
    if (!l)
        return;
    curl_easy_cleanup(l->h);
    curl_slist_free_all(l->hdrs);
    free(l->base);
    free(l);
}

void link_set_ca(struct link *l, const char *ca_file)
{
    if (ca_file && *ca_file)
        curl_easy_setopt(l->h, CURLOPT_CAINFO, ca_file);
}

void link_set_base(struct link *l, const char *base_url)
{
    free(l->base);
    l->base = xstrdup(base_url);
}

const char *link_base(const struct link *l)
{
    return l->base;
}

int link_post(struct link *l, const char *path, const char *body, size_t len,
              long timeout_ms, long *status, struct buf *resp)
{
    char *url = xasprintf("%s%s", l->base, path);
    CURLcode rc;

    curl_easy_setopt(l->h, CURLOPT_URL, url);
    curl_easy_setopt(l->h, CURLOPT_POST, 1L);
    curl_easy_setopt(l->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(l->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(l->h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(l->h, CURLOPT_TIMEOUT_MS, timeout_ms);
    rc = curl_easy_perform(l->h);
    free(url);
    if (rc != CURLE_OK) {
        log_debug("node protocol request failed path=%s err=%s", path,
                  curl_easy_strerror(rc));
        return -ERR_IO;
    }
    curl_easy_getinfo(l->h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* The body of link_post_stream: head, then len bytes of fd from off. */
struct body_src {
    const char *head;
    size_t head_len, head_off;
    int fd;
    uint64_t off, left;
};

static size_t on_body(char *out, size_t size, size_t n, void *ud)
{
    struct body_src *b = ud;
    size_t want = size * n;

    if (b->head_off < b->head_len) {
        size_t k = b->head_len - b->head_off;
        if (k > want)
            k = want;
        memcpy(out, b->head + b->head_off, k);
        b->head_off += k;
        return k;
    }
    if (b->left == 0)
        return 0;
    if (want > b->left)
        want = (size_t)b->left;
    for (;;) {
        ssize_t r = pread(b->fd, out, want, (off_t)b->off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return CURL_READFUNC_ABORT; /* shrank: the length is a promise */
        b->off += (uint64_t)r;
        b->left -= (uint64_t)r;
        return (size_t)r;
    }
}

int link_post_stream(struct link *l, const char *path, const char *head,
                     size_t head_len, int fd, uint64_t off, uint64_t len,
                     long stall_s, long *status, struct buf *resp)
{
    struct body_src b = { head, head_len, 0, fd, off, fd >= 0 ? len : 0 };
    char *url = xasprintf("%s%s", l->base, path);
    CURLcode rc;

    curl_easy_setopt(l->h, CURLOPT_URL, url);
    curl_easy_setopt(l->h, CURLOPT_POST, 1L);
    curl_easy_setopt(l->h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(l->h, CURLOPT_READFUNCTION, on_body);
    curl_easy_setopt(l->h, CURLOPT_READDATA, &b);
    curl_easy_setopt(l->h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(head_len + b.left));
    curl_easy_setopt(l->h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(l->h, CURLOPT_TIMEOUT_MS, 0L);
    curl_easy_setopt(l->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(l->h, CURLOPT_LOW_SPEED_TIME, stall_s);
    rc = curl_easy_perform(l->h);
    /* Back to what link_post expects: no stall limit on long-polls. */
    curl_easy_setopt(l->h, CURLOPT_READFUNCTION, NULL);
    curl_easy_setopt(l->h, CURLOPT_READDATA, NULL);
    curl_easy_setopt(l->h, CURLOPT_LOW_SPEED_LIMIT, 0L);
    curl_easy_setopt(l->h, CURLOPT_LOW_SPEED_TIME, 0L);
    free(url);
    if (rc != CURLE_OK) {
        log_debug("node protocol request failed path=%s err=%s", path,
                  curl_easy_strerror(rc));
        return -ERR_IO;
    }
    curl_easy_getinfo(l->h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}
