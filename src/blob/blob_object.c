/*
 * blob_object.c: blobs and blocks in SQL (tables blob_blobs, blob_blocks,
 * blob_committed, blob_data; see blob_store.c for the schema, the inline
 * storage of small blobs and the invariants).
 *
 * Every change is a struct blob_txn run by the group commit, so its
 * checks and writes are one atomic step:
 *
 *   1. find the container (404 ContainerNotFound) and the blob row;
 *   2. evaluate the conditions (blob_cond.c), the storage special case
 *      (If-None-Match: * over an existing blob is 409 BlobAlreadyExists)
 *      and the lease (blob_lease.c);
 *   3. write the rows; files the change makes garbage go to
 *      blob_txn_drop() and are unlinked after the commit.
 *
 * A blob row's states:
 *
 *   (none) --Put Block--> placeholder (committed=0, blocks only)
 *   (none)/placeholder --Put Blob / Put Block List / Copy--> committed
 *   committed --Put Block--> committed with uncommitted blocks
 *   committed --Put Blob / Put Block List--> committed (new file or
 *       inline bytes; the old ones and all uncommitted blocks dropped)
 *   committed --Delete--> (none) (its bytes and blocks dropped)
 *   placeholder --blocks expire (blob_store.c)--> (none)
 *
 * Put Block List runs in three steps, because copying bytes under the db
 * lock would stall every other request: resolve the list to (file, offset,
 * length) extents under the lock; concatenate the extents into a new file
 * without it (blob_files_copy); then commit in a transaction that first
 * verifies nothing it used moved (the blob's file, each uncommitted block's
 * file). If something did, a concurrent writer won: the new file is
 * dropped and the three steps run again (a few times at most).
 *
 * Ownership: struct blob_props owns its strings (blob_props_release).
 * Inputs (names, content, meta) are borrowed for the call.
 * Threads: any; everything here is reentrant.
 */
#include "blob/blobint.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"

#define COMMIT_RETRIES 5

/* ---- rows ---------------------------------------------------------------- */

void blob_content_release(struct blob_content *c)
{
    if (!c)
        return;
    FREE_AND_NULL(c->type);
    FREE_AND_NULL(c->encoding);
    FREE_AND_NULL(c->language);
    FREE_AND_NULL(c->cache_control);
    FREE_AND_NULL(c->disposition);
    c->has_md5 = false;
}

void blob_props_release(struct blob_props *p)
{
    if (!p)
        return;
    blob_content_release(&p->content);
    FREE_AND_NULL(p->meta);
    FREE_AND_NULL(p->copy.id);
    FREE_AND_NULL(p->copy.source);
}

void blob_object_from_row(sqlite3_stmt *st, int col, struct blob_props *out)
{
    const char *lid;

    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(st, col + 0);
    out->committed = sqlite3_column_int(st, col + 1) != 0;
    out->file = (uint64_t)sqlite3_column_int64(st, col + 2);
    out->size = (uint64_t)sqlite3_column_int64(st, col + 3);
    out->etag = (uint64_t)sqlite3_column_int64(st, col + 4);
    out->ctime_ms = sqlite3_column_int64(st, col + 5);
    out->mtime_ms = sqlite3_column_int64(st, col + 6);
    out->content.type = db_col_strdup(st, col + 7);
    out->content.encoding = db_col_strdup(st, col + 8);
    out->content.language = db_col_strdup(st, col + 9);
    out->content.cache_control = db_col_strdup(st, col + 10);
    out->content.disposition = db_col_strdup(st, col + 11);
    if (sqlite3_column_bytes(st, col + 12) == CRYPTO_MD5_LEN) {
        memcpy(out->content.md5, sqlite3_column_blob(st, col + 12),
               CRYPTO_MD5_LEN);
        out->content.has_md5 = true;
    }
    out->meta = db_col_strdup(st, col + 13);
    if (!out->meta)
        out->meta = xstrdup("");
    out->lease.state = (enum blob_lease_state)sqlite3_column_int(st, col + 14);
    lid = (const char *)sqlite3_column_text(st, col + 15);
    if (lid)
        snprintf(out->lease.id, sizeof(out->lease.id), "%s", lid);
    out->lease.duration_s = sqlite3_column_int64(st, col + 16);
    out->lease.expiry_ms = sqlite3_column_int64(st, col + 17);
    out->lease.break_ms = sqlite3_column_int64(st, col + 18);
    out->copy.id = db_col_strdup(st, col + 19);
    out->copy.source = db_col_strdup(st, col + 20);
    out->copy.time_ms = sqlite3_column_int64(st, col + 21);
    out->copy.len = (uint64_t)sqlite3_column_int64(st, col + 22);
    out->type = sqlite3_column_int(st, col + 23) == BLOB_TYPE_APPEND
                    ? BLOB_TYPE_APPEND
                    : BLOB_TYPE_BLOCK;
    out->append_blocks = (uint64_t)sqlite3_column_int64(st, col + 24);
}

const char *blob_type_str(enum blob_type t)
{
    return t == BLOB_TYPE_APPEND ? "AppendBlob" : "BlockBlob";
}

static int invalid_blob_type(struct err *err)
{
    return err_set(err, ERR_CONFLICT, "InvalidBlobType",
                   "the blob type is invalid for this operation");
}

static int blob_not_found(struct err *err)
{
    return err_set(err, ERR_NOTFOUND, "BlobNotFound",
                   "the specified blob does not exist");
}

/*
 * Find the container and the blob row (lock held). *found_out says
 * whether a row (committed or placeholder) exists; out is filled then.
 */
static int load(struct blob_store *bs, const char *account,
                const char *container, const char *name, int64_t *cid_out,
                bool *found_out, struct blob_props *out, struct err *err)
{
    struct db *db = blob_store_db(bs);
    sqlite3_stmt *st;
    int rc;

    *found_out = false;
    rc = blob_container_find(bs, account, container, cid_out, err);
    if (rc < 0)
        return rc;
    st = db_stmt(db, "SELECT " BLOB_PROPS_COLS " FROM blob_blobs WHERE "
                     "container_id=? AND name=?");
    sqlite3_bind_int64(st, 1, *cid_out);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        blob_object_from_row(st, 0, out);
        *found_out = true;
    }
    sqlite3_reset(st);
    return 0;
}

/* Append an inline blob's bytes to b (lock held). */
static int load_inline(struct db *db, int64_t blob_id, struct buf *b,
                       struct err *err)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT data FROM blob_data WHERE "
                                   "blob_id=?");
    int rc = 0;

    sqlite3_bind_int64(st, 1, blob_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (buf_add(b, sqlite3_column_blob(st, 0),
                    (size_t)sqlite3_column_bytes(st, 0)) < 0)
            rc = err_set(err, ERR_NOMEM, "InternalError", "out of memory");
    } else {
        log_error("inline blob bytes missing blob=%lld", (long long)blob_id);
        rc = err_set(err, ERR_INTERNAL, "InternalError",
                     "blob bytes are missing");
    }
    sqlite3_reset(st);
    return rc;
}

int blob_object_get(struct blob_store *bs, const char *account,
                    const char *container, const char *name,
                    struct blob_props *out, int *fd_out, struct buf *inline_out,
                    struct err *err)
{
    struct db *db = blob_store_db(bs);
    int64_t cid;
    bool found;
    int rc;

    if (fd_out)
        *fd_out = -1;
    db_lock(db);
    rc = load(bs, account, container, name, &cid, &found, out, err);
    if (rc < 0)
        goto out;
    if (!found || !out->committed) {
        if (found)
            blob_props_release(out);
        rc = blob_not_found(err);
        goto out;
    }
    if (fd_out && out->file) {
        rc = blob_files_open_read(blob_store_files(bs), out->file, fd_out, err);
        if (rc < 0) {
            log_error("blob file missing file=%llx",
                      (unsigned long long)out->file);
            blob_props_release(out);
        }
    } else if (fd_out && out->size > 0) {
        rc = load_inline(db, out->id, inline_out, err);
        if (rc < 0)
            blob_props_release(out);
    }
out:
    db_unlock(db);
    return rc;
}

/* Drop the uncommitted blocks of a blob (and their files, but keep). */
static int drop_blocks(struct db *db, struct blob_txn *t, int64_t blob_id,
                       uint64_t keep, struct err *err)
{
    sqlite3_stmt *st;

    st = db_stmt(db, "SELECT file FROM blob_blocks WHERE blob_id=?");
    sqlite3_bind_int64(st, 1, blob_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint64_t f = (uint64_t)sqlite3_column_int64(st, 0);
        if (f != keep)
            blob_txn_drop(t, f);
    }
    sqlite3_reset(st);
    st = db_stmt(db, "DELETE FROM blob_blocks WHERE blob_id=?");
    sqlite3_bind_int64(st, 1, blob_id);
    return db_step_done(db, st, err);
}

static int drop_inline(struct db *db, int64_t blob_id, struct err *err)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM blob_data WHERE blob_id=?");

    sqlite3_bind_int64(st, 1, blob_id);
    return db_step_done(db, st, err);
}

static int drop_committed(struct db *db, int64_t blob_id, struct err *err)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM blob_committed WHERE "
                                   "blob_id=?");

    sqlite3_bind_int64(st, 1, blob_id);
    return db_step_done(db, st, err);
}

/* Checks shared by the writes of a whole new version. */
static int check_new_version(const struct blob_wcond *wc, bool found,
                             const struct blob_props *cur, bool create_only,
                             int64_t now, struct err *err)
{
    bool exists = found && cur->committed;
    const struct blob_cond *c = wc ? wc->cond : NULL;
    struct blob_lease none = { BLOB_LEASE_AVAILABLE, "", 0, 0, 0 };
    int rc;

    if (exists && blob_cond_none_star(c))
        return err_set(err, ERR_CONFLICT, "BlobAlreadyExists",
                       "the specified blob already exists");
    rc = blob_cond_eval(c, false, exists, exists ? cur->etag : 0,
                        exists ? cur->mtime_ms : 0, err);
    if (rc < 0)
        return rc;
    rc = blob_lease_check(exists ? &cur->lease : &none,
                          wc ? wc->lease_id : NULL, true, false, now, err);
    if (rc < 0)
        return rc;
    if (exists && create_only)
        return err_set(err, ERR_AUTH, "AuthorizationPermissionMismatch",
                       "this request is not authorized to overwrite the "
                       "blob");
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/*
 * Write a committed version into the row (insert or update). Columns not
 * named by v keep defaults (insert) or their values (update: lease).
 */
struct version {
    enum blob_type type;
    uint64_t append_blocks;
    uint64_t file, size, etag;
    const void *data; /* inline bytes, or NULL */
    const struct blob_content *content;
    const char *meta;
    const struct blob_copy_info *copy;
};

static int write_version(struct db *db, int64_t cid, const char *name,
                         bool found, const struct blob_props *cur,
                         const struct version *v, int64_t now, int64_t *id_out,
                         struct err *err)
{
    const struct blob_content *c = v->content;
    sqlite3_stmt *st;
    int64_t ctime = found && cur->committed ? cur->ctime_ms : now;
    int rc;

    if (found) {
        st = db_stmt(db, "UPDATE blob_blobs SET committed=1, file=?, size=?,"
                         " etag=?, ctime=?, mtime=?, ctype=?, cenc=?, "
                         "clang=?, cctl=?, cdisp=?, md5=?, meta=?, "
                         "copy_id=?, copy_src=?, copy_time=?, copy_len=?, "
                         "type=?, blocks=? WHERE id=?");
        sqlite3_bind_int64(st, 19, cur->id);
    } else {
        st = db_stmt(db, "INSERT INTO blob_blobs(committed, file, size, etag,"
                         " ctime, mtime, ctype, cenc, clang, cctl, cdisp, "
                         "md5, meta, copy_id, copy_src, copy_time, copy_len, "
                         "type, blocks, container_id, name) VALUES(1, ?, ?, "
                         "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                         "?)");
        sqlite3_bind_int64(st, 19, cid);
        sqlite3_bind_text(st, 20, name, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, 17, (int)v->type);
    sqlite3_bind_int64(st, 18, (int64_t)v->append_blocks);
    sqlite3_bind_int64(st, 1, (int64_t)v->file);
    sqlite3_bind_int64(st, 2, (int64_t)v->size);
    sqlite3_bind_int64(st, 3, (int64_t)v->etag);
    sqlite3_bind_int64(st, 4, ctime);
    sqlite3_bind_int64(st, 5, now);
    bind_text_or_null(st, 6, c ? c->type : NULL);
    bind_text_or_null(st, 7, c ? c->encoding : NULL);
    bind_text_or_null(st, 8, c ? c->language : NULL);
    bind_text_or_null(st, 9, c ? c->cache_control : NULL);
    bind_text_or_null(st, 10, c ? c->disposition : NULL);
    if (c && c->has_md5)
        sqlite3_bind_blob(st, 11, c->md5, CRYPTO_MD5_LEN, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 11);
    sqlite3_bind_text(st, 12, v->meta ? v->meta : "", -1, SQLITE_STATIC);
    if (v->copy && v->copy->id) {
        sqlite3_bind_text(st, 13, v->copy->id, -1, SQLITE_STATIC);
        bind_text_or_null(st, 14, v->copy->source);
        sqlite3_bind_int64(st, 15, v->copy->time_ms);
        sqlite3_bind_int64(st, 16, (int64_t)v->copy->len);
    } else {
        sqlite3_bind_null(st, 13);
        sqlite3_bind_null(st, 14);
        sqlite3_bind_null(st, 15);
        sqlite3_bind_null(st, 16);
    }
    rc = db_step_done(db, st, err);
    if (rc < 0)
        return rc;
    *id_out = found ? cur->id : sqlite3_last_insert_rowid(db_handle(db));
    if (v->data && v->size > 0) {
        st = db_stmt(db, "INSERT OR REPLACE INTO blob_data(blob_id, data) "
                         "VALUES(?, ?)");
        sqlite3_bind_int64(st, 1, *id_out);
        sqlite3_bind_blob64(st, 2, v->data, v->size, SQLITE_STATIC);
        return db_step_done(db, st, err);
    }
    if (found)
        return drop_inline(db, cur->id, err);
    return 0;
}

/* Fill out from what was just written (no second query). */
static void fill_out(struct blob_props *out, int64_t id,
                     const struct version *v, int64_t ctime, int64_t now,
                     const struct blob_lease *lease)
{
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->committed = true;
    out->type = v->type;
    out->append_blocks = v->append_blocks;
    out->file = v->file;
    out->size = v->size;
    out->etag = v->etag;
    out->ctime_ms = ctime;
    out->mtime_ms = now;
    if (v->content) {
        const struct blob_content *c = v->content;
        out->content.type = c->type ? xstrdup(c->type) : NULL;
        out->content.encoding = c->encoding ? xstrdup(c->encoding) : NULL;
        out->content.language = c->language ? xstrdup(c->language) : NULL;
        out->content.cache_control =
            c->cache_control ? xstrdup(c->cache_control) : NULL;
        out->content.disposition =
            c->disposition ? xstrdup(c->disposition) : NULL;
        out->content.has_md5 = c->has_md5;
        memcpy(out->content.md5, c->md5, CRYPTO_MD5_LEN);
    }
    out->meta = xstrdup(v->meta ? v->meta : "");
    if (lease)
        out->lease = *lease;
}

/* ---- Put Blob / Copy Blob ------------------------------------------------ */

static int put_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct blob_put_call *x = (struct blob_put_call *)t;
    struct db *db = blob_store_db(bs);
    struct blob_props cur;
    struct version v;
    int64_t cid, id;
    bool found;
    int rc;

    memset(&cur, 0, sizeof(cur));
    rc = load(bs, x->account, x->container, x->name, &cid, &found, &cur, err);
    if (rc < 0)
        return rc;
    rc = check_new_version(x->wc, found, &cur, x->p->create_only, t->now_ms,
                           err);
    if (rc < 0)
        goto out;
    if (found) {
        if (cur.file != x->p->file)
            blob_txn_drop(t, cur.file);
        rc = drop_blocks(db, t, cur.id, 0, err);
        if (rc == 0)
            rc = drop_committed(db, cur.id, err);
        if (rc < 0)
            goto out;
    }
    memset(&v, 0, sizeof(v));
    v.type = x->p->type;
    v.append_blocks = x->p->append_blocks;
    v.file = x->p->file;
    v.size = x->p->size;
    v.data = x->p->file ? NULL : x->p->data;
    v.etag = blob_store_etag(bs);
    v.content = x->p->content;
    v.meta = x->p->meta;
    v.copy = x->p->copy;
    rc = write_version(db, cid, x->name, found, &cur, &v, t->now_ms, &id, err);
    if (rc == 0 && x->out)
        fill_out(x->out, id, &v,
                 found && cur.committed ? cur.ctime_ms : t->now_ms, t->now_ms,
                 found && cur.committed ? &cur.lease : NULL);
out:
    blob_props_release(&cur);
    return rc;
}

int blob_object_put(struct blob_store *bs, const char *account,
                    const char *container, const char *name,
                    const struct blob_wcond *wc, const struct blob_put *p,
                    struct blob_props *out, struct err *err)
{
    struct blob_put_call x;

    memset(&x, 0, sizeof(x));
    x.t.fn = put_fn;
    x.t.new_file = p->file;
    x.account = account;
    x.container = container;
    x.name = name;
    x.wc = wc;
    x.p = p;
    x.out = out;
    return blob_store_run(bs, &x.t, err);
}

static void put_done(struct blob_txn *t, int rc)
{
    struct blob_put_call *x = (struct blob_put_call *)t;

    x->done(x, rc);
}

void blob_object_put_submit(struct blob_store *bs, struct blob_put_call *x,
                            struct err *err)
{
    x->t.fn = put_fn;
    x->t.done = put_done;
    x->t.new_file = x->p->file;
    blob_store_submit(bs, &x->t, err);
}

/* ---- Append Block -------------------------------------------------------- */

/*
 * Append Block runs in three steps, like Put Block List, so that no byte is
 * written under the db lock: look the blob up and check everything (lock
 * held); write the bytes past the blob's committed size and make them
 * durable (no lock); commit the new size in a transaction that first
 * verifies the blob is still the version it looked at (same row, etag and
 * file). The blob's append lock (blob_store_append_lock) is held across
 * the three, so appends to one blob cannot interleave; any other writer
 * (Put Blob, Delete, Set Metadata...) that changed the blob in between
 * makes the commit stale, and the append starts over against the new
 * version. Bytes written by a stale attempt sit past the committed size
 * (the next append cuts them) or in a file that was dropped.
 */
struct append_txn {
    struct blob_txn t;
    const char *account, *container, *name;
    int64_t blob_id;
    uint64_t etag, file, size, len;
    bool stale;
    struct blob_props *out;
};

/* Step 1 (lock held): every check; *cur is the version to append to. */
static int append_check(struct blob_store *bs, const char *account,
                        const char *container, const char *name,
                        const struct blob_wcond *wc,
                        const struct blob_append *a, int64_t now,
                        struct blob_props *cur, struct err *err)
{
    int64_t cid;
    bool found;
    int rc;

    memset(cur, 0, sizeof(*cur));
    rc = load(bs, account, container, name, &cid, &found, cur, err);
    if (rc < 0)
        return rc;
    if (!found || !cur->committed)
        rc = blob_not_found(err);
    else if (cur->type != BLOB_TYPE_APPEND)
        rc = invalid_blob_type(err);
    if (rc == 0)
        rc = blob_cond_eval(wc ? wc->cond : NULL, false, true, cur->etag,
                            cur->mtime_ms, err);
    if (rc == 0)
        rc = blob_lease_check(&cur->lease, wc ? wc->lease_id : NULL, true,
                              false, now, err);
    if (rc == 0 && a->has_max_size &&
        (cur->size > a->max_size || a->len > a->max_size - cur->size))
        rc = err_set(err, ERR_PRECONDITION, "MaxBlobSizeConditionNotMet",
                     "the max blob size condition specified was not met");
    if (rc == 0 && a->has_append_pos && a->append_pos != cur->size)
        rc = err_set(err, ERR_PRECONDITION, "AppendPositionConditionNotMet",
                     "the append position condition specified was not met");
    if (rc == 0 && cur->append_blocks >= BLOB_APPEND_BLOCKS)
        rc = err_set(err, ERR_CONFLICT, "BlockCountExceedsLimit",
                     "the committed block count cannot exceed the maximum "
                     "limit of %d blocks",
                     BLOB_APPEND_BLOCKS);
    if (rc < 0)
        blob_props_release(cur);
    return rc;
}

/*
 * Step 2 (no lock): the bytes of a after cur's. A blob with no file yet
 * gets a new published file (*new_file); otherwise its file is cut back to
 * the committed size and extended.
 */
static int append_write(struct blob_files *f, const struct blob_props *cur,
                        const struct blob_append *a, uint64_t *new_file,
                        struct err *err)
{
    int fd;
    int rc;

    *new_file = 0;
    if (!cur->file && cur->size > 0) /* inline bytes: never an append blob */
        return err_set(err, ERR_INTERNAL, "InternalError",
                       "an append blob's bytes are not in a file");
    if (!cur->file) {
        uint64_t id;

        rc = blob_files_create(f, &id, &fd, err);
        if (rc < 0)
            return rc;
        rc = blob_files_copy(fd, a->src, 0, a->len, err);
        if (rc < 0) {
            blob_files_discard(f, id, fd);
            return rc;
        }
        rc = blob_files_publish(f, id, fd, err);
        if (rc < 0) {
            blob_files_discard(f, id, -1);
            return rc;
        }
        *new_file = id;
        return 0;
    }
    rc = blob_files_open_append(f, cur->file, cur->size, &fd, err);
    if (rc < 0)
        return rc;
    rc = blob_files_copy(fd, a->src, 0, a->len, err);
    if (rc == 0)
        rc = blob_files_sync(f, fd, err);
    close(fd);
    return rc;
}

/* Step 3 (in the transaction): still the same version? Then commit. */
static int append_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct append_txn *x = (struct append_txn *)t;
    struct db *db = blob_store_db(bs);
    struct blob_props cur;
    sqlite3_stmt *st;
    uint64_t file = t->new_file ? t->new_file : x->file;
    uint64_t etag;
    int64_t cid;
    bool found;
    int rc;

    memset(&cur, 0, sizeof(cur));
    rc = load(bs, x->account, x->container, x->name, &cid, &found, &cur, err);
    if (rc < 0)
        return rc;
    if (!found || !cur.committed || cur.id != x->blob_id ||
        cur.etag != x->etag || cur.file != x->file) {
        x->stale = true;
        rc = err_set(err, ERR_CONFLICT, "OperationConflict",
                     "the blob changed while a block was appended");
        goto out;
    }
    etag = blob_store_etag(bs);
    st = db_stmt(db, "UPDATE blob_blobs SET file=?, size=?, etag=?, mtime=?, "
                     "blocks=blocks+1 WHERE id=?");
    sqlite3_bind_int64(st, 1, (int64_t)file);
    sqlite3_bind_int64(st, 2, (int64_t)(x->size + x->len));
    sqlite3_bind_int64(st, 3, (int64_t)etag);
    sqlite3_bind_int64(st, 4, t->now_ms);
    sqlite3_bind_int64(st, 5, cur.id);
    rc = db_step_done(db, st, err);
    if (rc == 0 && x->out) {
        *x->out = cur;
        memset(&cur, 0, sizeof(cur)); /* x->out owns the strings now */
        x->out->file = file;
        x->out->size = x->size + x->len;
        x->out->etag = etag;
        x->out->mtime_ms = t->now_ms;
        x->out->append_blocks++;
    }
out:
    blob_props_release(&cur);
    return rc;
}

int blob_object_append(struct blob_store *bs, const char *account,
                       const char *container, const char *name,
                       const struct blob_wcond *wc, const struct blob_append *a,
                       uint64_t *offset_out, struct blob_props *out,
                       struct err *err)
{
    struct db *db = blob_store_db(bs);
    pthread_mutex_t *mu = blob_store_append_lock(bs, account, container, name);
    int rc = -ERR_CONFLICT;

    pthread_mutex_lock(mu);
    for (int attempt = 0; attempt < COMMIT_RETRIES; attempt++) {
        struct append_txn x;
        struct blob_props cur;
        struct err e = ERR_INIT;

        db_lock(db);
        rc = append_check(bs, account, container, name, wc, a, timefmt_now_ms(),
                          &cur, err);
        db_unlock(db);
        if (rc < 0)
            break;
        memset(&x, 0, sizeof(x));
        x.t.fn = append_fn;
        x.account = account;
        x.container = container;
        x.name = name;
        x.blob_id = cur.id;
        x.etag = cur.etag;
        x.file = cur.file;
        x.size = cur.size;
        x.len = a->len;
        x.out = out;
        rc = append_write(blob_store_files(bs), &cur, a, &x.t.new_file, &e);
        blob_props_release(&cur);
        if (rc == -ERR_NOTFOUND)
            x.stale = true; /* its file went: the blob was replaced */
        else if (rc == 0)
            rc = blob_store_run(bs, &x.t, &e);
        if (rc == 0)
            *offset_out = x.size;
        if (rc == 0 || !x.stale) {
            if (rc < 0 && err)
                *err = e;
            break;
        }
        log_debug("append raced a writer; retrying attempt=%d", attempt);
        rc = err_set(err, ERR_CONFLICT, "OperationConflict",
                     "the blob kept changing while a block was appended");
    }
    pthread_mutex_unlock(mu);
    return rc;
}

/* ---- Put Block ----------------------------------------------------------- */

struct block_txn {
    struct blob_txn t;
    const char *account, *container, *name, *lease_id;
    const unsigned char *bid;
    size_t bidlen;
    uint64_t file, size;
};

static int block_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct block_txn *x = (struct block_txn *)t;
    struct db *db = blob_store_db(bs);
    struct blob_props cur;
    sqlite3_stmt *st;
    int64_t cid, blob_id;
    uint64_t old = 0;
    int64_t count = 0;
    bool found;
    int rc;

    memset(&cur, 0, sizeof(cur));
    rc = load(bs, x->account, x->container, x->name, &cid, &found, &cur, err);
    if (rc < 0)
        return rc;
    if (found && cur.committed && cur.type != BLOB_TYPE_BLOCK) {
        rc = invalid_blob_type(err);
    } else if (found && cur.committed) {
        rc = blob_lease_check(&cur.lease, x->lease_id, true, false, t->now_ms,
                              err);
    } else if (x->lease_id) {
        struct blob_lease none = { BLOB_LEASE_AVAILABLE, "", 0, 0, 0 };
        rc = blob_lease_check(&none, x->lease_id, true, false, t->now_ms, err);
    }
    if (rc < 0)
        goto out;
    if (found) {
        blob_id = cur.id;
    } else {
        st = db_stmt(db, "INSERT INTO blob_blobs(container_id, name, "
                         "committed, ctime, mtime) VALUES(?, ?, 0, ?, ?)");
        sqlite3_bind_int64(st, 1, cid);
        sqlite3_bind_text(st, 2, x->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, t->now_ms);
        sqlite3_bind_int64(st, 4, t->now_ms);
        rc = db_step_done(db, st, err);
        if (rc < 0)
            goto out;
        blob_id = sqlite3_last_insert_rowid(db_handle(db));
    }
    st = db_stmt(db, "SELECT length(block_id) FROM blob_blocks WHERE "
                     "blob_id=? LIMIT 1");
    sqlite3_bind_int64(st, 1, blob_id);
    if (sqlite3_step(st) == SQLITE_ROW &&
        (size_t)sqlite3_column_int64(st, 0) != x->bidlen) {
        sqlite3_reset(st);
        rc = err_set(err, ERR_INVALID, "InvalidBlobOrBlock",
                     "the specified blob or block content is invalid: block "
                     "ids of a blob must all have the same length");
        goto out;
    }
    sqlite3_reset(st);
    st = db_stmt(db, "SELECT file FROM blob_blocks WHERE blob_id=? AND "
                     "block_id=?");
    sqlite3_bind_int64(st, 1, blob_id);
    sqlite3_bind_blob(st, 2, x->bid, (int)x->bidlen, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        old = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (!old) {
        st = db_stmt(db, "SELECT count(*) FROM blob_blocks WHERE blob_id=?");
        sqlite3_bind_int64(st, 1, blob_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            count = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (count >= BLOB_MAX_UNCOMMITTED) {
            rc = err_set(err, ERR_CONFLICT, "BlockCountExceedsLimit",
                         "the uncommitted block count cannot exceed the "
                         "maximum limit of %d blocks",
                         BLOB_MAX_UNCOMMITTED);
            goto out;
        }
    }
    st = db_stmt(db, "INSERT OR REPLACE INTO blob_blocks(blob_id, block_id, "
                     "file, size, ctime) VALUES(?, ?, ?, ?, ?)");
    sqlite3_bind_int64(st, 1, blob_id);
    sqlite3_bind_blob(st, 2, x->bid, (int)x->bidlen, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)x->file);
    sqlite3_bind_int64(st, 4, (int64_t)x->size);
    sqlite3_bind_int64(st, 5, t->now_ms);
    rc = db_step_done(db, st, err);
    if (rc == 0)
        blob_txn_drop(t, old);
out:
    blob_props_release(&cur);
    return rc;
}

int blob_object_put_block(struct blob_store *bs, const char *account,
                          const char *container, const char *name,
                          const char *lease_id, const unsigned char *bid,
                          size_t bidlen, uint64_t file, uint64_t size,
                          struct err *err)
{
    struct block_txn x;

    memset(&x, 0, sizeof(x));
    x.t.fn = block_fn;
    x.t.new_file = file;
    x.account = account;
    x.container = container;
    x.name = name;
    x.lease_id = lease_id;
    x.bid = bid;
    x.bidlen = bidlen;
    x.file = file;
    x.size = size;
    return blob_store_run(bs, &x.t, err);
}

/* ---- Put Block List ------------------------------------------------------ */

/* One extent of the new blob: a file range, or a range of plan->mem. */
struct extent {
    uint64_t file; /* 0: the committed blob's inline bytes */
    uint64_t off, len;
    bool uncommitted; /* from blob_blocks (else the committed blob) */
};

/* The current committed list, for lookups by id. */
struct cblock {
    unsigned char id[BLOB_BLOCK_ID_MAX];
    size_t idlen;
    uint64_t off, size;
};

static int cmp_cblock(const void *a, const void *b)
{
    const struct cblock *x = a, *y = b;

    if (x->idlen != y->idlen)
        return x->idlen < y->idlen ? -1 : 1;
    return memcmp(x->id, y->id, x->idlen);
}

struct plan {
    struct extent *ext;
    size_t n;
    uint64_t size;
    bool found;        /* a row existed at resolve time */
    int64_t blob_id;   /* its id */
    uint64_t cur_etag; /* the committed version the plan reads from */
    struct buf mem;    /* its bytes when it is inline */
    bool uses_committed;
};

static void plan_release(struct plan *p)
{
    FREE_AND_NULL(p->ext);
    buf_release(&p->mem);
    p->n = 0;
}

static int load_committed(struct db *db, int64_t blob_id, struct cblock **out,
                          size_t *n_out)
{
    struct cblock *v = NULL;
    size_t n = 0, alloc = 0;
    uint64_t off = 0;
    sqlite3_stmt *st;

    st = db_stmt(db, "SELECT block_id, size FROM blob_committed WHERE "
                     "blob_id=? ORDER BY seq");
    sqlite3_bind_int64(st, 1, blob_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int len = sqlite3_column_bytes(st, 0);

        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            v = xrealloc(v, alloc * sizeof(*v));
        }
        if (len < 0 || len > BLOB_BLOCK_ID_MAX)
            len = 0;
        memcpy(v[n].id, sqlite3_column_blob(st, 0), (size_t)len);
        v[n].idlen = (size_t)len;
        v[n].size = (uint64_t)sqlite3_column_int64(st, 1);
        v[n].off = off;
        off += v[n].size;
        n++;
    }
    sqlite3_reset(st);
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_cblock);
    *out = v;
    *n_out = n;
    return 0;
}

static int invalid_list(struct err *err)
{
    return err_set(err, ERR_INVALID, "InvalidBlockList",
                   "the specified block list is invalid");
}

/* Step 1: resolve refs into extents (lock held). */
static int resolve(struct blob_store *bs, const char *account,
                   const char *container, const char *name,
                   const struct blob_block_ref *refs, size_t n, struct plan *p,
                   struct err *err)
{
    struct db *db = blob_store_db(bs);
    struct blob_props cur;
    struct cblock *cb = NULL;
    size_t ncb = 0;
    int64_t cid;
    bool found;
    int rc;

    memset(&cur, 0, sizeof(cur));
    memset(p, 0, sizeof(*p));
    buf_init(&p->mem, BLOB_INLINE_MAX);
    rc = load(bs, account, container, name, &cid, &found, &cur, err);
    if (rc < 0)
        return rc;
    p->found = found;
    p->blob_id = found ? cur.id : 0;
    if (found && cur.committed && cur.type != BLOB_TYPE_BLOCK) {
        rc = invalid_blob_type(err); /* before any block id is looked up */
        goto out;
    }
    if (found && cur.committed) {
        p->cur_etag = cur.etag;
        load_committed(db, cur.id, &cb, &ncb);
        if (ncb && !cur.file && cur.size) {
            rc = load_inline(db, cur.id, &p->mem, err);
            if (rc < 0)
                goto out;
        }
    }
    p->ext = n ? xcalloc(n, sizeof(*p->ext)) : NULL;
    for (size_t i = 0; i < n; i++) {
        const struct blob_block_ref *r = &refs[i];
        struct extent *e = &p->ext[i];
        bool have = false;

        if (found && r->kind != BLOB_BLOCK_COMMITTED) {
            sqlite3_stmt *st = db_stmt(db, "SELECT file, size FROM "
                                           "blob_blocks WHERE blob_id=? AND "
                                           "block_id=?");
            sqlite3_bind_int64(st, 1, cur.id);
            sqlite3_bind_blob(st, 2, r->id, (int)r->idlen, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) {
                e->file = (uint64_t)sqlite3_column_int64(st, 0);
                e->len = (uint64_t)sqlite3_column_int64(st, 1);
                e->off = 0;
                e->uncommitted = true;
                have = true;
            }
            sqlite3_reset(st);
        }
        if (!have && r->kind != BLOB_BLOCK_UNCOMMITTED && ncb) {
            struct cblock key, *hit;

            memcpy(key.id, r->id, r->idlen);
            key.idlen = r->idlen;
            hit = bsearch(&key, cb, ncb, sizeof(*cb), cmp_cblock);
            if (hit) {
                e->file = cur.file;
                e->off = hit->off;
                e->len = hit->size;
                p->uses_committed = true;
                have = true;
            }
        }
        if (!have) {
            rc = invalid_list(err);
            goto out;
        }
        p->size += e->len;
    }
    p->n = n;
out:
    if (rc < 0)
        plan_release(p);
    free(cb);
    blob_props_release(&cur);
    return rc;
}

/*
 * Step 2: write the extents into a new published file. *file_out is 0
 * for an empty blob; *reused tells that the file is a block's own file
 * (one whole uncommitted block: nothing to copy). -ERR_NOTFOUND when a
 * source file vanished (a concurrent writer dropped it).
 */
static int build(struct blob_files *f, const struct plan *p, uint64_t *file_out,
                 bool *reused, struct err *err)
{
    uint64_t id = 0, open_id = 0;
    int fd = -1, src = -1;
    int rc = 0;

    *file_out = 0;
    *reused = false;
    if (p->size == 0)
        return 0;
    if (p->n == 1 && p->ext[0].uncommitted && p->ext[0].file) {
        *file_out = p->ext[0].file;
        *reused = true;
        return 0;
    }
    rc = blob_files_create(f, &id, &fd, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        const struct extent *e = &p->ext[i];

        if (e->len == 0)
            continue;
        if (!e->file) {
            if (e->off + e->len > p->mem.len) {
                rc = err_set(err, ERR_INTERNAL, "InternalError",
                             "inline block out of range");
                break;
            }
            rc =
                blob_files_write(fd, p->mem.data + e->off, (size_t)e->len, err);
            continue;
        }
        if (e->file != open_id) {
            if (src >= 0)
                close(src);
            src = -1;
            rc = blob_files_open_read(f, e->file, &src, err);
            if (rc < 0)
                break;
            open_id = e->file;
        }
        rc = blob_files_copy(fd, src, e->off, e->len, err);
    }
    if (src >= 0)
        close(src);
    if (rc < 0) {
        blob_files_discard(f, id, fd);
        return rc;
    }
    rc = blob_files_publish(f, id, fd, err);
    if (rc < 0)
        return rc;
    *file_out = id;
    return 0;
}

struct commit_txn {
    struct blob_txn t;
    const char *account, *container, *name;
    const struct blob_wcond *wc;
    const struct blob_block_ref *refs;
    const struct plan *plan;
    uint64_t file;
    bool reused;
    const struct blob_content *content;
    const char *meta;
    bool create_only;
    bool stale; /* something the plan used moved: retry */
    struct blob_props *out;
};

static int stale(struct commit_txn *x, struct err *err)
{
    x->stale = true;
    return err_set(err, ERR_CONFLICT, "OperationConflict",
                   "the blob changed while its block list was committed");
}

/* Step 3 (in the transaction): verify the plan still holds, then commit. */
static int commit_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct commit_txn *x = (struct commit_txn *)t;
    const struct plan *p = x->plan;
    struct db *db = blob_store_db(bs);
    struct blob_props cur;
    struct version v;
    sqlite3_stmt *st;
    int64_t cid, id;
    bool found;
    int rc;

    memset(&cur, 0, sizeof(cur));
    rc = load(bs, x->account, x->container, x->name, &cid, &found, &cur, err);
    if (rc < 0)
        return rc;
    if (found && cur.committed && cur.type != BLOB_TYPE_BLOCK) {
        rc = invalid_blob_type(err);
        goto out;
    }
    rc = check_new_version(x->wc, found, &cur, x->create_only, t->now_ms, err);
    if (rc < 0)
        goto out;
    if (found != p->found || (found && cur.id != p->blob_id) ||
        (p->uses_committed && (!cur.committed || cur.etag != p->cur_etag))) {
        rc = stale(x, err);
        goto out;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct extent *e = &p->ext[i];
        uint64_t now_file = 0;

        if (!e->uncommitted)
            continue;
        st = db_stmt(db, "SELECT file FROM blob_blocks WHERE blob_id=? AND "
                         "block_id=?");
        sqlite3_bind_int64(st, 1, cur.id);
        sqlite3_bind_blob(st, 2, x->refs[i].id, (int)x->refs[i].idlen,
                          SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            now_file = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (now_file != e->file) {
            rc = stale(x, err);
            goto out;
        }
    }
    if (found) {
        if (cur.committed && cur.file != x->file)
            blob_txn_drop(t, cur.file);
        rc = drop_blocks(db, t, cur.id, x->reused ? x->file : 0, err);
        if (rc == 0)
            rc = drop_committed(db, cur.id, err);
        if (rc < 0)
            goto out;
    }
    /* write_version drops inline bytes of the old version */
    memset(&v, 0, sizeof(v));
    v.file = x->file;
    v.size = p->size;
    v.etag = blob_store_etag(bs);
    v.content = x->content;
    v.meta = x->meta;
    rc = write_version(db, cid, x->name, found, &cur, &v, t->now_ms, &id, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        st = db_stmt(db, "INSERT INTO blob_committed(blob_id, seq, block_id, "
                         "size) VALUES(?, ?, ?, ?)");
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_blob(st, 3, x->refs[i].id, (int)x->refs[i].idlen,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (int64_t)p->ext[i].len);
        rc = db_step_done(db, st, err);
    }
    if (rc == 0 && x->out)
        fill_out(x->out, id, &v,
                 found && cur.committed ? cur.ctime_ms : t->now_ms, t->now_ms,
                 found && cur.committed ? &cur.lease : NULL);
out:
    blob_props_release(&cur);
    return rc;
}

int blob_object_commit_blocks(struct blob_store *bs, const char *account,
                              const char *container, const char *name,
                              const struct blob_wcond *wc,
                              const struct blob_block_ref *refs, size_t n,
                              const struct blob_content *content,
                              const char *meta, bool create_only,
                              struct blob_props *out, struct err *err)
{
    struct db *db = blob_store_db(bs);
    struct plan p;
    int rc = -ERR_CONFLICT;

    memset(&p, 0, sizeof(p));
    for (int attempt = 0; attempt < COMMIT_RETRIES; attempt++) {
        struct commit_txn x;
        struct err e = ERR_INIT;
        uint64_t file = 0;
        bool reused = false;

        db_lock(db);
        rc = resolve(bs, account, container, name, refs, n, &p, err);
        db_unlock(db);
        if (rc < 0)
            return rc;
        rc = build(blob_store_files(bs), &p, &file, &reused, &e);
        if (rc == -ERR_NOTFOUND) {
            plan_release(&p);
            continue; /* a source moved under us */
        }
        if (rc < 0) {
            plan_release(&p);
            if (err)
                *err = e;
            return rc;
        }
        memset(&x, 0, sizeof(x));
        x.t.fn = commit_fn;
        x.t.new_file = reused ? 0 : file;
        x.account = account;
        x.container = container;
        x.name = name;
        x.wc = wc;
        x.refs = refs;
        x.plan = &p;
        x.file = file;
        x.reused = reused;
        x.content = content;
        x.meta = meta;
        x.create_only = create_only;
        x.out = out;
        rc = blob_store_run(bs, &x.t, &e);
        plan_release(&p);
        if (rc == 0 || !x.stale) {
            if (rc < 0 && err)
                *err = e;
            return rc;
        }
        if (out)
            blob_props_release(out);
        log_debug("block list commit raced a writer; retrying attempt=%d",
                  attempt);
    }
    return err_set(err, ERR_CONFLICT, "OperationConflict",
                   "the blob kept changing while its block list was "
                   "committed");
}

/* ---- Get Block List ------------------------------------------------------ */

static void add_info(struct blob_block_info **v, size_t *n, size_t *alloc,
                     sqlite3_stmt *st)
{
    int len = sqlite3_column_bytes(st, 0);
    struct blob_block_info *b;

    if (*n == *alloc) {
        *alloc = *alloc ? *alloc * 2 : 64;
        *v = xrealloc(*v, *alloc * sizeof(**v));
    }
    b = &(*v)[(*n)++];
    if (len < 0 || len > BLOB_BLOCK_ID_MAX)
        len = 0;
    memcpy(b->id, sqlite3_column_blob(st, 0), (size_t)len);
    b->idlen = (size_t)len;
    b->size = (uint64_t)sqlite3_column_int64(st, 1);
}

int blob_object_block_list(struct blob_store *bs, const char *account,
                           const char *container, const char *name,
                           bool committed, bool uncommitted,
                           struct blob_props *props_out,
                           struct blob_block_info **c_out, size_t *nc_out,
                           struct blob_block_info **u_out, size_t *nu_out,
                           struct err *err)
{
    struct db *db = blob_store_db(bs);
    sqlite3_stmt *st;
    size_t ac = 0, au = 0;
    int64_t cid;
    bool found;
    int rc;

    *c_out = *u_out = NULL;
    *nc_out = *nu_out = 0;
    db_lock(db);
    rc = load(bs, account, container, name, &cid, &found, props_out, err);
    if (rc < 0)
        goto out;
    if (!found) {
        rc = blob_not_found(err);
        goto out;
    }
    if (props_out->committed && props_out->type != BLOB_TYPE_BLOCK) {
        blob_props_release(props_out);
        rc = invalid_blob_type(err);
        goto out;
    }
    if (committed && props_out->committed) {
        st = db_stmt(db, "SELECT block_id, size FROM blob_committed WHERE "
                         "blob_id=? ORDER BY seq");
        sqlite3_bind_int64(st, 1, props_out->id);
        while (sqlite3_step(st) == SQLITE_ROW)
            add_info(c_out, nc_out, &ac, st);
        sqlite3_reset(st);
    }
    if (uncommitted) {
        st = db_stmt(db, "SELECT block_id, size FROM blob_blocks WHERE "
                         "blob_id=? ORDER BY ctime, block_id");
        sqlite3_bind_int64(st, 1, props_out->id);
        while (sqlite3_step(st) == SQLITE_ROW)
            add_info(u_out, nu_out, &au, st);
        sqlite3_reset(st);
    }
out:
    db_unlock(db);
    return rc;
}

/* ---- properties, metadata, delete, lease --------------------------------- */

enum change_kind { CHANGE_CONTENT, CHANGE_META, CHANGE_DELETE, CHANGE_LEASE };

struct change_txn {
    struct blob_txn t;
    enum change_kind kind;
    const char *account, *container, *name;
    const struct blob_wcond *wc;
    const struct blob_cond *cond; /* lease: conditions only */
    const struct blob_content *content;
    const char *meta;
    const struct blob_lease_req *rq;
    char *id_out;
    int64_t *time_out;
    struct blob_props *out;
};

static int change_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct change_txn *x = (struct change_txn *)t;
    struct db *db = blob_store_db(bs);
    struct blob_props cur;
    sqlite3_stmt *st;
    uint64_t etag;
    int64_t cid;
    bool found;
    int rc;

    memset(&cur, 0, sizeof(cur));
    rc = load(bs, x->account, x->container, x->name, &cid, &found, &cur, err);
    if (rc < 0)
        return rc;
    if (!found || !cur.committed) {
        rc = blob_not_found(err);
        goto out;
    }
    if (x->kind == CHANGE_LEASE) {
        rc = blob_cond_eval(x->cond, false, true, cur.etag, cur.mtime_ms, err);
        if (rc == 0)
            rc = blob_lease_apply(&cur.lease, x->rq, t->now_ms, x->id_out,
                                  x->time_out, err);
        if (rc < 0)
            goto out;
        rc = blob_store_save_lease(bs,
                                   "UPDATE blob_blobs SET lease_state=?, "
                                   "lease_id=?, lease_duration=?, "
                                   "lease_expiry=?, lease_break=? WHERE id=?",
                                   cur.id, &cur.lease, err);
        goto done;
    }
    rc = blob_cond_eval(x->wc ? x->wc->cond : NULL, false, true, cur.etag,
                        cur.mtime_ms, err);
    if (rc == 0)
        rc = blob_lease_check(&cur.lease, x->wc ? x->wc->lease_id : NULL, true,
                              false, t->now_ms, err);
    if (rc < 0)
        goto out;
    if (x->kind == CHANGE_DELETE) {
        blob_txn_drop(t, cur.file);
        rc = drop_blocks(db, t, cur.id, 0, err);
        if (rc == 0)
            rc = drop_committed(db, cur.id, err);
        if (rc == 0)
            rc = drop_inline(db, cur.id, err);
        if (rc < 0)
            goto out;
        st = db_stmt(db, "DELETE FROM blob_blobs WHERE id=?");
        sqlite3_bind_int64(st, 1, cur.id);
        rc = db_step_done(db, st, err);
        goto out;
    }
    etag = blob_store_etag(bs);
    if (x->kind == CHANGE_META) {
        st = db_stmt(db, "UPDATE blob_blobs SET meta=?, etag=?, mtime=? "
                         "WHERE id=?");
        sqlite3_bind_text(st, 1, x->meta ? x->meta : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)etag);
        sqlite3_bind_int64(st, 3, t->now_ms);
        sqlite3_bind_int64(st, 4, cur.id);
        rc = db_step_done(db, st, err);
        if (rc == 0) {
            free(cur.meta);
            cur.meta = xstrdup(x->meta ? x->meta : "");
        }
    } else {
        const struct blob_content *c = x->content;

        st = db_stmt(db, "UPDATE blob_blobs SET ctype=?, cenc=?, clang=?, "
                         "cctl=?, cdisp=?, md5=?, etag=?, mtime=? WHERE "
                         "id=?");
        bind_text_or_null(st, 1, c->type);
        bind_text_or_null(st, 2, c->encoding);
        bind_text_or_null(st, 3, c->language);
        bind_text_or_null(st, 4, c->cache_control);
        bind_text_or_null(st, 5, c->disposition);
        if (c->has_md5)
            sqlite3_bind_blob(st, 6, c->md5, CRYPTO_MD5_LEN, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 6);
        sqlite3_bind_int64(st, 7, (int64_t)etag);
        sqlite3_bind_int64(st, 8, t->now_ms);
        sqlite3_bind_int64(st, 9, cur.id);
        rc = db_step_done(db, st, err);
    }
    cur.etag = etag;
    cur.mtime_ms = t->now_ms;
done:
    if (rc == 0 && x->out) {
        *x->out = cur;
        memset(&cur, 0, sizeof(cur));
    }
out:
    blob_props_release(&cur);
    return rc;
}

static int run_change(struct blob_store *bs, struct change_txn *x,
                      struct err *err)
{
    x->t.fn = change_fn;
    return blob_store_run(bs, &x->t, err);
}

int blob_object_set_content(struct blob_store *bs, const char *account,
                            const char *container, const char *name,
                            const struct blob_wcond *wc,
                            const struct blob_content *content,
                            struct blob_props *out, struct err *err)
{
    struct change_txn x;

    memset(&x, 0, sizeof(x));
    x.kind = CHANGE_CONTENT;
    x.account = account;
    x.container = container;
    x.name = name;
    x.wc = wc;
    x.content = content;
    x.out = out;
    return run_change(bs, &x, err);
}

int blob_object_set_meta(struct blob_store *bs, const char *account,
                         const char *container, const char *name,
                         const struct blob_wcond *wc, const char *meta,
                         struct blob_props *out, struct err *err)
{
    struct change_txn x;

    memset(&x, 0, sizeof(x));
    x.kind = CHANGE_META;
    x.account = account;
    x.container = container;
    x.name = name;
    x.wc = wc;
    x.meta = meta;
    x.out = out;
    return run_change(bs, &x, err);
}

int blob_object_delete(struct blob_store *bs, const char *account,
                       const char *container, const char *name,
                       const struct blob_wcond *wc, struct err *err)
{
    struct change_txn x;

    memset(&x, 0, sizeof(x));
    x.kind = CHANGE_DELETE;
    x.account = account;
    x.container = container;
    x.name = name;
    x.wc = wc;
    return run_change(bs, &x, err);
}

int blob_object_lease(struct blob_store *bs, const char *account,
                      const char *container, const char *name,
                      const struct blob_cond *cond,
                      const struct blob_lease_req *rq, struct blob_props *out,
                      char id_out[40], int64_t *time_out, struct err *err)
{
    struct change_txn x;

    memset(&x, 0, sizeof(x));
    x.kind = CHANGE_LEASE;
    x.account = account;
    x.container = container;
    x.name = name;
    x.cond = cond;
    x.rq = rq;
    x.id_out = id_out;
    x.time_out = time_out;
    x.out = out;
    return run_change(bs, &x, err);
}
