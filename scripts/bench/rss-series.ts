// Resident memory of one replica over the measured window, in constant space: first, last and
// largest sample, and the least-squares slope, so a 10-minute run shows whether memory grows.
export class RssSeries {
  first = NaN;
  last = NaN;
  max = NaN;
  private n = 0;
  private sumT = 0;
  private sumX = 0;
  private sumTT = 0;
  private sumTX = 0;

  add(tSec: number, mib: number): void {
    if (!Number.isFinite(mib)) return;
    if (this.n === 0) this.first = mib;
    this.last = mib;
    this.max = Number.isNaN(this.max) ? mib : Math.max(this.max, mib);
    this.n++;
    this.sumT += tSec;
    this.sumX += mib;
    this.sumTT += tSec * tSec;
    this.sumTX += tSec * mib;
  }

  /** Growth in MiB per minute fitted through every sample; NaN with fewer than two. */
  get slopeMiBPerMin(): number {
    const d = this.n * this.sumTT - this.sumT * this.sumT;
    if (this.n < 2 || d === 0) return NaN;
    return ((this.n * this.sumTX - this.sumT * this.sumX) / d) * 60;
  }
}
