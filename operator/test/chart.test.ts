// The Helm chart, rendered and linted by the real helm, and checked against
// what the controller and the webhook accept. Installing it on the real control
// plane is in cluster/chart-install.test.ts.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { checkSettings, defaultSettings } from '@mayfly/webhook';
import { loadConfig } from '../src/config.ts';
import { CHART, harness, REPO, type RunResult } from './helpers/cluster.ts';

const h = await harness();
const bin = await h.ensureBinaries();
const { run } = (await import('@mayfly/e2e' as string)) as { run(cmd: string, args: string[], o?: object): Promise<RunResult> };
const helm = (args: string[]): Promise<RunResult> => run(join(bin, 'helm'), args, { env: { ...process.env, HELM_CACHE_HOME: '/tmp/mayfly-helm-cache', HELM_CONFIG_HOME: '/tmp/mayfly-helm-config' } });

// Rendered manifests are explored freely by the assertions below; tap's matchers check their shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = { kind: string; apiVersion: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: any; data?: Record<string, string>; webhooks?: any[]; rules?: any[] };

async function render(...sets: string[]): Promise<{ r: RunResult; objects: Obj[] }> {
  const r = await helm(['template', 'mayfly', CHART, '-n', 'mayfly-system', '--kube-version', '1.36.0', ...sets.flatMap((s) => ['--set', s])]);
  const objects = r.code === 0 ? parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj).filter(Boolean) : [];
  return { r, objects };
}
const find = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);

t.test('helm lint is clean', async (t) => {
  const r = await helm(['lint', '--strict', CHART]);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.notMatch(r.stdout, /\[(WARNING|ERROR|INFO)\]/, 'not even an INFO');
});

t.test('the chart carries the CRD exactly as crds/ defines it', async (t) => {
  t.equal(readFileSync(join(CHART, 'crds/mayfly.dev_workloadpolicies.yaml'), 'utf8'), readFileSync(join(REPO, 'crds/mayfly.dev_workloadpolicies.yaml'), 'utf8'), 'charts/mayfly/crds is a byte-for-byte copy; run: cp crds/mayfly.dev_workloadpolicies.yaml charts/mayfly/crds/');
});

t.test('defaults render every object, hardened', async (t) => {
  const { r, objects } = await render();
  t.equal(r.code, 0, r.stderr);
  t.same(objects.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'MutatingWebhookConfiguration', 'NetworkPolicy', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount'].sort());
  const [deploy] = find(objects, 'Deployment');
  const pod = deploy!.spec.template.spec;
  t.equal(deploy!.spec.replicas, 2);
  t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
  t.equal(pod.serviceAccountName, 'mayfly');
  t.ok(pod.affinity.podAntiAffinity, 'replicas spread over nodes');
  const [c] = pod.containers;
  t.match(c.securityContext, { allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  t.match(c, { livenessProbe: { httpGet: { path: '/healthz' } }, readinessProbe: { httpGet: { path: '/readyz' } }, startupProbe: {} });
  t.same(c.args, ['controller', '--config', '/etc/mayfly/config/config.yaml']);
  t.match(deploy!.spec.template.metadata.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'mayfly.dev/inject': 'false' });
  t.match(find(objects, 'PodDisruptionBudget')[0]!.spec, { minAvailable: 1 });
  const [svc] = find(objects, 'Service');
  t.equal(svc!.metadata.name, 'mayfly-controller', 'the name the webhook gives sidecars as controllerUrl');
  t.match(find(objects, 'NetworkPolicy')[0]!.spec, { policyTypes: ['Ingress'] });
});

t.test('the webhook configuration: Fail, opted-in namespaces only, never its own or kube-system', async (t) => {
  const { objects } = await render();
  const [mwc] = find(objects, 'MutatingWebhookConfiguration');
  const [w] = mwc!.webhooks!;
  t.match(w, {
    failurePolicy: 'Fail',
    sideEffects: 'NoneOnDryRun',
    reinvocationPolicy: 'IfNeeded',
    admissionReviewVersions: ['v1'],
    clientConfig: { service: { name: 'mayfly-controller', namespace: 'mayfly-system', path: '/mutate', port: 8443 } },
    rules: [{ operations: ['CREATE'], resources: ['pods'] }],
  });
  t.ok(w.timeoutSeconds <= 10);
  t.same(w.namespaceSelector.matchExpressions, [
    { key: 'mayfly.dev/injection', operator: 'In', values: ['enabled'] },
    { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['mayfly-system', 'kube-system'] },
  ]);
  const ignore = await render('webhook.failurePolicy=Ignore', 'webhook.excludeNamespaces={monitoring}');
  t.match(find(ignore.objects, 'MutatingWebhookConfiguration')[0]!.webhooks![0], { failurePolicy: 'Ignore', namespaceSelector: { matchExpressions: [{}, { values: ['mayfly-system', 'kube-system', 'monitoring'] }] } });
});

t.test('every RBAC rule says what it is for, and the controller may not list or watch Secrets', async (t) => {
  const text = readFileSync(join(CHART, 'templates/rbac.yaml'), 'utf8').split('\n');
  const rules = text.map((l, i) => [l, i] as const).filter(([l]) => /^\s*- apiGroups:/.test(l));
  t.ok(rules.length >= 10);
  for (const [line, i] of rules) {
    const prev = text.slice(0, i).reverse().find((l) => !/^\s*\{\{-?\s*(if|end)/.test(l));
    t.match(prev, /^\s*#\s+\S/, `rule at line ${i + 1} (${line.trim()}) has a comment`);
  }
  const { objects } = await render();
  const cluster = find(objects, 'ClusterRole')[0]!.rules!;
  const secretRules = cluster.filter((r: { resources: string[] }) => r.resources.includes('secrets'));
  t.same(secretRules.map((r: { verbs: string[] }) => r.verbs), [['get']]);
  t.notOk(cluster.some((r: { verbs: string[] }) => r.verbs.includes('*') || r.verbs.includes('delete')), 'no wildcard or delete verbs');
  t.match(cluster.find((r: { resources: string[] }) => r.resources.includes('mutatingwebhookconfigurations')), { resourceNames: ['mayfly'], verbs: ['get', 'update'] });
});

t.test('the rendered config is what the controller and the webhook accept', async (t) => {
  for (const sets of [[], ['certificates.mode=cert-manager', 'injection.mode=explicit', 'broker.enabled=false']]) {
    const { r, objects } = await render(...sets);
    t.equal(r.code, 0, r.stderr);
    const yaml = find(objects, 'ConfigMap')[0]!.data!['config.yaml'] as string;
    const config = loadConfig(['--config', 'config.yaml'], { POD_NAME: 'mayfly-7d9f-abcde', POD_NAMESPACE: 'mayfly-system' }, () => yaml);
    t.equal(config.webhook.configurationName, 'mayfly');
    t.equal(config.leaderElection.leaseName, 'mayfly-controller');
    t.doesNotThrow(() => checkSettings(defaultSettings(config.webhook.settings)), `webhook settings valid with ${sets.join(' ') || 'defaults'}`);
    if (sets.length) t.same(config.tls, { mode: 'files', certFile: '/etc/mayfly/tls/tls.crt', keyFile: '/etc/mayfly/tls/tls.key' });
    else t.match(config.tls, { mode: 'self-signed', secretName: 'mayfly-webhook-ca', dnsNames: ['mayfly-controller.mayfly-system.svc'] });
  }
});

t.test('cert-manager mode: a Certificate, CA injection, the key mounted, no caBundle permission', async (t) => {
  const { objects } = await render('certificates.mode=cert-manager');
  t.match(find(objects, 'Certificate')[0], { spec: { secretName: 'mayfly-tls', dnsNames: ['mayfly-controller.mayfly-system.svc'], issuerRef: { name: 'mayfly-selfsigned', kind: 'Issuer' } } });
  t.equal(find(objects, 'Issuer').length, 1);
  t.equal(find(objects, 'MutatingWebhookConfiguration')[0]!.metadata.annotations?.['cert-manager.io/inject-ca-from'], 'mayfly-system/mayfly-serving');
  t.notOk(find(objects, 'ClusterRole')[0]!.rules!.some((r: { resources: string[] }) => r.resources.includes('mutatingwebhookconfigurations')));
  const pod = find(objects, 'Deployment')[0]!.spec.template.spec;
  t.match(pod.volumes, [{}, {}, { name: 'tls', secret: { secretName: 'mayfly-tls' } }]);
  const own = await render('certificates.mode=cert-manager', 'certificates.certManager.issuerRef.name=corp-ca', 'certificates.certManager.issuerRef.kind=ClusterIssuer');
  t.equal(find(own.objects, 'Issuer').length, 0, 'an existing issuer is used, none created');
  t.match(find(own.objects, 'Certificate')[0]!.spec.issuerRef, { name: 'corp-ca', kind: 'ClusterIssuer' });
});

t.test('bad values are refused by the schema, each with a message that names it', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['webhook.failurePolicy=Sometimes'], /webhook\/failurePolicy.*one of 'Fail', 'Ignore'/],
    [['webhook.timeoutSeconds=30'], /webhook\/timeoutSeconds.*maximum/],
    [['replicas=0'], /\/replicas.*minimum/],
    [['certificates.mode=letsencrypt'], /certificates\/mode.*one of 'self-signed', 'cert-manager'/],
    [['injection.mode=magic'], /injection\/mode/],
    [['injection.sidecarUid=0'], /injection\/sidecarUid.*minimum/],
    [['injection.tokenExpirationSeconds=60'], /tokenExpirationSeconds.*minimum/],
    [['injection.excludeOutboundCidrs={not-a-cidr}'], /excludeOutboundCidrs\/0/],
    [['image.digest=latest'], /image\/digest/],
    [['logLevel=verbose'], /logLevel/],
    [['replica=3'], /additional properties 'replica' not allowed/],
    [['broker.issuer=http://insecure.example.com'], /broker\/issuer/],
  ];
  for (const [sets, message] of cases) {
    const { r } = await render(...sets);
    t.not(r.code, 0, `${sets.join(' ')} is refused`);
    t.match(r.stderr, message, `${sets.join(' ')}: ${r.stderr.trim().split('\n').slice(-1)[0]}`);
  }
});
