#ifndef SHOAL_CONFIG_H
#define SHOAL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

/*
 * shoald configuration: one table (config.c) drives parsing, validation,
 * --help and --print-config. Precedence, lowest to highest: default, config
 * file (--config FILE, lines "key = value", '#' comments), SHOAL_* environment
 * (key upper-cased, '.' -> '_': SHOAL_BLOB_PORT), command line (--flag VALUE
 * or --set key=value). A new option is one new field here and one row there.
 * Modules receive a const struct config * and never call getenv.
 */
struct config {
    char *data_dir;           /* data.dir */
    bool dev;                 /* auth.dev */
    char *accounts;           /* auth.accounts: "name:base64key[,...]" */
    char *host;               /* http.host */
    int64_t blob_port;        /* blob.port */
    int64_t queue_port;       /* queue.port */
    int64_t batch_port;       /* batch.port */
    int64_t http_threads;     /* http.threads */
    int64_t http_storage_threads; /* http.storage_threads */
    int64_t http_pool_threads;    /* http.pool_threads */
    int64_t http_shutdown_ms; /* http.shutdown_ms */
    int64_t http_timeout_s;   /* http.idle_timeout_s */
    char *log_level;          /* log.level */
    char *db_sync;            /* db.sync: full | normal */
    int64_t blob_uncommitted_ttl_s; /* blob.uncommitted_ttl_s */
    int64_t auth_skew_s;      /* auth.clock_skew_s */
    char *node_bin;           /* node.bin: path of shoal-node */
    int64_t node_heartbeat_timeout_ms; /* sched.heartbeat_timeout_ms */
    int64_t node_poll_ms;     /* sched.poll_ms: agent long-poll hold */
    int64_t min_resize_timeout_ms; /* sched.min_resize_timeout_ms */
    char *node_run_as;        /* node.run_as: user for non-admin tasks */
    int64_t events_retain_count; /* events.retain_count */
    int64_t events_retain_s;  /* events.retain_s */
    int64_t events_prune_ms;  /* events.prune_interval_ms */
    int64_t notify_max_attempts;  /* notify.max_attempts */
    int64_t notify_backoff_base_ms; /* notify.backoff_base_ms */
    int64_t notify_backoff_cap_ms;  /* notify.backoff_cap_ms */
    int64_t notify_ttl_s;     /* notify.ttl_s */
    char *tls_cert_file;      /* tls.cert_file: batch listener serves HTTPS */
    char *tls_key_file;       /* tls.key_file */
};

/*
 * Fill cfg from defaults, file, environment and argv (argv[0] skipped).
 * On a bad value prints "shoald: bad value for KEY: 'VALUE' (reason)" to
 * stderr and returns 2 (the exit status); --help / --version /
 * --print-config print and return 1 (caller exits 0); 0 means run.
 */
int config_load(struct config *cfg, int argc, char **argv);
void config_release(struct config *cfg);
/* Print every key with its value (secrets redacted). */
void config_print(const struct config *cfg);
void config_usage(void);

/* The ports the listeners are bound to (known once they are started). */
struct listen_ports {
    int blob, queue, batch;
};

#define SHOAL_VERSION "0.1.0"

#endif
