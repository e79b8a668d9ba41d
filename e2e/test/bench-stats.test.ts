// The benchmarks' statistics (e2e/bench/stats.ts), on samples whose answer is known.
import t from 'tap';
import { percentile, pooledDifference, pooledPercentile } from '../bench/stats.ts';

/** n samples spread evenly over [from, to), in a shuffled order. */
function even(n: number, from: number, to: number, seed: number): number[] {
  const xs = Array.from({ length: n }, (_, i) => from + ((to - from) * i) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = (i * 7919 + seed) % (i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

t.test('percentile: the load generator rule, and empty input', async (t) => {
  const sorted = Array.from({ length: 1000 }, (_, i) => i);
  t.equal(percentile(sorted, 99), 990);
  t.equal(percentile(sorted, 50), 500);
  t.equal(percentile(sorted, 100), 999, 'never past the last sample');
  t.ok(Number.isNaN(percentile([], 99)));
});

t.test('pooled percentile: over all runs together, not a mean of the runs', async (t) => {
  // one run with a stall (a tail of 100 ms) among four quiet ones
  const quiet = (s: number) => even(1000, 0, 1, s);
  const stalled = [...even(975, 0, 1, 9), ...Array.from({ length: 25 }, () => 100)];
  const runs = [quiet(1), quiet(2), stalled, quiet(3), quiet(4)];
  t.equal(percentile([...stalled].sort((a, b) => a - b), 99), 100, 'alone, the stalled run has a p99 of 100 ms');
  t.ok(pooledPercentile(runs, 99) < 1, 'pooled, the stall is half a percent of the samples: the p99 stays in the quiet range');
});

t.test('pooled difference: finds a known shift, and its interval holds it; no shift gives an interval around 0', async (t) => {
  const base = Array.from({ length: 8 }, (_, r) => even(2000, 0, 4 + (r % 3), r));
  const shifted = base.map((run) => run.map((x) => x + 2));
  const d = pooledDifference(shifted, base, 99, { iterations: 300 });
  t.ok(Math.abs(d.estimate - 2) < 1e-9, `a 2 ms shift is found (${d.estimate})`);
  t.ok(d.low <= 2 && d.high >= 2, `and is inside its interval [${d.low}, ${d.high}]`);
  t.same([d.a, d.b], [pooledPercentile(shifted, 99), pooledPercentile(base, 99)], 'the two pooled percentiles it is the difference of');
  const same = pooledDifference(base, base, 99, { iterations: 300 });
  t.same([same.estimate, same.low, same.high], [0, 0, 0], 'identical samples: no difference at all');
  // runs that differ only by noise: the interval straddles 0
  const other = Array.from({ length: 8 }, (_, r) => even(2000, 0, 4 + ((r + 1) % 3), r + 100));
  const noise = pooledDifference(other, base, 99, { iterations: 300 });
  t.ok(noise.low < 0 && noise.high > 0, `runs that differ by run-to-run noise only: the interval straddles 0 [${noise.low}, ${noise.high}]`);
  t.same(pooledDifference(other, base, 99, { iterations: 300 }), noise, 'seeded: the same samples give the same interval');
});

t.test('pooled difference: one run gives no interval; unpaired runs are refused', async (t) => {
  const one = pooledDifference([[1, 2, 3]], [[1, 2, 3]], 99);
  t.equal(one.estimate, 0);
  t.ok(Number.isNaN(one.low) && Number.isNaN(one.high), 'no interval from a single run');
  t.throws(() => pooledDifference([[1]], [[1], [2]], 99), /same runs/);
});
