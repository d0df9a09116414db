#!/usr/bin/env node
// bench/blob/run.mjs: the Blob service of shoald side by side with Azurite
// (npm azurite, pinned in package-lock), same machine, same client.
//
//   node bench/blob/run.mjs            (bench/run calls it; SHOAL_BIN picks
//                                       the shoald binary, default bin/)
//   BENCH_SECONDS=2 BENCH_RUNS=3       (per small-blob phase; repetitions)
//   BENCH_SHOAL_ARGS="--set db.sync=normal"  (extra shoald flags)
//   BENCH_ONLY=shoal                   (skip Azurite: quick experiments)
//   BENCH_CLIENT=node                  (force the Node client for small blobs)
//   BENCH_LARGE_CLIENT=curl            (curl for the 256 MiB transfers)
//
// Clients, the same for both servers:
//   - small blobs: bench/loadgen (C, libcurl multi, one thread, keep-alive,
//     SharedKey signing), compiled on first use into build/bench/loadgen.
//     Node's HTTP stack saturates a core near 4k puts/s on this kind of
//     box, so a Node client measured itself; loadgen costs a fraction of
//     the CPU per request. Without cc or libcurl/libcrypto headers the
//     script falls back to raw node:http (and says so in the table title).
//   - 256 MiB transfers: bench/xfer (C, compiled like loadgen): the body
//     goes file -> socket with sendfile and socket -> /dev/null with splice,
//     so the client copies no byte. With curl the download measured curl's
//     copy out of the socket (about 3 GB/s here) rather than the server.
//     BENCH_LARGE_CLIENT=curl picks curl; without cc, curl is used, and
//     without curl, node:http (its own HTTP stack tops out near 1 GB/s).
// Metrics, each the median of BENCH_RUNS runs (servers alternate within a
// run):
//
//   - 4 KiB Put Blob ops/s with 16 concurrent requests
//   - 4 KiB Get Blob ops/s with 16 concurrent requests
//   - the same ops per second of server CPU (utime+stime of the server
//     process from /proc/PID/stat over the phase): with two cores shared by
//     client and server, this is the fairer comparison of server cost
//   - 256 MiB single Put Blob, MiB/s (body sent from a file)
//   - 256 MiB single Get Blob, MiB/s (body drained)
//   - for both, MiB per second of server CPU
//   - peak RSS of each server over the whole run (VmHWM in /proc/PID/status)
//
// A phase that saw errors (non-2xx) is invalid: its errors are printed and
// the table marks it with '!'; the script then exits 1.
//
// shoald runs with its defaults (db.sync=full: every acknowledged write is
// fsync'd); Azurite with its defaults (disk persistence, no fsync). Not a
// test: nothing here asserts. Runs in about a minute and a half.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, tmpDir } from '../../tests/integ/lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const ACCOUNT = 'devstoreaccount1';
const KEY = Buffer.from('Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', 'base64');
const VERSION = '2021-10-04'; // one Azurite 3.37 knows, so no version skew
const SECONDS = +(process.env.BENCH_SECONDS || 2);
const RUNS = +(process.env.BENCH_RUNS || 3);
const CONCURRENCY = 16;
const SMALL = 4096;
const LARGE = 256 * 1024 * 1024;
const GET_SET = 256;
const PUT_SET = 1024; // names the put phase cycles through (overwrites)

// A bench client in C (bench/NAME.c), compiled on first use or when older
// than its source. Returns { bin } or { bin: null, why } when cc or the
// libraries (pkg-config names) are missing.
function buildTool(name, pkgs) {
  const src = path.join(root, 'bench', `${name}.c`);
  const bin = path.join(root, 'build', 'bench', name);
  try {
    if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs) {
      const libs = pkgs.length ? execFileSync('pkg-config', ['--cflags', '--libs', ...pkgs],
        { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim().split(/\s+/).filter(Boolean) : [];
      fs.mkdirSync(path.dirname(bin), { recursive: true });
      const tmp = `${bin}.tmp${process.pid}`;
      execFileSync(process.env.CC || 'cc', ['-O2', '-std=c11', '-D_POSIX_C_SOURCE=200809L', '-D_DEFAULT_SOURCE',
        src, '-o', tmp, ...libs], { stdio: ['ignore', 'pipe', 'pipe'] });
      fs.renameSync(tmp, bin);
    }
    return { bin };
  } catch (e) {
    const why = (e.stderr && e.stderr.toString().trim().split('\n')[0]) || e.message;
    return { bin: null, why: `cannot build bench/${name}: ${why}` };
  }
}

function buildLoadgen() {
  if (process.env.BENCH_CLIENT === 'node') return { bin: null, why: 'BENCH_CLIENT=node' };
  return buildTool('loadgen', ['libcurl', 'libcrypto']);
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

function sign(method, rawPath, headers) {
  const h = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = String(v);
  h['x-ms-date'] = new Date().toUTCString();
  h['x-ms-version'] = VERSION;
  const [p, q = ''] = rawPath.split('?');
  const len = h['content-length'];
  const xms = Object.keys(h).filter((k) => k.startsWith('x-ms-')).sort().map((k) => `${k}:${h[k]}\n`).join('');
  let res = `/${ACCOUNT}${p}`;
  for (const part of q.split('&').filter(Boolean).sort()) {
    const [k, v = ''] = part.split('=');
    res += `\n${decodeURIComponent(k).toLowerCase()}:${decodeURIComponent(v)}`;
  }
  const sts = [method, h['content-encoding'] ?? '', h['content-language'] ?? '', len && len !== '0' ? len : '',
    h['content-md5'] ?? '', h['content-type'] ?? '', '', '', '', '', '', ''].join('\n') + '\n' + xms + res;
  h.authorization = `SharedKey ${ACCOUNT}:${crypto.createHmac('sha256', KEY).update(sts).digest('base64')}`;
  return h;
}

function client(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
  // body: Buffer, or { size, chunk } to stream size bytes of repeated chunk
  return (method, relPath, headers = {}, body) => new Promise((resolve, reject) => {
    const rawPath = `/${ACCOUNT}${relPath}`;
    const hdrs = { ...headers };
    const size = body === undefined ? 0 : Buffer.isBuffer(body) ? body.length : body.size;
    if (body !== undefined) hdrs['content-length'] = size;
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, agent, headers: sign(method, rawPath, hdrs) }, (res) => {
      let n = 0;
      res.on('data', (d) => { n += d.length; });
      res.on('end', () => (res.statusCode < 300 ? resolve(n) : reject(new Error(`${method} ${rawPath}: ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === undefined || Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    let left = body.size;
    const pump = () => {
      while (left > 0) {
        const part = left >= body.chunk.length ? body.chunk : body.chunk.subarray(0, left);
        left -= part.length;
        if (!req.write(part)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

// The client of the 256 MiB transfers: bench/xfer (splice/sendfile, so
// the client copies nothing and the server is what is measured), or curl
// when BENCH_LARGE_CLIENT=curl or xfer cannot be built, or node:http when
// there is no curl either. Returns { kind, bin }.
function largeClient() {
  const haveCurl = (() => {
    try {
      execFileSync('curl', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (process.env.BENCH_LARGE_CLIENT !== 'curl') {
    const { bin, why } = buildTool('xfer', []);
    if (bin) return { kind: 'xfer', bin };
    process.stderr.write(`bench/blob: ${why}; large transfers ${haveCurl ? 'with curl' : 'with node:http'}\n`);
  }
  return haveCurl ? { kind: 'curl' } : { kind: 'node' };
}

// One large transfer: 'PUT' sends file, 'GET' drains. Returns MiB/s.
function largeTransfer(lc, port, method, relPath, file) {
  const rawPath = `/${ACCOUNT}${relPath}`;
  const extra = method === 'PUT' ? { 'x-ms-blob-type': 'BlockBlob', 'content-length': LARGE } : {};
  const h = sign(method, rawPath, extra);
  const url = `http://127.0.0.1:${port}${rawPath}`;
  if (lc.kind === 'xfer') {
    delete h['content-length']; // xfer sends the file's size itself
    const args = ['--url', url];
    for (const [k, v] of Object.entries(h)) args.push('-H', `${k}: ${v}`);
    if (method === 'PUT') args.push('--put', file);
    const r = JSON.parse(execFileSync(lc.bin, args).toString());
    if (r.bytes !== LARGE) throw new Error(`${method} ${relPath}: ${r.bytes} bytes`);
    return r.mib_per_s;
  }
  const args = ['-sf', '-o', '/dev/null', '-w', method === 'PUT' ? '%{speed_upload}' : '%{speed_download}'];
  for (const [k, v] of Object.entries(h)) args.push('-H', `${k}: ${v}`);
  if (method === 'PUT') args.push('-T', file);
  args.push(url);
  return +execFileSync('curl', args).toString() / (1024 * 1024);
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function startAzurite() {
  const dir = tmpDir('bench-azurite');
  const port = await freePort();
  const bin = path.join(root, 'node_modules', '.bin', 'azurite-blob');
  const proc = spawn(bin, ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir,
    '--silent', '--skipApiVersionCheck', '--disableTelemetry'], { stdio: 'ignore' });
  const deadline = Date.now() + 30000;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error('azurite did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name: 'azurite', port, pid: proc.pid, dir,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', r)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startShoal() {
  const args = (process.env.BENCH_SHOAL_ARGS || '').split(' ').filter(Boolean);
  const srv = await startServer({ name: 'bench-shoal', logLevel: 'warn', args });
  return {
    name: 'shoal', port: srv.ports.blob, pid: srv.pid, dir: srv.dataDir,
    stop: async () => { await srv.stop(); fs.rmSync(srv.dataDir, { recursive: true, force: true }); },
  };
}

function peakRssMiB(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? +m[1] / 1024 : NaN;
}

// The Node fallback's small-blob phase: { rate, perCpu } like loadgen's.
async function loop(pid, fn) {
  const until = Date.now() + SECONDS * 1000;
  const start = process.hrtime.bigint();
  const cpu0 = cpuSeconds(pid);
  let ops = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => {
    for (let i = 0; Date.now() < until; i++) {
      await fn(w, i);
      ops++;
    }
  }));
  const cpu = cpuSeconds(pid) - cpu0;
  return { rate: ops / (Number(process.hrtime.bigint() - start) / 1e9), perCpu: ops / cpu, errors: 0 };
}

// The small-blob phases with loadgen: put, fill the get set, get.
async function smallWithLoadgen(bin, s) {
  const base = ['--url', `http://127.0.0.1:${s.port}/${ACCOUNT}`, '--account', ACCOUNT, '--key', KEY.toString('base64'),
    '--container', 'bench', '--size', String(SMALL), '--concurrency', String(CONCURRENCY), '--pid', String(s.pid)];
  const phase = (r) => ({ rate: r.ops_per_s, perCpu: r.ops_per_server_cpu_s ?? NaN, errors: r.errors, clientCpu: r.client_cpu_s / r.seconds });
  const put = phase(await loadgen(bin, [...base, '--op', 'blob-put', '--seconds', String(SECONDS),
    '--prefix', 's-', '--keys', String(PUT_SET)]));
  const fill = await loadgen(bin, [...base, '--op', 'blob-put', '--seconds', '0', '--ops', String(GET_SET),
    '--prefix', 'g-', '--keys', String(GET_SET)]);
  if (fill.errors) throw new Error(`${s.name}: filling the get set: ${fill.errors} errors`);
  const get = phase(await loadgen(bin, [...base, '--op', 'blob-get', '--seconds', String(SECONDS),
    '--prefix', 'g-', '--keys', String(GET_SET)]));
  return { put, get };
}

// Write back every dirty page before a phase, so that no phase pays for
// the writeback of the one before it (Azurite never syncs: its 256 MiB
// upload would otherwise still be going to disk while the next server's
// phase runs, and the large input file is written just before run 1).
function settle() {
  execFileSync('sync');
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function runOnce(s, lg, lc, small, chunk, largeFile) {
  const req = client(s.port);
  let put;
  let get;
  settle();
  if (lg) {
    ({ put, get } = await smallWithLoadgen(lg, s));
  } else {
    put = await loop(s.pid, (w, i) => req('PUT', `/bench/s-${w}-${i % 64}`, { 'x-ms-blob-type': 'BlockBlob' }, small));
    for (let i = 0; i < GET_SET; i++) await req('PUT', `/bench/g-${i}`, { 'x-ms-blob-type': 'BlockBlob' }, small);
    get = await loop(s.pid, (w, i) => req('GET', `/bench/g-${(w * 7 + i) % GET_SET}`));
  }
  // each large transfer: MiB/s, and MiB per second of server CPU
  const large = async (fn) => {
    const cpu0 = cpuSeconds(s.pid);
    const rate = await fn();
    const cpu = cpuSeconds(s.pid) - cpu0;
    return { rate, perCpu: LARGE / (1024 * 1024) / Math.max(cpu, 0.01) };
  };
  settle();
  if (lc.kind !== 'node') {
    const up = await large(() => largeTransfer(lc, s.port, 'PUT', '/bench/large', largeFile));
    const down = await large(() => largeTransfer(lc, s.port, 'GET', '/bench/large'));
    return { put, get, up, down };
  }
  const MiB = 1024 * 1024;
  const up = await large(async () => LARGE / MiB / await timed(() => req('PUT', '/bench/large', { 'x-ms-blob-type': 'BlockBlob' }, { size: LARGE, chunk })));
  let got = 0;
  const down = await large(async () => LARGE / MiB / await timed(async () => { got = await req('GET', '/bench/large'); }));
  if (got !== LARGE) throw new Error(`${s.name}: downloaded ${got} bytes`);
  return { put, get, up, down };
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function main() {
  const t0 = Date.now();
  const small = crypto.randomBytes(SMALL);
  const chunk = crypto.randomBytes(1024 * 1024);
  const { bin: lg, why } = buildLoadgen();
  if (!lg) process.stderr.write(`bench/blob: ${why}; small blobs fall back to the Node client (client-bound)\n`);
  const lc = largeClient();
  let largeDir = null;
  let largeFile = null;
  if (lc.kind !== 'node') {
    largeDir = tmpDir('bench-large');
    largeFile = path.join(largeDir, 'large.bin');
    const fd = fs.openSync(largeFile, 'w');
    for (let i = 0; i < LARGE / chunk.length; i++) fs.writeSync(fd, chunk);
    fs.closeSync(fd);
  }
  const only = process.env.BENCH_ONLY;
  const servers = [];
  const results = { shoal: [], azurite: [] };
  const invalid = [];
  try {
    if (!only || only === 'shoal') servers.push(await startShoal());
    if (!only || only === 'azurite') servers.push(await startAzurite());
    for (const s of servers) await client(s.port)('PUT', '/bench?restype=container');
    for (let r = 0; r < RUNS; r++) {
      for (const s of r % 2 ? [...servers].reverse() : servers) {
        const res = await runOnce(s, lg, lc, small, chunk, largeFile);
        results[s.name].push(res);
        for (const k of ['put', 'get']) {
          if (res[k].errors) invalid.push(`${s.name} ${k} run ${r + 1}: ${res[k].errors} errors`);
        }
        const client = (x) => (x.clientCpu === undefined ? '' : `, client ${(100 * x.clientCpu).toFixed(0)}% cpu`);
        process.stderr.write(`run ${r + 1}/${RUNS} ${s.name}: put ${res.put.rate.toFixed(0)}/s ` +
          `(${res.put.perCpu.toFixed(0)}/cpu-s${client(res.put)}) get ${res.get.rate.toFixed(0)}/s ` +
          `(${res.get.perCpu.toFixed(0)}/cpu-s${client(res.get)}) ` +
          `up ${res.up.rate.toFixed(0)} MiB/s down ${res.down.rate.toFixed(0)} MiB/s\n`);
      }
    }
    const rss = Object.fromEntries(servers.map((s) => [s.name, peakRssMiB(s.pid)]));
    const m = (name, k, f = 'rate') => median(results[name].map((x) => (typeof x[k] === 'object' ? x[k][f] : x[k])));
    if (servers.length < 2) {
      const n = servers[0].name;
      console.log(JSON.stringify({ client: lg ? 'loadgen' : 'node', put: Math.round(m(n, 'put')), put_per_cpu_s: Math.round(m(n, 'put', 'perCpu')),
        get: Math.round(m(n, 'get')), get_per_cpu_s: Math.round(m(n, 'get', 'perCpu')),
        up: Math.round(m(n, 'up')), down: Math.round(m(n, 'down')), rss: rss[n], invalid }));
      if (invalid.length) process.exitCode = 1;
      return;
    }
    const bad = (k) => (invalid.some((x) => x.includes(` ${k} run`)) ? '!' : '');
    const rows = [
      ['4 KiB Put Blob, 16 concurrent (ops/s)', m('shoal', 'put'), m('azurite', 'put'), bad('put'),
        m('shoal', 'put', 'perCpu'), m('azurite', 'put', 'perCpu')],
      ['4 KiB Get Blob, 16 concurrent (ops/s)', m('shoal', 'get'), m('azurite', 'get'), bad('get'),
        m('shoal', 'get', 'perCpu'), m('azurite', 'get', 'perCpu')],
      ['256 MiB Put Blob (MiB/s)', m('shoal', 'up'), m('azurite', 'up'), '',
        m('shoal', 'up', 'perCpu'), m('azurite', 'up', 'perCpu')],
      ['256 MiB Get Blob (MiB/s)', m('shoal', 'down'), m('azurite', 'down'), '',
        m('shoal', 'down', 'perCpu'), m('azurite', 'down', 'perCpu')],
    ];
    const pad = (x, n) => String(x).padStart(n);
    console.log(`blob service, median of ${RUNS} runs (${SECONDS} s per small-blob phase; small blobs with ` +
      `${lg ? 'bench/loadgen (C, libcurl multi)' : `the Node client (FALLBACK: ${why}; client-bound)`}; ` +
      `large transfers with ${{ xfer: 'bench/xfer (splice/sendfile)', curl: 'curl', node: 'node:http' }[lc.kind]}; shoald durable: db.sync=full)`);
    console.log(`${'metric'.padEnd(40)}${pad('shoal', 10)}${pad('azurite', 10)}${pad('ratio', 9)}` +
      `${pad('shoal/cpu-s', 14)}${pad('azurite/cpu-s', 14)}${pad('ratio', 9)}`);
    for (const [label, a, b, flag, ac, bc] of rows) {
      let line = `${label.padEnd(40)}${pad(a.toFixed(0) + flag, 10)}${pad(b.toFixed(0), 10)}${pad((a / b).toFixed(1) + 'x', 9)}`;
      if (ac !== undefined) line += `${pad(ac.toFixed(0), 14)}${pad(bc.toFixed(0), 14)}${pad((ac / bc).toFixed(1) + 'x', 9)}`;
      console.log(line);
    }
    console.log(`${'peak RSS (MiB, lower is better)'.padEnd(40)}${pad(rss.shoal.toFixed(1), 10)}${pad(rss.azurite.toFixed(1), 10)}${pad((rss.shoal / rss.azurite).toFixed(2) + 'x', 9)}`);
    console.log(`(/cpu-s: ops, or MiB, per second of server CPU, utime+stime over the phase; total ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    for (const x of invalid) console.log(`! invalid: ${x}`);
    if (invalid.length) process.exitCode = 1;
  } finally {
    for (const s of servers) await s.stop();
    if (largeDir) fs.rmSync(largeDir, { recursive: true, force: true });
  }
}

await main();
