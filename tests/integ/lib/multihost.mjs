// tests/integ/lib/multihost.mjs: the driver of batch_multihost.test.sh.
//
// Runs inside the server's network namespace (the shell script made the
// namespaces, started shoald and the agents). Two commands:
//
//   node multihost.mjs token
//       create the jointoken pool "mh" (2 slots per node) and print its
//       join token on stdout.
//   node multihost.mjs run
//       the job and the faults; prints TAP lines (numbered from 1, no plan:
//       the script adds its own checks and the plan) on stdout.
//
// Environment: MH_URL (shoald's batch URL on its veth address), MH_MARKS
// (file each task appends its id to), MH_GATE (file that releases the gated
// tasks), MH_NS_A, MH_ROOT_A, MH_PID_A (agent A: its namespace, root and
// pid), MH_LINK_B (the server-side end of agent B's veth), MH_NODE_BIN
// (shoal-node), MH_PIDS (file to record the pids of processes we start, for
// the script's cleanup).
//
// The faults, each waited for by polling with a deadline (never a sleep):
// SIGKILL agent A mid-job (its node becomes unusable, its tasks are
// requeued), start it again on the same root (it rejoins as the same
// node), cut agent B's link (its node becomes unusable, its tasks are
// requeued), restore it (B comes back and its stale attempts are
// cancelled), then release the gated tasks and let the job finish.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { batchFetch } from './batchsign.mjs';

const API = 'api-version=2022-10-01.16.0';
const env = process.env;
const srv = {
  batchUrl: env.MH_URL,
  account: 'devstoreaccount1',
  key: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
};
const NTASKS = 50;
const UNGATED = 10;

async function rest(method, path, body) {
  const r = await batchFetch(srv, method, path, body === undefined ? {} : { body });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.json;
}

async function waitFor(fn, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const nodes = async () => (await rest('GET', `/pools/mh/nodes?${API}`)).value;
const node = async (id) => rest('GET', `/pools/mh/nodes/${id}?${API}`);
const tasks = async () => (await rest('GET', `/jobs/mh/tasks?${API}`)).value;

let n = 0;
let failed = 0;
function ok(cond, what, detail) {
  n++;
  if (cond) {
    console.log(`ok ${n} - ${what}`);
  } else {
    failed++;
    console.log(`not ok ${n} - ${what}`);
    if (detail) for (const l of String(detail).split('\n')) console.log(`#   ${l}`);
  }
}

async function token() {
  await rest('POST', `/pools?${API}`,
    { id: 'mh', vmSize: 'remote', taskSlotsPerNode: 2, 'x-shoal-allocation': 'jointoken' });
  const t = await rest('POST', `/pools/mh/jointoken?${API}`);
  console.log(t.token);
}

async function events() {
  const out = [];
  let since = 0;
  for (;;) {
    const r = await rest('GET', `/events?since=${since}&jobId=mh&types=TaskStateChange&timeout=0`);
    if (!r.value.length) return out;
    out.push(...r.value);
    since = r.lastSeq;
  }
}

async function run() {
  const PLAN = 10;
  const l = await waitFor(async () => {
    const x = await nodes();
    return x.length === 2 && x.every((y) => y.state === 'idle') ? x : null;
  }, 'two idle nodes');
  ok(new Set(l.map((x) => x.ipAddress)).size === 2,
    'two agents joined from two namespaces', JSON.stringify(l.map((x) => x.ipAddress)));
  const idA = JSON.parse(fs.readFileSync(`${env.MH_ROOT_A}/agent/identity.json`, 'utf8')).node;
  const idB = l.find((x) => x.id !== idA).id;

  await rest('POST', `/jobs?${API}`, { id: 'mh', poolInfo: { poolId: 'mh' } });
  const specs = [];
  for (let i = 0; i < NTASKS; i++) {
    const id = `t${String(i).padStart(2, '0')}`;
    const wait = i < UNGATED ? '' : `while [ ! -e ${env.MH_GATE} ]; do sleep 0.05; done; `;
    specs.push({ id, commandLine: `/bin/sh -c '${wait}echo $AZ_BATCH_TASK_ID >> ${env.MH_MARKS}'` });
  }
  for (let i = 0; i < specs.length; i += 25) {
    const r = await rest('POST', `/jobs/mh/addtaskcollection?${API}`, { value: specs.slice(i, i + 25) });
    if (!r.value.every((x) => x.status === 'success')) throw new Error(JSON.stringify(r));
  }
  // Mid-job: the ungated tasks done, every slot busy with a gated one.
  await waitFor(async () => {
    const c = (await rest('GET', `/jobs/mh/taskcounts?${API}`)).taskCounts;
    return c.completed >= UNGATED && c.running === 4;
  }, 'ungated tasks done and 4 gated running');

  // 1. SIGKILL agent A: nobody restarts it; its node goes unusable.
  process.kill(Number(env.MH_PID_A), 'SIGKILL');
  await waitFor(async () => (await node(idA)).state === 'unusable', 'node A unusable');
  const requeuedA = await waitFor(async () => {
    const t = (await tasks()).filter((x) => x.executionInfo.requeueCount > 0);
    return t.length >= 2 ? t : null;
  }, "node A's tasks requeued");
  ok(requeuedA.every((x) => x.executionInfo.retryCount === 0),
    "killed agent: node unusable, its tasks requeued (requeueCount, not retryCount)");

  // 2. Agent A comes back on the same root: the same node, usable again.
  const logfd = fs.openSync(`${env.MH_ROOT_A}.log`, 'a');
  const back = spawn('ip', ['netns', 'exec', env.MH_NS_A, env.MH_NODE_BIN, '--join', env.MH_URL,
    '--root', env.MH_ROOT_A], { stdio: ['ignore', logfd, logfd] });
  fs.closeSync(logfd);
  fs.appendFileSync(env.MH_PIDS, `${back.pid}\n`);
  back.unref(); /* the script's cleanup ends it, by pid */
  await waitFor(async () => ['idle', 'running'].includes((await node(idA)).state), 'node A back');
  ok((await nodes()).length === 2, 'the restarted agent rejoined as the same node');

  // 3. Cut agent B's link: its node goes unusable and its tasks are
  //    requeued; then restore it.
  const before = new Map((await tasks()).map((t) => [t.id, t.executionInfo.requeueCount]));
  execFileSync('ip', ['link', 'set', env.MH_LINK_B, 'down']);
  let cutOk = false;
  try {
    await waitFor(async () => (await node(idB)).state === 'unusable', 'node B unusable');
    await waitFor(async () => (await tasks()).some((t) => t.executionInfo.requeueCount > (before.get(t.id) || 0) &&
      t.state !== 'completed'), "node B's tasks requeued");
    cutOk = true;
  } finally {
    execFileSync('ip', ['link', 'set', env.MH_LINK_B, 'up']);
  }
  ok(cutOk, 'cut link: node unusable and its tasks requeued');
  await waitFor(async () => ['idle', 'running'].includes((await node(idB)).state), 'node B back', 60000);
  ok(true, 'restored link: the node is usable again');

  // 4. Release the gated tasks; the job completes.
  fs.writeFileSync(env.MH_GATE, '');
  await waitFor(async () => (await rest('GET', `/jobs/mh/taskcounts?${API}`)).taskCounts.completed === NTASKS,
    'all tasks completed', 60000);
  const all = await tasks();
  const bad = all.filter((t) => t.state !== 'completed' || t.executionInfo.result !== 'success');
  ok(all.length === NTASKS && bad.length === 0, `all ${NTASKS} tasks completed with success`,
    JSON.stringify(bad.map((t) => [t.id, t.state, t.executionInfo])));

  // Marks: every task ran; one never requeued ran exactly once; a requeued
  // one at most once per attempt it was given (a killed agent's orphans
  // may finish an attempt the server had already given up on).
  const marks = new Map();
  for (const id of fs.readFileSync(env.MH_MARKS, 'utf8').split('\n').filter(Boolean)) {
    marks.set(id, (marks.get(id) || 0) + 1);
  }
  const wrong = all.filter((t) => {
    const c = marks.get(t.id) || 0;
    return c < 1 || (t.executionInfo.requeueCount === 0 ? c !== 1 : c > 1 + t.executionInfo.requeueCount);
  });
  ok(wrong.length === 0, 'per-task counts: each task ran, once unless requeued',
    JSON.stringify(wrong.map((t) => [t.id, marks.get(t.id) || 0, t.executionInfo.requeueCount])));
  const requeued = all.filter((t) => t.executionInfo.requeueCount > 0);
  ok(requeued.length > 0 && all.every((t) => t.executionInfo.retryCount === 0),
    `requeueCount > 0 on ${requeued.length} tasks, retryCount 0 everywhere`);

  // Completed exactly once: one transition to completed per task in the
  // event log.
  const done = new Map();
  for (const e of await events()) {
    if (e.newState === 'completed') done.set(e.entityId, (done.get(e.entityId) || 0) + 1);
  }
  const twice = all.filter((t) => done.get(t.id) !== 1);
  ok(twice.length === 0, 'every task reported completed exactly once (event log)',
    JSON.stringify(twice.map((t) => [t.id, done.get(t.id)])));
  const end = await nodes();
  ok(end.length === 2 && end.every((x) => x.state === 'idle'), 'both nodes idle at the end',
    JSON.stringify(end.map((x) => [x.id, x.state])));
  if (n !== PLAN) console.log(`# planned ${PLAN}, ran ${n}`);
  process.exitCode = failed || n !== PLAN ? 1 : 0;
}

const cmd = process.argv[2];
(cmd === 'token' ? token() : run()).catch((e) => {
  if (cmd !== 'token') {
    n++;
    console.log(`not ok ${n} - multihost driver: ${e.message}`);
  } else {
    console.error(e.stack);
  }
  process.exitCode = 1;
});
