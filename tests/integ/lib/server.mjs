// tests/integ/lib/server.mjs: start the real bin/shoald for a test file.
//
//   const srv = await startServer({ dev: true, args: [] });
//   srv.blobUrl, srv.queueUrl, srv.batchUrl, srv.account, srv.key,
//   srv.connStr, srv.dataDir, srv.pid; await srv.stop(); await srv.kill();
//   await srv.restart();  // same data dir, new free ports
//
// shoald listens on 127.0.0.1 with every port 0 and writes DATA/ports once
// all listeners are up: that file is the readiness signal (polled with a
// deadline, never a fixed sleep). The server is stopped by its PID; its log
// is kept in the data dir (tests/tmp/...) and printed when a test fails.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../../..');
export const binDir = process.env.SHOAL_BIN || path.join(root, 'bin');
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function tmpDir(prefix) {
  const base = path.join(root, 'tests', 'tmp');
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, `${prefix}-`));
}

export async function waitFor(fn, { timeoutMs = 20000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function startServer(opts = {}) {
  const dataDir = opts.dataDir || tmpDir(opts.name || 'shoald');
  const srv = { dataDir, account: DEV_ACCOUNT, key: DEV_KEY, proc: null };
  const logPath = path.join(dataDir, 'shoald.log');

  async function launch() {
    try { fs.unlinkSync(path.join(dataDir, 'ports')); } catch {}
    const args = ['--data', dataDir, '--blob-port', '0', '--queue-port', '0',
      '--batch-port', '0', '--log-level', opts.logLevel || 'info'];
    if (opts.dev !== false) args.push('--dev');
    args.push(...(opts.args || []));
    const log = fs.openSync(logPath, 'a');
    const proc = spawn(path.join(binDir, 'shoald'), args, {
      stdio: ['ignore', log, log], env: { ...process.env, ...(opts.env || {}) },
    });
    fs.closeSync(log);
    srv.proc = proc;
    srv.pid = proc.pid;
    let exited = null;
    proc.on('exit', (code, sig) => { exited = { code, sig }; });
    const ports = await waitFor(() => {
      if (exited) throw new Error(`shoald exited early (${JSON.stringify(exited)}):\n${srv.log()}`);
      try {
        const txt = fs.readFileSync(path.join(dataDir, 'ports'), 'utf8');
        const m = Object.fromEntries(txt.trim().split('\n').map((l) => l.split('=')));
        return m.blob && m.queue && m.batch ? m : null;
      } catch { return null; }
    }, { timeoutMs: 30000, what: 'shoald ports file' });
    srv.ports = { blob: +ports.blob, queue: +ports.queue, batch: +ports.batch };
    srv.blobUrl = `http://127.0.0.1:${srv.ports.blob}/${srv.account}`;
    srv.queueUrl = `http://127.0.0.1:${srv.ports.queue}/${srv.account}`;
    srv.batchUrl = `http://127.0.0.1:${srv.ports.batch}`;
    srv.connStr = `DefaultEndpointsProtocol=http;AccountName=${srv.account};` +
      `AccountKey=${srv.key};BlobEndpoint=${srv.blobUrl};QueueEndpoint=${srv.queueUrl};`;
    srv.exited = () => exited;
  }

  srv.log = () => { try { return fs.readFileSync(logPath, 'utf8'); } catch { return ''; } };
  srv.waitExit = (timeoutMs = 20000) => waitFor(() => srv.exited(), { timeoutMs, what: 'shoald exit' });
  srv.stop = async () => {
    if (!srv.proc || srv.exited()) return srv.exited();
    process.kill(srv.pid, 'SIGTERM');
    return srv.waitExit(30000);
  };
  srv.kill = async () => {
    if (!srv.proc || srv.exited()) return srv.exited();
    process.kill(srv.pid, 'SIGKILL');
    return srv.waitExit();
  };
  srv.restart = async () => { await srv.stop(); await launch(); return srv; };
  srv.restartAfterKill = async () => { await srv.kill(); await launch(); return srv; };
  await launch();
  return srv;
}
