// Time as a dependency: the machinery never calls Date.now() or setTimeout
// directly, so tests can drive it with FakeClock and assert exact timings.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `fn` after `ms`; the handle cancels it. Timers never keep the process alive. */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** Resolves after `ms` on `clock`, or at once when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      timer.cancel();
      resolve();
    };
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. `advance` fires due timers in time
 * order (ties in creation order) and lets promise callbacks run between them,
 * so async code woken by a timer gets to schedule its next timer.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: FakeTimer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: FakeTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Timers not yet fired or cancelled, as delays from now. */
  pending(): number[] {
    return this.#timers.filter((t) => !t.cancelled).map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await flush();
    for (;;) {
      const next = this.#next(end);
      if (!next) break;
      this.#now = next.at;
      next.cancelled = true;
      next.fn();
      await flush();
    }
    this.#now = end;
    await flush();
  }

  #next(end: number): FakeTimer | undefined {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (t.at > end) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/** Lets every queued promise callback run (a few macrotask turns). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
