// The replica driver: the only async loop around the pure Raft core.
//
// One turn = everything that arrived since the last turn (ticks, peer messages, proposals,
// writes that became durable) is fed to the core, then one Ready is handled as a batch: the
// leader's appends go out at once, committed entries are applied and their proposers answered,
// and the new entries start their commitlog append (one fdatasync under SYNC_FLUSH covers every
// append waiting: group commit), with a synced LevelDB write when term or vote changed.
//
// Persistence is pipelined (RaftNode.accept / persisted): the loop does not wait for the fsync
// but takes the next Ready while it runs, so a replica's disk is never idle while work waits.
// Writes become durable in the order they started; each Ready's `persistedMessages` (append and
// vote acknowledgements, which promise durability) leave only once its write and every earlier
// one are durable, and only then is the core told (which is when a leader counts its own copy).
//
// Committed entries are applied as soon as they are committed, even before this replica's own
// write of them is durable (RaftConfig.applyUnpersisted): a quorum has them durably and they never
// change, so a leader whose own fsync is slower than a quorum's does not hold its clients back.
// The one thing that must wait for the local disk is a checkpoint: it never records an applied
// index above the durable end of the log that no write in flight will replace (stableLastIndex),
// or a crash would restart the replica above its log, or on a stale suffix.
//
// A full disk is not fatal (log-appender.ts): appends that fail with DISK_FULL, and every later
// one, wait in order and are tried again until there is space; their acknowledgements wait with
// them, and no checkpoint is taken meanwhile. A hard-state write is retried the same way, and a
// state checkpoint at the next interval (checkpoint-scheduler.ts). Any other failed write
// stops the replica.
import type { MetaStore } from '../commitlog/index.ts';
import type { RoleChange } from '../protocol/index.ts';
import type { ConfChange, Entry, Message, NodeId, RaftNodeApi, RaftStatus, Ready, SoftState } from '../raft/index.ts';
import { EntryType, NONE, Role } from '../raft/index.ts';
import { LINEARIZABLE_READS_MAX, ReadIndexWaiters } from './read-index-waiters.ts';
import { ConfChangeQueue, hasConfEntry } from './conf-change-queue.ts';
import { trace, tracing } from '../trace/index.ts';
import { CommitWaiters } from './commit-waiters.ts';
import { ProposalError, refusalError } from './errors.ts';
import { AppendAbandoned, LogAppender, retryWhileNoSpace, unlessNoSpace } from './log-appender.ts';
import { WRITES_IN_FLIGHT_MAX, type ReplicaOptions } from './replica-options.ts';
import { traceMessages } from './trace-messages.ts';
import { sendByPeer } from './send-by-peer.ts';
import { ReadyWaiters, RoleChangeLog } from './leader-state.ts';
import { CheckpointScheduler } from './checkpoint-scheduler.ts';

export { ROLE_CHANGES_KEPT_MAX } from './leader-state.ts';

/** Logged once per snapshot installed (tools count these lines). */
export const LOG_SNAPSHOT_INSTALLED = 'installed a snapshot from the master: the log now starts after it';

interface PendingProposal {
  readonly data: Uint8Array;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: ProposalError) => void;
}

export class Replica {
  private readonly opts: ReplicaOptions;
  private readonly raft: RaftNodeApi;
  private inbox: Message[] = [];
  private proposals: PendingProposal[] = [];
  private pendingTicks = 0;
  private unreachable = new Set<NodeId>();
  /** Snapshot transfers that ended, for the core (reportSnapshot). */
  private snapshotReports: [NodeId, boolean][] = [];
  private transferTo: NodeId = NONE;
  private readonly confChanges = new ConfChangeQueue();
  private readonly waiters = new CommitWaiters();
  private readonly reads = new ReadIndexWaiters(LINEARIZABLE_READS_MAX);
  private turnRunning = false;
  private turnScheduled = false;
  private ticker: NodeJS.Timeout | null = null;
  private stopped = false;
  private fatal: Error | null = null;
  private soft: SoftState = { role: Role.Follower, leaderId: NONE, term: 0 };
  /** Set once this leader has applied an entry of its own term (its no-op): it is "leader ready". */
  private leaderReadyTerm = -1;
  private readonly readyWaiters: ReadyWaiters;
  /** Term, vote and the recovering flag as last sent to the meta store (see startWrites). */
  private writtenTerm: number;
  private writtenVote: NodeId;
  private writtenRecovering: boolean;
  /** Hard-state writes, one after another (a later vote must not land before an earlier one). */
  private hardStateChain: Promise<void> = Promise.resolve();
  /** Settles when every write started so far is durable (rejects once one failed). */
  private durableTail: Promise<void> = Promise.resolve();
  private writesInFlight = 0;
  /** Set while a truncation runs: appends behind it wait (the commitlog refuses them meanwhile). */
  private appendGate: Promise<void> | null = null;
  /** The last entry of the newest write that became durable, to report to the core. */
  private durableEntry: { index: number; term: number } | null = null;
  /** Last index of the log as of the newest durable write (or the open), and the first index of
   *  every write in flight that carries entries, oldest first (see stableLastIndex). */
  private durableLastIndex: number;
  private readonly inFlightFirstIndexes: number[] = [];
  private readonly roleChangeLog = new RoleChangeLog();
  /** Every commitlog append and truncation goes through it: it waits out a full disk. */
  private readonly appender: LogAppender;
  /** When state checkpoints are taken (checkpoint-scheduler.ts). */
  private readonly checkpoints: CheckpointScheduler;

  constructor(opts: ReplicaOptions) {
    this.opts = opts;
    this.readyWaiters = new ReadyWaiters(opts.pendingProposalsMax);
    this.raft = opts.raft;
    this.appender = new LogAppender({ log: opts.log, logger: opts.logger, ...(opts.diskFullRetryMs !== undefined ? { retryMs: opts.diskFullRetryMs } : {}) });
    this.checkpoints = new CheckpointScheduler({
      log: opts.log,
      stateMachine: opts.stateMachine,
      intervalMs: opts.checkpointIntervalMs,
      logger: opts.logger,
      stableLastIndex: () => this.stableLastIndex(),
      durableTail: () => this.durableTail,
      appender: this.appender,
      ...(opts.onCheckpointed !== undefined ? { onCheckpointed: opts.onCheckpointed } : {}),
      fail: (err) => this.fail(err),
      done: () => this.stopped || this.fatal !== null,
    });
    const st = this.raft.status();
    this.soft = { role: st.role, leaderId: st.leaderId, term: st.term };
    const hs = opts.meta.getHardState();
    this.writtenTerm = hs.term;
    this.writtenVote = hs.vote;
    this.writtenRecovering = hs.recovering === true;
    this.durableLastIndex = opts.log.lastIndex();
  }

  /** The last index up to which the durable log holds what it will hold once every write in
   *  flight is done: the durable end, lowered below any write in flight that replaces part of it. */
  private stableLastIndex(): number {
    let last = this.durableLastIndex;
    for (const first of this.inFlightFirstIndexes) last = Math.min(last, first - 1);
    return last;
  }

  start(): void {
    this.ticker = setInterval(() => {
      this.pendingTicks++;
      this.schedule();
    }, this.opts.tickMs);
    this.schedule();
  }

  get role(): SoftState {
    return this.soft;
  }

  /** Calls `listener` after every change of this replica's role, term or leader. */
  readonly onRoleChange = (listener: () => void): void => this.roleChangeLog.onChange(listener);

  /** The latest role and leader changes this replica went through, oldest first. */
  roleChanges(): readonly RoleChange[] {
    return this.roleChangeLog.list;
  }

  /** True on the leader once an entry of its term is applied: reads and role answers are current. */
  get leaderReady(): boolean {
    return this.soft.role === Role.Leader && this.leaderReadyTerm === this.soft.term;
  }

  /** Resolves true once this leader is ready (see leaderReady), false if it stops being leader
   *  first or `timeoutMs` passes. */
  whenLeaderReady(timeoutMs: number): Promise<boolean> {
    if (this.leaderReady) return Promise.resolve(true);
    if (this.soft.role !== Role.Leader) return Promise.resolve(false);
    return this.readyWaiters.wait(timeoutMs);
  }

  /**
   * Why reads of this replica's applied state (routes, offsets, pulls) would not be current, or
   * null when they are: a master must be ready; a slave must not be recovering a lost store and
   * must have applied what its master last said was committed. A slave that knows no master
   * serves what it has (committed data stays readable when the master is gone).
   */
  readStaleness(): string | null {
    const st = this.raft.status();
    if (st.role === Role.Leader) return this.leaderReady ? null : 'elected master, not ready yet';
    const applied = this.opts.stateMachine.appliedIndex;
    if (st.recovering) return `its store is being rebuilt from the master (applied ${applied})`;
    if (st.leaderId !== NONE && applied < st.leaderCommit) return `it is behind the master (applied ${applied} of ${st.leaderCommit})`;
    return null;
  }

  /** Whether this replica's log writes are waiting for disk space (it acknowledges nothing newer). */
  get writesStalled(): boolean {
    return this.appender.stalled;
  }

  /** A membership change is asked and not yet applied here (the next one would be refused). */
  get membershipChangePending(): boolean {
    return this.confChanges.size > 0 || this.raft.status().pendingConfIndex > this.opts.stateMachine.appliedIndex;
  }

  /** Proposals not yet answered (queued for the core or waiting for commit). */
  get pendingProposals(): number {
    return this.waiters.size + this.proposals.length;
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  /** Peer messages from the transport. */
  receive(messages: readonly Message[]): void {
    if (this.stopped) return;
    const room = this.opts.inboxMessagesMax - this.inbox.length;
    if (messages.length > room) {
      for (let i = 0; i < room; i++) this.inbox.push(messages[i]);
    } else {
      for (const m of messages) this.inbox.push(m);
    }
    this.schedule();
  }

  /** The transport lost its connection to `peer`. */
  peerDown(peer: NodeId): void {
    if (this.stopped) return;
    this.unreachable.add(peer);
    this.schedule();
  }

  /** Messages to `peer` were dropped (its send queue is full): a leader probes it again, so that
   *  what was lost is sent again once it reads. A follower does nothing (its leader resends). */
  sendFailed(peer: NodeId): void {
    if (this.stopped || this.soft.role !== Role.Leader) return;
    this.unreachable.add(peer);
    this.schedule();
  }

  /** A snapshot transfer to `peer` ended (delivered, or failed: the core sends it again). */
  snapshotReported(peer: NodeId, ok: boolean): void {
    if (this.stopped) return;
    if (this.snapshotReports.length < 1024) this.snapshotReports.push([peer, ok]);
    this.schedule();
  }

  /** Proposes one command; resolves with the state machine's result once it is committed and applied. */
  propose(data: Uint8Array): Promise<unknown> {
    if (this.stopped) return Promise.reject(new ProposalError('SHUTTING_DOWN', 'replica is stopping'));
    if (this.fatal) return Promise.reject(new ProposalError('INTERNAL', `replica failed: ${this.fatal.message}`));
    if (this.soft.role !== Role.Leader) {
      return Promise.reject(new ProposalError('NOT_MASTER', 'this replica is not the master', this.soft.leaderId));
    }
    if (this.waiters.size + this.proposals.length >= this.opts.pendingProposalsMax) {
      return Promise.reject(new ProposalError('OVERLOADED', `more than ${this.opts.pendingProposalsMax} proposals waiting`));
    }
    return new Promise((resolve, reject) => {
      this.proposals.push({ data, resolve, reject });
      this.schedule();
    });
  }

  transferLeadership(to: NodeId): void {
    this.transferTo = to;
    this.schedule();
  }

  /** Proposes a configuration change (master only); resolves once it is applied here. Refused
   *  with MEMBER_CHANGE_REFUSED (the core's reason) when the core will not take it. */
  changeMembership(change: ConfChange, force: boolean): Promise<unknown> {
    if (this.stopped) return Promise.reject(new ProposalError('SHUTTING_DOWN', 'replica is stopping'));
    if (this.fatal) return Promise.reject(new ProposalError('INTERNAL', `replica failed: ${this.fatal.message}`));
    if (this.soft.role !== Role.Leader) return Promise.reject(new ProposalError('NOT_MASTER', 'this replica is not the master', this.soft.leaderId));
    const applied = this.confChanges.add(change, force);
    this.schedule();
    return applied;
  }

  /** Resolves once this replica has applied everything committed before the call, as confirmed
   *  by a master with a quorum (Raft's ReadIndex): a read after it is linearizable. Rejects with
   *  NOT_MASTER when no master is known or it changed before confirming, TIMEOUT when no quorum
   *  confirmed within the proposal timeout. */
  linearizableRead(): Promise<void> {
    if (this.stopped) return Promise.reject(new ProposalError('SHUTTING_DOWN', 'replica is stopping'));
    if (this.fatal) return Promise.reject(new ProposalError('INTERNAL', `replica failed: ${this.fatal.message}`));
    const read = this.reads.add(performance.now() + this.opts.proposalTimeoutMs);
    this.schedule();
    return read;
  }

  /** Stops the loop: no new input; waits for the running turn, checkpoints, flushes. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    while (this.turnRunning) await new Promise((r) => setImmediate(r));
    for (const p of this.proposals) p.reject(new ProposalError('SHUTTING_DOWN', 'replica is stopping'));
    this.proposals = [];
    this.confChanges.rejectAll(new ProposalError('SHUTTING_DOWN', 'replica is stopping'));
    this.waiters.rejectAll(new ProposalError('SHUTTING_DOWN', 'replica stopped before the entry committed'));
    this.reads.rejectAll(new ProposalError('SHUTTING_DOWN', 'replica is stopping'));
    // Appends waiting for disk space are given up: what is not durable here stays with the group.
    this.appender.abandon();
    const allDurable = await this.durableTail.then(
      () => true,
      () => false,
    );
    // After a write that did not land, no checkpoint or commit index may claim what it held.
    if (!this.fatal && allDurable) {
      // The commit index is not synced on every Ready (see startWrites): a clean stop leaves
      // the latest on disk, for offline readers of the store (a restart relearns it anyway).
      // Neither it nor the last checkpoint is needed: a full disk only leaves them out.
      const st = this.raft.status();
      await unlessNoSpace(this.opts.logger, this.opts.meta.setHardState({ term: st.term, vote: st.vote, commit: st.commit, recovering: st.recovering }), 'the commit index at stop');
      await unlessNoSpace(this.opts.logger, this.opts.stateMachine.checkpoint(), 'the last checkpoint');
      await this.opts.log.flush();
    }
  }

  private schedule(): void {
    if (this.turnScheduled || this.turnRunning || this.stopped) return;
    this.turnScheduled = true;
    // setImmediate, not a microtask: let every socket read of this event-loop turn arrive first.
    setImmediate(() => {
      this.turnScheduled = false;
      void this.runTurns();
    });
  }

  private async runTurns(): Promise<void> {
    if (this.turnRunning || this.fatal) return;
    this.turnRunning = true;
    try {
      while (!this.fatal) {
        const fed = this.feedCore();
        const take = this.raft.hasReady() && this.writesInFlight < (this.opts.writesInFlightMax ?? WRITES_IN_FLIGHT_MAX);
        if (take) {
          const rd = this.raft.ready();
          if (rd.snapshot !== null) await this.installSnapshot(rd.snapshot.index, rd.snapshot.term);
          this.handleReady(rd);
          if (rd.snapshot !== null && rd.entries.length === 0) this.durableEntry = { index: rd.snapshot.index, term: rd.snapshot.term };
        }
        const blocking = this.checkpoints.maybeCheckpoint();
        if (blocking !== undefined) await blocking;
        if (this.stopped || (!fed && !take)) break;
      }
    } catch (err) {
      if (!(this.stopped && err instanceof AppendAbandoned)) this.fail(err as Error);
    } finally {
      this.turnRunning = false;
    }
    if (!this.fatal && (this.inbox.length || this.proposals.length || this.pendingTicks || this.durableEntry)) this.schedule();
  }

  /** Feeds everything that arrived to the core. Returns whether anything was fed. */
  private feedCore(): boolean {
    const raft = this.raft;
    let fed = false;
    if (this.durableEntry) {
      const { index, term } = this.durableEntry;
      this.durableEntry = null;
      raft.persisted(index, term);
      fed = true;
    }
    if (this.pendingTicks > 0) {
      // A stalled loop must not turn into a burst of elections: cap ticks per turn.
      const ticks = Math.min(this.pendingTicks, 5);
      this.pendingTicks = 0;
      for (let i = 0; i < ticks; i++) raft.tick();
      if (this.waiters.size > 0) this.waiters.expire(performance.now(), this.soft.leaderId);
      if (this.reads.size > 0) this.reads.expire(performance.now(), () => new ProposalError('TIMEOUT', `no master confirmed with a quorum of the group within ${this.opts.proposalTimeoutMs} ms that it still leads (a linearizable read needs one)`));
      fed = true;
    }
    if (this.unreachable.size) {
      for (const p of this.unreachable) raft.reportUnreachable(p);
      this.unreachable.clear();
      fed = true;
    }
    if (this.snapshotReports.length) {
      for (const [peer, ok] of this.snapshotReports) raft.reportSnapshot(peer, ok);
      this.snapshotReports = [];
      fed = true;
    }
    if (this.inbox.length) {
      const inbox = this.inbox;
      this.inbox = [];
      for (const m of inbox) raft.step(m);
      fed = true;
    }
    if (this.transferTo !== NONE) {
      raft.transferLeadership(this.transferTo);
      this.transferTo = NONE;
      fed = true;
    }
    if (this.proposals.length) {
      this.proposeAll();
      fed = true;
    }
    if (this.confChanges.size > 0) {
      this.confChanges.propose(raft, this.waiters, performance.now() + this.opts.proposalTimeoutMs, this.opts.logger);
      fed = true;
    }
    if (this.reads.feed(raft)) fed = true;
    return fed;
  }

  /** All proposals of this turn go to the core in one call: one contiguous range of indexes. */
  private proposeAll(): void {
    const batch = this.proposals;
    this.proposals = [];
    const result = this.raft.propose(batch.map((p) => p.data));
    if (tracing && result.ok) trace('replica.propose', result.firstIndex);
    if (!result.ok) {
      const err = refusalError(result);
      for (const p of batch) p.reject(err);
      return;
    }
    const deadlineMs = performance.now() + this.opts.proposalTimeoutMs;
    for (let i = 0; i < batch.length; i++) this.waiters.add(result.firstIndex + i, result.term, deadlineMs, batch[i].resolve, batch[i].reject);
  }

  private handleReady(rd: Ready): void {
    if (rd.softState) this.onSoftState(rd.softState);
    if (this.opts.onConfigEntries !== undefined && (rd.snapshot !== null || hasConfEntry(rd.entries) || hasConfEntry(rd.committedEntries))) {
      this.opts.onConfigEntries(rd.entries.filter((e) => e.type === EntryType.ConfChange));
    }
    this.sendAll(rd.messages);
    // Committed entries are applied, and their clients answered, at once: they are durable on a
    // quorum (maybe not here yet: applyUnpersisted; they may even be among this Ready's entries).
    // Each role first does what somebody waits for: a leader's clients wait for the apply, while
    // its own write is not needed for the commit (applyUnpersisted); a follower's leader waits for
    // its durable acknowledgement, so its write (and fdatasync) starts before it applies.
    const appliedBefore = this.opts.stateMachine.appliedIndex;
    let write: Promise<unknown> | null;
    if (this.soft.role === Role.Leader) {
      if (rd.committedEntries.length) this.applyAll(rd.committedEntries);
      write = this.startWrites(rd, appliedBefore);
    } else {
      write = this.startWrites(rd, appliedBefore);
      if (rd.entries.length) this.opts.log.writeNow();
      if (rd.committedEntries.length) this.applyAll(rd.committedEntries);
    }
    for (const rs of rd.readStates) this.reads.confirmed(rs.ctx, rs.index, this.opts.stateMachine.appliedIndex);
    this.raft.accept(rd);
    if (write === null && this.writesInFlight === 0) {
      this.sendAll(rd.persistedMessages);
      return;
    }
    this.writesInFlight++;
    const last = rd.entries.length > 0 ? rd.entries[rd.entries.length - 1] : null;
    if (last !== null) this.inFlightFirstIndexes.push(rd.entries[0].index);
    const tail = Promise.all([this.durableTail, write]).then(() => {
      this.writesInFlight--;
      if (last !== null) {
        // Writes complete in the order they started: this one is the oldest in flight.
        this.inFlightFirstIndexes.shift();
        this.durableLastIndex = last.index;
      }
      if (this.fatal) return;
      if (tracing && last !== null) trace('replica.durable', last.index);
      this.sendAll(rd.persistedMessages);
      if (last !== null) this.durableEntry = { index: last.index, term: last.term };
      // Also without entries: the loop may have stopped at writesInFlightMax.
      this.schedule();
    });
    // A failed write stops the replica; every later link of the chain rejects too, so no
    // acknowledgement of anything after it ever leaves.
    tail.catch((err: Error) => {
      if (!this.fatal && !(this.stopped && err instanceof AppendAbandoned)) this.fail(err);
    });
    this.durableTail = tail;
  }

  /** Starts this Ready's writes; resolves once they are durable (null: nothing to write). */
  private startWrites(rd: Ready, appliedBefore: number): Promise<unknown> | null {
    const writes: Promise<unknown>[] = [];
    // Only term, vote and the recovering flag must be durable before we act on them (a vote given
    // twice in one term breaks election safety). The commit index need not be: a restarted replica
    // relearns it from the leader, so a commit-only change is not worth a LevelDB fsync per Ready.
    const hs = rd.hardState;
    const recovering = hs?.recovering === true;
    let entriesAfter: Promise<void> | null = null;
    if (hs && (hs.term !== this.writtenTerm || hs.vote !== this.writtenVote || recovering !== this.writtenRecovering)) {
      // Entries that come with the end of recovering are written after it (types.ts HardState).
      // The commit index stored with it never covers more than the durable log holds for sure once
      // the writes in flight and this Ready's are done: a truncation in flight may leave old
      // conflicting entries on disk after a crash, and a restart must not count them committed.
      const sure = rd.entries.length > 0 ? Math.min(this.stableLastIndex(), rd.entries[0]!.index - 1) : this.stableLastIndex();
      const stored = hs.commit <= sure ? hs : { ...hs, commit: sure };
      if (this.writtenRecovering && !recovering) {
        entriesAfter = this.hardStateChain.then(() => this.writeHardState(stored));
        this.opts.logger.info({ term: hs.term, commit: hs.commit }, 'store rebuilt: caught up with the master, this replica votes and serves reads again');
      }
      this.writtenTerm = hs.term;
      this.writtenVote = hs.vote;
      this.writtenRecovering = recovering;
      this.hardStateChain = entriesAfter ?? this.hardStateChain.then(() => this.writeHardState(stored));
      writes.push(this.hardStateChain);
    }
    if (rd.entries.length) {
      const metrics = this.opts.metrics;
      const t0 = metrics === undefined ? 0 : performance.now();
      const appended = this.persistEntries(rd.entries, appliedBefore, entriesAfter);
      if (metrics !== undefined) appended.then(() => metrics.appended((performance.now() - t0) / 1000), () => undefined);
      writes.push(appended);
    }
    if (writes.length === 0) return null;
    return writes.length === 1 ? writes[0] : Promise.all(writes);
  }

  /** Writes the hard state; a full disk has it tried again until there is space (the meta store
   *  reopens its LevelDB for that). Nothing that depends on it (a vote, a new term) leaves before
   *  it is durable, exactly as with a slow disk; a stop gives it up. */
  private writeHardState(hs: Parameters<MetaStore['setHardState']>[0]): Promise<void> {
    const what = `the hard state (term ${hs.term}, vote)`;
    return retryWhileNoSpace(() => this.opts.meta.setHardState(hs), what, { logger: this.opts.logger, retryMs: this.appender.retryMs, stopped: () => this.stopped });
  }

  /** Appends entries (truncating a conflicting suffix first); resolves once they are durable.
   *  `appliedBefore`: the applied index before this Ready's committed entries were applied (they
   *  may be these very entries, and later Readies may apply these before the truncation runs). */
  private persistEntries(entries: readonly Entry[], appliedBefore: number, after: Promise<void> | null): Promise<void> {
    const log = this.appender;
    // The common case: appends are accepted in call order, synchronously.
    if (this.appendGate === null && after === null && entries[0].index > log.lastIndex()) return log.append(entries);
    const gateBefore = this.appendGate ?? Promise.resolve();
    const accepted = (after === null ? gateBefore : Promise.all([gateBefore, after])).then(async () => {
      const first = entries[0].index;
      if (first <= log.lastIndex()) {
        // Raft conflict: the leader overwrites our uncommitted suffix. Never below what was
        // applied before these entries came (a committed entry never changes).
        if (first <= appliedBefore) {
          throw new Error(`refusing to truncate at ${first}: entries up to ${appliedBefore} were applied before this write`);
        }
        await log.truncateAfter(first - 1);
      }
      return { durable: log.append(entries) };
    });
    const gate = accepted.then(() => undefined);
    this.appendGate = gate;
    gate.then(
      () => {
        if (this.appendGate === gate) this.appendGate = null;
      },
      () => undefined,
    );
    return accepted.then((a) => a.durable);
  }

  /** Ready.snapshot, before anything else of its Ready: every write started before is durable
   *  first (the log is replaced), then the snapshot is installed durably; the loop waits. */
  private async installSnapshot(index: number, term: number): Promise<void> {
    const snapshots = this.opts.snapshots;
    if (snapshots === undefined) throw new Error(`Ready.snapshot at ${index} without a snapshot driver`);
    await this.durableTail;
    await this.appendGate;
    await snapshots.install(index, term, (first, prevTerm) => this.appender.restartAt(first, prevTerm));
    this.durableLastIndex = index;
    this.opts.logger.info({ index, term }, LOG_SNAPSHOT_INSTALLED);
  }

  private sendAll(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    if (tracing) traceMessages(messages, 'send');
    sendByPeer(messages, this.opts.peers, this.opts.snapshots);
  }


  private applyAll(entries: readonly Entry[]): void {
    const sm = this.opts.stateMachine;
    for (const e of entries) {
      // After a restart the core may hand out entries the checkpoint already covers.
      if (e.index <= sm.appliedIndex) continue;
      const result = sm.apply(e);
      if (tracing) trace('replica.apply', e.index);
      if (this.soft.role === Role.Leader && e.term === this.soft.term && this.leaderReadyTerm !== e.term) {
        this.leaderReadyTerm = e.term;
        this.readyWaiters.settle(true);
      }
      this.waiters.applied(e.index, e.term, result, this.soft.leaderId);
    }
    if (this.reads.size > 0) this.reads.applied(sm.appliedIndex);
  }

  private onSoftState(soft: SoftState): void {
    const before = this.soft;
    this.soft = soft;
    if (before.role === Role.Leader && (soft.role !== Role.Leader || soft.term !== before.term)) this.readyWaiters.settle(false);
    // A confirmation asked of the old master will not come (a confirmed read still completes).
    if (soft.leaderId !== before.leaderId || soft.term !== before.term) this.reads.rejectUnconfirmed(new ProposalError('NOT_MASTER', 'the master changed before it confirmed the read', soft.leaderId));
    this.opts.metrics?.roleChanged(before, soft);
    if (this.roleChangeLog.note(before, soft)) {
      this.opts.logger.info(
        { role: soft.role, term: soft.term, leaderId: soft.leaderId, previousRole: before.role },
        soft.role === Role.Leader ? 'became leader (MASTER)' : `role ${soft.role} (SLAVE), leader ${soft.leaderId || 'unknown'}`,
      );
    }
  }

  private fail(err: Error): void {
    this.fatal = err;
    this.opts.logger.error({ err: err.message, code: (err as { code?: string }).code }, 'replica failed; stopping');
    for (const p of this.proposals) p.reject(new ProposalError('INTERNAL', err.message));
    this.proposals = [];
    this.waiters.rejectAll(new ProposalError('INTERNAL', err.message));
    this.reads.rejectAll(new ProposalError('INTERNAL', err.message));
    this.confChanges.rejectAll(new ProposalError('INTERNAL', err.message));
    if (this.ticker) clearInterval(this.ticker);
    this.opts.onFatal(err);
  }
}

