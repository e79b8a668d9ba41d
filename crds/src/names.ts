// The stable names of the Mayfly API. Tests, docs, the chart and every part
// rely on these; change them only together with every user of them.

export const GROUP = 'mayfly.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'WorkloadPolicy';
export const PLURAL = 'workloadpolicies';
export const SHORT_NAME = 'wp';

/** Namespace label that opts a namespace into injection. */
export const INJECTION_LABEL = 'mayfly.dev/injection';
export const INJECTION_ENABLED = 'enabled';
/** Pod annotation: "false" opts a pod out of injection. */
export const INJECT_ANNOTATION = 'mayfly.dev/inject';
/** Pod annotation written by the webhook: what was injected (JSON). */
export const STATUS_ANNOTATION = 'mayfly.dev/status';
/** Every annotation Mayfly reads starts with this prefix. */
export const ANNOTATION_PREFIX = 'mayfly.dev/';

/** Audience of the projected token the sidecar uses to talk to the controller. */
export const CONTROL_PLANE_AUDIENCE = 'mayfly';

/** Condition types and reasons written to WorkloadPolicy status. */
export const CONDITION_READY = 'Ready';
export const CONDITION_DEGRADED = 'Degraded';
