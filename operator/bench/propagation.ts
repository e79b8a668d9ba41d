// Benchmark (a script, not a test): how long from a policy change reaching the
// API server to the sidecars it selects holding the new configuration. Real
// control plane, the chart's RBAC, sidecars are the sidecar's own
// StreamConfigSource with real pod-bound tokens.
//
//   node operator/bench/propagation.ts [--sidecars 50] [--changes 200] [--kubectl 20]
//
// Three numbers: (1) update through the API (a merge patch) to every selected
// sidecar holding it, (2) the same for deletion (revocation), (3) end to end from
// starting `kubectl apply` (what a user does) to the sidecar holding it.
import { parseArgs } from 'node:util';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { PolicySnapshot } from '@mayfly/sidecar';
import { StreamConfigSource } from '@mayfly/sidecar/control/stream-source';
import { installedCluster, makePod, must, namespace, podToken, policyYaml, until } from '../test/helpers/cluster.ts';

const { values } = parseArgs({ options: { sidecars: { type: 'string', default: '50' }, changes: { type: 'string', default: '200' }, kubectl: { type: 'string', default: '20' } } });
const SIDECARS = Number(values.sidecars);
const CHANGES = Number(values.changes);
const KUBECTL = Number(values.kubectl);
const NAMESPACES = 5;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const summary = (xs: number[]) => ({ n: xs.length, p50: Math.round(pct(xs, 50) * 10) / 10, p99: Math.round(pct(xs, 99) * 10) / 10, max: Math.round(Math.max(...xs) * 10) / 10 });

const { env, first } = await installedCluster(log);
const { cp } = env;
const sources: StreamConfigSource[] = [];
try {
  const ca = await env.ca();
  const url = `https://127.0.0.1:${first.serverPort}`;
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `prop-${i}`);
  for (const ns of namespaces) {
    await namespace(cp, ns, true);
    await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: ns, name: 'target', labels: { app: 'prop' }, paths: ['/v0/*'] }) });
  }
  log(`[bench] starting ${SIDECARS} sidecars in ${NAMESPACES} namespaces`);
  // Each sidecar: its latest snapshot and when it arrived (high-resolution clock).
  const latest: Array<{ ns: string; snapshot: PolicySnapshot | null; at: number }> = [];
  for (let i = 0; i < SIDECARS; i++) {
    const ns = namespaces[i % NAMESPACES] as string;
    const name = `app-${i}`;
    await makePod(cp, { namespace: ns, name, sa: 'app', labels: { app: 'prop' } });
    const token = await podToken(cp, ns, 'app', name);
    const slot = { ns, snapshot: null as PolicySnapshot | null, at: 0 };
    latest.push(slot);
    const source = new StreamConfigSource({ url, ca, token: async () => token });
    sources.push(source);
    await source.start((s) => {
      slot.snapshot = s;
      slot.at = performance.now();
    });
  }
  const pathOf = (s: PolicySnapshot | null): string => JSON.stringify(s?.policies[0]?.destinations[0]?.paths ?? null);

  log(`[bench] ${CHANGES} changes through the API`);
  const update: number[] = [];
  for (let i = 1; i <= CHANGES; i++) {
    const ns = namespaces[i % NAMESPACES] as string;
    const mine = latest.filter((s) => s.ns === ns);
    const want = JSON.stringify([{ prefix: `/v${i}/` }]);
    const started = performance.now();
    await custom.patchNamespacedCustomObject({ group: 'mayfly.dev', version: 'v1alpha1', namespace: ns, plural: 'workloadpolicies', name: 'target', body: { spec: { destinations: [{ host: 'api.example.com', paths: [`/v${i}/*`] }] } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await until('every selected sidecar updated', () => mine.every((s) => pathOf(s.snapshot) === want), 10_000, 1);
    for (const s of mine) update.push(s.at - started);
  }

  log('[bench] deletions');
  const revoke: number[] = [];
  for (let round = 0; round < 10; round++) {
    for (const ns of namespaces) {
      const mine = latest.filter((s) => s.ns === ns);
      const started = performance.now();
      await custom.deleteNamespacedCustomObject({ group: 'mayfly.dev', version: 'v1alpha1', namespace: ns, plural: 'workloadpolicies', name: 'target' });
      await until('revoked', () => mine.every((s) => s.snapshot?.policies.length === 0), 10_000, 1);
      for (const s of mine) revoke.push(s.at - started);
      await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: ns, name: 'target', labels: { app: 'prop' }, paths: ['/v0/*'] }) });
      await until('re-granted', () => mine.every((s) => s.snapshot?.policies.length === 1), 10_000, 1);
    }
  }

  log(`[bench] ${KUBECTL} changes with kubectl apply`);
  const kubectl: number[] = [];
  for (let i = 1; i <= KUBECTL; i++) {
    const ns = namespaces[i % NAMESPACES] as string;
    const mine = latest.filter((s) => s.ns === ns);
    const want = JSON.stringify([{ prefix: `/k${i}/` }]);
    const started = performance.now();
    await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: ns, name: 'target', labels: { app: 'prop' }, paths: [`/k${i}/*`] }) });
    await until('every selected sidecar updated', () => mine.every((s) => pathOf(s.snapshot) === want), 10_000, 1);
    for (const s of mine) kubectl.push(s.at - started);
  }

  const result = { sidecars: SIDECARS, namespaces: NAMESPACES, updateMs: summary(update), revokeMs: summary(revoke), kubectlApplyMs: summary(kubectl) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  log(`[bench] update p50 ${result.updateMs.p50} ms p99 ${result.updateMs.p99} ms; revoke p50 ${result.revokeMs.p50} ms p99 ${result.revokeMs.p99} ms; kubectl apply end to end p50 ${result.kubectlApplyMs.p50} ms p99 ${result.kubectlApplyMs.p99} ms (target < 2000 ms)`);
} finally {
  for (const s of sources) await s.stop();
  await first.stop();
  await cp.stop();
}
