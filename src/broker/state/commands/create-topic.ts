// The createTopic command: creates a topic or grows its queue count; a topic never shrinks.
import type { CreateTopicCommand } from '../../commands.ts';
import { validateQueueCount, validateTopicName } from '../../commands.ts';
import { BrokerError } from '../../errors.ts';
import type { ApplyOutcome, CommandHandler } from '../command-handler.ts';
import { decodeValidated, refused } from '../command-handler.ts';
import type { BrokerTables } from '../tables.ts';

const OK: ApplyOutcome = { result: { type: 'ok' } };

/** Why the applied state refuses to give `topic` `queues` queues (null: it takes it). */
function refusal(tables: BrokerTables, topic: string, queues: number): BrokerError | null {
  const queueCount = tables.topics.queueCount(topic);
  if (queueCount === undefined) return tables.topics.refusalOfNew();
  if (queues < queueCount) return new BrokerError('BAD_REQUEST', `topic ${topic} has ${queueCount} queues; a topic's queues cannot shrink`);
  return null;
}

export const createTopicHandler: CommandHandler<CreateTopicCommand> = {
  decode: decodeValidated('createTopic'),
  apply({ tables }, cmd) {
    const err = refusal(tables, cmd.topic, cmd.queues);
    if (err !== null) return refused(err);
    if (cmd.queues !== tables.topics.queueCount(cmd.topic)) tables.topics.set(cmd.topic, cmd.queues);
    return OK;
  },
};

/** Creating an existing topic with as many or more queues is allowed (it grows); fewer is not. */
export function prepareCreateTopic(tables: BrokerTables, topic: string, queues: number): CreateTopicCommand {
  validateTopicName(topic);
  validateQueueCount(queues);
  const err = refusal(tables, topic, queues);
  if (err !== null) throw err;
  return { kind: 'createTopic', topic, queues };
}
