/*
 * join.c: nodes on other machines, joined with a per-pool join token.
 *
 * Purpose: let `shoal-node --join URL --token TOKEN` on any machine that
 * reaches the batch port become a node of a pool, without ever seeing the
 * account key or a storage key.
 *
 * The pool: created with "x-shoal-allocation": "jointoken" (spec.c), it
 * starts empty and the supervisor never makes nodes for it; its
 * targetDedicatedNodes counts the nodes that joined (+1 per join, -1 per
 * removal), so a resize may only shrink it (pool_api.c).
 *
 * The join token (REST, /pools/{p}/jointoken):
 *   POST    make one (64 hex digits from 32 random bytes), replacing any
 *           previous one; 200 {poolId, token, creationTime, joinUrl}. The
 *           token is shown this once: the pool keeps its SHA-256 only
 *           (mpool.join_hash, in the pool document).
 *   GET     200 {poolId, creationTime} while the pool has one, else 404
 *           JoinTokenNotFound.
 *   DELETE  revoke it: 200, or 404 JoinTokenNotFound.
 * Errors: 404 PoolNotFound; 409 OperationInvalidForCurrentState for a pool
 * that is not a jointoken pool; 409 PoolBeingDeleted. Revoking or rotating
 * a token does not touch the nodes that joined with it.
 *
 * The join (node protocol, POST /_node/v1/join, Bearer JOIN-TOKEN): the
 * token's hash is compared, in constant time, with the hash of every
 * jointoken pool's token. A match makes a node (remote: no local process;
 * ipAddress = the address the agent came from) with a fresh node token
 * (hash kept, as for local agents), bumps the pool's target, and answers
 * {v, node, token, poolId} once both are durable. From then on the agent
 * syncs like any other (agent_api.c) with its node token; the join token
 * is not needed again. Refused: 403 AuthenticationFailed (no pool has this
 * token), 409 PoolBeingDeleted, 409 OperationInvalidForCurrentState (the
 * pool has 1000 nodes).
 *
 * Secrets: neither token is ever logged.
 * Threads: http workers; the model lock around model changes, never held
 * while waiting for the journal. Ownership: replies own their JSON.
 */
#include "batch/join.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "batch/batchint.h"
#include "batch/store.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/timefmt.h"

#define JOIN_TOKEN_BYTES 32
#define JOIN_MAX_NODES   1000

/* A random secret as hex (into *hex) and the hex of its SHA-256. */
static void make_secret(struct buf *hex, char hash_out[65])
{
    unsigned char r[JOIN_TOKEN_BYTES], h[CRYPTO_SHA256_LEN];
    struct buf hh = BUF_INIT;

    crypto_random(r, sizeof(r));
    codec_hex_encode(hex, r, sizeof(r), false);
    crypto_sha256(hex->data, hex->len, h);
    codec_hex_encode(&hh, h, sizeof(h), false);
    snprintf(hash_out, 65, "%s", hh.data);
    buf_release(&hh);
}

static void hash_hex(const char *s, char out[65])
{
    unsigned char h[CRYPTO_SHA256_LEN];
    struct buf hh = BUF_INIT;

    crypto_sha256(s, strlen(s), h);
    codec_hex_encode(&hh, h, sizeof(h), false);
    snprintf(out, 65, "%s", hh.data);
    buf_release(&hh);
}

/* ---- REST: /pools/{p}/jointoken ------------------------------------------
 */

static int no_token(struct err *e, const char *pool)
{
    return err_set(e, ERR_NOTFOUND, "JoinTokenNotFound",
                   "pool '%s' has no join token", pool);
}

void join_api_handle(struct http_req *req)
{
    struct breq *b = batch_api_state(req);
    struct model *m = &b->s->model;
    const char *meth = req->method;
    struct err e = ERR_INIT;
    struct mpool *p;
    struct buf tok = BUF_INIT;
    json_t *o = NULL;
    uint64_t ticket;
    int64_t now = timefmt_now_ms();
    bool post = strcmp(meth, "POST") == 0, del = strcmp(meth, "DELETE") == 0;

    if (!post && !del && strcmp(meth, "GET") != 0) {
        batch_api_bad_method(req);
        return;
    }
    pthread_mutex_lock(&m->mu);
    p = model_pool_find(m, b->acct->name, b->seg[1]);
    if (!p) {
        err_set(&e, ERR_NOTFOUND, "PoolNotFound",
                "the specified pool '%s' does not exist", b->seg[1]);
        goto fail;
    }
    if (!p->join_mode) {
        err_set(&e, ERR_CONFLICT, "OperationInvalidForCurrentState",
                "pool '%s' does not take joined nodes: create it with "
                "\"x-shoal-allocation\": \"jointoken\"",
                p->id);
        goto fail;
    }
    if (!post && !p->join_hash[0]) {
        no_token(&e, p->id);
        goto fail;
    }
    if (!del && p->state == POOL_DELETING) {
        err_set(&e, ERR_CONFLICT, "PoolBeingDeleted",
                "the specified pool '%s' has been marked for deletion", p->id);
        goto fail;
    }
    o = json_object();
    json_object_set_new(o, "poolId", json_string(p->id));
    if (post || del) {
        if (post) {
            make_secret(&tok, p->join_hash);
            p->join_ms = now;
        } else {
            p->join_hash[0] = '\0';
            p->join_ms = 0;
        }
        model_save_pool(m, p);
        log_info("pool join token %s pool=%s", post ? "made" : "revoked",
                 p->id);
    }
    if (!del)
        batch_api_time(o, "creationTime", p->join_ms);
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    if (!batch_api_durable(req, ticket))
        goto out;
    if (del) {
        batch_api_done(req, 200, NULL, 0, 0);
        goto out;
    }
    if (post) {
        json_object_set_new(o, "token", json_string(tok.data));
        json_object_set_new(o, "joinUrl", json_string(b->base));
    }
    batch_api_json(req, 200, o);
    o = NULL;
    goto out;
fail:
    pthread_mutex_unlock(&m->mu);
    batch_api_fail(req, &e);
out:
    json_decref(o);
    buf_release(&tok);
}

/* ---- node protocol: POST /_node/v1/join ----------------------------------
 */

static void reply_err(struct http_req *req, int code, const char *svc,
                      const char *msg)
{
    struct err e = ERR_INIT;

    err_set(&e, code, svc, "%s", msg);
    http_reply_batch_error(req, &e);
}

/* The jointoken pool whose token hashes to hash, or NULL (lock held). */
static struct mpool *pool_of_token(struct model *m, const char *hash)
{
    struct mpool *found = NULL;

    /* Compare with every pool, so the time does not say which matched. */
    for (size_t i = 0; i < m->npools; i++) {
        struct mpool *p = m->pool_list[i];
        if (p->join_mode && p->join_hash[0] &&
            crypto_equal(p->join_hash, hash, 64))
            found = p;
    }
    return found;
}

void join_agent(struct http_req *req, struct batch_service *s)
{
    struct model *m = &s->model;
    const char *a = http_header(req, "Authorization");
    char hash[65];
    struct buf tok = BUF_INIT, idhex = BUF_INIT;
    unsigned char r[12];
    struct mpool *p;
    struct mnode *n;
    size_t live = 0;
    json_t *o;
    char *id = NULL;
    uint64_t ticket;
    int64_t now = timefmt_now_ms();
    struct err e = ERR_INIT;
    char *body;

    if (!a || !str_iprefix(a, "Bearer ") || strlen(a + 7) != 64) {
        reply_err(req, ERR_AUTH, "AuthenticationFailed", "join token refused");
        return;
    }
    hash_hex(a + 7, hash);
    pthread_mutex_lock(&m->mu);
    p = pool_of_token(m, hash);
    if (!p) {
        pthread_mutex_unlock(&m->mu);
        log_warn("node join refused ip=%s", req->client_ip);
        reply_err(req, ERR_AUTH, "AuthenticationFailed", "join token refused");
        return;
    }
    if (p->state == POOL_DELETING) {
        pthread_mutex_unlock(&m->mu);
        reply_err(req, ERR_CONFLICT, "PoolBeingDeleted",
                  "the pool is being deleted");
        return;
    }
    for (size_t i = 0; i < p->nnodes; i++)
        live += !p->nodes[i]->removing;
    if (live >= JOIN_MAX_NODES) {
        pthread_mutex_unlock(&m->mu);
        reply_err(req, ERR_CONFLICT, "OperationInvalidForCurrentState",
                  "the pool has as many nodes as it may have");
        return;
    }
    crypto_random(r, sizeof(r));
    codec_hex_encode(&idhex, r, sizeof(r), false);
    id = xasprintf("tvmps_%s_d", idhex.data);
    n = model_node_new(m, p, id, now);
    n->remote = true;
    snprintf(n->ip, sizeof(n->ip), "%s", req->client_ip);
    make_secret(&tok, n->token_hash);
    n->last_seen_mono = timefmt_mono_ms();
    model_save_node(m, n);
    json_object_set_new(p->spec, "targetDedicatedNodes",
                        json_integer(p->target + 1));
    model_pool_apply_spec(p);
    p->modified_ms = now;
    p->etag = model_next_etag(m);
    model_save_pool(m, p);
    o = json_object();
    json_object_set_new(o, "v", json_integer(1));
    json_object_set_new(o, "node", json_string(n->id));
    json_object_set_new(o, "token", json_string(tok.data));
    json_object_set_new(o, "poolId", json_string(p->id));
    log_info("node joined node=%s pool=%s ip=%s", n->id, p->id, req->client_ip);
    ticket = store_last_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    if (store_wait(s->store, ticket, &e) < 0) {
        http_reply_batch_error(req, &e);
    } else {
        struct buf out = BUF_INIT;
        body = json_dumps(o, JSON_COMPACT);
        if (!body)
            BUG("out of memory rendering a join reply");
        buf_adds(&out, body);
        free(body);
        http_reply(req, 200, "application/json", &out);
        buf_release(&out);
    }
    json_decref(o);
    free(id);
    buf_release(&tok);
    buf_release(&idhex);
}
