/*
 * store.c: the batch model's durable copy in SQLite, written by a journal
 * with group commit.
 *
 * Purpose: make every change of the in-memory model (model.c) durable, in
 * the order it happened, with as few fsyncs as possible, and load it all
 * back at start-up. Knows nothing of HTTP and little of the model: rows
 * are (rowid, parent, document) and the documents are model.c's.
 *
 * Schema (component "batch", see migrations[]):
 *   batch_pools(id PK, doc)          doc: model_save_pool
 *   batch_nodes(id PK, pool, doc)    doc: model_save_node
 *   batch_jobs(id PK, doc)           doc: model_save_job
 *   batch_tasks(id PK, job, spec, doc), index on job
 *   batch_schedules(id PK, doc)      doc: schedule_save (step 2)
 * To change it, append a migration step; never edit a shipped one.
 *
 * Journal: records (kind, op, rowid, parent, doc, spec) are appended under
 * jmu by writers that hold the model lock, each getting the next ticket.
 * The committer thread takes everything pending, applies it in one
 * BEGIN IMMEDIATE ... COMMIT under the db lock, then publishes `durable`
 * (the last ticket of the batch) and wakes the waiters. On a failed commit
 * the batch is rolled back, put back at the head of the queue, waiters in
 * it are told (failed_lo..failed_hi), and it is retried after a pause: the
 * in-memory model stays ahead of the disk until then.
 *
 * Events: with a sink (batch.h), state-change events are journal records
 * too; the committer hands them to the sink inside the same transaction
 * (so the event log commits exactly with the change) and calls
 * sink->committed after the commit, outside every lock.
 *
 * Invariants: tickets are handed out in journal order; durable only grows;
 * a record is applied exactly once (after a successful commit it is freed).
 *
 * Threads: store_put/del/wait from any thread; the committer is the only
 * user of the db handle here after store_load. Lock order: the model lock
 * (held by writers) before jmu; jmu is never held across SQLite calls.
 */
#include "batch/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch/batch.h"
#include "batch/model.h"
#include "batch/schedule.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "db/db.h"

enum rec_op { REC_PUT, REC_DEL, REC_EVENT };

struct rec {
    struct rec *next;
    enum store_kind kind;
    enum rec_op op;
    uint64_t rowid, parent, ticket;
    char *doc, *spec;
    struct batch_event *ev; /* REC_EVENT: owned deep copy */
};

struct store {
    struct db *db;
    pthread_mutex_t jmu;
    pthread_cond_t work; /* the committer: something is pending */
    pthread_cond_t done; /* waiters: durable or failed moved */
    struct rec *head, *tail;
    uint64_t next_ticket; /* last handed out */
    uint64_t durable;
    uint64_t failed_lo, failed_hi;
    bool stop;
    bool running;
    pthread_t thread;
    struct batch_event_sink sink;
    bool has_sink;
};

static const struct db_migration migrations[] = {
    { 1, "CREATE TABLE batch_pools(id INTEGER PRIMARY KEY, doc TEXT NOT NULL);"
         "CREATE TABLE batch_nodes(id INTEGER PRIMARY KEY,"
         " pool INTEGER NOT NULL, doc TEXT NOT NULL);"
         "CREATE TABLE batch_jobs(id INTEGER PRIMARY KEY, doc TEXT NOT NULL);"
         "CREATE TABLE batch_tasks(id INTEGER PRIMARY KEY,"
         " job INTEGER NOT NULL, spec TEXT NOT NULL, doc TEXT NOT NULL);"
         "CREATE INDEX batch_tasks_job ON batch_tasks(job);" },
    { 2, "CREATE TABLE batch_schedules(id INTEGER PRIMARY KEY,"
         " doc TEXT NOT NULL);" },
};

int store_open(struct db *db, struct store **out, struct err *err)
{
    struct store *st;
    int rc;

    rc = db_migrate(db, "batch", migrations, ARRAY_SIZE(migrations), err);
    if (rc < 0)
        return rc;
    st = xcalloc(1, sizeof(*st));
    st->db = db;
    pthread_mutex_init(&st->jmu, NULL);
    pthread_cond_init(&st->work, NULL);
    pthread_cond_init(&st->done, NULL);
    *out = st;
    return 0;
}

static int load_table(struct store *st, struct model *m, const char *sql,
                      enum store_kind kind, struct err *err)
{
    sqlite3_stmt *s = db_stmt(st->db, sql);
    int rc, n = 0, bad = 0;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint64_t rowid = (uint64_t)sqlite3_column_int64(s, 0);
        struct err e = ERR_INIT;
        const char *doc = (const char *)sqlite3_column_text(s, 1);
        int lrc = -ERR_INVALID;

        if (!doc)
            doc = "";
        switch (kind) {
        case STORE_POOL:
            lrc = model_load_pool(m, rowid, doc, &e);
            break;
        case STORE_NODE:
            lrc = model_load_node(
                m, rowid, (uint64_t)sqlite3_column_int64(s, 2), doc, &e);
            break;
        case STORE_JOB:
            lrc = model_load_job(m, rowid, doc, &e);
            break;
        case STORE_TASK: {
            const char *spec = (const char *)sqlite3_column_text(s, 3);
            lrc =
                model_load_task(m, rowid, (uint64_t)sqlite3_column_int64(s, 2),
                                spec ? spec : "{}", doc, &e);
            break;
        }
        case STORE_SCHEDULE:
            lrc = schedule_load(m, rowid, doc, &e);
            break;
        }
        if (lrc < 0) {
            log_warn("batch row skipped what=%s", e.msg);
            bad++;
        } else {
            n++;
        }
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return err_set(err, ERR_IO, "InternalError",
                       "cannot read batch tables: %s",
                       sqlite3_errmsg(db_handle(st->db)));
    if (bad)
        log_warn("batch rows skipped count=%d", bad);
    return n;
}

int store_load(struct store *st, struct model *m, struct err *err)
{
    int rc, pools = 0, nodes = 0, jobs = 0, tasks = 0, scheds = 0;

    m->loading = true;
    db_lock(st->db);
    rc = pools = load_table(
        st, m, "SELECT id, doc FROM batch_pools ORDER BY id", STORE_POOL, err);
    if (rc >= 0)
        rc = nodes = load_table(
            st, m, "SELECT id, doc, pool FROM batch_nodes ORDER BY id",
            STORE_NODE, err);
    if (rc >= 0)
        rc = jobs =
            load_table(st, m, "SELECT id, doc FROM batch_jobs ORDER BY id",
                       STORE_JOB, err);
    if (rc >= 0)
        rc = tasks = load_table(
            st, m, "SELECT id, doc, job, spec FROM batch_tasks ORDER BY id",
            STORE_TASK, err);
    if (rc >= 0)
        rc = scheds =
            load_table(st, m, "SELECT id, doc FROM batch_schedules ORDER BY id",
                       STORE_SCHEDULE, err);
    db_unlock(st->db);
    m->loading = false;
    if (rc < 0)
        return rc;
    log_info("batch state loaded pools=%d nodes=%d jobs=%d tasks=%d "
             "schedules=%d",
             pools, nodes, jobs, tasks, scheds);
    return 0;
}

static int apply(struct store *st, const struct rec *r, struct err *err)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (r->op == REC_EVENT)
        return st->has_sink ? st->sink.event(st->sink.ctx, st->db, r->ev, err)
                            : 0;
    if (r->op == REC_DEL) {
        switch (r->kind) {
        case STORE_POOL:
            s = db_stmt(st->db, "DELETE FROM batch_pools WHERE id = ?1");
            break;
        case STORE_NODE:
            s = db_stmt(st->db, "DELETE FROM batch_nodes WHERE id = ?1");
            break;
        case STORE_JOB:
            s = db_stmt(st->db, "DELETE FROM batch_tasks WHERE job = ?1");
            sqlite3_bind_int64(s, 1, (sqlite3_int64)r->rowid);
            rc = db_step_done(st->db, s, err);
            if (rc < 0)
                return rc;
            s = db_stmt(st->db, "DELETE FROM batch_jobs WHERE id = ?1");
            break;
        case STORE_TASK:
            s = db_stmt(st->db, "DELETE FROM batch_tasks WHERE id = ?1");
            break;
        case STORE_SCHEDULE:
            s = db_stmt(st->db, "DELETE FROM batch_schedules WHERE id = ?1");
            break;
        }
        sqlite3_bind_int64(s, 1, (sqlite3_int64)r->rowid);
        return db_step_done(st->db, s, err);
    }
    switch (r->kind) {
    case STORE_POOL:
        s = db_stmt(
            st->db,
            "INSERT OR REPLACE INTO batch_pools(id, doc) VALUES(?1, ?2)");
        break;
    case STORE_NODE:
        s = db_stmt(st->db, "INSERT OR REPLACE INTO batch_nodes(id, doc, pool)"
                            " VALUES(?1, ?2, ?3)");
        sqlite3_bind_int64(s, 3, (sqlite3_int64)r->parent);
        break;
    case STORE_JOB:
        s = db_stmt(
            st->db,
            "INSERT OR REPLACE INTO batch_jobs(id, doc) VALUES(?1, ?2)");
        break;
    case STORE_TASK:
        if (r->spec) {
            s = db_stmt(st->db,
                        "INSERT OR REPLACE INTO batch_tasks(id, doc, job, spec)"
                        " VALUES(?1, ?2, ?3, ?4)");
            sqlite3_bind_int64(s, 3, (sqlite3_int64)r->parent);
            sqlite3_bind_text(s, 4, r->spec, -1, SQLITE_STATIC);
        } else {
            s = db_stmt(st->db,
                        "UPDATE batch_tasks SET doc = ?2 WHERE id = ?1");
        }
        break;
    case STORE_SCHEDULE:
        s = db_stmt(
            st->db,
            "INSERT OR REPLACE INTO batch_schedules(id, doc) VALUES(?1, ?2)");
        break;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)r->rowid);
    sqlite3_bind_text(s, 2, r->doc, -1, SQLITE_STATIC);
    return db_step_done(st->db, s, err);
}

static char *dup_opt(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void pic_copy(struct batch_job_picture *d,
                     const struct batch_job_picture *s)
{
    *d = *s;
    d->state = dup_opt(s->state);
    d->terminate_reason = dup_opt(s->terminate_reason);
}

static void pic_free(struct batch_job_picture *p)
{
    free((char *)p->state);
    free((char *)p->terminate_reason);
}

static struct batch_event *event_copy(const struct batch_event *ev)
{
    struct batch_event *c = xmalloc(sizeof(*c));

    *c = *ev;
    c->account = dup_opt(ev->account);
    c->id = dup_opt(ev->id);
    c->job_id = dup_opt(ev->job_id);
    c->job_name = dup_opt(ev->job_name);
    c->pool_id = dup_opt(ev->pool_id);
    c->old_state = dup_opt(ev->old_state);
    c->new_state = dup_opt(ev->new_state);
    c->failure_code = dup_opt(ev->failure_code);
    c->subscriptions = dup_opt(ev->subscriptions);
    pic_copy(&c->job_before, &ev->job_before);
    pic_copy(&c->job_after, &ev->job_after);
    return c;
}

static void event_free(struct batch_event *ev)
{
    if (!ev)
        return;
    free((char *)ev->account);
    free((char *)ev->id);
    free((char *)ev->job_id);
    free((char *)ev->job_name);
    free((char *)ev->pool_id);
    free((char *)ev->old_state);
    free((char *)ev->new_state);
    free((char *)ev->failure_code);
    free((char *)ev->subscriptions);
    pic_free(&ev->job_before);
    pic_free(&ev->job_after);
    free(ev);
}

static void rec_free(struct rec *r)
{
    free(r->doc);
    free(r->spec);
    event_free(r->ev);
    free(r);
}

static void *committer(void *arg)
{
    struct store *st = arg;

    pthread_mutex_lock(&st->jmu);
    for (;;) {
        struct rec *batch, *r;
        struct err e = ERR_INIT;
        uint64_t lo, hi;
        bool events = false;
        int rc;

        while (!st->head && !st->stop)
            pthread_cond_wait(&st->work, &st->jmu);
        if (!st->head && st->stop)
            break;
        batch = st->head;
        st->head = st->tail = NULL;
        pthread_mutex_unlock(&st->jmu);

        lo = batch->ticket;
        hi = lo;
        db_lock(st->db);
        rc = db_begin(st->db, &e);
        for (r = batch; rc == 0 && r; r = r->next) {
            rc = apply(st, r, &e);
            hi = r->ticket;
            events = events || r->op == REC_EVENT;
        }
        for (r = batch; r; r = r->next)
            hi = r->ticket;
        if (rc == 0)
            rc = db_commit(st->db, &e);
        else
            db_rollback(st->db);
        db_unlock(st->db);

        if (rc == 0 && events && st->has_sink && st->sink.committed)
            st->sink.committed(st->sink.ctx);
        pthread_mutex_lock(&st->jmu);
        if (rc == 0) {
            st->durable = hi;
            while (batch) {
                r = batch->next;
                rec_free(batch);
                batch = r;
            }
        } else {
            struct rec *last = batch;
            log_error("batch journal commit failed tickets=%" PRIu64
                      "..%" PRIu64 " err=%s",
                      lo, hi, e.msg);
            st->failed_lo = lo;
            st->failed_hi = hi;
            while (last->next)
                last = last->next;
            last->next = st->head;
            if (!st->head)
                st->tail = last;
            st->head = batch;
            pthread_cond_broadcast(&st->done);
            pthread_mutex_unlock(&st->jmu);
            usleep(200 * 1000);
            pthread_mutex_lock(&st->jmu);
            continue;
        }
        pthread_cond_broadcast(&st->done);
    }
    pthread_mutex_unlock(&st->jmu);
    return NULL;
}

void store_start(struct store *st)
{
    if (pthread_create(&st->thread, NULL, committer, st) != 0)
        BUG("cannot start the batch journal thread");
    st->running = true;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    if (st->running) {
        pthread_mutex_lock(&st->jmu);
        st->stop = true;
        pthread_cond_broadcast(&st->work);
        pthread_mutex_unlock(&st->jmu);
        pthread_join(st->thread, NULL);
    }
    while (st->head) {
        struct rec *r = st->head->next;
        log_error("batch journal record dropped at close ticket=%" PRIu64,
                  st->head->ticket);
        rec_free(st->head);
        st->head = r;
    }
    pthread_cond_destroy(&st->work);
    pthread_cond_destroy(&st->done);
    pthread_mutex_destroy(&st->jmu);
    free(st);
}

static uint64_t enqueue(struct store *st, struct rec *r)
{
    uint64_t t;

    pthread_mutex_lock(&st->jmu);
    t = r->ticket = ++st->next_ticket;
    if (st->tail)
        st->tail->next = r;
    else
        st->head = r;
    st->tail = r;
    pthread_cond_broadcast(&st->work);
    pthread_mutex_unlock(&st->jmu);
    return t;
}

uint64_t store_put(struct store *st, enum store_kind kind, uint64_t rowid,
                   uint64_t parent, char *doc_take, char *spec_take)
{
    struct rec *r = xcalloc(1, sizeof(*r));

    r->kind = kind;
    r->op = REC_PUT;
    r->rowid = rowid;
    r->parent = parent;
    r->doc = doc_take;
    r->spec = spec_take;
    return enqueue(st, r);
}

uint64_t store_del(struct store *st, enum store_kind kind, uint64_t rowid)
{
    struct rec *r = xcalloc(1, sizeof(*r));

    r->kind = kind;
    r->op = REC_DEL;
    r->rowid = rowid;
    return enqueue(st, r);
}

int store_wait(struct store *st, uint64_t ticket, struct err *err)
{
    int rc = 0;

    if (ticket == 0)
        return 0;
    pthread_mutex_lock(&st->jmu);
    if (!st->running) {
        /* No committer (unit tests, start-up): commit inline. */
        pthread_mutex_unlock(&st->jmu);
        BUG("store_wait before store_start");
    }
    while (st->durable < ticket) {
        if (ticket >= st->failed_lo && ticket <= st->failed_hi) {
            rc = err_set(err, ERR_IO, "InternalError",
                         "the change could not be written");
            break;
        }
        pthread_cond_wait(&st->done, &st->jmu);
    }
    pthread_mutex_unlock(&st->jmu);
    return rc;
}

void store_set_sink(struct store *st, const struct batch_event_sink *sink)
{
    st->has_sink = sink && sink->event;
    if (st->has_sink)
        st->sink = *sink;
}

bool store_wants_events(const struct store *st)
{
    return st->has_sink;
}

void store_event(struct store *st, const struct batch_event *ev)
{
    struct rec *r;

    if (!st->has_sink)
        return;
    r = xcalloc(1, sizeof(*r));
    r->op = REC_EVENT;
    r->ev = event_copy(ev);
    enqueue(st, r);
}

uint64_t store_last_ticket(struct store *st)
{
    uint64_t t;

    pthread_mutex_lock(&st->jmu);
    t = st->next_ticket;
    pthread_mutex_unlock(&st->jmu);
    return t;
}
