// The config stream on the real control plane: sidecars authenticate with real
// pod-bound TokenRequest tokens, the client is the sidecar's own
// StreamConfigSource, and changes are made with kubectl.
import t, { type Test } from 'tap';
import { request } from 'node:https';
import type { PolicySnapshot } from '@mayfly/sidecar';
import { StreamConfigSource } from '@mayfly/sidecar/control/stream-source';
import { installedCluster, makePod, metricValue, must, namespace, podToken, policyYaml, until } from '../helpers/cluster.ts';

// A whole control plane per file: allow for a slow, shared machine.
t.setTimeout(300_000);

const { env, first: ctl } = await installedCluster((l) => t.comment(l));
const { cp } = env;
const ca = await env.ca();
const url = `https://127.0.0.1:${ctl.serverPort}`;
t.teardown(async () => {
  await ctl.stop();
  await cp.stop();
});

await namespace(cp, 'shop', true);
await namespace(cp, 'other', true);
await makePod(cp, { namespace: 'shop', name: 'api-1', sa: 'api', labels: { app: 'shop' } });
await makePod(cp, { namespace: 'shop', name: 'batch-1', sa: 'batch', labels: { app: 'batch' } });
await makePod(cp, { namespace: 'other', name: 'api-1', sa: 'api', labels: { app: 'shop' } });
await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'to-api', labels: { app: 'shop' } }) });
await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'batch-to-s3', labels: { app: 'batch' }, host: 'storage.example.com' }) });
await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'other', name: 'other-to-api', labels: { app: 'shop' }, host: 'other.example.com' }) });

interface Sidecar {
  source: StreamConfigSource;
  seen: Array<{ at: number; snapshot: PolicySnapshot }>;
  ids(): string[];
}

async function sidecar(t: Test, ns: string, sa: string, pod: string): Promise<Sidecar> {
  const seen: Sidecar['seen'] = [];
  const source = new StreamConfigSource({ url, ca, token: () => podToken(cp, ns, sa, pod), backoff: { baseMs: 100, maxMs: 1000 } });
  t.teardown(() => source.stop());
  await source.start((snapshot) => seen.push({ at: Date.now(), snapshot }));
  return { source, seen, ids: () => (seen.at(-1)?.snapshot.policies ?? []).map((p) => p.id) };
}

function status(path: string, token?: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { ca, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      // A stream that opened: the first line is enough.
      if (res.statusCode === 200) res.once('data', () => req.destroy());
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? resolve({ code: 200, body: '' }) : reject(err)));
    req.end();
  });
}

t.test('each sidecar receives exactly the compiled policies that select its pod', async (t) => {
  const api = await sidecar(t, 'shop', 'api', 'api-1');
  const batch = await sidecar(t, 'shop', 'batch', 'batch-1');
  const otherApi = await sidecar(t, 'other', 'api', 'api-1');
  t.same(api.ids(), ['shop/to-api']);
  t.same(batch.ids(), ['shop/batch-to-s3']);
  t.same(otherApi.ids(), ['other/other-to-api'], 'the same pod name and labels in another namespace never see shop\'s policies');
  const [p] = api.seen[0]?.snapshot.policies ?? [];
  t.match(p, { id: 'shop/to-api', mode: 'Enforce', destinations: [{ host: 'api.example.com', ports: [443] }], credential: { provider: { kind: 'broker', audience: 'example' } }, tokenAudiences: ['mayfly'] });
  t.equal(metricValue(await ctl.metrics(), 'mayfly_config_streams'), 3);
});

t.test('a change reaches the sidecar within 2 s of kubectl apply; others get nothing; deletion revokes at once', async (t) => {
  const api = await sidecar(t, 'shop', 'api', 'api-1');
  const batch = await sidecar(t, 'shop', 'batch', 'batch-1');
  const batchBefore = batch.seen.length;
  const latencies: number[] = [];
  for (let i = 1; i <= 3; i++) {
    const before = api.seen.length;
    const started = Date.now();
    await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'to-api', labels: { app: 'shop' }, paths: [`/v${i}/*`] }) });
    await until('the change', () => api.seen.length > before, 5000, 5);
    latencies.push((api.seen.at(-1)?.at ?? 0) - started);
    t.same(api.seen.at(-1)?.snapshot.policies[0]?.destinations[0]?.paths, [{ prefix: `/v${i}/` }]);
  }
  t.ok(Math.max(...latencies) < 2000, `pushed ${latencies.join(', ')} ms after kubectl apply started`);
  t.equal(batch.seen.length, batchBefore, 'a sidecar whose policies did not change got nothing');

  const before = api.seen.length;
  const started = Date.now();
  await must(cp, ['-n', 'shop', 'delete', 'wp', 'to-api']);
  await until('revocation', () => api.seen.length > before, 5000, 5);
  t.same(api.ids(), [], 'deleting the policy revokes it');
  t.ok(Date.now() - started < 2000, `revoked ${Date.now() - started} ms after kubectl delete started`);
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'to-api', labels: { app: 'shop' } }) });
  await until('re-granted', () => api.ids().length === 1, 5000, 5);
});

t.test('relabelling a pod moves it to the policies that now select it', async (t) => {
  const batch = await sidecar(t, 'shop', 'batch', 'batch-1');
  await must(cp, ['-n', 'shop', 'label', 'pod', 'batch-1', 'app=shop', '--overwrite']);
  await until('re-selected', () => batch.ids().join() === 'shop/to-api', 5000, 5);
  await must(cp, ['-n', 'shop', 'label', 'pod', 'batch-1', 'app=batch', '--overwrite']);
  await until('back', () => batch.ids().join() === 'shop/batch-to-s3', 5000, 5);
  t.pass();
});

t.test('a deleted pod is revoked and its stream ended; its token is refused afterwards', async (t) => {
  await makePod(cp, { namespace: 'shop', name: 'tmp-1', sa: 'api', labels: { app: 'shop' } });
  const token = await podToken(cp, 'shop', 'api', 'tmp-1');
  const seen: PolicySnapshot[] = [];
  const source = new StreamConfigSource({ url, ca, token: async () => token, backoff: { baseMs: 100, maxMs: 200 } });
  t.teardown(() => source.stop());
  await source.start((s) => seen.push(s));
  t.same(seen[0]?.policies.map((p) => p.id), ['shop/to-api']);
  await must(cp, ['-n', 'shop', 'delete', 'pod', 'tmp-1', '--grace-period=0', '--force']);
  await until('revoked', () => seen.length === 2, 5000, 5);
  t.same(seen[1]?.policies, [], 'an empty snapshot: nothing is granted any more');
  const again = await status('/v1/config/stream', token);
  t.ok(again.code === 401 || again.code === 403, `the deleted pod's token is refused (${again.code})`);
});

t.test('refusals: no token, the wrong audience, a token that is not pod-bound', async (t) => {
  t.match(await status('/v1/config/stream'), { code: 401, body: /ERR_UNAUTHENTICATED/ });
  const vault = await podToken(cp, 'shop', 'api', 'api-1', 'vault');
  t.match(await status('/v1/config/stream', vault), { code: 401, body: /ERR_UNAUTHENTICATED/ });
  const unbound = (await must(cp, ['-n', 'shop', 'create', 'token', 'api', '--audience', 'mayfly', '--duration', '10m'])).trim();
  t.match(await status('/v1/config/stream', unbound), { code: 403, body: /not bound to a pod/ });
  t.match(await status('/v1/config/stream', 'a.b.c'), { code: 401 });
  t.ok((metricValue(await ctl.metrics(), 'mayfly_config_stream_refusals_total', { code: 'ERR_UNAUTHENTICATED' }) ?? 0) >= 3);
  t.notMatch(JSON.stringify(ctl.logs()), new RegExp(vault.slice(-20).replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')), 'tokens never reach the log');
});

t.test('a policy past its expiresAt leaves the snapshot at that moment', async (t) => {
  const api = await sidecar(t, 'shop', 'api', 'api-1');
  const expiresAt = new Date(Date.now() + 4000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'break-glass', labels: { app: 'shop' }, host: 'admin.example.com', extra: `  expiresAt: "${expiresAt}"\n` }) });
  await until('granted', () => api.ids().includes('shop/break-glass'), 5000, 5);
  await until('expired', () => !api.ids().includes('shop/break-glass'), 10_000, 5);
  const late = Date.now() - Date.parse(expiresAt);
  t.ok(late >= 0 && late < 1000, `removed ${late} ms after expiresAt`);
});
