// Builders for WorkloadPolicy and Pod objects as the API server returns them.
import type { V1Pod } from '@kubernetes/client-node';
import type { CompiledPolicy } from '@mayfly/crds';
import { compileRaw } from '../../src/policies/compiled-cache.ts';

export interface PolicyOptions {
  namespace?: string;
  name?: string;
  generation?: number;
  serviceAccounts?: string[];
  matchLabels?: Record<string, string>;
  hosts?: string[];
  ports?: number[];
  provider?: Record<string, unknown>;
  expiresAt?: string;
  mode?: 'Enforce' | 'Audit';
}

export function policyObject(o: PolicyOptions = {}): Record<string, unknown> {
  const subjects: Record<string, unknown> = {};
  if (o.serviceAccounts) subjects.serviceAccounts = o.serviceAccounts;
  if (o.matchLabels || !o.serviceAccounts) subjects.podSelector = { matchLabels: o.matchLabels ?? { app: 'payments' } };
  return {
    apiVersion: 'mayfly.dev/v1alpha1',
    kind: 'WorkloadPolicy',
    metadata: { name: o.name ?? 'to-stripe', namespace: o.namespace ?? 'payments', generation: o.generation ?? 1, uid: `uid-${o.name ?? 'to-stripe'}` },
    spec: {
      ...(o.mode ? { mode: o.mode } : {}),
      subjects,
      destinations: (o.hosts ?? ['api.stripe.com']).map((host) => ({ host, ...(o.ports ? { ports: o.ports } : {}) })),
      credential: {
        provider: o.provider ?? { broker: { audience: 'stripe-proxy' } },
        inject: o.provider && 'aws' in o.provider ? { awsSigV4: {} } : { header: 'Authorization' },
      },
      ...(o.expiresAt ? { expiresAt: o.expiresAt } : {}),
    },
  };
}

export function compiled(o: PolicyOptions = {}): CompiledPolicy {
  const out = compileRaw(policyObject(o));
  if (!out.ok) throw new Error(`test policy invalid: ${JSON.stringify(out.errors)}`);
  return out.compiled;
}

export interface PodOptions {
  namespace?: string;
  name?: string;
  labels?: Record<string, string>;
  serviceAccount?: string;
  injected?: boolean;
  audiences?: string[];
  owner?: { kind: string; name: string };
  annotations?: Record<string, string>;
  phase?: string;
  hostNetwork?: boolean;
}

export function podObject(o: PodOptions = {}): V1Pod {
  const annotations: Record<string, string> = { ...(o.annotations ?? {}) };
  if (o.injected) annotations['mayfly.dev/status'] = '{"version":1}';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name ?? 'api-1',
      namespace: o.namespace ?? 'payments',
      uid: `uid-${o.name ?? 'api-1'}`,
      labels: o.labels ?? { app: 'payments' },
      annotations,
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: o.owner.kind, name: o.owner.name, uid: 'x', controller: true }] } : {}),
    },
    spec: {
      serviceAccountName: o.serviceAccount ?? 'default',
      containers: [{ name: 'app', image: 'ghcr.io/acme/app:1' }],
      ...(o.hostNetwork ? { hostNetwork: true } : {}),
      volumes: (o.audiences ?? (o.injected ? ['mayfly'] : [])).map((audience, i) => ({
        name: `mayfly-token-${i}`,
        projected: { sources: [{ serviceAccountToken: { audience, expirationSeconds: 3600, path: 'token' } }] },
      })),
    },
    status: { phase: o.phase ?? 'Running' },
  };
}
