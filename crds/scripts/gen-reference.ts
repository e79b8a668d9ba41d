// Generates docs/reference/workloadpolicy.md from the CRD: every field with its
// type, default, constraints and description, and every CEL rule's message.
//   node crds/scripts/gen-reference.ts           # write
//   node crds/scripts/gen-reference.ts --check   # fail if out of date
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { workloadPolicySchema, type SchemaNode } from '../src/crd.ts';

const OUT = fileURLToPath(new URL('../../docs/reference/workloadpolicy.md', import.meta.url));

function typeOf(n: SchemaNode): string {
  if (n.type === 'array') return `[]${n.items ? typeOf(n.items) : 'any'}`;
  if (n.type === 'object' && n.additionalProperties && typeof n.additionalProperties === 'object') return `map[string]${typeOf(n.additionalProperties)}`;
  return n.type ?? 'any';
}

function constraints(n: SchemaNode): string[] {
  const out: string[] = [];
  if (Array.isArray(n.enum)) out.push(`one of ${(n.enum as unknown[]).map((v) => `\`${String(v)}\``).join(', ')}`);
  if (n.items && Array.isArray(n.items.enum)) out.push(`items one of ${(n.items.enum as unknown[]).map((v) => `\`${String(v)}\``).join(', ')}`);
  if (n.default !== undefined) out.push(`default \`${JSON.stringify(n.default)}\``);
  if (n.minItems !== undefined) out.push(`at least ${String(n.minItems)} items`);
  if (n.maxItems !== undefined) out.push(`at most ${String(n.maxItems)} items`);
  if (n.maxLength !== undefined) out.push(`at most ${String(n.maxLength)} characters`);
  if (n.minimum !== undefined) out.push(`${String(n.minimum)}-${String(n.maximum)}`);
  if (n.format) out.push(`format ${String(n.format)}`);
  return out;
}

function rules(n: SchemaNode): string[] {
  return [...(n['x-kubernetes-validations'] ?? []), ...(n.items?.['x-kubernetes-validations'] ?? [])].map((r) => r.message ?? r.rule);
}

const rows: string[] = [];
function walk(n: SchemaNode, path: string, required: boolean): void {
  const desc = (n.description ?? '').replace(/\s+/g, ' ').trim();
  const extra = [...constraints(n), ...rules(n).map((m) => `rule: ${m}`)];
  rows.push(`| \`${path}\`${required ? ' *' : ''} | ${typeOf(n)} | ${[desc, ...extra.map((e) => `<br>• ${e}`)].join('').replace(/\|/g, '\\|')} |`);
  const obj = n.type === 'array' ? n.items : n;
  for (const [k, child] of Object.entries(obj?.properties ?? {})) {
    walk(child, `${path}${n.type === 'array' ? '[]' : ''}.${k}`, (obj?.required ?? []).includes(k));
  }
}
for (const top of ['spec', 'status'] as const) {
  const n = workloadPolicySchema.properties?.[top];
  if (n) walk(n, top, top === 'spec');
}

const text = `# WorkloadPolicy reference

<!-- Generated from crds/mayfly.dev_workloadpolicies.yaml by crds/scripts/gen-reference.ts. Do not edit. -->

\`apiVersion: mayfly.dev/v1alpha1\`, \`kind: WorkloadPolicy\`, namespaced, short name \`wp\`.
The same descriptions are served by the API server: \`kubectl explain workloadpolicy.spec --recursive\`.
Fields marked * are required. Every rule listed is enforced by the API server (schema and CEL)
and by \`mayfly policy validate\`.

| field | type | description |
|---|---|---|
${rows.join('\n')}
`;

if (process.argv.includes('--check')) {
  if (readFileSync(OUT, 'utf8') !== text) {
    console.error('docs/reference/workloadpolicy.md is out of date: run node crds/scripts/gen-reference.ts');
    process.exit(1);
  }
} else {
  writeFileSync(OUT, text);
  console.log(`wrote ${OUT}`);
}
