// How full the store's disk is: statfs of the store directory, sampled on an interval, compared
// with diskSpaceWarningLevelRatio. Above the level the master refuses writes with DISK_FULL
// (server.ts) and takes them again by itself once a sample is back under it.
//
// The used percent is df's "Use%": used / (used + available to unprivileged users), with used =
// blocks - bfree. Blocks reserved for root count as neither, so the figure reaches 100% exactly
// when an ordinary process's writes start failing with ENOSPC, and an operator reading `df` sees
// the number the broker acts on.
import fs from 'node:fs';

/** What statfs tells about a filesystem (the fields of fs.StatsFs this module reads). */
export interface DiskSpace {
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
}

export interface DiskUsageLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export interface DiskUsageOptions {
  /** The store directory (storePathRootDir); it must exist. */
  readonly dir: string;
  /** diskSpaceWarningLevelRatio: percent above which the disk counts as full. */
  readonly warningLevelPercent: number;
  /** diskCheckIntervalMs. */
  readonly intervalMs: number;
  readonly logger: DiskUsageLogger;
  /** Test-only: where samples come from instead of statfs of `dir`. */
  readonly statfs?: (dir: string) => Promise<DiskSpace>;
}

/** df's Use% of one statfs sample, in percent (0 for an empty or unsized filesystem). */
export function usedPercentOf(space: DiskSpace): number {
  const used = space.blocks - space.bfree;
  const total = used + space.bavail;
  return total > 0 ? (100 * used) / total : 0;
}

export class DiskUsage {
  private readonly opts: DiskUsageOptions;
  private percent = 0;
  private over = false;
  private timer: NodeJS.Timeout | null = null;
  private sampling = false;
  /** Set by the test hook: the figure used instead of samples. */
  private injected: number | null = null;
  private sampleFailed = false;

  constructor(opts: DiskUsageOptions) {
    this.opts = opts;
  }

  /** Percent of the store's disk in use at the last sample. */
  get usedPercent(): number {
    return this.injected ?? this.percent;
  }

  /** Whether the last sample was above the warning level. */
  get overWarningLevel(): boolean {
    return this.over;
  }

  get warningLevelPercent(): number {
    return this.opts.warningLevelPercent;
  }

  /** Why a write is refused now (DISK_FULL's message), or null when the disk is under the level. */
  refusal(): string | null {
    if (!this.over) return null;
    return `the store's disk is ${this.usedPercent.toFixed(1)}% used (diskSpaceWarningLevelRatio=${this.opts.warningLevelPercent}); writes resume below that`;
  }

  /** Takes a first sample (so the figure is known from the start), then one per interval. */
  async start(): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => void this.sample(), this.opts.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Test-only: use `percent` instead of the samples (null: back to the samples). Takes effect
   *  at once, with the same log lines a sample would cause. */
  injectUsedPercent(percent: number | null): void {
    this.injected = percent;
    this.update(this.usedPercent);
  }

  private async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const space = await (this.opts.statfs ?? fs.promises.statfs)(this.opts.dir);
      this.sampleFailed = false;
      this.percent = usedPercentOf(space);
      this.update(this.usedPercent);
    } catch (err) {
      // Keep the last figure; say so once, not at every interval.
      if (!this.sampleFailed) this.opts.logger.warn({ dir: this.opts.dir, err: (err as Error).message }, 'cannot read the disk use of the store (statfs); keeping the last figure');
      this.sampleFailed = true;
    } finally {
      this.sampling = false;
    }
  }

  /** One log line per crossing of the level, never one per sample. */
  private update(percent: number): void {
    const level = this.opts.warningLevelPercent;
    const over = percent > level;
    if (over === this.over) return;
    this.over = over;
    const fields = { dir: this.opts.dir, usedPercent: Number(percent.toFixed(1)), diskSpaceWarningLevelRatio: level };
    if (over) this.opts.logger.warn(fields, 'the store\'s disk is above diskSpaceWarningLevelRatio: writes are refused with DISK_FULL until it is back under (reads go on)');
    else this.opts.logger.info(fields, 'the store\'s disk is back under diskSpaceWarningLevelRatio: writes are taken again');
  }
}
