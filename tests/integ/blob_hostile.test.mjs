// blob_hostile.test.mjs: hostile input against a running shoald over raw
// HTTP (node:http and node:net, with our own SharedKey signer): malformed
// or missing Authorization, bad dates and versions, huge headers, bad XML
// block lists, invalid names, ".." and "%2e%2e" in paths, bodies shorter
// or longer than Content-Length, a client that disconnects mid-upload.
// Each gets the right error, the server stays up, and no stored data
// changes (a snapshot of every blob is compared before and after).
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { startServer, waitFor } from './lib/server.mjs';

// A short idle timeout: libmicrohttpd notices a client that vanished with
// more than one read buffer of body pending only when the connection times
// out (then done() removes the temp file); see the disconnect test.
const srv = await startServer({ name: 'blobhostile', args: ['--set', 'http.idle_timeout_s=3'] });
const svc = BlobServiceClient.fromConnectionString(srv.connStr);
const port = srv.ports.blob;
const acct = srv.account;
after(async () => { await srv.stop(); });

const agent = new http.Agent({ keepAlive: false });

// SharedKey string-to-sign over the raw path (storage-wire.md §3).
function signedHeaders(method, rawPath, headers, opts = {}) {
  const h = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = String(v);
  if (!('x-ms-date' in h) && !opts.noDate) h['x-ms-date'] = new Date().toUTCString();
  if (!('x-ms-version' in h)) h['x-ms-version'] = '2026-10-06';
  const [p, q = ''] = rawPath.split('?');
  const len = h['content-length'];
  const lines = [method, h['content-encoding'] ?? '', h['content-language'] ?? '',
    len && len !== '0' ? len : '', h['content-md5'] ?? '', h['content-type'] ?? '', '',
    h['if-modified-since'] ?? '', h['if-match'] ?? '', h['if-none-match'] ?? '',
    h['if-unmodified-since'] ?? '', h.range ?? ''];
  const xms = Object.keys(h).filter((k) => k.startsWith('x-ms-')).sort()
    .map((k) => `${k}:${h[k]}\n`).join('');
  let res = `/${acct}${p}`;
  const params = {};
  for (const part of q.split('&').filter(Boolean)) {
    const i = part.indexOf('=');
    const name = decodeURIComponent(i < 0 ? part : part.slice(0, i)).toLowerCase();
    (params[name] ??= []).push(decodeURIComponent(i < 0 ? '' : part.slice(i + 1)));
  }
  for (const k of Object.keys(params).sort()) res += `\n${k}:${params[k].sort().join(',')}`;
  const sts = `${lines.join('\n')}\n${xms}${res}`;
  const key = opts.key ?? Buffer.from(srv.key, 'base64');
  const sig = crypto.createHmac('sha256', key).update(sts, 'utf8').digest('base64');
  if (!opts.noAuth) h.authorization = opts.authorization ?? `SharedKey ${acct}:${sig}`;
  return h;
}

function raw(method, rawPath, { headers = {}, body, sign = true, signOpts } = {}) {
  const hdrs = { ...headers };
  if (body !== undefined && !('content-length' in hdrs)) hdrs['content-length'] = Buffer.byteLength(body);
  const h = sign ? signedHeaders(method, rawPath, hdrs, signOpts) : hdrs;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function expectError(p, status, code) {
  const r = await p;
  assert.equal(r.status, status, `status (body ${r.body})`);
  if (code) {
    assert.equal(r.headers['x-ms-error-code'], code);
    if (r.body) assert.match(r.body, new RegExp(`<Code>${code}</Code>`));
  }
  return r;
}

// Every container, blob, etag and content: what must not change.
async function snapshot() {
  const out = [];
  for await (const c of svc.listContainers()) {
    const cc = svc.getContainerClient(c.name);
    for await (const b of cc.listBlobsFlat({ includeUncommitedBlobs: true })) {
      const data = b.properties.etag === '0x0' ? '' :
        crypto.createHash('sha256').update(await cc.getBlobClient(b.name).downloadToBuffer()).digest('hex');
      out.push(`${c.name}/${b.name} ${b.properties.etag} ${data}`);
    }
  }
  return out.sort().join('\n');
}

async function alive() {
  const r = await raw('GET', `/${acct}/hostile/canary.txt`);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'canary');
}

const tmpDir = path.join(srv.dataDir, 'blobs', 'tmp');
const c = svc.getContainerClient('hostile');
await c.create();
await c.getBlockBlobClient('canary.txt').upload('canary', 6);
await c.getBlockBlobClient('target.bin').upload('original', 8);
const before = await snapshot();

test('missing, malformed and wrong Authorization', async () => {
  await expectError(raw('GET', `/${acct}/hostile/canary.txt`, { sign: false }), 404, 'ResourceNotFound');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin`, { sign: false, headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'evil' }), 404, 'ResourceNotFound');
  for (const authorization of ['SharedKey', 'SharedKey devstoreaccount1', 'SharedKey :abc', 'Bearer xyz',
    `SharedKey ${acct}:not-base64!!`, `SharedKey ${acct}:${'A'.repeat(10)}`, 'SharedKey ' + 'x'.repeat(5000)]) {
    const r = await raw('PUT', `/${acct}/hostile/target.bin`, { headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'evil', signOpts: { authorization } });
    assert.equal(r.status, 403, authorization);
    assert.ok(['InvalidAuthenticationInfo', 'AuthenticationFailed'].includes(r.headers['x-ms-error-code']), r.body);
  }
  await expectError(raw('PUT', `/${acct}/hostile/target.bin`, { headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'evil', signOpts: { key: Buffer.alloc(64, 1) } }), 403, 'AuthenticationFailed');
  // signed for another account than the URL names
  await expectError(raw('DELETE', `/otheraccount/hostile/target.bin`), 403, 'AuthenticationFailed');
  // the signature covers the method: a signed GET replayed as DELETE fails
  const h = signedHeaders('GET', `/${acct}/hostile/target.bin`, {});
  await expectError(raw('DELETE', `/${acct}/hostile/target.bin`, { sign: false, headers: h }), 403, 'AuthenticationFailed');
  await alive();
});

test('bad dates and versions', async () => {
  for (const date of ['not a date', 'Mon, 01 Jan 2001 00:00:00 GMT', new Date(Date.now() + 3600e3).toUTCString(), '']) {
    const r = await raw('GET', `/${acct}/hostile/canary.txt`, { headers: { 'x-ms-date': date } });
    assert.equal(r.status, 403, `date '${date}'`);
    assert.equal(r.headers['x-ms-error-code'], 'AuthenticationFailed');
  }
  await expectError(raw('GET', `/${acct}/hostile/canary.txt`, { signOpts: { noDate: true } }), 403, 'AuthenticationFailed');
  await expectError(raw('GET', `/${acct}/hostile/canary.txt`, { headers: { 'x-ms-version': 'latest' } }), 400, 'InvalidHeaderValue');
  // any well-formed version is accepted and echoed
  const ok = await raw('GET', `/${acct}/hostile/canary.txt`, { headers: { 'x-ms-version': '2099-01-01' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['x-ms-version'], '2099-01-01');
  await expectError(raw('GET', `/${acct}/hostile/canary.txt`, { headers: { 'if-modified-since': 'garbage' } }), 400, 'InvalidHeaderValue');
  await alive();
});

test('huge headers are refused and the server stays up', async () => {
  const r = await new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('error', () => resolve(data));
    s.on('close', () => resolve(data));
    s.write(`GET /${acct}/hostile/canary.txt HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(300 * 1024)}\r\n\r\n`);
  });
  if (r) assert.match(r, /^HTTP\/1\.1 4\d\d/);
  const many = {};
  for (let i = 0; i < 800; i++) many[`x-junk-${i}`] = 'v'.repeat(200);
  const r2 = await raw('GET', `/${acct}/hostile/canary.txt`, { headers: many }).catch(() => ({ status: 'closed' }));
  assert.ok(r2.status === 'closed' || r2.status >= 400, String(r2.status));
  await alive();
});

test('bad XML block lists', async () => {
  const id = Buffer.from('blk-1').toString('base64');
  const put = await raw('PUT', `/${acct}/hostile/target.bin?comp=block&blockid=${encodeURIComponent(id)}`, { body: 'staged' });
  assert.equal(put.status, 201);
  const bodies = [
    ['not xml', 'InvalidXmlDocument'],
    ['<BlockList><Latest>' + id, 'InvalidXmlDocument'],
    ['<!DOCTYPE b [<!ENTITY x "xx"><!ENTITY y "&x;&x;&x;&x;&x;">]><BlockList><Latest>&y;</Latest></BlockList>', 'InvalidXmlDocument'],
    ['<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><BlockList/>', 'InvalidXmlDocument'],
    ['<BlockList><Blob>' + id + '</Blob></BlockList>', 'InvalidXmlDocument'],
    ['<BlockList><Latest>%%%</Latest></BlockList>', 'InvalidBlockId'],
    ['<BlockList><Latest>' + Buffer.from('no-such').toString('base64') + '</Latest></BlockList>', 'InvalidBlockList'],
    ['<BlockList>' + '<a>'.repeat(100) + '</BlockList>', 'InvalidXmlDocument'],
  ];
  for (const [xml, code] of bodies) {
    await expectError(raw('PUT', `/${acct}/hostile/target.bin?comp=blocklist`, { body: xml, headers: { 'content-type': 'application/xml' } }), 400, code);
  }
  const big = '<BlockList>' + `<Latest>${id}</Latest>`.repeat(600000) + '</BlockList>';
  const r = await raw('PUT', `/${acct}/hostile/target.bin?comp=blocklist`, { body: big }).catch(() => ({ status: 'closed' }));
  assert.ok(r.status === 'closed' || r.status === 413 || r.status === 400, String(r.status));
  assert.equal((await c.getBlockBlobClient('target.bin').downloadToBuffer()).toString(), 'original');
  await alive();
});

test('invalid names and dot segments in paths', async () => {
  await expectError(raw('PUT', `/${acct}/Bad_Container?restype=container`), 400, 'InvalidResourceName');
  await expectError(raw('PUT', `/${acct}/ab?restype=container`), 400, 'InvalidResourceName');
  await expectError(raw('PUT', `/${acct}/hostile/${'x'.repeat(1025)}`, { headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'x' }), 400, 'InvalidResourceName');
  await expectError(raw('PUT', `/${acct}/hostile/bad%01name`, { headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'x' }), 400, 'InvalidResourceName');
  await expectError(raw('PUT', `/${acct}/hostile/bad%FFname`, { headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'x' }), 400, 'InvalidResourceName');
  for (const p of ['/hostile/../hostile/target.bin', '/hostile/%2e%2e/hostile/target.bin', '/hostile/%2E%2E%2F%2E%2E%2Fescape',
    '/hostile/a/./target.bin', '/hostile/../../../../etc/passwd', '/hostile/x/%2e%2e']) {
    await expectError(raw('PUT', `/${acct}${p}`, { headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'escape' }), 400, 'InvalidUri');
    await expectError(raw('GET', `/${acct}${p}`), 400, 'InvalidUri');
  }
  await expectError(raw('GET', `/${acct}/../etc/passwd`), 400, 'InvalidResourceName');
  await expectError(raw('GET', `/${acct}/hostile/bad%zz`), 400, 'InvalidUri');
  await expectError(raw('GET', `/${acct}/hostile/nul%00byte`), 400, 'InvalidUri');
  // nothing was written anywhere near the data directory
  const parent = path.dirname(srv.dataDir);
  for (const name of ['escape', 'passwd', 'target.bin']) assert.equal(fs.existsSync(path.join(parent, name)), false);
  assert.equal(fs.existsSync(path.join(srv.dataDir, 'escape')), false);
  await alive();
});

test('protocol-level junk: verbs, query values, block ids, digests', async () => {
  await expectError(raw('PATCH', `/${acct}/hostile/target.bin`), 405, 'UnsupportedHttpVerb');
  await expectError(raw('GET', `/${acct}/hostile?restype=container&comp=list&maxresults=0`), 400, 'OutOfRangeQueryParameterValue');
  await expectError(raw('GET', `/${acct}/hostile?restype=container&comp=list&maxresults=abc`), 400, 'InvalidQueryParameterValue');
  await expectError(raw('GET', `/${acct}/hostile?restype=container&comp=bogus`), 400, 'InvalidQueryParameterValue');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin?comp=block&blockid=***`, { body: 'x' }), 400, 'InvalidBlockId');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin?comp=block`, { body: 'x' }), 400, 'MissingRequiredQueryParameter');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin?comp=block&blockid=${Buffer.alloc(65).toString('base64')}`, { body: 'x' }), 400, 'InvalidBlockId');
  const md5 = crypto.createHash('md5').update('other').digest('base64');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin?comp=block&blockid=YmxrLTE%3D`, { body: 'abc', headers: { 'content-md5': md5 } }), 400, 'Md5Mismatch');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin`, { body: 'abc', headers: { 'x-ms-blob-type': 'BlockBlob', 'content-md5': md5 } }), 400, 'Md5Mismatch');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin`, { body: 'abc', headers: { 'x-ms-blob-type': 'BlockBlob', 'content-md5': 'short' } }), 400, 'InvalidMd5');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin`, { body: 'abc' }), 400, 'MissingRequiredHeader');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin`, { body: 'abc', headers: { 'x-ms-blob-type': 'PageBlob' } }), 501);
  await expectError(raw('PUT', `/${acct}/hostile/target.bin`, { body: 'abc', headers: { 'x-ms-blob-type': 'BlockBlob', 'x-ms-meta-bad-name': '1' } }), 400, 'InvalidMetadata');
  await expectError(raw('PUT', `/${acct}/hostile/target.bin`, { body: 'abc', headers: { 'x-ms-blob-type': 'BlockBlob', 'x-ms-lease-id': 'not-a-guid' } }), 400, 'InvalidHeaderValue');
  await expectError(raw('GET', `/${acct}/hostile/target.bin`, { headers: { 'x-ms-range': 'bytes=5-1' } }), 400, 'InvalidHeaderValue');
  const head = await raw('HEAD', `/${acct}/hostile/missing.bin`);
  assert.equal(head.status, 404);
  assert.equal(head.headers['x-ms-error-code'], 'BlobNotFound');
  assert.equal(head.body, '');
  await alive();
});

// Send a request by hand on a socket; returns what came back (if anything).
function socketRequest(head, bodyPart, { end = true, destroy = false } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('error', () => resolve(data));
    s.on('close', () => resolve(data));
    s.write(head);
    s.write(bodyPart, () => {
      if (destroy) s.destroy();
      else if (end) s.end();
    });
  });
}

function requestHead(method, rawPath, headers) {
  const h = signedHeaders(method, rawPath, headers);
  return `${method} ${rawPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
}

const tmpEmpty = () => fs.readdirSync(tmpDir).length === 0;
// The upload reached the server (its temp file exists), then went away.
async function cleanedUp() {
  await waitFor(() => !tmpEmpty(), { what: 'the upload to start' });
  await waitFor(tmpEmpty, { what: 'temp files removed' });
}

test('a body shorter than Content-Length stores nothing', async () => {
  const head = requestHead('PUT', `/${acct}/hostile/target.bin`, { 'x-ms-blob-type': 'BlockBlob', 'content-length': '1000' });
  const got = await socketRequest(head, Buffer.alloc(10, 120));
  assert.ok(!/^HTTP\/1\.1 2/.test(got), got);
  await waitFor(tmpEmpty, { what: 'temp files removed' });
  assert.equal((await c.getBlockBlobClient('target.bin').downloadToBuffer()).toString(), 'original');
  const blk = requestHead('PUT', `/${acct}/hostile/short.bin?comp=block&blockid=YmxrLTE%3D`, { 'content-length': '4096' });
  await socketRequest(blk, Buffer.alloc(100, 1));
  await waitFor(tmpEmpty, { what: 'temp files removed' });
  assert.equal(await c.getBlockBlobClient('short.bin').exists(), false);
  await alive();
});

test('a body longer than Content-Length stores exactly Content-Length bytes', async () => {
  const head = requestHead('PUT', `/${acct}/hostile/longer.bin`, { 'x-ms-blob-type': 'BlockBlob', 'content-length': '5' });
  // The client keeps its side open (no half-close): a small Put Blob's
  // reply comes after its commit, from a parked request, and
  // libmicrohttpd 0.9.75 closes a parked connection whose client has
  // half-closed instead of answering (see src/http/http.c). The garbage
  // then gets a 400 and the server closes.
  const got = await socketRequest(head, Buffer.from('hello, and then some garbage that is not HTTP\r\n\r\n'), { end: false });
  assert.match(got, /^HTTP\/1\.1 201/);
  assert.equal((await c.getBlockBlobClient('longer.bin').downloadToBuffer()).toString(), 'hello');
  await c.getBlockBlobClient('longer.bin').delete();
  await alive();
});

test('a client that disconnects mid-upload leaves no trace', async () => {
  const head = requestHead('PUT', `/${acct}/hostile/target.bin`, { 'x-ms-blob-type': 'BlockBlob', 'content-length': String(64 * 1024 * 1024) });
  await socketRequest(head, crypto.randomBytes(6 * 1024 * 1024), { destroy: true });
  await cleanedUp();
  assert.equal((await c.getBlockBlobClient('target.bin').downloadToBuffer()).toString(), 'original');
  // the same through a block upload and a new name
  const blk = requestHead('PUT', `/${acct}/hostile/gone.bin?comp=block&blockid=YmxrLTE%3D`, { 'content-length': String(32 * 1024 * 1024) });
  await socketRequest(blk, crypto.randomBytes(2 * 1024 * 1024), { destroy: true });
  await cleanedUp();
  assert.equal(await c.getBlockBlobClient('gone.bin').exists(), false);
  await alive();
});

test('nothing stored changed, and no stray files remain', async () => {
  // (a staged block leaves the committed blob and its etag alone)
  assert.equal(await snapshot(), before);
  assert.ok(tmpEmpty());
  await alive();
  assert.equal(srv.exited(), null, 'shoald is still running');
});
