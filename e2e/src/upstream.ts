// A stand-in for the APIs pods call: a real HTTPS (or HTTP) server that records
// exactly what it received (method, path, every header as sent, body), so
// scenarios assert what the upstream saw and not only what the client printed.
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';

export interface ReceivedRequest {
  method: string;
  path: string;
  /** Raw header pairs, lowercased names, in the order received. */
  headers: Array<[string, string]>;
  body: string;
  at: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface Upstream {
  url: string;
  received: ReceivedRequest[];
  /** Every value of a header across all requests (to prove a credential never arrived). */
  headerValues(name: string): string[];
  stop(): Promise<void>;
}

export function header(r: ReceivedRequest, name: string): string[] {
  return r.headers.filter(([k]) => k === name.toLowerCase()).map(([, v]) => v);
}

export async function startUpstream(o: {
  host: string;
  port: number;
  tls?: { certPem: string; keyPem: string };
  reply?: (req: ReceivedRequest) => Reply | Promise<Reply>;
}): Promise<Upstream> {
  const received: ReceivedRequest[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Array<[string, string]> = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([(req.rawHeaders[i] as string).toLowerCase(), req.rawHeaders[i + 1] as string]);
      const r: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(r);
      Promise.resolve(o.reply ? o.reply(r) : { status: 200, body: JSON.stringify({ ok: true }) }).then(
        (reply) => {
          res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
          res.end(reply.body ?? '');
        },
        (err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        },
      );
    });
  };
  const server: Server = o.tls ? createHttpsServer({ cert: o.tls.certPem, key: o.tls.keyPem }, handle) : createHttpServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    url: `${o.tls ? 'https' : 'http'}://${o.host}:${o.port}`,
    received,
    headerValues: (name) => received.flatMap((r) => header(r, name)),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
