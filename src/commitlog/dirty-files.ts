// Which files and directories have changes not yet made durable, and closing fds without pulling
// them from under an fdatasync in flight. Filled by the pump and recovery, emptied by the flusher.
import { closeQuietly } from './files.ts';

export class DirtyFiles {
  /** Segment fds written through the page cache since the last round: every round fdatasyncs them
   *  (a direct write is durable when it completes and adds none). */
  readonly segmentFds = new Set<number>();
  /** Index and checkpoint fds written since they were last synced. Recovery rebuilds the index of
   *  the last segment and a lagging checkpoint is safe, so these are synced only at a roll (the
   *  index of a finished segment must be durable), on close, and at most every lazy interval by a
   *  round: one fdatasync per group commit instead of three. */
  readonly lazyFds = new Set<number>();
  lazySyncedAtMs = 0;
  /** Directories with files created or removed since the last round. */
  readonly dirs = new Set<string>();
  /** Flush rounds and lazy syncs running: an fd closed meanwhile is closed after them. */
  private syncsRunning = 0;
  private fdsToClose: number[] = [];

  syncStarted(): void {
    this.syncsRunning++;
  }

  syncEnded(): void {
    this.syncsRunning--;
    if (this.syncsRunning === 0 && this.fdsToClose.length > 0) {
      for (const fd of this.fdsToClose) closeQuietly(fd);
      this.fdsToClose = [];
    }
  }

  /** Forgets `fd` and closes it: now, or once the syncs running are done (one may hold it). */
  closeFd(fd: number): void {
    this.segmentFds.delete(fd);
    this.lazyFds.delete(fd);
    if (this.syncsRunning > 0) this.fdsToClose.push(fd);
    else closeQuietly(fd);
  }

  /** The store closes (nothing runs): closes what waited and forgets everything. */
  closeAll(): void {
    for (const fd of this.fdsToClose) closeQuietly(fd);
    this.fdsToClose = [];
    this.segmentFds.clear();
    this.lazyFds.clear();
  }
}
