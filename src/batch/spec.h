#ifndef SHOAL_BATCH_SPEC_H
#define SHOAL_BATCH_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct err;

/*
 * Validation of Batch request bodies (private to batch/; see spec.c for
 * the design note). Knows nothing of HTTP: the API files hand it bytes and
 * get a normalized jansson object or a struct err with the Batch error
 * code (InvalidRequestBody, MissingRequiredProperty, InvalidPropertyValue,
 * NotImplemented for features shoal does not run).
 */
enum spec_kind {
    SPEC_POOL_ADD,
    SPEC_POOL_PATCH,
    SPEC_POOL_PROPS, /* updateproperties */
    SPEC_POOL_RESIZE,
    SPEC_POOL_REMOVE_NODES,
    SPEC_JOB_ADD,
    SPEC_JOB_PATCH,
    SPEC_JOB_UPDATE,
    SPEC_JOB_TERMINATE,
    SPEC_JOB_DISABLE,
    SPEC_TASK_ADD,
    SPEC_TASK_COLLECTION, /* {"value":[TaskAddParameter, ...]} (<= 100) */
    SPEC_TASK_UPDATE,
    SPEC_NODE_REBOOT,             /* NodeRebootParameter */
    SPEC_NODE_DISABLE_SCHEDULING, /* NodeDisableSchedulingParameter */
    SPEC_NODE_UPLOAD_LOGS,        /* UploadBatchServiceLogsConfiguration */
    SPEC_SCHEDULE_ADD,            /* JobScheduleAddParameter */
    SPEC_SCHEDULE_PATCH,          /* JobSchedulePatchParameter */
    SPEC_SCHEDULE_UPDATE,         /* JobScheduleUpdateParameter */
};

#define SPEC_MAX_COLLECTION 100
#define SPEC_ID_MAX         64
/* dependsOn: taskIds characters in all (the spec), ranges (shoal's). */
#define SPEC_MAX_DEP_CHARS  64000
#define SPEC_MAX_DEP_RANGES 1000

/*
 * Parse a body as one JSON object (duplicate keys rejected, nothing after
 * it). An empty body parses as {} when allow_empty. *out is a new
 * reference. Errors: 400 InvalidRequestBody.
 */
int spec_parse_body(const char *data, size_t len, bool allow_empty,
                    json_t **out, struct err *err);

/*
 * Check in against the schema of kind and build *out: a new object with
 * the known properties only, enum values lower-cased, nulls dropped.
 * strict: an unknown property is an error (api-version 2022-10-01.16.0 and
 * older, as the real service's OData reader); otherwise it is ignored
 * (newer api-versions may send properties shoal does not know yet).
 */
int spec_check(enum spec_kind kind, json_t *in, bool strict, json_t **out,
               struct err *err);

/* Whether s is a valid Batch id: 1..64 of [A-Za-z0-9_-]. */
bool spec_id_ok(const char *s);

#endif
