// The config-stream client against a loopback HTTPS server that speaks the
// stream protocol (sidecar/src/control/protocol.ts), with a certificate made by
// openssl for 127.0.0.1. The controller's side is tested in operator/test.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompiledPolicy } from '@mayfly/crds';
import type { PolicySnapshot } from '../../src/contracts.ts';
import { snapshotMessage } from '../../src/control/protocol.ts';
import { StreamConfigSource } from '../../src/control/stream-source.ts';

const dir = mkdtempSync(join(tmpdir(), 'mayfly-stream-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=controller', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
const cert = readFileSync(join(dir, 'cert.pem'));
const key = readFileSync(join(dir, 'key.pem'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const policy = (name: string, generation = 1): CompiledPolicy => ({
  id: `payments/${name}`,
  namespace: 'payments',
  name,
  generation,
  mode: 'Enforce',
  subjects: { serviceAccounts: null, podSelector: { matchLabels: { app: 'payments' } } },
  posture: { allowedRegistries: [], requireDigest: false },
  timeWindows: [],
  destinations: [{ host: 'api.stripe.com', wildcard: false, ports: [443], methods: null, paths: null, plaintext: false, allowPrivateAddresses: false }],
  credential: { provider: { kind: 'broker', audience: 'stripe', ttlSeconds: 600 }, inject: { kind: 'header', header: 'Authorization', format: 'Bearer {{token}}' }, scope: `payments/${name}#broker` },
  expiresAt: null,
  tokenAudiences: ['mayfly'],
});

interface Controller {
  server: Server;
  url: string;
  tokens: string[];
  streams: ServerResponse[];
  status: number;
  first: PolicySnapshot['policies'];
  close(): Promise<void>;
}

async function controller(): Promise<Controller> {
  const c: Partial<Controller> = { tokens: [], streams: [], status: 200, first: [policy('a')] };
  const server = createServer({ cert, key }, (req, res) => {
    c.tokens!.push(req.headers.authorization ?? '');
    if (c.status !== 200) {
      res.writeHead(c.status!, { 'content-type': 'application/json' }).end('{"code":"ERR_UNAUTHENTICATED","message":"no"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(`${JSON.stringify(snapshotMessage(c.first!))}\n`);
    c.streams!.push(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  c.server = server;
  c.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return c as Controller;
}

const until = async (what: string, check: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

t.test('start resolves with the first snapshot; later snapshots are applied; the token is sent', async (t) => {
  const c = await controller();
  t.teardown(c.close);
  const seen: PolicySnapshot[] = [];
  const src = new StreamConfigSource({ url: c.url, ca: cert, token: async () => 'tok.en.one' });
  t.teardown(() => src.stop());
  await src.start((s) => seen.push(s));
  t.same(seen.map((s) => s.policies.map((p) => p.id)), [['payments/a']]);
  t.same(c.tokens, ['Bearer tok.en.one']);
  t.ok(Object.isFrozen(seen[0]) && Object.isFrozen(seen[0]?.policies), 'snapshots are immutable');
  c.streams[0]?.write(`${JSON.stringify({ type: 'heartbeat', at: new Date().toISOString() })}\n`);
  c.streams[0]?.write(`${JSON.stringify(snapshotMessage([policy('a', 2), policy('b')]))}\n`);
  await until('second snapshot', () => seen.length === 2);
  t.same(seen[1]?.policies.map((p) => [p.id, p.generation]), [['payments/a', 2], ['payments/b', 1]]);
  c.streams[0]?.write(`${JSON.stringify(snapshotMessage([policy('b'), policy('a', 2)]))}\n`);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(seen.length, 2, 'the same set in another order is not a change');
});

t.test('when the stream drops, the last snapshot stays in force and the source reconnects with a fresh token', async (t) => {
  const c = await controller();
  t.teardown(c.close);
  let n = 0;
  const seen: PolicySnapshot[] = [];
  const src = new StreamConfigSource({ url: c.url, ca: cert, token: async () => `tok.en.${++n}`, backoff: { baseMs: 50, maxMs: 200 } });
  t.teardown(() => src.stop());
  await src.start((s) => seen.push(s));
  c.first = [policy('a'), policy('c')];
  c.streams[0]?.destroy();
  await until('dropped', () => src.state !== 'streaming');
  t.same(src.snapshot?.policies.map((p) => p.id), ['payments/a'], 'kept while disconnected');
  await until('reconnected', () => seen.length === 2);
  t.same(seen[1]?.policies.map((p) => p.id), ['payments/a', 'payments/c'], 'the reconnect brings what changed meanwhile');
  t.same(c.tokens, ['Bearer tok.en.1', 'Bearer tok.en.2']);
});

t.test('refusals and a dead controller are retried with growing delays; the last snapshot is kept', async (t) => {
  const c = await controller();
  const src = new StreamConfigSource({ url: c.url, ca: cert, token: async () => 'a.b.c', backoff: { baseMs: 40, maxMs: 160 }, random: () => 0 });
  t.teardown(() => src.stop());
  await src.start(() => {});
  c.status = 401;
  const times: number[] = [];
  const server = c.server;
  server.on('request', () => times.push(Date.now()));
  c.streams[0]?.destroy();
  await until('five refused attempts', () => times.length >= 5, 5000);
  const gaps = times.slice(1).map((x, i) => x - (times[i] as number));
  t.ok(gaps[0]! >= 70 && gaps[1]! >= 140, `delays grow: ${gaps.join(', ')} ms`);
  // Uncapped, the fourth delay would be 320 ms.
  t.ok(gaps[3]! < 300, `capped at 160 ms: ${gaps[3]} ms`);
  t.same(src.snapshot?.policies.map((p) => p.id), ['payments/a']);
  await c.close();
});

t.test('a stream that goes silent is abandoned after the idle timeout and reopened', async (t) => {
  const c = await controller();
  t.teardown(c.close);
  const src = new StreamConfigSource({ url: c.url, ca: cert, token: async () => 'a.b.c', idleTimeoutMs: 300, backoff: { baseMs: 20, maxMs: 20 } });
  t.teardown(() => src.stop());
  await src.start(() => {});
  await until('a second request after silence', () => c.tokens.length >= 2, 3000);
  t.ok(src.connections >= 2, 'the silent stream was abandoned and a new one opened');
});

t.test('a malformed message drops the connection without applying anything', async (t) => {
  const c = await controller();
  t.teardown(c.close);
  const seen: PolicySnapshot[] = [];
  const src = new StreamConfigSource({ url: c.url, ca: cert, token: async () => 'a.b.c', backoff: { baseMs: 20, maxMs: 20 } });
  t.teardown(() => src.stop());
  await src.start((s) => seen.push(s));
  c.streams[0]?.write('{"type":"snapshot","revision":"x","policies":[{"id":1}]}\n');
  await until('reconnect', () => src.connections >= 2);
  t.equal(seen.length, 1);
  t.same(src.snapshot?.policies.map((p) => p.id), ['payments/a']);
});

t.test('a controller with an untrusted certificate is never talked to', async (t) => {
  const c = await controller();
  t.teardown(c.close);
  const src = new StreamConfigSource({ url: c.url, token: async () => 'secret.token.value', backoff: { baseMs: 20, maxMs: 20 } });
  let started = false;
  void src.start(() => (started = true)).catch(() => {});
  await new Promise((r) => setTimeout(r, 200));
  await src.stop();
  t.notOk(started);
  t.same(c.tokens, [], 'the token never reached the server');
});
