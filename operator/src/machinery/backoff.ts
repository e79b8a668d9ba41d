// Exponential backoff per key: 1 s, 2 s, 4 s, ... capped at 5 minutes, reset
// when the key succeeds. Pure arithmetic plus a small failure counter.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ baseMs: 1_000, maxMs: 300_000 });

/** The delay before retry number `failures` (1 for the first retry). */
export function backoffDelay(failures: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  if (failures <= 0) return 0;
  // 2 ** 30 already exceeds any sane cap; avoid Infinity for huge counts.
  const exp = Math.min(failures - 1, 30);
  return Math.min(options.baseMs * 2 ** exp, options.maxMs);
}

/** Counts consecutive failures per key and turns them into delays. */
export class Backoff<K> {
  readonly #options: BackoffOptions;
  readonly #failures = new Map<K, number>();

  constructor(options: BackoffOptions = DEFAULT_BACKOFF) {
    this.#options = options;
  }

  /** Records a failure of `key` and returns how long to wait before retrying it. */
  fail(key: K): number {
    const n = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, n);
    return backoffDelay(n, this.#options);
  }

  failures(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Forgets the key's failures (it succeeded, or was deleted). */
  reset(key: K): void {
    this.#failures.delete(key);
  }
}
