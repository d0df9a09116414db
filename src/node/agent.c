/*
 * agent.c: shoal-node, the node agent.
 *
 * Purpose: be one compute node. Talk to shoald over the node protocol
 * (docs/node-protocol.md), run the pool's start task, run the tasks it is
 * assigned in parallel up to the pool's taskSlotsPerNode (the server counts
 * the slots), and report every outcome until shoald acknowledges it.
 *
 * Threads:
 *   main      waits for SIGTERM/SIGINT (blocked everywhere else) or for a
 *             stop decided by the sync thread; then cancels the runs, waits
 *             for their workers (bounded) and returns.
 *   sync      the protocol loop: one sync request at a time (the server
 *             relies on that), each carrying the ack of the last response,
 *             the running attempts, unacknowledged reports, the start task
 *             status and purges done; then applies the response (acks,
 *             cancels, assignments, purges, config).
 *   worker    one per run: runner_run() to the end, then the report joins
 *             the pending list; if the sync thread is parked on a waiting
 *             request, the worker sends a kick so the report goes out now.
 *   start     runs the start task (with its retries) once the config has
 *             arrived; its status rides on every sync.
 *   jobtask   one per job preparation or release task (below).
 *   fileserve up to a few at once: the file requests of a response
 *             ("fileOps": the file API and uploadbatchservicelogs of a
 *             remote node), done and answered with their own requests
 *             (fileserve.c); the sync thread only queues them.
 *
 * Structures: struct agent (one), struct run per attempt (rowid, attempt,
 * runner task, volatile cancel flag, report once done). All shared state is
 * under agent.mu; runner_run is called without it.
 *
 * Run states: assigned -> running (worker started) -> done (report
 * pending) -> acknowledged (freed). A cancel sets the flag; the runner
 * kills the process group and the outcome is reported like any other.
 *
 * Reboot: a response with "reboot" (the node is rebooted, nodeops.c on
 * the server) stops the agent like a signal does, with AGENT_EXIT_REBOOT:
 * runs and the start task are killed, and main.c re-executes the program
 * (same pid and arguments, new boot id), which asks for its configuration
 * and runs the start task again.
 *
 * Failure handling: a failed exchange is retried with back-off (50 ms
 * doubling to 1 s); after each failure the server file is re-read (a new
 * shoald after a crash listens elsewhere). Unacknowledged reports stay and
 * are resent (the server ignores duplicates). 401 or 404 means this agent
 * was replaced or its node removed: exit AGENT_EXIT_REVOKED, killing the
 * runs. No contact for orphan_exit_ms: exit AGENT_EXIT_ORPHAN likewise.
 *
 * Job preparation and release (struct jobprep per job, its two struct
 * jobtask): an assignment may carry its job's preparation ("prep"); the
 * first worker that needs it starts a jobtask thread for it (once per job
 * per agent process) and, with waitForSuccess, waits for it: on failure
 * the task is not run but reported "prepFailed" (shoald runs it
 * elsewhere). A response's "release" starts the job's release thread,
 * which first waits for the job's runs here to end. Each jobtask's status
 * (state, times, exit, retries, failure) is versioned and rides on every
 * sync ("preps") until shoald acknowledges that version ("prepAcks").
 *
 * Task users (when root): an assignment's userKey and groupKey (ident.c on
 * the server) become the uid and gid the task runs as, mapped into an id
 * window no account uses (ID_BASE, or ID_BASE_SMALL when the user
 * namespace maps only a few ids); admin tasks run as uid 0. Every task
 * keeps the run-as user's group as a supplementary group. There is no
 * /etc/passwd entry for these ids: HOME is the task's wd.
 *
 * Directories: ROOT/shared (group of the run-as user, setgid, 02775, so
 * files an admin start task puts there stay readable by task users),
 * ROOT/startup (start task), ROOT/workitems/JOB/job-1/TASK (each task;
 * runner.c creates the task directory and wd), with ROOT/workitems/JOB and
 * its job-1 owned by root and the job's group, mode 0750, so no task of
 * another job can enter them; the job's preparation and release tasks run
 * in job-1/PREPID and job-1/RELEASEID. A purge removes ROOT/workitems/JOB
 * once no run, preparation or release of that job is active.
 *
 * Ownership: runs are owned by the agent list until acknowledged; workers
 * only touch their own run (and the list under mu).
 */
#include "node/agent.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"
#include "node/fileserve.h"
#include "node/link.h"
#include "node/runner.h"

#define PROTO_VERSION  1
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
#define STOP_WAIT_MS   5000
#define POLL_SLACK_MS  30000
#define BUSY_SYNC_MS   1000

struct run {
    struct run *next;
    uint64_t rowid;
    uint32_t attempt;
    int slots;
    char *job, *task;
    json_t *spec; /* the assignment */
    volatile bool cancel;
    bool done;
    bool reported; /* sent at least once */
    json_t *report;
    pthread_t thread;
    bool joined;
    struct agent *ag;
};

struct start_status {
    const char *state; /* "none", "running", "completed" */
    bool wait;         /* waitForSuccess (default true) */
    int64_t start_ms, end_ms;
    bool has_exit;
    int exit_code;
    int retry;
    char category[16], code[64], message[512];
};

/* A job preparation or release task on this node. */
enum jt_state { JT_NONE, JT_RUNNING, JT_COMPLETED };

struct jobprep;

struct jobtask {
    const char *kind; /* "prep" or "release" (the wire's) */
    enum jt_state state;
    bool ok;
    int64_t start_ms, end_ms;
    bool has_exit;
    int exit_code, retry;
    char category[16], code[64], message[512];
    uint64_t version, acked; /* sent until shoald acknowledges version */
    json_t *spec;            /* the assignment's "prep" or "release" */
    volatile bool cancel;
    pthread_t thread;
    bool thread_up;
    struct jobprep *jp;
};

struct jobprep {
    struct jobprep *next;
    char *job;
    struct agent *ag;
    struct jobtask prep, rel;
};

struct agent {
    const struct agent_opts *o;
    char *server; /* current base URL (moves with the server file) */
    char boot[37];
    char *token;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct run *runs;
    bool have_config;
    json_t *config;
    char *pool_id, *account, *account_url;
    struct start_status st;
    bool start_started;
    char **purges; /* pending job ids */
    size_t npurges;
    json_t *purged; /* done, to tell the server */
    uint64_t ack;
    bool in_wait; /* the sync thread's request may be parked */
    bool stop;
    int exit_code;
    bool has_run_as;
    uid_t uid;
    gid_t gid;
    volatile bool start_cancel; /* kill the start task (stopping) */
    struct jobprep *preps;      /* jobs with a preparation/release here */
    uint64_t id_base, id_span;  /* the task user window */
    pthread_t sync_thread, start_thread, kick_thread;
    bool start_thread_up;
    bool kick_wanted; /* a worker wants the parked sync back */
    pthread_cond_t kick_cv;
    struct fileserve *fs; /* file requests (fileserve.c) */
};

/* volatile: a store to a static nobody reads would be optimized away, and
 * the agent, never freed, would look leaked to LeakSanitizer. */
static struct agent *volatile g_agent; /* the one agent of the process */

/* ---- helpers ------------------------------------------------------------ */

static void mkdir_p(const char *path, mode_t mode)
{
    char *p = xstrdup(path);

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        mkdir(p, mode);
        *s = '/';
    }
    mkdir(p, mode);
    free(p);
}

static void rm_rf(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        unlink(path);
        return;
    }
    fsutil_rm_under(fd);
    rmdir(path);
}

static char *read_server_file(const char *path)
{
    char line[1024];
    FILE *f;

    if (!path)
        return NULL;
    f = fopen(path, "r");
    if (!f)
        return NULL;
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    return line[0] ? xstrdup(line) : NULL;
}

static void request_stop(struct agent *ag, int code)
{
    /* mu held */
    if (!ag->stop) {
        ag->stop = true;
        ag->exit_code = code;
    }
    pthread_cond_broadcast(&ag->cv);
    pthread_cond_broadcast(&ag->kick_cv);
    kill(getpid(), SIGTERM);
}

/* Ask the kicker to bring a parked sync back now (mu held). */
static void want_kick(struct agent *ag)
{
    if (!ag->in_wait)
        return;
    ag->kick_wanted = true;
    pthread_cond_broadcast(&ag->kick_cv);
}

/*
 * The kicker thread: one kept-alive connection, one kick per wake-up (a
 * burst of completions costs one kick).
 */
static void *kicker(void *arg)
{
    struct agent *ag = arg;
    struct link *l = NULL;
    char *base = NULL;

    pthread_mutex_lock(&ag->mu);
    for (;;) {
        struct buf resp = BUF_INIT;
        long status = 0;

        while (!ag->kick_wanted && !ag->stop)
            pthread_cond_wait(&ag->kick_cv, &ag->mu);
        if (ag->stop)
            break;
        ag->kick_wanted = false;
        if (!base || strcmp(base, ag->server) != 0) {
            free(base);
            base = xstrdup(ag->server);
            link_free(l);
            l = link_new(base, ag->token, ag->o->node_id);
            link_set_ca(l, ag->o->ca_file);
        }
        pthread_mutex_unlock(&ag->mu);
        link_post(l, "/_node/v1/kick", "", 0, 5000, &status, &resp);
        buf_release(&resp);
        pthread_mutex_lock(&ag->mu);
    }
    pthread_mutex_unlock(&ag->mu);
    link_free(l);
    free(base);
    return NULL;
}

/* ---- environment and runner task --------------------------------------------
 */

struct envlist {
    struct runner_env *v;
    size_t n, cap;
};

static void env_add(struct envlist *e, const char *name, const char *value)
{
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->v[i].name, name) == 0) {
            free(e->v[i].value);
            e->v[i].value = xstrdup(value);
            return;
        }
    }
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 32;
        e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    e->v[e->n].name = xstrdup(name);
    e->v[e->n].value = xstrdup(value);
    e->n++;
}

static void env_free(struct envlist *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].name);
        free(e->v[i].value);
    }
    free(e->v);
}

static void env_user(struct envlist *e, json_t *list)
{
    size_t i;
    json_t *v;

    json_array_foreach(list, i, v)
    {
        const char *n = json_string_value(json_object_get(v, "name"));
        const char *val = json_string_value(json_object_get(v, "value"));
        /* System variables are read-only. */
        if (!n || str_prefix(n, "AZ_BATCH_"))
            continue;
        env_add(e, n, val ? val : "");
    }
}

static void env_system(struct agent *ag, struct envlist *e,
                       const char *task_dir, const char *job, const char *task)
{
    char *s;

    env_add(e, "AZ_BATCH_NODE_ROOT_DIR", ag->o->root);
    s = xasprintf("%s/shared", ag->o->root);
    env_add(e, "AZ_BATCH_NODE_SHARED_DIR", s);
    free(s);
    s = xasprintf("%s/startup", ag->o->root);
    env_add(e, "AZ_BATCH_NODE_STARTUP_DIR", s);
    free(s);
    env_add(e, "AZ_BATCH_TASK_DIR", task_dir);
    s = xasprintf("%s/wd", task_dir);
    env_add(e, "AZ_BATCH_TASK_WORKING_DIR", s);
    free(s);
    if (job)
        env_add(e, "AZ_BATCH_JOB_ID", job);
    if (task)
        env_add(e, "AZ_BATCH_TASK_ID", task);
    env_add(e, "AZ_BATCH_POOL_ID", ag->pool_id ? ag->pool_id : ag->o->pool_id);
    env_add(e, "AZ_BATCH_NODE_ID", ag->o->node_id);
    env_add(e, "AZ_BATCH_NODE_IS_DEDICATED", "true");
    if (ag->account)
        env_add(e, "AZ_BATCH_ACCOUNT_NAME", ag->account);
    if (ag->account_url)
        env_add(e, "AZ_BATCH_ACCOUNT_URL", ag->account_url);
}

struct rtask {
    struct runner_task t;
    struct envlist env;
    struct runner_resource *res;
    size_t nres;
    struct runner_output *out;
    size_t nout;
    char *task_dir;
};

static char *dup_or_null(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? xstrdup(s) : NULL;
}

static void rtask_build(struct agent *ag, struct rtask *rt, json_t *res,
                        json_t *out, bool admin)
{
    size_t i;
    json_t *v;

    rt->nres = json_array_size(res);
    rt->res = xcalloc(rt->nres ? rt->nres : 1, sizeof(*rt->res));
    json_array_foreach(res, i, v)
    {
        rt->res[i].http_url = dup_or_null(v, "httpUrl");
        rt->res[i].container_url = dup_or_null(v, "storageContainerUrl");
        rt->res[i].blob_prefix = dup_or_null(v, "blobPrefix");
        rt->res[i].file_path = dup_or_null(v, "filePath");
        rt->res[i].file_mode = dup_or_null(v, "fileMode");
    }
    rt->nout = json_array_size(out);
    rt->out = xcalloc(rt->nout ? rt->nout : 1, sizeof(*rt->out));
    json_array_foreach(out, i, v)
    {
        json_t *c =
            json_object_get(json_object_get(v, "destination"), "container");
        const char *when = json_string_value(json_object_get(
            json_object_get(v, "uploadOptions"), "uploadCondition"));
        rt->out[i].pattern = dup_or_null(v, "filePattern");
        rt->out[i].container_url = dup_or_null(c, "containerUrl");
        rt->out[i].path = dup_or_null(c, "path");
        rt->out[i].when = RUNNER_UPLOAD_SUCCESS;
        if (when && str_ieq(when, "taskfailure"))
            rt->out[i].when = RUNNER_UPLOAD_FAILURE;
        else if (when && str_ieq(when, "taskcompletion"))
            rt->out[i].when = RUNNER_UPLOAD_COMPLETION;
    }
    rt->t.task_dir = rt->task_dir;
    rt->t.env = rt->env.v;
    rt->t.nenv = rt->env.n;
    rt->t.res = rt->res;
    rt->t.nres = rt->nres;
    rt->t.out = rt->out;
    rt->t.nout = rt->nout;
    /*
     * Every pool auto-user shares the run-as user's group (as the real
     * service's auto-users share one), so files one task makes with the
     * default 0770 mode stay usable by the others: a non-admin task runs as
     * the run-as user, an admin one as root in that group.
     */
    rt->t.run_as = ag->has_run_as;
    rt->t.uid = admin ? 0 : ag->uid;
    rt->t.gid = ag->gid;
}

static void rtask_free(struct rtask *rt)
{
    for (size_t i = 0; i < rt->nres; i++) {
        free(rt->res[i].http_url);
        free(rt->res[i].container_url);
        free(rt->res[i].blob_prefix);
        free(rt->res[i].file_path);
        free(rt->res[i].file_mode);
    }
    free(rt->res);
    for (size_t i = 0; i < rt->nout; i++) {
        free(rt->out[i].pattern);
        free(rt->out[i].container_url);
        free(rt->out[i].path);
    }
    free(rt->out);
    env_free(&rt->env);
    free(rt->task_dir);
}

/* ---- task users and job directories ------------------------------------- */

#define ID_BASE       1000000000ull
#define ID_SPAN       1000000000ull
#define ID_BASE_SMALL 40000ull
#define ID_SPAN_SMALL 20000ull

/* Does the user namespace map ids [lo, hi) (uid_map or gid_map)? */
static bool ids_mapped(const char *path, uint64_t lo, uint64_t hi)
{
    char line[256];
    FILE *f = fopen(path, "r");
    bool ok = false;

    if (!f)
        return true; /* no user namespaces: every id is ours */
    while (!ok && fgets(line, sizeof(line), f)) {
        char *end;
        uint64_t in = strtoull(line, &end, 10), n;
        strtoull(end, &end, 10);
        n = strtoull(end, &end, 10);
        ok = in <= lo && n >= hi - in;
    }
    fclose(f);
    return ok;
}

static void id_window(struct agent *ag)
{
    ag->id_base = ID_BASE;
    ag->id_span = ID_SPAN;
    if (!ids_mapped("/proc/self/uid_map", ID_BASE, ID_BASE + ID_SPAN) ||
        !ids_mapped("/proc/self/gid_map", ID_BASE, ID_BASE + ID_SPAN)) {
        ag->id_base = ID_BASE_SMALL;
        ag->id_span = ID_SPAN_SMALL;
    }
}

static unsigned int id_of(const struct agent *ag, json_t *key)
{
    return (unsigned int)(ag->id_base +
                          (uint64_t)json_integer_value(key) % ag->id_span);
}

/* The user and groups an assignment (task, preparation, release) runs as. */
static void ident_apply(struct agent *ag, struct rtask *rt, json_t *a)
{
    json_t *uk = json_object_get(a, "userKey");
    json_t *gk = json_object_get(a, "groupKey");

    if (!ag->has_run_as || !json_is_integer(uk) || !json_is_integer(gk))
        return;
    rt->t.uid =
        json_is_true(json_object_get(a, "admin")) ? 0 : (uid_t)id_of(ag, uk);
    rt->t.gid = (gid_t)id_of(ag, gk);
    rt->t.extra_gid = ag->gid;
}

/* ROOT/workitems/JOB/job-1 (returned), with JOB and job-1 owned by root
 * and the job's group, 0750. */
static char *job_dirs(struct agent *ag, const char *job, json_t *a)
{
    char *top = xasprintf("%s/workitems/%s", ag->o->root, job);
    char *dir = xasprintf("%s/job-1", top);
    json_t *gk = json_object_get(a, "groupKey");

    mkdir_p(dir, 0750);
    if (ag->has_run_as && json_is_integer(gk)) {
        gid_t g = (gid_t)id_of(ag, gk);
        if (chown(top, 0, g) < 0 || chown(dir, 0, g) < 0)
            log_warn("cannot chown job dir path=%s errno=%d", top, errno);
        chmod(top, 0750);
        chmod(dir, 0750);
    } else {
        chmod(top, 0755);
        chmod(dir, 0755);
    }
    free(top);
    return dir;
}

/* AZ_BATCH_JOB_PREP_DIR and AZ_BATCH_JOB_PREP_WORKING_DIR. */
static void env_prep(struct agent *ag, struct envlist *e, const char *job,
                     const char *prep_id)
{
    char *d, *wd;

    if (!prep_id || !*prep_id)
        return;
    d = xasprintf("%s/workitems/%s/job-1/%s", ag->o->root, job, prep_id);
    wd = xasprintf("%s/wd", d);
    env_add(e, "AZ_BATCH_JOB_PREP_DIR", d);
    env_add(e, "AZ_BATCH_JOB_PREP_WORKING_DIR", wd);
    free(d);
    free(wd);
}

/* Wait on ag->cv for at most ms (mu held). */
static void cv_wait_ms(struct agent *ag, long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000L;
    while (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&ag->cv, &ag->mu, &ts);
}

/* ---- job preparation and release tasks ---------------------------------- */

static struct jobprep *jobprep_get(struct agent *ag, const char *job,
                                   bool create)
{
    struct jobprep *jp;

    for (jp = ag->preps; jp; jp = jp->next) {
        if (strcmp(jp->job, job) == 0)
            return jp;
    }
    if (!create)
        return NULL;
    jp = xcalloc(1, sizeof(*jp));
    jp->job = xstrdup(job);
    jp->ag = ag;
    jp->prep.kind = "prep";
    jp->rel.kind = "release";
    jp->prep.jp = jp->rel.jp = jp;
    jp->next = ag->preps;
    ag->preps = jp;
    return jp;
}

/* Is a run of job still going here (mu held)? */
static bool job_busy(struct agent *ag, const char *job)
{
    for (struct run *r = ag->runs; r; r = r->next) {
        if (!r->done && strcmp(r->job, job) == 0)
            return true;
    }
    return false;
}

static void *jobtask_worker(void *arg)
{
    struct jobtask *jt = arg;
    struct jobprep *jp = jt->jp;
    struct agent *ag = jp->ag;
    bool rel = jt == &jp->rel, ok = false;
    struct runner_result res;
    const char *id, *prep_id;
    char *jobdir, *dir;
    int tries = 0, max_retry;
    json_t *a;

    pthread_mutex_lock(&ag->mu);
    a = json_incref(jt->spec);
    /* A release runs once the job's tasks here (being killed) are gone. */
    while (rel && !jt->cancel && !ag->stop &&
           (job_busy(ag, jp->job) || jp->prep.state == JT_RUNNING))
        cv_wait_ms(ag, 200);
    pthread_mutex_unlock(&ag->mu);
    id = json_string_value(json_object_get(a, "id"));
    prep_id = rel ? json_string_value(json_object_get(a, "prepId")) : id;
    max_retry =
        rel ? 0 : (int)json_integer_value(json_object_get(a, "retries"));
    jobdir = job_dirs(ag, jp->job, a);
    dir = xasprintf("%s/%s", jobdir, id);
    memset(&res, 0, sizeof(res));
    /* The agent stopping while a release waited: it never starts. */
    if (jt->cancel) {
        snprintf(res.category, sizeof(res.category), "usererror");
        snprintf(res.code, sizeof(res.code), "TaskEnded");
        snprintf(res.message, sizeof(res.message),
                 "The node stopped before the task could run");
    }
    while (!jt->cancel) {
        struct rtask rt;
        int64_t wall = json_integer_value(json_object_get(a, "wallMs"));

        memset(&rt, 0, sizeof(rt));
        memset(&res, 0, sizeof(res));
        rt.task_dir = xstrdup(dir);
        pthread_mutex_lock(&ag->mu);
        env_system(ag, &rt.env, dir, jp->job, id);
        if (tries > 0) {
            jt->retry = tries;
            jt->start_ms = timefmt_now_ms();
            jt->version++;
            want_kick(ag);
        }
        pthread_mutex_unlock(&ag->mu);
        env_prep(ag, &rt.env, jp->job, prep_id);
        env_user(&rt.env, json_object_get(a, "env"));
        rt.t.command_line = json_string_value(json_object_get(a, "cmd"));
        rt.t.max_wall_ms = wall > 0 ? wall : 0;
        rtask_build(ag, &rt, json_object_get(a, "res"), NULL,
                    json_is_true(json_object_get(a, "admin")));
        ident_apply(ag, &rt, a);
        if (runner_run(&rt.t, &jt->cancel, &res) < 0 && !res.category[0])
            snprintf(res.category, sizeof(res.category), "servererror");
        rtask_free(&rt);
        ok = res.ran && res.exit_code == 0 && !res.category[0];
        if (ok || jt->cancel || (max_retry != -1 && tries >= max_retry))
            break;
        tries++;
    }
    pthread_mutex_lock(&ag->mu);
    jt->state = JT_COMPLETED;
    jt->ok = ok;
    jt->end_ms = res.end_ms ? res.end_ms : timefmt_now_ms();
    jt->has_exit = res.ran;
    jt->exit_code = res.exit_code;
    snprintf(jt->category, sizeof(jt->category), "%s",
             res.category[0] ? res.category : (ok ? "" : "usererror"));
    snprintf(jt->code, sizeof(jt->code), "%s",
             res.code[0] ? res.code : (ok ? "" : "FailureExitCode"));
    snprintf(jt->message, sizeof(jt->message), "%s",
             res.message[0] ? res.message
                            : (ok ? ""
                                  : "The task process exited with an "
                                    "unexpected exit code"));
    jt->version++;
    log_info("job %s task completed node=%s job=%s exit=%d ok=%s",
             rel ? "release" : "preparation", ag->o->node_id, jp->job,
             res.exit_code, ok ? "yes" : "no");
    want_kick(ag);
    pthread_cond_broadcast(&ag->cv);
    pthread_mutex_unlock(&ag->mu);
    json_decref(a);
    free(dir);
    free(jobdir);
    return NULL;
}

/* Start jt with spec (mu held). */
static void jobtask_start(struct agent *ag, struct jobtask *jt, json_t *spec)
{
    json_decref(jt->spec);
    jt->spec = json_incref(spec);
    jt->state = JT_RUNNING;
    jt->ok = false;
    jt->start_ms = timefmt_now_ms();
    jt->retry = 0;
    jt->category[0] = '\0';
    jt->version++;
    if (pthread_create(&jt->thread, NULL, jobtask_worker, jt) == 0) {
        jt->thread_up = true;
    } else {
        jt->state = JT_COMPLETED;
        jt->end_ms = jt->start_ms;
        snprintf(jt->category, sizeof(jt->category), "servererror");
        snprintf(jt->code, sizeof(jt->code), "Unknown");
        snprintf(jt->message, sizeof(jt->message),
                 "the node could not start a thread");
    }
    want_kick(ag);
}

/*
 * A task whose assignment carries its job's preparation: start that here
 * if nobody has, and with waitForSuccess wait for it. false when the task
 * must not run: *prep_failed (the preparation failed: shoald runs the task
 * elsewhere) or cancelled meanwhile (*res says TaskEnded).
 */
static bool await_prep(struct agent *ag, struct run *r, json_t *a,
                       struct runner_result *res, bool *prep_failed)
{
    json_t *p = json_object_get(a, "prep");
    struct jobprep *jp;
    bool wait, go = true;

    *prep_failed = false;
    if (!json_is_object(p))
        return true;
    wait = !json_is_false(json_object_get(p, "wait"));
    pthread_mutex_lock(&ag->mu);
    jp = jobprep_get(ag, r->job, true);
    if (jp->prep.state == JT_NONE)
        jobtask_start(ag, &jp->prep, p);
    while (wait && jp->prep.state != JT_COMPLETED && !r->cancel && !ag->stop)
        cv_wait_ms(ag, 200);
    if (wait && jp->prep.state == JT_COMPLETED && !jp->prep.ok) {
        *prep_failed = true;
        go = false;
    } else if (wait && jp->prep.state != JT_COMPLETED) {
        snprintf(res->category, sizeof(res->category), "usererror");
        snprintf(res->code, sizeof(res->code), "TaskEnded");
        snprintf(res->message, sizeof(res->message),
                 "Task Was Ended by User Request");
        res->cancelled = true;
        go = false;
    }
    pthread_mutex_unlock(&ag->mu);
    return go;
}

/* Is there preparation or release news for shoald (mu held)? */
static bool prep_news(struct agent *ag)
{
    for (struct jobprep *jp = ag->preps; jp; jp = jp->next) {
        if ((jp->prep.state != JT_NONE && jp->prep.version != jp->prep.acked) ||
            (jp->rel.state != JT_NONE && jp->rel.version != jp->rel.acked))
            return true;
    }
    return false;
}

static void prep_record(json_t *arr, const struct jobprep *jp,
                        const struct jobtask *jt)
{
    json_t *o;

    if (jt->state == JT_NONE || jt->version == jt->acked)
        return;
    o = json_object();
    json_object_set_new(o, "job", json_string(jp->job));
    json_object_set_new(o, "kind", json_string(jt->kind));
    json_object_set_new(o, "n", json_integer((json_int_t)jt->version));
    json_object_set_new(
        o, "state",
        json_string(jt->state == JT_COMPLETED ? "completed" : "running"));
    json_object_set_new(o, "start", json_integer(jt->start_ms));
    json_object_set_new(o, "retry", json_integer(jt->retry));
    if (jt->state == JT_COMPLETED) {
        json_object_set_new(o, "end", json_integer(jt->end_ms));
        if (jt->has_exit)
            json_object_set_new(o, "exit", json_integer(jt->exit_code));
        if (jt->category[0]) {
            json_t *f = json_object();
            json_object_set_new(f, "category", json_string(jt->category));
            json_object_set_new(f, "code", json_string(jt->code));
            json_object_set_new(f, "message", json_string(jt->message));
            json_object_set_new(o, "fail", f);
        }
    }
    json_array_append_new(arr, o);
}

/* The "preps" of a sync request (mu held). */
static json_t *prep_records(struct agent *ag)
{
    json_t *arr = json_array();

    for (struct jobprep *jp = ag->preps; jp; jp = jp->next) {
        prep_record(arr, jp, &jp->prep);
        prep_record(arr, jp, &jp->rel);
    }
    return arr;
}

/* Apply "prepAcks" and "release" of a response (mu held). */
static void prep_apply(struct agent *ag, json_t *resp)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(resp, "prepAcks"), i, v)
    {
        const char *job = json_string_value(json_array_get(v, 0));
        const char *kind = json_string_value(json_array_get(v, 1));
        uint64_t n = (uint64_t)json_integer_value(json_array_get(v, 2));
        struct jobprep *jp = job ? jobprep_get(ag, job, false) : NULL;
        struct jobtask *jt;
        if (!jp || !kind)
            continue;
        jt = strcmp(kind, "release") == 0 ? &jp->rel : &jp->prep;
        if (jt->version == n)
            jt->acked = n;
    }
    json_array_foreach(json_object_get(resp, "release"), i, v)
    {
        const char *job = json_string_value(json_object_get(v, "job"));
        struct jobprep *jp;
        if (!job || !json_string_value(json_object_get(v, "cmd")) ||
            !json_string_value(json_object_get(v, "id")))
            continue;
        jp = jobprep_get(ag, job, true);
        if (jp->rel.state == JT_NONE)
            jobtask_start(ag, &jp->rel, v);
        else if (jp->rel.version == jp->rel.acked)
            jp->rel.version++; /* shoald missed it: say it again */
    }
}

/* Is a preparation or release of job running here (mu held)? */
static bool prep_busy(struct agent *ag, const char *job, size_t len)
{
    for (struct jobprep *jp = ag->preps; jp; jp = jp->next) {
        if (strlen(jp->job) == len && strncmp(jp->job, job, len) == 0)
            return jp->prep.state == JT_RUNNING || jp->rel.state == JT_RUNNING;
    }
    return false;
}

/* The job was purged: forget its preparation and release (mu held; their
 * threads have finished, see prep_busy). */
static void prep_forget(struct agent *ag, const char *job)
{
    for (struct jobprep **pp = &ag->preps; *pp; pp = &(*pp)->next) {
        struct jobprep *jp = *pp;
        if (strcmp(jp->job, job) != 0)
            continue;
        *pp = jp->next;
        if (jp->prep.thread_up)
            pthread_join(jp->prep.thread, NULL);
        if (jp->rel.thread_up)
            pthread_join(jp->rel.thread, NULL);
        json_decref(jp->prep.spec);
        json_decref(jp->rel.spec);
        free(jp->job);
        free(jp);
        return;
    }
}

/* ---- workers ----------------------------------------------------------------
 */

static json_t *report_of(const struct run *r, const struct runner_result *res)
{
    json_t *o = json_object();

    json_object_set_new(o, "r", json_integer((json_int_t)r->rowid));
    json_object_set_new(o, "a", json_integer((json_int_t)r->attempt));
    json_object_set_new(o, "ran", json_boolean(res->ran));
    json_object_set_new(o, "exit", json_integer(res->exit_code));
    json_object_set_new(o, "timedOut", json_boolean(res->timed_out));
    json_object_set_new(o, "start", json_integer(res->start_ms));
    json_object_set_new(o, "end", json_integer(res->end_ms));
    if (res->category[0]) {
        json_t *f = json_object();
        json_object_set_new(f, "category", json_string(res->category));
        json_object_set_new(f, "code", json_string(res->code));
        json_object_set_new(f, "message", json_string(res->message));
        json_object_set_new(o, "fail", f);
    }
    return o;
}

static void *worker(void *arg)
{
    struct run *r = arg;
    struct agent *ag = r->ag;
    struct rtask rt;
    struct runner_result res;
    json_t *a = r->spec;
    char *jobdir;
    int64_t wall = json_integer_value(json_object_get(a, "wallMs"));
    bool prep_failed = false;

    memset(&rt, 0, sizeof(rt));
    memset(&res, 0, sizeof(res));
    jobdir = job_dirs(ag, r->job, a);
    rt.task_dir = xasprintf("%s/%s", jobdir, r->task);
    pthread_mutex_lock(&ag->mu);
    env_system(ag, &rt.env, rt.task_dir, r->job, r->task);
    pthread_mutex_unlock(&ag->mu);
    env_prep(ag, &rt.env, r->job,
             json_string_value(json_object_get(a, "prepId")));
    env_user(&rt.env, json_object_get(a, "env"));
    rt.t.command_line = json_string_value(json_object_get(a, "cmd"));
    rt.t.max_wall_ms = wall > 0 ? wall : 0;
    rtask_build(ag, &rt, json_object_get(a, "res"), json_object_get(a, "out"),
                json_is_true(json_object_get(a, "admin")));
    ident_apply(ag, &rt, a);
    if (await_prep(ag, r, a, &res, &prep_failed) &&
        runner_run(&rt.t, &r->cancel, &res) < 0 && !res.category[0])
        snprintf(res.category, sizeof(res.category), "servererror");
    if (!res.end_ms)
        res.end_ms = timefmt_now_ms();
    rtask_free(&rt);
    free(jobdir);

    pthread_mutex_lock(&ag->mu);
    r->report = report_of(r, &res);
    if (prep_failed)
        json_object_set_new(r->report, "prepFailed", json_true());
    r->done = true;
    want_kick(ag);
    pthread_cond_broadcast(&ag->cv);
    pthread_mutex_unlock(&ag->mu);
    return NULL;
}

static void run_free(struct run *r)
{
    free(r->job);
    free(r->task);
    json_decref(r->spec);
    json_decref(r->report);
    free(r);
}

/* ---- start task
 * ------------------------------------------------------------------- */

static void *start_worker(void *arg)
{
    struct agent *ag = arg;
    json_t *st, *cfg;
    int max_retry, tries = 0;
    char *dir = xasprintf("%s/startup", ag->o->root);
    bool admin;

    pthread_mutex_lock(&ag->mu);
    cfg = json_incref(ag->config);
    pthread_mutex_unlock(&ag->mu);
    st = json_object_get(cfg, "startTask");
    admin = json_is_true(json_object_get(cfg, "startTaskAdmin"));
    max_retry =
        (int)json_integer_value(json_object_get(st, "maxTaskRetryCount"));
    for (;;) {
        struct rtask rt;
        struct runner_result res;
        bool done;

        memset(&rt, 0, sizeof(rt));
        memset(&res, 0, sizeof(res));
        rt.task_dir = xstrdup(dir);
        pthread_mutex_lock(&ag->mu);
        env_system(ag, &rt.env, dir, NULL, NULL);
        ag->st.state = "running";
        ag->st.start_ms = timefmt_now_ms();
        ag->st.retry = tries;
        pthread_mutex_unlock(&ag->mu);
        env_user(&rt.env, json_object_get(st, "environmentSettings"));
        rt.t.command_line =
            json_string_value(json_object_get(st, "commandLine"));
        rtask_build(ag, &rt, json_object_get(st, "resourceFiles"), NULL, admin);
        if (runner_run(&rt.t, &ag->start_cancel, &res) < 0 && !res.category[0])
            snprintf(res.category, sizeof(res.category), "servererror");
        rtask_free(&rt);
        done = res.ran && res.exit_code == 0 && !res.category[0];
        pthread_mutex_lock(&ag->mu);
        if (!done && !ag->stop && (max_retry == -1 || tries < max_retry)) {
            tries++;
            pthread_mutex_unlock(&ag->mu);
            sleep(1);
            continue;
        }
        ag->st.state = "completed";
        ag->st.end_ms = res.end_ms ? res.end_ms : timefmt_now_ms();
        ag->st.has_exit = res.ran;
        ag->st.exit_code = res.exit_code;
        snprintf(ag->st.category, sizeof(ag->st.category), "%s", res.category);
        if (!done && !res.category[0])
            snprintf(ag->st.category, sizeof(ag->st.category), "usererror");
        snprintf(ag->st.code, sizeof(ag->st.code), "%s",
                 res.code[0] ? res.code : (done ? "" : "FailureExitCode"));
        snprintf(ag->st.message, sizeof(ag->st.message), "%s",
                 res.message[0] ? res.message
                                : (done ? ""
                                        : "The start task exited with a "
                                          "non-zero exit code"));
        log_info("start task completed node=%s exit=%d ok=%s", ag->o->node_id,
                 res.exit_code, done ? "yes" : "no");
        want_kick(ag);
        pthread_cond_broadcast(&ag->cv);
        pthread_mutex_unlock(&ag->mu);
        break;
    }
    json_decref(cfg);
    free(dir);
    return NULL;
}

/* ---- the sync loop
 * ---------------------------------------------------------------- */

static json_t *pair(uint64_t rowid, uint32_t attempt)
{
    json_t *p = json_array();

    json_array_append_new(p, json_integer((json_int_t)rowid));
    json_array_append_new(p, json_integer((json_int_t)attempt));
    return p;
}

/* Slots not taken by a running attempt (mu held). */
static int free_slots(struct agent *ag)
{
    int used = 0, total;

    for (struct run *r = ag->runs; r; r = r->next)
        used += r->done ? 0 : r->slots;
    total = (int)json_integer_value(json_object_get(ag->config, "slots"));
    return (total > 0 ? total : 1) - used;
}

/* Reports, or preparation/release news, to send (mu held). */
static bool has_reports(struct agent *ag)
{
    for (struct run *r = ag->runs; r; r = r->next) {
        if (r->done)
            return true;
    }
    return prep_news(ag);
}

/*
 * With every slot busy and nothing to report, there is nothing to ask the
 * server for: wait here for a run to finish (its report then goes out with
 * the next sync, in the same round trip as the next assignment) or for
 * BUSY_SYNC_MS, which bounds the delay of a cancel and paces heartbeats.
 * (mu held)
 */
static void wait_while_busy(struct agent *ag)
{
    struct timespec ts;

    if (!ag->have_config || has_reports(ag) || free_slots(ag) > 0 ||
        json_array_size(ag->purged) > 0)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)BUSY_SYNC_MS * 1000000L;
    while (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!ag->stop && !has_reports(ag) && free_slots(ag) <= 0) {
        if (pthread_cond_timedwait(&ag->cv, &ag->mu, &ts) != 0)
            break;
    }
}

/* Build a request (mu held). */
static json_t *build_request(struct agent *ag, bool *wait_out)
{
    json_t *o = json_object(), *running = json_array(), *reports = json_array(),
           *st = json_object();
    bool wait;

    for (struct run *r = ag->runs; r; r = r->next) {
        if (r->done) {
            json_array_append(reports, r->report);
            r->reported = true;
        } else {
            json_array_append_new(running, pair(r->rowid, r->attempt));
        }
    }
    wait = json_array_size(reports) == 0 && ag->have_config &&
           json_array_size(ag->purged) == 0 && free_slots(ag) > 0 &&
           !prep_news(ag);
    json_object_set_new(o, "v", json_integer(PROTO_VERSION));
    json_object_set_new(o, "node", json_string(ag->o->node_id));
    json_object_set_new(o, "boot", json_string(ag->boot));
    json_object_set_new(o, "ack", json_integer((json_int_t)ag->ack));
    json_object_set_new(o, "wait", json_boolean(wait));
    json_object_set_new(o, "needConfig", json_boolean(!ag->have_config));
    json_object_set_new(o, "running", running);
    json_object_set_new(o, "reports", reports);
    json_object_set_new(st, "state", json_string(ag->st.state));
    json_object_set_new(st, "waitForSuccess", json_boolean(ag->st.wait));
    if (strcmp(ag->st.state, "none") != 0) {
        json_object_set_new(st, "start", json_integer(ag->st.start_ms));
        json_object_set_new(st, "retry", json_integer(ag->st.retry));
    }
    if (strcmp(ag->st.state, "completed") == 0) {
        json_object_set_new(st, "end", json_integer(ag->st.end_ms));
        if (ag->st.has_exit)
            json_object_set_new(st, "exit", json_integer(ag->st.exit_code));
        if (ag->st.category[0]) {
            json_t *f = json_object();
            json_object_set_new(f, "category", json_string(ag->st.category));
            json_object_set_new(f, "code", json_string(ag->st.code));
            json_object_set_new(f, "message", json_string(ag->st.message));
            json_object_set_new(st, "fail", f);
        }
    }
    json_object_set_new(o, "startTask", st);
    json_object_set(o, "purged", ag->purged);
    json_object_set_new(o, "preps", prep_records(ag));
    *wait_out = wait;
    return o;
}

/* Is a run of this purge target ("job" or "job/task") still going? */
static bool purge_busy(struct agent *ag, const char *what)
{
    const char *slash = strchr(what, '/');
    size_t jl = slash ? (size_t)(slash - what) : strlen(what);

    if (!slash && prep_busy(ag, what, jl))
        return true;
    for (struct run *r = ag->runs; r; r = r->next) {
        if (r->done || strlen(r->job) != jl || strncmp(r->job, what, jl) != 0)
            continue;
        if (!slash || strcmp(r->task, slash + 1) == 0)
            return true;
    }
    return false;
}

/* The directory of a purge target, or NULL if it is not well formed. */
static char *purge_dir(struct agent *ag, const char *what)
{
    const char *slash = strchr(what, '/');
    char *job, *dir;

    if (!slash)
        return strcmp(what, "..") && strcmp(what, ".") && *what
                   ? xasprintf("%s/workitems/%s", ag->o->root, what)
                   : NULL;
    if (strchr(slash + 1, '/') || slash == what || !slash[1])
        return NULL;
    job = xstrndup(what, (size_t)(slash - what));
    if (strcmp(job, "..") == 0 || strcmp(job, ".") == 0 ||
        strcmp(slash + 1, "..") == 0 || strcmp(slash + 1, ".") == 0) {
        free(job);
        return NULL;
    }
    dir = xasprintf("%s/workitems/%s/job-1/%s", ag->o->root, job, slash + 1);
    free(job);
    return dir;
}

/* Purges whose job has no active run (mu held; the removal is done with
 * mu dropped by the caller). */
static char *next_purge(struct agent *ag)
{
    for (size_t i = 0; i < ag->npurges; i++) {
        if (!purge_busy(ag, ag->purges[i])) {
            char *job = ag->purges[i];
            ag->purges[i] = ag->purges[--ag->npurges];
            if (!strchr(job, '/'))
                prep_forget(ag, job);
            return job;
        }
    }
    return NULL;
}

static void apply_response(struct agent *ag, json_t *resp)
{
    json_t *v, *list;
    size_t i;
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(resp, "seq"));

    if (seq)
        ag->ack = seq;
    /* Acks: drop the reported runs. */
    list = json_object_get(resp, "acks");
    json_array_foreach(list, i, v)
    {
        uint64_t rowid = (uint64_t)json_integer_value(json_array_get(v, 0));
        uint32_t att = (uint32_t)json_integer_value(json_array_get(v, 1));
        for (struct run **pp = &ag->runs; *pp; pp = &(*pp)->next) {
            struct run *r = *pp;
            if (r->done && r->rowid == rowid && r->attempt == att) {
                if (!r->joined) {
                    pthread_join(r->thread, NULL);
                    r->joined = true;
                }
                *pp = r->next;
                run_free(r);
                break;
            }
        }
    }
    /* The server heard about the purges we listed. */
    json_array_clear(ag->purged);
    v = json_object_get(resp, "config");
    if (json_is_object(v) && !ag->have_config) {
        json_t *st = json_object_get(v, "startTask");
        ag->config = json_incref(v);
        ag->have_config = true;
        free(ag->pool_id);
        free(ag->account);
        free(ag->account_url);
        ag->pool_id = dup_or_null(v, "poolId");
        ag->account = dup_or_null(v, "account");
        ag->account_url = dup_or_null(v, "accountUrl");
        if (json_is_object(st) && !ag->start_started) {
            ag->start_started = true;
            ag->st.wait = !json_is_false(json_object_get(st, "waitForSuccess"));
            ag->st.state = "running";
            ag->st.start_ms = timefmt_now_ms();
            if (pthread_create(&ag->start_thread, NULL, start_worker, ag) == 0)
                ag->start_thread_up = true;
        }
    }
    list = json_object_get(resp, "cancel");
    json_array_foreach(list, i, v)
    {
        uint64_t rowid = (uint64_t)json_integer_value(json_array_get(v, 0));
        uint32_t att = (uint32_t)json_integer_value(json_array_get(v, 1));
        for (struct run *r = ag->runs; r; r = r->next) {
            if (r->rowid == rowid && r->attempt == att)
                __atomic_store_n(&r->cancel, true, __ATOMIC_RELEASE);
        }
    }
    list = json_object_get(resp, "assign");
    json_array_foreach(list, i, v)
    {
        struct run *r;
        const char *job = json_string_value(json_object_get(v, "job"));
        const char *task = json_string_value(json_object_get(v, "task"));
        if (!job || !task || !json_string_value(json_object_get(v, "cmd")))
            continue;
        r = xcalloc(1, sizeof(*r));
        r->ag = ag;
        r->rowid = (uint64_t)json_integer_value(json_object_get(v, "r"));
        r->attempt = (uint32_t)json_integer_value(json_object_get(v, "a"));
        r->slots = (int)json_integer_value(json_object_get(v, "slots"));
        if (r->slots < 1)
            r->slots = 1;
        r->job = xstrdup(job);
        r->task = xstrdup(task);
        r->spec = json_incref(v);
        r->next = ag->runs;
        ag->runs = r;
        if (pthread_create(&r->thread, NULL, worker, r) != 0) {
            struct runner_result res;
            memset(&res, 0, sizeof(res));
            snprintf(res.category, sizeof(res.category), "servererror");
            snprintf(res.code, sizeof(res.code), "Unknown");
            snprintf(res.message, sizeof(res.message),
                     "the node could not start a thread");
            res.end_ms = timefmt_now_ms();
            r->report = report_of(r, &res);
            r->done = true;
            r->joined = true;
        }
    }
    list = json_object_get(resp, "purge");
    json_array_foreach(list, i, v)
    {
        const char *job = json_string_value(v);
        bool dup = false;
        if (!job)
            continue;
        for (size_t k = 0; k < ag->npurges; k++)
            dup = dup || strcmp(ag->purges[k], job) == 0;
        if (dup)
            continue;
        ag->purges = xrealloc(ag->purges, (ag->npurges + 1) * sizeof(char *));
        ag->purges[ag->npurges++] = xstrdup(job);
    }
    prep_apply(ag, resp);
    /* Queued only: workers do them and answer shoald themselves. */
    fileserve_submit(ag->fs, json_object_get(resp, "fileOps"));
    if (json_is_true(json_object_get(resp, "stop")))
        request_stop(ag, AGENT_EXIT_REMOVED);
    /* The node reboots: kill everything, then main re-executes us, which
     * gives a new boot id and runs the start task again. */
    if (json_is_true(json_object_get(resp, "reboot")))
        request_stop(ag, AGENT_EXIT_REBOOT);
}

static void *sync_loop(void *arg)
{
    struct agent *ag = arg;
    struct link *l = link_new(ag->o->server, ag->token, ag->o->node_id);
    int64_t backoff = BACKOFF_MIN_MS, last_ok = timefmt_mono_ms();
    long poll_ms = 20000;

    link_set_ca(l, ag->o->ca_file);
    for (;;) {
        json_t *req, *resp;
        char *body;
        struct buf rb = BUF_INIT;
        long status = 0;
        bool wait;
        int rc;
        char *job;

        pthread_mutex_lock(&ag->mu);
        while ((job = next_purge(ag)) != NULL) {
            char *dir = purge_dir(ag, job);
            pthread_mutex_unlock(&ag->mu);
            if (dir)
                rm_rf(dir);
            free(dir);
            pthread_mutex_lock(&ag->mu);
            json_array_append_new(ag->purged, json_string(job));
            free(job);
        }
        if (ag->stop) {
            pthread_mutex_unlock(&ag->mu);
            break;
        }
        wait_while_busy(ag);
        if (ag->stop) {
            pthread_mutex_unlock(&ag->mu);
            break;
        }
        req = build_request(ag, &wait);
        ag->in_wait = wait;
        pthread_mutex_unlock(&ag->mu);
        body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        rc = link_post(l, "/_node/v1/sync", body, strlen(body),
                       poll_ms + POLL_SLACK_MS, &status, &rb);
        free(body);
        pthread_mutex_lock(&ag->mu);
        ag->in_wait = false;
        pthread_mutex_unlock(&ag->mu);
        if (rc < 0 || status >= 500 || status == 0) {
            char *url;
            buf_release(&rb);
            if (ag->o->orphan_exit_ms > 0 &&
                timefmt_mono_ms() - last_ok > ag->o->orphan_exit_ms) {
                log_warn("shoald unreachable, giving up node=%s",
                         ag->o->node_id);
                pthread_mutex_lock(&ag->mu);
                request_stop(ag, AGENT_EXIT_ORPHAN);
                pthread_mutex_unlock(&ag->mu);
                break;
            }
            url = read_server_file(ag->o->server_file);
            if (url && strcmp(url, link_base(l)) != 0) {
                log_info("server moved node=%s url=%s", ag->o->node_id, url);
                link_set_base(l, url);
                pthread_mutex_lock(&ag->mu);
                free(ag->server);
                ag->server = xstrdup(url);
                pthread_mutex_unlock(&ag->mu);
                fileserve_set_server(ag->fs, url);
                backoff = BACKOFF_MIN_MS;
            }
            free(url);
            usleep((useconds_t)backoff * 1000);
            backoff =
                backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (status == 401 || status == 403 || status == 404) {
            log_warn("node agent revoked node=%s status=%ld", ag->o->node_id,
                     status);
            buf_release(&rb);
            pthread_mutex_lock(&ag->mu);
            request_stop(ag, AGENT_EXIT_REVOKED);
            pthread_mutex_unlock(&ag->mu);
            break;
        }
        resp = status == 200 ? json_loadb(rb.data, rb.len, 0, NULL) : NULL;
        buf_release(&rb);
        if (!json_is_object(resp)) {
            log_warn("bad sync response node=%s status=%ld", ag->o->node_id,
                     status);
            json_decref(resp);
            usleep((useconds_t)backoff * 1000);
            backoff =
                backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = BACKOFF_MIN_MS;
        last_ok = timefmt_mono_ms();
        if (json_integer_value(json_object_get(resp, "pollMs")) > 0)
            poll_ms = (long)json_integer_value(json_object_get(resp, "pollMs"));
        pthread_mutex_lock(&ag->mu);
        apply_response(ag, resp);
        pthread_mutex_unlock(&ag->mu);
        json_decref(resp);
    }
    link_free(l);
    return NULL;
}

/* ---- main
 * ---------------------------------------------------------------------- */

static void stop_runs(struct agent *ag)
{
    int64_t deadline = timefmt_mono_ms() + STOP_WAIT_MS;

    pthread_mutex_lock(&ag->mu);
    __atomic_store_n(&ag->start_cancel, true, __ATOMIC_RELEASE);
    for (struct run *r = ag->runs; r; r = r->next)
        __atomic_store_n(&r->cancel, true, __ATOMIC_RELEASE);
    for (struct jobprep *jp = ag->preps; jp; jp = jp->next) {
        __atomic_store_n(&jp->prep.cancel, true, __ATOMIC_RELEASE);
        __atomic_store_n(&jp->rel.cancel, true, __ATOMIC_RELEASE);
    }
    for (;;) {
        bool busy = false;
        for (struct run *r = ag->runs; r; r = r->next)
            busy = busy || !r->done;
        for (struct jobprep *jp = ag->preps; jp; jp = jp->next)
            busy = busy || jp->prep.state == JT_RUNNING ||
                   jp->rel.state == JT_RUNNING;
        if (!busy || timefmt_mono_ms() > deadline)
            break;
        pthread_mutex_unlock(&ag->mu);
        usleep(20000);
        pthread_mutex_lock(&ag->mu);
    }
    pthread_mutex_unlock(&ag->mu);
}

static int setup_dirs(struct agent *ag)
{
    char *shared = xasprintf("%s/shared", ag->o->root);
    char *startup = xasprintf("%s/startup", ag->o->root);
    char *work = xasprintf("%s/workitems", ag->o->root);

    mkdir_p(ag->o->root, 0755);
    chmod(ag->o->root, 0755);
    mkdir(shared, 02775);
    if (ag->has_run_as && chown(shared, 0, ag->gid) < 0)
        log_warn("cannot chown shared dir path=%s errno=%d", shared, errno);
    chmod(shared, 02775);
    mkdir(startup, 0755);
    mkdir(work, 0755);
    chmod(work, 0755);
    free(shared);
    free(startup);
    free(work);
    return access(ag->o->root, W_OK) == 0 ? 0 : -1;
}

int agent_run(const struct agent_opts *o)
{
    /*
     * On the heap and never freed: the sync thread may still be inside a
     * request when we return, and the process exits right after.
     */
    struct agent *ag = xcalloc(1, sizeof(*ag));
    sigset_t sigs;
    int sig = 0;

    ag->o = o;
    ag->token = xstrdup(o->token);
    ag->server = xstrdup(o->server);
    ag->st.state = "none";
    ag->purged = json_array();
    crypto_uuid(ag->boot);
    pthread_mutex_init(&ag->mu, NULL);
    pthread_cond_init(&ag->cv, NULL);
    pthread_cond_init(&ag->kick_cv, NULL);
    g_agent = ag; /* reachable to the end, for leak checkers */
    if (o->run_as && o->run_as[0] && geteuid() == 0) {
        struct passwd *pw = getpwnam(o->run_as);
        if (!pw) {
            fprintf(stderr, "shoal-node: unknown user '%s'\n", o->run_as);
            return AGENT_EXIT_FATAL;
        }
        ag->has_run_as = true;
        ag->uid = pw->pw_uid;
        ag->gid = pw->pw_gid;
    }
    id_window(ag);
    /* The agent's log is its stderr: uploaded as shoal-node.log when that
     * is a regular file. */
    ag->fs = fileserve_new(o->root, "/proc/self/fd/2", o->server, o->token,
                           o->node_id, o->ca_file);
    if (setup_dirs(ag) < 0) {
        fprintf(stderr, "shoal-node: cannot use root directory '%s'\n",
                o->root);
        return AGENT_EXIT_FATAL;
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    log_info("node agent starting node=%s pool=%s root=%s boot=%s", o->node_id,
             o->pool_id ? o->pool_id : "", o->root, ag->boot);
    if (pthread_create(&ag->kick_thread, NULL, kicker, ag) != 0 ||
        pthread_create(&ag->sync_thread, NULL, sync_loop, ag) != 0) {
        fprintf(stderr, "shoal-node: cannot start a thread\n");
        return AGENT_EXIT_FATAL;
    }
    while (sigwait(&sigs, &sig) != 0)
        ;
    pthread_mutex_lock(&ag->mu);
    if (!ag->stop) {
        ag->stop = true;
        ag->exit_code = AGENT_EXIT_OK;
    }
    pthread_cond_broadcast(&ag->cv);
    pthread_cond_broadcast(&ag->kick_cv);
    pthread_mutex_unlock(&ag->mu);
    log_info("node agent stopping node=%s signal=%d", o->node_id, sig);
    stop_runs(ag);
    /*
     * The sync thread may sit in a long-poll; the process exits without
     * joining it (its request dies with us). Workers that ignored the
     * cancel past STOP_WAIT_MS are abandoned likewise.
     */
    return ag->exit_code;
}
