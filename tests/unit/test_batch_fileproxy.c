/*
 * test_batch_fileproxy.c: file requests for remote nodes, shoald's side
 * (src/batch/fileproxy.c), without sockets or agents: the parsers of what
 * an agent sends (answer ids, answer headers: a table of hostile cases),
 * and the life of a request on a real batch service with a remote node in
 * its model: queued, carried by a sync ("fileOps") and sent again when
 * that response was lost or the agent restarted, answered through the
 * streaming upload (header split across chunks, bytes into a temp file),
 * and every way it fails: too many or too few bytes, an answer that breaks
 * off (the request waits again), time out, node unusable or gone, too many
 * waiting, withdrawn by its REST request.
 */
#include "unit.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/auth.h"
#include "batch/batch.h"
#include "batch/batchint.h"
#include "batch/fileproxy.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"
#include "http/http.h"

/* ---- parsers ------------------------------------------------------------- */

static void test_parse_id(void **state)
{
    static const struct {
        const char *in;
        int ok;
        uint64_t want;
    } cases[] = {
        { "1", 1, 1 },
        { "1795256174305001", 1, 1795256174305001ull },
        { "9007199254740992", 1, 9007199254740992ull }, /* 2^53 */
        { "9007199254740993", 0, 0 },
        { "0", 0, 0 },
        { "", 0, 0 },
        { "-1", 0, 0 },
        { "+1", 0, 0 },
        { " 1", 0, 0 },
        { "1 ", 0, 0 },
        { "1a", 0, 0 },
        { "0x10", 0, 0 },
        { "18446744073709551616", 0, 0 },
        { "123456789012345678901234567890", 0, 0 },
        { "1/2", 0, 0 },
        { "1%00", 0, 0 },
    };
    uint64_t v;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int rc = fileproxy_parse_id(cases[i].in, &v);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_true(v == cases[i].want);
        } else if (rc == 0) {
            fail_msg("id '%s' accepted", cases[i].in);
        }
    }
    assert_true(fileproxy_parse_id(NULL, &v) < 0);
}

#define REG "\"mode\":33188,\"size\":10,\"ctime\":1,\"mtime\":2"

static void test_parse_answer_hostile(void **state)
{
    static const struct {
        enum fileproxy_kind kind;
        uint64_t off;
        int64_t max;
        const char *json;
    } bad[] = {
        { FILEPROXY_STAT, 0, -1, "" },
        { FILEPROXY_STAT, 0, -1, "nope" },
        { FILEPROXY_STAT, 0, -1, "[]" },
        { FILEPROXY_STAT, 0, -1, "{}" },
        { FILEPROXY_STAT, 0, -1, "{\"ok\":\"true\"," REG "}" },
        { FILEPROXY_STAT, 0, -1, "{\"ok\":1," REG "}" },
        { FILEPROXY_STAT, 0, -1, "{\"v\":2,\"ok\":true," REG "}" },
        { FILEPROXY_STAT, 0, -1, "{\"v\":\"1\",\"ok\":true," REG "}" },
        { FILEPROXY_STAT, 0, -1, "{\"ok\":true,\"ok\":false," REG "}" },
        { FILEPROXY_STAT, 0, -1, "{\"ok\":true}" },
        /* a symlink, a fifo, a socket: no such files in the API */
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":41471,\"size\":1,\"ctime\":1,\"mtime\":1}" },
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":4516,\"size\":0,\"ctime\":1,\"mtime\":1}" },
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":49645,\"size\":0,\"ctime\":1,\"mtime\":1}" },
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":-1,\"size\":0,\"ctime\":1,\"mtime\":1}" },
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":4294967296,\"size\":0,\"ctime\":1,"
          "\"mtime\":1}" },
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":33188,\"size\":-1,\"ctime\":1,\"mtime\":1}" },
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":33188,\"size\":\"10\",\"ctime\":1,"
          "\"mtime\":1}" },
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":33188,\"size\":1.5,\"ctime\":1,"
          "\"mtime\":1}" },
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":33188,\"size\":1,\"ctime\":1e30,"
          "\"mtime\":1}" },
        { FILEPROXY_STAT, 0, -1,
          "{\"ok\":true,\"mode\":33188,\"size\":1,\"ctime\":1,"
          "\"mtime\":9223372036854775807}" },
        { FILEPROXY_STAT, 0, -1, "{\"ok\":true," REG ",\"len\":10}" },
        /* GET: the length must be what was asked for */
        { FILEPROXY_GET, 0, -1, "{\"ok\":true," REG "}" },
        { FILEPROXY_GET, 0, -1, "{\"ok\":true," REG ",\"len\":9}" },
        { FILEPROXY_GET, 0, -1, "{\"ok\":true," REG ",\"len\":11}" },
        { FILEPROXY_GET, 0, -1,
          "{\"ok\":true," REG ",\"len\":9223372036854775807}" },
        { FILEPROXY_GET, 2, 4, "{\"ok\":true," REG ",\"len\":8}" },
        { FILEPROXY_GET, 10, -1, "{\"ok\":true," REG ",\"len\":1}" },
        { FILEPROXY_GET, 0, -1, "{\"ok\":true," REG ",\"len\":-1}" },
        { FILEPROXY_GET, 0, -1,
          "{\"ok\":true,\"mode\":16877,\"size\":4096,\"ctime\":1,"
          "\"mtime\":1,\"len\":4096}" },
        /* failures */
        { FILEPROXY_GET, 0, -1, "{\"ok\":false}" },
        { FILEPROXY_GET, 0, -1, "{\"ok\":false,\"error\":\"nope\"}" },
        { FILEPROXY_GET, 0, -1, "{\"ok\":false,\"error\":7}" },
        { FILEPROXY_GET, 0, -1,
          "{\"ok\":false,\"error\":\"io\",\"message\":[]}" },
        /* lists */
        { FILEPROXY_LIST, 0, -1, "{\"ok\":true}" },
        { FILEPROXY_LIST, 0, -1, "{\"ok\":true,\"entries\":{}}" },
        { FILEPROXY_LIST, 0, -1, "{\"ok\":true,\"entries\":[\"a\"]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\"a\",33188,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\"a\",33188,1,1,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[1,33188,1,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\"\",33188,1,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\"/etc/passwd\",33188,1,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\"a/../../b\",33188,1,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\"a//b\",33188,1,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\"a/\",33188,1,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\".\",16877,1,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\"a\\u0000b\",33188,1,1,1]]}" },
        { FILEPROXY_LIST, 0, -1,
          "{\"ok\":true,\"entries\":[[\"ok\",33188,1,1,1],"
          "[\"l\",41471,1,1,1]]}" },
        /* logs */
        { FILEPROXY_LOGS, 0, -1, "{\"ok\":true}" },
        { FILEPROXY_LOGS, 0, -1, "{\"ok\":true,\"files\":-1}" },
        { FILEPROXY_LOGS, 0, -1, "{\"ok\":true,\"files\":1001}" },
        { FILEPROXY_LOGS, 0, -1, "{\"ok\":true,\"files\":\"3\"}" },
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct fileproxy_answer a;
        struct err e = ERR_INIT;
        int rc =
            fileproxy_parse_answer(bad[i].json, strlen(bad[i].json),
                                   bad[i].kind, bad[i].off, bad[i].max, &a, &e);
        if (rc == 0)
            fail_msg("answer %zu accepted: %s", i, bad[i].json);
        assert_int_equal(rc, -ERR_INVALID);
        assert_string_equal(e.svc, "InvalidRequestBody");
        fileproxy_answer_release(&a);
    }
}

static void test_parse_answer_limits(void **state)
{
    struct fileproxy_answer a;
    struct err e = ERR_INIT;
    struct buf b;
    char *name;

    (void)state;
    /* 100000 entries are fine, 100001 are not. */
    buf_init(&b, (size_t)-1);
    buf_adds(&b, "{\"ok\":true,\"entries\":[");
    for (int i = 0; i < 100001; i++)
        buf_addf(&b, "%s[\"f%d\",33188,1,1,1]", i ? "," : "", i);
    buf_adds(&b, "]}");
    assert_int_equal(
        fileproxy_parse_answer(b.data, b.len, FILEPROXY_LIST, 0, -1, &a, &e),
        -ERR_INVALID);
    fileproxy_answer_release(&a);
    buf_reset(&b);
    buf_adds(&b, "{\"ok\":true,\"entries\":[");
    for (int i = 0; i < 100000; i++)
        buf_addf(&b, "%s[\"f%d\",33188,1,1,1]", i ? "," : "", i);
    buf_adds(&b, "]}");
    assert_int_equal(
        fileproxy_parse_answer(b.data, b.len, FILEPROXY_LIST, 0, -1, &a, &e),
        0);
    assert_int_equal(a.nentries, 100000);
    fileproxy_answer_release(&a);
    /* A name of 4096 bytes is fine, 4097 is not. */
    name = xmalloc(4098);
    memset(name, 'n', 4097);
    name[4097] = '\0';
    buf_reset(&b);
    buf_addf(&b, "{\"ok\":true,\"entries\":[[\"%s\",33188,1,1,1]]}", name);
    assert_int_equal(
        fileproxy_parse_answer(b.data, b.len, FILEPROXY_LIST, 0, -1, &a, &e),
        -ERR_INVALID);
    fileproxy_answer_release(&a);
    name[4096] = '\0';
    buf_reset(&b);
    buf_addf(&b, "{\"ok\":true,\"entries\":[[\"%s\",33188,1,1,1]]}", name);
    assert_int_equal(
        fileproxy_parse_answer(b.data, b.len, FILEPROXY_LIST, 0, -1, &a, &e),
        0);
    fileproxy_answer_release(&a);
    free(name);
    buf_release(&b);
}

static void test_parse_answer_good(void **state)
{
    struct fileproxy_answer a;
    struct err e = ERR_INIT;
    const char *s;
    struct buf b;

    (void)state;
    s = "{\"v\":1,\"ok\":true," REG ",\"len\":4}";
    assert_int_equal(
        fileproxy_parse_answer(s, strlen(s), FILEPROXY_GET, 2, 4, &a, &e), 0);
    assert_true(S_ISREG(a.st.st_mode));
    assert_int_equal(a.st.st_mode & 07777, 0644);
    assert_int_equal(a.st.st_size, 10);
    assert_int_equal(a.st.st_ctime, 1);
    assert_int_equal(a.st.st_mtime, 2);
    assert_int_equal(a.len, 4);
    fileproxy_answer_release(&a);
    /* to the end from 8; past the end; a directory owes nothing */
    s = "{\"ok\":true," REG ",\"len\":2}";
    assert_int_equal(
        fileproxy_parse_answer(s, strlen(s), FILEPROXY_GET, 8, -1, &a, &e), 0);
    fileproxy_answer_release(&a);
    s = "{\"ok\":true," REG ",\"len\":0}";
    assert_int_equal(fileproxy_parse_answer(s, strlen(s), FILEPROXY_GET,
                                            INT64_MAX, -1, &a, &e),
                     0);
    fileproxy_answer_release(&a);
    s = "{\"ok\":true,\"mode\":16877,\"size\":4096,\"ctime\":1,\"mtime\":1,"
        "\"len\":0}";
    assert_int_equal(
        fileproxy_parse_answer(s, strlen(s), FILEPROXY_GET, 0, -1, &a, &e), 0);
    assert_true(S_ISDIR(a.st.st_mode));
    fileproxy_answer_release(&a);
    s = "{\"ok\":true,\"entries\":[[\"wd/d/e\",16877,4096,5,6],"
        "[\"stdout.txt\",33152,3,7,8]]}";
    assert_int_equal(
        fileproxy_parse_answer(s, strlen(s), FILEPROXY_LIST, 0, -1, &a, &e), 0);
    assert_int_equal(a.nentries, 2);
    assert_string_equal(a.entries[0].name, "wd/d/e");
    assert_true(S_ISDIR(a.entries[0].st.st_mode));
    assert_string_equal(a.entries[1].name, "stdout.txt");
    assert_int_equal(a.entries[1].st.st_size, 3);
    assert_int_equal(a.entries[1].st.st_mtime, 8);
    fileproxy_answer_release(&a);
    s = "{\"ok\":true,\"files\":3}";
    assert_int_equal(
        fileproxy_parse_answer(s, strlen(s), FILEPROXY_LOGS, 0, -1, &a, &e), 0);
    assert_int_equal(a.files, 3);
    fileproxy_answer_release(&a);
    s = "{\"ok\":false,\"error\":\"notempty\"}";
    assert_int_equal(
        fileproxy_parse_answer(s, strlen(s), FILEPROXY_DELETE, 0, -1, &a, &e),
        0);
    assert_int_equal(a.fail, FILEPROXY_FAIL_NOTEMPTY);
    assert_null(a.message);
    fileproxy_answer_release(&a);
    /* A long message is cut, on a UTF-8 boundary. */
    buf_init(&b, (size_t)-1);
    buf_adds(&b, "{\"ok\":false,\"error\":\"upload\",\"message\":\"");
    for (int i = 0; i < 300; i++)
        buf_adds(&b, "\xc3\xa9"); /* é */
    buf_adds(&b, "\"}");
    assert_int_equal(
        fileproxy_parse_answer(b.data, b.len, FILEPROXY_LOGS, 0, -1, &a, &e),
        0);
    assert_int_equal(a.fail, FILEPROXY_FAIL_UPLOAD);
    assert_int_equal(strlen(a.message), 400);
    {
        json_t *js = json_string(a.message); /* NULL unless valid UTF-8 */
        assert_non_null(js);
        json_decref(js);
    }
    fileproxy_answer_release(&a);
    buf_release(&b);
}

/* ---- a request's life ---------------------------------------------------- */

struct fx {
    char dir[64];
    struct config cfg;
    struct auth auth;
    struct db *db;
    struct batch_service *svc;
    struct mnode *node;
};

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct err e = ERR_INIT;
    struct mpool *p;
    char *path;

    snprintf(f->dir, sizeof(f->dir), "/tmp/shoal-fproxy-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->cfg.data_dir = f->dir;
    f->cfg.host = (char *)"127.0.0.1";
    f->cfg.node_bin = (char *)"";
    f->cfg.node_run_as = (char *)"nobody";
    f->cfg.node_heartbeat_timeout_ms = 30000;
    f->cfg.node_poll_ms = 1000;
    auth_init(&f->auth, 0);
    path = xasprintf("%s/meta.db", f->dir);
    assert_int_equal(db_open(path, false, &f->db, &e), 0);
    free(path);
    assert_int_equal(batch_service_open(&f->cfg, f->db, &f->auth, &f->svc, &e),
                     0);
    pthread_mutex_lock(&f->svc->model.mu);
    p = model_pool_new(&f->svc->model, "acct", "rp",
                       json_pack("{s:s}", "id", "rp"), 1000);
    f->node = model_node_new(&f->svc->model, p, "tvmps_r1_d", 1000);
    f->node->remote = true;
    model_node_set_state(&f->svc->model, f->node, NODE_IDLE, 1000);
    model_node_new(&f->svc->model, p, "tvmps_local_d", 1000);
    pthread_mutex_unlock(&f->svc->model.mu);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    const char *files[] = { "meta.db", "meta.db-wal", "meta.db-shm" };

    batch_service_close(f->svc);
    db_close(f->db);
    auth_release(&f->auth);
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char *p = xasprintf("%s/%s", f->dir, files[i]);
        unlink(p);
        free(p);
    }
    /* The temp files of answers are unlinked at once: the directory
     * must be empty now, or rmdir fails. */
    assert_int_equal(rmdir(f->dir), 0);
    free(f);
    return 0;
}

static struct http_req *rest_req(void)
{
    static const char *const none[] = { NULL };

    return http_fake_new("GET", "/x", none);
}

static struct fileproxy_op *submit(struct fx *f, struct http_req *req,
                                   enum fileproxy_kind kind)
{
    struct fileproxy_ask ask;
    struct fileproxy_op *op = NULL;
    struct err e = ERR_INIT;

    memset(&ask, 0, sizeof(ask));
    ask.kind = kind;
    ask.node = "tvmps_r1_d";
    ask.base = "workitems/j/job-1/t";
    ask.path = "wd/out.txt";
    ask.off = 2;
    ask.max = 4;
    ask.tag = "http://h/jobs/j/tasks/t/files";
    assert_int_equal(fileproxy_submit(f->svc, req, &ask, &op, &e), 0);
    assert_non_null(op);
    return op;
}

/* The "fileOps" a response numbered seq carries (model lock taken). */
static json_t *take(struct fx *f, uint64_t seq)
{
    json_t *ops = json_array();

    pthread_mutex_lock(&f->svc->model.mu);
    fileproxy_node_take(f->svc->proxy, "tvmps_r1_d", seq, ops);
    pthread_mutex_unlock(&f->svc->model.mu);
    return ops;
}

static bool pending(struct fx *f)
{
    bool p;

    pthread_mutex_lock(&f->svc->model.mu);
    p = fileproxy_node_pending(f->svc->proxy, "tvmps_r1_d");
    pthread_mutex_unlock(&f->svc->model.mu);
    return p;
}

static uint64_t op_id(json_t *ops, size_t i)
{
    return (uint64_t)json_integer_value(
        json_object_get(json_array_get(ops, i), "id"));
}

static void test_answered(void **state)
{
    struct fx *f = *state;
    struct http_req *req = rest_req();
    struct fileproxy_op *op = submit(f, req, FILEPROXY_GET);
    const struct fileproxy_answer *a;
    struct fileproxy_upload *up = NULL;
    struct err e = ERR_INIT;
    const char *head =
        "{\"v\":1,\"ok\":true,\"mode\":33188,\"size\":10,\"ctime\":1,"
        "\"mtime\":2,\"len\":4}\n23";
    json_t *ops, *o;
    char bytes[8];
    int fd = -1;

    assert_true(pending(f));
    /* Not answered yet: the REST request waits again. */
    assert_int_equal(fileproxy_poll(f->svc, req, op, &a, &fd, &e), 1);
    ops = take(f, 10);
    assert_int_equal(json_array_size(ops), 1);
    o = json_array_get(ops, 0);
    assert_string_equal(json_string_value(json_object_get(o, "op")), "get");
    assert_string_equal(json_string_value(json_object_get(o, "base")),
                        "workitems/j/job-1/t");
    assert_string_equal(json_string_value(json_object_get(o, "path")),
                        "wd/out.txt");
    assert_int_equal(json_integer_value(json_object_get(o, "off")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "max")), 4);
    assert_false(pending(f));
    /* Another node's token opens no answer of this one; nor does a made
     * up id. */
    assert_int_equal(fileproxy_upload_begin(f->svc->proxy, "tvmps_local_d",
                                            op_id(ops, 0), &up, &e),
                     -ERR_NOTFOUND);
    assert_string_equal(e.svc, "FileOpNotFound");
    assert_int_equal(fileproxy_upload_begin(f->svc->proxy, "tvmps_r1_d",
                                            op_id(ops, 0) + 1, &up, &e),
                     -ERR_NOTFOUND);
    assert_int_equal(fileproxy_upload_begin(f->svc->proxy, "tvmps_r1_d",
                                            op_id(ops, 0), &up, &e),
                     0);
    /* One answer at a time. */
    {
        struct fileproxy_upload *up2 = NULL;
        assert_int_equal(fileproxy_upload_begin(f->svc->proxy, "tvmps_r1_d",
                                                op_id(ops, 0), &up2, &e),
                         -ERR_NOTFOUND);
    }
    /* The header arrives in pieces, the bytes after it. */
    assert_int_equal(fileproxy_upload_feed(f->svc->proxy, up, head, 10, &e), 0);
    assert_int_equal(fileproxy_upload_feed(f->svc->proxy, up, head + 10,
                                           strlen(head) - 10, &e),
                     0);
    assert_int_equal(fileproxy_upload_feed(f->svc->proxy, up, "45", 2, &e), 0);
    assert_int_equal(fileproxy_upload_end(f->svc->proxy, up, &e), 0);
    fileproxy_upload_free(f->svc->proxy, up);
    assert_int_equal(fileproxy_poll(f->svc, req, op, &a, &fd, &e), 0);
    assert_int_equal(a->len, 4);
    assert_int_equal(a->st.st_size, 10);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, bytes, sizeof(bytes), 0), 4);
    assert_memory_equal(bytes, "2345", 4);
    close(fd);
    assert_string_equal(fileproxy_op_tag(op), "http://h/jobs/j/tasks/t/files");
    fileproxy_op_free(f->svc, op);
    json_decref(ops);
    http_fake_free(req);
}

/* Feed text as one answer to the op sent first in ops; returns the rc of
 * the last step (feed or end). */
static int answer(struct fx *f, json_t *ops, const char *text, size_t len)
{
    struct fileproxy_upload *up = NULL;
    struct err e = ERR_INIT;
    int rc;

    assert_int_equal(fileproxy_upload_begin(f->svc->proxy, "tvmps_r1_d",
                                            op_id(ops, 0), &up, &e),
                     0);
    rc = fileproxy_upload_feed(f->svc->proxy, up, text, len, &e);
    if (rc == 0)
        rc = fileproxy_upload_end(f->svc->proxy, up, &e);
    fileproxy_upload_free(f->svc->proxy, up);
    return rc;
}

static void expect_failed(struct fx *f, struct http_req *req,
                          struct fileproxy_op *op, int code, const char *svc)
{
    const struct fileproxy_answer *a = NULL;
    struct err e = ERR_INIT;
    int fd = -1;

    assert_int_equal(fileproxy_poll(f->svc, req, op, &a, &fd, &e), -code);
    assert_string_equal(e.svc, svc);
    assert_int_equal(fd, -1);
    fileproxy_op_free(f->svc, op);
    http_fake_free(req);
}

static void test_malformed(void **state)
{
    static const char *const bodies[] = {
        /* more bytes than announced */
        "{\"ok\":true,\"mode\":33188,\"size\":10,\"ctime\":1,\"mtime\":2,"
        "\"len\":4}\n23456",
        /* fewer */
        "{\"ok\":true,\"mode\":33188,\"size\":10,\"ctime\":1,\"mtime\":2,"
        "\"len\":4}\n23",
        /* no header line */
        "{\"ok\":true,\"mode\":33188,\"size\":10,\"ctime\":1,\"mtime\":2,"
        "\"len\":4}",
        /* bytes after a failure */
        "{\"ok\":false,\"error\":\"notfound\"}\nx",
        /* a header that lies about the length */
        "{\"ok\":true,\"mode\":33188,\"size\":10,\"ctime\":1,\"mtime\":2,"
        "\"len\":10}\n0123456789",
        "garbage\n",
        "",
    };
    struct fx *f = *state;

    for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
        struct http_req *req = rest_req();
        struct fileproxy_op *op = submit(f, req, FILEPROXY_GET);
        json_t *ops = take(f, 10 + i);
        assert_true(answer(f, ops, bodies[i], strlen(bodies[i])) < 0);
        expect_failed(f, req, op, ERR_INTERNAL, "InternalError");
        json_decref(ops);
    }
}

static void test_header_too_big(void **state)
{
    struct fx *f = *state;
    struct http_req *req = rest_req();
    struct fileproxy_op *op = submit(f, req, FILEPROXY_LIST);
    json_t *ops = take(f, 3);
    struct fileproxy_upload *up = NULL;
    struct err e = ERR_INIT;
    char *chunk = xmalloc(1 << 20);
    int rc = 0;

    memset(chunk, ' ', 1 << 20);
    assert_int_equal(fileproxy_upload_begin(f->svc->proxy, "tvmps_r1_d",
                                            op_id(ops, 0), &up, &e),
                     0);
    for (int i = 0; i < 17 && rc == 0; i++)
        rc = fileproxy_upload_feed(f->svc->proxy, up, chunk, 1 << 20, &e);
    assert_int_equal(rc, -ERR_TOOBIG);
    /* The rest of the body is refused too. */
    assert_true(fileproxy_upload_feed(f->svc->proxy, up, "\n", 1, &e) < 0);
    fileproxy_upload_free(f->svc->proxy, up);
    free(chunk);
    expect_failed(f, req, op, ERR_INTERNAL, "InternalError");
    json_decref(ops);
}

static void test_delivery(void **state)
{
    struct fx *f = *state;
    struct http_req *req = rest_req();
    struct fileproxy_op *op = submit(f, req, FILEPROXY_STAT);
    struct fileproxy_upload *up = NULL;
    struct err e = ERR_INIT;
    const struct fileproxy_answer *a;
    const char *ok = "{\"ok\":true,\"mode\":16877,\"size\":4096,\"ctime\":1,"
                     "\"mtime\":1}\n";
    json_t *ops;
    int fd = -1;

    ops = take(f, 10);
    json_decref(ops);
    /* The agent processed response 10: nothing to send again. */
    pthread_mutex_lock(&f->svc->model.mu);
    fileproxy_node_synced(f->svc->proxy, "tvmps_r1_d", false, 10);
    pthread_mutex_unlock(&f->svc->model.mu);
    assert_false(pending(f));
    /* It did not process 10 (ack 9): again, in 11. */
    pthread_mutex_lock(&f->svc->model.mu);
    fileproxy_node_synced(f->svc->proxy, "tvmps_r1_d", false, 9);
    pthread_mutex_unlock(&f->svc->model.mu);
    assert_true(pending(f));
    ops = take(f, 11);
    assert_int_equal(json_array_size(ops), 1);
    json_decref(ops);
    /* A new agent process: again, whatever its ack. */
    pthread_mutex_lock(&f->svc->model.mu);
    fileproxy_node_synced(f->svc->proxy, "tvmps_r1_d", true, 1000);
    pthread_mutex_unlock(&f->svc->model.mu);
    assert_true(pending(f));
    ops = take(f, 12);
    /* An answer that breaks off: the request waits and goes out again. */
    assert_int_equal(fileproxy_upload_begin(f->svc->proxy, "tvmps_r1_d",
                                            op_id(ops, 0), &up, &e),
                     0);
    assert_int_equal(fileproxy_upload_feed(f->svc->proxy, up, ok, 5, &e), 0);
    fileproxy_upload_free(f->svc->proxy, up);
    assert_int_equal(fileproxy_poll(f->svc, req, op, &a, &fd, &e), 1);
    assert_true(pending(f));
    assert_int_equal(answer(f, ops, ok, strlen(ok)), 0);
    /* A stat gives a descriptor to announce the length with. */
    assert_int_equal(fileproxy_poll(f->svc, req, op, &a, &fd, &e), 0);
    assert_true(S_ISDIR(a->st.st_mode));
    assert_true(fd >= 0);
    close(fd);
    /* Answered: a late copy finds nothing. */
    assert_int_equal(fileproxy_upload_begin(f->svc->proxy, "tvmps_r1_d",
                                            op_id(ops, 0), &up, &e),
                     -ERR_NOTFOUND);
    fileproxy_op_free(f->svc, op);
    json_decref(ops);
    http_fake_free(req);
}

static void test_timeout(void **state)
{
    struct fx *f = *state;
    struct http_req *req = rest_req();
    struct fileproxy_op *op = submit(f, req, FILEPROXY_GET);
    struct http_req *req2 = rest_req();
    struct fileproxy_op *logs = submit(f, req2, FILEPROXY_LOGS);
    int64_t mono = timefmt_mono_ms();

    /* Not yet. */
    fileproxy_tick(f->svc, mono + 1000);
    assert_true(pending(f));
    /* Past FILEPROXY_WAIT_MS: the read fails, the logs (longer) wait. */
    fileproxy_tick(f->svc, mono + FILEPROXY_WAIT_MS + 1000);
    expect_failed(f, req, op, ERR_TIMEOUT, "OperationTimedOut");
    assert_true(pending(f));
    fileproxy_tick(f->svc, mono + FILEPROXY_LOGS_WAIT_MS + 1000);
    expect_failed(f, req2, logs, ERR_TIMEOUT, "OperationTimedOut");
    assert_false(pending(f));
}

static void test_node_lost(void **state)
{
    struct fx *f = *state;
    struct http_req *req = rest_req();
    struct fileproxy_op *op = submit(f, req, FILEPROXY_GET), *op2 = NULL;
    struct fileproxy_ask ask;
    struct err e = ERR_INIT;

    pthread_mutex_lock(&f->svc->model.mu);
    model_node_set_state(&f->svc->model, f->node, NODE_UNUSABLE, 2000);
    pthread_mutex_unlock(&f->svc->model.mu);
    fileproxy_tick(f->svc, timefmt_mono_ms());
    expect_failed(f, req, op, ERR_CONFLICT, "NodeStateUnusable");
    /* Refused at once while unusable; local and unknown nodes too. */
    memset(&ask, 0, sizeof(ask));
    ask.kind = FILEPROXY_LIST;
    ask.node = "tvmps_r1_d";
    req = rest_req();
    assert_int_equal(fileproxy_submit(f->svc, req, &ask, &op2, &e),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "NodeStateUnusable");
    ask.node = "tvmps_local_d";
    assert_int_equal(fileproxy_submit(f->svc, req, &ask, &op2, &e),
                     -ERR_NOTFOUND);
    ask.node = "nosuch";
    ask.task = true;
    assert_int_equal(fileproxy_submit(f->svc, req, &ask, &op2, &e),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "TaskFilesUnavailable");
    assert_null(op2);
    http_fake_free(req);
    /* Back, then removed while a request waits. */
    pthread_mutex_lock(&f->svc->model.mu);
    model_node_set_state(&f->svc->model, f->node, NODE_IDLE, 3000);
    pthread_mutex_unlock(&f->svc->model.mu);
    req = rest_req();
    op = submit(f, req, FILEPROXY_STAT);
    pthread_mutex_lock(&f->svc->model.mu);
    model_node_free(&f->svc->model, f->node);
    f->node = NULL;
    pthread_mutex_unlock(&f->svc->model.mu);
    fileproxy_tick(f->svc, timefmt_mono_ms());
    expect_failed(f, req, op, ERR_NOTFOUND, "NodeNotFound");
}

static void test_limits_and_withdraw(void **state)
{
    struct fx *f = *state;
    struct http_req *reqs[FILEPROXY_NODE_MAX], *extra = rest_req();
    struct fileproxy_op *ops[FILEPROXY_NODE_MAX], *op = NULL;
    struct fileproxy_upload *up = NULL;
    struct fileproxy_ask ask;
    struct err e = ERR_INIT;
    json_t *sent;

    for (size_t i = 0; i < FILEPROXY_NODE_MAX; i++) {
        reqs[i] = rest_req();
        ops[i] = submit(f, reqs[i], FILEPROXY_STAT);
    }
    memset(&ask, 0, sizeof(ask));
    ask.kind = FILEPROXY_STAT;
    ask.node = "tvmps_r1_d";
    assert_int_equal(fileproxy_submit(f->svc, extra, &ask, &op, &e), -ERR_BUSY);
    assert_string_equal(e.svc, "ServerBusy");
    sent = take(f, 5);
    assert_int_equal(json_array_size(sent), FILEPROXY_NODE_MAX);
    /* A REST request that goes away withdraws its op: its answer finds
     * nothing, and there is room again. */
    fileproxy_op_free(f->svc, ops[0]);
    assert_int_equal(fileproxy_upload_begin(f->svc->proxy, "tvmps_r1_d",
                                            op_id(sent, 0), &up, &e),
                     -ERR_NOTFOUND);
    assert_int_equal(fileproxy_submit(f->svc, extra, &ask, &op, &e), 0);
    fileproxy_op_free(f->svc, op);
    for (size_t i = 1; i < FILEPROXY_NODE_MAX; i++)
        fileproxy_op_free(f->svc, ops[i]);
    for (size_t i = 0; i < FILEPROXY_NODE_MAX; i++)
        http_fake_free(reqs[i]);
    http_fake_free(extra);
    json_decref(sent);
    assert_false(pending(f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_parse_answer_hostile),
        cmocka_unit_test(test_parse_answer_limits),
        cmocka_unit_test(test_parse_answer_good),
        cmocka_unit_test_setup_teardown(test_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_withdraw, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
