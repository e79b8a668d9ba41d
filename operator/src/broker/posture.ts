// Image posture (WorkloadPolicy spec.posture.images) checked against the live
// pod's images. References are normalised the way the container runtime reads
// them ("nginx" is "docker.io/library/nginx") before the registry prefix match.
// Pure.

export interface Posture {
  allowedRegistries: string[];
  requireDigest: boolean;
}

export type PostureResult = { ok: true } | { ok: false; image: string; reason: 'ERR_POSTURE_REGISTRY' | 'ERR_POSTURE_DIGEST' };

/** The fully qualified form of an image reference. */
export function normalizeImage(ref: string): string {
  const slash = ref.indexOf('/');
  const first = slash === -1 ? '' : ref.slice(0, slash);
  const hasRegistry = first.includes('.') || first.includes(':') || first === 'localhost';
  if (hasRegistry) return ref;
  return slash === -1 ? `docker.io/library/${ref}` : `docker.io/${ref}`;
}

const DIGEST = /@sha256:[0-9a-f]{64}$/;

export function checkPosture(posture: Posture, images: readonly string[]): PostureResult {
  for (const image of images) {
    const full = normalizeImage(image);
    if (posture.allowedRegistries.length > 0 && !posture.allowedRegistries.some((prefix) => full.startsWith(prefix))) {
      return { ok: false, image, reason: 'ERR_POSTURE_REGISTRY' };
    }
    if (posture.requireDigest && !DIGEST.test(image)) return { ok: false, image, reason: 'ERR_POSTURE_DIGEST' };
  }
  return { ok: true };
}
