// The broker's replicated state machine. Every replica applies the same committed entries in the
// same order and so derives the same topics, consume queues and consumer offsets. Apply reads no
// clock and no local configuration: everything it decides comes from the entries themselves.
//
// Message bodies stay in the Raft log; a consume queue maps a queue offset to (log index, slot)
// and pulls read the batch back through `readEntry` (the commitlog's synchronous read).
//
// Durability: `checkpoint()` writes everything that changed since the previous checkpoint and the
// applied index in ONE synced LevelDB batch, so a restart resumes at appliedIndex + 1 and the
// replay of the log from there reproduces exactly the same queue offsets (apply is deterministic).
//
// Memory: once a completed checkpoint holds a consume-queue chunk in full, the queue drops it
// from memory (it goes cold) and reads it back from LevelDB on demand (getSync, through a small
// cache shared by all queues); so a durable machine's memory does not grow with the messages
// applied. An in-memory machine (no `open`) keeps everything hot.
import { Level } from 'level';
import { Packr } from 'msgpackr';
import { assert } from '../util/index.ts';
import type {
  BrokerCommand,
  CommitOffsetEntry,
  CreateTopicCommand,
  SendBatchCommand,
  SendBatchHead,
} from './commands.ts';
import {
  commandKindOf,
  decodeCommand,
  decodeSendBatchHead,
  validateCommand,
  validateGroupName,
  validateMessages,
  validateOffset,
  validateQueueCount,
  validateQueueId,
  validateTopicName,
} from './commands.ts';
import {
  ConsumeQueue,
  CONSUME_QUEUE_CHUNK_ENTRY_COUNT,
  CONSUME_QUEUE_ENTRY_BYTES,
  CONSUME_QUEUE_ENTRY_COUNT_MAX,
  decodeChunk,
  SLOT_RADIX,
} from './consume-queue.ts';
import { BrokerError } from './errors.ts';
import type { ErrorCode, MessageInput, SendBatchResult, SendResultItem, StoredMessage } from '../protocol/index.ts';
import { MSG_ID_SLOT_HEX, PULL_COUNT_MAX, TOPIC_QUEUE_COUNT_MAX, msgIdSlotHex, sendResultOf } from '../protocol/index.ts';

/** Tables of the checkpoint LevelDB kept open (see open()). */
const STATE_DB_OPEN_FILES_MAX = 64;

/** Topics one broker group holds. Creating one more is refused (OVERLOADED). */
export const TOPIC_COUNT_MAX = 4096;
/** (group, topic, queue) offsets held. A commit of a new one beyond this is rejected. */
export const CONSUMER_OFFSET_COUNT_MAX = 262_144;
/** Decoded send batches kept for pulls (a pull of 32 messages of one batch decodes it once). */
export const DECODED_BATCH_CACHE_COUNT_MAX = 64;
/** Bytes of entry data the decoded-batch cache may keep alive. */
export const DECODED_BATCH_CACHE_BYTES_MAX = 32 * 1024 * 1024;
/** onApplied listeners. */
export const APPLIED_LISTENER_COUNT_MAX = 16;
/** Consume-queue entries per LevelDB value in a checkpoint; a checkpoint rewrites at most the
 *  partial last chunk of each queue that changed (32 KiB). Also the unit of the cold tier. */
export const CHECKPOINT_CHUNK_ENTRY_COUNT = CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
/** Decoded cold consume-queue chunks cached for pulls, all queues together (32 KiB each). */
export const COLD_CHUNK_CACHE_COUNT_MAX = 64;
/** Full chunks below the checkpointed end each queue keeps hot: consumers a little behind the
 *  tail read memory, not LevelDB. Costs one chunk's runs per queue (~3 KiB at 20 msgs/batch). */
const HOT_MARGIN_CHUNK_COUNT = 1;
/** Chunks one queue can have: spaces the numeric cold-cache keys of different queues. */
const COLD_CHUNKS_PER_QUEUE_MAX = CONSUME_QUEUE_ENTRY_COUNT_MAX / CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
/** Defaults of the two options that matter to proposing (RocketMQ's names and values). */
export const DEFAULT_AUTO_CREATE_TOPIC_ENABLE = true;
export const DEFAULT_TOPIC_QUEUE_NUMS = 4;
/** RocketMQ's property holding how many times a message was redelivered. */
export const PROPERTY_RECONSUME_TIME = 'RECONSUME_TIME';

const STATE_FORMAT_VERSION = 1;

export interface BrokerStateMachineOptions {
  /** Goes into every msgId. */
  readonly brokerName: string;
  /** Used only when proposing (prepareSend), never on apply. Default true. */
  readonly autoCreateTopicEnable?: boolean;
  /** Queues of an auto-created topic. Default 4. */
  readonly defaultTopicQueueNums?: number;
  /** The data of the committed log entry at `logIndex`, or undefined when the log no longer (or
   *  not yet) has it. Synchronous: the commitlog serves recent entries from memory. */
  readonly readEntry: (logIndex: number) => Uint8Array | undefined;
}

/** What an entry's apply returns to whoever proposed it. Rejections are deterministic: every
 *  replica computes the same result. */
export type ApplyResult =
  | { readonly type: 'noop' }
  /** `results` is built from `batch` when read (only the master answers a producer). */
  | { readonly type: 'sendResult'; readonly batch: SendBatchResult; readonly results: readonly SendResultItem[] }
  | { readonly type: 'ok' }
  /** Indexes (into the command's entries) of commits that were not applied: unknown topic or
   *  queue, an offset past the queue's max offset, or CONSUMER_OFFSET_COUNT_MAX reached.
   *  Normally empty (the master checks the same before proposing). */
  | { readonly type: 'offsetsCommitted'; readonly rejected: readonly number[] }
  | { readonly type: 'error'; readonly code: ErrorCode; readonly message: string };

/** An entry as the Raft core hands it over (structurally compatible with raft's Entry). */
export interface ApplyEntry {
  readonly index: number;
  readonly term: number;
  /** 0 normal (a broker command), 1 the leader's no-op. */
  readonly type: number;
  readonly data: Uint8Array;
}

export interface PullResult {
  readonly messages: StoredMessage[];
  /** Where the next pull should start. */
  readonly nextOffset: number;
  readonly minOffset: number;
  /** The next offset to be assigned in the queue (exclusive). */
  readonly maxOffset: number;
}

export interface QueueBounds {
  readonly minOffset: number;
  readonly maxOffset: number;
}

/** New messages were applied to a queue: messages below maxOffset are now readable. */
export interface AppliedEvent {
  readonly topic: string;
  readonly queueId: number;
  readonly maxOffset: number;
  readonly logIndex: number;
}
export type AppliedListener = (event: AppliedEvent) => void;

interface TopicState {
  queueCount: number;
  /** Created on the first message, so an idle topic of 1024 queues costs almost nothing. */
  readonly queues: (ConsumeQueue | undefined)[];
}

/** What apply works from: a command, with a send batch as its head only. */
type ApplyCommand = Exclude<BrokerCommand, SendBatchCommand> | { readonly kind: 'sendBatchHead'; readonly head: SendBatchHead };

function decodeForApply(entry: ApplyEntry): ApplyCommand {
  try {
    if (commandKindOf(entry.data) === 'sendBatch') return { kind: 'sendBatchHead', head: decodeSendBatchHead(entry.data) };
    const cmd = decodeCommand(entry.data);
    validateCommand(cmd);
    assert(cmd.kind !== 'sendBatch', 'commandKindOf and decodeCommand agree');
    return cmd;
  } catch (err) {
    // Every command was validated before it was proposed.
    assert(false, `state machine: entry ${entry.index} is not a valid command: ${(err as Error).message}`);
  }
}

/** A recent send batch: decoded once a pull has read it, its entry bytes until then. */
interface CachedBatch {
  readonly cmd: SendBatchCommand | null;
  readonly data: Uint8Array | null;
  readonly bytes: number;
}

// Plain msgpack for every persisted value; deterministic bytes for the state digest.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const EMPTY_PROPERTIES: Readonly<Record<string, string>> = Object.freeze({});

// LevelDB keys. ':' never occurs in topic or group names, so each prefix is unambiguous.
const KEY_META = 'm:state';
const topicKey = (topic: string): string => `t:${topic}`;
const offsetKey = (group: string, topic: string, queueId: number): string => `o:${group}:${topic}:${queueId}`;
const queueKey = (topic: string, queueId: number): string => `${topic}:${queueId}`;
const chunkKey = (topic: string, queueId: number, chunk: number): string =>
  `q:${topic}:${String(queueId).padStart(4, '0')}:${String(chunk).padStart(10, '0')}`;

// ---- msgId ----------------------------------------------------------------------------------

/** Width in hex digits of the log index and slot parts of a msgId. */
const MSG_ID_INDEX_HEX = 16;

/** msgId = hex(UTF-8 brokerName) + 16 hex digits of log index + 4 hex digits of slot, upper case.
 *  Unique across broker groups (names differ) and within one (a log index carries one batch). */
export function makeMsgId(brokerName: string, logIndex: number, slot: number): string {
  return msgIdHead(msgIdPrefix(brokerName), logIndex) + msgIdSlotHex(slot);
}

/** Inverse of makeMsgId; undefined for a string that is not one. */
export function parseMsgId(msgId: string): { brokerName: string; logIndex: number; slot: number } | undefined {
  const suffix = MSG_ID_INDEX_HEX + MSG_ID_SLOT_HEX;
  if (msgId.length < suffix || (msgId.length - suffix) % 2 !== 0 || !/^[0-9A-F]+$/.test(msgId)) return undefined;
  const head = msgId.length - suffix;
  const logIndex = Number.parseInt(msgId.slice(head, head + MSG_ID_INDEX_HEX), 16);
  const slot = Number.parseInt(msgId.slice(head + MSG_ID_INDEX_HEX), 16);
  if (!Number.isSafeInteger(logIndex)) return undefined;
  return { brokerName: Buffer.from(msgId.slice(0, head), 'hex').toString('utf8'), logIndex, slot };
}

/** The send results of the `count` messages of the entry at `logIndex`, from queue offset `first`. */
function sendBatchResult(prefix: string, logIndex: number, queueId: number, first: number, count: number): SendBatchResult {
  return { msgIdHead: msgIdHead(prefix, logIndex), queueId, firstOffset: first, logIndex, count };
}

function msgIdPrefix(brokerName: string): string {
  return Buffer.from(brokerName, 'utf8').toString('hex').toUpperCase();
}
/** A msgId without its slot: the broker name's prefix and the log index. */
function msgIdHead(prefix: string, logIndex: number): string {
  return prefix + logIndex.toString(16).toUpperCase().padStart(MSG_ID_INDEX_HEX, '0');
}

// ---- the state machine ------------------------------------------------------------------------

export class BrokerStateMachine {
  private applied = 0;
  private appliedTermValue = 0;
  private readonly topics = new Map<string, TopicState>();
  /** offsetKey(group, topic, queueId) -> committed offset. */
  private readonly offsets = new Map<string, number>();
  private readonly listeners: AppliedListener[] = [];
  private readonly cache = new Map<number, CachedBatch>();
  private cacheBytes = 0;
  /** coldCacheKey -> decoded cold chunk, least recently used first. */
  private readonly coldChunks = new Map<number, Float64Array>();
  /** The key used last: a sequential pull hits it thousands of times, so skip the reordering. */
  private coldChunkLast = -1;
  /** Numbers this machine's queues for coldCacheKey. */
  private queueSerial = 0;

  private readonly msgIdPrefix: string;
  private readonly autoCreateTopicEnable: boolean;
  private readonly defaultTopicQueueNums: number;
  private readonly readEntry: (logIndex: number) => Uint8Array | undefined;

  // Persistence (absent for a purely in-memory machine).
  private db: Level<string, Uint8Array> | undefined;
  private closed = false;
  private checkpointed = 0;
  private readonly dirtyTopics = new Set<string>();
  private readonly dirtyOffsets = new Set<string>();
  private readonly dirtyQueues = new Set<string>();
  private checkpointChain: Promise<void> = Promise.resolve();
  /** queueKey -> queue offset up to which the last snapshot taken (written or not) holds it. */
  private readonly queueSnapshotted = new Map<string, number>();
  /** Applied index of the last snapshot taken. */
  private snapshotApplied = 0;
  /** The first failed checkpoint write: every later checkpoint fails with it. */
  private checkpointFailure: Error | null = null;

  /** An in-memory state machine at applied index 0. Use `open` for a durable one. */
  constructor(options: BrokerStateMachineOptions) {
    if (typeof options.brokerName !== 'string' || options.brokerName.length === 0) throw new TypeError('brokerName must be a non-empty string');
    if (typeof options.readEntry !== 'function') throw new TypeError('readEntry must be a function');
    const queueNums = options.defaultTopicQueueNums ?? DEFAULT_TOPIC_QUEUE_NUMS;
    if (!Number.isInteger(queueNums) || queueNums < 1 || queueNums > TOPIC_QUEUE_COUNT_MAX) {
      throw new TypeError(`defaultTopicQueueNums must be an integer in 1..${TOPIC_QUEUE_COUNT_MAX}`);
    }
    this.msgIdPrefix = msgIdPrefix(options.brokerName);
    this.autoCreateTopicEnable = options.autoCreateTopicEnable ?? DEFAULT_AUTO_CREATE_TOPIC_ENABLE;
    this.defaultTopicQueueNums = queueNums;
    this.readEntry = options.readEntry;
  }

  /** Opens (or creates) the checkpoint store in `dir` and restores the last checkpoint. The
   *  driver then replays the log from `appliedIndex + 1`. */
  static async open(dir: string, options: BrokerStateMachineOptions): Promise<BrokerStateMachine> {
    const sm = new BrokerStateMachine(options);
    // maxOpenFiles bounds LevelDB's table cache, which keeps every open table's index in native
    // memory, so it grows with the tables the cold consume-queue chunks fill: in a write
    // experiment (45k chunks), +17 MB over 430 tables with the default (1000), +5 MB with 50. In a
    // 10-minute full-load run the bound made no measurable difference to a replica's RSS slope;
    // it is kept as a bound. Cold chunks are read rarely (consumers far behind): reopening is cheap.
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view', maxOpenFiles: STATE_DB_OPEN_FILES_MAX });
    await db.open();
    try {
      await sm.restore(db);
    } catch (err) {
      await db.close();
      throw err;
    }
    sm.db = db;
    return sm;
  }

  /** Index of the last applied entry (0 before any). Invariant: appliedIndex <= commit index. */
  get appliedIndex(): number {
    return this.applied;
  }
  /** Term of the last applied entry (0 before any). */
  get appliedTerm(): number {
    return this.appliedTermValue;
  }
  /** Applied index of the last completed checkpoint (what a restart resumes after). */
  get checkpointedIndex(): number {
    return this.checkpointed;
  }

  // ---- apply ----------------------------------------------------------------------------------

  /** Applies the committed entry that follows appliedIndex. Entries must come exactly once, in
   *  order: anything else is a programmer error (assert). */
  apply(entry: ApplyEntry): ApplyResult {
    assert(!this.closed, 'state machine: apply after close');
    assert(entry.index === this.applied + 1, `state machine: applying index ${entry.index}, expected ${this.applied + 1}`);
    assert(entry.term >= this.appliedTermValue, `state machine: term ${entry.term} below applied term ${this.appliedTermValue}`);
    let result: ApplyResult;
    let event: AppliedEvent | undefined;
    if (entry.type === 1) {
      result = { type: 'noop' };
    } else {
      assert(entry.type === 0, `state machine: entry ${entry.index} has unknown type ${entry.type}`);
      // A send batch is applied from its head alone (its messages are only counted: they were
      // validated when it was proposed, and a pull decodes them when it reads them).
      const cmd = decodeForApply(entry);
      switch (cmd.kind) {
        case 'noop':
          result = { type: 'noop' };
          break;
        case 'createTopic':
          result = this.applyCreateTopic(cmd);
          break;
        case 'commitOffsets':
          result = this.applyCommitOffsets(cmd.entries);
          break;
        case 'sendBatchHead': {
          const r = this.applySendBatch(entry.index, cmd.head, entry.data);
          result = r.result;
          event = r.event;
          break;
        }
      }
    }
    this.applied = entry.index;
    this.appliedTermValue = entry.term;
    if (event !== undefined) for (const l of this.listeners) l(event);
    return result;
  }

  private applyCreateTopic(cmd: CreateTopicCommand): ApplyResult {
    const t = this.topics.get(cmd.topic);
    if (t === undefined) {
      if (this.topics.size >= TOPIC_COUNT_MAX) return { type: 'error', code: 'OVERLOADED', message: `topic count is at its maximum ${TOPIC_COUNT_MAX}` };
      this.createTopic(cmd.topic, cmd.queues);
      return { type: 'ok' };
    }
    if (cmd.queues < t.queueCount) {
      return { type: 'error', code: 'BAD_REQUEST', message: `topic ${cmd.topic} has ${t.queueCount} queues; a topic's queues cannot shrink` };
    }
    if (cmd.queues > t.queueCount) {
      t.queueCount = cmd.queues;
      this.dirtyTopics.add(cmd.topic);
    }
    return { type: 'ok' };
  }

  private createTopic(topic: string, queueCount: number): TopicState {
    const t: TopicState = { queueCount, queues: [] };
    this.topics.set(topic, t);
    this.dirtyTopics.add(topic);
    return t;
  }

  private applyCommitOffsets(entries: readonly CommitOffsetEntry[]): ApplyResult {
    const rejected: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (this.commitOffsetRefusal(e) !== null) {
        rejected.push(i);
        continue;
      }
      const key = offsetKey(e.group, e.topic, e.queueId);
      this.offsets.set(key, e.offset);
      this.dirtyOffsets.add(key);
    }
    return { type: 'offsetsCommitted', rejected };
  }

  /** Why the applied state refuses the commit `e` (null: it takes it). Apply decides with it and
   *  prepareCommitOffset answers with it, so the master's early answer and every replica agree. */
  private commitOffsetRefusal(e: CommitOffsetEntry): BrokerError | null {
    const t = this.topics.get(e.topic);
    if (t === undefined) return new BrokerError('TOPIC_NOT_FOUND', `topic ${e.topic} does not exist`);
    if (e.queueId >= t.queueCount) return new BrokerError('BAD_REQUEST', `queueId must be an integer in 0..${t.queueCount - 1}, got ${e.queueId}`);
    const maxOffset = t.queues[e.queueId]?.maxOffset ?? 0;
    if (e.offset > maxOffset) {
      return new BrokerError('BAD_REQUEST', `offset ${e.offset} is past the end of ${e.topic}/${e.queueId}, whose max offset (the next one to be written) is ${maxOffset}; commit offsets are in 0..${maxOffset}`);
    }
    if (this.offsets.size >= CONSUMER_OFFSET_COUNT_MAX && !this.offsets.has(offsetKey(e.group, e.topic, e.queueId))) {
      return new BrokerError('OVERLOADED', `the consumer offset table is at its maximum ${CONSUMER_OFFSET_COUNT_MAX} (group, topic, queue) entries`);
    }
    return null;
  }

  private applySendBatch(logIndex: number, cmd: SendBatchHead, data: Uint8Array): { result: ApplyResult; event?: AppliedEvent } {
    let t = this.topics.get(cmd.topic);
    if (t === undefined) {
      if (cmd.autoCreateQueues === 0) return { result: { type: 'error', code: 'TOPIC_NOT_FOUND', message: `topic ${cmd.topic} does not exist` } };
      if (this.topics.size >= TOPIC_COUNT_MAX) return { result: { type: 'error', code: 'OVERLOADED', message: `topic count is at its maximum ${TOPIC_COUNT_MAX}` } };
      t = this.createTopic(cmd.topic, cmd.autoCreateQueues);
    }
    if (cmd.queueId >= t.queueCount) {
      return { result: { type: 'error', code: 'BAD_REQUEST', message: `topic ${cmd.topic} has ${t.queueCount} queues, no queue ${cmd.queueId}` } };
    }
    let cq = t.queues[cmd.queueId];
    if (cq === undefined) {
      cq = this.newQueue(cmd.topic, cmd.queueId);
      t.queues[cmd.queueId] = cq;
    }
    const count = cmd.count;
    if (!cq.hasRoom(count)) {
      return { result: { type: 'error', code: 'OVERLOADED', message: `queue ${cmd.topic}/${cmd.queueId} is full` } };
    }
    const first = cq.appendBatch(logIndex, count);
    this.dirtyQueues.add(queueKey(cmd.topic, cmd.queueId));
    // The tail is what long-polling consumers read next: keep its bytes at hand (decoded on the
    // first read).
    this.cachePut(logIndex, { cmd: null, data, bytes: data.length });
    // One object per batch; per-message results only when read (a msgId per message on every
    // replica was 3-4% of a slave's CPU at full load).
    let results: SendResultItem[] | undefined;
    const batch = sendBatchResult(this.msgIdPrefix, logIndex, cmd.queueId, first, count);
    return {
      result: {
        type: 'sendResult',
        batch,
        get results(): SendResultItem[] {
          return (results ??= Array.from({ length: count }, (_, slot) => sendResultOf(batch, slot)));
        },
      },
      event: { topic: cmd.topic, queueId: cmd.queueId, maxOffset: cq.maxOffset, logIndex },
    };
  }

  // ---- checks before proposing (throw BrokerError; read applied state only) --------------------

  /** Refuses a send that apply would refuse or that breaks a limit: BAD_REQUEST,
   *  MESSAGE_TOO_LARGE, TOPIC_NOT_FOUND (unknown topic and autoCreateTopicEnable off),
   *  OVERLOADED (topic limit). */
  checkSend(topic: string, queueId: number, messages: readonly MessageInput[]): void {
    validateTopicName(topic);
    const t = this.topics.get(topic);
    if (t !== undefined) {
      validateQueueId(queueId, t.queueCount);
    } else {
      if (!this.autoCreateTopicEnable) throw new BrokerError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
      if (this.topics.size >= TOPIC_COUNT_MAX) throw new BrokerError('OVERLOADED', `topic count is at its maximum ${TOPIC_COUNT_MAX}`);
      validateQueueId(queueId, this.defaultTopicQueueNums);
    }
    validateMessages(messages);
  }

  /** checkSend, then the command to propose. `storeTimestamp` is the leader's clock (ms). */
  prepareSend(topic: string, queueId: number, messages: readonly MessageInput[], storeTimestamp: number): SendBatchCommand {
    this.checkSend(topic, queueId, messages);
    if (!Number.isSafeInteger(storeTimestamp) || storeTimestamp < 0) throw new TypeError('storeTimestamp must be a non-negative integer');
    return {
      kind: 'sendBatch',
      topic,
      queueId,
      storeTimestamp,
      autoCreateQueues: this.autoCreateTopicEnable ? this.defaultTopicQueueNums : 0,
      messages,
    };
  }

  /** Creating an existing topic with as many or more queues is allowed (it grows); fewer is not. */
  prepareCreateTopic(topic: string, queues: number): CreateTopicCommand {
    validateTopicName(topic);
    validateQueueCount(queues);
    const t = this.topics.get(topic);
    if (t === undefined && this.topics.size >= TOPIC_COUNT_MAX) throw new BrokerError('OVERLOADED', `topic count is at its maximum ${TOPIC_COUNT_MAX}`);
    if (t !== undefined && queues < t.queueCount) {
      throw new BrokerError('BAD_REQUEST', `topic ${topic} has ${t.queueCount} queues; a topic's queues cannot shrink`);
    }
    return { kind: 'createTopic', topic, queues };
  }

  /** One commit to batch into a commitOffsets command: TOPIC_NOT_FOUND, BAD_REQUEST (an offset
   *  past the queue's max offset among them), OVERLOADED (offset table full). */
  prepareCommitOffset(group: string, topic: string, queueId: number, offset: number): CommitOffsetEntry {
    validateGroupName(group);
    validateTopicName(topic);
    const t = this.topics.get(topic);
    if (t === undefined) throw new BrokerError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
    validateQueueId(queueId, t.queueCount);
    validateOffset(offset);
    const entry = { group, topic, queueId, offset };
    const refusal = this.commitOffsetRefusal(entry);
    if (refusal !== null) throw refusal;
    return entry;
  }

  // ---- reads (applied state only) ---------------------------------------------------------

  /** Queue count of `topic`, or undefined if it does not exist (yet). */
  topicQueueCount(topic: string): number | undefined {
    return this.topics.get(topic)?.queueCount;
  }

  /** Every topic with its queue count, sorted by name. */
  listTopics(): { topic: string; queues: number }[] {
    return [...this.topics.entries()].map(([topic, t]) => ({ topic, queues: t.queueCount })).sort((a, b) => cmp(a.topic, b.topic));
  }

  /** The committed offset of a group on a queue, or -1 when none was committed (RocketMQ). */
  queryOffset(group: string, topic: string, queueId: number): number {
    return this.offsets.get(offsetKey(group, topic, queueId)) ?? -1;
  }

  /** Bounds of a queue; TOPIC_NOT_FOUND / BAD_REQUEST for an unknown topic or queue. */
  queueBounds(topic: string, queueId: number): QueueBounds {
    const cq = this.queueOf(topic, queueId);
    return { minOffset: cq?.minOffset ?? 0, maxOffset: cq?.maxOffset ?? 0 };
  }

  /**
   * RocketMQ's searchOffset: the offset of the queue's first message stored at or after
   * `timestamp` (ms since the epoch); maxOffset when every message is older. A binary search
   * over the consume queue that reads the store timestamp in each probed batch's head. Store
   * timestamps are the master's clock when it proposed, so they grow along a queue only as far
   * as the masters' clocks do: after a failover to a replica whose clock is behind, the answer
   * is one of the offsets where the timestamps cross `timestamp`. TOPIC_NOT_FOUND and
   * BAD_REQUEST as pull; INTERNAL when this replica's log cannot serve a probed entry.
   */
  searchOffset(topic: string, queueId: number, timestamp: number): number {
    const cq = this.queueOf(topic, queueId);
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw new BrokerError('BAD_REQUEST', `timestamp must be a non-negative integer (ms since the epoch), got ${String(timestamp)}`);
    }
    if (cq === undefined) return 0;
    // Invariant: the answer is in [lo, hi].
    let lo = cq.minOffset;
    let hi = cq.maxOffset;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (this.storeTimestampAt(topic, queueId, cq, mid) < timestamp) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The store timestamp of the message at `offset`, from its batch's head only. */
  private storeTimestampAt(topic: string, queueId: number, cq: ConsumeQueue, offset: number): number {
    const logIndex = Math.floor(cq.packedAt(offset) / SLOT_RADIX);
    const hit = this.cache.get(logIndex);
    if (hit?.cmd) return hit.cmd.storeTimestamp;
    const data = hit?.data ?? this.readEntry(logIndex);
    if (data === undefined || data === null) {
      throw new BrokerError('INTERNAL', `the log of this replica cannot serve entry ${logIndex} (${topic}/${queueId} offset ${offset}) to search by time`);
    }
    let head: SendBatchHead;
    try {
      head = decodeSendBatchHead(data);
    } catch (err) {
      assert(false, `state machine: log entry ${logIndex} is not a send batch: ${(err as Error).message}`);
    }
    assert(head.topic === topic && head.queueId === queueId, `state machine: entry ${logIndex} does not hold ${topic}/${queueId}`);
    return head.storeTimestamp;
  }

  /**
   * Up to `maxCount` messages of a queue from `offset`, stopping before `maxBytes` of bodies
   * (at least one message is returned when one is available). Offsets below minOffset answer
   * nothing with nextOffset = minOffset; offsets at or past maxOffset answer nothing with
   * nextOffset = min(offset, maxOffset). If the log cannot serve an entry (retention, or a
   * lagging local log) the pull stops there.
   */
  pull(topic: string, queueId: number, offset: number, maxCount: number, maxBytes: number): PullResult {
    const cq = this.queueOf(topic, queueId);
    validateOffset(offset);
    if (!Number.isInteger(maxCount) || maxCount < 1 || maxCount > PULL_COUNT_MAX) {
      throw new BrokerError('BAD_REQUEST', `maxCount must be an integer in 1..${PULL_COUNT_MAX}, got ${String(maxCount)}`);
    }
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new BrokerError('BAD_REQUEST', `maxBytes must be a positive integer, got ${String(maxBytes)}`);
    const minOffset = cq?.minOffset ?? 0;
    const maxOffset = cq?.maxOffset ?? 0;
    if (cq === undefined || offset < minOffset || offset >= maxOffset) {
      return { messages: [], nextOffset: offset < minOffset ? minOffset : Math.min(offset, maxOffset), minOffset, maxOffset };
    }
    const messages: StoredMessage[] = [];
    let bytes = 0;
    const end = Math.min(maxOffset, offset + maxCount);
    for (let o = offset; o < end; o++) {
      const packed = cq.packedAt(o);
      const logIndex = Math.floor(packed / SLOT_RADIX);
      const slot = packed % SLOT_RADIX;
      const batch = this.batchAt(logIndex);
      if (batch === undefined) break;
      assert(batch.topic === topic && batch.queueId === queueId && slot < batch.messages.length, `state machine: entry ${logIndex} does not hold ${topic}/${queueId} slot ${slot}`);
      const m = batch.messages[slot];
      if (messages.length > 0 && bytes + m.body.length > maxBytes) break;
      bytes += m.body.length;
      const properties = m.properties ?? EMPTY_PROPERTIES;
      const reconsume = properties[PROPERTY_RECONSUME_TIME];
      messages.push({
        topic,
        queueId,
        queueOffset: o,
        logIndex,
        msgId: msgIdHead(this.msgIdPrefix, logIndex) + msgIdSlotHex(slot),
        storeTimestamp: batch.storeTimestamp,
        keys: m.keys ?? '',
        tags: m.tags ?? '',
        properties,
        body: m.body,
        reconsumeTimes: reconsume !== undefined && /^\d{1,9}$/.test(reconsume) ? Number(reconsume) : 0,
      });
    }
    return { messages, nextOffset: offset + messages.length, minOffset, maxOffset };
  }

  /** Calls `listener` after every applied send batch (to wake long-polling pulls of that queue).
   *  Listeners run synchronously inside apply, after the state is updated; they must not throw.
   *  Returns the function that removes it. */
  onApplied(listener: AppliedListener): () => void {
    assert(this.listeners.length < APPLIED_LISTENER_COUNT_MAX, 'state machine: too many onApplied listeners');
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Canonical bytes of the whole replicated state (applied index and term, topics, consume
   *  queues, offsets). Two replicas that applied the same entries give identical bytes, whatever
   *  of their queues is cold (read back here). */
  serializeState(): Uint8Array {
    const topics = [...this.topics.keys()].sort(cmp).map((name) => {
      const t = this.topics.get(name)!;
      const queues: unknown[] = [];
      for (let q = 0; q < t.queueCount; q++) {
        const cq = t.queues[q];
        if (cq !== undefined && cq.size > 0) queues.push([q, cq.minOffset, cq.encodeRange(cq.minOffset, cq.maxOffset)]);
      }
      return [name, t.queueCount, queues];
    });
    const offsets = [...this.offsets.entries()].sort((a, b) => cmp(a[0], b[0]));
    return packr.pack([STATE_FORMAT_VERSION, this.applied, this.appliedTermValue, topics, offsets]);
  }

  // ---- checkpoint / restore --------------------------------------------------------------------

  /**
   * Writes what changed since the previous checkpoint and the applied index in one synced
   * LevelDB batch. Resolves to the checkpointed applied index. The snapshot is taken
   * synchronously, in the call: what is applied after the call is not in it (the replica relies
   * on this to keep checkpoints at or below its durable log). Batches are written one after
   * another, in call order. A failed write fails this and every later checkpoint (a later batch
   * holds only what changed after the failed one's snapshot). A no-op for an in-memory machine.
   *
   * Under ASYNC_FLUSH the caller should flush the commitlog up to appliedIndex first: a
   * checkpoint ahead of the durable local log leaves queue entries pointing at entries the log
   * must first get back from the leader (pulls stop there until it does).
   */
  checkpoint(): Promise<number> {
    if (this.checkpointFailure !== null) return Promise.reject(this.checkpointFailure);
    const snapshot = this.db === undefined || this.closed ? null : this.takeSnapshot();
    const run = this.checkpointChain.then(() => this.writeSnapshot(snapshot));
    this.checkpointChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** What changed since the previous snapshot, as LevelDB puts; null when nothing did. */
  private takeSnapshot(): CheckpointSnapshot | null {
    if (this.applied === this.snapshotApplied && this.dirtyTopics.size === 0 && this.dirtyOffsets.size === 0 && this.dirtyQueues.size === 0) {
      return null;
    }
    const ops: { type: 'put'; key: string; value: Uint8Array }[] = [];
    const queueWatermarks: [ConsumeQueue, number][] = [];
    for (const topic of this.dirtyTopics) ops.push({ type: 'put', key: topicKey(topic), value: packr.pack(this.topics.get(topic)!.queueCount) });
    for (const key of this.dirtyOffsets) ops.push({ type: 'put', key, value: packr.pack(this.offsets.get(key)!) });
    for (const qk of this.dirtyQueues) {
      const sep = qk.lastIndexOf(':');
      const topic = qk.slice(0, sep);
      const queueId = Number(qk.slice(sep + 1));
      const cq = this.topics.get(topic)!.queues[queueId]!;
      const from = this.queueSnapshotted.get(qk) ?? 0;
      const to = cq.maxOffset;
      const firstChunk = Math.floor(from / CHECKPOINT_CHUNK_ENTRY_COUNT);
      // Cold chunks are full and durable: a checkpoint never rewrites (nor reads) them.
      assert(firstChunk * CHECKPOINT_CHUNK_ENTRY_COUNT >= cq.coldEnd, `state machine: checkpoint of ${qk} from ${from} would rewrite cold entries below ${cq.coldEnd}`);
      for (let chunk = firstChunk; chunk * CHECKPOINT_CHUNK_ENTRY_COUNT < to; chunk++) {
        const start = chunk * CHECKPOINT_CHUNK_ENTRY_COUNT;
        const end = Math.min(to, start + CHECKPOINT_CHUNK_ENTRY_COUNT);
        ops.push({ type: 'put', key: chunkKey(topic, queueId, chunk), value: cq.encodeRange(start, end) });
      }
      queueWatermarks.push([cq, to]);
      this.queueSnapshotted.set(qk, to);
    }
    const applied = this.applied;
    ops.push({ type: 'put', key: KEY_META, value: packr.pack([STATE_FORMAT_VERSION, applied, this.appliedTermValue]) });
    this.dirtyTopics.clear();
    this.dirtyOffsets.clear();
    this.dirtyQueues.clear();
    this.snapshotApplied = applied;
    return { ops, applied, queueWatermarks };
  }

  private async writeSnapshot(snapshot: CheckpointSnapshot | null): Promise<number> {
    if (this.checkpointFailure !== null) throw this.checkpointFailure;
    const db = this.db;
    if (snapshot === null || db === undefined) return this.checkpointed;
    try {
      await db.batch(snapshot.ops, { sync: true });
    } catch (err) {
      this.checkpointFailure = err as Error;
      throw err;
    }
    this.checkpointed = snapshot.applied;
    for (const [cq, to] of snapshot.queueWatermarks) {
      // Every chunk below `to` is now durable in full: let all but the margin go cold.
      const coldEnd = (Math.floor(to / CHECKPOINT_CHUNK_ENTRY_COUNT) - HOT_MARGIN_CHUNK_COUNT) * CHECKPOINT_CHUNK_ENTRY_COUNT;
      if (coldEnd > cq.coldEnd) cq.freezeBelow(coldEnd);
    }
    return snapshot.applied;
  }

  private async restore(db: Level<string, Uint8Array>): Promise<void> {
    // Consume-queue chunks are checked as they stream by but not kept: full ones stay cold (read
    // back on demand), only each queue's partial last chunk is loaded into memory.
    const restored: RestoredQueue[] = [];
    let meta: Uint8Array | undefined;
    for await (const [key, value] of db.iterator()) {
      const kind = key.slice(0, 2);
      if (key === KEY_META) {
        meta = value;
      } else if (kind === 't:') {
        const topic = key.slice(2);
        const queueCount = packr.unpack(value) as unknown;
        assertRestored(() => {
          validateTopicName(topic);
          validateQueueCount(queueCount);
        }, key);
        assert(this.topics.size < TOPIC_COUNT_MAX, 'state restore: too many topics');
        this.topics.set(topic, { queueCount: queueCount as number, queues: [] });
      } else if (kind === 'o:') {
        const [group, topic, queueId] = key.slice(2).split(':');
        const offset = packr.unpack(value) as unknown;
        assertRestored(() => {
          validateGroupName(group);
          validateTopicName(topic);
          validateOffset(offset);
        }, key);
        assert(key === offsetKey(group, topic, Number(queueId)), `state restore: bad key ${key}`);
        assert(this.offsets.size < CONSUMER_OFFSET_COUNT_MAX, 'state restore: too many consumer offsets');
        this.offsets.set(key, offset as number);
      } else if (kind === 'q:') {
        restoreChunk(restored, key, value);
      } else {
        assert(false, `state restore: unknown key ${key}`);
      }
    }
    if (meta === undefined) {
      assert(this.topics.size === 0 && this.offsets.size === 0 && restored.length === 0, 'state restore: data without an applied index');
      return;
    }
    const m = packr.unpack(meta) as unknown;
    assert(Array.isArray(m) && m[0] === STATE_FORMAT_VERSION && Number.isSafeInteger(m[1]) && m[1] >= 0 && Number.isSafeInteger(m[2]) && m[2] >= 0, 'state restore: bad meta record');
    this.applied = m[1] as number;
    this.appliedTermValue = m[2] as number;
    this.checkpointed = this.applied;
    this.snapshotApplied = this.applied;
    for (const [key] of this.offsets) {
      const [, topic, queueId] = key.slice(2).split(':');
      const t = this.topics.get(topic);
      assert(t !== undefined && Number(queueId) < t.queueCount, `state restore: offset ${key} of an unknown queue`);
    }
    for (const q of restored) {
      const t = this.topics.get(q.topic);
      assert(t !== undefined && q.queueId < t.queueCount, `state restore: chunk of unknown queue ${q.topic}/${q.queueId}`);
      assert(t.queues[q.queueId] === undefined, `state restore: chunks of ${q.topic}/${q.queueId} are not contiguous`);
      const cq = this.newQueue(q.topic, q.queueId);
      t.queues[q.queueId] = cq;
      if (q.fullChunks > 0) cq.restoreCold(q.fullChunks * CHECKPOINT_CHUNK_ENTRY_COUNT, q.lastPacked);
      if (q.tail !== undefined) cq.appendEncoded(cq.maxOffset, q.tail);
      this.queueSnapshotted.set(queueKey(q.topic, q.queueId), cq.maxOffset);
      assert(Math.floor(cq.lastPacked / SLOT_RADIX) <= this.applied, 'state restore: consume queue points past the applied index');
    }
  }

  /** Stops persisting. With `checkpoint` (default true) writes a final checkpoint first; false
   *  drops whatever is not checkpointed (tests use it to simulate a crash). */
  async close(options: { checkpoint?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    try {
      if (options.checkpoint ?? true) await this.checkpoint();
      else await this.checkpointChain;
    } finally {
      // Closed even when the last checkpoint failed (the error still reaches the caller).
      this.closed = true;
      const db = this.db;
      this.db = undefined;
      this.cache.clear();
      this.cacheBytes = 0;
      this.coldChunks.clear();
      this.coldChunkLast = -1;
      if (db !== undefined) await db.close();
    }
  }

  /** For tests and memory figures: hot consume-queue runs held, all queues together. */
  get hotRunCount(): number {
    let n = 0;
    for (const t of this.topics.values()) for (const cq of t.queues) n += cq?.runCount ?? 0;
    return n;
  }

  /** For tests and memory figures: decoded cold chunks cached (at most COLD_CHUNK_CACHE_COUNT_MAX). */
  get coldChunkCacheSize(): number {
    return this.coldChunks.size;
  }

  // ---- helpers ----------------------------------------------------------------------------

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
    const db = this.db;
    assert(db !== undefined, `state machine: cold chunk ${key} read after close`);
    const entries = decodeChunk(db.getSync(key), `checkpoint chunk ${key}`);
    this.coldChunks.set(cacheKey, entries);
    this.coldChunkLast = cacheKey;
    if (this.coldChunks.size > COLD_CHUNK_CACHE_COUNT_MAX) this.coldChunks.delete(this.coldChunks.keys().next().value!);
    return entries;
  }

  private queueOf(topic: string, queueId: number): ConsumeQueue | undefined {
    const t = this.topics.get(topic);
    if (t === undefined) throw new BrokerError('TOPIC_NOT_FOUND', `topic ${String(topic)} does not exist`);
    validateQueueId(queueId, t.queueCount);
    return t.queues[queueId];
  }

  /** The decoded send batch at `logIndex`, from the cache or the log; undefined if the log does
   *  not have it. */
  private batchAt(logIndex: number): SendBatchCommand | undefined {
    const hit = this.cache.get(logIndex);
    if (hit !== undefined && hit.cmd !== null) {
      this.cache.delete(logIndex);
      this.cache.set(logIndex, hit);
      return hit.cmd;
    }
    const data = hit?.data ?? this.readEntry(logIndex);
    if (data === undefined || data === null) return undefined;
    let cmd;
    try {
      cmd = decodeCommand(data);
    } catch (err) {
      assert(false, `state machine: log entry ${logIndex} is not a command: ${(err as Error).message}`);
    }
    assert(cmd.kind === 'sendBatch', `state machine: log entry ${logIndex} is ${cmd.kind}, not a send batch`);
    this.cachePut(logIndex, { cmd, data: null, bytes: data.length });
    return cmd;
  }

  private cachePut(logIndex: number, batch: CachedBatch): void {
    if (batch.bytes > DECODED_BATCH_CACHE_BYTES_MAX) return;
    const old = this.cache.get(logIndex);
    if (old !== undefined) {
      this.cache.delete(logIndex);
      this.cacheBytes -= old.bytes;
    }
    this.cache.set(logIndex, batch);
    this.cacheBytes += batch.bytes;
    while (this.cache.size > DECODED_BATCH_CACHE_COUNT_MAX || this.cacheBytes > DECODED_BATCH_CACHE_BYTES_MAX) {
      const [oldest, v] = this.cache.entries().next().value as [number, CachedBatch];
      this.cache.delete(oldest);
      this.cacheBytes -= v.bytes;
    }
  }

  /** For tests and status: decoded batches currently cached. */
  get decodedBatchCacheSize(): number {
    return this.cache.size;
  }
}

/** One checkpoint's LevelDB batch, taken synchronously (see checkpoint()). */
interface CheckpointSnapshot {
  readonly ops: { type: 'put'; key: string; value: Uint8Array }[];
  readonly applied: number;
  readonly queueWatermarks: [ConsumeQueue, number][];
}

/** A consume queue as its checkpoint chunks describe it. */
interface RestoredQueue {
  readonly topic: string;
  readonly queueId: number;
  /** Full chunks seen; a short one (`tail`) can only be the last. */
  fullChunks: number;
  /** Packed last entry of the full chunks (-1 before any). */
  lastPacked: number;
  tail: Uint8Array | undefined;
}

/** Checks one chunk as restore streams it by and adds it to its queue's summary. Keys sort by
 *  topic, then zero-padded queue id, then zero-padded chunk: a queue's chunks arrive in order and
 *  each must continue it exactly. */
function restoreChunk(restored: RestoredQueue[], key: string, value: Uint8Array): void {
  const [topic, queueIdText, chunkText] = key.slice(2).split(':');
  const queueId = Number(queueIdText);
  const chunk = Number(chunkText);
  assert(Number.isInteger(queueId) && Number.isInteger(chunk) && key === chunkKey(topic, queueId, chunk), `state restore: bad key ${key}`);
  let q = restored.at(-1);
  if (q === undefined || q.topic !== topic || q.queueId !== queueId) {
    q = { topic, queueId, fullChunks: 0, lastPacked: -1, tail: undefined };
    restored.push(q);
  }
  assert(q.tail === undefined, `state restore: chunk ${chunk - 1} of ${topic}/${queueId} is short but not the last`);
  assert(chunk === q.fullChunks, `state restore: chunk ${chunk} of ${topic}/${queueId} does not follow offset ${q.fullChunks * CHECKPOINT_CHUNK_ENTRY_COUNT}`);
  const fullBytes = CHECKPOINT_CHUNK_ENTRY_COUNT * CONSUME_QUEUE_ENTRY_BYTES;
  assert(value.length > 0 && value.length <= fullBytes, `state restore: chunk ${chunk} of ${topic}/${queueId} has ${value.length} bytes`);
  if (value.length < fullBytes) {
    q.tail = value.slice(); // checked when it is loaded into the hot tier
    return;
  }
  const entries = decodeChunk(value, `restored chunk ${key}`);
  assert(entries[0] > q.lastPacked, `state restore: chunk ${chunk} of ${topic}/${queueId} goes back`);
  q.lastPacked = entries[CHECKPOINT_CHUNK_ENTRY_COUNT - 1];
  q.fullChunks++;
}

function assertRestored(check: () => void, key: string): void {
  try {
    check();
  } catch (err) {
    assert(false, `state restore: bad record ${key}: ${(err as Error).message}`);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
