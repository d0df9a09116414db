// crash_blob.test.mjs: SIGKILL shoald in the middle of a stream of
// uploads (Put Blob and block lists, overwrites included), restart it on
// the same data directory, and check that every acknowledged upload is
// there byte for byte, that nothing half-written is listed, and that the
// restart collected every temp and orphan file.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { startServer, waitFor } from './lib/server.mjs';

const srv = await startServer({ name: 'crashblob' });
after(async () => { await srv.stop(); });

const WORKERS = 6;
const NAMES_PER_WORKER = 6;
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
const client = () => BlobServiceClient.fromConnectionString(srv.connStr, { retryOptions: { maxTries: 1 } });

function countPublished() {
  let n = 0;
  const root = path.join(srv.dataDir, 'blobs');
  for (const d of fs.readdirSync(root)) if (/^[0-9a-f]{2}$/.test(d)) n += fs.readdirSync(path.join(root, d)).length;
  return n;
}

// Everything a worker sent, per blob name: acknowledged, in flight.
const acked = new Map();    // name -> sha of the last acknowledged version
const inflight = new Map(); // name -> sha of a version whose answer never came
const sent = new Map();     // name -> Set of sha of every version sent
let uploads = 0;

async function worker(w, container, state) {
  let i = 0;
  while (!state.stop) {
    const name = `w${w}/blob-${i % NAMES_PER_WORKER}`;
    const size = (i * 7919 + w * 104729) % (256 * 1024);
    const body = crypto.randomBytes(size);
    const h = sha(body);
    const b = container.getBlockBlobClient(name);
    if (!sent.has(name)) sent.set(name, new Set());
    sent.get(name).add(h);
    inflight.set(name, h);
    try {
      if (i % 4 === 3) {
        const ids = [];
        for (let k = 0; k < 3; k++) {
          const id = Buffer.from(`r${state.round}-i${i}-k${k}`.padEnd(16, '.')).toString('base64');
          const part = body.subarray(Math.floor((k * size) / 3), Math.floor(((k + 1) * size) / 3));
          await b.stageBlock(id, part, part.length);
          ids.push(id);
        }
        await b.commitBlockList(ids);
      } else {
        await b.upload(body, body.length);
      }
    } catch (e) {
      if (!state.killed) throw e;
      return; // the server went away mid-request: this version is in doubt
    }
    acked.set(name, h);
    inflight.delete(name);
    uploads++;
    i++;
  }
}

async function verify(svc) {
  const c = svc.getContainerClient('crash');
  const listed = new Map();
  const blockNames = new Set();
  for await (const it of c.listBlobsFlat()) {
    const bl = await c.getBlockBlobClient(it.name).getBlockList('committed');
    if (bl.committedBlocks.length) blockNames.add(it.name);
  }
  for await (const it of c.listBlobsFlat()) listed.set(it.name, it.properties.contentLength);
  for (const [name, h] of acked) {
    const doubt = inflight.get(name);
    assert.ok(listed.has(name), `acknowledged blob ${name} is missing`);
    const got = sha(await c.getBlockBlobClient(name).downloadToBuffer());
    assert.ok(got === h || got === doubt, `blob ${name} holds neither its acknowledged nor its in-flight bytes`);
  }
  for (const [name, size] of listed) {
    const got = await c.getBlockBlobClient(name).downloadToBuffer();
    assert.equal(got.length, size);
    assert.ok(sent.get(name)?.has(sha(got)), `listed blob ${name} is not a version that was sent (partial?)`);
  }
  // what is on disk is what the database references, nothing else
  assert.deepEqual(fs.readdirSync(path.join(srv.dataDir, 'blobs', 'tmp')), []);
  let files = 0;
  // blobs over 64 KiB put in one piece, or committed from blocks, are files;
  // smaller Put Blob bodies live in the database
  for (const [name, size] of listed) if (size > 64 * 1024 || (size > 0 && blockNames.has(name))) files++;
  for await (const it of c.listBlobsFlat({ includeUncommitedBlobs: true })) {
    const bl = await c.getBlockBlobClient(it.name).getBlockList('uncommitted');
    files += bl.uncommittedBlocks.length;
  }
  assert.equal(countPublished(), files, 'orphan files survived the restart');
  return listed.size;
}

test('SIGKILL during uploads loses nothing acknowledged and lists nothing partial', async () => {
  await client().getContainerClient('crash').create();
  for (let round = 0; round < 2; round++) {
    const svc = client();
    const c = svc.getContainerClient('crash');
    const state = { stop: false, killed: false, round };
    const start = uploads;
    const running = Array.from({ length: WORKERS }, (_, w) => worker(w, c, state));
    await waitFor(() => uploads - start >= 60, { timeoutMs: 60000, what: 'uploads to be acknowledged' });
    state.killed = true;
    await srv.restartAfterKill();
    state.stop = true;
    await Promise.all(running);
    const n = await verify(client());
    assert.ok(n >= WORKERS, `only ${n} blobs listed`);
  }
  // the restarted server still takes writes
  const b = client().getContainerClient('crash').getBlockBlobClient('after');
  await b.upload('after the crashes', 17);
  assert.equal((await b.downloadToBuffer()).toString(), 'after the crashes');
});
