// THREATS.md classes 1-16 against a running sidecar (in-process, real sockets
// and TLS on loopback). Each test checks what the client saw, what the upstream
// received, and that no credential reached an upstream unless expected.
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import https from 'node:https';
import http from 'node:http';
import { X509Certificate, createHash } from 'node:crypto';
import { startHarness, rawExchange, type Harness } from './helpers/harness.ts';
import { startUpstream } from './helpers/upstream.ts';
import { createTestCa } from './helpers/pki.ts';

const ca = await createTestCa();
const NAMES = ['api.example.com', 'b.example.com', 'audit.example.com', 'meta.example.com', 'internal.example.com', 'internal-ok.example.com', 'redirect.example.com'];
const up = await startUpstream(await ca.issue(NAMES));
const plainUp = await startUpstream(null);
const selfSigned = await startUpstream(await ca.issue(['selfsigned.example.com'], { selfSigned: true }));
const wrongName = await startUpstream(await ca.issue(['not-the-name.example.com']));
const expired = await startUpstream(await ca.issue(['expired.example.com'], { expired: true }));
const all = [up, plainUp, selfSigned, wrongName, expired];

const pol = (name: string, spec: string, mode = 'Enforce') => `---
apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: ${name}, namespace: payments }
spec:
  mode: ${mode}
  subjects: { serviceAccounts: [payments-api] }
${spec}`;
const hdr = '  credential: { provider: { broker: { audience: x } }, inject: { header: Authorization, format: "Bearer {{token}}" } }\n';
const POLICIES = [
  pol('to-api', `  destinations: [{ host: api.example.com, ports: [${up.port}], methods: [GET, POST], paths: ["/v1/*"] }]\n${hdr}`),
  pol('to-b', `  destinations: [{ host: b.example.com, ports: [${up.port}] }]\n${hdr}`),
  pol('audit', `  destinations: [{ host: audit.example.com, ports: [${up.port}], paths: ["/v1/*"] }]\n${hdr}`, 'Audit'),
  pol('audit-down', `  destinations: [{ host: audit-down.example.com, ports: [${selfSigned.port}], paths: ["/v1/*"] }]\n${hdr}`, 'Audit'),
  pol('redirect', `  destinations: [{ host: redirect.example.com, ports: [${up.port}] }]\n${hdr}`),
  pol('meta', `  destinations: [{ host: meta.example.com, ports: [${up.port}], allowPrivateAddresses: true }]\n${hdr}`),
  pol('internal', `  destinations: [{ host: internal.example.com, ports: [${up.port}] }, { host: internal-ok.example.com, ports: [${up.port}], allowPrivateAddresses: true }]\n${hdr}`),
  pol('plain', `  destinations: [{ host: plain.example.com, ports: [${plainUp.port}] }, { host: plaintext.example.com, ports: [80, ${plainUp.port}], plaintext: true }]\n${hdr}`),
  pol('badtls', `  destinations: [{ host: selfsigned.example.com, ports: [${selfSigned.port}] }, { host: wrongname.example.com, ports: [${wrongName.port}] }, { host: expired.example.com, ports: [${expired.port}] }]\n${hdr}`),
  pol('flood', `  destinations: [{ host: "*.flood.example.com", ports: [${up.port}] }]\n${hdr}`),
].join('');

const SECRETS = { A: 'SECRET-A-1111', B: 'SECRET-B-2222' };
const h: Harness = await startHarness({
  policies: POLICIES,
  captures: all.map((u) => u.port),
  credentials: {
    'payments/to-api': { value: SECRETS.A, id: 'cred-a' },
    'payments/to-b': { value: SECRETS.B, id: 'cred-b' },
    'payments/audit': { value: 'SECRET-AUDIT', id: 'cred-audit' },
    'payments/redirect': { value: 'SECRET-R', id: 'cred-r' },
    'payments/meta': { value: 'SECRET-M', id: 'cred-m' },
    'payments/internal': { value: 'SECRET-I', id: 'cred-i' },
    'payments/plain': { value: 'SECRET-P', id: 'cred-p' },
    'payments/badtls': { value: 'SECRET-T', id: 'cred-t' },
    'payments/flood': { value: 'SECRET-F', id: 'cred-f' },
  },
  upstreamCa: [ca.cert],
  limits: { headersTimeoutMs: 1500, maxHeaderBytes: 16384 },
  maxLeaves: 50,
  names: Object.fromEntries([...NAMES, 'plain.example.com', 'plaintext.example.com', 'selfsigned.example.com', 'wrongname.example.com', 'expired.example.com', 'other.example.net'].map((n) => [n, n === 'meta.example.com' ? '169.254.169.254' : n.startsWith('internal') ? '10.0.0.5' : '203.0.113.10'])),
});
for (const n of ['a', 'b', 'c']) h.names.set(`${n}.flood.example.com`, '203.0.113.10');
t.teardown(async () => {
  await h.close();
  for (const u of all) await u.close();
});

const TLS_PORT = h.port(up.port);
const HTTP_PORT = h.port(plainUp.port);
const reset = () => all.forEach((u) => (u.received.length = 0));
const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
const tlsSend = (servername: string, raw: string, port = TLS_PORT, waitMs = 600) => rawExchange(port, raw, { servername, ca: h.caPem(), waitMs });
const upstreamText = () => JSON.stringify(all.map((u) => u.received));
/** The third assertion of every threat test: which secrets reached any upstream. */
const leaked = () => Object.values({ ...SECRETS, r: 'SECRET-R', m: 'SECRET-M', i: 'SECRET-I', p: 'SECRET-P', t: 'SECRET-T', au: 'SECRET-AUDIT' }).filter((s) => upstreamText().includes(s));
const get = (host: string, path = '/v1/charges', extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`;

t.beforeEach(reset);

t.test('baseline: an allowed request gets exactly the injected credential', async (t) => {
  const res = await tlsSend('api.example.com', get('api.example.com'));
  t.equal(status(res), 200);
  t.equal(up.received.length, 1);
  t.same(up.received[0]?.rawHeaders.filter((_, i, a) => i % 2 === 0 && /authorization/i.test(a[i] as string)).length, 1);
  t.equal(up.received[0]?.headers.authorization, `Bearer ${SECRETS.A}`);
  t.notOk(h.logText().includes(SECRETS.A), 'the credential value never reaches the log');
  const rec = h.logs.filter((l) => l.audit && l.path === '/v1/charges').at(-1) as Record<string, unknown>;
  t.match(rec, { decision: 'allow', policy: 'payments/to-api', mode: 'Enforce', credential: { id: 'cred-a' }, status: 200 });
});

t.test('1 request smuggling is rejected with 400 and nothing goes upstream', async (t) => {
  const cases = [
    'POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/admin HTTP/1.1\r\nHost: api.example.com\r\n\r\n',
    'POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
    'POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd',
    'POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 0x4\r\n\r\nabcd',
    'POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    'POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
    'POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n',
    'POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
  ];
  for (const raw of cases) {
    const res = await tlsSend('api.example.com', raw);
    t.equal(status(res), 400, JSON.stringify(raw.split('\r\n').slice(2, 4)));
  }
  t.equal(up.received.length, 0, 'the upstream saw nothing');
  t.same(leaked(), []);
});

t.test('2 pipelined requests are each decided; a denied one lends nothing to the next', async (t) => {
  const res = await tlsSend('api.example.com', `GET /admin HTTP/1.1\r\nHost: api.example.com\r\n\r\nGET /v1/charges HTTP/1.1\r\nHost: api.example.com\r\n\r\nDELETE /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n`, TLS_PORT, 1000);
  t.same(statuses(res), [403, 200, 403]);
  t.equal(up.received.length, 1, 'only the allowed request went upstream');
  t.equal(up.received[0]?.url, '/v1/charges');
  t.same(leaked(), [SECRETS.A], 'the credential only on the allowed request');
});

t.test('3 two Host headers, or absolute-form that differs from Host, are rejected', async (t) => {
  t.equal(status(await tlsSend('api.example.com', 'GET /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nHost: b.example.com\r\n\r\n')), 400);
  t.equal(status(await rawExchange(HTTP_PORT, 'GET http://plaintext.example.com/ HTTP/1.1\r\nHost: plain.example.com\r\nConnection: close\r\n\r\n', { waitMs: 500 })), 400);
  t.equal(status(await tlsSend('api.example.com', 'GET http://api.example.com/v1/charges HTTP/1.1\r\nHost: api.example.com\r\n\r\n')), 400, 'absolute-form inside TLS');
  t.equal(up.received.length + plainUp.received.length, 0);
  t.same(leaked(), []);
});

t.test('4 SNI that differs from Host is misdirected (421), no credential', async (t) => {
  const res = await tlsSend('api.example.com', get('b.example.com', '/'));
  t.equal(status(res), 421);
  t.equal(up.received.length, 0);
  t.same(leaked(), []);
});

t.test('5 authority canonicalisation: a credential only on an exact canonical match', async (t) => {
  t.equal(status(await tlsSend('api.example.com', get('API.Example.COM.'))), 200, 'case and trailing dot are canonicalised');
  t.equal(up.received.at(-1)?.headers.host, `api.example.com:${up.port}`, 'and forwarded canonical');
  reset();
  t.equal(status(await tlsSend('api.example.com', get('user@api.example.com'))), 400, 'userinfo');
  t.equal(status(await tlsSend('api.example.com', get('api.example.com:1'))), 400, 'a port that is not the connection port');
  t.equal(status(await tlsSend('api.example.com', get('203.0.113.10'))), 421, 'an IP literal for an allowed name');
  // a look-alike name is not a policy host: it is spliced, never intercepted
  const lookAlike = await rawExchange(TLS_PORT, get('api.example.com.attacker.net'), { servername: 'api.example.com.attacker.net', ca: h.caPem(), waitMs: 500 }).catch((e: Error) => e.message);
  t.notOk(String(lookAlike).startsWith('HTTP/1.1 200'), 'the look-alike gets no intercepted answer');
  t.equal(up.received.length, 0);
  t.same(leaked(), []);
});

t.test('6 ambiguous paths are rejected before the decision', async (t) => {
  for (const p of ['/v1/%2e%2e/admin', '/v1/../admin', '/v1//charges', '/v1%2fcharges', '/v1/charges;a=b', '/v1/charges%5c..%5cadmin', '/v1/%252e%252e/admin']) {
    const res = await tlsSend('api.example.com', get('api.example.com', p));
    t.equal(status(res), 400, p);
  }
  const frag = await tlsSend('api.example.com', get('api.example.com', '/v1/charges#x'));
  t.ok([400].includes(status(frag)), 'a fragment');
  t.equal(up.received.length, 0);
  t.same(leaked(), []);
});

t.test('7 sidecar-only headers are removed; the injected one appears once; Connection cannot drop it', async (t) => {
  const res = await tlsSend('api.example.com', get('api.example.com', '/v1/charges', 'Authorization: Bearer app\r\nauthorization: Basic x\r\nProxy-Authorization: Basic y\r\nX-Amz-Security-Token: t\r\nX-Forwarded-Client-Cert: By=spiffe://evil\r\nX-Mayfly-Identity: admin\r\nConnection: Authorization, X-Keep\r\nX-Keep: 1\r\n'));
  t.equal(status(res), 200);
  const r = up.received[0]!;
  const names = r.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  t.equal(names.filter((n) => n === 'authorization').length, 1);
  t.equal(r.headers.authorization, `Bearer ${SECRETS.A}`);
  for (const n of ['proxy-authorization', 'x-amz-security-token', 'x-forwarded-client-cert', 'x-mayfly-identity', 'x-keep']) t.notOk(names.includes(n), n);
});

t.test('8 CR/LF or NUL from a provider never reaches the upstream request', async (t) => {
  const c = h.creds.values.get('payments/to-api')!;
  const saved = c.value;
  for (const bad of ['x\r\nX-Evil: 1', 'x\nX-Evil: 1', 'x\0y']) {
    c.value = bad;
    const res = await tlsSend('api.example.com', get('api.example.com'));
    t.equal(status(res), 502);
    t.match(res, /ERR_CREDENTIAL_INVALID/);
  }
  c.value = saved;
  t.equal(up.received.length, 0);
  t.equal(status(await tlsSend('api.example.com', 'GET /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nX-A: a\rb\r\n\r\n')), 400, 'a bare CR from the app');
  t.equal(up.received.length, 0);
});

t.test('9 huge headers get 431, slow clients 408, idle floods do not hurt others', async (t) => {
  const huge = await tlsSend('api.example.com', get('api.example.com', '/v1/charges', `X-Big: ${'a'.repeat(20000)}\r\n`));
  t.equal(status(huge), 431);
  const slow = tls.connect({ host: '127.0.0.1', port: TLS_PORT, servername: 'api.example.com', ca: h.caPem() });
  const slowText: Buffer[] = [];
  slow.on('data', (d: Buffer) => slowText.push(d));
  slow.on('error', () => {});
  await new Promise((r) => slow.once('secureConnect', r));
  slow.write('GET /v1/charges HTTP/1.1\r\nHost: api.example.com\r\n');
  const idle: net.Socket[] = [];
  for (let i = 0; i < 200; i++) {
    const s = net.connect({ host: '127.0.0.1', port: TLS_PORT });
    s.on('error', () => {});
    idle.push(s);
  }
  const started = performance.now();
  t.equal(status(await tlsSend('api.example.com', get('api.example.com'))), 200);
  t.ok(performance.now() - started < 1000, 'a normal client still gets its answer quickly');
  await new Promise((r) => setTimeout(r, 2800));
  t.equal(status(Buffer.concat(slowText).toString()), 408, 'the slow client timed out');
  idle.forEach((s) => s.destroy());
  slow.destroy();
  t.equal(up.received.length, 1);
});

/** An HTTPS request to the sidecar (as the captured app would make it) whose response stream is handed over. */
function appRequest(method: string, path: string, headers: Record<string, string> = {}): http.ClientRequest {
  return https.request({ host: '127.0.0.1', port: TLS_PORT, servername: 'api.example.com', ca: h.caPem(), method, path, headers: { host: 'api.example.com', ...headers }, agent: false });
}
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

t.test('9b bodies stream through both ways, never buffered whole', async (t) => {
  // upload (plain HTTP, where the upstream can count raw bytes): the upstream
  // has received the first MiB before the app sends the rest
  const chunk = Buffer.alloc(1 << 20, 'u');
  const startBytes = plainUp.bytes;
  const req = http.request({ host: '127.0.0.1', port: HTTP_PORT, method: 'POST', path: '/v1/upload', headers: { host: 'plaintext.example.com', 'content-type': 'application/octet-stream' }, agent: false });
  const answered = new Promise<number>((resolve, reject) => {
    req.on('response', (res: http.IncomingMessage) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  req.write(chunk);
  const before = performance.now();
  while (plainUp.bytes - startBytes < chunk.length && performance.now() - before < 5000) await new Promise((r) => setTimeout(r, 10));
  t.ok(plainUp.bytes - startBytes >= chunk.length, 'the first MiB reached the upstream while the app was still sending');
  for (let i = 0; i < 7; i++) req.write(chunk);
  req.end();
  t.equal(await answered, 200);
  t.equal(plainUp.received.at(-1)?.body.length, 8 << 20, 'all 8 MiB arrived');
  t.equal(plainUp.received.at(-1)?.headers.authorization, 'Bearer SECRET-P');

  // download: 16 MiB read slowly by the app arrive whole
  const big = Buffer.alloc(16 << 20);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
  up.respond = (_q, res) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': big.length }).end(big);
  t.teardown(() => (up.respond = (_q, r) => r.writeHead(200).end('hello from upstream\n')));
  const got = await new Promise<Buffer>((resolve, reject) => {
    const r = appRequest('GET', '/v1/download');
    r.on('response', (res: http.IncomingMessage) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        parts.push(d);
        res.pause(); // a slow reader: the sidecar must hold back rather than pile up
        setTimeout(() => res.resume(), 1);
      });
      res.on('end', () => resolve(Buffer.concat(parts)));
    });
    r.on('error', reject);
    r.end();
  });
  t.equal(got.length, big.length);
  t.equal(sha(got), sha(big), 'byte for byte');
});

t.test('9c an app that hangs up stops the upstream exchange', async (t) => {
  // mid-response: the upstream sees its response cut
  let upstreamClosed = false;
  up.respond = (_q, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('x'.repeat(1024)), 5);
    res.on('close', () => {
      clearInterval(timer);
      upstreamClosed = true;
    });
  };
  t.teardown(() => (up.respond = (_q, r) => r.writeHead(200).end('hello from upstream\n')));
  await new Promise<void>((resolve, reject) => {
    const r = appRequest('GET', '/v1/stream');
    r.on('response', (res: http.IncomingMessage) => res.once('data', () => r.destroy()));
    r.on('close', () => resolve());
    r.on('error', () => {});
    r.once('error', reject).end();
  });
  const until = performance.now() + 3000;
  while (!upstreamClosed && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.ok(upstreamClosed, 'the upstream response was cut when the app went away');
  const streamed = h.logs.filter((l) => l.audit && l.path === '/v1/stream').at(-1);
  t.match(streamed, { decision: 'allow', status: 200 }, 'and the exchange was audited');

  // before the response head: audited as 499, the upstream request aborted
  upstreamClosed = false;
  up.respond = (_q, res) => {
    const timer = setTimeout(() => res.writeHead(200).end('late'), 2000);
    res.on('close', () => {
      clearTimeout(timer);
      upstreamClosed = true;
    });
  };
  await new Promise<void>((resolve) => {
    const r = appRequest('GET', '/v1/slow');
    r.on('error', () => {});
    r.on('close', () => resolve());
    r.end();
    setTimeout(() => r.destroy(), 100);
  });
  const until2 = performance.now() + 3000;
  let slow: Record<string, unknown> | undefined;
  while ((!upstreamClosed || !slow) && performance.now() < until2) {
    await new Promise((r) => setTimeout(r, 10));
    slow = h.logs.filter((l) => l.audit && l.path === '/v1/slow').at(-1);
  }
  t.ok(upstreamClosed, 'the upstream request was aborted');
  t.match(slow, { decision: 'allow', status: 499, reason: 'client-closed' });
});

t.test('10 redirects are passed to the app, never followed', async (t) => {
  up.respond = (req, res) => {
    if (req.headers.host?.startsWith('redirect.')) res.writeHead(302, { location: 'https://other.example.net/steal' }).end();
    else res.writeHead(200).end('ok');
  };
  t.teardown(() => (up.respond = (_q, r) => r.writeHead(200).end('hello from upstream\n')));
  const res = await tlsSend('redirect.example.com', get('redirect.example.com', '/x'));
  t.equal(status(res), 302);
  t.match(res, /location: https:\/\/other\.example\.net\/steal/i);
  t.equal(up.received.length, 1, 'one request, no follow-up');
});

t.test('11 connections are pooled per destination and credential', async (t) => {
  await tlsSend('api.example.com', get('api.example.com'));
  await tlsSend('api.example.com', get('api.example.com'));
  await tlsSend('b.example.com', get('b.example.com', '/'));
  const [a1, a2, b] = up.received;
  t.equal(a1?.connection, a2?.connection, 'A reuses its own connection');
  t.not(b?.connection, a1?.connection, 'B never rides A\'s connection');
  t.equal(b?.headers.authorization, `Bearer ${SECRETS.B}`);
  t.equal(a2?.headers.authorization, `Bearer ${SECRETS.A}`);
});

t.test('12 no credential on cleartext unless the policy says so', async (t) => {
  const denied = await rawExchange(HTTP_PORT, get('plain.example.com', '/'), { waitMs: 500 });
  t.equal(status(denied), 403);
  t.match(denied, /plain HTTP/);
  t.equal(plainUp.received.length, 0);
  const allowed = await rawExchange(HTTP_PORT, get('plaintext.example.com', '/'), { waitMs: 500 });
  t.equal(status(allowed), 200);
  t.equal(plainUp.received[0]?.headers.authorization, 'Bearer SECRET-P', 'the policy opted in to plaintext');
});

t.test('13 bad upstream TLS fails with 502 and no request bytes upstream', async (t) => {
  for (const [name, u] of [['selfsigned.example.com', selfSigned], ['wrongname.example.com', wrongName], ['expired.example.com', expired]] as const) {
    const res = await tlsSend(name, get(name, '/'), h.port(u.port));
    t.equal(status(res), 502, name);
    t.match(res, /upstream certificate rejected/);
    t.equal(u.received.length, 0);
  }
  t.same(leaked(), []);
});

t.test('13b an upstream signed by the pod CA is not trusted', async (t) => {
  // the sidecar's own leaf for a policy name, served by an upstream
  const leaf = await h.sidecar.ca()!.leaf('selfsigned.example.com');
  t.ok(leaf.certPem.includes('BEGIN CERTIFICATE'));
  let bytes = 0;
  let handshakes = 0;
  const podCaUpstream = net.createServer((raw) => {
    const s = new tls.TLSSocket(raw, { isServer: true, secureContext: leaf.context });
    s.on('secure', () => handshakes++);
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => podCaUpstream.listen(0, '127.0.0.1', r));
  // point a captured port at it by swapping the upstream port: a fresh harness is overkill, reuse the sidecar's pool directly
  const pool = (await import('../src/pipeline/forward.ts')).UpstreamPool;
  const p = new pool({ extraCa: [ca.cert], maxAgents: 4, maxSocketsPerAgent: 4, idleTimeoutMs: 1000 });
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const target = { tls: true, host: 'selfsigned.example.com', port: (podCaUpstream.address() as net.AddressInfo).port, address: '127.0.0.1', credentialId: 'x' };
    p.request(target, 'GET', '/', ['Host', 'selfsigned.example.com', 'Authorization', 'Bearer SECRET-T'], null, 5000, {
      onConnect: () => {},
      onHeaders: () => true,
      onData: () => true,
      onComplete: () => resolve(Object.assign(new Error('answered'), { code: 'ANSWERED' })),
      onError: (e: Error) => resolve(e as NodeJS.ErrnoException),
    });
  });
  t.match(err.code, /UNABLE_TO|SELF_SIGNED|CERT/);
  t.equal(bytes, 0, 'no request bytes were written');
  t.equal(handshakes, 0, 'the sidecar refused the handshake');
  p.close();
  podCaUpstream.close();
});

t.test('14 loopback, link-local and private resolutions are denied unless allowed', async (t) => {
  const meta = await tlsSend('meta.example.com', get('meta.example.com', '/latest/meta-data/'));
  t.equal(status(meta), 403, 'metadata address even with allowPrivateAddresses');
  t.match(meta, /link-local/);
  const internal = await tlsSend('internal.example.com', get('internal.example.com', '/'));
  t.equal(status(internal), 403, 'private without allowPrivateAddresses');
  t.equal(up.received.length, 0);
  t.same(leaked(), []);
  const ok = await tlsSend('internal-ok.example.com', get('internal-ok.example.com', '/'));
  t.equal(status(ok), 200, 'private with allowPrivateAddresses');
});

t.test('15 leaves only for policy names; no SNI, bad names and floods are cheap and bounded', async (t) => {
  const before = h.sidecar.ca()!.stats();
  // a name no policy knows is spliced, not intercepted: the client sees the upstream's own certificate
  const peer = await new Promise<X509Certificate>((resolve, reject) => {
    h.names.set('unknown.example.org', '203.0.113.10');
    const s = tls.connect({ host: '127.0.0.1', port: TLS_PORT, servername: 'unknown.example.org', rejectUnauthorized: false }, () => {
      resolve(s.getPeerX509Certificate() as X509Certificate);
      s.destroy();
    });
    s.on('error', reject);
  });
  t.match(peer.issuer, /Mayfly test upstream CA/, 'the upstream certificate, not a minted one');
  // no SNI: refused without a mint
  const noSni = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: TLS_PORT, rejectUnauthorized: false });
    s.on('error', (e) => resolve(e.message));
    s.on('secureConnect', () => resolve('connected'));
    s.on('close', () => resolve('closed'));
  });
  t.not(noSni, 'connected');
  t.ok(h.logs.some((l) => l.reason === 'no-sni'), 'logged as no-sni');
  // a flood of names under a wildcard stays within the cache bound
  const flood = [];
  for (let i = 0; i < 80; i++) {
    const name = `n${i}-${Math.random().toString(36).slice(2, 8)}.flood.example.com`;
    h.names.set(name, '203.0.113.10');
    flood.push(tlsSend(name, get(name, '/'), TLS_PORT, 300).catch(() => ''));
  }
  await Promise.all(flood);
  for (let i = 0; i < 30 && h.sidecar.ca()!.stats().minted - before.minted < 80; i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 200));
  const after = h.sidecar.ca()!.stats();
  t.ok(after.size <= 50, `leaf cache bounded (size ${after.size})`);
  t.equal(after.minted - before.minted, 80, `one mint per policy name, none for the unknown or SNI-less connections (${JSON.stringify({ before, after })})`);
  // an overlong name is refused before any work
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(50)}.flood.example.com`;
  await rawExchange(TLS_PORT, 'x', { servername: long, ca: h.caPem(), waitMs: 200 }).catch(() => '');
  t.equal(h.sidecar.ca()!.stats().minted, after.minted);
});

t.test('16 the pod CA key never leaves memory; the CA is short-lived and name-constrained', async (t) => {
  const files = await readdir(join(h.dir, 'trust'));
  t.same(files.sort(), ['bundle.crt', 'ca.crt', 'truststore.jks']);
  for (const f of files) t.notMatch(await readFile(join(h.dir, 'trust', f), 'latin1'), /PRIVATE KEY/, f);
  const cert = new X509Certificate(await readFile(join(h.dir, 'trust', 'ca.crt')));
  t.ok(cert.ca);
  t.ok(Date.parse(cert.validTo) - Date.now() <= 86400_000 + 60_000, 'lives at most the configured day');
  const text = (await import('node:child_process')).execFileSync('openssl', ['x509', '-noout', '-text'], { input: cert.toString() }).toString();
  t.match(text, /Name Constraints: critical[\s\S]*DNS:api\.example\.com[\s\S]*DNS:flood\.example\.com/);
  t.notMatch(JSON.stringify(Object.keys(h.sidecar.ca()!)), /key/i, 'the PodCa exposes no key');
});

t.test('fail closed: no credential, no request', async (t) => {
  h.creds.failWith = 'ERR_CREDENTIAL_UNAVAILABLE';
  const res = await tlsSend('api.example.com', get('api.example.com'));
  h.creds.failWith = null;
  t.equal(status(res), 503);
  t.match(res, /no credential for this request, so it was not sent/);
  t.equal(up.received.length, 0);
});

t.test('Audit mode forwards untouched and logs would-deny', async (t) => {
  const res = await tlsSend('audit.example.com', get('audit.example.com', '/admin', 'Authorization: Bearer app-own\r\n'));
  t.equal(status(res), 200);
  t.equal(up.received[0]?.headers.authorization, 'Bearer app-own', 'never injects, never strips');
  const rec = h.logs.filter((l) => l.audit && l.policy === 'payments/audit').at(-1);
  t.match(rec, { decision: 'audit', wouldDeny: true, reason: 'path-not-allowed', msg: 'would deny' });
  t.same(leaked(), []);
});

t.test('Audit mode: a failure after the decision (here the name does not resolve) is reported in error and status; the would-deny reason stays', async (t) => {
  const res = await tlsSend('audit-down.example.com', get('audit-down.example.com', '/admin'), h.port(selfSigned.port));
  t.equal(status(res), 502);
  const rec = h.logs.filter((l) => l.audit && l.policy === 'payments/audit-down').at(-1);
  t.match(rec, { decision: 'audit', wouldDeny: true, reason: 'path-not-allowed', status: 502, error: /cannot resolve audit-down.example.com/ });
});

t.test('hot reload swaps the policies atomically', async (t) => {
  const text = await readFile(h.policyFile, 'utf8');
  await writeFile(h.policyFile, text.replace('paths: ["/v1/*"] }]', 'paths: ["/v2/*"] }]'));
  await new Promise((r) => setTimeout(r, 400));
  t.equal(status(await tlsSend('api.example.com', get('api.example.com', '/v2/x'))), 200);
  t.equal(status(await tlsSend('api.example.com', get('api.example.com', '/v1/charges'))), 403);
  await writeFile(h.policyFile, 'kind: WorkloadPolicy\nspec: broken');
  await new Promise((r) => setTimeout(r, 400));
  t.equal(status(await tlsSend('api.example.com', get('api.example.com', '/v2/x'))), 200, 'an invalid file keeps the last good policies');
  await writeFile(h.policyFile, text);
  await new Promise((r) => setTimeout(r, 400));
});

t.test('admin endpoints', async (t) => {
  const ready = await fetch(`http://127.0.0.1:${h.adminPort}/readyz`);
  t.equal(ready.status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${h.adminPort}/metrics`)).text();
  t.match(metrics, /mayfly_sidecar_requests_total\{decision="allow",policy="payments\/to-api",mode="Enforce"\} \d+/);
  t.match(metrics, /mayfly_sidecar_leaf_cache\{stat="minted"\} \d+/);
});
