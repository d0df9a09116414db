/*
 * cli_batch.c: the pool, node, job and task commands.
 *
 * Gets and lists return shoal_docs; --json prints them as the service sent
 * them (less odata.metadata), plain output picks a few fields per line.
 *
 * "shoal task add JOB --id T -- CMD ARGS..." joins the words after "--"
 * into one command line, quoting for the service's POSIX-sh-like split
 * (batch-wire.md: no shell runs it): a word of safe characters goes as is,
 * any other in single quotes with ' written as '\''.
 *
 * "shoal job wait" shows a bar on a terminal (active/running/completed/
 * failed, rate, ETA) and otherwise prints one plain line per change, both
 * on stderr; the summary goes to stdout. It exits 1 on timeout or when a
 * task failed.
 *
 * Single-threaded.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define MAX_REPEAT 256

static const char *str_or(const shoal_doc *d, size_t i, const char *path,
                          const char *dflt)
{
    const char *s = shoal_doc_str(d, i, path);

    return s ? s : dflt;
}

static void int_or(const shoal_doc *d, size_t i, const char *path, char *out,
                   size_t outlen)
{
    int64_t v;

    if (shoal_doc_int(d, i, path, &v) == 0)
        snprintf(out, outlen, "%lld", (long long)v);
    else
        snprintf(out, outlen, "-");
}

/* Split "A=B" at the first '='; false when there is none. */
static bool split_eq(const char *s, char *left, size_t llen, const char **right)
{
    const char *eq = strchr(s, '=');

    if (!eq || eq == s || (size_t)(eq - s) >= llen)
        return false;
    memcpy(left, s, (size_t)(eq - s));
    left[eq - s] = '\0';
    *right = eq + 1;
    return true;
}

/* --resource PATH=URL options into resource files (copies in names). */
static int resources(struct cli *cli, const char *opt,
                     struct shoal_resource_file *rf, char (*names)[512],
                     size_t *n_out)
{
    const char *vals[MAX_REPEAT];
    int n = cli_opt_all(cli, opt, vals, MAX_REPEAT), i;

    for (i = 0; i < n; i++) {
        const char *url;

        memset(&rf[i], 0, sizeof(rf[i]));
        if (!split_eq(vals[i], names[i], 512, &url) || !*url)
            return cli_out_usage("--%s takes PATH=URL", opt);
        rf[i].file_path = names[i];
        rf[i].http_url = url;
    }
    *n_out = (size_t)n;
    return CLI_OK;
}

static int envs(struct cli *cli, struct shoal_kv *env, char (*names)[512],
                size_t *n_out)
{
    const char *vals[MAX_REPEAT];
    int n = cli_opt_all(cli, "env", vals, MAX_REPEAT), i;

    for (i = 0; i < n; i++) {
        const char *v;

        if (!split_eq(vals[i], names[i], 512, &v))
            return cli_out_usage("--env takes NAME=VALUE");
        env[i].name = names[i];
        env[i].value = v;
    }
    *n_out = (size_t)n;
    return CLI_OK;
}

static bool opt_int(struct cli *cli, const char *name, int64_t min, int64_t max,
                    int64_t *out)
{
    const char *v = cli_opt(cli, name);

    if (!v)
        return true;
    return cli_out_parse_int(v, min, max, out);
}

/* ---- pool ---- */

static int pool_create(struct cli *cli)
{
    static struct shoal_resource_file rf[MAX_REPEAT];
    static char rnames[MAX_REPEAT][512];
    static struct shoal_kv env[MAX_REPEAT];
    static char enames[MAX_REPEAT][512];
    struct shoal_start_task st;
    struct shoal_pool_spec spec;
    int64_t nodes = 1, slots = 1;
    int rc;

    if (!opt_int(cli, "nodes", 0, 10000, &nodes) ||
        !opt_int(cli, "slots", 1, 256, &slots))
        return cli_out_usage("--nodes takes 0..10000, --slots 1..256");
    memset(&spec, 0, sizeof(spec));
    memset(&st, 0, sizeof(st));
    spec.id = cli->pos[0];
    spec.vm_size = cli_opt(cli, "vm-size");
    spec.target_nodes = (int)nodes;
    spec.slots_per_node = (int)slots;
    if (cli_opt(cli, "start-task")) {
        st.command_line = cli_opt(cli, "start-task");
        rc = resources(cli, "start-resource", rf, rnames, &st.nresource_files);
        if (rc)
            return rc;
        st.resource_files = rf;
        rc = envs(cli, env, enames, &st.nenv);
        if (rc)
            return rc;
        st.env = env;
        st.wait_for_success = !cli_flag(cli, "no-wait-for-success");
        st.elevated = cli_flag(cli, "elevated");
        spec.start_task = &st;
    } else if (cli_flag(cli, "start-resource") || cli_flag(cli, "env")) {
        return cli_out_usage("--start-resource and --env need --start-task");
    }
    if (shoal_pool_add(cli->c, &spec) < 0)
        return cli_out_fail(cli);
    if (cli->json)
        return cli_out_json(json_pack("{s:s}", "id", spec.id));
    if (!cli->quiet)
        printf("created pool %s\n", spec.id);
    return CLI_OK;
}

static int pool_show(struct cli *cli)
{
    shoal_doc *d = NULL;
    char cur[32], tgt[32], slots[32];
    int rc;

    if (shoal_pool_get(cli->c, cli->pos[0], NULL, &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, true);
        shoal_doc_free(d);
        return rc;
    }
    int_or(d, 0, "currentDedicatedNodes", cur, sizeof(cur));
    int_or(d, 0, "targetDedicatedNodes", tgt, sizeof(tgt));
    int_or(d, 0, "taskSlotsPerNode", slots, sizeof(slots));
    printf("id: %s\nstate: %s\nallocation-state: %s\nvm-size: %s\n"
           "nodes: %s/%s\ntask-slots-per-node: %s\nstart-task: %s\n",
           str_or(d, 0, "id", ""), str_or(d, 0, "state", ""),
           str_or(d, 0, "allocationState", ""), str_or(d, 0, "vmSize", ""), cur,
           tgt, slots, str_or(d, 0, "startTask/commandLine", "-"));
    shoal_doc_free(d);
    return CLI_OK;
}

static int pool_list(struct cli *cli)
{
    shoal_doc *d = NULL;
    size_t i, n;
    int rc;

    if (shoal_pool_list(cli->c, NULL, &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, false);
        shoal_doc_free(d);
        return rc;
    }
    n = shoal_doc_count(d);
    for (i = 0; i < n; i++) {
        char cur[32], tgt[32];

        int_or(d, i, "currentDedicatedNodes", cur, sizeof(cur));
        int_or(d, i, "targetDedicatedNodes", tgt, sizeof(tgt));
        printf("%-24s %-10s %-10s %s/%s\n", str_or(d, i, "id", ""),
               str_or(d, i, "state", "-"), str_or(d, i, "allocationState", "-"),
               cur, tgt);
    }
    shoal_doc_free(d);
    return CLI_OK;
}

static int pool_delete(struct cli *cli)
{
    if (shoal_pool_delete(cli->c, cli->pos[0]) < 0)
        return cli_out_fail(cli);
    if (!cli->quiet && !cli->json)
        printf("deleting pool %s\n", cli->pos[0]);
    return CLI_OK;
}

static int pool_resize(struct cli *cli)
{
    int64_t nodes = -1;

    if (!cli_opt(cli, "nodes") || !opt_int(cli, "nodes", 0, 10000, &nodes))
        return cli_out_usage("--nodes N is required (0..10000)");
    if (shoal_pool_resize(cli->c, cli->pos[0], (int)nodes) < 0)
        return cli_out_fail(cli);
    if (!cli->quiet && !cli->json)
        printf("resizing pool %s to %lld nodes\n", cli->pos[0],
               (long long)nodes);
    return CLI_OK;
}

/* ---- node ---- */

static int node_list(struct cli *cli)
{
    shoal_doc *d = NULL;
    size_t i, n;
    int rc;

    if (shoal_pool_list_nodes(cli->c, cli->pos[0], NULL, &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, false);
        shoal_doc_free(d);
        return rc;
    }
    n = shoal_doc_count(d);
    for (i = 0; i < n; i++) {
        char running[32];

        int_or(d, i, "runningTasksCount", running, sizeof(running));
        printf("%-32s %-20s %s\n", str_or(d, i, "id", ""),
               str_or(d, i, "state", "-"), running);
    }
    shoal_doc_free(d);
    return CLI_OK;
}

static int node_show(struct cli *cli)
{
    shoal_doc *d = NULL;
    char running[32], total[32], exit_code[32];
    int rc;

    if (shoal_pool_get_node(cli->c, cli->pos[0], cli->pos[1], &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, true);
        shoal_doc_free(d);
        return rc;
    }
    int_or(d, 0, "runningTasksCount", running, sizeof(running));
    int_or(d, 0, "totalTasksRun", total, sizeof(total));
    int_or(d, 0, "startTaskInfo/exitCode", exit_code, sizeof(exit_code));
    printf("id: %s\nstate: %s\nscheduling: %s\nrunning-tasks: %s\n"
           "total-tasks-run: %s\nstart-task: %s (exit %s)\n",
           str_or(d, 0, "id", ""), str_or(d, 0, "state", ""),
           str_or(d, 0, "schedulingState", "-"), running, total,
           str_or(d, 0, "startTaskInfo/state", "-"), exit_code);
    shoal_doc_free(d);
    return CLI_OK;
}

/* ---- job ---- */

static int job_create(struct cli *cli)
{
    struct shoal_job_spec spec;
    int64_t prio = 0, retries = 0;

    if (!cli_opt(cli, "pool"))
        return cli_out_usage("--pool POOL is required");
    if (!opt_int(cli, "priority", -1000, 1000, &prio) ||
        !opt_int(cli, "max-retries", -1, 100, &retries))
        return cli_out_usage("--priority takes -1000..1000, --max-retries "
                             "-1..100");
    memset(&spec, 0, sizeof(spec));
    spec.id = cli->pos[0];
    spec.pool_id = cli_opt(cli, "pool");
    spec.priority = (int)prio;
    spec.max_task_retries = (int)retries;
    spec.terminate_on_all_complete = cli_flag(cli, "terminate-on-complete");
    if (shoal_job_add(cli->c, &spec) < 0)
        return cli_out_fail(cli);
    if (cli->json)
        return cli_out_json(json_pack("{s:s}", "id", spec.id));
    if (!cli->quiet)
        printf("created job %s\n", spec.id);
    return CLI_OK;
}

static int job_show(struct cli *cli)
{
    shoal_doc *d = NULL;
    char prio[32];
    int rc;

    if (shoal_job_get(cli->c, cli->pos[0], NULL, &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, true);
        shoal_doc_free(d);
        return rc;
    }
    int_or(d, 0, "priority", prio, sizeof(prio));
    printf("id: %s\nstate: %s\npool: %s\npriority: %s\n",
           str_or(d, 0, "id", ""), str_or(d, 0, "state", ""),
           str_or(d, 0, "poolInfo/poolId", "-"), prio);
    if (shoal_doc_str(d, 0, "executionInfo/terminateReason"))
        printf("terminate-reason: %s\n",
               shoal_doc_str(d, 0, "executionInfo/terminateReason"));
    shoal_doc_free(d);
    return CLI_OK;
}

static int job_list(struct cli *cli)
{
    shoal_doc *d = NULL;
    size_t i, n;
    int rc;

    if (shoal_job_list(cli->c, NULL, &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, false);
        shoal_doc_free(d);
        return rc;
    }
    n = shoal_doc_count(d);
    for (i = 0; i < n; i++)
        printf("%-24s %-12s %s\n", str_or(d, i, "id", ""),
               str_or(d, i, "state", "-"),
               str_or(d, i, "poolInfo/poolId", "-"));
    shoal_doc_free(d);
    return CLI_OK;
}

static int job_terminate(struct cli *cli)
{
    if (shoal_job_terminate(cli->c, cli->pos[0], cli_opt(cli, "reason")) < 0)
        return cli_out_fail(cli);
    if (!cli->quiet && !cli->json)
        printf("terminating job %s\n", cli->pos[0]);
    return CLI_OK;
}

static int job_delete(struct cli *cli)
{
    if (shoal_job_delete(cli->c, cli->pos[0]) < 0)
        return cli_out_fail(cli);
    if (!cli->quiet && !cli->json)
        printf("deleting job %s\n", cli->pos[0]);
    return CLI_OK;
}

static int job_patch(struct cli *cli)
{
    if (shoal_job_patch(cli->c, cli->pos[0], cli->pos[1]) < 0)
        return cli_out_fail(cli);
    return CLI_OK;
}

struct wait_ctx {
    struct cli *cli;
    const char *job;
    bool bar;
    bool drawn;
    bool seen;
    int64_t base; /* completed before the wait began */
};

/* Rate of the tasks completed during this wait, and the ETA it implies. */
static void rate_eta(const struct shoal_task_counts *c, int64_t base,
                     char *rate, size_t rlen, char *eta, size_t elen)
{
    double secs = (double)c->elapsed_ms / 1000.0;
    double r = secs >= 0.5 ? (double)(c->completed - base) / secs : 0;

    if (secs >= 0.5)
        snprintf(rate, rlen, "%.1f tasks/s", r);
    else
        snprintf(rate, rlen, "- tasks/s");
    if (r > 0 && c->total > c->completed) {
        char t[32];

        cli_out_elapsed(
            t, sizeof(t),
            (int64_t)((double)(c->total - c->completed) / r * 1000.0));
        snprintf(eta, elen, "ETA %s", t);
    } else {
        snprintf(eta, elen, "ETA -");
    }
}

static int on_wait(const struct shoal_task_counts *c, void *ud)
{
    struct wait_ctx *w = ud;
    char rate[32], eta[48], failed[24], cells[40], el[32];

    if (!w->seen) {
        w->seen = true;
        w->base = c->completed;
    }
    if (w->cli->quiet)
        return 0;
    if (c->failed >= 0)
        snprintf(failed, sizeof(failed), "%lld", (long long)c->failed);
    else
        snprintf(failed, sizeof(failed), "?");
    rate_eta(c, w->base, rate, sizeof(rate), eta, sizeof(eta));
    if (w->bar) {
        cli_out_bar_cells(
            cells, sizeof(cells),
            c->total ? (double)c->completed / (double)c->total : 1.0, 24);
        fprintf(stderr,
                "\r[%s] %lld/%lld  active %lld  running %lld  completed "
                "%lld  failed %s  %s  %s\033[K",
                cells, (long long)c->completed, (long long)c->total,
                (long long)c->active, (long long)c->running,
                (long long)c->completed, failed, rate, eta);
        w->drawn = true;
    } else {
        cli_out_elapsed(el, sizeof(el), c->elapsed_ms);
        fprintf(stderr,
                "job %s: %lld tasks: active %lld running %lld completed "
                "%lld failed %s (%s, %s, %s)\n",
                w->job, (long long)c->total, (long long)c->active,
                (long long)c->running, (long long)c->completed, failed, el,
                rate, eta);
    }
    fflush(stderr);
    return 0;
}

static int job_wait(struct cli *cli)
{
    struct shoal_task_counts c;
    struct wait_ctx w;
    int64_t timeout = 0;
    char el[32];
    int rc;

    if (cli_opt(cli, "timeout")) {
        timeout = cli_out_parse_duration(cli_opt(cli, "timeout"));
        if (timeout < 0)
            return cli_out_usage("--timeout takes a duration (90, 90s, 30m, "
                                 "2h)");
    }
    memset(&w, 0, sizeof(w));
    w.cli = cli;
    w.job = cli->pos[0];
    w.bar = cli->tty_err;
    rc = shoal_tasks_wait(cli->c, cli->pos[0], timeout, on_wait, &w, &c);
    if (w.drawn)
        fputc('\n', stderr);
    if (rc < 0 && rc != SHOAL_ERR_TIMEOUT)
        return cli_out_fail(cli);
    if (cli->json) {
        cli_out_json(json_pack(
            "{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "job", cli->pos[0],
            "timedOut", rc == SHOAL_ERR_TIMEOUT, "total", (json_int_t)c.total,
            "active", (json_int_t)c.active, "running", (json_int_t)c.running,
            "completed", (json_int_t)c.completed, "succeeded",
            (json_int_t)c.succeeded, "failed", (json_int_t)c.failed,
            "elapsedMs", (json_int_t)c.elapsed_ms));
    } else {
        cli_out_elapsed(el, sizeof(el), c.elapsed_ms);
        if (rc == 0 && c.failed >= 0)
            printf("job %s: %lld tasks completed (%lld succeeded, %lld "
                   "failed) in %s\n",
                   cli->pos[0], (long long)c.total, (long long)c.succeeded,
                   (long long)c.failed, el);
        else if (rc == 0)
            printf("job %s: %lld tasks completed in %s\n", cli->pos[0],
                   (long long)c.total, el);
    }
    if (rc == SHOAL_ERR_TIMEOUT)
        return cli_out_fail(cli);
    if (c.failed > 0)
        return cli_out_error("job %s: %lld of %lld tasks failed", cli->pos[0],
                             (long long)c.failed, (long long)c.total);
    return CLI_OK;
}

/* ---- task ---- */

static bool safe_word(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char ch = *s;

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || strchr("_-./:=@%+,", ch)))
            return false;
    }
    return true;
}

static int join_words(char **w, int n, struct buf *out)
{
    int i;

    for (i = 0; i < n; i++) {
        const char *p;

        if (i && buf_addc(out, ' ') < 0)
            return -1;
        if (safe_word(w[i])) {
            if (buf_adds(out, w[i]) < 0)
                return -1;
            continue;
        }
        if (buf_addc(out, '\'') < 0)
            return -1;
        for (p = w[i]; *p; p++) {
            if (*p == '\'' ? buf_adds(out, "'\\''") < 0 : buf_addc(out, *p) < 0)
                return -1;
        }
        if (buf_addc(out, '\'') < 0)
            return -1;
    }
    return 0;
}

static int task_add(struct cli *cli)
{
    static struct shoal_resource_file rf[MAX_REPEAT];
    static char rnames[MAX_REPEAT][512];
    static struct shoal_kv env[MAX_REPEAT];
    static char enames[MAX_REPEAT][512];
    struct shoal_task_spec spec;
    struct buf cmd = BUF_INIT;
    int64_t retries = 0, wall = 0;
    int rc;

    memset(&spec, 0, sizeof(spec));
    spec.id = cli_opt(cli, "id");
    if (!spec.id)
        return cli_out_usage("--id ID is required");
    if (cli->nrest == 0 && !cli_opt(cli, "command"))
        return cli_out_usage("give the command after --, or --command LINE");
    if (!opt_int(cli, "max-retries", -1, 100, &retries))
        return cli_out_usage("--max-retries takes -1..100");
    if (cli_opt(cli, "max-wall-clock")) {
        wall = cli_out_parse_duration(cli_opt(cli, "max-wall-clock"));
        if (wall < 0)
            return cli_out_usage("--max-wall-clock takes a duration");
    }
    if (cli->nrest > 0) {
        if (join_words(cli->rest, cli->nrest, &cmd) < 0) {
            buf_release(&cmd);
            return cli_out_error("out of memory");
        }
        spec.command_line = cmd.data;
    } else {
        spec.command_line = cli_opt(cli, "command");
    }
    rc = resources(cli, "resource", rf, rnames, &spec.nresource_files);
    if (rc == CLI_OK)
        rc = envs(cli, env, enames, &spec.nenv);
    if (rc != CLI_OK) {
        buf_release(&cmd);
        return rc;
    }
    spec.resource_files = rf;
    spec.env = env;
    spec.display_name = cli_opt(cli, "display-name");
    spec.max_retries = (int)retries;
    spec.max_wall_clock_s = wall / 1000;
    spec.elevated = cli_flag(cli, "elevated");
    if (shoal_task_add(cli->c, cli->pos[0], &spec) < 0)
        rc = cli_out_fail(cli);
    else if (cli->json)
        rc = cli_out_json(json_pack("{s:s,s:s,s:s}", "job", cli->pos[0], "id",
                                    spec.id, "commandLine", spec.command_line));
    else if (!cli->quiet)
        printf("added task %s to job %s\n", spec.id, cli->pos[0]);
    buf_release(&cmd);
    return rc;
}

static int task_add_many(struct cli *cli)
{
    const char *path = cli->pos[1];
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char **lines = NULL;
    size_t n = 0, alloc = 0, failed = 0, i, cap = 0;
    char *line = NULL;
    ssize_t len;
    int rc = CLI_OK;

    if (!f)
        return cli_out_error("%s: %s", path, strerror(errno));
    while ((len = getline(&line, &cap, f)) >= 0) {
        char *p = line;

        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        if (n == alloc) {
            char **nl;

            alloc = alloc ? alloc * 2 : 64;
            nl = realloc(lines, alloc * sizeof(*lines));
            if (!nl) {
                rc = cli_out_error("out of memory");
                goto out;
            }
            lines = nl;
        }
        lines[n] = strdup(p);
        if (!lines[n]) {
            rc = cli_out_error("out of memory");
            goto out;
        }
        n++;
    }
    if (ferror(f)) {
        rc = cli_out_error("%s: read error", path);
        goto out;
    }
    if (shoal_tasks_add_json(cli->c, cli->pos[0], (const char *const *)lines, n,
                             &failed) < 0) {
        rc = cli_out_fail(cli);
        goto out;
    }
    if (cli->json)
        rc = cli_out_json(json_pack("{s:s,s:I,s:I}", "job", cli->pos[0],
                                    "added", (json_int_t)(n - failed), "failed",
                                    (json_int_t)failed));
    else if (!cli->quiet)
        printf("added %zu tasks to job %s\n", n, cli->pos[0]);
out:
    for (i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

static int task_list(struct cli *cli)
{
    static const char *const states[] = { "active", "preparing", "running",
                                          "completed" };
    const char *state = cli_opt(cli, "state");
    const char *filter = cli_opt(cli, "filter");
    struct buf f = BUF_INIT;
    struct shoal_query q;
    shoal_doc *d = NULL;
    size_t i, n;
    int rc = CLI_OK;

    if (state) {
        for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
            if (strcmp(state, states[i]) == 0)
                break;
        }
        if (i == sizeof(states) / sizeof(states[0]))
            return cli_out_usage("--state takes active, preparing, running "
                                 "or completed");
        if (filter)
            buf_addf(&f, "(%s) and state eq '%s'", filter, state);
        else
            buf_addf(&f, "state eq '%s'", state);
        filter = f.data;
    }
    memset(&q, 0, sizeof(q));
    q.filter = filter;
    q.select = cli_opt(cli, "select");
    if (shoal_task_list(cli->c, cli->pos[0], &q, &d) < 0) {
        rc = cli_out_fail(cli);
        goto out;
    }
    if (cli->json) {
        rc = cli_out_doc(d, false);
        goto out;
    }
    n = shoal_doc_count(d);
    for (i = 0; i < n; i++) {
        char code[32];

        int_or(d, i, "executionInfo/exitCode", code, sizeof(code));
        printf("%-24s %-10s %-6s %s\n", str_or(d, i, "id", ""),
               str_or(d, i, "state", "-"), code,
               str_or(d, i, "nodeInfo/nodeId", "-"));
    }
out:
    shoal_doc_free(d);
    buf_release(&f);
    return rc;
}

static int task_show(struct cli *cli)
{
    shoal_doc *d = NULL;
    char code[32];
    int rc;

    if (shoal_task_get(cli->c, cli->pos[0], cli->pos[1], NULL, &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, true);
        shoal_doc_free(d);
        return rc;
    }
    int_or(d, 0, "executionInfo/exitCode", code, sizeof(code));
    printf("id: %s\nstate: %s\ncommand-line: %s\nexit-code: %s\nresult: %s\n"
           "node: %s\n",
           str_or(d, 0, "id", ""), str_or(d, 0, "state", ""),
           str_or(d, 0, "commandLine", ""), code,
           str_or(d, 0, "executionInfo/result", "-"),
           str_or(d, 0, "nodeInfo/nodeId", "-"));
    if (shoal_doc_str(d, 0, "executionInfo/failureInfo/code"))
        printf("failure: %s: %s\n",
               shoal_doc_str(d, 0, "executionInfo/failureInfo/code"),
               str_or(d, 0, "executionInfo/failureInfo/message", ""));
    shoal_doc_free(d);
    return CLI_OK;
}

static int task_output(struct cli *cli)
{
    const char *which = cli->npos > 2 ? cli->pos[2] : "stdout";
    const char *to = cli_opt(cli, "to");
    char path[1024];
    char *data = NULL;
    size_t len = 0;
    int rc = CLI_OK;

    if (strcmp(which, "stdout") == 0 || strcmp(which, "stderr") == 0)
        snprintf(path, sizeof(path), "%s.txt", which);
    else
        snprintf(path, sizeof(path), "%s", which);
    if (to) {
        if (shoal_task_file_download(cli->c, cli->pos[0], cli->pos[1], path,
                                     to) < 0)
            return cli_out_fail(cli);
        return CLI_OK;
    }
    if (shoal_task_file_read(cli->c, cli->pos[0], cli->pos[1], path,
                             (size_t)256 << 20, &data, &len) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_json(json_pack("{s:s,s:s,s:s,s:s%}", "job", cli->pos[0],
                                    "task", cli->pos[1], "file", path,
                                    "content", data, len));
    } else if (fwrite(data, 1, len, stdout) != len) {
        rc = cli_out_error("write error");
    }
    shoal_free(data);
    return rc;
}

static int task_files(struct cli *cli)
{
    shoal_doc *d = NULL;
    size_t i, n;
    int rc;

    if (shoal_task_file_list(cli->c, cli->pos[0], cli->pos[1],
                             cli_flag(cli, "recursive"), &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, false);
        shoal_doc_free(d);
        return rc;
    }
    n = shoal_doc_count(d);
    for (i = 0; i < n; i++) {
        char size[32];

        int_or(d, i, "properties/contentLength", size, sizeof(size));
        printf("%12s  %s\n", size, str_or(d, i, "name", ""));
    }
    shoal_doc_free(d);
    return CLI_OK;
}

static int task_terminate(struct cli *cli)
{
    if (shoal_task_terminate(cli->c, cli->pos[0], cli->pos[1]) < 0)
        return cli_out_fail(cli);
    return CLI_OK;
}

static int task_delete(struct cli *cli)
{
    if (shoal_task_delete(cli->c, cli->pos[0], cli->pos[1]) < 0)
        return cli_out_fail(cli);
    return CLI_OK;
}

/* ---- the table ---- */

static const struct cli_opt o_pool_create[] = {
    { "nodes", "N", "dedicated nodes (default 1)" },
    { "slots", "S", "task slots per node (default 1)" },
    { "vm-size", "SIZE", "VM size to record (default standard_d1_v2)" },
    { "start-task", "CMD", "start task command line (not run by a shell)" },
    { "start-resource", "PATH=URL",
      "file the start task downloads "
      "(repeatable)" },
    { "env", "NAME=VALUE", "start task environment (repeatable)" },
    { "elevated", NULL, "run the start task as admin" },
    { "no-wait-for-success", NULL,
      "schedule tasks even if the start task "
      "fails" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_resize[] = {
    { "nodes", "N", "new dedicated node count" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_job_create[] = {
    { "pool", "POOL", "the pool to run on (required)" },
    { "priority", "N", "-1000..1000 (default 0)" },
    { "max-retries", "N", "retries per task (-1: unlimited)" },
    { "terminate-on-complete", NULL,
      "terminate the job when all tasks "
      "complete" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_job_terminate[] = {
    { "reason", "TEXT", "terminate reason (default UserTerminate)" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_job_wait[] = {
    { "timeout", "DURATION", "give up after this long (90, 90s, 30m, 2h)" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_task_add[] = {
    { "id", "ID", "task id (required)" },
    { "command", "LINE", "command line, instead of words after --" },
    { "display-name", "NAME", "display name" },
    { "resource", "PATH=URL", "file to download first (repeatable)" },
    { "env", "NAME=VALUE", "environment setting (repeatable)" },
    { "max-retries", "N", "retries (-1: unlimited)" },
    { "max-wall-clock", "DURATION", "kill the task after this long" },
    { "elevated", NULL, "run as admin" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_task_list[] = {
    { "state", "STATE",
      "only tasks in STATE (active, preparing, running, "
      "completed)" },
    { "filter", "ODATA",
      "OData $filter, e.g. \"executionInfo/exitCode ne 0\"" },
    { "select", "FIELDS", "OData $select, e.g. id,state" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_task_output[] = {
    { "to", "FILE", "write to FILE instead of stdout" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_task_files[] = {
    { "recursive", NULL, "list subdirectories too" },
    { NULL, NULL, NULL },
};

const struct cli_cmd cli_batch_cmds[] = {
    { "pool", "create", "ID", "create a pool",
      "The start task's command line is not run by a shell: write\n"
      "--start-task \"/bin/sh -c 'cp app $AZ_BATCH_NODE_SHARED_DIR/'\" to "
      "use one.",
      o_pool_create, 1, 1, false, pool_create },
    { "pool", "show", "ID", "show a pool", NULL, NULL, 1, 1, false, pool_show },
    { "pool", "list", "", "list pools (id, state, allocation, nodes)", NULL,
      NULL, 0, 0, false, pool_list },
    { "pool", "delete", "ID", "delete a pool", NULL, NULL, 1, 1, false,
      pool_delete },
    { "pool", "resize", "ID", "change a pool's node count", NULL, o_resize, 1,
      1, false, pool_resize },

    { "node", "list", "POOL", "list a pool's nodes (id, state, running)", NULL,
      NULL, 1, 1, false, node_list },
    { "node", "show", "POOL NODE", "show a node", NULL, NULL, 2, 2, false,
      node_show },

    { "job", "create", "ID", "create a job on a pool", NULL, o_job_create, 1, 1,
      false, job_create },
    { "job", "show", "ID", "show a job", NULL, NULL, 1, 1, false, job_show },
    { "job", "list", "", "list jobs (id, state, pool)", NULL, NULL, 0, 0, false,
      job_list },
    { "job", "terminate", "ID", "terminate a job", NULL, o_job_terminate, 1, 1,
      false, job_terminate },
    { "job", "delete", "ID", "delete a job and its tasks", NULL, NULL, 1, 1,
      false, job_delete },
    { "job", "patch", "ID JSON", "change a job's properties",
      "JSON is an object of the fields to change, e.g. '{\"priority\":100}'.",
      NULL, 2, 2, false, job_patch },
    { "job", "wait", "ID", "wait until every task of a job has completed",
      "Shows progress (active, running, completed, failed, rate, ETA) on "
      "stderr: a bar\non a terminal, else a line per change. Exits 1 on "
      "timeout or when any task\nfailed.",
      o_job_wait, 1, 1, false, job_wait },

    { "task", "add", "JOB", "add a task",
      "The words after -- form the command line, quoted so that the service "
      "splits\nthem back into the same words. No shell runs it: use\n"
      "-- /bin/sh -c 'echo $AZ_BATCH_TASK_ID' for variables and pipes.",
      o_task_add, 1, 1, true, task_add },
    { "task", "add-many", "JOB FILE.jsonl", "add tasks from a JSON Lines file",
      "One TaskAddParameter object per line ('-' reads stdin); blank lines "
      "and\nlines starting with # are skipped. Sent in chunks of 100.",
      NULL, 2, 2, false, task_add_many },
    { "task", "list", "JOB", "list tasks (id, state, exit code, node)", NULL,
      o_task_list, 1, 1, false, task_list },
    { "task", "show", "JOB TASK", "show a task", NULL, NULL, 2, 2, false,
      task_show },
    { "task", "output", "JOB TASK [stdout|stderr|PATH]",
      "print a task's output file",
      "PATH is relative to the task directory (e.g. wd/result.txt).",
      o_task_output, 2, 3, false, task_output },
    { "task", "files", "JOB TASK", "list a task's files", NULL, o_task_files, 2,
      2, false, task_files },
    { "task", "terminate", "JOB TASK", "terminate a task", NULL, NULL, 2, 2,
      false, task_terminate },
    { "task", "delete", "JOB TASK", "delete a task", NULL, NULL, 2, 2, false,
      task_delete },
    { NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL },
};
