// Leader election through a coordination.k8s.io Lease, after client-go's
// leaderelection: the decision is a pure function of the lease as read and of
// when this replica last saw it change (local time, so clock skew between
// replicas does not matter); the loop around it acquires, renews every
// retryPeriod, gives up leadership when it could not renew for renewDeadline,
// and releases the lease on shutdown so a successor takes over at once.
import { type Clock, type TimerHandle, sleep } from './clock.ts';

/** The Lease fields leader election reads and writes. */
export interface LeaseSpec {
  holderIdentity: string | null;
  leaseDurationSeconds: number;
  acquireTime: string | null;
  renewTime: string | null;
  leaseTransitions: number;
}

export interface LeaseObject {
  spec: LeaseSpec;
  resourceVersion: string;
}

/** Reads and writes one Lease; `replace` must fail when resourceVersion is stale. */
export interface LeaseClient {
  get(): Promise<LeaseObject | null>;
  create(spec: LeaseSpec): Promise<LeaseObject>;
  replace(spec: LeaseSpec, resourceVersion: string): Promise<LeaseObject>;
}

/** What this replica last saw of the lease, and when (its own clock). */
export interface Observation {
  key: string;
  at: number;
}

export type Decision =
  | { action: 'create'; spec: LeaseSpec }
  | { action: 'update'; spec: LeaseSpec; resourceVersion: string }
  | { action: 'wait'; leader: string; expiresAt: number };

export interface DecideInput {
  self: string;
  now: number;
  lease: LeaseObject | null;
  observed: Observation | null;
  leaseDurationSeconds: number;
}

/** Lease timestamps are MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function observationKey(spec: LeaseSpec): string {
  return JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds, spec.leaseTransitions]);
}

/** Whether to create the lease, take or renew it, or wait for its holder. */
export function decide({ self, now, lease, observed, leaseDurationSeconds }: DecideInput): Decision {
  if (!lease) {
    return { action: 'create', spec: { holderIdentity: self, leaseDurationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 } };
  }
  const { spec } = lease;
  const holder = spec.holderIdentity ?? '';
  const key = observationKey(spec);
  // Expiry runs from when *we* first saw this exact record, never from its timestamps.
  const seenAt = observed && observed.key === key ? observed.at : now;
  const expiresAt = seenAt + spec.leaseDurationSeconds * 1000;
  if (holder !== '' && holder !== self && expiresAt > now) {
    return { action: 'wait', leader: holder, expiresAt };
  }
  const renewing = holder === self;
  return {
    action: 'update',
    resourceVersion: lease.resourceVersion,
    spec: {
      holderIdentity: self,
      leaseDurationSeconds,
      acquireTime: renewing && spec.acquireTime ? spec.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: renewing ? spec.leaseTransitions : spec.leaseTransitions + 1,
    },
  };
}

export interface LeaderElectorOptions {
  identity: string;
  client: LeaseClient;
  clock: Clock;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
  onError?: (err: unknown) => void;
}

export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectorOptions, 'onNewLeader' | 'onError'>> & Pick<LeaderElectorOptions, 'onNewLeader' | 'onError'>;
  #observed: Observation | null = null;
  #lease: LeaseObject | null = null;
  #leading = false;
  #leader: string | null = null;
  #abort = new AbortController();
  #loop: Promise<void> | null = null;
  #deadline: TimerHandle | null = null;

  constructor(options: LeaderElectorOptions) {
    this.#o = { leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...options };
    if (this.#o.renewDeadlineMs >= this.#o.leaseDurationSeconds * 1000) throw new Error('renewDeadline must be shorter than the lease duration');
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  get leader(): string | null {
    return this.#leader;
  }

  start(): void {
    if (this.#loop) return;
    this.#abort = new AbortController();
    this.#loop = this.#run(this.#abort.signal);
  }

  /** Stops campaigning; a leader releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    this.#loop = null;
    if (this.#leading) {
      this.#setLeading(false);
      await this.#release();
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const ok = await this.#tryAcquireOrRenew();
      if (signal.aborted) break;
      if (ok) {
        // A watchdog, not the loop, ends leadership: a renewal that hangs must not
        // keep this replica acting as leader past the deadline.
        this.#deadline?.cancel();
        this.#deadline = this.#o.clock.setTimer(this.#o.renewDeadlineMs, () => {
          this.#deadline = null;
          if (this.#leading) this.#setLeading(false);
        });
        if (!this.#leading) this.#setLeading(true);
      }
      await sleep(this.#o.clock, this.#o.retryPeriodMs, signal);
    }
    this.#deadline?.cancel();
    this.#deadline = null;
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { client, clock, identity } = this.#o;
    try {
      const lease = await client.get();
      const now = clock.now();
      const decision = decide({ self: identity, now, lease, observed: this.#observed, leaseDurationSeconds: this.#o.leaseDurationSeconds });
      if (lease) this.#observe(lease, now);
      if (decision.action === 'wait') {
        this.#noteLeader(decision.leader);
        return false;
      }
      const written =
        decision.action === 'create' ? await client.create(decision.spec) : await client.replace(decision.spec, decision.resourceVersion);
      this.#observe(written, clock.now());
      this.#noteLeader(identity);
      return true;
    } catch (err) {
      this.#o.onError?.(err);
      return false;
    }
  }

  #observe(lease: LeaseObject, now: number): void {
    this.#lease = lease;
    const key = observationKey(lease.spec);
    if (!this.#observed || this.#observed.key !== key) this.#observed = { key, at: now };
  }

  #noteLeader(identity: string): void {
    if (this.#leader === identity) return;
    this.#leader = identity;
    this.#o.onNewLeader?.(identity);
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    if (leading) this.#o.onStartedLeading();
    else this.#o.onStoppedLeading();
  }

  async #release(): Promise<void> {
    const lease = this.#lease;
    if (!lease || lease.spec.holderIdentity !== this.#o.identity) return;
    try {
      const now = microTime(this.#o.clock.now());
      await this.#o.client.replace({ ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: now }, lease.resourceVersion);
    } catch (err) {
      this.#o.onError?.(err);
    }
  }
}
