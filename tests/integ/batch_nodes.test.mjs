// batch_nodes.test.mjs: compute node operations and faults (issue 7, part C),
// through @azure/batch 10.2.0 and raw REST where the SDK has no call:
//   - reboot (requeue, terminate, taskcompletion): the node goes rebooting,
//     its agent re-executes itself, the start task runs again, idle again;
//     409 from a node that is not idle or running;
//   - disable scheduling (requeue, terminate, taskcompletion) and enable;
//   - remote login settings: 501 NotImplemented;
//   - upload of the node's log files to a container SAS;
//   - removenodes and resize down with each deallocation option (idle nodes
//     go first);
//   - remote nodes: a jointoken pool, its join token made, read, rotated and
//     revoked (old and revoked tokens refused), shoal-node --join on a
//     "remote" root, tasks on it (their files served through the agent),
//     node loss (SIGKILL: unusable, requeued elsewhere, never completed
//     twice) and rejoin with the kept identity, removal (the agent exits
//     and forgets its identity);
//   - TLS: a second shoald with a throwaway self-signed certificate serves
//     the batch port over HTTPS; its local agents and a joining agent verify
//     it with --ca.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import {
  BlobServiceClient, StorageSharedKeyCredential, generateBlobSASQueryParameters,
  ContainerSASPermissions,
} from '@azure/storage-blob';
import { startServer, waitFor, tmpDir, binDir } from './lib/server.mjs';
import { batchFetch, batchSign } from './lib/batchsign.mjs';

const API = 'api-version=2022-10-01.16.0';
let srv, batch, dir;
const agents = []; // shoal-node processes we started: killed by pid at the end

function client(s) {
  return new BatchServiceClient(new BatchSharedKeyCredentials(s.account, s.key), s.batchUrl);
}

async function node(pool, id) {
  return batch.computeNode.get(pool, id);
}

async function waitNodes(pool, n, pred = (x) => x.state === 'idle', what = 'idle') {
  return waitFor(async () => {
    const l = await batch.computeNode.list(pool);
    return l.length === n && l.every(pred) ? l : null;
  }, { timeoutMs: 30000, intervalMs: 50, what: `${n} ${what} nodes in ${pool}` });
}

async function waitState(pool, id, state) {
  return waitFor(async () => {
    const x = await node(pool, id);
    return x.state === state ? x : null;
  }, { timeoutMs: 30000, intervalMs: 30, what: `node ${id} ${state}` });
}

async function waitTask(job, id, pred = (t) => t.state === 'completed', what = 'completed') {
  return waitFor(async () => {
    const t = await batch.task.get(job, id);
    return pred(t) ? t : null;
  }, { timeoutMs: 30000, intervalMs: 30, what: `${job}/${id} ${what}` });
}

async function errOf(p) {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('the call succeeded');
}

// A task that runs until a file appears (so the test decides when it ends,
// never a timing guess), recording each attempt.
function gatedTask(id, gate) {
  return {
    id,
    commandLine: `/bin/sh -c 'echo $AZ_BATCH_NODE_ID >> ${dir}/${id}.runs; ` +
      `while [ ! -e ${gate} ]; do sleep 0.05; done'`,
  };
}

function runs(id) {
  try {
    return fs.readFileSync(path.join(dir, `${id}.runs`), 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

test('start shoald and a pool of 2 nodes with a start task', async () => {
  srv = await startServer({
    name: 'batch-nodes',
    args: ['--set', 'sched.poll_ms=300', '--set', 'sched.heartbeat_timeout_ms=1500'],
  });
  batch = client(srv);
  dir = tmpDir('batch-nodes-work');
  fs.chmodSync(dir, 0o777);
  await batch.pool.add({
    id: 'np', vmSize: 'small', targetDedicatedNodes: 2,
    startTask: {
      commandLine: "/bin/sh -c 'echo boot >> $AZ_BATCH_NODE_SHARED_DIR/boots'",
      waitForSuccess: true,
    },
  });
  await waitNodes('np', 2);
  await batch.job.add({ id: 'nj', poolInfo: { poolId: 'np' } });
});

test('reboot an idle node: rebooting, start task again, idle', async () => {
  const [n] = await batch.computeNode.list('np');
  const before = await node('np', n.id);
  await batch.computeNode.reboot('np', n.id);
  const during = await node('np', n.id);
  assert.ok(['rebooting', 'starting', 'waitingforstarttask', 'idle'].includes(during.state),
    during.state);
  const after = await waitState('np', n.id, 'idle');
  assert.ok(new Date(after.lastBootTime) > new Date(before.lastBootTime));
  assert.ok(new Date(after.startTaskInfo.startTime) > new Date(before.startTaskInfo.startTime));
  assert.equal(after.startTaskInfo.result, 'success');
  const boots = fs.readFileSync(path.join(srv.dataDir, 'nodes', 'np', n.id, 'shared', 'boots'), 'utf8');
  assert.equal(boots, 'boot\nboot\n');
  assert.match(srv.log(), /node told to reboot node=/);
});

test('reboot with requeue, terminate and taskcompletion', async () => {
  const [a] = await batch.computeNode.list('np');
  // Everything runs on node a: the other one has scheduling disabled.
  const others = (await batch.computeNode.list('np')).filter((x) => x.id !== a.id);
  for (const o of others) await batch.computeNode.disableScheduling('np', o.id);
  const gate = path.join(dir, 'gate-reboot');
  // requeue: the attempt is killed, the task runs again after the reboot.
  await batch.task.add('nj', gatedTask('rq', gate));
  await waitTask('nj', 'rq', (t) => t.state === 'running', 'running');
  await waitFor(() => runs('rq').length === 1, { what: 'rq started' });
  await batch.computeNode.reboot('np', a.id, { nodeRebootOption: 'requeue' });
  let t = await waitTask('nj', 'rq', (x) => x.executionInfo.requeueCount === 1 && x.state === 'running',
    'requeued and running again');
  assert.equal(t.executionInfo.retryCount, 0);
  await waitFor(() => runs('rq').length === 2, { what: 'rq started again' });
  fs.writeFileSync(gate, '');
  t = await waitTask('nj', 'rq');
  assert.equal(t.executionInfo.result, 'success');
  fs.unlinkSync(gate);
  await waitState('np', a.id, 'idle');

  // terminate: the task ends with failureInfo TaskEnded, never runs again.
  await batch.task.add('nj', gatedTask('tm', gate));
  await waitFor(() => runs('tm').length === 1, { what: 'tm started' });
  await batch.computeNode.reboot('np', a.id, { nodeRebootOption: 'terminate' });
  t = await waitTask('nj', 'tm');
  assert.equal(t.executionInfo.result, 'failure');
  assert.equal(t.executionInfo.failureInfo.code, 'TaskEnded');
  assert.match(t.executionInfo.failureInfo.message, /rebooted/);
  await waitState('np', a.id, 'idle');
  assert.equal(runs('tm').length, 1);

  // taskcompletion: the task finishes first (success), then the reboot.
  await batch.task.add('nj', gatedTask('tc', gate));
  await waitFor(() => runs('tc').length === 1, { what: 'tc started' });
  const boot = (await node('np', a.id)).lastBootTime;
  await batch.computeNode.reboot('np', a.id, { nodeRebootOption: 'taskcompletion' });
  assert.equal((await node('np', a.id)).state, 'rebooting');
  // Rebooting until tc ends: a second reboot is refused.
  const again = await errOf(batch.computeNode.reboot('np', a.id));
  assert.equal(again.statusCode, 409);
  assert.equal(again.code, 'NodeBeingRebooted');
  assert.equal((await batch.task.get('nj', 'tc')).state, 'running');
  fs.writeFileSync(gate, '');
  t = await waitTask('nj', 'tc');
  assert.equal(t.executionInfo.result, 'success');
  assert.equal(t.executionInfo.requeueCount, 0);
  const back = await waitState('np', a.id, 'idle');
  assert.ok(new Date(back.lastBootTime) > new Date(boot));
  fs.unlinkSync(gate);
  for (const o of others) await batch.computeNode.enableScheduling('np', o.id);
});

test('disable scheduling with requeue, terminate and taskcompletion; enable', async () => {
  const [a, b] = await waitNodes('np', 2);
  const gate = path.join(dir, 'gate-disable');
  await batch.computeNode.disableScheduling('np', b.id);
  // requeue: the task leaves node a and runs on b once b is enabled.
  await batch.task.add('nj', gatedTask('dq', gate));
  let t = await waitTask('nj', 'dq', (x) => x.state === 'running', 'running');
  assert.equal(t.nodeInfo.nodeId, a.id);
  await batch.computeNode.disableScheduling('np', a.id, { nodeDisableSchedulingOption: 'requeue' });
  await waitState('np', a.id, 'offline');
  // Only idle and running nodes reboot.
  const off = await errOf(batch.computeNode.reboot('np', a.id));
  assert.equal(off.statusCode, 409);
  assert.equal(off.code, 'OperationInvalidForCurrentState');
  t = await batch.task.get('nj', 'dq');
  assert.equal(t.state, 'active');
  assert.equal(t.executionInfo.requeueCount, 1);
  const e = await errOf(batch.computeNode.disableScheduling('np', a.id));
  assert.equal(e.statusCode, 409);
  assert.equal(e.code, 'NodeAlreadyInTargetSchedulingState');
  await batch.computeNode.enableScheduling('np', b.id);
  t = await waitTask('nj', 'dq', (x) => x.state === 'running', 'running on b');
  assert.equal(t.nodeInfo.nodeId, b.id);
  fs.writeFileSync(gate, '');
  t = await waitTask('nj', 'dq');
  assert.equal(t.executionInfo.result, 'success');
  fs.unlinkSync(gate);
  await batch.computeNode.enableScheduling('np', a.id);
  await waitState('np', a.id, 'idle');

  // terminate and taskcompletion, on whichever node runs the task.
  await batch.task.add('nj', gatedTask('dt', gate));
  t = await waitTask('nj', 'dt', (x) => x.state === 'running', 'running');
  await batch.computeNode.disableScheduling('np', t.nodeInfo.nodeId,
    { nodeDisableSchedulingOption: 'terminate' });
  t = await waitTask('nj', 'dt');
  assert.equal(t.executionInfo.failureInfo.code, 'TaskEnded');
  await waitState('np', t.nodeInfo.nodeId, 'offline');
  await batch.computeNode.enableScheduling('np', t.nodeInfo.nodeId);

  await batch.task.add('nj', gatedTask('dc', gate));
  t = await waitTask('nj', 'dc', (x) => x.state === 'running', 'running');
  const on = t.nodeInfo.nodeId;
  await batch.computeNode.disableScheduling('np', on, { nodeDisableSchedulingOption: 'taskcompletion' });
  let n = await node('np', on);
  assert.equal(n.schedulingState, 'disabled');
  assert.equal(n.state, 'running');
  fs.writeFileSync(gate, '');
  t = await waitTask('nj', 'dc');
  assert.equal(t.executionInfo.result, 'success');
  n = await waitState('np', on, 'offline');
  await batch.computeNode.enableScheduling('np', on);
  n = await node('np', on);
  assert.equal(n.state, 'idle');
  assert.equal(n.schedulingState, 'enabled');
  fs.unlinkSync(gate);
});

test('remote login settings: 501 NotImplemented', async () => {
  const [a] = await batch.computeNode.list('np');
  const e = await errOf(batch.computeNode.getRemoteLoginSettings('np', a.id));
  assert.equal(e.statusCode, 501);
  assert.equal(e.code, 'NotImplemented');
  const r = await batchFetch(srv, 'GET', `/pools/np/nodes/nosuch/remoteloginsettings?${API}`);
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'NodeNotFound');
});

test('upload batch service logs to a container SAS', async () => {
  const blobs = BlobServiceClient.fromConnectionString(srv.connStr);
  const cred = new StorageSharedKeyCredential(srv.account, srv.key);
  await blobs.getContainerClient('nodelogs').create();
  const sas = blobs.getContainerClient('nodelogs').url + '?' + generateBlobSASQueryParameters({
    containerName: 'nodelogs', permissions: ContainerSASPermissions.parse('cw'),
    expiresOn: new Date(Date.now() + 3600 * 1000) }, cred).toString();
  const [a] = await batch.computeNode.list('np');
  const res = await batch.computeNode.uploadBatchServiceLogs('np', a.id, {
    containerUrl: sas, startTime: new Date(Date.now() - 3600 * 1000) });
  assert.ok(res.virtualDirectoryName.startsWith(`np/${a.id}/`));
  assert.equal(res.numberOfFilesUploaded, 3);
  const names = [];
  for await (const b of blobs.getContainerClient('nodelogs').listBlobsFlat()) names.push(b.name);
  assert.deepEqual(names.sort(), ['shoal-node.log', 'startup/stderr.txt', 'startup/stdout.txt']
    .map((x) => `${res.virtualDirectoryName}/${x}`));
  const log = await blobs.getContainerClient('nodelogs')
    .getBlobClient(`${res.virtualDirectoryName}/shoal-node.log`).downloadToBuffer();
  assert.match(log.toString(), /node agent starting/);
  // Nothing written since the start time: no file.
  const none = await batch.computeNode.uploadBatchServiceLogs('np', a.id, {
    containerUrl: sas, startTime: new Date(Date.now() + 3600 * 1000) });
  assert.equal(none.numberOfFilesUploaded, 0);
  // A container the SAS cannot write: a clear error, not a silent success.
  const bad = await errOf(batch.computeNode.uploadBatchServiceLogs('np', a.id, {
    containerUrl: blobs.getContainerClient('nodelogs').url, startTime: new Date(0) }));
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.code, 'InvalidPropertyValue');
  const noTime = await batchFetch(srv, 'POST', `/pools/np/nodes/${a.id}/uploadbatchservicelogs?${API}`,
    { body: { containerUrl: sas } });
  assert.equal(noTime.status, 400);
  assert.equal(noTime.json.code, 'MissingRequiredProperty');
});

test('removenodes with taskcompletion, terminate and requeue', async () => {
  await batch.pool.resize('np', { targetDedicatedNodes: 4 });
  await waitNodes('np', 4);
  await waitFor(async () => (await batch.pool.get('np')).allocationState === 'steady', { what: 'steady' });
  const gate = path.join(dir, 'gate-remove');
  const ids = ['r1', 'r2', 'r3'];
  for (const id of ids) await batch.task.add('nj', gatedTask(id, gate));
  const on = {};
  for (const id of ids) on[id] = (await waitTask('nj', id, (x) => x.state === 'running', 'running')).nodeInfo.nodeId;
  assert.equal(new Set(Object.values(on)).size, 3, 'spread over three nodes');
  // taskcompletion: r1's node leaves once r1 is done; r1 succeeds.
  await batch.pool.removeNodes('np', { nodeList: [on.r1], nodeDeallocationOption: 'taskcompletion' });
  let p = await batch.pool.get('np');
  assert.equal(p.targetDedicatedNodes, 3);
  assert.equal(p.allocationState, 'resizing');
  assert.equal((await node('np', on.r1)).state, 'leavingpool');
  assert.equal((await batch.task.get('nj', 'r1')).state, 'running');
  // The pool is resizing: another removal must wait.
  const busy = await errOf(batch.pool.removeNodes('np', { nodeList: [on.r2] }));
  assert.equal(busy.statusCode, 409);
  fs.writeFileSync(gate, '');
  let t = await waitTask('nj', 'r1');
  assert.equal(t.executionInfo.result, 'success');
  assert.equal(t.executionInfo.requeueCount, 0);
  for (const id of ['r2', 'r3']) await waitTask('nj', id);
  await waitNodes('np', 3);
  p = await waitFor(async () => {
    const x = await batch.pool.get('np');
    return x.allocationState === 'steady' ? x : null;
  }, { what: 'steady after removal' });
  assert.equal(p.currentDedicatedNodes, 3);
  fs.unlinkSync(gate);

  // terminate and requeue, at once on two nodes.
  await batch.task.add('nj', gatedTask('r4', gate));
  await batch.task.add('nj', gatedTask('r5', gate));
  const n4 = (await waitTask('nj', 'r4', (x) => x.state === 'running', 'running')).nodeInfo.nodeId;
  const n5 = (await waitTask('nj', 'r5', (x) => x.state === 'running', 'running')).nodeInfo.nodeId;
  assert.notEqual(n4, n5);
  await batch.pool.removeNodes('np', { nodeList: [n4], nodeDeallocationOption: 'terminate' });
  t = await waitTask('nj', 'r4');
  assert.equal(t.executionInfo.failureInfo.code, 'TaskEnded');
  await waitNodes('np', 2, () => true, 'remaining');
  await waitFor(async () => (await batch.pool.get('np')).allocationState === 'steady', { what: 'steady' });
  await batch.pool.removeNodes('np', { nodeList: [n5], nodeDeallocationOption: 'requeue' });
  t = await waitTask('nj', 'r5', (x) => x.executionInfo.requeueCount === 1 && x.state === 'running',
    'requeued onto the last node');
  assert.notEqual(t.nodeInfo.nodeId, n5);
  fs.writeFileSync(gate, '');
  t = await waitTask('nj', 'r5');
  assert.equal(t.executionInfo.result, 'success');
  assert.equal(runs('r5').length, 2);
  await waitNodes('np', 1);
  fs.unlinkSync(gate);
});

test('resize down: idle nodes go first, running tasks finish (taskcompletion)', async () => {
  await waitFor(async () => (await batch.pool.get('np')).allocationState === 'steady', { what: 'steady' });
  await batch.pool.resize('np', { targetDedicatedNodes: 3 });
  await waitNodes('np', 3);
  await waitFor(async () => (await batch.pool.get('np')).allocationState === 'steady', { what: 'steady' });
  const gate = path.join(dir, 'gate-resize');
  await batch.task.add('nj', gatedTask('z1', gate));
  const busy = (await waitTask('nj', 'z1', (x) => x.state === 'running', 'running')).nodeInfo.nodeId;
  // Two of three go: both idle ones, never the busy one.
  await batch.pool.resize('np', { targetDedicatedNodes: 1, nodeDeallocationOption: 'taskcompletion' });
  const left = await waitFor(async () => {
    const l = await batch.computeNode.list('np');
    return l.length === 1 ? l : null;
  }, { what: 'two idle nodes gone' });
  assert.equal(left[0].id, busy);
  assert.equal((await batch.task.get('nj', 'z1')).state, 'running');
  fs.writeFileSync(gate, '');
  const t = await waitTask('nj', 'z1');
  assert.equal(t.executionInfo.requeueCount, 0);
  fs.unlinkSync(gate);
  // Resize down with requeue: the running task goes back to the queue.
  await waitFor(async () => (await batch.pool.get('np')).allocationState === 'steady', { what: 'steady' });
  await batch.task.add('nj', gatedTask('z2', gate));
  await waitTask('nj', 'z2', (x) => x.state === 'running', 'running');
  await batch.pool.resize('np', { targetDedicatedNodes: 0, nodeDeallocationOption: 'requeue' });
  const z2 = await waitTask('nj', 'z2', (x) => x.state === 'active' && x.executionInfo.requeueCount === 1,
    'requeued');
  assert.equal(z2.executionInfo.retryCount, 0);
  await waitNodes('np', 0);
  await batch.task.terminate('nj', 'z2');
});

// ---- remote nodes --------------------------------------------------------

function startAgent(args, name) {
  const log = path.join(dir, `${name}.log`);
  const fd = fs.openSync(log, 'a');
  const p = spawn(path.join(binDir, 'shoal-node'), args, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const a = { proc: p, pid: p.pid, log: () => fs.readFileSync(log, 'utf8'), exit: null };
  p.on('exit', (code, sig) => { a.exit = { code, sig }; });
  agents.push(a);
  return a;
}

async function waitExit(a) {
  return waitFor(() => a.exit, { timeoutMs: 30000, what: `agent ${a.pid} exit` });
}

let jtoken, joinUrl, rootA, rootB, agentA, agentB, nodeA, nodeB;

test('a jointoken pool and its join token: made, read, refused elsewhere', async () => {
  let r = await batchFetch(srv, 'POST', `/pools?${API}`, {
    body: { id: 'jp', vmSize: 'remote', 'x-shoal-allocation': 'jointoken' } });
  assert.equal(r.status, 201, r.text);
  r = await batchFetch(srv, 'POST', `/pools?${API}`, {
    body: { id: 'jp2', vmSize: 'remote', 'x-shoal-allocation': 'jointoken', targetDedicatedNodes: 2 } });
  assert.equal(r.status, 400);
  r = await batchFetch(srv, 'GET', `/pools/jp/jointoken?${API}`);
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'JoinTokenNotFound');
  r = await batchFetch(srv, 'POST', `/pools/jp/jointoken?${API}`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.json.token, /^[0-9a-f]{64}$/);
  assert.equal(r.json.poolId, 'jp');
  assert.equal(r.json.joinUrl, srv.batchUrl);
  jtoken = r.json.token;
  joinUrl = r.json.joinUrl;
  r = await batchFetch(srv, 'GET', `/pools/jp/jointoken?${API}`);
  assert.equal(r.status, 200);
  assert.equal(r.json.token, undefined, 'the token is shown once');
  assert.ok(r.json.creationTime);
  r = await batchFetch(srv, 'POST', `/pools/np/jointoken?${API}`);
  assert.equal(r.status, 409);
  assert.equal(r.json.code, 'OperationInvalidForCurrentState');
  const p = await batch.pool.get('jp');
  assert.equal(p.targetDedicatedNodes, 0);
  assert.equal(p.allocationState, 'steady');
  // The agent never sees the account key: nor does the join token open
  // the REST API.
  const raw = await fetch(`${srv.batchUrl}/pools?${API}`, { headers: { Authorization: `Bearer ${jtoken}` } });
  assert.equal(raw.status, 403);
});

test('shoal-node --join: two agents join; rotated and wrong tokens are refused', async () => {
  rootA = tmpDir('batch-nodes-rootA');
  rootB = tmpDir('batch-nodes-rootB');
  agentA = startAgent(['--join', joinUrl, '--token', jtoken, '--root', rootA], 'agentA');
  let l = await waitNodes('jp', 1);
  nodeA = l[0].id;
  assert.equal(l[0].ipAddress, '127.0.0.1');
  // The join token is not left in the agent's command line.
  const cmd = fs.readFileSync(`/proc/${agentA.pid}/cmdline`, 'utf8');
  assert.ok(!cmd.includes(jtoken));
  const ident = JSON.parse(fs.readFileSync(path.join(rootA, 'agent', 'identity.json'), 'utf8'));
  assert.equal(ident.node, nodeA);
  assert.equal(fs.statSync(path.join(rootA, 'agent', 'identity.json')).mode & 0o777, 0o600);
  assert.equal((await batch.pool.get('jp')).targetDedicatedNodes, 1);
  // Rotate with the CLI, which prints the command line to run: the old
  // token no longer joins (exit 3), the new one does.
  const out = execFileSync(path.join(binDir, 'shoal'), ['--connection-string', srv.connStr,
    '--batch-url', srv.batchUrl, 'pool', 'join-token', 'jp', '--root', rootB],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split(' ');
  assert.deepEqual(out.filter((_, i) => i !== 4),
    ['shoal-node', '--join', joinUrl, '--token', '--root', rootB]);
  assert.notEqual(out[4], jtoken);
  const old = startAgent(['--join', joinUrl, '--token', jtoken, '--root', tmpDir('batch-nodes-old')], 'old');
  assert.equal((await waitExit(old)).code, 3);
  assert.match(old.log(), /join token was refused/);
  jtoken = out[4];
  agentB = startAgent(out.slice(1), 'agentB');
  l = await waitNodes('jp', 2);
  nodeB = l.find((x) => x.id !== nodeA).id;
  assert.equal((await batch.pool.get('jp')).targetDedicatedNodes, 2);
  // A jointoken pool grows only by joins.
  const e = await errOf(batch.pool.resize('jp', { targetDedicatedNodes: 5 }));
  assert.equal(e.statusCode, 409);
});

test('tasks on remote nodes; their files served through their agents', async () => {
  await batch.job.add({ id: 'rj', poolInfo: { poolId: 'jp' } });
  await batch.task.add('rj', { id: 'hello', commandLine: "/bin/sh -c 'echo hi from $AZ_BATCH_NODE_ID'" });
  const t = await waitTask('rj', 'hello');
  assert.equal(t.executionInfo.result, 'success');
  assert.ok([nodeA, nodeB].includes(t.nodeInfo.nodeId));
  const root = t.nodeInfo.nodeId === nodeA ? rootA : rootB;
  assert.equal(fs.readFileSync(path.join(root, 'workitems', 'rj', 'job-1', 'hello', 'stdout.txt'), 'utf8'),
    `hi from ${t.nodeInfo.nodeId}\n`);
  // shoald cannot read that root: the agent answers (batch_remote_files
  // has the details).
  const e = await batchFetch(srv, 'GET', `/jobs/rj/tasks/hello/files/stdout.txt?${API}`);
  assert.equal(e.status, 200, e.text);
  assert.equal(e.text, `hi from ${t.nodeInfo.nodeId}\n`);
  const n = await batch.file.listFromComputeNode('jp', nodeA);
  assert.deepEqual(n.map((x) => x.name).sort(), ['shared', 'startup', 'workitems']);
  // The agent uploads its own logs: a container nobody listens for is its
  // error, reported as for a local node.
  const logs = await errOf(batch.computeNode.uploadBatchServiceLogs('jp', nodeA, {
    containerUrl: 'http://127.0.0.1:1/x', startTime: new Date(0) }));
  assert.equal(logs.statusCode, 400);
  assert.equal(logs.code, 'InvalidPropertyValue');
});

test('node loss: a killed remote agent; its task is requeued elsewhere; it rejoins', async () => {
  const gate = path.join(dir, 'gate-loss');
  // Both nodes busy with one task each, then kill the agent of one.
  await batch.task.add('rj', gatedTask('l1', gate));
  await batch.task.add('rj', gatedTask('l2', gate));
  const t1 = await waitTask('rj', 'l1', (x) => x.state === 'running', 'running');
  await waitTask('rj', 'l2', (x) => x.state === 'running', 'running');
  await waitFor(() => runs('l1').length === 1, { what: 'l1 started' });
  const victim = t1.nodeInfo.nodeId;
  const va = victim === nodeA ? agentA : agentB;
  process.kill(va.pid, 'SIGKILL');
  await waitExit(va);
  await waitState('jp', victim, 'unusable');
  // l1 goes back to the queue (requeueCount, not retryCount): it runs on the
  // other node once l2 is done there.
  let t = await waitTask('rj', 'l1', (x) => x.executionInfo.requeueCount === 1, 'requeued');
  assert.equal(t.executionInfo.retryCount, 0);
  fs.writeFileSync(gate, '');
  t = await waitTask('rj', 'l1');
  assert.equal(t.executionInfo.result, 'success');
  assert.notEqual(t.nodeInfo.nodeId, victim);
  assert.equal(t.executionInfo.requeueCount, 1);
  assert.equal((await waitTask('rj', 'l2')).executionInfo.result, 'success');
  // Completed once: one transition to completed in the event log.
  const ev = await batchFetch(srv, 'GET', '/events?since=0&jobId=rj&types=TaskStateChange&timeout=0');
  assert.equal(ev.status, 200, ev.text);
  assert.equal(ev.json.value.filter((x) => x.entityId === 'l1' && x.newState === 'completed').length, 1);
  // The agent comes back (same root, no join token needed): same node.
  const root = victim === nodeA ? rootA : rootB;
  const back = startAgent(['--join', joinUrl, '--root', root], 'back');
  if (victim === nodeA) agentA = back; else agentB = back;
  await waitState('jp', victim, 'idle');
  assert.equal((await batch.computeNode.list('jp')).length, 2);
  fs.unlinkSync(gate);
  // It runs tasks again.
  await batch.computeNode.disableScheduling('jp', victim === nodeA ? nodeB : nodeA);
  await batch.task.add('rj', { id: 'after', commandLine: '/bin/true' });
  t = await waitTask('rj', 'after');
  assert.equal(t.nodeInfo.nodeId, victim);
  await batch.computeNode.enableScheduling('jp', victim === nodeA ? nodeB : nodeA);
});

function shoalCli(...args) {
  return spawnSync(path.join(binDir, 'shoal'), ['--connection-string', srv.connStr,
    '--batch-url', srv.batchUrl, ...args], { encoding: 'utf8' });
}

test('revoke the join token; remove a remote node; delete the pool', async () => {
  let c = shoalCli('pool', 'join-token', 'jp', '--revoke');
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout, 'join token of pool jp revoked\n');
  let r = await batchFetch(srv, 'GET', `/pools/jp/jointoken?${API}`);
  assert.equal(r.status, 404);
  r = await batchFetch(srv, 'DELETE', `/pools/jp/jointoken?${API}`);
  assert.equal(r.status, 404);
  c = shoalCli('pool', 'join-token', 'jp', '--revoke');
  assert.equal(c.status, 1);
  assert.match(c.stderr, /JoinTokenNotFound/);
  c = shoalCli('pool', 'join-token', 'np');
  assert.equal(c.status, 1);
  assert.match(c.stderr, /OperationInvalidForCurrentState/);
  const late = startAgent(['--join', joinUrl, '--token', jtoken, '--root', tmpDir('batch-nodes-late')], 'late');
  assert.equal((await waitExit(late)).code, 3);
  // Joined nodes keep working after the revocation.
  await batch.task.add('rj', { id: 'still', commandLine: '/bin/true' });
  assert.equal((await waitTask('rj', 'still')).executionInfo.result, 'success');
  // removenodes: the agent is told to stop, exits 6 and forgets its identity.
  await batch.pool.removeNodes('jp', { nodeList: [nodeB] });
  assert.equal((await waitExit(agentB)).code, 6);
  assert.ok(!fs.existsSync(path.join(rootB, 'agent', 'identity.json')));
  await waitNodes('jp', 1, () => true, 'remaining');
  assert.equal((await batch.pool.get('jp')).targetDedicatedNodes, 1);
  await batch.pool.deleteMethod('jp');
  assert.equal((await waitExit(agentA)).code, 6);
  await waitFor(async () => {
    try { await batch.pool.get('jp'); return false; } catch (e) { return e.statusCode === 404; }
  }, { what: 'jp gone' });
});

// ---- TLS ------------------------------------------------------------------

function tlsFetch(s, ca, method, p, body) {
  const headers = {};
  let data = null;
  if (body !== undefined) {
    data = Buffer.from(JSON.stringify(body));
    headers['Content-Type'] = 'application/json; odata=minimalmetadata; charset=utf-8';
    headers['Content-Length'] = String(data.length);
  }
  const signed = batchSign(s, method, p, headers);
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: s.ports.batch, method, path: p,
      headers: signed, ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch {}
        resolve({ status: res.statusCode, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (data) req.end(data); else req.end();
  });
}

test('TLS: HTTPS on the batch port; local and joined agents verify it with --ca', async () => {
  const tdir = tmpDir('batch-nodes-tls');
  const cert = path.join(tdir, 'cert.pem');
  const key = path.join(tdir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
    '-out', cert, '-days', '1', '-subj', '/CN=shoal-test',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const tsrv = await startServer({ name: 'batch-nodes-tls', args: ['--set', 'sched.poll_ms=300',
    '--set', `tls.cert_file=${cert}`, '--set', `tls.key_file=${key}`] });
  try {
    const ca = fs.readFileSync(cert);
    const url = `https://127.0.0.1:${tsrv.ports.batch}`;
    // Plain HTTP gets no answer from a TLS port; HTTPS without our CA fails.
    await assert.rejects(fetch(`http://127.0.0.1:${tsrv.ports.batch}/pools?${API}`));
    await assert.rejects(fetch(`${url}/pools?${API}`));
    let r = await tlsFetch(tsrv, ca, 'POST', `/pools?${API}`,
      { id: 'tl', vmSize: 'x', targetDedicatedNodes: 1 });
    assert.equal(r.status, 201, r.text);
    // The local agent was started with --ca: it comes up over HTTPS.
    await waitFor(async () => {
      const x = await tlsFetch(tsrv, ca, 'GET', `/pools/tl/nodes?${API}`);
      return x.json.value.length === 1 && x.json.value[0].state === 'idle';
    }, { timeoutMs: 30000, what: 'TLS local node idle' });
    r = await tlsFetch(tsrv, ca, 'POST', `/pools?${API}`,
      { id: 'tj', vmSize: 'x', 'x-shoal-allocation': 'jointoken' });
    assert.equal(r.status, 201, r.text);
    r = await tlsFetch(tsrv, ca, 'POST', `/pools/tj/jointoken?${API}`);
    assert.equal(r.json.joinUrl, url);
    // Without --ca the agent cannot verify the server and does not join.
    const blind = startAgent(['--join', url, '--token', r.json.token,
      '--root', tmpDir('batch-nodes-tls-blind')], 'tls-blind');
    await waitFor(() => /join failed, retrying/.test(blind.log()), { what: 'unverified join refused' });
    process.kill(blind.pid, 'SIGTERM');
    await waitExit(blind);
    const ag = startAgent(['--join', url, '--token', r.json.token, '--ca', cert,
      '--root', tmpDir('batch-nodes-tls-root')], 'tls-agent');
    await waitFor(async () => {
      const x = await tlsFetch(tsrv, ca, 'GET', `/pools/tj/nodes?${API}`);
      return x.json.value.length === 1 && x.json.value[0].state === 'idle';
    }, { timeoutMs: 30000, what: 'TLS joined node idle' });
    assert.equal((await tlsFetch(tsrv, ca, 'POST', `/jobs?${API}`,
      { id: 'tjob', poolInfo: { poolId: 'tj' } })).status, 201);
    assert.equal((await tlsFetch(tsrv, ca, 'POST', `/jobs/tjob/tasks?${API}`,
      { id: 't', commandLine: "/bin/sh -c 'echo over tls'" })).status, 201);
    const t = await waitFor(async () => {
      const x = await tlsFetch(tsrv, ca, 'GET', `/jobs/tjob/tasks/t?${API}`);
      return x.json.state === 'completed' ? x.json : null;
    }, { timeoutMs: 30000, what: 'TLS task completed' });
    assert.equal(t.executionInfo.result, 'success');
    // Its output comes back through the agent, which answers over HTTPS.
    r = await tlsFetch(tsrv, ca, 'GET', `/jobs/tjob/tasks/t/files/stdout.txt?${API}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'over tls\n');
    process.kill(ag.pid, 'SIGTERM');
    assert.equal((await waitExit(ag)).code, 0);
    assert.equal((await tsrv.stop()).code, 0, tsrv.log());
  } finally {
    await tsrv.stop();
  }
});

test('stop shoald; no agent of ours is left', async () => {
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
  for (const a of agents) {
    if (!a.exit) {
      process.kill(a.pid, 'SIGKILL');
      await waitExit(a);
    }
  }
});
