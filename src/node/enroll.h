#ifndef SHOAL_NODE_ENROLL_H
#define SHOAL_NODE_ENROLL_H

struct err;

/*
 * Joining a pool from another machine (see enroll.c for the design note):
 * shoal-node --join URL --token JOIN-TOKEN trades the join token for a
 * node of its own (id and node token) once, keeps them in the node root,
 * and uses them from then on.
 */
struct enroll {
    char *server;  /* the batch URL, "https://10.0.0.1:10002" */
    char *node_id; /* "tvmps_..._d" */
    char *pool_id;
    char *token; /* the node token (not the join token) */
};

/*
 * Fill *out: from ROOT/agent/identity.json when it exists and names the
 * same server; else by joining (POST /_node/v1/join with join_token),
 * retried with back-off while the server cannot be reached, then written
 * there (mode 0600, directory 0700). ca_file verifies an https server (NULL:
 * the system's CAs). Errors: -ERR_AUTH (the join token was refused),
 * -ERR_CONFLICT (the pool takes no more nodes, or is being deleted),
 * -ERR_INVALID (no join token and no identity), -ERR_IO (identity file).
 * Never logs a token.
 */
int enroll_node(const char *join_url, const char *join_token, const char *root,
                const char *ca_file, struct enroll *out, struct err *err);
void enroll_release(struct enroll *e);

/* Remove the identity (the server revoked this node): the next start joins
 * anew. */
void enroll_forget(const char *root);

#endif
