// Image posture (WorkloadPolicy spec.posture.images) checked against the live
// pod's images, in the broker's error codes. The rule itself is shared with the
// sidecar (@mayfly/crds/conditions). Pure.
import { postureViolation, type Posture } from '@mayfly/crds/conditions';

export { normalizeImage, type Posture } from '@mayfly/crds/conditions';

export type PostureResult = { ok: true } | { ok: false; image: string; reason: 'ERR_POSTURE_REGISTRY' | 'ERR_POSTURE_DIGEST' };

export function checkPosture(posture: Posture, images: readonly string[]): PostureResult {
  const v = postureViolation(posture, images);
  if (v === null) return { ok: true };
  return { ok: false, image: v.image, reason: v.rule === 'registry' ? 'ERR_POSTURE_REGISTRY' : 'ERR_POSTURE_DIGEST' };
}
