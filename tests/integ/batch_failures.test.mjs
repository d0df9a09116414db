// batch_failures.test.mjs: failure paths of the Batch service through the
// official SDK (@azure/batch 10.2.0) and raw SharedKey-signed requests:
// non-zero exit, missing resource file, timeout, retries, terminate, bad
// JSON, unknown fields, wrong key, wrong/missing api-version, oversized
// collections, conflicts, OData filters, 1000 tasks in one job.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import {
  BlobServiceClient, StorageSharedKeyCredential, generateBlobSASQueryParameters,
  BlobSASPermissions,
} from '@azure/storage-blob';
import { startServer, waitFor } from './lib/server.mjs';

const API = '2022-10-01.16.0';
const POOL = 'failpool';
let srv, batch;

// Batch SharedKey (batch-wire.md §5), for requests the SDK will not send.
async function raw(method, path, { query = {}, body, headers = {}, key } = {}) {
  const q = new Map(Object.entries(query));
  const qs = [...q].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const url = `${srv.batchUrl}${path}${qs ? '?' + qs : ''}`;
  const h = { 'ocp-date': new Date().toUTCString(), ...headers };
  let payload;
  if (body !== undefined) {
    payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    h['content-type'] = 'application/json; odata=minimalmetadata; charset=utf-8';
    h['content-length'] = String(payload.length);
  }
  const ocp = Object.keys(h).filter((k) => k.startsWith('ocp-')).sort()
    .map((k) => `${k}:${h[k]}\n`).join('');
  const names = [...new Set([...q.keys()])].sort();
  const res = `/${srv.account}${path}` + names.map((n) => `\n${n}:${q.get(n)}`).join('');
  const sts = [method, '', '', h['content-length'] || (method === 'POST' ? '0' : ''), '',
    h['content-type'] || '', '', '', '', '', '', ''].join('\n') + '\n' + ocp + res;
  const sig = crypto.createHmac('sha256', Buffer.from(key || srv.key, 'base64')).update(sts, 'utf8').digest('base64');
  h.authorization = `SharedKey ${srv.account}:${sig}`;
  const r = await fetch(url, { method, headers: h, body: payload });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, json, text, headers: r.headers };
}

async function waitTask(job, id, timeoutMs = 30000) {
  return waitFor(async () => {
    const t = await batch.task.get(job, id);
    return t.state === 'completed' ? t : null;
  }, { timeoutMs, intervalMs: 50, what: `task ${job}/${id} completed` });
}

async function expectError(p, status, code) {
  try {
    await p;
  } catch (e) {
    assert.equal(e.statusCode, status, `${e.code} ${e.message}`);
    assert.equal(e.code, code);
    return e;
  }
  assert.fail(`expected ${status} ${code}`);
}

test('start shoald and a pool of 2 nodes x 4 slots', async () => {
  srv = await startServer({ name: 'batch-failures', args: ['--set', 'sched.poll_ms=1000'] });
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  await batch.pool.add({ id: POOL, vmSize: 'small', targetDedicatedNodes: 2, taskSlotsPerNode: 4 });
  await batch.job.add({ id: 'fj', poolInfo: { poolId: POOL } });
});

test('non-zero exit: failure with FailureExitCode, exit code kept', async () => {
  await batch.task.add('fj', { id: 'exit3', commandLine: "/bin/sh -c 'echo oops >&2; exit 3'" });
  const t = await waitTask('fj', 'exit3');
  assert.equal(t.executionInfo.exitCode, 3);
  assert.equal(t.executionInfo.result, 'failure');
  assert.equal(t.executionInfo.failureInfo.category, 'usererror');
  assert.equal(t.executionInfo.failureInfo.code, 'FailureExitCode');
  assert.equal(t.executionInfo.retryCount, 0);
  const err = await batch.file.getFromTask('fj', 'exit3', 'stderr.txt');
  const chunks = [];
  for await (const c of err.readableStreamBody) chunks.push(c);
  assert.equal(Buffer.concat(chunks).toString(), 'oops\n');
});

test('missing resource file: failure, command not run, no exit code', async () => {
  const blobs = BlobServiceClient.fromConnectionString(srv.connStr);
  await blobs.getContainerClient('inputs').create();
  const url = blobs.getContainerClient('inputs').getBlobClient('missing.txt').url + '?' +
    generateBlobSASQueryParameters({ containerName: 'inputs', blobName: 'missing.txt',
      permissions: BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 3600e3) },
    new StorageSharedKeyCredential(srv.account, srv.key)).toString();
  await batch.task.add('fj', { id: 'nores', commandLine: '/bin/true',
    resourceFiles: [{ httpUrl: url, filePath: 'missing.txt' }] });
  const t = await waitTask('fj', 'nores');
  assert.equal(t.executionInfo.result, 'failure');
  assert.equal(t.executionInfo.exitCode, undefined);
  assert.equal(t.executionInfo.failureInfo.category, 'usererror');
  assert.equal(t.executionInfo.failureInfo.code, 'BlobNotFound');
  assert.ok(!t.executionInfo.failureInfo.message.includes('sig='));
});

test('timeout: maxWallClockTime kills the task', async () => {
  await batch.task.add('fj', { id: 'slow', commandLine: '/bin/sleep 60',
    constraints: { maxWallClockTime: 'PT1S' } });
  const t = await waitTask('fj', 'slow', 20000);
  assert.equal(t.constraints.maxWallClockTime, 'PT1S');
  assert.equal(t.executionInfo.result, 'failure');
  assert.equal(t.executionInfo.failureInfo.code, 'TaskEnded');
  assert.equal(t.executionInfo.retryCount, 0);
});

test('retries: maxTaskRetryCount, retryCount, success on a later try', async () => {
  await batch.task.add('fj', { id: 'always', commandLine: "/bin/sh -c 'exit 1'",
    constraints: { maxTaskRetryCount: 2 } });
  await batch.task.add('fj', { id: 'second', constraints: { maxTaskRetryCount: 3 },
    commandLine: "/bin/sh -c 'f=$AZ_BATCH_NODE_SHARED_DIR/second.$AZ_BATCH_JOB_ID; " +
      "if [ -e $f ]; then exit 0; fi; touch $f; exit 1'" });
  const a = await waitTask('fj', 'always');
  assert.equal(a.executionInfo.retryCount, 2);
  assert.equal(a.executionInfo.result, 'failure');
  assert.equal(a.executionInfo.exitCode, 1);
  assert.ok(a.executionInfo.lastRetryTime);
  const s = await waitTask('fj', 'second');
  assert.equal(s.executionInfo.result, 'success');
  assert.equal(s.executionInfo.exitCode, 0);
  assert.ok(s.executionInfo.retryCount >= 1, JSON.stringify(s.executionInfo));
});

test('terminate a running task: completed with TaskEnded', async () => {
  await batch.task.add('fj', { id: 'killme', commandLine: '/bin/sleep 60' });
  await waitFor(async () => (await batch.task.get('fj', 'killme')).state === 'running',
    { what: 'killme running' });
  await batch.task.terminate('fj', 'killme');
  const t = await batch.task.get('fj', 'killme');
  assert.equal(t.state, 'completed');
  assert.equal(t.executionInfo.failureInfo.code, 'TaskEnded');
  assert.equal(t.executionInfo.result, 'failure');
});

test('OData $filter on exit code and result; bad filter is 400', async () => {
  const failed = await batch.task.list('fj', { taskListOptions: {
    filter: "executionInfo/result eq 'failure' and executionInfo/exitCode eq 3", select: 'id' } });
  assert.deepEqual(failed.map((t) => t.id), ['exit3']);
  const notSucceeded = await batch.task.list('fj', { taskListOptions: {
    filter: "not (executionInfo/result eq 'success') and startswith(id, 'no')" } });
  assert.deepEqual(notSucceeded.map((t) => t.id), ['nores']);
  const r = await raw('GET', '/jobs/fj/tasks', { query: { 'api-version': API, $filter: "state eq 'active' and" } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'InvalidQueryParameterValue');
  const u = await raw('GET', '/jobs/fj/tasks', { query: { 'api-version': API, $filter: "nosuch eq 1" } });
  assert.equal(u.status, 400);
});

test('bad JSON and duplicate keys: 400 InvalidRequestBody', async () => {
  let r = await raw('POST', '/jobs/fj/tasks', { query: { 'api-version': API }, body: '{"id": "x", ' });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'InvalidRequestBody');
  assert.equal(r.json.message.lang, 'en-US');
  r = await raw('POST', '/jobs/fj/tasks', { query: { 'api-version': API },
    body: '{"id":"x","commandLine":"/bin/true","id":"y"}' });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'InvalidRequestBody');
  r = await raw('POST', '/jobs/fj/tasks', { query: { 'api-version': API }, body: '[1,2]' });
  assert.equal(r.status, 400);
  r = await raw('POST', '/jobs/fj/tasks', { query: { 'api-version': API },
    body: { id: 'x', commandLine: 42 } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'InvalidRequestBody');
  r = await raw('POST', '/jobs/fj/tasks', { query: { 'api-version': API }, body: { id: 'x' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'MissingRequiredProperty');
  assert.deepEqual(r.json.values, [{ key: 'PropertyName', value: 'commandLine' }]);
});

test('unknown fields: refused at 2022-10-01.16.0, ignored for newer versions', async () => {
  let r = await raw('POST', '/jobs/fj/tasks', { query: { 'api-version': API },
    body: { id: 'unk1', commandLine: '/bin/true', bogus: 1 } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'InvalidRequestBody');
  assert.match(JSON.stringify(r.json.values), /bogus/);
  r = await raw('POST', '/jobs/fj/tasks', { query: { 'api-version': '2024-07-01.20.0' },
    body: { id: 'unk2', commandLine: '/bin/true', bogus: 1 } });
  assert.equal(r.status, 201);
  assert.ok(r.headers.get('etag'));
  assert.ok(r.headers.get('location').endsWith('/jobs/fj/tasks/unk2'));
  assert.equal(r.headers.get('dataserviceversion'), '3.0');
  assert.ok(r.headers.get('request-id'));
  r = await raw('POST', '/jobs/fj/tasks', { query: { 'api-version': API },
    body: { id: 'ct', commandLine: '/bin/true', containerSettings: { imageName: 'x' } } });
  assert.equal(r.status, 501);
  assert.equal(r.json.code, 'NotImplemented');
});

test('wrong key: 403 AuthenticationFailed', async () => {
  const bad = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account,
    Buffer.from('not the key at all, not at all').toString('base64')), srv.batchUrl);
  await expectError(bad.job.get('fj'), 403, 'AuthenticationFailed');
});

test('api-version: missing 400, malformed 400, old well-formed accepted', async () => {
  let r = await raw('GET', '/jobs/fj');
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'MissingRequiredQueryParameter');
  assert.deepEqual(r.json.values, [{ key: 'QueryParameterName', value: 'api-version' }]);
  r = await raw('GET', '/jobs/fj', { query: { 'api-version': '2022-10-01' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'UnsupportedRequestVersion');
  r = await raw('GET', '/jobs/fj', { query: { 'api-version': 'latest' } });
  assert.equal(r.status, 400);
  r = await raw('GET', '/jobs/fj', { query: { 'api-version': '2020-09-01.12.0' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.id, 'fj');
  assert.match(r.json['odata.metadata'], /\$metadata#jobs\/@Element$/);
});

test('oversized collections: 101 tasks and > 1 MiB are RequestBodyTooLarge', async () => {
  const many = Array.from({ length: 101 }, (_, i) => ({ id: `big${i}`, commandLine: '/bin/true' }));
  let r = await raw('POST', '/jobs/fj/addtaskcollection', { query: { 'api-version': API }, body: { value: many } });
  assert.equal(r.status, 413);
  assert.equal(r.json.code, 'RequestBodyTooLarge');
  const fat = Array.from({ length: 100 }, (_, i) => ({ id: `fat${i}`,
    commandLine: `/bin/echo ${'x'.repeat(11000)}` }));
  r = await raw('POST', '/jobs/fj/addtaskcollection', { query: { 'api-version': API }, body: { value: fat } });
  assert.equal(r.status, 413);
  assert.equal(r.json.code, 'RequestBodyTooLarge');
  // Nothing was added.
  await expectError(batch.task.get('fj', 'big0'), 404, 'TaskNotFound');
  await expectError(batch.task.get('fj', 'fat0'), 404, 'TaskNotFound');
});

test('conflicts and bad ids', async () => {
  await expectError(batch.task.add('fj', { id: 'EXIT3', commandLine: '/bin/true' }), 409, 'TaskExists');
  const res = await batch.task.addCollection('fj', [
    { id: 'dupA', commandLine: '/bin/true' },
    { id: 'DUPa', commandLine: '/bin/true' },
    { id: 'exit3', commandLine: '/bin/true' },
  ]);
  const by = Object.fromEntries(res.value.map((r) => [r.taskId, r]));
  assert.equal(by.dupA.status, 'success');
  assert.equal(by.DUPa.status, 'clienterror');
  assert.equal(by.DUPa.error.code, 'TaskExists');
  assert.equal(by.exit3.status, 'clienterror');
  await expectError(batch.task.add('nojob', { id: 't', commandLine: '/bin/true' }), 404, 'JobNotFound');
  await expectError(batch.task.add('fj', { id: 'bad id!', commandLine: '/bin/true' }), 400, 'InvalidPropertyValue');
  await expectError(batch.task.add('fj', { id: 'x'.repeat(65), commandLine: '/bin/true' }), 400, 'InvalidPropertyValue');
  await expectError(batch.job.add({ id: 'fj', poolInfo: { poolId: POOL } }), 409, 'JobExists');
  await expectError(batch.pool.add({ id: 'FAILPOOL', vmSize: 'x' }), 409, 'PoolExists');
  await expectError(batch.pool.enableAutoScale(POOL, { autoScaleFormula: '$TargetDedicatedNodes=1' }), 501, 'NotImplemented');
  await batch.job.add({ id: 'done', poolInfo: { poolId: POOL } });
  await batch.job.terminate('done');
  await waitFor(async () => (await batch.job.get('done')).state === 'completed', { what: 'job done' });
  await expectError(batch.task.add('done', { id: 't', commandLine: '/bin/true' }), 409, 'JobCompleted');
});

test('onAllTasksComplete terminatejob: the job completes by itself', async () => {
  await batch.job.add({ id: 'auto', poolInfo: { poolId: POOL } });
  await batch.task.addCollection('auto', [1, 2, 3].map((i) => ({ id: `a${i}`, commandLine: '/bin/true' })));
  await batch.job.patch('auto', { onAllTasksComplete: 'terminatejob' });
  const j = await waitFor(async () => {
    const x = await batch.job.get('auto');
    return x.state === 'completed' ? x : null;
  }, { what: 'auto job completed' });
  assert.equal(j.executionInfo.terminateReason, 'AllTasksComplete');
  assert.equal(j.onAllTasksComplete, 'terminatejob');
  const c = await batch.job.getTaskCounts('auto');
  assert.equal(c.taskCounts.succeeded, 3);
});

test('1000 tasks in one job, paged lists, each completed once', async () => {
  await batch.job.add({ id: 'k', poolInfo: { poolId: POOL }, priority: 10 });
  const adds = [];
  for (let c = 0; c < 10; c++) {
    const chunk = Array.from({ length: 100 }, (_, i) => ({ id: `t${String(c * 100 + i).padStart(4, '0')}`,
      commandLine: '/bin/true' }));
    adds.push(batch.task.addCollection('k', chunk));
  }
  for (const r of await Promise.all(adds))
    assert.ok(r.value.every((x) => x.status === 'success'));
  await waitFor(async () => {
    const c = await batch.job.getTaskCounts('k');
    return c.taskCounts.completed === 1000;
  }, { timeoutMs: 120000, intervalMs: 200, what: '1000 tasks completed' });
  const seen = new Set();
  let page = await batch.task.list('k', { taskListOptions: { maxResults: 100, select: 'id,state,executionInfo' } });
  let pages = 1;
  for (;;) {
    for (const t of page) {
      assert.equal(t.state, 'completed');
      assert.equal(t.executionInfo.exitCode, 0);
      assert.equal(t.executionInfo.retryCount, 0);
      assert.ok(!seen.has(t.id));
      seen.add(t.id);
    }
    if (!page.odatanextLink) break;
    page = await batch.task.listNext(page.odatanextLink);
    pages++;
  }
  assert.equal(seen.size, 1000);
  assert.equal(pages, 10);
  const c = await batch.job.getTaskCounts('k');
  assert.deepEqual({ ...c.taskCounts }, { active: 0, running: 0, completed: 1000, succeeded: 1000, failed: 0 });
  assert.deepEqual({ ...c.taskSlotCounts }, { active: 0, running: 0, completed: 1000, succeeded: 1000, failed: 0 });
  const nodes = await batch.computeNode.list(POOL);
  assert.ok(nodes.reduce((s, n) => s + n.totalTasksRun, 0) >= 1000);
});

test('files: ranges, node files, path escapes, symlinks, retention', async () => {
  await batch.task.add('fj', { id: 'files', commandLine:
    "/bin/sh -c 'printf 0123456789 > out.txt; mkdir -p d/e; echo x > d/e/f.txt; ln -s /etc/passwd link'" });
  const t = await waitTask('fj', 'files');
  assert.equal(t.executionInfo.exitCode, 0);
  let r = await raw('GET', '/jobs/fj/tasks/files/files/wd%2Fout.txt', { query: { 'api-version': API },
    headers: { 'ocp-range': 'bytes=2-5' } });
  assert.equal(r.status, 200);
  assert.equal(r.text, '2345');
  r = await raw('HEAD', '/jobs/fj/tasks/files/files/wd%2Fout.txt', { query: { 'api-version': API } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-length'), '10');
  assert.equal(r.headers.get('ocp-batch-file-isdirectory'), 'False');
  assert.ok(r.headers.get('ocp-creation-time'));
  assert.match(r.headers.get('ocp-batch-file-mode'), /^0100\d{3}$/);
  for (const bad of ['..%2F..%2Fshared', 'wd%2F..%2F..%2Fstdout.txt', '%2Fetc%2Fpasswd']) {
    r = await raw('GET', `/jobs/fj/tasks/files/files/${bad}`, { query: { 'api-version': API } });
    assert.equal(r.status, 400, bad);
  }
  r = await raw('GET', '/jobs/fj/tasks/files/files/wd%2Flink', { query: { 'api-version': API } });
  assert.equal(r.status, 404);
  const top = (await batch.file.listFromTask('fj', 'files')).map((f) => f.name).sort();
  assert.deepEqual(top, ['stderr.txt', 'stdout.txt', 'wd']);
  const all = await batch.file.listFromTask('fj', 'files', { recursive: true });
  const f = all.find((x) => x.name === 'wd/d/e/f.txt');
  assert.ok(f, JSON.stringify(all.map((x) => x.name)));
  assert.equal(f.properties.contentLength, 2);
  assert.equal(f.isDirectory, false);
  assert.ok(!all.some((x) => x.name === 'wd/link'));
  const nodeFiles = await batch.file.listFromComputeNode(POOL, t.nodeInfo.nodeId, { recursive: false });
  assert.deepEqual(nodeFiles.map((x) => x.name).sort(), ['shared', 'startup', 'workitems']);
  r = await raw('GET', '/jobs/fj/tasks/files/files/nosuch.txt', { query: { 'api-version': API } });
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'FileNotFound');
  // retentionTime: the task directory goes away, the file API says so.
  await batch.task.add('fj', { id: 'brief', commandLine: '/bin/true', constraints: { retentionTime: 'PT1S' } });
  const b = await waitTask('fj', 'brief');
  assert.equal(b.constraints.retentionTime, 'PT1S');
  const dir = `${srv.dataDir}/nodes/${POOL}/${b.nodeInfo.nodeId}/workitems/fj/job-1/brief`;
  await waitFor(async () => {
    const x = await raw('GET', '/jobs/fj/tasks/brief/files/stdout.txt', { query: { 'api-version': API } });
    return x.status === 409 && x.json.code === 'TaskFilesCleanedup';
  }, { timeoutMs: 20000, what: 'files cleaned up' });
  await waitFor(() => { try { fs.statSync(dir); return false; } catch { return true; } },
    { what: 'task dir removed' });
});

test('stop shoald', async () => {
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
});
