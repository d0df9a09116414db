/*
 * err.c: error details and the one table that maps error codes to HTTP
 * statuses. Services never pick a status themselves: they choose a code and
 * the service's error string (BlobNotFound, JobNotFound), and http renders
 * the reply with err_http_status(). To add a code: append it to enum
 * err_code and give it a row below.
 */
#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int status;
    const char *name;
} err_table[ERR_CODE_MAX] = {
    [ERR_OK] = {200, "ERR_OK"},
    [ERR_NOMEM] = {500, "ERR_NOMEM"},
    [ERR_IO] = {500, "ERR_IO"},
    [ERR_INVALID] = {400, "ERR_INVALID"},
    [ERR_NOTFOUND] = {404, "ERR_NOTFOUND"},
    [ERR_CONFLICT] = {409, "ERR_CONFLICT"},
    [ERR_AUTH] = {403, "ERR_AUTH"},
    [ERR_TOOBIG] = {413, "ERR_TOOBIG"},
    [ERR_BUSY] = {503, "ERR_BUSY"},
    [ERR_INTERNAL] = {500, "ERR_INTERNAL"},
    [ERR_PRECONDITION] = {412, "ERR_PRECONDITION"},
    [ERR_NOT_MODIFIED] = {304, "ERR_NOT_MODIFIED"},
    [ERR_RANGE] = {416, "ERR_RANGE"},
    [ERR_NOTIMPL] = {501, "ERR_NOTIMPL"},
    [ERR_METHOD] = {405, "ERR_METHOD"},
    [ERR_LENGTH] = {411, "ERR_LENGTH"},
    [ERR_GONE] = {410, "ERR_GONE"},
    [ERR_TIMEOUT] = {500, "ERR_TIMEOUT"},
};

int err_http_status(int code)
{
    if (code < 0)
        code = -code;
    if (code <= 0 || code >= ERR_CODE_MAX)
        return 500;
    return err_table[code].status;
}

const char *err_code_name(int code)
{
    if (code < 0)
        code = -code;
    if (code < 0 || code >= ERR_CODE_MAX)
        return "ERR_UNKNOWN";
    return err_table[code].name;
}

int err_vset(struct err *err, enum err_code code, const char *svc,
             const char *fmt, va_list ap)
{
    if (err) {
        err->code = (int)code;
        snprintf(err->svc, sizeof(err->svc), "%s", svc ? svc : "");
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        err->ndetails = 0;
    }
    return -(int)code;
}

int err_set(struct err *err, enum err_code code, const char *svc,
            const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vset(err, code, svc, fmt, ap);
    va_end(ap);
    return -(int)code;
}

int err_sys(struct err *err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    size_t n;

    if (!err)
        return -ERR_IO;
    va_start(ap, fmt);
    err_vset(err, ERR_IO, "InternalError", fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(saved));
    errno = saved;
    return -ERR_IO;
}

void err_add_detail(struct err *err, const char *name, const char *value)
{
    struct err_detail *d;

    if (!err || err->ndetails >= ERR_MAX_DETAILS)
        return;
    d = &err->details[err->ndetails++];
    snprintf(d->name, sizeof(d->name), "%s", name);
    snprintf(d->value, sizeof(d->value), "%s", value ? value : "");
}

void err_clear(struct err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}
