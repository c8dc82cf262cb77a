// On-disk formats: the data record (header + body) and the fixed-width index entry.
//
// Data record, big-endian, 48-byte header then the body:
//   0 magic u32 | 4 totalSize u32 (header + body) | 8 index u64 | 16 term u64 | 24 position u64
//   (physical offset of the record, = segment start + offset in file) | 32 type u8 | 33..39 zero |
//   40 bodyCrc u32 (zlib.crc32 of the body) | 44 headerCrc u32 (crc32 of bytes 0..43)
// Index entry, 32 bytes, slot (index - fileStartIndex) * 32 of the index file:
//   0 position u64 | 8 term u64 | 16 totalSize u32 | 20 type u8 | 21..23 zero |
//   24 index mod 2^32 u32 | 28 crc32 of bytes 0..27
// u64 fields hold safe integers (< 2^53), written as two u32 halves.
// CRCs are CRC-32 (IEEE, zlib's): bodies go to the native zlib.crc32; the small fixed fields
// (44-byte header, 28-byte index entry) to crc32Small, which is cheaper than a native call there.
import { crc32 } from 'node:zlib';
import { assert } from '../util/index.ts';

export const RECORD_MAGIC = 0x524d5131; // "RMQ1"
export const RECORD_HEADER_SIZE = 48;
export const INDEX_ENTRY_SIZE = 32;
/** Header offsets that sealing reads and writes (sealRecords here, and the CRC worker's source
 *  in crc-sealer.ts, which is built from these). */
export const TOTAL_SIZE_AT = 4;
export const BODY_CRC_AT = 40;
export const HEADER_CRC_AT = 44;
/** A body larger than this is refused (Buffer and u32 size field limits). */
export const RECORD_BODY_BYTES_MAX = 0x7fff_0000;
const TWO_32 = 0x1_0000_0000;

export function writeU64(buf: Buffer, off: number, v: number): void {
  assert(Number.isSafeInteger(v) && v >= 0, `u64 field out of range: ${v}`);
  buf.writeUInt32BE(Math.floor(v / TWO_32), off);
  buf.writeUInt32BE(v >>> 0, off + 4);
}

export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off) * TWO_32 + buf.readUInt32BE(off + 4);
}

/** Writes one record (header + body) at `off` of `buf` (`dv` views the same bytes); returns its
 *  total size. The hot path of append: DataView stores, two CRC calls, one copy. Callers have
 *  checked index, term and position are safe integers. */
export function encodeRecord(
  buf: Buffer,
  dv: DataView,
  off: number,
  index: number,
  term: number,
  type: number,
  data: Uint8Array,
  position: number,
): number {
  const totalSize = encodeUnsealedRecord(buf, dv, off, index, term, type, data, position);
  sealRecord(buf, dv, off, data);
  return totalSize;
}

/** encodeRecord without the two CRCs (bytes 40..47 are left as they are): sealRecords (here or on
 *  the CRC worker, crc-sealer.ts) fills them in before the record may be written. */
export function encodeUnsealedRecord(
  buf: Buffer,
  dv: DataView,
  off: number,
  index: number,
  term: number,
  type: number,
  data: Uint8Array,
  position: number,
): number {
  const totalSize = RECORD_HEADER_SIZE + data.byteLength;
  dv.setUint32(off, RECORD_MAGIC);
  dv.setUint32(off + TOTAL_SIZE_AT, totalSize);
  dv.setUint32(off + 8, Math.floor(index / TWO_32));
  dv.setUint32(off + 12, index >>> 0);
  dv.setUint32(off + 16, Math.floor(term / TWO_32));
  dv.setUint32(off + 20, term >>> 0);
  dv.setUint32(off + 24, Math.floor(position / TWO_32));
  dv.setUint32(off + 28, position >>> 0);
  dv.setUint32(off + 32, type << 24); // type u8 then three zero bytes
  dv.setUint32(off + 36, 0);
  buf.set(data, off + RECORD_HEADER_SIZE);
  return totalSize;
}

/** Fills in the body CRC and then the header CRC of the record at `off`, whose body is `body`. */
function sealRecord(buf: Uint8Array, dv: DataView, off: number, body: Uint8Array): void {
  dv.setUint32(off + BODY_CRC_AT, crc32(body));
  dv.setUint32(off + HEADER_CRC_AT, crc32Small(buf, off, HEADER_CRC_AT));
}

/** Seals every record encoded unsealed in buf[start, end) (back to back, from `start`). */
export function sealRecords(buf: Buffer, dv: DataView, start: number, end: number): void {
  for (let off = start; off < end; ) {
    const size = dv.getUint32(off + TOTAL_SIZE_AT);
    sealRecord(buf, dv, off, buf.subarray(off + RECORD_HEADER_SIZE, off + size));
    off += size;
  }
}

/** Slicing-by-4 tables of the reflected CRC-32 polynomial: CRC_TABLES[k * 256 + b]. */
const CRC_TABLES = makeCrcTables();

function makeCrcTables(): Int32Array {
  const t = new Int32Array(4 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[b] = c;
  }
  for (let b = 0; b < 256; b++) {
    for (let k = 1; k < 4; k++) t[k * 256 + b] = (t[(k - 1) * 256 + b] >>> 8) ^ t[t[(k - 1) * 256 + b] & 0xff];
  }
  return t;
}

/** zlib.crc32 of buf[off, off + len), in JS: for the 28- and 44-byte fields of every record a
 *  native call (plus the subarray it needs) costs several times the arithmetic. */
export function crc32Small(buf: Uint8Array, off: number, len: number): number {
  const t = CRC_TABLES;
  let c = -1;
  let i = off;
  const end4 = off + (len & ~3);
  for (; i < end4; i += 4) {
    c ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    c = t[768 + (c & 0xff)] ^ t[512 + ((c >>> 8) & 0xff)] ^ t[256 + ((c >>> 16) & 0xff)] ^ t[c >>> 24];
  }
  for (const end = off + len; i < end; i++) c = t[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** A DataView over exactly the bytes of `buf`. */
export function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

export interface RecordHeader {
  readonly totalSize: number;
  readonly index: number;
  readonly term: number;
  readonly position: number;
  readonly type: number;
  readonly bodyCrc: number;
}

/** Decodes and checks a header (magic, header CRC, padding). Returns a reason string if bad. */
export function decodeHeader(buf: Buffer, off: number): RecordHeader | string {
  assert(off + RECORD_HEADER_SIZE <= buf.length, 'decodeHeader: header outside the buffer');
  const magic = buf.readUInt32BE(off);
  if (magic !== RECORD_MAGIC) {
    return magic === 0 && isZero(buf, off, off + RECORD_HEADER_SIZE) ? 'zeroed header' : `bad magic 0x${magic.toString(16)}`;
  }
  if (crc32Small(buf, off, HEADER_CRC_AT) !== buf.readUInt32BE(off + HEADER_CRC_AT)) return 'header CRC mismatch';
  if ((buf.readUInt32BE(off + 32) & 0x00ff_ffff) !== 0 || buf.readUInt32BE(off + 36) !== 0) {
    return 'non-zero reserved header bytes';
  }
  const totalSize = buf.readUInt32BE(off + TOTAL_SIZE_AT);
  if (totalSize < RECORD_HEADER_SIZE) return `total size ${totalSize} below header size`;
  return {
    totalSize,
    index: readU64(buf, off + 8),
    term: readU64(buf, off + 16),
    position: readU64(buf, off + 24),
    type: buf.readUInt8(off + 32),
    bodyCrc: buf.readUInt32BE(off + BODY_CRC_AT),
  };
}

/** Checks the body CRC of a record whose header was decoded at `off`. */
export function bodyMatches(buf: Buffer, off: number, h: RecordHeader): boolean {
  return crc32(buf.subarray(off + RECORD_HEADER_SIZE, off + h.totalSize)) === h.bodyCrc;
}

/** Whether buf[from, to) is all zeros. */
export function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

export interface IndexEntry {
  readonly position: number;
  readonly term: number;
  readonly totalSize: number;
  readonly type: number;
}

export function encodeIndexEntry(
  buf: Buffer,
  dv: DataView,
  off: number,
  index: number,
  position: number,
  term: number,
  totalSize: number,
  type: number,
): void {
  dv.setUint32(off, Math.floor(position / TWO_32));
  dv.setUint32(off + 4, position >>> 0);
  dv.setUint32(off + 8, Math.floor(term / TWO_32));
  dv.setUint32(off + 12, term >>> 0);
  dv.setUint32(off + 16, totalSize);
  dv.setUint32(off + 20, type << 24);
  dv.setUint32(off + 24, index >>> 0);
  dv.setUint32(off + 28, crc32Small(buf, off, 28));
}

/** Decodes the index entry of `index` at `off`; returns a reason string if it fails its checks. */
export function decodeIndexEntry(buf: Buffer, off: number, index: number): IndexEntry | string {
  if (crc32Small(buf, off, 28) !== buf.readUInt32BE(off + 28)) return 'index entry CRC mismatch';
  if (buf.readUInt32BE(off + 24) !== index % TWO_32) return `index entry holds another index`;
  const totalSize = buf.readUInt32BE(off + 16);
  if (totalSize < RECORD_HEADER_SIZE) return 'index entry size below header size';
  return {
    position: readU64(buf, off),
    term: readU64(buf, off + 8),
    totalSize,
    type: buf.readUInt8(off + 20),
  };
}

export function padName(n: number): string {
  assert(Number.isSafeInteger(n) && n >= 0, `bad file name number ${n}`);
  return String(n).padStart(20, '0');
}
