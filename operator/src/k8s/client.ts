// The controller's Kubernetes access: thin adapters over @kubernetes/client-node
// for exactly the calls it makes. Decisions live elsewhere; this file only
// moves bytes. Every write the controller makes is listed here, so the chart's
// RBAC can be checked against it.
import {
  ApiException,
  AppsV1Api,
  AuthenticationV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type V1Lease,
  type V1Pod,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type WorkloadPolicyStatus } from '@mayfly/crds';
import type { LeaseClient, LeaseObject, LeaseSpec } from '../machinery/leader-election.ts';
import type { WorkloadRef } from '../reconcile/pods.ts';
import type { TokenReviewStatus } from '../stream/auth.ts';

/**
 * Loads a kubeconfig file, or the in-cluster service-account config when no
 * file is given. client-node builds a new HTTPS agent for every request; the
 * controller makes thousands of small writes, so one agent is shared instead
 * (connection reuse turns a TLS handshake per call into one per connection).
 */
export function loadKubeConfig(file: string | null): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster();
  const target = kc as unknown as { createDispatcher: (cluster: unknown, opts: unknown) => unknown };
  const original = target.createDispatcher.bind(kc);
  let shared: unknown;
  target.createDispatcher = (cluster, opts) => (shared ??= original(cluster, opts));
  return kc;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

/** A one-line description of an API error for logs ("404 pods \"x\" not found"), never the whole response. */
export function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    let message = '';
    try {
      const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      message = String((body as { message?: unknown } | null)?.message ?? '');
    } catch {
      message = '';
    }
    return `${err.code}${message ? ` ${message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export function isConflict(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

export interface EventTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface Kube {
  config: KubeConfig;
  patchPolicyStatus(namespace: string, name: string, status: WorkloadPolicyStatus): Promise<void>;
  createEvent(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string, reportingInstance: string): Promise<void>;
  review(token: string, audiences: string[]): Promise<TokenReviewStatus>;
  readPod(namespace: string, name: string): Promise<V1Pod | null>;
  /** The keys of a Secret's data (never the values), or null when it does not exist. */
  secretKeys(namespace: string, name: string): Promise<string[] | null>;
  /** The controller of a ReplicaSet or Job (its Deployment or CronJob), or null. */
  ownerOf(namespace: string, kind: 'ReplicaSet' | 'Job', name: string): Promise<WorkloadRef | null>;
  lease(namespace: string, name: string): LeaseClient;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function leaseObject(l: V1Lease): LeaseObject {
  const s = l.spec ?? {};
  const time = (d: unknown): string | null => (d instanceof Date ? d.toISOString() : typeof d === 'string' ? d : null);
  return {
    resourceVersion: l.metadata?.resourceVersion ?? '',
    spec: {
      holderIdentity: s.holderIdentity ?? null,
      leaseDurationSeconds: s.leaseDurationSeconds ?? 15,
      acquireTime: time(s.acquireTime),
      renewTime: time(s.renewTime),
      leaseTransitions: s.leaseTransitions ?? 0,
    },
  };
}

function leaseBody(namespace: string, name: string, spec: LeaseSpec, resourceVersion?: string): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: {
      leaseDurationSeconds: spec.leaseDurationSeconds,
      leaseTransitions: spec.leaseTransitions,
      // MicroTime strings; the serializer passes strings through unchanged.
      ...(spec.holderIdentity ? { holderIdentity: spec.holderIdentity } : {}),
      ...(spec.acquireTime ? { acquireTime: spec.acquireTime as unknown as Date } : {}),
      ...(spec.renewTime ? { renewTime: spec.renewTime as unknown as Date } : {}),
    },
  };
}

export function createKube(config: KubeConfig): Kube {
  const core = config.makeApiClient(CoreV1Api);
  const custom = config.makeApiClient(CustomObjectsApi);
  const auth = config.makeApiClient(AuthenticationV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const batch = config.makeApiClient(BatchV1Api);
  const coordination = config.makeApiClient(CoordinationV1Api);

  return {
    config,
    async patchPolicyStatus(namespace, name, status) {
      // Merge patch of the whole status: arrays (conditions, drift) are replaced as a unit.
      await custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { status }, fieldManager: 'mayfly-controller' }, MERGE_PATCH);
    },
    async createEvent(target, type, reason, message, reportingInstance) {
      const now = new Date();
      const event: CoreV1Event = {
        metadata: { generateName: `${target.name}.`, namespace: target.namespace },
        involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, namespace: target.namespace, ...(target.uid ? { uid: target.uid } : {}) },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: 'mayfly-controller' },
        reportingComponent: 'mayfly.dev/controller',
        reportingInstance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      await core.createNamespacedEvent({ namespace: target.namespace, body: event });
    },
    async review(token, audiences) {
      const res = await auth.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } } });
      return (res.status ?? {}) as TokenReviewStatus;
    },
    async readPod(namespace, name) {
      try {
        return await core.readNamespacedPod({ namespace, name });
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },
    async secretKeys(namespace, name) {
      try {
        const s = await core.readNamespacedSecret({ namespace, name });
        return Object.keys({ ...(s.data ?? {}), ...(s.stringData ?? {}) }).sort();
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },
    async ownerOf(namespace, kind, name) {
      try {
        const obj = kind === 'ReplicaSet' ? await apps.readNamespacedReplicaSet({ namespace, name }) : await batch.readNamespacedJob({ namespace, name });
        const ref = (obj.metadata?.ownerReferences ?? []).find((o) => o.controller);
        if (!ref) return null;
        return { kind: ref.kind === 'Deployment' || ref.kind === 'CronJob' ? ref.kind : 'Other', name: ref.name };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },
    lease(namespace, name) {
      return {
        async get() {
          try {
            return leaseObject(await coordination.readNamespacedLease({ namespace, name }));
          } catch (err) {
            if (isNotFound(err)) return null;
            throw err;
          }
        },
        async create(spec) {
          return leaseObject(await coordination.createNamespacedLease({ namespace, body: leaseBody(namespace, name, spec) }));
        },
        async replace(spec, resourceVersion) {
          return leaseObject(await coordination.replaceNamespacedLease({ namespace, name, body: leaseBody(namespace, name, spec, resourceVersion) }));
        },
      };
    },
  };
}
