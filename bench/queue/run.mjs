// bench/queue/run.mjs: shoal's Queue service side by side with Azurite.
//
//   node bench/queue/run.mjs            (or: bench/run queue)
//   BENCH_SECONDS=4 BENCH_RUNS=3 BENCH_CLIENTS=16 BENCH_TRIPS=500 SHOAL_BIN=... node bench/queue/run.mjs
//   BENCH_CLIENT=node                   (force the SDK client)
//
// Both servers run on this machine on free ports with temp data dirs
// (shoald with its defaults: db.sync=full, every write's WAL flushed
// before its reply; Azurite 3.37.0 with its defaults, --silent
// --skipApiVersionCheck), side by side (the order
// alternates run by run), and are driven by the same client:
// bench/loadgen (C, libcurl multi, one thread, keep-alive, SharedKey),
// compiled on first use into build/bench/loadgen. A Node client saturates
// a core before shoald does and so measured itself; without cc or the
// libcurl/libcrypto headers the script falls back to the pinned
// @azure/storage-queue SDK and says so in the table title. The SDK also
// creates, clears and deletes the queues. Per server and run:
//
//   put          BENCH_CLIENTS concurrent clients send 256-byte messages
//                for BENCH_SECONDS; msgs/s = acknowledged puts / elapsed
//   get+delete   the queue is cleared and filled with BENCH_BACKLOG
//                messages (default 2000, not timed), the same for both
//                servers; then BENCH_CLIENTS clients each get one message
//                (numofmessages=1) and delete it, until the time is up or
//                the queue runs dry; msgs/s = deleted / elapsed. The same
//                backlog matters: Azurite's get filters and sorts the whole
//                queue on every call (LokiQueueMetadataStore.getMessages),
//                so it slows as the queue grows
//   round trip   one client: put a message, get it (polling), delete it;
//                latency of put -> get, BENCH_TRIPS times
//
// The throughput phases also record the server's CPU time (utime+stime
// of its process from /proc/PID/stat): msgs per server CPU second is the
// fairer comparison when client and servers share two cores.
//
// The table shows medians over BENCH_RUNS runs (latency: the median of
// each run's p50 and p99), peak RSS of each server, and the ratio
// shoal : Azurite (throughput: shoal / Azurite; latency and memory:
// Azurite / shoal, so above 1 means shoal is better). A phase with errors
// (non-2xx) is invalid: the errors are printed, the table marks it with
// '!' and the script exits 1. Not a test: nothing here asserts.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QueueServiceClient } from '@azure/storage-queue';
import { startServer, tmpDir, waitFor, DEV_ACCOUNT, DEV_KEY } from '../../tests/integ/lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const SECONDS = Number(process.env.BENCH_SECONDS || 4);
const RUNS = Number(process.env.BENCH_RUNS || 3);
const BACKLOG = Number(process.env.BENCH_BACKLOG || 2000);
const CLIENTS = Number(process.env.BENCH_CLIENTS || 16);
const SIZE = 256;
const TEXT = 'x'.repeat(SIZE);

// bench/loadgen, compiled on first use or when older than its source.
// Returns { bin } or { bin: null, why } when cc or the libraries are missing.
function buildLoadgen() {
  if (process.env.BENCH_CLIENT === 'node') return { bin: null, why: 'BENCH_CLIENT=node' };
  const src = path.join(root, 'bench', 'loadgen.c');
  const bin = path.join(root, 'build', 'bench', 'loadgen');
  try {
    if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs) {
      const libs = execFileSync('pkg-config', ['--cflags', '--libs', 'libcurl', 'libcrypto'],
        { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim().split(/\s+/).filter(Boolean);
      fs.mkdirSync(path.dirname(bin), { recursive: true });
      const tmp = `${bin}.tmp${process.pid}`;
      execFileSync(process.env.CC || 'cc', ['-O2', '-std=c11', '-D_POSIX_C_SOURCE=200809L', '-D_DEFAULT_SOURCE',
        src, '-o', tmp, ...libs], { stdio: ['ignore', 'pipe', 'pipe'] });
      fs.renameSync(tmp, bin);
    }
    return { bin };
  } catch (e) {
    const why = (e.stderr && e.stderr.toString().trim().split('\n')[0]) || e.message;
    return { bin: null, why: `cannot build bench/loadgen: ${why}` };
  }
}

// One loadgen phase; resolves with its JSON line (errors > 0: invalid, and
// loadgen has printed them on stderr, which is passed through).
function loadgen(bin, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', reject);
    p.on('close', (code) => {
      if (err) process.stderr.write(err);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch {
        reject(new Error(`loadgen ${args.join(' ')}: exit ${code}: ${err}`));
      }
    });
  });
}

// utime + stime of a process, in seconds (all its threads).
function cpuSeconds(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (+v[11] + +v[12]) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

const LG = buildLoadgen();
const TRIPS = Number(process.env.BENCH_TRIPS || (LG.bin ? 500 : 150));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function tcpUp(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

function peakRssMiB(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch { return NaN; }
}

async function startAzurite() {
  const port = await freePort();
  const dir = tmpDir('azurite-queue');
  const main = path.join(root, 'node_modules/azurite/dist/src/queue/main.js');
  const proc = spawn(process.execPath, [main, '--queuePort', String(port), '--queueHost', '127.0.0.1',
    '--location', dir, '--silent', '--skipApiVersionCheck', '--disableTelemetry'],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  let exited = false;
  proc.on('exit', () => { exited = true; });
  await waitFor(async () => {
    if (exited) throw new Error('azurite-queue exited early');
    return tcpUp(port);
  }, { timeoutMs: 30000, what: 'azurite-queue' });
  const url = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
  return {
    name: 'Azurite',
    pid: proc.pid,
    url,
    connStr: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};QueueEndpoint=${url};`,
    stop: async () => {
      if (exited) return;
      proc.kill('SIGTERM');
      await waitFor(() => exited, { timeoutMs: 20000, what: 'azurite exit' }).catch(() => proc.kill('SIGKILL'));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startShoal() {
  const srv = await startServer({ name: 'bench-queue', logLevel: 'warn' });
  return {
    name: 'shoal',
    pid: srv.pid,
    url: srv.queueUrl,
    connStr: srv.connStr,
    stop: async () => {
      await srv.stop();
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    },
  };
}

function clients(connStr, n) {
  return Array.from({ length: n }, () => QueueServiceClient.fromConnectionString(connStr));
}

// The SDK fallback's throughput phase: { rate, perCpu } like loadgen's.
async function timed(pid, workers, body) {
  const t0 = performance.now();
  const cpu0 = cpuSeconds(pid);
  const deadline = t0 + SECONDS * 1000;
  let done = 0;
  let dry = false;
  await Promise.all(workers.map(async (w) => {
    while (performance.now() < deadline) {
      const n = await body(w);
      if (n < 0) { dry = true; return; } // nothing left
      done += n;
    }
  }));
  const cpu = cpuSeconds(pid) - cpu0;
  return { rate: done / ((performance.now() - t0) / 1000), perCpu: done / cpu, ops: done, errors: 0, dry };
}

async function runOnceSdk(server, q0, qs) {
  const put = await timed(server.pid, qs, async (q) => { await q.sendMessage(TEXT); return 1; });
  await q0.clearMessages();
  for (let i = 0; i < BACKLOG; i += qs.length) {
    await Promise.all(qs.slice(0, Math.min(qs.length, BACKLOG - i)).map((q) => q.sendMessage(TEXT)));
  }
  const getDel = await timed(server.pid, qs, async (q) => {
    const m = (await q.receiveMessages()).receivedMessageItems[0];
    if (!m) return -1;
    await q.deleteMessage(m.messageId, m.popReceipt);
    return 1;
  });

  await q0.clearMessages();
  const lat = [];
  for (let i = 0; i < TRIPS; i++) {
    const text = `trip-${i}`;
    const t0 = performance.now();
    await q0.sendMessage(text);
    let m;
    while (!(m = (await q0.receiveMessages()).receivedMessageItems[0]));
    lat.push(performance.now() - t0);
    if (m.messageText !== text) throw new Error(`round trip got ${m.messageText}`);
    await q0.deleteMessage(m.messageId, m.popReceipt);
  }
  return { put, getDel, trip: { p50: pct(lat, 0.5), p99: pct(lat, 0.99), errors: 0 } };
}

async function runOnceLoadgen(server, q0, name) {
  const base = ['--url', server.url, '--account', DEV_ACCOUNT, '--key', DEV_KEY, '--queue', name,
    '--size', String(SIZE), '--concurrency', String(CLIENTS), '--pid', String(server.pid)];
  const phase = (r) => ({ rate: r.ops_per_s, perCpu: r.ops_per_server_cpu_s ?? NaN, ops: r.ops, errors: r.errors,
    dry: r.dry, clientCpu: r.client_cpu_s / r.seconds });
  const put = phase(await loadgen(LG.bin, [...base, '--op', 'queue-put', '--seconds', String(SECONDS)]));
  await q0.clearMessages();
  const fill = await loadgen(LG.bin, [...base, '--op', 'queue-put', '--seconds', '0', '--ops', String(BACKLOG)]);
  if (fill.errors) throw new Error(`${server.name}: filling the backlog saw ${fill.errors} errors`);
  const getDel = phase(await loadgen(LG.bin, [...base, '--op', 'queue-getdel', '--seconds', String(SECONDS)]));
  await q0.clearMessages();
  const t = await loadgen(LG.bin, [...base, '--op', 'queue-latency', '--seconds', '0', '--ops', String(TRIPS)]);
  return { put, getDel, trip: { p50: t.p50_ms, p99: t.p99_ms, errors: t.errors } };
}

async function runOnce(server, run) {
  const name = `bench-${run}`;
  const svcs = clients(server.connStr, LG.bin ? 1 : CLIENTS);
  const q0 = svcs[0].getQueueClient(name);
  await q0.create();
  const res = LG.bin ? await runOnceLoadgen(server, q0, name)
    : await runOnceSdk(server, q0, svcs.map((s) => s.getQueueClient(name)));
  await q0.delete();
  return res;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

const t0 = Date.now();
const clientName = LG.bin ? 'bench/loadgen (C, libcurl multi)' : `@azure/storage-queue 12.32.0 (FALLBACK: ${LG.why}; client-bound)`;
if (!LG.bin) process.stderr.write(`bench/queue: ${LG.why}; falling back to the SDK client (client-bound)\n`);
process.stderr.write(`queue bench: ${CLIENTS} clients, ${SECONDS}s phases, ${RUNS} runs, ${TRIPS} round trips/run\n`);
const servers = [];
const runs = { shoal: [], Azurite: [] };
const invalid = [];
try {
  servers.push(await startShoal());
  servers.push(await startAzurite());
  for (let r = 0; r < RUNS; r++) {
    for (const server of r % 2 ? [...servers].reverse() : servers) {
      const x = await runOnce(server, r);
      runs[server.name].push(x);
      for (const [k, v] of [['put', x.put], ['get+delete', x.getDel], ['round trip', x.trip]]) {
        if (v.errors) invalid.push(`${server.name} ${k} run ${r + 1}: ${v.errors} errors`);
      }
      const client = (v) => (v.clientCpu === undefined ? '' : `, client ${(100 * v.clientCpu).toFixed(0)}% cpu`);
      process.stderr.write(`  ${server.name} run ${r + 1}/${RUNS}: put ${x.put.rate.toFixed(0)}/s ` +
        `(${x.put.perCpu.toFixed(0)}/cpu-s${client(x.put)}), get+delete ${x.getDel.rate.toFixed(0)}/s ` +
        `(${x.getDel.perCpu.toFixed(0)}/cpu-s${client(x.getDel)}, ${x.getDel.ops} of ${BACKLOG}${x.getDel.dry ? ', ran dry' : ''}), ` +
        `put->get p50 ${x.trip.p50.toFixed(2)} ms p99 ${x.trip.p99.toFixed(2)} ms\n`);
    }
  }
  const rss = Object.fromEntries(servers.map((s) => [s.name, peakRssMiB(s.pid)]));
  const m = (name, f) => median(runs[name].map(f));
  const bad = (k) => (invalid.some((x) => x.includes(` ${k} run`)) ? '!' : '');
  const rows = [
    ['put msgs/s', (x) => x.put.rate, 0, false, bad('put'), (x) => x.put.perCpu],
    ['get+delete msgs/s', (x) => x.getDel.rate, 0, false, bad('get+delete'), (x) => x.getDel.perCpu],
    ['put->get p50 ms', (x) => x.trip.p50, 2, true, bad('round trip')],
    ['put->get p99 ms', (x) => x.trip.p99, 2, true, bad('round trip')],
  ];
  console.log(`\nqueue: ${CLIENTS} concurrent clients, ${SIZE}-byte messages, ${SECONDS} s phases, ${TRIPS} round trips; ` +
    `medians of ${RUNS} runs; client ${clientName}`);
  console.log(`${'metric'.padEnd(22)}${'shoal'.padStart(12)}${'Azurite'.padStart(12)}${'ratio'.padStart(10)}` +
    `${'shoal/cpu-s'.padStart(14)}${'Azurite/cpu-s'.padStart(15)}${'ratio'.padStart(9)}`);
  for (const [label, f, digits, lowerBetter, flag, fc] of rows) {
    const a = m('shoal', f);
    const b = m('Azurite', f);
    let line = `${label.padEnd(22)}${(a.toFixed(digits) + flag).padStart(12)}${b.toFixed(digits).padStart(12)}` +
      `${((lowerBetter ? b / a : a / b).toFixed(1) + 'x').padStart(10)}`;
    if (fc) {
      const ac = m('shoal', fc);
      const bc = m('Azurite', fc);
      line += `${ac.toFixed(0).padStart(14)}${bc.toFixed(0).padStart(15)}${((ac / bc).toFixed(1) + 'x').padStart(9)}`;
    }
    console.log(line);
  }
  console.log(`${'peak RSS MiB'.padEnd(22)}${rss.shoal.toFixed(1).padStart(12)}${rss.Azurite.toFixed(1).padStart(12)}` +
    `${((rss.Azurite / rss.shoal).toFixed(1) + 'x').padStart(10)}`);
  console.log(`(ratio > 1: shoal better; /cpu-s: msgs per second of server CPU, utime+stime over the phase; ` +
    `total ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  console.log(`(get+delete starts from the same ${BACKLOG}-message queue on both servers: BENCH_BACKLOG; ` +
    `Azurite's get slows as its queue grows)`);
  for (const x of invalid) console.log(`! invalid: ${x}`);
  if (invalid.length) process.exitCode = 1;
} finally {
  for (const s of servers) await s.stop();
}
