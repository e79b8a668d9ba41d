// The root logger (with the fixed redact list) and the audit record: one JSON
// line per decision. Credentials appear by id and expiry, never by value.
//
// Audit lines are the hot path (one per request), so they skip pino's generic
// object walk and redaction: `audit()` copies the AuditRecord field by field
// (a whitelist: nothing else can reach the line, which is stronger than a
// redact list) and writes one line in pino's exact format (level, time, the
// logger's bindings, msg) to the logger's own destination.
import pino, { type Logger, type DestinationStream } from 'pino';
import type { PodIdentity } from './contracts.ts';

export const REDACT_PATHS = [
  'credential.value',
  'credential.aws',
  '*.credential.value',
  'value',
  'token',
  'headers.authorization',
  'headers.proxy-authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'aws.secretAccessKey',
  'aws.sessionToken',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { component: 'mayfly-sidecar' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: isoTime }, destination ?? logDestination(1));
}

let lastMinute = Number.NaN;
let minutePrefix = '';
/**
 * `new Date(ms).toISOString()` for times from 1970 to 9999, with the date, hour
 * and minute made once per minute and the seconds and milliseconds by
 * arithmetic. At 1000 requests a second nearly every audit line falls in a new
 * millisecond, and a Date with its ISO string costs 0.7-0.8 µs (measured).
 */
export function isoAt(ms: number): string {
  const minute = Math.floor(ms / 60_000);
  if (minute !== lastMinute) {
    lastMinute = minute;
    minutePrefix = new Date(minute * 60_000).toISOString().slice(0, 17); // "2026-11-23T12:04:"
  }
  const inMinute = ms - minute * 60_000;
  const seconds = Math.floor(inMinute / 1000);
  const millis = inMinute - seconds * 1000;
  return `${minutePrefix}${seconds < 10 ? '0' : ''}${seconds}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

let lastMs = Number.NaN;
let lastTime = '';
/** pino's `stdTimeFunctions.isoTime`: the same text, from `isoAt`, made once per millisecond (a busy sidecar writes several lines in one). */
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${isoAt(now)}"`;
  }
  return lastTime;
}

const FLUSH_AFTER_MS = 50;
const BATCH_BYTES = 32 * 1024;
interface Flushable {
  flushSync(): void;
}
const open = new Set<Flushable>();

function flushAllOnExit(): void {
  for (const s of open) {
    try {
      s.flushSync();
    } catch {
      // nothing left to write to
    }
  }
}

/**
 * Where the sidecar logs (stdout by default): synchronous writes, by the
 * caller's thread (no round trip through the libuv thread pool, as pino's
 * default asynchronous writes take). Audit lines, one per request, are batched
 * (`writeBatched`): gathered until 32 KiB or 50 ms after the first one, so a
 * busy sidecar makes tens of write(2) calls a second instead of one per
 * request. Every other line (start-up, config, errors) is written at once,
 * after whatever audit lines are pending, so order is kept. What is buffered is
 * written when the process exits (after a SIGTERM drain, or a crash that
 * reaches 'exit'); only a SIGKILL can lose the last 50 ms. A reader that stalls
 * blocks the writer rather than growing an unbounded buffer.
 */
export function logDestination(dest: number | string = 1): BatchingDestination {
  // sonic-boom writes each write() at once (minLength 0); the batching is done
  // here, on an array, because sonic-boom's own minLength buffering re-measures
  // its whole growing buffer on every line.
  const sonic = pino.destination({ dest, sync: true });
  let lines: string[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flushNow = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (lines.length === 0) return;
    const data = lines.length === 1 ? (lines[0] as string) : lines.join('');
    lines = [];
    size = 0;
    sonic.write(data);
  };
  const out: BatchingDestination = {
    write(line: string): boolean {
      lines.push(line);
      flushNow();
      return true;
    },
    writeBatched(line: string): void {
      lines.push(line);
      size += line.length;
      if (size >= BATCH_BYTES) flushNow();
      else if (timer === null) {
        timer = setTimeout(flushNow, FLUSH_AFTER_MS);
        timer.unref();
      }
    },
    flush(cb?: (err?: Error) => void): void {
      flushNow();
      cb?.();
    },
    flushSync: flushNow,
  };
  if (open.size === 0) process.once('exit', flushAllOnExit);
  open.add(out);
  sonic.on('close', () => open.delete(out));
  return out;
}

/** A log destination that can also take lines to be written a little later, in a batch. */
export interface BatchingDestination extends DestinationStream, Flushable {
  writeBatched(line: string): void;
  flush(cb?: (err?: Error) => void): void;
}

export interface AuditRecord {
  pod: Pick<PodIdentity, 'namespace' | 'name' | 'serviceAccount'>;
  destination: { host: string; port: number; tls: boolean };
  /** "passthrough" is a TLS connection spliced without decryption, or a plain request to a host no policy knows. */
  decision: 'allow' | 'deny' | 'passthrough' | 'audit';
  reason: string;
  method?: string;
  /** The path as forwarded, without the query (which may carry a credential). */
  path?: string;
  policy?: string;
  mode?: 'Enforce' | 'Audit';
  wouldDeny?: boolean;
  credential?: { id: string; expiresAt: string };
  status?: number;
  durationMs?: number;
  traceparent?: string;
  tracestate?: string;
  error?: string;
  stripped?: string[];
}

/** The record with only its declared fields, in a fixed order. */
function whitelisted(r: AuditRecord): Record<string, unknown> {
  return {
    pod: { namespace: r.pod.namespace, name: r.pod.name, serviceAccount: r.pod.serviceAccount },
    destination: { host: r.destination.host, port: r.destination.port, tls: r.destination.tls },
    decision: r.decision,
    reason: r.reason,
    method: r.method,
    path: r.path,
    policy: r.policy,
    mode: r.mode,
    wouldDeny: r.wouldDeny,
    credential: r.credential ? { id: r.credential.id, expiresAt: r.credential.expiresAt } : undefined,
    status: r.status,
    durationMs: r.durationMs,
    traceparent: r.traceparent,
    tracestate: r.tracestate,
    error: r.error,
    stripped: r.stripped,
  };
}

interface PinoInternals {
  [key: symbol]: unknown;
}
const { streamSym, timeSym, chindingsSym, lsCacheSym, needsMetadataGsym } = pino.symbols as unknown as Record<string, symbol>;

export function audit(log: Logger, record: AuditRecord): void {
  if (!log.isLevelEnabled('info')) return;
  const msg = record.wouldDeny ? 'would deny' : 'decision';
  const internals = log as unknown as PinoInternals;
  const stream = internals[streamSym as symbol] as { write(line: string): unknown; writeBatched?: (line: string) => void; [key: symbol]: unknown } | undefined;
  const levelPrefix = (internals[lsCacheSym as symbol] as Record<number, string> | undefined)?.[log.levels.values.info as number];
  if (!stream || typeof levelPrefix !== 'string' || stream[needsMetadataGsym as symbol] === true) {
    log.info({ audit: true, ...whitelisted(record) }, msg); // a multistream or an unusual logger: the generic path
    return;
  }
  const time = (internals[timeSym as symbol] as () => string)();
  const fields = JSON.stringify(whitelisted(record));
  const line = `${levelPrefix}${time}${internals[chindingsSym as symbol] as string},"audit":true,${fields.slice(1, -1)},"msg":"${msg}"}\n`;
  if (stream.writeBatched) stream.writeBatched(line);
  else stream.write(line);
}
