"""tests/integ/python/test_batch.py: azure-batch 13.0.1 (Debian python3-azure)
against shoald: the batch-python-quickstart flow (batch-wire.md §7.1) as a
user runs it, plus a few failure paths.

The flow: upload three input files with azure-storage-blob and make read SAS
URLs; add a pool of 2 nodes with the quickstart's virtualMachineConfiguration;
add a job; add 3 tasks as one collection, each downloading one input as a
resource file and running '/bin/sh -c "cat <file>"'; poll task.list until all
are completed; read stdout.txt with file.get_from_task and compare it with
the blob; delete the job and the pool.

The flow's steps depend on each other: a step whose prerequisite failed is
reported "not ok" with the reason, never skipped as a pass. The failure cases
use their own job and pool. Every poll has a deadline. Plain TAP on stdout.
"""
import datetime
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoaltest import (ACCOUNT, KEY, Tap, Wire, start_or_bail,  # noqa: E402
                       wait_for)

import azure.batch.models as bm  # noqa: E402
from azure.batch import BatchServiceClient  # noqa: E402
from azure.batch.batch_auth import SharedKeyCredentials  # noqa: E402
from azure.storage.blob import (BlobSasPermissions,  # noqa: E402
                                BlobServiceClient, ContainerSasPermissions,
                                generate_blob_sas, generate_container_sas)

srv = start_or_bail('pybatch')
wire = Wire()
tap = Tap(srv, wire)
blob_svc = BlobServiceClient.from_connection_string(
    srv.conn_str, retry_total=2, **wire.storage_kwargs())
batch = BatchServiceClient(SharedKeyCredentials(ACCOUNT, KEY),
                           batch_url=srv.batch_url)
batch.config.hooks.append(wire.requests_hook)

TASK_DEADLINE = 60.0  # seconds for a few tiny tasks on a local pool
uniq = uuid.uuid4().hex[:8]
POOL = 'PythonQuickstartPool-' + uniq
JOB = 'PythonQuickstartJob-' + uniq
state = {}


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def need(*keys):
    for k in keys:
        if k not in state:
            raise AssertionError('not run: an earlier step (%s) failed' % k)


def expect_batch_error(fn, status, code):
    try:
        fn()
    except bm.BatchErrorException as e:
        got_code = e.error.code if e.error is not None else None
        got_status = e.response.status_code if e.response is not None \
            else None
        assert (got_status, got_code) == (status, code), \
            'got %s %s, wanted %s %s: %s' % (got_status, got_code, status,
                                            code, e)
        return e
    raise AssertionError('no BatchErrorException raised')


def quickstart_pool(pool_id, nodes):
    return bm.PoolAddParameter(
        id=pool_id,
        virtual_machine_configuration=bm.VirtualMachineConfiguration(
            image_reference=bm.ImageReference(
                publisher='canonical',
                offer='0001-com-ubuntu-server-focal',
                sku='20_04-lts',
                version='latest'),
            node_agent_sku_id='batch.node.ubuntu 20.04'),
        vm_size='STANDARD_DS1_V2',
        target_dedicated_nodes=nodes)


# ---- the quickstart flow ----

INPUTS = {
    'taskdata0.txt': b'first input file\nline two\n',
    'taskdata1.txt': 'second input: ünï©ødé ✓\n'.encode(),
    'taskdata2.txt': b''.join(b'%05d the third input\n' % i
                              for i in range(2000)),
}


@tap.case('quickstart: upload the input files and make read SAS URLs')
def _():
    cc = blob_svc.create_container('input-' + uniq)
    urls = {}
    for name, data in INPUTS.items():
        cc.upload_blob(name, data)
        sas = generate_blob_sas(ACCOUNT, cc.container_name, name,
                                account_key=KEY,
                                permission=BlobSasPermissions(read=True),
                                expiry=now() + datetime.timedelta(hours=2))
        urls[name] = '%s/%s/%s?%s' % (srv.blob_url, cc.container_name, name,
                                      sas)
    state['urls'] = urls


@tap.case('quickstart: pool.add of 2 nodes with the quickstart '
          'virtualMachineConfiguration; pool.get shows it')
def _():
    batch.pool.add(quickstart_pool(POOL, 2))
    state['pool'] = POOL
    p = batch.pool.get(POOL)
    assert p.id == POOL, p.id
    assert p.vm_size.lower() == 'standard_ds1_v2', p.vm_size
    assert p.target_dedicated_nodes == 2, p.target_dedicated_nodes
    vmc = p.virtual_machine_configuration
    assert vmc is not None, 'virtualMachineConfiguration not returned'
    assert vmc.node_agent_sku_id == 'batch.node.ubuntu 20.04', \
        vmc.node_agent_sku_id
    assert vmc.image_reference.offer == '0001-com-ubuntu-server-focal'
    assert p.state == 'active', p.state
    assert batch.pool.exists(POOL) is True


@tap.case('quickstart: job.add on the pool; job.get shows it active')
def _():
    need('pool')
    batch.job.add(bm.JobAddParameter(id=JOB,
                                     pool_info=bm.PoolInformation(
                                         pool_id=POOL)))
    state['job'] = JOB
    j = batch.job.get(JOB)
    assert j.id == JOB and j.pool_info.pool_id == POOL, (j.id, j.pool_info)
    assert j.state == 'active', j.state


@tap.case('quickstart: task.add_collection of 3 tasks with resource files '
          '(SAS URLs) and /bin/sh -c "cat <file>"')
def _():
    need('job', 'urls')
    tasks = []
    for i, name in enumerate(sorted(INPUTS)):
        tasks.append(bm.TaskAddParameter(
            id='Task%d' % i,
            command_line='/bin/sh -c "cat {}"'.format(name),
            resource_files=[bm.ResourceFile(http_url=state['urls'][name],
                                            file_path=name)]))
    res = batch.task.add_collection(JOB, tasks)
    got = sorted((r.task_id, r.status) for r in res.value)
    assert got == [('Task0', 'success'), ('Task1', 'success'),
                   ('Task2', 'success')], got
    state['tasks'] = {'Task%d' % i: n for i, n in enumerate(sorted(INPUTS))}


@tap.case('quickstart: poll task.list until all tasks are completed '
          '(deadline %d s)' % TASK_DEADLINE)
def _():
    need('tasks')
    last = {}

    def all_done():
        ts = list(batch.task.list(JOB))
        last['states'] = {t.id: t.state for t in ts}
        return len(ts) == 3 and all(t.state == 'completed' for t in ts)
    try:
        wait_for(all_done, TASK_DEADLINE, 0.25, 'all tasks completed')
    except AssertionError as e:
        raise AssertionError('%s; last states: %s' % (e, last.get('states')))
    state['completed'] = True
    # The form the step 4 uses: $filter and $select.
    opts = bm.TaskListOptions(filter="state ne 'completed'",
                              select='id,state')
    assert list(batch.task.list(JOB, task_list_options=opts)) == []
    opts = bm.TaskListOptions(filter="state eq 'completed'",
                              select='id,state')
    sel = list(batch.task.list(JOB, task_list_options=opts))
    assert sorted(t.id for t in sel) == ['Task0', 'Task1', 'Task2']
    assert all(t.command_line is None for t in sel), '$select ignored'


@tap.case('quickstart: every task exited 0 with result success, on a node '
          'of the pool (nodeInfo.nodeId)')
def _():
    need('completed')
    nodes = {n.id for n in batch.compute_node.list(POOL)}
    for t in batch.task.list(JOB):
        ei = t.execution_info
        assert ei is not None, '%s: no executionInfo' % t.id
        assert ei.exit_code == 0, (t.id, ei.exit_code, ei.failure_info and
                                   ei.failure_info.message)
        assert ei.result == 'success', (t.id, ei.result)
        assert ei.start_time and ei.end_time, (ei.start_time, ei.end_time)
        assert t.node_info is not None and t.node_info.node_id, t.id
        assert t.node_info.node_id in nodes, (t.node_info.node_id, nodes)
        assert t.node_info.pool_id == POOL, t.node_info.pool_id


@tap.case('quickstart: file.get_from_task stdout.txt of each task equals '
          'the blob it downloaded; stderr.txt is empty')
def _():
    need('completed')
    for tid, name in state['tasks'].items():
        out = b''.join(batch.file.get_from_task(JOB, tid, 'stdout.txt'))
        assert out == INPUTS[name], (tid, out[:200], INPUTS[name][:200])
        err = b''.join(batch.file.get_from_task(JOB, tid, 'stderr.txt'))
        assert err == b'', (tid, err[:300])
        props = batch.file.get_properties_from_task(JOB, tid, 'stdout.txt',
                                                    raw=True)
        assert int(props.headers['Content-Length']) == len(INPUTS[name])
        # A byte range travels as the signed ocp-range header.
        part = b''.join(batch.file.get_from_task(
            JOB, tid, 'stdout.txt',
            file_get_from_task_options=bm.FileGetFromTaskOptions(
                ocp_range='bytes=2-9')))
        assert part == INPUTS[name][2:10], (tid, part)


@tap.case('quickstart: file.list_from_task lists stdout.txt, stderr.txt and '
          'the resource file under wd/')
def _():
    need('completed')
    files = {f.name: f for f in batch.file.list_from_task(JOB, 'Task0',
                                                         recursive=True)}
    assert 'stdout.txt' in files and 'stderr.txt' in files, sorted(files)
    assert 'wd/taskdata0.txt' in files, sorted(files)
    assert files['stdout.txt'].is_directory is False
    assert int(files['stdout.txt'].properties.content_length) == \
        len(INPUTS['taskdata0.txt'])


@tap.case('quickstart: the pool reaches 2 nodes (compute_node.list, '
          'currentDedicatedNodes, allocationState steady)')
def _():
    need('pool')

    def two_nodes():
        ns = list(batch.compute_node.list(POOL))
        return len(ns) == 2 and all(n.state in ('idle', 'running')
                                    for n in ns) and ns
    ns = wait_for(two_nodes, 60, 0.25, '2 idle/running nodes')
    p = batch.pool.get(POOL)
    assert p.current_dedicated_nodes == 2, p.current_dedicated_nodes
    assert p.allocation_state == 'steady', p.allocation_state
    n = batch.compute_node.get(POOL, ns[0].id)
    assert n.id == ns[0].id and n.state in ('idle', 'running'), n.state


@tap.case('quickstart: job.get_task_counts says 3 completed, 3 succeeded')
def _():
    need('completed')
    tc = batch.job.get_task_counts(JOB)
    c = tc.task_counts
    assert (c.active, c.running, c.completed, c.succeeded, c.failed) == \
        (0, 0, 3, 3, 0), (c.active, c.running, c.completed, c.succeeded,
                          c.failed)


@tap.case('a task exiting 3 completes with exitCode 3, result failure, '
          'failureInfo category usererror')
def _():
    need('pool')
    job = 'exitjob-' + uniq
    batch.job.add(bm.JobAddParameter(id=job, pool_info=bm.PoolInformation(
        pool_id=POOL)))
    try:
        batch.task.add(job, bm.TaskAddParameter(
            id='fails', command_line='/bin/sh -c "echo oops >&2; exit 3"'))

        def done():
            t = batch.task.get(job, 'fails')
            return t.state == 'completed' and t
        t = wait_for(done, TASK_DEADLINE, 0.25, 'task fails completed')
        ei = t.execution_info
        assert ei.exit_code == 3, ei.exit_code
        assert ei.result == 'failure', ei.result
        assert ei.failure_info is not None, 'no failureInfo'
        assert ei.failure_info.category == 'usererror', \
            ei.failure_info.category
        err = b''.join(batch.file.get_from_task(job, 'fails', 'stderr.txt'))
        assert err == b'oops\n', err
    finally:
        batch.job.delete(job)


@tap.case('tutorial-style: start task (admin, waitForSuccess) copies the '
          'app to $AZ_BATCH_NODE_SHARED_DIR; tasks use storageContainerUrl '
          'resource files, environmentSettings and output files to a '
          'container SAS')
def _():
    pool = 'tutpool-' + uniq
    job = 'tutjob-' + uniq
    app = blob_svc.create_container('application-' + uniq)
    app.upload_blob('app.sh', b'#!/bin/sh\ntr a-z A-Z < "$1"\n')
    inp = blob_svc.create_container('tutinput-' + uniq)
    inputs = {'in1.txt': b'hello world\n', 'in2.txt': b'second file\n'}
    for name, data in inputs.items():
        inp.upload_blob(name, data)
    out = blob_svc.create_container('output-' + uniq)
    exp = now() + datetime.timedelta(hours=2)
    app_sas = generate_blob_sas(ACCOUNT, app.container_name, 'app.sh',
                                account_key=KEY, expiry=exp,
                                permission=BlobSasPermissions(read=True))
    in_sas = generate_container_sas(
        ACCOUNT, inp.container_name, account_key=KEY, expiry=exp,
        permission=ContainerSasPermissions(read=True, list=True))
    out_sas = generate_container_sas(
        ACCOUNT, out.container_name, account_key=KEY, expiry=exp,
        permission=ContainerSasPermissions(write=True))
    start = bm.StartTask(
        command_line='/bin/sh -c "cp app.sh $AZ_BATCH_NODE_SHARED_DIR/ && '
                     'chmod 755 $AZ_BATCH_NODE_SHARED_DIR/app.sh"',
        resource_files=[bm.ResourceFile(
            http_url=app.url + '/app.sh?' + app_sas, file_path='app.sh')],
        wait_for_success=True,
        user_identity=bm.UserIdentity(auto_user=bm.AutoUserSpecification(
            scope='pool', elevation_level='admin')))
    p = quickstart_pool(pool, 1)
    p.start_task = start
    batch.pool.add(p)
    try:
        batch.job.add(bm.JobAddParameter(
            id=job, pool_info=bm.PoolInformation(pool_id=pool)))
        tasks = []
        for name in sorted(inputs):
            tasks.append(bm.TaskAddParameter(
                id='task_' + name.split('.')[0],
                command_line='/bin/sh -c "$AZ_BATCH_NODE_SHARED_DIR/app.sh '
                             '%s > %s_OUTPUT.txt; echo MYVAR=$MYVAR"'
                             % (name, name),
                resource_files=[bm.ResourceFile(
                    storage_container_url=inp.url + '?' + in_sas,
                    blob_prefix=name)],
                environment_settings=[bm.EnvironmentSetting(
                    name='MYVAR', value='v ' + name)],
                output_files=[bm.OutputFile(
                    file_pattern='*_OUTPUT.txt',
                    destination=bm.OutputFileDestination(
                        container=bm.OutputFileBlobContainerDestination(
                            container_url=out.url + '?' + out_sas,
                            path='results')),
                    upload_options=bm.OutputFileUploadOptions(
                        upload_condition='taskSuccess'))]))
        res = batch.task.add_collection(job, tasks)
        assert [r.status for r in res.value] == ['success', 'success']
        opts = bm.TaskListOptions(filter="state ne 'completed'",
                                  select='id,state')
        wait_for(lambda: not list(batch.task.list(job,
                                                  task_list_options=opts)),
                 TASK_DEADLINE, 0.25, 'tutorial tasks completed')
        for t in batch.task.list(job):
            ei = t.execution_info
            assert (ei.exit_code, ei.result) == (0, 'success'), \
                (t.id, ei.exit_code, ei.failure_info and
                 ei.failure_info.message)
            name = t.id[len('task_'):] + '.txt'
            so = b''.join(batch.file.get_from_task(job, t.id, 'stdout.txt'))
            assert so == b'MYVAR=v ' + name.encode() + b'\n', so
        got = {b.name: out.get_blob_client(b.name).download_blob().readall()
               for b in out.list_blobs()}
        assert got == {'results/%s_OUTPUT.txt' % n: d.upper()
                       for n, d in inputs.items()}, got
        nodes = list(batch.compute_node.list(pool))
        assert len(nodes) == 1, len(nodes)
        sti = nodes[0].start_task_info
        assert sti is not None and sti.exit_code == 0, sti
        files = [f.name for f in batch.file.list_from_compute_node(
            pool, nodes[0].id, recursive=True)]
        assert 'shared/app.sh' in files, files
        assert 'startup/stdout.txt' in files, files
    finally:
        batch.job.delete(job)
        batch.pool.delete(pool)


@tap.case('a resource file that does not exist: the task completes with '
          'result failure, failureInfo usererror BlobNotFound, no exitCode')
def _():
    need('pool', 'urls')
    job = 'missjob-' + uniq
    batch.job.add(bm.JobAddParameter(id=job, pool_info=bm.PoolInformation(
        pool_id=POOL)))
    try:
        cname = 'input-' + uniq
        sas = generate_blob_sas(ACCOUNT, cname, 'nosuchfile.txt',
                                account_key=KEY,
                                permission=BlobSasPermissions(read=True),
                                expiry=now() + datetime.timedelta(hours=2))
        url = '%s/%s/nosuchfile.txt?%s' % (srv.blob_url, cname, sas)
        batch.task.add(job, bm.TaskAddParameter(
            id='missing', command_line='/bin/true',
            resource_files=[bm.ResourceFile(http_url=url,
                                            file_path='x.txt')]))
        t = wait_for(lambda: (lambda t: t.state == 'completed' and t)(
            batch.task.get(job, 'missing')), TASK_DEADLINE, 0.25,
            'task missing completed')
        ei = t.execution_info
        assert ei.result == 'failure', ei.result
        assert ei.exit_code is None, ei.exit_code
        assert ei.failure_info is not None, 'no failureInfo'
        assert (ei.failure_info.category, ei.failure_info.code) == \
            ('usererror', 'BlobNotFound'), (ei.failure_info.category,
                                            ei.failure_info.code)
    finally:
        batch.job.delete(job)


@tap.case('quickstart: job.delete, then job.get gives JobNotFound '
          '(polled); pool.delete, then pool.exists is False (polled)')
def _():
    need('job', 'pool')
    batch.job.delete(JOB)

    def job_gone():
        try:
            j = batch.job.get(JOB)
            assert j.state in ('deleting', 'active', 'completed'), j.state
            return False
        except bm.BatchErrorException as e:
            assert e.error.code == 'JobNotFound', e.error.code
            return True
    wait_for(job_gone, 60, 0.25, 'job deleted')
    batch.pool.delete(POOL)
    wait_for(lambda: batch.pool.exists(POOL) is False, 60, 0.25,
             'pool deleted')
    state['cleaned'] = True
    assert POOL not in [p.id for p in batch.pool.list()]


# ---- failure paths ----

@tap.case('job.get of an unknown job raises BatchErrorException 404 '
          'JobNotFound; pool.get PoolNotFound; pool.exists False')
def _():
    e = expect_batch_error(lambda: batch.job.get('no-such-job-' + uniq), 404,
                           'JobNotFound')
    assert e.error.message is not None and e.error.message.value, e.error
    expect_batch_error(lambda: batch.pool.get('no-such-pool-' + uniq), 404,
                       'PoolNotFound')
    assert batch.pool.exists('no-such-pool-' + uniq) is False


@tap.case('add_collection with an id already in the job: the SDK treats '
          'TaskExists as success; the existing task is unchanged')
def _():
    pool = 'duppool-' + uniq
    job = 'dupjob-' + uniq
    batch.pool.add(quickstart_pool(pool, 0))
    try:
        batch.job.add(bm.JobAddParameter(
            id=job, pool_info=bm.PoolInformation(pool_id=pool)))
        batch.task.add(job, bm.TaskAddParameter(id='dup1',
                                                command_line='/bin/true'))
        expect_batch_error(lambda: batch.task.add(job, bm.TaskAddParameter(
            id='dup1', command_line='/bin/false')), 409, 'TaskExists')
        m = wire.mark()
        res = batch.task.add_collection(job, [
            bm.TaskAddParameter(id='dup1', command_line='/bin/false'),
            bm.TaskAddParameter(id='new2', command_line='/bin/true')])
        byid = {r.task_id: r for r in res.value}
        assert sorted(byid) == ['dup1', 'new2'], sorted(byid)
        assert byid['new2'].status == 'success', byid['new2'].status
        assert byid['dup1'].status == 'clienterror', byid['dup1'].status
        assert byid['dup1'].error.code == 'TaskExists', byid['dup1'].error
        posts = [r for r in wire.requests_since(m) if r[0] == 'POST']
        assert [r[3] for r in posts] == [200], [r[3] for r in posts]
        ids = sorted(t.id for t in batch.task.list(job))
        assert ids == ['dup1', 'new2'], ids
        assert batch.task.get(job, 'dup1').command_line == '/bin/true'
        expect_batch_error(lambda: batch.task.get(job, 'nosuch'), 404,
                           'TaskNotFound')
        # Ids are unique case-insensitively.
        res = batch.task.add_collection(job, [
            bm.TaskAddParameter(id='DUP1', command_line='/bin/false')])
        assert [r.error.code for r in res.value] == ['TaskExists']
    finally:
        batch.job.delete(job)
        batch.pool.delete(pool)


@tap.case('250 tasks: add_collection chunks them into 3 requests; '
          'task.list with max_results follows odata.nextLink, keeping '
          '$filter and $select on later pages')
def _():
    pool = 'pagepool-' + uniq
    job = 'pagejob-' + uniq
    batch.pool.add(quickstart_pool(pool, 0))
    try:
        batch.job.add(bm.JobAddParameter(
            id=job, pool_info=bm.PoolInformation(pool_id=pool)))
        m = wire.mark()
        res = batch.task.add_collection(job, [
            bm.TaskAddParameter(id='t%03d' % i, command_line='/bin/true')
            for i in range(250)])
        assert len(res.value) == 250 and all(r.status == 'success'
                                             for r in res.value)
        posts = [r for r in wire.requests_since(m) if r[0] == 'POST']
        assert len(posts) == 3, len(posts)
        m = wire.mark()
        ids = [t.id for t in batch.task.list(
            job, task_list_options=bm.TaskListOptions(max_results=100))]
        assert sorted(ids) == ['t%03d' % i for i in range(250)], len(ids)
        gets = [r for r in wire.requests_since(m) if r[0] == 'GET']
        assert len(gets) == 3, [g[1] for g in gets]
        opts = bm.TaskListOptions(max_results=30, select='id,state',
                                  filter="startswith(id,'t1')")
        got = list(batch.task.list(job, task_list_options=opts))
        assert sorted(t.id for t in got) == ['t%03d' % i
                                             for i in range(100, 200)]
        assert all(t.command_line is None for t in got), \
            '$select lost on a later page'
    finally:
        batch.job.delete(job)
        batch.pool.delete(pool)


@tap.case('add_collection of 100 tasks over 1 MiB: RequestBodyTooLarge, '
          'the SDK halves the chunk and retries; all 100 are added')
def _():
    pool = 'bigpool-' + uniq
    job = 'bigjob-' + uniq
    batch.pool.add(quickstart_pool(pool, 0))
    try:
        batch.job.add(bm.JobAddParameter(
            id=job, pool_info=bm.PoolInformation(pool_id=pool)))
        value = 'x' * 20000  # 100 tasks x 20 KB: about 2 MB of JSON
        m = wire.mark()
        res = batch.task.add_collection(job, [
            bm.TaskAddParameter(id='big%03d' % i, command_line='/bin/true',
                                environment_settings=[bm.EnvironmentSetting(
                                    name='PAD', value=value)])
            for i in range(100)])
        assert len(res.value) == 100 and all(r.status == 'success'
                                             for r in res.value)
        exch = [e for e in wire.since(m) if e[1] == 'POST']
        posts = [(e[4], int(e[3].get('Content-Length', 0))) for e in exch]
        # The SDK keys on the error code only (batch-wire.md §12).
        assert 400 <= posts[0][0] < 500 and posts[0][1] > 1024 * 1024, posts
        assert b'"RequestBodyTooLarge"' in (exch[0][6] or b''), exch[0][6]
        assert all(st == 200 and n < 1024 * 1024 for st, n in posts[1:]), \
            posts
        n = len(list(batch.task.list(job, task_list_options=bm.
                                     TaskListOptions(select='id'))))
        assert n == 100, n
        t = batch.task.get(job, 'big042')
        assert t.environment_settings[0].value == value
    finally:
        batch.job.delete(job)
        batch.pool.delete(pool)


@tap.case('job.add of an existing id is 409 JobExists; pool.add of an '
          'existing id is 409 PoolExists')
def _():
    pool = 'expool-' + uniq
    job = 'exjob-' + uniq
    batch.pool.add(quickstart_pool(pool, 0))
    try:
        expect_batch_error(lambda: batch.pool.add(quickstart_pool(pool, 0)),
                           409, 'PoolExists')
        batch.job.add(bm.JobAddParameter(
            id=job, pool_info=bm.PoolInformation(pool_id=pool)))
        expect_batch_error(lambda: batch.job.add(bm.JobAddParameter(
            id=job, pool_info=bm.PoolInformation(pool_id=pool))), 409,
            'JobExists')
        batch.job.delete(job)
    finally:
        batch.pool.delete(pool)


@tap.case('a wrong key is refused 403 AuthenticationFailed')
def _():
    bad = BatchServiceClient(SharedKeyCredentials(ACCOUNT, 'A' * 86 + '=='),
                             batch_url=srv.batch_url)
    expect_batch_error(lambda: list(bad.pool.list()), 403,
                       'AuthenticationFailed')


# Best-effort cleanup when the flow did not get there, so shoald has no
# running nodes when it is stopped.
if 'cleaned' not in state:
    for fn in (lambda: batch.job.delete(JOB), lambda: batch.pool.delete(POOL)):
        try:
            fn()
        except Exception:
            pass



def no_node_left():
    """No process whose command line names this data dir (the shoal-node
    agents get their node root under it) outlives shoald."""
    mine = str(os.getpid())

    def procs():
        found = []
        for p in os.listdir('/proc'):
            if not p.isdigit() or p == mine:
                continue
            try:
                with open('/proc/%s/cmdline' % p, 'rb') as f:
                    cmd = f.read()
            except OSError:
                continue
            if srv.data.encode() in cmd:
                found.append('%s: %s' % (p, cmd.replace(b'\0', b' ')
                                         .decode(errors='replace')))
        return found
    left = []

    def none_left():
        left[:] = procs()
        return not left
    try:
        wait_for(none_left, 20, 0.1, 'node processes to exit')
    except AssertionError:
        raise AssertionError('still running: %s' % left)


sys.exit(tap.done(after_stop=[
    ('no shoal-node process outlives shoald (SIGTERM)', no_node_left)]))
