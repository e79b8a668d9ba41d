// Small process helpers for the harness: start a daemon with its output in a
// log file, wait until it answers, stop it by process id, run a command.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface Daemon {
  name: string;
  pid: number;
  logPath: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  stop(timeoutMs?: number): Promise<void>;
}

const running = new Set<Daemon>();

function killAllSync(): void {
  for (const d of running) {
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.once('exit', killAllSync);

export function startDaemon(name: string, command: string, args: string[], opts: { logPath: string; env?: NodeJS.ProcessEnv; cwd?: string }): Daemon {
  const fd = openSync(opts.logPath, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env: opts.env ?? process.env, cwd: opts.cwd } satisfies SpawnOptions);
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: failed to start ${command}`);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  const daemon: Daemon = {
    name,
    pid: child.pid,
    logPath: opts.logPath,
    child,
    exited,
    async stop(timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        running.delete(daemon);
        return;
      }
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
      running.delete(daemon);
    },
  };
  running.add(daemon);
  void exited.then(() => running.delete(daemon));
  return daemon;
}

export function tailLog(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `check` until it returns true, the daemon exits, or the timeout passes. */
export async function waitFor(what: string, check: () => Promise<boolean>, opts: { timeoutMs: number; daemon?: Daemon; intervalMs?: number }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let exited = false;
  void opts.daemon?.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited && opts.daemon) {
      throw new Error(`${opts.daemon.name} exited while waiting for ${what}:\n${tailLog(opts.daemon.logPath)}`);
    }
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
  const log = opts.daemon ? `\n${tailLog(opts.daemon.logPath)}` : '';
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${log}`);
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, with optional standard input. Never throws on a non-zero exit. */
export function run(command: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.once('error', reject);
    child.once('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    // A command that exits without reading its input must not crash the caller.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
