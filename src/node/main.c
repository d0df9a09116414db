/*
 * main.c: shoal-node's command line.
 *
 *   shoal-node --server URL --node-id ID --root DIR       (local agents)
 *              [--token-file FILE] [--server-file FILE] [--pool-id ID]
 *              [--run-as USER] [--orphan-exit-ms N] [--log-level L]
 *              [--ca FILE]
 *   shoal-node --join URL --token JOIN-TOKEN [--root DIR]  (another machine)
 *              [--ca FILE] [--run-as USER] [--log-level L]
 *
 * Local agents: the node token comes from SHOAL_NODE_TOKEN (how shoald
 * starts them) or the first line of --token-file (mode 0600 advised); it
 * is wiped from the environment at once (also from /proc/PID/environ) so
 * no task can inherit or read it.
 *
 * Remote agents (--join): the join token comes from --token (wiped from
 * the argument block at once, so ps does not show it), SHOAL_JOIN_TOKEN or
 * --token-file; enroll.c trades it for a node id and node token, kept in
 * ROOT/agent/identity.json, so a restart comes back as the same node (the
 * join token is then not needed). ROOT defaults to /var/lib/shoal-node for
 * root, else ~/.shoal-node. --ca names the PEM that verifies an https
 * server (shoald's own certificate when it is self-signed).
 *
 * Exit statuses are enum agent_exit (agent.h); 2 is a usage error. When
 * the agent returns AGENT_EXIT_REBOOT (the node is rebooted), main
 * re-executes this program with the same arguments (the node token goes
 * back into SHOAL_NODE_TOKEN when that is where it came from); every other
 * descriptor is closed across the exec. When a joined node is revoked or
 * removed (AGENT_EXIT_REVOKED, AGENT_EXIT_REMOVED), its identity is
 * forgotten.
 *
 * Threads: main only here; agent_run starts the rest.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "node/agent.h"
#include "node/enroll.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: shoal-node --server URL --node-id ID --root DIR\n"
            "                  [--token-file FILE] [--server-file FILE]\n"
            "                  [--pool-id ID] [--run-as USER]\n"
            "                  [--orphan-exit-ms N] [--log-level L]\n"
            "                  [--ca FILE]\n"
            "       shoal-node --join URL --token JOIN-TOKEN [--root DIR]\n"
            "                  [--ca FILE] [--run-as USER] [--log-level L]\n"
            "The node token is read from SHOAL_NODE_TOKEN or --token-file;\n"
            "with --join, the join token from --token, SHOAL_JOIN_TOKEN or\n"
            "--token-file. --ca: PEM file to verify an https server.\n");
}

/* Close-on-exec every descriptor but 0-2, before re-executing. */
static void cloexec_all(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        int fd = (int)strtol(e->d_name, NULL, 10);
        if (fd > 2 && fd != dirfd(d))
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    closedir(d);
}

static char *default_root(void)
{
    const char *home = getenv("HOME");

    if (geteuid() == 0 || !home || !*home)
        return xstrdup("/var/lib/shoal-node");
    return xasprintf("%s/.shoal-node", home);
}

/* Take a secret and wipe it where it was (argv or environment). */
static char *take_secret(char *where)
{
    char *copy = xstrdup(where);

    memset(where, 'x', strlen(where));
    return copy;
}

static char *read_token(const char *path)
{
    char line[512];
    FILE *f = fopen(path, "r");

    if (!f)
        return NULL;
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    return line[0] ? xstrdup(line) : NULL;
}

int main(int argc, char **argv)
{
    struct agent_opts o;
    const char *token_file = NULL, *level = "info", *join = NULL;
    char *token = NULL, *join_token = NULL, *root = NULL;
    struct enroll en;
    bool env_token = false;
    int rc = 2;

    memset(&o, 0, sizeof(o));
    memset(&en, 0, sizeof(en));
    o.orphan_exit_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            rc = 0;
            goto out;
        }
        if (!v) {
            usage();
            goto out;
        }
        if (strcmp(a, "--server") == 0) {
            o.server = v;
        } else if (strcmp(a, "--server-file") == 0) {
            o.server_file = v;
        } else if (strcmp(a, "--node-id") == 0) {
            o.node_id = v;
        } else if (strcmp(a, "--pool-id") == 0) {
            o.pool_id = v;
        } else if (strcmp(a, "--root") == 0) {
            o.root = v;
        } else if (strcmp(a, "--token-file") == 0) {
            token_file = v;
        } else if (strcmp(a, "--run-as") == 0) {
            o.run_as = v;
        } else if (strcmp(a, "--join") == 0) {
            join = v;
        } else if (strcmp(a, "--token") == 0) {
            free(join_token);
            join_token = take_secret(argv[i + 1]);
        } else if (strcmp(a, "--ca") == 0) {
            o.ca_file = v;
        } else if (strcmp(a, "--log-level") == 0) {
            level = v;
        } else if (strcmp(a, "--orphan-exit-ms") == 0) {
            int64_t ms;
            if (parse_i64(v, 0, INT64_MAX, &ms) < 0) {
                usage();
                goto out;
            }
            o.orphan_exit_ms = ms;
        } else {
            usage();
            goto out;
        }
        i++;
    }
    if (join ? (o.server || o.node_id)
             : (!o.server || !o.node_id || !o.root || join_token)) {
        usage();
        goto out;
    }
    if (log_parse_level(level) < 0) {
        usage();
        goto out;
    }
    log_level_current = log_parse_level(level);
    {
        /*
         * Copy the token, then wipe it in place: unsetenv alone leaves the
         * bytes in the initial environment block, which
         * /proc/PID/environ still shows.
         */
        char *v = getenv("SHOAL_NODE_TOKEN");
        if (v) {
            token = take_secret(v);
            env_token = true;
        }
        unsetenv("SHOAL_NODE_TOKEN");
        v = getenv("SHOAL_JOIN_TOKEN");
        if (v && !join_token)
            join_token = take_secret(v);
        unsetenv("SHOAL_JOIN_TOKEN");
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "shoal-node: cannot initialise libcurl\n");
        rc = 1;
        goto out;
    }
    if (join) {
        struct err e = ERR_INIT;
        if (!join_token && token_file)
            join_token = read_token(token_file);
        root = o.root ? xstrdup(o.root) : default_root();
        if (mkdir(root, 0755) < 0 && access(root, W_OK) < 0) {
            fprintf(stderr, "shoal-node: cannot use root directory '%s'\n",
                    root);
            rc = AGENT_EXIT_FATAL;
            goto out;
        }
        rc = enroll_node(join, join_token, root, o.ca_file, &en, &e);
        FREE_AND_NULL(join_token); /* the node token replaces it */
        if (rc < 0) {
            fprintf(stderr, "shoal-node: cannot join %s: %s\n", join, e.msg);
            rc = e.code == ERR_AUTH ? AGENT_EXIT_REVOKED : AGENT_EXIT_FATAL;
            goto out;
        }
        o.server = en.server;
        o.node_id = en.node_id;
        o.pool_id = en.pool_id;
        o.root = root;
        token = xstrdup(en.token);
    } else if (!token && token_file) {
        token = read_token(token_file);
    }
    if (!token) {
        fprintf(stderr, "shoal-node: no token (SHOAL_NODE_TOKEN or "
                        "--token-file)\n");
        rc = 2;
        goto out;
    }
    o.token = token;
    rc = agent_run(&o);
    if ((rc == AGENT_EXIT_REVOKED || rc == AGENT_EXIT_REMOVED) && join)
        enroll_forget(root);
    if (rc == AGENT_EXIT_REBOOT) {
        log_info("node agent rebooting node=%s", o.node_id);
        if (env_token)
            setenv("SHOAL_NODE_TOKEN", token, 1);
        cloexec_all();
        execv("/proc/self/exe", argv);
        log_error("cannot re-execute the agent errno=%d", errno);
        rc = AGENT_EXIT_FATAL;
    }
    free(token);
    /*
     * Threads may still be blocked in requests and read o (root, node id):
     * leave without freeing those.
     */
    exit(rc);
out:
    free(join_token);
    free(token);
    free(root);
    enroll_release(&en);
    return rc;
}
