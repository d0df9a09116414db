/*
 * notify.c: the event log, the notification outbox and its dispatcher.
 *
 * Event log (table events): one row per state change, appended by the
 * batch service inside the transaction that makes the change, so the event
 * is durable exactly when the change is. seq is INTEGER PRIMARY KEY
 * AUTOINCREMENT: never reused, even after pruning; with one writer (the db
 * mutex) commit order is seq order, so a reader that saw seq N never later
 * finds a new row below N. Gaps are possible (a rolled-back insert).
 * Each row keeps its canonical Properties JSON and its ETag:
 *
 *     ETag = hex(SHA-256(account 0x00 seq 0x00 EventType 0x00 props))
 *
 * so every redelivery and every endpoint sees the same value, and two
 * look-alike transitions differ by seq (notifications.md §5.5).
 *
 * Retention: an event is pruned when it is BOTH older than events.retain_s
 * AND beyond the newest events.retain_count (so both settings are floors:
 * young events are kept however many there are); the dispatcher thread
 * prunes every events.prune_interval_ms.
 * notify_meta('pruned_through') remembers the highest pruned seq, and a
 * watcher asking for events after a seq below it gets 410 Gone. Events still
 * referenced by the outbox or dead letters are never pruned.
 *
 * Outbox (table outbox): one row per (endpoint, event) to deliver, written
 * in the same transaction as the event (transactional outbox: a SIGKILL
 * loses nothing). Endpoints: type 1 = storage queue of this server, type
 * 3 = webhook. The dispatcher thread wakes on notify_committed() or at the
 * earliest next_at, and delivers per endpoint in seq order (only the lowest
 * pending seq of an endpoint is eligible):
 *
 *     queue:   BEGIN; sink(enqueue message); DELETE outbox row; COMMIT
 *              -> each event is enqueued exactly once
 *     webhook: POST (db unlocked); 2xx -> DELETE row; else retry with
 *              d = min(cap, base * 2^(n-1)), sleep d/2 + rand(d/2), at
 *              least Retry-After; 400/401/403/410/413 -> dead letter now
 *
 * Webhook POSTs run concurrently on one libcurl multi handle owned by the
 * dispatcher (at most NOTIFY_MAX_INFLIGHT, one per endpoint, so an
 * endpoint's order holds): a receiver that is slow or never answers (30 s
 * timeout) holds up only its own endpoint, never queue deliveries or other
 * webhooks. The dispatcher sleeps in curl_multi_poll(); notify_committed()
 * wakes it with curl_multi_wakeup() (thread-safe, and a wakeup sent before
 * the poll is not lost). POSTs in flight at shutdown are abandoned: their
 * rows stay in the outbox and go again after the restart.
 *
 * A row that reaches notify.max_attempts (MaxDeliveryAttemptsExceeded) or
 * notify.ttl_s (TimeToLiveExceeded) moves to dead_letters, listed by the
 * API and replayable; queue deliveries that fail for another reason than a
 * missing queue (QueueNotFound, at once) obey the same limits and backoff.
 * A deleted endpoint is marked deleted and removed once its last row (the
 * Unregistration message) is gone, together with its dead letters (nobody
 * can list or replay them then, and they would pin their events forever).
 *
 * Threads: notify_event_tx and friends run on request threads with the db
 * lock held; the dispatcher is one thread and never holds the db lock while
 * it waits on the network; the watch timer (watch_timer) is another, which
 * only resumes parked watchers when they are due (long-poll timeout, SSE
 * heartbeat or bookmark); commits resume them all from notify_committed()
 * under n->mu.
 *
 * Changes after review (integration tests in tests/integ/notify_*.test.mjs):
 * - long-polls were answered only at the next 15 s dispatcher heartbeat,
 *   not at their timeout: the watch timer resumes each at its own deadline;
 * - retention pruned on either condition (count OR age), dropping young
 *   events past retain_count: now both must hold;
 * - dead letters of a reaped endpoint were orphaned and stopped pruning for
 *   good: reaped with the endpoint;
 * - one hung webhook receiver stopped all delivery for up to 30 s per
 *   attempt (blocking curl_easy_perform on the dispatcher): now the multi
 *   interface, one POST in flight per endpoint;
 * - a failing queue delivery retried every backoff_base_ms forever: now
 *   backoff, max attempts and TTL as for webhooks;
 * - media states (notify_media_state, notify_job_media_tx): a job that
 *   terminated without ever running a task (terminatejob, no tasks) was
 *   reported Queued->Processing->Finished: now Queued->Finished; a job
 *   deleted before it ended was reported Processing, never ended, and its
 *   FinalStatesOnly subscribers heard nothing: deleting is now Canceling
 *   and the removal Canceled (notify_jobs.test.mjs).
 *
 * Changing the schema: append a step to notify_schema[] with the next
 * version; the message format is versioned by MessageVersion (1.0 queue,
 * 1.1 webhook): a change of shape is a new MessageVersion.
 */
#include "notify/notify.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"
#include "notify/notifyint.h"

static const struct db_migration notify_schema[] = {
    {1, "CREATE TABLE events("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " ts INTEGER NOT NULL, account TEXT NOT NULL, kind INTEGER NOT NULL,"
        " entity_id TEXT, job_key TEXT, old_state TEXT, new_state TEXT,"
        " props TEXT NOT NULL, etag TEXT NOT NULL);"
        "CREATE INDEX events_job ON events(job_key, seq);"
        "CREATE INDEX events_ts ON events(ts);"
        "CREATE TABLE notify_meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
        "CREATE TABLE endpoints("
        " id TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL,"
        " created INTEGER NOT NULL, type INTEGER NOT NULL,"
        " address TEXT NOT NULL, signing_key TEXT,"
        " base64 INTEGER NOT NULL DEFAULT 0,"
        " deleted INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE job_subscriptions("
        " account TEXT NOT NULL, job_key TEXT NOT NULL,"
        " endpoint_id TEXT NOT NULL, target INTEGER NOT NULL,"
        " PRIMARY KEY(account, job_key, endpoint_id));"
        "CREATE INDEX job_subscriptions_ep ON job_subscriptions(endpoint_id);"
        "CREATE TABLE outbox("
        " id INTEGER PRIMARY KEY, endpoint_id TEXT NOT NULL,"
        " seq INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " next_at INTEGER NOT NULL, first_at INTEGER NOT NULL,"
        " last_outcome TEXT, last_attempt_at INTEGER,"
        " UNIQUE(endpoint_id, seq));"
        "CREATE INDEX outbox_due ON outbox(next_at);"
        "CREATE TABLE dead_letters("
        " endpoint_id TEXT NOT NULL, seq INTEGER NOT NULL,"
        " reason TEXT NOT NULL, attempts INTEGER NOT NULL,"
        " last_outcome TEXT, last_attempt_at INTEGER,"
        " dead_at INTEGER NOT NULL, PRIMARY KEY(endpoint_id, seq));"},
    {2, "CREATE TABLE job_media("
        " account TEXT NOT NULL, job_key TEXT NOT NULL,"
        " state TEXT NOT NULL, PRIMARY KEY(account, job_key));"},
};

const char *notify_kind_name(int kind)
{
    switch (kind) {
    case NOTIFY_JOB_STATE:
        return "JobStateChange";
    case NOTIFY_EP_REGISTERED:
    case NOTIFY_EP_UNREGISTERED:
        return "NotificationEndPointRegistration";
    case NOTIFY_TASK_STATE:
        return "TaskStateChange";
    case NOTIFY_POOL_STATE:
        return "PoolStateChange";
    case NOTIFY_NODE_STATE:
        return "NodeStateChange";
    case NOTIFY_JOB_BATCH_STATE:
        return "JobBatchStateChange";
    case NOTIFY_JOB_SCHEDULE_STATE:
        return "JobScheduleStateChange";
    }
    return "Unknown";
}

int notify_kind_parse(const char *name)
{
    static const int kinds[] = {NOTIFY_JOB_STATE, NOTIFY_EP_REGISTERED,
                                NOTIFY_TASK_STATE, NOTIFY_POOL_STATE,
                                NOTIFY_NODE_STATE, NOTIFY_JOB_BATCH_STATE,
                                NOTIFY_JOB_SCHEDULE_STATE};

    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (strcasecmp(name, notify_kind_name(kinds[i])) == 0)
            return kinds[i];
    }
    return -1;
}

const char *notify_media_state(const struct notify_job_picture *p)
{
    const char *s = p->state ? p->state : "active";
    const char *r = p->terminate_reason;

    if (strcmp(s, "completed") == 0) {
        if (p->user_terminated ||
            (r && (strcmp(r, "UserTerminate") == 0 ||
                   (strcmp(r, "AllTasksComplete") != 0 &&
                    strcmp(r, "JMComplete") != 0 &&
                    strcmp(r, "MaxWallClockTimeExpiry") != 0 &&
                    strcmp(r, "TaskFailed") != 0 &&
                    strcmp(r, "TerminateJobSchedule") != 0))))
            return "Canceled";
        if (p->failed > 0 ||
            (r && (strcmp(r, "MaxWallClockTimeExpiry") == 0 ||
                   strcmp(r, "TaskFailed") == 0)))
            return "Error";
        return "Finished";
    }
    /*
     * Deleting a job that has not ended cancels it (its removal then
     * reports Canceled, notify_job_media_tx); a user's Terminate too. Any
     * other termination (all tasks complete, max wall clock) is not a
     * state of its own: what ran so far decides, and since the media state
     * only moves forward a job that was Processing stays so; one that never
     * ran a task is not reported Processing on its way to Finished.
     */
    if (strcmp(s, "deleting") == 0 ||
        (strcmp(s, "terminating") == 0 && p->user_terminated))
        return "Canceling";
    if (p->running > 0)
        return "Processing";
    if (p->assigned > 0)
        return "Scheduled";
    return "Queued";
}

bool notify_media_state_final(const char *state)
{
    return strcmp(state, "Finished") == 0 || strcmp(state, "Error") == 0 ||
           strcmp(state, "Canceled") == 0;
}

int notify_open(const struct config *cfg, struct db *db, struct notify **out,
                struct err *err)
{
    struct notify *n;
    int rc;

    rc = db_migrate(db, "notify", notify_schema, ARRAY_SIZE(notify_schema),
                    err);
    if (rc < 0)
        return rc;
    n = xcalloc(1, sizeof(*n));
    n->cfg = cfg;
    n->db = db;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        !(n->multi = curl_multi_init())) {
        free(n);
        return err_set(err, ERR_INTERNAL, NULL, "libcurl init failed");
    }
    pthread_mutex_init(&n->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&n->watch_cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    db_lock(db);
    n->pruned_through = 0;
    {
        sqlite3_stmt *st = db_stmt(
            db, "SELECT v FROM notify_meta WHERE k='pruned_through'");
        if (sqlite3_step(st) == SQLITE_ROW)
            n->pruned_through = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    db_unlock(db);
    *out = n;
    return 0;
}

void notify_set_queue_sink(struct notify *n,
                           int (*fn)(void *ctx, struct db *db,
                                     const char *account, const char *queue,
                                     const char *text, size_t len,
                                     bool create, struct err *err),
                           void *ctx)
{
    n->queue_sink = fn;
    n->queue_ctx = ctx;
}

void notify_set_job_lookup(struct notify *n,
                           bool (*fn)(void *ctx, const char *account,
                                      const char *job_id),
                           void *ctx)
{
    n->job_exists = fn;
    n->job_ctx = ctx;
}

/* Lower-case job id: job ids are unique case-insensitively. */
void notify_job_key(const char *job_id, char *out, size_t n)
{
    size_t i;

    for (i = 0; job_id[i] && i + 1 < n; i++) {
        char c = job_id[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[i] = '\0';
}

static json_t *event_props(const struct notify_event *ev)
{
    json_t *p = json_object();

    switch (ev->kind) {
    case NOTIFY_JOB_STATE:
    case NOTIFY_JOB_BATCH_STATE:
        json_object_set_new(p, "JobId", json_string(ev->job_id));
        json_object_set_new(p, "JobName",
                            json_string(ev->job_name ? ev->job_name
                                                     : ev->job_id));
        break;
    case NOTIFY_TASK_STATE:
        json_object_set_new(p, "JobId", json_string(ev->job_id));
        json_object_set_new(p, "TaskId", json_string(ev->entity_id));
        if (ev->has_exit_code)
            json_object_set_new(p, "ExitCode", json_integer(ev->exit_code));
        if (ev->failure_code)
            json_object_set_new(p, "FailureCode",
                                json_string(ev->failure_code));
        break;
    case NOTIFY_POOL_STATE:
        json_object_set_new(p, "PoolId", json_string(ev->entity_id));
        break;
    case NOTIFY_JOB_SCHEDULE_STATE:
        json_object_set_new(p, "JobScheduleId", json_string(ev->entity_id));
        break;
    case NOTIFY_NODE_STATE:
        json_object_set_new(p, "PoolId",
                            json_string(ev->pool_id ? ev->pool_id : ""));
        json_object_set_new(p, "NodeId", json_string(ev->entity_id));
        break;
    case NOTIFY_EP_REGISTERED:
    case NOTIFY_EP_UNREGISTERED:
        json_object_set_new(p, "NotificationEndPointId",
                            json_string(ev->entity_id));
        json_object_set_new(p, "State",
                            json_string(ev->kind == NOTIFY_EP_REGISTERED
                                            ? "Registered"
                                            : "Unregistered"));
        json_object_set_new(p, "Name",
                            json_string(ev->job_name ? ev->job_name : ""));
        json_object_set_new(p, "Created",
                            json_string(ev->created ? ev->created : ""));
        json_object_set_new(p, "AccountName", json_string(ev->account));
        return p;
    }
    if (ev->old_state)
        json_object_set_new(p, "OldState", json_string(ev->old_state));
    if (ev->new_state)
        json_object_set_new(p, "NewState", json_string(ev->new_state));
    json_object_set_new(p, "AccountName", json_string(ev->account));
    return p;
}

static void compute_etag(const char *account, int64_t seq, int kind,
                         const char *props, char out[65])
{
    struct buf b = BUF_INIT;
    unsigned char h[CRYPTO_SHA256_LEN];
    static const char hex[] = "0123456789abcdef";

    buf_adds(&b, account);
    buf_addc(&b, '\0');
    buf_addf(&b, "%lld", (long long)seq);
    buf_addc(&b, '\0');
    buf_adds(&b, notify_kind_name(kind));
    buf_addc(&b, '\0');
    buf_adds(&b, props);
    crypto_sha256(b.data, b.len, h);
    buf_release(&b);
    for (int i = 0; i < CRYPTO_SHA256_LEN; i++) {
        out[2 * i] = hex[h[i] >> 4];
        out[2 * i + 1] = hex[h[i] & 15];
    }
    out[64] = '\0';
}

int notify_outbox_add_tx(struct notify *n, const char *endpoint_id,
                         int64_t seq, int64_t now, struct err *err)
{
    sqlite3_stmt *st = db_stmt(
        n->db, "INSERT OR IGNORE INTO outbox(endpoint_id, seq, next_at,"
               " first_at) VALUES(?, ?, ?, ?)");

    sqlite3_bind_text(st, 1, endpoint_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    n->outbox_dirty = true;
    return db_step_done(n->db, st, err);
}

int notify_event_tx(struct notify *n, const struct notify_event *ev,
                    int64_t *seq_out, struct err *err)
{
    json_t *props = event_props(ev);
    char *text = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
    char jk[256] = "";
    char etag[65];
    int64_t now = timefmt_now_ms();
    int64_t seq;
    sqlite3_stmt *st;
    int rc;

    json_decref(props);
    if (!text)
        return err_set(err, ERR_NOMEM, "InternalError", "out of memory");
    if (ev->job_id)
        notify_job_key(ev->job_id, jk, sizeof(jk));
    st = db_stmt(n->db,
                 "INSERT INTO events(ts, account, kind, entity_id, job_key,"
                 " old_state, new_state, props, etag)"
                 " VALUES(?, ?, ?, ?, ?, ?, ?, ?, '')");
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_text(st, 2, ev->account, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, ev->kind);
    sqlite3_bind_text(st, 4, ev->entity_id, -1, SQLITE_STATIC);
    if (ev->job_id)
        sqlite3_bind_text(st, 5, jk, -1, SQLITE_STATIC);
    if (ev->old_state)
        sqlite3_bind_text(st, 6, ev->old_state, -1, SQLITE_STATIC);
    if (ev->new_state)
        sqlite3_bind_text(st, 7, ev->new_state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, text, -1, SQLITE_STATIC);
    rc = db_step_done(n->db, st, err);
    if (rc < 0)
        goto out;
    seq = sqlite3_last_insert_rowid(db_handle(n->db));
    compute_etag(ev->account, seq, ev->kind, text, etag);
    st = db_stmt(n->db, "UPDATE events SET etag=? WHERE seq=?");
    sqlite3_bind_text(st, 1, etag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    rc = db_step_done(n->db, st, err);
    if (rc < 0)
        goto out;
    n->events_dirty = true;

    if (ev->kind == NOTIFY_JOB_STATE && ev->job_id) {
        bool final = ev->new_state && notify_media_state_final(ev->new_state);
        st = db_stmt(n->db,
                     "INSERT OR IGNORE INTO outbox(endpoint_id, seq, next_at,"
                     " first_at) SELECT s.endpoint_id, ?, ?, ?"
                     " FROM job_subscriptions s JOIN endpoints e"
                     " ON e.id = s.endpoint_id AND e.deleted = 0"
                     " WHERE s.account = ? AND s.job_key = ?"
                     " AND (s.target = 2 OR ?)");
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_text(st, 4, ev->account, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, jk, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, final ? 1 : 0);
        rc = db_step_done(n->db, st, err);
        if (rc < 0)
            goto out;
        if (sqlite3_changes(db_handle(n->db)) > 0)
            n->outbox_dirty = true;
    }
    if (seq_out)
        *seq_out = seq;
out:
    free(text);
    return rc;
}

int notify_subscribe_tx(struct notify *n, const char *account,
                        const char *job_id, const char *subs_json,
                        bool lenient, struct err *err)
{
    json_error_t jerr;
    json_t *arr = json_loads(subs_json, JSON_REJECT_DUPLICATES, &jerr);
    char jk[256];
    size_t i;
    json_t *it;
    int rc = 0;

    if (!arr || !json_is_array(arr)) {
        json_decref(arr);
        return err_set(err, ERR_INVALID, "InvalidPropertyValue",
                       "notificationSubscriptions must be an array");
    }
    notify_job_key(job_id, jk, sizeof(jk));
    json_array_foreach(arr, i, it)
    {
        const char *ep = json_string_value(json_object_get(
            it, "notificationEndPointId"));
        json_t *t = json_object_get(it, "targetJobState");
        int target = 0;
        sqlite3_stmt *st;

        if (!ep)
            ep = json_string_value(
                json_object_get(it, "NotificationEndPointId"));
        if (!t)
            t = json_object_get(it, "TargetJobState");
        if (json_is_integer(t))
            target = (int)json_integer_value(t);
        else if (json_is_string(t) &&
                 strcasecmp(json_string_value(t), "All") == 0)
            target = 2;
        else if (json_is_string(t) &&
                 strcasecmp(json_string_value(t), "FinalStatesOnly") == 0)
            target = 1;
        if (!ep || (target != 1 && target != 2)) {
            rc = err_set(err, ERR_INVALID, "InvalidPropertyValue",
                         "subscription %zu needs notificationEndPointId and "
                         "targetJobState All or FinalStatesOnly",
                         i);
            break;
        }
        st = db_stmt(n->db, "SELECT 1 FROM endpoints WHERE id=? AND "
                            "account=? AND deleted=0");
        sqlite3_bind_text(st, 1, ep, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_reset(st);
            if (lenient)
                continue;
            rc = err_set(err, ERR_NOTFOUND, "NotificationEndPointNotFound",
                         "notification endpoint '%s' not found", ep);
            break;
        }
        sqlite3_reset(st);
        st = db_stmt(n->db, "INSERT INTO job_subscriptions(account, job_key,"
                            " endpoint_id, target) VALUES(?, ?, ?, ?)"
                            " ON CONFLICT DO UPDATE SET target=excluded.target");
        sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, jk, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ep, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, target);
        rc = db_step_done(n->db, st, err);
        if (rc < 0)
            break;
    }
    json_decref(arr);
    return rc;
}

int notify_unsubscribe_job_tx(struct notify *n, const char *account,
                              const char *job_id, struct err *err)
{
    char jk[256];
    sqlite3_stmt *st;

    notify_job_key(job_id, jk, sizeof(jk));
    st = db_stmt(n->db, "DELETE FROM job_subscriptions WHERE account=? AND "
                        "job_key=?");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, jk, -1, SQLITE_STATIC);
    return db_step_done(n->db, st, err);
}

static int media_rank(const char *s)
{
    static const char *const order[] = {"Queued", "Scheduled", "Processing",
                                        "Canceling"};

    if (!s)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, order[i]) == 0)
            return i;
    }
    return 4; /* the final states */
}

int notify_job_media_tx(struct notify *n, const char *account,
                        const char *job_id, const char *job_name,
                        const struct notify_job_picture *after,
                        struct err *err)
{
    char jk[256];
    char *old = NULL;
    const char *now_state;
    struct notify_event ev;
    sqlite3_stmt *st;
    int rc = 0;

    notify_job_key(job_id, jk, sizeof(jk));
    st = db_stmt(n->db, "SELECT state FROM job_media WHERE account=? AND"
                        " job_key=?");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, jk, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        old = db_col_strdup(st, 0);
    sqlite3_reset(st);
    if (!after) {
        /*
         * Removed before it reached a final state (deleted while queued or
         * running): it ends Canceled, so that FinalStatesOnly subscribers
         * hear of its end too (§2.3: at least one final message per job).
         * The subscriptions are dropped after this, in the same
         * transaction, so the outbox rows are written first.
         */
        if (old && media_rank(old) != 4) {
            memset(&ev, 0, sizeof(ev));
            ev.account = account;
            ev.kind = NOTIFY_JOB_STATE;
            ev.entity_id = job_id;
            ev.job_id = job_id;
            ev.job_name = job_name;
            ev.old_state = old;
            ev.new_state = "Canceled";
            rc = notify_event_tx(n, &ev, NULL, err);
        }
        if (rc == 0) {
            st = db_stmt(n->db, "DELETE FROM job_media WHERE account=? AND"
                                " job_key=?");
            sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, jk, -1, SQLITE_STATIC);
            rc = db_step_done(n->db, st, err);
        }
        goto out;
    }
    now_state = notify_media_state(after);
    if (old && (media_rank(now_state) <= media_rank(old) ||
                media_rank(old) == 4))
        goto out;
    st = db_stmt(n->db, "INSERT INTO job_media(account, job_key, state)"
                        " VALUES(?, ?, ?) ON CONFLICT(account, job_key)"
                        " DO UPDATE SET state=excluded.state");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, jk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now_state, -1, SQLITE_STATIC);
    rc = db_step_done(n->db, st, err);
    /* A new job starts Queued: that is never a NewState (§2.3). */
    if (rc < 0 || (!old && strcmp(now_state, "Queued") == 0))
        goto out;
    memset(&ev, 0, sizeof(ev));
    ev.account = account;
    ev.kind = NOTIFY_JOB_STATE;
    ev.entity_id = job_id;
    ev.job_id = job_id;
    ev.job_name = job_name;
    ev.old_state = old ? old : "Queued";
    ev.new_state = now_state;
    rc = notify_event_tx(n, &ev, NULL, err);
out:
    free(old);
    return rc;
}

int64_t notify_last_seq_locked(struct notify *n)
{
    sqlite3_stmt *st = db_stmt(n->db, "SELECT MAX(seq) FROM events");
    int64_t v = 0;

    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (v < n->pruned_through)
        v = n->pruned_through;
    return v;
}

void notify_committed(struct notify *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    notify_watch_wake_locked(n);
    pthread_mutex_unlock(&n->mu);
    curl_multi_wakeup(n->multi); /* thread-safe; wakes the dispatcher */
}

/* ---- delivery --------------------------------------------------------------- */

struct delivery {
    int64_t id;
    char *endpoint_id;
    int64_t seq;
    int attempts;
    int64_t first_at;
    int type;
    char *address;
    int base64;
    char *signing_key;
    char *account;
    int kind;
    int64_t ts;
    char *props;
    char *etag;
};

static void delivery_free(struct delivery *d)
{
    free(d->endpoint_id);
    free(d->address);
    free(d->signing_key);
    free(d->account);
    free(d->props);
    free(d->etag);
    memset(d, 0, sizeof(*d));
}

void notify_account_id(const char *account, char out[NOTIFY_ACCOUNT_ID_LEN])
{
    static const char prefix[] = "shoal account id\n";
    unsigned char h[CRYPTO_SHA256_LEN];
    struct buf b = BUF_INIT;

    buf_adds(&b, prefix);
    buf_adds(&b, account);
    crypto_sha256(b.data, b.len, h);
    buf_release(&b);
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x80); /* version 8: custom */
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, NOTIFY_ACCOUNT_ID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10],
             h[11], h[12], h[13], h[14], h[15]);
}

/* Render the message for an endpoint type: queue 1.0, webhook 1.1. */
char *notify_render_message(const char *account, int kind, int64_t seq,
                            int64_t ts, const char *props, const char *etag,
                            bool webhook, const char *endpoint_id)
{
    json_t *m = json_object();
    json_error_t jerr;
    json_t *p = json_loads(props, 0, &jerr);
    char t[TIMEFMT_ISO_LEN];
    char seqs[32];
    char *out;

    if (!p)
        p = json_object();
    snprintf(seqs, sizeof(seqs), "%lld", (long long)seq);
    json_object_set_new(p, "Sequence", json_string(seqs));
    timefmt_iso8601(ts, webhook ? 7 : 3, t);
    json_object_set_new(m, "MessageVersion",
                        json_string(webhook ? "1.1" : "1.0"));
    if (webhook) {
        int code = kind == NOTIFY_JOB_STATE   ? 1
                   : kind == NOTIFY_TASK_STATE ? 4
                   : kind == NOTIFY_EP_UNREGISTERED ? 3
                                                     : 2;
        char aid[NOTIFY_ACCOUNT_ID_LEN];

        notify_account_id(account, aid);
        json_object_set_new(m, "EventType", json_integer(code));
        json_object_set_new(p, "AccountId", json_string(aid));
        json_object_set_new(p, "NotificationEndPointId",
                            json_string(endpoint_id));
    } else {
        json_object_set_new(m, "EventType",
                            json_string(notify_kind_name(kind)));
    }
    json_object_set_new(m, "ETag", json_string(etag));
    json_object_set_new(m, "TimeStamp", json_string(t));
    json_object_set_new(m, "Properties", p);
    out = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return out;
}

/* A webhook POST in flight (the dispatcher's slots; never moved). */
struct inflight {
    bool used;
    CURL *c;
    struct curl_slist *h;
    char *body;
    int64_t retry_after_ms;
    struct delivery d;
};

static bool in_flight(const struct inflight *fl, size_t nfl,
                      const char *endpoint_id)
{
    for (size_t i = 0; i < nfl; i++) {
        if (fl[i].used && strcmp(fl[i].d.endpoint_id, endpoint_id) == 0)
            return true;
    }
    return false;
}

/*
 * Pick due rows: the lowest pending seq of each endpoint, but none of an
 * endpoint with a POST in flight (one at a time per endpoint: its order).
 */
static size_t due_rows(struct notify *n, int64_t now, struct delivery *out,
                       size_t max, const struct inflight *fl, size_t nfl,
                       int64_t *next_out)
{
    sqlite3_stmt *st;
    size_t k = 0;

    st = db_stmt(
        n->db,
        "SELECT o.id, o.endpoint_id, o.seq, o.attempts, o.first_at, e.type,"
        " e.address, e.base64, e.signing_key, e.account, v.kind, v.ts,"
        " v.props, v.etag, o.next_at"
        " FROM outbox o JOIN endpoints e ON e.id = o.endpoint_id"
        " JOIN events v ON v.seq = o.seq"
        " WHERE o.seq = (SELECT MIN(seq) FROM outbox WHERE"
        " endpoint_id = o.endpoint_id)"
        " ORDER BY o.next_at LIMIT 256");
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t next_at = sqlite3_column_int64(st, 14);
        struct delivery *d;

        if (in_flight(fl, nfl, (const char *)sqlite3_column_text(st, 1)))
            continue;
        if (next_at > now) {
            if (*next_out == 0 || next_at < *next_out)
                *next_out = next_at;
            continue;
        }
        if (k == max) {
            *next_out = now;
            break;
        }
        d = &out[k++];
        d->id = sqlite3_column_int64(st, 0);
        d->endpoint_id = db_col_strdup(st, 1);
        d->seq = sqlite3_column_int64(st, 2);
        d->attempts = sqlite3_column_int(st, 3);
        d->first_at = sqlite3_column_int64(st, 4);
        d->type = sqlite3_column_int(st, 5);
        d->address = db_col_strdup(st, 6);
        d->base64 = sqlite3_column_int(st, 7);
        d->signing_key = db_col_strdup(st, 8);
        d->account = db_col_strdup(st, 9);
        d->kind = sqlite3_column_int(st, 10);
        d->ts = sqlite3_column_int64(st, 11);
        d->props = db_col_strdup(st, 12);
        d->etag = db_col_strdup(st, 13);
    }
    sqlite3_reset(st);
    return k;
}

static int dead_letter_tx(struct notify *n, const struct delivery *d,
                          const char *reason, const char *outcome,
                          int attempts, int64_t now)
{
    sqlite3_stmt *st;
    int rc;

    st = db_stmt(n->db, "INSERT OR REPLACE INTO dead_letters(endpoint_id,"
                        " seq, reason, attempts, last_outcome,"
                        " last_attempt_at, dead_at) VALUES(?,?,?,?,?,?,?)");
    sqlite3_bind_text(st, 1, d->endpoint_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, d->seq);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, attempts);
    sqlite3_bind_text(st, 5, outcome, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, now);
    rc = db_step_done(n->db, st, NULL);
    if (rc < 0)
        return rc;
    st = db_stmt(n->db, "DELETE FROM outbox WHERE id=?");
    sqlite3_bind_int64(st, 1, d->id);
    log_warn("notification dead-lettered endpoint=%s seq=%lld reason=%s "
             "outcome=%s",
             d->endpoint_id, (long long)d->seq, reason, outcome);
    return db_step_done(n->db, st, NULL);
}

static void deliver_queue(struct notify *n, struct delivery *d, int64_t now)
{
    struct err e = ERR_INIT;
    char *msg = notify_render_message(d->account, d->kind, d->seq, d->ts,
                                      d->props, d->etag, false,
                                      d->endpoint_id);
    struct buf b64 = BUF_INIT;
    const char *text = msg;
    size_t len = msg ? strlen(msg) : 0;
    sqlite3_stmt *st;
    int rc;

    if (!msg)
        return;
    if (d->base64) {
        codec_base64_encode(&b64, msg, len);
        text = b64.data;
        len = b64.len;
    }
    if (db_begin(n->db, &e) < 0)
        goto out;
    if (!n->queue_sink) {
        rc = err_set(&e, ERR_NOTIMPL, "NotImplemented", "no queue service");
    } else {
        rc = n->queue_sink(n->queue_ctx, n->db, d->account, d->address, text,
                           len, d->kind == NOTIFY_EP_REGISTERED, &e);
    }
    if (rc == 0) {
        st = db_stmt(n->db, "DELETE FROM outbox WHERE id=?");
        sqlite3_bind_int64(st, 1, d->id);
        rc = db_step_done(n->db, st, &e);
    }
    if (rc == 0) {
        db_commit(n->db, &e);
        goto out;
    }
    db_rollback(n->db);
    if (db_begin(n->db, NULL) < 0)
        goto out;
    if (rc == -ERR_NOTFOUND) {
        dead_letter_tx(n, d, "QueueNotFound", e.msg, d->attempts + 1, now);
    } else if (d->attempts + 1 >= n->cfg->notify_max_attempts) {
        dead_letter_tx(n, d, "MaxDeliveryAttemptsExceeded", e.msg,
                       d->attempts + 1, now);
    } else if (now - d->first_at >= n->cfg->notify_ttl_s * 1000) {
        dead_letter_tx(n, d, "TimeToLiveExceeded", e.msg, d->attempts + 1,
                       now);
    } else {
        st = db_stmt(n->db, "UPDATE outbox SET attempts=attempts+1,"
                            " next_at=?, last_outcome=?, last_attempt_at=?"
                            " WHERE id=?");
        sqlite3_bind_int64(st, 1,
                           now + notify_backoff_ms(n->cfg, d->attempts + 1));
        sqlite3_bind_text(st, 2, e.msg, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, d->id);
        db_step_done(n->db, st, NULL);
    }
    db_commit(n->db, NULL);
out:
    buf_release(&b64);
    free(msg);
}

static size_t hdr_cb(char *data, size_t size, size_t nmemb, void *ctx)
{
    int64_t *retry_after_ms = ctx;
    size_t len = size * nmemb;

    if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char tmp[64];
        size_t k = len - 12 < sizeof(tmp) - 1 ? len - 12 : sizeof(tmp) - 1;
        char *end;
        long v;
        memcpy(tmp, data + 12, k);
        tmp[k] = '\0';
        v = strtol(tmp, &end, 10);
        if (end != tmp && v >= 0 && v < 86400)
            *retry_after_ms = (int64_t)v * 1000;
    }
    return len;
}

static size_t discard_cb(char *data, size_t size, size_t nmemb, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * nmemb;
}

/*
 * Start a webhook POST on the dispatcher's multi handle: the message, its
 * signature and headers; d moves into f. Returns false (d untouched) when
 * the request cannot even be built; it is then tried again later.
 */
static bool start_webhook(struct notify *n, struct inflight *f,
                          struct delivery *d)
{
    char *msg = notify_render_message(d->account, d->kind, d->seq, d->ts,
                                      d->props, d->etag, true,
                                      d->endpoint_id);
    CURL *c = msg ? curl_easy_init() : NULL;
    struct curl_slist *h = NULL;
    char sig[128 + 32];
    char line[256];
    char aid[NOTIFY_ACCOUNT_ID_LEN];

    if (!c) {
        free(msg);
        return false;
    }
    h = curl_slist_append(h, "Content-Type: application/json");
    if (d->signing_key && d->signing_key[0]) {
        struct buf key = BUF_INIT, hex = BUF_INIT;
        unsigned char mac[CRYPTO_SHA256_LEN];
        if (codec_base64_decode(&key, d->signing_key,
                                strlen(d->signing_key)) == 0) {
            crypto_hmac_sha256(key.data, key.len, msg, strlen(msg), mac);
            codec_hex_encode(&hex, mac, sizeof(mac), true);
            snprintf(sig, sizeof(sig), "ms-signature: sha256=%s", hex.data);
            h = curl_slist_append(h, sig);
        }
        buf_release(&key);
        buf_release(&hex);
    }
    notify_account_id(d->account, aid);
    snprintf(line, sizeof(line), "ms-mediaservices-accountid: %s", aid);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "x-shoal-event-seq: %lld",
             (long long)d->seq);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "x-shoal-etag: %s", d->etag);
    h = curl_slist_append(h, line);
    /* No "Expect: 100-continue": the body is small, send it at once. */
    h = curl_slist_append(h, "Expect:");

    memset(f, 0, sizeof(*f));
    f->used = true;
    f->c = c;
    f->h = h;
    f->body = msg;
    f->d = *d;
    memset(d, 0, sizeof(*d));
    curl_easy_setopt(c, CURLOPT_URL, f->d.address);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(f->body));
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hdr_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &f->retry_after_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
    if (curl_multi_add_handle(n->multi, c) != CURLM_OK) {
        *d = f->d;
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        free(msg);
        memset(f, 0, sizeof(*f));
        return false;
    }
    return true;
}

static void inflight_free(struct notify *n, struct inflight *f)
{
    curl_multi_remove_handle(n->multi, f->c);
    curl_easy_cleanup(f->c);
    curl_slist_free_all(f->h);
    free(f->body);
    delivery_free(&f->d);
    memset(f, 0, sizeof(*f));
}

int64_t notify_backoff_ms(const struct config *cfg, int attempt)
{
    int64_t d = cfg->notify_backoff_base_ms;
    uint32_t r;

    for (int i = 1; i < attempt && d < cfg->notify_backoff_cap_ms; i++)
        d *= 2;
    if (d > cfg->notify_backoff_cap_ms)
        d = cfg->notify_backoff_cap_ms;
    crypto_random(&r, sizeof(r));
    return d / 2 + (d > 1 ? (int64_t)(r % (uint32_t)(d / 2 + 1)) : 0);
}

/* A POST is over: record the outcome (db lock taken here), free f. */
static void finish_webhook(struct notify *n, struct inflight *f,
                           CURLcode cr)
{
    struct delivery *d = &f->d;
    char outcome[256];
    int64_t retry_after = f->retry_after_ms, now, delay;
    long status = 0;
    int attempts = d->attempts + 1;
    sqlite3_stmt *st;

    if (cr != CURLE_OK) {
        snprintf(outcome, sizeof(outcome), "%s", curl_easy_strerror(cr));
    } else {
        curl_easy_getinfo(f->c, CURLINFO_RESPONSE_CODE, &status);
        snprintf(outcome, sizeof(outcome), "HTTP %ld", status);
    }
    now = timefmt_now_ms();
    db_lock(n->db);
    if (db_begin(n->db, NULL) < 0)
        goto out;
    if (status >= 200 && status < 300) {
        st = db_stmt(n->db, "DELETE FROM outbox WHERE id=?");
        sqlite3_bind_int64(st, 1, d->id);
        db_step_done(n->db, st, NULL);
        log_debug("webhook delivered endpoint=%s seq=%lld", d->endpoint_id,
                  (long long)d->seq);
    } else if (status == 400 || status == 401 || status == 403 ||
               status == 410 || status == 413) {
        dead_letter_tx(n, d, "NonRetryableStatus", outcome, attempts, now);
    } else if (attempts >= n->cfg->notify_max_attempts) {
        dead_letter_tx(n, d, "MaxDeliveryAttemptsExceeded", outcome,
                       attempts, now);
    } else if (now - d->first_at >= n->cfg->notify_ttl_s * 1000) {
        dead_letter_tx(n, d, "TimeToLiveExceeded", outcome, attempts, now);
    } else {
        delay = notify_backoff_ms(n->cfg, attempts);
        if (delay < retry_after)
            delay = retry_after;
        st = db_stmt(n->db, "UPDATE outbox SET attempts=?, next_at=?,"
                            " last_outcome=?, last_attempt_at=? WHERE id=?");
        sqlite3_bind_int(st, 1, attempts);
        sqlite3_bind_int64(st, 2, now + delay);
        sqlite3_bind_text(st, 3, outcome, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now);
        sqlite3_bind_int64(st, 5, d->id);
        db_step_done(n->db, st, NULL);
        log_info("webhook delivery failed, will retry endpoint=%s seq=%lld "
                 "attempt=%d outcome=%s delay_ms=%lld",
                 d->endpoint_id, (long long)d->seq, attempts, outcome,
                 (long long)delay);
    }
    db_commit(n->db, NULL);
out:
    db_unlock(n->db);
    inflight_free(n, f);
}

/*
 * Remove endpoints marked deleted whose outbox has drained, with their dead
 * letters: once the endpoint row is gone nobody can list or replay them,
 * and left behind they would pin their events against pruning forever.
 */
static void reap_endpoints_locked(struct notify *n)
{
    sqlite3_stmt *st;

    if (db_begin(n->db, NULL) < 0)
        return;
    st = db_stmt(n->db,
                 "DELETE FROM dead_letters WHERE endpoint_id IN (SELECT id"
                 " FROM endpoints WHERE deleted=1 AND NOT EXISTS"
                 " (SELECT 1 FROM outbox WHERE endpoint_id=endpoints.id))");
    if (db_step_done(n->db, st, NULL) < 0)
        goto fail;
    st = db_stmt(n->db,
                 "DELETE FROM endpoints WHERE deleted=1 AND NOT EXISTS"
                 " (SELECT 1 FROM outbox WHERE endpoint_id=endpoints.id)");
    if (db_step_done(n->db, st, NULL) < 0)
        goto fail;
    if (db_commit(n->db, NULL) == 0)
        return;
fail:
    db_rollback(n->db);
}

static void prune_events_locked(struct notify *n, int64_t now)
{
    sqlite3_stmt *st;
    int64_t max = 0, cut;

    st = db_stmt(n->db, "SELECT MAX(seq) FROM events");
    if (sqlite3_step(st) == SQLITE_ROW)
        max = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    cut = max - n->cfg->events_retain_count;
    /*
     * Keep the newest retain_count, what is young enough, and what is still
     * to be delivered: an event goes only when it is old AND beyond the
     * count (the newest old event bounds the cut; none old: no cut).
     */
    st = db_stmt(n->db, "SELECT MAX(seq) FROM events WHERE ts < ?");
    sqlite3_bind_int64(st, 1, now - n->cfg->events_retain_s * 1000);
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t old = sqlite3_column_int64(st, 0); /* NULL: 0 */
        if (old < cut)
            cut = old;
    }
    sqlite3_reset(st);
    st = db_stmt(n->db, "SELECT MIN(seq) FROM (SELECT seq FROM outbox UNION"
                        " ALL SELECT seq FROM dead_letters)");
    if (sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL) {
        int64_t keep = sqlite3_column_int64(st, 0);
        if (cut >= keep)
            cut = keep - 1;
    }
    sqlite3_reset(st);
    if (cut <= n->pruned_through)
        return;
    if (db_begin(n->db, NULL) < 0)
        return;
    st = db_stmt(n->db, "DELETE FROM events WHERE seq <= ?");
    sqlite3_bind_int64(st, 1, cut);
    if (db_step_done(n->db, st, NULL) < 0) {
        db_rollback(n->db);
        return;
    }
    st = db_stmt(n->db, "INSERT INTO notify_meta(k, v) VALUES("
                        "'pruned_through', ?) ON CONFLICT(k) DO UPDATE SET"
                        " v=excluded.v");
    sqlite3_bind_int64(st, 1, cut);
    if (db_step_done(n->db, st, NULL) < 0) {
        db_rollback(n->db);
        return;
    }
    if (db_commit(n->db, NULL) == 0) {
        pthread_mutex_lock(&n->mu);
        n->pruned_through = cut;
        pthread_mutex_unlock(&n->mu);
        log_info("events pruned through=%lld", (long long)cut);
    }
}

static void *dispatcher(void *arg)
{
    struct notify *n = arg;
    struct inflight fl[NOTIFY_MAX_INFLIGHT];
    int64_t last_prune = 0;

    memset(fl, 0, sizeof(fl));
    for (;;) {
        struct delivery ds[32];
        size_t k, busy = 0;
        int64_t now, next = 0, wait_ms;
        int running = 0, left;
        CURLMsg *msg;
        bool stop;

        pthread_mutex_lock(&n->mu);
        stop = n->stop;
        pthread_mutex_unlock(&n->mu);
        if (stop)
            break;
        now = timefmt_now_ms();
        memset(ds, 0, sizeof(ds));
        db_lock(n->db);
        k = due_rows(n, now, ds, ARRAY_SIZE(ds), fl, ARRAY_SIZE(fl), &next);
        for (size_t i = 0; i < k; i++) {
            if (ds[i].type == 1) {
                deliver_queue(n, &ds[i], now);
                busy++;
            }
        }
        if (now - last_prune >= n->cfg->events_prune_ms) {
            prune_events_locked(n, now);
            reap_endpoints_locked(n);
            last_prune = now;
        }
        db_unlock(n->db);
        for (size_t i = 0; i < k; i++) {
            if (ds[i].type == 3) {
                /* A free slot, else it stays due until one frees up. */
                for (size_t s = 0; s < ARRAY_SIZE(fl); s++) {
                    if (!fl[s].used) {
                        if (start_webhook(n, &fl[s], &ds[i]))
                            busy++;
                        break;
                    }
                }
            }
            delivery_free(&ds[i]);
        }
        curl_multi_perform(n->multi, &running);
        while ((msg = curl_multi_info_read(n->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            for (size_t s = 0; s < ARRAY_SIZE(fl); s++) {
                if (fl[s].used && fl[s].c == msg->easy_handle) {
                    CURLcode cr = msg->data.result;
                    finish_webhook(n, &fl[s], cr);
                    busy++;
                    break;
                }
            }
        }
        if (busy > 0) {
            /* Delivered or started: look again (the next seq is due). */
            continue;
        }

        wait_ms = NOTIFY_HEARTBEAT_MS / 3;
        if (n->cfg->events_prune_ms < wait_ms)
            wait_ms = n->cfg->events_prune_ms;
        if (next) {
            int64_t until = next - timefmt_now_ms();
            if (until < wait_ms)
                wait_ms = until < 1 ? 1 : until;
        }
        /*
         * Sleep until a transfer has news, a commit calls
         * curl_multi_wakeup (notify_committed), or the next row is due;
         * libcurl shortens the wait to its own timers.
         */
        curl_multi_poll(n->multi, NULL, 0, (int)wait_ms, NULL);
    }
    /* Shutdown: abandon POSTs in flight; their rows stay in the outbox. */
    for (size_t s = 0; s < ARRAY_SIZE(fl); s++) {
        if (fl[s].used)
            inflight_free(n, &fl[s]);
    }
    return NULL;
}

/*
 * The watch timer: parked watchers are resumed by commits, and by this
 * thread when they are due (a long-poll's timeout, an SSE heartbeat or
 * bookmark). It does no I/O, so a slow webhook cannot delay a watcher.
 */
static void *watch_timer(void *arg)
{
    struct notify *n = arg;

    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        int64_t now = timefmt_mono_ms();
        int64_t next = notify_watch_tick_locked(n, now);
        struct timespec ts;

        n->watch_wake_at = next;
        if (next == 0) {
            pthread_cond_wait(&n->watch_cond, &n->mu);
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (next - now) / 1000;
        ts.tv_nsec += ((next - now) % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&n->watch_cond, &n->mu, &ts);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

int notify_start(struct notify *n, struct err *err)
{
    if (pthread_create(&n->thread, NULL, dispatcher, n) != 0)
        return err_sys(err, "start the notification dispatcher");
    n->started = true;
    if (pthread_create(&n->watch_thread, NULL, watch_timer, n) != 0)
        return err_sys(err, "start the watch timer");
    n->watch_started = true;
    return 0;
}

void notify_close(struct notify *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stop = true;
    pthread_cond_broadcast(&n->watch_cond);
    pthread_mutex_unlock(&n->mu);
    curl_multi_wakeup(n->multi);
    if (n->started)
        pthread_join(n->thread, NULL);
    if (n->watch_started)
        pthread_join(n->watch_thread, NULL);
    curl_multi_cleanup(n->multi);
    curl_global_cleanup();
    pthread_cond_destroy(&n->watch_cond);
    pthread_mutex_destroy(&n->mu);
    free(n->wrap);
    free(n);
}
