// The list of replicated tables: every piece of state the broker's state machine replicates.
// The machine holds its state only here, and checkpoints, snapshots and restores go through
// this list, so a new table is added in ONE place (createTables) and must implement
// ReplicatedTable (with `name` equal to its key) to compile.
import { ConsumeQueueTable } from './consume-queue-table.ts';
import { ConsumerOffsetTable } from './consumer-offset-table.ts';
import type { ReplicatedTable } from './replicated-table.ts';
import { MembershipTable } from './membership-table.ts';
import { ProducerWindowTable, type ProducerWindowTableOptions } from './producer-window-table.ts';
import { QueueLockTable, type QueueLockTableOptions } from './queue-lock-table.ts';
import { RetentionTable } from './retention-table.ts';
import { ScheduleTable, type ScheduleTableOptions } from './schedule-table.ts';
import { TopicTable } from './topic-table.ts';

type TableList<T> = { readonly [K in keyof T]: ReplicatedTable<unknown> & { readonly name: K } };

function tableList<T extends TableList<T>>(tables: T): T {
  return tables;
}

/** Fresh, empty tables, in restore order: a table may check itself against the ones before it
 *  (queues, offsets, producer windows and queue locks against topics). `producerWindows`,
 *  `queueLocks`, `schedule`: test-only options. */
export function createTables(producerWindows: ProducerWindowTableOptions = {}, queueLocks: QueueLockTableOptions = {}, schedule: ScheduleTableOptions = {}) {
  return tableList({
    topics: new TopicTable(),
    consumeQueues: new ConsumeQueueTable(),
    consumerOffsets: new ConsumerOffsetTable(),
    retention: new RetentionTable(),
    membership: new MembershipTable(),
    producerWindows: new ProducerWindowTable(producerWindows),
    queueLocks: new QueueLockTable(queueLocks),
    schedule: new ScheduleTable(schedule),
  });
}

export type BrokerTables = ReturnType<typeof createTables>;
export type TableName = keyof BrokerTables;

type SnapshotOf<T> = T extends ReplicatedTable<infer S> ? S : never;
/** Every table's snapshot, by table name. */
export type TableSnapshots = { readonly [K in TableName]: SnapshotOf<BrokerTables[K]> };

/** The tables in list order. */
export function tablesInOrder(tables: BrokerTables): ReplicatedTable<unknown>[] {
  return Object.values(tables);
}
