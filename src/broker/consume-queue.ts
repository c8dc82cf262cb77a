// One queue's consume index (RocketMQ's ConsumeQueue): queue offset -> (Raft log index, slot in
// that entry's batch). Append-only, in memory, 8 bytes per message: both numbers are packed into
// one float64 (logIndex * SLOT_RADIX + slot, exact below 2^53). The bodies stay in the log.
import { assert } from '../raft/assert.ts';
import { SEND_BATCH_COUNT_MAX } from './protocol.ts';

/** Slots per log entry: a batch never holds more messages than this. */
export const SLOT_RADIX = SEND_BATCH_COUNT_MAX;
/** Largest log index a queue can point at (keeps the packed value an exact float64 integer). */
export const LOG_INDEX_MAX = Math.floor(Number.MAX_SAFE_INTEGER / SLOT_RADIX) - 1;
/** Most entries one queue holds in memory (2 GiB of index). Apply refuses sends beyond it. */
export const CONSUME_QUEUE_ENTRY_COUNT_MAX = 2 ** 28;
const INITIAL_CAPACITY = 16;
/** Bytes per entry in memory and in an encoded range. */
export const CONSUME_QUEUE_ENTRY_BYTES = 8;

export class ConsumeQueue {
  private packed: Float64Array = new Float64Array(INITIAL_CAPACITY);
  private count = 0;
  /** Queue offset of packed[0]. Always 0 until retention trims queues. */
  readonly minOffset: number = 0;

  /** The next queue offset to assign (exclusive upper bound, RocketMQ's maxOffset). */
  get maxOffset(): number {
    return this.minOffset + this.count;
  }

  /** Messages still indexed. */
  get size(): number {
    return this.count;
  }

  /** Room for `n` more entries. */
  hasRoom(n: number): boolean {
    return this.count + n <= CONSUME_QUEUE_ENTRY_COUNT_MAX;
  }

  /** Indexes `count` messages that sit in slots 0..count-1 of the entry at `logIndex`.
   *  Returns the queue offset of the first. Log indexes only grow. */
  appendBatch(logIndex: number, count: number): number {
    assert(Number.isSafeInteger(logIndex) && logIndex >= 1 && logIndex <= LOG_INDEX_MAX, `consume queue: bad log index ${logIndex}`);
    assert(Number.isInteger(count) && count >= 1 && count <= SLOT_RADIX, `consume queue: bad batch count ${count}`);
    assert(this.hasRoom(count), 'consume queue: full');
    assert(this.count === 0 || this.logIndexAt(this.maxOffset - 1) < logIndex, `consume queue: log index ${logIndex} does not grow`);
    this.reserve(this.count + count);
    const first = this.maxOffset;
    const base = logIndex * SLOT_RADIX;
    for (let slot = 0; slot < count; slot++) this.packed[this.count++] = base + slot;
    return first;
  }

  /** True when `offset` is in [minOffset, maxOffset). */
  has(offset: number): boolean {
    return Number.isInteger(offset) && offset >= this.minOffset && offset < this.maxOffset;
  }

  logIndexAt(offset: number): number {
    return Math.floor(this.packedAt(offset) / SLOT_RADIX);
  }

  slotAt(offset: number): number {
    return this.packedAt(offset) % SLOT_RADIX;
  }

  /** The entry at `offset`, or undefined outside [minOffset, maxOffset). */
  lookup(offset: number): { logIndex: number; slot: number } | undefined {
    if (!this.has(offset)) return undefined;
    const p = this.packed[offset - this.minOffset];
    return { logIndex: Math.floor(p / SLOT_RADIX), slot: p % SLOT_RADIX };
  }

  /** Entries [from, to) as little-endian float64s (for checkpoints and state digests). */
  encodeRange(from: number, to: number): Uint8Array {
    assert(from >= this.minOffset && from <= to && to <= this.maxOffset, `consume queue: bad range [${from}, ${to})`);
    const out = new Uint8Array((to - from) * CONSUME_QUEUE_ENTRY_BYTES);
    const view = new DataView(out.buffer);
    for (let o = from; o < to; o++) view.setFloat64((o - from) * CONSUME_QUEUE_ENTRY_BYTES, this.packed[o - this.minOffset], true);
    return out;
  }

  /** Restores entries encoded by encodeRange, which must start at maxOffset. Asserts the bytes
   *  are well formed (read back from disk: check before trusting). */
  appendEncoded(from: number, bytes: Uint8Array): void {
    assert(from === this.maxOffset, `consume queue: restored range starts at ${from}, expected ${this.maxOffset}`);
    assert(bytes.length % CONSUME_QUEUE_ENTRY_BYTES === 0, `consume queue: restored range of ${bytes.length} bytes`);
    const n = bytes.length / CONSUME_QUEUE_ENTRY_BYTES;
    assert(this.hasRoom(n), 'consume queue: restored range overflows');
    this.reserve(this.count + n);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let prev = this.count === 0 ? -1 : this.packed[this.count - 1];
    for (let i = 0; i < n; i++) {
      const p = view.getFloat64(i * CONSUME_QUEUE_ENTRY_BYTES, true);
      assert(Number.isSafeInteger(p) && p > prev && p >= SLOT_RADIX, `consume queue: restored entry ${from + i} is invalid`);
      prev = p;
      this.packed[this.count++] = p;
    }
  }

  private packedAt(offset: number): number {
    assert(this.has(offset), `consume queue: offset ${offset} outside [${this.minOffset}, ${this.maxOffset})`);
    return this.packed[offset - this.minOffset];
  }

  private reserve(n: number): void {
    if (n <= this.packed.length) return;
    let cap = this.packed.length;
    while (cap < n) cap *= 2;
    const next = new Float64Array(Math.min(cap, CONSUME_QUEUE_ENTRY_COUNT_MAX));
    next.set(this.packed.subarray(0, this.count));
    this.packed = next;
  }
}
