// End-to-end scenarios on the real control plane: Mayfly installed with helm,
// its controller running with the chart's RBAC, pods admitted by the webhook and
// run by the kubelet harness in network namespaces, unmodified curl as the app,
// and stand-in APIs that record what they received. Every scenario asserts what
// the upstream received, not only what the client printed.
import t from 'tap';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { createWorld, type PodHandle, type World } from '../src/world.ts';
import { header, type Upstream } from '../src/upstream.ts';
import { fetchJson, must, until } from '../src/mayfly.ts';

t.setTimeout(600_000);

let world: World;

function indent(pem: string, spaces: number): string {
  return pem.trimEnd().split('\n').map((l) => `${' '.repeat(spaces)}${l}`).join('\n');
}

function policy(o: { namespace: string; name: string; sa: string; host: string; provider: string; inject: string; methods?: string[]; expiresAt?: string }): string {
  return `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: ${o.name}, namespace: ${o.namespace} }
spec:
  subjects: { serviceAccounts: [${o.sa}] }
  destinations:
    - host: ${o.host}
      methods: ${JSON.stringify(o.methods ?? ['GET', 'POST'])}
      allowPrivateAddresses: true
      caBundle: |
${indent(world.apiCa.certPem, 8)}
  credential:
    provider: ${o.provider}
    inject: ${o.inject}
${o.expiresAt ? `  expiresAt: "${o.expiresAt}"\n` : ''}`;
}

async function curl(pod: PodHandle, url: string, args: string[] = []): Promise<{ code: number; body: string }> {
  const r = await pod.app(['curl', '-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', ...args, url]);
  const lines = r.stdout.trimEnd().split('\n');
  return { code: Number(lines.pop()), body: lines.join('\n') + r.stderr };
}

/** Deploys a workload with a service account in a namespace and runs its pod. */
async function workload(namespace: string, name: string, sa: string): Promise<PodHandle> {
  const podName = await world.deployment({ namespace, name, serviceAccount: sa, labels: { app: name } });
  return world.runPod(namespace, podName);
}

function configApplied(pod: PodHandle): string[][] {
  const { readFileSync } = process.getBuiltinModule('node:fs');
  return readFileSync(pod.pod.logPath('mayfly-sidecar'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"config applied"'))
    .map((l) => (JSON.parse(l) as { policies: string[] }).policies);
}

t.before(async () => {
  world = await createWorld();
});

t.teardown(async () => {
  await world?.stop();
});

t.test('broker JWTs: minted for the pod, verified by the receiving service with the published JWKS', async (t) => {
  await world.namespace('orders');
  const api = await world.api('inventory.shop.example');
  await world.apply(policy({ namespace: 'orders', name: 'to-inventory', sa: 'orders', host: 'inventory.shop.example', provider: '{ broker: { audience: inventory, ttl: 5m } }', inject: '{ header: Authorization }' }));
  const pod = await workload('orders', 'orders', 'orders');
  const r = await curl(pod, 'https://inventory.shop.example/items');
  t.equal(r.code, 200, r.body);
  t.equal(api.received.length, 1, 'the API received exactly one request');
  const auth = header(api.received[0] as Upstream['received'][number], 'authorization');
  t.equal(auth.length, 1, 'exactly one Authorization header');
  const jwt = (auth[0] as string).replace(/^Bearer /, '');
  const jwks = createLocalJWKSet(await fetchJson<JSONWebKeySet>(`https://127.0.0.1:${world.mayfly.controller.serverPort}/.well-known/jwks.json`, await world.mayfly.ca()));
  const { payload, protectedHeader } = await jwtVerify(jwt, jwks, { audience: 'inventory', algorithms: ['ES256'] });
  t.equal(protectedHeader.alg, 'ES256');
  t.equal(payload.sub, 'spiffe://cluster.local/ns/orders/sa/orders');
  t.ok(payload.exp && payload.iat && payload.exp - payload.iat <= 300, 'lifetime within the policy ttl');
  const claims = payload['mayfly.dev'] as { pod: { name: string; uid: string }; policy: string };
  t.equal(claims.pod.name, pod.name, 'bound to this pod');
  t.equal(claims.pod.uid, pod.pod.pod.metadata?.uid);
  t.equal(claims.policy, 'orders/to-inventory');
  await t.rejects(jwtVerify(jwt, jwks, { audience: 'another-service', algorithms: ['ES256'] }), 'useless for any other audience');
  const leaked = await pod.app(['sh', '-c', 'env; cat /var/run/mayfly/ca/* 2>/dev/null; ls -R /var/run 2>/dev/null']);
  t.notMatch(leaked.stdout, jwt.slice(0, 40), 'the app container never holds the token');
});

t.test('secretRef: a static key reaches a third-party-style API; the pod never holds it', async (t) => {
  await world.namespace('billing');
  const KEY = 'sk_live_51Mayfly0nlyTheBrokerHoldsThis';
  await must(world.cp, ['-n', 'billing', 'create', 'secret', 'generic', 'partner-key', `--from-literal=apiKey=${KEY}`]);
  const api = await world.api('api.partner.example', { reply: (r) => (header(r, 'x-api-key')[0] === KEY ? { status: 200, body: '{"rates":[1]}' } : { status: 401, body: '{"error":"bad key"}' }) });
  await world.apply(policy({ namespace: 'billing', name: 'to-partner', sa: 'billing', host: 'api.partner.example', provider: '{ secretRef: { name: partner-key, key: apiKey } }', inject: '{ header: X-Api-Key, format: "{{token}}" }' }));
  const pod = await workload('billing', 'billing', 'billing');
  const r = await curl(pod, 'https://api.partner.example/rates', ['-H', 'X-Api-Key: app-tried-its-own']);
  t.equal(r.code, 200, r.body);
  t.same(api.headerValues('x-api-key'), [KEY], 'the API saw the key exactly once, and not the app-supplied value');
  const stored = JSON.stringify(pod.pod.pod);
  t.notMatch(stored, 'partner-key', 'the pod spec references no Secret');
  const inside = await pod.app(['sh', '-c', 'env; grep -rs sk_live_ /var/run /tmp /etc 2>/dev/null | head -1']);
  t.notMatch(inside.stdout, KEY, 'the key is nowhere in the app container');
});

t.test('two namespaces: each sidecar receives only its own policies', async (t) => {
  await world.namespace('team-a');
  await world.namespace('team-b');
  const apiA = await world.api('a.internal.example');
  const apiB = await world.api('b.internal.example');
  await world.apply(policy({ namespace: 'team-a', name: 'a-policy', sa: 'app', host: 'a.internal.example', provider: '{ broker: { audience: a } }', inject: '{ header: Authorization }' }));
  await world.apply(policy({ namespace: 'team-b', name: 'b-policy', sa: 'app', host: 'b.internal.example', provider: '{ broker: { audience: b } }', inject: '{ header: Authorization }' }));
  const podA = await workload('team-a', 'app', 'app');
  const podB = await workload('team-b', 'app', 'app');
  t.same(configApplied(podA).at(-1), ['team-a/a-policy'], 'sidecar A holds only team-a/a-policy');
  t.same(configApplied(podB).at(-1), ['team-b/b-policy'], 'sidecar B holds only team-b/b-policy');
  t.equal((await curl(podA, 'https://a.internal.example/')).code, 200);
  t.equal((await curl(podB, 'https://b.internal.example/')).code, 200);
  const cross = await curl(podA, 'https://b.internal.example/');
  t.not(cross.code, 200, 'A cannot use B\'s destination: not intercepted, so its own trust fails');
  t.equal(apiB.received.length, 1, 'B\'s API saw only B\'s request');
  t.equal(apiA.received.length, 1);
  t.ok(apiB.headerValues('authorization').every((v) => v.startsWith('Bearer ')));
});

t.test('a policy stops granting at expiresAt', async (t) => {
  await world.namespace('oncall');
  const api = await world.api('admin.oncall.example');
  const expiresAt = new Date(Date.now() + 25_000).toISOString().replace(/\.\d+Z$/, 'Z');
  await world.apply(policy({ namespace: 'oncall', name: 'break-glass', sa: 'tools', host: 'admin.oncall.example', provider: '{ broker: { audience: admin, ttl: 2m } }', inject: '{ header: Authorization }', expiresAt }));
  const pod = await workload('oncall', 'tools', 'tools');
  t.equal((await curl(pod, 'https://admin.oncall.example/')).code, 200, 'allowed before expiresAt');
  const before = api.received.length;
  await until('expiresAt to pass', () => Date.now() > Date.parse(expiresAt) + 1500, 60_000, 250);
  const after = await curl(pod, 'https://admin.oncall.example/');
  t.not(after.code, 200, `refused after expiresAt: ${after.body}`);
  t.equal(api.received.length, before, 'nothing reached the API after expiry');
  const status = JSON.parse(await must(world.cp, ['-n', 'oncall', 'get', 'wp', 'break-glass', '-o', 'json'])) as { status: { conditions: Array<{ type: string; status: string; reason: string }> } };
  const ready = status.status.conditions.find((c) => c.type === 'Ready');
  t.equal(ready?.status, 'False');
  t.equal(ready?.reason, 'Expired');
});

t.test('a pod deleted mid-flight loses its credentials at once', async (t) => {
  await world.namespace('batch');
  const api = await world.api('jobs.batch.example');
  await world.apply(policy({ namespace: 'batch', name: 'to-jobs', sa: 'worker', host: 'jobs.batch.example', provider: '{ broker: { audience: jobs } }', inject: '{ header: Authorization }' }));
  const pod = await workload('batch', 'worker', 'worker');
  t.equal((await curl(pod, 'https://jobs.batch.example/')).code, 200);
  const before = api.received.length;
  await must(world.cp, ['-n', 'batch', 'delete', 'pod', pod.name, '--wait=false']);
  await until('the sidecar to drop its policies', () => configApplied(pod).at(-1)?.length === 0, 10_000, 100);
  const r = await curl(pod, 'https://jobs.batch.example/');
  t.not(r.code, 200, 'no credentialed request after deletion');
  t.equal(api.received.filter((x) => header(x, 'authorization').length > 0).length, before, 'no credential reached the API after deletion');
});
