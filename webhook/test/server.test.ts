// The admission server over real HTTPS on loopback: AdmissionReview in and
// out, refusals, skips with Events, dryRun without side effects, malformed
// requests answered with 400 (and the server keeps serving), metrics, and a
// serving certificate swapped without a restart.
import t from 'tap';
import jsonpatch from 'fast-json-patch';
import { buildWebhookServer, createLogger, type AdmissionEvent, type Pod, type WebhookServer } from '@mayfly/webhook';
import { GOLDEN_SETTINGS, compilePolicies } from './golden.ts';
import { podProblems } from './pod-sanity.ts';
import { httpsRequest, podReview, testPki } from './tls-helpers.ts';
import { pino } from 'pino';

const pki = testPki();
const events: AdmissionEvent[] = [];
let ready = true;
let policiesFail = false;
const policies = compilePolicies([
  {
    apiVersion: 'mayfly.dev/v1alpha1',
    kind: 'WorkloadPolicy',
    metadata: { name: 'to-stripe', namespace: 'shop' },
    spec: {
      subjects: { serviceAccounts: ['orders'] },
      destinations: [{ host: 'api.stripe.com' }],
      credential: { provider: { oauth2TokenExchange: { tokenURL: 'https://sts.example.com/token', tokenAudience: 'stripe-proxy' } }, inject: { header: 'Authorization' } },
    },
  },
]);

const server: WebhookServer = buildWebhookServer(
  { settings: GOLDEN_SETTINGS },
  {
    certificate: pki.serving,
    policiesFor: (ns) => {
      if (policiesFail) throw new Error('cache not synced');
      return policies.filter((p) => p.namespace === ns);
    },
    recordEvent: async (e) => {
      events.push(e);
    },
    ready: () => ready,
    logger: createLogger('silent', pino.destination('/dev/null')),
  },
);
await server.app.listen({ port: 0, host: '127.0.0.1' });
const address = server.app.server.address() as { port: number };
const base = `https://127.0.0.1:${address.port}`;
t.teardown(() => server.app.close());

const pod = (over: Partial<Pod['spec']> = {}, meta: Record<string, unknown> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'orders-1', namespace: 'shop', labels: { app: 'orders' }, ...meta },
  spec: { serviceAccountName: 'orders', containers: [{ name: 'app', image: 'ghcr.io/acme/orders:1' }], ...over },
});

async function mutate(body: unknown) {
  const res = await httpsRequest(`${base}/mutate`, pki.ca.cert, { method: 'POST', body: JSON.stringify(body) });
  return { ...res, review: res.status === 200 ? (res.json() as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType?: string; patch?: string; status?: { code: number; message: string } } }) : undefined };
}

t.test('a pod CREATE is answered with a JSON patch that injects the sidecar', async (t) => {
  const input = pod();
  const res = await mutate(podReview(input));
  t.equal(res.status, 200);
  const r = res.review!;
  t.equal(r.apiVersion, 'admission.k8s.io/v1');
  t.equal(r.kind, 'AdmissionReview');
  t.equal(r.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002', 'the response carries the request uid');
  t.equal(r.response.allowed, true);
  t.equal(r.response.patchType, 'JSONPatch');
  const patch = JSON.parse(Buffer.from(r.response.patch!, 'base64').toString('utf8')) as jsonpatch.Operation[];
  const injected = jsonpatch.applyPatch(structuredClone(input), patch, true, false).newDocument;
  t.same(podProblems(injected), []);
  const tokens = injected.spec!.volumes!.find((v) => v.name === 'mayfly-tokens')!.projected!.sources!.map((s) => s.serviceAccountToken!.audience);
  t.same(tokens, ['mayfly', 'stripe-proxy'], 'the policy from policiesFor decides the token audiences');
});

t.test('a pod without a namespace in its object takes it from the request', async (t) => {
  const input = pod();
  delete input.metadata!.namespace;
  const res = await mutate(podReview(input, { namespace: 'shop' }));
  const patch = JSON.parse(Buffer.from(res.review!.response.patch!, 'base64').toString('utf8')) as jsonpatch.Operation[];
  t.notOk(patch.some((op) => op.path.startsWith('/metadata/namespace')), 'the namespace is not written into the pod');
  t.match(JSON.stringify(patch), /stripe-proxy/);
});

t.test('a refusal is denied with the coded message and records a Warning event', async (t) => {
  events.length = 0;
  const res = await mutate(podReview(pod({ containers: [{ name: 'vpn', image: 'vpn:1', securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] })));
  t.equal(res.review!.response.allowed, false);
  t.equal(res.review!.response.status!.code, 403);
  t.match(res.review!.response.status!.message, /^mayfly: CaptureCapability: container vpn adds capability "NET_ADMIN"/);
  await new Promise((r) => setImmediate(r));
  t.equal(events.length, 1);
  t.match(events[0], { type: 'Warning', reason: 'MayflyRefusedCaptureCapability', involvedObject: { kind: 'Pod', name: 'orders-1', namespace: 'shop' } });
});

t.test('a skip is admitted unchanged and records an event on the owner of an unnamed pod', async (t) => {
  events.length = 0;
  const input = pod({ hostNetwork: true }, { name: undefined, generateName: 'node-agent-', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'node-agent', uid: 'u-1', controller: true }] });
  const res = await mutate(podReview(input, { name: undefined }));
  t.same(res.review!.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  await new Promise((r) => setImmediate(r));
  t.match(events, [{ type: 'Normal', reason: 'MayflySkippedHostNetwork', involvedObject: { kind: 'DaemonSet', name: 'node-agent', uid: 'u-1' } }]);
});

t.test('dryRun requests are answered the same way but record no event', async (t) => {
  events.length = 0;
  const refused = await mutate(podReview(pod({ hostNetwork: true }), { dryRun: true }));
  t.equal(refused.review!.response.allowed, true);
  const denied = await mutate(podReview(pod({ containers: [{ name: 'a', image: 'a', securityContext: { runAsUser: 1337 } }] }), { dryRun: true }));
  t.equal(denied.review!.response.allowed, false);
  await new Promise((r) => setImmediate(r));
  t.same(events, [], 'no side effects');
});

t.test('other kinds and operations are allowed unchanged', async (t) => {
  const res = await mutate(podReview(pod(), { operation: 'UPDATE' }));
  t.same(res.review!.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  const dep = await mutate(podReview({ metadata: { name: 'd' } }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }));
  t.equal(dep.review!.response.allowed, true);
});

t.test('malformed requests get HTTP 400 with a message, and the server keeps serving', async (t) => {
  const cases: Array<[string, string | undefined, RegExp, number?]> = [
    ['not json', '{"apiVersion":', /malformed request/],
    ['empty body', '', /malformed request/],
    ['wrong apiVersion', JSON.stringify({ ...podReview(pod()), apiVersion: 'admission.k8s.io/v1beta1' }), /apiVersion must be "admission.k8s.io\/v1"/],
    ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /must have required property 'request'/],
    ['no uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' } }), /request must have required property 'uid'/],
    ['array body', '[]', /body must be object/],
    ['bad operation', JSON.stringify(podReview(pod(), { operation: 'EXPLODE' })), /request.operation must be equal to one of the allowed values/],
  ];
  for (const [name, body, message] of cases) {
    const res = await httpsRequest(`${base}/mutate`, pki.ca.cert, { method: 'POST', body: body ?? '' });
    t.equal(res.status, 400, `${name}: 400`);
    t.match(res.json(), { code: 'ERR_MALFORMED_REVIEW', message }, `${name}: message`);
  }
  const text = await httpsRequest(`${base}/mutate`, pki.ca.cert, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
  t.equal(text.status, 400, 'text is not an AdmissionReview');
  const xml = await httpsRequest(`${base}/mutate`, pki.ca.cert, { method: 'POST', body: '<a/>', headers: { 'content-type': 'application/xml' } });
  t.equal(xml.status, 415, 'unsupported media type');
  const huge = await httpsRequest(`${base}/mutate`, pki.ca.cert, { method: 'POST', body: JSON.stringify(podReview(pod({}, { annotations: { big: 'x'.repeat(5 * 1024 * 1024) } }))) });
  t.equal(huge.status, 413, 'a body over the limit is refused');
  const health = await httpsRequest(`${base}/healthz`, pki.ca.cert);
  t.equal(health.status, 200, 'still serving');
});

t.test('a malformed pod inside a valid review is denied with code 400, not a crash', async (t) => {
  const res = await mutate(podReview({ metadata: { name: 'x', namespace: 'shop' }, spec: { containers: 'nginx' } }));
  t.equal(res.review!.response.allowed, false);
  t.equal(res.review!.response.status!.code, 400);
  t.match(res.review!.response.status!.message, /malformed pod: spec.containers must be array/);
  const noObject = await mutate(podReview(null));
  t.equal(noObject.review!.response.status!.code, 400);
});

t.test('when policies are unavailable the pod is denied (fail closed), with a retryable code', async (t) => {
  policiesFail = true;
  t.teardown(() => { policiesFail = false; });
  const res = await mutate(podReview(pod()));
  t.equal(res.review!.response.allowed, false);
  t.equal(res.review!.response.status!.code, 503);
  t.match(res.review!.response.status!.message, /policies unavailable/);
});

t.test('readyz follows the ready dependency; healthz does not', async (t) => {
  ready = false;
  t.equal((await httpsRequest(`${base}/readyz`, pki.ca.cert)).status, 503);
  t.equal((await httpsRequest(`${base}/healthz`, pki.ca.cert)).status, 200);
  ready = true;
  t.equal((await httpsRequest(`${base}/readyz`, pki.ca.cert)).status, 200);
});

t.test('metrics count admissions by result and reason and time them', async (t) => {
  const res = await httpsRequest(`${base}/metrics`, pki.ca.cert);
  t.equal(res.status, 200);
  t.match(res.body, /mayfly_webhook_admissions_total\{result="injected",reason="Injected"\} [1-9]/);
  t.match(res.body, /mayfly_webhook_admissions_total\{result="refused",reason="CaptureCapability"\} 1/);
  t.match(res.body, /mayfly_webhook_admissions_total\{result="skipped",reason="HostNetwork"\} [1-9]/);
  t.match(res.body, /mayfly_webhook_admissions_total\{result="error",reason="ERR_MALFORMED_POD"\} [1-9]/);
  t.match(res.body, /mayfly_webhook_admissions_total\{result="error",reason="ERR_POLICIES_UNAVAILABLE"\} 1/);
  t.match(res.body, /mayfly_webhook_admission_duration_seconds_bucket\{le="0.01",result="injected"\} [1-9]/);
});

t.test('the serving certificate is swapped without a restart', async (t) => {
  const before = await httpsRequest(`${base}/healthz`, pki.ca.cert);
  const next = testPki();
  server.setCertificate(next.serving);
  const after = await httpsRequest(`${base}/healthz`, next.ca.cert);
  t.equal(after.status, 200, 'new connections are served with the new certificate');
  t.not(after.serial, before.serial);
  await t.rejects(httpsRequest(`${base}/healthz`, pki.ca.cert), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'the old CA no longer verifies it');
  server.setCertificate(pki.serving);
});
