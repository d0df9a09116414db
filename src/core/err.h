#ifndef SHOAL_ERR_H
#define SHOAL_ERR_H

#include <stdarg.h>

/*
 * Error codes and error details.
 *
 * Functions return 0 on success or a negative enum err_code. For detail they
 * take a struct err *, filled on failure and left untouched on success; it may
 * be NULL when the caller does not care. err_http_status() is the one place
 * that maps a code to an HTTP status: no other file picks status codes.
 */
enum err_code {
    ERR_OK = 0,
    ERR_NOMEM = 1,     /* 500 */
    ERR_IO,            /* 500 */
    ERR_INVALID,       /* 400: bad input from outside */
    ERR_NOTFOUND,      /* 404 */
    ERR_CONFLICT,      /* 409 */
    ERR_AUTH,          /* 403: authentication or authorization failed */
    ERR_TOOBIG,        /* 413 */
    ERR_BUSY,          /* 503 */
    ERR_INTERNAL,      /* 500 */
    ERR_PRECONDITION,  /* 412: a condition header did not hold */
    ERR_NOT_MODIFIED,  /* 304: read condition says the client is current */
    ERR_RANGE,         /* 416 */
    ERR_NOTIMPL,       /* 501 */
    ERR_METHOD,        /* 405 */
    ERR_LENGTH,        /* 411: Content-Length required */
    ERR_GONE,          /* 410: a cursor older than what is retained */
    ERR_TIMEOUT,       /* 500 OperationTimedOut */
    ERR_CODE_MAX
};

#define ERR_MAX_DETAILS 4

struct err_detail {
    char name[40];
    char value[256];
};

struct err {
    int code;           /* enum err_code, positive; 0 when unset */
    char svc[64];       /* the service's error string, e.g. BlobNotFound */
    char msg[512];      /* lowercase, unpunctuated, subject quoted */
    int ndetails;
    struct err_detail details[ERR_MAX_DETAILS];
};

#define ERR_INIT {0}

/*
 * Fill err (if not NULL) with code, service error string svc (may be NULL)
 * and a printf-style message. Returns -code so callers can write
 * `return err_set(err, ERR_NOTFOUND, "BlobNotFound", "blob '%s' not found", n);`
 */
int err_set(struct err *err, enum err_code code, const char *svc,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int err_vset(struct err *err, enum err_code code, const char *svc,
             const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/*
 * Like err_set with ERR_IO and svc "InternalError", appending
 * ": strerror(errno)". Captures errno first, so call it right after the
 * failing call. Returns -ERR_IO.
 */
int err_sys(struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Add a name/value detail (QueryParameterName, HeaderName, ...). */
void err_add_detail(struct err *err, const char *name, const char *value);

/* Reset to the unset state. */
void err_clear(struct err *err);

/* HTTP status for a code (500 for unknown codes). */
int err_http_status(int code);

/* Short name of a code, for logs: "ERR_NOTFOUND". */
const char *err_code_name(int code);

#endif
