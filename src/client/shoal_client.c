/*
 * shoal_client.c: the client handle, its options and its last error.
 *
 * A shoal_client holds the three endpoints (split once into origin and
 * base path, see url.c), the decoded keys, the tunables, and the shared
 * transport state: a curl share handle (connection cache, DNS, TLS
 * sessions; one mutex per curl lock kind) and a small stack of idle easy
 * handles (transport.c takes and returns them under pool_lock).
 *
 * Thread rules: everything but shoal_client_set and shoal_client_free may
 * be called from many threads at once. The last error is copied in and out
 * under err_lock, so readers never see a torn struct.
 *
 * Ownership: the client owns every string and handle it holds; the public
 * accessors return borrowed pointers valid until shoal_client_free.
 */
#include "client/clientint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/codec.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *shoal_strerror(int code)
{
    switch (code) {
    case SHOAL_OK:
        return "success";
    case SHOAL_ERR_NOMEM:
        return "out of memory";
    case SHOAL_ERR_INVALID:
        return "invalid argument";
    case SHOAL_ERR_IO:
        return "local i/o error";
    case SHOAL_ERR_CONNECT:
        return "cannot connect to the service";
    case SHOAL_ERR_TIMEOUT:
        return "timed out";
    case SHOAL_ERR_HTTP:
        return "request refused by the service";
    case SHOAL_ERR_NOTFOUND:
        return "not found";
    case SHOAL_ERR_CONFLICT:
        return "conflict";
    case SHOAL_ERR_AUTH:
        return "authentication failed";
    case SHOAL_ERR_PRECONDITION:
        return "condition not met";
    case SHOAL_ERR_SERVER:
        return "service error";
    case SHOAL_ERR_PROTOCOL:
        return "unexpected reply from the service";
    case SHOAL_ERR_CANCELLED:
        return "cancelled";
    case SHOAL_ERR_GONE:
        return "no longer available";
    default:
        return "unknown error";
    }
}

void shoal_free(void *p)
{
    free(p);
}

static void lock_cb(CURL *h, curl_lock_data data, curl_lock_access acc,
                    void *ud)
{
    shoal_client *c = ud;

    (void)h;
    (void)acc;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_locks[data]);
}

static void unlock_cb(CURL *h, curl_lock_data data, void *ud)
{
    shoal_client *c = ud;

    (void)h;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_locks[data]);
}

static void errmsg(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errmsg(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;

    if (!out || !outlen)
        return;
    va_start(ap, fmt);
    vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
}

static char *sdup(const char *s)
{
    size_t n;
    char *p;

    if (!s)
        return NULL;
    n = strlen(s);
    p = malloc(n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

static int decode_key(const char *b64, unsigned char **key_out, size_t *len_out)
{
    struct buf b = BUF_INIT;
    size_t len;
    char *k;

    if (codec_base64_decode(&b, b64, strlen(b64)) < 0 || b.len == 0) {
        buf_release(&b);
        return SHOAL_ERR_INVALID;
    }
    k = buf_detach(&b, &len);
    if (!k)
        return SHOAL_ERR_NOMEM;
    *key_out = (unsigned char *)k;
    *len_out = len;
    return 0;
}

static int set_endpoint(struct endpoint *ep, const char *url)
{
    struct buf b = BUF_INIT;
    int rc;

    if (!url)
        return 0;
    rc = url_split(url, &ep->origin, &ep->base);
    if (rc < 0)
        return rc;
    if (buf_adds(&b, ep->origin) < 0 || buf_adds(&b, ep->base) < 0) {
        buf_release(&b);
        return SHOAL_ERR_NOMEM;
    }
    ep->url = buf_detach(&b, NULL);
    return ep->url ? 0 : SHOAL_ERR_NOMEM;
}

static bool valid_account(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 64)
        return false;
    for (i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

int shoal_client_new_with(const struct shoal_config *cfg, shoal_client **out,
                          char *err_out, size_t errlen)
{
    static const char *const names[SVC_COUNT] = { "blob", "queue", "batch" };
    const char *urls[SVC_COUNT];
    shoal_client *c = NULL;
    int rc = SHOAL_ERR_NOMEM;
    int i;

    if (!cfg || !out) {
        errmsg(err_out, errlen, "no configuration");
        return SHOAL_ERR_INVALID;
    }
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        errmsg(err_out, errlen, "libcurl failed to initialise");
        return SHOAL_ERR_NOMEM;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        goto fail;
    c->retries = 4;
    c->retry_base_ms = 200;
    c->retry_max_ms = 5000;
    c->connect_timeout_ms = 10000;
    c->timeout_ms = 0;
    c->stall_timeout_ms = 60000;
    c->parallel = 4;
    c->block_size = 4 << 20;
    c->single_put_max = 32 << 20;
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->pool_lock, NULL);
    pthread_mutex_init(&c->err_lock, NULL);

    urls[SVC_BLOB] = cfg->blob_url;
    urls[SVC_QUEUE] = cfg->queue_url;
    urls[SVC_BATCH] = cfg->batch_url;
    if (!urls[SVC_BLOB] && !urls[SVC_QUEUE] && !urls[SVC_BATCH]) {
        errmsg(err_out, errlen, "no endpoint configured");
        rc = SHOAL_ERR_INVALID;
        goto fail;
    }
    for (i = 0; i < SVC_COUNT; i++) {
        rc = set_endpoint(&c->ep[i], urls[i]);
        if (rc == SHOAL_ERR_INVALID)
            errmsg(err_out, errlen, "bad %s endpoint URL '%s'", names[i],
                   urls[i]);
        if (rc < 0)
            goto fail;
    }
    rc = SHOAL_ERR_INVALID;
    if (cfg->account && !valid_account(cfg->account)) {
        errmsg(err_out, errlen, "bad account name");
        goto fail;
    }
    if (cfg->batch_account && !valid_account(cfg->batch_account)) {
        errmsg(err_out, errlen, "bad batch account name");
        goto fail;
    }
    if (cfg->key && !cfg->account) {
        errmsg(err_out, errlen, "a key needs an account name");
        goto fail;
    }
    rc = SHOAL_ERR_NOMEM;
    c->account = sdup(cfg->account ? cfg->account : "");
    c->batch_account =
        sdup(cfg->batch_account ? cfg->batch_account
                                : (cfg->account ? cfg->account : ""));
    if (!c->account || !c->batch_account)
        goto fail;
    if (cfg->sas) {
        c->sas = sdup(cfg->sas[0] == '?' ? cfg->sas + 1 : cfg->sas);
        if (!c->sas)
            goto fail;
    }
    if (cfg->key) {
        rc = decode_key(cfg->key, &c->key, &c->keylen);
        if (rc == SHOAL_ERR_INVALID)
            errmsg(err_out, errlen, "account key is not base64");
        if (rc < 0)
            goto fail;
    }
    if (cfg->batch_key || cfg->key) {
        rc = decode_key(cfg->batch_key ? cfg->batch_key : cfg->key,
                        &c->batch_key, &c->batch_keylen);
        if (rc == SHOAL_ERR_INVALID)
            errmsg(err_out, errlen, "batch account key is not base64");
        if (rc < 0)
            goto fail;
    }
    rc = SHOAL_ERR_NOMEM;
    c->share = curl_share_init();
    if (!c->share)
        goto fail;
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, lock_cb);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, unlock_cb);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = c;
    return 0;
fail:
    if (rc == SHOAL_ERR_NOMEM)
        errmsg(err_out, errlen, "out of memory");
    shoal_client_free(c);
    return rc;
}

int shoal_client_new(const char *connection_string, shoal_client **out,
                     char *err_out, size_t errlen)
{
    struct connstr cs;
    struct shoal_config cfg;
    int rc;

    memset(&cs, 0, sizeof(cs));
    rc = connstr_parse(connection_string, &cs, err_out, errlen);
    if (rc < 0)
        return rc;
    memset(&cfg, 0, sizeof(cfg));
    cfg.account = cs.account;
    cfg.key = cs.key;
    cfg.blob_url = cs.blob_url;
    cfg.queue_url = cs.queue_url;
    cfg.batch_url = cs.batch_url;
    cfg.batch_account = cs.batch_account;
    cfg.batch_key = cs.batch_key;
    cfg.sas = cs.sas;
    rc = shoal_client_new_with(&cfg, out, err_out, errlen);
    connstr_release(&cs);
    return rc;
}

void shoal_client_free(shoal_client *c)
{
    size_t i;
    int k;

    if (!c)
        return;
    for (i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    if (c->share)
        curl_share_cleanup(c->share);
    for (k = 0; k < SVC_COUNT; k++) {
        free(c->ep[k].origin);
        free(c->ep[k].base);
        free(c->ep[k].url);
    }
    free(c->account);
    if (c->key)
        memset(c->key, 0, c->keylen);
    free(c->key);
    free(c->batch_account);
    if (c->batch_key)
        memset(c->batch_key, 0, c->batch_keylen);
    free(c->batch_key);
    free(c->sas);
    for (k = 0; k < CURL_LOCK_DATA_LAST; k++)
        pthread_mutex_destroy(&c->share_locks[k]);
    pthread_mutex_destroy(&c->pool_lock);
    pthread_mutex_destroy(&c->err_lock);
    free(c);
}

int shoal_client_set(shoal_client *c, enum shoal_option opt, int64_t value)
{
    const int64_t day = 86400000;

    switch (opt) {
    case SHOAL_OPT_RETRIES:
        if (value < 0 || value > 100)
            return SHOAL_ERR_INVALID;
        c->retries = (int)value;
        return 0;
    case SHOAL_OPT_RETRY_BASE_MS:
        if (value < 0 || value > day)
            return SHOAL_ERR_INVALID;
        c->retry_base_ms = value;
        return 0;
    case SHOAL_OPT_RETRY_MAX_MS:
        if (value < 0 || value > day)
            return SHOAL_ERR_INVALID;
        c->retry_max_ms = value;
        return 0;
    case SHOAL_OPT_CONNECT_TIMEOUT_MS:
        if (value < 1 || value > day)
            return SHOAL_ERR_INVALID;
        c->connect_timeout_ms = value;
        return 0;
    case SHOAL_OPT_TIMEOUT_MS:
        if (value < 0 || value > day)
            return SHOAL_ERR_INVALID;
        c->timeout_ms = value;
        return 0;
    case SHOAL_OPT_STALL_TIMEOUT_MS:
        if (value < 0 || value > day)
            return SHOAL_ERR_INVALID;
        c->stall_timeout_ms = value;
        return 0;
    case SHOAL_OPT_PARALLEL:
        if (value < 1 || value > 64)
            return SHOAL_ERR_INVALID;
        c->parallel = (int)value;
        return 0;
    case SHOAL_OPT_BLOCK_SIZE:
        /* Azure's Put Block limit is 4000 MiB; ranges need no less than 1. */
        if (value < 1 || value > (int64_t)4000 << 20)
            return SHOAL_ERR_INVALID;
        c->block_size = value;
        return 0;
    case SHOAL_OPT_SINGLE_PUT_MAX:
        if (value < 0 || value > (int64_t)5000 << 20)
            return SHOAL_ERR_INVALID;
        c->single_put_max = value;
        return 0;
    }
    return SHOAL_ERR_INVALID;
}

void client_set_error(shoal_client *c, const struct shoal_error *e)
{
    pthread_mutex_lock(&c->err_lock);
    c->last = *e;
    pthread_mutex_unlock(&c->err_lock);
}

int client_fail(shoal_client *c, int code, const char *fmt, ...)
{
    struct shoal_error e;
    va_list ap;

    memset(&e, 0, sizeof(e));
    e.code = code;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    client_set_error(c, &e);
    return code;
}

void shoal_client_last_error(const shoal_client *c, struct shoal_error *out)
{
    shoal_client *mc = (shoal_client *)c;

    pthread_mutex_lock(&mc->err_lock);
    *out = c->last;
    pthread_mutex_unlock(&mc->err_lock);
}

const char *shoal_client_account(const shoal_client *c)
{
    return c->account;
}

const char *shoal_client_blob_url(const shoal_client *c)
{
    return c->ep[SVC_BLOB].url ? c->ep[SVC_BLOB].url : "";
}

const char *shoal_client_queue_url(const shoal_client *c)
{
    return c->ep[SVC_QUEUE].url ? c->ep[SVC_QUEUE].url : "";
}

const char *shoal_client_batch_url(const shoal_client *c)
{
    return c->ep[SVC_BATCH].url ? c->ep[SVC_BATCH].url : "";
}
