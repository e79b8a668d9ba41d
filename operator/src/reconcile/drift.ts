// Which selected pods cannot enforce a policy, and why. Pure: the caller
// resolves each drifted pod's workload (an API read) only for the pods listed.
import { selects, type CompiledPolicy, type DriftedPod } from '@mayfly/crds';
import { fixForMissingAudience, fixForNoSidecar } from './fix.ts';
import type { NamespaceView, PodView, WorkloadRef } from './pods.ts';

export const MAX_DRIFT_LISTED = 20;

export type DriftReason = 'NoSidecar' | 'MissingAudience';

export interface PodDrift {
  pod: PodView;
  reason: DriftReason;
  message: string;
}

export interface PodStats {
  matched: PodView[];
  injected: number;
  drifted: PodDrift[];
}

/** Selected pods, how many run the sidecar, and which cannot enforce the policy. */
export function podStats(policy: CompiledPolicy, pods: readonly PodView[], ns: NamespaceView): PodStats {
  const matched = pods.filter((p) => p.active && selects(policy, p)).sort((a, b) => a.name.localeCompare(b.name));
  const drifted: PodDrift[] = [];
  let injected = 0;
  for (const pod of matched) {
    if (!pod.injected) {
      drifted.push({ pod, reason: 'NoSidecar', message: noSidecarMessage(pod, ns) });
      continue;
    }
    injected++;
    const missing = policy.tokenAudiences.filter((a) => !pod.audiences.includes(a));
    if (missing.length > 0) {
      drifted.push({
        pod,
        reason: 'MissingAudience',
        message: `the sidecar has no token for audience ${missing.map((a) => JSON.stringify(a)).join(', ')}; it was injected before this policy selected the pod`,
      });
    }
  }
  return { matched, injected, drifted };
}

function noSidecarMessage(pod: PodView, ns: NamespaceView): string {
  if (pod.hostNetwork) return 'the pod uses hostNetwork and cannot be injected';
  if (pod.optedOut) return 'the pod opts out of injection with mayfly.dev/inject: "false"';
  if (!ns.injectionEnabled) return `namespace ${ns.name} is not labelled mayfly.dev/injection=enabled, so its pods are not injected`;
  return 'the pod has no Mayfly sidecar: it was created while the webhook was unavailable or before the policy existed';
}

/** The status list entries, with the command that fixes each pod. */
export function driftEntries(drifted: readonly PodDrift[], ns: NamespaceView, workloadOf: (pod: PodView) => WorkloadRef | null): DriftedPod[] {
  return drifted.slice(0, MAX_DRIFT_LISTED).map(({ pod, reason, message }) => {
    const workload = workloadOf(pod);
    const fix = reason === 'NoSidecar' ? fixForNoSidecar(pod, ns, workload) : fixForMissingAudience(pod, workload);
    return {
      pod: pod.name,
      reason,
      message: fix.note ? `${message}; ${fix.note}` : message,
      ...(fix.command ? { fix: fix.command } : {}),
    };
  });
}
