// Every pod annotation the webhook reads, in one place. The shared ones
// (mayfly.dev/inject, mayfly.dev/status) live in @mayfly/crds; these are the
// webhook's own. A pod may only narrow what Mayfly does, never widen it: no
// annotation changes the sidecar's image, user or privileges.
import { ANNOTATION_PREFIX, INJECT_ANNOTATION, STATUS_ANNOTATION } from '@mayfly/crds';

/**
 * "explicit": no capture rules, proxy variables instead (for namespaces under
 * the restricted Pod Security level). "transparent" is accepted only where the
 * install already uses it: a pod cannot ask for the NET_ADMIN init container.
 */
export const MODE_ANNOTATION = `${ANNOTATION_PREFIX}mode`;
/** Comma-separated outbound ports never captured (transparent) for this pod. */
export const EXCLUDE_PORTS_ANNOTATION = `${ANNOTATION_PREFIX}exclude-outbound-ports`;
/** Comma-separated CIDRs never captured or proxied for this pod. */
export const EXCLUDE_CIDRS_ANNOTATION = `${ANNOTATION_PREFIX}exclude-outbound-cidrs`;

/** Every annotation under mayfly.dev/ a pod may carry; any other is refused. */
export const KNOWN_ANNOTATIONS: readonly string[] = [
  INJECT_ANNOTATION,
  STATUS_ANNOTATION,
  MODE_ANNOTATION,
  EXCLUDE_PORTS_ANNOTATION,
  EXCLUDE_CIDRS_ANNOTATION,
];

export { ANNOTATION_PREFIX, INJECT_ANNOTATION, STATUS_ANNOTATION };
