// Shared pieces of the broker tests: policies compiled from YAML the way the
// operator compiles them, and a stand-in for the API server's TokenReview and
// pod reads that behaves as kube-apiserver does for bound service-account
// tokens (RS256 signature by the cluster's key, audience, expiry, and the bound
// pod must still exist with its UID). The same cases run against the real API
// server in e2e-broker.test.ts.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { loadPolicies, type CompiledPolicy } from '@mayfly/crds';
import type { V1Pod } from '@kubernetes/client-node';
import { jwtVerify, SignJWT } from 'jose';
import Fastify from 'fastify';
import { JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, policyResource } from '@mayfly/sidecar/credentials/broker-protocol';
import type { BrokerKube } from '../../src/broker/kube.ts';
import { brokerRoutes } from '../../src/broker/routes.ts';
import { KeyManager } from '../../src/broker/key-manager.ts';
import { MemoryKeyStore } from '../../src/broker/keys.ts';
import type { BrokerAuditRecord } from '../../src/broker/audit.ts';
import type { TokenReviewStatus } from '../../src/stream/auth.ts';

export function compile(yaml: string): CompiledPolicy {
  const [loaded] = loadPolicies(yaml);
  if (!loaded?.compiled) throw new Error(`policy invalid: ${JSON.stringify(loaded?.errors)}`);
  return loaded.compiled;
}

export function brokerPolicy(opts: { name?: string; namespace?: string; extra?: string; provider?: string } = {}): CompiledPolicy {
  return compile(`
apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: ${opts.name ?? 'to-stripe'}, namespace: ${opts.namespace ?? 'payments'}, generation: 1 }
spec:
  subjects: { serviceAccounts: [payments-api] }
  destinations: [{ host: api.stripe.com }]
  credential:
    provider: ${opts.provider ?? '{ broker: { audience: stripe-proxy, ttl: 10m } }'}
    inject: { header: Authorization }
${opts.extra ?? ''}
`);
}

export function pod(opts: { name?: string; namespace?: string; uid?: string; sa?: string; images?: string[]; labels?: Record<string, string>; deleting?: boolean } = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: opts.name ?? 'api-1',
      namespace: opts.namespace ?? 'payments',
      uid: opts.uid ?? 'uid-1',
      labels: opts.labels ?? { app: 'payments' },
      ...(opts.deleting ? { deletionTimestamp: new Date() } : {}),
    },
    spec: {
      serviceAccountName: opts.sa ?? 'payments-api',
      containers: [
        ...(opts.images ?? ['ghcr.io/acme/api@sha256:' + 'a'.repeat(64)]).map((image, i) => ({ name: `app-${i}`, image })),
        { name: 'mayfly-sidecar', image: 'ghcr.io/mayfly/mayfly:1' },
      ],
    },
  };
}

export const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** kube-apiserver's behaviour for TokenReview and reads, over in-memory pods and secrets. */
export class ApiServerStandIn implements BrokerKube {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly pods = new Map<string, V1Pod>();
  readonly secrets = new Map<string, Record<string, string>>();
  reviews = 0;
  down = false;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.publicKey = publicKey;
  }

  addPod(p: V1Pod): V1Pod {
    this.pods.set(`${p.metadata?.namespace}/${p.metadata?.name}`, p);
    return p;
  }

  /** A bound token as TokenRequest would mint it. */
  async token(opts: { namespace?: string; sa?: string; pod?: string; uid?: string; aud?: string[]; expSeconds?: number; nbfOffset?: number; iss?: string } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const ns = opts.namespace ?? 'payments';
    return new SignJWT({
      'kubernetes.io': { namespace: ns, serviceaccount: { name: opts.sa ?? 'payments-api', uid: 'sa-uid' }, pod: { name: opts.pod ?? 'api-1', uid: opts.uid ?? 'uid-1' } },
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'cluster-key' })
      .setIssuer(opts.iss ?? SA_ISSUER)
      .setSubject(`system:serviceaccount:${ns}:${opts.sa ?? 'payments-api'}`)
      .setAudience(opts.aud ?? ['mayfly'])
      .setIssuedAt(now)
      .setNotBefore(now + (opts.nbfOffset ?? 0))
      .setExpirationTime(now + (opts.expSeconds ?? 3600))
      .sign(this.privateKey);
  }

  async review(token: string, audiences: string[]): Promise<TokenReviewStatus> {
    this.reviews += 1;
    if (this.down) throw new Error('connect ECONNREFUSED');
    try {
      const { payload } = await jwtVerify(token, this.publicKey, { issuer: SA_ISSUER, audience: audiences, algorithms: ['RS256'] });
      const k = payload['kubernetes.io'] as { namespace: string; serviceaccount: { name: string }; pod: { name: string; uid: string } };
      const p = this.pods.get(`${k.namespace}/${k.pod.name}`);
      if (!p || p.metadata?.uid !== k.pod.uid) return { authenticated: false, error: 'pod not found or uid mismatch' };
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud as string];
      return {
        authenticated: true,
        audiences: audiences.filter((a) => aud.includes(a)),
        user: {
          username: `system:serviceaccount:${k.namespace}:${k.serviceaccount.name}`,
          uid: 'sa-uid',
          groups: ['system:serviceaccounts', `system:serviceaccounts:${k.namespace}`, 'system:authenticated'],
          extra: { 'authentication.kubernetes.io/pod-name': [k.pod.name], 'authentication.kubernetes.io/pod-uid': [k.pod.uid] },
        },
      };
    } catch (err) {
      return { authenticated: false, error: (err as Error).message };
    }
  }

  async pod(namespace: string, name: string): Promise<V1Pod | null> {
    if (this.down) throw new Error('connect ECONNREFUSED');
    return this.pods.get(`${namespace}/${name}`) ?? null;
  }

  async secretValue(namespace: string, name: string, key: string): Promise<string | null> {
    return this.secrets.get(`${namespace}/${name}`)?.[key] ?? null;
  }
}

/** A broker on fastify inject over the stand-in, with its audit records. */
export const ISSUER = 'https://mayfly-controller.mayfly-system.svc:8443';

export async function setup(policies: CompiledPolicy[] = [brokerPolicy()]) {
  const api = new ApiServerStandIn();
  api.addPod(pod());
  const keys = new KeyManager({ store: new MemoryKeyStore() });
  await keys.maintain();
  const audit: BrokerAuditRecord[] = [];
  const app = Fastify();
  await app.register(brokerRoutes({ issuer: ISSUER, trustDomain: 'cluster.local', kube: api, keys, policiesFor: (ns) => policies.filter((p) => p.namespace === ns), audit: (r) => audit.push(r) }));
  await app.ready();
  const exchange = (params: Record<string, string>) =>
    app.inject({ method: 'POST', url: '/v1/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(params).toString() });
  const base = async (overrides: Record<string, string> = {}) => ({
    grant_type: TOKEN_EXCHANGE_GRANT,
    subject_token: await api.token(),
    subject_token_type: JWT_TOKEN_TYPE,
    resource: policyResource('payments/to-stripe'),
    audience: 'stripe-proxy',
    ...overrides,
  });
  return { api, keys, audit, app, exchange, base };
}

