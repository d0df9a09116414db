/*
 * batch.c: the Batch service: lifecycle and the ticker.
 *
 * Purpose: wire the pieces of batch/ together for shoald.
 *
 *   batch_api.c    REST front door: api-version, SharedKey, routing
 *   pool_api.c job_api.c task_api.c node_api.c file_api.c
 *                  the resources (parse, call the model, render)
 *   agent_api.c    the node agent protocol under /_node/v1
 *                  (docs/node-protocol.md)
 *   spec.c         request body schemas (hostile input)
 *   model.c        everything in memory, one mutex, storage documents
 *   sched.c        queues, runs, task/job transitions
 *   deps.c         task dependencies: unmet counts, waiters by id
 *   exitcond.c     exitConditions -> jobAction, dependencyAction
 *   prep.c         job preparation and release tasks (prep_api.c: their
 *                  status list)
 *   schedule.c     job schedules and their timing (schedule_api.c)
 *   jobmgr.c       job manager tasks: made with their job, runExclusive,
 *                  killJobOnCompletion
 *   ident.c        which user a task runs as on its node
 *   store.c        SQLite copy, journal with group commit
 *   super.c        local pools: one shoal-node process per node
 *   nodeops.c      reboot, scheduling, removal; deallocation options
 *   nodelogs.c     uploadbatchservicelogs (local nodes; the URL checks)
 *   fileproxy.c    file requests (file API, service logs) for remote
 *                  nodes, carried by the node protocol
 *   join.c         remote nodes: join tokens and the join exchange
 *   idmap.c        the maps
 *
 * Start-up (batch_service_open): migrate, load every row into the model,
 * rebuild the queues and the runs (sched_recover: running tasks wait for
 * their agent's word), start the journal. batch_service_start (ports
 * known): write DATA/nodes/server.url, adopt agents that outlived a crash,
 * start the ticker. The ticker (every TICK_MS) runs sched_tick (poll
 * deadlines, heartbeats, job clocks, deleting jobs), schedule_tick (jobs
 * due from job schedules), fileproxy_tick (file requests for remote nodes
 * that time out or whose node was lost) and super_tick (node counts, agent
 * processes), then removes the directories super_tick collected, outside
 * the lock.
 *
 * Shutdown (batch_service_close, after the listener stopped): stop the
 * ticker, stop the agents (SIGTERM, then SIGKILL), flush and stop the
 * journal, free the model.
 *
 * Threads: http workers (handlers), the ticker, the journal committer.
 * Shared state is the model, under model.mu. Ownership: the service owns
 * the model, store and supervisor; cfg, db and auth outlive it.
 */
#include "batch/batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch/batchint.h"
#include "batch/fileproxy.h"
#include "batch/schedule.h"
#include "batch/sched.h"
#include "batch/store.h"
#include "batch/super.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"

#define TICK_MS            50
#define AGENT_STOP_WAIT_MS 5000

int batch_service_open(const struct config *cfg, struct db *db,
                       const struct auth *auth, struct batch_service **out,
                       struct err *err)
{
    struct batch_service *s = xcalloc(1, sizeof(*s));
    int rc;

    s->cfg = cfg;
    s->db = db;
    s->auth = auth;
    s->data_dir = xstrdup(cfg->data_dir);
    s->nodes_dir = xasprintf("%s/nodes", cfg->data_dir);
    pthread_mutex_init(&s->tick_mu, NULL);
    pthread_cond_init(&s->tick_cv, NULL);
    s->proxy = fileproxy_new(s->data_dir);
    batch_api_init(s);
    rc = store_open(db, &s->store, err);
    if (rc < 0)
        goto fail;
    model_init(&s->model, s->store);
    rc = store_load(s->store, &s->model, err);
    if (rc < 0)
        goto fail_model;
    sched_recover(&s->model, timefmt_mono_ms());
    rc = super_new(cfg, s->nodes_dir, &s->super, err);
    if (rc < 0)
        goto fail_model;
    sched_set_waker(agent_api_wake, s);
    store_start(s->store);
    s->seq_base = (uint64_t)timefmt_now_ms() * 1000;
    *out = s;
    return 0;
fail_model:
    model_release(&s->model);
fail:
    store_close(s->store);
    fileproxy_free(s->proxy);
    free(s->data_dir);
    free(s->nodes_dir);
    free(s);
    return rc;
}

void batch_service_set_event_sink(struct batch_service *s,
                                  const struct batch_event_sink *sink)
{
    store_set_sink(s->store, sink);
}

const struct http_service *batch_service_http(struct batch_service *s)
{
    return &s->http;
}

static void *ticker(void *arg)
{
    struct batch_service *s = arg;

    for (;;) {
        struct timespec ts;
        char **rm = NULL;
        size_t nrm = 0;
        int64_t now = timefmt_now_ms(), mono = timefmt_mono_ms();

        sched_tick(&s->model, now, mono, s->cfg->node_heartbeat_timeout_ms);
        schedule_tick(&s->model, now);
        fileproxy_tick(s, mono);
        pthread_mutex_lock(&s->model.mu);
        super_tick(s->super, &s->model, now, mono, &rm, &nrm);
        pthread_mutex_unlock(&s->model.mu);
        for (size_t i = 0; i < nrm; i++) {
            super_rm_rf(rm[i]);
            free(rm[i]);
        }
        free(rm);

        pthread_mutex_lock(&s->tick_mu);
        if (s->stopping) {
            pthread_mutex_unlock(&s->tick_mu);
            break;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->tick_cv, &s->tick_mu, &ts);
        if (s->stopping) {
            pthread_mutex_unlock(&s->tick_mu);
            break;
        }
        pthread_mutex_unlock(&s->tick_mu);
    }
    return NULL;
}

int batch_service_start(struct batch_service *s,
                        const struct listen_ports *ports, struct err *err)
{
    struct stat st;
    int rc;

    free(s->batch_url);
    s->batch_url = xasprintf(
        "%s://%s:%d",
        s->cfg->tls_cert_file && s->cfg->tls_cert_file[0] ? "https" : "http",
        strcmp(s->cfg->host, "0.0.0.0") == 0 ? "127.0.0.1" : s->cfg->host,
        ports->batch);
    free(s->blob_url);
    s->blob_url = xasprintf("http://127.0.0.1:%d", ports->blob);
    if (mkdir(s->nodes_dir, 0755) < 0 && errno != EEXIST)
        return err_sys(err, "mkdir '%s'", s->nodes_dir);
    /*
     * Tasks of non-admin identities run as other users when we are root
     * (node.run_as, ident.c): they must be able to walk down to their node
     * root (traverse only).
     */
    if (geteuid() == 0) {
        if (stat(s->data_dir, &st) == 0)
            chmod(s->data_dir, (st.st_mode & 07777) | S_IXOTH);
        chmod(s->nodes_dir, 0755);
    }
    rc = super_set_server(s->super, s->batch_url, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&s->model.mu);
    super_adopt(s->super, &s->model);
    pthread_mutex_unlock(&s->model.mu);
    if (pthread_create(&s->ticker, NULL, ticker, s) != 0)
        return err_set(err, ERR_INTERNAL, NULL,
                       "cannot start the batch ticker");
    s->ticker_running = true;
    return 0;
}

void batch_service_close(struct batch_service *s)
{
    if (!s)
        return;
    if (s->ticker_running) {
        pthread_mutex_lock(&s->tick_mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->tick_cv);
        pthread_mutex_unlock(&s->tick_mu);
        pthread_join(s->ticker, NULL);
        pthread_mutex_lock(&s->model.mu);
        super_stop_all(s->super, &s->model, AGENT_STOP_WAIT_MS);
        for (size_t i = 0; i < s->model.npools; i++) {
            struct mpool *p = s->model.pool_list[i];
            for (size_t k = 0; k < p->nnodes; k++)
                model_save_node(&s->model, p->nodes[k]);
        }
        pthread_mutex_unlock(&s->model.mu);
    }
    sched_set_waker(NULL, NULL);
    store_close(s->store);
    model_release(&s->model);
    super_free(s->super);
    fileproxy_free(s->proxy);
    pthread_cond_destroy(&s->tick_cv);
    pthread_mutex_destroy(&s->tick_mu);
    free(s->data_dir);
    free(s->nodes_dir);
    free(s->batch_url);
    free(s->blob_url);
    free(s);
}

bool batch_service_job_exists(struct batch_service *s, const char *account,
                              const char *job_id)
{
    bool found;

    pthread_mutex_lock(&s->model.mu);
    found = model_job_find(&s->model, account, job_id) != NULL;
    pthread_mutex_unlock(&s->model.mu);
    return found;
}
