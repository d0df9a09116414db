// Webhook delivery: signature, retries with backoff and Retry-After, dead
// letters (non-retryable status, max attempts) and replay
// (notifications.md §2.2, §5.3, §5.4; notify.c).
//
// The event delivered is the endpoint's own Registration message (the
// first message every endpoint gets), so no job is needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, waitFor } from './lib/server.mjs';
import { batchFetch, errCode } from './lib/batchsign.mjs';
import { startWebhook } from './lib/webhook.mjs';

let srv;
const hooks = [];

before(async () => {
  srv = await startServer({
    name: 'notify-webhook',
    args: ['--set', 'notify.backoff_base_ms=20', '--set', 'notify.backoff_cap_ms=100',
      '--set', 'notify.max_attempts=3'],
  });
});

after(async () => {
  for (const h of hooks) await h.close();
  if (srv) await srv.stop();
});

async function hook(answers, dflt) {
  const h = await startWebhook(answers, dflt);
  hooks.push(h);
  return h;
}

async function createWebhook(name, url) {
  const r = await batchFetch(srv, 'POST', '/notificationendpoints',
    { body: { name, endpointType: 'webhook', endpointAddress: url } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

function epPath(ep, rest = '') {
  return `/notificationendpoints/${encodeURIComponent(ep.id)}${rest}`;
}

async function getEndpoint(ep) {
  const r = await batchFetch(srv, 'GET', epPath(ep));
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// Poll until the endpoint has nothing left to deliver.
function drained(ep) {
  return waitFor(async () => (await getEndpoint(ep)).pendingDeliveries === 0,
    { what: 'the outbox to drain' });
}

function deadLetters(ep) {
  return batchFetch(srv, 'GET', epPath(ep, '/deadletters'));
}

function expectedSignature(signingKey, body) {
  return 'sha256=' + crypto.createHmac('sha256', Buffer.from(signingKey, 'base64'))
    .update(Buffer.from(body, 'utf8')).digest('hex').toUpperCase();
}

test('webhook: create returns a 64-byte signing key, never shown again', async () => {
  const h = await hook([], 200);
  const ep = await createWebhook('keyed', h.url);
  assert.equal(ep.endpointType, 'webhook');
  assert.equal(ep.endpointAddress, h.url);
  assert.equal(Buffer.from(ep.signingKey, 'base64').length, 64);
  const g = await getEndpoint(ep);
  assert.equal(g.signingKey, undefined);
  const list = await batchFetch(srv, 'GET', '/notificationendpoints');
  for (const e of list.json.value) assert.equal(e.signingKey, undefined);
  await drained(ep);
  const other = await createWebhook('keyed-2', h.url);
  assert.notEqual(other.signingKey, ep.signingKey);
  await drained(other);
});

test('webhook: 503, then 429 with Retry-After, then 200: one signed delivery', async () => {
  const h = await hook([503, { status: 429, retryAfter: 1 }, 200], 200);
  const ep = await createWebhook('retrying', h.url);
  await drained(ep);
  assert.equal(h.requests.length, 3, h.requests.map((r) => r.status).join(','));
  assert.deepEqual(h.requests.map((r) => r.status), [503, 429, 200]);
  const ok = h.requests.filter((r) => r.status === 200);
  assert.equal(ok.length, 1, 'exactly one successful delivery');
  const etag = h.requests[0].headers['x-shoal-etag'];
  assert.match(etag, /^[0-9a-f]{64}$/);
  for (const r of h.requests) {
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/hook');
    assert.match(r.headers['content-type'], /^application\/json/);
    // Every attempt is the same event: same ETag, sequence and body.
    assert.equal(r.headers['x-shoal-etag'], etag);
    assert.equal(r.headers['x-shoal-event-seq'], h.requests[0].headers['x-shoal-event-seq']);
    assert.equal(r.body, h.requests[0].body);
    assert.equal(r.headers['ms-signature'], expectedSignature(ep.signingKey, r.body),
      'ms-signature is HMAC-SHA256(key, raw body), upper-case hex');
  }
  // A signature made with another key does not match (the check can fail).
  assert.notEqual(h.requests[0].headers['ms-signature'],
    expectedSignature(Buffer.alloc(64, 1).toString('base64'), h.requests[0].body));
  const m = JSON.parse(ok[0].body);
  assert.equal(m.MessageVersion, '1.1');
  assert.equal(m.EventType, 2, 'Registration is event type 2 on webhooks');
  assert.equal(m.ETag, etag);
  assert.match(m.TimeStamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
  assert.equal(m.Properties.State, 'Registered');
  assert.equal(m.Properties.NotificationEndPointId, ep.id);
  // AccountId: a GUID, the same in the header a receiver checks it against
  assert.match(m.Properties.AccountId, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  for (const r of h.requests) assert.equal(r.headers['ms-mediaservices-accountid'], m.Properties.AccountId);
  assert.equal(m.Properties.Name, 'retrying');
  assert.equal(m.Properties.Sequence, h.requests[0].headers['x-shoal-event-seq']);
  // Retry-After: 1 is a floor for the next attempt (backoff alone is
  // <= 100 ms here). A lower bound, which slowness cannot break.
  assert.ok(h.requests[2].at - h.requests[1].at >= 950,
    `retried ${h.requests[2].at - h.requests[1].at} ms after a 429 with Retry-After: 1`);
  const dl = await deadLetters(ep);
  assert.deepEqual(dl.json.value, []);
  // The same event on the watch stream has the same ETag.
  const ev = await batchFetch(srv, 'GET', '/events?since=0&timeout=0');
  const same = ev.json.value.find((e) => e.entityId === ep.id && e.properties.State === 'Registered');
  assert.equal(same.etag, etag);
});

test('webhook: transport errors are retried', async () => {
  const h = await hook([{ reset: true }, { reset: true }], 204);
  const ep = await createWebhook('resets', h.url);
  await drained(ep);
  assert.deepEqual(h.requests.map((r) => r.status), ['reset', 'reset', 204]);
  assert.deepEqual((await deadLetters(ep)).json.value, []);
});

test('webhook: 400 dead-letters at once; replay delivers it', async () => {
  const h = await hook([400], 200);
  const ep = await createWebhook('rejecting', h.url);
  const dl = await waitFor(async () => {
    const r = await deadLetters(ep);
    assert.equal(r.status, 200, r.text);
    return r.json.value.length ? r.json.value : null;
  }, { what: 'a dead letter' });
  assert.equal(h.requests.length, 1, 'no retry after a 400');
  assert.equal(dl.length, 1);
  const d = dl[0];
  assert.equal(d.deadLetterReason, 'NonRetryableStatus');
  assert.equal(d.deliveryAttempts, 1);
  assert.equal(d.lastDeliveryOutcome, 'HTTP 400');
  assert.equal(String(d.sequence), h.requests[0].headers['x-shoal-event-seq']);
  assert.match(d.deadLetterTime, /Z$/);
  assert.match(d.publishTime, /Z$/);
  let g = await getEndpoint(ep);
  assert.equal(g.deadLetters, 1);
  assert.equal(g.pendingDeliveries, 0);

  const rp = await batchFetch(srv, 'POST', epPath(ep, '/deadletters/replay'));
  assert.equal(rp.status, 204, rp.text);
  await h.waitForRequests(2);
  await drained(ep);
  assert.equal(h.requests.length, 2);
  assert.equal(h.requests[1].status, 200);
  assert.equal(h.requests[1].headers['x-shoal-etag'], h.requests[0].headers['x-shoal-etag'],
    'a replay is the same event');
  assert.equal(h.requests[1].headers['ms-signature'], expectedSignature(ep.signingKey, h.requests[1].body));
  assert.deepEqual((await deadLetters(ep)).json.value, []);
  g = await getEndpoint(ep);
  assert.equal(g.deadLetters, 0);
  // Replaying nothing is harmless.
  const rp2 = await batchFetch(srv, 'POST', epPath(ep, '/deadletters/replay'));
  assert.equal(rp2.status, 204);
  await drained(ep);
  assert.equal(h.requests.length, 2);
});

test('webhook: 401, 403, 410 and 413 are not retried either', async () => {
  for (const status of [401, 403, 410, 413]) {
    const h = await hook([status], 200);
    const ep = await createWebhook(`reject-${status}`, h.url);
    const dl = await waitFor(async () => {
      const r = await deadLetters(ep);
      return r.json.value.length ? r.json.value : null;
    }, { what: `a dead letter after ${status}` });
    assert.equal(dl[0].deadLetterReason, 'NonRetryableStatus', `${status}`);
    assert.equal(dl[0].deliveryAttempts, 1);
    assert.equal(h.requests.length, 1);
  }
});

test('webhook: 404 and 408 are retried', async () => {
  const h = await hook([404, 408], 200);
  const ep = await createWebhook('retry-4xx', h.url);
  await drained(ep);
  assert.deepEqual(h.requests.map((r) => r.status), [404, 408, 200]);
  assert.deepEqual((await deadLetters(ep)).json.value, []);
});

test('webhook: always 500 dead-letters after exactly max_attempts', async () => {
  const h = await hook([], 500);
  const ep = await createWebhook('failing', h.url);
  const dl = await waitFor(async () => {
    const r = await deadLetters(ep);
    return r.json.value.length ? r.json.value : null;
  }, { what: 'MaxDeliveryAttemptsExceeded' });
  assert.equal(dl.length, 1);
  assert.equal(dl[0].deadLetterReason, 'MaxDeliveryAttemptsExceeded');
  assert.equal(dl[0].deliveryAttempts, 3);
  assert.equal(dl[0].lastDeliveryOutcome, 'HTTP 500');
  // The dead letter is written in the transaction that records the third
  // answer, and nothing is left to send: no fourth attempt can follow.
  assert.equal((await getEndpoint(ep)).pendingDeliveries, 0);
  assert.equal(h.requests.length, 3);
  const etags = new Set(h.requests.map((r) => r.headers['x-shoal-etag']));
  assert.equal(etags.size, 1);
});

test('webhook: a failing endpoint does not hold up another', async () => {
  const slow = await hook([], 503);
  const fine = await hook([], 200);
  const a = await createWebhook('stuck', slow.url);
  const b = await createWebhook('fine', fine.url);
  await drained(b);
  assert.equal(fine.requests.length, 1);
  // The stuck one dead-letters (max 3 attempts) in its own time.
  await waitFor(async () => (await deadLetters(a)).json.value.length === 1, { what: 'stuck dead letter' });
});

test('webhook: a receiver that never answers holds up no other endpoint', async () => {
  // The POST to the silent receiver stays open (the client timeout is
  // 30 s); meanwhile other endpoints, queue and webhook, are served.
  const silent = await hook([{ hang: true }], 200);
  const fine = await hook([], 200);
  const a = await createWebhook('silent', silent.url);
  await silent.waitForRequests(1);
  const b = await createWebhook('served', fine.url);
  const q = await batchFetch(srv, 'POST', '/notificationendpoints',
    { body: { name: 'served-q', endpointType: 'queue', endpointAddress: 'served-q' } });
  assert.equal(q.status, 201, q.text);
  await drained(b);
  await drained(q.json);
  assert.equal(fine.requests.length, 1);
  assert.equal((await getEndpoint(a)).pendingDeliveries, 1, 'the silent one is still in flight');
  assert.equal(silent.requests.length, 1, 'one request at a time per endpoint');
  // Cut the hung connection: a transport error, retried, then 200.
  silent.release();
  await drained(a);
  assert.deepEqual(silent.requests.map((r) => r.status), ['hang', 200]);
});

test('webhook: delete sends Unregistration (type 3) after pending messages, in order', async () => {
  const h = await hook([503], 200);
  const ep = await createWebhook('leaving', h.url);
  const d = await batchFetch(srv, 'DELETE', epPath(ep));
  assert.equal(d.status, 200, d.text);
  await waitFor(() => h.requests.filter((r) => r.status === 200).length >= 2, { what: 'two deliveries' });
  const delivered = h.requests.filter((r) => r.status === 200).map((r) => JSON.parse(r.body));
  assert.equal(delivered.length, 2);
  assert.equal(delivered[0].EventType, 2);
  assert.equal(delivered[0].Properties.State, 'Registered');
  assert.equal(delivered[1].EventType, 3);
  assert.equal(delivered[1].Properties.State, 'Unregistered');
  assert.ok(Number(delivered[1].Properties.Sequence) > Number(delivered[0].Properties.Sequence));
  const g = await batchFetch(srv, 'GET', epPath(ep));
  assert.equal(g.status, 404);
  assert.equal(errCode(g), 'NotificationEndPointNotFound');
});

test('webhook: past notify.ttl_s a failing message dead-letters as TimeToLiveExceeded', async () => {
  const ttlSrv = await startServer({
    name: 'notify-webhook-ttl',
    args: ['--set', 'notify.backoff_base_ms=50', '--set', 'notify.backoff_cap_ms=200',
      '--set', 'notify.max_attempts=1000000', '--set', 'notify.ttl_s=1'],
  });
  try {
    const h = await hook([], 503);
    const r = await batchFetch(ttlSrv, 'POST', '/notificationendpoints',
      { body: { name: 'short-lived', endpointType: 'webhook', endpointAddress: h.url } });
    assert.equal(r.status, 201, r.text);
    const path = `/notificationendpoints/${encodeURIComponent(r.json.id)}/deadletters`;
    const dl = await waitFor(async () => {
      const x = await batchFetch(ttlSrv, 'GET', path);
      return x.json.value.length ? x.json.value : null;
    }, { what: 'TimeToLiveExceeded' });
    assert.equal(dl.length, 1);
    assert.equal(dl[0].deadLetterReason, 'TimeToLiveExceeded');
    assert.equal(dl[0].deliveryAttempts, h.requests.length);
    assert.ok(h.requests.length >= 2, `${h.requests.length} attempts`);
    assert.equal(dl[0].lastDeliveryOutcome, 'HTTP 503');
  } finally {
    await ttlSrv.stop();
  }
});

test('webhook: the server is still up', async () => {
  assert.equal(srv.exited(), null);
  const r = await batchFetch(srv, 'GET', '/notificationendpoints');
  assert.equal(r.status, 200);
});
