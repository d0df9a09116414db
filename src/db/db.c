/*
 * db.c: the SQLite metadata store.
 *
 * One connection, WAL journal, foreign keys on, busy_timeout set. A mutex
 * serialises all use of the connection: SQLite's own locking would allow
 * concurrent readers with several connections, but our statements take
 * microseconds and one writer is the model anyway (commit order = event
 * sequence order, see notes/notifications.md §5.1).
 *
 * Flushing. SQLite runs with synchronous=NORMAL: a COMMIT writes its WAL
 * frames (into the page cache: a SIGKILL can no longer lose them) but does
 * not fsync; checkpoints still fsync the WAL before copying it into the
 * database and the database before the WAL is reused, so the file is never
 * corrupt. Durability against a power cut is ours: with db.sync=full
 * (the default), every commit takes a ticket (a counter, under the db
 * lock) and nothing is acknowledged until db_flush(ticket) has seen an
 * fdatasync of the WAL that began after that commit. A WAL is written in
 * order, so one fdatasync covers every commit before it:
 *
 *   group A: lock, BEGIN..COMMIT (ticket 7), unlock, db_flush(7) ...
 *   group B:           lock, BEGIN..COMMIT (ticket 8), unlock, db_flush(8)
 *   flusher: fdatasync (covers 7) ......... fdatasync (covers 8, and any
 *                                            commit taken meanwhile)
 *
 * The db lock is not held during the fdatasync, so the next group runs
 * its statements, and readers read, while the disk works. A reader may
 * therefore see a commit whose flush is still under way; a power cut in
 * that window loses that commit, which nobody was told had succeeded
 * (its writer waits for the flush). Every write that depends on what it
 * read is flushed itself, and its flush covers what it read.
 *
 * An fdatasync that fails is final: a later one that succeeds does not
 * mean the earlier pages reached the disk (the kernel may have dropped
 * them). db_flush then fails for the rest of the process's life, and
 * shoald stops acknowledging writes until restarted (recovery replays what
 * the WAL really holds). db.sync=normal skips the flush: safe against a
 * process crash, not a power cut.
 *
 * Statement cache: db_stmt() keys statements by the address of their SQL
 * text, so callers pass string literals; a small open-addressing table maps
 * address -> sqlite3_stmt. Statements are reset and their bindings cleared
 * before being handed out.
 *
 * Migrations: schema_version(component TEXT PRIMARY KEY, version INTEGER).
 * db_migrate() runs, in one transaction each, the steps of a component whose
 * version is above the stored one. Steps are append-only: to change the
 * schema, add a step with the next version; never edit one that shipped.
 */
#include "db/db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#define DB_CACHE_SIZE 1024 /* power of two, > the number of statements */

struct db_cached {
    const char *sql;
    sqlite3_stmt *st;
};

struct db {
    sqlite3 *h;
    pthread_mutex_t mu;
    struct db_cached cache[DB_CACHE_SIZE];
    size_t ncached;

    /* Flushing (see the note at the top). */
    bool sync_full;
    int wal_fd;                  /* the WAL, for fdatasync; -1 until open */
    _Atomic uint64_t committed;  /* tickets handed out (under mu) */
    pthread_mutex_t fmu;
    pthread_cond_t fcv;          /* a flush ended */
    uint64_t flushed;            /* tickets known durable (fmu) */
    bool flushing;               /* an fdatasync is under way (fmu) */
    bool flush_failed;           /* sticky (fmu) */
};

static int sqlerr(struct db *db, struct err *err, const char *what)
{
    /* Extended result codes are on: the primary code is the low byte. */
    int rc = sqlite3_errcode(db->h) & 0xff;
    int ext = sqlite3_extended_errcode(db->h);

    if (rc == SQLITE_CONSTRAINT)
        return err_set(err, ERR_CONFLICT, "Conflict", "%s: %s", what,
                       sqlite3_errmsg(db->h));
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return err_set(err, ERR_BUSY, "ServerBusy", "%s: database busy",
                       what);
    if (rc == SQLITE_FULL)
        return err_set(err, ERR_IO, "InternalError", "%s: disk full", what);
    log_error("sqlite error what=%s rc=%d ext=%d msg=%s", what, rc, ext,
              sqlite3_errmsg(db->h));
    return err_set(err, ERR_IO, "InternalError", "%s: %s", what,
                   sqlite3_errmsg(db->h));
}

/*
 * Open the WAL for db_flush. A write transaction makes sure it exists (it
 * does once any table does). The descriptor only ever syncs: it takes no
 * locks, so closing it cannot drop one of SQLite's (and it is closed only
 * after SQLite is done).
 */
static int open_wal(struct db *db, struct err *err)
{
    const char *wal;

    if (!db->sync_full)
        return 0;
    if (db_exec(db, "BEGIN IMMEDIATE; COMMIT", err) < 0)
        return -ERR_IO;
    wal = sqlite3_filename_wal(sqlite3_db_filename(db->h, "main"));
    db->wal_fd = wal ? open(wal, O_RDONLY | O_CLOEXEC) : -1;
    if (db->wal_fd < 0)
        return err_set(err, ERR_IO, "InternalError",
                       "cannot open the database's WAL '%s': %s",
                       wal ? wal : "?", strerror(errno));
    return 0;
}

int db_open(const char *path, bool sync_full, struct db **out,
            struct err *err)
{
    struct db *db = xcalloc(1, sizeof(*db));
    int rc;

    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->fmu, NULL);
    pthread_cond_init(&db->fcv, NULL);
    db->sync_full = sync_full;
    db->wal_fd = -1;
    rc = sqlite3_open_v2(path, &db->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_FULLMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_IO, "InternalError", "cannot open database '%s': %s",
                path, db->h ? sqlite3_errmsg(db->h) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(db->h, 10000);
    sqlite3_extended_result_codes(db->h, 1);
    if (db_exec(db, "PRAGMA journal_mode=WAL", err) < 0)
        goto fail;
    if (db_exec(db, "PRAGMA synchronous=NORMAL", err) < 0)
        goto fail;
    /*
     * One connection in one process: exclusive locking skips the file
     * locks SQLite would take per transaction (and the WAL index in shared
     * memory). Other processes cannot open the database while shoald runs.
     */
    if (db_exec(db, "PRAGMA locking_mode=EXCLUSIVE", err) < 0)
        goto fail;
    if (db_exec(db, "PRAGMA foreign_keys=ON", err) < 0)
        goto fail;
    if (db_exec(db, "PRAGMA temp_store=MEMORY", err) < 0)
        goto fail;
    if (db_exec(db, "PRAGMA cache_size=-65536", err) < 0)
        goto fail;
    if (db_exec(db,
                "CREATE TABLE IF NOT EXISTS schema_version("
                "component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
                err) < 0)
        goto fail;
    if (open_wal(db, err) < 0)
        goto fail;
    *out = db;
    return 0;
fail:
    if (db->h)
        sqlite3_close(db->h);
    if (db->wal_fd >= 0)
        close(db->wal_fd);
    pthread_cond_destroy(&db->fcv);
    pthread_mutex_destroy(&db->fmu);
    pthread_mutex_destroy(&db->mu);
    free(db);
    return err ? -err->code : -ERR_IO;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < DB_CACHE_SIZE; i++) {
        if (db->cache[i].st)
            sqlite3_finalize(db->cache[i].st);
    }
    /* A clean close checkpoints the WAL into the main file. */
    if (sqlite3_close(db->h) != SQLITE_OK)
        log_warn("database close failed msg=%s", sqlite3_errmsg(db->h));
    if (db->wal_fd >= 0)
        close(db->wal_fd);
    pthread_cond_destroy(&db->fcv);
    pthread_mutex_destroy(&db->fmu);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

void db_lock(struct db *db)
{
    pthread_mutex_lock(&db->mu);
}

void db_unlock(struct db *db)
{
    pthread_mutex_unlock(&db->mu);
}

sqlite3 *db_handle(struct db *db)
{
    return db->h;
}

sqlite3_stmt *db_stmt(struct db *db, const char *sql)
{
    size_t i = ((uintptr_t)sql >> 3) & (DB_CACHE_SIZE - 1);
    sqlite3_stmt *st;

    while (db->cache[i].sql) {
        if (db->cache[i].sql == sql) {
            st = db->cache[i].st;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
        i = (i + 1) & (DB_CACHE_SIZE - 1);
    }
    if (db->ncached + 1 >= DB_CACHE_SIZE)
        BUG("statement cache full");
    if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                           NULL) != SQLITE_OK) {
        log_error("bad SQL msg=%s sql=%s", sqlite3_errmsg(db->h), sql);
        BUG("bad SQL");
    }
    db->cache[i].sql = sql;
    db->cache[i].st = st;
    db->ncached++;
    return st;
}

int db_exec(struct db *db, const char *sql, struct err *err)
{
    char *msg = NULL;

    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = sqlerr(db, err, "exec");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

int db_begin(struct db *db, struct err *err)
{
    return db_exec(db, "BEGIN IMMEDIATE", err);
}

int db_commit_ticket(struct db *db, uint64_t *ticket, struct err *err)
{
    int rc = db_exec(db, "COMMIT", err);

    if (rc < 0) {
        db_rollback(db);
        return rc;
    }
    *ticket = atomic_fetch_add(&db->committed, 1) + 1;
    return 0;
}

int db_flush(struct db *db, uint64_t ticket, struct err *err)
{
    int rc = 0;

    if (!db->sync_full)
        return 0;
    pthread_mutex_lock(&db->fmu);
    while (db->flushed < ticket && !db->flush_failed) {
        uint64_t target;
        int r;

        if (db->flushing) {
            pthread_cond_wait(&db->fcv, &db->fmu);
            continue;
        }
        /* Lead a flush: it covers every commit taken up to now. */
        db->flushing = true;
        target = atomic_load(&db->committed);
        pthread_mutex_unlock(&db->fmu);
        r = fdatasync(db->wal_fd);
        if (r < 0)
            log_error("WAL flush failed: no write is acknowledged from now "
                      "on; restart shoald errno=%s",
                      strerror(errno));
        pthread_mutex_lock(&db->fmu);
        db->flushing = false;
        if (r == 0 && target > db->flushed)
            db->flushed = target;
        if (r < 0)
            db->flush_failed = true;
        pthread_cond_broadcast(&db->fcv);
    }
    if (db->flushed < ticket)
        rc = err_set(err, ERR_IO, "InternalError",
                     "the database could not be flushed to disk");
    pthread_mutex_unlock(&db->fmu);
    return rc;
}

int db_commit(struct db *db, struct err *err)
{
    uint64_t ticket;
    int rc = db_commit_ticket(db, &ticket, err);

    return rc < 0 ? rc : db_flush(db, ticket, err);
}

void db_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(db->h))
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int db_step_done(struct db *db, sqlite3_stmt *st, struct err *err)
{
    int rc;

    do {
        rc = sqlite3_step(st);
    } while (rc == SQLITE_ROW);
    if (rc != SQLITE_DONE) {
        int r = sqlerr(db, err, "step");
        sqlite3_reset(st);
        return r;
    }
    sqlite3_reset(st);
    return 0;
}

int db_migrate(struct db *db, const char *component,
               const struct db_migration *steps, size_t n, struct err *err)
{
    sqlite3_stmt *st;
    int have = 0;
    int rc = 0;

    db_lock(db);
    st = db_stmt(db, "SELECT version FROM schema_version WHERE component=?");
    sqlite3_bind_text(st, 1, component, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        have = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    for (size_t i = 0; i < n; i++) {
        if (steps[i].version <= have)
            continue;
        rc = db_begin(db, err);
        if (rc < 0)
            break;
        rc = db_exec(db, steps[i].sql, err);
        if (rc == 0) {
            st = db_stmt(db, "INSERT INTO schema_version(component, version)"
                             " VALUES(?, ?) ON CONFLICT(component) DO "
                             "UPDATE SET version=excluded.version");
            sqlite3_bind_text(st, 1, component, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, steps[i].version);
            rc = db_step_done(db, st, err);
        }
        if (rc == 0)
            rc = db_commit(db, err);
        else
            db_rollback(db);
        if (rc < 0) {
            log_error("migration failed component=%s version=%d", component,
                      steps[i].version);
            break;
        }
        log_info("schema migrated component=%s version=%d", component,
                 steps[i].version);
    }
    db_unlock(db);
    return rc;
}

char *db_col_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);

    if (!s)
        return NULL;
    return xstrndup((const char *)s, (size_t)sqlite3_column_bytes(st, col));
}
