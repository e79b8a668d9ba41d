import t from 'tap';
import { findOverlaps, hostsOverlap } from '../../src/reconcile/overlap.ts';
import { buildStatus, eventsFor, statusEqual, type StatusInput } from '../../src/reconcile/status.ts';
import { podView } from '../../src/reconcile/pods.ts';
import { compiled, podObject } from '../helpers/objects.ts';

const d = (host: string) => ({ host, wildcard: host.startsWith('*.'), ...(host.startsWith('*.') ? { suffix: host.slice(1) } : {}), ports: [443], methods: null, paths: null, plaintext: false, allowPrivateAddresses: false });

t.test('hostsOverlap: exact names, and wildcards that match exactly one more label', async (t) => {
  t.ok(hostsOverlap(d('api.stripe.com'), d('api.stripe.com')));
  t.notOk(hostsOverlap(d('api.stripe.com'), d('api.stripe.co')));
  t.ok(hostsOverlap(d('*.stripe.com'), d('api.stripe.com')));
  t.ok(hostsOverlap(d('api.stripe.com'), d('*.stripe.com')));
  t.notOk(hostsOverlap(d('*.stripe.com'), d('a.b.stripe.com')), 'two more labels');
  t.notOk(hostsOverlap(d('*.stripe.com'), d('stripe.com')), 'the bare domain');
  t.notOk(hostsOverlap(d('*.stripe.com'), d('api.notstripe.com')));
});

t.test('overlap is reported for a shared destination and a shared pod, or identical subjects', async (t) => {
  const a = compiled({ name: 'a' });
  const b = compiled({ name: 'b', hosts: ['*.stripe.com'] });
  const c = compiled({ name: 'c', hosts: ['api.stripe.com'], ports: [8443] });
  const other = compiled({ name: 'other', matchLabels: { app: 'other' } });
  const pods = [podView(podObject({ name: 'api-1' }))];
  t.match(findOverlaps(a, [a, b, c, other], pods), [{ reason: 'Overlap', severity: 'warning', message: 'overlaps policy b on api.stripe.com:443 for pod api-1' }]);
  t.match(findOverlaps(a, [b], []), [{ message: 'overlaps policy b on api.stripe.com:443 for the same subjects' }], 'no pods yet, same subjects');
  t.same(findOverlaps(a, [other], pods), [], 'different pods');
  t.same(findOverlaps(a, [compiled({ name: 'x', namespace: 'elsewhere' })], pods), [], 'other namespace');
});

const base: StatusInput = { generation: 2, mode: 'Enforce', invalid: [], findings: [], matchedPods: 3, injectedPods: 3, driftedPods: 0, drift: [], now: Date.parse('2026-06-01T00:00:00Z'), previous: undefined };

t.test('buildStatus: Ready=True Compiled, Degraded=False, counts and observedGeneration', async (t) => {
  const s = buildStatus(base);
  t.match(s, { observedGeneration: 2, matchedPods: 3, injectedPods: 3, driftedPods: 0, drift: [] });
  t.match(s.conditions, [
    { type: 'Ready', status: 'True', reason: 'Compiled', observedGeneration: 2, lastTransitionTime: '2026-06-01T00:00:00Z', message: 'compiled and enforced; 3 of 3 selected pods run the sidecar' },
    { type: 'Degraded', status: 'False', reason: 'AsExpected' },
  ]);
});

t.test('buildStatus: errors make Ready False with the first reason; warnings and drift make Degraded True', async (t) => {
  const s = buildStatus({
    ...base,
    findings: [
      { check: 'notExpired', severity: 'error', reason: 'Expired', message: 'expired' },
      { check: 'noOverlap', severity: 'warning', reason: 'Overlap', message: 'overlaps b' },
    ],
    driftedPods: 1,
  });
  t.match(s.conditions, [{ type: 'Ready', status: 'False', reason: 'Expired' }, { type: 'Degraded', status: 'True', reason: 'Overlap', message: /overlaps b; 1 selected pod cannot enforce/ }]);
  const invalid = buildStatus({ ...base, invalid: [{ path: 'spec.destinations[0].host', message: 'bad', source: 'rule' }] });
  t.match(invalid.conditions, [{ status: 'False', reason: 'Invalid', message: 'spec.destinations[0].host: bad' }]);
});

t.test('lastTransitionTime moves only when a condition changes status; equal statuses are not rewritten', async (t) => {
  const first = buildStatus(base);
  const later = buildStatus({ ...base, now: base.now + 60_000, previous: first });
  t.equal(later.conditions?.[0]?.lastTransitionTime, '2026-06-01T00:00:00Z');
  t.ok(statusEqual(first, later), 'nothing to write');
  const failed = buildStatus({ ...base, now: base.now + 60_000, previous: first, findings: [{ check: 'x', severity: 'error', reason: 'Expired', message: 'e' }] });
  t.equal(failed.conditions?.[0]?.lastTransitionTime, '2026-06-01T00:01:00Z');
  t.notOk(statusEqual(first, failed));
  t.notOk(statusEqual(undefined, first));
});

t.test('eventsFor: one event per transition and per newly drifted pod, none for a repeat', async (t) => {
  const ready = buildStatus(base);
  t.same(eventsFor(undefined, ready), [{ type: 'Normal', reason: 'Compiled', message: 'generation 2 compiled and pushed to selected sidecars' }]);
  t.same(eventsFor(ready, buildStatus({ ...base, previous: ready })), [], 'no change, no event');
  const drifted = buildStatus({ ...base, previous: ready, driftedPods: 1, drift: [{ pod: 'b', reason: 'NoSidecar', message: 'no sidecar', fix: 'kubectl -n payments delete pod b' }] });
  t.same(eventsFor(ready, drifted), [{ type: 'Warning', reason: 'PodWithoutSidecar', message: 'pod b: no sidecar; fix: kubectl -n payments delete pod b' }]);
  t.same(eventsFor(drifted, buildStatus({ ...base, previous: drifted, driftedPods: 1, drift: drifted.drift ?? [] })), []);
  const expired = buildStatus({ ...base, previous: ready, findings: [{ check: 'notExpired', severity: 'error', reason: 'Expired', message: 'the policy expired' }] });
  t.same(eventsFor(ready, expired), [{ type: 'Warning', reason: 'Expired', message: 'the policy expired' }]);
  const gen3 = buildStatus({ ...base, generation: 3, previous: ready });
  t.match(eventsFor(ready, gen3), [{ reason: 'Compiled', message: 'generation 3 compiled and pushed to selected sidecars' }]);
});
