// The Raft state machine (etcd's raft.go): roles, elections, replication, commit. No I/O: inputs
// are tick/step/propose, outputs accumulate in `msgs` (send now), `msgsAfterAppend` (send after
// the next Ready's hard state and entries are persisted) and the log's unstable part. How each
// role handles a message is in step.ts.

import { assert } from '../util/index.ts';
import { validateConfig } from './config.ts';
import { RaftLog } from './log.ts';
import { Prng } from './prng.ts';
import { Progress, ProgressState } from './progress.ts';
import { VoteResult, committedIndex, majority, voteResult } from './quorum.ts';
import { handleVoteRequest, stepCandidate, stepFollower, stepLeader } from './step.ts';
import { sendSnapshot } from './snapshot-sender.ts';
import { ConfHistory } from './conf.ts';
import { initialConf, maybeStepDownRemoved, onConfChanged, scanConfEntries, syncProgress } from './membership.ts';
import { raftStatus } from './status.ts';
import { ReadOnly, closeOpenRound, releaseWaitingReads } from './read-index.ts';
import type { ConfState, Entry, Message, NodeId, RaftConfig, RaftStatus, ReadState, SnapshotMeta, SoftState, Storage, TestBug } from './types.ts';
import { EntryType, MessageType, NONE, Role } from './types.ts';

type MutableMessage = { -readonly [K in keyof Message]: Message[K] };

const EMPTY_ENTRIES: readonly Entry[] = Object.freeze([] as Entry[]);
const EMPTY_DATA = new Uint8Array(0);

/**
 * One Raft node. Not exported from src/raft (RaftNode in raw-node.ts is the API), so members the
 * step functions of step.ts need are left public instead of private.
 */
export class Raft {
  readonly id: NodeId;
  readonly config: RaftConfig;
  /** The seed configuration (RaftConfig.peers and learners): in force while the log holds no
   *  ConfChange entry. */
  readonly seedConf: ConfState;
  /** The configurations of the log; the latest is in force. */
  readonly confs: ConfHistory;
  readonly prng: Prng;
  /** Test-only fault injection (RaftConfig.testBugs). */
  readonly bugs: ReadonlySet<TestBug>;

  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role = Role.Follower;
  readonly log: RaftLog;

  /** Progress of every member, voters and learners (this node's own `match` is its persisted
   *  last index). Created and removed when the configuration changes (on append). */
  readonly prs = new Map<NodeId, Progress>();
  /** The voters' progress in conf.voters order, and scratch space for the commit computation. */
  private voterProgress: Progress[] = [];
  private matchBuffer: number[] = [];
  private matchScratch: number[] = [];
  /** Leader: its last conf entry, or last index when elected (etcd); no conf change before applied. */
  pendingConfIndex = 0;
  /** Leader: ReadIndex requests in progress; readStates: confirmed reads for the next Ready. */
  readonly readOnly = new ReadOnly();
  readStates: ReadState[] = [];
  private readonly votes = new Map<NodeId, boolean>();

  /** Messages that may be sent at once. */
  msgs: Message[] = [];
  /** Messages to send only after the next Ready's hard state and entries are persisted. */
  msgsAfterAppend: Message[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  leadTransferee: NodeId = NONE;
  transferElapsed = 0;
  /** Ticks before the leader tries again to hand over to the preferred leader. */
  private preferredCooldownTicks = 0;

  /** See HardState.recovering: no votes, no campaigns (but with empty logs) until caught up. */
  recovering: boolean;
  /** Recovering: a committed entry of its leader's term this node holds (or is writing), and
   *  that term; 0 while none is known. */
  private recoveryPoint = 0;
  private recoveryTerm = 0;
  /** The highest commit index heard from the current leader (followers; reset with the leader). */
  leaderCommit = 0;

  /** Leader: data bytes proposed in this term and not yet applied. */
  uncommittedBytes = 0;

  /** Fast election after the leader was reported unreachable: ticks until the next campaign
   *  (0: none scheduled), and ticks left in which failed campaigns are retried quickly. */
  fastElectionDelayTicks = 0;
  fastElectionWindowTicks = 0;

  /** Leader: appends (new entries or a new commit index) to broadcast before the next Ready. */
  pendingBcast = false;
  /** Leader: the commit index advanced and followers have not been told yet. It rides on the
   *  next append (proposals keep coming under load); failing that, the next tick sends empty
   *  appends carrying it. Not at once: for one write at a time that would double the messages
   *  per write (an empty append and its response per follower) only to move followers' apply. */
  commitBcastDue = false;

  constructor(config: RaftConfig, storage: Storage) {
    validateConfig(config);
    this.id = config.id;
    this.config = config;
    this.seedConf = { voters: config.peers.slice(), learners: (config.learners ?? []).slice() };
    this.prng = new Prng(config.seed);
    this.bugs = config.testBugs ?? new Set();
    const hs = storage.initialHardState();
    this.log = new RaftLog(storage, hs.commit, config.applied ?? 0, config.applyUnpersisted ?? false);
    this.confs = new ConfHistory(initialConf(config, storage, this.seedConf));
    scanConfEntries(this, storage);
    this.log.onAppend = (entries, from) => this.onLogAppend(entries, from);
    syncProgress(this);
    const voters = this.conf.voters;
    this.recovering = (hs.recovering ?? false) && !(voters.length === 1 && voters[0] === this.id);
    // Never below the log's last term: entries may be durable without their term's hard state.
    const term = Math.max(hs.term, this.log.lastTerm());
    this.becomeFollower(term, NONE);
    this.vote = term === hs.term ? hs.vote : NONE;
  }

  // ---------------------------------------------------------------- configuration

  /** The configuration in force. */
  get conf(): ConfState {
    return this.confs.current();
  }

  /** Whether this node may campaign: a voter, or a voter whose removal is not committed yet
   *  (Raft thesis 4.2.2: it may still be needed to commit that entry). */
  get promotable(): boolean {
    return this.conf.voters.includes(this.id) || (this.confs.currentIndex() > this.log.committed && this.confs.previous().voters.includes(this.id));
  }

  isVoter(id: NodeId): boolean {
    return this.conf.voters.includes(id);
  }

  /** Every write to the log: a conf entry written (or truncated away) changes the configuration. */
  private onLogAppend(entries: readonly Entry[], from: number): void {
    if (this.confs.onAppend(entries, from, this.log.committed)) onConfChanged(this);
  }

  /** The log became a snapshot whose configuration is `conf` (null: the seed). */
  restoreConf(index: number, conf: ConfState | null): void {
    this.confs.restore(index, conf ?? this.seedConf);
    onConfChanged(this);
  }

  setVoterProgress(voters: Progress[]): void {
    this.voterProgress = voters;
    this.matchBuffer = new Array<number>(voters.length).fill(0);
    this.matchScratch = new Array<number>(voters.length).fill(0);
  }


  // ---------------------------------------------------------------- state transitions

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.leaderCommit = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.votes.clear();
    this.pendingConfIndex = 0;
    this.readOnly.reset();
    const last = this.log.lastIndex();
    for (const [peer, pr] of this.prs) {
      pr.reset(peer === this.id ? this.log.persistedLastIndex() : 0, last + 1);
    }
    this.uncommittedBytes = 0;
    this.pendingBcast = false;
    this.commitBcastDue = false;
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.role = Role.Follower;
    this.setLeader(lead);
  }

  becomePreCandidate(): void {
    assert(this.role !== Role.Leader, 'becomePreCandidate: a leader cannot become a pre-candidate');
    // Pre-vote changes neither term nor vote (Raft thesis 9.6).
    this.role = Role.PreCandidate;
    this.votes.clear();
    this.lead = NONE;
  }

  becomeCandidate(): void {
    assert(this.role !== Role.Leader, 'becomeCandidate: a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  becomeLeader(): void {
    assert(this.role === Role.Candidate, `becomeLeader: only a candidate can become leader (is ${this.role})`);
    this.reset(this.term);
    this.role = Role.Leader;
    this.lead = this.id;
    this.clearFastElection();
    const self = this.prs.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Elected with an empty log: nothing was ever committed (Leader Completeness), so a new
    // group's first leader lacks nothing (see HardState.recovering).
    if (this.log.lastIndex() === 0) this.recovering = false;
    // No conf change until everything before our term is applied (etcd).
    this.pendingConfIndex = this.log.lastIndex();
    // Raft 5.4.2 / 8: an entry of the new term lets the leader commit everything before it.
    const noOp: Entry = { index: this.log.lastIndex() + 1, term: this.term, type: EntryType.NoOp, data: EMPTY_DATA };
    this.log.append([noOp]);
    this.pendingBcast = true;
  }

  setLeader(lead: NodeId): void {
    this.lead = lead;
    if (lead !== NONE) this.clearFastElection();
  }

  private clearFastElection(): void {
    this.fastElectionDelayTicks = 0;
    this.fastElectionWindowTicks = 0;
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.config.electionTicks + this.prng.intBelow(this.config.electionTicks);
  }

  softState(): SoftState {
    return { role: this.role, leaderId: this.lead, term: this.term };
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    if (this.role === Role.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.fastElectionWindowTicks > 0) {
      if (this.lead !== NONE) {
        this.clearFastElection();
      } else {
        this.fastElectionWindowTicks--;
        if (this.fastElectionDelayTicks > 0 && --this.fastElectionDelayTicks === 0) {
          this.electionElapsed = 0;
          this.hup(false);
          if (this.role !== Role.Leader && this.fastElectionWindowTicks > 0) {
            // Retried if this campaign has not produced a leader by then.
            const max = this.config.fastElectionTicksMax;
            this.fastElectionDelayTicks = this.prng.intBetween(max, 2 * max);
          }
        }
        if (this.fastElectionWindowTicks === 0) this.fastElectionDelayTicks = 0;
      }
    }
    if (this.promotable && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    if (this.commitBcastDue) this.pendingBcast = true;
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      const self = this.prs.get(this.id);
      if (self !== undefined) self.recentActive = true;
      if (this.config.checkQuorum && !this.quorumActive()) {
        // Not heard from a majority for an election timeout: maybe partitioned away.
        this.becomeFollower(this.term, NONE);
        return;
      }
      for (const [peer, pr] of this.prs) {
        if (peer === this.id) continue;
        pr.activeLastPeriod = pr.recentActive;
        pr.recentActive = false;
      }
    }
    if (this.leadTransferee !== NONE) {
      if (++this.transferElapsed >= this.config.transferTimeoutTicks) {
        if (this.leadTransferee === this.config.preferredLeader) this.preferredCooldownTicks = 2 * this.config.electionTicks;
        this.abortLeaderTransfer();
      }
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
    if (this.preferredCooldownTicks > 0) this.preferredCooldownTicks--;
    else this.maybeTransferToPreferred();
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const pr of this.voterProgress) if (pr.recentActive) active++;
    return active >= majority(this.voterProgress.length);
  }

  private maybeTransferToPreferred(): void {
    const preferred = this.config.preferredLeader;
    if (preferred === NONE || preferred === this.id || this.leadTransferee !== NONE || !this.isVoter(preferred)) return;
    const pr = this.prs.get(preferred);
    if (pr === undefined || !pr.recentActive || pr.match !== this.log.lastIndex()) return;
    this.transferLeadership(preferred);
  }

  // ---------------------------------------------------------------- elections

  /** Starts an election (through a pre-vote unless `transfer`). */
  hup(transfer: boolean): void {
    if (this.role === Role.Leader || !this.promotable) return;
    // A recovering node's log may lack what it once acknowledged: only a new group's empty logs
    // may elect it (see HardState.recovering).
    if (this.recovering && this.log.lastIndex() > 0 && !this.bugs.has('recovering-votes')) return;
    // A recovering node asks first whatever the setting: once the group has a log it cannot win,
    // and its real votes would only raise everyone's term and reset their election timers.
    if ((this.config.preVote || this.recovering) && !transfer) this.campaign(true, false);
    else this.campaign(false, transfer);
  }

  campaign(pre: boolean, transfer: boolean): void {
    let voteTerm: number;
    if (pre) {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    if (this.poll(this.id, true) === VoteResult.Won) {
      // A single-voter configuration.
      if (pre) this.campaign(false, transfer);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    const type = pre ? MessageType.PreVote : MessageType.Vote;
    for (const peer of this.conf.voters) {
      if (peer === this.id) continue;
      const m = this.newMessage(type, peer);
      m.term = voteTerm;
      m.index = lastIndex;
      m.logTerm = lastTerm;
      m.transfer = transfer;
      m.recovering = this.recovering;
      // A real vote request goes out only after our own term and vote are durable.
      if (pre) this.msgs.push(m);
      else this.msgsAfterAppend.push(m);
    }
  }

  poll(from: NodeId, granted: boolean): VoteResult {
    // Votes from non-voters are ignored.
    if (this.isVoter(from) && !this.votes.has(from)) this.votes.set(from, granted);
    let grantedCount = 0;
    let rejectedCount = 0;
    for (const v of this.votes.values()) {
      if (v) grantedCount++;
      else rejectedCount++;
    }
    return voteResult(this.conf.voters.length, grantedCount, rejectedCount);
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const inLease = this.config.checkQuorum && this.lead !== NONE && this.electionElapsed < this.config.electionTicks;
        // Leader lease: we heard from a live leader recently, so this candidate is disruptive.
        if (inLease && !m.transfer) return;
      }
      if (m.type === MessageType.PreVote) {
        // Never change our term for a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // Granted pre-votes carry the future term; we take it when the real campaign starts.
      } else if (m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && (m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot)) {
        // A stale leader (maybe isolated while we moved on): tell it our term so it steps down.
        this.msgs.push(this.newMessage(MessageType.AppendResp, m.from));
      } else if (m.type === MessageType.PreVote) {
        const resp = this.newMessage(MessageType.PreVoteResp, m.from);
        resp.reject = true;
        this.msgs.push(resp);
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      handleVoteRequest(this, m);
      return;
    }
    switch (this.role) {
      case Role.Leader:
        stepLeader(this, m);
        maybeStepDownRemoved(this);
        break;
      case Role.Candidate:
      case Role.PreCandidate:
        stepCandidate(this, m);
        break;
      case Role.Follower:
        stepFollower(this, m);
        break;
    }
    if (this.recovering) this.maybeFinishRecovery();
  }

  /**
   * Ends the recovering state once this node durably holds an entry that its leader committed in
   * the leader's own term: by Log Matching it then holds every entry committed before that term.
   * The point is noted when learned (the leader may be gone by the time the write is durable).
   */
  private maybeFinishRecovery(): void {
    const committed = this.log.committed;
    if (this.lead !== NONE && committed > this.recoveryPoint && this.log.term(committed) === this.term) {
      this.recoveryPoint = committed;
      this.recoveryTerm = this.term;
    }
    const point = this.recoveryPoint;
    if (point > 0 && this.log.persistedLastIndex() >= point && this.log.term(point) === this.recoveryTerm) this.recovering = false;
  }

  // ---------------------------------------------------------------- replication

  /** Leader: commit the majority-th highest match if it is of the current term (5.4.2). */
  maybeCommit(): boolean {
    const progress = this.voterProgress;
    const matches = this.matchBuffer;
    for (let i = 0; i < progress.length; i++) matches[i] = progress[i].match;
    const index = committedIndex(matches, this.matchScratch);
    if (!this.log.maybeCommit(index, this.term, this.bugs.has('commit-old-term-by-counting'))) return false;
    releaseWaitingReads(this);
    return true;
  }

  /** Leader: sends one append to `to` if its progress allows (a snapshot instead if the entries
   *  it needs are compacted). Returns whether a message was sent. */
  sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    // The term of prevIndex, or the entries from next, are compacted: only a snapshot helps.
    if (prevIndex < this.log.firstIndex() - 1) return sendSnapshot(this, to, pr);
    const lastIndex = this.log.lastIndex();
    let entries = EMPTY_ENTRIES;
    let bytes = 0;
    if (pr.next <= lastIndex) {
      const hi = Math.min(lastIndex + 1, pr.next + this.config.maxEntriesPerMessage);
      entries = this.log.slice(pr.next, hi, this.config.maxBytesPerMessage);
      for (let i = 0; i < entries.length; i++) bytes += entries[i].data.byteLength;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    const m = this.newMessage(MessageType.Append, to);
    m.index = prevIndex;
    m.logTerm = this.log.term(prevIndex);
    m.entries = entries;
    m.commit = this.log.committed;
    this.msgs.push(m);
    pr.sentEntries(entries.length, entries.length > 0 ? entries[entries.length - 1].index : 0, bytes);
    return true;
  }

  /** Leader: sends every follower what it lacks (filling the pipeline of those in Replicate),
   *  or at least an empty append carrying the commit index. */
  bcastAppend(): void {
    this.commitBcastDue = false;
    for (const peer of this.prs.keys()) {
      if (peer === this.id || !this.sendAppend(peer, true)) continue;
      const pr = this.prs.get(peer)!;
      while (pr.state === ProgressState.Replicate && this.sendAppend(peer, false)) {
        // each call sends one batch
      }
    }
  }

  /** Heartbeats to every member; `context`: a ReadIndex round (default: the latest one sent while
   *  reads wait, so that a lost round is confirmed by a later heartbeat). */
  private bcastHeartbeat(context = this.readOnly.heartbeatContext()): void {
    const committed = this.log.committed;
    for (const [peer, pr] of this.prs) {
      if (peer === this.id) continue;
      const m = this.newMessage(MessageType.Heartbeat, peer);
      // The follower may lack entries up to our commit index: never tell it more than it has.
      m.commit = Math.min(pr.match, committed);
      m.context = context;
      this.msgs.push(m);
      // A removed node now learns that its removal is committed: farewell.
      if (pr.removedAt > 0 && m.commit >= pr.removedAt) this.prs.delete(peer);
    }
  }

  /** Flushes deferred broadcasts (and a ReadIndex round); called before building a Ready. */
  flushPending(): void {
    if (this.pendingBcast) {
      this.pendingBcast = false;
      if (this.role === Role.Leader) this.bcastAppend();
    }
    if (this.role === Role.Leader) {
      const round = closeOpenRound(this);
      if (round !== null) this.bcastHeartbeat(round);
    }
  }

  // ---------------------------------------------------------------- transfer

  /** Leadership goes to voters only. */
  transferLeadership(to: NodeId): boolean {
    if (this.role !== Role.Leader || to === this.id || !this.isVoter(to)) return false;
    if (this.leadTransferee === to) return true;
    this.abortLeaderTransfer();
    this.leadTransferee = to;
    this.transferElapsed = 0;
    const pr = this.prs.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return true;
  }

  sendTimeoutNow(to: NodeId): void {
    this.msgs.push(this.newMessage(MessageType.TimeoutNow, to));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
    this.transferElapsed = 0;
  }

  // ---------------------------------------------------------------- persistence feedback

  /** The driver persisted entries up to (index, term). */
  onPersisted(index: number, term: number): void {
    if (!this.log.unstable.stableTo(index, term)) return;
    if (this.recovering) this.maybeFinishRecovery();
    if (this.role !== Role.Leader) return;
    const self = this.prs.get(this.id);
    if (self !== undefined && self.maybeUpdate(this.log.persistedLastIndex()) && this.maybeCommit()) {
      this.commitBcastDue = true;
      maybeStepDownRemoved(this);
    }
  }

  /** The driver installed `snap` (Ready.snapshot) in its state machine. */
  onSnapshotApplied(snap: SnapshotMeta): void {
    this.log.appliedSnapshot(snap);
  }

  /** The driver applied committed entries up to `index` (carrying `bytes` of data). */
  onApplied(index: number, bytes: number): void {
    this.log.appliedTo(index);
    if (this.role === Role.Leader) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  // ---------------------------------------------------------------- helpers

  newMessage(type: MessageType, to: NodeId): MutableMessage {
    return {
      type,
      from: this.id,
      to,
      term: this.term,
      index: 0,
      logTerm: 0,
      commit: 0,
      entries: EMPTY_ENTRIES,
      reject: false,
      rejectHint: 0,
      rejectTerm: 0,
      transfer: false,
      recovering: false,
      context: EMPTY_DATA,
      conf: null,
    };
  }

  status(): RaftStatus {
    return raftStatus(this);
  }
}
