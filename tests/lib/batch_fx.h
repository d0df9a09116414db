#ifndef SHOAL_TEST_BATCH_FX_H
#define SHOAL_TEST_BATCH_FX_H

/*
 * The fixture of the batch unit tests: a model and its store over SQLite
 * in a fresh temporary directory, reopened in place for round trips, and
 * the pools and idle nodes the tests schedule on. Include after unit.h.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "batch/model.h"
#include "batch/store.h"
#include "core/err.h"
#include "core/mem.h"
#include "db/db.h"

enum batch_fx_flags {
    /* batch_fx_close waits for the journal before closing the store */
    BATCH_FX_WAIT = 1 << 0,
};

struct batch_fx {
    char dir[64];
    char *path;
    struct db *db;
    struct store *st;
    struct model m;
    enum batch_fx_flags flags;
};

static inline void batch_fx_open(struct batch_fx *f)
{
    struct err e = ERR_INIT;

    assert_int_equal(db_open(f->path, false, &f->db, &e), 0);
    assert_int_equal(store_open(f->db, &f->st, &e), 0);
    model_init(&f->m, f->st);
    assert_int_equal(store_load(f->st, &f->m, &e), 0);
    store_start(f->st);
}

static inline void batch_fx_close(struct batch_fx *f)
{
    if (f->flags & BATCH_FX_WAIT) {
        struct err e = ERR_INIT;

        assert_int_equal(store_wait(f->st, store_last_ticket(f->st), &e), 0);
    }
    store_close(f->st);
    model_release(&f->m);
    db_close(f->db);
}

/* An open fixture in a new directory /tmp/shoal-<name>-XXXXXX. */
static inline struct batch_fx *batch_fx_new(const char *name,
                                            enum batch_fx_flags flags)
{
    struct batch_fx *f = xcalloc(1, sizeof(*f));

    f->flags = flags;
    snprintf(f->dir, sizeof(f->dir), "/tmp/shoal-%s-XXXXXX", name);
    assert_non_null(mkdtemp(f->dir));
    f->path = xasprintf("%s/meta.db", f->dir);
    batch_fx_open(f);
    return f;
}

/* Closes the fixture and removes its database and directory. */
static inline void batch_fx_free(struct batch_fx *f)
{
    char *p;

    batch_fx_close(f);
    unlink(f->path);
    p = xasprintf("%s-wal", f->path);
    unlink(p);
    free(p);
    p = xasprintf("%s-shm", f->path);
    unlink(p);
    free(p);
    rmdir(f->dir);
    free(f->path);
    free(f);
}

static inline struct mpool *batch_fx_pool(struct batch_fx *f, const char *id,
                                          int slots)
{
    json_t *spec = json_pack("{s:s, s:s, s:i}", "id", id, "vmSize", "x",
                             "taskSlotsPerNode", slots);
    struct mpool *p = model_pool_new(&f->m, "acct", id, spec, 1000);

    model_save_pool(&f->m, p);
    return p;
}

static inline struct mnode *batch_fx_node(struct batch_fx *f, struct mpool *p,
                                          const char *id)
{
    struct mnode *n = model_node_new(&f->m, p, id, 1000);

    n->state = NODE_IDLE;
    model_save_node(&f->m, n);
    return n;
}

#endif
