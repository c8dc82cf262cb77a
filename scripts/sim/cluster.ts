// A deterministic simulated cluster: N real Raft cores, each with a MemoryStorage as its disk,
// a seeded network, slow disks and crashes. Everything random comes from one seeded Prng, so a
// seed (plus the schedule of operations) replays a run exactly.
//
// The driver model follows src/broker/replica.ts (one serialized loop per replica):
//   turn: feed the core (capped ticks, unreachable reports, every queued message, a transfer,
//   proposals) -> ready() -> send `messages` at once -> persist (takes 1..fsyncStepsMax steps,
//   "fsync in flight"; the node takes no input meanwhile, its inbox fills) -> send
//   `persistedMessages` -> apply `committedEntries` -> advance().
// A crash loses the in-flight write (or, with tornWrites, keeps part of it: the hard state and
// the entries are separate writes, and entries survive as a prefix), a hard state written
// without mustSync may be lost, and the node restarts as a new core over its MemoryStorage.
// A wipe is a crash that also loses the whole store (a replaced disk): the node restarts empty,
// with the recovering hard state a broker's fresh store has (HardState.recovering).
//
// Snapshots (ClusterOptions.compactChance > 0): each node's state machine is a hash chain over
// the entries it applied (checkers.ts, stateHash). After applying, the driver now and then
// compacts its store at a random applied point it holds durably and keeps the state there as
// its snapshot (durable with the compaction). A Snapshot message carries the sender's snapshot
// state as a side payload (dropped, delayed, duplicated and reordered with it); the receiver
// keeps what arrived, and installs the payload the core asks for (Ready.snapshot): its state
// machine takes it when the Ready is taken, its store when the write completes (a crash before
// loses it; a torn write may keep it, then a prefix of the entries after it). The sender learns
// each transfer's fate (reportSnapshot: delivered, or lost on the way); a sender that crashes
// may lose the transfers it has in flight.

import {
  MemoryStorage,
  RaftNode,
  type ConfAt,
  type ConfChange,
  type ConfState,
  type ConfChangeOp,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftNodeApi,
  type RaftStatus,
  type Ready,
  type SnapshotMeta,
  type Storage,
  type TestBug,
  DEFAULT_RAFT_CONFIG,
  EntryType,
  MessageType,
  NONE,
  Role,
  decodeConfChangeEntry,
  isMemberOf,
} from '../../src/raft/index.ts';
import { INITIAL_STATE_HASH, SafetyChecker, dataKey, entryKey, stateHash } from './checkers.ts';
import type { Observation, Violation } from './checkers.ts';
import { Prng } from './prng.ts';

/** ack-before-durable: a pipelined driver sends a Ready's persistedMessages (append and vote
 *  acknowledgements) as soon as it starts the write instead of once the write is durable. */
export type DriverBug =
  /** Acknowledge appends before they are durable. */
  | 'ack-before-durable'
  /** Checkpoint the applied index even where the durable log does not hold the applied entries
   *  yet (pipelined: applied before persisted, RaftConfig.applyUnpersisted). */
  | 'checkpoint-above-durable'
  /** Persist the hard state's commit index as the core gives it, above what the durable log
   *  holds for sure (a truncation in flight may leave conflicting entries there after a crash). */
  | 'commit-ahead-of-log'
  /** Compaction keeps the state machine's state of the index before the compaction point as the
   *  snapshot (an off-by-one between the log and the state it is cut at). */
  | 'compact-stale-state';

export type NodeFactory = (config: RaftConfig, storage: Storage) => RaftNodeApi;

export interface ClusterOptions {
  /** Seed voters (n0 ..). */
  readonly nodes: number;
  /** Spare node ids after the seeds, running from the start with an empty store and an empty
   *  seed (joining nodes): conf changes may add them. Default 0. */
  readonly spares?: number;
  readonly seed: number;
  /** Overrides of DEFAULT_RAFT_CONFIG for every node. */
  readonly raft?: Partial<Omit<RaftConfig, 'id' | 'peers' | 'seed'>>;
  readonly testBugs?: ReadonlySet<TestBug>;
  /** A write takes 1..fsyncStepsMax steps; 0 makes persistence instant. */
  readonly fsyncStepsMax?: number;
  /** A crash during a write may keep the hard state and/or a prefix of the entries. */
  readonly tornWrites?: boolean;
  /** Pipelined persistence (RaftNode.accept/persisted, as the broker's driver does): a node
   *  takes the next Ready while earlier writes are in flight; they complete in order. Committed
   *  entries are applied before they are persisted locally (RaftConfig.applyUnpersisted), and a
   *  checkpoint never goes above what the durable log holds of them. */
  readonly pipelinedWrites?: boolean;
  /** A deliberately broken driver, to prove the checkers notice. */
  readonly driverBug?: DriverBug;
  /** Nodes start as a broker's fresh store does: recovering (HardState.recovering), so a new
   *  group's first election runs on empty logs. */
  readonly freshStores?: boolean;
  /** The state machine checkpoints its applied index now and then and restarts from it
   *  (default true). */
  readonly checkpoints?: boolean;
  /** After each batch of applied entries, the chance that the driver compacts its store (0: never,
   *  the default; no random draw is made then, so runs without it replay as before). */
  readonly compactChance?: number;
  /** Ticks fed to the core per turn at most (replica.ts caps a stalled loop at 5). */
  readonly ticksPerTurnMax?: number;
  readonly factory?: NodeFactory;
  /** Lines of trace kept for a failure report (default 60; 0, or SIM_TRACE_ALL=1 in the
   *  environment: all of it, for debugging a seed). */
  readonly traceLines?: number;
}

/** Writes a pipelined node keeps in flight before it stops taking Readies (backpressure). */
const PIPELINED_WRITES_MAX = 4;

/** A state machine state: its applied index, the term there and the hash chain value. */
interface SnapState {
  readonly index: number;
  readonly term: number;
  readonly hash: number;
  /** The configuration at `index` (null: the seed). */
  readonly conf: ConfState | null;
}

const NO_SNAPSHOT: SnapState = { index: 0, term: 0, hash: INITIAL_STATE_HASH, conf: null };

function snapKey(index: number, term: number): string {
  return `${index}/${term}`;
}

interface Write {
  readonly ready: Ready;
  /** The state of Ready.snapshot (what the leader sent along), installed with it. */
  readonly snap: SnapState | null;
  /** The hard state as the driver stores it: its commit never above what the durable log holds
   *  for sure when the write starts (src/broker/replica.ts, startWrites). */
  readonly hardState: HardState | null;
  stepsLeft: number;
}

interface Proposal {
  readonly id: number;
  readonly node: NodeId;
  readonly term: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly data: readonly Uint8Array[];
  outcome: 'pending' | 'committed' | 'lost';
}

/** A wiped node stays down this many election timeouts (a replaced disk takes a while; a stale
 *  leader has stepped down by then: check-quorum). */
export const WIPE_DOWN_ELECTION_TIMEOUTS = 2;

class SimNode {
  core: RaftNodeApi | null = null;
  storage = new MemoryStorage();
  /** Cluster tick count when its store was wiped; -1 if never (or restarted since). */
  wipedAtTick = -1;
  /** The last hard state written with mustSync (what a crash cannot take away). */
  syncedHardState: HardState = { term: 0, vote: NONE, commit: 0 };
  /** Writes in flight, oldest first (at most one unless pipelined). */
  writes: Write[] = [];
  inbox: Message[] = [];
  pendingTicks = 0;
  unreachable: NodeId[] = [];
  transferTo: NodeId = NONE;
  proposals: Uint8Array[][] = [];
  /** This incarnation's accepted proposals by last index, to recognise acknowledgements. */
  waiting = new Map<number, Proposal>();
  role: Role = Role.Follower;
  term = 0;
  leaderId: NodeId = NONE;
  incarnation = 0;
  /** The state machine's durable applied index (replica.ts checkpoints it now and then); the
   *  core restarts with it as RaftConfig.applied. */
  checkpoint = 0;
  /** The state machine's state at `checkpoint` (durable with it). */
  checkpointHash = INITIAL_STATE_HASH;
  /** The snapshot its store holds (storage.snapshot(), with the state there); durable. */
  snapState: SnapState = NO_SNAPSHOT;
  /** The state machine (volatile): applied index and state. */
  smIndex = 0;
  smHash = INITIAL_STATE_HASH;
  /** States at the indexes applied in this incarnation (for checkpoints and compaction), from
   *  hashBase on. */
  hashes = new Map<number, number>();
  hashBase = 0;
  /** Snapshot states that arrived with Snapshot messages (volatile, like the inbox), by index/term. */
  snapPayloads = new Map<string, SnapState>();
  /** Snapshot transfers to report to the core (reportSnapshot). */
  snapshotReports: { readonly peer: NodeId; readonly ok: boolean }[] = [];
  /** ReadIndex requests to hand to the core at its next turn (their ids). */
  reads: number[] = [];
  /** Conf changes to propose at its next turn. */
  confChanges: { readonly cc: ConfChange; readonly force: boolean }[] = [];
  /** The state machine's configuration: its base (null: the seed) and the conf entries applied
   *  since (for checkpoints and compaction, which keep the configuration at their index). */
  confBase: ConfAt | null = null;
  confsApplied: ConfAt[] = [];
  /** The configuration at `checkpoint` (durable with it). */
  checkpointConf: ConfAt | null = null;
  /** Removed from the configuration (it applied the change): the driver stopped it for good. */
  retired = false;
  /** It applied its own removal: it is stopped after this turn. */
  retireDue = false;
  /** Terms it led (in any incarnation), and whether the removal it applied was its own as leader. */
  leaderTerms = new Set<number>();
  removedItselfAsLeader = false;
  constructor(
    readonly id: NodeId,
    /** RaftConfig.peers: the seed voters, or none for a joining node. */
    public seedPeers: readonly NodeId[],
  ) {}
  /** The state machine's configuration at `index` (at or below its applied index). */
  confAt(index: number): ConfAt | null {
    for (let i = this.confsApplied.length - 1; i >= 0; i--) if (this.confsApplied[i].index <= index) return this.confsApplied[i];
    return this.confBase;
  }
  get alive(): boolean {
    return this.core !== null;
  }
}

interface Packet {
  readonly msg: Message;
  /** Snapshot messages: the sender's snapshot state, and the sender's incarnation (its fate is
   *  reported to that incarnation only); a duplicate made by the network is not reported. */
  readonly snap?: SnapState;
  readonly incarnation?: number;
  readonly dup?: boolean;
  readonly deliverAt: number;
}

export interface ClusterStats {
  proposed: number;
  refused: number;
  acked: number;
  delivered: number;
  dropped: number;
  crashes: number;
  wipes: number;
  compactions: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  /** Conf changes the leaders took, refused (any code), and conf entries applied (distinct). */
  confProposed: number;
  confRefused: number;
  confApplied: number;
  /** ReadIndex: requests made, refused (any code) and confirmed (a ReadState came out). */
  readsRequested: number;
  readsRefused: number;
  readsServed: number;
  /** Nodes stopped after they applied their own removal (leaderRemovals: a leader that removed
   *  itself, stepped down and was stopped). */
  retired: number;
  leaderRemovals: number;
}

export class SimCluster {
  readonly prng: Prng;
  readonly checker: SafetyChecker;
  readonly nodes: SimNode[] = [];
  readonly ids: NodeId[] = [];
  violation: Violation | null = null;
  /** Logical time: one step per operation (and per drain round while settling). */
  now = 0;
  readonly stats: ClusterStats = {
    proposed: 0,
    refused: 0,
    acked: 0,
    delivered: 0,
    dropped: 0,
    crashes: 0,
    wipes: 0,
    compactions: 0,
    snapshotsSent: 0,
    snapshotsInstalled: 0,
    readsRequested: 0,
    readsRefused: 0,
    readsServed: 0,
    confProposed: 0,
    confRefused: 0,
    confApplied: 0,
    retired: 0,
    leaderRemovals: 0,
  };
  /** Indexes of the conf entries some node applied. */
  private readonly confIndexesApplied = new Set<number>();
  readonly proposals: Proposal[] = [];

  private packets: Packet[] = [];
  /** Cut directed links "from>to". */
  private readonly cut = new Set<string>();
  private dropRate = 0;
  private dupRate = 0;
  private delayMax = 0;
  private readonly fsyncStepsMax: number;
  private readonly tornWrites: boolean;
  private readonly pipelined: boolean;
  private readonly driverBug: DriverBug | null;
  private readonly checkpoints: boolean;
  private readonly compactChance: number;
  private readonly ticksPerTurnMax: number;
  private readonly factory: NodeFactory;
  private readonly baseConfig: Omit<RaftConfig, 'id' | 'seed'>;
  private readonly trace: string[] = [];
  private readonly traceLines: number;
  private nextProposalId = 1;
  /** tickAll() calls so far: the simulated wall clock. */
  private ticksElapsed = 0;

  constructor(opts: ClusterOptions) {
    this.prng = new Prng(opts.seed);
    this.fsyncStepsMax = opts.fsyncStepsMax ?? 3;
    this.tornWrites = opts.tornWrites ?? false;
    this.pipelined = opts.pipelinedWrites ?? false;
    this.driverBug = opts.driverBug ?? null;
    this.checkpoints = opts.checkpoints ?? true;
    this.compactChance = opts.compactChance ?? 0;
    this.ticksPerTurnMax = opts.ticksPerTurnMax ?? 5;
    this.factory = opts.factory ?? ((config, storage) => new RaftNode(config, storage));
    this.traceLines = opts.traceLines ?? (process.env.SIM_TRACE_ALL ? 0 : 60);
    const spares = opts.spares ?? 0;
    for (let i = 0; i < opts.nodes + spares; i++) this.ids.push(`n${i}`);
    const seeds = this.ids.slice(0, opts.nodes);
    this.checker = new SafetyChecker(seeds);
    this.baseConfig = {
      ...DEFAULT_RAFT_CONFIG,
      ...opts.raft,
      applyUnpersisted: this.pipelined,
      peers: seeds,
      ...(opts.testBugs ? { testBugs: opts.testBugs } : {}),
    };
    for (const id of this.ids) {
      const spare = !seeds.includes(id);
      const n = new SimNode(id, spare ? [] : seeds);
      if (opts.freshStores || spare) n.storage.setHardState({ term: 0, vote: NONE, commit: 0, recovering: true });
      n.syncedHardState = n.storage.initialHardState();
      this.nodes.push(n);
    }
    for (let i = 0; i < this.nodes.length; i++) this.restart(i);
  }

  get size(): number {
    return this.nodes.length;
  }

  get electionTicks(): number {
    return this.baseConfig.electionTicks;
  }

  // ---------------------------------------------------------------- trace and observations

  note(line: string): void {
    this.trace.push(`[${this.now}] ${line}`);
    if (this.trace.length > this.traceLines * 2 && this.traceLines > 0) this.trace.splice(0, this.trace.length - this.traceLines);
  }

  lastTrace(lines = 30): string[] {
    return this.trace.slice(-lines);
  }

  private observe(o: Observation): void {
    if (this.violation) return;
    const v = this.checker.observe(o);
    if (v) this.failWith(v);
  }

  failWith(v: Violation): void {
    if (this.violation) return;
    this.violation = v;
    this.note(`VIOLATION ${v.invariant}: ${v.message}`);
  }

  // ---------------------------------------------------------------- time and disks

  /** Advances logical time by one step: writes progress, finished ones complete. */
  stepClock(): void {
    this.now++;
    for (const n of this.nodes) {
      if (n.writes.length === 0) continue;
      for (const w of n.writes) w.stepsLeft--;
      if (this.completeDueWrites(n)) this.pump(n);
    }
  }

  get busyWrites(): number {
    let c = 0;
    for (const n of this.nodes) if (n.writes.length > 0) c++;
    return c;
  }

  // ---------------------------------------------------------------- the driver

  /** Runs turns of the node's loop until it is idle or waiting on its disk. */
  private pump(n: SimNode): void {
    try {
      while (n.core && this.canTakeReady(n) && !this.violation) {
        const core = n.core;
        if (n.pendingTicks > 0) {
          const ticks = Math.min(n.pendingTicks, this.ticksPerTurnMax);
          n.pendingTicks = 0;
          for (let i = 0; i < ticks; i++) core.tick();
        }
        if (n.unreachable.length) {
          const peers = n.unreachable;
          n.unreachable = [];
          for (const p of peers) core.reportUnreachable(p);
        }
        if (n.snapshotReports.length) {
          const reports = n.snapshotReports;
          n.snapshotReports = [];
          for (const r of reports) core.reportSnapshot?.(r.peer, r.ok);
        }
        if (n.inbox.length) {
          const inbox = n.inbox;
          n.inbox = [];
          for (const m of inbox) core.step(m);
        }
        if (n.transferTo !== NONE) {
          const to = n.transferTo;
          n.transferTo = NONE;
          const ok = core.transferLeadership(to);
          this.note(`${n.id} transferLeadership(${to}) -> ${ok}`);
        }
        if (n.proposals.length) {
          const batches = n.proposals;
          n.proposals = [];
          for (const b of batches) this.proposeNow(n, core, b);
          if (this.violation) return;
        }
        if (n.reads.length) {
          const reads = n.reads;
          n.reads = [];
          for (const id of reads) this.readNow(n, core, id);
        }
        if (n.confChanges.length) {
          const changes = n.confChanges;
          n.confChanges = [];
          for (const c of changes) this.proposeConfNow(n, core, c.cc, c.force);
          if (this.violation) return;
        }
        if (!core.hasReady()) break;
        this.handleReady(n, core.ready());
      }
      // Stopped only if it is still out of the configuration in force (a later entry may add it
      // back: then it was a member all along).
      if (n.retireDue && n.core !== null) {
        n.retireDue = false;
        if (!isMemberOf(n.core.status().conf, n.id)) this.retire(n);
      }
    } catch (err) {
      const e = err as Error;
      this.failWith({
        invariant: 'core-threw',
        message: `${n.id}: ${e.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}`,
      });
    }
  }

  /** The node applied its own removal: the driver stops it for good (src/raft: it would never
   *  campaign again anyway). */
  private retire(n: SimNode): void {
    n.retireDue = false;
    const wasLeader = n.removedItselfAsLeader;
    this.crash(this.ids.indexOf(n.id));
    n.retired = true;
    this.stats.retired++;
    if (wasLeader) this.stats.leaderRemovals++;
    this.note(`${n.id} RETIRED (removed from the configuration)`);
  }

  /** The driver's (the operator's) own caution, checked when the change is asked for and again
   *  when the core takes it (a store may be lost in between): see confChange. */
  private confSkipped(op: ConfChangeOp, id: NodeId): boolean {
    if (op === 'remove' && this.recoveringVoter()) {
      this.note(`conf ${op} ${id} skipped: a voter is recovering`);
      return true;
    }
    if ((op === 'promote' || op === 'addVoter') && this.recovering(this.ids.indexOf(id))) {
      this.note(`conf ${op} ${id} skipped: it is recovering`);
      return true;
    }
    return false;
  }

  private proposeConfNow(n: SimNode, core: RaftNodeApi, cc: ConfChange, force: boolean): void {
    if (this.confSkipped(cc.op, cc.node)) return;
    const st = core.status();
    const r = core.proposeConfChange(cc, { force });
    if (!r.ok) {
      this.stats.confRefused++;
      this.note(`${n.id} proposeConfChange ${cc.op} ${cc.node}${force ? ' (force)' : ''} -> ${r.code}: ${r.reason}`);
      if (st.role !== Role.Leader && r.code !== 'NOT_LEADER') {
        this.failWith({ invariant: 'driver-contract', message: `${n.id} (${st.role}) refused a conf change with ${r.code}, not NOT_LEADER` });
      }
      return;
    }
    this.stats.confProposed++;
    if (cc.op === 'addLearner' || cc.op === 'addVoter') this.addedIds.add(cc.node);
    this.note(`${n.id} proposeConfChange ${cc.op} ${cc.node}${force ? ' (force)' : ''} -> ${r.firstIndex}@${r.term}`);
    this.observe({ k: 'leaderMsg', node: n.id, term: r.term });
  }

  private handleReady(n: SimNode, rd: Ready): void {
    if (rd.softState) {
      const s = rd.softState;
      if (s.role !== n.role || s.term !== n.term || s.leaderId !== n.leaderId) {
        this.note(`${n.id} ${s.role} term ${s.term} leader ${s.leaderId || '-'}`);
      }
      n.role = s.role;
      n.leaderId = s.leaderId;
      if (s.role === Role.Leader) n.leaderTerms.add(s.term);
      n.term = Math.max(n.term, s.term);
      this.observe({ k: 'role', node: n.id, term: s.term, role: s.role });
    }
    let snap: SnapState | null = null;
    if (rd.snapshot !== null) {
      snap = this.takeSnapshot(n, rd.snapshot);
      if (snap === null) return;
    }
    if (rd.entries.length) this.observe({ k: 'log', node: n.id, entries: rd.entries });
    for (const rs of rd.readStates) this.onReadState(n, rs.index, rs.ctx);
    if (rd.hardState) {
      n.term = Math.max(n.term, rd.hardState.term);
      this.observe({ k: 'commit', node: n.id, term: rd.hardState.term, commit: rd.hardState.commit });
    }
    this.sendAll(n, rd.messages);
    const hasWrite = rd.hardState !== null || rd.entries.length > 0 || snap !== null;
    let stepsLeft = !hasWrite || this.fsyncStepsMax === 0 ? 0 : this.prng.range(1, this.fsyncStepsMax);
    // Pipelined: now and then a slow write (a disk stall), so a quorum of others often commits
    // an entry before this node persists it and it is applied unpersisted (applyUnpersisted).
    if (this.pipelined && stepsLeft > 0 && this.prng.chance(0.25)) stepsLeft = this.prng.range(this.fsyncStepsMax, 4 * this.fsyncStepsMax + 4);
    const hardState = this.storedHardState(n, rd);
    if (this.pipelined) {
      // Apply now, take the Ready, and let the write finish later (after earlier ones).
      if (!this.applyCommitted(n, rd.committedEntries, rd)) return;
      if (this.driverBug === 'ack-before-durable') this.sendAll(n, rd.persistedMessages);
      n.core!.accept(rd);
      n.writes.push({ ready: rd, snap, hardState, stepsLeft });
      this.completeDueWrites(n);
      return;
    }
    n.writes.push({ ready: rd, snap, hardState, stepsLeft });
    if (stepsLeft === 0) this.completeWrite(n);
  }

  /** Ready.snapshot: the state that arrived with it becomes the state machine's (the store
   *  follows when the write completes). Null on a violation. */
  private takeSnapshot(n: SimNode, meta: SnapshotMeta): SnapState | null {
    const snap = n.snapPayloads.get(snapKey(meta.index, meta.term));
    if (snap === undefined) {
      this.failWith({ invariant: 'driver-contract', message: `${n.id} was asked to install snapshot ${meta.index}@${meta.term}, which never arrived` });
      return null;
    }
    this.note(`${n.id} takes snapshot ${meta.index}@${meta.term} (applied ${n.smIndex})`);
    this.observe({ k: 'snapshot', node: n.id, index: snap.index, term: snap.term, hash: snap.hash });
    n.smIndex = snap.index;
    n.smHash = snap.hash;
    n.hashes.set(snap.index, snap.hash);
    n.confBase = snap.conf !== null ? { index: snap.index, conf: snap.conf } : null;
    n.confsApplied = [];
    return snap;
  }

  /** The store becomes the snapshot (durable). */
  private installSnapshot(n: SimNode, snap: SnapState): void {
    n.storage.applySnapshot({ index: snap.index, term: snap.term, conf: snap.conf });
    n.snapState = snap;
    this.stats.snapshotsInstalled++;
  }

  /** `rd`'s hard state with its commit capped at the last index the durable log holds for sure
   *  once the writes in flight and this Ready's are done (they may replace a suffix). */
  private storedHardState(n: SimNode, rd: Ready): HardState | null {
    const hs = rd.hardState;
    if (hs === null || this.driverBug === 'commit-ahead-of-log') return hs;
    const sure = this.durableStableLast(n, rd);
    return hs.commit <= sure ? hs : { ...hs, commit: sure };
  }

  /** Completes the writes that are done, oldest first: writes become durable in the order they
   *  started (one file, one fsync order), so a finished write waits behind an unfinished one.
   *  Returns whether any completed. */
  private completeDueWrites(n: SimNode): boolean {
    let completed = false;
    while (n.writes.length > 0 && n.writes[0].stepsLeft <= 0 && !this.violation) {
      this.completeWrite(n);
      completed = true;
    }
    return completed;
  }

  /** The Readies whose writes are in flight, oldest first, then `pending` (being taken). */
  private unwritten(n: SimNode, pending?: Ready): Ready[] {
    const readies = n.writes.map((w) => w.ready);
    if (pending) readies.push(pending);
    return readies;
  }

  /** Term at `index` of the node's log once its writes in flight (and `pending`) are done; 0 if none. */
  private acceptedTerm(n: SimNode, index: number, pending?: Ready): number {
    const writes = this.unwritten(n, pending);
    for (let i = writes.length - 1; i >= 0; i--) {
      const ents = writes[i].entries;
      const first = ents.length > 0 ? ents[0].index : 0;
      if (ents.length > 0 && index >= first) return index <= ents[ents.length - 1].index ? ents[index - first].term : 0;
      // A snapshot replaces the log: below it nothing is known, above it only later writes hold.
      const snap = writes[i].snapshot;
      if (snap !== null) return index === snap.index ? snap.term : 0;
      // A write starting above `index` leaves it alone; an older write may hold it.
    }
    return index <= n.storage.lastIndex() && index >= n.storage.firstIndex() - 1 ? n.storage.term(index) : 0;
  }

  /** Last index of the durable log that no write in flight (or `pending`) will replace. */
  private durableStableLast(n: SimNode, pending?: Ready): number {
    let last = n.storage.lastIndex();
    for (const rd of this.unwritten(n, pending)) {
      // A snapshot install replaces the whole log: only the compaction point is sure.
      if (rd.snapshot !== null) return n.storage.firstIndex() - 1;
      if (rd.entries.length > 0) last = Math.min(last, rd.entries[0].index - 1);
    }
    return last;
  }

  /** Whether the node's loop may take another Ready now. */
  private canTakeReady(n: SimNode): boolean {
    return this.pipelined ? n.writes.length < PIPELINED_WRITES_MAX : n.writes.length === 0;
  }

  /** The oldest write in flight is durable now. */
  private completeWrite(n: SimNode): void {
    const w = n.writes[0];
    const core = n.core;
    if (!w || !core || this.violation) return;
    const rd = w.ready;
    try {
      // The snapshot first, then the hard state and the entries (types.ts, Ready).
      if (w.snap !== null) {
        this.installSnapshot(n, w.snap);
        this.note(`${n.id} installed snapshot ${w.snap.index}@${w.snap.term}`);
      }
      if (w.hardState) {
        n.storage.setHardState(w.hardState);
        if (rd.mustSync) n.syncedHardState = w.hardState;
      }
      n.storage.append(rd.entries);
      if (this.driverBug !== 'ack-before-durable' || !this.pipelined) this.sendAll(n, rd.persistedMessages);
      n.writes.shift();
      if (this.pipelined) {
        if (rd.entries.length > 0) {
          const last = rd.entries[rd.entries.length - 1];
          core.persisted(last.index, last.term);
        } else if (rd.snapshot !== null) {
          core.persisted(rd.snapshot.index, rd.snapshot.term);
        }
        return;
      }
      if (!this.applyCommitted(n, rd.committedEntries)) return;
      core.advance(rd);
    } catch (err) {
      n.writes = [];
      const e = err as Error;
      this.failWith({
        invariant: 'core-threw',
        message: `${n.id} (completing a write): ${e.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}`,
      });
    }
  }

  /** Applies committed entries, which must be in the node's log: its durable log, or (pipelined)
   *  the log as its writes in flight and `pending` (the Ready being taken) will leave it. False
   *  on a violation. */
  private applyCommitted(n: SimNode, entries: readonly Entry[], pending?: Ready): boolean {
    for (const e of entries) {
      const term = this.pipelined
        ? this.acceptedTerm(n, e.index, pending)
        : n.storage.lastIndex() >= e.index && e.index >= n.storage.firstIndex() - 1
          ? n.storage.term(e.index)
          : 0;
      if (term !== e.term) {
        this.failWith({
          invariant: 'driver-contract',
          message: `${n.id} was asked to apply ${e.index}@${e.term} which is not in its ${this.pipelined ? 'accepted' : 'durable'} log (term there ${term}, durable last ${n.storage.lastIndex()})`,
        });
        return false;
      }
    }
    if (entries.length === 0) return true;
    // The state machine: a hash chain over the applied entries.
    for (const e of entries) {
      if (e.index !== n.smIndex + 1) {
        this.failWith({ invariant: 'driver-contract', message: `${n.id} was asked to apply ${e.index} with its state machine at ${n.smIndex}` });
        return false;
      }
      n.smHash = stateHash(n.smHash, entryKey(e));
      n.smIndex = e.index;
      n.hashes.set(e.index, n.smHash);
      if (e.type === EntryType.ConfChange) this.applyConf(n, e);
    }
    this.observe({ k: 'apply', node: n.id, entries, hash: n.smHash });
    if (this.checkpoints && this.prng.chance(0.2)) {
      const last = entries[entries.length - 1].index;
      // The checkpoint is durable at once; after a crash the log below it must hold what was
      // applied, so it never goes above the durable prefix no write in flight replaces.
      const point = this.driverBug === 'checkpoint-above-durable' ? last : Math.max(n.checkpoint, Math.min(last, this.durableStableLast(n, pending)));
      const hash = n.hashes.get(point);
      // (Below a snapshot the states are not kept; such a checkpoint would be useless anyway.)
      if (hash !== undefined) {
        n.checkpoint = point;
        n.checkpointHash = hash;
        n.checkpointConf = n.confAt(point);
      }
    }
    if (this.compactChance > 0 && this.prng.chance(this.compactChance)) this.maybeCompact(n, pending);
    for (const e of entries) {
      const p = n.waiting.get(e.index);
      if (p === undefined) continue;
      n.waiting.delete(e.index);
      if (p.term === e.term) {
        this.stats.acked++;
        this.observe({ k: 'ack', node: n.id, term: n.term, proposal: p });
        this.ackedIndexMax = Math.max(this.ackedIndexMax, p.lastIndex);
      }
    }
    return true;
  }

  /** A conf entry applied: the state machine's configuration; a node removed by it retires. */
  private applyConf(n: SimNode, e: Entry): void {
    const before = n.confAt(e.index - 1)?.conf ?? { voters: n.seedPeers, learners: [] };
    const conf = decodeConfChangeEntry(e.data).conf;
    n.confsApplied.push({ index: e.index, conf });
    if (!this.confIndexesApplied.has(e.index)) {
      this.confIndexesApplied.add(e.index);
      this.stats.confApplied = this.confIndexesApplied.size;
    }
    if (isMemberOf(before, n.id) && !isMemberOf(conf, n.id)) {
      n.retireDue = true;
      n.removedItselfAsLeader = n.leaderTerms.has(e.term);
    }
  }

  /** Retention: compacts the node's store at a random applied index it holds durably (and no
   *  write in flight replaces), keeping the state there as its snapshot. */
  private maybeCompact(n: SimNode, pending?: Ready): void {
    const hi = Math.min(n.smIndex, this.durableStableLast(n, pending));
    const lo = Math.max(n.storage.firstIndex(), n.hashBase);
    if (hi < lo) return;
    const point = this.prng.range(lo, hi);
    const hash = this.driverBug === 'compact-stale-state' ? (n.hashes.get(point - 1) ?? INITIAL_STATE_HASH) : n.hashes.get(point);
    if (hash === undefined) {
      this.failWith({ invariant: 'driver-contract', message: `${n.id}: no state machine state kept at ${point} (applied ${n.smIndex})` });
      return;
    }
    n.storage.compact(point, n.smIndex);
    const stored = n.storage.snapshot();
    const conf = n.confAt(point);
    if (JSON.stringify(stored.conf ?? null) !== JSON.stringify(conf?.conf ?? null)) {
      this.failWith({ invariant: 'driver-contract', message: `${n.id}: the store's configuration at ${point} is ${JSON.stringify(stored.conf)}, the state machine's ${JSON.stringify(conf)}` });
      return;
    }
    n.snapState = { index: point, term: stored.term, hash, conf: stored.conf ?? null };
    for (const k of n.hashes.keys()) if (k < point) n.hashes.delete(k);
    n.hashBase = point;
    this.stats.compactions++;
    this.note(`${n.id} compacted to ${point}@${n.snapState.term}`);
  }

  // ---------------------------------------------------------------- the network

  private sendAll(n: SimNode, msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (m.from !== n.id || m.to === n.id || !this.ids.includes(m.to)) {
        this.failWith({ invariant: 'driver-contract', message: `${n.id} emitted a message from ${m.from} to ${m.to}` });
        return;
      }
      switch (m.type) {
        case MessageType.Append:
        case MessageType.Heartbeat:
        case MessageType.TimeoutNow:
          this.observe({ k: 'leaderMsg', node: n.id, term: m.term });
          break;
        case MessageType.VoteResp:
          if (!m.reject) this.observe({ k: 'vote', voter: n.id, term: m.term, candidate: m.to });
          break;
        case MessageType.Snapshot: {
          this.observe({ k: 'leaderMsg', node: n.id, term: m.term });
          const snap = n.snapState;
          if (snap.index !== m.index || snap.term !== m.logTerm) {
            this.failWith({ invariant: 'driver-contract', message: `${n.id} sent snapshot ${m.index}@${m.logTerm} but its store's snapshot is ${snap.index}@${snap.term}` });
            return;
          }
          this.stats.snapshotsSent++;
          this.note(`${n.id} sends snapshot ${m.index}@${m.logTerm} to ${m.to}`);
          this.send(m, snap, n.incarnation);
          continue;
        }
        default:
          break;
      }
      this.send(m);
    }
  }

  /** Tells the sender of a snapshot whether its transfer arrived (only the incarnation that sent
   *  it; a duplicate made by the network is not a transfer). Returns the sender to pump, if any. */
  private reportSnapshotFate(p: Packet, ok: boolean): SimNode | null {
    if (p.snap === undefined || p.dup === true) return null;
    const sender = this.nodes[this.ids.indexOf(p.msg.from)];
    if (!sender.alive || sender.incarnation !== p.incarnation) return null;
    sender.snapshotReports.push({ peer: p.msg.to, ok });
    return sender;
  }

  /** Sends from the node being pumped (a snapshot's fate report is taken at its next turn). */
  private send(m: Message, snap?: SnapState, incarnation?: number): void {
    const extra = snap !== undefined ? { snap, incarnation } : {};
    if (this.cut.has(`${m.from}>${m.to}`) || (this.dropRate > 0 && this.prng.chance(this.dropRate))) {
      this.stats.dropped++;
      this.reportSnapshotFate({ msg: m, deliverAt: 0, ...extra }, false);
      return;
    }
    this.packets.push({ msg: m, deliverAt: this.now + (this.delayMax > 0 ? this.prng.range(0, this.delayMax) : 0), ...extra });
    if (this.dupRate > 0 && this.prng.chance(this.dupRate)) {
      this.packets.push({ msg: m, deliverAt: this.now + this.prng.range(0, this.delayMax + 2), ...extra, dup: true });
    }
  }

  get inFlight(): number {
    return this.packets.length;
  }

  /** Delivers up to `max` messages that are due, picked at random (so they are reordered). */
  deliver(max: number): void {
    const due: number[] = [];
    for (let i = 0; i < this.packets.length; i++) if (this.packets[i].deliverAt <= this.now) due.push(i);
    // Partial Fisher-Yates: the first `count` of `due` become a random sample in random order.
    const count = Math.min(max, due.length);
    for (let i = 0; i < count; i++) {
      const j = i + this.prng.int(due.length - i);
      const t = due[i];
      due[i] = due[j];
      due[j] = t;
    }
    const chosen = due.slice(0, count);
    const picked = chosen.map((i) => this.packets[i]);
    const remove = new Set(chosen);
    this.packets = this.packets.filter((_, i) => !remove.has(i));
    const touched = new Set<SimNode>();
    for (const p of picked) {
      const m = p.msg;
      const to = this.nodes[this.ids.indexOf(m.to)];
      if (!to.alive || this.cut.has(`${m.from}>${m.to}`)) {
        this.stats.dropped++;
        const sender = this.reportSnapshotFate(p, false);
        if (sender !== null) touched.add(sender);
        continue;
      }
      if (p.snap !== undefined) {
        to.snapPayloads.set(snapKey(p.snap.index, p.snap.term), p.snap);
        const sender = this.reportSnapshotFate(p, true);
        if (sender !== null) touched.add(sender);
      }
      to.inbox.push(m);
      this.stats.delivered++;
      touched.add(to);
    }
    for (const n of touched) this.pump(n);
  }

  deliverAll(): void {
    this.deliver(Number.MAX_SAFE_INTEGER);
  }

  /** Drops `count` random messages in flight. */
  dropSome(count: number): void {
    const senders = new Set<SimNode>();
    for (let i = 0; i < count && this.packets.length; i++) {
      const [p] = this.packets.splice(this.prng.int(this.packets.length), 1);
      this.stats.dropped++;
      const sender = this.reportSnapshotFate(p, false);
      if (sender !== null) senders.add(sender);
    }
    for (const s of senders) this.pump(s);
  }

  /** Duplicates `count` random messages in flight (the copy may arrive later). */
  duplicateSome(count: number): void {
    for (let i = 0; i < count && this.packets.length; i++) {
      const p = this.packets[this.prng.int(this.packets.length)];
      this.packets.push({ ...p, deliverAt: this.now + this.prng.range(0, this.delayMax + 3), dup: true });
    }
  }

  setNetwork(dropRate: number, dupRate: number, delayMax: number): void {
    this.dropRate = dropRate;
    this.dupRate = dupRate;
    this.delayMax = delayMax;
    this.note(`network drop ${dropRate} dup ${dupRate} delay ${delayMax}`);
  }

  private cutBoth(a: number, b: number): void {
    this.cut.add(`${this.ids[a]}>${this.ids[b]}`);
    this.cut.add(`${this.ids[b]}>${this.ids[a]}`);
  }

  /** Symmetric: node `i` can neither send nor receive. Replaces the current partition. */
  isolate(i: number): void {
    this.cut.clear();
    for (let j = 0; j < this.size; j++) if (j !== i) this.cutBoth(i, j);
    this.note(`partition: isolate ${this.ids[i]}`);
  }

  /** Symmetric split into the nodes whose bit is set in `mask` and the others. */
  split(mask: number): void {
    this.cut.clear();
    for (let a = 0; a < this.size; a++) {
      for (let b = a + 1; b < this.size; b++) {
        if (((mask >> a) & 1) !== ((mask >> b) & 1)) this.cutBoth(a, b);
      }
    }
    this.note(`partition: split mask ${mask.toString(2)}`);
  }

  /** Asymmetric: messages from `from` to `to` are lost (added to the current partition). */
  oneWay(from: number, to: number): void {
    if (from === to) return;
    this.cut.add(`${this.ids[from]}>${this.ids[to]}`);
    this.note(`partition: one-way ${this.ids[from]} -/-> ${this.ids[to]}`);
  }

  /** Partial connectivity: with 5 nodes each sees only its two ring neighbours (majorities
   *  ring); with 3 nodes, node `i` is a bridge between the other two, which cannot talk. */
  ring(i: number): void {
    this.cut.clear();
    const n = this.size;
    if (n === 3) {
      this.cutBoth((i + 1) % 3, (i + 2) % 3);
      this.note(`partition: bridge through ${this.ids[i % 3]}`);
      return;
    }
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        const d = b - a;
        if (d !== 1 && d !== n - 1) this.cutBoth(a, b);
      }
    }
    this.note('partition: majorities ring');
  }

  heal(): void {
    this.cut.clear();
    this.note('partition healed');
  }

  // ---------------------------------------------------------------- nodes

  tick(i: number): void {
    const n = this.nodes[i];
    if (!n.alive) return;
    n.pendingTicks++;
    this.pump(n);
  }

  tickAll(): void {
    this.ticksElapsed++;
    for (let i = 0; i < this.size; i++) this.tick(i);
  }

  /** Whether node `i`'s store lacks entries it may once have acknowledged (not yet caught up). */
  recovering(i: number): boolean {
    // Until the end of recovering is durable too: a crash before then brings it back.
    const n = this.nodes[i];
    return n.storage.initialHardState().recovering === true || (n.core?.status().recovering ?? false);
  }

  /**
   * Crashes node `i` and deletes its store (a replaced disk); it restarts empty and recovering.
   * One lost store at a time, as the fault model has it: refused while another node is still
   * recovering (two of three stores lost can lose committed entries whatever the protocol).
   */
  wipe(i: number): void {
    if (this.nodes[i].retired) return;
    const confs = this.confsInView();
    for (let j = 0; j < this.size; j++) {
      if (j !== i && this.recovering(j) && confs.some((c) => c.voters.includes(this.ids[j]))) {
        this.note(`wipe ${this.ids[i]} skipped: ${this.ids[j]} is still recovering`);
        return;
      }
    }
    // Fewer than 3 voters: one lost store is a lost majority copy (or the group's only one).
    if (confs.some((c) => c.voters.length < 3)) {
      this.note(`wipe ${this.ids[i]} skipped: a configuration has fewer than 3 voters`);
      return;
    }
    // Nor during a membership change (an operator's rule too): a new voter's log counts in the
    // vote, so with one store lost the voters left may all refuse each other (seed 1039585: the
    // lost store held the newest term, a promoted learner had it too and refused the others).
    if (this.checker.confsInFlight().length > 0) {
      this.note(`wipe ${this.ids[i]} skipped: a conf change is in flight`);
      return;
    }
    this.crash(i);
    this.wipeStore(i);
  }

  /** The configurations of every live node, the latest committed one and those in flight in
   *  any node's log (a crashed node's too). */
  confsInView(): ConfState[] {
    const out: ConfState[] = [this.checker.committedConf(), ...this.checker.confsInFlight()];
    for (const n of this.nodes) {
      const st = n.core?.status();
      if (st) out.push(st.conf);
    }
    return out;
  }

  /** Whether some node's configuration has `i` as a voter that is recovering (its store lacks
   *  what it may have acknowledged). */
  recoveringVoter(): boolean {
    const confs = this.confsInView();
    for (let j = 0; j < this.size; j++) if (this.recovering(j) && confs.some((c) => c.voters.includes(this.ids[j]))) return true;
    return false;
  }

  /** Node `i` (down) loses its store: it restarts empty and recovering. */
  private wipeStore(i: number): void {
    const n = this.nodes[i];
    // Its connections died with it: nothing sent to the old incarnation reaches the new one.
    const senders = new Set<SimNode>();
    for (const p of this.packets) {
      if (p.msg.to !== n.id) continue;
      const sender = this.reportSnapshotFate(p, false);
      if (sender !== null) senders.add(sender);
    }
    this.packets = this.packets.filter((p) => p.msg.to !== n.id);
    n.storage = new MemoryStorage();
    n.snapState = NO_SNAPSHOT;
    n.checkpointHash = INITIAL_STATE_HASH;
    n.checkpointConf = null;
    n.confBase = null;
    n.confsApplied = [];
    n.storage.setHardState({ term: 0, vote: NONE, commit: 0, recovering: true });
    n.syncedHardState = n.storage.initialHardState();
    n.checkpoint = 0;
    n.wipedAtTick = this.ticksElapsed;
    this.stats.wipes++;
    this.note(`${n.id} WIPED`);
    for (const s of senders) this.pump(s);
  }

  /** Every node loses power at once: each crashes (a torn write in flight, maybe), and whatever
   *  was written without a sync is gone (a kill keeps the page cache; a power cut does not). */
  powerCut(): void {
    this.note('POWER CUT');
    for (let i = 0; i < this.size; i++) this.crash(i, true);
  }

  crash(i: number, powerLoss = false): void {
    const n = this.nodes[i];
    if (!n.alive) return;
    const inFlight = n.writes.length;
    let torn = this.tornWrites ? (this.pipelined ? this.tearPipelined(n) : this.tearOne(n)) : '';
    const stored = n.storage.initialHardState();
    if (stored !== n.syncedHardState && (powerLoss || this.prng.chance(0.5))) {
      n.storage.setHardState(n.syncedHardState);
      torn += ' unsynced hard state lost';
    }
    n.core = null;
    n.writes = [];
    n.inbox = [];
    n.snapPayloads = new Map();
    n.snapshotReports = [];
    n.hashes = new Map();
    n.pendingTicks = 0;
    n.unreachable = [];
    if (this.packets.some((p) => p.snap !== undefined && p.msg.from === n.id)) {
      // A sender that crashes may lose the snapshot transfers it had in flight.
      this.packets = this.packets.filter((p) => p.snap === undefined || p.msg.from !== n.id || this.prng.chance(0.5));
    }
    n.transferTo = NONE;
    n.proposals = [];
    n.confChanges = [];
    n.retireDue = false;
    n.waiting = new Map();
    n.role = Role.Follower;
    n.leaderId = NONE;
    this.stats.crashes++;
    this.note(`${n.id} CRASH${inFlight ? ` (${inFlight} write(s) in flight)` : ''}${torn}`);
    this.observe({ k: 'crash', node: n.id });
  }

  /** Whether `rd`'s hard state turns the recovering flag off: its entries may only reach the
   *  disk after it (types.ts, HardState.recovering). */
  private clearsRecovering(n: SimNode, rd: Ready): boolean {
    return rd.hardState !== null && !rd.hardState.recovering && n.storage.initialHardState().recovering === true;
  }

  /** A crash during the one write in flight keeps its hard state and/or a prefix of its entries. */
  private tearOne(n: SimNode): string {
    const w = n.writes[0];
    if (!w || !this.prng.chance(0.5)) return '';
    let torn = '';
    const rd = w.ready;
    const hardStateFirst = this.clearsRecovering(n, rd);
    let hardStateKept = false;
    if (w.hardState && this.prng.chance(0.5)) {
      n.storage.setHardState(w.hardState);
      if (rd.mustSync) n.syncedHardState = w.hardState;
      torn += ' hard state kept';
      hardStateKept = true;
    }
    if (hardStateFirst && !hardStateKept) return torn;
    if (w.snap !== null) {
      // The install comes first: without it nothing after it is kept.
      if (!this.prng.chance(0.5)) return `${torn} snapshot lost`;
      this.installSnapshot(n, w.snap);
      torn += ' snapshot kept';
    }
    const keep = this.prng.int(rd.entries.length + 1);
    if (keep === 0 && rd.entries.length > 0 && rd.entries[0].index <= n.storage.lastIndex() && this.prng.chance(0.5)) {
      this.truncateStorage(n, rd.entries[0].index - 1);
      return `${torn} truncation kept, no entries`;
    }
    if (keep > 0) {
      n.storage.append(rd.entries.slice(0, keep));
      torn += ` ${keep}/${rd.entries.length} entries kept`;
    }
    return torn;
  }

  /**
   * Pipelined writes: the hard-state writes (LevelDB) and the log writes (appends, truncations)
   * are two chains, each durable in order, independent of each other. A crash keeps a prefix of
   * each: whole hard states, whole log writes then maybe part of the next (a prefix of its
   * entries, or only the truncation it starts with). The one ordering rule across the chains: a
   * write that ends recovering has its hard state durable before its entries.
   */
  private tearPipelined(n: SimNode): string {
    const hsWrites = n.writes.filter((w) => w.hardState !== null);
    const logWrites = n.writes.filter((w) => w.ready.entries.length > 0 || w.snap !== null);
    let hsKeep = this.prng.int(hsWrites.length + 1);
    const logKeep = this.prng.int(logWrites.length + 1);
    const partial = logKeep < logWrites.length ? logWrites[logKeep]! : null;
    const partialKeep = partial === null ? 0 : this.prng.int(partial.ready.entries.length);
    // A partly kept write with a snapshot: its install first (always, if entries are kept).
    const partialSnapKept = partial !== null && partial.snap !== null && (partialKeep > 0 || this.prng.chance(0.5));
    for (const w of [...logWrites.slice(0, logKeep), ...(partial !== null && (partialKeep > 0 || partialSnapKept) ? [partial] : [])]) {
      if (this.clearsRecovering(n, w.ready)) hsKeep = Math.max(hsKeep, hsWrites.indexOf(w) + 1);
    }
    let torn = '';
    if (hsKeep > 0) {
      const w = hsWrites[hsKeep - 1]!;
      n.storage.setHardState(w.hardState!);
      if (w.ready.mustSync) n.syncedHardState = w.hardState!;
      torn += ` ${hsKeep}/${hsWrites.length} hard state(s) kept`;
    }
    for (const w of logWrites.slice(0, logKeep)) {
      if (w.snap !== null) this.installSnapshot(n, w.snap);
      n.storage.append(w.ready.entries);
    }
    if (logKeep > 0) torn += ` ${logKeep}/${logWrites.length} log write(s) kept`;
    if (partial !== null && partial.snap !== null) {
      if (partialSnapKept) {
        this.installSnapshot(n, partial.snap);
        if (partialKeep > 0) n.storage.append(partial.ready.entries.slice(0, partialKeep));
        torn += ` then its snapshot and ${partialKeep}/${partial.ready.entries.length} entries`;
      }
    } else if (partial !== null) {
      const ents = partial.ready.entries;
      if (partialKeep > 0) {
        n.storage.append(ents.slice(0, partialKeep));
        torn += ` then ${partialKeep}/${ents.length} entries`;
      } else if (ents[0]!.index <= n.storage.lastIndex() && this.prng.chance(0.5)) {
        this.truncateStorage(n, ents[0]!.index - 1);
        torn += ' then only its truncation';
      }
    }
    return torn;
  }

  /** Cuts the node's durable log after `index` (a truncation that reached the disk alone). */
  private truncateStorage(n: SimNode, index: number): void {
    n.storage.truncateAfter(index);
  }

  restart(i: number): void {
    const n = this.nodes[i];
    if (n.alive || n.retired) return;
    if (n.wipedAtTick >= 0) {
      if (this.ticksElapsed - n.wipedAtTick < WIPE_DOWN_ELECTION_TIMEOUTS * 2 * this.baseConfig.electionTicks) return;
      n.wipedAtTick = -1;
    }
    const config: RaftConfig = { ...this.baseConfig, peers: n.seedPeers, id: n.id, seed: this.prng.u32(), applied: n.checkpoint };
    const stored = n.storage.snapshot();
    if (stored.index !== n.snapState.index || stored.term !== n.snapState.term) {
      this.failWith({ invariant: 'driver-contract', message: `${n.id}: store snapshot ${stored.index}@${stored.term}, state kept for ${n.snapState.index}@${n.snapState.term}` });
      return;
    }
    // The state machine restarts from its checkpoint or its snapshot, whichever is newer (as the
    // core's applied index does: RaftConfig.applied, at least firstIndex() - 1).
    if (n.snapState.index >= n.checkpoint) {
      n.smIndex = n.snapState.index;
      n.smHash = n.snapState.hash;
      n.confBase = n.snapState.conf !== null ? { index: n.snapState.index, conf: n.snapState.conf } : null;
    } else {
      n.smIndex = n.checkpoint;
      n.smHash = n.checkpointHash;
      n.confBase = n.checkpointConf;
    }
    n.confsApplied = [];
    // The state machine tells the core the configuration it knows (Storage.initialConfState).
    n.storage.setConfState(n.confBase);
    n.hashes = new Map([[n.smIndex, n.smHash]]);
    n.hashBase = n.smIndex;
    try {
      n.core = this.factory(config, n.storage);
    } catch (err) {
      const e = err as Error;
      this.failWith({ invariant: 'core-threw', message: `${n.id} (restart): ${e.name}: ${e.message}` });
      return;
    }
    n.incarnation++;
    const hs = n.storage.initialHardState();
    n.syncedHardState = hs;
    n.term = hs.term;
    n.role = Role.Follower;
    n.leaderId = NONE;
    const st = n.core.status();
    if (n.incarnation > 1) this.note(`${n.id} RESTART term ${hs.term} first ${n.storage.firstIndex()} last ${n.storage.lastIndex()} commit ${st.commit}`);
    if (st.applied !== n.smIndex) {
      this.failWith({ invariant: 'driver-contract', message: `${n.id} restarted with applied ${st.applied}, its state machine is at ${n.smIndex}` });
      return;
    }
    this.observe({
      k: 'restart',
      node: n.id,
      log: n.storage.allEntries(),
      ...(stored.index > 0 ? { snapshot: stored } : {}),
      stateHash: n.smHash,
      term: hs.term,
      // Applied entries were committed: a checkpoint or snapshot above the durable commit is
      // knowledge too.
      durableCommit: Math.max(hs.commit, n.checkpoint, stored.index),
      commit: st.commit,
      applied: st.applied,
      recovering: hs.recovering === true,
      entriesInFlight: new Set(this.packets.flatMap((p) => p.msg.entries.map((e) => `${e.index}/${e.term}`))),
    });
    this.pump(n);
  }

  restartAll(): void {
    for (let i = 0; i < this.size; i++) this.restart(i);
  }

  /** The core's status (null while the node is down). */
  status(i: number): RaftStatus | null {
    return this.nodes[i].core?.status() ?? null;
  }

  isAlive(i: number): boolean {
    return this.nodes[i].alive;
  }

  /** Nodes whose driver last saw them as leader. */
  believedLeaders(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.nodes[i].alive && this.nodes[i].role === Role.Leader) out.push(i);
    return out;
  }

  /** Queues a client proposal of `count` entries at node `i` (taken at its next turn). */
  propose(i: number, count: number): void {
    const n = this.nodes[i];
    if (!n.alive || count < 1) return;
    const batch: Uint8Array[] = [];
    for (let k = 0; k < count; k++) {
      const b = Buffer.alloc(8);
      b.writeUInt32BE(this.nextProposalId++, 0);
      b.writeUInt32BE(i, 4);
      batch.push(b);
    }
    n.proposals.push(batch);
    this.pump(n);
  }

  private proposeNow(n: SimNode, core: RaftNodeApi, data: Uint8Array[]): void {
    const st = core.status();
    const r = core.propose(data);
    if (!r.ok) {
      this.stats.refused++;
      this.note(`${n.id} propose x${data.length} -> ${r.code}`);
      if (st.role !== Role.Leader && r.code !== 'NOT_LEADER') {
        this.failWith({ invariant: 'driver-contract', message: `${n.id} (${st.role}) refused a proposal with ${r.code}, not NOT_LEADER` });
      }
      return;
    }
    if (st.role !== Role.Leader || r.term !== st.term || r.lastIndex - r.firstIndex + 1 !== data.length) {
      this.failWith({
        invariant: 'driver-contract',
        message: `${n.id} (${st.role}, term ${st.term}) accepted ${data.length} entries as ${JSON.stringify(r)}`,
      });
      return;
    }
    this.stats.proposed++;
    const p: Proposal = { id: this.proposals.length, node: n.id, term: r.term, firstIndex: r.firstIndex, lastIndex: r.lastIndex, data, outcome: 'pending' };
    this.proposals.push(p);
    n.waiting.set(r.lastIndex, p);
    this.note(`${n.id} propose x${data.length} -> [${r.firstIndex}, ${r.lastIndex}]@${r.term}`);
    this.observe({ k: 'leaderMsg', node: n.id, term: r.term });
  }

  /**
   * Queues a membership change at a believed leader (else a random live node): `op` of the
   * pick-th node it fits (addLearner: a non-member, a spare or a removed node, which comes back
   * empty; promote: a learner; addVoter: a learner or a non-member; remove: any member, the
   * leader included). The driver's own caution, as an operator's: no removal while a voter's
   * store is recovering, and no vote for a node still recovering (either could leave a group
   * whose only electable majority needs a vote a recovering node never grants).
   */
  confChange(op: ConfChangeOp, pick: number, force: boolean): void {
    const leaders = this.believedLeaders();
    const at = leaders.length ? leaders[this.prng.int(leaders.length)] : this.prng.int(this.size);
    const n = this.nodes[at];
    if (!n.alive) return;
    const conf = n.core!.status().conf;
    const members = [...conf.voters, ...conf.learners];
    // Only spares never proposed for addition join: an id that was a member once never comes
    // back (as etcd has it), else a node replaying the log would meet its old removal and stop.
    const others = this.ids.filter((id) => !members.includes(id) && this.nodes[this.ids.indexOf(id)].seedPeers.length === 0 && !this.addedIds.has(id));
    const candidates = op === 'addLearner' ? others : op === 'promote' ? conf.learners : op === 'addVoter' ? [...conf.learners, ...others] : members;
    if (candidates.length === 0) return;
    const id = candidates[pick % candidates.length];
    if (this.confSkipped(op, id)) return;
    n.confChanges.push({ cc: { op, node: id, context: `addr-of-${id}` }, force });
    this.pump(n);
  }

  /** Queues a conf change at node `i` (taken at its next turn), whatever it believes it is. */
  proposeConf(i: number, cc: ConfChange, force = false): void {
    const n = this.nodes[i];
    if (!n.alive) return;
    n.confChanges.push({ cc, force });
    this.pump(n);
  }

  /** The highest log index of a proposal acknowledged to its client so far. */
  private ackedIndexMax = 0;
  /** ReadIndex requests by id: where, and ackedIndexMax when it was made. */
  private readonly readRequests = new Map<number, { readonly node: NodeId; readonly floor: number }>();
  private nextReadId = 1;
  private readonly readsServed = new Set<number>();

  /** A client asks node `i` for a linearizable read (taken at its next turn). */
  read(i: number): void {
    const n = this.nodes[i];
    if (!n.alive) return;
    const id = this.nextReadId++;
    this.readRequests.set(id, { node: n.id, floor: this.ackedIndexMax });
    n.reads.push(id);
    this.pump(n);
  }

  private readNow(n: SimNode, core: RaftNodeApi, id: number): void {
    const ctx = Buffer.alloc(4);
    ctx.writeUInt32BE(id, 0);
    this.stats.readsRequested++;
    const r = core.readIndex(ctx);
    if (!r.ok) {
      this.stats.readsRefused++;
      this.note(`${n.id} readIndex #${id} -> ${r.code}`);
    } else this.note(`${n.id} readIndex #${id}`);
  }

  /** A ReadState: it must come back where it was asked, and its index must cover every write
   *  acknowledged before the read was made (linearizability of ReadIndex). The network may
   *  duplicate a forwarded read or its answer: a second ReadState for it is checked too (a
   *  driver serves the first and ignores a context it no longer waits for). */
  private onReadState(n: SimNode, index: number, ctx: Uint8Array): void {
    const id = ctx.byteLength === 4 ? Buffer.from(ctx.buffer, ctx.byteOffset, 4).readUInt32BE(0) : -1;
    const req = this.readRequests.get(id);
    if (req === undefined || req.node !== n.id) {
      this.failWith({ invariant: 'read-index', message: `${n.id} got a ReadState for read #${id}, which it never asked for` });
      return;
    }
    if (!this.readsServed.has(id)) {
      this.readsServed.add(id);
      this.stats.readsServed++;
    }
    this.note(`${n.id} ReadState #${id} at ${index} (acknowledged before it: up to ${req.floor})`);
    if (index < req.floor) {
      this.failWith({ invariant: 'read-index', message: `${n.id}: read #${id} confirmed at index ${index}, but a write at ${req.floor} was acknowledged before the read began` });
    }
  }

  /** Ids some leader took an addition of (they never join again as new nodes). */
  private readonly addedIds = new Set<NodeId>();

  transfer(i: number, to: number): void {
    const n = this.nodes[i];
    if (!n.alive) return;
    n.transferTo = this.ids[to];
    this.pump(n);
  }

  reportUnreachable(i: number, peer: number): void {
    const n = this.nodes[i];
    if (!n.alive || i === peer) return;
    n.unreachable.push(this.ids[peer]);
    this.note(`${n.id} reportUnreachable(${this.ids[peer]})`);
    this.pump(n);
  }

  /** Whether the link from `a` to `b` is cut or `b` is down (what a transport would notice). */
  linkDown(a: number, b: number): boolean {
    return !this.nodes[b].alive || this.cut.has(`${this.ids[a]}>${this.ids[b]}`);
  }

  // ---------------------------------------------------------------- liveness

  /** Whether `a` and `b` can talk both ways. */
  private linked(a: number, b: number): boolean {
    return !this.cut.has(`${this.ids[a]}>${this.ids[b]}`) && !this.cut.has(`${this.ids[b]}>${this.ids[a]}`);
  }

  /**
   * Nodes among which Raft must elect: a node that is up and not recovering (such a node does not
   * vote until a leader catches it up: HardState.recovering) plus enough others, up and not
   * recovering, to make a majority, that it can talk to both ways and whose logs are not ahead of
   * its own (so it can win their votes). The others need not talk to each other: a leader only
   * talks to each follower. Null when there is none.
   */
  electableMajority(): number[] | null {
    const usable = (i: number) => this.nodes[i]!.alive && !this.recovering(i);
    for (let c = 0; c < this.size; c++) {
      if (!usable(c)) continue;
      const cs = this.nodes[c]!.core!.status();
      // The candidate's own configuration counts the votes (a voter in it, or it cannot run).
      const voters = cs.conf.voters;
      if (!voters.includes(this.ids[c])) continue;
      const need = Math.floor(voters.length / 2) + 1;
      const cLastTerm = this.nodes[c]!.core ? this.lastTermOf(c) : 0;
      const members = [c];
      for (let o = 0; o < this.size; o++) {
        if (o === c || !voters.includes(this.ids[o]) || !usable(o) || !this.linked(c, o)) continue;
        const oLastTerm = this.lastTermOf(o);
        const os = this.nodes[o]!.core!.status();
        if (oLastTerm > cLastTerm || (oLastTerm === cLastTerm && os.lastIndex > cs.lastIndex)) continue;
        members.push(o);
      }
      if (members.length >= need) return members;
    }
    return null;
  }

  /** Term of the last entry of node `i`'s log (its driver's view: durable and in flight). */
  private lastTermOf(i: number): number {
    const n = this.nodes[i]!;
    const last = n.core!.status().lastIndex;
    const keys = this.checker.logKeys(n.id);
    const key = keys[last - 1];
    return key === undefined ? 0 : Number(key.slice(0, key.indexOf('/')));
  }

  /**
   * Liveness under partial connectivity: with the partitions and the crashed nodes left as they
   * are (loss, duplication and delay stop), an electable majority (electableMajority) must elect a
   * leader that a majority follows within `ticksMax` (with check-quorum on). Returns the ticks it took, -1 when no such majority
   * exists (nothing to check), or records a 'liveness' violation.
   */
  settlePartial(ticksMax: number): number {
    // Without check-quorum a leader that lost its majority stays leader and its followers'
    // leases keep refusing others. Without pre-vote a node that reaches only part of the majority
    // raises its term at each of its timeouts, and Raft bounds nothing there (the reason pre-vote
    // exists). The broker always runs with both: nothing to check without either.
    if (!this.baseConfig.checkQuorum || !this.baseConfig.preVote) return -1;
    this.setNetwork(0, 0, 0);
    // What is already on its way lands first (a dead leader's last appends): logs change, so
    // which majority is electable is decided after.
    for (let k = 0; k < 64 && (this.packets.length > 0 || this.busyWrites > 0) && !this.violation; k++) {
      this.stepClock();
      this.deliverAll();
    }
    const majority = this.electableMajority();
    if (majority === null) return -1;
    this.note(`settle partially: ${majority.map((i) => this.ids[i]).join(',')} can talk; other cuts and crashes stay`);
    for (let t = 0; t < ticksMax && !this.violation; t++) {
      this.tickAll();
      for (let k = 0; k < 64 && (this.packets.length > 0 || this.busyWrites > 0) && !this.violation; k++) {
        this.stepClock();
        this.deliverAll();
      }
      if (this.followedLeader() >= 0) return t;
    }
    // Logs change only through a leader: without one the majority is still electable now, unless
    // an election that lost on the way (a candidate's uncommitted entries) changed them.
    if (!this.violation && this.electableMajority() !== null) {
      const states = this.nodes.map((n) => {
        const s = n.core?.status();
        return s ? `${n.id}:${s.role}@${s.term} leader=${s.leaderId || '-'}` : `${n.id}:down`;
      });
      this.failWith({
        invariant: 'liveness',
        message: `${majority.map((i) => this.ids[i]).join(',')} can all talk, yet no leader a majority follows within ${ticksMax} ticks: ${states.join('; ')}`,
      });
    }
    return ticksMax;
  }

  /** A leader that a majority of its configuration's voters (itself included) follows in its
   *  term, or -1. */
  private followedLeader(): number {
    for (let i = 0; i < this.size; i++) {
      const s = this.nodes[i]!.core?.status();
      if (!s || s.role !== Role.Leader) continue;
      let followers = 0;
      for (const n of this.nodes) {
        const o = n.core?.status();
        if (o && s.conf.voters.includes(n.id) && o.term === s.term && o.leaderId === this.ids[i]) followers++;
      }
      if (followers >= Math.floor(s.conf.voters.length / 2) + 1) return i;
    }
    return -1;
  }

  /**
   * Heals every fault (partitions, loss, duplication, delay, crashed nodes) and runs until one
   * leader is known to every node, a barrier entry it proposed is applied everywhere, and every
   * accepted proposal is resolved (committed or provably lost). Returns the ticks it took, or
   * records a 'liveness' violation after `ticksMax`.
   */
  settle(ticksMax: number): number {
    this.heal();
    this.setNetwork(0, 0, 0);
    this.restartAll();
    let barrier: Proposal | null = null;
    let barrierLeader = -1;
    for (let t = 0; t < ticksMax && !this.violation; t++) {
      this.restartAll();
      this.tickAll();
      for (let k = 0; k < 64 && (this.packets.length > 0 || this.busyWrites > 0) && !this.violation; k++) {
        this.stepClock();
        this.deliverAll();
      }
      if (this.violation) return t;
      const leader = this.stableLeader();
      if (leader < 0) continue;
      if (barrier === null || barrierLeader !== leader || this.lostByCommit(barrier)) {
        const before = this.proposals.length;
        this.propose(leader, 1);
        barrier = this.proposals.length > before ? this.proposals[this.proposals.length - 1] : null;
        barrierLeader = leader;
        continue;
      }
      let done = true;
      const conf = this.nodes[leader].core!.status().conf;
      for (const n of this.nodes) {
        if (isMemberOf(conf, n.id) && (n.core?.status().applied ?? 0) < barrier.lastIndex) done = false;
      }
      if (!done || this.checker.committedKey(barrier.lastIndex) === undefined) continue;
      this.resolveProposals(barrier);
      return t;
    }
    if (!this.violation) {
      const states = this.nodes.map((n) => {
        const s = n.core?.status();
        return s ? `${n.id}:${s.role}@${s.term} leader=${s.leaderId || '-'} commit=${s.commit} applied=${s.applied} last=${s.lastIndex}` : `${n.id}:down`;
      });
      this.failWith({
        invariant: 'liveness',
        message: `no leader committed a barrier entry within ${ticksMax} ticks after healing: ${states.join('; ')}`,
      });
    }
    return ticksMax;
  }

  /** The one leader every member of its configuration agrees on (same term), or -1. Nodes
   *  outside it (spares never added, removed nodes) do not count. */
  private stableLeader(): number {
    let leader = -1;
    let term = -1;
    for (let i = 0; i < this.size; i++) {
      const core = this.nodes[i].core;
      if (core === null) {
        if (this.nodes[i].retired) continue;
        return -1;
      }
      const s = core.status();
      if (s.role === Role.Leader) {
        if (leader >= 0) return -1;
        leader = i;
        term = s.term;
      }
    }
    if (leader < 0) return -1;
    const conf = this.nodes[leader].core!.status().conf;
    for (const n of this.nodes) {
      if (!isMemberOf(conf, n.id)) continue;
      const s = n.core?.status();
      if (!s || s.leaderId !== this.ids[leader] || s.term !== term) return -1;
    }
    return leader;
  }

  private lostByCommit(p: Proposal): boolean {
    const key = this.checker.committedKey(p.lastIndex);
    return key !== undefined && !key.startsWith(`${p.term}/`);
  }

  /** After the barrier is applied everywhere every accepted proposal has an outcome. */
  private resolveProposals(barrier: Proposal): void {
    for (const p of this.proposals) {
      const key = this.checker.committedKey(p.lastIndex);
      if (key !== undefined) {
        if (!key.startsWith(`${p.term}/`)) {
          p.outcome = 'lost';
          continue;
        }
        for (let j = 0; j < p.data.length; j++) {
          const want = `${p.term}/0/${dataKey(p.data[j])}`;
          const got = this.checker.committedKey(p.firstIndex + j);
          // A single voter's lost term led again (SafetyChecker.forgetLost): this proposal died
          // with the incarnation that took it, unacknowledged.
          if (got !== want && this.checker.wasForgotten(p.firstIndex + j, want)) {
            p.outcome = 'lost';
            break;
          }
          if (got !== want) {
            this.failWith({ invariant: 'acked-durable', message: `proposal ${p.id} entry ${p.firstIndex + j}: committed ${got}, proposed ${want}` });
            return;
          }
        }
        if (p.outcome !== 'lost') p.outcome = 'committed';
      } else if (p.lastIndex > barrier.lastIndex && p.term < barrier.term) {
        // Every future leader holds the barrier, and terms only grow along a log: an entry of an
        // older term can never follow it, so this proposal can never commit.
        p.outcome = 'lost';
      } else {
        this.failWith({
          invariant: 'liveness',
          message: `proposal ${p.id} [${p.firstIndex}, ${p.lastIndex}]@${p.term} unresolved after the barrier ${barrier.lastIndex}@${barrier.term} committed`,
        });
        return;
      }
    }
  }
}
