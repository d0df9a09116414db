#ifndef SHOAL_BLOBINT_H
#define SHOAL_BLOBINT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/err.h"
#include "db/db.h"

struct buf;
struct config;
struct db;

/*
 * Private to src/blob (and its unit tests): the pieces the blob service is
 * made of. Services use blob.h; nothing outside this directory includes
 * this file.
 *
 *   blob_names.c      path splitting, container/blob/metadata name rules,
 *                     block ids, the metadata wire form
 *   blob_range.c      Range / x-ms-range parsing and resolution
 *   blob_cond.c       If-Match, If-None-Match, If-Modified-Since,
 *                     If-Unmodified-Since
 *   blob_lease.c      the lease state machine (blobs and containers)
 *   blob_xmlbody.c    request bodies: block lists, signed identifiers
 *   blob_files.c      blob and block bytes on disk, by file id
 *   blob_store.c      schema, recovery, group commit, expiry of blocks
 *   blob_container.c  containers in SQL
 *   blob_object.c     blobs and blocks in SQL
 *   blob_list.c       list containers and list blobs
 *   blob_api.c        HTTP: routing, auth, blob operations
 *   container_api.c   HTTP: service and container operations
 */

/* ---- limits -------------------------------------------------------------- */

#define BLOB_NAME_MAX_CHARS  1024 /* blob names, in characters */
#define BLOB_NAME_MAX_BYTES  4096 /* ... so at most this many bytes */
#define BLOB_CONTAINER_MAX   63
#define BLOB_BLOCK_ID_MAX    64     /* decoded block id bytes */
#define BLOB_MAX_COMMITTED   50000  /* blocks in a committed block list */
#define BLOB_MAX_UNCOMMITTED 100000 /* uncommitted blocks per blob */
#define BLOB_META_MAX        8192   /* names + values of all metadata */
#define BLOB_MAX_POLICIES    5      /* stored access policies */
#define BLOB_POLICY_ID_MAX   64
#define BLOB_LIST_MAX        5000            /* maxresults default and cap */
#define BLOB_PUT_MAX         (5000ull << 20) /* Put Blob body */
#define BLOB_BLOCK_MAX       (4000ull << 20) /* Put Block body */
#define BLOB_RANGE_MD5_MAX   (4u << 20)      /* x-ms-range-get-content-md5 */
#define BLOB_INLINE_MAX      (64u << 10)    /* Put Blob bodies kept in SQLite */
#define BLOB_APPEND_MAX      (100ull << 20) /* Append Block body */
#define BLOB_APPEND_BLOCKS   50000          /* blocks of an append blob */

/* ---- names (blob_names.c) ------------------------------------------------ */

/*
 * A request path split into its parts. The raw path is percent-decoded
 * per part (%XX only). account is always set; container is NULL for
 * service-level paths (/acct, /acct/); blob is NULL for container-level
 * paths (/acct/c, /acct/c/). All strings are owned by the struct.
 */
struct blob_path {
    char *account;
    char *container;
    char *blob;
    size_t blob_len;
};

/*
 * Split raw_path ("/acct/container/dir/blob", percent-encoded). Errors
 * (-ERR_INVALID, svc InvalidUri): no leading '/', an empty account,
 * malformed percent-encoding or an encoded NUL, and a blob name with a
 * "." or ".." segment (raw or encoded): such names are refused rather than
 * normalised, so no spelling of a path can mean two blobs.
 */
int blob_names_split_path(const char *raw_path, struct blob_path *out,
                          struct err *err);
void blob_names_path_release(struct blob_path *p);

/* Container names: 3-63 of [a-z0-9-], alnum at both ends, no "--"; or one
 * of $root, $logs, $web. */
bool blob_names_container_ok(const char *name);
/*
 * Blob names: valid UTF-8, 1..1024 characters, no C0 control character
 * (they cannot be carried by the XML listings), no "." or ".." segment.
 */
bool blob_names_blob_ok(const char *name, size_t len);
/* Metadata names are C# identifiers: [A-Za-z_][A-Za-z0-9_]*. */
bool blob_names_meta_ok(const char *name);

/*
 * Metadata travels inside shoal as one string of "name:value\n" lines
 * (names are identifiers, values are header values: neither holds a
 * newline, names hold no ':'). blob_names_meta_add appends one pair to b,
 * validating it, and checks the running total against BLOB_META_MAX.
 * Errors: -ERR_INVALID with svc InvalidMetadata / EmptyMetadataKey /
 * MetadataTooLarge.
 */
int blob_names_meta_add(struct buf *b, const char *name, const char *value,
                        struct err *err);
/*
 * Iterate over a metadata string: *pos starts at 0; returns false at the
 * end. name/value point into meta (not NUL-terminated), with lengths.
 */
bool blob_names_meta_next(const char *meta, size_t *pos, const char **name,
                          size_t *name_len, const char **value,
                          size_t *value_len);

/*
 * Decode a base64 block id (as in the query or a block list) into
 * out[BLOB_BLOCK_ID_MAX]. Errors: -ERR_INVALID, svc InvalidBlockId, for
 * bad base64, an empty id or one over 64 bytes.
 */
int blob_names_block_id(const char *b64, size_t len,
                        unsigned char out[BLOB_BLOCK_ID_MAX], size_t *len_out,
                        struct err *err);

/* ---- ranges (blob_range.c) ----------------------------------------------- */

struct blob_range {
    bool present;
    uint64_t start;
    uint64_t end; /* inclusive; meaningless when open */
    bool open;    /* "bytes=N-" */
};

/*
 * Parse "bytes=START-END" or "bytes=START-" (the forms the service
 * accepts). NULL s gives an absent range. -ERR_INVALID on anything else:
 * suffix ranges, several ranges, END < START, junk, overflow.
 */
int blob_range_parse(const char *s, struct blob_range *out);
/*
 * Clamp a range to a blob of size bytes: *off_out and *len_out. An absent
 * range is the whole blob. -ERR_RANGE (InvalidRange) when START >= size,
 * which includes any range on an empty blob.
 */
int blob_range_resolve(const struct blob_range *r, uint64_t size,
                       uint64_t *off_out, uint64_t *len_out, struct err *err);

/* ---- conditions (blob_cond.c) -------------------------------------------- */

/*
 * Conditional headers of one request. The strings are borrowed from the
 * request (valid until done()).
 */
struct blob_cond {
    const char *if_match;      /* NULL when absent */
    const char *if_none_match; /* NULL when absent */
    bool has_ims, has_ius;
    int64_t ims_ms, ius_ms; /* If-(Un)Modified-Since, ms */
};

/*
 * Fill c from the four header values (any may be NULL). A date that does
 * not parse is -ERR_INVALID (InvalidHeaderValue with HeaderName).
 */
int blob_cond_parse(const char *if_match, const char *if_none_match,
                    const char *ims, const char *ius, struct blob_cond *c,
                    struct err *err);
/* Whether any condition is present. */
bool blob_cond_any(const struct blob_cond *c);
/*
 * Evaluate c against a resource (exists, its etag and mtime), in the
 * order of RFC 9110 §13.2.2. Reads (GET/HEAD) answer a failed
 * If-None-Match / If-Modified-Since with -ERR_NOT_MODIFIED (304); writes
 * with -ERR_PRECONDITION (412 ConditionNotMet); If-Match and
 * If-Unmodified-Since fail with 412 in both. Dates compare at one-second
 * resolution, as Last-Modified carries.
 */
int blob_cond_eval(const struct blob_cond *c, bool is_read, bool exists,
                   uint64_t etag, int64_t mtime_ms, struct err *err);
/* Whether If-None-Match is exactly "*". */
bool blob_cond_none_star(const struct blob_cond *c);
/* The quoted wire form of an etag: "\"0x8DD...\"", out >= 24 bytes. */
void blob_cond_etag(uint64_t etag, char out[24]);

/* ---- leases (blob_lease.c) ----------------------------------------------- */

enum blob_lease_state {
    BLOB_LEASE_AVAILABLE = 0,
    BLOB_LEASE_LEASED = 1,
    BLOB_LEASE_EXPIRED = 2,
    BLOB_LEASE_BREAKING = 3,
    BLOB_LEASE_BROKEN = 4,
};

struct blob_lease {
    enum blob_lease_state state; /* as stored; see blob_lease_effective */
    char id[40];                 /* "" when none */
    int64_t duration_s;          /* -1 infinite, else 15..60 */
    int64_t expiry_ms;           /* LEASED with a duration: its end */
    int64_t break_ms;            /* BREAKING: when it becomes BROKEN */
};

enum blob_lease_action {
    BLOB_LEASE_ACQUIRE,
    BLOB_LEASE_RENEW,
    BLOB_LEASE_CHANGE,
    BLOB_LEASE_RELEASE,
    BLOB_LEASE_BREAK,
};

struct blob_lease_req {
    enum blob_lease_action action;
    const char *lease_id;    /* x-ms-lease-id, NULL if absent */
    const char *proposed_id; /* x-ms-proposed-lease-id, NULL if absent */
    int64_t duration_s;      /* acquire: -1 or 15..60 */
    bool has_break_period;
    int64_t break_period_s; /* 0..60 */
};

/* The state at now (LEASED past its expiry is EXPIRED, BREAKING past its
 * break time is BROKEN). */
enum blob_lease_state blob_lease_effective(const struct blob_lease *l,
                                           int64_t now_ms);
/*
 * Apply a lease action at now to l. On success l is the new state,
 * id_out (40 bytes) the lease id to return (acquire, renew, change) and
 * *time_out the x-ms-lease-time seconds (break). Errors are 409 with the
 * storage codes (LeaseAlreadyPresent, LeaseNotPresentWithLeaseOperation,
 * LeaseIdMismatchWithLeaseOperation, LeaseIsBreakingAndCannotBeAcquired,
 * LeaseIsBreakingAndCannotBeChanged, LeaseIsBrokenAndCannotBeRenewed) or
 * 400 for missing ids.
 */
int blob_lease_apply(struct blob_lease *l, const struct blob_lease_req *rq,
                     int64_t now_ms, char id_out[40], int64_t *time_out,
                     struct err *err);
/*
 * Check the x-ms-lease-id of an operation (NULL when absent) against the
 * lease at now. Writes (and deletes) to a locked resource need the id:
 * 412 LeaseIdMissing, LeaseIdMismatchWith{Blob,Container}Operation; an id
 * given where no lease is active is 412
 * LeaseNotPresentWith{Blob,Container}Operation. Reads only check an id
 * that was given.
 */
int blob_lease_check(const struct blob_lease *l, const char *lease_id,
                     bool is_write, bool is_container, int64_t now_ms,
                     struct err *err);
/* Wire strings: x-ms-lease-state, -status, -duration (NULL when none). */
const char *blob_lease_state_str(enum blob_lease_state s);
const char *blob_lease_status_str(enum blob_lease_state s);
const char *blob_lease_duration_str(const struct blob_lease *l,
                                    enum blob_lease_state s);
/* Whether s looks like a lease id (a GUID, as the service requires). */
bool blob_lease_id_ok(const char *s);

/* ---- request bodies (blob_xmlbody.c) ------------------------------------- */

enum blob_block_kind {
    BLOB_BLOCK_COMMITTED,
    BLOB_BLOCK_UNCOMMITTED,
    BLOB_BLOCK_LATEST,
};

struct blob_block_ref {
    enum blob_block_kind kind;
    unsigned char id[BLOB_BLOCK_ID_MAX];
    size_t idlen;
};

/*
 * Parse a Put Block List body into *refs_out (caller frees) and *n_out.
 * The root must be BlockList and its children Committed, Uncommitted or
 * Latest, each a valid block id; all ids share one decoded length; at most
 * BLOB_MAX_COMMITTED entries. Errors: -ERR_INVALID with InvalidXmlDocument,
 * InvalidXmlNodeValue, InvalidBlockId or InvalidBlockList.
 */
int blob_xmlbody_blocklist(const char *xml, size_t len,
                           struct blob_block_ref **refs_out, size_t *n_out,
                           struct err *err);

struct blob_policy {
    char id[BLOB_POLICY_ID_MAX + 1];
    bool has_start, has_expiry;
    int64_t start_ms, expiry_ms;
    char perms[16]; /* container SAS letters, "" when absent */
};

/*
 * Parse a Set Container ACL body (SignedIdentifiers); an empty body is no
 * policies. At most BLOB_MAX_POLICIES, ids 1..64 characters and unique,
 * permissions from "racwdxyltfmei", ISO 8601 dates. Errors: -ERR_INVALID
 * with InvalidXmlDocument / InvalidXmlNodeValue.
 */
int blob_xmlbody_acl(const char *xml, size_t len,
                     struct blob_policy out[BLOB_MAX_POLICIES], size_t *n_out,
                     struct err *err);
/* Render SignedIdentifiers for Get Container ACL. */
void blob_xmlbody_acl_render(struct buf *b, const struct blob_policy *p,
                             size_t n);

/* ---- files (blob_files.c) ------------------------------------------------ */

/*
 * Bytes on disk, named by a 63-bit random file id:
 * DATA/blobs/<2 hex>/<16 hex>; uploads in flight in DATA/blobs/tmp.
 * sync: fsync files and directories before a commit (db.sync=full).
 */
struct blob_files {
    char *root; /* DATA/blobs */
    int root_fd;
    bool sync;
};

int blob_files_open(struct blob_files *f, const char *data_dir, bool sync,
                    struct err *err);
void blob_files_close(struct blob_files *f);
/* A fresh file id (random, never 0). */
uint64_t blob_files_new_id(void);
/* Create DATA/blobs/tmp/<id> (read-write: Append Block copies out of
 * its temp file); *id_out is its id. */
int blob_files_create(struct blob_files *f, uint64_t *id_out, int *fd_out,
                      struct err *err);
/*
 * Make a temp file permanent: fsync it (when sync), close fd (always),
 * rename it to its shard and fsync the shard (when sync). After this the
 * file is an orphan until a commit references it.
 */
int blob_files_publish(struct blob_files *f, uint64_t id, int fd,
                       struct err *err);
/* Remove a temp file that will not be published (closes fd if >= 0). */
void blob_files_discard(struct blob_files *f, uint64_t id, int fd);
/* Open a published file for reading. -ERR_NOTFOUND if it is gone. */
int blob_files_open_read(struct blob_files *f, uint64_t id, int *fd_out,
                         struct err *err);
/*
 * Open a published append blob file for writing at off: bytes past off
 * (left by an append that never committed) are cut first. -ERR_NOTFOUND
 * if it is gone.
 */
int blob_files_open_append(struct blob_files *f, uint64_t id, uint64_t off,
                           int *fd_out, struct err *err);
/* fdatasync fd when sync is on (the bytes an append added). */
int blob_files_sync(struct blob_files *f, int fd, struct err *err);
/* Remove a published file (after the commit that dropped it). */
void blob_files_unlink(struct blob_files *f, uint64_t id);
/* Write all of data[0..len) to fd. */
int blob_files_write(int fd, const void *data, size_t len, struct err *err);
/*
 * Start writing back fd's bytes [off, off+len) to disk without waiting
 * (Linux sync_file_range), so the fsync at publish finds little left to
 * do: a large upload then costs max(network, disk), not their sum. A
 * no-op unless sync is on; failures are ignored (publish's fsync decides).
 */
void blob_files_writeback(struct blob_files *f, int fd, uint64_t off,
                          uint64_t len);
#define BLOB_WRITEBACK_STEP (8u << 20)

/*
 * The bytes of one upload into a temp file (blob_wstream.c), digested on
 * the way: MD5 when md5, else CRC-64 (Put Block's x-ms-content-crc64).
 * Uploads announced at BLOB_WSTREAM_THREAD_MIN bytes or more are digested
 * and written by a writer thread of their own. fd stays the caller's.
 * finish: every byte is written (not yet fsync'd: publish does that) and
 * the digest is out; after a failed write or finish the file is garbage.
 */
#define BLOB_WSTREAM_THREAD_MIN (4u << 20)
struct blob_wstream;
int blob_wstream_open(struct blob_files *f, int fd, uint64_t expect, bool md5,
                      struct blob_wstream **out, struct err *err);
int blob_wstream_write(struct blob_wstream *w, const void *data, size_t len,
                       struct err *err);
int blob_wstream_finish(struct blob_wstream *w,
                        unsigned char md5[CRYPTO_MD5_LEN], uint64_t *crc64,
                        struct err *err);
uint64_t blob_wstream_written(const struct blob_wstream *w);
void blob_wstream_free(struct blob_wstream *w);
/* Append len bytes of src from off to dst's current end. */
int blob_files_copy(int dst, int src, uint64_t off, uint64_t len,
                    struct err *err);
/*
 * Start-up: empty DATA/blobs/tmp, then remove every published file whose
 * id is not in live[0..n) (sorted ascending). Returns the count removed.
 */
size_t blob_files_sweep(struct blob_files *f, const uint64_t *live, size_t n);

/* ---- the store (blob_store.c) -------------------------------------------- */

struct blob_store;

/*
 * A write transaction: an op of the store's group commit (dbgroup_run,
 * db.h). fn runs on whichever thread leads the group, with the database
 * locked, inside a savepoint of a shared transaction; it returns 0 or a
 * negative error with err filled (its changes are then rolled back). It
 * records files that become garbage with blob_txn_drop; they are removed
 * after the commit is durable. new_file (if not 0) is a published file the
 * transaction references: blob_store_run removes it when the transaction
 * fails (fn's error or the group's).
 */
struct blob_txn {
    int (*fn)(struct blob_store *bs, struct blob_txn *t, struct err *err);
    int64_t now_ms; /* set by blob_store_run, just before fn runs */
    uint64_t new_file;
    uint64_t *drop; /* files to unlink after the commit */
    size_t ndrop, adrop;

    struct blob_store *bs; /* set by blob_store_run/submit */

    /* blob_store_submit only */
    void (*done)(struct blob_txn *t, int rc);
    struct dbgroup_op op;
};

int blob_store_open(const struct config *cfg, struct db *db,
                    struct blob_store **out, struct err *err);
int blob_store_start(struct blob_store *bs, struct err *err);
void blob_store_close(struct blob_store *bs);
struct db *blob_store_db(struct blob_store *bs);
struct blob_files *blob_store_files(struct blob_store *bs);
/*
 * Run t (fill fn first) in the next group commit and wait for it; returns
 * t's result, or the group's error if its BEGIN or COMMIT failed (see
 * dbgroup_run). On 0, t's changes are durable and the files it dropped are
 * gone (or queued for the sweeper). Any thread; not with the db lock held.
 */
int blob_store_run(struct blob_store *bs, struct blob_txn *t, struct err *err);
/*
 * The same without waiting (dbgroup_submit): t (fn and done filled) must
 * stay valid until done(t, rc) is called, on the thread that committed
 * the group, with what blob_store_run would have returned (err filled on
 * failure; err too must stay valid until then). done must not block.
 */
void blob_store_submit(struct blob_store *bs, struct blob_txn *t,
                       struct err *err);
void blob_txn_drop(struct blob_txn *t, uint64_t file);
/* A new etag: strictly greater than every etag handed out before. */
uint64_t blob_store_etag(struct blob_store *bs);
/*
 * Store lease l in row id of blob_containers or blob_blobs (same lease
 * columns). sql is a string literal: UPDATE ... SET lease_state=?,
 * lease_id=?, lease_duration=?, lease_expiry=?, lease_break=? WHERE id=?.
 * Inside a blob_txn (lock held).
 */
int blob_store_save_lease(struct blob_store *bs, const char *sql, int64_t id,
                          const struct blob_lease *l, struct err *err);
/*
 * The lock that serialises Append Block on one blob (by name: a striped
 * table of BLOB_APPEND_STRIPES mutexes, so unrelated blobs rarely share).
 */
#define BLOB_APPEND_STRIPES 64
pthread_mutex_t *blob_store_append_lock(struct blob_store *bs,
                                        const char *account,
                                        const char *container,
                                        const char *name);
/* Drop uncommitted blocks older than the TTL now (what the sweeper does). */
int blob_store_expire(struct blob_store *bs, struct err *err);

/* ---- containers (blob_container.c) --------------------------------------- */

enum blob_access {
    BLOB_ACCESS_PRIVATE = 0,
    BLOB_ACCESS_BLOB = 1,
    BLOB_ACCESS_CONTAINER = 2,
};

struct blob_container {
    int64_t id;
    char name[BLOB_CONTAINER_MAX + 1];
    uint64_t etag;
    int64_t ctime_ms, mtime_ms;
    enum blob_access access;
    char *meta; /* owned; "" when none */
    struct blob_lease lease;
};

/* Conditions of a write: preconditions and the lease id offered. */
struct blob_wcond {
    const struct blob_cond *cond; /* may be NULL */
    const char *lease_id;         /* NULL when absent */
};

void blob_container_release(struct blob_container *c);
/*
 * Container operations. Names are validated by the caller. Errors:
 * 404 ContainerNotFound, 409 ContainerAlreadyExists, 412 (conditions,
 * lease), 409 lease codes. out (when not NULL) receives the state after
 * the operation; release it.
 */
int blob_container_create(struct blob_store *bs, const char *account,
                          const char *name, enum blob_access access,
                          const char *meta, struct blob_container *out,
                          struct err *err);
int blob_container_get(struct blob_store *bs, const char *account,
                       const char *name, struct blob_container *out,
                       struct err *err);
/* Only the public access level (anonymous requests); no error detail. */
int blob_container_access(struct blob_store *bs, const char *account,
                          const char *name, enum blob_access *out);
int blob_container_set_meta(struct blob_store *bs, const char *account,
                            const char *name, const struct blob_wcond *wc,
                            const char *meta, struct blob_container *out,
                            struct err *err);
int blob_container_get_acl(struct blob_store *bs, const char *account,
                           const char *name, const char *lease_id,
                           struct blob_container *out,
                           struct blob_policy pol[BLOB_MAX_POLICIES],
                           size_t *npol, struct err *err);
int blob_container_set_acl(struct blob_store *bs, const char *account,
                           const char *name, const struct blob_wcond *wc,
                           enum blob_access access,
                           const struct blob_policy *pol, size_t npol,
                           struct blob_container *out, struct err *err);
/* The stored access policy id of a container: -ERR_NOTFOUND if none. */
int blob_container_policy(struct blob_store *bs, const char *account,
                          const char *name, const char *id,
                          struct blob_policy *out);
/* Delete a container with its blobs, blocks and their bytes. */
int blob_container_delete(struct blob_store *bs, const char *account,
                          const char *name, const struct blob_wcond *wc,
                          struct err *err);
int blob_container_lease(struct blob_store *bs, const char *account,
                         const char *name, const struct blob_cond *cond,
                         const struct blob_lease_req *rq,
                         struct blob_container *out, char id_out[40],
                         int64_t *time_out, struct err *err);

/* ---- blobs (blob_object.c) ----------------------------------------------- */

struct blob_content {
    char *type, *encoding, *language, *cache_control, *disposition;
    bool has_md5;
    unsigned char md5[CRYPTO_MD5_LEN];
};

struct blob_copy_info {
    char *id; /* NULL when the blob was never copied */
    char *source;
    int64_t time_ms;
    uint64_t len;
};

enum blob_type {
    BLOB_TYPE_BLOCK = 0,
    BLOB_TYPE_APPEND = 1,
};

/* "BlockBlob" or "AppendBlob" (x-ms-blob-type, BlobType). */
const char *blob_type_str(enum blob_type t);

struct blob_props {
    int64_t id;
    bool committed;
    enum blob_type type;
    uint64_t append_blocks; /* append blobs: blocks appended */
    uint64_t file;          /* 0: inline bytes (blob_data), or none if size 0 */
    uint64_t size;
    uint64_t etag;
    int64_t ctime_ms, mtime_ms;
    struct blob_content content;
    char *meta; /* "" when none */
    struct blob_lease lease;
    struct blob_copy_info copy;
};

void blob_content_release(struct blob_content *c);
void blob_props_release(struct blob_props *p);

/*
 * Look a committed blob up (404 ContainerNotFound / BlobNotFound). With
 * fd_out (and inline_out, required with it), its bytes are opened in the
 * same critical section as the lookup, so they match the properties even
 * if a writer replaces the blob right after: a file blob opens its file
 * (*fd_out), an inline blob copies its bytes into inline_out (*fd_out is
 * -1 then, and for an empty blob).
 */
int blob_object_get(struct blob_store *bs, const char *account,
                    const char *container, const char *name,
                    struct blob_props *out, int *fd_out, struct buf *inline_out,
                    struct err *err);

/* A new version of a blob (Put Blob, Copy Blob). */
struct blob_put {
    enum blob_type type;    /* an append blob starts empty (or is a copy) */
    uint64_t append_blocks; /* a copy of an append blob: the source's */
    uint64_t file;          /* published; 0 for an empty or inline blob */
    uint64_t size;
    const void *data; /* inline bytes (file 0, size <= BLOB_INLINE_MAX) */
    const struct blob_content *content;
    const char *meta;
    bool create_only; /* refuse to overwrite (SAS without 'w') */
    const struct blob_copy_info *copy; /* NULL unless copied */
};

/*
 * Commit a new version: conditions (If-None-Match:* on an existing blob is
 * 409 BlobAlreadyExists), lease, then replace the blob, dropping its old
 * bytes, its committed block list and its uncommitted blocks. out gets the
 * new properties (etag, times).
 */
int blob_object_put(struct blob_store *bs, const char *account,
                    const char *container, const char *name,
                    const struct blob_wcond *wc, const struct blob_put *p,
                    struct blob_props *out, struct err *err);
/*
 * blob_object_put without waiting: fill x's inputs and done, then
 * blob_object_put_submit; done(x, rc) comes from the committing thread
 * (see blob_store_submit). Everything x points to must stay valid until
 * then.
 */
struct blob_put_call {
    struct blob_txn t;
    const char *account, *container, *name;
    const struct blob_wcond *wc;
    const struct blob_put *p;
    struct blob_props *out;
    void (*done)(struct blob_put_call *x, int rc);
};
void blob_object_put_submit(struct blob_store *bs, struct blob_put_call *x,
                            struct err *err);
/*
 * Stage a block (its bytes in the published file). Replaces an
 * uncommitted block of the same id. Errors: 400 InvalidBlobOrBlock (id
 * length differs from the blob's other uncommitted blocks), 409
 * BlockCountExceedsLimit, lease 412s.
 */
int blob_object_put_block(struct blob_store *bs, const char *account,
                          const char *container, const char *name,
                          const char *lease_id, const unsigned char *bid,
                          size_t bidlen, uint64_t file, uint64_t size,
                          struct err *err);
/*
 * Put Block List: resolve refs against the uncommitted and committed
 * blocks (400 InvalidBlockList for an unknown id), write the blob's bytes
 * as one file (concatenating the blocks), and commit it with its new
 * committed list. Uncommitted blocks of the blob are dropped.
 */
int blob_object_commit_blocks(struct blob_store *bs, const char *account,
                              const char *container, const char *name,
                              const struct blob_wcond *wc,
                              const struct blob_block_ref *refs, size_t n,
                              const struct blob_content *content,
                              const char *meta, bool create_only,
                              struct blob_props *out, struct err *err);

/*
 * Append Block: the body (len > 0 bytes of src from offset 0) goes at the
 * end of a committed append blob. Checks, in order: 404, 409
 * InvalidBlobType (not an append blob), conditions and lease (412), 412
 * MaxBlobSizeConditionNotMet (max_size given and size + len above it),
 * 412 AppendPositionConditionNotMet (append_pos given and not the size),
 * 409 BlockCountExceedsLimit (BLOB_APPEND_BLOCKS). *offset_out is where
 * the block went; out the properties after it.
 *
 * The bytes are written to the blob's file past its committed size and
 * made durable before the commit that moves the size, so readers (which
 * read [0, size) of the file they opened) never see them early, and a
 * crash leaves at most ignored bytes past the end. Appends to one blob
 * are serialised; see blob_object.c.
 */
struct blob_append {
    int src;
    uint64_t len;
    bool has_max_size, has_append_pos;
    uint64_t max_size, append_pos;
};

int blob_object_append(struct blob_store *bs, const char *account,
                       const char *container, const char *name,
                       const struct blob_wcond *wc, const struct blob_append *a,
                       uint64_t *offset_out, struct blob_props *out,
                       struct err *err);

struct blob_block_info {
    unsigned char id[BLOB_BLOCK_ID_MAX];
    size_t idlen;
    uint64_t size;
};

/*
 * Get Block List: committed and/or uncommitted blocks (arrays owned by
 * the caller). *exists_out: whether a committed blob exists (its etag,
 * mtime and size in *props_out, which the caller releases).
 */
int blob_object_block_list(struct blob_store *bs, const char *account,
                           const char *container, const char *name,
                           bool committed, bool uncommitted,
                           struct blob_props *props_out,
                           struct blob_block_info **c_out, size_t *nc_out,
                           struct blob_block_info **u_out, size_t *nu_out,
                           struct err *err);
int blob_object_set_content(struct blob_store *bs, const char *account,
                            const char *container, const char *name,
                            const struct blob_wcond *wc,
                            const struct blob_content *content,
                            struct blob_props *out, struct err *err);
int blob_object_set_meta(struct blob_store *bs, const char *account,
                         const char *container, const char *name,
                         const struct blob_wcond *wc, const char *meta,
                         struct blob_props *out, struct err *err);
int blob_object_delete(struct blob_store *bs, const char *account,
                       const char *container, const char *name,
                       const struct blob_wcond *wc, struct err *err);
int blob_object_lease(struct blob_store *bs, const char *account,
                      const char *container, const char *name,
                      const struct blob_cond *cond,
                      const struct blob_lease_req *rq, struct blob_props *out,
                      char id_out[40], int64_t *time_out, struct err *err);

/* ---- listing (blob_list.c) ----------------------------------------------- */

struct blob_list_opts {
    const char *prefix;    /* "" for all */
    const char *delimiter; /* NULL or "" for a flat listing */
    const char *marker;    /* first name to consider, NULL for none */
    size_t max;            /* 1..BLOB_LIST_MAX */
    bool uncommitted;      /* include blobs with only uncommitted blocks */
};

struct blob_list_item {
    bool is_prefix;
    char *name; /* owned */
    size_t name_len;
    struct blob_props props; /* blobs only */
};

struct blob_list_result {
    struct blob_list_item *items;
    size_t n, alloc;
    char *next_marker; /* NULL when the listing is complete */
};

void blob_list_result_release(struct blob_list_result *r);
/*
 * List Blobs: items in binary name order; with a delimiter, names that
 * hold it after the prefix fold into one BlobPrefix each, counted once
 * toward max. next_marker is the name the next page starts at.
 */
int blob_list_blobs(struct blob_store *bs, const char *account,
                    const char *container, const struct blob_list_opts *o,
                    struct blob_list_result *out, struct err *err);

struct blob_container_list {
    struct blob_container *items;
    size_t n;
    char *next_marker;
};

void blob_list_containers_release(struct blob_container_list *l);
int blob_list_containers(struct blob_store *bs, const char *account,
                         const char *prefix, const char *marker, size_t max,
                         struct blob_container_list *out, struct err *err);

/* ---- shared SQL helpers (blob_container.c) ------------------------------- */

/*
 * Row helpers for the store files: read a container row (columns in the
 * order of BLOB_CONTAINER_COLS) and look a container id up. Lock held.
 */
#define BLOB_CONTAINER_COLS                                               \
    "id, name, etag, ctime, mtime, access, meta, lease_state, lease_id, " \
    "lease_duration, lease_expiry, lease_break"
struct sqlite3_stmt;
void blob_container_from_row(struct sqlite3_stmt *st, int col,
                             struct blob_container *out);
int blob_container_find(struct blob_store *bs, const char *account,
                        const char *name, int64_t *id_out, struct err *err);

/* Blob rows, columns in the order of BLOB_PROPS_COLS. Lock held. */
#define BLOB_PROPS_COLS                                                   \
    "id, committed, file, size, etag, ctime, mtime, ctype, cenc, clang, " \
    "cctl, cdisp, md5, meta, lease_state, lease_id, lease_duration, "     \
    "lease_expiry, lease_break, copy_id, copy_src, copy_time, copy_len, " \
    "type, blocks"
#define BLOB_PROPS_NCOLS 25
void blob_object_from_row(struct sqlite3_stmt *st, int col,
                          struct blob_props *out);

/* ---- the HTTP side (blob_api.c, container_api.c) ------------------------- */

#include "auth/auth.h"

struct http_req;

struct blob_service;

/* Operations, as routed from method, path level, restype and comp. */
enum blob_op {
    BLOB_OP_LIST_CONTAINERS,
    BLOB_OP_GET_SERVICE_PROPS,
    BLOB_OP_SET_SERVICE_PROPS,
    BLOB_OP_SERVICE_STATS,
    BLOB_OP_ACCOUNT_INFO,
    BLOB_OP_CREATE_CONTAINER,
    BLOB_OP_GET_CONTAINER_PROPS,
    BLOB_OP_DELETE_CONTAINER,
    BLOB_OP_SET_CONTAINER_META,
    BLOB_OP_GET_CONTAINER_ACL,
    BLOB_OP_SET_CONTAINER_ACL,
    BLOB_OP_CONTAINER_LEASE,
    BLOB_OP_LIST_BLOBS,
    BLOB_OP_PUT_BLOB,
    BLOB_OP_COPY_BLOB,
    BLOB_OP_PUT_BLOCK,
    BLOB_OP_PUT_BLOCK_LIST,
    BLOB_OP_APPEND_BLOCK,
    BLOB_OP_GET_BLOCK_LIST,
    BLOB_OP_GET_BLOB,
    BLOB_OP_SET_BLOB_PROPS,
    BLOB_OP_GET_BLOB_META,
    BLOB_OP_SET_BLOB_META,
    BLOB_OP_DELETE_BLOB,
    BLOB_OP_BLOB_LEASE,
    BLOB_OP_COUNT
};

/*
 * One request's state (req->state), from begin() to done(). Upload
 * fields: fd/file of the temp file while the body streams in; published
 * once it is a published file (blob_store_run owns its fate then).
 */
struct blob_req {
    struct blob_service *svc;
    struct http_req *req;
    struct blob_store *store;
    struct blob_path path;
    enum blob_op op;
    struct auth_result auth;
    bool create_only; /* SAS without 'w': may create, not overwrite */

    int fd;
    uint64_t file;
    bool published;
    uint64_t written;
    struct blob_wstream *ws; /* the temp file's writer, while it streams */
    bool md5_on;             /* ws digests MD5 (else CRC-64) */
    unsigned char md5[CRYPTO_MD5_LEN];
    uint64_t crc64;
    struct put_state *put; /* a small Put Blob's commit (blob_api.c) */
};

/*
 * Helpers blob_api.c offers container_api.c. reply_error: the storage
 * error reply. parse_cond: the four conditional headers (400 on a bad
 * date). parse_meta: every x-ms-meta-* header into the metadata form.
 * add_meta: x-ms-meta-* response headers. add_etag: ETag and
 * Last-Modified. parse_lease: a lease request from the x-ms-lease-*
 * headers (400 on bad values). add_lease: x-ms-lease-state/status/
 * duration at now. endpoint: "http://<Host>/<account>" into b.
 */
void blob_api_reply_error(struct blob_req *r, const struct err *e);
int blob_api_parse_cond(struct blob_req *r, struct blob_cond *c, struct err *e);
int blob_api_parse_meta(struct blob_req *r, struct buf *out, struct err *e);
void blob_api_add_meta(struct blob_req *r, const char *meta);
void blob_api_add_etag(struct blob_req *r, uint64_t etag, int64_t mtime_ms);
int blob_api_parse_lease(struct blob_req *r, struct blob_lease_req *rq,
                         struct err *e);
void blob_api_add_lease(struct blob_req *r, const struct blob_lease *l,
                        int64_t now_ms);
void blob_api_endpoint(struct blob_req *r, struct buf *b);
/* Render a time as RFC 1123 into a header. */
void blob_api_add_time(struct blob_req *r, const char *name, int64_t ms);

/*
 * container_api.c: the service- and container-level operations. Each
 * runs from end() with the request authorised and its names validated,
 * and replies.
 */
void container_api_list_containers(struct blob_req *r);
void container_api_service_props(struct blob_req *r);
void container_api_account_info(struct blob_req *r);
void container_api_create(struct blob_req *r);
void container_api_get_props(struct blob_req *r);
void container_api_delete(struct blob_req *r);
void container_api_set_meta(struct blob_req *r);
void container_api_get_acl(struct blob_req *r);
void container_api_set_acl(struct blob_req *r);
void container_api_lease(struct blob_req *r);
void container_api_list_blobs(struct blob_req *r);

#endif
