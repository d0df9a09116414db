// batch_resize.test.mjs: resizeTimeout and resizeErrors, through
// @azure/batch 10.2.0 (raw REST for the error cases):
//   - validation: a resizeTimeout under 5 minutes (sched.min_resize_timeout_ms)
//     on pool add, resize and removenodes is 400 InvalidPropertyValue; a
//     resize without one runs with the default 15 minutes;
//   - a first allocation whose nodes never start (node.bin is /bin/false):
//     steady once the timeout passes, resizeErrors [AllocationTimedout], the
//     target kept; a new resize clears the errors; stopresize leaves
//     ResizeStopped; the errors survive a restart;
//   - a resize down waiting for a task (taskcompletion): steady at the
//     timeout, the node still leaving until its task ends.
//
// The short timeouts come from sched.min_resize_timeout_ms=1000 on the
// servers that need them; every wait polls with a deadline.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, tmpDir, waitFor } from './lib/server.mjs';
import { batchFetch } from './lib/batchsign.mjs';

const API = 'api-version=2022-10-01.16.0';
const servers = [];

function client(s) {
  return new BatchServiceClient(new BatchSharedKeyCredentials(s.account, s.key), s.batchUrl);
}

async function server(name, args = []) {
  const s = await startServer({ name, args: ['--set', 'sched.poll_ms=1000', ...args] });
  servers.push(s);
  return s;
}

async function waitPool(batch, id, pred, what) {
  return waitFor(async () => {
    const p = await batch.pool.get(id);
    return pred(p) ? p : null;
  }, { timeoutMs: 30000, intervalMs: 50, what: `pool ${id} ${what}` });
}

function badTimeout(r) {
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.code, 'InvalidPropertyValue');
  const d = Object.fromEntries(r.json.values.map((v) => [v.key, v.value]));
  assert.equal(d.PropertyName, 'resizeTimeout');
}

test('resizeTimeout under 5 minutes is refused; a resize without one gets 15 minutes', async () => {
  const s = await server('resize-valid');
  const batch = client(s);
  const add = (body) => batchFetch(s, 'POST', `/pools?${API}`, { body: { id: 'v', vmSize: 'x', ...body } });
  badTimeout(await add({ resizeTimeout: 'PT4M59S' }));
  badTimeout(await add({ resizeTimeout: 'PT0S' }));
  let r = await add({ resizeTimeout: 'five minutes' });
  assert.equal(r.status, 400);
  assert.equal((await batchFetch(s, 'GET', `/pools/v?${API}`)).status, 404);
  assert.equal((await add({ resizeTimeout: 'PT5M' })).status, 201);
  let p = await batch.pool.get('v');
  assert.equal(p.resizeTimeout, 'PT5M');
  assert.equal(p.allocationState, 'steady');
  assert.equal(p.resizeErrors, undefined);
  r = await batchFetch(s, 'POST', `/pools/v/resize?${API}`, { body: { targetDedicatedNodes: 0, resizeTimeout: 'PT1M' } });
  badTimeout(r);
  r = await batchFetch(s, 'POST', `/pools/v/removenodes?${API}`, { body: { nodeList: ['x'], resizeTimeout: 'PT4M' } });
  badTimeout(r);
  await batch.pool.resize('v', { targetDedicatedNodes: 0, resizeTimeout: 'PT2H' });
  p = await waitPool(batch, 'v', (x) => x.allocationState === 'steady', 'steady');
  assert.equal(p.resizeTimeout, 'PT2H');
  await batch.pool.resize('v', { targetDedicatedNodes: 0 });
  p = await waitPool(batch, 'v', (x) => x.allocationState === 'steady', 'steady');
  assert.equal(p.resizeTimeout, 'PT15M');
  assert.equal((await s.stop()).code, 0, s.log());
});

test('nodes that never start: the allocation times out (AllocationTimedout), kept across a restart', async () => {
  // Agents exit at once: the nodes stay starting, the pool never settles.
  const s = await server('resize-stuck', ['--set', 'sched.min_resize_timeout_ms=1000',
    '--set', 'node.bin=/bin/false', '--set', 'sched.heartbeat_timeout_ms=600000']);
  let batch = client(s);
  await batch.pool.add({ id: 'stuck', vmSize: 'x', targetDedicatedNodes: 2, resizeTimeout: 'PT2S' });
  let p = await batch.pool.get('stuck');
  assert.equal(p.allocationState, 'resizing');
  assert.equal(p.resizeErrors, undefined);
  p = await waitPool(batch, 'stuck', (x) => x.allocationState === 'steady', 'steady after the timeout');
  assert.equal(p.resizeErrors.length, 1);
  assert.equal(p.resizeErrors[0].code, 'AllocationTimedout');
  assert.match(p.resizeErrors[0].message, /resize timeout was reached/);
  assert.equal(p.targetDedicatedNodes, 2);
  assert.ok(p.allocationStateTransitionTime.getTime() - p.creationTime.getTime() >= 2000,
    'not before the timeout');
  const nodes = await batch.computeNode.list('stuck');
  assert.equal(nodes.length, 2);
  for (const n of nodes) assert.ok(['creating', 'starting'].includes(n.state), n.state);
  // A new resize clears the errors while it runs; it times out as well.
  await batch.pool.resize('stuck', { targetDedicatedNodes: 3, resizeTimeout: 'PT2S' });
  p = await batch.pool.get('stuck');
  assert.equal(p.allocationState, 'resizing');
  assert.equal(p.resizeErrors, undefined);
  p = await waitPool(batch, 'stuck', (x) => x.allocationState === 'steady', 'steady again');
  assert.equal(p.resizeErrors[0].code, 'AllocationTimedout');
  // stopresize: steady, with ResizeStopped in place of the old errors.
  await batch.pool.resize('stuck', { targetDedicatedNodes: 4, resizeTimeout: 'PT1H' });
  assert.equal((await batch.pool.get('stuck')).resizeErrors, undefined);
  await batch.pool.stopResize('stuck');
  p = await waitPool(batch, 'stuck', (x) => x.allocationState === 'steady', 'steady after stopresize');
  assert.deepEqual(p.resizeErrors.map((e) => e.code), ['ResizeStopped']);
  // Durable: the errors come back after a restart.
  await s.restart();
  batch = client(s);
  p = await batch.pool.get('stuck');
  assert.equal(p.allocationState, 'steady');
  assert.deepEqual(p.resizeErrors.map((e) => e.code), ['ResizeStopped']);
  await batch.pool.deleteMethod('stuck');
  assert.equal((await s.stop()).code, 0, s.log());
});

test('a resize down waiting for a task (taskcompletion) times out; the node leaves once done', async () => {
  const s = await server('resize-drain', ['--set', 'sched.min_resize_timeout_ms=1000']);
  const batch = client(s);
  const flags = tmpDir('resize-flags');
  fs.chmodSync(flags, 0o777);
  const gate = path.join(flags, 'go');
  await batch.pool.add({ id: 'dr', vmSize: 'x', targetDedicatedNodes: 1 });
  const [n] = await waitFor(async () => {
    const l = await batch.computeNode.list('dr');
    return l.length === 1 && l[0].state === 'idle' ? l : null;
  }, { timeoutMs: 30000, what: 'an idle node' });
  let p = await waitPool(batch, 'dr', (x) => x.allocationState === 'steady', 'steady');
  assert.equal(p.resizeErrors, undefined);
  await batch.job.add({ id: 'j', poolInfo: { poolId: 'dr' } });
  await batch.task.add('j', { id: 'hold',
    commandLine: `/bin/sh -c 'while ! test -f ${gate}; do sleep 0.02; done'` });
  await waitFor(async () => (await batch.task.get('j', 'hold')).state === 'running', { what: 'hold running' });
  await batch.pool.resize('dr', { targetDedicatedNodes: 0, nodeDeallocationOption: 'taskcompletion',
    resizeTimeout: 'PT2S' });
  p = await waitPool(batch, 'dr', (x) => x.allocationState === 'steady', 'steady after the timeout');
  assert.equal(p.resizeErrors[0].code, 'AllocationTimedout');
  assert.equal(p.targetDedicatedNodes, 0);
  // The node still leaves, once its task is done.
  assert.equal((await batch.computeNode.get('dr', n.id)).state, 'leavingpool');
  assert.equal((await batch.task.get('j', 'hold')).state, 'running');
  fs.writeFileSync(gate, '');
  await waitFor(async () => (await batch.computeNode.list('dr')).length === 0, { what: 'the node gone' });
  const t = await batch.task.get('j', 'hold');
  assert.equal(t.executionInfo.result, 'success');
  p = await batch.pool.get('dr');
  assert.equal(p.allocationState, 'steady');
  assert.equal(p.resizeErrors[0].code, 'AllocationTimedout');
  // The next resize that completes leaves no errors.
  await batch.pool.resize('dr', { targetDedicatedNodes: 1 });
  p = await waitPool(batch, 'dr', (x) => x.allocationState === 'steady' && x.currentDedicatedNodes === 1,
    'back to one node');
  assert.equal(p.resizeErrors, undefined);
  assert.equal((await s.stop()).code, 0, s.log());
});

test('no shoald of ours is left', async () => {
  for (const s of servers) {
    if (!s.exited()) await s.stop();
  }
});
