// Benchmark (a script, not a test): 1,000 WorkloadPolicies across 100
// namespaces, each namespace opted in with one injected pod, reconciled by one
// controller running with the chart's RBAC on the real control plane. Reports
// how long until every policy is Ready with its status written.
//
//   node operator/bench/policies.ts [--namespaces 100] [--per-namespace 10] [--workers 4] [--profile DIR]
import { parseArgs } from 'node:util';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { installedCluster, makePod, must, namespace, type PolicyStatus } from '../test/helpers/cluster.ts';

const { values } = parseArgs({ options: { namespaces: { type: 'string', default: '100' }, 'per-namespace': { type: 'string', default: '10' }, workers: { type: 'string', default: '4' }, profile: { type: 'string' } } });
const NAMESPACES = Number(values.namespaces);
const PER = Number(values['per-namespace']);
const TOTAL = NAMESPACES * PER;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

const { env, first } = await installedCluster(log, { reconcile: { workers: Number(values.workers) } }, values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : []);
const { cp } = env;
try {
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const names = Array.from({ length: NAMESPACES }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
  log(`[bench] creating ${NAMESPACES} namespaces with one injected pod each`);
  await pool(names, 8, async (ns) => {
    await namespace(cp, ns, true);
    await makePod(cp, { namespace: ns, name: 'app-1', sa: 'app', labels: { app: 'bench' } });
  });

  const policies = names.flatMap((ns) =>
    Array.from({ length: PER }, (_, i) => ({
      apiVersion: 'mayfly.dev/v1alpha1',
      kind: 'WorkloadPolicy',
      metadata: { name: `p-${i}`, namespace: ns },
      spec: {
        subjects: { podSelector: { matchLabels: { app: 'bench' } } },
        destinations: [{ host: `api-${i}.example.com`, ports: [443], methods: ['GET', 'POST'], paths: ['/v1/*'] }],
        credential: { provider: { broker: { audience: `svc-${i}` } }, inject: { header: 'Authorization' } },
      },
    })),
  );

  log(`[bench] creating ${TOTAL} policies`);
  const started = Date.now();
  await pool(policies, 16, async (p) => {
    await custom.createNamespacedCustomObject({ group: 'mayfly.dev', version: 'v1alpha1', namespace: p.metadata.namespace, plural: 'workloadpolicies', body: p });
  });
  const created = Date.now();
  log(`[bench] created in ${created - started} ms; waiting for Ready`);

  let readyAt = 0;
  let lastCount = -1;
  for (;;) {
    const list = (await custom.listClusterCustomObject({ group: 'mayfly.dev', version: 'v1alpha1', plural: 'workloadpolicies' })) as { items: Array<{ status?: PolicyStatus }> };
    const ready = list.items.filter((p) => p.status?.observedGeneration === 1 && p.status.matchedPods === 1 && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    if (ready !== lastCount) log(`[bench] ${ready}/${TOTAL} Ready after ${Date.now() - started} ms`);
    lastCount = ready;
    if (ready === TOTAL) {
      readyAt = Date.now();
      break;
    }
    if (Date.now() - started > 300_000) throw new Error(`only ${ready}/${TOTAL} Ready after 300 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const metrics = await first.metrics();
  const reconciles = [...metrics.matchAll(/^mayfly_reconcile_total\{result="(\w+)"\} (\d+)/gm)].map((m) => `${m[1]}=${m[2]}`).join(' ');
  const cpu = Number(/^mayfly_controller_process_cpu_seconds_total (\S+)/m.exec(metrics)?.[1] ?? NaN);
  const rss = Number(/^mayfly_controller_process_resident_memory_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN) / 2 ** 20;
  const events = Number((await must(cp, ['get', 'events', '-A', '--field-selector', 'reason=Compiled', '--no-headers'])).trim().split('\n').length);
  const result = {
    policies: TOTAL,
    namespaces: NAMESPACES,
    workers: Number(values.workers),
    createMs: created - started,
    allReadyMs: readyAt - started,
    afterLastCreateMs: readyAt - created,
    compiledEvents: events,
    reconciles,
    controllerCpuSeconds: Math.round(cpu * 10) / 10,
    controllerRssMiB: Math.round(rss),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  log(`[bench] ${TOTAL} policies in ${NAMESPACES} namespaces all Ready ${result.allReadyMs} ms after the first create (${result.afterLastCreateMs} ms after the last); target < 30000 ms`);
} finally {
  await first.stop();
  await cp.stop();
}
