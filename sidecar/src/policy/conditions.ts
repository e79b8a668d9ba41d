// The per-request conditions of a policy besides the destination: posture of
// the pod's images and expiry, in the decision's terms (time windows and the
// posture rule are shared with the broker, in @mayfly/crds/conditions). Pure
// (time comes in as an argument).
import type { CompiledPolicy } from '@mayfly/crds';
import { postureViolation } from '@mayfly/crds/conditions';

export type PostureFailure = 'posture-registry' | 'posture-digest' | null;

/** The first posture rule the pod's images break, or null. */
export function checkPosture(policy: CompiledPolicy, images: readonly string[]): PostureFailure {
  const v = postureViolation(policy.posture, images);
  return v === null ? null : v.rule === 'registry' ? 'posture-registry' : 'posture-digest';
}

export function isExpired(policy: CompiledPolicy, now: number): boolean {
  if (policy.expiresAt === null) return false;
  const t = Date.parse(policy.expiresAt);
  return Number.isNaN(t) || now >= t;
}
