// Real HTTP and HTTPS upstream servers on loopback that record every request
// they receive (method, target, raw headers, body, which connection).
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Issued } from './pki.ts';

export interface Received {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  body: string;
  connection: number;
  servername?: string;
}

export interface Upstream {
  port: number;
  received: Received[];
  /** TCP connections accepted (TLS or not). */
  connections: number;
  /** Bytes seen on any connection (proves "no request bytes written"). */
  bytes: number;
  respond: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;
  close(): Promise<void>;
}

export async function startUpstream(tls: Issued | null): Promise<Upstream> {
  let connId = 0;
  const up: Upstream = {
    port: 0,
    received: [],
    connections: 0,
    bytes: 0,
    respond: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello from upstream\n');
    },
    close: async () => {},
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const socket = req.socket as typeof req.socket & { servername?: string; mayflyId?: number };
      up.received.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers, body, connection: socket.mayflyId ?? -1, ...(socket.servername ? { servername: socket.servername } : {}) });
      up.respond(req, res, body);
    });
  };
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, onRequest) : http.createServer(onRequest);
  const count = (socket: Socket): void => {
    up.connections++;
    (socket as typeof socket & { mayflyId?: number }).mayflyId = connId++;
    socket.on('data', (d: Buffer) => (up.bytes += d.length));
  };
  if (tls) {
    server.on('connection', (s) => {
      up.connections++;
      s.on('data', (d: Buffer) => (up.bytes += d.length));
    });
    server.on('secureConnection', (s) => ((s as typeof s & { mayflyId?: number }).mayflyId = connId++));
  } else server.on('connection', count);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.port = (server.address() as AddressInfo).port;
  up.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return up;
}
