// tests/integ/watch.test.mjs: libshoal's watch (through `shoal event watch`
// and `shoal job watch`) across dropped connections, a shoald restart and
// pruned cursors.
//
// The CLI reaches the batch port through a TCP proxy in this process, so a
// test can cut every connection, refuse new ones for a while, and, after
// shoald restarts on the same data dir with new ports, point the same
// proxy address at the new port: the client keeps one URL, as it would
// behind a load balancer. Events are made by registering notification
// endpoints (directly on the batch port) and by running small jobs.
// Waits poll with deadlines (waitFor); nothing asserts on timing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { startServer, waitFor, binDir } from './lib/server.mjs';
import { batchFetch } from './lib/batchsign.mjs';

const servers = [];
const proxies = [];
const children = [];

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const p of proxies) await p.close();
  for (const s of servers) await s.stop();
});

async function startProxy(targetPort) {
  const socks = new Set();
  const p = { target: targetPort, paused: false, accepted: 0, refused: 0 };
  const server = net.createServer((c) => {
    if (p.paused) {
      p.refused++;
      c.destroy();
      return;
    }
    p.accepted++;
    const u = net.connect(p.target, '127.0.0.1');
    socks.add(c);
    socks.add(u);
    const done = () => {
      c.destroy();
      u.destroy();
      socks.delete(c);
      socks.delete(u);
    };
    c.on('error', done);
    u.on('error', done);
    c.on('close', done);
    u.on('close', done);
    c.pipe(u);
    u.pipe(c);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  p.port = server.address().port;
  p.cut = () => {
    for (const s of socks) s.destroy();
    socks.clear();
  };
  p.close = () => new Promise((resolve) => {
    p.cut();
    server.close(() => resolve());
  });
  proxies.push(p);
  return p;
}

function connStr(srv, batchPort) {
  return `${srv.connStr}BatchEndpoint=http://127.0.0.1:${batchPort ?? srv.ports.batch};`;
}

// Run the shoal CLI; lines() is stdout so far, done resolves at exit.
function shoal(args, cs) {
  const child = spawn(path.join(binDir, 'shoal'), args, {
    env: { ...process.env, SHOAL_CONNECTION_STRING: cs },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise((resolve) => {
    child.on('exit', (code) => resolve({ code, out, err }));
  });
  return {
    child,
    done,
    lines: () => out.split('\n').filter((l) => l),
    err: () => err,
  };
}

async function createEndpoint(srv, name) {
  const r = await batchFetch(srv, 'POST', '/notificationendpoints',
    { body: { name, endpointType: 'queue', endpointAddress: name } });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

function checkStream(lines, ids) {
  const evs = lines.map((l) => JSON.parse(l));
  assert.deepEqual(evs.map((e) => e.entityId), ids, 'every event once, in order');
  for (let i = 1; i < evs.length; i++) {
    assert.ok(evs[i].sequence > evs[i - 1].sequence, 'sequences increase');
  }
  return evs;
}

test('event watch resumes after dropped connections: no loss, no duplicates', async () => {
  const srv = await startServer({ name: 'watch-drop' });
  servers.push(srv);
  const proxy = await startProxy(srv.ports.batch);
  const w = shoal(['event', 'watch', '--since', '0', '--count', '6', '--json',
    '--hold', '2', '--timeout', '120s'], connStr(srv, proxy.port));
  const ids = [];
  ids.push(await createEndpoint(srv, 'drop-a'));
  ids.push(await createEndpoint(srv, 'drop-b'));
  await waitFor(() => w.lines().length >= 2, { what: 'the first two events' });
  // Cut the watch's connection and refuse new ones: its polls now fail.
  proxy.paused = true;
  proxy.cut();
  ids.push(await createEndpoint(srv, 'drop-c'));
  ids.push(await createEndpoint(srv, 'drop-d'));
  await waitFor(() => proxy.refused >= 2, { what: 'the watch to retry into the outage' });
  assert.equal(w.lines().length, 2);
  proxy.paused = false;
  ids.push(await createEndpoint(srv, 'drop-e'));
  ids.push(await createEndpoint(srv, 'drop-f'));
  const r = await w.done;
  assert.equal(r.code, 0, r.err);
  checkStream(w.lines(), ids);
  assert.ok(proxy.accepted >= 2, 'the watch reconnected');
});

test('event watch with a 1 s hold: many polls, every event once', async () => {
  const srv = await startServer({ name: 'watch-hold' });
  servers.push(srv);
  const last = (await batchFetch(srv, 'GET', '/events?timeout=0')).json.lastSeq;
  const w = shoal(['event', 'watch', '--since', String(last), '--count', '3',
    '--json', '--hold', '1', '--timeout', '120s'], connStr(srv));
  const ids = [];
  for (const name of ['hold-a', 'hold-b', 'hold-c']) {
    // Events a poll apart, so that empty polls end between them.
    await new Promise((r) => setTimeout(r, 1100));
    ids.push(await createEndpoint(srv, name));
  }
  const r = await w.done;
  assert.equal(r.code, 0, r.err);
  checkStream(w.lines(), ids);
});

test('the watch follows shoald across a restart on the same data dir', async () => {
  const srv = await startServer({ name: 'watch-restart' });
  servers.push(srv);
  const proxy = await startProxy(srv.ports.batch);
  const w = shoal(['event', 'watch', '--since', '0', '--count', '4', '--json',
    '--hold', '2', '--timeout', '120s'], connStr(srv, proxy.port));
  const ids = [];
  ids.push(await createEndpoint(srv, 'restart-a'));
  ids.push(await createEndpoint(srv, 'restart-b'));
  await waitFor(() => w.lines().length >= 2, { what: 'the first two events' });
  const before = w.lines().map((l) => JSON.parse(l));
  // A clean restart: new ports (srv.restart updates srv's URLs); the
  // proxy's address stays, its target moves.
  await srv.restart();
  proxy.target = srv.ports.batch;
  proxy.cut();
  ids.push(await createEndpoint(srv, 'restart-c'));
  ids.push(await createEndpoint(srv, 'restart-d'));
  const r = await w.done;
  assert.equal(r.code, 0, r.err);
  const evs = checkStream(w.lines(), ids);
  assert.deepEqual(evs.slice(0, 2), before);
});

test('a pruned cursor: event watch fails with EventCursorExpired; from now it works', async () => {
  const srv = await startServer({
    name: 'watch-gone',
    args: ['--set', 'events.retain_count=1', '--set', 'events.retain_s=1',
      '--set', 'events.prune_interval_ms=50'],
  });
  servers.push(srv);
  for (let i = 0; i < 3; i++) await createEndpoint(srv, `gone-${i}`);
  await waitFor(async () => (await batchFetch(srv, 'GET', '/events?since=0&timeout=0')).status === 410,
    { what: 'events to be pruned' });
  const gone = await shoal(['event', 'watch', '--since', '0', '--count', '1'], connStr(srv)).done;
  assert.equal(gone.code, 1, gone.out);
  assert.match(gone.err, /^shoal: EventCursorExpired: events after 0 are no longer retained/);
  assert.equal(gone.out, '');
  // From a retained cursor (the newest) it works.
  const last = (await batchFetch(srv, 'GET', '/events?timeout=0')).json.lastSeq;
  const w = shoal(['event', 'watch', '--since', String(last), '--count', '1',
    '--json', '--timeout', '60s'], connStr(srv));
  const id = await createEndpoint(srv, 'gone-late');
  const r = await w.done;
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(w.lines().map((l) => JSON.parse(l).entityId), [id]);
});

// shoal CLI against srv, returning { code, out, err } at exit.
function run(srv, args) {
  return shoal(args, connStr(srv)).done;
}

async function waitCompleted(srv, job) {
  await waitFor(async () => {
    const r = await run(srv, ['job', 'show', job, '--json']);
    return r.code === 0 && JSON.parse(r.out).state === 'completed';
  }, { timeoutMs: 60000, what: `job ${job} to complete` });
}

test('job watch after its events were pruned: the final state comes from the job', async () => {
  const srv = await startServer({
    name: 'watch-gone-job',
    args: ['--set', 'events.retain_count=1', '--set', 'events.retain_s=1',
      '--set', 'events.prune_interval_ms=50'],
  });
  servers.push(srv);
  assert.equal((await run(srv, ['pool', 'create', 'gp', '--nodes', '1'])).code, 0);
  const jobs = { fine: '/bin/true', broken: "/bin/sh -c 'exit 3'" };
  for (const [job, cmd] of Object.entries(jobs)) {
    assert.equal((await run(srv, ['job', 'create', job, '--pool', 'gp'])).code, 0);
    const t = await run(srv, ['task', 'add', job, '--id', 't1', '--command', cmd]);
    assert.equal(t.code, 0, t.err);
    assert.equal((await run(srv, ['job', 'patch', job,
      '{"onAllTasksComplete":"terminatejob"}'])).code, 0);
    await waitCompleted(srv, job);
  }
  assert.equal((await run(srv, ['job', 'create', 'stopped', '--pool', 'gp'])).code, 0);
  assert.equal((await run(srv, ['task', 'add', 'stopped', '--id', 't1', '--', '/bin/sleep', '60'])).code, 0);
  assert.equal((await run(srv, ['job', 'terminate', 'stopped'])).code, 0);
  await waitCompleted(srv, 'stopped');
  await createEndpoint(srv, 'push-the-log');
  await waitFor(async () => (await batchFetch(srv, 'GET', '/events?since=0&timeout=0')).status === 410,
    { what: 'the jobs\' events to be pruned' });

  const fine = await run(srv, ['job', 'watch', 'fine', '--timeout', '30s']);
  assert.equal(fine.code, 0, fine.err);
  assert.match(fine.err, /no longer keeps the first events of job fine/);
  assert.equal(fine.out, "job fine: Finished (from the job's state)\n");
  const broken = await run(srv, ['job', 'watch', 'broken', '--timeout', '30s']);
  assert.equal(broken.code, 1);
  assert.match(broken.out, /^job broken: Error \(from the job's state\)$/m);
  assert.match(broken.err, /ended in state Error/);
  const stopped = await run(srv, ['job', 'watch', 'stopped', '--timeout', '30s']);
  assert.equal(stopped.code, 1);
  assert.match(stopped.out, /^job stopped: Canceled \(from the job's state\)$/m);
  // An explicit --since is the user's cursor: no fallback, just the error.
  const explicit = await run(srv, ['job', 'watch', 'fine', '--since', '0']);
  assert.equal(explicit.code, 1);
  assert.match(explicit.err, /^shoal: EventCursorExpired: /);
});

test('job watch after pruning, on a running job: follows it from now to its end', async () => {
  const srv = await startServer({
    name: 'watch-gone-live',
    args: ['--set', 'events.retain_count=1', '--set', 'events.retain_s=1',
      '--set', 'events.prune_interval_ms=50'],
  });
  servers.push(srv);
  assert.equal((await run(srv, ['pool', 'create', 'lp', '--nodes', '1'])).code, 0);
  assert.equal((await run(srv, ['job', 'create', 'live', '--pool', 'lp'])).code, 0);
  assert.equal((await run(srv, ['task', 'add', 'live', '--id', 'long', '--', '/bin/sleep', '60'])).code, 0);
  await waitFor(async () => {
    const r = await run(srv, ['task', 'show', 'live', 'long', '--json']);
    return r.code === 0 && JSON.parse(r.out).state === 'running';
  }, { what: 'the task to run' });
  await createEndpoint(srv, 'push-the-log');
  await waitFor(async () => (await batchFetch(srv, 'GET', '/events?since=0&timeout=0')).status === 410,
    { what: 'the job\'s events to be pruned' });
  const w = shoal(['job', 'watch', 'live', '--timeout', '60s'], connStr(srv));
  await waitFor(() => /following it from event \d+/.test(w.err()), { what: 'the fallback note' });
  assert.equal((await run(srv, ['job', 'terminate', 'live'])).code, 0);
  const r = await w.done;
  assert.equal(r.code, 1, r.err);
  const lines = w.lines();
  assert.match(lines[lines.length - 1], /^\[\d+\] \S+ job live: Canceling -> Canceled$/);
  assert.ok(lines.some((l) => / job live: Processing -> Canceling$/.test(l)), lines.join('\n'));
});
