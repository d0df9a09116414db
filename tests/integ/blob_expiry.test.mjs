// blob_expiry.test.mjs: uncommitted blocks expire after
// blob.uncommitted_ttl_s (1 s here), with their bytes, while committed
// blobs and their own fresh blocks stay.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { startServer, waitFor } from './lib/server.mjs';

const srv = await startServer({ name: 'blobexpiry', args: ['--set', 'blob.uncommitted_ttl_s=1'] });
after(async () => { await srv.stop(); });

function countFiles() {
  let n = 0;
  const root = path.join(srv.dataDir, 'blobs');
  for (const d of fs.readdirSync(root)) if (/^[0-9a-f]{2}$/.test(d)) n += fs.readdirSync(path.join(root, d)).length;
  return n;
}

test('uncommitted blocks expire with their bytes; committed blobs stay', async () => {
  const c = BlobServiceClient.fromConnectionString(srv.connStr).getContainerClient('expiry');
  await c.create();
  const big = crypto.randomBytes(100 * 1024);
  await c.getBlockBlobClient('kept').upload(big, big.length);
  const staged = c.getBlockBlobClient('staged');
  await staged.stageBlock(Buffer.from('b1').toString('base64'), 'abc', 3);
  await staged.stageBlock(Buffer.from('b2').toString('base64'), 'def', 3);
  const extra = c.getBlockBlobClient('kept');
  await extra.stageBlock(Buffer.from('x1').toString('base64'), 'ghi', 3);
  await waitFor(async () => {
    const names = [];
    for await (const it of c.listBlobsFlat({ includeUncommitedBlobs: true })) names.push(it.name);
    return names.length === 1 && countFiles() === 1;
  }, { timeoutMs: 20000, what: 'uncommitted blocks to expire' });
  assert.equal((await extra.getBlockList('uncommitted')).uncommittedBlocks.length, 0);
  assert.ok((await c.getBlockBlobClient('kept').downloadToBuffer()).equals(big));
  await assert.rejects(staged.getBlockList('all'), (e) => e.statusCode === 404);
});
