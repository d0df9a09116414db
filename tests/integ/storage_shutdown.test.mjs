// storage_shutdown.test.mjs: SIGTERM in the middle of blob and queue
// writes. Writes no longer hold a thread while they wait: a small Put Blob
// and every queue write park their request until the group commit wakes
// it (http_wait), and blob work that waits on the disk runs on a handler
// pool (http_offload). Shutdown has to let all of that finish in order:
// stop the pool, resume what is parked, wait for in-flight commits, close
// the database. Checked here, with traffic of every kind in flight:
//   - shoald exits 0, promptly (no parked request or pool thread left
//     hanging);
//   - after a restart on the same data dir every blob whose write got 201
//     is there byte for byte, every message whose put got 201 is there
//     exactly once, and nothing appears that was never written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { startServer, waitFor } from './lib/server.mjs';

let srv;
let failed = false;

before(async () => {
  srv = await startServer({ name: 'storage-shutdown' });
});

after(async () => {
  if (failed) console.log(srv.log());
  await srv.stop();
});

const opts = { retryOptions: { maxTries: 1 } };
const blobs = () => BlobServiceClient.fromConnectionString(srv.connStr, opts).getContainerClient('down');
const queue = () => QueueServiceClient.fromConnectionString(srv.connStr, opts).getQueueClient('down');
const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');

test('SIGTERM during parked and offloaded writes: exits 0, loses nothing acknowledged', async () => {
  try {
    await blobs().create();
    await queue().create();
    const ackedBlobs = new Map(); // name -> md5 of what got 201
    const triedBlobs = new Set();
    const ackedMsgs = new Set();
    const triedMsgs = new Set();
    let stopping = false;
    let seq = 0;

    // Small Put Blob (parked for its commit), larger Put Blob (a file:
    // its end runs on the pool) and staged blocks + a block list (pool).
    const blobWriters = Array.from({ length: 6 }, async (_, w) => {
      const c = blobs();
      while (!stopping) {
        const n = seq++;
        const name = `w${w}/b${n}`;
        const kind = n % 3;
        const size = kind === 0 ? 4096 : kind === 1 ? 200 * 1024 : 96 * 1024;
        const body = crypto.randomBytes(size);
        triedBlobs.add(name);
        try {
          const b = c.getBlockBlobClient(name);
          if (kind === 2) {
            const ids = ['YQ==', 'Yg=='];
            await b.stageBlock(ids[0], body.subarray(0, size / 2), size / 2);
            await b.stageBlock(ids[1], body.subarray(size / 2), size / 2);
            await b.commitBlockList(ids);
          } else {
            await b.upload(body, size);
          }
          ackedBlobs.set(name, md5(body));
        } catch (e) {
          if (!stopping) throw e;
        }
      }
    });
    const msgWriters = Array.from({ length: 4 }, async (_, p) => {
      const q = queue();
      while (!stopping) {
        const text = `m${p}-${seq++}`;
        triedMsgs.add(text);
        try {
          await q.sendMessage(text);
          ackedMsgs.add(text);
        } catch (e) {
          if (!stopping) throw e;
        }
      }
    });

    await waitFor(() => ackedBlobs.size >= 150 && ackedMsgs.size >= 300,
      { timeoutMs: 60000, what: 'traffic before SIGTERM' });
    const t0 = Date.now();
    process.kill(srv.pid, 'SIGTERM');
    stopping = true;
    const ex = await srv.waitExit(20000);
    const took = Date.now() - t0;
    await Promise.all([...blobWriters, ...msgWriters]);
    assert.deepEqual(ex, { code: 0, sig: null }, 'shoald exits 0 on SIGTERM under load');
    assert.ok(took < 15000, `shoald took ${took} ms to stop`);
    assert.doesNotMatch(srv.log(), /handler returned without a reply|BUG|ASSERT/);

    await srv.restart();
    // Every acknowledged blob, byte for byte; nothing never written.
    const c = blobs();
    const listed = new Set();
    for await (const b of c.listBlobsFlat()) {
      listed.add(b.name);
      assert.ok(triedBlobs.has(b.name), `${b.name} was never written`);
    }
    for (const [name, sum] of ackedBlobs) {
      assert.ok(listed.has(name), `acknowledged blob ${name} lost`);
      assert.equal(md5(await c.getBlockBlobClient(name).downloadToBuffer()), sum, `${name} changed`);
    }
    // Every acknowledged message exactly once; nothing never put.
    const q = queue();
    const total = (await q.getProperties()).approximateMessagesCount;
    const seen = new Map();
    await waitFor(async () => {
      const got = (await q.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 300 }))
        .receivedMessageItems;
      for (const m of got) seen.set(m.messageText, (seen.get(m.messageText) || 0) + 1);
      return seen.size >= total;
    }, { timeoutMs: 30000, intervalMs: 20, what: `draining ${total} messages` });
    for (const [text, n] of seen) {
      assert.equal(n, 1, `${text} delivered twice`);
      assert.ok(triedMsgs.has(text), `${text} was never put`);
    }
    for (const text of ackedMsgs) assert.ok(seen.has(text), `acknowledged message ${text} lost`);
  } catch (e) {
    failed = true;
    throw e;
  }
});
