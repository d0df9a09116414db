#ifndef SHOAL_SHOALD_EVENTS_H
#define SHOAL_SHOALD_EVENTS_H

struct batch_service;
struct notify;

/*
 * Connect the batch service's state-change events to notify (event log,
 * job media states, subscriptions) and notify's job lookup to batch.
 * Call after both are open and before batch_service_start; n must outlive
 * the batch service's committer.
 */
void events_wire(struct batch_service *b, struct notify *n);

#endif
