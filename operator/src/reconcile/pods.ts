// The facts about a Pod and its Namespace that policy status depends on,
// extracted once from the API objects. Pure.
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { INJECT_ANNOTATION, INJECTION_ENABLED, INJECTION_LABEL, STATUS_ANNOTATION, type PodSubject } from '@mayfly/crds';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet' | 'Job' | 'CronJob' | 'ReplicationController' | 'Other';

/** What runs the pod: its controller, with a ReplicaSet resolved to its Deployment when known. */
export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
}

export interface PodView extends PodSubject {
  name: string;
  uid: string;
  /** Has the webhook's status annotation: the sidecar was injected. */
  injected: boolean;
  optedOut: boolean;
  hostNetwork: boolean;
  /** Audiences of the projected service-account tokens in the pod's volumes. */
  audiences: string[];
  /** The pod's controller from ownerReferences (a ReplicaSet is not resolved here). */
  owner: WorkloadRef | null;
  /** Running or about to: not finished and not being deleted. */
  active: boolean;
}

const KNOWN: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'ReplicationController'];

export function podView(pod: V1Pod): PodView {
  const meta = pod.metadata ?? {};
  const annotations = meta.annotations ?? {};
  const controller = (meta.ownerReferences ?? []).find((o) => o.controller) ?? null;
  const audiences = new Set<string>();
  for (const v of pod.spec?.volumes ?? []) {
    for (const s of v.projected?.sources ?? []) {
      const aud = s.serviceAccountToken?.audience;
      if (aud) audiences.add(aud);
    }
  }
  const phase = pod.status?.phase;
  return {
    namespace: meta.namespace ?? 'default',
    name: meta.name ?? '',
    uid: meta.uid ?? '',
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    labels: meta.labels ?? {},
    injected: Object.hasOwn(annotations, STATUS_ANNOTATION),
    optedOut: annotations[INJECT_ANNOTATION] === 'false',
    hostNetwork: pod.spec?.hostNetwork === true,
    audiences: [...audiences].sort(),
    owner: controller ? { kind: (KNOWN.includes(controller.kind) ? controller.kind : 'Other') as WorkloadKind, name: controller.name } : null,
    active: !meta.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed',
  };
}

export interface NamespaceView {
  name: string;
  injectionEnabled: boolean;
}

export function namespaceView(ns: V1Namespace | undefined, name: string): NamespaceView {
  return { name, injectionEnabled: ns?.metadata?.labels?.[INJECTION_LABEL] === INJECTION_ENABLED };
}

/**
 * The workload behind a ReplicaSet (its Deployment) or a Job (its CronJob).
 * `ownerOfOwner` is the owner's own controller, when the adapter could read it.
 */
export function resolveWorkload(owner: WorkloadRef | null, ownerOfOwner?: WorkloadRef | null): WorkloadRef | null {
  if (!owner) return null;
  if (owner.kind === 'ReplicaSet' && ownerOfOwner?.kind === 'Deployment') return ownerOfOwner;
  if (owner.kind === 'Job' && ownerOfOwner?.kind === 'CronJob') return ownerOfOwner;
  return owner;
}
