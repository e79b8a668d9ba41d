// The credential cache: the CredentialSource the request path uses. One entry
// per CompiledPolicy.credential.scope. In steady state `get` answers from memory;
// a timer refreshes each credential ahead of its expiry (with jitter), failures
// back off exponentially, a credential is served only while it is still valid
// (fail closed after), and all concurrent callers of a cold entry share one
// exchange. `sync` pre-warms new entries and drops vanished ones at once.
import type { CompiledPolicy } from '@mayfly/crds';
import type { Logger } from 'pino';
import { CredentialError, type Credential, type CredentialSource } from '../contracts.ts';
import { systemClock, type Clock } from './clock.ts';
import type { CredentialMetrics } from './metrics.ts';
import type { Provider } from './providers/types.ts';

export interface CacheOptions {
  /** The provider for a policy (chosen by provider.kind). */
  providerFor(policy: CompiledPolicy): Provider;
  clock?: Clock;
  /** [0, 1); injectable for deterministic jitter. */
  random?: () => number;
  metrics?: CredentialMetrics;
  logger?: Logger;
  /** Refresh when this fraction of the lifetime is left, plus up to `refreshJitter` more. Defaults 0.25 and 0.1. */
  refreshLead?: number;
  refreshJitter?: number;
  /** A credential with less than this left is not served. Default 5 s. */
  minRemainingMs?: number;
  /** Exponential backoff after failed exchanges. Defaults 1 s to 5 min. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** How long a replaced credential stays unrevoked for requests already using it. Default 30 s. */
  releaseGraceMs?: number;
}

interface Entry {
  scope: string;
  policy: CompiledPolicy;
  provider: Provider;
  current?: Credential;
  inflight?: Promise<Credential>;
  abort?: AbortController;
  failures: number;
  retryAt: number;
  lastError?: CredentialError;
  timer?: unknown;
  dropped: boolean;
}

function asCredentialError(err: unknown): CredentialError {
  if (err instanceof CredentialError) return err;
  return new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'credential exchange failed', { cause: err });
}

export class CredentialCache implements CredentialSource {
  readonly #entries = new Map<string, Entry>();
  readonly #providers = new Set<Provider>();
  readonly #graceTimers = new Set<unknown>();
  readonly #released = new Set<(credentialId: string) => void>();
  readonly #opts: CacheOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  #closed = false;

  constructor(opts: CacheOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#random = opts.random ?? Math.random;
  }

  async get(policy: CompiledPolicy): Promise<Credential> {
    if (this.#closed) throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'credential source closed');
    const entry = this.#entries.get(policy.credential.scope) ?? this.#create(policy);
    const kind = entry.policy.credential.provider.kind;
    if (entry.current && this.#valid(entry.current)) {
      this.#opts.metrics?.count('hit', kind);
      return entry.current;
    }
    this.#opts.metrics?.count('miss', kind);
    if (entry.inflight) return entry.inflight;
    if (this.#clock.now() < entry.retryAt) {
      if (entry.lastError?.code === 'ERR_CREDENTIAL_DENIED' || entry.lastError?.code === 'ERR_NO_TOKEN') throw entry.lastError;
      if (entry.current) throw new CredentialError('ERR_CREDENTIAL_EXPIRED', 'credential expired and refresh is failing', { cause: entry.lastError });
      throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'credential unavailable', { cause: entry.lastError });
    }
    return this.#exchange(entry);
  }

  sync(policies: readonly CompiledPolicy[]): void {
    if (this.#closed) return;
    const wanted = new Map(policies.map((p) => [p.credential.scope, p]));
    for (const [scope, entry] of this.#entries) {
      if (!wanted.has(scope)) this.#drop(entry);
    }
    for (const [scope, policy] of wanted) {
      const entry = this.#entries.get(scope);
      if (!entry) {
        this.#exchange(this.#create(policy)).catch(() => {});
      } else if (entry.policy.generation !== policy.generation) {
        // Same provider settings, new generation: refresh in the background so
        // derived scoping (an AWS session policy) follows the edit.
        entry.policy = policy;
        if (!entry.inflight) this.#exchange(entry).catch(() => {});
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const releases = [...this.#entries.values()].map((e) => this.#drop(e));
    for (const h of this.#graceTimers) this.#clock.clearTimeout(h);
    this.#graceTimers.clear();
    await Promise.allSettled(releases);
    await Promise.allSettled([...this.#providers].map((p) => p.close?.()));
  }

  /**
   * Resolves once every exchange started so far has finished (succeeded or
   * failed): after `sync`, the point from which requests are served from memory.
   */
  async settled(): Promise<void> {
    for (;;) {
      const pending = [...this.#entries.values()].map((e) => e.inflight).filter((p): p is Promise<Credential> => p !== undefined);
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  onReleased(listener: (credentialId: string) => void): void {
    this.#released.add(listener);
  }

  /** Scopes currently held, for tests and diagnostics. */
  scopes(): string[] {
    return [...this.#entries.keys()];
  }

  #valid(c: Credential): boolean {
    return c.expiresAt - (this.#opts.minRemainingMs ?? 5000) > this.#clock.now();
  }

  #create(policy: CompiledPolicy): Entry {
    const provider = this.#opts.providerFor(policy);
    this.#providers.add(provider);
    const entry: Entry = { scope: policy.credential.scope, policy, provider, failures: 0, retryAt: 0, dropped: false };
    this.#entries.set(entry.scope, entry);
    return entry;
  }

  #drop(entry: Entry): Promise<void> {
    entry.dropped = true;
    this.#entries.delete(entry.scope);
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    entry.abort?.abort(new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'policy removed'));
    const current = entry.current;
    entry.current = undefined;
    return current ? this.#release(entry.provider, current) : Promise.resolve();
  }

  async #release(provider: Provider, credential: Credential): Promise<void> {
    try {
      await provider.release?.(credential);
    } catch (err) {
      this.#opts.logger?.warn({ err: asCredentialError(err).code, credential: credential.id }, 'credential release failed');
    }
    for (const listener of this.#released) listener(credential.id);
  }

  #schedule(entry: Entry, at: number): void {
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    entry.timer = this.#clock.setTimeout(() => {
      entry.timer = undefined;
      if (!entry.dropped && !entry.inflight) this.#exchange(entry).catch(() => {});
    }, Math.max(0, at - this.#clock.now()));
  }

  #exchange(entry: Entry): Promise<Credential> {
    const kind = entry.policy.credential.provider.kind;
    this.#opts.metrics?.count('refresh', kind);
    const abort = new AbortController();
    entry.abort = abort;
    const run = async (): Promise<Credential> => {
      let credential: Credential;
      try {
        credential = await entry.provider.get(entry.policy, abort.signal);
        if (!this.#valid(credential)) throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'provider returned an expired credential');
      } catch (err) {
        throw this.#failed(entry, err);
      }
      if (entry.dropped) {
        await this.#release(entry.provider, credential);
        throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'policy removed');
      }
      const previous = entry.current;
      entry.current = credential;
      entry.failures = 0;
      entry.retryAt = 0;
      entry.lastError = undefined;
      const now = this.#clock.now();
      const lifetime = credential.expiresAt - now;
      const lead = lifetime * ((this.#opts.refreshLead ?? 0.25) + (this.#opts.refreshJitter ?? 0.1) * this.#random());
      this.#schedule(entry, credential.expiresAt - lead);
      if (previous && previous.id !== credential.id) this.#releaseLater(entry.provider, previous);
      return credential;
    };
    const inflight = run().finally(() => {
      if (entry.inflight === inflight) entry.inflight = undefined;
      if (entry.abort === abort) entry.abort = undefined;
    });
    entry.inflight = inflight;
    return inflight;
  }

  #failed(entry: Entry, err: unknown): CredentialError {
    const error = entry.dropped ? new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'policy removed', { cause: err }) : asCredentialError(err);
    if (entry.dropped) return error;
    const kind = entry.policy.credential.provider.kind;
    this.#opts.metrics?.count('failure', kind);
    entry.failures += 1;
    entry.lastError = error;
    const base = Math.min(this.#opts.backoffMaxMs ?? 300_000, (this.#opts.backoffInitialMs ?? 1000) * 2 ** (entry.failures - 1));
    const delay = base * (0.5 + 0.5 * this.#random());
    entry.retryAt = this.#clock.now() + delay;
    if (error.code === 'ERR_CREDENTIAL_DENIED' && entry.current) {
      // The issuer refused this pod: stop using what it issued before.
      const revoked = entry.current;
      entry.current = undefined;
      void this.#release(entry.provider, revoked);
    }
    this.#schedule(entry, entry.retryAt);
    this.#opts.logger?.warn({ policy: entry.policy.id, provider: kind, code: error.code, failures: entry.failures, retryInMs: Math.round(delay), cause: (err as Error)?.message }, 'credential refresh failed');
    return error;
  }

  #releaseLater(provider: Provider, credential: Credential): void {
    const h = this.#clock.setTimeout(() => {
      this.#graceTimers.delete(h);
      void this.#release(provider, credential);
    }, this.#opts.releaseGraceMs ?? 30_000);
    this.#graceTimers.add(h);
  }
}
