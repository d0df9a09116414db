/*
 * schedule_api.c: the JobSchedule operations of the Batch REST API.
 *
 *   POST   /jobschedules                 JobSchedule_Add       201
 *   GET    /jobschedules                 JobSchedule_List      200
 *   GET    /jobschedules/{s}             JobSchedule_Get       200
 *   HEAD   /jobschedules/{s}             JobSchedule_Exists    200 / 404
 *   PATCH  /jobschedules/{s}             JobSchedule_Patch     200
 *   PUT    /jobschedules/{s}             JobSchedule_Update    200
 *   DELETE /jobschedules/{s}             JobSchedule_Delete    202
 *   POST   /jobschedules/{s}/terminate   JobSchedule_Terminate 202
 *   POST   /jobschedules/{s}/disable     JobSchedule_Disable   204
 *   POST   /jobschedules/{s}/enable      JobSchedule_Enable    204
 *
 * GET /jobschedules/{s}/jobs (Job_ListFromJobSchedule) is job_api.c's.
 * The schedule state machine and timing are schedule.c's. Ids share one
 * namespace with jobs: adding a schedule whose id a job has is 409
 * JobWithSameIdExists (job_api.c answers JobScheduleWithSameIdExists the
 * other way round). Changes to a schedule that is deleting, terminating or
 * completed are 409 JobScheduleBeingDeleted, JobScheduleBeingTerminated,
 * JobScheduleCompleted. The jobSpecification's preparation, release and
 * manager tasks get their defaults here (prep.c, jobmgr.c), so every job
 * made from it has them; each job gets its own job manager task.
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
#include "batch/spec.h"
#include "batch/store.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

static int not_found(struct err *e, const char *id)
{
    return err_set(e, ERR_NOTFOUND, "JobScheduleNotFound",
                   "the specified job schedule '%s' does not exist", id);
}

/* Reject changes to a schedule that is going away or done. */
static int writable(const struct mschedule *s, struct err *e)
{
    switch (s->state) {
    case SCHEDULE_DELETING:
        return err_set(e, ERR_CONFLICT, "JobScheduleBeingDeleted",
                       "the specified job schedule '%s' is being deleted",
                       s->id);
    case SCHEDULE_TERMINATING:
        return err_set(e, ERR_CONFLICT, "JobScheduleBeingTerminated",
                       "the specified job schedule '%s' is being terminated",
                       s->id);
    case SCHEDULE_COMPLETED:
        return err_set(e, ERR_CONFLICT, "JobScheduleCompleted",
                       "the specified job schedule '%s' has completed", s->id);
    default:
        return 0;
    }
}

static json_t *render_schedule(const struct mschedule *s)
{
    json_t *in = json_object_get(s->spec, "schedule");
    json_t *o = json_object(), *v;

    if (s->times.not_until > 0)
        batch_api_time(o, "doNotRunUntil", s->times.not_until);
    if (s->times.not_after > 0)
        batch_api_time(o, "doNotRunAfter", s->times.not_after);
    v = json_object_get(in, "startWindow");
    if (v)
        json_object_set(o, "startWindow", v);
    v = json_object_get(in, "recurrenceInterval");
    if (v)
        json_object_set(o, "recurrenceInterval", v);
    return o;
}

static json_t *render(struct breq *b, const struct mschedule *s)
{
    json_t *o = json_object(), *ei = json_object(), *v;
    char etag[24];
    char *url = xasprintf("%s/jobschedules/%s", b->base, s->id);

    model_etag_str(s->etag, etag);
    json_object_set_new(o, "id", json_string(s->id));
    v = json_object_get(s->spec, "displayName");
    if (v)
        json_object_set(o, "displayName", v);
    json_object_set_new(o, "url", json_string(url));
    json_object_set_new(o, "eTag", json_string(etag));
    batch_api_time(o, "lastModified", s->modified_ms);
    batch_api_time(o, "creationTime", s->created_ms);
    json_object_set_new(o, "state", json_string(schedule_state_name(s->state)));
    batch_api_time(o, "stateTransitionTime", s->state_ms);
    if (s->has_prev) {
        json_object_set_new(o, "previousState",
                            json_string(schedule_state_name(s->prev_state)));
        batch_api_time(o, "previousStateTransitionTime", s->prev_state_ms);
    }
    json_object_set_new(o, "schedule", render_schedule(s));
    v = json_object_get(s->spec, "jobSpecification");
    if (v)
        json_object_set(o, "jobSpecification", v);
    if (s->next_ms >= 0 &&
        (s->state == SCHEDULE_ACTIVE || s->state == SCHEDULE_DISABLED))
        batch_api_time(ei, "nextRunTime", s->next_ms);
    if (s->recent) {
        json_t *rj = json_object();
        char *jurl = xasprintf("%s/jobs/%s", b->base, s->recent);
        json_object_set_new(rj, "id", json_string(s->recent));
        json_object_set_new(rj, "url", json_string(jurl));
        json_object_set_new(ei, "recentJob", rj);
        free(jurl);
    }
    if (s->state == SCHEDULE_COMPLETED && s->end_ms)
        batch_api_time(ei, "endTime", s->end_ms);
    json_object_set_new(o, "executionInfo", ei);
    v = json_object_get(s->spec, "metadata");
    if (v)
        json_object_set(o, "metadata", v);
    free(url);
    return o;
}

static int schedule_prop(void *ctx, const char *prop, struct odata_value *out)
{
    const struct mschedule *s = ctx;
    const char *str = NULL;
    int64_t t = 0;

    memset(out, 0, sizeof(*out));
    if (strcmp(prop, "id") == 0) {
        str = s ? s->id : "";
    } else if (strcmp(prop, "state") == 0) {
        str = s ? schedule_state_name(s->state) : "";
    } else if (strcmp(prop, "previousState") == 0) {
        str = s && s->has_prev ? schedule_state_name(s->prev_state) : NULL;
    } else if (strcmp(prop, "displayName") == 0) {
        str =
            s ? json_string_value(json_object_get(s->spec, "displayName")) : "";
    } else if (strcmp(prop, "executionInfo/recentJob/id") == 0) {
        str = s ? s->recent : "";
    } else if (strcmp(prop, "creationTime") == 0 ||
               strcmp(prop, "lastModified") == 0 ||
               strcmp(prop, "stateTransitionTime") == 0 ||
               strcmp(prop, "executionInfo/nextRunTime") == 0 ||
               strcmp(prop, "executionInfo/endTime") == 0) {
        if (s) {
            if (strcmp(prop, "creationTime") == 0)
                t = s->created_ms;
            else if (strcmp(prop, "lastModified") == 0)
                t = s->modified_ms;
            else if (strcmp(prop, "stateTransitionTime") == 0)
                t = s->state_ms;
            else if (strcmp(prop, "executionInfo/nextRunTime") == 0)
                t = s->next_ms > 0 ? s->next_ms : 0;
            else
                t = s->end_ms;
            if (t == 0)
                return 0;
        }
        out->type = ODATA_TIME;
        out->i = t;
        return 0;
    } else {
        return err_set(NULL, ERR_INVALID, "InvalidQueryParameterValue",
                       "unknown property");
    }
    if (str) {
        out->type = ODATA_STR;
        out->s = str;
    }
    return 0;
}

static void schedule_add(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    json_t *spec = NULL;
    struct mschedule *s;
    const char *id;
    char *url;
    uint64_t etag, ticket;
    int64_t now = timefmt_now_ms(), mod;

    if (batch_api_body(req, SPEC_SCHEDULE_ADD, false, &spec, &e) < 0 ||
        prep_spec_normalize(json_object_get(spec, "jobSpecification"), &e) <
            0 ||
        jobmgr_spec_normalize(json_object_get(spec, "jobSpecification"), &e) <
            0) {
        json_decref(spec);
        batch_api_fail(req, &e);
        return;
    }
    id = json_string_value(json_object_get(spec, "id"));
    pthread_mutex_lock(&m->mu);
    if (schedule_id_free(m, b->acct->name, id, false, &e) < 0)
        goto fail;
    s = schedule_new(m, b->acct->name, id, spec, now);
    spec = NULL;
    url = xasprintf("%s/jobschedules/%s", b->base, s->id);
    etag = s->etag;
    mod = s->modified_ms;
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    log_info("job schedule added schedule=%s", id);
    if (batch_api_durable(req, ticket))
        batch_api_created(req, url, etag, mod);
    free(url);
    return;
fail:
    pthread_mutex_unlock(&m->mu);
    json_decref(spec);
    batch_api_fail(req, &e);
}

static void schedule_list(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct schedule_set *set;
    struct batch_list l;
    struct err e = ERR_INIT;
    json_t *items;
    uint64_t next = 0;
    size_t count = 0;

    if (batch_api_list_start(req, 1000, schedule_prop, &l) < 0)
        return;
    items = json_array();
    pthread_mutex_lock(&m->mu);
    set = schedule_set_of(m);
    for (size_t i = 0; set && i < set->n; i++) {
        struct mschedule *s = set->v[i];
        bool match = true;
        json_t *o;
        if (strcmp(s->account, b->acct->name) != 0 || s->rowid <= l.after)
            continue;
        if (odata_eval(l.filter, schedule_prop, s, &match, &e) < 0)
            break;
        if (!match)
            continue;
        if (count == l.max) {
            next = set->v[i - 1]->rowid;
            break;
        }
        o = render(b, s);
        batch_api_select(o, l.select, l.nselect);
        json_array_append_new(items, o);
        count++;
    }
    pthread_mutex_unlock(&m->mu);
    batch_api_list_end(req, &l, "jobschedules", items, next, &e);
}

/* PATCH replaces what the body has; PUT also resets what it lacks. */
static void apply_update(struct mschedule *s, json_t *body, bool replace)
{
    static const char *const keys[] = { "schedule", "jobSpecification",
                                        "metadata" };

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (v)
            json_object_set(s->spec, keys[i], v);
        else if (replace)
            json_object_del(s->spec, keys[i]);
    }
}

static void schedule_change(struct http_req *req, struct breq *b, int kind,
                            const char *action)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    json_t *body = NULL;
    struct mschedule *s;
    int64_t now = timefmt_now_ms(), mod;
    uint64_t ticket, etag;
    int status = 200;
    char *url;

    if (kind >= 0 && (batch_api_body(req, kind, false, &body, &e) < 0 ||
                      prep_spec_normalize(
                          json_object_get(body, "jobSpecification"), &e) < 0 ||
                      jobmgr_spec_normalize(
                          json_object_get(body, "jobSpecification"), &e) < 0)) {
        json_decref(body);
        batch_api_fail(req, &e);
        return;
    }
    pthread_mutex_lock(&m->mu);
    s = schedule_find(m, b->acct->name, b->seg[1]);
    if (!s) {
        not_found(&e, b->seg[1]);
        goto fail;
    }
    if (batch_api_conditions(req, false, s->etag, s->modified_ms, &e) < 0)
        goto fail;
    if (strcmp(action, "delete") == 0) {
        if (s->state == SCHEDULE_DELETING) {
            writable(s, &e);
            goto fail;
        }
    } else if (writable(s, &e) < 0) {
        goto fail;
    }
    if (kind >= 0) {
        bool times =
            json_object_get(body, "schedule") || kind == SPEC_SCHEDULE_UPDATE;
        apply_update(s, body, kind == SPEC_SCHEDULE_UPDATE);
        if (times)
            schedule_changed(m, s, now);
        else
            schedule_touch(m, s, now);
    } else if (strcmp(action, "terminate") == 0) {
        schedule_terminate(m, s, now);
        status = 202;
    } else if (strcmp(action, "disable") == 0) {
        schedule_disable(m, s, now);
        status = 204;
    } else if (strcmp(action, "enable") == 0) {
        schedule_enable(m, s, now);
        status = 204;
    } else {
        schedule_delete(m, s, now);
        status = 202;
    }
    etag = s->etag;
    mod = s->modified_ms;
    url = xasprintf("%s/jobschedules/%s", b->base, s->id);
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    json_decref(body);
    log_info("job schedule %s schedule=%s", action, b->seg[1]);
    if (batch_api_durable(req, ticket))
        batch_api_done(req, status, url, status == 202 ? 0 : etag, mod);
    free(url);
    return;
fail:
    pthread_mutex_unlock(&m->mu);
    json_decref(body);
    batch_api_fail(req, &e);
}

static void schedule_get(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    struct mschedule *s;
    char **sel;
    size_t nsel;
    json_t *o;

    pthread_mutex_lock(&m->mu);
    s = schedule_find(m, b->acct->name, b->seg[1]);
    if (!s) {
        pthread_mutex_unlock(&m->mu);
        not_found(&e, b->seg[1]);
        batch_api_fail(req, &e);
        return;
    }
    if (batch_api_get_begin(req, s->etag, s->modified_ms, &sel, &nsel, &e) <
        0) {
        pthread_mutex_unlock(&m->mu);
        batch_api_fail(req, &e);
        return;
    }
    o = render(b, s);
    batch_api_entity_headers(req, s->etag, s->modified_ms);
    pthread_mutex_unlock(&m->mu);
    batch_api_get_reply(req, "jobschedules", o, sel, nsel);
}

void schedule_api_handle(struct http_req *req)
{
    struct breq *b = batch_api_state(req);
    const char *meth = req->method;

    if (b->route == R_SCHEDULES) {
        if (strcmp(meth, "POST") == 0)
            schedule_add(req, b);
        else if (strcmp(meth, "GET") == 0)
            schedule_list(req, b);
        else
            batch_api_bad_method(req);
        return;
    }
    if (b->route == R_SCHEDULE_ACTION) {
        const char *a = b->seg[2];
        if (strcmp(meth, "POST") != 0) {
            batch_api_bad_method(req);
        } else if (str_ieq(a, "terminate")) {
            schedule_change(req, b, -1, "terminate");
        } else if (str_ieq(a, "disable")) {
            schedule_change(req, b, -1, "disable");
        } else if (str_ieq(a, "enable")) {
            schedule_change(req, b, -1, "enable");
        } else {
            struct err e = ERR_INIT;
            err_set(&e, ERR_NOTFOUND, "ResourceNotFound",
                    "the specified resource does not exist");
            batch_api_fail(req, &e);
        }
        return;
    }
    if (strcmp(meth, "GET") == 0 || strcmp(meth, "HEAD") == 0)
        schedule_get(req, b);
    else if (strcmp(meth, "PATCH") == 0)
        schedule_change(req, b, SPEC_SCHEDULE_PATCH, "patch");
    else if (strcmp(meth, "PUT") == 0)
        schedule_change(req, b, SPEC_SCHEDULE_UPDATE, "update");
    else if (strcmp(meth, "DELETE") == 0)
        schedule_change(req, b, -1, "delete");
    else
        batch_api_bad_method(req);
}
