// The projected service-account tokens: one per audience the selected
// policies need, plus `mayfly` for the controller. Mounted into the sidecar
// only; because it is the only container mounting them, the kubelet makes the
// files owned by the sidecar's UID.
import type { V1Volume } from '@kubernetes/client-node';
import { TOKEN_VOLUME, tokenFileName } from '../paths.ts';
import type { Plan, Pod } from '../types.ts';
import { addVolume } from './containers.ts';

export function tokenVolume(plan: Plan): V1Volume {
  return {
    name: TOKEN_VOLUME,
    projected: {
      defaultMode: 0o400,
      sources: plan.audiences.map((audience) => ({
        serviceAccountToken: { audience, expirationSeconds: plan.settings.tokenExpirationSeconds, path: tokenFileName(audience) },
      })),
    },
  };
}

export function addTokenVolume(pod: Pod, plan: Plan): void {
  addVolume(pod, tokenVolume(plan));
}
