// The Raft core's public vocabulary. The core is a pure, synchronous state machine: these types
// are everything that crosses its boundary (see ../../../shared/DESIGN.md, "The Raft core").

/** A replica's id as written in `dLegerPeers` (`n0`, `n1`, ...). */
export type NodeId = string;

/** No node (no vote cast, no leader known). */
export const NONE: NodeId = '';

export enum EntryType {
  /** An application command (for raftmq: an encoded broker command). */
  Normal = 0,
  /** The empty entry a new leader appends at the start of its term (Raft 5.4.2, 8). */
  NoOp = 1,
  /** A membership change: `data` is encodeConfChangeEntry(...) (conf.ts). It takes effect when it
   *  is appended (Raft thesis 4.1: a server uses the latest configuration in its log), committed
   *  or not, and is undone if a conflicting append truncates it. */
  ConfChange = 2,
}

/** A configuration: who votes and who only receives the log. Disjoint lists. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export type ConfChangeOp = 'addLearner' | 'addVoter' | 'promote' | 'remove';

export interface ConfChange {
  readonly op: ConfChangeOp;
  readonly node: NodeId;
  /** Opaque to the core, stored in the entry (the broker puts member addresses here). */
  readonly context: string;
}

/** What a ConfChange entry holds: the change AND the whole resulting configuration, so that
 *  applying any conf entry is "set the configuration to this" (absolute, not a delta). */
export interface ConfChangeEntry extends ConfChange {
  readonly conf: ConfState;
}

/** A configuration and the log index it took effect at (0: the seed). */
export interface ConfAt {
  readonly index: number;
  readonly conf: ConfState;
}

/** A linearizable read the driver may serve once its applied index is >= `index` (ReadIndex). */
export interface ReadState {
  readonly index: number;
  /** The context given to readIndex(). */
  readonly ctx: Uint8Array;
}

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** The body. The core never copies or inspects it; the same Buffer travels to storage and peers. */
  readonly data: Uint8Array;
}

export enum MessageType {
  PreVote = 'PreVote',
  PreVoteResp = 'PreVoteResp',
  Vote = 'Vote',
  VoteResp = 'VoteResp',
  Append = 'Append',
  AppendResp = 'AppendResp',
  Heartbeat = 'Heartbeat',
  HeartbeatResp = 'HeartbeatResp',
  TimeoutNow = 'TimeoutNow',
  /** Leader -> follower whose next entries are compacted: `index`/`logTerm` are the snapshot's
   *  index and term (storage.snapshot()), `commit` the leader's commit, no entries. The driver
   *  sends the snapshot's state with it. Answered by an AppendResp (index = the snapshot index the
   *  follower now holds, or its commit index if the snapshot was stale). */
  Snapshot = 'Snapshot',
  /** Follower/learner -> leader: a ReadIndex request (`context`: the reader's ctx). */
  ReadIndex = 'ReadIndex',
  /** Leader -> the follower that asked: `index` is the read index, `context` the ctx. */
  ReadIndexResp = 'ReadIndexResp',
}

/** A snapshot of the state machine at `index` (its log entry has `term`): everything up to and
 *  including `index` is in the snapshot's state, not in the log. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  /** The configuration in force at `index`; null or absent: no conf entry at or below it (the
   *  seed, RaftConfig.peers). */
  readonly conf?: ConfState | null;
}

/** No snapshot: the log was never compacted. */
export const EMPTY_SNAPSHOT: SnapshotMeta = Object.freeze({ index: 0, term: 0 });

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** Sender's term; for PreVote (and its response) the term the sender would campaign in. */
  readonly term: number;
  /** Append: index of the entry before `entries` (prevIndex). Vote/PreVote: candidate's last index.
   *  Snapshot: the snapshot's index.
   *  AppendResp: on success the follower's new last matching index; on reject the rejected prevIndex. */
  readonly index: number;
  /** Append: term of `index` (prevTerm). Vote/PreVote: candidate's last log term. Snapshot: the
   *  snapshot's term. */
  readonly logTerm: number;
  /** Append/Heartbeat/Snapshot: leader's commit index. */
  readonly commit: number;
  readonly entries: readonly Entry[];
  /** VoteResp/PreVoteResp: vote refused. AppendResp: log did not match at `index`.
   *  HeartbeatResp: the follower lacks entries up to the heartbeat's commit, which is never more
   *  than it acknowledged: it lost its store. */
  readonly reject: boolean;
  /** AppendResp reject: the follower's hint for fast back-off (its last index, or the first index
   *  of the conflicting term). HeartbeatResp reject: its last index. */
  readonly rejectHint: number;
  /** AppendResp reject: the term of the follower's entry at `rejectHint` (0 if none). */
  readonly rejectTerm: number;
  /** Vote/PreVote sent because of a leadership transfer: voters ignore their leader lease. */
  readonly transfer: boolean;
  /** Vote/PreVote: the candidate's store is recovering (HardState.recovering): it has never held
   *  a leader's committed entry. A recovering voter votes only for such a candidate with an
   *  empty log (a new group), never for one that has seen the group and holds nothing; a voter
   *  that has seen the group never votes for a recovering candidate. */
  readonly recovering: boolean;
  /** Heartbeat/HeartbeatResp: the leader's ReadIndex round (opaque to followers, echoed back);
   *  ReadIndex/ReadIndexResp: the reader's ctx. Empty elsewhere. */
  readonly context: Uint8Array;
  /** Snapshot: the configuration in force at the snapshot's index (null: the seed). Null elsewhere. */
  readonly conf: ConfState | null;
}

export enum Role {
  Follower = 'Follower',
  PreCandidate = 'PreCandidate',
  Candidate = 'Candidate',
  Leader = 'Leader',
}

/** What must survive a crash. term and vote must be durable before acting on them. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  /** Durable commit is optional: a restarted node may recover it as 0 and relearn it. */
  readonly commit: number;
  /**
   * The log may lack entries this node once acknowledged (a store that never recorded a hard
   * state: a new replica or a replaced disk; a repaired tail). Such a node grants no vote and
   * does not campaign (unless the logs involved are empty: a new group, and then through a
   * pre-vote whatever RaftConfig.preVote says) until it durably holds
   * an entry its leader committed in its own term, or it sees a new group's first entry (the
   * first leader's no-op, sent before anything was committed). Raft's safety assumes that what a
   * node acknowledged or voted stays on its disk. Absent means false. A single-voter group
   * ignores it. Ordering: a Ready whose hard state turns it off persists that hard state before
   * its entries (a crash between must not leave those entries with a recovering flag that no
   * leader can clear any more).
   */
  readonly recovering?: boolean;
}

/** Volatile state the driver reports (logs, `status`, role pass-through to MASTER/SLAVE). */
export interface SoftState {
  readonly role: Role;
  readonly leaderId: NodeId;
  readonly term: number;
}

/**
 * One batch of work for the driver. The ordering rule is in the field names:
 *  1. `messages` may be sent at once (the leader's appends go out while its own write is in flight).
 *  2. persist `hardState` (when present; synced if `mustSync`) and `entries` (if `entries[0].index`
 *     is at or below the stored last index, the stored suffix from there is truncated first).
 *  3. only then send `persistedMessages` (votes, append acknowledgements: they promise durability).
 *  4. apply `committedEntries` in order (always already persisted locally).
 *  5. call `advance(ready)`.
 *
 *
 * `snapshot` (when not null) comes first in step 2: the driver installs the snapshot's state in
 * its state machine and resets its log to it, so that afterwards storage.firstIndex() ===
 * index + 1, lastIndex() === index, term(index) === term and snapshot() equals it; only then does
 * it persist `hardState` and `entries` (which follow the snapshot). `committedEntries` of that
 * Ready start after the snapshot index (the state machine is at the snapshot after the install).
 * `persistedMessages` (the acknowledgement of the snapshot) leave only once the install is durable.
 *
 * Pipelined persistence (etcd's async storage writes): instead of waiting in step 2, the driver
 * may start the writes, apply `committedEntries`, call `accept(ready)` and take the next Ready
 * while the writes are in flight. Writes must become durable in the order they were started;
 * when one is, the driver sends that Ready's `persistedMessages` (never before those of an
 * earlier Ready) and reports `persisted(lastEntry.index, lastEntry.term)`, or
 * `persisted(snapshot.index, snapshot.term)` for a Ready with a snapshot and no entries. With a
 * snapshot, accept(ready) means its state is in the state machine (in memory at least): the
 * applied index becomes the snapshot index.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly mustSync: boolean;
  /** A snapshot to install before anything else of this Ready (see above); null: none. */
  readonly snapshot: SnapshotMeta | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly persistedMessages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  /** Confirmed ReadIndex requests of this node (readIndex()): serve each once applied >= index. */
  readonly readStates: readonly ReadState[];
}

/** Read-only view of the durable log the core starts from (etcd's Storage, hashicorp's LogStore). */
export interface Storage {
  initialHardState(): HardState;
  /** Index of the first entry available (1 for a log never compacted). */
  firstIndex(): number;
  /** Index of the last durable entry (firstIndex() - 1 when empty). */
  lastIndex(): number;
  /** Term of the entry at `index`; `index` may be firstIndex() - 1 (the compaction point, term
   *  known) and 0 (term 0). Throws CompactedError below that. */
  term(index: number): number;
  /** Entries [lo, hi), at least one if lo < hi, stopping before `maxBytes` of data is exceeded. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The newest snapshot the driver can send to a follower: firstIndex() - 1 <= index <=
   *  lastIndex(), and index <= the applied index. EMPTY_SNAPSHOT ({ index: 0, term: 0 }) for a log
   *  never compacted. The driver may compact (move firstIndex() up, to at most applied + 1)
   *  between calls into the core; the core compacts nothing itself. */
  snapshot(): SnapshotMeta;
  /** The configuration the driver's state machine knows as of its applied index
   *  (RaftConfig.applied): the latest ConfChange entry at or below it, or the snapshot's conf.
   *  Null: none applied yet (RaftConfig.peers is the seed). The core scans the log after the
   *  applied index for later conf entries itself. */
  initialConfState(): ConfAt | null;
}

export interface RaftConfig {
  readonly id: NodeId;
  /** The seed voters of a brand-new group (dLegerPeers). The configuration in force is log state
   *  (ConfChange entries, snapshots); the seed applies while the log holds none. Empty for a node
   *  joining an existing group: it knows no configuration until the leader sends one, and never
   *  campaigns while it is not a voter. */
  readonly peers: readonly NodeId[];
  /** Seed learners (disjoint from peers); default none. */
  readonly learners?: readonly NodeId[];
  /** A learner whose match is more than this many entries below the leader's last index may not
   *  be promoted (LEARNER_LAGGING). Default 1000. */
  readonly promoteLagMax?: number;
  /** Election timeout is randomized in [electionTicks, 2 * electionTicks). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Seed of this node's PRNG (randomized timeouts). */
  readonly seed: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** A leader hands leadership to this node once it is caught up (DLedger preferredLeaderId). */
  readonly preferredLeader: NodeId;
  /** Limits. Every one is checked. */
  readonly maxEntriesPerMessage: number;
  readonly maxBytesPerMessage: number;
  readonly maxInflightPerFollower: number;
  /** Entry data bytes in flight to one follower (sent, not acknowledged) before the leader
   *  waits; one append may pass it. With maxBytesPerMessage it bounds what a follower that
   *  stopped answering costs the leader, and paces the catch-up of one far behind. */
  readonly maxInflightBytesPerFollower: number;
  readonly maxUncommittedBytes: number;
  /** A leadership transfer that has not finished after this many ticks is abandoned. */
  readonly transferTimeoutTicks: number;
  /** After the leader is reported unreachable, campaign within [1, fastElectionTicksMax] ticks
   *  (randomized: several followers that notice at once should not split the vote). */
  readonly fastElectionTicksMax: number;
  /** Index the driver's state machine has already applied (its checkpoint); committed entries
   *  are handed out from applied + 1 after a restart. Optional, default 0. */
  readonly applied?: number;
  /**
   * Hand out committed entries to apply before they are persisted locally (default false). For a
   * driver that persists with accept()/persisted(): a committed entry is durable on a quorum and
   * never changes, so a leader (or follower) whose own write is slower than a quorum's need not
   * wait for it to apply and answer. The driver must then (1) serve reads of such entries from
   * memory (they may not be in its storage yet) and (2) never make an applied index durable (a
   * state-machine checkpoint, RaftConfig.applied after a restart) above the last index it has
   * persisted: after a crash the log below `applied` must hold the applied entries.
   */
  readonly applyUnpersisted?: boolean;
  /** Test-only fault injection, so the simulation can prove its checkers fire. Never set in production. */
  readonly testBugs?: ReadonlySet<TestBug>;
}

export type TestBug =
  /** Commit entries of earlier terms by counting replicas (violates Raft 5.4.2). */
  | 'commit-old-term-by-counting'
  /** Grant votes without checking the candidate's log is up to date (violates 5.4.1). */
  | 'vote-for-stale-log'
  /** Vote and campaign while recovering (a replaced disk votes as if it still held its log). */
  | 'recovering-votes'
  /** The pre-vote tie-break at all times, not only in the fast election window: a lower id that
   *  cannot win blocks a higher one for good (a liveness bug under partial connectivity). */
  | 'pre-vote-tie-break-always'
  /** A follower installs a Snapshot at or below its commit index instead of ignoring it (its
   *  log and state go back; committed entries vanish from it). */
  | 'install-stale-snapshot'
  /** A new leader takes a conf change before it has committed an entry of its own term (the
   *  single-server change bug: two configurations whose majorities do not overlap). */
  | 'conf-change-before-term-commit'
  /** A leader takes a conf change while another is not yet applied (two in flight). */
  | 'two-conf-changes-in-flight';

export const DEFAULT_RAFT_CONFIG: Omit<RaftConfig, 'id' | 'peers' | 'seed'> = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  preferredLeader: NONE,
  maxEntriesPerMessage: 4096,
  maxBytesPerMessage: 4 * 1024 * 1024,
  maxInflightPerFollower: 256,
  maxInflightBytesPerFollower: 16 * 1024 * 1024,
  maxUncommittedBytes: 256 * 1024 * 1024,
  transferTimeoutTicks: 20,
  fastElectionTicksMax: 3,
};

export type ProposeRefusalCode =
  | 'NOT_LEADER'
  | 'TRANSFERRING'
  | 'UNCOMMITTED_LIMIT'
  /** proposeConfChange: a conf entry is not yet applied by the leader, or the leader has not yet
   *  committed an entry of its own term. */
  | 'CONF_CHANGE_IN_FLIGHT'
  /** proposeConfChange: the change does not fit the configuration (unknown node, a member added
   *  again, the last voter removed, a promotion of a non-learner). */
  | 'BAD_CONF_CHANGE'
  /** proposeConfChange: promote/addVoter of a learner that is not caught up (RaftConfig.promoteLagMax). */
  | 'LEARNER_LAGGING'
  /** proposeConfChange: the recently active voters of the new configuration would not be a
   *  majority of it (skipped with force). */
  | 'NO_LIVE_QUORUM'
  /** readIndex: too many reads pending. */
  | 'READ_QUEUE_FULL';

/** Why a proposal (or a read) was refused. Stable codes; the broker maps NOT_LEADER to NOT_MASTER.
 *  `reason` is one human line (it may change between versions; `code` does not). */
export interface ProposeRefusal {
  readonly ok: false;
  readonly code: ProposeRefusalCode;
  readonly leaderHint: NodeId;
  readonly reason: string;
}

/** Accepted: the entries got indexes [firstIndex, lastIndex] in `term`. The proposal succeeded iff
 *  a committed entry at lastIndex later has this term (another term there means it was lost). */
export type ProposeResult =
  | { readonly ok: true; readonly term: number; readonly firstIndex: number; readonly lastIndex: number }
  | ProposeRefusal;

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  /** Snapshot: a snapshot was sent and no appends go out until it is answered or reported. */
  readonly state: 'Probe' | 'Replicate' | 'Snapshot';
  /** State Snapshot: the index of the snapshot sent; 0 otherwise. */
  readonly pendingSnapshot: number;
  readonly inflight: number;
  /** Entry data bytes of the appends in flight. */
  readonly inflightBytes: number;
  readonly recentActive: boolean;
  /** A learner (receives the log, does not vote). */
  readonly learner: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leaderId: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  /** The highest commit index this node has heard from its current leader (the leader: its own);
   *  a follower whose commit is below it is still catching up. */
  readonly leaderCommit: number;
  /** See HardState.recovering. */
  readonly recovering: boolean;
  /** Leader only: one entry per other member (voters and learners). */
  readonly progress: Readonly<Record<NodeId, ProgressStatus>>;
  readonly transferee: NodeId;
  /** The configuration in force (the latest in this node's log, committed or not). */
  readonly conf: ConfState;
  /** Leader: index of the last conf entry it appended (or its last index when it was elected);
   *  a new conf change waits until it is applied. 0 elsewhere. */
  readonly pendingConfIndex: number;
}

/**
 * The core's driver-facing API (etcd's RawNode). Implemented by `RaftNode` in raw-node.ts.
 * Nothing here does I/O, reads a clock or awaits.
 */
export interface RaftNodeApi {
  tick(): void;
  step(message: Message): void;
  /** Proposes application commands (bodies are not copied). */
  propose(data: readonly Uint8Array[]): ProposeResult;
  /** Proposes a membership change (one at a time, single-server). `force` skips NO_LIVE_QUORUM. */
  proposeConfChange(cc: ConfChange, opts?: { readonly force?: boolean }): ProposeResult;
  /** A linearizable read (etcd's ReadIndex): a ReadState with `ctx` comes out in a later Ready once
   *  leadership is confirmed. One that cannot complete (leader lost) never comes out: the driver
   *  times it out. NOT_LEADER when no leader is known, READ_QUEUE_FULL beyond the queue limit. */
  readIndex(ctx: Uint8Array): { readonly ok: true } | ProposeRefusal;
  /** Starts a leadership transfer (leader only; ignored elsewhere). Returns false if refused. */
  transferLeadership(to: NodeId): boolean;
  /** The transport lost its connection to `peer` (reset or refused). If it is our leader, the
   *  follower forgets it and campaigns after a short randomized delay instead of a full timeout. */
  reportUnreachable(peer: NodeId): void;
  /** The transfer of a snapshot to `peer` (a Snapshot message this node sent) finished: `ok`
   *  it was delivered, else it failed. Leader only (ignored elsewhere, or if `peer` is not waiting
   *  for a snapshot). Either way the peer goes to Probe and is paused until it answers (a
   *  heartbeat response): on success the leader then probes after the snapshot, on failure a
   *  new snapshot goes out (etcd's ReportSnapshot). A driver that sends snapshots must call it. */
  reportSnapshot(peer: NodeId, ok: boolean): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
  /** Takes `ready` like advance(), but its entries are still being written: they stay out of the
   *  local durable log (not applied, not counted by a leader for commit) until persisted(). */
  accept(ready: Ready): void;
  /** Entries up to (index, term) handed out by accepted Readies are durable (a snapshot handed out
   *  is reported with its (index, term), or by a later entry of its Ready). A stale report (the
   *  entry at index was replaced since) is ignored. Not while a Ready is outstanding. */
  persisted(index: number, term: number): void;
  status(): RaftStatus;
}
