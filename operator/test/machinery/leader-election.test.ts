import t from 'tap';
import { FakeClock } from '../../src/machinery/clock.ts';
import { decide, LeaderElector, microTime, observationKey, type LeaseClient, type LeaseObject, type LeaseSpec } from '../../src/machinery/leader-election.ts';

const T0 = Date.UTC(2026, 0, 1);
const lease = (spec: Partial<LeaseSpec>, rv = '1'): LeaseObject => ({
  resourceVersion: rv,
  spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: microTime(T0), renewTime: microTime(T0), leaseTransitions: 0, ...spec },
});

t.test('decide: create, renew, wait, take over an expired lease', async (t) => {
  const created = decide({ self: 'a', now: T0, lease: null, observed: null, leaseDurationSeconds: 15 });
  t.equal(created.action, 'create');
  t.equal(microTime(T0), '2026-01-01T00:00:00.000000Z', 'MicroTime has microseconds');

  const mine = lease({ holderIdentity: 'a', leaseTransitions: 3 });
  const renew = decide({ self: 'a', now: T0 + 2000, lease: mine, observed: { key: observationKey(mine.spec), at: T0 }, leaseDurationSeconds: 15 });
  t.match(renew, { action: 'update', resourceVersion: '1', spec: { holderIdentity: 'a', leaseTransitions: 3, acquireTime: microTime(T0), renewTime: microTime(T0 + 2000) } });

  const theirs = lease({ holderIdentity: 'b' });
  const seen = { key: observationKey(theirs.spec), at: T0 };
  t.match(decide({ self: 'a', now: T0 + 14_999, lease: theirs, observed: seen, leaseDurationSeconds: 15 }), { action: 'wait', leader: 'b' });
  t.match(decide({ self: 'a', now: T0 + 15_000, lease: theirs, observed: seen, leaseDurationSeconds: 15 }), {
    action: 'update',
    spec: { holderIdentity: 'a', leaseTransitions: 1, acquireTime: microTime(T0 + 15_000) },
  });
});

t.test('decide: expiry counts from when this replica saw the record, not from its (skewed) renewTime', async (t) => {
  const stale = lease({ holderIdentity: 'b', renewTime: microTime(T0 - 3_600_000) });
  t.match(decide({ self: 'a', now: T0, lease: stale, observed: null, leaseDurationSeconds: 15 }), { action: 'wait' }, 'a first sighting never takes over');
  const renewed = lease({ holderIdentity: 'b', renewTime: microTime(T0 + 1) });
  const old = { key: observationKey(stale.spec), at: T0 - 60_000 };
  t.match(decide({ self: 'a', now: T0 + 10, lease: renewed, observed: old, leaseDurationSeconds: 15 }), { action: 'wait' }, 'a renewal restarts the clock');
  const released = lease({ holderIdentity: null, leaseDurationSeconds: 1 });
  t.match(decide({ self: 'a', now: T0, lease: released, observed: null, leaseDurationSeconds: 15 }), { action: 'update' }, 'a released lease is taken at once');
});

/**
 * A Lease store with the API server's optimistic concurrency (replace with a
 * stale resourceVersion fails with 409), so the timing logic can run on the fake
 * clock; the real Lease API is exercised in operator/test/leader.test.ts.
 */
class LeaseStore {
  lease: LeaseObject | null = null;
  rv = 0;
  readonly down = new Set<string>();
  client(id: string): LeaseClient {
    const check = (): void => {
      if (this.down.has(id)) throw new Error('connection refused');
    };
    return {
      get: async () => {
        check();
        return this.lease && structuredClone(this.lease);
      },
      create: async (spec) => {
        check();
        if (this.lease) throw Object.assign(new Error('already exists'), { code: 409 });
        this.lease = { spec: structuredClone(spec), resourceVersion: String(++this.rv) };
        return structuredClone(this.lease);
      },
      replace: async (spec, rv) => {
        check();
        if (!this.lease || this.lease.resourceVersion !== rv) throw Object.assign(new Error('conflict'), { code: 409 });
        this.lease = { spec: structuredClone(spec), resourceVersion: String(++this.rv) };
        return structuredClone(this.lease);
      },
    };
  }
}

function elector(id: string, store: LeaseStore, clock: FakeClock, log: string[]): LeaderElector {
  return new LeaderElector({
    identity: id,
    client: store.client(id),
    clock,
    onStartedLeading: () => log.push(`${id} leads`),
    onStoppedLeading: () => log.push(`${id} stops`),
  });
}

t.test('two electors: one leads; on shutdown it releases the lease and the other takes over within a retry period', async (t) => {
  const clock = new FakeClock(T0);
  const store = new LeaseStore();
  const log: string[] = [];
  const a = elector('a', store, clock, log);
  const b = elector('b', store, clock, log);
  a.start();
  await clock.advance(0);
  b.start();
  await clock.advance(60_000);
  t.same(log, ['a leads'], 'b never leads while a renews');
  t.ok(a.isLeader);
  t.equal(b.leader, 'a');
  await a.stop();
  t.equal(store.lease?.spec.holderIdentity, null, 'released on shutdown');
  await clock.advance(2_000);
  t.ok(b.isLeader, 'b takes a released lease within one retry period');
  t.same(log, ['a leads', 'a stops', 'b leads']);
  t.equal(store.lease?.spec.leaseTransitions, 1);
  await b.stop();
});

t.test('a leader that cannot renew stops leading after renewDeadline; a peer takes over after the lease duration', async (t) => {
  const clock = new FakeClock(T0);
  const store = new LeaseStore();
  const log: string[] = [];
  const a = elector('a', store, clock, log);
  const b = elector('b', store, clock, log);
  a.start();
  await clock.advance(0);
  b.start();
  await clock.advance(4_000);
  t.same(log, ['a leads']);
  store.down.add('a');
  await clock.advance(9_000);
  t.ok(a.isLeader, 'still leader within the renew deadline');
  await clock.advance(3_000);
  t.notOk(a.isLeader, 'stopped leading once it could not renew for 10 s');
  t.notOk(b.isLeader, 'b has not yet seen the lease expire');
  await clock.advance(6_000);
  t.ok(b.isLeader, 'b leads once the lease expired');
  t.ok(log.indexOf('a stops') < log.indexOf('b leads'), 'never two leaders at once');
  store.down.delete('a');
  await clock.advance(10_000);
  t.notOk(a.isLeader, 'a does not take the lease back while b renews');
  t.same(log, ['a leads', 'a stops', 'b leads']);
  await a.stop();
  await b.stop();
});
