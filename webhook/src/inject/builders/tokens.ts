// The projected service-account tokens: one per audience the selected
// policies need, plus `mayfly` for the controller. Mounted into the sidecar
// only, so no other container can reach the files whatever their mode. The mode
// must let the sidecar's UID read them: the kubelet gives projected token files
// to a container's UID only when every container of the pod runs as the same
// UID (never the case here: the init step runs as root, the app as its own), so
// otherwise they are root's, and 0400 would lock the sidecar out.
import type { V1Volume } from '@kubernetes/client-node';
import { TOKEN_VOLUME, tokenFileName } from '../paths.ts';
import type { Plan, Pod } from '../types.ts';
import { addVolume } from './containers.ts';

export function tokenVolume(plan: Plan): V1Volume {
  return {
    name: TOKEN_VOLUME,
    projected: {
      defaultMode: 0o444,
      sources: plan.audiences.map((audience) => ({
        serviceAccountToken: { audience, expirationSeconds: plan.settings.tokenExpirationSeconds, path: tokenFileName(audience) },
      })),
    },
  };
}

export function addTokenVolume(pod: Pod, plan: Plan): void {
  addVolume(pod, tokenVolume(plan));
}
