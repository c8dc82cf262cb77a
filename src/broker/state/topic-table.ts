// Replicated table: topics and their queue counts. Checkpoint records `t:<topic>` -> queue count
// (deleted again when the topic is).
import { assert } from '../../util/index.ts';
import { validateQueueCount, validateTopicName } from '../commands.ts';
import { BrokerError } from '../errors.ts';
import type { CheckpointOp, ReplicatedTable } from './replicated-table.ts';
import { assertRestored, cmp, packr } from './replicated-table.ts';

/** Topics one broker group holds. Creating one more is refused (OVERLOADED). */
export const TOPIC_COUNT_MAX = 4096;

/** [topic, queue count], sorted by topic. */
export type TopicSnapshot = readonly (readonly [topic: string, queueCount: number])[];

const KEY_PREFIX = 't:';

export class TopicTable implements ReplicatedTable<TopicSnapshot> {
  readonly name = 'topics';
  readonly checkpointKeyPrefix = KEY_PREFIX;
  private readonly queueCounts = new Map<string, number>();
  private readonly changed = new Set<string>();

  get size(): number {
    return this.queueCounts.size;
  }

  /** Queue count of `topic`, or undefined if it does not exist (yet). */
  queueCount(topic: string): number | undefined {
    return this.queueCounts.get(topic);
  }

  /** Creates `topic` or grows it to `queueCount` queues. Callers checked the topic limit
   *  (refusalOfNew) and that a topic's queues do not shrink. */
  set(topic: string, queueCount: number): void {
    this.queueCounts.set(topic, queueCount);
    this.changed.add(topic);
  }

  /** Removes `topic` (deleteTopic: the other tables drop its rows themselves). */
  delete(topic: string): void {
    if (this.queueCounts.delete(topic)) this.changed.add(topic);
  }

  /** Why a new topic cannot be created (null: there is room). */
  refusalOfNew(): BrokerError | null {
    return this.queueCounts.size >= TOPIC_COUNT_MAX ? new BrokerError('OVERLOADED', `topic count is at its maximum ${TOPIC_COUNT_MAX}`) : null;
  }

  /** Every topic with its queue count, sorted by name. */
  list(): { topic: string; queues: number }[] {
    return [...this.queueCounts.entries()].map(([topic, queues]) => ({ topic, queues })).sort((a, b) => cmp(a.topic, b.topic));
  }

  snapshot(): TopicSnapshot {
    return [...this.queueCounts.entries()].sort((a, b) => cmp(a[0], b[0]));
  }

  restore(snapshot: TopicSnapshot): void {
    assert(Array.isArray(snapshot), 'state restore: the topics snapshot is not an array');
    this.queueCounts.clear();
    this.changed.clear();
    for (const record of snapshot) {
      assert(Array.isArray(record) && record.length === 2, 'state restore: a topic snapshot record is not [topic, queueCount]');
      const [topic, queueCount] = record;
      this.add(topic, queueCount, `topic ${String(topic)}`);
      this.changed.add(topic);
    }
  }

  takeCheckpoint(ops: CheckpointOp[]): undefined {
    for (const topic of this.changed) {
      const queueCount = this.queueCounts.get(topic);
      ops.push(queueCount === undefined ? { type: 'del', key: KEY_PREFIX + topic } : { type: 'put', key: KEY_PREFIX + topic, value: packr.pack(queueCount) });
    }
    this.changed.clear();
    return undefined;
  }

  loadCheckpointRecord(key: string, value: Uint8Array): void {
    this.add(key.slice(KEY_PREFIX.length), packr.unpack(value) as unknown, key);
  }

  finishCheckpointLoad(): void {}

  /** Adds a restored topic after checking it. */
  private add(topic: unknown, queueCount: unknown, what: string): void {
    assertRestored(() => {
      validateTopicName(topic);
      validateQueueCount(queueCount);
    }, what);
    assert(!this.queueCounts.has(topic as string), `state restore: topic ${String(topic)} twice`);
    assert(this.queueCounts.size < TOPIC_COUNT_MAX, 'state restore: too many topics');
    this.queueCounts.set(topic as string, queueCount as number);
  }
}
