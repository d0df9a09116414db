/*
 * main.c: shoal-node's command line.
 *
 *   shoal-node --server URL --node-id ID --root DIR
 *              [--token-file FILE] [--server-file FILE] [--pool-id ID]
 *              [--run-as USER] [--orphan-exit-ms N] [--log-level L]
 *
 * The token comes from SHOAL_NODE_TOKEN (how shoald starts local agents)
 * or the first line of --token-file (mode 0600 advised); it is wiped from
 * the environment at once (also from /proc/PID/environ) so no task can
 * inherit or read it. Exit statuses are
 * enum agent_exit (agent.h); 2 is a usage error.
 *
 * Threads: main only here; agent_run starts the rest.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "node/agent.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: shoal-node --server URL --node-id ID --root DIR\n"
            "                  [--token-file FILE] [--server-file FILE]\n"
            "                  [--pool-id ID] [--run-as USER]\n"
            "                  [--orphan-exit-ms N] [--log-level L]\n"
            "The token is read from SHOAL_NODE_TOKEN or --token-file.\n");
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
    const char *token_file = NULL, *level = "info";
    char *token = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    o.orphan_exit_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (!v) {
            usage();
            return 2;
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
        } else if (strcmp(a, "--log-level") == 0) {
            level = v;
        } else if (strcmp(a, "--orphan-exit-ms") == 0) {
            int64_t ms;
            if (parse_i64(v, 0, INT64_MAX, &ms) < 0) {
                usage();
                return 2;
            }
            o.orphan_exit_ms = ms;
        } else {
            usage();
            return 2;
        }
        i++;
    }
    if (!o.server || !o.node_id || !o.root) {
        usage();
        return 2;
    }
    if (log_parse_level(level) < 0) {
        usage();
        return 2;
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
            token = xstrdup(v);
            memset(v, 'x', strlen(v));
        }
        unsetenv("SHOAL_NODE_TOKEN");
    }
    if (!token && token_file)
        token = read_token(token_file);
    if (!token) {
        fprintf(stderr, "shoal-node: no token (SHOAL_NODE_TOKEN or "
                        "--token-file)\n");
        return 2;
    }
    o.token = token;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "shoal-node: cannot initialise libcurl\n");
        free(token);
        return 1;
    }
    rc = agent_run(&o);
    free(token);
    /* Threads may still be blocked in requests: leave without cleanup. */
    exit(rc);
}
