/*
 * blob_wstream.c: the bytes of one upload into its temp file, with their
 * digest (MD5 or CRC-64) computed on the way.
 *
 * Two ways, chosen at open from the announced length:
 *
 *   plain     (under BLOB_WSTREAM_THREAD_MIN): each chunk is digested and
 *             written at once, on the request's thread.
 *   threaded  (large uploads): the request's thread digests each chunk
 *             and copies it into a 1 MiB buffer; a full buffer goes to the
 *             stream's own writer thread, which writes it while the next
 *             one fills. Two buffers, so the digest (MD5 runs near 0.8
 *             GB/s) and the copy into the page cache (slow on our VMs:
 *             the largest part of a large upload's CPU) overlap on two
 *             cores instead of adding up on one.
 *
 * Both ways start the writeback every BLOB_WRITEBACK_STEP bytes
 * (blob_files_writeback), so the disk works while the network does and
 * publish's fsync finds little left.
 *
 * Not O_DIRECT: direct 1 MiB writes were faster still here, but they leave
 * nothing in the page cache, and the download that usually follows an
 * upload then reads the disk at a fifth of the speed.
 *
 * Ownership: the stream borrows fd (the caller publishes or discards the
 * file); finish() and free() join the writer thread, so after either the
 * stream touches neither fd nor the buffers.
 *
 * Threads: open, write, finish and free on one thread (the request's); the
 * writer thread only writes (put_bytes) and owns flushed. mu guards the hand-over (full,
 * spare, quit, werr).
 */
#include "blob/blobint.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#define WS_BUF (1u << 20) /* one hand-over to the writer */

struct blob_wstream {
    struct blob_files *files;
    int fd;
    bool threaded; /* buffers + writer thread */
    bool md5_on;
    struct crypto_md5_ctx md5;
    uint64_t crc64;
    uint64_t written; /* bytes taken from the caller */
    uint64_t flushed; /* bytes whose writeback was started (the writer's
                         in the threaded way) */

    /* threaded: the buffer being filled (request thread) */
    char *cur;
    size_t fill;
    uint64_t cur_off; /* file offset of cur[0] */

    /* threaded: the hand-over (mu) */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *full; /* handed to the writer, NULL when it is idle */
    size_t full_len;
    uint64_t full_off;
    char *spare; /* the buffer the writer gave back */
    bool quit;
    int werr; /* the writer's first errno, 0 if none */
};

static void digest(struct blob_wstream *w, const void *data, size_t len)
{
    if (w->md5_on)
        crypto_md5_update(&w->md5, data, len);
    else
        w->crc64 = crypto_crc64(w->crc64, data, len);
}

/* Write what was taken so far, from off; start its writeback by steps. */
static int put_bytes(struct blob_wstream *w, const char *p, size_t len,
                     uint64_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(w->fd, p, len, (off_t)off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    if (off - w->flushed >= BLOB_WRITEBACK_STEP) {
        blob_files_writeback(w->files, w->fd, w->flushed, off - w->flushed);
        w->flushed = off;
    }
    return 0;
}

static void *writer_main(void *arg)
{
    struct blob_wstream *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        char *buf;
        size_t len;
        uint64_t off;
        int e;

        while (!w->full && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->full)
            break; /* quit, nothing left */
        buf = w->full;
        len = w->full_len;
        off = w->full_off;
        pthread_mutex_unlock(&w->mu);
        e = w->werr ? 0 : put_bytes(w, buf, len, off);
        pthread_mutex_lock(&w->mu);
        if (e && !w->werr)
            w->werr = e;
        w->full = NULL;
        w->spare = buf;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Start the threaded way; false (nothing changed) when it cannot. */
static bool start_thread(struct blob_wstream *w)
{
    w->cur = xmalloc(WS_BUF);
    w->spare = xmalloc(WS_BUF);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->th, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        FREE_AND_NULL(w->cur);
        FREE_AND_NULL(w->spare);
        return false;
    }
    w->threaded = true;
    return true;
}

int blob_wstream_open(struct blob_files *f, int fd, uint64_t expect, bool md5,
                      struct blob_wstream **out, struct err *err)
{
    struct blob_wstream *w = xcalloc(1, sizeof(*w));

    w->files = f;
    w->fd = fd;
    w->md5_on = md5;
    if (md5 && crypto_md5_init(&w->md5) < 0) {
        free(w);
        return err_set(err, ERR_NOMEM, "InternalError", "out of memory");
    }
    if (expect >= BLOB_WSTREAM_THREAD_MIN && !start_thread(w))
        log_warn("no writer thread for an upload; writing inline");
    *out = w;
    return 0;
}

/* Hand cur (fill bytes) to the writer; wait for the previous one first. */
static int hand_over(struct blob_wstream *w, struct err *err)
{
    int e;

    pthread_mutex_lock(&w->mu);
    while (w->full)
        pthread_cond_wait(&w->cv, &w->mu);
    e = w->werr;
    if (!e) {
        w->full = w->cur;
        w->full_len = w->fill;
        w->full_off = w->cur_off;
        w->cur = w->spare;
        w->spare = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (e) {
        errno = e;
        return err_sys(err, "write blob data");
    }
    w->cur_off += w->fill;
    w->fill = 0;
    return 0;
}

int blob_wstream_write(struct blob_wstream *w, const void *data, size_t len,
                       struct err *err)
{
    const char *p = data;

    if (!w->threaded) {
        int e = put_bytes(w, data, len, w->written);

        if (e) {
            errno = e;
            return err_sys(err, "write blob data");
        }
        digest(w, data, len);
        w->written += len;
        return 0;
    }
    w->written += len;
    digest(w, data, len);
    while (len > 0) {
        size_t n = WS_BUF - w->fill;

        if (n > len)
            n = len;
        memcpy(w->cur + w->fill, p, n);
        w->fill += n;
        p += n;
        len -= n;
        if (w->fill == WS_BUF && hand_over(w, err) < 0)
            return -ERR_IO;
    }
    return 0;
}

/* End the writer thread (after what it was given). */
static void stop_writer(struct blob_wstream *w)
{
    if (!w->threaded)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    FREE_AND_NULL(w->cur);
    FREE_AND_NULL(w->spare);
    w->threaded = false;
}

int blob_wstream_finish(struct blob_wstream *w,
                        unsigned char md5[CRYPTO_MD5_LEN], uint64_t *crc64,
                        struct err *err)
{
    int rc = 0;

    if (w->threaded) {
        if (w->fill > 0)
            rc = hand_over(w, err);
        stop_writer(w); /* the writer finishes what it holds first */
        if (rc == 0 && w->werr) {
            errno = w->werr;
            rc = err_sys(err, "write blob data");
        }
        if (rc < 0)
            return rc;
    }
    if (w->md5_on)
        crypto_md5_final(&w->md5, md5);
    *crc64 = w->crc64;
    return 0;
}

uint64_t blob_wstream_written(const struct blob_wstream *w)
{
    return w->written;
}

void blob_wstream_free(struct blob_wstream *w)
{
    if (!w)
        return;
    stop_writer(w);
    if (w->md5_on)
        crypto_md5_release(&w->md5);
    free(w);
}
