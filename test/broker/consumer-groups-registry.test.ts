// The consumer-group registry (src/broker/consumer-groups/registry.ts): members come with
// heartbeats and go on silence, a closed connection or an unregister; versions move on every
// change of the member set; limits refuse with OVERLOADED. Time is a plain number the test moves.
import t from 'tap';
import { ConsumerGroupRegistry, type Heartbeat } from '../../src/broker/index.ts';
import { CONSUMER_HEARTBEAT_TIMEOUT_MS } from '../../src/protocol/index.ts';

function setup(over: { groupMemberCountMax?: number; groupCountMax?: number } = {}) {
  const clock = { ms: 1_000 };
  const reg = new ConsumerGroupRegistry({ now: () => clock.ms, instance: 'i1', ...over });
  const gone: string[] = [];
  const changed: string[] = [];
  reg.onMemberGone((g, c) => gone.push(`${g}/${c}`));
  reg.onChange((g) => changed.push(g));
  const hb = (clientId: string, over: Partial<Heartbeat> = {}): Heartbeat => ({
    group: 'g',
    clientId,
    consumeModel: 'CLUSTERING',
    subscriptions: [{ topic: 'orders', expression: '*' }],
    connectionId: 1,
    clientAddr: '127.0.0.1:5000',
    ...over,
  });
  return { clock, reg, gone, changed, hb };
}

t.test('heartbeats add members; the view lists them sorted and its version moves only on a change', async (t) => {
  const { reg, hb, changed } = setup();
  const v1 = reg.heartbeat(hb('c2'));
  t.same(v1.clientIds, ['c2']);
  t.equal(v1.instance, 'i1');
  const v2 = reg.heartbeat(hb('c1'));
  t.same(v2.clientIds, ['c1', 'c2'], 'sorted by client id');
  t.ok(v2.version > v1.version);
  t.equal(reg.heartbeat(hb('c1')).version, v2.version, 'a repeated heartbeat changes nothing');
  const v3 = reg.heartbeat(hb('c1', { subscriptions: [{ topic: 'orders', expression: 'TagA' }] }));
  t.ok(v3.version > v2.version, 'a changed subscription moves the version');
  t.same(changed, ['g', 'g', 'g']);
  t.same(reg.view('other'), { group: 'other', instance: 'i1', version: 0, clientIds: [] }, 'an unknown group: no members, version 0');
});

t.test('a member silent past the heartbeat timeout is dropped by the sweep, one that heartbeats stays', async (t) => {
  const { clock, reg, hb, gone } = setup();
  reg.heartbeat(hb('a'));
  reg.heartbeat(hb('b'));
  clock.ms += CONSUMER_HEARTBEAT_TIMEOUT_MS;
  reg.heartbeat(hb('b'));
  reg.sweep();
  t.same(reg.view('g').clientIds, ['a', 'b'], 'exactly at the timeout: still alive');
  clock.ms += 1;
  reg.sweep();
  t.same(reg.view('g').clientIds, ['b']);
  t.same(gone, ['g/a']);
  clock.ms += CONSUMER_HEARTBEAT_TIMEOUT_MS + 1;
  reg.sweep();
  t.equal(reg.groupCount, 0, 'an empty group is forgotten');
});

t.test('a closed connection drops its members at once, in every group; a member that moved to another connection stays', async (t) => {
  const { reg, hb, gone } = setup();
  reg.heartbeat(hb('a', { connectionId: 1 }));
  reg.heartbeat(hb('a', { group: 'h', connectionId: 1 }));
  reg.heartbeat(hb('b', { connectionId: 1 }));
  reg.heartbeat(hb('b', { connectionId: 2 }));
  reg.connectionClosed(1);
  t.same(reg.view('g').clientIds, ['b']);
  t.same(reg.view('h').clientIds, []);
  t.same(gone.sort(), ['g/a', 'h/a']);
  reg.connectionClosed(2);
  t.same(reg.view('g').clientIds, []);
});

t.test('unregister drops the member and tells the listeners; an unknown one is false', async (t) => {
  const { reg, hb, gone } = setup();
  const before = reg.heartbeat(hb('a')).version;
  t.equal(reg.unregister('g', 'a'), true);
  t.equal(reg.unregister('g', 'a'), false);
  t.same(gone, ['g/a']);
  const again = reg.heartbeat(hb('a'));
  t.ok(again.version > before, 'a group emptied and joined again never repeats a version');
});

t.test('clear forgets every member under a new instance, without member-gone events', async (t) => {
  const reg = new ConsumerGroupRegistry({ now: () => 0 });
  const gone: string[] = [];
  reg.onMemberGone((g, c) => gone.push(`${g}/${c}`));
  reg.heartbeat({ group: 'g', clientId: 'a', consumeModel: 'BROADCASTING', subscriptions: [], connectionId: 1, clientAddr: 'x' });
  const first = reg.instance;
  reg.clear();
  t.not(reg.instance, first, 'a new instance: clients see the numbering started again');
  t.same(reg.view('g').clientIds, []);
  t.same(gone, []);
});

t.test('limits: members per group and groups per broker are refused with OVERLOADED; existing members still heartbeat', async (t) => {
  const { reg, hb } = setup({ groupMemberCountMax: 2, groupCountMax: 2 });
  reg.heartbeat(hb('a'));
  reg.heartbeat(hb('b'));
  t.throws(() => reg.heartbeat(hb('c')), { name: 'RaftmqError', code: 'OVERLOADED', message: /has 2 members/ });
  t.same(reg.heartbeat(hb('a')).clientIds, ['a', 'b']);
  reg.heartbeat(hb('a', { group: 'h' }));
  t.throws(() => reg.heartbeat(hb('a', { group: 'k' })), { name: 'RaftmqError', code: 'OVERLOADED', message: /2 consumer groups/ });
  t.equal(reg.groupCount, 2);
});

t.test('members() carries what each member declared', async (t) => {
  const { reg, hb, clock } = setup();
  reg.heartbeat(hb('b', { consumeModel: 'BROADCASTING', clientAddr: '10.0.0.2:1' }));
  clock.ms = 2_000;
  reg.heartbeat(hb('a'));
  t.match(reg.members('g'), [
    { clientId: 'a', consumeModel: 'CLUSTERING', lastHeartbeatMs: 2_000 },
    { clientId: 'b', consumeModel: 'BROADCASTING', clientAddr: '10.0.0.2:1', lastHeartbeatMs: 1_000 },
  ]);
});

t.test('the members gauge shows each group\'s live members', async (t) => {
  const { BrokerMetrics } = await import('../../src/broker/index.ts');
  const { parsePrometheusText, sumOf } = await import('../../src/metrics/index.ts');
  const { reg, hb } = setup();
  reg.heartbeat(hb('a'));
  reg.heartbeat(hb('b'));
  reg.heartbeat(hb('a', { group: 'h' }));
  t.same(reg.memberCounts(1).length, 1, 'bounded');
  const m = new BrokerMetrics();
  const none = () => 0;
  m.useSources({
    raftStatus: () => ({ id: 'n0', role: 0, term: 1, vote: '', leaderId: '', commit: 0, applied: 0, lastIndex: 0, leaderCommit: 0, recovering: false, progress: {}, transferee: '', conf: { voters: [], learners: [] }, pendingConfIndex: 0 }) as never,
    appliedIndex: none, logBytesAfter: none, logStats: () => ({ bytesWritten: 0, segmentCount: 0, segmentBytes: 0 }), storeDir: '.', clientConnections: none, peerConnections: none,
    consumerLags: () => [], keyIndexEntries: none, logFirstIndex: none, retainedFrom: none,
    consumerGroupMembers: (max) => reg.memberCounts(max),
  });
  const s = parsePrometheusText(await m.registry.metrics());
  t.equal(sumOf(s, 'raftmq_broker_consumer_group_members', { group: 'g' }), 2);
  t.equal(sumOf(s, 'raftmq_broker_consumer_group_members', { group: 'h' }), 1);
});
