// batch_restart.test.mjs: crashes and lost nodes.
//   - SIGKILL shoald mid-job and start it again on the same data directory:
//     pools, jobs and tasks come back from SQLite, the agents (which kept
//     running) find the new server and resync, and every task completes
//     exactly once (each task appends its id to one file; each id must be
//     there once, and no task is requeued or retried).
//   - An agent that stops answering (SIGSTOP) makes its node unusable after
//     the heartbeat timeout; its task is requeued (requeueCount) on the other
//     node; once it answers again (SIGCONT) it is told to drop the stale
//     attempt and the node is usable again.
//   - An agent that dies (SIGKILL) is restarted by shoald; its task is
//     requeued and completes.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, waitFor, tmpDir } from './lib/server.mjs';

let srv, batch, marks;
const POOL = 'rpool';

function client() {
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
}

// The pid of the agent of a node: our grandchild, found by its command line.
function agentPid(nodeId) {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd;
    try { cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    if (cmd[0].endsWith('shoal-node') && cmd.includes(nodeId)) return Number(d);
  }
  return 0;
}

async function counts(job) {
  return (await batch.job.getTaskCounts(job)).taskCounts;
}

test('start shoald, a pool of 2 nodes x 2 slots', async () => {
  srv = await startServer({ name: 'batch-restart', args: ['--set', 'sched.poll_ms=1000'] });
  client();
  const dir = tmpDir('batch-restart-marks');
  fs.chmodSync(dir, 0o777);
  marks = path.join(dir, 'marks.txt');
  fs.writeFileSync(marks, '');
  fs.chmodSync(marks, 0o666);
  await batch.pool.add({ id: POOL, vmSize: 'small', targetDedicatedNodes: 2, taskSlotsPerNode: 2 });
  await waitFor(async () => {
    const n = await batch.computeNode.list(POOL);
    return n.length === 2 && n.every((x) => x.state === 'idle');
  }, { what: 'nodes idle' });
});

test('SIGKILL shoald mid-job: every task completes exactly once', async () => {
  await batch.job.add({ id: 'rj', poolInfo: { poolId: POOL } });
  const tasks = Array.from({ length: 40 }, (_, i) => ({
    id: `r${String(i).padStart(2, '0')}`,
    commandLine: `/bin/sh -c 'sleep 0.2; echo $AZ_BATCH_TASK_ID >> ${marks}'`,
  }));
  const res = await batch.task.addCollection('rj', tasks);
  assert.ok(res.value.every((r) => r.status === 'success'));
  await waitFor(async () => {
    const c = await counts('rj');
    return c.completed >= 8 && c.running > 0;
  }, { timeoutMs: 30000, intervalMs: 20, what: 'job midway' });
  const oldBatch = srv.batchUrl;
  await srv.restartAfterKill();
  assert.notEqual(srv.batchUrl, oldBatch);
  client();
  // Everything is back.
  assert.equal((await batch.pool.get(POOL)).targetDedicatedNodes, 2);
  assert.equal((await batch.job.get('rj')).state, 'active');
  assert.equal((await batch.task.list('rj')).length, 40);
  await waitFor(async () => (await counts('rj')).completed === 40,
    { timeoutMs: 60000, intervalMs: 100, what: 'all 40 completed after restart' });
  const c = await counts('rj');
  assert.equal(c.succeeded, 40);
  const lines = fs.readFileSync(marks, 'utf8').trim().split('\n').sort();
  assert.deepEqual(lines, tasks.map((t) => t.id));
  for (const t of await batch.task.list('rj')) {
    assert.equal(t.executionInfo.retryCount, 0);
    assert.equal(t.executionInfo.requeueCount, 0, `${t.id} was requeued`);
  }
  // The agents that outlived the crash were adopted, not replaced.
  const log = srv.log();
  assert.match(log, /node agent adopted/);
});

test('a silent node becomes unusable; its task is requeued elsewhere', async () => {
  await srv.stop();
  srv = await startServer({ dataDir: srv.dataDir, name: 'batch-restart',
    args: ['--set', 'sched.poll_ms=200', '--set', 'sched.heartbeat_timeout_ms=1500'] });
  client();
  await waitFor(async () => {
    const n = await batch.computeNode.list(POOL);
    return n.length === 2 && n.every((x) => x.state === 'idle');
  }, { timeoutMs: 30000, what: 'nodes idle after restart' });
  await batch.job.add({ id: 'hb', poolInfo: { poolId: POOL } });
  await batch.task.add('hb', { id: 'long', commandLine: '/bin/sleep 3' });
  const running = await waitFor(async () => {
    const t = await batch.task.get('hb', 'long');
    return t.state === 'running' ? t : null;
  }, { what: 'long running' });
  const victim = running.nodeInfo.nodeId;
  const pid = agentPid(victim);
  assert.ok(pid > 0, 'agent pid');
  process.kill(pid, 'SIGSTOP');
  try {
    await waitFor(async () => (await batch.computeNode.get(POOL, victim)).state === 'unusable',
      { timeoutMs: 20000, what: 'node unusable' });
    const t = await waitFor(async () => {
      const x = await batch.task.get('hb', 'long');
      return x.executionInfo.requeueCount === 1 && x.state !== 'active' ? x : null;
    }, { timeoutMs: 20000, what: 'task requeued and picked up' });
    assert.notEqual(t.nodeInfo.nodeId, victim);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await waitFor(async () => (await batch.computeNode.get(POOL, victim)).state === 'idle',
    { timeoutMs: 20000, what: 'victim back to idle' });
  const done = await waitFor(async () => {
    const x = await batch.task.get('hb', 'long');
    return x.state === 'completed' ? x : null;
  }, { timeoutMs: 20000, what: 'long completed' });
  assert.equal(done.executionInfo.result, 'success');
  assert.equal(done.executionInfo.requeueCount, 1);
});

test('a dead agent is restarted and its task requeued', async () => {
  await batch.task.add('hb', { id: 'long2', commandLine: '/bin/sleep 2' });
  const running = await waitFor(async () => {
    const t = await batch.task.get('hb', 'long2');
    return t.state === 'running' ? t : null;
  }, { what: 'long2 running' });
  const victim = running.nodeInfo.nodeId;
  const pid = agentPid(victim);
  assert.ok(pid > 0);
  process.kill(pid, 'SIGKILL');
  await waitFor(() => { const p = agentPid(victim); return p > 0 && p !== pid; },
    { timeoutMs: 20000, what: 'agent restarted' });
  const done = await waitFor(async () => {
    const x = await batch.task.get('hb', 'long2');
    return x.state === 'completed' ? x : null;
  }, { timeoutMs: 30000, what: 'long2 completed' });
  assert.equal(done.executionInfo.result, 'success');
  assert.equal(done.executionInfo.requeueCount, 1);
});

test('stop shoald: agents stop with it', async () => {
  const nodes = (await batch.computeNode.list(POOL)).map((n) => n.id);
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
  await waitFor(() => nodes.every((n) => agentPid(n) === 0), { what: 'agents gone' });
});
