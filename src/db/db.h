#ifndef SHOAL_DB_H
#define SHOAL_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

struct err;

/*
 * SQLite metadata store (see db.c for the design note).
 *
 * One connection in WAL mode, guarded by a mutex: take db_lock() around any
 * use of the handle or statements, and keep the lock for the whole
 * transaction. Statements are prepared once and cached by the address of
 * their SQL text (use string literals): db_stmt() returns a reset statement
 * with bindings cleared, owned by the cache.
 *
 * Schema: each component (blob, queue, batch, notify) registers its forward
 * migrations with db_migrate(); the version of each component is kept in the
 * table schema_version(component, version). To change a schema, append a
 * step to that component's array; never edit a step that has shipped.
 */
struct db;

struct db_migration {
    int version;     /* 1, 2, 3 ... in order */
    const char *sql; /* one or more statements */
};

int db_open(const char *path, bool sync_full, struct db **out,
            struct err *err);
void db_close(struct db *db);

void db_lock(struct db *db);
void db_unlock(struct db *db);
sqlite3 *db_handle(struct db *db);

/* Cached prepared statement (lock held). Aborts on a bad SQL text (a bug). */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

/*
 * Transactions (lock held). begin is BEGIN IMMEDIATE. db_commit commits
 * and returns once the commit is durable (db_flush, below). A failed
 * commit is rolled back.
 */
int db_begin(struct db *db, struct err *err);
int db_commit(struct db *db, struct err *err);
void db_rollback(struct db *db);

/*
 * Commit without waiting for the disk (lock held): the commit is visible
 * and safe against a crash of the process; *ticket names it for db_flush.
 * db_flush (lock held or not, any thread) returns once every commit up to
 * ticket is on disk (db.sync=full; at once with db.sync=normal), or
 * -ERR_IO if the WAL could not be flushed (then and ever after: see
 * db.c). Callers drop the lock between the two so that the next
 * transaction runs while the disk works.
 */
int db_commit_ticket(struct db *db, uint64_t *ticket, struct err *err);
int db_flush(struct db *db, uint64_t ticket, struct err *err);

/* Run SQL without results (lock held). */
int db_exec(struct db *db, const char *sql, struct err *err);

/*
 * Step a statement that returns no rows (or ignore them) and reset it.
 * Returns 0, -ERR_CONFLICT on a constraint violation, -ERR_BUSY, or -ERR_IO.
 */
int db_step_done(struct db *db, sqlite3_stmt *st, struct err *err);

/* Apply component's migrations past its stored version (takes the lock). */
int db_migrate(struct db *db, const char *component,
               const struct db_migration *steps, size_t n, struct err *err);

/* Copy a text column (NULL stays NULL). Aborts on OOM. */
char *db_col_strdup(sqlite3_stmt *st, int col);

/* ---- dbgroup.c: group commit --------------------------------------------- */

/*
 * Group commit: write operations of many threads share one transaction and
 * so one fsync of the WAL (see dbgroup.c for the design note). A service
 * creates one group for its writes and runs each write through it:
 *
 *     static int put_fn(struct db *db, void *arg, struct err *err)
 *     {
 *         struct put *p = arg;
 *         ... db_stmt(db, ...), db_step_done(db, st, err) ...
 *     }
 *
 *     rc = dbgroup_run(svc->group, put_fn, &p, err);
 *
 * An operation is fn(db, arg, err). It runs on whichever thread leads the
 * group (possibly not the caller's), with the db lock held, inside BEGIN
 * IMMEDIATE ... COMMIT and inside a SAVEPOINT of its own (alone in its
 * group, the transaction itself serves as one: same effect). It returns 0, or
 * a negative enum err_code with err filled; err is never NULL inside fn.
 * fn must not take the db lock, begin, commit or roll back, run a group
 * (dbgroup_run would deadlock), or touch anything but arg and the db: its
 * caller is blocked in dbgroup_run until it is over, so arg may live on
 * the caller's stack.
 */
struct dbgroup;

/*
 * A new group for the writes to db. name (a string literal: it is
 * borrowed for the group's life) tags the group's log lines. db must
 * outlive the group. Aborts on out of memory, like the rest of shoald.
 */
struct dbgroup *dbgroup_new(struct db *db, const char *name);

/*
 * Free g and log its statistics. No-op on NULL. No dbgroup_run may be
 * running or start on g (a bug, asserted in debug builds).
 */
void dbgroup_free(struct dbgroup *g);

/*
 * Run fn(db, arg, err) in the next group and wait until that group's
 * transaction is over. Returns one of:
 *
 *   0         fn returned 0 and the COMMIT that holds its writes
 *             succeeded: they are durable (as durable as db.sync makes a
 *             commit) before dbgroup_run returns.
 *   fn's rc   fn failed: its savepoint was rolled back, so none of its
 *             writes remain; the other ops of the group are unaffected
 *             and commit. err is what fn filled.
 *   group's   BEGIN or COMMIT failed, or an error made SQLite abandon the
 *             transaction: every op of the group (failed ones included)
 *             gets that error, -ERR_IO, -ERR_BUSY or -ERR_CONFLICT (a
 *             deferred constraint found at COMMIT), with err filled, and
 *             the whole transaction is rolled back: nothing of any op is
 *             on disk, nothing is half applied.
 *
 * err may be NULL. On success err is left as fn left it (fn should not
 * touch it then).
 *
 * Leader and followers: the caller appends its op to g's queue. If no
 * group is running, it becomes the leader: it takes every queued op (its
 * own included), runs them in one transaction, flushes, hands the lead to
 * the oldest op queued meanwhile and wakes the others. Otherwise it sleeps
 * on its op's futex word (no busy waiting) until its op is done or it is
 * handed the lead. There is no timer: a group is whatever queued while the
 * previous one ran, so a lone caller pays one commit and a busy service
 * one per group.
 *
 * Order: one group at a time per g, and a group runs its ops in the order
 * they were queued, so ops commit in arrival order (the order their
 * callers entered dbgroup_run, as serialized by g's mutex), across groups
 * too. Groups of different struct dbgroup on one db take turns on the db
 * lock, with no order between them.
 *
 * Thread-safe: call from any number of threads. The caller must not hold
 * the db lock.
 */
int dbgroup_run(struct dbgroup *g,
                int (*fn)(struct db *db, void *arg, struct err *err), void *arg,
                struct err *err);

/*
 * The asynchronous form, for callers that must not block (an HTTP worker
 * serving many connections): queue fn(db, arg, err) for the next group and
 * return at once. done(op, rc) is called once the group is over, with the
 * rc dbgroup_run would have returned, on the thread that led the group
 * (the group's committer thread, or a dbgroup_run caller): it must not
 * block, and must not run a group. op is the caller's and must stay valid
 * (and untouched) until done is called; done may free it.
 *
 * Ops of both forms share the queue and the groups; order is as above.
 * When the oldest queued op is asynchronous, g's committer thread leads.
 */
struct dbgroup_op {
    /* private to dbgroup.c */
    int (*fn)(struct db *db, void *arg, struct err *err);
    void *arg;
    struct err *err;
    int rc;
    _Atomic int state; /* a futex word */
    void (*done)(struct dbgroup_op *op, int rc); /* NULL: dbgroup_run */
    struct dbgroup_op *next;
};

void dbgroup_submit(struct dbgroup *g, struct dbgroup_op *op,
                    int (*fn)(struct db *db, void *arg, struct err *err),
                    void *arg, struct err *err,
                    void (*done)(struct dbgroup_op *op, int rc));

/*
 * Counters of g, read under its mutex (any thread): groups run (each one
 * transaction), ops finished, and ops queued for the next group now.
 */
struct dbgroup_stats {
    unsigned long long groups;
    unsigned long long ops;
    size_t queued;
};

void dbgroup_get_stats(struct dbgroup *g, struct dbgroup_stats *out);

#endif
