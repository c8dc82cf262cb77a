// The client <-> broker wire: the messages a producer sends and a consumer receives, and every
// request and response. Framing (net/frame-codec.ts): a 4-byte big-endian length, then one
// msgpackr-encoded frame object; message bodies stay raw bytes (blobs after the msgpack part).
import { BlobCursor } from './blob-cursor.ts';
import type { ErrorCode } from './errors.ts';
import type { ConsumeModel, ConsumerGroupView, QueueRef, Subscription } from './consumer-groups.ts';
import { SEND_BATCH_COUNT_MAX } from './limits.ts';

export interface MessageInput {
  readonly keys?: string;
  readonly tags?: string;
  readonly properties?: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** A stored message as a consumer sees it. */
export interface StoredMessage {
  readonly topic: string;
  readonly queueId: number;
  readonly queueOffset: number;
  /** Raft log index of the batch entry that carried it. */
  readonly logIndex: number;
  /** Unique id: broker name, log index and position in the batch, as hex. Stable across retries of reads.
   *  A message redelivered through a retry topic keeps its first delivery's (property
   *  ORIGIN_MESSAGE_ID), as RocketMQ's msgId. */
  readonly msgId: string;
  /** Where this copy is stored (what viewMessage looks up): the msgId unless ORIGIN_MESSAGE_ID
   *  is set. Absent from brokers before retries. */
  readonly offsetMsgId?: string;
  readonly storeTimestamp: number;
  readonly keys: string;
  readonly tags: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** How many times it was redelivered through the retry queue (0 for the first delivery). */
  readonly reconsumeTimes: number;
  /** The broker group it was read from: set by a client that reads through NameServers (never
   *  on the wire). */
  readonly brokerName?: string;
}

export interface SendResultItem {
  readonly msgId: string;
  readonly queueId: number;
  readonly queueOffset: number;
  readonly logIndex: number;
}

/**
 * A message of a send request on the wire: no `body`, whose bytes are instead the next `size`
 * bytes of the frame's blobs (../net/frame-codec.ts). The bodies go to the socket as the
 * application's own Buffers, never copied into msgpack (that copy was a producer's largest
 * allocation at full load, and its garbage collections showed in the latency tail).
 */
export interface WireMessage {
  readonly keys?: string;
  readonly tags?: string;
  readonly properties?: Readonly<Record<string, string>>;
  readonly size: number;
}

/**
 * Copies keys, tags and properties (those present) onto `target`. Not `{ ...rest, size }`: in
 * Node 20's V8 an object spread followed by another property made every such object survive
 * young-generation GCs (see Connection.request).
 */
function withMessageFields<T extends object>(target: T, m: { readonly keys?: unknown; readonly tags?: unknown; readonly properties?: unknown }): T & Omit<MessageInput, 'body'> {
  const out = target as T & { keys?: unknown; tags?: unknown; properties?: unknown };
  if (m.keys !== undefined) out.keys = m.keys;
  if (m.tags !== undefined) out.tags = m.tags;
  if (m.properties !== undefined) out.properties = m.properties;
  return out as T & Omit<MessageInput, 'body'>;
}

/** Client side: the messages without their bodies, and the bodies to send as blobs. */
export function messagesToWire(messages: readonly MessageInput[]): { wire: WireMessage[]; blobs: Uint8Array[] } {
  const wire: WireMessage[] = new Array(messages.length);
  const blobs: Uint8Array[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    wire[i] = withMessageFields({ size: m.body.byteLength }, m);
    blobs[i] = m.body;
  }
  return { wire, blobs };
}

/** Broker side: the messages of a send request that came with blobs (bodies are views of the
 *  frame, not copies), or what is wrong with it. */
export function messagesFromWire(wire: unknown, blobs: Buffer): MessageInput[] | string {
  if (!Array.isArray(wire)) return 'send: messages must be an array';
  const out: MessageInput[] = new Array(wire.length);
  const cursor = new BlobCursor(blobs);
  for (let i = 0; i < wire.length; i++) {
    const w = wire[i] as WireMessage | null;
    if (w === null || typeof w !== 'object') return `send: message ${i} is not an object`;
    const size = w.size;
    const body = Number.isSafeInteger(size) && size >= 0 ? cursor.take(size) : undefined;
    if (body === undefined) return `send: message ${i} has size ${String(size)}, but ${cursor.left} bytes of bodies are left`;
    out[i] = withMessageFields({ body }, w);
  }
  if (cursor.left !== 0) return `send: ${cursor.left} bytes of bodies belong to no message`;
  return out;
}

/** Hex digits of the slot (position in the batch) at the end of a msgId. */
export const MSG_ID_SLOT_HEX = 4;

/**
 * The results of one send request, whose messages became one batch entry: message i got queue
 * offset firstOffset + i and msgId msgIdHead + i as MSG_ID_SLOT_HEX upper-case hex digits. One
 * object per request instead of one per message: at 100k msgs/s the per-message form cost the
 * master a msgId string and a msgpack map per message, and the client their decoding.
 */
export interface SendBatchResult {
  readonly msgIdHead: string;
  readonly queueId: number;
  readonly firstOffset: number;
  readonly logIndex: number;
  readonly count: number;
}

/** The last part of a msgId: the slot, MSG_ID_SLOT_HEX upper-case hex digits. */
export function msgIdSlotHex(slot: number): string {
  // A table: the client builds one msgId per acknowledged send, and toString + toUpperCase +
  // padStart made three strings each time (4.4% of the producer's time at 256 in flight).
  const cached = SLOT_HEX[slot];
  if (cached !== undefined) return cached;
  return slot.toString(16).toUpperCase().padStart(MSG_ID_SLOT_HEX, '0');
}

const SLOT_HEX: readonly string[] = Array.from({ length: SEND_BATCH_COUNT_MAX }, (_, i) => i.toString(16).toUpperCase().padStart(MSG_ID_SLOT_HEX, '0'));

/** The result of message `slot` of a batch. */
export function sendResultOf(b: SendBatchResult, slot: number): SendResultItem {
  return {
    msgId: b.msgIdHead + msgIdSlotHex(slot),
    queueId: b.queueId,
    queueOffset: b.firstOffset + slot,
    logIndex: b.logIndex,
  };
}

// ---- client -> broker requests (every one carries `id`, echoed in the response) ----------
export type Request =
  | {
      type: 'send';
      id: number;
      topic: string;
      queueId: number;
      messages: MessageInput[];
      /** Idempotent producer (both or neither): the producer's id (PRODUCER_ID_PATTERN) and the
       *  sequence number of the batch's first message on this topic and queue (message i has
       *  seq + i). A retry carries the same pair, and the group answers a batch it already
       *  stored with the first result instead of storing it again (see docs/producer.md for
       *  how long that is remembered). */
      producerId?: string;
      seq?: number;
    }
  | {
      type: 'pull';
      id: number;
      topic: string;
      queueId: number;
      offset: number;
      maxCount: number;
      maxBytes: number;
      /** Long poll: wait up to this long for a message at `offset` (0 = answer at once). */
      waitMs: number;
      /** Absent or 'committed': what this replica has applied. 'linearizable': see ReadConsistency. */
      consistency?: ReadConsistency;
      /** A tag expression (`*` or `TagA || TagB`, parseTagExpression): the broker skips messages
       *  whose tag it does not accept (they are not returned; nextOffset moves past them). */
      expression?: string;
    }
  | { type: 'commitOffset'; id: number; group: string; topic: string; queueId: number; offset: number }
  | { type: 'queryOffset'; id: number; group: string; topic: string; queueId: number; consistency?: ReadConsistency }
  /** The offset of the queue's first message stored at or after `timestamp` (ms since the epoch;
   *  the queue's max offset when all are older): RocketMQ's searchOffset. Answered 'offset'. */
  | { type: 'searchOffset'; id: number; topic: string; queueId: number; timestamp: number }
  | { type: 'createTopic'; id: number; topic: string; queues: number }
  /** Removes a topic from the group: its queues and consumer offsets go, messages stay in the log
   *  until retention drops them. Answered 'ok' (TOPIC_NOT_FOUND if there is no such topic). */
  | { type: 'deleteTopic'; id: number; topic: string }
  | {
      type: 'route';
      id: number;
      topic: string;
      /** Answer TOPIC_NOT_FOUND for a topic that does not exist even when a send would create it
       *  (autoCreateTopicEnable): consumers and admin set it, since they never create topics.
       *  Without it (producers, earlier clients) an unknown topic is answered with the queue count
       *  a send would create it with. */
      mustExist?: boolean;
    }
  | { type: 'status'; id: number }
  | { type: 'transferLeader'; id: number; to: string }
  /** What one replica knows, for an operator's look at the group (the dashboard, scripts):
   *  answered by any replica from its own state, current or not (BrokerInfo.staleness says). */
  | { type: 'brokerInfo'; id: number }
  /** RocketMQ's viewMessage (queryMsgById): the message a msgId names, read from the log by any
   *  replica. Answered 'messages' (none when it is not stored here). */
  | { type: 'viewMessage'; id: number; msgId: string }
  /** RocketMQ's queryMessage (queryMsgByKey): the newest messages of `topic` whose keys include
   *  `key` (keys separated by spaces), from the replica's key index. Answered 'messages'. */
  | { type: 'queryMessage'; id: number; topic: string; key: string; maxCount: number }
  /** The group's replicas as its configuration has them (any replica answers from its own view;
   *  the master adds each one's match index and lag). Answered 'members'. */
  | { type: 'members'; id: number }
  /** A membership change, on the master; answered 'members' once the change is applied there. */
  | MemberChangeRequest
  | ConsumerGroupRequest;

/** Consumer groups (consumer-groups.ts, docs/consumer.md). Every one goes to the master. */
export type ConsumerGroupRequest =
  /** A member of `group` is alive (RocketMQ's HEART_BEAT): sent every
   *  CONSUMER_HEARTBEAT_INTERVAL_MS to the master of every broker group. Answered
   *  'consumerGroup' with the group's live members. */
  | { type: 'heartbeat'; id: number; group: string; clientId: string; consumeModel: ConsumeModel; subscriptions: Subscription[] }
  /** A member leaves (UNREGISTER_CLIENT): its queue locks are released too. Answered 'ok'. */
  | { type: 'unregisterClient'; id: number; group: string; clientId: string }
  /** The group's live members (GET_CONSUMER_LIST_BY_GROUP). With `knownInstance` and
   *  `knownVersion` of the caller's last view: a long poll, answered when the members change or
   *  after `waitMs` (at most CONSUMER_LIST_WAIT_MS_MAX). Answered 'consumerGroup', with each
   *  member's connection and subscriptions when `withConnections`. */
  | { type: 'consumerList'; id: number; group: string; knownInstance?: string; knownVersion?: number; waitMs?: number; withConnections?: boolean }
  /** A message the group failed to consume goes back (CONSUMER_SEND_MSG_BACK): to the group's
   *  retry topic after delay level `delayLevel` (0: RETRY_DELAY_LEVEL_BASE + its reconsume
   *  times), or to its DLQ once it was tried `maxReconsumeTimes` times (or when delayLevel is
   *  -1). Named by where the group read it on this broker group. Answered 'ok' once stored. */
  | { type: 'sendBack'; id: number; group: string; topic: string; queueId: number; queueOffset: number; delayLevel: number; maxReconsumeTimes: number }
  /** Ordered consumption: lock (LOCK_BATCH_MQ) the queues for `clientId`, or renew its locks.
   *  Replicated: a lock holds across a failover. Answered 'lockedQueues' with those it now holds. */
  | { type: 'lockQueues'; id: number; group: string; clientId: string; queues: QueueRef[] }
  /** UNLOCK_BATCH_MQ: releases the locks `clientId` holds on those queues. Answered 'ok'. */
  | { type: 'unlockQueues'; id: number; group: string; clientId: string; queues: QueueRef[] };

/**
 * How current a read must be. 'committed' (the default): what the replica asked has applied; a
 * slave or learner may be behind, and a master cut off from its group may not know it was
 * replaced, so it is possibly stale. 'linearizable': the replica first learns the group's
 * commit index from a master that confirms with a quorum that it still leads (Raft's ReadIndex)
 * and answers once it has applied that far: the read reflects every write acknowledged before it
 * began, or fails (NO_QUORUM / TIMEOUT) when no quorum can confirm it.
 */
export type ReadConsistency = 'committed' | 'linearizable';

/** add: a new replica joins as a learner (it receives the log, never votes); promote: a
 *  caught-up learner becomes a voter (refused while it lags: clients retry, see
 *  Admin.addMember); remove: a voter or learner leaves. `force`: skip the refusal of a change
 *  that would leave the group without a live quorum. */
export type MemberChangeRequest =
  | { type: 'memberChange'; id: number; op: 'add'; nodeId: string; peerAddr: string; clientAddr: string; force?: boolean }
  | { type: 'memberChange'; id: number; op: 'promote' | 'remove'; nodeId: string; force?: boolean };

export interface MemberInfo {
  readonly nodeId: string;
  /** host:port of its replica-to-replica (Raft) listener. */
  readonly peerAddr: string;
  /** host:port of its client listener. */
  readonly clientAddr: string;
  /** VOTER or LEARNER in the configuration; `isMaster` says which voter leads. */
  readonly kind: 'VOTER' | 'LEARNER';
  readonly isMaster: boolean;
  /** As the master sees it (null when the answer is not the master's): the last log index the
   *  member holds, how far it is behind the master's last index, and whether it answered within
   *  the last election timeout. */
  readonly match: number | null;
  readonly lag: number | null;
  readonly active: boolean | null;
}

export interface MembersInfo {
  /** Who answered, and its view's log index (the configuration took effect there; 0: the seed
   *  from dLegerPeers). */
  readonly answeredBy: string;
  readonly configIndex: number;
  /** A change proposed and not yet applied (the next one is refused meanwhile). */
  readonly changePending: boolean;
  readonly members: readonly MemberInfo[];
}

export interface ReplicaInfo {
  readonly nodeId: string;
  /** host:port of the replica's client listener. */
  readonly addr: string;
  readonly role: 'MASTER' | 'SLAVE';
  readonly brokerId: number;
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly brokerName: string;
  readonly role: 'MASTER' | 'SLAVE';
  readonly raftRole: string;
  readonly brokerId: number;
  readonly term: number;
  readonly leaderId: string;
  readonly leaderAddr: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  /** The commit index its master last announced (a slave below it is catching up). */
  readonly leaderCommitIndex: number;
  /** Its store is being rebuilt from the master (a new or replaced store): it does not vote yet. */
  readonly recovering: boolean;
  readonly pid: number;
  readonly addr: string;
  /** First message log index retained (retention cut the log below it; 1 before any cut). */
  readonly retainedFrom?: number;
  /** First index of its log on disk (at or below retainedFrom: deletion goes by segment). */
  readonly firstIndex?: number;
  /** Percent of its store's disk in use (df's Use%), at its last sample. */
  readonly diskUsedPercent?: number;
  /** Above diskSpaceWarningLevelRatio: as master it refuses sends and topic creation (DISK_FULL). */
  readonly diskFull?: boolean;
  /** Its own log writes failed for lack of space and are being retried (it acknowledges nothing
   *  newer meanwhile). */
  readonly diskWritesStalled?: boolean;
  /** Its place in the configuration it holds: a voter, a learner (receives the log, never votes),
   *  or none (joining, or removed). */
  readonly memberKind?: 'VOTER' | 'LEARNER' | 'NONE';
}

/** A change of Raft role or leader as one replica saw it. */
export interface RoleChange {
  /** Wall clock of the replica, ms since the epoch. */
  readonly atMs: number;
  readonly term: number;
  readonly role: 'MASTER' | 'SLAVE';
  readonly raftRole: string;
  /** '' when no leader is known. */
  readonly leaderId: string;
}

export interface QueueInfo {
  readonly queueId: number;
  readonly minOffset: number;
  /** The next offset to be written. */
  readonly maxOffset: number;
  /** Store timestamp (ms) of the queue's newest message; 0 when it has none (RocketMQ's
   *  topicStatus "last update"). */
  readonly lastUpdateTimestamp: number;
}

/** A consumer group's committed offset on one queue. */
export interface GroupQueueInfo {
  readonly group: string;
  readonly topic: string;
  readonly queueId: number;
  readonly offset: number;
  /** Messages stored at or past the committed offset. */
  readonly lag: number;
}

/**
 * One replica's view of its group. Lists are bounded (BROKER_INFO_ROWS_MAX rows each; `truncated`
 * says when one was cut). New kinds of state (consumer membership, retries) become new fields,
 * which readers that do not know them ignore.
 */
export interface BrokerInfo {
  readonly status: NodeStatus;
  /** Why reads of this replica are not current (a slave catching up), or null. */
  readonly staleness: string | null;
  /** Port of its Prometheus metrics (GET /metrics on its host), 0 when off. */
  readonly metricsPort: number;
  readonly topics: readonly { readonly topic: string; readonly queues: readonly QueueInfo[] }[];
  readonly consumerOffsets: readonly GroupQueueInfo[];
  /** Its recent role and leader changes, oldest first. */
  readonly roleChanges: readonly RoleChange[];
  /** Entries in its key index (-1: the index is off). */
  readonly keyIndexEntries: number;
  readonly truncated: boolean;
}

export type Response =
  /** One batch result (msgId head, first queue offset, count), not an object per message. */
  | { type: 'sendResult'; id: number; batch: SendBatchResult }
  | {
      type: 'pullResult';
      id: number;
      messages: StoredMessage[];
      nextOffset: number;
      minOffset: number;
      maxOffset: number;
      /** The replica (node id) the next pull of this queue should go to: a slave while the
       *  consumer is far behind, the master again when a slave lags (RocketMQ's
       *  suggestWhichBrokerId). Absent: stay. */
      suggestNodeId?: string;
    }
  | { type: 'ok'; id: number }
  | { type: 'offset'; id: number; offset: number }
  | { type: 'route'; id: number; topic: string; queues: number; master: ReplicaInfo | null; replicas: ReplicaInfo[] }
  | { type: 'status'; id: number; status: NodeStatus }
  | { type: 'brokerInfo'; id: number; info: BrokerInfo }
  | { type: 'messages'; id: number; messages: StoredMessage[] }
  | { type: 'members'; id: number; members: MembersInfo }
  | { type: 'consumerGroup'; id: number; view: ConsumerGroupView }
  | { type: 'lockedQueues'; id: number; queues: QueueRef[] }
  | {
      type: 'error';
      id: number;
      code: ErrorCode;
      message: string;
      /** NOT_MASTER: where to go instead (empty when no master is known). */
      masterId?: string;
      masterAddr?: string;
    };
