// Replicated table: the committed offset of each (consumer group, topic, queue). Checkpoint
// records `o:<group>:<topic>:<queueId>` -> offset (':' never occurs in group or topic names).
import { assert } from '../../util/index.ts';
import { validateGroupName, validateOffset, validateTopicName } from '../commands.ts';
import type { CheckpointOp, ReplicatedTable, RestoreContext } from './replicated-table.ts';
import { assertRestored, cmp, packr } from './replicated-table.ts';

/** (group, topic, queue) offsets held. A commit of a new one beyond this is rejected. */
export const CONSUMER_OFFSET_COUNT_MAX = 262_144;

/** [group, topic, queueId, offset], sorted by checkpoint key. */
export type ConsumerOffsetSnapshot = readonly (readonly [group: string, topic: string, queueId: number, offset: number])[];

const KEY_PREFIX = 'o:';
const offsetKey = (group: string, topic: string, queueId: number): string => `${KEY_PREFIX}${group}:${topic}:${queueId}`;

function partsOf(key: string): [group: string, topic: string, queueId: number] {
  const [group, topic, queueId] = key.slice(KEY_PREFIX.length).split(':');
  return [group, topic, Number(queueId)];
}

export class ConsumerOffsetTable implements ReplicatedTable<ConsumerOffsetSnapshot> {
  readonly name = 'consumerOffsets';
  readonly checkpointKeyPrefix = KEY_PREFIX;
  /** offsetKey -> committed offset. */
  private readonly offsets = new Map<string, number>();
  private readonly changed = new Set<string>();

  get size(): number {
    return this.offsets.size;
  }

  get(group: string, topic: string, queueId: number): number | undefined {
    return this.offsets.get(offsetKey(group, topic, queueId));
  }

  /** Whether a commit of (group, topic, queueId) finds the table full: it holds no offset there
   *  yet and CONSUMER_OFFSET_COUNT_MAX others. */
  isFullFor(group: string, topic: string, queueId: number): boolean {
    return this.offsets.size >= CONSUMER_OFFSET_COUNT_MAX && !this.offsets.has(offsetKey(group, topic, queueId));
  }

  /** Every (group, topic, queueId, offset), in no particular order. */
  *entries(): IterableIterator<readonly [group: string, topic: string, queueId: number, offset: number]> {
    for (const [key, offset] of this.offsets) yield [...partsOf(key), offset] as const;
  }

  set(group: string, topic: string, queueId: number, offset: number): void {
    const key = offsetKey(group, topic, queueId);
    this.offsets.set(key, offset);
    this.changed.add(key);
  }

  /** deleteTopic: every group's offsets on `topic` go. A scan of the table (at most
   *  CONSUMER_OFFSET_COUNT_MAX keys): topic deletion is a rare operator command. */
  deleteTopic(topic: string): void {
    for (const key of this.offsets.keys()) {
      if (partsOf(key)[1] !== topic) continue;
      this.offsets.delete(key);
      this.changed.add(key);
    }
  }

  snapshot(): ConsumerOffsetSnapshot {
    return [...this.offsets.entries()].sort((a, b) => cmp(a[0], b[0])).map(([key, offset]) => [...partsOf(key), offset] as const);
  }

  restore(snapshot: ConsumerOffsetSnapshot, context: RestoreContext): void {
    assert(Array.isArray(snapshot), 'state restore: the consumer offsets snapshot is not an array');
    this.offsets.clear();
    this.changed.clear();
    for (const record of snapshot) {
      assert(Array.isArray(record) && record.length === 4, 'state restore: a consumer offset snapshot record is not [group, topic, queueId, offset]');
      const [group, topic, queueId, offset] = record;
      assert(Number.isInteger(queueId), `state restore: consumer offset of ${String(group)} on ${String(topic)} has queueId ${String(queueId)}`);
      const key = offsetKey(group, topic, queueId);
      this.add(key, group, topic, offset);
      this.checkQueue(key, context);
      this.changed.add(key);
    }
  }

  takeCheckpoint(ops: CheckpointOp[]): undefined {
    for (const key of this.changed) {
      const offset = this.offsets.get(key);
      ops.push(offset === undefined ? { type: 'del', key } : { type: 'put', key, value: packr.pack(offset) });
    }
    this.changed.clear();
    return undefined;
  }

  loadCheckpointRecord(key: string, value: Uint8Array): void {
    const [group, topic, queueId] = partsOf(key);
    this.add(key, group, topic, packr.unpack(value) as unknown);
    assert(key === offsetKey(group, topic, queueId), `state restore: bad key ${key}`);
  }

  finishCheckpointLoad(context: RestoreContext): void {
    for (const key of this.offsets.keys()) this.checkQueue(key, context);
  }

  /** Adds a restored offset after checking it. */
  private add(key: string, group: unknown, topic: unknown, offset: unknown): void {
    assertRestored(() => {
      validateGroupName(group);
      validateTopicName(topic);
      validateOffset(offset);
    }, key);
    assert(!this.offsets.has(key), `state restore: consumer offset ${key} twice`);
    assert(this.offsets.size < CONSUMER_OFFSET_COUNT_MAX, 'state restore: too many consumer offsets');
    this.offsets.set(key, offset as number);
  }

  private checkQueue(key: string, { tables }: RestoreContext): void {
    const [, topic, queueId] = partsOf(key);
    const queueCount = tables.topics.queueCount(topic);
    assert(queueCount !== undefined && queueId < queueCount, `state restore: offset ${key} of an unknown queue`);
  }
}
