#ifndef SHOAL_BATCH_EXITCOND_H
#define SHOAL_BATCH_EXITCOND_H

#include <jansson.h>
#include <stdbool.h>

#include "batch/model.h"

struct err;

/*
 * Task exit conditions (private to batch/; see exitcond.c for the design
 * note): which ExitOptions of a task's exitConditions apply to the way it
 * completed, with the spec's defaults. Pure functions of the task and its
 * job; any thread that holds the model lock.
 */
enum exitcond_job_action {
    EXITCOND_JOB_NONE,
    EXITCOND_JOB_DISABLE,
    EXITCOND_JOB_TERMINATE,
};

struct exitcond_options {
    enum exitcond_job_action job_action;
    bool satisfy; /* dependencyAction satisfy (else block) */
};

/*
 * The options for t as it completed (its result, exit code and failure
 * code): the matching exitCodes entry, else exitCodeRanges, else for a
 * failure preProcessingError (the command never ran), fileUploadError (an
 * upload failed) or default. Fields an entry leaves out, and tasks without
 * a matching entry, take the defaults: jobAction none and dependencyAction
 * satisfy for a success, terminate and block for a failure. spec is t's
 * parsed spec (borrowed) or NULL to parse t->spec when it has
 * exitConditions.
 */
void exitcond_eval(const struct mtask *t, json_t *spec,
                   struct exitcond_options *out);

/* Whether j acts on jobAction (onTaskFailure performexitoptionsjobaction). */
bool exitcond_job_acts(const struct mjob *j);

/*
 * Add-time check of a validated TaskAddParameter against its job: a
 * jobAction other than none while the job's onTaskFailure is noaction is
 * 400 InvalidPropertyValue naming the property. 0 when it may be added.
 */
int exitcond_check_add(const struct mjob *j, json_t *spec, struct err *err);

#endif
