// The forward pass: sends a request upstream over a keep-alive pool keyed by
// destination AND credential (so B never rides A's connection), to the address
// that was checked, with TLS verified against the system roots plus the
// destination's own CA bundle. Redirects are never followed (this is not a
// client). The pools are undici's (the HTTP/1.1 client behind Node's fetch),
// markedly cheaper per request than node:http's ClientRequest and Agent.
import type { LookupFunction } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { Dispatcher, Pool as UndiciPool } from 'undici';
import Pool from 'undici/lib/dispatcher/pool.js';

export interface UpstreamTarget {
  tls: boolean;
  /** Canonical host name: the TLS server name and the name the certificate must carry. */
  host: string;
  port: number;
  /** The checked address to dial. */
  address: string;
  caBundle?: string;
  /** The credential riding this connection, or null for none. */
  credentialId: string | null;
}

export interface PoolOptions {
  /** Extra PEM roots trusted for every upstream (local runs and tests). */
  extraCa: readonly string[];
  maxAgents: number;
  maxSocketsPerAgent: number;
  idleTimeoutMs: number;
  connectTimeoutMs?: number;
}

/** The sidecar's pool limits: at most 512 destination-and-credential pools of up to 256 connections each, idle ones closed after 30 s. */
export const SIDECAR_POOL_LIMITS = { maxAgents: 512, maxSocketsPerAgent: 256, idleTimeoutMs: 30_000 } as const;

/** What the pipeline hears back from one upstream exchange (undici's dispatch handler). */
export type UpstreamHandler = Dispatcher.DispatchHandler;

/** A lookup that only ever answers the checked address: the name is never resolved again. */
function pinnedLookup(address: string): LookupFunction {
  const family = address.includes(':') ? 6 : 4;
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction;
}

export class UpstreamPool {
  #pools = new Map<string, UndiciPool>();
  #contexts = new Map<string, SecureContext>();
  #opts: PoolOptions;

  constructor(opts: PoolOptions) {
    this.#opts = opts;
  }

  static key(t: UpstreamTarget): string {
    return `${t.tls ? 'https' : 'http'}|${t.host}|${t.port}|${t.address}|${t.caBundle ?? ''}|${t.credentialId ?? '-'}`;
  }

  /** The secure context for a destination: system roots + extra roots + its CA bundle. Never disables verification. */
  secureContext(caBundle: string | undefined): SecureContext {
    const key = caBundle ?? '';
    let ctx = this.#contexts.get(key);
    if (!ctx) {
      ctx = createSecureContext({ ca: [...rootCertificates, ...this.#opts.extraCa, ...(caBundle ? [caBundle] : [])], minVersion: 'TLSv1.2' });
      this.#contexts.set(key, ctx);
    }
    return ctx;
  }

  /** The pool for a destination and credential (most recently used last; the oldest are closed beyond maxAgents). */
  pool(t: UpstreamTarget): UndiciPool {
    const key = UpstreamPool.key(t);
    let pool = this.#pools.get(key);
    if (pool) {
      this.#pools.delete(key);
      this.#pools.set(key, pool);
      return pool;
    }
    const host = t.host.includes(':') ? `[${t.host}]` : t.host;
    pool = new Pool(`${t.tls ? 'https' : 'http'}://${host}:${t.port}`, {
      connections: this.#opts.maxSocketsPerAgent,
      pipelining: 1,
      keepAliveTimeout: this.#opts.idleTimeoutMs,
      keepAliveMaxTimeout: this.#opts.idleTimeoutMs,
      connectTimeout: this.#opts.connectTimeoutMs ?? 10_000,
      strictContentLength: true,
      connect: {
        lookup: pinnedLookup(t.address),
        ...(t.tls ? { secureContext: this.secureContext(t.caBundle), rejectUnauthorized: true } : {}),
      },
    });
    this.#pools.set(key, pool);
    while (this.#pools.size > this.#opts.maxAgents) {
      const [oldestKey, oldest] = this.#pools.entries().next().value as [string, UndiciPool];
      this.#pools.delete(oldestKey);
      void oldest.destroy().catch(() => {});
    }
    return pool;
  }

  /** Drops the pools of credentials no longer in use. */
  retainCredentials(keep: (credentialId: string) => boolean): void {
    for (const [key, pool] of [...this.#pools]) {
      const id = key.slice(key.lastIndexOf('|') + 1);
      if (id !== '-' && !keep(id)) {
        this.#pools.delete(key);
        void pool.destroy().catch(() => {});
      }
    }
  }

  get size(): number {
    return this.#pools.size;
  }

  /**
   * Sends one request. `headers` is a flat name, value list that already holds
   * Host; `body` is the app's request stream (null when it has no body) or a
   * buffered, signed body. `timeoutMs` bounds the wait for the response head
   * and between two body chunks.
   */
  request(t: UpstreamTarget, method: string, path: string, headers: string[], body: NodeJS.ReadableStream | Buffer | null, timeoutMs: number, handler: UpstreamHandler): void {
    this.pool(t).dispatch({ method, path, headers, body: body as Dispatcher.DispatchOptions['body'], idempotent: false, blocking: true, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, handler);
  }

  close(): void {
    for (const p of this.#pools.values()) void p.destroy().catch(() => {});
    this.#pools.clear();
  }
}
