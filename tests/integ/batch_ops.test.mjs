// batch_ops.test.mjs: pool, node and job operations beyond the tutorial,
// through @azure/batch 10.2.0: resize up and down, stop resize, remove
// nodes, patch and update properties, start task failure, node scheduling,
// node counts, job patch/update/disable/enable, priorities, task update,
// reactivate and delete, job wall clock, file deletes on a local node that
// never follow a symlink a task planted.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, waitFor, tmpDir } from './lib/server.mjs';

let srv, batch;

async function nodes(pool) {
  return batch.computeNode.list(pool);
}

async function waitNodes(pool, n, state = 'idle') {
  return waitFor(async () => {
    const list = await nodes(pool);
    return list.length === n && list.every((x) => x.state === state) ? list : null;
  }, { timeoutMs: 30000, what: `${n} ${state} nodes in ${pool}` });
}

async function waitSteady(pool) {
  return waitFor(async () => {
    const p = await batch.pool.get(pool);
    return p.allocationState === 'steady' ? p : null;
  }, { timeoutMs: 30000, what: `${pool} steady` });
}

async function waitTask(job, id) {
  return waitFor(async () => {
    const t = await batch.task.get(job, id);
    return t.state === 'completed' ? t : null;
  }, { timeoutMs: 30000, intervalMs: 50, what: `${job}/${id} completed` });
}

test('start shoald', async () => {
  srv = await startServer({ name: 'batch-ops', args: ['--set', 'sched.poll_ms=1000'] });
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
});

test('resize up, down, stop resize, remove nodes', async () => {
  await batch.pool.add({ id: 'rs', vmSize: 'x', targetDedicatedNodes: 1,
    metadata: [{ name: 'a', value: '1' }] });
  await waitNodes('rs', 1);
  await waitSteady('rs');
  await batch.pool.resize('rs', { targetDedicatedNodes: 3 });
  let p = await batch.pool.get('rs');
  assert.equal(p.allocationState, 'resizing');
  assert.equal(p.targetDedicatedNodes, 3);
  await waitNodes('rs', 3);
  p = await waitSteady('rs');
  assert.equal(p.currentDedicatedNodes, 3);
  // Resize while resizing is refused; stopresize settles on what exists.
  await batch.pool.resize('rs', { targetDedicatedNodes: 4 });
  try {
    await batch.pool.resize('rs', { targetDedicatedNodes: 5 });
    assert.fail('second resize accepted');
  } catch (e) {
    assert.equal(e.statusCode, 409);
  }
  await batch.pool.stopResize('rs');
  p = await waitSteady('rs');
  assert.ok(p.targetDedicatedNodes >= 3 && p.targetDedicatedNodes <= 4);
  await waitNodes('rs', p.targetDedicatedNodes);
  await batch.pool.resize('rs', { targetDedicatedNodes: 2 });
  await waitNodes('rs', 2);
  p = await waitSteady('rs');
  assert.equal(p.currentDedicatedNodes, 2);
  const [first] = await nodes('rs');
  await batch.pool.removeNodes('rs', { nodeList: [first.id] });
  await waitNodes('rs', 1);
  assert.ok(!(await nodes('rs')).some((n) => n.id === first.id));
  p = await waitSteady('rs');
  assert.equal(p.targetDedicatedNodes, 1);
});

test('pool patch and update properties', async () => {
  await batch.pool.patch('rs', { metadata: [{ name: 'b', value: '2' }] });
  let p = await batch.pool.get('rs');
  assert.deepEqual(p.metadata, [{ name: 'b', value: '2' }]);
  await batch.pool.updateProperties('rs', { certificateReferences: [], applicationPackageReferences: [],
    metadata: [], startTask: { commandLine: '/bin/true' } });
  p = await batch.pool.get('rs');
  assert.deepEqual(p.metadata, []);
  assert.equal(p.startTask.commandLine, '/bin/true');
  const listed = await batch.pool.list({ poolListOptions: { filter: "id eq 'rs'", select: 'id,state' } });
  assert.deepEqual(listed.map((x) => [x.id, x.state]), [['rs', 'active']]);
  const counts = await batch.account.listPoolNodeCounts();
  const c = counts.find((x) => x.poolId === 'rs');
  assert.equal(c.dedicated.total, 1);
});

test('a failing start task with waitForSuccess: starttaskfailed, no tasks', async () => {
  await batch.pool.add({ id: 'bad', vmSize: 'x', targetDedicatedNodes: 1,
    startTask: { commandLine: "/bin/sh -c 'echo broken >&2; exit 4'", waitForSuccess: true,
      maxTaskRetryCount: 1 } });
  const [n] = await waitNodes('bad', 1, 'starttaskfailed');
  assert.equal(n.startTaskInfo.state, 'completed');
  assert.equal(n.startTaskInfo.exitCode, 4);
  assert.equal(n.startTaskInfo.result, 'failure');
  assert.equal(n.startTaskInfo.retryCount, 1);
  assert.equal(n.startTaskInfo.failureInfo.category, 'usererror');
  const err = await batch.file.getFromComputeNode('bad', n.id, 'startup/stderr.txt');
  const chunks = [];
  for await (const ch of err.readableStreamBody) chunks.push(ch);
  // Two tries (maxTaskRetryCount 1), one stderr.txt.
  assert.match(Buffer.concat(chunks).toString(), /^(broken\n)+$/);
  await batch.job.add({ id: 'stuck', poolInfo: { poolId: 'bad' } });
  await batch.task.add('stuck', { id: 't', commandLine: '/bin/true' });
  // Give the scheduler every chance: the node has synced many times by now.
  await waitFor(async () => (await batch.computeNode.get('bad', n.id)).state === 'starttaskfailed');
  assert.equal((await batch.task.get('stuck', 't')).state, 'active');
  await batch.job.deleteMethod('stuck');
  await batch.pool.deleteMethod('bad');
});

test('node scheduling disabled: offline, no tasks until enabled', async () => {
  const [n] = await waitNodes('rs', 1);
  await batch.computeNode.disableScheduling('rs', n.id);
  await waitFor(async () => (await batch.computeNode.get('rs', n.id)).state === 'offline',
    { what: 'offline' });
  assert.equal((await batch.computeNode.get('rs', n.id)).schedulingState, 'disabled');
  await batch.job.add({ id: 'sch', poolInfo: { poolId: 'rs' } });
  await batch.task.add('sch', { id: 't', commandLine: '/bin/true' });
  const seen = await batch.task.get('sch', 't');
  assert.equal(seen.state, 'active');
  await batch.computeNode.enableScheduling('rs', n.id);
  const t = await waitTask('sch', 't');
  assert.equal(t.executionInfo.result, 'success');
  assert.equal(t.nodeInfo.nodeId, n.id);
});

test('job patch, update, disable and enable, priorities', async () => {
  await batch.job.add({ id: 'low', poolInfo: { poolId: 'rs' }, priority: -5,
    constraints: { maxTaskRetryCount: 2 }, commonEnvironmentSettings: [{ name: 'WHO', value: 'low' }] });
  let j = await batch.job.get('low');
  assert.equal(j.priority, -5);
  assert.equal(j.constraints.maxTaskRetryCount, 2);
  assert.equal(j.constraints.maxWallClockTime, 'P10675199DT2H48M5.4775807S');
  assert.equal(j.onAllTasksComplete, 'noaction');
  assert.equal(j.executionInfo.poolId, 'rs');
  await batch.job.patch('low', { priority: 7 });
  j = await batch.job.get('low');
  assert.equal(j.priority, 7);
  assert.equal(j.constraints.maxTaskRetryCount, 2);
  await batch.job.update('low', { poolInfo: { poolId: 'rs' }, priority: 1 });
  j = await batch.job.get('low');
  assert.equal(j.priority, 1);
  assert.equal(j.constraints.maxTaskRetryCount, 0);
  // Disabled jobs run nothing; enable and the task runs with the job's env.
  await batch.job.disable('low', 'requeue');
  assert.equal((await batch.job.get('low')).state, 'disabled');
  await batch.task.add('low', { id: 'env', commandLine: "/bin/sh -c 'echo $WHO $AZ_BATCH_JOB_ID'" });
  assert.equal((await batch.task.get('low', 'env')).state, 'active');
  await batch.job.enable('low');
  assert.equal((await batch.job.get('low')).state, 'active');
  const t = await waitTask('low', 'env');
  const out = await batch.file.getFromTask('low', 'env', 'stdout.txt');
  const chunks = [];
  for await (const ch of out.readableStreamBody) chunks.push(ch);
  assert.equal(Buffer.concat(chunks).toString(), 'low low\n');
  assert.equal(t.executionInfo.result, 'success');
  const active = await batch.job.list({ jobListOptions: { filter: "state eq 'active' and startswith(id, 'lo')" } });
  assert.deepEqual(active.map((x) => x.id), ['low']);
});

test('task update, reactivate, delete', async () => {
  await batch.task.add('low', { id: 'flaky', commandLine: "/bin/sh -c 'exit 9'",
    constraints: { maxTaskRetryCount: 0 } });
  let t = await waitTask('low', 'flaky');
  assert.equal(t.executionInfo.exitCode, 9);
  assert.equal(t.constraints.maxTaskRetryCount, 0);
  await batch.task.reactivate('low', 'flaky');
  t = await waitTask('low', 'flaky');
  assert.equal(t.executionInfo.exitCode, 9);
  assert.equal(t.executionInfo.retryCount, 0);
  // A job on a pool that does not exist yet: its task waits, is updated,
  // then runs once the job moves to a real pool.
  await batch.job.add({ id: 'upd', poolInfo: { poolId: 'notyet' } });
  await batch.task.add('upd', { id: 'later', commandLine: '/bin/sleep 30' });
  await batch.task.update('upd', 'later', { constraints: { maxWallClockTime: 'PT1S' } });
  assert.equal((await batch.task.get('upd', 'later')).constraints.maxWallClockTime, 'PT1S');
  assert.equal((await batch.task.get('upd', 'later')).state, 'active');
  await batch.job.patch('upd', { poolInfo: { poolId: 'rs' } });
  t = await waitTask('upd', 'later');
  assert.equal(t.executionInfo.failureInfo.code, 'TaskEnded');
  await batch.task.deleteMethod('upd', 'later');
  try {
    await batch.task.get('upd', 'later');
    assert.fail('deleted task still there');
  } catch (e) {
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'TaskNotFound');
  }
  const c = await batch.job.getTaskCounts('low');
  assert.equal(c.taskCounts.completed, 2);
});

async function errOf(p) {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('request succeeded');
}

test('file deletes: symlinks planted by a task are never followed', async () => {
  // Outside DATA: what a symlink in the task's directory points at.
  const out = tmpDir('batch-ops-outside');
  fs.writeFileSync(path.join(out, 'keep.txt'), 'keep\n');
  fs.mkdirSync(path.join(out, 'sub'));
  fs.writeFileSync(path.join(out, 'sub', 'keep2.txt'), 'keep\n');
  const plant = `mkdir -p d/e empty; echo x > d/e/f.txt; echo y > plain.txt; ln -s ${out}/keep.txt link; ` +
    `ln -s ${out} ldir; ln -s ${out} d/lout; ln -s ${out}/keep.txt d/e/lfile`;
  await batch.task.add('low', { id: 'sym', commandLine: `/bin/sh -c '${plant}'` });
  const t = await waitTask('low', 'sym');
  assert.equal(t.executionInfo.exitCode, 0);
  const node = t.nodeInfo.nodeId;
  const wd = path.join(srv.dataDir, 'nodes', 'rs', node, 'workitems', 'low', 'job-1', 'sym', 'wd');
  const intact = () => {
    assert.equal(fs.readFileSync(path.join(out, 'keep.txt'), 'utf8'), 'keep\n');
    assert.equal(fs.readFileSync(path.join(out, 'sub', 'keep2.txt'), 'utf8'), 'keep\n');
  };
  // Through the symlink, or the symlink itself: 404, nothing removed.
  for (const [p, recursive] of [['wd/link', false], ['wd/ldir', true], ['wd/ldir/keep.txt', false],
    ['wd/ldir/sub', true], ['wd/d/lout/keep.txt', false], ['wd/d/e/lfile', false]]) {
    const e = await errOf(batch.file.deleteFromTask('low', 'sym', p, { recursive }));
    assert.equal(e.statusCode, 404, p);
    assert.equal(e.code, 'FileNotFound', p);
  }
  assert.ok(fs.lstatSync(path.join(wd, 'link')).isSymbolicLink());
  assert.ok(fs.lstatSync(path.join(wd, 'ldir')).isSymbolicLink());
  intact();
  // Missing, '..', a non-empty directory without recursive.
  let e = await errOf(batch.file.deleteFromTask('low', 'sym', 'wd/nosuch'));
  assert.equal(e.statusCode, 404);
  e = await errOf(batch.file.deleteFromTask('low', 'sym', 'wd/../../sym'));
  assert.equal(e.statusCode, 400);
  e = await errOf(batch.file.deleteFromTask('low', 'sym', 'wd/d'));
  assert.equal(e.statusCode, 409);
  assert.equal(e.code, 'DirectoryNotEmpty');
  assert.ok(fs.existsSync(path.join(wd, 'd', 'e', 'f.txt')));
  // Normal deletes: a file, an empty directory, a tree holding symlinks
  // (removed as links, their targets kept).
  await batch.file.deleteFromTask('low', 'sym', 'wd/plain.txt');
  assert.ok(!fs.existsSync(path.join(wd, 'plain.txt')));
  e = await errOf(batch.file.deleteFromTask('low', 'sym', 'wd/plain.txt'));
  assert.equal(e.statusCode, 404);
  await batch.file.deleteFromTask('low', 'sym', 'wd/empty');
  assert.ok(!fs.existsSync(path.join(wd, 'empty')));
  await batch.file.deleteFromTask('low', 'sym', 'wd/d', { recursive: true });
  assert.ok(!fs.existsSync(path.join(wd, 'd')));
  intact();
  // The node route: the same rules, then the whole wd, links and all.
  const nwd = 'workitems/low/job-1/sym/wd';
  e = await errOf(batch.file.deleteFromComputeNode('rs', node, `${nwd}/ldir`, { recursive: true }));
  assert.equal(e.statusCode, 404);
  e = await errOf(batch.file.deleteFromComputeNode('rs', node, `${nwd}/ldir/keep.txt`));
  assert.equal(e.statusCode, 404);
  e = await errOf(batch.file.deleteFromComputeNode('rs', node, nwd));
  assert.equal(e.statusCode, 409);
  await batch.file.deleteFromComputeNode('rs', node, nwd, { recursive: true });
  assert.ok(!fs.existsSync(wd));
  assert.ok(fs.existsSync(path.join(wd, '..', 'stdout.txt')));
  intact();
  fs.rmSync(out, { recursive: true, force: true });
});

test('job wall clock: the job ends with MaxWallClockTimeExpiry', async () => {
  await batch.job.add({ id: 'wall', poolInfo: { poolId: 'rs' }, constraints: { maxWallClockTime: 'PT1S' } });
  await batch.task.add('wall', { id: 'sleepy', commandLine: '/bin/sleep 30' });
  const j = await waitFor(async () => {
    const x = await batch.job.get('wall');
    return x.state === 'completed' ? x : null;
  }, { timeoutMs: 20000, what: 'wall job completed' });
  assert.equal(j.executionInfo.terminateReason, 'MaxWallClockTimeExpiry');
  const t = await batch.task.get('wall', 'sleepy');
  assert.equal(t.state, 'completed');
});

test('stop shoald', async () => {
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
});
