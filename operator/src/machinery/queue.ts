// A de-duplicating work queue in the manner of client-go's workqueue: a key
// waits in the queue at most once, is never handed to two workers at once, and
// a key added while it is being processed runs again once, after it is done.
// Delayed adds keep the earliest time; failures back off per key.
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts';
import type { Clock, TimerHandle } from './clock.ts';

export interface WorkQueueOptions {
  clock: Clock;
  backoff?: BackoffOptions;
}

export class WorkQueue<K> {
  readonly #clock: Clock;
  readonly #backoff: Backoff<K>;
  readonly #order: K[] = [];
  /** Keys waiting to be processed (in #order, or held back because they are processing). */
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  readonly #delayed = new Map<K, { at: number; timer: TimerHandle }>();
  #waiters: Array<(key: K | undefined) => void> = [];
  #shutDown = false;

  constructor(options: WorkQueueOptions) {
    this.#clock = options.clock;
    this.#backoff = new Backoff<K>(options.backoff ?? DEFAULT_BACKOFF);
  }

  add(key: K): void {
    if (this.#shutDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#order.push(key);
  }

  /** Adds the key after `ms`; an earlier pending delayed add for the key wins. */
  addAfter(key: K, ms: number): void {
    if (this.#shutDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.#clock.now() + ms;
    const existing = this.#delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = this.#clock.setTimer(ms, () => {
      this.#delayed.delete(key);
      this.add(key);
    });
    this.#delayed.set(key, { at, timer });
  }

  /** Adds the key after its next backoff delay; returns the delay. */
  addRateLimited(key: K): number {
    const delay = this.#backoff.fail(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's failure count (it succeeded or was given up). */
  forget(key: K): void {
    this.#backoff.reset(key);
  }

  failures(key: K): number {
    return this.#backoff.failures(key);
  }

  /** The next key to process, or undefined once the queue is shut down. */
  get(): Promise<K | undefined> {
    if (this.#shutDown) return Promise.resolve(undefined);
    const key = this.#order.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile, it is queued again. */
  done(key: K): void {
    this.#processing.delete(key);
    if (!this.#dirty.has(key) || this.#shutDown) return;
    this.#dirty.delete(key);
    this.add(key);
  }

  /** Keys waiting (not counting delayed or processing ones). */
  get length(): number {
    return this.#order.length;
  }

  get processing(): number {
    return this.#processing.size;
  }

  get isShutDown(): boolean {
    return this.#shutDown;
  }

  shutDown(): void {
    this.#shutDown = true;
    for (const { timer } of this.#delayed.values()) timer.cancel();
    this.#delayed.clear();
    this.#order.length = 0;
    this.#dirty.clear();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(undefined);
  }
}
