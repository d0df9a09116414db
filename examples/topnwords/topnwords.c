/*
 * topnwords.c: the task application of the Batch tutorial.
 *
 *   topnwords N FILE
 *
 * Prints the N most frequent words of FILE, one "word count" per line,
 * most frequent first, ties in byte order of the word. A word is a maximal
 * run of ASCII letters, digits and apostrophes, lower-cased; every other
 * byte separates words. Exit status: 0 ok, 1 the file could not be read
 * (or memory ran out), 2 usage.
 *
 * Structure: an open-addressing hash table (FNV-1a, linear probing,
 * doubled at 50% load) of heap-allocated words and counts; at the end the
 * entries are gathered into an array and sorted. The file is read in
 * fixed-size chunks, so input size is bounded only by the number of
 * distinct words. Words longer than WORD_MAX bytes are cut there (a run
 * that long is not prose). Single-threaded.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORD_MAX 256

struct entry {
    char *word;
    long count;
};

struct table {
    struct entry *slots;
    size_t cap; /* power of two */
    size_t used;
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int table_grow(struct table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    struct entry *ns;
    size_t i;

    if (ncap < t->cap || ncap > SIZE_MAX / sizeof(*ns))
        return -1;
    ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    for (i = 0; i < t->cap; i++) {
        size_t j;

        if (!t->slots[i].word)
            continue;
        j = hash(t->slots[i].word, strlen(t->slots[i].word)) & (ncap - 1);
        while (ns[j].word)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

static int table_add(struct table *t, const char *w, size_t n)
{
    size_t j;

    if ((t->used + 1) * 2 > t->cap && table_grow(t) < 0)
        return -1;
    j = hash(w, n) & (t->cap - 1);
    while (t->slots[j].word) {
        if (strlen(t->slots[j].word) == n &&
            memcmp(t->slots[j].word, w, n) == 0) {
            t->slots[j].count++;
            return 0;
        }
        j = (j + 1) & (t->cap - 1);
    }
    t->slots[j].word = malloc(n + 1);
    if (!t->slots[j].word)
        return -1;
    memcpy(t->slots[j].word, w, n);
    t->slots[j].word[n] = '\0';
    t->slots[j].count = 1;
    t->used++;
    return 0;
}

static int is_word_byte(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '\'';
}

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a;
    const struct entry *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

static int parse_n(const char *s, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct table t = { NULL, 0, 0 };
    struct entry *all = NULL;
    char chunk[65536];
    char word[WORD_MAX];
    size_t wlen = 0, got, i, k;
    int status = 1;
    FILE *f = NULL;
    long n;

    if (argc != 3 || parse_n(argv[1], &n) < 0) {
        fprintf(stderr, "usage: topnwords N FILE  (N >= 1)\n");
        return 2;
    }
    f = fopen(argv[2], "rb");
    if (!f) {
        fprintf(stderr, "topnwords: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        for (i = 0; i < got; i++) {
            int ch = (unsigned char)chunk[i];

            if (is_word_byte(ch)) {
                if (ch >= 'A' && ch <= 'Z')
                    ch = ch - 'A' + 'a';
                if (wlen < sizeof(word))
                    word[wlen++] = (char)ch;
            } else if (wlen) {
                if (table_add(&t, word, wlen) < 0)
                    goto oom;
                wlen = 0;
            }
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "topnwords: %s: read error\n", argv[2]);
        goto out;
    }
    if (wlen && table_add(&t, word, wlen) < 0)
        goto oom;
    all = calloc(t.used ? t.used : 1, sizeof(*all));
    if (!all)
        goto oom;
    for (i = 0, k = 0; i < t.cap; i++) {
        if (t.slots[i].word)
            all[k++] = t.slots[i];
    }
    qsort(all, t.used, sizeof(*all), cmp_entry);
    for (i = 0; i < t.used && (long)i < n; i++)
        printf("%s %ld\n", all[i].word, all[i].count);
    status = fflush(stdout) == 0 ? 0 : 1;
    goto out;
oom:
    fprintf(stderr, "topnwords: out of memory\n");
out:
    if (f)
        fclose(f);
    for (i = 0; i < t.cap; i++)
        free(t.slots[i].word);
    free(t.slots);
    free(all);
    return status;
}
