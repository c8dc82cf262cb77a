// The lockQueues, unlockQueues and unlockAllQueues commands: ordered-consumption queue locks
// (queue-lock-table.ts), proposed by the master with its clock in the entry so that every replica
// decides expiry alike and a lock outlives the master that granted it.
import type { LockQueuesCommand, UnlockAllQueuesCommand, UnlockQueuesCommand } from '../../commands.ts';
import { validateClientId, validateGroupName, validateQueueLockFields } from '../../commands.ts';
import { BrokerError } from '../../errors.ts';
import type { QueueRef } from '../../../protocol/index.ts';
import type { ApplyOutcome, CommandHandler } from '../command-handler.ts';
import { decodeValidated, refused } from '../command-handler.ts';
import { QUEUE_LOCK_COUNT_MAX } from '../queue-lock-table.ts';
import type { BrokerTables } from '../tables.ts';

const OK: ApplyOutcome = { result: { type: 'ok' } };

function queueExists(tables: BrokerTables, q: QueueRef): boolean {
  const queueCount = tables.topics.queueCount(q.topic);
  return queueCount !== undefined && q.queueId < queueCount;
}

export const lockQueuesHandler: CommandHandler<LockQueuesCommand> = {
  decode: decodeValidated('lockQueues'),
  apply({ tables }, { group, clientId, atMs, queues }) {
    const held = tables.queueLocks.lock(group, clientId, queues, atMs, (q) => queueExists(tables, q));
    if (held === null) return refused({ code: 'OVERLOADED', message: `the queue lock table is at its maximum ${QUEUE_LOCK_COUNT_MAX} unexpired locks` });
    return { result: { type: 'lockedQueues', queues: held } };
  },
};

export const unlockQueuesHandler: CommandHandler<UnlockQueuesCommand> = {
  decode: decodeValidated('unlockQueues'),
  apply({ tables }, { group, clientId, queues }) {
    tables.queueLocks.unlock(group, clientId, queues);
    return OK;
  },
};

export const unlockAllQueuesHandler: CommandHandler<UnlockAllQueuesCommand> = {
  decode: decodeValidated('unlockAllQueues'),
  apply({ tables }, { group, clientId }) {
    tables.queueLocks.unlockAll(group, clientId);
    return OK;
  },
};

/** Checks a lock or unlock request against the topics: BAD_REQUEST (names, client id, count,
 *  queue ids), TOPIC_NOT_FOUND. */
function checkQueues(tables: BrokerTables, group: string, clientId: string, queues: readonly QueueRef[]): void {
  validateQueueLockFields(group, clientId, queues);
  for (const q of queues) {
    const queueCount = tables.topics.queueCount(q.topic);
    if (queueCount === undefined) throw new BrokerError('TOPIC_NOT_FOUND', `topic ${q.topic} does not exist`);
    if (q.queueId >= queueCount) throw new BrokerError('BAD_REQUEST', `topic ${q.topic} has ${queueCount} queues, no queue ${q.queueId}`);
  }
}

/** The lockQueues command to propose; `atMs` is the master's clock. */
export function prepareLockQueues(tables: BrokerTables, group: string, clientId: string, queues: readonly QueueRef[], atMs: number): LockQueuesCommand {
  checkQueues(tables, group, clientId, queues);
  if (!Number.isSafeInteger(atMs) || atMs < 0) throw new TypeError('atMs must be a non-negative integer');
  return { kind: 'lockQueues', group, clientId, atMs, queues: queues.map((q) => ({ topic: q.topic, queueId: q.queueId })) };
}

export function prepareUnlockQueues(tables: BrokerTables, group: string, clientId: string, queues: readonly QueueRef[]): UnlockQueuesCommand {
  checkQueues(tables, group, clientId, queues);
  return { kind: 'unlockQueues', group, clientId, queues: queues.map((q) => ({ topic: q.topic, queueId: q.queueId })) };
}

export function prepareUnlockAllQueues(group: string, clientId: string): UnlockAllQueuesCommand {
  validateGroupName(group);
  validateClientId(clientId);
  return { kind: 'unlockAllQueues', group, clientId };
}
