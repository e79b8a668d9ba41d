// The simplest credential source for tests: one static value per policy with
// an expiry, counting calls, able to fail on demand like a real provider would.
import type { CompiledPolicy } from '@mayfly/crds';
import { CredentialError, type Credential, type CredentialErrorCode, type CredentialSource } from '../../src/contracts.ts';

export class TestCredentials implements CredentialSource {
  calls = 0;
  synced: string[][] = [];
  values: Map<string, Credential>;
  failWith: CredentialErrorCode | null = null;

  constructor(values: Record<string, { value: string; id?: string; expiresAt?: number }>) {
    this.values = new Map(Object.entries(values).map(([k, v]) => [k, { value: v.value, id: v.id ?? `test-${k}`, expiresAt: v.expiresAt ?? Date.now() + 3600_000 }]));
  }

  async get(policy: CompiledPolicy): Promise<Credential> {
    this.calls++;
    if (this.failWith) throw new CredentialError(this.failWith, 'test provider is failing');
    const c = this.values.get(policy.id);
    if (!c) throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `no test credential for ${policy.id}`);
    return c;
  }

  sync(policies: readonly CompiledPolicy[]): void {
    this.synced.push(policies.map((p) => p.id));
  }

  async close(): Promise<void> {}
}
