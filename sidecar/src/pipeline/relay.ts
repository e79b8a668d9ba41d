// The last passes: send the request upstream and stream the response back to
// the app, with backpressure both ways. Upstream failures before the response
// head become a SidecarError (the handler answers 502); after it, the app's
// connection is cut, since a partial response cannot be turned into an error.
import { appendResponseHeaders } from '../http/headers.ts';
import type { UpstreamHandler, UpstreamPool, UpstreamTarget } from './forward.ts';
import { upstreamError } from './upstream-connection.ts';
import type { SidecarError } from './respond.ts';

/** Where a relay writes the response: the app's side of the exchange (server/http1.ts's FrontResponse). */
export interface ResponseSink {
  /** The response ended or the app's connection closed. */
  readonly closed: boolean;
  /** Called once, when the response ended or the app's connection closed before. */
  onclose: (() => void) | null;
  ondrain: (() => void) | null;
  writeHead(status: number, statusText: string, headers: readonly string[]): void;
  write(chunk: Buffer): boolean;
  end(): void;
  destroy(): void;
}

export interface RelayRequest {
  target: UpstreamTarget;
  method: string;
  path: string;
  /** Flat name, value list, Host included. */
  headers: string[];
  body: NodeJS.ReadableStream | Buffer | null;
  timeoutMs: number;
  policy: string | undefined;
}

const TLS_FAILURE = /CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS|SSL/;
/** The app closed its connection before the upstream answered (nginx's 499). */
const CLIENT_CLOSED: SidecarError = { status: 499, code: 'client-closed', message: 'the app closed the connection before the upstream answered' };

/** The answer for an upstream that failed before its response head. */
export function upstreamFailure(err: Error & { code?: string }, policy: string | undefined): SidecarError {
  const code = err.code;
  const tls = typeof code === 'string' && TLS_FAILURE.test(code);
  const invalid = typeof code === 'string' && code.startsWith('HPE_');
  const timedOut = code === 'ERR_UPSTREAM_HEADERS_TIMEOUT' || code === 'ERR_UPSTREAM_CONNECT_TIMEOUT';
  const message = tls ? `upstream certificate rejected (${code})` : invalid ? `upstream sent an invalid response (${code})` : timedOut ? `upstream timed out (${code})` : `upstream unreachable (${code ?? err.message})`;
  return { status: 502, code: tls ? 'upstream-tls' : invalid ? 'upstream-invalid' : 'upstream-unreachable', message, ...(policy ? { policy } : {}) };
}

/** One exchange: the upstream connection's handler, writing straight into the app's response. */
class Relay implements UpstreamHandler {
  #res: ResponseSink;
  #policy: string | undefined;
  #abort: ((err?: Error) => void) | null = null;
  #responded = false;
  #done = false;
  #resume: (() => void) | null = null;
  #resolve: (status: number | undefined) => void;
  #reject: (e: SidecarError) => void;
  #status: number | undefined;

  constructor(res: ResponseSink, policy: string | undefined, resolve: (status: number | undefined) => void, reject: (e: SidecarError) => void) {
    this.#res = res;
    this.#policy = policy;
    this.#resolve = resolve;
    this.#reject = reject;
    res.onclose = this.#onClose;
    res.ondrain = this.#onDrain;
  }

  #onClose = (): void => {
    if (!this.#done) {
      // the app went away (or the response was cut): stop the upstream exchange
      this.#done = true;
      this.#abort?.(new Error('client closed the connection'));
    }
    if (this.#responded) this.#resolve(this.#status);
    else this.#reject(CLIENT_CLOSED);
  };

  #onDrain = (): void => this.#resume?.();

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    // the app left while the request waited for a pooled connection: never send it
    if (this.#done) abort(new Error('client closed the connection'));
  }

  onHeaders(status: number, raw: string[], resume: () => void, statusText: string): boolean {
    if (status < 200) return true; // 1xx: the app's server already answered 100-continue itself
    this.#responded = true;
    this.#status = status;
    const headers: string[] = [];
    appendResponseHeaders(raw, headers);
    try {
      this.#res.writeHead(status, statusText, headers);
    } catch {
      // a head the app's side refuses (llhttp already rejects control
      // characters, so this is defence in depth): answered as an invalid response
      this.#responded = false;
      this.onError(upstreamError('HPE_INVALID_RESPONSE_HEAD', 'upstream response head cannot be relayed'));
      return false;
    }
    this.#resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#res.write(chunk);
  }

  onComplete(): void {
    this.#done = true;
    this.#res.end();
  }

  onError(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#responded) {
      this.#res.destroy();
      return;
    }
    this.#res.onclose = null;
    this.#res.ondrain = null;
    this.#reject(upstreamFailure(err as Error & { code?: string }, this.#policy));
  }
}

/** Resolves with the upstream status once the app's response is closed; rejects when the upstream failed before answering. */
export function relay(pool: UpstreamPool, r: RelayRequest, res: ResponseSink): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    if (res.closed) {
      reject(CLIENT_CLOSED);
      return;
    }
    const handler = new Relay(res, r.policy, resolve, reject);
    try {
      pool.request(r.target, r.method, r.path, r.headers, r.body, r.timeoutMs, handler);
    } catch (err) {
      handler.onError(err as Error);
    }
  });
}
