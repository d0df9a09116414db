/*
 * schedule.c: job schedules.
 *
 * Purpose: make jobs from a job specification on a timetable (the
 * JobSchedule_* operations, schedule_api.c), at most one active job at a
 * time, and keep the schedule's state, as the real service.
 *
 * Structures (schedule.h): model->scheds holds every schedule of every
 * account (map "account/id", vector in creation order). A schedule knows
 * its jobs only by name: "{scheduleId}:job-{n}" (n from 1, as the real
 * service names them; ':' cannot appear in an id a user picks, so these
 * names never collide with user jobs). recent names the newest; since a
 * job is made only while none is active, only that one can be active.
 * Job and schedule ids share one namespace per account (job_api.c and
 * schedule_api.c check both maps).
 *
 * Timing (schedule_next, pure): occurrences fall at doNotRunUntil (else
 * the creation time) + k * recurrenceInterval. next_ms is the pending
 * one. From its time until its start window closes (startWindow, capped
 * at the interval) a job is made as soon as no job of the schedule is
 * active; if the window closes first, the occurrence is skipped (in O(1),
 * however many were missed, e.g. while shoald was down). Nothing is made
 * after doNotRunAfter. Without an interval there is one occurrence. next_ms
 * is stored, so the timetable survives restarts.
 *
 * State machine (wire names):
 *
 *   active ──no occurrence left, no active job──▶ completed
 *     │  ▲
 *     ▼  │ enable
 *   disabled          (no jobs made; missed windows are skipped later)
 *   active|disabled ──terminate──▶ terminating ──job done──▶ completed
 *   any ──delete──▶ deleting ──(its jobs gone)──▶ removed
 *
 * terminate terminates the active job (terminateReason
 * TerminateJobSchedule); delete deletes every job of the schedule. The
 * ticker (schedule_tick, every batch tick) makes due jobs and finishes
 * terminating and deleting schedules.
 *
 * Storage: table batch_schedules (store.c), one document per schedule
 * (version 1; schedule_save). Add fields freely (the loader defaults
 * missing ones); to change a field's meaning bump "v" and load both.
 * Events: every creation, state change and removal of a schedule is a
 * BATCH_EVENT_SCHEDULE (batch.h; notify logs it as JobScheduleStateChange),
 * journalled with the change (set_state, schedule_new, schedule_tick's
 * removal), as the jobs they make have their own. Nothing while loading.
 *
 * Threads: under the model lock (the caller's; schedule_tick takes it).
 * Ownership: the set owns its schedules; specs passed to new are taken.
 */
#include "batch/schedule.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/batch.h"
#include "batch/jobmgr.h"
#include "batch/sched.h"
#include "batch/store.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define SCHEDULE_DOC_VERSION 1

static const char *const state_names[] = { "active", "completed", "disabled",
                                           "terminating", "deleting" };

const char *schedule_state_name(enum schedule_state s)
{
    return state_names[s];
}

/* Journal a state-change event of s (old or new NULL: made or removed). */
static void state_event(struct model *m, const struct mschedule *s,
                        const char *old, const char *new_state)
{
    struct batch_event ev;

    if (m->loading || !m->store || !store_wants_events(m->store))
        return;
    memset(&ev, 0, sizeof(ev));
    ev.account = s->account;
    ev.kind = BATCH_EVENT_SCHEDULE;
    ev.id = s->id;
    ev.old_state = old;
    ev.new_state = new_state;
    ev.time_ms = timefmt_now_ms();
    store_event(m->store, &ev);
}

/* ---- timing ------------------------------------------------------------- */

void schedule_times_of(json_t *schedule, struct schedule_times *t)
{
    const char *s;

    memset(t, 0, sizeof(*t));
    t->window_ms = TIMEFMT_DURATION_INF;
    s = json_string_value(json_object_get(schedule, "doNotRunUntil"));
    if (s)
        timefmt_parse_iso8601(s, &t->not_until);
    s = json_string_value(json_object_get(schedule, "doNotRunAfter"));
    if (s)
        timefmt_parse_iso8601(s, &t->not_after);
    s = json_string_value(json_object_get(schedule, "startWindow"));
    if (s && timefmt_parse_duration(s, &t->window_ms) < 0)
        t->window_ms = TIMEFMT_DURATION_INF;
    s = json_string_value(json_object_get(schedule, "recurrenceInterval"));
    if (s && (timefmt_parse_duration(s, &t->interval_ms) < 0 ||
              t->interval_ms == TIMEFMT_DURATION_INF))
        t->interval_ms = 0;
}

enum schedule_step schedule_next(const struct schedule_times *t, int64_t *next,
                                 int64_t now, bool job_active)
{
    int64_t window = t->window_ms;

    if (t->interval_ms > 0 &&
        (window == TIMEFMT_DURATION_INF || window > t->interval_ms))
        window = t->interval_ms;
    for (;;) {
        if (*next < 0)
            return SCHEDULE_DONE;
        if (t->not_after > 0 && (*next > t->not_after || now > t->not_after)) {
            *next = -1;
            return SCHEDULE_DONE;
        }
        if (now < *next)
            return SCHEDULE_WAIT;
        if (window != TIMEFMT_DURATION_INF && now - *next >= window) {
            /* Missed: skip to the first occurrence whose window is open
             * or still to come. */
            if (t->interval_ms <= 0) {
                *next = -1;
                return SCHEDULE_DONE;
            }
            *next +=
                ((now - *next - window) / t->interval_ms + 1) * t->interval_ms;
            continue;
        }
        if (job_active)
            return SCHEDULE_WAIT;
        *next = t->interval_ms > 0 ? *next + t->interval_ms : -1;
        return SCHEDULE_CREATE;
    }
}

int64_t schedule_first(const struct schedule_times *t, int64_t now,
                       uint64_t njobs, int64_t last_ms)
{
    int64_t at = t->not_until > 0 ? t->not_until : now;

    if (njobs == 0)
        return at;
    if (t->interval_ms <= 0)
        return -1; /* it ran its once already */
    if (last_ms + t->interval_ms > at)
        at = last_ms + t->interval_ms;
    return at;
}

/* ---- the set ------------------------------------------------------------ */

struct schedule_set *schedule_set_of(struct model *m)
{
    return m->scheds;
}

static struct schedule_set *set_get(struct model *m)
{
    if (!m->scheds) {
        m->scheds = xcalloc(1, sizeof(*m->scheds));
        idmap_init(&m->scheds->by_key);
    }
    return m->scheds;
}

struct mschedule *schedule_find(struct model *m, const char *account,
                                const char *id)
{
    char *k;
    struct mschedule *s;

    if (!m->scheds)
        return NULL;
    k = model_key(account, id);
    s = idmap_get(&m->scheds->by_key, k);
    free(k);
    return s;
}

static void link_new(struct model *m, struct mschedule *s)
{
    struct schedule_set *set = set_get(m);
    char *k = model_key(s->account, s->id);

    if (idmap_put(&set->by_key, k, s) < 0)
        BUG("job schedule id taken");
    free(k);
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8, bytes;
        if (!size_mul(cap, sizeof(*set->v), &bytes))
            BUG("too many job schedules");
        set->v = xrealloc(set->v, bytes);
        set->cap = cap;
    }
    set->v[set->n++] = s;
}

struct mschedule *schedule_new(struct model *m, const char *account,
                               const char *id, json_t *spec, int64_t now)
{
    struct mschedule *s = xcalloc(1, sizeof(*s));

    s->rowid = model_next_rowid(m);
    s->account = xstrdup(account);
    s->id = xstrdup(id);
    s->spec = spec;
    s->state = SCHEDULE_ACTIVE;
    s->created_ms = s->modified_ms = s->state_ms = now;
    s->etag = model_next_etag(m);
    schedule_times_of(json_object_get(spec, "schedule"), &s->times);
    s->next_ms = schedule_first(&s->times, now, 0, 0);
    link_new(m, s);
    state_event(m, s, NULL, schedule_state_name(s->state));
    schedule_save(m, s);
    return s;
}

static void schedule_free(struct model *m, struct mschedule *s)
{
    struct schedule_set *set = m->scheds;
    char *k = model_key(s->account, s->id);

    idmap_del(&set->by_key, k);
    free(k);
    for (size_t i = 0; i < set->n; i++) {
        if (set->v[i] == s) {
            memmove(&set->v[i], &set->v[i + 1],
                    (set->n - i - 1) * sizeof(*set->v));
            set->n--;
            break;
        }
    }
    json_decref(s->spec);
    free(s->account);
    free(s->id);
    free(s->recent);
    free(s);
}

void schedule_release_all(struct model *m)
{
    if (!m->scheds)
        return;
    while (m->scheds->n)
        schedule_free(m, m->scheds->v[m->scheds->n - 1]);
    idmap_release(&m->scheds->by_key);
    free(m->scheds->v);
    free(m->scheds);
    m->scheds = NULL;
}

/* ---- jobs of a schedule ------------------------------------------------- */

bool schedule_owns(const struct mschedule *s, const char *job_id)
{
    size_t n = strlen(s->id);

    return strlen(job_id) > n && job_id[n] == ':' && str_iprefix(job_id, s->id);
}

struct mjob *schedule_active_job(struct model *m, const struct mschedule *s)
{
    struct mjob *j;

    if (!s->recent)
        return NULL;
    j = model_job_find(m, s->account, s->recent);
    if (!j || j->state == JOB_COMPLETED || j->state == JOB_DELETING)
        return NULL;
    return j;
}

static bool has_jobs(struct model *m, const struct mschedule *s)
{
    for (size_t i = 0; i < m->njobs; i++) {
        const struct mjob *j = m->job_list[i];
        if (strcmp(j->account, s->account) == 0 && schedule_owns(s, j->id))
            return true;
    }
    return false;
}

static void make_job(struct model *m, struct mschedule *s, int64_t now)
{
    json_t *spec;
    struct mjob *j;
    char *id;

    for (;;) {
        s->njobs++;
        id = xasprintf("%s:job-%" PRIu64, s->id, s->njobs);
        if (!model_job_find(m, s->account, id))
            break;
        free(id); /* an old job of a schedule deleted and made again */
    }
    spec = json_deep_copy(json_object_get(s->spec, "jobSpecification"));
    if (!spec)
        spec = json_object();
    json_object_set_new(spec, "id", json_string(id));
    j = model_job_new(m, s->account, id, spec, now);
    model_save_job(m, j);
    jobmgr_task_add(m, j, now); /* its jobManagerTask, if any, first */
    /* onAllTasksComplete terminatejob with no tasks: done at once. */
    sched_job_check(m, j, now);
    free(s->recent);
    s->recent = id;
    s->last_ms = now;
    log_info("job schedule made a job schedule=%s job=%s", s->id, id);
}

/* ---- state -------------------------------------------------------------- */

static void set_state(struct model *m, struct mschedule *s,
                      enum schedule_state st, int64_t now)
{
    if (s->state == st)
        return;
    state_event(m, s, schedule_state_name(s->state), schedule_state_name(st));
    s->prev_state = s->state;
    s->prev_state_ms = s->state_ms;
    s->has_prev = true;
    s->state = st;
    s->state_ms = now;
    if (st == SCHEDULE_COMPLETED)
        s->end_ms = now;
}

void schedule_touch(struct model *m, struct mschedule *s, int64_t now)
{
    s->modified_ms = now;
    s->etag = model_next_etag(m);
    schedule_save(m, s);
}

void schedule_terminate(struct model *m, struct mschedule *s, int64_t now)
{
    struct mjob *j = schedule_active_job(m, s);

    set_state(m, s, SCHEDULE_TERMINATING, now);
    if (j)
        sched_job_terminate(m, j, "TerminateJobSchedule", now);
    if (!schedule_active_job(m, s))
        set_state(m, s, SCHEDULE_COMPLETED, now);
    schedule_touch(m, s, now);
}

void schedule_delete(struct model *m, struct mschedule *s, int64_t now)
{
    set_state(m, s, SCHEDULE_DELETING, now);
    for (size_t i = 0; i < m->njobs; i++) {
        struct mjob *j = m->job_list[i];
        if (strcmp(j->account, s->account) == 0 && schedule_owns(s, j->id))
            sched_job_delete(m, j, now);
    }
    schedule_touch(m, s, now);
}

void schedule_disable(struct model *m, struct mschedule *s, int64_t now)
{
    set_state(m, s, SCHEDULE_DISABLED, now);
    schedule_touch(m, s, now);
}

void schedule_enable(struct model *m, struct mschedule *s, int64_t now)
{
    set_state(m, s, SCHEDULE_ACTIVE, now);
    schedule_touch(m, s, now);
}

void schedule_changed(struct model *m, struct mschedule *s, int64_t now)
{
    schedule_times_of(json_object_get(s->spec, "schedule"), &s->times);
    s->next_ms = schedule_first(&s->times, now, s->njobs, s->last_ms);
    schedule_touch(m, s, now);
}

void schedule_tick(struct model *m, int64_t now)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; m->scheds && i < m->scheds->n;) {
        struct mschedule *s = m->scheds->v[i];
        bool active = schedule_active_job(m, s) != NULL;
        int64_t was = s->next_ms;
        enum schedule_step step;

        switch (s->state) {
        case SCHEDULE_ACTIVE:
            step = schedule_next(&s->times, &s->next_ms, now, active);
            if (step == SCHEDULE_CREATE) {
                make_job(m, s, now);
            } else if (step == SCHEDULE_DONE && !active) {
                set_state(m, s, SCHEDULE_COMPLETED, now);
                log_info("job schedule completed schedule=%s", s->id);
            } else if (s->next_ms == was) {
                break;
            }
            schedule_save(m, s);
            break;
        case SCHEDULE_TERMINATING:
            if (!active) {
                set_state(m, s, SCHEDULE_COMPLETED, now);
                schedule_save(m, s);
            }
            break;
        case SCHEDULE_DELETING:
            if (!has_jobs(m, s)) {
                log_info("job schedule deleted schedule=%s", s->id);
                state_event(m, s, schedule_state_name(s->state), NULL);
                store_del(m->store, STORE_SCHEDULE, s->rowid);
                schedule_free(m, s);
                continue;
            }
            break;
        case SCHEDULE_DISABLED:
        case SCHEDULE_COMPLETED:
            break;
        }
        i++;
    }
    pthread_mutex_unlock(&m->mu);
}

/* ---- storage ------------------------------------------------------------ */

uint64_t schedule_save(struct model *m, struct mschedule *s)
{
    json_t *o = json_object();
    char *doc;

    json_object_set_new(o, "v", json_integer(SCHEDULE_DOC_VERSION));
    json_object_set_new(o, "account", json_string(s->account));
    json_object_set_new(o, "id", json_string(s->id));
    json_object_set(o, "spec", s->spec);
    json_object_set_new(o, "state", json_string(schedule_state_name(s->state)));
    if (s->has_prev) {
        json_object_set_new(o, "ps",
                            json_string(schedule_state_name(s->prev_state)));
        json_object_set_new(o, "psm", json_integer(s->prev_state_ms));
    }
    json_object_set_new(o, "sm", json_integer(s->state_ms));
    json_object_set_new(o, "cm", json_integer(s->created_ms));
    json_object_set_new(o, "mm", json_integer(s->modified_ms));
    json_object_set_new(o, "etag", json_integer((json_int_t)s->etag));
    json_object_set_new(o, "next", json_integer(s->next_ms));
    json_object_set_new(o, "n", json_integer((json_int_t)s->njobs));
    if (s->recent)
        json_object_set_new(o, "recent", json_string(s->recent));
    json_object_set_new(o, "last", json_integer(s->last_ms));
    json_object_set_new(o, "end", json_integer(s->end_ms));
    doc = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!doc)
        BUG("out of memory rendering a job schedule");
    return store_put(m->store, STORE_SCHEDULE, s->rowid, 0, doc, NULL);
}

static int parse_state(const char *name, enum schedule_state *out)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(state_names); i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (enum schedule_state)i;
            return 0;
        }
    }
    return -ERR_INVALID;
}

static int64_t jint(json_t *o, const char *k, int64_t dflt)
{
    json_t *v = json_object_get(o, k);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int schedule_load(struct model *m, uint64_t rowid, const char *doc,
                  struct err *err)
{
    json_t *o = json_loads(doc, 0, NULL);
    const char *account = json_string_value(json_object_get(o, "account"));
    const char *id = json_string_value(json_object_get(o, "id"));
    json_t *spec = json_object_get(o, "spec");
    struct mschedule *s;

    if (!account || !id || !json_is_object(spec) ||
        schedule_find(m, account, id)) {
        json_decref(o);
        return err_set(err, ERR_INVALID, "InternalError",
                       "job schedule row %" PRIu64 " is bad", rowid);
    }
    s = xcalloc(1, sizeof(*s));
    s->rowid = rowid;
    s->account = xstrdup(account);
    s->id = xstrdup(id);
    s->spec = json_incref(spec);
    if (parse_state(json_string_value(json_object_get(o, "state")), &s->state) <
        0)
        s->state = SCHEDULE_ACTIVE;
    if (parse_state(json_string_value(json_object_get(o, "ps")),
                    &s->prev_state) == 0) {
        s->has_prev = true;
        s->prev_state_ms = jint(o, "psm", 0);
    }
    s->state_ms = jint(o, "sm", 0);
    s->created_ms = jint(o, "cm", 0);
    s->modified_ms = jint(o, "mm", 0);
    s->etag = (uint64_t)jint(o, "etag", 0);
    schedule_times_of(json_object_get(spec, "schedule"), &s->times);
    s->next_ms = jint(o, "next", -1);
    s->njobs = (uint64_t)jint(o, "n", 0);
    if (json_string_value(json_object_get(o, "recent")))
        s->recent = xstrdup(json_string_value(json_object_get(o, "recent")));
    s->last_ms = jint(o, "last", 0);
    s->end_ms = jint(o, "end", 0);
    link_new(m, s);
    if (rowid >= m->next_rowid)
        m->next_rowid = rowid + 1;
    if (s->etag > m->etag_counter)
        m->etag_counter = s->etag;
    json_decref(o);
    return 0;
}

int schedule_id_free(struct model *m, const char *account, const char *id,
                     bool for_job, struct err *err)
{
    bool job = model_job_find(m, account, id) != NULL;
    bool sch = schedule_find(m, account, id) != NULL;

    if (for_job && job)
        return err_set(err, ERR_CONFLICT, "JobExists",
                       "the specified job '%s' already exists", id);
    if (for_job && sch)
        return err_set(err, ERR_CONFLICT, "JobScheduleWithSameIdExists",
                       "a job schedule with the id '%s' exists: jobs and job "
                       "schedules share ids",
                       id);
    if (!for_job && sch)
        return err_set(err, ERR_CONFLICT, "JobScheduleExists",
                       "the specified job schedule '%s' already exists", id);
    if (!for_job && job)
        return err_set(err, ERR_CONFLICT, "JobWithSameIdExists",
                       "a job with the id '%s' exists: jobs and job "
                       "schedules share ids",
                       id);
    return 0;
}
