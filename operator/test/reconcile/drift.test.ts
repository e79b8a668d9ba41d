import t from 'tap';
import { driftEntries, podStats } from '../../src/reconcile/drift.ts';
import { namespaceView, podView, resolveWorkload, type PodView } from '../../src/reconcile/pods.ts';
import { compiled, podObject } from '../helpers/objects.ts';

const labelled = namespaceView({ metadata: { name: 'payments', labels: { 'mayfly.dev/injection': 'enabled' } } }, 'payments');
const unlabelled = namespaceView({ metadata: { name: 'payments' } }, 'payments');
const byName = (m: Record<string, { kind: string; name: string }>) => (p: PodView) => (m[p.name] as never) ?? p.owner;

t.test('counts selected, injected and drifted pods; ignores other namespaces, labels, finished and deleting pods', async (t) => {
  const policy = compiled();
  const pods = [
    podObject({ name: 'a', injected: true }),
    podObject({ name: 'b' }),
    podObject({ name: 'c', labels: { app: 'other' } }),
    podObject({ name: 'd', namespace: 'other', injected: true }),
    podObject({ name: 'e', phase: 'Succeeded' }),
    { ...podObject({ name: 'f' }), metadata: { ...podObject({ name: 'f' }).metadata, deletionTimestamp: new Date() } },
  ].map(podView);
  const stats = podStats(policy, pods, labelled);
  t.same(stats.matched.map((p) => p.name), ['a', 'b']);
  t.equal(stats.injected, 1);
  t.same(stats.drifted.map((d) => [d.pod.name, d.reason]), [['b', 'NoSidecar']]);
});

t.test('a pod injected before a policy needing another token audience is drifted with MissingAudience', async (t) => {
  const policy = compiled({ provider: { aws: { roleARN: 'arn:aws:iam::123456789012:role/x', region: 'eu-central-1' } }, hosts: ['s3.eu-central-1.amazonaws.com'] });
  const old = podView(podObject({ name: 'old', injected: true, audiences: ['mayfly'] }));
  const fresh = podView(podObject({ name: 'fresh', injected: true, audiences: ['mayfly', 'sts.amazonaws.com'] }));
  const stats = podStats(policy, [old, fresh], labelled);
  t.equal(stats.injected, 2);
  t.match(stats.drifted, [{ pod: { name: 'old' }, reason: 'MissingAudience', message: /"sts.amazonaws.com"/ }]);
});

t.test('each drifted pod comes with the exact fix command for its workload', async (t) => {
  const policy = compiled();
  const pods = [
    podObject({ name: 'web-7d9f-abcde', owner: { kind: 'ReplicaSet', name: 'web-7d9f' } }),
    podObject({ name: 'db-0', owner: { kind: 'StatefulSet', name: 'db' } }),
    podObject({ name: 'bare' }),
    podObject({ name: 'job-x', owner: { kind: 'Job', name: 'nightly-123' } }),
  ].map(podView);
  const stats = podStats(policy, pods, labelled);
  const workloads = byName({ 'web-7d9f-abcde': { kind: 'Deployment', name: 'web' } });
  const entries = driftEntries(stats.drifted, labelled, workloads);
  t.same(
    entries.map((e) => [e.pod, e.fix]),
    [
      ['bare', 'kubectl -n payments delete pod bare'],
      ['db-0', 'kubectl -n payments rollout restart statefulset/db'],
      ['job-x', 'kubectl -n payments delete pod job-x'],
      ['web-7d9f-abcde', 'kubectl -n payments rollout restart deployment/web'],
    ],
  );
  t.match(entries[0]?.message, /no controller: create it again/);
});

t.test('an unlabelled namespace gets the label command first; an opted-out pod gets the annotation removed', async (t) => {
  const policy = compiled();
  const web = podView(podObject({ name: 'web-1', owner: { kind: 'Deployment', name: 'web' } }));
  const [e1] = driftEntries(podStats(policy, [web], unlabelled).drifted, unlabelled, (p) => p.owner);
  t.equal(e1?.fix, 'kubectl label namespace payments mayfly.dev/injection=enabled && kubectl -n payments rollout restart deployment/web');
  t.match(e1?.message, /not labelled mayfly.dev\/injection=enabled/);
  const out = podView(podObject({ name: 'web-2', owner: { kind: 'Deployment', name: 'web' }, annotations: { 'mayfly.dev/inject': 'false' } }));
  const [e2] = driftEntries(podStats(policy, [out], labelled).drifted, labelled, (p) => p.owner);
  t.equal(e2?.fix, `kubectl -n payments patch deployment/web --type=json -p '[{"op":"remove","path":"/spec/template/metadata/annotations/mayfly.dev~1inject"}]'`);
  const host = podView(podObject({ name: 'h', hostNetwork: true }));
  const [e3] = driftEntries(podStats(policy, [host], labelled).drifted, labelled, (p) => p.owner);
  t.equal(e3?.fix, undefined, 'no command can fix a hostNetwork pod');
  t.match(e3?.message, /hostNetwork/);
});

t.test('at most 20 drifted pods are listed; all are counted', async (t) => {
  const pods = Array.from({ length: 25 }, (_, i) => podView(podObject({ name: `p${String(i).padStart(2, '0')}` })));
  const stats = podStats(compiled(), pods, labelled);
  t.equal(stats.drifted.length, 25);
  t.equal(driftEntries(stats.drifted, labelled, () => null).length, 20);
});

t.test('resolveWorkload follows a ReplicaSet to its Deployment and a Job to its CronJob', async (t) => {
  t.same(resolveWorkload({ kind: 'ReplicaSet', name: 'web-abc' }, { kind: 'Deployment', name: 'web' }), { kind: 'Deployment', name: 'web' });
  t.same(resolveWorkload({ kind: 'ReplicaSet', name: 'rs' }, null), { kind: 'ReplicaSet', name: 'rs' });
  t.same(resolveWorkload({ kind: 'Job', name: 'j-1' }, { kind: 'CronJob', name: 'j' }), { kind: 'CronJob', name: 'j' });
  t.equal(resolveWorkload(null), null);
});
