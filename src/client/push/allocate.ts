// How a consumer group divides its queues among its members (RocketMQ's
// AllocateMessageQueueStrategy): pure functions of the sorted queue list and the sorted client
// ids, so every member computes the same division from the same lists without talking to the others.
import { createHash } from 'node:crypto';
import type { MessageQueue } from '../publish-route.ts';

export interface AllocateStrategy {
  readonly name: string;
  /** The queues of `clientId`. `queues` sorted by (topic, brokerName, queueId), `clientIds` sorted;
   *  a client not in `clientIds` gets nothing (it is not a member yet). */
  allocate(group: string, clientId: string, queues: readonly MessageQueue[], clientIds: readonly string[]): MessageQueue[];
}

/** Contiguous blocks, the first `queues % members` members one queue more (RocketMQ's default). */
export class AllocateMessageQueueAveragely implements AllocateStrategy {
  readonly name = 'AVG';
  allocate(_group: string, clientId: string, queues: readonly MessageQueue[], clientIds: readonly string[]): MessageQueue[] {
    const index = clientIds.indexOf(clientId);
    if (index < 0 || queues.length === 0) return [];
    const n = queues.length;
    const members = clientIds.length;
    const mod = n % members;
    const bigger = mod > 0 && index < mod;
    const averageSize = n <= members ? 1 : bigger ? Math.floor(n / members) + 1 : Math.floor(n / members);
    const start = bigger ? index * averageSize : index * averageSize + mod;
    const range = Math.min(averageSize, n - start);
    const out: MessageQueue[] = [];
    for (let i = 0; i < range; i++) out.push(queues[(start + i) % n]!);
    return out;
  }
}

/** Round robin: member i takes queues i, i + members, i + 2 * members, ... */
export class AllocateMessageQueueAveragelyByCircle implements AllocateStrategy {
  readonly name = 'AVG_BY_CIRCLE';
  allocate(_group: string, clientId: string, queues: readonly MessageQueue[], clientIds: readonly string[]): MessageQueue[] {
    const index = clientIds.indexOf(clientId);
    if (index < 0) return [];
    const out: MessageQueue[] = [];
    for (let i = index; i < queues.length; i += clientIds.length) out.push(queues[i]!);
    return out;
  }
}

/** Virtual nodes per member on the hash ring (RocketMQ's default). */
export const CONSISTENT_HASH_VIRTUAL_NODES_DEFAULT = 10;

/** A stable 48-bit hash (the first 6 bytes of MD5, as RocketMQ's ring uses MD5): the same on
 *  every machine and Node version. */
function ringHash(key: string): number {
  return createHash('md5').update(key).digest().readUIntBE(0, 6);
}

const queueKey = (q: MessageQueue): string => `${q.topic}@${q.brokerName}@${q.queueId}`;

/** A hash ring of the members' virtual nodes: a queue goes to the first node at or after its
 *  hash. A member joining or leaving moves only the queues next to its nodes. */
export class AllocateMessageQueueConsistentHash implements AllocateStrategy {
  readonly name = 'CONSISTENT_HASH';
  constructor(readonly virtualNodeCount: number = CONSISTENT_HASH_VIRTUAL_NODES_DEFAULT) {
    if (!Number.isSafeInteger(virtualNodeCount) || virtualNodeCount < 1 || virtualNodeCount > 1024) {
      throw new TypeError(`virtualNodeCount must be an integer in 1..1024, got ${String(virtualNodeCount)}`);
    }
  }
  allocate(_group: string, clientId: string, queues: readonly MessageQueue[], clientIds: readonly string[]): MessageQueue[] {
    if (!clientIds.includes(clientId)) return [];
    const ring: { hash: number; clientId: string }[] = [];
    for (const id of clientIds) for (let v = 0; v < this.virtualNodeCount; v++) ring.push({ hash: ringHash(`${id}-${v}`), clientId: id });
    // Ties (practically never) broken by client id, so every member sorts alike.
    ring.sort((a, b) => a.hash - b.hash || (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    return queues.filter((q) => ownerOn(ring, ringHash(queueKey(q))) === clientId);
  }
}

/** The node at or after `hash` on the sorted ring (wrapping to the first). */
function ownerOn(ring: readonly { hash: number; clientId: string }[], hash: number): string {
  let lo = 0;
  let hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ring[mid]!.hash < hash) lo = mid + 1;
    else hi = mid;
  }
  return ring[lo % ring.length]!.clientId;
}

/** A fixed list, whatever the members (each member is configured with its own). */
export class AllocateMessageQueueByConfig implements AllocateStrategy {
  readonly name = 'CONFIG';
  private readonly queues: readonly MessageQueue[];
  constructor(queues: readonly MessageQueue[]) {
    if (!Array.isArray(queues)) throw new TypeError('AllocateMessageQueueByConfig needs a list of queues');
    this.queues = queues.map((q) => ({ topic: q.topic, brokerName: q.brokerName, queueId: q.queueId }));
  }
  allocate(): MessageQueue[] {
    return [...this.queues];
  }
}

/** The order every member sorts queues in: topic, brokerName, queueId. */
export function compareQueues(a: MessageQueue, b: MessageQueue): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.brokerName !== b.brokerName) return a.brokerName < b.brokerName ? -1 : 1;
  return a.queueId - b.queueId;
}

/** One string per queue, for maps keyed by queue. */
export function queueIdOf(q: MessageQueue): string {
  return `${q.topic}\u0000${q.brokerName}\u0000${q.queueId}`;
}
