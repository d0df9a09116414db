// Undelivered notifications survive SIGKILL: the outbox is written in the
// transaction that writes the event, so after a restart every message is
// delivered, once (notifications.md §5.2, §5.8 test 1; notify.c).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { QueueServiceClient } from '@azure/storage-queue';
import { startServer, waitFor } from './lib/server.mjs';
import { batchFetch } from './lib/batchsign.mjs';
import { startWebhook } from './lib/webhook.mjs';

const servers = [];
const hooks = [];

after(async () => {
  for (const h of hooks) await h.close();
  for (const s of servers) await s.stop();
});

async function endpoint(srv, id) {
  const r = await batchFetch(srv, 'GET', `/notificationendpoints/${encodeURIComponent(id)}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

test('restart: a webhook message undelivered at SIGKILL is delivered once after restart', async () => {
  const srv = await startServer({
    name: 'notify-restart-hook',
    args: ['--set', 'notify.backoff_base_ms=20', '--set', 'notify.backoff_cap_ms=200'],
  });
  servers.push(srv);
  // The receiver is "down": every connection is dropped unanswered.
  const h = await startWebhook([], { reset: true });
  hooks.push(h);
  const c = await batchFetch(srv, 'POST', '/notificationendpoints',
    { body: { name: 'survivor', endpointType: 'webhook', endpointAddress: h.url } });
  assert.equal(c.status, 201, c.text);
  const ep = c.json;
  await h.waitForRequests(2); // retried at least once before the crash
  const etag = h.requests[0].headers['x-shoal-etag'];
  assert.match(etag, /^[0-9a-f]{64}$/);
  assert.ok(h.requests.every((r) => r.headers['x-shoal-etag'] === etag));

  await srv.kill();
  const before = h.requests.length;
  h.script([], 200); // the receiver is back
  await srv.restartAfterKill();
  await waitFor(async () => (await endpoint(srv, ep.id)).pendingDeliveries === 0,
    { what: 'delivery after restart' });
  const ok = h.requests.filter((r) => r.status === 200);
  assert.equal(ok.length, 1, `answers: ${h.requests.map((r) => r.status).join(',')}`);
  assert.ok(h.requests.length > before, 'delivered by the restarted server');
  assert.equal(ok[0].headers['x-shoal-etag'], etag, 'the same event as before the crash');
  const m = JSON.parse(ok[0].body);
  assert.equal(m.ETag, etag);
  assert.equal(m.Properties.NotificationEndPointId, ep.id);
  assert.equal((await endpoint(srv, ep.id)).deadLetters, 0);
  // The attempts before the crash were counted, not forgotten: nothing
  // else is pending, and the endpoint is still the same one.
  const list = await batchFetch(srv, 'GET', '/notificationendpoints');
  assert.deepEqual(list.json.value.map((e) => e.id), [ep.id]);
});

test('restart: queue registrations are enqueued exactly once across SIGKILL', async () => {
  const srv = await startServer({ name: 'notify-restart-queue' });
  servers.push(srv);
  // Kill right after each 201: the message may or may not have been
  // enqueued yet. Either way the queue must end with exactly one copy.
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const c = await batchFetch(srv, 'POST', '/notificationendpoints',
      { body: { name: `q${i}`, endpointType: 'queue', endpointAddress: `restart-q${i}` } });
    assert.equal(c.status, 201, c.text);
    ids.push(c.json.id);
    await srv.restartAfterKill();
  }
  const qsc = QueueServiceClient.fromConnectionString(srv.connStr);
  for (let i = 0; i < 3; i++) {
    await waitFor(async () => (await endpoint(srv, ids[i])).pendingDeliveries === 0,
      { what: `registration ${i} delivered` });
    const p = await qsc.getQueueClient(`restart-q${i}`).peekMessages({ numberOfMessages: 32 });
    assert.equal(p.peekedMessageItems.length, 1, `queue restart-q${i}`);
    const m = JSON.parse(p.peekedMessageItems[0].messageText);
    assert.equal(m.Properties.NotificationEndPointId, ids[i]);
    assert.equal(m.Properties.State, 'Registered');
  }
  // The event log survived too, in order.
  const ev = await batchFetch(srv, 'GET', '/events?since=0&timeout=0');
  assert.deepEqual(ev.json.value.map((e) => e.entityId), ids);
});
