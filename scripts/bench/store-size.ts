// A replica's store on disk over a long run (bench --plot, soaks with retention): the bytes the
// file system has really allocated (st_blocks x 512, not st_size: segments are preallocated and
// may be sparse), found by a directory walk of a few hundred files, and a bounded series of
// (second, value) points for a chart.
import fs from 'node:fs';
import path from 'node:path';
import { logLinesIn } from '../../src/broker/index.ts';
import { LOG_SEGMENTS_REMOVED } from '../../src/commitlog/index.ts';

export interface StoreUsage {
  /** Bytes allocated to every file under the directory (st_blocks x 512). */
  readonly bytes: number;
  readonly files: number;
}

/**
 * The space a store takes on disk: every file under `dir`, recursively, without following
 * symbolic links, leaving out the top-level entries named in `exclude` (the replica's logs/).
 * Files may be deleted while the walk runs (retention, rotation): those are skipped.
 * null when `dir` itself cannot be read.
 */
export function storeUsage(dir: string, exclude: readonly string[] = ['logs']): StoreUsage | null {
  let bytes = 0;
  let files = 0;
  const walk = (d: string, top: boolean): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries) {
      if (top && exclude.includes(e.name)) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        walk(p, false);
        continue;
      }
      try {
        const st = fs.lstatSync(p);
        bytes += st.blocks * 512;
        files++;
      } catch {
        // gone since the readdir
      }
    }
    return true;
  };
  return walk(dir, true) ? { bytes, files } : null;
}

/** The sum of `segments` over the lines where retention removed segments, in a replica's logs. */
export function retentionRemovedIn(logDir: string): number {
  if (!fs.existsSync(logDir)) return NaN; // unknown, not none
  let total = 0;
  for (const line of logLinesIn(logDir)) {
    if (!line.includes(LOG_SEGMENTS_REMOVED)) continue;
    try {
      const n = Number((JSON.parse(line) as { segments?: unknown }).segments);
      if (Number.isFinite(n)) total += n;
    } catch {
      // a torn last line
    }
  }
  return total;
}

/**
 * (second, value) points of one series for a chart, at most `maxPoints` of them whatever the
 * run's length: one point per `everySec` (the first sample at or after each step), and when the
 * points would exceed maxPoints, every other one is dropped and the step doubles.
 */
export class PlotSeries {
  private readonly kept: [number, number][] = [];
  private next = 0;
  /** The latest sample, shown at the end of the line even when it falls between steps. */
  private latest: [number, number] | null = null;

  constructor(
    private everySec = 5,
    private readonly maxPoints = 720,
  ) {
    if (!(everySec > 0) || !(maxPoints >= 2)) throw new RangeError(`PlotSeries: everySec ${everySec}, maxPoints ${maxPoints}`);
  }

  /** Seconds between kept points (grows as a long run is thinned). */
  get stepSec(): number {
    return this.everySec;
  }

  /** The kept points, and the latest sample after them (at most maxPoints + 1 in all). */
  get points(): [number, number][] {
    const last = this.kept[this.kept.length - 1];
    return this.latest !== null && (last === undefined || this.latest[0] > last[0]) ? [...this.kept, this.latest] : [...this.kept];
  }

  /** Adds a sample at `tSec` (non-decreasing); NaN is skipped, and samples between steps are kept
   *  only while they are the latest. */
  add(tSec: number, value: number): void {
    if (!Number.isFinite(value)) return;
    this.latest = [tSec, value];
    if (tSec < this.next) return;
    const points = this.kept;
    points.push([tSec, value]);
    this.next = (Math.floor(tSec / this.everySec) + 1) * this.everySec;
    if (points.length > this.maxPoints) {
      // Keep the points on the doubled step (the first one always), then go on at that step.
      this.everySec *= 2;
      const kept: [number, number][] = [];
      let nextKept = 0;
      for (const pt of points) {
        if (pt[0] < nextKept) continue;
        kept.push(pt);
        nextKept = (Math.floor(pt[0] / this.everySec) + 1) * this.everySec;
      }
      points.splice(0, points.length, ...kept);
      this.next = (Math.floor(tSec / this.everySec) + 1) * this.everySec;
    }
  }
}
