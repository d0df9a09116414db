// batch_jobs.test.mjs: the job lifecycle beyond add and terminate, through
// @azure/batch 10.2.0 (raw REST where the SDK lacks a call): job
// preparation and release tasks with their per-node status list, a
// preparation that fails on one node keeping the job's tasks off it (and
// on every node: the tasks wait), disable with requeue, terminate and
// wait, enable, the job's maxWallClockTime, and job manager tasks (made
// with the job, first, runExclusive, killJobOnCompletion, retries, a
// shoald crash).
//
// Nothing waits on time: tasks that must still be running hold on a flag
// file the test creates when it is done looking.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, tmpDir, waitFor } from './lib/server.mjs';
import { batchFetch } from './lib/batchsign.mjs';

const API = '2022-10-01.16.0';
const POOL = 'jp';

let srv, batch, flags, nodeIds;

function flag(name) {
  return path.join(flags, name);
}

function raise(name) {
  fs.writeFileSync(flag(name), '');
}

// A command that waits (in the task) for the test to create a flag file.
function holdCmd(name) {
  return `/bin/sh -c 'while ! test -f ${flag(name)}; do sleep 0.02; done'`;
}

async function text(stream) {
  const chunks = [];
  for await (const ch of stream) chunks.push(ch);
  return Buffer.concat(chunks).toString();
}

async function nodeFile(node, file) {
  return text((await batch.file.getFromComputeNode(POOL, node, file)).readableStreamBody);
}

async function waitTask(job, id, state = 'completed') {
  return waitFor(async () => {
    const t = await batch.task.get(job, id);
    return t.state === state ? t : null;
  }, { timeoutMs: 30000, intervalMs: 50, what: `${job}/${id} ${state}` });
}

async function waitJob(job, state) {
  return waitFor(async () => {
    const j = await batch.job.get(job);
    return j.state === state ? j : null;
  }, { timeoutMs: 30000, intervalMs: 50, what: `job ${job} ${state}` });
}

async function prepStatus(job) {
  const r = await batchFetch(srv, 'GET',
    `/jobs/${job}/jobpreparationandreleasetaskstatus?api-version=${API}`);
  assert.equal(r.status, 200, r.text);
  return r.json.value;
}

async function conflict(fn, code) {
  try {
    await fn();
  } catch (e) {
    assert.equal(e.statusCode, 409, e.message);
    assert.equal(e.code, code);
    return;
  }
  assert.fail(`expected 409 ${code}`);
}

test('start shoald and a pool of two nodes', async () => {
  srv = await startServer({ name: 'batch-jobs', args: ['--set', 'sched.poll_ms=1000'] });
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  flags = tmpDir('jobs-flags');
  fs.chmodSync(flags, 0o777); // tasks run as other users, and write here
  await batch.pool.add({ id: POOL, vmSize: 'x', targetDedicatedNodes: 2, taskSlotsPerNode: 2 });
  const nodes = await waitFor(async () => {
    const list = await batch.computeNode.list(POOL);
    return list.length === 2 && list.every((n) => n.state === 'idle') ? list : null;
  }, { timeoutMs: 30000, what: 'two idle nodes' });
  nodeIds = nodes.map((n) => n.id).sort();
});

test('preparation runs once per node before the tasks, release at the end', async () => {
  await batch.job.add({
    id: 'pr', poolInfo: { poolId: POOL },
    jobPreparationTask: {
      // Counts its runs per node in the shared dir; leaves a file in its wd.
      commandLine: "/bin/sh -c 'echo $AZ_BATCH_JOB_ID >> $AZ_BATCH_NODE_SHARED_DIR/pr-preps; " +
        "echo ready > $AZ_BATCH_TASK_WORKING_DIR/marker; echo $AZ_BATCH_TASK_ID'",
    },
    jobReleaseTask: { commandLine: "/bin/sh -c 'echo released $AZ_BATCH_TASK_ID'" },
  });
  const j = await batch.job.get('pr');
  assert.equal(j.jobPreparationTask.id, 'jobpreparation');
  assert.equal(j.jobPreparationTask.waitForSuccess, true);
  assert.equal(j.jobPreparationTask.rerunOnNodeRebootAfterSuccess, true);
  assert.equal(j.jobReleaseTask.id, 'jobrelease');
  // Nothing ran yet: the list is empty, not 409.
  assert.deepEqual(await prepStatus('pr'), []);
  await conflict(() => batch.task.add('pr', { id: 'jobpreparation', commandLine: '/bin/true' }),
    'TaskIdSameAsJobPreparationTask');
  await conflict(() => batch.task.add('pr', { id: 'JobRelease', commandLine: '/bin/true' }),
    'TaskIdSameAsJobReleaseTask');
  const coll = await batch.task.addCollection('pr', [
    { id: 'jobpreparation', commandLine: '/bin/true' },
    ...[0, 1, 2, 3, 4, 5].map((i) => ({
      id: `t${i}`,
      commandLine: "/bin/sh -c 'cat $AZ_BATCH_JOB_PREP_WORKING_DIR/marker; echo $AZ_BATCH_JOB_PREP_DIR'",
    })),
  ]);
  const bad = coll.value.find((r) => r.taskId === 'jobpreparation');
  assert.equal(bad.status, 'clienterror');
  assert.equal(bad.error.code, 'TaskIdSameAsJobPreparationTask');
  const used = new Set();
  for (let i = 0; i < 6; i++) {
    const t = await waitTask('pr', `t${i}`);
    assert.equal(t.executionInfo.result, 'success', JSON.stringify(t.executionInfo));
    const out = await text((await batch.file.getFromTask('pr', `t${i}`, 'stdout.txt')).readableStreamBody);
    const [marker, dir] = out.trim().split('\n');
    assert.equal(marker, 'ready');
    assert.ok(dir.endsWith('/workitems/pr/job-1/jobpreparation'), dir);
    used.add(t.nodeInfo.nodeId);
  }
  const list = await prepStatus('pr');
  assert.equal(list.length, used.size);
  for (const s of list) {
    assert.equal(s.poolId, POOL);
    assert.ok(used.has(s.nodeId));
    assert.ok(s.nodeUrl.endsWith(`/pools/${POOL}/nodes/${s.nodeId}`));
    const p = s.jobPreparationTaskExecutionInfo;
    assert.equal(p.state, 'completed');
    assert.equal(p.exitCode, 0);
    assert.equal(p.result, 'success');
    assert.equal(p.retryCount, 0);
    assert.equal(p.taskRootDirectory, 'workitems/pr/job-1/jobpreparation');
    assert.ok(p.startTime && p.endTime);
    assert.equal(s.jobReleaseTaskExecutionInfo, undefined);
    // Once per node, however many tasks ran there.
    assert.equal(await nodeFile(s.nodeId, 'shared/pr-preps'), 'pr\n');
    assert.equal(await nodeFile(s.nodeId, 'workitems/pr/job-1/jobpreparation/stdout.txt'), 'jobpreparation\n');
  }
  // $filter and $select work on the list.
  const one = await batchFetch(srv, 'GET', `/jobs/pr/jobpreparationandreleasetaskstatus?api-version=${API}` +
    `&$filter=${encodeURIComponent(`nodeId eq '${list[0].nodeId}'`)}&$select=nodeId`);
  assert.deepEqual(one.json.value, [{ nodeId: list[0].nodeId }]);
  // The job ends: each node runs the release, then the job completes.
  await batch.job.terminate('pr');
  const done = await waitJob('pr', 'completed');
  assert.equal(done.executionInfo.terminateReason, 'UserTerminate');
  const after = await prepStatus('pr');
  assert.equal(after.length, used.size);
  for (const s of after) {
    const r = s.jobReleaseTaskExecutionInfo;
    assert.equal(r.state, 'completed', JSON.stringify(s));
    assert.equal(r.exitCode, 0);
    assert.equal(r.result, 'success');
    assert.equal(r.taskRootDirectory, 'workitems/pr/job-1/jobrelease');
    assert.equal(await nodeFile(s.nodeId, 'workitems/pr/job-1/jobrelease/stdout.txt'), 'released jobrelease\n');
  }
});

test('status list errors: no such job, no preparation task, bad release', async () => {
  let r = await batchFetch(srv, 'GET', `/jobs/nosuch/jobpreparationandreleasetaskstatus?api-version=${API}`);
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'JobNotFound');
  await batch.job.add({ id: 'plain', poolInfo: { poolId: POOL } });
  r = await batchFetch(srv, 'GET', `/jobs/plain/jobpreparationandreleasetaskstatus?api-version=${API}`);
  assert.equal(r.status, 409);
  assert.equal(r.json.code, 'JobPreparationTaskNotSpecified');
  r = await batchFetch(srv, 'POST', `/jobs?api-version=${API}`, { body: {
    id: 'relonly', poolInfo: { poolId: POOL }, jobReleaseTask: { commandLine: '/bin/true' } } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'InvalidPropertyValue');
  r = await batchFetch(srv, 'POST', `/jobs?api-version=${API}`, { body: {
    id: 'longrel', poolInfo: { poolId: POOL }, jobPreparationTask: { commandLine: '/bin/true' },
    jobReleaseTask: { commandLine: '/bin/true', maxWallClockTime: 'PT16M' } } });
  assert.equal(r.status, 400);
  // Job manager tasks: checked like tasks; the parts shoal does not run
  // are 501; its id is its own.
  const jmBad = async (jobManagerTask, extra = {}) => batchFetch(srv, 'POST', `/jobs?api-version=${API}`,
    { body: { id: 'jmbad', poolInfo: { poolId: POOL }, jobManagerTask, ...extra } });
  r = await jmBad({ id: 'm' });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'MissingRequiredProperty');
  r = await jmBad({ id: 'm', commandLine: '/bin/true', containerSettings: { imageName: 'x' } });
  assert.equal(r.status, 501);
  assert.equal(r.json.code, 'NotImplemented');
  r = await jmBad({ id: 'jobpreparation', commandLine: '/bin/true' },
    { jobPreparationTask: { commandLine: '/bin/true' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'InvalidPropertyValue');
  r = await jmBad({ id: 'm', commandLine: '/bin/true', requiredSlots: 0 });
  assert.equal(r.status, 400);
  assert.equal((await batchFetch(srv, 'GET', `/jobs/jmbad?api-version=${API}`)).status, 404);
  await batch.job.deleteMethod('plain');
});

test('a preparation that fails on one node keeps the job off that node', async () => {
  const [badNode, goodNode] = nodeIds;
  await batch.job.add({
    id: 'pf', poolInfo: { poolId: POOL },
    jobPreparationTask: { commandLine: `/bin/sh -c 'test "$AZ_BATCH_NODE_ID" != ${badNode}'` },
  });
  await batch.task.addCollection('pf', [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({
    id: `t${i}`, commandLine: '/bin/true' })));
  for (let i = 0; i < 8; i++) {
    const t = await waitTask('pf', `t${i}`);
    assert.equal(t.executionInfo.result, 'success');
    assert.equal(t.nodeInfo.nodeId, goodNode);
    assert.equal(t.executionInfo.retryCount, 0);
  }
  // The bad node may never have been offered a task (the good one was
  // quicker): then it has no entry. If it has one, it is the failure.
  const list = await prepStatus('pf');
  const good = list.find((s) => s.nodeId === goodNode);
  assert.equal(good.jobPreparationTaskExecutionInfo.result, 'success');
  const bad = list.find((s) => s.nodeId === badNode);
  if (bad) {
    assert.equal(bad.jobPreparationTaskExecutionInfo.state, 'completed');
    assert.equal(bad.jobPreparationTaskExecutionInfo.exitCode, 1);
    assert.equal(bad.jobPreparationTaskExecutionInfo.result, 'failure');
    assert.equal(bad.jobPreparationTaskExecutionInfo.failureInfo.category, 'usererror');
  }
});

test('a preparation that fails everywhere: the tasks wait, active', async () => {
  await batch.job.add({
    id: 'pfall', poolInfo: { poolId: POOL },
    jobPreparationTask: { commandLine: "/bin/sh -c 'exit 3'", constraints: { maxTaskRetryCount: 1 } },
  });
  await batch.task.add('pfall', { id: 'never', commandLine: '/bin/true' });
  // Both nodes try (the task is offered to each in turn) and fail twice.
  const list = await waitFor(async () => {
    const l = await prepStatus('pfall');
    return l.length === 2 && l.every((s) => s.jobPreparationTaskExecutionInfo.state === 'completed') ? l : null;
  }, { timeoutMs: 30000, intervalMs: 100, what: 'preparation failed on both nodes' });
  for (const s of list) {
    assert.equal(s.jobPreparationTaskExecutionInfo.exitCode, 3);
    assert.equal(s.jobPreparationTaskExecutionInfo.retryCount, 1);
    assert.equal(s.jobPreparationTaskExecutionInfo.result, 'failure');
    assert.equal(s.jobPreparationTaskExecutionInfo.failureInfo.code, 'FailureExitCode');
  }
  // A task of another job queued behind it on the same pool still runs.
  await batch.job.add({ id: 'other', poolInfo: { poolId: POOL } });
  await batch.task.add('other', { id: 'x', commandLine: '/bin/true' });
  await waitTask('other', 'x');
  const t = await batch.task.get('pfall', 'never');
  assert.equal(t.state, 'active');
  assert.equal(t.executionInfo.retryCount, 0);
  assert.equal(t.executionInfo.requeueCount, 0);
  await batch.job.deleteMethod('pfall');
  await batch.job.deleteMethod('other');
});

test('disable requeue: running tasks go back to active, run again after enable', async () => {
  await batch.job.add({ id: 'dq', poolInfo: { poolId: POOL } });
  // First attempt holds; the one after the requeue finds its mark and ends.
  await batch.task.add('dq', { id: 'a', commandLine: `/bin/sh -c 'test -f ${flag('dq-again')} && exit 0; ` +
    `touch ${flag('dq-again')}; while ! test -f ${flag('never')}; do sleep 0.02; done'` });
  // "running" starts at assignment: wait for the command itself.
  await waitFor(() => fs.existsSync(flag('dq-again')), { what: 'dq/a started' });
  await batch.job.disable('dq', 'requeue');
  const st = (await batch.job.get('dq')).state;
  assert.ok(st === 'disabling' || st === 'disabled', st);
  const j = await waitJob('dq', 'disabled');
  assert.equal(j.previousState, 'disabling');
  let t = await batch.task.get('dq', 'a');
  assert.equal(t.state, 'active');
  assert.equal(t.executionInfo.requeueCount, 1);
  assert.equal(t.executionInfo.retryCount, 0);
  // Disabled: a new task waits; a second disable is accepted.
  await batch.task.add('dq', { id: 'b', commandLine: '/bin/true' });
  await batch.job.disable('dq', 'requeue');
  assert.equal((await batch.task.get('dq', 'b')).state, 'active');
  await batch.job.enable('dq');
  const en = (await batch.job.get('dq')).state;
  assert.ok(en === 'enabling' || en === 'active', en);
  await waitJob('dq', 'active');
  t = await waitTask('dq', 'a');
  assert.equal(t.executionInfo.result, 'success');
  assert.equal(t.executionInfo.requeueCount, 1);
  await waitTask('dq', 'b');
});

test('disable terminate: running tasks end with TaskEnded, never rerun', async () => {
  await batch.job.add({ id: 'dt', poolInfo: { poolId: POOL } });
  await batch.task.add('dt', { id: 'a', commandLine: holdCmd('never') });
  await waitTask('dt', 'a', 'running');
  await batch.job.disable('dt', 'terminate');
  await waitJob('dt', 'disabled');
  const t = await batch.task.get('dt', 'a');
  assert.equal(t.state, 'completed');
  assert.equal(t.executionInfo.result, 'failure');
  assert.equal(t.executionInfo.failureInfo.code, 'TaskEnded');
  await batch.job.enable('dt');
  await waitJob('dt', 'active');
  assert.equal((await batch.task.get('dt', 'a')).state, 'completed');
});

test('disable wait: running tasks finish, the job is disabling until then', async () => {
  await batch.job.add({ id: 'dw', poolInfo: { poolId: POOL } });
  await batch.task.add('dw', { id: 'a', commandLine: holdCmd('dw-go') });
  await waitTask('dw', 'a', 'running');
  await batch.job.disable('dw', 'wait');
  assert.equal((await batch.job.get('dw')).state, 'disabling');
  assert.equal((await batch.task.get('dw', 'a')).state, 'running');
  raise('dw-go');
  const t = await waitTask('dw', 'a');
  assert.equal(t.executionInfo.result, 'success');
  assert.equal(t.executionInfo.requeueCount, 0);
  await waitJob('dw', 'disabled');
  await batch.job.enable('dw');
  await waitJob('dw', 'active');
  // Wrong states: a completed job cannot be disabled or enabled.
  await batch.job.terminate('dw');
  await waitJob('dw', 'completed');
  await conflict(() => batch.job.disable('dw', 'wait'), 'JobCompleted');
  await conflict(() => batch.job.enable('dw'), 'JobCompleted');
  const r = await batchFetch(srv, 'POST', `/jobs/dw/disable?api-version=${API}`, { body: { disableTasks: 'later' } });
  assert.equal(r.status, 400);
});

test('job maxWallClockTime: the job ends, its running task is killed', async () => {
  await batch.job.add({ id: 'wall', poolInfo: { poolId: POOL }, constraints: { maxWallClockTime: 'PT2S' } });
  await batch.task.add('wall', { id: 'held', commandLine: holdCmd('never') });
  await batch.task.add('wall', { id: 'queued', commandLine: holdCmd('never') });
  await waitTask('wall', 'held', 'running');
  const j = await waitJob('wall', 'completed');
  assert.equal(j.executionInfo.terminateReason, 'MaxWallClockTimeExpiry');
  assert.ok(j.executionInfo.endTime);
  const t = await batch.task.get('wall', 'held');
  assert.equal(t.state, 'completed');
  assert.equal(t.executionInfo.result, 'failure');
  assert.equal(t.executionInfo.failureInfo.code, 'TaskEnded');
  // completed (not terminating) means the agents confirmed the kills: a
  // job waits for its cancelled runs to be gone.
});

// ---- job manager tasks ------------------------------------------------------

async function taskList(job) {
  return (await batch.task.list(job)).map((t) => t.id).sort();
}

test('job manager task: made with the job, first, alone on its node, ends the job (JMComplete)', async () => {
  // Every slot busy: what the job has waits, and its manager goes first.
  await batch.job.add({ id: 'busy', poolInfo: { poolId: POOL } });
  await batch.task.addCollection('busy', [0, 1, 2, 3].map((i) => ({ id: `b${i}`, commandLine: holdCmd('jm-busy') })));
  for (let i = 0; i < 4; i++) await waitTask('busy', `b${i}`, 'running');
  await batch.job.add({
    id: 'jm', poolInfo: { poolId: POOL }, onAllTasksComplete: 'noaction',
    jobManagerTask: {
      id: 'manager', displayName: 'the manager', commandLine: holdCmd('jm-go'),
      environmentSettings: [{ name: 'MGR', value: 'yes' }],
      constraints: { maxTaskRetryCount: 2 },
    },
  });
  // Created with the job, visible as a task; Job_Get echoes the spec with
  // the service's defaults.
  const j = await batch.job.get('jm');
  assert.equal(j.jobManagerTask.id, 'manager');
  assert.equal(j.jobManagerTask.displayName, 'the manager');
  assert.equal(j.jobManagerTask.killJobOnCompletion, true);
  assert.equal(j.jobManagerTask.runExclusive, true);
  assert.equal(j.jobManagerTask.allowLowPriorityNode, true);
  assert.deepEqual(j.jobManagerTask.environmentSettings, [{ name: 'MGR', value: 'yes' }]);
  assert.deepEqual(await taskList('jm'), ['manager']);
  let m = await batch.task.get('jm', 'manager');
  assert.equal(m.state, 'active');
  assert.equal(m.displayName, 'the manager');
  assert.equal(m.constraints.maxTaskRetryCount, 2);
  await conflict(() => batch.task.add('jm', { id: 'Manager', commandLine: '/bin/true' }), 'TaskExists');
  // Tasks added after it wait behind it: when the busy slots free up, the
  // manager takes a whole node and the others go to the other node only.
  await batch.task.addCollection('jm', [0, 1, 2, 3].map((i) => ({ id: `w${i}`, commandLine: holdCmd('jm-w') })));
  raise('jm-busy');
  m = await waitTask('jm', 'manager', 'running');
  const mgrNode = m.nodeInfo.nodeId;
  const others = await waitFor(async () => {
    const l = await batch.task.list('jm');
    const run = l.filter((t) => t.id !== 'manager' && t.state === 'running');
    return run.length === 2 ? l : null;
  }, { timeoutMs: 30000, intervalMs: 50, what: 'two tasks running beside the manager' });
  for (const t of others.filter((x) => x.id !== 'manager')) {
    if (t.state === 'running') {
      assert.notEqual(t.nodeInfo.nodeId, mgrNode, `${t.id} shares the manager's node`);
      assert.ok(t.executionInfo.startTime >= m.executionInfo.startTime, `${t.id} started before the manager`);
    } else {
      assert.equal(t.state, 'active');
    }
  }
  const node = await batch.computeNode.get(POOL, mgrNode);
  assert.equal(node.runningTasksCount, 1);
  assert.equal(node.runningTaskSlotsCount, 2);
  // The manager ends: so does the job, and its running tasks with it.
  raise('jm-go');
  const done = await waitJob('jm', 'completed');
  assert.equal(done.executionInfo.terminateReason, 'JMComplete');
  m = await batch.task.get('jm', 'manager');
  assert.equal(m.executionInfo.result, 'success');
  const after = await batch.task.list('jm');
  const ended = after.filter((t) => t.id !== 'manager' && t.state === 'completed');
  assert.equal(ended.length, 2);
  for (const t of ended) assert.equal(t.executionInfo.failureInfo.code, 'TaskEnded');
  await batch.job.deleteMethod('jm');
  await batch.job.deleteMethod('busy');
});

test('job manager task that fails: retried per its constraints, then the job ends all the same', async () => {
  await batch.job.add({ id: 'jmf', poolInfo: { poolId: POOL },
    jobManagerTask: { id: 'm', commandLine: "/bin/sh -c 'exit 3'", constraints: { maxTaskRetryCount: 1 } } });
  const j = await waitJob('jmf', 'completed');
  assert.equal(j.executionInfo.terminateReason, 'JMComplete');
  const m = await batch.task.get('jmf', 'm');
  assert.equal(m.state, 'completed');
  assert.equal(m.executionInfo.exitCode, 3);
  assert.equal(m.executionInfo.retryCount, 1);
  assert.equal(m.executionInfo.result, 'failure');
});

test('killJobOnCompletion false: the job goes on; runExclusive false: it shares its node', async () => {
  await batch.job.add({ id: 'jmk', poolInfo: { poolId: POOL },
    jobManagerTask: { id: 'm', commandLine: holdCmd('jmk-go'), killJobOnCompletion: false, runExclusive: false } });
  const j = await batch.job.get('jmk');
  assert.equal(j.jobManagerTask.killJobOnCompletion, false);
  assert.equal(j.jobManagerTask.runExclusive, false);
  const m = await waitTask('jmk', 'm', 'running');
  // Three more slots: its own node's other one included.
  await batch.task.addCollection('jmk', [0, 1, 2].map((i) => ({ id: `s${i}`, commandLine: holdCmd('jmk-s') })));
  for (let i = 0; i < 3; i++) await waitTask('jmk', `s${i}`, 'running');
  const shared = await Promise.all([0, 1, 2].map((i) => batch.task.get('jmk', `s${i}`)));
  assert.ok(shared.some((t) => t.nodeInfo.nodeId === m.nodeInfo.nodeId), 'a task beside the manager');
  raise('jmk-go');
  await waitTask('jmk', 'm');
  raise('jmk-s');
  for (let i = 0; i < 3; i++) await waitTask('jmk', `s${i}`);
  assert.equal((await batch.job.get('jmk')).state, 'active');
  // onAllTasksComplete still works.
  await batch.job.patch('jmk', { onAllTasksComplete: 'terminatejob' });
  const done = await waitJob('jmk', 'completed');
  assert.equal(done.executionInfo.terminateReason, 'AllTasksComplete');
});

test('a job manager task survives a shoald crash and still ends its job', async () => {
  await batch.job.add({ id: 'jmr', poolInfo: { poolId: POOL },
    jobManagerTask: { id: 'm', commandLine: holdCmd('jmr-go') } });
  await waitTask('jmr', 'm', 'running');
  await srv.restartAfterKill();
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  const j = await batch.job.get('jmr');
  assert.equal(j.state, 'active');
  assert.equal(j.jobManagerTask.killJobOnCompletion, true);
  raise('jmr-go');
  const done = await waitJob('jmr', 'completed');
  assert.equal(done.executionInfo.terminateReason, 'JMComplete');
  const m = await batch.task.get('jmr', 'm');
  assert.equal(m.executionInfo.result, 'success');
  assert.equal(m.executionInfo.requeueCount, 0);
});

test('stop shoald', async () => {
  raise('never');
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
});
