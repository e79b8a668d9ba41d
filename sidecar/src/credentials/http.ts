// The one HTTPS client of the credential layer: providers, the broker client
// and JWKS fetches. Each call trusts the system roots plus an optional extra CA
// bundle (a provider's caBundle), never follows redirects (a credential must
// not travel to where a 3xx points), bounds time and response size, and
// returns the server's Date so callers can correct for clock skew.
import { Agent, request } from 'node:https';
import { request as httpRequestPlain, type IncomingHttpHeaders } from 'node:http';
import { rootCertificates } from 'node:tls';

export interface HttpClientOptions {
  /** PEM certificates trusted in addition to the system roots. */
  ca?: string;
  timeoutMs?: number;
  maxResponseBytes?: number;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The server's Date header in epoch ms, when present and valid. */
  date: number | null;
}

export class HttpError extends Error {
  readonly code: 'ERR_HTTP_TIMEOUT' | 'ERR_HTTP_TOO_LARGE' | 'ERR_HTTP_NETWORK' | 'ERR_HTTP_URL';
  constructor(code: HttpError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpError';
    this.code = code;
  }
}

const agents = new Map<string, Agent>();

function agentFor(ca: string | undefined): Agent {
  const key = ca ?? '';
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 8, ...(ca ? { ca: [...rootCertificates, ca] } : {}) });
    agents.set(key, agent);
  }
  return agent;
}

/**
 * Plain http:// is accepted only for loopback (a local broker in
 * `mayfly sidecar --config` runs); everything else must be https://.
 */
function checkURL(url: URL): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]')) return;
  throw new HttpError('ERR_HTTP_URL', `refusing ${url.protocol} url`);
}

export function httpRequest(target: string, req: HttpRequest, opts: HttpClientOptions = {}): Promise<HttpResponse> {
  let url: URL;
  try {
    url = new URL(target);
    checkURL(url);
  } catch (err) {
    return Promise.reject(err instanceof HttpError ? err : new HttpError('ERR_HTTP_URL', 'invalid url', { cause: err }));
  }
  const max = opts.maxResponseBytes ?? 1_048_576;
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const headers = { ...req.headers, ...(body ? { 'content-length': String(body.length) } : {}) };
    const make = url.protocol === 'https:' ? request : httpRequestPlain;
    const r = make(
      url,
      {
        method: req.method,
        headers,
        timeout: opts.timeoutMs ?? 10_000,
        ...(url.protocol === 'https:' ? { agent: agentFor(opts.ca) } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > max) {
            res.destroy();
            reject(new HttpError('ERR_HTTP_TOO_LARGE', 'response too large'));
          } else chunks.push(c);
        });
        res.on('end', () => {
          const date = res.headers.date ? Date.parse(res.headers.date) : NaN;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), date: Number.isFinite(date) ? date : null });
        });
        res.on('error', (err) => reject(new HttpError('ERR_HTTP_NETWORK', 'response failed', { cause: err })));
      },
    );
    r.on('timeout', () => r.destroy(new HttpError('ERR_HTTP_TIMEOUT', 'request timed out')));
    r.on('error', (err) => reject(err instanceof HttpError ? err : new HttpError('ERR_HTTP_NETWORK', `request to ${url.host} failed`, { cause: err })));
    r.end(body);
  });
}

/** A fetch-shaped GET for libraries that take one (jose's remote JWKS). */
export function fetchWith(opts: HttpClientOptions): (url: string, init: { headers?: Headers; signal?: AbortSignal }) => Promise<Response> {
  return async (url, init) => {
    const res = await httpRequest(url, { method: 'GET', headers: { accept: 'application/json' }, ...(init.signal ? { signal: init.signal } : {}) }, opts);
    return new Response(res.body, { status: res.status, headers: { 'content-type': String(res.headers['content-type'] ?? 'application/json') } });
  };
}

/** Closes pooled connections (tests and shutdown). */
export function closeHttpAgents(): void {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}
