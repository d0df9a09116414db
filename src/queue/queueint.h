#ifndef SHOAL_QUEUEINT_H
#define SHOAL_QUEUEINT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "queue/queue.h"

struct auth;
struct config;
struct db;
struct dbgroup;
struct err;

/*
 * Private to src/queue (and its unit tests): the pieces queue.c,
 * queue_api.c and qstore.c share. Nothing outside the directory
 * includes this; other components use queue.h.
 */

/* ---- limits and wire constants ------------------------------------------ */

#define QUEUE_NAME_MIN 3
#define QUEUE_NAME_MAX 63
#define QUEUE_TEXT_MAX (64 * 1024) /* decoded message text, bytes */
/* Put/Update body: room for 64 KiB of text even if every byte is escaped
 * as "&quot;" (6 bytes); the 64 KiB rule applies to the decoded text. */
#define QUEUE_BODY_MAX      (6 * QUEUE_TEXT_MAX + 1024)
#define QUEUE_VIS_MAX_S     604800 /* 7 days */
#define QUEUE_TTL_DEFAULT_S 604800 /* 7 days */
#define QUEUE_GET_MAX       32     /* numofmessages */
#define QUEUE_LIST_MAX      5000   /* maxresults */
#define QUEUE_META_MAX      8192   /* metadata names + values */

/* ---- qstore.c: the SQL -------------------------------------------------- */

/*
 * Everything here runs with the db lock held; functions that write must
 * run inside a transaction (a dbgroup op's, or the caller's). Times are ms
 * since the epoch. Errors: -ERR_NOTFOUND with "QueueNotFound" /
 * "MessageNotFound", -ERR_INVALID "PopReceiptMismatch", or what
 * db_step_done returns.
 */

/* Expiry of a message put with messagettl=-1: 9999-12-31T23:59:59Z. */
#define QSTORE_NEVER_MS INT64_C(253402300799000)

#define QSTORE_ID_LEN  37 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" + NUL */
#define QSTORE_POP_LEN 17 /* 16 hex digits + NUL */
#define QSTORE_ACL_MAX 5
#define QSTORE_SID_MAX 64

int qstore_migrate(struct db *db, struct err *err);

/*
 * Message ids and pop receipts on the wire. A message id is the row id
 * (first 16 hex digits) and a random nonce (last 16), shaped like a UUID,
 * so a lookup is a primary key probe and a stale id of a reused row id
 * does not match. A pop receipt is 16 hex digits of a random 64-bit
 * value, new on each delivery. The parsers accept upper or lower case and
 * nothing else (-ERR_INVALID).
 *
 * Both forms are in clients' hands across restarts and upgrades (a message
 * may live forever, a receipt for up to 7 days). To change either: keep
 * parsing the old form (it is version 1: exactly these lengths and
 * dashes), give the new one a different length or a marker character, and
 * map both to the same lookup; never reinterpret old strings.
 */
void qstore_format_id(int64_t rowid, uint64_t nonce, char out[QSTORE_ID_LEN]);
int qstore_parse_id(const char *s, int64_t *rowid_out, uint64_t *nonce_out);
void qstore_format_pop(uint64_t pop, char out[QSTORE_POP_LEN]);
int qstore_parse_pop(const char *s, uint64_t *pop_out);

/*
 * Queues. Metadata is an opaque string to the store (queue_api.c encodes
 * it). qstore_queue_id: the row id of account/name, -ERR_NOTFOUND if none.
 * qstore_queue_create: creates it (*created_out true) or, if it exists,
 * leaves it alone and returns its metadata in *meta_out (malloc'd; the
 * caller decides between "same" and "conflict"). *meta_out is NULL when
 * created. qstore_queue_delete drops the queue, its messages and its ACL.
 * qstore_queue_props: metadata (malloc'd) and the number of messages
 * (expired ones not yet swept included: the count is approximate).
 */
int qstore_queue_id(struct db *db, const char *account, const char *name,
                    int64_t *id_out, struct err *err);
int qstore_queue_create(struct db *db, const char *account, const char *name,
                        const char *meta, int64_t now_ms, bool *created_out,
                        char **meta_out, struct err *err);
int qstore_queue_delete(struct db *db, const char *account, const char *name,
                        struct err *err);
int qstore_queue_props(struct db *db, const char *account, const char *name,
                       char **meta_out, int64_t *count_out, struct err *err);
int qstore_queue_set_meta(struct db *db, const char *account, const char *name,
                          const char *meta, struct err *err);

/*
 * List the queues of account in name order: those whose name starts with
 * prefix (may be "") and is >= marker (may be ""), at most max. fn is
 * called per queue with borrowed strings (meta is NULL unless with_meta);
 * a negative return stops and is returned. *next_out is the marker of the
 * next page (malloc'd) or NULL at the end.
 */
int qstore_queue_list(struct db *db, const char *account, const char *prefix,
                      const char *marker, size_t max, bool with_meta,
                      int (*fn)(void *ctx, const char *name, const char *meta),
                      void *ctx, char **next_out, struct err *err);

/* Stored access policies; has_* false = the element was absent. */
struct qstore_policy {
    char id[QSTORE_SID_MAX + 1];
    bool has_start, has_expiry, has_perms;
    int64_t start_ms, expiry_ms;
    char perms[8];
};

int qstore_acl_get(struct db *db, const char *account, const char *name,
                   struct qstore_policy out[QSTORE_ACL_MAX], int *n_out,
                   struct err *err);
int qstore_acl_set(struct db *db, const char *account, const char *name,
                   const struct qstore_policy *p, int n, struct err *err);
/* The policy id of queue account/name; -ERR_NOTFOUND if either is absent. */
int qstore_acl_find(struct db *db, const char *account, const char *name,
                    const char *id, struct qstore_policy *out, struct err *err);

/*
 * Messages. struct qstore_msg describes one; text is borrowed (valid only
 * during the callback that receives it). Callbacks return 0, or a negative
 * error that stops the walk and is returned.
 */
struct qstore_msg {
    int64_t rowid;
    uint64_t nonce;
    uint64_t pop;
    int64_t inserted_ms, expires_ms, visible_ms;
    int64_t dequeue_count;
    const char *text;
    size_t len;
};

/* Insert; out gets everything but text. */
int qstore_msg_put(struct db *db, int64_t queue_id, const char *text,
                   size_t len, int64_t now_ms, int64_t visible_ms,
                   int64_t expires_ms, struct qstore_msg *out, struct err *err);
/*
 * Dequeue up to n visible, unexpired messages in visibility order (the
 * time each became visible, then arrival): each gets visible_ms = now +
 * vis_ms, a new pop receipt and dequeue_count + 1, then fn sees it.
 */
int qstore_msg_get(struct db *db, int64_t queue_id, unsigned n, int64_t now_ms,
                   int64_t vis_ms,
                   int (*fn)(void *ctx, const struct qstore_msg *m), void *ctx,
                   struct err *err);
/* The same order, nothing changed (pop is 0). */
int qstore_msg_peek(struct db *db, int64_t queue_id, unsigned n, int64_t now_ms,
                    int (*fn)(void *ctx, const struct qstore_msg *m), void *ctx,
                    struct err *err);
/*
 * Delete / update the message rowid+nonce of queue_id whose latest pop
 * receipt is pop. Unknown, expired or of another queue: -ERR_NOTFOUND
 * "MessageNotFound"; another pop receipt: -ERR_INVALID "PopReceiptMismatch".
 * Update sets visible_ms = now + vis_ms, a new pop receipt, and the text
 * when text is not NULL; out gets the new state (text not set).
 */
int qstore_msg_delete(struct db *db, int64_t queue_id, int64_t rowid,
                      uint64_t nonce, uint64_t pop, int64_t now_ms,
                      struct err *err);
int qstore_msg_update(struct db *db, int64_t queue_id, int64_t rowid,
                      uint64_t nonce, uint64_t pop, int64_t now_ms,
                      int64_t vis_ms, const char *text, size_t len,
                      struct qstore_msg *out, struct err *err);
int qstore_msg_clear(struct db *db, int64_t queue_id, struct err *err);

/*
 * Delete up to limit messages whose expiry has passed; *deleted_out says
 * how many. Uses the expiry index: no scan when nothing expired.
 */
int qstore_sweep(struct db *db, int64_t now_ms, unsigned limit,
                 unsigned *deleted_out, struct err *err);

/*
 * Service properties of an account: the XML of each top-level element
 * (Logging, HourMetrics, MinuteMetrics, Cors), NULL when never set.
 * qstore_props_set replaces the non-NULL ones only (Azure's merge rule).
 */
struct qstore_props {
    char *part[4];
};

int qstore_props_get(struct db *db, const char *account,
                     struct qstore_props *out, struct err *err);
int qstore_props_set(struct db *db, const char *account,
                     const struct qstore_props *p, struct err *err);
void qstore_props_release(struct qstore_props *p);

/* ---- queue.c: the service ----------------------------------------------- */

struct queue_service {
    struct http_service http;
    const struct config *cfg;
    struct db *db;
    const struct auth *auth;
    struct dbgroup *commit; /* group commit of every write (db.h) */

    /* the expiry sweeper */
    pthread_t sweeper;
    bool sweeper_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    int64_t sweep_interval_ms;
};


/*
 * Whether text can be stored and served as XML character data: valid
 * UTF-8 without the characters XML 1.0 forbids (C0 controls other than
 * tab, LF and CR; U+FFFE, U+FFFF; surrogates).
 */
bool queue_text_valid(const char *text, size_t len);

/*
 * Put a message (db lock held, inside a transaction). vis_ms is the
 * initial invisibility, ttl_s the time to live in seconds or -1 for never.
 * With create, a missing queue is created without metadata. out (may be
 * NULL) receives the message's id, times and pop receipt.
 */
int queue_put_msg(struct db *db, const char *account, const char *queue,
                  const char *text, size_t len, int64_t vis_ms, int64_t ttl_s,
                  bool create, struct qstore_msg *out, struct err *err);

/* ---- queue_api.c: the HTTP handlers ------------------------------------- */

void queue_api_begin(struct http_req *req);
void queue_api_end(struct http_req *req);
void queue_api_done(struct http_req *req);

#endif
