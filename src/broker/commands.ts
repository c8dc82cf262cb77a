// Broker commands: the payload of every normal Raft log entry, and the checks a command passes
// before it is proposed. Apply (state-machine.ts) trusts what passed these checks.
//
// Wire layout of an entry's data (compact; bodies stay raw bytes inside msgpack `bin`):
//   byte 0   COMMAND_VERSION
//   byte 1   kind code (CommandKindCode)
//   byte 2.. msgpack array with the fields of the kind (absent for noop)
//     sendBatch     [topic, queueId, storeTimestamp, autoCreateQueues, [message...]], or with an
//                   idempotent producer [topic, queueId, storeTimestamp, autoCreateQueues,
//                   producerId, seq, [message...]]: the field count tells them apart (entries
//                   written before producers had ids decode unchanged; the head reader finds
//                   the producer without stepping over any body)
//                   message = [body, keys?, tags?, properties?] (trailing absent fields dropped,
//                   properties as a flat [k0, v0, k1, v1, ...] array so key order is kept and
//                   no key can reach an object prototype)
//     createTopic   [topic, queues]
//     commitOffsets [[group, topic, queueId, offset]...]
//     retain        [cutAt, atMs]
//     deleteTopic   [topic]
//     scheduleSkip  [level, from, to]
//   A delivery of delayed messages is a sendBatch [topic, queueId, storeTimestamp,
//   autoCreateQueues, level, from, to, [message...]] (8 fields; schedule-service.ts).
//     lockQueues    [group, clientId, atMs, [[topic, queueId]...]]
//     unlockQueues  [group, clientId, [[topic, queueId]...]]
//     unlockAllQueues [group, clientId]
import { Packr } from 'msgpackr';
import {
  GROUP_NAME_LENGTH_MAX,
  MESSAGE_BODY_BYTES_MAX,
  MESSAGE_KEYS_BYTES_MAX,
  MESSAGE_PROPERTIES_BYTES_MAX,
  MESSAGE_PROPERTY_COUNT_MAX,
  MESSAGE_TAGS_BYTES_MAX,
  PRODUCER_ID_PATTERN,
  SEND_BATCH_BYTES_MAX,
  SEND_BATCH_COUNT_MAX,
  TOPIC_NAME_LENGTH_MAX,
  TOPIC_NAME_PATTERN,
  TOPIC_QUEUE_COUNT_MAX,
  CLIENT_ID_PATTERN,
  LOCK_BATCH_QUEUE_COUNT_MAX,
  type MessageInput,
  type QueueRef,
} from '../protocol/index.ts';
import { BrokerError, CommandDecodeError } from './errors.ts';
import { encodeSendBatch, readSendBatchHead, SEND_BATCH_FIELDS, SEND_BATCH_FIELDS_WITH_PRODUCER, SEND_BATCH_FIELDS_WITH_SCHEDULE, type ScheduleAdvance, type SendBatchHead } from './send-batch-encoding.ts';
import { DELAY_LEVEL_COUNT_MAX } from './delay-levels.ts';

export type { ScheduleAdvance, SendBatchHead } from './send-batch-encoding.ts';

export const COMMAND_VERSION = 1;

// The request limits (topic names, queue counts, message sizes) are the wire's, shared with the
// client: ../protocol/limits.ts.

/** Offset commits in one commitOffsets entry (the driver batches commits of many clients). */
export const COMMIT_OFFSETS_COUNT_MAX = 1024;

export interface SendBatchCommand {
  readonly kind: 'sendBatch';
  readonly topic: string;
  readonly queueId: number;
  /** Milliseconds since the epoch, set by the leader when proposing, so apply stays deterministic. */
  readonly storeTimestamp: number;
  /** When the topic is unknown at apply: create it with this many queues (0: refuse with
   *  TOPIC_NOT_FOUND). Decided by the proposer from its autoCreateTopicEnable, so apply does not
   *  depend on any replica's local configuration. */
  readonly autoCreateQueues: number;
  /** Idempotent producer (both or neither, validateProducerSeq): the producer's id and the
   *  sequence number of the first message; apply answers a batch it already stored for this
   *  producer on this queue with the first result (state/producer-window-table.ts). */
  readonly producerId?: string;
  readonly seq?: number;
  /** A delivery of delayed messages (schedule-service.ts): stored only while delay level
   *  `level`'s schedule offset is `from`, which it moves to `to`. Never with a producer. */
  readonly schedule?: ScheduleAdvance;
  readonly messages: readonly MessageInput[];
}

/** Moves a delay level's schedule offset past messages retention deleted before they were due
 *  (from the offset `from` to the queue's minOffset `to`); refused unless the offset is `from`. */
export interface ScheduleSkipCommand {
  readonly kind: 'scheduleSkip';
  readonly level: number;
  readonly from: number;
  readonly to: number;
}

export interface CreateTopicCommand {
  readonly kind: 'createTopic';
  readonly topic: string;
  readonly queues: number;
}

export interface CommitOffsetEntry {
  readonly group: string;
  readonly topic: string;
  readonly queueId: number;
  readonly offset: number;
}

export interface CommitOffsetsCommand {
  readonly kind: 'commitOffsets';
  readonly entries: readonly CommitOffsetEntry[];
}

export interface NoopCommand {
  readonly kind: 'noop';
}

/** Retention (retain.ts): cut the log at an earlier mark (0: cut nothing), and make this entry a
 *  mark. Proposed by the master, so every replica cuts at the same index. */
export interface RetainCommand {
  readonly kind: 'retain';
  /** A mark's index: the log up to and including it is dropped. 0: nothing is dropped. */
  readonly cutAt: number;
  /** The master's clock when it proposed (ms): this mark's age for later cuts. */
  readonly atMs: number;
}

/** Removes a topic with its consume queues, consumer offsets and producer windows on every
 *  replica (state/commands/delete-topic.ts). */
export interface DeleteTopicCommand {
  readonly kind: 'deleteTopic';
  readonly topic: string;
}

/** Ordered consumption (state/commands/queue-locks.ts): lock `queues` for `clientId` (granted if
 *  free, its own, or lapsed at `atMs`, the master's clock when it proposed). */
export interface LockQueuesCommand {
  readonly kind: 'lockQueues';
  readonly group: string;
  readonly clientId: string;
  readonly atMs: number;
  readonly queues: readonly QueueRef[];
}

/** Releases the locks `clientId` holds on `queues` (others' locks untouched). */
export interface UnlockQueuesCommand {
  readonly kind: 'unlockQueues';
  readonly group: string;
  readonly clientId: string;
  readonly queues: readonly QueueRef[];
}

/** Releases every lock `clientId` holds in `group` (the member left or died). */
export interface UnlockAllQueuesCommand {
  readonly kind: 'unlockAllQueues';
  readonly group: string;
  readonly clientId: string;
}

export type BrokerCommand = SendBatchCommand | CreateTopicCommand | CommitOffsetsCommand | RetainCommand | DeleteTopicCommand | LockQueuesCommand | UnlockQueuesCommand | UnlockAllQueuesCommand | ScheduleSkipCommand | NoopCommand;
export type CommandKind = BrokerCommand['kind'];

const KIND_CODE: Readonly<Record<CommandKind, number>> = { noop: 0, sendBatch: 1, createTopic: 2, commitOffsets: 3, retain: 4, deleteTopic: 5, lockQueues: 6, unlockQueues: 7, unlockAllQueues: 8, scheduleSkip: 9 };
const KIND_BY_CODE: readonly CommandKind[] = ['noop', 'sendBatch', 'createTopic', 'commitOffsets', 'retain', 'deleteTopic', 'lockQueues', 'unlockQueues', 'unlockAllQueues', 'scheduleSkip'];
const HEADER_BYTES = 2;

// useRecords: false keeps the encoding plain msgpack (no msgpackr record extension), so the bytes
// depend only on the values. Binary fields decode as views into the entry's bytes (no copy).
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

// ---- encode --------------------------------------------------------------------------------

export function encodeCommand(cmd: BrokerCommand): Uint8Array {
  const code = KIND_CODE[cmd.kind];
  if (cmd.kind === 'noop') return Uint8Array.of(COMMAND_VERSION, code);
  // The hot path: written directly, each body copied once (send-batch-encoding.ts).
  if (cmd.kind === 'sendBatch') return encodeSendBatch([COMMAND_VERSION, code], cmd);
  let fields: unknown[];
  switch (cmd.kind) {
    case 'createTopic':
      fields = [cmd.topic, cmd.queues];
      break;
    case 'commitOffsets':
      fields = [cmd.entries.map((e) => [e.group, e.topic, e.queueId, e.offset])];
      break;
    case 'retain':
      fields = [cmd.cutAt, cmd.atMs];
      break;
    case 'deleteTopic':
      fields = [cmd.topic];
      break;
    case 'scheduleSkip':
      fields = [cmd.level, cmd.from, cmd.to];
      break;
    case 'lockQueues':
      fields = [cmd.group, cmd.clientId, cmd.atMs, cmd.queues.map((q) => [q.topic, q.queueId])];
      break;
    case 'unlockQueues':
      fields = [cmd.group, cmd.clientId, cmd.queues.map((q) => [q.topic, q.queueId])];
      break;
    case 'unlockAllQueues':
      fields = [cmd.group, cmd.clientId];
      break;
  }
  const body = packr.pack(fields);
  const out = new Uint8Array(HEADER_BYTES + body.length);
  out[0] = COMMAND_VERSION;
  out[1] = code;
  out.set(body, HEADER_BYTES);
  return out;
}

// ---- decode --------------------------------------------------------------------------------

/** The command kind of an entry's data, without decoding the rest. Throws CommandDecodeError. */
export function commandKindOf(data: Uint8Array): CommandKind {
  if (data.length < HEADER_BYTES) throw new CommandDecodeError(`command of ${data.length} bytes is shorter than its header`);
  if (data[0] !== COMMAND_VERSION) throw new CommandDecodeError(`unknown command version ${data[0]}`);
  const kind = KIND_BY_CODE[data[1]];
  if (kind === undefined) throw new CommandDecodeError(`unknown command kind ${data[1]}`);
  return kind;
}

/** Decodes an entry's data. Checks the shape (types, integer fields), not the semantic limits
 *  (validateCommand does those). Throws CommandDecodeError on anything else. */
export function decodeCommand(data: Uint8Array): BrokerCommand {
  const kind = commandKindOf(data);
  if (kind === 'noop') {
    if (data.length !== HEADER_BYTES) throw new CommandDecodeError('noop command carries a body');
    return { kind: 'noop' };
  }
  let fields: unknown;
  try {
    fields = packr.unpack(data.subarray(HEADER_BYTES));
  } catch (err) {
    throw new CommandDecodeError(`${kind} command is not valid msgpack: ${(err as Error).message}`, { cause: err });
  }
  switch (kind) {
    case 'sendBatch': {
      const f = tuple(fields, SEND_BATCH_FIELDS, SEND_BATCH_FIELDS_WITH_SCHEDULE, kind);
      if (f.length !== SEND_BATCH_FIELDS && f.length !== SEND_BATCH_FIELDS_WITH_PRODUCER && f.length !== SEND_BATCH_FIELDS_WITH_SCHEDULE) throw new CommandDecodeError(`sendBatch has ${f.length} fields`);
      const withProducer = f.length === SEND_BATCH_FIELDS_WITH_PRODUCER;
      const withSchedule = f.length === SEND_BATCH_FIELDS_WITH_SCHEDULE;
      const messages = array(f[f.length - 1], 'messages').map(unpackMessage);
      return {
        kind,
        topic: str(f[0], 'topic'),
        queueId: uint(f[1], 'queueId'),
        storeTimestamp: uint(f[2], 'storeTimestamp'),
        autoCreateQueues: uint(f[3], 'autoCreateQueues'),
        ...(withProducer ? { producerId: str(f[4], 'producerId'), seq: uint(f[5], 'seq') } : {}),
        ...(withSchedule ? { schedule: { level: uint(f[4], 'level'), from: uint(f[5], 'from'), to: uint(f[6], 'to') } } : {}),
        messages,
      };
    }
    case 'createTopic': {
      const f = tuple(fields, 2, 2, kind);
      return { kind, topic: str(f[0], 'topic'), queues: uint(f[1], 'queues') };
    }
    case 'commitOffsets': {
      const f = tuple(fields, 1, 1, kind);
      const entries = array(f[0], 'entries').map((e): CommitOffsetEntry => {
        const x = tuple(e, 4, 4, 'offset entry');
        return { group: str(x[0], 'group'), topic: str(x[1], 'topic'), queueId: uint(x[2], 'queueId'), offset: uint(x[3], 'offset') };
      });
      return { kind, entries };
    }
    case 'retain': {
      const f = tuple(fields, 2, 2, kind);
      return { kind, cutAt: uint(f[0], 'cutAt'), atMs: uint(f[1], 'atMs') };
    }
    case 'deleteTopic': {
      const f = tuple(fields, 1, 1, kind);
      return { kind, topic: str(f[0], 'topic') };
    }
    case 'scheduleSkip': {
      const f = tuple(fields, 3, 3, kind);
      return { kind, level: uint(f[0], 'level'), from: uint(f[1], 'from'), to: uint(f[2], 'to') };
    }
    case 'lockQueues': {
      const f = tuple(fields, 4, 4, kind);
      return { kind, group: str(f[0], 'group'), clientId: str(f[1], 'clientId'), atMs: uint(f[2], 'atMs'), queues: queueRefs(f[3]) };
    }
    case 'unlockQueues': {
      const f = tuple(fields, 3, 3, kind);
      return { kind, group: str(f[0], 'group'), clientId: str(f[1], 'clientId'), queues: queueRefs(f[2]) };
    }
    case 'unlockAllQueues': {
      const f = tuple(fields, 2, 2, kind);
      return { kind, group: str(f[0], 'group'), clientId: str(f[1], 'clientId') };
    }
  }
}

function queueRefs(v: unknown): QueueRef[] {
  return array(v, 'queues').map((raw) => {
    const x = tuple(raw, 2, 2, 'queue');
    return { topic: str(x[0], 'topic'), queueId: uint(x[1], 'queueId') };
  });
}

/**
 * The head of a sendBatch entry (topic, queue, timestamp, auto-create, message count), checked as
 * validateCommand checks those fields, without decoding the messages. Throws CommandDecodeError
 * (not a sendBatch, malformed) or BrokerError (a field out of its limits).
 */
export function decodeSendBatchHead(data: Uint8Array): SendBatchHead {
  const kind = commandKindOf(data);
  if (kind !== 'sendBatch') throw new CommandDecodeError(`a ${kind} command, not a sendBatch`);
  const head = readSendBatchHead(data, HEADER_BYTES, (why) => new CommandDecodeError(why));
  validateTopicName(head.topic);
  validateQueueId(head.queueId, TOPIC_QUEUE_COUNT_MAX);
  if (head.autoCreateQueues !== 0) validateQueueCount(head.autoCreateQueues);
  if (head.count === 0 || head.count > SEND_BATCH_COUNT_MAX) throw badRequest(`a send carries ${head.count} messages, not 1..${SEND_BATCH_COUNT_MAX}`);
  if (head.producerId !== undefined) validateProducerSeq(head.producerId, head.seq, head.count);
  if (head.schedule !== undefined) validateScheduleAdvance(head.schedule, head.count);
  return head;
}

function unpackMessage(raw: unknown): MessageInput {
  const f = tuple(raw, 1, 4, 'message');
  const body = f[0];
  if (!(body instanceof Uint8Array)) throw new CommandDecodeError('message body is not binary');
  const m: { body: Uint8Array; keys?: string; tags?: string; properties?: Record<string, string> } = { body };
  if (f.length > 1 && f[1] !== null) m.keys = str(f[1], 'keys');
  if (f.length > 2 && f[2] !== null) m.tags = str(f[2], 'tags');
  if (f.length > 3 && f[3] !== null) {
    const flat = array(f[3], 'properties');
    if (flat.length % 2 !== 0) throw new CommandDecodeError('properties array has an odd length');
    const pairs: [string, string][] = [];
    for (let i = 0; i < flat.length; i += 2) pairs.push([str(flat[i], 'property name'), str(flat[i + 1], 'property value')]);
    m.properties = Object.fromEntries(pairs);
  }
  return m;
}

function tuple(v: unknown, min: number, max: number, what: string): unknown[] {
  if (!Array.isArray(v) || v.length < min || v.length > max) throw new CommandDecodeError(`${what} is not an array of ${min}..${max} fields`);
  return v;
}
function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new CommandDecodeError(`${what} is not an array`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new CommandDecodeError(`${what} is not a string`);
  return v;
}
function uint(v: unknown, what: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new CommandDecodeError(`${what} is not a non-negative integer`);
  return v as number;
}

// ---- validation before proposing (operating errors: BrokerError with a wire code) -----------

function badRequest(message: string): BrokerError {
  return new BrokerError('BAD_REQUEST', message);
}

export function validateTopicName(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0) throw badRequest('topic must be a non-empty string');
  if (topic.length > TOPIC_NAME_LENGTH_MAX) throw badRequest(`topic is ${topic.length} characters, more than ${TOPIC_NAME_LENGTH_MAX}`);
  if (!TOPIC_NAME_PATTERN.test(topic)) throw badRequest(`topic "${topic}" has characters outside [%|a-zA-Z0-9_-]`);
}

export function validateGroupName(group: unknown): asserts group is string {
  if (typeof group !== 'string' || group.length === 0) throw badRequest('group must be a non-empty string');
  if (group.length > GROUP_NAME_LENGTH_MAX) throw badRequest(`group is ${group.length} characters, more than ${GROUP_NAME_LENGTH_MAX}`);
  if (!TOPIC_NAME_PATTERN.test(group)) throw badRequest(`group "${group}" has characters outside [%|a-zA-Z0-9_-]`);
}

export function validateQueueCount(queues: unknown): asserts queues is number {
  if (!Number.isInteger(queues) || (queues as number) < 1 || (queues as number) > TOPIC_QUEUE_COUNT_MAX) {
    throw badRequest(`queue count must be an integer in 1..${TOPIC_QUEUE_COUNT_MAX}, got ${String(queues)}`);
  }
}

/** queueId is an integer in [0, queues). */
export function validateQueueId(queueId: unknown, queues: number): asserts queueId is number {
  if (!Number.isInteger(queueId) || (queueId as number) < 0 || (queueId as number) >= queues) {
    throw badRequest(`queueId must be an integer in 0..${queues - 1}, got ${String(queueId)}`);
  }
}

/** An idempotent producer's fields of a send of `count` messages: both absent, or producerId
 *  matching PRODUCER_ID_PATTERN and seq a non-negative integer with seq + count safe (message i
 *  has sequence number seq + i). */
export function validateProducerSeq(producerId: unknown, seq: unknown, count: number): void {
  if (producerId === undefined && seq === undefined) return;
  if (producerId === undefined || seq === undefined) throw badRequest('producerId and seq come together: both or neither');
  if (typeof producerId !== 'string' || !PRODUCER_ID_PATTERN.test(producerId)) {
    throw badRequest(`producerId must be 1..64 characters of [a-zA-Z0-9_.:@-], got ${JSON.stringify(String(producerId)).slice(0, 80)}`);
  }
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) throw badRequest(`seq must be a non-negative integer, got ${String(seq)}`);
  if (!Number.isSafeInteger((seq as number) + count)) throw badRequest(`seq ${String(seq)} + ${count} messages is past the largest safe integer`);
}

/** A schedule offset's move: level 1..DELAY_LEVEL_COUNT_MAX, from < to (a delivery of `count`
 *  messages moves it by exactly that many; a skip, `count` undefined, by any). */
export function validateScheduleAdvance(a: ScheduleAdvance, count?: number): void {
  if (!Number.isInteger(a.level) || a.level < 1 || a.level > DELAY_LEVEL_COUNT_MAX) throw badRequest(`delay level must be an integer in 1..${DELAY_LEVEL_COUNT_MAX}, got ${String(a.level)}`);
  if (!Number.isSafeInteger(a.from) || a.from < 0 || !Number.isSafeInteger(a.to) || a.to <= a.from) throw badRequest(`schedule offsets must be integers with 0 <= from < to, got ${String(a.from)}..${String(a.to)}`);
  if (count !== undefined && a.to - a.from !== count) throw badRequest(`a delivery of ${count} delayed messages moves the schedule offset by ${a.to - a.from}`);
}

export function validateOffset(offset: unknown): asserts offset is number {
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw badRequest(`offset must be a non-negative integer, got ${String(offset)}`);
}

/** Checks a send batch's messages. Returns the batch's byte size (bodies + metadata).
 *  Errors: BAD_REQUEST (shape, counts), MESSAGE_TOO_LARGE (a body or the whole batch). */
export function validateMessages(messages: unknown): number {
  if (!Array.isArray(messages) || messages.length === 0) throw badRequest('messages must be a non-empty array');
  if (messages.length > SEND_BATCH_COUNT_MAX) throw badRequest(`a send carries ${messages.length} messages, more than ${SEND_BATCH_COUNT_MAX}`);
  let batchBytes = 0;
  for (let i = 0; i < messages.length; i++) {
    batchBytes += validateMessage(messages[i], i);
    if (batchBytes > SEND_BATCH_BYTES_MAX) {
      throw new BrokerError('MESSAGE_TOO_LARGE', `send batch is more than ${SEND_BATCH_BYTES_MAX} bytes at message ${i}`);
    }
  }
  return batchBytes;
}

function validateMessage(m: unknown, i: number): number {
  if (typeof m !== 'object' || m === null) throw badRequest(`message ${i} is not an object`);
  const { body, keys, tags, properties } = m as Record<string, unknown>;
  if (!(body instanceof Uint8Array)) throw badRequest(`message ${i}: body must be binary`);
  if (body.length === 0) throw badRequest(`message ${i}: body is empty`);
  if (body.length > MESSAGE_BODY_BYTES_MAX) {
    throw new BrokerError('MESSAGE_TOO_LARGE', `message ${i}: body is ${body.length} bytes, more than ${MESSAGE_BODY_BYTES_MAX}`);
  }
  let bytes = body.length;
  if (keys !== undefined) bytes += boundedString(keys, MESSAGE_KEYS_BYTES_MAX, `message ${i}: keys`);
  if (tags !== undefined) bytes += boundedString(tags, MESSAGE_TAGS_BYTES_MAX, `message ${i}: tags`);
  if (properties !== undefined) {
    if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
      throw badRequest(`message ${i}: properties must be an object of strings`);
    }
    const entries = Object.entries(properties);
    if (entries.length > MESSAGE_PROPERTY_COUNT_MAX) {
      throw badRequest(`message ${i}: ${entries.length} properties, more than ${MESSAGE_PROPERTY_COUNT_MAX}`);
    }
    let propBytes = 0;
    for (const [k, v] of entries) {
      if (k.length === 0) throw badRequest(`message ${i}: a property name is empty`);
      if (typeof v !== 'string') throw badRequest(`message ${i}: property "${k}" is not a string`);
      propBytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
    if (propBytes > MESSAGE_PROPERTIES_BYTES_MAX) {
      throw badRequest(`message ${i}: properties are ${propBytes} bytes, more than ${MESSAGE_PROPERTIES_BYTES_MAX}`);
    }
    bytes += propBytes;
  }
  return bytes;
}

function boundedString(v: unknown, bytesMax: number, what: string): number {
  if (typeof v !== 'string') throw badRequest(`${what} must be a string`);
  const bytes = Buffer.byteLength(v);
  if (bytes > bytesMax) throw badRequest(`${what} is ${bytes} bytes, more than ${bytesMax}`);
  return bytes;
}

/** Stateless checks of a whole command (no topic lookup: the state machine's check* methods add
 *  those). Throws BrokerError. */
export function validateCommand(cmd: BrokerCommand): void {
  switch (cmd.kind) {
    case 'noop':
      return;
    case 'sendBatch':
      validateTopicName(cmd.topic);
      validateQueueId(cmd.queueId, TOPIC_QUEUE_COUNT_MAX);
      if (!Number.isSafeInteger(cmd.storeTimestamp) || cmd.storeTimestamp < 0) throw badRequest('storeTimestamp must be a non-negative integer');
      if (cmd.autoCreateQueues !== 0) validateQueueCount(cmd.autoCreateQueues);
      validateMessages(cmd.messages);
      validateProducerSeq(cmd.producerId, cmd.seq, cmd.messages.length);
      if (cmd.schedule !== undefined) {
        if (cmd.producerId !== undefined) throw badRequest('a delivery of delayed messages has no producer');
        validateScheduleAdvance(cmd.schedule, cmd.messages.length);
      }
      return;
    case 'createTopic':
      validateTopicName(cmd.topic);
      validateQueueCount(cmd.queues);
      return;
    case 'commitOffsets':
      if (!Array.isArray(cmd.entries) || cmd.entries.length === 0) throw badRequest('commitOffsets needs at least one entry');
      if (cmd.entries.length > COMMIT_OFFSETS_COUNT_MAX) {
        throw badRequest(`commitOffsets carries ${cmd.entries.length} entries, more than ${COMMIT_OFFSETS_COUNT_MAX}`);
      }
      for (const e of cmd.entries) {
        validateGroupName(e.group);
        validateTopicName(e.topic);
        validateQueueId(e.queueId, TOPIC_QUEUE_COUNT_MAX);
        validateOffset(e.offset);
      }
      return;
    case 'retain':
      if (!Number.isSafeInteger(cmd.cutAt) || cmd.cutAt < 0) throw badRequest('cutAt must be a non-negative integer');
      if (!Number.isSafeInteger(cmd.atMs) || cmd.atMs < 0) throw badRequest('atMs must be a non-negative integer');
      return;
    case 'deleteTopic':
      validateTopicName(cmd.topic);
      return;
    case 'scheduleSkip':
      validateScheduleAdvance(cmd);
      return;
    case 'lockQueues':
      if (!Number.isSafeInteger(cmd.atMs) || cmd.atMs < 0) throw badRequest('atMs must be a non-negative integer');
      validateQueueLockFields(cmd.group, cmd.clientId, cmd.queues);
      return;
    case 'unlockQueues':
      validateQueueLockFields(cmd.group, cmd.clientId, cmd.queues);
      return;
    case 'unlockAllQueues':
      validateGroupName(cmd.group);
      validateClientId(cmd.clientId);
      return;
  }
}

export function validateClientId(clientId: unknown): asserts clientId is string {
  if (typeof clientId !== 'string' || !CLIENT_ID_PATTERN.test(clientId)) {
    throw badRequest(`clientId must be 1..128 characters of [a-zA-Z0-9_.:@-], got ${JSON.stringify(String(clientId)).slice(0, 80)}`);
  }
}

/** A lock or unlock request's fields, without looking the topics up: 1..LOCK_BATCH_QUEUE_COUNT_MAX
 *  queues, each a topic name and a queue id below TOPIC_QUEUE_COUNT_MAX. */
export function validateQueueLockFields(group: unknown, clientId: unknown, queues: unknown): asserts queues is readonly QueueRef[] {
  validateGroupName(group);
  validateClientId(clientId);
  if (!Array.isArray(queues) || queues.length === 0 || queues.length > LOCK_BATCH_QUEUE_COUNT_MAX) {
    throw badRequest(`queues must be an array of 1..${LOCK_BATCH_QUEUE_COUNT_MAX} queues, got ${Array.isArray(queues) ? `${queues.length}` : 'no array'}`);
  }
  for (const q of queues as unknown[]) {
    if (typeof q !== 'object' || q === null) throw badRequest('a queue must be an object { topic, queueId }');
    const { topic, queueId } = q as Record<string, unknown>;
    validateTopicName(topic);
    validateQueueId(queueId, TOPIC_QUEUE_COUNT_MAX);
  }
}
