// Notification endpoints on a storage queue: registration and
// unregistration messages, list/get/delete, job subscriptions, and hostile
// input to the endpoint routes (notifications.md §2.1, §5.2; notify_api.c).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { QueueServiceClient } from '@azure/storage-queue';
import { startServer, waitFor } from './lib/server.mjs';
import { batchFetch, batchSign, errCode } from './lib/batchsign.mjs';

let srv;
let qsc;

before(async () => {
  srv = await startServer({ name: 'notify-endpoints' });
  qsc = QueueServiceClient.fromConnectionString(srv.connStr);
});

after(async () => {
  if (srv) await srv.stop();
});

const ISO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const HEX64 = /^[0-9a-f]{64}$/;

async function createQueueEndpoint(name, queue) {
  const r = await batchFetch(srv, 'POST', '/notificationendpoints',
    { body: { name, endpointType: 'queue', endpointAddress: queue } });
  assert.equal(r.status, 201, r.text);
  return r;
}

async function peekAll(queue) {
  const q = qsc.getQueueClient(queue);
  const r = await q.peekMessages({ numberOfMessages: 32 });
  return r.peekedMessageItems.map((m) => JSON.parse(m.messageText));
}

async function listEndpoints() {
  const r = await batchFetch(srv, 'GET', '/notificationendpoints');
  assert.equal(r.status, 200, r.text);
  return r.json.value;
}

async function lastSeq() {
  const r = await batchFetch(srv, 'GET', '/events?since=0&timeout=0');
  assert.equal(r.status, 200, r.text);
  return r.json.lastSeq;
}

test('queue endpoint: create answers 201 with an id and no signing key', async () => {
  const r = await createQueueEndpoint('first', 'notify-first');
  const ep = r.json;
  assert.match(ep.id, /^nb:nepid:UUID:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(ep.name, 'first');
  assert.equal(ep.endpointType, 'queue');
  assert.equal(ep.endpointAddress, 'notify-first');
  assert.match(ep.created, ISO_Z);
  assert.equal(ep.signingKey, undefined, 'a queue endpoint has no signing key');
  assert.equal(ep.base64, false);
  assert.ok(r.headers.location && r.headers.location.endsWith(`/notificationendpoints/${ep.id}`),
    `Location: ${r.headers.location}`);
});

test('queue endpoint: the queue is created and holds exactly one Registration message', async () => {
  const { json: ep } = await createQueueEndpoint('reg-check', 'notify-reg');
  const msgs = await waitFor(async () => {
    try {
      const m = await peekAll('notify-reg');
      return m.length ? m : null;
    } catch (e) {
      if (e.statusCode === 404) return null; // not delivered yet
      throw e;
    }
  }, { what: 'the registration message' });
  // Delivery is one transaction: once one message is there, it is all there.
  assert.equal(msgs.length, 1, JSON.stringify(msgs));
  const m = msgs[0];
  assert.equal(m.MessageVersion, '1.0');
  assert.equal(m.EventType, 'NotificationEndPointRegistration');
  assert.match(m.ETag, HEX64);
  assert.match(m.TimeStamp, ISO_Z);
  assert.equal(m.Properties.State, 'Registered');
  assert.equal(m.Properties.Name, 'reg-check');
  assert.equal(m.Properties.NotificationEndPointId, ep.id);
  assert.match(m.Properties.Created, ISO_Z);
  assert.match(m.Properties.Sequence, /^[1-9][0-9]*$/);
  // The watch stream carries the same event with the same ETag.
  const ev = await batchFetch(srv, 'GET', '/events?since=0&timeout=0');
  const same = ev.json.value.find((e) => e.entityId === ep.id);
  assert.ok(same, 'registration event on the watch stream');
  assert.equal(same.etag, m.ETag);
  assert.equal(String(same.sequence), m.Properties.Sequence);
  // And the endpoint reports nothing pending once delivered.
  const g = await batchFetch(srv, 'GET', `/notificationendpoints/${encodeURIComponent(ep.id)}`);
  assert.equal(g.status, 200);
  assert.equal(g.json.pendingDeliveries, 0);
  assert.equal(g.json.deadLetters, 0);
});

test('queue endpoint: an existing queue is used as is', async () => {
  const q = qsc.getQueueClient('notify-existing');
  await q.create();
  await q.sendMessage('already here');
  await createQueueEndpoint('existing', 'notify-existing');
  const msgs = await waitFor(async () => {
    const r = await q.peekMessages({ numberOfMessages: 32 });
    return r.peekedMessageItems.length >= 2 ? r.peekedMessageItems : null;
  }, { what: 'registration in an existing queue' });
  assert.equal(msgs.length, 2);
  assert.equal(msgs[0].messageText, 'already here');
  assert.equal(JSON.parse(msgs[1].messageText).Properties.State, 'Registered');
});

test('queue endpoint: GET list and GET by id', async () => {
  const { json: a } = await createQueueEndpoint('list-a', 'notify-list-a');
  const { json: b } = await createQueueEndpoint('list-b', 'notify-list-b');
  const all = await listEndpoints();
  const ids = all.map((e) => e.id);
  assert.ok(ids.includes(a.id) && ids.includes(b.id), JSON.stringify(ids));
  for (const e of all) assert.equal(e.signingKey, undefined);
  const g = await batchFetch(srv, 'GET', `/notificationendpoints/${encodeURIComponent(a.id)}`);
  assert.equal(g.status, 200, g.text);
  assert.equal(g.json.id, a.id);
  assert.equal(g.json.name, 'list-a');
  assert.equal(g.json.endpointAddress, 'notify-list-a');
  // The raw (unencoded) id works too: ':' needs no escaping in a path.
  const g2 = await batchFetch(srv, 'GET', `/notificationendpoints/${a.id}`);
  assert.equal(g2.status, 200, g2.text);
  assert.equal(g2.json.id, a.id);
});

test('queue endpoint: DELETE sends Unregistration and the endpoint is gone', async () => {
  const { json: ep } = await createQueueEndpoint('to-delete', 'notify-del');
  await waitFor(async () => {
    try { return (await peekAll('notify-del')).length === 1; } catch { return false; }
  }, { what: 'the registration message' });
  const d = await batchFetch(srv, 'DELETE', `/notificationendpoints/${encodeURIComponent(ep.id)}`);
  assert.equal(d.status, 200, d.text);
  const msgs = await waitFor(async () => {
    const m = await peekAll('notify-del');
    return m.length >= 2 ? m : null;
  }, { what: 'the unregistration message' });
  assert.equal(msgs.length, 2, JSON.stringify(msgs));
  const [reg, unreg] = msgs;
  assert.equal(unreg.EventType, 'NotificationEndPointRegistration');
  assert.equal(unreg.Properties.State, 'Unregistered');
  assert.equal(unreg.Properties.NotificationEndPointId, ep.id);
  assert.equal(unreg.Properties.Name, 'to-delete');
  assert.equal(unreg.Properties.Created, reg.Properties.Created);
  assert.match(unreg.ETag, HEX64);
  assert.notEqual(unreg.ETag, reg.ETag);
  assert.ok(Number(unreg.Properties.Sequence) > Number(reg.Properties.Sequence));

  const g = await batchFetch(srv, 'GET', `/notificationendpoints/${encodeURIComponent(ep.id)}`);
  assert.equal(g.status, 404);
  assert.equal(errCode(g), 'NotificationEndPointNotFound');
  assert.ok(!(await listEndpoints()).some((e) => e.id === ep.id));
  const d2 = await batchFetch(srv, 'DELETE', `/notificationendpoints/${encodeURIComponent(ep.id)}`);
  assert.equal(d2.status, 404, 'a second delete finds nothing');
  assert.equal(errCode(d2), 'NotificationEndPointNotFound');
});

test('queue endpoint: a queue deleted under it dead-letters as QueueNotFound, not re-created', async () => {
  const { json: ep } = await createQueueEndpoint('orphan', 'notify-orphan');
  const q = qsc.getQueueClient('notify-orphan');
  await waitFor(async () => {
    try { return (await peekAll('notify-orphan')).length === 1; } catch { return false; }
  }, { what: 'the registration message' });
  await q.delete();
  const d = await batchFetch(srv, 'DELETE', `/notificationendpoints/${encodeURIComponent(ep.id)}`);
  assert.equal(d.status, 200, d.text);
  // The deleted endpoint's dead letters stay listable until it is reaped
  // (at the next pruning pass, a minute away with the default settings).
  const dl = await waitFor(async () => {
    const r = await batchFetch(srv, 'GET', `/notificationendpoints/${encodeURIComponent(ep.id)}/deadletters`);
    assert.equal(r.status, 200, r.text);
    return r.json.value.length ? r.json.value : null;
  }, { what: 'the QueueNotFound dead letter' });
  assert.equal(dl[0].deadLetterReason, 'QueueNotFound');
  assert.equal(dl[0].deliveryAttempts, 1);
  let exists = true;
  try { await q.getProperties(); } catch (e) { exists = e.statusCode !== 404; }
  assert.equal(exists, false, 'the queue was re-created');
});

test('queue endpoint: base64 option encodes the message text', async () => {
  const r = await batchFetch(srv, 'POST', '/notificationendpoints',
    { body: { name: 'b64', endpointType: 'queue', endpointAddress: 'notify-b64', base64: true } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.base64, true);
  const q = qsc.getQueueClient('notify-b64');
  const items = await waitFor(async () => {
    try {
      const p = await q.peekMessages({ numberOfMessages: 32 });
      return p.peekedMessageItems.length ? p.peekedMessageItems : null;
    } catch { return null; }
  }, { what: 'base64 registration' });
  assert.equal(items.length, 1);
  const m = JSON.parse(Buffer.from(items[0].messageText, 'base64').toString('utf8'));
  assert.equal(m.Properties.State, 'Registered');
  assert.equal(m.Properties.NotificationEndPointId, r.json.id);
});

test('subscriptions: PUT and GET on a job, cleared by endpoint delete', async () => {
  const { json: ep } = await createQueueEndpoint('subs', 'notify-subs');
  const path = '/jobs/notify-job-1/notificationsubscriptions';
  const g0 = await batchFetch(srv, 'GET', path);
  // The job lookup may not be wired to the batch service yet: an unknown
  // job then answers like a known one. Only a 200 can be checked further.
  if (g0.status !== 200) {
    assert.equal(g0.status, 404);
    assert.equal(errCode(g0), 'JobNotFound');
    return;
  }
  assert.deepEqual(g0.json.value, []);
  const p = await batchFetch(srv, 'PUT', path,
    { body: { value: [{ notificationEndPointId: ep.id, targetJobState: 'All' }] } });
  assert.equal(p.status, 200, p.text);
  let g = await batchFetch(srv, 'GET', path);
  assert.deepEqual(g.json.value, [{ notificationEndPointId: ep.id, targetJobState: 'All' }]);
  // Job ids are case-insensitive.
  g = await batchFetch(srv, 'GET', '/jobs/NOTIFY-JOB-1/notificationsubscriptions');
  assert.equal(g.json.value.length, 1);
  // Numeric target (AMS NotificationJobState) and replacement.
  const p2 = await batchFetch(srv, 'PUT', path,
    { body: { value: [{ notificationEndPointId: ep.id, targetJobState: 1 }] } });
  assert.equal(p2.status, 200, p2.text);
  g = await batchFetch(srv, 'GET', path);
  assert.deepEqual(g.json.value, [{ notificationEndPointId: ep.id, targetJobState: 'FinalStatesOnly' }]);
  // Bad items change nothing.
  for (const bad of [
    { value: [{ notificationEndPointId: ep.id, targetJobState: 0 }] },
    { value: [{ notificationEndPointId: ep.id, targetJobState: 'Sometimes' }] },
    { value: [{ targetJobState: 'All' }] },
    { value: {} },
    { nope: [] },
  ]) {
    const r = await batchFetch(srv, 'PUT', path, { body: bad });
    assert.equal(r.status, 400, `${JSON.stringify(bad)} -> ${r.status} ${r.text}`);
  }
  const unknown = await batchFetch(srv, 'PUT', path, {
    body: { value: [{ notificationEndPointId: 'nb:nepid:UUID:00000000-0000-0000-0000-000000000000', targetJobState: 'All' }] },
  });
  assert.equal(unknown.status, 404, unknown.text);
  assert.equal(errCode(unknown), 'NotificationEndPointNotFound');
  g = await batchFetch(srv, 'GET', path);
  assert.deepEqual(g.json.value, [{ notificationEndPointId: ep.id, targetJobState: 'FinalStatesOnly' }]);
  // Deleting the endpoint drops its subscriptions.
  const d = await batchFetch(srv, 'DELETE', `/notificationendpoints/${encodeURIComponent(ep.id)}`);
  assert.equal(d.status, 200);
  g = await batchFetch(srv, 'GET', path);
  assert.deepEqual(g.json.value, []);
});

test('routing: a task named like the subscriptions route is not taken by notify', async () => {
  // Task ids may be "notificationsubscriptions"; only
  // /jobs/{id}/notificationsubscriptions (one segment) belongs to notify.
  const r = await batchFetch(srv, 'GET', '/jobs/j1/tasks/notificationsubscriptions?api-version=2024-07-01.20.0');
  assert.ok(!(r.status === 404 && errCode(r) === 'ResourceNotFound' &&
    /no such resource/.test(r.json.message.value)), `notify answered: ${r.text}`);
});

// ---- hostile input ------------------------------------------------------

test('hostile: bad bodies are 400 and register nothing', async () => {
  const before = await listEndpoints();
  const seq0 = await lastSeq();
  const cases = [
    ['not json', '{"name":', 'InvalidRequestBody'],
    ['array', '[]', 'InvalidRequestBody'],
    ['string', '"x"', 'InvalidRequestBody'],
    ['empty', '', 'InvalidRequestBody'],
    ['duplicate keys', '{"name":"a","name":"b","endpointType":"queue","endpointAddress":"dupq"}', 'InvalidRequestBody'],
    ['invalid utf-8', Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'InvalidRequestBody'],
    ['NUL escape in name', '{"name":"a\\u0000b","endpointType":"queue","endpointAddress":"nulq"}', 'InvalidRequestBody'],
    ['no name', '{"endpointType":"queue","endpointAddress":"noname"}', 'MissingRequiredProperty'],
    ['empty name', '{"name":"","endpointType":"queue","endpointAddress":"emptyname"}', 'MissingRequiredProperty'],
    ['long name', JSON.stringify({ name: 'n'.repeat(257), endpointType: 'queue', endpointAddress: 'longname' }), 'MissingRequiredProperty'],
    ['name not a string', '{"name":7,"endpointType":"queue","endpointAddress":"numname"}', 'MissingRequiredProperty'],
    ['no type', '{"name":"a","endpointAddress":"notype"}', 'InvalidPropertyValue'],
    ['table type', '{"name":"a","endpointType":2,"endpointAddress":"tabletype"}', 'InvalidPropertyValue'],
    ['unknown type', '{"name":"a","endpointType":"email","endpointAddress":"a@b.c"}', 'InvalidPropertyValue'],
    ['no address', '{"name":"a","endpointType":"queue"}', 'InvalidPropertyValue'],
  ];
  for (const [what, body, code] of cases) {
    const r = await batchFetch(srv, 'POST', '/notificationendpoints', { rawBody: body });
    assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
    assert.equal(errCode(r), code, `${what}: ${r.text}`);
  }
  assert.deepEqual((await listEndpoints()).map((e) => e.id), before.map((e) => e.id));
  assert.equal(await lastSeq(), seq0, 'no event was written');
});

test('hostile: invalid queue names and non-http webhook URLs are 400', async () => {
  const before = await listEndpoints();
  const seq0 = await lastSeq();
  const queues = ['ab', 'a'.repeat(64), 'Upper', '-lead', 'trail-', 'dou--ble', 'under_score',
    'sp ace', 'dot.ted', '../etc', 'q%2f', 'é-queue'];
  for (const q of queues) {
    const r = await batchFetch(srv, 'POST', '/notificationendpoints',
      { body: { name: 'bad', endpointType: 'queue', endpointAddress: q } });
    assert.equal(r.status, 400, `${q}: ${r.status} ${r.text}`);
    assert.equal(errCode(r), 'InvalidPropertyValue', q);
  }
  const urls = ['file:///etc/passwd', 'ftp://127.0.0.1/x', 'gopher://127.0.0.1:70/', 'dict://127.0.0.1/',
    'javascript:alert(1)', '127.0.0.1:80/hook', '', `http://${'a'.repeat(2100)}.example/`];
  for (const u of urls) {
    const r = await batchFetch(srv, 'POST', '/notificationendpoints',
      { body: { name: 'bad', endpointType: 'webhook', endpointAddress: u } });
    assert.equal(r.status, 400, `${u.slice(0, 40)}: ${r.status} ${r.text}`);
    assert.equal(errCode(r), 'InvalidPropertyValue', u.slice(0, 40));
  }
  assert.deepEqual((await listEndpoints()).map((e) => e.id), before.map((e) => e.id));
  assert.equal(await lastSeq(), seq0, 'no event was written');
  // None of the refused queues was created.
  const names = [];
  for await (const q of qsc.listQueues()) names.push(q.name);
  for (const q of queues) assert.ok(!names.includes(q), `queue ${q} exists`);
});

test('hostile: unknown endpoint ids and paths are 404, wrong verbs 405', async () => {
  const ghost = encodeURIComponent('nb:nepid:UUID:00000000-0000-0000-0000-000000000000');
  for (const [m, p] of [
    ['GET', `/notificationendpoints/${ghost}`],
    ['DELETE', `/notificationendpoints/${ghost}`],
    ['GET', `/notificationendpoints/${ghost}/deadletters`],
    ['POST', `/notificationendpoints/${ghost}/deadletters/replay`],
    ['GET', '/notificationendpoints/not-an-id'],
    ['GET', `/notificationendpoints/${'x'.repeat(300)}`],
    ['GET', '/notificationendpoints/%ZZ'],
  ]) {
    const r = await batchFetch(srv, m, p);
    assert.equal(r.status, 404, `${m} ${p}: ${r.status} ${r.text}`);
    assert.ok(['NotificationEndPointNotFound', 'ResourceNotFound'].includes(errCode(r)), r.text);
  }
  for (const [m, p] of [['PUT', '/notificationendpoints'], ['DELETE', '/notificationendpoints'],
    ['POST', '/events'], ['PATCH', `/notificationendpoints/${ghost}`]]) {
    const r = await batchFetch(srv, m, p, { body: {} });
    assert.equal(r.status, 405, `${m} ${p}: ${r.status} ${r.text}`);
    assert.equal(errCode(r), 'UnsupportedHttpVerb');
  }
});

test('hostile: authentication is required on every notify route', async () => {
  const seq0 = await lastSeq();
  const body = { name: 'sneaky', endpointType: 'queue', endpointAddress: 'notify-sneaky' };
  const wrongKey = Buffer.alloc(64, 7).toString('base64');
  for (const [m, p, b] of [['GET', '/events?since=0&timeout=0'], ['GET', '/notificationendpoints'],
    ['POST', '/notificationendpoints', body], ['GET', '/jobs/j/notificationsubscriptions']]) {
    const wrong = await batchFetch(srv, m, p, { body: b, key: wrongKey });
    assert.equal(wrong.status, 403, `${m} ${p} wrong key: ${wrong.text}`);
    assert.equal(errCode(wrong), 'AuthenticationFailed');
    const none = await batchFetch(srv, m, p, { body: b, noAuth: true });
    assert.ok([401, 403].includes(none.status), `${m} ${p} no auth: ${none.status} ${none.text}`);
    assert.ok(['InvalidAuthenticationInfo', 'AuthenticationFailed'].includes(errCode(none)), none.text);
    const other = await batchFetch(srv, m, p, { body: b, account: 'someoneelse' });
    assert.equal(other.status, 403, `${m} ${p} unknown account: ${other.text}`);
  }
  // A signature over another path does not carry over.
  const h = batchSign(srv, 'GET', '/notificationendpoints');
  const r = await new Promise((resolve, reject) => {
    const u = new URL(srv.batchUrl);
    http.request({ host: u.hostname, port: u.port, method: 'GET', path: '/events?since=0&timeout=0', headers: h },
      (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); }).on('error', reject).end();
  });
  assert.equal(r, 403);
  assert.equal(await lastSeq(), seq0);
  let exists = true;
  try { await qsc.getQueueClient('notify-sneaky').getProperties(); } catch (e) { exists = e.statusCode !== 404; }
  assert.equal(exists, false, 'an unauthenticated create made its queue');
});

test('hostile: bodies over 64 KiB are 413 and register nothing', async () => {
  const seq0 = await lastSeq();
  const big = JSON.stringify({ name: 'big', endpointType: 'queue', endpointAddress: 'notify-big', pad: 'x'.repeat(70 * 1024) });
  const r = await batchFetch(srv, 'POST', '/notificationendpoints', { rawBody: big });
  assert.equal(r.status, 413, r.text);
  assert.equal(errCode(r), 'RequestBodyTooLarge');
  const r2 = await batchFetch(srv, 'PUT', '/jobs/j/notificationsubscriptions',
    { rawBody: JSON.stringify({ value: [], pad: 'y'.repeat(100 * 1024) }) });
  assert.equal(r2.status, 413, r2.text);
  assert.equal(errCode(r2), 'RequestBodyTooLarge');
  // Just under the limit is fine (and then bounded by the name rules).
  const ok = JSON.stringify({ name: 'almost', endpointType: 'queue', endpointAddress: 'notify-almost', pad: 'z'.repeat(60 * 1024) });
  const r3 = await batchFetch(srv, 'POST', '/notificationendpoints', { rawBody: ok });
  assert.equal(r3.status, 201, r3.text);
  assert.equal(await lastSeq(), seq0 + 1, 'only the last create wrote an event');
  assert.ok(!(await listEndpoints()).some((e) => e.name === 'big'));
});

test('hostile: a chunked body over 64 KiB (no Content-Length) is 413 too', async () => {
  // The limit is found while the body streams in; the 413 must still
  // reach the client (not a dropped connection).
  const seq0 = await lastSeq();
  const path = '/notificationendpoints';
  const h = batchSign(srv, 'POST', path, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  const u = new URL(srv.batchUrl);
  const r = await new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path, headers: h, agent: false }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { t += c; });
      res.on('end', () => resolve({ status: res.statusCode, text: t }));
    });
    req.on('error', reject);
    req.write('{"name":"chunky","endpointType":"queue","endpointAddress":"notify-chunky","pad":"');
    for (let i = 0; i < 10; i++) req.write('c'.repeat(8192));
    req.end('"}');
  });
  assert.equal(r.status, 413, r.text);
  assert.equal(JSON.parse(r.text).code, 'RequestBodyTooLarge');
  assert.equal(await lastSeq(), seq0);
});

test('hostile: bad watch parameters are 400', async () => {
  for (const q of ['since=-1', 'since=abc', 'since=1e3', 'timeout=3601', 'timeout=-1', 'timeout=x',
    'types=Nope', 'types=JobStateChange,Nope', `types=${'A'.repeat(600)}`, `jobId=${'j'.repeat(300)}`]) {
    const r = await batchFetch(srv, 'GET', `/events?${q}`);
    assert.equal(r.status, 400, `${q}: ${r.status} ${r.text}`);
    assert.equal(errCode(r), 'InvalidQueryParameterValue', q);
  }
});

test('hostile: the server is still up and consistent', async () => {
  const all = await listEndpoints();
  for (const e of all) assert.ok(e.name !== 'bad' && e.name !== 'sneaky' && e.name !== 'big', e.name);
  const r = await createQueueEndpoint('after-hostile', 'notify-after');
  assert.equal(r.status, 201);
  assert.equal(srv.exited(), null, 'shoald is running');
});
