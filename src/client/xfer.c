/*
 * xfer.c: run the parts of a blob transfer on a few threads.
 *
 * A transfer is nparts independent parts (blocks of an upload, ranges of a
 * download). xfer_run starts nthreads - 1 workers and works itself; each
 * takes the next part index under the lock until none is left or a part
 * has failed. The first failure's code wins and stops the others between
 * parts (a part in flight finishes its request). Progress is counted under
 * the same lock, so the user's callback never runs concurrently for one
 * transfer, and a non-zero return from it cancels like a failure.
 *
 * If a thread cannot be started the transfer goes on with fewer; with one
 * thread everything runs on the caller's.
 */
#include "client/clientint.h"

#include <stdlib.h>

#define XFER_MAX_THREADS 64

static void *worker(void *ud)
{
    struct xfer *x = ud;

    for (;;) {
        size_t i;
        int rc;

        pthread_mutex_lock(&x->lock);
        if (x->rc < 0 || x->next >= x->nparts) {
            pthread_mutex_unlock(&x->lock);
            break;
        }
        i = x->next++;
        pthread_mutex_unlock(&x->lock);
        rc = x->part(x, i, x->ctx);
        if (rc < 0) {
            pthread_mutex_lock(&x->lock);
            if (x->rc == 0)
                x->rc = rc;
            pthread_mutex_unlock(&x->lock);
            break;
        }
    }
    return NULL;
}

int xfer_run(struct xfer *x, int nthreads)
{
    pthread_t tids[XFER_MAX_THREADS];
    int started = 0, i;

    pthread_mutex_init(&x->lock, NULL);
    x->next = 0;
    x->rc = 0;
    x->done = 0;
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > XFER_MAX_THREADS)
        nthreads = XFER_MAX_THREADS;
    if ((size_t)nthreads > x->nparts)
        nthreads = x->nparts ? (int)x->nparts : 1;
    for (i = 0; i < nthreads - 1; i++) {
        if (pthread_create(&tids[started], NULL, worker, x) != 0)
            break;
        started++;
    }
    worker(x);
    for (i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    pthread_mutex_destroy(&x->lock);
    return x->rc;
}

bool xfer_add_done(struct xfer *x, int64_t bytes)
{
    bool go = true;

    pthread_mutex_lock(&x->lock);
    x->done += bytes;
    if (x->progress && x->progress->fn &&
        x->progress->fn(x->done, x->total, x->progress->ctx) != 0) {
        if (x->rc == 0)
            x->rc = client_fail(x->c, SHOAL_ERR_CANCELLED, "cancelled");
        go = false;
    }
    if (x->rc < 0)
        go = false;
    pthread_mutex_unlock(&x->lock);
    return go;
}

bool xfer_failed(struct xfer *x)
{
    bool failed;

    pthread_mutex_lock(&x->lock);
    failed = x->rc < 0;
    pthread_mutex_unlock(&x->lock);
    return failed;
}
