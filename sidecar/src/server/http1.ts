// The server side of the app's HTTP/1.1 connections, on Node's own request
// parser (llhttp, through http/llhttp.ts) rather than Node's HTTP server:
// the same parser and its strict framing, without the IncomingMessage and
// ServerResponse streams and bookkeeping around it, which cost about as much
// per request as the parsing (docs/benchmarks.md).
//
// What it keeps from Node's server, on purpose:
// - llhttp in strict mode, with the configured header limit (431 beyond it);
// - one response at a time and in order: a pipelined request is parsed, then
//   waits (and the socket is not read further) until the one before it is
//   answered;
// - a request body nobody read is read and dropped after its response, so the
//   connection stays in step; data after a `Connection: close` request is not
//   read;
// - `Expect: 100-continue` answered at once, any other expectation with 417;
// - the headers timeout (from a request's first byte to the end of its head)
//   and the request timeout (to the end of its body) answer 408; an idle
//   connection closes after the keep-alive timeout, a new one that sends
//   nothing after the headers timeout;
// - response framing: the given Content-Length (never more bytes, and a short
//   body cuts the connection), chunked for HTTP/1.1 otherwise, until close for
//   HTTP/1.0; no body for HEAD, 204 and 304; `Date` when there is none;
//   `Connection` and `Keep-Alive` set here, never by the caller;
// - response heads written corked with their first body bytes, so a small
//   response leaves in one TLS record.
// Upgrades are answered 501; CONNECT hands the socket and the bytes after the
// head to the caller. A client's FIN ends its exchanges (its socket does not
// allow half-open connections), as with Node's server: the upstream exchange is
// aborted rather than answered to an app that has gone.
import type net from 'node:net';
import { Readable } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { HTTPParser, METHODS, type NodeHttpParser } from '../http/llhttp.ts';
import { TOKEN, lowerName } from '../http/names.ts';
import { errorResponse, writeError } from '../pipeline/respond.ts';

export interface Http1Limits {
  /** Request head limit (431 beyond it). */
  maxHeaderBytes: number;
  /** From a request's first byte to the end of its head. */
  headersTimeoutMs: number;
  /** From a request's first byte to the end of its body. */
  requestTimeoutMs: number;
  /** An idle connection between two requests. */
  keepAliveTimeoutMs: number;
  /** How often the timeouts are checked (they fire up to this much late). */
  checkIntervalMs: number;
}

/** What the front hands to its owner. `C` is what the owner knows about a connection. */
export interface Http1Events<C> {
  request(req: FrontRequest, res: FrontResponse, conn: C): void;
  /** CONNECT: the socket is the owner's from here on, with the bytes that followed the head. */
  connect(req: FrontRequest, socket: net.Socket, head: Buffer, conn: C): void;
  /** A request the front answered itself (malformed, too large, too slow, an upgrade, an expectation). */
  rejected(status: number, code: string, conn: C): void;
}

const EMPTY = Buffer.alloc(0);
/** What Node's server refuses in a header value: control characters other than HTAB. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;
/** Header names the front sets itself: a caller passing one is a bug. */
const FRONT_OWNED = new Set(['connection', 'keep-alive', 'transfer-encoding']);

let dateSecond = -1;
let dateLine = '';
/** `Date: <IMF-fixdate>\r\n`, made once per second. */
function dateHeader(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `Date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateLine;
}

/** A request as the front parsed it. */
export class FrontRequest {
  readonly method: string;
  /** The request target as sent. */
  readonly url: string;
  /** "1.1" or "1.0". */
  readonly httpVersion: string;
  /** Flat name, value list, as sent. */
  readonly rawHeaders: string[];
  /** The body, or null when the head frames none (no Content-Length other than 0, no Transfer-Encoding). */
  readonly body: Readable | null;

  constructor(method: string, url: string, httpVersion: string, rawHeaders: string[], body: Readable | null) {
    this.method = method;
    this.url = url;
    this.httpVersion = httpVersion;
    this.rawHeaders = rawHeaders;
    this.body = body;
  }
}

/** One exchange on a connection: the request, its response, and how far each got. */
interface Exchange {
  req: FrontRequest;
  res: FrontResponse;
  /** The request's body was received whole. */
  complete: boolean;
  /** The response ended before the request did: the rest of its body is read and dropped. */
  dropping: boolean;
  /** `Expect: 100-continue`: answered when the exchange starts. */
  continue: boolean;
  /** An expectation the sidecar cannot meet: answered 417 when the exchange starts. */
  refuse: boolean;
}

/** The response to one request; written to the connection in order. */
export class FrontResponse {
  statusCode = 200;
  /** The head was committed (writeHead). */
  headersSent = false;
  /** False closes the connection after this response (and says so in its head). */
  shouldKeepAlive: boolean;
  /** Called once: when the response ended, or when the connection closed before it did. */
  onclose: (() => void) | null = null;
  /** Called when the connection can take more after write() returned false. */
  ondrain: (() => void) | null = null;
  #conn: Http1Connection<unknown>;
  #head: boolean;
  #http10: boolean;
  #hasBody = true;
  #chunked = false;
  /** Body bytes the Content-Length still owes; -1 without one. */
  #remaining = -1;
  #finished = false;
  #closed = false;
  #destroyed = false;

  constructor(conn: Http1Connection<unknown>, req: FrontRequest, keepAlive: boolean) {
    this.#conn = conn;
    this.#head = req.method === 'HEAD';
    this.#http10 = req.httpVersion === '1.0';
    this.shouldKeepAlive = keepAlive;
  }

  /** The response ended or its connection closed: nothing more can be written. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Commits the head. `headers` is a flat name, value list; framing and connection headers are the front's. */
  writeHead(status: number, statusText: string, headers: readonly string[]): void {
    if (this.headersSent) throw new Error('response head already written');
    // a final response only: interim (1xx) responses are the front's own (100 Continue)
    if (!Number.isInteger(status) || status < 200 || status > 999) throw new Error(`invalid status ${status}`);
    const text = statusText || STATUS_CODES[status] || 'Unknown';
    if (INVALID_VALUE.test(text)) throw new Error('invalid status text');
    let head = `HTTP/1.1 ${status} ${text}\r\n`;
    let length = -1;
    let date = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      const value = headers[i + 1] as string;
      if (!TOKEN.test(name) || INVALID_VALUE.test(value)) throw new Error(`invalid response header ${JSON.stringify(name)}`);
      if (name.length === 14 || name.length === 4 || name.length === 10 || name.length === 17) {
        const lower = lowerName(name);
        if (lower === 'content-length') {
          if (!/^[0-9]{1,15}$/.test(value) || length !== -1) throw new Error('invalid Content-Length in response');
          length = Number(value);
        } else if (lower === 'date') date = true;
        else if (FRONT_OWNED.has(lower)) throw new Error(`response header ${name} is set by the front`);
      }
      head += `${name}: ${value}\r\n`;
    }
    this.statusCode = status;
    this.headersSent = true;
    this.#hasBody = !this.#head && status !== 204 && status !== 304;
    if (this.#hasBody) {
      if (length >= 0) this.#remaining = length;
      else if (!this.#http10) {
        this.#chunked = true;
        head += 'Transfer-Encoding: chunked\r\n';
      } else this.shouldKeepAlive = false; // HTTP/1.0 without a length: the body ends with the connection
    }
    if (!date) head += dateHeader();
    head += this.shouldKeepAlive ? this.#conn.keepAliveHeader : 'Connection: close\r\n';
    if (this.#closed || this.#destroyed) return; // the app left: nothing to write to
    this.#conn.writeHead(`${head}\r\n`);
  }

  /** A body chunk; false when the connection is backed up (wait for ondrain). */
  write(chunk: Buffer | string): boolean {
    if (this.#finished || this.#closed || this.#destroyed) return false;
    if (!this.headersSent) throw new Error('write before writeHead');
    if (!this.#hasBody || chunk.length === 0) return true;
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (this.#remaining >= 0) {
      if (size > this.#remaining) {
        // more than the Content-Length said: the app would read it as the next response
        this.destroy();
        return false;
      }
      this.#remaining -= size;
    }
    return this.#conn.writeBody(chunk, size, this.#chunked);
  }

  /** Ends the response (after `chunk`, if given). */
  end(chunk?: Buffer | string): void {
    if (this.#finished || this.#closed || this.#destroyed) return;
    if (chunk !== undefined) this.write(chunk);
    if (this.#destroyed) return;
    if (this.#remaining > 0) {
      // shorter than the Content-Length said: the app must not wait for the rest
      this.destroy();
      return;
    }
    this.#finished = true;
    this.#conn.endBody(this.#chunked);
    this.#close();
    this.#conn.responseEnded(this);
  }

  /** Cuts the connection (and with it this response). */
  destroy(): void {
    this.#destroyed = true;
    this.#conn.socket.destroy();
  }

  /** The connection closed. */
  connectionClosed(): void {
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.ondrain = null;
    const f = this.onclose;
    this.onclose = null;
    f?.();
  }
}

/** One app connection. */
export class Http1Connection<C> {
  readonly socket: net.Socket;
  readonly info: C;
  #front: Http1Front<C>;
  #parser: NodeHttpParser;
  /** Exchanges whose heads were parsed, in order; the first is being answered. */
  #queue: Exchange[] = [];
  /** The exchange whose body is being received. */
  #receiving: Exchange | null = null;
  /** When the request being received began (0 between requests). */
  #since = 0;
  #headersDone = false;
  /** Since when the connection has had nothing to do. */
  #idleSince: number;
  /** No request yet: the idle limit is the headers timeout. */
  #fresh = true;
  /** A request said this is the last (Connection: close, HTTP/1.0, an upgrade): nothing after it is read. */
  #last = false;
  #bodyFull = false;
  #upgrade: Exchange | null = null;
  #closed = false;
  /** Rejected or ending: nothing more is parsed. */
  #done = false;
  #partialHeaders: string[] = [];
  #partialUrl = '';

  constructor(front: Http1Front<C>, socket: net.Socket, info: C, now: number) {
    this.#front = front;
    this.socket = socket;
    this.info = info;
    this.#idleSince = now;
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, front.limits.maxHeaderBytes, HTTPParser.kLenientNone);
    parser[HTTPParser.kOnMessageBegin] = this.#onMessageBegin;
    parser[HTTPParser.kOnHeaders] = this.#onHeaders;
    parser[HTTPParser.kOnHeadersComplete] = this.#onHeadersComplete;
    parser[HTTPParser.kOnBody] = this.#onBody;
    parser[HTTPParser.kOnMessageComplete] = this.#onMessageComplete;
    this.#parser = parser;
    socket.on('data', this.#onData);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  get keepAliveHeader(): string {
    return this.#front.keepAliveHeader;
  }

  /** Nothing in flight: no request being received or answered. */
  get idle(): boolean {
    return this.#queue.length === 0 && this.#since === 0;
  }

  // --- the response side (called by FrontResponse) ---

  writeHead(head: string): void {
    const socket = this.socket;
    // corked until the next tick: the head leaves with the first body bytes
    socket.cork();
    socket.write(head, 'latin1');
    process.nextTick(uncork, socket);
  }

  writeBody(chunk: Buffer | string, size: number, chunked: boolean): boolean {
    const socket = this.socket;
    if (!chunked) return socket.write(chunk);
    socket.cork();
    socket.write(`${size.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const ok = socket.write('\r\n', 'latin1');
    socket.uncork();
    return ok;
  }

  endBody(chunked: boolean): void {
    if (chunked) this.socket.write('0\r\n\r\n', 'latin1');
  }

  responseEnded(res: FrontResponse): void {
    const ex = this.#queue[0];
    if (ex === undefined || ex.res !== res) return;
    if (!res.shouldKeepAlive) {
      this.#last = true;
      this.#end();
      return;
    }
    if (!ex.complete) {
      // answered before its body arrived: read the rest and drop it, then go on
      ex.dropping = true;
      this.#bodyFull = false;
      ex.req.body?.destroy();
      this.#flow();
      return;
    }
    this.#next();
  }

  // --- the request side ---

  #onData = (data: Buffer): void => {
    // after the last request, reading goes on only to notice a hang-up
    if (this.#closed || this.#done || (this.#last && this.#receiving === null)) return;
    let ret: number | Error;
    try {
      ret = this.#parser.execute(data);
    } catch (err) {
      return this.#reject(400, (err as Error & { code?: string }).code ?? 'HPE_INTERNAL');
    }
    const up = this.#upgrade;
    if (up !== null) {
      this.#upgrade = null;
      return this.#upgraded(up, typeof ret === 'number' ? data.subarray(ret) : EMPTY);
    }
    if (ret instanceof Error && !this.#done) {
      const code = (ret as Error & { code?: string }).code ?? 'HPE_INVALID';
      if (this.#last && code === 'HPE_CLOSED_CONNECTION') return; // bytes after the last request: not read
      this.#reject(code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : 400, code);
    }
  };

  #onMessageBegin = (): void => {
    this.#since = this.#front.now();
    this.#headersDone = false;
    this.#fresh = false;
  };

  #onHeaders = (headers: string[], url: string): void => {
    for (const h of headers) this.#partialHeaders.push(h);
    if (url) this.#partialUrl += url;
  };

  #onHeadersComplete = (major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _status: unknown, _text: unknown, upgrade: boolean, keepAlive: boolean): number => {
    this.#headersDone = true;
    let raw = headers;
    if (raw === undefined || raw === null) {
      // more than 32 headers, or a head over several reads: they came in kOnHeaders batches
      raw = this.#partialHeaders;
      this.#partialHeaders = [];
    }
    const target = url ?? this.#partialUrl;
    this.#partialUrl = '';
    // the rest of a read after a response that closes the connection: parsed by llhttp, never handed over
    if (this.#done) return 0;
    let framed = false;
    let expect: string | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      const n = (raw[i] as string).length;
      if (n !== 14 && n !== 17 && n !== 6) continue;
      const lower = lowerName(raw[i] as string);
      if (lower === 'transfer-encoding' || (lower === 'content-length' && raw[i + 1] !== '0')) framed = true;
      else if (lower === 'expect') expect = expect === null ? (raw[i + 1] as string) : `${expect}, ${raw[i + 1] as string}`;
    }
    let body: Readable | null = null;
    if (framed && !upgrade) body = new Readable({ read: this.#onBodyRead });
    const req = new FrontRequest(METHODS[method] ?? String(method), target, `${major}.${minor}`, raw, body);
    const http11 = major === 1 && minor === 1;
    const ex: Exchange = { req, res: new FrontResponse(this as Http1Connection<unknown>, req, keepAlive && !upgrade), complete: false, dropping: false, continue: false, refuse: false };
    if (expect !== null && http11) {
      if (CONTINUE.test(expect)) ex.continue = true;
      else ex.refuse = true;
    }
    this.#receiving = ex;
    if (upgrade) {
      this.#upgrade = ex; // handled once execute() returns, with the bytes after the head
      this.#last = true;
      return 2;
    }
    if (!keepAlive) this.#last = true;
    this.#queue.push(ex);
    if (this.#queue.length === 1) this.#start(ex);
    else this.#flow(); // pipelined: read no further until it is its turn
    return 0;
  };

  #onBody = (chunk: Buffer): void => {
    const ex = this.#receiving;
    if (ex === null || ex.dropping || ex.req.body === null) return;
    if (!ex.req.body.push(chunk)) {
      this.#bodyFull = true;
      this.#flow();
    }
  };

  #onBodyRead = (): void => {
    if (!this.#bodyFull) return;
    this.#bodyFull = false;
    this.#flow();
  };

  #onMessageComplete = (): void => {
    const ex = this.#receiving;
    this.#receiving = null;
    this.#since = 0;
    if (ex === null || ex === this.#upgrade) return;
    ex.complete = true;
    this.#bodyFull = false;
    if (ex.dropping) {
      this.#next();
      return;
    }
    ex.req.body?.push(null);
  };

  /** Hands an exchange to the owner (answering 100-continue first when asked). */
  #start(ex: Exchange): void {
    if (ex.refuse) return this.#answer(ex, 417, 'expectation-failed', 'the only expectation the sidecar meets is 100-continue');
    if (ex.continue) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
    this.#flow();
    this.#front.events.request(ex.req, ex.res, this.info);
  }

  /** The exchange in front is done: the next one, or idle. */
  #next(): void {
    if (this.#done) return;
    this.#queue.shift();
    const ex = this.#queue[0];
    if (ex !== undefined) {
      this.#start(ex);
      return;
    }
    if (this.#last) {
      this.#end();
      return;
    }
    this.#idleSince = this.#front.now();
    this.#flow();
  }

  /** Reads from the socket only while there is someone to read for. */
  #flow(): void {
    const read = !this.#closed && !this.#done && !this.#bodyFull && this.#queue.length <= 1;
    if (read) {
      if (this.socket.isPaused()) this.socket.resume();
    } else if (!this.socket.isPaused()) this.socket.pause();
  }

  #upgraded(ex: Exchange, head: Buffer): void {
    if (this.#queue.length > 0) {
      // a CONNECT or an upgrade pipelined behind a request: not in step
      this.socket.destroy();
      return;
    }
    if (ex.req.method === 'CONNECT') {
      this.#detach();
      this.#front.events.connect(ex.req, this.socket, head, this.info);
      return;
    }
    this.#queue.push(ex);
    this.#answer(ex, 501, 'upgrade', 'protocol upgrades are not supported yet');
  }

  /** Answers an exchange from the front itself, and closes the connection after it. */
  #answer(ex: Exchange, status: number, code: string, message: string): void {
    this.#front.events.rejected(status, code, this.info);
    if (this.#queue[0] !== ex) {
      this.socket.destroy();
      return;
    }
    writeError(ex.res, { status, code, message, close: true });
  }

  /** A request that cannot be parsed (or came too slowly): answered when nothing else is, then closed. */
  #reject(status: number, code: string): void {
    this.#front.events.rejected(status, code, this.info);
    this.#done = true;
    this.#since = 0;
    if (this.#queue.length > 0 || this.socket.destroyed) {
      this.socket.destroy(); // a response is in flight: the connection cannot be kept in step
      return;
    }
    const why = status === 431 ? 'headers too large' : status === 408 ? 'request timed out' : status === 413 ? 'chunk extensions too large' : 'malformed request';
    // no exchange to answer through: the same response writeError makes, written raw
    const { headers, body } = errorResponse({ code: code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request-timeout' : 'bad-request', message: `rejected request (${why})` });
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    this.socket.pause();
    this.socket.end(`${head}Connection: close\r\n\r\n${body}`, 'latin1');
    this.socket.destroySoon();
  }

  /** Closes the connection once what was written has left. */
  #end(): void {
    this.#done = true;
    this.socket.pause();
    this.socket.destroySoon();
  }

  /** The periodic timeout check. */
  check(now: number): void {
    if (this.#closed || this.#done) return;
    const limits = this.#front.limits;
    if (this.#since !== 0) {
      if ((!this.#headersDone && now - this.#since > limits.headersTimeoutMs) || now - this.#since > limits.requestTimeoutMs) this.#reject(408, 'ERR_HTTP_REQUEST_TIMEOUT');
    } else if (this.#queue.length === 0 && now - this.#idleSince > (this.#fresh ? limits.headersTimeoutMs : limits.keepAliveTimeoutMs)) {
      this.socket.destroy();
    }
  }

  /** The socket leaves the front (CONNECT): its listeners and parser go. */
  #detach(): void {
    this.#closed = true;
    this.socket.removeListener('data', this.#onData);
    this.socket.removeListener('drain', this.#onDrain);
    this.socket.removeListener('error', this.#onError);
    this.socket.removeListener('close', this.#onClose);
    this.#parser.close();
    this.#front.forget(this);
  }

  #onDrain = (): void => {
    this.#queue[0]?.res.ondrain?.();
  };

  #onError = (): void => {
    this.socket.destroy();
  };

  #onClose = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#parser.close();
    this.#front.forget(this);
    const queue = this.#queue;
    this.#queue = [];
    for (const ex of queue) {
      if (!ex.complete) ex.req.body?.destroy(); // readers see 'close' without 'end'
      ex.res.connectionClosed();
    }
    if (this.#receiving !== null && !this.#receiving.complete) this.#receiving.req.body?.destroy();
  };
}

function uncork(socket: net.Socket): void {
  socket.uncork();
}

/** The front for all of a sidecar's app connections, and their timeouts. */
export class Http1Front<C> {
  readonly limits: Http1Limits;
  readonly events: Http1Events<C>;
  readonly keepAliveHeader: string;
  readonly now: () => number;
  #connections = new Set<Http1Connection<C>>();
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(limits: Http1Limits, events: Http1Events<C>, now: () => number = Date.now) {
    this.limits = limits;
    this.events = events;
    this.now = now;
    this.keepAliveHeader = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(limits.keepAliveTimeoutMs / 1000)}\r\n`;
  }

  /** Takes a connection whose first bytes may have been unshifted back into it. */
  serve(socket: net.Socket, info: C): Http1Connection<C> {
    socket.setNoDelay(true); // as Node's server: a response must not wait for an ACK (Nagle)
    const conn = new Http1Connection(this, socket, info, this.now());
    this.#connections.add(conn);
    if (this.#timer === null) {
      this.#timer = setInterval(this.#check, this.limits.checkIntervalMs);
      this.#timer.unref();
    }
    socket.resume();
    return conn;
  }

  get size(): number {
    return this.#connections.size;
  }

  forget(conn: Http1Connection<C>): void {
    this.#connections.delete(conn);
    if (this.#connections.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** Closes the connections that have nothing in flight. */
  closeIdle(): void {
    for (const c of this.#connections) if (c.idle) c.socket.destroy();
  }

  closeAll(): void {
    for (const c of this.#connections) c.socket.destroy();
  }

  #check = (): void => {
    const now = this.now();
    for (const c of this.#connections) c.check(now);
  };
}
