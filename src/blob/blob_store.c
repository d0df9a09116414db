/*
 * blob_store.c: the blob store's lifecycle: schema, crash recovery, write
 * transactions (over db's group commit), etags, and the expiry of
 * uncommitted blocks.
 *
 * Schema (component "blob"; tables below). Containers are unique per
 * (account, name); blobs per (container_id, name), and that index gives
 * List Blobs its binary name order. A blob row exists for a committed blob
 * (committed = 1) and also, as a placeholder (committed = 0), for a name
 * that so far has only uncommitted blocks: Put Block needs a row to hang
 * its blocks on, and List Blobs with include=uncommittedblobs shows it.
 *
 *   blob_containers  id, account, name, etag, times, access, meta, lease
 *   blob_policies    stored access policies of a container (<= 5)
 *   blob_blobs       id, container_id, name, committed, file, size, etag,
 *                    times, content settings, md5, meta, lease, copy info,
 *                    type (0 block, 1 append), blocks (appended so far)
 *   blob_blocks      uncommitted blocks: (blob_id, block_id) -> file, size
 *   blob_data        the bytes of small blobs, by blob id (see below)
 *   blob_committed   the committed block list: (blob_id, seq) -> block id,
 *                    size (offsets are the running sum)
 *
 * Small blobs live in SQLite. A Put Blob of at most BLOB_INLINE_MAX
 * (64 KiB) stores its bytes in blob_data, in the same transaction as its
 * row: no file to create, fsync, rename and later unlink, and one WAL
 * fsync per commit group instead of three fsyncs per blob. That is where
 * small-blob throughput comes from; SQLite reads and writes blobs of this
 * size faster than the filesystem does. blob_data is a table of its own so
 * listings never touch the bytes. A blob row with file = 0 and size > 0 is
 * inline; file = 0 and size = 0 is empty.
 *
 * A larger committed blob's bytes are one file (blob_files.c): Put Block List
 * concatenates its blocks into a new file at commit time, so a read is a
 * single sendfile from one file and a blob's bytes never depend on block
 * files that a later Put Block could replace. The cost is one in-kernel
 * copy of the bytes at commit; a one-block list reuses the block's file
 * and copies nothing.
 *
 * Invariants: every file id in blob_blobs.file or blob_blocks.file is a
 * published file; a file is referenced by at most one row; the bytes of a
 * file below the size its row gives are immutable (an append blob's file
 * grows past that size before the commit that moves it). Readers look a
 * row up and open its file in one critical section (db lock) and read up
 * to the size they saw, and writers unlink dropped files only after their
 * commit, so a reader always gets a whole version, old or new.
 *
 * Durability: bytes are fsync'd and published (blob_files.c) before the
 * transaction that references them commits; the commit's WAL is flushed
 * (db.sync=full, db.c) before the 2xx goes out. Recovery at open removes
 * temp files and published files no row references
 * (uploads cut short, and files dropped by a commit whose unlink did not
 * happen).
 *
 * Group commit. Writers do not take the database themselves: each change
 * is a struct blob_txn run through the store's group commit (struct
 * dbgroup, db.h; the mechanism and its state machine are in
 * db/dbgroup.c). Concurrent transactions share one BEGIN IMMEDIATE ...
 * COMMIT, each in its own SAVEPOINT (a failing one is rolled back alone),
 * so one fsync of the WAL serves a whole group; blob_store_run returns
 * after the COMMIT that holds its transaction. What is the store's own:
 * a transaction's now_ms is read just before its fn runs, its dropped
 * files are unlinked only once it has committed, and its new_file only
 * once it has failed.
 *
 * ETags are a counter: max(previous + 1, current .NET ticks), so they grow
 * strictly and look like the service's "0x8DD...". It starts above the
 * largest etag stored.
 *
 * Threads: blob_store_run from any thread; the group's leader runs
 * transaction functions with the db locked. The sweeper thread (started by
 * blob_store_start) drops uncommitted blocks older than
 * blob.uncommitted_ttl_s through the same group commit, and unlinks the
 * files commits dropped (a queue under sw_mu; before the sweeper starts,
 * and in unit tests, blob_store_run unlinks them itself). A crash before
 * an unlink leaves an orphan file, which the next start collects.
 *
 * Changing the schema: append a step to `migrations` (never edit one that
 * shipped), and keep blob_object.c's column lists in step.
 */
#include "blob/blobint.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"

#define TICKS_AT_EPOCH 621355968000000000ull
#define EXPIRE_BATCH   10000

static const struct db_migration migrations[] = {
    { 1, "CREATE TABLE blob_containers("
         " id INTEGER PRIMARY KEY,"
         " account TEXT NOT NULL,"
         " name TEXT NOT NULL,"
         " etag INTEGER NOT NULL,"
         " ctime INTEGER NOT NULL,"
         " mtime INTEGER NOT NULL,"
         " access INTEGER NOT NULL DEFAULT 0,"
         " meta TEXT NOT NULL DEFAULT '',"
         " lease_state INTEGER NOT NULL DEFAULT 0,"
         " lease_id TEXT NOT NULL DEFAULT '',"
         " lease_duration INTEGER NOT NULL DEFAULT 0,"
         " lease_expiry INTEGER NOT NULL DEFAULT 0,"
         " lease_break INTEGER NOT NULL DEFAULT 0,"
         " UNIQUE(account, name));"
         "CREATE TABLE blob_policies("
         " container_id INTEGER NOT NULL,"
         " seq INTEGER NOT NULL,"
         " pid TEXT NOT NULL,"
         " start INTEGER,"
         " expiry INTEGER,"
         " perms TEXT NOT NULL DEFAULT '',"
         " PRIMARY KEY(container_id, seq)) WITHOUT ROWID;"
         "CREATE TABLE blob_blobs("
         " id INTEGER PRIMARY KEY,"
         " container_id INTEGER NOT NULL,"
         " name TEXT NOT NULL,"
         " committed INTEGER NOT NULL,"
         " file INTEGER NOT NULL DEFAULT 0,"
         " size INTEGER NOT NULL DEFAULT 0,"
         " etag INTEGER NOT NULL DEFAULT 0,"
         " ctime INTEGER NOT NULL,"
         " mtime INTEGER NOT NULL,"
         " ctype TEXT, cenc TEXT, clang TEXT, cctl TEXT, cdisp TEXT,"
         " md5 BLOB,"
         " meta TEXT NOT NULL DEFAULT '',"
         " lease_state INTEGER NOT NULL DEFAULT 0,"
         " lease_id TEXT NOT NULL DEFAULT '',"
         " lease_duration INTEGER NOT NULL DEFAULT 0,"
         " lease_expiry INTEGER NOT NULL DEFAULT 0,"
         " lease_break INTEGER NOT NULL DEFAULT 0,"
         " copy_id TEXT, copy_src TEXT, copy_time INTEGER, copy_len INTEGER,"
         " UNIQUE(container_id, name));"
         "CREATE TABLE blob_blocks("
         " blob_id INTEGER NOT NULL,"
         " block_id BLOB NOT NULL,"
         " file INTEGER NOT NULL,"
         " size INTEGER NOT NULL,"
         " ctime INTEGER NOT NULL,"
         " PRIMARY KEY(blob_id, block_id)) WITHOUT ROWID;"
         "CREATE INDEX blob_blocks_ctime ON blob_blocks(ctime);"
         "CREATE TABLE blob_data("
         " blob_id INTEGER PRIMARY KEY,"
         " data BLOB NOT NULL);"
         "CREATE TABLE blob_committed("
         " blob_id INTEGER NOT NULL,"
         " seq INTEGER NOT NULL,"
         " block_id BLOB NOT NULL,"
         " size INTEGER NOT NULL,"
         " PRIMARY KEY(blob_id, seq)) WITHOUT ROWID;" },
    /* append blobs: the blob type, and the blocks appended */
    { 2, "ALTER TABLE blob_blobs ADD COLUMN type INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE blob_blobs ADD COLUMN blocks INTEGER NOT NULL "
         "DEFAULT 0;" },
};

struct blob_store {
    const struct config *cfg;
    struct db *db;
    struct blob_files files;
    int64_t ttl_ms;

    struct dbgroup *group; /* group commit of every blob_txn */

    _Atomic uint64_t etag_last;

    /* sweeper: expiry, and unlinking the files commits dropped */
    pthread_t sweeper;
    bool sweeper_started;
    pthread_mutex_t sw_mu;
    pthread_cond_t sw_cv;
    bool stopping;
    uint64_t *reap; /* files to unlink (sw_mu) */
    size_t nreap, areap;

    /* Append Block: one of these per blob name hash, held from the lookup
     * to the commit (blob_object_append) */
    pthread_mutex_t append_mu[BLOB_APPEND_STRIPES];
};

pthread_mutex_t *blob_store_append_lock(struct blob_store *bs,
                                        const char *account,
                                        const char *container, const char *name)
{
    const char *parts[3] = { account, container, name };
    uint32_t h = 2166136261u; /* FNV-1a */

    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        h = (h ^ '/') * 16777619u;
    }
    return &bs->append_mu[h % BLOB_APPEND_STRIPES];
}

struct db *blob_store_db(struct blob_store *bs)
{
    return bs->db;
}

struct blob_files *blob_store_files(struct blob_store *bs)
{
    return &bs->files;
}

uint64_t blob_store_etag(struct blob_store *bs)
{
    uint64_t ticks = (uint64_t)timefmt_now_ms() * 10000ull + TICKS_AT_EPOCH;
    uint64_t last = atomic_load(&bs->etag_last);
    uint64_t next;

    do {
        next = ticks > last ? ticks : last + 1;
    } while (!atomic_compare_exchange_weak(&bs->etag_last, &last, next));
    return next;
}

int blob_store_save_lease(struct blob_store *bs, const char *sql, int64_t id,
                          const struct blob_lease *l, struct err *err)
{
    sqlite3_stmt *st = db_stmt(bs->db, sql);

    sqlite3_bind_int(st, 1, (int)l->state);
    sqlite3_bind_text(st, 2, l->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, l->duration_s);
    sqlite3_bind_int64(st, 4, l->expiry_ms);
    sqlite3_bind_int64(st, 5, l->break_ms);
    sqlite3_bind_int64(st, 6, id);
    return db_step_done(bs->db, st, err);
}

void blob_txn_drop(struct blob_txn *t, uint64_t file)
{
    if (file == 0)
        return;
    if (t->ndrop == t->adrop) {
        t->adrop = t->adrop ? t->adrop * 2 : 8;
        t->drop = xrealloc(t->drop, t->adrop * sizeof(*t->drop));
    }
    t->drop[t->ndrop++] = file;
}

/*
 * Unlink files a commit dropped. Removing a large file takes the kernel
 * tens of milliseconds, so once the sweeper runs it does this, off the
 * request's path; a crash before it does leaves orphans for start-up.
 */
static void reap(struct blob_store *bs, const uint64_t *files, size_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&bs->sw_mu);
    if (bs->sweeper_started && !bs->stopping) {
        if (bs->nreap + n > bs->areap) {
            while (bs->nreap + n > bs->areap)
                bs->areap = bs->areap ? bs->areap * 2 : 64;
            bs->reap = xrealloc(bs->reap, bs->areap * sizeof(*bs->reap));
        }
        memcpy(bs->reap + bs->nreap, files, n * sizeof(*files));
        bs->nreap += n;
        pthread_cond_broadcast(&bs->sw_cv);
        files = NULL;
    }
    pthread_mutex_unlock(&bs->sw_mu);
    for (size_t i = 0; files && i < n; i++)
        blob_files_unlink(&bs->files, files[i]);
}

/* Unlink what is queued (called with sw_mu held; drops it meanwhile). */
static void reap_queued(struct blob_store *bs)
{
    while (bs->nreap) {
        uint64_t *v = bs->reap;
        size_t n = bs->nreap;

        bs->reap = NULL;
        bs->nreap = bs->areap = 0;
        pthread_mutex_unlock(&bs->sw_mu);
        for (size_t i = 0; i < n; i++)
            blob_files_unlink(&bs->files, v[i]);
        free(v);
        pthread_mutex_lock(&bs->sw_mu);
    }
}

/* A blob_txn as a dbgroup op (t->bs set by the caller). */
static int run_txn(struct db *db, void *arg, struct err *err)
{
    struct blob_txn *t = arg;

    (void)db; /* the same as t->bs->db */
    t->now_ms = timefmt_now_ms();
    return t->fn(t->bs, t, err);
}

/* After the group: drop what a commit dropped, or the file of a failure. */
static void txn_finish(struct blob_txn *t, int rc)
{
    if (rc == 0)
        reap(t->bs, t->drop, t->ndrop);
    else if (t->new_file)
        blob_files_unlink(&t->bs->files, t->new_file);
    FREE_AND_NULL(t->drop);
    t->ndrop = t->adrop = 0;
}

static void submitted_done(struct dbgroup_op *op, int rc)
{
    struct blob_txn *t =
        (struct blob_txn *)((char *)op - offsetof(struct blob_txn, op));

    txn_finish(t, rc);
    t->done(t, rc);
}

void blob_store_submit(struct blob_store *bs, struct blob_txn *t,
                       struct err *err)
{
    t->bs = bs;
    dbgroup_submit(bs->group, &t->op, run_txn, t, err, submitted_done);
}

int blob_store_run(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    int rc;

    t->bs = bs;
    rc = dbgroup_run(bs->group, run_txn, t, err);
    txn_finish(t, rc);
    return rc;
}

/* ---- expiry of uncommitted blocks ---------------------------------------- */

struct expire_txn {
    struct blob_txn t;
    int64_t cutoff_ms;
    size_t removed;
};

/* One expired block, as selected (block ids are at most 64 bytes). */
struct expired {
    int64_t blob_id;
    unsigned char id[BLOB_BLOCK_ID_MAX];
    int idlen;
};

/*
 * Delete exactly the rows selected (so each dropped file belongs to a
 * deleted row), then the placeholders left without blocks.
 */
static int expire_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct expire_txn *x = (struct expire_txn *)t;
    struct db *db = bs->db;
    sqlite3_stmt *st;
    struct expired *v = NULL;
    size_t n = 0, alloc = 0;
    int rc = 0;

    st = db_stmt(db, "SELECT blob_id, block_id, file FROM blob_blocks WHERE "
                     "ctime < ? ORDER BY blob_id LIMIT 10000");
    sqlite3_bind_int64(st, 1, x->cutoff_ms);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int len = sqlite3_column_bytes(st, 1);

        if (len < 0 || len > BLOB_BLOCK_ID_MAX)
            continue;
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            v = xrealloc(v, alloc * sizeof(*v));
        }
        v[n].blob_id = sqlite3_column_int64(st, 0);
        memcpy(v[n].id, sqlite3_column_blob(st, 1), (size_t)len);
        v[n].idlen = len;
        n++;
        blob_txn_drop(t, (uint64_t)sqlite3_column_int64(st, 2));
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < n && rc == 0; i++) {
        st = db_stmt(db, "DELETE FROM blob_blocks WHERE blob_id=? AND "
                         "block_id=?");
        sqlite3_bind_int64(st, 1, v[i].blob_id);
        sqlite3_bind_blob(st, 2, v[i].id, v[i].idlen, SQLITE_STATIC);
        rc = db_step_done(db, st, err);
        if (rc < 0 || (i + 1 < n && v[i + 1].blob_id == v[i].blob_id))
            continue;
        st = db_stmt(db, "DELETE FROM blob_blobs WHERE id=? AND committed=0 "
                         "AND NOT EXISTS (SELECT 1 FROM blob_blocks WHERE "
                         "blob_id=?)");
        sqlite3_bind_int64(st, 1, v[i].blob_id);
        sqlite3_bind_int64(st, 2, v[i].blob_id);
        rc = db_step_done(db, st, err);
    }
    x->removed = n;
    free(v);
    return rc;
}

int blob_store_expire(struct blob_store *bs, struct err *err)
{
    for (;;) {
        struct expire_txn x;
        int rc;

        memset(&x, 0, sizeof(x));
        x.t.fn = expire_fn;
        x.cutoff_ms = timefmt_now_ms() - bs->ttl_ms;
        rc = blob_store_run(bs, &x.t, err);
        if (rc < 0)
            return rc;
        if (x.removed)
            log_info("uncommitted blocks expired count=%zu", x.removed);
        if (x.removed < EXPIRE_BATCH)
            return 0;
    }
}

static void *sweeper_main(void *arg)
{
    struct blob_store *bs = arg;
    int64_t every_ms = bs->ttl_ms / 4;
    struct timespec next;

    if (every_ms < 1000)
        every_ms = 1000;
    if (every_ms > 600000)
        every_ms = 600000;
    clock_gettime(CLOCK_REALTIME, &next);
    pthread_mutex_lock(&bs->sw_mu);
    while (!bs->stopping) {
        struct timespec now;

        reap_queued(bs);
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > next.tv_sec ||
            (now.tv_sec == next.tv_sec && now.tv_nsec >= next.tv_nsec)) {
            struct err e = ERR_INIT;

            pthread_mutex_unlock(&bs->sw_mu);
            if (blob_store_expire(bs, &e) < 0)
                log_warn("block expiry failed msg=%s", e.msg);
            pthread_mutex_lock(&bs->sw_mu);
            clock_gettime(CLOCK_REALTIME, &next);
            next.tv_sec += every_ms / 1000;
            next.tv_nsec += (every_ms % 1000) * 1000000;
            if (next.tv_nsec >= 1000000000) {
                next.tv_sec++;
                next.tv_nsec -= 1000000000;
            }
            continue;
        }
        if (!bs->nreap) {
            /*
             * At most a second: glibc 2.36's condition variables can lose
             * a wake-up (core/futex.h), and a lost one must only delay a
             * reap or the shutdown, never stall it.
             */
            struct timespec until = now;

            until.tv_sec++;
            if (next.tv_sec < until.tv_sec ||
                (next.tv_sec == until.tv_sec && next.tv_nsec < until.tv_nsec))
                until = next;
            pthread_cond_timedwait(&bs->sw_cv, &bs->sw_mu, &until);
        }
    }
    reap_queued(bs);
    pthread_mutex_unlock(&bs->sw_mu);
    return NULL;
}

/* ---- open / recovery ----------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int recover(struct blob_store *bs, struct err *err)
{
    struct db *db = bs->db;
    sqlite3_stmt *st;
    uint64_t *live = NULL;
    size_t n = 0, alloc = 0, removed;
    uint64_t max_etag = 0;

    db_lock(db);
    st = db_stmt(db, "SELECT file FROM blob_blobs WHERE file != 0 "
                     "UNION ALL SELECT file FROM blob_blocks");
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            live = xrealloc(live, alloc * sizeof(*live));
        }
        live[n++] = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    st = db_stmt(db, "SELECT max(etag) FROM (SELECT max(etag) AS etag FROM "
                     "blob_blobs UNION ALL SELECT max(etag) FROM "
                     "blob_containers)");
    if (sqlite3_step(st) == SQLITE_ROW)
        max_etag = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    db_unlock(db);
    atomic_store(&bs->etag_last, max_etag);

    if (n > 1)
        qsort(live, n, sizeof(*live), cmp_u64);
    removed = blob_files_sweep(&bs->files, live, n);
    if (removed)
        log_info("blob files collected count=%zu", removed);
    free(live);
    (void)err;
    return 0;
}

int blob_store_open(const struct config *cfg, struct db *db,
                    struct blob_store **out, struct err *err)
{
    struct blob_store *bs = xcalloc(1, sizeof(*bs));
    bool sync = strcmp(cfg->db_sync, "full") == 0;
    int rc;

    bs->cfg = cfg;
    bs->db = db;
    bs->ttl_ms = cfg->blob_uncommitted_ttl_s > INT64_MAX / 1000
                     ? INT64_MAX / 2
                     : cfg->blob_uncommitted_ttl_s * 1000;
    bs->group = dbgroup_new(db, "blob");
    pthread_mutex_init(&bs->sw_mu, NULL);
    pthread_cond_init(&bs->sw_cv, NULL);
    for (int i = 0; i < BLOB_APPEND_STRIPES; i++)
        pthread_mutex_init(&bs->append_mu[i], NULL);
    bs->files.root_fd = -1;

    rc = db_migrate(db, "blob", migrations, ARRAY_SIZE(migrations), err);
    if (rc < 0)
        goto fail;
    rc = blob_files_open(&bs->files, cfg->data_dir, sync, err);
    if (rc < 0)
        goto fail;
    rc = recover(bs, err);
    if (rc < 0)
        goto fail;
    *out = bs;
    return 0;
fail:
    blob_store_close(bs);
    return rc;
}

int blob_store_start(struct blob_store *bs, struct err *err)
{
    if (pthread_create(&bs->sweeper, NULL, sweeper_main, bs) != 0)
        return err_set(err, ERR_INTERNAL, NULL,
                       "cannot start the block sweeper");
    bs->sweeper_started = true;
    return 0;
}

void blob_store_close(struct blob_store *bs)
{
    if (!bs)
        return;
    if (bs->sweeper_started) {
        pthread_mutex_lock(&bs->sw_mu);
        bs->stopping = true;
        pthread_cond_broadcast(&bs->sw_cv);
        pthread_mutex_unlock(&bs->sw_mu);
        pthread_join(bs->sweeper, NULL);
    }
    free(bs->reap);
    blob_files_close(&bs->files);
    pthread_cond_destroy(&bs->sw_cv);
    pthread_mutex_destroy(&bs->sw_mu);
    for (int i = 0; i < BLOB_APPEND_STRIPES; i++)
        pthread_mutex_destroy(&bs->append_mu[i]);
    dbgroup_free(bs->group);
    free(bs);
}
