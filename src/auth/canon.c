/*
 * canon.c: canonicalization shared by storage SharedKey (sharedkey.c) and
 * Batch SharedKey (batchkey.c).
 *
 * struct canon_list holds owned, NUL-terminated name/value pairs plus their
 * arrival index. It is built per request and freed with
 * canon_list_release; nothing in it points into the request.
 *
 * Query strings are parsed from the raw query as received (never from
 * http's already-split parameters) so that repeated names, empty values
 * and names with odd encodings are seen exactly as the client signed them.
 * Decoding is %XX only: storage and Batch clients encode '+' as %2B, so a
 * literal '+' is a '+'.
 *
 * Sort orders. The documented rule for canonicalized headers is a plain
 * lexicographic sort, but the SDKs disagree for names holding '-', '_' or
 * digits after the common prefix (storage-wire.md §3.1). The verifier
 * rebuilds the string in each order that actually differs:
 *
 *   CANON_ORDER_PY     one weight per byte: '-' < '_' < other punctuation
 *                      < digits < letters
 *   CANON_ORDER_BYTES  strcmp
 *   CANON_ORDER_JS     JS storage-common's three-level comparator. Level 1
 *                      ignores '-' and '\'' (and the characters no header
 *                      name can hold) and weighs punctuation in the order
 *                      ! # $ % & * . ^ _ ` | ~ +, then digits, then letters
 *                      (case folded). Level 2 weighs only upper case.
 *                      Level 3 weighs only '-' and '\''; there, as soon as
 *                      the two scans have skipped different numbers of
 *                      characters, the one that skipped more sorts first.
 *                      A shorter string sorts first at any level.
 *
 * Allocation: a handful of small strings per request (xmalloc: shoald
 * aborts on out-of-memory). They could come from a request arena once http
 * offers one.
 *
 * All functions are reentrant; the lists are owned by the caller.
 */
#include "auth/authint.h"

#include <string.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "http/http.h"

void canon_list_release(struct canon_list *l)
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

/* Append a pair, taking ownership of name and value. */
static void list_push(struct canon_list *l, char *name, char *value)
{
    if (l->n == l->alloc) {
        size_t na = l->alloc ? l->alloc * 2 : 16;
        size_t bytes;

        if (!size_mul(na, sizeof(*l->v), &bytes))
            BUG("canon list overflow");
        l->v = xrealloc(l->v, bytes);
        l->alloc = na;
    }
    l->v[l->n].name = name;
    l->v[l->n].value = value;
    l->v[l->n].idx = l->n;
    l->n++;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int decode_part(const char *s, size_t len, bool lower_it, char **out)
{
    struct buf b = BUF_INIT;
    size_t i;
    int rc;

    buf_init(&b, AUTH_STS_MAX);
    rc = codec_pct_decode(&b, s, len, false);
    if (rc < 0) {
        buf_release(&b);
        return rc;
    }
    if (lower_it) {
        for (i = 0; i < b.len; i++)
            b.data[i] = lower(b.data[i]);
    }
    *out = buf_detach(&b, NULL);
    return *out ? 0 : -ERR_NOMEM;
}

int canon_query(const char *query, bool lower_names, struct canon_list *out)
{
    const char *p = query ? query : "";

    while (*p) {
        const char *end = strchr(p, '&');
        const char *eq;
        char *name = NULL;
        char *value = NULL;
        size_t len;
        int rc;

        if (!end)
            end = p + strlen(p);
        len = (size_t)(end - p);
        if (len > 0) {
            eq = memchr(p, '=', len);
            rc =
                decode_part(p, eq ? (size_t)(eq - p) : len, lower_names, &name);
            if (rc == 0 && eq)
                rc = decode_part(eq + 1, (size_t)(end - eq - 1), false, &value);
            else if (rc == 0)
                rc = decode_part("", 0, false, &value);
            if (rc < 0) {
                free(name);
                return rc;
            }
            list_push(out, name, value);
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

struct header_ctx {
    struct canon_list *out;
    const char *prefix;
    bool skip_empty;
};

static void collect_header(void *ctx, const char *name, const char *value)
{
    struct header_ctx *h = ctx;
    struct canon_list *l = h->out;
    char *lname;
    size_t i;

    if (!str_iprefix(name, h->prefix))
        return;
    if (!value)
        value = "";
    if (h->skip_empty && value[0] == '\0')
        return;
    for (i = 0; i < l->n; i++) {
        if (str_ieq(l->v[i].name, name)) {
            /* Repeated header: one line, values joined with ','. */
            char *joined = xasprintf("%s,%s", l->v[i].value, value);

            free(l->v[i].value);
            l->v[i].value = joined;
            return;
        }
    }
    lname = xstrdup(name);
    for (i = 0; lname[i]; i++)
        lname[i] = lower(lname[i]);
    list_push(l, lname, xstrdup(value));
}

int canon_headers(struct http_req *req, const char *prefix, bool skip_empty,
                  struct canon_list *out)
{
    struct header_ctx h = { out, prefix, skip_empty };

    http_header_each(req, collect_header, &h);
    return 0;
}

/* Python: a single weight per byte. */
static int weight_py(unsigned char c)
{
    if (c == '-')
        return 1;
    if (c == '_')
        return 2;
    if (c >= '0' && c <= '9')
        return 300 + (c - '0');
    if (c >= 'A' && c <= 'Z')
        return 400 + (c - 'A');
    if (c >= 'a' && c <= 'z')
        return 500 + (c - 'a');
    return 10 + c; /* other punctuation, and bytes >= 0x80 after it */
}

static int compare_py(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;

    for (; *p && *q; p++, q++) {
        int d = weight_py(*p) - weight_py(*q);

        if (d)
            return d;
    }
    return (*p != 0) - (*q != 0);
}

/* Weight of "end of string" in the JS levels: below any character. */
#define JS_END 1

static unsigned weight_js(int level, unsigned char c)
{
    static const char punct[] = "!#$%&*.^_`|~+";
    const char *hit;

    if (level == 0) {
        if (c >= 0x80)
            return 4000u + c;
        if (c >= 'a' && c <= 'z')
            return 300u + (unsigned)(c - 'a');
        if (c >= 'A' && c <= 'Z')
            return 300u + (unsigned)(c - 'A');
        if (c >= '0' && c <= '9')
            return 200u + (unsigned)(c - '0');
        hit = c ? strchr(punct, c) : NULL;
        if (hit)
            return 100u + (unsigned)(hit - punct);
        return 0; /* ignorable: '-', '\'', and bytes no token holds */
    }
    if (level == 1)
        return (c >= 'A' && c <= 'Z') ? 18u : 0u;
    if (c == '\'')
        return 32786u;
    if (c == '-')
        return 33298u;
    return 0;
}

/* Whether a sorts strictly before b under the JS comparator. */
static bool js_less(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;
    size_t na = strlen(a);
    size_t nb = strlen(b);
    int level;

    for (level = 0; level < 3; level++) {
        size_t i = 0;
        size_t j = 0;

        for (;;) {
            unsigned w1;
            unsigned w2;

            if (level == 2 && i != j)
                return i > j;
            w1 = i < na ? weight_js(level, p[i]) : JS_END;
            w2 = j < nb ? weight_js(level, q[j]) : JS_END;
            if (w1 == JS_END && w2 == JS_END)
                break;
            if (w1 == w2) {
                i++;
                j++;
            } else if (w1 == 0) {
                i++;
            } else if (w2 == 0) {
                j++;
            } else {
                return w1 < w2;
            }
        }
    }
    return false;
}

int canon_compare(const char *a, const char *b, enum canon_order order)
{
    switch (order) {
    case CANON_ORDER_PY:
        return compare_py(a, b);
    case CANON_ORDER_JS:
        if (js_less(a, b))
            return -1;
        return js_less(b, a) ? 1 : 0;
    case CANON_ORDER_BYTES:
    case CANON_ORDER_COUNT:
        break;
    }
    return strcmp(a, b);
}

static int tie(const struct canon_pair *x, const struct canon_pair *y)
{
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_py(const void *a, const void *b)
{
    const struct canon_pair *x = a;
    const struct canon_pair *y = b;
    int d = compare_py(x->name, y->name);

    return d ? d : tie(x, y);
}

static int cmp_bytes(const void *a, const void *b)
{
    const struct canon_pair *x = a;
    const struct canon_pair *y = b;
    int d = strcmp(x->name, y->name);

    return d ? d : tie(x, y);
}

static int cmp_js(const void *a, const void *b)
{
    const struct canon_pair *x = a;
    const struct canon_pair *y = b;
    int d = canon_compare(x->name, y->name, CANON_ORDER_JS);

    return d ? d : tie(x, y);
}

void canon_sort(struct canon_list *l, enum canon_order order)
{
    int (*cmp)(const void *, const void *) = cmp_bytes;

    if (l->n < 2)
        return;
    if (order == CANON_ORDER_PY)
        cmp = cmp_py;
    else if (order == CANON_ORDER_JS)
        cmp = cmp_js;
    qsort(l->v, l->n, sizeof(*l->v), cmp);
}
