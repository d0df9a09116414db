#ifndef SHOAL_NODE_LINK_H
#define SHOAL_NODE_LINK_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * The agent's HTTP client for the node protocol (see link.c): one libcurl
 * easy handle, kept alive, per struct link. Not thread-safe: each thread
 * that talks to shoald (the sync loop, a worker sending a kick) has its
 * own link.
 */
struct link;

/* base_url "http://host:port"; token and node are copied. */
struct link *link_new(const char *base_url, const char *token,
                      const char *node_id);
void link_free(struct link *l);
/* Verify an https server with the certificates in PEM file ca_file (NULL:
 * the system's). */
void link_set_ca(struct link *l, const char *ca_file);
/* Point at another server (after re-reading the server file). */
void link_set_base(struct link *l, const char *base_url);
const char *link_base(const struct link *l);

/*
 * POST body to base_url + path with the node headers. Returns 0 and fills
 * *status and resp (appended) when an HTTP response came back (any
 * status), or -ERR_IO when the exchange failed (connection refused, reset,
 * timeout after timeout_ms).
 */
int link_post(struct link *l, const char *path, const char *body, size_t len,
              long timeout_ms, long *status, struct buf *resp);

/*
 * Like link_post, but the body is head (head_len bytes) then len bytes of
 * fd from off (pread: fd's position is not used; fd < 0: head only),
 * read as they are sent, never held in memory. No total time limit: the
 * exchange fails when it moves less than a byte a second for stall_s
 * seconds, or when fd yields fewer than len bytes.
 */
int link_post_stream(struct link *l, const char *path, const char *head,
                     size_t head_len, int fd, uint64_t off, uint64_t len,
                     long stall_s, long *status, struct buf *resp);

#endif
