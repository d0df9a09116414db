/*
 * shoal_job.c: Batch jobs.
 *
 * Requests (batch-wire.md §6):
 *   add        POST   /jobs                   201 {id, poolInfo{poolId}, ...}
 *   get, list  GET    /jobs[/J]
 *   terminate  POST   /jobs/J/terminate       202 [{terminateReason}]
 *   delete     DELETE /jobs/J                 202
 *   patch      PATCH  /jobs/J                 200 (supplied fields only)
 *   subscriptions  GET|PUT /jobs/J/notificationsubscriptions
 *                  {"value":[{"notificationEndPointId","targetJobState"}]}
 *                  (shoal's extension; also notificationSubscriptions on
 *                  add, notifications.md §5.2)
 *
 * Thread-safe: all state is per call.
 */
#include "client/clientint.h"

#include <string.h>

#include <jansson.h>

#define JOB_SUBS "notificationsubscriptions"

static const char *target_name(enum shoal_target_state t)
{
    if (t == SHOAL_TARGET_ALL)
        return "All";
    if (t == SHOAL_TARGET_FINAL)
        return "FinalStatesOnly";
    return NULL;
}

/* Subscriptions as the wire's array; NULL for a bad target or no memory. */
static json_t *subs_json(const struct shoal_subscription *subs, size_t n)
{
    json_t *a = json_array();
    size_t i;

    if (!a)
        return NULL;
    for (i = 0; i < n; i++) {
        json_t *o = json_object();
        const char *id = subs[i].endpoint_id;
        const char *t = target_name(subs[i].target);

        if (!o || json_array_append_new(a, o) < 0 || !t || !id || !*id ||
            batchreq_set_str(o, "notificationEndPointId", id) < 0 ||
            batchreq_set_str(o, "targetJobState", t) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *job_json(const struct shoal_job_spec *s)
{
    json_t *o = json_object();
    json_t *pi = json_object();

    if (!o || !pi) {
        json_decref(pi);
        goto fail;
    }
    if (json_object_set_new(o, "poolInfo", pi) < 0 ||
        batchreq_set_str(o, "id", s->id) < 0 ||
        batchreq_set_str(pi, "poolId", s->pool_id) < 0)
        goto fail;
    if (s->priority && batchreq_set_int(o, "priority", s->priority) < 0)
        goto fail;
    if (s->max_task_retries) {
        json_t *cons =
            json_pack("{s:i}", "maxTaskRetryCount", s->max_task_retries);

        if (!cons || json_object_set_new(o, "constraints", cons) < 0)
            goto fail;
    }
    if (s->terminate_on_all_complete &&
        batchreq_set_str(o, "onAllTasksComplete", "terminatejob") < 0)
        goto fail;
    if (s->uses_task_dependencies &&
        batchreq_set_bool(o, "usesTaskDependencies", true) < 0)
        goto fail;
    if (s->nsubscriptions > 0) {
        json_t *subs = subs_json(s->subscriptions, s->nsubscriptions);

        if (!subs ||
            json_object_set_new(o, "notificationSubscriptions", subs) < 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

int shoal_job_add(shoal_client *c, const struct shoal_job_spec *spec)
{
    json_t *body = NULL;
    int rc;

    if (!spec)
        return client_fail(c, SHOAL_ERR_INVALID, "no job spec");
    if (spec->json) {
        rc = batchreq_parse_user(c, spec->json, &body);
        if (rc < 0)
            return rc;
    } else {
        if (!spec->id || !*spec->id || !spec->pool_id || !*spec->pool_id ||
            spec->priority < -1000 || spec->priority > 1000)
            return client_fail(
                c, SHOAL_ERR_INVALID,
                "a job needs an id, a pool and a priority in -1000..1000");
        body = job_json(spec);
        if (!body)
            return client_fail(c, SHOAL_ERR_INVALID,
                               "job spec: bad subscription, out of memory "
                               "or text not UTF-8");
    }
    if (spec->json && spec->nsubscriptions > 0 &&
        !json_object_get(body, "notificationSubscriptions")) {
        json_t *subs = subs_json(spec->subscriptions, spec->nsubscriptions);

        if (!subs ||
            json_object_set_new(body, "notificationSubscriptions", subs) < 0) {
            json_decref(body);
            return client_fail(c, SHOAL_ERR_INVALID,
                               "bad subscription or out of memory");
        }
    }
    rc = batchreq_call(c, "POST", "jobs", NULL, NULL, NULL, body, NULL);
    json_decref(body);
    return rc;
}

int shoal_job_get(shoal_client *c, const char *id, const char *select,
                  shoal_doc **out)
{
    return batchreq_get_path(c, "jobs", id ? id : "", NULL, NULL, select, out);
}

int shoal_job_list(shoal_client *c, const struct shoal_query *q,
                   shoal_doc **out)
{
    return batchreq_list_path(c, "jobs", NULL, NULL, NULL, q, out);
}

int shoal_job_terminate(shoal_client *c, const char *id, const char *reason)
{
    json_t *body = NULL;
    struct req r;
    int rc;

    rc = batchreq_init(c, &r, "POST", "jobs", id ? id : "", "terminate", NULL);
    if (rc < 0)
        return rc;
    if (reason) {
        body = json_object();
        if (!body || batchreq_set_str(body, "terminateReason", reason) < 0) {
            json_decref(body);
            req_release(&r);
            return client_fail(c, SHOAL_ERR_INVALID, "bad terminate reason");
        }
    }
    rc = batchreq_send(c, &r, body, NULL);
    json_decref(body);
    req_release(&r);
    return rc;
}

int shoal_job_delete(shoal_client *c, const char *id)
{
    return batchreq_call(c, "DELETE", "jobs", id ? id : "", NULL, NULL, NULL,
                         NULL);
}

int shoal_job_patch(shoal_client *c, const char *id, const char *json)
{
    json_t *body = NULL;
    int rc;

    rc = batchreq_parse_user(c, json, &body);
    if (rc < 0)
        return rc;
    rc =
        batchreq_call(c, "PATCH", "jobs", id ? id : "", NULL, NULL, body, NULL);
    json_decref(body);
    return rc;
}

int shoal_job_subscriptions(shoal_client *c, const char *job, shoal_doc **out)
{
    return batchreq_list_path(c, "jobs", job ? job : "", JOB_SUBS, NULL, NULL,
                              out);
}

static int put_subs(shoal_client *c, const char *job, json_t *arr)
{
    json_t *body = json_object();
    int rc;

    if (!body) {
        json_decref(arr);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    /* set_new takes arr even when it fails. */
    if (json_object_set_new(body, "value", arr) < 0) {
        json_decref(body);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    rc = batchreq_call(c, "PUT", "jobs", job ? job : "", JOB_SUBS, NULL, body,
                       NULL);
    json_decref(body);
    return rc;
}

int shoal_job_set_subscriptions(shoal_client *c, const char *job,
                                const struct shoal_subscription *subs, size_t n)
{
    json_t *arr = subs_json(subs, n);

    if (!arr)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "a subscription needs an endpoint id and a "
                           "target (all or final)");
    return put_subs(c, job, arr);
}

/*
 * Read the set, drop endpoint_id from it, add it back with target unless
 * target is 0 (unsubscribe), and write the set.
 */
static int change_sub(shoal_client *c, const char *job, const char *endpoint_id,
                      int target)
{
    struct shoal_subscription one;
    shoal_doc *d = NULL;
    json_t *arr = NULL, *add = NULL;
    bool found = false;
    size_t i, n;
    int rc;

    if (!endpoint_id || !*endpoint_id)
        return client_fail(c, SHOAL_ERR_INVALID, "empty endpoint id");
    if (target) {
        one.endpoint_id = endpoint_id;
        one.target = (enum shoal_target_state)target;
        add = subs_json(&one, 1);
        if (!add)
            return client_fail(c, SHOAL_ERR_INVALID,
                               "target must be all or final");
    }
    rc = shoal_job_subscriptions(c, job, &d);
    if (rc < 0)
        goto out;
    arr = json_array();
    if (!arr) {
        rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        goto out;
    }
    n = shoal_doc_count(d);
    for (i = 0; i < n; i++) {
        const char *id = shoal_doc_str(d, i, "notificationEndPointId");
        const char *t = shoal_doc_str(d, i, "targetJobState");
        json_t *o;

        if (!id || !t)
            continue;
        if (strcmp(id, endpoint_id) == 0) {
            found = true;
            continue;
        }
        o = json_pack("{s:s,s:s}", "notificationEndPointId", id,
                      "targetJobState", t);
        if (!o || json_array_append_new(arr, o) < 0) {
            rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if (!target && !found) {
        rc = client_fail(c, SHOAL_ERR_NOTFOUND,
                         "job '%s' has no subscription for endpoint '%s'", job,
                         endpoint_id);
        goto out;
    }
    if (add && json_array_extend(arr, add) < 0) {
        rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = put_subs(c, job, arr);
    arr = NULL; /* taken by put_subs */
out:
    json_decref(add);
    json_decref(arr);
    shoal_doc_free(d);
    return rc;
}

int shoal_job_subscribe(shoal_client *c, const char *job,
                        const char *endpoint_id, enum shoal_target_state target)
{
    if (target != SHOAL_TARGET_ALL && target != SHOAL_TARGET_FINAL)
        return client_fail(c, SHOAL_ERR_INVALID, "target must be all or final");
    return change_sub(c, job, endpoint_id, (int)target);
}

int shoal_job_unsubscribe(shoal_client *c, const char *job,
                          const char *endpoint_id)
{
    return change_sub(c, job, endpoint_id, 0);
}
