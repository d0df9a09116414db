// batch_deps.test.mjs: task dependencies, exit conditions, reactivate,
// requiredSlots, affinity and job priority through @azure/batch 10.2.0 (raw
// REST where a limit is easier to hit by hand): a diamond, a chain of 1,000
// checked by start/end order, a fan-out of 10,000 tasks from one root on a
// pool of 2 nodes x 4 slots (2,000 with the sanitizer binaries of bin-san;
// DEPS_CHAIN and DEPS_FANOUT override both sizes), failed dependencies that
// block and exit options that satisfy, job actions, a restart that keeps a
// blocked task blocked, and the scheduling order across jobs.
//
// Nothing here waits on time: "a task stays blocked" is checked after a
// later task of the same job, queued behind it, has completed (the queue is
// in arrival order, so a runnable blocked task would have started first).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { binDir, startServer, tmpDir, waitFor } from './lib/server.mjs';
import { batchFetch } from './lib/batchsign.mjs';

const API = '2022-10-01.16.0';
// Sanitizer builds fork each task ~8x slower (ASan's fork): the fan-out
// there checks the same code with fewer leaves, to stay near 90 s.
const SAN = path.basename(binDir) === 'bin-san';
const FANOUT = Number(process.env.DEPS_FANOUT || (SAN ? 2000 : 10000));
const CHAIN = Number(process.env.DEPS_CHAIN || 1000);

let srv, batch, flags;

function flag(name) {
  return path.join(flags, name);
}

// A command that waits (in the task) for the test to create a flag file.
function holdCmd(name) {
  return `/bin/sh -c 'while ! test -f ${flag(name)}; do sleep 0.02; done'`;
}

async function addMany(job, tasks) {
  for (let i = 0; i < tasks.length; i += 100) {
    const r = await batch.task.addCollection(job, tasks.slice(i, i + 100));
    for (const x of r.value) assert.equal(x.status, 'success', JSON.stringify(x));
  }
}

async function waitTask(job, id, state = 'completed') {
  return waitFor(async () => {
    const t = await batch.task.get(job, id);
    return t.state === state ? t : null;
  }, { timeoutMs: 30000, intervalMs: 50, what: `${job}/${id} ${state}` });
}

async function waitCompleted(job, n, timeoutMs = 60000) {
  return waitFor(async () => {
    const c = (await batch.job.getTaskCounts(job)).taskCounts;
    return c.completed >= n ? c : null;
  }, { timeoutMs, intervalMs: 100, what: `${n} tasks of ${job} completed` });
}

async function waitJob(job, state) {
  return waitFor(async () => {
    const j = await batch.job.get(job);
    return j.state === state ? j : null;
  }, { timeoutMs: 30000, intervalMs: 50, what: `job ${job} ${state}` });
}

async function listAll(job) {
  const out = [];
  let page = await batch.task.list(job, { taskListOptions: { select: 'id,state,executionInfo,nodeInfo' } });
  out.push(...page);
  while (page.odatanextLink) {
    page = await batch.task.listNext(page.odatanextLink);
    out.push(...page);
  }
  return out;
}

async function expectError(p, status, code) {
  try {
    await p;
  } catch (e) {
    assert.equal(e.statusCode, status, e.message);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${status} ${code}`);
}

// A sentinel added after the tasks under test: once it completed, every
// runnable task queued before it (same job, same priority) has started.
async function sentinel(job, id) {
  await batch.task.add(job, { id, commandLine: '/bin/true' });
  await waitTask(job, id);
}

test('start shoald and a pool of 2 nodes x 4 slots', async () => {
  srv = await startServer({ name: 'batch-deps', args: ['--set', 'sched.poll_ms=1000'] });
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  flags = tmpDir('deps-flags');
  fs.chmodSync(flags, 0o755); // tasks may run as another user
  await batch.pool.add({ id: 'dp', vmSize: 'x', targetDedicatedNodes: 2, taskSlotsPerNode: 4 });
  await batch.pool.add({ id: 'solo', vmSize: 'x', targetDedicatedNodes: 1, taskSlotsPerNode: 1 });
  for (const [pool, n] of [['dp', 2], ['solo', 1]]) {
    await waitFor(async () => {
      const list = await batch.computeNode.list(pool);
      return list.length === n && list.every((x) => x.state === 'idle');
    }, { timeoutMs: 30000, what: `${pool} idle` });
  }
});

test('dependsOn needs usesTaskDependencies; list limits', async () => {
  await batch.job.add({ id: 'nodeps', poolInfo: { poolId: 'dp' } });
  await expectError(batch.task.add('nodeps', { id: 'x', commandLine: '/bin/true',
    dependsOn: { taskIds: ['y'] } }), 400, 'TaskDependenciesNotSpecifiedOnJob');
  const r = await batch.task.addCollection('nodeps', [
    { id: 'ok', commandLine: '/bin/true' },
    { id: 'bad', commandLine: '/bin/true', dependsOn: { taskIdRanges: [{ start: 1, end: 2 }] } },
  ]);
  const by = Object.fromEntries(r.value.map((x) => [x.taskId, x]));
  assert.equal(by.ok.status, 'success');
  assert.equal(by.bad.status, 'clienterror');
  assert.equal(by.bad.error.code, 'TaskDependenciesNotSpecifiedOnJob');

  await batch.job.add({ id: 'lim', poolInfo: { poolId: 'dp' }, usesTaskDependencies: true });
  const ids = Array.from({ length: 1001 }, (_, i) => `t${String(i).padStart(63, '0')}`);
  let res = await batchFetch(srv, 'POST', `/jobs/lim/tasks?api-version=${API}`,
    { body: { id: 'long', commandLine: '/bin/true', dependsOn: { taskIds: ids } } });
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 'TaskDependencyListTooLong');
  const ranges = Array.from({ length: 1001 }, (_, i) => ({ start: i, end: i }));
  res = await batchFetch(srv, 'POST', `/jobs/lim/tasks?api-version=${API}`,
    { body: { id: 'many', commandLine: '/bin/true', dependsOn: { taskIdRanges: ranges } } });
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 'TaskDependencyRangesTooLong');
  res = await batchFetch(srv, 'POST', `/jobs/lim/tasks?api-version=${API}`,
    { body: { id: 'rev', commandLine: '/bin/true', dependsOn: { taskIdRanges: [{ start: 5, end: 4 }] } } });
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 'InvalidPropertyValue');
  // 64,000 characters exactly are fine.
  const fit = Array.from({ length: 1000 }, (_, i) => `t${String(i).padStart(63, '0')}`);
  res = await batchFetch(srv, 'POST', `/jobs/lim/tasks?api-version=${API}`,
    { body: { id: 'fits', commandLine: '/bin/true', dependsOn: { taskIds: fit } } });
  assert.equal(res.status, 201, res.text);
  const t = await batch.task.get('lim', 'fits');
  assert.equal(t.dependsOn.taskIds.length, 1000);
  assert.equal(t.state, 'active');
});

test('diamond: each task starts after the ones it depends on end', async () => {
  await batch.job.add({ id: 'dia', poolInfo: { poolId: 'dp' }, usesTaskDependencies: true });
  // The dependents first: they wait for tasks not added yet.
  await addMany('dia', [
    { id: 'd', commandLine: '/bin/true', dependsOn: { taskIds: ['b', 'c'] } },
    { id: 'b', commandLine: '/bin/true', dependsOn: { taskIds: ['a'] } },
    { id: 'c', commandLine: '/bin/true', dependsOn: { taskIdRanges: [{ start: 1, end: 1 }] } },
    { id: '1', commandLine: '/bin/true', dependsOn: { taskIds: ['A'] } },
    { id: 'a', commandLine: '/bin/true' },
  ]);
  await waitCompleted('dia', 5);
  const t = Object.fromEntries((await listAll('dia')).map((x) => [x.id, x.executionInfo]));
  for (const x of Object.values(t)) assert.equal(x.result, 'success');
  const after = (x, y) => assert.ok(t[x].startTime >= t[y].endTime, `${x} started before ${y} ended`);
  after('b', 'a');
  after('1', 'a');
  after('c', '1');
  after('d', 'b');
  after('d', 'c');
  const d = await batch.task.get('dia', 'd');
  assert.deepEqual(d.dependsOn.taskIds, ['b', 'c']);
});

test(`chain of ${CHAIN}: completion order follows the chain`, async () => {
  await batch.job.add({ id: 'chain', poolInfo: { poolId: 'dp' }, usesTaskDependencies: true });
  const tasks = [];
  for (let i = 0; i < CHAIN; i++) {
    const t = { id: `c${i}`, commandLine: '/bin/true' };
    if (i > 0) t.dependsOn = { taskIds: [`c${i - 1}`] };
    tasks.push(t);
  }
  // Added last to first: every link waits on a task not added yet.
  await addMany('chain', tasks.reverse());
  await waitCompleted('chain', CHAIN, 80000);
  const t = Object.fromEntries((await listAll('chain')).map((x) => [x.id, x.executionInfo]));
  for (let i = 1; i < CHAIN; i++) {
    assert.equal(t[`c${i}`].result, 'success');
    assert.ok(t[`c${i}`].startTime >= t[`c${i - 1}`].endTime, `c${i} started before c${i - 1} ended`);
  }
});

test(`fan-out of ${FANOUT} from one root`, async () => {
  await batch.job.add({ id: 'fan', poolInfo: { poolId: 'dp' }, usesTaskDependencies: true });
  const leaves = Array.from({ length: FANOUT }, (_, i) => ({
    id: `leaf${i}`, commandLine: '/bin/true', dependsOn: { taskIds: ['root'] },
  }));
  await addMany('fan', leaves);
  let c = (await batch.job.getTaskCounts('fan')).taskCounts;
  assert.equal(c.active, FANOUT);
  await batch.task.add('fan', { id: 'root', commandLine: '/bin/true' });
  await waitCompleted('fan', FANOUT + 1, 120000);
  c = (await batch.job.getTaskCounts('fan')).taskCounts;
  assert.equal(c.succeeded, FANOUT + 1);
  const all = await listAll('fan');
  const root = all.find((x) => x.id === 'root').executionInfo;
  const first = Math.min(...all.filter((x) => x.id !== 'root').map((x) => x.executionInfo.startTime.getTime()));
  assert.ok(first >= root.endTime.getTime(), 'a leaf started before the root ended');
});

test('a failed dependency blocks; satisfy releases; reactivate runs it again', async () => {
  await batch.job.add({ id: 'blk', poolInfo: { poolId: 'dp' }, usesTaskDependencies: true });
  await addMany('blk', [
    { id: 'flaky', commandLine: `/bin/sh -c 'test -f ${flag('flaky-ok')}'` },
    { id: 'soft', commandLine: "/bin/sh -c 'exit 3'",
      exitConditions: { exitCodes: [{ code: 3, exitOptions: { dependencyAction: 'satisfy' } }] } },
    { id: 'soft2', commandLine: "/bin/sh -c 'exit 9'",
      exitConditions: { default: { dependencyAction: 'satisfy' } } },
  ]);
  await addMany('blk', [
    { id: 'blocked', commandLine: '/bin/true', dependsOn: { taskIds: ['flaky'] } },
    { id: 'freed', commandLine: '/bin/true', dependsOn: { taskIds: ['soft', 'soft2'] } },
  ]);
  const f = await waitTask('blk', 'flaky');
  assert.equal(f.executionInfo.result, 'failure');
  assert.equal((await waitTask('blk', 'freed')).executionInfo.result, 'success');
  assert.equal((await batch.task.get('blk', 'soft')).executionInfo.result, 'failure');
  await sentinel('blk', 'tail');
  let b = await batch.task.get('blk', 'blocked');
  assert.equal(b.state, 'active');
  assert.equal(b.executionInfo.retryCount, 0);
  assert.equal(b.executionInfo.startTime, undefined);
  // Reactivate refuses what is not a failed completed task.
  await expectError(batch.task.reactivate('blk', 'blocked'), 409, 'TaskNotCompleted');
  await expectError(batch.task.reactivate('blk', 'tail'), 409, 'TaskSucceeded');
  fs.writeFileSync(flag('flaky-ok'), '');
  await batch.task.reactivate('blk', 'flaky');
  const r = await waitTask('blk', 'flaky');
  assert.equal(r.executionInfo.result, 'success');
  assert.equal(r.executionInfo.exitCode, 0);
  assert.equal(r.executionInfo.failureInfo, undefined);
  assert.equal(r.executionInfo.retryCount, 0);
  b = await waitTask('blk', 'blocked');
  assert.equal(b.executionInfo.result, 'success');
  // A completed job's tasks cannot be reactivated.
  await batch.job.terminate('blk');
  await waitJob('blk', 'completed');
  await expectError(batch.task.reactivate('blk', 'soft'), 409, 'JobCompleted');
});

test('exit conditions: job actions and their add-time check', async () => {
  // noaction jobs refuse a jobAction other than none.
  await batch.job.add({ id: 'xn', poolInfo: { poolId: 'dp' } });
  const e = await expectError(batch.task.add('xn', { id: 't', commandLine: '/bin/true',
    exitConditions: { default: { jobAction: 'terminate' } } }), 400, 'InvalidPropertyValue');
  assert.match(JSON.stringify(e.message), /exitConditions.default.jobAction/);
  await batch.task.add('xn', { id: 'none', commandLine: "/bin/sh -c 'exit 1'",
    exitConditions: { default: { jobAction: 'none' } } });
  await waitTask('xn', 'none');
  assert.equal((await batch.job.get('xn')).state, 'active');

  const acts = { poolInfo: { poolId: 'dp' }, onTaskFailure: 'performexitoptionsjobaction' };
  // A failure without exitConditions terminates the job: TaskFailed.
  await batch.job.add({ id: 'xt', ...acts });
  await batch.task.add('xt', { id: 'f', commandLine: "/bin/sh -c 'exit 4'" });
  let j = await waitJob('xt', 'completed');
  assert.equal(j.executionInfo.terminateReason, 'TaskFailed');
  assert.equal(j.onTaskFailure, 'performexitoptionsjobaction');
  // Exit 0 mapped to disable disables the job.
  await batch.job.add({ id: 'xd', ...acts });
  await batch.task.add('xd', { id: 'z', commandLine: '/bin/true',
    exitConditions: { exitCodes: [{ code: 0, exitOptions: { jobAction: 'disable' } }] } });
  await waitTask('xd', 'z');
  j = await batch.job.get('xd');
  assert.ok(['disabling', 'disabled'].includes(j.state), j.state);
  // A listed failure with jobAction none leaves the job active.
  await batch.job.add({ id: 'xk', ...acts });
  await batch.task.add('xk', { id: 'k', commandLine: "/bin/sh -c 'exit 2'",
    exitConditions: { exitCodeRanges: [{ start: 1, end: 5, exitOptions: { jobAction: 'none' } }] } });
  const k = await waitTask('xk', 'k');
  assert.equal(k.executionInfo.exitCode, 2);
  assert.deepEqual(k.exitConditions.exitCodeRanges[0].exitOptions, { jobAction: 'none' });
  assert.equal((await batch.job.get('xk')).state, 'active');
  // A command that never starts is a pre-processing error.
  await batch.job.add({ id: 'xp', ...acts });
  await batch.task.add('xp', { id: 'p', commandLine: '/nonexistent/program',
    exitConditions: { preProcessingError: { jobAction: 'terminate' }, default: { jobAction: 'none' } } });
  const p = await waitTask('xp', 'p');
  assert.equal(p.executionInfo.exitCode, undefined);
  j = await waitJob('xp', 'completed');
  assert.equal(j.executionInfo.terminateReason, 'TaskFailed');
});

test('requiredSlots: counted in taskSlotCounts; too wide waits', async () => {
  await expectError(batch.task.add('xn', { id: 'zero', commandLine: '/bin/true', requiredSlots: 0 }),
    400, 'InvalidPropertyValue');
  await batch.job.add({ id: 'slots', poolInfo: { poolId: 'dp' } });
  await addMany('slots', [
    { id: 'wide', commandLine: '/bin/true', requiredSlots: 5 },
    { id: 'three', commandLine: '/bin/true', requiredSlots: 3 },
    { id: 'four', commandLine: '/bin/true', requiredSlots: 4 },
  ]);
  await waitTask('slots', 'three');
  await waitTask('slots', 'four');
  await sentinel('slots', 'tail');
  const w = await batch.task.get('slots', 'wide');
  assert.equal(w.state, 'active');
  assert.equal(w.requiredSlots, 5);
  const c = await batch.job.getTaskCounts('slots');
  assert.deepEqual(c.taskCounts, { active: 1, running: 0, completed: 3, succeeded: 3, failed: 0 });
  assert.deepEqual(c.taskSlotCounts, { active: 5, running: 0, completed: 8, succeeded: 8, failed: 0 });
  await batch.task.terminate('slots', 'wide');
});

test('affinityInfo: tasks go to the node they name while it has room', async () => {
  const nodes = await batch.computeNode.list('dp');
  const target = nodes[1];
  assert.equal(target.affinityId, `TVM:${target.id}`);
  await batch.job.add({ id: 'aff', poolInfo: { poolId: 'dp' } });
  await addMany('aff', Array.from({ length: 4 }, (_, i) => ({
    id: `a${i}`, commandLine: '/bin/true', affinityInfo: { affinityId: target.affinityId },
  })));
  await waitCompleted('aff', 4);
  for (const t of await listAll('aff')) assert.equal(t.nodeInfo.nodeId, target.id, t.id);
  const t = await batch.task.get('aff', 'a0');
  assert.equal(t.affinityInfo.affinityId, target.affinityId);
});

test('priority: a higher-priority job on a shared pool runs first; patch re-orders', async () => {
  // 'solo' has one slot: a holder task keeps it while the queue fills.
  await batch.job.add({ id: 'low', poolInfo: { poolId: 'solo' }, priority: 0 });
  await batch.task.add('low', { id: 'hold', commandLine: holdCmd('go1') });
  await waitTask('low', 'hold', 'running');
  await addMany('low', [1, 2, 3].map((i) => ({ id: `l${i}`, commandLine: '/bin/true' })));
  await batch.job.add({ id: 'high', poolInfo: { poolId: 'solo' }, priority: 500 });
  await addMany('high', [1, 2, 3].map((i) => ({ id: `h${i}`, commandLine: '/bin/true' })));
  fs.writeFileSync(flag('go1'), '');
  await waitCompleted('low', 4);
  await waitCompleted('high', 3);
  const starts = [];
  for (const j of ['low', 'high']) {
    for (const t of await listAll(j)) if (t.id !== 'hold') starts.push([t.executionInfo.startTime.getTime(), t.id]);
  }
  starts.sort((a, b) => a[0] - b[0]);
  assert.deepEqual(starts.map((x) => x[1]), ['h1', 'h2', 'h3', 'l1', 'l2', 'l3']);

  // Raising a job's priority moves its queued tasks ahead.
  await batch.task.add('low', { id: 'hold2', commandLine: holdCmd('go2') });
  await waitTask('low', 'hold2', 'running');
  await batch.job.add({ id: 'mid', poolInfo: { poolId: 'solo' }, priority: 10 });
  await addMany('mid', [1, 2].map((i) => ({ id: `m${i}`, commandLine: '/bin/true' })));
  await addMany('low', [4, 5].map((i) => ({ id: `l${i}`, commandLine: '/bin/true' })));
  await batch.job.patch('low', { priority: 20 });
  fs.writeFileSync(flag('go2'), '');
  await waitCompleted('mid', 2);
  await waitCompleted('low', 7);
  const l5 = await batch.task.get('low', 'l5');
  const m1 = await batch.task.get('mid', 'm1');
  assert.ok(l5.executionInfo.endTime <= m1.executionInfo.startTime, 'mid ran before the raised low');
});

test('restart: a blocked task stays blocked, then runs', async () => {
  await batch.job.add({ id: 'rst', poolInfo: { poolId: 'dp' }, usesTaskDependencies: true });
  await batch.task.add('rst', { id: 'gate', commandLine: `/bin/sh -c 'test -f ${flag('gate-ok')}'` });
  await batch.task.add('rst', { id: 'after', commandLine: '/bin/true', dependsOn: { taskIds: ['gate'] } });
  await batch.task.add('rst', { id: 'range', commandLine: '/bin/true',
    dependsOn: { taskIdRanges: [{ start: 7, end: 8 }] } });
  await batch.task.add('rst', { id: '7', commandLine: '/bin/true' });
  await waitTask('rst', 'gate');
  await waitTask('rst', '7');
  await srv.restart();
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  await waitFor(async () => {
    const list = await batch.computeNode.list('dp');
    return list.length === 2 && list.every((x) => x.state === 'idle');
  }, { timeoutMs: 30000, what: 'dp idle after restart' });
  await sentinel('rst', 'tail');
  assert.equal((await batch.task.get('rst', 'after')).state, 'active');
  assert.equal((await batch.task.get('rst', 'range')).state, 'active');
  await batch.task.add('rst', { id: '8', commandLine: '/bin/true' });
  assert.equal((await waitTask('rst', 'range')).executionInfo.result, 'success');
  fs.writeFileSync(flag('gate-ok'), '');
  await batch.task.reactivate('rst', 'gate');
  assert.equal((await waitTask('rst', 'after')).executionInfo.result, 'success');
});

test('stop shoald', async () => {
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
});
