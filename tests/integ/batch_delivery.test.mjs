// batch_delivery.test.mjs: what a restart of shoald does to an attempt
// whose assignment may not have reached its agent.
//
// A fake agent (this test, speaking docs/node-protocol.md over HTTP) joins
// a jointoken pool and takes an assignment. shoald is then SIGKILLed and
// restarted, and the same agent process (same boot id) syncs again:
//   - its ack is older than the response that carried the attempt (it
//     never processed it): the task goes back to the queue uncounted,
//     requeueCount 0;
//   - its ack covers that response but it lists the attempt neither as
//     running nor in a report: the run was lost, requeueCount 1.
// Deterministic: the agent decides what it "processed", no timing race.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, waitFor } from './lib/server.mjs';
import { batchFetch } from './lib/batchsign.mjs';

const API = 'api-version=2022-10-01.16.0';
let srv;

after(async () => { if (srv) await srv.stop(); });

async function post(path, token, body, node) {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  if (node) headers['x-shoal-node'] = node;
  const r = await fetch(`${srv.batchUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

// A fake agent: one identity, one boot id, a sync at a time.
function agent(node, token) {
  const boot = crypto.randomUUID();
  return {
    node,
    sync: (ack, extra = {}) => post('/_node/v1/sync', token, {
      v: 1, node, boot, ack, wait: false, needConfig: false, running: [], reports: [],
      startTask: { state: 'none' }, ...extra,
    }, node),
  };
}

async function task(job, id) {
  const r = await batchFetch(srv, 'GET', `/jobs/${job}/tasks/${id}?${API}`);
  assert.equal(r.status, 200);
  return r.json;
}

async function joinedAgent() {
  const pool = `dp${crypto.randomBytes(3).toString('hex')}`;
  let r = await batchFetch(srv, 'POST', `/pools?${API}`,
    { body: { id: pool, vmSize: 'remote', 'x-shoal-allocation': 'jointoken' } });
  assert.equal(r.status, 201);
  r = await batchFetch(srv, 'POST', `/pools/${pool}/jointoken?${API}`);
  assert.equal(r.status, 200);
  const j = await post('/_node/v1/join', r.json.token, { v: 1, hostname: 'fake' });
  assert.equal(j.status, 200);
  const a = agent(j.json.node, j.json.token);
  let s = await a.sync(0, { needConfig: true });
  assert.equal(s.status, 200);
  let ack = s.json.seq;
  await waitFor(async () => {
    s = await a.sync(ack, { startTask: { state: 'completed', start: Date.now(), end: Date.now(), exit: 0, retry: 0 } });
    if (s.json.seq) ack = s.json.seq;
    const n = await batchFetch(srv, 'GET', `/pools/${pool}/nodes/${a.node}?${API}`);
    return n.json.state === 'idle';
  }, { what: 'the fake node idle' });
  return { pool, a, ack };
}

// Sync until the task arrives; returns [ack before that response, its seq].
async function takeAssignment(a, ack, taskId) {
  let got;
  await waitFor(async () => {
    const s = await a.sync(ack);
    assert.equal(s.status, 200);
    got = (s.json.assign || []).find((x) => x.task === taskId) ? s.json.seq : undefined;
    if (!got && s.json.seq) ack = s.json.seq;
    return got !== undefined;
  }, { what: `assignment of ${taskId}` });
  return [ack, got];
}

test('start shoald', async () => {
  srv = await startServer({ name: 'batch-delivery', args: ['--set', 'sched.poll_ms=200'] });
});

for (const processed of [false, true]) {
  test(`shoald killed after assigning; agent ${processed ? 'processed' : 'never processed'} the response`, async () => {
    const { pool, a, ack } = await joinedAgent();
    const job = `dj${processed ? 1 : 0}`;
    let r = await batchFetch(srv, 'POST', `/jobs?${API}`, { body: { id: job, poolInfo: { poolId: pool } } });
    assert.equal(r.status, 201);
    r = await batchFetch(srv, 'POST', `/jobs/${job}/tasks?${API}`, { body: { id: 't', commandLine: '/bin/true' } });
    assert.equal(r.status, 201);
    const [before, carried] = await takeAssignment(a, ack, 't');
    assert.equal((await task(job, 't')).state, 'running');
    await srv.restartAfterKill();
    // Same agent process, first sync to the new shoald, nothing running.
    const s = await a.sync(processed ? carried : before);
    assert.equal(s.status, 200);
    // The attempt is given up and, the node being free, handed out anew.
    const again = (s.json.assign || []).find((x) => x.task === 't');
    assert.ok(again, 'the task is assigned again');
    assert.equal(again.a, 2, 'as a new attempt');
    const t = await task(job, 't');
    assert.equal(t.executionInfo.requeueCount, processed ? 1 : 0,
      processed ? 'a run the agent had and lost is counted' : 'an assignment that never arrived is not');
    assert.equal(t.executionInfo.retryCount, 0);
  });
}

test('stop shoald', async () => {
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
  srv = null;
});
