// Statistics for the benchmarks, pure. A tail percentile from one short run on a
// shared machine moves by milliseconds with a single stall of the machine, so
// the sidecar benchmark pools the latencies of all its runs and says how sure
// the pooled difference is with a bootstrap interval over the runs.

/** The p-th percentile of ascending `sorted`, by the load generator's rule (the sample at floor(n·p/100)). NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** The p-th percentile of the given runs' samples taken together. */
export function pooledPercentile(runs: readonly (ArrayLike<number> & Iterable<number>)[], p: number): number {
  const all = new Float64Array(runs.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of runs) {
    all.set(r, at);
    at += r.length;
  }
  all.sort();
  return percentile(all, p);
}

/** A small seeded generator (mulberry32), so an interval is the same for the same samples. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Interval {
  /** The pooled p-th percentile of `a` minus that of `b`, over all runs. */
  estimate: number;
  /** The two pooled percentiles themselves. */
  a: number;
  b: number;
  /** The bounds that hold the central `confidence` share of the bootstrap's differences. */
  low: number;
  high: number;
}

/**
 * The difference of pooled percentiles, a's minus b's, with a percentile
 * bootstrap interval: the runs are resampled with replacement, and a run's a
 * and b samples are drawn together (they were measured side by side, under
 * the same conditions of the machine), `iterations` times.
 */
export function pooledDifference(a: readonly (readonly number[])[], b: readonly (readonly number[])[], p: number, opts: { iterations?: number; confidence?: number; seed?: number } = {}): Interval {
  if (a.length !== b.length) throw new Error('pooledDifference: a and b need the same runs');
  const pa = pooledPercentile(a, p);
  const pb = pooledPercentile(b, p);
  const estimate = pa - pb;
  if (a.length < 2) return { estimate, a: pa, b: pb, low: Number.NaN, high: Number.NaN };
  const iterations = opts.iterations ?? 1000;
  const confidence = opts.confidence ?? 0.9;
  const random = seeded(opts.seed ?? 1);
  const as = a.map((r) => Float64Array.from(r));
  const bs = b.map((r) => Float64Array.from(r));
  const diffs = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const picked = Array.from({ length: a.length }, () => Math.floor(random() * a.length));
    diffs[i] = pooledPercentile(picked.map((r) => as[r]!), p) - pooledPercentile(picked.map((r) => bs[r]!), p);
  }
  diffs.sort();
  const tail = (1 - confidence) / 2;
  return { estimate, a: pa, b: pb, low: diffs[Math.floor(tail * (iterations - 1))]!, high: diffs[Math.ceil((1 - tail) * (iterations - 1))]! };
}
