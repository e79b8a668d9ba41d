// The forward pass: sends a request upstream over a keep-alive pool keyed by
// destination AND credential (so B never rides A's connection), to the address
// that was checked, with TLS verified against the system roots plus the
// destination's own CA bundle. Redirects are never followed (this is not a client).
import http from 'node:http';
import https from 'node:https';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';

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
}

export class UpstreamPool {
  #agents = new Map<string, http.Agent>();
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

  agent(t: UpstreamTarget): http.Agent {
    const key = UpstreamPool.key(t);
    let agent = this.#agents.get(key);
    if (agent) {
      this.#agents.delete(key);
      this.#agents.set(key, agent);
      return agent;
    }
    const common = { keepAlive: true, maxSockets: this.#opts.maxSocketsPerAgent, maxFreeSockets: 64, timeout: this.#opts.idleTimeoutMs, scheduling: 'lifo' as const };
    agent = t.tls ? new https.Agent({ ...common, secureContext: this.secureContext(t.caBundle), servername: t.host, rejectUnauthorized: true }) : new http.Agent(common);
    this.#agents.set(key, agent);
    while (this.#agents.size > this.#opts.maxAgents) {
      const [oldestKey, oldest] = this.#agents.entries().next().value as [string, http.Agent];
      this.#agents.delete(oldestKey);
      oldest.destroy();
    }
    return agent;
  }

  /** Drops the pools of credentials no longer in use. */
  retainCredentials(keep: (credentialId: string) => boolean): void {
    for (const [key, agent] of [...this.#agents]) {
      const id = key.slice(key.lastIndexOf('|') + 1);
      if (id !== '-' && !keep(id)) {
        this.#agents.delete(key);
        agent.destroy();
      }
    }
  }

  get size(): number {
    return this.#agents.size;
  }

  request(t: UpstreamTarget, method: string, path: string, headers: string[]): http.ClientRequest {
    const options: https.RequestOptions & { secureContext?: SecureContext } = {
      host: t.address,
      port: t.port,
      method,
      path,
      headers,
      agent: this.agent(t),
      setHost: false,
    };
    if (t.tls) {
      options.servername = t.host;
      options.secureContext = this.secureContext(t.caBundle);
      options.rejectUnauthorized = true;
      return https.request(options);
    }
    return http.request(options);
  }

  close(): void {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
  }
}
