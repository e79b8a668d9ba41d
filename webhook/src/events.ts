// The default Event recorder: core/v1 Events through client-node, written for
// the pod (or its owner when the pod has no name yet). Repeats of the same
// Event within a minute are dropped, so a ReplicaSet retrying a refused pod
// does not flood the namespace.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { AdmissionEvent } from './admit.ts';

export interface EventRecorderOptions {
  /** Who reports: usually the controller pod's name. */
  instance: string;
  dedupeMs?: number;
  now?: () => number;
}

export function createEventRecorder(kubeConfig: KubeConfig, options: EventRecorderOptions): (event: AdmissionEvent) => Promise<void> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const seen = new Map<string, number>();
  const now = options.now ?? Date.now;
  const dedupeMs = options.dedupeMs ?? 60_000;
  return async (event) => {
    const o = event.involvedObject;
    const key = `${o.namespace}/${o.kind}/${o.name}/${event.reason}`;
    const t = now();
    if ((seen.get(key) ?? -Infinity) > t - dedupeMs) return;
    seen.set(key, t);
    if (seen.size > 10_000) for (const [k, at] of seen) if (at <= t - dedupeMs) seen.delete(k);
    const stamp = new Date(t);
    await api.createNamespacedEvent({
      namespace: o.namespace,
      body: {
        metadata: { generateName: `${o.name.replace(/[^a-z0-9.-]/g, '').replace(/[.-]+$/, '') || 'pod'}.`, namespace: o.namespace },
        involvedObject: { apiVersion: o.apiVersion, kind: o.kind, name: o.name, namespace: o.namespace, ...(o.uid ? { uid: o.uid } : {}) },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: 'mayfly-webhook' },
        reportingComponent: 'mayfly.dev/webhook',
        reportingInstance: options.instance,
        firstTimestamp: stamp,
        lastTimestamp: stamp,
        count: 1,
      },
    });
  };
}
