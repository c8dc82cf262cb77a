// The store's open files: the segments (data/<position>) in position order and the index files
// (index/<first index>), with creating, preallocating, cutting back and removing them. The layout
// is described in commit-log.ts.
import fs from 'node:fs';
import path from 'node:path';
import { assert } from '../util/index.ts';
import type { DirectWriter } from './direct-writer.ts';
import type { DirtyFiles } from './dirty-files.ts';
import type { StoreSettings } from './options.ts';
import { padName } from './record.ts';
import type { RecycledFile, SegmentRecycler } from './recycler.ts';

export interface Segment {
  readonly start: number;
  readonly path: string;
  fd: number;
  /** Bytes of records written to the file (from its start). */
  size: number;
  /** The file's length: `size`, or more while the segment is the active (last) one and is
   *  preallocated (extended with ftruncate to segmentBytes: a sparse, zero tail). */
  fileLen: number;
  /** Index of the first record; 0 while unknown (recovery of a torn first record). */
  firstIndex: number;
  /** The O_DIRECT writer of the active segment (SYNC_FLUSH with directIo), opened at its first
   *  write and closed when it stops being the active one; null: none (yet). */
  direct: DirectWriter | null;
  /** Created in a recycled file (recycler.ts) in this process: the bytes after the records are an
   *  older segment's, not zeros, until the next cut (a roll, a close, a recovery). */
  readonly recycled: boolean;
}

export interface IndexFile {
  readonly start: number;
  readonly path: string;
  fd: number;
  size: number;
}

export class StoreFiles {
  /** In position order; the last one is the active (appended-to) segment. */
  segments: Segment[] = [];
  /** By the index of their first entry. */
  readonly indexFiles = new Map<number, IndexFile>();

  /** Segments created in a recycled file since open. */
  segmentsRecycled = 0;

  constructor(
    private readonly settings: StoreSettings,
    private readonly dirty: DirtyFiles,
    readonly recycler: SegmentRecycler,
  ) {}

  lastSegment(): Segment | undefined {
    return this.segments[this.segments.length - 1];
  }

  /** Creates the segment starting at position `start` as the new active one (preallocated): in the
   *  recycled file the roll prepared for it (recycler.ts), else in a new file. */
  createSegment(start: number, firstIndex: number): Segment {
    const recycled = this.recycler.take(start);
    const file = recycled ?? path.join(this.settings.dataDir, padName(start));
    const flags = recycled !== null ? fs.constants.O_RDWR : fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL;
    const fd = fs.openSync(file, flags, 0o644);
    const seg: Segment = { start, path: file, fd, size: 0, fileLen: 0, firstIndex, direct: null, recycled: recycled !== null };
    try {
      // A recycled file is as long as its old segment was: a roll cuts it back (shrinkToWritten).
      if (recycled !== null) seg.fileLen = fs.fstatSync(fd).size;
      this.extendActive(seg);
    } catch (err) {
      closeQuietly(fd);
      fs.rmSync(file, { force: true });
      throw err;
    }
    this.segments.push(seg);
    this.dirty.dirs.add(this.settings.dataDir);
    if (recycled !== null) this.segmentsRecycled++;
    return seg;
  }

  /** Opens an existing segment file (recovery); its size is the file length until a scan says
   *  where its records end. */
  openSegment(name: string): Segment {
    const file = path.join(this.settings.dataDir, name);
    const fd = fs.openSync(file, 'r+');
    const len = fs.fstatSync(fd).size;
    // Not `recycled` even if it once was: recovery cuts the file at the end of its records.
    const seg: Segment = { start: Number(name), path: file, fd, size: len, fileLen: len, firstIndex: 0, direct: null, recycled: false };
    this.segments.push(seg);
    return seg;
  }

  /**
   * Preallocation: `seg` becomes the active (last, appended-to) segment, so its file is extended
   * with ftruncate (sparse: no blocks, no ENOSPC here) to the full segment length. An append then
   * writes inside the file and its fdatasync has no file size (inode) change to commit, which makes
   * small appends cheaper on ext4. The zeros after the records are the file's clean end for recovery.
   */
  extendActive(seg: Segment): void {
    if (!this.settings.preallocate) return;
    const len = Math.max(this.settings.segmentBytes, seg.size);
    if (seg.fileLen >= len) return;
    fs.ftruncateSync(seg.fd, len);
    seg.fileLen = len;
  }

  /** `seg` stops being the active segment (a roll, a clean close): its file is cut back to end at
   *  its last record, the layout of every non-last segment. Returns whether the file changed (the
   *  caller makes the new length durable). */
  shrinkToWritten(seg: Segment): boolean {
    if (seg.fileLen === seg.size) return false;
    fs.ftruncateSync(seg.fd, seg.size);
    seg.fileLen = seg.size;
    return true;
  }

  /** Cuts `seg`'s records (and file) to `size` bytes. */
  cutSegment(seg: Segment, size: number): void {
    fs.ftruncateSync(seg.fd, size);
    seg.size = size;
    seg.fileLen = size;
  }

  /** Removes the active segment: the one before it becomes the active one. */
  dropLastSegment(): void {
    this.removeSegment(this.segments.pop() as Segment);
  }

  /** Removes every segment after segments[k]. */
  dropSegmentsAfter(k: number): void {
    for (let s = this.segments.length - 1; s > k; s--) this.removeSegment(this.segments[s]);
    this.segments.length = k + 1;
  }

  /** Retention: the first `count` segments leave the log; their files are renamed into the
   *  recycler's pool while it has room (returned: the caller fsyncs the directory, then has the
   *  recycler admit them), else unlinked. */
  retireFirstSegments(count: number): RecycledFile[] {
    const gone = this.segments.splice(0, count);
    const kept: RecycledFile[] = [];
    for (const seg of gone) {
      closeDirect(seg);
      this.dirty.closeFd(seg.fd);
      const f = this.recycler.retire(seg.path, seg.start, kept.length);
      if (f !== null) kept.push(f);
    }
    return kept;
  }

  /** Position in `segments` of the segment holding `position` (or ending at it), or -1. */
  segmentIndexAt(position: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid].start <= position) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return -1;
    const seg = this.segments[found];
    return position <= seg.start + seg.size ? found : -1;
  }

  /** First index of the index file holding `index`'s entry. */
  indexFileStart(index: number): number {
    return 1 + Math.floor((index - 1) / this.settings.indexPerFile) * this.settings.indexPerFile;
  }

  indexPathOf(fileStart: number): string {
    return path.join(this.settings.indexDir, padName(fileStart));
  }

  /** The index file starting at `start`, created (empty) if `create` and missing. */
  indexFile(start: number, create: boolean): IndexFile {
    let f = this.indexFiles.get(start);
    if (f === undefined) {
      assert(create, `index file ${start} exists`);
      const file = this.indexPathOf(start);
      const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      f = { start, path: file, fd, size: fs.fstatSync(fd).size };
      this.indexFiles.set(start, f);
      this.dirty.dirs.add(this.settings.indexDir);
    }
    return f;
  }

  /** Opens an existing index file (recovery). */
  openIndexFile(name: string): void {
    const start = Number(name);
    const file = path.join(this.settings.indexDir, name);
    const fd = fs.openSync(file, 'r+');
    this.indexFiles.set(start, { start, path: file, fd, size: fs.fstatSync(fd).size });
  }

  /** Removes every index file whose start satisfies `drop`. */
  dropIndexFiles(drop: (start: number) => boolean): void {
    for (const [start, f] of [...this.indexFiles]) {
      if (drop(start)) {
        this.dirty.closeFd(f.fd);
        fs.rmSync(f.path, { force: true });
        this.indexFiles.delete(start);
      }
    }
  }

  /** Cuts the index file to `bytes` (whole entries). */
  cutIndexFile(f: IndexFile, bytes: number): void {
    fs.ftruncateSync(f.fd, bytes);
    f.size = bytes;
  }

  /** Closes every file (the store closes or its open fails). */
  closeAll(): void {
    for (const seg of this.segments) {
      closeDirect(seg);
      closeQuietly(seg.fd);
    }
    for (const f of this.indexFiles.values()) closeQuietly(f.fd);
    this.dirty.closeAll();
    this.segments = [];
    this.indexFiles.clear();
  }

  private removeSegment(seg: Segment): void {
    closeDirect(seg);
    this.dirty.closeFd(seg.fd);
    fs.rmSync(seg.path, { force: true });
  }
}

/** Closes `seg`'s direct writer, if it has one. */
export function closeDirect(seg: Segment): void {
  seg.direct?.close();
  seg.direct = null;
}

export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}
