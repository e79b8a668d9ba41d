// The sidecar's credential source (cache + broker client) against the broker
// over TLS on loopback: what the broker issues is verified against its JWKS
// before it is cached, and a broker answer that does not verify, or is for
// another pod, is never used or cached.
import t, { type Test } from 'tap';
import { createServer as createHttpsServer } from 'node:https';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { createCA } from '@mayfly/e2e/pki';
import { createCredentialSource } from '@mayfly/sidecar/credentials/factory';
import { createFileTokenSource } from '@mayfly/sidecar/credentials/token-source';
import { tokenPath } from '@mayfly/sidecar/credentials/token-paths';
import { CounterMetrics } from '@mayfly/sidecar/credentials/metrics';
import { JWT_TOKEN_TYPE } from '@mayfly/sidecar/credentials/broker-protocol';
import { brokerRoutes } from '../../src/broker/routes.ts';
import { KeyManager } from '../../src/broker/key-manager.ts';
import { MemoryKeyStore } from '../../src/broker/keys.ts';
import { issueToken } from '../../src/broker/issue.ts';
import { ApiServerStandIn, brokerPolicy, pod } from './helpers.ts';

const ca = createCA('broker-client-test');
const serving = ca.issueServer(['127.0.0.1']);
const identity = { namespace: 'payments', name: 'api-1', uid: 'uid-1', serviceAccount: 'payments-api' };

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

function https() {
  return Fastify({ serverFactory: (handler) => createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, handler) });
}

async function sidecarTokens(t: Test, token: string) {
  const dir = mkdtempSync(join(tmpdir(), 'mayfly-broker-client-'));
  const p = tokenPath(dir, 'mayfly');
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, token);
  const source = createFileTokenSource({ dir });
  t.teardown(() => {
    source.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return source;
}

t.test('broker and secretRef credentials through the cache', async (t) => {
  const api = new ApiServerStandIn();
  api.addPod(pod());
  api.addPod(pod({ name: 'reporting-1', uid: 'uid-r', sa: 'reporting' }));
  api.secrets.set('payments/stripe-key', { apiKey: 'sk_live_client' });
  const keys = new KeyManager({ store: new MemoryKeyStore() });
  await keys.maintain();
  const jwtPolicy = brokerPolicy();
  const secretPolicy = brokerPolicy({ name: 'stripe-key', provider: '{ secretRef: { name: stripe-key, key: apiKey } }' });
  let issuer = '';
  const app = https();
  await app.register(brokerRoutes({ get issuer() { return issuer; }, trustDomain: 'cluster.local', kube: api, keys, policiesFor: () => [jwtPolicy, secretPolicy], audit: () => {} }));
  issuer = await listen(app);
  t.teardown(() => app.close());

  const metrics = new CounterMetrics();
  const source = createCredentialSource({ tokenSource: await sidecarTokens(t, await api.token()), identity, brokerURL: issuer, brokerCA: ca.certPem, metrics });
  t.teardown(() => source.close());
  source.sync([jwtPolicy, secretPolicy]);
  const jwt = await source.get(jwtPolicy);
  t.match(jwt.value, /^ey/);
  t.match(jwt.id, /^[0-9a-f-]{36}$/, 'the jti is the audit id');
  t.equal((await source.get(secretPolicy)).value, 'sk_live_client');
  const reviews = api.reviews;
  for (let i = 0; i < 50; i += 1) await source.get(jwtPolicy);
  t.equal(api.reviews, reviews, 'served from the cache');
  t.ok(metrics.snapshot().hit >= 50);

  const other = createCredentialSource({ tokenSource: await sidecarTokens(t, await api.token({ sa: 'reporting', pod: 'reporting-1', uid: 'uid-r' })), identity: { ...identity, name: 'reporting-1', uid: 'uid-r', serviceAccount: 'reporting' }, brokerURL: issuer, brokerCA: ca.certPem });
  t.teardown(() => other.close());
  await t.rejects(other.get(secretPolicy), { code: 'ERR_CREDENTIAL_DENIED', message: 'broker: access_denied' });
});

t.test('a broker answer that does not verify is never used or cached', async (t) => {
  const keys = new KeyManager({ store: new MemoryKeyStore() });
  await keys.maintain();
  const foreign = new KeyManager({ store: new MemoryKeyStore() });
  await foreign.maintain();
  const policy = brokerPolicy();
  let issuer = '';
  let mode: 'other-pod' | 'foreign-key' | 'wrong-audience' = 'other-pod';
  let requests = 0;
  const app = https();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.get('/.well-known/jwks.json', async () => keys.jwks());
  app.post('/v1/token', async () => {
    requests += 1;
    const now = Date.now();
    const key = mode === 'foreign-key' ? await foreign.signingKey() : await keys.signingKey();
    const issued = await issueToken(key, { issuer, trustDomain: 'cluster.local', namespace: 'payments', serviceAccount: 'payments-api', podName: 'api-1', podUID: mode === 'other-pod' ? 'uid-2' : 'uid-1', policyID: policy.id, audience: mode === 'wrong-audience' ? 'github' : 'stripe-proxy', now, expiresAt: now + 600_000 });
    return { access_token: issued.token, issued_token_type: JWT_TOKEN_TYPE, token_type: 'Bearer', expires_in: 600 };
  });
  issuer = await listen(app);
  t.teardown(() => app.close());

  const api = new ApiServerStandIn();
  const tokens = await sidecarTokens(t, await api.token());
  for (const m of ['other-pod', 'foreign-key', 'wrong-audience'] as const) {
    mode = m;
    const source = createCredentialSource({ tokenSource: tokens, identity, brokerURL: issuer, brokerCA: ca.certPem });
    t.teardown(() => source.close());
    const before = requests;
    await t.rejects(source.get(policy), { code: 'ERR_CREDENTIAL_UNAVAILABLE', message: /^broker: issued token rejected/ }, m);
    await t.rejects(source.get(policy), { code: 'ERR_CREDENTIAL_UNAVAILABLE' }, `${m}: still nothing to serve`);
    t.equal(requests, before + 1, `${m}: the second request failed fast in backoff, it did not get a cached token`);
  }
});
