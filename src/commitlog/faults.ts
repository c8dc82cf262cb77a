// Test-only fault injection. A test passes a CommitLogFaults as CommitLogOptions.faults: the disk
// faults (DiskFaults: a full disk, a failing fdatasync, a filesystem without O_DIRECT) act on the
// store's I/O, and the parts of the store opened with it register the faults a test triggers on
// them: a crash of the process, a dying CRC worker. Production code never sets `faults`.
import { assert } from '../util/index.ts';
import type { DiskFaults } from './types.ts';

/** Points in the recycling of segment files (recycler.ts) where a test can stop the store, as a
 *  crash there would: after retired files were renamed into the pool (and the directory fsync'd),
 *  before their first block is zeroed; after the zeroing, before they join the pool; after a pool
 *  file was renamed to the next segment's name, before the directory fsync; after that fsync,
 *  before the first write into it. */
export type RecyclePoint = 'retire-renamed' | 'retire-zeroed' | 'take-renamed' | 'take-synced';

/** What a crash test needs to tear the unflushed tail of a crashed store. */
export interface CrashInfo {
  readonly flushedPos: number;
  readonly flushedIndex: number;
  readonly lastSegmentPath: string | null;
  readonly lastSegmentStart: number;
  /** Bytes of records in the last segment (its file may be longer: preallocated). */
  readonly lastSegmentWrittenBytes: number;
  /** Index entries from here on may be unsynced (the last segment's). */
  readonly lastSegmentFirstIndex: number;
}

export class CommitLogFaults implements DiskFaults {
  bytesLeft = Infinity;
  refuseDirectIo = false;
  refuseDirectWrites = false;
  failDatasync = false;
  datasyncDelayMs = 0;
  powerCutNextWrite = false;
  powerCutBlock: { readonly start: number; readonly end: number } | null = null;
  /** The recycling stops at this point (once), failing the operation there: deleteBefore rejects,
   *  a roll fails the store. The test then crashes the store (`crash`) and reopens it. */
  crashAtRecycle: RecyclePoint | null = null;

  private crashStore: (() => Promise<CrashInfo>) | null = null;
  private killWorker: (() => Promise<void>) | null = null;

  constructor(disk: Partial<DiskFaults> = {}) {
    Object.assign(this, disk);
  }

  /** Whether the recycling reached the point set in crashAtRecycle (then cleared). */
  reached(point: RecyclePoint): boolean {
    if (this.crashAtRecycle !== point) return false;
    this.crashAtRecycle = null;
    return true;
  }

  /** Called by the store opened with these faults (the last one opened is the one crashed). */
  onCrash(crash: () => Promise<CrashInfo>): void {
    this.crashStore = crash;
  }

  /** Called by the CRC sealer of the store opened with these faults. */
  onKillCrcWorker(kill: () => Promise<void>): void {
    this.killWorker = kill;
  }

  /**
   * The process "crashes" at a quiet moment: the store waits for its writes and flush rounds to
   * settle, then closes every file and releases its lock WITHOUT flushing or writing the
   * checkpoint, as a process that dies would. Appends still waiting are rejected (STORE_CLOSED).
   */
  crash(): Promise<CrashInfo> {
    assert(this.crashStore !== null, 'crash: no store was opened with these faults');
    return this.crashStore();
  }

  /** The CRC worker dies as a crashed thread would: batches are sealed on the main thread from
   *  then on. */
  killCrcWorker(): Promise<void> {
    assert(this.killWorker !== null, 'killCrcWorker: no store was opened with these faults');
    return this.killWorker();
  }
}
