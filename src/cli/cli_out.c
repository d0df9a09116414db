/*
 * cli_out.c: how the shoal command talks: error lines, JSON, progress bars
 * and the parsing of durations and times given on the command line.
 *
 * Errors are one line on stderr: "shoal: CODE: message" when the service
 * named an error code (ContainerNotFound, JobNotFound), "shoal: message"
 * otherwise. Service messages are shown in our style: first letter lower
 * case (unless the word is an acronym), no trailing period.
 *
 * Results go to stdout; progress to stderr, and only when stderr is a
 * terminal and --quiet is absent. A bar is one line redrawn with '\r' at
 * most ten times a second (and always at 100%), ended with a newline.
 *
 * Single-threaded use, except cli_out_bar_update, which libshoal calls
 * from its transfer threads but never concurrently for one transfer.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"

int cli_out_fail(struct cli *cli)
{
    struct shoal_error e;
    char msg[sizeof(e.message)];
    size_t n;

    shoal_client_last_error(cli->c, &e);
    snprintf(msg, sizeof(msg), "%s",
             e.message[0] ? e.message : shoal_strerror(e.code));
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '.' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (msg[0] >= 'A' && msg[0] <= 'Z' && !(msg[1] >= 'A' && msg[1] <= 'Z'))
        msg[0] = (char)(msg[0] - 'A' + 'a');
    if (e.service_code[0])
        fprintf(stderr, "shoal: %s: %s\n", e.service_code, msg);
    else
        fprintf(stderr, "shoal: %s\n", msg);
    /* libshoal refuses bad arguments before sending: a usage error. */
    return e.code == SHOAL_ERR_INVALID && !e.http_status ? CLI_USAGE
                                                         : CLI_FAILED;
}

int cli_out_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("shoal: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_USAGE;
}

int cli_out_error(const char *fmt, ...)
{
    va_list ap;

    fputs("shoal: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAILED;
}

int cli_out_json(json_t *j)
{
    char *s;

    if (!j)
        return cli_out_error("out of memory");
    s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!s)
        return cli_out_error("out of memory");
    puts(s);
    free(s);
    return CLI_OK;
}

int cli_out_doc(const shoal_doc *d, bool one)
{
    char *s = shoal_doc_json(d, one ? 0 : SHOAL_DOC_ALL, true);

    if (!s)
        return cli_out_error("out of memory");
    puts(s);
    shoal_free(s);
    return CLI_OK;
}

json_t *cli_out_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *cli_out_meta(const struct shoal_kv *meta, size_t n)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; o && i < n; i++)
        json_object_set_new(o, meta[i].name, cli_out_str(meta[i].value));
    return o;
}

/* ---- progress ---- */

void cli_out_size(char *out, size_t outlen, double bytes)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;

    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, outlen, "%.0f %s", bytes, units[u]);
    else
        snprintf(out, outlen, "%.1f %s", bytes, units[u]);
}

void cli_out_elapsed(char *out, size_t outlen, int64_t ms)
{
    int64_t s = ms / 1000;

    if (ms < 60000)
        snprintf(out, outlen, "%.1fs", (double)ms / 1000.0);
    else if (s < 3600)
        snprintf(out, outlen, "%lldm%02llds", (long long)(s / 60),
                 (long long)(s % 60));
    else
        snprintf(out, outlen, "%lldh%02lldm%02llds", (long long)(s / 3600),
                 (long long)(s / 60 % 60), (long long)(s % 60));
}

void cli_out_bar_cells(char *out, size_t outlen, double frac, int width)
{
    int i, full;

    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    if (width < 1 || (size_t)width + 1 > outlen) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    full = (int)(frac * width + 0.5);
    for (i = 0; i < width; i++)
        out[i] = i < full ? '#' : '.';
    out[width] = '\0';
}

void cli_out_bar_start(struct cli_bar *b, const struct cli *cli,
                       const char *label)
{
    memset(b, 0, sizeof(*b));
    b->on = cli->tty_err && !cli->quiet;
    b->label = label;
    b->start_ms = timefmt_mono_ms();
}

int cli_out_bar_update(int64_t done, int64_t total, void *ctx)
{
    struct cli_bar *b = ctx;
    int64_t now = timefmt_mono_ms();
    char cells[32], d[32], t[32], rate[32];
    double secs, frac;

    if (!b->on)
        return 0;
    if (done < total && b->drawn && now - b->last_draw_ms < 100)
        return 0;
    b->last_draw_ms = now;
    b->drawn = true;
    frac = total > 0 ? (double)done / (double)total : 1.0;
    secs = (double)(now - b->start_ms) / 1000.0;
    cli_out_bar_cells(cells, sizeof(cells), frac, 24);
    cli_out_size(d, sizeof(d), (double)done);
    cli_out_size(t, sizeof(t), (double)total);
    cli_out_size(rate, sizeof(rate), secs > 0 ? (double)done / secs : 0);
    fprintf(stderr, "\r%-20.20s [%s] %3d%% %s / %s  %s/s\033[K", b->label,
            cells, (int)(frac * 100), d, t, rate);
    fflush(stderr);
    return 0;
}

void cli_out_bar_end(struct cli_bar *b)
{
    if (b->on && b->drawn) {
        fputc('\n', stderr);
        fflush(stderr);
    }
}

/* ---- parsing ---- */

bool cli_out_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s)
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int64_t cli_out_parse_duration(const char *s)
{
    char *end;
    long long v;
    int64_t mul = 1000;

    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (*end) {
        if (end[1])
            return -1;
        switch (*end) {
        case 's':
            mul = 1000;
            break;
        case 'm':
            mul = 60000;
            break;
        case 'h':
            mul = 3600000;
            break;
        case 'd':
            mul = 86400000;
            break;
        default:
            return -1;
        }
    }
    if (v < 0 || v > INT64_MAX / mul)
        return -1;
    return (int64_t)v * mul;
}

int64_t cli_out_parse_when(const char *s)
{
    int64_t d = cli_out_parse_duration(s);
    int64_t t;

    if (d >= 0)
        return timefmt_now_ms() + d;
    if (s && timefmt_parse_iso8601(s, &t) == 0)
        return t;
    return -1;
}
