// The pod's identity for the sidecar: name, namespace, UID and service account
// as env from the downward API, and the labels as a file the kubelet keeps
// current (labels can change after admission; policies select on them).
import type { V1EnvVar, V1Volume } from '@kubernetes/client-node';
import { ENV, PODINFO_LABELS_FILE, PODINFO_VOLUME } from '../paths.ts';
import type { Pod } from '../types.ts';
import { addVolume } from './containers.ts';

function field(name: string, fieldPath: string): V1EnvVar {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

export function identityEnv(): V1EnvVar[] {
  return [
    field(ENV.podName, 'metadata.name'),
    field(ENV.podNamespace, 'metadata.namespace'),
    field(ENV.podUid, 'metadata.uid'),
    field(ENV.serviceAccount, 'spec.serviceAccountName'),
  ];
}

export function podinfoVolume(): V1Volume {
  return {
    name: PODINFO_VOLUME,
    downwardAPI: { defaultMode: 0o444, items: [{ path: PODINFO_LABELS_FILE, fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.labels' } }] },
  };
}

export function addPodinfoVolume(pod: Pod): void {
  addVolume(pod, podinfoVolume());
}
