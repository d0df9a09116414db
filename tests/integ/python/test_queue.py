"""tests/integ/python/test_queue.py: azure-storage-queue (Debian 12.6) against
shoald, used as a user would: QueueServiceClient.from_connection_string with
the full connection string, SAS tokens from the SDK's generate_*_sas. Each
case uses its own queue. Plain TAP on stdout.

Python queue 12.6 sends a stray "x-ms-meta: {...}" header beside the
x-ms-meta-<name> ones on Create Queue (storage-wire.md §3.1): it is signed,
so a server that drops it from the canonical headers fails the signature.
"""
import datetime
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoaltest import (ACCOUNT, KEY, Tap, Wire, start_or_bail,  # noqa: E402
                       wait_for)

from azure.core.exceptions import (HttpResponseError,  # noqa: E402
                                   ResourceExistsError, ResourceNotFoundError)
from azure.storage.queue import (AccessPolicy,  # noqa: E402
                                 AccountSasPermissions,
                                 BinaryBase64DecodePolicy,
                                 BinaryBase64EncodePolicy, QueueClient,
                                 QueueSasPermissions, QueueServiceClient,
                                 ResourceTypes, generate_account_sas,
                                 generate_queue_sas)

srv = start_or_bail('pyqueue')
wire = Wire()
tap = Tap(srv, wire)
client_kw = dict(retry_total=2, **wire.storage_kwargs())
svc = QueueServiceClient.from_connection_string(srv.conn_str, **client_kw)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def new_queue(prefix='pyq', **kw):
    name = '%s-%s' % (prefix, uuid.uuid4().hex[:12])
    return svc.create_queue(name, **kw)


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


@tap.case('create_queue with metadata (the stray x-ms-meta header is signed '
          'and accepted); get_queue_properties returns the metadata')
def _():
    m = wire.mark()
    qc = new_queue(metadata={'m': '1', 'owner': 'py'})
    put = [r for r in wire.requests_since(m) if r[0] == 'PUT']
    assert put and put[0][3] == 201, [r[3] for r in put]
    # Document the quirk: the SDK did send the stray header.
    assert 'x-ms-meta' in put[0][2], sorted(put[0][2])
    assert put[0][2].get('x-ms-version') == '2021-02-12', put[0][2]
    props = qc.get_queue_properties()
    assert props.metadata == {'m': '1', 'owner': 'py'}, props.metadata
    assert props.approximate_message_count == 0


@tap.case('create_queue again: same metadata (204) and different metadata '
          '(409 QueueAlreadyExists) both raise ResourceExistsError')
def _():
    qc = new_queue(metadata={'a': '1'})
    m = wire.mark()
    expect_error(ResourceExistsError,
                 lambda: svc.create_queue(qc.queue_name, metadata={'a': '1'}),
                 None, 'QueueAlreadyExists')
    assert [r[3] for r in wire.requests_since(m)] == [204]
    expect_error(ResourceExistsError,
                 lambda: svc.create_queue(qc.queue_name, metadata={'a': '2'}),
                 409, 'QueueAlreadyExists')
    assert qc.get_queue_properties().metadata == {'a': '1'}


@tap.case('send_message returns id, pop receipt, times; text with XML '
          'specials and unicode comes back verbatim')
def _():
    qc = new_queue()
    text = 'hello <&> "quotes" \'apos\' ünï©ødé ✓'
    msg = qc.send_message(text)
    assert msg.id and msg.pop_receipt, (msg.id, msg.pop_receipt)
    assert msg.inserted_on and msg.expires_on and msg.next_visible_on
    ttl = (msg.expires_on - msg.inserted_on).total_seconds()
    assert abs(ttl - 7 * 86400) < 5, ttl
    got = qc.receive_message()
    assert got.id == msg.id, (got.id, msg.id)
    assert got.content == text, repr(got.content)
    assert got.dequeue_count == 1, got.dequeue_count


@tap.case('receive_messages with visibility_timeout hides the messages '
          'from the next receive and from peek')
def _():
    qc = new_queue()
    for i in range(3):
        qc.send_message('m%d' % i)
    got = list(qc.receive_messages(messages_per_page=32,
                                   visibility_timeout=300))
    assert sorted(m.content for m in got) == ['m0', 'm1', 'm2'], \
        [m.content for m in got]
    assert all(m.dequeue_count == 1 for m in got)
    assert all(m.pop_receipt and m.next_visible_on for m in got)
    assert all((m.next_visible_on - m.inserted_on).total_seconds() > 200
               for m in got), [(m.inserted_on, m.next_visible_on)
                               for m in got]
    assert list(qc.receive_messages()) == [], 'hidden messages were returned'
    assert qc.peek_messages(max_messages=32) == []
    assert qc.get_queue_properties().approximate_message_count == 3


@tap.case('after the visibility timeout expires the messages are delivered '
          'again with dequeue_count 2 and a new pop receipt')
def _():
    qc = new_queue()
    for i in range(3):
        qc.send_message('m%d' % i)
    first = {m.id: m for m in qc.receive_messages(messages_per_page=32,
                                                   visibility_timeout=1)}
    assert len(first) == 3, len(first)
    seen = {}
    # Poll (with a deadline) until all three were delivered again.
    def collect():
        for m in qc.receive_messages(messages_per_page=32,
                                     visibility_timeout=300):
            seen[m.id] = m
        return len(seen) == 3
    wait_for(collect, 20, 0.1, 'three redeliveries')
    assert sorted(m.content for m in seen.values()) == ['m0', 'm1', 'm2']
    assert all(m.dequeue_count == 2 for m in seen.values()), \
        [m.dequeue_count for m in seen.values()]
    assert all(seen[i].pop_receipt != first[i].pop_receipt for i in seen)
    # The first delivery's pop receipt is stale now.
    k = next(iter(seen))
    expect_error(HttpResponseError,
                 lambda: qc.delete_message(k, first[k].pop_receipt), 400,
                 'PopReceiptMismatch')
    qc.delete_message(k, seen[k].pop_receipt)


@tap.case('receive_messages pages through 40 messages (32 per call), each '
          'once; max_messages caps it')
def _():
    qc = new_queue()
    for i in range(40):
        qc.send_message('n%02d' % i)
    got = list(qc.receive_messages(messages_per_page=32,
                                   visibility_timeout=60))
    assert sorted(m.content for m in got) == ['n%02d' % i for i in range(40)]
    assert len({m.id for m in got}) == 40
    qc2 = new_queue()
    for i in range(5):
        qc2.send_message('x%d' % i)
    got = list(qc2.receive_messages(max_messages=2, visibility_timeout=60))
    assert len(got) == 2, len(got)


@tap.case('peek_messages: no pop receipt, dequeue_count unchanged, message '
          'stays visible')
def _():
    qc = new_queue()
    for i in range(3):
        qc.send_message('p%d' % i)
    peeked = qc.peek_messages(max_messages=5)
    assert [m.content for m in peeked] == ['p0', 'p1', 'p2'], \
        [m.content for m in peeked]
    assert all(m.pop_receipt is None for m in peeked)
    assert all(m.dequeue_count == 0 for m in peeked), \
        [m.dequeue_count for m in peeked]
    one = qc.peek_messages()
    assert len(one) == 1 and one[0].content == 'p0'
    got = qc.receive_message(visibility_timeout=60)
    assert got is not None and got.dequeue_count == 1
    peeked = qc.peek_messages(max_messages=5)
    assert [m.content for m in peeked] == ['p1', 'p2'], \
        [m.content for m in peeked]


@tap.case('update_message: new content and visibility, new pop receipt; '
          'the old pop receipt no longer deletes (400 PopReceiptMismatch)')
def _():
    qc = new_queue()
    qc.send_message('before')
    got = qc.receive_message(visibility_timeout=60)
    upd = qc.update_message(got, pop_receipt=got.pop_receipt,
                            content='after', visibility_timeout=0)
    assert upd.pop_receipt and upd.pop_receipt != got.pop_receipt
    assert upd.next_visible_on is not None
    assert upd.content == 'after'
    expect_error(HttpResponseError,
                 lambda: qc.delete_message(got.id, got.pop_receipt), 400,
                 'PopReceiptMismatch')
    again = qc.receive_message(visibility_timeout=60)
    assert again is not None and again.content == 'after', again
    assert again.dequeue_count == 2, again.dequeue_count
    # Update of the visibility only keeps the text.
    upd2 = qc.update_message(again, visibility_timeout=0)
    peek = qc.peek_messages()
    assert peek[0].content == 'after', peek[0].content
    qc.delete_message(again.id, upd2.pop_receipt)
    assert qc.peek_messages() == []


@tap.case('delete_message with the pop receipt; a second delete is 404 '
          'MessageNotFound')
def _():
    qc = new_queue()
    qc.send_message('gone')
    got = qc.receive_message()
    qc.delete_message(got)
    assert qc.peek_messages() == []
    expect_error(ResourceNotFoundError, lambda: qc.delete_message(got), 404,
                 'MessageNotFound')


@tap.case('approximate_message_count, clear_messages, set_queue_metadata')
def _():
    qc = new_queue()
    for i in range(3):
        qc.send_message('c%d' % i)
    assert qc.get_queue_properties().approximate_message_count == 3
    qc.clear_messages()
    assert qc.get_queue_properties().approximate_message_count == 0
    assert qc.peek_messages() == []
    qc.set_queue_metadata({'k': 'v'})
    assert qc.get_queue_properties().metadata == {'k': 'v'}


@tap.case('send_message with visibility_timeout delays it; time_to_live=-1 '
          'never expires')
def _():
    qc = new_queue()
    d = qc.send_message('later', visibility_timeout=3600)
    assert qc.receive_message() is None
    assert qc.peek_messages() == []
    assert qc.get_queue_properties().approximate_message_count == 1
    qc.delete_message(d)
    forever = qc.send_message('forever', time_to_live=-1)
    assert forever.expires_on.year == 9999, forever.expires_on


@tap.case('binary content through BinaryBase64EncodePolicy/DecodePolicy')
def _():
    name = 'pyqb-' + uuid.uuid4().hex[:12]
    svc.create_queue(name)
    qc = QueueClient.from_connection_string(
        srv.conn_str, name, message_encode_policy=BinaryBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(), **client_kw)
    blob = bytes(range(256))
    qc.send_message(blob)
    assert qc.receive_message().content == blob


@tap.case('list_queues with name_starts_with and include_metadata, paging')
def _():
    tag = uuid.uuid4().hex[:8]
    for i in range(3):
        svc.create_queue('pylq%s-%d' % (tag, i), metadata={'i': str(i)})
    got = list(svc.list_queues(name_starts_with='pylq' + tag,
                               include_metadata=True))
    assert [q.name for q in got] == ['pylq%s-%d' % (tag, i)
                                     for i in range(3)], [q.name for q in got]
    assert [q.metadata for q in got] == [{'i': '0'}, {'i': '1'}, {'i': '2'}]
    pages = list(svc.list_queues(name_starts_with='pylq' + tag,
                                 results_per_page=2).by_page())
    assert [len(list(p)) for p in pages] == [2, 1]


@tap.case('generate_queue_sas (add, process): a QueueClient with only the '
          'SAS sends, receives, deletes; peek and properties are refused 403')
def _():
    qc = new_queue()
    sas = generate_queue_sas(ACCOUNT, qc.queue_name, KEY,
                             permission=QueueSasPermissions(add=True,
                                                            process=True),
                             start=now() - datetime.timedelta(minutes=5),
                             expiry=now() + datetime.timedelta(hours=1))
    sq = QueueClient(srv.queue_url, qc.queue_name, credential=sas,
                     **client_kw)
    sq.send_message('via sas')
    got = sq.receive_message()
    assert got is not None and got.content == 'via sas'
    sq.delete_message(got)
    expect_error(HttpResponseError, sq.peek_messages, 403,
                 'AuthorizationPermissionMismatch')
    expect_error(HttpResponseError, sq.get_queue_properties, 403,
                 'AuthorizationPermissionMismatch')
    sq.send_message('second')
    expect_error(HttpResponseError,
                 lambda: sq.update_message(sq.receive_message(),
                                           content='x'), 403,
                 'AuthorizationPermissionMismatch')
    # The same SAS from a URL.
    url = '%s/%s?%s' % (srv.queue_url, qc.queue_name, sas)
    uq = QueueClient.from_queue_url(url, **client_kw)
    uq.send_message('third')
    # Another queue is out of the SAS's scope.
    other = new_queue()
    oq = QueueClient(srv.queue_url, other.queue_name, credential=sas,
                     **client_kw)
    expect_error(HttpResponseError, lambda: oq.send_message('no'), 403)


@tap.case('queue SAS via a stored access policy (set_queue_access_policy)')
def _():
    qc = new_queue()
    qc.set_queue_access_policy({'rp': AccessPolicy(
        permission=QueueSasPermissions(read=True, process=True),
        start=now() - datetime.timedelta(minutes=5),
        expiry=now() + datetime.timedelta(hours=1))})
    acl = qc.get_queue_access_policy()
    assert list(acl) == ['rp'], acl
    qc.send_message('policy')
    sas = generate_queue_sas(ACCOUNT, qc.queue_name, KEY, policy_id='rp')
    sq = QueueClient(srv.queue_url, qc.queue_name, credential=sas,
                     **client_kw)
    assert [m.content for m in sq.peek_messages()] == ['policy']
    expect_error(HttpResponseError, lambda: sq.send_message('no'), 403,
                 'AuthorizationPermissionMismatch')


@tap.case('generate_account_sas for queues: list, create, send, receive')
def _():
    sas = generate_account_sas(
        ACCOUNT, KEY,
        resource_types=ResourceTypes(service=True, container=True,
                                     object=True),
        permission=AccountSasPermissions(read=True, write=True, list=True,
                                         add=True, create=True, update=True,
                                         process=True, delete=True),
        expiry=now() + datetime.timedelta(hours=1))
    asvc = QueueServiceClient(srv.queue_url, credential=sas, **client_kw)
    name = 'pyqa-' + uuid.uuid4().hex[:12]
    aq = asvc.create_queue(name)
    assert name in [q.name for q in asvc.list_queues(name_starts_with='pyqa-')]
    aq.send_message('acct')
    assert aq.receive_message().content == 'acct'
    asvc.delete_queue(name)


@tap.case('delete_queue; then QueueNotFound on properties and send')
def _():
    qc = new_queue()
    qc.delete_queue()
    expect_error(ResourceNotFoundError, qc.get_queue_properties, 404,
                 'QueueNotFound')
    expect_error(ResourceNotFoundError, lambda: qc.send_message('x'), 404,
                 'QueueNotFound')


@tap.case('a wrong account key is refused 403 AuthenticationFailed')
def _():
    bad = srv.conn_str.replace(KEY, 'A' * 86 + '==')
    bsvc = QueueServiceClient.from_connection_string(bad, **client_kw)
    from azure.core.exceptions import ClientAuthenticationError
    expect_error(ClientAuthenticationError,
                 lambda: list(bsvc.list_queues()), 403,
                 'AuthenticationFailed')


sys.exit(tap.done())
