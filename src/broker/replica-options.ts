// What the replica driver (replica.ts) is given: its options, and the parts it drives through
// interfaces (the state machine, the peer transport, a logger), so tests can hand it fakes.
import type { CommitLog, MetaStore } from '../commitlog/index.ts';
import type { Entry, Message, NodeId, RaftNodeApi } from '../raft/index.ts';
import type { ReplicaMetrics } from './metrics.ts';

/** What the driver needs from the state machine (implemented by BrokerStateMachine). */
export interface ReplicatedStateMachine {
  readonly appliedIndex: number;
  /** Applies one committed entry; the return value goes to the entry's proposer, if waiting. */
  apply(entry: Entry): unknown;
  /** Makes the applied state durable; a restart resumes after it. Takes its snapshot of the
   *  state synchronously, within the call (what is applied after the call is not in it). */
  checkpoint(): Promise<unknown>;
}

/** Sends Raft messages to peers; one call per peer per turn becomes one frame. */
export interface PeerSender {
  send(to: NodeId, messages: Message[]): void;
}

export interface ReplicaLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** What the driver needs for snapshots (node.ts wires snapshot-transfer.ts and snapshot-install.ts). */
export interface SnapshotDriver {
  /** The core sent a Snapshot message: stream the snapshot's bytes with it. */
  send(message: Message): void;
  /** Ready.snapshot: make the state machine and the log the snapshot's, durably, restarting the
   *  log through `restartLog` (the driver's own writer, which must know where the log now ends).
   *  The state machine holds it when the returned promise settles (awaited before the Ready goes on). */
  install(index: number, term: number, restartLog: (first: number, prevTerm: number) => Promise<void>): Promise<void>;
}

/** Default for ReplicaOptions.writesInFlightMax. */
export const WRITES_IN_FLIGHT_MAX = 32;

export interface ReplicaOptions {
  readonly nodeId: NodeId;
  readonly raft: RaftNodeApi;
  readonly log: CommitLog;
  readonly meta: MetaStore;
  readonly stateMachine: ReplicatedStateMachine;
  readonly peers: PeerSender;
  readonly logger: ReplicaLogger;
  readonly tickMs: number;
  /** A proposal not committed within this long is answered with TIMEOUT (the entry may still commit). */
  readonly proposalTimeoutMs: number;
  readonly checkpointIntervalMs: number;
  /** Most proposals waiting for commit; beyond it new proposals get OVERLOADED. */
  readonly pendingProposalsMax: number;
  /** Most Readies whose writes are in flight; the loop takes no new Ready beyond it. */
  readonly writesInFlightMax?: number;
  /** Most peer messages queued for the next turn; beyond it they are dropped (Raft tolerates loss). */
  readonly inboxMessagesMax: number;
  /** How long commitlog appends that found the disk full wait before they are tried again
   *  (log-appender.ts; default DISK_FULL_RETRY_MS). */
  readonly diskFullRetryMs?: number;
  /** Called when the replica cannot go on (the disk failed): the process should exit. */
  readonly onFatal: (err: Error) => void;
  /** A state checkpoint completed (retention frees the disk behind a cut it holds). */
  readonly onCheckpointed?: () => void;
  /** Snapshots (retention): absent, a Snapshot message or Ready.snapshot is a programmer error. */
  readonly snapshots?: SnapshotDriver;
  /** A Ready brought configuration entries (appended, or applied) or a snapshot: the
   *  configuration in force may have changed (status().conf), and `appended` may name members
   *  with their addresses before any replica applied them. */
  readonly onConfigEntries?: (appended: readonly Entry[]) => void;
  /** Where the driver records its metrics; absent when they are off. */
  readonly metrics?: ReplicaMetrics;
}
