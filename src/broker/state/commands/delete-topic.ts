// The deleteTopic command: the topic goes from every table on every replica (its queue count, its
// consume queues, every group's offsets on it, its producers' windows, its queue locks). Its
// messages stay in the log until retention drops them, but nothing points at them any more:
// pulls, lookups by msgId or key find nothing. A topic created again later (createTopic, or a send
// that auto-creates it) is a new topic whose queues start at offset 0.
import type { DeleteTopicCommand } from '../../commands.ts';
import { validateTopicName } from '../../commands.ts';
import { BrokerError } from '../../errors.ts';
import type { ApplyOutcome, CommandHandler } from '../command-handler.ts';
import { decodeValidated, refused } from '../command-handler.ts';
import type { BrokerTables } from '../tables.ts';
import { SCHEDULE_TOPIC } from '../../../protocol/index.ts';

const OK: ApplyOutcome = { result: { type: 'ok' } };

function refusal(tables: BrokerTables, topic: string): BrokerError | null {
  return tables.topics.queueCount(topic) === undefined ? new BrokerError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`) : null;
}

export const deleteTopicHandler: CommandHandler<DeleteTopicCommand> = {
  decode: decodeValidated('deleteTopic'),
  apply({ tables }, { topic }) {
    const err = refusal(tables, topic);
    if (err !== null) return refused(err);
    tables.consumeQueues.deleteTopic(topic);
    tables.consumerOffsets.deleteTopic(topic);
    tables.producerWindows.deleteTopic(topic);
    tables.queueLocks.deleteTopic(topic);
    tables.topics.delete(topic);
    // Its queues start again at 0, and so must the delay levels' schedule offsets.
    if (topic === SCHEDULE_TOPIC) tables.schedule.clear();
    return OK;
  },
};

/** The deleteTopic command to propose: BAD_REQUEST (name), TOPIC_NOT_FOUND. */
export function prepareDeleteTopic(tables: BrokerTables, topic: string): DeleteTopicCommand {
  validateTopicName(topic);
  const err = refusal(tables, topic);
  if (err !== null) throw err;
  return { kind: 'deleteTopic', topic };
}
