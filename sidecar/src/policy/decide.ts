// The decision: a pure function of (policies, pod identity and posture, request,
// time). It says whether the request is passed through (no policy knows the
// host), allowed (and with which policy's credential) or denied, and why.
import { selects, type CompiledDestination, type CompiledPolicy } from '@mayfly/crds/compile';
import type { PodIdentity } from '../contracts.ts';
import { inTimeWindows } from '@mayfly/crds/conditions';
import { checkPosture, isExpired } from './conditions.ts';

export interface RequestFacts {
  /** Canonical host (lowercase, no trailing dot). */
  host: string;
  port: number;
  method: string;
  /** The path exactly as forwarded (already checked by checkStrictPath). */
  path: string;
  /** Whether the request arrived over TLS (and so leaves over TLS). */
  tls: boolean;
}

export type DenyReason =
  | 'port-not-allowed'
  | 'method-not-allowed'
  | 'path-not-allowed'
  | 'plaintext-not-allowed'
  | 'posture-registry'
  | 'posture-digest'
  | 'outside-time-window'
  | 'policy-expired';

export type Decision =
  | { action: 'passthrough'; reason: 'no-policy' }
  | { action: 'allow'; policy: CompiledPolicy; mode: 'Enforce'; reason: 'allowed'; inject: true }
  | { action: 'deny'; policy: CompiledPolicy; mode: 'Enforce'; reason: DenyReason }
  /** Only Audit policies know the host: forwarded untouched, never blocked, never injected. */
  | { action: 'audit'; policy: CompiledPolicy; mode: 'Audit'; reason: 'allowed' | DenyReason; wouldDeny: boolean };

export const DENY_MESSAGES: Record<DenyReason, string> = {
  'port-not-allowed': 'the policy does not allow this port',
  'method-not-allowed': 'the policy does not allow this method',
  'path-not-allowed': 'the policy does not allow this path',
  'plaintext-not-allowed': 'the policy does not allow its credential on plain HTTP; use https',
  'posture-registry': 'an image of this pod is not from an allowed registry',
  'posture-digest': 'an image of this pod is not pinned by digest',
  'outside-time-window': 'the request is outside the policy time windows',
  'policy-expired': 'the policy has expired',
};

/** Whether a destination's host pattern covers a canonical host ("*.x.com" covers exactly one more label). */
export function hostMatches(d: CompiledDestination, host: string): boolean {
  if (!d.wildcard) return d.host === host;
  const suffix = d.suffix as string;
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, -suffix.length);
  return label.length > 0 && !label.includes('.');
}

/** The policies that select this pod and name this host (in any mode). */
export function policiesForHost(policies: readonly CompiledPolicy[], identity: PodIdentity, host: string): CompiledPolicy[] {
  return policies.filter((p) => selects(p, identity) && p.destinations.some((d) => hostMatches(d, host)));
}

function pathAllowed(d: CompiledDestination, path: string): boolean {
  if (d.paths === null) return true;
  for (const r of d.paths) if ('exact' in r ? path === r.exact : path.startsWith(r.prefix)) return true;
  return false;
}

/** Evaluates one policy that knows the host: null when it allows, else the most specific reason. */
export function evaluate(policy: CompiledPolicy, identity: PodIdentity, req: RequestFacts, now: number): DenyReason | null {
  if (isExpired(policy, now)) return 'policy-expired';
  const posture = checkPosture(policy, identity.images);
  if (posture) return posture;
  if (!inTimeWindows(policy.timeWindows, now)) return 'outside-time-window';
  // One pass over the destinations (no arrays: this runs on every request). A
  // destination that passes every check allows; otherwise the answer is the
  // check that the furthest-reaching destination failed: port, then method,
  // then path, then plaintext.
  let reached = 0;
  for (const d of policy.destinations) {
    if (!hostMatches(d, req.host) || !d.ports.includes(req.port)) continue;
    if (d.methods !== null && !d.methods.includes(req.method as never)) {
      if (reached < 1) reached = 1;
      continue;
    }
    if (!pathAllowed(d, req.path)) {
      if (reached < 2) reached = 2;
      continue;
    }
    if (req.tls || d.plaintext) return null;
    reached = 3;
  }
  return REACHED[reached] as DenyReason;
}

const REACHED: readonly DenyReason[] = ['port-not-allowed', 'method-not-allowed', 'path-not-allowed', 'plaintext-not-allowed'];

/**
 * Decides one request. Enforce policies win over Audit ones; among Enforce
 * policies the first that allows gives the credential; when none allows, the
 * first one's reason is the answer.
 */
export function decide(policies: readonly CompiledPolicy[], identity: PodIdentity, req: RequestFacts, now: number): Decision {
  return decideAmong(policiesForHost(policies, identity, req.host), identity, req, now);
}

/**
 * `decide` over the policies already known to select this pod and name the
 * host (`policiesForHost`, which the pipeline remembers per snapshot and host).
 * Allocates nothing but the decision: it runs on every request.
 */
export function decideAmong(known: readonly CompiledPolicy[], identity: PodIdentity, req: RequestFacts, now: number): Decision {
  if (known.length === 0) return { action: 'passthrough', reason: 'no-policy' };
  let firstEnforce: CompiledPolicy | null = null;
  let enforceReason: DenyReason | null = null;
  for (const policy of known) {
    if (policy.mode !== 'Enforce') continue;
    const reason = evaluate(policy, identity, req, now);
    if (reason === null) return { action: 'allow', policy, mode: 'Enforce', reason: 'allowed', inject: true };
    if (firstEnforce === null) {
      firstEnforce = policy;
      enforceReason = reason;
    }
  }
  if (firstEnforce !== null) return { action: 'deny', policy: firstEnforce, mode: 'Enforce', reason: enforceReason as DenyReason };
  let firstAudit: CompiledPolicy | null = null;
  let auditReason: DenyReason | null = null;
  for (const policy of known) {
    const reason = evaluate(policy, identity, req, now);
    if (reason === null) return { action: 'audit', policy, mode: 'Audit', reason: 'allowed', wouldDeny: false };
    if (firstAudit === null) {
      firstAudit = policy;
      auditReason = reason;
    }
  }
  return { action: 'audit', policy: firstAudit as CompiledPolicy, mode: 'Audit', reason: auditReason as DenyReason, wouldDeny: true };
}
