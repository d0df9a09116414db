/*
 * qcommit.c: group commit for the queue service's writes.
 *
 * With synchronous=FULL every COMMIT is an fsync of the WAL. One
 * transaction per request would make the fsync the ceiling of the whole
 * service (a few hundred to a few thousand requests/s depending on the
 * disk), so concurrent writes share transactions:
 *
 *   caller A: append op_a; nobody committing -> A leads:
 *             take [op_a], db_lock, BEGIN, run op_a, COMMIT (fsync) ...
 *   callers B, C, D arrive meanwhile: append, wait on cv
 *   A: done; mark op_a, wake all; B finds nobody committing -> B leads:
 *             take [op_b, op_c, op_d], one BEGIN ... COMMIT for the three
 *
 * No timer and no extra thread: a batch is whatever arrived during the
 * previous commit, so a lone request pays one commit and a busy service
 * pays one commit per batch. Each op runs in its own SAVEPOINT, so a
 * failing op (queue not found, pop receipt mismatch) rolls back only its
 * own writes and the others still commit. If BEGIN or COMMIT fails, every
 * op of the batch gets that error: none of them is acknowledged, and none
 * of them is on disk (COMMIT failure rolls back).
 *
 * Structures: struct qcommit (queueint.h) holds a FIFO of pending ops
 * (head/tail, under mu) and busy, true while a leader runs a batch. A
 * struct qcommit_op lives on its caller's stack; the caller is blocked in
 * qcommit_run until done is set, so the leader may use it freely.
 *
 * Invariants: an op is in exactly one of: the pending list, a leader's
 * batch, done. At most one leader at a time (busy). The leader never holds
 * mu while it holds the db lock, so callers can always enqueue.
 *
 * Threads: qcommit_run from any number of threads. Ops run on the leader's
 * thread: an op's fn must only use its arg and the db.
 */
#include "queue/queueint.h"

#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "db/db.h"

struct qcommit_op {
    int (*fn)(struct db *db, void *arg, struct err *err);
    void *arg;
    struct err *err;
    int rc;
    bool done;
    struct qcommit_op *next;
};

void qcommit_init(struct qcommit *c, struct db *db)
{
    memset(c, 0, sizeof(*c));
    c->db = db;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->head = NULL;
    c->tail = &c->head;
}

void qcommit_release(struct qcommit *c)
{
    if (c->ops)
        log_info("queue group commit stats batches=%llu ops=%llu",
                 (unsigned long long)c->batches, (unsigned long long)c->ops);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static void fail_all(struct qcommit_op *batch, int rc, const struct err *e)
{
    for (struct qcommit_op *op = batch; op; op = op->next) {
        op->rc = rc;
        if (op->err && e)
            *op->err = *e;
    }
}

/*
 * Savepoint statements are cached like any other; when the batch holds a
 * single op the outer transaction serves as its savepoint.
 */
static void run_one(struct db *db, struct qcommit_op *op, bool savepoint)
{
    struct err scratch = ERR_INIT;
    struct err *e = op->err ? op->err : &scratch;

    if (savepoint && db_step_done(db, db_stmt(db, "SAVEPOINT qop"), e) < 0) {
        op->rc = -e->code;
        return;
    }
    op->rc = op->fn(db, op->arg, e);
    if (!savepoint)
        return;
    if (op->rc < 0)
        db_step_done(db, db_stmt(db, "ROLLBACK TO qop"), NULL);
    db_step_done(db, db_stmt(db, "RELEASE qop"), NULL);
}

static void run_batch(struct qcommit *c, struct qcommit_op *batch)
{
    struct err e = ERR_INIT;
    bool many = batch->next != NULL;
    bool single_failed;
    int rc;

    db_lock(c->db);
    rc = db_begin(c->db, &e);
    if (rc < 0) {
        fail_all(batch, rc, &e);
        goto out;
    }
    for (struct qcommit_op *op = batch; op; op = op->next) {
        /*
         * Some SQLite errors (disk full, I/O) roll the whole transaction
         * back: the ops after would then run in autocommit mode, be
         * durable and yet be reported failed. Stop instead.
         */
        if (sqlite3_get_autocommit(db_handle(c->db))) {
            err_set(&e, ERR_IO, "InternalError",
                    "transaction aborted by an earlier error");
            fail_all(batch, -ERR_IO, &e);
            goto out;
        }
        run_one(c->db, op, many);
    }
    if (sqlite3_get_autocommit(db_handle(c->db))) {
        err_set(&e, ERR_IO, "InternalError",
                "transaction aborted by an earlier error");
        fail_all(batch, -ERR_IO, &e);
        goto out;
    }
    /* A lone failed op: nothing of it may be committed. */
    single_failed = !many && batch->rc < 0;
    if (single_failed) {
        db_rollback(c->db);
        goto out;
    }
    rc = db_commit(c->db, &e);
    if (rc < 0) {
        log_error("queue commit failed code=%s msg=%s", err_code_name(rc),
                  e.msg);
        fail_all(batch, rc, &e);
    }
out:
    db_unlock(c->db);
}

int qcommit_run(struct qcommit *c,
                int (*fn)(struct db *db, void *arg, struct err *err), void *arg,
                struct err *err)
{
    struct qcommit_op op;

    memset(&op, 0, sizeof(op));
    op.fn = fn;
    op.arg = arg;
    op.err = err;
    pthread_mutex_lock(&c->mu);
    *c->tail = &op;
    c->tail = &op.next;
    while (!op.done) {
        struct qcommit_op *batch;
        uint64_t n = 0;

        if (c->busy) {
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        /* Lead: take everything pending (our own op included). */
        c->busy = true;
        batch = c->head;
        c->head = NULL;
        c->tail = &c->head;
        pthread_mutex_unlock(&c->mu);
        run_batch(c, batch);
        pthread_mutex_lock(&c->mu);
        for (struct qcommit_op *o = batch, *next; o; o = next) {
            next = o->next; /* o may vanish as soon as done is set */
            o->next = NULL;
            o->done = true;
            n++;
        }
        c->batches++;
        c->ops += n;
        c->busy = false;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return op.rc;
}
