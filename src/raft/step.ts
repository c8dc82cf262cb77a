// How a Raft node handles a message for its role (etcd's stepLeader, stepCandidate and
// stepFollower, with the vote, append and heartbeat handlers they use): functions of the Raft
// they step, so that core.ts keeps the state, the transitions, ticks and proposals. Raft.step
// does the term checks that hold for every role first, then calls one of these.

import type { Raft } from './core.ts';
import type { Progress } from './progress.ts';
import { ProgressState } from './progress.ts';
import { VoteResult } from './quorum.ts';
import { handleReadIndex, onHeartbeatAck } from './read-index.ts';
import type { Message } from './types.ts';
import { EntryType, MessageType, NONE, Role } from './types.ts';

/** A (pre-)vote request, whatever this node's role; its term was checked by Raft.step. */
export function handleVoteRequest(r: Raft, m: Message): void {
  const pre = m.type === MessageType.PreVote;
  const canVote =
    r.vote === m.from ||
    (r.vote === NONE && r.lead === NONE) ||
    (pre && m.term > r.term);
  let upToDate = r.bugs.has('vote-for-stale-log') || r.log.isUpToDate(m.index, m.logTerm);
  // A recovering node may have promised this term's vote, or held entries the candidate
  // lacks, before it lost its log: it votes only in a new group, for a candidate that is as new
  // as itself (recovering, empty log); one that has seen the group may lack what it committed.
  if (r.recovering && (m.index > 0 || !m.recovering) && !r.bugs.has('recovering-votes')) upToDate = false;
  // Nor does a node that has seen the group elect a recovering candidate: the candidate's empty
  // log proves nothing, and this node's own log may be empty only because it crashed before its
  // copy of the group's first entry was durable (its recovering flag goes first).
  if (!r.recovering && m.recovering && !r.bugs.has('recovering-votes')) upToDate = false;
  if (
    pre && upToDate && r.role === Role.PreCandidate && (r.fastElectionWindowTicks > 0 || r.bugs.has('pre-vote-tie-break-always')) &&
    m.term === r.term + 1 && m.index === r.log.lastIndex() && m.logTerm === r.log.lastTerm() && m.from > r.id
  ) {
    // Two pre-candidates with equal logs that both noticed the leader die at once (the fast
    // election window): only the lower id collects pre-votes from the other, so they do not
    // split the real vote. Only in that window: a lower id that cannot win (it reaches no
    // majority) must not block a higher one for good.
    upToDate = false;
  }
  const resp = r.newMessage(pre ? MessageType.PreVoteResp : MessageType.VoteResp, m.from);
  if (canVote && upToDate) {
    resp.term = m.term;
    if (!pre) {
      r.electionElapsed = 0;
      r.vote = m.from;
      // Give this candidate time to win before a fast election of our own.
      if (r.fastElectionDelayTicks > 0) {
        const max = r.config.fastElectionTicksMax;
        r.fastElectionDelayTicks = r.prng.intBetween(max, 2 * max);
      }
    }
  } else {
    resp.reject = true;
  }
  // A vote is a promise: it leaves only once the vote is durable. A pre-vote promises nothing.
  if (pre) r.msgs.push(resp);
  else r.msgsAfterAppend.push(resp);
}

/** Leader: answers to appends and heartbeats (a follower's progress). */
export function stepLeader(r: Raft, m: Message): void {
  const pr = r.prs.get(m.from);
  if (pr === undefined || m.from === r.id) return;
  switch (m.type) {
    case MessageType.AppendResp:
      pr.recentActive = true;
      handleAppendResp(r, m, pr);
      break;
    case MessageType.ReadIndex:
      handleReadIndex(r, m);
      break;
    case MessageType.HeartbeatResp:
      pr.recentActive = true;
      if (m.context.byteLength > 0) onHeartbeatAck(r, m.from, m.context);
      if (m.reject && m.rejectHint < pr.match) {
        // Its log ends below what it acknowledged (a replaced disk): probe from there. Without
        // this an idle leader would never send it anything again.
        pr.lostEntriesAbove(m.rejectHint);
        r.sendAppend(m.from, true);
        break;
      }
      pr.probeSent = false;
      if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
      if (pr.match < r.log.lastIndex()) r.sendAppend(m.from, true);
      break;
    default:
      // Append/Heartbeat from another leader of our term cannot happen; TimeoutNow is for followers.
      break;
  }
}

function handleAppendResp(r: Raft, m: Message, pr: Progress): void {
  if (m.reject) {
    let nextProbeIndex = m.rejectHint;
    if (m.rejectTerm > 0) nextProbeIndex = r.log.findConflictByTerm(m.rejectHint, m.rejectTerm).index;
    if (pr.maybeDecrTo(m.index, nextProbeIndex)) {
      if (pr.state === ProgressState.Replicate) pr.becomeProbe();
      r.sendAppend(m.from, true);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state !== ProgressState.Replicate)) {
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot) {
      // The snapshot (or a later log) is in place, or appends can serve it again (etcd); else
      // this answers something older and the snapshot's answer is still to come.
      if (pr.match >= pr.pendingSnapshot || pr.match + 1 >= r.log.firstIndex()) pr.becomeReplicate();
      else return;
    } else pr.inflights.freeLE(m.index);
    if (r.maybeCommit()) r.commitBcastDue = true;
    else if (wasPaused) r.sendAppend(m.from, true);
    // Pipelining: fill the window.
    while (r.sendAppend(m.from, false)) {
      // each call sends one batch
    }
    if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) r.sendTimeoutNow(m.from);
  }
}

/** (Pre-)candidate: votes, or an append or heartbeat from the leader elected meanwhile. */
export function stepCandidate(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.Append:
      r.becomeFollower(m.term, m.from);
      handleAppend(r, m);
      break;
    case MessageType.Heartbeat:
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      break;
    case MessageType.Snapshot:
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      break;
    case MessageType.PreVoteResp:
    case MessageType.VoteResp: {
      const pre = r.role === Role.PreCandidate;
      if (pre !== (m.type === MessageType.PreVoteResp)) return;
      if (m.term !== (pre ? r.term + 1 : r.term)) return;
      const result = r.poll(m.from, !m.reject);
      if (result === VoteResult.Won) {
        if (pre) r.campaign(false, false);
        else r.becomeLeader();
      } else if (result === VoteResult.Lost) {
        r.becomeFollower(r.term, NONE);
      }
      break;
    }
    default:
      break;
  }
}

/** Follower: the leader's appends and heartbeats, and TimeoutNow (a leadership transfer). */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.Append:
      r.electionElapsed = 0;
      r.setLeader(m.from);
      handleAppend(r, m);
      break;
    case MessageType.Heartbeat:
      r.electionElapsed = 0;
      r.setLeader(m.from);
      handleHeartbeat(r, m);
      break;
    case MessageType.Snapshot:
      r.electionElapsed = 0;
      r.setLeader(m.from);
      handleSnapshot(r, m);
      break;
    case MessageType.TimeoutNow:
      // Leadership transfer: campaign at once, skipping pre-vote; voters ignore their lease.
      r.hup(true);
      break;
    case MessageType.ReadIndexResp:
      r.readStates.push({ index: m.index, ctx: m.context });
      break;
    default:
      break;
  }
}

function handleAppend(r: Raft, m: Message): void {
  if (m.commit > r.leaderCommit) r.leaderCommit = m.commit;
  const resp = r.newMessage(MessageType.AppendResp, m.from);
  if (m.index < r.log.committed) {
    resp.index = r.log.committed;
    r.msgsAfterAppend.push(resp);
    return;
  }
  const lastNewIndex = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNewIndex >= 0 && r.recovering && m.index === 0 && m.commit === 0 && m.entries.length > 0) {
    const first = m.entries[0];
    // A new group: the leader's no-op is the first entry of its log, so its log was empty when
    // it was elected (nothing was ever committed) and it has committed nothing since. A store
    // that starts here lacks nothing.
    if (first.type === EntryType.NoOp && first.term === m.term) r.recovering = false;
  }
  if (lastNewIndex >= 0) {
    resp.index = lastNewIndex;
    // Acknowledges durability: only after the entries are persisted.
    r.msgsAfterAppend.push(resp);
    return;
  }
  // Fast back-off: the highest index at or below the probe whose term is <= the leader's
  // prevTerm; everything after it in the leader's log up to prevTerm cannot match.
  const hint = r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm);
  resp.index = m.index;
  resp.reject = true;
  resp.rejectHint = hint.index;
  resp.rejectTerm = hint.term;
  r.msgs.push(resp);
}

/**
 * Follower: a snapshot from the leader (its term checked as for an append). A stale one (at or
 * below our commit index) is ignored, one whose last entry our log holds only moves the commit
 * index; otherwise the log becomes the snapshot (RaftLog.maybeRestore) and Ready.snapshot hands
 * it to the driver. Either way the answer is an AppendResp at our commit index (the snapshot
 * index after a restore), sent once the Ready is durable: it promises that we hold the log up to
 * there. A recovering node stays recovering: only the usual rule (Raft.maybeFinishRecovery: it
 * durably holds a committed entry of its leader's term) clears it. The snapshot's own last entry
 * counts only if it is of the leader's term, and only once the install is durable
 * (persistedLastIndex() is 0 until then); otherwise the next such entry does it.
 */
function handleSnapshot(r: Raft, m: Message): void {
  if (m.commit > r.leaderCommit) r.leaderCommit = m.commit;
  if (r.log.maybeRestore({ index: m.index, term: m.logTerm, conf: m.conf }, r.bugs.has('install-stale-snapshot'))) r.restoreConf(m.index, m.conf);
  const resp = r.newMessage(MessageType.AppendResp, m.from);
  resp.index = r.log.committed;
  r.msgsAfterAppend.push(resp);
}

function handleHeartbeat(r: Raft, m: Message): void {
  if (m.commit > r.leaderCommit) r.leaderCommit = m.commit;
  const last = r.log.lastIndex();
  r.log.commitTo(Math.min(m.commit, last));
  const resp = r.newMessage(MessageType.HeartbeatResp, m.from);
  resp.context = m.context;
  if (m.commit > last) {
    // The leader tells us no more than what we acknowledged; we lack some of it, so our store
    // was lost: say where our log ends.
    resp.reject = true;
    resp.rejectHint = last;
  }
  r.msgs.push(resp);
}
