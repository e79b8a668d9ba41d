// The broker against a real control plane (etcd, kube-apiserver,
// kube-controller-manager from e2e/src/control-plane.ts): real TokenRequest
// tokens bound to real (never scheduled) pods, real TokenReview, real pod and
// Secret reads, the signing keys in a real Secret. The broker listens on
// loopback over TLS and the issued JWTs are verified with the sidecar's
// verifier against the JWKS it publishes.
import t from 'tap';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import pino from 'pino';
import type { CompiledPolicy } from '@mayfly/crds';
import { startControlPlane, type ControlPlane } from '@mayfly/e2e/control-plane';
import { JWT_TOKEN_TYPE, SECRET_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, policyResource } from '@mayfly/sidecar/credentials/broker-protocol';
import { remoteJWKS, verifyMayflyToken } from '@mayfly/sidecar/credentials/verify';
import { httpRequest } from '@mayfly/sidecar/credentials/http';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createPublicKey, type JsonWebKeyInput } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createCredentialSource } from '@mayfly/sidecar/credentials/factory';
import { createFileTokenSource } from '@mayfly/sidecar/credentials/token-source';
import { tokenPath } from '@mayfly/sidecar/credentials/token-paths';
import { hmacWithPublicKey, rawJwt } from '../../../sidecar/test/credentials/helpers/forge.ts';
import { brokerRoutes } from '../../src/broker/routes.ts';
import { KeyManager } from '../../src/broker/key-manager.ts';
import { kubeBroker, SecretKeyStore } from '../../src/broker/kube.ts';
import type { BrokerAuditRecord } from '../../src/broker/audit.ts';
import { brokerPolicy } from './helpers.ts';

const DIGEST = 'ghcr.io/acme/api@sha256:' + 'c'.repeat(64);
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

let cp: ControlPlane;
t.before(async () => {
  cp = await startControlPlane({ log: (l) => t.comment(l) });
});
t.teardown(async () => {
  await cp?.stop();
});

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

async function createPod(name: string, sa: string, image: string, labels: Record<string, string> = { app: 'payments' }): Promise<string> {
  await kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'payments', labels },
    spec: { serviceAccountName: sa, containers: [{ name: 'app', image }, { name: 'mayfly-sidecar', image: 'ghcr.io/mayfly/mayfly:1' }] },
  }));
  return kubectl(['get', 'pod', name, '-n', 'payments', '-o', 'jsonpath={.metadata.uid}']);
}

async function token(sa: string, pod: string, uid: string, audience = 'mayfly'): Promise<string> {
  return kubectl(['create', 'token', sa, '-n', 'payments', '--bound-object-kind', 'Pod', '--bound-object-name', pod, '--bound-object-uid', uid, '--audience', audience, '--duration', '10m']);
}

t.test('the broker on a real API server', async (t) => {
  await kubectl(['create', 'namespace', 'payments']);
  await kubectl(['create', 'namespace', 'mayfly-system']);
  await kubectl(['create', 'serviceaccount', 'payments-api', '-n', 'payments']);
  await kubectl(['create', 'serviceaccount', 'reporting', '-n', 'payments']);
  await kubectl(['create', 'secret', 'generic', 'stripe-key', '-n', 'payments', '--from-literal=apiKey=sk_test_e2e']);
  const uid = await createPod('api-1', 'payments-api', DIGEST);
  const badUID = await createPod('bad-1', 'payments-api', 'docker.io/evil/api:latest');
  const reportingUID = await createPod('reporting-1', 'reporting', DIGEST, { app: 'reporting' });

  const today = DAYS[new Date().getUTCDay()] as string;
  const policies: CompiledPolicy[] = [
    brokerPolicy({ extra: '  posture: { images: { allowedRegistries: [ghcr.io/acme/] } }' }),
    brokerPolicy({ name: 'closed', provider: '{ broker: { audience: closed-aud, ttl: 10m } }', extra: `  conditions: { timeWindows: [{ days: [${DAYS.filter((d) => d !== today).join(', ')}], start: "00:00", end: "24:00", timeZone: UTC }] }` }),
    brokerPolicy({ name: 'stripe-key', provider: '{ secretRef: { name: stripe-key, key: apiKey } }' }),
  ];

  const serving = cp.ca.issueServer(['127.0.0.1']);
  const audit: BrokerAuditRecord[] = [];
  const store = new SecretKeyStore(cp.kubeConfig, 'mayfly-system');
  const keys = new KeyManager({ store, logger: pino({ level: 'silent' }) });
  const replica = new KeyManager({ store, logger: pino({ level: 'silent' }) });
  await Promise.all([keys.start(), replica.start()]);
  t.teardown(() => {
    keys.stop();
    replica.stop();
  });
  let issuer = '';
  const app = Fastify({ serverFactory: (handler) => createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, handler) });
  await app.register(
    brokerRoutes({
      get issuer() {
        return issuer;
      },
      trustDomain: 'cluster.local',
      kube: kubeBroker(cp.kubeConfig),
      keys,
      policiesFor: (ns) => policies.filter((p) => p.namespace === ns),
      audit: (r) => audit.push(r),
    }),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  issuer = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const exchange = async (params: Record<string, string>) => {
    const res = await httpRequest(`${issuer}/v1/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() }, { ca: cp.ca.certPem });
    return { status: res.status, body: JSON.parse(res.body) as Record<string, unknown> };
  };
  const ask = (subject: string, policy = 'payments/to-stripe', audience: string | null = 'stripe-proxy', type = JWT_TOKEN_TYPE) =>
    exchange({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subject, subject_token_type: JWT_TOKEN_TYPE, resource: policyResource(policy), ...(audience ? { audience } : {}), requested_token_type: type });

  const jwks = () => remoteJWKS(`${issuer}/.well-known/jwks.json`, { ca: cp.ca.certPem });
  const good = await token('payments-api', 'api-1', uid);

  await t.test('a real bound token gets a JWT that verifies with the published JWKS and carries exactly the promised claims', async (t) => {
    const res = await ask(good);
    t.equal(res.status, 200, JSON.stringify(res.body));
    const jwt = res.body.access_token as string;
    const claims = await verifyMayflyToken(jwt, { issuer, audience: 'stripe-proxy', keys: jwks(), expect: { podUID: uid } });
    t.match(claims, { sub: 'spiffe://cluster.local/ns/payments/sa/payments-api', namespace: 'payments', serviceAccount: 'payments-api', pod: { name: 'api-1', uid }, policy: 'payments/to-stripe', aud: 'stripe-proxy' });
    t.same(Object.keys(decodeJwt(jwt)).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'mayfly.dev', 'nbf', 'sub']);
    // The policy ttl is 10m, capped by the 10m subject token minted just before.
    t.ok(claims.exp - claims.iat <= 600 && claims.exp - claims.iat >= 590, `lifetime ${claims.exp - claims.iat}s`);
    const discovery = JSON.parse((await httpRequest(`${issuer}/.well-known/openid-configuration`, { method: 'GET' }, { ca: cp.ca.certPem })).body);
    t.equal(discovery.jwks_uri, `${issuer}/.well-known/jwks.json`);
  });

  await t.test('class 21 on the real API server: forged subject tokens are refused', async (t) => {
    const jwks = JSON.parse(await kubectl(['get', '--raw', '/openid/v1/jwks'])) as { keys: (JsonWebKeyInput['key'] & { kid: string })[] };
    const key = jwks.keys[0];
    t.ok(key, 'the cluster publishes its service-account key');
    const pem = createPublicKey({ key: key as JsonWebKeyInput['key'], format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    const real = decodeJwt(good);
    const forged: [string, string][] = [
      ['alg none', rawJwt({ alg: 'none', kid: key?.kid }, real, 'eA')],
      ['HMAC keyed with the public key (PEM)', hmacWithPublicKey({ kid: key?.kid }, real, pem)],
      ['HMAC keyed with the public key (JWK)', hmacWithPublicKey({ kid: key?.kid }, real, JSON.stringify(key))],
      ['jku header', rawJwt({ alg: 'RS256', kid: key?.kid, jku: 'https://evil.example/jwks' }, real)],
      ['x5u header', rawJwt({ alg: 'RS256', kid: key?.kid, x5u: 'https://evil.example/cert' }, real)],
      ['real header, forged claims', `${good.split('.')[0]}.${Buffer.from(JSON.stringify({ ...real, sub: 'system:serviceaccount:payments:admin' })).toString('base64url')}.${good.split('.')[2]}`],
      ['unknown kid', `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'unknown' })).toString('base64url')}.${good.split('.')[1]}.${good.split('.')[2]}`],
    ];
    for (const [name, token] of forged) {
      const res = await ask(token);
      t.equal(res.body.error, 'invalid_grant', name);
      t.notOk(res.body.access_token, name);
    }
  });

  await t.test('the sidecar credential source with a real projected token gets and caches a verified JWT', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mayfly-e2e-tokens-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = tokenPath(dir, 'mayfly');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, good);
    const tokens = createFileTokenSource({ dir });
    t.teardown(() => tokens.close());
    const source = createCredentialSource({ tokenSource: tokens, identity: { namespace: 'payments', name: 'api-1', uid, serviceAccount: 'payments-api' }, brokerURL: issuer, brokerCA: cp.ca.certPem });
    t.teardown(() => source.close());
    const policy = policies[0] as CompiledPolicy;
    const c = await source.get(policy);
    t.equal((await source.get(policy)).id, c.id, 'cached');
    t.match(decodeJwt(c.value), { sub: 'spiffe://cluster.local/ns/payments/sa/payments-api', 'mayfly.dev': { pod: { uid } } });
  });

  await t.test('refusals: wrong audience, another service account, posture, time window', async (t) => {
    const wrongAud = await ask(await token('payments-api', 'api-1', uid, 'vault'));
    t.equal(wrongAud.body.error, 'invalid_grant', 'a token for another audience');
    const other = await ask(await token('reporting', 'reporting-1', reportingUID));
    t.equal(other.body.error, 'access_denied', 'another service account');
    const bad = await ask(await token('payments-api', 'bad-1', badUID));
    t.equal(bad.body.error, 'access_denied', 'an image that breaks the posture rule');
    const closed = await ask(good, 'payments/closed', 'closed-aud');
    t.equal(closed.body.error, 'access_denied', 'outside the time window');
    for (const r of [wrongAud, other, bad, closed]) t.notOk(r.body.access_token);
    t.match(audit.slice(-4).map((r) => r.reason), ['ERR_TOKEN_REJECTED', 'ERR_NOT_SELECTED', 'ERR_POSTURE_REGISTRY', 'ERR_OUTSIDE_TIME_WINDOW']);
  });

  await t.test('secretRef: the Secret the broker alone reads is released to the allowed pod only', async (t) => {
    const ok = await ask(good, 'payments/stripe-key', null, SECRET_TOKEN_TYPE);
    t.match(ok.body, { access_token: 'sk_test_e2e', issued_token_type: SECRET_TOKEN_TYPE, token_type: 'N_A' });
    const other = await ask(await token('reporting', 'reporting-1', reportingUID), 'payments/stripe-key', null, SECRET_TOKEN_TYPE);
    t.equal(other.body.error, 'access_denied');
  });

  await t.test('key rotation keeps tokens of the old key verifiable; replicas share the keys', async (t) => {
    const before = (await ask(good)).body.access_token as string;
    const oldKid = decodeProtectedHeader(before).kid;
    await keys.rotateNow();
    await replica.maintain();
    const after = (await ask(good)).body.access_token as string;
    t.not(decodeProtectedHeader(after).kid, oldKid, 'new tokens use the new key');
    t.same(replica.jwks(), keys.jwks(), 'the other replica publishes the same JWKS from the Secret');
    const fresh = jwks();
    t.match(await verifyMayflyToken(before, { issuer, audience: 'stripe-proxy', keys: fresh }), { pod: { uid } }, 'the old token still verifies');
    t.match(await verifyMayflyToken(after, { issuer, audience: 'stripe-proxy', keys: fresh }), { pod: { uid } });
    t.equal(keys.jwks().keys.length, 3, 'retired, active and pre-published successor');
  });

  await t.test('exchange latency (TokenReview + pod read + policy + ES256 signature)', async (t) => {
    const times: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const start = performance.now();
      const res = await ask(good);
      times.push(performance.now() - start);
      t.equal(res.status, 200);
    }
    times.sort((a, b) => a - b);
    t.comment(`broker exchange over TLS on loopback: p50 ${times[10]?.toFixed(1)} ms, max ${times[19]?.toFixed(1)} ms (20 sequential)`);
  });

  await t.test('a deleted pod\'s token, then the re-created pod\'s old token, are refused', async (t) => {
    await kubectl(['delete', 'pod', 'api-1', '-n', 'payments', '--grace-period=0', '--force', '--wait=true']);
    const gone = await ask(good);
    t.equal(gone.body.error, 'invalid_grant', 'token of a deleted pod');
    const newUID = await createPod('api-1', 'payments-api', DIGEST);
    t.not(newUID, uid);
    const stale = await ask(good);
    t.equal(stale.body.error, 'invalid_grant', 'old token for the re-created pod');
    const fresh = await ask(await token('payments-api', 'api-1', newUID));
    t.equal(fresh.status, 200, 'the new pod\'s own token works');
  });

  t.ok(audit.every((r) => !JSON.stringify(r).includes('sk_test_e2e')), 'no secret in any audit record');
});
