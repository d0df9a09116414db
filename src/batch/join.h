#ifndef SHOAL_BATCH_JOIN_H
#define SHOAL_BATCH_JOIN_H

struct batch_service;
struct http_req;

/*
 * Remote nodes (private to batch/; see join.c for the design note): the
 * join token of a jointoken pool, over the REST API, and the exchange in
 * which an agent on another machine trades it for a node of its own.
 */

/* Largest body of a join request. */
#define JOIN_BODY_MAX (64u << 10)

/*
 * /pools/{p}/jointoken (route R_POOL_JOINTOKEN): POST makes a new token
 * (the previous one stops working) and answers it, once, with the URL to
 * join; GET tells whether the pool has one and since when (never the token:
 * only its hash is kept); DELETE revokes it. Nodes that joined keep
 * working: each has its own node token. Runs from batch_api.c's end().
 */
void join_api_handle(struct http_req *req);

/*
 * POST /_node/v1/join with "Authorization: Bearer JOIN-TOKEN": create a
 * node in the pool whose join token this is, and answer its id and node
 * token (docs/node-protocol.md). 403 AuthenticationFailed for a token no
 * pool has. Runs from agent_api.c's end().
 */
void join_agent(struct http_req *req, struct batch_service *s);

#endif
