// Mayfly installed on a test control plane: the chart installed with the real
// helm, the controller running as a local process with the chart's own config
// and RBAC (it impersonates the chart's service account), and the chart's
// service-based webhook pointed at it (the API server cannot reach a Service
// here). Used by the demo and the end-to-end scenarios.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import type { ControlPlane } from './control-plane.ts';
import { freePort } from './proc.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(REPO, 'charts/mayfly');
export const MAYFLY_NAMESPACE = 'mayfly-system';
export const CONTROLLER_SA = `system:serviceaccount:${MAYFLY_NAMESPACE}:mayfly`;
/** The name sidecars use for the controller (the chart's Service); pod networks map it to the host. */
export const CONTROLLER_HOST = `mayfly-controller.${MAYFLY_NAMESPACE}.svc`;

export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** kubectl that throws with its stderr when it fails. */
export async function must(cp: ControlPlane, args: string[], opts?: { input?: string; kubeconfig?: string }): Promise<string> {
  const r = await cp.kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export async function getJson<T = Record<string, unknown>>(cp: ControlPlane, args: string[]): Promise<T> {
  return JSON.parse(await must(cp, ['get', ...args, '-o', 'json'])) as T;
}

/** GET a JSON document over HTTPS trusting `ca` (the install's CA signs the broker's certificate). */
export function fetchJson<T>(url: string, ca: string): Promise<T> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as T) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    })
      .on('error', reject)
      .end();
  });
}

export interface ControllerProcess {
  identity: string;
  pid: number;
  serverPort: number;
  opsPort: number;
  logPath: string;
  logs(): Array<Record<string, unknown>>;
  metrics(): Promise<string>;
  /** SIGTERM: a clean stop (a leader releases its lease). */
  stop(): Promise<number | null>;
  /** SIGKILL: the process dies without a word. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

export interface ControllerOptions {
  identity: string;
  kubeconfig: string;
  /** The config file content (the chart's rendered config.yaml), before local overrides. */
  config: Record<string, unknown>;
  serverPort: number;
  opsPort: number;
  dir: string;
  /** Address the HTTPS server binds: 127.0.0.1 by default; 0.0.0.0 when pods in network namespaces must reach it. */
  serverHost?: string;
  extraArgs?: string[];
  /** Node flags for the controller process (e.g. --cpu-prof for a benchmark). */
  nodeArgs?: string[];
}

/** The chart's configuration as the installed release rendered it. */
export async function releaseConfig(cp: ControlPlane, namespace = MAYFLY_NAMESPACE, release = 'mayfly'): Promise<Record<string, unknown>> {
  const cm = await getJson<{ data: Record<string, string> }>(cp, ['-n', namespace, 'configmap', `${release}-config`]);
  return parse(cm.data['config.yaml'] as string) as Record<string, unknown>;
}

/** Runs `mayfly controller` from the repository as a child process, with the chart's config plus local listen addresses. */
export async function startController(o: ControllerOptions): Promise<ControllerProcess> {
  const tls = { ...(o.config.tls as Record<string, unknown>), ipAddresses: ['127.0.0.1'] };
  const config = { ...o.config, tls, server: { host: o.serverHost ?? '127.0.0.1', port: o.serverPort }, ops: { host: '127.0.0.1', port: o.opsPort }, logLevel: 'debug' };
  const configPath = join(o.dir, `${o.identity}.config.yaml`);
  writeFileSync(configPath, stringify(config));
  const logPath = join(o.dir, `${o.identity}.log`);
  const fd = openSync(logPath, 'a');
  const child: ChildProcess = spawn(process.execPath, [...(o.nodeArgs ?? []), join(REPO, 'cli/src/main.ts'), 'controller', '--config', configPath, '--kubeconfig', o.kubeconfig, ...(o.extraArgs ?? [])], {
    stdio: ['ignore', fd, fd],
    env: { PATH: process.env.PATH, POD_NAME: o.identity, POD_NAMESPACE: MAYFLY_NAMESPACE },
  });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs = (): Array<Record<string, unknown>> =>
    readFileSync(logPath, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  let done = false;
  void exited.then(() => (done = true));
  process.once('exit', () => {
    if (!done) child.kill('SIGKILL');
  });
  await until(`controller ${o.identity} to start (log ${logPath})`, () => {
    if (done) throw new Error(`controller exited: ${readFileSync(logPath, 'utf8').slice(-2000)}`);
    return logs().some((l) => l.msg === 'controller started');
  }, 60_000);
  return {
    identity: o.identity,
    pid: child.pid as number,
    serverPort: o.serverPort,
    opsPort: o.opsPort,
    logPath,
    logs,
    metrics: async () => (await fetch(`http://127.0.0.1:${o.opsPort}/metrics`)).text(),
    stop: async () => {
      if (!done) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
    exited,
  };
}

/** Points the chart's service-based webhook at a local controller. */
export async function webhookToLocal(cp: ControlPlane, name: string, port: number): Promise<void> {
  const patch = [
    { op: 'remove', path: '/webhooks/0/clientConfig/service' },
    { op: 'add', path: '/webhooks/0/clientConfig/url', value: `https://127.0.0.1:${port}/mutate` },
  ];
  await must(cp, ['patch', 'mutatingwebhookconfiguration', name, '--type=json', '-p', JSON.stringify(patch)]);
}

/** The CA a self-signed install keeps in its Secret (it signs the controller's serving certificate). */
export async function installCa(cp: ControlPlane, secret = 'mayfly-webhook-ca'): Promise<string> {
  const s = await getJson<{ data: Record<string, string> }>(cp, ['-n', MAYFLY_NAMESPACE, 'secret', secret]);
  return Buffer.from(s.data['ca.crt'] as string, 'base64').toString('utf8');
}

export interface Installation {
  cp: ControlPlane;
  dir: string;
  /** Kubeconfig that impersonates the chart's service account. */
  saKubeconfig: string;
  config: Record<string, unknown>;
  controller: ControllerProcess;
  /** Starts another controller replica with the chart's config and RBAC. */
  startReplica(identity: string, overrides?: Record<string, unknown>): Promise<ControllerProcess>;
  /** Stops the controller (SIGTERM) and starts a new process on the same address, as a rolled pod behind the Service. */
  restartController(): Promise<ControllerProcess>;
  ca(): Promise<string>;
}

/**
 * Installs the chart, starts one controller replica reachable from pod networks
 * (bound on all addresses), points the webhook at it and waits until admission
 * demonstrably goes through it.
 */
export async function installMayfly(cp: ControlPlane, o: { log?: (line: string) => void; helmArgs?: string[]; overrides?: Record<string, unknown>; injection?: Record<string, unknown> } = {}): Promise<Installation> {
  const log = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'mayfly-install-'));
  const r = await cp.helm(['install', 'mayfly', CHART, '-n', MAYFLY_NAMESPACE, '--create-namespace', ...(o.helmArgs ?? [])]);
  if (r.code !== 0) throw new Error(`helm install failed: ${r.stderr}`);
  log('helm install: chart installed (CRD, RBAC, webhook configuration, Deployment, Service, NetworkPolicy)');
  const saKubeconfig = cp.impersonatingKubeconfig(CONTROLLER_SA);
  const config = await releaseConfig(cp);
  const start = async (identity: string, overrides: Record<string, unknown> = {}, port?: number) => {
    const serverPort = port ?? (await freePort());
    // In a cluster the Service maps 8443 to the controller; here sidecars reach the local process on its own port.
    const webhook = config.webhook as { settings?: Record<string, unknown> };
    const url = `https://${CONTROLLER_HOST}:${serverPort}`;
    const merged = { ...config, webhook: { ...webhook, settings: { ...webhook.settings, ...o.injection, controllerUrl: url } }, broker: { ...(config.broker as object), issuer: url }, ...o.overrides, ...overrides };
    return startController({ identity, kubeconfig: saKubeconfig, config: merged, serverPort, opsPort: await freePort(), dir, serverHost: '0.0.0.0' });
  };
  const controller = await start('mayfly-controller-0');
  log(`controller: running as ${CONTROLLER_SA} (the chart's RBAC), https on :${controller.serverPort}`);
  await until('the caBundle', async () => (await getJson<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(cp, ['mutatingwebhookconfiguration', 'mayfly'])).webhooks[0]?.clientConfig.caBundle, 30_000);
  await webhookToLocal(cp, 'mayfly', controller.serverPort);
  await must(cp, ['create', 'namespace', 'mayfly-probe']);
  await must(cp, ['label', 'namespace', 'mayfly-probe', 'mayfly.dev/injection=enabled']);
  let n = 0;
  await until('admission through the local webhook', async () => {
    const name = `probe-${n++}`;
    const res = await cp.kubectl(['-n', 'mayfly-probe', 'run', name, '--image=ghcr.io/acme/probe:1', '--restart=Never', '-o', 'json']);
    if (res.code !== 0) return false;
    const pod = JSON.parse(res.stdout) as { metadata: { annotations?: Record<string, string> } };
    return Boolean(pod.metadata.annotations?.['mayfly.dev/status']);
  }, 30_000, 500);
  await cp.kubectl(['delete', 'namespace', 'mayfly-probe', '--wait=false']);
  log('webhook: admission goes through the controller');
  const installation: Installation = {
    cp,
    dir,
    saKubeconfig,
    config,
    controller,
    startReplica: (identity, overrides) => start(identity, overrides),
    async restartController() {
      const port = installation.controller.serverPort;
      await installation.controller.stop();
      installation.controller = await start(`mayfly-controller-${Date.now() % 100000}`, {}, port);
      return installation.controller;
    },
    ca: () => installCa(cp),
  };
  return installation;
}
