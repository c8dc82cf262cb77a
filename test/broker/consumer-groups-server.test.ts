// Consumer groups through a real BrokerServer in-process (fake replica, in-memory state machine):
// heartbeat, unregisterClient and the consumerList long poll on the master, NOT_MASTER on a slave,
// the registry forgotten when the master role is lost, and bad input refused with BAD_REQUEST.
import t, { type Test } from 'tap';
import { BrokerServer } from '../../src/broker/index.ts';
import { Role } from '../../src/raft/index.ts';
import { SUBSCRIPTION_COUNT_MAX } from '../../src/protocol/index.ts';
import { Harness, serveAnswering, testServerOptions } from './harness.ts';

interface ReplicaState {
  role: Role;
  term: number;
  leaderId: string;
}

function fakeReplica(state: ReplicaState) {
  return {
    get role() {
      return { role: state.role, leaderId: state.leaderId, term: state.term };
    },
    readStaleness: () => null,
    get leaderReady() {
      return state.role === Role.Leader;
    },
    whenLeaderReady: async () => state.role === Role.Leader,
    status: () => ({ id: 'n1', role: state.role, term: state.term, vote: '', leaderId: state.leaderId, commit: 9, applied: 9, lastIndex: 9, leaderCommit: 9, recovering: false, progress: {}, transferee: '', conf: { voters: ['n0', 'n1', 'n2'], learners: [] }, pendingConfIndex: 0 }),
    propose: async () => ({ type: 'ok' }),
    transferLeadership: () => undefined,
  };
}

async function serve(t: Test, state: ReplicaState) {
  const h = new Harness();
  const server = new BrokerServer(testServerOptions(h.sm, fakeReplica(state), { clientAddrOf: (id) => (id === 'n0' ? '127.0.0.1:9' : '') }));
  const { connect, conns } = await serveAnswering(t, server);
  return { server, connect, conns };
}

const hb = (clientId: string, extra: object = {}) => ({ type: 'heartbeat', group: 'billing', clientId, consumeModel: 'CLUSTERING', subscriptions: [{ topic: 'orders', expression: 'TagA || TagB' }], ...extra });

t.test('members heartbeat, a consumerList long poll is answered when the set changes, a closed connection drops its member at once', async (t) => {
  const { connect, conns } = await serve(t, { role: Role.Leader, term: 3, leaderId: 'n1' });
  const a = connect();
  const b = connect();
  const watcher = connect();
  const first = await a(hb('10.0.0.1@a'));
  t.match(first, { type: 'consumerGroup', view: { group: 'billing', clientIds: ['10.0.0.1@a'] } });
  const view = first.view as { instance: string; version: number };
  const poll = watcher({ type: 'consumerList', group: 'billing', knownInstance: view.instance, knownVersion: view.version, waitMs: 30_000 });
  await watcher({ type: 'status' }); // answered after the poll was handled: it is parked now
  const joined = await b(hb('10.0.0.2@b'));
  t.same((joined.view as { clientIds: string[] }).clientIds, ['10.0.0.1@a', '10.0.0.2@b']);
  const woke = await poll;
  t.same((woke.view as { clientIds: string[] }).clientIds, ['10.0.0.1@a', '10.0.0.2@b'], 'the parked poll got the new set');
  const v2 = woke.view as { instance: string; version: number };
  const poll2 = watcher({ type: 'consumerList', group: 'billing', knownInstance: v2.instance, knownVersion: v2.version, waitMs: 30_000 });
  await watcher({ type: 'status' });
  await conns[1]!.close();
  const afterClose = await poll2;
  t.same((afterClose.view as { clientIds: string[] }).clientIds, ['10.0.0.1@a'], 'b\'s connection closed: dropped without waiting for the heartbeat timeout');
  t.match(await a({ type: 'unregisterClient', group: 'billing', clientId: '10.0.0.1@a' }), { type: 'ok' });
  t.match(await watcher({ type: 'consumerList', group: 'billing' }), { type: 'consumerGroup', view: { clientIds: [] } });
});

t.test('consumerList: a stale view is answered at once, a current one after waitMs; withConnections carries the subscriptions', async (t) => {
  const { connect } = await serve(t, { role: Role.Leader, term: 3, leaderId: 'n1' });
  const a = connect();
  const v = (await a(hb('c1'))).view as { instance: string; version: number };
  t.match(await a({ type: 'consumerList', group: 'billing', knownInstance: 'other', knownVersion: v.version, waitMs: 30_000 }), { view: { clientIds: ['c1'] } }, 'another instance: at once');
  t.match(await a({ type: 'consumerList', group: 'billing', knownInstance: v.instance, knownVersion: v.version, waitMs: 20 }), { view: { version: v.version } }, 'nothing changed: answered after the wait');
  const detail = await a({ type: 'consumerList', group: 'billing', withConnections: true });
  t.match(detail, { view: { connections: [{ clientId: 'c1', consumeModel: 'CLUSTERING', subscriptions: [{ topic: 'orders', expression: 'TagA || TagB' }], clientAddr: /^127\.0\.0\.1:\d+$/ }] } });
  t.notOk('connections' in ((await a({ type: 'consumerList', group: 'billing' })).view as object), 'not asked: not sent');
});

t.test('a slave answers the group requests with NOT_MASTER naming the master', async (t) => {
  const { connect } = await serve(t, { role: Role.Follower, term: 3, leaderId: 'n0' });
  const a = connect();
  for (const frame of [hb('c1'), { type: 'unregisterClient', group: 'billing', clientId: 'c1' }, { type: 'consumerList', group: 'billing' }]) {
    t.match(await a(frame), { type: 'error', code: 'NOT_MASTER', masterAddr: '127.0.0.1:9' }, frame.type);
  }
});

t.test('losing the master role answers parked polls NOT_MASTER and forgets the members; a new term starts a new instance', async (t) => {
  const state = { role: Role.Leader, term: 3, leaderId: 'n1' };
  const { server, connect } = await serve(t, state);
  const a = connect();
  const v = (await a(hb('c1'))).view as { instance: string; version: number };
  const poll = a({ type: 'consumerList', group: 'billing', knownInstance: v.instance, knownVersion: v.version, waitMs: 30_000 });
  await a({ type: 'status' }); // the poll is parked once a later request on the connection is answered
  Object.assign(state, { role: Role.Follower, leaderId: 'n0' });
  server.groups.sweep();
  t.match(await poll, { type: 'error', code: 'NOT_MASTER' });
  t.same(server.groups.registry.view('billing').clientIds, []);
  Object.assign(state, { role: Role.Leader, term: 5, leaderId: 'n1' });
  const again = (await a(hb('c1'))).view as { instance: string; clientIds: string[] };
  t.not(again.instance, v.instance, 'a new instance: the client tells the numbering apart');
  t.same(again.clientIds, ['c1']);
});

t.test('bad heartbeats and polls are refused with BAD_REQUEST naming the field', async (t) => {
  const { connect } = await serve(t, { role: Role.Leader, term: 3, leaderId: 'n1' });
  const a = connect();
  const cases: [object, RegExp][] = [
    [hb('bad id!'), /clientId/],
    [hb('c1', { group: 'a b' }), /group/],
    [hb('c1', { consumeModel: 'PUSH' }), /consumeModel/],
    [hb('c1', { subscriptions: 'orders' }), /subscriptions/],
    [hb('c1', { subscriptions: Array.from({ length: SUBSCRIPTION_COUNT_MAX + 1 }, () => ({ topic: 'orders', expression: '*' })) }), /at most/],
    [hb('c1', { subscriptions: [{ topic: 'no spaces', expression: '*' }] }), /topic/],
    [hb('c1', { subscriptions: [{ topic: 'orders', expression: 'x'.repeat(2000) }] }), /expression/],
    [{ type: 'consumerList', group: 'billing', knownVersion: 'one' }, /knownVersion/],
  ];
  for (const [frame, why] of cases) t.match(await a(frame), { type: 'error', code: 'BAD_REQUEST', message: why }, why.source);
  t.match(await a(hb('c1')), { type: 'consumerGroup' }, 'the connection still works');
});

t.test('the service parks at most parkedMax polls (one more is answered at once) and forgets a closed connection\'s polls', async (t) => {
  const { ConsumerGroupService } = await import('../../src/broker/index.ts');
  const fakeConn = (id: number) => {
    const listeners: (() => void)[] = [];
    return { id, remoteAddress: `127.0.0.1:${id}`, closed: false, onClose: (fn: () => void) => void listeners.push(fn), close() { this.closed = true; for (const l of listeners) l(); } };
  };
  const service = new ConsumerGroupService({ replica: fakeReplica({ role: Role.Leader, term: 1, leaderId: 'n1' }), nodeId: 'n1', notMaster: () => new Error('not master'), parkedMax: 1 });
  const c1 = fakeConn(1);
  const c2 = fakeConn(2);
  const view = service.registry.view('g');
  const answers: string[] = [];
  const poll = (conn: ReturnType<typeof fakeConn>, name: string) =>
    service.consumerList({ type: 'consumerList', id: 1, group: 'g', knownInstance: view.instance, knownVersion: view.version, waitMs: 30_000 }, conn as never, () => answers.push(name));
  poll(c1, 'first');
  poll(c2, 'second');
  t.same(answers, ['second'], 'over the limit: answered at once');
  t.equal(service.parkedLists, 1);
  c1.close();
  t.equal(service.parkedLists, 0, 'the closed connection\'s poll is dropped, its timer cleared');
  t.same(answers, ['second'], 'and not answered');
  service.stop();
});
