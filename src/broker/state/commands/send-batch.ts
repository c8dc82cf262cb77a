// The sendBatch command: a producer's messages for one queue. Apply reads only the entry's head
// (topic, queue, count): it gives the messages their queue offsets without decoding them, and a
// pull decodes the batch when it reads it.
//
// An idempotent producer's batch (producerId and seq) is first looked up in its window
// (producer-window-table.ts): a batch with the same first seq and count was stored before, so
// this is a retry, answered with the first result and stored nothing (no queue entry, no cached
// batch, no key, no wake-up). The same first seq with another count is refused (a producer that
// reuses its sequence numbers). A retry of a batch the window no longer holds (more than
// IDEMPOTENCE_WINDOW_BATCHES later batches of the producer on the queue, or its window evicted)
// is stored again: at-least-once, as without a producer id.
import type { SendBatchCommand, SendBatchHead } from '../../commands.ts';
import { decodeSendBatchHead, validateMessages, validateProducerSeq, validateQueueId, validateTopicName } from '../../commands.ts';
import { BrokerError } from '../../errors.ts';
import type { MessageInput, SendBatchResult, SendResultItem } from '../../../protocol/index.ts';
import { sendResultOf } from '../../../protocol/index.ts';
import type { ApplyOutcome, CommandHandler } from '../command-handler.ts';
import { refused } from '../command-handler.ts';
import { indexBatchKeys } from '../key-index-feed.ts';
import { scheduleMoveRefusal } from './schedule-skip.ts';
import { sendBatchResult } from '../msg-id.ts';
import { producerWindowKey } from '../producer-window-table.ts';
import type { BrokerTables } from '../tables.ts';
import type { ApplyResult } from '../types.ts';

export const sendBatchHandler: CommandHandler<SendBatchHead> = {
  decode: decodeSendBatchHead,
  apply(ctx, cmd, entry): ApplyOutcome {
    const { tables } = ctx;
    let queueCount = tables.topics.queueCount(cmd.topic);
    if (queueCount === undefined) {
      if (cmd.autoCreateQueues === 0) return refused({ code: 'TOPIC_NOT_FOUND', message: `topic ${cmd.topic} does not exist` });
      const err = tables.topics.refusalOfNew();
      if (err !== null) return refused(err);
      queueCount = cmd.autoCreateQueues;
      tables.topics.set(cmd.topic, queueCount);
    }
    if (cmd.queueId >= queueCount) return refused({ code: 'BAD_REQUEST', message: `topic ${cmd.topic} has ${queueCount} queues, no queue ${cmd.queueId}` });
    // A delivery of delayed messages that an earlier master already got committed stores nothing.
    const schedule = cmd.schedule;
    if (schedule !== undefined) {
      const err = scheduleMoveRefusal(tables, schedule.level, schedule.from);
      if (err !== null) return refused(err);
    }
    const count = cmd.count;
    // One key and one Map lookup per batch with a producer; nothing for one without.
    const windowKey = cmd.producerId === undefined ? undefined : producerWindowKey(cmd.topic, cmd.queueId, cmd.producerId);
    const window = windowKey === undefined ? undefined : tables.producerWindows.get(windowKey);
    if (window !== undefined) {
      const i = window.find(cmd.seq!);
      if (i >= 0) {
        const before = window.batch(i);
        if (before.count !== count) return refused({ code: 'BAD_REQUEST', message: `sequence reused: producer ${cmd.producerId} stored seq ${cmd.seq} on ${cmd.topic}/${cmd.queueId} as a batch of ${before.count} messages, not ${count}` });
        return { result: sendResult(sendBatchResult(ctx.msgIdPrefix, before.logIndex, cmd.queueId, before.firstOffset, count), true) };
      }
    }
    const cq = tables.consumeQueues.getOrCreate(cmd.topic, cmd.queueId);
    if (!cq.hasRoom(count)) return refused({ code: 'OVERLOADED', message: `queue ${cmd.topic}/${cmd.queueId} is full` });
    const logIndex = entry.index;
    const first = cq.appendBatch(logIndex, count);
    tables.consumeQueues.noteAppended(cmd.topic, cmd.queueId);
    if (windowKey !== undefined) tables.producerWindows.record(windowKey, window, cmd.seq!, count, logIndex, first);
    if (schedule !== undefined) tables.schedule.advance(schedule.level, schedule.to);
    ctx.batches.putApplied(logIndex, entry.data);
    if (ctx.keyIndex !== undefined) indexBatchKeys(ctx.keyIndex, cmd, entry.data, logIndex);
    return {
      result: sendResult(sendBatchResult(ctx.msgIdPrefix, logIndex, cmd.queueId, first, count), false),
      event: { topic: cmd.topic, queueId: cmd.queueId, maxOffset: cq.maxOffset, logIndex },
    };
  },
};

/** A send's result: one object per batch, the per-message results only when read (only the
 *  master answers a producer, and every replica applies). */
function sendResult(batch: SendBatchResult, duplicate: boolean): ApplyResult {
  let results: SendResultItem[] | undefined;
  const all = (): SendResultItem[] => (results ??= Array.from({ length: batch.count }, (_, slot) => sendResultOf(batch, slot)));
  if (!duplicate) {
    return {
      type: 'sendResult',
      batch,
      get results() {
        return all();
      },
    };
  }
  return {
    type: 'sendResult',
    batch,
    get results() {
      return all();
    },
    duplicate: true,
  };
}

/** What proposing needs of the local configuration (apply never reads it). */
export interface SendOptions {
  readonly autoCreateTopicEnable: boolean;
  readonly defaultTopicQueueNums: number;
}

/** An idempotent producer's part of a send: its id and the batch's first sequence number. */
export interface ProducerSeq {
  readonly producerId: string;
  readonly seq: number;
}

/** Refuses a send that apply would refuse or that breaks a limit: BAD_REQUEST,
 *  MESSAGE_TOO_LARGE, TOPIC_NOT_FOUND (unknown topic and autoCreateTopicEnable off),
 *  OVERLOADED (topic limit). `producer`: an idempotent producer's fields, checked too. */
export function checkSend(tables: BrokerTables, options: SendOptions, topic: string, queueId: number, messages: readonly MessageInput[], producer?: ProducerSeq): void {
  validateTopicName(topic);
  const queueCount = tables.topics.queueCount(topic);
  if (queueCount !== undefined) {
    validateQueueId(queueId, queueCount);
  } else {
    if (!options.autoCreateTopicEnable) throw new BrokerError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
    const err = tables.topics.refusalOfNew();
    if (err !== null) throw err;
    validateQueueId(queueId, options.defaultTopicQueueNums);
  }
  validateMessages(messages);
  if (producer !== undefined) validateProducerSeq(producer.producerId, producer.seq, messages.length);
}

/** checkSend, then the command to propose. `storeTimestamp` is the leader's clock (ms). */
export function prepareSend(tables: BrokerTables, options: SendOptions, topic: string, queueId: number, messages: readonly MessageInput[], storeTimestamp: number, producer?: ProducerSeq): SendBatchCommand {
  checkSend(tables, options, topic, queueId, messages, producer);
  if (!Number.isSafeInteger(storeTimestamp) || storeTimestamp < 0) throw new TypeError('storeTimestamp must be a non-negative integer');
  const autoCreateQueues = options.autoCreateTopicEnable ? options.defaultTopicQueueNums : 0;
  if (producer === undefined) return { kind: 'sendBatch', topic, queueId, storeTimestamp, autoCreateQueues, messages };
  return { kind: 'sendBatch', topic, queueId, storeTimestamp, autoCreateQueues, producerId: producer.producerId, seq: producer.seq, messages };
}
