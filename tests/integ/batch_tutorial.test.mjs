// batch_tutorial.test.mjs: the Azure Batch tutorial's five steps through the
// official SDKs (@azure/batch 10.2.0 + @azure/storage-blob), unchanged but
// for the endpoint URLs and the key:
//   1. upload an application and input files to blob containers, read SAS
//      URLs for them and a write SAS for an output container;
//   2. a pool of 2 nodes whose start task downloads the application
//      (resource file) and copies it to $AZ_BATCH_NODE_SHARED_DIR,
//      waitForSuccess, as an admin auto-user;
//   3. a job, and its tasks added as one collection: each downloads one
//      input and runs the application (top N words), its output file goes
//      to the output container on success;
//   4. wait with $filter=state ne 'completed' and $select=id,state, check
//      exit codes, read stdout.txt and stderr.txt;
//   5. download the outputs (checked word for word), terminate and delete
//      the job, delete the pool.
import test from 'node:test';
import assert from 'node:assert/strict';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import {
  BlobServiceClient, StorageSharedKeyCredential, generateBlobSASQueryParameters,
  BlobSASPermissions, ContainerSASPermissions,
} from '@azure/storage-blob';
import { startServer, waitFor } from './lib/server.mjs';

const TOP_N = 3;
// The application: the top N words of a file, "word count" per line, most
// frequent first, ties in byte order. Plain POSIX tools.
const APP = `#!/bin/sh
n=$1
f=$2
tr -cs 'A-Za-z' '\\n' < "$f" | tr 'A-Z' 'a-z' | grep -v '^$' | sort | uniq -c |
  sort -k1,1nr -k2,2 | head -n "$n" | awk '{print $2, $1}'
`;
const INPUTS = {
  'taskdata0.txt': 'the quick brown fox jumps over the lazy dog\nThe dog sleeps. The fox runs; the end\n',
  'taskdata1.txt': 'To be, or not to be, that is the question:\nWhether tis nobler in the mind to suffer\n',
  'taskdata2.txt': 'a b c a b a\nzeta zeta zeta zeta alpha beta beta\n',
};

function topWords(text, n) {
  const counts = new Map();
  for (const w of text.split(/[^A-Za-z]+/)) {
    if (!w) continue;
    const k = w.toLowerCase();
    counts.set(k, (counts.get(k) || 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, n)
    .map(([w, c]) => `${w} ${c}\n`).join('');
}

async function streamText(s) {
  const chunks = [];
  for await (const c of s) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function listAll(iterPromise, client, nextFn) {
  const out = [];
  let page = await iterPromise;
  for (;;) {
    out.push(...page);
    if (!page.odatanextLink) break;
    page = await nextFn(page.odatanextLink);
  }
  return out;
}

let srv, batch, blobs, cred;
const sas = {};
const POOL = 'tutorialpool';
const JOB = 'tutorialjob';

test('start shoald', async () => {
  srv = await startServer({ name: 'batch-tutorial', args: ['--set', 'sched.poll_ms=1000'] });
  batch = new BatchServiceClient(new BatchSharedKeyCredentials(srv.account, srv.key), srv.batchUrl);
  blobs = BlobServiceClient.fromConnectionString(srv.connStr);
  cred = new StorageSharedKeyCredential(srv.account, srv.key);
});

test('step 1: application and inputs in blob storage, SAS URLs', async () => {
  const expires = new Date(Date.now() + 2 * 3600 * 1000);
  for (const c of ['application', 'input', 'output']) await blobs.getContainerClient(c).create();
  const app = blobs.getContainerClient('application').getBlockBlobClient('topnwords.sh');
  await app.upload(APP, Buffer.byteLength(APP));
  sas.app = app.url + '?' + generateBlobSASQueryParameters({
    containerName: 'application', blobName: 'topnwords.sh',
    permissions: BlobSASPermissions.parse('r'), expiresOn: expires }, cred).toString();
  sas.inputs = {};
  for (const [name, text] of Object.entries(INPUTS)) {
    const b = blobs.getContainerClient('input').getBlockBlobClient(name);
    await b.upload(text, Buffer.byteLength(text));
    sas.inputs[name] = b.url + '?' + generateBlobSASQueryParameters({
      containerName: 'input', blobName: name,
      permissions: BlobSASPermissions.parse('r'), expiresOn: expires }, cred).toString();
  }
  sas.output = blobs.getContainerClient('output').url + '?' + generateBlobSASQueryParameters({
    containerName: 'output', permissions: ContainerSASPermissions.parse('w'),
    expiresOn: expires }, cred).toString();
  const r = await fetch(sas.app);
  assert.equal(r.status, 200);
});

test('step 2: a pool of 2 nodes with a start task that installs the app', async () => {
  await batch.pool.add({
    id: POOL,
    vmSize: 'STANDARD_D1_V2',
    virtualMachineConfiguration: {
      imageReference: { publisher: 'canonical', offer: '0001-com-ubuntu-server-focal', sku: '20_04-lts', version: 'latest' },
      nodeAgentSKUId: 'batch.node.ubuntu 20.04',
    },
    targetDedicatedNodes: 2,
    startTask: {
      commandLine: '/bin/sh -c "cp -p topnwords.sh $AZ_BATCH_NODE_SHARED_DIR"',
      resourceFiles: [{ httpUrl: sas.app, filePath: 'topnwords.sh' }],
      waitForSuccess: true,
      userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'admin' } },
    },
  });
  const pool = await batch.pool.get(POOL);
  assert.equal(pool.id, POOL);
  assert.equal(pool.vmSize, 'STANDARD_D1_V2');
  assert.equal(pool.targetDedicatedNodes, 2);
  assert.equal(pool.taskSlotsPerNode, 1);
  assert.equal(pool.startTask.waitForSuccess, true);
  assert.equal((await batch.pool.exists(POOL)).body, true);
  assert.equal((await batch.pool.exists('nosuchpool')).body, false);
  // Nodes come up and run the start task.
  const nodes = await waitFor(async () => {
    const list = await batch.computeNode.list(POOL);
    return list.length === 2 && list.every((n) => n.state === 'idle') ? list : null;
  }, { timeoutMs: 30000, what: 'two idle nodes' });
  for (const n of nodes) {
    assert.equal(n.startTaskInfo.state, 'completed');
    assert.equal(n.startTaskInfo.exitCode, 0);
    assert.equal(n.startTaskInfo.result, 'success');
    const f = await batch.file.getFromComputeNode(POOL, n.id, 'shared/topnwords.sh');
    assert.equal(await streamText(f.readableStreamBody), APP);
  }
  const steady = await waitFor(async () => {
    const p = await batch.pool.get(POOL);
    return p.allocationState === 'steady' ? p : null;
  }, { what: 'steady pool' });
  assert.equal(steady.currentDedicatedNodes, 2);
});

test('step 3: a job and its tasks as one collection', async () => {
  await batch.job.add({ id: JOB, poolInfo: { poolId: POOL } });
  const tasks = Object.keys(INPUTS).map((name, i) => ({
    id: `task${i}`,
    commandLine: `/bin/sh -c "sh $AZ_BATCH_NODE_SHARED_DIR/topnwords.sh ${TOP_N} ${name} > ${name.replace('.txt', '_OUTPUT.txt')}"`,
    resourceFiles: [{ httpUrl: sas.inputs[name], filePath: name }],
    environmentSettings: [{ name: 'LC_ALL', value: 'C' }],
    outputFiles: [{
      filePattern: '*_OUTPUT.txt',
      destination: { container: { containerUrl: sas.output } },
      uploadOptions: { uploadCondition: 'tasksuccess' },
    }],
  }));
  const res = await batch.task.addCollection(JOB, tasks);
  assert.equal(res.value.length, 3);
  for (const r of res.value) {
    assert.equal(r.status, 'success', JSON.stringify(r));
    assert.ok(r.eTag);
    assert.ok(r.location.endsWith(`/jobs/${JOB}/tasks/${r.taskId}`));
  }
});

test('step 4: wait for completion, exit codes, stdout and stderr', async () => {
  await waitFor(async () => {
    const pending = await batch.task.list(JOB, {
      taskListOptions: { filter: "state ne 'completed'", select: 'id,state' } });
    for (const t of pending) assert.deepEqual(Object.keys(t).filter((k) => !['id', 'state'].includes(k) && t[k] !== undefined), []);
    return pending.length === 0;
  }, { timeoutMs: 60000, intervalMs: 100, what: 'all tasks completed' });
  const all = await batch.task.list(JOB);
  assert.equal(all.length, 3);
  const nodesUsed = new Set();
  for (const t of all) {
    assert.equal(t.state, 'completed');
    if (t.executionInfo.exitCode !== 0) {
      const e = await batch.file.getFromTask(JOB, t.id, 'stderr.txt');
      assert.fail(`${t.id}: ${JSON.stringify(t.executionInfo)} ${await streamText(e.readableStreamBody)}`);
    }
    assert.equal(t.executionInfo.result, 'success');
    assert.equal(t.executionInfo.retryCount, 0);
    assert.ok(t.executionInfo.startTime <= t.executionInfo.endTime);
    assert.equal(t.nodeInfo.poolId, POOL);
    nodesUsed.add(t.nodeInfo.nodeId);
    const out = await batch.file.getFromTask(JOB, t.id, 'stdout.txt');
    assert.equal(await streamText(out.readableStreamBody), '');
    const err = await batch.file.getFromTask(JOB, t.id, 'stderr.txt');
    assert.equal(await streamText(err.readableStreamBody), '');
    const props = await batch.file.getPropertiesFromTask(JOB, t.id, 'stdout.txt');
    assert.equal(String(props.ocpBatchFileIsdirectory), 'False');
    assert.equal(props.contentLength, 0);
    const files = await batch.file.listFromTask(JOB, t.id, { recursive: true });
    const names = files.map((f) => f.name);
    for (const n of ['stdout.txt', 'stderr.txt', 'wd', `wd/${t.id.replace('task', 'taskdata')}_OUTPUT.txt`])
      assert.ok(names.includes(n), `${n} in ${names}`);
  }
  assert.ok(nodesUsed.size >= 1);
  const counts = await batch.job.getTaskCounts(JOB);
  assert.deepEqual({ ...counts.taskCounts }, { active: 0, running: 0, completed: 3, succeeded: 3, failed: 0 });
});

test('step 5: outputs word for word, terminate and delete job and pool', async () => {
  const out = blobs.getContainerClient('output');
  const names = [];
  for await (const b of out.listBlobsFlat()) names.push(b.name);
  assert.deepEqual(names.sort(), Object.keys(INPUTS).map((n) => n.replace('.txt', '_OUTPUT.txt')).sort());
  for (const [name, text] of Object.entries(INPUTS)) {
    const got = (await out.getBlobClient(name.replace('.txt', '_OUTPUT.txt')).downloadToBuffer()).toString();
    assert.equal(got, topWords(text, TOP_N), name);
  }
  await batch.job.terminate(JOB, { jobTerminateOptions: {} });
  const job = await waitFor(async () => {
    const j = await batch.job.get(JOB);
    return j.state === 'completed' ? j : null;
  }, { what: 'job completed' });
  assert.equal(job.executionInfo.terminateReason, 'UserTerminate');
  await batch.job.deleteMethod(JOB);
  await waitFor(async () => {
    try { await batch.job.get(JOB); return false; } catch (e) { return e.statusCode === 404 && e.code === 'JobNotFound'; }
  }, { what: 'job gone' });
  await batch.pool.deleteMethod(POOL);
  await waitFor(async () => !(await batch.pool.exists(POOL)).body, { timeoutMs: 30000, what: 'pool gone' });
});

test('stop shoald', async () => {
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log());
});
