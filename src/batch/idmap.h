#ifndef SHOAL_BATCH_IDMAP_H
#define SHOAL_BATCH_IDMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Hash maps private to batch/ (see idmap.c for the design note).
 *
 * struct idmap maps a string key to a pointer, comparing keys ASCII
 * case-insensitively: Batch ids are case-preserving but unique
 * case-insensitively (batch-wire.md §10). struct u64map maps a uint64 to a
 * pointer. Both are open-addressing tables that grow by doubling; neither
 * copies nor frees the values. Not thread-safe: the owner's lock covers
 * them.
 */
struct idmap_ent {
    char *key; /* owned copy, as given */
    uint64_t hash;
    void *val;
};

struct idmap {
    struct idmap_ent *ents;
    size_t cap; /* power of two, or 0 */
    size_t n;
    size_t used; /* n plus tombstones */
};

#define IDMAP_INIT    \
    {                 \
        NULL, 0, 0, 0 \
    }

void idmap_init(struct idmap *m);
/* Free the table and the key copies (not the values). */
void idmap_release(struct idmap *m);
/* The value for key, or NULL. */
void *idmap_get(const struct idmap *m, const char *key);
/*
 * Insert key -> val (key copied). Returns 0, or -ERR_CONFLICT when an
 * equal key (case-insensitively) is present; the map is then unchanged.
 */
int idmap_put(struct idmap *m, const char *key, void *val);
/* Remove key; returns the value removed or NULL. */
void *idmap_del(struct idmap *m, const char *key);

struct u64map_ent {
    uint64_t key; /* 0 = empty, UINT64_MAX = tombstone: keys must avoid both */
    void *val;
};

struct u64map {
    struct u64map_ent *ents;
    size_t cap;
    size_t n;
    size_t used;
};

#define U64MAP_INIT   \
    {                 \
        NULL, 0, 0, 0 \
    }

void u64map_init(struct u64map *m);
void u64map_release(struct u64map *m);
void *u64map_get(const struct u64map *m, uint64_t key);
/* Insert or replace key -> val (key not 0 nor UINT64_MAX). */
void u64map_put(struct u64map *m, uint64_t key, void *val);
void *u64map_del(struct u64map *m, uint64_t key);

#endif
