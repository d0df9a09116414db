/*
 * shoal_event.c: events of the watch stream, parsed and validated.
 *
 * An event is one JSON object of a GET /events reply (notifications.md
 * §5.6, notify_api.c event_json):
 *
 *   {"sequence":42,"time":"2024-05-01T12:00:00.0000000Z",
 *    "type":"TaskStateChange","entityType":"task","entityId":"t1",
 *    "jobId":"j1","oldState":"running","newState":"completed",
 *    "exitCode":0,"failureCode":null,"etag":"<64 hex>",
 *    "properties":{...}}
 *
 * A shoal_event holds a reference to that object; its string fields point
 * into it (jansson keeps a string's bytes for the life of its value), so
 * an event is one allocation besides the tree and is never modified
 * after parsing: concurrent readers are safe.
 *
 * Validation (the input comes from the network): sequence must be a
 * positive integer (or a string of digits, as Batch writes int64);
 * every known field must have its type, or be null where the service
 * writes null; strings are bounded (EVENT_*_MAX), so a hostile reply
 * cannot hand a caller a megabyte "state"; time must parse as ISO 8601.
 * Unknown members and unknown types pass: the service may grow.
 */
#include "client/clientint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/parse.h"
#include "core/timefmt.h"

#define EVENT_ID_MAX   1024 /* entity and job ids (Batch: 64) */
#define EVENT_NAME_MAX 64   /* types, entity types, states, times */
#define EVENT_CODE_MAX 256  /* failure codes */
#define EVENT_ETAG_MAX 256
#define EVENT_JSON_MAX (1u << 20) /* shoal_event_parse input */

struct shoal_event {
    json_t *root;
    enum shoal_event_type type;
    int64_t seq;
    int64_t time_ms;
    bool has_exit;
    int64_t exit_code;
    const char *type_name;
    const char *time;
    const char *entity_type;
    const char *entity_id;
    const char *job_id;
    const char *old_state;
    const char *new_state;
    const char *failure_code;
    const char *etag;
};

static const struct {
    const char *name;
    enum shoal_event_type type;
} type_names[] = {
    { "JobStateChange", SHOAL_EVENT_JOB_STATE },
    { "TaskStateChange", SHOAL_EVENT_TASK_STATE },
    { "PoolStateChange", SHOAL_EVENT_POOL_STATE },
    { "NodeStateChange", SHOAL_EVENT_NODE_STATE },
    { "JobBatchStateChange", SHOAL_EVENT_JOB_BATCH_STATE },
    { "NotificationEndPointRegistration", SHOAL_EVENT_ENDPOINT },
    { "JobScheduleStateChange", SHOAL_EVENT_JOB_SCHEDULE_STATE },
};

static void why_set(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/*
 * Member key of o as a bounded string: absent (or null, when nullable)
 * gives NULL; another type, or more than max bytes, is false.
 */
static bool opt_str(json_t *o, const char *key, size_t max, bool nullable,
                    const char **out, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (!v || (nullable && json_is_null(v)))
        return true;
    if (!json_is_string(v)) {
        why_set(why, whylen, "event field '%s' is not a string", key);
        return false;
    }
    if (json_string_length(v) > max) {
        why_set(why, whylen, "event field '%s' is longer than %zu bytes", key,
                max);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool get_seq(json_t *o, int64_t *out, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, "sequence");
    int64_t n = 0;

    if (json_is_integer(v))
        n = (int64_t)json_integer_value(v);
    else if (!json_is_string(v) ||
             parse_i64(json_string_value(v), 1, INT64_MAX, &n) < 0)
        n = 0;
    if (n < 1) {
        why_set(why, whylen, "event without a positive integer sequence");
        return false;
    }
    *out = n;
    return true;
}

int shoal_event_from_json(json_t *o, shoal_event **out, char *why,
                          size_t whylen)
{
    shoal_event *ev;
    json_t *v;
    size_t i;

    if (!json_is_object(o)) {
        why_set(why, whylen, "event is not a JSON object");
        return SHOAL_ERR_PROTOCOL;
    }
    ev = calloc(1, sizeof(*ev));
    if (!ev) {
        why_set(why, whylen, "out of memory");
        return SHOAL_ERR_NOMEM;
    }
    if (!get_seq(o, &ev->seq, why, whylen) ||
        !opt_str(o, "type", EVENT_NAME_MAX, false, &ev->type_name, why,
                 whylen) ||
        !opt_str(o, "time", EVENT_NAME_MAX, false, &ev->time, why, whylen) ||
        !opt_str(o, "entityType", EVENT_NAME_MAX, true, &ev->entity_type, why,
                 whylen) ||
        !opt_str(o, "entityId", EVENT_ID_MAX, true, &ev->entity_id, why,
                 whylen) ||
        !opt_str(o, "jobId", EVENT_ID_MAX, true, &ev->job_id, why, whylen) ||
        !opt_str(o, "oldState", EVENT_NAME_MAX, true, &ev->old_state, why,
                 whylen) ||
        !opt_str(o, "newState", EVENT_NAME_MAX, true, &ev->new_state, why,
                 whylen) ||
        !opt_str(o, "failureCode", EVENT_CODE_MAX, true, &ev->failure_code, why,
                 whylen) ||
        !opt_str(o, "etag", EVENT_ETAG_MAX, true, &ev->etag, why, whylen))
        goto bad;
    if (!ev->type_name || !*ev->type_name) {
        why_set(why, whylen, "event %lld has no type", (long long)ev->seq);
        goto bad;
    }
    if (ev->time && timefmt_parse_iso8601(ev->time, &ev->time_ms) < 0) {
        why_set(why, whylen, "event %lld: bad time", (long long)ev->seq);
        goto bad;
    }
    v = json_object_get(o, "exitCode");
    if (json_is_integer(v)) {
        ev->has_exit = true;
        ev->exit_code = (int64_t)json_integer_value(v);
    } else if (v && !json_is_null(v)) {
        why_set(why, whylen, "event %lld: exitCode is not an integer",
                (long long)ev->seq);
        goto bad;
    }
    v = json_object_get(o, "properties");
    if (v && !json_is_null(v) && !json_is_object(v)) {
        why_set(why, whylen, "event %lld: properties is not an object",
                (long long)ev->seq);
        goto bad;
    }
    for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strcmp(ev->type_name, type_names[i].name) == 0)
            ev->type = type_names[i].type;
    }
    ev->root = json_incref(o);
    *out = ev;
    return 0;
bad:
    free(ev);
    return SHOAL_ERR_PROTOCOL;
}

int shoal_event_parse(const char *json, size_t len, shoal_event **out,
                      char *why, size_t whylen)
{
    json_error_t je;
    json_t *o;
    int rc;

    if (!json || !out) {
        why_set(why, whylen, "no event text");
        return SHOAL_ERR_PROTOCOL;
    }
    if (len > EVENT_JSON_MAX) {
        why_set(why, whylen, "event text over %u bytes", EVENT_JSON_MAX);
        return SHOAL_ERR_PROTOCOL;
    }
    o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        why_set(why, whylen, "bad JSON: %s", je.text);
        return SHOAL_ERR_PROTOCOL;
    }
    rc = shoal_event_from_json(o, out, why, whylen);
    json_decref(o);
    return rc;
}

void shoal_event_free(shoal_event *ev)
{
    if (!ev)
        return;
    json_decref(ev->root);
    free(ev);
}

enum shoal_event_type shoal_event_type(const shoal_event *ev)
{
    return ev ? ev->type : SHOAL_EVENT_UNKNOWN;
}

const char *shoal_event_type_name(const shoal_event *ev)
{
    return ev ? ev->type_name : NULL;
}

int64_t shoal_event_seq(const shoal_event *ev)
{
    return ev ? ev->seq : 0;
}

const char *shoal_event_time(const shoal_event *ev)
{
    return ev ? ev->time : NULL;
}

int64_t shoal_event_time_ms(const shoal_event *ev)
{
    return ev ? ev->time_ms : 0;
}

const char *shoal_event_entity_type(const shoal_event *ev)
{
    return ev ? ev->entity_type : NULL;
}

const char *shoal_event_entity_id(const shoal_event *ev)
{
    return ev ? ev->entity_id : NULL;
}

const char *shoal_event_job_id(const shoal_event *ev)
{
    return ev ? ev->job_id : NULL;
}

const char *shoal_event_task_id(const shoal_event *ev)
{
    return ev && ev->type == SHOAL_EVENT_TASK_STATE ? ev->entity_id : NULL;
}

const char *shoal_event_old_state(const shoal_event *ev)
{
    return ev ? ev->old_state : NULL;
}

const char *shoal_event_new_state(const shoal_event *ev)
{
    return ev ? ev->new_state : NULL;
}

int shoal_event_exit_code(const shoal_event *ev, int64_t *out)
{
    if (!ev || !ev->has_exit)
        return SHOAL_ERR_NOTFOUND;
    *out = ev->exit_code;
    return 0;
}

const char *shoal_event_failure_code(const shoal_event *ev)
{
    return ev ? ev->failure_code : NULL;
}

const char *shoal_event_etag(const shoal_event *ev)
{
    return ev ? ev->etag : NULL;
}

const char *shoal_event_property(const shoal_event *ev, const char *name)
{
    json_t *props;

    if (!ev || !name)
        return NULL;
    props = json_object_get(ev->root, "properties");
    return json_string_value(json_object_get(props, name));
}

char *shoal_event_json(const shoal_event *ev)
{
    return ev ? json_dumps(ev->root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
}

bool shoal_event_state_is_final(const char *state)
{
    return state &&
           (strcmp(state, "Finished") == 0 || strcmp(state, "Error") == 0 ||
            strcmp(state, "Canceled") == 0);
}

int shoal_event_last_seq(shoal_client *c, int64_t *seq_out)
{
    json_t *reply = NULL;
    json_t *v;
    struct req r;
    int rc;

    rc = batchreq_init(c, &r, "GET", "events", NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    req_query(&r, "timeout", "0");
    rc = batchreq_send(c, &r, NULL, &reply);
    req_release(&r);
    if (rc < 0)
        return rc;
    v = json_object_get(reply, "lastSeq");
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        json_decref(reply);
        return client_fail(c, SHOAL_ERR_PROTOCOL,
                           "events reply without a lastSeq");
    }
    *seq_out = (int64_t)json_integer_value(v);
    json_decref(reply);
    return 0;
}
