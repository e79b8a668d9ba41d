// The harness playing kubelet. There is no kubelet or container runtime here,
// so this runs a pod the API server stored (already mutated by the webhook)
// the way a kubelet would, with real Linux primitives:
//
// - the pod's network is a network namespace with a veth to the host;
// - each volume is a host directory: projected service-account tokens are
//   requested with TokenRequest bound to the pod (and rotated at 80% of their
//   life, as the kubelet does), downward API files are written, emptyDirs made;
// - each container is a process in that namespace, in its own mount namespace
//   where its volumeMounts are bind-mounted at their real paths, with the env
//   the spec gives it (downward API resolved), under the UID its securityContext
//   asks for;
// - init containers run to completion in order; a native sidecar
//   (restartPolicy: Always) is started and its startupProbe awaited before the
//   next container, as the kubelet does.
//
// Images are not pulled: the `mayfly` command is this repository's CLI, and an
// app container runs whatever command the test gives (curl, python, node).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Container, type V1Pod, type V1Volume, type KubeConfig } from '@kubernetes/client-node';
import { run, startDaemon, waitFor, type Daemon, type RunResult } from './proc.ts';
import { type PodNetwork } from './pod-network.ts';
import { bundle } from '../../cli/scripts/bundle.ts';
import { sidecarAllocatorEnv } from './allocator.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NODE_BIN = join(REPO, 'node_modules', '.bin');

export interface RunPodOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  network: PodNetwork;
  /** Host directory for this pod's volumes and logs. */
  dir: string;
  /** Replaces a container's command (e.g. the app: an unmodified curl). Containers not listed and not Mayfly's are not started. */
  commands?: Record<string, string[]>;
  /** Extra environment for every container (e.g. to point at test services). */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

export interface RunningPod {
  pod: V1Pod;
  /** Runs a command as the given container would: same network, mounts, env and UID. */
  exec(container: string, argv: string[], opts?: { input?: string; timeoutMs?: number; env?: Record<string, string> }): Promise<RunResult>;
  /** The log file of a long-running container (the sidecar). */
  logPath(container: string): string;
  /** Re-requests every projected token now (what the kubelet does at 80% of life). */
  rotateTokens(): Promise<void>;
  /** Stops the containers and reports the pod's phase to the API server, as the kubelet does when a pod's main containers have exited. */
  finish(phase: 'Succeeded' | 'Failed', exitCode: number): Promise<void>;
  stop(): Promise<void>;
}

interface Volume {
  hostPath: string;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

let built: Promise<string> | null = null;

/** The bundled sidecar, built once per process into a directory every pod's UID can read; removed at exit. */
function sidecarBundle(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mayfly-sidecar-bundle-'));
    chmodSync(dir, 0o755);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return bundle(join(dir, 'sidecar'));
  })();
  return built;
}

/**
 * Writes a `mayfly` executable shaped like the image's (see the Dockerfile):
 * `mayfly sidecar` runs the bundled sidecar, built here from this checkout's
 * sources, on jemalloc when it is installed (as the image runs it), and every
 * other command runs the CLI's sources, on Node 24.
 */
async function writeShims(dir: string): Promise<string> {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const sidecar = await sidecarBundle();
  const node = shellQuote(join(NODE_BIN, 'node'));
  const mayfly = join(bin, 'mayfly');
  const allocator = Object.entries(sidecarAllocatorEnv()).map(([k, v]) => `${k}=${shellQuote(v)}`);
  const env = allocator.length > 0 ? `export ${allocator.join(' ')}; ` : '';
  writeFileSync(mayfly, `#!/bin/sh\nif [ "$1" = sidecar ]; then ${env}exec ${node} ${shellQuote(sidecar)} "$@"; fi\nexec ${node} ${shellQuote(join(REPO, 'cli/src/main.ts'))} "$@"\n`);
  chmodSync(mayfly, 0o755);
  return bin;
}

function labelsFile(labels: Record<string, string> = {}): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('\n');
}

function fieldRef(pod: V1Pod, path: string, podIP: string): string {
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'spec.nodeName':
      return 'harness-node';
    case 'status.podIP':
      return podIP;
    default: {
      const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
      if (m) return (m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2] as string] ?? '';
      throw new Error(`kubelet harness: unsupported fieldRef ${path}`);
    }
  }
}

function containerEnv(pod: V1Pod, c: V1Container, podIP: string, shimBin: string, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${shimBin}:${NODE_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: '/tmp',
    HOSTNAME: pod.metadata?.name ?? 'pod',
  };
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, n: string) => env[n] ?? `$(${n})`);
    else if (e.valueFrom?.fieldRef) env[e.name] = fieldRef(pod, e.valueFrom.fieldRef.fieldPath, podIP);
    else if (e.valueFrom?.resourceFieldRef) env[e.name] = '0';
  }
  return { ...env, ...extra };
}

export async function runPod(opts: RunPodOptions): Promise<RunningPod> {
  const log = opts.log ?? (() => {});
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ name: opts.name, namespace: opts.namespace });
  const uid = pod.metadata?.uid as string;
  const sa = pod.spec?.serviceAccountName ?? 'default';
  mkdirSync(opts.dir, { recursive: true });
  chmodSync(opts.dir, 0o755);
  const shimBin = await writeShims(opts.dir);
  const volumes = new Map<string, Volume>();
  const daemons: Daemon[] = [];
  const timers: NodeJS.Timeout[] = [];

  async function tokenFor(audience: string | undefined, expirationSeconds: number): Promise<string> {
    const tr = await core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: opts.namespace,
      body: {
        spec: {
          audiences: audience ? [audience] : [],
          expirationSeconds,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: opts.name, uid },
        },
      },
    });
    return tr.status?.token as string;
  }

  async function materialize(v: V1Volume): Promise<void> {
    const hostPath = join(opts.dir, 'volumes', v.name);
    mkdirSync(hostPath, { recursive: true, mode: 0o755 });
    volumes.set(v.name, { hostPath });
    const write = (path: string, content: string, mode = 0o644) => {
      const p = join(hostPath, path);
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, content, { mode });
      chmodSync(p, mode);
    };
    if (v.projected) {
      for (const src of v.projected.sources ?? []) {
        const t = src.serviceAccountToken;
        if (t) {
          // As the kubelet: the file is root's with defaultMode, unless every container runs as one UID (then it is that UID's).
          const mode = v.projected.defaultMode ?? 0o644;
          const refresh = async () => write(t.path, await tokenFor(t.audience, t.expirationSeconds ?? 3600), mode);
          await refresh();
          const every = Math.max(10, (t.expirationSeconds ?? 3600) * 0.8) * 1000;
          timers.push(setInterval(() => void refresh().catch((e: Error) => log(`token refresh failed: ${e.message}`)), every));
        }
        for (const item of src.downwardAPI?.items ?? []) {
          if (item.fieldRef?.fieldPath === 'metadata.labels') write(item.path, labelsFile(pod.metadata?.labels));
          else if (item.fieldRef?.fieldPath === 'metadata.annotations') write(item.path, labelsFile(pod.metadata?.annotations));
          else if (item.fieldRef) write(item.path, fieldRef(pod, item.fieldRef.fieldPath, opts.network.podIP));
        }
        if (src.configMap) {
          const cm = await core.readNamespacedConfigMap({ name: src.configMap.name as string, namespace: opts.namespace }).catch(() => undefined);
          for (const [k, val] of Object.entries(cm?.data ?? {})) write(k, val);
        }
      }
    } else if (v.downwardAPI) {
      for (const item of v.downwardAPI.items ?? []) {
        if (item.fieldRef?.fieldPath === 'metadata.labels') write(item.path, labelsFile(pod.metadata?.labels));
        else if (item.fieldRef?.fieldPath === 'metadata.annotations') write(item.path, labelsFile(pod.metadata?.annotations));
        else if (item.fieldRef) write(item.path, fieldRef(pod, item.fieldRef.fieldPath, opts.network.podIP));
      }
    } else if (v.emptyDir) {
      chmodSync(hostPath, 0o1777);
    } else if (v.configMap) {
      const cm = await core.readNamespacedConfigMap({ name: v.configMap.name as string, namespace: opts.namespace });
      for (const [k, val] of Object.entries(cm.data ?? {})) write(k, val);
    }
  }

  for (const v of pod.spec?.volumes ?? []) await materialize(v);
  log(`kubelet: ${opts.namespace}/${opts.name}: ${volumes.size} volumes ready`);

  /** The shell command that enters the container's mount namespace, mounts its volumes, drops to its UID and runs argv. */
  function entry(c: V1Container, argv: string[]): string[] {
    const mounts = (c.volumeMounts ?? []).map((m) => {
      const v = volumes.get(m.name);
      if (!v) throw new Error(`kubelet harness: ${c.name} mounts unknown volume ${m.name}`);
      const src = m.subPath ? join(v.hostPath, m.subPath) : v.hostPath;
      return `mkdir -p ${shellQuote(m.mountPath)} && mount --bind ${shellQuote(src)} ${shellQuote(m.mountPath)}${m.readOnly ? ` && mount -o remount,bind,ro ${shellQuote(m.mountPath)}` : ''}`;
    });
    const sc = c.securityContext ?? {};
    const runAsUser = sc.runAsUser ?? pod.spec?.securityContext?.runAsUser ?? 0;
    const runAsGroup = sc.runAsGroup ?? pod.spec?.securityContext?.runAsGroup ?? runAsUser;
    const caps = (sc.capabilities?.add ?? []).map((cap) => `+${cap.toLowerCase()}`).join(',');
    const drop = runAsUser === 0
      ? []
      : ['setpriv', `--reuid=${runAsUser}`, `--regid=${runAsGroup}`, '--clear-groups', ...(caps ? [`--inh-caps=-all,${caps}`, `--ambient-caps=-all,${caps}`] : []), '--'];
    const script = [...mounts, `exec ${[...drop, ...argv].map(shellQuote).join(' ')}`].join(' && ');
    return ['ip', 'netns', 'exec', opts.network.netns, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script];
  }

  const byName = new Map<string, V1Container>([...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => [c.name, c]));
  const envOf = (c: V1Container, extra: Record<string, string> = {}) => containerEnv(pod, c, opts.network.podIP, shimBin, { ...(opts.env ?? {}), ...extra });
  const commandOf = (c: V1Container) => opts.commands?.[c.name] ?? [...(c.command ?? []), ...(c.args ?? [])];

  async function probeOk(c: V1Container): Promise<boolean> {
    const probe = c.startupProbe ?? c.readinessProbe;
    if (!probe?.httpGet) return true;
    const port = Number(probe.httpGet.port);
    const r = await run('ip', ['netns', 'exec', opts.network.netns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://127.0.0.1:${port}${probe.httpGet.path ?? '/'}`]);
    return r.stdout.trim() === '200';
  }

  async function startLongRunning(c: V1Container): Promise<void> {
    const argv = entry(c, commandOf(c));
    const d = startDaemon(c.name, argv[0] as string, argv.slice(1), { logPath: join(opts.dir, `${c.name}.log`), env: envOf(c) });
    daemons.push(d);
    log(`kubelet: started ${c.name} (pid ${d.pid})`);
    await waitFor(`${c.name} startup probe`, () => probeOk(c), { timeoutMs: 60_000, daemon: d, intervalMs: 250 });
    log(`kubelet: ${c.name} is ready`);
  }

  try {
    for (const c of pod.spec?.initContainers ?? []) {
      if (c.restartPolicy === 'Always') {
        await startLongRunning(c);
        continue;
      }
      const argv = entry(c, commandOf(c));
      const r = await run(argv[0] as string, argv.slice(1), { env: envOf(c), timeoutMs: 60_000 });
      writeFileSync(join(opts.dir, `${c.name}.log`), r.stdout + r.stderr);
      if (r.code !== 0) throw new Error(`init container ${c.name} failed (${r.code}):\n${r.stdout}${r.stderr}`);
      log(`kubelet: init container ${c.name} completed`);
    }
    // Mayfly's own long-running containers (the non-native sidecar fallback). App containers run through exec().
    for (const c of pod.spec?.containers ?? []) {
      if (c.name.startsWith('mayfly-')) await startLongRunning(c);
    }
  } catch (err) {
    for (const t of timers) clearInterval(t);
    for (const d of daemons.reverse()) await d.stop();
    throw err;
  }

  return {
    pod,
    exec(container, argv, o = {}) {
      const c = byName.get(container);
      if (!c) throw new Error(`kubelet harness: no container ${container} in ${opts.name}`);
      const full = entry(c, argv);
      return run(full[0] as string, full.slice(1), { env: envOf(c, o.env), timeoutMs: o.timeoutMs ?? 30_000, ...(o.input !== undefined ? { input: o.input } : {}) });
    },
    logPath: (container) => join(opts.dir, `${container}.log`),
    async rotateTokens() {
      for (const v of pod.spec?.volumes ?? []) if (v.projected) await materialize(v);
    },
    async finish(phase, exitCode) {
      for (const t of timers) clearInterval(t);
      // Native sidecars are stopped once the main containers have exited.
      for (const d of daemons.reverse()) await d.stop();
      daemons.length = 0;
      const now = new Date().toISOString();
      const terminated = (name: string, code: number) => ({ name, image: byName.get(name)?.image ?? '', imageID: '', ready: false, restartCount: 0, started: false, state: { terminated: { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt: now, finishedAt: now } } });
      await core.patchNamespacedPodStatus({
        name: opts.name,
        namespace: opts.namespace,
        body: {
          status: {
            phase,
            initContainerStatuses: (pod.spec?.initContainers ?? []).map((c) => terminated(c.name, 0)),
            containerStatuses: (pod.spec?.containers ?? []).map((c) => terminated(c.name, exitCode)),
          },
        },
      }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      for (const d of daemons.reverse()) await d.stop();
      rmSync(join(opts.dir, 'volumes'), { recursive: true, force: true });
    },
  };
}
