// build(config, deps) returns a sidecar that is not yet listening; start()
// brings it up in order (config, pod CA, trust files, listeners, ready) and
// stop() drains it. Only wiring: every decision lives in a pure pass.
import net from 'node:net';
import type { Logger } from 'pino';
import type { CompiledPolicy } from '@mayfly/crds';
import { selects } from '@mayfly/crds/compile';
import type { ConfigSource, CredentialSource, PodIdentity, PolicySnapshot } from './contracts.ts';
import { createLogger } from './audit.ts';
import { createMetrics, type CredentialStats } from './metrics.ts';
import { PodCa } from './tls/pod-ca.ts';
import { writeTrustFiles, type TrustPaths } from './tls/trust-files.ts';
import { createResolver, type Lookup, type Resolver } from './net/resolve.ts';
import { SIDECAR_POOL_LIMITS, UpstreamPool } from './pipeline/forward.ts';
import { createHandler, type PipelineState } from './pipeline/handler.ts';
import type { ConnInfo } from './pipeline/request.ts';
import { policiesForHost } from './policy/decide.ts';
import { createConnectionHandler } from './server/connections.ts';
import { Http1Front } from './server/http1.ts';
import { createAdminServer, type Readiness } from './server/admin.ts';
import type { RequestSigner } from './http/inject.ts';
import type { SidecarConfig } from './config/runtime.ts';

export interface SidecarDeps {
  config: ConfigSource;
  credentials: CredentialSource & { stats?: () => CredentialStats };
  signer?: RequestSigner;
  lookup?: Lookup;
  /** Replaces the DNS resolver entirely (tests on loopback); `lookup` is the usual seam. */
  resolver?: Resolver;
  logger?: Logger;
  now?: () => number;
}

export interface Sidecar {
  start(): Promise<void>;
  /** Stops accepting, finishes in-flight requests (up to the drain timeout), closes everything. */
  stop(): Promise<void>;
  readiness(): Readiness;
  /** Bound ports: captured port -> listener port, plus proxy and admin. */
  ports(): { transparent: Map<number, number>; proxy: number | null; admin: number | null };
  trust(): TrustPaths | null;
  ca(): PodCa | null;
  log: Logger;
}

/** Hosts that policies selecting this pod name, for the CA's name constraints. */
export function policyHosts(policies: readonly CompiledPolicy[], identity: PodIdentity): string[] {
  return [...new Set(policies.filter((p) => selects(p, identity)).flatMap((p) => p.destinations.map((d) => d.host)))].sort();
}

export function buildSidecar(cfg: SidecarConfig, deps: SidecarDeps): Sidecar {
  const log = deps.logger ?? createLogger(cfg.logLevel);
  const now = deps.now ?? Date.now;
  const readiness: Readiness = { caWritten: false, configLoaded: false, listenersBound: false, draining: false };
  const state: PipelineState = { snapshot: { revision: '', policies: [] }, identity: cfg.identity, draining: false };
  const cas: PodCa[] = [];
  let trust: TrustPaths | null = null;
  const currentCa = (): PodCa => cas[cas.length - 1] as PodCa;
  /** The CA that signs after the current one, already in the trust files. */
  let next: PodCa | null = null;
  let renewal: NodeJS.Timeout | null = null;
  let rotations: Promise<void> = Promise.resolve();
  const metrics = createMetrics({ leaves: () => (cas.length ? currentCa().stats() : null), credentials: () => deps.credentials.stats?.() ?? null });
  const pool = new UpstreamPool({ extraCa: cfg.upstreamCa, ...SIDECAR_POOL_LIMITS });
  // no upstream connection made for a credential outlives it
  deps.credentials.onReleased?.((id) => pool.dropCredential(id));
  const resolver = deps.resolver ?? createResolver(deps.lookup, cfg.limits.dnsCacheMs, now);
  const spliced = new Set<net.Socket>();
  const handler = createHandler({ state, credentials: deps.credentials, resolver, pool, log, metrics, ...(deps.signer ? { signer: deps.signer } : {}), limits: { maxSignedBodyBytes: cfg.limits.maxSignedBodyBytes, upstreamTimeoutMs: cfg.limits.upstreamTimeoutMs }, now });
  const intercepts = (host: string): boolean => policiesForHost(state.snapshot.policies, state.identity, host).length > 0;
  // the front hands CONNECT and its own answers to the connection handler, which hands it sockets
  const front = new Http1Front<ConnInfo>(
    { maxHeaderBytes: cfg.limits.maxHeaderBytes, headersTimeoutMs: cfg.limits.headersTimeoutMs, requestTimeoutMs: cfg.limits.requestTimeoutMs, keepAliveTimeoutMs: cfg.limits.keepAliveTimeoutMs, checkIntervalMs: Math.min(1000, cfg.limits.headersTimeoutMs) },
    { request: handler, connect: (req, socket, head, info) => connections.connect(req, socket, head, info), rejected: (status, code, info) => connections.rejected(status, code, info) },
  );
  const connections = createConnectionHandler({ front, intercepts, ca: currentCa, resolver, log, metrics, state, peekTimeoutMs: cfg.limits.peekTimeoutMs, spliced });

  const listeners: net.Server[] = [];
  const transparentPorts = new Map<number, number>();
  let proxyPort: number | null = null;
  let adminPort: number | null = null;
  const admin = createAdminServer(() => ({ ...readiness }), metrics.registry);

  function listen(server: net.Server, port: number, address: string): Promise<number> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: address, ipv6Only: false }, () => {
        server.removeListener('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  async function applySnapshot(snapshot: PolicySnapshot): Promise<void> {
    state.snapshot = snapshot; // one reference swap: each request sees one snapshot
    readiness.configLoaded = true;
    metrics.reloads.inc({ result: 'ok' });
    const selected = snapshot.policies.filter((p) => selects(p, state.identity));
    deps.credentials.sync(selected.filter((p) => p.mode === 'Enforce'));
    log.info({ revision: snapshot.revision, policies: selected.map((p) => p.id) }, 'config applied');
    if (cas.length === 0) return;
    currentCa().retain(intercepts);
    if (cfg.ca.nameConstraints) {
      const uncovered = policyHosts(selected, state.identity).filter((h) => !currentCa().covers(h.replace(/^\*\./, '')));
      if (uncovered.length > 0) await rotateCa(`new policy hosts ${uncovered.join(', ')}`, false);
    }
  }

  /** A pod CA for the hosts that policies selecting this pod name now. */
  async function newCa(): Promise<PodCa> {
    const hosts = policyHosts(state.snapshot.policies, state.identity);
    return PodCa.create({ lifetimeMs: cfg.ca.lifetimeMs, leafLifetimeMs: cfg.ca.leafLifetimeMs, permittedHosts: cfg.ca.nameConstraints ? (hosts.length > 0 ? hosts : ['invalid']) : [], maxLeaves: cfg.ca.maxLeaves, commonName: `${cfg.identity.namespace}/${cfg.identity.name}`, now });
  }

  /**
   * Replaces the signing CA. Each CA lives `ca.lifetimeMs` in three thirds: it
   * is published in the trust files a third before it signs (as the "next"
   * CA), signs for a third, then stays in the trust files for the last third,
   * while the leaves it signed (a day by default) run out. So an app that reads
   * the trust files only when it starts still trusts the leaves after the next
   * rotation. `reuseNext` promotes the published next CA (the periodic
   * rotation); new policy hosts need new name constraints, so both are new.
   */
  function rotateCa(why: string, reuseNext: boolean, replacing?: PodCa): Promise<void> {
    // one rotation at a time: a timer's and a policy change's must not interleave;
    // a timer's is dropped when another rotation replaced its CA first
    const run = rotations.then(() => (replacing === undefined || currentCa() === replacing ? rotateNow(why, reuseNext) : undefined));
    rotations = run.catch(() => {});
    return run;
  }

  async function rotateNow(why: string, reuseNext: boolean): Promise<void> {
    const ca = reuseNext && next !== null ? next : await newCa();
    const following = await newCa();
    const trusted = [...cas, ca].slice(-2);
    // the trust files first: a CA signs only once the files name it
    trust = await writeTrustFiles(cfg.trustDir, [...trusted, following].map((c) => c.certPem).join(''), now());
    cas.splice(0, cas.length, ...trusted);
    next = following;
    readiness.caWritten = true;
    scheduleRenewal(ca, now() + cfg.ca.lifetimeMs / 3);
    log.info({ notAfter: new Date(ca.notAfter).toISOString(), next: new Date(following.notAfter).toISOString(), permitted: ca.permitted, trust, why }, 'pod ca ready');
  }

  function scheduleRenewal(ca: PodCa, at: number): void {
    if (renewal !== null) clearTimeout(renewal);
    renewal = setTimeout(
      () => {
        renewal = null;
        if (currentCa() !== ca || readiness.draining) return;
        if (now() < at) return scheduleRenewal(ca, at); // a delay beyond setTimeout's limit fires early
        rotateCa('the signing CA has signed for a third of its lifetime', true, ca).catch((err: unknown) => {
          log.error({ err }, 'pod ca rotation failed; retrying in a minute');
          scheduleRenewal(ca, now() + 60_000);
        });
      },
      Math.min(Math.max(0, at - now()), 2 ** 31 - 1),
    );
    renewal.unref();
  }

  const sidecar: Sidecar = {
    log,
    readiness: () => ({ ...readiness }),
    ports: () => ({ transparent: new Map(transparentPorts), proxy: proxyPort, admin: adminPort }),
    trust: () => trust,
    ca: () => (cas.length ? currentCa() : null),
    async start() {
      if (cfg.listeners.admin) adminPort = await listen(admin, cfg.listeners.admin.port, cfg.listeners.admin.address);
      let first: () => void = () => {};
      const loaded = new Promise<void>((resolve) => (first = resolve));
      let chain = Promise.resolve();
      await deps.config.start((snapshot) => {
        chain = chain.then(() => applySnapshot(snapshot)).then(first, (err: unknown) => log.error({ err }, 'config apply failed'));
      });
      await loaded;
      await rotateCa('start-up', false);
      for (const t of cfg.listeners.transparent) {
        const server = net.createServer({ pauseOnConnect: false, noDelay: true }, (s) => connections.accept(s, t.captures, 'transparent'));
        server.maxConnections = cfg.limits.maxConnections;
        transparentPorts.set(t.captures, await listen(server, t.port, cfg.listeners.address));
        listeners.push(server);
      }
      if (cfg.listeners.proxy) {
        const server = net.createServer({ noDelay: true }, (s) => connections.accept(s, null, 'proxy'));
        server.maxConnections = cfg.limits.maxConnections;
        proxyPort = await listen(server, cfg.listeners.proxy.port, cfg.listeners.proxy.address);
        listeners.push(server);
      }
      readiness.listenersBound = true;
      log.info({ transparent: Object.fromEntries(transparentPorts), proxy: proxyPort, admin: adminPort }, 'sidecar ready');
    },
    async stop() {
      readiness.draining = true;
      state.draining = true;
      if (renewal !== null) clearTimeout(renewal);
      await Promise.all(listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
      front.closeIdle();
      const deadline = Date.now() + cfg.limits.drainTimeoutMs;
      while (Date.now() < deadline && (await activeConnections()) > 0) {
        front.closeIdle();
        await new Promise((r) => setTimeout(r, 50));
      }
      front.closeAll();
      for (const s of spliced) s.destroy();
      pool.close();
      await deps.config.stop();
      await new Promise<void>((r) => admin.close(() => r()));
      admin.closeAllConnections();
      log.info('sidecar stopped');
    },
  };

  function activeConnections(): Promise<number> {
    return new Promise((resolve) => {
      let n = spliced.size;
      let pending = listeners.length;
      if (pending === 0) return resolve(n);
      for (const l of listeners)
        l.getConnections((_e, c) => {
          n += c ?? 0;
          if (--pending === 0) resolve(n);
        });
    });
  }

  return sidecar;
}
