// The snapshots of retention marks, one file each in <storePathRootDir>/snapshots: what this
// replica sends a follower behind the start of its log, and restores from when it is one.
//
// A mark's file is written inside apply (the state machine's onMark), synchronously and synced:
// a checkpoint taken after the mark never replays it, so the file must be durable before any
// checkpoint can cover it. Files below the log's cut go (deleteBelow); the one AT the cut stays,
// it is the snapshot a follower behind the cut is sent.
//
// File: magic "RMQS" | u32 version | u64 index | u64 term | u32 length | u32 crc32(bytes) | bytes.
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { CodedError } from '../util/index.ts';
import type { MarkSnapshot } from './state-machine.ts';

const MAGIC = 0x524d5153; // "RMQS"
const VERSION = 1;
const HEADER_BYTES = 32;
const NAME_RE = /^mark-(\d{20})\.snap$/;
/** Largest snapshot file read back (a broker's tables without message bodies). */
export const MARK_SNAPSHOT_BYTES_MAX = 1024 * 1024 * 1024;

const nameOf = (index: number): string => `mark-${String(index).padStart(20, '0')}.snap`;

export class MarkStoreError extends CodedError<'CORRUPT' | 'MISSING'> {
  override readonly name = 'MarkStoreError';
}

export class MarkStore {
  /** index -> term of every mark file, by index. */
  private readonly marks = new Map<number, number>();

  private constructor(readonly dir: string) {}

  /** Opens the directory (created if missing) and learns its files from their headers. A file
   *  left half-written by a crash (a `.tmp`) is removed. */
  static open(dir: string): MarkStore {
    fs.mkdirSync(dir, { recursive: true });
    const store = new MarkStore(dir);
    for (const name of fs.readdirSync(dir)) {
      if (name.endsWith('.tmp')) {
        fs.rmSync(path.join(dir, name), { force: true });
        continue;
      }
      const m = NAME_RE.exec(name);
      if (m === null) continue;
      const header = readHeader(path.join(dir, name));
      if (header.index !== Number(m[1])) throw new MarkStoreError('CORRUPT', `${name} holds the mark of index ${header.index}`);
      store.marks.set(header.index, header.term);
    }
    return store;
  }

  /** Mark indexes held, ascending. */
  indexes(): number[] {
    return [...this.marks.keys()].sort((a, b) => a - b);
  }

  termOf(index: number): number | undefined {
    return this.marks.get(index);
  }

  /** Writes (or rewrites: a replayed mark gives the same bytes) the mark's file, synced. */
  put(mark: MarkSnapshot): void {
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32BE(MAGIC, 0);
    header.writeUInt32BE(VERSION, 4);
    header.writeBigUInt64BE(BigInt(mark.index), 8);
    header.writeBigUInt64BE(BigInt(mark.term), 16);
    header.writeUInt32BE(mark.bytes.length, 24);
    header.writeUInt32BE(crc32(mark.bytes), 28);
    const file = path.join(this.dir, nameOf(mark.index));
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, header);
      fs.writeSync(fd, mark.bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    syncDir(this.dir);
    this.marks.set(mark.index, mark.term);
  }

  /** The mark's snapshot, checked (CRC, header); MISSING if there is no such file. */
  get(index: number): MarkSnapshot {
    if (!this.marks.has(index)) throw new MarkStoreError('MISSING', `no snapshot of mark ${index} in ${this.dir}`);
    const file = path.join(this.dir, nameOf(index));
    const buf = fs.readFileSync(file);
    const header = parseHeader(buf, file);
    const bytes = buf.subarray(HEADER_BYTES);
    if (bytes.length !== header.length) throw new MarkStoreError('CORRUPT', `${file}: ${bytes.length} bytes, the header says ${header.length}`);
    if (crc32(bytes) !== header.crc) throw new MarkStoreError('CORRUPT', `${file}: CRC mismatch`);
    return { index: header.index, term: header.term, bytes };
  }

  /** Removes the files of marks below `index`. */
  deleteBelow(index: number): number {
    let removed = 0;
    for (const i of this.indexes()) {
      if (i >= index) break;
      fs.rmSync(path.join(this.dir, nameOf(i)), { force: true });
      this.marks.delete(i);
      removed++;
    }
    if (removed > 0) syncDir(this.dir);
    return removed;
  }
}

interface Header {
  readonly index: number;
  readonly term: number;
  readonly length: number;
  readonly crc: number;
}

function readHeader(file: string): Header {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(HEADER_BYTES);
    const n = fs.readSync(fd, buf, 0, HEADER_BYTES, 0);
    return parseHeader(buf.subarray(0, n), file);
  } finally {
    fs.closeSync(fd);
  }
}

function parseHeader(buf: Buffer, file: string): Header {
  if (buf.length < HEADER_BYTES || buf.readUInt32BE(0) !== MAGIC) throw new MarkStoreError('CORRUPT', `${file} is not a mark snapshot`);
  if (buf.readUInt32BE(4) !== VERSION) throw new MarkStoreError('CORRUPT', `${file}: version ${buf.readUInt32BE(4)}, expected ${VERSION}`);
  const index = Number(buf.readBigUInt64BE(8));
  const term = Number(buf.readBigUInt64BE(16));
  const length = buf.readUInt32BE(24);
  if (length > MARK_SNAPSHOT_BYTES_MAX) throw new MarkStoreError('CORRUPT', `${file}: length ${length}`);
  return { index, term, length, crc: buf.readUInt32BE(28) };
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
