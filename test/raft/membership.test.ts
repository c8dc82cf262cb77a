// Membership changes (single-server, Raft thesis 4.1 to 4.3) and learners: the refusals of
// proposeConfChange, a learner that catches up (through appends or a snapshot) and is promoted,
// a leader that removes itself, a truncated conf entry, and a restart that rebuilds the
// configuration from Storage.initialConfState and the log.

import t from 'tap';
import {
  type ConfState,
  EntryType,
  MessageType,
  MemoryStorage,
  RaftNode,
  Role,
  applyConfChange,
  decodeConfChangeEntry,
  encodeConfChangeEntry,
} from '../../src/raft/index.ts';
import { Network, drain, ids, makeConfig, msg } from './helpers.ts';

const P3 = ids(3);

function conf(voters: string[], learners: string[] = []): ConfState {
  return { voters, learners };
}

/** Ticks everyone until a node other than those in `not` leads. */
function electOther(net: Network, not: string[], ticksMax = 300): string {
  for (let i = 0; i < ticksMax; i++) {
    const l = net.leaders().filter((id) => !not.includes(id));
    if (l.length === 1) return l[0];
    net.tickAll();
  }
  throw new Error('no other leader');
}

t.test('the conf entry codec round-trips and refuses junk with a TypeError', async (t) => {
  const e = { op: 'addLearner' as const, node: 'n3', context: 'h:1;h:2', conf: conf(['n0', 'n1'], ['n3']) };
  t.same(decodeConfChangeEntry(encodeConfChangeEntry(e)), e);
  for (const junk of ['', 'null', '{}', '{"op":"x","node":"n3","context":"","conf":{"voters":[],"learners":[]}}', '{"op":"remove","node":"n3","context":"","conf":{"voters":["a","a"],"learners":[]}}']) {
    t.throws(() => decodeConfChangeEntry(new TextEncoder().encode(junk)), TypeError, `junk ${JSON.stringify(junk)}`);
  }
  t.throws(() => decodeConfChangeEntry(new Uint8Array([0xff, 0xfe])), TypeError, 'not UTF-8');
  t.same(applyConfChange(conf(['a'], ['b']), { op: 'addVoter', node: 'b', context: '' }), conf(['a', 'b']), 'addVoter of a learner promotes it');
});

t.test('proposeConfChange refusals: each with its code, the leader hint and a reason', async (t) => {
  const net = new Network(P3);
  const n1 = net.node('n1').proposeConfChange({ op: 'addLearner', node: 'n3', context: '' });
  t.match(n1, { ok: false, code: 'NOT_LEADER', leaderHint: '', reason: /not the leader/ }, 'no leader known');
  net.campaign('n0');
  t.match(net.node('n1').proposeConfChange({ op: 'addLearner', node: 'n3', context: '' }), { ok: false, code: 'NOT_LEADER', leaderHint: 'n0' });
  const bad = (op: 'addLearner' | 'addVoter' | 'promote' | 'remove', node: string, why: RegExp) =>
    t.match(net.node('n0').proposeConfChange({ op, node, context: '' }), { ok: false, code: 'BAD_CONF_CHANGE', leaderHint: 'n0', reason: why }, `${op} ${node}`);
  bad('promote', 'n9', /not a member/);
  bad('remove', 'n9', /not a member/);
  bad('addLearner', 'n1', /already a voter/);
  bad('addVoter', 'n1', /already a voter/);
  bad('promote', 'n2', /already a voter/);

  // A change in flight: the first is not applied (not even committed: n0 is cut off).
  net.isolate('n0');
  t.ok(net.confChange('n0', 'addLearner', 'n3').ok);
  t.match(net.node('n0').proposeConfChange({ op: 'addLearner', node: 'n4', context: '' }), { code: 'CONF_CHANGE_IN_FLIGHT', reason: /not applied/ });
  t.equal(net.node('n0').status().pendingConfIndex, net.node('n0').status().lastIndex);
  net.recover();
  net.tickAll(2);
  t.ok(net.confChange('n0', 'remove', 'n3').ok, 'once applied, the next one goes');
});

t.test('a new leader takes no conf change before it has committed an entry of its term', async (t) => {
  const net = new Network(P3);
  net.drop(MessageType.AppendResp);
  net.campaign('n0');
  const st = net.node('n0').status();
  t.equal(st.role, Role.Leader);
  t.ok(st.commit < st.lastIndex, 'its no-op is not committed');
  t.match(net.node('n0').proposeConfChange({ op: 'addLearner', node: 'n3', context: '' }), { code: 'CONF_CHANGE_IN_FLIGHT', leaderHint: 'n0', reason: /not committed an entry of its term/ });
  net.recover();
  net.tickAll(1);
  t.ok(net.node('n0').proposeConfChange({ op: 'addLearner', node: 'n3', context: '' }).ok, 'once it has, it takes one');
  const bugged = new Network(P3, { testBugs: new Set(['conf-change-before-term-commit']) });
  bugged.drop(MessageType.AppendResp);
  bugged.campaign('n0');
  t.ok(bugged.node('n0').proposeConfChange({ op: 'addLearner', node: 'n3', context: '' }).ok, 'with the planted bug it is taken at once');
  const two = new Network(P3, { testBugs: new Set(['two-conf-changes-in-flight']) });
  two.campaign('n0');
  two.isolate('n0');
  t.ok(two.confChange('n0', 'addLearner', 'n3').ok);
  t.ok(two.confChange('n0', 'addLearner', 'n4').ok, 'with the other planted bug, two changes go in flight');
});

t.test('transfer and proposals refused while transferring, removing the last voter refused', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.isolate('n1');
  t.ok(net.node('n0').transferLeadership('n1'));
  t.match(net.node('n0').proposeConfChange({ op: 'addLearner', node: 'n3', context: '' }), { code: 'TRANSFERRING', leaderHint: 'n0', reason: /transferred to n1/ });
  const solo = new Network(['n0']);
  solo.campaign('n0');
  t.match(solo.node('n0').proposeConfChange({ op: 'remove', node: 'n0', context: '' }), { code: 'BAD_CONF_CHANGE', reason: /last voter/ });
  t.notOk(net.node('n0').transferLeadership('n9'), 'transfer only to a voter');
});

t.test('LEARNER_LAGGING: a learner not replicating, too far behind or silent is not promoted', async (t) => {
  const net = new Network(P3, { promoteLagMax: 5 });
  net.campaign('n0');
  t.ok(net.confChange('n0', 'addLearner', 'n3').ok, 'n3 is added before it exists (it is down)');
  t.match(net.node('n0').proposeConfChange({ op: 'promote', node: 'n3', context: '' }), { code: 'LEARNER_LAGGING', reason: /not replicating/ });
  t.match(net.node('n0').proposeConfChange({ op: 'addVoter', node: 'n3', context: '' }), { code: 'LEARNER_LAGGING' }, 'addVoter of a learner is a promotion');
  net.add('n3');
  net.tickAll(2);
  t.equal(net.node('n0').status().progress.n3?.state, 'Replicate');
  net.isolate('n3');
  for (let i = 0; i < 7; i++) net.propose('n0', `x${i}`);
  t.match(net.node('n0').proposeConfChange({ op: 'promote', node: 'n3', context: '' }), { code: 'LEARNER_LAGGING', reason: /entries behind/ });
  net.recover();
  net.tickAll(1);
  net.isolate('n3');
  net.tickAll(2 * 10 + 1); // two check-quorum periods without a word from n3
  net.recover();
  t.match(net.node('n0').proposeConfChange({ op: 'promote', node: 'n3', context: '' }), { code: 'LEARNER_LAGGING', reason: /heard from/ });
  net.tickAll(1);
  t.ok(net.confChange('n0', 'promote', 'n3').ok, 'caught up and alive: promoted');
  t.same(net.node('n0').status().conf, conf([...P3, 'n3']));
});

t.test('NO_LIVE_QUORUM: a removal (or a quorum-raising add) without live voters is refused unless forced', async (t) => {
  const net = new Network(P3, { checkQuorum: false });
  net.campaign('n0');
  net.isolate('n2');
  net.tickAll(21);
  t.match(net.node('n0').proposeConfChange({ op: 'remove', node: 'n1', context: '' }), { code: 'NO_LIVE_QUORUM', reason: /1 of the 2 voters/ });
  t.match(net.node('n0').proposeConfChange({ op: 'addVoter', node: 'n3', context: '' }), { code: 'NO_LIVE_QUORUM', reason: /2 of the 4 voters/ });
  t.ok(net.node('n0').proposeConfChange({ op: 'remove', node: 'n2', context: '' }).ok, 'removing the dead one leaves a live quorum');
  const forced = new Network(P3, { checkQuorum: false });
  forced.campaign('n0');
  forced.isolate('n2');
  forced.tickAll(21);
  t.ok(forced.node('n0').proposeConfChange({ op: 'remove', node: 'n1', context: '' }, { force: true }).ok, 'force');
});

t.test('a learner catches up, is promoted and counts; the leader removes itself and steps down', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a', 'b');
  net.add('n3');
  t.ok(net.confChange('n0', 'addLearner', 'n3').ok);
  const n3 = net.node('n3').status();
  t.equal(n3.lastIndex, net.node('n0').status().lastIndex, 'n3 holds the whole log');
  t.same(n3.conf, conf(P3, ['n3']), 'and knows the configuration');
  t.equal(net.node('n0').status().progress.n3?.learner, true);
  t.equal(net.node('n0').status().progress.n1?.learner, false);
  t.ok(net.confChange('n0', 'promote', 'n3').ok);
  t.same(net.node('n1').status().conf, conf([...P3, 'n3']));
  // Four voters: n0 and n3 are not a majority; with n1 they are.
  net.isolate('n1');
  net.cut('n0', 'n2');
  const before = net.node('n0').status().commit;
  net.propose('n0', 'c');
  t.equal(net.node('n0').status().commit, before, 'n0 + n3 of 4 voters commit nothing');
  net.recover();
  net.isolate('n2');
  net.tickAll(1);
  t.equal(net.node('n0').status().commit, net.node('n0').status().lastIndex, 'n0 + n1 + n3 commit');
  net.recover();
  net.tickAll(1);
  // The leader removes itself: it leads until the change commits, then steps down.
  t.ok(net.confChange('n0', 'remove', 'n0').ok);
  const s0 = net.node('n0').status();
  t.equal(s0.role, Role.Follower, 'the removed leader stepped down');
  t.same(s0.conf, conf(['n1', 'n2', 'n3']));
  const leader = electOther(net, ['n0']);
  t.ok(['n1', 'n2', 'n3'].includes(leader), `${leader} leads the new configuration`);
  t.equal(net.node(leader).status().commit, net.node(leader).status().lastIndex, 'and commits');
  net.tick('n0', 200);
  t.equal(net.node('n0').status().role, Role.Follower, 'a removed node never campaigns');
  t.notOk('n0' in net.node(leader).status().progress, 'the new leader keeps no progress for n0');
});

t.test('a learner added while the leader log is compacted catches up through a snapshot carrying the configuration', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a');
  t.ok(net.confChange('n0', 'addLearner', 'n3').ok, 'n3 added before it exists');
  net.propose('n0', 'b');
  const n0 = net.get('n0');
  const applied = n0.node.status().applied;
  n0.storage.compact(applied, applied);
  t.same(n0.storage.snapshot().conf, conf(P3, ['n3']), 'the snapshot keeps the configuration at its index');
  net.add('n3');
  net.tickAll(3);
  const n3 = net.get('n3');
  t.equal(n3.storage.snapshot().index, applied, 'n3 installed the snapshot');
  t.same(n3.storage.snapshot().conf, conf(P3, ['n3']));
  t.same(n3.node.status().conf, conf(P3, ['n3']));
  t.equal(n3.node.status().lastIndex, n0.node.status().lastIndex);
  net.tickAll(1);
  t.ok(net.confChange('n0', 'promote', 'n3').ok, 'then it is promoted');
  t.same(n3.node.status().conf, conf([...P3, 'n3']));
});

t.test('an uncommitted conf entry is in force, and a conflicting append reverts it', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a');
  net.isolate('n0');
  t.ok(net.confChange('n0', 'addLearner', 'n3').ok);
  t.same(net.node('n0').status().conf, conf(P3, ['n3']), 'in force as soon as it is appended');
  t.ok('n3' in net.node('n0').status().progress, 'with a progress entry');
  const leader = electOther(net, ['n0']);
  net.propose(leader, 'b');
  net.recover();
  net.tickAll(3);
  const s0 = net.node('n0').status();
  t.equal(s0.role, Role.Follower);
  t.same(s0.conf, conf(P3), 'the truncated entry no longer counts');
  t.equal(s0.lastIndex, net.node(leader).status().lastIndex);
});

t.test('a restart rebuilds the configuration from initialConfState and the log after the applied index', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.add('n3');
  t.ok(net.confChange('n0', 'addLearner', 'n3').ok);
  const learnerAt = net.node('n0').status().lastIndex;
  net.tickAll(1);
  t.ok(net.confChange('n0', 'promote', 'n3').ok);
  net.propose('n0', 'x');
  const want = conf([...P3, 'n3']);
  // Without a checkpoint: the whole log is scanned.
  net.restart('n1');
  t.same(net.node('n1').status().conf, want, 'applied 0: from the log');
  // With a checkpoint above both entries, the state machine knows the configuration.
  const s1 = net.get('n1');
  const promoteEntry = s1.storage.allEntries().filter((e) => e.type === EntryType.ConfChange).pop()!;
  t.ok(promoteEntry.index > learnerAt);
  s1.storage.setConfState({ index: promoteEntry.index, conf: decodeConfChangeEntry(promoteEntry.data).conf });
  net.restart('n1', { applied: s1.storage.lastIndex() });
  t.same(net.node('n1').status().conf, want, 'applied at the end: from initialConfState');
  // Checkpoint between the two entries: the first from initialConfState, the second from the log.
  s1.storage.setConfState({ index: learnerAt, conf: conf(P3, ['n3']) });
  net.restart('n1', { applied: learnerAt });
  t.same(net.node('n1').status().conf, want, 'applied between: initialConfState then the scan');
  // An uncommitted conf entry at the end of the log is in force after a restart too.
  const storage = new MemoryStorage();
  const e = { op: 'addLearner' as const, node: 'n5', context: '', conf: conf(P3, ['n5']) };
  storage.append([
    { index: 1, term: 1, type: EntryType.NoOp, data: new Uint8Array(0) },
    { index: 2, term: 1, type: EntryType.ConfChange, data: encodeConfChangeEntry(e) },
  ]);
  storage.setHardState({ term: 1, vote: 'n0', commit: 1 });
  const node = new RaftNode(makeConfig('n0', P3), storage);
  t.same(node.status().conf, conf(P3, ['n5']));
  // A joining node (empty seed) knows no configuration and never campaigns.
  const joiner = new RaftNode(makeConfig('n9', []), new MemoryStorage());
  for (let i = 0; i < 100; i++) joiner.tick();
  t.equal(joiner.status().role, Role.Follower);
  t.same(joiner.status().conf, conf([]));
});

t.test('a learner never votes, never counts for commit or check-quorum, and its votes are ignored', async (t) => {
  const net = new Network(P3, { peers: ['n0', 'n1'], learners: ['n2'] });
  net.campaign('n0');
  net.propose('n0', 'a');
  t.equal(net.node('n2').status().lastIndex, net.node('n0').status().lastIndex, 'the learner gets the log');
  t.equal(net.node('n0').status().progress.n2?.learner, true);
  net.isolate('n1');
  const before = net.node('n0').status().commit;
  net.propose('n0', 'b');
  t.equal(net.node('n0').status().commit, before, 'the learner does not count for commit');
  net.tickAll(25);
  t.not(net.node('n0').status().role, Role.Leader, 'nor for check-quorum');
  net.tick('n2', 100);
  t.equal(net.node('n2').status().role, Role.Follower, 'a learner never campaigns');
  // A vote from a non-voter is ignored.
  const storage = new MemoryStorage();
  const node = new RaftNode(makeConfig('n0', ['n0', 'n1'], { learners: ['n2'], preVote: false }), storage);
  node.campaign();
  drain(node, storage);
  node.step(msg({ type: MessageType.VoteResp, from: 'n2', to: 'n0', term: 1 }));
  t.equal(node.status().role, Role.Candidate, 'the learner vote does not elect');
  node.step(msg({ type: MessageType.VoteResp, from: 'n1', to: 'n0', term: 1 }));
  t.equal(node.status().role, Role.Leader, 'the voter vote does');
});

t.test('thesis 4.2.2: a voter whose removal is not committed may still campaign, and is elected to commit it', async (t) => {
  const net = new Network(['n0', 'n1']);
  net.campaign('n0');
  net.propose('n0', 'a');
  // n0 removes itself; the entry reaches nobody, then n0 goes down and comes back.
  net.isolate('n0');
  t.ok(net.confChange('n0', 'remove', 'n0').ok);
  t.same(net.node('n0').status().conf, conf(['n1']));
  net.restart('n0');
  net.recover();
  // n1 (conf {n0, n1}) needs n0's vote, and n0's log is ahead: only n0 can be elected, and
  // only its term can commit the removal; then it steps down and n1 leads alone.
  const leader = electOther(net, ['n0']);
  t.equal(leader, 'n1');
  t.same(net.node('n1').status().conf, conf(['n1']), 'the removal was committed');
  t.ok(net.node('n1').status().term >= 3, 'in a term n0 led');
  t.equal(net.node('n0').status().role, Role.Follower);
  net.tick('n0', 100);
  t.equal(net.node('n0').status().role, Role.Follower, 'and it never campaigns again');
});

t.test('a removed follower still gets the log until a heartbeat tells it its removal is committed', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a');
  t.ok(net.confChange('n0', 'remove', 'n2').ok);
  net.tickAll(2);
  const s2 = net.node('n2').status();
  t.same(s2.conf, conf(['n0', 'n1']), 'n2 holds its removal');
  t.equal(s2.applied, net.node('n0').status().commit, 'and applied it (its driver stops it now)');
  t.notOk('n2' in net.node('n0').status().progress, 'the leader lists it no more');
  net.delivered = [];
  net.tickAll(3);
  t.equal(net.delivered.filter((m) => m.to === 'n2').length, 0, 'nor sends it anything after the farewell');
});

t.test('a node that elects itself (a single voter) sends nothing of its new term before that term is durable', async (t) => {
  const storage = new MemoryStorage();
  const node = new RaftNode(makeConfig('n0', ['n0'], { learners: ['n1'] }), storage);
  node.campaign();
  const rd = node.ready();
  t.equal(node.status().role, Role.Leader);
  t.equal(rd.hardState?.term, 1);
  t.same(rd.messages, [], 'no append to the learner yet');
  t.ok(rd.persistedMessages.some((m) => m.type === MessageType.Append && m.to === 'n1'), 'it goes once the term is durable');
});

t.test('a restart takes the term of the log when its hard state is older (a single voter crashed between the two writes)', async (t) => {
  const storage = new MemoryStorage();
  storage.append([
    { index: 1, term: 1, type: EntryType.NoOp, data: new Uint8Array(0) },
    { index: 2, term: 2, type: EntryType.NoOp, data: new Uint8Array(0) },
  ]);
  storage.setHardState({ term: 1, vote: 'n0', commit: 1 });
  const node = new RaftNode(makeConfig('n0', ['n0']), storage);
  t.equal(node.status().term, 2);
  t.equal(node.status().vote, '');
  node.campaign();
  t.equal(node.status().term, 3, 'it never leads term 2 a second time');
});
