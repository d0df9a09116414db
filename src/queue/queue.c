/*
 * queue.c: the queue service object: lifecycle, the expiry sweeper, and the
 * in-process enqueue used by notifications (queue_put_local/_in_tx).
 *
 * Files of the service:
 *
 *   queue.c      this: struct queue_service, open/start/close, sweeper,
 *                name and text rules, queue_put_msg (shared by the HTTP
 *                Put Message and the in-process puts)
 *   queue_api.c  HTTP: routing, auth, parameter checks, XML in and out
 *   qstore.c     the tables and all SQL
 *
 * Every write goes through the service's group commit (struct dbgroup,
 * db.h and db/dbgroup.c): concurrent writes share one transaction and one
 * fsync, each in its own savepoint, and a write is acknowledged only after
 * the COMMIT that holds it.
 *
 * struct queue_service (queueint.h) borrows the config, the db and the
 * accounts (they outlive it) and owns its group commit (s->commit) and
 * the sweeper thread.
 *
 * Life:  open --(migrate schema)--> opened --start--> sweeping --close-->
 * freed. close may follow open directly (start failed or never ran).
 *
 * Expiry: every read filters expired messages out, so a message is gone
 * for clients the moment its TTL passes. The sweeper deletes expired rows
 * in the background, every QUEUE_SWEEP_MS, QUEUE_SWEEP_BATCH rows per
 * transaction (the db lock is released between batches so requests are
 * not stalled by a mass expiry). It walks the expiry index only.
 *
 * Crash recovery needs nothing of ours: SQLite replays its WAL; a message
 * delivered by a Get that was in flight at the crash stays invisible until
 * its visibility timeout passes and is then delivered again (at-least-once).
 *
 * Threads: the HTTP workers call the handlers (queue_api.c); the sweeper
 * is one thread; queue_put_local may be called from any thread.
 */
#include "queue/queue.h"
#include "queue/queueint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"

/*
 * Sweep cadence and batch. Fixed: a queue.sweep_ms row in config.c would
 * be the place to make it tunable.
 */
#define QUEUE_SWEEP_MS    1000
#define QUEUE_SWEEP_BATCH 1000

int queue_check_name(const char *name, struct err *err)
{
    size_t n = strlen(name);

    if (n < QUEUE_NAME_MIN || n > QUEUE_NAME_MAX)
        return err_set(err, ERR_INVALID, "OutOfRangeInput",
                       "the queue name length is not within %d and %d",
                       QUEUE_NAME_MIN, QUEUE_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        if (alnum)
            continue;
        if (c != '-' || i == 0 || i == n - 1 || name[i + 1] == '-')
            return err_set(err, ERR_INVALID, "InvalidResourceName",
                           "the specified resource name contains invalid "
                           "characters");
    }
    return 0;
}

bool queue_text_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        unsigned cp, need;

        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return false;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            cp = c & 0x1f;
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            cp = c & 0x0f;
            need = 2;
        } else if (c >= 0xf0 && c <= 0xf4) {
            cp = c & 0x07;
            need = 3;
        } else {
            return false;
        }
        if (len - i <= need)
            return false;
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF, U+FFFE/U+FFFF */
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp == 0xfffe ||
            cp == 0xffff)
            return false;
        i += need + 1;
    }
    return true;
}

int queue_put_msg(struct db *db, const char *account, const char *queue,
                  const char *text, size_t len, int64_t vis_ms, int64_t ttl_s,
                  bool create, struct qstore_msg *out, struct err *err)
{
    struct qstore_msg scratch;
    int64_t now = timefmt_now_ms();
    int64_t expires = QSTORE_NEVER_MS;
    int64_t id;
    int rc;

    rc = qstore_queue_id(db, account, queue, &id, err);
    if (rc == -ERR_NOTFOUND && create) {
        bool created;
        char *meta = NULL;

        rc = qstore_queue_create(db, account, queue, "", now, &created, &meta,
                                 err);
        free(meta);
        if (rc == 0)
            rc = qstore_queue_id(db, account, queue, &id, err);
    }
    if (rc < 0)
        return rc;
    if (ttl_s >= 0 && ttl_s < (QSTORE_NEVER_MS - now) / 1000)
        expires = now + ttl_s * 1000;
    return qstore_msg_put(db, id, text, len, now, now + vis_ms, expires,
                          out ? out : &scratch, err);
}

static int check_local(const char *queue, const char *text, size_t len,
                       struct err *err)
{
    int rc = queue_check_name(queue, err);

    if (rc < 0)
        return rc;
    if (len > QUEUE_TEXT_MAX)
        return err_set(err, ERR_TOOBIG, "RequestBodyTooLarge",
                       "the message is larger than %d bytes", QUEUE_TEXT_MAX);
    if (!queue_text_valid(text, len))
        return err_set(err, ERR_INVALID, "InvalidXmlNodeValue",
                       "the message text is not valid XML character data");
    return 0;
}

int queue_put_in_tx(struct db *db, const char *account, const char *queue,
                    const char *text, size_t len, bool create_if_missing,
                    struct err *err)
{
    int rc = check_local(queue, text, len, err);

    if (rc < 0)
        return rc;
    return queue_put_msg(db, account, queue, text, len, 0, QUEUE_TTL_DEFAULT_S,
                         create_if_missing, NULL, err);
}

struct local_put {
    const char *account, *queue, *text;
    size_t len;
    bool create;
};

static int run_local_put(struct db *db, void *arg, struct err *err)
{
    struct local_put *p = arg;

    return queue_put_msg(db, p->account, p->queue, p->text, p->len, 0,
                         QUEUE_TTL_DEFAULT_S, p->create, NULL, err);
}

int queue_put_local(struct queue_service *s, const char *account,
                    const char *queue, const char *text, size_t len,
                    bool create_if_missing, struct err *err)
{
    struct local_put p = { account, queue, text, len, create_if_missing };
    int rc = check_local(queue, text, len, err);

    if (rc < 0)
        return rc;
    return dbgroup_run(s->commit, run_local_put, &p, err);
}

/* ---- the sweeper --------------------------------------------------------- */

static int sweep_once(struct queue_service *s, unsigned *deleted_out)
{
    struct err e = ERR_INIT;
    int rc;

    db_lock(s->db);
    rc = db_begin(s->db, &e);
    if (rc == 0) {
        rc = qstore_sweep(s->db, timefmt_now_ms(), QUEUE_SWEEP_BATCH,
                          deleted_out, &e);
        if (rc == 0)
            rc = db_commit(s->db, &e);
        else
            db_rollback(s->db);
    }
    db_unlock(s->db);
    if (rc < 0)
        log_warn("queue expiry sweep failed code=%s msg=%s", err_code_name(rc),
                 e.msg);
    return rc;
}

static bool is_stopping(struct queue_service *s)
{
    bool v;

    pthread_mutex_lock(&s->mu);
    v = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static void *sweeper_main(void *arg)
{
    struct queue_service *s = arg;
    struct timespec ts;

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        unsigned deleted = 0, total = 0;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += s->sweep_interval_ms / 1000;
        ts.tv_nsec += (long)(s->sweep_interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!s->stopping &&
               pthread_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT)
            ;
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->mu);
        do {
            if (sweep_once(s, &deleted) < 0)
                break;
            total += deleted;
        } while (deleted == QUEUE_SWEEP_BATCH && !is_stopping(s));
        if (total)
            log_debug("queue expiry sweep deleted=%u", total);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

int queue_service_open(const struct config *cfg, struct db *db,
                       const struct auth *auth, struct queue_service **out,
                       struct err *err)
{
    struct queue_service *s;
    pthread_condattr_t ca;
    int rc;

    rc = qstore_migrate(db, err);
    if (rc < 0)
        return rc;
    s = xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    s->db = db;
    s->auth = auth;
    s->http.name = "queue";
    s->http.ctx = s;
    s->http.begin = queue_api_begin;
    s->http.end = queue_api_end;
    s->http.done = queue_api_done;
    s->commit = dbgroup_new(db, "queue");
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->sweep_interval_ms = QUEUE_SWEEP_MS;
    *out = s;
    return 0;
}

const struct http_service *queue_service_http(struct queue_service *s)
{
    return &s->http;
}

int queue_service_start(struct queue_service *s,
                        const struct listen_ports *ports, struct err *err)
{
    int rc;

    (void)ports;
    rc = pthread_create(&s->sweeper, NULL, sweeper_main, s);
    if (rc != 0) {
        errno = rc;
        return err_sys(err, "start the queue expiry sweeper");
    }
    s->sweeper_started = true;
    return 0;
}

void queue_service_close(struct queue_service *s)
{
    if (!s)
        return;
    if (s->sweeper_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->sweeper, NULL);
    }
    dbgroup_free(s->commit);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
