// Cutting the log at either end: truncateAfter (a Raft conflict: records after an index go) and
// deleteBefore (retention: whole segments before an index go). Both run alone (the front
// serializes them) and record the new ends durably in the checkpoint before they remove data, so
// a crash in between leaves a store the next open finishes or reads correctly.
import type { ChunkQueue } from './chunks.ts';
import { assert } from '../util/index.ts';
import { CommitLogError, failedForGood } from './errors.ts';
import type { Segment, StoreFiles } from './files.ts';
import type { Flusher } from './flusher.ts';
import type { DiskIo } from './io.ts';
import type { LogState } from './log-state.ts';
import type { StoreSettings } from './options.ts';
import type { WritePump } from './pump.ts';
import type { LogReader } from './reader.ts';
import { INDEX_ENTRY_SIZE } from './record.ts';
import type { Waiters } from './waiters.ts';

/** What the front lends the cutters: its write check and its failure handling. */
export interface TruncationHost {
  /** The error a write would be refused with now (closed, failed), or null. */
  checkWritable(op: string): CommitLogError | null;
  fail(err: CommitLogError): void;
}

/** Logged with `segments` whenever retention removes segment files (tools sum these lines). */
export const LOG_SEGMENTS_REMOVED = 'retention removed segments';

export class Truncation {
  constructor(
    private readonly settings: StoreSettings,
    private readonly state: LogState,
    private readonly files: StoreFiles,
    private readonly reader: Pick<LogReader, 'readIndexEntry'>,
    private readonly queue: Pick<ChunkQueue, 'isEmpty'>,
    private readonly pump: Pick<WritePump, 'idle'>,
    private readonly flusher: Pick<Flusher, 'flushAll' | 'idle' | 'writeCheckpointNow'>,
    private readonly waiters: Pick<Waiters, 'resolveFlushes' | 'resolveAllFlushes'>,
    private readonly io: DiskIo,
    private readonly host: TruncationHost,
  ) {}

  /** Removes every record after `index`, once everything accepted is written and flushed. */
  async truncateAfter(index: number): Promise<void> {
    const { state } = this;
    if (index >= state.last) return;
    if (index < state.first - 1) throw new CommitLogError('COMPACTED', `truncateAfter(${index}): below ${state.first - 1}`);
    state.truncating = true;
    try {
      await this.settle();
      const cutIndex = index + 1;
      const cutPos = this.reader.readIndexEntry(cutIndex).position;
      const k = this.files.segmentIndexAt(cutPos);
      assert(k >= 0, `segment of position ${cutPos}`);
      // A cut at a segment's first record removes that segment whole (never the first one).
      const dropWhole = cutPos === this.files.segments[k].start && k > 0;
      const keep = dropWhole ? k - 1 : k;
      const kept = this.files.segments[keep];
      const newEnd = dropWhole ? kept.start + kept.size : cutPos;
      // The checkpoint first: flushedPos must never be above the data (recovery would call it corrupt).
      state.flushedPos = newEnd;
      state.writtenPos = newEnd;
      await this.flusher.writeCheckpointNow();
      this.cutSegments(keep, dropWhole ? null : cutPos);
      const idxFd = this.cutIndex(cutIndex);
      const syncs = [this.io.fsync(kept.fd), this.io.fsyncDir(this.settings.dataDir), this.io.fsyncDir(this.settings.indexDir)];
      if (idxFd !== null) syncs.push(this.io.fsync(idxFd));
      await Promise.all(syncs);
      state.acceptSegStart = kept.start;
      state.acceptPos = newEnd;
      state.cutMemoryAfter(index);
      state.written = index;
      state.flushed = index;
      this.waiters.resolveFlushes(state.flushed);
      this.waiters.resolveAllFlushes(); // everything that exists is flushed
    } catch (err) {
      if (err instanceof CommitLogError) throw err;
      const e = failedForGood(err, `truncating ${this.settings.dir} after ${index}`);
      this.host.fail(e);
      throw e;
    } finally {
      state.truncating = false;
    }
  }

  /** Retention: removes whole segments whose records are all below `index`, never the last one. */
  async deleteBefore(index: number): Promise<void> {
    const { files, state } = this;
    // Segment s goes if every record in it is < index.
    let k = 0;
    while (k + 1 < files.segments.length && files.segments[k + 1].firstIndex <= index) k++;
    if (k === 0) return;
    const newFirst = files.segments[k].firstIndex;
    assert(newFirst > state.first && newFirst <= state.written, 'retention keeps written records only');
    // Memory first (reads below newFirst are refused from now on), then the durable retention
    // point, then the files: a crash in between is finished by the next open.
    const prevTerm = state.runs.termOf(newFirst - 1);
    state.first = newFirst;
    state.prevTerm = prevTerm;
    state.runs.dropBefore(newFirst);
    state.cache.dropBefore(newFirst);
    await this.flusher.writeCheckpointNow();
    // Renamed into the recycler's pool (or unlinked); the renames are durable before the files'
    // first blocks are zeroed (recycler.ts: a crash between leaves no zeroed file under a segment name).
    const recycled = files.retireFirstSegments(k);
    const indexPerFile = this.settings.indexPerFile;
    files.dropIndexFiles((start) => start + indexPerFile - 1 < newFirst);
    await Promise.all([this.io.fsyncDir(this.settings.dataDir), this.io.fsyncDir(this.settings.indexDir)]);
    this.settings.log('info', LOG_SEGMENTS_REMOVED, { segments: k, firstIndex: newFirst, recycled: recycled.length });
    await files.recycler.admit(recycled, (fd) => this.io.fdatasync(fd));
  }

  /** An empty log starts over at `first` (the caller emptied it with truncateAfter). The new
   *  start is durable in the checkpoint before the index files of the old log go. */
  async restartAt(first: number, prevTerm: number): Promise<void> {
    const { files, state } = this;
    assert(state.last === state.first - 1, 'restartAt needs an empty log');
    try {
      await this.settle();
      state.first = first;
      state.prevTerm = prevTerm;
      state.runs.clear();
      state.cache.dropBefore(first);
      state.last = first - 1;
      state.written = first - 1;
      state.flushed = first - 1;
      await this.flusher.writeCheckpointNow();
      // The empty segment takes its first index from the next record written to it.
      const seg = files.segments[files.segments.length - 1];
      if (seg !== undefined && seg.size === 0) seg.firstIndex = 0;
      files.dropIndexFiles(() => true);
      // The index file holding `first` has entries from its own start: the ones before `first`
      // read as zeros (a sparse hole), never read since they are below the log.
      const idxStart = files.indexFileStart(first);
      const idx = files.indexFile(idxStart, true);
      files.cutIndexFile(idx, (first - idxStart) * INDEX_ENTRY_SIZE);
      await Promise.all([this.io.fsync(idx.fd), this.io.fsyncDir(this.settings.indexDir)]);
      this.waiters.resolveAllFlushes();
      this.settings.log('info', 'the log restarts after a snapshot', { firstIndex: first, prevTerm });
    } catch (err) {
      if (err instanceof CommitLogError) throw err;
      const e = failedForGood(err, `restarting ${this.settings.dir} at ${first}`);
      this.host.fail(e);
      throw e;
    }
  }

  /** Waits until everything accepted is written and flushed and nothing is in flight. */
  private async settle(): Promise<void> {
    const { state } = this;
    await this.flusher.flushAll();
    await this.flusher.idle();
    await this.pump.idle();
    const failed = this.host.checkWritable('truncateAfter');
    if (failed !== null) throw failed;
    assert(this.queue.isEmpty() && state.written === state.last && state.flushed === state.last,
      'truncateAfter runs with everything written and flushed');
  }

  /** Removes the segments after segments[keep] and cuts that one at `cutPos` (null: keeps it whole);
   *  it is the active segment then. */
  private cutSegments(keep: number, cutPos: number | null): Segment {
    const { files } = this;
    files.dropSegmentsAfter(keep);
    const cur = files.segments[keep];
    cur.direct?.forgetTail();
    if (cutPos !== null) files.cutSegment(cur, cutPos - cur.start);
    // The kept segment is the active one now: extended again, so the cut part reads as zeros.
    files.extendActive(cur);
    return cur;
  }

  /** Removes the index entries from `cutIndex` on; returns the fd of the index file cut (to sync),
   *  or null if none held the entry. */
  private cutIndex(cutIndex: number): number | null {
    const { files } = this;
    const idxStart = files.indexFileStart(cutIndex);
    files.dropIndexFiles((start) => start > idxStart);
    const idxFile = files.indexFiles.get(idxStart);
    if (idxFile === undefined) return null;
    files.cutIndexFile(idxFile, (cutIndex - idxStart) * INDEX_ENTRY_SIZE);
    return idxFile.fd;
  }
}

