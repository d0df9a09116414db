#ifndef SHOAL_QUEUE_H
#define SHOAL_QUEUE_H

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
 * queue_service_start: called once every listener is bound (ports known).
 * queue_service_close: stop background work and free; after the listener
 * has stopped.
 */
struct queue_service;

int queue_service_open(const struct config *cfg, struct db *db,
                    const struct auth *auth, struct queue_service **out,
                    struct err *err);
const struct http_service *queue_service_http(struct queue_service *s);
int queue_service_start(struct queue_service *s,
                     const struct listen_ports *ports, struct err *err);
void queue_service_close(struct queue_service *s);

#endif
