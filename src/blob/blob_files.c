/*
 * blob_files.c: blob and block bytes on disk.
 *
 * Layout (version 1; see "Changing the layout" below):
 *
 *   DATA/blobs/tmp/<16 hex>     uploads in flight, never referenced
 *   DATA/blobs/<2 hex>/<16 hex> published files: a committed blob's bytes
 *                               or one uncommitted block; the shard is the
 *                               id's low byte
 *
 * A file is named by a random 63-bit id, never by a blob or container name,
 * so no name a client sends can reach a path. The database (blob_store.c)
 * maps blobs and blocks to file ids; a published file that no row
 * references is garbage. Files never change once published: a new version
 * of a blob is a new file, so a reader holding the old one (an open fd)
 * keeps reading the old bytes even after it is unlinked. The one exception
 * is an append blob's file, which grows: Append Block writes past the
 * committed size (blob_files_open_append) and never touches a byte before
 * it, and readers only read up to the size their lookup saw.
 *
 * Life of a file:
 *
 *   create (tmp, O_EXCL) -> write... -> publish: fsync, rename into the
 *   shard, fsync the shard directory -> [commit in SQL references it] ->
 *   ... -> [a commit drops it] -> unlink
 *
 * A crash between publish and commit leaves an orphan; a crash after a
 * commit that dropped a file but before the unlink leaves one too. Start-up
 * (blob_files_sweep) empties tmp and removes every published file the
 * database does not reference. The fsyncs run only when sync is on
 * (db.sync=full); with db.sync=normal, as with SQLite, a process crash
 * loses nothing but a power cut may.
 *
 * Copies (Put Block List, Copy Blob) use sendfile(2) file to file, so the
 * bytes move inside the kernel. Uploads (blob_wstream.c) start the
 * writeback of what they have written every 8 MiB (blob_files_writeback),
 * so the disk works while the network does and the final fsync is short.
 *
 * Changing the layout: bump BLOB_FILES_LAYOUT, teach blob_files_open to
 * migrate (or refuse) a DATA/blobs/layout file with the old number, and
 * keep the sweep from deleting files it does not understand.
 *
 * Threads: after open, struct blob_files is read-only; every function may
 * run on any thread at once.
 */
#include "blob/blobint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#define BLOB_FILES_LAYOUT 1
#define COPY_CHUNK        (64u << 20)

static void tmp_name(uint64_t id, char out[32])
{
    snprintf(out, 32, "tmp/%016llx", (unsigned long long)id);
}

static void pub_name(uint64_t id, char out[32])
{
    snprintf(out, 32, "%02x/%016llx", (unsigned)(id & 0xff),
             (unsigned long long)id);
}

static int sync_dir(int root_fd, const char *rel, struct err *err)
{
    int fd = openat(root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return err_sys(err, "open directory '%s'", rel);
    if (fsync(fd) < 0)
        rc = err_sys(err, "fsync directory '%s'", rel);
    close(fd);
    return rc;
}

static int write_layout(int root_fd, struct err *err)
{
    char line[32];
    int fd, n;
    int rc = 0;

    fd = openat(root_fd, "layout", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char have[32] = "";
        ssize_t r = read(fd, have, sizeof(have) - 1);

        close(fd);
        if (r > 0 && strtol(have, NULL, 10) != BLOB_FILES_LAYOUT)
            return err_set(err, ERR_INVALID, NULL,
                           "DATA/blobs has layout %ld, this shoald knows %d",
                           strtol(have, NULL, 10), BLOB_FILES_LAYOUT);
        return 0;
    }
    n = snprintf(line, sizeof(line), "%d\n", BLOB_FILES_LAYOUT);
    fd = openat(root_fd, "layout", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                0644);
    if (fd < 0)
        return err_sys(err, "create DATA/blobs/layout");
    if (write(fd, line, (size_t)n) != n || fsync(fd) < 0)
        rc = err_sys(err, "write DATA/blobs/layout");
    close(fd);
    return rc;
}

int blob_files_open(struct blob_files *f, const char *data_dir, bool sync,
                    struct err *err)
{
    bool created = false;
    int rc;

    memset(f, 0, sizeof(*f));
    f->root_fd = -1;
    f->sync = sync;
    f->root = xasprintf("%s/blobs", data_dir);
    if (mkdir(f->root, 0755) < 0 && errno != EEXIST) {
        rc = err_sys(err, "mkdir '%s'", f->root);
        goto fail;
    }
    f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->root_fd < 0) {
        rc = err_sys(err, "open '%s'", f->root);
        goto fail;
    }
    rc = write_layout(f->root_fd, err);
    if (rc < 0)
        goto fail;
    if (mkdirat(f->root_fd, "tmp", 0755) == 0)
        created = true;
    else if (errno != EEXIST) {
        rc = err_sys(err, "mkdir '%s/tmp'", f->root);
        goto fail;
    }
    for (unsigned i = 0; i < 256; i++) {
        char d[4];

        snprintf(d, sizeof(d), "%02x", i);
        if (mkdirat(f->root_fd, d, 0755) == 0) {
            created = true;
        } else if (errno != EEXIST) {
            rc = err_sys(err, "mkdir '%s/%s'", f->root, d);
            goto fail;
        }
    }
    if (created && fsync(f->root_fd) < 0) {
        rc = err_sys(err, "fsync '%s'", f->root);
        goto fail;
    }
    return 0;
fail:
    blob_files_close(f);
    return rc;
}

void blob_files_close(struct blob_files *f)
{
    if (f->root_fd >= 0)
        close(f->root_fd);
    f->root_fd = -1;
    FREE_AND_NULL(f->root);
}

uint64_t blob_files_new_id(void)
{
    uint64_t id = 0;

    while (id == 0) {
        crypto_random(&id, sizeof(id));
        id &= 0x7fffffffffffffffull;
    }
    return id;
}

int blob_files_create(struct blob_files *f, uint64_t *id_out, int *fd_out,
                      struct err *err)
{
    char name[32];

    for (int tries = 0; tries < 8; tries++) {
        uint64_t id = blob_files_new_id();
        int fd;

        tmp_name(id, name);
        fd = openat(f->root_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    0600);
        if (fd >= 0) {
            *id_out = id;
            *fd_out = fd;
            return 0;
        }
        if (errno != EEXIST)
            return err_sys(err, "create '%s/%s'", f->root, name);
    }
    return err_set(err, ERR_IO, "InternalError", "cannot pick a file id");
}

int blob_files_publish(struct blob_files *f, uint64_t id, int fd,
                       struct err *err)
{
    char from[32], to[32], shard[4];
    int rc = 0;

    tmp_name(id, from);
    pub_name(id, to);
    if (f->sync && fdatasync(fd) < 0) {
        rc = err_sys(err, "fsync '%s/%s'", f->root, from);
        close(fd);
        goto fail;
    }
    if (close(fd) < 0) {
        rc = err_sys(err, "close '%s/%s'", f->root, from);
        goto fail;
    }
    if (renameat(f->root_fd, from, f->root_fd, to) < 0) {
        rc = err_sys(err, "rename '%s/%s'", f->root, from);
        goto fail;
    }
    if (f->sync) {
        snprintf(shard, sizeof(shard), "%02x", (unsigned)(id & 0xff));
        rc = sync_dir(f->root_fd, shard, err);
        if (rc < 0) {
            unlinkat(f->root_fd, to, 0);
            return rc;
        }
    }
    return 0;
fail:
    unlinkat(f->root_fd, from, 0);
    return rc;
}

void blob_files_discard(struct blob_files *f, uint64_t id, int fd)
{
    char name[32];

    if (fd >= 0)
        close(fd);
    tmp_name(id, name);
    if (unlinkat(f->root_fd, name, 0) < 0 && errno != ENOENT)
        log_warn("cannot remove temp file file=%s/%s errno=%d", f->root, name,
                 errno);
}

int blob_files_open_read(struct blob_files *f, uint64_t id, int *fd_out,
                         struct err *err)
{
    char name[32];
    int fd;

    pub_name(id, name);
    fd = openat(f->root_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(err, ERR_NOTFOUND, "InternalError",
                           "blob file '%s' is missing", name);
        return err_sys(err, "open '%s/%s'", f->root, name);
    }
    *fd_out = fd;
    return 0;
}

int blob_files_open_append(struct blob_files *f, uint64_t id, uint64_t off,
                           int *fd_out, struct err *err)
{
    char name[32];
    int fd;

    pub_name(id, name);
    fd = openat(f->root_fd, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(err, ERR_NOTFOUND, "InternalError",
                           "blob file '%s' is missing", name);
        return err_sys(err, "open '%s/%s'", f->root, name);
    }
    if (ftruncate(fd, (off_t)off) < 0 || lseek(fd, (off_t)off, SEEK_SET) < 0) {
        int rc = err_sys(err, "prepare '%s/%s' for an append", f->root, name);

        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int blob_files_sync(struct blob_files *f, int fd, struct err *err)
{
    if (f->sync && fdatasync(fd) < 0)
        return err_sys(err, "fsync an appended blob file");
    return 0;
}

void blob_files_unlink(struct blob_files *f, uint64_t id)
{
    char name[32];

    if (id == 0)
        return;
    pub_name(id, name);
    if (unlinkat(f->root_fd, name, 0) < 0 && errno != ENOENT)
        log_warn("cannot remove blob file file=%s/%s errno=%d", f->root, name,
                 errno);
}

int blob_files_write(int fd, const void *data, size_t len, struct err *err)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_sys(err, "write blob data");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void blob_files_writeback(struct blob_files *f, int fd, uint64_t off,
                          uint64_t len)
{
    /* SYNC_FILE_RANGE_WRITE; the wrapper needs _GNU_SOURCE, the call not */
    const unsigned int start_write = 2;

    if (!f->sync || len == 0)
        return;
#ifdef SYS_sync_file_range
    syscall(SYS_sync_file_range, fd, (off_t)off, (off_t)len, start_write);
#else
    (void)fd;
    (void)off;
    (void)start_write;
#endif
}

int blob_files_copy(int dst, int src, uint64_t off, uint64_t len,
                    struct err *err)
{
    off_t pos = (off_t)off;

    while (len > 0) {
        size_t want = len > COPY_CHUNK ? COPY_CHUNK : (size_t)len;
        ssize_t n = sendfile(dst, src, &pos, want);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_sys(err, "copy blob data");
        }
        if (n == 0)
            return err_set(err, ERR_IO, "InternalError",
                           "blob data ends early");
        len -= (uint64_t)n;
    }
    return 0;
}

static bool parse_id(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;

    for (; *s; s++, n++) {
        int d;

        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else
            return false;
        v = v << 4 | (uint64_t)d;
    }
    if (n != 16)
        return false;
    *out = v;
    return true;
}

static bool is_live(const uint64_t *live, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (live[mid] == id)
            return true;
        if (live[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Remove entries of the directory rel (relative to root) that keep()
 * rejects; returns how many were removed. */
static size_t sweep_dir(struct blob_files *f, const char *rel,
                        const uint64_t *live, size_t n, bool all)
{
    int dfd = openat(f->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *e;
    size_t removed = 0;

    if (dfd < 0)
        return 0;
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        uint64_t id;

        if (e->d_name[0] == '.')
            continue;
        if (!parse_id(e->d_name, &id))
            continue; /* not ours: leave it alone */
        if (!all && is_live(live, n, id))
            continue;
        if (unlinkat(dfd, e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

size_t blob_files_sweep(struct blob_files *f, const uint64_t *live, size_t n)
{
    size_t removed = sweep_dir(f, "tmp", NULL, 0, true);

    for (unsigned i = 0; i < 256; i++) {
        char d[4];

        snprintf(d, sizeof(d), "%02x", i);
        removed += sweep_dir(f, d, live, n, false);
    }
    return removed;
}
