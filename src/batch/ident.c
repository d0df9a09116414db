/*
 * ident.c: which user a task runs as on its node.
 *
 * Purpose: keep the tasks of one job from reading another job's files,
 * while tasks of the same job (and its preparation and release tasks)
 * share theirs, as the real service's auto-users do.
 *
 * Scheme. When the agent runs as root, every task gets a numeric user and
 * group that exist only as numbers (no /etc/passwd entry is made; HOME is
 * the task's wd). shoald hands the agent two keys per assignment and the
 * agent maps each into its id window (agent.c: id = base + key % span):
 *
 *   groupKey  the job's rowid: every task of the job, admin or not, runs
 *             in this group, and the job's directories on the node
 *             (workitems/JOB, its job-1/ and each task_dir) belong to it
 *             with mode 0750, so no other job's task can even traverse
 *             them;
 *   userKey   autoUser.scope task: the task's rowid (a user of its own);
 *             scope pool (the default) or a named pool user account: the
 *             job's rowid, shared by the job's tasks on the node (a truly
 *             pool-wide user would let one job read another's files
 *             through /proc/PID/cwd, so "pool" is narrowed to the job);
 *             job preparation and release tasks: the job's rowid;
 *   admin     elevationLevel admin: uid 0 in the job's group, which can
 *             read everything on the node.
 *
 * Every task also keeps the pool's shared group (the group of node.run_as,
 * which owns AZ_BATCH_NODE_SHARED_DIR and the start task's files) as a
 * supplementary group, so what a start task installs stays usable.
 * Rowids are unique across pools, jobs and tasks, so two keys never name
 * the same id until the agent's window wraps (see agent.c).
 *
 * Threads: pure functions; callers hold the model lock. Ownership: inputs
 * are borrowed.
 */
#include "batch/ident.h"

#include <string.h>

#include "core/parse.h"

bool ident_is_admin(const struct mpool *p, json_t *identity)
{
    json_t *au = json_object_get(identity, "autoUser");
    const char *user = json_string_value(json_object_get(identity, "username"));
    json_t *accts, *a;
    size_t i;

    if (au) {
        const char *lvl =
            json_string_value(json_object_get(au, "elevationLevel"));
        return lvl && str_ieq(lvl, "admin");
    }
    if (!user || !p)
        return false;
    accts = json_object_get(p->spec, "userAccounts");
    json_array_foreach(accts, i, a)
    {
        const char *name = json_string_value(json_object_get(a, "name"));
        const char *lvl =
            json_string_value(json_object_get(a, "elevationLevel"));
        if (name && strcmp(name, user) == 0)
            return lvl && str_ieq(lvl, "admin");
    }
    return false;
}

void ident_add(json_t *o, const struct mpool *p, const struct mjob *j,
               uint64_t task_rowid, json_t *identity)
{
    const char *scope = json_string_value(
        json_object_get(json_object_get(identity, "autoUser"), "scope"));
    uint64_t user = j->rowid;

    if (task_rowid && scope && str_ieq(scope, "task"))
        user = task_rowid;
    json_object_set_new(o, "admin", json_boolean(ident_is_admin(p, identity)));
    json_object_set_new(o, "userKey", json_integer((json_int_t)user));
    json_object_set_new(o, "groupKey", json_integer((json_int_t)j->rowid));
}
