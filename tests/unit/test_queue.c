/*
 * test_queue.c: the queue service below HTTP and through fake requests.
 *
 *   - message id and pop receipt text forms, with hostile strings;
 *   - queue name and message text rules (tables);
 *   - qstore with a controlled clock: arrival order, visibility, redelivery
 *     with dequeue counts, pop receipt checks, update, expiry and sweep,
 *     listing with prefix and marker, access policies, service properties;
 *   - group commit (db/dbgroup.c) with queue ops: concurrent puts from many
 *     threads all commit, a failing op in a group leaves no trace and does
 *     not disturb the others;
 *   - queue_put_in_tx inside the caller's transaction (commit, rollback);
 *   - the HTTP handlers through http_fake requests with an account SAS.
 *
 * Each test gets a fresh database in a temporary directory.
 */
#include "unit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"
#include "http/http.h"
#include "queue/queue.h"
#include "queue/queueint.h"

#define ACCT "devstoreaccount1"

struct fixture {
    char dir[64];
    char path[96];
    struct db *db;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct err e = ERR_INIT;
    const char *tmp = getenv("TMPDIR");

    snprintf(f->dir, sizeof(f->dir), "%s/shoal-tq-XXXXXX",
             tmp && strlen(tmp) < 30 ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/meta.db", f->dir);
    if (db_open(f->path, false, &f->db, &e) < 0)
        return -1;
    if (qstore_migrate(f->db, &e) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[128];

    db_close(f->db);
    unlink(f->path);
    snprintf(p, sizeof(p), "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- text forms ---------------------------------------------------------- */

static void test_ids_and_pops(void **state)
{
    static const char *const bad_ids[] = {
        "",
        "00000000-0000-0000-0000-000000000000",  /* row id 0 */
        "00000000-0000-0001-0000-00000000000",   /* short */
        "00000000-0000-0001-0000-0000000000000", /* long */
        "00000000x0000-0001-0000-000000000000",
        "0000000g-0000-0001-0000-000000000000",
        "80000000-0000-0000-0000-000000000000", /* beyond int64 */
        " 0000000-0000-0001-0000-000000000000",
        "00000000-0000-0001-0000-00000000000\n",
    };
    static const char *const bad_pops[] = {
        "",
        "0",
        "0123456789abcde",
        "0123456789abcdef0",
        "0123456789abcdeg",
        "-123456789abcdef",
        "0x23456789abcdef",
    };
    char id[QSTORE_ID_LEN], pop[QSTORE_POP_LEN];
    int64_t r;
    uint64_t n, p;

    (void)state;
    qstore_format_id(INT64_C(0x123456789a), UINT64_C(0xfedcba9876543210), id);
    assert_string_equal(id, "00000012-3456-789a-fedc-ba9876543210");
    assert_int_equal(qstore_parse_id(id, &r, &n), 0);
    assert_true(r == INT64_C(0x123456789a));
    assert_true(n == UINT64_C(0xfedcba9876543210));
    assert_int_equal(
        qstore_parse_id("00000012-3456-789A-FEDC-BA9876543210", &r, &n), 0);
    assert_true(n == UINT64_C(0xfedcba9876543210));
    for (size_t i = 0; i < ARRAY_SIZE(bad_ids); i++) {
        r = 7;
        if (qstore_parse_id(bad_ids[i], &r, &n) != -ERR_INVALID)
            fail_msg("id '%s' accepted", bad_ids[i]);
        assert_true(r == 7);
    }
    qstore_format_pop(UINT64_C(0xa), pop);
    assert_string_equal(pop, "000000000000000a");
    assert_int_equal(qstore_parse_pop("FFFFFFFFFFFFFFFF", &p), 0);
    assert_true(p == UINT64_MAX);
    for (size_t i = 0; i < ARRAY_SIZE(bad_pops); i++) {
        if (qstore_parse_pop(bad_pops[i], &p) != -ERR_INVALID)
            fail_msg("pop '%s' accepted", bad_pops[i]);
    }
}

static void test_names(void **state)
{
    static const struct {
        const char *name;
        const char *svc; /* NULL = valid */
    } cases[] = {
        { "abc", NULL },
        { "a-b-c", NULL },
        { "0queue9", NULL },
        { "ab", "OutOfRangeInput" },
        { "", "OutOfRangeInput" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          NULL },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "OutOfRangeInput" },
        { "Abc", "InvalidResourceName" },
        { "-abc", "InvalidResourceName" },
        { "abc-", "InvalidResourceName" },
        { "a--b", "InvalidResourceName" },
        { "a_b", "InvalidResourceName" },
        { "a.b", "InvalidResourceName" },
        { "a b", "InvalidResourceName" },
        { "caf\xc3\xa9", "InvalidResourceName" },
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct err e = ERR_INIT;
        int rc = queue_check_name(cases[i].name, &e);

        if (!cases[i].svc) {
            if (rc != 0)
                fail_msg("'%s' refused: %s", cases[i].name, e.svc);
            continue;
        }
        if (rc != -ERR_INVALID || strcmp(e.svc, cases[i].svc) != 0)
            fail_msg("'%s': rc %d svc %s want %s", cases[i].name, rc, e.svc,
                     cases[i].svc);
    }
}

static void test_text_rules(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        bool ok;
    } cases[] = {
        { "plain", 5, true },
        { "tab\tlf\ncr\r", 10, true },
        { "\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x98\x80", 9, true },
        { "nul\0x", 5, false },
        { "bell\a", 5, false },
        { "\xff", 1, false },
        { "\xc3", 1, false },             /* truncated */
        { "\xc0\xaf", 2, false },         /* overlong */
        { "\xe0\x80\xaf", 3, false },     /* overlong */
        { "\xed\xa0\x80", 3, false },     /* surrogate */
        { "\xef\xbf\xbe", 3, false },     /* U+FFFE */
        { "\xf4\x90\x80\x80", 4, false }, /* beyond U+10FFFF */
        { "\xe6\xbc", 2, false },
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        if (queue_text_valid(cases[i].s, cases[i].len) != cases[i].ok)
            fail_msg("case %zu", i);
    }
}

/* ---- qstore with a controlled clock -------------------------------------- */

struct seen {
    int n;
    char text[40][16];
    int64_t dequeue[40];
    uint64_t pop[40];
    int64_t rowid[40];
    uint64_t nonce[40];
};

static int collect(void *ctx, const struct qstore_msg *m)
{
    struct seen *s = ctx;

    if (s->n >= 40)
        return -ERR_INTERNAL;
    snprintf(s->text[s->n], sizeof(s->text[0]), "%.*s", (int)m->len, m->text);
    s->dequeue[s->n] = m->dequeue_count;
    s->pop[s->n] = m->pop;
    s->rowid[s->n] = m->rowid;
    s->nonce[s->n] = m->nonce;
    s->n++;
    return 0;
}

static int64_t mkqueue(struct db *db, const char *name)
{
    struct err e = ERR_INIT;
    bool created;
    char *meta = NULL;
    int64_t id = 0;

    assert_int_equal(
        qstore_queue_create(db, ACCT, name, "", 1, &created, &meta, &e), 0);
    assert_true(created);
    assert_null(meta);
    assert_int_equal(qstore_queue_id(db, ACCT, name, &id, &e), 0);
    return id;
}

static void put(struct db *db, int64_t q, const char *text, int64_t now,
                int64_t visible, int64_t expires, struct qstore_msg *out)
{
    struct err e = ERR_INIT;
    struct qstore_msg m;

    assert_int_equal(qstore_msg_put(db, q, text, strlen(text), now, visible,
                                    expires, out ? out : &m, &e),
                     0);
}

static void test_store_order_visibility(void **state)
{
    struct fixture *f = *state;
    struct db *db = f->db;
    struct err e = ERR_INIT;
    struct seen s;
    int64_t q, other;

    db_lock(db);
    q = mkqueue(db, "orders");
    other = mkqueue(db, "other");
    put(db, q, "a", 1000, 1000, 99999, NULL);
    put(db, q, "b", 1000, 1000, 99999, NULL);
    put(db, q, "delayed", 1000, 5000, 99999, NULL);
    put(db, q, "c", 1001, 1001, 99999, NULL);
    put(db, other, "x", 1000, 1000, 99999, NULL);

    /* peek: visible ones in arrival order, nothing changes */
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_peek(db, q, 32, 2000, collect, &s, &e), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.text[0], "a");
    assert_string_equal(s.text[1], "b");
    assert_string_equal(s.text[2], "c");
    assert_int_equal(s.dequeue[0], 0);

    /* get 2 with 100 ms visibility */
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_get(db, q, 2, 2000, 100, collect, &s, &e), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.text[0], "a");
    assert_string_equal(s.text[1], "b");
    assert_int_equal(s.dequeue[0], 1);
    assert_true(s.pop[0] != s.pop[1]);

    /* while invisible: only c */
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_get(db, q, 32, 2099, 100, collect, &s, &e), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.text[0], "c");

    /* a and b come back at 2100, then delayed at 5000 */
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_peek(db, q, 32, 2100, collect, &s, &e), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.text[0], "a");
    assert_int_equal(s.dequeue[0], 1);
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_get(db, q, 32, 5000, 1000, collect, &s, &e), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.text[0], "a");
    assert_int_equal(s.dequeue[0], 2);
    assert_string_equal(s.text[3], "delayed");
    assert_int_equal(s.dequeue[3], 1);

    /* the other queue was never touched */
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_peek(db, other, 32, 5000, collect, &s, &e), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.dequeue[0], 0);
    db_unlock(db);
}

static void test_store_delete_update(void **state)
{
    struct fixture *f = *state;
    struct db *db = f->db;
    struct err e = ERR_INIT;
    struct qstore_msg m, u;
    struct seen s;
    int64_t q, other;

    db_lock(db);
    q = mkqueue(db, "deletes");
    other = mkqueue(db, "other");
    put(db, q, "one", 1000, 1000, 99999, &m);

    /* the put's pop receipt works until a get replaces it */
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_get(db, q, 1, 1000, 10, collect, &s, &e), 0);
    assert_int_equal(
        qstore_msg_delete(db, q, m.rowid, m.nonce, m.pop, 1001, &e),
        -ERR_INVALID);
    assert_string_equal(e.svc, "PopReceiptMismatch");
    assert_int_equal(
        qstore_msg_delete(db, q, m.rowid, m.nonce + 1, s.pop[0], 1001, &e),
        -ERR_NOTFOUND);
    assert_string_equal(e.svc, "MessageNotFound");
    assert_int_equal(
        qstore_msg_delete(db, other, m.rowid, m.nonce, s.pop[0], 1001, &e),
        -ERR_NOTFOUND);

    /* update: new text, new receipt, old receipt dead */
    assert_int_equal(qstore_msg_update(db, q, m.rowid, m.nonce, s.pop[0], 1001,
                                       0, "two", 3, &u, &e),
                     0);
    assert_true(u.pop != s.pop[0]);
    assert_int_equal(u.visible_ms, 1001);
    assert_int_equal(u.dequeue_count, 1);
    assert_int_equal(qstore_msg_update(db, q, m.rowid, m.nonce, s.pop[0], 1001,
                                       0, NULL, 0, &u, &e),
                     -ERR_INVALID);
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_peek(db, q, 1, 1001, collect, &s, &e), 0);
    assert_string_equal(s.text[0], "two");
    /* visibility-only update keeps the text */
    assert_int_equal(qstore_msg_update(db, q, m.rowid, m.nonce, u.pop, 1002, 0,
                                       NULL, 0, &u, &e),
                     0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_peek(db, q, 1, 1002, collect, &s, &e), 0);
    assert_string_equal(s.text[0], "two");

    assert_int_equal(
        qstore_msg_delete(db, q, m.rowid, m.nonce, u.pop, 1002, &e), 0);
    assert_int_equal(
        qstore_msg_delete(db, q, m.rowid, m.nonce, u.pop, 1002, &e),
        -ERR_NOTFOUND);
    assert_string_equal(e.svc, "MessageNotFound");
    db_unlock(db);
}

static void test_store_expiry(void **state)
{
    struct fixture *f = *state;
    struct db *db = f->db;
    struct err e = ERR_INIT;
    struct qstore_msg m, u;
    struct seen s;
    unsigned deleted = 0;
    char *meta = NULL;
    int64_t q, count = -1;

    db_lock(db);
    q = mkqueue(db, "expiry");
    put(db, q, "short", 1000, 1000, 1500, &m);
    put(db, q, "never", 1000, 1000, QSTORE_NEVER_MS, NULL);

    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_peek(db, q, 32, 1499, collect, &s, &e), 0);
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_peek(db, q, 32, 1500, collect, &s, &e), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.text[0], "never");
    /* expired: no delete, no update, even with the right receipt */
    assert_int_equal(
        qstore_msg_delete(db, q, m.rowid, m.nonce, m.pop, 1500, &e),
        -ERR_NOTFOUND);
    assert_int_equal(qstore_msg_update(db, q, m.rowid, m.nonce, m.pop, 1500, 0,
                                       NULL, 0, &u, &e),
                     -ERR_NOTFOUND);

    /* counted until swept, then gone; a sweep with nothing due is a no-op */
    assert_int_equal(qstore_queue_props(db, ACCT, "expiry", &meta, &count, &e),
                     0);
    free(meta);
    assert_int_equal(count, 2);
    assert_int_equal(db_begin(db, &e), 0);
    assert_int_equal(qstore_sweep(db, 1499, 100, &deleted, &e), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(qstore_sweep(db, 1500, 100, &deleted, &e), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(db_commit(db, &e), 0);
    assert_int_equal(qstore_queue_props(db, ACCT, "expiry", &meta, &count, &e),
                     0);
    free(meta);
    assert_int_equal(count, 1);
    db_unlock(db);
}

static void test_store_sweep_batches(void **state)
{
    struct fixture *f = *state;
    struct db *db = f->db;
    struct err e = ERR_INIT;
    unsigned deleted = 0, total = 0;
    int64_t q;

    db_lock(db);
    q = mkqueue(db, "mass");
    assert_int_equal(db_begin(db, &e), 0);
    for (int i = 0; i < 250; i++)
        put(db, q, "m", 1000, 1000, 2000 + i % 3, NULL);
    put(db, q, "stays", 1000, 1000, 9000, NULL);
    do {
        assert_int_equal(qstore_sweep(db, 5000, 100, &deleted, &e), 0);
        assert_true(deleted <= 100);
        total += deleted;
    } while (deleted == 100);
    assert_int_equal(db_commit(db, &e), 0);
    assert_int_equal(total, 250);
    db_unlock(db);
}

struct names {
    int n;
    char name[10][64];
    bool meta[10];
};

static int collect_name(void *ctx, const char *name, const char *meta)
{
    struct names *l = ctx;

    snprintf(l->name[l->n], sizeof(l->name[0]), "%s", name);
    l->meta[l->n] = meta != NULL;
    l->n++;
    return 0;
}

static void test_store_list(void **state)
{
    struct fixture *f = *state;
    struct db *db = f->db;
    struct err e = ERR_INIT;
    struct names l;
    char *next = NULL, *marker;
    bool created;
    char *meta;
    static const char *const all[] = { "aa-1", "aa-2", "aa-3", "ab-1", "b-11" };

    db_lock(db);
    for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
        assert_int_equal(qstore_queue_create(db, ACCT, all[i], "k\nv\n", 1,
                                             &created, &meta, &e),
                         0);
    }
    assert_int_equal(qstore_queue_create(db, "otheraccount", "aa-9", "", 1,
                                         &created, &meta, &e),
                     0);
    /* an existing queue: not created, its metadata returned */
    assert_int_equal(
        qstore_queue_create(db, ACCT, "aa-1", "", 1, &created, &meta, &e), 0);
    assert_false(created);
    assert_string_equal(meta, "k\nv\n");
    free(meta);

    memset(&l, 0, sizeof(l));
    assert_int_equal(qstore_queue_list(db, ACCT, "aa-", "", 2, true,
                                       collect_name, &l, &next, &e),
                     0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.name[0], "aa-1");
    assert_true(l.meta[0]);
    assert_string_equal(next, "aa-3");
    marker = next;
    memset(&l, 0, sizeof(l));
    assert_int_equal(qstore_queue_list(db, ACCT, "aa-", marker, 2, false,
                                       collect_name, &l, &next, &e),
                     0);
    free(marker);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.name[0], "aa-3");
    assert_false(l.meta[0]);
    assert_null(next);
    memset(&l, 0, sizeof(l));
    assert_int_equal(qstore_queue_list(db, ACCT, "", "", 10, false,
                                       collect_name, &l, &next, &e),
                     0);
    assert_int_equal(l.n, 5);
    assert_null(next);
    /* prefixes holding bytes no name has match nothing */
    memset(&l, 0, sizeof(l));
    assert_int_equal(qstore_queue_list(db, ACCT, "a\x7f", "", 10, false,
                                       collect_name, &l, &next, &e),
                     0);
    assert_int_equal(l.n, 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(qstore_queue_list(db, ACCT, "%", "", 10, false,
                                       collect_name, &l, &next, &e),
                     0);
    assert_int_equal(l.n, 0);
    db_unlock(db);
}

static void test_store_acl_props(void **state)
{
    struct fixture *f = *state;
    struct db *db = f->db;
    struct err e = ERR_INIT;
    struct qstore_policy p[2], out[QSTORE_ACL_MAX], one;
    struct qstore_props props, got;
    int n = -1;

    db_lock(db);
    mkqueue(db, "acl");
    memset(p, 0, sizeof(p));
    snprintf(p[0].id, sizeof(p[0].id), "reader");
    p[0].has_start = true;
    p[0].start_ms = 1000;
    p[0].has_perms = true;
    snprintf(p[0].perms, sizeof(p[0].perms), "r");
    snprintf(p[1].id, sizeof(p[1].id), "bare");
    assert_int_equal(qstore_acl_set(db, ACCT, "acl", p, 2, &e), 0);
    assert_int_equal(qstore_acl_get(db, ACCT, "acl", out, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].id, "reader");
    assert_true(out[0].has_start);
    assert_false(out[0].has_expiry);
    assert_int_equal(out[0].start_ms, 1000);
    assert_string_equal(out[0].perms, "r");
    assert_false(out[1].has_perms);
    assert_int_equal(qstore_acl_find(db, ACCT, "acl", "bare", &one, &e), 0);
    assert_int_equal(qstore_acl_find(db, ACCT, "acl", "nope", &one, &e),
                     -ERR_NOTFOUND);
    assert_int_equal(qstore_acl_find(db, ACCT, "noqueue", "bare", &one, &e),
                     -ERR_NOTFOUND);
    assert_int_equal(qstore_acl_set(db, ACCT, "acl", NULL, 0, &e), 0);
    assert_int_equal(qstore_acl_get(db, ACCT, "acl", out, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(qstore_acl_get(db, ACCT, "noqueue", out, &n, &e),
                     -ERR_NOTFOUND);
    assert_string_equal(e.svc, "QueueNotFound");

    /* properties: set replaces only what is given */
    memset(&props, 0, sizeof(props));
    props.part[0] = xstrdup("<Logging>1</Logging>");
    props.part[3] = xstrdup("<Cors />");
    assert_int_equal(qstore_props_set(db, ACCT, &props, &e), 0);
    qstore_props_release(&props);
    props.part[0] = xstrdup("<Logging>2</Logging>");
    assert_int_equal(qstore_props_set(db, ACCT, &props, &e), 0);
    qstore_props_release(&props);
    assert_int_equal(qstore_props_get(db, ACCT, &got, &e), 0);
    assert_string_equal(got.part[0], "<Logging>2</Logging>");
    assert_null(got.part[1]);
    assert_string_equal(got.part[3], "<Cors />");
    qstore_props_release(&got);
    assert_int_equal(qstore_props_get(db, "nobody", &got, &e), 0);
    assert_null(got.part[0]);
    db_unlock(db);
}

/* ---- group commit -------------------------------------------------------- */

struct commit_arg {
    struct dbgroup *c;
    int64_t queue;
    int thread;
    int ops;
};

struct put_op {
    int64_t queue;
    char text[32];
    bool fail;
};

static int run_put(struct db *db, void *arg, struct err *err)
{
    struct put_op *p = arg;
    struct qstore_msg m;
    int rc;

    rc = qstore_msg_put(db, p->queue, p->text, strlen(p->text), 1000, 1000,
                        QSTORE_NEVER_MS, &m, err);
    if (rc == 0 && p->fail)
        rc = err_set(err, ERR_INVALID, "Refused", "op refused after write");
    return rc;
}

static void *committer(void *arg)
{
    struct commit_arg *a = arg;

    for (int i = 0; i < a->ops; i++) {
        struct put_op p;
        struct err e = ERR_INIT;
        int rc;

        p.queue = a->queue;
        p.fail = i % 5 == 4;
        snprintf(p.text, sizeof(p.text), "t%d-%d", a->thread, i);
        rc = dbgroup_run(a->c, run_put, &p, &e);
        if (p.fail ? rc != -ERR_INVALID : rc != 0)
            return (void *)1;
        if (p.fail && strcmp(e.svc, "Refused") != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fixture *f = *state;
    struct dbgroup *c;
    struct dbgroup_stats st;
    struct commit_arg args[8];
    pthread_t th[8];
    struct seen s;
    struct err e = ERR_INIT;
    int64_t q;
    int64_t count = 0;
    char *meta = NULL;

    db_lock(f->db);
    q = mkqueue(f->db, "commits");
    db_unlock(f->db);
    c = dbgroup_new(f->db, "test");
    for (int i = 0; i < 8; i++) {
        args[i] = (struct commit_arg){ c, q, i, 50 };
        assert_int_equal(pthread_create(&th[i], NULL, committer, &args[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        void *ret = NULL;

        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    dbgroup_get_stats(c, &st);
    assert_true(st.ops == 400);
    assert_true(st.groups >= 1 && st.groups <= 400);
    dbgroup_free(c);

    /* 4 of every 5 ops committed; the refused ones left nothing */
    db_lock(f->db);
    assert_int_equal(
        qstore_queue_props(f->db, ACCT, "commits", &meta, &count, &e), 0);
    free(meta);
    assert_int_equal(count, 320);
    count = 0;
    do {
        memset(&s, 0, sizeof(s));
        assert_int_equal(
            qstore_msg_get(f->db, q, 32, 1000, 1000000, collect, &s, &e), 0);
        for (int k = 0; k < s.n; k++) {
            char last = s.text[k][strlen(s.text[k]) - 1];

            /* t<thread>-4, -9, -14 ... were refused */
            assert_false(last == '4' || last == '9');
        }
        count += s.n;
    } while (s.n > 0);
    assert_int_equal(count, 320);
    db_unlock(f->db);
}

/* ---- queue_put_in_tx ----------------------------------------------------- */

static void test_put_in_tx(void **state)
{
    struct fixture *f = *state;
    struct db *db = f->db;
    struct err e = ERR_INIT;
    struct seen s;
    int64_t q;

    db_lock(db);
    /* missing queue without create */
    assert_int_equal(db_begin(db, &e), 0);
    assert_int_equal(queue_put_in_tx(db, ACCT, "notify", "x", 1, false, &e),
                     -ERR_NOTFOUND);
    assert_string_equal(e.svc, "QueueNotFound");
    /* created, then rolled back with the caller's transaction */
    assert_int_equal(queue_put_in_tx(db, ACCT, "notify", "x", 1, true, &e), 0);
    db_rollback(db);
    assert_int_equal(qstore_queue_id(db, ACCT, "notify", &q, &e),
                     -ERR_NOTFOUND);
    /* committed with it */
    assert_int_equal(db_begin(db, &e), 0);
    assert_int_equal(
        queue_put_in_tx(db, ACCT, "notify", "{\"a\":1}", 7, true, &e), 0);
    assert_int_equal(
        queue_put_in_tx(db, ACCT, "notify", "second", 6, false, &e), 0);
    assert_int_equal(db_commit(db, &e), 0);
    assert_int_equal(qstore_queue_id(db, ACCT, "notify", &q, &e), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(
        qstore_msg_peek(db, q, 32, timefmt_now_ms(), collect, &s, &e), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.text[0], "{\"a\":1}");
    assert_string_equal(s.text[1], "second");
    /* the default TTL is 7 days */
    memset(&s, 0, sizeof(s));
    assert_int_equal(qstore_msg_peek(db, q, 32,
                                     timefmt_now_ms() + 7 * 86400000LL + 60000,
                                     collect, &s, &e),
                     0);
    assert_int_equal(s.n, 0);
    /* rejected inputs */
    assert_int_equal(queue_put_in_tx(db, ACCT, "Bad", "x", 1, true, &e),
                     -ERR_INVALID);
    assert_int_equal(queue_put_in_tx(db, ACCT, "notify", "\x01", 1, true, &e),
                     -ERR_INVALID);
    assert_string_equal(e.svc, "InvalidXmlNodeValue");
    {
        char *big = xmalloc(QUEUE_TEXT_MAX + 1);

        memset(big, 'x', QUEUE_TEXT_MAX + 1);
        assert_int_equal(queue_put_in_tx(db, ACCT, "notify", big,
                                         QUEUE_TEXT_MAX + 1, true, &e),
                         -ERR_TOOBIG);
        free(big);
    }
    db_unlock(db);
}

/* ---- the HTTP handlers through fake requests ----------------------------- */

struct api {
    struct auth auth;
    struct config cfg;
    struct queue_service *s;
    struct buf sas;
};

static void api_open(struct fixture *f, struct api *a)
{
    struct err e = ERR_INIT;
    const struct account *acct;
    struct buf sts = BUF_INIT;
    char sig[64];

    memset(a, 0, sizeof(*a));
    auth_init(&a->auth, 900000);
    assert_int_equal(auth_add_account(&a->auth, ACCT, AUTH_DEV_KEY, &e), 0);
    assert_int_equal(queue_service_open(&a->cfg, f->db, &a->auth, &a->s, &e),
                     0);
    /* account SAS, sv 2021-12-02 layout: ...\nsv\nses\n */
    acct = auth_find(&a->auth, ACCT);
    buf_adds(&sts, ACCT "\nrwdlacup\nq\nsco\n\n2099-01-01T00:00:00Z\n\n\n"
                        "2021-12-02\n\n");
    assert_int_equal(auth_sign(acct, 0, sts.data, sts.len, sig), 0);
    a->sas = (struct buf)BUF_INIT;
    buf_adds(&a->sas, "sv=2021-12-02&ss=q&srt=sco&sp=rwdlacup"
                      "&se=2099-01-01T00%3A00%3A00Z&sig=");
    codec_pct_encode(&a->sas, sig, strlen(sig), NULL);
    buf_release(&sts);
}

static void api_close(struct api *a)
{
    queue_service_close(a->s);
    auth_release(&a->auth);
    buf_release(&a->sas);
}

/* Run one request; returns the status, *body_out borrowed from req. */
static int call(struct api *a, const char *method, const char *path,
                const char *query, const char *body, bool signed_,
                struct http_req **req_out)
{
    char *target =
        xasprintf("%s?%s%s%s", path, query, query[0] && signed_ ? "&" : "",
                  signed_ ? a->sas.data : "");
    struct http_req *req = http_fake_new(method, target, NULL);

    free(target);
    http_fake_run(req, queue_service_http(a->s), body, body ? strlen(body) : 0);
    *req_out = req;
    return http_fake_status(req);
}

static void expect(struct api *a, const char *method, const char *path,
                   const char *query, const char *body, int status,
                   const char *code)
{
    struct http_req *req;
    int got = call(a, method, path, query, body, true, &req);
    const char *c = http_fake_resp_header(req, "x-ms-error-code");

    if (got != status || (code && (!c || strcmp(c, code) != 0)))
        fail_msg("%s %s?%s: %d %s, want %d %s", method, path, query, got,
                 c ? c : "-", status, code ? code : "-");
    http_fake_free(req);
}

static void test_api(void **state)
{
    struct fixture *f = *state;
    struct api a;
    struct http_req *req;
    const char *body;
    const char *msg = "<QueueMessage><MessageText>hi &amp; bye"
                      "</MessageText></QueueMessage>";

    api_open(f, &a);
    /* no credentials */
    assert_int_equal(call(&a, "PUT", "/" ACCT "/apiq", "", NULL, false, &req),
                     403);
    http_fake_free(req);
    expect(&a, "PUT", "/" ACCT "/apiq", "", NULL, 201, NULL);
    expect(&a, "PUT", "/" ACCT "/apiq", "timeout=30", NULL, 204, NULL);
    expect(&a, "POST", "/" ACCT "/apiq/messages", "", msg, 201, NULL);
    expect(&a, "POST", "/" ACCT "/apiq/messages", "", "<QueueMessage/>", 400,
           "InvalidXmlDocument");
    expect(&a, "POST", "/" ACCT "/apiq/messages", "",
           "<!DOCTYPE a [<!ENTITY e \"x\">]><QueueMessage><MessageText>&e;"
           "</MessageText></QueueMessage>",
           400, "InvalidXmlDocument");
    expect(&a, "POST", "/" ACCT "/nope/messages", "", msg, 404,
           "QueueNotFound");
    expect(&a, "GET", "/" ACCT "/apiq/messages", "numofmessages=33", NULL, 400,
           "OutOfRangeQueryParameterValue");
    expect(&a, "GET", "/" ACCT "/apiq/messages", "visibilitytimeout=x", NULL,
           400, "InvalidQueryParameterValue");
    expect(&a, "DELETE", "/" ACCT "/apiq/messages/x", "popreceipt=zz", NULL,
           400, "InvalidQueryParameterValue");
    expect(&a, "DELETE", "/" ACCT "/apiq/messages/x",
           "popreceipt=0000000000000000", NULL, 404, "MessageNotFound");
    expect(&a, "PUT", "/" ACCT "/Bad", "", NULL, 400, "InvalidResourceName");
    expect(&a, "GET", "/" ACCT "/apiq/messages/a/b", "", NULL, 400,
           "InvalidUri");
    expect(&a, "PATCH", "/" ACCT "/apiq", "", NULL, 405, "UnsupportedHttpVerb");

    /* get: the message, escaped, with a pop receipt and dequeue count */
    assert_int_equal(call(&a, "GET", "/" ACCT "/apiq/messages",
                          "numofmessages=32", NULL, true, &req),
                     200);
    body = http_fake_body(req);
    assert_non_null(strstr(body, "<MessageText>hi &amp; bye</MessageText>"));
    assert_non_null(strstr(body, "<DequeueCount>1</DequeueCount>"));
    assert_non_null(strstr(body, "<PopReceipt>"));
    http_fake_free(req);
    assert_int_equal(
        call(&a, "GET", "/" ACCT "/apiq", "comp=metadata", NULL, true, &req),
        200);
    assert_string_equal(
        http_fake_resp_header(req, "x-ms-approximate-messages-count"), "1");
    http_fake_free(req);
    assert_int_equal(call(&a, "GET", "/" ACCT, "comp=list&include=metadata",
                          NULL, true, &req),
                     200);
    assert_non_null(strstr(http_fake_body(req),
                           "<Queue><Name>apiq</Name><Metadata></Metadata>"));
    http_fake_free(req);
    expect(&a, "DELETE", "/" ACCT "/apiq/messages", "", NULL, 204, NULL);
    expect(&a, "DELETE", "/" ACCT "/apiq", "", NULL, 204, NULL);
    expect(&a, "DELETE", "/" ACCT "/apiq", "", NULL, 404, "QueueNotFound");
    api_close(&a);
}

static void test_put_local(void **state)
{
    struct fixture *f = *state;
    struct api a;
    struct err e = ERR_INIT;
    struct seen s;
    int64_t q;

    api_open(f, &a);
    assert_int_equal(queue_put_local(a.s, ACCT, "local", "m1", 2, false, &e),
                     -ERR_NOTFOUND);
    assert_int_equal(queue_put_local(a.s, ACCT, "local", "m1", 2, true, &e), 0);
    assert_int_equal(queue_put_local(a.s, ACCT, "local", "m2", 2, false, &e),
                     0);
    assert_int_equal(queue_put_local(a.s, ACCT, "x", "m", 1, true, &e),
                     -ERR_INVALID);
    db_lock(f->db);
    assert_int_equal(qstore_queue_id(f->db, ACCT, "local", &q, &e), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(
        qstore_msg_peek(f->db, q, 32, timefmt_now_ms(), collect, &s, &e), 0);
    db_unlock(f->db);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.text[0], "m1");
    assert_string_equal(s.text[1], "m2");
    api_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_and_pops),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_text_rules),
        cmocka_unit_test_setup_teardown(test_store_order_visibility, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_delete_update, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_sweep_batches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_acl_props, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_in_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_local, setup, teardown),
    };

    log_level_current = LOG_WARN;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
