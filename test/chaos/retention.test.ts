// The chaos runner under retention: a dump replayed from a retention mark's snapshot gives the
// queue offsets apply gave (dump.ts, mark-seed.ts), and the checker counts an acknowledged message
// below what the final log covers as expired by retention, while one above it that is missing is
// still lost (checker.ts, coverage.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { encodeCommand, MarkStore, type BrokerCommand, BrokerStateMachine, type MarkSnapshot } from '../../src/broker/index.ts';
import {
  bodyOf,
  checkHistory,
  idOfBody,
  replayMessages,
  retentionConfig,
  seedForLog,
  seedFromSnapshot,
  snapshotsInstalled,
  type DumpedMessage,
  type HistoryEvent,
  type ReplicaDump,
  type SendEvent,
} from '../../src/chaos/index.ts';
import { Prng } from '../../src/raft/index.ts';

// ---------------------------------------------------------------------------------------------
// Builders (as in checker.test.ts)

function ack(client: string, id: string, at: number, q: number, o: number): HistoryEvent[] {
  const base = { client, id, topic: 'T' };
  const invoke: SendEvent = { ...base, t: at, wall: at, op: 'send', type: 'invoke' };
  const ok: SendEvent = { ...base, t: at + 5, wall: at + 5, op: 'send', type: 'ok', latencyMs: 5, queueId: q, queueOffset: o };
  return [invoke, ok];
}

/** A dump of the entries from `first` to `last` whose messages were replayed after `mark`, every
 *  queue of `starts` covered from its offset there. */
function markDump(node: string, first: number, last: number, mark: number, starts: Record<number, number>, messages: DumpedMessage[]): ReplicaDump {
  const entries = [];
  for (let index = first; index <= last; index++) entries.push({ index, term: 1, hash: `h${index}` });
  return {
    node,
    commitIndex: last,
    entries,
    messages: messages.filter((m) => m.logIndex > mark),
    replayedAfter: mark,
    queueStarts: Object.entries(starts).map(([q, offset]) => ({ topic: 'T', queueId: Number(q), offset })),
  };
}

const msg = (id: string, q: number, o: number, logIndex: number): DumpedMessage => ({ id, topic: 'T', queueId: q, queueOffset: o, logIndex });

// Queue 0: a@0 (entry 1), b@1 (2), c@2 (4); queue 1: d@0 (5). The mark at 3 cut everything up to
// it: queue 0 is covered from 2, queue 1 (empty at the mark) from 0.
const history: HistoryEvent[] = [...ack('p0', 'a', 0, 0, 0), ...ack('p0', 'b', 10, 0, 1), ...ack('p0', 'c', 20, 0, 2), ...ack('p1', 'd', 30, 1, 0)];
const all = [msg('a', 0, 0, 1), msg('b', 0, 1, 2), msg('c', 0, 2, 4), msg('d', 1, 0, 5)];

t.test('an acknowledged message below what the final log covers expired by retention; it is not lost', async (t) => {
  const dumps = ['n0', 'n1', 'n2'].map((n) => markDump(n, 2, 5, 3, { 0: 2 }, all));
  const receiveA: HistoryEvent = { t: 40, wall: 40, client: 'c0', op: 'receive', type: 'ok', id: 'a', topic: 'T', queueId: 0, queueOffset: 0 };
  const r = checkHistory([...history, receiveA], dumps);
  t.ok(r.ok, 'the check passes');
  t.equal(r.lost.count, 0, 'nothing lost');
  t.equal(r.expiredByRetention.count, 1, 'b expired (a was received, so it is neither)');
  t.match(r.expiredByRetention.examples[0], { id: 'b', queueId: 0, queueOffset: 1 });
  t.equal(r.misplaced.count, 0, 'acks below the covered offsets are not checked against the dump');
  t.equal(r.reordered.count, 0);
  t.equal(r.divergent.count, 0);
  t.same(r.dumpStarts[0], { node: 'n0', replayedAfter: 3, queues: [{ topic: 'T', queueId: 0, offset: 2 }] });

  // Without the coverage (a dump that claims to start at offset 0), b is lost.
  const claimsAll = dumps.map((d) => ({ ...d, queueStarts: [] }));
  t.equal(checkHistory(history, claimsAll).lost.count, 2, 'a and b lost when the dump says it covers queue 0 from 0');
});

t.test('a message at or above the covered offset that no replica stores is lost (planted)', async (t) => {
  const withoutC = all.filter((m) => m.id !== 'c');
  const withoutD = all.filter((m) => m.id !== 'd');
  for (const [name, messages, missing] of [['c', withoutC, 'c'], ['d (a queue the mark did not list)', withoutD, 'd']] as const) {
    const dumps = ['n0', 'n1', 'n2'].map((n) => markDump(n, 2, 5, 3, { 0: 2 }, [...messages]));
    const r = checkHistory(history, dumps);
    t.notOk(r.ok, `${name}: the check fails`);
    t.equal(r.lost.count, 1, `${name}: lost`);
    t.equal(r.lost.examples[0]?.id, missing);
    t.equal(r.expiredByRetention.count, 2, `${name}: a and b expired`);
  }
  // The reference is the dump with the highest commit index: its coverage counts.
  const behind = markDump('n1', 1, 4, 0, {}, all);
  const r = checkHistory(history, [markDump('n0', 2, 5, 3, { 0: 2 }, withoutC), behind]);
  t.equal(r.lost.count, 0, 'c is stored on n1');
  t.equal(r.expiredByRetention.count, 0, 'a and b are stored on n1');
});

t.test('dumps starting at different marks agree on the common range; a wrong seed is caught', async (t) => {
  const full = markDump('n0', 1, 5, 0, {}, all);
  const fromMark = markDump('n1', 4, 5, 3, { 0: 2 }, all);
  const r = checkHistory(history, [full, fromMark]);
  t.equal(r.divergent.count, 0, 'a log from 1 and one restarted after the mark at 3 agree');
  t.equal(r.misplaced.count, 0);
  // A replay seeded one offset too low stores c at 1 on n1: the messages differ.
  const offByOne = { ...fromMark, messages: fromMark.messages.map((m) => (m.id === 'c' ? { ...m, queueOffset: 1 } : m)) };
  t.match(checkHistory(history, [full, offByOne]).divergent.examples[0], { what: 'messages', index: 4 });
  // As the reference (it commits more), its wrong offsets contradict the acks.
  const ahead = { ...offByOne, commitIndex: 6, entries: [...offByOne.entries, { index: 6, term: 1, hash: 'h6' }] };
  const r2 = checkHistory(history, [ahead]);
  t.equal(r2.misplaced.count, 1, 'b acked at 0/1, n1 stores c there');
});

// ---------------------------------------------------------------------------------------------
// The replay from a mark against the state machine's own apply

t.test('replaying the log after a mark from its snapshot gives the queue offsets apply gave', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-chaos-mark-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sm = await BrokerStateMachine.open(path.join(dir, 'state'), { brokerName: 'b', autoCreateTopicEnable: true, defaultTopicQueueNums: 2, readEntry: () => undefined });
  t.teardown(() => sm.close({ checkpoint: false }));
  const marks = MarkStore.open(path.join(dir, 'snapshots'));
  const seen: MarkSnapshot[] = [];
  sm.onMark((m) => {
    seen.push(m);
    marks.put(m);
  });
  const prng = new Prng(11);
  const records: { index: number; type: number; data: Uint8Array }[] = [];
  const expected: DumpedMessage[] = [];
  let seq = 0;
  let lastMark = 0;
  for (let index = 1; index <= 600; index++) {
    const roll = prng.intBelow(20);
    let type = 0;
    let cmd: BrokerCommand | null = null;
    const topic = ['a', 'b', 'c'][prng.intBelow(3)]!;
    if (roll === 0) type = 1;
    else if (roll === 1) cmd = { kind: 'createTopic', topic, queues: 1 + prng.intBelow(6) };
    else if (roll === 2) cmd = { kind: 'retain', cutAt: prng.intBelow(2) === 0 ? lastMark : 0, atMs: index };
    else {
      const messages = Array.from({ length: 1 + prng.intBelow(3) }, () => ({ body: bodyOf(`p0-${String(seq++).padStart(6, '0')}`) }));
      cmd = { kind: 'sendBatch', topic, queueId: prng.intBelow(5), storeTimestamp: 1, autoCreateQueues: prng.intBelow(2) === 0 ? 0 : 3, messages };
    }
    const data = cmd ? encodeCommand(cmd) : new Uint8Array(0);
    records.push({ index, type, data });
    const before = seen.length;
    const result = sm.apply({ index, term: 1, type, data });
    if (seen.length > before) lastMark = index;
    if (result.type === 'sendResult' && cmd?.kind === 'sendBatch') {
      result.results.forEach((r, i) => expected.push({ id: idOfBody(cmd.messages[i]!.body), topic: cmd.topic, queueId: r.queueId, queueOffset: r.queueOffset, logIndex: r.logIndex }));
    }
  }
  t.ok(seen.length >= 10, `${seen.length} marks`);
  const strip = (list: readonly DumpedMessage[]) => list.map((m) => ({ id: m.id, topic: m.topic, queueId: m.queueId, queueOffset: m.queueOffset, logIndex: m.logIndex }));
  let nonZero = 0;
  for (const mark of seen) {
    const seed = seedFromSnapshot(mark.bytes, mark.index);
    nonZero += seed.queues.filter(([, , o]) => o > 0).length;
    const replayed = replayMessages(records.filter((r) => r.index > mark.index), 'n0', seed);
    t.same(strip(replayed), expected.filter((m) => m.logIndex > mark.index), `after the mark at ${mark.index}`);
  }
  t.ok(nonZero > 0, 'the marks start queues above 0');

  // From the files: the smallest mark at or after first index - 1.
  const m = seen[3]!.index;
  t.equal(seedForLog(dir, m + 1).afterIndex, m, 'a log restarted after a mark starts at it');
  t.equal(seedForLog(dir, seen[2]!.index + 2).afterIndex, m, 'a log starting inside the span before a mark starts at that mark');
  t.equal(seedForLog(dir, 1).afterIndex, 0, 'a log from 1 is replayed from its start');
  marks.deleteBelow(seen.at(-1)!.index + 1);
  t.throws(() => seedForLog(dir, m + 1, 'n0'), /no mark snapshot is at or after/, 'no usable mark: the dump cannot give offsets');
});

t.test('retention broker.conf keys and the snapshot-install count', async (t) => {
  const c = retentionConfig(20);
  t.equal(c.mappedFileSizeCommitLog, '1048576');
  t.equal(Number(c.fileReservedTime) * 3600, 20);
  t.equal(c.deleteWhen!.split(';').length, 24);
  t.throws(() => retentionConfig(0));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-chaos-logs-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  t.equal(snapshotsInstalled(dir), 0, 'no logs');
  fs.mkdirSync(path.join(dir, 'logs'));
  const line = (msg: string) => `${JSON.stringify({ level: 30, msg })}\n`;
  fs.writeFileSync(path.join(dir, 'logs', 'broker.1.log'), line('installed a snapshot from the master: the log now starts after it') + line('x'));
  fs.writeFileSync(path.join(dir, 'logs', 'broker.2.log'), line('installed a snapshot from the master: the log now starts after it'));
  fs.symlinkSync('broker.2.log', path.join(dir, 'logs', 'broker.log'));
  t.equal(snapshotsInstalled(dir), 2, 'counted once per rotated file, the link not again');
});
