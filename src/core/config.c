/*
 * config.c: the one table of shoald's options.
 *
 * Each row names a key ("section.key", lowercase, units in the name), an
 * optional long flag, its type, where it lives in struct config, its default,
 * its bounds and one line of help. The table drives parsing, validation,
 * --help and --print-config; a new option is a new field in struct config
 * plus one row here.
 *
 * Layers, applied in order so the later wins: defaults, the file named by
 * --config (or SHOAL_CONFIG), SHOAL_* environment variables, the command
 * line. Values are validated as each layer sets them; a bad value is fatal
 * at startup (exit status 2) with the key and the value named.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"

enum config_type { CFG_STR, CFG_INT, CFG_BOOL };

struct config_row {
    const char *key;
    const char *flag; /* long option without "--", or NULL */
    enum config_type type;
    size_t off;
    const char *def;
    int64_t min, max;
    bool secret;
    const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct config_row rows[] = {
    {"data.dir", "data", CFG_STR, OFF(data_dir), "./shoal-data", 0, 0, false,
     "data directory (metadata, blobs, node roots)"},
    {"auth.dev", "dev", CFG_BOOL, OFF(dev), "false", 0, 0, false,
     "serve the well-known development account devstoreaccount1"},
    {"auth.accounts", "accounts", CFG_STR, OFF(accounts), "", 0, 0, true,
     "extra accounts, \"name:base64key[,name:key]\""},
    {"auth.clock_skew_s", NULL, CFG_INT, OFF(auth_skew_s), "900", 0, 86400,
     false, "allowed clock skew of signed requests"},
    {"http.host", "host", CFG_STR, OFF(host), "127.0.0.1", 0, 0, false,
     "address the listeners bind to"},
    {"blob.port", "blob-port", CFG_INT, OFF(blob_port), "10000", 0, 65535,
     false, "blob service port (0: pick a free one, see DATA/ports)"},
    {"queue.port", "queue-port", CFG_INT, OFF(queue_port), "10001", 0, 65535,
     false, "queue service port (0: pick a free one)"},
    {"batch.port", "batch-port", CFG_INT, OFF(batch_port), "10002", 0, 65535,
     false, "batch service port (0: pick a free one)"},
    {"http.threads", NULL, CFG_INT, OFF(http_threads), "16", 1, 256, false,
     "worker threads of the batch listener"},
    {"http.storage_threads", NULL, CFG_INT, OFF(http_storage_threads), "0", 0,
     256, false,
     "worker threads of the blob and queue listeners (0: one per CPU)"},
    {"http.pool_threads", NULL, CFG_INT, OFF(http_pool_threads), "16", 1, 1024,
     false,
     "blob and queue requests that wait on the disk run on this many "
     "threads"},
    {"http.shutdown_ms", NULL, CFG_INT, OFF(http_shutdown_ms), "10000", 0,
     600000, false, "how long shutdown waits for in-flight requests"},
    {"http.idle_timeout_s", NULL, CFG_INT, OFF(http_timeout_s), "120", 1,
     86400, false, "idle connection timeout"},
    {"log.level", "log-level", CFG_STR, OFF(log_level), "info", 0, 0, false,
     "error, warn, info or debug"},
    {"db.sync", NULL, CFG_STR, OFF(db_sync), "full", 0, 0, false,
     "SQLite synchronous mode: full (fsync every commit) or normal"},
    {"blob.uncommitted_ttl_s", NULL, CFG_INT, OFF(blob_uncommitted_ttl_s),
     "604800", 1, INT64_MAX, false,
     "uncommitted blocks older than this are dropped"},
    {"node.bin", NULL, CFG_STR, OFF(node_bin), "", 0, 0, false,
     "path of shoal-node (default: next to shoald)"},
    {"node.run_as", NULL, CFG_STR, OFF(node_run_as), "nobody", 0, 0, false,
     "user of start tasks and group of pool shared dirs (as root)"},
    {"sched.heartbeat_timeout_ms", NULL, CFG_INT,
     OFF(node_heartbeat_timeout_ms), "30000", 100, 86400000, false,
     "a node with no heartbeat for this long becomes unusable"},
    {"sched.poll_ms", NULL, CFG_INT, OFF(node_poll_ms), "20000", 10, 600000,
     false, "how long an agent's long-poll is held"},
    {"sched.min_resize_timeout_ms", NULL, CFG_INT, OFF(min_resize_timeout_ms),
     "300000", 1, 86400000, false,
     "smallest resizeTimeout a pool accepts (the service's is 5 minutes)"},
    {"events.retain_count", NULL, CFG_INT, OFF(events_retain_count),
     "1000000", 1, INT64_MAX, false, "events kept in the log"},
    {"events.retain_s", NULL, CFG_INT, OFF(events_retain_s), "86400", 1,
     INT64_MAX, false, "events younger than this are kept"},
    {"events.prune_interval_ms", NULL, CFG_INT, OFF(events_prune_ms),
     "60000", 10, 86400000, false, "how often old events are pruned"},
    {"notify.max_attempts", NULL, CFG_INT, OFF(notify_max_attempts), "30", 1,
     1000000, false, "delivery attempts before a dead letter"},
    {"notify.backoff_base_ms", NULL, CFG_INT, OFF(notify_backoff_base_ms),
     "10000", 1, 86400000, false, "first retry delay"},
    {"notify.backoff_cap_ms", NULL, CFG_INT, OFF(notify_backoff_cap_ms),
     "3600000", 1, 86400000, false, "longest retry delay"},
    {"notify.ttl_s", NULL, CFG_INT, OFF(notify_ttl_s), "86400", 1,
     INT64_MAX, false, "undelivered notifications older than this die"},
    {"tls.cert_file", NULL, CFG_STR, OFF(tls_cert_file), "", 0, 0, false,
     "PEM certificate (chain): the batch port serves HTTPS, agents too"},
    {"tls.key_file", NULL, CFG_STR, OFF(tls_key_file), "", 0, 0, false,
     "PEM private key of tls.cert_file"},
};

static void *field(struct config *cfg, const struct config_row *r)
{
    return (char *)cfg + r->off;
}

static int set_value(struct config *cfg, const struct config_row *r,
                     const char *value, const char *origin)
{
    switch (r->type) {
    case CFG_STR: {
        char **p = field(cfg, r);
        free(*p);
        *p = xstrdup(value);
        return 0;
    }
    case CFG_INT: {
        int64_t v;
        if (parse_i64(value, r->min, r->max, &v) < 0) {
            fprintf(stderr,
                    "shoald: bad value for %s (%s): '%s' (want an integer "
                    "from %lld to %lld)\n",
                    r->key, origin, value, (long long)r->min,
                    (long long)r->max);
            return -1;
        }
        *(int64_t *)field(cfg, r) = v;
        return 0;
    }
    case CFG_BOOL: {
        bool v;
        if (strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
            v = true;
        else if (strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
            v = false;
        else if (parse_bool(value, &v) < 0) {
            fprintf(stderr,
                    "shoald: bad value for %s (%s): '%s' (want true or "
                    "false)\n",
                    r->key, origin, value);
            return -1;
        }
        *(bool *)field(cfg, r) = v;
        return 0;
    }
    }
    return -1;
}

static const struct config_row *find_key(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        if (strcmp(rows[i].key, key) == 0)
            return &rows[i];
    }
    return NULL;
}

static const struct config_row *find_flag(const char *flag)
{
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        if (rows[i].flag && strcmp(rows[i].flag, flag) == 0)
            return &rows[i];
    }
    return NULL;
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0;

    if (!f) {
        fprintf(stderr, "shoald: cannot read config file '%s': %s\n", path,
                strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *s, *eq, *key, *val;
        const struct config_row *r;
        char origin[600];

        lineno++;
        s = trim(line);
        if (!*s || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "shoald: %s:%d: expected 'key = value'\n", path,
                    lineno);
            fclose(f);
            return -1;
        }
        *eq = '\0';
        key = trim(s);
        val = trim(eq + 1);
        r = find_key(key);
        if (!r) {
            fprintf(stderr, "shoald: %s:%d: unknown key '%s'\n", path,
                    lineno, key);
            fclose(f);
            return -1;
        }
        snprintf(origin, sizeof(origin), "%s:%d", path, lineno);
        if (set_value(cfg, r, val, origin) < 0) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static void env_name(const char *key, char *out, size_t n)
{
    size_t j = 0;

    j += (size_t)snprintf(out, n, "SHOAL_");
    for (size_t i = 0; key[i] && j + 1 < n; i++) {
        char c = key[i];
        out[j++] = c == '.' ? '_' : (char)toupper((unsigned char)c);
    }
    out[j] = '\0';
}

void config_usage(void)
{
    printf("usage: shoald [--data DIR] [--dev] [--host ADDR] [--blob-port N]\n"
           "              [--queue-port N] [--batch-port N] [--log-level L]\n"
           "              [--config FILE] [--set key=value]...\n"
           "              [--print-config] [--help] [--version]\n\n"
           "shoald serves the Azure Blob, Queue and Batch REST APIs.\n"
           "Each option below can also be set in the config file\n"
           "(\"key = value\") or as SHOAL_KEY in the environment\n"
           "(key upper-cased, '.' as '_'); the command line wins.\n\n");
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct config_row *r = &rows[i];
        char flag[64] = "";
        if (r->flag)
            snprintf(flag, sizeof(flag), "--%s", r->flag);
        printf("  %-28s %-14s %s (default: %s)\n", r->key, flag, r->help,
               r->def[0] ? r->def : "none");
    }
}

void config_print(const struct config *cfg)
{
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct config_row *r = &rows[i];
        const void *p = (const char *)cfg + r->off;
        switch (r->type) {
        case CFG_STR: {
            const char *s = *(char *const *)p;
            printf("%s = %s\n", r->key, r->secret && s[0] ? "(set)" : s);
            break;
        }
        case CFG_INT:
            printf("%s = %lld\n", r->key, (long long)*(const int64_t *)p);
            break;
        case CFG_BOOL:
            printf("%s = %s\n", r->key,
                   *(const bool *)p ? "true" : "false");
            break;
        }
    }
}

int config_load(struct config *cfg, int argc, char **argv)
{
    const char *file = NULL;
    bool print = false;

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        if (set_value(cfg, &rows[i], rows[i].def, "default") < 0)
            return 2;
    }

    /* Find --config first: the file layer sits below env and argv. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    if (!file)
        file = getenv("SHOAL_CONFIG");
    if (file && file[0] && load_file(cfg, file) < 0)
        return 2;

    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        char name[128];
        const char *v;
        env_name(rows[i].key, name, sizeof(name));
        v = getenv(name);
        if (v && set_value(cfg, &rows[i], v, name) < 0)
            return 2;
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char flag[128];
        const char *eq;
        const struct config_row *r;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            config_usage();
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("shoald %s\n", SHOAL_VERSION);
            return 1;
        }
        if (strcmp(a, "--print-config") == 0) {
            print = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "shoald: unexpected argument '%s' (see --help)\n",
                    a);
            return 2;
        }
        eq = strchr(a, '=');
        snprintf(flag, sizeof(flag), "%.*s",
                 (int)(eq ? (size_t)(eq - a - 2) : strlen(a + 2)), a + 2);
        if (eq)
            val = eq + 1;
        if (strcmp(flag, "config") == 0) {
            if (!val)
                i++;
            continue;
        }
        if (strcmp(flag, "set") == 0) {
            char kv[4096];
            char *e;
            if (!val) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "shoald: --set needs key=value\n");
                    return 2;
                }
                val = argv[++i];
            }
            snprintf(kv, sizeof(kv), "%s", val);
            e = strchr(kv, '=');
            if (!e) {
                fprintf(stderr, "shoald: --set needs key=value, got '%s'\n",
                        val);
                return 2;
            }
            *e = '\0';
            r = find_key(kv);
            if (!r) {
                fprintf(stderr, "shoald: unknown key '%s'\n", kv);
                return 2;
            }
            if (set_value(cfg, r, e + 1, "--set") < 0)
                return 2;
            continue;
        }
        r = find_flag(flag);
        if (!r) {
            fprintf(stderr, "shoald: unknown option '--%s' (see --help)\n",
                    flag);
            return 2;
        }
        if (!val && r->type == CFG_BOOL) {
            val = "true";
        } else if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "shoald: --%s needs a value\n", flag);
                return 2;
            }
            val = argv[++i];
        }
        if (set_value(cfg, r, val, a) < 0)
            return 2;
    }

    if (log_parse_level(cfg->log_level) < 0) {
        fprintf(stderr,
                "shoald: bad value for log.level: '%s' (want error, warn, "
                "info or debug)\n",
                cfg->log_level);
        return 2;
    }
    if (strcmp(cfg->db_sync, "full") != 0 &&
        strcmp(cfg->db_sync, "normal") != 0) {
        fprintf(stderr,
                "shoald: bad value for db.sync: '%s' (want full or normal)\n",
                cfg->db_sync);
        return 2;
    }
    if (!cfg->data_dir[0]) {
        fprintf(stderr, "shoald: bad value for data.dir: '' (empty)\n");
        return 2;
    }
    if (!cfg->tls_cert_file[0] != !cfg->tls_key_file[0]) {
        fprintf(stderr, "shoald: bad value for %s: '' (tls.cert_file and "
                        "tls.key_file go together)\n",
                cfg->tls_cert_file[0] ? "tls.key_file" : "tls.cert_file");
        return 2;
    }
    if (print) {
        config_print(cfg);
        return 1;
    }
    return 0;
}

void config_release(struct config *cfg)
{
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        if (rows[i].type == CFG_STR)
            FREE_AND_NULL(*(char **)field(cfg, &rows[i]));
    }
}
