/*
 * deps.c: task dependencies (dependsOn), at a cost linear in the edges.
 *
 * Purpose: hold each task of a usesTaskDependencies job out of its pool's
 * queue until every task it depends on has completed in a way that
 * satisfies it, for graphs of 100,000 tasks (chains, fan-outs of 10,000,
 * diamonds) without ever scanning a job's tasks.
 *
 * Structures:
 *   mtask.deps_unmet      unmet dependencies: one per taskIds entry not yet
 *                         satisfied, one per taskIdRanges range not yet
 *                         wholly satisfied. sched_enqueue() queues a task
 *                         only while it is 0.
 *   mtask.deps_satisfied  the task completed and released its dependents;
 *                         set once, never cleared.
 *   mtask.dep_ranges      a cursor per range: the next id of the range not
 *                         yet seen satisfied, and the range's end (one
 *                         malloc block; model_task_free frees it).
 *   deps_job.waiting      per job, made on first need: task id -> waiters
 *                         (dependent rowid, range index or -1 for a
 *                         taskIds entry). This is the reverse adjacency:
 *                         whom to tell when that id is satisfied. It is
 *                         keyed by id, not by task, so a dependency on a
 *                         task not added yet simply waits for the id.
 *
 * Ranges are expanded lazily: a range waits on one id at a time, the one at
 * its cursor. When that id is satisfied the cursor walks past every
 * satisfied id after it and waits on the next one, or the range is done.
 * A range naming ids that never get added waits on the first missing one
 * (one waiter), so [0, 2^31) costs what the tasks it really names cost.
 *
 * Costs: adding a task is O(its taskIds + cursor steps); satisfying one is
 * O(its waiters + cursor steps). Each waiter is visited once and each
 * cursor step passes one satisfied task, so a whole graph costs O(edges)
 * (a range counting an edge per task of it that exists). deps_job.ops
 * counts exactly these steps for the unit tests.
 *
 * Semantics where the spec is silent (chosen, documented here):
 *   - taskIds compare case-insensitively, like task ids; a range names
 *     canonical decimal ids ("7", not "07"), negative ones included.
 *   - a dependency on a task that does not exist waits for it; a range
 *     waits until every id in it exists and is satisfied. The dependent
 *     stays active meanwhile, like one whose dependency failed and blocks.
 *   - satisfaction is final: reactivating a task that already released its
 *     dependents (a failure with dependencyAction satisfy) does not hold
 *     them back; a blocking failure that is reactivated releases them when
 *     it later completes in a satisfying way.
 *   - deleting a task others wait on leaves them waiting for its id (a new
 *     task of that id may satisfy them); a deleted dependent leaves stale
 *     waiters, skipped by rowid lookup when their id is satisfied.
 *   - a dependent completed while waiting (terminated, job terminated)
 *     keeps its count: reactivated, it still waits.
 *
 * Durability: nothing here is stored. deps_recover() rebuilds it after a
 * load: satisfied = completed and exitcond says satisfy (the same inputs
 * it had), then the dependsOn of every task that has not run is
 * registered again. One difference: a task whose dependency satisfied it
 * and was then reactivated waits for that dependency again after a
 * restart, since satisfaction is recomputed from current states.
 *
 * Threads: model->mu, held by the caller. Ownership: the job owns its
 * deps_job (deps_job_free); tasks own their dep_ranges.
 */
#include "batch/deps.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/exitcond.h"
#include "batch/idmap.h"
#include "batch/sched.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

struct deps_cursor {
    int64_t next, end;
};

struct deps_ranges {
    size_t n;
    struct deps_cursor c[];
};

struct deps_waiter {
    uint64_t rowid;
    int32_t range; /* index in the dependent's dep_ranges, -1 = taskIds */
};

struct deps_wait {
    struct deps_waiter *v;
    size_t n, cap;
};

struct deps_job {
    struct idmap waiting; /* id -> struct deps_wait */
    uint64_t ops;
};

bool deps_job_enabled(const struct mjob *j)
{
    return json_is_true(json_object_get(j->spec, "usesTaskDependencies"));
}

int deps_check_add(const struct mjob *j, json_t *spec, struct err *err)
{
    if (!json_object_get(spec, "dependsOn") || deps_job_enabled(j))
        return 0;
    return err_set(err, ERR_INVALID, "TaskDependenciesNotSpecifiedOnJob",
                   "the task depends on other tasks but job '%s' does not "
                   "use task dependencies",
                   j->id);
}

static struct deps_job *job_deps(struct mjob *j)
{
    if (!j->deps) {
        j->deps = xcalloc(1, sizeof(*j->deps));
        idmap_init(&j->deps->waiting);
    }
    return j->deps;
}

static void wait_on(struct deps_job *d, const char *id, uint64_t rowid,
                    int32_t range)
{
    struct deps_wait *w = idmap_get(&d->waiting, id);

    if (!w) {
        w = xcalloc(1, sizeof(*w));
        idmap_put(&d->waiting, id, w);
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4, bytes;
        if (!size_mul(cap, sizeof(*w->v), &bytes))
            BUG("too many waiters");
        w->v = xrealloc(w->v, bytes);
        w->cap = cap;
    }
    w->v[w->n].rowid = rowid;
    w->v[w->n].range = range;
    w->n++;
    d->ops++;
}

/*
 * Move range i of t past the satisfied ids at its cursor. True when the
 * whole range is satisfied; otherwise t now waits on the cursor's id.
 */
static bool range_advance(struct mjob *j, struct deps_job *d, struct mtask *t,
                          size_t i)
{
    struct deps_cursor *c = &t->dep_ranges->c[i];
    char key[24];

    while (c->next <= c->end) {
        struct mtask *dep;
        snprintf(key, sizeof(key), "%" PRId64, c->next);
        dep = model_task_find(j, key);
        d->ops++;
        if (!dep || !dep->deps_satisfied) {
            wait_on(d, key, t->rowid, (int32_t)i);
            return false;
        }
        c->next++;
    }
    return true;
}

static bool has_depends_on(const struct mtask *t)
{
    /* Compact dump of a validated object: the key can only be the
     * top-level property (see exitcond.c). */
    return t->spec && strstr(t->spec, "\"dependsOn\":") != NULL;
}

void deps_task_added(struct model *m, struct mtask *t, json_t *spec)
{
    struct mjob *j = t->job;
    json_t *parsed = NULL, *dep, *ranges, *v;
    struct deps_job *d;
    size_t i, n, bytes;

    (void)m;
    if (!deps_job_enabled(j))
        return;
    if (!spec) {
        if (!has_depends_on(t))
            return;
        spec = parsed = model_task_spec_json(t);
    }
    dep = json_object_get(spec, "dependsOn");
    if (!json_is_object(dep))
        goto out;
    d = job_deps(j);
    t->deps_unmet = 0;
    json_array_foreach(json_object_get(dep, "taskIds"), i, v)
    {
        const char *id = json_string_value(v);
        struct mtask *x;
        if (!id)
            continue;
        x = model_task_find(j, id);
        d->ops++;
        if (x && x->deps_satisfied)
            continue;
        wait_on(d, id, t->rowid, -1);
        t->deps_unmet++;
    }
    ranges = json_object_get(dep, "taskIdRanges");
    n = json_array_size(ranges);
    if (n == 0)
        goto out;
    if (!size_mul(n, sizeof(struct deps_cursor), &bytes) ||
        !size_add(bytes, sizeof(struct deps_ranges), &bytes))
        BUG("too many ranges");
    free(t->dep_ranges);
    t->dep_ranges = xmalloc(bytes);
    t->dep_ranges->n = n;
    json_array_foreach(ranges, i, v)
    {
        t->dep_ranges->c[i].next =
            json_integer_value(json_object_get(v, "start"));
        t->dep_ranges->c[i].end = json_integer_value(json_object_get(v, "end"));
        if (!range_advance(j, d, t, i))
            t->deps_unmet++;
    }
out:
    json_decref(parsed);
}

/* One waiter of a satisfied id: its dependent may now be runnable. */
static void release_one(struct model *m, struct mjob *j, struct deps_job *d,
                        const struct deps_waiter *w)
{
    struct mtask *x = u64map_get(&m->tasks, w->rowid);

    d->ops++;
    if (!x || x->job != j || x->deps_unmet == 0)
        return; /* a stale waiter: its task was deleted */
    if (w->range >= 0) {
        if (!x->dep_ranges || (size_t)w->range >= x->dep_ranges->n)
            return;
        if (!range_advance(j, d, x, (size_t)w->range))
            return;
    }
    if (--x->deps_unmet == 0)
        sched_enqueue(m, x);
}

void deps_task_completed(struct model *m, struct mtask *t)
{
    struct mjob *j = t->job;
    struct exitcond_options xo;
    struct deps_wait *w;

    if (t->deps_satisfied || !deps_job_enabled(j))
        return;
    exitcond_eval(t, NULL, &xo);
    if (!xo.satisfy)
        return;
    t->deps_satisfied = true;
    if (!j->deps)
        return;
    /* Detach the list first: releasing may add waiters on other ids. */
    w = idmap_del(&j->deps->waiting, t->id);
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        release_one(m, j, j->deps, &w->v[i]);
    free(w->v);
    free(w);
}

void deps_recover(struct model *m)
{
    for (size_t i = 0; i < m->njobs; i++) {
        struct mjob *j = m->job_list[i];
        if (!deps_job_enabled(j))
            continue;
        for (size_t k = 0; k < j->ntasks; k++) {
            struct mtask *t = j->tasks[k];
            struct exitcond_options xo;
            if (!t || t->state != TASK_COMPLETED)
                continue;
            exitcond_eval(t, NULL, &xo);
            t->deps_satisfied = xo.satisfy;
        }
        /* Tasks that have not run: active, or completed without ever
         * being assigned (terminated while they waited). */
        for (size_t k = 0; k < j->ntasks; k++) {
            struct mtask *t = j->tasks[k];
            if (t && (t->state == TASK_ACTIVE ||
                      (t->state == TASK_COMPLETED && t->attempt == 0)))
                deps_task_added(m, t, NULL);
        }
    }
}

void deps_job_free(struct mjob *j)
{
    struct deps_job *d = j->deps;

    if (!d)
        return;
    for (size_t i = 0; i < d->waiting.cap; i++) {
        struct deps_wait *w = d->waiting.ents[i].val;
        if (!d->waiting.ents[i].key || !w)
            continue;
        free(w->v);
        free(w);
    }
    idmap_release(&d->waiting);
    free(d);
    j->deps = NULL;
}

uint64_t deps_ops(const struct mjob *j)
{
    return j->deps ? j->deps->ops : 0;
}
