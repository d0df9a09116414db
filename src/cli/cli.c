/*
 * cli.c: the shoal command: options, configuration, dispatch and help.
 *
 *   shoal [GLOBAL OPTIONS] GROUP VERB [ARGS] [OPTIONS] [-- WORDS...]
 *
 * Parsing is one left-to-right pass. Until GROUP and VERB are known only
 * global options are accepted; after that the command's own options too,
 * in any order with the positional arguments. "--name=value" and
 * "--name value" both work; "--" ends the options (the words after it go
 * to commands that take a command line). "-h"/"--help" anywhere prints the
 * help of whatever has been named so far and exits 0.
 *
 * Configuration: --connection-string, else $SHOAL_CONNECTION_STRING; the
 * flags --account, --key, --blob-url, --queue-url and --batch-url replace
 * the matching keys of that string (or make one on their own). A bad
 * configuration is a usage error (2), like a bad command line.
 *
 * Exit codes: 0 ok, 1 the operation failed (one line on stderr naming the
 * service's error code), 2 usage.
 *
 * Single-threaded (libshoal runs its own transfer threads).
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"

static const struct cli_opt global_opts[] = {
    { "connection-string", "CS",
      "Azure connection string (default: $SHOAL_CONNECTION_STRING)" },
    { "account", "NAME", "account name (AccountName)" },
    { "key", "KEY", "account key, base64 (AccountKey)" },
    { "blob-url", "URL", "blob endpoint (BlobEndpoint)" },
    { "queue-url", "URL", "queue endpoint (QueueEndpoint)" },
    { "batch-url", "URL", "batch endpoint (BatchEndpoint)" },
    { "json", NULL, "machine-readable JSON output" },
    { "quiet", NULL, "no progress output" },
    { "help", NULL, "show help and exit" },
    { "version", NULL, "show the version and exit" },
    { NULL, NULL, NULL },
};

static const struct {
    const char *name;
    const char *what;
} groups[] = {
    { "container", "blob containers" },
    { "blob", "blobs: upload, download, list, properties, metadata" },
    { "queue", "queues and messages" },
    { "sas", "shared access signatures" },
    { "pool", "Batch pools" },
    { "node", "compute nodes of a pool" },
    { "job", "Batch jobs, and waiting for them" },
    { "task", "Batch tasks and their output" },
    { "event", "the event stream of state changes" },
    { "endpoint", "notification endpoints (queues, webhooks)" },
};

/* shoal pool join-token (cli_pooljoin.c) */
extern const struct cli_cmd cli_pooljoin_cmds[];

static const struct cli_cmd *const tables[] = { cli_storage_cmds,
                                                cli_batch_cmds, cli_notify_cmds,
                                                cli_pooljoin_cmds };

const char *cli_opt(const struct cli *cli, const char *name)
{
    int i;

    for (i = cli->nopts - 1; i >= 0; i--) {
        if (strcmp(cli->opts[i].name, name) == 0)
            return cli->opts[i].value;
    }
    return NULL;
}

bool cli_flag(const struct cli *cli, const char *name)
{
    return cli_opt(cli, name) != NULL;
}

int cli_opt_all(const struct cli *cli, const char *name, const char **out,
                int max)
{
    int i, n = 0;

    for (i = 0; i < cli->nopts && n < max; i++) {
        if (strcmp(cli->opts[i].name, name) == 0)
            out[n++] = cli->opts[i].value;
    }
    return n;
}

static const struct cli_cmd *find_cmd(const char *group, const char *verb)
{
    size_t t;

    for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        const struct cli_cmd *c;

        for (c = tables[t]; c->group; c++) {
            if (strcmp(c->group, group) == 0 && strcmp(c->verb, verb) == 0)
                return c;
        }
    }
    return NULL;
}

static bool known_group(const char *group)
{
    size_t i;

    for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        if (strcmp(groups[i].name, group) == 0)
            return true;
    }
    return false;
}

static const struct cli_opt *find_opt(const struct cli_opt *opts,
                                      const char *name, size_t len)
{
    const struct cli_opt *o;

    for (o = opts; o && o->name; o++) {
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    }
    return NULL;
}

static void print_opts(FILE *f, const struct cli_opt *opts)
{
    const struct cli_opt *o;

    for (o = opts; o && o->name; o++) {
        char lhs[64];

        snprintf(lhs, sizeof(lhs), "--%s%s%s", o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        fprintf(f, "  %-26s %s\n", lhs, o->help);
    }
}

static void print_exit_codes(FILE *f)
{
    fprintf(f, "\nExit status: 0 ok, 1 the operation failed (the error, "
               "with the service's\nerror code, is one line on stderr), "
               "2 usage error.\n");
}

static void usage_global(FILE *f)
{
    size_t i;

    fprintf(f, "usage: shoal [OPTIONS] GROUP VERB [ARGS] [OPTIONS]\n\n"
               "The shoal command line: Azure-compatible blob, queue and "
               "Batch operations\nagainst shoal (or Azure).\n\nGroups:\n");
    for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        fprintf(f, "  %-10s %s\n", groups[i].name, groups[i].what);
    fprintf(f, "\nRun 'shoal GROUP --help' for the verbs of a group and "
               "'shoal GROUP VERB --help'\nfor one command.\n\n"
               "Global options (anywhere on the line):\n");
    print_opts(f, global_opts);
    fprintf(f, "\nConfiguration comes from --connection-string or "
               "$SHOAL_CONNECTION_STRING\n(the Azure format; "
               "UseDevelopmentStorage=true works; BatchEndpoint=URL adds\n"
               "the Batch service); the flags above replace single keys.\n");
    print_exit_codes(f);
}

static void usage_group(FILE *f, const char *group)
{
    size_t t;

    fprintf(f, "usage: shoal %s VERB [ARGS] [OPTIONS]\n\nVerbs:\n", group);
    for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        const struct cli_cmd *c;

        for (c = tables[t]; c->group; c++) {
            char lhs[96];

            if (strcmp(c->group, group) != 0)
                continue;
            snprintf(lhs, sizeof(lhs), "%s %s", c->verb, c->args);
            fprintf(f, "  %-36s %s\n", lhs, c->summary);
        }
    }
    fprintf(f, "\nRun 'shoal %s VERB --help' for details.\n", group);
    print_exit_codes(f);
}

static void usage_cmd(FILE *f, const struct cli_cmd *c)
{
    fprintf(f, "usage: shoal %s %s%s%s [OPTIONS]%s\n\n%s\n", c->group, c->verb,
            c->args[0] ? " " : "", c->args,
            c->takes_rest ? " -- COMMAND [ARGS...]" : "", c->summary);
    if (c->help)
        fprintf(f, "\n%s\n", c->help);
    if (c->opts && c->opts->name) {
        fprintf(f, "\nOptions:\n");
        print_opts(f, c->opts);
    }
    fprintf(f, "\nGlobal options:\n");
    print_opts(f, global_opts);
    print_exit_codes(f);
}

/* Replace or add Key=Value in a connection string being built. */
static int override(struct buf *cs, const char *key, const char *value)
{
    struct buf out = BUF_INIT;
    const char *p = cs->data;
    size_t klen = strlen(key);

    if (strchr(value, ';'))
        return -1;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *k = p;

        while (k < p + n && (*k == ' ' || *k == '\t'))
            k++;
        if (n > 0 &&
            !((size_t)(p + n - k) > klen && strncasecmp(k, key, klen) == 0 &&
              (k[klen] == '=' || k[klen] == ' '))) {
            buf_add(&out, p, n);
            buf_addc(&out, ';');
        }
        if (!end)
            break;
        p = end + 1;
    }
    buf_addf(&out, "%s=%s;", key, value);
    buf_release(cs);
    *cs = out;
    return 0;
}

static int connect_client(struct cli *cli)
{
    static const struct {
        const char *opt;
        const char *key;
    } map[] = {
        { "account", "AccountName" },     { "key", "AccountKey" },
        { "blob-url", "BlobEndpoint" },   { "queue-url", "QueueEndpoint" },
        { "batch-url", "BatchEndpoint" },
    };
    struct buf cs = BUF_INIT;
    const char *base = cli_opt(cli, "connection-string");
    char why[256];
    size_t i;
    int rc;

    if (!base)
        base = getenv("SHOAL_CONNECTION_STRING");
    if (base)
        buf_adds(&cs, base);
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        const char *v = cli_opt(cli, map[i].opt);

        if (v && override(&cs, map[i].key, v) < 0) {
            buf_release(&cs);
            return cli_out_usage("--%s must not contain ';'", map[i].opt);
        }
    }
    if (cs.len == 0) {
        buf_release(&cs);
        return cli_out_usage("no connection: set SHOAL_CONNECTION_STRING "
                             "or use --connection-string");
    }
    rc = shoal_client_new(cs.data, &cli->c, why, sizeof(why));
    buf_release(&cs);
    if (rc < 0)
        return cli_out_usage("bad configuration: %s", why);
    return CLI_OK;
}

static int add_opt(struct cli *cli, const char *name, const char *value)
{
    if (cli->nopts >= CLI_MAX_OPTS)
        return cli_out_usage("too many options");
    cli->opts[cli->nopts].name = name;
    cli->opts[cli->nopts].value = value;
    cli->nopts++;
    return CLI_OK;
}

int main(int argc, char **argv)
{
    static struct cli cli; /* large; zeroed */
    const char *group = NULL, *verb = NULL;
    bool help = false;
    int i, rc;

    cli.pos = calloc((size_t)argc + 1, sizeof(*cli.pos));
    if (!cli.pos) {
        fprintf(stderr, "shoal: out of memory\n");
        return CLI_FAILED;
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--") == 0) {
            cli.has_rest = true;
            cli.rest = argv + i + 1;
            cli.nrest = argc - i - 1;
            break;
        }
        if (strcmp(a, "-h") == 0) {
            help = true;
            continue;
        }
        if (strncmp(a, "--", 2) == 0) {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const struct cli_opt *o = find_opt(global_opts, name, len);
            const char *value;

            if (!o && cli.cmd)
                o = find_opt(cli.cmd->opts, name, len);
            if (!o) {
                rc = cli_out_usage("unknown option --%.*s%s", (int)len, name,
                                   cli.cmd ? ""
                                           : " (command options go "
                                             "after GROUP VERB)");
                goto out;
            }
            if (o->arg) {
                if (eq) {
                    value = eq + 1;
                } else if (i + 1 < argc) {
                    value = argv[++i];
                } else {
                    rc = cli_out_usage("option --%s needs a value (%s)",
                                       o->name, o->arg);
                    goto out;
                }
            } else {
                if (eq) {
                    rc = cli_out_usage("option --%s takes no value", o->name);
                    goto out;
                }
                value = "";
            }
            if (strcmp(o->name, "help") == 0) {
                help = true;
                continue;
            }
            rc = add_opt(&cli, o->name, value);
            if (rc)
                goto out;
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            rc = cli_out_usage("unknown option %s", a);
            goto out;
        }
        if (!group) {
            group = a;
            if (strcmp(group, "help") == 0) {
                help = true;
                group = NULL;
                if (i + 1 < argc && argv[i + 1][0] != '-')
                    group = argv[++i];
            }
            if (group && !known_group(group)) {
                rc = cli_out_usage("unknown group '%s' (see shoal --help)",
                                   group);
                goto out;
            }
        } else if (!verb) {
            verb = a;
            cli.cmd = find_cmd(group, verb);
            if (!cli.cmd) {
                if (help) {
                    usage_group(stdout, group);
                    rc = CLI_OK;
                    goto out;
                }
                rc = cli_out_usage("unknown command '%s %s' (see shoal %s "
                                   "--help)",
                                   group, verb, group);
                goto out;
            }
        } else {
            cli.pos[cli.npos++] = argv[i];
        }
    }
    if (cli_flag(&cli, "version")) {
        printf("shoal %s\n", SHOAL_VERSION_STRING);
        rc = CLI_OK;
        goto out;
    }
    if (help) {
        if (cli.cmd)
            usage_cmd(stdout, cli.cmd);
        else if (group)
            usage_group(stdout, group);
        else
            usage_global(stdout);
        rc = CLI_OK;
        goto out;
    }
    if (!group) {
        usage_global(stderr);
        rc = CLI_USAGE;
        goto out;
    }
    if (!cli.cmd) {
        usage_group(stderr, group);
        rc = CLI_USAGE;
        goto out;
    }
    if (cli.npos < cli.cmd->min_args ||
        (cli.cmd->max_args >= 0 && cli.npos > cli.cmd->max_args)) {
        rc = cli_out_usage("usage: shoal %s %s %s%s", cli.cmd->group,
                           cli.cmd->verb, cli.cmd->args,
                           cli.cmd->takes_rest ? " -- COMMAND [ARGS...]" : "");
        goto out;
    }
    if (cli.has_rest && !cli.cmd->takes_rest) {
        rc = cli_out_usage("'shoal %s %s' takes no words after --",
                           cli.cmd->group, cli.cmd->verb);
        goto out;
    }
    cli.json = cli_flag(&cli, "json");
    cli.quiet = cli_flag(&cli, "quiet");
    cli.tty_err = isatty(STDERR_FILENO) == 1;
    rc = connect_client(&cli);
    if (rc)
        goto out;
    rc = cli.cmd->run(&cli);
out:
    shoal_client_free(cli.c);
    free(cli.pos);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        fprintf(stderr, "shoal: write error on stdout\n");
        rc = CLI_FAILED;
    }
    return rc;
}
