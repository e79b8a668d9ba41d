// Connects the informers to the work queue and runs the reconciler while this
// replica leads. Every replica sees every event (its stream hub needs them);
// only the leader's queue exists. A new term starts from a fresh queue with
// every policy in it, since the previous leader may have left work undone.
import type { ObjectCache } from '@kubernetes/client-node';
import { describeError } from '../k8s/client.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../machinery/clock.ts';
import { WorkQueue } from '../machinery/queue.ts';
import { runWorkers } from '../machinery/reconcile-loop.ts';
import type { ControllerMetrics } from '../metrics.ts';
import type { PolicyObject } from '../k8s/informers.ts';
import type { Reconciler } from '../reconcile/reconciler.ts';

export interface PolicyControllerDeps {
  policies: ObjectCache<PolicyObject>;
  reconciler: Pick<Reconciler, 'reconcile'>;
  clock: Clock;
  workers: number;
  log: Logger;
  metrics?: ControllerMetrics;
}

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class PolicyController {
  readonly #d: PolicyControllerDeps;
  #queue: WorkQueue<string> | null = null;
  #loop: Promise<void> | null = null;
  readonly #generations = new Map<string, number>();

  constructor(deps: PolicyControllerDeps) {
    this.#d = deps;
  }

  get leading(): boolean {
    return this.#queue !== null;
  }

  /**
   * A policy was added, changed or deleted. Its siblings in the namespace are
   * reconciled too when its spec changed (overlaps are reported on both sides),
   * but not for a status write, which changes nothing they depend on.
   */
  policyEvent(obj: PolicyObject, verb: 'add' | 'update' | 'delete'): void {
    const key = keyOf(obj);
    const generation = obj.metadata?.generation ?? 0;
    const specChanged = verb !== 'update' || this.#generations.get(key) !== generation;
    if (verb === 'delete') this.#generations.delete(key);
    else this.#generations.set(key, generation);
    const q = this.#queue;
    if (!q) return;
    q.add(key);
    if (specChanged) for (const p of this.#d.policies.list(obj.metadata?.namespace ?? '')) q.add(keyOf(p));
    this.#depth();
  }

  /** Something in a namespace changed (a pod, the namespace's labels): every policy there may see it. */
  namespaceEvent(namespace: string): void {
    const q = this.#queue;
    if (!q) return;
    for (const p of this.#d.policies.list(namespace)) q.add(keyOf(p));
    this.#depth();
  }

  startLeading(): void {
    if (this.#queue) return;
    const { clock, log, metrics } = this.#d;
    const queue = new WorkQueue<string>({ clock });
    this.#queue = queue;
    for (const p of this.#d.policies.list()) queue.add(keyOf(p));
    log.info({ policies: queue.length }, 'reconciler started');
    this.#loop = runWorkers(queue, this.#d.workers, (key) => this.#d.reconciler.reconcile(key), {
      now: () => clock.now(),
      onError: (key, err, retryInMs) => log.warn({ policy: key, err: describeError(err), code: (err as { code?: unknown }).code, retryInMs }, 'reconcile failed'),
      onDone: (_key, ms, outcome) => {
        metrics?.reconciles.inc({ result: outcome });
        metrics?.reconcileSeconds.observe({ result: outcome }, ms / 1000);
        this.#depth();
      },
    });
    this.#depth();
  }

  async stopLeading(): Promise<void> {
    const queue = this.#queue;
    if (!queue) return;
    this.#queue = null;
    queue.shutDown();
    await this.#loop;
    this.#loop = null;
    this.#d.log.info({}, 'reconciler stopped');
  }

  /** Resolves once nothing is queued or processing (for tests and benchmarks). */
  idle(): boolean {
    const q = this.#queue;
    return !q || (q.length === 0 && q.processing === 0);
  }

  #depth(): void {
    this.#d.metrics?.queueDepth.set(this.#queue?.length ?? 0);
  }
}
