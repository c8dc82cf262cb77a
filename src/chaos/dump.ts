// The final state of each replica, read from its files after the run (the node is stopped):
// every log entry (index, term, a hash of term + type + bytes) and the messages stored by the
// committed entries, with the queue offsets the broker gave them.
//
// What an entry stores is decided at apply, not written in the entry, so the committed entries
// are replayed in log order through the broker's own state machine (BrokerStateMachine, in
// memory): a sendBatch it refuses stores nothing, one it stores gets the next offsets of its
// queue, and the retry of an idempotent producer's batch that its window answers with the first
// result (ApplyResult.duplicate) is in the log but stores nothing. The checker thus sees what the
// broker stored, by the broker's rules, and a broker bug in them shows as a finding.
//
// Retention: a log whose first entries were deleted is replayed from a retention mark's snapshot
// (mark-seed.ts): the state machine is restored from it (topics, queue offsets, producer windows
// at the mark), then applies the entries after the mark.
//
// The commit index: what the replica reported as committed just before it was stopped (the run
// waits until every replica has applied everything first), or the hard state on disk if higher
// (the hard state is written with terms/votes/entries, so it can lag the real commit index).
import { createHash } from 'node:crypto';
import path from 'node:path';
import { BrokerStateMachine, decodeCommand, type BrokerStateMachineOptions } from '../broker/index.ts';
import { openCommitLog, openMetaStore } from '../commitlog/index.ts';
import type { DumpedMessage, QueueStart, ReplicaDump } from './history.ts';
import { EMPTY_SEED, seedForLog, type ReplaySeed } from './mark-seed.ts';
import { idOfBody } from './workload.ts';

const READ_BYTES = 8 * 1024 * 1024;
/** A run's log this long would not fit the checker's memory either. */
const ENTRIES_MAX = 20_000_000;

export interface DumpOptions {
  readonly node: string;
  /** The replica's broker group (brokerName); absent for a run of one group. */
  readonly group?: string;
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
  const records: LogRecord[] = [];
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
        if (r.index <= commitIndex && r.index > seed.afterIndex) records.push({ index: r.index, term: r.term, type: r.type, data: Uint8Array.from(r.data) });
      }
      next = batch[batch.length - 1]!.index + 1;
    }
  } finally {
    await log.close();
  }
  const replay = replayLog(records, { node: opts.node, seed, ...(opts.group !== undefined ? { brokerName: opts.group } : {}) });
  const dump = { node: opts.node, ...(opts.group !== undefined ? { group: opts.group } : {}), commitIndex, entries, messages: replay.messages, retriesAnswered: replay.retriesAnswered };
  if (seed.afterIndex === 0) return dump;
  return { ...dump, replayedAfter: seed.afterIndex, queueStarts: queueStartsOf(seed) };
}

function queueStartsOf(seed: ReplaySeed): QueueStart[] {
  return seed.queues.map(([topic, queueId, offset]) => ({ topic, queueId, offset }));
}

export function entryHash(term: number, type: number, data: Uint8Array): string {
  return createHash('sha1').update(`${term}:${type}:`).update(data).digest('hex').slice(0, 16);
}

/** A committed log entry to replay. `term` may be left out (tests): the applied term is kept. */
export interface LogRecord {
  readonly index: number;
  readonly term?: number;
  readonly type: number;
  readonly data: Uint8Array;
}

export interface ReplayOptions {
  /** For error messages. */
  readonly node?: string;
  /** The group's brokerName (only msgIds carry it; default 'chaos'). */
  readonly brokerName?: string;
  /** The state the replay starts from (default: nothing, the log's start). */
  readonly seed?: ReplaySeed;
  /** The broker's test-only planted bugs (tests show the checker finds them). */
  readonly testBugs?: BrokerStateMachineOptions['testBugs'];
}

export interface Replay {
  /** The messages stored, in log order. */
  readonly messages: DumpedMessage[];
  /** sendBatch entries answered from a producer's window: in the log, stored nothing. */
  readonly retriesAnswered: number;
}

/** The messages stored by these committed entries (in log order, contiguous from the seed's
 *  mark + 1, or from index 1), as the broker's state machine stores them. */
export function replayMessages(records: readonly LogRecord[], node = '', seed: ReplaySeed = EMPTY_SEED): DumpedMessage[] {
  return replayLog(records, { node, seed }).messages;
}

/** replayMessages, with the count of retries the producers' windows answered. */
export function replayLog(records: readonly LogRecord[], opts: ReplayOptions = {}): Replay {
  const node = opts.node ?? '';
  const seed = opts.seed ?? EMPTY_SEED;
  const first = records[0]?.index ?? 0;
  // Pulls would read bodies through this; apply reads only the entry it is given.
  const readEntry = (index: number): Uint8Array | undefined => records[index - first]?.data;
  const sm = new BrokerStateMachine({ brokerName: opts.brokerName ?? 'chaos', readEntry, ...(opts.testBugs ? { testBugs: opts.testBugs } : {}) });
  if (seed.afterIndex > 0) {
    if (seed.snapshot === undefined) throw new Error(`${node}: the seed of mark ${seed.afterIndex} has no snapshot to restore`);
    sm.restore(seed.snapshot);
  }
  const out: DumpedMessage[] = [];
  let retriesAnswered = 0;
  for (const r of records) {
    if (r.index !== sm.appliedIndex + 1) throw new Error(`${node}: committed entry ${sm.appliedIndex + 1} is missing (the next one read is ${r.index})`);
    let result;
    try {
      result = sm.apply({ index: r.index, term: r.term ?? sm.appliedTerm, type: r.type, data: r.data });
    } catch (err) {
      throw new Error(`${node}: committed entry ${r.index} does not apply: ${(err as Error).message}`);
    }
    if (result.type !== 'sendResult') continue;
    if (result.duplicate === true) {
      retriesAnswered++;
      continue;
    }
    const cmd = decodeCommand(r.data);
    if (cmd.kind !== 'sendBatch') throw new Error(`${node}: entry ${r.index} is a ${cmd.kind}, yet apply answered with a send result`);
    const { queueId, firstOffset, logIndex } = result.batch;
    if (logIndex !== r.index) throw new Error(`${node}: entry ${r.index} stored its messages under log index ${logIndex}`);
    cmd.messages.forEach((m, slot) => {
      out.push({ id: idOfBody(m.body), ...(m.keys ? { key: m.keys } : {}), topic: cmd.topic, queueId, queueOffset: firstOffset + slot, logIndex });
    });
  }
  return { messages: out, retriesAnswered };
}
