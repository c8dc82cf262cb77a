// A producer's queue choice, as RocketMQ's: a message with keys, a queue index or a selector
// goes to the queue they name (pinned: it waits for that group rather than move, order first);
// any other message goes round robin over the writable queues of every group, skipping a group
// that just failed a send and, with sendLatencyFaultEnable, groups that were slow.
import { RaftmqError, type MessageInput } from '../protocol/index.ts';
import type { LatencyFaultTolerance } from './latency-fault.ts';
import type { CachedRoute } from './publish-routes.ts';
import type { MessageQueue } from './publish-route.ts';

/** After a group failed or stalled a send, new unkeyed sends avoid it this long (or until it
 *  answers again), so they neither pay a failed try each nor pile up behind its failover. */
export const FAILED_GROUP_AVOID_MS = 1000;

/** Picks the queue of a message from the topic's queue list (RocketMQ's MessageQueueSelector). */
export type QueueSelector = (queues: readonly MessageQueue[], message: MessageInput) => MessageQueue;

export interface QueueChoice {
  /** Send to this queue: an index in the topic's queue list (with one group, the queue id). */
  readonly queueId?: number;
  /** Choose the queue; like `queueId` and `keys`, the send waits for that queue's group. */
  readonly selector?: QueueSelector;
}

export class QueueChooser {
  private readonly avoidUntil = new Map<string, number>();

  constructor(private readonly fault: LatencyFaultTolerance | null) {}

  /** By queueId, selector or key hash (pinned), else round robin. Throws TOPIC_NOT_FOUND,
   *  BAD_REQUEST (no such queue), TypeError (a selector that returns no queue of the list). */
  choose(cached: CachedRoute, message: MessageInput, options: QueueChoice | undefined): { mq: MessageQueue; pinned: boolean } {
    const queues = cached.route.queues;
    if (queues.length === 0) throw new RaftmqError('TOPIC_NOT_FOUND', `topic ${cached.route.topic} has no queues`);
    if (options?.queueId !== undefined) {
      const q = options.queueId;
      if (!Number.isInteger(q) || q < 0) throw new TypeError(`bad queueId ${q}`);
      const mq = queues[q];
      if (mq === undefined) throw new RaftmqError('BAD_REQUEST', `topic ${cached.route.topic} has ${queues.length} queues, no queue ${q}`);
      return { mq, pinned: true };
    }
    if (options?.selector !== undefined) {
      const mq = options.selector(queues, message);
      if (!queues.includes(mq)) throw new TypeError('the selector must return one of the queues it was given');
      return { mq, pinned: true };
    }
    if (message.keys) return { mq: queues[keyHash(message.keys) % queues.length]!, pinned: true };
    return { mq: this.next(cached, null), pinned: false };
  }

  /** The next queue in round robin, skipping group `exclude`, avoided groups and (with
   *  sendLatencyFaultEnable) slow ones; when every group is skipped, the next queue not of
   *  `exclude`, else simply the next. */
  next(cached: CachedRoute, exclude: string | null): MessageQueue {
    const queues = cached.route.queues;
    const n = queues.length;
    if (cached.route.groups.size === 1 && this.fault === null) return queues[cached.next++ % n]!;
    const now = Date.now();
    let fallback: MessageQueue | null = null;
    for (let i = 0; i < n; i++) {
      const mq = queues[cached.next++ % n]!;
      if (mq.brokerName === exclude) continue;
      fallback ??= mq;
      if (!this.usable(mq.brokerName, now)) continue;
      return mq;
    }
    return fallback ?? queues[cached.next++ % n]!;
  }

  /** A send to `group` succeeded after `latencyMs`. */
  succeeded(group: string, latencyMs: number): void {
    this.avoidUntil.delete(group);
    this.fault?.update(group, latencyMs, false, Date.now());
  }

  /** A send to `group` failed after `latencyMs`; `avoid`: it certainly did not store it (no
   *  master, refused), so new sends keep away for FAILED_GROUP_AVOID_MS. */
  failed(group: string, latencyMs: number, avoid: boolean): void {
    const now = Date.now();
    this.fault?.update(group, latencyMs, true, now);
    if (avoid) this.avoidUntil.set(group, now + FAILED_GROUP_AVOID_MS);
  }

  /** New unkeyed sends keep away from `group` for FAILED_GROUP_AVOID_MS (or until it answers). */
  avoid(group: string): void {
    this.avoidUntil.set(group, Date.now() + FAILED_GROUP_AVOID_MS);
  }

  /** Forgets groups no route names any more. */
  retain(groups: ReadonlySet<string>): void {
    this.fault?.retain(groups);
    for (const g of this.avoidUntil.keys()) if (!groups.has(g)) this.avoidUntil.delete(g);
  }

  private usable(group: string, now: number): boolean {
    const until = this.avoidUntil.get(group);
    if (until !== undefined) {
      if (now < until) return false;
      this.avoidUntil.delete(group);
    }
    return this.fault === null || this.fault.isAvailable(group, now);
  }
}

/** FNV-1a (32-bit) of the UTF-16 code units: stable across processes and versions. */
export function keyHash(keys: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < keys.length; i++) {
    h ^= keys.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
