// Runs a real sidecar in-process on loopback: transparent listeners that
// "capture" the real ports of the test upstreams, the explicit proxy, the admin
// port; policies from a file (hot reloadable); the test credential source; and
// a resolver that maps test names to loopback while classifying them as the
// address they pretend to be (the real resolver is covered in network namespaces).
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import net from 'node:net';
import tls from 'node:tls';
import pino from 'pino';
import { buildSidecar, type Sidecar } from '../../src/sidecar.ts';
import { FileConfigSource } from '../../src/config/file-source.ts';
import { DEFAULT_LIMITS, type SidecarConfig } from '../../src/config/sidecar-config.ts';
import { REDACT_PATHS } from '../../src/audit.ts';
import { dialable } from '../../src/net/addresses.ts';
import { ResolveError, type Resolver } from '../../src/net/resolve.ts';
import type { PodIdentity } from '../../src/contracts.ts';
import { TestCredentials } from './credentials.ts';

export interface Harness {
  sidecar: Sidecar;
  creds: TestCredentials;
  logs: Array<Record<string, unknown>>;
  /** Raw log text, to prove a credential never reached it. */
  logText: () => string;
  dir: string;
  policyFile: string;
  port(captured: number): number;
  proxyPort: number;
  adminPort: number;
  caPem: () => string;
  /** Names the test resolver knows: name -> address it pretends to resolve to (dialled as 127.0.0.1). */
  names: Map<string, string>;
  close(): Promise<void>;
}

export const IDENTITY: PodIdentity = { namespace: 'payments', name: 'payments-api-0', uid: 'uid-1', serviceAccount: 'payments-api', labels: { app: 'payments' }, images: ['ghcr.io/acme/payments@sha256:' + 'a'.repeat(64)] };

export function testResolver(names: Map<string, string>): Resolver {
  return {
    async resolve(host, allowPrivate) {
      const pretend = names.get(host);
      if (pretend === undefined) throw new ResolveError('ERR_RESOLVE', `cannot resolve ${host}`);
      const ok = dialable(pretend, allowPrivate);
      if (!ok.ok) throw new ResolveError('ERR_ADDRESS_FORBIDDEN', `${host} resolves to a ${ok.class} address`, ok.class);
      return '127.0.0.1';
    },
  };
}

export async function startHarness(opts: {
  policies: string;
  captures: number[];
  credentials?: Record<string, { value: string; id?: string; expiresAt?: number }>;
  upstreamCa?: string[];
  limits?: Partial<SidecarConfig['limits']>;
  identity?: PodIdentity;
  names?: Record<string, string>;
  maxLeaves?: number;
  ca?: Partial<SidecarConfig['ca']>;
}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'mayfly-sidecar-'));
  const policyFile = join(dir, 'policies.yaml');
  await writeFile(policyFile, opts.policies);
  const logs: Array<Record<string, unknown>> = [];
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
  const creds = new TestCredentials(opts.credentials ?? {});
  const names = new Map(Object.entries(opts.names ?? {}));
  const config: SidecarConfig = {
    identity: opts.identity ?? IDENTITY,
    listeners: { address: '127.0.0.1', transparent: opts.captures.map((c) => ({ captures: c, port: 0 })), proxy: { port: 0, address: '127.0.0.1' }, admin: { port: 0, address: '127.0.0.1' } },
    trustDir: join(dir, 'trust'),
    upstreamCa: opts.upstreamCa ?? [],
    ca: { lifetimeMs: 86400_000, leafLifetimeMs: 86400_000, maxLeaves: opts.maxLeaves ?? 100, nameConstraints: true, ...opts.ca },
    limits: { ...DEFAULT_LIMITS, drainTimeoutMs: 2000, ...opts.limits },
    logLevel: 'debug',
  };
  const source = new FileConfigSource(policyFile, { pollMs: 50, settleMs: 50 });
  const sidecar = buildSidecar(config, { config: source, credentials: creds, logger: log, resolver: testResolver(names) });
  await sidecar.start();
  const ports = sidecar.ports();
  return {
    sidecar,
    creds,
    logs,
    logText: () => text,
    dir,
    policyFile,
    port: (c) => ports.transparent.get(c) as number,
    proxyPort: ports.proxy as number,
    adminPort: ports.admin as number,
    caPem: () => sidecar.ca()?.certPem ?? '',
    names,
    async close() {
      await sidecar.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Sends raw bytes (over TLS with this SNI when `servername` is set) and returns everything the sidecar answered. */
export function rawExchange(port: number, payload: string | Buffer, o: { servername?: string; ca?: string; waitMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket: net.Socket = o.servername ? tls.connect({ host: '127.0.0.1', port, servername: o.servername, ca: o.ca, ALPNProtocols: ['http/1.1'] }) : net.connect({ host: '127.0.0.1', port });
    socket.once(o.servername ? 'secureConnect' : 'connect', () => socket.write(payload));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (e) => (chunks.length ? resolve(Buffer.concat(chunks).toString()) : reject(e)));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    setTimeout(() => socket.end(), o.waitMs ?? 1500);
  });
}
