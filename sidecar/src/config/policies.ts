// Reads policies from text: WorkloadPolicy YAML/JSON documents (validated and
// compiled with the CRD's own rules), JSON of already compiled policies, or a
// sidecar config file's `policies:` list holding either. Pure.
import { createHash } from 'node:crypto';
import { loadPolicies, parseDocuments, type CompiledPolicy } from '@mayfly/crds';

export interface ParsedPolicies {
  policies: CompiledPolicy[];
  errors: string[];
  revision: string;
}

function isCompiled(v: unknown): v is CompiledPolicy {
  const o = v as Partial<CompiledPolicy> | null;
  return typeof o === 'object' && o !== null && typeof o.id === 'string' && Array.isArray(o.destinations) && typeof o.credential?.scope === 'string' && typeof o.mode === 'string';
}

/** Every policy in `items` (objects), compiled. */
export function compileItems(items: readonly unknown[]): { policies: CompiledPolicy[]; errors: string[] } {
  const policies: CompiledPolicy[] = [];
  const errors: string[] = [];
  for (const item of items) {
    if (isCompiled(item)) {
      policies.push(item);
      continue;
    }
    for (const loaded of loadPolicies(JSON.stringify(item))) {
      if (loaded.compiled) policies.push(loaded.compiled);
      else errors.push(...loaded.errors.map((e) => `${loaded.name}: ${e.path || '(object)'}: ${e.message}`));
    }
  }
  const ids = new Set<string>();
  for (const p of policies) {
    if (ids.has(p.id)) errors.push(`${p.id}: defined more than once`);
    ids.add(p.id);
  }
  return { policies, errors };
}

export function parsePolicyText(text: string): ParsedPolicies {
  const items: unknown[] = [];
  const errors: string[] = [];
  for (const doc of parseDocuments(text)) {
    if (doc.error !== undefined) {
      errors.push(`document ${doc.index + 1}: not YAML or JSON: ${doc.error}`);
      continue;
    }
    const o = doc.object as { policies?: unknown; kind?: unknown } | null;
    if (o && typeof o === 'object' && !('kind' in o) && Array.isArray(o.policies)) items.push(...o.policies);
    else items.push(o);
  }
  const compiled = compileItems(items);
  return { policies: compiled.policies, errors: [...errors, ...compiled.errors], revision: createHash('sha256').update(text).digest('hex').slice(0, 12) };
}
