// `mayfly controller`: parse the configuration once, start the controller, stop
// it cleanly on SIGTERM/SIGINT (a leader releases its lease on the way out).
import type { DestinationStream } from 'pino';
import { ConfigError, loadConfig, USAGE } from './config.ts';
import { createLogger } from './log.ts';
import { runController } from './run.ts';

export interface MainIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
  /** Resolves when the process should stop; defaults to SIGTERM or SIGINT. */
  stopSignal?: Promise<unknown>;
}

function signals(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

export async function main(argv: string[], io: MainIO): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    io.stdout.write(USAGE);
    return 0;
  }
  let config;
  try {
    config = loadConfig(argv, io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`mayfly controller: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel, io.stdout as unknown as DestinationStream);
  const stop = io.stopSignal ?? signals();
  let controller;
  try {
    controller = await runController(config, { log });
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`mayfly controller: ${err.message}\n`);
      return 2;
    }
    log.fatal({ err: (err as Error).message, code: (err as { code?: unknown }).code }, 'controller failed to start');
    return 1;
  }
  const why = await stop;
  log.info({ signal: why }, 'stopping');
  await controller.stop();
  return 0;
}
