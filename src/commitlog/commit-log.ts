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
//    bigger the round. Measured, 256 MiB of 1 KiB appends: 4 MiB rounds 1.4-1.8 ms longest
//    stall, 64 MiB rounds 11-20 ms and ~20% lower throughput; 1-2 MiB no better than 4.)
//
// Recovery and the corruption rule (see recover()): the last segment is re-verified from its start
// (every record: header CRC, body CRC, position, consecutive index, non-decreasing term). A record
// that fails at or after the checkpoint's flushedPos (never acknowledged under SYNC_FLUSH) is a
// torn tail: it and everything after it are cut, with a warning; zeros where the next header would
// be are the clean end of a preallocated file (cut the same way, no warning). A record that fails before
// flushedPos, or anywhere in an earlier segment, is STORE_CORRUPT (file + byte offset): the store
// does not open. Reads verify every record they take from disk too.
import fs from 'node:fs';
import { Checkpoint } from './checkpoint.ts';
import { CrcSealer } from './crc-sealer.ts';
import { EncodeArena, type ArenaBlock } from './encode-arena.ts';
import { CommitLogFaults, type CrashInfo } from './faults.ts';
import { DirtyFiles } from './dirty-files.ts';
import { CommitLogError, assert, writeError } from './errors.ts';
import { Flusher } from './flusher.ts';
import { DiskIo } from './io.ts';
import { DIRECT_ALIGN, alignedBuffer, type DirectWriter } from './direct-writer.ts';
import { StoreFiles, closeDirect, closeQuietly, type IndexFile, type Segment } from './files.ts';
import { acquireLock, type StoreLock } from './lock.ts';
import { LogState } from './log-state.ts';
import { resolveOptions, type StoreSettings } from './options.ts';
import { LogReader } from './reader.ts';
import { Recovery } from './recovery.ts';
import {
  INDEX_ENTRY_SIZE,
  RECORD_BODY_BYTES_MAX,
  RECORD_HEADER_SIZE,
  encodeIndexEntry,
  encodeRecord,
  encodeUnsealedRecord,
} from './record.ts';
import { trace, tracing } from '../trace/trace.ts';
import type { CommitLog, CommitLogOptions, CommitLogStats, FlushDiskType, LogRecord } from './types.ts';
import { Waiters } from './waiters.ts';

export {
  CACHE_BYTES_DEFAULT,
  FLUSH_INTERVAL_MS_DEFAULT,
  FLUSH_LEAST_BYTES_DEFAULT,
  INDEX_ENTRIES_PER_FILE_DEFAULT,
  SEGMENT_BYTES_DEFAULT,
} from './options.ts';

/** Limits (TigerStyle: everything has one). */
const APPEND_RECORDS_MAX = 65536;
/** Encoding buffers: a few turns' worth of batches; a larger batch gets a buffer of its own. */
const DATA_ARENA_BYTES = 8 * 1024 * 1024;
const INDEX_ARENA_BYTES = 256 * 1024;
/** Full encoding blocks kept for reuse while their chunks are still being sealed or written. */
const ARENA_SPARES_MAX = 2;
/**
 * Data writes. The pump joins pending chunks into one write of at most WRITE_BYTES_MAX (a single
 * larger chunk is written alone). A write up to WRITE_ON_MAIN_THREAD_BYTES_MAX is made on the main
 * thread; a larger one (only a single huge batch) on libuv's thread pool, so the event loop is not
 * blocked for milliseconds. Measured on this machine (2 cores, ext4, 6 GiB of 1 KiB entries in
 * 137 KB batches, 8 appends in flight, fdatasync every 4 MiB): main-thread writes of <= 256 KiB
 * ~1000-1100 MB/s; 512 KiB ~820, 1 MiB ~700 (per byte, larger writes into a file that the flush
 * rounds keep writing back cost more); the same 137 KB writes on the thread pool ~500-800 MB/s and
 * ~1.8 instead of ~1.1 CPU-s per GiB (the copy on another core, thread hand-offs): on two cores
 * there is no idle core for the overlap to use.
 */
const WRITE_BYTES_MAX = 256 * 1024;
const WRITE_ON_MAIN_THREAD_BYTES_MAX = 1024 * 1024;
/** The aligned staging buffer of direct writes (one write in flight per log). The pump joins
 *  pending chunks into one direct write of at most this less a block (the rewritten tail); a
 *  single larger chunk goes out in pieces of this size. */
const DIRECT_STAGING_BYTES = 1024 * 1024;

/** One batch (or the part of it in one segment), encoded, accepted but not yet written. */
interface Chunk {
  readonly segStart: number;
  readonly data: Buffer;
  readonly index: Buffer;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly endPos: number;
  /** Where `data` and `index` live (released once the chunk is written or dropped). */
  readonly dataBlock: ArenaBlock;
  readonly indexBlock: ArenaBlock;
  /** CRCs filled in (at accept, or by the CRC worker since): the pump may write it. */
  sealed: boolean;
  /** Dropped unwritten (a failed write) while the CRC worker still had it. */
  dropped: boolean;
  released: boolean;
}

export class FileCommitLog implements CommitLog {
  private readonly dataDir: string;
  private readonly indexDir: string;
  private readonly segmentBytes: number;
  private readonly indexPerFile: number;
  private readonly mode: FlushDiskType;
  private readonly flushIntervalMs: number;
  private readonly flushLeastBytes: number;
  /** Data writes go through DirectWriter (turned off for good if the filesystem refuses it). */
  private useDirect: boolean;
  private staging: Buffer | null = null;
  private readonly io: DiskIo;
  private readonly logFn: NonNullable<CommitLogOptions['log']>;

  private readonly dirty = new DirtyFiles();
  /** Segment and index files (files.ts). */
  private readonly files: StoreFiles;
  private readonly reader: LogReader;
  /** fdatasync rounds, the checkpoint, lazy syncs (flusher.ts). */
  private readonly flusher: Flusher;

  /** Indexes, positions, term runs and recent records (log-state.ts). */
  private readonly state: LogState;
  private readonly waiters = new Waiters();

  private pending: Chunk[] = [];
  private pendingHead = 0;
  /** Seals (CRCs) large batches on a worker thread: crc-sealer.ts. */
  private readonly sealer: CrcSealer;
  private readonly crcOffloadMinBytes: number;
  /** Where pending chunks are encoded (encode-arena.ts): shared memory while batches may go to
   *  the CRC worker (it writes their CRCs in place). */
  private readonly dataArena: EncodeArena;
  private readonly indexArena = new EncodeArena(INDEX_ARENA_BYTES, ARENA_SPARES_MAX, () => false);

  private pumpScheduled = false;
  /** The pump runs: at most one data write (and the index write after it) is in flight. */
  private pumping = false;
  private pumpIdleWaiters: (() => void)[] = [];
  /** truncateAfter called and not done: appends are refused (the caller serializes them). */
  private truncatesPending = 0;
  private opChain: Promise<void> = Promise.resolve();
  private closePromise: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly dir: string,
    settings: StoreSettings,
    private readonly lock: StoreLock,
    private readonly checkpoint: Checkpoint,
    faultOptions: CommitLogOptions['faults'],
  ) {
    this.dataDir = settings.dataDir;
    this.indexDir = settings.indexDir;
    this.segmentBytes = settings.segmentBytes;
    this.indexPerFile = settings.indexPerFile;
    this.mode = settings.mode;
    this.flushIntervalMs = settings.flushIntervalMs;
    this.flushLeastBytes = settings.flushLeastBytes;
    this.useDirect = settings.directIo;
    this.io = new DiskIo(faultOptions);
    this.logFn = settings.log;
    this.crcOffloadMinBytes = settings.crcOffloadMinBytes;
    this.state = new LogState(settings.cacheBytesMax);
    this.files = new StoreFiles(settings, this.dirty);
    this.reader = new LogReader(this.state, this.files, settings.indexPerFile);
    this.flusher = new Flusher(settings, this.state, this.files, this.dirty, checkpoint, this.waiters, this.io, (err) => this.fail(err), () =>
      this.kickPump(),
    );
    const faults = faultOptions instanceof CommitLogFaults ? faultOptions : undefined;
    this.sealer = new CrcSealer((msg, fields) => this.logFn('warn', msg, fields), faults);
    faults?.onCrash(() => this.crash());
    this.dataArena = new EncodeArena(DATA_ARENA_BYTES, ARENA_SPARES_MAX, () => this.crcOffloadMinBytes > 0 && this.sealer.usable(), (old) =>
      this.sealer.forget(old),
    );
  }

  static async open(options: CommitLogOptions): Promise<FileCommitLog> {
    const settings = resolveOptions(options);
    fs.mkdirSync(settings.dataDir, { recursive: true });
    fs.mkdirSync(settings.indexDir, { recursive: true });
    const lock = acquireLock(settings.dir, (msg, fields) => settings.log('warn', msg, fields));
    let log: FileCommitLog | null = null;
    try {
      const { checkpoint } = Checkpoint.open(settings.dir);
      log = new FileCommitLog(settings.dir, settings, lock, checkpoint, options.faults);
      new Recovery(settings, log.state, log.files, log.reader, log.dirty).recover(checkpoint.state);
      await log.flusher.syncAfterRecovery();
    } catch (err) {
      log?.closeAllFiles();
      lock.release();
      if (log !== null) log.state.lifecycle = 'closed';
      throw err;
    }
    log.state.lifecycle = 'open';
    if (log.mode === 'ASYNC_FLUSH') {
      log.timer = setInterval(() => {
        if (log.state.written > log.state.flushed) log.flusher.request();
      }, log.flushIntervalMs);
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

  stats(): CommitLogStats {
    return {
      appendCalls: this.state.appendCalls,
      recordsAppended: this.state.recordsAppended,
      bytesWritten: this.io.bytesWritten,
      writeCalls: this.io.writeCalls,
      flushRounds: this.state.flushRounds,
      fdatasyncCalls: this.io.fdatasyncCalls,
      directWrites: this.io.directWrites,
    };
  }

  termAt(index: number): number {
    this.checkReadable();
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new CommitLogError('INVALID_ARGUMENT', `termAt: index must be a non-negative integer, not ${index}`);
    }
    if (index === 0) return 0;
    if (index === this.state.first - 1) return this.state.prevTerm;
    if (index < this.state.first) {
      throw new CommitLogError('COMPACTED', `termAt(${index}): below the first index ${this.state.first}`);
    }
    if (index > this.state.last) {
      throw new CommitLogError('INVALID_ARGUMENT', `termAt(${index}): beyond the last index ${this.state.last}`);
    }
    return this.state.runs.termOf(index);
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
    let term = this.state.lastTerm();
    for (let k = 0; k < records.length; k++) {
      const r = records[k];
      const problem = this.recordProblem(r, this.state.last + 1 + k, term);
      if (problem !== null) return Promise.reject(new CommitLogError('INVALID_ARGUMENT', `append: ${problem}`));
      term = r.term;
    }
    this.accept(records);
    this.state.appendCalls++;
    this.state.recordsAppended += records.length;
    const done = this.waiters.waitAppend(this.state.last);
    this.kickPump();
    return done;
  }

  writeNow(): void {
    if (this.state.lifecycle !== 'open' || this.pumping || this.state.failed !== null) return;
    // The pump a turn's appends scheduled finds nothing left when it runs.
    if (this.pendingHead < this.pending.length && this.pending[this.pendingHead].sealed) void this.runPump();
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
    return this.exclusive(() => this.truncateAfterNow(index)).finally(() => {
      this.truncatesPending--;
    });
  }

  deleteBefore(index: number): Promise<void> {
    const refusal = this.checkWritable('deleteBefore');
    if (refusal !== null) return Promise.reject(refusal);
    if (!Number.isSafeInteger(index) || index < 0) {
      return Promise.reject(new CommitLogError('INVALID_ARGUMENT', `deleteBefore: bad index ${index}`));
    }
    return this.exclusive(() => this.deleteBeforeNow(index));
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

  /** A process crash at a quiet moment (CommitLogFaults.crash, tests only): once the pump and the
   *  flush loop are idle, every file is closed and the lock released without a flush or a
   *  checkpoint. */
  private async crash(): Promise<CrashInfo> {
    while (this.pumping || this.pumpScheduled || this.flusher.busy()) {
      await this.flusher.idle();
      await new Promise((r) => setImmediate(r));
    }
    if (this.timer !== null) clearInterval(this.timer);
    const seg = this.files.segments[this.files.segments.length - 1];
    const info = {
      flushedPos: this.state.flushedPos,
      flushedIndex: this.state.flushed,
      lastSegmentPath: seg === undefined ? null : seg.path,
      lastSegmentStart: seg === undefined ? 0 : seg.start,
      lastSegmentWrittenBytes: seg === undefined ? 0 : seg.size,
      lastSegmentFirstIndex: seg === undefined || seg.firstIndex === 0 ? this.state.first : seg.firstIndex,
    };
    this.state.lifecycle = 'closed';
    this.closePromise = Promise.resolve();
    this.waiters.rejectAbove(new CommitLogError('STORE_CLOSED', 'crashed (test)'), -1);
    this.closeAllFiles();
    this.lock.release();
    await this.sealer.close();
    return info;
  }

  // ---------------------------------------------------------------- accept and write

  private recordProblem(r: LogRecord, index: number, prevTerm: number): string | null {
    if (r === null || typeof r !== 'object') return `record for index ${index} is not an object`;
    if (r.index !== index) return `record index ${r.index}, expected ${index} (indexes are consecutive from lastIndex() + 1)`;
    if (!Number.isSafeInteger(r.term) || r.term < prevTerm) {
      return `record ${index}: term ${r.term} is not an integer >= the previous term ${prevTerm}`;
    }
    if (!Number.isInteger(r.type) || r.type < 0 || r.type > 255) return `record ${index}: type ${r.type} is not a u8`;
    if (!(r.data instanceof Uint8Array)) return `record ${index}: data is not a Uint8Array`;
    const bodyMax = Math.min(RECORD_BODY_BYTES_MAX, this.segmentBytes - RECORD_HEADER_SIZE);
    if (r.data.byteLength > bodyMax) {
      return `record ${index} of ${r.data.byteLength} bytes does not fit in a segment of ${this.segmentBytes} bytes (largest body ${bodyMax})`;
    }
    return null;
  }

  /** Encodes the batch, gives it positions and makes it visible (lastIndex, read, termAt). */
  private accept(records: readonly LogRecord[]): void {
    let k = 0;
    while (k < records.length) {
      const segStart = this.state.acceptSegStart;
      const segEnd = segStart + this.segmentBytes;
      let bytes = 0;
      let j = k;
      while (j < records.length) {
        const size = RECORD_HEADER_SIZE + records[j].data.byteLength;
        if (this.state.acceptPos + bytes + size > segEnd) break;
        bytes += size;
        j++;
      }
      if (j === k) {
        // Roll: the next record starts the next segment.
        assert(this.state.acceptPos > segStart || this.segmentBytes < RECORD_HEADER_SIZE + records[k].data.byteLength,
          'a record that fits in an empty segment must not roll');
        this.state.acceptSegStart = Math.max(segEnd, this.state.acceptPos);
        this.state.acceptPos = this.state.acceptSegStart;
        continue;
      }
      const dataBlock = this.dataArena.reserve(bytes);
      const indexBlock = this.indexArena.reserve((j - k) * INDEX_ENTRY_SIZE);
      const { buf: data, view: dataView } = dataBlock;
      const { buf: index, view: indexView } = indexBlock;
      const dataStart = dataBlock.used - bytes;
      const indexStart = indexBlock.used - (j - k) * INDEX_ENTRY_SIZE;
      // A large batch is sealed (CRCs) on the worker while the main thread writes what is ahead
      // of it, but only if something is ahead of it (unwritten or being sealed): alone, it would
      // wait for the hand-off with nothing to overlap (measured: one appender awaiting each
      // 137 KB append, ~1,150 MB/s sealing inline, ~640 MB/s on the worker).
      const offload =
        this.crcOffloadMinBytes > 0 &&
        bytes >= this.crcOffloadMinBytes &&
        (this.pendingHead < this.pending.length || this.sealer.outstanding() > 0) &&
        data.buffer instanceof SharedArrayBuffer &&
        this.sealer.available();
      const encode = offload ? encodeUnsealedRecord : encodeRecord;
      let off = dataStart;
      let indexOff = indexStart;
      for (let m = k; m < j; m++) {
        const r = records[m];
        const pos = this.state.acceptPos + off - dataStart;
        const size = encode(data, dataView, off, r.index, r.term, r.type, r.data, pos);
        encodeIndexEntry(index, indexView, indexOff, r.index, pos, r.term, size, r.type);
        off += size;
        indexOff += INDEX_ENTRY_SIZE;
        this.state.remember(r, size - RECORD_HEADER_SIZE);
      }
      assert(off - dataStart === bytes, 'encoded size matches the planned size');
      this.state.acceptPos += bytes;
      const chunk: Chunk = {
        segStart,
        data: data.subarray(dataStart, off),
        index: index.subarray(indexStart, indexOff),
        firstIndex: records[k].index,
        lastIndex: records[j - 1].index,
        endPos: this.state.acceptPos,
        dataBlock,
        indexBlock,
        sealed: !offload,
        dropped: false,
        released: false,
      };
      this.pending.push(chunk);
      if (offload) {
        this.sealer.submit(data, dataStart, off, () => {
          chunk.sealed = true;
          if (chunk.dropped) this.releaseChunk(chunk);
          else if (this.state.lifecycle !== 'closed') this.kickPump();
        });
      }
      k = j;
    }
    this.state.last = records[records.length - 1].index;
  }

  private kickPump(): void {
    if (this.pumpScheduled || this.pumping) return;
    this.pumpScheduled = true;
    // setImmediate, not a microtask: every append of this turn joins the write, and a loop of
    // awaited appends still yields to I/O (fdatasync completions, the flush timer).
    setImmediate(() => void this.runPump());
  }

  /** Writes every accepted chunk: one writev per segment and one per index file per turn. */
  private async runPump(): Promise<void> {
    this.pumpScheduled = false;
    if (this.pumping) return;
    this.pumping = true;
    // A write that waits on the thread pool (every direct write, a huge page-cache one) lets
    // appends join `pending` meanwhile: the chunks pending when a pass starts, or when it last
    // requested a round (up to this index), share one flush round, as one write would; what came
    // since waits for the next round.
    let passLastIndex = this.pending.length > 0 ? this.pending[this.pending.length - 1].lastIndex : 0;
    try {
      while (this.pendingHead < this.pending.length && this.pending[this.pendingHead].sealed && this.state.failed === null) {
        const first = this.pending[this.pendingHead];
        let seg: Segment | undefined = this.files.segments[this.files.segments.length - 1];
        if (seg === undefined || seg.start !== first.segStart) {
          if (seg !== undefined) {
            assert(first.segStart > seg.start, 'segments only move forward');
            // Roll: the current segment must be complete and durable before the next one exists.
            try {
              await this.flusher.waitFlushed(this.state.written);
              await this.flusher.syncLazy();
            } catch {
              break; // the store failed; waiters were rejected
            }
            if (this.pending[this.pendingHead] !== first) continue;
            // The segment stops being the last one: its file ends at its last record again, durably,
            // before the next one exists (recovery reads a non-last segment to its file length).
            try {
              closeDirect(seg);
              if (this.files.shrinkToWritten(seg)) await this.io.fdatasync(seg.fd);
            } catch (err) {
              this.fail(new CommitLogError('IO_ERROR', `could not cut ${seg.path} back to its records at a roll`, { cause: err }));
              break;
            }
            if (this.pending[this.pendingHead] !== first) continue;
          }
          try {
            seg = this.files.createSegment(first.segStart, first.firstIndex);
          } catch (err) {
            this.writeFailed(writeError(err, `creating a segment in ${this.dataDir}`));
            break;
          }
        }
        // One write of what is pending for this segment (at most WRITE_BYTES_MAX, at least one
        // chunk). One data write is in flight at a time (one on the thread pool: appends accepted
        // meanwhile wait in `pending`), so writes complete in file order and `written` moves only
        // over completed ones.
        const bufs: Buffer[] = [];
        let j = this.pendingHead;
        let bytes = 0;
        // A direct write waits for the device, so it takes up to its staging buffer at once.
        const writeMax = this.useDirect ? DIRECT_STAGING_BYTES - DIRECT_ALIGN : WRITE_BYTES_MAX;
        while (
          j < this.pending.length &&
          this.pending[j].sealed &&
          this.pending[j].segStart === seg.start &&
          (j === this.pendingHead || bytes + this.pending[j].data.length <= writeMax)
        ) {
          bytes += this.pending[j].data.length;
          bufs.push(this.pending[j++].data);
        }
        const sizeBefore = seg.size;
        if (sizeBefore === 0) seg.firstIndex = first.firstIndex;
        const indexUndo: { file: IndexFile; size: number }[] = [];
        let direct = false;
        let dataWritten = false;
        try {
          const writer = this.directWriterFor(seg);
          direct = writer !== null;
          if (tracing) trace('log.writeStart', this.pending[j - 1].lastIndex);
          let n: number;
          if (writer !== null) {
            const r = await this.io.writeDirectAt(writer, joinAdjacent(bufs), sizeBefore);
            n = r.bytes;
            if (r.alignedEnd > seg.fileLen) seg.fileLen = r.alignedEnd; // padding past an unaligned segmentBytes
          } else {
            n =
              bytes <= WRITE_ON_MAIN_THREAD_BYTES_MAX
                ? this.io.writevAt(seg.fd, joinAdjacent(bufs), sizeBefore)
                : await this.io.writevAtAsync(seg.fd, joinAdjacent(bufs), sizeBefore);
          }
          dataWritten = true;
          assert(seg.size === sizeBefore && this.files.segments[this.files.segments.length - 1] === seg, 'nothing else wrote the segment meanwhile');
          seg.size += n;
          if (!direct) this.dirty.segmentFds.add(seg.fd); // a direct write (O_DSYNC) is durable when done
          this.writeIndex(this.pendingHead, j, indexUndo);
          for (let m = this.pendingHead; m < j; m++) this.releaseChunk(this.pending[m]);
        } catch (err) {
          this.undoWrite(seg, sizeBefore, indexUndo);
          if (direct && !dataWritten && (err as NodeJS.ErrnoException | null)?.code === 'EINVAL' && this.state.failed === null) {
            // The filesystem took O_DIRECT at open but refuses the writes (alignment, a FUSE or
            // network filesystem): nothing of this write counts yet, so write it again, and every
            // later one, through the page cache.
            this.useDirect = false;
            closeDirect(seg);
            this.logFn('warn', 'direct writes fail with EINVAL here; SYNC_FLUSH writes go through the page cache', { file: seg.path });
            continue;
          }
          this.afterWrite(); // what earlier writes of this pass wrote counts (see below)
          this.writeFailed(writeError(err, `appending to ${seg.path}`));
          break;
        }
        const lastChunk = this.pending[j - 1];
        if (tracing) trace('log.written', lastChunk.lastIndex);
        this.state.written = lastChunk.lastIndex;
        this.state.writtenPos = lastChunk.endPos;
        assert(this.state.writtenPos === seg.start + seg.size, 'written position matches the segment size');
        for (let m = this.pendingHead; m < j; m++) (this.pending as (Chunk | undefined)[])[m] = undefined;
        this.pendingHead = j;
        if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
          this.pending = this.pending.slice(this.pendingHead); // a pump that never runs dry
          this.pendingHead = 0;
        }
        // What is pending for this segment and written next, right here, joins this write's flush
        // round and acknowledgements (one group commit for everything pending, as one write
        // would). A roll, or a write for the thread pool, comes after them.
        const next = this.pendingHead < this.pending.length ? this.pending[this.pendingHead] : undefined;
        const passDone = lastChunk.lastIndex >= passLastIndex;
        if (passDone || next === undefined || !next.sealed || next.segStart !== seg.start || (!direct && next.data.length > WRITE_ON_MAIN_THREAD_BYTES_MAX)) {
          this.afterWrite();
          passLastIndex = this.pending.length > this.pendingHead ? this.pending[this.pending.length - 1].lastIndex : 0;
        }
      }
      if (this.pendingHead >= this.pending.length) this.clearPending();
    } finally {
      this.pumping = false;
      // A chunk still being sealed kicks the pump itself when it is done.
      if (this.pendingHead < this.pending.length && this.pending[this.pendingHead].sealed && this.state.failed === null) this.kickPump();
      const idle = this.pumpIdleWaiters;
      this.pumpIdleWaiters = [];
      for (const f of idle) f();
    }
  }

  /** Resolves once no pump runs (no write in flight). */
  private pumpIdle(): Promise<void> {
    if (!this.pumping) return Promise.resolve();
    return new Promise<void>((resolve) => this.pumpIdleWaiters.push(resolve));
  }

  /** Forgets every chunk (written or dropped): their encoding buffers can be reused. */
  private clearPending(): void {
    // A chunk the CRC worker still has is released once it is sealed: its bytes are not reused
    // before the worker is done writing into them.
    for (let m = this.pendingHead; m < this.pending.length; m++) {
      const c = this.pending[m];
      if (c.sealed) this.releaseChunk(c);
      else c.dropped = true;
    }
    this.pending = [];
    this.pendingHead = 0;
  }

  /** The chunk's encoding bytes may be reused. */
  private releaseChunk(c: Chunk): void {
    if (c.released) return;
    c.released = true;
    this.dataArena.release(c.dataBlock);
    this.indexArena.release(c.indexBlock);
  }

  private writeIndex(from: number, to: number, undo: { file: IndexFile; size: number }[]): void {
    let bufs: Buffer[] = [];
    let fileStart = -1;
    let groupFirst = 0;
    const flushGroup = (): void => {
      if (bufs.length === 0) return;
      const file = this.files.indexFile(fileStart, true);
      assert(file.size === (groupFirst - fileStart) * INDEX_ENTRY_SIZE, `index file ${file.path} has the expected size`);
      undo.push({ file, size: file.size });
      file.size += this.io.writevAt(file.fd, joinAdjacent(bufs), file.size);
      this.dirty.lazyFds.add(file.fd);
      bufs = [];
    };
    for (let m = from; m < to; m++) {
      const chunk = this.pending[m];
      let index = chunk.firstIndex;
      let off = 0;
      while (index <= chunk.lastIndex) {
        const start = this.files.indexFileStart(index);
        const count = Math.min(chunk.lastIndex - index + 1, start + this.indexPerFile - index);
        if (start !== fileStart) {
          flushGroup();
          fileStart = start;
          groupFirst = index;
        }
        bufs.push(chunk.index.subarray(off, off + count * INDEX_ENTRY_SIZE));
        index += count;
        off += count * INDEX_ENTRY_SIZE;
      }
    }
    flushGroup();
  }

  /** A failed write leaves no half record: cut the files back to their sizes before it. */
  private undoWrite(seg: Segment, size: number, indexUndo: { file: IndexFile; size: number }[]): void {
    seg.direct?.forgetTail();
    try {
      fs.ftruncateSync(seg.fd, size);
      seg.size = size;
      // A preallocated file is extended again: the cut part reads as zeros (the clean end).
      if (seg.fileLen > size) fs.ftruncateSync(seg.fd, seg.fileLen);
      else seg.fileLen = size;
      for (const u of indexUndo) {
        fs.ftruncateSync(u.file.fd, u.size);
        u.file.size = u.size;
      }
    } catch (err) {
      this.fail(new CommitLogError('IO_ERROR', `could not cut a failed write back in ${seg.path}`, { cause: err }));
    }
  }

  /** Rolls back every accepted, unwritten record and rejects its append. */
  private writeFailed(err: CommitLogError): void {
    this.logFn('error', 'commitlog write failed; unwritten appends rejected', { code: err.code, message: err.message });
    this.clearPending();
    // A segment created for the failed write holds nothing: remove it.
    const seg = this.files.lastSegment();
    if (seg !== undefined && seg.size === 0 && this.files.segments.length > 1) this.files.dropLastSegment();
    const cur = this.files.segments[this.files.segments.length - 1];
    this.state.acceptSegStart = cur === undefined ? 0 : cur.start;
    this.state.acceptPos = this.state.writtenPos;
    assert(cur === undefined ? this.state.writtenPos === 0 : this.state.writtenPos === cur.start + cur.size, 'rollback position');
    if (cur !== undefined && this.state.failed === null) {
      try {
        this.files.extendActive(cur); // it may have been cut back for a roll that failed
      } catch {
        // not needed for correctness: appends to an unextended segment work (as before)
      }
    }
    this.state.cutMemoryAfter(this.state.written);
    this.waiters.rejectAbove(err, this.state.written);
    if (err.code !== 'DISK_FULL') this.fail(err);
  }

  private afterWrite(): void {
    if (this.mode === 'SYNC_FLUSH') {
      this.flusher.request();
    } else {
      this.waiters.resolveAppends(this.state.written);
      if (this.waiters.hasFlushWaiters() || this.state.writtenPos - this.state.flushedPos >= this.flushLeastBytes) this.flusher.request();
    }
    this.state.cache.evict(this.state.written);
  }

  /** The active segment's direct writer, opened at its first write; null for buffered writes. */
  private directWriterFor(seg: Segment): DirectWriter | null {
    if (!this.useDirect) return null;
    if (seg.direct !== null) return seg.direct;
    this.staging ??= alignedBuffer(DIRECT_STAGING_BYTES);
    const writer = this.io.openDirect(seg.path, seg.fd, this.staging);
    if (writer === null) {
      this.useDirect = false;
      this.logFn('warn', 'the filesystem refuses O_DIRECT; SYNC_FLUSH writes go through the page cache', { dir: this.dataDir });
      return null;
    }
    seg.direct = writer;
    return writer;
  }

  // ---------------------------------------------------------------- flush

  private fail(err: CommitLogError): void {
    if (this.state.failed === null) {
      this.state.failed = err;
      this.logFn('error', 'commitlog failed; writes are refused from now on, reads still work', {
        code: err.code,
        message: err.message,
      });
    }
    this.waiters.rejectAbove(this.state.failed, -1);
  }

  // ---------------------------------------------------------------- truncate, retention, close

  private exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.opChain.then(fn);
    this.opChain = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private async truncateAfterNow(index: number): Promise<void> {
    if (index >= this.state.last) return;
    if (index < this.state.first - 1) throw new CommitLogError('COMPACTED', `truncateAfter(${index}): below ${this.state.first - 1}`);
    this.state.truncating = true;
    try {
      await this.flusher.flushAll();
      await this.flusher.idle();
      await this.pumpIdle();
      const failed = this.checkWritable('truncateAfter');
      if (failed !== null) throw failed;
      assert(this.pendingHead === this.pending.length && this.state.written === this.state.last && this.state.flushed === this.state.last,
        'truncateAfter runs with everything written and flushed');
      const cutIndex = index + 1;
      const cutPos = this.reader.readIndexEntry(cutIndex).position;
      let k = this.files.segmentIndexAt(cutPos);
      assert(k >= 0, `segment of position ${cutPos}`);
      const dropWhole = cutPos === this.files.segments[k].start && k > 0;
      const keep = dropWhole ? k - 1 : k;
      const newEnd = dropWhole ? this.files.segments[keep].start + this.files.segments[keep].size : cutPos;
      // The checkpoint first: flushedPos must never be above the data (recovery would call it corrupt).
      this.state.flushedPos = newEnd;
      this.state.writtenPos = newEnd;
      await this.flusher.writeCheckpointNow();
      this.files.dropSegmentsAfter(keep);
      const cur = this.files.segments[keep];
      cur.direct?.forgetTail();
      if (!dropWhole) this.files.cutSegment(cur, cutPos - cur.start);
      // The kept segment is the active one now: extended again, so the cut part reads as zeros.
      this.files.extendActive(cur);
      k = keep;
      const idxStart = this.files.indexFileStart(cutIndex);
      this.files.dropIndexFiles((start) => start > idxStart);
      const idxFile = this.files.indexFiles.get(idxStart);
      if (idxFile !== undefined) this.files.cutIndexFile(idxFile, (cutIndex - idxStart) * INDEX_ENTRY_SIZE);
      const syncs = [this.io.fsync(cur.fd), this.io.fsyncDir(this.dataDir), this.io.fsyncDir(this.indexDir)];
      if (idxFile !== undefined) syncs.push(this.io.fsync(idxFile.fd));
      await Promise.all(syncs);
      this.state.acceptSegStart = cur.start;
      this.state.acceptPos = newEnd;
      this.state.cutMemoryAfter(index);
      this.state.written = index;
      this.state.flushed = index;
      this.waiters.resolveFlushes(this.state.flushed);
      this.waiters.resolveAllFlushes(); // everything that exists is flushed
    } catch (err) {
      if (err instanceof CommitLogError) throw err;
      const e = writeError(err, `truncating ${this.dir} after ${index}`);
      this.fail(e);
      throw e;
    } finally {
      this.state.truncating = false;
    }
  }

  private async deleteBeforeNow(index: number): Promise<void> {
    // Whole segments only, never the last one: segment s goes if every record in it is < index.
    let k = 0;
    while (k + 1 < this.files.segments.length && this.files.segments[k + 1].firstIndex <= index) k++;
    if (k === 0) return;
    const newFirst = this.files.segments[k].firstIndex;
    assert(newFirst > this.state.first && newFirst <= this.state.written, 'retention keeps written records only');
    // Memory first (reads below newFirst are refused from now on), then the durable retention
    // point, then the files: a crash in between is finished by the next open.
    const prevTerm = this.termAt(newFirst - 1);
    this.state.first = newFirst;
    this.state.prevTerm = prevTerm;
    this.state.runs.dropBefore(newFirst);
    this.state.cache.dropBefore(newFirst);
    await this.flusher.writeCheckpointNow();
    const gone = this.files.dropFirstSegments(k);
    const indexPerFile = this.indexPerFile;
    this.files.dropIndexFiles((start) => start + indexPerFile - 1 < newFirst);
    await Promise.all([this.io.fsyncDir(this.dataDir), this.io.fsyncDir(this.indexDir)]);
    this.logFn('info', 'retention removed segments', { segments: gone.length, firstIndex: newFirst });
  }

  private async closeNow(): Promise<void> {
    if (this.state.lifecycle === 'closed') return;
    this.state.lifecycle = 'closing';
    await this.opChain;
    if (this.state.failed === null) {
      try {
        await this.flusher.flushAll();
        await this.flusher.syncLazy();
      } catch {
        // failed: reported to the waiters already
      }
    }
    if (this.state.failed === null) {
      // Clean close: the last segment's file ends at its last record (the layout of every closed
      // segment). If that fails, the preallocated zeros stay: recovery reads them as the clean end.
      const cur = this.files.segments[this.files.segments.length - 1];
      try {
        if (cur !== undefined && this.files.shrinkToWritten(cur)) await this.io.fdatasync(cur.fd);
      } catch (err) {
        this.logFn('warn', 'could not cut the last segment back to its records on close', { file: cur?.path, error: String(err) });
      }
    }
    // A failed store may still have a write in flight: its fd must not be closed under it.
    while (this.pumping || this.flusher.busy()) {
      await this.pumpIdle();
      await this.flusher.idle();
    }
    if (this.timer !== null) clearInterval(this.timer);
    if (this.state.failed === null) {
      try {
        await this.flusher.writeCheckpointNow();
      } catch (err) {
        this.logFn('error', 'could not write the checkpoint on close', { error: String(err) });
      }
    }
    this.waiters.rejectAbove(new CommitLogError('STORE_CLOSED', `store ${this.dir} is closed`), -1);
    this.closeAllFiles();
    this.lock.release();
    this.state.lifecycle = 'closed';
    await this.sealer.close();
  }

  private closeAllFiles(): void {
    this.files.closeAll();
    closeQuietly(this.checkpoint.fd);
  }

  // ---------------------------------------------------------------- read

  private checkReadable(): void {
    if (this.state.lifecycle !== 'open' && this.state.lifecycle !== 'closing') {
      throw new CommitLogError('STORE_CLOSED', `store ${this.dir} is ${this.state.lifecycle}`);
    }
  }

  private checkWritable(op: string): CommitLogError | null {
    if (this.state.lifecycle !== 'open') return new CommitLogError('STORE_CLOSED', `${op}: store ${this.dir} is ${this.state.lifecycle}`);
    if (this.state.failed !== null) {
      return new CommitLogError(this.state.failed.code, `${op}: store ${this.dir} failed earlier: ${this.state.failed.message}`, {
        cause: this.state.failed,
      });
    }
    return null;
  }

  // ---------------------------------------------------------------- recovery

}

/** `parts` with every run of pieces that lie back to back in one buffer (the arena chunks of one
 *  turn) joined into one: fewer, larger writes. */
function joinAdjacent(parts: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < parts.length) {
    const first = parts[i];
    let end = first.byteOffset + first.length;
    let j = i + 1;
    while (j < parts.length && parts[j].buffer === first.buffer && parts[j].byteOffset === end) end += parts[j++].length;
    out.push(j === i + 1 ? first : Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset));
    i = j;
  }
  return out;
}
