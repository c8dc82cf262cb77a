// A small seeded PRNG (mulberry32). Deterministic: the same seed gives the same sequence.

export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in [0, n). */
  intBelow(n: number): number {
    return Math.floor((this.nextUint32() / 0x100000000) * n);
  }

  /** A uniform integer in [lo, hi]. */
  intBetween(lo: number, hi: number): number {
    return lo + this.intBelow(hi - lo + 1);
  }
}
