/*
 * tutorial.c: the Azure Batch "top N words" tutorial, on libshoal.
 *
 *   tutorial [--connection-string CS] [--yes] [--data DIR] [--app FILE]
 *            [--timeout SECONDS] [--output DIR]
 *
 * The five steps, as the Azure Batch tutorial does them:
 *
 *   1. containers application, input and output; upload the task
 *      application (topnwords) and the texts (DIR/ *.txt); read SAS URLs
 *      for them, a write SAS URL for the output container;
 *   2. a pool of 2 nodes whose start task downloads the application and
 *      copies it to $AZ_BATCH_NODE_SHARED_DIR (waitForSuccess);
 *   3. a job on the pool, and one task per text, added as one collection:
 *      each downloads its text and runs topnwords on it; the result file
 *      goes to the output container when the task succeeds;
 *   4. wait for every task to complete (shoal_tasks_wait: the SDKs'
 *      TaskStateMonitor), then check each exit code and read stdout.txt;
 *   5. download the results and print the top words of each text; delete
 *      the containers, then the job and the pool (asking first when stdin
 *      is a terminal; --yes deletes without asking; otherwise they stay).
 *
 * Task command lines are not run by a shell (as on Azure), so the tasks
 * use /bin/sh -c for the variable and the redirection.
 *
 * Configuration: --connection-string, else $SHOAL_CONNECTION_STRING, else
 * UseDevelopmentStorage=true. The application defaults to topnwords next
 * to this program, the texts to examples/data (from the current
 * directory, else beside this program's ../examples/data).
 *
 * Exit status: 0 when every task succeeded and every result was found,
 * 1 otherwise, 2 on a bad command line.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shoal.h"

#define POOL_ID          "TopNWordsPool"
#define APP_CONTAINER    "application"
#define INPUT_CONTAINER  "input"
#define OUTPUT_CONTAINER "output"
#define APP_NAME         "topnwords"
#define TOP_N            10
#define MAX_TEXTS        64
#define SAS_HOURS        2

struct text {
    char path[1024];
    char name[256]; /* file name, the input blob's name */
    char task_id[80];
    char result[300]; /* NAME_OUTPUT.txt, the output blob's name */
    char cmd[1024];
    char *sas_url;
};

struct opts {
    const char *connstr;
    const char *data;
    const char *app;
    const char *output;
    long timeout_s;
    bool yes;
};

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_clock(const char *what)
{
    char buf[64];
    time_t now = time(NULL);
    struct tm tm;

    localtime_r(&now, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    printf("%s: %s\n", what, buf);
}

static int fail(shoal_client *c, const char *what)
{
    struct shoal_error e;

    shoal_client_last_error(c, &e);
    fprintf(stderr, "tutorial: %s: %s%s%s\n", what, e.service_code,
            e.service_code[0] ? ": " : "", e.message);
    return 1;
}

static bool is_txt(const char *name)
{
    size_t n = strlen(name);

    return n > 4 && strcmp(name + n - 4, ".txt") == 0 && name[0] != '.';
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(((const struct text *)a)->name,
                  ((const struct text *)b)->name);
}

/* Find DIR/ *.txt, sorted by name. */
static int find_texts(const char *dir, struct text *t, int max, int *n_out)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d) {
        fprintf(stderr, "tutorial: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) && n < max) {
        size_t i, k = 0;
        char stem[256];

        if (!is_txt(de->d_name) || strlen(de->d_name) >= sizeof(t->name))
            continue;
        memset(&t[n], 0, sizeof(t[n]));
        snprintf(t[n].path, sizeof(t[n].path), "%s/%s", dir, de->d_name);
        snprintf(t[n].name, sizeof(t[n].name), "%s", de->d_name);
        /* Task ids: letters, digits, '-' and '_' only. */
        for (i = 0; de->d_name[i] && i + 4 < strlen(de->d_name) &&
                    k + 1 < sizeof(stem);
             i++) {
            char ch = de->d_name[i];
            bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';

            stem[k++] = ok ? ch : '_';
        }
        stem[k] = '\0';
        snprintf(t[n].task_id, sizeof(t[n].task_id), "topnwords-%.60s", stem);
        snprintf(t[n].result, sizeof(t[n].result), "%.*s_OUTPUT.txt",
                 (int)(strlen(de->d_name) - 4), de->d_name);
        n++;
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "tutorial: no .txt files in %s\n", dir);
        return -1;
    }
    qsort(t, (size_t)n, sizeof(*t), cmp_text);
    *n_out = n;
    return 0;
}

/* A read or write SAS URL for a blob or a container. */
static char *sas_url(shoal_client *c, const char *container, const char *blob,
                     const char *perms)
{
    int64_t expiry = (int64_t)(time(NULL) + SAS_HOURS * 3600) * 1000;
    char *tok = NULL, *url = NULL;
    int rc;

    if (blob)
        rc = shoal_sas_blob(c, container, blob, perms, 0, expiry, &tok);
    else
        rc = shoal_sas_container(c, container, perms, 0, expiry, &tok);
    if (rc == 0)
        rc = shoal_blob_url(c, container, blob, tok, &url);
    shoal_free(tok);
    return rc == 0 ? url : NULL;
}

static bool ask(const char *question, bool yes)
{
    char line[64];

    if (yes)
        return true;
    if (!isatty(STDIN_FILENO))
        return false;
    printf("%s [yes] ", question);
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin))
        return false;
    return line[0] == '\n' || line[0] == 'y' || line[0] == 'Y';
}

static int on_progress(const struct shoal_task_counts *c, void *ctx)
{
    bool tty = *(bool *)ctx;
    char failed[24];

    if (c->failed >= 0)
        snprintf(failed, sizeof(failed), "%lld", (long long)c->failed);
    else
        snprintf(failed, sizeof(failed), "?");
    printf("%s    tasks: %lld active, %lld running, %lld of %lld completed, "
           "%s failed (%.1fs)%s",
           tty ? "\r" : "", (long long)c->active, (long long)c->running,
           (long long)c->completed, (long long)c->total, failed,
           (double)c->elapsed_ms / 1000.0, tty ? "\033[K" : "\n");
    fflush(stdout);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/*
 * Add the pool. An existing pool is used as it is (the .NET tutorial does
 * the same), unless it is being deleted: then wait (up to two minutes)
 * until it is gone and add it afresh, or the tasks would wait forever.
 */
static int add_pool(shoal_client *c, const struct shoal_pool_spec *pool)
{
    int tries;

    for (tries = 0; tries < 240; tries++) {
        struct shoal_error e;
        shoal_doc *d = NULL;
        const char *state;
        bool deleting;
        int rc;

        if (shoal_pool_add(c, pool) == 0)
            return 0;
        shoal_client_last_error(c, &e);
        if (strcmp(e.service_code, "PoolExists") != 0 &&
            strcmp(e.service_code, "PoolBeingDeleted") != 0) {
            fail(c, "create pool");
            return -1;
        }
        rc = shoal_pool_get(c, pool->id, "id,state", &d);
        if (rc == SHOAL_ERR_NOTFOUND)
            continue; /* gone meanwhile: add it again */
        if (rc < 0) {
            fail(c, "get pool");
            return -1;
        }
        state = shoal_doc_str(d, 0, "state");
        deleting = state && strcmp(state, "deleting") == 0;
        shoal_doc_free(d);
        if (!deleting) {
            printf("    Pool [%s] already exists; using it.\n", pool->id);
            return 0;
        }
        if (tries == 0)
            printf("    Pool [%s] is being deleted; waiting for it to go...\n",
                   pool->id);
        sleep_ms(500);
    }
    fprintf(stderr, "tutorial: pool [%s] is still being deleted\n", pool->id);
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tutorial [--connection-string CS] [--yes] [--data DIR]\n"
            "                [--app FILE] [--timeout SECONDS] [--output DIR]\n"
            "\n"
            "Runs the Azure Batch top-N-words tutorial against shoal (or "
            "Azure).\n"
            "  --connection-string CS  default $SHOAL_CONNECTION_STRING, "
            "else\n"
            "                          UseDevelopmentStorage=true\n"
            "  --yes                   delete the job and pool without "
            "asking\n"
            "  --data DIR              the texts (*.txt; default "
            "examples/data)\n"
            "  --app FILE              the task application (default: "
            "topnwords\n"
            "                          beside this program)\n"
            "  --timeout SECONDS       how long to wait for the tasks "
            "(default 600)\n"
            "  --output DIR            keep the downloaded results here\n"
            "Exit status: 0 all tasks succeeded, 1 something failed, 2 "
            "usage.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;

        if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0) {
            o->yes = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--connection-string") == 0)
            dst = &o->connstr;
        else if (strcmp(a, "--data") == 0)
            dst = &o->data;
        else if (strcmp(a, "--app") == 0)
            dst = &o->app;
        else if (strcmp(a, "--output") == 0)
            dst = &o->output;
        if (i + 1 >= argc)
            return -1;
        if (dst) {
            *dst = argv[++i];
        } else if (strcmp(a, "--timeout") == 0) {
            char *end;

            errno = 0;
            o->timeout_s = strtol(argv[++i], &end, 10);
            if (errno || *end || o->timeout_s <= 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* A default path next to this program (argv[0]'s directory). */
static void beside_self(const char *argv0, const char *rel, char *out,
                        size_t outlen)
{
    const char *slash = strrchr(argv0, '/');

    if (slash)
        snprintf(out, outlen, "%.*s/%s", (int)(slash - argv0), argv0, rel);
    else
        snprintf(out, outlen, "%s", rel);
}

static bool is_dir(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void print_file_lines(const char *path, const char *indent)
{
    char line[512];
    FILE *f = fopen(path, "r");

    if (!f)
        return;
    while (fgets(line, sizeof(line), f))
        printf("%s%s", indent, line);
    fclose(f);
}

int main(int argc, char **argv)
{
    static struct text texts[MAX_TEXTS];
    struct opts o = { NULL, NULL, NULL, NULL, 600, false };
    struct shoal_task_spec specs[MAX_TEXTS];
    struct shoal_resource_file inputs[MAX_TEXTS];
    struct shoal_output_file outputs[MAX_TEXTS];
    struct shoal_resource_file app_file;
    struct shoal_start_task start;
    struct shoal_pool_spec pool;
    struct shoal_job_spec job;
    struct shoal_task_counts counts;
    char app_default[1024], data_default[1024], outdir[1024], job_id[64];
    char why[256], err[512];
    char *app_url = NULL, *out_url = NULL;
    shoal_client *c = NULL;
    shoal_doc *tasks = NULL;
    bool tty = isatty(STDOUT_FILENO) == 1;
    bool temp_out = false, created = false;
    int ntexts = 0, i, status = 1, failures = 0, rc;
    double t0 = mono_s();
    time_t now = time(NULL);
    struct tm tm;

    if (parse_args(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    if (!o.connstr)
        o.connstr = getenv("SHOAL_CONNECTION_STRING");
    if (!o.connstr)
        o.connstr = "UseDevelopmentStorage=true";
    beside_self(argv[0], APP_NAME, app_default, sizeof(app_default));
    if (!o.app)
        o.app = app_default;
    if (!o.data) {
        beside_self(argv[0], "../examples/data", data_default,
                    sizeof(data_default));
        o.data = is_dir("examples/data") ? "examples/data" : data_default;
    }
    if (find_texts(o.data, texts, MAX_TEXTS, &ntexts) < 0)
        return 1;
    if (access(o.app, R_OK) != 0) {
        fprintf(stderr, "tutorial: %s: %s\n", o.app, strerror(errno));
        return 1;
    }
    gmtime_r(&now, &tm);
    strftime(job_id, sizeof(job_id), "TopNWordsJob-%Y%m%d-%H%M%S", &tm);

    print_clock("Sample start");
    rc = shoal_client_new(o.connstr, &c, why, sizeof(why));
    if (rc < 0) {
        fprintf(stderr, "tutorial: bad connection string: %s\n", why);
        return 2;
    }
    printf("Blob endpoint:  %s\nBatch endpoint: %s\n\n",
           shoal_client_blob_url(c), shoal_client_batch_url(c));

    /* 1. Storage: containers, uploads, SAS URLs. */
    printf("[1/5] Uploading the application and %d texts to blob storage\n",
           ntexts);
    {
        const char *names[] = { APP_CONTAINER, INPUT_CONTAINER,
                                OUTPUT_CONTAINER };

        for (i = 0; i < 3; i++) {
            if (shoal_container_create(c, names[i], true, &created) < 0) {
                fail(c, names[i]);
                goto out;
            }
            printf("    Container [%s] %s.\n", names[i],
                   created ? "created" : "already exists");
        }
    }
    printf("    Uploading %s to container [%s]...\n", o.app, APP_CONTAINER);
    if (shoal_blob_upload(c, APP_CONTAINER, APP_NAME, o.app, NULL) < 0) {
        fail(c, "upload application");
        goto out;
    }
    for (i = 0; i < ntexts; i++) {
        printf("    Uploading %s to container [%s]...\n", texts[i].path,
               INPUT_CONTAINER);
        if (shoal_blob_upload(c, INPUT_CONTAINER, texts[i].name, texts[i].path,
                              NULL) < 0) {
            fail(c, texts[i].name);
            goto out;
        }
        texts[i].sas_url = sas_url(c, INPUT_CONTAINER, texts[i].name, "r");
        if (!texts[i].sas_url) {
            fail(c, "input SAS");
            goto out;
        }
    }
    app_url = sas_url(c, APP_CONTAINER, APP_NAME, "r");
    out_url = sas_url(c, OUTPUT_CONTAINER, NULL, "w");
    if (!app_url || !out_url) {
        fail(c, "SAS");
        goto out;
    }
    printf("    SAS URLs: read for the application and inputs, write for "
           "[%s] (%d h).\n\n",
           OUTPUT_CONTAINER, SAS_HOURS);

    /* 2. The pool, with a start task that installs the application. */
    printf("[2/5] Creating pool [%s] with 2 nodes\n", POOL_ID);
    memset(&app_file, 0, sizeof(app_file));
    app_file.http_url = app_url;
    app_file.file_path = APP_NAME;
    memset(&start, 0, sizeof(start));
    start.command_line =
        "/bin/sh -c \"cp " APP_NAME " $AZ_BATCH_NODE_SHARED_DIR/ && chmod 755 "
        "$AZ_BATCH_NODE_SHARED_DIR/" APP_NAME "\"";
    start.resource_files = &app_file;
    start.nresource_files = 1;
    start.wait_for_success = true;
    start.elevated = true;
    memset(&pool, 0, sizeof(pool));
    pool.id = POOL_ID;
    pool.vm_size = "standard_d1_v2";
    pool.target_nodes = 2;
    pool.slots_per_node = 1;
    pool.start_task = &start;
    if (add_pool(c, &pool) < 0)
        goto out;
    printf("    Start task: %s\n\n", start.command_line);

    /* 3. The job and its tasks, added as one collection. */
    printf("[3/5] Creating job [%s] and adding %d tasks\n", job_id, ntexts);
    memset(&job, 0, sizeof(job));
    job.id = job_id;
    job.pool_id = POOL_ID;
    if (shoal_job_add(c, &job) < 0) {
        fail(c, "create job");
        goto out;
    }
    memset(specs, 0, sizeof(specs));
    for (i = 0; i < ntexts; i++) {
        struct text *t = &texts[i];
        char cmd[sizeof(t->cmd)];

        /* Built aside: the arguments live in *t too (no overlap). */
        snprintf(cmd, sizeof(cmd),
                 "/bin/sh -c \"$AZ_BATCH_NODE_SHARED_DIR/" APP_NAME
                 " %d '%s' > '%s' && cat '%s'\"",
                 TOP_N, t->name, t->result, t->result);
        memcpy(t->cmd, cmd, sizeof(cmd));
        memset(&inputs[i], 0, sizeof(inputs[i]));
        inputs[i].http_url = t->sas_url;
        inputs[i].file_path = t->name;
        memset(&outputs[i], 0, sizeof(outputs[i]));
        outputs[i].pattern = t->result;
        outputs[i].container_url = out_url;
        outputs[i].path = t->result;
        outputs[i].condition = SHOAL_UPLOAD_TASK_SUCCESS;
        specs[i].id = t->task_id;
        specs[i].command_line = t->cmd;
        specs[i].resource_files = &inputs[i];
        specs[i].nresource_files = 1;
        specs[i].output_files = &outputs[i];
        specs[i].noutput_files = 1;
        printf("    Task [%s]: %s\n", t->task_id, t->cmd);
    }
    if (shoal_tasks_add(c, job_id, specs, (size_t)ntexts, NULL) < 0) {
        fail(c, "add tasks");
        goto out;
    }
    printf("\n");

    /* 4. Wait, then check every task. */
    printf("[4/5] Monitoring all tasks for 'completed' state, timeout %lds\n",
           o.timeout_s);
    rc = shoal_tasks_wait(c, job_id, (int64_t)o.timeout_s * 1000, on_progress,
                          &tty, &counts);
    if (tty)
        printf("\n");
    if (rc < 0) {
        fail(c, "waiting for the tasks");
        goto cleanup;
    }
    printf("    All %lld tasks reached state completed.\n",
           (long long)counts.total);
    {
        struct shoal_query q = { NULL, "id,state,executionInfo,nodeInfo", NULL,
                                 0 };

        if (shoal_task_list(c, job_id, &q, &tasks) < 0) {
            fail(c, "list tasks");
            goto cleanup;
        }
    }
    for (i = 0; i < (int)shoal_doc_count(tasks); i++) {
        const char *id = shoal_doc_str(tasks, (size_t)i, "id");
        const char *result =
            shoal_doc_str(tasks, (size_t)i, "executionInfo/result");
        const char *node = shoal_doc_str(tasks, (size_t)i, "nodeInfo/nodeId");
        int64_t code = -1;

        shoal_doc_int(tasks, (size_t)i, "executionInfo/exitCode", &code);
        printf("    Task [%s] on node [%s]: exit code %lld, %s\n",
               id ? id : "?", node ? node : "?", (long long)code,
               result ? result : "no result");
        if (!result || strcmp(result, "success") != 0) {
            char *data = NULL;

            failures++;
            if (shoal_doc_str(tasks, (size_t)i,
                              "executionInfo/failureInfo/message"))
                printf("      failure: %s\n",
                       shoal_doc_str(tasks, (size_t)i,
                                     "executionInfo/failureInfo/message"));
            if (id && shoal_task_file_read(c, job_id, id, "stderr.txt", 4096,
                                           &data, NULL) == 0) {
                printf("      stderr.txt: %s\n", data);
                shoal_free(data);
            }
        }
    }
    for (i = 0; i < ntexts; i++) {
        char *data = NULL;
        size_t len = 0;

        if (shoal_task_file_read(c, job_id, texts[i].task_id, "stdout.txt",
                                 1 << 20, &data, &len) < 0) {
            fail(c, "read stdout.txt");
            failures++;
            continue;
        }
        printf("    Task [%s] stdout.txt: %zu bytes\n", texts[i].task_id, len);
        shoal_free(data);
    }
    printf("\n");

    /* 5. Results, then cleanup. */
    printf("[5/5] Downloading the results from container [%s]\n",
           OUTPUT_CONTAINER);
    if (o.output) {
        snprintf(outdir, sizeof(outdir), "%s", o.output);
        if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "tutorial: %s: %s\n", outdir, strerror(errno));
            goto cleanup;
        }
    } else {
        const char *tmp = getenv("TMPDIR");

        snprintf(outdir, sizeof(outdir), "%s/shoal-tutorial-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(outdir)) {
            fprintf(stderr, "tutorial: mkdtemp: %s\n", strerror(errno));
            goto cleanup;
        }
        temp_out = true;
    }
    for (i = 0; i < ntexts; i++) {
        char path[1400];

        snprintf(path, sizeof(path), "%s/%s", outdir, texts[i].result);
        if (shoal_blob_download(c, OUTPUT_CONTAINER, texts[i].result, path,
                                NULL) < 0) {
            fail(c, texts[i].result);
            failures++;
            continue;
        }
        printf("\n  %s: top %d words (task %s):\n", texts[i].name, TOP_N,
               texts[i].task_id);
        print_file_lines(path, "      ");
        if (temp_out)
            unlink(path);
    }
    printf("\n");
    if (temp_out)
        rmdir(outdir);
    else
        printf("    Results kept in %s\n", outdir);
    status = failures ? 1 : 0;

cleanup:
    printf("Deleting containers...\n");
    {
        const char *names[] = { APP_CONTAINER, INPUT_CONTAINER,
                                OUTPUT_CONTAINER };

        for (i = 0; i < 3; i++) {
            if (shoal_container_delete(c, names[i]) < 0) {
                fail(c, names[i]);
                status = 1;
            }
        }
    }
    if (ask("Delete job?", o.yes)) {
        printf("Deleting job [%s]...\n", job_id);
        if (shoal_job_delete(c, job_id) < 0) {
            fail(c, "delete job");
            status = 1;
        }
    } else {
        printf("Keeping job [%s] (run with --yes to delete it).\n", job_id);
    }
    if (ask("Delete pool?", o.yes)) {
        printf("Deleting pool [%s]...\n", POOL_ID);
        if (shoal_pool_delete(c, POOL_ID) < 0) {
            fail(c, "delete pool");
            status = 1;
        }
    } else {
        printf("Keeping pool [%s] (run with --yes to delete it).\n", POOL_ID);
    }
out:
    print_clock("Sample end");
    {
        long el = (long)(mono_s() - t0 + 0.5);

        printf("Elapsed time: %ld:%02ld:%02ld\n", el / 3600, el / 60 % 60,
               el % 60);
    }
    if (status != 0) {
        snprintf(err, sizeof(err), "%s",
                 failures ? "some tasks failed" : "the tutorial failed");
        fprintf(stderr, "tutorial: %s\n", err);
    }
    shoal_doc_free(tasks);
    for (i = 0; i < ntexts; i++)
        shoal_free(texts[i].sas_url);
    shoal_free(app_url);
    shoal_free(out_url);
    shoal_client_free(c);
    return status;
}
