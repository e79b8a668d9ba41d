import t from 'tap';
import { runChecks, type PolicyFacts } from '../../src/reconcile/checks.ts';
import { compiled, policyObject } from '../helpers/objects.ts';
import { compileRaw } from '../../src/policies/compiled-cache.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const facts = (o: Partial<PolicyFacts> = {}): PolicyFacts => ({ now: NOW, secrets: new Map(), apiAudiences: ['https://kubernetes.default.svc'], ...o });
const reasons = (p: Parameters<typeof runChecks>[0], f: PolicyFacts) => runChecks(p, f).map((x) => `${x.severity}:${x.reason}`);

t.test('a plain broker policy passes every check', async (t) => {
  t.same(runChecks(compiled(), facts()), []);
});

t.test('secretRef: the Secret and its key must exist', async (t) => {
  const p = compiled({ provider: { secretRef: { name: 'stripe', key: 'apiKey' } } });
  t.same(reasons(p, facts()), ['error:SecretNotFound'], 'not looked up counts as missing');
  t.same(reasons(p, facts({ secrets: new Map([['stripe', { keys: null }]]) })), ['error:SecretNotFound']);
  const wrongKey = runChecks(p, facts({ secrets: new Map([['stripe', { keys: ['token'] }]]) }));
  t.match(wrongKey, [{ reason: 'SecretKeyNotFound', message: 'secret payments/stripe has no key "apiKey"' }]);
  t.same(runChecks(p, facts({ secrets: new Map([['stripe', { keys: ['apiKey'] }]]) })), []);
});

t.test('expiresAt: a policy past it is an error, one before it is fine', async (t) => {
  t.same(reasons(compiled({ expiresAt: '2026-05-31T23:59:59Z' }), facts()), ['error:Expired']);
  t.same(reasons(compiled({ expiresAt: '2026-06-01T00:00:00Z' }), facts()), ['error:Expired'], 'expiresAt itself grants nothing');
  t.same(reasons(compiled({ expiresAt: '2026-06-01T00:00:01Z' }), facts()), []);
});

t.test('a provider is never sent a token the controller or the API server accepts', async (t) => {
  const sts = (tokenAudience: string) => compiled({ provider: { oauth2TokenExchange: { tokenURL: 'https://sts.example.com/token', tokenAudience } } });
  t.same(reasons(sts('mayfly'), facts()), ['error:ReservedAudience']);
  t.same(reasons(sts('https://kubernetes.default.svc'), facts()), ['error:ReservedAudience']);
  t.same(reasons(sts('sts.example.com'), facts()), []);
  t.same(reasons(compiled({ provider: { broker: { audience: 'mayfly' } } }), facts()), ['error:ReservedAudience']);
});

t.test('provider URLs must be https without credentials', async (t) => {
  const p = compiled({ provider: { oauth2ClientCredentials: { tokenURL: 'https://user:pw@login.example.com/token', clientID: 'x' } } });
  t.match(runChecks(p, facts()), [{ reason: 'ProviderUnusable', message: /must not carry credentials/ }]);
});

t.test('caBundles must hold parseable certificates', async (t) => {
  const p = compiled({ provider: { vault: { address: 'https://vault.example.com', role: 'r', secretPath: 'secret/data/x', caBundle: 'not a pem' } } });
  t.match(runChecks(p, facts()), [{ reason: 'InvalidCABundle', message: 'caBundle of provider vault contains no PEM certificate' }]);
  const broken = compiled({ provider: { vault: { address: 'https://vault.example.com', role: 'r', secretPath: 'secret/data/x', caBundle: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' } } });
  t.match(runChecks(broken, facts()), [{ reason: 'InvalidCABundle', message: /does not parse/ }]);
});

t.test('time windows must name time zones the runtime knows', async (t) => {
  const window = (timeZone: string) => compileRaw({ ...policyObject(), spec: { ...(policyObject().spec as object), conditions: { timeWindows: [{ days: ['Mon'], start: '08:00', end: '18:00', timeZone }] } } });
  const known = window('Europe/Berlin');
  const unknown = window('Europe/Atlantis');
  if (!known.ok || !unknown.ok) throw new Error('test policies must pass the schema');
  t.same(runChecks(known.compiled, facts()), []);
  t.match(runChecks(unknown.compiled, facts()), [{ reason: 'UnknownTimeZone', message: 'time zone "Europe/Atlantis" is not a known IANA time zone' }]);
});
