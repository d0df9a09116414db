/*
 * kvlist.c: a list of owned name/value pairs in insertion order.
 *
 * Used for request headers, query parameters (decoded) and reply headers.
 * Lists are short (a dozen entries), so lookups are linear scans. Every
 * string is a private NUL-terminated copy; nothing points into the caller's
 * memory. Out of memory is reported (libshoal never aborts) and leaves the
 * list as it was. Not thread-safe; each list has one owner.
 */
#include "client/clientint.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/parse.h"

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int kvlist_addn(struct kvlist *l, const char *name, size_t nlen,
                const char *value, size_t vlen)
{
    char *n = NULL;
    char *v = NULL;

    if (l->n == l->alloc) {
        size_t na = l->alloc ? l->alloc * 2 : 8;
        size_t bytes;
        struct kv *nv;

        if (!size_mul(na, sizeof(*l->v), &bytes))
            return SHOAL_ERR_NOMEM;
        nv = realloc(l->v, bytes);
        if (!nv)
            return SHOAL_ERR_NOMEM;
        l->v = nv;
        l->alloc = na;
    }
    n = dupn(name, nlen);
    v = dupn(value, vlen);
    if (!n || !v) {
        free(n);
        free(v);
        return SHOAL_ERR_NOMEM;
    }
    l->v[l->n].name = n;
    l->v[l->n].value = v;
    l->n++;
    return 0;
}

int kvlist_add(struct kvlist *l, const char *name, const char *value)
{
    return kvlist_addn(l, name, strlen(name), value, strlen(value));
}

const char *kvlist_get(const struct kvlist *l, const char *name)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (str_ieq(l->v[i].name, name))
            return l->v[i].value;
    }
    return NULL;
}

void kvlist_release(struct kvlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
    l->alloc = 0;
}
