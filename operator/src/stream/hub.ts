// Keeps every open config stream up to date. Each subscriber is a pod; on any
// change to the policies of its namespace or to the pod itself, the hub
// recomputes the set of compiled policies that select the pod and still grant,
// and sends a snapshot only when its revision changed. Bursts of informer
// events coalesce into one recompute per namespace. Expiry is a change too: a
// timer fires at the next expiresAt so a policy stops granting on time.
import { selects, type CompiledPolicy, type PodSubject } from '@mayfly/crds';
import { snapshotMessage, type StreamMessage } from '@mayfly/sidecar/control/protocol';
import type { Clock, TimerHandle } from '../machinery/clock.ts';
import { grants } from '../policies/compiled-cache.ts';
import { checkPosture } from '../broker/posture.ts';

export interface HubSources {
  /** The valid compiled policies of a namespace, expired ones included. */
  policies(namespace: string): readonly CompiledPolicy[];
  /** The pod as the informer cache has it now, or undefined if it is not (yet) there. `images`: its app images (not Mayfly's own). */
  pod(namespace: string, name: string): { uid: string; subject: PodSubject; images: readonly string[] } | undefined;
}

export interface Subscriber {
  namespace: string;
  podName: string;
  podUID: string;
  /** The pod's subject when it subscribed, used until the cache has the pod. */
  subject: PodSubject;
  send(message: StreamMessage): void;
  close(): void;
}

interface Entry {
  sub: Subscriber;
  revision: string | null;
  closed: boolean;
}

export interface HubHooks {
  onPush?: (sub: Subscriber, revision: string, policies: number) => void;
}

/**
 * The policies a pod gets at `now`: they select it, have not expired, and the
 * pod's images satisfy their posture. The sidecar cannot see its pod's images,
 * so posture is decided here; while the images are unknown (`undefined`), a
 * policy with posture rules is withheld. Pure.
 */
export function policiesFor(subject: PodSubject, policies: readonly CompiledPolicy[], now: number, images?: readonly string[]): CompiledPolicy[] {
  return policies.filter((p) => selects(p, subject) && grants(p, now) && postureHolds(p, images));
}

function postureHolds(p: CompiledPolicy, images: readonly string[] | undefined): boolean {
  const { allowedRegistries, requireDigest } = p.posture;
  if (allowedRegistries.length === 0 && !requireDigest) return true;
  return images !== undefined && checkPosture(p.posture, images).ok;
}

export class ConfigHub {
  readonly #sources: HubSources;
  readonly #clock: Clock;
  readonly #hooks: HubHooks;
  readonly #byNamespace = new Map<string, Set<Entry>>();
  readonly #dirty = new Set<string>();
  #flushScheduled = false;
  #expiry: { at: number; timer: TimerHandle } | null = null;

  constructor(sources: HubSources, clock: Clock, hooks: HubHooks = {}) {
    this.#sources = sources;
    this.#clock = clock;
    this.#hooks = hooks;
  }

  get size(): number {
    let n = 0;
    for (const set of this.#byNamespace.values()) n += set.size;
    return n;
  }

  /** Registers a stream and sends its first snapshot at once. Returns the unsubscribe function. */
  subscribe(sub: Subscriber): () => void {
    const entry: Entry = { sub, revision: null, closed: false };
    let set = this.#byNamespace.get(sub.namespace);
    if (!set) this.#byNamespace.set(sub.namespace, (set = new Set()));
    set.add(entry);
    this.#refresh(entry);
    return () => this.#remove(entry);
  }

  /** The policies of a namespace changed (added, updated, deleted). */
  policiesChanged(namespace: string): void {
    this.#markDirty(namespace);
  }

  /** A pod changed (its labels may now select other policies). */
  podChanged(namespace: string): void {
    this.#markDirty(namespace);
  }

  /** A pod is gone: its streams get an empty snapshot (revoking everything) and end. */
  podDeleted(namespace: string, name: string, uid: string): void {
    for (const entry of [...(this.#byNamespace.get(namespace) ?? [])]) {
      if (entry.sub.podName !== name || entry.sub.podUID !== uid) continue;
      this.#send(entry, snapshotMessage([]));
      this.end(entry.sub, 'ERR_POD_DELETED', 'the pod was deleted');
    }
  }

  /** Ends one stream with a reason (token expiry, shutdown). */
  end(sub: Subscriber, code: Extract<StreamMessage, { type: 'end' }>['code'], message: string): void {
    const entry = [...(this.#byNamespace.get(sub.namespace) ?? [])].find((e) => e.sub === sub);
    if (!entry || entry.closed) return;
    entry.sub.send({ type: 'end', code, message });
    this.#remove(entry);
    entry.sub.close();
  }

  /** Ends every stream: the sidecars reconnect, to another replica if this one is going away. */
  stop(): void {
    this.#expiry?.timer.cancel();
    this.#expiry = null;
    for (const set of [...this.#byNamespace.values()]) {
      for (const entry of [...set]) this.end(entry.sub, 'ERR_SHUTTING_DOWN', 'the controller is shutting down');
    }
  }

  /** Recomputes dirty namespaces now (normally done on the next turn of the event loop). */
  flush(): void {
    this.#flushScheduled = false;
    const namespaces = [...this.#dirty];
    this.#dirty.clear();
    for (const ns of namespaces) for (const entry of [...(this.#byNamespace.get(ns) ?? [])]) this.#refresh(entry);
  }

  #markDirty(namespace: string): void {
    if (!this.#byNamespace.has(namespace)) return;
    this.#dirty.add(namespace);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.flush());
  }

  #refresh(entry: Entry): void {
    if (entry.closed) return;
    const { sub } = entry;
    const cached = this.#sources.pod(sub.namespace, sub.podName);
    // A different UID in the cache means the pod was re-created: this stream's pod is gone.
    if (cached && cached.uid !== sub.podUID) return this.podDeleted(sub.namespace, sub.podName, sub.podUID);
    const subject = cached?.subject ?? sub.subject;
    const now = this.#clock.now();
    const all = this.#sources.policies(sub.namespace);
    const mine = policiesFor(subject, all, now, cached?.images);
    this.#scheduleExpiry(mine);
    this.#send(entry, snapshotMessage(mine));
  }

  #send(entry: Entry, message: StreamMessage): void {
    if (entry.closed || message.type !== 'snapshot' || message.revision === entry.revision) return;
    entry.revision = message.revision;
    entry.sub.send(message);
    this.#hooks.onPush?.(entry.sub, message.revision, message.policies.length);
  }

  #scheduleExpiry(policies: readonly CompiledPolicy[]): void {
    const now = this.#clock.now();
    for (const p of policies) {
      if (p.expiresAt === null) continue;
      const at = Date.parse(p.expiresAt);
      if (at <= now || (this.#expiry && this.#expiry.at <= at)) continue;
      this.#expiry?.timer.cancel();
      const timer = this.#clock.setTimer(at - now, () => {
        this.#expiry = null;
        for (const ns of this.#byNamespace.keys()) this.#dirty.add(ns);
        this.flush();
      });
      this.#expiry = { at, timer };
    }
  }

  #remove(entry: Entry): void {
    entry.closed = true;
    const set = this.#byNamespace.get(entry.sub.namespace);
    set?.delete(entry);
    if (set && set.size === 0) this.#byNamespace.delete(entry.sub.namespace);
  }
}
