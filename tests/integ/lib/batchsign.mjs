// tests/integ/lib/batchsign.mjs: Batch SharedKey signed requests to shoald.
//
//   const r = await batchFetch(srv, 'POST', '/notificationendpoints',
//                              { body: { name: 'x', ... } });
//   r.status, r.headers (lower-case names), r.text, r.json (parsed or null)
//
//   batchSign(srv, method, path, headers, { key }) -> headers with ocp-date
//   and Authorization added (batch-wire.md §5): VERB, 11 standard header
//   lines, the ocp-* headers ("name:value\n", lower-cased, sorted), then
//   "/account" + raw path and "\nname:decodedvalue" per query parameter,
//   sorted by name.
//
// Options: headers (extra request headers), key (sign with another key),
// account (claim another account), noAuth (send no Authorization),
// rawBody (a Buffer or string sent as is), timeoutMs (abort the request).
// Requests go through node:http so that exactly the signed headers are sent.
import crypto from 'node:crypto';
import http from 'node:http';

const STD = ['content-encoding', 'content-language', 'content-length', 'content-md5',
  'content-type', 'date', 'if-modified-since', 'if-match', 'if-none-match',
  'if-unmodified-since', 'range'];

export function stringToSign(account, method, path, headers) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const lines = [method.toUpperCase()];
  for (const name of STD) {
    if (name === 'date' && h['ocp-date'] !== undefined) lines.push('');
    else lines.push(h[name] ?? '');
  }
  let s = lines.join('\n') + '\n';
  const ocp = Object.keys(h).filter((k) => k.startsWith('ocp-') && h[k] !== '').sort();
  for (const k of ocp) s += `${k}:${h[k]}\n`;
  const q = path.indexOf('?');
  const rawPath = q < 0 ? path : path.slice(0, q);
  s += `/${account}${rawPath}`;
  if (q >= 0) {
    const params = [];
    for (const part of path.slice(q + 1).split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      const name = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      const value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
      params.push([name, value]);
    }
    params.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [n, v] of params) s += `\n${n}:${v}`;
  }
  return s;
}

export function batchSign(srv, method, path, headers = {}, opts = {}) {
  const out = { 'ocp-date': new Date().toUTCString(), ...headers };
  const account = opts.account || srv.account;
  const key = Buffer.from(opts.key || srv.key, 'base64');
  const sig = crypto.createHmac('sha256', key)
    .update(stringToSign(account, method, path, out), 'utf8').digest('base64');
  out.Authorization = `SharedKey ${account}:${sig}`;
  return out;
}

export function batchFetch(srv, method, path, opts = {}) {
  let body = null;
  const headers = { ...(opts.headers || {}) };
  if (opts.rawBody !== undefined) {
    body = Buffer.isBuffer(opts.rawBody) ? opts.rawBody : Buffer.from(opts.rawBody);
  } else if (opts.body !== undefined) {
    body = Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
  }
  if (body) {
    headers['Content-Length'] = String(body.length);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/json; odata=minimalmetadata; charset=utf-8';
    }
  }
  const signed = opts.noAuth ? { 'ocp-date': new Date().toUTCString(), ...headers }
    : batchSign(srv, method, path, headers, opts);
  const url = new URL(srv.batchUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, method, path, headers: signed, agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch {}
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.timeoutMs) {
      req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`request timed out after ${opts.timeoutMs} ms`)));
    }
    if (body) req.end(body); else req.end();
  });
}

// The error code of a Batch error reply ({"code": ...}).
export function errCode(r) {
  return r.json && r.json.code;
}
