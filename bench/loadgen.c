/*
 * loadgen.c: the client of the small-operation phases of bench/blob and
 * bench/queue.
 *
 * Node's HTTP stack saturates a core before shoald does, so a Node client
 * ends up measuring itself. loadgen drives one server with N concurrent
 * requests from a single thread through libcurl's multi interface
 * (keep-alive connections, TCP_NODELAY), signs each request with storage
 * SharedKey (OpenSSL HMAC-SHA256), and prints one JSON line. The benches
 * run the same binary against shoald and Azurite, so they compare servers
 * rather than clients.
 *
 *   loadgen --url http://127.0.0.1:PORT/devstoreaccount1 --account A
 *           --key BASE64 --op OP [--concurrency 16] [--seconds 5]
 *           [--ops N] [--size 4096] [--container c] [--queue q]
 *           [--prefix s-] [--keys 1024] [--pid PID] [--api-version V]
 *
 * --seconds 0 means no deadline (then --ops must bound the run); --size
 * defaults to 4096 for blobs and 256 for messages.
 *
 * Operations (a "logical op" is what gets counted and timed):
 *
 *   blob-put       PUT /acct/container/<prefix><n> (BlockBlob, --size bytes)
 *   blob-get       GET /acct/container/<prefix><n>; the body must be --size
 *                  bytes (0: any)
 *   blob-latency   PUT then GET of the same blob
 *   queue-put      POST /acct/queue/messages, a message of --size chars
 *   queue-getdel   GET ?numofmessages=1, then DELETE ?popreceipt=...
 *   queue-latency  POST, GET (repeated while the queue is empty), DELETE;
 *                  the latency is POST start .. GET holding the message
 *
 * n runs over 0..keys-1 (op index modulo --keys), so --ops 256 --keys 256
 * --prefix g- fills the set that a later blob-get reads.
 *
 * Structures: a run (struct lg) owns the multi handle, options, counters
 * and latency samples, plus `concurrency` slots. A slot (struct slot) is
 * one easy handle and the state of the one logical op it is running; an
 * op is one request or a short chain of them:
 *
 *   queue-getdel:   GET --msg--> DELETE --> done
 *                    |empty: the slot stops (queue dry)
 *   queue-latency:  POST --> GET --msg--> DELETE --> done
 *                             ^ |empty
 *                             +-+
 *   blob-latency:   PUT --> GET --> done
 *
 * When an op ends the slot starts the next one unless the deadline has
 * passed or --ops ops were issued; the run ends when every slot stopped.
 * Elapsed time runs from the first request to the last completion, so
 * ops in flight at the deadline finish and count.
 *
 * A non-2xx answer or a transport error counts as an error and ends its
 * op (the first few are printed on stderr). Errors make the result
 * invalid: the JSON line still prints, and the exit status is 1.
 *
 * --pid names the server process: its utime+stime from /proc/PID/stat
 * (all threads) over the run gives server_cpu_s and ops per server CPU
 * second, the fairer comparison when client and server share few cores.
 *
 * Ownership: everything lives for the whole run; a slot's header list and
 * request body stay alive until its transfer ends (libcurl borrows both).
 * Single-threaded. Exit status: 0 ok, 1 errors, 2 usage or setup failure.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define LG_ERRORS_SHOWN 5
#define LG_ERRORS_MAX   1000 /* stop early: the result is invalid anyway */
#define LG_RESP_MAX     (64 * 1024)
#define LG_STS_MAX      2048
#define LG_PATH_MAX     1024
#define LG_MSG_HEAD     "<QueueMessage><MessageText>"
#define LG_MSG_TAIL     "</MessageText></QueueMessage>"

enum lg_op {
    LG_BLOB_PUT,
    LG_BLOB_GET,
    LG_BLOB_LATENCY,
    LG_QUEUE_PUT,
    LG_QUEUE_GETDEL,
    LG_QUEUE_LATENCY,
    LG_OP_COUNT,
};

static const char *const lg_op_names[LG_OP_COUNT] = {
    "blob-put",  "blob-get",     "blob-latency",
    "queue-put", "queue-getdel", "queue-latency",
};

struct lg_opts {
    const char *url; /* http://host:port/account */
    const char *account;
    const char *key_b64;
    const char *container;
    const char *queue;
    const char *prefix;
    const char *api_version;
    enum lg_op op;
    int concurrency;
    double seconds;
    uint64_t max_ops; /* 0: only the deadline */
    size_t size;
    uint64_t keys;
    long pid; /* server, for CPU accounting; 0: none */
};

struct slot {
    struct lg *lg;
    CURL *easy;
    struct curl_slist *hdrs; /* of the request in flight */
    char *body;              /* per-slot request body (queue-latency) */
    int step;                /* position in the op's chain */
    uint64_t seq;            /* index of the current op */
    double op_start;
    double op_latency; /* < 0: the op's latency is its whole duration */
    bool failed;       /* counted as an error; the chain goes on */
    char method[8];
    char url[LG_PATH_MAX];
    char resp[LG_RESP_MAX + 1]; /* the first LG_RESP_MAX bytes, NUL-ended */
    size_t resp_len;
    size_t body_bytes; /* the whole response body */
    char msg_id[128];
    char pop[256];
};

struct lg {
    struct lg_opts o;
    unsigned char key[128];
    int key_len;
    char base[512]; /* http://host:port */
    char root[256]; /* raw path of the account: /devstoreaccount1 */
    CURLM *multi;
    struct slot *slots;
    int active;
    uint64_t issued;
    uint64_t done;
    uint64_t errors;
    bool dry;
    double start;
    double deadline;
    double last_done;
    double *lat; /* ms per completed op */
    size_t nlat;
    size_t lat_cap;
    char *body; /* shared request body: blob bytes or the message XML */
    size_t body_len;
    char date[64];
    time_t date_sec;
};

static void slot_next(struct slot *s);

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return p;
}

/* RFC 1123 date for x-ms-date, formatted once a second. */
static const char *http_date(struct lg *lg)
{
    time_t t = time(NULL);
    struct tm tm;

    if (t != lg->date_sec) {
        gmtime_r(&t, &tm);
        strftime(lg->date, sizeof(lg->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        lg->date_sec = t;
    }
    return lg->date;
}

static double cpu_of_pid(long pid)
{
    char path[64];
    char buf[1024];
    size_t n;
    FILE *f;
    char *p;
    unsigned long long utime = 0;
    unsigned long long stime = 0;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* comm may hold spaces and parentheses: fields restart after the last
     * ')'; utime and stime are fields 14 and 15 of the line. */
    p = strrchr(buf, ')');
    if (!p)
        return -1;
    if (sscanf(p + 1, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu",
               &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double cpu_of_self(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void add_latency(struct lg *lg, double ms)
{
    if (lg->nlat == lg->lat_cap) {
        size_t cap = lg->lat_cap ? lg->lat_cap * 2 : 4096;
        double *p = realloc(lg->lat, cap * sizeof(*p));

        if (!p) {
            fprintf(stderr, "loadgen: out of memory\n");
            exit(2);
        }
        lg->lat = p;
        lg->lat_cap = cap;
    }
    lg->lat[lg->nlat++] = ms;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct slot *s = arg;
    size_t len = size * nmemb;
    size_t room = LG_RESP_MAX - s->resp_len;
    size_t take = len < room ? len : room;

    memcpy(s->resp + s->resp_len, data, take);
    s->resp_len += take;
    s->resp[s->resp_len] = '\0';
    s->body_bytes += len;
    return len;
}

/*
 * Start one signed request on the slot. path follows the account
 * ("/c/blob"); query is the URL's query string as sent (NULL: none) and
 * canon its canonicalized form ("\nname:decoded-value", sorted; "" for
 * none). body may be NULL for GET and DELETE.
 */
static void slot_request(struct slot *s, const char *method, const char *path,
                         const char *query, const char *canon,
                         const char *ctype, bool is_blob_put, const char *body,
                         size_t body_len)
{
    struct lg *lg = s->lg;
    const char *date = http_date(lg);
    char sts[LG_STS_MAX];
    char len[32] = "";
    char hdr[256];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    unsigned char sig[2 * EVP_MAX_MD_SIZE];
    int n;

    if (body && body_len)
        snprintf(len, sizeof(len), "%zu", body_len);
    /* storage-wire.md 3: VERB, Content-Encoding, -Language, -Length (empty
     * for 0), -MD5, -Type, Date, four conditionals, Range; then the x-ms-
     * headers sorted; then /account + raw path (path-style: the account
     * twice) + the sorted query. */
    n = snprintf(sts, sizeof(sts),
                 "%s\n\n\n%s\n\n%s\n\n\n\n\n\n\n%sx-ms-date:%s\n"
                 "x-ms-version:%s\n/%s%s%s%s",
                 method, len, ctype ? ctype : "",
                 is_blob_put ? "x-ms-blob-type:BlockBlob\n" : "", date,
                 lg->o.api_version, lg->o.account, lg->root, path, canon);
    if (n < 0 || (size_t)n >= sizeof(sts)) {
        fprintf(stderr, "loadgen: string to sign too long\n");
        exit(2);
    }
    HMAC(EVP_sha256(), lg->key, lg->key_len, (unsigned char *)sts, (size_t)n,
         mac, &mac_len);
    EVP_EncodeBlock(sig, mac, (int)mac_len);

    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    snprintf(hdr, sizeof(hdr), "x-ms-date: %s", date);
    s->hdrs = curl_slist_append(s->hdrs, hdr);
    snprintf(hdr, sizeof(hdr), "x-ms-version: %s", lg->o.api_version);
    s->hdrs = curl_slist_append(s->hdrs, hdr);
    if (is_blob_put)
        s->hdrs = curl_slist_append(s->hdrs, "x-ms-blob-type: BlockBlob");
    snprintf(hdr, sizeof(hdr), "Authorization: SharedKey %s:%s", lg->o.account,
             (char *)sig);
    s->hdrs = curl_slist_append(s->hdrs, hdr);
    if (ctype) {
        snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
        s->hdrs = curl_slist_append(s->hdrs, hdr);
    } else {
        s->hdrs = curl_slist_append(s->hdrs, "Content-Type:");
    }
    /* no 100-continue round trip: both servers take the body at once */
    s->hdrs = curl_slist_append(s->hdrs, "Expect:");
    if (!s->hdrs) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }

    snprintf(s->url, sizeof(s->url), "%s%s%s%s%s", lg->base, lg->root, path,
             query ? "?" : "", query ? query : "");
    snprintf(s->method, sizeof(s->method), "%s", method);
    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
    if (body) {
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body_len);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST,
                         strcmp(method, "POST") ? method : NULL);
    } else {
        curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST,
                         strcmp(method, "GET") ? method : NULL);
    }
    s->resp_len = 0;
    s->resp[0] = '\0';
    s->body_bytes = 0;
    curl_multi_add_handle(lg->multi, s->easy);
}

static void blob_path(struct slot *s, char *out, size_t out_len)
{
    struct lg *lg = s->lg;

    snprintf(out, out_len, "/%s/%s%llu", lg->o.container, lg->o.prefix,
             (unsigned long long)(s->seq % lg->o.keys));
}

static void queue_message(struct slot *s, char *out, size_t out_len)
{
    snprintf(out, out_len, "/%s/messages", s->lg->o.queue);
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static void url_encode(const char *in, char *out, size_t out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in && o + 4 < out_len; in++) {
        unsigned char c = (unsigned char)*in;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

static const struct {
    const char *ent;
    char c;
} xml_ents[] = {
    { "&amp;", '&' },  { "&lt;", '<' },    { "&gt;", '>' },
    { "&quot;", '"' }, { "&apos;", '\'' },
};

/* Copy the text of the first <name> element, XML entities decoded. */
static bool xml_text(const char *xml, const char *name, char *out,
                     size_t out_len)
{
    char tag[64];
    const char *p;
    const char *end;
    size_t o = 0;

    snprintf(tag, sizeof(tag), "<%s>", name);
    p = strstr(xml, tag);
    if (!p)
        return false;
    p += strlen(tag);
    end = strchr(p, '<');
    if (!end)
        return false;
    while (p < end && o + 1 < out_len) {
        size_t i;
        bool hit = false;

        for (i = 0; *p == '&' && i < sizeof(xml_ents) / sizeof(xml_ents[0]);
             i++) {
            size_t l = strlen(xml_ents[i].ent);

            if (strncmp(p, xml_ents[i].ent, l) == 0) {
                out[o++] = xml_ents[i].c;
                p += l;
                hit = true;
                break;
            }
        }
        if (!hit)
            out[o++] = *p++;
    }
    out[o] = '\0';
    return o > 0;
}

static void show_error(struct slot *s, const char *what)
{
    struct lg *lg = s->lg;
    char *p;

    lg->errors++;
    for (p = s->resp; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' '; /* one line per error */
    }
    if (lg->errors <= LG_ERRORS_SHOWN)
        fprintf(stderr, "loadgen: error: %s %s: %s%s%.300s\n", s->method,
                s->url, what, s->resp_len ? ": " : "", s->resp);
    else if (lg->errors == LG_ERRORS_SHOWN + 1)
        fprintf(stderr, "loadgen: further errors not shown\n");
}

/* Issue the request of the op's current step. */
static void slot_step(struct slot *s)
{
    struct lg *lg = s->lg;
    char path[LG_PATH_MAX];
    char query[LG_PATH_MAX];
    char canon[LG_PATH_MAX];
    char enc[sizeof(s->pop) * 3];
    int n;

    switch (lg->o.op) {
    case LG_BLOB_PUT:
    case LG_BLOB_GET:
    case LG_BLOB_LATENCY:
        blob_path(s, path, sizeof(path));
        if (lg->o.op == LG_BLOB_PUT ||
            (lg->o.op == LG_BLOB_LATENCY && s->step == 0))
            slot_request(s, "PUT", path, NULL, "", "application/octet-stream",
                         true, lg->body, lg->body_len);
        else
            slot_request(s, "GET", path, NULL, "", NULL, false, NULL, 0);
        return;
    case LG_QUEUE_PUT:
        queue_message(s, path, sizeof(path));
        slot_request(s, "POST", path, NULL, "", "application/xml", false,
                     lg->body, lg->body_len);
        return;
    case LG_QUEUE_GETDEL:
    case LG_QUEUE_LATENCY:
        break;
    case LG_OP_COUNT:
        return;
    }
    /* the queue chains: getdel is GET, DELETE; latency is POST, GET, DELETE */
    n = lg->o.op == LG_QUEUE_LATENCY ? s->step : s->step + 1;
    queue_message(s, path, sizeof(path));
    if (n == 0) {
        /* "trip-<seq>." padded with x to --size: the GET must see it */
        size_t head = sizeof(LG_MSG_HEAD) - 1;
        size_t len = (size_t)snprintf(s->body, lg->o.size + 128,
                                      LG_MSG_HEAD "trip-%llu.",
                                      (unsigned long long)s->seq);

        while (len < head + lg->o.size)
            s->body[len++] = 'x';
        len += (size_t)snprintf(s->body + len, 64, LG_MSG_TAIL);
        slot_request(s, "POST", path, NULL, "", "application/xml", false,
                     s->body, len);
    } else if (n == 1) {
        slot_request(s, "GET", path, "numofmessages=1", "\nnumofmessages:1",
                     NULL, false, NULL, 0);
    } else {
        size_t l = strlen(path);

        snprintf(path + l, sizeof(path) - l, "/%s", s->msg_id);
        url_encode(s->pop, enc, sizeof(enc));
        snprintf(query, sizeof(query), "popreceipt=%s", enc);
        snprintf(canon, sizeof(canon), "\npopreceipt:%s", s->pop);
        slot_request(s, "DELETE", path, query, canon, NULL, false, NULL, 0);
    }
}

static void op_end(struct slot *s, bool ok)
{
    struct lg *lg = s->lg;
    double now = now_s();

    if (ok) {
        lg->done++;
        add_latency(lg,
                    (s->op_latency >= 0 ? s->op_latency : now - s->op_start) *
                        1000.0);
    }
    lg->last_done = now;
    slot_next(s);
}

static void slot_stop(struct slot *s)
{
    s->lg->active--;
    s->lg->last_done = now_s();
}

/* A transfer ended: check it, then take the op's next step or end it. */
static void on_done(struct slot *s, CURLcode rc)
{
    struct lg *lg = s->lg;
    long code = 0;
    char what[160];
    char want[64];
    enum lg_op op = lg->o.op;
    int n;

    curl_multi_remove_handle(lg->multi, s->easy);
    if (rc != CURLE_OK) {
        show_error(s, curl_easy_strerror(rc));
        op_end(s, false);
        return;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
        snprintf(what, sizeof(what), "status %ld", code);
        show_error(s, what);
        op_end(s, false);
        return;
    }
    switch (op) {
    case LG_BLOB_PUT:
    case LG_QUEUE_PUT:
        op_end(s, true);
        return;
    case LG_BLOB_GET:
    case LG_BLOB_LATENCY:
        if (op == LG_BLOB_LATENCY && s->step == 0) {
            s->step = 1;
            slot_step(s);
            return;
        }
        if (lg->o.size && s->body_bytes != lg->o.size) {
            snprintf(what, sizeof(what), "got %zu bytes, want %zu",
                     s->body_bytes, lg->o.size);
            show_error(s, what);
            op_end(s, false);
            return;
        }
        op_end(s, true);
        return;
    case LG_QUEUE_GETDEL:
    case LG_QUEUE_LATENCY:
        break;
    case LG_OP_COUNT:
        return;
    }
    n = op == LG_QUEUE_LATENCY ? s->step : s->step + 1;
    if (n == 0) {
        s->step++;
        slot_step(s);
    } else if (n == 1) {
        bool got =
            xml_text(s->resp, "MessageId", s->msg_id, sizeof(s->msg_id)) &&
            xml_text(s->resp, "PopReceipt", s->pop, sizeof(s->pop));

        if (!got && op == LG_QUEUE_GETDEL) {
            lg->dry = true;
            slot_stop(s);
            return;
        }
        if (!got) {
            slot_step(s); /* poll again */
            return;
        }
        if (op == LG_QUEUE_LATENCY) {
            s->op_latency = now_s() - s->op_start;
            snprintf(want, sizeof(want), "<MessageText>trip-%llu.",
                     (unsigned long long)s->seq);
            if (!strstr(s->resp, want)) {
                show_error(s, "round trip got another message");
                s->failed = true; /* delete it all the same */
            }
        }
        s->step++;
        slot_step(s);
    } else {
        op_end(s, !s->failed);
    }
}

/* Start the slot's next op, or stop the slot. */
static void slot_next(struct slot *s)
{
    struct lg *lg = s->lg;
    double now = now_s();

    if (now >= lg->deadline || (lg->o.max_ops && lg->issued >= lg->o.max_ops) ||
        lg->errors >= LG_ERRORS_MAX) {
        slot_stop(s);
        return;
    }
    s->seq = lg->issued++;
    s->op_start = now;
    s->op_latency = -1;
    s->failed = false;
    s->step = 0;
    slot_step(s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static double percentile(const double *v, size_t n, double p)
{
    size_t i = (size_t)((double)n * p);

    if (n == 0)
        return 0;
    return v[i < n ? i : n - 1];
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --url http://HOST:PORT/ACCOUNT --account A "
            "--key BASE64\n"
            "               --op blob-put|blob-get|blob-latency|queue-put|"
            "queue-getdel|queue-latency\n"
            "               [--concurrency 16] [--seconds 5] [--ops N] "
            "[--size BYTES]\n"
            "               [--container c] [--queue q] [--prefix s-] "
            "[--keys 1024]\n"
            "               [--pid SERVER_PID] [--api-version 2021-12-02]\n");
    exit(2);
}

static unsigned long long num_arg(const char *name, const char *v,
                                  unsigned long long max)
{
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);

    if (!*v || *end || n > max) {
        fprintf(stderr, "loadgen: bad value for %s: '%s'\n", name, v);
        exit(2);
    }
    return n;
}

static void parse_args(struct lg_opts *o, int argc, char **argv)
{
    int i;
    int op;

    o->container = "bench";
    o->queue = "bench";
    o->api_version = "2021-12-02";
    o->op = LG_OP_COUNT;
    o->concurrency = 16;
    o->seconds = 5;
    o->size = SIZE_MAX; /* default: 4096 for blobs, 256 for messages */
    o->keys = 1024;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;

        if (!v || strncmp(a, "--", 2) != 0)
            usage();
        i++;
        if (!strcmp(a, "--url")) {
            o->url = v;
        } else if (!strcmp(a, "--account")) {
            o->account = v;
        } else if (!strcmp(a, "--key")) {
            o->key_b64 = v;
        } else if (!strcmp(a, "--container")) {
            o->container = v;
        } else if (!strcmp(a, "--queue")) {
            o->queue = v;
        } else if (!strcmp(a, "--prefix")) {
            o->prefix = v;
        } else if (!strcmp(a, "--api-version")) {
            o->api_version = v;
        } else if (!strcmp(a, "--op")) {
            for (op = 0; op < LG_OP_COUNT; op++) {
                if (!strcmp(v, lg_op_names[op]))
                    break;
            }
            if (op == LG_OP_COUNT) {
                fprintf(stderr, "loadgen: unknown op '%s'\n", v);
                exit(2);
            }
            o->op = (enum lg_op)op;
        } else if (!strcmp(a, "--concurrency")) {
            o->concurrency = (int)num_arg(a, v, 4096);
        } else if (!strcmp(a, "--seconds")) {
            o->seconds = strtod(v, &end);
            if (!*v || *end || o->seconds < 0) {
                fprintf(stderr, "loadgen: bad value for %s: '%s'\n", a, v);
                exit(2);
            }
        } else if (!strcmp(a, "--ops")) {
            o->max_ops = num_arg(a, v, UINT64_MAX);
        } else if (!strcmp(a, "--size")) {
            o->size = (size_t)num_arg(a, v, 1ULL << 30);
        } else if (!strcmp(a, "--keys")) {
            o->keys = num_arg(a, v, UINT64_MAX);
        } else if (!strcmp(a, "--pid")) {
            o->pid = (long)num_arg(a, v, 1ULL << 31);
        } else {
            usage();
        }
    }
    if (!o->url || !o->account || !o->key_b64 || o->op == LG_OP_COUNT ||
        o->concurrency < 1 || o->keys < 1 ||
        (o->seconds == 0 && o->max_ops == 0))
        usage();
    if (o->size == SIZE_MAX)
        o->size = o->op >= LG_QUEUE_PUT ? 256 : 4096;
    if (!o->prefix)
        o->prefix = o->op == LG_BLOB_GET ? "g-" : "s-";
    if (o->op == LG_QUEUE_LATENCY)
        o->concurrency = 1; /* the latency of one client, by definition */
}

/* Split http://host:port/account/... into base and raw path. */
static void split_url(struct lg *lg)
{
    const char *p = strstr(lg->o.url, "://");
    const char *slash;
    size_t n;

    p = p ? p + 3 : lg->o.url;
    slash = strchr(p, '/');
    n = slash ? (size_t)(slash - lg->o.url) : strlen(lg->o.url);
    if (n >= sizeof(lg->base) || (slash && strlen(slash) >= sizeof(lg->root))) {
        fprintf(stderr, "loadgen: url too long\n");
        exit(2);
    }
    memcpy(lg->base, lg->o.url, n);
    lg->base[n] = '\0';
    snprintf(lg->root, sizeof(lg->root), "%s", slash ? slash : "");
    n = strlen(lg->root);
    if (n && lg->root[n - 1] == '/')
        lg->root[n - 1] = '\0';
}

static void decode_key(struct lg *lg)
{
    size_t n = strlen(lg->o.key_b64);
    int len;

    if (n == 0 || n % 4 || n / 4 * 3 > sizeof(lg->key)) {
        fprintf(stderr, "loadgen: --key is not base64\n");
        exit(2);
    }
    len =
        EVP_DecodeBlock(lg->key, (const unsigned char *)lg->o.key_b64, (int)n);
    if (len < 0) {
        fprintf(stderr, "loadgen: --key is not base64\n");
        exit(2);
    }
    /* EVP_DecodeBlock counts padding as zero bytes */
    while (n > 0 && lg->o.key_b64[n - 1] == '=') {
        len--;
        n--;
    }
    lg->key_len = len;
}

static void make_body(struct lg *lg)
{
    size_t i;
    uint32_t x = 2463534242u;

    if (lg->o.op == LG_QUEUE_PUT) {
        static const char head[] = LG_MSG_HEAD;
        static const char tail[] = LG_MSG_TAIL;

        lg->body_len = sizeof(head) - 1 + lg->o.size + sizeof(tail) - 1;
        lg->body = xmalloc(lg->body_len);
        memcpy(lg->body, head, sizeof(head) - 1);
        memset(lg->body + sizeof(head) - 1, 'x', lg->o.size);
        memcpy(lg->body + sizeof(head) - 1 + lg->o.size, tail,
               sizeof(tail) - 1);
        return;
    }
    /* blob bytes: xorshift32, so nothing along the way compresses them */
    lg->body_len = lg->o.size;
    lg->body = xmalloc(lg->body_len);
    for (i = 0; i < lg->body_len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        lg->body[i] = (char)(x >> 24);
    }
}

static void slot_init(struct lg *lg, struct slot *s)
{
    memset(s, 0, sizeof(*s));
    s->lg = lg;
    s->easy = curl_easy_init();
    if (!s->easy) {
        fprintf(stderr, "loadgen: curl_easy_init failed\n");
        exit(2);
    }
    s->body = xmalloc(lg->o.size + 128);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_PROXY, ""); /* ignore http_proxy */
    curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 60L);
}

static void slot_release(struct slot *s)
{
    curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->hdrs);
    free(s->body);
}

int main(int argc, char **argv)
{
    static struct lg lg;
    double cpu0;
    double cpu1;
    double srv0;
    double srv1;
    double elapsed;
    double srv_cpu;
    int i;
    int still;
    CURLMsg *msg;
    int left;

    parse_args(&lg.o, argc, argv);
    split_url(&lg);
    decode_key(&lg);
    make_body(&lg);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "loadgen: curl_global_init failed\n");
        return 2;
    }
    lg.multi = curl_multi_init();
    if (!lg.multi) {
        fprintf(stderr, "loadgen: curl_multi_init failed\n");
        return 2;
    }
    /* keep a connection per slot, and then some, across re-adds */
    curl_multi_setopt(lg.multi, CURLMOPT_MAXCONNECTS,
                      (long)lg.o.concurrency * 2);
    lg.slots = xmalloc((size_t)lg.o.concurrency * sizeof(*lg.slots));
    for (i = 0; i < lg.o.concurrency; i++)
        slot_init(&lg, &lg.slots[i]);

    cpu0 = cpu_of_self();
    srv0 = cpu_of_pid(lg.o.pid);
    lg.start = now_s();
    lg.last_done = lg.start;
    lg.deadline = lg.o.seconds > 0 ? lg.start + lg.o.seconds : 1e300;
    lg.active = lg.o.concurrency;
    for (i = 0; i < lg.o.concurrency; i++)
        slot_next(&lg.slots[i]);
    while (lg.active > 0) {
        curl_multi_perform(lg.multi, &still);
        while ((msg = curl_multi_info_read(lg.multi, &left)) != NULL) {
            struct slot *s = NULL;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &s);
            on_done(s, msg->data.result);
        }
        if (lg.active > 0)
            curl_multi_poll(lg.multi, NULL, 0, 100, NULL);
    }
    elapsed = lg.last_done - lg.start;
    srv1 = cpu_of_pid(lg.o.pid);
    cpu1 = cpu_of_self();
    srv_cpu = srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : -1;

    if (lg.nlat > 0)
        qsort(lg.lat, lg.nlat, sizeof(*lg.lat), cmp_double);
    printf("{\"op\":\"%s\",\"ops\":%llu,\"seconds\":%.3f,\"ops_per_s\":%.1f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%llu,"
           "\"concurrency\":%d,\"size\":%zu,\"dry\":%s,"
           "\"client_cpu_s\":%.3f",
           lg_op_names[lg.o.op], (unsigned long long)lg.done, elapsed,
           elapsed > 0 ? (double)lg.done / elapsed : 0.0,
           percentile(lg.lat, lg.nlat, 0.5), percentile(lg.lat, lg.nlat, 0.99),
           (unsigned long long)lg.errors, lg.o.concurrency, lg.o.size,
           lg.dry ? "true" : "false", cpu1 - cpu0);
    if (srv_cpu >= 0)
        printf(",\"server_cpu_s\":%.3f,\"ops_per_server_cpu_s\":%.1f", srv_cpu,
               srv_cpu > 0 ? (double)lg.done / srv_cpu : 0.0);
    else
        printf(",\"server_cpu_s\":null,\"ops_per_server_cpu_s\":null");
    printf("}\n");
    fflush(stdout);

    for (i = 0; i < lg.o.concurrency; i++)
        slot_release(&lg.slots[i]);
    free(lg.slots);
    free(lg.lat);
    free(lg.body);
    curl_multi_cleanup(lg.multi);
    curl_global_cleanup();
    return lg.errors ? 1 : 0;
}
