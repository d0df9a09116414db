/*
 * spec.c: schema checks for Batch request bodies.
 *
 * Purpose: turn outside JSON into a normalized object the model can store
 * and the scheduler can trust, or into the error the real service gives.
 *
 * Structures: a schema is a table of struct prop rows (name, type,
 * required, bounds, sub-schema, enum values, a custom check); one table
 * per Batch type we accept (TaskAddParameter, ResourceFile, ...), written
 * after the REST spec (specs/batch, 2022-10-01.16.0). check_obj() walks
 * an input object against a table and builds the output object; it
 * recurses into sub-objects and arrays of objects.
 *
 * Errors (batch-wire.md §4):
 *   wrong JSON type, unknown property (strict) -> 400 InvalidRequestBody
 *       with values Reason (as the real OData reader answers);
 *   missing required property -> 400 MissingRequiredProperty, PropertyName;
 *   bad value (range, enum, duration, id, path) -> 400 InvalidPropertyValue,
 *       PropertyName and Reason;
 *   a feature shoal does not implement (containers, autoscale, multi-
 *       instance, application packages, authentication tokens, auto
 *       pools) -> 501 NotImplemented, PropertyName (job preparation,
 *       release and manager tasks are checked here and given their
 *       defaults by prep.c and jobmgr.c);
 *   dependsOn.taskIds longer than 64,000 characters in all ->
 *       400 TaskDependencyListTooLong; more than SPEC_MAX_DEP_RANGES
 *       taskIdRanges (shoal's limit: the real one is not documented) ->
 *       400 TaskDependencyRangesTooLong; a range or exit code range with
 *       start > end -> InvalidPropertyValue. Checks that need the job
 *       (TaskDependenciesNotSpecifiedOnJob, a jobAction on a noaction job)
 *       are deps.c's and exitcond.c's, at add.
 * Property names in errors are paths: "resourceFiles[0].filePath".
 *
 * One extension of our own: PoolAddParameter "x-shoal-allocation" (local,
 * the default, or jointoken: nodes join with a join token; join.c).
 *
 * Invariants: outputs hold only properties of the schema; enum strings are
 * lower case; JSON null counts as absent; ints are JSON integers within the
 * row's bounds. Input is bounded by the HTTP body limit (1 MiB) and
 * jansson's nesting limit.
 *
 * Threads: pure functions, any thread. Ownership: inputs are borrowed,
 * outputs are new references.
 */
#include "batch/spec.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/parse.h"
#include "core/timefmt.h"

enum ptype {
    P_STR,
    P_INT,
    P_BOOL,
    P_DUR,
    P_ENUM,
    P_OBJ,
    P_ARR,     /* of objects (sub) or strings (sub NULL) */
    P_ANY,     /* recorded as given, not interpreted */
    P_NOTIMPL, /* accepted only when absent, null, false or empty */
};

struct schema;

struct prop {
    const char *name;
    enum ptype type;
    bool required;
    int64_t min, max; /* P_INT value, P_STR length, P_ARR items (max) */
    const struct schema *sub;
    const char *const *enums;
    /* Extra check of the output value; fills err, returns < 0. */
    int (*check)(const char *path, json_t *v, struct err *err);
};

struct schema {
    const char *type; /* for error reasons */
    const struct prop *props;
    size_t n;
    int (*check)(const char *path, json_t *obj, struct err *err);
};

#define SCHEMA(T, rows, chk)                         \
    {                                                \
        T, rows, sizeof(rows) / sizeof(rows[0]), chk \
    }
#define BIG INT64_MAX

/* snprintf that may truncate (paths and reasons are bounded on purpose). */
static void fmt(char *out, size_t n, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t n, const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    vsnprintf(out, n, f, ap);
    va_end(ap);
}

/* ---- errors ----------------------------------------------------------- */

static int bad_body(struct err *err, const char *reason)
{
    err_set(err, ERR_INVALID, "InvalidRequestBody",
            "the specified request body is not syntactically valid");
    err_add_detail(err, "Reason", reason);
    return -ERR_INVALID;
}

static int bad_value(struct err *err, const char *path, const char *reason)
{
    err_set(err, ERR_INVALID, "InvalidPropertyValue",
            "the value provided for property '%s' is invalid", path);
    err_add_detail(err, "PropertyName", path);
    err_add_detail(err, "Reason", reason);
    return -ERR_INVALID;
}

static int missing(struct err *err, const char *path)
{
    err_set(err, ERR_INVALID, "MissingRequiredProperty",
            "a required property '%s' was not specified", path);
    err_add_detail(err, "PropertyName", path);
    return -ERR_INVALID;
}

static int notimpl(struct err *err, const char *path)
{
    err_set(err, ERR_NOTIMPL, "NotImplemented",
            "'%s' is not supported by shoal", path);
    err_add_detail(err, "PropertyName", path);
    return -ERR_NOTIMPL;
}

static void join(char *out, size_t outlen, const char *path, const char *name)
{
    if (path && *path)
        fmt(out, outlen, "%s.%s", path, name);
    else
        fmt(out, outlen, "%s", name);
}

/* ---- custom checks ----------------------------------------------------------
 */

bool spec_id_ok(const char *s)
{
    size_t n = 0;

    if (!s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return n >= 1 && n <= SPEC_ID_MAX;
}

static int check_id(const char *path, json_t *v, struct err *err)
{
    if (!spec_id_ok(json_string_value(v)))
        return bad_value(err, path,
                         "ids are 1 to 64 letters, digits, '-' or '_'");
    return 0;
}

static int check_priority(const char *path, json_t *v, struct err *err)
{
    json_int_t p = json_integer_value(v);

    if (p < -1000 || p > 1000) {
        err_set(err, ERR_INVALID, "OutOfRangePriority",
                "the priority must be between -1000 and 1000");
        err_add_detail(err, "PropertyName", path);
        return -ERR_INVALID;
    }
    return 0;
}

static int check_max_parallel(const char *path, json_t *v, struct err *err)
{
    json_int_t p = json_integer_value(v);

    if (p == 0 || p < -1)
        return bad_value(err, path, "maxParallelTasks is -1 or positive");
    return 0;
}

static int check_file_mode(const char *path, json_t *v, struct err *err)
{
    const char *s = json_string_value(v);
    size_t n = strlen(s);

    if (n < 1 || n > 4)
        return bad_value(err, path, "fileMode is an octal mode like 0755");
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '7')
            return bad_value(err, path, "fileMode is an octal mode like 0755");
    }
    return 0;
}

/* A relative path that stays inside the working directory. */
static int check_rel_path(const char *path, json_t *v, struct err *err)
{
    const char *s = json_string_value(v);
    const char *p = s;

    if (!*s || *s == '/' || *s == '\\')
        return bad_value(err, path, "the path must be relative");
    while (*p) {
        size_t n = strcspn(p, "/\\");
        if ((n == 2 && p[0] == '.' && p[1] == '.'))
            return bad_value(err, path,
                             "the path must stay inside the working directory");
        p += n;
        if (*p)
            p++;
    }
    return 0;
}

static int check_not_true(const char *path, json_t *v, struct err *err)
{
    if (json_is_true(v))
        return notimpl(err, path);
    return 0;
}

static int check_resource_file(const char *path, json_t *o, struct err *err)
{
    int n = !!json_object_get(o, "httpUrl") +
            !!json_object_get(o, "storageContainerUrl") +
            !!json_object_get(o, "autoStorageContainerName");

    if (n != 1)
        return bad_value(err, path,
                         "exactly one of httpUrl, storageContainerUrl or "
                         "autoStorageContainerName is required");
    if (json_object_get(o, "httpUrl") && !json_object_get(o, "filePath")) {
        char p[256];
        join(p, sizeof(p), path, "filePath");
        return missing(err, p);
    }
    return 0;
}

static int check_nodes_target(const char *path, json_t *v, struct err *err)
{
    if (json_integer_value(v) < 0)
        return bad_value(err, path, "a node count is not negative");
    return 0;
}

/* ---- schemas
 * ------------------------------------------------------------------ */

static const char *const e_upload[] = { "tasksuccess", "taskfailure",
                                        "taskcompletion", NULL };
static const char *const e_scope[] = { "task", "pool", NULL };
static const char *const e_elev[] = { "nonadmin", "admin", NULL };
static const char *const e_all_done[] = { "noaction", "terminatejob", NULL };
static const char *const e_task_fail[] = { "noaction",
                                           "performexitoptionsjobaction",
                                           NULL };
static const char *const e_fill[] = { "spread", "pack", NULL };
static const char *const e_dealloc[] = { "requeue", "terminate",
                                         "taskcompletion", "retaineddata",
                                         NULL };
static const char *const e_disable[] = { "requeue", "terminate", "wait", NULL };
/* Node operations (nodeops.c) and the join-token pool extension (join.c). */
static const char *const e_node_disable[] = { "requeue", "terminate",
                                              "taskcompletion", NULL };
static const char *const e_alloc[] = { "local", "jointoken", NULL };

static int check_time(const char *path, json_t *v, struct err *err)
{
    int64_t ms;

    if (timefmt_parse_iso8601(json_string_value(v), &ms) < 0)
        return bad_value(err, path, "the value is not an ISO 8601 date-time");
    return 0;
}

static const struct prop reboot_rows[] = {
    { "nodeRebootOption", P_ENUM, false, 0, 0, NULL, e_dealloc, NULL },
};
static const struct schema reboot_s =
    SCHEMA("NodeRebootParameter", reboot_rows, NULL);

static const struct prop node_disable_rows[] = {
    { "nodeDisableSchedulingOption", P_ENUM, false, 0, 0, NULL, e_node_disable,
      NULL },
};
static const struct schema node_disable_s =
    SCHEMA("NodeDisableSchedulingParameter", node_disable_rows, NULL);

static const struct prop upload_logs_rows[] = {
    { "containerUrl", P_STR, true, 1, 8192, NULL, NULL, NULL },
    { "startTime", P_STR, true, 1, 64, NULL, NULL, check_time },
    { "endTime", P_STR, false, 1, 64, NULL, NULL, check_time },
    { "identityReference", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
};
static const struct schema upload_logs_s =
    SCHEMA("UploadBatchServiceLogsConfiguration", upload_logs_rows, NULL);

static const struct prop env_rows[] = {
    { "name", P_STR, true, 1, 1024, NULL, NULL, NULL },
    { "value", P_STR, false, 0, 32768, NULL, NULL, NULL },
};
static const struct schema env_s = SCHEMA("EnvironmentSetting", env_rows, NULL);

static const struct prop meta_rows[] = {
    { "name", P_STR, true, 1, 1024, NULL, NULL, NULL },
    { "value", P_STR, true, 0, 32768, NULL, NULL, NULL },
};
static const struct schema meta_s = SCHEMA("MetadataItem", meta_rows, NULL);

static const struct prop res_rows[] = {
    { "autoStorageContainerName", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "storageContainerUrl", P_STR, false, 1, 8192, NULL, NULL, NULL },
    { "httpUrl", P_STR, false, 1, 8192, NULL, NULL, NULL },
    { "blobPrefix", P_STR, false, 0, 1024, NULL, NULL, NULL },
    { "filePath", P_STR, false, 1, 1024, NULL, NULL, check_rel_path },
    { "fileMode", P_STR, false, 1, 4, NULL, NULL, check_file_mode },
    { "identityReference", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
};
static const struct schema res_s =
    SCHEMA("ResourceFile", res_rows, check_resource_file);

static const struct prop header_rows[] = {
    { "name", P_STR, true, 1, 1024, NULL, NULL, NULL },
    { "value", P_STR, false, 0, 8192, NULL, NULL, NULL },
};
static const struct schema header_s = SCHEMA("HttpHeader", header_rows, NULL);

static const struct prop cont_rows[] = {
    { "path", P_STR, false, 0, 1024, NULL, NULL, NULL },
    { "containerUrl", P_STR, true, 1, 8192, NULL, NULL, NULL },
    { "identityReference", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "uploadHeaders", P_ARR, false, 0, 64, &header_s, NULL, NULL },
};
static const struct schema cont_s =
    SCHEMA("OutputFileBlobContainerDestination", cont_rows, NULL);

static const struct prop dest_rows[] = {
    { "container", P_OBJ, true, 0, 0, &cont_s, NULL, NULL },
};
static const struct schema dest_s =
    SCHEMA("OutputFileDestination", dest_rows, NULL);

static const struct prop upopt_rows[] = {
    { "uploadCondition", P_ENUM, true, 0, 0, NULL, e_upload, NULL },
};
static const struct schema upopt_s =
    SCHEMA("OutputFileUploadOptions", upopt_rows, NULL);

static const struct prop out_rows[] = {
    { "filePattern", P_STR, true, 1, 1024, NULL, NULL, NULL },
    { "destination", P_OBJ, true, 0, 0, &dest_s, NULL, NULL },
    { "uploadOptions", P_OBJ, true, 0, 0, &upopt_s, NULL, NULL },
};
static const struct schema out_s = SCHEMA("OutputFile", out_rows, NULL);

static const struct prop auto_rows[] = {
    { "scope", P_ENUM, false, 0, 0, NULL, e_scope, NULL },
    { "elevationLevel", P_ENUM, false, 0, 0, NULL, e_elev, NULL },
};
static const struct schema auto_s =
    SCHEMA("AutoUserSpecification", auto_rows, NULL);

static const struct prop ident_rows[] = {
    { "username", P_STR, false, 1, 64, NULL, NULL, NULL },
    { "autoUser", P_OBJ, false, 0, 0, &auto_s, NULL, NULL },
};
static const struct schema ident_s = SCHEMA("UserIdentity", ident_rows, NULL);

static const struct prop tcons_rows[] = {
    { "maxWallClockTime", P_DUR, false, 0, 0, NULL, NULL, NULL },
    { "retentionTime", P_DUR, false, 0, 0, NULL, NULL, NULL },
    { "maxTaskRetryCount", P_INT, false, -1, INT32_MAX, NULL, NULL, NULL },
};
static const struct schema tcons_s =
    SCHEMA("TaskConstraints", tcons_rows, NULL);

static const struct prop jcons_rows[] = {
    { "maxWallClockTime", P_DUR, false, 0, 0, NULL, NULL, NULL },
    { "maxTaskRetryCount", P_INT, false, -1, INT32_MAX, NULL, NULL, NULL },
};
static const struct schema jcons_s = SCHEMA("JobConstraints", jcons_rows, NULL);

static int check_range(const char *path, json_t *o, struct err *err)
{
    if (json_integer_value(json_object_get(o, "start")) >
        json_integer_value(json_object_get(o, "end")))
        return bad_value(err, path, "start is greater than end");
    return 0;
}

static const char *const e_job_action[] = { "none", "disable", "terminate",
                                            NULL };
static const char *const e_dep_action[] = { "satisfy", "block", NULL };

static const struct prop exopt_rows[] = {
    { "jobAction", P_ENUM, false, 0, 0, NULL, e_job_action, NULL },
    { "dependencyAction", P_ENUM, false, 0, 0, NULL, e_dep_action, NULL },
};
static const struct schema exopt_s = SCHEMA("ExitOptions", exopt_rows, NULL);

static const struct prop excode_rows[] = {
    { "code", P_INT, true, INT32_MIN, INT32_MAX, NULL, NULL, NULL },
    { "exitOptions", P_OBJ, true, 0, 0, &exopt_s, NULL, NULL },
};
static const struct schema excode_s =
    SCHEMA("ExitCodeMapping", excode_rows, NULL);

static const struct prop exrange_rows[] = {
    { "start", P_INT, true, INT32_MIN, INT32_MAX, NULL, NULL, NULL },
    { "end", P_INT, true, INT32_MIN, INT32_MAX, NULL, NULL, NULL },
    { "exitOptions", P_OBJ, true, 0, 0, &exopt_s, NULL, NULL },
};
static const struct schema exrange_s =
    SCHEMA("ExitCodeRangeMapping", exrange_rows, check_range);

static const struct prop exit_rows[] = {
    { "exitCodes", P_ARR, false, 0, 1000, &excode_s, NULL, NULL },
    { "exitCodeRanges", P_ARR, false, 0, 1000, &exrange_s, NULL, NULL },
    { "preProcessingError", P_OBJ, false, 0, 0, &exopt_s, NULL, NULL },
    { "fileUploadError", P_OBJ, false, 0, 0, &exopt_s, NULL, NULL },
    { "default", P_OBJ, false, 0, 0, &exopt_s, NULL, NULL },
};
static const struct schema exit_s = SCHEMA("ExitConditions", exit_rows, NULL);

static const struct prop affinity_rows[] = {
    { "affinityId", P_STR, true, 1, 1024, NULL, NULL, NULL },
};
static const struct schema affinity_s =
    SCHEMA("AffinityInformation", affinity_rows, NULL);

/* taskIds: valid ids, at most 64,000 characters together (the spec). */
static int check_dep_ids(const char *path, json_t *v, struct err *err)
{
    size_t total = 0, i;
    json_t *e;

    json_array_foreach(v, i, e)
    {
        total += json_string_length(e);
        if (!spec_id_ok(json_string_value(e))) {
            char sub[256];
            fmt(sub, sizeof(sub), "%s[%zu]", path, i);
            return bad_value(err, sub,
                             "ids are 1 to 64 letters, digits, '-' or '_'");
        }
    }
    if (total > SPEC_MAX_DEP_CHARS) {
        err_set(err, ERR_INVALID, "TaskDependencyListTooLong",
                "the task ids of '%s' exceed %d characters", path,
                SPEC_MAX_DEP_CHARS);
        err_add_detail(err, "PropertyName", path);
        return -ERR_INVALID;
    }
    return 0;
}

static int check_dep_ranges(const char *path, json_t *v, struct err *err)
{
    if (json_array_size(v) > SPEC_MAX_DEP_RANGES) {
        err_set(err, ERR_INVALID, "TaskDependencyRangesTooLong",
                "'%s' holds more than %d ranges", path, SPEC_MAX_DEP_RANGES);
        err_add_detail(err, "PropertyName", path);
        return -ERR_INVALID;
    }
    return 0;
}

static const struct prop idrange_rows[] = {
    { "start", P_INT, true, INT32_MIN, INT32_MAX, NULL, NULL, NULL },
    { "end", P_INT, true, INT32_MIN, INT32_MAX, NULL, NULL, NULL },
};
static const struct schema idrange_s =
    SCHEMA("TaskIdRange", idrange_rows, check_range);

static const struct prop deps_rows[] = {
    { "taskIds", P_ARR, false, 0, BIG, NULL, NULL, check_dep_ids },
    { "taskIdRanges", P_ARR, false, 0, BIG, &idrange_s, NULL,
      check_dep_ranges },
};
static const struct schema deps_s = SCHEMA("TaskDependencies", deps_rows, NULL);

static const struct prop task_rows[] = {
    { "id", P_STR, true, 1, 1024, NULL, NULL, check_id },
    { "displayName", P_STR, false, 0, 1024, NULL, NULL, NULL },
    { "commandLine", P_STR, true, 1, 32768, NULL, NULL, NULL },
    { "containerSettings", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "exitConditions", P_OBJ, false, 0, 0, &exit_s, NULL, NULL },
    { "resourceFiles", P_ARR, false, 0, 1000, &res_s, NULL, NULL },
    { "outputFiles", P_ARR, false, 0, 1000, &out_s, NULL, NULL },
    { "environmentSettings", P_ARR, false, 0, 1000, &env_s, NULL, NULL },
    { "affinityInfo", P_OBJ, false, 0, 0, &affinity_s, NULL, NULL },
    { "constraints", P_OBJ, false, 0, 0, &tcons_s, NULL, NULL },
    { "requiredSlots", P_INT, false, 1, 256, NULL, NULL, NULL },
    { "userIdentity", P_OBJ, false, 0, 0, &ident_s, NULL, NULL },
    { "multiInstanceSettings", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "dependsOn", P_OBJ, false, 0, 0, &deps_s, NULL, NULL },
    { "applicationPackageReferences", P_NOTIMPL, false, 0, 0, NULL, NULL,
      NULL },
    { "authenticationTokenSettings", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
};
static const struct schema task_s = SCHEMA("TaskAddParameter", task_rows, NULL);

static const struct prop coll_rows[] = {
    { "value", P_ARR, true, 0, BIG, &task_s, NULL, NULL },
};
static const struct schema coll_s =
    SCHEMA("TaskAddCollectionParameter", coll_rows, NULL);

static const struct prop start_rows[] = {
    { "commandLine", P_STR, true, 1, 32768, NULL, NULL, NULL },
    { "containerSettings", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "resourceFiles", P_ARR, false, 0, 1000, &res_s, NULL, NULL },
    { "environmentSettings", P_ARR, false, 0, 1000, &env_s, NULL, NULL },
    { "userIdentity", P_OBJ, false, 0, 0, &ident_s, NULL, NULL },
    { "maxTaskRetryCount", P_INT, false, -1, INT32_MAX, NULL, NULL, NULL },
    { "waitForSuccess", P_BOOL, false, 0, 0, NULL, NULL, NULL },
};
static const struct schema start_s = SCHEMA("StartTask", start_rows, NULL);

static const struct prop fill_rows[] = {
    { "nodeFillType", P_ENUM, true, 0, 0, NULL, e_fill, NULL },
};
static const struct schema fill_s =
    SCHEMA("TaskSchedulingPolicy", fill_rows, NULL);

static const struct prop pool_rows[] = {
    { "id", P_STR, true, 1, 1024, NULL, NULL, check_id },
    { "displayName", P_STR, false, 0, 1024, NULL, NULL, NULL },
    { "vmSize", P_STR, true, 1, 256, NULL, NULL, NULL },
    { "cloudServiceConfiguration", P_ANY, false, 0, 0, NULL, NULL, NULL },
    { "virtualMachineConfiguration", P_ANY, false, 0, 0, NULL, NULL, NULL },
    { "resizeTimeout", P_DUR, false, 0, 0, NULL, NULL, NULL },
    { "targetDedicatedNodes", P_INT, false, 0, 1000, NULL, NULL,
      check_nodes_target },
    { "targetLowPriorityNodes", P_INT, false, 0, 1000, NULL, NULL,
      check_nodes_target },
    { "enableAutoScale", P_BOOL, false, 0, 0, NULL, NULL, check_not_true },
    { "autoScaleFormula", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "autoScaleEvaluationInterval", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "enableInterNodeCommunication", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "networkConfiguration", P_ANY, false, 0, 0, NULL, NULL, NULL },
    { "startTask", P_OBJ, false, 0, 0, &start_s, NULL, NULL },
    { "certificateReferences", P_ANY, false, 0, 0, NULL, NULL, NULL },
    { "applicationPackageReferences", P_NOTIMPL, false, 0, 0, NULL, NULL,
      NULL },
    { "applicationLicenses", P_ANY, false, 0, 0, NULL, NULL, NULL },
    { "taskSlotsPerNode", P_INT, false, 1, 256, NULL, NULL, NULL },
    { "taskSchedulingPolicy", P_OBJ, false, 0, 0, &fill_s, NULL, NULL },
    { "userAccounts", P_ANY, false, 0, 0, NULL, NULL, NULL },
    { "metadata", P_ARR, false, 0, 1000, &meta_s, NULL, NULL },
    { "mountConfiguration", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "targetNodeCommunicationMode", P_ANY, false, 0, 0, NULL, NULL, NULL },
    /* shoal's extension: "jointoken" pools grow by agents joining. */
    { "x-shoal-allocation", P_ENUM, false, 0, 0, NULL, e_alloc, NULL },
};
static const struct schema pool_s = SCHEMA("PoolAddParameter", pool_rows, NULL);

static const struct prop pool_patch_rows[] = {
    { "startTask", P_OBJ, false, 0, 0, &start_s, NULL, NULL },
    { "certificateReferences", P_ANY, false, 0, 0, NULL, NULL, NULL },
    { "applicationPackageReferences", P_NOTIMPL, false, 0, 0, NULL, NULL,
      NULL },
    { "metadata", P_ARR, false, 0, 1000, &meta_s, NULL, NULL },
    { "targetNodeCommunicationMode", P_ANY, false, 0, 0, NULL, NULL, NULL },
};
static const struct schema pool_patch_s =
    SCHEMA("PoolPatchParameter", pool_patch_rows, NULL);

static const struct prop pool_props_rows[] = {
    { "startTask", P_OBJ, false, 0, 0, &start_s, NULL, NULL },
    { "certificateReferences", P_ANY, true, 0, 0, NULL, NULL, NULL },
    { "applicationPackageReferences", P_NOTIMPL, true, 0, 0, NULL, NULL, NULL },
    { "metadata", P_ARR, true, 0, 1000, &meta_s, NULL, NULL },
    { "targetNodeCommunicationMode", P_ANY, false, 0, 0, NULL, NULL, NULL },
};
static const struct schema pool_props_s =
    SCHEMA("PoolUpdatePropertiesParameter", pool_props_rows, NULL);

static const struct prop resize_rows[] = {
    { "targetDedicatedNodes", P_INT, false, 0, 1000, NULL, NULL, NULL },
    { "targetLowPriorityNodes", P_INT, false, 0, 1000, NULL, NULL, NULL },
    { "resizeTimeout", P_DUR, false, 0, 0, NULL, NULL, NULL },
    { "nodeDeallocationOption", P_ENUM, false, 0, 0, NULL, e_dealloc, NULL },
};
static const struct schema resize_s =
    SCHEMA("PoolResizeParameter", resize_rows, NULL);

static const struct prop remove_rows[] = {
    { "nodeList", P_ARR, true, 1, 100, NULL, NULL, NULL },
    { "resizeTimeout", P_DUR, false, 0, 0, NULL, NULL, NULL },
    { "nodeDeallocationOption", P_ENUM, false, 0, 0, NULL, e_dealloc, NULL },
};
static const struct schema remove_s =
    SCHEMA("NodeRemoveParameter", remove_rows, NULL);

static const struct prop poolinfo_rows[] = {
    { "poolId", P_STR, false, 1, 64, NULL, NULL, check_id },
    { "autoPoolSpecification", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
};
static int check_poolinfo(const char *path, json_t *o, struct err *err)
{
    if (!json_object_get(o, "poolId")) {
        char p[256];
        join(p, sizeof(p), path, "poolId");
        return missing(err, p);
    }
    return 0;
}
static const struct schema poolinfo_s =
    SCHEMA("PoolInformation", poolinfo_rows, check_poolinfo);

/* Job preparation and release tasks (prep.c fills their defaults). */
static const struct prop prep_rows[] = {
    { "id", P_STR, false, 1, 1024, NULL, NULL, check_id },
    { "commandLine", P_STR, true, 1, 32768, NULL, NULL, NULL },
    { "containerSettings", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "resourceFiles", P_ARR, false, 0, 1000, &res_s, NULL, NULL },
    { "environmentSettings", P_ARR, false, 0, 1000, &env_s, NULL, NULL },
    { "constraints", P_OBJ, false, 0, 0, &tcons_s, NULL, NULL },
    { "waitForSuccess", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "userIdentity", P_OBJ, false, 0, 0, &ident_s, NULL, NULL },
    { "rerunOnNodeRebootAfterSuccess", P_BOOL, false, 0, 0, NULL, NULL, NULL },
};
static const struct schema prep_s =
    SCHEMA("JobPreparationTask", prep_rows, NULL);

static const struct prop release_rows[] = {
    { "id", P_STR, false, 1, 1024, NULL, NULL, check_id },
    { "commandLine", P_STR, true, 1, 32768, NULL, NULL, NULL },
    { "containerSettings", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "resourceFiles", P_ARR, false, 0, 1000, &res_s, NULL, NULL },
    { "environmentSettings", P_ARR, false, 0, 1000, &env_s, NULL, NULL },
    { "maxWallClockTime", P_DUR, false, 0, 0, NULL, NULL, NULL },
    { "retentionTime", P_DUR, false, 0, 0, NULL, NULL, NULL },
    { "userIdentity", P_OBJ, false, 0, 0, &ident_s, NULL, NULL },
};
static const struct schema release_s =
    SCHEMA("JobReleaseTask", release_rows, NULL);

/* Job manager tasks (jobmgr.c fills their defaults and makes the task). */
static const struct prop jm_rows[] = {
    { "id", P_STR, true, 1, 1024, NULL, NULL, check_id },
    { "displayName", P_STR, false, 0, 1024, NULL, NULL, NULL },
    { "commandLine", P_STR, true, 1, 32768, NULL, NULL, NULL },
    { "containerSettings", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "resourceFiles", P_ARR, false, 0, 1000, &res_s, NULL, NULL },
    { "outputFiles", P_ARR, false, 0, 1000, &out_s, NULL, NULL },
    { "environmentSettings", P_ARR, false, 0, 1000, &env_s, NULL, NULL },
    { "constraints", P_OBJ, false, 0, 0, &tcons_s, NULL, NULL },
    { "requiredSlots", P_INT, false, 1, 256, NULL, NULL, NULL },
    { "killJobOnCompletion", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "userIdentity", P_OBJ, false, 0, 0, &ident_s, NULL, NULL },
    { "runExclusive", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "applicationPackageReferences", P_NOTIMPL, false, 0, 0, NULL, NULL,
      NULL },
    { "authenticationTokenSettings", P_NOTIMPL, false, 0, 0, NULL, NULL, NULL },
    { "allowLowPriorityNode", P_BOOL, false, 0, 0, NULL, NULL, NULL },
};
static const struct schema jm_s = SCHEMA("JobManagerTask", jm_rows, NULL);

static const struct prop job_rows[] = {
    { "id", P_STR, true, 1, 1024, NULL, NULL, check_id },
    { "displayName", P_STR, false, 0, 1024, NULL, NULL, NULL },
    { "priority", P_INT, false, INT32_MIN, INT32_MAX, NULL, NULL,
      check_priority },
    { "maxParallelTasks", P_INT, false, INT32_MIN, INT32_MAX, NULL, NULL,
      check_max_parallel },
    { "allowTaskPreemption", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "constraints", P_OBJ, false, 0, 0, &jcons_s, NULL, NULL },
    { "jobManagerTask", P_OBJ, false, 0, 0, &jm_s, NULL, NULL },
    { "jobPreparationTask", P_OBJ, false, 0, 0, &prep_s, NULL, NULL },
    { "jobReleaseTask", P_OBJ, false, 0, 0, &release_s, NULL, NULL },
    { "commonEnvironmentSettings", P_ARR, false, 0, 1000, &env_s, NULL, NULL },
    { "poolInfo", P_OBJ, true, 0, 0, &poolinfo_s, NULL, NULL },
    { "onAllTasksComplete", P_ENUM, false, 0, 0, NULL, e_all_done, NULL },
    { "onTaskFailure", P_ENUM, false, 0, 0, NULL, e_task_fail, NULL },
    { "metadata", P_ARR, false, 0, 1000, &meta_s, NULL, NULL },
    { "usesTaskDependencies", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "networkConfiguration", P_ANY, false, 0, 0, NULL, NULL, NULL },
    /* shoal extension, read by notify (notifications.md) */
    { "notificationSubscriptions", P_ANY, false, 0, 0, NULL, NULL, NULL },
};
static const struct schema job_s = SCHEMA("JobAddParameter", job_rows, NULL);

static const struct prop job_patch_rows[] = {
    { "priority", P_INT, false, INT32_MIN, INT32_MAX, NULL, NULL,
      check_priority },
    { "maxParallelTasks", P_INT, false, INT32_MIN, INT32_MAX, NULL, NULL,
      check_max_parallel },
    { "allowTaskPreemption", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "onAllTasksComplete", P_ENUM, false, 0, 0, NULL, e_all_done, NULL },
    { "constraints", P_OBJ, false, 0, 0, &jcons_s, NULL, NULL },
    { "poolInfo", P_OBJ, false, 0, 0, &poolinfo_s, NULL, NULL },
    { "metadata", P_ARR, false, 0, 1000, &meta_s, NULL, NULL },
};
static const struct schema job_patch_s =
    SCHEMA("JobPatchParameter", job_patch_rows, NULL);

static const struct prop job_update_rows[] = {
    { "priority", P_INT, false, INT32_MIN, INT32_MAX, NULL, NULL,
      check_priority },
    { "maxParallelTasks", P_INT, false, INT32_MIN, INT32_MAX, NULL, NULL,
      check_max_parallel },
    { "allowTaskPreemption", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "constraints", P_OBJ, false, 0, 0, &jcons_s, NULL, NULL },
    { "poolInfo", P_OBJ, true, 0, 0, &poolinfo_s, NULL, NULL },
    { "metadata", P_ARR, false, 0, 1000, &meta_s, NULL, NULL },
    { "onAllTasksComplete", P_ENUM, false, 0, 0, NULL, e_all_done, NULL },
};
static const struct schema job_update_s =
    SCHEMA("JobUpdateParameter", job_update_rows, NULL);

static const struct prop term_rows[] = {
    { "terminateReason", P_STR, false, 0, 1024, NULL, NULL, NULL },
};
static const struct schema term_s =
    SCHEMA("JobTerminateParameter", term_rows, NULL);

static const struct prop disable_rows[] = {
    { "disableTasks", P_ENUM, true, 0, 0, NULL, e_disable, NULL },
};
static const struct schema disable_s =
    SCHEMA("JobDisableParameter", disable_rows, NULL);

static const struct prop task_update_rows[] = {
    { "constraints", P_OBJ, false, 0, 0, &tcons_s, NULL, NULL },
};
static const struct schema task_update_s =
    SCHEMA("TaskUpdateParameter", task_update_rows, NULL);

/* Job schedules (schedule.c, schedule_api.c). */
static int check_minute(const char *path, json_t *v, struct err *err)
{
    int64_t ms = 0;

    timefmt_parse_duration(json_string_value(v), &ms);
    if (ms < 60 * 1000)
        return bad_value(err, path, "the minimum value is 1 minute");
    return 0;
}

static const struct prop sched_time_rows[] = {
    { "doNotRunUntil", P_STR, false, 1, 64, NULL, NULL, check_time },
    { "doNotRunAfter", P_STR, false, 1, 64, NULL, NULL, check_time },
    { "startWindow", P_DUR, false, 0, 0, NULL, NULL, check_minute },
    { "recurrenceInterval", P_DUR, false, 0, 0, NULL, NULL, check_minute },
};
static const struct schema sched_time_s =
    SCHEMA("Schedule", sched_time_rows, NULL);

static const struct prop jobspec_rows[] = {
    { "displayName", P_STR, false, 0, 1024, NULL, NULL, NULL },
    { "priority", P_INT, false, INT32_MIN, INT32_MAX, NULL, NULL,
      check_priority },
    { "maxParallelTasks", P_INT, false, INT32_MIN, INT32_MAX, NULL, NULL,
      check_max_parallel },
    { "allowTaskPreemption", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "usesTaskDependencies", P_BOOL, false, 0, 0, NULL, NULL, NULL },
    { "onAllTasksComplete", P_ENUM, false, 0, 0, NULL, e_all_done, NULL },
    { "onTaskFailure", P_ENUM, false, 0, 0, NULL, e_task_fail, NULL },
    { "networkConfiguration", P_ANY, false, 0, 0, NULL, NULL, NULL },
    { "constraints", P_OBJ, false, 0, 0, &jcons_s, NULL, NULL },
    { "jobManagerTask", P_OBJ, false, 0, 0, &jm_s, NULL, NULL },
    { "jobPreparationTask", P_OBJ, false, 0, 0, &prep_s, NULL, NULL },
    { "jobReleaseTask", P_OBJ, false, 0, 0, &release_s, NULL, NULL },
    { "commonEnvironmentSettings", P_ARR, false, 0, 1000, &env_s, NULL, NULL },
    { "poolInfo", P_OBJ, true, 0, 0, &poolinfo_s, NULL, NULL },
    { "metadata", P_ARR, false, 0, 1000, &meta_s, NULL, NULL },
};
static const struct schema jobspec_s =
    SCHEMA("JobSpecification", jobspec_rows, NULL);

static const struct prop sched_add_rows[] = {
    { "id", P_STR, true, 1, 1024, NULL, NULL, check_id },
    { "displayName", P_STR, false, 0, 1024, NULL, NULL, NULL },
    { "schedule", P_OBJ, true, 0, 0, &sched_time_s, NULL, NULL },
    { "jobSpecification", P_OBJ, true, 0, 0, &jobspec_s, NULL, NULL },
    { "metadata", P_ARR, false, 0, 1000, &meta_s, NULL, NULL },
};
static const struct schema sched_add_s =
    SCHEMA("JobScheduleAddParameter", sched_add_rows, NULL);

static const struct prop sched_patch_rows[] = {
    { "schedule", P_OBJ, false, 0, 0, &sched_time_s, NULL, NULL },
    { "jobSpecification", P_OBJ, false, 0, 0, &jobspec_s, NULL, NULL },
    { "metadata", P_ARR, false, 0, 1000, &meta_s, NULL, NULL },
};
static const struct schema sched_patch_s =
    SCHEMA("JobSchedulePatchParameter", sched_patch_rows, NULL);

static const struct prop sched_update_rows[] = {
    { "schedule", P_OBJ, true, 0, 0, &sched_time_s, NULL, NULL },
    { "jobSpecification", P_OBJ, true, 0, 0, &jobspec_s, NULL, NULL },
    { "metadata", P_ARR, false, 0, 1000, &meta_s, NULL, NULL },
};
static const struct schema sched_update_s =
    SCHEMA("JobScheduleUpdateParameter", sched_update_rows, NULL);

/* ---- the walker
 * -------------------------------------------------------------------- */

static int check_obj(const struct schema *s, const char *path, json_t *in,
                     bool strict, json_t **out, struct err *err);

static const char *type_name(enum ptype t)
{
    switch (t) {
    case P_STR:
    case P_DUR:
    case P_ENUM:
        return "Edm.String";
    case P_INT:
        return "Edm.Int32";
    case P_BOOL:
        return "Edm.Boolean";
    case P_OBJ:
        return "an object";
    case P_ARR:
        return "a collection";
    default:
        return "a value";
    }
}

static int wrong_type(struct err *err, const char *path, enum ptype t)
{
    char reason[300];

    fmt(reason, sizeof(reason),
        "cannot convert the value of '%s' to the expected type %s", path,
        type_name(t));
    return bad_body(err, reason);
}

static bool empty_value(json_t *v)
{
    return json_is_null(v) || json_is_false(v) ||
           (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_string(v) && json_string_length(v) == 0);
}

static int check_value(const struct prop *p, const char *path, json_t *v,
                       bool strict, json_t **out, struct err *err)
{
    int rc;

    *out = NULL;
    switch (p->type) {
    case P_STR:
        if (!json_is_string(v))
            return wrong_type(err, path, p->type);
        if ((int64_t)json_string_length(v) < p->min ||
            (int64_t)json_string_length(v) > p->max)
            return bad_value(err, path, "the string length is out of range");
        if (strlen(json_string_value(v)) != json_string_length(v))
            return bad_value(err, path, "the string contains a NUL");
        *out = json_incref(v);
        break;
    case P_INT:
        if (!json_is_integer(v))
            return wrong_type(err, path, p->type);
        if (json_integer_value(v) < p->min || json_integer_value(v) > p->max)
            return bad_value(err, path, "the value is out of range");
        *out = json_incref(v);
        break;
    case P_BOOL:
        if (!json_is_boolean(v))
            return wrong_type(err, path, p->type);
        *out = json_incref(v);
        break;
    case P_DUR: {
        int64_t ms;
        if (!json_is_string(v))
            return wrong_type(err, path, p->type);
        if (timefmt_parse_duration(json_string_value(v), &ms) < 0)
            return bad_value(err, path,
                             "the value is not an ISO 8601 duration");
        *out = json_incref(v);
        break;
    }
    case P_ENUM: {
        const char *s = json_string_value(v);
        if (!json_is_string(v))
            return wrong_type(err, path, p->type);
        for (size_t i = 0; p->enums[i]; i++) {
            if (str_ieq(s, p->enums[i])) {
                *out = json_string(p->enums[i]);
                return 0;
            }
        }
        return bad_value(err, path,
                         "the value is not one of the allowed "
                         "values");
    }
    case P_OBJ:
        if (!json_is_object(v))
            return wrong_type(err, path, p->type);
        return check_obj(p->sub, path, v, strict, out, err);
    case P_ARR: {
        json_t *arr;
        size_t i;
        json_t *e;
        if (!json_is_array(v))
            return wrong_type(err, path, p->type);
        if ((int64_t)json_array_size(v) > p->max ||
            (int64_t)json_array_size(v) < p->min) {
            return bad_value(err, path, "the number of items is out of range");
        }
        arr = json_array();
        json_array_foreach(v, i, e)
        {
            char sub[256];
            json_t *o = NULL;
            fmt(sub, sizeof(sub), "%s[%zu]", path, i);
            if (p->sub) {
                if (!json_is_object(e)) {
                    json_decref(arr);
                    return wrong_type(err, sub, P_OBJ);
                }
                rc = check_obj(p->sub, sub, e, strict, &o, err);
                if (rc < 0) {
                    json_decref(arr);
                    return rc;
                }
            } else {
                if (!json_is_string(e)) {
                    json_decref(arr);
                    return wrong_type(err, sub, P_STR);
                }
                o = json_incref(e);
            }
            json_array_append_new(arr, o);
        }
        *out = arr;
        break;
    }
    case P_ANY:
        *out = json_deep_copy(v);
        break;
    case P_NOTIMPL:
        if (!empty_value(v))
            return notimpl(err, path);
        *out = NULL;
        return 0;
    }
    if (p->check && *out) {
        rc = p->check(path, *out, err);
        if (rc < 0) {
            json_decref(*out);
            *out = NULL;
            return rc;
        }
    }
    return 0;
}

static int check_obj(const struct schema *s, const char *path, json_t *in,
                     bool strict, json_t **out, struct err *err)
{
    json_t *o = json_object();
    const char *key;
    json_t *v;
    int rc = 0;

    json_object_foreach(in, key, v)
    {
        const struct prop *p = NULL;
        char sub[256];
        json_t *nv = NULL;

        for (size_t i = 0; i < s->n; i++) {
            if (strcmp(s->props[i].name, key) == 0)
                p = &s->props[i];
        }
        join(sub, sizeof(sub), path, key);
        if (!p) {
            char reason[400];
            if (!strict)
                continue;
            fmt(reason, sizeof(reason),
                "the property '%s' does not exist on type '%s'", sub, s->type);
            rc = bad_body(err, reason);
            goto out;
        }
        if (json_is_null(v))
            continue;
        rc = check_value(p, sub, v, strict, &nv, err);
        if (rc < 0)
            goto out;
        if (nv)
            json_object_set_new(o, key, nv);
    }
    for (size_t i = 0; i < s->n; i++) {
        char sub[256];
        if (!s->props[i].required || json_object_get(o, s->props[i].name))
            continue;
        if (s->props[i].type == P_NOTIMPL)
            continue;
        join(sub, sizeof(sub), path, s->props[i].name);
        rc = missing(err, sub);
        goto out;
    }
    if (s->check) {
        rc = s->check(path, o, err);
        if (rc < 0)
            goto out;
    }
    *out = o;
    o = NULL;
out:
    json_decref(o);
    return rc;
}

int spec_parse_body(const char *data, size_t len, bool allow_empty,
                    json_t **out, struct err *err)
{
    json_error_t je;
    json_t *o;
    size_t i = 0;

    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' ||
                       data[i] == '\n'))
        i++;
    if (i == len) {
        if (!allow_empty)
            return bad_body(err, "the request body is empty");
        *out = json_object();
        return 0;
    }
    o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        char reason[300];
        fmt(reason, sizeof(reason), "%s at line %d column %d", je.text, je.line,
            je.column);
        return bad_body(err, reason);
    }
    if (!json_is_object(o)) {
        json_decref(o);
        return bad_body(err, "the request body is not a JSON object");
    }
    *out = o;
    return 0;
}

int spec_check(enum spec_kind kind, json_t *in, bool strict, json_t **out,
               struct err *err)
{
    const struct schema *s = NULL;

    switch (kind) {
    case SPEC_POOL_ADD:
        s = &pool_s;
        break;
    case SPEC_POOL_PATCH:
        s = &pool_patch_s;
        break;
    case SPEC_POOL_PROPS:
        s = &pool_props_s;
        break;
    case SPEC_POOL_RESIZE:
        s = &resize_s;
        break;
    case SPEC_POOL_REMOVE_NODES:
        s = &remove_s;
        break;
    case SPEC_JOB_ADD:
        s = &job_s;
        break;
    case SPEC_JOB_PATCH:
        s = &job_patch_s;
        break;
    case SPEC_JOB_UPDATE:
        s = &job_update_s;
        break;
    case SPEC_JOB_TERMINATE:
        s = &term_s;
        break;
    case SPEC_JOB_DISABLE:
        s = &disable_s;
        break;
    case SPEC_TASK_ADD:
        s = &task_s;
        break;
    case SPEC_TASK_COLLECTION: {
        json_t *v = json_object_get(in, "value");
        if (json_is_array(v) && json_array_size(v) > SPEC_MAX_COLLECTION) {
            err_set(err, ERR_TOOBIG, "RequestBodyTooLarge",
                    "a task collection holds at most %d tasks",
                    SPEC_MAX_COLLECTION);
            err_add_detail(err, "MaxLimit", "100");
            return -ERR_TOOBIG;
        }
        s = &coll_s;
        break;
    }
    case SPEC_TASK_UPDATE:
        s = &task_update_s;
        break;
    case SPEC_NODE_REBOOT:
        s = &reboot_s;
        break;
    case SPEC_NODE_DISABLE_SCHEDULING:
        s = &node_disable_s;
        break;
    case SPEC_NODE_UPLOAD_LOGS:
        s = &upload_logs_s;
        break;
    case SPEC_SCHEDULE_ADD:
        s = &sched_add_s;
        break;
    case SPEC_SCHEDULE_PATCH:
        s = &sched_patch_s;
        break;
    case SPEC_SCHEDULE_UPDATE:
        s = &sched_update_s;
        break;
    }
    if (!json_is_object(in))
        return bad_body(err, "the request body is not a JSON object");
    return check_obj(s, "", in, strict, out, err);
}
