import t from 'tap';
import { FakeClock, flush } from '../../src/machinery/clock.ts';
import { InformerSupervisor, type Restartable } from '../../src/machinery/supervisor.ts';

/**
 * Behaves like a client-node ListWatch as far as the supervisor can tell: start()
 * lists and resolves; a failure calls the error callbacks and the informer stays
 * stopped until started again.
 */
class StoppingInformer implements Restartable {
  starts = 0;
  running = false;
  failNextStart = false;
  readonly #errorCbs: Array<(err?: unknown) => void> = [];
  on(_verb: 'error', cb: (err?: unknown) => void): void {
    this.#errorCbs.push(cb);
  }
  async start(): Promise<void> {
    this.starts++;
    if (this.failNextStart) {
      this.failNextStart = false;
      this.#errorCbs.forEach((cb) => cb(new Error('list failed')));
      return;
    }
    this.running = true;
  }
  async stop(): Promise<void> {
    this.running = false;
  }
  cutOff(): void {
    this.running = false;
    this.#errorCbs.forEach((cb) => cb(new Error('ECONNRESET')));
  }
}

t.test('an informer that stops on error is started again after backoff', async (t) => {
  const clock = new FakeClock();
  const restarts: Array<[string, number]> = [];
  const sup = new InformerSupervisor({ clock, onError: (name, _e, ms) => restarts.push([name, ms]) });
  const pods = new StoppingInformer();
  sup.add('pods', pods);
  await sup.start();
  t.ok(sup.synced());
  pods.cutOff();
  t.notOk(sup.synced(), 'not ready while an informer is down');
  t.same(restarts, [['pods', 1000]]);
  await clock.advance(999);
  t.equal(pods.starts, 1);
  await clock.advance(1);
  t.equal(pods.starts, 2, 'restarted after 1 s');
  t.ok(pods.running);
  t.ok(sup.synced());
});

t.test('repeated failures back off 1 s, 2 s, 4 s; a long healthy run resets the backoff', async (t) => {
  const clock = new FakeClock();
  const delays: number[] = [];
  const sup = new InformerSupervisor({ clock, stableAfterMs: 60_000, onError: (_n, _e, ms) => delays.push(ms) });
  const inf = new StoppingInformer();
  sup.add('policies', inf);
  await sup.start();
  inf.cutOff();
  inf.failNextStart = true;
  await clock.advance(1000); // restart fails while listing
  inf.failNextStart = true;
  await clock.advance(2000); // fails again
  await clock.advance(4000); // succeeds
  t.same(delays, [1000, 2000, 4000]);
  t.equal(inf.starts, 4);
  t.ok(inf.running);
  await clock.advance(60_000);
  inf.cutOff();
  t.same(delays.at(-1), 1000, 'after a stable minute the next failure starts over at 1 s');
});

t.test('stop cancels pending restarts', async (t) => {
  const clock = new FakeClock();
  const sup = new InformerSupervisor({ clock });
  const inf = new StoppingInformer();
  sup.add('ns', inf);
  await sup.start();
  inf.cutOff();
  await sup.stop();
  await clock.advance(10_000);
  await flush();
  t.equal(inf.starts, 1);
  t.notOk(inf.running);
});
