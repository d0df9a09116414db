#ifndef SHOAL_BLOB_H
#define SHOAL_BLOB_H

struct auth;
struct config;
struct db;
struct err;
struct http_service;
struct listen_ports;

/*
 * The blob service: its public entry points, called by shoald's main.
 *
 * blob_service_open: set up (schema migrations, recovery of what a crash
 * left behind) over an open database and the account table; both outlive
 * the service. blob_service_http: the handlers to serve on the listener.
 * blob_service_start: called once every listener is bound (ports known).
 * blob_service_close: stop background work and free; after the listener
 * has stopped.
 */
struct blob_service;

int blob_service_open(const struct config *cfg, struct db *db,
                    const struct auth *auth, struct blob_service **out,
                    struct err *err);
const struct http_service *blob_service_http(struct blob_service *s);
int blob_service_start(struct blob_service *s,
                     const struct listen_ports *ports, struct err *err);
void blob_service_close(struct blob_service *s);

#endif
