// The sendBatch command: a producer's messages for one queue. Apply reads only the entry's head
// (topic, queue, count): it gives the messages their queue offsets without decoding them, and a
// pull decodes the batch when it reads it.
import type { SendBatchCommand, SendBatchHead } from '../../commands.ts';
import { decodeSendBatchHead, validateMessages, validateQueueId, validateTopicName } from '../../commands.ts';
import { BrokerError } from '../../errors.ts';
import type { MessageInput, SendResultItem } from '../../../protocol/index.ts';
import { sendResultOf } from '../../../protocol/index.ts';
import type { ApplyOutcome, CommandHandler } from '../command-handler.ts';
import { refused } from '../command-handler.ts';
import { indexBatchKeys } from '../key-index-feed.ts';
import { sendBatchResult } from '../msg-id.ts';
import type { BrokerTables } from '../tables.ts';

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
    const cq = tables.consumeQueues.getOrCreate(cmd.topic, cmd.queueId);
    const count = cmd.count;
    if (!cq.hasRoom(count)) return refused({ code: 'OVERLOADED', message: `queue ${cmd.topic}/${cmd.queueId} is full` });
    const logIndex = entry.index;
    const first = cq.appendBatch(logIndex, count);
    tables.consumeQueues.noteAppended(cmd.topic, cmd.queueId);
    ctx.batches.putApplied(logIndex, entry.data);
    if (ctx.keyIndex !== undefined) indexBatchKeys(ctx.keyIndex, cmd, entry.data, logIndex);
    // One object per batch; the per-message results only when read (only the master answers a
    // producer, and every replica applies).
    let results: SendResultItem[] | undefined;
    const batch = sendBatchResult(ctx.msgIdPrefix, logIndex, cmd.queueId, first, count);
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
  },
};

/** What proposing needs of the local configuration (apply never reads it). */
export interface SendOptions {
  readonly autoCreateTopicEnable: boolean;
  readonly defaultTopicQueueNums: number;
}

/** Refuses a send that apply would refuse or that breaks a limit: BAD_REQUEST,
 *  MESSAGE_TOO_LARGE, TOPIC_NOT_FOUND (unknown topic and autoCreateTopicEnable off),
 *  OVERLOADED (topic limit). */
export function checkSend(tables: BrokerTables, options: SendOptions, topic: string, queueId: number, messages: readonly MessageInput[]): void {
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
}

/** checkSend, then the command to propose. `storeTimestamp` is the leader's clock (ms). */
export function prepareSend(tables: BrokerTables, options: SendOptions, topic: string, queueId: number, messages: readonly MessageInput[], storeTimestamp: number): SendBatchCommand {
  checkSend(tables, options, topic, queueId, messages);
  if (!Number.isSafeInteger(storeTimestamp) || storeTimestamp < 0) throw new TypeError('storeTimestamp must be a non-negative integer');
  return {
    kind: 'sendBatch',
    topic,
    queueId,
    storeTimestamp,
    autoCreateQueues: options.autoCreateTopicEnable ? options.defaultTopicQueueNums : 0,
    messages,
  };
}
