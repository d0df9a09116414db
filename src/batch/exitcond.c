/*
 * exitcond.c: task exitConditions -> the ExitOptions that apply.
 *
 * Purpose: decide, when a task completes, what its job does (jobAction
 * none | disable | terminate) and what its dependents do (dependencyAction
 * satisfy | block), after the REST spec's ExitConditions and ExitOptions
 * (specs/batch, 2022-10-01.16.0).
 *
 * Which entry applies to a completed task:
 *   1. exitCodes: the first entry whose code is the task's exit code;
 *   2. exitCodeRanges: the first range (inclusive) holding the exit code;
 *   3. for a failure only (a success without an entry takes the defaults,
 *      as the spec says "default" is for non-zero codes):
 *        the command never ran (no exit code; a download or launch error,
 *          not a user terminate)           -> preProcessingError;
 *        an output upload failed (failureInfo code FileUpload*)
 *                                           -> fileUploadError;
 *      and when that one is absent, or for any other failure -> default.
 *   An exit code listed in 1 or 2 wins over an upload error, as the spec
 *   says. A task killed at its maxWallClockTime has exit code 137 and goes
 *   through 1, 2 and default like any non-zero exit.
 * Defaults for what no entry says: success -> jobAction none,
 * dependencyAction satisfy; failure -> terminate, block. The jobAction is
 * acted on (sched.c) only when the job's onTaskFailure is
 * performexitoptionsjobaction, and only for tasks that completed by
 * themselves (a user terminate never triggers it); a jobAction other than
 * none on a task of a noaction job is refused at add (400).
 *
 * Inputs are validated specs (spec.c: enum values lower case, ints in
 * range), so nothing here re-checks types beyond what a lookup needs.
 *
 * Threads: pure functions; callers hold the model lock for the task and
 * job they pass. Ownership: specs are borrowed; a spec parsed here is
 * freed here.
 */
#include "batch/exitcond.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/parse.h"

static bool has_exit_conditions(const struct mtask *t)
{
    /* Specs are compact dumps of validated objects: the key can only
     * appear as a top-level property (nested schemas do not use it, and
     * a quote inside a string is escaped). */
    return t->spec && strstr(t->spec, "\"exitConditions\":") != NULL;
}

static json_t *find_code(json_t *xc, int code)
{
    json_t *v;
    size_t i;

    json_array_foreach(json_object_get(xc, "exitCodes"), i, v)
    {
        if (json_integer_value(json_object_get(v, "code")) == code)
            return json_object_get(v, "exitOptions");
    }
    json_array_foreach(json_object_get(xc, "exitCodeRanges"), i, v)
    {
        json_int_t lo = json_integer_value(json_object_get(v, "start"));
        json_int_t hi = json_integer_value(json_object_get(v, "end"));
        if (code >= lo && code <= hi)
            return json_object_get(v, "exitOptions");
    }
    return NULL;
}

static json_t *find_options(const struct mtask *t, json_t *xc, bool failed)
{
    json_t *opt = NULL;

    if (t->has_exit)
        opt = find_code(xc, t->exit_code);
    if (opt || !failed)
        return opt;
    if (!t->has_exit && !(t->fail && strcmp(t->fail->code, "TaskEnded") == 0))
        opt = json_object_get(xc, "preProcessingError");
    else if (t->fail && strncmp(t->fail->code, "FileUpload", 10) == 0)
        opt = json_object_get(xc, "fileUploadError");
    return opt ? opt : json_object_get(xc, "default");
}

void exitcond_eval(const struct mtask *t, json_t *spec,
                   struct exitcond_options *out)
{
    bool failed = t->result == RESULT_FAILURE;
    json_t *parsed = NULL, *xc, *opt, *v;
    const char *s;

    out->job_action = failed ? EXITCOND_JOB_TERMINATE : EXITCOND_JOB_NONE;
    out->satisfy = !failed;
    if (!spec) {
        if (!has_exit_conditions(t))
            return;
        spec = parsed = model_task_spec_json(t);
    }
    xc = json_object_get(spec, "exitConditions");
    opt = json_is_object(xc) ? find_options(t, xc, failed) : NULL;
    if (json_is_object(opt)) {
        v = json_object_get(opt, "jobAction");
        s = json_string_value(v);
        if (s && str_ieq(s, "none"))
            out->job_action = EXITCOND_JOB_NONE;
        else if (s && str_ieq(s, "disable"))
            out->job_action = EXITCOND_JOB_DISABLE;
        else if (s && str_ieq(s, "terminate"))
            out->job_action = EXITCOND_JOB_TERMINATE;
        s = json_string_value(json_object_get(opt, "dependencyAction"));
        if (s && str_ieq(s, "satisfy"))
            out->satisfy = true;
        else if (s && str_ieq(s, "block"))
            out->satisfy = false;
    }
    json_decref(parsed);
}

bool exitcond_job_acts(const struct mjob *j)
{
    const char *s =
        json_string_value(json_object_get(j->spec, "onTaskFailure"));

    return s && str_ieq(s, "performexitoptionsjobaction");
}

/* 400 when opt names a jobAction other than none; path names opt. */
static int check_options(json_t *opt, const char *path, struct err *err)
{
    const char *s = json_string_value(json_object_get(opt, "jobAction"));
    char prop[128];

    if (!s || str_ieq(s, "none"))
        return 0;
    snprintf(prop, sizeof(prop), "%s.jobAction", path);
    err_set(err, ERR_INVALID, "InvalidPropertyValue",
            "the value provided for property '%s' is invalid", prop);
    err_add_detail(err, "PropertyName", prop);
    err_add_detail(err, "Reason",
                   "a jobAction needs the job's onTaskFailure to be "
                   "performexitoptionsjobaction");
    return -ERR_INVALID;
}

int exitcond_check_add(const struct mjob *j, json_t *spec, struct err *err)
{
    static const char *const lists[] = { "exitCodes", "exitCodeRanges" };
    static const char *const singles[] = { "preProcessingError",
                                           "fileUploadError", "default" };
    json_t *xc = json_object_get(spec, "exitConditions"), *v;
    char path[128];
    size_t i;

    if (!json_is_object(xc) || exitcond_job_acts(j))
        return 0;
    for (size_t k = 0; k < ARRAY_SIZE(lists); k++) {
        json_array_foreach(json_object_get(xc, lists[k]), i, v)
        {
            snprintf(path, sizeof(path), "exitConditions.%s[%zu].exitOptions",
                     lists[k], i);
            if (check_options(json_object_get(v, "exitOptions"), path, err) < 0)
                return -ERR_INVALID;
        }
    }
    for (size_t k = 0; k < ARRAY_SIZE(singles); k++) {
        snprintf(path, sizeof(path), "exitConditions.%s", singles[k]);
        if (check_options(json_object_get(xc, singles[k]), path, err) < 0)
            return -ERR_INVALID;
    }
    return 0;
}
