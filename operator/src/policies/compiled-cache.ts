// Validates and compiles WorkloadPolicies as they come out of the informer
// cache, once per (uid, generation): status writes change resourceVersion but
// not generation, so they never cost a recompile.
import { compilePolicy, validateWorkloadPolicy, type CompiledPolicy, type FieldError, type WorkloadPolicy } from '@mayfly/crds';

export type CompileOutcome = { ok: true; policy: WorkloadPolicy; compiled: CompiledPolicy } | { ok: false; errors: FieldError[] };

/** The parts of a policy object the cache keys on. */
export interface RawPolicy {
  metadata?: { name?: string; namespace?: string; uid?: string; generation?: number };
}

/** Validates with the CRD's own rules and compiles; pure. */
export function compileRaw(raw: unknown): CompileOutcome {
  // Status is the controller's output, never an input to the compiled form.
  const { status: _status, ...withoutStatus } = raw as Record<string, unknown>;
  const result = validateWorkloadPolicy(withoutStatus);
  if (!result.valid) return { ok: false, errors: result.errors };
  try {
    return { ok: true, policy: result.policy, compiled: compilePolicy(result.policy) };
  } catch (err) {
    return { ok: false, errors: [{ path: 'spec', message: (err as Error).message, source: 'object' }] };
  }
}

export class CompiledCache {
  readonly #byKey = new Map<string, { version: string; outcome: CompileOutcome }>();

  get(raw: RawPolicy): CompileOutcome {
    const m = raw.metadata ?? {};
    const key = `${m.namespace ?? ''}/${m.name ?? ''}`;
    const version = `${m.uid ?? ''}@${m.generation ?? 0}`;
    const hit = this.#byKey.get(key);
    if (hit && hit.version === version) return hit.outcome;
    const outcome = compileRaw(raw);
    this.#byKey.set(key, { version, outcome });
    return outcome;
  }

  forget(namespace: string, name: string): void {
    this.#byKey.delete(`${namespace}/${name}`);
  }

  get size(): number {
    return this.#byKey.size;
  }
}

/** Whether the policy still grants anything at `now` (expiresAt is exclusive). */
export function grants(policy: CompiledPolicy, now: number): boolean {
  return policy.expiresAt === null || Date.parse(policy.expiresAt) > now;
}
