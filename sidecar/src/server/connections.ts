// What happens to each accepted connection: peek at the first bytes without
// consuming them; plain HTTP goes to the request pipeline; TLS for a host a
// policy knows is terminated with a leaf from the pod CA and then goes to the
// pipeline; TLS for any other host is spliced byte-for-byte, never decrypted;
// TLS without a server name is refused. CONNECT tunnels (explicit mode) come
// back here with the port they asked for.
import net from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { parseClientHello, looksLikeTls } from '../tls/client-hello.ts';
import { canonicalHost, parseAuthority } from '../http/authority.ts';
import type { PodCa } from '../tls/pod-ca.ts';
import type { Resolver } from '../net/resolve.ts';
import type { ConnInfo } from '../pipeline/request.ts';
import type { FrontRequest, Http1Front } from './http1.ts';
import type { Metrics } from '../metrics.ts';
import { audit, type AuditRecord } from '../audit.ts';
import type { PipelineState } from '../pipeline/handler.ts';

export interface ConnectionDeps {
  front: Http1Front<ConnInfo>;
  /** Whether a policy selecting this pod names the host (so it is intercepted). */
  intercepts: (host: string) => boolean;
  ca: () => PodCa;
  resolver: Resolver;
  log: Logger;
  metrics: Metrics;
  state: PipelineState;
  peekTimeoutMs: number;
  /** Open spliced connections, closed on drain. */
  spliced: Set<net.Socket>;
}

export function createConnectionHandler(deps: ConnectionDeps) {
  const { log, metrics } = deps;

  /** A connection-level decision: the audit line and the request counter. */
  function note(destination: AuditRecord['destination'], decision: AuditRecord['decision'], reason: string, extra: Pick<AuditRecord, 'error' | 'status'>): void {
    const { identity } = deps.state;
    audit(log, { pod: { namespace: identity.namespace, name: identity.name, serviceAccount: identity.serviceAccount }, destination, decision, reason, ...extra });
    metrics.requests.inc({ decision, policy: '', mode: '' });
  }

  function record(host: string, port: number, decision: AuditRecord['decision'], reason: string, error?: string): void {
    note({ host, port, tls: true }, decision, reason, error ? { error } : {});
  }

  /** A request the HTTP/1 front answered itself (Http1Events.rejected). */
  function rejected(status: number, code: string, info: ConnInfo): void {
    note({ host: info.sni ?? info.tunnelHost ?? '', port: info.port ?? 0, tls: info.tls }, 'deny', 'client-error', { status, error: code });
  }

  /** Handles a socket whose destination port is known (captured or CONNECT). */
  function accept(socket: net.Socket, port: number | null, via: ConnInfo['via'], tunnelHost?: string): void {
    socket.on('error', () => socket.destroy());
    socket.setTimeout(deps.peekTimeoutMs, () => socket.destroy());
    let buf: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (!looksLikeTls(buf[0] as number)) {
        stop();
        return plain(socket, buf, { tls: false, sni: null, port, via, ...(tunnelHost ? { tunnelHost } : {}) });
      }
      if (via === 'proxy') {
        stop();
        socket.destroy();
        return;
      }
      const hello = parseClientHello(buf);
      if (hello.kind === 'need-more') return;
      stop();
      if (hello.kind !== 'hello') {
        metrics.connections.inc({ kind: 'refused' });
        record(tunnelHost ?? '', port ?? 0, 'deny', 'bad-client-hello', hello.kind === 'invalid' ? hello.reason : 'not TLS');
        socket.destroy();
        return;
      }
      const sni = hello.serverName === null ? null : canonicalHost(hello.serverName);
      if (sni === null || !sni.ok || sni.ip !== 0) {
        metrics.connections.inc({ kind: 'refused' });
        record(tunnelHost ?? '', port ?? 0, 'deny', sni === null ? 'no-sni' : 'bad-sni', 'TLS without a usable server name cannot be routed');
        socket.destroy();
        return;
      }
      if (tunnelHost !== undefined && sni.host !== tunnelHost) {
        metrics.connections.inc({ kind: 'refused' });
        record(sni.host, port ?? 0, 'deny', 'sni-mismatch', 'TLS server name differs from the CONNECT target');
        socket.destroy();
        return;
      }
      void tlsRoute(socket, buf, sni.host, port ?? 443, via, tunnelHost);
    };
    const stop = (): void => {
      socket.removeListener('data', onData);
      socket.setTimeout(0);
      socket.pause();
    };
    socket.on('data', onData);
  }

  function plain(socket: net.Socket, buf: Buffer, info: ConnInfo): void {
    metrics.connections.inc({ kind: 'http' });
    socket.unshift(buf);
    deps.front.serve(socket, info);
  }

  async function tlsRoute(socket: net.Socket, buf: Buffer, host: string, port: number, via: ConnInfo['via'], tunnelHost?: string): Promise<void> {
    if (deps.intercepts(host)) {
      let leaf;
      try {
        leaf = await deps.ca().leaf(host);
      } catch (err) {
        record(host, port, 'deny', 'leaf-refused', (err as Error).message);
        socket.destroy();
        return;
      }
      if (socket.destroyed) return;
      metrics.connections.inc({ kind: 'intercepted' });
      socket.unshift(buf);
      const tls = new TLSSocket(socket, { isServer: true, secureContext: leaf.context, ALPNProtocols: ['http/1.1'] });
      tls.on('error', (err) => {
        log.debug({ err: err.message, host }, 'client tls failed');
        tls.destroy();
      });
      deps.front.serve(tls, { tls: true, sni: host, port, via, ...(tunnelHost ? { tunnelHost } : {}) });
      return;
    }
    // No policy knows this host: splice to it without decrypting.
    let address: string;
    try {
      address = await deps.resolver.resolve(host, true);
    } catch (err) {
      record(host, port, 'deny', (err as { code?: string }).code ?? 'resolve', (err as Error).message);
      socket.destroy();
      return;
    }
    metrics.connections.inc({ kind: 'passthrough' });
    const upstream = net.connect({ host: address, port });
    deps.spliced.add(socket);
    upstream.on('connect', () => {
      upstream.write(buf);
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.resume();
      record(host, port, 'passthrough', 'no-policy');
    });
    const close = (): void => {
      deps.spliced.delete(socket);
      socket.destroy();
      upstream.destroy();
    };
    upstream.on('error', close);
    upstream.on('close', close);
    socket.on('close', close);
  }

  /** The explicit proxy's CONNECT: answer, then treat the tunnel like a captured connection. */
  function connect(req: FrontRequest, socket: net.Socket, head: Buffer, info: ConnInfo): void {
    const target = parseAuthority(req.url);
    if (info.via !== 'proxy' || !target.ok || target.authority.port === null || target.authority.ip !== 0) {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nmayfly: CONNECT needs host:port with a DNS name, on the proxy port\n');
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    accept(socket, target.authority.port, 'tunnel', target.authority.host);
    socket.resume();
  }

  return { accept, connect, rejected };
}
