// The broker's decision, separate from all I/O: given the TokenReview result,
// the live pod the token names, the policy asked for and the time, may this pod
// have a credential of this policy for this audience? Everything is re-checked
// on every exchange (continuous authorization): nothing is remembered.
import { selects, type CompiledPolicy } from '@mayfly/crds';
import { claimFromReview, type AuthError, type PodIdentityClaim, type TokenReviewStatus } from '../stream/auth.ts';
import { JWT_TOKEN_TYPE, SECRET_TOKEN_TYPE } from '@mayfly/sidecar/credentials/broker-protocol';
import { checkPosture } from './posture.ts';
import { inTimeWindows } from '@mayfly/crds/conditions';

/** The live pod as the broker reads it from the API server. */
export interface BrokerPod {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
  labels: Record<string, string>;
  /** Every image of the pod's containers (init, app, ephemeral) except Mayfly's own. */
  images: string[];
  /** deletionTimestamp set, or phase Succeeded/Failed. */
  gone: boolean;
}


export interface ExchangeTarget {
  /** The policy id, "namespace/name". */
  policyID: string;
  /** The destination audience (broker provider); optional for secretRef. */
  audience?: string;
  requestedTokenType: typeof JWT_TOKEN_TYPE | typeof SECRET_TOKEN_TYPE;
}

export type OAuthError = 'invalid_request' | 'invalid_grant' | 'invalid_target' | 'access_denied' | 'unsupported_grant_type' | 'invalid_client' | 'unauthorized_client' | 'server_error' | 'temporarily_unavailable';

export type RefusalReason =
  | 'ERR_TOKEN_REJECTED'
  | 'ERR_NOT_POD_BOUND'
  | 'ERR_POD_GONE'
  | 'ERR_POD_RECREATED'
  | 'ERR_POD_SERVICE_ACCOUNT'
  | 'ERR_POLICY_UNKNOWN'
  | 'ERR_AUDIENCE_MISMATCH'
  | 'ERR_TOKEN_TYPE_MISMATCH'
  | 'ERR_NOT_SELECTED'
  | 'ERR_POSTURE_REGISTRY'
  | 'ERR_POSTURE_DIGEST'
  | 'ERR_OUTSIDE_TIME_WINDOW'
  | 'ERR_POLICY_EXPIRED';

export type Decision =
  | { allow: true; claim: PodIdentityClaim; policy: CompiledPolicy; /** Audit mode: what enforcement would have refused. */ wouldDeny?: RefusalReason }
  | { allow: false; error: OAuthError; reason: RefusalReason; description: string; claim?: PodIdentityClaim };

function refuse(error: OAuthError, reason: RefusalReason, description: string, claim?: PodIdentityClaim): Decision {
  return { allow: false, error, reason, description, ...(claim ? { claim } : {}) };
}

/** Who the token is, per the API server; a refusal when it is not a pod-bound service-account token. */
export function claimOf(review: TokenReviewStatus, audience: string): PodIdentityClaim | Decision {
  try {
    return claimFromReview(review, audience);
  } catch (err) {
    const authErr = err as AuthError;
    if (authErr.code === 'ERR_UNAUTHENTICATED') return refuse('invalid_grant', 'ERR_TOKEN_REJECTED', 'subject token rejected');
    return refuse('invalid_grant', 'ERR_NOT_POD_BOUND', 'subject token is not bound to a pod');
  }
}

export function authorize(policy: CompiledPolicy | undefined, pod: BrokerPod | null, review: TokenReviewStatus, now: number, target: ExchangeTarget, audience = 'mayfly'): Decision {
  const claimed = claimOf(review, audience);
  if ('allow' in claimed) return claimed;
  const claim = claimed;
  if (!pod || pod.gone || pod.namespace !== claim.namespace || pod.name !== claim.podName) return refuse('invalid_grant', 'ERR_POD_GONE', 'pod no longer exists', claim);
  if (pod.uid !== claim.podUID) return refuse('invalid_grant', 'ERR_POD_RECREATED', 'token belongs to an earlier pod of that name', claim);
  if (pod.serviceAccount !== claim.serviceAccount) return refuse('invalid_grant', 'ERR_POD_SERVICE_ACCOUNT', 'pod runs as another service account', claim);

  // A policy of another namespace is indistinguishable from one that does not exist.
  if (!policy || policy.namespace !== claim.namespace || policy.id !== target.policyID) return refuse('invalid_target', 'ERR_POLICY_UNKNOWN', 'unknown policy', claim);
  const provider = policy.credential.provider;
  if (provider.kind === 'broker') {
    if (target.requestedTokenType !== JWT_TOKEN_TYPE) return refuse('invalid_target', 'ERR_TOKEN_TYPE_MISMATCH', 'policy issues jwts', claim);
    if (target.audience !== provider.audience) return refuse('invalid_target', 'ERR_AUDIENCE_MISMATCH', 'audience does not match the policy', claim);
  } else if (provider.kind === 'secretRef') {
    if (target.requestedTokenType !== SECRET_TOKEN_TYPE) return refuse('invalid_target', 'ERR_TOKEN_TYPE_MISMATCH', 'policy releases a secret', claim);
    if (target.audience !== undefined) return refuse('invalid_target', 'ERR_AUDIENCE_MISMATCH', 'a secret has no audience', claim);
  } else {
    return refuse('invalid_target', 'ERR_POLICY_UNKNOWN', 'policy does not use the built-in broker', claim);
  }

  if (!selects(policy, { namespace: pod.namespace, serviceAccount: pod.serviceAccount, labels: pod.labels })) {
    return refuse('access_denied', 'ERR_NOT_SELECTED', 'policy does not select this pod', claim);
  }
  if (policy.expiresAt !== null && !(now < Date.parse(policy.expiresAt))) return refuse('access_denied', 'ERR_POLICY_EXPIRED', 'policy has expired', claim);

  // Posture and time are what Audit mode relaxes: the decision is logged, not enforced.
  let violation: RefusalReason | undefined;
  const posture = checkPosture(policy.posture, pod.images);
  if (!posture.ok) violation = posture.reason;
  else if (!inTimeWindows(policy.timeWindows, now)) violation = 'ERR_OUTSIDE_TIME_WINDOW';
  if (violation) {
    if (policy.mode === 'Audit') return { allow: true, claim, policy, wouldDeny: violation };
    return refuse('access_denied', violation, violation === 'ERR_OUTSIDE_TIME_WINDOW' ? 'outside the policy time windows' : 'pod images violate the policy posture', claim);
  }
  return { allow: true, claim, policy };
}

/** The pod-facing fields of a Kubernetes Pod object; `own` names Mayfly's own containers. */
export function brokerPodFrom(
  pod: {
    metadata?: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string>; deletionTimestamp?: unknown };
    spec?: { serviceAccountName?: string; containers?: { name: string; image?: string }[]; initContainers?: { name: string; image?: string }[]; ephemeralContainers?: { name: string; image?: string }[] };
    status?: { phase?: string };
  },
  own: { names: readonly string[]; image?: string },
): BrokerPod {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])];
  const images = containers
    .filter((c) => !(own.names.includes(c.name) && (own.image === undefined || c.image === own.image)))
    .map((c) => c.image ?? '');
  const phase = pod.status?.phase;
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    serviceAccount: pod.spec?.serviceAccountName ?? 'default',
    labels: pod.metadata?.labels ?? {},
    images,
    gone: pod.metadata?.deletionTimestamp != null || phase === 'Succeeded' || phase === 'Failed',
  };
}
