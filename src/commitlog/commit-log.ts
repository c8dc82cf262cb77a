// The commitlog: segment files + index files + a checkpoint, in one directory.
//
//   <dir>/LOCK                       pid of the process that has the store open (lock.ts)
//   <dir>/checkpoint                 flushed position, retention point (checkpoint.ts)
//   <dir>/data/<20-digit position>   segments: records (record.ts), append-only; a segment is named
//                                    by the physical position of its first byte; a record never
//                                    spans two segments: one that does not fit starts the next
//                                    segment at start + segmentBytes (the rest is simply unwritten)
//                                    The active (last) segment's file is preallocated: extended
//                                    with ftruncate to segmentBytes (sparse) when it is created or
//                                    reopened, so appends do not change the file size (a cheaper
//                                    fdatasync: no inode size update). A roll and a clean close cut
//                                    it back to its last record: every other segment, and every
//                                    segment of a closed store, ends at its last record.
//   <dir>/data/<20-digit>.recycled   files of segments retention removed, kept for new segments
//                                    (recycledSegmentsMax; recycler.ts)
//   <dir>/index/<20-digit index>     32-byte entries (record.ts), file k holds indexes
//                                    [1 + k * perFile, (k + 1) * perFile]
//
// Life of an append (append -> pump -> flush):
//  1. accept (synchronous, in append): check, encode each batch (per segment) into reused arena
//     buffers (records and index entries; encode-arena.ts), give positions, update lastIndex,
//     term runs and the cache. lastIndex() counts accepted records. The CRCs (one per body, one
//     per header): here for a small batch, on the CRC worker thread for a large one that has
//     unwritten work ahead of it (crc-sealer.ts); the pump writes a chunk only once it is sealed.
//  2. write (the pump, once per event-loop turn and again while more is pending): the batches
//     accepted so far lie back to back in the arena: one positional write of up to 256 KiB into
//     the segment, then one into the index file. A write of one huge batch (over 1 MiB) runs on
//     libuv's thread pool instead of blocking the event loop; then the appends accepted meanwhile
//     wait for the next write. One data write is in flight at a time: writes complete in file
//     order, and `written` / `writtenPos` (what reads may take from the file, what a round may
//     fdatasync) move only over completed ones; records accepted but not written are always in the
//     record cache. A batch that needs a new segment waits until everything before it is written
//     and fdatasync'd (so a segment only exists once the one before it is complete and durable:
//     recovery can treat any bad byte in a non-last segment as corruption).
//     Under SYNC_FLUSH (directIo, the default) the data write is instead a direct, synchronous
//     write (O_DIRECT | O_DSYNC, direct-writer.ts) on the thread pool, durable when it completes;
//     the chunks pending when a pump pass starts still share one flush round.
//  3. flush (the flush loop): one round = fdatasync of the segment(s) written since the last
//     round (none after direct writes: only new directories and, lazily, index files), on libuv's
//     thread pool. While a round runs, new batches are written and wait for the
//     next round: group commit. After a round the checkpoint's flushedPos is written. Index and
//     checkpoint files are synced lazily (at a roll, on close, at most once a second otherwise):
//     recovery rebuilds the last segment's index entries from its records anyway.
//
// Durability per flushDiskType:
//  - SYNC_FLUSH: append resolves after the round that covers it: an acknowledged record survives
//    a process crash and a power cut.
//  - ASYNC_FLUSH: append resolves after the write (page cache); no fdatasync on the append path:
//    a round starts every flushIntervalMs, or early once flushLeastBytes are unflushed, and runs
//    on the thread pool while appends go on. A process crash (kill -9) loses nothing acknowledged;
//    an OS crash or power cut loses what was acknowledged after the start of the last completed
//    round: at most about flushIntervalMs (500 ms) plus one round, and at most about
//    flushLeastBytes (4 MiB) plus what is written while one round runs, whichever is less.
//    (4 MiB, not more: a round's fdatasync makes the kernel write the file back while appends go
//    on, and appends to a file under writeback stall in write() now and then, the longer the
//    bigger the round, which also costs throughput; smaller rounds are no better. The
//    bench:commitlog ASYNC_FLUSH phases show it.)
//
// Recovery and the corruption rule (recovery.ts): the last segment is re-verified from its start
// (every record: header CRC, body CRC, position, consecutive index, non-decreasing term). A record
// that fails at or after the checkpoint's flushedPos (never acknowledged under SYNC_FLUSH) is a
// torn tail: it and everything after it are cut, with a warning; zeros where the next header would
// be are the clean end of a preallocated file (cut the same way, no warning). A record that fails before
// flushedPos, or anywhere in an earlier segment, is STORE_CORRUPT (file + byte offset): the store
// does not open. Reads verify every record they take from disk too.
//
// The parts; this file is the front that composes them and checks the API's arguments and state:
//   options.ts        the options: defaults, limits, checks
//   log-state.ts      indexes and positions (first, last, written, flushed), shared by the parts
//   term-runs.ts      the term of every record, in memory
//   record-cache.ts   recent records, in memory
//   chunks.ts         accept: encode batches into arena chunks (CRCs inline or on the worker)
//   pump.ts           write: chunks to the segment and index files
//   flusher.ts        flush: fdatasync rounds, the checkpoint, lazy syncs
//   waiters.ts        appends and flushes waiting on those
//   files.ts          segment and index files: create, preallocate, cut, remove
//   recycler.ts       files of removed segments kept for new ones (recycledSegmentsMax)
//   dirty-files.ts    what is not yet durable; closes deferred past an fdatasync in flight
//   reader.ts         reads: the cache, then the files, verified
//   truncation.ts     truncateAfter and retention (deleteBefore)
//   recovery.ts       open: rebuild the state from the files, the torn-tail rule
//   faults.ts         test-only faults: crash the store, kill the CRC worker
import fs from 'node:fs';
import { Checkpoint } from './checkpoint.ts';
import { ChunkQueue, recordProblem } from './chunks.ts';
import { CrcSealer } from './crc-sealer.ts';
import { DirtyFiles } from './dirty-files.ts';
import { CommitLogError } from './errors.ts';
import { CommitLogFaults, type CrashInfo } from './faults.ts';
import { StoreFiles, closeQuietly } from './files.ts';
import { Flusher } from './flusher.ts';
import { DiskIo } from './io.ts';
import { acquireLock, type StoreLock } from './lock.ts';
import { LogState } from './log-state.ts';
import { resolveOptions, type StoreSettings } from './options.ts';
import { WritePump } from './pump.ts';
import { LogReader } from './reader.ts';
import { Recovery } from './recovery.ts';
import { SegmentRecycler } from './recycler.ts';
import { Truncation } from './truncation.ts';
import type { CommitLog, CommitLogOptions, CommitLogStats, LogRecord } from './types.ts';
import { Waiters } from './waiters.ts';

export {
  CACHE_BYTES_DEFAULT,
  RECYCLED_SEGMENTS_MAX_DEFAULT,
  FLUSH_INTERVAL_MS_DEFAULT,
  FLUSH_LEAST_BYTES_DEFAULT,
  INDEX_ENTRIES_PER_FILE_DEFAULT,
  SEGMENT_BYTES_DEFAULT,
} from './options.ts';

/** Records in one append at most. */
const APPEND_RECORDS_MAX = 65536;

export class FileCommitLog implements CommitLog {
  private readonly state: LogState;
  private readonly io: DiskIo;
  private readonly dirty = new DirtyFiles();
  private readonly files: StoreFiles;
  private readonly waiters = new Waiters();
  /** Seals (CRCs) large batches on a worker thread: crc-sealer.ts. */
  private readonly sealer: CrcSealer;
  private readonly queue: ChunkQueue;
  private readonly pump: WritePump;
  private readonly flusher: Flusher;
  private readonly reader: LogReader;
  private readonly truncation: Truncation;

  /** truncateAfter called and not done: appends are refused (the caller serializes them). */
  private truncatesPending = 0;
  /** truncateAfter and deleteBefore run one at a time, in call order. */
  private opChain: Promise<void> = Promise.resolve();
  private closePromise: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly settings: StoreSettings,
    private readonly lock: StoreLock,
    private readonly checkpoint: Checkpoint,
    faults: CommitLogOptions['faults'],
    observer: CommitLogOptions['observer'],
  ) {
    const testFaults = faults instanceof CommitLogFaults ? faults : undefined;
    const fail = (err: CommitLogError): void => this.fail(err);
    const kickPump = (): void => this.pump.kick();
    this.state = new LogState(settings.cacheBytesMax);
    this.io = new DiskIo(faults, observer);
    this.files = new StoreFiles(settings, this.dirty, new SegmentRecycler(settings, (point) => testFaults?.reached(point) ?? false));
    this.sealer = new CrcSealer((msg, fields) => settings.log('warn', msg, fields), testFaults);
    this.queue = new ChunkQueue(settings, this.state, this.sealer, () => {
      if (this.state.lifecycle !== 'closed') kickPump();
    });
    this.flusher = new Flusher(settings, this.state, this.files, this.dirty, checkpoint, this.waiters, this.io, fail, kickPump);
    this.pump = new WritePump(settings, this.state, this.files, this.queue, this.flusher, this.dirty, this.waiters, this.io, fail);
    this.reader = new LogReader(this.state, this.files, settings.indexPerFile);
    this.truncation = new Truncation(settings, this.state, this.files, this.reader, this.queue, this.pump, this.flusher, this.waiters, this.io, {
      checkWritable: (op) => this.checkWritable(op),
      fail,
    });
    testFaults?.onCrash(() => this.crash());
  }

  static async open(options: CommitLogOptions): Promise<FileCommitLog> {
    const settings = resolveOptions(options);
    fs.mkdirSync(settings.dataDir, { recursive: true });
    fs.mkdirSync(settings.indexDir, { recursive: true });
    const lock = acquireLock(settings.dir);
    let log: FileCommitLog | null = null;
    try {
      const { checkpoint } = Checkpoint.open(settings.dir);
      log = new FileCommitLog(settings, lock, checkpoint, options.faults, options.observer);
      new Recovery(settings, log.state, log.files, log.reader, log.dirty).recover(checkpoint.state);
      await log.flusher.syncAfterRecovery();
    } catch (err) {
      log?.closeAllFiles();
      lock.release();
      if (log !== null) log.state.lifecycle = 'closed';
      throw err;
    }
    log.state.lifecycle = 'open';
    if (settings.mode === 'ASYNC_FLUSH') {
      const state = log.state;
      const flusher = log.flusher;
      log.timer = setInterval(() => {
        if (state.written > state.flushed) flusher.request();
      }, settings.flushIntervalMs);
      log.timer.unref();
    }
    return log;
  }

  // ---------------------------------------------------------------- public API

  firstIndex(): number {
    return this.state.first;
  }

  lastIndex(): number {
    return this.state.last;
  }

  flushedIndex(): number {
    return this.state.flushed;
  }

  get appendsDurable(): boolean {
    return this.settings.mode === 'SYNC_FLUSH';
  }

  stats(): CommitLogStats {
    return {
      appendCalls: this.state.appendCalls,
      recordsAppended: this.state.recordsAppended,
      bytesWritten: this.io.bytesWritten,
      writeCalls: this.io.writeCalls,
      flushRounds: this.state.flushRounds,
      fdatasyncCalls: this.io.fdatasyncCalls,
      directWrites: this.io.directWrites,
      segmentCount: this.files.segments.length,
      segmentBytes: this.files.segments.reduce((sum, seg) => sum + seg.size, 0),
      segmentsRecycled: this.files.segmentsRecycled,
      recycledFiles: this.files.recycler.size,
    };
  }

  /** Bytes of the log after record `index` as the files lay them out (records, and the padding
   *  and segment ends between them): what a follower whose match index is `index` lacks. */
  bytesAfter(index: number): number {
    this.checkReadable();
    return this.reader.bytesAfter(index);
  }

  termAt(index: number): number {
    this.checkReadable();
    const { state } = this;
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new CommitLogError('INVALID_ARGUMENT', `termAt: index must be a non-negative integer, not ${index}`);
    }
    if (index === 0) return 0;
    if (index === state.first - 1) return state.prevTerm;
    if (index < state.first) {
      throw new CommitLogError('COMPACTED', `termAt(${index}): below the first index ${state.first}`);
    }
    if (index > state.last) {
      throw new CommitLogError('INVALID_ARGUMENT', `termAt(${index}): beyond the last index ${state.last}`);
    }
    return state.runs.termOf(index);
  }

  append(records: readonly LogRecord[]): Promise<void> {
    const refusal = this.checkWritable('append');
    if (refusal !== null) return Promise.reject(refusal);
    if (this.truncatesPending > 0) {
      return Promise.reject(new CommitLogError('INVALID_ARGUMENT', 'append while truncateAfter is in progress'));
    }
    if (!Array.isArray(records)) {
      return Promise.reject(new CommitLogError('INVALID_ARGUMENT', 'append: records must be an array'));
    }
    if (records.length === 0) return Promise.resolve();
    if (records.length > APPEND_RECORDS_MAX) {
      return Promise.reject(
        new CommitLogError('INVALID_ARGUMENT', `append: ${records.length} records in one batch (max ${APPEND_RECORDS_MAX})`),
      );
    }
    const { state } = this;
    let term = state.lastTerm();
    for (let k = 0; k < records.length; k++) {
      const r = records[k];
      const problem = recordProblem(r, state.last + 1 + k, term, this.settings.segmentBytes);
      if (problem !== null) return Promise.reject(new CommitLogError('INVALID_ARGUMENT', `append: ${problem}`));
      term = r.term;
    }
    this.queue.accept(records);
    state.appendCalls++;
    state.recordsAppended += records.length;
    const done = this.waiters.waitAppend(state.last);
    this.pump.kick();
    return done;
  }

  writeNow(): void {
    if (this.state.lifecycle !== 'open') return;
    this.pump.writeNow();
  }

  read(fromIndex: number, maxBytes: number): LogRecord[] {
    this.checkReadable();
    if (!Number.isSafeInteger(fromIndex) || fromIndex < 1) {
      throw new CommitLogError('INVALID_ARGUMENT', `read: fromIndex must be a positive integer, not ${fromIndex}`);
    }
    if (typeof maxBytes !== 'number' || Number.isNaN(maxBytes) || maxBytes < 0) {
      throw new CommitLogError('INVALID_ARGUMENT', `read: maxBytes must be a non-negative number, not ${maxBytes}`);
    }
    if (fromIndex < this.state.first) {
      throw new CommitLogError('COMPACTED', `read(${fromIndex}): below the first index ${this.state.first}`);
    }
    return this.reader.read(fromIndex, maxBytes);
  }

  truncateAfter(index: number): Promise<void> {
    const refusal = this.checkWritable('truncateAfter');
    if (refusal !== null) return Promise.reject(refusal);
    if (!Number.isSafeInteger(index) || index < 0) {
      return Promise.reject(new CommitLogError('INVALID_ARGUMENT', `truncateAfter: bad index ${index}`));
    }
    if (index < this.state.first - 1) {
      return Promise.reject(
        new CommitLogError('COMPACTED', `truncateAfter(${index}): below the retention point ${this.state.first - 1}`),
      );
    }
    // From this call until it is done, appends are refused (they would race the cut).
    this.truncatesPending++;
    return this.exclusive(() => this.truncation.truncateAfter(index)).finally(() => {
      this.truncatesPending--;
    });
  }

  deleteBefore(index: number): Promise<void> {
    const refusal = this.checkWritable('deleteBefore');
    if (refusal !== null) return Promise.reject(refusal);
    if (!Number.isSafeInteger(index) || index < 0) {
      return Promise.reject(new CommitLogError('INVALID_ARGUMENT', `deleteBefore: bad index ${index}`));
    }
    return this.exclusive(() => this.truncation.deleteBefore(index));
  }

  restartAt(first: number, prevTerm: number): Promise<void> {
    const refusal = this.checkWritable('restartAt');
    if (refusal !== null) return Promise.reject(refusal);
    if (!Number.isSafeInteger(first) || first < 1 || !Number.isSafeInteger(prevTerm) || prevTerm < 0 || (first === 1 && prevTerm !== 0)) {
      return Promise.reject(new CommitLogError('INVALID_ARGUMENT', `restartAt(${first}, ${prevTerm}): bad index or term`));
    }
    this.truncatesPending++;
    return this.exclusive(async () => {
      if (this.state.last >= this.state.first) await this.truncation.truncateAfter(this.state.first - 1);
      await this.truncation.restartAt(first, prevTerm);
    }).finally(() => {
      this.truncatesPending--;
    });
  }

  flush(): Promise<void> {
    const refusal = this.checkWritable('flush');
    if (refusal !== null) return Promise.reject(refusal);
    return this.flusher.flushAll();
  }

  close(): Promise<void> {
    if (this.closePromise === null) this.closePromise = this.closeNow();
    return this.closePromise;
  }

  // ---------------------------------------------------------------- lifecycle

  private exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.opChain.then(fn);
    this.opChain = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /** The store fails: writes are refused from now on and every waiter is rejected. */
  private fail(err: CommitLogError): void {
    const { state } = this;
    if (state.failed === null) {
      state.failed = err;
      this.settings.log('error', 'commitlog failed; writes are refused from now on, reads still work', {
        code: err.code,
        message: err.message,
      });
    }
    this.waiters.rejectAbove(state.failed, -1);
  }

  private async closeNow(): Promise<void> {
    const { state, files, flusher } = this;
    if (state.lifecycle === 'closed') return;
    state.lifecycle = 'closing';
    await this.opChain;
    if (state.failed === null) {
      try {
        await flusher.flushAll();
        await flusher.syncLazy();
      } catch {
        // failed: reported to the waiters already
      }
    }
    if (state.failed === null) {
      // Clean close: the last segment's file ends at its last record (the layout of every closed
      // segment). If that fails, the preallocated zeros stay: recovery reads them as the clean end.
      const cur = files.lastSegment();
      try {
        if (cur !== undefined && files.shrinkToWritten(cur)) await this.io.fdatasync(cur.fd);
      } catch (err) {
        this.settings.log('warn', 'could not cut the last segment back to its records on close', { file: cur?.path, error: String(err) });
      }
    }
    // A failed store may still have a write in flight: its fd must not be closed under it.
    while (this.pump.writing() || flusher.busy()) {
      await this.pump.idle();
      await flusher.idle();
    }
    if (this.timer !== null) clearInterval(this.timer);
    if (state.failed === null) {
      try {
        await flusher.writeCheckpointNow();
      } catch (err) {
        this.settings.log('error', 'could not write the checkpoint on close', { error: String(err) });
      }
    }
    this.waiters.rejectAbove(new CommitLogError('STORE_CLOSED', `store ${this.settings.dir} is closed`), -1);
    this.closeAllFiles();
    this.lock.release();
    state.lifecycle = 'closed';
    await this.sealer.close();
  }

  /** A process crash at a quiet moment (CommitLogFaults.crash, tests only): once the pump and the
   *  flush loop are idle, every file is closed and the lock released without a flush or a
   *  checkpoint. */
  private async crash(): Promise<CrashInfo> {
    const { state } = this;
    while (this.pump.busy() || this.flusher.busy()) {
      await this.flusher.idle();
      await new Promise((r) => setImmediate(r));
    }
    if (this.timer !== null) clearInterval(this.timer);
    const seg = this.files.lastSegment();
    const info: CrashInfo = {
      flushedPos: state.flushedPos,
      flushedIndex: state.flushed,
      lastSegmentPath: seg === undefined ? null : seg.path,
      lastSegmentStart: seg === undefined ? 0 : seg.start,
      lastSegmentWrittenBytes: seg === undefined ? 0 : seg.size,
      lastSegmentFirstIndex: seg === undefined || seg.firstIndex === 0 ? state.first : seg.firstIndex,
    };
    state.lifecycle = 'closed';
    this.closePromise = Promise.resolve();
    this.waiters.rejectAbove(new CommitLogError('STORE_CLOSED', 'crashed (test)'), -1);
    this.closeAllFiles();
    this.lock.release();
    await this.sealer.close();
    return info;
  }

  private closeAllFiles(): void {
    this.files.closeAll();
    closeQuietly(this.checkpoint.fd);
  }

  private checkReadable(): void {
    const { lifecycle } = this.state;
    if (lifecycle !== 'open' && lifecycle !== 'closing') {
      throw new CommitLogError('STORE_CLOSED', `store ${this.settings.dir} is ${lifecycle}`);
    }
  }

  private checkWritable(op: string): CommitLogError | null {
    const { lifecycle, failed } = this.state;
    if (lifecycle !== 'open') return new CommitLogError('STORE_CLOSED', `${op}: store ${this.settings.dir} is ${lifecycle}`);
    if (failed !== null) {
      return new CommitLogError(failed.code, `${op}: store ${this.settings.dir} failed earlier: ${failed.message}`, {
        cause: failed,
      });
    }
    return null;
  }
}
