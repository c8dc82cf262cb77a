// Pure parts of the chaos runner: partition geometry (Jepsen's definitions), the message ids in
// bodies, and the offline replay through the broker's state machine, which must give what the
// broker's own apply gave: queue offsets, and nothing for a retry an idempotent producer's window
// answered.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { encodeCommand, encodeSnapshot, type BrokerCommand, BrokerStateMachine } from '../../src/broker/index.ts';
import { checkHistory, replayLog, replayMessages, seedFromSnapshot, type DumpedMessage, type HistoryEvent, type ReplicaDump, bridgeCuts, componentCuts, ringCuts, type Cuts, bodyOf, idOfBody, mistypePeer, staleConfig, wrongGroup } from '../../src/chaos/index.ts';
import { Prng } from '../../src/raft/index.ts';

/** Who node a can hear from (itself included). */
function sees(cuts: Cuts, ids: readonly string[], a: string): string[] {
  return ids.filter((b) => !cuts.get(a)!.has(b));
}

function symmetric(t: Test, cuts: Cuts): void {
  for (const [a, cut] of cuts) for (const b of cut) t.ok(cuts.get(b)!.has(a), `${a} cut from ${b} both ways`);
}

t.test('componentCuts: nodes hear only their own component', async (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3', 'n4'];
  const cuts = componentCuts([['n0', 'n3'], ['n1', 'n2', 'n4']]);
  t.same(sees(cuts, ids, 'n0'), ['n0', 'n3']);
  t.same(sees(cuts, ids, 'n4'), ['n1', 'n2', 'n4']);
  symmetric(t, cuts);
});

t.test('ringCuts on 5 nodes: each sees a majority, no two the same one', async (t) => {
  const ring = ['n3', 'n0', 'n4', 'n1', 'n2'];
  const { cuts } = ringCuts(ring);
  const views = ring.map((id) => sees(cuts, ring, id).sort().join(','));
  for (const v of views) t.equal(v.split(',').length, 3, `${v} is a majority of 5`);
  t.equal(new Set(views).size, 5, 'five different majorities');
  t.same(sees(cuts, ring, 'n0').sort(), ['n0', 'n3', 'n4'], 'n0 sees its ring neighbours');
  symmetric(t, cuts);
});

t.test('bridgeCuts on 5 nodes: two halves, one node reaching both', async (t) => {
  const order = ['n2', 'n4', 'n0', 'n1', 'n3'];
  const { cuts, detail } = bridgeCuts(order);
  t.same(sees(cuts, order, 'n0'), order, 'the bridge sees everyone');
  t.same(sees(cuts, order, 'n2').sort(), ['n0', 'n2', 'n4']);
  t.same(sees(cuts, order, 'n3').sort(), ['n0', 'n1', 'n3']);
  t.match(detail, /bridge n0/);
  symmetric(t, cuts);
});

t.test('message ids round-trip through bodies; foreign bodies have none', async (t) => {
  t.equal(idOfBody(bodyOf('p3-000042')), 'p3-000042');
  t.equal(idOfBody(Buffer.from('hello world')), '');
  t.equal(idOfBody(Buffer.from('p1-12')), 'p1-12');
});

t.test('replayMessages gives the queue offsets the state machine gives', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-chaos-replay-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sm = await BrokerStateMachine.open(path.join(dir, 'state'), { brokerName: 'b', autoCreateTopicEnable: true, defaultTopicQueueNums: 2, readEntry: () => undefined });
  t.teardown(() => sm.close({ checkpoint: false }));
  const prng = new Prng(7);
  const records: { index: number; type: number; data: Uint8Array }[] = [];
  const expected: { id: string; topic: string; queueId: number; queueOffset: number; logIndex: number }[] = [];
  let seq = 0;
  for (let index = 1; index <= 400; index++) {
    const roll = prng.intBelow(10);
    let type = 0;
    let cmd: BrokerCommand | null = null;
    const topic = ['a', 'b', 'c'][prng.intBelow(3)]!;
    if (roll === 0) type = 1; // the Raft no-op of a new term
    else if (roll === 1) cmd = { kind: 'createTopic', topic, queues: 1 + prng.intBelow(6) };
    else {
      // Queue ids beyond the topic's count are refused at apply; auto-create only sometimes.
      const messages = Array.from({ length: 1 + prng.intBelow(3) }, () => ({ body: bodyOf(`p0-${String(seq++).padStart(6, '0')}`) }));
      cmd = { kind: 'sendBatch', topic, queueId: prng.intBelow(5), storeTimestamp: 1, autoCreateQueues: prng.intBelow(2) === 0 ? 0 : 3, messages };
    }
    const data = cmd ? encodeCommand(cmd) : new Uint8Array(0);
    records.push({ index, type, data });
    const result = sm.apply({ index, term: 1, type, data });
    if (result.type === 'sendResult' && cmd?.kind === 'sendBatch') {
      result.results.forEach((r, i) => expected.push({ id: idOfBody(cmd.messages[i]!.body), topic: cmd.topic, queueId: r.queueId, queueOffset: r.queueOffset, logIndex: r.logIndex }));
    }
  }
  const replayed = replayMessages(records).map((m) => ({ id: m.id, topic: m.topic, queueId: m.queueId, queueOffset: m.queueOffset, logIndex: m.logIndex }));
  t.ok(expected.length > 100, `${expected.length} messages stored`);
  t.same(replayed, expected, 'same messages, queues and offsets as apply');
});

t.test('operator-mistake faults: a mistyped peer port and another group name, each in a copy of broker.conf', async (t) => {
  const conf = 'brokerName=broker-a\ndLegerGroup=broker-a\ndLegerPeers=n0-10.0.0.1:40911;n1-10.0.0.2:40911;n2-10.0.0.3:40911\ndLegerSelfId=n2\n';
  t.equal(mistypePeer(conf, 'n1'), conf.replace('n1-10.0.0.2:40911', 'n1-10.0.0.2:41911'), 'only that peer\'s port changes');
  t.equal(mistypePeer(conf, 'n0'), conf.replace('n0-10.0.0.1:40911', 'n0-10.0.0.1:41911'));
  t.match(wrongGroup(conf), /\ndLegerGroup=some-other-group$/);
  t.notMatch(wrongGroup(conf), /dLegerGroup=broker-a/);
  const five = 'dLegerPeers=n0-h:1;n1-h:2;n2-h:3;n3-h:4;n4-h:5\nclientPeers=n0-h:11;n1-h:12;n2-h:13;n3-h:14;n4-h:15\ndLegerSelfId=n3\npreferredLeaderId=n1\n';
  t.equal(staleConfig(five, ['n3', 'n0', 'n4']), 'dLegerPeers=n0-h:1;n3-h:4;n4-h:5\nclientPeers=n0-h:11;n3-h:14;n4-h:15\ndLegerSelfId=n3\n', 'a stale list: only the kept replicas, in both lists; a preferred leader not among them is gone');
  t.match(staleConfig(five, ['n3', 'n1']), /preferredLeaderId=n1/, 'one among them stays');
});

t.test('the replay stores what the state machine stored: a retry its window answered is in the log only', async (t) => {
  const batch = (ids: string[], producer?: { producerId: string; seq: number }): BrokerCommand => ({
    kind: 'sendBatch',
    topic: 'T',
    queueId: 0,
    storeTimestamp: 1,
    autoCreateQueues: 0,
    messages: ids.map((id) => ({ body: bodyOf(id) })),
    ...producer,
  });
  const log: BrokerCommand[] = [
    { kind: 'createTopic', topic: 'T', queues: 1 },
    batch(['p0-000000', 'p0-000001'], { producerId: 'prod-1', seq: 0 }),
    batch(['p0-000002'], { producerId: 'prod-1', seq: 2 }),
    batch(['p0-000000', 'p0-000001'], { producerId: 'prod-1', seq: 0 }), // a retry of entry 2
    batch(['p1-000000']),
    batch(['p1-000000']), // a retry without idempotence: stored again
  ];
  const records = log.map((cmd, i) => ({ index: i + 1, term: 1, type: 0, data: encodeCommand(cmd) }));
  const replay = replayLog(records, { node: 'n0' });
  t.same(
    replay.messages.map((m) => `${m.id}@${m.queueOffset}#${m.logIndex}`),
    ['p0-000000@0#2', 'p0-000001@1#2', 'p0-000002@2#3', 'p1-000000@3#5', 'p1-000000@4#6'],
    'the idempotent retry stored nothing; the plain one was stored again',
  );
  t.equal(replay.retriesAnswered, 1);
  t.throws(() => replayLog(records.slice(1), { node: 'n0' }), /committed entry 1 is missing/, 'a replay needs every entry from its start');
});

// The planted broker bug (its test-only 'producer-windows-forgotten-on-restore'): a replica
// restored from a snapshot forgets the windows and stores a retry again. Its dump, replayed
// through its own state machine, disagrees with a healthy replica's, and the checker says so.
t.test('a state machine that forgets the producer windows on restore is found by the checker', async (t) => {
  const send = (id: string, seq: number): BrokerCommand => ({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 0, messages: [{ body: bodyOf(id) }], producerId: 'prod-1', seq });
  const log: BrokerCommand[] = [{ kind: 'createTopic', topic: 'T', queues: 1 }, send('p0-000000', 0), send('p0-000001', 1), send('p0-000000', 0), send('p0-000002', 2)];
  const records = log.map((cmd, i) => ({ index: i + 1, term: 1, type: 0, data: encodeCommand(cmd) }));
  // The snapshot at entry 3 (as a mark gives it): the window holds seq 0 and 1.
  const sm = new BrokerStateMachine({ brokerName: 'b', readEntry: () => undefined });
  for (const r of records.slice(0, 3)) sm.apply(r);
  const seed = seedFromSnapshot(encodeSnapshot(sm.markSnapshot()), 3);
  const after = records.slice(3);
  const healthy = replayLog(after, { node: 'n1', seed });
  t.same(healthy.messages.map((m) => m.id), ['p0-000002'], 'the retry at 4 is answered from the restored window');
  const bugged = replayLog(after, { node: 'n1', seed, testBugs: new Set(['producer-windows-forgotten-on-restore']) });
  t.same(bugged.messages.map((m) => m.id), ['p0-000000', 'p0-000002'], 'the forgetful one stores it again');

  const full = replayLog(records, { node: 'n0' });
  const entries = records.map((r) => ({ index: r.index, term: 1, hash: `h${r.index}` }));
  const dumpOf = (node: string, messages: DumpedMessage[], from: number): ReplicaDump => ({ node, commitIndex: 5, entries: entries.slice(from), messages, ...(from > 0 ? { replayedAfter: from, queueStarts: [{ topic: 'T', queueId: 0, offset: 2 }] } : {}) });
  const history = ['p0-000000', 'p0-000001', 'p0-000002'].flatMap((id, i): HistoryEvent[] => [
    { t: i * 10, wall: i * 10, client: 'p0', op: 'send', type: 'invoke', id, topic: 'T' },
    { t: i * 10 + 5, wall: i * 10 + 5, client: 'p0', op: 'send', type: 'ok', id, topic: 'T', queueId: 0, queueOffset: i },
  ]);
  const ok = checkHistory(history, [dumpOf('n0', full.messages, 0), dumpOf('n1', healthy.messages, 3)], { idempotentProducers: true });
  t.ok(ok.ok, 'healthy replicas agree');
  const found = checkHistory(history, [dumpOf('n0', full.messages, 0), dumpOf('n1', bugged.messages, 3)], { idempotentProducers: true });
  t.notOk(found.ok, 'the bug fails the check');
  t.match(found.divergent.examples[0], { a: 'n0', b: 'n1', index: 4, what: 'messages' });
});
