/*
 * shoal_doc.c: read-only documents over Batch replies.
 *
 * A shoal_doc owns one JSON array (jansson) of entities: the items of a
 * list, or the single entity of a get. Accessors walk '/'-separated paths
 * ("executionInfo/exitCode", "resourceFiles/0/httpUrl": a segment of
 * digits indexes an array) and hand out pointers borrowed from the tree,
 * valid until shoal_doc_free. Paths are bounded (DOC_PATH_MAX) so a hostile
 * path cannot make us allocate.
 *
 * The document is never modified after creation, so concurrent readers
 * are safe; freeing is the owner's business.
 */
#include "client/clientint.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/parse.h"

#define DOC_PATH_MAX 256

struct shoal_doc {
    json_t *items;
};

int shoal_doc_take(json_t *items, shoal_doc **out)
{
    shoal_doc *d;

    if (!json_is_array(items)) {
        json_decref(items);
        return SHOAL_ERR_PROTOCOL;
    }
    d = malloc(sizeof(*d));
    if (!d) {
        json_decref(items);
        return SHOAL_ERR_NOMEM;
    }
    d->items = items;
    *out = d;
    return 0;
}

void shoal_doc_free(shoal_doc *d)
{
    if (!d)
        return;
    json_decref(d->items);
    free(d);
}

size_t shoal_doc_count(const shoal_doc *d)
{
    return d ? json_array_size(d->items) : 0;
}

static json_t *lookup(const shoal_doc *d, size_t i, const char *path)
{
    char seg[DOC_PATH_MAX];
    json_t *j;
    const char *p = path;

    if (!d || i >= json_array_size(d->items))
        return NULL;
    j = json_array_get(d->items, i);
    if (!path || !*path)
        return j;
    while (j && *p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        uint64_t idx;

        if (n == 0 || n >= sizeof(seg))
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (json_is_object(j))
            j = json_object_get(j, seg);
        else if (json_is_array(j) && parse_u64(seg, 0, SIZE_MAX, &idx) == 0)
            j = json_array_get(j, (size_t)idx);
        else
            return NULL;
        p += n;
        if (*p == '/')
            p++;
    }
    return j;
}

const char *shoal_doc_str(const shoal_doc *d, size_t i, const char *path)
{
    json_t *j = lookup(d, i, path);

    return json_is_string(j) ? json_string_value(j) : NULL;
}

int shoal_doc_int(const shoal_doc *d, size_t i, const char *path, int64_t *out)
{
    json_t *j = lookup(d, i, path);
    int64_t v;

    if (json_is_integer(j)) {
        *out = (int64_t)json_integer_value(j);
        return 0;
    }
    /* Batch sends int64 values as strings (batch-wire.md §3). */
    if (json_is_string(j) &&
        parse_i64(json_string_value(j), INT64_MIN, INT64_MAX, &v) == 0) {
        *out = v;
        return 0;
    }
    return SHOAL_ERR_NOTFOUND;
}

bool shoal_doc_has(const shoal_doc *d, size_t i, const char *path)
{
    return lookup(d, i, path) != NULL;
}

char *shoal_doc_json(const shoal_doc *d, size_t i, bool pretty)
{
    size_t flags = pretty ? JSON_INDENT(2) : JSON_COMPACT;
    json_t *j;

    if (!d)
        return NULL;
    j = i == SHOAL_DOC_ALL ? d->items : lookup(d, i, NULL);
    if (!j)
        return NULL;
    return json_dumps(j, flags | JSON_PRESERVE_ORDER);
}
