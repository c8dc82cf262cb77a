// The broker's replicated state machine. Every replica applies the same committed entries in the
// same order and so derives the same topics, consume queues and consumer offsets. Apply reads no
// clock and no local configuration: everything it decides comes from the entries themselves.
//
// Its parts (src/broker/state/):
// - tables.ts: the replicated tables, the only place state lives; each implements
//   ReplicatedTable (replicated-table.ts): snapshot, restore, checkpoint of what changed.
// - apply.ts: command kind -> handler; commands/<kind>.ts: a command's apply and its checks
//   before proposing.
// - checkpoint-store.ts: the applied-index checkpoint in LevelDB (what a restart resumes after).
// - snapshot.ts: the whole state at one applied index, for a replica behind the log's start.
// - reads.ts and send-batch-cache.ts: pulls and searches; message bodies stay in the Raft log and
//   are read back through `readEntry` (the commitlog's synchronous read).
// - key-index.ts, key-index-feed.ts, lookups.ts: the key index (derived, not replicated: built on
//   apply, rebuilt from the log at start) and the lookups by msgId and by key.
//
// A new replicated command: its kind and codec in commands.ts, its module in state/commands/
// (handler and checks before proposing), its line in COMMAND_HANDLERS (state/apply.ts), a
// prepare method here, and its arbitrary in test/broker/arbitraries.ts. A new table: a
// ReplicatedTable in state/, its line in createTables (state/tables.ts), and its reads in
// observe() of test/broker/snapshot.test.ts (which fails until a snapshot without it is noticed).
import { assert } from '../util/index.ts';
import { EntryType, decodeConfChangeEntry } from '../raft/index.ts';
import type { Membership } from './membership.ts';
import type { CommitOffsetEntry, CreateTopicCommand, DeleteTopicCommand, LockQueuesCommand, RetainCommand, SendBatchCommand, UnlockAllQueuesCommand, UnlockQueuesCommand } from './commands.ts';
import { TOPIC_QUEUE_COUNT_MAX, type MessageInput } from '../protocol/index.ts';
import { applyCommand } from './state/apply.ts';
import type { ApplyContext } from './state/command-handler.ts';
import { CheckpointStore } from './state/checkpoint-store.ts';
import { prepareCommitOffset } from './state/commands/commit-offsets.ts';
import { prepareCreateTopic } from './state/commands/create-topic.ts';
import { prepareDeleteTopic } from './state/commands/delete-topic.ts';
import { prepareRetain } from './state/commands/retain.ts';
import { prepareLockQueues, prepareUnlockAllQueues, prepareUnlockQueues } from './state/commands/queue-locks.ts';
import type { RetentionMark } from './state/retention-table.ts';
import { checkSend, prepareSend, type ProducerSeq, type SendOptions } from './state/commands/send-batch.ts';
import { producerWindowKey, type RememberedBatch } from './state/producer-window-table.ts';
import { msgIdPrefix } from './state/msg-id.ts';
import { KeyIndex } from './state/key-index.ts';
import { KeyIndexRebuilder, type KeyIndexRebuild, type LogEntryRead } from './state/key-index-feed.ts';
import { messageAt, messagesByKey, type LookupContext } from './state/lookups.ts';
import { parseMsgId } from './state/msg-id.ts';
import { pull, queueOf, searchOffset, type ReadContext } from './state/reads.ts';
import { BrokerError } from './errors.ts';
import type { GroupQueueInfo, QueueInfo, QueueRef, StoredMessage } from '../protocol/index.ts';
import { SendBatchCache } from './state/send-batch-cache.ts';
import { QueueTimes } from './state/queue-times.ts';
import { checkSnapshot, encodeSnapshot, SNAPSHOT_FORMAT_VERSION, type Snapshot } from './state/snapshot.ts';
import { createTables, tablesInOrder, type BrokerTables, type TableSnapshots } from './state/tables.ts';
import type { AppliedEvent, AppliedListener, ApplyEntry, ApplyResult, PullResult, QueueBounds } from './state/types.ts';

export type { AppliedEvent, AppliedListener, ApplyEntry, ApplyResult, PullResult, QueueBounds } from './state/types.ts';
export type { Snapshot } from './state/snapshot.ts';
export { KeyIndexRebuilder, type KeyIndexRebuild, type LogEntryRead } from './state/key-index-feed.ts';
export { KeyIndex, keyHash as messageKeyHash } from './state/key-index.ts';
export { decodeSnapshot, encodeSnapshot } from './state/snapshot.ts';
export { makeMsgId, parseMsgId } from './state/msg-id.ts';
export { TOPIC_COUNT_MAX } from './state/topic-table.ts';
export { CONSUMER_OFFSET_COUNT_MAX } from './state/consumer-offset-table.ts';
export { CHECKPOINT_CHUNK_ENTRY_COUNT, COLD_CHUNK_CACHE_COUNT_MAX } from './state/consume-queue-table.ts';
export { DECODED_BATCH_CACHE_BYTES_MAX, DECODED_BATCH_CACHE_COUNT_MAX } from './state/send-batch-cache.ts';
export { PROPERTY_RECONSUME_TIME } from './state/reads.ts';
export { RETENTION_MARK_COUNT_MAX, type RetentionMark } from './state/retention-table.ts';
export { IDEMPOTENCE_PAIRS_MAX, type RememberedBatch } from './state/producer-window-table.ts';
export { QUEUE_LOCK_COUNT_MAX } from './state/queue-lock-table.ts';
export type { ProducerSeq } from './state/commands/send-batch.ts';

/** A retention mark's snapshot: the state at the mark with the log up to it cut (onMark). */
export interface MarkSnapshot {
  readonly index: number;
  readonly term: number;
  /** encodeSnapshot bytes. */
  readonly bytes: Uint8Array;
}
export type MarkListener = (mark: MarkSnapshot) => void;

/** onApplied listeners. */
export const APPLIED_LISTENER_COUNT_MAX = 16;
/** Defaults of the two options that matter to proposing (RocketMQ's names and values). */
export const DEFAULT_AUTO_CREATE_TOPIC_ENABLE = true;
export const DEFAULT_TOPIC_QUEUE_NUMS = 4;

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
  /** Entries of the message key index (derived state: see state/key-index.ts); 0 or absent: no
   *  index, lookups by key are refused. */
  readonly keyIndexCapacity?: number;
  /** Test-only fault injection, so the tests can show their checks fire. Never set in production.
   *  'mark-snapshot-uncut': a mark's snapshot keeps the consume queues as they are, not cut at
   *  the mark (a replica restored from it would serve entries its log does not hold).
   *  'producer-windows-forgotten-on-restore': a restore (snapshot or checkpoint) loses the
   *  idempotent producers' windows (a retry after it would be stored twice).
   *  'queue-locks-forgotten-on-restore': a restore loses the queue locks (a failover would hand
   *  a locked queue to a second member). 'queue-lock-expiry-reversed': fresh locks count as
   *  lapsed and lapsed ones as held. 'schedule-from-unchecked': a delivery of delayed messages
   *  applies whatever the schedule offset (a new master's re-proposal stores them twice). */
  readonly testBugs?: ReadonlySet<'mark-snapshot-uncut' | 'producer-windows-forgotten-on-restore' | 'queue-locks-forgotten-on-restore' | 'queue-lock-expiry-reversed' | 'schedule-from-unchecked'>;
}

export class BrokerStateMachine {
  private applied = 0;
  private appliedTermValue = 0;
  /** All replicated state. */
  private readonly tables: BrokerTables;
  private readonly listeners: AppliedListener[] = [];
  private markListener: MarkListener | undefined;
  private membershipListener: ((m: Membership) => void) | undefined;
  /** retainedFrom as of the last completed checkpoint. */
  private checkpointedCut = 1;
  private readonly batches: SendBatchCache;
  /** Derived from the log: each queue's last update time, for the operator's reads. */
  private readonly queueTimes: QueueTimes;
  private readonly sendOptions: SendOptions;
  /** What apply handlers and reads work with. */
  private readonly context: ApplyContext & ReadContext;
  private readonly keyIndex: KeyIndex | undefined;
  /** While the key index of a restarted replica is refilled from the log (startKeyIndexRebuild). */
  private keyIndexRebuild: KeyIndexRebuilder | undefined;
  private readonly readEntry: (logIndex: number) => Uint8Array | undefined;
  /** The applied-index checkpoint; absent for a purely in-memory machine. */
  private store: CheckpointStore | undefined;
  private closed = false;
  private readonly brokerName: string;
  private readonly bugMarkUncut: boolean;

  /** An in-memory state machine at applied index 0. Use `open` for a durable one. */
  constructor(options: BrokerStateMachineOptions) {
    if (typeof options.brokerName !== 'string' || options.brokerName.length === 0) throw new TypeError('brokerName must be a non-empty string');
    if (typeof options.readEntry !== 'function') throw new TypeError('readEntry must be a function');
    const queueNums = options.defaultTopicQueueNums ?? DEFAULT_TOPIC_QUEUE_NUMS;
    if (!Number.isInteger(queueNums) || queueNums < 1 || queueNums > TOPIC_QUEUE_COUNT_MAX) {
      throw new TypeError(`defaultTopicQueueNums must be an integer in 1..${TOPIC_QUEUE_COUNT_MAX}`);
    }
    this.tables = createTables(
      { forgetOnRestore: options.testBugs?.has('producer-windows-forgotten-on-restore') ?? false },
      { forgetOnRestore: options.testBugs?.has('queue-locks-forgotten-on-restore') ?? false, expiryReversed: options.testBugs?.has('queue-lock-expiry-reversed') ?? false },
      { ignoreFrom: options.testBugs?.has('schedule-from-unchecked') ?? false },
    );
    this.sendOptions = { autoCreateTopicEnable: options.autoCreateTopicEnable ?? DEFAULT_AUTO_CREATE_TOPIC_ENABLE, defaultTopicQueueNums: queueNums };
    this.batches = new SendBatchCache(options.readEntry);
    this.queueTimes = new QueueTimes(this.batches);
    this.readEntry = options.readEntry;
    this.keyIndex = (options.keyIndexCapacity ?? 0) > 0 ? new KeyIndex(options.keyIndexCapacity!) : undefined;
    this.brokerName = options.brokerName;
    this.bugMarkUncut = options.testBugs?.has('mark-snapshot-uncut') ?? false;
    this.context = { tables: this.tables, msgIdPrefix: msgIdPrefix(options.brokerName), batches: this.batches, keyIndex: this.keyIndex };
  }

  /** Opens (or creates) the checkpoint store in `dir` and restores the last checkpoint. The
   *  driver then replays the log from `appliedIndex + 1`. */
  static async open(dir: string, options: BrokerStateMachineOptions): Promise<BrokerStateMachine> {
    const sm = new BrokerStateMachine(options);
    const store = await CheckpointStore.open(dir);
    try {
      sm.tables.consumeQueues.useColdStore(store);
      const tables = tablesInOrder(sm.tables);
      const meta = await store.load(tables);
      sm.applied = meta?.applied ?? 0;
      sm.appliedTermValue = meta?.term ?? 0;
      for (const table of tables) table.finishCheckpointLoad({ tables: sm.tables, appliedIndex: sm.applied });
      sm.checkpointedCut = sm.retainedFrom;
    } catch (err) {
      await store.close();
      throw err;
    }
    sm.store = store;
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
    return this.store?.checkpointedIndex ?? 0;
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
    let mark: boolean | undefined;
    if (entry.type === 1) {
      result = { type: 'noop' };
    } else if (entry.type === EntryType.ConfChange) {
      const membership = this.tables.membership.apply(entry.index, decodeConfChangeEntry(entry.data));
      result = { type: 'ok' };
      this.membershipListener?.(membership);
    } else {
      assert(entry.type === 0, `state machine: entry ${entry.index} has unknown type ${entry.type}`);
      ({ result, event, mark } = applyCommand(this.context, entry));
    }
    this.applied = entry.index;
    this.appliedTermValue = entry.term;
    if (event !== undefined) for (const l of this.listeners) l(event);
    if (mark === true && this.markListener !== undefined) this.markListener({ index: entry.index, term: entry.term, bytes: encodeSnapshot(this.markSnapshot()) });
    return result;
  }

  /** Called inside apply for each retention mark, with its snapshot; it must keep the bytes
   *  durably before returning (a checkpoint after the mark never replays it). One listener. */
  onMark(listener: MarkListener): void {
    this.markListener = listener;
  }

  /** Called inside apply for each configuration entry, after the table has it. One listener. */
  onMembership(listener: (m: Membership) => void): void {
    this.membershipListener = listener;
  }

  /** The configuration applied last (null: none yet, the seed from dLegerPeers is in force). */
  get membership(): Membership | null {
    return this.tables.membership.current;
  }

  /** The configuration in force at log index `index` (at most the applied one). */
  membershipAt(index: number): Membership | null {
    return this.tables.membership.at(index);
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

  // ---- checks before proposing (throw BrokerError; read applied state only) --------------------

  /** Refuses a send that apply would refuse or that breaks a limit: BAD_REQUEST,
   *  MESSAGE_TOO_LARGE, TOPIC_NOT_FOUND (unknown topic and autoCreateTopicEnable off),
   *  OVERLOADED (topic limit). */
  checkSend(topic: string, queueId: number, messages: readonly MessageInput[], producer?: ProducerSeq): void {
    checkSend(this.tables, this.sendOptions, topic, queueId, messages, producer);
  }

  /** checkSend, then the command to propose. `storeTimestamp` is the leader's clock (ms).
   *  `producer`: an idempotent producer's id and the batch's first seq (a retry that apply finds
   *  in the producer's window is answered with the first result and stores nothing). */
  prepareSend(topic: string, queueId: number, messages: readonly MessageInput[], storeTimestamp: number, producer?: ProducerSeq): SendBatchCommand {
    return prepareSend(this.tables, this.sendOptions, topic, queueId, messages, storeTimestamp, producer);
  }

  /** The batches the window of (topic, queue, producer) remembers, oldest first (empty: none). */
  producerWindow(topic: string, queueId: number, producerId: string): RememberedBatch[] {
    const w = this.tables.producerWindows.get(producerWindowKey(topic, queueId, producerId));
    return w === undefined ? [] : Array.from({ length: w.size }, (_, i) => w.batch(i));
  }

  /** Idempotent producer windows held (at most IDEMPOTENCE_PAIRS_MAX). */
  get producerWindowCount(): number {
    return this.tables.producerWindows.size;
  }

  /** Creating an existing topic with as many or more queues is allowed (it grows); fewer is not. */
  prepareCreateTopic(topic: string, queues: number): CreateTopicCommand {
    return prepareCreateTopic(this.tables, topic, queues);
  }

  /** Removing a topic with its queues, consumer offsets and producer windows: TOPIC_NOT_FOUND
   *  when there is none. */
  prepareDeleteTopic(topic: string): DeleteTopicCommand {
    return prepareDeleteTopic(this.tables, topic);
  }

  /** A retain entry: cut the log at mark `cutAt` (0: cut nothing) and mark this entry.
   *  BAD_REQUEST when `cutAt` is not a mark. `atMs` is the master's clock. */
  prepareRetain(cutAt: number, atMs: number): RetainCommand {
    return prepareRetain(this.tables, cutAt, atMs);
  }

  /** Ordered consumption: lock `queues` of `group` for `clientId` (state/commands/queue-locks.ts).
   *  BAD_REQUEST, TOPIC_NOT_FOUND. `atMs` is the master's clock. */
  prepareLockQueues(group: string, clientId: string, queues: readonly QueueRef[], atMs: number): LockQueuesCommand {
    return prepareLockQueues(this.tables, group, clientId, queues, atMs);
  }

  /** Releases the locks `clientId` holds on `queues`: BAD_REQUEST, TOPIC_NOT_FOUND. */
  prepareUnlockQueues(group: string, clientId: string, queues: readonly QueueRef[]): UnlockQueuesCommand {
    return prepareUnlockQueues(this.tables, group, clientId, queues);
  }

  /** Releases every lock `clientId` holds in `group` (a member left or died): BAD_REQUEST. */
  prepareUnlockAllQueues(group: string, clientId: string): UnlockAllQueuesCommand {
    return prepareUnlockAllQueues(group, clientId);
  }

  /** The holder of a queue's lock and when it took or last renewed it, if the lock has not
   *  lapsed at `atMs`. */
  queueLockHolder(group: string, topic: string, queueId: number, atMs: number): { clientId: string; lockedAtMs: number } | undefined {
    const lock = this.tables.queueLocks.get(group, topic, queueId);
    return lock === undefined || this.tables.queueLocks.lapsed(lock, atMs) ? undefined : { ...lock };
  }

  /** The lock on a queue as the table holds it, lapsed or not. */
  queueLock(group: string, topic: string, queueId: number): { clientId: string; lockedAtMs: number } | undefined {
    const lock = this.tables.queueLocks.get(group, topic, queueId);
    return lock === undefined ? undefined : { ...lock };
  }

  /** The queues of `group` `clientId` holds a lock on (lapsed ones too), in key order. */
  queueLocksOf(group: string, clientId: string): QueueRef[] {
    return this.tables.queueLocks.heldBy(group, clientId);
  }

  /** Every member holding a queue lock (lapsed ones too). */
  queueLockHolders(): { group: string; clientId: string }[] {
    return this.tables.queueLocks.holders();
  }

  /** Queue locks held (lapsed ones until dropped; at most QUEUE_LOCK_COUNT_MAX). */
  get queueLockCount(): number {
    return this.tables.queueLocks.size;
  }

  /** Delay level `level`'s schedule offset: the next offset of SCHEDULE_TOPIC queue level - 1
   *  still to deliver (state/schedule-table.ts). */
  scheduleOffset(level: number): number {
    return this.tables.schedule.offsetOf(level);
  }

  /** First log index retained (1 until retention cut the log): entries below are deleted. */
  get retainedFrom(): number {
    return this.tables.retention.retainedFrom;
  }

  /** Retention marks after the cut, oldest first. */
  get retentionMarks(): readonly RetentionMark[] {
    return this.tables.retention.marks;
  }

  /** One commit to batch into a commitOffsets command: TOPIC_NOT_FOUND, BAD_REQUEST (an offset
   *  past the queue's max offset among them), OVERLOADED (offset table full). */
  prepareCommitOffset(group: string, topic: string, queueId: number, offset: number): CommitOffsetEntry {
    return prepareCommitOffset(this.tables, group, topic, queueId, offset);
  }

  // ---- reads (applied state only) ---------------------------------------------------------

  /** Queue count of `topic`, or undefined if it does not exist (yet). */
  topicQueueCount(topic: string): number | undefined {
    return this.tables.topics.queueCount(topic);
  }

  /** Every topic with its queue count, sorted by name. */
  listTopics(): { topic: string; queues: number }[] {
    return this.tables.topics.list();
  }

  /** The committed offset of a group on a queue, or -1 when none was committed (RocketMQ). */
  queryOffset(group: string, topic: string, queueId: number): number {
    return this.tables.consumerOffsets.get(group, topic, queueId) ?? -1;
  }

  /** Bounds of a queue; TOPIC_NOT_FOUND / BAD_REQUEST for an unknown topic or queue. */
  queueBounds(topic: string, queueId: number): QueueBounds {
    const cq = queueOf(this.tables, topic, queueId);
    return { minOffset: cq?.minOffset ?? 0, maxOffset: cq?.maxOffset ?? 0 };
  }

  /** The offset of the queue's first message stored at or after `timestamp` (reads.ts). */
  searchOffset(topic: string, queueId: number, timestamp: number): number {
    return searchOffset(this.context, topic, queueId, timestamp);
  }

  /** Up to `maxCount` messages of a queue from `offset`, within `maxBytes` of bodies, only those
   *  whose tag is in `tags` when given (reads.ts). */
  pull(topic: string, queueId: number, offset: number, maxCount: number, maxBytes: number, tags: ReadonlySet<string> | null = null): PullResult {
    return pull(this.context, topic, queueId, offset, maxCount, maxBytes, tags);
  }

  /** Every topic's queues with their bounds and last update time (the store timestamp of the
   *  newest message, 0 for none), in topic order, at most `rowsMax` queues in all. */
  queueList(rowsMax: number): { topics: { topic: string; queues: QueueInfo[] }[]; truncated: boolean } {
    const topics: { topic: string; queues: QueueInfo[] }[] = [];
    let rows = 0;
    for (const { topic, queues } of this.tables.topics.list()) {
      if (rows + queues > rowsMax) return { topics, truncated: true };
      rows += queues;
      topics.push({ topic, queues: Array.from({ length: queues }, (_, queueId) => this.queueInfo(topic, queueId)) });
    }
    return { topics, truncated: false };
  }

  private queueInfo(topic: string, queueId: number): QueueInfo {
    const cq = this.tables.consumeQueues.get(topic, queueId);
    return { queueId, minOffset: cq?.minOffset ?? 0, maxOffset: cq?.maxOffset ?? 0, lastUpdateTimestamp: this.queueTimes.lastUpdateTimestamp(topic, queueId, cq) };
  }

  /** Committed consumer offsets with the lag behind each queue's end, at most `rowsMax`. */
  consumerOffsetList(rowsMax: number): { offsets: GroupQueueInfo[]; truncated: boolean } {
    const offsets: GroupQueueInfo[] = [];
    for (const [group, topic, queueId, offset] of this.tables.consumerOffsets.entries()) {
      if (offsets.length >= rowsMax) return { offsets, truncated: true };
      const maxOffset = this.tables.consumeQueues.get(topic, queueId)?.maxOffset ?? 0;
      offsets.push({ group, topic, queueId, offset, lag: Math.max(0, maxOffset - offset) });
    }
    return { offsets, truncated: false };
  }

  // ---- lookups (derived state: see state/lookups.ts) ----------------------------------------

  /** The message a msgId names, if this replica stores it; BAD_REQUEST for a string that is not
   *  a msgId or names another broker group. */
  messageById(msgId: string): StoredMessage | undefined {
    const parsed = typeof msgId === 'string' ? parseMsgId(msgId) : undefined;
    if (parsed === undefined) throw new BrokerError('BAD_REQUEST', `${JSON.stringify(String(msgId)).slice(0, 80)} is not a msgId`);
    if (parsed.brokerName !== this.brokerName) throw new BrokerError('BAD_REQUEST', `msgId ${msgId} belongs to broker ${parsed.brokerName}, this is ${this.brokerName}`);
    return messageAt(this.lookupContext(), parsed.logIndex, parsed.slot);
  }

  /** The newest stored messages of `topic` with key `key`, at most `max`; BAD_REQUEST when the
   *  key index is off. */
  messagesByKey(topic: string, key: string, max: number): StoredMessage[] {
    if (this.keyIndex === undefined) throw new BrokerError('BAD_REQUEST', 'the key index is off on this replica (messageIndexEnable=false)');
    const found = messagesByKey(this.lookupContext(), this.keyIndex, topic, key, max);
    const rebuild = this.keyIndexRebuild;
    if (rebuild !== undefined && found.length < max) {
      // Older messages may hold the key too: no answer rather than an incomplete one.
      const { entriesRead, entries } = rebuild.progress;
      throw new BrokerError('OVERLOADED', `the key index is being rebuilt after a restart (${entriesRead} of up to ${entries} log entries read): try again shortly, or another replica`);
    }
    return found;
  }

  /** Entries in the key index; -1 when it is off. */
  get keyIndexEntries(): number {
    return this.keyIndex?.size ?? -1;
  }

  /** Whether the key index is still being refilled after a restart. */
  get keyIndexRebuilding(): boolean {
    return this.keyIndexRebuild !== undefined;
  }

  /** Begins refilling the key index from the log entries up to appliedIndex (those after it fill
   *  it as they are applied), newest first, at most `bytesMax` of them: the caller runs step()
   *  until done, then finishKeyIndexRebuild(). Call before the first apply. Undefined when the
   *  index is off or the log holds nothing applied. */
  startKeyIndexRebuild(read: (from: number, maxBytes: number) => readonly LogEntryRead[], firstIndex: number, bytesMax: number): KeyIndexRebuilder | undefined {
    if (this.keyIndex === undefined || this.applied < firstIndex) return undefined;
    assert(this.keyIndex.size === 0 && this.keyIndexRebuild === undefined, 'state machine: the key index is rebuilt only when empty');
    this.keyIndexRebuild = new KeyIndexRebuilder(this.keyIndex, read, firstIndex, this.applied, bytesMax);
    return this.keyIndexRebuild;
  }

  finishKeyIndexRebuild(): KeyIndexRebuild | undefined {
    const rebuild = this.keyIndexRebuild;
    if (rebuild === undefined) return undefined;
    this.keyIndexRebuild = undefined;
    return rebuild.finish();
  }

  /** The whole rebuild at once (tools and tests). */
  rebuildKeyIndex(read: (from: number, maxBytes: number) => readonly LogEntryRead[], firstIndex: number, bytesMax: number): KeyIndexRebuild | undefined {
    const rebuild = this.startKeyIndexRebuild(read, firstIndex, bytesMax);
    if (rebuild === undefined) return undefined;
    while (!rebuild.done) rebuild.step();
    return this.finishKeyIndexRebuild();
  }

  private lookupContext(): LookupContext {
    return { ...this.context, appliedIndex: this.applied, readEntry: this.readEntry };
  }

  // ---- snapshot / restore -----------------------------------------------------------------

  /** A self-contained copy of all replicated state at appliedIndex (every table; no message
   *  bodies: the log holds them). Cold consume-queue entries are read back for it. */
  snapshot(): Snapshot {
    return this.snapshotCutAt(0);
  }

  /** The snapshot at appliedIndex as it is once the log is cut there (a retention mark): the
   *  queues serve nothing below it. A replica restored from it holds the log after it only. */
  markSnapshot(): Snapshot {
    const snapshot = this.snapshotCutAt(this.applied);
    if (!this.bugMarkUncut) return snapshot;
    return { ...snapshot, tables: { ...snapshot.tables, consumeQueues: this.tables.consumeQueues.snapshot() } };
  }

  private snapshotCutAt(cutAt: number): Snapshot {
    const tables: Partial<Record<keyof BrokerTables, unknown>> = {};
    for (const table of tablesInOrder(this.tables)) tables[table.name as keyof BrokerTables] = table.snapshot(cutAt);
    return { formatVersion: SNAPSHOT_FORMAT_VERSION, appliedIndex: this.applied, appliedTerm: this.appliedTermValue, tables: tables as TableSnapshots };
  }

  /** Replaces all replicated state with `snapshot`'s (checked: a malformed one is an assertion);
   *  apply then continues at snapshot.appliedIndex + 1. A durable machine writes the whole new
   *  state, and drops the old, in its next checkpoint. */
  restore(snapshot: Snapshot): void {
    assert(!this.closed, 'state machine: restore after close');
    checkSnapshot(snapshot, this.tables);
    const context = { tables: this.tables, appliedIndex: snapshot.appliedIndex };
    for (const table of tablesInOrder(this.tables)) table.restore(snapshot.tables[table.name as keyof BrokerTables], context);
    this.applied = snapshot.appliedIndex;
    this.appliedTermValue = snapshot.appliedTerm;
    this.batches.clear();
    // Derived from the log, which starts after the snapshot now (a refill still running would
    // read entries that are going away).
    this.keyIndexRebuild = undefined;
    this.keyIndex?.clear();
    this.store?.replaceAllOnNextCheckpoint();
  }

  /** Canonical bytes of the whole replicated state (the encoded snapshot). Two replicas that
   *  applied the same entries give identical bytes, whatever of their queues is cold. */
  serializeState(): Uint8Array {
    return encodeSnapshot(this.snapshot());
  }

  // ---- checkpoint -------------------------------------------------------------------------

  /**
   * Writes what changed since the previous checkpoint and the applied index in one synced
   * LevelDB batch. Resolves to the checkpointed applied index. The batch is taken synchronously,
   * in the call: what is applied after the call is not in it (the replica relies on this to keep
   * checkpoints at or below its durable log). Batches are written one after another, in call
   * order. A full disk fails this one (its changes go with the next); any other failed write fails
   * this and every later checkpoint. A no-op for an in-memory machine.
   *
   * Under ASYNC_FLUSH the caller should flush the commitlog up to appliedIndex first: a
   * checkpoint ahead of the durable local log leaves queue entries pointing at entries the log
   * must first get back from the leader (pulls stop there until it does).
   */
  checkpoint(): Promise<number> {
    if (this.store === undefined) return Promise.resolve(0);
    const cut = this.retainedFrom;
    return this.store.checkpoint(tablesInOrder(this.tables), { applied: this.applied, term: this.appliedTermValue }).then((applied) => {
      this.checkpointedCut = Math.max(this.checkpointedCut, cut);
      return applied;
    });
  }

  /** retainedFrom as the last completed checkpoint holds it: the log below it is never replayed
   *  again after a restart, so it may be deleted. */
  get durableRetainedFrom(): number {
    return this.checkpointedCut;
  }

  /** Stops persisting. With `checkpoint` (default true) writes a final checkpoint first; false
   *  drops whatever is not checkpointed (tests use it to simulate a crash). */
  async close(options: { checkpoint?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    try {
      if (options.checkpoint ?? true) await this.checkpoint();
    } finally {
      // Closed even when the last checkpoint failed (the error still reaches the caller).
      this.closed = true;
      this.batches.clear();
      this.tables.consumeQueues.clearColdCache();
      await this.store?.close();
    }
  }

  // ---- figures for tests and status ------------------------------------------------------------

  /** Hot consume-queue runs held, all queues together. */
  get hotRunCount(): number {
    return this.tables.consumeQueues.hotRunCount;
  }

  /** Decoded cold chunks cached (at most COLD_CHUNK_CACHE_COUNT_MAX). */
  get coldChunkCacheSize(): number {
    return this.tables.consumeQueues.coldChunkCacheSize;
  }

  /** Decoded batches currently cached. */
  get decodedBatchCacheSize(): number {
    return this.batches.size;
  }
}
