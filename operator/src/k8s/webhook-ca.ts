// Keeps the CA bundle of the webhook configuration current. The Secret that
// holds the CA and the write itself are the webhook's adapters
// (@mayfly/webhook/k8s); this adds what a controller needs around them.
import { backoffDelay } from '../machinery/backoff.ts';
import type { Clock, TimerHandle } from '../machinery/clock.ts';

/**
 * Keeps the caBundle of the webhook configuration equal to the CA in use: the
 * configuration may not exist yet when the controller starts (helm creates it
 * alongside the Deployment), or an upgrade may have reset it. Publishes on every
 * change, retries failures with backoff, and checks again every `verifyMs`.
 */
export class CaBundlePublisher {
  readonly #publish: (bundle: string) => Promise<void>;
  readonly #clock: Clock;
  readonly #verifyMs: number;
  readonly #onError: (err: unknown) => void;
  #bundle: string | undefined;
  #timer: TimerHandle | undefined;
  #failures = 0;
  #stopped = false;

  constructor(publish: (bundle: string) => Promise<void>, clock: Clock, options: { verifyMs?: number; onError?: (err: unknown) => void } = {}) {
    this.#publish = publish;
    this.#clock = clock;
    this.#verifyMs = options.verifyMs ?? 60_000;
    this.#onError = options.onError ?? (() => {});
  }

  /** Called with each new bundle; never rejects (failures are retried). */
  async set(bundle: string): Promise<void> {
    this.#bundle = bundle;
    await this.#attempt();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  async #attempt(): Promise<void> {
    this.#timer?.cancel();
    if (this.#stopped || this.#bundle === undefined) return;
    let next: number;
    try {
      await this.#publish(this.#bundle);
      this.#failures = 0;
      next = this.#verifyMs;
    } catch (err) {
      this.#failures++;
      this.#onError(err);
      next = backoffDelay(this.#failures, { baseMs: 1_000, maxMs: 30_000 });
    }
    if (!this.#stopped) this.#timer = this.#clock.setTimer(next, () => void this.#attempt());
  }
}
