// Reads policies from text (YAML or JSON, several documents), validates each
// with the CRD's rules and compiles the valid ones.
import { compilePolicy, type CompiledPolicy } from './compile.ts';
import { parseDocuments } from './documents.ts';
import { validateWorkloadPolicy, type FieldError } from './validate.ts';

export interface LoadedPolicy {
  index: number;
  /** "namespace/name" when the document has them. */
  name: string;
  errors: FieldError[];
  compiled?: CompiledPolicy;
}

export function loadPolicies(text: string, defaultNamespace = 'default'): LoadedPolicy[] {
  return parseDocuments(text).map((doc) => {
    if (doc.error !== undefined) {
      return { index: doc.index, name: `document ${doc.index + 1}`, errors: [{ path: '', message: `not YAML or JSON: ${doc.error}`, source: 'object' }] };
    }
    const meta = (doc.object as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
    const name = `${typeof meta?.namespace === 'string' ? meta.namespace : defaultNamespace}/${typeof meta?.name === 'string' ? meta.name : `document ${doc.index + 1}`}`;
    const result = validateWorkloadPolicy(doc.object);
    if (!result.valid) return { index: doc.index, name, errors: result.errors };
    const policy = result.policy;
    policy.metadata.namespace ??= defaultNamespace;
    return { index: doc.index, name, errors: [], compiled: compilePolicy(policy) };
  });
}
