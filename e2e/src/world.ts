// Everything an end-to-end story needs, on real parts: a control plane, Mayfly
// installed with helm and its controller running, a host address where stand-ins
// for outside APIs listen (HTTPS with their own CA, recording what they receive),
// and pods run by the kubelet harness in their own network namespaces.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { createCA, type CertificateAuthority } from './pki.ts';
import { installMayfly, must, until, getJson, CONTROLLER_HOST, type Installation } from './mayfly.ts';
import { createPodNetwork, createServiceAddress, type PodNetwork, type ServiceAddress } from './pod-network.ts';
import { runPod, type RunningPod } from './kubelet.ts';
import { startUpstream, type Reply, type ReceivedRequest, type Upstream } from './upstream.ts';

export interface PodHandle {
  name: string;
  namespace: string;
  pod: RunningPod;
  network: PodNetwork;
  /** Runs an unmodified client in the app container. */
  app(argv: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }): ReturnType<RunningPod['exec']>;
  /** The sidecar's audit records (one JSON object per decision). */
  audit(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface World {
  cp: ControlPlane;
  mayfly: Installation;
  /** The CA of the stand-in APIs (policies trust it through `caBundle`). */
  apiCa: CertificateAuthority;
  /** The host address where pods reach the controller. */
  serviceIp: string;
  log: (line: string) => void;
  namespace(name: string, opts?: { injected?: boolean }): Promise<void>;
  apply(yaml: string, opts?: { namespace?: string }): Promise<string>;
  /** An HTTPS API on :443 (or HTTP on :80) of its own host address, under `name`, recording what it receives. */
  api(name: string, opts?: { plaintext?: boolean; reply?: (r: ReceivedRequest) => Reply | Promise<Reply> }): Promise<Upstream>;
  /** A host address pods reach under `name` (for fakes a test starts itself, such as a cloud STS). */
  address(name: string): Promise<string>;
  /** Creates a Deployment and waits for its pod (through the ReplicaSet controller and the webhook). */
  deployment(o: { namespace: string; name: string; serviceAccount: string; labels: Record<string, string>; image?: string }): Promise<string>;
  /** Runs a stored pod with the kubelet harness. */
  runPod(namespace: string, name: string): Promise<PodHandle>;
  /** Log files of the processes this world started: [name, path]. */
  logs(): Array<[string, string]>;
  stop(): Promise<void>;
}

export async function createWorld(o: { log?: (line: string) => void } = {}): Promise<World> {
  const log = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'mayfly-world-'));
  // Containers run under their own UIDs and must reach their shims and volumes.
  chmodSync(dir, 0o755);
  const cleanups: Array<() => Promise<void>> = [];
  const cp = await startControlPlane({ log });
  cleanups.push(() => cp.stop());
  try {
    const apiCa = createCA('mayfly-demo-apis');
    // Stand-ins for cloud providers (STS, ...) are signed by the same CA: the
    // install trusts it for provider endpoints, as an install behind a private PKI would.
    const mayfly = await installMayfly(cp, { log, injection: { providerCa: apiCa.certPem } });
    cleanups.push(async () => {
      await mayfly.controller.stop();
    });
    const service: ServiceAddress = await createServiceAddress();
    cleanups.push(() => service.stop());
    const names = new Map<string, string>([[CONTROLLER_HOST, service.ip]]);
    let podCount = 0;
    const logFiles: Array<[string, string]> = [['controller', mayfly.controller.logPath]];

    const world: World = {
      cp,
      mayfly,
      apiCa,
      serviceIp: service.ip,
      log,
      async namespace(name, opts = {}) {
        await must(cp, ['create', 'namespace', name]);
        if (opts.injected !== false) await must(cp, ['label', 'namespace', name, 'mayfly.dev/injection=enabled']);
      },
      async apply(yaml, opts = {}) {
        return must(cp, ['apply', ...(opts.namespace ? ['-n', opts.namespace] : []), '-f', '-'], { input: yaml });
      },
      async api(name, opts = {}) {
        const address = await createServiceAddress();
        cleanups.push(() => address.stop());
        names.set(name, address.ip);
        const up = await startUpstream({
          host: address.ip,
          port: opts.plaintext ? 80 : 443,
          ...(opts.plaintext ? {} : { tls: apiCa.issueServer([name]) }),
          ...(opts.reply ? { reply: opts.reply } : {}),
        });
        cleanups.push(() => up.stop());
        return up;
      },
      async address(name) {
        const address = await createServiceAddress();
        cleanups.push(() => address.stop());
        names.set(name, address.ip);
        return address.ip;
      },
      async deployment(d) {
        await cp.kubectl(['-n', d.namespace, 'create', 'serviceaccount', d.serviceAccount]);
        const deploy = {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: d.name, namespace: d.namespace },
          spec: {
            replicas: 1,
            selector: { matchLabels: d.labels },
            template: {
              metadata: { labels: d.labels },
              spec: { serviceAccountName: d.serviceAccount, containers: [{ name: 'app', image: d.image ?? 'ghcr.io/acme/app:1.0', securityContext: { runAsUser: 1000, runAsGroup: 1000 } }] },
            },
          },
        };
        await must(cp, ['apply', '-f', '-'], { input: JSON.stringify(deploy) });
        const pods = await until(`a pod of deployment ${d.name}`, async () => {
          const list = await getJson<{ items: Array<{ metadata: { name: string } }> }>(cp, ['pods', '-n', d.namespace, '-l', Object.entries(d.labels).map(([k, v]) => `${k}=${v}`).join(',')]);
          return list.items.length > 0 ? list.items : undefined;
        }, 60_000, 250);
        return (pods[0] as { metadata: { name: string } }).metadata.name;
      },
      async runPod(namespace, name) {
        const network = await createPodNetwork(Object.fromEntries(names));
        podCount += 1;
        const pod = await runPod({ kubeConfig: cp.kubeConfig, namespace, name, network, dir: join(dir, `pod-${podCount}`), log });
        const sidecarLog = pod.logPath('mayfly-sidecar');
        logFiles.push([`sidecar of ${name}`, sidecarLog]);
        const handle: PodHandle = {
          name,
          namespace,
          pod,
          network,
          app: (argv, opts = {}) => pod.exec('app', argv, opts),
          audit: () => {
            return readFileSync(sidecarLog, 'utf8')
              .split('\n')
              .filter((l: string) => l.startsWith('{'))
              .map((l: string) => JSON.parse(l) as Record<string, unknown>)
              .filter((r: Record<string, unknown>) => r.audit === true || r.decision !== undefined);
          },
          async stop() {
            await pod.stop();
            await network.stop();
          },
        };
        cleanups.push(() => handle.stop());
        return handle;
      },
      logs: () => [...logFiles],
      async stop() {
        for (const c of cleanups.reverse()) await c().catch((err: Error) => log(`cleanup: ${err.message}`));
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return world;
  } catch (err) {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    throw err;
  }
}
