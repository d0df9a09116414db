#ifndef SHOAL_BATCH_IDENT_H
#define SHOAL_BATCH_IDENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "batch/model.h"

/*
 * Task identities (private to batch/; see ident.c for the scheme): whether
 * a task runs as admin, and the numbers ("keys") from which its node agent
 * makes the uid and gid it runs as. Pure functions of the model; the caller
 * holds the model lock.
 */

/*
 * Whether a userIdentity (task, start task, prep or release; NULL or {}
 * when absent) runs elevated: autoUser.elevationLevel admin, or a pool
 * userAccounts entry named by username with elevationLevel admin.
 */
bool ident_is_admin(const struct mpool *p, json_t *identity);

/*
 * Add "admin", "userKey" and "groupKey" to the assignment o for a task of
 * j on a node of pool p. task_rowid is the task's rowid, or 0 for the
 * job's preparation and release tasks (which always take the job's user).
 * identity is the userIdentity of the spec (borrowed, may be NULL).
 */
void ident_add(json_t *o, const struct mpool *p, const struct mjob *j,
               uint64_t task_rowid, json_t *identity);

#endif
