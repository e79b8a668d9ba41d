// The one interface every credential provider implements.
import type { CompiledPolicy } from '@mayfly/crds';
import type { Credential } from '../../contracts.ts';

export interface Provider {
  /**
   * Exchanges the pod's token for a fresh credential for this policy. Rejects
   * with a CredentialError: ERR_CREDENTIAL_DENIED when the other side refused
   * this pod, ERR_NO_TOKEN without a usable projected token, otherwise
   * ERR_CREDENTIAL_UNAVAILABLE. Never retries on its own: the cache owns backoff.
   */
  get(policy: CompiledPolicy, signal?: AbortSignal): Promise<Credential>;
  /** The cache no longer uses this credential (replaced or its policy went away): revoke what can be revoked. */
  release?(credential: Credential): Promise<void>;
  close?(): Promise<void>;
}
