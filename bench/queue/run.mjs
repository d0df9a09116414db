// bench/queue/run.mjs: shoal's Queue service side by side with Azurite.
//
//   node bench/queue/run.mjs            (or: bench/run queue)
//   BENCH_SECONDS=4 BENCH_RUNS=3 BENCH_CLIENTS=16 SHOAL_BIN=... node bench/queue/run.mjs
//
// Both servers run on this machine on free ports with temp data dirs
// (shoald with its defaults: synchronous=FULL; Azurite 3.37.0 with its
// defaults, --silent --skipApiVersionCheck), and are driven by the same
// client: the pinned @azure/storage-queue SDK. Per server and run:
//
//   put          BENCH_CLIENTS workers send 256-byte messages for
//                BENCH_SECONDS; msgs/s = acknowledged puts / elapsed
//   get+delete   BENCH_CLIENTS workers each get one message (the default
//                numofmessages) and delete it, until the time is up or the
//                queue runs dry; msgs/s = deleted / elapsed
//   round trip   one client: put a message, get it (polling), delete it;
//                latency of put -> get, BENCH_TRIPS times
//
// The table shows medians over BENCH_RUNS runs (latency percentiles over
// all trips), peak RSS of each server, and the ratio shoal : Azurite
// (throughput: shoal / Azurite; latency and memory: Azurite / shoal, so
// above 1 means shoal is better). Not a test: nothing here asserts.
import { spawn } from 'node:child_process';
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
const CLIENTS = Number(process.env.BENCH_CLIENTS || 16);
const TRIPS = Number(process.env.BENCH_TRIPS || 150);
const TEXT = 'x'.repeat(256);

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

async function timed(workers, body) {
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  let done = 0;
  await Promise.all(workers.map(async (w) => {
    while (performance.now() < deadline) {
      const n = await body(w);
      if (n < 0) return; // nothing left
      done += n;
    }
  }));
  return done / ((performance.now() - t0) / 1000);
}

async function runOnce(server, run) {
  const name = `bench-${run}`;
  const svcs = clients(server.connStr, CLIENTS);
  const q0 = svcs[0].getQueueClient(name);
  await q0.create();
  const qs = svcs.map((s) => s.getQueueClient(name));

  const put = await timed(qs, async (q) => { await q.sendMessage(TEXT); return 1; });
  const getDel = await timed(qs, async (q) => {
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
  await q0.delete();
  return { put, getDel, lat };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

async function bench(start) {
  const server = await start();
  try {
    const runs = [];
    for (let r = 0; r < RUNS; r++) {
      runs.push(await runOnce(server, r));
      process.stderr.write(`  ${server.name} run ${r + 1}/${RUNS}: put ${runs[r].put.toFixed(0)}/s, ` +
        `get+delete ${runs[r].getDel.toFixed(0)}/s\n`);
    }
    const lat = runs.flatMap((x) => x.lat);
    return {
      put: median(runs.map((x) => x.put)),
      getDel: median(runs.map((x) => x.getDel)),
      p50: pct(lat, 0.5),
      p99: pct(lat, 0.99),
      rss: peakRssMiB(server.pid),
    };
  } finally {
    await server.stop();
  }
}

const t0 = Date.now();
process.stderr.write(`queue bench: ${CLIENTS} clients, ${SECONDS}s phases, ${RUNS} runs, ${TRIPS} round trips/run\n`);
const shoal = await bench(startShoal);
const azurite = await bench(startAzurite);

const rows = [
  ['put msgs/s', shoal.put, azurite.put, shoal.put / azurite.put, 0],
  ['get+delete msgs/s', shoal.getDel, azurite.getDel, shoal.getDel / azurite.getDel, 0],
  ['put->get p50 ms', shoal.p50, azurite.p50, azurite.p50 / shoal.p50, 2],
  ['put->get p99 ms', shoal.p99, azurite.p99, azurite.p99 / shoal.p99, 2],
  ['peak RSS MiB', shoal.rss, azurite.rss, azurite.rss / shoal.rss, 1],
];
console.log(`\nqueue: ${CLIENTS} concurrent clients, @azure/storage-queue 12.32.0, medians of ${RUNS} runs`);
console.log(`${'metric'.padEnd(22)}${'shoal'.padStart(12)}${'Azurite'.padStart(12)}${'ratio'.padStart(10)}`);
for (const [name, a, b, ratio, digits] of rows) {
  console.log(`${name.padEnd(22)}${a.toFixed(digits).padStart(12)}${b.toFixed(digits).padStart(12)}` +
    `${(ratio.toFixed(1) + 'x').padStart(10)}`);
}
console.log(`(ratio > 1: shoal better; total ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
