// Linux network namespaces for tests: a "pod" and an "upstream" namespace
// joined by a veth pair (IPv4 and IPv6), processes run inside them under a
// chosen UID, and a per-namespace /etc/hosts (`ip netns exec` bind-mounts
// /etc/netns/<name>/hosts over /etc/hosts). Needs root. Everything created is
// removed by teardown(), in reverse order.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export interface RunOptions {
  /** Run as this UID (and GID, default the same) instead of root. */
  uid?: number;
  gid?: number;
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

// The repository's own Node 24 first, wherever the repository was cloned.
const NODE_BIN = fileURLToPath(new URL('../../node_modules/.bin', import.meta.url));
const BASE_ENV = { PATH: `${NODE_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: 'C.UTF-8' };

function command(ns: string, cmd: readonly string[], opts: RunOptions): string[] {
  const drop = opts.uid === undefined ? [] : ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.gid ?? opts.uid}`, '--clear-groups', '--'];
  return ['netns', 'exec', ns, ...drop, ...cmd];
}

/** Runs a command on the host (not in a namespace) and collects its output. */
export function run(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...BASE_ENV, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

async function must(cmd: string, args: readonly string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

export class Netns {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }

  /** Runs a command inside the namespace and waits for it. */
  exec(cmd: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('ip', command(this.name, cmd, opts), { ...(opts.input !== undefined ? { input: opts.input } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}), ...(opts.env ? { env: opts.env } : {}) });
  }

  /** Starts a long-running process inside the namespace. */
  spawn(cmd: readonly string[], opts: RunOptions = {}): ChildProcess {
    return spawn('ip', command(this.name, cmd, opts), { env: { ...BASE_ENV, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** The namespace's /etc/hosts. */
  async setHosts(entries: ReadonlyArray<[address: string, name: string]>): Promise<void> {
    await mkdir(`/etc/netns/${this.name}`, { recursive: true });
    await writeFile(`/etc/netns/${this.name}/hosts`, `127.0.0.1 localhost\n::1 localhost\n${entries.map(([a, n]) => `${a} ${n}`).join('\n')}\n`);
  }
}

export interface Address {
  v4?: string[];
  v6?: string[];
}

export interface Topology {
  pod: Netns;
  upstream: Netns;
  teardown(): Promise<void>;
}

/**
 * Two namespaces joined by a veth pair, with the given addresses (CIDR form,
 * e.g. "203.0.113.1/24", "2001:db8:1::1/64") on each end.
 */
export async function createTopology(addresses: { pod: Address; upstream: Address }, prefix = 'mf'): Promise<Topology> {
  const id = randomBytes(3).toString('hex');
  const pod = new Netns(`${prefix}-pod-${id}`);
  const upstream = new Netns(`${prefix}-up-${id}`);
  const created: string[] = [];
  const teardown = async (): Promise<void> => {
    for (const ns of created.reverse()) {
      await run('ip', ['netns', 'pids', ns]).then(async (r) => {
        for (const pid of r.stdout.split('\n').filter(Boolean)) await run('kill', ['-9', pid]);
      });
      await run('ip', ['netns', 'del', ns]);
      await rm(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    created.length = 0;
  };
  try {
    for (const ns of [pod, upstream]) {
      await must('ip', ['netns', 'add', ns.name]);
      created.push(ns.name);
      await must('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
      await ns.setHosts([]);
    }
    const a = `veth${id}a`;
    const b = `veth${id}b`;
    await must('ip', ['link', 'add', a, 'netns', pod.name, 'type', 'veth', 'peer', 'name', b, 'netns', upstream.name]);
    for (const [ns, dev, addr] of [[pod, a, addresses.pod], [upstream, b, addresses.upstream]] as const) {
      for (const v4 of addr.v4 ?? []) await must('ip', ['-n', ns.name, 'addr', 'add', v4, 'dev', dev]);
      for (const v6 of addr.v6 ?? []) await must('ip', ['-n', ns.name, '-6', 'addr', 'add', v6, 'dev', dev, 'nodad']);
      await must('ip', ['-n', ns.name, 'link', 'set', dev, 'up']);
    }
    // The pod routes everything to the upstream end, as a pod routes to its node:
    // without a route, connect() fails before the capture rules can redirect it.
    const gw4 = addresses.upstream.v4?.[0]?.split('/')[0];
    const gw6 = addresses.upstream.v6?.[0]?.split('/')[0];
    if (gw4) await must('ip', ['-n', pod.name, 'route', 'add', 'default', 'via', gw4]);
    if (gw6) await must('ip', ['-n', pod.name, '-6', 'route', 'add', 'default', 'via', gw6]);
  } catch (err) {
    await teardown();
    throw err;
  }
  return { pod, upstream, teardown };
}

/** Whether this process can build namespaces (root with `ip`, `setpriv` and iptables). */
export async function netnsAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const r = await run('sh', ['-c', 'command -v ip && command -v setpriv && command -v iptables-restore && command -v ip6tables-restore']).catch(() => null);
  return r?.code === 0;
}
