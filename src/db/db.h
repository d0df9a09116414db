#ifndef SHOAL_DB_H
#define SHOAL_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>

struct err;

/*
 * SQLite metadata store (see db.c for the design note).
 *
 * One connection in WAL mode, guarded by a mutex: take db_lock() around any
 * use of the handle or statements, and keep the lock for the whole
 * transaction. Statements are prepared once and cached by the address of
 * their SQL text (use string literals): db_stmt() returns a reset statement
 * with bindings cleared, owned by the cache.
 *
 * Schema: each component (blob, queue, batch, notify) registers its forward
 * migrations with db_migrate(); the version of each component is kept in the
 * table schema_version(component, version). To change a schema, append a
 * step to that component's array; never edit a step that has shipped.
 */
struct db;

struct db_migration {
    int version;     /* 1, 2, 3 ... in order */
    const char *sql; /* one or more statements */
};

int db_open(const char *path, bool sync_full, struct db **out,
            struct err *err);
void db_close(struct db *db);

void db_lock(struct db *db);
void db_unlock(struct db *db);
sqlite3 *db_handle(struct db *db);

/* Cached prepared statement (lock held). Aborts on a bad SQL text (a bug). */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

/* Transactions (lock held). begin is BEGIN IMMEDIATE. */
int db_begin(struct db *db, struct err *err);
int db_commit(struct db *db, struct err *err);
void db_rollback(struct db *db);

/* Run SQL without results (lock held). */
int db_exec(struct db *db, const char *sql, struct err *err);

/*
 * Step a statement that returns no rows (or ignore them) and reset it.
 * Returns 0, -ERR_CONFLICT on a constraint violation, -ERR_BUSY, or -ERR_IO.
 */
int db_step_done(struct db *db, sqlite3_stmt *st, struct err *err);

/* Apply component's migrations past its stored version (takes the lock). */
int db_migrate(struct db *db, const char *component,
               const struct db_migration *steps, size_t n, struct err *err);

/* Copy a text column (NULL stays NULL). Aborts on OOM. */
char *db_col_strdup(sqlite3_stmt *st, int col);

#endif
