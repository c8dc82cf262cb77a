// Resident memory of one replica over the measured window, in constant space per minute: first,
// last and largest sample, the least-squares slope, and each whole minute's median, so a
// 10-minute run shows whether memory grows. A series may start late (`sinceSec`): the heap
// grows to its working size in the first minute of load, which says nothing about growth after.
import { median } from './report.ts';

export class RssSeries {
  first = NaN;
  last = NaN;
  max = NaN;
  /** Median of each whole minute since sinceSec, in order. */
  readonly minuteMedians: number[] = [];
  private n = 0;
  private sumT = 0;
  private sumX = 0;
  private sumTT = 0;
  private sumTX = 0;
  private minute: number[] = [];
  private minuteIndex = 0;

  constructor(private readonly sinceSec = 0) {}

  add(tSec: number, mib: number): void {
    if (!Number.isFinite(mib) || tSec < this.sinceSec) return;
    if (this.n === 0) this.first = mib;
    this.last = mib;
    this.max = Number.isNaN(this.max) ? mib : Math.max(this.max, mib);
    this.n++;
    this.sumT += tSec;
    this.sumX += mib;
    this.sumTT += tSec * tSec;
    this.sumTX += tSec * mib;
    const k = Math.floor((tSec - this.sinceSec) / 60);
    while (k > this.minuteIndex) {
      if (this.minute.length > 0) this.minuteMedians.push(median(this.minute));
      this.minute = [];
      this.minuteIndex++;
    }
    this.minute.push(mib);
  }

  /** Growth in MiB per minute fitted through every sample; NaN with fewer than two. */
  get slopeMiBPerMin(): number {
    const d = this.n * this.sumTT - this.sumT * this.sumT;
    if (this.n < 2 || d === 0) return NaN;
    return ((this.n * this.sumTX - this.sumT * this.sumX) / d) * 60;
  }
}

/** One replica's figure (RSS, store size) over the window: every sample, and those from
 *  `settledAfterSec` on (the working size is reached in the first minute). */
export class WindowSeries {
  readonly all = new RssSeries();
  readonly settled: RssSeries;

  constructor(private readonly settledAfterSec: number) {
    this.settled = new RssSeries(settledAfterSec);
  }

  add(tSec: number, mib: number): void {
    this.all.add(tSec, mib);
    this.settled.add(tSec, mib);
  }

  /** first / last / max, the trend from settledAfterSec on (NaN for a window too short to say),
   *  and the median of each minute, rounded for the report. */
  summary(windowSec: number): { firstMiB: number; lastMiB: number; maxMiB: number; settledTrendMiBPerMin: number; minuteMediansMiB: number[] } {
    const r = (x: number, digits: number): number => Number(x.toFixed(digits));
    return {
      firstMiB: r(this.all.first, 1),
      lastMiB: r(this.all.last, 1),
      maxMiB: r(this.all.max, 1),
      settledTrendMiBPerMin: windowSec >= 2 * this.settledAfterSec ? r(this.settled.slopeMiBPerMin, 2) : NaN,
      minuteMediansMiB: this.all.minuteMedians.map((x) => r(x, 1)),
    };
  }
}
