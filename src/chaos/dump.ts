// The final state of each replica, read from its files after the run (the node is stopped):
// every log entry (index, term, a hash of term + type + bytes) and the messages stored by the
// committed entries, with the queue offsets the broker gave them.
//
// Queue offsets are assigned at apply, not stored in the entry, so they are recomputed here by
// replaying the committed entries in log order as the state machine does (state-machine.ts):
// createTopic creates or grows a topic; sendBatch auto-creates an unknown topic when the entry
// says so, is refused (stores nothing) for a queue the topic does not have, and otherwise gives
// its messages the next offsets of that queue.
//
// Retention: a log whose first entries were deleted is replayed from a retention mark's snapshot
// (mark-seed.ts): its topics and queue offsets at the mark, then the entries after the mark.
//
// The commit index: what the replica reported as committed just before it was stopped (the run
// waits until every replica has applied everything first), or the hard state on disk if higher
// (the hard state is written with terms/votes/entries, so it can lag the real commit index).
import { createHash } from 'node:crypto';
import path from 'node:path';
import { decodeCommand, TOPIC_COUNT_MAX } from '../broker/index.ts';
import { openCommitLog, openMetaStore } from '../commitlog/index.ts';
import type { DumpedMessage, QueueStart, ReplicaDump } from './history.ts';
import { EMPTY_SEED, seedForLog, type ReplaySeed } from './mark-seed.ts';
import { idOfBody } from './workload.ts';

const READ_BYTES = 8 * 1024 * 1024;
/** A run's log this long would not fit the checker's memory either. */
const ENTRIES_MAX = 20_000_000;

export interface DumpOptions {
  readonly node: string;
  /** The node's storePathRootDir. */
  readonly dir: string;
  readonly segmentBytes: number;
  /** commitIndex the node reported before it stopped (0 if unknown). */
  readonly reportedCommitIndex: number;
}

export async function dumpReplica(opts: DumpOptions): Promise<ReplicaDump> {
  const meta = await openMetaStore(path.join(opts.dir, 'meta'));
  let diskCommit: number;
  try {
    diskCommit = meta.getHardState().commit;
  } finally {
    await meta.close();
  }
  const log = await openCommitLog({ dir: path.join(opts.dir, 'commitlog'), segmentBytes: opts.segmentBytes });
  const entries: { index: number; term: number; hash: string }[] = [];
  const records: { index: number; type: number; data: Uint8Array }[] = [];
  let commitIndex = 0;
  let seed = EMPTY_SEED;
  try {
    commitIndex = Math.min(Math.max(opts.reportedCommitIndex, diskCommit), log.lastIndex());
    seed = seedForLog(opts.dir, log.firstIndex(), opts.node);
    let next = log.firstIndex();
    while (next <= log.lastIndex()) {
      const batch = log.read(next, READ_BYTES);
      if (batch.length === 0) throw new Error(`${opts.node}: commitlog read at ${next} returned nothing`);
      for (const r of batch) {
        if (entries.length >= ENTRIES_MAX) throw new Error(`${opts.node}: more than ${ENTRIES_MAX} log entries`);
        entries.push({ index: r.index, term: r.term, hash: entryHash(r.term, r.type, r.data) });
        // Only committed entries store messages; copy, since reads may share buffers.
        if (r.index <= commitIndex && r.index > seed.afterIndex) records.push({ index: r.index, type: r.type, data: Uint8Array.from(r.data) });
      }
      next = batch[batch.length - 1]!.index + 1;
    }
  } finally {
    await log.close();
  }
  const messages = replayMessages(records, opts.node, seed);
  if (seed.afterIndex === 0) return { node: opts.node, commitIndex, entries, messages };
  return { node: opts.node, commitIndex, entries, messages, replayedAfter: seed.afterIndex, queueStarts: queueStartsOf(seed) };
}

function queueStartsOf(seed: ReplaySeed): QueueStart[] {
  return seed.queues.map(([topic, queueId, offset]) => ({ topic, queueId, offset }));
}

export function entryHash(term: number, type: number, data: Uint8Array): string {
  return createHash('sha1').update(`${term}:${type}:`).update(data).digest('hex').slice(0, 16);
}

/** The messages stored by these committed entries (in log order), as apply stores them, from
 *  the state of `seed` (topics and queue offsets at a mark; default: nothing, every queue at 0). */
export function replayMessages(records: readonly { index: number; type: number; data: Uint8Array }[], node = '', seed: ReplaySeed = EMPTY_SEED): DumpedMessage[] {
  const topics = new Map<string, { queueCount: number; next: number[] }>();
  for (const [topic, queueCount] of seed.topics) topics.set(topic, { queueCount, next: [] });
  for (const [topic, queueId, next] of seed.queues) {
    const t = topics.get(topic);
    if (t === undefined) throw new Error(`${node}: the mark snapshot of ${seed.afterIndex} has queue ${topic}/${queueId} but not its topic`);
    t.next[queueId] = next;
  }
  const out: DumpedMessage[] = [];
  for (const r of records) {
    if (r.type !== 0) continue; // the Raft no-op of a new term
    let cmd;
    try {
      cmd = decodeCommand(r.data);
    } catch (err) {
      throw new Error(`${node}: committed entry ${r.index} does not decode: ${(err as Error).message}`);
    }
    if (cmd.kind === 'createTopic') {
      const t = topics.get(cmd.topic);
      if (t === undefined) {
        if (topics.size < TOPIC_COUNT_MAX) topics.set(cmd.topic, { queueCount: cmd.queues, next: [] });
      } else if (cmd.queues > t.queueCount) t.queueCount = cmd.queues;
      continue;
    }
    if (cmd.kind !== 'sendBatch') continue;
    let t = topics.get(cmd.topic);
    if (t === undefined) {
      if (cmd.autoCreateQueues === 0 || topics.size >= TOPIC_COUNT_MAX) continue;
      t = { queueCount: cmd.autoCreateQueues, next: [] };
      topics.set(cmd.topic, t);
    }
    if (cmd.queueId >= t.queueCount) continue;
    let offset = t.next[cmd.queueId] ?? 0;
    for (const m of cmd.messages) {
      out.push({ id: idOfBody(m.body), ...(m.keys ? { key: m.keys } : {}), topic: cmd.topic, queueId: cmd.queueId, queueOffset: offset++, logIndex: r.index });
    }
    t.next[cmd.queueId] = offset;
  }
  return out;
}
