/*
 * shoal_tasks.c: many tasks at once: Add Task Collection, and waiting for
 * a job's tasks to complete (the Batch SDKs' TaskStateMonitor).
 *
 * Adding (batch-wire.md §9, §12). Each task has a state:
 *
 *   pending --200 success-----------------------------> added
 *      |  \--200 clienterror TaskExists, tried before--> added (our retry)
 *      |   \-200 clienterror (other) ------------------> failed
 *      +----200 servererror, 5xx, connection error ----> pending (next round)
 *
 * Rounds send every pending task in chunks of at most 100 (the service's
 * maxItems), halving the chunk while its JSON is over 1 MB or the service
 * answers RequestBodyTooLarge. After CLIENT_TASK_ROUNDS rounds whatever is
 * still pending counts as failed. Results are matched to tasks by id,
 * case-insensitively (Batch ids are unique that way).
 *
 * Waiting. Each poll lists the job's tasks with
 * $filter=state ne 'completed' and $select=id,state: that gives active
 * (preparing counted as active) and running; completed is the total
 * (counted once at the start, raised if more tasks appear) minus the
 * incomplete. When completed changes, one more list counts the failures
 * ($filter=state eq 'completed' and executionInfo/result eq 'failure');
 * a service that refuses that filter gets failed = -1 from then on. The
 * poll interval starts at 250 ms, doubles while nothing changes, caps at
 * 2 s, and never overshoots the deadline.
 *
 * Thread-safe: all state is per call.
 */
#include "client/clientint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/parse.h"
#include "core/timefmt.h"

#define TASKS_CHUNK    100
#define TASKS_MAX_BODY 1000000
#define TASKS_ROUNDS   4
#define WAIT_MIN_MS    250
#define WAIT_MAX_MS    2000

enum tstate {
    TS_PENDING = 0,
    TS_ADDED,
    TS_FAILED,
};

struct tadd {
    json_t *task;
    const char *id;
    enum tstate state;
    int tries;
};

struct adder {
    shoal_client *c;
    const char *job;
    struct tadd *t;
    size_t n;
    struct shoal_error first; /* first task failure */
    int whole_rc;             /* last whole-request error */
};

static void note_failure(struct adder *a, const char *id, int code,
                         const char *svc, const char *msg)
{
    if (a->first.code)
        return;
    a->first.code = code;
    snprintf(a->first.service_code, sizeof(a->first.service_code), "%s",
             svc ? svc : "");
    snprintf(a->first.message, sizeof(a->first.message), "task '%.64s': %.400s",
             id ? id : "?", msg ? msg : "not added");
}

static struct tadd *find(struct adder *a, size_t *idx, size_t cnt,
                         const char *id)
{
    size_t i;

    for (i = 0; i < cnt; i++) {
        struct tadd *t = &a->t[idx[i]];

        if (t->id && str_ieq(t->id, id))
            return t;
    }
    return NULL;
}

static void apply_results(struct adder *a, size_t *idx, size_t cnt,
                          json_t *reply)
{
    json_t *value = json_object_get(reply, "value");
    json_t *it;
    size_t i;

    json_array_foreach(value, i, it)
    {
        const char *status = json_string_value(json_object_get(it, "status"));
        const char *id = json_string_value(json_object_get(it, "taskId"));
        json_t *err = json_object_get(it, "error");
        const char *code = json_string_value(json_object_get(err, "code"));
        json_t *m = json_object_get(err, "message");
        const char *msg;
        struct tadd *t;

        if (!id || !status)
            continue;
        t = find(a, idx, cnt, id);
        if (!t || t->state != TS_PENDING)
            continue;
        if (json_is_object(m))
            m = json_object_get(m, "value");
        msg = json_string_value(m);
        if (strcmp(status, "success") == 0) {
            t->state = TS_ADDED;
        } else if (strcmp(status, "clienterror") == 0) {
            if (code && strcmp(code, "TaskExists") == 0 && t->tries > 1) {
                t->state = TS_ADDED;
            } else {
                t->state = TS_FAILED;
                note_failure(a, t->id, SHOAL_ERR_HTTP, code, msg);
            }
        }
        /* servererror: stays pending for the next round */
    }
}

/* Send tasks idx[0..cnt) (all pending); halves on size. */
static int send_chunk(struct adder *a, size_t *idx, size_t cnt)
{
    json_t *body = NULL, *arr, *reply = NULL;
    struct shoal_error e;
    char *text;
    size_t i, len;
    int rc;

    body = json_object();
    arr = json_array();
    if (!body || !arr || json_object_set_new(body, "value", arr) < 0) {
        json_decref(arr);
        json_decref(body);
        return client_fail(a->c, SHOAL_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < cnt; i++) {
        if (json_array_append(arr, a->t[idx[i]].task) < 0) {
            json_decref(body);
            return client_fail(a->c, SHOAL_ERR_NOMEM, "out of memory");
        }
    }
    text = json_dumps(body, JSON_COMPACT);
    len = text ? strlen(text) : 0;
    free(text);
    if (!text) {
        json_decref(body);
        return client_fail(a->c, SHOAL_ERR_NOMEM, "out of memory");
    }
    if (len >= TASKS_MAX_BODY && cnt > 1) {
        json_decref(body);
        rc = send_chunk(a, idx, cnt / 2);
        if (rc == 0)
            rc = send_chunk(a, idx + cnt / 2, cnt - cnt / 2);
        return rc;
    }
    for (i = 0; i < cnt; i++)
        a->t[idx[i]].tries++;
    rc = batchreq_call(a->c, "POST", "jobs", a->job, "addtaskcollection", NULL,
                       body, &reply);
    json_decref(body);
    if (rc == 0) {
        apply_results(a, idx, cnt, reply);
        json_decref(reply);
        return 0;
    }
    shoal_client_last_error(a->c, &e);
    if (strcmp(e.service_code, "RequestBodyTooLarge") == 0 && cnt > 1) {
        rc = send_chunk(a, idx, cnt / 2);
        if (rc == 0)
            rc = send_chunk(a, idx + cnt / 2, cnt - cnt / 2);
        return rc;
    }
    a->whole_rc = rc;
    if (rc == SHOAL_ERR_SERVER || rc == SHOAL_ERR_CONNECT ||
        rc == SHOAL_ERR_TIMEOUT)
        return 0; /* tasks stay pending for the next round */
    /* A refused request fails every task in it, and the call. */
    for (i = 0; i < cnt; i++) {
        a->t[idx[i]].state = TS_FAILED;
        note_failure(a, a->t[idx[i]].id, rc, e.service_code, e.message);
    }
    return rc;
}

static int add_all(shoal_client *c, const char *job, json_t **tasks, size_t n,
                   size_t *failed_out)
{
    struct adder a;
    size_t *idx = NULL;
    size_t i, cnt, failed = 0;
    int round, rc = 0;

    memset(&a, 0, sizeof(a));
    a.c = c;
    a.job = job;
    if (!job || !*job)
        return client_fail(c, SHOAL_ERR_INVALID, "empty job id");
    if (n == 0) {
        if (failed_out)
            *failed_out = 0;
        return 0;
    }
    a.t = calloc(n, sizeof(*a.t));
    idx = calloc(n, sizeof(*idx));
    if (!a.t || !idx) {
        rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        goto out;
    }
    a.n = n;
    for (i = 0; i < n; i++) {
        a.t[i].task = tasks[i];
        a.t[i].id = json_string_value(json_object_get(tasks[i], "id"));
    }
    for (round = 0; round < TASKS_ROUNDS && rc == 0; round++) {
        size_t start;

        cnt = 0;
        for (i = 0; i < n; i++) {
            if (a.t[i].state == TS_PENDING)
                idx[cnt++] = i;
        }
        if (cnt == 0)
            break;
        for (start = 0; start < cnt && rc == 0; start += TASKS_CHUNK) {
            size_t k = cnt - start < TASKS_CHUNK ? cnt - start : TASKS_CHUNK;

            rc = send_chunk(&a, idx + start, k);
        }
    }
    for (i = 0; i < n; i++) {
        if (a.t[i].state == TS_PENDING) {
            a.t[i].state = TS_FAILED;
            note_failure(&a, a.t[i].id,
                         a.whole_rc ? a.whole_rc : SHOAL_ERR_SERVER,
                         "ServerError", "not added after retries");
        }
        if (a.t[i].state == TS_FAILED)
            failed++;
    }
    if (failed) {
        if (rc == 0)
            rc = a.whole_rc ? a.whole_rc : SHOAL_ERR_HTTP;
        a.first.code = rc;
        if (failed > 1) {
            size_t l = strlen(a.first.message);

            snprintf(a.first.message + l, sizeof(a.first.message) - l,
                     " (and %zu more tasks not added)", failed - 1);
        }
        client_set_error(c, &a.first);
    }
    if (failed_out)
        *failed_out = failed;
out:
    free(a.t);
    free(idx);
    return rc;
}

int shoal_tasks_add(shoal_client *c, const char *job,
                    const struct shoal_task_spec *specs, size_t n,
                    size_t *failed_out)
{
    json_t **tasks;
    size_t i, made = 0;
    int rc = 0;

    if (n && !specs)
        return client_fail(c, SHOAL_ERR_INVALID, "no task specs");
    tasks = calloc(n ? n : 1, sizeof(*tasks));
    if (!tasks)
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    for (i = 0; i < n && rc == 0; i++) {
        rc = shoal_task_spec_json(c, &specs[i], &tasks[i]);
        if (rc == 0)
            made++;
    }
    if (rc == 0)
        rc = add_all(c, job, tasks, n, failed_out);
    else if (failed_out)
        *failed_out = n;
    for (i = 0; i < made; i++)
        json_decref(tasks[i]);
    free(tasks);
    return rc;
}

int shoal_tasks_add_json(shoal_client *c, const char *job,
                         const char *const *json, size_t n, size_t *failed_out)
{
    json_t **tasks;
    size_t i, made = 0;
    int rc = 0;

    if (n && !json)
        return client_fail(c, SHOAL_ERR_INVALID, "no task JSON");
    tasks = calloc(n ? n : 1, sizeof(*tasks));
    if (!tasks)
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    for (i = 0; i < n && rc == 0; i++) {
        rc = batchreq_parse_user(c, json[i], &tasks[i]);
        if (rc == 0)
            made++;
    }
    if (rc == 0)
        rc = add_all(c, job, tasks, n, failed_out);
    else if (failed_out)
        *failed_out = n;
    for (i = 0; i < made; i++)
        json_decref(tasks[i]);
    free(tasks);
    return rc;
}

/* ---- waiting ---- */

static int count_tasks(shoal_client *c, const char *job, const char *filter,
                       const char *select, shoal_doc **out)
{
    struct shoal_query q;

    memset(&q, 0, sizeof(q));
    q.filter = filter;
    q.select = select;
    return shoal_task_list(c, job, &q, out);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static bool counts_differ(const struct shoal_task_counts *a,
                          const struct shoal_task_counts *b)
{
    return a->total != b->total || a->active != b->active ||
           a->running != b->running || a->completed != b->completed ||
           a->failed != b->failed;
}

int shoal_tasks_wait(shoal_client *c, const char *job, int64_t timeout_ms,
                     int (*progress)(const struct shoal_task_counts *counts,
                                     void *ctx),
                     void *ctx, struct shoal_task_counts *counts_out)
{
    struct shoal_task_counts now, last;
    int64_t start = timefmt_mono_ms();
    int64_t interval = WAIT_MIN_MS;
    int64_t last_completed = -1;
    bool can_count_failed = true;
    bool first = true;
    shoal_doc *d = NULL;
    int rc;

    memset(&now, 0, sizeof(now));
    memset(&last, 0, sizeof(last));
    now.failed = 0;
    rc = count_tasks(c, job, NULL, "id", &d);
    if (rc < 0)
        goto out;
    now.total = (int64_t)shoal_doc_count(d);
    shoal_doc_free(d);
    d = NULL;
    for (;;) {
        size_t i, n;

        rc = count_tasks(c, job, "state ne 'completed'", "id,state", &d);
        if (rc < 0)
            goto out;
        n = shoal_doc_count(d);
        now.active = 0;
        now.running = 0;
        for (i = 0; i < n; i++) {
            const char *st = shoal_doc_str(d, i, "state");

            if (st && strcmp(st, "running") == 0)
                now.running++;
            else
                now.active++;
        }
        shoal_doc_free(d);
        d = NULL;
        if ((int64_t)n > now.total)
            now.total = (int64_t)n;
        now.completed = now.total - (int64_t)n;
        if (now.completed != last_completed && now.completed > 0 &&
            can_count_failed) {
            rc = count_tasks(c, job,
                             "state eq 'completed' and "
                             "executionInfo/result eq 'failure'",
                             "id", &d);
            if (rc == SHOAL_ERR_HTTP) {
                can_count_failed = false;
                now.failed = -1;
                rc = 0;
            } else if (rc < 0) {
                goto out;
            } else {
                now.failed = (int64_t)shoal_doc_count(d);
            }
            shoal_doc_free(d);
            d = NULL;
        }
        last_completed = now.completed;
        now.succeeded = now.failed >= 0 ? now.completed - now.failed : -1;
        now.elapsed_ms = timefmt_mono_ms() - start;
        if (first || counts_differ(&now, &last)) {
            interval = WAIT_MIN_MS;
            if (progress && progress(&now, ctx) != 0) {
                rc = client_fail(c, SHOAL_ERR_CANCELLED, "wait cancelled");
                goto out;
            }
        } else if (interval < WAIT_MAX_MS) {
            interval = interval * 2 < WAIT_MAX_MS ? interval * 2 : WAIT_MAX_MS;
        }
        first = false;
        last = now;
        if (n == 0) {
            rc = 0;
            goto out;
        }
        if (timeout_ms > 0) {
            int64_t left = timeout_ms - (timefmt_mono_ms() - start);

            if (left <= 0) {
                rc = client_fail(c, SHOAL_ERR_TIMEOUT,
                                 "job '%s': %lld of %lld tasks completed "
                                 "after %lld ms",
                                 job, (long long)now.completed,
                                 (long long)now.total, (long long)timeout_ms);
                goto out;
            }
            sleep_ms(interval < left ? interval : left);
        } else {
            sleep_ms(interval);
        }
    }
out:
    shoal_doc_free(d);
    now.elapsed_ms = timefmt_mono_ms() - start;
    if (counts_out)
        *counts_out = now;
    return rc;
}
