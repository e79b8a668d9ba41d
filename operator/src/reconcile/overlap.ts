// Policies of one namespace that claim the same destination for the same pods.
// The sidecar has to pick one credential; the operator reports the overlap so a
// person decides. Pure.
import { isDeepStrictEqual } from 'node:util';
import { selects, type CompiledDestination, type CompiledPolicy } from '@mayfly/crds';
import type { Finding } from './checks.ts';
import type { PodView } from './pods.ts';

/** Whether two destination hosts can name the same server. */
export function hostsOverlap(a: CompiledDestination, b: CompiledDestination): boolean {
  if (!a.wildcard && !b.wildcard) return a.host === b.host;
  if (a.wildcard && b.wildcard) return a.host === b.host;
  const [wild, exact] = a.wildcard ? [a, b] : [b, a];
  const suffix = wild.suffix ?? wild.host.slice(1);
  // "*.example.com" matches exactly one more label.
  return exact.host.endsWith(suffix) && !exact.host.slice(0, -suffix.length).includes('.') && exact.host.length > suffix.length;
}

/** "host:port" pairs both policies claim. */
export function sharedDestinations(a: CompiledPolicy, b: CompiledPolicy): string[] {
  const out = new Set<string>();
  for (const da of a.destinations) {
    for (const db of b.destinations) {
      if (!hostsOverlap(da, db)) continue;
      for (const port of da.ports) if (db.ports.includes(port)) out.add(`${da.wildcard ? db.host : da.host}:${port}`);
    }
  }
  return [...out].sort();
}

/** Overlaps of `policy` with the other policies of its namespace, as warnings. */
export function findOverlaps(policy: CompiledPolicy, others: readonly CompiledPolicy[], pods: readonly PodView[]): Finding[] {
  const findings: Finding[] = [];
  const mine = pods.filter((p) => p.active && selects(policy, p));
  for (const other of [...others].sort((x, y) => x.name.localeCompare(y.name))) {
    if (other.id === policy.id || other.namespace !== policy.namespace) continue;
    const shared = sharedDestinations(policy, other);
    if (shared.length === 0) continue;
    const common = mine.filter((p) => selects(other, p)).map((p) => p.name);
    const sameSubjects = isDeepStrictEqual(policy.subjects, other.subjects);
    if (common.length === 0 && !sameSubjects) continue;
    const who = common.length > 0 ? `pod${common.length > 1 ? 's' : ''} ${common.slice(0, 3).join(', ')}${common.length > 3 ? ` and ${common.length - 3} more` : ''}` : 'the same subjects';
    findings.push({
      check: 'noOverlap',
      severity: 'warning',
      reason: 'Overlap',
      message: `overlaps policy ${other.name} on ${shared.join(', ')} for ${who}`,
    });
  }
  return findings;
}
