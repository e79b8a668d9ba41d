// The chart on the real control plane with the real helm: install, RBAC that is
// exactly enough for the controller (which runs with it, impersonating the
// chart's service account), upgrade, refusal of bad values, uninstall.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CHART, getJson, harness, installCa, must, releaseConfig, SA_USER, startController, until } from '../helpers/cluster.ts';

// A whole control plane per file: allow for a slow, shared machine.
t.setTimeout(300_000);

const h = await harness();
const cp = await h.startControlPlane({ log: (l) => t.comment(l) });
t.teardown(() => cp.stop());
const dir = mkdtempSync(join(tmpdir(), 'mayfly-chart-'));

type Manifest = { kind: string; metadata: { name: string; namespace?: string } };
const manifest = async (): Promise<Manifest[]> => {
  const r = await cp.helm(['get', 'manifest', 'mayfly', '-n', 'mayfly-system']);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest).filter(Boolean);
};
const exists = async (o: Manifest): Promise<boolean> => (await cp.kubectl(['get', o.kind, o.metadata.name, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : [])])).code === 0;

t.test('helm install creates every object of the chart, and the CRD', async (t) => {
  const r = await cp.helm(['install', 'mayfly', CHART, '-n', 'mayfly-system', '--create-namespace']);
  t.equal(r.code, 0, r.stderr);
  const objects = await manifest();
  t.equal(objects.length, 11);
  for (const o of objects) t.ok(await exists(o), `${o.kind}/${o.metadata.name} exists`);
  t.ok(await exists({ kind: 'crd', metadata: { name: 'workloadpolicies.mayfly.dev' } }), 'the CRD came with the chart');
  const deploy = await getJson<{ spec: { replicas: number } }>(cp, ['-n', 'mayfly-system', 'deployment', 'mayfly-controller']);
  t.equal(deploy.spec.replicas, 2);
});

t.test('the service account may do what the controller needs, and nothing else', async (t) => {
  const can = async (...args: string[]): Promise<boolean> => (await cp.kubectl(['auth', 'can-i', ...args, '--as', SA_USER])).stdout.trim() === 'yes';
  const allowed = [
    ['list', 'workloadpolicies.mayfly.dev', '-A'],
    ['watch', 'pods', '-A'],
    ['list', 'namespaces'],
    ['patch', 'workloadpolicies.mayfly.dev', '--subresource=status', '-n', 'payments'],
    ['create', 'tokenreviews.authentication.k8s.io'],
    ['create', 'events', '-n', 'payments'],
    ['get', 'secrets', '-n', 'payments'],
    ['get', 'replicasets.apps', '-n', 'payments'],
    ['update', 'leases.coordination.k8s.io/mayfly-controller', '-n', 'mayfly-system'],
    ['create', 'leases.coordination.k8s.io', '-n', 'mayfly-system'],
    ['update', 'secrets/mayfly-webhook-ca', '-n', 'mayfly-system'],
    ['update', 'secrets/mayfly-broker-keys', '-n', 'mayfly-system'],
    ['update', 'mutatingwebhookconfigurations/mayfly'],
  ];
  const refused = [
    ['list', 'secrets', '-n', 'payments'],
    ['watch', 'secrets', '-A'],
    ['update', 'workloadpolicies.mayfly.dev', '-n', 'payments'],
    ['patch', 'workloadpolicies.mayfly.dev', '-n', 'payments'],
    ['create', 'pods', '-n', 'payments'],
    ['delete', 'pods', '-n', 'payments'],
    ['update', 'secrets/other', '-n', 'mayfly-system'],
    ['update', 'secrets/mayfly-webhook-ca', '-n', 'payments'],
    ['update', 'leases.coordination.k8s.io/kube-scheduler', '-n', 'mayfly-system'],
    ['update', 'mutatingwebhookconfigurations/someone-elses'],
    ['get', 'configmaps', '-n', 'mayfly-system'],
    ['update', 'deployments.apps', '-n', 'payments'],
  ];
  for (const a of allowed) t.ok(await can(...a), `may ${a.join(' ')}`);
  for (const a of refused) t.notOk(await can(...a), `may not ${a.join(' ')}`);
});

t.test('the controller runs with exactly that RBAC and does its job', async (t) => {
  const [serverPort, opsPort] = [await h.freePort(), await h.freePort()];
  const ctl = await startController({ identity: 'mayfly-rbac-1', kubeconfig: cp.impersonatingKubeconfig(SA_USER), config: await releaseConfig(cp), serverPort, opsPort, dir });
  t.teardown(() => ctl.stop());
  const lease = await until('the lease', async () => (await getJson<{ spec: { holderIdentity?: string } }>(cp, ['-n', 'mayfly-system', 'lease', 'mayfly-controller'])).spec.holderIdentity);
  t.equal(lease, 'mayfly-rbac-1', 'leader election through the Lease');
  const ca = await installCa(cp);
  t.match(ca, /BEGIN CERTIFICATE/, 'the webhook CA was created in its Secret');
  await until('broker keys', async () => (await cp.kubectl(['-n', 'mayfly-system', 'get', 'secret', 'mayfly-broker-keys'])).code === 0);
  const bundle = await until('the caBundle', async () => (await getJson<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(cp, ['mutatingwebhookconfiguration', 'mayfly'])).webhooks[0]?.clientConfig.caBundle);
  t.equal(Buffer.from(bundle, 'base64').toString('utf8').trim(), ca.trim(), 'the CA bundle was published into the chart\'s webhook configuration');

  await must(cp, ['create', 'namespace', 'payments']);
  await must(cp, ['apply', '-f', '-'], {
    input: `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: to-api, namespace: payments }
spec:
  subjects: { serviceAccounts: [payments-api] }
  destinations: [{ host: api.example.com }]
  credential: { provider: { broker: { audience: example } }, inject: { header: Authorization } }
`,
  });
  const status = await until('Ready', async () => {
    const p = await getJson<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(cp, ['-n', 'payments', 'wp', 'to-api']);
    return p.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True') ? p.status : undefined;
  });
  t.ok(status, 'status written through /status');
  const events = await until('an Event', async () => {
    const list = await getJson<{ items: Array<{ reason: string; involvedObject: { name: string } }> }>(cp, ['-n', 'payments', 'events']);
    return list.items.find((e) => e.involvedObject.name === 'to-api' && e.reason === 'Compiled');
  });
  t.ok(events, 'a Compiled event was recorded');
  // 403 as a number of its own: a log line's millisecond timestamp may contain the digits 403
  const forbidden = ctl.logs().filter((l) => /forbidden|\b403\b/i.test(JSON.stringify(l)));
  t.same(forbidden, [], 'no request of the controller was forbidden');
  t.equal(await ctl.stop(), 0, 'a clean exit on SIGTERM');
  const released = await getJson<{ spec: { holderIdentity?: string } }>(cp, ['-n', 'mayfly-system', 'lease', 'mayfly-controller']);
  t.notOk(released.spec.holderIdentity, 'the lease was released on the way out');
});

t.test('helm upgrade changes the release in place and keeps the published CA bundle', async (t) => {
  const r = await cp.helm(['upgrade', 'mayfly', CHART, '-n', 'mayfly-system', '--set', 'replicas=3', '--set', 'logLevel=debug', '--set', 'webhook.failurePolicy=Ignore']);
  t.equal(r.code, 0, r.stderr);
  t.equal((await getJson<{ spec: { replicas: number } }>(cp, ['-n', 'mayfly-system', 'deployment', 'mayfly-controller'])).spec.replicas, 3);
  t.match((await releaseConfig(cp)).logLevel, 'debug');
  const mwc = await getJson<{ webhooks: Array<{ failurePolicy: string; clientConfig: { caBundle?: string } }> }>(cp, ['mutatingwebhookconfiguration', 'mayfly']);
  t.equal(mwc.webhooks[0]?.failurePolicy, 'Ignore');
  t.ok(mwc.webhooks[0]?.clientConfig.caBundle, 'the controller-written caBundle survives the upgrade');
  t.match((await cp.helm(['history', 'mayfly', '-n', 'mayfly-system'])).stdout, /2\s+.*deployed/);
});

t.test('bad values are refused before anything changes', async (t) => {
  const r = await cp.helm(['upgrade', 'mayfly', CHART, '-n', 'mayfly-system', '--set', 'webhook.failurePolicy=Sometimes', '--set', 'replicas=-1']);
  t.not(r.code, 0);
  t.match(r.stderr, /failurePolicy.*'Fail', 'Ignore'/);
  t.match(r.stderr, /replicas.*minimum/);
  t.equal((await getJson<{ spec: { replicas: number } }>(cp, ['-n', 'mayfly-system', 'deployment', 'mayfly-controller'])).spec.replicas, 3, 'unchanged');
});

t.test('helm uninstall removes what it installed; the CRD and the policies stay', async (t) => {
  const objects = await manifest();
  const r = await cp.helm(['uninstall', 'mayfly', '-n', 'mayfly-system']);
  t.equal(r.code, 0, r.stderr);
  for (const o of objects) {
    if (o.kind === 'Deployment') continue; // deleted in the background by the garbage collector's cascade
    t.notOk(await exists(o), `${o.kind}/${o.metadata.name} is gone`);
  }
  await until('the Deployment to go', async () => !(await exists({ kind: 'deployment', metadata: { name: 'mayfly-controller', namespace: 'mayfly-system' } })));
  t.ok(await exists({ kind: 'crd', metadata: { name: 'workloadpolicies.mayfly.dev' } }), 'helm never deletes CRDs from crds/');
  t.ok(await exists({ kind: 'wp', metadata: { name: 'to-api', namespace: 'payments' } }));
});
