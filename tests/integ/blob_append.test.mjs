// blob_append.test.mjs: append blobs through the official JS SDK
// (@azure/storage-blob, pinned) and raw HTTP with a SAS: create, Append
// Block offsets, block counts, etags and digests, the append position and
// max size conditions, leases, operations on the wrong blob type, bad
// headers and bodies (nothing changes), SAS permissions, 16 appends at
// once, a large block, copies, and a SIGKILL mid-stream that loses no
// acknowledged append.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { AppendBlobClient, BlobSASPermissions, BlobServiceClient } from '@azure/storage-blob';
import { startServer, waitFor } from './lib/server.mjs';

const srv = await startServer({ name: 'blobappend' });
after(async () => { await srv.stop(); });

// No retries: a retried append would append twice.
const client = () => BlobServiceClient.fromConnectionString(srv.connStr, { retryOptions: { maxTries: 1 } });
const svc = client();
const md5 = (b) => crypto.createHash('md5').update(b).digest();
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
const tmpDir = path.join(srv.dataDir, 'blobs', 'tmp');

let seq = 0;
async function freshContainer() {
  const c = svc.getContainerClient(`append-${++seq}`);
  await c.create();
  return c;
}
async function rejects(p, status, code) {
  try {
    await p;
  } catch (e) {
    assert.equal(e.statusCode, status, `status of ${e.message}`);
    if (code) assert.equal(e.code ?? e.details?.errorCode, code);
    return e;
  }
  assert.fail(`expected ${status} ${code ?? ''}`);
}
// The whole blob, empty ones included.
async function read(b) {
  const r = await b.download();
  const chunks = [];
  for await (const c of r.readableStreamBody) chunks.push(c);
  return Buffer.concat(chunks);
}
// What a refused request must leave alone.
async function state(b) {
  const p = await b.getProperties();
  return { etag: p.etag, size: p.contentLength, blocks: p.blobCommittedBlockCount, type: p.blobType, sha: sha(await read(b)) };
}
const sasUrl = (b, perms) => b.generateSasUrl({ permissions: BlobSASPermissions.parse(perms), expiresOn: new Date(Date.now() + 3600e3) });

// A raw request to a SAS URL; headersOnly sends the headers and no body.
const agent = new http.Agent({ keepAlive: false });
function raw(method, url, { headers = {}, body, headersOnly = false } = {}) {
  const h = { 'x-ms-version': '2026-10-06', ...headers };
  if (body !== undefined && !('content-length' in h)) h['content-length'] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() });
        if (headersOnly) req.destroy();
      });
    });
    req.on('error', reject);
    if (headersOnly) {
      req.flushHeaders();
      return;
    }
    if (body !== undefined) req.write(body);
    req.end();
  });
}
async function expectError(p, status, code, what = '') {
  const r = await p;
  assert.equal(r.status, status, `${what} status (body ${r.body})`);
  if (code) {
    assert.equal(r.headers['x-ms-error-code'], code, what);
    if (r.body) assert.match(r.body, new RegExp(`<Code>${code}</Code>`), what);
  }
  return r;
}

test('create: an empty append blob with properties; bad and repeated creates', async () => {
  const c = await freshContainer();
  const b = c.getAppendBlobClient('log.txt');
  const cr = await b.create({ metadata: { app: 'shoal', Kind_1: 'log' }, blobHTTPHeaders: { blobContentType: 'text/plain' } });
  assert.equal(cr._response.status, 201);
  assert.match(cr.etag, /^"0x[0-9A-F]+"$/);
  const p = await b.getProperties();
  assert.equal(p.blobType, 'AppendBlob');
  assert.equal(p.contentLength, 0);
  assert.equal(p.blobCommittedBlockCount, 0);
  assert.equal(p.contentType, 'text/plain');
  assert.deepEqual(p.metadata, { app: 'shoal', kind_1: 'log' });
  assert.equal(p.etag, cr.etag);
  assert.equal((await read(b)).length, 0);
  // no overwrite asked for: refused, nothing changed
  await rejects(b.create({ conditions: { ifNoneMatch: '*' } }), 409, 'BlobAlreadyExists');
  assert.equal((await b.getProperties()).etag, cr.etag);
  // a create over an append blob with content makes it empty again
  await b.appendBlock('abc', 3);
  const again = await b.create();
  assert.notEqual(again.etag, cr.etag);
  const q = await b.getProperties();
  assert.equal(q.contentLength, 0);
  assert.equal(q.blobCommittedBlockCount, 0);
  assert.equal(q.blobType, 'AppendBlob');
  assert.deepEqual(q.metadata, {});
  // a body on create, or a page blob: refused, nothing created
  const sas = await sasUrl(c.getBlobClient('with-body'), 'racwd');
  await expectError(raw('PUT', sas, { headers: { 'x-ms-blob-type': 'AppendBlob' }, body: 'abc' }), 400, 'InvalidHeaderValue', 'create with a body');
  await expectError(raw('PUT', sas, { headers: { 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': '512' }, body: '' }), 501, null, 'page blob');
  assert.equal(await c.getBlobClient('with-body').exists(), false);
  const ok = await raw('PUT', sas, { headers: { 'x-ms-blob-type': 'AppendBlob' }, body: '' });
  assert.equal(ok.status, 201, ok.body);
  assert.equal((await c.getBlobClient('with-body').getProperties()).blobType, 'AppendBlob');
  // and one over an existing append blob with a body leaves it alone
  await c.getAppendBlobClient('with-body').appendBlock('kept', 4);
  const before = await state(c.getAppendBlobClient('with-body'));
  await expectError(raw('PUT', sas, { headers: { 'x-ms-blob-type': 'AppendBlob' }, body: 'xyz' }), 400, 'InvalidHeaderValue', 'create with a body');
  assert.deepEqual(await state(c.getAppendBlobClient('with-body')), before);
});

test('append block: offsets, block counts, etags, digests, reads and listings', async () => {
  const c = await freshContainer();
  const b = c.getAppendBlobClient('events');
  const cr = await b.create();
  const parts = [Buffer.from('hello'), Buffer.from(', world'), crypto.randomBytes(1000), Buffer.from('!')];
  let etag = cr.etag;
  let size = 0;
  for (let i = 0; i < parts.length; i++) {
    const withMd5 = i % 2 === 1;
    const r = await b.appendBlock(parts[i], parts[i].length, withMd5 ? { transactionalContentMD5: md5(parts[i]) } : {});
    assert.equal(r._response.status, 201);
    assert.equal(r.blobAppendOffset, String(size));
    assert.equal(r.blobCommittedBlockCount, i + 1);
    assert.match(r.etag, /^"0x[0-9A-F]+"$/);
    assert.notEqual(r.etag, etag, 'every append moves the etag');
    if (withMd5) {
      assert.deepEqual(Buffer.from(r.contentMD5), md5(parts[i]));
      assert.equal(r.xMsContentCrc64, undefined);
    } else {
      assert.equal(Buffer.from(r.xMsContentCrc64).length, 8);
      assert.equal(r.contentMD5, undefined);
    }
    assert.equal(r.isServerEncrypted, true);
    etag = r.etag;
    size += parts[i].length;
  }
  const all = Buffer.concat(parts);
  assert.deepEqual(await b.downloadToBuffer(), all);
  const p = await b.getProperties();
  assert.equal(p.contentLength, all.length);
  assert.equal(p.blobCommittedBlockCount, parts.length);
  assert.equal(p.blobType, 'AppendBlob');
  assert.equal(p.etag, etag);
  // a range across two blocks
  const mid = await b.downloadToBuffer(3, 6);
  assert.equal(mid.toString(), 'lo, wo');
  const listed = [];
  for await (const it of c.listBlobsFlat()) listed.push([it.name, it.properties.blobType, it.properties.contentLength]);
  assert.deepEqual(listed, [['events', 'AppendBlob', all.length]]);
});

test('append conditions: position, max size, etags; a refused append changes nothing', async () => {
  const c = await freshContainer();
  const b = c.getAppendBlobClient('cond');
  await b.create();
  await b.appendBlock('0123456789', 10);
  let before = await state(b);
  await rejects(b.appendBlock('x', 1, { conditions: { appendPosition: 0 } }), 412, 'AppendPositionConditionNotMet');
  await rejects(b.appendBlock('x', 1, { conditions: { appendPosition: 9 } }), 412, 'AppendPositionConditionNotMet');
  await rejects(b.appendBlock('x', 1, { conditions: { appendPosition: 11 } }), 412, 'AppendPositionConditionNotMet');
  assert.deepEqual(await state(b), before);
  const r1 = await b.appendBlock('abc', 3, { conditions: { appendPosition: 10 } });
  assert.equal(r1.blobAppendOffset, '10');
  // size 13: 13 + 3 > 15 is refused, 13 + 2 = 15 is not
  before = await state(b);
  await rejects(b.appendBlock('def', 3, { conditions: { maxSize: 15 } }), 412, 'MaxBlobSizeConditionNotMet');
  await rejects(b.appendBlock('d', 1, { conditions: { maxSize: 5 } }), 412, 'MaxBlobSizeConditionNotMet');
  assert.deepEqual(await state(b), before);
  const r2 = await b.appendBlock('de', 2, { conditions: { maxSize: 15, appendPosition: 13 } });
  assert.equal(r2.blobAppendOffset, '13');
  // etag conditions
  before = await state(b);
  await rejects(b.appendBlock('zz', 2, { conditions: { ifMatch: r1.etag } }), 412, 'ConditionNotMet');
  await rejects(b.appendBlock('zz', 2, { conditions: { ifNoneMatch: r2.etag } }), 412, 'ConditionNotMet');
  await rejects(b.appendBlock('zz', 2, { conditions: { ifUnmodifiedSince: new Date(Date.now() - 3600e3) } }), 412, 'ConditionNotMet');
  assert.deepEqual(await state(b), before);
  const r3 = await b.appendBlock('fg', 2, { conditions: { ifMatch: r2.etag } });
  assert.equal(r3.blobAppendOffset, '15');
  assert.equal(r3.blobCommittedBlockCount, 4);
  assert.equal((await b.downloadToBuffer()).toString(), '0123456789abcdefg');
});

test('leases guard appends', async () => {
  const c = await freshContainer();
  const b = c.getAppendBlobClient('leased');
  await b.create();
  await b.appendBlock('one;', 4);
  const lc = b.getBlobLeaseClient();
  await lc.acquireLease(15);
  const before = await state(b);
  await rejects(b.appendBlock('two;', 4), 412, 'LeaseIdMissing');
  await rejects(b.appendBlock('two;', 4, { conditions: { leaseId: crypto.randomUUID() } }), 412, 'LeaseIdMismatchWithBlobOperation');
  assert.deepEqual(await state(b), before);
  const r = await b.appendBlock('two;', 4, { conditions: { leaseId: lc.leaseId } });
  assert.equal(r._response.status, 201);
  assert.equal(r.blobAppendOffset, '4');
  assert.equal((await b.getProperties()).leaseState, 'leased');
  await lc.releaseLease();
  await rejects(b.appendBlock('three;', 6, { conditions: { leaseId: lc.leaseId } }), 412, 'LeaseNotPresentWithBlobOperation');
  await b.appendBlock('three;', 6);
  assert.equal((await b.downloadToBuffer()).toString(), 'one;two;three;');
});

test('wrong blob types, missing blobs, and Put Blob over an append blob', async () => {
  const c = await freshContainer();
  const bb = c.getBlockBlobClient('block');
  await bb.upload('block content', 13);
  const etag = (await bb.getProperties()).etag;
  await rejects(c.getAppendBlobClient('block').appendBlock('x', 1), 409, 'InvalidBlobType');
  const bp = await bb.getProperties();
  assert.equal(bp.etag, etag);
  assert.equal(bp.blobType, 'BlockBlob');
  assert.equal((await bb.downloadToBuffer()).toString(), 'block content');

  const ab = c.getAppendBlobClient('append');
  await ab.create();
  await ab.appendBlock('appended', 8);
  const before = await state(ab);
  const asBlock = c.getBlockBlobClient('append');
  const id = Buffer.from('block-0001').toString('base64');
  await rejects(asBlock.stageBlock(id, 'staged', 6), 409, 'InvalidBlobType');
  await rejects(asBlock.commitBlockList([id]), 409, 'InvalidBlobType');
  await rejects(asBlock.commitBlockList([]), 409, 'InvalidBlobType');
  await rejects(asBlock.getBlockList('all'), 409, 'InvalidBlobType');
  assert.deepEqual(await state(ab), before);

  await rejects(c.getAppendBlobClient('missing').appendBlock('x', 1), 404, 'BlobNotFound');
  assert.equal(await c.getBlobClient('missing').exists(), false);
  await rejects(svc.getContainerClient('no-such-container').getAppendBlobClient('x').appendBlock('x', 1), 404, 'ContainerNotFound');

  // Put Blob replaces an append blob with a block blob
  await asBlock.upload('now a block blob', 16);
  const p = await asBlock.getProperties();
  assert.equal(p.blobType, 'BlockBlob');
  assert.equal(p.contentLength, 16);
  assert.equal(p.blobCommittedBlockCount, undefined);
  assert.equal((await asBlock.downloadToBuffer()).toString(), 'now a block blob');
  await rejects(ab.appendBlock('x', 1), 409, 'InvalidBlobType');
  // and creating an append blob replaces a block blob
  await c.getAppendBlobClient('block').create();
  const q = await bb.getProperties();
  assert.equal(q.blobType, 'AppendBlob');
  assert.equal(q.contentLength, 0);
  await c.getAppendBlobClient('block').appendBlock('fresh', 5);
  assert.equal((await bb.downloadToBuffer()).toString(), 'fresh');
});

test('bad input over raw HTTP is refused and changes nothing', async () => {
  const c = await freshContainer();
  const b = c.getAppendBlobClient('target');
  await b.create();
  await b.appendBlock('original', 8);
  const before = await state(b);
  const url = `${await sasUrl(b, 'racwd')}&comp=appendblock`;
  const put = (headers, body = 'abc') => raw('PUT', url, { headers, body });

  await expectError(put({}, ''), 400, 'InvalidHeaderValue', 'empty body');
  for (const v of ['abc', '-1', '1e3', '', '+8', '0x8', '99999999999999999999999']) {
    await expectError(put({ 'x-ms-blob-condition-appendpos': v }), 400, 'InvalidHeaderValue', `appendpos '${v}'`);
  }
  for (const v of ['x', '-5', '']) {
    await expectError(put({ 'x-ms-blob-condition-maxsize': v }), 400, 'InvalidHeaderValue', `maxsize '${v}'`);
  }
  const otherMd5 = md5(Buffer.from('other')).toString('base64');
  await expectError(put({ 'content-md5': otherMd5 }), 400, 'Md5Mismatch', 'wrong md5');
  await expectError(put({ 'content-md5': 'short' }), 400, 'InvalidMd5', 'bad md5');
  await expectError(put({ 'content-md5': md5(Buffer.from('abc')).toString('base64'), 'x-ms-content-crc64': Buffer.alloc(8).toString('base64') }),
    400, 'BothCrc64AndMd5HeaderPresent', 'md5 and crc64');
  await expectError(put({ 'x-ms-content-crc64': Buffer.alloc(8).toString('base64') }), 400, 'Crc64Mismatch', 'wrong crc64');
  await expectError(raw('GET', url), 405, 'UnsupportedHttpVerb', 'GET');
  await expectError(raw('DELETE', url), 405, 'UnsupportedHttpVerb', 'DELETE');
  await expectError(raw('PUT', url.replace('comp=appendblock', 'comp=seal'), { body: '' }), 501, 'NotImplemented', 'seal');
  await expectError(raw('PUT', url, { headers: { 'content-length': String(100 * 1024 * 1024 + 1) }, headersOnly: true }),
    413, 'RequestBodyTooLarge', 'over 100 MiB');
  await waitFor(() => fs.readdirSync(tmpDir).length === 0, { what: 'temp files removed' });
  assert.deepEqual(await state(b), before);
  // the same URL still appends
  const ok = await put({ 'content-md5': md5(Buffer.from('+ok')).toString('base64') }, '+ok');
  assert.equal(ok.status, 201, ok.body);
  assert.equal(ok.headers['x-ms-blob-append-offset'], '8');
  assert.equal(ok.headers['x-ms-blob-committed-block-count'], '2');
  assert.equal(ok.headers['content-md5'], md5(Buffer.from('+ok')).toString('base64'));
  assert.equal((await b.downloadToBuffer()).toString(), 'original+ok');
});

test('SAS permissions: add may append but not read; read may not append', async () => {
  const c = await freshContainer();
  const b = c.getAppendBlobClient('sas');
  await b.create();
  await b.appendBlock('start;', 6);
  const adder = new AppendBlobClient(await sasUrl(b, 'a'), undefined, { retryOptions: { maxTries: 1 } });
  const r = await adder.appendBlock('added;', 6);
  assert.equal(r._response.status, 201);
  assert.equal(r.blobAppendOffset, '6');
  await rejects(adder.download(), 403, 'AuthorizationPermissionMismatch');
  await rejects(adder.create(), 403, 'AuthorizationPermissionMismatch');
  const reader = new AppendBlobClient(await sasUrl(b, 'r'), undefined, { retryOptions: { maxTries: 1 } });
  await rejects(reader.appendBlock('read;', 5), 403, 'AuthorizationPermissionMismatch');
  assert.equal((await reader.downloadToBuffer()).toString(), 'start;added;');
  assert.equal((await b.getProperties()).blobCommittedBlockCount, 2);
});

test('16 concurrent appends: distinct offsets, every chunk where it was reported', async () => {
  const c = await freshContainer();
  const b = c.getAppendBlobClient('busy');
  await b.create();
  const K = 64 * 1024;
  const chunks = Array.from({ length: 16 }, () => crypto.randomBytes(K));
  const res = await Promise.all(chunks.map((ch) => b.appendBlock(ch, ch.length)));
  for (const r of res) assert.equal(r._response.status, 201);
  const offsets = res.map((r) => Number(r.blobAppendOffset));
  assert.deepEqual([...offsets].sort((x, y) => x - y), chunks.map((_, i) => i * K));
  // appends are serialised: the count each saw matches its offset
  for (const r of res) assert.equal(r.blobCommittedBlockCount, Number(r.blobAppendOffset) / K + 1);
  assert.equal(new Set(res.map((r) => r.etag)).size, 16);
  const got = await b.downloadToBuffer();
  assert.equal(got.length, 16 * K);
  for (let i = 0; i < 16; i++) {
    assert.ok(got.subarray(offsets[i], offsets[i] + K).equals(chunks[i]), `chunk ${i} at offset ${offsets[i]}`);
  }
  const p = await b.getProperties();
  assert.equal(p.blobCommittedBlockCount, 16);
  assert.equal(p.contentLength, 16 * K);
});

test('a large block: 8 MiB then one byte', async () => {
  const c = await freshContainer();
  const b = c.getAppendBlobClient('large');
  await b.create();
  const big = crypto.randomBytes(8 * 1024 * 1024);
  const r1 = await b.appendBlock(big, big.length, { transactionalContentMD5: md5(big) });
  assert.equal(r1.blobAppendOffset, '0');
  assert.deepEqual(Buffer.from(r1.contentMD5), md5(big));
  const r2 = await b.appendBlock(Buffer.from([0x5a]), 1);
  assert.equal(r2.blobAppendOffset, String(big.length));
  assert.equal(r2.blobCommittedBlockCount, 2);
  const all = Buffer.concat([big, Buffer.from([0x5a])]);
  const got = await b.downloadToBuffer(0, undefined, { blockSize: 3 * 1024 * 1024, concurrency: 4 });
  assert.equal(sha(got), sha(all));
  assert.deepEqual(await b.downloadToBuffer(big.length - 3, 4), all.subarray(big.length - 3));
  assert.equal((await b.getProperties()).contentLength, big.length + 1);
});

test('copies of an append blob are append blobs, independent of the source', async () => {
  const c = await freshContainer();
  const src = c.getAppendBlobClient('src');
  await src.create({ metadata: { origin: 'src' }, blobHTTPHeaders: { blobContentType: 'text/x-log' } });
  const body = Buffer.concat([Buffer.from('line 1\n'), crypto.randomBytes(100 * 1024), Buffer.from('line 3\n')]);
  await src.appendBlock(body.subarray(0, 7), 7);
  await src.appendBlock(body.subarray(7), body.length - 7);
  const srcUrl = await sasUrl(src, 'r');

  const async = c.getAppendBlobClient('async-copy');
  const poller = await async.beginCopyFromURL(srcUrl);
  const res = await poller.pollUntilDone();
  assert.equal(res.copyStatus, 'success');
  const sync = c.getAppendBlobClient('sync-copy');
  const sr = await sync.syncCopyFromURL(srcUrl);
  assert.equal(sr.copyStatus, 'success');
  for (const dst of [async, sync]) {
    const p = await dst.getProperties();
    assert.equal(p.blobType, 'AppendBlob');
    assert.equal(p.contentLength, body.length);
    assert.equal(p.contentType, 'text/x-log');
    assert.deepEqual(p.metadata, { origin: 'src' });
    assert.deepEqual(await dst.downloadToBuffer(), body);
  }
  // appends to a copy stay in the copy, and the other way round
  const srcBefore = await state(src);
  const r = await async.appendBlock('copy only\n', 10);
  assert.equal(r.blobAppendOffset, String(body.length));
  assert.deepEqual(await state(src), srcBefore);
  assert.deepEqual(await async.downloadToBuffer(), Buffer.concat([body, Buffer.from('copy only\n')]));
  await src.appendBlock('source only\n', 12);
  assert.deepEqual(await sync.downloadToBuffer(), body);
  assert.deepEqual(await src.downloadToBuffer(), Buffer.concat([body, Buffer.from('source only\n')]));
  // a copy over an existing append blob replaces it
  await sync.appendBlock('more', 4);
  await sync.syncCopyFromURL(srcUrl);
  assert.deepEqual(await sync.downloadToBuffer(), Buffer.concat([body, Buffer.from('source only\n')]));
});

test('SIGKILL keeps every acknowledged append, and appends go on after the restart', async () => {
  const c = await freshContainer();
  const name = c.containerName;
  // 30 acknowledged appends, then a kill
  const steady = c.getAppendBlobClient('steady');
  await steady.create();
  const parts = [];
  for (let i = 0; i < 30; i++) {
    const ch = crypto.randomBytes(1 + ((i * 7919) % 3000));
    const r = await steady.appendBlock(ch, ch.length);
    assert.equal(r.blobAppendOffset, String(parts.reduce((n, x) => n + x.length, 0)));
    parts.push(ch);
  }
  // and a stream of appends that the kill interrupts
  const busy = c.getAppendBlobClient('stream');
  await busy.create();
  const acked = [];
  let inflight = null;
  let killed = false;
  const worker = (async () => {
    for (let i = 0; !killed; i++) {
      const ch = crypto.randomBytes(1 + ((i * 104729) % (200 * 1024)));
      inflight = ch;
      try {
        await busy.appendBlock(ch, ch.length);
      } catch (e) {
        if (!killed) throw e;
        return;
      }
      acked.push(ch);
      inflight = null;
    }
  })();
  await waitFor(() => acked.length >= 20, { what: 'appends to be acknowledged' });
  killed = true;
  await srv.restartAfterKill();
  await worker;

  const c2 = client().getContainerClient(name);
  const s2 = c2.getAppendBlobClient('steady');
  const want = Buffer.concat(parts);
  const p = await s2.getProperties();
  assert.equal(p.blobType, 'AppendBlob');
  assert.equal(p.contentLength, want.length);
  assert.equal(p.blobCommittedBlockCount, 30);
  assert.deepEqual(await s2.downloadToBuffer(), want);

  const b2 = c2.getAppendBlobClient('stream');
  const got = await b2.downloadToBuffer();
  const q = await b2.getProperties();
  const sure = Buffer.concat(acked);
  if (got.length === sure.length) {
    assert.ok(got.equals(sure), 'the acknowledged appends, byte for byte');
    assert.equal(q.blobCommittedBlockCount, acked.length);
  } else {
    assert.ok(inflight, `${got.length} bytes, ${sure.length} acknowledged and none in flight`);
    assert.ok(got.equals(Buffer.concat([sure, inflight])), 'the acknowledged appends and the one in flight');
    assert.equal(q.blobCommittedBlockCount, acked.length + 1);
  }
  // appends go on where the committed bytes end (nothing half-written shows)
  for (const [b, before] of [[s2, want], [b2, got]]) {
    const tail = crypto.randomBytes(5000);
    const r = await b.appendBlock(tail, tail.length);
    assert.equal(r.blobAppendOffset, String(before.length));
    assert.deepEqual(await b.downloadToBuffer(), Buffer.concat([before, tail]));
  }
  await waitFor(() => fs.readdirSync(tmpDir).length === 0, { what: 'temp files removed' });
});
