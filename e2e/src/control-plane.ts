// A real Kubernetes control plane for tests: etcd, kube-apiserver and
// kube-controller-manager built from the Go module proxy (see
// e2e/scripts/build-binaries.sh), started on loopback with real certificates and
// RBAC, torn down by process id. Nothing here is a fake.
//
//   const cp = await startControlPlane();
//   await cp.kubectl(['apply', '-f', 'crds/']);
//   ...
//   await cp.stop();
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { createCA, serviceAccountKeys, type CertificateAuthority, type KeyPair } from './pki.ts';
import { freePort, run, startDaemon, waitFor, type Daemon, type RunResult } from './proc.ts';

export interface ControlPlaneOptions {
  /** Where progress goes; default stderr. */
  log?: (line: string) => void;
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
  /** Controllers for kube-controller-manager. */
  controllers?: string[];
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  server: string;
  /** Path of an admin (system:masters) kubeconfig. */
  kubeconfigPath: string;
  /** The cluster CA; it also signs any serving certificate a test asks for. */
  ca: CertificateAuthority;
  /** A client-node KubeConfig for the admin user. */
  kubeConfig: KubeConfig;
  /** Directory holding the binaries (kubectl, helm, ...). */
  binDir: string;
  /** Scratch directory of this control plane (logs, certificates). */
  dir: string;
  kubectl(args: string[], opts?: { input?: string; kubeconfig?: string }): Promise<RunResult>;
  helm(args: string[], opts?: { input?: string }): Promise<RunResult>;
  /** Writes a kubeconfig that impersonates `user` (and groups), for RBAC tests. */
  impersonatingKubeconfig(user: string, groups?: string[]): string;
  stop(): Promise<void>;
}

const DEFAULT_CONTROLLERS = [
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'root-ca-certificate-publisher-controller',
  'deployment-controller',
  'replicaset-controller',
  'job-controller',
  'cronjob-controller',
];

const BUILD_SCRIPT = fileURLToPath(new URL('../scripts/build-binaries.sh', import.meta.url));

let binaries: Promise<string> | undefined;

/** Builds or reuses the binaries; prints the build's progress through `log`. */
export function ensureBinaries(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<string> {
  binaries ??= new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    child.stdout.on('data', (b: Buffer) => {
      last += b.toString();
    });
    let pending = '';
    child.stderr.on('data', (b: Buffer) => {
      pending += b.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('[build-binaries')) log(line);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const dir = last.trim().split('\n').pop();
      if (code === 0 && dir) resolve(dir);
      else reject(new Error(`e2e/scripts/build-binaries.sh failed with exit code ${code}; run it by hand to see why`));
    });
  });
  return binaries;
}

function httpsOk(url: string, tls: { ca: string; cert?: string; key?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { ...tls, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => req.destroy());
    req.end();
  });
}

function httpOk(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
}

function kubeconfigYaml(server: string, caPem: string, client: KeyPair, impersonate?: { user: string; groups: string[] }): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const as = impersonate
    ? `\n    as: ${JSON.stringify(impersonate.user)}${impersonate.groups.length ? `\n    as-groups: ${JSON.stringify(impersonate.groups)}` : ''}`
    : '';
  return `apiVersion: v1
kind: Config
clusters:
- name: mayfly-test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(caPem)}
users:
- name: admin
  user:
    client-certificate-data: ${b64(client.certPem)}
    client-key-data: ${b64(client.keyPem)}${as}
contexts:
- name: mayfly-test
  context: { cluster: mayfly-test, user: admin }
current-context: mayfly-test
`;
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const started = Date.now();
  const binDir = await ensureBinaries(log);
  const base = process.platform === 'linux' ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'mayfly-cp-'));
  const file = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };

  const ca = createCA('mayfly-test-cluster-ca');
  const serving = ca.issueServer(['127.0.0.1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', '10.0.0.1']);
  const admin = ca.issueClient('mayfly-test-admin', ['system:masters']);
  const sa = serviceAccountKeys();
  const caPath = file('ca.crt', ca.certPem);
  const caKeyPath = file('ca.key', ca.keyPem);

  const [etcdClient, etcdPeer, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const daemons: Daemon[] = [];
  const stop = async () => {
    for (const d of daemons.reverse()) await d.stop();
    daemons.length = 0;
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    mkdirSync(join(dir, 'etcd'), { mode: 0o700 });
    const etcdURL = `http://127.0.0.1:${etcdClient}`;
    const etcd = startDaemon('etcd', join(binDir, 'etcd'), [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdURL}`,
      `--advertise-client-urls=${etcdURL}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ], { logPath: join(dir, 'etcd.log') });
    daemons.push(etcd);
    await waitFor('etcd /health', () => httpOk(`${etcdURL}/health`), { timeoutMs: 30_000, daemon: etcd });

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = startDaemon('kube-apiserver', join(binDir, 'kube-apiserver'), [
      `--etcd-servers=${etcdURL}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'apiserver')}`,
      `--tls-cert-file=${file('apiserver.crt', serving.certPem)}`,
      `--tls-private-key-file=${file('apiserver.key', serving.keyPem)}`,
      `--client-ca-file=${caPath}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${file('sa.pub', sa.publicPem)}`,
      `--service-account-signing-key-file=${file('sa.key', sa.privatePem)}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
      ...(opts.apiserverArgs ?? []),
    ], { logPath: join(dir, 'kube-apiserver.log') });
    daemons.push(apiserver);
    const tls = { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem };
    await waitFor('kube-apiserver /readyz', () => httpsOk(`${server}/readyz`, tls), { timeoutMs: 90_000, daemon: apiserver, intervalMs: 300 });

    const kubeconfigPath = file('admin.kubeconfig', kubeconfigYaml(server, ca.certPem, admin));
    const kcm = startDaemon('kube-controller-manager', join(binDir, 'kube-controller-manager'), [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      `--controllers=${(opts.controllers ?? DEFAULT_CONTROLLERS).join(',')}`,
      `--root-ca-file=${caPath}`,
      `--service-account-private-key-file=${file('sa-kcm.key', sa.privatePem)}`,
      `--cluster-signing-cert-file=${caPath}`,
      `--cluster-signing-key-file=${caKeyPath}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--use-service-account-credentials=false',
      '--concurrent-deployment-syncs=2',
      '--v=1',
    ], { logPath: join(dir, 'kube-controller-manager.log') });
    daemons.push(kcm);

    const kubectl = (args: string[], o: { input?: string; kubeconfig?: string } = {}) =>
      run(join(binDir, 'kubectl'), [`--kubeconfig=${o.kubeconfig ?? kubeconfigPath}`, ...args], { ...(o.input !== undefined ? { input: o.input } : {}), timeoutMs: 120_000 });
    const helmHome = join(dir, 'helm');
    const helm = (args: string[], o: { input?: string } = {}) =>
      run(join(binDir, 'helm'), args, {
        ...(o.input !== undefined ? { input: o.input } : {}),
        timeoutMs: 180_000,
        env: { ...process.env, KUBECONFIG: kubeconfigPath, HELM_CACHE_HOME: join(helmHome, 'cache'), HELM_CONFIG_HOME: join(helmHome, 'config'), HELM_DATA_HOME: join(helmHome, 'data') },
      });

    // The default service account appears once the serviceaccount controller has run.
    await waitFor('default service account', async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', 'default'])).code === 0, { timeoutMs: 60_000, daemon: kcm, intervalMs: 300 });

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    let impersonated = 0;
    log(`[control-plane] ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${server} (kubeconfig ${kubeconfigPath})`);
    return {
      server,
      kubeconfigPath,
      ca,
      kubeConfig,
      binDir,
      dir,
      kubectl,
      helm,
      impersonatingKubeconfig(user, groups = []) {
        impersonated += 1;
        return file(`impersonate-${impersonated}.kubeconfig`, kubeconfigYaml(server, ca.certPem, admin, { user, groups }));
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
