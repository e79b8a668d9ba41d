// The webhook on a real control plane (etcd, kube-apiserver,
// kube-controller-manager): a MutatingWebhookConfiguration pointing at the
// webhook on loopback, its caBundle written by the webhook's own certificate
// manager from a CA it keeps in a Secret. Pods, Deployments (through the
// ReplicaSet controller) and Jobs created with kubectl are stored mutated
// exactly as the golden files say; refusals are refused by the API server with
// the webhook's message and an Event; dryRun records nothing; with the webhook
// down, opted-in namespaces are refused and others are untouched.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import type { KubeConfig } from '@kubernetes/client-node';
import type { CompiledPolicy } from '@mayfly/crds';
import { buildWebhookServer, createLogger, inject, SelfSignedCertificates, type Pod, type WebhookServer } from '@mayfly/webhook';
import { createEventRecorder } from '@mayfly/webhook/events';
import { secretCaStore, webhookCaBundlePatcher } from '@mayfly/webhook/k8s';
import { pino } from 'pino';
import { caseNames, FIXTURES, loadCase, run, type GoldenCase } from './golden.ts';
import { subsetProblems } from './subset.ts';

/** What this test uses of e2e/src/control-plane.ts (e2e depends on webhook, so no static import). */
interface ControlPlane {
  kubeConfig: KubeConfig;
  kubectl(args: string[], opts?: { input?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}
const controlPlaneModule = '@mayfly/e2e/control-plane';
const { startControlPlane } = (await import(controlPlaneModule)) as { startControlPlane(): Promise<ControlPlane> };

const MAYFLY_NS = 'mayfly-system';
const WEBHOOK = 'mayfly-injector-e2e';
const PLAIN_NS = 'e2e-plain';

const cp = await startControlPlane();
t.teardown(() => cp.stop());

async function kubectl(args: string[], input?: string) {
  return cp.kubectl(args, input === undefined ? {} : { input });
}
async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// The cases: every golden pod that the install's default settings produce.
const all = caseNames().map(loadCase).map((c) => ({ c, outcome: run(c) }));
const defaultSettings = ({ c }: { c: GoldenCase }) => !readFileSync(join(FIXTURES, `${c.name}.pod.yaml`), 'utf8').includes('ownerReferences') && !caseHasSettings(c.name);
function caseHasSettings(name: string): boolean {
  try {
    return Boolean((parse(readFileSync(join(FIXTURES, `${name}.context.yaml`), 'utf8')) as { settings?: unknown }).settings);
  } catch {
    return false;
  }
}
const injectedCases = all.filter((x) => 'patch' in x.outcome && defaultSettings(x)).map((x) => x.c);
const refusedCases = all.filter((x) => 'refuse' in x.outcome && defaultSettings(x));
const skippedCases = all.filter((x) => 'skip' in x.outcome && defaultSettings(x));
const policies: CompiledPolicy[] = injectedCases.flatMap((c) => c.context.policies);
const settings = injectedCases[0]!.context.settings;

const podOf = (c: GoldenCase) => c.pod as Pod;
const namespaces = [...new Set(all.filter(defaultSettings).map((x) => podOf(x.c).metadata?.namespace ?? 'default'))].filter((n) => n !== 'kube-system');

// --- the webhook, its certificate and its configuration ---------------------
await mustKubectl(['create', 'namespace', MAYFLY_NS]);
await mustKubectl(['create', 'namespace', PLAIN_NS]);
for (const ns of [...namespaces, 'kube-system']) {
  if (ns !== MAYFLY_NS) await kubectl(['create', 'namespace', ns]);
  // Label every namespace, even kube-system and mayfly-system: the selector must exclude those two.
  await mustKubectl(['label', 'namespace', ns, 'mayfly.dev/injection=enabled', '--overwrite']);
}
for (const x of all.filter(defaultSettings)) {
  const ns = podOf(x.c).metadata?.namespace ?? 'default';
  const sa = podOf(x.c).spec?.serviceAccountName;
  if (sa) await kubectl(['create', 'serviceaccount', sa, '-n', ns]);
}

let server: WebhookServer | undefined;
const certificates = new SelfSignedCertificates({
  store: secretCaStore(cp.kubeConfig, MAYFLY_NS, 'mayfly-webhook-ca'),
  dnsNames: ['localhost'],
  ipAddresses: ['127.0.0.1'],
  onCertificate: (pair) => server?.setCertificate(pair),
  onCaBundle: webhookCaBundlePatcher(cp.kubeConfig, WEBHOOK),
});

async function startWebhook(port = 0): Promise<number> {
  const certificate = certificates.current ?? (await certificates.start());
  server = buildWebhookServer({ settings }, {
    certificate,
    policiesFor: (ns) => policies.filter((p) => p.namespace === ns),
    recordEvent: createEventRecorder(cp.kubeConfig, { instance: 'e2e' }),
    logger: createLogger('silent', pino.destination('/dev/null')),
  });
  await server.app.listen({ port, host: '127.0.0.1' });
  return (server.app.server.address() as { port: number }).port;
}

// The port must be known before the configuration exists, and the caBundle
// patch needs the configuration: register first (with a placeholder CA), then
// let the certificate manager write the real bundle.
const port = await (async () => {
  const { freePort } = (await import('@mayfly/e2e/proc' as string)) as { freePort(): Promise<number> };
  return freePort();
})();
const configuration = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingWebhookConfiguration',
  metadata: { name: WEBHOOK },
  webhooks: [{
    name: 'inject.mayfly.dev',
    admissionReviewVersions: ['v1'],
    clientConfig: { url: `https://127.0.0.1:${port}/mutate` },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
    namespaceSelector: {
      matchExpressions: [
        { key: 'mayfly.dev/injection', operator: 'In', values: ['enabled'] },
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', MAYFLY_NS] },
      ],
    },
    failurePolicy: 'Fail',
    // Events are recorded, but never for dryRun requests.
    sideEffects: 'NoneOnDryRun',
    reinvocationPolicy: 'IfNeeded',
    matchPolicy: 'Equivalent',
    timeoutSeconds: 10,
  }],
};
await mustKubectl(['apply', '-f', '-'], JSON.stringify(configuration));
await startWebhook(port);
t.teardown(async () => {
  certificates.stop();
  await server?.app.close();
});

const probePod = (ns: string, name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } });

// A new configuration takes a moment to be picked up: probe with a dry-run pod.
{
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], probePod('shop', 'probe'));
    if (r.code === 0 && r.stdout.includes('mayfly.dev/status')) break;
    if (Date.now() > until) throw new Error(`the webhook was never called: ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

function expectStored(t: Test, stored: Pod, golden: Pod, what: string): void {
  t.same(subsetProblems(golden.spec, stored.spec, 'spec'), [], `${what}: spec as the golden file says`);
  t.equal(stored.metadata?.annotations?.['mayfly.dev/status'], golden.metadata?.annotations?.['mayfly.dev/status'], `${what}: status annotation`);
}

t.test('the CA is kept in a Secret and its bundle written into the configuration', async (t) => {
  const secret = JSON.parse(await mustKubectl(['get', 'secret', 'mayfly-webhook-ca', '-n', MAYFLY_NS, '-o', 'json'])) as { data: Record<string, string> };
  t.ok(secret.data['ca.crt'] && secret.data['ca.key']);
  const mwc = JSON.parse(await mustKubectl(['get', 'mutatingwebhookconfiguration', WEBHOOK, '-o', 'json'])) as typeof configuration & { webhooks: Array<{ clientConfig: { caBundle: string } }> };
  t.equal(Buffer.from(mwc.webhooks[0]!.clientConfig.caBundle, 'base64').toString().trim(), Buffer.from(secret.data['ca.crt']!, 'base64').toString().trim());
});

t.test('pods created with kubectl are stored injected exactly as the golden files say', async (t) => {
  t.ok(injectedCases.length >= 20, `${injectedCases.length} cases`);
  for (const c of injectedCases) {
    const union = inject(structuredClone(c.pod), { settings, policies });
    const golden = parse(readFileSync(join(FIXTURES, `${c.name}.injected.yaml`), 'utf8')) as Pod;
    t.same('pod' in union ? union.pod : union, golden, `${c.name}: the other cases' policies do not change it`);
    const r = await kubectl(['create', '-o', 'json', '-f', join(FIXTURES, `${c.name}.pod.yaml`)]);
    if (r.code !== 0) {
      t.fail(`${c.name}: kubectl create failed: ${r.stderr}`);
      continue;
    }
    expectStored(t, JSON.parse(r.stdout) as Pod, golden, c.name);
  }
});

function workload(kind: 'Deployment' | 'Job', name: string, c: GoldenCase): string {
  const pod = podOf(c);
  const labels = { 'e2e.mayfly.dev/workload': name, ...pod.metadata?.labels };
  const template = { metadata: { labels, ...(pod.metadata?.annotations ? { annotations: pod.metadata.annotations } : {}) }, spec: pod.spec };
  if (kind === 'Deployment') {
    return JSON.stringify({ apiVersion: 'apps/v1', kind, metadata: { name, namespace: pod.metadata?.namespace }, spec: { replicas: 1, selector: { matchLabels: { 'e2e.mayfly.dev/workload': name } }, template } });
  }
  return JSON.stringify({ apiVersion: 'batch/v1', kind, metadata: { name, namespace: pod.metadata?.namespace }, spec: { backoffLimit: 0, template } });
}

async function podsOf(ns: string, name: string): Promise<Pod[]> {
  const until = Date.now() + 60_000;
  for (;;) {
    const list = JSON.parse(await mustKubectl(['get', 'pods', '-n', ns, '-l', `e2e.mayfly.dev/workload=${name}`, '-o', 'json'])) as { items: Pod[] };
    if (list.items.length > 0) return list.items;
    if (Date.now() > until) throw new Error(`no pod for ${name}`);
    await new Promise((res) => setTimeout(res, 300));
  }
}

t.test('a Deployment is injected through the ReplicaSet controller', async (t) => {
  for (const name of ['prometheus-server', 'redis-bitnami-master']) {
    const c = injectedCases.find((x) => x.name === name)!;
    await mustKubectl(['apply', '-f', '-'], workload('Deployment', `${name}-deploy`, c));
    const [pod] = await podsOf(podOf(c).metadata!.namespace!, `${name}-deploy`);
    const golden = parse(readFileSync(join(FIXTURES, `${name}.injected.yaml`), 'utf8')) as Pod;
    expectStored(t, pod!, golden, `Deployment ${name}`);
    t.match(pod!.metadata?.ownerReferences, [{ kind: 'ReplicaSet' }]);
  }
});

t.test('a Job is injected through the Job controller', async (t) => {
  const c = injectedCases.find((x) => x.name === 'nginx-minimal')!;
  const job = loadCase('job-db-migrate');
  const jobPod = podOf(job);
  // job-db-migrate's golden pod, created by a real Job (its own ownerReferences are the controller's).
  const asCase: GoldenCase = { ...c, pod: { ...jobPod, metadata: { namespace: jobPod.metadata!.namespace!, labels: {} } } };
  await mustKubectl(['apply', '-f', '-'], workload('Job', 'db-migrate-e2e', asCase));
  const [pod] = await podsOf(jobPod.metadata!.namespace!, 'db-migrate-e2e');
  const golden = parse(readFileSync(join(FIXTURES, 'job-db-migrate.injected.yaml'), 'utf8')) as Pod;
  expectStored(t, pod!, golden, 'Job db-migrate');
  t.match(pod!.metadata?.ownerReferences, [{ kind: 'Job', name: 'db-migrate-e2e' }]);
});

t.test('refusals are refused by the API server with the webhook message and a Warning event', async (t) => {
  t.ok(refusedCases.length >= 15, `${refusedCases.length} cases`);
  for (const { c, outcome } of refusedCases) {
    const refusal = (outcome as { refuse: { code: string; message: string } }).refuse;
    const r = await kubectl(['create', '-f', join(FIXTURES, `${c.name}.pod.yaml`)]);
    t.not(r.code, 0, `${c.name}: refused`);
    t.ok(r.stderr.includes(`denied the request: mayfly: ${refusal.code}: ${refusal.message}`), `${c.name}: with the webhook's message (${r.stderr.trim()})`);
  }
  const ns = podOf(refusedCases[0]!.c).metadata!.namespace!;
  const until = Date.now() + 20_000;
  let reasons = '';
  while (Date.now() < until) {
    reasons = await mustKubectl(['get', 'events', '-n', ns, '-o', 'jsonpath={.items[*].reason}']);
    if (reasons.includes('MayflyRefused')) break;
    await new Promise((res) => setTimeout(res, 300));
  }
  t.match(reasons, /MayflyRefused/, 'a Warning event is recorded');
});

t.test('skipped pods are stored unchanged, and kube-system and mayfly-system are never sent', async (t) => {
  for (const { c } of skippedCases) {
    const r = await kubectl(['create', '-o', 'json', '-f', join(FIXTURES, `${c.name}.pod.yaml`)]);
    t.equal(r.code, 0, `${c.name}: admitted (${r.stderr})`);
    if (r.code !== 0) continue;
    const stored = JSON.parse(r.stdout) as Pod;
    t.notOk(stored.metadata?.annotations?.['mayfly.dev/status'], `${c.name}: not injected`);
    t.notOk([...(stored.spec?.initContainers ?? []), ...(stored.spec?.containers ?? [])].some((x) => x.name.startsWith('mayfly-')), `${c.name}: no Mayfly container`);
  }
  t.ok(skippedCases.some(({ c }) => podOf(c).metadata?.namespace === 'kube-system'));
});

t.test('dryRun requests are mutated but record no event', async (t) => {
  const ns = 'edge';
  await kubectl(['create', 'namespace', ns]);
  await mustKubectl(['label', 'namespace', ns, 'mayfly.dev/injection=enabled', '--overwrite']);
  const refused = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'dry', namespace: ns }, spec: { containers: [{ name: 'app', image: 'a', securityContext: { runAsUser: 1337 } }] } });
  const r = await kubectl(['create', '--dry-run=server', '-f', '-'], refused);
  t.not(r.code, 0);
  t.match(r.stderr, /SidecarUid/);
  await new Promise((res) => setTimeout(res, 1500));
  const events = await mustKubectl(['get', 'events', '-n', ns, '-o', 'jsonpath={.items[*].reason}']);
  t.equal(events.trim(), '', 'no event for a dry run');
});

t.test('with the webhook down, opted-in namespaces are refused and others untouched', async (t) => {
  await server!.app.close();
  const refused = await kubectl(['create', '-f', '-'], probePod('shop', 'while-down'));
  t.not(refused.code, 0, 'refused, not admitted bare');
  t.match(refused.stderr, /failed calling webhook "inject.mayfly.dev"/);
  const plain = await kubectl(['create', '-o', 'json', '-f', '-'], probePod(PLAIN_NS, 'plain'));
  t.equal(plain.code, 0, plain.stderr);
  t.same((JSON.parse(plain.stdout) as Pod).spec?.containers.map((c) => c.name), ['app']);
  const system = await kubectl(['create', '-o', 'json', '-f', '-'], probePod(MAYFLY_NS, 'controller-like'));
  t.equal(system.code, 0, `Mayfly's own namespace is never matched, so the controller cannot deadlock itself (${system.stderr})`);

  // Back up on the same port: admission resumes.
  await startWebhook(port);
  const again = await kubectl(['create', '-o', 'json', '-f', '-'], probePod('shop', 'after-restart'));
  t.equal(again.code, 0, again.stderr);
  t.ok((JSON.parse(again.stdout) as Pod).metadata?.annotations?.['mayfly.dev/status']);
});
