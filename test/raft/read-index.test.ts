// ReadIndex (etcd's linearizable reads): the leader confirms its leadership with a heartbeat round
// before it hands out its commit index; followers and learners forward to it. A read that cannot
// be confirmed never comes out.

import t from 'tap';
import { MessageType, READ_QUEUE_MAX, Role } from '../../src/raft/index.ts';
import { Network, bytes, ids } from './helpers.ts';

const P3 = ids(3);

function ctxText(ctx: Uint8Array): string {
  return new TextDecoder().decode(ctx);
}

t.test('on the leader: a ReadState at its commit index after a majority acknowledged a heartbeat round', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a', 'b');
  const commit = net.node('n0').status().commit;
  net.delivered = [];
  t.same(net.node('n0').readIndex(bytes('r1')), { ok: true });
  net.stabilize();
  const reads = net.get('n0').reads;
  t.same(reads.map((r) => [r.index, ctxText(r.ctx)]), [[commit, 'r1']]);
  const beats = net.delivered.filter((m) => m.type === MessageType.Heartbeat);
  t.ok(beats.length === 2 && beats.every((m) => m.context.byteLength > 0), 'one round of heartbeats with a context');
  t.ok(net.delivered.filter((m) => m.type === MessageType.HeartbeatResp).every((m) => m.context.byteLength > 0), 'echoed back');
});

t.test('a round whose heartbeats were lost is confirmed by a later heartbeat', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.drop(MessageType.Heartbeat);
  net.node('n0').readIndex(bytes('r'));
  net.stabilize();
  t.same(net.get('n0').reads, [], 'not confirmed while heartbeats are lost');
  net.recover();
  net.tick('n0', 1);
  t.equal(net.get('n0').reads.length, 1, 'the next heartbeat carries the round');
});

t.test('on a follower and on a learner: forwarded to the leader, answered with its read index', async (t) => {
  const net = new Network(P3, { peers: ['n0', 'n1'], learners: ['n2'] });
  net.campaign('n0');
  net.propose('n0', 'a');
  const commit = net.node('n0').status().commit;
  t.same(net.node('n1').readIndex(bytes('f')), { ok: true });
  t.same(net.node('n2').readIndex(bytes('l')), { ok: true });
  net.stabilize();
  t.same(net.get('n1').reads.map((r) => [r.index, ctxText(r.ctx)]), [[commit, 'f']]);
  t.same(net.get('n2').reads.map((r) => [r.index, ctxText(r.ctx)]), [[commit, 'l']]);
  t.same(net.get('n0').reads, [], 'the leader hands out no ReadState for them');
  const fresh = new Network(P3);
  t.match(fresh.node('n1').readIndex(bytes('x')), { ok: false, code: 'NOT_LEADER', leaderHint: '', reason: /knows no leader/ });
});

t.test('a partitioned old leader never completes a read', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a');
  net.isolate('n0');
  t.same(net.node('n0').readIndex(bytes('stale')), { ok: true }, 'it still believes it leads');
  net.stabilize();
  for (let i = 0; i < 300 && net.leaders().filter((id) => id !== 'n0').length === 0; i++) {
    net.tick('n1');
    net.tick('n2');
  }
  net.propose(net.leaders().find((id) => id !== 'n0')!, 'newer');
  net.tick('n0', 5);
  t.same(net.get('n0').reads, [], 'no ReadState while cut off');
  net.tick('n0', 30);
  t.not(net.node('n0').status().role, Role.Leader, 'check-quorum: it stepped down');
  net.recover();
  net.tickAll(5);
  t.same(net.get('n0').reads, [], 'and the read is gone for good');
});

t.test('a read before the leader committed an entry of its term waits for that commit', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a');
  // n1 takes over; its no-op does not commit while appends are lost.
  net.drop(MessageType.Append);
  t.ok(net.node('n0').transferLeadership('n1'));
  net.stabilize();
  const s = net.node('n1').status();
  t.equal(s.role, Role.Leader);
  t.ok(s.commit < s.lastIndex, 'its no-op is not committed');
  t.same(net.node('n1').readIndex(bytes('early')), { ok: true });
  net.stabilize();
  t.same(net.get('n1').reads, [], 'queued');
  net.recover();
  net.tick('n1', 1);
  const after = net.node('n1').status();
  t.same(net.get('n1').reads.map((r) => r.index), [after.commit], 'answered at the commit index of its term');
  t.equal(after.commit, after.lastIndex);
});

t.test('a single voter answers at once; the queue is bounded', async (t) => {
  const solo = new Network(['n0']);
  solo.campaign('n0');
  solo.node('n0').readIndex(bytes('s'));
  solo.stabilize();
  t.same(solo.get('n0').reads.map((r) => ctxText(r.ctx)), ['s']);
  const net = new Network(P3);
  net.campaign('n0');
  net.isolate('n0');
  for (let i = 0; i < READ_QUEUE_MAX; i++) net.node('n0').readIndex(bytes(`r${i}`));
  t.match(net.node('n0').readIndex(bytes('one too many')), { ok: false, code: 'READ_QUEUE_FULL', leaderHint: 'n0' });
  net.recover();
  net.stabilize();
  net.tick('n0', 1);
  t.equal(net.get('n0').reads.length, READ_QUEUE_MAX, 'every queued read is confirmed by one round');
});
