/*
 * cli_notify.c: events and notifications: job watch, event watch,
 * endpoints and job subscriptions.
 *
 *   shoal job watch JOB [--since SEQ|now] [--timeout D] [--json]
 *   shoal event watch [--job J] [--types T,...] [--since SEQ|now]
 *                     [--count N] [--hold S] [--timeout D] [--json]
 *   shoal endpoint create NAME --queue Q | --webhook URL [--base64]
 *   shoal endpoint list | show ID | delete ID
 *   shoal job subscribe JOB ENDPOINT --all | --final
 *   shoal job unsubscribe JOB ENDPOINT
 *   shoal job subscriptions JOB
 *
 * "job watch" follows one job through shoal_job_watch (JobStateChange and
 * TaskStateChange events) and ends when the job reaches a final media
 * state: exit 0 on Finished, 1 on Error or Canceled. Output: one line per
 * change on stdout,
 *
 *   [SEQ] TIME ENTITY ID: OLD -> NEW [(exit N[, FAILURECODE])]
 *
 * or, when stdout is a terminal, one status line redrawn in place (job
 * state, task counts by state, failed tasks); --json prints each event as
 * the service sent it, one JSON object per line. By default it starts
 * from the oldest retained event of the job (so a job that already ended
 * still answers at once). If the service no longer has the job's early
 * events (410 EventCursorExpired), it says so on stderr, takes the newest
 * sequence, reads the job, and either derives the final state from the
 * job (completed: Canceled for a user terminate, Error when a task
 * failed, else Finished) or watches from that sequence: listing before
 * watching from a sequence taken before the listing leaves no gap.
 *
 * Task counts on the status line come from the transitions seen (old
 * state minus one, new state plus one), so no per-task table is kept;
 * a watch that starts mid-job clamps counts at zero.
 *
 * Single-threaded; callbacks run on the main thread.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOB_WATCH_TYPES "JobStateChange,TaskStateChange"

static const char *str_or(const shoal_doc *d, size_t i, const char *path,
                          const char *dflt)
{
    const char *s = shoal_doc_str(d, i, path);

    return s ? s : dflt;
}

static bool parse_since(const char *s, int64_t *out)
{
    if (strcmp(s, "now") == 0) {
        *out = SHOAL_WATCH_NOW;
        return true;
    }
    return cli_out_parse_int(s, 0, INT64_MAX, out);
}

/* The [SEQ] TIME ENTITY ID: OLD -> NEW (extra) line of an event. */
static void print_event(FILE *f, const shoal_event *ev)
{
    const char *ent = shoal_event_entity_type(ev);
    const char *id = shoal_event_entity_id(ev);
    const char *job = shoal_event_job_id(ev);
    const char *fc = shoal_event_failure_code(ev);
    const char *old = shoal_event_old_state(ev);
    const char *cur = shoal_event_new_state(ev);
    char extra[320] = "";
    int64_t code;

    if (shoal_event_exit_code(ev, &code) == 0)
        snprintf(extra, sizeof(extra), " (exit %lld%s%s)", (long long)code,
                 fc ? ", " : "", fc ? fc : "");
    else if (fc)
        snprintf(extra, sizeof(extra), " (%s)", fc);
    /* Both job event types name the entity "job": tell them apart. */
    if (shoal_event_type(ev) == SHOAL_EVENT_JOB_BATCH_STATE)
        ent = "batch-job";
    fprintf(f, "[%lld] %s %s %s%s%s: %s -> %s%s\n",
            (long long)shoal_event_seq(ev),
            shoal_event_time(ev) ? shoal_event_time(ev) : "-",
            ent ? ent : shoal_event_type_name(ev),
            shoal_event_type(ev) == SHOAL_EVENT_TASK_STATE && job ? job : "",
            shoal_event_type(ev) == SHOAL_EVENT_TASK_STATE && job ? "/" : "",
            id ? id : "-", old ? old : "-", cur ? cur : "-", extra);
}

static int print_json(const shoal_event *ev)
{
    char *s = shoal_event_json(ev);

    if (!s)
        return -1;
    puts(s);
    shoal_free(s);
    return 0;
}

/* ---- job watch ---- */

enum { TS_ACTIVE, TS_PREPARING, TS_RUNNING, TS_COMPLETED, TS_N };

struct job_watch {
    struct cli *cli;
    const char *job;
    bool status_line; /* stdout is a terminal */
    bool drawn;
    char state[32]; /* media state, from JobStateChange */
    char final[32]; /* the final state reached, or "" */
    int64_t tasks[TS_N];
    int64_t failed;
    int64_t last_seq;
    bool oom;
};

static int task_state_index(const char *s)
{
    static const char *const names[TS_N] = { "active", "preparing", "running",
                                             "completed" };
    int i;

    for (i = 0; s && i < TS_N; i++) {
        if (strcmp(s, names[i]) == 0)
            return i;
    }
    return -1;
}

static void draw_status(struct job_watch *w)
{
    int64_t t[TS_N];
    int i;

    for (i = 0; i < TS_N; i++)
        t[i] = w->tasks[i] > 0 ? w->tasks[i] : 0;
    printf("\rjob %s: %s  tasks: active %lld  preparing %lld  running %lld  "
           "completed %lld  failed %lld  [%lld]\033[K",
           w->job, w->state[0] ? w->state : "-", (long long)t[TS_ACTIVE],
           (long long)t[TS_PREPARING], (long long)t[TS_RUNNING],
           (long long)t[TS_COMPLETED], (long long)w->failed,
           (long long)w->last_seq);
    fflush(stdout);
    w->drawn = true;
}

static int on_job_event(const char *prev, const char *cur,
                        const shoal_event *ev, void *ctx)
{
    struct job_watch *w = ctx;
    enum shoal_event_type t = shoal_event_type(ev);
    int64_t code;
    int i;

    w->last_seq = shoal_event_seq(ev);
    if (t == SHOAL_EVENT_TASK_STATE) {
        i = task_state_index(prev);
        if (i >= 0)
            w->tasks[i]--;
        i = task_state_index(cur);
        if (i >= 0)
            w->tasks[i]++;
        if (cur && strcmp(cur, "completed") == 0 &&
            (shoal_event_failure_code(ev) ||
             (shoal_event_exit_code(ev, &code) == 0 && code != 0)))
            w->failed++;
    } else if (t == SHOAL_EVENT_JOB_STATE && cur) {
        snprintf(w->state, sizeof(w->state), "%s", cur);
    }
    if (w->cli->json) {
        if (print_json(ev) < 0) {
            w->oom = true;
            return 1;
        }
    } else if (w->status_line) {
        draw_status(w);
    } else {
        print_event(stdout, ev);
    }
    fflush(stdout);
    if (t == SHOAL_EVENT_JOB_STATE && shoal_event_state_is_final(cur)) {
        snprintf(w->final, sizeof(w->final), "%s", cur);
        return 1;
    }
    return 0;
}

/*
 * The final media state of a completed job from its Batch picture, as the
 * service's notify_media_state derives it (for when the events are gone):
 * *final_out is NULL when the job has not completed. -1 when a request
 * failed (the client's last error says why).
 */
static int job_final_from_state(struct cli *cli, const char *job,
                                const char **final_out)
{
    static const char *const normal[] = { "AllTasksComplete", "JMComplete",
                                          "MaxWallClockTimeExpiry",
                                          "TaskFailed",
                                          "TerminateJobSchedule" };
    struct shoal_query q;
    shoal_doc *d = NULL, *t = NULL;
    const char *state, *reason;
    bool user = false;
    size_t i;

    *final_out = NULL;
    if (shoal_job_get(cli->c, job, NULL, &d) < 0)
        return -1;
    state = shoal_doc_str(d, 0, "state");
    if (!state || strcmp(state, "completed") != 0) {
        shoal_doc_free(d);
        return 0;
    }
    reason = shoal_doc_str(d, 0, "executionInfo/terminateReason");
    if (reason) {
        user = true;
        for (i = 0; i < sizeof(normal) / sizeof(normal[0]); i++) {
            if (strcmp(reason, normal[i]) == 0)
                user = false;
        }
    }
    if (user) {
        *final_out = "Canceled";
    } else if (reason && (strcmp(reason, "MaxWallClockTimeExpiry") == 0 ||
                          strcmp(reason, "TaskFailed") == 0)) {
        *final_out = "Error";
    } else {
        memset(&q, 0, sizeof(q));
        q.filter = "executionInfo/result eq 'failure'";
        q.select = "id";
        q.max_results = 1;
        if (shoal_task_list(cli->c, job, &q, &t) < 0) {
            shoal_doc_free(d);
            return -1;
        }
        *final_out = shoal_doc_count(t) > 0 ? "Error" : "Finished";
        shoal_doc_free(t);
    }
    shoal_doc_free(d);
    return 0;
}

/*
 * End a watch at the job's final state; derived: it came from the job's
 * state, not from an event (so no line has shown it yet).
 */
static int job_watch_end(struct job_watch *w, const char *final, bool derived)
{
    if (w->drawn)
        putchar('\n');
    if (derived && !w->cli->json)
        printf("job %s: %s (from the job's state)\n", w->job, final);
    else if (w->status_line && !w->cli->json)
        printf("job %s: %s\n", w->job, final);
    fflush(stdout);
    if (strcmp(final, "Finished") == 0)
        return CLI_OK;
    if (!w->status_line || w->cli->json)
        fprintf(stderr, "shoal: job %s ended in state %s\n", w->job, final);
    return CLI_FAILED;
}

static int job_watch(struct cli *cli)
{
    struct shoal_watch_opts wo;
    struct job_watch w;
    const char *job = cli->pos[0];
    const char *final = NULL;
    int64_t since = 0, timeout = 0, last = 0;
    bool explicit_since = cli_opt(cli, "since") != NULL;
    shoal_doc *d = NULL;
    int rc;

    if (explicit_since && !parse_since(cli_opt(cli, "since"), &since))
        return cli_out_usage("--since takes a sequence number or 'now'");
    if (cli_opt(cli, "timeout")) {
        timeout = cli_out_parse_duration(cli_opt(cli, "timeout"));
        if (timeout < 0)
            return cli_out_usage("--timeout takes a duration (90, 90s, 30m, "
                                 "2h)");
    }
    /* An unknown job would be watched forever: ask first. */
    if (shoal_job_get(cli->c, job, "id", &d) < 0)
        return cli_out_fail(cli);
    shoal_doc_free(d);
    memset(&w, 0, sizeof(w));
    w.cli = cli;
    w.job = job;
    w.status_line = !cli->json && isatty(STDOUT_FILENO) == 1;
    memset(&wo, 0, sizeof(wo));
    wo.last_seq_out = &last;
    rc = shoal_job_watch(cli->c, job, since, JOB_WATCH_TYPES, on_job_event, &w,
                         timeout, &wo);
    if (rc == SHOAL_ERR_GONE && !explicit_since) {
        /* The early events are gone: list, then watch from before it. */
        if (shoal_event_last_seq(cli->c, &since) < 0 ||
            job_final_from_state(cli, job, &final) < 0)
            return cli_out_fail(cli);
        fprintf(stderr,
                "shoal: the service no longer keeps the first "
                "events of job %s",
                job);
        if (final) {
            fputc('\n', stderr);
            return job_watch_end(&w, final, true);
        }
        /* Said only now: anything after this line is seen. */
        fprintf(stderr, "; following it from event %lld\n", (long long)since);
        rc = shoal_job_watch(cli->c, job, since, JOB_WATCH_TYPES, on_job_event,
                             &w, timeout, &wo);
    }
    if (w.oom)
        return cli_out_error("out of memory");
    if (rc == 0 && w.final[0])
        return job_watch_end(&w, w.final, false);
    if (w.drawn)
        putchar('\n');
    if (rc == SHOAL_ERR_TIMEOUT)
        return cli_out_error("timed out watching job %s (last event %lld)", job,
                             (long long)last);
    return cli_out_fail(cli);
}

/* ---- event watch ---- */

struct event_watch {
    struct cli *cli;
    int64_t count; /* stop after this many; 0: no limit */
    int64_t seen;
    bool oom;
};

static int on_event(const char *prev, const char *cur, const shoal_event *ev,
                    void *ctx)
{
    struct event_watch *w = ctx;

    (void)prev;
    (void)cur;
    if (w->cli->json) {
        if (print_json(ev) < 0) {
            w->oom = true;
            return 1;
        }
    } else {
        print_event(stdout, ev);
    }
    fflush(stdout);
    w->seen++;
    return w->count && w->seen >= w->count;
}

static int event_watch(struct cli *cli)
{
    struct shoal_watch_opts wo;
    struct event_watch w;
    int64_t since = SHOAL_WATCH_NOW, timeout = 0, count = 0, hold = 0;
    int64_t last = 0;
    int rc;

    if (cli_opt(cli, "since") && !parse_since(cli_opt(cli, "since"), &since))
        return cli_out_usage("--since takes a sequence number or 'now'");
    if (!cli_out_parse_int(cli_opt(cli, "count") ? cli_opt(cli, "count") : "0",
                           0, INT64_MAX, &count) ||
        !cli_out_parse_int(cli_opt(cli, "hold") ? cli_opt(cli, "hold") : "0", 0,
                           3600, &hold))
        return cli_out_usage("--count takes a number, --hold 1..3600 seconds");
    if (cli_opt(cli, "timeout")) {
        timeout = cli_out_parse_duration(cli_opt(cli, "timeout"));
        if (timeout < 0)
            return cli_out_usage("--timeout takes a duration (90, 90s, 30m, "
                                 "2h)");
    }
    memset(&w, 0, sizeof(w));
    w.cli = cli;
    w.count = count;
    memset(&wo, 0, sizeof(wo));
    wo.hold_s = (int)hold;
    wo.last_seq_out = &last;
    rc = shoal_job_watch(cli->c, cli_opt(cli, "job"), since,
                         cli_opt(cli, "types"), on_event, &w, timeout, &wo);
    if (w.oom)
        return cli_out_error("out of memory");
    if (rc == 0)
        return CLI_OK;
    if (rc == SHOAL_ERR_TIMEOUT) {
        if (!count)
            return CLI_OK;
        return cli_out_error("timed out after %lld of %lld events (last "
                             "sequence %lld)",
                             (long long)w.seen, (long long)count,
                             (long long)last);
    }
    return cli_out_fail(cli);
}

/* ---- endpoints ---- */

static int endpoint_create(struct cli *cli)
{
    struct shoal_endpoint_spec spec;
    const char *q = cli_opt(cli, "queue");
    const char *hook = cli_opt(cli, "webhook");
    shoal_doc *d = NULL;
    int rc = CLI_OK;

    if ((q == NULL) == (hook == NULL))
        return cli_out_usage("give one of --queue QUEUE and --webhook URL");
    if (hook && cli_flag(cli, "base64"))
        return cli_out_usage("--base64 is for queue endpoints");
    memset(&spec, 0, sizeof(spec));
    spec.name = cli->pos[0];
    spec.type = q ? SHOAL_ENDPOINT_QUEUE : SHOAL_ENDPOINT_WEBHOOK;
    spec.address = q ? q : hook;
    spec.base64 = cli_flag(cli, "base64");
    if (shoal_endpoint_create(cli->c, &spec, &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, true);
    } else {
        printf("created endpoint %s\n", str_or(d, 0, "id", "?"));
        /* Shown once: the service never returns it again. */
        if (shoal_doc_str(d, 0, "signingKey"))
            printf("signing key: %s\n", shoal_doc_str(d, 0, "signingKey"));
    }
    shoal_doc_free(d);
    return rc;
}

static void endpoint_line(const shoal_doc *d, size_t i)
{
    int64_t pending = 0, dead = 0;

    shoal_doc_int(d, i, "pendingDeliveries", &pending);
    shoal_doc_int(d, i, "deadLetters", &dead);
    printf("%-50s %-8s %-24s %s (pending %lld, dead letters %lld)\n",
           str_or(d, i, "id", ""), str_or(d, i, "endpointType", "-"),
           str_or(d, i, "name", "-"), str_or(d, i, "endpointAddress", "-"),
           (long long)pending, (long long)dead);
}

static int endpoint_list(struct cli *cli)
{
    shoal_doc *d = NULL;
    size_t i, n;
    int rc = CLI_OK;

    if (shoal_endpoint_list(cli->c, &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, false);
    } else {
        n = shoal_doc_count(d);
        for (i = 0; i < n; i++)
            endpoint_line(d, i);
    }
    shoal_doc_free(d);
    return rc;
}

static int endpoint_show(struct cli *cli)
{
    shoal_doc *d = NULL;
    int rc = CLI_OK;

    if (shoal_endpoint_get(cli->c, cli->pos[0], &d) < 0)
        return cli_out_fail(cli);
    if (cli->json)
        rc = cli_out_doc(d, true);
    else
        endpoint_line(d, 0);
    shoal_doc_free(d);
    return rc;
}

static int endpoint_delete(struct cli *cli)
{
    if (shoal_endpoint_delete(cli->c, cli->pos[0]) < 0)
        return cli_out_fail(cli);
    if (!cli->quiet && !cli->json)
        printf("deleted endpoint %s\n", cli->pos[0]);
    return CLI_OK;
}

/* ---- subscriptions ---- */

static int job_subscribe(struct cli *cli)
{
    bool all = cli_flag(cli, "all"), final = cli_flag(cli, "final");

    if (all == final)
        return cli_out_usage("give one of --all and --final");
    if (shoal_job_subscribe(cli->c, cli->pos[0], cli->pos[1],
                            all ? SHOAL_TARGET_ALL : SHOAL_TARGET_FINAL) < 0)
        return cli_out_fail(cli);
    if (cli->json)
        return cli_out_json(json_pack(
            "{s:s,s:s,s:s}", "job", cli->pos[0], "notificationEndPointId",
            cli->pos[1], "targetJobState", all ? "All" : "FinalStatesOnly"));
    if (!cli->quiet)
        printf("job %s: endpoint %s hears of %s\n", cli->pos[0], cli->pos[1],
               all ? "every state change" : "final states");
    return CLI_OK;
}

static int job_unsubscribe(struct cli *cli)
{
    if (shoal_job_unsubscribe(cli->c, cli->pos[0], cli->pos[1]) < 0)
        return cli_out_fail(cli);
    if (!cli->quiet && !cli->json)
        printf("job %s: endpoint %s unsubscribed\n", cli->pos[0], cli->pos[1]);
    return CLI_OK;
}

static int job_subscriptions(struct cli *cli)
{
    shoal_doc *d = NULL;
    size_t i, n;
    int rc = CLI_OK;

    if (shoal_job_subscriptions(cli->c, cli->pos[0], &d) < 0)
        return cli_out_fail(cli);
    if (cli->json) {
        rc = cli_out_doc(d, false);
    } else {
        n = shoal_doc_count(d);
        for (i = 0; i < n; i++)
            printf("%-50s %s\n", str_or(d, i, "notificationEndPointId", ""),
                   str_or(d, i, "targetJobState", "-"));
    }
    shoal_doc_free(d);
    return rc;
}

/* ---- the table ---- */

static const struct cli_opt o_job_watch[] = {
    { "since", "SEQ",
      "start after this sequence, or 'now' (default: the "
      "oldest kept)" },
    { "timeout", "DURATION", "give up after this long (90, 90s, 30m, 2h)" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_event_watch[] = {
    { "job", "JOB", "only events of this job" },
    { "types", "T,...",
      "only these types (JobStateChange, TaskStateChange, "
      "...)" },
    { "since", "SEQ", "start after this sequence, or 'now' (default now)" },
    { "count", "N", "stop after N events" },
    { "hold", "SECONDS", "how long one poll waits for events (default 25)" },
    { "timeout", "DURATION", "stop after this long" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_endpoint_create[] = {
    { "queue", "QUEUE", "deliver to this queue (created if missing)" },
    { "webhook", "URL", "POST to this http(s) URL" },
    { "base64", NULL, "base64-encode queue messages (older clients)" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_subscribe[] = {
    { "all", NULL, "every job state change" },
    { "final", NULL, "only Finished, Error and Canceled" },
    { NULL, NULL, NULL },
};

const struct cli_cmd cli_notify_cmds[] = {
    { "job", "watch", "ID", "follow a job's state changes until it ends",
      "One line per job or task state change: [SEQ] TIME ENTITY ID: OLD -> "
      "NEW;\na status line instead when stdout is a terminal; --json: each "
      "event as a\nJSON line. Job states are the media job states (Queued, "
      "Scheduled,\nProcessing, Finished, Error, Canceling, Canceled); "
      "tasks show Batch states.\nExits 0 when the job is Finished, 1 on "
      "Error or Canceled (or a failure).",
      o_job_watch, 1, 1, false, job_watch },
    { "job", "subscribe", "ID ENDPOINT",
      "send a job's state changes to a notification endpoint",
      "--all: every change; --final: only Finished, Error and Canceled.\n"
      "Subscribing an endpoint again changes its target.",
      o_subscribe, 2, 2, false, job_subscribe },
    { "job", "unsubscribe", "ID ENDPOINT",
      "stop sending a job's state changes to an endpoint", NULL, NULL, 2, 2,
      false, job_unsubscribe },
    { "job", "subscriptions", "ID", "list a job's notification subscriptions",
      NULL, NULL, 1, 1, false, job_subscriptions },

    { "event", "watch", "",
      "print state changes of jobs, tasks, pools, nodes, endpoints",
      "Follows the service's event log with long polls, resuming after the "
      "last\nsequence seen when the connection drops. A --since older than "
      "the service\nkeeps fails with EventCursorExpired. Without --count, "
      "--timeout ends the\nwatch successfully; with it, reaching the "
      "timeout first is a failure.",
      o_event_watch, 0, 0, false, event_watch },

    { "endpoint", "create", "NAME", "register a notification endpoint",
      "A queue endpoint receives one JSON message per event (Azure Media "
      "Services\njob notification format); a webhook receives POSTs signed "
      "with the key\nprinted here (shown once).",
      o_endpoint_create, 1, 1, false, endpoint_create },
    { "endpoint", "list", "",
      "list notification endpoints (id, type, name, address)", NULL, NULL, 0, 0,
      false, endpoint_list },
    { "endpoint", "show", "ID", "show a notification endpoint", NULL, NULL, 1,
      1, false, endpoint_show },
    { "endpoint", "delete", "ID", "delete a notification endpoint", NULL, NULL,
      1, 1, false, endpoint_delete },
    { NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL },
};
