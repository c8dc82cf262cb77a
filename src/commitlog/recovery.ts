// Recovery: rebuilds the log's state in memory from the files at open, verifying the last segment
// (or everything, when the index is incomplete) record by record, cutting a torn tail and
// rewriting index entries that do not match the records. The corruption rule:
//  - a bad record in a segment that is not the last one: STORE_CORRUPT (a segment is complete and
//    fdatasync'd before the next one gets its first byte);
//  - a bad record in the last segment at a position below the checkpoint's flushedPos (it was
//    fdatasync'd): STORE_CORRUPT;
//  - a bad record at or after flushedPos (never acknowledged under SYNC_FLUSH: a torn tail after a
//    crash): cut there, with a warning; a zeroed header there is the clean end of the records (the
//    preallocated rest of the file), and so is an intact header of an older segment (the old bytes
//    of a recycled file, recycler.ts): cut there too (whatever follows is never trusted), no warning;
//  - data ending below flushedPos (flushed bytes missing): STORE_CORRUPT.
// flushedPos may lag (its slot is not synced by every round), so a bad byte in the last moments of
// flushed data before a power cut can be cut as a torn tail rather than reported.
import fs from 'node:fs';
import type { CheckpointState } from './checkpoint.ts';
import { DIRECT_ALIGN } from './direct-writer.ts';
import type { DirtyFiles } from './dirty-files.ts';
import { CommitLogError, corruptError } from './errors.ts';
import type { Segment, StoreFiles } from './files.ts';
import type { LogState } from './log-state.ts';
import type { StoreSettings } from './options.ts';
import type { LogReader } from './reader.ts';
import {
  INDEX_ENTRY_SIZE,
  RECORD_HEADER_SIZE,
  bodyMatches,
  decodeHeader,
  encodeIndexEntry,
  isZero,
  viewOf,
  type IndexEntry,
  type RecordHeader,
} from './record.ts';

const NAME_RE = /^\d{20}$/;
/** Bytes of a segment read at a time while verifying it. */
const SCAN_WINDOW_BYTES = 8 * 1024 * 1024;
/** Index entries rebuilt by a scan are collected in buffers of at least this size. */
const SCAN_ENTRIES_BYTES_MIN = 64 * 1024;
/** Block size of writtenExtent's scan: a run of this many zeros ends the written part. */
const EXTENT_SCAN_BLOCK_BYTES = 1024 * 1024;

/** Where a scan of a segment's records stopped, and what it found. */
interface ScanResult {
  /** Offset of the first byte not verified (the file's record size if all were good). */
  readonly end: number;
  /** Why the record at `end` is bad; null: none is. */
  readonly failure: string | null;
  /** The failure is the clean end of the records: zeros where the next header would be (the
   *  preallocated rest of the file), or an intact header of an older segment (a recycled file's
   *  old bytes: it claims a position below this segment's start). */
  readonly cleanEnd: boolean;
  /** Index entries of the good records. */
  readonly entries: Buffer;
  readonly nextIndex: number;
  readonly lastTerm: number;
}

export class Recovery {
  constructor(
    private readonly settings: StoreSettings,
    private readonly state: LogState,
    private readonly files: StoreFiles,
    private readonly reader: Pick<LogReader, 'readIndexEntry'>,
    private readonly dirty: DirtyFiles,
  ) {}

  /** Opens the files and rebuilds `state` from them and the checkpoint (see the rule above). */
  recover(checkpoint: CheckpointState): void {
    const { state } = this;
    state.first = checkpoint.firstIndex;
    state.prevTerm = checkpoint.prevTerm;
    const flushedPos = checkpoint.flushedPos;
    this.openFiles();
    this.checkFirstRecords(flushedPos);
    this.finishRetention();
    // Pool files were zeroed before they joined the pool, unless a crash came between: again.
    this.files.recycler.loadSync(this.files.segments[0]?.start ?? 0);
    this.scanSegments(flushedPos);
    this.cutStaleIndex();
    this.settleEnd(flushedPos);
  }

  private openFiles(): void {
    const { settings, files } = this;
    for (const name of fs.readdirSync(settings.indexDir).sort()) {
      if (!NAME_RE.test(name)) continue;
      if ((Number(name) - 1) % settings.indexPerFile !== 0) {
        throw new CommitLogError('INVALID_ARGUMENT', `index file ${name} does not match indexEntriesPerFile ${settings.indexPerFile}; open the store with the value it was created with`);
      }
      files.openIndexFile(name);
    }
    for (const name of fs.readdirSync(settings.dataDir).sort()) {
      if (NAME_RE.test(name)) files.openSegment(name);
    }
    // Trailing empty segments (created, nothing written before a crash, or left by a cut).
    this.dropEmptyLastSegments();
  }

  private dropEmptyLastSegments(): void {
    const { files } = this;
    while (files.segments.length > 1 && files.segments[files.segments.length - 1].size === 0) files.dropLastSegment();
  }

  /** Learns each segment's first index from its first record; a bad first record is corruption,
   *  except in the last segment, which goes if it was never flushed. */
  private checkFirstRecords(flushedPos: number): void {
    const { files } = this;
    const header = Buffer.alloc(RECORD_HEADER_SIZE);
    for (let s = 0; s < files.segments.length; s++) {
      const seg = files.segments[s];
      const problem = firstHeaderProblem(seg, header);
      if (problem === null) continue;
      const isLast = s === files.segments.length - 1;
      if (!isLast) throw corruptError(seg.path, 0, problem);
      if (s > 0) {
        // The last segment's very first record is bad: cut the whole segment if never flushed.
        if (seg.start < flushedPos) throw corruptError(seg.path, 0, problem);
        // Zeros: created (and preallocated) before a crash, nothing written: no warning.
        if (!isZero(header, 0, Math.min(RECORD_HEADER_SIZE, seg.size))) {
          this.settings.log('warn', 'cut a torn tail: the last segment has no valid first record', { file: seg.path, bytesCut: writtenExtent(seg.fd, 0, seg.size), reason: problem });
        }
        files.dropLastSegment();
      }
    }
  }

  /** Finishes an interrupted retention (the checkpoint moved, the files were not all removed). */
  private finishRetention(): void {
    const { files, state } = this;
    while (files.segments.length >= 2 && files.segments[1].firstIndex !== 0 && files.segments[1].firstIndex <= state.first) {
      this.settings.log('info', 'removing a segment below the retention point', { file: files.segments[0].path });
      files.retireFirstSegments(1);
    }
    const s0 = files.segments[0];
    if (s0 !== undefined && s0.firstIndex !== 0 && s0.firstIndex !== state.first) {
      throw corruptError(s0.path, 0, `the first record has index ${s0.firstIndex} but the log starts at ${state.first}`);
    }
    const indexPerFile = this.settings.indexPerFile;
    files.dropIndexFiles((start) => start + indexPerFile - 1 < state.first);
  }

  /** Verifies the last segment (every segment if the index does not hold everything before it)
   *  and sets `last` after the last good record. */
  private scanSegments(flushedPos: number): void {
    const { files, state } = this;
    let { scanFrom, expect, prevTerm } = this.scanStart();
    for (let s = scanFrom; s < files.segments.length; s++) {
      const r = this.scanSegment(files.segments[s], expect, prevTerm, s === files.segments.length - 1, flushedPos);
      expect = r.nextIndex;
      prevTerm = r.lastTerm;
    }
    // A last segment cut to nothing goes: the next append continues the previous one.
    this.dropEmptyLastSegments();
    state.last = expect - 1;
    if (state.last < state.first - 1) {
      throw new CommitLogError('STORE_CORRUPT', `store ${this.settings.dir}: log ends at ${state.last} below the retention point ${state.first}`);
    }
  }

  /** Where to start verifying: the last segment, if the index holds everything before it (the
   *  term runs of the records before it are then read from the index). */
  private scanStart(): { scanFrom: number; expect: number; prevTerm: number } {
    const { files, state } = this;
    const scanFrom = Math.max(0, files.segments.length - 1);
    if (scanFrom === 0) return { scanFrom, expect: state.first, prevTerm: state.prevTerm };
    const seg = files.segments[scanFrom];
    try {
      const e = this.reader.readIndexEntry(seg.firstIndex - 1);
      const prevSeg = files.segments[scanFrom - 1];
      if (e.position < prevSeg.start || e.position + e.totalSize > prevSeg.start + prevSeg.size) {
        throw corruptError(files.indexPathOf(files.indexFileStart(seg.firstIndex - 1)), 0, 'entry outside the previous segment');
      }
      verifyRecordAt(prevSeg, e, seg.firstIndex - 1);
      this.runsFromIndex(state.first, seg.firstIndex - 1);
      return { scanFrom, expect: seg.firstIndex, prevTerm: e.term };
    } catch (err) {
      if (!(err instanceof CommitLogError) || err.code !== 'STORE_CORRUPT') throw err;
      this.settings.log('warn', 'the index is incomplete; rebuilding it from the first segment', { reason: err.message });
      state.runs.clear();
      return { scanFrom: 0, expect: state.first, prevTerm: state.prevTerm };
    }
  }

  /** Term runs of [lo, hi] from the index: binary searches for the term changes. */
  private runsFromIndex(lo: number, hi: number): void {
    const { files, reader } = this;
    let index = lo;
    let prev = this.state.prevTerm;
    while (index <= hi) {
      const t = reader.readIndexEntry(index).term;
      if (t < prev) throw corruptError(files.indexPathOf(files.indexFileStart(index)), 0, `term goes down at index ${index}`);
      this.state.runs.add(index, t);
      prev = t;
      let a = index;
      let b = hi + 1; // term(a) === t; b is hi + 1 or an index whose term > t
      while (b - a > 1) {
        const m = Math.floor((a + b) / 2);
        const tm = reader.readIndexEntry(m).term;
        if (tm < t) throw corruptError(files.indexPathOf(files.indexFileStart(m)), 0, `term goes down at index ${m}`);
        if (tm > t) b = m;
        else a = m;
      }
      index = b;
    }
  }

  /** Verifies every record of `seg`, applies the torn-tail rule, and rewrites index entries that
   *  differ from what the records say. */
  private scanSegment(seg: Segment, firstExpected: number, firstPrevTerm: number, isLast: boolean, flushedPos: number): { nextIndex: number; lastTerm: number } {
    const r = this.scanRecords(seg, firstExpected, firstPrevTerm);
    if (r.failure !== null) {
      const off = r.end;
      if (!isLast || seg.start + off < flushedPos) {
        throw corruptError(seg.path, off, `${r.failure} (flushed up to position ${flushedPos}; not a torn tail)`);
      }
      // Zeros after the last record are the clean end of a preallocated file, and an older
      // segment's record that of a recycled one: no warning. Anything else is a torn tail. Either
      // way the file is cut here (and extended again once recovery is done): bytes after the end
      // are never verified, so whatever lies there (records written after a page that never
      // reached the disk, a recycled file's old records) must not be found by a later recovery.
      if (!r.cleanEnd) {
        this.settings.log('warn', 'cut a torn tail', { file: seg.path, offset: off, bytesCut: writtenExtent(seg.fd, off, seg.size), reason: r.failure });
      }
      this.files.cutSegment(seg, off);
    }
    if (seg.size > 0) seg.firstIndex = firstExpected;
    this.syncIndexRange(firstExpected, r.entries);
    return { nextIndex: r.nextIndex, lastTerm: r.lastTerm };
  }

  /** Reads `seg`'s records from its start until the end or the first bad one, learning their
   *  terms and collecting their index entries. */
  private scanRecords(seg: Segment, firstExpected: number, firstPrevTerm: number): ScanResult {
    const win = new ScanWindow(seg);
    const entries = new EntryCollector();
    let expect = firstExpected;
    let prevTerm = firstPrevTerm;
    let off = 0;
    let failure: string | null = null;
    let cleanEnd = false;
    while (off < seg.size) {
      if (off + RECORD_HEADER_SIZE > seg.size) {
        failure = 'record header cut short at the end of the file';
        win.load(off, seg.size - off);
        cleanEnd = win.isZero(off, seg.size);
        break;
      }
      win.load(off, RECORD_HEADER_SIZE);
      const h = decodeHeader(win.buf, win.at(off));
      if (typeof h === 'string') {
        const next = afterPadding(win, seg, off, expect, prevTerm);
        if (next > off) {
          off = next;
          continue;
        }
        failure = h;
        cleanEnd = win.isZero(off, off + RECORD_HEADER_SIZE);
        break;
      }
      failure = headerProblem(h, seg, off, expect, prevTerm);
      if (failure !== null) {
        cleanEnd = h.position < seg.start;
        break;
      }
      win.load(off, h.totalSize);
      if (!bodyMatches(win.buf, win.at(off), h)) {
        failure = `body CRC mismatch in record ${h.index}`;
        break;
      }
      entries.add(h);
      this.state.runs.add(h.index, h.term);
      prevTerm = h.term;
      expect++;
      off += h.totalSize;
    }
    return { end: off, failure, cleanEnd, entries: entries.concat(), nextIndex: expect, lastTerm: prevTerm };
  }

  /** Makes the index files hold `entries` for [fromIndex, ...): rewrites only what differs. */
  private syncIndexRange(fromIndex: number, entries: Buffer): void {
    const { files } = this;
    let index = fromIndex;
    let off = 0;
    while (off < entries.length) {
      const start = files.indexFileStart(index);
      const count = Math.min((entries.length - off) / INDEX_ENTRY_SIZE, start + this.settings.indexPerFile - index);
      const piece = entries.subarray(off, off + count * INDEX_ENTRY_SIZE);
      const f = files.indexFile(start, true);
      const at = (index - start) * INDEX_ENTRY_SIZE;
      const existing = Buffer.alloc(piece.length);
      const got = at < f.size ? fs.readSync(f.fd, existing, 0, Math.min(piece.length, f.size - at), at) : 0;
      if (got !== piece.length || !existing.equals(piece)) {
        if (f.size >= at + INDEX_ENTRY_SIZE || got > 0) {
          this.settings.log('warn', 'rewriting index entries that do not match the records', { file: f.path, fromIndex: index });
        }
        fs.writeSync(f.fd, piece, 0, piece.length, at);
        f.size = Math.max(f.size, at + piece.length);
        this.dirty.lazyFds.add(f.fd);
      }
      index += count;
      off += piece.length;
    }
  }

  /** Index entries after the last record are stale: removed. */
  private cutStaleIndex(): void {
    const { files, state } = this;
    const cutStart = files.indexFileStart(state.last + 1);
    files.dropIndexFiles((start) => start > cutStart);
    const f = files.indexFiles.get(cutStart);
    const bytes = (state.last + 1 - cutStart) * INDEX_ENTRY_SIZE;
    if (f !== undefined && f.size > bytes) files.cutIndexFile(f, bytes);
  }

  /** Checks that the flushed data is all there and sets the written, flushed and accepting
   *  positions to the end of the records. */
  private settleEnd(flushedPos: number): void {
    const { files, state } = this;
    const cur = files.lastSegment();
    const end = cur === undefined ? 0 : cur.start + cur.size;
    if (end < flushedPos) {
      throw corruptError(cur === undefined ? this.settings.dataDir : cur.path, cur === undefined ? 0 : cur.size,
        `data ends at position ${end} but ${flushedPos} bytes were flushed (flushed data missing)`);
    }
    // The last segment is the active one: preallocated (the fdatasync after recovery makes that durable).
    if (cur !== undefined) files.extendActive(cur);
    state.acceptSegStart = cur === undefined ? 0 : cur.start;
    state.acceptPos = state.writtenPos = state.flushedPos = end;
    state.written = state.flushed = state.last;
    state.cache.resetTo(state.last + 1);
  }
}

/** Why the header `h` read at `off` in `seg` cannot be the record expected there; null: it can. */
/**
 * Where the next append's records start if zeros at `off` are the padding before it (an append
 * starts at a block boundary: StoreSettings.alignAppends): the next boundary, when the bytes up to
 * it are zeros and the expected record's header is there; else `off` (the end of the records).
 */
function afterPadding(win: ScanWindow, seg: Segment, off: number, expect: number, prevTerm: number): number {
  const inBlock = off % DIRECT_ALIGN;
  if (inBlock === 0) return off;
  const next = off + DIRECT_ALIGN - inBlock;
  if (next + RECORD_HEADER_SIZE > seg.size) return off;
  win.load(off, next + RECORD_HEADER_SIZE - off);
  if (!win.isZero(off, next)) return off;
  const h = decodeHeader(win.buf, win.at(next));
  if (typeof h === 'string' || headerProblem(h, seg, next, expect, prevTerm) !== null) return off;
  return next;
}

function headerProblem(h: RecordHeader, seg: Segment, off: number, expect: number, prevTerm: number): string | null {
  if (h.position !== seg.start + off) return `record claims position ${h.position}`;
  if (h.index !== expect) return `record has index ${h.index}, expected ${expect}`;
  if (h.term < prevTerm) return `record ${h.index} has term ${h.term} below the previous term ${prevTerm}`;
  if (off + h.totalSize > seg.size) return `record ${h.index} cut short (${h.totalSize} bytes, ${seg.size - off} in the file)`;
  return null;
}

/** Reads `seg`'s first header into `header` (zeroed first); sets seg.firstIndex if it is good,
 *  else returns what is wrong. */
function firstHeaderProblem(seg: Segment, header: Buffer): string | null {
  header.fill(0);
  if (seg.size < RECORD_HEADER_SIZE) {
    if (seg.size > 0) fs.readSync(seg.fd, header, 0, seg.size, 0);
    return seg.size === 0 ? 'empty segment' : 'first record header cut short';
  }
  fs.readSync(seg.fd, header, 0, RECORD_HEADER_SIZE, 0);
  const h = decodeHeader(header, 0);
  if (typeof h === 'string') return h;
  if (h.position !== seg.start) return `first record claims position ${h.position}`;
  seg.firstIndex = h.index;
  return null;
}

/** Checks that the record `e` points at in `seg` is the one of `index`, intact. */
function verifyRecordAt(seg: Segment, e: IndexEntry, index: number): void {
  const off = e.position - seg.start;
  const buf = Buffer.allocUnsafe(e.totalSize);
  if (fs.readSync(seg.fd, buf, 0, e.totalSize, off) !== e.totalSize) throw corruptError(seg.path, off, 'short record');
  const h = decodeHeader(buf, 0);
  if (typeof h === 'string') throw corruptError(seg.path, off, h);
  if (h.index !== index || h.term !== e.term || h.position !== e.position || !bodyMatches(buf, 0, h)) {
    throw corruptError(seg.path, off, `record does not match the index entry of ${index}`);
  }
}

/** A window of a segment's bytes, read a large piece at a time. */
class ScanWindow {
  buf: Buffer;
  private start = 0;
  private len = 0;

  constructor(private readonly seg: Segment) {
    this.buf = Buffer.allocUnsafe(Math.min(SCAN_WINDOW_BYTES, Math.max(seg.size, RECORD_HEADER_SIZE)));
  }

  /** Makes the file's bytes [from, from + need) available in `buf`. */
  load(from: number, need: number): void {
    if (from >= this.start && from + need <= this.start + this.len) return;
    if (need > this.buf.length) this.buf = Buffer.allocUnsafe(need);
    this.start = from;
    this.len = fs.readSync(this.seg.fd, this.buf, 0, Math.min(this.buf.length, this.seg.size - from), from);
  }

  /** Where file offset `off` (loaded) is in `buf`. */
  at(off: number): number {
    return off - this.start;
  }

  /** Whether the loaded file bytes [from, to) are all zeros. */
  isZero(from: number, to: number): boolean {
    return isZero(this.buf, from - this.start, to - this.start);
  }
}

/** Index entries of scanned records, encoded into growing buffers. */
class EntryCollector {
  private done: Buffer[] = [];
  private buf = Buffer.allocUnsafe(SCAN_ENTRIES_BYTES_MIN);
  private view = viewOf(this.buf);
  private count = 0;

  add(h: RecordHeader): void {
    if ((this.count + 1) * INDEX_ENTRY_SIZE > this.buf.length) {
      this.done.push(this.buf.subarray(0, this.count * INDEX_ENTRY_SIZE));
      this.buf = Buffer.allocUnsafe(this.buf.length * 2);
      this.view = viewOf(this.buf);
      this.count = 0;
    }
    encodeIndexEntry(this.buf, this.view, this.count * INDEX_ENTRY_SIZE, h.index, h.position, h.term, h.totalSize, h.type);
    this.count++;
  }

  concat(): Buffer {
    return Buffer.concat([...this.done, this.buf.subarray(0, this.count * INDEX_ENTRY_SIZE)]);
  }
}

/**
 * Bytes from `from` to the last non-zero byte before the first all-zero block (or `end`): how much
 * was written past a torn record, for the recovery warning. A preallocated file is zeros (a
 * sparse tail) after what was written, so its length (the segment size, 1 GiB by default) says
 * nothing; the scan reads what was written plus one block.
 */
function writtenExtent(fd: number, from: number, end: number): number {
  const buf = Buffer.allocUnsafe(EXTENT_SCAN_BLOCK_BYTES);
  let last = from;
  for (let pos = from; pos < end; pos += EXTENT_SCAN_BLOCK_BYTES) {
    const n = fs.readSync(fd, buf, 0, Math.min(EXTENT_SCAN_BLOCK_BYTES, end - pos), pos);
    if (n <= 0) break;
    let i = n - 1;
    while (i >= 0 && buf[i] === 0) i--;
    if (i < 0) break;
    last = pos + i + 1;
  }
  return last - from;
}
