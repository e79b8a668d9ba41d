// Who is on the other end of a config stream: the pod whose "mayfly"-audience
// projected token this is. The API server vouches for the token (TokenReview);
// the pod must still exist with the UID bound into the token.
import { CONTROL_PLANE_AUDIENCE } from '@mayfly/crds';

export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';

/** The TokenReview status fields we read (authentication.k8s.io/v1). */
export interface TokenReviewStatus {
  authenticated?: boolean;
  audiences?: string[];
  error?: string;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

export interface PodIdentityClaim {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUID: string;
}

export type AuthErrorCode = 'ERR_UNAUTHENTICATED' | 'ERR_FORBIDDEN';

export class AuthError extends Error {
  readonly code: AuthErrorCode;
  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuthError';
    this.code = code;
  }
}

const SA_USER = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/** Turns a TokenReview result into the pod it names, or throws AuthError. Pure. */
export function claimFromReview(status: TokenReviewStatus, audience = CONTROL_PLANE_AUDIENCE): PodIdentityClaim {
  if (!status.authenticated) throw new AuthError('ERR_UNAUTHENTICATED', 'token not accepted by the api server');
  // The API server answers with the audiences the token was valid for among those asked.
  if (status.audiences && !status.audiences.includes(audience)) throw new AuthError('ERR_UNAUTHENTICATED', `token is not for audience ${audience}`);
  const m = SA_USER.exec(status.user?.username ?? '');
  if (!m) throw new AuthError('ERR_FORBIDDEN', 'token is not a service-account token');
  const podName = status.user?.extra?.[POD_NAME_EXTRA]?.[0];
  const podUID = status.user?.extra?.[POD_UID_EXTRA]?.[0];
  if (!podName || !podUID) throw new AuthError('ERR_FORBIDDEN', 'token is not bound to a pod');
  return { namespace: m[1] as string, serviceAccount: m[3] as string, podName, podUID };
}

/** The parts of the pod the check needs. */
export interface PodRecord {
  uid: string;
  serviceAccount: string;
  labels: Record<string, string>;
  deleted: boolean;
}

/** The pod must exist, be the one the token was bound to, and run as the token's service account. */
export function checkPod(claim: PodIdentityClaim, pod: PodRecord | null): void {
  if (!pod || pod.deleted) throw new AuthError('ERR_FORBIDDEN', `pod ${claim.namespace}/${claim.podName} does not exist`);
  if (pod.uid !== claim.podUID) throw new AuthError('ERR_FORBIDDEN', `pod ${claim.namespace}/${claim.podName} was re-created; the token belongs to its predecessor`);
  if (pod.serviceAccount !== claim.serviceAccount) throw new AuthError('ERR_FORBIDDEN', 'pod runs as another service account');
}

/** When the token stops being valid (its `exp`), read after the API server accepted it. */
export function tokenExpiry(token: string): number | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export interface AuthenticatedPod extends PodIdentityClaim {
  labels: Record<string, string>;
  /** Epoch ms when the token expires; the stream ends then. */
  expiresAt: number | null;
}

export interface Authenticator {
  /** Resolves with the pod, or rejects with AuthError (or another error when the API server is unreachable). */
  authenticate(token: string): Promise<AuthenticatedPod>;
}

export interface AuthenticatorDeps {
  review(token: string, audiences: string[]): Promise<TokenReviewStatus>;
  /** The pod as the controller sees it now: from the informer cache, else from the API server. */
  pod(namespace: string, name: string): Promise<PodRecord | null>;
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  return {
    async authenticate(token) {
      if (!token || token.length > 16_384 || token.split('.').length !== 3) throw new AuthError('ERR_UNAUTHENTICATED', 'no bearer token');
      const claim = claimFromReview(await deps.review(token, [CONTROL_PLANE_AUDIENCE]));
      const pod = await deps.pod(claim.namespace, claim.podName);
      checkPod(claim, pod);
      return { ...claim, labels: pod?.labels ?? {}, expiresAt: tokenExpiry(token) };
    },
  };
}
