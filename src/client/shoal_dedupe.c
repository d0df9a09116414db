/*
 * shoal_dedupe.c: a bounded set of recently seen keys (notification ETags).
 *
 * At-least-once delivery means a consumer sees some messages twice, with
 * the same ETag (notifications.md §2.3, §5.5). A consumer that runs for
 * days cannot remember every ETag, so the set keeps at most max keys and
 * forgets the least recently used: a duplicate arrives soon after the
 * original (a visibility timeout, a retried delivery), well inside the
 * window of the last few thousand messages.
 *
 * Structure: a hash table of singly linked chains (FNV-1a, a power of two
 * of buckets, at least twice max so chains stay short) over nodes that
 * are also on one doubly linked LRU list, most recent at the head. Keys
 * are copied into their node (one allocation per key). Invariants: count
 * == nodes on the list == nodes in the chains <= max.
 *
 * Memory: max * (node + key) plus the bucket array; nothing grows past it.
 * Not thread-safe: one consumer owns a set.
 */
#include "client/clientint.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define DEDUPE_DEFAULT 4096
#define DEDUPE_MAX     (1u << 24)
#define DEDUPE_KEY_MAX 256

struct dnode {
    struct dnode *chain; /* next in the bucket */
    struct dnode *prev;  /* LRU list: towards the head (newer) */
    struct dnode *next;  /* towards the tail (older) */
    uint64_t hash;
    char key[]; /* NUL-terminated copy */
};

struct shoal_dedupe {
    struct dnode **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    size_t max;
    struct dnode *head; /* most recently used */
    struct dnode *tail; /* least recently used: evicted first */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int shoal_dedupe_new(size_t max, shoal_dedupe **out)
{
    shoal_dedupe *d;
    size_t nb = 16, bytes;

    if (!out)
        return SHOAL_ERR_INVALID;
    if (max == 0)
        max = DEDUPE_DEFAULT;
    if (max > DEDUPE_MAX)
        return SHOAL_ERR_INVALID;
    while (nb < max * 2)
        nb *= 2;
    d = calloc(1, sizeof(*d));
    if (!d)
        return SHOAL_ERR_NOMEM;
    if (!size_mul(nb, sizeof(*d->buckets), &bytes) ||
        !(d->buckets = calloc(1, bytes))) {
        free(d);
        return SHOAL_ERR_NOMEM;
    }
    d->nbuckets = nb;
    d->max = max;
    *out = d;
    return 0;
}

void shoal_dedupe_free(shoal_dedupe *d)
{
    struct dnode *n, *next;

    if (!d)
        return;
    for (n = d->head; n; n = next) {
        next = n->next;
        free(n);
    }
    free(d->buckets);
    free(d);
}

size_t shoal_dedupe_count(const shoal_dedupe *d)
{
    return d ? d->count : 0;
}

static void lru_unlink(shoal_dedupe *d, struct dnode *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        d->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        d->tail = n->prev;
    n->prev = n->next = NULL;
}

static void lru_push(shoal_dedupe *d, struct dnode *n)
{
    n->prev = NULL;
    n->next = d->head;
    if (d->head)
        d->head->prev = n;
    d->head = n;
    if (!d->tail)
        d->tail = n;
}

static struct dnode **find(shoal_dedupe *d, const char *key, uint64_t h)
{
    struct dnode **pp = &d->buckets[h & (d->nbuckets - 1)];

    while (*pp && !((*pp)->hash == h && strcmp((*pp)->key, key) == 0))
        pp = &(*pp)->chain;
    return pp;
}

bool shoal_dedupe_seen(shoal_dedupe *d, const char *key)
{
    struct dnode *n;

    if (!d || !key)
        return false;
    n = *find(d, key, fnv1a(key));
    if (!n)
        return false;
    lru_unlink(d, n);
    lru_push(d, n);
    return true;
}

static void evict_oldest(shoal_dedupe *d)
{
    struct dnode *old = d->tail;
    struct dnode **pp;

    pp = find(d, old->key, old->hash);
    *pp = old->chain;
    lru_unlink(d, old);
    free(old);
    d->count--;
}

int shoal_dedupe_add(shoal_dedupe *d, const char *key)
{
    struct dnode **pp, *n;
    size_t len, bytes;
    uint64_t h;

    if (!d || !key)
        return SHOAL_ERR_INVALID;
    len = strlen(key);
    if (len > DEDUPE_KEY_MAX)
        return SHOAL_ERR_INVALID;
    h = fnv1a(key);
    pp = find(d, key, h);
    if (*pp) {
        lru_unlink(d, *pp);
        lru_push(d, *pp);
        return 0;
    }
    if (!size_add(sizeof(*n), len + 1, &bytes))
        return SHOAL_ERR_NOMEM;
    n = malloc(bytes);
    if (!n)
        return SHOAL_ERR_NOMEM;
    n->hash = h;
    memcpy(n->key, key, len + 1);
    if (d->count >= d->max) {
        evict_oldest(d);
        pp = find(d, key, h); /* the eviction may have moved the slot */
    }
    n->chain = NULL;
    *pp = n;
    lru_push(d, n);
    d->count++;
    return 0;
}
