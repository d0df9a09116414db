/*
 * qstore.c: the queue service's tables and every SQL statement it runs.
 *
 * Schema (component "queue" in schema_version):
 *
 *   queues(id, account, name, meta, created_ms)   UNIQUE(account, name)
 *   queue_acl(queue_id, pos, sid, start_ms, expiry_ms, perms)
 *   queue_messages(id, queue_id, nonce, pop, inserted_ms, expires_ms,
 *                  visible_ms, dequeue_count, body)
 *       index queue_messages_visible(queue_id, visible_ms)  [+ rowid]
 *       index queue_messages_expires(expires_ms)
 *   queue_props(account, logging, hour_metrics, minute_metrics, cors)
 *
 * Order: a Get takes the first rows of queue_messages_visible for the
 * queue with visible_ms <= now, i.e. messages in the order they became
 * visible, ties (same ms) broken by row id = arrival. A message put without
 * delay becomes visible when it arrives, so an undisturbed queue is FIFO; a
 * delayed or redelivered message takes its place by the time it became
 * visible. Clients must not rely on strict FIFO (nor does Azure promise
 * it). This order is what the index gives for free: a Get is one index
 * range probe plus n row updates, never a scan of invisible messages.
 *
 * Expiry: expired rows are filtered out of every read (expires_ms > now)
 * and deleted by qstore_sweep through queue_messages_expires, in bounded
 * batches, from queue.c's sweeper thread. Nothing scans the table.
 *
 * Identity: message ids carry the row id, so lookups are primary key
 * probes, plus a random nonce so an id whose row id was reused (SQLite may
 * reuse the largest row id once it is deleted) matches nothing. The pop
 * receipt is a random 64-bit value replaced on every delivery and update.
 *
 * Durability is the caller's: these functions run inside the caller's
 * transaction (a group of db/dbgroup.c, or queue_put_in_tx's caller) with
 * the db lock held, and use only cached statements (db_stmt).
 *
 * To change the schema: append a step to `migrations` with the next version
 * (never edit a shipped step); queues hold acknowledged messages, so a step
 * must carry every row over.
 */
#include "queue/queueint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "db/db.h"

static const struct db_migration migrations[] = {
    { 1, "CREATE TABLE queues("
         " id INTEGER PRIMARY KEY AUTOINCREMENT,"
         " account TEXT NOT NULL,"
         " name TEXT NOT NULL,"
         " meta TEXT NOT NULL DEFAULT '',"
         " created_ms INTEGER NOT NULL,"
         " UNIQUE(account, name));"
         "CREATE TABLE queue_acl("
         " queue_id INTEGER NOT NULL,"
         " pos INTEGER NOT NULL,"
         " sid TEXT NOT NULL,"
         " start_ms INTEGER,"
         " expiry_ms INTEGER,"
         " perms TEXT,"
         " PRIMARY KEY(queue_id, pos));"
         "CREATE TABLE queue_messages("
         " id INTEGER PRIMARY KEY,"
         " queue_id INTEGER NOT NULL,"
         " nonce INTEGER NOT NULL,"
         " pop INTEGER NOT NULL,"
         " inserted_ms INTEGER NOT NULL,"
         " expires_ms INTEGER NOT NULL,"
         " visible_ms INTEGER NOT NULL,"
         " dequeue_count INTEGER NOT NULL,"
         " body BLOB NOT NULL);"
         "CREATE INDEX queue_messages_visible"
         " ON queue_messages(queue_id, visible_ms);"
         "CREATE INDEX queue_messages_expires ON queue_messages(expires_ms);"
         "CREATE TABLE queue_props("
         " account TEXT PRIMARY KEY,"
         " logging TEXT, hour_metrics TEXT, minute_metrics TEXT, cors TEXT);" },
};

int qstore_migrate(struct db *db, struct err *err)
{
    return db_migrate(db, "queue", migrations, ARRAY_SIZE(migrations), err);
}

/* ---- ids and pop receipts ------------------------------------------------ */

void qstore_format_id(int64_t rowid, uint64_t nonce, char out[QSTORE_ID_LEN])
{
    uint64_t r = (uint64_t)rowid;

    snprintf(out, QSTORE_ID_LEN,
             "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64
             "-%012" PRIx64,
             r >> 32, (r >> 16) & 0xffff, r & 0xffff, nonce >> 48,
             nonce & UINT64_C(0xffffffffffff));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read n hex digits from s into *acc (shifted in). */
static bool hex_in(const char *s, size_t n, uint64_t *acc)
{
    for (size_t i = 0; i < n; i++) {
        int v = hexval(s[i]);

        if (v < 0)
            return false;
        *acc = (*acc << 4) | (uint64_t)v;
    }
    return true;
}

int qstore_parse_id(const char *s, int64_t *rowid_out, uint64_t *nonce_out)
{
    uint64_t r = 0, n = 0;

    if (!s || strlen(s) != QSTORE_ID_LEN - 1 || s[8] != '-' || s[13] != '-' ||
        s[18] != '-' || s[23] != '-')
        return -ERR_INVALID;
    if (!hex_in(s, 8, &r) || !hex_in(s + 9, 4, &r) || !hex_in(s + 14, 4, &r) ||
        !hex_in(s + 19, 4, &n) || !hex_in(s + 24, 12, &n))
        return -ERR_INVALID;
    if (r == 0 || r > INT64_MAX)
        return -ERR_INVALID;
    *rowid_out = (int64_t)r;
    *nonce_out = n;
    return 0;
}

void qstore_format_pop(uint64_t pop, char out[QSTORE_POP_LEN])
{
    snprintf(out, QSTORE_POP_LEN, "%016" PRIx64, pop);
}

int qstore_parse_pop(const char *s, uint64_t *pop_out)
{
    uint64_t v = 0;

    if (!s || strlen(s) != QSTORE_POP_LEN - 1 || !hex_in(s, 16, &v))
        return -ERR_INVALID;
    *pop_out = v;
    return 0;
}

static uint64_t random_u64(void)
{
    uint64_t v;

    crypto_random(&v, sizeof(v));
    return v;
}

/* ---- queues -------------------------------------------------------------- */

static int queue_not_found(struct err *err, const char *name)
{
    return err_set(err, ERR_NOTFOUND, "QueueNotFound", "queue '%s' not found",
                   name);
}

/* Step a one-row query: 1 = row, 0 = none, < 0 error (statement reset). */
static int step_row(struct db *db, sqlite3_stmt *st, struct err *err)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    sqlite3_reset(st);
    return err_set(err, ERR_IO, "InternalError", "query failed: %s",
                   sqlite3_errmsg(db_handle(db)));
}

int qstore_queue_id(struct db *db, const char *account, const char *name,
                    int64_t *id_out, struct err *err)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT id FROM queues WHERE account=? AND name=?");
    int rc;

    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    rc = step_row(db, st, err);
    if (rc == 1)
        *id_out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc == 0)
        return queue_not_found(err, name);
    return rc < 0 ? rc : 0;
}

int qstore_queue_create(struct db *db, const char *account, const char *name,
                        const char *meta, int64_t now_ms, bool *created_out,
                        char **meta_out, struct err *err)
{
    sqlite3_stmt *st;
    int rc;

    *created_out = false;
    *meta_out = NULL;
    st = db_stmt(db, "SELECT meta FROM queues WHERE account=? AND name=?");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    rc = step_row(db, st, err);
    if (rc == 1)
        *meta_out = db_col_strdup(st, 0);
    sqlite3_reset(st);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    st = db_stmt(db, "INSERT INTO queues(account, name, meta, created_ms)"
                     " VALUES(?, ?, ?, ?)");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, meta, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    rc = db_step_done(db, st, err);
    if (rc == 0)
        *created_out = true;
    return rc;
}

int qstore_queue_delete(struct db *db, const char *account, const char *name,
                        struct err *err)
{
    sqlite3_stmt *st;
    int64_t id;
    int rc;

    rc = qstore_queue_id(db, account, name, &id, err);
    if (rc < 0)
        return rc;
    st = db_stmt(db, "DELETE FROM queue_messages WHERE queue_id=?");
    sqlite3_bind_int64(st, 1, id);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        return rc;
    st = db_stmt(db, "DELETE FROM queue_acl WHERE queue_id=?");
    sqlite3_bind_int64(st, 1, id);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        return rc;
    st = db_stmt(db, "DELETE FROM queues WHERE id=?");
    sqlite3_bind_int64(st, 1, id);
    return db_step_done(db, st, err);
}

int qstore_queue_props(struct db *db, const char *account, const char *name,
                       char **meta_out, int64_t *count_out, struct err *err)
{
    sqlite3_stmt *st;
    int64_t id = 0;
    char *meta = NULL;
    int rc;

    st = db_stmt(db, "SELECT id, meta FROM queues WHERE account=? AND name=?");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    rc = step_row(db, st, err);
    if (rc == 1) {
        id = sqlite3_column_int64(st, 0);
        meta = db_col_strdup(st, 1);
    }
    sqlite3_reset(st);
    if (rc == 0)
        return queue_not_found(err, name);
    if (rc < 0)
        return rc;
    st = db_stmt(db, "SELECT count(*) FROM queue_messages WHERE queue_id=?");
    sqlite3_bind_int64(st, 1, id);
    rc = step_row(db, st, err);
    if (rc == 1)
        *count_out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc < 0) {
        free(meta);
        return rc;
    }
    *meta_out = meta;
    return 0;
}

int qstore_queue_set_meta(struct db *db, const char *account, const char *name,
                          const char *meta, struct err *err)
{
    sqlite3_stmt *st =
        db_stmt(db, "UPDATE queues SET meta=? WHERE account=? AND name=?");
    int rc;

    sqlite3_bind_text(st, 1, meta, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    rc = db_step_done(db, st, err);
    if (rc == 0 && sqlite3_changes(db_handle(db)) == 0)
        return queue_not_found(err, name);
    return rc;
}

int qstore_queue_list(struct db *db, const char *account, const char *prefix,
                      const char *marker, size_t max, bool with_meta,
                      int (*fn)(void *ctx, const char *name, const char *meta),
                      void *ctx, char **next_out, struct err *err)
{
    /*
     * Names are ASCII, so every name starting with prefix lies in
     * [prefix, prefix || 0x7f): the range keeps the scan on the index;
     * the substr test keeps it exact whatever bytes prefix holds.
     */
    sqlite3_stmt *st =
        db_stmt(db, "SELECT name, meta FROM queues WHERE account=?1"
                    " AND name >= ?2 AND name >= ?3 AND name < ?2 || x'7f'"
                    " AND substr(name, 1, length(?2)) = ?2"
                    " ORDER BY name LIMIT ?4");
    size_t n = 0;
    int rc = 0;

    *next_out = NULL;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, marker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)max + 1);
    for (;;) {
        const char *name;

        rc = step_row(db, st, err);
        if (rc <= 0)
            break;
        name = (const char *)sqlite3_column_text(st, 0);
        if (n == max) {
            *next_out = xstrdup(name);
            rc = 0;
            break;
        }
        rc = fn(ctx, name,
                with_meta ? (const char *)sqlite3_column_text(st, 1) : NULL);
        if (rc < 0)
            break;
        n++;
    }
    sqlite3_reset(st);
    if (rc < 0)
        FREE_AND_NULL(*next_out);
    return rc < 0 ? rc : 0;
}

/* ---- access policies ----------------------------------------------------- */

static void read_policy(sqlite3_stmt *st, struct qstore_policy *p)
{
    const char *sid = (const char *)sqlite3_column_text(st, 0);
    const char *perms = (const char *)sqlite3_column_text(st, 3);

    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", sid ? sid : "");
    p->has_start = sqlite3_column_type(st, 1) != SQLITE_NULL;
    p->start_ms = sqlite3_column_int64(st, 1);
    p->has_expiry = sqlite3_column_type(st, 2) != SQLITE_NULL;
    p->expiry_ms = sqlite3_column_int64(st, 2);
    p->has_perms = perms != NULL;
    snprintf(p->perms, sizeof(p->perms), "%s", perms ? perms : "");
}

int qstore_acl_get(struct db *db, const char *account, const char *name,
                   struct qstore_policy out[QSTORE_ACL_MAX], int *n_out,
                   struct err *err)
{
    sqlite3_stmt *st;
    int64_t id;
    int n = 0;
    int rc;

    rc = qstore_queue_id(db, account, name, &id, err);
    if (rc < 0)
        return rc;
    st = db_stmt(db, "SELECT sid, start_ms, expiry_ms, perms FROM queue_acl"
                     " WHERE queue_id=? ORDER BY pos");
    sqlite3_bind_int64(st, 1, id);
    while ((rc = step_row(db, st, err)) == 1 && n < QSTORE_ACL_MAX)
        read_policy(st, &out[n++]);
    sqlite3_reset(st);
    if (rc < 0)
        return rc;
    *n_out = n;
    return 0;
}

int qstore_acl_set(struct db *db, const char *account, const char *name,
                   const struct qstore_policy *p, int n, struct err *err)
{
    sqlite3_stmt *st;
    int64_t id;
    int rc;

    rc = qstore_queue_id(db, account, name, &id, err);
    if (rc < 0)
        return rc;
    st = db_stmt(db, "DELETE FROM queue_acl WHERE queue_id=?");
    sqlite3_bind_int64(st, 1, id);
    rc = db_step_done(db, st, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        st = db_stmt(db, "INSERT INTO queue_acl(queue_id, pos, sid,"
                         " start_ms, expiry_ms, perms)"
                         " VALUES(?, ?, ?, ?, ?, ?)");
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, i);
        sqlite3_bind_text(st, 3, p[i].id, -1, SQLITE_STATIC);
        if (p[i].has_start)
            sqlite3_bind_int64(st, 4, p[i].start_ms);
        if (p[i].has_expiry)
            sqlite3_bind_int64(st, 5, p[i].expiry_ms);
        if (p[i].has_perms)
            sqlite3_bind_text(st, 6, p[i].perms, -1, SQLITE_STATIC);
        rc = db_step_done(db, st, err);
    }
    return rc;
}

int qstore_acl_find(struct db *db, const char *account, const char *name,
                    const char *id, struct qstore_policy *out, struct err *err)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT a.sid, a.start_ms, a.expiry_ms, a.perms"
                    " FROM queues q JOIN queue_acl a ON a.queue_id = q.id"
                    " WHERE q.account=? AND q.name=? AND a.sid=?");
    int rc;

    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    rc = step_row(db, st, err);
    if (rc == 1)
        read_policy(st, out);
    sqlite3_reset(st);
    if (rc == 0)
        return err_set(err, ERR_NOTFOUND, "AuthenticationFailed",
                       "signed identifier '%s' not found", id);
    return rc < 0 ? rc : 0;
}

/* ---- messages ------------------------------------------------------------ */

static int msg_not_found(struct err *err)
{
    return err_set(err, ERR_NOTFOUND, "MessageNotFound",
                   "the specified message does not exist");
}

int qstore_msg_put(struct db *db, int64_t queue_id, const char *text,
                   size_t len, int64_t now_ms, int64_t visible_ms,
                   int64_t expires_ms, struct qstore_msg *out, struct err *err)
{
    sqlite3_stmt *st = db_stmt(
        db, "INSERT INTO queue_messages(queue_id, nonce, pop, inserted_ms,"
            " expires_ms, visible_ms, dequeue_count, body)"
            " VALUES(?, ?, ?, ?, ?, ?, 0, ?)");
    uint64_t r[2];
    int rc;

    crypto_random(r, sizeof(r));
    sqlite3_bind_int64(st, 1, queue_id);
    sqlite3_bind_int64(st, 2, (int64_t)r[0]);
    sqlite3_bind_int64(st, 3, (int64_t)r[1]);
    sqlite3_bind_int64(st, 4, now_ms);
    sqlite3_bind_int64(st, 5, expires_ms);
    sqlite3_bind_int64(st, 6, visible_ms);
    sqlite3_bind_blob64(st, 7, text, len, SQLITE_STATIC);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->rowid = sqlite3_last_insert_rowid(db_handle(db));
    out->nonce = r[0];
    out->pop = r[1];
    out->inserted_ms = now_ms;
    out->expires_ms = expires_ms;
    out->visible_ms = visible_ms;
    return 0;
}

struct picked {
    int64_t rowid;
    uint64_t nonce;
    int64_t inserted_ms, expires_ms;
};

/*
 * The visible, unexpired messages of a queue, in visibility order. The
 * ORDER BY matches the index exactly (rowid is its implicit last column),
 * so SQLite walks it and stops at LIMIT: no sort, no scan.
 */
static const char sql_visible[] =
    "SELECT id, nonce, inserted_ms, expires_ms, visible_ms, dequeue_count,"
    " body FROM queue_messages INDEXED BY queue_messages_visible"
    " WHERE queue_id=? AND visible_ms<=? AND expires_ms>?"
    " ORDER BY visible_ms, id LIMIT ?";

int qstore_msg_get(struct db *db, int64_t queue_id, unsigned n, int64_t now_ms,
                   int64_t vis_ms,
                   int (*fn)(void *ctx, const struct qstore_msg *m), void *ctx,
                   struct err *err)
{
    struct picked pick[QUEUE_GET_MAX];
    uint64_t pops[QUEUE_GET_MAX];
    sqlite3_stmt *st;
    unsigned k = 0;
    int rc = 0;

    if (n > QUEUE_GET_MAX)
        n = QUEUE_GET_MAX;
    /*
     * First pick the rows, then update them: updating visible_ms while
     * walking the index on visible_ms could meet a row twice.
     */
    st = db_stmt(db, sql_visible);
    sqlite3_bind_int64(st, 1, queue_id);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, now_ms);
    sqlite3_bind_int(st, 4, (int)n);
    while (k < n && (rc = step_row(db, st, err)) == 1) {
        pick[k].rowid = sqlite3_column_int64(st, 0);
        pick[k].nonce = (uint64_t)sqlite3_column_int64(st, 1);
        pick[k].inserted_ms = sqlite3_column_int64(st, 2);
        pick[k].expires_ms = sqlite3_column_int64(st, 3);
        k++;
    }
    sqlite3_reset(st);
    if (k < n && rc < 0)
        return rc;
    if (k == 0)
        return 0;
    crypto_random(pops, k * sizeof(pops[0]));
    for (unsigned i = 0; i < k; i++) {
        struct qstore_msg m;

        st = db_stmt(db, "UPDATE queue_messages SET visible_ms=?, pop=?,"
                         " dequeue_count=dequeue_count+1 WHERE id=?"
                         " RETURNING dequeue_count, body");
        sqlite3_bind_int64(st, 1, now_ms + vis_ms);
        sqlite3_bind_int64(st, 2, (int64_t)pops[i]);
        sqlite3_bind_int64(st, 3, pick[i].rowid);
        rc = step_row(db, st, err);
        if (rc <= 0) {
            sqlite3_reset(st);
            return rc < 0 ? rc
                          : err_set(err, ERR_INTERNAL, "InternalError",
                                    "picked message vanished");
        }
        memset(&m, 0, sizeof(m));
        m.rowid = pick[i].rowid;
        m.nonce = pick[i].nonce;
        m.pop = pops[i];
        m.inserted_ms = pick[i].inserted_ms;
        m.expires_ms = pick[i].expires_ms;
        m.visible_ms = now_ms + vis_ms;
        m.dequeue_count = sqlite3_column_int64(st, 0);
        m.text = sqlite3_column_blob(st, 1);
        m.len = (size_t)sqlite3_column_bytes(st, 1);
        if (!m.text)
            m.text = "";
        rc = fn(ctx, &m);
        /* Finish the statement so the update is complete. */
        if (rc == 0)
            rc = db_step_done(db, st, err);
        else
            sqlite3_reset(st);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int qstore_msg_peek(struct db *db, int64_t queue_id, unsigned n, int64_t now_ms,
                    int (*fn)(void *ctx, const struct qstore_msg *m), void *ctx,
                    struct err *err)
{
    sqlite3_stmt *st = db_stmt(db, sql_visible);
    unsigned k = 0;
    int rc = 0;

    if (n > QUEUE_GET_MAX)
        n = QUEUE_GET_MAX;
    sqlite3_bind_int64(st, 1, queue_id);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, now_ms);
    sqlite3_bind_int(st, 4, (int)n);
    while (k < n && (rc = step_row(db, st, err)) == 1) {
        struct qstore_msg m;

        memset(&m, 0, sizeof(m));
        m.rowid = sqlite3_column_int64(st, 0);
        m.nonce = (uint64_t)sqlite3_column_int64(st, 1);
        m.inserted_ms = sqlite3_column_int64(st, 2);
        m.expires_ms = sqlite3_column_int64(st, 3);
        m.visible_ms = sqlite3_column_int64(st, 4);
        m.dequeue_count = sqlite3_column_int64(st, 5);
        m.text = sqlite3_column_blob(st, 6);
        m.len = (size_t)sqlite3_column_bytes(st, 6);
        if (!m.text)
            m.text = "";
        rc = fn(ctx, &m);
        if (rc < 0)
            break;
        k++;
    }
    sqlite3_reset(st);
    return rc < 0 ? rc : 0;
}

/*
 * Why a keyed delete/update matched nothing: the message is gone (or
 * expired, or of another queue) or its pop receipt moved on.
 */
static int explain_miss(struct db *db, int64_t queue_id, int64_t rowid,
                        uint64_t nonce, int64_t now_ms, struct err *err)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT 1 FROM queue_messages WHERE id=?"
                                   " AND queue_id=? AND nonce=?"
                                   " AND expires_ms>?");
    int rc;

    sqlite3_bind_int64(st, 1, rowid);
    sqlite3_bind_int64(st, 2, queue_id);
    sqlite3_bind_int64(st, 3, (int64_t)nonce);
    sqlite3_bind_int64(st, 4, now_ms);
    rc = step_row(db, st, err);
    sqlite3_reset(st);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return msg_not_found(err);
    return err_set(err, ERR_INVALID, "PopReceiptMismatch",
                   "the specified pop receipt did not match the pop receipt "
                   "for a dequeued message");
}

int qstore_msg_delete(struct db *db, int64_t queue_id, int64_t rowid,
                      uint64_t nonce, uint64_t pop, int64_t now_ms,
                      struct err *err)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM queue_messages WHERE id=?"
                                   " AND queue_id=? AND nonce=? AND pop=?"
                                   " AND expires_ms>?");
    int rc;

    sqlite3_bind_int64(st, 1, rowid);
    sqlite3_bind_int64(st, 2, queue_id);
    sqlite3_bind_int64(st, 3, (int64_t)nonce);
    sqlite3_bind_int64(st, 4, (int64_t)pop);
    sqlite3_bind_int64(st, 5, now_ms);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        return rc;
    if (sqlite3_changes(db_handle(db)) == 0)
        return explain_miss(db, queue_id, rowid, nonce, now_ms, err);
    return 0;
}

int qstore_msg_update(struct db *db, int64_t queue_id, int64_t rowid,
                      uint64_t nonce, uint64_t pop, int64_t now_ms,
                      int64_t vis_ms, const char *text, size_t len,
                      struct qstore_msg *out, struct err *err)
{
    sqlite3_stmt *st;
    uint64_t newpop = random_u64();
    int rc;

    if (text) {
        st = db_stmt(db, "UPDATE queue_messages SET visible_ms=?1, pop=?2,"
                         " body=?8 WHERE id=?3 AND queue_id=?4 AND nonce=?5"
                         " AND pop=?6 AND expires_ms>?7"
                         " RETURNING inserted_ms, expires_ms, dequeue_count");
        sqlite3_bind_blob64(st, 8, text, len, SQLITE_STATIC);
    } else {
        st = db_stmt(db, "UPDATE queue_messages SET visible_ms=?1, pop=?2"
                         " WHERE id=?3 AND queue_id=?4 AND nonce=?5"
                         " AND pop=?6 AND expires_ms>?7"
                         " RETURNING inserted_ms, expires_ms, dequeue_count");
    }
    sqlite3_bind_int64(st, 1, now_ms + vis_ms);
    sqlite3_bind_int64(st, 2, (int64_t)newpop);
    sqlite3_bind_int64(st, 3, rowid);
    sqlite3_bind_int64(st, 4, queue_id);
    sqlite3_bind_int64(st, 5, (int64_t)nonce);
    sqlite3_bind_int64(st, 6, (int64_t)pop);
    sqlite3_bind_int64(st, 7, now_ms);
    rc = step_row(db, st, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        sqlite3_reset(st);
        return explain_miss(db, queue_id, rowid, nonce, now_ms, err);
    }
    memset(out, 0, sizeof(*out));
    out->rowid = rowid;
    out->nonce = nonce;
    out->pop = newpop;
    out->inserted_ms = sqlite3_column_int64(st, 0);
    out->expires_ms = sqlite3_column_int64(st, 1);
    out->dequeue_count = sqlite3_column_int64(st, 2);
    out->visible_ms = now_ms + vis_ms;
    return db_step_done(db, st, err);
}

int qstore_msg_clear(struct db *db, int64_t queue_id, struct err *err)
{
    sqlite3_stmt *st =
        db_stmt(db, "DELETE FROM queue_messages WHERE queue_id=?");

    sqlite3_bind_int64(st, 1, queue_id);
    return db_step_done(db, st, err);
}

int qstore_sweep(struct db *db, int64_t now_ms, unsigned limit,
                 unsigned *deleted_out, struct err *err)
{
    sqlite3_stmt *st =
        db_stmt(db, "DELETE FROM queue_messages WHERE id IN (SELECT id FROM"
                    " queue_messages INDEXED BY queue_messages_expires"
                    " WHERE expires_ms<=? LIMIT ?)");
    int rc;

    *deleted_out = 0;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, (int)limit);
    rc = db_step_done(db, st, err);
    if (rc == 0)
        *deleted_out = (unsigned)sqlite3_changes(db_handle(db));
    return rc;
}

/* ---- service properties -------------------------------------------------- */

int qstore_props_get(struct db *db, const char *account,
                     struct qstore_props *out, struct err *err)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT logging, hour_metrics, minute_metrics, cors"
                    " FROM queue_props WHERE account=?");
    int rc;

    memset(out, 0, sizeof(*out));
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    rc = step_row(db, st, err);
    if (rc == 1) {
        for (int i = 0; i < 4; i++)
            out->part[i] = db_col_strdup(st, i);
    }
    sqlite3_reset(st);
    return rc < 0 ? rc : 0;
}

int qstore_props_set(struct db *db, const char *account,
                     const struct qstore_props *p, struct err *err)
{
    sqlite3_stmt *st =
        db_stmt(db, "INSERT INTO queue_props(account, logging, hour_metrics,"
                    " minute_metrics, cors) VALUES(?1, ?2, ?3, ?4, ?5)"
                    " ON CONFLICT(account) DO UPDATE SET"
                    " logging=coalesce(?2, logging),"
                    " hour_metrics=coalesce(?3, hour_metrics),"
                    " minute_metrics=coalesce(?4, minute_metrics),"
                    " cors=coalesce(?5, cors)");

    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    for (int i = 0; i < 4; i++) {
        if (p->part[i])
            sqlite3_bind_text(st, i + 2, p->part[i], -1, SQLITE_STATIC);
    }
    return db_step_done(db, st, err);
}

void qstore_props_release(struct qstore_props *p)
{
    for (int i = 0; i < 4; i++)
        FREE_AND_NULL(p->part[i]);
}
