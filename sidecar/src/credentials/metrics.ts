// Counters of the credential cache: hits and misses on the request path,
// exchanges started (refreshes) and exchanges that failed, per provider kind.
import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';

export type CredentialEvent = 'hit' | 'miss' | 'refresh' | 'failure';

export interface CredentialMetrics {
  count(event: CredentialEvent, provider: string): void;
}

/** In-memory counters; `snapshot()` for tests and the debug endpoint. */
export class CounterMetrics implements CredentialMetrics {
  readonly #counts = new Map<string, number>();
  count(event: CredentialEvent, provider: string): void {
    const key = `${event}/${provider}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }
  /** Totals per event, summed over providers. */
  snapshot(): Record<CredentialEvent, number> {
    const out: Record<CredentialEvent, number> = { hit: 0, miss: 0, refresh: 0, failure: 0 };
    for (const [key, n] of this.#counts) out[key.split('/')[0] as CredentialEvent] += n;
    return out;
  }
}

const PLURAL: Record<CredentialEvent, string> = { hit: 'hits', miss: 'misses', refresh: 'refreshes', failure: 'failures' };

/** Prometheus counters mayfly_credential_{hits,misses,refreshes,failures}_total{provider} in `registry`. */
export function promCredentialMetrics(registry: Registry): CredentialMetrics {
  const counters = Object.fromEntries(
    (Object.keys(PLURAL) as CredentialEvent[]).map((event) => [
      event,
      new Counter({ name: `mayfly_credential_${PLURAL[event]}_total`, help: `Credential cache ${PLURAL[event]}`, labelNames: ['provider'], registers: [registry] }),
    ]),
  ) as Record<CredentialEvent, Counter<'provider'>>;
  return { count: (event, provider) => counters[event].inc({ provider }) };
}
