// Reads: recent records from the record cache, older ones from the files through the index, every
// record taken from disk verified (header CRC, body CRC, and that it is the one the index names).
import fs from 'node:fs';
import { assert } from '../util/index.ts';
import { corruptError } from './errors.ts';
import type { StoreFiles } from './files.ts';
import type { LogState } from './log-state.ts';
import { RECORD_HEADER_SIZE, INDEX_ENTRY_SIZE, bodyMatches, decodeHeader, decodeIndexEntry, type IndexEntry } from './record.ts';
import type { LogRecord } from './types.ts';

/** Limits of one read() call and of one read from disk in it. */
const READ_RECORDS_MAX = 65536;
const READ_INDEX_ENTRIES_MAX = 4096;
const READ_RANGE_BYTES_MAX = 64 * 1024 * 1024;

export class LogReader {
  constructor(
    private readonly state: LogState,
    private readonly files: StoreFiles,
    private readonly indexPerFile: number,
  ) {}

  /** Records [fromIndex, ...) up to `maxBytes` of data (at least one if there is one);
   *  first <= fromIndex. */
  read(fromIndex: number, maxBytes: number): LogRecord[] {
    const { state } = this;
    const { cache } = state;
    const out: LogRecord[] = [];
    let bytes = 0;
    let index = fromIndex;
    while (index <= state.last && out.length < READ_RECORDS_MAX) {
      if (index >= cache.start) {
        const r = cache.at(index);
        if (out.length > 0 && bytes + r.data.byteLength > maxBytes) break;
        out.push(r);
        bytes += r.data.byteLength;
        index++;
        continue;
      }
      const got = this.readFromDisk(index, cache.start - 1, maxBytes - bytes, out);
      index += got.count;
      bytes += got.bytes;
      if (got.full) break;
    }
    return out;
  }

  /** See CommitLog.bytesAfter: from the record's index entry when it is written, else the
   *  cached records' sizes. */
  bytesAfter(index: number): number {
    const { state } = this;
    const from = Math.max(index + 1, state.first);
    if (from > state.last) return 0;
    let bytes = 0;
    const cachedFrom = Math.max(from, state.written + 1, state.cache.start);
    for (let i = cachedFrom; i <= state.last; i++) bytes += RECORD_HEADER_SIZE + state.cache.at(i).data.byteLength;
    if (from <= state.written && from < cachedFrom) bytes += Math.max(0, state.writtenPos - this.readIndexEntry(from).position);
    return bytes;
  }

  /** The index entry of `index` (which must have one), checked. */
  readIndexEntry(index: number): IndexEntry {
    const buf = this.readIndexBytes(index, 1);
    return this.decodeIndexAt(buf, 0, index, this.files.indexFileStart(index));
  }

  /** Reads records [index, upTo] from disk into `out`, stopping when `budget` data bytes would be
   *  exceeded (full = true) or at a segment / index file / range limit. */
  private readFromDisk(index: number, upTo: number, budget: number, out: LogRecord[]): { count: number; bytes: number; full: boolean } {
    assert(index <= upTo && upTo <= this.state.written, 'disk reads cover written records only');
    const fileStart = this.files.indexFileStart(index);
    const n = Math.min(upTo - index + 1, READ_INDEX_ENTRIES_MAX, fileStart + this.indexPerFile - index, READ_RECORDS_MAX - out.length);
    const ibuf = this.readIndexBytes(index, n);
    const first = this.decodeIndexAt(ibuf, 0, index, fileStart);
    const s = this.files.segmentIndexAt(first.position);
    if (s < 0) {
      throw corruptError(this.files.indexPathOf(fileStart), (index - fileStart) * INDEX_ENTRY_SIZE, `points at position ${first.position} outside every segment`);
    }
    const seg = this.files.segments[s];
    // The entries of one range of the segment, within the budget.
    const entries: IndexEntry[] = [];
    let end = first.position;
    let bytes = 0;
    let full = false;
    for (let m = 0; m < n; m++) {
      const e = m === 0 ? first : this.decodeIndexAt(ibuf, m * INDEX_ENTRY_SIZE, index + m, fileStart);
      if (e.position !== end || end + e.totalSize > seg.start + seg.size) break; // the next segment
      const body = e.totalSize - RECORD_HEADER_SIZE;
      if ((out.length > 0 || m > 0) && bytes + body > budget) {
        full = true;
        break;
      }
      if (m > 0 && end + e.totalSize - first.position > READ_RANGE_BYTES_MAX) break;
      entries.push(e);
      bytes += body;
      end += e.totalSize;
    }
    const off = first.position - seg.start;
    const len = end - first.position;
    if (off + len > seg.size) {
      throw corruptError(seg.path, off, `index says ${len} bytes of records from here, the file has ${seg.size - off}`);
    }
    const buf = Buffer.allocUnsafe(len);
    const got = fs.readSync(seg.fd, buf, 0, len, off);
    if (got !== len) throw corruptError(seg.path, off + got, `short read (${got} of ${len} bytes)`);
    this.decodeRecords(buf, seg.path, off, index, entries, out);
    return { count: entries.length, bytes, full };
  }

  /** Checks the records read into `buf` (from file offset `off`) against their index entries and
   *  adds them to `out`. */
  private decodeRecords(buf: Buffer, file: string, off: number, index: number, entries: IndexEntry[], out: LogRecord[]): void {
    let p = 0;
    for (let m = 0; m < entries.length; m++) {
      const e = entries[m];
      const h = decodeHeader(buf, p);
      const where = off + p;
      if (typeof h === 'string') throw corruptError(file, where, h);
      if (h.index !== index + m || h.term !== e.term || h.totalSize !== e.totalSize || h.position !== e.position || h.type !== e.type) {
        throw corruptError(file, where, `record header (index ${h.index}, term ${h.term}) does not match the index entry of ${index + m}`);
      }
      if (!bodyMatches(buf, p, h)) throw corruptError(file, where, `body CRC mismatch in record ${index + m}`);
      out.push({ index: h.index, term: h.term, type: h.type, data: buf.subarray(p + RECORD_HEADER_SIZE, p + h.totalSize) });
      p += h.totalSize;
    }
  }

  private readIndexBytes(index: number, count: number): Buffer {
    const fileStart = this.files.indexFileStart(index);
    const f = this.files.indexFiles.get(fileStart);
    const off = (index - fileStart) * INDEX_ENTRY_SIZE;
    if (f === undefined) throw corruptError(this.files.indexPathOf(fileStart), off, 'index file missing');
    const len = count * INDEX_ENTRY_SIZE;
    const buf = Buffer.allocUnsafe(len);
    const got = off + len <= f.size ? fs.readSync(f.fd, buf, 0, len, off) : -1;
    if (got !== len) throw corruptError(f.path, off, `index file too short (${f.size} bytes) for index ${index + count - 1}`);
    return buf;
  }

  private decodeIndexAt(buf: Buffer, off: number, index: number, fileStart: number): IndexEntry {
    const e = decodeIndexEntry(buf, off, index);
    if (typeof e === 'string') {
      throw corruptError(this.files.indexPathOf(fileStart), (index - fileStart) * INDEX_ENTRY_SIZE, `${e} (index ${index})`);
    }
    return e;
  }
}
