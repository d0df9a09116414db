/*
 * prep_api.c: Job_ListPreparationAndReleaseTaskStatus.
 *
 *   GET /jobs/{j}/jobpreparationandreleasetaskstatus   200
 *
 * One entry per node where the job's preparation or release task has run
 * (nodes since removed included), in the order the job first reached each
 * node: {poolId, nodeId, nodeUrl, jobPreparationTaskExecutionInfo,
 * jobReleaseTaskExecutionInfo (once a release ran there)}. A job with
 * neither task is 409 JobPreparationTaskNotSpecified. $filter, $select and
 * maxresults (1..1000) as every list; the continuation token is the
 * record's position (records are only ever appended). The records are
 * prep.c's.
 *
 * Threads: http workers, under the model lock while reading. Ownership:
 * rendered JSON goes to the reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "batch/batchint.h"
#include "batch/odata.h"
#include "batch/prep.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"

/* A record and its job, for the filter getter. */
struct entry {
    const struct mjob *j;
    const struct prep_node *pn;
};

static const char *exec_state(const struct prep_exec *e)
{
    return e->state == PREP_COMPLETED ? "completed" : "running";
}

static json_t *render_exec(const struct prep_exec *e, const char *node_url,
                           const struct mjob *j, const char *task_id,
                           bool retries)
{
    json_t *o = json_object();
    char *dir = xasprintf("workitems/%s/job-1/%s", j->id, task_id);
    char *durl = xasprintf("%s/files/%s", node_url, dir);

    batch_api_time(o, "startTime", e->start_ms);
    if (e->state == PREP_COMPLETED && e->end_ms)
        batch_api_time(o, "endTime", e->end_ms);
    json_object_set_new(o, "state", json_string(exec_state(e)));
    json_object_set_new(o, "taskRootDirectory", json_string(dir));
    json_object_set_new(o, "taskRootDirectoryUrl", json_string(durl));
    if (e->has_exit)
        json_object_set_new(o, "exitCode", json_integer(e->exit_code));
    if (e->fail) {
        json_t *f = json_object();
        json_object_set_new(f, "category", json_string(e->fail->category));
        json_object_set_new(f, "code", json_string(e->fail->code));
        json_object_set_new(f, "message", json_string(e->fail->message));
        json_object_set_new(o, "failureInfo", f);
    }
    if (retries) {
        json_object_set_new(o, "retryCount", json_integer(e->retry));
        if (e->last_retry_ms)
            batch_api_time(o, "lastRetryTime", e->last_retry_ms);
    }
    if (model_result_name(e->result))
        json_object_set_new(o, "result",
                            json_string(model_result_name(e->result)));
    free(dir);
    free(durl);
    return o;
}

static json_t *render(struct breq *b, const struct mjob *j,
                      const struct prep_node *pn)
{
    json_t *o = json_object();
    char *url =
        xasprintf("%s/pools/%s/nodes/%s", b->base, pn->pool_id, pn->node_id);

    json_object_set_new(o, "poolId", json_string(pn->pool_id));
    json_object_set_new(o, "nodeId", json_string(pn->node_id));
    json_object_set_new(o, "nodeUrl", json_string(url));
    if (pn->prep.state != PREP_NONE)
        json_object_set_new(
            o, "jobPreparationTaskExecutionInfo",
            render_exec(&pn->prep, url, j, j->prep->prep_id, true));
    if (pn->rel.state != PREP_NONE)
        json_object_set_new(
            o, "jobReleaseTaskExecutionInfo",
            render_exec(&pn->rel, url, j, j->prep->rel_id, false));
    free(url);
    return o;
}

static int exec_prop(const struct prep_exec *e, const char *prop,
                     struct odata_value *out)
{
    if (strcmp(prop, "state") == 0) {
        if (e && e->state != PREP_NONE) {
            out->type = ODATA_STR;
            out->s = exec_state(e);
        }
    } else if (strcmp(prop, "exitCode") == 0) {
        if (e && e->has_exit) {
            out->type = ODATA_INT;
            out->i = e->exit_code;
        }
    } else if (strcmp(prop, "result") == 0) {
        if (e && model_result_name(e->result)) {
            out->type = ODATA_STR;
            out->s = model_result_name(e->result);
        }
    } else if (strcmp(prop, "retryCount") == 0) {
        out->type = ODATA_INT;
        out->i = e ? e->retry : 0;
    } else {
        return err_set(NULL, ERR_INVALID, "InvalidQueryParameterValue",
                       "unknown property");
    }
    return 0;
}

static int entry_prop(void *ctx, const char *prop, struct odata_value *out)
{
    const struct entry *en = ctx;
    static const char prep[] = "jobPreparationTaskExecutionInfo/";
    static const char rel[] = "jobReleaseTaskExecutionInfo/";

    memset(out, 0, sizeof(*out));
    if (strcmp(prop, "nodeId") == 0 || strcmp(prop, "poolId") == 0) {
        out->type = ODATA_STR;
        out->s = !en                           ? ""
                 : strcmp(prop, "nodeId") == 0 ? en->pn->node_id
                                               : en->pn->pool_id;
        return 0;
    }
    if (strncmp(prop, prep, sizeof(prep) - 1) == 0)
        return exec_prop(en ? &en->pn->prep : NULL, prop + sizeof(prep) - 1,
                         out);
    if (strncmp(prop, rel, sizeof(rel) - 1) == 0)
        return exec_prop(en ? &en->pn->rel : NULL, prop + sizeof(rel) - 1, out);
    return err_set(NULL, ERR_INVALID, "InvalidQueryParameterValue",
                   "unknown property");
}

void prep_api_handle(struct http_req *req)
{
    struct breq *b = batch_api_state(req);
    struct model *m = &b->s->model;
    struct batch_list l;
    struct err e = ERR_INIT;
    const struct mjob *j;
    json_t *items;
    uint64_t next = 0;
    size_t count = 0;

    if (strcmp(req->method, "GET") != 0) {
        batch_api_bad_method(req);
        return;
    }
    if (batch_api_list_start(req, 1000, entry_prop, &l) < 0)
        return;
    items = json_array();
    pthread_mutex_lock(&m->mu);
    j = model_job_find(m, b->acct->name, b->seg[1]);
    if (!j) {
        err_set(&e, ERR_NOTFOUND, "JobNotFound",
                "the specified job '%s' does not exist", b->seg[1]);
    } else if (!prep_job_has(j)) {
        err_set(&e, ERR_CONFLICT, "JobPreparationTaskNotSpecified",
                "the specified job '%s' has no job preparation or release "
                "task",
                j->id);
    }
    for (size_t i = 0; !e.code && i < j->prep->n; i++) {
        const struct prep_node *pn = j->prep->v[i];
        struct entry en = { j, pn };
        bool match = true;
        json_t *o;
        if (pn->seq <= l.after ||
            (pn->prep.state == PREP_NONE && pn->rel.state == PREP_NONE))
            continue;
        if (odata_eval(l.filter, entry_prop, &en, &match, &e) < 0)
            break;
        if (!match)
            continue;
        if (count == l.max) {
            next = pn->seq - 1;
            break;
        }
        o = render(b, j, pn);
        batch_api_select(o, l.select, l.nselect);
        json_array_append_new(items, o);
        count++;
    }
    pthread_mutex_unlock(&m->mu);
    batch_api_list_end(req, &l, "jobpreparationandreleasetaskstatuslist", items,
                       next, &e);
}
