// mayfly inject: pod templates of every workload kind, multi-document input,
// policies from a file, flags, refusals, and the same result as the webhook's
// golden files. Runs the command in-process and once as a real process.
/* eslint-disable @typescript-eslint/no-explicit-any -- the test walks arbitrary printed YAML */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { command } from '../src/commands/inject.ts';

const FIXTURES = fileURLToPath(new URL('../../webhook/test/fixtures/inject/', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

async function run(argv: string[], cwd: string) {
  let stdout = '';
  let stderr = '';
  const sink = (f: (s: string) => void) => new Writable({ write(chunk, _e, cb) { f(String(chunk)); cb(); } });
  const code = await command(argv, { stdout: sink((s) => { stdout += s; }), stderr: sink((s) => { stderr += s; }), env: {}, cwd });
  return { code, stdout, stderr, docs: parseAllDocuments(stdout).map((d) => d.toJS() as Record<string, any>) };
}

const dir = mkdtempSync(join(tmpdir(), 'mayfly-inject-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const template = { metadata: { labels: { app: 'orders' } }, spec: { serviceAccountName: 'orders', containers: [{ name: 'app', image: 'ghcr.io/acme/orders:1' }] } };
const workloads = [
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'orders', namespace: 'shop' }, spec: { replicas: 2, selector: { matchLabels: { app: 'orders' } }, template } },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'orders-db' }, spec: { serviceName: 'db', selector: { matchLabels: { app: 'orders' } }, template } },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'orders' } }, template } },
  { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'orders-rs' }, spec: { selector: { matchLabels: { app: 'orders' } }, template } },
  { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate' }, spec: { template: { ...template, spec: { ...template.spec, restartPolicy: 'Never' } } } },
  { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'backup' }, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: { ...template, spec: { ...template.spec, restartPolicy: 'OnFailure' } } } } } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'orders' }, spec: { selector: { app: 'orders' }, ports: [{ port: 80 }] } },
];
writeFileSync(join(dir, 'workloads.yaml'), workloads.map((w) => JSON.stringify(w)).join('\n---\n'));
writeFileSync(join(dir, 'policies.yaml'), `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: orders-s3, namespace: shop }
spec:
  subjects: { serviceAccounts: [orders] }
  destinations: [{ host: orders.s3.eu-west-1.amazonaws.com }]
  credential:
    provider: { aws: { roleARN: "arn:aws:iam::123456789012:role/orders", region: eu-west-1 } }
    inject: { awsSigV4: { service: s3 } }
`);

function podSpecOf(o: Record<string, any>): Record<string, any> {
  if (o.kind === 'Pod') return o.spec;
  if (o.kind === 'CronJob') return o.spec.jobTemplate.spec.template.spec;
  return o.spec.template.spec;
}

t.test('injects the pod template of every workload kind and passes other objects through', async (t) => {
  const r = await run(['-f', 'workloads.yaml'], dir);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.docs.length, workloads.length, 'one document out per document in');
  for (const doc of r.docs.slice(0, 6)) {
    const spec = podSpecOf(doc);
    t.same(spec.initContainers.map((c: { name: string }) => c.name), ['mayfly-init', 'mayfly-sidecar'], `${doc.kind}: native sidecar and capture step`);
    t.ok(spec.containers[0].env.some((e: { name: string }) => e.name === 'SSL_CERT_FILE'), `${doc.kind}: trust env`);
    t.notOk(doc.spec.template?.metadata?.namespace, `${doc.kind}: no namespace written into the template`);
  }
  t.same(r.docs[6], workloads[6], 'the Service is unchanged');
  t.equal(r.docs[0]!.spec.replicas, 2, 'the rest of the Deployment is kept');
});

t.test('policies from --policies decide audiences and AWS placeholders; --namespace scopes them', async (t) => {
  const r = await run(['-f', 'workloads.yaml', '--policies', 'policies.yaml', '-n', 'shop'], dir);
  t.equal(r.code, 0, r.stderr);
  const spec = podSpecOf(r.docs[0]!);
  const tokens = spec.volumes.find((v: { name: string }) => v.name === 'mayfly-tokens').projected.sources.map((s: any) => s.serviceAccountToken.audience);
  t.same(tokens, ['mayfly', 'sts.amazonaws.com']);
  t.ok(spec.containers[0].env.some((e: { name: string; value: string }) => e.name === 'AWS_ACCESS_KEY_ID' && e.value === 'MAYFLYPLACEHOLDERKEY'));
  const other = await run(['-f', 'workloads.yaml', '--policies', 'policies.yaml', '-n', 'elsewhere'], dir);
  const ds = podSpecOf(other.docs[2]!);
  t.notOk(ds.containers[0].env.some((e: { name: string }) => e.name === 'AWS_ACCESS_KEY_ID'), 'a policy of another namespace does not select the pod');
});

t.test('--mode explicit, --image and --no-native-sidecars change what is injected', async (t) => {
  const r = await run(['-f', 'workloads.yaml', '--mode', 'explicit', '--image', 'registry.local/mayfly:dev', '--no-native-sidecars'], dir);
  t.equal(r.code, 0, r.stderr);
  const spec = podSpecOf(r.docs[0]!);
  t.equal(spec.initContainers, undefined, 'no capture step in explicit mode, no init sidecar in the fallback');
  t.equal(spec.containers[0].name, 'mayfly-sidecar');
  t.equal(spec.containers[0].image, 'registry.local/mayfly:dev');
  t.ok(spec.containers[1].env.some((e: { name: string }) => e.name === 'HTTPS_PROXY'));
});

t.test('prints exactly what the webhook golden file says for a pod', async (t) => {
  const r = await run(['-f', join(FIXTURES, 'grafana.pod.yaml'), '-o', 'json'], dir);
  t.equal(r.code, 0, r.stderr);
  const golden = parse(readFileSync(join(FIXTURES, 'grafana.injected.yaml'), 'utf8')) as Record<string, any>;
  const printed = JSON.parse(r.stdout) as Record<string, any>;
  // The golden case has a policy; without it only the token audiences differ.
  golden.spec.volumes.find((v: { name: string }) => v.name === 'mayfly-tokens').projected.sources = printed.spec.volumes.find((v: { name: string }) => v.name === 'mayfly-tokens').projected.sources;
  t.same(printed.spec, golden.spec);
});

t.test('re-injecting the output changes nothing', async (t) => {
  const first = await run(['-f', 'workloads.yaml'], dir);
  writeFileSync(join(dir, 'once.yaml'), first.stdout);
  const second = await run(['-f', 'once.yaml'], dir);
  t.equal(second.stdout, first.stdout);
});

t.test('refusals and skips are reported on stderr; a refusal exits 1', async (t) => {
  writeFileSync(join(dir, 'mixed.yaml'), `apiVersion: v1
kind: Pod
metadata: { name: vpn }
spec:
  containers:
    - name: vpn
      image: vpn:1
      securityContext: { capabilities: { add: [NET_ADMIN] } }
---
apiVersion: v1
kind: Pod
metadata: { name: exporter }
spec:
  hostNetwork: true
  containers: [{ name: e, image: e:1 }]
`);
  const r = await run(['-f', 'mixed.yaml'], dir);
  t.equal(r.code, 1);
  t.match(r.stderr, /Pod\/vpn: refused \(CaptureCapability\): container vpn adds capability "NET_ADMIN"/);
  t.match(r.stderr, /Pod\/exporter: not injected \(HostNetwork\)/);
  t.equal(r.docs.length, 2, 'both are still printed, unchanged');
  t.equal(r.docs[0]!.spec.initContainers, undefined);
});

t.test('usage errors exit 2', async (t) => {
  t.equal((await run([], dir)).code, 2);
  t.equal((await run(['-f', 'workloads.yaml', '--mode', 'sideways'], dir)).code, 2);
  t.equal((await run(['-f', 'workloads.yaml', '--image', 'bad image'], dir)).code, 2);
  t.equal((await run(['-f', 'missing.yaml'], dir)).code, 1);
});

t.test('the mayfly binary runs it', async (t) => {
  const node = process.execPath;
  const { stdout } = await promisify(execFile)(node, [MAIN, 'inject', '-f', join(FIXTURES, 'nginx-minimal.pod.yaml')], { cwd: dir });
  t.equal(stdout, readFileSync(join(FIXTURES, 'nginx-minimal.injected.yaml'), 'utf8'));
});
