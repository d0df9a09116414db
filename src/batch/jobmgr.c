/*
 * jobmgr.c: job manager tasks.
 *
 * Purpose: run a job's jobManagerTask as the real service does: a task of
 * the job, made with it, scheduled before the job's other tasks, alone on
 * its node when it asks for that, and ending the job when it completes if
 * it says so.
 *
 * Spec (spec.c validates JobManagerTask; jobmgr_spec_normalize fills the
 * defaults the real service shows on Job_Get): id and commandLine are
 * required; displayName, resourceFiles, outputFiles, environmentSettings,
 * constraints, requiredSlots and userIdentity mean what they mean for any
 * task; killJobOnCompletion, runExclusive and allowLowPriorityNode default
 * to true. containerSettings, applicationPackageReferences and
 * authenticationTokenSettings are 501 (spec.c), as for tasks.
 * allowLowPriorityNode is recorded, not interpreted: shoal's nodes are
 * all alike. The normalized object is part of the job's spec, so Job_Get
 * echoes it and the job's storage document keeps it.
 *
 * The task: jobmgr_task_add makes it when the job is made (job_api.c, and
 * schedule.c for each job of a job schedule), with the TaskAddParameter
 * fields of the jobManagerTask, before any other task of the job can
 * exist: its seq is the smallest of the job, so it is first in the job's
 * queue order and stays first across retries (sched.c). It is an ordinary
 * task otherwise (task list and get show it; constraints, retries,
 * retention, terminate and delete apply). Nothing marks it but its id:
 * struct jobmgr (mjob.jm, read from the spec by jobmgr_job_init, so it is
 * rebuilt on load) keeps the id and the two switches the scheduler needs.
 *
 * Scheduling: with runExclusive a run of it holds every slot of its node
 * (jobmgr_slots): it starts only on a node with nothing running and no
 * other task starts beside it. sched_job_check ends an active job whose
 * manager task completed (success or failure, retries spent, or
 * terminated) when killJobOnCompletion: terminateReason JMComplete, the
 * job's running tasks are terminated (sched_job_terminate). A disabled
 * job ends so once enabled again. With killJobOnCompletion false the job
 * goes on (onAllTasksComplete, Job_Terminate, ... as usual).
 *
 * Threads: jobmgr_spec_normalize is pure; the rest runs with the model
 * lock held. Ownership: struct jobmgr belongs to its job.
 */
#include "batch/jobmgr.h"

#include <stdlib.h>
#include <string.h>

#include "batch/sched.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"

/* The JobManagerTask fields that are a TaskAddParameter's too. */
static const char *const task_keys[] = {
    "id",           "displayName",         "commandLine", "resourceFiles",
    "outputFiles",  "environmentSettings", "constraints", "requiredSlots",
    "userIdentity",
};

int jobmgr_spec_normalize(json_t *spec, struct err *err)
{
    json_t *jm = json_object_get(spec, "jobManagerTask");
    static const char *const others[] = { "jobPreparationTask",
                                          "jobReleaseTask" };
    static const char *const flags[] = { "killJobOnCompletion", "runExclusive",
                                         "allowLowPriorityNode" };
    const char *id;

    if (!json_is_object(jm))
        return 0;
    id = json_string_value(json_object_get(jm, "id"));
    for (size_t i = 0; id && i < ARRAY_SIZE(others); i++) {
        const char *o = json_string_value(
            json_object_get(json_object_get(spec, others[i]), "id"));
        if (o && str_ieq(o, id)) {
            err_set(err, ERR_INVALID, "InvalidPropertyValue",
                    "the value provided for property 'jobManagerTask.id' is "
                    "invalid");
            err_add_detail(err, "PropertyName", "jobManagerTask.id");
            err_add_detail(err, "Reason",
                           "the job manager task needs an id of its own, not "
                           "its job preparation or release task's");
            return -ERR_INVALID;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
        if (!json_object_get(jm, flags[i]))
            json_object_set_new(jm, flags[i], json_true());
    }
    return 0;
}

void jobmgr_job_init(struct mjob *j)
{
    json_t *jm = json_object_get(j->spec, "jobManagerTask");
    const char *id = json_string_value(json_object_get(jm, "id"));
    struct jobmgr *g;

    j->jm = NULL;
    if (!id)
        return;
    g = xcalloc(1, sizeof(*g));
    g->id = xstrdup(id);
    /* Absent means the default (true): normalized specs have them. */
    g->kill = !json_is_false(json_object_get(jm, "killJobOnCompletion"));
    g->exclusive = !json_is_false(json_object_get(jm, "runExclusive"));
    j->jm = g;
}

void jobmgr_job_free(struct mjob *j)
{
    if (!j->jm)
        return;
    free(j->jm->id);
    FREE_AND_NULL(j->jm);
}

struct mtask *jobmgr_task_add(struct model *m, struct mjob *j, int64_t now)
{
    json_t *jm = json_object_get(j->spec, "jobManagerTask");
    json_t *ts;
    struct mtask *t;
    char *s;

    if (!j->jm || !json_is_object(jm) || model_task_find(j, j->jm->id))
        return NULL;
    ts = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(task_keys); i++) {
        json_t *v = json_object_get(jm, task_keys[i]);
        if (v)
            json_object_set(ts, task_keys[i], v);
    }
    s = json_dumps(ts, JSON_COMPACT);
    if (!s)
        BUG("out of memory rendering a job manager task");
    t = model_task_new(m, j, j->jm->id, s, ts, now);
    json_decref(ts);
    model_save_task_spec(m, t);
    sched_enqueue(m, t);
    return t;
}

bool jobmgr_is(const struct mtask *t)
{
    const struct jobmgr *g = t->job->jm;

    return g && str_ieq(t->id, g->id);
}

int jobmgr_slots(const struct mtask *t, const struct mpool *p)
{
    const struct jobmgr *g = t->job->jm;

    if (g && g->exclusive && t->slots < p->slots && jobmgr_is(t))
        return p->slots;
    return t->slots;
}

bool jobmgr_ends_job(struct mjob *j)
{
    const struct mtask *t;

    if (!j->jm || !j->jm->kill)
        return false;
    t = model_task_find(j, j->jm->id);
    return t && t->state == TASK_COMPLETED;
}
