// Snapshots, the etcd way: a leader whose log is compacted below what a follower needs sends a
// Snapshot (Progress state Snapshot), the follower restores its log to it (Ready.snapshot), and
// normal appends continue after it. Compaction is the driver's (Storage.firstIndex() moves).

import t from 'tap';
import { MemoryStorage, type Message, MessageType, Role } from '../../src/raft/index.ts';
import { Network, drain, entry, ids, lone, msg } from './helpers.ts';

const P3 = ids(3);

/** A 3-node network where n0 leads, n2 missed `lagging` entries and n0 compacted its log up to
 *  its applied index. Returns the compaction point. */
function laggingFollower(lagging: number, overrides = {}) {
  const net = new Network(P3, overrides);
  net.campaign('n0');
  net.propose('n0', 'a', 'b');
  net.isolate('n2');
  for (let i = 0; i < lagging; i++) net.propose('n0', `x${i}`);
  const n0 = net.get('n0');
  const applied = n0.node.status().applied;
  n0.storage.compact(applied, applied);
  net.recover();
  return { net, compactedTo: applied, compactedTerm: n0.storage.term(applied) };
}

function sent(net: Network, type: MessageType, to: string): Message[] {
  return net.delivered.filter((m) => m.type === type && m.to === to);
}

/** Between two snapshots sent to `to` there was an answer from it (no resend storm). */
function snapshotsPaced(net: Network, to: string): boolean {
  let outstanding = false;
  for (const m of net.delivered) {
    if (m.type === MessageType.Snapshot && m.to === to) {
      if (outstanding) return false;
      outstanding = true;
    } else if (m.from === to && (m.type === MessageType.AppendResp || m.type === MessageType.HeartbeatResp)) {
      outstanding = false;
    }
  }
  return true;
}

t.test('a leader sends a Snapshot when the entries a follower needs are compacted, and appends follow', async (t) => {
  const { net, compactedTo, compactedTerm } = laggingFollower(5);
  t.equal(net.get('n0').storage.firstIndex(), compactedTo + 1);
  const heldBefore = net.node('n2').status().lastIndex;
  net.tickAll(3);
  const snaps = sent(net, MessageType.Snapshot, 'n2');
  // A second one may follow if a rejection of an append sent before the first arrives after it
  // was reported delivered (as in etcd); never two without an answer between.
  t.ok(snaps.length >= 1, 'a snapshot');
  t.ok(snapshotsPaced(net, 'n2'), 'each after an answer of the follower');
  t.equal(snaps[0].index, compactedTo, 'of the compaction point');
  t.equal(snaps[0].logTerm, compactedTerm);
  t.equal(snaps[0].entries.length, 0);
  const n2 = net.get('n2');
  t.equal(n2.storage.firstIndex(), compactedTo + 1, 'the follower installed it');
  t.equal(n2.storage.snapshot().index, compactedTo);
  const leader = net.node('n0').status();
  t.equal(n2.node.status().lastIndex, leader.lastIndex, 'and caught up by appends');
  t.equal(n2.node.status().commit, leader.commit);
  t.equal(n2.node.status().applied, leader.commit, 'applied = commit (the snapshot, then the entries after it)');
  const appliedIndexes = n2.applied.map((e) => e.index);
  t.ok(appliedIndexes.every((i, k) => k === 0 || i > appliedIndexes[k - 1]), 'applied in increasing order');
  t.notOk(appliedIndexes.some((i) => i > heldBefore && i <= compactedTo), 'entries it never held up to the snapshot are not applied: the snapshot is');
  t.equal(leader.progress.n2.state, 'Replicate');
  t.equal(leader.progress.n2.match, leader.lastIndex);
  // And replication goes on as usual.
  net.propose('n0', 'after');
  net.tickAll(1);
  t.equal(net.node('n2').status().commit, net.node('n0').status().lastIndex);
});

t.test('Progress Snapshot: one snapshot outstanding, heartbeats continue, failure retries, success replicates', async (t) => {
  const { net, compactedTo } = laggingFollower(4);
  let dropSnapshots = true;
  net.filter = (m) => !(dropSnapshots && m.type === MessageType.Snapshot);
  // Lost without a report (the transport does not know): the follower waits in state Snapshot.
  net.reportSnapshots = false;
  net.tickAll(1);
  let pr = net.node('n0').status().progress.n2;
  t.equal(pr.state, 'Snapshot');
  t.equal(pr.pendingSnapshot, compactedTo);
  const appendsBefore = net.delivered.filter((m) => m.to === 'n2' && m.type === MessageType.Append).length;
  const heartbeatsBefore = sent(net, MessageType.Heartbeat, 'n2').length;
  const tried: number[] = [];
  const seen: Message[] = [];
  net.filter = (m) => {
    if (m.type === MessageType.Snapshot) seen.push(m);
    return !(dropSnapshots && m.type === MessageType.Snapshot);
  };
  net.tickAll(10);
  tried.push(seen.length);
  t.equal(tried[0], 0, 'no snapshot resent while one is outstanding (heartbeat responses do not resend)');
  t.ok(sent(net, MessageType.Heartbeat, 'n2').length > heartbeatsBefore, 'heartbeats continue');
  t.equal(net.delivered.filter((m) => m.to === 'n2' && m.type === MessageType.Append).length, appendsBefore, 'no appends while in Snapshot');
  // The driver reports the failure: Probe, paused until the next heartbeat response, then again.
  net.node('n0').reportSnapshot('n2', false);
  pr = net.node('n0').status().progress.n2;
  t.equal(pr.state, 'Probe');
  t.equal(pr.pendingSnapshot, 0);
  net.tickAll(1);
  t.equal(seen.length, 1, 'a new snapshot after the next heartbeat response');
  t.equal(net.node('n0').status().progress.n2.state, 'Snapshot');
  // reportUnreachable also ends the wait.
  net.node('n0').reportUnreachable('n2');
  t.equal(net.node('n0').status().progress.n2.state, 'Probe');
  dropSnapshots = false;
  net.reportSnapshots = true;
  net.tickAll(2);
  pr = net.node('n0').status().progress.n2;
  t.equal(pr.state, 'Replicate', 'delivered and answered: Replicate');
  t.equal(pr.match, net.node('n0').status().lastIndex);
  t.equal(net.get('n2').storage.firstIndex(), compactedTo + 1);
});

t.test('reportSnapshot(ok) probes after the snapshot; a report when no snapshot is pending is ignored', async (t) => {
  const { net, compactedTo } = laggingFollower(3);
  net.node('n0').reportSnapshot('n1', true);
  t.equal(net.node('n0').status().progress.n1.state, 'Replicate', 'n1 was not waiting for a snapshot');
  net.filter = (m) => m.type !== MessageType.Snapshot;
  net.reportSnapshots = false;
  net.tickAll(1);
  t.equal(net.node('n0').status().progress.n2.state, 'Snapshot');
  net.node('n0').reportSnapshot('n2', true);
  const pr = net.node('n0').status().progress.n2;
  t.equal(pr.state, 'Probe');
  t.equal(pr.next, compactedTo + 1, 'next is after the snapshot');
});

/** A lone follower n1 of leader n0 (term 1) holding entries 1..5 of term 1, commit `commit`. */
function follower(commit: number, overrides = {}) {
  const storage = new MemoryStorage();
  storage.append([1, 2, 3, 4, 5].map((i) => entry(i, 1)));
  storage.setHardState({ term: 1, vote: 'n0', commit });
  const { node } = lone('n1', P3, overrides, storage);
  return { node, storage };
}

function snapshotMsg(index: number, term: number, commit = index, msgTerm = 1): Message {
  return msg({ type: MessageType.Snapshot, from: 'n0', to: 'n1', term: msgTerm, index, logTerm: term, commit });
}

t.test('a stale snapshot (at or below the commit index) is ignored and answered with the commit index', async (t) => {
  const { node, storage } = follower(5);
  drain(node, storage);
  node.step(snapshotMsg(3, 1));
  const rd = drain(node, storage);
  t.equal(rd.snapshot, null);
  t.equal(rd.persistedMessages.length, 1);
  t.match(rd.persistedMessages[0], { type: MessageType.AppendResp, to: 'n0', index: 5, reject: false });
  t.equal(node.status().lastIndex, 5, 'log unchanged');
  t.equal(storage.firstIndex(), 1);
});

t.test('a snapshot whose last entry the log holds only moves the commit index', async (t) => {
  const { node, storage } = follower(2);
  drain(node, storage);
  node.step(snapshotMsg(4, 1));
  const rd = drain(node, storage);
  t.equal(rd.snapshot, null, 'no restore');
  t.equal(node.status().commit, 4);
  t.equal(node.status().lastIndex, 5, 'the entry after it is kept');
  t.match(rd.persistedMessages[0], { type: MessageType.AppendResp, index: 4, reject: false });
  t.same(rd.committedEntries.map((e) => e.index), [3, 4]);
});

t.test('restore: the log becomes the snapshot; term and lastIndex are right while it is installed; appends follow', async (t) => {
  const { node, storage } = follower(2, { checkQuorum: false });
  drain(node, storage);
  // A conflicting snapshot: term 2 at 10 (our log has nothing there).
  node.step(snapshotMsg(10, 2, 12, 2));
  let st = node.status();
  t.equal(st.lastIndex, 10, 'lastIndex is the snapshot index before the install');
  t.equal(st.commit, 10);
  t.equal(st.term, 2);
  // A vote request for a shorter log of the same last term is refused: our last entry is (10, 2).
  node.step(msg({ type: MessageType.PreVote, from: 'n2', to: 'n1', term: 3, index: 9, logTerm: 2 }));
  const rd = node.ready();
  t.same(rd.snapshot, { index: 10, term: 2, conf: null });
  t.equal(rd.entries.length, 0);
  t.equal(rd.committedEntries.length, 0);
  t.equal(rd.hardState?.commit, 10);
  t.ok(rd.mustSync);
  t.match(rd.persistedMessages, [{ type: MessageType.AppendResp, index: 10, reject: false }], 'acknowledged once durable');
  t.match(rd.messages, [{ type: MessageType.PreVoteResp, reject: true }], 'lastTerm includes the snapshot');
  storage.applySnapshot(rd.snapshot!);
  storage.setHardState(rd.hardState!);
  node.advance(rd);
  st = node.status();
  t.equal(st.applied, 10, 'the snapshot is applied');
  t.equal(storage.firstIndex(), 11);
  t.equal(storage.lastIndex(), 10);
  node.step(msg({ type: MessageType.Append, from: 'n0', to: 'n1', term: 2, index: 10, logTerm: 2, commit: 12, entries: [entry(11, 2), entry(12, 2)] }));
  const rd2 = drain(node, storage);
  t.same(rd2.entries.map((e) => e.index), [11, 12]);
  t.match(rd2.persistedMessages, [{ type: MessageType.AppendResp, index: 12 }]);
  const rd3 = drain(node, storage);
  t.same(rd3.committedEntries.map((e) => e.index), [11, 12], 'entries after the snapshot are applied');
  t.equal(node.status().applied, 12);
});

t.test('a candidate whose log is only a snapshot campaigns with the snapshot as its last entry', async (t) => {
  const storage = new MemoryStorage();
  storage.applySnapshot({ index: 7, term: 3 });
  storage.setHardState({ term: 3, vote: '', commit: 7 });
  const { node } = lone('n1', P3, { preVote: false }, storage);
  node.campaign();
  const rd = drain(node, storage);
  const votes = rd.persistedMessages.filter((m) => m.type === MessageType.Vote);
  t.equal(votes.length, 2);
  for (const v of votes) t.match(v, { index: 7, logTerm: 3, term: 4 });
});

t.test('Ready ordering: a snapshot and the entries after it in one Ready; committed entries start after it', async (t) => {
  for (const applyUnpersisted of [false, true]) {
    const storage = new MemoryStorage();
    storage.setHardState({ term: 2, vote: 'n0', commit: 0 });
    const { node } = lone('n1', P3, { applyUnpersisted }, storage);
    drain(node, storage);
    node.step(snapshotMsg(10, 2, 12, 2));
    node.step(msg({ type: MessageType.Append, from: 'n0', to: 'n1', term: 2, index: 10, logTerm: 2, commit: 12, entries: [entry(11, 2), entry(12, 2)] }));
    const rd = node.ready();
    t.same(rd.snapshot, { index: 10, term: 2, conf: null }, `applyUnpersisted=${applyUnpersisted}: the snapshot`);
    t.same(rd.entries.map((e) => e.index), [11, 12], 'then the entries after it');
    t.same(
      rd.committedEntries.map((e) => e.index),
      applyUnpersisted ? [11, 12] : [],
      'committed entries after the snapshot (at once only when they may be applied unpersisted)',
    );
    t.same(rd.persistedMessages.map((m) => m.index), [10, 12]);
    // A pipelined driver: accept now, report durability later.
    node.accept(rd);
    t.equal(node.status().applied, applyUnpersisted ? 12 : 10, 'accept applies the snapshot');
    t.notOk(node.hasReady(), 'nothing to apply before the install is durable');
    storage.applySnapshot(rd.snapshot!);
    storage.setHardState(rd.hardState!);
    storage.append(rd.entries);
    node.persisted(12, 2);
    if (!applyUnpersisted) {
      const rd2 = node.ready();
      t.same(rd2.committedEntries.map((e) => e.index), [11, 12]);
      node.accept(rd2);
    }
    t.equal(node.status().applied, 12);
    t.notOk(node.hasReady());
  }
});

t.test('pipelined: a snapshot-only Ready is reported durable with the snapshot (index, term)', async (t) => {
  const storage = new MemoryStorage();
  storage.setHardState({ term: 2, vote: 'n0', commit: 0 });
  const { node } = lone('n1', P3, {}, storage);
  drain(node, storage);
  node.step(snapshotMsg(10, 2, 10, 2));
  const rd = node.ready();
  node.accept(rd);
  node.step(msg({ type: MessageType.Append, from: 'n0', to: 'n1', term: 2, index: 10, logTerm: 2, commit: 11, entries: [entry(11, 2)] }));
  const rd2 = node.ready();
  t.same(rd2.entries.map((e) => e.index), [11]);
  t.equal(rd2.committedEntries.length, 0, 'not applied before the snapshot and entry 11 are durable');
  node.accept(rd2);
  storage.applySnapshot(rd.snapshot!);
  node.persisted(10, 2);
  storage.append(rd2.entries);
  node.persisted(11, 2);
  const rd3 = node.ready();
  t.same(rd3.committedEntries.map((e) => e.index), [11]);
  node.accept(rd3);
  t.equal(node.status().applied, 11);
});

t.test('a restart from a compacted MemoryStorage: applied starts at the compaction point, commit clamps', async (t) => {
  const storage = new MemoryStorage();
  storage.append([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => entry(i, 1)));
  storage.compact(6, 8);
  for (const [commit, wantCommit] of [
    [8, 8],
    [0, 6],
    [20, 10],
  ] as const) {
    storage.setHardState({ term: 1, vote: '', commit });
    const { node } = lone('n0', P3, { applied: 0 }, storage);
    const st = node.status();
    t.equal(st.applied, 6, `commit ${commit}: applied >= firstIndex - 1`);
    t.equal(st.commit, wantCommit, `commit ${commit}: clamped to [applied, lastIndex]`);
    const rd = node.ready();
    t.same(rd.committedEntries.map((e) => e.index), Array.from({ length: wantCommit - 6 }, (_, i) => 7 + i));
  }
  t.throws(() => storage.compact(9, 8), RangeError, 'compaction above the applied index is refused');
});

t.test('a node restarted over a compacted log leads and serves a follower that lost everything by snapshot', async (t) => {
  const net = new Network(P3);
  net.campaign('n0');
  net.propose('n0', 'a', 'b', 'c');
  net.tickAll(1);
  for (const id of P3) {
    const n = net.get(id);
    n.storage.compact(n.node.status().applied, n.node.status().applied);
  }
  const point = net.get('n0').storage.firstIndex() - 1;
  t.equal(point, 4, 'everyone compacted everything it applied');
  // n2's disk is replaced by an empty one that knows the group (a plain restart of a fresh store).
  const n2 = net.get('n2');
  n2.storage = new MemoryStorage();
  net.restart('n2');
  net.restart('n0');
  net.restart('n1');
  const leader = net.electLeader();
  t.not(leader, 'n2', 'an empty log cannot win');
  net.tickAll(3);
  t.equal(net.get('n2').storage.snapshot().index >= point, true, 'n2 installed a snapshot');
  t.equal(net.node('n2').status().commit, net.node(leader).status().commit);
  net.propose(leader, 'd');
  net.tickAll(1);
  t.equal(net.node('n2').status().applied, net.node(leader).status().lastIndex);
});

t.test('a leader whose storage compacts while a follower is in Replicate sends it a snapshot', async (t) => {
  const net = new Network(P3, { maxInflightPerFollower: 4 });
  net.campaign('n0');
  net.propose('n0', 'a');
  t.equal(net.node('n0').status().progress.n2.state, 'Replicate');
  // n2's appends are lost while the leader goes on (and keeps it in Replicate: nothing says no).
  net.filter = (m) => !(m.to === 'n2' && m.type === MessageType.Append);
  for (let i = 0; i < 3; i++) net.propose('n0', `x${i}`);
  t.equal(net.node('n0').status().progress.n2.state, 'Replicate');
  t.ok(net.node('n0').status().progress.n2.inflight > 0, 'appends in flight');
  const n0 = net.get('n0');
  const applied = n0.node.status().applied;
  n0.storage.compact(applied, applied);
  net.recover();
  net.tickAll(4);
  t.ok(sent(net, MessageType.Snapshot, 'n2').length >= 1, 'a snapshot');
  t.ok(snapshotsPaced(net, 'n2'), 'each after an answer of the follower');
  t.equal(net.get('n2').storage.snapshot().index, applied);
  const pr = net.node('n0').status().progress.n2;
  t.equal(pr.state, 'Replicate');
  t.equal(pr.match, net.node('n0').status().lastIndex);
});

t.test('a snapshot from a stale leader is refused like its appends; from a newer term the follower follows', async (t) => {
  const { node, storage } = follower(2);
  drain(node, storage);
  node.step(msg({ type: MessageType.Vote, from: 'n2', to: 'n1', term: 3, index: 5, logTerm: 1 }));
  drain(node, storage);
  node.step(snapshotMsg(10, 2, 10, 2));
  const rd = drain(node, storage);
  t.equal(rd.snapshot, null, 'term 2 < 3: ignored');
  t.match(rd.messages, [{ type: MessageType.AppendResp, term: 3 }], 'the stale leader learns the term');
  node.step(msg({ type: MessageType.Snapshot, from: 'n2', to: 'n1', term: 4, index: 10, logTerm: 4, commit: 10 }));
  const st = node.status();
  t.equal(st.role, Role.Follower);
  t.equal(st.leaderId, 'n2');
  t.equal(st.lastIndex, 10);
});
