/*
 * cli_pooljoin.c: shoal pool join-token POOL.
 *
 *   shoal pool join-token POOL [--url URL] [--root DIR] [--ca FILE]
 *                              [--revoke]
 *
 * Makes a new join token for a jointoken pool (POST /pools/POOL/jointoken,
 * batch/join.c; the previous token stops working, nodes that joined keep
 * theirs) and prints the command that joins a machine to the pool:
 *
 *   shoal-node --join URL --token TOKEN --root DIR [--ca FILE]
 *
 * URL is what shoald answered (the address this client used), or --url:
 * give an address the other machine can reach when ours is a loopback one
 * (a note on stderr says so). --json prints {poolId, token, joinUrl,
 * command} instead. --revoke deletes the token instead of making one.
 *
 * The requests are libshoal's shoal_pool_join_token and
 * shoal_pool_revoke_join_token.
 *
 * Exit codes as every command (cli.h). Single-threaded.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

static const struct cli_opt o_join_token[] = {
    { "url", "URL", "batch URL the node will use (default: ours)" },
    { "root", "DIR",
      "node root on that machine (default /var/lib/shoal-node)" },
    { "ca", "FILE", "CA file the node verifies an https URL with" },
    { "revoke", NULL, "revoke the pool's join token instead" },
    { NULL, NULL, NULL },
};

static bool is_loopback(const char *url)
{
    const char *h = strstr(url, "://");

    h = h ? h + 3 : url;
    return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost", 9) == 0 ||
           strncmp(h, "[::1]", 5) == 0;
}

static int pool_join_token(struct cli *cli)
{
    const char *pool = cli->pos[0];
    const char *root = cli_opt(cli, "root");
    const char *ca = cli_opt(cli, "ca");
    bool revoke = cli_flag(cli, "revoke");
    char *token = NULL, *answered = NULL;
    const char *url;
    struct buf cmd = BUF_INIT;

    if (revoke) {
        if (shoal_pool_revoke_join_token(cli->c, pool) < 0)
            return cli_out_fail(cli);
        if (!cli->quiet && !cli->json)
            printf("join token of pool %s revoked\n", pool);
        return CLI_OK;
    }
    if (shoal_pool_join_token(cli->c, pool, &token, &answered) < 0)
        return cli_out_fail(cli);
    url = cli_opt(cli, "url");
    if (!url)
        url = answered;
    buf_addf(&cmd, "shoal-node --join %s --token %s", url, token);
    if (root)
        buf_addf(&cmd, " --root %s", root);
    if (ca)
        buf_addf(&cmd, " --ca %s", ca);
    if (cli->json) {
        json_t *o = json_object();
        json_object_set_new(o, "poolId", json_string(pool));
        json_object_set_new(o, "token", json_string(token));
        json_object_set_new(o, "joinUrl", json_string(url));
        json_object_set_new(o, "command", json_string(cmd.data));
        cli_out_json(o);
    } else {
        printf("%s\n", cmd.data);
    }
    if (is_loopback(url) && !cli->quiet)
        fprintf(stderr,
                "shoal: note: %s is a loopback address; give --url "
                "with one the node's machine can reach\n",
                url);
    buf_release(&cmd);
    shoal_free(token);
    shoal_free(answered);
    return CLI_OK;
}

const struct cli_cmd cli_pooljoin_cmds[] = {
    { "pool", "join-token", "POOL",
      "make a join token and print the command that joins a machine",
      "The pool must have been created with \"x-shoal-allocation\": "
      "\"jointoken\".\nEach call makes a new token (the previous one stops "
      "working; nodes\nthat joined keep working). The token is printed once.",
      o_join_token, 1, 1, false, pool_join_token },
    { NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL },
};
