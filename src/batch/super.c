/*
 * super.c: the node supervisor of local pools.
 *
 * Purpose: make each pool's nodes exist and run. For every node of a local
 * pool, one shoal-node process (bin/shoal-node) runs with its own node
 * root DATA/nodes/POOL/NODE (shared/, startup/, workitems/), talking to
 * shoald over the agent protocol (agent_api.c, docs/node-protocol.md) with
 * a per-node token: 32 random bytes, hex, handed over in the environment
 * (SHOAL_NODE_TOKEN) and stored here only as its SHA-256. A new token is
 * made for every spawn, so a replaced agent cannot come back.
 *
 * Node lifecycle here (the node's state machine is in model.c):
 *   pool below target  -> new node (creating), agent spawned (starting);
 *   agent exits        -> reaped; respawned after a back-off (0.5 s doubling
 *                         to 30 s); its runs are requeued when the new agent
 *                         syncs (agent_api.c: new boot id);
 *   pool above target, pool deleted, node removed
 *                      -> node leavingpool (nodeops.c: idle nodes go
 *                         first; running tasks requeued, terminated or
 *                         waited for, per the nodeDeallocationOption);
 *                         once no task runs on it the agent is SIGTERMed
 *                         (SIGKILL 10 s later); once it is gone: its
 *                         directory removed, the node deleted.
 *
 * Resize timeout: a pool still resizing (short of its target, or with
 * nodes still creating, starting or leaving) resizeTimeout after the
 * resize began (alloc_ms) goes back to steady with resizeErrors
 * [AllocationTimedout] (resize_timed_out); pool_api.c clears them on the
 * next resize. Local nodes are made at once, so this is a node that does
 * not start (a broken node.bin) or a shrink waiting for taskcompletion.
 *
 * Remote nodes (joined with a join token, join.c) have no process here:
 * they are never spawned, and a jointoken pool never gets nodes from us.
 * A leaving remote node is deleted once no task runs on it and its agent
 * was sent "stop" (or went silent).
 *
 * Crash of shoald: agents keep running (they are not killed with us).
 * Their pids are in the node documents. At start-up super_adopt() keeps an
 * agent whose /proc/PID/cmdline is shoal-node with this node id (it will
 * find the new shoald through nodes_dir/server.url and resync: the tasks it
 * still runs continue); any other pid is forgotten and a fresh agent is
 * spawned. Adopted agents are not our children: they are watched with
 * kill(pid, 0) and the cmdline check. A graceful stop (SIGTERM of shoald)
 * stops every agent (super_stop_all); their running tasks are requeued at
 * the next start.
 *
 * TLS: with tls.cert_file the batch URL is https and each agent gets
 * --ca tls.cert_file, so the certificate must name the address agents use
 * (http.host, or 127.0.0.1 when that is 0.0.0.0).
 *
 * Permissions: when shoald runs as root, a non-admin start task runs as
 * node.run_as and non-admin tasks as users of their own (ident.c). The node
 * roots must then be reachable by them: the data directory gets o+x
 * (traverse only) and nodes_dir and node roots are 0755.
 *
 * Threads: every function runs with the model lock held, from the batch
 * ticker (and start/close). posix_spawn keeps the fork cheap.
 * Ownership: the supervisor owns its paths; nodes are the model's.
 */
#include "batch/super.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch/model.h"
#include "batch/nodeops.h"
#include "batch/sched.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"

extern char **environ;

#define RESPAWN_MIN_MS 500
#define RESPAWN_MAX_MS 30000
#define STOP_KILL_MS   10000
#define ORPHAN_EXIT_MS 60000

struct super {
    char *nodes_dir;
    char *node_bin;
    char *run_as; /* NULL unless running as root */
    char *server_url;
    char *ca_file; /* tls.cert_file: local agents verify shoald with it */
    int64_t poll_ms;
    int64_t hb_ms;
    /* nodes being stopped: node id -> SIGTERM time; kept on the node */
};

static char *exe_dir(void)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    char *slash;

    if (n <= 0)
        return xstrdup(".");
    buf[n] = '\0';
    slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    return xstrdup(buf);
}

int super_new(const struct config *cfg, const char *nodes_dir,
              struct super **out, struct err *err)
{
    struct super *sp = xcalloc(1, sizeof(*sp));

    sp->nodes_dir = xstrdup(nodes_dir);
    if (cfg->node_bin && cfg->node_bin[0]) {
        sp->node_bin = xstrdup(cfg->node_bin);
    } else {
        char *d = exe_dir();
        sp->node_bin = xasprintf("%s/shoal-node", d);
        free(d);
    }
    if (geteuid() == 0 && cfg->node_run_as && cfg->node_run_as[0]) {
        if (!getpwnam(cfg->node_run_as)) {
            free(sp->node_bin);
            free(sp->nodes_dir);
            free(sp);
            return err_set(err, ERR_INVALID, NULL,
                           "node.run_as user '%s' does not exist",
                           cfg->node_run_as);
        }
        sp->run_as = xstrdup(cfg->node_run_as);
    }
    if (cfg->tls_cert_file && cfg->tls_cert_file[0])
        sp->ca_file = xstrdup(cfg->tls_cert_file);
    sp->poll_ms = cfg->node_poll_ms;
    sp->hb_ms = cfg->node_heartbeat_timeout_ms;
    *out = sp;
    return 0;
}

void super_free(struct super *sp)
{
    if (!sp)
        return;
    free(sp->nodes_dir);
    free(sp->node_bin);
    free(sp->run_as);
    free(sp->server_url);
    free(sp->ca_file);
    free(sp);
}

int super_set_server(struct super *sp, const char *batch_url, struct err *err)
{
    char *tmp = xasprintf("%s/server.url.tmp", sp->nodes_dir);
    char *path = xasprintf("%s/server.url", sp->nodes_dir);
    FILE *f;
    int rc = 0;

    free(sp->server_url);
    sp->server_url = xstrdup(batch_url);
    f = fopen(tmp, "w");
    if (!f) {
        rc = err_sys(err, "create '%s'", tmp);
        goto out;
    }
    fprintf(f, "%s\n", batch_url);
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

/* ---- processes ------------------------------------------------------------
 */

static bool cmdline_matches(pid_t pid, const char *node_id)
{
    char path[64], buf[8192];
    ssize_t n;
    int fd;
    bool bin = false, id = false;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
        const char *a = buf + i;
        const char *base = strrchr(a, '/');
        if (i == 0)
            bin = strcmp(base ? base + 1 : a, "shoal-node") == 0;
        if (strcmp(a, node_id) == 0)
            id = true;
    }
    return bin && id;
}

static bool alive(struct mnode *n)
{
    if (n->pid <= 0)
        return false;
    if (!n->adopted) {
        int status;
        pid_t r = waitpid(n->pid, &status, WNOHANG);
        if (r == 0)
            return true;
        if (r == n->pid) {
            if (WIFEXITED(status))
                log_warn("node agent exited node=%s pid=%d status=%d", n->id,
                         (int)n->pid, WEXITSTATUS(status));
            else if (WIFSIGNALED(status))
                log_warn("node agent killed node=%s pid=%d signal=%d", n->id,
                         (int)n->pid, WTERMSIG(status));
        }
        return false;
    }
    if (kill(n->pid, 0) < 0 && errno == ESRCH)
        return false;
    return cmdline_matches(n->pid, n->id);
}

static char *node_root(struct super *sp, struct mnode *n)
{
    return xasprintf("%s/%s/%s", sp->nodes_dir, n->pool->id, n->id);
}

static void mkdir_mode(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        log_warn("mkdir failed path=%s errno=%d", path, errno);
    chmod(path, mode);
}

static void spawn(struct super *sp, struct model *m, struct mnode *n,
                  int64_t now, int64_t mono)
{
    unsigned char tok[32], hash[CRYPTO_SHA256_LEN];
    struct buf thex = BUF_INIT, hhex = BUF_INIT;
    char *root = node_root(sp, n);
    char *pooldir = xasprintf("%s/%s", sp->nodes_dir, n->pool->id);
    char *logpath = xasprintf("%s/%s.log", pooldir, n->id);
    char *server_file = xasprintf("%s/server.url", sp->nodes_dir);
    char *envtok, *orphan, *hb;
    char *argv[24];
    char **envp = NULL;
    size_t nenv = 0, envcap = 0;
    int argc = 0, fd;
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int rc;

    crypto_random(tok, sizeof(tok));
    codec_hex_encode(&thex, tok, sizeof(tok), false);
    crypto_sha256(thex.data, thex.len, hash);
    codec_hex_encode(&hhex, hash, sizeof(hash), false);
    snprintf(n->token_hash, sizeof(n->token_hash), "%s", hhex.data);

    mkdir_mode(pooldir, 0755);
    mkdir_mode(root, 0755);
    envtok = xasprintf("SHOAL_NODE_TOKEN=%s", thex.data);
    orphan = xasprintf("%d", ORPHAN_EXIT_MS);
    hb = xasprintf("%lld", (long long)sp->hb_ms);
    argv[argc++] = sp->node_bin;
    argv[argc++] = (char *)"--server";
    argv[argc++] = sp->server_url;
    argv[argc++] = (char *)"--server-file";
    argv[argc++] = server_file;
    argv[argc++] = (char *)"--node-id";
    argv[argc++] = n->id;
    argv[argc++] = (char *)"--pool-id";
    argv[argc++] = n->pool->id;
    argv[argc++] = (char *)"--root";
    argv[argc++] = root;
    argv[argc++] = (char *)"--orphan-exit-ms";
    argv[argc++] = orphan;
    if (sp->run_as) {
        argv[argc++] = (char *)"--run-as";
        argv[argc++] = sp->run_as;
    }
    if (sp->ca_file) {
        argv[argc++] = (char *)"--ca";
        argv[argc++] = sp->ca_file;
    }
    argv[argc] = NULL;

    /* The environment: ours minus any SHOAL_NODE_TOKEN, plus the token. */
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "SHOAL_NODE_TOKEN=", 17) == 0)
            continue;
        if (nenv + 2 >= envcap) {
            envcap = envcap ? envcap * 2 : 64;
            envp = xrealloc(envp, envcap * sizeof(char *));
        }
        envp[nenv++] = *e;
    }
    if (nenv + 2 >= envcap) {
        envcap = envcap + 4;
        envp = xrealloc(envp, envcap * sizeof(char *));
    }
    envp[nenv++] = envtok;
    envp[nenv] = NULL;

    posix_spawn_file_actions_init(&fa);
    fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, fd, 1);
        posix_spawn_file_actions_adddup2(&fa, fd, 2);
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    rc = posix_spawn(&pid, sp->node_bin, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (fd >= 0)
        close(fd);
    if (rc != 0) {
        log_error("cannot start node agent node=%s bin=%s errno=%d", n->id,
                  sp->node_bin, rc);
        n->pid = -1;
        n->crashes++;
        n->respawn_mono = mono + RESPAWN_MAX_MS;
    } else {
        log_info("node agent started node=%s pool=%s pid=%d", n->id,
                 n->pool->id, (int)pid);
        n->pid = pid;
        n->adopted = false;
        n->last_seen_mono = mono;
        n->boot[0] = '\0';
        if (n->state == NODE_CREATING || n->state == NODE_UNUSABLE ||
            n->state == NODE_UNKNOWN)
            model_node_set_state(m, n, NODE_STARTING, now);
        model_save_node(m, n);
    }
    buf_release(&thex);
    buf_release(&hhex);
    free(envp);
    free(envtok);
    free(orphan);
    free(hb);
    free(root);
    free(pooldir);
    free(logpath);
    free(server_file);
}

void super_adopt(struct super *sp, struct model *m)
{
    (void)sp;
    for (size_t i = 0; i < m->npools; i++) {
        struct mpool *p = m->pool_list[i];
        for (size_t k = 0; k < p->nnodes; k++) {
            struct mnode *n = p->nodes[k];
            if (n->pid > 0 && kill(n->pid, 0) == 0 &&
                cmdline_matches(n->pid, n->id)) {
                n->adopted = true;
                log_info("node agent adopted node=%s pid=%d", n->id,
                         (int)n->pid);
            } else {
                n->pid = -1;
                n->adopted = false;
            }
        }
    }
}

/* ---- rounds
 * -------------------------------------------------------------------- */

static void new_node(struct model *m, struct mpool *p, int64_t now)
{
    unsigned char r[12];
    struct buf h = BUF_INIT;
    char *id;
    struct mnode *n;

    crypto_random(r, sizeof(r));
    codec_hex_encode(&h, r, sizeof(r), false);
    id = xasprintf("tvmps_%s_d", h.data);
    buf_release(&h);
    n = model_node_new(m, p, id, now);
    n->last_seen_mono = timefmt_mono_ms();
    free(id);
    model_save_node(m, n);
    log_info("node created node=%s pool=%s", n->id, p->id);
}

static int removal_rank(const struct mnode *n)
{
    /* Lower goes first: nodes doing nothing before busy ones. */
    switch (n->state) {
    case NODE_UNUSABLE:
    case NODE_START_FAILED:
    case NODE_UNKNOWN:
        return 0;
    case NODE_CREATING:
    case NODE_STARTING:
    case NODE_WAITING_START:
        return 1;
    case NODE_IDLE:
        return 2;
    default:
        return 3;
    }
}

static void start_removal(struct model *m, struct mnode *n, int64_t now)
{
    nodeops_remove(m, n, (enum nodeops_option)n->pool->dealloc, now);
    model_save_node(m, n);
}

/*
 * A leaving remote node is gone once no task runs on it and its agent was
 * told to stop, or cannot be told (silent past the heartbeat timeout). If
 * the "stop" got lost, the agent's next sync finds no node (404) and it
 * exits all the same.
 */
static bool remote_gone(struct super *sp, const struct mnode *n, int64_t mono)
{
    if (!nodeops_drained(n))
        return false;
    return n->stop_sent || n->state == NODE_UNUSABLE || !n->contacted ||
           mono - n->last_seen_mono > sp->hb_ms;
}

/*
 * The resize (or the first allocation) is still short of its target, or
 * still waiting for nodes to start or to leave, resizeTimeout after it
 * began: it is over. The pool is steady again with the error the service
 * gives (AllocationTimedout); the target stays what was asked, nodes still
 * starting may yet come up, and leaving nodes still leave once drained.
 */
static void resize_timed_out(struct model *m, struct mpool *p, size_t live,
                             int64_t now)
{
    bool grow = live < (size_t)(p->target + p->target_low);

    log_warn("pool resize timed out pool=%s target=%d nodes=%zu", p->id,
             p->target + p->target_low, live);
    json_decref(p->resize_errors);
    p->resize_errors = json_pack(
        "[{s:s, s:s}]", "code", "AllocationTimedout", "message",
        grow ? "Desired number of dedicated nodes could not be allocated as "
               "the resize timeout was reached"
             : "The resize could not complete as the resize timeout was "
               "reached: nodes were still starting or leaving the pool");
    model_pool_set_alloc(p, POOL_STEADY, now);
    p->etag = model_next_etag(m);
    model_save_pool(m, p);
}

void super_tick(struct super *sp, struct model *m, int64_t now, int64_t mono,
                char ***rm, size_t *nrm)
{
    for (size_t i = 0; i < m->npools;) {
        struct mpool *p = m->pool_list[i];
        size_t live = 0;
        int target = p->target + p->target_low;
        bool settled = true;

        if (p->state == POOL_DELETING)
            target = 0;
        for (size_t k = 0; k < p->nnodes; k++)
            live += !p->nodes[k]->removing;
        if (p->alloc == POOL_RESIZING || p->state == POOL_DELETING) {
            /* Nodes of a jointoken pool come by themselves (join.c). */
            while (!p->join_mode && live < (size_t)target) {
                new_node(m, p, now);
                live++;
            }
            while (live > (size_t)target) {
                struct mnode *victim = NULL;
                for (size_t k = 0; k < p->nnodes; k++) {
                    struct mnode *n = p->nodes[k];
                    if (n->removing)
                        continue;
                    if (!victim || removal_rank(n) <= removal_rank(victim))
                        victim = n;
                }
                if (!victim)
                    break;
                start_removal(m, victim, now);
                live--;
            }
        }
        for (size_t k = 0; k < p->nnodes;) {
            struct mnode *n = p->nodes[k];
            bool up = alive(n);

            if (n->removing) {
                if (n->remote && !remote_gone(sp, n, mono)) {
                    settled = false;
                    k++;
                    continue;
                }
                /* taskcompletion / retaineddata: its tasks end first. */
                if (up && !nodeops_drained(n)) {
                    settled = false;
                    k++;
                    continue;
                }
                if (up) {
                    if (n->stop_mono == 0) {
                        kill(n->pid, SIGTERM);
                        n->stop_mono = mono;
                    } else if (mono - n->stop_mono >= STOP_KILL_MS) {
                        kill(n->pid, SIGKILL);
                        n->stop_mono = mono;
                    }
                    settled = false;
                    k++;
                    continue;
                }
                if (!n->remote) {
                    *rm = xrealloc(*rm, (*nrm + 2) * sizeof(char *));
                    (*rm)[(*nrm)++] = node_root(sp, n);
                    (*rm)[(*nrm)++] =
                        xasprintf("%s/%s/%s.log", sp->nodes_dir, p->id, n->id);
                }
                log_info("node removed node=%s pool=%s", n->id, p->id);
                sched_wake_node(n);
                model_event_node_removed(m, n);
                model_delete_node(m, n->rowid);
                model_node_free(m, n);
                continue;
            }
            if (!up && n->pid > 0) {
                int64_t back = RESPAWN_MIN_MS;
                for (int c = 0; c < n->crashes && back < RESPAWN_MAX_MS; c++)
                    back *= 2;
                if (back > RESPAWN_MAX_MS)
                    back = RESPAWN_MAX_MS;
                n->pid = -1;
                n->crashes++;
                n->respawn_mono = mono + back;
                model_save_node(m, n);
            }
            if (!n->remote && n->pid <= 0 && mono >= n->respawn_mono)
                spawn(sp, m, n, now, mono);
            if (n->state == NODE_CREATING || n->state == NODE_STARTING)
                settled = false;
            k++;
        }
        if (p->state == POOL_DELETING && p->nnodes == 0) {
            char *dir = xasprintf("%s/%s", sp->nodes_dir, p->id);
            (*rm) = xrealloc(*rm, (*nrm + 1) * sizeof(char *));
            (*rm)[(*nrm)++] = dir;
            log_info("pool deleted pool=%s", p->id);
            model_event_pool_removed(m, p);
            model_delete_pool(m, p->rowid);
            model_pool_free(m, p);
            continue;
        }
        if (p->alloc == POOL_RESIZING &&
            !(settled && live == (size_t)(p->target + p->target_low)) &&
            now - p->alloc_ms >= p->resize_timeout_ms) {
            resize_timed_out(m, p, live, now);
        } else if (p->alloc != POOL_STEADY && settled &&
                   live == (size_t)(p->target + p->target_low)) {
            model_pool_set_alloc(p, POOL_STEADY, now);
            p->etag = model_next_etag(m);
            model_save_pool(m, p);
        }
        if (p->alloc == POOL_STOPPING) {
            model_pool_set_alloc(p, POOL_STEADY, now);
            model_save_pool(m, p);
        }
        i++;
    }
}

void super_stop_all(struct super *sp, struct model *m, int64_t wait_ms)
{
    int64_t deadline = timefmt_mono_ms() + wait_ms;
    bool any;

    (void)sp;
    for (size_t i = 0; i < m->npools; i++) {
        struct mpool *p = m->pool_list[i];
        for (size_t k = 0; k < p->nnodes; k++) {
            if (p->nodes[k]->pid > 0)
                kill(p->nodes[k]->pid, SIGTERM);
        }
    }
    do {
        any = false;
        for (size_t i = 0; i < m->npools; i++) {
            struct mpool *p = m->pool_list[i];
            for (size_t k = 0; k < p->nnodes; k++) {
                struct mnode *n = p->nodes[k];
                if (n->pid > 0 && alive(n))
                    any = true;
                else
                    n->pid = -1;
            }
        }
        if (any)
            usleep(20000);
    } while (any && timefmt_mono_ms() < deadline);
    for (size_t i = 0; i < m->npools; i++) {
        struct mpool *p = m->pool_list[i];
        for (size_t k = 0; k < p->nnodes; k++) {
            struct mnode *n = p->nodes[k];
            if (n->pid > 0) {
                log_warn("node agent did not stop, killing node=%s pid=%d",
                         n->id, (int)n->pid);
                kill(n->pid, SIGKILL);
                if (!n->adopted)
                    waitpid(n->pid, NULL, 0);
                n->pid = -1;
            }
        }
    }
}

void super_rm_rf(const char *path)
{
    int fd;

    if (unlink(path) == 0)
        return;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    fsutil_rm_under(fd);
    rmdir(path);
}
