// Beyond the paper: pre-vote (thesis 9.6), check-quorum, leadership transfer, preferred leader,
// fast election on reportUnreachable, pipelining, batching, proposal refusals, determinism.

import t from 'tap';
import { type Message, MessageType, NONE, Role } from '../../src/raft/index.ts';
import { Network, bytes, drain, ids, lone, msg, text } from './helpers.ts';

const P3 = ids(3);

function terms(net: Network): number[] {
  return [...net.nodes.values()].map((n) => n.node.status().term);
}

t.test('9.6: prevote does not disrupt a leader with a quorum', async (t) => {
  const run = (preVote: boolean) => {
    const net = new Network(P3, { preVote });
    net.campaign('n0');
    net.isolate('n2');
    net.tick('n2', 50); // n2 times out again and again, alone
    const n2Term = net.node('n2').status().term;
    net.recover();
    net.tickAll(5);
    return { n2Term, leader: net.leaders(), terms: terms(net) };
  };
  const withPreVote = run(true);
  t.equal(withPreVote.n2Term, 1, 'a pre-candidate does not increase its term');
  t.same(withPreVote.leader, ['n0'], 'the leader keeps its job');
  t.same(withPreVote.terms, [1, 1, 1]);
  // A node that campaigns while the others hear from a live leader gets no pre-votes.
  const net = new Network(P3);
  net.campaign('n0');
  net.tickAll(2);
  net.campaign('n2');
  t.same(net.leaders(), ['n0'], 'a pre-candidate cannot win against a leader lease');
  t.same(terms(net), [1, 1, 1]);
  const without = run(false);
  t.ok(without.n2Term > 1, 'without pre-vote the isolated node inflates its term');
  t.ok(without.terms[0] > 1, 'and disrupts the leader when it returns');
});

t.test('9.6: a pre-vote changes neither term nor vote of the voter', async (t) => {
  const { node, storage } = lone('n0', P3);
  node.step(msg({ type: MessageType.PreVote, from: 'n1', to: 'n0', term: 1 }));
  const rd = drain(node, storage);
  t.equal(rd.hardState, null, 'no hard state change');
  t.equal(rd.messages.length, 1);
  t.equal(rd.messages[0].type, MessageType.PreVoteResp);
  t.notOk(rd.messages[0].reject);
  t.equal(rd.messages[0].term, 1, 'answered in the pre-vote term');
  t.equal(node.status().term, 0);
  t.equal(node.status().vote, NONE);
});

t.test('9.6: a voter in a leader lease refuses pre-votes unless it is a transfer', async (t) => {
  const { node, storage } = lone('n0', P3);
  node.step(msg({ type: MessageType.Heartbeat, from: 'n1', to: 'n0', term: 1 }));
  drain(node, storage);
  node.step(msg({ type: MessageType.PreVote, from: 'n2', to: 'n0', term: 2 }));
  t.equal(drain(node, storage).messages.length, 0, 'ignored while in the lease');
  node.step(msg({ type: MessageType.Vote, from: 'n2', to: 'n0', term: 2 }));
  t.equal(node.status().term, 1, 'a vote request in the lease does not bump the term');
  node.step(msg({ type: MessageType.Vote, from: 'n2', to: 'n0', term: 2, transfer: true }));
  const rd = drain(node, storage);
  t.equal(rd.persistedMessages[0].type, MessageType.VoteResp);
  t.notOk(rd.persistedMessages[0].reject, 'a transfer campaign ignores the lease');
  // Once the lease has expired, pre-votes are granted again.
  const other = lone('n2', P3);
  other.node.step(msg({ type: MessageType.Heartbeat, from: 'n0', to: 'n2', term: 1 }));
  drain(other.node, other.storage);
  for (let i = 0; i < 10; i++) other.node.tick();
  other.node.step(msg({ type: MessageType.PreVote, from: 'n1', to: 'n2', term: 2 }));
  const r2 = drain(other.node, other.storage);
  t.ok(r2.messages.some((m) => m.type === MessageType.PreVoteResp && !m.reject), 'granted after the lease');
});

t.test('check quorum: a leader that hears from no majority for an election timeout steps down', async (t) => {
  const run = (checkQuorum: boolean) => {
    const net = new Network(P3, { checkQuorum });
    net.campaign('n0');
    net.isolate('n0');
    net.tick('n0', 2 * 10 + 1);
    return net.node('n0').status().role;
  };
  t.equal(run(true), Role.Follower);
  t.equal(run(false), Role.Leader, 'without check-quorum the isolated leader stays');
});

t.test('check quorum: a leader with a quorum stays leader', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.isolate('n2');
  net.tickAll(50);
  t.equal(net.node('n0').status().role, Role.Leader);
  t.equal(net.node('n0').status().term, 1);
});

t.test('a stale leader learns the new term and steps down when it returns', async (t) => {
  const net = new Network(P3, { checkQuorum: false });
  net.campaign('n0');
  net.isolate('n0');
  net.campaign('n1');
  t.equal(net.node('n1').status().role, Role.Leader);
  t.equal(net.node('n0').status().role, Role.Leader, 'isolated, n0 still thinks it leads');
  const stale = net.node('n0').propose([bytes('lost')]);
  t.ok(stale.ok);
  net.recover();
  net.tickAll(3);
  t.equal(net.node('n0').status().role, Role.Follower);
  t.same(net.leaders(), ['n1']);
  const committed = net.get('n0').storage.allEntries().map((e) => e.term);
  t.notOk(committed.includes(1) && committed.length > 1 && committed[1] === 1, "the stale leader's entry is gone");
});

t.test('leadership transfer: the target is brought up to date, then takes over', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.isolate('n2');
  net.propose('n0', 'a', 'b');
  net.recover();
  // Hold n2 back so the transfer must catch it up first.
  net.drop(MessageType.Append);
  t.ok(net.node('n0').transferLeadership('n2'));
  const r = net.node('n0').propose([bytes('x')]);
  t.match(r, { ok: false, code: 'TRANSFERRING', leaderHint: 'n0', reason: /transferred to n2/ }, 'proposals refused while transferring');
  t.equal(net.node('n0').status().transferee, 'n2');
  net.recover();
  net.tickAll(3);
  t.same(net.leaders(), ['n2'], 'n2 leads although its voters were in a lease');
  t.equal(net.node('n2').status().term, 2);
  t.ok(net.delivered.some((m) => m.type === MessageType.TimeoutNow && m.to === 'n2'));
  t.ok(net.delivered.some((m) => m.type === MessageType.Vote && m.transfer));
});

t.test('leadership transfer is abandoned after transferTimeoutTicks', async (t) => {
  const net = new Network(P3, { transferTimeoutTicks: 5 });
  net.campaign('n0');
  net.isolate('n2');
  net.propose('n0', 'a');
  t.ok(net.node('n0').transferLeadership('n2'));
  net.tickAll(4);
  t.equal(net.node('n0').status().transferee, 'n2');
  net.tickAll(1);
  t.equal(net.node('n0').status().transferee, NONE, 'abandoned');
  t.ok(net.node('n0').propose([bytes('b')]).ok, 'proposals are accepted again');
  t.notOk(net.node('n0').transferLeadership('n0'), 'cannot transfer to itself');
  t.notOk(net.node('n1').transferLeadership('n2'), 'only the leader transfers');
});

t.test('preferred leader: a leader hands over to the preferred node once it is caught up', async (t) => {
  const net = new Network(P3, { preferredLeader: 'n2' });
  net.isolate('n2');
  net.campaign('n0');
  net.propose('n0', 'a');
  net.tickAll(3);
  t.same(net.leaders(), ['n0'], 'no hand-over while the preferred node is unreachable');
  net.recover();
  net.tickAll(5);
  t.same(net.leaders(), ['n2']);
  const before = net.node('n2').status().term;
  net.tickAll(30);
  t.same(net.leaders(), ['n2'], 'the preferred leader keeps it');
  t.equal(net.node('n2').status().term, before);
});

function deadLeaderNet(seed = 0) {
  const net = new Network(P3, (id) => ({ seed: seed * 31 + P3.indexOf(id) + 1 }));
  net.campaign('n0');
  net.tickAll(3);
  net.isolate('n0'); // the leader process dies
  return net;
}

t.test('reportUnreachable: followers elect a new leader within a few ticks, not an election timeout', async (t) => {
  for (let seed = 0; seed < 20; seed++) {
    const net = deadLeaderNet(seed);
    net.node('n1').reportUnreachable('n0');
    net.node('n2').reportUnreachable('n0');
    t.equal(net.node('n1').status().leaderId, NONE, 'the leader is forgotten');
    let ticks = 0;
    while (!net.leaders().some((l) => l !== 'n0') && ticks < 50) {
      net.tickAll();
      ticks++;
    }
    t.ok(ticks <= 3 * 3, `seed ${seed}: new leader after ${ticks} ticks`);
    t.equal(net.node(net.leaders().find((l) => l !== 'n0')!).status().term, 2, `seed ${seed}: no split vote`);
  }
  // Without the report, the followers wait out the lease and an election timeout.
  const net = deadLeaderNet();
  net.tickAll(9);
  t.same(net.leaders(), ['n0'], 'no one else leads within the election timeout without the report');
});

t.test('reportUnreachable: a failed fast campaign is retried while no leader is known', async (t) => {
  const net = deadLeaderNet(3);
  // Only n1 learns; n2 still honours its lease, so n1's first pre-votes fail.
  net.node('n1').reportUnreachable('n0');
  let ticks = 0;
  while (!net.leaders().some((l) => l !== 'n0') && ticks < 50) {
    net.tickAll();
    ticks++;
  }
  t.ok(ticks <= 10 + 2 * 3, `elected after ${ticks} ticks (n2's lease lasts 10 ticks)`);
  const preVotes = net.delivered.filter((m) => m.type === MessageType.PreVote && m.from === 'n1');
  t.ok(preVotes.length >= 2, `n1 retried its pre-vote (${preVotes.length} rounds reached n2)`);
});

t.test('reportUnreachable on a leader sends the follower back to probe; ignored for a non-leader peer', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a');
  t.equal(net.node('n0').status().progress.n1.state, 'Replicate');
  net.node('n0').reportUnreachable('n1');
  t.equal(net.node('n0').status().progress.n1.state, 'Probe');
  net.node('n1').reportUnreachable('n2');
  t.equal(net.node('n1').status().leaderId, 'n0');
});

/** A leader whose messages are captured rather than delivered. */
function leaderWithCapturedOutput(overrides: Parameters<typeof lone>[2]) {
  const net = new Network(P3, overrides);
  net.campaign('n0');
  net.tickAll(2);
  const captured: Message[] = [];
  net.filter = (m) => {
    if (m.from === 'n0') {
      captured.push(m);
      return false;
    }
    return true;
  };
  return { net, captured };
}

t.test('pipelining: at most maxInflightPerFollower appends in flight per follower in Replicate', async (t) => {
  const { net, captured } = leaderWithCapturedOutput({ maxInflightPerFollower: 4, maxEntriesPerMessage: 1 });
  t.equal(net.node('n0').status().progress.n1.state, 'Replicate');
  for (let i = 0; i < 10; i++) {
    net.node('n0').propose([bytes(`e${i}`)]);
    net.stabilize();
  }
  const toN1 = () => captured.filter((m) => m.to === 'n1' && m.type === MessageType.Append && m.entries.length > 0);
  t.equal(toN1().length, 4, 'four single-entry appends, then the window is full');
  t.equal(net.node('n0').status().progress.n1.inflight, 4);
  // Acknowledge the first two: two more go out.
  const second = toN1()[1];
  net.filter = null;
  net.node('n0').step(msg({ type: MessageType.AppendResp, from: 'n1', to: 'n0', term: 1, index: second.entries[0].index }));
  const rd = net.node('n0').ready();
  net.node('n0').advance(rd);
  t.equal(rd.messages.filter((m) => m.to === 'n1' && m.entries.length > 0).length, 2, 'freed slots are reused');
});

t.test('pipelining: a rejection in Replicate sends the follower back to Probe', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a');
  t.equal(net.node('n0').status().progress.n1.state, 'Replicate');
  net.cut('n0', 'n1');
  net.propose('n0', 'b'); // lost on the way: n1 has 2, the leader sent 3
  net.node('n0').step(msg({ type: MessageType.AppendResp, from: 'n1', to: 'n0', term: 1, index: 2, reject: true, rejectHint: 2, rejectTerm: 1 }));
  t.equal(net.node('n0').status().progress.n1.state, 'Replicate', 'a rejection at or below match is stale');
  net.node('n0').step(msg({ type: MessageType.AppendResp, from: 'n1', to: 'n0', term: 1, index: 3, reject: true, rejectHint: 2, rejectTerm: 1 }));
  t.equal(net.node('n0').status().progress.n1.state, 'Probe');
  t.equal(net.node('n0').status().progress.n1.next, 3);
  net.recover();
  net.stabilize();
  t.equal(net.node('n0').status().progress.n1.match, 3);
  t.equal(net.node('n0').status().progress.n1.state, 'Replicate', 'and recovers after the next match');
});

t.test('batching: appends respect maxEntriesPerMessage and maxBytesPerMessage, with at least one entry', async (t) => {
  const { net, captured } = leaderWithCapturedOutput({ maxEntriesPerMessage: 3, maxBytesPerMessage: 250 });
  const r = net.node('n0').propose(Array.from({ length: 10 }, () => new Uint8Array(100)));
  t.ok(r.ok);
  net.stabilize();
  const apps = captured.filter((m) => m.to === 'n1' && m.entries.length > 0);
  t.ok(apps.length >= 4, `${apps.length} appends`);
  for (const m of apps) {
    t.ok(m.entries.length <= 3);
    t.ok(m.entries.reduce((s, e) => s + e.data.byteLength, 0) <= 250);
  }
  t.same(apps.map((m) => m.entries.length), [2, 2, 2, 2, 2], 'two 100-byte entries fit in 250 bytes');
  const big = leaderWithCapturedOutput({ maxBytesPerMessage: 10 });
  big.net.node('n0').propose([new Uint8Array(100), new Uint8Array(100)]);
  big.net.stabilize();
  const bigApps = big.captured.filter((m) => m.to === 'n1' && m.entries.length > 0);
  t.same(bigApps.map((m) => m.entries.length), [1, 1], 'an oversized entry still goes, alone');
});

t.test('propose on a non-leader returns NOT_LEADER with the leader hint', async (t) => {
  const net = new Network(P3);
  t.match(net.node('n1').propose([bytes('x')]), { ok: false, code: 'NOT_LEADER', leaderHint: NONE, reason: /not the leader/ });
  net.campaign('n0');
  t.match(net.node('n1').propose([bytes('x')]), { ok: false, code: 'NOT_LEADER', leaderHint: 'n0' });
  const ok = net.node('n0').propose([bytes('x'), bytes('y')]);
  t.same(ok, { ok: true, term: 1, firstIndex: 2, lastIndex: 3 });
  t.throws(() => net.node('n0').propose([]), TypeError);
});

t.test('propose returns UNCOMMITTED_LIMIT when uncommitted bytes would exceed maxUncommittedBytes', async (t) => {
  const net = new Network(P3, { maxUncommittedBytes: 1000 });
  net.campaign('n0');
  net.isolate('n0');
  t.ok(net.node('n0').propose([new Uint8Array(600)]).ok);
  t.match(net.node('n0').propose([new Uint8Array(600)]), { ok: false, code: 'UNCOMMITTED_LIMIT', leaderHint: 'n0', reason: /600 bytes/ });
  t.ok(net.node('n0').propose([new Uint8Array(300)]).ok, 'a smaller one still fits');
  net.recover();
  net.tickAll(3);
  t.ok(net.node('n0').propose([new Uint8Array(600)]).ok, 'room again once applied');
  t.ok(new Network(P3, { maxUncommittedBytes: 10 }) && true);
  const solo = new Network(['n0'], { maxUncommittedBytes: 10 });
  solo.campaign('n0');
  t.ok(solo.node('n0').propose([new Uint8Array(100)]).ok, 'one proposal alone may exceed the limit');
});

t.test('heartbeats carry min(match, commit)', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.isolate('n2');
  net.propose('n0', 'a', 'b');
  net.tickAll(1);
  const hbs = net.delivered.filter((m) => m.type === MessageType.Heartbeat);
  const n1 = hbs.filter((m) => m.to === 'n1').pop()!;
  t.equal(n1.commit, 3);
  net.recover();
  const captured: Message[] = [];
  net.filter = (m) => (m.to === 'n2' && m.type === MessageType.Heartbeat ? (captured.push(m), false) : true);
  net.tickAll(1);
  t.equal(captured[0].commit, 1, 'n2 only matched up to 1');
});

t.test('determinism: the same seeds and inputs give the same messages', async (t) => {
  const run = () => {
    const net = new Network(ids(5), (id) => ({ seed: 42 + id.charCodeAt(1) }));
    net.electLeader();
    const l = net.leaders()[0];
    net.propose(l, 'a', 'b');
    net.isolate(l);
    net.tickAll(40);
    net.recover();
    net.tickAll(10);
    return JSON.stringify(net.delivered.map((m) => [m.type, m.from, m.to, m.term, m.index, m.commit, m.reject]));
  };
  const a = run();
  t.equal(run(), a);
  t.ok(a.length > 1000);
});

t.test('hasReady is false when idle; ready/advance must alternate', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.tickAll(2);
  const n1 = net.node('n1');
  t.notOk(n1.hasReady());
  n1.step(msg({ type: MessageType.Heartbeat, from: 'n0', to: 'n1', term: 1, commit: 1 }));
  t.ok(n1.hasReady());
  const rd = n1.ready();
  t.notOk(n1.hasReady(), 'nothing new while a Ready is out');
  t.throws(() => n1.ready(), /advanced/);
  n1.advance(rd);
  t.notOk(n1.hasReady());
});

t.test('a commit alone is told to followers on the next tick, not with an extra round of appends', async (t) => {
  const net = new Network(['n0', 'n1', 'n2']);
  const leader = net.electLeader();
  net.tick(leader);
  const before = net.delivered.length;
  net.propose(leader, 'x');
  const appends = net.delivered.slice(before).filter((m) => m.type === MessageType.Append);
  t.equal(appends.length, 2, 'one append per follower for one proposal (no commit-only round)');
  const follower = ['n0', 'n1', 'n2'].find((id) => id !== leader)!;
  t.notOk(net.get(follower).applied.some((e) => text(e) === 'x'), 'followers have not applied it yet');
  t.ok(net.get(leader).applied.some((e) => text(e) === 'x'), 'the leader applied it');
  net.tick(leader);
  for (const id of ['n0', 'n1', 'n2']) t.ok(net.get(id).applied.some((e) => text(e) === 'x'), `${id} applied it after one tick`);
});
