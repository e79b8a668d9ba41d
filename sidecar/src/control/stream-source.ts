// ConfigSource backed by the controller's config stream. It authenticates with
// the pod's "mayfly"-audience token (read afresh for every connection, since
// the kubelet rotates it), applies each snapshot as it arrives, keeps the last
// one when the stream drops, and reconnects with exponential backoff and jitter.
// A stream that stays silent past the idle timeout is treated as dropped.
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { ConfigSource, PolicySnapshot } from '../contracts.ts';
import { CONFIG_STREAM_CONTENT_TYPE, CONFIG_STREAM_PATH, parseMessage, toSnapshot, type StreamMessage } from './protocol.ts';

export interface StreamLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface StreamSourceOptions {
  /** The controller's base URL, e.g. https://mayfly.mayfly-system.svc:8443 */
  url: string;
  /** The current "mayfly"-audience projected token. */
  token: () => Promise<string>;
  /** PEM the controller's serving certificate chains to. */
  ca?: string | Buffer;
  /** Reconnect backoff: doubles from baseMs to maxMs, with up to 20% jitter. Defaults 500 ms and 30 s. */
  backoff?: { baseMs: number; maxMs: number };
  /** A stream with no line for this long is considered dead. Default 45 s (the server sends heartbeats every 15 s). */
  idleTimeoutMs?: number;
  log?: StreamLogger;
  random?: () => number;
}

export type StreamState = 'connecting' | 'streaming' | 'backoff' | 'stopped';

const quiet: StreamLogger = { info() {}, warn() {} };

export class StreamConfigSource implements ConfigSource {
  readonly #o: Required<Omit<StreamSourceOptions, 'ca'>> & Pick<StreamSourceOptions, 'ca'>;
  #onUpdate: ((s: PolicySnapshot) => void) | null = null;
  #last: PolicySnapshot | null = null;
  #state: StreamState = 'stopped';
  #failures = 0;
  #req: ReturnType<typeof request> | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #first: { resolve: () => void; reject: (e: Error) => void } | null = null;
  /** Connections opened, for tests and metrics. */
  connections = 0;

  constructor(options: StreamSourceOptions) {
    this.#o = { backoff: { baseMs: 500, maxMs: 30_000 }, idleTimeoutMs: 45_000, log: quiet, random: Math.random, ...options };
  }

  get state(): StreamState {
    return this.#state;
  }

  /** The snapshot in force: the last one received, kept across disconnects. */
  get snapshot(): PolicySnapshot | null {
    return this.#last;
  }

  /** Resolves once the first snapshot has been applied; retries until then. */
  start(onUpdate: (snapshot: PolicySnapshot) => void): Promise<void> {
    if (this.#state !== 'stopped') return Promise.reject(new Error('config stream already started'));
    this.#onUpdate = onUpdate;
    const first = new Promise<void>((resolve, reject) => (this.#first = { resolve, reject }));
    this.#connect();
    return first;
  }

  async stop(): Promise<void> {
    this.#state = 'stopped';
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#req?.destroy();
    this.#req = null;
    const first = this.#first;
    this.#first = null;
    first?.reject(Object.assign(new Error('config stream stopped before the first snapshot'), { code: 'ERR_STOPPED' }));
  }

  #connect(): void {
    this.#state = 'connecting';
    void this.#open().catch((err: unknown) => this.#dropped(err));
  }

  async #open(): Promise<void> {
    const token = await this.#o.token();
    if (this.#state === 'stopped') return;
    const url = new URL(CONFIG_STREAM_PATH, this.#o.url);
    const opts: RequestOptions = {
      method: 'GET',
      headers: { authorization: `Bearer ${token}`, accept: CONFIG_STREAM_CONTENT_TYPE },
      ...(this.#o.ca ? { ca: this.#o.ca } : {}),
      timeout: this.#o.idleTimeoutMs,
    };
    this.connections++;
    const req = request(url, opts);
    this.#req = req;
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      if (this.#req === req) this.#dropped(err);
    };
    // `timeout` is an idle timeout on the socket: it also fires when heartbeats stop.
    req.on('timeout', () => fail(Object.assign(new Error('config stream idle'), { code: 'ERR_STREAM_IDLE' })));
    req.on('error', fail);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        void readBody(res).then((body) => fail(Object.assign(new Error(`config stream refused: ${res.statusCode} ${body.slice(0, 200)}`), { code: 'ERR_STREAM_REFUSED', status: res.statusCode })));
        return;
      }
      this.#state = 'streaming';
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        if (buffer.length > 16 * 1024 * 1024) return fail(new Error('config stream line too long'));
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line === '') continue;
          try {
            this.#handle(parseMessage(line));
          } catch (err) {
            return fail(err);
          }
        }
      });
      res.on('end', () => fail(Object.assign(new Error('config stream ended'), { code: 'ERR_STREAM_ENDED' })));
      res.on('error', fail);
    });
    req.end();
  }

  #handle(message: StreamMessage): void {
    if (message.type === 'heartbeat') return;
    if (message.type === 'end') {
      this.#o.log.info({ code: message.code }, 'config stream ended by controller');
      return;
    }
    this.#failures = 0;
    if (this.#last?.revision !== message.revision) {
      this.#last = toSnapshot(message);
      this.#o.log.info({ revision: message.revision, policies: message.policies.length }, 'config snapshot applied');
      this.#onUpdate?.(this.#last);
    }
    const first = this.#first;
    this.#first = null;
    first?.resolve();
  }

  #dropped(err: unknown): void {
    this.#req = null;
    if (this.#state === 'stopped') return;
    this.#failures++;
    const { baseMs, maxMs } = this.#o.backoff;
    const delay = Math.min(baseMs * 2 ** Math.min(this.#failures - 1, 20), maxMs) * (1 - 0.2 * this.#o.random());
    this.#state = 'backoff';
    this.#o.log.warn({ err: describe(err), retryInMs: Math.round(delay), keeping: this.#last?.revision ?? null }, 'config stream dropped');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#state !== 'stopped') this.#connect();
    }, delay);
    this.#retryTimer.unref();
  }
}

function describe(err: unknown): { code?: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  return { ...(typeof e?.code === 'string' ? { code: e.code } : {}), message: typeof e?.message === 'string' ? e.message : String(err) };
}

async function readBody(res: IncomingMessage): Promise<string> {
  let body = '';
  res.setEncoding('utf8');
  for await (const chunk of res) {
    body += chunk as string;
    if (body.length > 4096) break;
  }
  return body;
}
