/*
 * dbgroup.c: group commit: the writes of many threads share one
 * transaction and one fsync (DESIGN.md, "Scheduling").
 *
 * With synchronous=FULL every COMMIT is an fsync of the WAL. One
 * transaction per request would make the fsync the ceiling of a whole
 * service (a few hundred to a few thousand writes/s depending on the
 * disk), so concurrent writes share transactions:
 *
 *   caller A: queue op_a; no group running -> A leads:
 *             take [op_a], db_lock, BEGIN, run op_a, COMMIT (fsync) ...
 *   callers B, C, D arrive meanwhile: queue, each waits on its op's cv
 *   A: done; mark op_a, wake B (the oldest queued) -> B leads:
 *             take [op_b, op_c, op_d], one BEGIN ... COMMIT for the three,
 *             then wake C and D (done) and whoever queued meanwhile
 *
 * Each op has its own condition variable, so a commit wakes exactly the
 * callers it finished plus one new leader; a shared one woke every
 * waiting thread after every group (on two cores, a storm of context
 * switches that stretched each group).
 *
 * No timer and no extra thread: a group is whatever queued during the
 * previous one, so a lone request pays one commit and a busy service pays
 * one commit per group. Each op runs in its own SAVEPOINT, so a failing op
 * (queue not found, lease mismatch) rolls back only its own writes and the
 * others still commit; a group of one op skips the savepoint, the
 * transaction serves as one. A group in which no op succeeded ends with
 * ROLLBACK rather than an empty COMMIT.
 *
 * If BEGIN or COMMIT fails, or an error makes SQLite abandon the
 * transaction (disk full, I/O: it rolls back on its own, and the ops
 * after would then run in autocommit mode, durable yet reported failed),
 * the leader stops, rolls back, and every op of the group gets that
 * error: none is acknowledged and none is on disk. The same goes when a
 * failed op's savepoint cannot be rolled back: its writes must not be
 * committed with the others.
 *
 * Structures: struct dbgroup holds a FIFO of queued ops (head/tail, under
 * mu) and busy, true while a leader runs a group. A struct dbgroup_op
 * lives on its caller's stack; the caller is blocked in dbgroup_run until
 * done is set, so the leader may use it freely until then, and must not
 * touch it after.
 *
 *   queued --(a leader takes the queue)--> running --(COMMIT/ROLLBACK)-->
 *   done (the caller returns)
 *
 * Invariants: an op is in exactly one of: the queue, a leader's group,
 * done. At most one leader per group object (busy). The leader never holds
 * mu while it holds the db lock, so callers can always queue. Groups of
 * different dbgroup objects on one db take turns on the db lock.
 *
 * Threads: dbgroup_run and dbgroup_get_stats from any number of threads;
 * dbgroup_new and dbgroup_free bracket the group's life. Ops run on the
 * leader's thread.
 */
#include "db/db.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

struct dbgroup_op {
    int (*fn)(struct db *db, void *arg, struct err *err);
    void *arg;
    struct err *err; /* the caller's, or NULL */
    int rc;
    bool done;
    pthread_cond_t cv; /* signalled when done, or when it is to lead */
    struct dbgroup_op *next;
};

struct dbgroup {
    struct db *db;
    const char *name;
    pthread_mutex_t mu;
    struct dbgroup_op *head; /* queued ops, in arrival order (mu) */
    struct dbgroup_op **tail;
    size_t queued;
    bool busy;                 /* a leader is running a group (mu) */
    unsigned long long groups; /* statistics (mu) */
    unsigned long long ops;
};

struct dbgroup *dbgroup_new(struct db *db, const char *name)
{
    struct dbgroup *g = xcalloc(1, sizeof(*g));

    g->db = db;
    g->name = name;
    pthread_mutex_init(&g->mu, NULL);
    g->head = NULL;
    g->tail = &g->head;
    return g;
}

void dbgroup_free(struct dbgroup *g)
{
    if (!g)
        return;
    ASSERT(!g->busy && !g->head);
    if (g->ops)
        log_info("group commit stats name=%s groups=%llu ops=%llu", g->name,
                 g->groups, g->ops);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void fail_all(struct dbgroup_op *list, int rc, const struct err *e)
{
    for (struct dbgroup_op *op = list; op; op = op->next) {
        op->rc = rc;
        if (op->err)
            *op->err = *e;
    }
}

/* Whether SQLite has rolled the group's transaction back on its own. */
static bool tx_lost(struct db *db)
{
    return sqlite3_get_autocommit(db_handle(db)) != 0;
}

/*
 * Run one op, in a savepoint unless it is alone. Returns -1 when a failed
 * op's writes could not be undone alone (the group must not commit).
 * Savepoint statements are cached like any other.
 */
static int run_one(struct db *db, struct dbgroup_op *op, bool savepoint)
{
    struct err scratch = ERR_INIT;
    struct err *e = op->err ? op->err : &scratch;

    if (savepoint) {
        op->rc = db_step_done(db, db_stmt(db, "SAVEPOINT dbgroup_op"), e);
        if (op->rc < 0)
            return 0; /* nothing of the op ran */
    }
    op->rc = op->fn(db, op->arg, e);
    ASSERT(op->rc <= 0);
    if (!savepoint)
        return 0;
    if (op->rc < 0 &&
        db_step_done(db, db_stmt(db, "ROLLBACK TO dbgroup_op"), NULL) < 0)
        return -1;
    if (db_step_done(db, db_stmt(db, "RELEASE dbgroup_op"), NULL) < 0)
        return -1;
    return 0;
}

/* Run a group: every op of list in one transaction (the leader, no mu). */
static void run_group(struct dbgroup *g, struct dbgroup_op *list)
{
    struct err e = ERR_INIT;
    bool many = list->next != NULL;
    bool any_ok = false;
    int rc;

    db_lock(g->db);
    rc = db_begin(g->db, &e);
    if (rc < 0) {
        fail_all(list, rc, &e);
        goto out;
    }
    for (struct dbgroup_op *op = list; op; op = op->next) {
        if (run_one(g->db, op, many) < 0 || tx_lost(g->db))
            goto lost;
        if (op->rc == 0)
            any_ok = true;
    }
    if (!any_ok) {
        db_rollback(g->db);
        goto out;
    }
    rc = db_commit(g->db, &e); /* rolls back on failure */
    if (rc < 0) {
        log_error("group commit failed name=%s code=%s msg=%s", g->name,
                  err_code_name(rc), e.msg);
        fail_all(list, rc, &e);
    }
    goto out;
lost:
    db_rollback(g->db);
    err_set(&e, ERR_IO, "InternalError",
            "transaction aborted by an earlier error");
    log_error("group commit aborted name=%s", g->name);
    fail_all(list, -ERR_IO, &e);
out:
    db_unlock(g->db);
}

int dbgroup_run(struct dbgroup *g,
                int (*fn)(struct db *db, void *arg, struct err *err), void *arg,
                struct err *err)
{
    struct dbgroup_op op;

    memset(&op, 0, sizeof(op));
    op.fn = fn;
    op.arg = arg;
    op.err = err;
    pthread_cond_init(&op.cv, NULL);
    pthread_mutex_lock(&g->mu);
    *g->tail = &op;
    g->tail = &op.next;
    g->queued++;
    while (!op.done) {
        struct dbgroup_op *list;
        unsigned long long n = 0;

        if (g->busy) {
            pthread_cond_wait(&op.cv, &g->mu);
            continue;
        }
        /* Lead: take everything queued (our own op included). */
        g->busy = true;
        list = g->head;
        g->head = NULL;
        g->tail = &g->head;
        g->queued = 0;
        pthread_mutex_unlock(&g->mu);
        run_group(g, list);
        pthread_mutex_lock(&g->mu);
        /*
         * Wake each caller of the group, and only them: a caller cannot
         * leave dbgroup_run (and free its op) before we drop mu.
         */
        for (struct dbgroup_op *o = list, *next; o; o = next) {
            next = o->next;
            o->next = NULL;
            o->done = true;
            if (o != &op)
                pthread_cond_signal(&o->cv);
            n++;
        }
        g->groups++;
        g->ops += n;
        g->busy = false;
        /* Hand the lead to the oldest op that queued meanwhile. */
        if (g->head)
            pthread_cond_signal(&g->head->cv);
    }
    pthread_mutex_unlock(&g->mu);
    pthread_cond_destroy(&op.cv);
    return op.rc;
}

void dbgroup_get_stats(struct dbgroup *g, struct dbgroup_stats *out)
{
    pthread_mutex_lock(&g->mu);
    out->groups = g->groups;
    out->ops = g->ops;
    out->queued = g->queued;
    pthread_mutex_unlock(&g->mu);
}
