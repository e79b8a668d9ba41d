// Builds a WorkloadPolicy's status from what the reconciler found, keeps
// lastTransitionTime stable while a condition does not change, and derives the
// Events worth emitting from the difference between the old and new status. Pure.
import { isDeepStrictEqual } from 'node:util';
import { CONDITION_DEGRADED, CONDITION_READY, type Condition, type DriftedPod, type FieldError, type WorkloadPolicyStatus } from '@mayfly/crds';
import type { Finding } from './checks.ts';

export interface StatusInput {
  generation: number;
  mode: 'Enforce' | 'Audit';
  /** Schema errors: the policy does not compile. */
  invalid: readonly FieldError[];
  findings: readonly Finding[];
  matchedPods: number;
  injectedPods: number;
  driftedPods: number;
  drift: readonly DriftedPod[];
  now: number;
  previous: WorkloadPolicyStatus | undefined;
}

const MAX_MESSAGE = 4096;

function clip(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 1)}…` : s;
}

function condition(type: string, status: 'True' | 'False', reason: string, message: string, generation: number, now: number, previous: Condition[] | undefined): Condition {
  const prev = previous?.find((c) => c.type === type);
  const unchanged = prev && prev.status === status;
  return {
    type,
    status,
    reason,
    message: clip(message),
    observedGeneration: generation,
    lastTransitionTime: unchanged && prev.lastTransitionTime ? prev.lastTransitionTime : new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

export function buildStatus(input: StatusInput): WorkloadPolicyStatus {
  const { generation, now, previous } = input;
  const errors = input.findings.filter((f) => f.severity === 'error');
  const warnings = input.findings.filter((f) => f.severity === 'warning');
  let ready: Condition;
  if (input.invalid.length > 0) {
    const msg = input.invalid.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
    ready = condition(CONDITION_READY, 'False', 'Invalid', msg, generation, now, previous?.conditions);
  } else if (errors.length > 0) {
    ready = condition(CONDITION_READY, 'False', errors[0]!.reason, errors.map((e) => e.message).join('; '), generation, now, previous?.conditions);
  } else {
    const scope = `${input.injectedPods} of ${input.matchedPods} selected pod${input.matchedPods === 1 ? '' : 's'} run the sidecar`;
    const msg = input.mode === 'Audit' ? `compiled in audit mode: requests are decided and logged, never blocked; ${scope}` : `compiled and enforced; ${scope}`;
    ready = condition(CONDITION_READY, 'True', 'Compiled', msg, generation, now, previous?.conditions);
  }
  const degradedBy: Array<{ reason: string; message: string }> = warnings.map((w) => ({ reason: w.reason, message: w.message }));
  if (input.driftedPods > 0) {
    degradedBy.push({ reason: 'Drift', message: `${input.driftedPods} selected pod${input.driftedPods === 1 ? '' : 's'} cannot enforce this policy; see status.drift for the fix` });
  }
  const degraded =
    degradedBy.length > 0
      ? condition(CONDITION_DEGRADED, 'True', degradedBy[0]!.reason, degradedBy.map((d) => d.message).join('; '), generation, now, previous?.conditions)
      : condition(CONDITION_DEGRADED, 'False', 'AsExpected', 'nothing needs attention', generation, now, previous?.conditions);
  return {
    observedGeneration: generation,
    matchedPods: input.matchedPods,
    injectedPods: input.injectedPods,
    driftedPods: input.driftedPods,
    drift: [...input.drift],
    conditions: [ready, degraded],
  };
}

/** Whether writing `next` would change anything a reader sees. */
export function statusEqual(current: WorkloadPolicyStatus | undefined, next: WorkloadPolicyStatus): boolean {
  if (!current) return false;
  const norm = (s: WorkloadPolicyStatus): unknown => ({ ...s, drift: s.drift ?? [], conditions: [...(s.conditions ?? [])].sort((a, b) => a.type.localeCompare(b.type)) });
  return isDeepStrictEqual(norm(current), norm(next));
}

export interface PolicyEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

const cond = (s: WorkloadPolicyStatus | undefined, type: string): Condition | undefined => s?.conditions?.find((c) => c.type === type);

/** Events for what changed: readiness, degradation, newly drifted pods. */
export function eventsFor(previous: WorkloadPolicyStatus | undefined, next: WorkloadPolicyStatus): PolicyEvent[] {
  const events: PolicyEvent[] = [];
  const [pr, nr] = [cond(previous, CONDITION_READY), cond(next, CONDITION_READY)];
  if (nr && (pr?.status !== nr.status || pr?.reason !== nr.reason || previous?.observedGeneration !== next.observedGeneration)) {
    if (nr.status === 'True') events.push({ type: 'Normal', reason: 'Compiled', message: `generation ${next.observedGeneration} compiled and pushed to selected sidecars` });
    else if (pr?.status !== nr.status || pr?.reason !== nr.reason || pr?.message !== nr.message) events.push({ type: 'Warning', reason: nr.reason, message: nr.message ?? '' });
  }
  const [pd, nd] = [cond(previous, CONDITION_DEGRADED), cond(next, CONDITION_DEGRADED)];
  if (nd?.status === 'True' && nd.reason !== 'Drift' && (pd?.status !== 'True' || pd.message !== nd.message)) {
    events.push({ type: 'Warning', reason: nd.reason, message: nd.message ?? '' });
  }
  const before = new Set((previous?.drift ?? []).map((d) => `${d.pod}/${d.reason}`));
  for (const d of next.drift ?? []) {
    if (before.has(`${d.pod}/${d.reason}`)) continue;
    events.push({ type: 'Warning', reason: d.reason === 'NoSidecar' ? 'PodWithoutSidecar' : 'PodMissingAudience', message: `pod ${d.pod}: ${d.message ?? d.reason}${d.fix ? `; fix: ${d.fix}` : ''}` });
  }
  return events;
}
