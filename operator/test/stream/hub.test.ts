import t from 'tap';
import type { CompiledPolicy, PodSubject } from '@mayfly/crds';
import type { StreamMessage } from '@mayfly/sidecar/control/protocol';
import { FakeClock, flush } from '../../src/machinery/clock.ts';
import { ConfigHub, type HubSources, type Subscriber } from '../../src/stream/hub.ts';
import { compiled } from '../helpers/objects.ts';

function world() {
  const policies = new Map<string, CompiledPolicy[]>();
  const pods = new Map<string, { uid: string; subject: PodSubject; images: readonly string[] }>();
  const sources: HubSources = {
    policies: (ns) => policies.get(ns) ?? [],
    pod: (ns, name) => pods.get(`${ns}/${name}`),
  };
  return { policies, pods, sources };
}

function subscriber(name: string, labels: Record<string, string>, ns = 'payments') {
  const got: StreamMessage[] = [];
  let closed = false;
  const sub: Subscriber = {
    namespace: ns,
    podName: name,
    podUID: `uid-${name}`,
    subject: { namespace: ns, serviceAccount: 'default', labels },
    send: (m) => got.push(m),
    close: () => (closed = true),
  };
  return { sub, got, closed: () => closed, ids: () => got.filter((m) => m.type === 'snapshot').map((m) => (m.type === 'snapshot' ? m.policies.map((p) => p.id) : [])) };
}

t.test('each pod receives only the policies that select it, first at once and then on each change', async (t) => {
  const w = world();
  const clock = new FakeClock();
  const hub = new ConfigHub(w.sources, clock);
  w.policies.set('payments', [compiled({ name: 'a' }), compiled({ name: 'b', matchLabels: { app: 'other' } })]);
  w.policies.set('other', [compiled({ name: 'c', namespace: 'other' })]);
  const api = subscriber('api', { app: 'payments' });
  const oth = subscriber('oth', { app: 'other' });
  hub.subscribe(api.sub);
  hub.subscribe(oth.sub);
  t.same(api.ids(), [['payments/a']]);
  t.same(oth.ids(), [['payments/b']], 'never another workload\'s policy, never another namespace\'s');

  w.policies.set('payments', [compiled({ name: 'a', generation: 2, hosts: ['api.stripe.com', 'files.stripe.com'] }), compiled({ name: 'b', matchLabels: { app: 'other' } })]);
  hub.policiesChanged('payments');
  await flush();
  t.same(api.ids(), [['payments/a'], ['payments/a']], 'a changed policy is pushed');
  t.same(oth.ids(), [['payments/b']], 'a pod whose policies did not change gets nothing');

  hub.policiesChanged('payments');
  hub.policiesChanged('payments');
  await flush();
  t.equal(api.got.length, 2, 'no push when the revision did not change');

  w.policies.set('payments', [compiled({ name: 'b', matchLabels: { app: 'other' } })]);
  hub.policiesChanged('payments');
  await flush();
  t.same(api.ids().at(-1), [], 'a deleted policy is revoked with an empty snapshot');
});

t.test('a pod relabelled into another policy gets it; a deleted pod is revoked and its stream ended', async (t) => {
  const w = world();
  const hub = new ConfigHub(w.sources, new FakeClock());
  w.policies.set('payments', [compiled({ name: 'a' }), compiled({ name: 'b', matchLabels: { app: 'other' } })]);
  const api = subscriber('api', { app: 'payments' });
  hub.subscribe(api.sub);
  w.pods.set('payments/api', { uid: 'uid-api', subject: { namespace: 'payments', serviceAccount: 'default', labels: { app: 'other' } }, images: [] });
  hub.podChanged('payments');
  await flush();
  t.same(api.ids(), [['payments/a'], ['payments/b']]);
  hub.podDeleted('payments', 'api', 'uid-api');
  t.same(api.ids().at(-1), []);
  t.match(api.got.at(-1), { type: 'end', code: 'ERR_POD_DELETED' });
  t.ok(api.closed());
  t.equal(hub.size, 0);
});

t.test('a pod re-created under the same name ends the old stream', async (t) => {
  const w = world();
  const hub = new ConfigHub(w.sources, new FakeClock());
  w.policies.set('payments', [compiled({ name: 'a' })]);
  const api = subscriber('api', { app: 'payments' });
  hub.subscribe(api.sub);
  w.pods.set('payments/api', { uid: 'uid-new', subject: api.sub.subject, images: [] });
  hub.podChanged('payments');
  await flush();
  t.match(api.got.at(-1), { type: 'end', code: 'ERR_POD_DELETED' });
});

t.test('a policy stops being sent at expiresAt', async (t) => {
  const w = world();
  const clock = new FakeClock(Date.parse('2026-06-01T00:00:00Z'));
  const hub = new ConfigHub(w.sources, clock);
  w.policies.set('payments', [compiled({ name: 'a', expiresAt: '2026-06-01T00:10:00Z' }), compiled({ name: 'z' })]);
  const api = subscriber('api', { app: 'payments' });
  hub.subscribe(api.sub);
  t.same(api.ids(), [['payments/a', 'payments/z']]);
  await clock.advance(10 * 60_000 - 1);
  t.equal(api.got.length, 1);
  await clock.advance(1);
  t.same(api.ids(), [['payments/a', 'payments/z'], ['payments/z']], 'revoked exactly at expiresAt');
});

t.test('stop ends every stream with ERR_SHUTTING_DOWN', async (t) => {
  const w = world();
  const hub = new ConfigHub(w.sources, new FakeClock());
  const a = subscriber('a', {});
  const b = subscriber('b', {}, 'other');
  hub.subscribe(a.sub);
  hub.subscribe(b.sub);
  hub.stop();
  t.match(a.got.at(-1), { type: 'end', code: 'ERR_SHUTTING_DOWN' });
  t.match(b.got.at(-1), { type: 'end', code: 'ERR_SHUTTING_DOWN' });
  t.ok(a.closed() && b.closed());
});
