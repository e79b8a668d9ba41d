// The root logger: one pino instance with a fixed redact list, so tokens and
// credentials never reach a log line whatever a child logger is handed.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'credential',
  '*.credential',
  'value',
  '*.value',
  'key',
  '*.key',
  'keyPem',
  '*.keyPem',
  'data',
  '*.data',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { component: 'mayfly-controller' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
