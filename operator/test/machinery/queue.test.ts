import t from 'tap';
import { FakeClock, flush } from '../../src/machinery/clock.ts';
import { WorkQueue } from '../../src/machinery/queue.ts';
import { processOne, runWorkers, TerminalError } from '../../src/machinery/reconcile-loop.ts';
import { backoffDelay } from '../../src/machinery/backoff.ts';

t.test('backoff doubles from 1 s and stops at 5 min', async (t) => {
  t.same([1, 2, 3, 4, 5, 9, 10, 100].map((n) => backoffDelay(n)), [1000, 2000, 4000, 8000, 16000, 256000, 300000, 300000]);
  t.equal(backoffDelay(0), 0);
});

t.test('a key added many times waits in the queue once', async (t) => {
  const q = new WorkQueue<string>({ clock: new FakeClock() });
  for (let i = 0; i < 5; i++) q.add('a');
  q.add('b');
  t.equal(q.length, 2);
  t.equal(await q.get(), 'a');
  t.equal(await q.get(), 'b');
  t.equal(q.length, 0);
});

t.test('a key is never handed to two workers at once; re-added while processing, it runs once more after', async (t) => {
  const q = new WorkQueue<string>({ clock: new FakeClock() });
  q.add('a');
  const first = await q.get();
  t.equal(first, 'a');
  q.add('a');
  q.add('a');
  t.equal(q.length, 0, 'held back while processing');
  let second: string | undefined;
  void q.get().then((k) => (second = k));
  await flush();
  t.equal(second, undefined, 'a second worker does not get the key being processed');
  q.done('a');
  await flush();
  t.equal(second, 'a', 'handed out again once done');
  q.done('a');
  t.equal(q.length, 0, 'and only once');
});

t.test('concurrent workers never overlap on one key, coalesce bursts and see the latest change', async (t) => {
  const q = new WorkQueue<string>({ clock: new FakeClock() });
  const running = new Set<string>();
  const version = new Map<string, number>();
  const seen = new Map<string, number>();
  let overlaps = 0;
  let runs = 0;
  const loop = runWorkers(q, 4, async (key) => {
    if (running.has(key)) overlaps++;
    running.add(key);
    runs++;
    seen.set(key, version.get(key) ?? 0);
    await new Promise((r) => setTimeout(r, 3));
    running.delete(key);
  });
  for (let round = 1; round <= 5; round++) {
    for (let i = 0; i < 30; i++) {
      const key = `k${i % 3}`;
      version.set(key, round * 100 + i);
      q.add(key);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  while (q.length > 0 || q.processing > 0) await new Promise((r) => setTimeout(r, 2));
  q.shutDown();
  await loop;
  t.equal(overlaps, 0, 'no key ran twice at once');
  t.ok(runs <= 5 * 3 * 2, `150 adds coalesced into ${runs} runs`);
  t.same(seen, version, 'every key last ran after its last change');
});

t.test('addAfter keeps the earliest time', async (t) => {
  const clock = new FakeClock();
  const q = new WorkQueue<string>({ clock });
  q.addAfter('a', 10_000);
  q.addAfter('a', 3_000);
  q.addAfter('a', 20_000);
  await clock.advance(2_999);
  t.equal(q.length, 0);
  await clock.advance(1);
  t.equal(q.length, 1);
  await clock.advance(20_000);
  t.equal(q.length, 1, 'the later adds did not fire again');
});

t.test('failures back off exponentially per key and success resets them', async (t) => {
  const clock = new FakeClock();
  const q = new WorkQueue<string>({ clock });
  let fail = true;
  const calls: number[] = [];
  const reconcile = async (): Promise<void> => {
    calls.push(clock.now());
    if (fail) throw new Error('boom');
  };
  const start = clock.now();
  q.add('a');
  for (let i = 0; i < 4; i++) {
    const key = await q.get();
    await processOne(q, key as string, reconcile, { now: () => clock.now() });
    await clock.advance(q.failures('a') > 0 ? 2 ** (q.failures('a') - 1) * 1000 : 0);
  }
  t.same(calls.map((c) => c - start), [0, 1000, 3000, 7000], 'retried after 1 s, 2 s, 4 s');
  fail = false;
  await processOne(q, (await q.get()) as string, reconcile);
  t.equal(q.failures('a'), 0, 'success forgets the failures');
  t.equal(q.length, 0);
});

t.test('requeueAfter schedules a run at that time; a terminal error gives up', async (t) => {
  const clock = new FakeClock();
  const q = new WorkQueue<string>({ clock });
  q.add('a');
  await processOne(q, (await q.get()) as string, async () => ({ requeueAfterMs: 60_000 }));
  t.same(clock.pending(), [60_000]);
  await clock.advance(60_000);
  t.equal(q.length, 1);
  const errors: Array<number | undefined> = [];
  await processOne(q, (await q.get()) as string, async () => {
    throw new TerminalError('ERR_X', 'no');
  }, { onError: (_k, _e, retry) => errors.push(retry) });
  t.same(errors, [undefined]);
  t.same(clock.pending(), [], 'nothing scheduled');
  t.equal(q.length, 0);
});

t.test('shutdown releases waiting workers and drops delayed keys', async (t) => {
  const clock = new FakeClock();
  const q = new WorkQueue<string>({ clock });
  q.addAfter('a', 1000);
  const waiting = q.get();
  q.shutDown();
  t.equal(await waiting, undefined);
  await clock.advance(5000);
  t.equal(q.length, 0);
  q.add('b');
  t.equal(await q.get(), undefined);
});
