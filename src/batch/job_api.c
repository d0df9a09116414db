/*
 * job_api.c: the Job operations of the Batch REST API.
 *
 *   POST   /jobs                   Job_Add         201
 *   GET    /jobs                   Job_List        200
 *   GET    /jobs/{j}               Job_Get         200
 *   DELETE /jobs/{j}               Job_Delete      202 (deleting, then gone)
 *   PATCH  /jobs/{j}               Job_Patch       200 (supplied fields)
 *   PUT    /jobs/{j}               Job_Update      200 (replaces them)
 *   POST   /jobs/{j}/terminate     Job_Terminate   202 (terminateReason)
 *   POST   /jobs/{j}/disable       Job_Disable     202 (disableTasks)
 *   POST   /jobs/{j}/enable        Job_Enable      202
 *   GET    /jobs/{j}/taskcounts    Job_GetTaskCounts 200
 *   GET    /jobschedules/{s}/jobs  Job_ListFromJobSchedule 200 (the jobs
 *                                  "{s}:job-{n}" the schedule made)
 *
 * Job state machine: model.c; transitions: sched.c. A job names its pool
 * by id; the pool need not exist yet (its tasks wait in the queue).
 * Conflicts: JobExists, JobScheduleWithSameIdExists (jobs and job
 * schedules share ids), JobBeingDeleted, JobCompleted, JobBeingTerminated,
 * JobNotActive / JobDisabled for enable/disable from the wrong state.
 * Disable answers once the job is disabling (sched.c finishes it); its
 * jobPreparationTask and jobReleaseTask get their defaults at add (prep.c).
 * A jobManagerTask gets its defaults and becomes the job's first task in
 * the same journal batch as the job (jobmgr.c); Job_Get echoes it.
 *
 * Threads: http workers. Ownership: rendered JSON goes to the reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "batch/batchint.h"
#include "batch/jobmgr.h"
#include "batch/odata.h"
#include "batch/prep.h"
#include "batch/schedule.h"
#include "batch/sched.h"
#include "batch/spec.h"
#include "batch/store.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

static int job_not_found(struct err *e, const char *id)
{
    return err_set(e, ERR_NOTFOUND, "JobNotFound",
                   "the specified job '%s' does not exist", id);
}

static json_t *render(struct breq *b, const struct mjob *j)
{
    json_t *o = json_object(), *v, *c, *ei;
    char etag[24];
    char *url = xasprintf("%s/jobs/%s", b->base, j->id);
    const char *pool;

    model_etag_str(j->etag, etag);
    json_object_set_new(o, "id", json_string(j->id));
    v = json_object_get(j->spec, "displayName");
    if (v)
        json_object_set(o, "displayName", v);
    json_object_set_new(o, "url", json_string(url));
    json_object_set_new(o, "eTag", json_string(etag));
    batch_api_time(o, "lastModified", j->modified_ms);
    batch_api_time(o, "creationTime", j->created_ms);
    json_object_set_new(o, "state",
                        json_string(model_job_state_name(j->state)));
    batch_api_time(o, "stateTransitionTime", j->state_ms);
    if (j->has_prev) {
        json_object_set_new(o, "previousState",
                            json_string(model_job_state_name(j->prev_state)));
        batch_api_time(o, "previousStateTransitionTime", j->prev_state_ms);
    }
    json_object_set_new(o, "priority", json_integer(j->priority));
    v = json_object_get(j->spec, "maxParallelTasks");
    json_object_set_new(o, "maxParallelTasks",
                        json_integer(v ? json_integer_value(v) : -1));
    v = json_object_get(j->spec, "allowTaskPreemption");
    json_object_set_new(o, "allowTaskPreemption",
                        json_boolean(json_is_true(v)));
    v = json_object_get(j->spec, "usesTaskDependencies");
    json_object_set_new(o, "usesTaskDependencies",
                        json_boolean(json_is_true(v)));
    c = json_object();
    batch_api_duration(c, "maxWallClockTime", j->max_wall_ms);
    json_object_set_new(c, "maxTaskRetryCount", json_integer(j->max_retries));
    json_object_set_new(o, "constraints", c);
    v = json_object_get(j->spec, "jobManagerTask");
    if (v)
        json_object_set(o, "jobManagerTask", v);
    v = json_object_get(j->spec, "jobPreparationTask");
    if (v)
        json_object_set(o, "jobPreparationTask", v);
    v = json_object_get(j->spec, "jobReleaseTask");
    if (v)
        json_object_set(o, "jobReleaseTask", v);
    v = json_object_get(j->spec, "commonEnvironmentSettings");
    if (v)
        json_object_set(o, "commonEnvironmentSettings", v);
    v = json_object_get(j->spec, "poolInfo");
    if (v)
        json_object_set(o, "poolInfo", v);
    json_object_set_new(
        o, "onAllTasksComplete",
        json_string(j->terminate_on_complete ? "terminatejob" : "noaction"));
    v = json_object_get(j->spec, "onTaskFailure");
    json_object_set_new(o, "onTaskFailure",
                        json_string(v ? json_string_value(v) : "noaction"));
    v = json_object_get(j->spec, "metadata");
    if (v)
        json_object_set(o, "metadata", v);
    v = json_object_get(j->spec, "networkConfiguration");
    if (v)
        json_object_set(o, "networkConfiguration", v);
    ei = json_object();
    batch_api_time(ei, "startTime", j->start_ms);
    if (j->end_ms)
        batch_api_time(ei, "endTime", j->end_ms);
    pool = json_string_value(
        json_object_get(json_object_get(j->spec, "poolInfo"), "poolId"));
    if (pool)
        json_object_set_new(ei, "poolId", json_string(pool));
    if (j->terminate_reason)
        json_object_set_new(ei, "terminateReason",
                            json_string(j->terminate_reason));
    json_object_set_new(o, "executionInfo", ei);
    free(url);
    return o;
}

static int job_prop(void *ctx, const char *prop, struct odata_value *out)
{
    const struct mjob *j = ctx;
    const char *s = NULL;

    memset(out, 0, sizeof(*out));
    if (strcmp(prop, "id") == 0) {
        s = j ? j->id : "";
    } else if (strcmp(prop, "state") == 0) {
        s = j ? model_job_state_name(j->state) : "";
    } else if (strcmp(prop, "previousState") == 0) {
        s = j && j->has_prev ? model_job_state_name(j->prev_state) : NULL;
    } else if (strcmp(prop, "displayName") == 0) {
        s = j ? json_string_value(json_object_get(j->spec, "displayName")) : "";
    } else if (strcmp(prop, "poolInfo/poolId") == 0 ||
               strcmp(prop, "executionInfo/poolId") == 0) {
        s = j ? json_string_value(json_object_get(
                    json_object_get(j->spec, "poolInfo"), "poolId"))
              : "";
    } else if (strcmp(prop, "executionInfo/terminateReason") == 0) {
        s = j ? j->terminate_reason : NULL;
    } else if (strcmp(prop, "onAllTasksComplete") == 0) {
        s = j && j->terminate_on_complete ? "terminatejob" : "noaction";
    } else if (strcmp(prop, "priority") == 0) {
        out->type = ODATA_INT;
        out->i = j ? j->priority : 0;
        return 0;
    } else if (strcmp(prop, "creationTime") == 0 ||
               strcmp(prop, "lastModified") == 0 ||
               strcmp(prop, "stateTransitionTime") == 0 ||
               strcmp(prop, "executionInfo/startTime") == 0 ||
               strcmp(prop, "executionInfo/endTime") == 0) {
        int64_t t = 0;
        if (j) {
            if (strcmp(prop, "creationTime") == 0)
                t = j->created_ms;
            else if (strcmp(prop, "lastModified") == 0)
                t = j->modified_ms;
            else if (strcmp(prop, "stateTransitionTime") == 0)
                t = j->state_ms;
            else if (strcmp(prop, "executionInfo/startTime") == 0)
                t = j->start_ms;
            else
                t = j->end_ms;
        }
        if (j && t == 0)
            return 0;
        out->type = ODATA_TIME;
        out->i = t;
        return 0;
    } else {
        return err_set(NULL, ERR_INVALID, "InvalidQueryParameterValue",
                       "unknown property");
    }
    if (s) {
        out->type = ODATA_STR;
        out->s = s;
    }
    return 0;
}

static void job_add(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    json_t *spec = NULL;
    struct mjob *j;
    const char *id;
    char *url;
    uint64_t etag, ticket;
    int64_t now = timefmt_now_ms(), mod;

    if (batch_api_body(req, SPEC_JOB_ADD, false, &spec, &e) < 0 ||
        prep_spec_normalize(spec, &e) < 0 ||
        jobmgr_spec_normalize(spec, &e) < 0) {
        json_decref(spec);
        batch_api_fail(req, &e);
        return;
    }
    id = json_string_value(json_object_get(spec, "id"));
    pthread_mutex_lock(&m->mu);
    if (schedule_id_free(m, b->acct->name, id, true, &e) < 0) {
        pthread_mutex_unlock(&m->mu);
        json_decref(spec);
        batch_api_fail(req, &e);
        return;
    }
    j = model_job_new(m, b->acct->name, id, spec, now);
    model_save_job(m, j);
    /* Its manager task first: a job with one is not without tasks. */
    jobmgr_task_add(m, j, now);
    /* A job without tasks counts as complete (JobAddParameter docs). */
    sched_job_check(m, j, now);
    url = xasprintf("%s/jobs/%s", b->base, j->id);
    etag = j->etag;
    mod = j->modified_ms;
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    log_info("job added job=%s", id);
    if (batch_api_durable(req, ticket))
        batch_api_created(req, url, etag, mod);
    free(url);
}

/* Job_List, or Job_ListFromJobSchedule (the jobs of schedule b->seg[1]). */
static void job_list(struct http_req *req, struct breq *b, bool of_schedule)
{
    struct model *m = &b->s->model;
    const struct mschedule *sch = NULL;
    struct batch_list l;
    struct err e = ERR_INIT;
    json_t *items;
    uint64_t next = 0;
    size_t count = 0;

    if (batch_api_list_start(req, 1000, job_prop, &l) < 0)
        return;
    items = json_array();
    pthread_mutex_lock(&m->mu);
    if (of_schedule) {
        sch = schedule_find(m, b->acct->name, b->seg[1]);
        if (!sch)
            err_set(&e, ERR_NOTFOUND, "JobScheduleNotFound",
                    "the specified job schedule '%s' does not exist",
                    b->seg[1]);
    }
    for (size_t i = 0; !e.code && i < m->njobs; i++) {
        struct mjob *j = m->job_list[i];
        bool match = true;
        json_t *o;
        if (strcmp(j->account, b->acct->name) != 0 || j->rowid <= l.after ||
            (sch && !schedule_owns(sch, j->id)))
            continue;
        if (odata_eval(l.filter, job_prop, j, &match, &e) < 0)
            break;
        if (!match)
            continue;
        if (count == l.max) {
            next = m->job_list[i - 1]->rowid;
            break;
        }
        o = render(b, j);
        batch_api_select(o, l.select, l.nselect);
        json_array_append_new(items, o);
        count++;
    }
    pthread_mutex_unlock(&m->mu);
    batch_api_list_end(req, &l, "jobs", items, next, &e);
}

/* Reject changes to a job that is going away or done. */
static int job_writable(const struct mjob *j, struct err *e)
{
    if (j->state == JOB_DELETING)
        return err_set(e, ERR_CONFLICT, "JobBeingDeleted",
                       "the specified job '%s' is being deleted", j->id);
    if (j->state == JOB_COMPLETED)
        return err_set(e, ERR_CONFLICT, "JobCompleted",
                       "the specified job '%s' is already in a completed "
                       "state",
                       j->id);
    return 0;
}

static void apply_update(struct mjob *j, json_t *body, bool replace)
{
    static const char *const keys[] = {
        "priority", "maxParallelTasks", "allowTaskPreemption", "constraints",
        "poolInfo", "metadata",         "onAllTasksComplete"
    };

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (v)
            json_object_set(j->spec, keys[i], v);
        else if (replace)
            json_object_del(j->spec, keys[i]);
    }
}

static void job_change(struct http_req *req, struct breq *b, int kind)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    json_t *body = NULL;
    struct mjob *j;
    int64_t now = timefmt_now_ms(), mod;
    uint64_t ticket, etag;
    int status = 200;
    char *url;
    const char *action = b->nseg > 2 ? b->seg[2] : "";
    int old_prio;

    if (kind >= 0 &&
        batch_api_body(req, kind, kind == SPEC_JOB_TERMINATE, &body, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    pthread_mutex_lock(&m->mu);
    j = model_job_find(m, b->acct->name, b->seg[1]);
    if (!j) {
        job_not_found(&e, b->seg[1]);
        goto fail;
    }
    if (batch_api_conditions(req, false, j->etag, j->modified_ms, &e) < 0)
        goto fail;
    if (job_writable(j, &e) < 0)
        goto fail;
    if (kind == SPEC_JOB_PATCH || kind == SPEC_JOB_UPDATE) {
        const char *old_pool = json_string_value(
            json_object_get(json_object_get(j->spec, "poolInfo"), "poolId"));
        char *was = xstrdup(old_pool ? old_pool : "");
        old_prio = j->priority;
        apply_update(j, body, kind == SPEC_JOB_UPDATE);
        const char *new_pool = json_string_value(
            json_object_get(json_object_get(j->spec, "poolInfo"), "poolId"));
        if (!new_pool || !str_ieq(was, new_pool)) {
            /* Another pool: the queued tasks move to its queue. */
            for (size_t i = 0; i < j->ntasks; i++) {
                if (j->tasks[i])
                    sched_dequeue(j->tasks[i]);
            }
        }
        free(was);
        model_job_apply_spec(m, j);
        if (j->priority != old_prio)
            sched_job_reprioritize(j);
        sched_job_requeue_all(m, j);
        j->modified_ms = now;
        j->etag = model_next_etag(m);
        model_save_job(m, j);
        sched_job_check(m, j, now);
    } else if (kind == SPEC_JOB_TERMINATE) {
        if (j->state == JOB_TERMINATING) {
            err_set(&e, ERR_CONFLICT, "JobBeingTerminated",
                    "the specified job '%s' is being terminated", j->id);
            goto fail;
        }
        j->user_terminated = true;
        sched_job_terminate(
            m, j, json_string_value(json_object_get(body, "terminateReason")),
            now);
        status = 202;
    } else if (kind == SPEC_JOB_DISABLE) {
        if (j->state != JOB_ACTIVE && j->state != JOB_DISABLING &&
            j->state != JOB_DISABLED) {
            err_set(&e, ERR_CONFLICT, "JobNotActive",
                    "the specified job '%s' is not active", j->id);
            goto fail;
        }
        sched_job_disable(
            m, j, json_string_value(json_object_get(body, "disableTasks")),
            now);
        status = 202;
    } else if (str_ieq(action, "enable")) {
        if (j->state != JOB_DISABLED && j->state != JOB_DISABLING &&
            j->state != JOB_ENABLING && j->state != JOB_ACTIVE) {
            err_set(&e, ERR_CONFLICT, "JobNotDisabled",
                    "the specified job '%s' is not disabled", j->id);
            goto fail;
        }
        if (j->state != JOB_ACTIVE)
            sched_job_enable(m, j, now);
        status = 202;
    }
    etag = j->etag;
    mod = j->modified_ms;
    url = xasprintf("%s/jobs/%s", b->base, j->id);
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    json_decref(body);
    if (batch_api_durable(req, ticket))
        batch_api_done(req, status, url, etag, mod);
    free(url);
    return;
fail:
    pthread_mutex_unlock(&m->mu);
    json_decref(body);
    batch_api_fail(req, &e);
}

static void counts_obj(json_t *o, const char *key, const int *c, int ok,
                       int bad)
{
    json_t *x = json_object();

    json_object_set_new(x, "active", json_integer(c[TASK_ACTIVE]));
    json_object_set_new(x, "running",
                        json_integer(c[TASK_RUNNING] + c[TASK_PREPARING]));
    json_object_set_new(x, "completed", json_integer(c[TASK_COMPLETED]));
    json_object_set_new(x, "succeeded", json_integer(ok));
    json_object_set_new(x, "failed", json_integer(bad));
    json_object_set_new(o, key, x);
}

void job_api_handle(struct http_req *req)
{
    struct breq *b = batch_api_state(req);
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    struct mjob *j;
    const char *meth = req->method;

    if (b->route == R_JOBS) {
        if (strcmp(meth, "POST") == 0)
            job_add(req, b);
        else if (strcmp(meth, "GET") == 0)
            job_list(req, b, false);
        else
            batch_api_bad_method(req);
        return;
    }
    if (b->route == R_SCHEDULE_JOBS) {
        if (strcmp(meth, "GET") == 0)
            job_list(req, b, true);
        else
            batch_api_bad_method(req);
        return;
    }
    if (b->route == R_JOB_ACTION) {
        int kind = -1;
        if (strcmp(meth, "POST") != 0) {
            batch_api_bad_method(req);
            return;
        }
        if (str_ieq(b->seg[2], "terminate"))
            kind = SPEC_JOB_TERMINATE;
        else if (str_ieq(b->seg[2], "disable"))
            kind = SPEC_JOB_DISABLE;
        job_change(req, b, kind);
        return;
    }
    if (b->route == R_JOB && strcmp(meth, "PATCH") == 0) {
        job_change(req, b, SPEC_JOB_PATCH);
        return;
    }
    if (b->route == R_JOB && strcmp(meth, "PUT") == 0) {
        job_change(req, b, SPEC_JOB_UPDATE);
        return;
    }
    pthread_mutex_lock(&m->mu);
    j = model_job_find(m, b->acct->name, b->seg[1]);
    if (!j) {
        pthread_mutex_unlock(&m->mu);
        job_not_found(&e, b->seg[1]);
        batch_api_fail(req, &e);
        return;
    }
    if (b->route == R_TASKCOUNTS) {
        json_t *o = json_object();
        char *meta =
            xasprintf("%s/$metadata#taskcountsresult/@Element", b->base);
        if (strcmp(meth, "GET") != 0) {
            pthread_mutex_unlock(&m->mu);
            json_decref(o);
            free(meta);
            batch_api_bad_method(req);
            return;
        }
        json_object_set_new(o, "odata.metadata", json_string(meta));
        free(meta);
        counts_obj(o, "taskCounts", j->counts, j->succeeded, j->failed);
        counts_obj(o, "taskSlotCounts", j->slot_counts, j->slots_succeeded,
                   j->slots_failed);
        pthread_mutex_unlock(&m->mu);
        batch_api_json(req, 200, o);
        return;
    }
    if (strcmp(meth, "GET") == 0 || strcmp(meth, "HEAD") == 0) {
        json_t *o;
        char **sel;
        size_t nsel;
        if (batch_api_get_begin(req, j->etag, j->modified_ms, &sel, &nsel, &e) <
            0) {
            pthread_mutex_unlock(&m->mu);
            batch_api_fail(req, &e);
            return;
        }
        o = render(b, j);
        batch_api_entity_headers(req, j->etag, j->modified_ms);
        pthread_mutex_unlock(&m->mu);
        batch_api_get_reply(req, "jobs", o, sel, nsel);
        return;
    }
    if (strcmp(meth, "DELETE") == 0) {
        uint64_t ticket;
        char *url;
        if (j->state == JOB_DELETING) {
            pthread_mutex_unlock(&m->mu);
            err_set(&e, ERR_CONFLICT, "JobBeingDeleted",
                    "the specified job '%s' is being deleted", b->seg[1]);
            batch_api_fail(req, &e);
            return;
        }
        if (batch_api_conditions(req, false, j->etag, j->modified_ms, &e) < 0) {
            pthread_mutex_unlock(&m->mu);
            batch_api_fail(req, &e);
            return;
        }
        sched_job_delete(m, j, timefmt_now_ms());
        url = xasprintf("%s/jobs/%s", b->base, j->id);
        ticket = store_last_ticket(m->store);
        pthread_mutex_unlock(&m->mu);
        log_info("job deleting job=%s", b->seg[1]);
        if (batch_api_durable(req, ticket))
            batch_api_done(req, 202, url, 0, 0);
        free(url);
        return;
    }
    pthread_mutex_unlock(&m->mu);
    batch_api_bad_method(req);
}
