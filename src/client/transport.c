/*
 * transport.c: one HTTP request, signed, sent with libcurl, retried.
 *
 * A request (struct req) is built by the operation files: method, escaped
 * path (starting with the endpoint's base path), decoded query parameters,
 * extra headers and a body (memory, or a byte range of a file read with
 * pread so that parallel parts share one descriptor). transport_send()
 * then runs this loop:
 *
 *      take an easy handle (idle stack, else new) --- set fixed options
 *        |
 *        v
 *   +-> headers = request headers + date/version/request id
 *   |             + content-length, signed (sign.c) per try
 *   |   perform
 *   |   connection error, 408/429/500/502/503/504 and tries left?
 *   +-- yes: sleep min(max, base * 2^try) * [0.5, 1) and reset the reply
 *        | no
 *        v
 *      2xx -> 0; else parse the error body -> client's last error
 *      return the handle to the idle stack (at most CLIENT_HANDLE_POOL)
 *
 * Connections are reused through the client's curl share handle (its
 * connection cache), so a handle taken by any thread finds the warm
 * connection of an earlier request. Every try signs afresh: x-ms-date and
 * ocp-date must be current, and nothing in the signature depends on the
 * try.
 *
 * Reply bodies of 2xx go to r->resp (bounded by CLIENT_MAX_REPLY) or, when
 * r->out_fd is set, straight to the file with pwrite at r->out_off (a
 * retry rewrites the same range). Error bodies always go to r->resp.
 *
 * Error bodies: storage sends XML <Error><Code/><Message/></Error> (or, on
 * HEAD, only an x-ms-error-code header); Batch sends OData JSON
 * {"code":..., "message":{"value":...}}. Only the message's first line is
 * kept (Azure appends RequestId and Time lines).
 *
 * Thread-safe: a request is used by one thread; the client's shared parts
 * are locked.
 */
#include "client/clientint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/codec.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/parse.h"
#include "core/timefmt.h"
#include "core/xml.h"

#define TRANSPORT_UA "shoal/" SHOAL_VERSION_STRING " libshoal"

/* ---- request building ---- */

void req_init(struct req *r, shoal_client *c, enum svc svc, const char *method)
{
    memset(r, 0, sizeof(*r));
    r->svc = svc;
    r->method = method;
    buf_init(&r->path, CLIENT_MAX_URL);
    buf_init(&r->resp, CLIENT_MAX_REPLY);
    r->body_fd = -1;
    r->out_fd = -1;
    r->out_max = INT64_MAX;
    if (c->ep[svc].base && buf_adds(&r->path, c->ep[svc].base) < 0)
        r->oom = true;
}

void req_release(struct req *r)
{
    buf_release(&r->path);
    kvlist_release(&r->query);
    kvlist_release(&r->headers);
    kvlist_release(&r->resp_headers);
    buf_release(&r->resp);
}

int req_segment(struct req *r, const char *seg, bool keep_slash)
{
    int rc = url_add_segment(&r->path, seg, keep_slash);

    if (rc == SHOAL_ERR_NOMEM)
        r->oom = true;
    return rc;
}

int req_query(struct req *r, const char *name, const char *value)
{
    int rc = kvlist_add(&r->query, name, value);

    if (rc < 0)
        r->oom = true;
    return rc;
}

int req_header(struct req *r, const char *name, const char *value)
{
    int rc;

    /* A line break in a value would smuggle in a header of its own. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) {
        r->bad = true;
        return SHOAL_ERR_INVALID;
    }
    rc = kvlist_add(&r->headers, name, value);

    if (rc < 0)
        r->oom = true;
    return rc;
}

const char *req_reply_header(const struct req *r, const char *name)
{
    return kvlist_get(&r->resp_headers, name);
}

int req_meta(struct req *r, const struct shoal_kv *meta, size_t n)
{
    struct buf name = BUF_INIT;
    size_t i, j;
    int rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        const char *k = meta[i].name;

        /* Metadata names are C identifiers (storage-wire.md §5). */
        if (!k || !*k || (k[0] >= '0' && k[0] <= '9')) {
            r->bad = true;
            rc = SHOAL_ERR_INVALID;
            break;
        }
        for (j = 0; k[j]; j++) {
            char ch = k[j];

            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_')) {
                r->bad = true;
                rc = SHOAL_ERR_INVALID;
                break;
            }
        }
        if (rc < 0)
            break;
        buf_reset(&name);
        if (buf_addf(&name, "x-ms-meta-%s", k) < 0) {
            r->oom = true;
            rc = SHOAL_ERR_NOMEM;
            break;
        }
        rc = req_header(r, name.data, meta[i].value ? meta[i].value : "");
    }
    buf_release(&name);
    return rc;
}

static int add_decoded(struct req *r, const char *s, size_t n)
{
    struct buf name = BUF_INIT;
    struct buf value = BUF_INIT;
    const char *eq = memchr(s, '=', n);
    size_t nl = eq ? (size_t)(eq - s) : n;
    int rc = SHOAL_ERR_PROTOCOL;

    if (codec_pct_decode(&name, s, nl, false) < 0)
        goto out;
    if (eq && codec_pct_decode(&value, eq + 1, n - nl - 1, false) < 0)
        goto out;
    rc = kvlist_addn(&r->query, name.data, name.len, value.data, value.len);
out:
    buf_release(&name);
    buf_release(&value);
    return rc;
}

int req_from_link(struct req *r, const char *link)
{
    const char *p = strstr(link, "://");
    const char *q, *s;
    size_t i;
    int rc;

    if (!p)
        return SHOAL_ERR_PROTOCOL;
    p = strchr(p + 3, '/');
    if (!p)
        return SHOAL_ERR_PROTOCOL;
    for (i = 0; p[i]; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (ch <= 0x20 || ch >= 0x7f || ch == '#')
            return SHOAL_ERR_PROTOCOL;
    }
    q = strchr(p, '?');
    buf_reset(&r->path);
    if (buf_add(&r->path, p, q ? (size_t)(q - p) : strlen(p)) < 0)
        return SHOAL_ERR_NOMEM;
    kvlist_release(&r->query);
    if (!q)
        return 0;
    for (s = q + 1; *s;) {
        const char *amp = strchr(s, '&');
        size_t n = amp ? (size_t)(amp - s) : strlen(s);

        if (n > 0) {
            rc = add_decoded(r, s, n);
            if (rc < 0)
                return rc;
        }
        if (!amp)
            break;
        s = amp + 1;
    }
    return 0;
}

/* ---- handles ---- */

static CURL *handle_get(shoal_client *c)
{
    CURL *h = NULL;

    pthread_mutex_lock(&c->pool_lock);
    if (c->nidle > 0)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_reset(h);
    else
        h = curl_easy_init();
    return h;
}

static void handle_put(shoal_client *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_lock);
    if (c->nidle < CLIENT_HANDLE_POOL) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- callbacks ---- */

struct io {
    struct req *r;
    int64_t rpos;      /* body bytes handed to curl in this try */
    bool write_failed; /* local: file write or reply too large */
    int write_errno;
    bool too_big;
    bool cancelled;
};

static size_t on_read(char *dst, size_t size, size_t nmemb, void *ud)
{
    struct io *io = ud;
    struct req *r = io->r;
    size_t want = size * nmemb;
    size_t left = r->body_len - (size_t)io->rpos;
    ssize_t got;

    if (want > left)
        want = left;
    if (want == 0)
        return 0;
    if (r->body_fd < 0) {
        memcpy(dst, r->body + io->rpos, want);
        io->rpos += (int64_t)want;
        return want;
    }
    got = pread(r->body_fd, dst, want, (off_t)(r->body_off + io->rpos));
    if (got <= 0) {
        io->write_errno = got < 0 ? errno : EIO;
        io->write_failed = true;
        return CURL_READFUNC_ABORT;
    }
    io->rpos += got;
    return (size_t)got;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct io *io = ud;

    if (origin != SEEK_SET || off < 0 || (size_t)off > io->r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    io->rpos = off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *src, size_t size, size_t nmemb, void *ud)
{
    struct io *io = ud;
    struct req *r = io->r;
    size_t n = size * nmemb;

    if (r->out_fd >= 0 && r->status >= 200 && r->status < 300) {
        size_t done = 0;

        if ((int64_t)n > r->out_max - r->out_written) {
            io->too_big = true;
            return 0;
        }
        while (done < n) {
            ssize_t w = pwrite(r->out_fd, src + done, n - done,
                               (off_t)(r->out_off + r->out_written));

            if (w < 0) {
                if (errno == EINTR)
                    continue;
                io->write_errno = errno;
                io->write_failed = true;
                return 0;
            }
            done += (size_t)w;
            r->out_written += w;
        }
        return n;
    }
    if (buf_add(&r->resp, src, n) < 0) {
        io->too_big = true;
        return 0;
    }
    return n;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    struct io *io = ud;
    struct req *r = io->r;
    size_t n = size * nmemb;
    size_t end = n;
    const char *colon;

    while (end > 0 && (line[end - 1] == '\r' || line[end - 1] == '\n'))
        end--;
    if (end >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', end);
        int st = 0;
        size_t i;

        /* A new response (after a 100 Continue, say): forget the last. */
        kvlist_release(&r->resp_headers);
        r->reason[0] = '\0';
        if (sp) {
            for (i = 1; i <= 3 && sp + i < line + end; i++) {
                if (sp[i] < '0' || sp[i] > '9')
                    break;
                st = st * 10 + (sp[i] - '0');
            }
            if (sp + 4 < line + end && sp[4] == ' ')
                snprintf(r->reason, sizeof(r->reason), "%.*s",
                         (int)(line + end - sp - 5), sp + 5);
        }
        r->status = st;
        return n;
    }
    colon = memchr(line, ':', end);
    if (colon && colon > line) {
        const char *v = colon + 1;
        size_t nl = (size_t)(colon - line), i;
        char name[128];

        while (v < line + end && (*v == ' ' || *v == '\t'))
            v++;
        /* Names as sent: lookups ignore case, metadata keeps its case. */
        if (nl < sizeof(name)) {
            for (i = 0; i < nl; i++)
                name[i] = line[i];
            if (kvlist_addn(&r->resp_headers, name, nl, v,
                            (size_t)(line + end - v)) < 0)
                return 0;
        }
    }
    return n;
}

static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    struct io *io = ud;
    struct req *r = io->r;

    (void)dltotal;
    (void)ultotal;
    if (r->xfer_fn &&
        r->xfer_fn(ulnow > dlnow ? ulnow : dlnow, r->xfer_ctx) != 0) {
        io->cancelled = true;
        return 1;
    }
    return 0;
}

/* ---- signing ---- */

static bool has_body(const struct req *r)
{
    return strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0 ||
           strcmp(r->method, "PATCH") == 0 || strcmp(r->method, "MERGE") == 0;
}

/* All headers of one try, signed, in *all. */
static int build_headers(shoal_client *c, struct req *r, struct kvlist *all)
{
    char date[TIMEFMT_RFC1123_LEN];
    char uuid[37];
    char num[32];
    struct buf sts = BUF_INIT;
    struct buf auth = BUF_INIT;
    size_t i;
    int rc = SHOAL_ERR_NOMEM;

    timefmt_rfc1123(timefmt_now_ms(), date);
    crypto_uuid(uuid);
    for (i = 0; i < r->headers.n; i++) {
        if (kvlist_add(all, r->headers.v[i].name, r->headers.v[i].value) < 0)
            goto out;
    }
    if (has_body(r)) {
        snprintf(num, sizeof(num), "%zu", r->body_len);
        if (kvlist_add(all, "Content-Length", num) < 0)
            goto out;
    }
    if (r->svc == SVC_BATCH) {
        if (kvlist_add(all, "ocp-date", date) < 0 ||
            kvlist_add(all, "client-request-id", uuid) < 0 ||
            kvlist_add(all, "Accept", "application/json") < 0)
            goto out;
        if (c->batch_key) {
            if (sign_batch_string(r->method, all, c->batch_account,
                                  r->path.data, &r->query, &sts) < 0 ||
                buf_addf(&auth, "SharedKey %s:", c->batch_account) < 0 ||
                sign_hmac(c->batch_key, c->batch_keylen, sts.data, sts.len,
                          &auth) < 0 ||
                kvlist_add(all, "Authorization", auth.data) < 0)
                goto out;
        }
    } else {
        if (kvlist_add(all, "x-ms-date", date) < 0 ||
            kvlist_add(all, "x-ms-version", CLIENT_STORAGE_VERSION) < 0 ||
            kvlist_add(all, "x-ms-client-request-id", uuid) < 0)
            goto out;
        if (c->key) {
            if (sign_storage_string(r->method, all, c->account, r->path.data,
                                    &r->query, &sts) < 0 ||
                buf_addf(&auth, "SharedKey %s:", c->account) < 0 ||
                sign_hmac(c->key, c->keylen, sts.data, sts.len, &auth) < 0 ||
                kvlist_add(all, "Authorization", auth.data) < 0)
                goto out;
        }
    }
    rc = 0;
out:
    buf_release(&sts);
    buf_release(&auth);
    return rc;
}

static struct curl_slist *to_slist(const struct kvlist *all)
{
    struct curl_slist *l = NULL, *t;
    struct buf line = BUF_INIT;
    size_t i;

    for (i = 0; i < all->n; i++) {
        buf_reset(&line);
        /* "Name;" is how curl sends a header with an empty value. */
        if (all->v[i].value[0])
            t = buf_addf(&line, "%s: %s", all->v[i].name, all->v[i].value) < 0
                    ? NULL
                    : curl_slist_append(l, line.data);
        else
            t = buf_addf(&line, "%s;", all->v[i].name) < 0
                    ? NULL
                    : curl_slist_append(l, line.data);
        if (!t)
            goto fail;
        l = t;
    }
    /* No 100-continue round trip; our bodies are small or pre-sized. */
    t = curl_slist_append(l, "Expect:");
    if (!t)
        goto fail;
    l = t;
    buf_release(&line);
    return l;
fail:
    buf_release(&line);
    curl_slist_free_all(l);
    return NULL;
}

static int build_url(shoal_client *c, struct req *r, struct buf *url)
{
    size_t i;

    if (buf_adds(url, c->ep[r->svc].origin) < 0 ||
        buf_add(url, r->path.data, r->path.len) < 0)
        return SHOAL_ERR_NOMEM;
    for (i = 0; i < r->query.n; i++) {
        if (url_add_query(url, r->query.v[i].name, r->query.v[i].value,
                          i == 0) < 0)
            return SHOAL_ERR_NOMEM;
    }
    /* A SAS-only client appends its token to storage requests. */
    if (r->svc != SVC_BATCH && !c->key && c->sas) {
        if (buf_addc(url, r->query.n ? '&' : '?') < 0 ||
            buf_adds(url, c->sas) < 0)
            return SHOAL_ERR_NOMEM;
    }
    return 0;
}

/* ---- errors ---- */

int transport_status_code(int status)
{
    if (status >= 200 && status < 300)
        return 0;
    switch (status) {
    case 401:
    case 403:
        return SHOAL_ERR_AUTH;
    case 404:
        return SHOAL_ERR_NOTFOUND;
    case 409:
        return SHOAL_ERR_CONFLICT;
    case 410:
        return SHOAL_ERR_GONE;
    case 304:
    case 412:
        return SHOAL_ERR_PRECONDITION;
    case 408:
    case 504:
        return SHOAL_ERR_TIMEOUT;
    default:
        break;
    }
    if (status >= 500)
        return SHOAL_ERR_SERVER;
    if (status >= 400)
        return SHOAL_ERR_HTTP;
    return SHOAL_ERR_PROTOCOL;
}

/* Copy the first line of s[0..n) into dst. */
static void first_line(char *dst, size_t dstlen, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\n' || s[i] == '\r')
            break;
    }
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
        i--;
    snprintf(dst, dstlen, "%.*s", (int)i, s);
}

static void parse_xml_error(const struct req *r, struct shoal_error *e)
{
    struct xml_node *root = NULL;
    struct xml_node *n;

    if (xml_parse(r->resp.data, r->resp.len, &root, NULL) < 0)
        return;
    if (strcmp(root->name, "Error") == 0) {
        n = xml_child(root, "Code");
        if (n && n->textlen)
            snprintf(e->service_code, sizeof(e->service_code), "%s", n->text);
        n = xml_child(root, "Message");
        if (n && n->textlen)
            first_line(e->message, sizeof(e->message), n->text, n->textlen);
    }
    xml_free(root);
}

static void parse_json_error(const struct req *r, struct shoal_error *e)
{
    json_t *root = json_loadb(r->resp.data, r->resp.len, 0, NULL);
    json_t *code, *msg;
    const char *m = NULL;

    if (!root)
        return;
    code = json_object_get(root, "code");
    msg = json_object_get(root, "message");
    if (json_is_string(code))
        snprintf(e->service_code, sizeof(e->service_code), "%s",
                 json_string_value(code));
    if (json_is_object(msg))
        msg = json_object_get(msg, "value");
    if (json_is_string(msg))
        m = json_string_value(msg);
    if (m)
        first_line(e->message, sizeof(e->message), m, strlen(m));
    json_decref(root);
}

static void reply_error(shoal_client *c, const struct req *r, int code)
{
    struct shoal_error e;
    const char *v;

    memset(&e, 0, sizeof(e));
    e.code = code;
    e.http_status = r->status;
    v = req_reply_header(r, "x-ms-request-id");
    if (!v)
        v = req_reply_header(r, "request-id");
    if (v)
        snprintf(e.request_id, sizeof(e.request_id), "%s", v);
    if (r->resp.len > 0) {
        const char *p = r->resp.data;

        while (*p == ' ' || *p == '\r' || *p == '\n' || *p == '\t')
            p++;
        /* A UTF-8 byte order mark precedes some XML bodies. */
        if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
            (unsigned char)p[2] == 0xbf)
            p += 3;
        if (*p == '<')
            parse_xml_error(r, &e);
        else if (*p == '{')
            parse_json_error(r, &e);
    }
    v = req_reply_header(r, "x-ms-error-code");
    if (!e.service_code[0] && v)
        snprintf(e.service_code, sizeof(e.service_code), "%s", v);
    if (!e.message[0]) {
        if (r->reason[0]) {
            size_t i;

            /* "Not Found" -> "not found": our message style. */
            for (i = 0; r->reason[i] && i + 1 < sizeof(e.message); i++) {
                char ch = r->reason[i];

                e.message[i] =
                    (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
            }
            e.message[i] = '\0';
        } else
            snprintf(e.message, sizeof(e.message), "HTTP status %d", r->status);
    }
    client_set_error(c, &e);
}

/* ---- the loop ---- */

static bool retryable_status(int st)
{
    return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 ||
           st == 504;
}

static bool retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static void backoff_sleep(shoal_client *c, int attempt)
{
    int64_t d = c->retry_base_ms;
    uint32_t rnd;
    struct timespec ts;
    int i;

    for (i = 0; i < attempt && d < c->retry_max_ms; i++)
        d *= 2;
    if (d > c->retry_max_ms)
        d = c->retry_max_ms;
    crypto_random(&rnd, sizeof(rnd));
    /* Full jitter on the upper half: [d/2, d). */
    if (d > 1)
        d = d / 2 + (int64_t)(rnd % (uint64_t)(d - d / 2));
    ts.tv_sec = (time_t)(d / 1000);
    ts.tv_nsec = (long)(d % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void set_fixed(shoal_client *c, CURL *h, struct req *r, struct io *io,
                      const char *url, char *errbuf)
{
    long stall = (long)(c->stall_timeout_ms / 1000);

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, TRANSPORT_UA);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    if (c->stall_timeout_ms > 0) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall > 0 ? stall : 1L);
    }
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, io);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, io);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (has_body(r)) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, io);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, io);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (r->xfer_fn) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, io);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
}

static void reset_reply(struct req *r, struct io *io)
{
    r->status = 0;
    r->reason[0] = '\0';
    r->out_written = 0;
    kvlist_release(&r->resp_headers);
    buf_reset(&r->resp);
    io->rpos = 0;
    io->write_failed = false;
    io->too_big = false;
    io->cancelled = false;
}

int transport_send(shoal_client *c, struct req *r)
{
    static const char *const names[SVC_COUNT] = { "blob", "queue", "batch" };
    char errbuf[CURL_ERROR_SIZE];
    struct buf url = BUF_INIT;
    struct curl_slist *hl = NULL;
    struct kvlist all = KVLIST_INIT;
    struct io io;
    CURL *h = NULL;
    CURLcode cc = CURLE_OK;
    int attempt, rc;

    memset(&io, 0, sizeof(io));
    io.r = r;
    if (r->oom)
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    if (r->bad)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "header name or value with a line break");
    if (!c->ep[r->svc].origin)
        return client_fail(c, SHOAL_ERR_INVALID, "no %s endpoint configured",
                           names[r->svc]);
    rc = build_url(c, r, &url);
    if (rc < 0) {
        rc = client_fail(c, rc, "out of memory");
        goto out;
    }
    h = handle_get(c);
    if (!h) {
        rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        goto out;
    }
    errbuf[0] = '\0';
    set_fixed(c, h, r, &io, url.data, errbuf);
    for (attempt = 0;; attempt++) {
        reset_reply(r, &io);
        kvlist_release(&all);
        curl_slist_free_all(hl);
        hl = NULL;
        if (build_headers(c, r, &all) < 0 || !(hl = to_slist(&all))) {
            rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
            goto out;
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        errbuf[0] = '\0';
        cc = curl_easy_perform(h);
        if (cc == CURLE_OK) {
            long code = 0;

            /* curl's parse of the status line is the authority. */
            if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) ==
                    CURLE_OK &&
                code > 0)
                r->status = (int)code;
        }
        if (io.cancelled) {
            rc = client_fail(c, SHOAL_ERR_CANCELLED, "cancelled");
            goto out;
        }
        if (io.write_failed) {
            rc = client_fail(c, SHOAL_ERR_IO, "local file: %s",
                             strerror(io.write_errno));
            goto out;
        }
        if (io.too_big) {
            rc = client_fail(c, SHOAL_ERR_INVALID, "reply larger than allowed");
            goto out;
        }
        if (cc == CURLE_OK && !retryable_status(r->status))
            break;
        if (cc != CURLE_OK && !retryable_curl(cc))
            break;
        if (attempt >= c->retries)
            break;
        backoff_sleep(c, attempt);
    }
    if (cc != CURLE_OK) {
        rc = cc == CURLE_OPERATION_TIMEDOUT ? SHOAL_ERR_TIMEOUT
                                            : SHOAL_ERR_CONNECT;
        client_fail(c, rc, "%s %s: %s", r->method, c->ep[r->svc].origin,
                    errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    rc = transport_status_code(r->status);
    if (rc < 0)
        reply_error(c, r, rc);
out:
    curl_slist_free_all(hl);
    kvlist_release(&all);
    if (h) {
        /* Options point at our stack (errbuf, io); drop them now. */
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        handle_put(c, h);
    }
    buf_release(&url);
    return rc;
}
