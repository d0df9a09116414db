// bench/tasks/deps.mjs: a job of N tasks with dependencies on shoal's Batch
// service, as chain segments.
//
//   node bench/tasks/deps.mjs [--tasks N] [--segment L] [--baseline]
//   (or bench/tasks/deps.sh; SHOAL_BIN selects the binaries, default bin/)
//
// Measures, on this machine: N tasks (default 100,000) running /bin/true on
// a local pool of 2 nodes x 4 slots, in N/L chains of L tasks (default 100):
// task k of a segment depends on task k-1 of it (dependsOn.taskIds), so at
// most N/L tasks are runnable at once and every completion releases the next
// link. Tasks are added in collections of 100 (8 requests in flight) while
// the pool runs them; the clock runs from the first add to the last
// completion (job task counts polled every 100 ms). --baseline also runs
// the same N tasks without dependencies on the same pool, for comparison.
// Prints a table. Not a test: numbers depend on the machine.
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, waitFor } from '../../tests/integ/lib/server.mjs';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg('--tasks', 100000);
const L = Math.max(1, arg('--segment', 100));
const BASELINE = process.argv.includes('--baseline');
const INFLIGHT = 8;

async function addAll(batch, job, specs) {
  let next = 0;
  async function worker() {
    for (;;) {
      const start = next;
      if (start >= specs.length) return;
      next += 100;
      const r = await batch.task.addCollection(job, specs.slice(start, start + 100));
      for (const x of r.value)
        if (x.status !== 'success') throw new Error(`add failed: ${JSON.stringify(x)}`);
    }
  }
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
}

async function run(batch, job, specs, deps) {
  await batch.job.add({ id: job, poolInfo: { poolId: 'bench' }, usesTaskDependencies: deps });
  const t0 = process.hrtime.bigint();
  await addAll(batch, job, specs);
  const added = Number(process.hrtime.bigint() - t0) / 1e9;
  await waitFor(async () => (await batch.job.getTaskCounts(job)).taskCounts.completed === specs.length,
    { timeoutMs: 1800000, intervalMs: 100, what: `${job} completion` });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = (await batch.job.getTaskCounts(job)).taskCounts;
  if (c.succeeded !== specs.length) throw new Error(`${job}: only ${c.succeeded} succeeded`);
  return { secs, added };
}

const specs = [];
for (let s = 0; s < Math.ceil(N / L); s++) {
  for (let k = 0; k < L && s * L + k < N; k++) {
    const t = { id: `s${s}-${k}`, commandLine: '/bin/true' };
    if (k > 0) t.dependsOn = { taskIds: [`s${s}-${k - 1}`] };
    specs.push(t);
  }
}

const srv = await startServer({ name: 'bench-deps', args: ['--set', 'sched.poll_ms=1000'] });
const rows = [];
try {
  const batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  await batch.pool.add({ id: 'bench', vmSize: 'local', targetDedicatedNodes: 2, taskSlotsPerNode: 4 });
  await waitFor(async () => {
    const n = await batch.computeNode.list('bench');
    return n.length === 2 && n.every((x) => x.state === 'idle');
  }, { timeoutMs: 30000, what: 'bench nodes idle' });

  const d = await run(batch, 'deps', specs, true);
  rows.push([`${Math.ceil(N / L)} chains of ${L}`, N, d]);
  if (BASELINE) {
    const plain = specs.map(({ id, commandLine }) => ({ id, commandLine }));
    rows.push(['no dependencies', N, await run(batch, 'plain', plain, false)]);
  }
  // Deleted only now: removing 100,000 task directories on the nodes would
  // otherwise run alongside the next measurement.
  for (const job of ['deps', 'plain'].slice(0, rows.length)) await batch.job.deleteMethod(job);
  await batch.pool.deleteMethod('bench');

  console.log('\ndependencies, /bin/true, 2 nodes x 4 slots');
  console.log('| job                        |  tasks | added in s | seconds |  tasks/s |');
  console.log('|----------------------------|-------:|-----------:|--------:|---------:|');
  for (const [name, n, r] of rows)
    console.log(`| ${name.padEnd(26)} | ${String(n).padStart(6)} | ${r.added.toFixed(2).padStart(10)} | ${r.secs.toFixed(2).padStart(7)} | ${(n / r.secs).toFixed(0).padStart(8)} |`);
} finally {
  await srv.stop();
}
