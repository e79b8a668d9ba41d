// Reconciler scenarios on the real API server: the chart installed, the
// controller running locally with the chart's RBAC, the webhook it serves
// injecting pods. Status, Events and metrics are read back as a user would.
import t from 'tap';
import { condition, events, installedCluster, makePod, metricValue, must, namespace, policyStatus, policyYaml, until } from '../helpers/cluster.ts';

// A whole control plane per file: allow for a slow, shared machine.
t.setTimeout(300_000);

const { env, first: ctl } = await installedCluster((l) => t.comment(l));
const { cp } = env;
t.teardown(async () => {
  await ctl.stop();
  await cp.stop();
});

await namespace(cp, 'shop', true);
const api = await makePod(cp, { namespace: 'shop', name: 'api-1', sa: 'api', labels: { app: 'shop' } });

t.test('a policy becomes Ready with its pod counts, a Compiled event and a metric; an update is observed', async (t) => {
  t.ok(api.metadata.annotations?.['mayfly.dev/status'], 'the pod was injected by the webhook the controller serves');
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'to-api', labels: { app: 'shop' } }) });
  const s = await until('Ready', async () => {
    const s = await policyStatus(cp, 'shop', 'to-api');
    return condition(s, 'Ready')?.status === 'True' ? s : undefined;
  });
  t.match(s, { observedGeneration: 1, matchedPods: 1, injectedPods: 1, driftedPods: 0, drift: [] });
  t.match(condition(s, 'Ready'), { reason: 'Compiled', message: 'compiled and enforced; 1 of 1 selected pod run the sidecar' });
  t.match(condition(s, 'Degraded'), { status: 'False', reason: 'AsExpected' });
  t.match(await until('event', async () => (await events(cp, 'shop', 'to-api')).find((e) => e.reason === 'Compiled')), { type: 'Normal', message: 'generation 1 compiled and pushed to selected sidecars' });
  t.equal(metricValue(await ctl.metrics(), 'mayfly_policy_ready', { namespace: 'shop', policy: 'to-api' }), 1);

  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'to-api', labels: { app: 'shop' }, paths: ['/v1/*'] }) });
  await until('generation 2 observed', async () => (await policyStatus(cp, 'shop', 'to-api')).observedGeneration === 2);
  t.ok(await until('event', async () => (await events(cp, 'shop', 'to-api')).find((e) => e.message === 'generation 2 compiled and pushed to selected sidecars')));
  t.match((await ctl.metrics()).match(/mayfly_reconcile_total\{result="done"\} (\d+)/)?.[1], /^[1-9]/);
});

t.test('validation beyond the schema: a missing Secret, then the Secret; a reserved token audience', async (t) => {
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'to-stripe', labels: { app: 'shop' }, host: 'api.stripe.com', provider: '{ secretRef: { name: stripe, key: apiKey } }' }) });
  const missing = await until('SecretNotFound', async () => {
    const s = await policyStatus(cp, 'shop', 'to-stripe');
    return condition(s, 'Ready')?.reason === 'SecretNotFound' ? s : undefined;
  });
  t.match(condition(missing, 'Ready'), { status: 'False', message: 'secret shop/stripe does not exist' });
  t.match(await until('event', async () => (await events(cp, 'shop', 'to-stripe')).find((e) => e.reason === 'SecretNotFound')), { type: 'Warning' });
  await must(cp, ['-n', 'shop', 'create', 'secret', 'generic', 'stripe', '--from-literal=token=x']);
  await until('SecretKeyNotFound', async () => condition(await policyStatus(cp, 'shop', 'to-stripe'), 'Ready')?.reason === 'SecretKeyNotFound');
  await must(cp, ['-n', 'shop', 'delete', 'secret', 'stripe']);
  await must(cp, ['-n', 'shop', 'create', 'secret', 'generic', 'stripe', '--from-literal=apiKey=sk_test_123']);
  await until('Ready once the Secret exists (Secrets are not watched: looked at again on a timer)', async () => condition(await policyStatus(cp, 'shop', 'to-stripe'), 'Ready')?.status === 'True');
  t.notMatch(JSON.stringify(ctl.logs()), /sk_test_123/, 'the key never reaches the log');

  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'to-sts', labels: { app: 'nobody' }, host: 'sts.example.com', provider: '{ oauth2TokenExchange: { tokenURL: "https://sts.example.com/token", tokenAudience: mayfly } }' }) });
  const reserved = await until('ReservedAudience', async () => {
    const s = await policyStatus(cp, 'shop', 'to-sts');
    return condition(s, 'Ready')?.reason === 'ReservedAudience' ? s : undefined;
  });
  t.match(condition(reserved, 'Ready')?.message, /reserved for the Mayfly controller/);
  await must(cp, ['-n', 'shop', 'delete', 'wp', 'to-sts', 'to-stripe']);
});

t.test('two policies claiming one destination for one pod are reported as overlapping', async (t) => {
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'to-api-wild', labels: { app: 'shop' }, host: '"*.example.com"' }) });
  const s = await until('Overlap', async () => {
    const s = await policyStatus(cp, 'shop', 'to-api-wild');
    return condition(s, 'Degraded')?.reason === 'Overlap' ? s : undefined;
  });
  t.match(condition(s, 'Degraded'), { status: 'True', message: 'overlaps policy to-api on api.example.com:443 for pod api-1' });
  t.equal(condition(s, 'Ready')?.status, 'True', 'an overlap degrades, it does not disable');
  await until('the other side too', async () => condition(await policyStatus(cp, 'shop', 'to-api'), 'Degraded')?.reason === 'Overlap');
  await must(cp, ['-n', 'shop', 'delete', 'wp', 'to-api-wild']);
  await until('overlap cleared', async () => condition(await policyStatus(cp, 'shop', 'to-api'), 'Degraded')?.status === 'False');
  t.pass('cleared when the other policy goes');
});

t.test('an expiring policy turns Ready=False Expired at expiresAt, with an Event', async (t) => {
  const at = new Date(Date.now() + 6000);
  const expiresAt = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'break-glass', labels: { app: 'shop' }, host: 'admin.example.com', extra: `  expiresAt: "${expiresAt}"\n` }) });
  await until('Ready before expiry', async () => condition(await policyStatus(cp, 'shop', 'break-glass'), 'Ready')?.status === 'True');
  t.ok(Date.now() < Date.parse(expiresAt), 'Ready while it has not expired');
  const s = await until('Expired', async () => {
    const s = await policyStatus(cp, 'shop', 'break-glass');
    return condition(s, 'Ready')?.reason === 'Expired' ? s : undefined;
  }, 20_000, 50);
  const late = Date.now() - Date.parse(expiresAt);
  t.ok(late < 3000, `status turned Expired ${late} ms after expiresAt`);
  t.match(condition(s, 'Ready'), { status: 'False', message: `the policy expired at ${expiresAt} and grants nothing` });
  t.ok(await until('event', async () => (await events(cp, 'shop', 'break-glass')).find((e) => e.reason === 'Expired' && e.type === 'Warning')));
  t.equal(metricValue(await ctl.metrics(), 'mayfly_policy_ready', { namespace: 'shop', policy: 'break-glass' }), 0);
});

t.test('drift: a Deployment in a namespace that is not opted in, reported with a fix command that fixes it', async (t) => {
  await namespace(cp, 'legacy', false);
  await must(cp, ['-n', 'legacy', 'apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'legacy' },
      // Recreate: with no kubelet here a new pod never becomes ready, so a rolling update would keep the old one.
      spec: { replicas: 1, strategy: { type: 'Recreate' }, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'ghcr.io/acme/web:1' }] } } },
    }),
  });
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'legacy', name: 'web-out', labels: { app: 'web' } }) });
  const s = await until('drift reported', async () => {
    const s = await policyStatus(cp, 'legacy', 'web-out');
    return s.driftedPods === 1 && s.drift?.[0]?.fix ? s : undefined;
  });
  const [d] = s.drift ?? [];
  t.match(d, { reason: 'NoSidecar', pod: /^web-[a-z0-9]+-[a-z0-9]+$/, message: /namespace legacy is not labelled mayfly.dev\/injection=enabled/ });
  t.equal(d?.fix, 'kubectl label namespace legacy mayfly.dev/injection=enabled && kubectl -n legacy rollout restart deployment/web', 'the Deployment was found through the ReplicaSet\'s ownerReference');
  t.match(s, { matchedPods: 1, injectedPods: 0 });
  t.match(condition(s, 'Degraded'), { status: 'True', reason: 'Drift' });
  t.ok(await until('event', async () => (await events(cp, 'legacy', 'web-out')).find((e) => e.reason === 'PodWithoutSidecar' && e.message.includes(d?.fix ?? '?'))));
  t.equal(metricValue(await ctl.metrics(), 'mayfly_policy_drifted_pods', { namespace: 'legacy', policy: 'web-out', reason: 'NoSidecar' }), 1);

  // Run the fix exactly as printed.
  for (const step of (d?.fix ?? '').split(' && ')) {
    const args = step.split(' ');
    t.equal(args.shift(), 'kubectl');
    await must(cp, args);
  }
  const fixed = await until('drift cleared', async () => {
    const s = await policyStatus(cp, 'legacy', 'web-out');
    return s.driftedPods === 0 && s.injectedPods === 1 ? s : undefined;
  }, 30_000);
  t.match(fixed, { matchedPods: 1, drift: [] });
  t.match(condition(fixed, 'Degraded'), { status: 'False' });
  t.equal(metricValue(await ctl.metrics(), 'mayfly_policy_drifted_pods', { namespace: 'legacy', policy: 'web-out', reason: 'NoSidecar' }), 0);
});

t.test('drift: an injected pod missing the token audience a new policy needs', async (t) => {
  await must(cp, ['apply', '-f', '-'], { input: policyYaml({ namespace: 'shop', name: 'to-sts', labels: { app: 'shop' }, host: 'sts.example.com', provider: '{ oauth2TokenExchange: { tokenURL: "https://sts.example.com/token", tokenAudience: sts.example.com } }' }) });
  const s = await until('MissingAudience', async () => {
    const s = await policyStatus(cp, 'shop', 'to-sts');
    return s.drift?.[0]?.reason === 'MissingAudience' ? s : undefined;
  });
  t.match(s.drift?.[0], { pod: 'api-1', message: /no token for audience "sts.example.com"/, fix: 'kubectl -n shop delete pod api-1' });
  t.match(s, { matchedPods: 1, injectedPods: 1, driftedPods: 1 });
});

t.test('a deleted policy leaves no metric behind', async (t) => {
  await must(cp, ['-n', 'shop', 'delete', 'wp', 'to-sts']);
  await until('metric removed', async () => metricValue(await ctl.metrics(), 'mayfly_policy_ready', { namespace: 'shop', policy: 'to-sts' }) === undefined);
  t.pass();
});
