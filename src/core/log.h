#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

/*
 * Logging: one event per line on stderr, the message first, then key=value
 * context. The macros test the level before evaluating their arguments.
 * log_set_request() tags every line of the calling thread with req=ID until
 * it is cleared (NULL). Never log keys, signatures, tokens or environments.
 */
enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
};

extern int log_level_current;

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int log_parse_level(const char *name);
void log_set_request(const char *req_id);

#define LOG_AT(lvl, ...)                                                       \
    do {                                                                       \
        if (log_level_current >= (lvl))                                        \
            log_write((lvl), __VA_ARGS__);                                     \
    } while (0)

#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

#ifdef SHOAL_ASSERTS
#define ASSERT(c)                                                              \
    do {                                                                       \
        if (!(c))                                                              \
            log_bug(__FILE__, __LINE__, #c);                                   \
    } while (0)
#else
#define ASSERT(c) ((void)0)
#endif
#define BUG(msg) log_bug(__FILE__, __LINE__, (msg))
void log_bug(const char *file, int line, const char *what)
    __attribute__((noreturn));

#endif
