import t from 'tap';
import { loadPolicies, type CompiledPolicy } from '@mayfly/crds';
import { decide, hostMatches } from '../../src/policy/decide.ts';
import { inTimeWindow, normalizeImage } from '@mayfly/crds/conditions';
import { checkPosture } from '../../src/policy/conditions.ts';
import type { PodIdentity } from '../../src/contracts.ts';

function policy(spec: string, name = 'p', ns = 'payments'): CompiledPolicy {
  const [l] = loadPolicies(`apiVersion: mayfly.dev/v1alpha1\nkind: WorkloadPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}`);
  if (!l?.compiled) throw new Error(JSON.stringify(l?.errors));
  return l.compiled;
}

const base = `  subjects: { serviceAccounts: [api] }
  credential: { provider: { broker: { audience: a } }, inject: { header: Authorization } }
`;
const id: PodIdentity = { namespace: 'payments', name: 'p-0', uid: 'u', serviceAccount: 'api', labels: {}, images: ['ghcr.io/acme/app@sha256:' + 'b'.repeat(64)] };
const NOW = Date.parse('2026-03-04T10:00:00Z'); // a Wednesday
const req = (o: Partial<{ host: string; port: number; method: string; path: string; tls: boolean }> = {}) => ({ host: 'api.example.com', port: 443, method: 'GET', path: '/v1/charges', tls: true, ...o });

const stripe = policy(`${base}  destinations: [{ host: api.example.com, methods: [GET, POST], paths: ["/v1/charges", "/v1/charges/*"] }]\n`);

t.test('a host no policy names is passed through', async (t) => {
  t.same(decide([stripe], id, req({ host: 'other.example.com' }), NOW), { action: 'passthrough', reason: 'no-policy' });
});

t.test('allowed requests name the policy; every mismatch has its reason', async (t) => {
  const d = decide([stripe], id, req(), NOW);
  t.equal(d.action, 'allow');
  t.equal(d.action === 'allow' && d.policy.id, 'payments/p');
  t.equal(decide([stripe], id, req({ path: '/v1/charges/ch_1' }), NOW).action, 'allow');
  const reason = (o: Parameters<typeof req>[0]) => {
    const r = decide([stripe], id, req(o), NOW);
    return r.action === 'deny' ? r.reason : r.action;
  };
  t.equal(reason({ path: '/v1/refunds' }), 'path-not-allowed');
  t.equal(reason({ path: '/v1/chargesX' }), 'path-not-allowed', 'exact path does not match a longer one');
  t.equal(reason({ method: 'DELETE' }), 'method-not-allowed');
  t.equal(reason({ port: 8443 }), 'port-not-allowed');
  t.equal(reason({ tls: false }), 'plaintext-not-allowed');
});

t.test('policies of other service accounts or namespaces do not count', async (t) => {
  t.equal(decide([stripe], { ...id, serviceAccount: 'other' }, req(), NOW).action, 'passthrough');
  t.equal(decide([stripe], { ...id, namespace: 'other' }, req(), NOW).action, 'passthrough');
});

t.test('wildcards cover exactly one more label; look-alikes never match', async (t) => {
  const w = policy(`${base}  destinations: [{ host: "*.example.com" }]\n`);
  const d = w.destinations[0]!;
  t.ok(hostMatches(d, 'a.example.com'));
  t.notOk(hostMatches(d, 'example.com'));
  t.notOk(hostMatches(d, 'a.b.example.com'));
  t.notOk(hostMatches(d, 'aexample.com'));
  t.notOk(hostMatches(stripe.destinations[0]!, 'api.example.com.attacker.net'));
  t.equal(decide([stripe], id, req({ host: 'api.example.com.attacker.net' }), NOW).action, 'passthrough');
});

t.test('posture, time windows and expiry deny', async (t) => {
  const posture = policy(`${base}  posture: { images: { allowedRegistries: ["ghcr.io/acme/"], requireDigest: true } }\n  destinations: [{ host: api.example.com }]\n`);
  t.equal(decide([posture], id, req(), NOW).action, 'allow');
  const r1 = decide([posture], { ...id, images: ['ghcr.io/acme-evil/app@sha256:' + 'b'.repeat(64)] }, req(), NOW);
  t.equal(r1.action === 'deny' && r1.reason, 'posture-registry');
  const r2 = decide([posture], { ...id, images: ['ghcr.io/acme/app:latest'] }, req(), NOW);
  t.equal(r2.action === 'deny' && r2.reason, 'posture-digest');
  const windowed = policy(`${base}  conditions: { timeWindows: [{ days: [Mon, Tue], start: "06:00", end: "22:00", timeZone: Europe/Berlin }] }\n  destinations: [{ host: api.example.com }]\n`);
  const r3 = decide([windowed], id, req(), NOW);
  t.equal(r3.action === 'deny' && r3.reason, 'outside-time-window');
  const expired = policy(`${base}  expiresAt: "2026-01-01T00:00:00Z"\n  destinations: [{ host: api.example.com }]\n`);
  const r4 = decide([expired], id, req(), NOW);
  t.equal(r4.action === 'deny' && r4.reason, 'policy-expired');
});

t.test('Audit policies decide but never deny; Enforce wins over Audit', async (t) => {
  const audit = policy(`  mode: Audit\n${base}  destinations: [{ host: api.example.com, paths: ["/v1/charges"] }]\n`, 'audit');
  const d = decide([audit], id, req({ path: '/admin' }), NOW);
  t.same({ action: d.action, wouldDeny: d.action === 'audit' && d.wouldDeny, reason: d.reason }, { action: 'audit', wouldDeny: true, reason: 'path-not-allowed' });
  const ok = decide([audit], id, req(), NOW);
  t.equal(ok.action === 'audit' && ok.wouldDeny, false);
  t.equal(decide([audit, stripe], id, req({ path: '/admin' }), NOW).action, 'deny');
  t.equal(decide([audit, stripe], id, req(), NOW).action, 'allow');
});

t.test('time windows across midnight, in the window time zone', async (t) => {
  const w = { days: ['Tue'] as ('Tue')[], start: '22:00', end: '02:00', timeZone: 'UTC' };
  t.ok(inTimeWindow(w as never, Date.parse('2026-03-03T23:00:00Z')), 'Tue 23:00');
  t.ok(inTimeWindow(w as never, Date.parse('2026-03-04T01:59:00Z')), 'Wed 01:59 (started Tue)');
  t.notOk(inTimeWindow(w as never, Date.parse('2026-03-04T02:00:00Z')), 'Wed 02:00 is the end');
  t.notOk(inTimeWindow(w as never, Date.parse('2026-03-04T23:00:00Z')), 'Wed 23:00');
  const berlin = { days: ['Wed'], start: '11:00', end: '12:00', timeZone: 'Europe/Berlin' };
  t.ok(inTimeWindow(berlin as never, NOW), '10:00 UTC is 11:00 in Berlin');
});

t.test('image names are normalised before registry checks', async (t) => {
  t.equal(normalizeImage('nginx'), 'docker.io/library/nginx');
  t.equal(normalizeImage('acme/app:1'), 'docker.io/acme/app:1');
  t.equal(normalizeImage('localhost:5000/x'), 'localhost:5000/x');
  const p = policy(`${base}  posture: { images: { allowedRegistries: ["docker.io/library/"] } }\n  destinations: [{ host: api.example.com }]\n`);
  t.equal(checkPosture(p, ['nginx:1']), null);
});
