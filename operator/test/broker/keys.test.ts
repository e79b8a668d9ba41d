// Signing-key schedule on a fake clock: pre-publication, activation, retention
// until every token a retired key signed has expired, and two replicas sharing
// one key store.
import t from 'tap';
import { FakeClock } from '../../src/machinery/clock.ts';
import { KeyManager } from '../../src/broker/key-manager.ts';
import { activeKey, maintainKeys, MemoryKeyStore, rotateNow, type KeySchedule, type StoredKey } from '../../src/broker/keys.ts';

const H = 3600_000;
const schedule: KeySchedule = { rotationPeriodMs: 24 * H, prePublishMs: H, maxTokenTtlMs: 2 * H, leewayMs: 60_000 };
let n = 0;
const fakeKey = async (activatesAt: number): Promise<StoredKey> => ({ kid: `k${++n}`, activatesAt, privateJwk: { kty: 'EC', crv: 'P-256' } });

t.test('the schedule: one active key, a pre-published successor, retired keys kept for the longest token', async (t) => {
  n = 0;
  const t0 = Date.UTC(2026, 0, 1);
  let keys = await maintainKeys([], t0, schedule, fakeKey);
  t.same(keys.map((k) => [k.kid, k.activatesAt - t0]), [['k1', 0], ['k2', 24 * H]], 'active now, successor published a day ahead');
  t.equal(await maintainKeys(keys, t0 + H, schedule, fakeKey), keys, 'nothing to do is no change');
  keys = await maintainKeys(keys, t0 + 24 * H, schedule, fakeKey);
  t.equal(activeKey(keys, t0 + 24 * H)?.kid, 'k2', 'k2 signs from its activation');
  t.same(keys.map((k) => k.kid), ['k1', 'k2', 'k3'], 'k1 still published for tokens it signed');
  keys = await maintainKeys(keys, t0 + 26 * H, schedule, fakeKey);
  t.same(keys.map((k) => k.kid), ['k1', 'k2', 'k3'], 'at exactly max ttl (without leeway) k1 stays');
  keys = await maintainKeys(keys, t0 + 26 * H + 60_001, schedule, fakeKey);
  t.same(keys.map((k) => k.kid), ['k2', 'k3'], 'k1 removed once every token it signed has expired');
});

t.test('rotateNow activates the published successor and publishes a new one', async (t) => {
  n = 0;
  const t0 = 0;
  let keys = await maintainKeys([], t0, schedule, fakeKey);
  keys = await maintainKeys(rotateNow(keys, t0 + 10), t0 + 10, schedule, fakeKey);
  t.equal(activeKey(keys, t0 + 10)?.kid, 'k2');
  t.same(keys.map((k) => k.kid), ['k1', 'k2', 'k3']);
  t.ok((keys[2]?.activatesAt ?? 0) >= t0 + 10 + H, 'the new successor is published at least prePublishMs ahead');
});

t.test('two replicas share one store: same signing key, same JWKS, rotation seen by both', async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const a = new KeyManager({ store, clock, schedule, reloadMs: 60_000 });
  const b = new KeyManager({ store, clock, schedule, reloadMs: 60_000 });
  await Promise.all([a.start(), b.start()]);
  t.teardown(() => {
    a.stop();
    b.stop();
  });
  t.equal((await a.signingKey()).kid, (await b.signingKey()).kid, 'one signing key');
  t.same(a.jwks(), b.jwks());
  t.equal(a.jwks().keys.length, 2);
  t.notOk(a.jwks().keys.some((k) => 'd' in k), 'no private parts published');
  const first = (await a.signingKey()).kid;
  await clock.advance(1000);
  await a.rotateNow();
  t.not((await a.signingKey()).kid, first, 'a rotated');
  await clock.advance(60_000);
  t.equal((await b.signingKey()).kid, (await a.signingKey()).kid, 'b follows within one reload');
  t.ok(b.jwks().keys.some((k) => k.kid === first), 'the old key is still published');
  await clock.advance(schedule.maxTokenTtlMs + schedule.leewayMs + 60_000);
  t.notOk(b.jwks().keys.some((k) => k.kid === first), 'and gone once its tokens have expired');
});

t.test('a conflicting write makes the loser adopt the winner\'s keys', async (t) => {
  const store = new MemoryKeyStore();
  const winner = await maintainKeys([], 0, schedule);
  t.ok(await store.save(winner, null));
  t.notOk(await store.save(winner, null), 'stale version refused');
  const m = new KeyManager({ store, clock: new FakeClock(0), schedule });
  await m.maintain();
  t.equal((await m.signingKey()).kid, winner[0]?.kid);
});
