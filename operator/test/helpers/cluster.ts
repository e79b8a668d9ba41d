// The real control plane for the operator's tests, and a controller running as
// a local process. The harness lives in @mayfly/e2e, whose scenarios depend on
// the operator; importing it by a computed specifier keeps the TypeScript
// project references acyclic (e2e -> operator), and the interface below is the
// part of it these tests use.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';


export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ControlPlane {
  server: string;
  kubeconfigPath: string;
  ca: { certPem: string; keyPem: string; issueServer(names: string[]): { certPem: string; keyPem: string } };
  kubeConfig: KubeConfig;
  binDir: string;
  dir: string;
  kubectl(args: string[], opts?: { input?: string; kubeconfig?: string }): Promise<RunResult>;
  helm(args: string[], opts?: { input?: string }): Promise<RunResult>;
  impersonatingKubeconfig(user: string, groups?: string[]): string;
  stop(): Promise<void>;
}

interface Harness {
  startControlPlane(opts?: { log?: (line: string) => void }): Promise<ControlPlane>;
  ensureBinaries(log?: (line: string) => void): Promise<string>;
  freePort(): Promise<number>;
}

const E2E = '@mayfly/e2e';

export async function harness(): Promise<Harness> {
  return (await import(E2E)) as Harness;
}

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CHART = join(REPO, 'charts/mayfly');
export const SA_USER = 'system:serviceaccount:mayfly-system:mayfly';

/** Shared with the demo and the scenarios: the implementations live in @mayfly/e2e (mayfly.ts). */
export interface ControllerProcess {
  identity: string;
  pid: number;
  serverPort: number;
  opsPort: number;
  logPath: string;
  logs(): Array<Record<string, unknown>>;
  metrics(): Promise<string>;
  stop(): Promise<number | null>;
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

export interface ControllerOptions {
  identity: string;
  kubeconfig: string;
  config: Record<string, unknown>;
  serverPort: number;
  opsPort: number;
  dir: string;
  serverHost?: string;
  extraArgs?: string[];
  nodeArgs?: string[];
}

interface MayflyHelpers {
  must(cp: ControlPlane, args: string[], opts?: { input?: string; kubeconfig?: string }): Promise<string>;
  getJson<T>(cp: ControlPlane, args: string[]): Promise<T>;
  until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs?: number, intervalMs?: number): Promise<T>;
  releaseConfig(cp: ControlPlane, namespace?: string, release?: string): Promise<Record<string, unknown>>;
  startController(o: ControllerOptions): Promise<ControllerProcess>;
  webhookToLocal(cp: ControlPlane, name: string, port: number): Promise<void>;
  installCa(cp: ControlPlane, secret?: string): Promise<string>;
}

const MAYFLY_HELPERS = '@mayfly/e2e/mayfly';
const helpers = (await import(MAYFLY_HELPERS)) as MayflyHelpers;
export const { must, until, releaseConfig, startController, webhookToLocal, installCa } = helpers;
export const getJson = <T = Record<string, unknown>>(cp: ControlPlane, args: string[]): Promise<T> => helpers.getJson<T>(cp, args);

/** A token for `sa` bound to `pod`, for `audience` (TokenRequest through kubectl). */
export async function podToken(cp: ControlPlane, namespace: string, sa: string, pod: string, audience = 'mayfly'): Promise<string> {
  return (await must(cp, ['-n', namespace, 'create', 'token', sa, '--bound-object-kind', 'Pod', '--bound-object-name', pod, '--audience', audience, '--duration', '10m'])).trim();
}

/** The value of a metric sample (first match), or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

export interface Installed {
  cp: ControlPlane;
  dir: string;
  /** Kubeconfig that impersonates the chart's service account. */
  saKubeconfig: string;
  config: Record<string, unknown>;
  freePort(): Promise<number>;
  /** Starts a controller with the chart's config and RBAC; `overrides` are merged into its config. */
  controller(identity: string, overrides?: Record<string, unknown>, kubeconfig?: string): Promise<ControllerProcess>;
  /** The CA the controller's serving certificate chains to. */
  ca(): Promise<string>;
}

/**
 * A control plane with the chart installed and the service-based webhook
 * pointed at `webhookController` (started here), once admission demonstrably
 * goes through it.
 */
export async function installedCluster(log: (line: string) => void, overrides: Record<string, unknown> = {}, nodeArgs: string[] = []): Promise<{ env: Installed; first: ControllerProcess }> {
  const h = await harness();
  const cp = await h.startControlPlane({ log });
  const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'mayfly-op-'));
  const r = await cp.helm(['install', 'mayfly', CHART, '-n', 'mayfly-system', '--create-namespace']);
  if (r.code !== 0) throw new Error(`helm install failed: ${r.stderr}`);
  const saKubeconfig = cp.impersonatingKubeconfig(SA_USER);
  const config = await releaseConfig(cp);
  const env: Installed = {
    cp,
    dir,
    saKubeconfig,
    config,
    freePort: () => h.freePort(),
    async controller(identity, extra = {}, kubeconfig = saKubeconfig) {
      const merged = { ...config, ...overrides, ...extra, reconcile: { ...(config.reconcile as object), missingSecretRecheckSeconds: 2, ...((overrides.reconcile as object) ?? {}), ...((extra.reconcile as object) ?? {}) } };
      return startController({ identity, kubeconfig, config: merged, serverPort: await h.freePort(), opsPort: await h.freePort(), dir, nodeArgs });
    },
    ca: () => installCa(cp),
  };
  const first = await env.controller('mayfly-a');
  await until('the caBundle', async () => (await getJson<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(cp, ['mutatingwebhookconfiguration', 'mayfly'])).webhooks[0]?.clientConfig.caBundle);
  await webhookToLocal(cp, 'mayfly', first.serverPort);
  // A new webhook configuration takes a moment to reach admission: probe with a pod.
  await must(cp, ['create', 'namespace', 'probe']);
  await must(cp, ['label', 'namespace', 'probe', 'mayfly.dev/injection=enabled']);
  let n = 0;
  await until('admission through the local webhook', async () => {
    const name = `probe-${n++}`;
    const res = await cp.kubectl(['-n', 'probe', 'run', name, '--image=ghcr.io/acme/probe:1', '--restart=Never', '-o', 'json']);
    if (res.code !== 0) return false;
    const pod = JSON.parse(res.stdout) as { metadata: { annotations?: Record<string, string> } };
    return Boolean(pod.metadata.annotations?.['mayfly.dev/status']);
  }, 30_000, 500);
  await cp.kubectl(['delete', 'namespace', 'probe', '--wait=false']);
  return { env, first };
}

/** Creates a namespace (optionally opted in), a service account and a pod; returns the pod as stored. */
export async function makePod(cp: ControlPlane, o: { namespace: string; name: string; sa: string; labels: Record<string, string> }): Promise<{ metadata: { uid: string; annotations?: Record<string, string> } }> {
  await cp.kubectl(['create', 'serviceaccount', o.sa, '-n', o.namespace]);
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: o.name, namespace: o.namespace, labels: o.labels },
    spec: { serviceAccountName: o.sa, containers: [{ name: 'app', image: 'ghcr.io/acme/app:1' }] },
  };
  return JSON.parse(await must(cp, ['create', '-f', '-', '-o', 'json'], { input: JSON.stringify(pod) })) as { metadata: { uid: string; annotations?: Record<string, string> } };
}

export async function namespace(cp: ControlPlane, name: string, injected: boolean): Promise<void> {
  await must(cp, ['create', 'namespace', name]);
  if (injected) await must(cp, ['label', 'namespace', name, 'mayfly.dev/injection=enabled']);
}

export interface PolicyStatus {
  observedGeneration?: number;
  matchedPods?: number;
  injectedPods?: number;
  driftedPods?: number;
  drift?: Array<{ pod: string; reason: string; message?: string; fix?: string }>;
  conditions?: Array<{ type: string; status: string; reason: string; message?: string; lastTransitionTime: string }>;
}

export async function policyStatus(cp: ControlPlane, namespace: string, name: string): Promise<PolicyStatus> {
  const p = await getJson<{ status?: PolicyStatus }>(cp, ['-n', namespace, 'workloadpolicy', name]);
  return p.status ?? {};
}

export function condition(s: PolicyStatus, type: string): { status: string; reason: string; message?: string } | undefined {
  return s.conditions?.find((c) => c.type === type);
}

export async function events(cp: ControlPlane, namespace: string, object: string): Promise<Array<{ type: string; reason: string; message: string }>> {
  const list = await getJson<{ items: Array<{ type: string; reason: string; message: string; involvedObject: { name: string } }> }>(cp, ['-n', namespace, 'events']);
  return list.items.filter((e) => e.involvedObject.name === object);
}

export function policyYaml(o: { namespace: string; name: string; labels?: Record<string, string>; sa?: string; host?: string; provider?: string; extra?: string; paths?: string[] }): string {
  const subjects = o.sa ? `serviceAccounts: [${o.sa}]` : `podSelector: { matchLabels: ${JSON.stringify(o.labels ?? {})} }`;
  return `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: ${o.name}, namespace: ${o.namespace} }
spec:
  subjects: { ${subjects} }
  destinations: [{ host: ${o.host ?? 'api.example.com'}${o.paths ? `, paths: ${JSON.stringify(o.paths)}` : ''} }]
  credential:
    provider: ${o.provider ?? '{ broker: { audience: example } }'}
    inject: { header: Authorization }
${o.extra ?? ''}`;
}
