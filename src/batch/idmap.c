/*
 * idmap.c: the two hash maps of the batch model.
 *
 * Purpose: find pools, jobs, tasks and nodes by id (case-insensitively, as
 * Batch compares ids) and tasks by row id, in O(1), so no request and no
 * scheduling decision scans a collection.
 *
 * Structures: open addressing with linear probing over a power-of-two
 * array. idmap stores the FNV-1a hash of the lower-cased key beside an
 * owned copy of the key as given; u64map stores the key itself (0 marks an
 * empty slot, UINT64_MAX a tombstone, so those two keys are not allowed:
 * row ids start at 1).
 *
 * Invariants: used (live + tombstones) stays below 3/4 of cap; the table
 * is rebuilt (tombstones dropped, size doubled when live entries need it)
 * when an insert would pass that. Lookups stop at the first empty slot.
 *
 * Threads: none of their own; the caller's lock covers each map.
 * Ownership: keys are copied in and freed here; values are the caller's.
 */
#include "batch/idmap.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

static char idmap_tomb[1];

static uint64_t hash_ci(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++) {
        h ^= (uint64_t)(unsigned char)tolower((unsigned char)*s);
        h *= 1099511628211ull;
    }
    return h;
}

void idmap_init(struct idmap *m)
{
    memset(m, 0, sizeof(*m));
}

void idmap_release(struct idmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->ents[i].key && m->ents[i].key != idmap_tomb)
            free(m->ents[i].key);
    }
    free(m->ents);
    idmap_init(m);
}

static struct idmap_ent *find(const struct idmap *m, const char *key,
                              uint64_t h)
{
    size_t mask = m->cap - 1;

    if (!m->cap)
        return NULL;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct idmap_ent *e = &m->ents[i];
        if (!e->key)
            return NULL;
        if (e->key != idmap_tomb && e->hash == h &&
            strcasecmp(e->key, key) == 0)
            return e;
    }
}

static void rehash(struct idmap *m, size_t cap)
{
    struct idmap_ent *old = m->ents;
    size_t ocap = m->cap;
    size_t bytes;

    if (!size_mul(cap, sizeof(*old), &bytes))
        BUG("idmap too large");
    m->ents = xcalloc(1, bytes);
    m->cap = cap;
    m->used = m->n;
    for (size_t i = 0; i < ocap; i++) {
        struct idmap_ent *e = &old[i];
        size_t j;
        if (!e->key || e->key == idmap_tomb)
            continue;
        for (j = (size_t)e->hash & (cap - 1); m->ents[j].key;
             j = (j + 1) & (cap - 1))
            ;
        m->ents[j] = *e;
    }
    free(old);
}

void *idmap_get(const struct idmap *m, const char *key)
{
    struct idmap_ent *e = find(m, key, hash_ci(key));

    return e ? e->val : NULL;
}

int idmap_put(struct idmap *m, const char *key, void *val)
{
    uint64_t h = hash_ci(key);
    size_t i;

    if (find(m, key, h))
        return -ERR_CONFLICT;
    if ((m->used + 1) * 4 >= m->cap * 3) {
        size_t cap = m->cap ? m->cap : 16;
        while ((m->n + 1) * 2 >= cap)
            cap *= 2;
        rehash(m, cap);
    }
    for (i = (size_t)h & (m->cap - 1);
         m->ents[i].key && m->ents[i].key != idmap_tomb;
         i = (i + 1) & (m->cap - 1))
        ;
    if (!m->ents[i].key)
        m->used++;
    m->ents[i].key = xstrdup(key);
    m->ents[i].hash = h;
    m->ents[i].val = val;
    m->n++;
    return 0;
}

void *idmap_del(struct idmap *m, const char *key)
{
    struct idmap_ent *e = find(m, key, hash_ci(key));
    void *val;

    if (!e)
        return NULL;
    val = e->val;
    free(e->key);
    e->key = idmap_tomb;
    e->val = NULL;
    m->n--;
    return val;
}

/* ---- u64map ----------------------------------------------------------- */

#define U64_TOMB UINT64_MAX

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

void u64map_init(struct u64map *m)
{
    memset(m, 0, sizeof(*m));
}

void u64map_release(struct u64map *m)
{
    free(m->ents);
    u64map_init(m);
}

static struct u64map_ent *u64_find(const struct u64map *m, uint64_t key)
{
    size_t mask = m->cap - 1;

    if (!m->cap)
        return NULL;
    for (size_t i = (size_t)mix64(key) & mask;; i = (i + 1) & mask) {
        struct u64map_ent *e = &m->ents[i];
        if (e->key == 0)
            return NULL;
        if (e->key == key)
            return e;
    }
}

static void u64_rehash(struct u64map *m, size_t cap)
{
    struct u64map_ent *old = m->ents;
    size_t ocap = m->cap;
    size_t bytes;

    if (!size_mul(cap, sizeof(*old), &bytes))
        BUG("u64map too large");
    m->ents = xcalloc(1, bytes);
    m->cap = cap;
    m->used = m->n;
    for (size_t i = 0; i < ocap; i++) {
        size_t j;
        if (old[i].key == 0 || old[i].key == U64_TOMB)
            continue;
        for (j = (size_t)mix64(old[i].key) & (cap - 1); m->ents[j].key;
             j = (j + 1) & (cap - 1))
            ;
        m->ents[j] = old[i];
    }
    free(old);
}

void *u64map_get(const struct u64map *m, uint64_t key)
{
    struct u64map_ent *e = u64_find(m, key);

    return e ? e->val : NULL;
}

void u64map_put(struct u64map *m, uint64_t key, void *val)
{
    struct u64map_ent *e = u64_find(m, key);
    size_t i;

    if (key == 0 || key == U64_TOMB)
        BUG("u64map key 0 or UINT64_MAX");
    if (e) {
        e->val = val;
        return;
    }
    if ((m->used + 1) * 4 >= m->cap * 3) {
        size_t cap = m->cap ? m->cap : 16;
        while ((m->n + 1) * 2 >= cap)
            cap *= 2;
        u64_rehash(m, cap);
    }
    for (i = (size_t)mix64(key) & (m->cap - 1);
         m->ents[i].key && m->ents[i].key != U64_TOMB;
         i = (i + 1) & (m->cap - 1))
        ;
    if (m->ents[i].key == 0)
        m->used++;
    m->ents[i].key = key;
    m->ents[i].val = val;
    m->n++;
}

void *u64map_del(struct u64map *m, uint64_t key)
{
    struct u64map_ent *e = u64_find(m, key);
    void *val;

    if (!e)
        return NULL;
    val = e->val;
    e->key = U64_TOMB;
    e->val = NULL;
    m->n--;
    return val;
}
