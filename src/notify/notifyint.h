#ifndef SHOAL_NOTIFYINT_H
#define SHOAL_NOTIFYINT_H

/* Private to src/notify: the notify context shared by its files. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "notify/notify.h"

struct http_req;
struct notify_watch;

#define NOTIFY_HEARTBEAT_MS 15000
#define NOTIFY_BOOKMARK_MS 60000
#define NOTIFY_BODY_MAX (64u * 1024u) /* request bodies on notify routes */
#define NOTIFY_MAX_INFLIGHT 16 /* webhook POSTs at once (one per endpoint) */

struct notify {
    const struct config *cfg;
    struct db *db;
    int (*queue_sink)(void *ctx, struct db *db, const char *account,
                      const char *queue, const char *text, size_t len,
                      bool create, struct err *err);
    void *queue_ctx;
    bool (*job_exists)(void *ctx, const char *account, const char *job_id);
    void *job_ctx;

    /*
     * The dispatcher's libcurl multi handle: webhook POSTs run on it
     * concurrently (one per endpoint, NOTIFY_MAX_INFLIGHT in all), and it
     * sleeps in curl_multi_poll(); curl_multi_wakeup() (thread-safe) wakes
     * it after a commit. Created in notify_open, freed in notify_close.
     */
    void *multi; /* CURLM */

    pthread_mutex_t mu;      /* guards the fields below */
    bool stop, started;
    int64_t pruned_through;  /* highest pruned seq; also under db lock */
    struct notify_watch *watchers; /* parked watch requests */
    pthread_t thread;
    /*
     * The watch timer: resumes a parked watcher when it is due (long-poll
     * deadline, SSE heartbeat or bookmark). Sleeps on watch_cond
     * (CLOCK_MONOTONIC) until watch_wake_at (mono ms, 0 = nothing due);
     * a park with an earlier due time signals it. Guarded by mu.
     */
    pthread_cond_t watch_cond;
    pthread_t watch_thread;
    bool watch_started;
    int64_t watch_wake_at;
    void *wrap; /* struct notify_wrap, freed by notify_close */

    /* set under the db lock by *_tx, read by the caller after commit */
    bool events_dirty, outbox_dirty;
};

const char *notify_kind_name(int kind);
int notify_kind_parse(const char *name);
void notify_job_key(const char *job_id, char *out, size_t n);
int notify_outbox_add_tx(struct notify *n, const char *endpoint_id,
                         int64_t seq, int64_t now, struct err *err);
/*
 * The account's id on webhooks (Properties.AccountId and the
 * ms-mediaservices-accountid header): a GUID made from the SHA-256 of the
 * account name, so it is stable across restarts and machines without being
 * stored. 36 characters and a NUL.
 */
#define NOTIFY_ACCOUNT_ID_LEN 37
void notify_account_id(const char *account, char out[NOTIFY_ACCOUNT_ID_LEN]);
char *notify_render_message(const char *account, int kind, int64_t seq,
                            int64_t ts, const char *props, const char *etag,
                            bool webhook, const char *endpoint_id);
int64_t notify_backoff_ms(const struct config *cfg, int attempt);
/* Is this path one of the notify routes (notify_api.c)? */
bool notify_is_route(const char *path);
/* Resume every parked watcher (n->mu held). */
void notify_watch_wake_locked(struct notify *n);
/*
 * Resume the parked watchers due at now_mono (n->mu held); returns the
 * earliest due time of those left parked, 0 if none.
 */
int64_t notify_watch_tick_locked(struct notify *n, int64_t now_mono);

#endif
