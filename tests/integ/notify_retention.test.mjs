// Event retention: pruned cursors answer 410 EventCursorExpired, young
// events are kept, and dead letters of a deleted endpoint do not pin the
// log forever (notifications.md §5.6; notify.c prune_events_locked).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, waitFor } from './lib/server.mjs';
import { batchFetch, batchSign, errCode } from './lib/batchsign.mjs';
import { startWebhook } from './lib/webhook.mjs';

const servers = [];
const hooks = [];

after(async () => {
  for (const h of hooks) await h.close();
  for (const s of servers) await s.stop();
});

async function createQueueEndpoint(srv, name) {
  const r = await batchFetch(srv, 'POST', '/notificationendpoints',
    { body: { name, endpointType: 'queue', endpointAddress: name } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function pending(srv, id) {
  const r = await batchFetch(srv, 'GET', `/notificationendpoints/${encodeURIComponent(id)}`);
  assert.equal(r.status, 200, r.text);
  return r.json.pendingDeliveries;
}

function sseStatus(srv, query, headers = {}) {
  const path = `/events?${query}`;
  const h = batchSign(srv, 'GET', path, { Accept: 'text/event-stream', ...headers });
  const u = new URL(srv.batchUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, headers: h, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('retention: a pruned cursor is 410 EventCursorExpired; the newest still works', async () => {
  const srv = await startServer({
    name: 'notify-retention',
    args: ['--set', 'events.retain_count=1', '--set', 'events.retain_s=1',
      '--set', 'events.prune_interval_ms=50'],
  });
  servers.push(srv);
  const eps = [];
  for (let i = 0; i < 4; i++) eps.push(await createQueueEndpoint(srv, `ret-q${i}`));
  // Without since, a watcher starts from now: that is never too old.
  const now = await batchFetch(srv, 'GET', '/events?timeout=0');
  assert.equal(now.status, 200, now.text);
  const last = now.json.lastSeq;
  assert.ok(last >= 4);
  // Events age out one pass at a time; wait until all but the newest went.
  await waitFor(async () => {
    const r = await batchFetch(srv, 'GET', `/events?since=${last - 2}&timeout=0`);
    return r.status === 410;
  }, { what: `410 for since=${last - 2}` });
  const gone = await batchFetch(srv, 'GET', '/events?since=0&timeout=0');
  assert.equal(gone.status, 410, gone.text);
  assert.equal(errCode(gone), 'EventCursorExpired');
  const details = Object.fromEntries((gone.json.values || []).map((v) => [v.key, v.value]));
  assert.equal(details.Since, '0');
  assert.equal(details.OldestAvailableAfter, String(last - 1));
  // The registrations are all delivered (their outbox rows no longer pin
  // the events), so only the newest is left, and from just before it the
  // cursor works.
  for (const ep of eps) assert.equal(await pending(srv, ep.id), 0);
  const nr = await batchFetch(srv, 'GET', `/events?since=${last - 1}&timeout=0`);
  assert.equal(nr.status, 200, nr.text);
  const newest = nr.json;
  assert.deepEqual(newest.value.map((e) => e.entityId), [eps[3].id]);
  assert.equal(newest.lastSeq, last);
  const r2 = await batchFetch(srv, 'GET', `/events?since=${newest.lastSeq}&timeout=0`);
  assert.equal(r2.status, 200, r2.text);
  assert.deepEqual(r2.json.value, []);
  const r3 = await batchFetch(srv, 'GET', '/events?timeout=0');
  assert.equal(r3.status, 200);
  assert.equal(r3.json.lastSeq, newest.lastSeq);
  // SSE: the same 410 before the stream starts.
  const s = await sseStatus(srv, 'since=0');
  assert.equal(s.status, 410);
  assert.match(s.text, /EventCursorExpired/);
  const s2 = await sseStatus(srv, '', { 'Last-Event-ID': '0' });
  assert.equal(s2.status, 410);
  // The cursor survives a restart (pruned_through is stored).
  await srv.restart();
  const r4 = await batchFetch(srv, 'GET', '/events?since=0&timeout=0');
  assert.equal(r4.status, 410);
  const r5 = await batchFetch(srv, 'GET', `/events?since=${newest.lastSeq}&timeout=0`);
  assert.equal(r5.status, 200);
});

test('retention: young events are kept even past retain_count', async () => {
  // retain_count=1 but retain_s=3600: every event is young, so none may go.
  const srv = await startServer({
    name: 'notify-retention-young',
    args: ['--set', 'events.retain_count=1', '--set', 'events.retain_s=3600',
      '--set', 'events.prune_interval_ms=20'],
  });
  servers.push(srv);
  const eps = [];
  for (let i = 0; i < 3; i++) eps.push(await createQueueEndpoint(srv, `young-q${i}`));
  // Deleting an endpoint gives a marker that a pruning pass has run: the
  // deleted endpoint's row is reaped, in the same pass right after the
  // events are pruned, once its Unregistration is delivered; its
  // deadletters route then answers 404.
  const victim = eps[0].id;
  const d = await batchFetch(srv, 'DELETE', `/notificationendpoints/${encodeURIComponent(victim)}`);
  assert.equal(d.status, 200, d.text);
  await waitFor(async () => {
    const r = await batchFetch(srv, 'GET', `/notificationendpoints/${encodeURIComponent(victim)}/deadletters`);
    return r.status === 404;
  }, { what: 'the deleted endpoint to be reaped' });
  const r = await batchFetch(srv, 'GET', '/events?since=0&timeout=0');
  assert.equal(r.status, 200, `young events were pruned: ${r.text}`);
  assert.deepEqual(r.json.value.map((e) => e.entityId), [...eps.map((e) => e.id), victim]);
});

test('retention: dead letters of a deleted endpoint do not keep events forever', async () => {
  const srv = await startServer({
    name: 'notify-retention-dead',
    args: ['--set', 'events.retain_count=1', '--set', 'events.retain_s=1',
      '--set', 'events.prune_interval_ms=50'],
  });
  servers.push(srv);
  const h = await startWebhook([], 400); // every message dead-letters
  hooks.push(h);
  const c = await batchFetch(srv, 'POST', '/notificationendpoints',
    { body: { name: 'doomed', endpointType: 'webhook', endpointAddress: h.url } });
  assert.equal(c.status, 201, c.text);
  const id = encodeURIComponent(c.json.id);
  await waitFor(async () => (await batchFetch(srv, 'GET', `/notificationendpoints/${id}/deadletters`)).json.value.length === 1,
    { what: 'the registration dead letter' });
  // While the endpoint exists, its dead letter pins its event.
  const d = await batchFetch(srv, 'DELETE', `/notificationendpoints/${id}`);
  assert.equal(d.status, 200);
  await createQueueEndpoint(srv, 'dead-after-1');
  await createQueueEndpoint(srv, 'dead-after-2');
  // Once the endpoint is gone for good, nobody can list or replay its dead
  // letters, so they must not stop pruning: since=0 ends up 410.
  const r = await waitFor(async () => {
    const x = await batchFetch(srv, 'GET', '/events?since=0&timeout=0');
    return x.status === 410 ? x : null;
  }, { what: 'since=0 to expire after the endpoint is reaped' });
  assert.equal(errCode(r), 'EventCursorExpired');
  const g = await batchFetch(srv, 'GET', `/notificationendpoints/${id}/deadletters`);
  assert.equal(g.status, 404);
});
