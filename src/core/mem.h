#ifndef SHOAL_MEM_H
#define SHOAL_MEM_H

#include <stddef.h>
#include <stdbool.h>

/*
 * Allocation helpers for the daemons (shoald, shoal-node). The x* functions
 * log and abort on out-of-memory, as Redis and git do: whatever got a 2xx is
 * already on disk. libshoal must not use them; it checks malloc itself.
 */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh heap string; aborts on OOM. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Checked size arithmetic: return false (and leave *out untouched) on
 * overflow, true otherwise.
 */
bool size_add(size_t a, size_t b, size_t *out);
bool size_mul(size_t a, size_t b, size_t *out);

#define FREE_AND_NULL(p)                                                       \
    do {                                                                       \
        free(p);                                                               \
        (p) = NULL;                                                            \
    } while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
