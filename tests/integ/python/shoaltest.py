"""tests/integ/python/shoaltest.py: what the Python SDK tests share.

    srv = start_or_bail('pyblob')   # $SHOAL_BIN/shoald --dev, ports 0
    wire = Wire()                   # hooks that record requests/responses
    tap = Tap(srv, wire)            # TAP output, one independent case each

    @tap.case('create a container')
    def _():
        ...plain asserts...

    sys.exit(tap.done())

Server: a fresh shoald on a temp data dir under tests/tmp, every port 0; the
DATA/ports file (blob=, queue=, batch=) is the readiness signal, polled with a
deadline. stop() sends SIGTERM to that PID and waits (with a deadline) for it
to exit; the data dir and its shoald.log are kept when a case failed.

Tap: each case runs on its own (an exception fails that case only, with the
traceback and the last HTTP exchanges recorded by Wire as TAP comments, so a
failure shows exactly what the server answered). The plan is printed last.

Cleanup when killed: shoald is started with PR_SET_PDEATHSIG (SIGTERM), so it
goes away even if this process dies by SIGKILL; SIGTERM, SIGINT and SIGHUP
print a failing case, stop shoald by its PID and print the plan.

Wire: raw_response_hook for azure-core clients (storage; it runs after the
signing policy, once per attempt) and a requests response hook for msrest
clients (batch). It keeps the last
exchanges: method, URL, request headers, status, response headers and, for
error statuses, the response body. Only the SDKs' public hooks are used.

Run with /usr/bin/python3 (Debian's python3-azure, python3-azure-storage).
"""
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
BIN = os.environ.get('SHOAL_BIN') or os.path.join(ROOT, 'bin')
ACCOUNT = 'devstoreaccount1'
KEY = ('Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/'
       'K1SZFPTOtr/KBHBeksoGMGw==')


def wait_for(fn, timeout=20.0, interval=0.05, what='condition'):
    """Poll fn() until it returns a true value; raise after the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %.0f s waiting for %s'
                                 % (timeout, what))
        time.sleep(interval)


def _die_with_parent():
    """Runs in the child before exec: ask the kernel to send SIGTERM when
    the test process exits, however it exits (Linux prctl)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except Exception:
        pass


class Server:
    def __init__(self, name, extra_args=()):
        base = os.path.join(ROOT, 'tests', 'tmp')
        os.makedirs(base, exist_ok=True)
        self.data = tempfile.mkdtemp(prefix=name + '-', dir=base)
        self.log_path = os.path.join(self.data, 'shoald.log')
        self.proc = None
        self.ports = None
        self.extra_args = list(extra_args)

    def start(self, timeout=30.0):
        args = [os.path.join(BIN, 'shoald'), '--data', self.data, '--dev',
                '--blob-port', '0', '--queue-port', '0', '--batch-port', '0']
        args += self.extra_args
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         preexec_fn=_die_with_parent)
        ports_file = os.path.join(self.data, 'ports')

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError('shoald exited early with %s:\n%s'
                                     % (self.proc.returncode, self.log_tail()))
            try:
                with open(ports_file) as f:
                    kv = dict(l.strip().split('=', 1) for l in f if '=' in l)
            except OSError:
                return None
            if all(k in kv for k in ('blob', 'queue', 'batch')):
                return {k: int(kv[k]) for k in ('blob', 'queue', 'batch')}
            return None
        self.ports = wait_for(ready, timeout, what='shoald DATA/ports')
        self.blob_url = 'http://127.0.0.1:%d/%s' % (self.ports['blob'], ACCOUNT)
        self.queue_url = 'http://127.0.0.1:%d/%s' % (self.ports['queue'],
                                                     ACCOUNT)
        self.batch_url = 'http://127.0.0.1:%d' % self.ports['batch']
        # The full connection string: Python 12.15/12.6 do not understand
        # UseDevelopmentStorage=true (storage-wire.md §2).
        self.conn_str = ('DefaultEndpointsProtocol=http;AccountName=%s;'
                         'AccountKey=%s;BlobEndpoint=%s;QueueEndpoint=%s;'
                         % (ACCOUNT, KEY, self.blob_url, self.queue_url))
        return self

    def stop(self, timeout=30.0):
        """SIGTERM by PID; returns the exit code (None if it had to be
        killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors='replace') as f:
                return ''.join(f.readlines()[-n:])
        except OSError:
            return ''


def _short(v, n=300):
    v = str(v)
    return v if len(v) <= n else v[:n] + '...(%d chars)' % len(v)


class Wire:
    """Records the last HTTP exchanges seen by the SDK clients."""

    def __init__(self, keep=60):
        self.log = collections.deque(maxlen=keep)
        self.count = 0

    # azure-core (storage) hook: pass storage_kwargs() to the client.
    def response_hook(self, pipeline_response):
        req = pipeline_response.http_request
        resp = pipeline_response.http_response
        body = None
        if resp.status_code >= 400:
            try:
                body = resp.body()
            except Exception:  # a streamed body not read yet
                body = None
        self._add(req.method, req.url, dict(req.headers), resp.status_code,
                  dict(resp.headers), body)

    def storage_kwargs(self):
        return {'raw_response_hook': self.response_hook}

    # requests (msrest, batch) hook: append to config.hooks.
    def requests_hook(self, r, *args, **kwargs):
        body = None
        if r.status_code >= 400:
            try:
                body = r.content
            except Exception:
                body = None
        self._add(r.request.method, r.request.url, dict(r.request.headers),
                  r.status_code, dict(r.headers), body)

    def _add(self, method, url, req_headers, status, resp_headers, body):
        self.count += 1
        self.log.append((self.count, method, url, req_headers, status,
                         resp_headers, body))

    def mark(self):
        return self.count

    def since(self, mark):
        return [e for e in self.log if e[0] > mark]

    def requests_since(self, mark):
        """[(method, url, request headers, status, response headers)]."""
        return [(e[1], e[2], e[3], e[4], e[5]) for e in self.since(mark)]

    def dump(self, mark, last=8):
        out = []
        for (_, method, url, qh, status, rh, body) in self.since(mark)[-last:]:
            out.append('> %s %s' % (method, url))
            for k, v in sorted(qh.items()):
                if k.lower() == 'authorization':
                    v = v.split(':')[0] + ':...'
                out.append('>   %s: %s' % (k, _short(v, 120)))
            out.append('< %s' % status)
            for k, v in sorted(rh.items()):
                out.append('<   %s: %s' % (k, _short(v, 200)))
            if body:
                if isinstance(body, bytes):
                    body = body.decode('utf-8', 'replace')
                out.append('<   body: %s' % _short(body, 800))
        return out


class Tap:
    def __init__(self, server=None, wire=None):
        self.n = 0
        self.failed = 0
        self.server = server
        self.wire = wire
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        self.not_ok('interrupted by signal %d before the end' % signum)
        if self.server is not None:
            self.server.stop()
            self.comment('data dir and shoald.log kept in ' + self.server.data)
        print('1..%d' % self.n, flush=True)
        os._exit(1)

    def comment(self, text):
        for line in str(text).splitlines() or ['']:
            print('# ' + line, flush=True)

    def ok(self, desc):
        self.n += 1
        print('ok %d - %s' % (self.n, desc), flush=True)

    def not_ok(self, desc, detail=''):
        self.n += 1
        self.failed += 1
        print('not ok %d - %s' % (self.n, desc), flush=True)
        if detail:
            self.comment(detail)

    def run(self, desc, fn):
        mark = self.wire.mark() if self.wire else 0
        try:
            fn()
        except BaseException as e:  # noqa: B902 - report, never hide
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            detail = traceback.format_exc(limit=6)
            if self.wire:
                exch = self.wire.dump(mark)
                if exch:
                    detail += 'last HTTP exchanges of this case:\n'
                    detail += '\n'.join(exch)
            self.not_ok(desc, detail)
            return False
        self.ok(desc)
        return True

    def case(self, desc):
        def deco(fn):
            self.run(desc, fn)
            return fn
        return deco

    def done(self, after_stop=()):
        """Stop the server, run the (desc, fn) cases of after_stop, print
        the plan; returns the exit status."""
        if self.server is not None:
            rc = self.server.stop()
            if rc != 0:
                self.not_ok('shoald exits 0 on SIGTERM (exit %s)' % rc,
                            self.server.log_tail())
        for desc, fn in after_stop:
            self.run(desc, fn)
        print('1..%d' % self.n, flush=True)
        if self.server is not None:
            if self.failed:
                self.comment('data dir and shoald.log kept in '
                             + self.server.data)
                self.comment('shoald.log tail:\n' + self.server.log_tail(40))
            else:
                import shutil
                shutil.rmtree(self.server.data, ignore_errors=True)
        return 1 if self.failed else 0


def start_or_bail(name, extra_args=()):
    """Start a server; on failure print a failing TAP case and exit 1."""
    srv = Server(name, extra_args)
    try:
        srv.start()
    except BaseException as e:
        print('not ok 1 - shoald starts and writes DATA/ports')
        for line in str(e).splitlines():
            print('# ' + line)
        srv.stop()
        print('1..1')
        sys.exit(1)
    return srv
