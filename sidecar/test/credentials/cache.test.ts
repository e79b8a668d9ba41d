// The credential cache on a fake clock, with a scripted provider (our own
// Provider interface) whose every call is counted.
import t from 'tap';
import type { CompiledPolicy } from '@mayfly/crds';
import { CredentialCache, type CacheOptions } from '../../src/credentials/cache.ts';
import { CounterMetrics } from '../../src/credentials/metrics.ts';
import type { Provider } from '../../src/credentials/providers/types.ts';
import { CredentialError, type Credential } from '../../src/contracts.ts';
import { FakeClock, flush } from './helpers/fake-clock.ts';

function policy(name: string, generation = 1): CompiledPolicy {
  const provider = { kind: 'broker' as const, audience: `${name}-aud`, ttlSeconds: 600 };
  return {
    id: `ns/${name}`, namespace: 'ns', name, generation, mode: 'Enforce',
    subjects: { serviceAccounts: null, podSelector: null }, posture: { allowedRegistries: [], requireDigest: false },
    timeWindows: [], destinations: [],
    credential: { provider, inject: { kind: 'header', header: 'Authorization', format: 'Bearer {{token}}' }, scope: `ns/${name}#${JSON.stringify(provider)}` },
    expiresAt: null, tokenAudiences: ['mayfly'],
  };
}

type Step = { lifetimeMs: number } | { error: CredentialError } | { hold: true };

class ScriptedProvider implements Provider {
  calls = 0;
  released: string[] = [];
  closed = false;
  script: Step[] = [];
  fallback: Step = { lifetimeMs: 600_000 };
  held: { resolve: (c: Credential) => void; reject: (e: unknown) => void; signal?: AbortSignal }[] = [];
  readonly clock: FakeClock;
  constructor(clock: FakeClock) {
    this.clock = clock;
  }
  get(p: CompiledPolicy, signal?: AbortSignal): Promise<Credential> {
    this.calls += 1;
    const step = this.script.shift() ?? this.fallback;
    const n = this.calls;
    if ('error' in step) return Promise.reject(step.error);
    if ('hold' in step) {
      return new Promise((resolve, reject) => {
        this.held.push({ resolve, reject, ...(signal ? { signal } : {}) });
        signal?.addEventListener('abort', () => reject(signal.reason));
      });
    }
    return Promise.resolve({ value: `${p.name}-secret-${n}`, expiresAt: this.clock.now() + step.lifetimeMs, id: `${p.name}-${n}` });
  }
  async release(c: Credential): Promise<void> {
    this.released.push(c.id);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function setup(extra: Partial<CacheOptions> = {}) {
  const clock = new FakeClock();
  const provider = new ScriptedProvider(clock);
  const metrics = new CounterMetrics();
  const cache = new CredentialCache({ providerFor: () => provider, clock, metrics, random: () => 0.5, ...extra });
  return { clock, provider, metrics, cache };
}

const unavailable = () => new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'sts said 503');

t.test('a cold entry: 1,000 concurrent requests share one exchange', async (t) => {
  const { cache, provider, metrics } = setup();
  const p = policy('a');
  const results = await Promise.all(Array.from({ length: 1000 }, () => cache.get(p)));
  t.equal(provider.calls, 1, 'exactly one exchange');
  t.equal(new Set(results.map((r) => r.id)).size, 1, 'everyone got the same credential');
  t.equal(results[0]?.value, 'a-secret-1');
  t.same(metrics.snapshot(), { hit: 0, miss: 1000, refresh: 1, failure: 0 });
  await cache.close();
});

t.test('steady state: the request path never calls the provider; refresh happens ahead of expiry', async (t) => {
  const { cache, provider, clock, metrics } = setup();
  const p = policy('a');
  cache.sync([p]);
  await cache.settled();
  t.equal(provider.calls, 1, 'sync pre-warms');
  // lifetime 600 s; lead = 600 * (0.25 + 0.1 * 0.5) = 180 s, so the refresh is due at 420 s.
  for (let s = 0; s < 419; s += 1) {
    await clock.advance(1000);
    const c = await cache.get(p);
    t.equal(c.id, 'a-1');
  }
  t.equal(provider.calls, 1, 'no exchange during 419 s of requests');
  await clock.advance(2000);
  t.equal(provider.calls, 2, 'refreshed at 420 s, from the timer');
  t.equal((await cache.get(p)).id, 'a-2');
  t.same(metrics.snapshot(), { hit: 420, miss: 0, refresh: 2, failure: 0 });
  await clock.advance(30_000);
  t.same(provider.released, ['a-1'], 'the replaced credential is released after the grace period');
  await cache.close();
});

t.test('jitter spreads refreshes between 25% and 35% of lifetime before expiry', async (t) => {
  for (const [r, dueS] of [[0, 450], [0.999, 390]] as const) {
    const { cache, provider, clock } = setup({ random: () => r });
    cache.sync([policy('a')]);
    await flush();
    await clock.advance((dueS - 1) * 1000);
    t.equal(provider.calls, 1, `random ${r}: not before ${dueS} s`);
    await clock.advance(2000);
    t.equal(provider.calls, 2, `random ${r}: by ${dueS + 1} s`);
    await cache.close();
  }
});

t.test('refresh failures back off exponentially and the still-valid credential keeps being served', async (t) => {
  const { cache, provider, clock, metrics } = setup();
  const p = policy('a');
  cache.sync([p]);
  await flush();
  provider.fallback = { error: unavailable() };
  await clock.advance(420_000); // refresh attempt 1 fails
  t.equal(provider.calls, 2);
  // backoff with random 0.5: 0.75 s, 1.5 s, 3 s, 6 s ...
  const attemptsAt: number[] = [];
  const start = clock.now();
  for (let i = 0; i < 100; i += 1) {
    const before = provider.calls;
    await clock.advance(250);
    if (provider.calls > before) attemptsAt.push(clock.now() - start);
    t.equal((await cache.get(p)).id, 'a-1', 'stale but valid credential served');
  }
  t.same(attemptsAt, [750, 2250, 5250, 11250, 23250].filter((x) => x <= 25_000));
  t.ok(metrics.snapshot().failure >= 5);
  await cache.close();
});

t.test('fail closed once the credential expires while refresh keeps failing, recover once the provider does', async (t) => {
  const { cache, provider, clock } = setup({ backoffMaxMs: 60_000 });
  const p = policy('a');
  cache.sync([p]);
  await flush();
  provider.fallback = { error: unavailable() };
  await clock.advance(594_000);
  t.equal((await cache.get(p)).id, 'a-1', 'still valid at 594 s');
  await clock.advance(1_500);
  const callsBefore = provider.calls;
  await t.rejects(cache.get(p), { code: 'ERR_CREDENTIAL_EXPIRED' }, 'not served within the last 5 s of its life');
  t.equal(provider.calls, callsBefore, 'a request during backoff does not hammer the provider');
  provider.fallback = { lifetimeMs: 600_000 };
  await clock.advance(61_000);
  const c = await cache.get(p);
  t.not(c.id, 'a-1', 'a background retry restored a fresh credential');
  await cache.close();
});

t.test('a cold entry that fails rejects, and requests during backoff fail fast', async (t) => {
  const { cache, provider, clock } = setup();
  const p = policy('a');
  provider.script = [{ error: unavailable() }];
  await t.rejects(cache.get(p), { code: 'ERR_CREDENTIAL_UNAVAILABLE' });
  await t.rejects(cache.get(p), { code: 'ERR_CREDENTIAL_UNAVAILABLE' });
  t.equal(provider.calls, 1);
  await clock.advance(1000);
  t.equal(provider.calls, 2, 'retried in the background after the backoff');
  t.equal((await cache.get(p)).id, 'a-2');
  await cache.close();
});

t.test('a refusal from the issuer drops the current credential at once', async (t) => {
  const { cache, provider, clock } = setup();
  const p = policy('a');
  cache.sync([p]);
  await flush();
  provider.fallback = { error: new CredentialError('ERR_CREDENTIAL_DENIED', 'broker: access_denied') };
  await clock.advance(421_000);
  await t.rejects(cache.get(p), { code: 'ERR_CREDENTIAL_DENIED' }, 'not served although it has not expired');
  t.same(provider.released, ['a-1'], 'and released');
  await cache.close();
});

t.test('nothing expired or rejected is cached', async (t) => {
  const { cache, provider } = setup();
  const p = policy('a');
  provider.script = [{ lifetimeMs: 1000 }, { lifetimeMs: 600_000 }];
  await t.rejects(cache.get(p), { code: 'ERR_CREDENTIAL_UNAVAILABLE', message: 'provider returned an expired credential' });
  t.equal(provider.calls, 1);
  await cache.close();
});

t.test('sync drops the entries of vanished policies at once, and keeps the others', async (t) => {
  const { cache, provider, clock } = setup();
  const a = policy('a');
  const b = policy('b');
  cache.sync([a, b]);
  await flush();
  t.equal(provider.calls, 2);
  cache.sync([b]);
  t.same(cache.scopes(), [b.credential.scope]);
  await flush();
  t.same(provider.released, ['a-1'], 'the dropped credential is released (vault revokes its lease)');
  const before = provider.calls;
  t.equal((await cache.get(b)).id, 'b-2');
  t.equal(provider.calls, before, 'b is untouched');
  // a request for a after the drop is a cold miss: it never gets the dropped credential
  const again = await cache.get(a);
  t.not(again.id, 'a-1');
  await clock.advance(0);
  await cache.close();
});

t.test('dropping a policy aborts its exchange; waiters are refused and a late result is not kept', async (t) => {
  const { cache, provider } = setup();
  const a = policy('a');
  provider.script = [{ hold: true }];
  const waiting = cache.get(a);
  await flush();
  t.equal(provider.held.length, 1);
  t.ok(provider.held[0]?.signal, 'the provider got an abort signal');
  cache.sync([]);
  await t.rejects(waiting, { code: 'ERR_CREDENTIAL_UNAVAILABLE', message: 'policy removed' });
  t.same(cache.scopes(), []);
  await cache.close();
});

t.test('a new policy generation refreshes in the background while the old credential is served', async (t) => {
  const { cache, provider } = setup();
  cache.sync([policy('a', 1)]);
  await flush();
  provider.script = [{ hold: true }];
  cache.sync([policy('a', 2)]);
  await flush();
  t.equal(provider.calls, 2, 'refresh started');
  t.equal((await cache.get(policy('a', 2))).id, 'a-1', 'served meanwhile');
  provider.held[0]?.resolve({ value: 'v', expiresAt: Date.now() * 2, id: 'a-new' });
  await flush();
  t.equal((await cache.get(policy('a', 2))).id, 'a-new');
  await cache.close();
});

t.test('close releases every credential, closes providers and refuses further use', async (t) => {
  const { cache, provider, clock } = setup();
  cache.sync([policy('a'), policy('b')]);
  await flush();
  await cache.close();
  t.same(provider.released.sort(), ['a-1', 'b-2']);
  t.ok(provider.closed);
  t.same(clock.pending(), [], 'no timer left behind');
  await t.rejects(cache.get(policy('a')), { code: 'ERR_CREDENTIAL_UNAVAILABLE' });
});

t.test('release listeners hear every credential the cache stops serving: replaced, revoked, dropped, closed; also when the provider fails to release it', async (t) => {
  const { cache, provider, clock } = setup();
  const heard: string[] = [];
  cache.onReleased((id) => heard.push(id));
  const a = policy('a');
  const b = policy('b');
  cache.sync([a, b]);
  await flush();
  t.same(heard, [], 'nothing released while in use');
  await clock.advance(421_000); // refresh-ahead replaces both; the old ones are released after the grace period
  t.same(heard, [], 'a replaced credential is still in use during the grace period');
  await clock.advance(30_000);
  t.same(heard.sort(), ['a-1', 'b-2']);
  provider.fallback = { error: new CredentialError('ERR_CREDENTIAL_DENIED', 'broker: access_denied') };
  await clock.advance(421_000);
  t.ok(heard.includes('a-3') && heard.includes('b-4'), 'revoked by a refusal: heard at once');
  provider.fallback = { lifetimeMs: 600_000 };
  await clock.advance(300_000);
  const c = policy('c');
  cache.sync([c]);
  await flush();
  const cId = (await cache.get(c)).id;
  provider.release = () => Promise.reject(new Error('vault down'));
  cache.sync([]);
  await flush();
  t.ok(heard.includes(cId), 'a dropped policy: heard although the provider could not release it');
  const d = policy('d');
  cache.sync([d]);
  await flush();
  const dId = (await cache.get(d)).id;
  t.notOk(heard.includes(dId));
  await cache.close();
  t.ok(heard.includes(dId), 'closing the cache: heard');
});
