import t from 'tap';
import { loadPolicies, selects, requiredAudiences, matchesLabelSelector, parseDuration, type CompiledPolicy } from '@mayfly/crds';
import { examples } from './examples.ts';

function compileAll(): CompiledPolicy[] {
  return examples('valid').flatMap((ex) => loadPolicies(ex.text).map((l) => l.compiled as CompiledPolicy));
}

t.test('every valid example compiles', async (t) => {
  const all = compileAll();
  t.equal(all.length, examples('valid').length);
  for (const p of all) t.ok(p.tokenAudiences.length > 0, `${p.id} needs at least one audience`);
});

t.test('paths compile to exact and prefix rules', async (t) => {
  const stripe = compileAll().find((p) => p.id === 'payments/payments-to-stripe');
  t.same(stripe?.destinations[0]?.paths, [{ exact: '/v1/charges' }, { prefix: '/v1/charges/' }, { exact: '/v1/refunds' }]);
  const inv = compileAll().find((p) => p.id === 'shop/orders-to-inventory');
  t.same(inv?.destinations[1], { host: '*.inventory.example.com', wildcard: true, suffix: '.inventory.example.com', ports: [443], methods: ['GET'], paths: null, plaintext: false, allowPrivateAddresses: false });
});

t.test('selects: namespace, service account and labels must all match', async (t) => {
  const stripe = compileAll().find((p) => p.id === 'payments/payments-to-stripe') as CompiledPolicy;
  const pod = { namespace: 'payments', serviceAccount: 'payments-api', labels: { app: 'payments' } };
  t.equal(selects(stripe, pod), true);
  t.equal(selects(stripe, { ...pod, namespace: 'other' }), false, 'other namespace');
  t.equal(selects(stripe, { ...pod, serviceAccount: 'default' }), false, 'other service account');
  t.equal(selects(stripe, { ...pod, labels: { app: 'web' } }), false, 'other labels');
});

t.test('label selector operators', async (t) => {
  const sel = { matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['db'] }, { key: 'app', operator: 'Exists' as const }, { key: 'legacy', operator: 'DoesNotExist' as const }] };
  t.equal(matchesLabelSelector(sel, { app: 'x', tier: 'web' }), true);
  t.equal(matchesLabelSelector(sel, { app: 'x', tier: 'db' }), false);
  t.equal(matchesLabelSelector(sel, { tier: 'web' }), false);
  t.equal(matchesLabelSelector(sel, { app: 'x', legacy: '' }), false);
  t.equal(matchesLabelSelector({}, {}), true, 'empty selector matches all');
});

t.test('audiences: mayfly plus what each provider needs', async (t) => {
  const all = compileAll();
  const aud = requiredAudiences(all);
  t.ok(aud.includes('mayfly'));
  t.ok(aud.includes('sts.amazonaws.com'));
  t.ok(aud.includes('vault'));
  t.ok(aud.includes('api://AzureADTokenExchange'));
  t.same(aud, [...aud].sort(), 'sorted, so injection is deterministic');
});

t.test('durations', async (t) => {
  t.equal(parseDuration('1h30m'), 5400);
  t.equal(parseDuration('45s'), 45);
  t.throws(() => parseDuration(''));
  t.throws(() => parseDuration('10 minutes'));
});
