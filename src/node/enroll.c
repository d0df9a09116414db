/*
 * enroll.c: a node agent joins a pool from another machine.
 *
 * Purpose: turn `shoal-node --join URL --token JOIN-TOKEN` into what a
 * local agent gets from the supervisor (a node id and a node token), so the
 * rest of the agent does not know the difference.
 *
 * Steps (the server side is batch/join.c; docs/node-protocol.md):
 *   1. ROOT/agent/identity.json exists and names the same server: use the
 *      node id and node token kept there (an agent that restarts, or whose
 *      machine rebooted, comes back as the same node and resyncs; its old
 *      attempts are settled by the boot-id rules).
 *   2. Else POST URL/_node/v1/join with "Authorization: Bearer
 *      JOIN-TOKEN" and {"v":1,"hostname":...}; the answer {node, token,
 *      poolId} is written to the identity file (temp file, fsync, rename;
 *      0600 in a 0700 directory) before it is used.
 * A server that cannot be reached (or answers 5xx) is retried with
 * back-off (1 s doubling to 15 s) for as long as the process lives; 401 or
 * 403 (token refused) and 409 (pool full or being deleted) are final.
 * When the server later says the node is gone or its token is refused,
 * main.c calls enroll_forget, so a new start joins afresh (with a valid
 * join token) instead of failing forever.
 *
 * The identity file format is version 1 ({"v":1,...}); to change it, add
 * fields freely, or bump "v" and keep reading 1.
 *
 * Secrets: the join token and the node token are never logged; the
 * identity file is readable by the agent's user only (run the agent as
 * root with --run-as so tasks cannot read it).
 * Threads: main, before the agent starts. Ownership: struct enroll owns
 * its strings.
 */
#include "node/enroll.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "node/link.h"

#define ENROLL_VERSION     1
#define ENROLL_BACKOFF_MIN 1000
#define ENROLL_BACKOFF_MAX 15000
#define ENROLL_TIMEOUT_MS  30000L

static char *identity_path(const char *root)
{
    return xasprintf("%s/agent/identity.json", root);
}

static char *jdup(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s && *s ? xstrdup(s) : NULL;
}

static bool load_identity(const char *root, const char *server,
                          struct enroll *out)
{
    char *path = identity_path(root);
    json_t *o = json_load_file(path, 0, NULL);
    bool ok = false;

    free(path);
    if (!json_is_object(o) ||
        json_integer_value(json_object_get(o, "v")) != ENROLL_VERSION)
        goto out;
    if (!json_string_value(json_object_get(o, "server")) ||
        strcmp(json_string_value(json_object_get(o, "server")), server) != 0)
        goto out;
    out->node_id = jdup(o, "node");
    out->pool_id = jdup(o, "pool");
    out->token = jdup(o, "token");
    if (!out->node_id || !out->token) {
        enroll_release(out);
        goto out;
    }
    out->server = xstrdup(server);
    ok = true;
out:
    json_decref(o);
    return ok;
}

static int save_identity(const char *root, const struct enroll *e,
                         struct err *err)
{
    char *dir = xasprintf("%s/agent", root);
    char *path = identity_path(root);
    char *tmp = xasprintf("%s.tmp", path);
    char *text = NULL;
    json_t *o = json_object();
    int fd = -1, rc = -ERR_IO;
    size_t len;

    json_object_set_new(o, "v", json_integer(ENROLL_VERSION));
    json_object_set_new(o, "server", json_string(e->server));
    json_object_set_new(o, "node", json_string(e->node_id));
    json_object_set_new(o, "pool", json_string(e->pool_id ? e->pool_id : ""));
    json_object_set_new(o, "token", json_string(e->token));
    text = json_dumps(o, JSON_COMPACT);
    if (!text)
        BUG("out of memory rendering the identity");
    len = strlen(text);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        err_sys(err, "mkdir '%s'", dir);
        goto out;
    }
    chmod(dir, 0700);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_sys(err, "create '%s'", tmp);
        goto out;
    }
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
        err_sys(err, "write '%s'", tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        err_sys(err, "rename '%s'", tmp);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    json_decref(o);
    free(text);
    free(tmp);
    free(path);
    free(dir);
    return rc;
}

/* One join request. 0 and *out filled; -ERR_BUSY to retry; else final. */
static int join_once(const char *url, const char *join_token,
                     const char *ca_file, struct enroll *out, struct err *err)
{
    struct link *l = link_new(url, join_token, "");
    struct buf resp = BUF_INIT;
    char host[256] = "";
    json_t *req = json_object(), *o = NULL;
    char *body;
    long status = 0;
    int rc;

    link_set_ca(l, ca_file);
    gethostname(host, sizeof(host) - 1);
    json_object_set_new(req, "v", json_integer(1));
    json_object_set_new(req, "hostname", json_string(host));
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        BUG("out of memory rendering a join request");
    rc = link_post(l, "/_node/v1/join", body, strlen(body), ENROLL_TIMEOUT_MS,
                   &status, &resp);
    free(body);
    link_free(l);
    if (rc < 0 || status == 0 || status >= 500) {
        err_set(err, ERR_BUSY, NULL, "cannot reach '%s' (status %ld)", url,
                status);
        rc = -ERR_BUSY;
        goto out;
    }
    if (status == 401 || status == 403) {
        rc = err_set(err, ERR_AUTH, NULL, "the join token was refused");
        goto out;
    }
    o = status == 200 ? json_loadb(resp.data, resp.len, 0, NULL) : NULL;
    if (!json_is_object(o) || !json_string_value(json_object_get(o, "node")) ||
        !json_string_value(json_object_get(o, "token"))) {
        rc =
            err_set(err, status == 409 ? ERR_CONFLICT : ERR_INVALID, NULL,
                    "the server would not take this node (status %ld)", status);
        goto out;
    }
    out->server = xstrdup(url);
    out->node_id = jdup(o, "node");
    out->pool_id = jdup(o, "poolId");
    out->token = jdup(o, "token");
    rc = 0;
out:
    json_decref(o);
    buf_release(&resp);
    return rc;
}

int enroll_node(const char *join_url, const char *join_token, const char *root,
                const char *ca_file, struct enroll *out, struct err *err)
{
    char *url = xstrdup(join_url);
    int64_t backoff = ENROLL_BACKOFF_MIN;
    int rc;

    memset(out, 0, sizeof(*out));
    while (url[0] && url[strlen(url) - 1] == '/')
        url[strlen(url) - 1] = '\0';
    if (load_identity(root, url, out)) {
        log_info("node identity loaded node=%s pool=%s", out->node_id,
                 out->pool_id ? out->pool_id : "");
        free(url);
        return 0;
    }
    if (!join_token || !*join_token) {
        free(url);
        return err_set(err, ERR_INVALID, NULL,
                       "no node identity in '%s' and no join token", root);
    }
    for (;;) {
        struct err e = ERR_INIT;
        rc = join_once(url, join_token, ca_file, out, &e);
        if (rc != -ERR_BUSY) {
            if (rc < 0)
                err_set(err, e.code, NULL, "%s", e.msg);
            break;
        }
        log_warn("join failed, retrying url=%s why=\"%s\" in_ms=%lld", url,
                 e.msg, (long long)backoff);
        usleep((useconds_t)backoff * 1000);
        backoff =
            backoff * 2 > ENROLL_BACKOFF_MAX ? ENROLL_BACKOFF_MAX : backoff * 2;
    }
    if (rc == 0) {
        rc = save_identity(root, out, err);
        if (rc < 0)
            enroll_release(out);
        else
            log_info("node joined node=%s pool=%s", out->node_id,
                     out->pool_id ? out->pool_id : "");
    }
    free(url);
    return rc;
}

void enroll_release(struct enroll *e)
{
    free(e->server);
    free(e->node_id);
    free(e->pool_id);
    free(e->token);
    memset(e, 0, sizeof(*e));
}

void enroll_forget(const char *root)
{
    char *path = identity_path(root);

    if (unlink(path) == 0)
        log_warn("node identity removed path=%s", path);
    free(path);
}
