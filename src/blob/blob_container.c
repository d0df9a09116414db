/*
 * blob_container.c: containers in SQL (table blob_containers and
 * blob_policies; see blob_store.c for the schema).
 *
 * Reads take the db lock directly; every change is a struct blob_txn run
 * by the group commit (blob_store_run), so its checks (existence,
 * conditions, lease) and its writes are atomic. A container's etag and
 * Last-Modified change with its metadata and ACL; lease operations leave
 * them alone, as the service does.
 *
 * Leases on containers (blob_lease.c) guard only Delete Container: other
 * writes check a lease id only when the client sends one.
 *
 * Deleting a container deletes its blobs, their committed block lists and
 * uncommitted blocks, and its policies, in one transaction; the files of
 * all of them are removed after the commit (the service answers 202 and
 * collects later; we do the work before answering).
 *
 * Threads: any; the functions here are reentrant. Strings in struct
 * blob_container are owned by it (blob_container_release).
 */
#include "blob/blobint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"

void blob_container_release(struct blob_container *c)
{
    if (!c)
        return;
    FREE_AND_NULL(c->meta);
}

static void lease_from_row(sqlite3_stmt *st, int col, struct blob_lease *l)
{
    const char *id = (const char *)sqlite3_column_text(st, col + 1);

    memset(l, 0, sizeof(*l));
    l->state = (enum blob_lease_state)sqlite3_column_int(st, col);
    if (id) {
        size_t n = strlen(id);
        if (n >= sizeof(l->id))
            n = sizeof(l->id) - 1;
        memcpy(l->id, id, n);
    }
    l->duration_s = sqlite3_column_int64(st, col + 2);
    l->expiry_ms = sqlite3_column_int64(st, col + 3);
    l->break_ms = sqlite3_column_int64(st, col + 4);
}

void blob_container_from_row(sqlite3_stmt *st, int col,
                             struct blob_container *out)
{
    const char *name = (const char *)sqlite3_column_text(st, col + 1);
    size_t n = name ? strlen(name) : 0;

    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(st, col);
    if (n > BLOB_CONTAINER_MAX)
        n = BLOB_CONTAINER_MAX;
    memcpy(out->name, name ? name : "", n);
    out->etag = (uint64_t)sqlite3_column_int64(st, col + 2);
    out->ctime_ms = sqlite3_column_int64(st, col + 3);
    out->mtime_ms = sqlite3_column_int64(st, col + 4);
    out->access = (enum blob_access)sqlite3_column_int(st, col + 5);
    out->meta = db_col_strdup(st, col + 6);
    if (!out->meta)
        out->meta = xstrdup("");
    lease_from_row(st, col + 7, &out->lease);
}

static int not_found(struct err *err, const char *name)
{
    return err_set(err, ERR_NOTFOUND, "ContainerNotFound",
                   "the specified container does not exist ('%s')", name);
}

/* Read a container row (lock held). */
static int load(struct db *db, const char *account, const char *name,
                struct blob_container *out, struct err *err)
{
    sqlite3_stmt *st;
    int rc = 0;

    st = db_stmt(db, "SELECT " BLOB_CONTAINER_COLS " FROM blob_containers "
                     "WHERE account=? AND name=?");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        blob_container_from_row(st, 0, out);
    else
        rc = not_found(err, name);
    sqlite3_reset(st);
    return rc;
}

int blob_container_find(struct blob_store *bs, const char *account,
                        const char *name, int64_t *id_out, struct err *err)
{
    struct db *db = blob_store_db(bs);
    sqlite3_stmt *st;
    int rc = 0;

    st = db_stmt(db, "SELECT id FROM blob_containers WHERE account=? AND "
                     "name=?");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *id_out = sqlite3_column_int64(st, 0);
    else
        rc = not_found(err, name);
    sqlite3_reset(st);
    return rc;
}

int blob_container_get(struct blob_store *bs, const char *account,
                       const char *name, struct blob_container *out,
                       struct err *err)
{
    struct db *db = blob_store_db(bs);
    int rc;

    db_lock(db);
    rc = load(db, account, name, out, err);
    db_unlock(db);
    return rc;
}

int blob_container_access(struct blob_store *bs, const char *account,
                          const char *name, enum blob_access *out)
{
    struct db *db = blob_store_db(bs);
    sqlite3_stmt *st;
    int rc = -ERR_NOTFOUND;

    db_lock(db);
    st = db_stmt(db, "SELECT access FROM blob_containers WHERE account=? AND "
                     "name=?");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = (enum blob_access)sqlite3_column_int(st, 0);
        rc = 0;
    }
    sqlite3_reset(st);
    db_unlock(db);
    return rc;
}

/* ---- create -------------------------------------------------------------- */

struct create_txn {
    struct blob_txn t;
    const char *account, *name, *meta;
    enum blob_access access;
    struct blob_container *out;
};

static int create_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct create_txn *x = (struct create_txn *)t;
    struct db *db = blob_store_db(bs);
    uint64_t etag = blob_store_etag(bs);
    sqlite3_stmt *st;
    int64_t id;
    int rc;

    /* Checked first: db_step_done does not tell a constraint apart. */
    if (blob_container_find(bs, x->account, x->name, &id, NULL) == 0)
        return err_set(err, ERR_CONFLICT, "ContainerAlreadyExists",
                       "the specified container already exists");
    st = db_stmt(db, "INSERT INTO blob_containers(account, name, etag, ctime,"
                     " mtime, access, meta) VALUES(?, ?, ?, ?, ?, ?, ?)");
    sqlite3_bind_text(st, 1, x->account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, x->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)etag);
    sqlite3_bind_int64(st, 4, t->now_ms);
    sqlite3_bind_int64(st, 5, t->now_ms);
    sqlite3_bind_int(st, 6, (int)x->access);
    sqlite3_bind_text(st, 7, x->meta ? x->meta : "", -1, SQLITE_STATIC);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        return rc;
    if (x->out)
        rc = load(db, x->account, x->name, x->out, err);
    return rc;
}

int blob_container_create(struct blob_store *bs, const char *account,
                          const char *name, enum blob_access access,
                          const char *meta, struct blob_container *out,
                          struct err *err)
{
    struct create_txn x;

    memset(&x, 0, sizeof(x));
    x.t.fn = create_fn;
    x.account = account;
    x.name = name;
    x.meta = meta;
    x.access = access;
    x.out = out;
    return blob_store_run(bs, &x.t, err);
}

/* ---- metadata / ACL ------------------------------------------------------ */

struct update_txn {
    struct blob_txn t;
    const char *account, *name;
    const struct blob_wcond *wc;
    const char *meta; /* set metadata */
    bool set_acl;
    enum blob_access access;
    const struct blob_policy *pol;
    size_t npol;
    struct blob_container *out;
};

static int check(const struct blob_container *c, const struct blob_wcond *wc,
                 bool lease_required, int64_t now, struct err *err)
{
    int rc = 0;

    if (wc && wc->cond)
        rc = blob_cond_eval(wc->cond, false, true, c->etag, c->mtime_ms, err);
    if (rc == 0)
        rc = blob_lease_check(&c->lease, wc ? wc->lease_id : NULL,
                              lease_required, true, now, err);
    return rc;
}

static int update_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct update_txn *x = (struct update_txn *)t;
    struct db *db = blob_store_db(bs);
    struct blob_container c;
    sqlite3_stmt *st;
    uint64_t etag;
    int rc;

    rc = load(db, x->account, x->name, &c, err);
    if (rc < 0)
        return rc;
    rc = check(&c, x->wc, false, t->now_ms, err);
    if (rc < 0)
        goto out;
    etag = blob_store_etag(bs);
    if (!x->set_acl) {
        st = db_stmt(db, "UPDATE blob_containers SET meta=?, etag=?, mtime=? "
                         "WHERE id=?");
        sqlite3_bind_text(st, 1, x->meta ? x->meta : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)etag);
        sqlite3_bind_int64(st, 3, t->now_ms);
        sqlite3_bind_int64(st, 4, c.id);
        rc = db_step_done(db, st, err);
        goto reload;
    }
    st = db_stmt(db, "UPDATE blob_containers SET access=?, etag=?, mtime=? "
                     "WHERE id=?");
    sqlite3_bind_int(st, 1, (int)x->access);
    sqlite3_bind_int64(st, 2, (int64_t)etag);
    sqlite3_bind_int64(st, 3, t->now_ms);
    sqlite3_bind_int64(st, 4, c.id);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        goto out;
    st = db_stmt(db, "DELETE FROM blob_policies WHERE container_id=?");
    sqlite3_bind_int64(st, 1, c.id);
    rc = db_step_done(db, st, err);
    for (size_t i = 0; i < x->npol && rc == 0; i++) {
        const struct blob_policy *p = &x->pol[i];

        st = db_stmt(db, "INSERT INTO blob_policies(container_id, seq, pid, "
                         "start, expiry, perms) VALUES(?, ?, ?, ?, ?, ?)");
        sqlite3_bind_int64(st, 1, c.id);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_text(st, 3, p->id, -1, SQLITE_STATIC);
        if (p->has_start)
            sqlite3_bind_int64(st, 4, p->start_ms);
        if (p->has_expiry)
            sqlite3_bind_int64(st, 5, p->expiry_ms);
        sqlite3_bind_text(st, 6, p->perms, -1, SQLITE_STATIC);
        rc = db_step_done(db, st, err);
    }
reload:
    if (rc == 0 && x->out)
        rc = load(db, x->account, x->name, x->out, err);
out:
    blob_container_release(&c);
    return rc;
}

int blob_container_set_meta(struct blob_store *bs, const char *account,
                            const char *name, const struct blob_wcond *wc,
                            const char *meta, struct blob_container *out,
                            struct err *err)
{
    struct update_txn x;

    memset(&x, 0, sizeof(x));
    x.t.fn = update_fn;
    x.account = account;
    x.name = name;
    x.wc = wc;
    x.meta = meta;
    x.out = out;
    return blob_store_run(bs, &x.t, err);
}

int blob_container_set_acl(struct blob_store *bs, const char *account,
                           const char *name, const struct blob_wcond *wc,
                           enum blob_access access,
                           const struct blob_policy *pol, size_t npol,
                           struct blob_container *out, struct err *err)
{
    struct update_txn x;

    memset(&x, 0, sizeof(x));
    x.t.fn = update_fn;
    x.account = account;
    x.name = name;
    x.wc = wc;
    x.set_acl = true;
    x.access = access;
    x.pol = pol;
    x.npol = npol;
    x.out = out;
    return blob_store_run(bs, &x.t, err);
}

static void policy_from_row(sqlite3_stmt *st, int col, struct blob_policy *p)
{
    const char *id = (const char *)sqlite3_column_text(st, col);
    const char *perms = (const char *)sqlite3_column_text(st, col + 3);

    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id ? id : "");
    if (sqlite3_column_type(st, col + 1) != SQLITE_NULL) {
        p->has_start = true;
        p->start_ms = sqlite3_column_int64(st, col + 1);
    }
    if (sqlite3_column_type(st, col + 2) != SQLITE_NULL) {
        p->has_expiry = true;
        p->expiry_ms = sqlite3_column_int64(st, col + 2);
    }
    snprintf(p->perms, sizeof(p->perms), "%s", perms ? perms : "");
}

int blob_container_get_acl(struct blob_store *bs, const char *account,
                           const char *name, const char *lease_id,
                           struct blob_container *out,
                           struct blob_policy pol[BLOB_MAX_POLICIES],
                           size_t *npol, struct err *err)
{
    struct db *db = blob_store_db(bs);
    sqlite3_stmt *st;
    size_t n = 0;
    int rc;

    db_lock(db);
    rc = load(db, account, name, out, err);
    if (rc < 0)
        goto out;
    rc = blob_lease_check(&out->lease, lease_id, false, true, timefmt_now_ms(),
                          err);
    if (rc < 0) {
        blob_container_release(out);
        goto out;
    }
    st = db_stmt(db, "SELECT pid, start, expiry, perms FROM blob_policies "
                     "WHERE container_id=? ORDER BY seq");
    sqlite3_bind_int64(st, 1, out->id);
    while (n < BLOB_MAX_POLICIES && sqlite3_step(st) == SQLITE_ROW)
        policy_from_row(st, 0, &pol[n++]);
    sqlite3_reset(st);
    *npol = n;
out:
    db_unlock(db);
    return rc;
}

int blob_container_policy(struct blob_store *bs, const char *account,
                          const char *name, const char *id,
                          struct blob_policy *out)
{
    struct db *db = blob_store_db(bs);
    sqlite3_stmt *st;
    int rc = -ERR_NOTFOUND;

    db_lock(db);
    st = db_stmt(db, "SELECT p.pid, p.start, p.expiry, p.perms FROM "
                     "blob_policies p JOIN blob_containers c ON "
                     "p.container_id=c.id WHERE c.account=? AND c.name=? AND "
                     "p.pid=?");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        policy_from_row(st, 0, out);
        rc = 0;
    }
    sqlite3_reset(st);
    db_unlock(db);
    return rc;
}

/* ---- delete -------------------------------------------------------------- */

struct delete_txn {
    struct blob_txn t;
    const char *account, *name;
    const struct blob_wcond *wc;
};

static int collect_files(struct db *db, const char *sql, int64_t id,
                         struct blob_txn *t)
{
    sqlite3_stmt *st = db_stmt(db, sql);

    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW)
        blob_txn_drop(t, (uint64_t)sqlite3_column_int64(st, 0));
    sqlite3_reset(st);
    return 0;
}

static int delete_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct delete_txn *x = (struct delete_txn *)t;
    struct db *db = blob_store_db(bs);
    struct blob_container c;
    sqlite3_stmt *st;
    int rc;

    rc = load(db, x->account, x->name, &c, err);
    if (rc < 0)
        return rc;
    rc = check(&c, x->wc, true, t->now_ms, err);
    if (rc < 0)
        goto out;
    collect_files(db,
                  "SELECT file FROM blob_blobs WHERE container_id=? AND "
                  "file != 0",
                  c.id, t);
    collect_files(db,
                  "SELECT k.file FROM blob_blocks k JOIN blob_blobs b ON "
                  "k.blob_id=b.id WHERE b.container_id=?",
                  c.id, t);
    st = db_stmt(db, "DELETE FROM blob_blocks WHERE blob_id IN (SELECT id "
                     "FROM blob_blobs WHERE container_id=?)");
    sqlite3_bind_int64(st, 1, c.id);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        goto out;
    st = db_stmt(db, "DELETE FROM blob_committed WHERE blob_id IN (SELECT id "
                     "FROM blob_blobs WHERE container_id=?)");
    sqlite3_bind_int64(st, 1, c.id);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        goto out;
    st = db_stmt(db, "DELETE FROM blob_data WHERE blob_id IN (SELECT id "
                     "FROM blob_blobs WHERE container_id=?)");
    sqlite3_bind_int64(st, 1, c.id);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        goto out;
    st = db_stmt(db, "DELETE FROM blob_blobs WHERE container_id=?");
    sqlite3_bind_int64(st, 1, c.id);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        goto out;
    st = db_stmt(db, "DELETE FROM blob_policies WHERE container_id=?");
    sqlite3_bind_int64(st, 1, c.id);
    rc = db_step_done(db, st, err);
    if (rc < 0)
        goto out;
    st = db_stmt(db, "DELETE FROM blob_containers WHERE id=?");
    sqlite3_bind_int64(st, 1, c.id);
    rc = db_step_done(db, st, err);
out:
    blob_container_release(&c);
    return rc;
}

int blob_container_delete(struct blob_store *bs, const char *account,
                          const char *name, const struct blob_wcond *wc,
                          struct err *err)
{
    struct delete_txn x;
    int rc;

    memset(&x, 0, sizeof(x));
    x.t.fn = delete_fn;
    x.account = account;
    x.name = name;
    x.wc = wc;
    rc = blob_store_run(bs, &x.t, err);
    if (rc == 0)
        log_debug("container deleted name=%s", name);
    return rc;
}

/* ---- lease --------------------------------------------------------------- */

struct lease_txn {
    struct blob_txn t;
    const char *account, *name;
    const struct blob_cond *cond;
    const struct blob_lease_req *rq;
    struct blob_container *out;
    char *id_out;
    int64_t *time_out;
};

static int lease_fn(struct blob_store *bs, struct blob_txn *t, struct err *err)
{
    struct lease_txn *x = (struct lease_txn *)t;
    struct db *db = blob_store_db(bs);
    struct blob_container c;
    int rc;

    rc = load(db, x->account, x->name, &c, err);
    if (rc < 0)
        return rc;
    if (x->cond)
        rc = blob_cond_eval(x->cond, false, true, c.etag, c.mtime_ms, err);
    if (rc == 0)
        rc = blob_lease_apply(&c.lease, x->rq, t->now_ms, x->id_out,
                              x->time_out, err);
    if (rc < 0)
        goto out;
    rc = blob_store_save_lease(bs,
                               "UPDATE blob_containers SET lease_state=?, "
                               "lease_id=?, lease_duration=?, lease_expiry=?, "
                               "lease_break=? WHERE id=?",
                               c.id, &c.lease, err);
    if (rc == 0 && x->out) {
        *x->out = c;
        c.meta = NULL;
    }
out:
    blob_container_release(&c);
    return rc;
}

int blob_container_lease(struct blob_store *bs, const char *account,
                         const char *name, const struct blob_cond *cond,
                         const struct blob_lease_req *rq,
                         struct blob_container *out, char id_out[40],
                         int64_t *time_out, struct err *err)
{
    struct lease_txn x;

    memset(&x, 0, sizeof(x));
    x.t.fn = lease_fn;
    x.account = account;
    x.name = name;
    x.cond = cond;
    x.rq = rq;
    x.out = out;
    x.id_out = id_out;
    x.time_out = time_out;
    return blob_store_run(bs, &x.t, err);
}
