// batch_identity.test.mjs: userIdentity.autoUser through @azure/batch
// 10.2.0 when shoald runs as root (as in CI): non-admin tasks run as
// unprivileged users of their own, admin tasks as root; a task of one job
// cannot read (or even list) another job's working directories unless it
// is admin, while tasks of the same job share theirs, and every task can
// still use the node's shared directory. Skipped when not root.
import test from 'node:test';
import assert from 'node:assert/strict';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, waitFor } from './lib/server.mjs';

const POOL = 'idp';
const root = process.getuid && process.getuid() === 0;
const ADMIN = { autoUser: { scope: 'pool', elevationLevel: 'admin' } };
const TASK_SCOPE = { autoUser: { scope: 'task', elevationLevel: 'nonadmin' } };
const SECRET = '$AZ_BATCH_NODE_ROOT_DIR/workitems/ja/job-1/w/wd/secret.txt';

let srv, batch;

async function text(stream) {
  const chunks = [];
  for await (const ch of stream) chunks.push(ch);
  return Buffer.concat(chunks).toString();
}

// Run one task to the end: its result, stdout and stderr.
async function run(job, id, cmd, userIdentity) {
  await batch.task.add(job, { id, commandLine: `/bin/sh -c '${cmd}'`, userIdentity });
  const t = await waitFor(async () => {
    const x = await batch.task.get(job, id);
    return x.state === 'completed' ? x : null;
  }, { timeoutMs: 30000, intervalMs: 50, what: `${job}/${id} completed` });
  const out = await text((await batch.file.getFromTask(job, id, 'stdout.txt')).readableStreamBody);
  const err = await text((await batch.file.getFromTask(job, id, 'stderr.txt')).readableStreamBody);
  return { exit: t.executionInfo.exitCode, out, err };
}

test('start shoald and a one-node pool', { skip: !root && 'needs root' }, async () => {
  srv = await startServer({ name: 'batch-identity', args: ['--set', 'sched.poll_ms=1000'] });
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  await batch.pool.add({ id: POOL, vmSize: 'x', targetDedicatedNodes: 1, taskSlotsPerNode: 2 });
  await waitFor(async () => {
    const list = await batch.computeNode.list(POOL);
    return list.length === 1 && list[0].state === 'idle';
  }, { timeoutMs: 30000, what: 'an idle node' });
  await batch.job.add({ id: 'ja', poolInfo: { poolId: POOL } });
  await batch.job.add({ id: 'jb', poolInfo: { poolId: POOL } });
});

test('non-admin tasks run as unprivileged users, one per job', { skip: !root && 'needs root' }, async () => {
  const a = await run('ja', 'w', 'echo hidden > secret.txt; id -u; id -g');
  assert.equal(a.exit, 0, a.err);
  const [uidA, gidA] = a.out.trim().split('\n').map(Number);
  assert.ok(uidA > 0 && uidA !== 65534, `uid ${uidA}`);
  assert.ok(gidA > 0, `gid ${gidA}`);
  const b = await run('jb', 'who', 'id -u; id -g');
  const [uidB, gidB] = b.out.trim().split('\n').map(Number);
  assert.notEqual(uidB, uidA);
  assert.notEqual(gidB, gidA);
  // scope task: a user of its own, in its job's group.
  const t = await run('ja', 'own', 'id -u; id -g', TASK_SCOPE);
  const [uidT, gidT] = t.out.trim().split('\n').map(Number);
  assert.notEqual(uidT, uidA);
  assert.notEqual(uidT, 0);
  assert.equal(gidT, gidA);
  const adm = await run('jb', 'root', 'id -u', ADMIN);
  assert.equal(adm.out, '0\n');
});

test('another job cannot read the files, an admin task can', { skip: !root && 'needs root' }, async () => {
  let r = await run('jb', 'peek', `cat ${SECRET}`);
  assert.notEqual(r.exit, 0);
  assert.match(r.err, /Permission denied/);
  r = await run('jb', 'list', 'ls $AZ_BATCH_NODE_ROOT_DIR/workitems/ja');
  assert.notEqual(r.exit, 0);
  r = await run('jb', 'peek2', `cat ${SECRET}`, TASK_SCOPE);
  assert.notEqual(r.exit, 0);
  r = await run('jb', 'admin', `cat ${SECRET}`, ADMIN);
  assert.equal(r.exit, 0, r.err);
  assert.equal(r.out, 'hidden\n');
});

test('tasks of the same job share files; the shared dir is for all', { skip: !root && 'needs root' }, async () => {
  let r = await run('ja', 'sibling', `cat ${SECRET}`);
  assert.equal(r.exit, 0, r.err);
  assert.equal(r.out, 'hidden\n');
  r = await run('ja', 'sibling2', `cat ${SECRET}`, TASK_SCOPE);
  assert.equal(r.exit, 0, r.err);
  r = await run('jb', 'share', 'echo b > $AZ_BATCH_NODE_SHARED_DIR/from-b && cat $AZ_BATCH_NODE_SHARED_DIR/from-b');
  assert.equal(r.exit, 0, r.err);
  assert.equal(r.out, 'b\n');
});

test('stop shoald', { skip: !root && 'needs root' }, async () => {
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
});
