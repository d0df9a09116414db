/*
 * shoal_queue.c: storage queues and their messages.
 *
 * Requests (storage-wire.md §5.2):
 *   create   PUT    /A/Q                       201 new, 204 same metadata
 *   delete   DELETE /A/Q                       204
 *   list     GET    /A/?comp=list&include=metadata
 *   count    GET    /A/Q?comp=metadata         x-ms-approximate-messages-count
 *   put      POST   /A/Q/messages[?visibilitytimeout&messagettl]
 *   get      GET    /A/Q/messages?numofmessages&visibilitytimeout
 *   peek     GET    /A/Q/messages?peekonly=true&numofmessages
 *   update   PUT    /A/Q/messages/ID?popreceipt&visibilitytimeout
 *   delete   DELETE /A/Q/messages/ID?popreceipt
 *   clear    DELETE /A/Q/messages
 *
 * Message text travels verbatim, XML-escaped (no base64), as both SDKs
 * send it by default. Replies are <QueueMessagesList> trees turned into
 * struct shoal_messages whose strings live in one arena (freed with
 * shoal_messages_free).
 *
 * Thread-safe: all state is per call.
 */
#include "client/clientint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/parse.h"
#include "core/xml.h"

struct msgs_box {
    struct shoal_messages pub; /* first: the user's pointer is ours */
    struct arena arena;
};

void shoal_messages_free(struct shoal_messages *m)
{
    struct msgs_box *b = (struct msgs_box *)m;

    if (!b)
        return;
    arena_release(&b->arena);
    free(b);
}

static int queue_req(shoal_client *c, struct req *r, const char *method,
                     const char *queue, bool messages, const char *id)
{
    req_init(r, c, SVC_QUEUE, method);
    if (!queue || !*queue || (id && !*id)) {
        req_release(r);
        return client_fail(c, SHOAL_ERR_INVALID, "empty queue name or id");
    }
    req_segment(r, queue, false);
    if (messages)
        req_segment(r, "messages", false);
    if (id)
        req_segment(r, id, false);
    return 0;
}

static void query_int(struct req *r, const char *name, int64_t v)
{
    char num[32];

    snprintf(num, sizeof(num), "%lld", (long long)v);
    req_query(r, name, num);
}

int shoal_queue_url(shoal_client *c, const char *queue, const char *sas,
                    char **url_out)
{
    struct buf b = BUF_INIT;

    if (!c->ep[SVC_QUEUE].url)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "no queue endpoint configured");
    if (!queue || !*queue)
        return client_fail(c, SHOAL_ERR_INVALID, "empty queue name");
    if (buf_adds(&b, c->ep[SVC_QUEUE].url) < 0 ||
        url_add_segment(&b, queue, false) < 0 ||
        (sas && (buf_addc(&b, '?') < 0 || buf_adds(&b, sas) < 0))) {
        buf_release(&b);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    *url_out = buf_detach(&b, NULL);
    if (!*url_out)
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    return 0;
}

int shoal_queue_create(shoal_client *c, const char *name,
                       const struct shoal_kv *meta, size_t nmeta,
                       bool *created_out)
{
    struct req r;
    int rc;

    rc = queue_req(c, &r, "PUT", name, false, NULL);
    if (rc < 0)
        return rc;
    req_meta(&r, meta, nmeta);
    rc = transport_send(c, &r);
    if (rc == 0 && created_out)
        *created_out = r.status == 201;
    req_release(&r);
    return rc;
}

int shoal_queue_delete(shoal_client *c, const char *name)
{
    struct req r;
    int rc;

    rc = queue_req(c, &r, "DELETE", name, false, NULL);
    if (rc < 0)
        return rc;
    rc = transport_send(c, &r);
    req_release(&r);
    return rc;
}

int shoal_queue_count(shoal_client *c, const char *name, int64_t *count_out)
{
    const char *v;
    struct req r;
    uint64_t n;
    int rc;

    rc = queue_req(c, &r, "GET", name, false, NULL);
    if (rc < 0)
        return rc;
    req_query(&r, "comp", "metadata");
    rc = transport_send(c, &r);
    if (rc == 0) {
        v = req_reply_header(&r, "x-ms-approximate-messages-count");
        if (!v || parse_u64(v, 0, INT64_MAX, &n) < 0)
            rc = client_fail(c, SHOAL_ERR_PROTOCOL,
                             "no message count in the reply");
        else
            *count_out = (int64_t)n;
    }
    req_release(&r);
    return rc;
}

int shoal_queue_list(shoal_client *c, const char *prefix,
                     int (*fn)(const char *name, const struct shoal_kv *meta,
                               size_t nmeta, void *ctx),
                     void *ctx)
{
    char *marker = NULL;
    int rc;

    do {
        struct xml_node *root = NULL;
        const struct xml_node *qs, *it;
        const char *next;
        struct req r;

        req_init(&r, c, SVC_QUEUE, "GET");
        if (buf_addc(&r.path, '/') < 0)
            r.oom = true;
        req_query(&r, "comp", "list");
        if (prefix && *prefix)
            req_query(&r, "prefix", prefix);
        req_query(&r, "include", "metadata");
        if (marker)
            req_query(&r, "marker", marker);
        free(marker);
        marker = NULL;
        rc = listxml_fetch(c, &r, &root);
        qs = rc == 0 ? xml_child(root, "Queues") : NULL;
        for (it = qs ? qs->child : NULL; it && rc == 0; it = it->next) {
            struct shoal_kv *meta = NULL;
            size_t nmeta = 0;
            const char *name = listxml_text(it, "Name");

            if (strcmp(it->name, "Queue") != 0 || !name)
                continue;
            if (listxml_meta(xml_child(it, "Metadata"), &meta, &nmeta) < 0) {
                rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
                break;
            }
            if (fn(name, meta, nmeta, ctx) != 0)
                rc = client_fail(c, SHOAL_ERR_CANCELLED, "listing stopped");
            free(meta);
        }
        next = rc == 0 ? listxml_text(root, "NextMarker") : NULL;
        if (next && *next) {
            marker = strdup(next);
            if (!marker)
                rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        }
        xml_free(root);
        req_release(&r);
    } while (rc == 0 && marker);
    free(marker);
    return rc;
}

/* Turn a <QueueMessagesList> reply into messages. */
static int parse_messages(shoal_client *c, struct req *r,
                          struct shoal_messages **out)
{
    struct xml_node *root = NULL;
    const struct xml_node *it;
    struct msgs_box *b = NULL;
    size_t n = 0, bytes;
    bool oom = false;
    int rc;

    rc = listxml_fetch(c, r, &root);
    if (rc < 0)
        return rc;
    if (strcmp(root->name, "QueueMessagesList") != 0) {
        rc = client_fail(c, SHOAL_ERR_PROTOCOL, "unexpected <%s> reply",
                         root->name);
        goto out;
    }
    for (it = root->child; it; it = it->next)
        n++;
    b = calloc(1, sizeof(*b));
    if (!b || !size_mul(n + 1, sizeof(*b->pub.v), &bytes)) {
        rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        goto out;
    }
    b->pub.v = calloc(1, bytes);
    if (!b->pub.v || !arena_take(&b->arena, b->pub.v)) {
        free(b->pub.v);
        b->pub.v = NULL;
        rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (it = root->child; it; it = it->next) {
        struct shoal_message *m = &b->pub.v[b->pub.n];
        const char *dq;
        uint64_t d;

        if (strcmp(it->name, "QueueMessage") != 0)
            continue;
#define COPY(field, elem) \
    m->field = arena_strdup(&b->arena, listxml_text(it, elem), &oom)
        COPY(id, "MessageId");
        COPY(pop_receipt, "PopReceipt");
        COPY(text, "MessageText");
        COPY(insertion_time, "InsertionTime");
        COPY(expiration_time, "ExpirationTime");
        COPY(next_visible, "TimeNextVisible");
#undef COPY
        dq = listxml_text(it, "DequeueCount");
        if (dq && parse_u64(dq, 0, INT64_MAX, &d) == 0)
            m->dequeue_count = (int64_t)d;
        b->pub.n++;
    }
    if (oom) {
        rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        goto out;
    }
    *out = &b->pub;
    b = NULL;
out:
    if (b)
        shoal_messages_free(&b->pub);
    xml_free(root);
    return rc;
}

static int message_body(struct req *r, const char *text, struct buf *body)
{
    if (buf_adds(body, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                       "<QueueMessage>") < 0 ||
        xml_elem(body, "MessageText", text) < 0 ||
        buf_adds(body, "</QueueMessage>") < 0) {
        r->oom = true;
        return SHOAL_ERR_NOMEM;
    }
    r->body = body->data;
    r->body_len = body->len;
    req_header(r, "Content-Type", "application/xml");
    return 0;
}

int shoal_queue_put(shoal_client *c, const char *queue, const char *text,
                    int visibility_s, int ttl_s, struct shoal_messages **out)
{
    struct buf body = BUF_INIT;
    struct shoal_messages *m = NULL;
    struct req r;
    int rc;

    if (!text)
        return client_fail(c, SHOAL_ERR_INVALID, "no message text");
    rc = queue_req(c, &r, "POST", queue, true, NULL);
    if (rc < 0)
        return rc;
    if (visibility_s > 0)
        query_int(&r, "visibilitytimeout", visibility_s);
    if (ttl_s != 0)
        query_int(&r, "messagettl", ttl_s);
    message_body(&r, text, &body);
    rc = parse_messages(c, &r, &m);
    if (rc == 0) {
        if (out)
            *out = m;
        else
            shoal_messages_free(m);
    }
    req_release(&r);
    buf_release(&body);
    return rc;
}

int shoal_queue_get(shoal_client *c, const char *queue, int n, int visibility_s,
                    struct shoal_messages **out)
{
    struct req r;
    int rc;

    if (n < 1 || n > 32)
        return client_fail(c, SHOAL_ERR_INVALID, "message count must be 1..32");
    rc = queue_req(c, &r, "GET", queue, true, NULL);
    if (rc < 0)
        return rc;
    query_int(&r, "numofmessages", n);
    if (visibility_s > 0)
        query_int(&r, "visibilitytimeout", visibility_s);
    rc = parse_messages(c, &r, out);
    req_release(&r);
    return rc;
}

int shoal_queue_peek(shoal_client *c, const char *queue, int n,
                     struct shoal_messages **out)
{
    struct req r;
    int rc;

    if (n < 1 || n > 32)
        return client_fail(c, SHOAL_ERR_INVALID, "message count must be 1..32");
    rc = queue_req(c, &r, "GET", queue, true, NULL);
    if (rc < 0)
        return rc;
    req_query(&r, "peekonly", "true");
    query_int(&r, "numofmessages", n);
    rc = parse_messages(c, &r, out);
    req_release(&r);
    return rc;
}

int shoal_queue_update(shoal_client *c, const char *queue, const char *id,
                       const char *pop_receipt, const char *text,
                       int visibility_s, char **pop_receipt_out)
{
    struct buf body = BUF_INIT;
    const char *v;
    struct req r;
    int rc;

    if (!id || !pop_receipt || visibility_s < 0)
        return client_fail(
            c, SHOAL_ERR_INVALID,
            "update needs an id, a pop receipt and a visibility");
    rc = queue_req(c, &r, "PUT", queue, true, id);
    if (rc < 0)
        return rc;
    req_query(&r, "popreceipt", pop_receipt);
    query_int(&r, "visibilitytimeout", visibility_s);
    if (text)
        message_body(&r, text, &body);
    rc = transport_send(c, &r);
    if (rc == 0 && pop_receipt_out) {
        v = req_reply_header(&r, "x-ms-popreceipt");
        if (!v) {
            rc = client_fail(c, SHOAL_ERR_PROTOCOL,
                             "no pop receipt in the reply");
        } else {
            *pop_receipt_out = strdup(v);
            if (!*pop_receipt_out)
                rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        }
    }
    req_release(&r);
    buf_release(&body);
    return rc;
}

int shoal_queue_delete_message(shoal_client *c, const char *queue,
                               const char *id, const char *pop_receipt)
{
    struct req r;
    int rc;

    if (!id || !pop_receipt)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "delete needs an id and a pop receipt");
    rc = queue_req(c, &r, "DELETE", queue, true, id);
    if (rc < 0)
        return rc;
    req_query(&r, "popreceipt", pop_receipt);
    rc = transport_send(c, &r);
    req_release(&r);
    return rc;
}

int shoal_queue_clear(shoal_client *c, const char *queue)
{
    struct req r;
    int rc;

    rc = queue_req(c, &r, "DELETE", queue, true, NULL);
    if (rc < 0)
        return rc;
    rc = transport_send(c, &r);
    req_release(&r);
    return rc;
}
