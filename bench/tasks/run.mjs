// bench/tasks/run.mjs: shoal's Batch service against xargs and GNU parallel.
//
//   node bench/tasks/run.mjs [--tasks N] [--parallel-tasks N] [--latency N]
//   (or bench/tasks/run.sh; SHOAL_BIN selects the binaries, default bin/)
//
// Measures, on this machine:
//   1. end to end: N tasks (default 20,000) running /bin/true on a local
//      pool of 2 nodes x 2 slots, added in collections of 100 (8 requests in
//      flight) while the pool runs them; from the first add to the last
//      completion (job task counts polled every 50 ms);
//   2. xargs -P 4 -n 1 /bin/true over N lines; GNU parallel -j 4 /bin/true
//      over --parallel-tasks lines (default 5,000: parallel runs about
//      150-300 tasks/s, 20,000 would take minutes; the rate is what counts);
//   3. add-collection throughput: N tasks added in collections of 100
//      (8 in flight) to a job whose pool has no nodes, so nothing runs;
//   4. submit->start latency for single tasks on an idle pool: --latency
//      tasks (default 200) added one at a time, each waited for;
//      latency = executionInfo.startTime - creationTime (server clock).
// Prints a table. Not a test: numbers depend on the machine.
import { spawnSync } from 'node:child_process';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, waitFor } from '../../tests/integ/lib/server.mjs';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg('--tasks', 20000);
const NPAR = arg('--parallel-tasks', 5000);
const NLAT = arg('--latency', 200);
const INFLIGHT = 8;

function timeShell(cmd) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/bin/sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}`);
  return s;
}

async function addAll(batch, job, n, prefix) {
  let next = 0;
  async function worker() {
    for (;;) {
      const start = next;
      if (start >= n) return;
      next += 100;
      const chunk = [];
      for (let i = start; i < Math.min(start + 100, n); i++)
        chunk.push({ id: `${prefix}${i}`, commandLine: '/bin/true' });
      const r = await batch.task.addCollection(job, chunk);
      for (const x of r.value)
        if (x.status !== 'success') throw new Error(`add failed: ${JSON.stringify(x)}`);
    }
  }
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const srv = await startServer({ name: 'bench-tasks', args: ['--set', 'sched.poll_ms=1000'] });
const rows = [];
try {
  const batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  await batch.pool.add({ id: 'bench', vmSize: 'local', targetDedicatedNodes: 2, taskSlotsPerNode: 2 });
  await waitFor(async () => {
    const n = await batch.computeNode.list('bench');
    return n.length === 2 && n.every((x) => x.state === 'idle');
  }, { timeoutMs: 30000, what: 'bench nodes idle' });

  // 1. end to end
  await batch.job.add({ id: 'e2e', poolInfo: { poolId: 'bench' } });
  const t0 = process.hrtime.bigint();
  await addAll(batch, 'e2e', N, 't');
  await waitFor(async () => (await batch.job.getTaskCounts('e2e')).taskCounts.completed === N,
    { timeoutMs: 600000, intervalMs: 50, what: 'end-to-end completion' });
  const e2e = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = (await batch.job.getTaskCounts('e2e')).taskCounts;
  if (c.succeeded !== N) throw new Error(`only ${c.succeeded} succeeded`);
  rows.push(['shoal, 2 nodes x 2 slots', N, e2e]);

  // 4. latency on the idle pool
  await batch.job.add({ id: 'lat', poolInfo: { poolId: 'bench' } });
  const lat = [];
  for (let i = 0; i < NLAT; i++) {
    await batch.task.add('lat', { id: `l${i}`, commandLine: '/bin/true' });
    const t = await waitFor(async () => {
      const x = await batch.task.get('lat', `l${i}`);
      return x.state === 'completed' ? x : null;
    }, { timeoutMs: 10000, intervalMs: 2, what: 'latency task' });
    lat.push(t.executionInfo.startTime.getTime() - t.creationTime.getTime());
  }
  lat.sort((a, b) => a - b);

  // 3. add throughput (a pool with no nodes: nothing runs)
  await batch.job.add({ id: 'adds', poolInfo: { poolId: 'nonodes' } });
  const a0 = process.hrtime.bigint();
  await addAll(batch, 'adds', N, 'a');
  const adds = Number(process.hrtime.bigint() - a0) / 1e9;

  await batch.job.deleteMethod('e2e');
  await batch.job.deleteMethod('lat');
  await batch.job.deleteMethod('adds');
  await batch.pool.deleteMethod('bench');

  // 2. the tools users would pick instead
  const xs = timeShell(`seq ${N} | xargs -P 4 -n 1 /bin/true`);
  rows.push(['xargs -P 4 -n 1', N, xs]);
  let ps = null;
  if (spawnSync('/bin/sh', ['-c', 'command -v parallel']).status === 0) {
    ps = timeShell(`seq ${NPAR} | parallel -j 4 /bin/true`);
    rows.push(['GNU parallel -j 4', NPAR, ps]);
  }

  const xrate = N / xs;
  console.log('\nend to end, /bin/true');
  console.log('| runner                    |  tasks | seconds |  tasks/s | vs xargs |');
  console.log('|---------------------------|-------:|--------:|---------:|---------:|');
  for (const [name, n, s] of rows)
    console.log(`| ${name.padEnd(25)} | ${String(n).padStart(6)} | ${s.toFixed(2).padStart(7)} | ${(n / s).toFixed(0).padStart(8)} | ${((n / s) / xrate).toFixed(2).padStart(8)} |`);
  console.log('\nshoal Batch API');
  console.log('| measure                              | value          |');
  console.log('|--------------------------------------|----------------|');
  console.log(`| add collection (100/call, ${INFLIGHT} in flight) | ${(N / adds).toFixed(0).padStart(8)} tasks/s |`);
  console.log(`| submit->start latency p50 (n=${NLAT})    | ${String(pct(lat, 50)).padStart(8)} ms     |`);
  console.log(`| submit->start latency p99 (n=${NLAT})    | ${String(pct(lat, 99)).padStart(8)} ms     |`);
} finally {
  await srv.stop();
}
