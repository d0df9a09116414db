// bench/tasks/faults.mjs: throughput of a local pool that loses a node.
//
//   node bench/tasks/faults.mjs [--tasks N] [--task-ms MS] [--runs R]
//   (or bench/tasks/faults.sh; SHOAL_BIN selects the binaries)
//
// A pool of 4 local nodes x 2 slots runs a job of N tasks (default 2,000)
// of `/bin/sleep MS/1000` (default 50 ms), added in collections of 100
// before the clock starts. Measured twice per run, medians of R runs
// (default 3):
//   clean   no fault: from the first task started to the last completed;
//   fault   the same, and when half the tasks have completed the agent of
//           one node is SIGKILLed; shoald's supervisor restarts it (0.5 s
//           back-off), the new agent's boot id tells shoald its attempts
//           are gone, they are requeued (requeueCount) and run again.
// Prints tasks/s of both, the slowdown, the requeues (tasks requeued and
// the sum of requeueCount; retryCount must stay 0), how long the node was
// out (kill to the restarted agent's node idle or running again), and
// checks every task completed with success and was never retried.
// Not a test: the numbers depend on the machine.
import fs from 'node:fs';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, waitFor } from '../../tests/integ/lib/server.mjs';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg('--tasks', 2000);
const MS = arg('--task-ms', 50);
const RUNS = arg('--runs', 3);
const NODES = 4;

// The pid of the agent of a node (our grandchild), found by command line.
function agentPid(nodeId) {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd;
    try { cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    if (cmd[0].endsWith('shoal-node') && cmd.includes(nodeId)) return Number(d);
  }
  return 0;
}

async function addAll(batch, job) {
  const cmd = `/bin/sleep ${(MS / 1000).toFixed(3)}`;
  for (let s = 0; s < N; s += 100) {
    const chunk = [];
    for (let i = s; i < Math.min(s + 100, N); i++) chunk.push({ id: `t${i}`, commandLine: cmd });
    const r = await batch.task.addCollection(job, chunk);
    for (const x of r.value) if (x.status !== 'success') throw new Error(JSON.stringify(x));
  }
}

async function oneRun(batch, job, fault) {
  // Tasks are added to a disabled job, so the clock starts with all of them
  // queued and no add competes with the run.
  await batch.job.add({ id: job, poolInfo: { poolId: 'faults' } });
  await batch.job.disable(job, 'requeue');
  await addAll(batch, job);
  const t0 = Date.now();
  await batch.job.enable(job);
  let out = null;
  if (fault) {
    await waitFor(async () => (await batch.job.getTaskCounts(job)).taskCounts.completed >= N / 2,
      { timeoutMs: 600000, intervalMs: 20, what: 'half done' });
    const busy = (await batch.computeNode.list('faults')).find((x) => x.state === 'running');
    const pid = agentPid(busy.id);
    if (!pid) throw new Error('no agent pid');
    const k0 = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitFor(() => { const p = agentPid(busy.id); return p > 0 && p !== pid; },
      { timeoutMs: 30000, intervalMs: 10, what: 'agent restarted' });
    await waitFor(async () => ['idle', 'running'].includes((await batch.computeNode.get('faults', busy.id)).state),
      { timeoutMs: 30000, intervalMs: 10, what: 'node back' });
    out = Date.now() - k0;
  }
  await waitFor(async () => (await batch.job.getTaskCounts(job)).taskCounts.completed === N,
    { timeoutMs: 600000, intervalMs: 20, what: 'all completed' });
  const secs = (Date.now() - t0) / 1000;
  const all = [];
  let page = await batch.task.list(job, { taskListOptions: { select: 'id,state,executionInfo' } });
  for (;;) {
    all.push(...page);
    if (!page.odatanextLink) break;
    page = await batch.task.listNext(page.odatanextLink);
  }
  if (all.length !== N || all.some((t) => t.state !== 'completed' || t.executionInfo.result !== 'success'))
    throw new Error('not every task completed with success');
  if (all.some((t) => t.executionInfo.retryCount !== 0)) throw new Error('a task was retried');
  const requeued = all.filter((t) => t.executionInfo.requeueCount > 0);
  const requeues = requeued.reduce((a, t) => a + t.executionInfo.requeueCount, 0);
  await batch.job.deleteMethod(job);
  return { secs, requeued: requeued.length, requeues, out };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const srv = await startServer({ name: 'bench-faults', args: ['--set', 'sched.poll_ms=1000'] });
try {
  const batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  await batch.pool.add({ id: 'faults', vmSize: 'local', targetDedicatedNodes: NODES, taskSlotsPerNode: 2 });
  await waitFor(async () => {
    const n = await batch.computeNode.list('faults');
    return n.length === NODES && n.every((x) => x.state === 'idle');
  }, { timeoutMs: 30000, what: 'nodes idle' });
  const clean = [];
  const fault = [];
  for (let r = 0; r < RUNS; r++) {
    clean.push(await oneRun(batch, `c${r}`, false));
    fault.push(await oneRun(batch, `f${r}`, true));
  }
  const rate = (x) => N / x.secs;
  const cr = median(clean.map(rate));
  const fr = median(fault.map(rate));
  console.log(`\ntask throughput, ${NODES} local nodes x 2 slots, ${N} tasks of ${MS} ms, median of ${RUNS}`);
  console.log('| run                           | tasks/s | vs clean | tasks requeued | requeueCount | node out |');
  console.log('|-------------------------------|--------:|---------:|---------------:|-------------:|---------:|');
  console.log(`| clean                         | ${cr.toFixed(0).padStart(7)} |     1.00 | ${String(median(clean.map((x) => x.requeued))).padStart(14)} | ${String(median(clean.map((x) => x.requeues))).padStart(12)} |        - |`);
  console.log(`| one node killed and restarted | ${fr.toFixed(0).padStart(7)} | ${(fr / cr).toFixed(2).padStart(8)} | ${String(median(fault.map((x) => x.requeued))).padStart(14)} | ${String(median(fault.map((x) => x.requeues))).padStart(12)} | ${(median(fault.map((x) => x.out)) / 1000).toFixed(2).padStart(6)} s |`);
  console.log('every task completed with success; retryCount 0 everywhere');
} finally {
  await srv.stop();
}
