// A local HTTPS server for the fakes of external services: a certificate from
// a throwaway CA (the client under test must be given that CA, as a caBundle
// or extra CA), every request recorded, and a Date header that can run ahead of
// or behind the real clock to simulate clock skew.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCA } from '../pki.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeRequest extends RecordedRequest {
  url: URL;
  /** The form body (application/x-www-form-urlencoded) or null. */
  form: URLSearchParams | null;
  /** The JSON body or undefined. */
  json: unknown;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export interface FakeServer {
  url: string;
  /** PEM of the CA that signed the server's certificate. */
  ca: string;
  requests: RecordedRequest[];
  /** Milliseconds added to the server's clock (its Date header and the times it issues). */
  skewMs: number;
  now(): number;
  close(): Promise<void>;
}

let pki: { ca: ReturnType<typeof createCA>; leaf: { certPem: string; keyPem: string } } | undefined;

/** One CA and serving certificate per process: key generation is the slow part of a fake. */
function fakePKI() {
  if (!pki) {
    const ca = createCA('mayfly-fake-ca');
    pki = { ca, leaf: ca.issueServer(['127.0.0.1', 'localhost']) };
  }
  return pki;
}

/** Where a fake listens: loopback with the fakes' own CA by default, or an address and certificate a test chooses. */
export interface FakeListen {
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string; caPem: string };
}

export async function startFakeServer(handle: (req: FakeRequest, server: FakeServer) => FakeResponse | Promise<FakeResponse>, listen?: FakeListen): Promise<FakeServer> {
  const own = listen ? undefined : fakePKI();
  const ca = { certPem: listen?.tls.caPem ?? own?.ca.certPem ?? '' };
  const leaf = listen?.tls ?? (own as NonNullable<typeof own>).leaf;
  const requests: RecordedRequest[] = [];
  const fake: FakeServer = {
    url: '',
    ca: ca.certPem,
    requests,
    skewMs: 0,
    now: () => Date.now() + fake.skewMs,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const recorded = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body };
      requests.push(recorded);
      const type = String(req.headers['content-type'] ?? '');
      let json: unknown;
      if (type.includes('json') && body) {
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
      }
      const fakeReq: FakeRequest = { ...recorded, url: new URL(req.url ?? '/', 'https://127.0.0.1'), form: type.startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(body) : null, json };
      Promise.resolve()
        .then(() => handle(fakeReq, fake))
        .then(
          (r) => res.writeHead(r.status, { date: new Date(fake.now()).toUTCString(), ...r.headers }).end(r.body),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(listen?.port ?? 0, listen?.host ?? '127.0.0.1', resolve));
  fake.url = `https://${listen?.host ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
  return fake;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): FakeResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
