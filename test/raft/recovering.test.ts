// A node whose store may lack what it once acknowledged (HardState.recovering: a new replica, a
// replaced disk) must not vote or campaign until a leader has caught it up; a new group, whose
// logs are all empty, still elects.
import t from 'tap';
import { MemoryStorage, MessageType, NONE, Role } from '../../src/raft/index.ts';
import { Network, bytes, drain, ids, lone, msg } from './helpers.ts';

const P3 = ids(3);

function freshStorage(): MemoryStorage {
  const s = new MemoryStorage();
  s.setHardState({ term: 0, vote: NONE, commit: 0, recovering: true });
  return s;
}

t.test('a recovering node refuses its vote to a candidate with a non-empty log or one that has seen the group, and grants it to one as new as itself', async (t) => {
  const { node, storage } = lone('n1', P3, {}, freshStorage());
  t.ok(node.status().recovering);
  node.step(msg({ type: MessageType.Vote, from: 'n2', to: 'n1', term: 5, index: 7, logTerm: 4 }));
  let rd = drain(node, storage);
  const refused = rd.persistedMessages.find((m) => m.type === MessageType.VoteResp);
  t.ok(refused?.reject, 'a candidate with entries is refused: this node may have voted in term 5 before it lost its log');
  node.step(msg({ type: MessageType.Vote, from: 'n0', to: 'n1', term: 6, index: 0, logTerm: 0, recovering: false }));
  rd = drain(node, storage);
  const seen = rd.persistedMessages.find((m) => m.type === MessageType.VoteResp);
  t.ok(seen?.reject, 'an empty candidate that has seen the group (not recovering) is refused: it may lack what was committed');
  node.step(msg({ type: MessageType.Vote, from: 'n2', to: 'n1', term: 7, index: 0, logTerm: 0, recovering: true }));
  rd = drain(node, storage);
  const granted = rd.persistedMessages.find((m) => m.type === MessageType.VoteResp);
  t.equal(granted?.reject, false, 'a candidate as new as itself (recovering, empty log: a new group) gets the vote');
});

t.test('a recovering node with entries does not campaign; with an empty log it may', async (t) => {
  const storage = freshStorage();
  storage.append([{ index: 1, term: 1, type: 0, data: bytes('x') }]);
  const { node } = lone('n1', P3, {}, storage);
  node.campaign();
  t.equal(node.status().role, Role.Follower, 'no campaign: its log may miss entries others committed');
  const empty = lone('n2', P3, {}, freshStorage()).node;
  empty.campaign();
  t.not(empty.status().role, Role.Follower, 'an empty recovering node may campaign (a new group)');
});

t.test('a node that has seen the group refuses its vote to a recovering candidate, even with a log as empty as its own', async (t) => {
  // Its own log may be empty only because its copy of the first entry was lost in a crash.
  const { node, storage } = lone('n1', P3);
  t.notOk(node.status().recovering);
  node.step(msg({ type: MessageType.Vote, from: 'n2', to: 'n1', term: 5, index: 0, logTerm: 0, recovering: true }));
  let rd = drain(node, storage);
  t.ok(rd.persistedMessages.find((m) => m.type === MessageType.VoteResp)?.reject, 'a recovering candidate is refused');
  node.step(msg({ type: MessageType.Vote, from: 'n0', to: 'n1', term: 6, index: 0, logTerm: 0, recovering: false }));
  rd = drain(node, storage);
  t.equal(rd.persistedMessages.find((m) => m.type === MessageType.VoteResp)?.reject, false, 'one that is not recovering gets the vote');
});

t.test('a recovering node campaigns through a pre-vote even with pre-vote off (it must not raise the group\'s term when it cannot win)', async (t) => {
  const { node } = lone('n2', P3, { preVote: false }, freshStorage());
  node.campaign();
  t.equal(node.status().role, Role.PreCandidate);
  t.equal(node.status().term, 0, 'the term stays until a majority would vote for it');
  const plain = lone('n0', P3, { preVote: false }).node;
  plain.campaign();
  t.equal(plain.status().role, Role.Candidate, 'a node that is not recovering campaigns as configured');
});

t.test('a new group of fresh stores elects, and its members stop recovering once they see the first entry', async (t) => {
  const net = new Network(P3);
  for (const id of P3) {
    net.get(id).storage = freshStorage();
    net.restart(id);
  }
  net.campaign('n0');
  t.same(net.leaders(), ['n0']);
  for (const id of P3) t.notOk(net.node(id).status().recovering, `${id} is no longer recovering`);
  for (const id of P3) t.notOk(net.get(id).storage.initialHardState().recovering, `${id} persisted it`);
});

t.test('a wiped follower rejoining a group catches up, and votes again only once it holds an entry committed in its leader\'s term', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a', 'b', 'c');
  net.get('n2').storage = freshStorage(); // n2's disk is replaced
  net.restart('n2');
  t.ok(net.node('n2').status().recovering);
  // n2 hears from no leader yet: it refuses n1, whose log is not empty.
  net.isolate('n0');
  net.tickAll(40);
  t.equal(net.leaders().length, 0, 'n1 cannot win with a recovering n2 (committed entries may be on n0 alone)');
  net.recover();
  net.tickAll(40);
  const leader = net.leaders()[0];
  t.ok(leader !== undefined, `a leader (${leader}) once n0 is back`);
  net.propose(leader!, 'd');
  t.notOk(net.node('n2').status().recovering, 'n2 caught up and holds an entry of its leader\'s term');
  t.same(net.get('n2').storage.allEntries().map((e) => e.index), net.get(leader!).storage.allEntries().map((e) => e.index), 'n2 holds the whole log');
});

t.test('a follower learns the leader\'s commit index even while its own log is behind', async (t) => {
  const { node, storage } = lone('n1', P3);
  node.step(msg({ type: MessageType.Append, from: 'n0', to: 'n1', term: 2, index: 5, logTerm: 2, commit: 9 }));
  drain(node, storage);
  t.equal(node.status().leaderCommit, 9, 'the commit index the leader announced');
  t.equal(node.status().commit, 0, 'its own commit stays where its log is');
});

t.test('an idle leader notices a follower that lost its store (its heartbeat reply says where its log ends) and catches it up', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a', 'b', 'c');
  net.get('n2').storage = freshStorage();
  net.restart('n2');
  t.equal(net.node('n0').status().progress.n2.match, 4, 'the leader still thinks n2 holds everything');
  net.tickAll(3); // heartbeats only: nothing is proposed
  t.equal(net.get('n2').storage.lastIndex(), 4, 'n2 got the whole log back without a new write');
  t.notOk(net.node('n2').status().recovering, 'and is caught up');
});
