/*
 * task_api.c: the Task operations of the Batch REST API.
 *
 *   POST   /jobs/{j}/tasks                    Task_Add           201
 *   POST   /jobs/{j}/addtaskcollection        Task_AddCollection 200
 *   GET    /jobs/{j}/tasks                    Task_List          200
 *   GET    /jobs/{j}/tasks/{t}                Task_Get           200
 *   DELETE /jobs/{j}/tasks/{t}                Task_Delete        200
 *   PUT    /jobs/{j}/tasks/{t}                Task_Update        200
 *   POST   /jobs/{j}/tasks/{t}/terminate      Task_Terminate     204
 *   POST   /jobs/{j}/tasks/{t}/reactivate     Task_Reactivate    204
 *   GET    /jobs/{j}/tasks/{t}/subtasksinfo   Task_ListSubtasks  200 (empty)
 *
 * Adds are durable before the reply: the whole collection is one journal
 * batch (one fsync). A collection holds at most 100 tasks and 1 MiB
 * (RequestBodyTooLarge for the whole request); a duplicate id, in the job or
 * earlier in the same request (ids compare case-insensitively), is that
 * entry's clienterror TaskExists, the others are added. A task whose id
 * is its job's preparation or release task's is 409
 * TaskIdSameAsJobPreparationTask / TaskIdSameAsJobReleaseTask (prep.c).
 *
 * An add is also checked against its job: dependsOn on a job without
 * usesTaskDependencies is 400 TaskDependenciesNotSpecifiedOnJob (deps.c), a
 * jobAction on a job whose onTaskFailure is noaction is 400
 * InvalidPropertyValue (exitcond.c); in a collection those are the entry's
 * clienterror. An added task registers its dependencies before it is
 * offered to the queue, so a waiting task never runs early.
 *
 * Reactivate (a failed task runs again, retryCount reset): 409
 * TaskNotCompleted, TaskSucceeded, or the job's JobCompleted /
 * JobBeingTerminated / JobBeingDeleted; a disabled job is allowed (spec).
 *
 * Lists iterate the job's tasks in rowid order (creation order) from the
 * continuation token, evaluate $filter (odata.c) through task_prop() and
 * stop at maxresults (1000 at most), so a page costs O(page + skipped).
 *
 * Threads: http workers. Ownership: rendered JSON goes to the reply.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "batch/batchint.h"
#include "batch/deps.h"
#include "batch/exitcond.h"
#include "batch/idmap.h"
#include "batch/odata.h"
#include "batch/prep.h"
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

static int task_not_found(struct err *e, const char *id)
{
    return err_set(e, ERR_NOTFOUND, "TaskNotFound",
                   "the specified task '%s' does not exist", id);
}

/* May tasks be added to j? */
static int job_accepts(const struct mjob *j, struct err *e)
{
    switch (j->state) {
    case JOB_DELETING:
        return err_set(e, ERR_CONFLICT, "JobBeingDeleted",
                       "the specified job '%s' is being deleted", j->id);
    case JOB_COMPLETED:
        return err_set(e, ERR_CONFLICT, "JobCompleted",
                       "the specified job '%s' is already in a completed "
                       "state",
                       j->id);
    case JOB_TERMINATING:
        return err_set(e, ERR_CONFLICT, "JobBeingTerminated",
                       "the specified job '%s' is being terminated", j->id);
    default:
        return 0;
    }
}

/*
 * Task_Reactivate: only a failed task of a job that is not completed,
 * terminating or deleting (the spec; a disabled job is fine).
 */
static int reactivatable(const struct mtask *t, struct err *e)
{
    const struct mjob *j = t->job;

    if (t->state != TASK_COMPLETED)
        return err_set(e, ERR_CONFLICT, "TaskNotCompleted",
                       "the specified task '%s' is not completed", t->id);
    if (t->result != RESULT_FAILURE)
        return err_set(e, ERR_CONFLICT, "TaskSucceeded",
                       "the specified task '%s' completed successfully", t->id);
    if (j->state == JOB_TERMINATING || j->state == JOB_COMPLETED ||
        j->state == JOB_DELETING)
        return job_accepts(j, e);
    return 0;
}

/* ---- rendering ---------------------------------------------------------- */

static void render_fail(json_t *ei, const struct mfail *f)
{
    json_t *fo, *d, *kv;

    if (!f)
        return;
    fo = json_object();
    json_object_set_new(fo, "category", json_string(f->category));
    json_object_set_new(fo, "code", json_string(f->code));
    json_object_set_new(fo, "message", json_string(f->message));
    d = json_array();
    kv = json_object();
    json_object_set_new(kv, "name", json_string("Message"));
    json_object_set_new(kv, "value", json_string(f->message));
    json_array_append_new(d, kv);
    json_object_set_new(fo, "details", d);
    json_object_set_new(ei, "failureInfo", fo);
}

static json_t *render(struct breq *b, const struct mtask *t, bool want_spec)
{
    json_t *o = json_object(), *spec = NULL, *v, *c, *ei;
    char etag[24];
    char *url = xasprintf("%s/jobs/%s/tasks/%s", b->base, t->job->id, t->id);
    static const char *const spec_keys[] = {
        "exitConditions",      "resourceFiles", "outputFiles",
        "environmentSettings", "affinityInfo",  "dependsOn"
    };

    if (want_spec)
        spec = model_task_spec_json(t);
    model_etag_str(t->etag, etag);
    json_object_set_new(o, "id", json_string(t->id));
    if (spec && (v = json_object_get(spec, "displayName")))
        json_object_set(o, "displayName", v);
    json_object_set_new(o, "url", json_string(url));
    json_object_set_new(o, "eTag", json_string(etag));
    batch_api_time(o, "lastModified", t->modified_ms);
    batch_api_time(o, "creationTime", t->created_ms);
    json_object_set_new(o, "state",
                        json_string(model_task_state_name(t->state)));
    batch_api_time(o, "stateTransitionTime", t->state_ms);
    if (t->has_prev) {
        json_object_set_new(o, "previousState",
                            json_string(model_task_state_name(t->prev_state)));
        batch_api_time(o, "previousStateTransitionTime", t->prev_state_ms);
    }
    if (spec) {
        v = json_object_get(spec, "commandLine");
        if (v)
            json_object_set(o, "commandLine", v);
        for (size_t i = 0; i < ARRAY_SIZE(spec_keys); i++) {
            v = json_object_get(spec, spec_keys[i]);
            if (v)
                json_object_set(o, spec_keys[i], v);
        }
        c = json_object();
        batch_api_duration(c, "maxWallClockTime", model_task_max_wall(t));
        batch_api_duration(c, "retentionTime", model_task_retention(t));
        json_object_set_new(c, "maxTaskRetryCount",
                            json_integer(model_task_max_retries(t)));
        json_object_set_new(o, "constraints", c);
        json_object_set_new(o, "requiredSlots", json_integer(t->slots));
        v = json_object_get(spec, "userIdentity");
        if (v) {
            json_object_set(o, "userIdentity", v);
        } else {
            json_t *ui = json_object(), *au = json_object();
            json_object_set_new(au, "scope", json_string("pool"));
            json_object_set_new(au, "elevationLevel", json_string("nonadmin"));
            json_object_set_new(ui, "autoUser", au);
            json_object_set_new(o, "userIdentity", ui);
        }
    }
    ei = json_object();
    if (t->start_ms)
        batch_api_time(ei, "startTime", t->start_ms);
    if (t->end_ms && t->state == TASK_COMPLETED)
        batch_api_time(ei, "endTime", t->end_ms);
    if (t->has_exit && t->state == TASK_COMPLETED)
        json_object_set_new(ei, "exitCode", json_integer(t->exit_code));
    if (t->state == TASK_COMPLETED)
        render_fail(ei, t->fail);
    json_object_set_new(ei, "retryCount", json_integer(t->retry_count));
    if (t->last_retry_ms)
        batch_api_time(ei, "lastRetryTime", t->last_retry_ms);
    json_object_set_new(ei, "requeueCount", json_integer(t->requeue_count));
    if (t->last_requeue_ms)
        batch_api_time(ei, "lastRequeueTime", t->last_requeue_ms);
    if (t->state == TASK_COMPLETED && model_result_name(t->result))
        json_object_set_new(ei, "result",
                            json_string(model_result_name(t->result)));
    json_object_set_new(o, "executionInfo", ei);
    if (t->node_id && t->node_pool) {
        json_t *ni = json_object();
        char *aff = xasprintf("TVM:%s", t->node_id);
        char *nurl = xasprintf("%s/pools/%s/nodes/%s", b->base, t->node_pool,
                               t->node_id);
        char *dir = xasprintf("workitems/%s/job-1/%s", t->job->id, t->id);
        char *durl = xasprintf("%s/files/%s", nurl, dir);
        json_object_set_new(ni, "affinityId", json_string(aff));
        json_object_set_new(ni, "nodeUrl", json_string(nurl));
        json_object_set_new(ni, "poolId", json_string(t->node_pool));
        json_object_set_new(ni, "nodeId", json_string(t->node_id));
        json_object_set_new(ni, "taskRootDirectory", json_string(dir));
        json_object_set_new(ni, "taskRootDirectoryUrl", json_string(durl));
        json_object_set_new(o, "nodeInfo", ni);
        free(aff);
        free(nurl);
        free(dir);
        free(durl);
    }
    json_decref(spec);
    free(url);
    return o;
}

/* Does the $select need the spec (anything beyond the cheap fields)? */
static bool select_needs_spec(char **sel, size_t n)
{
    static const char *const cheap[] = { "id",
                                         "url",
                                         "eTag",
                                         "lastModified",
                                         "creationTime",
                                         "state",
                                         "stateTransitionTime",
                                         "previousState",
                                         "previousStateTransitionTime",
                                         "executionInfo",
                                         "nodeInfo" };

    if (!sel || n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < ARRAY_SIZE(cheap) && !found; k++)
            found = strcmp(sel[i], cheap[k]) == 0;
        if (!found)
            return true;
    }
    return false;
}

/* ---- $filter properties of CloudTask
 * ------------------------------------------ */

static int task_prop(void *ctx, const char *prop, struct odata_value *out)
{
    const struct mtask *t = ctx;
    const char *s = NULL;
    int64_t tm = -1;

    memset(out, 0, sizeof(*out));
    if (strcmp(prop, "id") == 0) {
        s = t ? t->id : "";
    } else if (strcmp(prop, "state") == 0) {
        s = t ? model_task_state_name(t->state) : "";
    } else if (strcmp(prop, "previousState") == 0) {
        s = t && t->has_prev ? model_task_state_name(t->prev_state) : NULL;
    } else if (strcmp(prop, "executionInfo/result") == 0) {
        s = t && t->state == TASK_COMPLETED ? model_result_name(t->result)
                                            : NULL;
    } else if (strcmp(prop, "executionInfo/failureInfo/code") == 0) {
        s = t && t->state == TASK_COMPLETED && t->fail ? t->fail->code : NULL;
    } else if (strcmp(prop, "executionInfo/failureInfo/category") == 0) {
        s = t && t->state == TASK_COMPLETED && t->fail ? t->fail->category
                                                       : NULL;
    } else if (strcmp(prop, "nodeInfo/nodeId") == 0) {
        s = t ? t->node_id : NULL;
    } else if (strcmp(prop, "nodeInfo/poolId") == 0) {
        s = t ? t->node_pool : NULL;
    } else if (strcmp(prop, "executionInfo/exitCode") == 0) {
        if (!t || (t->has_exit && t->state == TASK_COMPLETED)) {
            out->type = ODATA_INT;
            out->i = t ? t->exit_code : 0;
        }
        return 0;
    } else if (strcmp(prop, "executionInfo/retryCount") == 0 ||
               strcmp(prop, "executionInfo/requeueCount") == 0 ||
               strcmp(prop, "requiredSlots") == 0) {
        out->type = ODATA_INT;
        if (t)
            out->i = strcmp(prop, "requiredSlots") == 0 ? t->slots
                     : strcmp(prop, "executionInfo/retryCount") == 0
                         ? t->retry_count
                         : t->requeue_count;
        return 0;
    } else if (strcmp(prop, "creationTime") == 0) {
        tm = t ? t->created_ms : 0;
    } else if (strcmp(prop, "lastModified") == 0) {
        tm = t ? t->modified_ms : 0;
    } else if (strcmp(prop, "stateTransitionTime") == 0) {
        tm = t ? t->state_ms : 0;
    } else if (strcmp(prop, "executionInfo/startTime") == 0) {
        tm = t ? t->start_ms : 0;
    } else if (strcmp(prop, "executionInfo/endTime") == 0) {
        tm = t && t->state == TASK_COMPLETED ? t->end_ms : 0;
    } else if (strcmp(prop, "displayName") == 0 ||
               strcmp(prop, "commandLine") == 0) {
        /* Spec fields: parse on demand (rarely filtered on). */
        json_t *spec;
        if (!t)
            return 0;
        spec = model_task_spec_json(t);
        s = json_string_value(json_object_get(spec, prop));
        if (s) {
            /* Borrowed for the call: keep the spec alive in a slot. */
            static _Thread_local char keep[4096];
            snprintf(keep, sizeof(keep), "%s", s);
            s = keep;
        }
        json_decref(spec);
    } else {
        return err_set(NULL, ERR_INVALID, "InvalidQueryParameterValue",
                       "unknown property");
    }
    if (tm >= 0) {
        if (t && tm == 0)
            return 0;
        out->type = ODATA_TIME;
        out->i = tm;
        return 0;
    }
    if (s) {
        out->type = ODATA_STR;
        out->s = s;
    }
    return 0;
}

/* ---- adds
 * --------------------------------------------------------------------- */

static char *spec_string(json_t *spec)
{
    char *s = json_dumps(spec, JSON_COMPACT);

    if (!s)
        BUG("out of memory rendering a task");
    return s;
}

static void task_add(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    json_t *spec = NULL;
    struct mjob *j;
    struct mtask *t;
    const char *id;
    char *url = NULL;
    uint64_t etag, ticket;
    int64_t now = timefmt_now_ms(), mod;

    if (batch_api_body(req, SPEC_TASK_ADD, false, &spec, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    id = json_string_value(json_object_get(spec, "id"));
    pthread_mutex_lock(&m->mu);
    j = model_job_find(m, b->acct->name, b->seg[1]);
    if (!j) {
        job_not_found(&e, b->seg[1]);
        goto fail;
    }
    if (job_accepts(j, &e) < 0)
        goto fail;
    if (model_task_find(j, id)) {
        err_set(&e, ERR_CONFLICT, "TaskExists",
                "the specified task '%s' already exists", id);
        goto fail;
    }
    if (prep_task_id_check(j, id, &e) < 0 || deps_check_add(j, spec, &e) < 0 ||
        exitcond_check_add(j, spec, &e) < 0)
        goto fail;
    t = model_task_new(m, j, id, spec_string(spec), spec, now);
    deps_task_added(m, t, spec);
    model_save_task_spec(m, t);
    sched_enqueue(m, t);
    url = xasprintf("%s/jobs/%s/tasks/%s", b->base, j->id, t->id);
    etag = t->etag;
    mod = t->modified_ms;
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    json_decref(spec);
    if (batch_api_durable(req, ticket))
        batch_api_created(req, url, etag, mod);
    free(url);
    return;
fail:
    pthread_mutex_unlock(&m->mu);
    json_decref(spec);
    batch_api_fail(req, &e);
}

static json_t *add_result(struct breq *b, const char *status,
                          const char *task_id, const struct mtask *t,
                          const struct err *e)
{
    json_t *r = json_object();

    json_object_set_new(r, "status", json_string(status));
    json_object_set_new(r, "taskId", json_string(task_id));
    if (t) {
        char etag[24];
        char *url =
            xasprintf("%s/jobs/%s/tasks/%s", b->base, t->job->id, t->id);
        model_etag_str(t->etag, etag);
        json_object_set_new(r, "eTag", json_string(etag));
        batch_api_time(r, "lastModified", t->modified_ms);
        json_object_set_new(r, "location", json_string(url));
        free(url);
    }
    if (e) {
        json_t *eo = json_object(), *msg = json_object();
        json_object_set_new(eo, "code", json_string(e->svc));
        json_object_set_new(msg, "lang", json_string("en-US"));
        json_object_set_new(msg, "value", json_string(e->msg));
        json_object_set_new(eo, "message", msg);
        json_object_set_new(r, "error", eo);
    }
    return r;
}

static void task_add_collection(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    json_t *body = NULL, *list, *results, *v, *out;
    struct idmap seen = IDMAP_INIT;
    struct mjob *j;
    uint64_t ticket;
    size_t i;
    int64_t now = timefmt_now_ms();
    char **specs = NULL;
    size_t n;

    if (batch_api_body(req, SPEC_TASK_COLLECTION, false, &body, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    list = json_object_get(body, "value");
    n = json_array_size(list);
    /* Render the specs before taking the lock. */
    specs = xcalloc(n ? n : 1, sizeof(char *));
    json_array_foreach(list, i, v) specs[i] = spec_string(v);
    results = json_array();
    pthread_mutex_lock(&m->mu);
    j = model_job_find(m, b->acct->name, b->seg[1]);
    if (!j) {
        job_not_found(&e, b->seg[1]);
        goto fail;
    }
    if (job_accepts(j, &e) < 0)
        goto fail;
    json_array_foreach(list, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        struct err te = ERR_INIT;
        struct mtask *t;
        if (idmap_put(&seen, id, v) < 0 || model_task_find(j, id)) {
            err_set(&te, ERR_CONFLICT, "TaskExists",
                    "the specified task '%s' already exists", id);
            json_array_append_new(results,
                                  add_result(b, "clienterror", id, NULL, &te));
            continue;
        }
        if (prep_task_id_check(j, id, &te) < 0 ||
            deps_check_add(j, v, &te) < 0 ||
            exitcond_check_add(j, v, &te) < 0) {
            json_array_append_new(results,
                                  add_result(b, "clienterror", id, NULL, &te));
            continue;
        }
        t = model_task_new(m, j, id, specs[i], v, now);
        specs[i] = NULL;
        deps_task_added(m, t, v);
        model_save_task_spec(m, t);
        sched_enqueue(m, t);
        json_array_append_new(results, add_result(b, "success", id, t, NULL));
    }
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    idmap_release(&seen);
    for (i = 0; i < n; i++)
        free(specs[i]);
    free(specs);
    json_decref(body);
    if (!batch_api_durable(req, ticket)) {
        json_decref(results);
        return;
    }
    out = json_object();
    {
        char *meta = xasprintf("%s/$metadata#taskaddresult", b->base);
        json_object_set_new(out, "odata.metadata", json_string(meta));
        free(meta);
    }
    json_object_set_new(out, "value", results);
    batch_api_json(req, 200, out);
    return;
fail:
    pthread_mutex_unlock(&m->mu);
    idmap_release(&seen);
    for (i = 0; i < n; i++)
        free(specs[i]);
    free(specs);
    json_decref(results);
    json_decref(body);
    batch_api_fail(req, &e);
}

/* ---- list and get
 * --------------------------------------------------------------- */

static size_t first_after(const struct mjob *j, uint64_t after)
{
    size_t lo = 0, hi = j->ntasks;

    /* tasks[] is in rowid order with NULL holes: binary search over the
     * non-NULL neighbours. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, k = mid;
        while (k < hi && !j->tasks[k])
            k++;
        if (k == hi) {
            hi = mid;
            continue;
        }
        if (j->tasks[k]->rowid <= after)
            lo = k + 1;
        else
            hi = mid;
    }
    return lo;
}

static void task_list(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct batch_list l;
    struct err e = ERR_INIT;
    json_t *items;
    struct mjob *j;
    uint64_t next = 0, last = 0;
    size_t count = 0;
    bool want_spec;

    if (batch_api_list_start(req, 1000, task_prop, &l) < 0)
        return;
    want_spec = select_needs_spec(l.select, l.nselect);
    items = json_array();
    pthread_mutex_lock(&m->mu);
    j = model_job_find(m, b->acct->name, b->seg[1]);
    if (!j) {
        pthread_mutex_unlock(&m->mu);
        job_not_found(&e, b->seg[1]);
        batch_api_list_end(req, &l, "tasks", items, 0, &e);
        return;
    }
    for (size_t i = first_after(j, l.after); i < j->ntasks; i++) {
        struct mtask *t = j->tasks[i];
        bool match = true;
        json_t *o;
        if (!t)
            continue;
        if (odata_eval(l.filter, task_prop, t, &match, &e) < 0)
            break;
        if (!match) {
            last = t->rowid;
            continue;
        }
        if (count == l.max) {
            next = last;
            break;
        }
        o = render(b, t, want_spec);
        batch_api_select(o, l.select, l.nselect);
        json_array_append_new(items, o);
        count++;
        last = t->rowid;
    }
    pthread_mutex_unlock(&m->mu);
    batch_api_list_end(req, &l, "tasks", items, next, &e);
}

static void task_one(struct http_req *req, struct breq *b)
{
    struct model *m = &b->s->model;
    struct err e = ERR_INIT;
    struct mjob *j;
    struct mtask *t;
    const char *meth = req->method;
    const char *action = b->route == R_TASK_ACTION ? b->seg[4] : NULL;
    json_t *body = NULL;
    int64_t now = timefmt_now_ms();
    uint64_t ticket, etag = 0;
    int64_t mod = 0;
    char *url = NULL;
    int status = 200;

    if (b->route == R_TASK && strcmp(meth, "PUT") == 0 &&
        batch_api_body(req, SPEC_TASK_UPDATE, false, &body, &e) < 0) {
        batch_api_fail(req, &e);
        return;
    }
    pthread_mutex_lock(&m->mu);
    j = model_job_find(m, b->acct->name, b->seg[1]);
    if (!j) {
        job_not_found(&e, b->seg[1]);
        goto fail;
    }
    t = model_task_find(j, b->seg[3]);
    if (action && str_ieq(action, "subtasksinfo") && strcmp(meth, "GET") == 0) {
        json_t *o = json_object();
        char *meta = xasprintf("%s/$metadata#subtaskinfo", b->base);
        if (!t) {
            json_decref(o);
            free(meta);
            task_not_found(&e, b->seg[3]);
            goto fail;
        }
        pthread_mutex_unlock(&m->mu);
        json_object_set_new(o, "odata.metadata", json_string(meta));
        json_object_set_new(o, "value", json_array());
        free(meta);
        batch_api_json(req, 200, o);
        return;
    }
    if (!t) {
        task_not_found(&e, b->seg[3]);
        goto fail;
    }
    if (b->route == R_TASK &&
        (strcmp(meth, "GET") == 0 || strcmp(meth, "HEAD") == 0)) {
        json_t *o;
        char **sel;
        size_t nsel;
        if (batch_api_get_begin(req, t->etag, t->modified_ms, &sel, &nsel, &e) <
            0)
            goto fail;
        o = render(b, t, true);
        batch_api_entity_headers(req, t->etag, t->modified_ms);
        pthread_mutex_unlock(&m->mu);
        batch_api_get_reply(req, "tasks", o, sel, nsel);
        return;
    }
    if (batch_api_conditions(req, false, t->etag, t->modified_ms, &e) < 0)
        goto fail;
    url = xasprintf("%s/jobs/%s/tasks/%s", b->base, j->id, t->id);
    if (b->route == R_TASK && strcmp(meth, "DELETE") == 0) {
        if (j->state == JOB_DELETING) {
            err_set(&e, ERR_CONFLICT, "JobBeingDeleted",
                    "the specified job '%s' is being deleted", j->id);
            goto fail;
        }
        sched_task_delete(m, t);
    } else if (b->route == R_TASK && strcmp(meth, "PUT") == 0) {
        json_t *spec = model_task_spec_json(t);
        json_t *c = json_object_get(body, "constraints");
        if (t->state == TASK_COMPLETED) {
            json_decref(spec);
            err_set(&e, ERR_CONFLICT, "TaskCompleted",
                    "the specified task '%s' is completed", t->id);
            goto fail;
        }
        if (c)
            json_object_set(spec, "constraints", c);
        else
            json_object_del(spec, "constraints");
        free(t->spec);
        t->spec = spec_string(spec);
        model_task_apply_spec_json(t, spec);
        json_decref(spec);
        t->modified_ms = now;
        t->etag = model_next_etag(m);
        model_save_task_spec(m, t);
    } else if (action && str_ieq(action, "terminate") &&
               strcmp(meth, "POST") == 0) {
        if (t->state != TASK_COMPLETED) {
            sched_task_terminate(m, t, now);
            log_info("task terminated job=%s task=%s", j->id, t->id);
        }
        status = 204;
    } else if (action && str_ieq(action, "reactivate") &&
               strcmp(meth, "POST") == 0) {
        if (reactivatable(t, &e) < 0)
            goto fail;
        t->retry_count = 0;
        t->has_exit = false;
        t->exit_code = 0;
        model_fail_free(t->fail);
        t->fail = NULL;
        t->result = RESULT_NONE;
        t->start_ms = t->end_ms = 0;
        model_task_set_state(m, t, TASK_ACTIVE, now);
        t->etag = model_next_etag(m);
        model_save_task(m, t);
        sched_enqueue(m, t);
        status = 204;
    } else {
        pthread_mutex_unlock(&m->mu);
        free(url);
        json_decref(body);
        batch_api_bad_method(req);
        return;
    }
    if (b->route == R_TASK && strcmp(meth, "DELETE") != 0) {
        etag = t->etag;
        mod = t->modified_ms;
    } else if (action) {
        etag = t->etag;
        mod = t->modified_ms;
    }
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    json_decref(body);
    if (batch_api_durable(req, ticket))
        batch_api_done(req, status, url, etag, mod);
    free(url);
    return;
fail:
    pthread_mutex_unlock(&m->mu);
    free(url);
    json_decref(body);
    batch_api_fail(req, &e);
}

void task_api_handle(struct http_req *req)
{
    struct breq *b = batch_api_state(req);
    const char *meth = req->method;

    if (b->route == R_TASKS) {
        if (strcmp(meth, "POST") == 0)
            task_add(req, b);
        else if (strcmp(meth, "GET") == 0)
            task_list(req, b);
        else
            batch_api_bad_method(req);
        return;
    }
    if (b->route == R_COLLECTION) {
        if (strcmp(meth, "POST") == 0)
            task_add_collection(req, b);
        else
            batch_api_bad_method(req);
        return;
    }
    task_one(req, b);
}
