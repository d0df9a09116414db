/*
 * shoal_job.c: Batch jobs.
 *
 * Requests (batch-wire.md §6):
 *   add        POST   /jobs                   201 {id, poolInfo{poolId}, ...}
 *   get, list  GET    /jobs[/J]
 *   terminate  POST   /jobs/J/terminate       202 [{terminateReason}]
 *   delete     DELETE /jobs/J                 202
 *   patch      PATCH  /jobs/J                 200 (supplied fields only)
 *
 * Thread-safe: all state is per call.
 */
#include "client/clientint.h"

#include <jansson.h>

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
    return o;
fail:
    json_decref(o);
    return NULL;
}

int shoal_job_add(shoal_client *c, const struct shoal_job_spec *spec)
{
    json_t *body = NULL;
    struct req r;
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
                               "job spec: out of memory or text not UTF-8");
    }
    rc = batchreq_init(c, &r, "POST", "jobs", NULL, NULL, NULL);
    if (rc == 0) {
        rc = batchreq_send(c, &r, body, NULL);
        req_release(&r);
    }
    json_decref(body);
    return rc;
}

int shoal_job_get(shoal_client *c, const char *id, const char *select,
                  shoal_doc **out)
{
    struct req r;
    int rc;

    rc = batchreq_init(c, &r, "GET", "jobs", id ? id : "", NULL, NULL);
    if (rc < 0)
        return rc;
    rc = batchreq_get(c, &r, select, out);
    req_release(&r);
    return rc;
}

int shoal_job_list(shoal_client *c, const struct shoal_query *q,
                   shoal_doc **out)
{
    struct req r;
    int rc;

    rc = batchreq_init(c, &r, "GET", "jobs", NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    rc = batchreq_list(c, &r, q, out);
    req_release(&r);
    return rc;
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
    struct req r;
    int rc;

    rc = batchreq_init(c, &r, "DELETE", "jobs", id ? id : "", NULL, NULL);
    if (rc < 0)
        return rc;
    rc = batchreq_send(c, &r, NULL, NULL);
    req_release(&r);
    return rc;
}

int shoal_job_patch(shoal_client *c, const char *id, const char *json)
{
    json_t *body = NULL;
    struct req r;
    int rc;

    rc = batchreq_parse_user(c, json, &body);
    if (rc < 0)
        return rc;
    rc = batchreq_init(c, &r, "PATCH", "jobs", id ? id : "", NULL, NULL);
    if (rc == 0) {
        rc = batchreq_send(c, &r, body, NULL);
        req_release(&r);
    }
    json_decref(body);
    return rc;
}
