#ifndef SHOAL_BATCH_SUPER_H
#define SHOAL_BATCH_SUPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct err;
struct model;

/*
 * The node supervisor (private to batch/; see super.c for the design
 * note): grows and shrinks local pools to their targets, runs one
 * shoal-node process per node, restarts it when it dies, re-adopts agents
 * that outlived a crash of shoald, and stops them when their node leaves.
 */
struct super;

/*
 * nodes_dir is DATA/nodes (node roots live in nodes_dir/POOL/NODE).
 * Resolves node.bin (default: shoal-node next to this executable) and,
 * when running as root, node.run_as. Fails with -ERR_INVALID for an unknown
 * run-as user.
 */
int super_new(const struct config *cfg, const char *nodes_dir,
              struct super **out, struct err *err);
void super_free(struct super *sp);

/* The batch URL agents use; written to nodes_dir/server.url (atomically),
 * where running agents look when they lose the server. */
int super_set_server(struct super *sp, const char *batch_url, struct err *err);

/* At start-up (model lock held): keep agents that still run as adopted. */
void super_adopt(struct super *sp, struct model *m);

/*
 * One round of supervision (model lock held): node counts toward the
 * targets, spawn/reap/respawn agents, finish leaving nodes and deleting
 * pools. Directories to remove are appended to *rm (malloc'd paths, the
 * caller removes them after dropping the lock).
 */
void super_tick(struct super *sp, struct model *m, int64_t now, int64_t mono,
                char ***rm, size_t *nrm);

/* Shutdown: SIGTERM every agent, wait up to wait_ms, then SIGKILL. */
void super_stop_all(struct super *sp, struct model *m, int64_t wait_ms);

/* Remove a directory tree (no symlinks followed). */
void super_rm_rf(const char *path);

#endif
