// The root logger (with the fixed redact list) and the audit record: one JSON
// line per decision. Credentials appear by id and expiry, never by value.
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
  return pino({ level, base: { component: 'mayfly-sidecar' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
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

export function audit(log: Logger, record: AuditRecord): void {
  log.info({ audit: true, ...record }, record.wouldDeny ? 'would deny' : 'decision');
}
