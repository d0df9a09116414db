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

struct notify {
    const struct config *cfg;
    struct db *db;
    int (*queue_sink)(void *ctx, struct db *db, const char *account,
                      const char *queue, const char *text, size_t len,
                      bool create, struct err *err);
    void *queue_ctx;
    bool (*job_exists)(void *ctx, const char *account, const char *job_id);
    void *job_ctx;

    pthread_mutex_t mu;      /* guards the fields below */
    pthread_cond_t cond;     /* wakes the dispatcher */
    bool work, stop, started;
    int64_t pruned_through;  /* highest pruned seq; also under db lock */
    struct notify_watch *watchers; /* parked watch requests */
    pthread_t thread;

    /* set under the db lock by *_tx, read by the caller after commit */
    bool events_dirty, outbox_dirty;
};

const char *notify_kind_name(int kind);
int notify_kind_parse(const char *name);
void notify_job_key(const char *job_id, char *out, size_t n);
int notify_outbox_add_tx(struct notify *n, const char *endpoint_id,
                         int64_t seq, int64_t now, struct err *err);
char *notify_render_message(const char *account, int kind, int64_t seq,
                            int64_t ts, const char *props, const char *etag,
                            bool webhook, const char *endpoint_id);
int64_t notify_backoff_ms(const struct config *cfg, int attempt);
/* Resume every parked watcher (n->mu held). */
void notify_watch_wake_locked(struct notify *n);

#endif
