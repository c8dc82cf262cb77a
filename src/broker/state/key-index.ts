// The message key index (RocketMQ's IndexService, for queryMsgByKey): (topic, key) -> where the
// messages are (log index and slot in the batch). Derived state, not replicated: each replica
// builds it as it applies send batches, reading the keys from the entry bytes (bodies are stepped
// over, no string is made), and a restart rebuilds it from the retained log (KeyIndexRebuilder).
//
// Bounded: a ring of `capacity` entries, the oldest overwritten first, chained per hash bucket in
// typed arrays (about 30 bytes an entry, no object per key). Keys are found by a 32-bit hash of
// topic and key, so a lookup gives candidates: the caller reads each message and checks its topic
// and keys. Retention drops what is below the log's first index (dropBefore).
import { assert } from '../../util/index.ts';

/** Separator of several keys in a message's `keys` (RocketMQ's MessageConst.KEY_SEPARATOR). */
export const KEY_SEPARATOR_BYTE = 0x20;
/** Entries of a bucket's chain one lookup walks at most (hash collisions of other keys). */
const CHAIN_STEPS_MAX = 100_000;

const UTF8 = new TextEncoder();

/** FNV-1a, 32 bits, continued from `h` over data[start, end). */
function fnv1a(h: number, data: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h >>> 0;
}
const FNV_OFFSET = 0x811c9dc5;

/** The hash state after `topic` and the separator byte: a key's hash continues from it. */
export function topicHashSeed(topic: string): number {
  const bytes = UTF8.encode(topic);
  return Math.imul(fnv1a(FNV_OFFSET, bytes, 0, bytes.length) ^ 0, 0x01000193) >>> 0;
}

/** The hash of (topic, key) as the index files it. */
export function keyHash(topic: string, key: string): number {
  const bytes = UTF8.encode(key);
  return fnv1a(topicHashSeed(topic), bytes, 0, bytes.length);
}

/** Calls `onHash` with the hash of each key in data[start, end) (UTF-8 keys separated by spaces),
 *  continued from `seed` (topicHashSeed). */
export function forEachKeyHash(seed: number, data: Uint8Array, start: number, end: number, onHash: (hash: number) => void): void {
  let from = start;
  for (let i = start; i <= end; i++) {
    if (i < end && data[i] !== KEY_SEPARATOR_BYTE) continue;
    if (i > from) onHash(fnv1a(seed, data, from, i));
    from = i + 1;
  }
}

export interface KeyLocation {
  readonly logIndex: number;
  readonly slot: number;
}

export class KeyIndex {
  readonly capacity: number;
  private readonly bucketMask: number;
  /** Per bucket: sequence number + 1 of its newest entry (0: none). */
  private readonly heads: Float64Array;
  private readonly hashes: Uint32Array;
  private readonly logIndexes: Float64Array;
  private readonly slots: Uint16Array;
  /** Per entry: sequence number + 1 of the previous entry of its bucket (0: none). */
  private readonly prevs: Float64Array;
  /** Sequence number of the next entry; entries [low, next) are live, entry s at s % capacity. */
  private next = 0;
  private low = 0;
  private readonly topicSeeds = new Map<string, number>();

  constructor(capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, 'key index: capacity must be a positive integer');
    this.capacity = capacity;
    let buckets = 16;
    while (buckets < capacity) buckets *= 2;
    this.bucketMask = buckets - 1;
    this.heads = new Float64Array(buckets);
    this.hashes = new Uint32Array(capacity);
    this.logIndexes = new Float64Array(capacity);
    this.slots = new Uint16Array(capacity);
    this.prevs = new Float64Array(capacity);
  }

  /** Live entries. */
  get size(): number {
    return this.next - this.low;
  }

  /** Log index of the newest entry (0 when empty). */
  get lastLogIndex(): number {
    return this.next > this.low ? this.logIndexes[(this.next - 1) % this.capacity]! : 0;
  }

  /** The hash seed of `topic`, cached (topics are few; one encode per batch otherwise). */
  seedOf(topic: string): number {
    let seed = this.topicSeeds.get(topic);
    if (seed === undefined) {
      seed = topicHashSeed(topic);
      // Bounded like the topic table; a cleared cache only costs encodes.
      if (this.topicSeeds.size >= 4096) this.topicSeeds.clear();
      this.topicSeeds.set(topic, seed);
    }
    return seed;
  }

  /** Files each key of `keys` (UTF-8 bytes in data[start, end), separated by spaces) of message
   *  `slot` of the entry at `logIndex`. Log indexes must not go down between calls. */
  addKeys(seed: number, data: Uint8Array, start: number, end: number, logIndex: number, slot: number): void {
    forEachKeyHash(seed, data, start, end, (hash) => this.add(hash, logIndex, slot));
  }

  /** Files one hashed key. */
  add(hash: number, logIndex: number, slot: number): void {
    assert(logIndex >= this.lastLogIndex, `key index: log index ${logIndex} below ${this.lastLogIndex}`);
    const seq = this.next++;
    if (seq - this.low >= this.capacity) this.low = seq - this.capacity + 1;
    const pos = seq % this.capacity;
    const bucket = hash & this.bucketMask;
    this.hashes[pos] = hash;
    this.logIndexes[pos] = logIndex;
    this.slots[pos] = slot;
    this.prevs[pos] = this.heads[bucket]!;
    this.heads[bucket] = seq + 1;
  }

  /** Where (topic, key) may be, newest first, at most `max`: candidates, to be checked. */
  candidates(topic: string, key: string, max: number): KeyLocation[] {
    const bytes = UTF8.encode(key);
    const hash = fnv1a(this.seedOf(topic), bytes, 0, bytes.length);
    const out: KeyLocation[] = [];
    let seq = this.heads[hash & this.bucketMask]! - 1;
    for (let steps = 0; seq >= this.low && out.length < max && steps < CHAIN_STEPS_MAX; steps++) {
      const pos = seq % this.capacity;
      if (this.hashes[pos] === hash) out.push({ logIndex: this.logIndexes[pos]!, slot: this.slots[pos]! });
      seq = this.prevs[pos]! - 1;
    }
    return out;
  }

  /** Calls `fn` for each live entry, oldest first. */
  forEachOldestFirst(fn: (hash: number, logIndex: number, slot: number) => void): void {
    for (let seq = this.low; seq < this.next; seq++) {
      const pos = seq % this.capacity;
      fn(this.hashes[pos]!, this.logIndexes[pos]!, this.slots[pos]!);
    }
  }

  /** Retention: forgets the entries of log indexes below `logIndex`. */
  dropBefore(logIndex: number): void {
    while (this.low < this.next && this.logIndexes[this.low % this.capacity]! < logIndex) this.low++;
  }

  clear(): void {
    this.heads.fill(0);
    this.next = 0;
    this.low = 0;
  }
}
