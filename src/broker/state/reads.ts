// Reads of the applied state: pulls and searches of a consume queue. Bodies come from the log,
// through the send-batch cache.
import { assert } from '../../util/index.ts';
import type { SendBatchCommand } from '../commands.ts';
import { validateOffset, validateQueueId } from '../commands.ts';
import type { ConsumeQueue } from '../consume-queue.ts';
import { SLOT_RADIX } from '../consume-queue.ts';
import { BrokerError } from '../errors.ts';
import type { StoredMessage } from '../../protocol/index.ts';
import { PROPERTY_ORIGIN_MESSAGE_ID, PULL_COUNT_MAX, msgIdSlotHex } from '../../protocol/index.ts';
import { msgIdHead } from './msg-id.ts';
import type { SendBatchCache } from './send-batch-cache.ts';
import type { BrokerTables } from './tables.ts';
import type { PullResult } from './types.ts';

/** RocketMQ's property holding how many times a message was redelivered. */
export const PROPERTY_RECONSUME_TIME = 'RECONSUME_TIME';

const EMPTY_PROPERTIES: Readonly<Record<string, string>> = Object.freeze({});

export interface ReadContext {
  readonly tables: BrokerTables;
  readonly batches: SendBatchCache;
  readonly msgIdPrefix: string;
}

/** The queue (undefined before its first message); TOPIC_NOT_FOUND / BAD_REQUEST for an unknown
 *  topic or queue. */
export function queueOf(tables: BrokerTables, topic: string, queueId: number): ConsumeQueue | undefined {
  const queueCount = tables.topics.queueCount(topic);
  if (queueCount === undefined) throw new BrokerError('TOPIC_NOT_FOUND', `topic ${String(topic)} does not exist`);
  validateQueueId(queueId, queueCount);
  return tables.consumeQueues.get(topic, queueId);
}

/** Messages a tag-filtered pull looks at per message it may return (its work is bounded). */
export const TAG_FILTER_SCAN_FACTOR = 16;

/**
 * Up to `maxCount` messages of a queue from `offset`, stopping before `maxBytes` of bodies
 * (at least one message is returned when one is available). Offsets below minOffset answer
 * nothing with nextOffset = minOffset; offsets at or past maxOffset answer nothing with
 * nextOffset = min(offset, maxOffset). If the log cannot serve an entry (retention, or a
 * lagging local log) the pull stops there.
 *
 * With `tags` (a pull's tag expression, null: all), messages whose tag is not in it are skipped:
 * not returned, and nextOffset moves past them, so the consumer never reads them again. At most
 * TAG_FILTER_SCAN_FACTOR x maxCount messages are looked at; a pull that skipped all it looked at
 * answers none with the advanced nextOffset. The test reads only the decoded message's tag: the
 * batch is decoded once for the send-batch cache and its bodies are views into the log entry,
 * never copied, and a skipped body is not returned, which is what RocketMQ's tag-hash check in
 * the consume queue saves (reading bodies from the commitlog).
 */
export function pull(ctx: ReadContext, topic: string, queueId: number, offset: number, maxCount: number, maxBytes: number, tags: ReadonlySet<string> | null = null): PullResult {
  const cq = queueOf(ctx.tables, topic, queueId);
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
  const end = Math.min(maxOffset, offset + (tags === null ? maxCount : maxCount * TAG_FILTER_SCAN_FACTOR));
  let o = offset;
  for (; o < end && messages.length < maxCount; o++) {
    const packed = cq.packedAt(o);
    const logIndex = Math.floor(packed / SLOT_RADIX);
    const slot = packed % SLOT_RADIX;
    const batch = ctx.batches.batchAt(logIndex);
    if (batch === undefined) break;
    assert(batch.topic === topic && batch.queueId === queueId && slot < batch.messages.length, `state machine: entry ${logIndex} does not hold ${topic}/${queueId} slot ${slot}`);
    if (tags !== null && !tags.has(batch.messages[slot].tags ?? '')) continue;
    const size = batch.messages[slot].body.length;
    if (messages.length > 0 && bytes + size > maxBytes) break;
    bytes += size;
    messages.push(storedMessageOf(ctx.msgIdPrefix, batch, o, logIndex, slot));
  }
  return { messages, nextOffset: o, minOffset, maxOffset };
}

/** Message `slot` of `batch` (the entry at `logIndex`), stored at `queueOffset`, as a consumer sees it. */
export function storedMessageOf(msgIdPrefix: string, batch: SendBatchCommand, queueOffset: number, logIndex: number, slot: number): StoredMessage {
  const m = batch.messages[slot];
  const properties = m.properties ?? EMPTY_PROPERTIES;
  const reconsume = properties[PROPERTY_RECONSUME_TIME];
  const offsetMsgId = msgIdHead(msgIdPrefix, logIndex) + msgIdSlotHex(slot);
  return {
    topic: batch.topic,
    queueId: batch.queueId,
    queueOffset,
    logIndex,
    msgId: properties[PROPERTY_ORIGIN_MESSAGE_ID] ?? offsetMsgId,
    offsetMsgId,
    storeTimestamp: batch.storeTimestamp,
    keys: m.keys ?? '',
    tags: m.tags ?? '',
    properties,
    body: m.body,
    reconsumeTimes: reconsume !== undefined && /^\d{1,9}$/.test(reconsume) ? Number(reconsume) : 0,
  };
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
export function searchOffset(ctx: ReadContext, topic: string, queueId: number, timestamp: number): number {
  const cq = queueOf(ctx.tables, topic, queueId);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new BrokerError('BAD_REQUEST', `timestamp must be a non-negative integer (ms since the epoch), got ${String(timestamp)}`);
  }
  if (cq === undefined) return 0;
  // Invariant: the answer is in [lo, hi].
  let lo = cq.minOffset;
  let hi = cq.maxOffset;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (storeTimestampAt(ctx, topic, queueId, cq, mid) < timestamp) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The store timestamp of the message at `offset`, from its batch's head only. */
function storeTimestampAt(ctx: ReadContext, topic: string, queueId: number, cq: ConsumeQueue, offset: number): number {
  const logIndex = Math.floor(cq.packedAt(offset) / SLOT_RADIX);
  const head = ctx.batches.headAt(logIndex);
  if (head === undefined) {
    throw new BrokerError('INTERNAL', `the log of this replica cannot serve entry ${logIndex} (${topic}/${queueId} offset ${offset}) to search by time`);
  }
  assert(head.topic === topic && head.queueId === queueId, `state machine: entry ${logIndex} does not hold ${topic}/${queueId}`);
  return head.storeTimestamp;
}
