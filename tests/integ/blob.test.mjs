// blob.test.mjs: the Blob service through the official JS SDK
// (@azure/storage-blob, pinned): containers, Put Blob with content
// settings and MD5 checks, properties and metadata, ranged and
// conditional reads and writes, leases, block lists, a large block upload
// read back with parallel ranged downloads, listings, copies, deletes.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { startServer, waitFor } from './lib/server.mjs';

const srv = await startServer({ name: 'blob' });
const svc = BlobServiceClient.fromConnectionString(srv.connStr);
after(async () => { await srv.stop(); });

const md5 = (b) => crypto.createHash('md5').update(b).digest();
let seq = 0;
async function freshContainer(opts) {
  const c = svc.getContainerClient(`c${process.pid % 1000}-${++seq}`);
  await c.create(opts);
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
function countFiles() {
  let n = 0;
  const root = path.join(srv.dataDir, 'blobs');
  for (const d of fs.readdirSync(root)) {
    if (!/^[0-9a-f]{2}$/.test(d)) continue;
    n += fs.readdirSync(path.join(root, d)).length;
  }
  return n;
}

test('containers: create, exists, properties, metadata, duplicate, delete', async () => {
  const c = svc.getContainerClient('lifecycle');
  assert.equal(await c.exists(), false);
  const created = await c.create({ metadata: { owner: 'me', Project_1: 'x y' } });
  assert.match(created.etag, /^"0x[0-9A-F]+"$/);
  assert.equal(await c.exists(), true);
  const p = await c.getProperties();
  assert.deepEqual(p.metadata, { owner: 'me', project_1: 'x y' });
  assert.equal(p.leaseState, 'available');
  assert.equal(p.leaseStatus, 'unlocked');
  assert.equal(p.blobPublicAccess, undefined);
  await rejects(c.create(), 409, 'ContainerAlreadyExists');
  const r = await c.createIfNotExists();
  assert.equal(r.succeeded, false);
  const set = await c.setMetadata({ a: '1' });
  assert.notEqual(set.etag, created.etag);
  assert.deepEqual((await c.getProperties()).metadata, { a: '1' });
  await c.delete();
  assert.equal(await c.exists(), false);
  await rejects(c.delete(), 404, 'ContainerNotFound');
  // uploads into it: small (buffered), large (streamed to a file), a block
  const gone = c.getBlockBlobClient('x');
  await rejects(gone.upload('tiny', 4), 404, 'ContainerNotFound');
  const big = crypto.randomBytes(200 * 1024);
  await rejects(gone.upload(big, big.length), 404, 'ContainerNotFound');
  await rejects(gone.stageBlock(Buffer.from('b1').toString('base64'), big, big.length), 404, 'ContainerNotFound');
  assert.equal(await c.exists(), false);
  await rejects(svc.getContainerClient('Bad_Name').create(), 400, 'InvalidResourceName');
  await rejects(svc.getContainerClient('a--b').create(), 400, 'InvalidResourceName');
});

test('list containers: prefix, pages, metadata', async () => {
  for (const n of ['lc-b', 'lc-a', 'lc-c', 'lc-d', 'other-lc']) {
    await svc.getContainerClient(n).create({ metadata: { name: n.replace(/-/g, '_') } });
  }
  const names = [];
  for await (const page of svc.listContainers({ prefix: 'lc-', includeMetadata: true }).byPage({ maxPageSize: 3 })) {
    assert.ok(page.containerItems.length <= 3);
    for (const it of page.containerItems) {
      names.push(it.name);
      assert.equal(it.metadata.name, it.name.replace(/-/g, '_'));
      assert.match(it.properties.etag, /^"0x/);
    }
  }
  assert.deepEqual(names, ['lc-a', 'lc-b', 'lc-c', 'lc-d']);
});

test('put blob: content settings, metadata, server MD5, headers', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('docs/readme.txt');
  const body = Buffer.from('hello, shoal\n');
  const up = await b.upload(body, body.length, {
    blobHTTPHeaders: {
      blobContentType: 'text/plain; charset=utf-8', blobContentEncoding: 'identity',
      blobContentLanguage: 'en-GB', blobCacheControl: 'max-age=60',
      blobContentDisposition: 'attachment; filename="r.txt"',
    },
    metadata: { color: 'red', Size_2: 'big' },
  });
  assert.deepEqual(Buffer.from(up.contentMD5), md5(body));
  assert.equal(up.isServerEncrypted, true);
  const p = await b.getProperties();
  assert.equal(p.contentLength, body.length);
  assert.equal(p.contentType, 'text/plain; charset=utf-8');
  assert.equal(p.contentEncoding, 'identity');
  assert.equal(p.contentLanguage, 'en-GB');
  assert.equal(p.cacheControl, 'max-age=60');
  assert.equal(p.contentDisposition, 'attachment; filename="r.txt"');
  assert.deepEqual(p.metadata, { color: 'red', size_2: 'big' });
  assert.deepEqual(Buffer.from(p.contentMD5), md5(body));
  assert.equal(p.blobType, 'BlockBlob');
  assert.equal(p.isServerEncrypted, true);
  assert.equal(p.etag, up.etag);
  assert.ok(p.createdOn instanceof Date && p.lastModified instanceof Date);
  assert.equal(p._response.headers.get('accept-ranges'), 'bytes');
  // no content type at all: application/octet-stream
  const raw = c.getBlockBlobClient('raw');
  await raw.upload('x', 1);
  assert.equal((await raw.getProperties()).contentType, 'application/octet-stream');
  // the blob's own name survives slashes, spaces and unicode
  const odd = c.getBlockBlobClient('dir one/ünï cødé/a?b#c%d&e=f+g.txt');
  await odd.upload('odd', 3);
  assert.equal((await odd.downloadToBuffer()).toString(), 'odd');
  const listed = [];
  for await (const it of c.listBlobsFlat()) listed.push(it.name);
  assert.ok(listed.includes('dir one/ünï cødé/a?b#c%d&e=f+g.txt'));
});

test('put blob: Content-MD5 is checked, x-ms-blob-content-md5 is stored', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('md5');
  const body = Buffer.from('checked body');
  await rejects(b.upload(body, body.length, { transactionalContentMD5: md5(Buffer.from('other')) }), 400, 'Md5Mismatch');
  assert.equal(await b.exists(), false);
  await b.upload(body, body.length, { transactionalContentMD5: md5(body) });
  assert.deepEqual(Buffer.from((await b.getProperties()).contentMD5), md5(body));
  // the blob MD5 header is what gets checked and stored when given
  await rejects(b.upload(body, body.length, { blobHTTPHeaders: { blobContentMD5: md5(Buffer.from('nope')) } }), 400, 'Md5Mismatch');
  assert.equal((await b.downloadToBuffer()).toString(), 'checked body');
});

test('set properties clears what is not given; metadata replaces; etags move', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('props');
  const up = await b.upload('abc', 3, { blobHTTPHeaders: { blobContentType: 'a/b', blobCacheControl: 'no-cache' } });
  const s1 = await b.setHTTPHeaders({ blobContentType: 'c/d' });
  assert.notEqual(s1.etag, up.etag);
  let p = await b.getProperties();
  assert.equal(p.contentType, 'c/d');
  assert.equal(p.cacheControl, undefined);
  const s2 = await b.setMetadata({ one: '1', two: '2' });
  assert.notEqual(s2.etag, s1.etag);
  await b.setMetadata({ three: '3' });
  p = await b.getProperties();
  assert.deepEqual(p.metadata, { three: '3' });
  assert.equal((await b.downloadToBuffer()).toString(), 'abc');
  await rejects(b.setMetadata({ 'bad-name': 'x' }), 400, 'InvalidMetadata');
  await rejects(c.getBlockBlobClient('missing').setMetadata({ a: 'b' }), 404, 'BlobNotFound');
});

test('ranged reads: offsets, clamping, range MD5, empty blob 416', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('range');
  const body = crypto.randomBytes(100000);
  await b.upload(body, body.length);
  const part = await b.download(1000, 500);
  assert.equal(part.contentLength, 500);
  assert.equal(part.contentRange, `bytes 1000-1499/${body.length}`);
  const got = await streamToBuffer(part.readableStreamBody);
  assert.deepEqual(got, body.subarray(1000, 1500));
  const tail = await b.download(99990, 1000);
  assert.equal(tail.contentLength, 10);
  const withMd5 = await b.download(10, 4096, { rangeGetContentMD5: true });
  assert.deepEqual(Buffer.from(withMd5.contentMD5), md5(body.subarray(10, 4106)));
  assert.deepEqual(Buffer.from(withMd5.blobContentMD5), md5(body));
  await rejects(b.download(200000, 10), 416, 'InvalidRange');
  const empty = c.getBlockBlobClient('empty');
  await empty.upload('', 0);
  await rejects(empty.download(0, 10), 416, 'InvalidRange');
  const whole = await empty.download();
  assert.equal(whole.contentLength, 0);
  assert.equal((await empty.downloadToBuffer()).length, 0);
});

async function streamToBuffer(s) {
  const chunks = [];
  for await (const ch of s) chunks.push(ch);
  return Buffer.concat(chunks);
}

test('conditional reads (304) and writes (412, 409)', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('cond');
  const up = await b.upload('v1', 2);
  const lm = (await b.getProperties()).lastModified;
  const future = new Date(Date.now() + 3600e3);
  const past = new Date(lm.getTime() - 3600e3);
  await rejects(b.download(0, undefined, { conditions: { ifNoneMatch: up.etag } }), 304);
  await rejects(b.getProperties({ conditions: { ifModifiedSince: future } }), 304);
  assert.equal((await b.download(0, undefined, { conditions: { ifModifiedSince: past } })).contentLength, 2);
  await rejects(b.download(0, undefined, { conditions: { ifMatch: '"0x1"' } }), 412, 'ConditionNotMet');
  await rejects(b.upload('v2', 2, { conditions: { ifMatch: '"0x1"' } }), 412, 'ConditionNotMet');
  await rejects(b.upload('v2', 2, { conditions: { ifUnmodifiedSince: past } }), 412, 'ConditionNotMet');
  await rejects(b.upload('v2', 2, { conditions: { ifNoneMatch: '*' } }), 409, 'BlobAlreadyExists');
  await rejects(b.setMetadata({ x: 'y' }, { conditions: { ifMatch: '"0x2"' } }), 412, 'ConditionNotMet');
  await rejects(b.delete({ conditions: { ifNoneMatch: up.etag } }), 412, 'ConditionNotMet');
  assert.equal((await b.downloadToBuffer()).toString(), 'v1');
  const ok = await b.upload('v3', 2, { conditions: { ifMatch: up.etag } });
  assert.notEqual(ok.etag, up.etag);
  const fresh = c.getBlockBlobClient('fresh');
  await fresh.upload('new', 3, { conditions: { ifNoneMatch: '*' } });
  await rejects(c.getBlockBlobClient('nope').upload('x', 1, { conditions: { ifMatch: '*' } }), 412, 'ConditionNotMet');
});

test('blob leases: acquire, guarded writes, renew, change, release, break', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('leased');
  await b.upload('v1', 2);
  const lc = b.getBlobLeaseClient();
  const acq = await lc.acquireLease(15);
  assert.equal(acq.leaseId, lc.leaseId);
  let p = await b.getProperties();
  assert.equal(p.leaseState, 'leased');
  assert.equal(p.leaseStatus, 'locked');
  assert.equal(p.leaseDuration, 'fixed');
  await rejects(b.upload('v2', 2), 412, 'LeaseIdMissing');
  await rejects(b.setMetadata({ a: 'b' }), 412, 'LeaseIdMissing');
  await rejects(b.delete(), 412, 'LeaseIdMissing');
  const wrong = crypto.randomUUID();
  await rejects(b.upload('v2', 2, { conditions: { leaseId: wrong } }), 412, 'LeaseIdMismatchWithBlobOperation');
  await rejects(b.getBlobLeaseClient(wrong).acquireLease(15), 409, 'LeaseAlreadyPresent');
  await b.upload('v2', 2, { conditions: { leaseId: lc.leaseId } });
  assert.equal((await b.downloadToBuffer()).toString(), 'v2');
  // the lease survives the overwrite
  assert.equal((await b.getProperties()).leaseState, 'leased');
  await lc.renewLease();
  const next = crypto.randomUUID();
  await lc.changeLease(next);
  assert.equal(lc.leaseId, next);
  await rejects(b.getBlobLeaseClient(wrong).releaseLease(), 409, 'LeaseIdMismatchWithLeaseOperation');
  await lc.releaseLease();
  assert.equal((await b.getProperties()).leaseState, 'available');
  await rejects(b.setMetadata({ a: 'b' }, { conditions: { leaseId: next } }), 412, 'LeaseNotPresentWithBlobOperation');
  // break an infinite lease: broken at once, writes allowed again
  const inf = b.getBlobLeaseClient();
  await inf.acquireLease(-1);
  assert.equal((await b.getProperties()).leaseDuration, 'infinite');
  const brk = await inf.breakLease(0);
  assert.equal(brk.leaseTime, 0);
  p = await b.getProperties();
  assert.equal(p.leaseState, 'broken');
  await b.setMetadata({ after: 'break' });
  // a break period leaves it breaking, still locked
  await b.getBlobLeaseClient().acquireLease(-1);
  const brk2 = await b.getBlobLeaseClient().breakLease(30);
  assert.equal(brk2.leaseTime, 30);
  assert.equal((await b.getProperties()).leaseState, 'breaking');
  await rejects(b.delete(), 412, 'LeaseIdMissing');
  await rejects(b.getBlobLeaseClient().acquireLease(20), 409);
  await rejects(b.getBlobLeaseClient().acquireLease(5), 400, 'InvalidHeaderValue');
});

test('container leases guard delete', async () => {
  const c = await freshContainer();
  const lc = c.getBlobLeaseClient();
  await lc.acquireLease(-1);
  const p = await c.getProperties();
  assert.equal(p.leaseState, 'leased');
  assert.equal(p.leaseDuration, 'infinite');
  await rejects(c.delete(), 412, 'LeaseIdMissing');
  await rejects(c.delete({ conditions: { leaseId: crypto.randomUUID() } }), 412, 'LeaseIdMismatchWithContainerOperation');
  // other writes need no lease id
  await c.setMetadata({ still: 'writable' });
  await c.delete({ conditions: { leaseId: lc.leaseId } });
  assert.equal(await c.exists(), false);
});

test('block blobs: stage, commit, block lists, committed reuse, id rules', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('blocks');
  const id = (n) => Buffer.from(`block-${String(n).padStart(4, '0')}`).toString('base64');
  const parts = [Buffer.from('alpha-'), Buffer.from('beta-'), Buffer.from('gamma')];
  for (let i = 0; i < 3; i++) {
    const r = await b.stageBlock(id(i), parts[i], parts[i].length);
    assert.equal(Buffer.from(r.xMsContentCrc64).length, 8);
  }
  assert.equal(await b.exists(), false);
  let bl = await b.getBlockList('uncommitted');
  assert.deepEqual(bl.uncommittedBlocks.map((x) => x.name), [id(0), id(1), id(2)]);
  await rejects(b.stageBlock(Buffer.from('short').toString('base64'), 'x', 1), 400, 'InvalidBlobOrBlock');
  await rejects(b.commitBlockList([id(0), id(7)]), 400, 'InvalidBlockList');
  const listed = [];
  for await (const it of c.listBlobsFlat({ includeUncommitedBlobs: true })) listed.push(it.name);
  assert.deepEqual(listed, ['blocks']);
  const com = await b.commitBlockList([id(2), id(0)], { blobHTTPHeaders: { blobContentType: 'text/x' }, metadata: { m: '1' } });
  assert.ok(com.etag);
  assert.equal((await b.downloadToBuffer()).toString(), 'gammaalpha-');
  bl = await b.getBlockList('all');
  assert.deepEqual(bl.committedBlocks.map((x) => [x.name, x.size]), [[id(2), 5], [id(0), 6]]);
  assert.equal(bl.uncommittedBlocks.length, 0, 'commit drops the uncommitted blocks');
  const p = await b.getProperties();
  assert.equal(p.contentType, 'text/x');
  assert.deepEqual(p.metadata, { m: '1' });
  // reuse committed blocks around a new one
  await b.stageBlock(id(9), 'NEW', 3);
  await b.commitBlockList([id(0), id(9), id(0), id(2)]);
  assert.equal((await b.downloadToBuffer()).toString(), 'alpha-NEWalpha-gamma');
  // a Put Blob replaces the block list
  await b.upload('plain', 5);
  bl = await b.getBlockList('all');
  assert.equal(bl.committedBlocks.length, 0);
  // an empty block list is an empty blob
  await b.commitBlockList([]);
  assert.equal((await b.getProperties()).contentLength, 0);
});

test('large blob: 40 MiB in blocks, parallel ranged download, byte for byte', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('large/forty.bin');
  const body = crypto.randomBytes(40 * 1024 * 1024);
  await b.uploadData(body, { blockSize: 4 * 1024 * 1024, maxSingleShotSize: 1024 * 1024, concurrency: 4 });
  const bl = await b.getBlockList('committed');
  assert.equal(bl.committedBlocks.length, 10);
  const p = await b.getProperties();
  assert.equal(p.contentLength, body.length);
  const back = await b.downloadToBuffer(0, undefined, { blockSize: 3 * 1024 * 1024 + 17, concurrency: 8 });
  assert.equal(back.length, body.length);
  assert.ok(back.equals(body), 'downloaded bytes differ');
  const mid = await b.downloadToBuffer(12345678, 5 * 1024 * 1024, { blockSize: 1024 * 1024, concurrency: 5 });
  assert.ok(mid.equals(body.subarray(12345678, 12345678 + 5 * 1024 * 1024)));
  const before = countFiles();
  await b.delete();
  // dropped files are unlinked in the background, after the commit
  await waitFor(() => countFiles() === before - 1, { what: 'the bytes to be removed' });
});

// CRC-64/NVME (reflected 0x9a6c9329ac4bc9b5), as x-ms-content-crc64 carries
// it: 8 bytes, least significant first.
const CRC64_TABLE = (() => {
  const t = [];
  for (let n = 0n; n < 256n; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ 0x9a6c9329ac4bc9b5n : c >> 1n;
    t.push(c);
  }
  return t;
})();
function crc64(buf) {
  let c = 0xffffffffffffffffn;
  for (const byte of buf) c = CRC64_TABLE[Number((c ^ BigInt(byte)) & 0xffn)] ^ (c >> 8n);
  c ^= 0xffffffffffffffffn;
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(c);
  return out;
}

test('uploads of 4 MiB and more (digested and written on a thread of their own)', async () => {
  const c = await freshContainer();
  // single Put Blob, not a whole number of buffers: MD5 of every byte
  const body = crypto.randomBytes(9 * 1024 * 1024 + 123);
  const b = c.getBlockBlobClient('big/one.bin');
  const up = await b.upload(body, body.length, { transactionalContentMD5: md5(body) });
  assert.deepEqual(Buffer.from(up.contentMD5), md5(body));
  assert.deepEqual(Buffer.from((await b.getProperties()).contentMD5), md5(body));
  assert.ok((await b.downloadToBuffer()).equals(body), 'downloaded bytes differ');
  const bad = Buffer.from(md5(body));
  bad[0] ^= 1;
  await assert.rejects(b.upload(body, body.length, { transactionalContentMD5: bad }),
    (e) => e.statusCode === 400 && e.code === 'Md5Mismatch');
  assert.ok((await b.downloadToBuffer()).equals(body), 'a refused upload changed the blob');
  // Put Block: MD5 and CRC-64 checked, right and wrong
  const blk = crypto.randomBytes(5 * 1024 * 1024 + 7);
  const id = Buffer.from('blk-0').toString('base64');
  const bb = c.getBlockBlobClient('big/blocks.bin');
  await bb.stageBlock(id, blk, blk.length, { transactionalContentMD5: md5(blk) });
  const wrongMd5 = Buffer.from(md5(blk));
  wrongMd5[15] ^= 0x80;
  await assert.rejects(bb.stageBlock(id, blk, blk.length, { transactionalContentMD5: wrongMd5 }),
    (e) => e.statusCode === 400 && e.code === 'Md5Mismatch');
  const crc = crc64(blk);
  const r = await bb.stageBlock(id, blk, blk.length, { transactionalContentCrc64: crc });
  assert.deepEqual(Buffer.from(r.xMsContentCrc64), crc);
  const wrongCrc = Buffer.from(crc);
  wrongCrc[3] ^= 1;
  await assert.rejects(bb.stageBlock(id, blk, blk.length, { transactionalContentCrc64: wrongCrc }),
    (e) => e.statusCode === 400 && e.code === 'Crc64Mismatch');
  await bb.commitBlockList([id]);
  assert.ok((await bb.downloadToBuffer()).equals(blk), 'committed block differs');
});

test('list blobs: hierarchy, pages, binary order, metadata', async () => {
  const c = await freshContainer();
  const names = ['a', 'a/1', 'a/2', 'a/b/3', 'b/1', 'b/2', 'c', 'Z', 'é', '~', 'x y'];
  for (const n of names) await c.getBlockBlobClient(n).upload(n, Buffer.byteLength(n), { metadata: { n: 'v' } });
  const flat = [];
  for await (const page of c.listBlobsFlat({ includeMetadata: true }).byPage({ maxPageSize: 4 })) {
    assert.ok(page.segment.blobItems.length <= 4);
    for (const it of page.segment.blobItems) {
      flat.push(it.name);
      assert.deepEqual(it.metadata, { n: 'v' });
      assert.equal(it.properties.contentLength, Buffer.byteLength(it.name));
      assert.match(it.properties.etag, /^0x[0-9A-F]+$/);
    }
  }
  const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual(flat, byBytes);
  const top = [];
  for await (const page of c.listBlobsByHierarchy('/').byPage({ maxPageSize: 2 })) {
    for (const pf of page.segment.blobPrefixes ?? []) top.push(`P:${pf.name}`);
    for (const it of page.segment.blobItems) top.push(it.name);
  }
  assert.deepEqual(top.sort(), ['P:a/', 'P:b/', 'Z', 'a', 'c', 'x y', '~', 'é'].sort());
  const inA = [];
  for await (const it of c.listBlobsByHierarchy('/', { prefix: 'a/' })) inA.push(it.kind === 'prefix' ? `P:${it.name}` : it.name);
  // the SDK yields a page's prefixes before its blobs
  assert.deepEqual(inA.sort(), ['P:a/b/', 'a/1', 'a/2']);
  await rejects(c.listBlobsFlat().byPage({ maxPageSize: 0 }).next(), 400);
});

test('copy blob: async API completes at once, sync copy, properties', async () => {
  const c = await freshContainer();
  const src = c.getBlockBlobClient('src.bin');
  const body = crypto.randomBytes(300000);
  await src.upload(body, body.length, { blobHTTPHeaders: { blobContentType: 'app/src' }, metadata: { from: 'src' } });
  const dst = c.getBlockBlobClient('dst.bin');
  const poller = await dst.beginCopyFromURL(src.url);
  const res = await poller.pollUntilDone();
  assert.equal(res.copyStatus, 'success');
  const p = await dst.getProperties();
  assert.equal(p.copyStatus, 'success');
  assert.equal(p.copySource, src.url);
  assert.equal(p.contentType, 'app/src');
  assert.deepEqual(p.metadata, { from: 'src' });
  assert.ok((await dst.downloadToBuffer()).equals(body));
  const other = await freshContainer();
  const dst2 = other.getBlockBlobClient('copy2');
  const r2 = await dst2.syncCopyFromURL(src.url, { metadata: { own: 'meta' } });
  assert.equal(r2.copyStatus, 'success');
  assert.deepEqual((await dst2.getProperties()).metadata, { own: 'meta' });
  // the source stays as it was; the copy is independent of it
  await src.upload('changed', 7);
  assert.ok((await dst2.downloadToBuffer()).equals(body));
  await rejects(c.getBlockBlobClient('x').syncCopyFromURL(c.getBlockBlobClient('missing').url), 404, 'BlobNotFound');
});

test('delete container removes its blobs and their bytes', async () => {
  const c = await freshContainer();
  const before = countFiles();
  // blobs over 64 KiB are files; smaller ones live in the database
  const big = crypto.randomBytes(100 * 1024);
  for (let i = 0; i < 3; i++) await c.getBlockBlobClient(`f${i}`).upload(big, big.length);
  for (let i = 0; i < 2; i++) await c.getBlockBlobClient(`s${i}`).upload('data', 4);
  await c.getBlockBlobClient('staged').stageBlock(Buffer.from('id').toString('base64'), 'zz', 2);
  assert.equal(countFiles(), before + 4);
  await c.delete();
  await waitFor(() => countFiles() === before, { what: 'the bytes to be removed' });
  await c.create();
  let n = 0;
  for await (const it of c.listBlobsFlat({ includeUncommitedBlobs: true })) n += it ? 1 : 0;
  assert.equal(n, 0);
});

test('delete blob, names at the limits, account info, service properties', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('gone');
  await b.upload('x', 1);
  const d = await b.delete();
  assert.equal(d._response.status, 202);
  assert.equal(await b.exists(), false);
  await rejects(b.delete(), 404, 'BlobNotFound');
  await rejects(b.download(), 404, 'BlobNotFound');
  const long = 'n'.repeat(1024);
  await c.getBlockBlobClient(long).upload('ok', 2);
  assert.equal((await c.getBlockBlobClient(long).downloadToBuffer()).toString(), 'ok');
  await rejects(c.getBlockBlobClient('n'.repeat(1025)).upload('no', 2), 400, 'InvalidResourceName');
  // the largest request head a client sends: a 1024-character name of
  // 3-byte characters (9 KiB once percent-encoded) and 8 KiB of metadata
  const wide = '\u20ac'.repeat(1024);
  const meta = {};
  for (let i = 0; i < 7; i++) meta[`k${i}`] = String(i).repeat(1150);
  await c.getBlockBlobClient(wide).upload('wide', 4, { metadata: meta });
  const wp = await c.getBlockBlobClient(wide).getProperties();
  assert.deepEqual(wp.metadata, meta);
  const info = await svc.getAccountInfo();
  assert.equal(info.skuName, 'Standard_LRS');
  assert.equal(info.accountKind, 'StorageV2');
  const props = await svc.getProperties();
  assert.equal(props.deleteRetentionPolicy.enabled, false);
  await svc.setProperties({ deleteRetentionPolicy: { enabled: false } });
});

test('concurrent writers of one blob: readers see whole versions', async () => {
  const c = await freshContainer();
  const b = c.getBlockBlobClient('contended');
  const versions = [0, 1, 2, 3].map((i) => Buffer.alloc(512 * 1024, 65 + i));
  await b.upload(versions[0], versions[0].length);
  const writes = [];
  for (let r = 0; r < 3; r++) for (const v of versions) writes.push(b.upload(v, v.length));
  const reads = [];
  for (let r = 0; r < 12; r++) reads.push(b.downloadToBuffer());
  const [, got] = await Promise.all([Promise.all(writes), Promise.all(reads)]);
  for (const g of got) {
    assert.equal(g.length, 512 * 1024);
    assert.ok(versions.some((v) => v.equals(g)), 'a read mixed two versions');
  }
});
