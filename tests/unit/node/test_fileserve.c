/*
 * test_fileserve.c: the agent's side of file requests (src/node/
 * fileserve.c). The parser of "fileOps" elements by a table of hostile
 * cases; then each op done under a temp node root holding what a task can
 * plant there (symlinks to a directory and a file outside, to the root
 * itself, a fifo, a symlinked job
 * directory) and the agent's own identity: the answers must be those
 * shoald's file_api.c gives for a local node ('..', '.', absolute and
 * empty components "invalid"; missing files, symlinks and special files
 * "notfound"; ROOT/agent invisible), deletes must never reach outside,
 * and every answer header must parse with shoald's own parser
 * (fileproxy_parse_answer) into the same values.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "batch/fileproxy.h"
#include "core/err.h"
#include "core/mem.h"
#include "node/fileserve.h"

static char root[64];
static char outside[80]; /* a file beside the root that nothing may touch */
static char outdir[80];  /* a directory beside it, likewise */

/* ---- parser ----------------------------------------------------------------
 */

static void test_parse_hostile(void **state)
{
    static const struct {
        const char *json;
        uint64_t id; /* reported even though the rest is bad; 0: none */
    } bad[] = {
        { "[]", 0 },
        { "\"x\"", 0 },
        { "{}", 0 },
        { "{\"id\":0,\"op\":\"stat\",\"base\":\"\",\"path\":\"a\"}", 0 },
        { "{\"id\":-5,\"op\":\"stat\",\"base\":\"\",\"path\":\"a\"}", 0 },
        { "{\"id\":9007199254740993,\"op\":\"stat\",\"base\":\"\","
          "\"path\":\"a\"}",
          0 },
        { "{\"id\":\"7\",\"op\":\"stat\",\"base\":\"\",\"path\":\"a\"}", 0 },
        { "{\"id\":1.5,\"op\":\"stat\",\"base\":\"\",\"path\":\"a\"}", 0 },
        { "{\"id\":7,\"base\":\"\",\"path\":\"a\"}", 7 },
        { "{\"id\":7,\"op\":\"chmod\",\"base\":\"\",\"path\":\"a\"}", 7 },
        { "{\"id\":7,\"op\":\"STAT\",\"base\":\"\",\"path\":\"a\"}", 7 },
        { "{\"id\":7,\"op\":\"stat\",\"path\":\"a\"}", 7 },
        { "{\"id\":7,\"op\":\"stat\",\"base\":\"\"}", 7 },
        { "{\"id\":7,\"op\":\"get\",\"base\":\"\"}", 7 },
        { "{\"id\":7,\"op\":\"delete\",\"base\":\"\",\"path\":5}", 7 },
        { "{\"id\":7,\"op\":\"stat\",\"base\":\"\",\"path\":\"a\\u0000b\"}",
          7 },
        { "{\"id\":7,\"op\":\"stat\",\"base\":\"x\\u0000\",\"path\":\"a\"}",
          7 },
        { "{\"id\":7,\"op\":\"get\",\"base\":\"\",\"path\":\"a\",\"off\":-1}",
          7 },
        { "{\"id\":7,\"op\":\"get\",\"base\":\"\",\"path\":\"a\",\"off\":"
          "\"0\"}",
          7 },
        { "{\"id\":7,\"op\":\"get\",\"base\":\"\",\"path\":\"a\",\"max\":-2}",
          7 },
        { "{\"id\":7,\"op\":\"list\",\"base\":\"\",\"recursive\":\"true\"}",
          7 },
        { "{\"id\":7,\"op\":\"logs\",\"vdir\":\"p/n/u\"}", 7 },
        { "{\"id\":7,\"op\":\"logs\",\"url\":\"http://h/c\"}", 7 },
        { "{\"id\":7,\"op\":\"logs\",\"url\":\"http://h/c\",\"vdir\":\"\"}",
          7 },
        { "{\"id\":7,\"op\":\"logs\",\"url\":\"http://h/c\",\"vdir\":"
          "\"../../x\"}",
          7 },
        { "{\"id\":7,\"op\":\"logs\",\"url\":\"http://h/c\",\"vdir\":"
          "\"/abs\"}",
          7 },
        { "{\"id\":7,\"op\":\"logs\",\"url\":\"http://h/c\",\"vdir\":\"a\","
          "\"start\":\"0\"}",
          7 },
    };
    char *longpath = xmalloc(5000);

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct fileserve_op op;
        struct err e = ERR_INIT;
        uint64_t id = 0;
        json_t *o =
            json_loads(bad[i].json, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
        int rc;
        assert_non_null(o);
        rc = fileserve_parse_op(o, &op, &id, &e);
        if (rc == 0)
            fail_msg("op %zu accepted: %s", i, bad[i].json);
        assert_int_equal(rc, -ERR_INVALID);
        assert_true(id == bad[i].id);
        fileserve_op_release(&op);
        json_decref(o);
    }
    /* A path of 5000 bytes. */
    memset(longpath, 'a', 4999);
    longpath[4999] = '\0';
    {
        json_t *o = json_pack("{s:i, s:s, s:s, s:s}", "id", 3, "op", "get",
                              "base", "", "path", longpath);
        struct fileserve_op op;
        struct err e = ERR_INIT;
        uint64_t id = 0;
        assert_int_equal(fileserve_parse_op(o, &op, &id, &e), -ERR_INVALID);
        fileserve_op_release(&op);
        json_decref(o);
    }
    free(longpath);
}

static void test_parse_good(void **state)
{
    struct fileserve_op op;
    struct err e = ERR_INIT;
    uint64_t id = 0;
    json_t *o;

    (void)state;
    o = json_loads("{\"id\":9007199254740992,\"op\":\"get\",\"base\":\"w\","
                   "\"path\":\"a/b\",\"off\":5,\"max\":7}",
                   0, NULL);
    assert_int_equal(fileserve_parse_op(o, &op, &id, &e), 0);
    assert_true(op.id == 9007199254740992ull);
    assert_int_equal(op.kind, FILESERVE_GET);
    assert_string_equal(op.base, "w");
    assert_string_equal(op.path, "a/b");
    assert_int_equal(op.off, 5);
    assert_int_equal(op.max, 7);
    fileserve_op_release(&op);
    json_decref(o);
    o = json_loads("{\"id\":2,\"op\":\"get\",\"base\":\"\",\"path\":\"x\"}", 0,
                   NULL);
    assert_int_equal(fileserve_parse_op(o, &op, &id, &e), 0);
    assert_int_equal(op.off, 0);
    assert_int_equal(op.max, -1);
    fileserve_op_release(&op);
    json_decref(o);
    o = json_loads("{\"id\":3,\"op\":\"list\",\"base\":\"\",\"recursive\":true,"
                   "\"extra\":1}",
                   0, NULL);
    assert_int_equal(fileserve_parse_op(o, &op, &id, &e), 0);
    assert_int_equal(op.kind, FILESERVE_LIST);
    assert_true(op.recursive);
    fileserve_op_release(&op);
    json_decref(o);
    o = json_loads("{\"id\":4,\"op\":\"logs\",\"url\":\"https://h/c?sig=s\","
                   "\"vdir\":\"p/n/u\",\"start\":123}",
                   0, NULL);
    assert_int_equal(fileserve_parse_op(o, &op, &id, &e), 0);
    assert_int_equal(op.kind, FILESERVE_LOGS);
    assert_string_equal(op.url, "https://h/c?sig=s");
    assert_string_equal(op.vdir, "p/n/u");
    assert_int_equal(op.start_ms, 123);
    fileserve_op_release(&op);
    json_decref(o);
}

/* ---- under a node root ------------------------------------------------------
 */

static void put(const char *rel, const char *text)
{
    char *p = xasprintf("%s/%s", root, rel);
    FILE *f = fopen(p, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(p);
}

static void mk(const char *rel)
{
    char *p = xasprintf("%s/%s", root, rel);

    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
}

static void ln(const char *target, const char *rel)
{
    char *p = xasprintf("%s/%s", root, rel);

    assert_int_equal(symlink(target, p), 0);
    free(p);
}

static bool exists(const char *rel)
{
    struct stat st;
    char *p = xasprintf("%s/%s", root, rel);
    bool ok = lstat(p, &st) == 0;

    free(p);
    return ok;
}

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
        }
        unlinkat(dfd, name, AT_REMOVEDIR);
    } else {
        unlinkat(dfd, name, 0);
    }
}

static int setup(void **state)
{
    char *p;

    (void)state;
    snprintf(root, sizeof(root), "/tmp/shoal-fserve-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(outside, sizeof(outside), "%s-outside", root);
    snprintf(outdir, sizeof(outdir), "%s-outdir", root);
    {
        FILE *f = fopen(outside, "w");
        assert_non_null(f);
        fputs("keep", f);
        fclose(f);
    }
    assert_int_equal(mkdir(outdir, 0755), 0);
    p = xasprintf("%s/victim", outdir);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = xasprintf("%s/victim/file", outdir);
    {
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fclose(f);
    }
    free(p);
    mk("agent");
    put("agent/identity.json", "{\"token\":\"secret\"}");
    mk("shared");
    mk("startup");
    put("startup/stdout.txt", "started\n");
    mk("workitems");
    mk("workitems/j");
    mk("workitems/j/job-1");
    mk("workitems/j/job-1/t");
    put("workitems/j/job-1/t/stdout.txt", "hello\n");
    mk("workitems/j/job-1/t/wd");
    put("workitems/j/job-1/t/wd/out.txt", "0123456789");
    mk("workitems/j/job-1/t/wd/d");
    mk("workitems/j/job-1/t/wd/d/e");
    put("workitems/j/job-1/t/wd/d/e/f.txt", "x\n");
    ln(outside, "workitems/j/job-1/t/wd/link");
    ln(outdir, "workitems/j/job-1/t/wd/dirlink");
    ln(root, "workitems/j/job-1/t/wd/self");
    p = xasprintf("%s/workitems/j/job-1/t/wd/fifo", root);
    assert_int_equal(mkfifo(p, 0644), 0);
    free(p);
    /* A job directory that is a symlink to somewhere else. */
    p = xasprintf("%s/workitems/j/job-1", root);
    ln(p, "workitems/evil");
    free(p);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_tree_at(AT_FDCWD, root);
    rm_tree_at(AT_FDCWD, outdir);
    unlink(outside);
    return 0;
}

struct result {
    json_t *head;
    int fd;
    uint64_t off, len;
};

static struct result run(enum fileserve_kind kind, const char *base,
                         const char *path, uint64_t off, int64_t max,
                         bool recursive)
{
    struct fileserve_op op;
    struct result r;

    memset(&op, 0, sizeof(op));
    op.id = 1;
    op.kind = kind;
    op.base = (char *)base;
    op.path = (char *)path;
    op.off = off;
    op.max = max;
    op.recursive = recursive;
    fileserve_exec(root, NULL, &op, &r.head, &r.fd, &r.off, &r.len);
    assert_non_null(r.head);
    return r;
}

static const char *error_of(const struct result *r)
{
    if (json_is_true(json_object_get(r->head, "ok")))
        return "ok";
    return json_string_value(json_object_get(r->head, "error"));
}

/* The header through shoald's parser. */
static void parse_back(const struct result *r, enum fileproxy_kind kind,
                       uint64_t off, int64_t max, struct fileproxy_answer *a)
{
    char *text = json_dumps(r->head, JSON_COMPACT);
    struct err e = ERR_INIT;

    assert_non_null(text);
    assert_null(strchr(text, '\n')); /* the header is one line */
    if (fileproxy_parse_answer(text, strlen(text), kind, off, max, a, &e) < 0)
        fail_msg("shoald refuses %s: %s", text, e.msg);
    free(text);
}

static void done(struct result *r)
{
    json_decref(r->head);
    if (r->fd >= 0)
        close(r->fd);
}

static void test_paths(void **state)
{
    static const struct {
        const char *base, *path, *want;
    } cases[] = {
        { "workitems/j/job-1/t", "stdout.txt", "ok" },
        { "workitems/j/job-1/t", "wd/d/e/f.txt", "ok" },
        { "workitems/j/job-1/t", "wd/d", "ok" },
        { "workitems/j/job-1/t", "nosuch", "notfound" },
        { "workitems/j/job-1/t", "wd/link", "notfound" },
        { "workitems/j/job-1/t", "wd/dirlink/victim/file", "notfound" },
        { "workitems/j/job-1/t", "wd/self/agent/identity.json", "notfound" },
        { "workitems/j/job-1/t", "wd/fifo", "notfound" },
        { "workitems/j/job-1/t", "wd/out.txt/", "notfound" },
        { "workitems/j/job-1/t", "wd/out.txt/x", "notfound" },
        /* as file_api.c: a missing component before '..' is 404 */
        { "workitems/j/job-1/t", "nosuch/../stdout.txt", "notfound" },
        { "workitems/j/job-1/t", "..", "invalid" },
        { "workitems/j/job-1/t", "../t/stdout.txt", "invalid" },
        { "workitems/j/job-1/t", "wd/../../t/stdout.txt", "invalid" },
        { "workitems/j/job-1/t", "/etc/passwd", "invalid" },
        { "workitems/j/job-1/t", "./stdout.txt", "invalid" },
        { "workitems/j/job-1/t", "wd//out.txt", "invalid" },
        /* a task directory that is gone, or reached through a symlink */
        { "workitems/j/job-1/gone", "stdout.txt", "notfound" },
        { "workitems/evil/t", "stdout.txt", "notfound" },
        /* node files: the agent's identity does not exist */
        { "", "startup/stdout.txt", "ok" },
        { "", "agent/identity.json", "notfound" },
        { "", "agent", "notfound" },
        { "", "agent/../startup/stdout.txt", "notfound" },
        { "", "../etc/passwd", "invalid" },
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        for (int k = 0; k < 2; k++) {
            struct result r = run(k ? FILESERVE_GET : FILESERVE_STAT,
                                  cases[i].base, cases[i].path, 0, -1, false);
            struct fileproxy_answer a;
            if (strcmp(error_of(&r), cases[i].want) != 0)
                fail_msg("%s %s/%s: %s, not %s", k ? "get" : "stat",
                         cases[i].base, cases[i].path, error_of(&r),
                         cases[i].want);
            parse_back(&r, k ? FILEPROXY_GET : FILEPROXY_STAT, 0, -1, &a);
            fileproxy_answer_release(&a);
            done(&r);
        }
    }
}

static void test_get(void **state)
{
    static const struct {
        uint64_t off;
        int64_t max;
        const char *want;
    } cases[] = {
        { 0, -1, "0123456789" }, { 2, 4, "2345" }, { 8, -1, "89" },
        { 8, 100, "89" },        { 9, 1, "9" },    { 10, -1, "" },
        { 11, 3, "" },           { 0, 0, "" },     { INT64_MAX, -1, "" },
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct result r = run(FILESERVE_GET, "workitems/j/job-1/t",
                              "wd/out.txt", cases[i].off, cases[i].max, false);
        struct fileproxy_answer a;
        size_t n = strlen(cases[i].want);
        char buf[16];
        parse_back(&r, FILEPROXY_GET, cases[i].off, cases[i].max, &a);
        assert_int_equal(a.len, n);
        assert_int_equal(a.st.st_size, 10);
        assert_true(S_ISREG(a.st.st_mode));
        assert_int_equal(r.len, n);
        if (n) {
            assert_true(r.fd >= 0);
            assert_int_equal(r.off, cases[i].off);
            assert_int_equal(pread(r.fd, buf, n, (off_t)r.off), (ssize_t)n);
            assert_memory_equal(buf, cases[i].want, n);
            /* blocking again: libcurl reads it as it sends */
            assert_int_equal(fcntl(r.fd, F_GETFL) & O_NONBLOCK, 0);
        } else {
            assert_int_equal(r.fd, -1);
        }
        fileproxy_answer_release(&a);
        done(&r);
    }
    /* A directory: metadata, no bytes. */
    {
        struct result r =
            run(FILESERVE_GET, "workitems/j/job-1/t", "wd", 0, -1, false);
        struct fileproxy_answer a;
        parse_back(&r, FILEPROXY_GET, 0, -1, &a);
        assert_true(S_ISDIR(a.st.st_mode));
        assert_int_equal(a.len, 0);
        assert_int_equal(r.fd, -1);
        fileproxy_answer_release(&a);
        done(&r);
    }
}

static bool listed(const struct fileproxy_answer *a, const char *name)
{
    for (size_t i = 0; i < a->nentries; i++) {
        if (strcmp(a->entries[i].name, name) == 0)
            return true;
    }
    return false;
}

static void test_list(void **state)
{
    struct fileproxy_answer a;
    struct result r;

    (void)state;
    r = run(FILESERVE_LIST, "workitems/j/job-1/t", NULL, 0, -1, true);
    parse_back(&r, FILEPROXY_LIST, 0, -1, &a);
    assert_true(listed(&a, "stdout.txt"));
    assert_true(listed(&a, "wd"));
    assert_true(listed(&a, "wd/d/e/f.txt"));
    assert_false(listed(&a, "wd/link"));
    assert_false(listed(&a, "wd/dirlink"));
    assert_false(listed(&a, "wd/self"));
    assert_false(listed(&a, "wd/fifo"));
    assert_int_equal(a.nentries, 6); /* stdout.txt wd out.txt d e f.txt */
    fileproxy_answer_release(&a);
    done(&r);
    r = run(FILESERVE_LIST, "workitems/j/job-1/t", NULL, 0, -1, false);
    parse_back(&r, FILEPROXY_LIST, 0, -1, &a);
    assert_int_equal(a.nentries, 2);
    fileproxy_answer_release(&a);
    done(&r);
    /* The node root: no agent directory, at any depth. */
    r = run(FILESERVE_LIST, "", NULL, 0, -1, true);
    parse_back(&r, FILEPROXY_LIST, 0, -1, &a);
    assert_true(listed(&a, "startup/stdout.txt"));
    assert_true(listed(&a, "workitems/j/job-1/t/wd/out.txt"));
    for (size_t i = 0; i < a.nentries; i++)
        assert_false(strncmp(a.entries[i].name, "agent", 5) == 0);
    assert_false(listed(&a, "workitems/evil"));
    fileproxy_answer_release(&a);
    done(&r);
    /* A missing or symlinked directory lists nothing. */
    r = run(FILESERVE_LIST, "workitems/nosuch", NULL, 0, -1, true);
    parse_back(&r, FILEPROXY_LIST, 0, -1, &a);
    assert_int_equal(a.nentries, 0);
    fileproxy_answer_release(&a);
    done(&r);
    r = run(FILESERVE_LIST, "workitems/evil", NULL, 0, -1, true);
    parse_back(&r, FILEPROXY_LIST, 0, -1, &a);
    assert_int_equal(a.nentries, 0);
    fileproxy_answer_release(&a);
    done(&r);
}

static void test_delete(void **state)
{
    static const struct {
        const char *base, *path;
        bool recursive;
        const char *want;
    } cases[] = {
        /* never through or of a symlink, never outside */
        { "workitems/j/job-1/t", "wd/link", false, "notfound" },
        { "workitems/j/job-1/t", "wd/dirlink/victim", true, "notfound" },
        { "workitems/j/job-1/t", "wd/self/agent", true, "notfound" },
        { "workitems/evil/t", "stdout.txt", false, "notfound" },
        { "workitems/j/job-1/t", "../t", true, "invalid" },
        { "workitems/j/job-1/t", "/victim", true, "invalid" },
        { "", "agent", true, "notfound" },
        { "", "agent/identity.json", false, "notfound" },
        { "workitems/j/job-1/t", "nosuch", false, "notfound" },
        /* a full directory needs recursive */
        { "workitems/j/job-1/t", "wd/d", false, "notempty" },
        { "workitems/j/job-1/t", "wd/out.txt", false, "ok" },
        { "workitems/j/job-1/t", "wd/out.txt", false, "notfound" },
        { "workitems/j/job-1/t", "wd/d", true, "ok" },
        { "workitems/j/job-1/t", "wd/fifo", false, "ok" },
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct result r = run(FILESERVE_DELETE, cases[i].base, cases[i].path, 0,
                              -1, cases[i].recursive);
        struct fileproxy_answer a;
        if (strcmp(error_of(&r), cases[i].want) != 0)
            fail_msg("delete %s/%s: %s, not %s", cases[i].base, cases[i].path,
                     error_of(&r), cases[i].want);
        parse_back(&r, FILEPROXY_DELETE, 0, -1, &a);
        fileproxy_answer_release(&a);
        done(&r);
    }
    assert_false(exists("workitems/j/job-1/t/wd/out.txt"));
    assert_false(exists("workitems/j/job-1/t/wd/d"));
    assert_false(exists("workitems/j/job-1/t/wd/fifo"));
    assert_true(exists("workitems/j/job-1/t/wd/link"));
    assert_true(exists("workitems/j/job-1/t/stdout.txt"));
    assert_true(exists("agent/identity.json"));
    assert_int_equal(access(outside, F_OK), 0);
    {
        char *p = xasprintf("%s/victim/file", outdir);
        assert_int_equal(access(p, F_OK), 0);
        free(p);
    }
}

static void test_logs_refused(void **state)
{
    struct fileserve_op op;
    struct fileproxy_answer a;
    struct result r;

    (void)state;
    memset(&op, 0, sizeof(op));
    op.id = 1;
    op.kind = FILESERVE_LOGS;
    op.url = (char *)"ftp://127.0.0.1/c";
    op.vdir = (char *)"p/n/u";
    fileserve_exec(root, NULL, &op, &r.head, &r.fd, &r.off, &r.len);
    assert_string_equal(error_of(&r), "upload");
    parse_back(&r, FILEPROXY_LOGS, 0, -1, &a);
    assert_int_equal(a.fail, FILEPROXY_FAIL_UPLOAD);
    assert_string_equal(a.message, "it is not an http or https URL");
    fileproxy_answer_release(&a);
    done(&r);
    /* Nothing to upload (all older than start): no connection made. */
    op.url = (char *)"http://127.0.0.1:1/c?sig=secret";
    op.start_ms = INT64_MAX;
    fileserve_exec(root, outside, &op, &r.head, &r.fd, &r.off, &r.len);
    assert_string_equal(error_of(&r), "ok");
    parse_back(&r, FILEPROXY_LOGS, 0, -1, &a);
    assert_int_equal(a.files, 0);
    fileproxy_answer_release(&a);
    done(&r);
    /* A port nobody listens on: refused, in nodelogs.c's words, with no
     * SAS in them. */
    op.start_ms = 0;
    fileserve_exec(root, outside, &op, &r.head, &r.fd, &r.off, &r.len);
    assert_string_equal(error_of(&r), "upload");
    parse_back(&r, FILEPROXY_LOGS, 0, -1, &a);
    assert_non_null(strstr(a.message, "cannot upload to it ("));
    assert_null(strstr(a.message, "secret"));
    fileproxy_answer_release(&a);
    done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_hostile),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_refused, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
