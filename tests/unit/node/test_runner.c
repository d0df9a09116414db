/*
 * test_runner.c: the task runner. Command-line splitting and glob matching
 * by tables (hostile cases included); real tasks run under a temp directory
 * (exit codes, stdout/stderr, environment, cwd, timeout killing the whole
 * process group, cancel, launch failures, run_as when root); resource
 * downloads and output uploads against a small blob-like HTTP server
 * (libmicrohttpd, 127.0.0.1, port 0) started in this process, which serves
 * files, 404/403/503 answers and List Blobs pages, and records every PUT.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "node/runner.h"

/* The task structs hold char *; -Wwrite-strings makes literals const. */
#define MUT(s) ((char *)(uintptr_t)(s))

/* ------------------------------------------------------------------------
 * Helpers
 */

static char root[256]; /* per-run temp root, removed at the end */
static int task_seq;

static void rm_tree_at(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        struct dirent *de;

        if (d) {
            while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                    rm_tree_at(dirfd(d), de->d_name);
            }
            closedir(d);
        } else {
            close(fd);
        }
        unlinkat(dfd, name, AT_REMOVEDIR);
    } else {
        unlinkat(dfd, name, 0);
    }
}

/* A fresh task directory path (not created). */
static char *new_task_dir(void)
{
    return xasprintf("%s/workitems/job/job-1/t%d", root, ++task_seq);
}

/* Whole file as a string, or NULL. */
static char *slurp(const char *path)
{
    struct buf b = BUF_INIT;
    char chunk[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0)
        return NULL;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        assert_int_equal(buf_add(&b, chunk, (size_t)n), 0);
    close(fd);
    return buf_detach(&b, NULL);
}

static char *slurp_in(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    char *s = slurp(p);

    free(p);
    return s;
}

static bool exists_in(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    struct stat st;
    bool ok = lstat(p, &st) == 0;

    free(p);
    return ok;
}

/* A task with just a directory and a command. */
static struct runner_task simple_task(const char *dir, const char *cmd)
{
    struct runner_task t;

    memset(&t, 0, sizeof(t));
    t.task_dir = dir;
    t.command_line = cmd;
    return t;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* True when pid is gone or a zombie (PID 1 here may not reap). */
static bool proc_dead(long pid)
{
    char path[64];
    char *stat;
    const char *paren;
    bool dead;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    stat = slurp(path);
    if (!stat || !*stat) {
        free(stat);
        return true;
    }
    paren = strrchr(stat, ')');
    dead = !paren || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';
    free(stat);
    return dead;
}

/* ------------------------------------------------------------------------
 * The test HTTP server
 */

#define MAX_PUTS 128

struct put_rec {
    char *path; /* decoded URL path */
    char *comp; /* comp query parameter or NULL */
    char *blockid;
    char *blob_type; /* x-ms-blob-type */
    char *version;   /* x-ms-version */
    char *body;
    size_t len;
};

struct conn_state {
    struct buf body;
};

static struct MHD_Daemon *mhd;
static unsigned short port;
static pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct put_rec puts_log[MAX_PUTS];
static size_t nputs;
static int flaky_hits;
static int list_hits;
static char last_list_query[512];

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void puts_clear(void)
{
    size_t i;

    pthread_mutex_lock(&srv_lock);
    for (i = 0; i < nputs; i++) {
        free(puts_log[i].path);
        free(puts_log[i].comp);
        free(puts_log[i].blockid);
        free(puts_log[i].blob_type);
        free(puts_log[i].version);
        free(puts_log[i].body);
    }
    memset(puts_log, 0, sizeof(puts_log));
    nputs = 0;
    pthread_mutex_unlock(&srv_lock);
}

/* The recorded PUT of a path (with comp == NULL), or NULL. */
static const struct put_rec *put_find(const char *path)
{
    size_t i;

    for (i = 0; i < nputs; i++)
        if (strcmp(puts_log[i].path, path) == 0 && !puts_log[i].comp)
            return &puts_log[i];
    return NULL;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status,
                             const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, status, r);

    MHD_destroy_response(r);
    return ret;
}

static const char *qarg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result serve_list(struct MHD_Connection *c, bool evil)
{
    const char *prefix = qarg(c, "prefix");
    const char *marker = qarg(c, "marker");
    const char *restype = qarg(c, "restype");
    const char *comp = qarg(c, "comp");

    pthread_mutex_lock(&srv_lock);
    list_hits++;
    snprintf(last_list_query, sizeof(last_list_query),
             "restype=%s comp=%s prefix=%s marker=%s", restype ? restype : "-",
             comp ? comp : "-", prefix ? prefix : "-", marker ? marker : "-");
    pthread_mutex_unlock(&srv_lock);
    if (evil)
        return reply(c, 200,
                     "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                     "<EnumerationResults ContainerName=\"evil\"><Blobs>"
                     "<Blob><Name>../evil.txt</Name></Blob></Blobs>"
                     "<NextMarker/></EnumerationResults>");
    if (!marker)
        return reply(
            c, 200,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
            "<EnumerationResults ServiceEndpoint=\"http://x/\" "
            "ContainerName=\"cont\"><Prefix>in/</Prefix><MaxResults>2"
            "</MaxResults><Blobs>"
            "<Blob><Name>in/a.txt</Name><Properties><Content-Length>9"
            "</Content-Length></Properties></Blob>"
            "<Blob><Name>in/sub/b.txt</Name></Blob>"
            "</Blobs><NextMarker>page2</NextMarker></EnumerationResults>");
    if (strcmp(marker, "page2") == 0)
        return reply(c, 200,
                     "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                     "<EnumerationResults><Blobs>"
                     "<Blob><Name>in/dir/</Name></Blob>"
                     "<Blob><Name>in/c d.txt</Name></Blob>"
                     "<Blob><Name>other/skip.txt</Name></Blob>"
                     "</Blobs><NextMarker></NextMarker>"
                     "</EnumerationResults>");
    return reply(c, 400, "bad marker");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct conn_state *st = *con_cls;
    const char *sig = qarg(c, "sig");

    (void)cls;
    (void)version;
    if (!st) {
        st = xcalloc(1, sizeof(*st));
        st->body = (struct buf)BUF_INIT;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        assert_int_equal(buf_add(&st->body, upload_data, *upload_data_size), 0);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") == 0) {
        if (strcmp(url, "/files/hello.txt") == 0)
            return reply(c, 200, "hello resource\n");
        if (strcmp(url, "/files/script") == 0)
            return reply(c, 200, "echo from-sh-$((1+2))\n");
        if (strcmp(url, "/files/secret") == 0)
            return reply(c, 403,
                         "<Error><Code>AuthorizationFailure</Code>"
                         "</Error>");
        if (strcmp(url, "/files/flaky") == 0) {
            int hits;

            pthread_mutex_lock(&srv_lock);
            hits = ++flaky_hits;
            pthread_mutex_unlock(&srv_lock);
            return hits == 1 ? reply(c, 503, "busy") : reply(c, 200, "ok\n");
        }
        if (strcmp(url, "/redirect") == 0) {
            struct MHD_Response *r = MHD_create_response_from_buffer(
                0, NULL, MHD_RESPMEM_PERSISTENT);
            enum MHD_Result ret;

            MHD_add_response_header(r, "Location", "file:///etc/hostname");
            ret = MHD_queue_response(c, 302, r);
            MHD_destroy_response(r);
            return ret;
        }
        if (strcmp(url, "/cont") == 0 || strcmp(url, "/cont/") == 0) {
            if (!sig || strcmp(sig, "r l") != 0)
                return reply(c, 403, "no sas");
            return serve_list(c, false);
        }
        if (strcmp(url, "/evil") == 0)
            return serve_list(c, true);
        if (strncmp(url, "/cont/", 6) == 0) {
            char body[300];

            if (!sig || strcmp(sig, "r l") != 0)
                return reply(c, 403, "no sas");
            snprintf(body, sizeof(body), "blob:%s", url + 6);
            return reply(c, 200, body);
        }
        return reply(c, 404, "<Error><Code>BlobNotFound</Code></Error>");
    }
    if (strcmp(method, "PUT") == 0) {
        struct put_rec *p;

        if (strncmp(url, "/denied/", 8) == 0)
            return reply(c, 403, "denied");
        if (strncmp(url, "/out/", 5) != 0 || !sig || strcmp(sig, "w") != 0)
            return reply(c, 404, "no such container");
        pthread_mutex_lock(&srv_lock);
        assert_true(nputs < MAX_PUTS);
        p = &puts_log[nputs++];
        p->path = xstrdup(url + 5);
        p->comp = dup_or_null(qarg(c, "comp"));
        p->blockid = dup_or_null(qarg(c, "blockid"));
        p->blob_type = dup_or_null(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-ms-blob-type"));
        p->version = dup_or_null(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-ms-version"));
        p->len = st->body.len;
        p->body = buf_detach(&st->body, NULL);
        pthread_mutex_unlock(&srv_lock);
        return reply(c, 201, "");
    }
    return reply(c, 405, "");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_state *st = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (st) {
        buf_release(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

static char *url_of(const char *path)
{
    return xasprintf("http://127.0.0.1:%u%s", port, path);
}

static int group_setup(void **state)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    struct runner_limits lim;

    (void)state;
    /* A variable of ours that no task may see (set before any thread). */
    setenv("SHOAL_RUNNER_TEST_LEAK", "leaked", 1);
    snprintf(root, sizeof(root), "/tmp/shoal-runner-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    chmod(root, 0755); /* run_as tasks must traverse it */
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                           on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                           MHD_OPTION_END);
    if (!mhd)
        return -1;
    info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port)
        return -1;
    port = info->port;
    runner_get_limits(&lim);
    lim.http_attempts = 2;
    lim.retry_delay_ms = 10;
    runner_set_limits(&lim);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (mhd)
        MHD_stop_daemon(mhd);
    puts_clear();
    if (root[0])
        rm_tree_at(AT_FDCWD, root);
    return 0;
}

/* ------------------------------------------------------------------------
 * runner_split_args
 */

struct split_case {
    const char *cmd;
    const char *args[6]; /* NULL-terminated expectation */
};

static const struct split_case split_ok[] = {
    { "a b  c", { "a", "b", "c", NULL } },
    { "  lead\ttrail  \n", { "lead", "trail", NULL } },
    { "'a b' \"c d\"", { "a b", "c d", NULL } },
    { "a'b'c\"d\"e", { "abcde", NULL } },
    { "\"it's\"", { "it's", NULL } },
    { "'say \"hi\"'", { "say \"hi\"", NULL } },
    { "a\\ b", { "a b", NULL } },
    { "\"a\\\"b\"", { "a\"b", NULL } },
    { "\"a\\nb\"", { "a\\nb", NULL } },
    { "\"a\\\\b\"", { "a\\b", NULL } },
    { "\"\\$HOME\"", { "$HOME", NULL } },
    { "'a\\b'", { "a\\b", NULL } },
    { "'a\\'", { "a\\", NULL } },
    { "\"\" ''", { "", "", NULL } },
    { "x \"\"", { "x", "", NULL } },
    { "/bin/sh -c \"echo $HOME\"", { "/bin/sh", "-c", "echo $HOME", NULL } },
    { "/bin/bash -c 'cat $AZ_BATCH_TASK_DIR/x'",
      { "/bin/bash", "-c", "cat $AZ_BATCH_TASK_DIR/x", NULL } },
    { "x\\", { "x\\", NULL } },
    { "a\\\nb", { "ab", NULL } },
    { "\"a\\\nb\"", { "ab", NULL } },
    { "tab\there\nnl", { "tab", "here", "nl", NULL } },
    { "*.txt ~ $(rm -rf /)", { "*.txt", "~", "$(rm", "-rf", "/)", NULL } },
    { "a;b|c&&d", { "a;b|c&&d", NULL } },
    { "\"nested 'single' inside\"", { "nested 'single' inside", NULL } },
    { "'nested \"double\" inside'", { "nested \"double\" inside", NULL } },
    { "\\'", { "'", NULL } },
    { "\\\"x\\\"", { "\"x\"", NULL } },
};

static const char *const split_bad[] = {
    "",         "   ",       "\t\n\r", "'abc", "\"abc",
    "a 'b\" c", "\"abc\\\"", "x '",    "\"",   "'",
};

static void test_split_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_SIZE(split_ok); i++) {
        char **argv = NULL;
        size_t argc = 99;
        size_t n = 0;
        struct err e = ERR_INIT;

        while (split_ok[i].args[n])
            n++;
        if (runner_split_args(split_ok[i].cmd, &argv, &argc, &e) != 0)
            fail_msg("case %zu '%s': %s", i, split_ok[i].cmd, e.msg);
        if (argc != n)
            fail_msg("case %zu '%s': %zu args, want %zu", i, split_ok[i].cmd,
                     argc, n);
        for (n = 0; n < argc; n++)
            assert_string_equal(argv[n], split_ok[i].args[n]);
        assert_null(argv[argc]);
        runner_free_args(argv);
    }
    for (i = 0; i < ARRAY_SIZE(split_bad); i++) {
        char **argv = NULL;
        struct err e = ERR_INIT;

        if (runner_split_args(split_bad[i], &argv, NULL, &e) != -ERR_INVALID)
            fail_msg("bad case %zu '%s' accepted", i, split_bad[i]);
        assert_null(argv);
        assert_string_equal(e.svc, "InvalidCommandLine");
    }
    runner_free_args(NULL);
}

static void test_split_long(void **state)
{
    struct buf b = BUF_INIT;
    char **argv = NULL;
    size_t argc = 0;
    size_t i;

    (void)state;
    for (i = 0; i < 100000; i++)
        assert_int_equal(buf_addc(&b, 'a'), 0);
    assert_int_equal(buf_adds(&b, " 'q q'"), 0);
    for (i = 0; i < 20000; i++)
        assert_int_equal(buf_adds(&b, " x"), 0);
    assert_int_equal(runner_split_args(b.data, &argv, &argc, NULL), 0);
    assert_int_equal(argc, 20002);
    assert_int_equal(strlen(argv[0]), 100000);
    assert_string_equal(argv[1], "q q");
    assert_string_equal(argv[20001], "x");
    runner_free_args(argv);
    buf_release(&b);
}

/* ------------------------------------------------------------------------
 * runner_glob_match
 */

struct glob_case {
    const char *pattern;
    const char *path;
    bool match;
};

static const struct glob_case globs[] = {
    { "*.txt", "a.txt", true },
    { "*.txt", "d/a.txt", false },
    { "*.txt", "a.txt.bak", false },
    { "*.TXT", "a.txt", false },
    { "abc*", "abc", true },
    { "abc*", "abcdef", true },
    { "*", "", false },
    { "**", "", true },
    { "**", "a/b/c", true },
    { "**/*.txt", "a.txt", true },
    { "**/*.txt", "d/e/a.txt", true },
    { "**/*.txt", "d/e/a.dat", false },
    { "x/**/y", "x/y", true },
    { "x/**/y", "x/a/b/y", true },
    { "x/**/y", "x/a/b/z", false },
    { "x/**", "x", true },
    { "**/**/z", "z", true },
    { "a?c", "abc", true },
    { "a?c", "ac", false },
    { "a?c", "a/c", false },
    { "[abc]x", "bx", true },
    { "[!abc]x", "bx", false },
    { "[!abc]x", "dx", true },
    { "[^abc]x", "dx", true },
    { "[a-c]", "b", true },
    { "[a-c]", "d", false },
    { "[a-]", "-", true },
    { "abc[*]", "abc*", true },
    { "abc[*]", "abcd", false },
    { "[", "[", true },
    { "a[b", "a[b", true },
    { "a[b", "ab", false },
    { "[]]", "]", true },
    { "[!]]", "a", true },
    { "[!]]", "]", false },
    { "\\*", "\\x", true },
    { "a//b", "a/b", true },
    { "a/b", "a//b/", true },
    /* dot-files only when named */
    { "*.txt", ".a.txt", false },
    { "?a", ".a", false },
    { "[.]a", ".a", false },
    { ".*.txt", ".a.txt", true },
    { "**/*.txt", ".git/a.txt", false },
    { "**/*.txt", "d/.a.txt", false },
    { "**", ".git", false },
    { ".git/*", ".git/config", true },
    { "**/.x", "a/.x", true },
    { "*/*", "a/.b", false },
    { "../stdout.txt", "../stdout.txt", true },
};

static void test_glob_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_SIZE(globs); i++) {
        if (runner_glob_match(globs[i].pattern, globs[i].path) !=
            globs[i].match)
            fail_msg("glob %zu: '%s' vs '%s' should be %s", i, globs[i].pattern,
                     globs[i].path, globs[i].match ? "a match" : "no match");
    }
}

static void test_glob_hostile(void **state)
{
    struct buf pat = BUF_INIT;
    struct buf path = BUF_INIT;
    int i;

    (void)state;
    /* Exponential for naive backtracking; linear-ish here. */
    for (i = 0; i < 30; i++)
        assert_int_equal(buf_adds(&pat, "*a"), 0);
    assert_int_equal(buf_adds(&pat, "*b"), 0);
    for (i = 0; i < 2000; i++)
        assert_int_equal(buf_addc(&path, 'a'), 0);
    assert_false(runner_glob_match(pat.data, path.data));
    buf_reset(&pat);
    buf_reset(&path);
    for (i = 0; i < 40; i++)
        assert_int_equal(buf_adds(&pat, "**/"), 0);
    assert_int_equal(buf_adds(&pat, "x"), 0);
    for (i = 0; i < 200; i++)
        assert_int_equal(buf_adds(&path, "d/"), 0);
    assert_int_equal(buf_adds(&path, "y"), 0);
    assert_false(runner_glob_match(pat.data, path.data));
    buf_setlen(&path, path.len - 1);
    assert_int_equal(buf_adds(&path, "x"), 0);
    assert_true(runner_glob_match(pat.data, path.data));
    /* Unclosed and odd brackets never read past the segment. */
    assert_false(runner_glob_match("[!", "a"));
    assert_true(runner_glob_match("[!", "[!"));
    assert_false(runner_glob_match("[a-", "a"));
    buf_release(&pat);
    buf_release(&path);
}

/* ------------------------------------------------------------------------
 * Running commands
 */

static void test_exit_code_and_output(void **state)
{
    char *dir = new_task_dir();
    struct runner_task t =
        simple_task(dir, "/bin/sh -c \"echo hi; echo err >&2; exit 3\"");
    struct runner_result res;
    char *out;
    char *errs;

    (void)state;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_true(res.ran);
    assert_int_equal(res.exit_code, 3);
    assert_false(res.timed_out);
    assert_false(res.cancelled);
    assert_string_equal(res.category, "usererror");
    assert_string_equal(res.code, "FailureExitCode");
    assert_string_equal(
        res.message,
        "The task exited with an exit code representing a failure");
    assert_true(res.start_ms > 0 && res.end_ms >= res.start_ms);
    out = slurp_in(dir, "stdout.txt");
    errs = slurp_in(dir, "stderr.txt");
    assert_non_null(out);
    assert_non_null(errs);
    assert_string_equal(out, "hi\n");
    assert_string_equal(errs, "err\n");
    assert_true(exists_in(dir, "wd"));
    free(out);
    free(errs);

    /* A second run (a retry) appends to the same files. */
    t.command_line = "/bin/echo again";
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_true(res.ran);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.category, "");
    assert_string_equal(res.code, "");
    out = slurp_in(dir, "stdout.txt");
    assert_string_equal(out, "hi\nagain\n");
    free(out);
    free(dir);
}

static void test_signal_exit_code(void **state)
{
    char *dir = new_task_dir();
    struct runner_task t = simple_task(dir, "/bin/sh -c 'kill -TERM $$'");
    struct runner_result res;

    (void)state;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_true(res.ran);
    assert_int_equal(res.exit_code, 128 + SIGTERM);
    assert_string_equal(res.code, "FailureExitCode");
    free(dir);
}

static void test_environment(void **state)
{
    char *dir = new_task_dir();
    struct runner_env env[] = {
        { MUT("FOO"), MUT("first") },
        { MUT("AZ_BATCH_TASK_ID"), MUT("task-7") },
        { MUT("FOO"), MUT("second") },
        { MUT("WITH_SPACE"), MUT("a b") },
    };
    struct runner_task t = simple_task(dir, "/usr/bin/env");
    struct runner_result res;
    char *out;

    (void)state;
    t.env = env;
    t.nenv = ARRAY_SIZE(env);
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_int_equal(res.exit_code, 0);
    out = slurp_in(dir, "stdout.txt");
    assert_non_null(out);
    assert_non_null(strstr(out, "FOO=second\n"));
    assert_null(strstr(out, "FOO=first"));
    assert_non_null(strstr(out, "AZ_BATCH_TASK_ID=task-7\n"));
    assert_non_null(strstr(out, "WITH_SPACE=a b\n"));
    assert_non_null(strstr(out, "PATH="));
    assert_non_null(strstr(out, "HOME="));
    assert_non_null(strstr(out, "LANG="));
    assert_null(strstr(out, "SHOAL_RUNNER_TEST_LEAK"));
    free(out);
    free(dir);
}

static void test_path_from_task_env(void **state)
{
    char *dir = new_task_dir();
    char *path = xasprintf("/nonexistent:%s/wd/mybin:/bin:/usr/bin", dir);
    char *url = url_of("/files/script");
    struct runner_env env[] = { { MUT("PATH"), path } };
    struct runner_resource rs = { .http_url = url,
                                  .file_path = MUT("mybin/greet"),
                                  .file_mode = MUT("0755") };
    struct runner_task t = simple_task(dir, "greet");
    struct runner_result res;
    char *out;

    (void)state;
    /* greet exists only in a directory of the task's own PATH. */
    t.env = env;
    t.nenv = 1;
    t.res = &rs;
    t.nres = 1;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    if (!res.ran)
        fail_msg("%s %s", res.code, res.message);
    assert_int_equal(res.exit_code, 0);
    out = slurp_in(dir, "stdout.txt");
    assert_string_equal(out, "from-sh-3\n");
    free(out);
    free(url);
    free(path);
    free(dir);
}

static void test_cwd_is_wd(void **state)
{
    char *dir = new_task_dir();
    struct runner_task t = simple_task(dir, "/bin/sh -c 'pwd -P'");
    struct runner_result res;
    char *out;
    char *wd;
    char real[4096];

    (void)state;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_int_equal(res.exit_code, 0);
    wd = xasprintf("%s/wd", dir);
    assert_non_null(realpath(wd, real));
    out = slurp_in(dir, "stdout.txt");
    assert_non_null(out);
    assert_int_equal(strlen(out), strlen(real) + 1);
    assert_memory_equal(out, real, strlen(real));
    free(out);
    free(wd);
    free(dir);
}

static void test_no_fd_leak(void **state)
{
    char *dir = new_task_dir();
    struct runner_task t = simple_task(dir, "/bin/sh -c 'ls /proc/$$/fd'");
    struct runner_result res;
    int fd = open("/dev/null", O_RDONLY); /* not O_CLOEXEC, as a careless
                                              library might */
    char *out;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, 57), 57);
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_int_equal(res.exit_code, 0);
    out = slurp_in(dir, "stdout.txt");
    /* Only the standard three reach the task. */
    assert_string_equal(out, "0\n1\n2\n");
    close(57);
    close(fd);
    free(out);
    free(dir);
}

static void test_timeout_kills_group(void **state)
{
    char *dir = new_task_dir();
    struct runner_task t = simple_task(
        dir, "/bin/sh -c \"sleep 30 & echo $! > ../child.pid; wait\"");
    struct runner_result res;
    char *pidtext;
    long child;
    int64_t deadline;

    (void)state;
    t.max_wall_ms = 300;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_true(res.ran);
    assert_true(res.timed_out);
    assert_false(res.cancelled);
    assert_int_equal(res.exit_code, 128 + SIGKILL);
    assert_string_equal(res.category, "usererror");
    assert_string_equal(res.code, "TaskEnded");
    pidtext = slurp_in(dir, "child.pid");
    assert_non_null(pidtext);
    child = strtol(pidtext, NULL, 10);
    assert_true(child > 1);
    /* The background sleep was in the group: it dies too. */
    deadline = timefmt_mono_ms() + 10000;
    while (!proc_dead(child) && timefmt_mono_ms() < deadline)
        sleep_ms(10);
    assert_true(proc_dead(child));
    free(pidtext);
    free(dir);
}

struct cancel_arg {
    struct runner_task t;
    volatile bool flag;
    struct runner_result res;
    int rc;
};

static void *cancel_thread(void *p)
{
    struct cancel_arg *a = p;

    a->rc = runner_run(&a->t, &a->flag, &a->res);
    return NULL;
}

static void test_cancel(void **state)
{
    char *dir = new_task_dir();
    struct cancel_arg a;
    pthread_t th;
    int64_t deadline = timefmt_mono_ms() + 10000;
    char *out = NULL;

    (void)state;
    memset(&a, 0, sizeof(a));
    a.t = simple_task(dir, "/bin/sh -c 'echo started; exec sleep 30'");
    a.flag = false;
    assert_int_equal(pthread_create(&th, NULL, cancel_thread, &a), 0);
    while (timefmt_mono_ms() < deadline) {
        free(out);
        out = slurp_in(dir, "stdout.txt");
        if (out && strstr(out, "started"))
            break;
        sleep_ms(5);
    }
    assert_non_null(out);
    assert_non_null(strstr(out, "started"));
    __atomic_store_n(&a.flag, true, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_true(a.res.ran);
    assert_true(a.res.cancelled);
    assert_false(a.res.timed_out);
    assert_string_equal(a.res.code, "TaskEnded");
    assert_string_equal(a.res.message, "Task Was Ended by User Request");
    free(out);
    free(dir);
}

static void test_cancel_before_start(void **state)
{
    char *dir = new_task_dir();
    struct runner_task t = simple_task(dir, "/bin/echo never");
    struct runner_result res;
    volatile bool flag = true;

    (void)state;
    assert_int_equal(runner_run(&t, &flag, &res), 0);
    assert_false(res.ran);
    assert_true(res.cancelled);
    assert_string_equal(res.code, "TaskEnded");
    assert_false(exists_in(dir, "stdout.txt"));
    free(dir);
}

static void test_program_not_found(void **state)
{
    static const char *const cmds[] = {
        "no-such-program-shoal-test arg",
        "/nonexistent/dir/prog",
        "./missing-in-wd",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_SIZE(cmds); i++) {
        char *dir = new_task_dir();
        struct runner_task t = simple_task(dir, cmds[i]);
        struct runner_result res;

        assert_int_equal(runner_run(&t, NULL, &res), 0);
        assert_false(res.ran);
        assert_string_equal(res.category, "usererror");
        assert_string_equal(res.code, "CommandProgramNotFound");
        assert_non_null(strstr(res.message, "not found"));
        free(dir);
    }
}

static void test_bad_command_line(void **state)
{
    char *dir = new_task_dir();
    struct runner_task t = simple_task(dir, "/bin/echo 'unterminated");
    struct runner_result res;

    (void)state;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_false(res.ran);
    assert_string_equal(res.code, "CommandLaunchFailed");
    t.command_line = "   ";
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_false(res.ran);
    assert_string_equal(res.code, "CommandLaunchFailed");
    free(dir);
}

static void test_run_as(void **state)
{
    char *dir;
    struct runner_task t;
    struct runner_result res;
    char *out;
    char *made;
    struct stat st;

    (void)state;
    if (geteuid() != 0)
        skip();
    dir = new_task_dir();
    t = simple_task(dir, "/bin/sh -c 'id -u; id -g; echo x > made.txt'");
    t.run_as = true;
    t.uid = 65534;
    t.gid = 65534;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_true(res.ran);
    assert_int_equal(res.exit_code, 0);
    out = slurp_in(dir, "stdout.txt");
    assert_string_equal(out, "65534\n65534\n");
    made = xasprintf("%s/wd/made.txt", dir);
    assert_int_equal(stat(made, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    /* The task cannot write its task directory (only wd). */
    t.command_line = "/bin/sh -c 'echo y > ../planted'";
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_true(res.ran);
    assert_int_not_equal(res.exit_code, 0);
    assert_false(exists_in(dir, "planted"));
    free(made);
    free(out);
    free(dir);
}

/* A supplementary group besides gid (extra_gid), and none when 0. */
static void test_run_as_groups(void **state)
{
    char *dir;
    struct runner_task t;
    struct runner_result res;
    char *out;

    (void)state;
    if (geteuid() != 0)
        skip();
    dir = new_task_dir();
    t = simple_task(dir, "/bin/sh -c 'id -u; id -G'");
    t.run_as = true;
    t.uid = 1000000007;
    t.gid = 1000000008;
    t.extra_gid = 65534;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_int_equal(res.exit_code, 0);
    out = slurp_in(dir, "stdout.txt");
    assert_string_equal(out, "1000000007\n1000000008 65534\n");
    free(out);
    free(dir);
    dir = new_task_dir();
    t = simple_task(dir, "/bin/sh -c 'id -G'");
    t.run_as = true;
    t.uid = 1000000007;
    t.gid = 1000000008;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    out = slurp_in(dir, "stdout.txt");
    assert_string_equal(out, "1000000008\n");
    free(out);
    free(dir);
}

/* ------------------------------------------------------------------------
 * Resource files
 */

static void test_download_http(void **state)
{
    char *dir = new_task_dir();
    char *u1 = url_of("/files/hello.txt?sv=1&sig=secretsig");
    char *u2 = url_of("/files/script");
    char *u3 = url_of("/files/hello.txt");
    struct runner_resource rs[] = {
        { .http_url = u1, .file_path = MUT("sub/dir/h.txt") },
        { .http_url = u2,
          .file_path = MUT("script"),
          .file_mode = MUT("0755") },
        { .http_url = u3,
          .file_path = MUT("./notexec"),
          .file_mode = MUT("0644") },
    };
    struct runner_task t = simple_task(dir, "./script");
    struct runner_result res;
    char *wd = xasprintf("%s/wd", dir);
    char *s;
    char *p;
    struct stat st;

    (void)state;
    t.res = rs;
    t.nres = ARRAY_SIZE(rs);
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_true(res.ran);
    assert_int_equal(res.exit_code, 0);
    s = slurp_in(wd, "sub/dir/h.txt");
    assert_string_equal(s, "hello resource\n");
    free(s);
    p = xasprintf("%s/sub/dir/h.txt", wd);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0770);
    free(p);
    p = xasprintf("%s/notexec", wd);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    free(p);
    /* A script without #! runs with /bin/sh, as execvp would. */
    s = slurp_in(dir, "stdout.txt");
    assert_string_equal(s, "from-sh-3\n");
    free(s);

    /* Not executable: launch failed, not "not found". */
    t.command_line = "./notexec";
    t.nres = 0;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_false(res.ran);
    assert_string_equal(res.code, "CommandLaunchFailed");
    free(wd);
    free(u1);
    free(u2);
    free(u3);
    free(dir);
}

struct dl_fail_case {
    const char *path; /* server path, or a full URL when it has "://" */
    const char *file_path;
    const char *code;
};

static void test_download_failures(void **state)
{
    static const struct dl_fail_case cases[] = {
        { "/files/missing?sig=topsecret", "m.txt", "BlobNotFound" },
        { "/files/secret?sig=topsecret", "s.txt", "BlobAccessDenied" },
        { "/files/hello.txt", "../escape.txt", "ResourceFileCreateFailed" },
        { "/files/hello.txt", "a/../../escape.txt",
          "ResourceFileCreateFailed" },
        { "/files/hello.txt", "/tmp/abs.txt", "ResourceFileCreateFailed" },
        { "/files/hello.txt", "dir/", "ResourceFileCreateFailed" },
        { "/files/hello.txt", NULL, "ResourceFileCreateFailed" },
        { "/files/hello.txt", "..", "ResourceFileCreateFailed" },
        { "file:///etc/hostname", "f.txt", "BlobDownloadMiscError" },
        { "/redirect", "r.txt", "BlobDownloadMiscError" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        char *dir = new_task_dir();
        char *url = strstr(cases[i].path, "://") ? xstrdup(cases[i].path)
                                                 : url_of(cases[i].path);
        struct runner_resource rs = { .http_url = url,
                                      .file_path = MUT(cases[i].file_path) };
        struct runner_task t = simple_task(dir, "/bin/echo ran");
        struct runner_result res;

        t.res = &rs;
        t.nres = 1;
        assert_int_equal(runner_run(&t, NULL, &res), 0);
        assert_false(res.ran);
        if (strcmp(res.code, cases[i].code) != 0)
            fail_msg("case %zu: code %s (%s), want %s", i, res.code,
                     res.message, cases[i].code);
        assert_string_equal(res.category, "usererror");
        assert_null(strstr(res.message, "topsecret"));
        if (strncmp(cases[i].path, "file:", 5) == 0 ||
            strcmp(cases[i].path, "/redirect") == 0) {
            /* Refused by the transport, never read (curl's wording). */
            if (!strstr(res.message, "not supported or disabled"))
                fail_msg("case %zu: %s", i, res.message);
        }
        assert_false(exists_in(dir, "stdout.txt"));
        assert_false(exists_in(dir, "escape.txt"));
        free(url);
        free(dir);
    }
    assert_false(exists_in("/tmp", "abs.txt"));
}

static void test_download_refused_connection(void **state)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    char *dir = new_task_dir();
    char *url;
    struct runner_resource rs = { .file_path = MUT("x") };
    struct runner_task t = simple_task(dir, "/bin/echo ran");
    struct runner_result res;

    (void)state;
    /* A port that was just free and has no listener. */
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
    close(s);
    url = xasprintf("http://127.0.0.1:%u/x", ntohs(sa.sin_port));
    rs.http_url = url;
    t.res = &rs;
    t.nres = 1;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_false(res.ran);
    assert_string_equal(res.code, "BlobDownloadMiscError");
    free(url);
    free(dir);
}

static void test_download_retry(void **state)
{
    char *dir = new_task_dir();
    char *url = url_of("/files/flaky");
    struct runner_resource rs = { .http_url = url, .file_path = MUT("f") };
    struct runner_task t = simple_task(dir, "/bin/cat f");
    struct runner_result res;
    char *out;

    (void)state;
    flaky_hits = 0;
    t.res = &rs;
    t.nres = 1;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_true(res.ran);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(flaky_hits, 2);
    out = slurp_in(dir, "stdout.txt");
    assert_string_equal(out, "ok\n");
    free(out);
    free(url);
    free(dir);
}

static void test_download_container(void **state)
{
    char *dir = new_task_dir();
    char *url = url_of("/cont?sv=2021-12-02&sig=r%20l");
    struct runner_resource rs = { .container_url = url,
                                  .blob_prefix = MUT("in/"),
                                  .file_path = MUT("inputs"),
                                  .file_mode = MUT("0640") };
    struct runner_task t = simple_task(dir, "/bin/echo ok");
    struct runner_result res;
    char *wd = xasprintf("%s/wd", dir);
    char *s;

    (void)state;
    list_hits = 0;
    t.res = &rs;
    t.nres = 1;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    if (!res.ran)
        fail_msg("download failed: %s %s", res.code, res.message);
    assert_int_equal(list_hits, 2);
    assert_string_equal(last_list_query,
                        "restype=container comp=list prefix=in/ "
                        "marker=page2");
    s = slurp_in(wd, "inputs/in/a.txt");
    assert_string_equal(s, "blob:in/a.txt");
    free(s);
    s = slurp_in(wd, "inputs/in/sub/b.txt");
    assert_string_equal(s, "blob:in/sub/b.txt");
    free(s);
    s = slurp_in(wd, "inputs/in/c d.txt");
    assert_string_equal(s, "blob:in/c d.txt");
    free(s);
    assert_false(exists_in(wd, "inputs/in/dir"));
    assert_false(exists_in(wd, "inputs/other"));
    free(wd);
    free(url);
    free(dir);
}

static void test_download_container_failures(void **state)
{
    char *dir = new_task_dir();
    char *evil = url_of("/evil?sig=r%20l");
    char *nosas = url_of("/cont");
    struct runner_resource rs = { .container_url = evil };
    struct runner_task t = simple_task(dir, "/bin/echo ok");
    struct runner_result res;

    (void)state;
    t.res = &rs;
    t.nres = 1;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_false(res.ran);
    assert_string_equal(res.code, "ResourceFileCreateFailed");
    assert_false(exists_in(dir, "evil.txt"));
    rs.container_url = nosas;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_false(res.ran);
    assert_string_equal(res.code, "BlobAccessDenied");
    free(evil);
    free(nosas);
    free(dir);
}

/* ------------------------------------------------------------------------
 * Output files
 */

static void test_upload_patterns(void **state)
{
    char *dir = new_task_dir();
    char *out_url = url_of("/out?sv=2021-12-02&sig=w");
    struct runner_output outs[] = {
        { MUT("*.txt"), out_url, MUT("flat"), RUNNER_UPLOAD_COMPLETION },
        { MUT("../stdout.txt"), out_url, MUT("logs/stdout.txt"),
          RUNNER_UPLOAD_SUCCESS },
        { MUT("**/*.dat"), out_url, NULL, RUNNER_UPLOAD_COMPLETION },
        { MUT("res/*.txt"), out_url, MUT("/r/"), RUNNER_UPLOAD_SUCCESS },
        { MUT("a.txt"), out_url, MUT("never"), RUNNER_UPLOAD_FAILURE },
        { MUT(".*.txt"), out_url, MUT("dots"), RUNNER_UPLOAD_COMPLETION },
        { MUT("$AZ_BATCH_TASK_DIR/stderr.txt"), out_url, NULL,
          RUNNER_UPLOAD_COMPLETION },
        { MUT("missing-literal.txt"), out_url, NULL, RUNNER_UPLOAD_COMPLETION },
        { MUT("nodir/*.txt"), out_url, NULL, RUNNER_UPLOAD_COMPLETION },
        { MUT("link.txt"), out_url, MUT("lit-link"), RUNNER_UPLOAD_COMPLETION },
        { MUT("res/b.txt"), out_url, MUT("into/"), RUNNER_UPLOAD_COMPLETION },
        { MUT("uplink/stdout.txt"), out_url, MUT("via-uplink"),
          RUNNER_UPLOAD_COMPLETION },
        { MUT("uplink/*.txt"), out_url, MUT("via-uplink-glob"),
          RUNNER_UPLOAD_COMPLETION },
    };
    struct runner_env env[] = { { MUT("AZ_BATCH_TASK_DIR"), dir } };
    struct runner_task t = simple_task(
        dir, "/bin/sh -c \"echo out; echo oops >&2; mkdir -p res/deep; "
             "printf one > a.txt; printf two > res/b.txt; "
             "printf three > res/deep/c.dat; printf hidden > .hidden.txt; "
             "ln -s /etc/hostname link.txt; ln -s .. uplink; "
             "printf sp > 'my file.txt'\"");
    struct runner_result res;
    const struct put_rec *p;
    size_t i;

    (void)state;
    puts_clear();
    t.out = outs;
    t.nout = ARRAY_SIZE(outs);
    t.env = env;
    t.nenv = 1;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    if (res.category[0])
        fail_msg("failed: %s %s", res.code, res.message);
    assert_int_equal(res.exit_code, 0);
    pthread_mutex_lock(&srv_lock);
    for (i = 0; i < nputs; i++) {
        assert_string_equal(puts_log[i].blob_type, "BlockBlob");
        assert_string_equal(puts_log[i].version, "2021-12-02");
    }
    p = put_find("flat/a.txt");
    assert_non_null(p);
    assert_int_equal(p->len, 3);
    assert_memory_equal(p->body, "one", 3);
    p = put_find("flat/my file.txt");
    assert_non_null(p);
    assert_memory_equal(p->body, "sp", 2);
    p = put_find("logs/stdout.txt");
    assert_non_null(p);
    assert_int_equal(p->len, 4);
    assert_memory_equal(p->body, "out\n", 4);
    p = put_find("res/deep/c.dat");
    assert_non_null(p);
    assert_memory_equal(p->body, "three", 5);
    p = put_find("r/b.txt");
    assert_non_null(p);
    assert_memory_equal(p->body, "two", 3);
    p = put_find("dots/.hidden.txt");
    assert_non_null(p);
    assert_memory_equal(p->body, "hidden", 6);
    p = put_find("stderr.txt");
    assert_non_null(p);
    assert_memory_equal(p->body, "oops\n", 5);
    /* Not uploaded: dot-file via "*", the symlink, failure-only output. */
    p = put_find("into/b.txt");
    assert_non_null(p);
    assert_memory_equal(p->body, "two", 3);
    assert_null(put_find("flat/.hidden.txt"));
    assert_null(put_find("flat/link.txt"));
    assert_null(put_find("never"));
    assert_null(put_find("lit-link"));
    assert_null(put_find("via-uplink"));
    assert_null(put_find("via-uplink-glob/stdout.txt"));
    assert_int_equal(nputs, 8);
    pthread_mutex_unlock(&srv_lock);
    free(out_url);
    free(dir);
}

static void test_upload_on_failure(void **state)
{
    char *dir = new_task_dir();
    char *out_url = url_of("/out?sig=w");
    struct runner_output outs[] = {
        { MUT("../std*.txt"), out_url, MUT("fail"), RUNNER_UPLOAD_FAILURE },
        { MUT("../stdout.txt"), out_url, MUT("ok"), RUNNER_UPLOAD_SUCCESS },
    };
    struct runner_task t = simple_task(dir, "/bin/sh -c 'echo bad; exit 1'");
    struct runner_result res;

    (void)state;
    puts_clear();
    t.out = outs;
    t.nout = ARRAY_SIZE(outs);
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_int_equal(res.exit_code, 1);
    assert_string_equal(res.code, "FailureExitCode");
    pthread_mutex_lock(&srv_lock);
    assert_non_null(put_find("fail/stdout.txt"));
    assert_non_null(put_find("fail/stderr.txt"));
    assert_null(put_find("ok"));
    assert_int_equal(nputs, 2);
    pthread_mutex_unlock(&srv_lock);
    free(out_url);
    free(dir);
}

/* Block id ids[i] of a Put Block List body, in order. */
static size_t blocklist_ids(const char *xml, char ids[][64], size_t max)
{
    size_t n = 0;
    const char *p = xml;

    while (n < max && (p = strstr(p, "<Latest>")) != NULL) {
        const char *end = strstr(p, "</Latest>");

        assert_non_null(end);
        p += 8;
        assert_true((size_t)(end - p) < 64);
        memcpy(ids[n], p, (size_t)(end - p));
        ids[n][end - p] = '\0';
        n++;
        p = end;
    }
    return n;
}

static void test_upload_blocks(void **state)
{
    char *dir = new_task_dir();
    char *out_url = url_of("/out?sig=w");
    struct runner_output outs[] = {
        { MUT("big.bin"), out_url, MUT("big/blob.bin"),
          RUNNER_UPLOAD_COMPLETION },
    };
    struct runner_task t = simple_task(
        dir, "/bin/sh -c 'i=0; while [ $i -lt 250 ]; do printf %04d $i; "
             "i=$((i+1)); done > big.bin'");
    struct runner_result res;
    struct runner_limits saved;
    struct runner_limits lim;
    const struct put_rec *list = NULL;
    char ids[32][64];
    size_t nids;
    size_t i;
    size_t nblocks = 0;
    struct buf assembled = BUF_INIT;
    char *expect;

    (void)state;
    puts_clear();
    runner_get_limits(&saved);
    lim = saved;
    lim.single_put_max = 999;
    lim.block_size = 300;
    runner_set_limits(&lim);
    t.out = outs;
    t.nout = 1;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    runner_set_limits(&saved);
    if (res.category[0])
        fail_msg("failed: %s %s", res.code, res.message);
    pthread_mutex_lock(&srv_lock);
    for (i = 0; i < nputs; i++) {
        if (!puts_log[i].comp)
            fail_msg("unexpected Put Blob %s", puts_log[i].path);
        assert_string_equal(puts_log[i].path, "big/blob.bin");
        assert_null(puts_log[i].blob_type);
        if (strcmp(puts_log[i].comp, "blocklist") == 0)
            list = &puts_log[i];
        else if (strcmp(puts_log[i].comp, "block") == 0)
            nblocks++;
    }
    assert_int_equal(nblocks, 4); /* 1000 bytes in blocks of 300 */
    assert_non_null(list);
    nids = blocklist_ids(list->body, ids, 32);
    assert_int_equal(nids, 4);
    for (i = 0; i < nids; i++) {
        size_t j;
        bool found = false;

        for (j = 0; j < nputs; j++) {
            if (puts_log[j].comp && strcmp(puts_log[j].comp, "block") == 0 &&
                strcmp(puts_log[j].blockid, ids[i]) == 0) {
                assert_int_equal(
                    buf_add(&assembled, puts_log[j].body, puts_log[j].len), 0);
                found = true;
            }
        }
        assert_true(found);
        assert_int_equal(strlen(ids[i]), strlen(ids[0]));
    }
    pthread_mutex_unlock(&srv_lock);
    expect = slurp_in(dir, "wd/big.bin");
    assert_non_null(expect);
    assert_int_equal(strlen(expect), 1000);
    assert_int_equal(assembled.len, 1000);
    assert_memory_equal(assembled.data, expect, 1000);
    free(expect);
    buf_release(&assembled);
    free(out_url);
    free(dir);
}

static void test_upload_failures(void **state)
{
    char *dir = new_task_dir();
    char *denied = url_of("/denied?sig=w");
    char *out_url = url_of("/out?sig=w");
    struct runner_output o_denied = { MUT("*.txt"), denied, NULL,
                                      RUNNER_UPLOAD_COMPLETION };
    struct runner_output o_escape = { MUT("../../*"), out_url, NULL,
                                      RUNNER_UPLOAD_COMPLETION };
    struct runner_output o_abs = { MUT("/etc/hostname"), out_url, NULL,
                                   RUNNER_UPLOAD_COMPLETION };
    struct runner_task t = simple_task(dir, "/bin/sh -c 'echo x > a.txt'");
    struct runner_result res;

    (void)state;
    puts_clear();
    t.out = &o_denied;
    t.nout = 1;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_true(res.ran);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.category, "usererror");
    assert_string_equal(res.code, "FileUploadAccessDenied");
    t.out = &o_escape;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_string_equal(res.code, "FileUploadMiscError");
    t.out = &o_abs;
    assert_int_equal(runner_run(&t, NULL, &res), 0);
    assert_string_equal(res.code, "FileUploadMiscError");
    pthread_mutex_lock(&srv_lock);
    assert_int_equal(nputs, 0);
    pthread_mutex_unlock(&srv_lock);
    free(denied);
    free(out_url);
    free(dir);
}

/* ------------------------------------------------------------------------
 * Concurrency
 */

struct par_arg {
    char *dir;
    char value[16];
    struct runner_env env;
    struct runner_task t;
    struct runner_result res;
    int rc;
};

static void *par_thread(void *p)
{
    struct par_arg *a = p;

    a->rc = runner_run(&a->t, NULL, &a->res);
    return NULL;
}

static void test_concurrent_tasks(void **state)
{
    struct par_arg args[6];
    pthread_t th[6];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_SIZE(args); i++) {
        struct par_arg *a = &args[i];

        memset(a, 0, sizeof(*a));
        a->dir = new_task_dir();
        snprintf(a->value, sizeof(a->value), "v%zu", i);
        a->env.name = MUT("TASKVAL");
        a->env.value = a->value;
        a->t = simple_task(
            a->dir, i % 3 == 2 ? "/bin/sleep 30"
                               : "/bin/sh -c 'sleep 0.1; echo $TASKVAL'");
        a->t.env = &a->env;
        a->t.nenv = 1;
        if (i % 3 == 2)
            a->t.max_wall_ms = 200;
        assert_int_equal(pthread_create(&th[i], NULL, par_thread, a), 0);
    }
    for (i = 0; i < ARRAY_SIZE(args); i++) {
        struct par_arg *a = &args[i];

        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(a->rc, 0);
        assert_true(a->res.ran);
        if (i % 3 == 2) {
            assert_true(a->res.timed_out);
        } else {
            char *out = slurp_in(a->dir, "stdout.txt");
            char want[32];

            snprintf(want, sizeof(want), "%s\n", a->value);
            assert_int_equal(a->res.exit_code, 0);
            assert_string_equal(out, want);
            free(out);
        }
        free(a->dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_table),
        cmocka_unit_test(test_split_long),
        cmocka_unit_test(test_glob_table),
        cmocka_unit_test(test_glob_hostile),
        cmocka_unit_test(test_exit_code_and_output),
        cmocka_unit_test(test_signal_exit_code),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_path_from_task_env),
        cmocka_unit_test(test_cwd_is_wd),
        cmocka_unit_test(test_no_fd_leak),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cancel_before_start),
        cmocka_unit_test(test_program_not_found),
        cmocka_unit_test(test_bad_command_line),
        cmocka_unit_test(test_run_as),
        cmocka_unit_test(test_run_as_groups),
        cmocka_unit_test(test_download_http),
        cmocka_unit_test(test_download_failures),
        cmocka_unit_test(test_download_refused_connection),
        cmocka_unit_test(test_download_retry),
        cmocka_unit_test(test_download_container),
        cmocka_unit_test(test_download_container_failures),
        cmocka_unit_test(test_upload_patterns),
        cmocka_unit_test(test_upload_on_failure),
        cmocka_unit_test(test_upload_blocks),
        cmocka_unit_test(test_upload_failures),
        cmocka_unit_test(test_concurrent_tasks),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
