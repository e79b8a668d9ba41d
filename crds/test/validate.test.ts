import t from 'tap';
import { validateWorkloadPolicy, loadPolicies } from '@mayfly/crds';
import { examples } from './examples.ts';

const valid = examples('valid');
const invalid = examples('invalid');

t.ok(valid.length >= 5, 'several realistic valid examples');
t.ok(invalid.length >= 15, 'at least 15 invalid examples');

for (const ex of valid) {
  t.test(`valid: ${ex.file}`, async (t) => {
    const r = validateWorkloadPolicy(ex.object);
    t.same(r.errors, [], 'no errors');
    t.equal(r.valid, true);
  });
}

for (const ex of invalid) {
  t.test(`invalid: ${ex.file}`, async (t) => {
    t.ok(ex.expectField, 'example names the field it is rejected at');
    const r = validateWorkloadPolicy(ex.object);
    t.equal(r.valid, false, 'rejected');
    const paths = r.errors.map((e) => e.path);
    t.ok(paths.includes(ex.expectField as string), `reports ${ex.expectField} (got ${paths.join(', ')})`);
  });
}

t.test('defaults are applied as the API server applies them', async (t) => {
  const [loaded] = loadPolicies(`
apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: d, namespace: team }
spec:
  subjects: { serviceAccounts: [api] }
  destinations: [{ host: api.example.com }]
  credential:
    provider: { broker: { audience: api } }
    inject: { header: Authorization }
`);
  t.same(loaded?.errors, []);
  const c = loaded?.compiled;
  t.equal(c?.mode, 'Enforce');
  t.same(c?.destinations[0]?.ports, [443]);
  t.same(c?.credential.provider, { kind: 'broker', audience: 'api', ttlSeconds: 600 });
  t.same(c?.credential.inject, { kind: 'header', header: 'Authorization', format: 'Bearer {{token}}' });
});

t.test('apiVersion, kind and metadata.name are checked', async (t) => {
  const r = validateWorkloadPolicy({ apiVersion: 'v1', kind: 'Pod', metadata: {}, spec: {} });
  t.equal(r.valid, false);
  const paths = r.errors.map((e) => e.path);
  for (const p of ['apiVersion', 'kind', 'metadata.name', 'spec.subjects', 'spec.destinations', 'spec.credential']) {
    t.ok(paths.includes(p), `reports ${p}`);
  }
});

t.test('non-objects and broken YAML are reported, not thrown', async (t) => {
  t.equal(validateWorkloadPolicy('policy').valid, false);
  t.equal(validateWorkloadPolicy(null).valid, false);
  const docs = loadPolicies('a: [unclosed\n---\nkind: WorkloadPolicy\n');
  t.equal(docs.length, 2);
  t.match(docs[0]?.errors[0]?.message, /not YAML or JSON/);
  t.equal(docs[1]?.errors.length !== 0, true);
});

t.test('every CEL rule of the CRD is exercised by an invalid example', async (t) => {
  const { workloadPolicySchema } = await import('@mayfly/crds');
  const messages: string[] = [];
  (function walk(n: Record<string, unknown>) {
    for (const r of (n['x-kubernetes-validations'] as Array<{ message: string }> | undefined) ?? []) messages.push(r.message);
    for (const v of Object.values(n)) if (v && typeof v === 'object') walk(v as Record<string, unknown>);
  })(workloadPolicySchema as Record<string, unknown>);
  const seen = new Set(invalid.flatMap((ex) => (validateWorkloadPolicy(ex.object).valid ? [] : (validateWorkloadPolicy(ex.object) as { errors: Array<{ message: string }> }).errors.map((e) => e.message))));
  const unexercised = messages.filter((m) => !seen.has(m));
  t.ok(messages.length >= 30, `${messages.length} rules`);
  t.same(unexercised, [], 'every rule has an invalid example that breaks it');
});
