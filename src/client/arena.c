/*
 * arena.c: a bag of heap blocks freed together.
 *
 * Results handed to users (blob properties, queue messages) hold many small
 * strings; the arena records each so one release frees them all. Copies
 * report out of memory through *oom instead of aborting, so a caller can
 * make a run of copies and check once. Not thread-safe; one owner.
 */
#include "client/clientint.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

bool arena_take(struct arena *a, void *p)
{
    if (a->n == a->alloc) {
        size_t na = a->alloc ? a->alloc * 2 : 16;
        size_t bytes;
        char **nv;

        if (!size_mul(na, sizeof(*a->v), &bytes))
            return false;
        nv = realloc(a->v, bytes);
        if (!nv)
            return false;
        a->v = nv;
        a->alloc = na;
    }
    a->v[a->n++] = p;
    return true;
}

char *arena_strndup(struct arena *a, const char *s, size_t n, bool *oom)
{
    char *p;

    if (!s)
        return NULL;
    p = malloc(n + 1);
    if (!p) {
        *oom = true;
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    if (!arena_take(a, p)) {
        free(p);
        *oom = true;
        return NULL;
    }
    return p;
}

char *arena_strdup(struct arena *a, const char *s, bool *oom)
{
    if (!s)
        return NULL;
    return arena_strndup(a, s, strlen(s), oom);
}

void arena_release(struct arena *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
    a->alloc = 0;
}
