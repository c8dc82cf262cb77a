// The write pump: writes the accepted chunks (chunks.ts) to the segments and index files, in
// file order, one data write in flight at a time, and moves `written` / `writtenPos` over the
// completed ones. The life of an append (accept -> write -> flush) is described in commit-log.ts.
import fs from 'node:fs';
import { trace, tracing } from '../trace/index.ts';
import { assert } from '../util/index.ts';
import type { Chunk, ChunkQueue } from './chunks.ts';
import { DIRECT_ALIGN, alignedBuffer, type DirectWriter } from './direct-writer.ts';
import type { DirtyFiles } from './dirty-files.ts';
import { CommitLogError, writeError } from './errors.ts';
import { closeDirect, type IndexFile, type Segment, type StoreFiles } from './files.ts';
import type { Flusher } from './flusher.ts';
import type { DiskIo } from './io.ts';
import type { LogState } from './log-state.ts';
import type { StoreSettings } from './options.ts';
import { INDEX_ENTRY_SIZE } from './record.ts';
import type { Waiters } from './waiters.ts';

/**
 * Data writes. The pump joins pending chunks into one write of at most WRITE_BYTES_MAX (a single
 * larger chunk is written alone). A write up to WRITE_ON_MAIN_THREAD_BYTES_MAX is made on the main
 * thread; a larger one (only a single huge batch) on libuv's thread pool, so the event loop is not
 * blocked for milliseconds. Larger main-thread writes cost more per byte (into a file the flush
 * rounds keep writing back), and thread-pool writes of ordinary batches cost more CPU per byte (the
 * copy on another core, thread hand-offs) with no idle core to overlap on two cores
 * (`npm run bench:commitlog` shows both).
 */
const WRITE_BYTES_MAX = 256 * 1024;
const WRITE_ON_MAIN_THREAD_BYTES_MAX = 1024 * 1024;
/** The aligned staging buffer of direct writes (one write in flight per log). The pump joins
 *  pending chunks into one direct write of at most this less a block (the rewritten tail); a
 *  single larger chunk goes out in pieces of this size. */
const DIRECT_STAGING_BYTES = 1024 * 1024;

/** An index file and its size before a write: what undoing the write cuts it back to. */
interface IndexUndo {
  readonly file: IndexFile;
  readonly size: number;
}

/** Chunks [headPos, end) of the queue, `bytes` of records, to be written with one write. */
interface WriteBatch {
  readonly bufs: Buffer[];
  readonly end: number;
  readonly bytes: number;
}

export class WritePump {
  private scheduled = false;
  /** The pump runs: at most one data write (and the index write after it) is in flight. */
  private running = false;
  /** A DISK_FULL was logged and no write has succeeded since: a writer that retries until there
   *  is space (the replica does) gets one line, not one per try. */
  private diskFullLogged = false;
  private idleWaiters: (() => void)[] = [];
  /** The chunks pending when a pass starts, or when it last requested a flush round (up to this
   *  index), share one flush round, as one write would; what came since waits for the next one. */
  private passLastIndex = 0;
  /** Data writes go through DirectWriter (turned off for good if the filesystem refuses it). */
  private useDirect: boolean;
  private staging: Buffer | null = null;
  private readonly zeroBlock = Buffer.alloc(DIRECT_ALIGN);

  constructor(
    private readonly settings: StoreSettings,
    private readonly state: LogState,
    private readonly files: StoreFiles,
    private readonly queue: ChunkQueue,
    private readonly flusher: Pick<Flusher, 'request' | 'waitFlushed' | 'syncLazy'>,
    private readonly dirty: DirtyFiles,
    private readonly waiters: Pick<Waiters, 'resolveAppends' | 'hasFlushWaiters' | 'rejectAbove'>,
    private readonly io: DiskIo,
    private readonly fail: (err: CommitLogError) => void,
  ) {
    this.useDirect = settings.directIo;
  }

  /** A write pass is scheduled or running. */
  busy(): boolean {
    return this.running || this.scheduled;
  }

  /** A write pass runs (a write may be in flight). */
  writing(): boolean {
    return this.running;
  }

  kick(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every append of this turn joins the write, and a loop of
    // awaited appends still yields to I/O (fdatasync completions, the flush timer).
    setImmediate(() => void this.run());
  }

  /** Writes what is pending now, if nothing is in flight (CommitLog.writeNow). */
  writeNow(): void {
    if (this.running || this.state.failed !== null) return;
    // The pump a turn's appends scheduled finds nothing left when it runs.
    if (this.queue.headSealed()) void this.run();
  }

  /** Resolves once no pass runs (no write in flight). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Writes every sealed chunk: one write per segment of what is pending (up to the write limit)
   * and one per index file. Synchronous between the waits it needs (a roll, a write on the thread
   * pool): an await on the synchronous path would let appends made meanwhile join this pass and
   * change its batching.
   */
  private async run(): Promise<void> {
    this.scheduled = false;
    if (this.running) return;
    this.running = true;
    const { queue, state } = this;
    this.passLastIndex = queue.lastQueuedIndex();
    try {
      while (queue.headSealed() && state.failed === null) {
        const first = queue.head() as Chunk;
        let seg = this.files.lastSegment();
        if (seg === undefined || seg.start !== first.segStart) {
          if (seg !== undefined) {
            const rolled = await this.roll(seg, first);
            if (rolled === 'stop') break;
            if (rolled === 'again') continue;
          }
          const created = this.newSegment(first);
          if (created === null) break;
          seg = created;
        }
        const batch = this.gather(seg);
        const sizeBefore = seg.size;
        if (sizeBefore === 0) seg.firstIndex = first.firstIndex;
        const indexUndo: IndexUndo[] = [];
        let writer: DirectWriter | null = null;
        let dataWritten = false;
        try {
          writer = this.directWriterFor(seg);
          if (tracing) trace('log.writeStart', queue.at(batch.end - 1).lastIndex);
          const w = this.writeData(seg, writer, batch);
          const n = typeof w === 'number' ? w : await w;
          dataWritten = true;
          this.recordWrite(seg, sizeBefore, n, writer !== null, batch, indexUndo);
        } catch (err) {
          if (this.writeError(seg, sizeBefore, indexUndo, writer !== null && !dataWritten, err) === 'again') continue;
          break;
        }
        this.markWritten(seg, batch.end, writer !== null);
      }
      if (queue.isEmpty()) queue.clear();
    } finally {
      this.running = false;
      // A chunk still being sealed kicks the pump itself when it is done.
      if (queue.headSealed() && state.failed === null) this.kick();
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of idle) f();
    }
  }

  /**
   * The next chunk starts a new segment: the current one must be complete and durable, and its
   * file end at its last record again, before the next one exists (recovery reads a non-last
   * segment to its file length and treats any bad byte in it as corruption). 'again': the queue
   * changed meanwhile (a failed write dropped it), look again; 'stop': the store failed.
   */
  private async roll(seg: Segment, first: Chunk): Promise<'done' | 'again' | 'stop'> {
    assert(first.segStart > seg.start, 'segments only move forward');
    try {
      await this.flusher.waitFlushed(this.state.written);
      await this.flusher.syncLazy();
    } catch {
      return 'stop'; // the store failed; waiters were rejected
    }
    if (this.queue.head() !== first) return 'again';
    try {
      closeDirect(seg);
      if (this.files.shrinkToWritten(seg)) await this.io.fdatasync(seg.fd);
    } catch (err) {
      this.fail(new CommitLogError('IO_ERROR', `could not cut ${seg.path} back to its records at a roll`, { cause: err }));
      return 'stop';
    }
    // A recycled file for the next segment: renamed to its name, durably, before the first write.
    if (this.files.recycler.size > 0) {
      try {
        await this.files.recycler.prepare(first.segStart, this.io);
      } catch (err) {
        this.fail(new CommitLogError('IO_ERROR', `could not reuse a recycled segment file in ${this.settings.dataDir}`, { cause: err }));
        return 'stop';
      }
    }
    return this.queue.head() !== first ? 'again' : 'done';
  }

  /** The segment `first` starts; null if it cannot be created (its appends are rejected). */
  private newSegment(first: Chunk): Segment | null {
    try {
      return this.files.createSegment(first.segStart, first.firstIndex);
    } catch (err) {
      this.writeFailed(writeError(err, `creating a segment in ${this.settings.dataDir}`));
      return null;
    }
  }

  /** What is pending for `seg` and sealed, for one write (at most the write limit, at least one
   *  chunk). */
  private gather(seg: Segment): WriteBatch {
    const { queue } = this;
    const bufs: Buffer[] = [];
    let j = queue.headPos;
    let bytes = 0;
    // A direct write waits for the device, so it takes up to its staging buffer at once.
    const writeMax = this.useDirect ? DIRECT_STAGING_BYTES - DIRECT_ALIGN : WRITE_BYTES_MAX;
    while (j < queue.endPos) {
      const c = queue.at(j);
      if (!c.sealed || c.segStart !== seg.start || (j !== queue.headPos && bytes + c.data.length > writeMax)) break;
      bytes += c.data.length;
      bufs.push(c.data);
      j++;
    }
    return { bufs, end: j, bytes };
  }

  /** Writes the batch after `seg`'s records: a number when done now (a page-cache write on this
   *  thread), a promise when it waits on the thread pool (a direct write, a huge one). */
  private writeData(seg: Segment, writer: DirectWriter | null, batch: WriteBatch): number | Promise<number> {
    const bufs = joinAdjacent(batch.bufs);
    // The first chunk's leading zeros are not written: the write starts at its block boundary and
    // leaves the block before (records already acknowledged) untouched. The file reads zeros there.
    const pad = this.queue.head()!.pad;
    if (pad > 0) bufs[0] = bufs[0]!.subarray(pad);
    const at = seg.size + pad;
    if (writer !== null) {
      return this.io.writeDirectAt(writer, bufs, at).then((r) => {
        if (r.alignedEnd > seg.fileLen) seg.fileLen = r.alignedEnd; // padding past an unaligned segmentBytes
        return pad + r.bytes;
      });
    }
    // In a recycled file the bytes after the records are old ones, not zeros: the zeros up to the
    // next block boundary, where the next append starts, are written with the records (as direct
    // writes do), never later over a block that holds acknowledged records.
    const zeros = seg.recycled && this.settings.alignAppends ? this.zerosToBlockEnd(seg, at + batch.bytes - pad) : 0;
    if (zeros > 0) bufs.push(this.zeroBlock.subarray(0, zeros));
    const n = batch.bytes - pad + zeros <= WRITE_ON_MAIN_THREAD_BYTES_MAX ? this.io.writevAt(seg.fd, bufs, at) : this.io.writevAtAsync(seg.fd, bufs, at);
    return typeof n === 'number' ? pad + n - zeros : n.then((m) => pad + m - zeros);
  }

  /** Zeros from `end` (where a buffered write's records end) to the next block boundary, within
   *  `seg`'s file (an append never starts past its end). */
  private zerosToBlockEnd(seg: Segment, end: number): number {
    const inBlock = end % DIRECT_ALIGN;
    return inBlock === 0 ? 0 : Math.max(0, Math.min(DIRECT_ALIGN - inBlock, seg.fileLen - end));
  }

  /** The data write of `n` bytes completed: the segment grows, the index entries follow. */
  private recordWrite(seg: Segment, sizeBefore: number, n: number, direct: boolean, batch: WriteBatch, indexUndo: IndexUndo[]): void {
    // One data write is in flight at a time, so writes complete in file order.
    assert(seg.size === sizeBefore && this.files.lastSegment() === seg, 'nothing else wrote the segment meanwhile');
    seg.size += n;
    if (!direct) this.dirty.segmentFds.add(seg.fd); // a direct write (O_DSYNC) is durable when done
    this.writeIndex(this.queue.headPos, batch.end, indexUndo);
  }

  /**
   * Chunks before `end` are written: `written` moves over them. What is pending for this segment
   * and written next, right here, joins this write's flush round and acknowledgements (one group
   * commit for everything pending, as one write would); a roll, or a write for the thread pool,
   * comes after them.
   */
  private markWritten(seg: Segment, end: number, direct: boolean): void {
    const { queue, state } = this;
    const lastChunk = queue.at(end - 1);
    if (tracing) trace('log.written', lastChunk.lastIndex);
    state.written = lastChunk.lastIndex;
    state.writtenPos = lastChunk.endPos;
    this.diskFullLogged = false;
    assert(state.writtenPos === seg.start + seg.size, 'written position matches the segment size');
    queue.takeTo(end);
    const next = queue.head();
    const passDone = lastChunk.lastIndex >= this.passLastIndex;
    if (passDone || next === undefined || !next.sealed || next.segStart !== seg.start || (!direct && next.data.length > WRITE_ON_MAIN_THREAD_BYTES_MAX)) {
      this.afterWrite();
      this.passLastIndex = queue.lastQueuedIndex();
    }
  }

  /** A write failed: undone; 'again' if it is to be written once more through the page cache. */
  private writeError(seg: Segment, sizeBefore: number, indexUndo: IndexUndo[], directRefused: boolean, err: unknown): 'again' | 'stop' {
    this.undoWrite(seg, sizeBefore, indexUndo);
    if (directRefused && (err as NodeJS.ErrnoException | null)?.code === 'EINVAL' && this.state.failed === null) {
      // The filesystem took O_DIRECT at open but refuses the writes (alignment, a FUSE or
      // network filesystem): nothing of this write counts yet, so write it again, and every
      // later one, through the page cache.
      this.useDirect = false;
      closeDirect(seg);
      this.settings.log('warn', 'direct writes fail with EINVAL here; SYNC_FLUSH writes go through the page cache', { file: seg.path });
      return 'again';
    }
    this.afterWrite(); // what earlier writes of this pass wrote counts
    this.writeFailed(writeError(err, `appending to ${seg.path}`));
    return 'stop';
  }

  /** Appends the index entries of chunks [from, to): one write per index file. */
  private writeIndex(from: number, to: number, undo: IndexUndo[]): void {
    const indexPerFile = this.settings.indexPerFile;
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
      const chunk = this.queue.at(m);
      let index = chunk.firstIndex;
      let off = 0;
      while (index <= chunk.lastIndex) {
        const start = this.files.indexFileStart(index);
        const count = Math.min(chunk.lastIndex - index + 1, start + indexPerFile - index);
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
  private undoWrite(seg: Segment, size: number, indexUndo: IndexUndo[]): void {
    seg.direct?.forgetTail();
    try {
      fs.ftruncateSync(seg.fd, size);
      seg.size = size;
      // A preallocated file is extended again: the cut part reads as zeros (the clean end).
      if (seg.fileLen > size) fs.ftruncateSync(seg.fd, seg.fileLen);
      else seg.fileLen = size;
      for (const u of indexUndo) this.files.cutIndexFile(u.file, u.size);
    } catch (err) {
      this.fail(new CommitLogError('IO_ERROR', `could not cut a failed write back in ${seg.path}`, { cause: err }));
    }
  }

  /** Rolls back every accepted, unwritten record and rejects its append. */
  private writeFailed(err: CommitLogError): void {
    const { state, files } = this;
    if (err.code !== 'DISK_FULL' || !this.diskFullLogged) {
      this.settings.log('error', 'commitlog write failed; unwritten appends rejected', { code: err.code, message: err.message });
    }
    if (err.code === 'DISK_FULL') {
      this.diskFullLogged = true;
      // The recycled files hold space a full disk needs now.
      const released = files.recycler.release();
      if (released > 0) this.settings.log('warn', 'disk full: removed the recycled segment files', { files: released });
    }
    this.queue.clear();
    // A segment created for the failed write holds nothing: remove it.
    const seg = files.lastSegment();
    if (seg !== undefined && seg.size === 0 && files.segments.length > 1) files.dropLastSegment();
    const cur = files.lastSegment();
    state.acceptSegStart = cur === undefined ? 0 : cur.start;
    state.acceptPos = state.writtenPos;
    assert(cur === undefined ? state.writtenPos === 0 : state.writtenPos === cur.start + cur.size, 'rollback position');
    if (cur !== undefined && state.failed === null) {
      try {
        files.extendActive(cur); // it may have been cut back for a roll that failed
      } catch {
        // not needed for correctness: appends to an unextended segment work (as before)
      }
    }
    state.cutMemoryAfter(state.written);
    this.waiters.rejectAbove(err, state.written);
    if (err.code !== 'DISK_FULL') this.fail(err);
  }

  /** After a write (or the last good one of a pass): SYNC_FLUSH appends wait for a flush round,
   *  ASYNC_FLUSH ones are done; a round starts when one is due. */
  private afterWrite(): void {
    const { state, settings } = this;
    if (settings.mode === 'SYNC_FLUSH') {
      this.flusher.request();
    } else {
      this.waiters.resolveAppends(state.written);
      if (this.waiters.hasFlushWaiters() || state.writtenPos - state.flushedPos >= settings.flushLeastBytes) this.flusher.request();
    }
    state.cache.evict(state.written);
  }

  /** The active segment's direct writer, opened at its first write; null for buffered writes. */
  private directWriterFor(seg: Segment): DirectWriter | null {
    if (!this.useDirect) return null;
    if (seg.direct !== null) return seg.direct;
    this.staging ??= alignedBuffer(DIRECT_STAGING_BYTES);
    const writer = this.io.openDirect(seg.path, seg.fd, this.staging);
    if (writer === null) {
      this.useDirect = false;
      this.settings.log('warn', 'the filesystem refuses O_DIRECT; SYNC_FLUSH writes go through the page cache', { dir: this.settings.dataDir });
      return null;
    }
    seg.direct = writer;
    return writer;
  }
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
