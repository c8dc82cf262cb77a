// Replicated table: the idempotent producers' windows. For each (topic, queue, producer) the last
// IDEMPOTENCE_WINDOW_BATCHES batches stored (first seq, count, log index, first queue offset), so
// that a retry of one of them is answered with its first result instead of being stored again
// (commands/send-batch.ts). Checkpoint records `p:<topic>:<queueId 4 digits>:<producerId>` ->
// the window's batches, oldest first, flat ([firstSeq, count, logIndex, firstOffset, ...]); ':'
// never occurs in a topic name, so the producer id (which may hold ':') is the key's rest.
//
// Bounded: at most IDEMPOTENCE_PAIRS_MAX windows. A new pair beyond it evicts the window whose
// last batch is the oldest (ties, which only a malformed restore could make, by key order): every
// replica applies the same entries, so every replica evicts the same one. The windows are kept
// in a list in that order (a batch moves its window to the end), so eviction and the per-batch
// update cost no search.
import { assert } from '../../util/index.ts';
import { IDEMPOTENCE_WINDOW_BATCHES, PRODUCER_ID_PATTERN, SEND_BATCH_COUNT_MAX, TOPIC_QUEUE_COUNT_MAX } from '../../protocol/index.ts';
import { validateTopicName } from '../commands.ts';
import type { CheckpointOp, ReplicatedTable, RestoreContext } from './replicated-table.ts';
import { assertRestored, cmp, packr } from './replicated-table.ts';

/** (topic, queue, producer) windows one broker group keeps. */
export const IDEMPOTENCE_PAIRS_MAX = 16_384;

/** Numbers per batch in a window: firstSeq, count, logIndex, firstOffset. */
const FIELDS = 4;
/** Batches a new window has room for before it grows (most producers send few batches per queue). */
const INITIAL_BATCHES = 4;

/** [topic, queueId, producerId, batches (flat, oldest first)], sorted by checkpoint key. */
export type ProducerWindowSnapshot = readonly (readonly [topic: string, queueId: number, producerId: string, batches: readonly number[]])[];

const KEY_PREFIX = 'p:';

/** The table's key (and checkpoint key) of a (topic, queue, producer). Apply makes one per send
 *  batch with a producer. */
export function producerWindowKey(topic: string, queueId: number, producerId: string): string {
  return `${KEY_PREFIX}${topic}:${String(queueId).padStart(4, '0')}:${producerId}`;
}

function partsOf(key: string): [topic: string, queueId: number, producerId: string] {
  const topicEnd = key.indexOf(':', KEY_PREFIX.length);
  const queueEnd = key.indexOf(':', topicEnd + 1);
  if (topicEnd < 0 || queueEnd < 0) return ['', -1, ''];
  return [key.slice(KEY_PREFIX.length, topicEnd), Number(key.slice(topicEnd + 1, queueEnd)), key.slice(queueEnd + 1)];
}

/** A batch a window remembers: enough to answer a retry with the first result. */
export interface RememberedBatch {
  readonly firstSeq: number;
  readonly count: number;
  readonly logIndex: number;
  readonly firstOffset: number;
}

/** One (topic, queue, producer)'s last batches, a ring in a typed array that grows to
 *  IDEMPOTENCE_WINDOW_BATCHES (no object per batch). */
export class ProducerWindow {
  private data = new Float64Array(INITIAL_BATCHES * FIELDS);
  /** Ring position of the oldest batch, and the batches held. */
  private start = 0;
  private held = 0;
  /** Neighbours in the table's eviction order. */
  older: ProducerWindow | null = null;
  newer: ProducerWindow | null = null;

  constructor(readonly key: string) {}

  get size(): number {
    return this.held;
  }

  /** Log index of the newest batch (0 when empty). */
  get lastLogIndex(): number {
    return this.held === 0 ? 0 : this.data[this.at(this.held - 1) + 2];
  }

  /** The i-th batch held, oldest first (0 <= i < size). */
  batch(i: number): RememberedBatch {
    const p = this.at(i);
    return { firstSeq: this.data[p], count: this.data[p + 1], logIndex: this.data[p + 2], firstOffset: this.data[p + 3] };
  }

  /** Index (oldest first) of the batch that started at `firstSeq`, or -1. Newest first: a retry
   *  is usually of a recent batch. */
  find(firstSeq: number): number {
    for (let i = this.held - 1; i >= 0; i--) if (this.data[this.at(i)] === firstSeq) return i;
    return -1;
  }

  /** Remembers a batch just stored; the oldest goes once IDEMPOTENCE_WINDOW_BATCHES are held. */
  push(firstSeq: number, count: number, logIndex: number, firstOffset: number): void {
    assert(logIndex > this.lastLogIndex, `producer window ${this.key}: log index ${logIndex} does not grow`);
    if (this.held === IDEMPOTENCE_WINDOW_BATCHES) {
      this.start = (this.start + 1) % IDEMPOTENCE_WINDOW_BATCHES;
      this.held--;
    } else if (this.held * FIELDS === this.data.length) {
      this.grow();
    }
    const p = this.at(this.held);
    this.data[p] = firstSeq;
    this.data[p + 1] = count;
    this.data[p + 2] = logIndex;
    this.data[p + 3] = firstOffset;
    this.held++;
  }

  /** The batches, oldest first, flat (the checkpoint value and the snapshot row). */
  toArray(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.held; i++) {
      const p = this.at(i);
      out.push(this.data[p], this.data[p + 1], this.data[p + 2], this.data[p + 3]);
    }
    return out;
  }

  /** Array position of the i-th batch held. */
  private at(i: number): number {
    return ((this.start + i) % (this.data.length / FIELDS)) * FIELDS;
  }

  private grow(): void {
    const next = new Float64Array(Math.min(this.data.length * 2, IDEMPOTENCE_WINDOW_BATCHES * FIELDS));
    for (let i = 0; i < this.held; i++) next.set(this.data.subarray(this.at(i), this.at(i) + FIELDS), i * FIELDS);
    this.data = next;
    this.start = 0;
  }
}

export interface ProducerWindowTableOptions {
  /** Test-only planted bug (the property test must find it): restores, from a snapshot or a
   *  checkpoint, forget every window. Never set in production. */
  readonly forgetOnRestore?: boolean;
}

export class ProducerWindowTable implements ReplicatedTable<ProducerWindowSnapshot> {
  readonly name = 'producerWindows';
  readonly checkpointKeyPrefix = KEY_PREFIX;
  private readonly windows = new Map<string, ProducerWindow>();
  /** Eviction order: the window whose newest batch is the oldest first. */
  private oldest: ProducerWindow | null = null;
  private newest: ProducerWindow | null = null;
  /** Keys written or removed since the last checkpoint taken. */
  private readonly changed = new Set<string>();
  private readonly forgetOnRestore: boolean;

  constructor(options: ProducerWindowTableOptions = {}) {
    this.forgetOnRestore = options.forgetOnRestore ?? false;
  }

  get size(): number {
    return this.windows.size;
  }

  /** The window under `key` (producerWindowKey), if any. */
  get(key: string): ProducerWindow | undefined {
    return this.windows.get(key);
  }

  /** Remembers a batch stored at `logIndex` in `window` (get's answer for `key`; undefined: a
   *  new window, which may evict the least recently written one). */
  record(key: string, window: ProducerWindow | undefined, firstSeq: number, count: number, logIndex: number, firstOffset: number): void {
    let w = window;
    if (w === undefined) {
      if (this.windows.size >= IDEMPOTENCE_PAIRS_MAX) this.remove(this.oldest!);
      w = new ProducerWindow(key);
      this.windows.set(key, w);
    } else {
      this.unlink(w);
    }
    w.push(firstSeq, count, logIndex, firstOffset);
    this.linkNewest(w);
    this.changed.add(key);
  }

  /** deleteTopic: the windows of every producer on `topic` go. A scan of at most
   *  IDEMPOTENCE_PAIRS_MAX windows: topic deletion is a rare operator command. */
  deleteTopic(topic: string): void {
    const prefix = `${KEY_PREFIX}${topic}:`;
    for (const w of [...this.windows.values()]) if (w.key.startsWith(prefix)) this.remove(w);
  }

  /** Windows in eviction order, the next to go first (tests). */
  *inEvictionOrder(): IterableIterator<ProducerWindow> {
    for (let w = this.oldest; w !== null; w = w.newer) yield w;
  }

  snapshot(): ProducerWindowSnapshot {
    return [...this.windows.keys()].sort(cmp).map((key) => [...partsOf(key), this.windows.get(key)!.toArray()] as const);
  }

  restore(snapshot: ProducerWindowSnapshot, context: RestoreContext): void {
    assert(Array.isArray(snapshot), 'state restore: the producer windows snapshot is not an array');
    this.clear();
    if (!this.forgetOnRestore) {
      for (const record of snapshot) {
        assert(Array.isArray(record) && record.length === 4, 'state restore: a producer window snapshot record is not [topic, queueId, producerId, batches]');
        const [topic, queueId, producerId, batches] = record;
        assert(Number.isInteger(queueId) && typeof producerId === 'string', `state restore: producer window of ${String(topic)} has queueId ${String(queueId)}, producer ${String(producerId)}`);
        this.add(producerWindowKey(String(topic), queueId, producerId), batches);
      }
    }
    this.finishCheckpointLoad(context);
    for (const key of this.windows.keys()) this.changed.add(key);
  }

  takeCheckpoint(ops: CheckpointOp[]): undefined {
    for (const key of this.changed) {
      const w = this.windows.get(key);
      ops.push(w === undefined ? { type: 'del', key } : { type: 'put', key, value: packr.pack(w.toArray()) });
    }
    this.changed.clear();
    return undefined;
  }

  loadCheckpointRecord(key: string, value: Uint8Array): void {
    if (this.forgetOnRestore) return;
    this.add(key, packr.unpack(value) as unknown);
  }

  /** Checks every window against the topics and the applied index, and puts them in eviction
   *  order: by the log index of the newest batch, ties by key. */
  finishCheckpointLoad({ tables, appliedIndex }: RestoreContext): void {
    this.oldest = this.newest = null;
    const byAge = [...this.windows.values()].sort((a, b) => a.lastLogIndex - b.lastLogIndex || cmp(a.key, b.key));
    for (const w of byAge) {
      const [topic, queueId] = partsOf(w.key);
      const queueCount = tables.topics.queueCount(topic);
      assert(queueCount !== undefined && queueId < queueCount, `state restore: producer window ${w.key} of an unknown queue`);
      assert(w.lastLogIndex <= appliedIndex, `state restore: producer window ${w.key} names entry ${w.lastLogIndex}, past the applied index ${appliedIndex}`);
      this.linkNewest(w);
    }
  }

  /** Adds a restored window after checking what it alone shows. */
  private add(key: string, batches: unknown): void {
    const [topic, queueId, producerId] = partsOf(key);
    assertRestored(() => validateTopicName(topic), key);
    assert(Number.isInteger(queueId) && queueId >= 0 && queueId < TOPIC_QUEUE_COUNT_MAX && key === producerWindowKey(topic, queueId, producerId), `state restore: bad key ${key}`);
    assert(PRODUCER_ID_PATTERN.test(producerId), `state restore: bad producer id in ${key}`);
    assert(!this.windows.has(key), `state restore: producer window ${key} twice`);
    assert(this.windows.size < IDEMPOTENCE_PAIRS_MAX, 'state restore: too many producer windows');
    assert(Array.isArray(batches) && batches.length > 0 && batches.length % FIELDS === 0 && batches.length <= IDEMPOTENCE_WINDOW_BATCHES * FIELDS, `state restore: producer window ${key} is not 1..${IDEMPOTENCE_WINDOW_BATCHES} batches`);
    const w = new ProducerWindow(key);
    for (let i = 0; i < batches.length; i += FIELDS) {
      const [firstSeq, count, logIndex, firstOffset] = batches.slice(i, i + FIELDS) as unknown[];
      const fine = [firstSeq, count, logIndex, firstOffset].every((v) => Number.isSafeInteger(v) && (v as number) >= 0);
      assert(fine && (count as number) >= 1 && (count as number) <= SEND_BATCH_COUNT_MAX && Number.isSafeInteger((firstSeq as number) + (count as number)), `state restore: producer window ${key} has a bad batch`);
      assert((logIndex as number) > w.lastLogIndex, `state restore: producer window ${key}: log indexes do not grow`);
      w.push(firstSeq as number, count as number, logIndex as number, firstOffset as number);
    }
    this.windows.set(key, w);
  }

  private remove(w: ProducerWindow): void {
    this.unlink(w);
    this.windows.delete(w.key);
    this.changed.add(w.key);
  }

  private clear(): void {
    this.windows.clear();
    this.changed.clear();
    this.oldest = this.newest = null;
  }

  private unlink(w: ProducerWindow): void {
    if (w.older === null) this.oldest = w.newer;
    else w.older.newer = w.newer;
    if (w.newer === null) this.newest = w.older;
    else w.newer.older = w.older;
    w.older = w.newer = null;
  }

  private linkNewest(w: ProducerWindow): void {
    w.older = this.newest;
    w.newer = null;
    if (this.newest === null) this.oldest = w;
    else this.newest.newer = w;
    this.newest = w;
  }
}
