// Recycling the files of segments retention removed (CommitLogOptions.recycledSegmentsMax): a
// retired segment's file is renamed to data/<its start>.recycled instead of being unlinked (at most
// recycledSegmentsMax such files; the rest are unlinked), and a roll renames one to the new
// segment's name instead of creating a sparse file. Its blocks are allocated already, so a durable
// write into it overwrites blocks instead of allocating them: no journal commit for the allocation
// per durable write (`npm run bench:segment-reuse`, docs/performance.md).
//
// A recycled file holds old records after wherever the new ones end. Why recovery never takes them
// for the log's:
//  - Positions. A record's header names its position (the store-wide byte offset) and recovery
//    takes a record only at the offset of that position, with the next index, a term not below the
//    previous one and both CRCs good. Retention removes only segments below the first retained one,
//    and no segment ever starts below that again (a truncation never cuts below the first retained
//    index), so every byte of a retired file claims a position below the start of any segment it
//    can become. `prepare` checks it (the file's old start plus its length at most the new start)
//    and unlinks a file that fails.
//  - The first block is zeroed and fdatasync'd before a file joins the pool (and again at open for
//    files found there), so a new segment's first header reads as zeros until its first record is
//    written: recovery drops such a last segment without a warning.
//  - A pool file becomes a segment (renamed, the directory fsync'd) before anything is written into
//    it: no record of the new segment can be left in a file that a crash put back under its pool
//    name (where a later reuse at the same start could find it).
//  - Zeros after the records: an append that starts at a block boundary (SYNC_FLUSH) is found after
//    zeros up to it. Direct writes pad their last block with zeros; buffered writes into a recycled
//    segment write those zeros too (pump.ts), since the file's old bytes there are not zeros.
//  - Non-last segments: the roll cuts a segment's file back to its records and fdatasyncs it before
//    the next segment exists (as for new files), so no old bytes follow a non-last segment's end.
//
// A retirement, in order: the retention point in the checkpoint (durable); rename to the pool name;
// fsync of the directory; zero the first block; fdatasync. A crash before the directory fsync
// leaves the file under its segment name, below the retention point (the next open retires it
// again); a crash before the zeroing leaves a pool file with an old first record (the next open
// zeroes every pool file before it joins the pool).
import fs from 'node:fs';
import path from 'node:path';
import { DIRECT_ALIGN } from './direct-writer.ts';
import type { RecyclePoint } from './faults.ts';
import type { DiskIo } from './io.ts';
import type { StoreSettings } from './options.ts';
import { padName } from './record.ts';

const POOL_NAME_RE = /^(\d{20})\.recycled$/;
/** Bytes zeroed at the start of a file before it joins the pool: the first block. */
const ZEROED_BYTES = DIRECT_ALIGN;

/** A file in the pool: the segment that started at `oldStart`, `bytes` long. */
export interface RecycledFile {
  readonly oldStart: number;
  readonly path: string;
  readonly bytes: number;
}

/** A pool file renamed to a segment's name for the next roll (`prepare`). */
export interface PreparedSegment {
  readonly start: number;
  readonly path: string;
}

/** A test's crash point was reached (CommitLogFaults.crashAtRecycle): the operation stops there. */
export class RecycleCrashPoint extends Error {
  constructor(readonly point: RecyclePoint) {
    super(`crash point ${point} (test)`);
  }
}

export class SegmentRecycler {
  /** Oldest first. */
  private pool: RecycledFile[] = [];
  /** Renamed by `prepare`, not yet taken by `take`. */
  private prepared: PreparedSegment | null = null;

  constructor(
    private readonly settings: StoreSettings,
    private readonly crashAt: (point: RecyclePoint) => boolean = () => false,
  ) {}

  /** Files in the pool (not counting one prepared for the next roll). */
  get size(): number {
    return this.pool.length;
  }

  /** Whether retired segments are kept for reuse at all. */
  get enabled(): boolean {
    return this.settings.recycledSegmentsMax > 0;
  }

  poolPathOf(oldStart: number): string {
    return path.join(this.settings.dataDir, `${padName(oldStart)}.recycled`);
  }

  /**
   * Retention: `file` (a segment that started at `start`, its fds closed or closing) leaves the
   * log. Renamed into the pool if there is room (returns the pool file, which joins the pool once
   * `admit` has zeroed it), else unlinked (returns null). The caller fsyncs the directory between.
   */
  retire(file: string, start: number, pending: number): RecycledFile | null {
    if (!this.enabled || this.pool.length + pending >= this.settings.recycledSegmentsMax) {
      fs.rmSync(file, { force: true });
      return null;
    }
    const to = this.poolPathOf(start);
    try {
      fs.renameSync(file, to);
    } catch {
      fs.rmSync(file, { force: true });
      return null;
    }
    return { oldStart: start, path: to, bytes: fs.statSync(to).size };
  }

  /**
   * Zeroes the first block of retired files (the directory entries of their renames durable
   * already), makes that durable with `datasync`, then adds them to the pool. A file that cannot
   * be zeroed is unlinked.
   */
  async admit(files: readonly RecycledFile[], datasync: (fd: number) => Promise<void>): Promise<void> {
    this.stopIf('retire-renamed');
    for (const f of files) {
      const fd = this.openZeroed(f);
      if (fd < 0) continue;
      try {
        await datasync(fd);
        this.pool.push(f);
      } catch (err) {
        this.unusable(f, err);
      } finally {
        fs.closeSync(fd);
      }
    }
    this.stopIf('retire-zeroed');
  }

  /** `admit` with synchronous syncs (recovery). */
  private admitSync(files: readonly RecycledFile[]): void {
    for (const f of files) {
      const fd = this.openZeroed(f);
      if (fd < 0) continue;
      try {
        fs.fdatasyncSync(fd);
        this.pool.push(f);
      } catch (err) {
        this.unusable(f, err);
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  /** `f` opened with its first block zeroed (not yet durable); -1 if that failed (then unlinked). */
  private openZeroed(f: RecycledFile): number {
    let fd = -1;
    try {
      fd = fs.openSync(f.path, 'r+');
      zeroStart(fd, f.bytes);
      return fd;
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      this.unusable(f, err);
      return -1;
    }
  }

  private unusable(f: RecycledFile, err: unknown): void {
    this.settings.log('warn', 'could not zero a retired segment file for reuse; removed it', { file: f.path, error: String(err) });
    fs.rmSync(f.path, { force: true });
  }

  /**
   * At open, after recovery retired what it had to: every pool file (beyond the bound, or of a
   * start not below `firstStart`, unlinked) is zeroed again, since a crash may have come between a
   * rename into the pool and the zeroing. The caller fsyncs the directory before this.
   */
  loadSync(firstStart: number): void {
    this.pool = [];
    const found: RecycledFile[] = [];
    for (const name of fs.readdirSync(this.settings.dataDir).sort()) {
      const m = POOL_NAME_RE.exec(name);
      if (m === null) continue;
      const file = path.join(this.settings.dataDir, name);
      const bytes = fs.statSync(file).size;
      const oldStart = Number(m[1]);
      if (found.length >= this.settings.recycledSegmentsMax || oldStart + bytes > firstStart) fs.rmSync(file, { force: true });
      else found.push({ oldStart, path: file, bytes });
    }
    if (found.length === 0) return;
    const dirFd = fs.openSync(this.settings.dataDir, 'r');
    try {
      fs.fsyncSync(dirFd); // removals and the renames of an interrupted retirement
    } finally {
      fs.closeSync(dirFd);
    }
    this.admitSync(found);
  }

  /**
   * The roll to a segment at `start` is next: renames a pool file to its name and fsyncs the
   * directory, before anything is written into it. Null when the pool is empty or no pool file may
   * become this segment (then the roll creates a sparse file, as without recycling).
   */
  async prepare(start: number, io: Pick<DiskIo, 'fsyncDir'>): Promise<PreparedSegment | null> {
    this.dropPrepared();
    while (this.pool.length > 0) {
      const f = this.pool.shift() as RecycledFile;
      // Every byte of the file claims a position below `start` (see above).
      if (f.oldStart + f.bytes > start) {
        this.settings.log('warn', 'a recycled segment file reaches past the new segment; removed it', { file: f.path, start });
        fs.rmSync(f.path, { force: true });
        continue;
      }
      const to = path.join(this.settings.dataDir, padName(start));
      fs.renameSync(f.path, to);
      this.prepared = { start, path: to };
      this.stopIf('take-renamed');
      await io.fsyncDir(this.settings.dataDir);
      this.stopIf('take-synced');
      return this.prepared;
    }
    return null;
  }

  /** The file `prepare` renamed to the segment at `start`, taken (null: none; a file prepared for
   *  another start is removed). */
  take(start: number): string | null {
    const p = this.prepared;
    if (p === null) return null;
    this.prepared = null;
    if (p.start === start) return p.path;
    fs.rmSync(p.path, { force: true });
    return null;
  }

  /** Unlinks every pool file (a full disk: the space they hold is needed now). Returns how many. */
  release(): number {
    this.dropPrepared();
    const n = this.pool.length;
    for (const f of this.pool) fs.rmSync(f.path, { force: true });
    this.pool = [];
    return n;
  }

  private dropPrepared(): void {
    if (this.prepared !== null) fs.rmSync(this.prepared.path, { force: true });
    this.prepared = null;
  }

  private stopIf(point: RecyclePoint): void {
    if (this.crashAt(point)) throw new RecycleCrashPoint(point);
  }
}

/** Writes zeros over the first block of the file `fd` (`bytes` long; never extends it). */
function zeroStart(fd: number, bytes: number): void {
  const n = Math.min(ZEROED_BYTES, bytes);
  if (n === 0) return;
  const zeros = Buffer.alloc(n);
  let done = 0;
  while (done < n) done += fs.writeSync(fd, zeros, done, n - done, done);
}
