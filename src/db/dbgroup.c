/*
 * dbgroup.c: group commit: the writes of many threads share one
 * transaction and one flush of the WAL (DESIGN.md, "Scheduling").
 *
 * A durable commit costs an fdatasync of the WAL (db_flush). One
 * transaction per request would make that flush the ceiling of a whole
 * service (a few hundred to a few thousand writes/s depending on the
 * disk), so concurrent writes share transactions:
 *
 *   caller A: queue op_a; no group running -> A leads:
 *             take [op_a], db_lock, BEGIN, run op_a, COMMIT, db_unlock,
 *             flush ...
 *   callers B, C, D arrive meanwhile: queue, each waits on its op's word
 *   A: flushed; wake B (the oldest queued) to lead, then finish op_a
 *   B leads: take [op_b, op_c, op_d], one BEGIN ... COMMIT and one flush
 *             for the three, then wake C and D and whoever queued meanwhile
 *
 * The flush runs without the db lock (readers, and other groups, go on
 * during it) but before the next group of the same dbgroup starts, so
 * what queues during a flush joins the next group (lead() says why).
 *
 * Two kinds of callers share the queue. dbgroup_run blocks its thread
 * until its op is over (and may lead). dbgroup_submit queues an op with a
 * completion callback and returns at once: an HTTP worker serving many
 * connections hands its write over and parks the request (http_wait)
 * instead of blocking. An asynchronous op has no thread to lead with, so
 * each dbgroup has a committer thread: it leads whenever the oldest queued
 * op is asynchronous and nobody leads; the callbacks run on whichever
 * thread led the group.
 *
 * Waiting: each op has its own futex word (core/futex.h), so a commit wakes
 * exactly the callers it finished plus one new leader, and a woken caller
 * takes no lock on its way out (with a condition variable under the
 * group's mutex, each woken caller queued for that mutex again).
 *
 * No timer: a group is whatever queued during the previous one, so a lone
 * request pays one commit and a busy service pays one commit per group.
 * Each op runs in its own SAVEPOINT, so a failing op (queue not found,
 * lease mismatch) rolls back only its own writes and the others still
 * commit; a group of one op skips the savepoint, the transaction serves as
 * one. A group in which no op succeeded ends with ROLLBACK rather than an
 * empty COMMIT.
 *
 * If BEGIN or COMMIT fails, or an error makes SQLite abandon the
 * transaction (disk full, I/O: it rolls back on its own, and the ops
 * after would then run in autocommit mode, durable yet reported failed),
 * the leader stops, rolls back, and every op of the group gets that
 * error: none is acknowledged and none is on disk. The same goes when a
 * failed op's savepoint cannot be rolled back: its writes must not be
 * committed with the others. If the flush fails, every op of the group
 * gets -ERR_IO (and, db.c says why, so does every later one).
 *
 * Structures: struct dbgroup holds a FIFO of queued ops (head/tail, under
 * mu) and busy, true while a leader runs a group. A struct dbgroup_op
 * lives on its dbgroup_run caller's stack (blocked until its state is
 * OP_DONE) or in a dbgroup_submit caller's request (kept until its
 * callback): the leader may use it freely until it finishes it, and must
 * not touch it after.
 *
 *   queued --(a leader takes the queue)--> running --(COMMIT, flush)-->
 *   done (the caller returns, or its callback runs)
 *
 * Invariants: an op is in exactly one of: the queue, a leader's group,
 * done. At most one leader per group object (busy). The leader never holds
 * mu while it holds the db lock, so callers can always queue. Groups of
 * different dbgroup objects on one db take turns on the db lock.
 *
 * Threads: dbgroup_run, dbgroup_submit and dbgroup_get_stats from any
 * number of threads; dbgroup_new and dbgroup_free (which joins the
 * committer; no op may be pending) bracket the group's life. Ops run on
 * the leader's thread.
 */
#include "db/db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/futex.h"
#include "core/log.h"
#include "core/mem.h"

enum op_state {
    OP_QUEUED = 0, /* waiting (in the queue, or in a leader's group) */
    OP_LEAD,       /* handed the lead: take the queue and run it */
    OP_DONE,       /* rc is final; the caller returns */
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

    /* The committer: leads groups whose oldest op is asynchronous. */
    pthread_t committer;
    atomic_int kick; /* an event count: work for the committer */
    bool stop;       /* (mu) */
};

static void *committer_main(void *arg);

struct dbgroup *dbgroup_new(struct db *db, const char *name)
{
    struct dbgroup *g = xcalloc(1, sizeof(*g));

    g->db = db;
    g->name = name;
    pthread_mutex_init(&g->mu, NULL);
    g->head = NULL;
    g->tail = &g->head;
    if (pthread_create(&g->committer, NULL, committer_main, g) != 0)
        BUG("cannot start a group committer thread");
    return g;
}

void dbgroup_free(struct dbgroup *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_mutex_unlock(&g->mu);
    futex_event_signal(&g->kick, 1);
    pthread_join(g->committer, NULL);
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

/*
 * Run a group: every op of list in one transaction (the leader, no mu).
 * Returns the commit's flush ticket, or 0 when nothing was committed (the
 * ops' rc are then final).
 */
static uint64_t run_group(struct dbgroup *g, struct dbgroup_op *list)
{
    uint64_t ticket = 0;
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
    rc = db_commit_ticket(g->db, &ticket, &e); /* rolls back on failure */
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
    return ticket;
}

/* Wait until the group's commit is on disk; fail its ops if it cannot be. */
static void flush_group(struct dbgroup *g, struct dbgroup_op *list,
                        uint64_t ticket)
{
    struct err e = ERR_INIT;
    int rc;

    if (!ticket)
        return;
    rc = db_flush(g->db, ticket, &e);
    if (rc < 0) {
        log_error("group flush failed name=%s", g->name);
        fail_all(list, rc, &e);
    }
}

/* Set an op's state and wake its caller (core/futex.h: store, then wake). */
static void op_post(atomic_int *word, int v)
{
    atomic_store_explicit(word, v, memory_order_release);
    futex_wake_one(word);
}

/*
 * Lead one group (mu held, busy set; returns with mu released): take the
 * queue, run it, flush, hand the lead on, then finish the ops. self is
 * the leader's own op (a dbgroup_run caller's), not to be woken; NULL for
 * the committer.
 */
static void lead(struct dbgroup *g, struct dbgroup_op *self)
{
    struct dbgroup_op *list, *next_lead;
    unsigned long long n = 0;
    uint64_t ticket;
    bool kick;

    list = g->head;
    g->head = NULL;
    g->tail = &g->head;
    g->queued = 0;
    pthread_mutex_unlock(&g->mu);
    ticket = run_group(g, list);
    /*
     * The flush runs without the db lock (readers and other groups go
     * on) but before the next group of g starts: what queues meanwhile
     * joins the next group. Starting it at once was tried: it overlapped
     * the next group's statements with this flush, but the groups came
     * out four times smaller and cost more CPU than the overlap saved.
     */
    flush_group(g, list, ticket);
    for (struct dbgroup_op *o = list; o; o = o->next)
        n++;
    pthread_mutex_lock(&g->mu);
    g->groups++;
    g->ops += n;
    /*
     * The oldest op queued meanwhile leads next, busy staying set for it;
     * an asynchronous one has no thread waiting: the committer leads.
     */
    next_lead = g->head;
    kick = false;
    if (next_lead && next_lead->done) {
        next_lead = NULL;
        g->busy = false;
        kick = true;
    } else if (!next_lead) {
        g->busy = false;
        kick = g->stop; /* the committer may exit now */
    }
    pthread_mutex_unlock(&g->mu);
    if (kick)
        futex_event_signal(&g->kick, 1);
    if (next_lead)
        op_post(&next_lead->state, OP_LEAD);
    /* Finish the ops of the group outside mu: none of them waits for it. */
    for (struct dbgroup_op *o = list, *next; o; o = next) {
        next = o->next; /* o may be gone once finished */
        if (o->done)
            o->done(o, o->rc);
        else if (o != self)
            op_post(&o->state, OP_DONE);
    }
}

static void *committer_main(void *arg)
{
    struct dbgroup *g = arg;

    for (;;) {
        int seen = futex_event_sample(&g->kick);

        pthread_mutex_lock(&g->mu);
        if (!g->busy && g->head) {
            g->busy = true;
            lead(g, NULL);
            continue;
        }
        if (g->stop && !g->busy) {
            /* nothing left to commit, and no leader to hand over */
            pthread_mutex_unlock(&g->mu);
            break;
        }
        pthread_mutex_unlock(&g->mu);
        futex_event_wait(&g->kick, seen);
    }
    return NULL;
}

static void enqueue(struct dbgroup *g, struct dbgroup_op *op,
                    int (*fn)(struct db *db, void *arg, struct err *err),
                    void *arg, struct err *err)
{
    op->fn = fn;
    op->arg = arg;
    op->err = err;
    op->rc = 0;
    op->next = NULL;
    atomic_init(&op->state, OP_QUEUED);
    *g->tail = op;
    g->tail = &op->next;
    g->queued++;
}

int dbgroup_run(struct dbgroup *g,
                int (*fn)(struct db *db, void *arg, struct err *err), void *arg,
                struct err *err)
{
    struct dbgroup_op op;

    op.done = NULL;
    pthread_mutex_lock(&g->mu);
    enqueue(g, &op, fn, arg, err);
    if (g->busy) {
        pthread_mutex_unlock(&g->mu);
        futex_wait_while(&op.state, OP_QUEUED);
        if (atomic_load_explicit(&op.state, memory_order_acquire) == OP_DONE)
            return op.rc;
        pthread_mutex_lock(&g->mu); /* handed the lead: busy stays set */
    }
    /*
     * Lead: our own op is in the queue we take: either nobody was
     * leading, or the last leader handed us the lead because ours was the
     * oldest op queued.
     */
    g->busy = true;
    lead(g, &op);
    return op.rc;
}

void dbgroup_submit(struct dbgroup *g, struct dbgroup_op *op,
                    int (*fn)(struct db *db, void *arg, struct err *err),
                    void *arg, struct err *err,
                    void (*done)(struct dbgroup_op *op, int rc))
{
    bool kick;

    ASSERT(done);
    op->done = done;

    pthread_mutex_lock(&g->mu);
    enqueue(g, op, fn, arg, err);
    kick = !g->busy;
    pthread_mutex_unlock(&g->mu);
    if (kick)
        futex_event_signal(&g->kick, 1);
}

void dbgroup_get_stats(struct dbgroup *g, struct dbgroup_stats *out)
{
    pthread_mutex_lock(&g->mu);
    out->groups = g->groups;
    out->ops = g->ops;
    out->queued = g->queued;
    pthread_mutex_unlock(&g->mu);
}
