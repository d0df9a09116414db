#ifndef SHOAL_CLI_H
#define SHOAL_CLI_H

/*
 * cli.h: what the files of the shoal command share.
 *
 *   cli.c          main: options, configuration, dispatch, help
 *   cli_out.c      output: errors, JSON, tables, progress bars, durations
 *   cli_storage.c  container, blob, queue and sas commands
 *   cli_batch.c    pool, node, job and task commands
 *   cli_notify.c   job watch/subscribe, event watch, endpoints
 *
 * Commands are rows of a table (struct cli_cmd): the row drives argument
 * checking and --help, so a new command is one new row and one function.
 * Exit codes: CLI_OK 0, CLI_FAILED 1 (the operation failed), CLI_USAGE 2
 * (the command line was wrong).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "shoal.h"

#define CLI_OK     0
#define CLI_FAILED 1
#define CLI_USAGE  2

#define CLI_MAX_OPTS 128

struct cli_opt {
    const char *name; /* without the leading "--" */
    const char *arg;  /* value placeholder ("N"), NULL for a flag */
    const char *help;
};

struct cli;

struct cli_cmd {
    const char *group;
    const char *verb;
    const char *args;           /* positional arguments, for usage lines */
    const char *summary;        /* one line */
    const char *help;           /* more lines, or NULL */
    const struct cli_opt *opts; /* NULL-name terminated, or NULL */
    int min_args;
    int max_args;    /* -1: no limit */
    bool takes_rest; /* accepts "-- WORDS..." */
    int (*run)(struct cli *cli);
};

struct cli_kv {
    const char *name;
    const char *value; /* "" for flags */
};

struct cli {
    shoal_client *c;
    const struct cli_cmd *cmd;
    bool json;
    bool quiet;
    bool tty_err; /* stderr is a terminal: progress bars */
    char **pos;   /* positional arguments after GROUP VERB */
    int npos;
    char **rest; /* words after "--" */
    int nrest;
    bool has_rest;
    struct cli_kv opts[CLI_MAX_OPTS];
    int nopts;
};

/* Command tables, each ended by a row with group NULL. */
extern const struct cli_cmd cli_storage_cmds[];
extern const struct cli_cmd cli_batch_cmds[];
extern const struct cli_cmd cli_notify_cmds[];

/* ---- cli.c ---- */

/* The last value of option name, or NULL when absent. */
const char *cli_opt(const struct cli *cli, const char *name);
/* Whether flag (or option) name was given. */
bool cli_flag(const struct cli *cli, const char *name);
/* Every value of a repeatable option, in order: *n_out of them. */
int cli_opt_all(const struct cli *cli, const char *name, const char **out,
                int max);

/* ---- cli_out.c ---- */

/*
 * Print the client's last error as one line on stderr,
 * "shoal: CODE: message" (CODE when the service named one), and return
 * CLI_FAILED, or CLI_USAGE when libshoal refused an argument before
 * sending anything (SHOAL_ERR_INVALID: a bad name, SAS permission ...).
 */
int cli_out_fail(struct cli *cli);
/* Print "shoal: message" on stderr and return CLI_USAGE. */
int cli_out_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "shoal: message" on stderr and return CLI_FAILED. */
int cli_out_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print j (taken) as pretty JSON on stdout with a newline. */
int cli_out_json(json_t *j);
/* Print doc (all items as an array, or item 0 when one) as JSON. */
int cli_out_doc(const shoal_doc *d, bool one);
/* json_string or json_null for NULL (never NULL itself unless OOM). */
json_t *cli_out_str(const char *s);
/* Metadata pairs as a JSON object. */
json_t *cli_out_meta(const struct shoal_kv *meta, size_t n);

/*
 * A progress bar on stderr, drawn only when stderr is a terminal and
 * --quiet was not given; redrawn at most ten times a second.
 */
struct cli_bar {
    bool on;
    const char *label;
    int64_t start_ms;
    int64_t last_draw_ms;
    bool drawn;
};

void cli_out_bar_start(struct cli_bar *b, const struct cli *cli,
                       const char *label);
/* The shoal_progress callback; ctx is a struct cli_bar. */
int cli_out_bar_update(int64_t done, int64_t total, void *ctx);
/* End the bar's line (if drawn). */
void cli_out_bar_end(struct cli_bar *b);
/* Draw a bar of width cells for frac in [0,1] into out. */
void cli_out_bar_cells(char *out, size_t outlen, double frac, int width);

/*
 * Parse a duration ("90", "90s", "30m", "2h", "7d") into milliseconds;
 * -1 when malformed.
 */
int64_t cli_out_parse_duration(const char *s);
/*
 * Parse a SAS time: a duration from now, or an ISO 8601 date-time.
 * Returns ms since the epoch, or -1.
 */
int64_t cli_out_parse_when(const char *s);
/* Parse a non-negative int in [min, max]; false when malformed. */
bool cli_out_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* "1.5 MiB" style size into out. */
void cli_out_size(char *out, size_t outlen, double bytes);
/* "1h02m03s" / "4.2s" style duration into out. */
void cli_out_elapsed(char *out, size_t outlen, int64_t ms);

#endif
