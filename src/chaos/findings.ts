// Small pieces the chaos checker's parts share: a finding (a count and its first examples),
// percentiles and binary searches over sorted columns.

/** A count and its first examples. */
export interface Finding<T> {
  readonly count: number;
  readonly examples: T[];
}

/** Nearest-rank percentile of a sorted list; 0 for an empty one. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1];
}

/** First position whose key is >= t. */
export function lowerBound<T>(list: readonly T[], t: number, key: (x: T) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(list[mid]) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First position whose value is > t. */
export function upperBound(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Counts findings and keeps the first `max` as examples. */
export class FindingBuilder<T> {
  private count = 0;
  private readonly examples: T[] = [];
  constructor(private readonly max: number) {}
  add(example: T): void {
    this.count++;
    if (this.examples.length < this.max) this.examples.push(example);
  }
  done(): Finding<T> {
    return { count: this.count, examples: this.examples };
  }
}

/** Appends `value` to the list at `key`, creating it. */
export function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
