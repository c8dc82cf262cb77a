// What a producer is told must be true: "not stored" (NOT_MASTER) only when the entry can never
// commit; when it still might, the outcome is unknown (TIMEOUT).
import t from 'tap';
import { Replica } from '../../src/broker/index.ts';
import type { ProposeResult, RaftNodeApi, RaftStatus } from '../../src/raft/index.ts';
import { NONE, Role } from '../../src/raft/index.ts';

/** A Raft core that is leader and gives each proposal the index and term the test sets. */
function fakeLeader(next: { index: number; term: number }): RaftNodeApi {
  const status = (): RaftStatus => ({ id: 'n1', role: Role.Leader, term: next.term, vote: 'n1', leaderId: 'n1', commit: 0, applied: 0, lastIndex: 0, leaderCommit: 0, recovering: false, progress: {}, transferee: NONE, conf: { voters: ['n0', 'n1', 'n2'], learners: [] }, pendingConfIndex: 0 });
  return {
    tick: () => undefined,
    step: () => undefined,
    propose: (data): ProposeResult => ({ ok: true, term: next.term, firstIndex: next.index, lastIndex: next.index + data.length - 1 }),
    proposeConfChange: (): ProposeResult => ({ ok: false, code: 'BAD_CONF_CHANGE', leaderHint: 'n1', reason: 'not modelled' }),
    readIndex: () => ({ ok: false, code: 'NOT_LEADER', leaderHint: NONE, reason: 'not modelled' }),
    transferLeadership: () => false,
    reportUnreachable: () => undefined,
    reportSnapshot: () => undefined,
    hasReady: () => false,
    ready: () => {
      throw new Error('no ready');
    },
    advance: () => undefined,
    accept: () => undefined,
    persisted: () => undefined,
    status,
  };
}

t.test('a waiter whose index a newer term reuses on this node is told the outcome is unknown, not "not stored"', async (t) => {
  const next = { index: 7, term: 2 };
  const replica = new Replica({
    nodeId: 'n1',
    raft: fakeLeader(next),
    log: { lastIndex: () => 0, flush: async () => undefined } as never,
    meta: { getHardState: () => ({ term: 2, vote: 'n1', commit: 0 }), setHardState: async () => undefined } as never,
    stateMachine: { appliedIndex: 0, apply: () => undefined, checkpoint: async () => undefined },
    peers: { send: () => undefined },
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    tickMs: 1000,
    proposalTimeoutMs: 60_000,
    checkpointIntervalMs: 60_000,
    pendingProposalsMax: 100,
    inboxMessagesMax: 100,
    onFatal: () => undefined,
  });
  const first = replica.propose(Buffer.from('a')).then(
    () => 'stored',
    (e: { code: string }) => e.code,
  );
  await new Promise((r) => setImmediate(r));
  // This node lost leadership and won it again in term 4; its new entry takes index 7. Another
  // replica may still hold the term-2 entry, and a later leader could commit it.
  next.term = 4;
  void replica.propose(Buffer.from('b')).catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  const outcome = await first;
  t.equal(outcome, 'TIMEOUT', `unknown outcome (TIMEOUT), never NOT_MASTER (got ${outcome})`);
  await replica.stop();
});
