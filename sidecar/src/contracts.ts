// The seams between the sidecar's parts: the data plane (request pipeline),
// the credential layer (providers and cache) and the control layer (where the
// compiled policies come from). Each side codes against these types only.
import type { CompiledPolicy } from '@mayfly/crds';

/** Who this pod is, from the downward API (or the local config file). */
export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
  labels: Record<string, string>;
  /** Every container image of the pod except Mayfly's own, for posture checks. */
  images: string[];
}

/** The policies that select this pod, as one immutable snapshot. */
export interface PolicySnapshot {
  /** Changes whenever the set or any policy changes; for logs and metrics. */
  revision: string;
  policies: readonly CompiledPolicy[];
}

/**
 * Where snapshots come from: a local file (`mayfly sidecar --config FILE`) or the
 * controller's config stream. A source keeps the last good snapshot when it
 * loses its origin; `onUpdate` is called with each new snapshot, which the
 * sidecar swaps in atomically.
 */
export interface ConfigSource {
  start(onUpdate: (snapshot: PolicySnapshot) => void): Promise<void>;
  stop(): Promise<void>;
}

/** AWS temporary credentials (the aws provider's credential). */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

/** A credential ready to inject. `value` never appears in logs; `id` does. */
export interface Credential {
  /** The secret: a token, an API key, a password. Empty for aws (see `aws`). */
  value: string;
  aws?: AwsCredentials;
  /** Epoch milliseconds after which the credential must not be used. */
  expiresAt: number;
  /** A non-secret identifier for audit (a jti, a hash prefix, an access key id). */
  id: string;
}

export type CredentialErrorCode =
  | 'ERR_CREDENTIAL_UNAVAILABLE' // the provider failed and nothing valid is cached
  | 'ERR_CREDENTIAL_EXPIRED' // the only cached credential has expired
  | 'ERR_CREDENTIAL_DENIED' // the provider or broker refused this pod
  | 'ERR_NO_TOKEN'; // the projected service-account token is missing or expired

export class CredentialError extends Error {
  readonly code: CredentialErrorCode;
  constructor(code: CredentialErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CredentialError';
    this.code = code;
  }
}

/**
 * The credential layer as the request path sees it. `get` resolves at once from
 * the cache in steady state; it waits for an exchange only on a cold miss, and
 * rejects with a CredentialError rather than ever returning nothing.
 */
export interface CredentialSource {
  get(policy: CompiledPolicy): Promise<Credential>;
  /** Pre-warms entries for these policies and drops every entry of a policy not in the list. */
  sync(policies: readonly CompiledPolicy[]): void;
  close(): Promise<void>;
  /** Calls `listener` with the id of each credential the source stops serving and releases (replaced, revoked or its policy gone). */
  onReleased?(listener: (credentialId: string) => void): void;
}
