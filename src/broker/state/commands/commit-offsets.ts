// The commitOffsets command: consumer offset commits, batched (many clients' commits in one
// entry). A commit the applied state refuses is skipped and reported, the others apply.
import type { CommitOffsetEntry, CommitOffsetsCommand } from '../../commands.ts';
import { validateGroupName, validateOffset, validateQueueId, validateTopicName } from '../../commands.ts';
import { BrokerError } from '../../errors.ts';
import type { CommandHandler } from '../command-handler.ts';
import { decodeValidated } from '../command-handler.ts';
import { CONSUMER_OFFSET_COUNT_MAX } from '../consumer-offset-table.ts';
import type { BrokerTables } from '../tables.ts';

/** Why the applied state refuses the commit `e` (null: it takes it). Apply decides with it and
 *  prepareCommitOffset answers with it, so the master's early answer and every replica agree. */
function refusal(tables: BrokerTables, e: CommitOffsetEntry): BrokerError | null {
  const queueCount = tables.topics.queueCount(e.topic);
  if (queueCount === undefined) return new BrokerError('TOPIC_NOT_FOUND', `topic ${e.topic} does not exist`);
  if (e.queueId >= queueCount) return new BrokerError('BAD_REQUEST', `queueId must be an integer in 0..${queueCount - 1}, got ${e.queueId}`);
  const maxOffset = tables.consumeQueues.get(e.topic, e.queueId)?.maxOffset ?? 0;
  if (e.offset > maxOffset) {
    return new BrokerError('BAD_REQUEST', `offset ${e.offset} is past the end of ${e.topic}/${e.queueId}, whose max offset (the next one to be written) is ${maxOffset}; commit offsets are in 0..${maxOffset}`);
  }
  if (tables.consumerOffsets.isFullFor(e.group, e.topic, e.queueId)) {
    return new BrokerError('OVERLOADED', `the consumer offset table is at its maximum ${CONSUMER_OFFSET_COUNT_MAX} (group, topic, queue) entries`);
  }
  return null;
}

export const commitOffsetsHandler: CommandHandler<CommitOffsetsCommand> = {
  decode: decodeValidated('commitOffsets'),
  apply({ tables }, { entries }) {
    const rejected: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (refusal(tables, e) !== null) rejected.push(i);
      else tables.consumerOffsets.set(e.group, e.topic, e.queueId, e.offset);
    }
    return { result: { type: 'offsetsCommitted', rejected } };
  },
};

/** One commit to batch into a commitOffsets command: TOPIC_NOT_FOUND, BAD_REQUEST (an offset
 *  past the queue's max offset among them), OVERLOADED (offset table full). */
export function prepareCommitOffset(tables: BrokerTables, group: string, topic: string, queueId: number, offset: number): CommitOffsetEntry {
  validateGroupName(group);
  validateTopicName(topic);
  const queueCount = tables.topics.queueCount(topic);
  if (queueCount === undefined) throw new BrokerError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
  validateQueueId(queueId, queueCount);
  validateOffset(offset);
  const entry = { group, topic, queueId, offset };
  const err = refusal(tables, entry);
  if (err !== null) throw err;
  return entry;
}
