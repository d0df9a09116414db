// batch_schedules.test.mjs: job schedules through @azure/batch 10.2.0 (raw
// REST for the error cases): add, get, exists, list, patch, update,
// disable, enable, terminate, delete; the first job made at once when
// doNotRunUntil is absent, named "{schedule}:job-1", with recentJob and
// nextRunTime; doNotRunUntil in the future; a schedule past doNotRunAfter;
// a run-once schedule that completes with its job; a jobManagerTask in the
// jobSpecification; the id namespace shared with jobs; restart keeps the
// timetable. Recurrence itself (one minute at
// the least) is unit-tested with a fake clock (test_batch_schedule.c).
import test from 'node:test';
import assert from 'node:assert/strict';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, waitFor } from './lib/server.mjs';
import { batchFetch } from './lib/batchsign.mjs';

const API = '2022-10-01.16.0';
const POOL = 'sp';
const HOUR = 3600 * 1000;

let srv, batch;

function client() {
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
}

async function waitSchedule(id, pred, what) {
  return waitFor(async () => {
    const s = await batch.jobSchedule.get(id);
    return pred(s) ? s : null;
  }, { timeoutMs: 20000, intervalMs: 50, what: `${id}: ${what}` });
}

async function status(fn) {
  try {
    await fn();
  } catch (e) {
    return { status: e.statusCode, code: e.code };
  }
  return { status: 200 };
}

test('start shoald', async () => {
  srv = await startServer({ name: 'batch-schedules', args: ['--set', 'sched.poll_ms=1000'] });
  client();
  await batch.pool.add({ id: POOL, vmSize: 'x', targetDedicatedNodes: 1 });
});

test('a recurring schedule makes its first job at once', async () => {
  await batch.jobSchedule.add({
    id: 'rec', displayName: 'every minute',
    schedule: { recurrenceInterval: 'PT1M', startWindow: 'PT5M' },
    jobSpecification: { poolInfo: { poolId: POOL }, priority: 7,
      commonEnvironmentSettings: [{ name: 'A', value: '1' }] },
    metadata: [{ name: 'k', value: 'v' }],
  });
  const s = await waitSchedule('rec', (x) => x.executionInfo.recentJob, 'a job made');
  assert.equal(s.state, 'active');
  assert.equal(s.displayName, 'every minute');
  assert.equal(s.schedule.recurrenceInterval, 'PT1M');
  assert.equal(s.schedule.startWindow, 'PT5M');
  assert.equal(s.jobSpecification.priority, 7);
  assert.deepEqual(s.metadata, [{ name: 'k', value: 'v' }]);
  assert.equal(s.executionInfo.recentJob.id, 'rec:job-1');
  assert.ok(s.executionInfo.recentJob.url.endsWith('/jobs/rec:job-1'));
  // The next occurrence is one interval after the first (creation).
  assert.equal(s.executionInfo.nextRunTime.getTime() - s.creationTime.getTime(), 60000);
  assert.equal(s.executionInfo.endTime, undefined);
  const j = await batch.job.get('rec:job-1');
  assert.equal(j.state, 'active');
  assert.equal(j.priority, 7);
  assert.equal(j.poolInfo.poolId, POOL);
  assert.deepEqual(j.commonEnvironmentSettings, [{ name: 'A', value: '1' }]);
  const jobs = await batch.job.listFromJobSchedule('rec');
  assert.deepEqual(jobs.map((x) => x.id), ['rec:job-1']);
  assert.equal((await batch.jobSchedule.exists('rec')).body, true);
  assert.equal((await batch.jobSchedule.exists('nosuch')).body, false);
  const listed = await batch.jobSchedule.list({ jobScheduleListOptions: { filter: "id eq 'rec'", select: 'id,state' } });
  assert.deepEqual(listed.map((x) => [x.id, x.state]), [['rec', 'active']]);
  // A task of the schedule's job runs like any other.
  await batch.task.add('rec:job-1', { id: 't', commandLine: "/bin/sh -c 'echo $A $AZ_BATCH_JOB_ID'" });
  const t = await waitFor(async () => {
    const x = await batch.task.get('rec:job-1', 't');
    return x.state === 'completed' ? x : null;
  }, { timeoutMs: 30000, what: 'task of rec:job-1' });
  assert.equal(t.executionInfo.result, 'success');
});

test('disable and enable (204), patch and update', async () => {
  let r = await batchFetch(srv, 'POST', `/jobschedules/rec/disable?api-version=${API}`);
  assert.equal(r.status, 204);
  let s = await batch.jobSchedule.get('rec');
  assert.equal(s.state, 'disabled');
  assert.equal(s.previousState, 'active');
  r = await batchFetch(srv, 'POST', `/jobschedules/rec/enable?api-version=${API}`);
  assert.equal(r.status, 204);
  s = await batch.jobSchedule.get('rec');
  assert.equal(s.state, 'active');
  await batch.jobSchedule.patch('rec', { metadata: [{ name: 'k', value: 'w' }] });
  s = await batch.jobSchedule.get('rec');
  assert.deepEqual(s.metadata, [{ name: 'k', value: 'w' }]);
  assert.equal(s.schedule.recurrenceInterval, 'PT1M');
  const until = new Date(Date.now() + HOUR);
  await batch.jobSchedule.update('rec', {
    schedule: { doNotRunUntil: until, recurrenceInterval: 'PT2M' },
    jobSpecification: { poolInfo: { poolId: POOL } },
  });
  s = await batch.jobSchedule.get('rec');
  assert.equal(s.schedule.recurrenceInterval, 'PT2M');
  assert.equal(s.schedule.startWindow, undefined);
  assert.equal(s.metadata, undefined);
  assert.equal(s.jobSpecification.priority, undefined);
  // The new timetable starts at doNotRunUntil.
  assert.equal(s.executionInfo.nextRunTime.getTime(), until.getTime());
  assert.equal(s.executionInfo.recentJob.id, 'rec:job-1');
});

test('ids are shared with jobs; bad schedules are refused', async () => {
  assert.deepEqual(await status(() => batch.job.add({ id: 'rec', poolInfo: { poolId: POOL } })),
    { status: 409, code: 'JobScheduleWithSameIdExists' });
  await batch.job.add({ id: 'plainjob', poolInfo: { poolId: POOL } });
  assert.deepEqual(await status(() => batch.jobSchedule.add({ id: 'PlainJob', schedule: {},
    jobSpecification: { poolInfo: { poolId: POOL } } })), { status: 409, code: 'JobWithSameIdExists' });
  assert.deepEqual(await status(() => batch.jobSchedule.add({ id: 'REC', schedule: {},
    jobSpecification: { poolInfo: { poolId: POOL } } })), { status: 409, code: 'JobScheduleExists' });
  const bad = async (schedule, jobSpecification = { poolInfo: { poolId: POOL } }) =>
    batchFetch(srv, 'POST', `/jobschedules?api-version=${API}`, { body: { id: 'bad', schedule, jobSpecification } });
  let r = await bad({ recurrenceInterval: 'PT30S' });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'InvalidPropertyValue');
  r = await bad({ startWindow: 'PT59S' });
  assert.equal(r.status, 400);
  r = await bad({ doNotRunUntil: 'tomorrow' });
  assert.equal(r.status, 400);
  r = await bad({}, { poolInfo: { poolId: POOL }, jobManagerTask: { id: 'm' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'MissingRequiredProperty');
  r = await bad({}, { poolInfo: { poolId: POOL }, jobManagerTask: { id: 'm', commandLine: '/bin/true',
    applicationPackageReferences: [{ applicationId: 'a' }] } });
  assert.equal(r.status, 501);
  assert.equal(r.json.code, 'NotImplemented');
  r = await bad({}, {});
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'MissingRequiredProperty');
  r = await batchFetch(srv, 'GET', `/jobschedules/nosuch/jobs?api-version=${API}`);
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'JobScheduleNotFound');
  await batch.job.deleteMethod('plainjob');
});

test('doNotRunUntil in the future: no job yet', async () => {
  const until = new Date(Date.now() + HOUR);
  await batch.jobSchedule.add({ id: 'later', schedule: { doNotRunUntil: until },
    jobSpecification: { poolInfo: { poolId: POOL } } });
  const s = await batch.jobSchedule.get('later');
  assert.equal(s.schedule.doNotRunUntil.getTime(), until.getTime());
  assert.equal(s.executionInfo.nextRunTime.getTime(), until.getTime());
  assert.equal(s.executionInfo.recentJob, undefined);
  assert.equal((await batch.job.listFromJobSchedule('later')).length, 0);
});

test('doNotRunAfter already past: the schedule completes without a job', async () => {
  await batch.jobSchedule.add({ id: 'expired', schedule: { doNotRunAfter: new Date(Date.now() - HOUR) },
    jobSpecification: { poolInfo: { poolId: POOL } } });
  const s = await waitSchedule('expired', (x) => x.state === 'completed', 'completed');
  assert.ok(s.executionInfo.endTime);
  assert.equal(s.executionInfo.nextRunTime, undefined);
  assert.equal(s.executionInfo.recentJob, undefined);
  const r = await batchFetch(srv, 'POST', `/jobschedules/expired/disable?api-version=${API}`);
  assert.equal(r.status, 409);
  assert.equal(r.json.code, 'JobScheduleCompleted');
});

test('a run-once schedule completes when its job does', async () => {
  await batch.jobSchedule.add({ id: 'once', schedule: {},
    jobSpecification: { poolInfo: { poolId: POOL },
      jobPreparationTask: { commandLine: '/bin/true' } } });
  const s = await waitSchedule('once', (x) => x.executionInfo.recentJob, 'a job made');
  assert.equal(s.executionInfo.recentJob.id, 'once:job-1');
  assert.equal(s.executionInfo.nextRunTime, undefined);
  const j = await batch.job.get('once:job-1');
  assert.equal(j.jobPreparationTask.id, 'jobpreparation');
  await batch.job.terminate('once:job-1');
  const done = await waitSchedule('once', (x) => x.state === 'completed', 'completed');
  assert.ok(done.executionInfo.endTime);
  assert.deepEqual((await batch.job.listFromJobSchedule('once')).map((x) => x.id), ['once:job-1']);
});

test('a jobSpecification with a jobManagerTask: the job gets its manager, which ends it', async () => {
  await batch.jobSchedule.add({ id: 'jms', schedule: {},
    jobSpecification: { poolInfo: { poolId: POOL },
      jobManagerTask: { id: 'mgr', commandLine: "/bin/sh -c 'echo managing $AZ_BATCH_JOB_ID'" } } });
  const s = await batch.jobSchedule.get('jms');
  assert.equal(s.jobSpecification.jobManagerTask.id, 'mgr');
  assert.equal(s.jobSpecification.jobManagerTask.killJobOnCompletion, true);
  assert.equal(s.jobSpecification.jobManagerTask.runExclusive, true);
  const done = await waitSchedule('jms', (x) => x.state === 'completed', 'completed with its job');
  assert.equal(done.executionInfo.recentJob.id, 'jms:job-1');
  const j = await batch.job.get('jms:job-1');
  assert.equal(j.state, 'completed');
  assert.equal(j.executionInfo.terminateReason, 'JMComplete');
  assert.equal(j.jobManagerTask.commandLine, "/bin/sh -c 'echo managing $AZ_BATCH_JOB_ID'");
  const tasks = await batch.task.list('jms:job-1');
  assert.deepEqual(tasks.map((t) => t.id), ['mgr']);
  assert.equal(tasks[0].executionInfo.result, 'success');
  const out = (await batch.file.getFromTask('jms:job-1', 'mgr', 'stdout.txt')).readableStreamBody;
  const chunks = [];
  for await (const c of out) chunks.push(c);
  assert.equal(Buffer.concat(chunks).toString(), 'managing jms:job-1\n');
  await batch.jobSchedule.deleteMethod('jms');
  await waitFor(async () => !(await batch.jobSchedule.exists('jms')).body, { what: 'jms gone' });
});

test('restart keeps schedules and their timetable', async () => {
  const before = await batch.jobSchedule.get('later');
  const rec = await batch.jobSchedule.get('rec');
  await srv.restart();
  client();
  const after = await batch.jobSchedule.get('later');
  assert.equal(after.executionInfo.nextRunTime.getTime(), before.executionInfo.nextRunTime.getTime());
  assert.equal(after.eTag, before.eTag);
  const rec2 = await batch.jobSchedule.get('rec');
  assert.equal(rec2.executionInfo.recentJob.id, 'rec:job-1');
  assert.equal(rec2.executionInfo.nextRunTime.getTime(), rec.executionInfo.nextRunTime.getTime());
  assert.deepEqual((await batch.job.listFromJobSchedule('rec')).map((x) => x.id), ['rec:job-1']);
  assert.equal((await batch.jobSchedule.get('once')).state, 'completed');
});

test('terminate ends the active job, delete removes the jobs', async () => {
  await batch.jobSchedule.terminate('rec');
  const s = await waitSchedule('rec', (x) => x.state === 'completed', 'completed');
  assert.ok(s.executionInfo.endTime);
  const j = await batch.job.get('rec:job-1');
  assert.equal(j.state, 'completed');
  assert.equal(j.executionInfo.terminateReason, 'TerminateJobSchedule');
  let r = await batchFetch(srv, 'POST', `/jobschedules/rec/terminate?api-version=${API}`);
  assert.equal(r.status, 409);
  assert.equal(r.json.code, 'JobScheduleCompleted');
  r = await batchFetch(srv, 'DELETE', `/jobschedules/rec?api-version=${API}`);
  assert.equal(r.status, 202);
  await waitFor(async () => !(await batch.jobSchedule.exists('rec')).body, { what: 'rec gone' });
  assert.equal((await status(() => batch.job.get('rec:job-1'))).status, 404);
  r = await batchFetch(srv, 'GET', `/jobschedules/rec?api-version=${API}`);
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'JobScheduleNotFound');
  // The id is free again, for a job as for a schedule.
  await batch.job.add({ id: 'rec', poolInfo: { poolId: POOL } });
  await batch.job.deleteMethod('rec');
  await batch.jobSchedule.deleteMethod('later');
  await batch.jobSchedule.deleteMethod('once');
  await waitFor(async () => (await batch.jobSchedule.list()).length === 1, { what: 'schedules gone' });
});

test('stop shoald', async () => {
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
});
