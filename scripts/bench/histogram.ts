// A latency histogram with log-spaced buckets (HDR-like): fixed memory whatever the sample
// count, mergeable across processes, and every percentile within 0.5% of the exact value.
//
// Bucket i holds values in [LOWEST * GROWTH^i, LOWEST * GROWTH^(i+1)); a percentile reports its
// bucket's geometric middle, so the relative error is at most sqrt(GROWTH) - 1 (about 0.5%),
// clamped to the exact min and max seen. Values below LOWEST share bucket 0; above HIGHEST,
// the last bucket (both are still exact in min/max).

/** Smallest value told apart: 1 microsecond, in milliseconds. */
export const LOWEST_MS = 0.001;
/** Largest value told apart: 1000 seconds, in milliseconds. */
export const HIGHEST_MS = 1_000_000;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(HIGHEST_MS / LOWEST_MS) / LOG_GROWTH) + 1;

/** The wire form: only the non-empty buckets, as [index, count] pairs. */
export interface HistogramJson {
  readonly count: number;
  readonly sumMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly buckets: readonly (readonly [number, number])[];
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sumMs = 0;
  minMs = Infinity;
  maxMs = -Infinity;

  static bucketOf(valueMs: number): number {
    if (!(valueMs > LOWEST_MS)) return 0;
    const i = Math.floor(Math.log(valueMs / LOWEST_MS) / LOG_GROWTH);
    return i < BUCKETS ? i : BUCKETS - 1;
  }

  record(valueMs: number): void {
    this.recordInBucket(Histogram.bucketOf(valueMs), valueMs);
  }

  /** For recording one value into several histograms with one logarithm. */
  recordInBucket(bucket: number, valueMs: number): void {
    this.counts[bucket]++;
    this.count++;
    this.sumMs += valueMs;
    if (valueMs < this.minMs) this.minMs = valueMs;
    if (valueMs > this.maxMs) this.maxMs = valueMs;
  }

  /** The value at quantile q in [0, 1] by nearest rank (q = 0.99 is p99); NaN when empty. */
  percentile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    // The extreme ranks are known exactly (and are all there is outside the bucket range).
    if (rank === 1) return this.minMs;
    if (rank >= this.count) return this.maxMs;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const middle = LOWEST_MS * Math.pow(GROWTH, i + 0.5);
        return Math.min(this.maxMs, Math.max(this.minMs, middle));
      }
    }
    return this.maxMs;
  }

  get meanMs(): number {
    return this.count === 0 ? NaN : this.sumMs / this.count;
  }

  merge(other: Histogram | HistogramJson): void {
    const json = other instanceof Histogram ? other.toJSON() : other;
    for (const [i, c] of json.buckets) this.counts[i] += c;
    this.count += json.count;
    this.sumMs += json.sumMs;
    if (json.count > 0) {
      this.minMs = Math.min(this.minMs, json.minMs);
      this.maxMs = Math.max(this.maxMs, json.maxMs);
    }
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumMs = 0;
    this.minMs = Infinity;
    this.maxMs = -Infinity;
  }

  toJSON(): HistogramJson {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] !== 0) buckets.push([i, this.counts[i]]);
    // JSON has no Infinity: an empty histogram sends 0 bounds (count 0 tells it is empty).
    const empty = this.count === 0;
    return { count: this.count, sumMs: this.sumMs, minMs: empty ? 0 : this.minMs, maxMs: empty ? 0 : this.maxMs, buckets };
  }

  static fromJSON(json: HistogramJson): Histogram {
    const h = new Histogram();
    h.merge(json);
    return h;
  }
}
