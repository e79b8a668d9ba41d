// Several controller replicas on the real control plane: one leader through
// the Lease, failover when it dies or leaves, and informers that recover when
// the API server is cut off from one replica.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { condition, getJson, installedCluster, metricValue, must, namespace, policyStatus, policyYaml, until, type ControllerProcess } from '../helpers/cluster.ts';
import { startProxy } from '../helpers/proxy.ts';

// A whole control plane per file: allow for a slow, shared machine.
t.setTimeout(300_000);

const { env, first: a } = await installedCluster((l) => t.comment(l));
const { cp } = env;
const running = new Set<ControllerProcess>([a]);
t.teardown(async () => {
  for (const c of running) await c.kill();
  await cp.stop();
});
await namespace(cp, 'shop', false);

const holder = async (): Promise<{ holderIdentity?: string; leaseTransitions?: number }> => (await getJson<{ spec: { holderIdentity?: string; leaseTransitions?: number } }>(cp, ['-n', 'mayfly-system', 'lease', 'mayfly-controller'])).spec;
const leaderMetric = async (c: ControllerProcess): Promise<number | undefined> => metricValue(await c.metrics(), 'mayfly_controller_leader');
const ready = async (name: string): Promise<boolean> => condition(await policyStatus(cp, 'shop', name), 'Ready')?.status === 'True';
const writers = (c: ControllerProcess, policy: string): number => c.logs().filter((l) => l.msg === 'status written' && l.policy === `shop/${policy}`).length;

t.test('two replicas elect one leader; only the leader writes status', async (t) => {
  const b = await env.controller('mayfly-b');
  running.add(b);
  await until('a leads', async () => (await holder()).holderIdentity === 'mayfly-a');
  await until('metrics agree', async () => (await leaderMetric(a)) === 1 && (await leaderMetric(b)) === 0);
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'p1', labels: { app: 'shop' } }) });
  await until('p1 Ready', () => ready('p1'));
  t.ok(writers(a, 'p1') >= 1, 'the leader wrote the status');
  t.equal(writers(b, 'p1'), 0, 'the follower did not');
  t.match(b.logs().find((l) => l.msg === 'leader observed'), { leader: 'mayfly-a' });
});

t.test('when the leader dies, the other replica takes over after the lease expires', async (t) => {
  const b = [...running].find((c) => c.identity === 'mayfly-b') as ControllerProcess;
  const before = (await holder()).leaseTransitions ?? 0;
  const killedAt = Date.now();
  await a.kill();
  running.delete(a);
  await until('b leads', async () => (await holder()).holderIdentity === 'mayfly-b', 30_000, 200);
  const took = Date.now() - killedAt;
  t.ok(took <= 15_000 + 2_000 + 3_000, `took over ${took} ms after the leader was killed (lease 15 s, retry 2 s)`);
  t.equal((await holder()).leaseTransitions, before + 1);
  t.equal(await leaderMetric(b), 1);
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'p2', labels: { app: 'shop' } }) });
  await until('p2 Ready under the new leader', () => ready('p2'));
  t.ok(writers(b, 'p2') >= 1);
});

t.test('a leader that shuts down releases the lease; a peer takes over within a retry period', async (t) => {
  const b = [...running].find((c) => c.identity === 'mayfly-b') as ControllerProcess;
  const c = await env.controller('mayfly-c');
  running.add(c);
  await until('c follows', async () => (await leaderMetric(c)) === 0);
  const stoppedAt = Date.now();
  t.equal(await b.stop(), 0);
  running.delete(b);
  await until('c leads', async () => (await holder()).holderIdentity === 'mayfly-c', 10_000, 100);
  const took = Date.now() - stoppedAt;
  t.ok(took < 5000, `took over ${took} ms after a clean shutdown`);
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'p3', labels: { app: 'shop' } }) });
  await until('p3 Ready', () => ready('p3'));
});

t.test('informers cut off from the API server are restarted and catch up', async (t) => {
  for (const c of [...running]) {
    await c.stop();
    running.delete(c);
  }
  const port = Number(new URL(cp.server).port);
  const proxy = await startProxy('127.0.0.1', port);
  t.teardown(() => proxy.close());
  // The chart's service account, reaching the API server through the proxy only.
  const kubeconfig = join(env.dir, 'proxied.kubeconfig');
  const { readFileSync } = await import('node:fs');
  writeFileSync(kubeconfig, readFileSync(env.saKubeconfig, 'utf8').replace(cp.server, `https://127.0.0.1:${proxy.port}`));
  const d = await env.controller('mayfly-d', {}, kubeconfig);
  running.add(d);
  await until('d leads', async () => (await holder()).holderIdentity === 'mayfly-d');
  const readyz = async (): Promise<number> => (await fetch(`http://127.0.0.1:${d.opsPort}/readyz`)).status;
  t.equal(await readyz(), 200);

  proxy.cut();
  await until('informers noticed', () => d.logs().filter((l) => l.msg === 'informer stopped').length >= 3, 40_000, 100);
  t.equal(await readyz(), 503, 'not ready while its informers are down');
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'during-outage', labels: { app: 'shop' } }) });
  await new Promise((r) => setTimeout(r, 3000));
  t.notOk(await ready('during-outage'), 'nothing reconciled while cut off');
  proxy.restore();

  await until('the policy applied during the outage is reconciled', () => ready('during-outage'), 30_000);
  await until('ready again', async () => (await readyz()) === 200, 30_000);
  const restarts = d.logs().filter((l) => l.msg === 'informer restarting').map((l) => l.informer);
  t.ok(restarts.includes('workloadpolicies') && restarts.includes('pods') && restarts.includes('namespaces'), `restarted: ${[...new Set(restarts)].join(', ')}`);
  t.ok((metricValue(await d.metrics(), 'mayfly_informer_restarts_total', { informer: 'workloadpolicies' }) ?? 0) >= 1);
  t.equal((await holder()).holderIdentity, 'mayfly-d', 'a short outage does not cost the lease');
});
