#ifndef SHOAL_QUEUE_H
#define SHOAL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct auth;
struct config;
struct db;
struct err;
struct http_service;
struct listen_ports;

/*
 * The queue service: its public entry points, called by shoald's main.
 *
 * queue_service_open: set up (schema migrations, recovery of what a crash
 * left behind) over an open database and the account table; both outlive
 * the service. queue_service_http: the handlers to serve on the listener.
 * queue_service_start: called once every listener is bound (ports known);
 * starts the expiry sweeper. queue_service_close: stop background work and
 * free; after the listener has stopped.
 */
struct queue_service;

int queue_service_open(const struct config *cfg, struct db *db,
                       const struct auth *auth, struct queue_service **out,
                       struct err *err);
const struct http_service *queue_service_http(struct queue_service *s);
int queue_service_start(struct queue_service *s,
                        const struct listen_ports *ports, struct err *err);
void queue_service_close(struct queue_service *s);

/*
 * Enqueue a message from inside shoald (the notification dispatcher's
 * local queue endpoints): the same as a Put Message on
 * /account/queue/messages with no visibility delay and the default time to
 * live (7 days), text stored verbatim (no base64; consumers get exactly
 * these bytes back as MessageText).
 *
 * queue_put_local runs in its own transaction, shared with concurrent
 * queue requests (group commit); on 0 the message is on disk. It must not
 * be called with the db lock held: use queue_put_in_tx for that.
 *
 * queue_put_in_tx runs inside the caller's transaction: the caller holds
 * db_lock() and has called db_begin(); the message becomes durable with
 * the caller's db_commit() and vanishes with its rollback (so "insert
 * message + delete outbox row" is atomic). db must be the database a queue
 * service was opened on (the schema must exist).
 *
 * text: len bytes of UTF-8 that XML can carry (no C0 controls other than
 * tab, LF, CR), at most 64 KiB. create_if_missing: create the queue (no
 * metadata) when it does not exist; otherwise a missing queue fails.
 *
 * Errors: -ERR_NOTFOUND "QueueNotFound"; -ERR_INVALID "InvalidResourceName"
 * / "OutOfRangeInput" (bad queue name), "InvalidXmlNodeValue" (text XML
 * cannot carry); -ERR_TOOBIG "RequestBodyTooLarge" (text over 64 KiB);
 * -ERR_IO / -ERR_BUSY from the database. Both are thread-safe.
 */
int queue_put_local(struct queue_service *s, const char *account,
                    const char *queue, const char *text, size_t len,
                    bool create_if_missing, struct err *err);
int queue_put_in_tx(struct db *db, const char *account, const char *queue,
                    const char *text, size_t len, bool create_if_missing,
                    struct err *err);

/*
 * Queue names: 3-63 of [a-z0-9-], starting and ending with a letter or
 * digit, no "--". Returns 0, or -ERR_INVALID with "OutOfRangeInput" (length)
 * or "InvalidResourceName" (err may be NULL).
 */
int queue_check_name(const char *name, struct err *err);

#endif
