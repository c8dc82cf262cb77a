import t from 'tap';
import fc from 'fast-check';
import { Histogram, HIGHEST_MS, LOWEST_MS } from '../../scripts/bench/histogram.ts';

// Replay a failure with BENCH_SEED=<the printed seed>.
const seed = process.env.BENCH_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.BENCH_SEED);
t.comment(`fast-check seed ${seed} (BENCH_SEED=${seed} to replay)`);

/** The exact nearest-rank percentile, as Histogram.percentile defines it. */
function exactPercentile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
}

const QUANTILES = [0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1];
// Latencies as they come: spread over 1 us .. 100 s, log-uniformly so every bucket range is hit.
const latency = fc.double({ min: Math.log(LOWEST_MS), max: Math.log(100_000), noNaN: true }).map(Math.exp);

// The header's bound: a bucket's geometric middle is within sqrt(1.01) - 1 = 0.4988% of any value
// in it. 0.5% leaves room only for floating-point rounding at a bucket edge.
const BOUND = 0.005;

t.test('every percentile is within 0.5% of the exact one from a sorted array', async (t) => {
  fc.assert(
    fc.property(fc.array(latency, { minLength: 1, maxLength: 2000 }), (values) => {
      const h = new Histogram();
      for (const v of values) h.record(v);
      const sorted = [...values].sort((a, b) => a - b);
      for (const q of QUANTILES) {
        const exact = exactPercentile(sorted, q);
        const got = h.percentile(q);
        if (Math.abs(got - exact) > BOUND * exact) throw new Error(`q=${q}: got ${got}, exact ${exact}`);
      }
    }),
    { seed, numRuns: 300 },
  );
  t.pass('300 random sample sets within the bound (fc.assert throws otherwise)');
});

t.test('merging histograms (also through JSON) equals recording everything in one', async (t) => {
  fc.assert(
    fc.property(fc.array(latency, { maxLength: 500 }), fc.array(latency, { maxLength: 500 }), (a, b) => {
      const one = new Histogram();
      const ha = new Histogram();
      const hb = new Histogram();
      for (const v of a) (one.record(v), ha.record(v));
      for (const v of b) (one.record(v), hb.record(v));
      const merged = Histogram.fromJSON(JSON.parse(JSON.stringify(ha)));
      merged.merge(JSON.parse(JSON.stringify(hb)));
      if (merged.count !== one.count) throw new Error('count');
      for (const q of QUANTILES) {
        const x = merged.percentile(q);
        const y = one.percentile(q);
        if (!(x === y || (Number.isNaN(x) && Number.isNaN(y)))) throw new Error(`q=${q}: ${x} vs ${y}`);
      }
    }),
    { seed, numRuns: 200 },
  );
  t.pass('200 random splits merge exactly (fc.assert throws otherwise)');
});

t.test('memory is bounded: a million samples do not grow the wire form past the bucket count', async (t) => {
  const h = new Histogram();
  for (let i = 0; i < 1_000_000; i++) h.record(0.05 + (i % 10_000) * 0.01);
  t.equal(h.count, 1_000_000);
  t.ok(h.toJSON().buckets.length < 1000, `${h.toJSON().buckets.length} buckets`);
});

t.test('empty, tiny and huge values', async (t) => {
  const h = new Histogram();
  t.ok(Number.isNaN(h.percentile(0.5)), 'empty: NaN');
  t.same(h.toJSON(), { count: 0, sumMs: 0, minMs: 0, maxMs: 0, buckets: [] }, 'empty JSON has no Infinity');
  h.record(0);
  h.record(HIGHEST_MS * 10);
  t.equal(h.percentile(0), 0, 'below the lowest bucket: the exact min');
  t.equal(h.percentile(1), HIGHEST_MS * 10, 'above the highest bucket: the exact max');
  t.equal(h.meanMs, (HIGHEST_MS * 10) / 2);
});
