// One keep-alive HTTP/1.1 connection to an upstream: it writes a request and
// reads the response with Node's own parser (llhttp, the one behind node:http,
// reached through `_http_common`), one exchange at a time, never pipelined.
// Nothing is written before the connection is up and, for TLS, the upstream's
// certificate has been verified. A response the parser rejects, a connection
// that ends early or a timeout fails the exchange and closes the connection; a
// connection goes back to its pool only after a complete response to a request
// that was completely sent, with keep-alive on both sides.
import type net from 'node:net';
import { HTTPParser, type NodeHttpParser } from '../http/llhttp.ts';
import { TOKEN } from '../http/names.ts';

/** What the pipeline hears back from one upstream exchange. */
export interface UpstreamHandler {
  /** Called once, before anything is sent: `abort` cancels the exchange (a queued request is never sent; a sent one closes its connection). */
  onConnect(abort: (err?: Error) => void): void;
  /** The final response head (1xx are consumed here); false aborts the exchange. `resume` restarts a paused body. */
  onHeaders(status: number, headers: string[], resume: () => void, statusText: string): boolean;
  /** A body chunk; false pauses reading until `resume`. */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  /** The exchange failed; after the head only if the connection failed mid-body. */
  onError(err: Error): void;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Flat name, value list, Host included. */
  headers: string[];
  /** The app's request stream (null when it has no body) or a buffered body. */
  body: NodeJS.ReadableStream | Buffer | null;
  /** Bounds the wait for the response head and between two body chunks. */
  timeoutMs: number;
  handler: UpstreamHandler;
  /** Set when the handler aborted. */
  aborted: boolean;
  /** The connection that took the request, once one has. */
  carrier: UpstreamConnection | null;
}

/** What a connection tells its pool. */
export interface ConnectionOwner {
  release(c: UpstreamConnection): void;
  closed(c: UpstreamConnection): void;
}

/** Node's own limit for a response head (http.maxHeaderSize). */
const MAX_HEADER_BYTES = 16 * 1024;
const UNSAFE = /[\r\n\0]/;
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'QUERY']);

/** An error with the `code` that `upstreamFailure` (relay.ts) reads. */
export function upstreamError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The request head as written: request line, the headers, and the framing this client adds for the body. */
export function requestHead(method: string, path: string, headers: readonly string[], body: NodeJS.ReadableStream | Buffer | null): { head: string; chunked: boolean } {
  if (!TOKEN.test(method)) throw upstreamError('ERR_UPSTREAM_REQUEST_INVALID', 'request method is not a token');
  if (path.length === 0 || /[\s\0]/.test(path)) throw upstreamError('ERR_UPSTREAM_REQUEST_INVALID', 'request target is empty or has white space or NUL');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let length = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (!TOKEN.test(name) || UNSAFE.test(value)) throw upstreamError('ERR_UPSTREAM_REQUEST_INVALID', `request header ${JSON.stringify(name)} is not a valid HTTP header`);
    if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
    head += `${name}: ${value}\r\n`;
  }
  let chunked = false;
  if (Buffer.isBuffer(body)) {
    if (!length) head += `content-length: ${body.length}\r\n`;
  } else if (body !== null) {
    if (!length) {
      head += 'transfer-encoding: chunked\r\n';
      chunked = true;
    }
  } else if (!length && METHODS_WITH_BODY.has(method)) head += 'content-length: 0\r\n';
  return { head: `${head}\r\n`, chunked };
}

export class UpstreamConnection {
  readonly socket: net.Socket;
  #owner: ConnectionOwner;
  #parser: NodeHttpParser;
  #ready = false;
  #closed = false;
  #error: Error | null = null;
  #x: UpstreamRequest | null = null;
  /** The final head of the current exchange was delivered. */
  #responded = false;
  #interim = false;
  #keepAlive = false;
  #sent = false;
  #completed = false;
  #partial: string[] = [];
  #timeoutMs = 0;
  #stopBody: (() => void) | null = null;

  constructor(socket: net.Socket, secure: boolean, owner: ConnectionOwner, connectTimeoutMs: number) {
    this.socket = socket;
    this.#owner = owner;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    this.#setTimeout(connectTimeoutMs);
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_BYTES, HTTPParser.kLenientNone);
    parser[HTTPParser.kOnHeaders] = this.#onHeaders;
    parser[HTTPParser.kOnHeadersComplete] = this.#onHeadersComplete;
    parser[HTTPParser.kOnBody] = this.#onBody;
    parser[HTTPParser.kOnMessageComplete] = this.#onMessageComplete;
    this.#parser = parser;
    socket.once(secure ? 'secureConnect' : 'connect', this.#onReady);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', (err: Error) => (this.#error ??= err));
    socket.on('close', this.#onClose);
    socket.on('timeout', this.#onTimeout);
  }

  /** Whether a request may be sent on this connection now. */
  get usable(): boolean {
    return !this.#closed && this.#x === null && !this.socket.destroyed;
  }

  /** Starts an exchange; the request is written once the connection is up. */
  send(x: UpstreamRequest): void {
    this.#x = x;
    this.#responded = false;
    this.#interim = false;
    this.#keepAlive = false;
    this.#sent = false;
    this.#completed = false;
    x.carrier = this;
    if (this.#ready) this.#write(x);
  }

  /** Cancels `x` if it is still this connection's exchange (a later one is left alone). */
  cancel(x: UpstreamRequest, err?: Error): void {
    if (this.#x === x) this.#abort(err);
  }

  /** An idle connection waits this long for its next request. */
  idle(timeoutMs: number): void {
    this.#setTimeout(timeoutMs);
  }

  destroy(err?: Error): void {
    if (err) this.#error ??= err;
    this.socket.destroy();
  }

  #setTimeout(ms: number): void {
    if (ms === this.#timeoutMs) return;
    this.#timeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  #abort = (err?: Error): void => {
    if (this.#x === null) return;
    this.#x = null; // the handler already knows
    this.destroy(err ?? upstreamError('ERR_UPSTREAM_ABORTED', 'exchange aborted'));
  };

  #onReady = (): void => {
    this.#ready = true;
    if (this.#x !== null) this.#write(this.#x);
  };

  #write(x: UpstreamRequest): void {
    this.#setTimeout(x.timeoutMs);
    let framing: { head: string; chunked: boolean };
    try {
      framing = requestHead(x.method, x.path, x.headers, x.body);
    } catch (err) {
      return this.#fail(err as Error);
    }
    const socket = this.socket;
    const body = x.body;
    if (body === null || Buffer.isBuffer(body)) {
      if (body !== null && body.length > 0) {
        socket.cork();
        socket.write(framing.head, 'latin1');
        socket.write(body);
        socket.uncork();
      } else socket.write(framing.head, 'latin1');
      this.#sent = true;
      return;
    }
    socket.write(framing.head, 'latin1');
    this.#streamBody(body, framing.chunked);
  }

  /** Copies the app's request body with backpressure; an app that stops before its end fails the exchange. */
  #streamBody(body: NodeJS.ReadableStream, chunked: boolean): void {
    const socket = this.socket;
    const onChunk = (chunk: Buffer): void => {
      if (chunk.length === 0) return;
      let ok: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else ok = socket.write(chunk);
      if (!ok) body.pause();
    };
    const onDrain = (): void => void body.resume();
    const onEnd = (): void => {
      stop();
      if (chunked && !socket.destroyed) socket.write('0\r\n\r\n', 'latin1');
      this.#sent = true;
      if (this.#completed) this.#finish();
    };
    const onAbort = (): void => {
      stop();
      this.#fail(upstreamError('ERR_REQUEST_BODY_ABORTED', 'the app stopped sending the request body'));
    };
    const stop = (): void => {
      this.#stopBody = null;
      body.removeListener('data', onChunk);
      body.removeListener('end', onEnd);
      body.removeListener('error', onAbort);
      body.removeListener('close', onAbort);
      socket.removeListener('drain', onDrain);
    };
    this.#stopBody = stop;
    body.on('data', onChunk);
    body.on('end', onEnd);
    body.on('error', onAbort);
    body.on('close', onAbort);
    socket.on('drain', onDrain);
    body.resume();
  }

  #onData = (data: Buffer): void => {
    let ret: number | Error;
    try {
      ret = this.#parser.execute(data);
    } catch (err) {
      return this.#fail(err as Error);
    }
    if (ret instanceof Error) return this.#fail(upstreamError((ret as Error & { code?: string }).code ?? 'HPE_INVALID', `upstream sent an invalid response: ${ret.message}`));
    if (this.#completed && this.#sent) this.#finish();
  };

  #onHeaders = (headers: string[]): void => {
    for (const h of headers) this.#partial.push(h);
  };

  #onHeadersComplete = (_major: number, _minor: number, headers: string[] | undefined, _method: unknown, _url: unknown, status: number, statusText: string, upgrade: boolean, keepAlive: boolean): number => {
    const x = this.#x;
    let all = headers;
    if (all === undefined) {
      // more than 32 headers: they came in kOnHeaders batches
      all = this.#partial;
      this.#partial = [];
    }
    if (x === null || this.#completed) {
      this.destroy(upstreamError('ERR_UPSTREAM_UNSOLICITED', 'upstream sent a response nobody asked for'));
      return 1;
    }
    if (upgrade || status === 101) {
      this.#fail(upstreamError('ERR_UPSTREAM_UPGRADE', 'upstream switched protocols, which the sidecar does not relay'));
      return 1;
    }
    if (status < 200) {
      this.#interim = true; // 1xx: the app's server already answered 100-continue itself
      return 1;
    }
    this.#responded = true;
    this.#keepAlive = keepAlive;
    if (!x.handler.onHeaders(status, all, this.#resume, statusText ?? '')) {
      this.#abort();
      return 1;
    }
    return x.method === 'HEAD' ? 1 : 0;
  };

  #resume = (): void => {
    if (!this.socket.destroyed) this.socket.resume();
  };

  #onBody = (chunk: Buffer): void => {
    const x = this.#x;
    if (x === null) return;
    if (!x.handler.onData(chunk)) this.socket.pause();
  };

  #onMessageComplete = (): void => {
    if (this.#interim) {
      this.#interim = false;
      return;
    }
    const x = this.#x;
    if (x === null || !this.#responded) return;
    this.#completed = true;
    x.handler.onComplete();
    if (this.#x !== x) return; // the handler aborted
    if (!this.#sent) {
      // answered before the request body was all sent: the connection cannot be reused
      this.#x = null;
      this.#stopBody?.();
      this.destroy();
    }
  };

  /** After a complete exchange: back to the pool, or closed. */
  #finish(): void {
    this.#x = null;
    this.#completed = false;
    if (this.#keepAlive && !this.socket.destroyed && !this.#closed) {
      // a handler that paused the body is done with it: read the idle connection again, to see it close
      if (this.socket.isPaused()) this.socket.resume();
      this.#owner.release(this);
    } else this.destroy();
  }

  #onEnd = (): void => {
    // a response without a length ends with the connection
    if (this.#x !== null && this.#responded && !this.#completed) {
      try {
        const ret = this.#parser.finish();
        if (ret instanceof Error) this.#error ??= upstreamError('HPE_INVALID_EOF_STATE', 'upstream closed the connection in the middle of the response');
      } catch (err) {
        this.#error ??= err as Error;
      }
    }
    this.#keepAlive = false;
    if (this.#completed && this.#sent) this.#finish();
    this.destroy();
  };

  #onTimeout = (): void => {
    if (this.#x === null) {
      this.destroy(); // idle, or connecting for nobody
      return;
    }
    const code = !this.#ready ? 'ERR_UPSTREAM_CONNECT_TIMEOUT' : this.#responded ? 'ERR_UPSTREAM_BODY_TIMEOUT' : 'ERR_UPSTREAM_HEADERS_TIMEOUT';
    this.#fail(upstreamError(code, `upstream timed out after ${this.#timeoutMs} ms`));
  };

  /** Fails the current exchange, if any, and closes the connection. */
  #fail(err: Error): void {
    this.#error ??= err;
    const x = this.#x;
    this.#x = null;
    this.#stopBody?.();
    this.socket.destroy();
    if (x !== null && !this.#completed) x.handler.onError(this.#error);
  }

  #onClose = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    const x = this.#x;
    this.#x = null;
    this.#stopBody?.();
    this.#parser.close();
    if (x !== null && !this.#completed) x.handler.onError(this.#error ?? upstreamError('ERR_UPSTREAM_CLOSED', 'upstream closed the connection before the response was complete'));
    this.#owner.closed(this);
  };
}
