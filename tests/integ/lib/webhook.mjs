// tests/integ/lib/webhook.mjs: a scripted webhook receiver for the tests.
//
//   const hook = await startWebhook([503, { status: 429, retryAfter: 1 }, 200]);
//   hook.url                     http://127.0.0.1:PORT/hook (port 0: a free one)
//   hook.requests                [{ at, method, path, headers, body, status }]
//   hook.script(answers, dflt)   replace the answers still to come (and the
//                                default used once they run out)
//   await hook.waitForRequests(n)  poll with a deadline until n requests came
//   await hook.close()
//
// An answer is a status number or { status, retryAfter, reset, hang }:
// reset destroys the connection without an answer (a transport error for
// the sender); hang never answers (until close(), or hook.release()). Every request is recorded (headers lower-case, body as the raw
// string) before it is answered; status is what it was answered
// ('reset' for a reset).
import http from 'node:http';
import { waitFor } from './server.mjs';

export async function startWebhook(answers = [], dflt = 200) {
  let queue = [...answers];
  let fallback = dflt;
  const requests = [];
  const sockets = new Set();
  const hung = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const a = queue.length ? queue.shift() : fallback;
      const ans = typeof a === 'number' ? { status: a } : a;
      const rec = {
        at: Date.now(), method: req.method, path: req.url, headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status: ans.reset ? 'reset' : ans.hang ? 'hang' : ans.status,
      };
      requests.push(rec);
      if (ans.reset) {
        req.socket.destroy();
        return;
      }
      if (ans.hang) {
        hung.push(req.socket);
        return;
      }
      const headers = { 'Content-Type': 'text/plain' };
      if (ans.retryAfter !== undefined) headers['Retry-After'] = String(ans.retryAfter);
      res.writeHead(ans.status, headers);
      res.end(`${ans.status}\n`);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    script(next, d = fallback) { queue = [...next]; fallback = d; },
    // Drop the connections of hung requests (the sender sees an error).
    release() { for (const sock of hung.splice(0)) sock.destroy(); },
    waitForRequests(n, timeoutMs = 20000) {
      return waitFor(() => requests.length >= n, { timeoutMs, what: `${n} webhook requests` });
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
