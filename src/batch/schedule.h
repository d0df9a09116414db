#ifndef SHOAL_BATCH_SCHEDULE_H
#define SHOAL_BATCH_SCHEDULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch/idmap.h"
#include "batch/model.h"

struct err;

/*
 * Job schedules (private to batch/; see schedule.c for the design note):
 * the entities, their timing, the jobs they make, and their storage
 * documents. Everything but schedule_next and schedule_times_of runs with
 * the model lock held and journals what it changes; schedule_tick takes the
 * lock itself.
 */

enum schedule_state {
    SCHEDULE_ACTIVE,
    SCHEDULE_COMPLETED,
    SCHEDULE_DISABLED,
    SCHEDULE_TERMINATING,
    SCHEDULE_DELETING,
};

/* The schedule property of a job schedule, in ms. */
struct schedule_times {
    int64_t not_until;   /* doNotRunUntil; 0 = none */
    int64_t not_after;   /* doNotRunAfter; 0 = none */
    int64_t window_ms;   /* startWindow; TIMEFMT_DURATION_INF = none */
    int64_t interval_ms; /* recurrenceInterval; 0 = run once */
};

/* What the timing says to do now. */
enum schedule_step {
    SCHEDULE_WAIT,   /* nothing yet (or a job is still active) */
    SCHEDULE_CREATE, /* make a job now */
    SCHEDULE_DONE,   /* no occurrence is left */
};

struct mschedule {
    uint64_t rowid;
    char *account;
    char *id;
    json_t *spec; /* JobScheduleAddParameter as validated, kept current */
    enum schedule_state state, prev_state;
    bool has_prev;
    int64_t created_ms, modified_ms, state_ms, prev_state_ms;
    uint64_t etag;
    struct schedule_times times;
    int64_t next_ms; /* the pending occurrence; -1 when none is left */
    uint64_t njobs;  /* jobs made so far; the next is "{id}:job-{n+1}" */
    char *recent;    /* the most recent job's id, NULL before the first */
    int64_t last_ms; /* when it was made */
    int64_t end_ms;  /* completed at; 0 = not */
};

/* The schedules of a model (model->scheds, made on first use). */
struct schedule_set {
    struct idmap by_key;  /* "account/id" -> mschedule */
    struct mschedule **v; /* creation (rowid) order */
    size_t n, cap;
};

const char *schedule_state_name(enum schedule_state s);

/*
 * Read a validated Schedule object (NULL or {} = run once, now) into *t.
 * Pure.
 */
void schedule_times_of(json_t *schedule, struct schedule_times *t);

/*
 * The timing rule, pure (unit-tested with a fake clock). *next is the
 * pending occurrence (-1: none left); occurrences are
 * doNotRunUntil (or creation) + k * recurrenceInterval. A job may be made
 * for an occurrence from its time until its start window closes (the
 * window is capped at the interval: a missed occurrence is never carried
 * into the next one); a window that closes while a job is still active,
 * or before the tick saw it, skips the occurrence. Nothing is made after
 * doNotRunAfter. Returns CREATE (and advances *next past the occurrence),
 * WAIT, or DONE (*next = -1).
 */
enum schedule_step schedule_next(const struct schedule_times *t, int64_t *next,
                                 int64_t now, bool job_active);

/* The first occurrence of a schedule made (or whose schedule was
 * replaced) at now, for one that made njobs jobs, the last at last_ms. */
int64_t schedule_first(const struct schedule_times *t, int64_t now,
                       uint64_t njobs, int64_t last_ms);

/* Lookup (NULL if absent); the set of m (may be NULL: none yet). */
/*
 * Jobs and job schedules share one id namespace. Check that id is free for
 * a new job (for_job) or a new schedule (model lock held): -ERR_CONFLICT
 * with JobExists / JobScheduleWithSameIdExists for a job, or
 * JobScheduleExists / JobWithSameIdExists for a schedule.
 */
int schedule_id_free(struct model *m, const char *account, const char *id,
                     bool for_job, struct err *err);

struct mschedule *schedule_find(struct model *m, const char *account,
                                const char *id);
struct schedule_set *schedule_set_of(struct model *m);

/*
 * A new schedule (spec taken: a validated JobScheduleAddParameter with its
 * jobSpecification normalized), linked and journalled.
 */
struct mschedule *schedule_new(struct model *m, const char *account,
                               const char *id, json_t *spec, int64_t now);
/* Free every schedule of m (model_release). */
void schedule_release_all(struct model *m);

/* Journal s. */
uint64_t schedule_save(struct model *m, struct mschedule *s);
/* Restore one storage document (store.c, while loading). */
int schedule_load(struct model *m, uint64_t rowid, const char *doc,
                  struct err *err);

/* Does job_id belong to schedule s ("{s->id}:...", case-insensitively)? */
bool schedule_owns(const struct mschedule *s, const char *job_id);
/* The most recent job of s if it is still active (not completed). */
struct mjob *schedule_active_job(struct model *m, const struct mschedule *s);

/*
 * User actions (state checks are the caller's; see schedule_api.c). Each
 * sets the state, bumps the ETag and journals. terminate: the active job
 * is terminated (TerminateJobSchedule) and the schedule completes when it
 * has; delete: every job of the schedule is deleted and the schedule goes
 * once they are; changed: the schedule property was replaced (the next
 * occurrence is computed again).
 */
void schedule_terminate(struct model *m, struct mschedule *s, int64_t now);
void schedule_delete(struct model *m, struct mschedule *s, int64_t now);
void schedule_disable(struct model *m, struct mschedule *s, int64_t now);
void schedule_enable(struct model *m, struct mschedule *s, int64_t now);
void schedule_changed(struct model *m, struct mschedule *s, int64_t now);
/* Bump the ETag and last-modified time and journal (after a patch). */
void schedule_touch(struct model *m, struct mschedule *s, int64_t now);

/*
 * Periodic work (the batch ticker): make the jobs that are due, complete
 * schedules with nothing left, remove deleted ones whose jobs are gone.
 * Takes the model lock.
 */
void schedule_tick(struct model *m, int64_t now);

#endif
