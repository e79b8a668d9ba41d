// Keeps informers running. A client-node informer stops for good when its list
// or watch fails (it emits "error" and returns); the supervisor starts it again
// after a per-informer backoff, which resets once it has run for a while.
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts';
import type { Clock, TimerHandle } from './clock.ts';

/** The part of a client-node Informer the supervisor needs. */
export interface Restartable {
  start(): Promise<void>;
  stop(): Promise<void>;
  on(verb: 'error', cb: (err?: unknown) => void): void;
}

export interface SupervisorOptions {
  clock: Clock;
  backoff?: BackoffOptions;
  /** An informer that ran this long without an error starts over at the base delay. */
  stableAfterMs?: number;
  onError?: (name: string, err: unknown, restartInMs: number) => void;
  onRestart?: (name: string) => void;
}

interface Entry {
  name: string;
  informer: Restartable;
  state: 'idle' | 'starting' | 'running' | 'failed';
  startedAt: number;
  synced: boolean;
  restarts: number;
  timer?: TimerHandle;
}

export class InformerSupervisor {
  readonly #options: SupervisorOptions;
  readonly #backoff: Backoff<string>;
  readonly #entries = new Map<string, Entry>();
  #stopped = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#backoff = new Backoff<string>(options.backoff ?? DEFAULT_BACKOFF);
  }

  add(name: string, informer: Restartable): void {
    const entry: Entry = { name, informer, state: 'idle', startedAt: 0, synced: false, restarts: 0 };
    this.#entries.set(name, entry);
    informer.on('error', (err) => this.#failed(entry, err));
  }

  /** Starts every informer; resolves once each has listed (or failed and is being retried). */
  async start(): Promise<void> {
    this.#stopped = false;
    await Promise.all([...this.#entries.values()].map((e) => this.#start(e)));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(
      [...this.#entries.values()].map(async (e) => {
        e.timer?.cancel();
        e.state = 'idle';
        await e.informer.stop();
      }),
    );
  }

  /** True when every informer has listed once and none is down now. */
  synced(): boolean {
    return [...this.#entries.values()].every((e) => e.synced && e.state === 'running');
  }

  status(): Array<{ name: string; state: Entry['state']; synced: boolean; restarts: number }> {
    return [...this.#entries.values()].map(({ name, state, synced, restarts }) => ({ name, state, synced, restarts }));
  }

  async #start(entry: Entry): Promise<void> {
    if (this.#stopped) return;
    entry.state = 'starting';
    entry.startedAt = this.#options.clock.now();
    try {
      await entry.informer.start();
    } catch (err) {
      this.#failed(entry, err);
      return;
    }
    // The informer reports list failures through "error", not by rejecting.
    if (entry.state === 'starting') {
      entry.state = 'running';
      entry.synced = true;
    }
  }

  #failed(entry: Entry, err: unknown): void {
    if (this.#stopped || entry.state === 'failed') return;
    const clock = this.#options.clock;
    if (entry.state === 'running' && clock.now() - entry.startedAt >= (this.#options.stableAfterMs ?? 60_000)) {
      this.#backoff.reset(entry.name);
    }
    entry.state = 'failed';
    const delay = this.#backoff.fail(entry.name);
    this.#options.onError?.(entry.name, err, delay);
    entry.timer = clock.setTimer(delay, () => {
      entry.timer = undefined;
      entry.restarts++;
      this.#options.onRestart?.(entry.name);
      void this.#start(entry);
    });
  }
}
