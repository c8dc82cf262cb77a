// Tests that check the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm") section by section, as etcd's raft_paper_test.go does.

import t from 'tap';
import { MemoryStorage, type Entry, type Message, EntryType, MessageType, NONE, Role } from '../../src/raft/index.ts';
import { Network, bytes, drain, entry, ids, lone, msg } from './helpers.ts';

const P3 = ids(3);

function entriesOf(s: MemoryStorage): string {
  return s.allEntries().map((e) => `${e.index}@${e.term}`).join(' ');
}

t.test('5.1: a node that sees a higher term adopts it and becomes a follower', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  t.equal(net.node('n0').status().role, Role.Leader);
  net.node('n0').step(msg({ type: MessageType.AppendResp, from: 'n1', to: 'n0', term: 5 }));
  const st = net.node('n0').status();
  t.equal(st.role, Role.Follower);
  t.equal(st.term, 5);
  t.equal(st.vote, NONE, 'no vote cast in the new term');
});

t.test('5.2: a follower that hears nothing for an election timeout starts an election', async (t) => {
  const { node, storage } = lone('n0', P3, { preVote: false });
  for (let i = 0; i < 2 * 10; i++) node.tick();
  const st = node.status();
  t.equal(st.role, Role.Candidate);
  t.equal(st.term, 1);
  t.equal(st.vote, 'n0', 'votes for itself');
  const rd = drain(node, storage);
  const votes = rd.persistedMessages.filter((m) => m.type === MessageType.Vote);
  t.same(votes.map((m) => m.to).sort(), ['n1', 'n2'], 'asks every other voter');
  t.equal(rd.messages.filter((m) => m.type === MessageType.Vote).length, 0, 'vote requests wait for the persisted vote');
  t.same(rd.hardState, { term: 1, vote: 'n0', commit: 0 });
  t.ok(rd.mustSync);
});

t.test('5.2: election timeouts are randomized in [electionTicks, 2*electionTicks)', async (t) => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const { node } = lone('n0', P3, { preVote: false, seed });
    let ticks = 0;
    while (node.status().role === Role.Follower && ticks < 100) {
      node.tick();
      ticks++;
    }
    t.ok(ticks >= 10 && ticks < 20, `seed ${seed}: timeout ${ticks} in [10, 20)`);
    seen.add(ticks);
  }
  t.ok(seen.size >= 5, `timeouts vary with the seed (${[...seen].join(',')})`);
});

t.test('5.2: a candidate that wins a majority becomes leader; the others follow it', async (t) => {
  const net = new Network(P3, { preVote: false });
  net.isolate('n2');
  net.campaign('n0');
  t.equal(net.node('n0').status().role, Role.Leader, 'n0 + n1 are a majority of 3');
  t.equal(net.node('n1').status().leaderId, 'n0');
  t.equal(net.node('n2').status().role, Role.Follower);
  t.equal(net.node('n2').status().term, 0);
});

t.test('5.2: a candidate without a majority does not become leader', async (t) => {
  const net = new Network(ids(5), { preVote: false });
  net.cut('n0', 'n1');
  net.cut('n0', 'n2');
  net.cut('n0', 'n3');
  net.campaign('n0');
  t.equal(net.node('n0').status().role, Role.Candidate, 'only n0 and n4: 2 of 5');
});

t.test('5.2: a candidate steps down when it hears from a leader of its term', async (t) => {
  const { node } = lone('n0', P3, { preVote: false });
  node.campaign();
  t.equal(node.status().role, Role.Candidate);
  node.step(msg({ type: MessageType.Append, from: 'n1', to: 'n0', term: 1 }));
  t.equal(node.status().role, Role.Follower);
  t.equal(node.status().leaderId, 'n1');
});

t.test('5.2: a voter grants at most one vote per term, and persists it before answering', async (t) => {
  const { node, storage } = lone('n0', P3, { preVote: false });
  node.step(msg({ type: MessageType.Vote, from: 'n1', to: 'n0', term: 1 }));
  let rd = drain(node, storage);
  t.same(rd.hardState, { term: 1, vote: 'n1', commit: 0 });
  t.ok(rd.mustSync, 'the vote must be synced');
  t.equal(rd.messages.length, 0, 'no VoteResp before persistence');
  t.equal(rd.persistedMessages.length, 1);
  t.equal(rd.persistedMessages[0].type, MessageType.VoteResp);
  t.notOk(rd.persistedMessages[0].reject);
  t.same(storage.initialHardState().vote, 'n1');

  node.step(msg({ type: MessageType.Vote, from: 'n2', to: 'n0', term: 1 }));
  rd = drain(node, storage);
  t.ok(rd.persistedMessages[0].reject, 'second candidate of the same term is refused');
  node.step(msg({ type: MessageType.Vote, from: 'n1', to: 'n0', term: 1 }));
  rd = drain(node, storage);
  t.notOk(rd.persistedMessages[0].reject, 'a repeated request from the same candidate is granted again');

  // After a restart the vote is still there.
  const again = lone('n0', P3, { preVote: false }, storage).node;
  again.step(msg({ type: MessageType.Vote, from: 'n2', to: 'n0', term: 1 }));
  const rd2 = again.ready();
  t.ok(rd2.persistedMessages[0].reject, 'the persisted vote survives a restart');
});

t.test('5.4.1: a voter refuses a candidate whose log is less up to date', async (t) => {
  const setup = (bug: boolean) => {
    const storage = new MemoryStorage();
    storage.append([entry(1, 1), entry(2, 2)]);
    storage.setHardState({ term: 2, vote: NONE, commit: 0 });
    return lone('n0', P3, { preVote: false, testBugs: bug ? new Set(['vote-for-stale-log'] as const) : undefined }, storage);
  };
  const cases: Array<[string, number, number, boolean]> = [
    ['lower last term, longer log', 5, 1, true],
    ['same last term, shorter log', 1, 2, true],
    ['same last term, same length', 2, 2, false],
    ['higher last term, shorter log', 1, 3, false],
  ];
  for (const [name, index, logTerm, refused] of cases) {
    const { node } = setup(false);
    node.step(msg({ type: MessageType.Vote, from: 'n1', to: 'n0', term: 3, index, logTerm }));
    const rd = node.ready();
    t.equal(rd.persistedMessages[0].reject, refused, name);
  }
  const { node } = setup(true);
  node.step(msg({ type: MessageType.Vote, from: 'n1', to: 'n0', term: 3, index: 5, logTerm: 1 }));
  t.notOk(node.ready().persistedMessages[0].reject, "test bug 'vote-for-stale-log' grants the stale candidate");
});

t.test('5.4.1: a candidate with a stale log cannot win, even with a higher term', async (t) => {
  const net = new Network(P3, { preVote: false });
  net.campaign('n0');
  net.isolate('n2');
  net.propose('n0', 'x');
  net.recover();
  // n2 missed entry 2; it campaigns at a higher term.
  net.node('n2').campaign();
  net.stabilize();
  t.not(net.node('n2').status().role, Role.Leader);
  t.ok(net.node('n0').status().role === Role.Leader || net.node('n1').status().role === Role.Leader ||
    net.node('n2').status().role !== Role.Leader);
  const leader = net.electLeader();
  t.not(leader, 'n2', 'the new leader holds entry 2');
  t.equal(net.get(leader).storage.lastIndex() >= 2, true);
});

/** Figure 8: n0 (term 2) wrote entry 2 only locally; it is elected in term 3 and replicates
 *  entry 2 to n1, but not yet its own no-op. Entry 2 is on a majority, of an old term. */
function figure8(bug: boolean) {
  const net = new Network(P3, {
    preVote: false,
    maxEntriesPerMessage: 1,
    testBugs: bug ? new Set(['commit-old-term-by-counting'] as const) : undefined,
  });
  for (const id of P3) net.get(id).storage.append([entry(1, 1)]);
  net.get('n0').storage.append([entry(2, 2, 'old')]);
  for (const id of P3) {
    net.get(id).storage.setHardState({ term: 2, vote: NONE, commit: 1 });
    net.restart(id);
  }
  // Entries of term 3 (the no-op) never reach anyone: they are stripped from appends.
  net.rewrite = (m: Message) =>
    m.type === MessageType.Append ? { ...m, entries: m.entries.filter((e: Entry) => e.term !== 3) } : m;
  net.campaign('n0');
  return net;
}

t.test('5.4.2: a leader does not commit an entry of an earlier term by counting replicas', async (t) => {
  const net = figure8(false);
  t.equal(net.node('n0').status().role, Role.Leader);
  t.equal(net.node('n0').status().term, 3);
  t.equal(net.get('n1').storage.lastIndex(), 2, 'entry 2 (term 2) is on a majority');
  t.equal(net.node('n0').status().commit, 1, 'but it is not committed by counting');
  net.recover();
  net.tickAll(2);
  t.equal(net.node('n0').status().commit, 3, 'committing the no-op of term 3 commits entry 2 too');
  t.same(net.get('n0').applied.map((e) => e.index), [1, 2, 3]);
});

t.test("5.4.2: test bug 'commit-old-term-by-counting' commits the old entry by counting", async (t) => {
  const net = figure8(true);
  t.equal(net.node('n0').status().commit, 2, 'the buggy leader commits entry 2 of term 2');
});

t.test('5.4.2 / 8: a new leader appends a no-op entry of its term', async (t) => {
  const net = new Network(P3);
  net.campaign('n1');
  // Followers learn that the no-op committed with the next append or, here, the leader's next tick.
  net.tick('n1');
  for (const id of P3) {
    const es = net.get(id).storage.allEntries();
    t.equal(es.length, 1, `${id} has one entry`);
    t.equal(es[0].type, EntryType.NoOp);
    t.equal(es[0].term, 1);
    t.equal(net.get(id).applied.length, 1, `${id} applied it`);
  }
});

t.test('5.3: a follower with a conflicting suffix is truncated to the leader log, with fast back-off', async (t) => {
  const net = new Network(P3, { preVote: false });
  const terms = (ts: number[]) => ts.map((term, i) => entry(i + 1, term));
  net.get('n0').storage.append(terms([1, 1, 2]));
  net.get('n1').storage.append(terms([1, 1, 2]));
  net.get('n2').storage.append(terms([1, 1, 1, 1, 1, 1, 1, 1]));
  for (const id of P3) {
    net.get(id).storage.setHardState({ term: 2, vote: NONE, commit: 2 });
    net.restart(id);
  }
  net.campaign('n0');
  t.equal(net.node('n0').status().role, Role.Leader);
  t.equal(entriesOf(net.get('n2').storage), entriesOf(net.get('n0').storage), 'n2 now matches the leader');
  t.equal(entriesOf(net.get('n0').storage), '1@1 2@1 3@2 4@3');
  const rejects = net.delivered.filter((m) => m.type === MessageType.AppendResp && m.reject && m.from === 'n2');
  t.ok(rejects.length <= 2, `fast back-off needs few round trips (${rejects.length} rejections)`);
  t.ok(rejects.length >= 1, 'there was a conflict to resolve');
});

t.test('5.3: a follower rejects an append whose prevIndex/prevTerm it does not hold, with a hint', async (t) => {
  const storage = new MemoryStorage();
  storage.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
  storage.setHardState({ term: 2, vote: NONE, commit: 1 });
  const { node } = lone('n1', P3, {}, storage);
  node.step(msg({ type: MessageType.Append, from: 'n0', to: 'n1', term: 2, index: 5, logTerm: 2, entries: [entry(6, 2)] }));
  const rd = node.ready();
  const resp = rd.messages[0];
  t.equal(resp.type, MessageType.AppendResp);
  t.ok(resp.reject);
  t.equal(resp.index, 5, 'the rejected prevIndex');
  t.equal(resp.rejectHint, 3, 'our last index');
  t.equal(resp.rejectTerm, 1);
  t.equal(rd.entries.length, 0);
});

t.test('5.3: committed entries are handed out only once persisted locally', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.isolate('n2');
  net.propose('n0', 'a', 'b', 'c');
  net.recover();
  // Catch the append that brings n2 up to date and deliver it by hand.
  let app: Message | undefined;
  net.filter = (m) => {
    if (m.to === 'n2' && m.type === MessageType.Append && m.entries.length > 0) {
      app ??= m;
      return false;
    }
    return true;
  };
  net.tickAll(2);
  if (app === undefined) throw new Error('no append to n2');
  t.ok(app.entries.length >= 3, 'the leader sends what n2 lacks');
  net.node('n2').step(app);
  t.equal(net.node('n2').status().commit, 4, 'n2 learns the commit index at once');
  const n2 = net.get('n2');
  const rd = net.node('n2').ready();
  t.equal(rd.entries.length, 3);
  t.equal(rd.committedEntries.length, 0, 'but applies nothing it has not persisted');
  t.equal(rd.persistedMessages[0].type, MessageType.AppendResp, 'the ack waits for persistence');
  n2.storage.append(rd.entries);
  net.node('n2').advance(rd);
  t.same(net.node('n2').ready().committedEntries.map((e) => e.index), [2, 3, 4]);
});

t.test("5.3: the leader's own match advances only when its entries are persisted", async (t) => {
  const { node, storage } = lone('n0', ['n0']);
  node.campaign();
  drain(node, storage); // persists the no-op
  let rd = drain(node, storage);
  t.same(rd.committedEntries.map((e) => e.index), [1]);
  const r = node.propose([bytes('a')]);
  t.ok(r.ok);
  rd = node.ready();
  t.same(rd.entries.map((e) => e.index), [2]);
  t.equal(rd.committedEntries.length, 0, 'a single node does not commit before its own write');
  t.equal(node.status().commit, 1);
  storage.append(rd.entries);
  node.advance(rd);
  t.equal(node.status().commit, 2, 'committed once persisted');
  rd = drain(node, storage);
  t.same(rd.committedEntries.map((e) => e.index), [2]);
});

t.test('5.5: a restarted node recovers term, vote and log from storage and rejoins', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a', 'b');
  net.tickAll(2);
  net.restart('n1');
  const st = net.node('n1').status();
  t.equal(st.term, 1);
  t.equal(st.lastIndex, 3);
  t.equal(st.commit, 3, 'commit from the hard state');
  net.tickAll(3);
  t.same(net.get('n1').applied.map((e) => e.index), [1, 2, 3], 'committed entries are applied again from 1');
  net.propose('n0', 'c');
  net.tickAll(2);
  t.equal(net.node('n1').status().commit, 4);
});
