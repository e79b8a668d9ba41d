// The webhook's root logger: short lowercase messages, context in fields, and
// a fixed redact list so a pod's env values, tokens or keys never reach a log.
import { pino, type DestinationStream, type Logger } from 'pino';

export const REDACT_PATHS = [
  '*.token', '*.key', '*.privateKey', '*.password', '*.authorization', '*.caKey',
  'req.headers.authorization', '*.env', '*.object', '*.oldObject',
];

export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  const options = { level, base: { component: 'mayfly-webhook' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
