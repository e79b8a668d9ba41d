// The config stream route over real HTTP on loopback, with the hub and the
// authenticator seam; TokenReview against the real API server is covered in
// test/cluster/stream.test.ts.
import t, { type Test } from 'tap';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fastify } from 'fastify';
import type { CompiledPolicy } from '@mayfly/crds';
import { FakeClock } from '../../src/machinery/clock.ts';
import { AuthError, type AuthenticatedPod, type Authenticator } from '../../src/stream/auth.ts';
import { ConfigHub } from '../../src/stream/hub.ts';
import { configStreamRoutes } from '../../src/stream/routes.ts';
import { compiled } from '../helpers/objects.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const pod = (o: Partial<AuthenticatedPod> = {}): AuthenticatedPod => ({ namespace: 'payments', serviceAccount: 'api', podName: 'api-1', podUID: 'u1', labels: { app: 'payments' }, expiresAt: NOW + 60_000, ...o });

async function server(t: Test, authenticate: Authenticator['authenticate'], ready = true) {
  const clock = new FakeClock(NOW);
  const policies: CompiledPolicy[] = [compiled({ name: 'a' })];
  const hub = new ConfigHub({ policies: () => policies, pod: () => undefined }, clock);
  const app = fastify();
  await app.register(configStreamRoutes, { authenticator: { authenticate }, hub, clock, ready: () => ready, heartbeatMs: 50 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  return { clock, hub, port: (app.server.address() as AddressInfo).port };
}

interface Opened {
  status: number;
  lines: Array<Record<string, unknown>>;
  ended: Promise<void>;
  close(): void;
}

function open(port: number, token = 'x.y.z'): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/config/stream', headers: { authorization: `Bearer ${token}` } }, (res) => {
      const lines: Array<Record<string, unknown>> = [];
      let buf = '';
      const ended = new Promise<void>((r) => res.on('end', r).on('close', r));
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
          buf = buf.slice(i + 1);
        }
      });
      resolve({ status: res.statusCode ?? 0, lines, ended, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

t.test('an authenticated pod gets its snapshot first, then heartbeats', async (t) => {
  const s = await server(t, async () => pod());
  const o = await open(s.port);
  t.equal(o.status, 200);
  await until(() => o.lines.length >= 3);
  t.match(o.lines[0], { type: 'snapshot', policies: [{ id: 'payments/a' }] });
  t.match(o.lines.slice(1), [{ type: 'heartbeat' }, { type: 'heartbeat' }]);
  t.equal(s.hub.size, 1);
  o.close();
  await until(() => s.hub.size === 0);
  t.equal(s.hub.size, 0, 'a client that leaves is unsubscribed');
});

t.test('the stream ends when the token it was opened with expires', async (t) => {
  const s = await server(t, async () => pod({ expiresAt: NOW + 600_000 }));
  const o = await open(s.port);
  await until(() => o.lines.length >= 1);
  await s.clock.advance(599_999);
  t.notOk(o.lines.some((l) => l.type === 'end'));
  await s.clock.advance(1);
  await o.ended;
  t.match(o.lines.at(-1), { type: 'end', code: 'ERR_TOKEN_EXPIRED' });
});

t.test('refusals: not ready 503, unauthenticated 401, forbidden 403, review unavailable 503', async (t) => {
  const notReady = await server(t, async () => pod(), false);
  t.match(await open(notReady.port), { status: 503 });
  const cases: Array<[Error, number]> = [
    [new AuthError('ERR_UNAUTHENTICATED', 'no'), 401],
    [new AuthError('ERR_FORBIDDEN', 'no'), 403],
    [new Error('ECONNREFUSED'), 503],
  ];
  for (const [err, status] of cases) {
    const s = await server(t, async () => {
      throw err;
    });
    const o = await open(s.port);
    t.equal(o.status, status, `${(err as { code?: string }).code ?? err.message} -> ${status}`);
    t.equal(s.hub.size, 0);
  }
});
