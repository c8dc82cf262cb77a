// Pure parts of the chaos runner: partition geometry (Jepsen's definitions), the message ids in
// bodies, and the offline replay of queue offsets, which must agree with the broker's own apply.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { encodeCommand, type BrokerCommand, BrokerStateMachine } from '../../src/broker/index.ts';
import { replayMessages, bridgeCuts, componentCuts, ringCuts, type Cuts, bodyOf, idOfBody, mistypePeer, staleConfig, wrongGroup } from '../../src/chaos/index.ts';
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
