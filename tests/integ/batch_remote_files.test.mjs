// batch_remote_files.test.mjs: the file API and uploadbatchservicelogs for
// remote (joined) nodes, through @azure/batch 10.2.0 and raw REST. A task
// runs the same command on a local node and on a node joined with
// `shoal-node --join` (its own root: shoald cannot read it, so every
// answer comes from the agent over the node protocol), and the answers
// are compared:
//   - GET stdout.txt, ranged reads (also past the end and malformed),
//     HEAD properties, a directory, a 3 MiB file streamed byte for byte;
//   - lists, recursive, paged with maxresults/$skiptoken, $filter;
//   - 404 for missing files and symlinks, 400 for '..' and absolute
//     paths, the agent's own identity hidden;
//   - delete (file, non-empty directory refused, recursive);
//   - node files (startup/stdout.txt), node lists;
//   - uploadbatchservicelogs into a container SAS of our blob service:
//     the same three blobs a local node gives, refused containers;
//   - the agent restarted while a request waits: answered by the new one;
//   - the agent stopped, then SIGKILLed: the waiting request fails with a
//     clear OData error once the node is unusable, shoald stays up;
//   - shoald stopping with a request waiting: 503, clean exit.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import {
  BlobServiceClient, StorageSharedKeyCredential, generateBlobSASQueryParameters,
  ContainerSASPermissions,
} from '@azure/storage-blob';
import { startServer, waitFor, tmpDir, binDir } from './lib/server.mjs';
import { batchFetch, batchSign } from './lib/batchsign.mjs';

const API = 'api-version=2022-10-01.16.0';
const START = { commandLine: "/bin/sh -c 'echo started; echo oops >&2'", waitForSuccess: true };
// Files for every check: a small text, nested dirs, a symlink out of the
// task dir, 23 files to page through, and 3 MiB of random bytes.
const WRITE = "/bin/sh -c 'echo hello from $AZ_BATCH_NODE_ID; printf 0123456789 > out.txt; " +
  'mkdir -p d/e many; echo x > d/e/f.txt; ln -s /etc/passwd link; ' +
  'for i in $(seq 10 32); do echo $i > many/f$i.txt; done; ' +
  "head -c 3145728 /dev/urandom > big.bin'";

let srv, batch, rootR, agent, nodeR, nodeL;
const agents = []; // shoal-node processes we started: killed by pid at the end

function client(s) {
  return new BatchServiceClient(new BatchSharedKeyCredentials(s.account, s.key), s.batchUrl);
}

async function text(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

async function errOf(p) {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('the call succeeded');
}

function startAgent(args, name) {
  const log = `${rootR}-${name}.log`;
  const fd = fs.openSync(log, 'a');
  const p = spawn(path.join(binDir, 'shoal-node'), args, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const a = { proc: p, pid: p.pid, log: () => fs.readFileSync(log, 'utf8'), exit: null };
  p.on('exit', (code, sig) => { a.exit = { code, sig }; });
  agents.push(a);
  return a;
}

async function waitState(pool, id, pred, what) {
  return waitFor(async () => {
    const l = await batch.computeNode.list(pool);
    const n = l.find((x) => x.id === id) || (id === null ? l[0] : null);
    return n && pred(n) ? n : null;
  }, { timeoutMs: 30000, intervalMs: 50, what });
}

async function waitTask(job, id) {
  return waitFor(async () => {
    const t = await batch.task.get(job, id);
    return t.state === 'completed' ? t : null;
  }, { timeoutMs: 30000, intervalMs: 30, what: `${job}/${id} completed` });
}

// Both jobs' task w, for side-by-side checks.
const R = '/jobs/rj/tasks/w/files';
const L = '/jobs/lj/tasks/w/files';

function get(p, headers = {}, method = 'GET') {
  return batchFetch(srv, method, `${p}${p.includes('?') ? '&' : '?'}${API}`, { headers });
}

// Every page of a list, following odata.nextLink.
async function allPages(p) {
  const names = [];
  let pages = 0;
  let url = `${p}${p.includes('?') ? '&' : '?'}${API}`;
  for (;;) {
    const r = await batchFetch(srv, 'GET', url);
    assert.equal(r.status, 200, r.text);
    names.push(...r.json.value.map((x) => x.name));
    pages++;
    const next = r.json['odata.nextLink'];
    if (!next) break;
    const u = new URL(next);
    url = u.pathname + u.search;
  }
  return { names, pages };
}

test('shoald, a local pool and a joined node; the same task on each', async () => {
  srv = await startServer({
    name: 'batch-remote-files',
    args: ['--set', 'sched.poll_ms=300', '--set', 'sched.heartbeat_timeout_ms=6000'],
  });
  batch = client(srv);
  await batch.pool.add({ id: 'lp', vmSize: 'small', targetDedicatedNodes: 1, startTask: START });
  let r = await batchFetch(srv, 'POST', `/pools?${API}`, {
    body: { id: 'rp', vmSize: 'remote', 'x-shoal-allocation': 'jointoken', startTask: START } });
  assert.equal(r.status, 201, r.text);
  r = await batchFetch(srv, 'POST', `/pools/rp/jointoken?${API}`);
  assert.equal(r.status, 200, r.text);
  rootR = tmpDir('batch-remote-root');
  agent = startAgent(['--join', r.json.joinUrl, '--token', r.json.token, '--root', rootR], 'agent');
  nodeR = (await waitState('rp', null, (n) => n.state === 'idle', 'joined node idle')).id;
  nodeL = (await waitState('lp', null, (n) => n.state === 'idle', 'local node idle')).id;
  // The remote root is not under shoald's data dir: nothing but the agent
  // can serve it.
  assert.ok(!fs.existsSync(path.join(srv.dataDir, 'nodes', 'rp')));
  await batch.job.add({ id: 'rj', poolInfo: { poolId: 'rp' } });
  await batch.job.add({ id: 'lj', poolInfo: { poolId: 'lp' } });
  await batch.task.add('rj', { id: 'w', commandLine: WRITE });
  await batch.task.add('lj', { id: 'w', commandLine: WRITE });
  const tr = await waitTask('rj', 'w');
  const tl = await waitTask('lj', 'w');
  assert.equal(tr.executionInfo.exitCode, 0);
  assert.equal(tl.executionInfo.exitCode, 0);
  assert.equal(tr.nodeInfo.nodeId, nodeR);
});

test('reads: stdout.txt, ranges, HEAD, a directory, as for a local node', async () => {
  const out = await text((await batch.file.getFromTask('rj', 'w', 'stdout.txt')).readableStreamBody);
  assert.equal(out.toString(), `hello from ${nodeR}\n`);
  const props = await batch.file.getPropertiesFromTask('rj', 'w', 'wd/out.txt');
  const lprops = await batch.file.getPropertiesFromTask('lj', 'w', 'wd/out.txt');
  assert.equal(props.contentLength, 10);
  assert.equal(String(props.ocpBatchFileIsdirectory), 'False');
  assert.equal(props.ocpBatchFileIsdirectory, lprops.ocpBatchFileIsdirectory);
  assert.match(props.ocpBatchFileMode, /^0100\d{3}$/);
  assert.equal(props.ocpBatchFileUrl, `${srv.batchUrl}/jobs/rj/tasks/w/files/wd%2Fout.txt`);
  // Ranges: through the SDK and raw; the same bytes and statuses locally.
  const part = await batch.file.getFromTask('rj', 'w', 'wd/out.txt', { fileGetFromTaskOptions: { ocpRange: 'bytes=2-5' } });
  assert.equal((await text(part.readableStreamBody)).toString(), '2345');
  for (const [range, status, body] of [['bytes=5-', 200, '56789'], ['bytes=0-0', 200, '0'],
    ['bytes=8-100', 200, '89'], ['bytes=10-', 416, null], ['bytes=x-1', 400, null],
    ['bytes=0-18446744073709551615', 200, '0123456789']]) {
    const r = await get(`${R}/wd%2Fout.txt`, { 'ocp-range': range });
    const l = await get(`${L}/wd%2Fout.txt`, { 'ocp-range': range });
    assert.equal(r.status, status, `${range}: ${r.text}`);
    assert.equal(l.status, status, range);
    if (body !== null) assert.equal(r.text, body, range);
    else assert.equal(r.json.code, l.json.code, range);
  }
  // HEAD: the headers a local node's file has.
  const hr = await get(`${R}/wd%2Fout.txt`, {}, 'HEAD');
  const hl = await get(`${L}/wd%2Fout.txt`, {}, 'HEAD');
  assert.equal(hr.status, 200);
  assert.equal(hr.text, '');
  for (const h of ['content-length', 'content-type', 'ocp-batch-file-isdirectory']) {
    assert.equal(hr.headers[h], hl.headers[h], h);
  }
  assert.equal(hr.headers['content-length'], '10');
  assert.ok(hr.headers['ocp-creation-time']);
  assert.ok(hr.headers['last-modified']);
  // A directory: HEAD says so, GET is 404 as for a local one.
  const dr = await get(`${R}/wd%2Fd`, {}, 'HEAD');
  assert.equal(dr.status, 200);
  assert.equal(dr.headers['ocp-batch-file-isdirectory'], 'True');
  const dg = await get(`${R}/wd%2Fd`);
  assert.equal(dg.status, 404);
  assert.equal(dg.json.code, 'FileNotFound');
});

test('a 3 MiB file streams byte for byte; a range from its middle', async () => {
  const disk = fs.readFileSync(path.join(rootR, 'workitems', 'rj', 'job-1', 'w', 'wd', 'big.bin'));
  assert.equal(disk.length, 3145728);
  const got = await text((await batch.file.getFromTask('rj', 'w', 'wd/big.bin')).readableStreamBody);
  assert.equal(got.length, disk.length);
  assert.equal(crypto.createHash('sha256').update(got).digest('hex'),
    crypto.createHash('sha256').update(disk).digest('hex'));
  const r = await get(`${R}/wd%2Fbig.bin`, { 'ocp-range': 'bytes=1000000-1999999' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '1000000');
  // batchFetch decodes as UTF-8: compare through the raw socket instead.
  const raw = await fetch(`${srv.batchUrl}${R}/wd%2Fbig.bin?${API}`, {
    headers: batchSign(srv, 'GET', `${R}/wd%2Fbig.bin?${API}`, { 'ocp-range': 'bytes=1000000-1999999' }) });
  const buf = Buffer.from(await raw.arrayBuffer());
  assert.ok(buf.equals(disk.subarray(1000000, 2000000)));
});

test('lists: recursive, paged, filtered; the same names as a local node', async () => {
  const top = (await batch.file.listFromTask('rj', 'w')).map((f) => f.name).sort();
  assert.deepEqual(top, ['stderr.txt', 'stdout.txt', 'wd']);
  const all = await batch.file.listFromTask('rj', 'w', { recursive: true });
  const f = all.find((x) => x.name === 'wd/d/e/f.txt');
  assert.ok(f, JSON.stringify(all.map((x) => x.name)));
  assert.equal(f.properties.contentLength, 2);
  assert.equal(f.isDirectory, false);
  assert.equal(f.url, `${srv.batchUrl}/jobs/rj/tasks/w/files/wd%2Fd%2Fe%2Ff.txt`);
  assert.ok(!all.some((x) => x.name === 'wd/link'), 'symlinks are not listed');
  const local = (await batch.file.listFromTask('lj', 'w', { recursive: true }))
    .map((x) => [x.name, x.isDirectory, x.properties.contentLength]).sort();
  assert.deepEqual(all.map((x) => [x.name, x.isDirectory, x.properties.contentLength]).sort(), local);
  // Pages of 7 via $skiptoken: every name once, in order.
  const paged = await allPages(`${R}?recursive=true&maxresults=7`);
  assert.deepEqual(paged.names, all.map((x) => x.name).sort());
  assert.equal(paged.pages, Math.ceil(all.length / 7));
  const filtered = await allPages(`${R}?recursive=true&$filter=${encodeURIComponent("startswith(name, 'wd/many/')")}`);
  assert.equal(filtered.names.length, 23);
  // A bad $filter fails at once, as for a local node.
  const bad = await get(`${R}?$filter=${encodeURIComponent('nosuch eq 1')}`);
  const badL = await get(`${L}?$filter=${encodeURIComponent('nosuch eq 1')}`);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, badL.json.code);
});

test('errors: 404 missing and symlinks, 400 for .. and absolute paths', async () => {
  for (const p of ['nosuch.txt', 'wd%2Flink', 'wd%2Fnosuch%2Fx', 'wd%2Fout.txt%2F']) {
    const r = await get(`${R}/${p}`);
    const l = await get(`${L}/${p}`);
    assert.equal(r.status, 404, `${p}: ${r.text}`);
    assert.equal(r.json.code, 'FileNotFound', p);
    assert.equal(l.status, 404, p);
  }
  for (const p of ['..%2F..%2Fshared', 'wd%2F..%2F..%2Fstdout.txt', '%2Fetc%2Fpasswd', 'wd%2F.%2Fout.txt',
    '..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd']) {
    const r = await get(`${R}/${p}`);
    const l = await get(`${L}/${p}`);
    assert.equal(r.status, 400, `${p}: ${r.text}`);
    assert.equal(r.json.code, 'InvalidPropertyValue', p);
    assert.deepEqual(r.json.values, l.json.values, p);
  }
  const e = await errOf(batch.file.getFromTask('rj', 'w', 'nosuch.txt'));
  assert.equal(e.statusCode, 404);
  // A task that does not exist: no round trip, the local answer.
  const t = await get('/jobs/rj/tasks/nosuch/files/stdout.txt');
  assert.equal(t.status, 404);
  assert.equal(t.json.code, 'TaskNotFound');
});

test('delete: a file, a non-empty directory refused, then recursive', async () => {
  const wd = path.join(rootR, 'workitems', 'rj', 'job-1', 'w', 'wd');
  await batch.file.deleteFromTask('rj', 'w', 'wd/out.txt');
  assert.ok(!fs.existsSync(path.join(wd, 'out.txt')));
  let r = await get(`${R}/wd%2Fout.txt`);
  assert.equal(r.status, 404);
  r = await batchFetch(srv, 'DELETE', `${R}/wd%2Fd?${API}`);
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.code, 'DirectoryNotEmpty');
  assert.ok(fs.existsSync(path.join(wd, 'd', 'e', 'f.txt')));
  await batch.file.deleteFromTask('rj', 'w', 'wd/d', { recursive: true });
  assert.ok(!fs.existsSync(path.join(wd, 'd')));
  // A symlink is not followed, not even to delete it; '..' is refused.
  r = await batchFetch(srv, 'DELETE', `${R}/wd%2Flink?${API}`);
  assert.equal(r.status, 404);
  assert.ok(fs.lstatSync(path.join(wd, 'link')).isSymbolicLink());
  assert.ok(fs.existsSync('/etc/passwd'));
  r = await batchFetch(srv, 'DELETE', `${R}/wd%2F..%2F..%2Fw?${API}`);
  assert.equal(r.status, 400);
  r = await batchFetch(srv, 'DELETE', `${R}/wd%2Fnosuch?${API}`);
  assert.equal(r.status, 404);
});

test('node files: startup/stdout.txt, the node list; the agent identity is hidden', async () => {
  const out = await text((await batch.file.getFromComputeNode('rp', nodeR, 'startup/stdout.txt')).readableStreamBody);
  assert.equal(out.toString(), 'started\n');
  const props = await batch.file.getPropertiesFromComputeNode('rp', nodeR, 'startup/stdout.txt');
  assert.equal(props.contentLength, 8);
  const names = (await batch.file.listFromComputeNode('rp', nodeR)).map((x) => x.name).sort();
  const local = (await batch.file.listFromComputeNode('lp', nodeL)).map((x) => x.name).sort();
  assert.deepEqual(names, ['shared', 'startup', 'workitems']);
  assert.deepEqual(names, local);
  const deep = (await batch.file.listFromComputeNode('rp', nodeR, { recursive: true })).map((x) => x.name);
  assert.ok(deep.includes('workitems/rj/job-1/w/stdout.txt'), JSON.stringify(deep));
  assert.ok(!deep.some((x) => x.startsWith('agent')));
  assert.ok(fs.existsSync(path.join(rootR, 'agent', 'identity.json')));
  const r = await get(`/pools/rp/nodes/${nodeR}/files/agent%2Fidentity.json`);
  assert.equal(r.status, 404);
  const d = await batchFetch(srv, 'DELETE', `/pools/rp/nodes/${nodeR}/files/agent?recursive=true&${API}`);
  assert.equal(d.status, 404);
  assert.ok(fs.existsSync(path.join(rootR, 'agent', 'identity.json')));
  const n = await get(`/pools/rp/nodes/nosuch/files/startup%2Fstdout.txt`);
  assert.equal(n.status, 404);
  assert.equal(n.json.code, 'NodeNotFound');
});

test('uploadbatchservicelogs: the agent uploads the same three logs', async () => {
  const blobs = BlobServiceClient.fromConnectionString(srv.connStr);
  const cred = new StorageSharedKeyCredential(srv.account, srv.key);
  const c = blobs.getContainerClient('remotelogs');
  await c.create();
  const sas = c.url + '?' + generateBlobSASQueryParameters({
    containerName: 'remotelogs', permissions: ContainerSASPermissions.parse('cw'),
    expiresOn: new Date(Date.now() + 3600 * 1000) }, cred).toString();
  const res = await batch.computeNode.uploadBatchServiceLogs('rp', nodeR, {
    containerUrl: sas, startTime: new Date(Date.now() - 3600 * 1000) });
  assert.match(res.virtualDirectoryName, new RegExp(`^rp/${nodeR}/[0-9a-f-]{36}$`));
  assert.equal(res.numberOfFilesUploaded, 3);
  const names = [];
  for await (const b of c.listBlobsFlat({ prefix: `${res.virtualDirectoryName}/` })) names.push(b.name);
  assert.deepEqual(names.sort(), ['shoal-node.log', 'startup/stderr.txt', 'startup/stdout.txt']
    .map((x) => `${res.virtualDirectoryName}/${x}`));
  const log = await c.getBlobClient(`${res.virtualDirectoryName}/shoal-node.log`).downloadToBuffer();
  assert.match(log.toString(), /node agent starting/);
  const so = await c.getBlobClient(`${res.virtualDirectoryName}/startup/stdout.txt`).downloadToBuffer();
  assert.equal(so.toString(), 'started\n');
  // The same set a local node gives.
  const lres = await batch.computeNode.uploadBatchServiceLogs('lp', nodeL, {
    containerUrl: sas, startTime: new Date(Date.now() - 3600 * 1000) });
  assert.equal(lres.numberOfFilesUploaded, 3);
  // Nothing written since the start time: no file.
  const none = await batch.computeNode.uploadBatchServiceLogs('rp', nodeR, {
    containerUrl: sas, startTime: new Date(Date.now() + 3600 * 1000) });
  assert.equal(none.numberOfFilesUploaded, 0);
  // A container the URL cannot write (no SAS): the agent's upload is
  // refused, and the error is the one a local node gives.
  const bad = await errOf(batch.computeNode.uploadBatchServiceLogs('rp', nodeR, {
    containerUrl: c.url, startTime: new Date(0) }));
  const badL = await errOf(batch.computeNode.uploadBatchServiceLogs('lp', nodeL, {
    containerUrl: c.url, startTime: new Date(0) }));
  const words = (e) => (typeof e.message === 'string' ? e.message : e.message.value).split('\n')[0];
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.code, 'InvalidPropertyValue');
  assert.equal(bad.code, badL.code);
  assert.match(words(bad), /refused the upload with status 4\d\d$/);
  assert.equal(words(bad), words(badL));
  const ftp = await errOf(batch.computeNode.uploadBatchServiceLogs('rp', nodeR, {
    containerUrl: 'ftp://127.0.0.1/x', startTime: new Date(0) }));
  assert.equal(ftp.statusCode, 400);
  assert.match(words(ftp), /not an http or https URL/);
});

test('the agent restarts while a request waits: the new process answers it', async () => {
  process.kill(agent.pid, 'SIGSTOP');
  const pending = get(`${R}/stdout.txt`);
  // Give the request time to be handed to the stopped agent's sync.
  await new Promise((r) => setTimeout(r, 300));
  process.kill(agent.pid, 'SIGKILL');
  await waitFor(() => agent.exit, { what: 'agent exit' });
  const url = `http://127.0.0.1:${srv.ports.batch}`;
  agent = startAgent(['--join', url, '--root', rootR], 'agent2');
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, `hello from ${nodeR}\n`);
  await waitState('rp', nodeR, (n) => n.state === 'idle', 'node idle again');
});

test('node loss: a waiting request fails once the node is unusable; shoald stays up', async () => {
  process.kill(agent.pid, 'SIGSTOP');
  const t0 = Date.now();
  const r = await get(`${R}/stdout.txt`);
  const waited = Date.now() - t0;
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.code, 'NodeStateUnusable');
  assert.match(r.json.message.value, new RegExp(nodeR));
  assert.ok(waited < 30000, `answered after ${waited} ms`);
  process.kill(agent.pid, 'SIGKILL');
  await waitFor(() => agent.exit, { what: 'agent exit' });
  // Unusable: refused at once now, node files and logs alike.
  const n = await get(`/pools/rp/nodes/${nodeR}/files`);
  assert.equal(n.status, 409);
  assert.equal(n.json.code, 'NodeStateUnusable');
  const logs = await errOf(batch.computeNode.uploadBatchServiceLogs('rp', nodeR, {
    containerUrl: 'http://127.0.0.1:1/x', startTime: new Date(0) }));
  assert.equal(logs.statusCode, 409);
  // shoald is fine: it serves the local node and its own API.
  assert.equal(srv.exited(), null);
  const out = await text((await batch.file.getFromTask('lj', 'w', 'stdout.txt')).readableStreamBody);
  assert.equal(out.toString(), `hello from ${nodeL}\n`);
  assert.equal((await batch.pool.get('rp')).id, 'rp');
});

test('shoald stops while a request waits: 503, and a clean exit', async () => {
  const url = `http://127.0.0.1:${srv.ports.batch}`;
  agent = startAgent(['--join', url, '--root', rootR], 'agent3');
  await waitState('rp', nodeR, (n) => n.state === 'idle', 'node back');
  process.kill(agent.pid, 'SIGSTOP');
  const pending = get(`${R}/stdout.txt`);
  await new Promise((r) => setTimeout(r, 300));
  const exit = await srv.stop();
  const r = await pending;
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json.code, 'ServerBusy');
  assert.equal(exit.code, 0, srv.log());
  process.kill(agent.pid, 'SIGKILL');
});

test.after(async () => {
  for (const a of agents) {
    if (!a.exit) {
      try { process.kill(a.pid, 'SIGKILL'); } catch {}
    }
  }
  if (srv) await srv.kill();
});
