// Reads of applied state (routes, offsets, pulls) are answered only from current state; a slave
// that is catching up sends the client to the master instead (its answer would be wrong).
import t, { type Test } from 'tap';
import { BrokerServer } from '../../src/broker/index.ts';
import { Connection } from '../../src/net/index.ts';
import { Role } from '../../src/raft/index.ts';
import { Harness, testServerOptions } from './harness.ts';

function fakeReplica(state: { staleness: string | null; role: Role; leaderId: string }) {
  return {
    get role() {
      return { role: state.role, leaderId: state.leaderId, term: 3 };
    },
    readStaleness: () => state.staleness,
    get leaderReady() {
      return state.role === Role.Leader;
    },
    whenLeaderReady: async () => state.role === Role.Leader,
    status: () => ({ id: 'n1', role: state.role, term: 3, vote: '', leaderId: state.leaderId, commit: 9, applied: 9, lastIndex: 9, leaderCommit: 9, recovering: false, progress: {}, transferee: '', conf: { voters: ['n0', 'n1', 'n2'], learners: [] }, pendingConfIndex: 0 }),
    propose: async () => {
      throw new Error('no writes here');
    },
    transferLeadership: () => undefined,
  };
}

async function serve(t: Test, state: { staleness: string | null; role: Role; leaderId: string }) {
  const h = new Harness();
  h.run({ kind: 'createTopic', topic: 'one', queues: 1 });
  h.send('one', 0, ['a', 'b']);
  const server = new BrokerServer(testServerOptions(h.sm, fakeReplica(state), { clientAddrOf: (id) => (id === 'n0' ? '127.0.0.1:9' : '') }));
  await server.start();
  const conn = new Connection({ host: '127.0.0.1', port: server.port, reconnect: 'lazy' });
  t.teardown(async () => {
    await conn.close();
    await server.close();
  });
  const ask = (frame: object) =>
    conn.request<{ type: string; id: number } & Record<string, unknown>>(frame as never).then(
      (r) => r,
      (e: { code?: string; masterAddr?: string; message: string }) => ({ type: 'error', code: e.code, masterAddr: e.masterAddr, message: e.message }),
    );
  return { ask, server };
}


t.test('a slave catching up answers route, pull and queryOffset with NOT_MASTER naming the master; once current, from its state', async (t) => {
  const state = { staleness: 'it is behind the master (applied 9 of 40)' as string | null, role: Role.Follower, leaderId: 'n0' };
  const { ask } = await serve(t, state);
  for (const frame of [
    { type: 'route', topic: 'one' },
    { type: 'pull', topic: 'one', queueId: 0, offset: 0, maxCount: 10, maxBytes: 1 << 20, waitMs: 0 },
    { type: 'queryOffset', group: 'g', topic: 'one', queueId: 0 },
  ]) {
    const r = await ask(frame);
    t.match(r, { type: 'error', code: 'NOT_MASTER', masterAddr: '127.0.0.1:9' }, `${frame.type}: sent to the master`);
    t.match(String(r.message), /behind the master/, 'saying why');
  }
  state.staleness = null;
  t.match(await ask({ type: 'route', topic: 'one' }), { type: 'route', queues: 1 }, 'current: its own route');
  t.match(await ask({ type: 'pull', topic: 'one', queueId: 0, offset: 0, maxCount: 10, maxBytes: 1 << 20, waitMs: 0 }), { type: 'pullResult', nextOffset: 2 });
  t.match(await ask({ type: 'status' }), { type: 'status' }, 'status always answers (it reports the lag itself)');
});

t.test('a slave asked about a topic it does not know sends the client to the master (it may not have applied the creation yet)', async (t) => {
  const { ask } = await serve(t, { staleness: null, role: Role.Follower, leaderId: 'n0' });
  t.match(await ask({ type: 'route', topic: 'new-topic' }), { type: 'error', code: 'NOT_MASTER', masterAddr: '127.0.0.1:9' });
});

t.test('a slave keeps a consumer\'s offset past its end instead of moving it back', async (t) => {
  const { ask } = await serve(t, { staleness: null, role: Role.Follower, leaderId: 'n0' });
  t.match(await ask({ type: 'pull', topic: 'one', queueId: 0, offset: 7, maxCount: 10, maxBytes: 1 << 20, waitMs: 0 }), { type: 'pullResult', nextOffset: 7, maxOffset: 2 });
});
