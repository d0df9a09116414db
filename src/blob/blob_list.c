/*
 * blob_list.c: List Containers and List Blobs.
 *
 * Both walk an index in binary (memcmp) name order: blob_containers
 * (account, name) and blob_blobs (container_id, name); SQLite's BINARY
 * collation is exactly the UTF-8 byte order the service promises. A page
 * starts at max(prefix, marker) and stops at the first name outside the
 * prefix, so a page costs O(page size), not O(container size).
 *
 * Markers. NextMarker is the name of the first item of the next page,
 * which makes the marker an inclusive start key: the next page is "names
 * >= marker". It is plain text in the XML (escaped) and the SDKs send it
 * back as given.
 *
 * Delimiters. With a delimiter, a name that holds it after the prefix
 * folds into the BlobPrefix "prefix + text up to and including the
 * delimiter". One BlobPrefix counts once toward maxresults. After
 * emitting one, the walk seeks past every name that shares it: the seek
 * key is the BlobPrefix followed by byte 0xFF, which no UTF-8 name
 * contains, so it sorts after every name with that prefix. The marker of
 * a page that stops at a BlobPrefix is the first name inside it; the next
 * page then begins with that same BlobPrefix folded again, which is the
 * one it has not shown yet.
 *
 * Placeholder rows (names with only uncommitted blocks) are skipped
 * unless include=uncommittedblobs asked for them.
 *
 * The whole page is read under the db lock, so it is a consistent
 * snapshot. Results own their strings.
 */
#include "blob/blobint.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "db/db.h"

#define LIST_BATCH 512

void blob_list_result_release(struct blob_list_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].name);
        blob_props_release(&r->items[i].props);
    }
    FREE_AND_NULL(r->items);
    r->n = r->alloc = 0;
    FREE_AND_NULL(r->next_marker);
}

static struct blob_list_item *add_item(struct blob_list_result *r)
{
    if (r->n == r->alloc) {
        r->alloc = r->alloc ? r->alloc * 2 : 32;
        r->items = xrealloc(r->items, r->alloc * sizeof(*r->items));
    }
    memset(&r->items[r->n], 0, sizeof(r->items[0]));
    return &r->items[r->n++];
}

static bool has_prefix(const char *name, size_t len, const char *prefix,
                       size_t plen)
{
    return len >= plen && memcmp(name, prefix, plen) == 0;
}

/* Find delim in s[0..n); returns its offset or -1. */
static long find_delim(const char *s, size_t n, const char *delim, size_t dl)
{
    if (dl == 0 || dl > n)
        return -1;
    for (size_t i = 0; i + dl <= n; i++) {
        if (memcmp(s + i, delim, dl) == 0)
            return (long)i;
    }
    return -1;
}

int blob_list_blobs(struct blob_store *bs, const char *account,
                    const char *container, const struct blob_list_opts *o,
                    struct blob_list_result *out, struct err *err)
{
    struct db *db = blob_store_db(bs);
    const char *prefix = o->prefix ? o->prefix : "";
    size_t plen = strlen(prefix);
    const char *delim = o->delimiter ? o->delimiter : "";
    size_t dl = strlen(delim);
    char *key = NULL;
    size_t klen;
    bool inclusive = true;
    bool done = false;
    int64_t cid;
    int rc;

    memset(out, 0, sizeof(*out));
    if (o->marker && strcmp(o->marker, prefix) > 0)
        key = xstrdup(o->marker);
    else
        key = xstrdup(prefix);
    klen = strlen(key);

    db_lock(db);
    rc = blob_container_find(bs, account, container, &cid, err);
    while (rc == 0 && !done) {
        sqlite3_stmt *st;
        size_t rows = 0;
        bool requery = false;

        st = inclusive
                 ? db_stmt(db, "SELECT name, " BLOB_PROPS_COLS " FROM "
                               "blob_blobs WHERE container_id=? AND name >= ?"
                               " ORDER BY name LIMIT ?")
                 : db_stmt(db, "SELECT name, " BLOB_PROPS_COLS " FROM "
                               "blob_blobs WHERE container_id=? AND name > ?"
                               " ORDER BY name LIMIT ?");
        sqlite3_bind_int64(st, 1, cid);
        sqlite3_bind_text(st, 2, key, (int)klen, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, LIST_BATCH);
        while (!done && !requery && sqlite3_step(st) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(st, 0);
            size_t len = (size_t)sqlite3_column_bytes(st, 0);
            long d;
            struct blob_list_item *it;

            rows++;
            if (!has_prefix(name, len, prefix, plen)) {
                done = true;
                break;
            }
            if (!o->uncommitted && sqlite3_column_int(st, 2) == 0) {
                /* a placeholder: not listed, but walk past it */
                free(key);
                key = xstrndup(name, len);
                klen = len;
                inclusive = false;
                continue;
            }
            d = find_delim(name + plen, len - plen, delim, dl);
            if (out->n == o->max) {
                out->next_marker = xstrndup(name, len);
                done = true;
                break;
            }
            if (d >= 0) {
                size_t pl = plen + (size_t)d + dl;

                it = add_item(out);
                it->is_prefix = true;
                it->name = xstrndup(name, pl);
                it->name_len = pl;
                free(key);
                key = xmalloc(pl + 2);
                memcpy(key, name, pl);
                key[pl] = (char)0xFF;
                key[pl + 1] = '\0';
                klen = pl + 1;
                inclusive = true;
                requery = true;
                break;
            }
            it = add_item(out);
            it->name = xstrndup(name, len);
            it->name_len = len;
            blob_object_from_row(st, 1, &it->props);
            free(key);
            key = xstrndup(name, len);
            klen = len;
            inclusive = false;
        }
        sqlite3_reset(st);
        if (!requery && rows < LIST_BATCH)
            done = true;
    }
    db_unlock(db);
    free(key);
    if (rc < 0)
        blob_list_result_release(out);
    return rc;
}

void blob_list_containers_release(struct blob_container_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        blob_container_release(&l->items[i]);
    FREE_AND_NULL(l->items);
    l->n = 0;
    FREE_AND_NULL(l->next_marker);
}

int blob_list_containers(struct blob_store *bs, const char *account,
                         const char *prefix, const char *marker, size_t max,
                         struct blob_container_list *out, struct err *err)
{
    struct db *db = blob_store_db(bs);
    const char *start = prefix ? prefix : "";
    size_t plen = strlen(start);
    sqlite3_stmt *st;
    size_t alloc = 0;

    (void)err;
    memset(out, 0, sizeof(*out));
    if (marker && strcmp(marker, start) > 0)
        start = marker;
    db_lock(db);
    st = db_stmt(db, "SELECT " BLOB_CONTAINER_COLS " FROM blob_containers "
                     "WHERE account=? AND name >= ? ORDER BY name LIMIT ?");
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, start, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)max + 1);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);

        if (!name || strncmp(name, prefix ? prefix : "", plen) != 0)
            break;
        if (out->n == max) {
            out->next_marker = xstrdup(name);
            break;
        }
        if (out->n == alloc) {
            alloc = alloc ? alloc * 2 : 32;
            out->items = xrealloc(out->items, alloc * sizeof(*out->items));
        }
        blob_container_from_row(st, 0, &out->items[out->n++]);
    }
    sqlite3_reset(st);
    db_unlock(db);
    return 0;
}
