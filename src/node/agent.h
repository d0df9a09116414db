#ifndef SHOAL_NODE_AGENT_H
#define SHOAL_NODE_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The node agent (see agent.c for the design note; the wire protocol is
 * docs/node-protocol.md): syncs with shoald, runs the pool's start task,
 * then the tasks it is given, several at once (one thread each, through
 * runner_run), and reports their outcomes until acknowledged.
 */
struct agent_opts {
    const char *server;      /* "http://127.0.0.1:10002" */
    const char *server_file; /* re-read on connection loss; may be NULL */
    const char *node_id;
    const char *pool_id; /* for logs until the config arrives */
    const char *root;    /* node root directory */
    const char *token;
    const char *run_as;     /* user for non-admin tasks (root only) */
    int64_t orphan_exit_ms; /* give up after this long without shoald;
                               <= 0: never */
    const char *ca_file;    /* PEM to verify an https server; NULL: the
                               system's CAs */
};

/* Exit statuses of agent_run (and of the shoal-node process). */
enum agent_exit {
    AGENT_EXIT_OK = 0,      /* stopped by a signal */
    AGENT_EXIT_FATAL = 1,   /* bad setup (root dir, user) */
    AGENT_EXIT_REVOKED = 3, /* token refused or node gone */
    AGENT_EXIT_ORPHAN = 4,  /* shoald unreachable past orphan_exit_ms */
    AGENT_EXIT_REBOOT = 5,  /* the server asked for a reboot: the runs are
                               killed; the caller re-executes the agent */
    AGENT_EXIT_REMOVED = 6, /* the server said "stop": the node left its
                               pool */
};

/*
 * Run until told to stop (SIGTERM/SIGINT, the server, or the orphan
 * timeout). Blocks SIGTERM and SIGINT in every thread it starts and waits
 * for them itself. Returns an enum agent_exit.
 */
int agent_run(const struct agent_opts *o);

#endif
