/*
 * notify.c: job notifications through a storage queue, on libshoal.
 *
 *   notify-example [--connection-string CS] [--all] [--timeout SECONDS]
 *
 * The media-job flow of "Use Azure Queue storage to monitor Media
 * Services job notifications", on shoal's Batch service:
 *
 *   1. register a notification endpoint on a queue (the service creates
 *      the queue, and sends a NotificationEndPointRegistration message);
 *   2. a pool of one node, and a job on it that subscribes the endpoint
 *      (FinalStatesOnly; --all: every state change), given on job add as
 *      the notificationSubscriptions extension field;
 *   3. two tasks; then onAllTasksComplete=terminatejob (a patch after the
 *      tasks: a job that terminates on completion with no tasks yet would
 *      complete at once);
 *   4. consume the queue with shoal_notify_consume (duplicates dropped by
 *      ETag, each batch in TimeStamp order) and print every message:
 *      EventType, ETag, TimeStamp and its properties; stop at this job's
 *      final state: Finished, Error or Canceled;
 *   5. delete the job, the pool, the endpoint and the queue.
 *
 * Configuration: --connection-string, else $SHOAL_CONNECTION_STRING, else
 * UseDevelopmentStorage=true (with BatchEndpoint for the Batch service).
 *
 * Exit status: 0 when the job Finished, 1 when it ended in Error or
 * Canceled, or anything failed (one line on stderr), 2 on a bad command
 * line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shoal.h"

#define TASKS 2

struct run {
    shoal_client *c;
    const char *job;
    char final[32];
    int messages;
};

static int fail(shoal_client *c, const char *what)
{
    struct shoal_error e;

    shoal_client_last_error(c, &e);
    fprintf(stderr, "notify-example: %s: %s%s%s\n", what,
            e.service_code[0] ? e.service_code : "",
            e.service_code[0] ? ": " : "",
            e.message[0] ? e.message : shoal_strerror(e.code));
    return 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: notify-example [--connection-string CS] [--all] "
               "[--timeout SECONDS]\n\n"
               "Submits a job whose state changes are sent to a storage "
               "queue, prints each\nnotification message and stops when "
               "the job is Finished (exit 0) or\nends in Error or "
               "Canceled (exit 1).\n\n"
               "  --connection-string CS  default $SHOAL_CONNECTION_STRING,"
               " else\n"
               "                          UseDevelopmentStorage=true\n"
               "  --all                   subscribe to every state change "
               "(default: final\n"
               "                          states only)\n"
               "  --timeout SECONDS       give up after this long "
               "(default 300)\n");
}

/* Print one message; stop at this job's final state. */
static int on_message(const struct shoal_notification *n, void *ctx)
{
    struct run *r = ctx;
    size_t i;

    r->messages++;
    printf("%s  ETag=%s  TimeStamp=%s\n", n->event_type, n->etag,
           n->timestamp ? n->timestamp : "-");
    for (i = 0; i < n->nprops; i++)
        printf("    %s: %s\n", n->props[i].name, n->props[i].value);
    fflush(stdout);
    if (strcmp(n->event_type, "JobStateChange") == 0 && n->job_id &&
        strcmp(n->job_id, r->job) == 0 &&
        shoal_event_state_is_final(n->new_state)) {
        snprintf(r->final, sizeof(r->final), "%s", n->new_state);
        return SHOAL_NOTIFY_STOP;
    }
    return SHOAL_NOTIFY_NEXT;
}

int main(int argc, char **argv)
{
    const char *cs = getenv("SHOAL_CONNECTION_STRING");
    bool all = false;
    long timeout_s = 300;
    char why[256], pool[64], job[64], queue[64], cmd[128], tid[16];
    char *endpoint_id = NULL;
    struct shoal_endpoint_spec ep;
    struct shoal_subscription sub;
    struct shoal_pool_spec ps;
    struct shoal_job_spec js;
    struct shoal_task_spec ts;
    struct shoal_notify_opts no;
    struct run r;
    shoal_client *c = NULL;
    shoal_doc *d = NULL;
    bool pool_made = false, job_made = false;
    int i, rc, status = 1;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--connection-string") == 0 && i + 1 < argc) {
            cs = argv[++i];
        } else if (strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;

            timeout_s = strtol(argv[++i], &end, 10);
            if (*end || timeout_s <= 0) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!cs || !*cs)
        cs = "UseDevelopmentStorage=true";
    if (shoal_client_new(cs, &c, why, sizeof(why)) < 0) {
        fprintf(stderr, "notify-example: bad configuration: %s\n", why);
        return 2;
    }
    /* Names unique to this run, so runs side by side do not meet. */
    snprintf(pool, sizeof(pool), "NotifyExamplePool-%ld", (long)getpid());
    snprintf(job, sizeof(job), "NotifyExampleJob-%ld-%ld", (long)getpid(),
             (long)time(NULL));
    snprintf(queue, sizeof(queue), "notify-example-%ld", (long)getpid());

    /* 1. The endpoint, on a queue the service creates. */
    memset(&ep, 0, sizeof(ep));
    ep.name = "notify-example";
    ep.type = SHOAL_ENDPOINT_QUEUE;
    ep.address = queue;
    if (shoal_endpoint_create(c, &ep, &d) < 0) {
        fail(c, "create the notification endpoint");
        goto out;
    }
    endpoint_id = strdup(shoal_doc_str(d, 0, "id"));
    shoal_doc_free(d);
    d = NULL;
    if (!endpoint_id) {
        fprintf(stderr, "notify-example: out of memory\n");
        goto out;
    }
    printf("endpoint %s on queue %s\n", endpoint_id, queue);

    /* 2. A pool of one node, and a job that subscribes the endpoint. */
    memset(&ps, 0, sizeof(ps));
    ps.id = pool;
    ps.target_nodes = 1;
    if (shoal_pool_add(c, &ps) < 0) {
        fail(c, "create the pool");
        goto out;
    }
    pool_made = true;
    sub.endpoint_id = endpoint_id;
    sub.target = all ? SHOAL_TARGET_ALL : SHOAL_TARGET_FINAL;
    memset(&js, 0, sizeof(js));
    js.id = job;
    js.pool_id = pool;
    js.subscriptions = &sub;
    js.nsubscriptions = 1;
    if (shoal_job_add(c, &js) < 0) {
        fail(c, "create the job");
        goto out;
    }
    job_made = true;
    printf("job %s on pool %s, %s subscription\n", job, pool,
           all ? "All" : "FinalStatesOnly");

    /* 3. The tasks, then terminate the job when they are done. */
    for (i = 0; i < TASKS; i++) {
        memset(&ts, 0, sizeof(ts));
        snprintf(tid, sizeof(tid), "task%d", i + 1);
        snprintf(cmd, sizeof(cmd),
                 "/bin/sh -c 'echo encoding part %d; sleep 1'", i + 1);
        ts.id = tid;
        ts.command_line = cmd;
        if (shoal_task_add(c, job, &ts) < 0) {
            fail(c, "add a task");
            goto out;
        }
    }
    if (shoal_job_patch(c, job, "{\"onAllTasksComplete\":\"terminatejob\"}") <
        0) {
        fail(c, "set onAllTasksComplete");
        goto out;
    }
    printf("%d tasks added; waiting for notifications on queue %s\n\n", TASKS,
           queue);
    fflush(stdout);

    /* 4. Consume the queue until the job's final state. */
    memset(&r, 0, sizeof(r));
    r.c = c;
    r.job = job;
    memset(&no, 0, sizeof(no));
    no.timeout_ms = (int64_t)timeout_s * 1000;
    rc = shoal_notify_consume(c, queue, on_message, &r, &no);
    if (rc == SHOAL_ERR_TIMEOUT) {
        fprintf(stderr,
                "notify-example: no final state for job %s after %ld s\n", job,
                timeout_s);
        goto out;
    }
    if (rc < 0) {
        fail(c, "read the queue");
        goto out;
    }
    printf("\njob %s: %s (%d messages)\n", job, r.final, r.messages);
    status = strcmp(r.final, "Finished") == 0 ? 0 : 1;
out:
    /* 5. Clean up; report failures, but they change nothing above. */
    if (job_made && shoal_job_delete(c, job) < 0)
        fail(c, "delete the job");
    if (pool_made && shoal_pool_delete(c, pool) < 0)
        fail(c, "delete the pool");
    if (endpoint_id) {
        if (shoal_endpoint_delete(c, endpoint_id) < 0)
            fail(c, "delete the endpoint");
        if (shoal_queue_delete(c, queue) < 0)
            fail(c, "delete the queue");
    }
    free(endpoint_id);
    shoal_client_free(c);
    return status;
}
