// What part of each queue a replica's dump covers (rule `expiredByRetention` in checker.ts): a
// dump replayed from a retention mark (dump.ts, mark-seed.ts) holds a queue's messages from the
// queue's next offset at the mark; below it retention deleted them on every replica. A dump
// replayed from the log's start covers every queue from 0.
import type { QueueStart, ReplicaDump } from './history.ts';

/** Where a dump starts, for the findings. */
export interface DumpStart {
  readonly node: string;
  /** The mark the replay started after (0: the log's start). */
  readonly replayedAfter: number;
  /** Queues covered from above 0 (every other queue is covered from 0). */
  readonly queues: readonly QueueStart[];
}

/** The first offset of (topic, queueId) the dump covers. */
export type QueueStartOf = (topic: string, queueId: number) => number;

export function queueStartLookup(dump: ReplicaDump | undefined): QueueStartOf {
  const starts = new Map<string, number>();
  for (const q of dump?.queueStarts ?? []) starts.set(`${q.topic}\u0000${q.queueId}`, q.offset);
  return (topic, queueId) => starts.get(`${topic}\u0000${queueId}`) ?? 0;
}

export function dumpStarts(dumps: readonly ReplicaDump[]): DumpStart[] {
  return dumps.map((d) => ({
    node: d.node,
    replayedAfter: d.replayedAfter ?? 0,
    queues: (d.queueStarts ?? []).filter((q) => q.offset > 0),
  }));
}
