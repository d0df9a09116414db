// queue_hostile.test.mjs: the Queue service against hostile raw HTTP:
// bad and malicious XML bodies, negative, huge and malformed parameters,
// bad pop receipts and message ids, missing queues, invalid names and
// paths, bad credentials. Each answer must carry the right status and
// error code; afterwards the server still serves and no message that was
// acknowledged before the barrage is lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { startServer, DEV_ACCOUNT, DEV_KEY } from './lib/server.mjs';

let srv;
let failed = false;
const KEY = Buffer.from(DEV_KEY, 'base64');

before(async () => {
  srv = await startServer({ name: 'queue-hostile' });
});

after(async () => {
  if (failed) console.log(srv.log());
  await srv.stop();
});

function t(name, fn) {
  test(name, async () => {
    try { await fn(); } catch (e) { failed = true; throw e; }
  });
}

// SharedKey string-to-sign (storage-wire.md §3) over the raw path and the
// decoded query.
function sign(method, path, query, headers) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const len = h['content-length'] && h['content-length'] !== '0' ? h['content-length'] : '';
  const xms = Object.keys(h).filter((k) => k.startsWith('x-ms-')).sort()
    .map((k) => `${k}:${h[k]}\n`).join('');
  const params = {};
  for (const part of query ? query.split('&') : []) {
    const i = part.indexOf('=');
    const k = decodeURIComponent(i < 0 ? part : part.slice(0, i)).toLowerCase();
    let v = i < 0 ? '' : part.slice(i + 1);
    try { v = decodeURIComponent(v); } catch { /* sent raw, signed raw */ }
    (params[k] ||= []).push(v);
  }
  const canonQuery = Object.keys(params).sort()
    .map((k) => `\n${k}:${params[k].sort().join(',')}`).join('');
  const sts = [method, h['content-encoding'] || '', h['content-language'] || '', len,
    h['content-md5'] || '', h['content-type'] || '', '', '', '', '', '', ''].join('\n') +
    '\n' + xms + `/${DEV_ACCOUNT}${path}${canonQuery}`;
  return crypto.createHmac('sha256', KEY).update(sts, 'utf8').digest('base64');
}

// One raw request; target is "/path?query" under the queue port.
function raw(method, target, { body, headers = {}, auth = true, expectContinue = false } = {}) {
  const [path, query = ''] = target.split(/\?(.*)/s);
  const buf = body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const h = { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': '2026-04-06', ...headers };
  if (buf) h['Content-Length'] = String(buf.length);
  if (buf && !h['Content-Type']) h['Content-Type'] = 'application/xml';
  if (auth === true) h.Authorization = `SharedKey ${DEV_ACCOUNT}:${sign(method, path, query, h)}`;
  else if (typeof auth === 'string') h.Authorization = auth;
  if (expectContinue) h.Expect = '100-continue';
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: srv.ports.queue, method, path: target, headers: h,
      agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        code: res.headers['x-ms-error-code'],
      }));
    });
    req.on('error', reject);
    if (buf && expectContinue) req.on('continue', () => req.end(buf));
    else req.end(buf || undefined);
  });
}

const Q = `/${DEV_ACCOUNT}/hostile`;
const MSG = (text) => `<?xml version="1.0" encoding="utf-8"?><QueueMessage><MessageText>${text}</MessageText></QueueMessage>`;

async function expect(p, status, code) {
  const r = await p;
  assert.equal(r.status, status, `status (${r.code}) body ${r.body}`);
  if (code) {
    assert.equal(r.code, code);
    if (status !== 204 && r.body) assert.match(r.body, new RegExp(`<Code>${code}</Code>`));
  }
  return r;
}

const kept = [];

t('setup: a queue with acknowledged messages', async () => {
  await expect(raw('PUT', Q), 201);
  for (let i = 0; i < 20; i++) {
    const r = await expect(raw('POST', `${Q}/messages`, { body: MSG(`keep-${i}`) }), 201);
    assert.match(r.body, /<MessageId>[0-9a-f-]{36}<\/MessageId>/);
    kept.push(`keep-${i}`);
  }
});

t('bad XML bodies on Put Message are 400 InvalidXmlDocument', async () => {
  const bodies = [
    '',
    'not xml at all',
    '<QueueMessage><MessageText>unclosed',
    '<QueueMessage><MessageText>a</Wrong></QueueMessage>',
    '<Other><MessageText>a</MessageText></Other>',
    '<QueueMessage></QueueMessage>',
    '<QueueMessage><MessageText>a</MessageText></QueueMessage><Second/>',
    '<?xml version="1.0"?><!DOCTYPE QueueMessage [<!ENTITY a "aaaaaaaaaa">' +
      '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' +
      '<QueueMessage><MessageText>&c;</MessageText></QueueMessage>',
    '<!DOCTYPE x SYSTEM "file:///etc/passwd"><QueueMessage><MessageText>x</MessageText></QueueMessage>',
    '<QueueMessage><MessageText>&undefined;</MessageText></QueueMessage>',
    '<QueueMessage><MessageText>&#1;</MessageText></QueueMessage>',
    '<a>'.repeat(40) + '</a>'.repeat(40),
  ];
  for (const b of bodies) {
    await expect(raw('POST', `${Q}/messages`, { body: b }), 400, 'InvalidXmlDocument');
  }
  // bytes that are not UTF-8
  const bad = Buffer.concat([Buffer.from('<QueueMessage><MessageText>'), Buffer.from([0xff, 0xfe]),
    Buffer.from('</MessageText></QueueMessage>')]);
  await expect(raw('POST', `${Q}/messages`, { body: bad }), 400, 'InvalidXmlDocument');
});

t('bad XML on Set ACL and Set Properties', async () => {
  await expect(raw('PUT', `${Q}?comp=acl`, { body: '<!DOCTYPE x [<!ENTITY a "b">]><SignedIdentifiers/>' }),
    400, 'InvalidXmlDocument');
  await expect(raw('PUT', `${Q}?comp=acl`, { body: '<SignedIdentifiers><Bogus/></SignedIdentifiers>' }),
    400, 'InvalidXmlDocument');
  await expect(raw('PUT', `${Q}?comp=acl`, {
    body: '<SignedIdentifiers><SignedIdentifier><Id>x</Id><AccessPolicy><Start>yesterday</Start>' +
      '</AccessPolicy></SignedIdentifier></SignedIdentifiers>',
  }), 400, 'InvalidXmlNodeValue');
  await expect(raw('PUT', `${Q}?comp=acl`, {
    body: `<SignedIdentifiers><SignedIdentifier><Id>${'i'.repeat(65)}</Id></SignedIdentifier></SignedIdentifiers>`,
  }), 400, 'InvalidXmlNodeValue');
  await expect(raw('PUT', `/${DEV_ACCOUNT}?restype=service&comp=properties`, { body: '<Nope/>' }),
    400, 'InvalidXmlDocument');
  await expect(raw('PUT', `/${DEV_ACCOUNT}?restype=service&comp=properties`, { body: '<<<' }),
    400, 'InvalidXmlDocument');
});

t('timeouts: negative, malformed and overflowing are 400, huge but valid is accepted', async () => {
  await expect(raw('GET', `${Q}/messages?peekonly=true&timeout=-1`), 400, 'OutOfRangeQueryParameterValue');
  await expect(raw('GET', `${Q}/messages?peekonly=true&timeout=abc`), 400, 'InvalidQueryParameterValue');
  await expect(raw('GET', `${Q}/messages?peekonly=true&timeout=`), 400, 'InvalidQueryParameterValue');
  await expect(raw('GET', `${Q}/messages?peekonly=true&timeout=99999999999999999999999`),
    400, 'InvalidQueryParameterValue');
  await expect(raw('GET', `${Q}/messages?peekonly=true&timeout=4000000000`), 200);
  await expect(raw('GET', `${Q}/messages?peekonly=true&TIMEOUT=30`), 200);
});

t('visibility, ttl and count parameters out of range or malformed', async () => {
  const cases = [
    ['GET', `${Q}/messages?visibilitytimeout=-5`, 'OutOfRangeQueryParameterValue'],
    ['GET', `${Q}/messages?visibilitytimeout=0`, 'OutOfRangeQueryParameterValue'],
    ['GET', `${Q}/messages?visibilitytimeout=1000000000`, 'OutOfRangeQueryParameterValue'],
    ['GET', `${Q}/messages?visibilitytimeout=1e3`, 'InvalidQueryParameterValue'],
    ['GET', `${Q}/messages?numofmessages=abc`, 'InvalidQueryParameterValue'],
    ['GET', `${Q}/messages?numofmessages=%zz`, 'InvalidQueryParameterValue'],
    ['GET', `${Q}/messages?numofmessages=-1`, 'OutOfRangeQueryParameterValue'],
    ['GET', `${Q}/messages?peekonly=maybe`, 'InvalidQueryParameterValue'],
    ['POST', `${Q}/messages?messagettl=-2`, 'OutOfRangeQueryParameterValue'],
    ['POST', `${Q}/messages?messagettl=99999999999`, 'OutOfRangeQueryParameterValue'],
    ['POST', `${Q}/messages?visibilitytimeout=604801`, 'OutOfRangeQueryParameterValue'],
  ];
  for (const [m, target, code] of cases) {
    await expect(raw(m, target, { body: m === 'POST' ? MSG('never') : undefined }), 400, code);
  }
  const r = await expect(raw('GET', `${Q}/messages?numofmessages=33`), 400, 'OutOfRangeQueryParameterValue');
  assert.match(r.body, /<QueryParameterName>numofmessages<\/QueryParameterName>/);
  assert.match(r.body, /<MinimumAllowed>1<\/MinimumAllowed><MaximumAllowed>32<\/MaximumAllowed>/);
});

t('pop receipts and message ids', async () => {
  const put = await expect(raw('POST', `${Q}/messages`, { body: MSG('victim') }), 201);
  const id = put.body.match(/<MessageId>(.*?)<\/MessageId>/)[1];
  const pop = put.body.match(/<PopReceipt>(.*?)<\/PopReceipt>/)[1];
  await expect(raw('DELETE', `${Q}/messages/${id}`), 400, 'MissingRequiredQueryParameter');
  await expect(raw('DELETE', `${Q}/messages/${id}?popreceipt=`), 400, 'InvalidQueryParameterValue');
  await expect(raw('DELETE', `${Q}/messages/${id}?popreceipt=not-a-receipt`), 400, 'InvalidQueryParameterValue');
  await expect(raw('DELETE', `${Q}/messages/${id}?popreceipt=${'g'.repeat(16)}`), 400, 'InvalidQueryParameterValue');
  const wrong = (BigInt(`0x${pop}`) ^ 1n).toString(16).padStart(16, '0');
  await expect(raw('DELETE', `${Q}/messages/${id}?popreceipt=${wrong}`), 400, 'PopReceiptMismatch');
  await expect(raw('PUT', `${Q}/messages/${id}?popreceipt=${wrong}&visibilitytimeout=0`), 400, 'PopReceiptMismatch');
  await expect(raw('PUT', `${Q}/messages/${id}?popreceipt=${pop}`), 400, 'MissingRequiredQueryParameter');
  for (const bad of ['nonsense', '00000000-0000-0000-0000-000000000000', id.toUpperCase().replace(/.$/, 'Z'),
    `${id}0`, encodeURIComponent('../../x')]) {
    await expect(raw('DELETE', `${Q}/messages/${bad}?popreceipt=${pop}`), 404, 'MessageNotFound');
  }
  // the victim is still there and deletable with its own receipt
  await expect(raw('DELETE', `${Q}/messages/${id.toUpperCase()}?popreceipt=${pop.toUpperCase()}`), 204);
  await expect(raw('DELETE', `${Q}/messages/${id}?popreceipt=${pop}`), 404, 'MessageNotFound');
});

t('missing queues are 404 QueueNotFound everywhere', async () => {
  const M = `/${DEV_ACCOUNT}/no-such-queue`;
  await expect(raw('POST', `${M}/messages`, { body: MSG('x') }), 404, 'QueueNotFound');
  await expect(raw('GET', `${M}/messages`), 404, 'QueueNotFound');
  await expect(raw('GET', `${M}/messages?peekonly=true`), 404, 'QueueNotFound');
  await expect(raw('DELETE', `${M}/messages`), 404, 'QueueNotFound');
  await expect(raw('GET', `${M}?comp=metadata`), 404, 'QueueNotFound');
  await expect(raw('PUT', `${M}?comp=metadata`), 404, 'QueueNotFound');
  await expect(raw('GET', `${M}?comp=acl`), 404, 'QueueNotFound');
  await expect(raw('PUT', `${M}?comp=acl`, { body: '<SignedIdentifiers/>' }), 404, 'QueueNotFound');
  await expect(raw('DELETE', M), 404, 'QueueNotFound');
  await expect(raw('DELETE', `${M}/messages/00000000-0000-0001-0000-000000000001?popreceipt=0000000000000001`),
    404, 'QueueNotFound');
});

t('invalid names and paths', async () => {
  await expect(raw('PUT', `/${DEV_ACCOUNT}/UPPER`), 400, 'InvalidResourceName');
  await expect(raw('POST', `/${DEV_ACCOUNT}/under_score/messages`, { body: MSG('x') }), 400, 'InvalidResourceName');
  await expect(raw('PUT', `/${DEV_ACCOUNT}/${'a'.repeat(64)}`), 400, 'OutOfRangeInput');
  await expect(raw('PUT', `/${DEV_ACCOUNT}/${'a'.repeat(5000)}`), 400, 'OutOfRangeInput');
  await expect(raw('PUT', `/${DEV_ACCOUNT}/a%00b`), 400, 'InvalidUri');
  await expect(raw('PUT', `/${DEV_ACCOUNT}/caf%C3%A9`), 400, 'InvalidResourceName');
  await expect(raw('GET', `${Q}/other`), 400, 'InvalidUri');
  await expect(raw('GET', `${Q}/messages/a/b`), 400, 'InvalidUri');
  await expect(raw('GET', `/${DEV_ACCOUNT}//messages`), 400, 'InvalidUri');
  await expect(raw('GET', `/${DEV_ACCOUNT}?comp=bogus`), 400, 'InvalidUri');
  await expect(raw('GET', `${Q}?comp=bogus`), 400, 'InvalidQueryParameterValue');
  await expect(raw('PATCH', `${Q}/messages`), 405, 'UnsupportedHttpVerb');
  await expect(raw('GET', `${Q}/messages/00000000-0000-0001-0000-000000000001`), 405, 'UnsupportedHttpVerb');
  await expect(raw('POST', Q), 405, 'UnsupportedHttpVerb');
  // HEAD is not a Get: it must not dequeue (the last test would miss one)
  await expect(raw('HEAD', `${Q}/messages`), 405, 'UnsupportedHttpVerb');
});

t('host-style addressing: the account comes from Host', async () => {
  const host = { Host: `${DEV_ACCOUNT}.queue.localhost:${srv.ports.queue}` };
  const r = await expect(raw('GET', '/hostile/messages?peekonly=true&numofmessages=1', { headers: host }), 200);
  assert.match(r.body, /<MessageText>keep-0<\/MessageText>/);
  const l = await expect(raw('GET', '/?comp=list&prefix=hostile', { headers: host }), 200);
  assert.match(l.body, new RegExp(`ServiceEndpoint="http://${DEV_ACCOUNT}\\.queue\\.localhost:${srv.ports.queue}/"`));
  assert.match(l.body, /<Queue><Name>hostile<\/Name><\/Queue>/);
  const p = await expect(raw('GET', `/${DEV_ACCOUNT}?comp=list&prefix=hostile`), 200);
  assert.match(p.body, new RegExp(`ServiceEndpoint="http://127\\.0\\.0\\.1:${srv.ports.queue}/${DEV_ACCOUNT}/"`));
});

t('bodies: oversized, and 64 KiB + 1 of text', async () => {
  const huge = MSG('x'.repeat(500 * 1024));
  await expect(raw('POST', `${Q}/messages`, { body: huge, expectContinue: true }), 413, 'RequestBodyTooLarge');
  const r = await expect(raw('POST', `${Q}/messages`, { body: MSG('y'.repeat(65537)) }), 413, 'RequestBodyTooLarge');
  assert.match(r.body, /<MaxLimit>65536<\/MaxLimit>/);
});

t('credentials: none, garbled, wrong signature, unknown account', async () => {
  await expect(raw('GET', `${Q}/messages?peekonly=true`, { auth: false }), 403);
  await expect(raw('GET', `${Q}/messages?peekonly=true`, { auth: 'SharedKey nonsense' }), 403);
  await expect(raw('GET', `${Q}/messages?peekonly=true`, { auth: `SharedKey ${DEV_ACCOUNT}:${'A'.repeat(43)}=` }),
    403, 'AuthenticationFailed');
  await expect(raw('GET', `${Q}/messages?peekonly=true`, { auth: 'Bearer xyz' }), 403);
  await expect(raw('GET', '/nosuchaccount/hostile/messages?peekonly=true', { auth: false }), 403);
  await expect(raw('GET', `${Q}/messages?peekonly=true&sig=${encodeURIComponent('A'.repeat(43) + '=')}&sv=2026-06-06&sp=r&se=2099-01-01`,
    { auth: false }), 403, 'AuthenticationFailed');
});

t('service stats over raw HTTP', async () => {
  const r = await expect(raw('GET', `/${DEV_ACCOUNT}?restype=service&comp=stats`), 200);
  assert.match(r.body, /<StorageServiceStats><GeoReplication><Status>live<\/Status><LastSyncTime>[^<]+ GMT<\/LastSyncTime>/);
  assert.equal(r.headers['content-type'], 'application/xml');
});

t('the server still serves and nothing acknowledged was lost', async () => {
  const meta = await expect(raw('GET', `${Q}?comp=metadata`), 200);
  assert.equal(meta.headers['x-ms-approximate-messages-count'], String(kept.length));
  const got = [];
  for (;;) {
    const r = await expect(raw('GET', `${Q}/messages?numofmessages=32&visibilitytimeout=300`), 200);
    const texts = [...r.body.matchAll(/<MessageText>(.*?)<\/MessageText>/g)].map((m) => m[1]);
    if (!texts.length) break;
    got.push(...texts);
  }
  assert.deepEqual(got, kept);
  // request ids and version echo are present
  const r = await raw('GET', `${Q}?comp=metadata`, { headers: { 'x-ms-client-request-id': 'abc-123' } });
  assert.equal(r.headers['x-ms-client-request-id'], 'abc-123');
  assert.ok(r.headers['x-ms-request-id']);
});
