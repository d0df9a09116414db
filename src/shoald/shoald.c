/*
 * shoald.c: the daemon's main.
 *
 * Start-up, in order: configuration (config.c: defaults < file < SHOAL_*
 * < argv; bad values exit 2), the data directory (DATA/, DATA/blobs,
 * DATA/nodes), the accounts (--dev: devstoreaccount1 with its public key;
 * else DATA/account.key, created with a random key on first start, mode
 * 0600), the database (DATA/meta.db), the services (blob, queue, batch and
 * notify, whose routes front the batch listener; each migrates its
 * schema and recovers what a crash left), the three listeners (the batch
 * one over HTTPS when tls.cert_file and tls.key_file are set), then
 * DATA/ports ("blob=N\nqueue=N\nbatch=N\n", written to a temp file and
 * renamed, so its presence means every listener is up: the readiness signal
 * tests wait for), then the services' background work.
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread before any is
 * started, and the main thread waits for them with sigwait(). Shutdown: stop
 * accepting (quiesce), wait for in-flight requests up to http.shutdown_ms,
 * stop the services' background work, stop the listeners (resuming any
 * suspended long-poll), close the database cleanly (checkpointing the WAL),
 * exit 0. SIGPIPE is ignored (a client that goes away is not fatal).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "batch/batch.h"
#include "blob/blob.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "db/db.h"
#include "http/http.h"
#include "notify/notify.h"
#include "queue/queue.h"
#include "shoald/events.h"

#define ACCOUNT_NAME_DEFAULT "shoal"

/* Notification delivery into a local queue, inside notify's transaction. */
static int queue_sink(void *ctx, struct db *db, const char *account,
                      const char *queue, const char *text, size_t len,
                      bool create, struct err *err)
{
    (void)ctx;
    return queue_put_in_tx(db, account, queue, text, len, create, err);
}

static int mkdir_p(const char *path, struct err *err)
{
    char *p = xstrdup(path);
    int rc = 0;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = err_sys(err, "mkdir '%s'", p);
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        rc = err_sys(err, "mkdir '%s'", p);
out:
    free(p);
    return rc;
}

/*
 * The account of a non-dev server: DATA/account.key holds "name:key\n".
 * Created on first start with 64 random bytes, mode 0600, fsync'd.
 */
static int load_account_key(struct auth *a, const char *data_dir,
                            struct err *err)
{
    char *path = xasprintf("%s/account.key", data_dir);
    char line[512];
    FILE *f;
    int rc = 0;

    f = fopen(path, "r");
    if (!f && errno == ENOENT) {
        unsigned char key[64];
        struct buf b = BUF_INIT;
        int fd;

        crypto_random(key, sizeof(key));
        buf_addf(&b, "%s:", ACCOUNT_NAME_DEFAULT);
        codec_base64_encode(&b, key, sizeof(key));
        buf_addc(&b, '\n');
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = err_sys(err, "create '%s'", path);
            buf_release(&b);
            goto out;
        }
        if (write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) < 0) {
            rc = err_sys(err, "write '%s'", path);
            close(fd);
            buf_release(&b);
            goto out;
        }
        close(fd);
        buf_release(&b);
        fprintf(stderr,
                "shoald: created account '%s'; its key is in %s (mode "
                "0600)\n",
                ACCOUNT_NAME_DEFAULT, path);
        f = fopen(path, "r");
    }
    if (!f) {
        rc = err_sys(err, "read '%s'", path);
        goto out;
    }
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        rc = err_set(err, ERR_INVALID, NULL, "'%s' is empty", path);
        goto out;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    rc = auth_add_accounts(a, line, err);
    if (rc == 0)
        log_info("account loaded file=%s", path);
out:
    free(path);
    return rc;
}

static int write_ports(const char *data_dir, const struct listen_ports *p,
                       struct err *err)
{
    char *tmp = xasprintf("%s/ports.tmp", data_dir);
    char *path = xasprintf("%s/ports", data_dir);
    FILE *f = fopen(tmp, "w");
    int rc = 0;

    if (!f) {
        rc = err_sys(err, "create '%s'", tmp);
        goto out;
    }
    fprintf(f, "blob=%d\nqueue=%d\nbatch=%d\n", p->blob, p->queue, p->batch);
    if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
        rc = err_sys(err, "write '%s'", tmp);
        fclose(f);
        goto out;
    }
    fclose(f);
    if (rename(tmp, path) < 0)
        rc = err_sys(err, "rename '%s'", tmp);
out:
    free(tmp);
    free(path);
    return rc;
}

static void wait_drained(struct http_server **servers, size_t n,
                         int64_t max_ms)
{
    int64_t deadline = timefmt_mono_ms() + max_ms;

    for (;;) {
        unsigned active = 0;
        for (size_t i = 0; i < n; i++)
            active += servers[i] ? http_server_active(servers[i]) : 0;
        if (active == 0)
            return;
        if (timefmt_mono_ms() >= deadline) {
            log_warn("shutdown with requests still in flight count=%u",
                     active);
            return;
        }
        usleep(20000);
    }
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct auth auth;
    struct err err = ERR_INIT;
    struct db *db = NULL;
    struct blob_service *blob = NULL;
    struct queue_service *queue = NULL;
    struct batch_service *batch = NULL;
    struct notify *notify = NULL;
    struct http_server *servers[3] = {NULL, NULL, NULL};
    struct listen_ports ports;
    struct http_server_opts opts;
    sigset_t sigs;
    char *dbpath = NULL, *dir = NULL;
    int rc, sig = 0, status = 1;

    rc = config_load(&cfg, argc, argv);
    if (rc != 0) {
        config_release(&cfg);
        return rc == 1 ? 0 : 2;
    }
    log_level_current = log_parse_level(cfg.log_level);

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    auth_init(&auth, cfg.auth_skew_s * 1000);
    if (mkdir_p(cfg.data_dir, &err) < 0)
        goto fail;
    dir = xasprintf("%s/blobs", cfg.data_dir);
    if (mkdir_p(dir, &err) < 0)
        goto fail;
    free(dir);
    dir = xasprintf("%s/nodes", cfg.data_dir);
    if (mkdir_p(dir, &err) < 0)
        goto fail;
    if (cfg.dev &&
        auth_add_account(&auth, AUTH_DEV_ACCOUNT, AUTH_DEV_KEY, &err) < 0)
        goto fail;
    if (!cfg.dev && load_account_key(&auth, cfg.data_dir, &err) < 0)
        goto fail;
    if (cfg.accounts[0] && auth_add_accounts(&auth, cfg.accounts, &err) < 0)
        goto fail;

    dbpath = xasprintf("%s/meta.db", cfg.data_dir);
    if (db_open(dbpath, strcmp(cfg.db_sync, "full") == 0, &db, &err) < 0)
        goto fail;
    if (blob_service_open(&cfg, db, &auth, &blob, &err) < 0 ||
        queue_service_open(&cfg, db, &auth, &queue, &err) < 0 ||
        batch_service_open(&cfg, db, &auth, &batch, &err) < 0 ||
        notify_open(&cfg, db, &notify, &err) < 0)
        goto fail;
    notify_set_queue_sink(notify, queue_sink, NULL);
    events_wire(batch, notify);

    memset(&opts, 0, sizeof(opts));
    opts.host = cfg.host;
    /*
     * Storage: a few event workers (each serves many connections; writes
     * wait for their commit parked, not on a thread) and a handler pool
     * for what waits on the disk (http_offload). Batch handlers block
     * (long polls park, the rest waits for commits): a thread each.
     */
    opts.threads = (int)cfg.http_storage_threads;
    if (opts.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        opts.threads = n < 1 ? 1 : n > 64 ? 64 : (int)n;
    }
    opts.pool_threads = (int)cfg.http_pool_threads;
    opts.idle_timeout_s = (int)cfg.http_timeout_s;
    opts.flavor = HTTP_STORAGE;
    opts.port = (int)cfg.blob_port;
    if (http_server_start(blob_service_http(blob), &opts, &servers[0], &err) <
        0)
        goto fail;
    opts.port = (int)cfg.queue_port;
    if (http_server_start(queue_service_http(queue), &opts, &servers[1],
                          &err) < 0)
        goto fail;
    opts.flavor = HTTP_BATCH;
    opts.threads = (int)cfg.http_threads;
    opts.pool_threads = 0;
    opts.port = (int)cfg.batch_port;
    /* tls.cert_file: HTTPS on the batch port (REST and node protocol). */
    opts.tls_cert_file = cfg.tls_cert_file;
    opts.tls_key_file = cfg.tls_key_file;
    if (http_server_start(
            notify_wrap_service(notify, batch_service_http(batch), &auth),
            &opts, &servers[2], &err) < 0)
        goto fail;
    ports.blob = http_server_port(servers[0]);
    ports.queue = http_server_port(servers[1]);
    ports.batch = http_server_port(servers[2]);

    if (blob_service_start(blob, &ports, &err) < 0 ||
        queue_service_start(queue, &ports, &err) < 0 ||
        batch_service_start(batch, &ports, &err) < 0 ||
        notify_start(notify, &err) < 0)
        goto fail;
    if (write_ports(cfg.data_dir, &ports, &err) < 0)
        goto fail;
    log_info("shoald started version=%s data=%s host=%s blob=%d queue=%d "
             "batch=%d dev=%s pid=%d",
             SHOAL_VERSION, cfg.data_dir, cfg.host, ports.blob, ports.queue,
             ports.batch, cfg.dev ? "yes" : "no", (int)getpid());

    while (sigwait(&sigs, &sig) != 0)
        ;
    log_info("shoald stopping signal=%d", sig);
    for (size_t i = 0; i < 3; i++)
        http_server_quiesce(servers[i]);
    wait_drained(servers, 3, cfg.http_shutdown_ms);
    status = 0;
    goto out;

fail:
    fprintf(stderr, "shoald: %s\n", err.msg);
    status = err.code == ERR_INVALID ? 2 : 1;
out:
    /*
     * Listeners first: stopping one resumes its suspended long-polls, whose
     * handlers still need their service; done() then drops every waiter, so
     * a service's background threads find no request left to wake.
     */
    for (size_t i = 0; i < 3; i++)
        http_server_stop(servers[i]);
    if (batch)
        batch_service_close(batch);
    notify_close(notify);
    if (queue)
        queue_service_close(queue);
    if (blob)
        blob_service_close(blob);
    db_close(db);
    auth_release(&auth);
    free(dbpath);
    free(dir);
    if (status == 0)
        log_info("shoald stopped");
    config_release(&cfg);
    return status;
}
