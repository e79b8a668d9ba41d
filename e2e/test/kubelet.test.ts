// The kubelet harness runs a stored pod faithfully: projected tokens are real
// TokenRequest tokens bound to the pod (the API server authenticates them, and
// stops once the pod is gone), volumes appear at their mount paths, containers
// run under the UID their securityContext asks for, in the pod's own network.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AuthenticationV1Api } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../src/control-plane.ts';
import { runPod, type RunningPod } from '../src/kubelet.ts';
import { createPodNetwork, createServiceHost, type PodNetwork, type ServiceHost } from '../src/pod-network.ts';
import { run, startDaemon, waitFor } from '../src/proc.ts';

t.setTimeout(180_000);

let cp: ControlPlane;
let net: PodNetwork;
let svc: ServiceHost;
let pod: RunningPod;
const dir = mkdtempSync('/tmp/mayfly-kubelet-');

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'app', namespace: 'default', labels: { app: 'demo', tier: 'web' } },
  spec: {
    serviceAccountName: 'default',
    automountServiceAccountToken: false,
    containers: [{
      name: 'app',
      image: 'example.com/app:1',
      securityContext: { runAsUser: 4242, runAsGroup: 4242 },
      env: [{ name: 'MY_POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'GREETING', value: 'hi $(MY_POD)' }],
      volumeMounts: [{ name: 'tok', mountPath: '/var/run/secrets/test', readOnly: true }, { name: 'info', mountPath: '/etc/podinfo' }],
    }],
    volumes: [
      { name: 'tok', projected: { sources: [{ serviceAccountToken: { audience: 'test-aud', expirationSeconds: 600, path: 'token' } }] } },
      { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
    ],
  },
};

t.before(async () => {
  cp = await startControlPlane();
  const created = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(POD) });
  if (created.code !== 0) throw new Error(created.stderr);
  net = await createPodNetwork();
  svc = await createServiceHost();
  net.setHosts({ 'upstream.test': svc.ip });
  pod = await runPod({ kubeConfig: cp.kubeConfig, namespace: 'default', name: 'app', network: net, dir });
});

t.teardown(async () => {
  await pod?.stop();
  await net?.stop();
  await svc?.stop();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

t.test('volumes are mounted at their paths; env and UID come from the spec', async (t) => {
  const r = await pod.exec('app', ['sh', '-c', 'id -u; echo "$GREETING"; cat /etc/podinfo/labels; test -s /var/run/secrets/test/token && echo token-present; touch /var/run/secrets/test/x 2>/dev/null || echo read-only']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines[0], '4242', 'runs as the securityContext UID');
  t.equal(lines[1], 'hi app', 'env with $(VAR) expansion and fieldRef');
  t.match(r.stdout, 'app="demo"');
  t.match(r.stdout, 'tier="web"');
  t.match(r.stdout, 'token-present');
  t.match(r.stdout, 'read-only', 'readOnly mounts are read-only');
});

t.test('the projected token is a real pod-bound token for its audience', async (t) => {
  const token = (await pod.exec('app', ['cat', '/var/run/secrets/test/token'])).stdout.trim();
  const auth = cp.kubeConfig.makeApiClient(AuthenticationV1Api);
  const review = await auth.createTokenReview({ body: { spec: { token, audiences: ['test-aud'] } } });
  t.equal(review.status?.authenticated, true);
  t.equal(review.status?.user?.username, 'system:serviceaccount:default:default');
  t.same(review.status?.user?.extra?.['authentication.kubernetes.io/pod-name'], ['app']);
  const wrong = await auth.createTokenReview({ body: { spec: { token, audiences: ['mayfly'] } } });
  t.not(wrong.status?.authenticated, true, 'not valid for another audience');
});

t.test('the pod network reaches a service namespace by name, and only through the host', async (t) => {
  const server = startDaemon('svc-http', 'ip', ['netns', 'exec', svc.netns, 'python3', '-m', 'http.server', '8080', '--bind', svc.ip], { logPath: join(dir, 'svc.log'), env: { ...process.env } });
  try {
    await waitFor('service http server', async () => (await run('ip', ['netns', 'exec', svc.netns, 'curl', '-s', '-o', '/dev/null', `http://${svc.ip}:8080/`])).code === 0, { timeoutMs: 15_000, daemon: server });
    const r = await pod.exec('app', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{remote_ip}', 'http://upstream.test:8080/']);
    t.equal(r.stdout, `200 ${svc.ip}`);
  } finally {
    await server.stop();
  }
});
