// Accepting batches: each batch (or the part of it in one segment) is checked, given its
// positions, encoded into reused arena memory (records and index entries: encode-arena.ts) and
// queued as a chunk for the pump (pump.ts). Its CRCs are computed here for a small batch, on the
// CRC worker for a large one that has unwritten work ahead of it (crc-sealer.ts); the pump writes
// a chunk only once it is sealed.
import { assert } from '../util/index.ts';
import { CrcSealer } from './crc-sealer.ts';
import { DIRECT_ALIGN } from './direct-writer.ts';
import { EncodeArena, type ArenaBlock } from './encode-arena.ts';
import type { LogState } from './log-state.ts';
import type { StoreSettings } from './options.ts';
import { INDEX_ENTRY_SIZE, RECORD_BODY_BYTES_MAX, RECORD_HEADER_SIZE, encodeIndexEntry, encodeRecord, encodeUnsealedRecord } from './record.ts';
import type { LogRecord } from './types.ts';

/** Encoding buffers: a few turns' worth of batches; a larger batch gets a buffer of its own. */
const DATA_ARENA_BYTES = 8 * 1024 * 1024;
const INDEX_ARENA_BYTES = 256 * 1024;
/** Full encoding blocks kept for reuse while their chunks are still being sealed or written. */
const ARENA_SPARES_MAX = 2;
/** Written chunks' slots kept at the front of the queue before it is compacted. */
const QUEUE_HEAD_SLACK_MAX = 1024;

/** One batch (or the part of it in one segment), encoded, accepted but not yet written. */
export interface Chunk {
  readonly segStart: number;
  /** Zero bytes at the start of `data` up to a block boundary (StoreSettings.alignAppends): the
   *  pump starts the write after them, so it never rewrites the block before. */
  readonly pad: number;
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

/** Why `r` cannot be the record at `index` after one of term `prevTerm`; null: it can. */
export function recordProblem(r: LogRecord, index: number, prevTerm: number, segmentBytes: number): string | null {
  if (r === null || typeof r !== 'object') return `record for index ${index} is not an object`;
  if (r.index !== index) return `record index ${r.index}, expected ${index} (indexes are consecutive from lastIndex() + 1)`;
  if (!Number.isSafeInteger(r.term) || r.term < prevTerm) {
    return `record ${index}: term ${r.term} is not an integer >= the previous term ${prevTerm}`;
  }
  if (!Number.isInteger(r.type) || r.type < 0 || r.type > 255) return `record ${index}: type ${r.type} is not a u8`;
  if (!(r.data instanceof Uint8Array)) return `record ${index}: data is not a Uint8Array`;
  const bodyMax = Math.min(RECORD_BODY_BYTES_MAX, segmentBytes - RECORD_HEADER_SIZE);
  if (r.data.byteLength > bodyMax) {
    return `record ${index} of ${r.data.byteLength} bytes does not fit in a segment of ${segmentBytes} bytes (largest body ${bodyMax})`;
  }
  return null;
}

/** The accepted, unwritten chunks in order, [head, length): the pump takes them from the head. */
export class ChunkQueue {
  private items: Chunk[] = [];
  private headAt = 0;
  /** Where pending chunks are encoded: shared memory while batches may go to the CRC worker (it
   *  writes their CRCs in place). */
  private readonly dataArena: EncodeArena;
  private readonly indexArena = new EncodeArena(INDEX_ARENA_BYTES, ARENA_SPARES_MAX, () => false);

  /** `sealed` is called when the CRC worker has sealed a chunk (the pump may write it now). */
  constructor(
    private readonly settings: StoreSettings,
    private readonly state: LogState,
    private readonly sealer: CrcSealer,
    private readonly sealed: () => void,
  ) {
    const offloadable = (): boolean => settings.crcOffloadMinBytes > 0 && sealer.usable();
    this.dataArena = new EncodeArena(DATA_ARENA_BYTES, ARENA_SPARES_MAX, offloadable, (old) => sealer.forget(old));
  }

  /** The first unwritten chunk (undefined: none). */
  head(): Chunk | undefined {
    return this.items[this.headAt];
  }

  /** Whether the first unwritten chunk exists and may be written. */
  headSealed(): boolean {
    return this.headAt < this.items.length && this.items[this.headAt].sealed;
  }

  isEmpty(): boolean {
    return this.headAt >= this.items.length;
  }

  /** Position of the head in the queue, for at() and takeTo(). */
  get headPos(): number {
    return this.headAt;
  }

  /** End of the queue (one past the last chunk). */
  get endPos(): number {
    return this.items.length;
  }

  at(pos: number): Chunk {
    return this.items[pos];
  }

  /** Last index of the last chunk queued, 0 if none. */
  lastQueuedIndex(): number {
    return this.headAt < this.items.length ? this.items[this.items.length - 1].lastIndex : 0;
  }

  /** The chunks before `pos` are written: their memory may be reused and they leave the queue. */
  takeTo(pos: number): void {
    for (let m = this.headAt; m < pos; m++) {
      this.release(this.items[m]);
      (this.items as (Chunk | undefined)[])[m] = undefined;
    }
    this.headAt = pos;
    if (this.headAt > QUEUE_HEAD_SLACK_MAX && this.headAt * 2 > this.items.length) {
      this.items = this.items.slice(this.headAt); // a pump that never runs dry
      this.headAt = 0;
    }
  }

  /** Forgets every chunk (written or dropped): their encoding buffers can be reused. */
  clear(): void {
    // A chunk the CRC worker still has is released once it is sealed: its bytes are not reused
    // before the worker is done writing into them.
    for (let m = this.headAt; m < this.items.length; m++) {
      const c = this.items[m];
      if (c.sealed) this.release(c);
      else c.dropped = true;
    }
    this.items = [];
    this.headAt = 0;
  }

  /** Encodes the batch (checked by recordProblem), gives it positions and makes it visible
   *  (lastIndex, read, termAt). */
  accept(records: readonly LogRecord[]): void {
    const { state } = this;
    const segmentBytes = this.settings.segmentBytes;
    let k = 0;
    while (k < records.length) {
      const segStart = state.acceptSegStart;
      const segEnd = segStart + segmentBytes;
      const pad = k === 0 ? this.padBefore(state.acceptPos - segStart) : 0;
      let bytes = 0;
      let j = k;
      while (j < records.length) {
        const size = RECORD_HEADER_SIZE + records[j].data.byteLength;
        if (state.acceptPos + pad + bytes + size > segEnd) break;
        bytes += size;
        j++;
      }
      if (j === k) {
        // Roll: the next record starts the next segment.
        assert(state.acceptPos > segStart || segmentBytes < RECORD_HEADER_SIZE + records[k].data.byteLength,
          'a record that fits in an empty segment must not roll');
        state.acceptSegStart = Math.max(segEnd, state.acceptPos);
        state.acceptPos = state.acceptSegStart;
        continue;
      }
      this.encode(records, k, j, bytes, pad);
      k = j;
    }
    state.last = records[records.length - 1].index;
  }

  /** Zero bytes that take an append starting `offset` bytes into its segment to the next block. */
  private padBefore(offset: number): number {
    if (!this.settings.alignAppends || offset % DIRECT_ALIGN === 0) return 0;
    return DIRECT_ALIGN - (offset % DIRECT_ALIGN);
  }

  /** Encodes records [k, j) (`bytes` in all, in the accepting segment, after `pad` zeros) as one
   *  chunk. */
  private encode(records: readonly LogRecord[], k: number, j: number, bytes: number, pad: number): void {
    const { state } = this;
    const dataBlock = this.dataArena.reserve(pad + bytes);
    const indexBlock = this.indexArena.reserve((j - k) * INDEX_ENTRY_SIZE);
    const { buf: data, view: dataView } = dataBlock;
    const { buf: index, view: indexView } = indexBlock;
    const chunkStart = dataBlock.used - pad - bytes;
    const dataStart = chunkStart + pad;
    if (pad > 0) data.fill(0, chunkStart, dataStart);
    const indexStart = indexBlock.used - (j - k) * INDEX_ENTRY_SIZE;
    const offload = this.offloads(bytes, data);
    const encodeOne = offload ? encodeUnsealedRecord : encodeRecord;
    let off = dataStart;
    let indexOff = indexStart;
    for (let m = k; m < j; m++) {
      const r = records[m];
      const pos = state.acceptPos + pad + off - dataStart;
      const size = encodeOne(data, dataView, off, r.index, r.term, r.type, r.data, pos);
      encodeIndexEntry(index, indexView, indexOff, r.index, pos, r.term, size, r.type);
      off += size;
      indexOff += INDEX_ENTRY_SIZE;
      state.remember(r, size - RECORD_HEADER_SIZE);
    }
    assert(off - dataStart === bytes, 'encoded size matches the planned size');
    state.acceptPos += pad + bytes;
    const chunk: Chunk = {
      segStart: state.acceptSegStart,
      pad,
      data: data.subarray(chunkStart, off),
      index: index.subarray(indexStart, indexOff),
      firstIndex: records[k].index,
      lastIndex: records[j - 1].index,
      endPos: state.acceptPos,
      dataBlock,
      indexBlock,
      sealed: !offload,
      dropped: false,
      released: false,
    };
    this.items.push(chunk);
    if (offload) {
      this.sealer.submit(data, dataStart, off, () => {
        chunk.sealed = true;
        if (chunk.dropped) this.release(chunk);
        else this.sealed();
      });
    }
  }

  /**
   * Whether a batch of `bytes` encoded into `data` is sealed on the CRC worker. Only a large one,
   * and only if something is ahead of it (unwritten or being sealed) for the main thread to write
   * meanwhile: alone, it would wait for the hand-off with nothing to overlap, and one appender
   * awaiting each large append is faster sealing inline.
   */
  private offloads(bytes: number, data: Buffer): boolean {
    return (
      this.settings.crcOffloadMinBytes > 0 &&
      bytes >= this.settings.crcOffloadMinBytes &&
      (this.headAt < this.items.length || this.sealer.outstanding() > 0) &&
      data.buffer instanceof SharedArrayBuffer &&
      this.sealer.available()
    );
  }

  /** The chunk's encoding bytes may be reused. */
  private release(c: Chunk): void {
    if (c.released) return;
    c.released = true;
    this.dataArena.release(c.dataBlock);
    this.indexArena.release(c.indexBlock);
  }
}
