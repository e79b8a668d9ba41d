// Pod networks for the kubelet harness: each pod and each stand-in for an
// outside service gets its own Linux network namespace, joined to the host by a
// veth pair; the host routes between them. The host side of a pod's veth is
// where the pod reaches processes running on the host (the controller).
//
//   pod netns 10.250.N.2/30  <-veth->  host 10.250.N.1  (routes)  host 10.251.M.1  <-veth->  10.251.M.2/30 service netns
//
// Names resolve through /etc/netns/<netns>/hosts, which `ip netns exec` mounts
// over /etc/hosts. Traffic never leaves these namespaces and the host.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.ts';

export interface PodNetwork {
  netns: string;
  podIP: string;
  /** The host's address as the pod sees it (where host processes listen). */
  hostIP: string;
  /** Rewrites the namespace's /etc/hosts. */
  setHosts(hosts: Record<string, string>): void;
  stop(): Promise<void>;
}

export interface ServiceHost {
  netns: string;
  ip: string;
  stop(): Promise<void>;
}

const ALLOC_DIR = '/run/mayfly-e2e-net';

async function sh(args: string[]): Promise<void> {
  const r = await run(args[0] as string, args.slice(1));
  if (r.code !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr.trim()}`);
}

/** Reserves a /30 index atomically across processes (mkdir is atomic). */
function allocate(kind: 'pod' | 'svc'): number {
  mkdirSync(join(ALLOC_DIR, kind), { recursive: true });
  for (let i = 1; i < 16_000; i++) {
    try {
      mkdirSync(join(ALLOC_DIR, kind, String(i)));
      return i;
    } catch {
      // taken
    }
  }
  throw new Error('no free test subnet');
}

function subnet(base: 250 | 251, index: number): { host: string; peer: string } {
  const third = Math.floor((index * 4) / 256);
  const fourth = (index * 4) % 256;
  return { host: `10.${base}.${third}.${fourth + 1}`, peer: `10.${base}.${third}.${fourth + 2}` };
}

async function createNamespace(kind: 'pod' | 'svc', index: number): Promise<{ netns: string; host: string; peer: string; hostIf: string }> {
  const netns = `mf-${kind}-${index}`;
  const hostIf = `mf${kind[0]}${index}h`;
  const nsIf = `mf${kind[0]}${index}n`;
  const { host, peer } = subnet(kind === 'pod' ? 250 : 251, index);
  await run('ip', ['netns', 'del', netns]);
  await run('ip', ['link', 'del', hostIf]);
  await sh(['ip', 'netns', 'add', netns]);
  await sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
  await sh(['ip', 'link', 'set', nsIf, 'netns', netns]);
  await sh(['ip', 'addr', 'add', `${host}/30`, 'dev', hostIf]);
  await sh(['ip', 'link', 'set', hostIf, 'up']);
  await sh(['ip', 'netns', 'exec', netns, 'ip', 'addr', 'add', `${peer}/30`, 'dev', nsIf]);
  await sh(['ip', 'netns', 'exec', netns, 'ip', 'link', 'set', nsIf, 'up']);
  await sh(['ip', 'netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
  await sh(['ip', 'netns', 'exec', netns, 'ip', 'route', 'add', 'default', 'via', host]);
  await sh(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  return { netns, host, peer, hostIf };
}

async function destroy(kind: 'pod' | 'svc', index: number, netns: string, hostIf: string): Promise<void> {
  await run('ip', ['netns', 'del', netns]);
  await run('ip', ['link', 'del', hostIf]);
  rmSync(`/etc/netns/${netns}`, { recursive: true, force: true });
  rmSync(join(ALLOC_DIR, kind, String(index)), { recursive: true, force: true });
}

export async function createPodNetwork(hosts: Record<string, string> = {}): Promise<PodNetwork> {
  const index = allocate('pod');
  const { netns, host, peer, hostIf } = await createNamespace('pod', index);
  const setHosts = (h: Record<string, string>) => {
    mkdirSync(`/etc/netns/${netns}`, { recursive: true });
    const lines = ['127.0.0.1 localhost', '::1 localhost', ...Object.entries(h).map(([name, ip]) => `${ip} ${name}`)];
    writeFileSync(`/etc/netns/${netns}/hosts`, `${lines.join('\n')}\n`);
  };
  setHosts(hosts);
  return { netns, podIP: peer, hostIP: host, setHosts, stop: () => destroy('pod', index, netns, hostIf) };
}

export async function createServiceHost(): Promise<ServiceHost> {
  const index = allocate('svc');
  const { netns, peer, hostIf } = await createNamespace('svc', index);
  return { netns, ip: peer, stop: () => destroy('svc', index, netns, hostIf) };
}

export interface ServiceAddress {
  /** An address on the host's loopback interface that every pod network routes to. */
  ip: string;
  stop(): Promise<void>;
}

/**
 * A host address for stand-ins of outside services (and the controller): the
 * test binds servers in-process to it, and pods reach it through their default
 * route, so assertions can read what those servers received directly.
 */
export async function createServiceAddress(): Promise<ServiceAddress> {
  const index = allocate('svc');
  const ip = `10.252.${Math.floor(index / 250)}.${(index % 250) + 1}`;
  await run('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']);
  await sh(['ip', 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
  return {
    ip,
    async stop() {
      await run('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']);
      rmSync(join(ALLOC_DIR, 'svc', String(index)), { recursive: true, force: true });
    },
  };
}
