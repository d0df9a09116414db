"""tests/integ/python/test_blob.py: azure-storage-blob (Debian 12.15) against
shoald, used exactly as a user would: BlobServiceClient.from_connection_string
with the full connection string (storage-wire.md §2), SAS tokens made by the
SDK's own generate_*_sas functions, no raw HTTP. Each case uses its own
container so one failure does not hide the others. Plain TAP on stdout.
"""
import base64
import datetime
import hashlib
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoaltest import (ACCOUNT, KEY, Tap, Wire, start_or_bail,  # noqa: E402
                       wait_for)

from azure.core import MatchConditions  # noqa: E402
from azure.core.exceptions import (HttpResponseError,  # noqa: E402
                                   ResourceExistsError, ResourceModifiedError,
                                   ResourceNotFoundError)
from azure.storage.blob import (AccessPolicy,  # noqa: E402
                                AccountSasPermissions, BlobBlock, BlobClient,
                                BlobPrefix, BlobSasPermissions,
                                BlobServiceClient, ContainerClient,
                                ContainerSasPermissions, ContentSettings,
                                ResourceTypes, generate_account_sas,
                                generate_blob_sas, generate_container_sas)

MiB = 1024 * 1024
srv = start_or_bail('pyblob')
wire = Wire()
tap = Tap(srv, wire)
# A few retries only, so a server error shows up quickly (and in the wire
# log) instead of after 10 exponential back-offs.
client_kw = dict(retry_total=2, **wire.storage_kwargs())
svc = BlobServiceClient.from_connection_string(srv.conn_str, **client_kw)


def new_container(prefix='py'):
    name = '%s-%s' % (prefix, uuid.uuid4().hex[:12])
    cc = svc.create_container(name)
    return cc


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def expect_error(cls, fn, status=None, code=None):
    try:
        fn()
    except cls as e:
        if status is not None:
            assert e.status_code == status, 'status %s, wanted %s: %s' % (
                e.status_code, status, e)
        if code is not None:
            assert e.error_code == code, 'error_code %r, wanted %r: %s' % (
                e.error_code, code, e)
        return e
    raise AssertionError('no %s raised' % cls.__name__)


def wire_since(mark):
    return wire.requests_since(mark)


@tap.case('create_container, then 409 ResourceExistsError '
          'ContainerAlreadyExists on the same name')
def _():
    name = 'pyc-' + uuid.uuid4().hex[:10]
    cc = svc.create_container(name, metadata={'owner': 'py'})
    assert cc.container_name == name
    e = expect_error(ResourceExistsError, lambda: svc.create_container(name),
                     409, 'ContainerAlreadyExists')
    props = cc.get_container_properties()
    assert props.name == name, props.name
    assert props.metadata == {'owner': 'py'}, props.metadata
    assert cc.exists() is True
    assert svc.get_container_client('pyc-nosuch-' + name[4:]).exists() is False
    del e


@tap.case('upload_blob small, then overwrite=False default gives '
          'ResourceExistsError BlobAlreadyExists; overwrite=True replaces')
def _():
    cc = new_container()
    m = wire.mark()
    bc = cc.upload_blob('dir1/small.txt', b'hello shoal\n')
    put = [r for r in wire_since(m) if r[0] == 'PUT']
    assert put, 'no PUT seen'
    assert put[-1][2].get('If-None-Match') == '*', put[-1][2]
    assert put[-1][2].get('x-ms-version') == '2021-12-02', put[-1][2]
    assert put[-1][3] == 201, put[-1][3]
    assert bc.download_blob().readall() == b'hello shoal\n'
    expect_error(ResourceExistsError,
                 lambda: cc.upload_blob('dir1/small.txt', b'other'),
                 409, 'BlobAlreadyExists')
    assert bc.download_blob().readall() == b'hello shoal\n', \
        'a refused upload changed the blob'
    cc.upload_blob('dir1/small.txt', b'replaced', overwrite=True)
    assert bc.download_blob().readall() == b'replaced'


BIG = os.urandom(10 * MiB + 12345)


@tap.case('upload 10 MiB with lowered max_single_put_size/max_block_size: '
          'Put Block x N + Put Block List, committed block list as expected')
def _():
    cc = new_container()
    small = BlobServiceClient.from_connection_string(
        srv.conn_str, max_single_put_size=1 * MiB, max_block_size=1 * MiB,
        **client_kw)
    bc = small.get_blob_client(cc.container_name, 'big.bin')
    m = wire.mark()
    bc.upload_blob(BIG)
    reqs = wire_since(m)
    blocks = [r for r in reqs if 'comp=block&' in r[1] or
              r[1].endswith('comp=block')]
    lists = [r for r in reqs if 'comp=blocklist' in r[1]]
    assert len(blocks) == 11, 'Put Block requests: %d' % len(blocks)
    assert all(r[3] == 201 for r in blocks), [r[3] for r in blocks]
    assert len(lists) == 1 and lists[0][3] == 201, [r[3] for r in lists]
    committed, uncommitted = bc.get_block_list('all')
    assert len(committed) == 11, len(committed)
    assert uncommitted == [], uncommitted
    assert sum(b.size for b in committed) == len(BIG)
    props = bc.get_blob_properties()
    assert props.size == len(BIG), props.size
    assert props.blob_type == 'BlockBlob', props.blob_type


@tap.case('download_blob().readall() of 10 MiB byte-for-byte '
          '(default: one x-ms-range GET of the first 32 MiB)')
def _():
    cc = new_container()
    bc = cc.upload_blob('big.bin', BIG)
    m = wire.mark()
    data = bc.download_blob().readall()
    assert len(data) == len(BIG), len(data)
    assert data == BIG, 'content differs'
    gets = [r for r in wire_since(m) if r[0] == 'GET']
    assert len(gets) == 1, len(gets)
    assert gets[0][2].get('x-ms-range') == 'bytes=0-33554431', gets[0][2]
    assert gets[0][3] == 206, gets[0][3]
    rh = {k.lower(): v for k, v in gets[0][4].items()}
    assert rh.get('content-range') == 'bytes 0-%d/%d' % (
        len(BIG) - 1, len(BIG)), rh.get('content-range')


@tap.case('chunked download (first range, then ranges with If-Match), '
          'sequential and max_concurrency=4, byte-for-byte')
def _():
    cc = new_container()
    cc.upload_blob('big.bin', BIG)
    small = BlobServiceClient.from_connection_string(
        srv.conn_str, max_single_get_size=4 * MiB, max_chunk_get_size=1 * MiB,
        **client_kw)
    bc = small.get_blob_client(cc.container_name, 'big.bin')
    etag = bc.get_blob_properties().etag
    m = wire.mark()
    data = bc.download_blob().readall()
    assert data == BIG, 'sequential chunked download differs'
    gets = [r for r in wire_since(m) if r[0] == 'GET']
    assert gets[0][2].get('x-ms-range') == 'bytes=0-%d' % (4 * MiB - 1)
    assert len(gets) == 1 + 7, len(gets)
    for r in gets[1:]:
        assert r[2].get('If-Match') == etag, (r[2].get('If-Match'), etag)
        assert r[3] == 206, r[3]
    data = bc.download_blob(max_concurrency=4).readall()
    assert data == BIG, 'parallel chunked download differs'
    # A range in the middle
    part = bc.download_blob(offset=5 * MiB + 3, length=1000).readall()
    assert part == BIG[5 * MiB + 3:5 * MiB + 1003]


@tap.case('chunked download fails with ResourceModifiedError when the blob '
          'changes between chunks (If-Match honoured)')
def _():
    cc = new_container()
    cc.upload_blob('big.bin', BIG)
    small = BlobServiceClient.from_connection_string(
        srv.conn_str, max_single_get_size=1 * MiB, max_chunk_get_size=1 * MiB,
        **client_kw)
    bc = small.get_blob_client(cc.container_name, 'big.bin')
    stream = bc.download_blob()
    cc.upload_blob('big.bin', b'x' * (2 * MiB), overwrite=True)
    expect_error(ResourceModifiedError, stream.readall, 412,
                 'ConditionNotMet')


@tap.case('empty blob: upload b"" and download_blob().readall() == b"" '
          '(416 InvalidRange, then the SDK retries without a range)')
def _():
    cc = new_container()
    bc = cc.upload_blob('empty', b'')
    m = wire.mark()
    assert bc.download_blob().readall() == b''
    gets = [r for r in wire_since(m) if r[0] == 'GET']
    assert [r[3] for r in gets] == [416, 200], [r[3] for r in gets]
    assert 'x-ms-range' not in gets[1][2], gets[1][2]
    assert bc.get_blob_properties().size == 0


@tap.case('list_blobs with name_starts_with, and paging with '
          'results_per_page')
def _():
    cc = new_container()
    names = ['a.txt', 'dir1/x.txt', 'dir1/y.txt', 'dir1/sub/z.txt',
             'dir2/w.txt', 'dir10/v.txt']
    for n in names:
        cc.upload_blob(n, n.encode(), metadata={'name': n.replace('/', '_')})
    got = [b.name for b in cc.list_blobs(name_starts_with='dir1/')]
    assert got == ['dir1/sub/z.txt', 'dir1/x.txt', 'dir1/y.txt'], got
    got = [b.name for b in cc.list_blobs()]
    assert got == sorted(names), got
    pages = cc.list_blobs(results_per_page=2).by_page()
    seen = []
    npages = 0
    for page in pages:
        npages += 1
        seen += [b.name for b in page]
    assert seen == sorted(names), seen
    assert npages == 3, npages
    withmeta = {b.name: b.metadata for b in cc.list_blobs(include=['metadata'])}
    assert withmeta['dir1/x.txt'] == {'name': 'dir1_x.txt'}, withmeta
    b = next(iter(cc.list_blobs(name_starts_with='a.txt')))
    assert b.size == 5 and b.blob_type == 'BlockBlob', (b.size, b.blob_type)
    assert b.etag and b.last_modified, (b.etag, b.last_modified)


@tap.case('walk_blobs with delimiter: prefixes and blobs, and walking into '
          'a prefix')
def _():
    cc = new_container()
    for n in ['a.txt', 'dir1/x.txt', 'dir1/sub/z.txt', 'dir2/w.txt']:
        cc.upload_blob(n, b'.')
    top = list(cc.walk_blobs(delimiter='/'))
    kinds = [(type(i).__name__, i.name) for i in top]
    # The SDK puts a page's prefixes before its blobs (BlobPrefixPaged).
    assert kinds == [('BlobPrefix', 'dir1/'), ('BlobPrefix', 'dir2/'),
                     ('BlobProperties', 'a.txt')], kinds
    d1 = [i for i in top if isinstance(i, BlobPrefix) and i.name == 'dir1/'][0]
    inner = [(type(i).__name__, i.name) for i in d1]
    assert inner == [('BlobPrefix', 'dir1/sub/'),
                     ('BlobProperties', 'dir1/x.txt')], inner
    got = [i.name for i in cc.walk_blobs(name_starts_with='dir1/',
                                         delimiter='/')]
    assert got == ['dir1/sub/', 'dir1/x.txt'], got


@tap.case('metadata: upload with metadata, set_blob_metadata replaces, '
          'get_blob_properties returns it; container metadata too')
def _():
    cc = new_container()
    bc = cc.upload_blob('m.txt', b'm', metadata={'color': 'red', 'n_1': 'x'})
    assert bc.get_blob_properties().metadata == {'color': 'red', 'n_1': 'x'}
    etag = bc.get_blob_properties().etag
    bc.set_blob_metadata({'shape': 'round', 'Cap': 'Mixed Case'})
    p = bc.get_blob_properties()
    assert p.metadata == {'shape': 'round', 'Cap': 'Mixed Case'}, p.metadata
    assert p.etag != etag, 'ETag did not change on set metadata'
    assert bc.download_blob().properties.metadata == p.metadata
    cc.set_container_metadata({'team': 'blue'})
    assert cc.get_container_properties().metadata == {'team': 'blue'}


@tap.case('properties: content settings on upload, set_http_headers, '
          'and what download_blob reports')
def _():
    cc = new_container()
    cs = ContentSettings(content_type='text/plain; charset=utf-8',
                         content_encoding='identity',
                         content_language='en-GB',
                         cache_control='max-age=60',
                         content_disposition='attachment; filename="p.txt"')
    data = b'content settings\n'
    bc = cc.upload_blob('p.txt', data, content_settings=cs)
    p = bc.get_blob_properties()
    got = p.content_settings
    for k in ('content_type', 'content_encoding', 'content_language',
              'cache_control', 'content_disposition'):
        assert getattr(got, k) == getattr(cs, k), (k, getattr(got, k))
    assert bytes(got.content_md5) == hashlib.md5(data).digest(), \
        got.content_md5
    assert p.size == len(data) and p.blob_type == 'BlockBlob'
    assert p.creation_time and p.last_modified and p.etag
    assert p.lease.status == 'unlocked' and p.lease.state == 'available', \
        (p.lease.status, p.lease.state)
    d = bc.download_blob()
    assert d.properties.content_settings.content_type == cs.content_type
    assert d.properties.content_settings.content_disposition == \
        cs.content_disposition
    assert d.readall() == data
    bc.set_http_headers(ContentSettings(content_type='application/json'))
    got = bc.get_blob_properties().content_settings
    assert got.content_type == 'application/json', got.content_type
    # Set Blob Properties replaces them all: the others are now cleared.
    assert not got.content_language and not got.cache_control, \
        (got.content_language, got.cache_control)


@tap.case('conditional requests: IfModified with the current etag gives '
          '304 ConditionNotMet; stale etag + IfNotModified gives 412')
def _():
    cc = new_container()
    bc = cc.upload_blob('c.txt', b'one')
    etag = bc.get_blob_properties().etag
    # The SDK maps 304 + x-ms-error-code ConditionNotMet (what Azure sends)
    # to ResourceModifiedError, not ResourceNotModifiedError.
    expect_error(HttpResponseError,
                 lambda: bc.download_blob(
                     etag=etag, match_condition=MatchConditions.IfModified),
                 304, 'ConditionNotMet')
    cc.upload_blob('c.txt', b'two', overwrite=True)
    expect_error(ResourceModifiedError,
                 lambda: bc.upload_blob(
                     b'three', overwrite=True, etag=etag,
                     match_condition=MatchConditions.IfNotModified),
                 412, 'ConditionNotMet')
    assert bc.download_blob().readall() == b'two'


@tap.case('lease: acquire, a write without the lease is refused 412, '
          'with the lease it works, release')
def _():
    cc = new_container()
    bc = cc.upload_blob('l.txt', b'one')
    lease = bc.acquire_lease(lease_duration=15)
    expect_error(HttpResponseError,
                 lambda: bc.upload_blob(b'x', overwrite=True), 412,
                 'LeaseIdMissing')
    bc.upload_blob(b'two', overwrite=True, lease=lease)
    lease.release()
    bc.upload_blob(b'three', overwrite=True)
    assert bc.download_blob().readall() == b'three'


@tap.case('generate_blob_sas read-only: a BlobClient with only the SAS '
          'downloads; upload is refused 403')
def _():
    cc = new_container()
    data = b'read me through a SAS\n'
    cc.upload_blob('dir/sas.txt', data)
    sas = generate_blob_sas(ACCOUNT, cc.container_name, 'dir/sas.txt',
                            account_key=KEY,
                            permission=BlobSasPermissions(read=True),
                            start=now() - datetime.timedelta(minutes=5),
                            expiry=now() + datetime.timedelta(hours=1))
    url = '%s/%s/dir/sas.txt?%s' % (srv.blob_url, cc.container_name, sas)
    ro = BlobClient.from_blob_url(url, **client_kw)
    assert ro.download_blob().readall() == data
    assert ro.get_blob_properties().size == len(data)
    expect_error(HttpResponseError,
                 lambda: ro.upload_blob(b'nope', overwrite=True), 403,
                 'AuthorizationPermissionMismatch')
    ro2 = BlobClient(srv.blob_url, cc.container_name, 'dir/sas.txt',
                     credential=sas, **client_kw)
    assert ro2.download_blob().readall() == data
    # The SAS names one blob: another blob of the container is refused.
    cc.upload_blob('other.txt', b'o')
    other = BlobClient(srv.blob_url, cc.container_name, 'other.txt',
                       credential=sas, **client_kw)
    expect_error(HttpResponseError, other.download_blob, 403)
    assert cc.get_blob_client('dir/sas.txt').download_blob().readall() == data


@tap.case('blob SAS: expired is refused 403 AuthenticationFailed; a '
          'tampered signature is refused 403')
def _():
    cc = new_container()
    cc.upload_blob('e.txt', b'e')
    old = generate_blob_sas(ACCOUNT, cc.container_name, 'e.txt',
                            account_key=KEY,
                            permission=BlobSasPermissions(read=True),
                            start=now() - datetime.timedelta(hours=2),
                            expiry=now() - datetime.timedelta(hours=1))
    bc = BlobClient(srv.blob_url, cc.container_name, 'e.txt',
                    credential=old, **client_kw)
    expect_error(HttpResponseError, bc.download_blob, 403,
                 'AuthenticationFailed')
    good = generate_blob_sas(ACCOUNT, cc.container_name, 'e.txt',
                             account_key=KEY,
                             permission=BlobSasPermissions(read=True),
                             expiry=now() + datetime.timedelta(hours=1))
    bad = good.replace('sp=r', 'sp=rw')
    assert bad != good
    bc = BlobClient(srv.blob_url, cc.container_name, 'e.txt',
                    credential=bad, **client_kw)
    expect_error(HttpResponseError,
                 lambda: bc.upload_blob(b'x', overwrite=True), 403,
                 'AuthenticationFailed')


@tap.case('generate_container_sas (racwl): a ContainerClient with only the '
          'SAS lists, uploads, downloads; without l listing is refused 403')
def _():
    cc = new_container()
    cc.upload_blob('one.txt', b'1')
    sas = generate_container_sas(
        ACCOUNT, cc.container_name, account_key=KEY,
        permission=ContainerSasPermissions(read=True, add=True, create=True,
                                           write=True, list=True),
        expiry=now() + datetime.timedelta(hours=1))
    url = '%s/%s?%s' % (srv.blob_url, cc.container_name, sas)
    sc = ContainerClient.from_container_url(url, **client_kw)
    sc.upload_blob('two.txt', b'22')
    assert sorted(b.name for b in sc.list_blobs()) == ['one.txt', 'two.txt']
    assert sc.get_blob_client('two.txt').download_blob().readall() == b'22'
    expect_error(HttpResponseError,
                 lambda: sc.get_blob_client('one.txt').delete_blob(), 403,
                 'AuthorizationPermissionMismatch')
    nol = generate_container_sas(
        ACCOUNT, cc.container_name, account_key=KEY,
        permission=ContainerSasPermissions(read=True),
        expiry=now() + datetime.timedelta(hours=1))
    sc2 = ContainerClient(srv.blob_url, cc.container_name, credential=nol,
                          **client_kw)
    expect_error(HttpResponseError, lambda: list(sc2.list_blobs()), 403,
                 'AuthorizationPermissionMismatch')
    assert sc2.get_blob_client('one.txt').download_blob().readall() == b'1'


@tap.case('generate_account_sas: a BlobServiceClient with only the SAS '
          'creates a container, uploads, lists, downloads, deletes')
def _():
    sas = generate_account_sas(
        ACCOUNT, KEY,
        resource_types=ResourceTypes(service=True, container=True,
                                     object=True),
        permission=AccountSasPermissions(read=True, write=True, delete=True,
                                         list=True, add=True, create=True),
        expiry=now() + datetime.timedelta(hours=1))
    asvc = BlobServiceClient(srv.blob_url, credential=sas, **client_kw)
    name = 'pyacct-' + uuid.uuid4().hex[:10]
    cc = asvc.create_container(name)
    cc.upload_blob('a.txt', b'account sas')
    names = [c.name for c in asvc.list_containers(name_starts_with='pyacct-')]
    assert name in names, names
    assert cc.get_blob_client('a.txt').download_blob().readall() == \
        b'account sas'
    assert [b.name for b in cc.list_blobs()] == ['a.txt']
    cc.delete_blob('a.txt')
    asvc.delete_container(name)
    assert svc.get_container_client(name).exists() is False
    ro = generate_account_sas(
        ACCOUNT, KEY, resource_types=ResourceTypes(object=True),
        permission=AccountSasPermissions(read=True),
        expiry=now() + datetime.timedelta(hours=1))
    rsvc = BlobServiceClient(srv.blob_url, credential=ro, **client_kw)
    # srt=o only: a container-level operation is refused.
    expect_error(HttpResponseError,
                 lambda: rsvc.create_container('pyacct-' +
                                               uuid.uuid4().hex[:10]),
                 403, 'AuthorizationResourceTypeMismatch')


@tap.case('container access policy: public access blob allows anonymous '
          'download; a stored access policy (si) backs a SAS')
def _():
    name = 'pypub-' + uuid.uuid4().hex[:10]
    cc = svc.create_container(name, public_access='blob')
    cc.upload_blob('pub.txt', b'public')
    anon = BlobClient(srv.blob_url, name, 'pub.txt', **client_kw)
    assert anon.download_blob().readall() == b'public'
    # Blob-level public access does not allow listing.
    expect_error(HttpResponseError,
                 lambda: list(ContainerClient(srv.blob_url, name,
                                              **client_kw).list_blobs()))
    cc.set_container_access_policy(
        {'pol1': AccessPolicy(permission=ContainerSasPermissions(read=True),
                              start=now() - datetime.timedelta(minutes=5),
                              expiry=now() + datetime.timedelta(hours=1))},
        public_access=None)
    acl = cc.get_container_access_policy()
    assert acl['public_access'] is None, acl
    ids = [i.id for i in acl['signed_identifiers']]
    assert ids == ['pol1'], ids
    assert acl['signed_identifiers'][0].access_policy.permission == 'r'
    expect_error(HttpResponseError, anon.download_blob)
    sas = generate_blob_sas(ACCOUNT, name, 'pub.txt', account_key=KEY,
                            policy_id='pol1')
    bc = BlobClient(srv.blob_url, name, 'pub.txt', credential=sas,
                    **client_kw)
    assert bc.download_blob().readall() == b'public'
    expect_error(HttpResponseError,
                 lambda: bc.upload_blob(b'x', overwrite=True), 403)
    # Dropping the policy revokes the SAS.
    cc.set_container_access_policy({}, public_access=None)
    expect_error(HttpResponseError, bc.download_blob, 403)


@tap.case('stage_block/commit_block_list by hand; list_blobs '
          'include=uncommittedblobs before the commit')
def _():
    cc = new_container()
    bc = cc.get_blob_client('staged')
    bc.stage_block('YmxvY2sx', b'one')
    bc.stage_block('YmxvY2sy', b'two')
    listed = {b.name: b.size for b in
              cc.list_blobs(include=['uncommittedblobs'])}
    assert listed == {'staged': 0}, listed
    assert [b.name for b in cc.list_blobs()] == []
    committed, uncommitted = bc.get_block_list('all')
    assert committed == [] and len(uncommitted) == 2, (committed,
                                                       uncommitted)
    bc.commit_block_list([BlobBlock('YmxvY2sy'), BlobBlock('YmxvY2sx')])
    assert bc.download_blob(encoding='utf-8').readall() == 'twoone'
    committed, uncommitted = bc.get_block_list('all')
    assert [b.id for b in committed] == ['YmxvY2sy', 'YmxvY2sx']
    assert uncommitted == []


@tap.case('list_containers with name_starts_with and include_metadata')
def _():
    tag = uuid.uuid4().hex[:8]
    for i in range(3):
        svc.create_container('pylc%s-%d' % (tag, i), metadata={'i': str(i)})
    got = list(svc.list_containers(name_starts_with='pylc' + tag,
                                   include_metadata=True))
    assert [c.name for c in got] == ['pylc%s-%d' % (tag, i)
                                     for i in range(3)], [c.name for c in got]
    assert [c.metadata for c in got] == [{'i': '0'}, {'i': '1'}, {'i': '2'}]
    pages = list(svc.list_containers(name_starts_with='pylc' + tag,
                                     results_per_page=2).by_page())
    assert len(pages) == 2, len(pages)


@tap.case('delete blob (then BlobNotFound) and delete container '
          '(then ContainerNotFound)')
def _():
    cc = new_container()
    bc = cc.upload_blob('d.txt', b'd')
    assert bc.exists() is True
    bc.delete_blob()
    assert bc.exists() is False
    expect_error(ResourceNotFoundError, bc.get_blob_properties, 404,
                 'BlobNotFound')
    expect_error(ResourceNotFoundError, bc.download_blob, 404, 'BlobNotFound')
    expect_error(ResourceNotFoundError, bc.delete_blob, 404, 'BlobNotFound')
    cc.upload_blob('e.txt', b'e')
    cc.delete_container()
    expect_error(ResourceNotFoundError, cc.get_container_properties, 404,
                 'ContainerNotFound')
    expect_error(ResourceNotFoundError, lambda: cc.upload_blob('f', b'f'),
                 404, 'ContainerNotFound')


@tap.case('validate_content=True: single put and block upload send '
          'Content-MD5 and succeed; chunked download validates MD5s')
def _():
    cc = new_container()
    m = wire.mark()
    cc.upload_blob('v1.bin', b'validated\n', validate_content=True)
    puts = [r for r in wire_since(m) if r[0] == 'PUT']
    assert puts and 'Content-MD5' in puts[-1][2], puts[-1][2]
    small = BlobServiceClient.from_connection_string(
        srv.conn_str, max_single_put_size=1 * MiB, max_block_size=1 * MiB,
        max_single_get_size=1 * MiB, max_chunk_get_size=1 * MiB, **client_kw)
    data = BIG[:3 * MiB + 7]
    bc = small.get_blob_client(cc.container_name, 'v2.bin')
    m = wire.mark()
    bc.upload_blob(data, validate_content=True)
    blocks = [r for r in wire_since(m) if 'comp=block&' in r[1]]
    assert len(blocks) == 4 and all('Content-MD5' in r[2] for r in blocks)
    m = wire.mark()
    assert bc.download_blob(validate_content=True).readall() == data
    gets = [r for r in wire_since(m) if r[0] == 'GET']
    assert all(r[2].get('x-ms-range-get-content-md5') == 'true'
               for r in gets), [r[2] for r in gets]
    assert all('Content-MD5' in r[4] or 'content-md5' in
               {k.lower() for k in r[4]} for r in gets)
    # A wrong Content-MD5 is refused (sent by hand via the SDK's headers).
    bad = hashlib.md5(b'not the body').digest()
    expect_error(HttpResponseError,
                 lambda: cc.upload_blob(
                     'v3.bin', b'body', headers={
                         'Content-MD5': base64.b64encode(bad).decode()}),
                 400, 'Md5Mismatch')


@tap.case('unicode and space in blob names: upload, list, download, SAS')
def _():
    cc = new_container()
    name = 'dir with space/ünï©ødé ✓ + & %.txt'
    cc.upload_blob(name, b'u')
    assert [b.name for b in cc.list_blobs()] == [name]
    assert cc.get_blob_client(name).download_blob().readall() == b'u'
    sas = generate_blob_sas(ACCOUNT, cc.container_name, name, account_key=KEY,
                            permission=BlobSasPermissions(read=True),
                            expiry=now() + datetime.timedelta(hours=1))
    bc = BlobClient(srv.blob_url, cc.container_name, name, credential=sas,
                    **client_kw)
    assert bc.download_blob().readall() == b'u'


@tap.case('start_copy_from_url from a blob of this service (with a SAS)')
def _():
    cc = new_container()
    src = cc.upload_blob('src.bin', BIG[:100000])
    sas = generate_blob_sas(ACCOUNT, cc.container_name, 'src.bin',
                            account_key=KEY,
                            permission=BlobSasPermissions(read=True),
                            expiry=now() + datetime.timedelta(hours=1))
    dst = cc.get_blob_client('dst.bin')
    r = dst.start_copy_from_url(src.url + '?' + sas)
    assert r['copy_status'] in ('success', 'pending'), r

    def copied():
        p = dst.get_blob_properties()
        return p.copy.status == 'success' and p
    wait_for(copied, 20, what='copy status success')
    assert dst.download_blob().readall() == BIG[:100000]


sys.exit(tap.done())
