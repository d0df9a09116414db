#ifndef SHOAL_BATCH_STORE_H
#define SHOAL_BATCH_STORE_H

#include <stdbool.h>
#include <stdint.h>

struct batch_event;
struct batch_event_sink;
struct db;
struct err;
struct model;

/*
 * The durable copy of the batch model in SQLite, and the journal that
 * keeps it current with group commit (see store.c for the design note and
 * the schema). Knows nothing of HTTP.
 *
 * Writers call store_put/store_del while holding the model lock, so the
 * journal order is the order of the changes in memory; each call returns a
 * ticket. store_wait(ticket) blocks until every record up to that ticket is
 * committed (or the commit carrying it failed). A committer thread applies
 * whatever is pending in one transaction, so concurrent requests and whole
 * completion batches share one fsync.
 */
enum store_kind {
    STORE_POOL,
    STORE_NODE,
    STORE_JOB,
    STORE_TASK,
    STORE_SCHEDULE,
};

struct store;

/* Migrate the schema; no thread yet. */
int store_open(struct db *db, struct store **out, struct err *err);
/* Read every row into m (pools, nodes, jobs, tasks, job schedules, in
 * that order). */
int store_load(struct store *st, struct model *m, struct err *err);
/* Start the committer thread. */
void store_start(struct store *st);
/* Flush what is pending, stop the thread, free. NULL is a no-op. */
void store_close(struct store *st);

/*
 * Queue an upsert of a row. doc_take (and spec_take, tasks only: NULL
 * keeps the stored spec and updates the document alone) are taken.
 * parent is the pool rowid of a node, the job rowid of a task.
 */
uint64_t store_put(struct store *st, enum store_kind kind, uint64_t rowid,
                   uint64_t parent, char *doc_take, char *spec_take);
/* Queue a delete (a job's delete removes its tasks' rows too). */
uint64_t store_del(struct store *st, enum store_kind kind, uint64_t rowid);
/*
 * Wait until ticket is durable. 0, or -ERR_IO when the commit carrying it
 * failed (the records stay queued and are retried). Ticket 0 is a no-op.
 */
int store_wait(struct store *st, uint64_t ticket, struct err *err);
/* The highest ticket handed out so far. */
uint64_t store_last_ticket(struct store *st);

/*
 * Events (batch.h): with a sink set, store_event queues a copy of ev as a
 * journal record; the committer hands it to sink->event inside the
 * transaction, and calls sink->committed after the commit. Without a sink
 * store_event does nothing (store_wants_events says which).
 */
void store_set_sink(struct store *st, const struct batch_event_sink *sink);
bool store_wants_events(const struct store *st);
void store_event(struct store *st, const struct batch_event *ev);

#endif
