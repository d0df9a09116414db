/*
 * test_blob_store.c: the blob store against a real SQLite database and
 * data directory (under tests/tmp): containers, Put Blob, blocks and
 * block lists (with committed-block reuse), listing with delimiters and
 * markers, concurrent writers through the group commit, crash recovery
 * (orphan files collected, referenced files kept), expiry of
 * uncommitted blocks, and append blobs (conditions, types, bytes past the
 * committed size).
 */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob/blobint.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "db/db.h"

#define ACCT "devstoreaccount1"

struct fixture {
    char dir[256];
    struct config cfg;
    struct db *db;
    struct blob_store *bs;
};

static void open_store(struct fixture *f)
{
    struct err e = ERR_INIT;
    char path[300];

    snprintf(path, sizeof(path), "%s/meta.db", f->dir);
    if (db_open(path, true, &f->db, &e) < 0)
        fail_msg("db_open: %s", e.msg);
    if (blob_store_open(&f->cfg, f->db, &f->bs, &e) < 0)
        fail_msg("blob_store_open: %s", e.msg);
}

static void close_store(struct fixture *f)
{
    blob_store_close(f->bs);
    db_close(f->db);
    f->bs = NULL;
    f->db = NULL;
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    mkdir("tests/tmp", 0755);
    snprintf(f->dir, sizeof(f->dir), "tests/tmp/unit-blob-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->cfg.data_dir = f->dir;
    f->cfg.db_sync = (char *)"full";
    f->cfg.blob_uncommitted_ttl_s = 3600;
    open_store(f);
    *state = f;
    return 0;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char sub[600];

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        rm_rf(sub);
    }
    closedir(d);
    rmdir(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    close_store(f);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* Count published files (all shard directories). */
static size_t count_files(struct fixture *f)
{
    size_t n = 0;

    for (unsigned i = 0; i < 256; i++) {
        char path[300];
        DIR *d;
        struct dirent *e;

        snprintf(path, sizeof(path), "%s/blobs/%02x", f->dir, i);
        d = opendir(path);
        if (!d)
            continue;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.')
                n++;
        }
        closedir(d);
    }
    return n;
}

static uint64_t write_file(struct fixture *f, const char *data, size_t len)
{
    struct blob_files *files = blob_store_files(f->bs);
    struct err e = ERR_INIT;
    uint64_t id;
    int fd;

    assert_int_equal(blob_files_create(files, &id, &fd, &e), 0);
    assert_int_equal(blob_files_write(fd, data, len, &e), 0);
    assert_int_equal(blob_files_publish(files, id, fd, &e), 0);
    return id;
}

static int put(struct fixture *f, const char *c, const char *name,
               const char *data, struct err *e)
{
    struct blob_content content;
    struct blob_put p;
    struct blob_props out;
    int rc;

    memset(&content, 0, sizeof(content));
    memset(&p, 0, sizeof(p));
    memset(&out, 0, sizeof(out));
    p.size = strlen(data);
    p.file = p.size ? write_file(f, data, p.size) : 0;
    p.content = &content;
    p.meta = "";
    rc = blob_object_put(f->bs, ACCT, c, name, NULL, &p, &out, e);
    blob_props_release(&out);
    return rc;
}

static char *read_blob(struct fixture *f, const char *c, const char *name)
{
    struct blob_props p;
    struct err e = ERR_INIT;
    struct buf data = BUF_INIT;
    char *buf;
    int fd = -1;

    memset(&p, 0, sizeof(p));
    if (blob_object_get(f->bs, ACCT, c, name, &p, &fd, &data, &e) < 0)
        return NULL;
    buf = xcalloc(1, p.size + 1);
    if (fd >= 0) {
        assert_int_equal(pread(fd, buf, p.size, 0), (ssize_t)p.size);
        close(fd);
    } else {
        assert_true(data.len == p.size);
        memcpy(buf, data.data, data.len);
    }
    buf_release(&data);
    blob_props_release(&p);
    return buf;
}

/* Put Blob of a small body: its bytes go to SQLite, not to a file. */
static int put_inline(struct fixture *f, const char *c, const char *name,
                      const char *data, struct err *e)
{
    struct blob_content content;
    struct blob_put p;
    struct blob_props out;
    int rc;

    memset(&content, 0, sizeof(content));
    memset(&p, 0, sizeof(p));
    memset(&out, 0, sizeof(out));
    p.size = strlen(data);
    p.data = data;
    p.content = &content;
    rc = blob_object_put(f->bs, ACCT, c, name, NULL, &p, &out, e);
    blob_props_release(&out);
    return rc;
}

static int64_t count_rows(struct fixture *f, const char *sql)
{
    sqlite3_stmt *st;
    int64_t n = -1;

    db_lock(f->db);
    st = db_stmt(f->db, sql);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    db_unlock(f->db);
    return n;
}

static void make_container(struct fixture *f, const char *name)
{
    struct err e = ERR_INIT;
    struct blob_container c;

    memset(&c, 0, sizeof(c));
    assert_int_equal(blob_container_create(f->bs, ACCT, name,
                                           BLOB_ACCESS_PRIVATE, "", &c, &e),
                     0);
    blob_container_release(&c);
}

static void test_containers(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    struct blob_container c;

    memset(&c, 0, sizeof(c));
    assert_int_equal(blob_container_create(f->bs, ACCT, "one", BLOB_ACCESS_BLOB,
                                           "k:v\n", &c, &e),
                     0);
    assert_string_equal(c.name, "one");
    assert_string_equal(c.meta, "k:v\n");
    blob_container_release(&c);
    assert_int_equal(blob_container_create(f->bs, ACCT, "one",
                                           BLOB_ACCESS_PRIVATE, "", NULL, &e),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "ContainerAlreadyExists");
    /* same name in another account is another container */
    assert_int_equal(blob_container_create(f->bs, "other", "one",
                                           BLOB_ACCESS_PRIVATE, "", NULL, &e),
                     0);
    assert_int_equal(blob_container_get(f->bs, ACCT, "two", &c, &e),
                     -ERR_NOTFOUND);
    assert_string_equal(e.svc, "ContainerNotFound");
    assert_int_equal(put(f, "two", "x", "data", &e), -ERR_NOTFOUND);
    assert_string_equal(e.svc, "ContainerNotFound");
}

static void test_put_get_delete(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    char *got;

    make_container(f, "c1");
    assert_int_equal(put(f, "c1", "a/b.txt", "hello", &e), 0);
    got = read_blob(f, "c1", "a/b.txt");
    assert_non_null(got);
    assert_string_equal(got, "hello");
    free(got);
    assert_int_equal(count_files(f), 1);
    /* overwrite: the old file goes, the new one stays */
    assert_int_equal(put(f, "c1", "a/b.txt", "second version", &e), 0);
    got = read_blob(f, "c1", "a/b.txt");
    assert_string_equal(got, "second version");
    free(got);
    assert_int_equal(count_files(f), 1);
    /* empty blob: no file */
    assert_int_equal(put(f, "c1", "empty", "", &e), 0);
    got = read_blob(f, "c1", "empty");
    assert_string_equal(got, "");
    free(got);
    assert_int_equal(count_files(f), 1);
    /* delete removes the bytes */
    assert_int_equal(blob_object_delete(f->bs, ACCT, "c1", "a/b.txt", NULL, &e),
                     0);
    assert_null(read_blob(f, "c1", "a/b.txt"));
    assert_int_equal(count_files(f), 0);
    assert_int_equal(blob_object_delete(f->bs, ACCT, "c1", "a/b.txt", NULL, &e),
                     -ERR_NOTFOUND);
    assert_string_equal(e.svc, "BlobNotFound");
}

static void test_conditions(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    struct blob_cond cond;
    struct blob_wcond wc = { &cond, NULL };
    struct blob_content content;
    struct blob_put p;
    struct blob_props out;

    make_container(f, "c2");
    assert_int_equal(put(f, "c2", "b", "v1", &e), 0);
    memset(&content, 0, sizeof(content));
    memset(&p, 0, sizeof(p));
    memset(&out, 0, sizeof(out));
    p.content = &content;
    p.size = 2;
    p.file = write_file(f, "v2", 2);
    blob_cond_parse(NULL, "*", NULL, NULL, &cond, &e);
    assert_int_equal(blob_object_put(f->bs, ACCT, "c2", "b", &wc, &p, &out, &e),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "BlobAlreadyExists");
    /* the refused version's file was removed, the old bytes stay */
    assert_int_equal(count_files(f), 1);
    {
        char *got = read_blob(f, "c2", "b");
        assert_string_equal(got, "v1");
        free(got);
    }
    p.file = write_file(f, "v2", 2);
    blob_cond_parse("\"0x1\"", NULL, NULL, NULL, &cond, &e);
    assert_int_equal(blob_object_put(f->bs, ACCT, "c2", "b", &wc, &p, &out, &e),
                     -ERR_PRECONDITION);
    assert_int_equal(count_files(f), 1);
    /* create_only refuses an overwrite */
    p.file = write_file(f, "v2", 2);
    p.create_only = true;
    assert_int_equal(
        blob_object_put(f->bs, ACCT, "c2", "b", NULL, &p, &out, &e), -ERR_AUTH);
    p.file = write_file(f, "v2", 2);
    assert_int_equal(
        blob_object_put(f->bs, ACCT, "c2", "new", NULL, &p, &out, &e), 0);
    blob_props_release(&out);
}

static void stage(struct fixture *f, const char *c, const char *name,
                  const char *id, const char *data)
{
    struct err e = ERR_INIT;
    uint64_t file = write_file(f, data, strlen(data));

    assert_int_equal(blob_object_put_block(f->bs, ACCT, c, name, NULL,
                                           (const unsigned char *)id,
                                           strlen(id), file, strlen(data), &e),
                     0);
}

static struct blob_block_ref ref(enum blob_block_kind k, const char *id)
{
    struct blob_block_ref r;

    memset(&r, 0, sizeof(r));
    r.kind = k;
    memcpy(r.id, id, strlen(id));
    r.idlen = strlen(id);
    return r;
}

static void test_blocks(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    struct blob_content content;
    struct blob_props out, p;
    struct blob_block_ref refs[3];
    struct blob_block_info *cv, *uv;
    size_t nc, nu;
    char *got;

    memset(&content, 0, sizeof(content));
    memset(&out, 0, sizeof(out));
    make_container(f, "c3");
    stage(f, "c3", "big", "id01", "AAAA");
    stage(f, "c3", "big", "id02", "BB");
    stage(f, "c3", "big", "id03", "C");
    /* a block of another id length is refused */
    {
        uint64_t file = write_file(f, "x", 1);
        assert_int_equal(blob_object_put_block(f->bs, ACCT, "c3", "big", NULL,
                                               (const unsigned char *)"id4", 3,
                                               file, 1, &e),
                         -ERR_INVALID);
        assert_string_equal(e.svc, "InvalidBlobOrBlock");
    }
    /* only uncommitted so far: not readable */
    assert_null(read_blob(f, "c3", "big"));
    refs[0] = ref(BLOB_BLOCK_LATEST, "id02");
    refs[1] = ref(BLOB_BLOCK_UNCOMMITTED, "id01");
    assert_int_equal(blob_object_commit_blocks(f->bs, ACCT, "c3", "big", NULL,
                                               refs, 2, &content, "", false,
                                               &out, &e),
                     0);
    assert_true(out.size == 6);
    blob_props_release(&out);
    got = read_blob(f, "c3", "big");
    assert_string_equal(got, "BBAAAA");
    free(got);
    /* id03 was dropped by the commit: one blob file remains */
    assert_int_equal(count_files(f), 1);
    assert_int_equal(blob_object_block_list(f->bs, ACCT, "c3", "big", true,
                                            true, &p, &cv, &nc, &uv, &nu, &e),
                     0);
    assert_int_equal(nc, 2);
    assert_int_equal(nu, 0);
    assert_memory_equal(cv[0].id, "id02", 4);
    assert_true(cv[1].size == 4);
    free(cv);
    free(uv);
    blob_props_release(&p);

    /* reuse committed blocks, in another order, with a new one */
    stage(f, "c3", "big", "id09", "ZZZ");
    refs[0] = ref(BLOB_BLOCK_COMMITTED, "id01");
    refs[1] = ref(BLOB_BLOCK_LATEST, "id09");
    refs[2] = ref(BLOB_BLOCK_LATEST, "id02");
    assert_int_equal(blob_object_commit_blocks(f->bs, ACCT, "c3", "big", NULL,
                                               refs, 3, &content, "", false,
                                               &out, &e),
                     0);
    blob_props_release(&out);
    got = read_blob(f, "c3", "big");
    assert_string_equal(got, "AAAAZZZBB");
    free(got);
    assert_int_equal(count_files(f), 1);
    /* unknown ids, and Uncommitted for a committed-only id, fail */
    refs[0] = ref(BLOB_BLOCK_LATEST, "nope");
    assert_int_equal(blob_object_commit_blocks(f->bs, ACCT, "c3", "big", NULL,
                                               refs, 1, &content, "", false,
                                               &out, &e),
                     -ERR_INVALID);
    assert_string_equal(e.svc, "InvalidBlockList");
    refs[0] = ref(BLOB_BLOCK_UNCOMMITTED, "id01");
    assert_int_equal(blob_object_commit_blocks(f->bs, ACCT, "c3", "big", NULL,
                                               refs, 1, &content, "", false,
                                               &out, &e),
                     -ERR_INVALID);
    got = read_blob(f, "c3", "big");
    assert_string_equal(got, "AAAAZZZBB");
    free(got);
    /* a single uncommitted block becomes the blob without a copy */
    stage(f, "c3", "one", "b1", "only block");
    refs[0] = ref(BLOB_BLOCK_LATEST, "b1");
    assert_int_equal(blob_object_commit_blocks(f->bs, ACCT, "c3", "one", NULL,
                                               refs, 1, &content, "", false,
                                               &out, &e),
                     0);
    blob_props_release(&out);
    got = read_blob(f, "c3", "one");
    assert_string_equal(got, "only block");
    free(got);
    assert_int_equal(count_files(f), 2);
}

static void list(struct fixture *f, const char *prefix, const char *delim,
                 const char *marker, size_t max, char *out, size_t outlen,
                 char **next)
{
    struct blob_list_opts o;
    struct blob_list_result r;
    struct err e = ERR_INIT;
    size_t used = 0;

    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.delimiter = delim;
    o.marker = marker;
    o.max = max;
    assert_int_equal(blob_list_blobs(f->bs, ACCT, "c4", &o, &r, &e), 0);
    out[0] = '\0';
    for (size_t i = 0; i < r.n; i++)
        used +=
            (size_t)snprintf(out + used, outlen - used, "%s%s ",
                             r.items[i].is_prefix ? "P:" : "", r.items[i].name);
    *next = r.next_marker ? xstrdup(r.next_marker) : NULL;
    blob_list_result_release(&r);
}

static void test_list(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {
        "a", "a/1", "a/2", "a/b/3", "b", "b/1", "c/x/y", "d", "\xc3\xa9",
    };
    struct err e = ERR_INIT;
    char out[512];
    char *next = NULL, *n2 = NULL;

    make_container(f, "c4");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_int_equal(put(f, "c4", names[i], "x", &e), 0);
    stage(f, "c4", "pending", "id", "p");

    list(f, "", NULL, NULL, 100, out, sizeof(out), &next);
    assert_string_equal(out, "a a/1 a/2 a/b/3 b b/1 c/x/y d \xc3\xa9 ");
    assert_null(next);

    list(f, "", "/", NULL, 100, out, sizeof(out), &next);
    assert_string_equal(out, "a P:a/ b P:b/ P:c/ d \xc3\xa9 ");

    list(f, "a/", "/", NULL, 100, out, sizeof(out), &next);
    assert_string_equal(out, "a/1 a/2 P:a/b/ ");

    /* pages of two, with a delimiter: every item exactly once */
    list(f, "", "/", NULL, 2, out, sizeof(out), &next);
    assert_string_equal(out, "a P:a/ ");
    assert_string_equal(next, "b");
    list(f, "", "/", next, 2, out, sizeof(out), &n2);
    assert_string_equal(out, "b P:b/ ");
    free(next);
    list(f, "", "/", n2, 2, out, sizeof(out), &next);
    assert_string_equal(out, "P:c/ d ");
    free(n2);
    list(f, "", "/", next, 2, out, sizeof(out), &n2);
    assert_string_equal(out, "\xc3\xa9 ");
    assert_null(n2);
    free(next);

    /* flat pages of three */
    list(f, "", NULL, NULL, 3, out, sizeof(out), &next);
    assert_string_equal(out, "a a/1 a/2 ");
    list(f, "", NULL, next, 3, out, sizeof(out), &n2);
    assert_string_equal(out, "a/b/3 b b/1 ");
    free(next);
    free(n2);

    /* a page that ends inside a prefix group resumes with that group */
    list(f, "", "/", NULL, 1, out, sizeof(out), &next);
    assert_string_equal(out, "a ");
    list(f, "", "/", next, 1, out, sizeof(out), &n2);
    assert_string_equal(out, "P:a/ ");
    free(next);
    free(n2);

    /* multi-character delimiter and a prefix that matches nothing */
    list(f, "", "/x/", NULL, 100, out, sizeof(out), &next);
    assert_string_equal(out, "a a/1 a/2 a/b/3 b b/1 P:c/x/ d \xc3\xa9 ");
    list(f, "zzz", NULL, NULL, 100, out, sizeof(out), &next);
    assert_string_equal(out, "");

    /* uncommitted placeholders show only when asked */
    {
        struct blob_list_opts o;
        struct blob_list_result r;

        memset(&o, 0, sizeof(o));
        o.prefix = "p";
        o.max = 10;
        o.uncommitted = true;
        assert_int_equal(blob_list_blobs(f->bs, ACCT, "c4", &o, &r, &e), 0);
        assert_int_equal(r.n, 1);
        assert_string_equal(r.items[0].name, "pending");
        assert_false(r.items[0].props.committed);
        blob_list_result_release(&r);
    }
}

struct writer {
    struct fixture *f;
    int id;
    int failures;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    for (int i = 0; i < 40; i++) {
        char name[64], data[64];
        struct err e = ERR_INIT;

        snprintf(name, sizeof(name), "w%d/%03d", w->id, i);
        snprintf(data, sizeof(data), "writer %d item %d", w->id, i);
        if (put(w->f, "c5", name, data, &e) < 0)
            w->failures++;
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fixture *f = *state;
    struct writer w[8];
    pthread_t th[8];

    make_container(f, "c5");
    for (int i = 0; i < 8; i++) {
        w[i].f = f;
        w[i].id = i;
        w[i].failures = 0;
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    for (int i = 0; i < 8; i++) {
        for (int k = 0; k < 40; k++) {
            char name[64], data[64];
            char *got;

            snprintf(name, sizeof(name), "w%d/%03d", i, k);
            snprintf(data, sizeof(data), "writer %d item %d", i, k);
            got = read_blob(f, "c5", name);
            assert_non_null(got);
            assert_string_equal(got, data);
            free(got);
        }
    }
    assert_int_equal(count_files(f), 320);
}

static void test_recovery(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    char path[400];
    int fd;
    char *got;

    make_container(f, "c6");
    assert_int_equal(put(f, "c6", "keep", "kept bytes", &e), 0);
    stage(f, "c6", "staged", "s1", "staged bytes");
    /* an orphan published file and a temp file, as a crash leaves them */
    snprintf(path, sizeof(path), "%s/blobs/7f/00000000deadbe7f", f->dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/blobs/tmp/0000000000000001", f->dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(count_files(f), 3);

    close_store(f);
    open_store(f);
    assert_int_equal(count_files(f), 2);
    assert_int_equal(access(path, F_OK), -1);
    got = read_blob(f, "c6", "keep");
    assert_string_equal(got, "kept bytes");
    free(got);
    /* etags keep growing across a restart */
    {
        struct blob_props a, b;

        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        blob_object_get(f->bs, ACCT, "c6", "keep", &a, NULL, NULL, &e);
        assert_int_equal(put(f, "c6", "later", "x", &e), 0);
        blob_object_get(f->bs, ACCT, "c6", "later", &b, NULL, NULL, &e);
        assert_true(b.etag > a.etag);
        blob_props_release(&a);
        blob_props_release(&b);
    }
}

static void test_expiry(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    struct blob_props p;
    struct blob_block_info *cv, *uv;
    size_t nc, nu;

    memset(&p, 0, sizeof(p));
    make_container(f, "c7");
    stage(f, "c7", "old", "b1", "old block");
    stage(f, "c7", "fresh", "b1", "fresh block");
    assert_int_equal(put(f, "c7", "committed", "c", &e), 0);
    stage(f, "c7", "committed", "b1", "extra");
    assert_int_equal(count_files(f), 4);
    /* age two of the blocks */
    db_lock(f->db);
    assert_int_equal(db_exec(f->db,
                             "UPDATE blob_blocks SET ctime=0 WHERE blob_id IN"
                             " (SELECT id FROM blob_blobs WHERE name IN "
                             "('old', 'committed'))",
                             &e),
                     0);
    db_unlock(f->db);
    assert_int_equal(blob_store_expire(f->bs, &e), 0);
    assert_int_equal(count_files(f), 2);
    /* the placeholder went with its last block; the committed blob stays */
    assert_int_equal(blob_object_block_list(f->bs, ACCT, "c7", "old", true,
                                            true, &p, &cv, &nc, &uv, &nu, &e),
                     -ERR_NOTFOUND);
    assert_int_equal(blob_object_block_list(f->bs, ACCT, "c7", "committed",
                                            true, true, &p, &cv, &nc, &uv, &nu,
                                            &e),
                     0);
    assert_int_equal(nu, 0);
    free(cv);
    free(uv);
    blob_props_release(&p);
    assert_int_equal(blob_object_block_list(f->bs, ACCT, "c7", "fresh", true,
                                            true, &p, &cv, &nc, &uv, &nu, &e),
                     0);
    assert_int_equal(nu, 1);
    free(cv);
    free(uv);
    blob_props_release(&p);
}

static void test_inline(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    struct blob_block_ref refs[2];
    struct blob_content content;
    struct blob_props out;
    char *got;

    memset(&content, 0, sizeof(content));
    memset(&out, 0, sizeof(out));
    make_container(f, "c9");
    assert_int_equal(put_inline(f, "c9", "small", "tiny bytes", &e), 0);
    got = read_blob(f, "c9", "small");
    assert_string_equal(got, "tiny bytes");
    free(got);
    assert_int_equal(count_files(f), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM blob_data"), 1);
    /* a file version replaces the inline one and its row */
    assert_int_equal(put(f, "c9", "small", "now a file", &e), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM blob_data"), 0);
    assert_int_equal(count_files(f), 1);
    /* and back: the file goes after the commit */
    assert_int_equal(put_inline(f, "c9", "small", "inline again", &e), 0);
    assert_int_equal(count_files(f), 0);
    got = read_blob(f, "c9", "small");
    assert_string_equal(got, "inline again");
    free(got);
    /* a block list over an inline blob replaces it with a file */
    stage(f, "c9", "small", "b1", "block one");
    stage(f, "c9", "small", "b2", "block two");
    refs[0] = ref(BLOB_BLOCK_LATEST, "b2");
    refs[1] = ref(BLOB_BLOCK_LATEST, "b1");
    assert_int_equal(blob_object_commit_blocks(f->bs, ACCT, "c9", "small", NULL,
                                               refs, 2, &content, "", false,
                                               &out, &e),
                     0);
    blob_props_release(&out);
    got = read_blob(f, "c9", "small");
    assert_string_equal(got, "block twoblock one");
    free(got);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM blob_data"), 0);
    assert_int_equal(put_inline(f, "c9", "other", "x", &e), 0);
    assert_int_equal(blob_object_delete(f->bs, ACCT, "c9", "other", NULL, &e),
                     0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM blob_data"), 0);
    assert_int_equal(put_inline(f, "c9", "third", "y", &e), 0);
    assert_int_equal(blob_container_delete(f->bs, ACCT, "c9", NULL, &e), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM blob_data"), 0);
    assert_int_equal(count_files(f), 0);
}

/* Once started, the store unlinks dropped files in the background. */
static void test_background_reap(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;

    assert_int_equal(blob_store_start(f->bs, &e), 0);
    make_container(f, "c10");
    assert_int_equal(put(f, "c10", "x", "one", &e), 0);
    assert_int_equal(put(f, "c10", "x", "two", &e), 0);
    assert_int_equal(put(f, "c10", "y", "three", &e), 0);
    assert_int_equal(blob_object_delete(f->bs, ACCT, "c10", "y", NULL, &e), 0);
    for (int i = 0; i < 500 && count_files(f) != 1; i++)
        usleep(10000);
    assert_int_equal(count_files(f), 1);
    {
        char *got = read_blob(f, "c10", "x");
        assert_string_equal(got, "two");
        free(got);
    }
}

static void test_container_delete(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;

    make_container(f, "c8");
    assert_int_equal(put(f, "c8", "x", "1", &e), 0);
    assert_int_equal(put(f, "c8", "y", "2", &e), 0);
    stage(f, "c8", "z", "b", "3");
    assert_int_equal(count_files(f), 3);
    assert_int_equal(blob_container_delete(f->bs, ACCT, "c8", NULL, &e), 0);
    assert_int_equal(count_files(f), 0);
    /* a new container of that name is empty */
    make_container(f, "c8");
    assert_null(read_blob(f, "c8", "x"));
}

/* Append Block with the source bytes in a temp file, as blob_api does. */
static int append(struct fixture *f, const char *c, const char *name,
                  const char *data, const struct blob_append *cond,
                  uint64_t *offset, struct err *e)
{
    struct blob_files *files = blob_store_files(f->bs);
    struct blob_append a;
    struct blob_props out;
    struct err e2 = ERR_INIT;
    uint64_t id;
    int fd, rc;

    assert_int_equal(blob_files_create(files, &id, &fd, &e2), 0);
    assert_int_equal(blob_files_write(fd, data, strlen(data), &e2), 0);
    if (cond)
        a = *cond;
    else
        memset(&a, 0, sizeof(a));
    a.src = fd;
    a.len = strlen(data);
    memset(&out, 0, sizeof(out));
    rc = blob_object_append(f->bs, ACCT, c, name, NULL, &a, offset, &out, e);
    if (rc == 0) {
        assert_int_equal(out.type, BLOB_TYPE_APPEND);
        assert_int_equal(out.size, *offset + strlen(data));
    }
    blob_props_release(&out);
    blob_files_discard(files, id, fd);
    return rc;
}

static void test_append(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    struct blob_content content;
    struct blob_put p;
    struct blob_props props;
    struct blob_append cond;
    struct stat st;
    char path[400];
    uint64_t off = 99;
    char *got;
    int fd;

    make_container(f, "ap");
    memset(&content, 0, sizeof(content));
    memset(&p, 0, sizeof(p));
    memset(&props, 0, sizeof(props));
    p.type = BLOB_TYPE_APPEND;
    p.content = &content;
    assert_int_equal(
        blob_object_put(f->bs, ACCT, "ap", "log", NULL, &p, &props, &e), 0);
    assert_int_equal(props.type, BLOB_TYPE_APPEND);
    assert_int_equal(props.size, 0);
    blob_props_release(&props);

    assert_int_equal(append(f, "ap", "log", "abc", NULL, &off, &e), 0);
    assert_int_equal(off, 0);
    assert_int_equal(append(f, "ap", "log", "defg", NULL, &off, &e), 0);
    assert_int_equal(off, 3);
    got = read_blob(f, "ap", "log");
    assert_string_equal(got, "abcdefg");
    free(got);

    /* conditions: position and size, checked before anything is written */
    memset(&cond, 0, sizeof(cond));
    cond.has_append_pos = true;
    cond.append_pos = 3;
    assert_int_equal(append(f, "ap", "log", "x", &cond, &off, &e),
                     -ERR_PRECONDITION);
    assert_string_equal(e.svc, "AppendPositionConditionNotMet");
    cond.append_pos = 7;
    cond.has_max_size = true;
    cond.max_size = 8;
    assert_int_equal(append(f, "ap", "log", "xy", &cond, &off, &e),
                     -ERR_PRECONDITION);
    assert_string_equal(e.svc, "MaxBlobSizeConditionNotMet");
    cond.max_size = 9;
    assert_int_equal(append(f, "ap", "log", "hi", &cond, &off, &e), 0);
    assert_int_equal(off, 7);

    /* wrong type, missing blob; block operations on an append blob */
    assert_int_equal(put(f, "ap", "block", "bytes", &e), 0);
    assert_int_equal(append(f, "ap", "block", "x", NULL, &off, &e),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "InvalidBlobType");
    assert_int_equal(append(f, "ap", "none", "x", NULL, &off, &e),
                     -ERR_NOTFOUND);
    assert_string_equal(e.svc, "BlobNotFound");
    {
        uint64_t file = write_file(f, "blk", 3);

        assert_int_equal(blob_object_put_block(f->bs, ACCT, "ap", "log", NULL,
                                               (const unsigned char *)"b1", 2,
                                               file, 3, &e),
                         -ERR_CONFLICT);
        assert_string_equal(e.svc, "InvalidBlobType");
        blob_files_unlink(blob_store_files(f->bs), file);
    }

    /*
     * An append cut short after its bytes were written but before its
     * commit leaves bytes past the committed size: readers never see them,
     * and the next append cuts them.
     */
    memset(&props, 0, sizeof(props));
    assert_int_equal(
        blob_object_get(f->bs, ACCT, "ap", "log", &props, NULL, NULL, &e), 0);
    assert_int_equal(props.size, 9);
    assert_int_equal(props.append_blocks, 3);
    snprintf(path, sizeof(path), "%s/blobs/%02x/%016llx", f->dir,
             (unsigned)(props.file & 0xff), (unsigned long long)props.file);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "JUNK", 4), 4);
    close(fd);
    got = read_blob(f, "ap", "log");
    assert_string_equal(got, "abcdefghi");
    free(got);

    /* a restart keeps the file (it is referenced) and the junk is ignored */
    close_store(f);
    open_store(f);
    assert_int_equal(append(f, "ap", "log", "!", NULL, &off, &e), 0);
    assert_int_equal(off, 9);
    got = read_blob(f, "ap", "log");
    assert_string_equal(got, "abcdefghi!");
    free(got);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 10);
    blob_props_release(&props);

    /* Put Blob replaces an append blob with a block blob */
    assert_int_equal(put(f, "ap", "log", "block now", &e), 0);
    memset(&props, 0, sizeof(props));
    assert_int_equal(
        blob_object_get(f->bs, ACCT, "ap", "log", &props, NULL, NULL, &e), 0);
    assert_int_equal(props.type, BLOB_TYPE_BLOCK);
    blob_props_release(&props);
    assert_int_equal(append(f, "ap", "log", "x", NULL, &off, &e),
                     -ERR_CONFLICT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_containers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conditions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_reap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
