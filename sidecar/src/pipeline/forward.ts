// The forward pass: sends a request upstream over a keep-alive pool keyed by
// destination AND credential (so B never rides A's connection), to the address
// that was checked, with TLS verified against the system roots plus the
// destination's own CA bundle. Redirects are never followed (this is not a
// client). Each connection is an UpstreamConnection (Node's own HTTP parser,
// one exchange at a time); measured against undici's pools, which this
// replaced, it costs about 25 µs less CPU per request (docs/benchmarks.md).
import net from 'node:net';
import tls, { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { UpstreamConnection, upstreamError, type ConnectionOwner, type UpstreamHandler, type UpstreamRequest } from './upstream-connection.ts';

export type { UpstreamHandler } from './upstream-connection.ts';

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

/** The connections to one destination for one credential: idle ones reused most recent first, at most `max` open, requests queued beyond that. */
class OriginPool implements ConnectionOwner {
  #idle: UpstreamConnection[] = [];
  #open = new Set<UpstreamConnection>();
  #queue: UpstreamRequest[] = [];
  #closed = false;
  /** Draining: the exchanges under way and queued finish, then every connection closes instead of idling. */
  #draining = false;
  #dial: () => UpstreamConnection;
  #max: number;
  #idleMs: number;

  /** The credential its requests carry (null: none). */
  readonly credentialId: string | null;

  constructor(dial: (owner: OriginPool) => UpstreamConnection, max: number, idleMs: number, credentialId: string | null) {
    this.credentialId = credentialId;
    this.#dial = () => dial(this);
    this.#max = max;
    this.#idleMs = idleMs;
  }

  dispatch(x: UpstreamRequest): void {
    if (this.#closed) {
      x.handler.onError(upstreamError('ERR_UPSTREAM_CLOSED', 'upstream pool closed'));
      return;
    }
    if (x.aborted) return;
    for (let c = this.#idle.pop(); c !== undefined; c = this.#idle.pop()) {
      if (c.usable) return c.send(x);
    }
    if (this.#open.size < this.#max) {
      const c = this.#dial();
      this.#open.add(c);
      c.send(x);
    } else this.#queue.push(x);
  }

  release(c: UpstreamConnection): void {
    for (let x = this.#queue.shift(); x !== undefined; x = this.#queue.shift()) {
      if (!x.aborted) return c.send(x);
    }
    if (this.#draining) return c.destroy();
    this.#idle.push(c);
    c.idle(this.#idleMs);
  }

  /** Closes the idle connections now and each busy one when its exchanges (and those queued for it) are done; the caller has already stopped handing it new requests. */
  drain(): void {
    this.#draining = true;
    for (const c of this.#idle.splice(0)) c.destroy();
  }

  closed(c: UpstreamConnection): void {
    this.#open.delete(c);
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
    // a queued request takes the freed place
    for (let x = this.#queue.shift(); x !== undefined; x = this.#queue.shift()) {
      if (!x.aborted) return this.dispatch(x);
    }
  }

  destroy(): void {
    this.#closed = true;
    const queued = this.#queue.splice(0);
    for (const c of [...this.#open]) c.destroy();
    for (const x of queued) if (!x.aborted) x.handler.onError(upstreamError('ERR_UPSTREAM_CLOSED', 'upstream pool closed'));
  }
}

/** Node's TLS client refuses an IP address as the server name (RFC 6066). */
function serverName(host: string): string | undefined {
  return net.isIP(host) === 0 ? host : undefined;
}

export class UpstreamPool {
  #pools = new Map<string, OriginPool>();
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
  pool(t: UpstreamTarget): OriginPool {
    const key = UpstreamPool.key(t);
    let pool = this.#pools.get(key);
    if (pool) {
      this.#pools.delete(key);
      this.#pools.set(key, pool);
      return pool;
    }
    const connectTimeoutMs = this.#opts.connectTimeoutMs ?? 10_000;
    const secureContext = t.tls ? this.secureContext(t.caBundle) : null;
    const name = serverName(t.host);
    // the last TLS session this pool was given: a new connection resumes it
    // (a shorter handshake) with the same verified upstream, as undici did
    let session: Buffer | undefined;
    pool = new OriginPool(
      (owner) => {
        // dial the checked address: the name is never resolved again
        if (secureContext === null) return new UpstreamConnection(net.connect({ host: t.address, port: t.port }), false, owner, connectTimeoutMs);
        const socket = tls.connect({ host: t.address, port: t.port, ...(name ? { servername: name } : {}), ...(session ? { session } : {}), secureContext, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'], checkServerIdentity: (_host, cert) => tls.checkServerIdentity(t.host, cert) });
        socket.on('session', (s: Buffer) => (session = s));
        socket.once('error', () => (session = undefined));
        return new UpstreamConnection(socket, true, owner, connectTimeoutMs);
      },
      this.#opts.maxSocketsPerAgent,
      this.#opts.idleTimeoutMs,
      t.credentialId ?? null,
    );
    this.#pools.set(key, pool);
    while (this.#pools.size > this.#opts.maxAgents) {
      const [oldestKey, oldest] = this.#pools.entries().next().value as [string, OriginPool];
      this.#pools.delete(oldestKey);
      oldest.destroy();
    }
    return pool;
  }

  /**
   * Retires the pools that carry a released credential: a new request with
   * that credential id (there should be none) gets a new pool; the exchanges
   * already under way finish, and no connection made for it stays open.
   */
  dropCredential(credentialId: string): void {
    for (const [key, pool] of [...this.#pools]) {
      if (pool.credentialId === credentialId) {
        this.#pools.delete(key);
        pool.drain();
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
    const x: UpstreamRequest = { method, path, headers, body, timeoutMs, handler, aborted: false, carrier: null };
    // the handler may abort while the request waits for a connection (it is
    // then never sent) or during the exchange (the connection is closed)
    handler.onConnect((err) => {
      if (x.aborted) return;
      x.aborted = true;
      x.carrier?.cancel(x, err);
    });
    if (x.aborted) return;
    this.pool(t).dispatch(x);
  }

  close(): void {
    for (const p of this.#pools.values()) p.destroy();
    this.#pools.clear();
  }
}
