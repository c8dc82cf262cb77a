// The queues a push consumer owns and the rebalance that changes them (RocketMQ's
// RebalanceImpl): each round reads the routes of the subscribed topics and the member list,
// lets the strategy pick this member's queues, and starts or stops process queues to match.
// A queue taken away stops pulling, waits (bounded) for its handler calls, commits its offset,
// and (orderly) unlocks it, before it is forgotten; a new queue (orderly: once locked at its
// master) starts at the group's committed offset, or where consumeFrom says when there is none.
import { LOCK_BATCH_QUEUE_COUNT_MAX, RETRY_GROUP_TOPIC_PREFIX, type QueueRef } from '../../protocol/index.ts';
import { delay } from '../../net/index.ts';
import type { ConsumeFrom } from '../consumer.ts';
import type { MessageQueue } from '../publish-route.ts';
import { compareQueues, queueIdOf, type AllocateStrategy } from './allocate.ts';
import type { Brokers } from './brokers.ts';
import type { OffsetStore } from './offset-store.ts';
import { ProcessQueue } from './process-queue.ts';

/** A queue taken away waits at most this long for its handler calls before committing. */
export const QUEUE_DRAIN_WAIT_MS = 5000;

export interface QueueTableOptions {
  readonly group: string;
  readonly clientId: string;
  readonly consumeModel: 'CLUSTERING' | 'BROADCASTING';
  readonly orderly: () => boolean;
  readonly strategy: AllocateStrategy;
  readonly consumeFrom: ConsumeFrom;
  readonly brokers: Brokers;
  readonly offsetStore: OffsetStore;
  readonly requestTimeoutMs: number;
  /** A new queue was added: start pulling it. */
  readonly onAdded: (pq: ProcessQueue) => void;
  /** Called after a round that changed the allocation. */
  readonly onRebalance?: (queues: readonly MessageQueue[]) => void;
}

export class QueueTable {
  private readonly table = new Map<string, ProcessQueue>();
  /** Orderly: allocated queues whose lock another member still holds (retried). */
  unlockedCount = 0;
  /** onRebalance was called once (the first round tells even an empty allocation). */
  private told = false;

  constructor(private readonly o: QueueTableOptions) {}

  get(mq: MessageQueue): ProcessQueue | undefined {
    return this.table.get(queueIdOf(mq));
  }

  queues(): ProcessQueue[] {
    return [...this.table.values()];
  }

  allocated(): MessageQueue[] {
    return this.queues()
      .map((pq) => pq.mq)
      .sort(compareQueues);
  }

  /** Whether `pq` is still this member's (late progress of a forgotten queue is ignored). */
  owns(pq: ProcessQueue): boolean {
    return this.table.get(queueIdOf(pq.mq)) === pq;
  }

  /** Makes the table match this member's share of each subscribed topic's queues (each list
   *  sorted). Topic by topic, as RocketMQ's rebalanceByTopic: members that see one topic's route
   *  differently for a moment disagree on that topic only. */
  async update(routes: ReadonlyMap<string, readonly MessageQueue[]>, clientIds: readonly string[]): Promise<void> {
    const mine: MessageQueue[] = [];
    for (const queues of routes.values()) {
      if (this.o.consumeModel === 'BROADCASTING') mine.push(...queues);
      else {
        const known = new Set(queues.map(queueIdOf));
        mine.push(...this.o.strategy.allocate(this.o.group, this.o.clientId, queues, clientIds).filter((q) => known.has(queueIdOf(q))));
      }
    }
    const wanted = new Set(mine.map(queueIdOf));
    const gone = this.queues().filter((pq) => !wanted.has(queueIdOf(pq.mq)));
    const fresh = mine.filter((q) => !this.table.has(queueIdOf(q)));
    await Promise.all(gone.map((pq) => this.removeQueue(pq)));
    const added = await this.addQueues(fresh);
    if (gone.length > 0 || added > 0 || !this.told) {
      this.told = true;
      this.o.onRebalance?.(this.allocated());
    }
  }

  /** Stops, drains, commits and forgets every queue (shutdown). */
  async clear(): Promise<void> {
    await Promise.all(this.queues().map((pq) => this.removeQueue(pq)));
  }

  private async removeQueue(pq: ProcessQueue): Promise<void> {
    pq.drop();
    const deadline = Date.now() + QUEUE_DRAIN_WAIT_MS;
    while ((pq.inFlight > 0 || pq.consuming) && Date.now() < deadline) await delay(10);
    await this.o.offsetStore.persist([pq.mq]);
    this.o.offsetStore.remove(pq.mq);
    this.table.delete(queueIdOf(pq.mq));
    if (this.lockingOn()) await this.unlock([pq.mq]);
  }

  private lockingOn(): boolean {
    return this.o.orderly() && this.o.consumeModel === 'CLUSTERING';
  }

  /** Starts the queues that could be (locked, offset known); how many. */
  private async addQueues(fresh: readonly MessageQueue[]): Promise<number> {
    let usable = fresh;
    this.unlockedCount = 0;
    if (this.lockingOn()) {
      const locked = await this.lock(fresh);
      usable = fresh.filter((q) => locked.has(queueIdOf(q)));
      this.unlockedCount = fresh.length - usable.length;
    }
    let added = 0;
    await Promise.all(
      usable.map(async (mq) => {
        let offset: number;
        try {
          offset = await this.startOffset(mq);
        } catch {
          return; // the next round tries again
        }
        if (this.table.has(queueIdOf(mq))) return;
        added++;
        const pq = new ProcessQueue(mq, offset);
        if (this.lockingOn()) {
          pq.locked = true;
          pq.lastLockAt = Date.now();
        }
        this.table.set(queueIdOf(mq), pq);
        this.o.onAdded(pq);
      }),
    );
    return added;
  }

  /** The group's committed offset; where none, consumeFrom's (committed with the next round, so
   *  it is decided once). A retry topic always starts at its first message (as RocketMQ). */
  private async startOffset(mq: MessageQueue): Promise<number> {
    const stored = await this.o.offsetStore.read(mq);
    if (stored >= 0) return stored;
    const client = this.o.brokers.client(mq.brokerName);
    if (client === undefined) throw new Error(`no client for broker group ${mq.brokerName}`);
    const from = mq.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX) ? 'first' : this.o.consumeFrom;
    const call = { tries: 3, deadline: Date.now() + this.o.requestTimeoutMs * 2 };
    let start: number;
    if (from === 'first') start = 0;
    else if (from === 'last') {
      // A pull past the end answers the queue's bounds and no message.
      start = (await client.callMaster<'pull'>({ type: 'pull', topic: mq.topic, queueId: mq.queueId, offset: Number.MAX_SAFE_INTEGER, maxCount: 1, maxBytes: 1024, waitMs: 0 }, call)).maxOffset;
    } else start = (await client.callMaster<'searchOffset'>({ type: 'searchOffset', topic: mq.topic, queueId: mq.queueId, timestamp: from.timestamp }, call)).offset;
    this.o.offsetStore.update(mq, start);
    return start;
  }

  /** Locks (or renews) `mqs` at their masters; the queues now held. */
  async lock(mqs: readonly MessageQueue[]): Promise<Set<string>> {
    const held = new Set<string>();
    await Promise.all(
      [...byBroker(mqs)].map(async ([brokerName, refs]) => {
        const client = this.o.brokers.client(brokerName);
        if (client === undefined) return;
        for (let i = 0; i < refs.length; i += LOCK_BATCH_QUEUE_COUNT_MAX) {
          try {
            const r = await client.callMaster<'lockQueues'>(
              { type: 'lockQueues', group: this.o.group, clientId: this.o.clientId, queues: refs.slice(i, i + LOCK_BATCH_QUEUE_COUNT_MAX) },
              { tries: 2, deadline: Date.now() + this.o.requestTimeoutMs },
            );
            for (const q of r.queues) held.add(queueIdOf({ topic: q.topic, brokerName, queueId: q.queueId }));
          } catch {
            // not held this round
          }
        }
      }),
    );
    return held;
  }

  /** Renews the locks of every owned queue (RocketMQ's lockAll, every 20 s): held ones may be
   *  consumed on; the others stop until a later renewal. Returns the queues locked now. */
  async renewLocks(): Promise<ProcessQueue[]> {
    const pqs = this.queues().filter((pq) => !pq.dropped);
    const held = await this.lock(pqs.map((pq) => pq.mq));
    const now = Date.now();
    for (const pq of pqs) {
      pq.locked = held.has(queueIdOf(pq.mq));
      if (pq.locked) pq.lastLockAt = now;
    }
    return pqs.filter((pq) => pq.locked);
  }

  async unlock(mqs: readonly MessageQueue[]): Promise<void> {
    await Promise.all(
      [...byBroker(mqs)].map(async ([brokerName, refs]) => {
        const client = this.o.brokers.client(brokerName);
        for (let i = 0; client !== undefined && i < refs.length; i += LOCK_BATCH_QUEUE_COUNT_MAX) {
          await client
            .callMaster<'unlockQueues'>(
              { type: 'unlockQueues', group: this.o.group, clientId: this.o.clientId, queues: refs.slice(i, i + LOCK_BATCH_QUEUE_COUNT_MAX) },
              { tries: 2, deadline: Date.now() + this.o.requestTimeoutMs },
            )
            .catch(() => undefined); // the lock lapses at the broker after QUEUE_LOCK_LIFETIME_MS
        }
      }),
    );
  }
}

function byBroker(mqs: readonly MessageQueue[]): Map<string, QueueRef[]> {
  const out = new Map<string, QueueRef[]>();
  for (const mq of mqs) {
    let refs = out.get(mq.brokerName);
    if (refs === undefined) out.set(mq.brokerName, (refs = []));
    refs.push({ topic: mq.topic, queueId: mq.queueId });
  }
  return out;
}
