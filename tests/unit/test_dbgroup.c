/*
 * test_dbgroup.c: group commit (db/dbgroup.c) against a real SQLite
 * database in a temporary directory.
 *
 *   - many threads x many ops, some failing after they wrote: every
 *     successful op is committed exactly once, and is already visible
 *     outside any transaction when dbgroup_run returns; failed ones left
 *     nothing and got their own error;
 *   - a lone op: success commits, failure leaves nothing, err may be NULL;
 *   - one group of several ops, formed deterministically by holding the
 *     leader inside an op while the others queue: they run and commit in
 *     arrival order, and a failing op in the middle rolls back alone;
 *   - COMMIT failure (a deferred foreign key checked at COMMIT): every op
 *     of the group gets the error and nothing of the group is on disk,
 *     alone and in a group; the next group commits normally;
 *   - a transaction SQLite abandoned mid-group: the ops after do not run
 *     in autocommit mode; all of the group fail and nothing is on disk;
 *   - asynchronous ops (dbgroup_submit): alone (the committer leads), in a
 *     group with blocking ones behind a held leader (one group, arrival
 *     order, each callback once with its own result, the row committed
 *     before the callback), and mixed with many blocking threads.
 *
 * No sleeps to wait for threads: the held leader signals a condition
 * variable, and queue lengths are polled with a deadline.
 */
#include "unit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "db/db.h"

struct fixture {
    char dir[64];
    char path[96];
    struct db *db;
    struct dbgroup *g;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct err e = ERR_INIT;
    const char *tmp = getenv("TMPDIR");

    snprintf(f->dir, sizeof(f->dir), "%s/shoal-tg-XXXXXX",
             tmp && strlen(tmp) < 30 ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/meta.db", f->dir);
    if (db_open(f->path, true, &f->db, &e) < 0)
        return -1;
    db_lock(f->db);
    if (db_exec(f->db,
                "CREATE TABLE ops(thread INTEGER NOT NULL,"
                " n INTEGER NOT NULL);"
                "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                "CREATE TABLE child(pid INTEGER NOT NULL REFERENCES"
                " parent(id) DEFERRABLE INITIALLY DEFERRED);",
                &e) < 0) {
        db_unlock(f->db);
        return -1;
    }
    db_unlock(f->db);
    f->g = dbgroup_new(f->db, "test");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[128];

    dbgroup_free(f->g);
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

/* ---- ops ----------------------------------------------------------------- */

enum kind {
    K_OK,       /* insert the row */
    K_REFUSE,   /* insert the row, then fail */
    K_NOTFOUND, /* fail without writing */
    K_DANGLING, /* insert the row and a child without parent: COMMIT fails */
    K_ABANDON,  /* insert the row, then end the transaction behind the
                 * group's back, as SQLite does on some errors */
    K_HOLD,     /* insert the row, then wait until released */
};

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered;
    bool open;
};

struct op {
    int thread, n;
    enum kind kind;
    struct gate *gate; /* K_HOLD */
};

static int insert_row(struct db *db, const struct op *o, struct err *err)
{
    sqlite3_stmt *st = db_stmt(db, "INSERT INTO ops(thread, n) VALUES(?, ?)");

    sqlite3_bind_int(st, 1, o->thread);
    sqlite3_bind_int(st, 2, o->n);
    return db_step_done(db, st, err);
}

static int op_fn(struct db *db, void *arg, struct err *err)
{
    struct op *o = arg;
    int rc;

    /* no cmocka asserts here: ops run on other threads */
    if (!err)
        return -ERR_INTERNAL;
    if (o->kind == K_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "NotThere", "op %d-%d not found",
                       o->thread, o->n);
    rc = insert_row(db, o, err);
    if (rc < 0)
        return rc;
    switch (o->kind) {
    case K_REFUSE:
        return err_set(err, ERR_INVALID, "Refused", "op %d-%d refused",
                       o->thread, o->n);
    case K_DANGLING: {
        sqlite3_stmt *st = db_stmt(db, "INSERT INTO child(pid) VALUES(?)");

        sqlite3_bind_int(st, 1, 1000000 + o->n);
        return db_step_done(db, st, err);
    }
    case K_ABANDON:
        return db_exec(db, "ROLLBACK", err);
    case K_HOLD:
        pthread_mutex_lock(&o->gate->mu);
        o->gate->entered = true;
        pthread_cond_broadcast(&o->gate->cv);
        while (!o->gate->open)
            pthread_cond_wait(&o->gate->cv, &o->gate->mu);
        pthread_mutex_unlock(&o->gate->mu);
        return 0;
    default:
        return 0;
    }
}

/*
 * Rows of thread/n now, from outside any transaction (takes the db lock;
 * between groups no transaction is open, so what it sees is committed).
 * -2 if a transaction is open after all. Safe on any thread.
 */
static int count_rows(struct db *db, int thread, int n)
{
    sqlite3_stmt *st;
    int c = -1;

    db_lock(db);
    if (!sqlite3_get_autocommit(db_handle(db))) {
        db_unlock(db);
        return -2;
    }
    st = db_stmt(db, "SELECT count(*) FROM ops WHERE thread=? AND n=?");
    sqlite3_bind_int(st, 1, thread);
    sqlite3_bind_int(st, 2, n);
    if (sqlite3_step(st) == SQLITE_ROW)
        c = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    db_unlock(db);
    return c;
}

static int count_sql(struct db *db, const char *sql)
{
    sqlite3_stmt *st;
    int c = -1;

    db_lock(db);
    st = db_stmt(db, sql);
    if (sqlite3_step(st) == SQLITE_ROW)
        c = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    db_unlock(db);
    return c;
}

/* ---- many threads -------------------------------------------------------- */

#define THREADS 8
#define OPS     150

static enum kind kind_of(int thread, int n)
{
    if ((n + thread) % 7 == 3)
        return K_REFUSE;
    if ((n + thread) % 11 == 5)
        return K_NOTFOUND;
    return K_OK;
}

struct worker {
    struct fixture *f;
    int thread;
    int ok;
    const char *bad; /* the first thing that went wrong, or NULL */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    for (int n = 0; n < OPS && !w->bad; n++) {
        struct op o = { w->thread, n, kind_of(w->thread, n), NULL };
        struct err e = ERR_INIT;
        int rc = dbgroup_run(w->f->g, op_fn, &o, &e);
        int rows = count_rows(w->f->db, w->thread, n);

        switch (o.kind) {
        case K_OK:
            if (rc != 0 || e.code != 0)
                w->bad = "a good op failed";
            else if (rows != 1)
                w->bad = "a good op is not committed exactly once";
            w->ok++;
            break;
        case K_REFUSE:
            if (rc != -ERR_INVALID || strcmp(e.svc, "Refused") != 0)
                w->bad = "a refused op did not get its own error";
            else if (rows != 0)
                w->bad = "a refused op left its row";
            break;
        default:
            if (rc != -ERR_NOTFOUND || strcmp(e.svc, "NotThere") != 0)
                w->bad = "a failing op did not get its own error";
            else if (rows != 0)
                w->bad = "a failing op left a row";
            break;
        }
    }
    return NULL;
}

static void test_many_threads(void **state)
{
    struct fixture *f = *state;
    struct worker w[THREADS];
    pthread_t th[THREADS];
    struct dbgroup_stats st;
    int ok = 0;

    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){ f, i, 0, NULL };
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        if (w[i].bad)
            fail_msg("thread %d: %s", i, w[i].bad);
        ok += w[i].ok;
    }
    /* Exactly the good ops, each once; nothing of the failed ones. */
    assert_int_equal(count_sql(f->db, "SELECT count(*) FROM ops"), ok);
    assert_int_equal(count_sql(f->db, "SELECT count(*) FROM (SELECT 1 FROM "
                                      "ops GROUP BY thread, n)"),
                     ok);
    for (int t = 0; t < THREADS; t++) {
        for (int n = 0; n < OPS; n++)
            assert_int_equal(count_rows(f->db, t, n),
                             kind_of(t, n) == K_OK ? 1 : 0);
    }
    dbgroup_get_stats(f->g, &st);
    assert_true(st.ops == THREADS * OPS);
    assert_true(st.groups >= 1 && st.groups <= st.ops);
    assert_true(st.queued == 0);
}

/* ---- a lone op ----------------------------------------------------------- */

static void test_lone_op(void **state)
{
    struct fixture *f = *state;
    struct op ok = { 1, 1, K_OK, NULL };
    struct op refuse = { 1, 2, K_REFUSE, NULL };
    struct op notfound = { 1, 3, K_NOTFOUND, NULL };
    struct err e = ERR_INIT;
    struct dbgroup_stats st;

    assert_int_equal(dbgroup_run(f->g, op_fn, &ok, &e), 0);
    assert_int_equal(e.code, 0);
    assert_int_equal(count_rows(f->db, 1, 1), 1);

    assert_int_equal(dbgroup_run(f->g, op_fn, &refuse, &e), -ERR_INVALID);
    assert_string_equal(e.svc, "Refused");
    assert_string_equal(e.msg, "op 1-2 refused");
    assert_int_equal(count_rows(f->db, 1, 2), 0);

    /* err may be NULL: the op still gets one to fill */
    assert_int_equal(dbgroup_run(f->g, op_fn, &notfound, NULL), -ERR_NOTFOUND);
    refuse.n = 4;
    assert_int_equal(dbgroup_run(f->g, op_fn, &refuse, NULL), -ERR_INVALID);
    assert_int_equal(count_rows(f->db, 1, 4), 0);

    dbgroup_get_stats(f->g, &st);
    assert_true(st.groups == 4 && st.ops == 4 && st.queued == 0);
}

/* ---- one group, formed on purpose ---------------------------------------- */

struct runner {
    struct fixture *f;
    struct op o;
    int rc;
    struct err e;
    pthread_t th;
};

static void *runner_main(void *arg)
{
    struct runner *r = arg;

    r->rc = dbgroup_run(r->f->g, op_fn, &r->o, &r->e);
    return NULL;
}

static void start_runner(struct fixture *f, struct runner *r, int n,
                         enum kind kind, struct gate *gate)
{
    memset(r, 0, sizeof(*r));
    r->f = f;
    r->o = (struct op){ 9, n, kind, gate };
    r->rc = 1;
    assert_int_equal(pthread_create(&r->th, NULL, runner_main, r), 0);
}

/* Wait (with a deadline) until n ops are queued behind the held leader. */
static void wait_queued(struct dbgroup *g, size_t n)
{
    struct timespec pause = { 0, 1000000 };

    for (int i = 0; i < 10000; i++) {
        struct dbgroup_stats st;

        dbgroup_get_stats(g, &st);
        if (st.queued == n)
            return;
        nanosleep(&pause, NULL);
    }
    fail_msg("%zu ops never queued", n);
}

/*
 * Op 0 (K_HOLD) leads a group of its own and stays inside it; kinds[]
 * queue behind it one by one, in this order, then the gate opens and they
 * run as one group. Fills r[0..1+nk).
 */
static void run_held_group(struct fixture *f, struct runner *r,
                           const enum kind *kinds, size_t nk)
{
    struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                         false, false };
    struct dbgroup_stats before, after;

    dbgroup_get_stats(f->g, &before);
    start_runner(f, &r[0], 0, K_HOLD, &gate);
    pthread_mutex_lock(&gate.mu);
    while (!gate.entered)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    for (size_t i = 0; i < nk; i++) {
        start_runner(f, &r[1 + i], (int)(1 + i), kinds[i], NULL);
        wait_queued(f->g, i + 1);
    }
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    for (size_t i = 0; i < 1 + nk; i++)
        pthread_join(r[i].th, NULL);
    dbgroup_get_stats(f->g, &after);
    /* the held op's group, then all of kinds[] in one */
    assert_true(after.groups - before.groups == 2);
    assert_true(after.ops - before.ops == 1 + nk);
    pthread_mutex_destroy(&gate.mu);
    pthread_cond_destroy(&gate.cv);
}

/* The rows of run_held_group's ops (thread 9), in commit order: want[]. */
static void expect_held_rows(struct db *db, const int *want, int nwant)
{
    sqlite3_stmt *st;
    int seen[16], nseen = 0;

    db_lock(db);
    st = db_stmt(db, "SELECT n FROM ops WHERE thread=9 ORDER BY rowid");
    while (sqlite3_step(st) == SQLITE_ROW && nseen < 16)
        seen[nseen++] = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    db_unlock(db);
    assert_int_equal(nseen, nwant);
    for (int i = 0; i < nwant; i++)
        assert_int_equal(seen[i], want[i]);
}

static void test_group_order_and_savepoints(void **state)
{
    static const enum kind kinds[] = { K_OK, K_REFUSE, K_OK, K_NOTFOUND, K_OK };
    struct fixture *f = *state;
    static const int order[] = { 0, 1, 3, 5 }; /* 2, 4 failed */
    struct runner r[6];

    run_held_group(f, r, kinds, 5);
    assert_int_equal(r[0].rc, 0);
    assert_int_equal(r[1].rc, 0);
    assert_int_equal(r[2].rc, -ERR_INVALID);
    assert_string_equal(r[2].e.svc, "Refused");
    assert_int_equal(r[3].rc, 0);
    assert_int_equal(r[4].rc, -ERR_NOTFOUND);
    assert_string_equal(r[4].e.svc, "NotThere");
    assert_int_equal(r[5].rc, 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r[i].e.code, r[i].rc < 0 ? -r[i].rc : 0);

    /* committed in arrival order (rowids), the failed ones absent */
    expect_held_rows(f->db, order, 4);
}

/* ---- COMMIT failure ------------------------------------------------------ */

static void test_commit_failure_alone(void **state)
{
    struct fixture *f = *state;
    struct op bad = { 2, 1, K_DANGLING, NULL };
    struct op ok = { 2, 2, K_OK, NULL };
    struct err e = ERR_INIT;

    assert_int_equal(dbgroup_run(f->g, op_fn, &bad, &e), -ERR_CONFLICT);
    assert_int_equal(e.code, ERR_CONFLICT);
    assert_int_equal(count_rows(f->db, 2, 1), 0);
    assert_int_equal(count_sql(f->db, "SELECT count(*) FROM child"), 0);
    /* nothing left open: the next op commits */
    assert_int_equal(dbgroup_run(f->g, op_fn, &ok, &e), 0);
    assert_int_equal(count_rows(f->db, 2, 2), 1);
}

static void test_commit_failure_in_group(void **state)
{
    static const enum kind kinds[] = { K_OK, K_DANGLING, K_OK, K_REFUSE };
    struct fixture *f = *state;
    struct runner r[5];
    struct op ok = { 9, 10, K_OK, NULL };
    struct err e = ERR_INIT;

    run_held_group(f, r, kinds, 4);
    assert_int_equal(r[0].rc, 0); /* its own group, committed before */
    for (int i = 1; i < 5; i++) {
        /* every op of the group, the refused one included */
        assert_int_equal(r[i].rc, -ERR_CONFLICT);
        assert_int_equal(r[i].e.code, ERR_CONFLICT);
    }
    assert_int_equal(count_sql(f->db, "SELECT count(*) FROM ops"), 1);
    assert_int_equal(count_rows(f->db, 9, 0), 1);
    assert_int_equal(count_sql(f->db, "SELECT count(*) FROM child"), 0);
    assert_int_equal(dbgroup_run(f->g, op_fn, &ok, &e), 0);
    assert_int_equal(count_rows(f->db, 9, 10), 1);
}

/* ---- a transaction abandoned mid-group ----------------------------------- */

static void test_abandoned_transaction(void **state)
{
    static const enum kind kinds[] = { K_OK, K_ABANDON, K_OK };
    struct fixture *f = *state;
    struct runner r[4];
    struct op ok = { 9, 10, K_OK, NULL };
    struct err e = ERR_INIT;

    run_held_group(f, r, kinds, 3);
    assert_int_equal(r[0].rc, 0);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(r[i].rc, -ERR_IO);
        assert_int_equal(r[i].e.code, ERR_IO);
    }
    /* the op after the abandon did not run in autocommit mode */
    assert_int_equal(count_sql(f->db, "SELECT count(*) FROM ops"), 1);
    assert_int_equal(dbgroup_run(f->g, op_fn, &ok, &e), 0);
    assert_int_equal(count_rows(f->db, 9, 10), 1);
}

/* ---- asynchronous ops ---------------------------------------------------- */

struct aop {
    struct dbgroup_op gop;
    struct op o;
    struct err e;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *left;     /* callbacks still to come (mu) */
    int rc;
    int calls;     /* callbacks seen (mu) */
    int rows;      /* the op's rows when its callback ran */
};

static struct db *aop_db; /* the fixture's db, for aop_done's count */

static void aop_done_count(struct dbgroup_op *gop, int rc)
{
    struct aop *a = (struct aop *)gop;

    a->rows = count_rows(aop_db, a->o.thread, a->o.n);
    pthread_mutex_lock(a->mu);
    a->rc = rc;
    a->calls++;
    (*a->left)--;
    pthread_cond_broadcast(a->cv);
    pthread_mutex_unlock(a->mu);
}

static void submit_all(struct fixture *f, struct aop *a, size_t n,
                       pthread_mutex_t *mu, pthread_cond_t *cv, int *left)
{
    aop_db = f->db;
    for (size_t i = 0; i < n; i++) {
        a[i].mu = mu;
        a[i].cv = cv;
        a[i].left = left;
        a[i].rc = 1;
        a[i].e = (struct err)ERR_INIT;
        pthread_mutex_lock(mu);
        (*left)++;
        pthread_mutex_unlock(mu);
        dbgroup_submit(f->g, &a[i].gop, op_fn, &a[i].o, &a[i].e,
                       aop_done_count);
    }
}

static void wait_callbacks(pthread_mutex_t *mu, pthread_cond_t *cv, int *left)
{
    pthread_mutex_lock(mu);
    while (*left > 0)
        pthread_cond_wait(cv, mu);
    pthread_mutex_unlock(mu);
}

/* Nobody else writes: the committer thread leads each group. */
static void test_async_alone(void **state)
{
    struct fixture *f = *state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct aop a[3];
    int left = 0;

    memset(a, 0, sizeof(a));
    a[0].o = (struct op){ 5, 1, K_OK, NULL };
    a[1].o = (struct op){ 5, 2, K_REFUSE, NULL };
    a[2].o = (struct op){ 5, 3, K_NOTFOUND, NULL };
    submit_all(f, a, 3, &mu, &cv, &left);
    wait_callbacks(&mu, &cv, &left);
    assert_int_equal(a[0].rc, 0);
    assert_int_equal(a[0].rows, 1); /* committed before its callback */
    assert_int_equal(a[1].rc, -ERR_INVALID);
    assert_string_equal(a[1].e.svc, "Refused");
    assert_int_equal(a[1].rows, 0);
    assert_int_equal(a[2].rc, -ERR_NOTFOUND);
    assert_string_equal(a[2].e.svc, "NotThere");
    for (int i = 0; i < 3; i++)
        assert_int_equal(a[i].calls, 1);
    assert_int_equal(count_rows(f->db, 5, 1), 1);
    assert_int_equal(count_rows(f->db, 5, 2), 0);
}

/*
 * A blocking op holds its group; asynchronous and blocking ops queue
 * behind it, interleaved; released, they all run as one group, in
 * arrival order, and each gets its own result once.
 */
static void test_async_in_held_group(void **state)
{
    struct fixture *f = *state;
    struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                         false, false };
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct runner r[3];
    struct aop a[3];
    struct dbgroup_stats before, after;
    int left = 0;
    static const int order[] = { 0, 1, 2, 5, 6 }; /* 3, 4 failed */

    memset(a, 0, sizeof(a));
    dbgroup_get_stats(f->g, &before);
    start_runner(f, &r[0], 0, K_HOLD, &gate);
    pthread_mutex_lock(&gate.mu);
    while (!gate.entered)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    /* queue: async 1, blocking 2, async 3 (refused), async 4 (not found),
     * blocking 5, async 6 */
    a[0].o = (struct op){ 9, 1, K_OK, NULL };
    submit_all(f, &a[0], 1, &mu, &cv, &left);
    wait_queued(f->g, 1);
    start_runner(f, &r[1], 2, K_OK, NULL);
    wait_queued(f->g, 2);
    a[1].o = (struct op){ 9, 3, K_REFUSE, NULL };
    submit_all(f, &a[1], 1, &mu, &cv, &left);
    wait_queued(f->g, 3);
    {
        static struct aop nf; /* not found: writes nothing */

        memset(&nf, 0, sizeof(nf));
        nf.o = (struct op){ 9, 4, K_NOTFOUND, NULL };
        submit_all(f, &nf, 1, &mu, &cv, &left);
        wait_queued(f->g, 4);
        start_runner(f, &r[2], 5, K_OK, NULL);
        wait_queued(f->g, 5);
        a[2].o = (struct op){ 9, 6, K_OK, NULL };
        submit_all(f, &a[2], 1, &mu, &cv, &left);
        wait_queued(f->g, 6);
        pthread_mutex_lock(&gate.mu);
        gate.open = true;
        pthread_cond_broadcast(&gate.cv);
        pthread_mutex_unlock(&gate.mu);
        for (int i = 0; i < 3; i++)
            pthread_join(r[i].th, NULL);
        wait_callbacks(&mu, &cv, &left);
        assert_int_equal(nf.rc, -ERR_NOTFOUND);
        assert_int_equal(nf.calls, 1);
    }
    dbgroup_get_stats(f->g, &after);
    assert_true(after.groups - before.groups == 2);
    assert_true(after.ops - before.ops == 7);
    assert_int_equal(r[0].rc, 0);
    assert_int_equal(r[1].rc, 0);
    assert_int_equal(r[2].rc, 0);
    assert_int_equal(a[0].rc, 0);
    assert_int_equal(a[0].rows, 1);
    assert_int_equal(a[1].rc, -ERR_INVALID);
    assert_int_equal(a[2].rc, 0);
    assert_int_equal(a[2].rows, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(a[i].calls, 1);
    expect_held_rows(f->db, order, 5);
    pthread_mutex_destroy(&gate.mu);
    pthread_cond_destroy(&gate.cv);
}

/* Blocking threads and a stream of asynchronous ops at once. */
#define AOPS 400

static void test_async_mixed(void **state)
{
    struct fixture *f = *state;
    struct worker w[THREADS];
    pthread_t th[THREADS];
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct aop *a = xcalloc(AOPS, sizeof(*a));
    int left = 0;

    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){ f, i, 0, NULL };
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < AOPS; i++)
        a[i].o = (struct op){ 100, i, kind_of(100, i), NULL };
    submit_all(f, a, AOPS, &mu, &cv, &left);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].bad)
            fail_msg("thread %d: %s", i, w[i].bad);
    }
    wait_callbacks(&mu, &cv, &left);
    for (int i = 0; i < AOPS; i++) {
        enum kind k = a[i].o.kind;

        assert_int_equal(a[i].calls, 1);
        assert_int_equal(a[i].rc, k == K_OK         ? 0
                                  : k == K_REFUSE ? -ERR_INVALID
                                                  : -ERR_NOTFOUND);
        assert_int_equal(a[i].rows, k == K_OK ? 1 : 0);
        assert_int_equal(count_rows(f->db, 100, i), k == K_OK ? 1 : 0);
    }
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_many_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lone_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_order_and_savepoints, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_in_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_async_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_in_held_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_async_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandoned_transaction, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
