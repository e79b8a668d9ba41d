// reconcile(key): the level-based shell around the pure core. It re-reads the
// policy, the pods and the namespace from the informer caches, gathers the few
// facts that need the API server (referenced Secrets, the owners of drifted
// pods), runs the checks, writes status through /status when it changed, and
// emits Events for what changed. The event that woke it is never trusted.
import type { ObjectCache, V1Namespace, V1Pod } from '@kubernetes/client-node';
import { API_VERSION, KIND, type CompiledPolicy, type WorkloadPolicyStatus } from '@mayfly/crds';
import type { Kube } from '../k8s/client.ts';
import { describeError, isNotFound } from '../k8s/client.ts';
import type { PolicyObject } from '../k8s/informers.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../machinery/clock.ts';
import type { ReconcileResult } from '../machinery/reconcile-loop.ts';
import type { ControllerMetrics } from '../metrics.ts';
import type { CompiledCache } from '../policies/compiled-cache.ts';
import { runChecks, type Finding, type SecretFacts } from './checks.ts';
import { driftEntries, podStats } from './drift.ts';
import { findOverlaps } from './overlap.ts';
import { namespaceView, podView, resolveWorkload, type PodView, type WorkloadRef } from './pods.ts';
import { buildStatus, eventsFor, statusEqual } from './status.ts';

const DRIFT_REASONS = ['NoSidecar', 'MissingAudience'] as const;

export interface ReconcilerDeps {
  policies: ObjectCache<PolicyObject>;
  pods: ObjectCache<V1Pod>;
  namespaces: ObjectCache<V1Namespace>;
  compiled: CompiledCache;
  kube: Pick<Kube, 'patchPolicyStatus' | 'createEvent' | 'secretKeys' | 'ownerOf'>;
  clock: Clock;
  log: Logger;
  metrics?: ControllerMetrics;
  /** This replica's name, recorded as the Events' reportingInstance. */
  identity: string;
  /** Audiences the API server accepts; no provider may be handed a token for them. */
  apiAudiences: readonly string[];
  /** How often to look again for a missing Secret (there is no Secret watch, by design). */
  missingSecretRecheckMs?: number;
}

/** Splits "namespace/name". */
export function parseKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export class Reconciler {
  readonly #d: ReconcilerDeps;
  /** ReplicaSet/Job -> its controller; ownership never changes, so this is safe to keep. */
  readonly #owners = new Map<string, WorkloadRef | null>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = parseKey(key);
    const d = this.#d;
    const raw = d.policies.get(name, namespace);
    if (!raw) {
      d.compiled.forget(namespace, name);
      this.#forgetMetrics(namespace, name);
      return;
    }
    const now = d.clock.now();
    const previous = raw.status as WorkloadPolicyStatus | undefined;
    const generation = raw.metadata?.generation ?? 0;
    const outcome = d.compiled.get(raw);
    const ns = namespaceView(d.namespaces.get(namespace), namespace);
    const pods = d.pods.list(namespace).map(podView);

    let status: WorkloadPolicyStatus;
    let requeueAfterMs: number | undefined;
    if (!outcome.ok) {
      status = buildStatus({ generation, mode: 'Enforce', invalid: outcome.errors, findings: [], matchedPods: 0, injectedPods: 0, driftedPods: 0, drift: [], now, previous });
    } else {
      const policy = outcome.compiled;
      const secrets = await this.#secretFacts(policy);
      const findings: Finding[] = runChecks(policy, { now, secrets, apiAudiences: d.apiAudiences });
      const others = d.policies
        .list(namespace)
        .map((p) => d.compiled.get(p))
        .flatMap((o) => (o.ok ? [o.compiled] : []));
      findings.push(...findOverlaps(policy, others, pods));
      const stats = podStats(policy, pods, ns);
      const workloads = await this.#workloads(stats.drifted.slice(0, 20).map((x) => x.pod));
      const drift = driftEntries(stats.drifted, ns, (p) => workloads.get(p.uid) ?? p.owner);
      status = buildStatus({ generation, mode: policy.mode, invalid: [], findings, matchedPods: stats.matched.length, injectedPods: stats.injected, driftedPods: stats.drifted.length, drift, now, previous });
      this.#recordMetrics(namespace, name, status, stats.drifted.map((x) => x.reason));
      requeueAfterMs = this.#nextLook(policy, now, findings);
    }
    if (!outcome.ok) this.#recordMetrics(namespace, name, status, []);

    if (!statusEqual(previous, status)) {
      try {
        await d.kube.patchPolicyStatus(namespace, name, status);
      } catch (err) {
        if (isNotFound(err)) return; // deleted meanwhile: nothing left to describe
        throw err;
      }
      d.log.info({ policy: `${namespace}/${name}`, generation, ready: status.conditions?.[0]?.status, reason: status.conditions?.[0]?.reason, matched: status.matchedPods, drifted: status.driftedPods }, 'status written');
      await this.#emit(raw, eventsFor(previous, status));
    }
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  /** When to look again without a change: at expiresAt, or soon when its Secret is missing or incomplete. */
  #nextLook(policy: CompiledPolicy, now: number, findings: readonly Finding[]): number | undefined {
    const times: number[] = [];
    if (policy.expiresAt !== null) {
      const at = Date.parse(policy.expiresAt);
      // Timers beyond ~24 days overflow; a later look simply schedules again.
      if (at > now) times.push(Math.min(at - now, 24 * 3_600_000));
    }
    if (findings.some((f) => f.check === 'secretExists')) times.push(this.#d.missingSecretRecheckMs ?? 30_000);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  async #secretFacts(policy: CompiledPolicy): Promise<Map<string, SecretFacts>> {
    const out = new Map<string, SecretFacts>();
    const p = policy.credential.provider;
    if (p.kind === 'secretRef') out.set(p.name, { keys: await this.#d.kube.secretKeys(policy.namespace, p.name) });
    return out;
  }

  async #workloads(pods: readonly PodView[]): Promise<Map<string, WorkloadRef | null>> {
    const out = new Map<string, WorkloadRef | null>();
    for (const pod of pods) {
      const owner = pod.owner;
      if (!owner || (owner.kind !== 'ReplicaSet' && owner.kind !== 'Job')) continue;
      const cacheKey = `${pod.namespace}/${owner.kind}/${owner.name}`;
      if (!this.#owners.has(cacheKey)) {
        if (this.#owners.size > 10_000) this.#owners.clear();
        this.#owners.set(cacheKey, await this.#d.kube.ownerOf(pod.namespace, owner.kind, owner.name));
      }
      out.set(pod.uid, resolveWorkload(owner, this.#owners.get(cacheKey)));
    }
    return out;
  }

  async #emit(raw: PolicyObject, events: ReturnType<typeof eventsFor>): Promise<void> {
    const d = this.#d;
    const target = { apiVersion: API_VERSION, kind: KIND, namespace: raw.metadata?.namespace ?? '', name: raw.metadata?.name ?? '', ...(raw.metadata?.uid ? { uid: raw.metadata.uid } : {}) };
    for (const e of events) {
      try {
        await d.kube.createEvent(target, e.type, e.reason, e.message, d.identity);
        d.metrics?.events.inc({ type: e.type, result: 'ok' });
      } catch (err) {
        // An Event is a courtesy: its failure never fails the reconcile.
        d.metrics?.events.inc({ type: e.type, result: 'failed' });
        d.log.warn({ err: describeError(err), reason: e.reason, policy: `${target.namespace}/${target.name}` }, 'event not recorded');
      }
    }
  }

  #recordMetrics(namespace: string, name: string, status: WorkloadPolicyStatus, driftReasons: string[]): void {
    const m = this.#d.metrics;
    if (!m) return;
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    m.policyReady.set({ namespace, policy: name }, ready?.status === 'True' ? 1 : 0);
    for (const reason of DRIFT_REASONS) {
      m.driftedPods.set({ namespace, policy: name, reason }, driftReasons.filter((r) => r === reason).length);
    }
  }

  #forgetMetrics(namespace: string, name: string): void {
    const m = this.#d.metrics;
    if (!m) return;
    m.policyReady.remove({ namespace, policy: name });
    for (const reason of DRIFT_REASONS) m.driftedPods.remove({ namespace, policy: name, reason });
  }
}
