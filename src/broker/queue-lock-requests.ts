// The master's side of ordered-consumption queue locks (RocketMQ's LOCK_BATCH_MQ and
// UNLOCK_BATCH_MQ): requests become lockQueues / unlockQueues / unlockAllQueues proposals with
// the master's clock in them (state/commands/queue-locks.ts), so a lock holds across a failover.
import { RaftmqError, type QueueRef } from '../protocol/index.ts';
import { encodeCommand, validateClientId, validateGroupName } from './commands.ts';
import type { ApplyResult, BrokerStateMachine } from './state-machine.ts';

/** A lock request whose queues the caller all renewed less than this ago is answered from the
 *  applied state without a proposal: such a lock holds for QUEUE_LOCK_LIFETIME_MS minus this at
 *  least, and members renew every QUEUE_LOCK_RENEW_INTERVAL_MS, so this only saves the entries of
 *  members that ask again at once (a rebalance right after a renewal). */
export const QUEUE_LOCK_FRESH_MS = 5_000;

export interface QueueLockRequests {
  readonly stateMachine: BrokerStateMachine;
  /** Proposes an encoded command; resolves with its apply result. */
  propose(data: Uint8Array): Promise<unknown>;
  /** The master's clock (ms since the epoch). */
  now(): number;
}

/** The queues among `queues` that `clientId` holds once the request is done (lockQueues).
 *  Rejects with BAD_REQUEST, TOPIC_NOT_FOUND, OVERLOADED (lock table full) or a proposal error. */
export async function lockQueues(deps: QueueLockRequests, group: string, clientId: string, queues: readonly QueueRef[]): Promise<QueueRef[]> {
  const sm = deps.stateMachine;
  if (Array.isArray(queues) && queues.length === 0) {
    validateGroupName(group);
    validateClientId(clientId);
    return [];
  }
  const now = deps.now();
  const cmd = sm.prepareLockQueues(group, clientId, queues, now);
  const fresh = cmd.queues.every((q) => {
    const lock = sm.queueLockHolder(group, q.topic, q.queueId, now);
    return lock !== undefined && lock.clientId === clientId && now - lock.lockedAtMs < QUEUE_LOCK_FRESH_MS;
  });
  if (fresh) return unique(cmd.queues);
  const r = (await deps.propose(encodeCommand(cmd))) as ApplyResult;
  if (r.type === 'lockedQueues') return [...r.queues];
  if (r.type === 'error') throw new RaftmqError(r.code, r.message);
  throw new RaftmqError('INTERNAL', `unexpected apply result ${r.type}`);
}

/** Releases the locks `clientId` holds on `queues` (unlockQueues); nothing is proposed when it
 *  holds none in the group. Rejects with BAD_REQUEST, TOPIC_NOT_FOUND or a proposal error. */
export async function unlockQueues(deps: QueueLockRequests, group: string, clientId: string, queues: readonly QueueRef[]): Promise<void> {
  const sm = deps.stateMachine;
  if (Array.isArray(queues) && queues.length === 0) {
    validateGroupName(group);
    validateClientId(clientId);
    return;
  }
  const cmd = sm.prepareUnlockQueues(group, clientId, queues);
  if (sm.queueLocksOf(group, clientId).length === 0) return;
  const r = (await deps.propose(encodeCommand(cmd))) as ApplyResult;
  if (r.type === 'error') throw new RaftmqError(r.code, r.message);
}

/**
 * Releases every lock `clientId` holds in `group`: the member unregistered, its connection closed
 * or its heartbeats stopped (ConsumerGroupRegistry.onMemberGone on the master). Releasing at once
 * on a lost connection is safe enough: a member that is in fact alive locks again when it
 * reconnects, and that fails if another member took the queue meanwhile; and a consumer stops
 * processing a queue whose lock it has not renewed for 30 s (client side), well within the
 * 60 s lifetime, so two members never process one queue at once for long. Resolves false when
 * nothing was proposed (it holds no lock).
 */
export async function releaseLocksOf(deps: QueueLockRequests, group: string, clientId: string): Promise<boolean> {
  const sm = deps.stateMachine;
  const cmd = sm.prepareUnlockAllQueues(group, clientId);
  if (sm.queueLocksOf(group, clientId).length === 0) return false;
  const r = (await deps.propose(encodeCommand(cmd))) as ApplyResult;
  if (r.type === 'error') throw new RaftmqError(r.code, r.message);
  return true;
}

function unique(queues: readonly QueueRef[]): QueueRef[] {
  const seen = new Set<string>();
  return queues.filter((q) => {
    const key = `${q.topic}\0${q.queueId}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
