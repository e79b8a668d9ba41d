// Static credentials for local runs (`mayfly sidecar --config FILE`): the
// config's `credentials:` map, per policy id. Not for clusters: there the
// credential layer exchanges the pod's token. Values never reach a log.
import { createHash } from 'node:crypto';
import type { CompiledPolicy } from '@mayfly/crds';
import { parseDuration } from '@mayfly/crds/compile';
import { CredentialError, type Credential, type CredentialSource } from '../contracts.ts';
import type { StaticCredentialSpec } from '../config/sidecar-config.ts';

export class StaticCredentialSource implements CredentialSource {
  #specs: ReadonlyMap<string, StaticCredentialSpec>;
  #issued = new Map<string, Credential>();
  #now: () => number;
  #counts = { hits: 0, misses: 0, refreshes: 0, failures: 0 };

  constructor(specs: Record<string, StaticCredentialSpec>, now: () => number = Date.now) {
    this.#specs = new Map(Object.entries(specs));
    this.#now = now;
  }

  async get(policy: CompiledPolicy): Promise<Credential> {
    const spec = this.#specs.get(policy.id);
    if (!spec) {
      this.#counts.failures++;
      throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `no static credential configured for policy ${policy.id}`);
    }
    const cached = this.#issued.get(policy.id);
    if (cached && cached.expiresAt > this.#now()) {
      this.#counts.hits++;
      return cached;
    }
    if (cached) this.#counts.refreshes++;
    else this.#counts.misses++;
    const value = spec.value ?? '';
    const digest = createHash('sha256').update(value || JSON.stringify(spec.aws)).digest('hex').slice(0, 12);
    const credential: Credential = {
      value,
      ...(spec.aws ? { aws: spec.aws } : {}),
      expiresAt: this.#now() + parseDuration(spec.expiresIn ?? '1h') * 1000,
      id: spec.id ?? (spec.aws ? spec.aws.accessKeyId : `static:${digest}`),
    };
    this.#issued.set(policy.id, credential);
    return credential;
  }

  sync(policies: readonly CompiledPolicy[]): void {
    const keep = new Set(policies.map((p) => p.id));
    for (const id of [...this.#issued.keys()]) if (!keep.has(id)) this.#issued.delete(id);
  }

  stats(): { hits: number; misses: number; refreshes: number; failures: number } {
    return { ...this.#counts };
  }

  async close(): Promise<void> {
    this.#issued.clear();
  }
}
