// Queue locks through a real BrokerServer in-process (the Raft core faked: proposals apply at once
// on a real state machine): lockQueues grants a free queue and refuses one another member holds,
// a renewal right after a lock is answered without a proposal, unlockQueues releases only the
// caller's locks, a member that unregisters or whose connection closes loses its locks, a master
// restored from a snapshot (a failover) keeps them, a slave sends the client to the master, and
// bad input is refused.
import t, { type Test } from 'tap';
import { BrokerServer, BrokerStateMachine, decodeSnapshot, encodeSnapshot, type ApplyResult } from '../../src/broker/index.ts';
import { LOCK_BATCH_QUEUE_COUNT_MAX } from '../../src/protocol/index.ts';
import { Role } from '../../src/raft/index.ts';
import { FakeLog, serveAnswering, testServerOptions } from './harness.ts';

interface ReplicaState {
  role: Role;
  proposals: number;
}

/** A replica whose proposals, while it is the master, are appended to `log` and applied at once. */
function fakeReplica(log: FakeLog, sm: () => BrokerStateMachine, state: ReplicaState) {
  return {
    get role() {
      return { role: state.role, leaderId: state.role === Role.Leader ? 'n1' : 'n0', term: 3 };
    },
    readStaleness: () => null,
    get leaderReady() {
      return state.role === Role.Leader;
    },
    whenLeaderReady: async () => state.role === Role.Leader,
    status: () => ({ id: 'n1', role: state.role, term: 3, vote: '', leaderId: 'n1', commit: 9, applied: 9, lastIndex: 9, leaderCommit: 9, recovering: false, progress: {}, transferee: '', conf: { voters: ['n0', 'n1', 'n2'], learners: [] }, pendingConfIndex: 0 }),
    propose: async (data: Uint8Array): Promise<ApplyResult> => {
      state.proposals++;
      const index = log.entries.length + 1;
      log.entries.push({ index, term: 3, type: 0, data });
      return sm().apply(log.entries[index - 1]!);
    },
    transferLeadership: () => undefined,
  };
}

/** A master on `sm` (default: a fresh machine with topic `orders` of 4 queues). */
async function serve(t: Test, given?: { log: FakeLog; sm: BrokerStateMachine }) {
  const log = given?.log ?? new FakeLog();
  const sm = given?.sm ?? new BrokerStateMachine(log.options());
  if (given === undefined) sm.apply(log.append({ kind: 'createTopic', topic: 'orders', queues: 4 }));
  const state: ReplicaState = { role: Role.Leader, proposals: 0 };
  const server = new BrokerServer(testServerOptions(sm, fakeReplica(log, () => sm, state), { clientAddrOf: (id) => (id === 'n0' ? '127.0.0.1:9' : '') }));
  const { connect, conns } = await serveAnswering(t, server);
  return { server, connect, conns, state, sm, log };
}

const A = '10.0.0.1@a';
const B = '10.0.0.2@b';
const q = (...ids: number[]) => ids.map((queueId) => ({ topic: 'orders', queueId }));
const lock = (clientId: string, queues: object[], group = 'billing') => ({ type: 'lockQueues', group, clientId, queues });
const unlock = (clientId: string, queues: object[], group = 'billing') => ({ type: 'unlockQueues', group, clientId, queues });

t.test('a free queue is granted, another member is refused while the first holds it, and gets it once released', async (t) => {
  const { connect, state, sm } = await serve(t);
  const a = connect();
  const b = connect();
  t.same(await a(lock(A, q(0, 1))), { type: 'lockedQueues', id: 1, queues: q(0, 1) });
  t.same((await b(lock(B, q(1, 2)))).queues, q(2), 'queue 1 is a\'s: b gets only queue 2');
  t.same((await b(lock(B, q(0, 1)))).queues, [], 'refused while a holds them');
  t.same(sm.queueLocksOf('billing', A), q(0, 1));
  const before = state.proposals;
  t.same((await a(lock(A, q(1, 0, 1)))).queues, q(1, 0), 'a renewal right after the lock: the held queues, once each');
  t.equal(state.proposals, before, 'answered without a proposal (renewed < 5 s ago)');
  t.same((await a(lock(A, q(0, 2)))).queues, q(0), 'not all held: proposed, and queue 2 stays b\'s');
  t.equal(state.proposals, before + 1);

  t.match(await b(unlock(B, q(0, 1))), { type: 'ok' }, 'b unlocking a\'s queues is answered ok');
  t.same(sm.queueLocksOf('billing', A), q(0, 1), '... and releases nothing of a\'s');
  t.match(await a(unlock(A, q(1))), { type: 'ok' });
  t.same((await b(lock(B, q(1)))).queues, q(1), 'released: b gets it');
  t.same((await b(lock(B, q(0), 'audit'))).queues, q(0), 'another group\'s locks are its own');
  const quiet = state.proposals;
  t.match(await a(unlock(A, q(1), 'audit')), { type: 'ok' }, 'a holds nothing in audit');
  t.equal(state.proposals, quiet, 'an unlock of a member holding nothing there proposes nothing');
});

t.test('a member that unregisters or whose connection closes loses its locks at once', async (t) => {
  const { connect, conns, sm } = await serve(t);
  const a = connect();
  const b = connect();
  const hb = (clientId: string) => ({ type: 'heartbeat', group: 'billing', clientId, consumeModel: 'CLUSTERING', subscriptions: [{ topic: 'orders', expression: '*' }] });
  t.match(await a(hb(A)), { type: 'consumerGroup' });
  t.match(await b(hb(B)), { type: 'consumerGroup' });
  t.same((await a(lock(A, q(0)))).queues, q(0));
  t.same((await b(lock(B, q(0, 1)))).queues, q(1), 'queue 0 is a\'s');
  t.match(await a({ type: 'unregisterClient', group: 'billing', clientId: A }), { type: 'ok' });
  await until(() => sm.queueLocksOf('billing', A).length === 0);
  t.same((await b(lock(B, q(0)))).queues, q(0), 'a left: b takes its queue');
  await conns[1]!.close();
  await until(() => sm.queueLocksOf('billing', B).length === 0);
  t.pass('b\'s connection closed: its locks were released');
});

t.test('a master restored from a snapshot (a failover) keeps every lock', async (t) => {
  const first = await serve(t);
  t.same((await first.connect()(lock(A, q(0, 3)))).queues, q(0, 3));
  const log = new FakeLog();
  log.entries.push(...first.log.entries);
  const sm = new BrokerStateMachine(log.options());
  sm.restore(decodeSnapshot(encodeSnapshot(first.sm.snapshot())));
  const second = await serve(t, { log, sm });
  const b = second.connect();
  t.same((await b(lock(B, q(0, 1, 3)))).queues, q(1), 'the new master refuses a\'s queues');
  t.same((await second.connect()(lock(A, q(0, 3)))).queues, q(0, 3), 'and a still holds them');
});

t.test('a slave sends lock requests to the master; bad input is refused', async (t) => {
  const { connect, state } = await serve(t);
  const a = connect();
  t.match(await a(lock(A, [{ topic: 'nope', queueId: 0 }])), { type: 'error', code: 'TOPIC_NOT_FOUND' });
  t.match(await a(lock(A, q(4))), { type: 'error', code: 'BAD_REQUEST' }, 'queue id past the topic\'s queues');
  t.match(await a(lock('bad client id', q(0))), { type: 'error', code: 'BAD_REQUEST' });
  t.match(await a(lock(A, q(0), 'bad group')), { type: 'error', code: 'BAD_REQUEST' });
  t.match(await a(lock(A, Array.from({ length: LOCK_BATCH_QUEUE_COUNT_MAX + 1 }, () => ({ topic: 'orders', queueId: 0 })))), { type: 'error', code: 'BAD_REQUEST' });
  t.match(await a({ type: 'lockQueues', group: 'billing', clientId: A, queues: 'all' }), { type: 'error', code: 'BAD_REQUEST' });
  t.match(await a(unlock(A, [{ topic: 'orders' }])), { type: 'error', code: 'BAD_REQUEST' });
  t.same((await a(lock(A, []))).queues, [], 'no queues: none held, nothing proposed');
  t.equal(state.proposals, 0);
  state.role = Role.Follower;
  t.match(await a(lock(A, q(0))), { type: 'error', code: 'NOT_MASTER', masterAddr: '127.0.0.1:9' });
  t.match(await a(unlock(A, q(0))), { type: 'error', code: 'NOT_MASTER' });
});

/** Waits for `cond` (a release proposed in the background), polling; the timeout is a liveness
 *  guard only. */
async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
