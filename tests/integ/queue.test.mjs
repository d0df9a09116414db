// queue.test.mjs: the Queue service through the pinned @azure/storage-queue
// SDK: service, queue and message operations, visibility and redelivery,
// TTL expiry, update, the 64 KiB limit, SAS permissions and a wrong key.
// One server for the file; each test uses its own queue.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  QueueServiceClient, QueueClient, QueueSASPermissions, AccountSASPermissions,
  AccountSASServices, AccountSASResourceTypes, StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from '@azure/storage-queue';
import { startServer, waitFor, DEV_ACCOUNT, DEV_KEY } from './lib/server.mjs';

let srv;
let svc;
let failed = false;

before(async () => {
  srv = await startServer({ name: 'queue' });
  svc = QueueServiceClient.fromConnectionString(srv.connStr);
});

after(async () => {
  if (failed) console.log(srv.log());
  await srv.stop();
});

// Run a test body; keep the server log if it fails.
function t(name, fn) {
  test(name, async () => {
    try { await fn(); } catch (e) { failed = true; throw e; }
  });
}

async function fresh(name, opts) {
  const q = svc.getQueueClient(name);
  await q.create(opts);
  return q;
}

async function rejects(p, status, code) {
  await assert.rejects(p, (e) => {
    assert.equal(e.statusCode, status, `status of ${e.message}`);
    if (code) assert.equal(e.code, code);
    return true;
  });
}

t('create: 201 new, 204 same metadata, 409 different', async () => {
  const q = svc.getQueueClient('qcreate');
  const r1 = await q.create({ metadata: { color: 'red', size: '1' } });
  assert.equal(r1._response.status, 201);
  const r2 = await q.create({ metadata: { size: '1', color: 'red' } });
  assert.equal(r2._response.status, 204);
  await rejects(q.create({ metadata: { color: 'blue' } }), 409, 'QueueAlreadyExists');
  await rejects(q.create(), 409, 'QueueAlreadyExists');
  const r3 = await q.createIfNotExists({ metadata: { color: 'red', size: '1' } });
  assert.equal(r3.succeeded, false);
});

t('queue names are checked', async () => {
  await rejects(svc.getQueueClient('ab').create(), 400, 'OutOfRangeInput');
  await rejects(svc.getQueueClient('a'.repeat(64)).create(), 400, 'OutOfRangeInput');
  await rejects(svc.getQueueClient('Upper').create(), 400, 'InvalidResourceName');
  await rejects(svc.getQueueClient('a--b').create(), 400, 'InvalidResourceName');
  await rejects(svc.getQueueClient('-ab').create(), 400, 'InvalidResourceName');
  await rejects(svc.getQueueClient('ab-').create(), 400, 'InvalidResourceName');
  const ok = await svc.getQueueClient('a-b-9').create();
  assert.equal(ok._response.status, 201);
});

t('metadata get and set, approximate message count', async () => {
  const q = await fresh('qmeta', { metadata: { first: 'one' } });
  let p = await q.getProperties();
  assert.deepEqual(p.metadata, { first: 'one' });
  assert.equal(p.approximateMessagesCount, 0);
  await q.sendMessage('a');
  await q.sendMessage('b');
  await q.setMetadata({ second: 'two', Third: '3' });
  p = await q.getProperties();
  assert.deepEqual(p.metadata, { second: 'two', third: '3' });
  assert.equal(p.approximateMessagesCount, 2);
  await q.setMetadata();
  p = await q.getProperties();
  assert.equal(p.metadata, undefined);
  await rejects(svc.getQueueClient('nosuchqueue').getProperties(), 404, 'QueueNotFound');
  await rejects(q.setMetadata({ 'bad-name': 'x' }), 400, 'InvalidMetadata');
});

t('delete queue: 204 then 404, messages gone with it', async () => {
  const q = await fresh('qdel');
  await q.sendMessage('x');
  const r = await q.delete();
  assert.equal(r._response.status, 204);
  await rejects(q.delete(), 404, 'QueueNotFound');
  await rejects(q.sendMessage('y'), 404, 'QueueNotFound');
  await q.create();
  assert.equal((await q.peekMessages()).peekedMessageItems.length, 0);
  assert.equal((await q.deleteIfExists()).succeeded, true);
});

t('list queues: prefix, paging by marker, metadata', async () => {
  for (const n of ['lst-a', 'lst-b', 'lst-c', 'lst-d', 'lst-e']) {
    await svc.getQueueClient(n).create({ metadata: { n } });
  }
  const all = [];
  for await (const it of svc.listQueues({ prefix: 'lst-', includeMetadata: true })) all.push(it);
  assert.deepEqual(all.map((x) => x.name), ['lst-a', 'lst-b', 'lst-c', 'lst-d', 'lst-e']);
  assert.deepEqual(all[2].metadata, { n: 'lst-c' });
  const pages = [];
  for await (const page of svc.listQueues({ prefix: 'lst-' }).byPage({ maxPageSize: 2 })) {
    pages.push(page.queueItems.map((x) => x.name));
    assert.equal(page.queueItems[0].metadata, undefined);
  }
  assert.deepEqual(pages, [['lst-a', 'lst-b'], ['lst-c', 'lst-d'], ['lst-e']]);
  const none = [];
  for await (const it of svc.listQueues({ prefix: 'zzz-nothing' })) none.push(it);
  assert.equal(none.length, 0);
});

t('service properties: defaults, set merges', async () => {
  const p0 = await svc.getProperties();
  assert.equal(p0.queueAnalyticsLogging.version, '1.0');
  assert.equal(p0.hourMetrics.enabled, false);
  const set = await svc.setProperties({
    hourMetrics: { version: '1.0', enabled: true, includeAPIs: false, retentionPolicy: { enabled: true, days: 3 } },
  });
  assert.ok(set.requestId);
  const p1 = await svc.getProperties();
  assert.equal(p1.hourMetrics.enabled, true);
  assert.equal(p1.hourMetrics.retentionPolicy.days, 3);
  assert.equal(p1.minuteMetrics.enabled, false);
  assert.equal(p1.queueAnalyticsLogging.version, '1.0');
});

t('put, peek, get, delete: fields, arrival order, dequeue count', async () => {
  const q = await fresh('qmsg');
  const before = Date.now();
  const sent = [];
  for (let i = 0; i < 5; i++) sent.push(await q.sendMessage(`m${i} <&>'"`));
  const s0 = sent[0];
  assert.match(s0.messageId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.ok(s0.popReceipt);
  assert.ok(Math.abs(s0.insertedOn.getTime() - before) < 60000);
  const ttl = s0.expiresOn.getTime() - s0.insertedOn.getTime();
  assert.equal(ttl, 7 * 24 * 3600 * 1000);
  assert.equal(s0.nextVisibleOn.getTime(), s0.insertedOn.getTime());
  assert.equal(new Set(sent.map((s) => s.messageId)).size, 5);

  const peek = await q.peekMessages({ numberOfMessages: 3 });
  assert.deepEqual(peek.peekedMessageItems.map((m) => m.messageText),
    [`m0 <&>'"`, `m1 <&>'"`, `m2 <&>'"`]);
  assert.equal(peek.peekedMessageItems[0].dequeueCount, 0);
  assert.equal(peek.peekedMessageItems[0].popReceipt, undefined);

  const got = await q.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
  assert.deepEqual(got.receivedMessageItems.map((m) => m.messageId), sent.map((s) => s.messageId));
  for (const m of got.receivedMessageItems) {
    assert.equal(m.dequeueCount, 1);
    assert.notEqual(m.popReceipt, sent.find((s) => s.messageId === m.messageId).popReceipt);
    assert.ok(m.nextVisibleOn.getTime() - Date.now() > 50000);
  }
  // invisible now: neither get nor peek sees them
  assert.equal((await q.receiveMessages()).receivedMessageItems.length, 0);
  assert.equal((await q.peekMessages()).peekedMessageItems.length, 0);
  for (const m of got.receivedMessageItems) {
    const r = await q.deleteMessage(m.messageId, m.popReceipt);
    assert.equal(r._response.status, 204);
  }
  assert.equal((await q.getProperties()).approximateMessagesCount, 0);
});

t('delete: stale pop receipt 400, unknown or deleted message 404', async () => {
  const q = await fresh('qpop');
  const s = await q.sendMessage('x');
  const g1 = (await q.receiveMessages({ visibilityTimeout: 1 })).receivedMessageItems[0];
  // the receipt of the put is stale after the get
  await rejects(q.deleteMessage(s.messageId, s.popReceipt), 400, 'PopReceiptMismatch');
  const g2 = await waitFor(async () => (await q.receiveMessages()).receivedMessageItems[0],
    { what: 'redelivery' });
  assert.equal(g2.messageId, g1.messageId);
  assert.equal(g2.dequeueCount, 2);
  await rejects(q.deleteMessage(g1.messageId, g1.popReceipt), 400, 'PopReceiptMismatch');
  await q.deleteMessage(g2.messageId, g2.popReceipt);
  await rejects(q.deleteMessage(g2.messageId, g2.popReceipt), 404, 'MessageNotFound');
  await rejects(q.deleteMessage('00000000-0000-0000-0000-000000000000', g2.popReceipt),
    404, 'MessageNotFound');
  await rejects(svc.getQueueClient('nosuchqueue').deleteMessage(g2.messageId, g2.popReceipt),
    404, 'QueueNotFound');
});

t('put with a visibility delay, then it appears', async () => {
  const q = await fresh('qdelay');
  const s = await q.sendMessage('later', { visibilityTimeout: 1 });
  assert.equal(s.nextVisibleOn.getTime() - s.insertedOn.getTime(), 1000);
  assert.equal((await q.peekMessages()).peekedMessageItems.length, 0);
  const m = await waitFor(async () => (await q.receiveMessages()).receivedMessageItems[0],
    { what: 'delayed message' });
  assert.equal(m.messageText, 'later');
  assert.equal(m.dequeueCount, 1);
});

t('TTL: a short-lived message expires, -1 never does', async () => {
  const q = await fresh('qttl');
  const short = await q.sendMessage('short', { messageTimeToLive: 1 });
  assert.equal(short.expiresOn.getTime() - short.insertedOn.getTime(), 1000);
  const forever = await q.sendMessage('forever', { messageTimeToLive: -1 });
  assert.equal(forever.expiresOn.toUTCString(), 'Fri, 31 Dec 9999 23:59:59 GMT');
  await waitFor(async () => {
    const items = (await q.peekMessages({ numberOfMessages: 32 })).peekedMessageItems;
    return items.length === 1 && items[0].messageText === 'forever';
  }, { what: 'expiry of the short message' });
  const m = (await q.receiveMessages()).receivedMessageItems[0];
  assert.equal(m.messageText, 'forever');
  // an expired message cannot be deleted or updated any more
  await rejects(q.deleteMessage(short.messageId, short.popReceipt), 404, 'MessageNotFound');
  // and the sweeper removes it from the count
  await waitFor(async () => (await q.getProperties()).approximateMessagesCount === 1,
    { what: 'sweep of the expired message' });
  await rejects(q.sendMessage('x', { messageTimeToLive: 0 }), 400, 'OutOfRangeQueryParameterValue');
  await rejects(q.sendMessage('x', { messageTimeToLive: 10, visibilityTimeout: 10 }),
    400, 'OutOfRangeQueryParameterValue');
});

t('update: new text and visibility, new pop receipt', async () => {
  const q = await fresh('qupd');
  await q.sendMessage('v1');
  const g = (await q.receiveMessages({ visibilityTimeout: 60 })).receivedMessageItems[0];
  const u = await q.updateMessage(g.messageId, g.popReceipt, 'v2', 0);
  assert.notEqual(u.popReceipt, g.popReceipt);
  assert.ok(Math.abs(u.nextVisibleOn.getTime() - Date.now()) < 5000);
  await rejects(q.updateMessage(g.messageId, g.popReceipt, 'v3', 0), 400, 'PopReceiptMismatch');
  // visibility only: text stays
  const u2 = await q.updateMessage(g.messageId, u.popReceipt, undefined, 60);
  assert.ok(u2.nextVisibleOn.getTime() - Date.now() > 50000);
  assert.equal((await q.peekMessages()).peekedMessageItems.length, 0);
  const u3 = await q.updateMessage(g.messageId, u2.popReceipt, undefined, 0);
  const m = (await q.receiveMessages()).receivedMessageItems[0];
  assert.equal(m.messageText, 'v2');
  assert.equal(m.dequeueCount, 2);
  await rejects(q.updateMessage(g.messageId, u3.popReceipt, 'x', 0), 400, 'PopReceiptMismatch');
  await q.deleteMessage(m.messageId, m.popReceipt);
  await rejects(q.updateMessage(m.messageId, m.popReceipt, 'x', 0), 404, 'MessageNotFound');
});

t('clear removes every message', async () => {
  const q = await fresh('qclear');
  for (let i = 0; i < 10; i++) await q.sendMessage(`c${i}`);
  await q.receiveMessages({ numberOfMessages: 3 });
  const r = await q.clearMessages();
  assert.equal(r._response.status, 204);
  assert.equal((await q.getProperties()).approximateMessagesCount, 0);
  await q.sendMessage('after');
  assert.equal((await q.peekMessages()).peekedMessageItems[0].messageText, 'after');
});

t('numofmessages and visibilitytimeout ranges', async () => {
  const q = await fresh('qrange');
  await q.sendMessage('x');
  await assert.rejects(q.receiveMessages({ numberOfMessages: 33 }), (e) => {
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'OutOfRangeQueryParameterValue');
    assert.deepEqual(e.details.additionalProperties, {
      QueryParameterName: 'numofmessages', QueryParameterValue: '33',
      MinimumAllowed: '1', MaximumAllowed: '32',
    });
    return true;
  });
  await rejects(q.receiveMessages({ numberOfMessages: 0 }), 400, 'OutOfRangeQueryParameterValue');
  await rejects(q.peekMessages({ numberOfMessages: 33 }), 400, 'OutOfRangeQueryParameterValue');
  await rejects(q.receiveMessages({ visibilityTimeout: 604801 }), 400, 'OutOfRangeQueryParameterValue');
  await rejects(q.sendMessage('x', { visibilityTimeout: -1 }), 400, 'OutOfRangeQueryParameterValue');
  const ok = await q.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 604800 });
  assert.equal(ok.receivedMessageItems.length, 1);
});

t('64 KiB limit on the decoded text', async () => {
  const q = await fresh('qbig');
  const max = 'x'.repeat(64 * 1024);
  const s = await q.sendMessage(max);
  // escaping grows the body past 64 KiB, the decoded text is what counts
  const amp = '&'.repeat(64 * 1024);
  await q.sendMessage(amp);
  await rejects(q.sendMessage(max + 'y'), 413, 'RequestBodyTooLarge');
  const got = (await q.receiveMessages({ numberOfMessages: 2 })).receivedMessageItems;
  assert.equal(got[0].messageId, s.messageId);
  assert.equal(got[0].messageText, max);
  assert.equal(got[1].messageText, amp);
  await rejects(q.updateMessage(got[0].messageId, got[0].popReceipt, max + 'y', 0),
    413, 'RequestBodyTooLarge');
  // text is stored verbatim: unicode, newlines, tabs, leading spaces
  const odd = '  ünï\tcödé 漢字 😀\nline2  ';
  await q.sendMessage(odd);
  assert.equal((await q.peekMessages()).peekedMessageItems[0].messageText, odd);
});

t('access policies: set, get, at most 5', async () => {
  const q = await fresh('qacl');
  const start = new Date(Math.floor(Date.now() / 1000) * 1000 - 60000);
  const expiry = new Date(start.getTime() + 3600000);
  await q.setAccessPolicy([
    { id: 'read', accessPolicy: { permissions: 'r', startsOn: start, expiresOn: expiry } },
    { id: 'all', accessPolicy: { permissions: 'raup' } },
  ]);
  const got = (await q.getAccessPolicy()).signedIdentifiers;
  assert.equal(got.length, 2);
  assert.equal(got[0].id, 'read');
  assert.equal(got[0].accessPolicy.permissions, 'r');
  assert.equal(got[0].accessPolicy.startsOn.getTime(), start.getTime());
  assert.equal(got[0].accessPolicy.expiresOn.getTime(), expiry.getTime());
  assert.equal(got[1].accessPolicy.permissions, 'raup');
  assert.equal(got[1].accessPolicy.startsOn, undefined);
  const six = [1, 2, 3, 4, 5, 6].map((i) => ({ id: `p${i}`, accessPolicy: { permissions: 'r' } }));
  await rejects(q.setAccessPolicy(six), 400, 'InvalidXmlDocument');
  await rejects(q.setAccessPolicy([{ id: 'x', accessPolicy: { permissions: 'rwd' } }]),
    400, 'InvalidXmlNodeValue');
  await q.setAccessPolicy([]);
  assert.equal((await q.getAccessPolicy()).signedIdentifiers.length, 0);
});

function sasClient(q, permissions, extra = {}) {
  const url = q.generateSasUrl({
    permissions: QueueSASPermissions.parse(permissions),
    startsOn: new Date(Date.now() - 60000),
    expiresOn: new Date(Date.now() + 3600000),
    ...extra,
  });
  return new QueueClient(url);
}

t('queue SAS: r, a, u, p each allow only their operations', async () => {
  const q = await fresh('qsas');
  await q.sendMessage('seed');
  const r = sasClient(q, 'r');
  assert.equal((await r.peekMessages()).peekedMessageItems[0].messageText, 'seed');
  assert.equal((await r.getProperties()).approximateMessagesCount, 1);
  await rejects(r.sendMessage('no'), 403, 'AuthorizationPermissionMismatch');
  await rejects(r.receiveMessages(), 403, 'AuthorizationPermissionMismatch');

  const a = sasClient(q, 'a');
  const sent = await a.sendMessage('added');
  await rejects(a.peekMessages(), 403, 'AuthorizationPermissionMismatch');

  const p = sasClient(q, 'p');
  const got = (await p.receiveMessages({ numberOfMessages: 2 })).receivedMessageItems;
  assert.deepEqual(got.map((m) => m.messageText), ['seed', 'added']);
  await rejects(p.updateMessage(got[0].messageId, got[0].popReceipt, 'u', 0),
    403, 'AuthorizationPermissionMismatch');

  const u = sasClient(q, 'u');
  const upd = await u.updateMessage(got[0].messageId, got[0].popReceipt, 'updated', 60);
  await rejects(u.deleteMessage(got[1].messageId, got[1].popReceipt), 403, 'AuthorizationPermissionMismatch');
  await p.deleteMessage(got[0].messageId, upd.popReceipt);
  await p.deleteMessage(got[1].messageId, got[1].popReceipt);
  assert.equal(sent.messageId, got[1].messageId);

  // queue-level writes are not for a queue SAS; nor is another queue
  await rejects(sasClient(q, 'raup').setMetadata({ a: 'b' }), 403);
  await rejects(sasClient(q, 'raup').delete(), 403);
  const other = await fresh('qsas-other');
  const wrongQueue = new QueueClient(sasClient(q, 'r').url.replace('/qsas?', '/qsas-other?'));
  await rejects(wrongQueue.peekMessages(), 403, 'AuthenticationFailed');
  assert.equal((await other.peekMessages()).peekedMessageItems.length, 0);

  // expired
  const old = sasClient(q, 'r', { startsOn: new Date(Date.now() - 7200000), expiresOn: new Date(Date.now() - 3600000) });
  await rejects(old.peekMessages(), 403, 'AuthenticationFailed');
});

t('queue SAS with a stored access policy (si)', async () => {
  const q = await fresh('qsas-si');
  await q.sendMessage('m');
  await q.setAccessPolicy([{ id: 'peeker', accessPolicy: {
    permissions: 'r', startsOn: new Date(Date.now() - 60000), expiresOn: new Date(Date.now() + 3600000) } }]);
  const url = q.generateSasUrl({ identifier: 'peeker' });
  const c = new QueueClient(url);
  assert.equal((await c.peekMessages()).peekedMessageItems.length, 1);
  await rejects(c.sendMessage('no'), 403, 'AuthorizationPermissionMismatch');
  // revoking the policy revokes the SAS
  await q.setAccessPolicy([]);
  await rejects(c.peekMessages(), 403, 'AuthenticationFailed');
});

t('account SAS: services, resource types and permissions', async () => {
  const cred = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);
  function accountClient(perms, resourceTypes = 'sco', services = 'q') {
    const sas = generateAccountSASQueryParameters({
      permissions: AccountSASPermissions.parse(perms),
      services: AccountSASServices.parse(services).toString(),
      resourceTypes: AccountSASResourceTypes.parse(resourceTypes).toString(),
      startsOn: new Date(Date.now() - 60000),
      expiresOn: new Date(Date.now() + 3600000),
    }, cred).toString();
    return new QueueServiceClient(`${srv.queueUrl}?${sas}`);
  }
  const full = accountClient('rwdlacup');
  await full.getQueueClient('qacct').create();
  const q = full.getQueueClient('qacct');
  await q.sendMessage('hello');
  const m = (await q.receiveMessages()).receivedMessageItems[0];
  await q.deleteMessage(m.messageId, m.popReceipt);
  const names = [];
  for await (const it of full.listQueues({ prefix: 'qacct' })) names.push(it.name);
  assert.deepEqual(names, ['qacct']);

  const listOnly = accountClient('l');
  for await (const it of listOnly.listQueues({ prefix: 'qacct' })) assert.equal(it.name, 'qacct');
  await rejects(listOnly.getQueueClient('qacct2').create(), 403, 'AuthorizationPermissionMismatch');
  await rejects(accountClient('rwdlacup', 'o').getQueueClient('qacct3').create(),
    403, 'AuthorizationResourceTypeMismatch');
  await rejects(accountClient('rwdlacup', 'sco', 'b').getQueueClient('qacct').peekMessages(),
    403, 'AuthorizationServiceMismatch');
  await rejects(accountClient('r').getQueueClient('qacct').sendMessage('x'),
    403, 'AuthorizationPermissionMismatch');
});

t('wrong key and no credentials are refused', async () => {
  const bad = srv.connStr.replace(DEV_KEY, Buffer.alloc(64, 7).toString('base64'));
  const q = QueueServiceClient.fromConnectionString(bad).getQueueClient('qauth');
  await rejects(q.create(), 403, 'AuthenticationFailed');
  const anon = new QueueClient(`${srv.queueUrl}/qauth`);
  await rejects(anon.create(), 403);
  await rejects(svc.getQueueClient('qauth').getProperties(), 404, 'QueueNotFound');
});
