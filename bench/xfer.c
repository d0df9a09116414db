/*
 * xfer.c: the client of the 256 MiB phases of bench/blob: one large HTTP
 * transfer that costs the client almost nothing per byte.
 *
 * With curl as the client, the 256 MiB download measured curl: shoald
 * serves a cached blob with sendfile at a small fraction of a core, and
 * curl's copy of every byte out of the socket into its buffer was the
 * limit (about 3 GB/s here). xfer moves the bytes without copying them
 * through user space, so the server is what is measured:
 *
 *   GET  the body goes socket -> pipe -> /dev/null with splice(2)
 *   PUT  the body goes file -> socket with sendfile(2)
 *
 * The same binary drives every server in a bench, so the comparison stays
 * like for like.
 *
 *   xfer --url http://127.0.0.1:PORT/PATH[?QUERY] [-H 'Name: value']...
 *        [--put FILE]
 *
 * Without --put it sends a GET; with it, a PUT whose Content-Length is the
 * size of FILE (do not pass one with -H). The headers are sent as given:
 * the caller signs the request. Prints one JSON line:
 *
 *   {"status":200,"bytes":268435456,"seconds":0.083,"mib_per_s":3084.3}
 *
 * bytes is the body sent (PUT) or received (GET); seconds run from
 * connect() to the last byte of the response. Exit status: 0 for a 2xx
 * answer, 1 for any other answer or a transfer error (the response head
 * goes to stderr), 2 for usage or setup errors. One request per
 * connection; responses must carry Content-Length (chunked is refused).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XF_HEAD_MAX (64 * 1024) /* request or response head */
#define XF_PIPE     (1 << 20)   /* pipe capacity asked for the splice */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Prints "xfer: MSG" (MSG a format with one %s) and exits with code. */
static void die(int code, const char *fmt, const char *arg)
{
    fprintf(stderr, "xfer: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(code);
}

/* The same, with the reason errno gives. */
static void die_sys(int code, const char *fmt, const char *arg)
{
    int e = errno;
    fprintf(stderr, "xfer: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, ": %s\n", e ? strerror(e) : "connection closed");
    exit(code);
}

static void usage(void)
{
    fputs("usage: xfer --url http://HOST:PORT/PATH [-H 'Name: value']... "
          "[--put FILE]\n",
          stderr);
    exit(2);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die_sys(1, "%s", "cannot send the request");
        p += w;
        n -= (size_t)w;
    }
}

/* Appends to the request head; exits if it would not fit. */
static void head_add(char *head, size_t *len, const char *a, const char *b)
{
    int n = snprintf(head + *len, XF_HEAD_MAX - *len, "%s%s\r\n", a, b);
    if (n < 0 || (size_t)n >= XF_HEAD_MAX - *len)
        die(2, "%s", "request head too long");
    *len += (size_t)n;
}

/* Drops n body bytes from the socket without copying them to user space;
 * falls back to read() if the kernel cannot splice this socket. */
static void drain(int s, unsigned long long n)
{
    static char buf[64 * 1024];
    int p[2];
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    bool spliced = null >= 0 && pipe2(p, O_CLOEXEC) == 0;

    if (spliced)
        (void)fcntl(p[1], F_SETPIPE_SZ, XF_PIPE);
    while (n > 0) {
        if (spliced) {
            size_t want = n < XF_PIPE ? (size_t)n : XF_PIPE;
            ssize_t k = splice(s, NULL, p[1], NULL, want, SPLICE_F_MOVE);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0 && errno == EINVAL) {
                spliced = false;
                continue;
            }
            if (k <= 0)
                die_sys(1, "%s", "the response body ended early");
            n -= (unsigned long long)k;
            while (k > 0) {
                ssize_t w =
                    splice(p[0], NULL, null, NULL, (size_t)k, SPLICE_F_MOVE);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    die_sys(1, "%s", "splice to /dev/null");
                k -= w;
            }
        } else {
            size_t want = n < sizeof(buf) ? (size_t)n : sizeof(buf);
            ssize_t k = read(s, buf, want);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                die_sys(1, "%s", "the response body ended early");
            n -= (unsigned long long)k;
        }
    }
    if (null >= 0)
        close(null);
    if (spliced) {
        close(p[0]);
        close(p[1]);
    }
}

int main(int argc, char **argv)
{
    const char *url = NULL, *put = NULL;
    static char head[XF_HEAD_MAX], resp[XF_HEAD_MAX + 1];
    size_t hlen = 0;
    char host[256], path[8192];
    int port = 0;

    /* the headers are added after the request line, so collect them first */
    const char **hdrs = calloc((size_t)argc, sizeof(*hdrs));
    int nhdrs = 0;
    if (!hdrs)
        die(2, "%s", "out of memory");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--url") && i + 1 < argc)
            url = argv[++i];
        else if (!strcmp(argv[i], "-H") && i + 1 < argc)
            hdrs[nhdrs++] = argv[++i];
        else if (!strcmp(argv[i], "--put") && i + 1 < argc)
            put = argv[++i];
        else
            usage();
    }
    if (!url ||
        sscanf(url, "http://%255[^:/]:%d%8191s", host, &port, path) != 3 ||
        port <= 0 || port > 65535 || path[0] != '/')
        usage();

    int fd = -1;
    off_t size = 0;
    if (put) {
        struct stat st;
        fd = open(put, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
            die_sys(2, "cannot open %s", put);
        size = st.st_size;
    }

    char line[300];
    hlen = (size_t)snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\n",
                            put ? "PUT" : "GET", path);
    if (hlen >= sizeof(head))
        die(2, "%s", "request head too long");
    snprintf(line, sizeof(line), "%s:%d", host, port);
    head_add(head, &hlen, "Host: ", line);
    for (int i = 0; i < nhdrs; i++)
        head_add(head, &hlen, hdrs[i], "");
    if (put) {
        snprintf(line, sizeof(line), "%lld", (long long)size);
        head_add(head, &hlen, "Content-Length: ", line);
    }
    head_add(head, &hlen, "Connection: close", "");
    head_add(head, &hlen, "", "");

    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die(2, "not an IPv4 address: %s", host);
    double t0 = now_s();
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die_sys(2, "cannot connect to %s", url);
    write_all(s, head, hlen);
    for (off_t off = 0; off < size;) {
        ssize_t k = sendfile(s, fd, &off, (size_t)(size - off));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break; /* the server may have answered early: show its answer */
    }

    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got == XF_HEAD_MAX)
            die(1, "%s", "response head too long");
        ssize_t k = read(s, resp + got, XF_HEAD_MAX - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die_sys(1, "%s", "no response");
        got += (size_t)k;
        resp[got] = '\0';
        end = strstr(resp, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
        die(1, "%s", "not an HTTP response");
    size_t head_len = (size_t)(end + 4 - resp);
    unsigned long long clen = 0;
    bool have_len = false;
    for (char *h = strstr(resp, "\r\n"); h && h < end;
         h = strstr(h + 2, "\r\n")) {
        if (!strncasecmp(h + 2, "content-length:", 15)) {
            clen = strtoull(h + 17, NULL, 10);
            have_len = true;
        } else if (!strncasecmp(h + 2, "transfer-encoding:", 18)) {
            die(1, "%s", "chunked responses are not supported");
        }
    }
    if (!have_len)
        die(1, "%s", "the response has no Content-Length");
    unsigned long long in_head = got - head_len;
    if (in_head > clen)
        in_head = clen;
    drain(s, clen - in_head);
    double secs = now_s() - t0;
    close(s);

    unsigned long long bytes = put ? (unsigned long long)size : clen;
    if (status < 200 || status > 299) {
        fwrite(resp, 1, head_len, stderr);
        printf("{\"status\":%d,\"bytes\":0,\"seconds\":%.3f,\"mib_per_s\":0}\n",
               status, secs);
        return 1;
    }
    printf(
        "{\"status\":%d,\"bytes\":%llu,\"seconds\":%.4f,\"mib_per_s\":%.1f}\n",
        status, bytes, secs, (double)bytes / 1048576.0 / secs);
    return 0;
}
