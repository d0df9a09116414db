// tests/integ/client.test.mjs: libshoal interoperating with the official
// Azure JS SDKs through the real shoald, both ways: what libshoal writes
// (through the shoal CLI) the SDKs read, and the reverse; SAS tokens made
// by libshoal work in the SDK and SDK-made SAS tokens work in libshoal;
// listings page through continuation markers. The Batch checks use
// @azure/batch to create what libshoal reads and the reverse.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  BlobServiceClient, StorageSharedKeyCredential, ContainerClient,
  generateAccountSASQueryParameters, AccountSASPermissions,
  AccountSASServices, AccountSASResourceTypes,
} from '@azure/storage-blob';
import { QueueServiceClient, StorageSharedKeyCredential as QCred } from '@azure/storage-queue';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, binDir, tmpDir } from './lib/server.mjs';

const srv = await startServer({ name: 'client' });
const connStr = `${srv.connStr}BatchEndpoint=${srv.batchUrl};`;
const work = tmpDir('client-files');
after(async () => { await srv.stop(); fs.rmSync(work, { recursive: true, force: true }); });

const cred = new StorageSharedKeyCredential(srv.account, srv.key);
const blobs = new BlobServiceClient(srv.blobUrl, cred);
const queues = new QueueServiceClient(srv.queueUrl, new QCred(srv.account, srv.key));
const batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);

function shoal(args, opts = {}) {
  const r = spawnSync(path.join(binDir, 'shoal'), args, {
    env: { ...process.env, SHOAL_CONNECTION_STRING: opts.connStr ?? connStr },
    encoding: opts.binary ? 'buffer' : 'utf8', input: '',
  });
  return { code: r.status, out: r.stdout, err: r.stderr?.toString() };
}

function ok(r) {
  assert.equal(r.code, 0, `shoal failed: ${r.err}`);
  return r;
}

test('a large file uploaded by libshoal in blocks reads back through the SDK', async () => {
  await blobs.getContainerClient('interop').createIfNotExists();
  const file = path.join(work, 'big.bin');
  const data = crypto.randomBytes(40 * 1024 * 1024 + 12345);
  fs.writeFileSync(file, data);
  ok(shoal(['blob', 'upload', 'interop', file, '--name', 'dir/big.bin', '--meta', 'origin=libshoal']));
  const b = blobs.getContainerClient('interop').getBlobClient('dir/big.bin');
  const props = await b.getProperties();
  assert.equal(props.contentLength, data.length);
  assert.equal(props.metadata.origin, 'libshoal');
  const got = await b.downloadToBuffer();
  assert.ok(got.equals(data));
});

test('a blob uploaded by the SDK downloads through libshoal (parallel ranges)', async () => {
  const data = crypto.randomBytes(9 * 1024 * 1024 + 7);
  await blobs.getContainerClient('interop').getBlockBlobClient('sdk.bin').uploadData(data);
  const dest = path.join(work, 'sdk.bin');
  ok(shoal(['blob', 'download', 'interop', 'sdk.bin', dest]));
  assert.ok(fs.readFileSync(dest).equals(data));
});

test('a libshoal container SAS works in the SDK', async () => {
  const r = ok(shoal(['sas', 'container', 'interop', '--perms', 'rl', '--expiry', '1h', '--json']));
  const { url } = JSON.parse(r.out);
  const cc = new ContainerClient(url);
  const names = [];
  for await (const b of cc.listBlobsFlat()) names.push(b.name);
  assert.ok(names.includes('sdk.bin'));
  const got = await cc.getBlobClient('sdk.bin').downloadToBuffer();
  assert.ok(got.length > 0);
  await assert.rejects(cc.getBlockBlobClient('nope.txt').upload('x', 1), (e) => e.statusCode === 403);
});

test('an SDK account SAS works in libshoal (SharedAccessSignature connection string)', async () => {
  const sas = generateAccountSASQueryParameters({
    expiresOn: new Date(Date.now() + 3600e3),
    permissions: AccountSASPermissions.parse('rl'),
    services: AccountSASServices.parse('b').toString(),
    resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
  }, cred).toString();
  const cs = `BlobEndpoint=${srv.blobUrl};SharedAccessSignature=${sas}`;
  const r = ok(shoal(['blob', 'list', 'interop', '--json'], { connStr: cs }));
  assert.ok(JSON.parse(r.out).some((b) => b.name === 'sdk.bin'));
  const w = shoal(['container', 'create', 'viasas'], { connStr: cs });
  assert.equal(w.code, 1);
  assert.match(w.err, /^shoal: Authorization/);
});

test('listings page through continuation markers', async () => {
  const cc = blobs.getContainerClient('paged');
  await cc.create();
  for (let i = 0; i < 12; i++) await cc.getBlockBlobClient(`b${String(i).padStart(2, '0')}`).upload('x', 1);
  const r = ok(shoal(['blob', 'list', 'paged', '--page-size', '5', '--json']));
  const names = JSON.parse(r.out).map((b) => b.name);
  assert.deepEqual(names, Array.from({ length: 12 }, (_, i) => `b${String(i).padStart(2, '0')}`));
});

test('queue messages cross between libshoal and the SDK verbatim', async () => {
  const q = queues.getQueueClient('interopq');
  await q.create();
  ok(shoal(['queue', 'put', 'interopq', 'from <libshoal> & co']));
  const got = await q.receiveMessages();
  assert.equal(got.receivedMessageItems[0].messageText, 'from <libshoal> & co');
  await q.deleteMessage(got.receivedMessageItems[0].messageId, got.receivedMessageItems[0].popReceipt);
  await q.sendMessage('from the "SDK"');
  const r = ok(shoal(['queue', 'get', 'interopq', '--json']));
  assert.equal(JSON.parse(r.out)[0].text, 'from the "SDK"');
});

test('batch: the SDK sees what libshoal made, and libshoal what the SDK made', async () => {
  ok(shoal(['pool', 'create', 'ipool', '--nodes', '1']));
  const p = await batch.pool.get('ipool');
  assert.equal(p.targetDedicatedNodes, 1);
  await batch.job.add({ id: 'ijob', poolInfo: { poolId: 'ipool' } });
  const r = ok(shoal(['job', 'show', 'ijob', '--json']));
  assert.equal(JSON.parse(r.out).poolInfo.poolId, 'ipool');
  ok(shoal(['task', 'add', 'ijob', '--id', 'it1', '--', '/bin/echo', 'a b', "it's"]));
  const t = await batch.task.get('ijob', 'it1');
  assert.equal(t.commandLine, "/bin/echo 'a b' 'it'\\''s'");
  const w = ok(shoal(['job', 'wait', 'ijob', '--timeout', '120', '--json']));
  assert.equal(JSON.parse(w.out).completed, 1);
  const out = ok(shoal(['task', 'output', 'ijob', 'it1']));
  assert.equal(out.out, "a b it's\n");
  await batch.job.deleteMethod('ijob');
  await batch.pool.deleteMethod('ipool');
});
