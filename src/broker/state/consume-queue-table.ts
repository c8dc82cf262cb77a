// Replicated table: the consume queue of every (topic, queue) that has received a message.
// Checkpoint records `q:<topic>:<queueId 4 digits>:<chunk 10 digits>` -> CHECKPOINT_CHUNK_ENTRY_COUNT
// entries (the last chunk of a queue may be short), so a checkpoint rewrites at most the partial
// last chunk of each queue that changed; `q:<topic>:<queueId 4 digits>:min` -> the queue's
// minOffset once retention moved it (the chunks wholly below it are deleted).
//
// Memory: once a completed checkpoint holds a chunk in full, the queue drops it from memory (it
// goes cold) and reads it back from LevelDB on demand (getSync, through a small cache shared by
// all queues); so a durable machine's memory does not grow with the messages applied. A table
// with no cold store (an in-memory machine) keeps everything hot.
import { assert } from '../../util/index.ts';
import {
  ConsumeQueue,
  CONSUME_QUEUE_CHUNK_ENTRY_COUNT,
  CONSUME_QUEUE_ENTRY_BYTES,
  CONSUME_QUEUE_ENTRY_COUNT_MAX,
  decodeChunk,
  SLOT_RADIX,
} from '../consume-queue.ts';
import type { CheckpointOp, ReplicatedTable, RestoreContext } from './replicated-table.ts';
import { cmp, packr } from './replicated-table.ts';

/** Consume-queue entries per checkpoint value (32 KiB); also the unit of the cold tier. */
export const CHECKPOINT_CHUNK_ENTRY_COUNT = CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
/** Decoded cold chunks cached for pulls, all queues together (32 KiB each). */
export const COLD_CHUNK_CACHE_COUNT_MAX = 64;
/** Full chunks below the checkpointed end each queue keeps hot, so that consumers a little behind
 *  the tail read memory, not LevelDB. Costs one chunk's runs per queue. */
const HOT_MARGIN_CHUNK_COUNT = 1;
/** Chunks one queue can have: spaces the numeric cold-cache keys of different queues. */
const COLD_CHUNKS_PER_QUEUE_MAX = CONSUME_QUEUE_ENTRY_COUNT_MAX / CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
const C = CHECKPOINT_CHUNK_ENTRY_COUNT;

/** [topic, queueId, minOffset, entries], sorted by topic and queue; every queue that ever had a
 *  message. `entries` are the queue's packed entries from the chunk boundary at or below
 *  minOffset (entries below minOffset in that chunk included, so every replica holds the same
 *  chunks) in encodeRange pieces cut at chunk boundaries (no piece is larger than a chunk). */
export type ConsumeQueueSnapshot = readonly (readonly [topic: string, queueId: number, minOffset: number, entries: readonly Uint8Array[]])[];

/** Where cold chunks are read from: the checkpoint store. */
export interface ColdChunkStore {
  getSync(key: string): Uint8Array | undefined;
}

const KEY_PREFIX = 'q:';
const queueKey = (topic: string, queueId: number): string => `${topic}:${queueId}`;
const chunkKey = (topic: string, queueId: number, chunk: number): string =>
  `${KEY_PREFIX}${topic}:${String(queueId).padStart(4, '0')}:${String(chunk).padStart(10, '0')}`;
/** Sorts after the queue's chunks (letters after digits). */
const MIN_SUFFIX = 'min';
const minKey = (topic: string, queueId: number): string => `${KEY_PREFIX}${topic}:${String(queueId).padStart(4, '0')}:${MIN_SUFFIX}`;

/** A consume queue as its checkpoint chunks describe it, while a checkpoint load streams them. */
interface LoadedQueue {
  readonly topic: string;
  readonly queueId: number;
  /** Chunk number of the first chunk seen (-1 before any). */
  firstChunk: number;
  /** Full chunks seen; a short one (`tail`) can only be the last. */
  fullChunks: number;
  /** From the queue's `min` record (0 without one). */
  minOffset: number;
  /** Packed last entry of the full chunks (-1 before any). */
  lastPacked: number;
  tail: Uint8Array | undefined;
}

export class ConsumeQueueTable implements ReplicatedTable<ConsumeQueueSnapshot> {
  readonly name = 'consumeQueues';
  readonly checkpointKeyPrefix = KEY_PREFIX;
  /** topic -> its queues by id; a queue is created on its first message. */
  private readonly queues = new Map<string, (ConsumeQueue | undefined)[]>();
  /** queueKey of the queues appended to since the last checkpoint taken. */
  private readonly changed = new Set<string>();
  /** queueKey -> queue offset up to which the last checkpoint taken (written or not) holds it. */
  private readonly checkpointedEnd = new Map<string, number>();
  /** queueKey -> chunk number below which the checkpoint holds no chunk of the queue (retention
   *  deleted them, or a restore started the queue there). */
  private readonly chunksDeletedBelow = new Map<string, number>();
  private coldStore: ColdChunkStore | undefined;
  /** coldCacheKey -> decoded cold chunk, least recently used first. */
  private readonly coldChunks = new Map<number, Float64Array>();
  /** The key used last: a sequential pull hits it thousands of times, so skip the reordering. */
  private coldChunkLast = -1;
  /** Numbers this table's queues for the cold-cache keys. */
  private queueSerial = 0;
  /** Queues read so far by a checkpoint load. */
  private loading: LoadedQueue[] = [];
  /** Deletes of the checkpoint records of queues removed by deleteTopic, written first by the
   *  next checkpoint (before the puts of a queue created again under the same name). */
  private pendingDeletes: CheckpointOp[] = [];

  /** Checkpointed chunks may go cold from now on, read back from `store`. */
  useColdStore(store: ColdChunkStore): void {
    this.coldStore = store;
  }

  get(topic: string, queueId: number): ConsumeQueue | undefined {
    return this.queues.get(topic)?.[queueId];
  }

  /** The queue, created empty when it does not exist yet. */
  getOrCreate(topic: string, queueId: number): ConsumeQueue {
    let byId = this.queues.get(topic);
    if (byId === undefined) {
      byId = [];
      this.queues.set(topic, byId);
    }
    return (byId[queueId] ??= this.newQueue(topic, queueId));
  }

  /** Apply appended to the queue: the next checkpoint writes what is new. */
  noteAppended(topic: string, queueId: number): void {
    this.changed.add(queueKey(topic, queueId));
  }

  /** For tests and memory figures: hot runs held, all queues together. */
  get hotRunCount(): number {
    let n = 0;
    for (const byId of this.queues.values()) for (const cq of byId) n += cq?.runCount ?? 0;
    return n;
  }

  /** For tests and memory figures: decoded cold chunks cached (at most COLD_CHUNK_CACHE_COUNT_MAX). */
  get coldChunkCacheSize(): number {
    return this.coldChunks.size;
  }

  clearColdCache(): void {
    this.coldChunks.clear();
    this.coldChunkLast = -1;
  }

  // ---- snapshot ---------------------------------------------------------------------------

  snapshot(cutAt = 0): ConsumeQueueSnapshot {
    const out: [string, number, number, Uint8Array[]][] = [];
    for (const topic of [...this.queues.keys()].sort(cmp)) {
      this.queues.get(topic)!.forEach((cq, queueId) => {
        if (cq === undefined || cq.maxOffset === 0) return;
        const minOffset = cutAt > 0 ? cq.offsetOfLogIndex(cutAt + 1) : cq.minOffset;
        out.push([topic, queueId, minOffset, encodeInChunks(cq, minOffset)]);
      });
    }
    return out;
  }

  /** deleteTopic: the topic's queues go, here at once and from the checkpoint with the next one
   *  (every chunk it may hold, cold ones included). A queue created again later under the same
   *  name is a new queue: it starts at offset 0, and the old entries it no longer points at stay
   *  in the log until retention drops them. */
  deleteTopic(topic: string): void {
    const byId = this.queues.get(topic);
    if (byId === undefined) return;
    byId.forEach((cq, queueId) => {
      if (cq === undefined) return;
      const qk = queueKey(topic, queueId);
      const end = Math.ceil((this.checkpointedEnd.get(qk) ?? 0) / C);
      for (let chunk = this.chunksDeletedBelow.get(qk) ?? 0; chunk < end; chunk++) this.pendingDeletes.push({ type: 'del', key: chunkKey(topic, queueId, chunk) });
      this.pendingDeletes.push({ type: 'del', key: minKey(topic, queueId) });
      this.changed.delete(qk);
      this.checkpointedEnd.delete(qk);
      this.chunksDeletedBelow.delete(qk);
    });
    this.queues.delete(topic);
    // Its cold chunks are cached under serials no queue uses any more: let them go now.
    this.clearColdCache();
  }

  /** Retention: every queue stops serving the entries of log indexes below `logIndex`. */
  trimBelowLogIndex(logIndex: number): void {
    for (const [topic, byId] of this.queues) {
      byId.forEach((cq, queueId) => {
        if (cq === undefined) return;
        const offset = cq.offsetOfLogIndex(logIndex);
        if (offset === cq.minOffset) return;
        cq.trimTo(offset);
        this.changed.add(queueKey(topic, queueId));
      });
    }
  }

  restore(snapshot: ConsumeQueueSnapshot, context: RestoreContext): void {
    assert(Array.isArray(snapshot), 'state restore: the consume queues snapshot is not an array');
    this.queues.clear();
    this.changed.clear();
    this.checkpointedEnd.clear();
    this.chunksDeletedBelow.clear();
    this.pendingDeletes = []; // the next checkpoint replaces every record
    this.clearColdCache();
    for (const record of snapshot) {
      assert(Array.isArray(record) && record.length === 4 && Array.isArray(record[3]), 'state restore: a consume queue snapshot record is not [topic, queueId, minOffset, entries]');
      const [topic, queueId, minOffset, pieces] = record;
      checkQueueOf(topic, queueId, context);
      assert(this.get(topic, queueId) === undefined, `state restore: queue ${topic}/${queueId} twice`);
      assert(Number.isSafeInteger(minOffset) && minOffset >= 0 && minOffset <= CONSUME_QUEUE_ENTRY_COUNT_MAX, `state restore: queue ${topic}/${queueId} starts at ${String(minOffset)}`);
      const cq = this.getOrCreate(topic, queueId);
      const base = Math.floor(minOffset / C) * C;
      cq.startAt(base);
      for (const piece of pieces) {
        assert(piece instanceof Uint8Array && piece.length <= C * CONSUME_QUEUE_ENTRY_BYTES, `state restore: a piece of queue ${topic}/${queueId} is not up to one chunk of entries`);
        cq.appendEncoded(cq.maxOffset, piece);
      }
      assert(cq.maxOffset >= minOffset && cq.maxOffset > 0, `state restore: queue ${topic}/${queueId} ends at ${cq.maxOffset}, below its minOffset ${minOffset}`);
      cq.trimTo(minOffset);
      checkPointsBelowApplied(cq, context);
      this.chunksDeletedBelow.set(queueKey(topic, queueId), base / C);
      this.changed.add(queueKey(topic, queueId));
    }
  }

  // ---- checkpoint -------------------------------------------------------------------------

  takeCheckpoint(ops: CheckpointOp[]): (() => void) | undefined {
    if (this.pendingDeletes.length > 0) {
      for (const op of this.pendingDeletes) ops.push(op);
      this.pendingDeletes = [];
    }
    if (this.changed.size === 0) return undefined;
    const written: [ConsumeQueue, number][] = [];
    for (const qk of this.changed) {
      const sep = qk.lastIndexOf(':');
      const topic = qk.slice(0, sep);
      const queueId = Number(qk.slice(sep + 1));
      const cq = this.get(topic, queueId)!;
      const deletedBelow = this.chunksDeletedBelow.get(qk) ?? 0;
      const minChunk = Math.floor(cq.minOffset / C);
      if (cq.minOffset > 0) {
        ops.push({ type: 'put', key: minKey(topic, queueId), value: packr.pack(cq.minOffset) });
        // Retention: the chunks wholly below minOffset go (never read again).
        for (let chunk = deletedBelow; chunk < minChunk; chunk++) ops.push({ type: 'del', key: chunkKey(topic, queueId, chunk) });
        if (minChunk > deletedBelow) this.chunksDeletedBelow.set(qk, minChunk);
      }
      const from = Math.max(this.checkpointedEnd.get(qk) ?? 0, minChunk * C);
      const to = cq.maxOffset;
      const firstChunk = Math.floor(from / C);
      // Cold chunks are full and durable: a checkpoint never rewrites (nor reads) them.
      assert(firstChunk * C >= cq.coldEnd, `state machine: checkpoint of ${qk} from ${from} would rewrite cold entries below ${cq.coldEnd}`);
      for (let chunk = firstChunk; chunk * C < to; chunk++) {
        const start = chunk * C;
        ops.push({ type: 'put', key: chunkKey(topic, queueId, chunk), value: cq.encodeRange(start, Math.min(to, start + C)) });
      }
      written.push([cq, to]);
      this.checkpointedEnd.set(qk, to);
    }
    this.changed.clear();
    return () => {
      // Every chunk below `to` is now durable in full: let all but the margin go cold.
      for (const [cq, to] of written) {
        const coldEnd = (Math.floor(to / C) - HOT_MARGIN_CHUNK_COUNT) * C;
        if (coldEnd > cq.coldEnd) cq.freezeBelow(coldEnd);
      }
    };
  }

  /** Chunks are checked as they stream by but not kept: full ones stay cold (read back on
   *  demand), only each queue's partial last chunk is loaded into memory. */
  loadCheckpointRecord(key: string, value: Uint8Array): void {
    loadChunk(this.loading, key, value);
  }

  finishCheckpointLoad(context: RestoreContext): void {
    for (const q of this.loading) {
      checkQueueOf(q.topic, q.queueId, context);
      assert(this.get(q.topic, q.queueId) === undefined, `state restore: chunks of ${q.topic}/${q.queueId} are not contiguous`);
      const cq = this.getOrCreate(q.topic, q.queueId);
      const firstChunk = q.firstChunk >= 0 ? q.firstChunk : Math.floor(q.minOffset / C);
      assert(firstChunk === Math.floor(q.minOffset / C) || (q.minOffset === 0 && firstChunk === 0), `state restore: ${q.topic}/${q.queueId} starts at chunk ${firstChunk}, its minOffset is ${q.minOffset}`);
      cq.startAt(firstChunk * C);
      if (q.fullChunks > 0) cq.restoreCold((firstChunk + q.fullChunks) * C, q.lastPacked);
      if (q.tail !== undefined) cq.appendEncoded(cq.maxOffset, q.tail);
      assert(cq.maxOffset >= q.minOffset, `state restore: ${q.topic}/${q.queueId} ends below its minOffset ${q.minOffset}`);
      cq.trimTo(q.minOffset);
      const qk = queueKey(q.topic, q.queueId);
      this.checkpointedEnd.set(qk, cq.maxOffset);
      this.chunksDeletedBelow.set(qk, firstChunk);
      checkPointsBelowApplied(cq, context);
    }
    this.loading = [];
  }

  // ---- the cold tier ----------------------------------------------------------------------

  private newQueue(topic: string, queueId: number): ConsumeQueue {
    const serial = this.queueSerial++;
    return new ConsumeQueue({ read: (chunk) => this.readColdChunk(serial, topic, queueId, chunk) });
  }

  /** A cold chunk, from the cache or LevelDB. Synchronous: pulls are. Only a checkpoint that
   *  completed made it cold, so it must be there, full and well formed. Pulls call this once
   *  per message: the cache key is a number, not the LevelDB key string. */
  private readColdChunk(serial: number, topic: string, queueId: number, chunk: number): Float64Array {
    const cacheKey = serial * COLD_CHUNKS_PER_QUEUE_MAX + chunk;
    const hit = this.coldChunks.get(cacheKey);
    if (hit !== undefined) {
      if (cacheKey !== this.coldChunkLast) {
        this.coldChunks.delete(cacheKey);
        this.coldChunks.set(cacheKey, hit);
        this.coldChunkLast = cacheKey;
      }
      return hit;
    }
    const key = chunkKey(topic, queueId, chunk);
    assert(this.coldStore !== undefined, `state machine: cold chunk ${key} without a checkpoint store`);
    const entries = decodeChunk(this.coldStore.getSync(key), `checkpoint chunk ${key}`);
    this.coldChunks.set(cacheKey, entries);
    this.coldChunkLast = cacheKey;
    if (this.coldChunks.size > COLD_CHUNK_CACHE_COUNT_MAX) this.coldChunks.delete(this.coldChunks.keys().next().value!);
    return entries;
  }
}

/** A queue's entries from the chunk boundary at or below `minOffset`, cut at chunk boundaries. */
function encodeInChunks(cq: ConsumeQueue, minOffset: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let start = Math.floor(minOffset / C) * C; start < cq.maxOffset; ) {
    const end = Math.min(cq.maxOffset, (Math.floor(start / C) + 1) * C);
    pieces.push(cq.encodeRange(start, end));
    start = end;
  }
  return pieces;
}

function checkQueueOf(topic: unknown, queueId: unknown, { tables }: RestoreContext): asserts topic is string {
  const queueCount = typeof topic === 'string' ? tables.topics.queueCount(topic) : undefined;
  assert(queueCount !== undefined && Number.isInteger(queueId) && (queueId as number) < queueCount, `state restore: consume queue ${String(topic)}/${String(queueId)} is not a queue of a known topic`);
}

function checkPointsBelowApplied(cq: ConsumeQueue, { appliedIndex }: RestoreContext): void {
  assert(Math.floor(cq.lastPacked / SLOT_RADIX) <= appliedIndex, 'state restore: consume queue points past the applied index');
}

/** Checks one chunk as a checkpoint load streams it by and adds it to its queue's summary. Keys
 *  sort by topic, then zero-padded queue id, then zero-padded chunk: a queue's chunks arrive in
 *  order and each must continue it exactly. */
function loadChunk(loading: LoadedQueue[], key: string, value: Uint8Array): void {
  const [topic, queueIdText, chunkText] = key.slice(KEY_PREFIX.length).split(':');
  const queueId = Number(queueIdText);
  let q = loading.at(-1);
  if (q === undefined || q.topic !== topic || q.queueId !== queueId) {
    q = { topic, queueId, firstChunk: -1, fullChunks: 0, minOffset: 0, lastPacked: -1, tail: undefined };
    loading.push(q);
  }
  if (chunkText === MIN_SUFFIX) {
    assert(Number.isInteger(queueId) && key === minKey(topic, queueId), `state restore: bad key ${key}`);
    const minOffset = packr.unpack(value) as unknown;
    assert(Number.isSafeInteger(minOffset) && (minOffset as number) > 0, `state restore: bad minOffset of ${topic}/${queueId}`);
    q.minOffset = minOffset as number;
    return;
  }
  const chunk = Number(chunkText);
  assert(Number.isInteger(queueId) && Number.isInteger(chunk) && key === chunkKey(topic, queueId, chunk), `state restore: bad key ${key}`);
  assert(q.tail === undefined, `state restore: chunk ${chunk - 1} of ${topic}/${queueId} is short but not the last`);
  if (q.firstChunk < 0) q.firstChunk = chunk;
  assert(chunk === q.firstChunk + q.fullChunks, `state restore: chunk ${chunk} of ${topic}/${queueId} does not follow offset ${(q.firstChunk + q.fullChunks) * C}`);
  const fullBytes = C * CONSUME_QUEUE_ENTRY_BYTES;
  assert(value.length > 0 && value.length <= fullBytes, `state restore: chunk ${chunk} of ${topic}/${queueId} has ${value.length} bytes`);
  if (value.length < fullBytes) {
    q.tail = value.slice(); // checked when it is loaded into the hot tier
    return;
  }
  const entries = decodeChunk(value, `restored chunk ${key}`);
  assert(entries[0] > q.lastPacked, `state restore: chunk ${chunk} of ${topic}/${queueId} goes back`);
  q.lastPacked = entries[C - 1];
  q.fullChunks++;
}
