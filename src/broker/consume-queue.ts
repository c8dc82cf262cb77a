// One queue's consume index (RocketMQ's ConsumeQueue): queue offset -> (Raft log index, slot in
// that entry's batch), packed as logIndex * SLOT_RADIX + slot (exact below 2^53). Append-only, in
// two tiers so memory stays flat however long a queue grows:
// - hot, [coldEnd, maxOffset): runs in memory. A batch of n messages is one run (its first queue
//   offset and its first packed entry), 16 bytes for the whole batch: under load a batch carries
//   tens of messages, so well under a byte per message, where a per-message array would cost
//   memory for every message ever applied.
// - cold, [0, coldEnd): chunks of CONSUME_QUEUE_CHUNK_ENTRY_COUNT entries that a completed
//   checkpoint holds in full, read back through a ColdChunkReader (the checkpoint's LevelDB and
//   a bounded cache), so a replica's memory does not grow with the queue. Only the owner moves
//   coldEnd (freezeBelow): up, to chunk boundaries.
// The bodies stay in the log.
import { assert } from '../util/index.ts';
import { SEND_BATCH_COUNT_MAX } from '../protocol/index.ts';

/** Slots per log entry: a batch never holds more messages than this. */
export const SLOT_RADIX = SEND_BATCH_COUNT_MAX;
/** Largest log index a queue can point at (keeps the packed value an exact float64 integer). */
export const LOG_INDEX_MAX = Math.floor(Number.MAX_SAFE_INTEGER / SLOT_RADIX) - 1;
/** Most entries one queue indexes. Apply refuses sends beyond it. */
export const CONSUME_QUEUE_ENTRY_COUNT_MAX = 2 ** 28;
/** Entries per cold chunk (and per checkpoint value): 32 KiB encoded. */
export const CONSUME_QUEUE_CHUNK_ENTRY_COUNT = 4096;
const INITIAL_CAPACITY = 16;
/** Bytes per entry in memory and in an encoded range. */
export const CONSUME_QUEUE_ENTRY_BYTES = 8;

/** Where cold entries come from. `read(chunk)` returns the CONSUME_QUEUE_CHUNK_ENTRY_COUNT packed
 *  entries of that chunk, already checked (see decodeChunk). The queue keeps no reference to
 *  them: the reader's cache, shared by all queues, is what bounds the cold tier's memory. */
export interface ColdChunkReader {
  read(chunk: number): Float64Array;
}

export class ConsumeQueue {
  /** Hot run r covers queue offsets [runOffset[r], runOffset[r + 1]) (the last one up to maxOffset). */
  private runOffset: Float64Array = new Float64Array(INITIAL_CAPACITY);
  /** Packed (logIndex, slot) of run r's first offset; later offsets follow slot by slot. */
  private runBase: Float64Array = new Float64Array(INITIAL_CAPACITY);
  private runs = 0;
  /** Entries stored from baseOffset (readable or not). */
  private count = 0;
  /** First offset stored: 0, or the chunk boundary a snapshot restore started the queue at. */
  private base = 0;
  /** First offset readable: retention moves it up (trimTo); entries below it are never served. */
  private min = 0;
  /** Offsets below this are cold (read through `cold`). A multiple of the chunk size. */
  private coldEndValue = 0;
  /** Packed entry at maxOffset - 1 (-1 when empty): appends check growth without a cold read. */
  private last = -1;
  /** Last run found by a lookup: pulls read offsets in order, so it is usually the next answer. */
  private lastRun = 0;

  /** `cold` is needed only by a queue that will be frozen (a durable state machine's). */
  constructor(private readonly cold?: ColdChunkReader) {}

  /** The next queue offset to assign (exclusive upper bound, RocketMQ's maxOffset). */
  get maxOffset(): number {
    return this.base + this.count;
  }

  /** Queue offset of the first readable entry (RocketMQ's minOffset): 0 until retention. */
  get minOffset(): number {
    return this.min;
  }

  /** Readable messages (hot and cold). */
  get size(): number {
    return this.maxOffset - this.min;
  }

  /** Hot runs held (one per batch at most; for tests and memory figures). */
  get runCount(): number {
    return this.runs;
  }

  /** Capacity of the hot run arrays, in runs (for tests: it shrinks when runs go cold). */
  get runCapacity(): number {
    return this.runOffset.length;
  }

  /** The packed entry at maxOffset - 1, -1 when empty (never a cold read). */
  get lastPacked(): number {
    return this.last;
  }

  /** Offsets below this are read from cold chunks. */
  get coldEnd(): number {
    return this.coldEndValue;
  }

  /** Room for `n` more entries. */
  hasRoom(n: number): boolean {
    return this.maxOffset + n <= CONSUME_QUEUE_ENTRY_COUNT_MAX;
  }

  /** Starts an empty queue at `offset`, a chunk boundary (a restore: what came before is gone). */
  startAt(offset: number): void {
    assert(this.count === 0 && this.base === 0 && this.min === 0, 'consume queue: startAt needs a new queue');
    assert(Number.isSafeInteger(offset) && offset >= 0 && offset % CONSUME_QUEUE_CHUNK_ENTRY_COUNT === 0 && offset <= CONSUME_QUEUE_ENTRY_COUNT_MAX, `consume queue: bad start ${offset}`);
    this.base = this.min = this.coldEndValue = offset;
  }

  /** Retention: offsets below `offset` are no longer served (their log entries are deleted). */
  trimTo(offset: number): void {
    assert(Number.isSafeInteger(offset) && offset >= this.min && offset <= this.maxOffset, `consume queue: trim to ${offset} outside [${this.min}, ${this.maxOffset}]`);
    this.min = offset;
  }

  /** The first offset whose entry is at or after log index `logIndex` (maxOffset if none):
   *  where a trim of every log entry below `logIndex` leaves minOffset. */
  offsetOfLogIndex(logIndex: number): number {
    let lo = this.min;
    let hi = this.maxOffset;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (this.packedAt(mid) < logIndex * SLOT_RADIX) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Indexes `count` messages that sit in slots 0..count-1 of the entry at `logIndex`.
   *  Returns the queue offset of the first. Log indexes only grow. */
  appendBatch(logIndex: number, count: number): number {
    assert(Number.isSafeInteger(logIndex) && logIndex >= 1 && logIndex <= LOG_INDEX_MAX, `consume queue: bad log index ${logIndex}`);
    assert(Number.isInteger(count) && count >= 1 && count <= SLOT_RADIX, `consume queue: bad batch count ${count}`);
    assert(this.hasRoom(count), 'consume queue: full');
    assert(Math.floor(this.last / SLOT_RADIX) < logIndex, `consume queue: log index ${logIndex} does not grow`);
    const first = this.maxOffset;
    const base = logIndex * SLOT_RADIX;
    this.pushRun(first, base);
    this.count += count;
    this.last = base + count - 1;
    return first;
  }

  /** True when `offset` is in [minOffset, maxOffset). */
  has(offset: number): boolean {
    return Number.isInteger(offset) && offset >= this.minOffset && offset < this.maxOffset;
  }

  /** The entry at `offset`, or undefined outside [minOffset, maxOffset). */
  lookup(offset: number): { logIndex: number; slot: number } | undefined {
    if (!this.has(offset)) return undefined;
    const p = this.packedAt(offset);
    return { logIndex: Math.floor(p / SLOT_RADIX), slot: p % SLOT_RADIX };
  }

  /** The packed entry (logIndex * SLOT_RADIX + slot) at `offset`, which must be indexed. One
   *  lookup for both parts: a cold one costs a cache probe. */
  packedAt(offset: number): number {
    assert(this.has(offset), `consume queue: offset ${offset} outside [${this.min}, ${this.maxOffset})`);
    return this.storedAt(offset);
  }

  /** packedAt for any stored offset, below minOffset too (checkpoints write whole chunks). */
  private storedAt(offset: number): number {
    if (offset < this.coldEndValue) {
      const chunk = Math.floor(offset / CONSUME_QUEUE_CHUNK_ENTRY_COUNT);
      return this.coldChunk(chunk)[offset - chunk * CONSUME_QUEUE_CHUNK_ENTRY_COUNT];
    }
    const r = this.runOf(offset);
    return this.runBase[r] + (offset - this.runOffset[r]);
  }

  /** Entries [from, to) as little-endian float64s, one per offset (the checkpoint format). Cold
   *  entries are read chunk by chunk (the state digest reads whole queues). */
  encodeRange(from: number, to: number): Uint8Array {
    assert(from >= this.base && from <= to && to <= this.maxOffset, `consume queue: bad range [${from}, ${to})`);
    const out = new Uint8Array((to - from) * CONSUME_QUEUE_ENTRY_BYTES);
    const view = new DataView(out.buffer);
    let o = from;
    while (o < to && o < this.coldEndValue) {
      const chunk = Math.floor(o / CONSUME_QUEUE_CHUNK_ENTRY_COUNT);
      const start = chunk * CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
      const entries = this.coldChunk(chunk);
      const end = Math.min(to, start + CONSUME_QUEUE_CHUNK_ENTRY_COUNT);
      for (; o < end; o++) view.setFloat64((o - from) * CONSUME_QUEUE_ENTRY_BYTES, entries[o - start], true);
    }
    for (; o < to; o++) view.setFloat64((o - from) * CONSUME_QUEUE_ENTRY_BYTES, this.storedAt(o), true);
    return out;
  }

  /** Restores entries encoded by encodeRange, which must start at maxOffset. Asserts the bytes
   *  are well formed (read back from disk: check before trusting). */
  appendEncoded(from: number, bytes: Uint8Array): void {
    assert(from === this.maxOffset, `consume queue: restored range starts at ${from}, expected ${this.maxOffset}`);
    assert(bytes.length % CONSUME_QUEUE_ENTRY_BYTES === 0, `consume queue: restored range of ${bytes.length} bytes`);
    const n = bytes.length / CONSUME_QUEUE_ENTRY_BYTES;
    assert(this.hasRoom(n), 'consume queue: restored range overflows');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let prev = this.last;
    for (let i = 0; i < n; i++) {
      const p = view.getFloat64(i * CONSUME_QUEUE_ENTRY_BYTES, true);
      assert(followsPacked(p, prev), `consume queue: restored entry ${from + i} is invalid`);
      // The next slot of the same entry continues a hot run; anything else starts one.
      const continuesRun = this.runs > 0 && p === prev + 1 && p % SLOT_RADIX !== 0;
      if (!continuesRun) this.pushRun(this.maxOffset, p);
      this.count++;
      prev = p;
    }
    this.last = prev;
  }

  /** Starts an empty queue whose first `end` entries are already cold (a restore: the chunks
   *  were checked as they were read), the last of them being `lastPacked`. */
  restoreCold(end: number, lastPacked: number): void {
    assert(this.count === 0 && this.cold !== undefined, 'consume queue: restoreCold needs an empty queue with a cold reader');
    assert(end > this.base && end % CONSUME_QUEUE_CHUNK_ENTRY_COUNT === 0 && end <= CONSUME_QUEUE_ENTRY_COUNT_MAX, `consume queue: bad cold end ${end}`);
    assert(Number.isSafeInteger(lastPacked) && lastPacked >= SLOT_RADIX, `consume queue: bad last entry ${lastPacked}`);
    this.count = end - this.base;
    this.coldEndValue = end;
    this.last = lastPacked;
  }

  /** Makes offsets below `end` cold (the owner vouches that the cold reader serves them) and
   *  drops their runs. `end` is a chunk boundary in [coldEnd, maxOffset]. */
  freezeBelow(end: number): void {
    assert(this.cold !== undefined, 'consume queue: freezing needs a cold reader');
    assert(end % CONSUME_QUEUE_CHUNK_ENTRY_COUNT === 0 && end >= this.coldEndValue && end <= this.maxOffset, `consume queue: bad cold end ${end} (cold below ${this.coldEndValue}, max ${this.maxOffset})`);
    if (end === this.coldEndValue) return;
    // First run still (partly) hot: the one holding `end`, or none when everything goes cold.
    const keep = end === this.maxOffset ? this.runs : this.runOf(end);
    if (keep < this.runs) {
      // Split the run that straddles `end`: slots continue one per offset.
      this.runBase[keep] += end - this.runOffset[keep];
      this.runOffset[keep] = end;
    }
    const live = this.runs - keep;
    // Shrink the arrays once they are mostly empty, or they stay at their high-water mark.
    if (live < this.runOffset.length / 4 && this.runOffset.length > INITIAL_CAPACITY) {
      const cap = Math.max(INITIAL_CAPACITY, 2 ** Math.ceil(Math.log2(live * 2 || 1)));
      const offsets = new Float64Array(cap);
      offsets.set(this.runOffset.subarray(keep, this.runs));
      const bases = new Float64Array(cap);
      bases.set(this.runBase.subarray(keep, this.runs));
      this.runOffset = offsets;
      this.runBase = bases;
    } else {
      this.runOffset.copyWithin(0, keep, this.runs);
      this.runBase.copyWithin(0, keep, this.runs);
    }
    this.runs = live;
    this.lastRun = 0;
    this.coldEndValue = end;
  }

  private coldChunk(chunk: number): Float64Array {
    assert(this.cold !== undefined, 'consume queue: cold offsets without a cold reader');
    const entries = this.cold.read(chunk);
    assert(entries.length === CONSUME_QUEUE_CHUNK_ENTRY_COUNT, `consume queue: cold chunk ${chunk} has ${entries.length} entries`);
    return entries;
  }

  /** The hot run holding `offset` (which is indexed and hot). */
  private runOf(offset: number): number {
    const last = this.runs - 1;
    let r = this.lastRun;
    if (r <= last && this.runOffset[r] <= offset && (r === last || offset < this.runOffset[r + 1])) return r;
    if (r + 1 <= last && this.runOffset[r + 1] <= offset && (r + 1 === last || offset < this.runOffset[r + 2])) {
      this.lastRun = r + 1;
      return r + 1;
    }
    // Binary search: the last run starting at or before offset.
    let lo = 0;
    let hi = last;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runOffset[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    this.lastRun = lo;
    return lo;
  }

  private pushRun(offset: number, base: number): void {
    if (this.runs === this.runOffset.length) {
      const cap = this.runOffset.length * 2;
      const offsets = new Float64Array(cap);
      offsets.set(this.runOffset);
      const bases = new Float64Array(cap);
      bases.set(this.runBase);
      this.runOffset = offsets;
      this.runBase = bases;
    }
    this.runOffset[this.runs] = offset;
    this.runBase[this.runs] = base;
    this.runs++;
  }
}

/** Whether `p` is a packed entry that may follow `prev` (-1: none) in a queue: entries only grow. */
function followsPacked(p: number, prev: number): boolean {
  return Number.isSafeInteger(p) && p > prev && p >= SLOT_RADIX;
}

/** Checks and decodes one full chunk as stored (encodeRange bytes): exactly the chunk's entries,
 *  each a packed entry above the one before. `what` names it in the assertion. */
export function decodeChunk(bytes: Uint8Array | undefined, what: string): Float64Array {
  assert(bytes !== undefined, `consume queue: ${what} is missing`);
  assert(bytes.length === CONSUME_QUEUE_CHUNK_ENTRY_COUNT * CONSUME_QUEUE_ENTRY_BYTES, `consume queue: ${what} has ${bytes.length} bytes, expected ${CONSUME_QUEUE_CHUNK_ENTRY_COUNT * CONSUME_QUEUE_ENTRY_BYTES}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(CONSUME_QUEUE_CHUNK_ENTRY_COUNT);
  let prev = -1;
  for (let i = 0; i < CONSUME_QUEUE_CHUNK_ENTRY_COUNT; i++) {
    const p = view.getFloat64(i * CONSUME_QUEUE_ENTRY_BYTES, true);
    assert(followsPacked(p, prev), `consume queue: ${what} entry ${i} is invalid`);
    out[i] = p;
    prev = p;
  }
  return out;
}
