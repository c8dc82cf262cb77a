// Where a replica's dump starts when retention cut its log: the snapshot of a retention mark
// (<storePathRootDir>/snapshots, retention-marks.ts) gives the topics and every queue's next
// offset at the mark, and the log after the mark gives the rest (dump.ts replays it from there).
//
// The mark used is the smallest one the store holds at or after (first log index - 1): the log
// holds every entry after it, and no smaller one would have its entries all in the log. In a
// mark snapshot each consume queue's minOffset is its maxOffset at the mark (the next offset the
// mark's successors get); a queue the snapshot does not list had nothing yet (starts at 0).
import path from 'node:path';
import { decodeSnapshot, MarkStore, type Snapshot } from '../broker/index.ts';

/** The state a replay starts from. */
export interface ReplaySeed {
  /** The mark's log index: the replay takes the entries after it. 0: the log's start. */
  readonly afterIndex: number;
  /** [topic, queueCount] of every topic at the mark. */
  readonly topics: readonly (readonly [string, number])[];
  /** [topic, queueId, next offset] of every queue the mark lists. */
  readonly queues: readonly (readonly [string, number, number])[];
  /** The whole state at the mark (every table, the producers' windows too): the replay restores
   *  the broker's state machine from it. Absent: the log's start. */
  readonly snapshot?: Snapshot;
}

/** The replay of a log that starts at index 1: nothing before it, every queue from 0. */
export const EMPTY_SEED: ReplaySeed = { afterIndex: 0, topics: [], queues: [] };

/** The seed for a log whose first entry is `firstIndex`: EMPTY_SEED when the log starts at 1,
 *  else the smallest usable mark. Throws when the store holds none (its log cannot be replayed). */
export function seedForLog(storeDir: string, firstIndex: number, node = ''): ReplaySeed {
  if (firstIndex <= 1) return EMPTY_SEED;
  const marks = MarkStore.open(path.join(storeDir, 'snapshots'));
  const held = marks.indexes();
  const mark = held.find((i) => i >= firstIndex - 1);
  if (mark === undefined) {
    throw new Error(`${node}: the log starts at ${firstIndex} and no mark snapshot is at or after ${firstIndex - 1} (held: ${held.join(', ') || 'none'}): its messages cannot be given queue offsets`);
  }
  return seedFromSnapshot(marks.get(mark).bytes, mark, node);
}

/** The seed in a mark snapshot's bytes (decodeSnapshot's tables). */
export function seedFromSnapshot(bytes: Uint8Array, mark: number, node = ''): ReplaySeed {
  const snap = decodeSnapshot(bytes);
  if (snap.appliedIndex !== mark) throw new Error(`${node}: the snapshot of mark ${mark} says appliedIndex ${snap.appliedIndex}`);
  const topics = snap.tables.topics.map(([topic, count]) => [topic, count] as const);
  const queues = snap.tables.consumeQueues.map(([topic, queueId, minOffset]) => [topic, queueId, minOffset] as const);
  return { afterIndex: mark, topics, queues, snapshot: snap };
}
