// `mayfly sidecar` in a pod: the configuration comes from the environment and
// files the webhook injected (downward API identity, projected token directory,
// CA directory, ports, the controller's address and CA). Parsing is pure and
// lists every problem; `startClusterSidecar` only wires the parts together.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LIMITS, type SidecarConfig } from '@mayfly/sidecar/config/runtime';
import { listenerPorts } from '@mayfly/sidecar/capture/rules';
import { CONTROL_PLANE_AUDIENCE } from '@mayfly/crds/names';
import { ENV, PODINFO_LABELS_FILE, DEFAULT_PORTS } from '@mayfly/webhook/inject/paths';

/** Variables the webhook sets besides those in ENV. */
export const CLUSTER_ENV = {
  ...ENV,
  logLevel: 'MAYFLY_LOG_LEVEL',
} as const;

export interface ClusterSidecarSettings {
  config: SidecarConfig;
  controllerUrl: string;
  /** PEM of the CA that signs the controller's serving certificate; empty means the system roots. */
  controllerCa: string;
  /** The `iss` of broker tokens when it is not the controller's URL. */
  brokerIssuer: string;
  /** PEM trusted for external providers besides the system roots. */
  providerCa: string;
  tokenDir: string;
  tokenAudiences: string[];
}

export class ClusterEnvError extends Error {
  readonly code = 'ERR_SIDECAR_ENV';
  readonly errors: string[];
  constructor(errors: string[]) {
    super(`invalid sidecar environment:\n  ${errors.join('\n  ')}`);
    this.name = 'ClusterEnvError';
    this.errors = errors;
  }
}

/** Parses the kubelet's downward API labels file: `key="value"` lines, values JSON-quoted. */
export function parseLabelsFile(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const raw = line.slice(eq + 1);
    try {
      labels[line.slice(0, eq)] = JSON.parse(raw) as string;
    } catch {
      labels[line.slice(0, eq)] = raw;
    }
  }
  return labels;
}

function ports(text: string | undefined, fallback: number[], name: string, errors: string[]): number[] {
  if (text === undefined || text === '') return fallback;
  const list = text.split(',').map((p) => Number(p.trim()));
  if (list.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    errors.push(`${name}: ${JSON.stringify(text)} is not a comma-separated list of ports`);
    return fallback;
  }
  return list;
}

function port(text: string | undefined, fallback: number, name: string, errors: string[]): number {
  return ports(text, [fallback], name, errors)[0] ?? fallback;
}

/**
 * Reads the settings from the environment and the files it names. Every
 * problem is listed; nothing else in the sidecar reads the environment.
 */
export function clusterSettings(env: NodeJS.ProcessEnv, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): ClusterSidecarSettings {
  const errors: string[] = [];
  const need = (name: string): string => {
    const v = env[name];
    if (!v) errors.push(`${name} is not set`);
    return v ?? '';
  };
  const namespace = need(CLUSTER_ENV.podNamespace);
  const name = need(CLUSTER_ENV.podName);
  const uid = need(CLUSTER_ENV.podUid);
  const serviceAccount = need(CLUSTER_ENV.serviceAccount);
  const controllerUrl = need(CLUSTER_ENV.controllerUrl);
  if (controllerUrl && !/^https:\/\/[^\s/]+/.test(controllerUrl)) errors.push(`${CLUSTER_ENV.controllerUrl} must be an https:// URL`);
  const tokenDir = need(CLUSTER_ENV.tokenDir);
  const caDir = need(CLUSTER_ENV.caDir);
  const mode = env[CLUSTER_ENV.mode] ?? 'transparent';
  if (mode !== 'transparent' && mode !== 'explicit') errors.push(`${CLUSTER_ENV.mode} must be transparent or explicit`);
  const outbound = port(env[CLUSTER_ENV.outboundPort], DEFAULT_PORTS.outbound, CLUSTER_ENV.outboundPort, errors);
  const proxy = port(env[CLUSTER_ENV.proxyPort], DEFAULT_PORTS.proxy, CLUSTER_ENV.proxyPort, errors);
  const health = port(env[CLUSTER_ENV.healthPort], DEFAULT_PORTS.health, CLUSTER_ENV.healthPort, errors);
  const capture = ports(env[CLUSTER_ENV.capturePorts], [80, 443], CLUSTER_ENV.capturePorts, errors);
  const audiences = (env[CLUSTER_ENV.tokenAudiences] ?? CONTROL_PLANE_AUDIENCE).split(',').map((a) => a.trim()).filter(Boolean);
  let labels: Record<string, string> = {};
  const podinfo = env[CLUSTER_ENV.podinfoDir];
  if (podinfo) {
    try {
      labels = parseLabelsFile(readFile(join(podinfo, PODINFO_LABELS_FILE)));
    } catch (err) {
      errors.push(`cannot read pod labels from ${podinfo}: ${(err as Error).message}`);
    }
  }
  const logLevel = env[CLUSTER_ENV.logLevel] ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) errors.push(`${CLUSTER_ENV.logLevel} must be a pino level`);
  if (errors.length > 0) throw new ClusterEnvError(errors);

  const transparent = mode === 'transparent' ? [...listenerPorts(outbound, capture)].map(([captures, p]) => ({ captures, port: p })) : [];
  const config: SidecarConfig = {
    // Images are not in the downward API: posture is enforced by the controller
    // (operator/src/stream/hub.ts streams only the policies whose posture the
    // pod's images satisfy) and again by the broker when it issues.
    identity: { namespace, name, uid, serviceAccount, labels, images: [] },
    listeners: {
      address: '::',
      transparent,
      proxy: { port: proxy, address: '127.0.0.1' },
      admin: { port: health, address: '::' },
    },
    trustDir: caDir,
    upstreamCa: [],
    ca: { lifetimeMs: 168 * 3600_000, leafLifetimeMs: 24 * 3600_000, maxLeaves: 1000, nameConstraints: true },
    limits: { ...DEFAULT_LIMITS },
    logLevel,
  };
  return { config, controllerUrl, controllerCa: env[CLUSTER_ENV.controllerCa] ?? '', brokerIssuer: env[CLUSTER_ENV.brokerIssuer] ?? '', providerCa: env[CLUSTER_ENV.providerCa] ?? '', tokenDir, tokenAudiences: audiences };
}

/** Builds the parts of a cluster sidecar: projected tokens, the config stream, the credential cache. */
export async function startClusterSidecar(settings: ClusterSidecarSettings, signal: { onStop: (fn: () => void) => void }): Promise<number> {
  const { createFileTokenSource } = await import('@mayfly/sidecar/credentials/token-source');
  const { createCredentialSource } = await import('@mayfly/sidecar/credentials/factory');
  const { StreamConfigSource } = await import('@mayfly/sidecar/control/stream-source');
  const { buildSidecar } = await import('@mayfly/sidecar/sidecar');
  const { createLogger } = await import('@mayfly/sidecar/audit');
  const log = createLogger(settings.config.logLevel);
  const tokens = createFileTokenSource({ dir: settings.tokenDir });
  const ca = settings.controllerCa || undefined;
  const config = new StreamConfigSource({
    url: settings.controllerUrl,
    token: async () => (await tokens.read(CONTROL_PLANE_AUDIENCE)).value,
    ...(ca ? { ca } : {}),
    log: { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m) },
  });
  const { CounterMetrics } = await import('@mayfly/sidecar/credentials/metrics');
  const counters = new CounterMetrics();
  const source = createCredentialSource({
    tokenSource: tokens,
    identity: settings.config.identity,
    brokerURL: settings.controllerUrl,
    ...(settings.brokerIssuer ? { brokerIssuer: settings.brokerIssuer } : {}),
    ...(ca ? { brokerCA: ca } : {}),
    ...(settings.providerCa ? { extraCA: settings.providerCa } : {}),
    logger: log,
    metrics: counters,
  });
  // The cache counts hits, misses, refreshes and failures; /metrics reads them.
  const credentials = Object.assign(source, {
    stats: () => {
      const c = counters.snapshot();
      return { hits: c.hit, misses: c.miss, refreshes: c.refresh, failures: c.failure };
    },
  });
  const sidecar = buildSidecar(settings.config, { config, credentials, logger: log });
  try {
    await sidecar.start();
  } catch (err) {
    log.error({ err }, 'cannot start');
    await sidecar.stop().catch(() => {});
    tokens.close();
    return 1;
  }
  return new Promise<number>((done) => {
    signal.onStop(() => {
      log.info({}, 'draining');
      sidecar.stop().then(
        () => {
          tokens.close();
          done(0);
        },
        () => done(1),
      );
    });
  });
}
