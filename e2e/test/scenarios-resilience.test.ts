// End-to-end scenarios about failure and lifecycle, on the real control plane:
// the controller restarted while traffic flows, the webhook down, and a Job that
// completes with its native sidecar.
import t from 'tap';
import { createWorld, type PodHandle, type World } from '../src/world.ts';
import { header } from '../src/upstream.ts';
import { getJson, must, until } from '../src/mayfly.ts';

t.setTimeout(600_000);

let world: World;

function policy(namespace: string, name: string, sa: string, host: string, inject = '{ header: Authorization }'): string {
  const ca = world.apiCa.certPem.trimEnd().split('\n').map((l) => `        ${l}`).join('\n');
  return `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  subjects: { serviceAccounts: [${sa}] }
  destinations:
    - host: ${host}
      allowPrivateAddresses: true
      caBundle: |
${ca}
  credential:
    provider: { broker: { audience: ${name}, ttl: 10m } }
    inject: ${inject}
`;
}

async function status(pod: PodHandle, url: string): Promise<number> {
  const r = await pod.app(['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', url]);
  return Number(r.stdout.trim());
}

t.before(async () => {
  world = await createWorld();
});

t.teardown(async () => {
  await world?.stop();
});

t.test('the controller restarted while traffic flows: no request that would have succeeded fails', async (t) => {
  await world.namespace('shop');
  const api = await world.api('catalog.shop.example');
  await world.apply(policy('shop', 'to-catalog', 'web', 'catalog.shop.example'));
  const podName = await world.deployment({ namespace: 'shop', name: 'web', serviceAccount: 'web', labels: { app: 'web' } });
  const pod = await world.runPod('shop', podName);
  t.equal(await status(pod, 'https://catalog.shop.example/'), 200, 'warm');

  const codes: number[] = [];
  let running = true;
  const traffic = (async () => {
    while (running) {
      codes.push(await status(pod, 'https://catalog.shop.example/'));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await new Promise((r) => setTimeout(r, 1000));
  const restarted = await world.mayfly.restartController();
  t.ok(restarted.pid > 0, 'a new controller process is running');
  await new Promise((r) => setTimeout(r, 3000));
  running = false;
  await traffic;
  t.ok(codes.length >= 10, `${codes.length} requests during the restart`);
  t.same(codes.filter((c) => c !== 200), [], 'every request succeeded');
  t.ok(api.received.slice(-codes.length).every((r) => header(r, 'authorization').length === 1), 'each carried exactly one credential');

  // The sidecar reconnects its config stream to the new process: a policy change still arrives.
  const before = api.received.length;
  await world.apply(policy('shop', 'to-catalog', 'web', 'catalog.shop.example', '{ header: X-Catalog-Token, format: "{{token}}" }'));
  await until('the new injection header at the API', async () => {
    await status(pod, 'https://catalog.shop.example/');
    return api.received.slice(before).some((r) => header(r, 'x-catalog-token').length === 1);
  }, 30_000, 250);
  t.pass('a policy change after the restart reached the sidecar');
});

t.test('the webhook down: opted-in namespaces refuse pods, others are untouched', async (t) => {
  await world.namespace('guarded');
  await world.namespace('plain', { injected: false });
  await world.mayfly.controller.stop();
  try {
    const refused = await world.cp.kubectl(['-n', 'guarded', 'run', 'bare', '--image=ghcr.io/acme/app:1', '--restart=Never']);
    t.not(refused.code, 0, 'a pod in an opted-in namespace is refused, never admitted bare');
    t.match(refused.stderr, /failed calling webhook|connection refused|context deadline/);
    const plain = await world.cp.kubectl(['-n', 'plain', 'run', 'ok', '--image=ghcr.io/acme/app:1', '--restart=Never']);
    t.equal(plain.code, 0, plain.stderr);
    const kubeSystem = await world.cp.kubectl(['-n', 'kube-system', 'run', 'sys', '--image=ghcr.io/acme/app:1', '--restart=Never']);
    t.equal(kubeSystem.code, 0, 'kube-system is never matched');
  } finally {
    await world.mayfly.restartController();
  }
  const admitted = await until('admission again', async () => (await world.cp.kubectl(['-n', 'guarded', 'run', 'back', '--image=ghcr.io/acme/app:1', '--restart=Never'])).code === 0, 30_000, 500);
  t.ok(admitted);
  const pod = await getJson<{ metadata: { annotations: Record<string, string> } }>(world.cp, ['pod', 'back', '-n', 'guarded']);
  t.ok(pod.metadata.annotations['mayfly.dev/status'], 'injected once the webhook is back');
});

t.test('a Job completes with its native sidecar', async (t) => {
  await world.namespace('jobs');
  const api = await world.api('reports.jobs.example');
  await world.apply(policy('jobs', 'to-reports', 'reporter', 'reports.jobs.example'));
  await world.cp.kubectl(['-n', 'jobs', 'create', 'serviceaccount', 'reporter']);
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'nightly', namespace: 'jobs' },
    spec: { backoffLimit: 0, template: { spec: { serviceAccountName: 'reporter', restartPolicy: 'Never', containers: [{ name: 'app', image: 'ghcr.io/acme/reporter:1', securityContext: { runAsUser: 1000 } }] } } },
  };
  await must(world.cp, ['apply', '-f', '-'], { input: JSON.stringify(job) });
  const pods = await until('the job pod', async () => {
    const list = await getJson<{ items: Array<{ metadata: { name: string }; spec: { initContainers?: Array<{ name: string; restartPolicy?: string }> } }> }>(world.cp, ['pods', '-n', 'jobs', '-l', 'job-name=nightly']);
    return list.items.length ? list.items : undefined;
  }, 60_000, 250);
  const stored = pods[0] as { metadata: { name: string }; spec: { initContainers?: Array<{ name: string; restartPolicy?: string }> } };
  t.equal(stored.spec.initContainers?.find((c) => c.name === 'mayfly-sidecar')?.restartPolicy, 'Always', 'the sidecar is a native sidecar');
  const pod = await world.runPod('jobs', stored.metadata.name);
  const run = await pod.app(['curl', '-sS', '--fail', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', 'https://reports.jobs.example/upload']);
  t.equal(run.stdout, '200', 'the job\'s work succeeded with an injected credential');
  t.equal(api.headerValues('authorization').length, 1);
  await pod.pod.finish('Succeeded', run.code);
  await until('the Job to complete', async () => {
    const j = await getJson<{ status: { conditions?: Array<{ type: string; status: string }> } }>(world.cp, ['job', 'nightly', '-n', 'jobs']);
    return j.status.conditions?.some((c) => c.type === 'Complete' && c.status === 'True');
  }, 60_000, 500);
  t.pass('the Job is Complete: the native sidecar did not keep it running');
});
