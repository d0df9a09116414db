// blob_sas.test.mjs: shared access signatures and anonymous access on the
// Blob service, through @azure/storage-blob's own SAS generators: blob,
// container and account SAS, stored access policies, expired and
// not-yet-valid tokens, wrong permissions, wrong resource, tampering,
// response-header overrides, and public containers.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices,
  BlobSASPermissions, BlobServiceClient, BlockBlobClient, ContainerClient,
  ContainerSASPermissions, StorageSharedKeyCredential,
  generateAccountSASQueryParameters, generateBlobSASQueryParameters,
} from '@azure/storage-blob';
import { startServer } from './lib/server.mjs';

const srv = await startServer({ name: 'blobsas' });
const svc = BlobServiceClient.fromConnectionString(srv.connStr);
const cred = new StorageSharedKeyCredential(srv.account, srv.key);
after(async () => { await srv.stop(); });

const minutes = (m) => new Date(Date.now() + m * 60e3);
async function rejects(p, status, code) {
  try {
    await p;
  } catch (e) {
    assert.equal(e.statusCode, status, `status of ${e.message}`);
    if (code) assert.equal(e.code ?? e.details?.errorCode, code);
    return e;
  }
  assert.fail(`expected ${status} ${code ?? ''}`);
}

const main = svc.getContainerClient('sasdata');
await main.create();
await main.getBlockBlobClient('doc.txt').upload('secret text', 11);
await main.getBlockBlobClient('other.txt').upload('other text', 10);

function blobSas(blobName, perms, extra = {}) {
  return generateBlobSASQueryParameters({
    containerName: 'sasdata', blobName,
    permissions: perms ? BlobSASPermissions.parse(perms) : undefined,
    startsOn: extra.identifier ? undefined : minutes(-5),
    expiresOn: extra.identifier ? undefined : minutes(30),
    ...extra,
  }, cred).toString();
}
function containerSas(name, perms, extra = {}) {
  return generateBlobSASQueryParameters({
    containerName: name,
    permissions: perms ? ContainerSASPermissions.parse(perms) : undefined,
    startsOn: extra.identifier ? undefined : minutes(-5),
    expiresOn: extra.identifier ? undefined : minutes(30),
    ...extra,
  }, cred).toString();
}
const blobUrl = (name, sas) => `${srv.blobUrl}/sasdata/${encodeURIComponent(name)}?${sas}`;

test('blob SAS: read allowed, writes refused, other blobs refused', async () => {
  const sas = blobSas('doc.txt', 'r');
  const b = new BlockBlobClient(blobUrl('doc.txt', sas));
  assert.equal((await b.downloadToBuffer()).toString(), 'secret text');
  assert.equal((await b.getProperties()).contentLength, 11);
  await rejects(b.upload('x', 1), 403, 'AuthorizationPermissionMismatch');
  await rejects(b.delete(), 403, 'AuthorizationPermissionMismatch');
  // the signature covers the blob name: replaying it elsewhere fails
  const other = new BlockBlobClient(blobUrl('other.txt', sas));
  await rejects(other.downloadToBuffer(), 403, 'AuthenticationFailed');
  // a blob SAS does not list its container
  await rejects(new ContainerClient(`${srv.blobUrl}/sasdata?${sas}`).listBlobsFlat().next(), 403);
  assert.equal((await main.getBlockBlobClient('doc.txt').downloadToBuffer()).toString(), 'secret text');
});

test('blob SAS: create without write may not overwrite', async () => {
  const fresh = new BlockBlobClient(blobUrl('created.txt', blobSas('created.txt', 'c')));
  await fresh.upload('first', 5);
  await rejects(fresh.upload('second', 6), 403, 'AuthorizationPermissionMismatch');
  assert.equal((await main.getBlockBlobClient('created.txt').downloadToBuffer()).toString(), 'first');
  const rw = new BlockBlobClient(blobUrl('created.txt', blobSas('created.txt', 'cw')));
  await rw.upload('second', 6);
  assert.equal((await main.getBlockBlobClient('created.txt').downloadToBuffer()).toString(), 'second');
});

test('container SAS: list, read, write, delete by letter', async () => {
  const list = new ContainerClient(`${srv.blobUrl}/sasdata?${containerSas('sasdata', 'l')}`);
  const names = [];
  for await (const it of list.listBlobsFlat()) names.push(it.name);
  assert.ok(names.includes('doc.txt') && names.includes('other.txt'));
  await rejects(list.getBlockBlobClient('doc.txt').downloadToBuffer(), 403, 'AuthorizationPermissionMismatch');
  const rw = new ContainerClient(`${srv.blobUrl}/sasdata?${containerSas('sasdata', 'rwd')}`);
  await rw.getBlockBlobClient('by-sas.txt').upload('via sas', 7);
  assert.equal((await rw.getBlockBlobClient('by-sas.txt').downloadToBuffer()).toString(), 'via sas');
  await rw.getBlockBlobClient('by-sas.txt').delete();
  await rejects(rw.listBlobsFlat().next(), 403, 'AuthorizationPermissionMismatch');
  // container administration is beyond a service SAS
  const all = new ContainerClient(`${srv.blobUrl}/sasdata?${containerSas('sasdata', 'racwdl')}`);
  await rejects(all.setMetadata({ a: 'b' }), 403);
  await rejects(all.delete(), 403);
  assert.equal(await main.exists(), true);
  // a SAS for one container does not open another
  const elsewhere = new ContainerClient(`${srv.blobUrl}/othercont?${containerSas('sasdata', 'l')}`);
  await rejects(elsewhere.listBlobsFlat().next(), 403);
});

test('account SAS: services, resource types, permissions', async () => {
  const sas = (perms, types, services = 'b') => generateAccountSASQueryParameters({
    services: AccountSASServices.parse(services).toString(),
    resourceTypes: AccountSASResourceTypes.parse(types).toString(),
    permissions: AccountSASPermissions.parse(perms),
    startsOn: minutes(-5), expiresOn: minutes(30),
  }, cred).toString();
  const full = new BlobServiceClient(`${srv.blobUrl}?${sas('rwdlac', 'sco')}`);
  const names = [];
  for await (const c of full.listContainers()) names.push(c.name);
  assert.ok(names.includes('sasdata'));
  const made = full.getContainerClient('by-account-sas');
  await made.create();
  await made.getBlockBlobClient('x').upload('acct', 4);
  assert.equal((await made.getBlockBlobClient('x').downloadToBuffer()).toString(), 'acct');
  const objOnly = new BlobServiceClient(`${srv.blobUrl}?${sas('rwdlac', 'o')}`);
  await rejects(objOnly.listContainers().next(), 403, 'AuthorizationResourceTypeMismatch');
  await rejects(objOnly.getContainerClient('nope-acct').create(), 403, 'AuthorizationResourceTypeMismatch');
  assert.equal((await objOnly.getContainerClient('sasdata').getBlockBlobClient('doc.txt').downloadToBuffer()).toString(), 'secret text');
  const readOnly = new BlobServiceClient(`${srv.blobUrl}?${sas('r', 'sco')}`);
  await rejects(readOnly.getContainerClient('sasdata').getBlockBlobClient('doc.txt').upload('x', 1), 403, 'AuthorizationPermissionMismatch');
  const queueOnly = new BlobServiceClient(`${srv.blobUrl}?${sas('rwdlac', 'sco', 'q')}`);
  await rejects(queueOnly.listContainers().next(), 403, 'AuthorizationServiceMismatch');
});

test('stored access policy: permissions and times come from the policy', async () => {
  const c = svc.getContainerClient('policied');
  await c.create();
  await c.getBlockBlobClient('p.txt').upload('policy data', 11);
  await c.setAccessPolicy(undefined, [
    { id: 'readers', accessPolicy: { permissions: 'rl', startsOn: minutes(-5), expiresOn: minutes(30) } },
    { id: 'expired', accessPolicy: { permissions: 'r', startsOn: minutes(-60), expiresOn: minutes(-30) } },
  ]);
  const acl = await c.getAccessPolicy();
  assert.deepEqual(acl.signedIdentifiers.map((s) => [s.id, s.accessPolicy.permissions]), [['readers', 'rl'], ['expired', 'r']]);
  const sas = containerSas('policied', undefined, { identifier: 'readers' });
  const viaPolicy = new ContainerClient(`${srv.blobUrl}/policied?${sas}`);
  assert.equal((await viaPolicy.getBlockBlobClient('p.txt').downloadToBuffer()).toString(), 'policy data');
  await rejects(viaPolicy.getBlockBlobClient('p.txt').upload('x', 1), 403, 'AuthorizationPermissionMismatch');
  const old = new ContainerClient(`${srv.blobUrl}/policied?${containerSas('policied', undefined, { identifier: 'expired' })}`);
  await rejects(old.getBlockBlobClient('p.txt').downloadToBuffer(), 403, 'AuthenticationFailed');
  // a field in both the SAS and the policy is refused
  const both = containerSas('policied', 'r', { identifier: 'readers', startsOn: undefined, expiresOn: undefined });
  await rejects(new ContainerClient(`${srv.blobUrl}/policied?${both}`).getBlockBlobClient('p.txt').downloadToBuffer(), 403);
  // revoking the policy revokes every SAS issued under it
  await c.setAccessPolicy(undefined, []);
  await rejects(viaPolicy.getBlockBlobClient('p.txt').downloadToBuffer(), 403, 'AuthenticationFailed');
});

test('SAS time window, tampering, protocol, missing expiry', async () => {
  const expired = blobSas('doc.txt', 'r', { startsOn: minutes(-60), expiresOn: minutes(-1) });
  await rejects(new BlockBlobClient(blobUrl('doc.txt', expired)).downloadToBuffer(), 403, 'AuthenticationFailed');
  const future = blobSas('doc.txt', 'r', { startsOn: minutes(30), expiresOn: minutes(60) });
  await rejects(new BlockBlobClient(blobUrl('doc.txt', future)).downloadToBuffer(), 403, 'AuthenticationFailed');
  const good = blobSas('doc.txt', 'r');
  const tampered = good.replace(/sp=r/, 'sp=rw');
  assert.notEqual(tampered, good);
  await rejects(new BlockBlobClient(blobUrl('doc.txt', tampered)).upload('x', 1), 403, 'AuthenticationFailed');
  const badSig = good.replace(/sig=[^&]+/, 'sig=' + encodeURIComponent(Buffer.alloc(32, 1).toString('base64')));
  await rejects(new BlockBlobClient(blobUrl('doc.txt', badSig)).downloadToBuffer(), 403, 'AuthenticationFailed');
  const httpsOnly = blobSas('doc.txt', 'r', { protocol: 'https' });
  await rejects(new BlockBlobClient(blobUrl('doc.txt', httpsOnly)).downloadToBuffer(), 403, 'AuthorizationProtocolMismatch');
  const otherIp = blobSas('doc.txt', 'r', { ipRange: { start: '10.1.2.3' } });
  await rejects(new BlockBlobClient(blobUrl('doc.txt', otherIp)).downloadToBuffer(), 403, 'AuthorizationSourceIPMismatch');
  assert.equal((await new BlockBlobClient(blobUrl('doc.txt', good)).downloadToBuffer()).toString(), 'secret text');
});

test('SAS response overrides replace the stored content headers', async () => {
  const sas = blobSas('doc.txt', 'r', {
    contentType: 'application/x-override', contentDisposition: 'inline',
    cacheControl: 'no-store', contentLanguage: 'fr', contentEncoding: 'identity',
  });
  const r = await new BlockBlobClient(blobUrl('doc.txt', sas)).download();
  assert.equal(r.contentType, 'application/x-override');
  assert.equal(r.contentDisposition, 'inline');
  assert.equal(r.cacheControl, 'no-store');
  assert.equal(r.contentLanguage, 'fr');
  assert.equal(r.contentEncoding, 'identity');
  assert.equal((await main.getBlockBlobClient('doc.txt').getProperties()).contentType, 'application/octet-stream');
});

test('anonymous access: private 404, public blob, public container', async () => {
  const anonBlob = (c, b) => new BlockBlobClient(`${srv.blobUrl}/${c}/${b}`);
  const anonCont = (c) => new ContainerClient(`${srv.blobUrl}/${c}`);
  await rejects(anonBlob('sasdata', 'doc.txt').downloadToBuffer(), 404, 'ResourceNotFound');
  await rejects(anonCont('sasdata').listBlobsFlat().next(), 404, 'ResourceNotFound');
  await rejects(anonCont('no-such-container').listBlobsFlat().next(), 404, 'ResourceNotFound');

  const pb = svc.getContainerClient('public-blobs');
  await pb.create({ access: 'blob' });
  assert.equal((await pb.getProperties()).blobPublicAccess, 'blob');
  await pb.getBlockBlobClient('open.txt').upload('open data', 9);
  assert.equal((await anonBlob('public-blobs', 'open.txt').downloadToBuffer()).toString(), 'open data');
  await rejects(anonBlob('public-blobs', 'missing.txt').downloadToBuffer(), 404, 'BlobNotFound');
  await rejects(anonCont('public-blobs').listBlobsFlat().next(), 404, 'ResourceNotFound');
  await rejects(anonBlob('public-blobs', 'open.txt').upload('overwrite', 9), 404, 'ResourceNotFound');
  await rejects(anonBlob('public-blobs', 'open.txt').delete(), 404, 'ResourceNotFound');
  assert.equal((await pb.getBlockBlobClient('open.txt').downloadToBuffer()).toString(), 'open data');

  const pc = svc.getContainerClient('public-all');
  await pc.create({ access: 'container' });
  await pc.getBlockBlobClient('a.txt').upload('a', 1);
  const names = [];
  for await (const it of anonCont('public-all').listBlobsFlat()) names.push(it.name);
  assert.deepEqual(names, ['a.txt']);
  assert.equal((await anonCont('public-all').getProperties()).blobPublicAccess, 'container');
  // making it private again closes it
  await pc.setAccessPolicy(undefined, []);
  await rejects(anonBlob('public-all', 'a.txt').downloadToBuffer(), 404, 'ResourceNotFound');
});

test('SharedKey with a wrong key is refused and changes nothing', async () => {
  const bad = new BlobServiceClient(srv.blobUrl, new StorageSharedKeyCredential(srv.account, Buffer.alloc(64, 7).toString('base64')));
  await rejects(bad.getContainerClient('sasdata').getBlockBlobClient('doc.txt').upload('evil', 4), 403, 'AuthenticationFailed');
  await rejects(bad.getContainerClient('sasdata').delete(), 403, 'AuthenticationFailed');
  assert.equal((await main.getBlockBlobClient('doc.txt').downloadToBuffer()).toString(), 'secret text');
});
