// Job notifications end to end: real jobs on local shoal-node agents feed
// the event log (src/shoald/events.c) and the media job state
// (notify_job_media_tx), which reaches storage queues and webhooks
// (notifications.md §2.1-§2.4, §5; issue 6 "Tests").
//
//   - All vs FinalStatesOnly message sets, on a queue and on a webhook, for a
//     job that finishes, one that errors and one the user terminates; a job
//     with no task; a job deleted while it runs;
//   - a message redelivered by the queue keeps its ETag;
//   - messages undelivered at SIGKILL are delivered after the restart, once;
//   - the watch stream of one job (long-poll and SSE agree);
//   - job schedule state changes as JobScheduleStateChange events, in order;
//   - load: 10,000 tasks (NOTIFY_LOAD_TASKS overrides), exact job messages,
//     a long-poll watcher that sees every completion, bounded shoald RSS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { QueueServiceClient } from '@azure/storage-queue';
import { startServer, waitFor } from './lib/server.mjs';
import { batchFetch, batchSign } from './lib/batchsign.mjs';
import { startWebhook } from './lib/webhook.mjs';

const API = 'api-version=2022-10-01.16.0';
const FINAL = new Set(['Finished', 'Error', 'Canceled']);
const servers = [];
const hooks = [];
const streams = new Set();
let srv; // the shared server: message sets, redelivery, watch
let qsc;

async function server(name, args = []) {
  const s = await startServer({
    name,
    args: ['--set', 'sched.poll_ms=1000', '--set', 'notify.backoff_base_ms=20',
      '--set', 'notify.backoff_cap_ms=200', '--set', 'http.shutdown_ms=1000', ...args],
  });
  servers.push(s);
  return s;
}

before(async () => {
  srv = await server('notify-jobs');
  qsc = QueueServiceClient.fromConnectionString(srv.connStr);
  await addPool(srv, 'njpool', 1, 4);
});

after(async () => {
  for (const s of streams) s.close();
  for (const h of hooks) await h.close();
  for (const s of servers) {
    if (!s.exited()) await s.stop();
  }
});

// ---- batch and notify helpers ------------------------------------------------

// A batch call (with api-version); expect: the status it must answer.
async function call(s, method, path, body, expect) {
  const sep = path.includes('?') ? '&' : '?';
  const r = await batchFetch(s, method, `${path}${sep}${API}`, body === undefined ? {} : { body });
  if (expect !== undefined) assert.equal(r.status, expect, `${method} ${path}: ${r.text}`);
  return r;
}

async function addPool(s, id, nodes, slots) {
  await call(s, 'POST', '/pools', { id, vmSize: 'x', targetDedicatedNodes: nodes, taskSlotsPerNode: slots }, 201);
}

async function addJob(s, id, pool, subs, extra = {}) {
  await call(s, 'POST', '/jobs', { id, poolInfo: { poolId: pool }, notificationSubscriptions: subs, ...extra }, 201);
}

async function addTask(s, job, id, commandLine) {
  await call(s, 'POST', `/jobs/${job}/tasks`, { id, commandLine }, 201);
}

async function endWhenDone(s, job) {
  await call(s, 'PATCH', `/jobs/${job}`, { onAllTasksComplete: 'terminatejob' }, 200);
}

async function getJob(s, job) {
  return (await call(s, 'GET', `/jobs/${job}`, undefined, 200)).json;
}

function waitJobCompleted(s, job, timeoutMs = 30000) {
  return waitFor(async () => {
    const j = await getJob(s, job);
    return j.state === 'completed' ? j : null;
  }, { timeoutMs, intervalMs: 50, what: `job ${job} completed` });
}

async function hook(answers = [], dflt = 200) {
  const h = await startWebhook(answers, dflt);
  hooks.push(h);
  return h;
}

async function queueEndpoint(s, queue) {
  const r = await batchFetch(s, 'POST', '/notificationendpoints',
    { body: { name: `ep-${queue}`, endpointType: 'queue', endpointAddress: queue } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function webhookEndpoint(s, name, url) {
  const r = await batchFetch(s, 'POST', '/notificationendpoints',
    { body: { name, endpointType: 'webhook', endpointAddress: url } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function endpoint(s, ep) {
  const r = await batchFetch(s, 'GET', `/notificationendpoints/${encodeURIComponent(ep.id)}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

function drained(s, ep) {
  return waitFor(async () => (await endpoint(s, ep)).pendingDeliveries === 0,
    { what: `endpoint ${ep.name} drained` });
}

// Every event of the log matching query, following lastSeq to the end.
async function events(s, query) {
  const out = [];
  let since = 0;
  for (;;) {
    const r = await batchFetch(s, 'GET', `/events?since=${since}&timeout=0&${query}`);
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.value);
    if (r.json.value.length === 0) return out;
    since = r.json.lastSeq;
  }
}

// What a queue holds, in queue order (peek: nothing is consumed).
async function queueMessages(queue) {
  const p = await qsc.getQueueClient(queue).peekMessages({ numberOfMessages: 32 });
  return p.peekedMessageItems.map((m) => JSON.parse(m.messageText));
}

function signature(key, body) {
  return 'sha256=' + crypto.createHmac('sha256', Buffer.from(key, 'base64'))
    .update(Buffer.from(body, 'utf8')).digest('hex').toUpperCase();
}

// The messages a webhook accepted (2xx), checked for their signature.
function webhookMessages(h, ep) {
  return h.requests.filter((r) => r.status === 200).map((r) => {
    assert.equal(r.headers['ms-signature'], signature(ep.signingKey, r.body), 'ms-signature');
    const m = JSON.parse(r.body);
    assert.equal(r.headers['x-shoal-etag'], m.ETag);
    assert.equal(r.headers['x-shoal-event-seq'], m.Properties.Sequence);
    return m;
  });
}

// The envelope rules of §2.1 (queue, 1.0) and §2.2 (webhook, 1.1).
function checkEnvelope(m, transport, s, ep) {
  const job = transport === 'queue' ? 'JobStateChange' : 1;
  const reg = transport === 'queue' ? 'NotificationEndPointRegistration' : 2;
  assert.equal(m.MessageVersion, transport === 'queue' ? '1.0' : '1.1');
  assert.ok(m.EventType === job || m.EventType === reg, `EventType ${m.EventType}`);
  assert.match(m.ETag, /^[0-9a-f]{64}$/);
  assert.match(m.TimeStamp, transport === 'queue' ? /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/
    : /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
  assert.match(m.Properties.Sequence, /^[1-9]\d*$/);
  assert.equal(m.Properties.AccountName, s.account);
  if (transport === 'webhook') assert.equal(m.Properties.NotificationEndPointId, ep.id);
  return m.EventType === job;
}

// Split one endpoint's messages: its Registration first (in delivery
// order), then job messages; checks what every message must hold.
function splitMessages(msgs, transport, s, ep) {
  assert.ok(msgs.length >= 1, 'at least the Registration');
  assert.equal(checkEnvelope(msgs[0], transport, s, ep), false, 'the Registration comes first');
  assert.equal(msgs[0].Properties.State, 'Registered');
  assert.equal(msgs[0].Properties.NotificationEndPointId, ep.id);
  const jobs = msgs.slice(1);
  for (const m of jobs) assert.equal(checkEnvelope(m, transport, s, ep), true, JSON.stringify(m));
  const seqs = msgs.map((m) => Number(m.Properties.Sequence));
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `Sequence increases: ${seqs}`);
  const etags = msgs.map((m) => m.ETag);
  assert.equal(new Set(etags).size, etags.length, 'ETags are distinct (no duplicate)');
  return jobs;
}

// One job's messages: its JobId/JobName, a consistent OldState -> NewState
// chain from Queued, never NewState Queued.
function checkJobChain(jobs, jobId, jobName, { from = 'Queued' } = {}) {
  let prev = from;
  for (const m of jobs) {
    assert.equal(m.Properties.JobId, jobId);
    assert.equal(m.Properties.JobName, jobName);
    assert.notEqual(m.Properties.NewState, 'Queued', 'Queued is never a NewState');
    if (prev !== null) assert.equal(m.Properties.OldState, prev, 'OldState is the previous NewState');
    prev = m.Properties.NewState;
  }
  return jobs.map((m) => m.Properties.NewState);
}

function transitions(jobs) {
  return jobs.map((m) => `${m.Properties.OldState}->${m.Properties.NewState}`);
}

// The job's JobStateChange events from the log: the truth for messages.
async function jobStateEvents(s, jobId) {
  const evs = await events(s, `jobId=${encodeURIComponent(jobId)}&types=JobStateChange`);
  for (const e of evs) assert.equal(e.jobId, jobId);
  return evs;
}

function sameEvents(jobs, evs, what) {
  assert.deepEqual(jobs.map((m) => [Number(m.Properties.Sequence), m.ETag, m.Properties.OldState, m.Properties.NewState]),
    evs.map((e) => [e.sequence, e.etag, e.oldState, e.newState]), what);
}

// ---- 1. All vs FinalStatesOnly ------------------------------------------------

// Run a job with four subscriptions (queue All, queue Final, webhook All,
// webhook Final) and return each endpoint's job messages, checked against
// the rules common to every scenario.
async function scenario({ job, displayName, tasks, run }) {
  const hAll = await hook();
  const hFin = await hook();
  const ep = {
    qAll: await queueEndpoint(srv, `${job}-all`),
    qFin: await queueEndpoint(srv, `${job}-final`),
    wAll: await webhookEndpoint(srv, `${job}-hook-all`, hAll.url),
    wFin: await webhookEndpoint(srv, `${job}-hook-final`, hFin.url),
  };
  await addJob(srv, job, 'njpool', [
    { notificationEndPointId: ep.qAll.id, targetJobState: 'All' },
    { notificationEndPointId: ep.qFin.id, targetJobState: 'FinalStatesOnly' },
    { notificationEndPointId: ep.wAll.id, targetJobState: 'All' },
    { notificationEndPointId: ep.wFin.id, targetJobState: 'FinalStatesOnly' },
  ], displayName ? { displayName } : {});
  for (const [id, cmd] of tasks) await addTask(srv, job, id, cmd);
  await run();
  const j = await waitJobCompleted(srv, job);
  // The final JobStateChange commits with the job's completion: once the
  // job reads completed, its outbox rows exist; wait for their delivery.
  for (const e of Object.values(ep)) await drained(srv, e);
  const name = displayName || job;
  const got = {
    qAll: splitMessages(await queueMessages(`${job}-all`), 'queue', srv, ep.qAll),
    qFin: splitMessages(await queueMessages(`${job}-final`), 'queue', srv, ep.qFin),
    wAll: splitMessages(webhookMessages(hAll, ep.wAll), 'webhook', srv, ep.wAll),
    wFin: splitMessages(webhookMessages(hFin, ep.wFin), 'webhook', srv, ep.wFin),
  };
  assert.ok(hAll.requests.every((r) => r.status === 200) && hFin.requests.every((r) => r.status === 200));
  const evs = await jobStateEvents(srv, job);
  for (const k of ['qAll', 'wAll']) {
    checkJobChain(got[k], job, name);
    sameEvents(got[k], evs, `${k}: every JobStateChange of the log, once`);
  }
  for (const k of ['qFin', 'wFin']) {
    assert.equal(got[k].length, 1, `${k}: exactly one message: ${transitions(got[k])}`);
    checkJobChain(got[k], job, name, { from: null });
    sameEvents(got[k], evs.filter((e) => FINAL.has(e.newState)), `${k}: the final event`);
  }
  // One event, one ETag, whichever endpoint and transport carries it.
  const bySeq = new Map();
  for (const list of Object.values(got)) {
    for (const m of list) {
      const seq = m.Properties.Sequence;
      if (bySeq.has(seq)) assert.equal(m.ETag, bySeq.get(seq), `ETag of event ${seq}`);
      else bySeq.set(seq, m.ETag);
    }
  }
  return { job: j, all: got.qAll, final: got.qFin[0] };
}

function assertAllStates(all, alternatives) {
  const states = all.map((m) => m.Properties.NewState).join(',');
  assert.ok(alternatives.includes(states), `All: NewStates ${states}, expected one of ${alternatives.join(' | ')}`);
}

test('a job that finishes: All Queued->(Scheduled->)Processing->Finished; Final one Processing->Finished', async () => {
  const { job, all, final } = await scenario({
    job: 'nj-finish',
    displayName: 'Finishing job',
    tasks: [['t1', '/bin/sh -c "exit 0"'], ['t2', '/bin/sh -c "exit 0"']],
    run: () => endWhenDone(srv, 'nj-finish'),
  });
  assert.equal(job.executionInfo.terminateReason, 'AllTasksComplete');
  assertAllStates(all, ['Processing,Finished', 'Scheduled,Processing,Finished']);
  assert.deepEqual(transitions([final]), ['Processing->Finished']);
});

test('a job with a failing task: All ends Processing->Error; Final one Processing->Error', async () => {
  const { all, final } = await scenario({
    job: 'nj-error', // no displayName: JobName is the id
    tasks: [['ok', '/bin/sh -c "exit 0"'], ['bad', '/bin/sh -c "exit 1"']],
    run: () => endWhenDone(srv, 'nj-error'),
  });
  const t = (await call(srv, 'GET', '/jobs/nj-error/tasks/bad', undefined, 200)).json;
  assert.equal(t.executionInfo.exitCode, 1);
  assertAllStates(all, ['Processing,Error', 'Scheduled,Processing,Error']);
  assert.deepEqual(transitions([final]), ['Processing->Error']);
});

test('a job terminated by the user while a task runs: All ...->Canceling->Canceled; Final one Canceling->Canceled', async () => {
  const { job, all, final } = await scenario({
    job: 'nj-cancel',
    displayName: 'Canceled job',
    tasks: [['sleeper', '/bin/sh -c "sleep 30"']],
    run: async () => {
      await waitFor(async () => (await call(srv, 'GET', '/jobs/nj-cancel/tasks/sleeper', undefined, 200))
        .json.state === 'running', { what: 'the task running' });
      await call(srv, 'POST', '/jobs/nj-cancel/terminate', { terminateReason: 'user stop' }, 202);
    },
  });
  assert.equal(job.executionInfo.terminateReason, 'user stop');
  assertAllStates(all, ['Processing,Canceling,Canceled', 'Scheduled,Processing,Canceling,Canceled']);
  assert.deepEqual(transitions([final]), ['Canceling->Canceled']);
});

test('a job that ends without any task goes Queued->Finished: it never was Processing', async () => {
  const { all, final } = await scenario({
    job: 'nj-empty',
    displayName: 'Empty job',
    tasks: [],
    run: () => endWhenDone(srv, 'nj-empty'),
  });
  assert.deepEqual(transitions(all), ['Queued->Finished']);
  assert.deepEqual(transitions([final]), ['Queued->Finished']);
});

test('a job deleted while a task runs: Canceling then Canceled, so Final still hears of its end', async () => {
  const h = await hook();
  const qAll = await queueEndpoint(srv, 'nj-deleted-all');
  const qFin = await queueEndpoint(srv, 'nj-deleted-final');
  const wFin = await webhookEndpoint(srv, 'nj-deleted-hook', h.url);
  await addJob(srv, 'nj-deleted', 'njpool', [
    { notificationEndPointId: qAll.id, targetJobState: 'All' },
    { notificationEndPointId: qFin.id, targetJobState: 'FinalStatesOnly' },
    { notificationEndPointId: wFin.id, targetJobState: 'FinalStatesOnly' },
  ]);
  await addTask(srv, 'nj-deleted', 'sleeper', '/bin/sh -c "sleep 30"');
  await waitFor(async () => (await call(srv, 'GET', '/jobs/nj-deleted/tasks/sleeper', undefined, 200))
    .json.state === 'running', { what: 'the task running' });
  await call(srv, 'DELETE', '/jobs/nj-deleted', undefined, 202);
  await waitFor(async () => (await call(srv, 'GET', '/jobs/nj-deleted')).status === 404,
    { what: 'the job gone' });
  for (const e of [qAll, qFin, wFin]) await drained(srv, e);
  const all = splitMessages(await queueMessages('nj-deleted-all'), 'queue', srv, qAll);
  checkJobChain(all, 'nj-deleted', 'nj-deleted');
  assertAllStates(all, ['Processing,Canceling,Canceled', 'Scheduled,Processing,Canceling,Canceled']);
  for (const fin of [splitMessages(await queueMessages('nj-deleted-final'), 'queue', srv, qFin),
    splitMessages(webhookMessages(h, wFin), 'webhook', srv, wFin)]) {
    assert.deepEqual(transitions(fin), ['Canceling->Canceled']);
    assert.equal(fin[0].ETag, all[all.length - 1].ETag);
  }
});

// ---- 2. redelivery ------------------------------------------------------------

test('a message redelivered by the queue (visibility timeout) has the same ETag', async () => {
  const q = await queueEndpoint(srv, 'nj-redeliver');
  await addJob(srv, 'nj-redeliver', 'njpool', [{ notificationEndPointId: q.id, targetJobState: 'All' }]);
  await addTask(srv, 'nj-redeliver', 't1', '/bin/sh -c "exit 0"');
  await endWhenDone(srv, 'nj-redeliver');
  await waitJobCompleted(srv, 'nj-redeliver');
  await drained(srv, q);
  const qc = qsc.getQueueClient('nj-redeliver');
  const first = (await qc.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 1 })).receivedMessageItems;
  assert.ok(first.length >= 3, `Registration and at least two job messages, got ${first.length}`);
  for (const m of first) assert.equal(m.dequeueCount, 1);
  // Not deleted: once the visibility timeout is over they come back (and
  // stay hidden for 30 s this time, so none is counted twice).
  const again = [];
  await waitFor(async () => {
    again.push(...(await qc.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 })).receivedMessageItems);
    return again.length >= first.length;
  }, { what: 'the redelivery' });
  const byId = new Map(first.map((m) => [m.messageId, m]));
  assert.equal(again.length, first.length, 'every message comes back, once');
  assert.equal(new Set(again.map((m) => m.messageId)).size, first.length);
  for (const m of again) {
    const was = byId.get(m.messageId);
    assert.ok(was, `message ${m.messageId} was delivered before`);
    assert.equal(m.dequeueCount, 2);
    assert.equal(m.messageText, was.messageText, 'a redelivery is the same message');
    const a = JSON.parse(m.messageText);
    assert.equal(a.ETag, JSON.parse(was.messageText).ETag);
    assert.match(a.ETag, /^[0-9a-f]{64}$/);
  }
  // The consumer de-duplicates on ETag: both deliveries, distinct events.
  const etags = [...first, ...again].map((m) => JSON.parse(m.messageText).ETag);
  assert.equal(new Set(etags).size, first.length);
});

// ---- 4. watch stream ----------------------------------------------------------

// A raw SSE reader (the same parser as notify_watch.test.mjs).
function sse(s, query) {
  const path = `/events?${query}`;
  const h = batchSign(s, 'GET', path, { Accept: 'text/event-stream' });
  const u = new URL(s.batchUrl);
  const st = { events: [], status: null, ended: false };
  let buf = '';
  const req = http.request({ host: u.hostname, port: u.port, method: 'GET', path, headers: h, agent: false });
  st.ready = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      st.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            const k = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (k === 'id' || k === 'event') ev[k] = v;
            else if (k === 'data') ev.data = (ev.data ? ev.data + '\n' : '') + v;
          }
          if (ev.data !== undefined && ev.event !== 'bookmark') {
            ev.json = JSON.parse(ev.data);
            st.events.push(ev);
          }
        }
      });
      res.on('end', () => { st.ended = true; });
      res.on('error', () => { st.ended = true; });
      resolve();
    });
    req.on('error', (e) => { st.ended = true; reject(e); });
  });
  st.close = () => { req.destroy(); streams.delete(st); };
  streams.add(st);
  req.end();
  return st;
}

const isJobEnd = (e) => e.type === 'JobStateChange' && FINAL.has(e.newState);

// Long-poll /events from a cursor until the job's final JobStateChange.
async function longPollJob(s, jobId, since, timeoutMs = 60000) {
  const out = [];
  const deadline = Date.now() + timeoutMs;
  while (!out.some(isJobEnd)) {
    assert.ok(Date.now() < deadline, `long-poll: no final JobStateChange for ${jobId} in time`);
    const r = await batchFetch(s, 'GET', `/events?since=${since}&jobId=${encodeURIComponent(jobId)}&timeout=10`);
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.value);
    assert.ok(r.json.lastSeq >= since, 'the cursor never goes back');
    since = r.json.lastSeq;
  }
  return out;
}

test('watch a job: task events active->running->completed with exit codes, job events in order; SSE = long-poll', async () => {
  const job = 'nj-watch';
  const { lastSeq: start } = (await batchFetch(srv, 'GET', '/events?timeout=0')).json;
  const stream = sse(srv, `since=${start}&jobId=${job}`);
  await stream.ready;
  assert.equal(stream.status, 200);
  const polled = longPollJob(srv, job, start);
  const exits = { a: 0, b: 3, c: 0 };
  await addJob(srv, job, 'njpool', []);
  for (const [id, code] of Object.entries(exits)) await addTask(srv, job, id, `/bin/sh -c "exit ${code}"`);
  await endWhenDone(srv, job);
  // Both up to the job's final event (nothing of this job follows it).
  const upToEnd = (list) => list.slice(0, list.findIndex(isJobEnd) + 1);
  const lp = upToEnd(await polled);
  await waitFor(() => stream.events.some((e) => isJobEnd(e.json)), { what: 'the final event on SSE' });
  stream.close();
  const viaSse = upToEnd(stream.events.map((e) => e.json));
  stream.events.slice(0, viaSse.length).forEach((e) => {
    assert.equal(Number(e.id), e.json.sequence);
    assert.equal(e.event, e.json.type);
  });
  assert.deepEqual(viaSse, lp, 'SSE and long-poll deliver the same events');

  const seqs = lp.map((e) => e.sequence);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], 'in sequence order');
  assert.ok(seqs[0] > start);
  for (const e of lp) {
    assert.equal(e.jobId, job, `only ${job}'s events: ${JSON.stringify(e)}`);
    assert.match(e.etag, /^[0-9a-f]{64}$/);
  }
  assert.deepEqual([...new Set(lp.map((e) => e.type))].sort(),
    ['JobBatchStateChange', 'JobStateChange', 'TaskStateChange']);
  const at = (pred) => lp.findIndex(pred);
  for (const [id, code] of Object.entries(exits)) {
    const t = lp.filter((e) => e.type === 'TaskStateChange' && e.entityId === id);
    assert.deepEqual(t.map((e) => [e.oldState, e.newState]),
      [[null, 'active'], ['active', 'running'], ['running', 'completed']], `task ${id}`);
    assert.deepEqual(t.map((e) => e.exitCode), [null, null, code], `task ${id} exit code`);
    assert.equal(t[2].failureCode, code ? 'FailureExitCode' : null);
    assert.equal(t[0].properties.TaskId, id);
  }
  const jb = lp.filter((e) => e.type === 'JobBatchStateChange');
  assert.deepEqual(jb.map((e) => [e.oldState, e.newState]),
    [[null, 'active'], ['active', 'terminating'], ['terminating', 'completed']]);
  const js = lp.filter((e) => e.type === 'JobStateChange');
  const chain = js.map((e) => `${e.oldState}->${e.newState}`).join(',');
  assert.ok(['Queued->Processing,Processing->Error', 'Queued->Scheduled,Scheduled->Processing,Processing->Error']
    .includes(chain), chain);
  // Causes come before their effects.
  const firstRunning = at((e) => e.type === 'TaskStateChange' && e.newState === 'running');
  assert.ok(at((e) => e.type === 'JobStateChange' && e.newState === 'Processing') > firstRunning,
    'Processing follows the first task running');
  const lastDone = lp.map((e) => e.type === 'TaskStateChange' && e.newState === 'completed').lastIndexOf(true);
  assert.ok(at((e) => e.newState === 'terminating') > lastDone, 'terminating after the last task completed');
  assert.ok(at(isJobEnd) > at((e) => e.type === 'JobBatchStateChange' && e.newState === 'completed'),
    'Error follows the batch completion');
  // A types filter gives the same events, fewer of them; the job id
  // matches whatever its case.
  const tasksOnly = await events(srv, `jobId=NJ-Watch&types=TaskStateChange`);
  assert.deepEqual(tasksOnly, lp.filter((e) => e.type === 'TaskStateChange'));
});

test('job schedule events: made, disabled, enabled, terminated, deleted, in order', async () => {
  const later = new Date(Date.now() + 3600 * 1000).toISOString();
  await call(srv, 'POST', '/jobschedules', { id: 'NSched', schedule: { doNotRunUntil: later },
    jobSpecification: { poolInfo: { poolId: 'njpool' } } }, 201);
  await call(srv, 'POST', '/jobschedules/nsched/disable', undefined, 204);
  await call(srv, 'POST', '/jobschedules/nsched/enable', undefined, 204);
  await call(srv, 'POST', '/jobschedules/nsched/disable', undefined, 204);
  await call(srv, 'POST', '/jobschedules/nsched/terminate', undefined, 202);
  await call(srv, 'DELETE', '/jobschedules/nsched', undefined, 202);
  await waitFor(async () => (await call(srv, 'GET', '/jobschedules/nsched')).status === 404,
    { what: 'the schedule gone' });
  const evs = await events(srv, 'types=JobScheduleStateChange');
  const mine = evs.filter((e) => e.entityId === 'NSched');
  assert.deepEqual(mine.map((e) => [e.oldState, e.newState]), [
    [null, 'active'], ['active', 'disabled'], ['disabled', 'active'], ['active', 'disabled'],
    ['disabled', 'terminating'], ['terminating', 'completed'], ['completed', 'deleting'],
    ['deleting', null]]);
  for (let i = 1; i < mine.length; i++) assert.ok(mine[i].sequence > mine[i - 1].sequence);
  for (const e of mine) {
    assert.equal(e.type, 'JobScheduleStateChange');
    assert.equal(e.entityType, 'jobSchedule');
    assert.equal(e.properties.JobScheduleId, 'NSched');
    assert.equal(e.jobId, undefined);
    assert.match(e.etag, /^[0-9a-f]{64}$/);
  }
  // The schedule made no job (its first run is an hour away), and its
  // events are not any job's.
  assert.equal((await events(srv, 'jobId=NSched')).length, 0);
  // A schedule's own job has job events, its state changes schedule events.
  await call(srv, 'POST', '/jobschedules', { id: 'nsched2', schedule: {},
    jobSpecification: { poolInfo: { poolId: 'njpool' }, onAllTasksComplete: 'terminatejob' } }, 201);
  await waitFor(async () => (await call(srv, 'GET', '/jobschedules/nsched2')).json.state === 'completed',
    { what: 'nsched2 completed with its empty job' });
  const two = (await events(srv, 'types=JobScheduleStateChange,JobBatchStateChange'))
    .filter((e) => e.entityId === 'nsched2' || e.jobId === 'nsched2:job-1');
  assert.deepEqual(two.map((e) => `${e.type} ${e.entityId} ${e.oldState}>${e.newState}`), [
    'JobScheduleStateChange nsched2 null>active',
    'JobBatchStateChange nsched2:job-1 null>active',
    'JobBatchStateChange nsched2:job-1 active>terminating',
    'JobBatchStateChange nsched2:job-1 terminating>completed',
    'JobScheduleStateChange nsched2 active>completed']);
});

// ---- 3. restart ---------------------------------------------------------------

test('restart: job messages undelivered at SIGKILL are delivered after the restart, each once', async () => {
  const s = await server('notify-jobs-restart');
  await addPool(s, 'rpool', 1, 2);
  const hAll = await hook([], 200);
  const hFin = await hook([], 200);
  const wAll = await webhookEndpoint(s, 'restart-all', hAll.url);
  const wFin = await webhookEndpoint(s, 'restart-final', hFin.url);
  await drained(s, wAll);
  await drained(s, wFin);
  // The receivers go down: every job message is refused.
  hAll.script([], 503);
  hFin.script([], 503);
  await addJob(s, 'rj', 'rpool', [{ notificationEndPointId: wAll.id, targetJobState: 'All' },
    { notificationEndPointId: wFin.id, targetJobState: 'FinalStatesOnly' }], { displayName: 'Restarted' });
  await addTask(s, 'rj', 't1', '/bin/sh -c "exit 0"');
  await endWhenDone(s, 'rj');
  await waitJobCompleted(s, 'rj');
  const evs = await jobStateEvents(s, 'rj');
  const finals = evs.filter((e) => FINAL.has(e.newState));
  assert.equal(finals.length, 1);
  assert.ok(evs.length >= 2);
  // Everything is still pending, and was tried (and refused) at least once.
  assert.equal((await endpoint(s, wAll)).pendingDeliveries, evs.length);
  assert.equal((await endpoint(s, wFin)).pendingDeliveries, 1);
  await waitFor(() => hAll.requests.some((r) => r.status === 503) && hFin.requests.some((r) => r.status === 503),
    { what: 'refused attempts' });

  // Receivers back only once the new process runs: whatever the killed
  // one had sent is answered 503 too, so a 200 is always seen by the
  // process that sent it.
  await s.restartAfterKill();
  const seen = { all: hAll.requests.length, fin: hFin.requests.length };
  hAll.script([], 200);
  hFin.script([], 200);
  await drained(s, wAll);
  await drained(s, wFin);
  for (const [h, ep, expect, n] of [[hAll, wAll, evs, seen.all], [hFin, wFin, finals, seen.fin]]) {
    // Until the switch: the Registration accepted, job messages refused.
    assert.deepEqual(h.requests.slice(0, n).map((r) => r.status), [200, ...Array(n - 1).fill(503)]);
    for (const r of h.requests.slice(1, n)) {
      assert.ok(expect.some((e) => e.etag === r.headers['x-shoal-etag']), 'a refused attempt is one of the job events');
    }
    // After it: exactly the expected set, once each, in order.
    const after = h.requests.slice(n);
    assert.ok(after.every((r) => r.status === 200));
    const msgs = after.map((r) => {
      assert.equal(r.headers['ms-signature'], signature(ep.signingKey, r.body));
      return JSON.parse(r.body);
    });
    for (const m of msgs) checkEnvelope(m, 'webhook', s, ep);
    checkJobChain(msgs, 'rj', 'Restarted', { from: expect === evs ? 'Queued' : null });
    sameEvents(msgs, expect, `${ep.name}: the undelivered messages, each once`);
    assert.equal((await endpoint(s, ep)).deadLetters, 0);
  }
  assert.deepEqual(await s.stop(), { code: 0, sig: null });
});

// ---- 5. load ------------------------------------------------------------------

function rssKiB(pid) {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(st.match(/^VmRSS:\s+(\d+) kB/m)[1]), hwm: Number(st.match(/^VmHWM:\s+(\d+) kB/m)[1]) };
}

// Measured on a 2-core machine with 10,000 tasks: VmHWM ~37 MiB. The bound
// leaves 3x margin; under SAN=1 ASan's shadow memory and quarantine (up to
// 256 MiB of freed blocks) dominate, hence the larger bound there.
const LOAD_TASKS = Number(process.env.NOTIFY_LOAD_TASKS || 10000);
const RSS_BOUND_MIB = process.env.SAN === '1' ? 1024 : 128;

test(`load: ${LOAD_TASKS} tasks with an All subscription: exact job messages, a watcher that keeps up, bounded RSS`, async (t) => {
  const s = await server('notify-jobs-load');
  const lq = QueueServiceClient.fromConnectionString(s.connStr).getQueueClient('nj-load');
  await addPool(s, 'lpool', 2, 4);
  const q = await queueEndpoint(s, 'nj-load');
  await addJob(s, 'big', 'lpool', [{ notificationEndPointId: q.id, targetJobState: 'All' }]);
  let peak = rssKiB(s.pid).rss;
  const sample = () => { peak = Math.max(peak, rssKiB(s.pid).rss); };

  // The watcher reads the job's events from seq 0 while they happen.
  const watched = longPollJob(s, 'big', 0, 300000);
  for (let c = 0; c < LOAD_TASKS; c += 100) {
    const value = [];
    for (let i = c; i < Math.min(c + 100, LOAD_TASKS); i++) value.push({ id: `t${i}`, commandLine: '/bin/true' });
    const r = await call(s, 'POST', '/jobs/big/addtaskcollection', { value }, 200);
    assert.ok(r.json.value.every((x) => x.status === 'success'), r.text);
    sample();
  }
  await endWhenDone(s, 'big');
  const job = await waitFor(async () => {
    sample();
    const j = await getJob(s, 'big');
    return j.state === 'completed' ? j : null;
  }, { timeoutMs: 300000, intervalMs: 250, what: `${LOAD_TASKS} tasks done` });
  assert.equal(job.executionInfo.terminateReason, 'AllTasksComplete');
  const evs = await watched;
  sample();

  // The watcher: every task once active, once running, once completed (0).
  const seqs = evs.map((e) => e.sequence);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], 'no duplicate, no reordering');
  const counts = new Map();
  let completions = 0;
  for (const e of evs) {
    assert.equal(e.jobId, 'big');
    if (e.type !== 'TaskStateChange') continue;
    const k = `${e.entityId}:${e.newState}`;
    counts.set(k, (counts.get(k) || 0) + 1);
    if (e.newState === 'completed') {
      completions++;
      assert.equal(e.exitCode, 0, `${e.entityId} exit code`);
    }
  }
  assert.equal(completions, LOAD_TASKS, 'every completion seen by the watcher');
  for (let i = 0; i < LOAD_TASKS; i++) {
    for (const st of ['active', 'running', 'completed']) {
      if (counts.get(`t${i}:${st}`) !== 1) assert.fail(`task t${i} ${st}: ${counts.get(`t${i}:${st}`) || 0} events`);
    }
  }

  // The queue: Registration, then exactly the job's JobStateChanges.
  const js = evs.filter((e) => e.type === 'JobStateChange');
  assert.deepEqual(js, await jobStateEvents(s, 'big'), 'the watcher saw every JobStateChange');
  const chain = js.map((e) => `${e.oldState}->${e.newState}`).join(',');
  assert.ok(['Queued->Processing,Processing->Finished', 'Queued->Scheduled,Scheduled->Processing,Processing->Finished']
    .includes(chain), chain);
  await drained(s, q);
  const msgs = (await lq.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map((m) => JSON.parse(m.messageText));
  const jobMsgs = splitMessages(msgs, 'queue', s, q);
  checkJobChain(jobMsgs, 'big', 'big');
  sameEvents(jobMsgs, js, 'exactly the job state messages: no duplicate, nothing missing');

  const { hwm } = rssKiB(s.pid);
  const peakMiB = Math.max(peak, hwm) / 1024;
  t.diagnostic(`shoald peak RSS ${peakMiB.toFixed(1)} MiB for ${LOAD_TASKS} tasks`);
  assert.ok(peakMiB < RSS_BOUND_MIB, `shoald peak RSS ${peakMiB.toFixed(1)} MiB >= ${RSS_BOUND_MIB} MiB`);
  assert.deepEqual(await s.stop(), { code: 0, sig: null });
});

// Last: the shared server, with its watchers gone, stops cleanly (under
// SAN=1 a leak or a sanitizer report is a non-zero exit).
test('the shared shoald exits 0 on SIGTERM', async () => {
  for (const st of streams) st.close();
  assert.deepEqual(await srv.stop(), { code: 0, sig: null });
});
