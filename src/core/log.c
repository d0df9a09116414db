/*
 * log.c: one event per line on stderr: "LEVEL message key=value ...", with
 * the request id of the calling thread appended (req=...) while
 * log_set_request() has one. Lines are written with a single write() so
 * concurrent threads do not interleave within a line. The level check is in
 * the macros (log.h), before arguments are evaluated.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timefmt.h"

int log_level_current = LOG_INFO;

static _Thread_local char log_req[40];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_parse_level(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
         i++) {
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

void log_set_request(const char *req_id)
{
    snprintf(log_req, sizeof(log_req), "%s", req_id ? req_id : "");
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char line[2048];
    char ts[TIMEFMT_ISO_LEN];
    va_list ap;
    int n, m;

    timefmt_iso8601(timefmt_now_ms(), 3, ts);
    n = snprintf(line, sizeof(line), "%s %-5s ", ts, level_names[level]);
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n >= sizeof(line) - 48)
        n = (int)sizeof(line) - 48;
    if (log_req[0])
        n += snprintf(line + n, sizeof(line) - (size_t)n, " req=%s",
                      log_req);
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to report it */
    }
}

void log_bug(const char *file, int line, const char *what)
{
    log_write(LOG_ERROR, "BUG at %s:%d: %s", file, line, what);
    abort();
}
