// Runs workers over a WorkQueue with controller-runtime's four outcomes:
// done (resolve with nothing), retry at a time (resolve with requeueAfterMs),
// retry with backoff (throw), give up (throw a TerminalError).
import type { WorkQueue } from './queue.ts';

export interface ReconcileResult {
  /** Reconcile again after this long even if nothing changes (e.g. at expiresAt). */
  requeueAfterMs?: number;
}

export type Reconcile<K> = (key: K) => Promise<ReconcileResult | void>;

/** An error that retrying cannot fix: the key is dropped until something changes. */
export class TerminalError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
    this.code = code;
  }
}

export interface LoopHooks<K> {
  /** Called for every failed reconcile with the delay before the retry (undefined: given up). */
  onError?: (key: K, err: unknown, retryInMs: number | undefined) => void;
  onDone?: (key: K, ms: number, outcome: 'done' | 'requeue' | 'retry' | 'terminal') => void;
  now?: () => number;
}

/** Processes one key; exported for tests that step the loop by hand. */
export async function processOne<K>(queue: WorkQueue<K>, key: K, reconcile: Reconcile<K>, hooks: LoopHooks<K> = {}): Promise<void> {
  const now = hooks.now ?? Date.now;
  const started = now();
  let outcome: 'done' | 'requeue' | 'retry' | 'terminal';
  try {
    const result = await reconcile(key);
    queue.forget(key);
    if (result && result.requeueAfterMs !== undefined) {
      queue.addAfter(key, result.requeueAfterMs);
      outcome = 'requeue';
    } else {
      outcome = 'done';
    }
  } catch (err) {
    if (err instanceof TerminalError) {
      queue.forget(key);
      hooks.onError?.(key, err, undefined);
      outcome = 'terminal';
    } else {
      const delay = queue.addRateLimited(key);
      hooks.onError?.(key, err, delay);
      outcome = 'retry';
    }
  } finally {
    queue.done(key);
  }
  hooks.onDone?.(key, now() - started, outcome);
}

/** Runs `workers` concurrent workers until the queue shuts down. */
export async function runWorkers<K>(queue: WorkQueue<K>, workers: number, reconcile: Reconcile<K>, hooks: LoopHooks<K> = {}): Promise<void> {
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      await processOne(queue, key, reconcile, hooks);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, workers) }, worker));
}
