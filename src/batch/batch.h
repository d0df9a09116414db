#ifndef SHOAL_BATCH_H
#define SHOAL_BATCH_H

struct auth;
struct config;
struct db;
struct err;
struct http_service;
struct listen_ports;

/*
 * The batch service: its public entry points, called by shoald's main.
 *
 * batch_service_open: set up (schema migrations, recovery of what a crash
 * left behind) over an open database and the account table; both outlive
 * the service. batch_service_http: the handlers to serve on the listener.
 * batch_service_start: called once every listener is bound (ports known).
 * batch_service_close: stop background work and free; after the listener
 * has stopped.
 */
struct batch_service;

int batch_service_open(const struct config *cfg, struct db *db,
                    const struct auth *auth, struct batch_service **out,
                    struct err *err);
const struct http_service *batch_service_http(struct batch_service *s);
int batch_service_start(struct batch_service *s,
                     const struct listen_ports *ports, struct err *err);
void batch_service_close(struct batch_service *s);

#endif
