// One replica process: opens the store, the state machine and the Raft core, wires the driver
// to the peer transport and the client server, and stops them in order.
import { randomInt } from 'node:crypto';
import path from 'node:path';
import fs from 'node:fs';
import {
  CommitLogError,
  openCommitLog,
  openMetaStore,
  CommitLogRaftStorage,
  repairCommitLog,
  type CommitLog,
  type FileCommitLog,
  type MetaStore,
} from '../commitlog/index.ts';
import { WarningSummary, type LogFn } from '../net/index.ts';
import { serveMetrics } from '../metrics/index.ts';
import { RaftNode, DEFAULT_RAFT_CONFIG, Role, type ConfAt, type NodeId, type SnapshotMeta } from '../raft/index.ts';
import { isMember, type Membership } from './membership.ts';
import { createMembers, type NodeMembers } from './node-members.ts';
import type { MembersView } from './member-requests.ts';
import { raftTicksOf, selfPeer, type BrokerConfig } from './config.ts';
import { commitLogOptions, slaveReadSettingsOf } from './config-derived.ts';
import type { Logger } from './logger.ts';
import type { MetricsSources } from './metrics.ts';
import { PeerTransport, PEER_SEND_QUEUE_BYTES_MAX, type PeerTransportOptions } from './peer-transport.ts';
import { CatchUpThrottle } from './catch-up-throttle.ts';
import { DiskUsage } from './disk-usage.ts';
import { BrokerMetrics } from './metrics.ts';
import { Replica } from './replica.ts';
import type { SnapshotDriver } from './replica-options.ts';
import type { PeerSnapAck, PeerSnapChunk } from '../protocol/index.ts';
import { BrokerServer } from './server.ts';
import { namesrvRegistrar } from './namesrv-registrar.ts';
import { BrokerStateMachine, RETENTION_MARK_COUNT_MAX, type KeyIndexRebuilder } from './state-machine.ts';
import { LogCompactor } from './log-compactor.ts';
import { rebuildKeyIndexInBackground } from './key-index-rebuild.ts';
import { MarkStore } from './retention-marks.ts';
import { finishInterruptedInstall, installSnapshot } from './snapshot-install.ts';
import { SnapshotReceiver, SnapshotSender } from './snapshot-transfer.ts';
import { RetentionService } from './retention-service.ts';
import { ScheduleService } from './schedule-service.ts';
import { traceAs } from '../trace/index.ts';

/** Logged once by a replica that learns it was removed from its group (it then stops). */
export const LOG_REMOVED = 'removed from the group by a membership change: stopping';
/** Exit code of a replica that stopped because it was removed (a supervisor should not restart
 *  it: it is no member any more). */
export const EXIT_REMOVED = 0;
/** How long a removed replica goes on before it stops (its last answers get out). */
const REMOVED_STOP_DELAY_MS = 300;

/** Proposals waiting for commit on one replica. */
const PENDING_PROPOSALS_MAX = 100_000;
/** Peer messages queued between two driver turns. */
const INBOX_MESSAGES_MAX = 100_000;
/** Entry bytes in one append to a peer: a far-behind follower is caught up in appends of this
 *  size (each a synchronous commitlog read on the master's loop). */
const RAFT_APPEND_BYTES_MAX = 128 * 1024;
/** Entry bytes in flight to one follower: what a silent follower costs the master, and the
 *  catch-up window of one far behind. Small, because the master reads and sends a refilled window
 *  in one turn of its loop, which live writes wait behind: a larger one catches up faster and
 *  holds them back longer (the trade is measured in docs/performance.md). Live replication, a few
 *  small appends at a time, rarely fills it. */
const RAFT_INFLIGHT_BYTES_MAX = 256 * 1024;
/** At most one warning line per this interval for a recurring peer problem. */
const PEER_WARNING_INTERVAL_MS = 10_000;
/** How long a graceful stop waits for the leadership hand-over. */
const TRANSFER_ON_STOP_MS_MAX = 2000;
/** Log bytes the key index rebuild reads at most after a start (newest first): bounds its time
 *  for a replica with a long log. */
const KEY_INDEX_REBUILD_BYTES_MAX = 256 * 1024 * 1024;

export interface RunningNode {
  readonly config: BrokerConfig;
  readonly replica: Replica;
  readonly server: BrokerServer;
  readonly clientPort: number;
  /** Graceful stop: a master first hands leadership to the most caught-up follower. */
  stop(): Promise<void>;
}

export async function startNode(config: BrokerConfig, logger: Logger): Promise<RunningNode> {
  const self = selfPeer(config);
  traceAs(self.id);
  const metrics = config.metricsPromExporterPort > 0 ? new BrokerMetrics() : undefined;
  const stores = await openStores(config, logger, metrics);
  const raft = createRaft(config, stores);
  logger.info(
    { nodeId: self.id, firstIndex: stores.log.firstIndex(), lastIndex: stores.log.lastIndex(), appliedIndex: stores.stateMachine.appliedIndex, term: stores.meta.getHardState().term },
    'store opened',
  );
  let fatalExit: ((err: Error) => void) | null = null;
  let removedExit: ((index: number) => void) | null = null;
  const disk = new DiskUsage({ dir: config.storePathRootDir, warningLevelPercent: config.diskSpaceWarningLevelRatio, intervalMs: config.diskCheckIntervalMs, logger });
  const parts = createParts(config, logger, stores, raft, (err) => fatalExit?.(err), metrics, disk, (index) => removedExit?.(index));
  let metricsServer: { close(): Promise<void> } | null = null;
  const registrar = namesrvRegistrar(config, parts.replica, stores.stateMachine, logger);
  // In stopping order: clients first, the stores last.
  let stopKeyIndexRebuild = (): void => undefined;
  const closers = [
    () => registrar.stop(),
    async () => stopKeyIndexRebuild(),
    async () => parts.retention.stop(),
    async () => parts.schedule.stop(),
    async () => disk.close(),
    async () => metricsServer?.close(),
    () => parts.server.close(),
    () => parts.replica.stop(),
    async () => parts.snapshotSender.close(),
    async () => parts.throttle.close(),
    () => parts.transport.close(),
    () => stores.stateMachine.close({ checkpoint: false }),
    () => stores.meta.close(),
    () => stores.log.close(),
  ];
  const closeAll = async (): Promise<void> => {
    for (const close of closers) await close();
  };
  await disk.start();
  await startParts(parts, closers, logger);
  if (metrics !== undefined) {
    metrics.useSources(metricsSources(config, stores, parts));
    try {
      metricsServer = await serveMetrics({ host: config.brokerIP1, port: config.metricsPromExporterPort, registry: metrics.registry });
    } catch (err) {
      logger.error({ err: (err as Error).message, port: config.metricsPromExporterPort }, 'could not start the metrics listener (metricsPromExporterPort); closing');
      await closeAll().catch(() => {});
      throw err;
    }
  }
  logger.info({ nodeId: self.id, peerAddr: `${self.host}:${self.port}`, clientAddr: parts.advertisedAddr, pid: process.pid }, 'replica started');
  stopKeyIndexRebuild = rebuildKeyIndexInBackground(stores.stateMachine, stores.keyIndexRebuild, logger);
  registrar.start();
  fatalExit = (err) => {
    logger.error({ err: err.message }, 'fatal: the replica cannot go on');
    void closeAll().finally(() => process.exit(3));
  };
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await handOverLeadership(parts.replica, self.id, logger);
      await closeAll();
      logger.info({ nodeId: self.id }, 'replica stopped');
    })();
    return stopping;
  };
  // A replica joining under a removed one's name may hold that removal in its checkpoint.
  const wasRemoved = config.dLegerJoin || isMember(raft.status().conf, self.id) ? null : stores.stateMachine.membership;
  removedExit = exitWhenRemoved(self.id, wasRemoved, stop, logger);
  return { config, replica: parts.replica, server: parts.server, clientPort: parts.server.port, stop };
}

/** What a replica does once it learns it was removed from its group: says so and stops (exit
 *  EXIT_REMOVED). A replica that was removed while it was down does so at once. */
function exitWhenRemoved(self: NodeId, applied: Membership | null, stop: () => Promise<void>, logger: Logger): (index: number) => void {
  let removing = false;
  const exit = (index: number): void => {
    if (removing) return;
    removing = true;
    logger.warn({ nodeId: self, index }, LOG_REMOVED);
    // A moment first: the answer to the change (a master removing itself answers it) gets out.
    setTimeout(() => void stop().finally(() => process.exit(EXIT_REMOVED)), REMOVED_STOP_DELAY_MS);
  };
  if (applied !== null && !isMember(applied, self) && applied.change?.op === 'remove' && applied.change.node === self) exit(applied.index);
  return exit;
}

/** Where the metrics read the replica's levels at scrape time. */
function metricsSources(config: BrokerConfig, stores: Stores, parts: NodeParts): MetricsSources {
  const { log, stateMachine } = stores;
  return {
    raftStatus: () => parts.replica.status(),
    appliedIndex: () => stateMachine.appliedIndex,
    logBytesAfter: (index) => log.bytesAfter(index),
    logStats: () => log.stats(),
    storeDir: config.storePathRootDir,
    clientConnections: () => parts.server.connectionCount,
    peerConnections: () => parts.transport.connectedPeerCount,
    consumerLags: (max) => stateMachine.consumerOffsetList(max).offsets,
    consumerGroupMembers: (max) => parts.server.groups.registry.memberCounts(max),
    keyIndexEntries: () => Math.max(0, stateMachine.keyIndexEntries),
    logFirstIndex: () => log.firstIndex(),
    retainedFrom: () => stateMachine.retainedFrom,
  };
}

interface Stores {
  readonly log: FileCommitLog;
  readonly meta: MetaStore;
  readonly stateMachine: BrokerStateMachine;
  /** Snapshots of the retention marks (retention-marks.ts). */
  readonly marks: MarkStore;
  /** Begun before the first apply, run after the start (rebuildKeyIndexInBackground). */
  readonly keyIndexRebuild: KeyIndexRebuilder | undefined;
}

/** The Raft core over the store, resuming after the state machine's checkpoint. */
function createRaft(config: BrokerConfig, { log, meta, stateMachine, marks }: Stores): RaftNode {
  const ticks = raftTicksOf(config);
  return new RaftNode(
    {
      ...DEFAULT_RAFT_CONFIG,
      id: config.dLegerSelfId,
      // The seed of a new group; a replica joining one knows no configuration until it is sent one.
      peers: config.dLegerJoin && stateMachine.membership === null ? [] : config.dLegerPeers.map((p) => p.id),
      seed: randomInt(2 ** 31),
      electionTicks: ticks.electionTicks,
      heartbeatTicks: ticks.heartbeatTicks,
      preferredLeader: config.preferredLeaderId,
      maxBytesPerMessage: RAFT_APPEND_BYTES_MAX,
      maxInflightBytesPerFollower: RAFT_INFLIGHT_BYTES_MAX,
      applied: stateMachine.appliedIndex,
      // Apply (and answer) once committed, without waiting for our own fsync: see replica.ts.
      applyUnpersisted: true,
    },
    new CommitLogRaftStorage(log, meta, () => snapshotOf(stateMachine, log, marks), () => confAtOf(stateMachine.membership)),
  );
}

function confAtOf(m: Membership | null): ConfAt | null {
  return m === null ? null : { index: m.index, conf: { voters: m.voters, learners: m.learners } };
}

/** The snapshot a follower behind the log's start is sent: the mark at the cut the last
 *  checkpoint holds (the log below it may be gone). null before the first cut (the storage's own
 *  answer then). */
function snapshotOf(stateMachine: BrokerStateMachine, log: FileCommitLog, marks: MarkStore): SnapshotMeta | null {
  const cut = stateMachine.durableRetainedFrom - 1;
  if (cut <= 0) return null;
  const m = stateMachine.membershipAt(cut);
  return { index: cut, term: marks.termOf(cut) ?? log.termAt(cut), conf: m === null ? null : { voters: m.voters, learners: m.learners } };
}

interface NodeParts {
  readonly transport: PeerTransport;
  /** Between the replica and the transport: paces the catch-up of a follower far behind. */
  readonly throttle: CatchUpThrottle;
  /** Streams snapshots to followers behind the log's start. */
  readonly snapshotSender: SnapshotSender;
  readonly replica: Replica;
  readonly server: BrokerServer;
  /** The master's retention proposals. */
  readonly retention: RetentionService;
  /** The master's delivery of delayed messages (schedule-service.ts). */
  readonly schedule: ScheduleService;
  /** This replica's client address as clients are told it. */
  readonly advertisedAddr: string;
}

/** The peer transport, the replica driver and the client server, wired to each other. */
function createParts(
  config: BrokerConfig,
  logger: Logger,
  stores: Stores,
  raft: RaftNode,
  onFatal: (err: Error) => void,
  metrics: BrokerMetrics | undefined,
  disk: DiskUsage,
  onRemoved: (index: number) => void,
): NodeParts {
  const logFn: LogFn = (level, msg, fields) => logger[level === 'debug' ? 'debug' : level](fields ?? {}, msg);
  const advertisedAddr = `${config.brokerIP1}:${config.listenPort}`;
  const learnedClientAddr = new Map<NodeId, string>();
  const members = createMembers(config, stores.stateMachine, raft, logger);
  // The transport calls back into the replica, which needs the transport to send.
  let replica: Replica | undefined;
  const driver = (): Replica => replica!;
  const snapshots = createSnapshotLink(stores, logFn, driver);
  const transport = createTransport(config, logger, logFn, advertisedAddr, driver, (peer, addr) => learnedClientAddr.set(peer, addr), snapshots.transportHooks, members, onRemoved);
  members.bindTransport(transport);
  stores.stateMachine.onMembership((m) => members.applied(m, onRemoved));
  snapshots.bindTransport(transport);
  const snapshotSender = snapshots.sender;
  const throttle = createThrottle(config, logFn, stores, transport, driver);
  const compactor = new LogCompactor(stores.log, stores.marks, () => stores.stateMachine.durableRetainedFrom, logger);
  replica = new Replica({
    nodeId: config.dLegerSelfId,
    raft,
    log: stores.log,
    meta: stores.meta,
    stateMachine: stores.stateMachine,
    peers: throttle,
    logger,
    tickMs: config.tickMs,
    proposalTimeoutMs: config.sendTimeoutMs,
    checkpointIntervalMs: config.checkpointIntervalMs,
    pendingProposalsMax: PENDING_PROPOSALS_MAX,
    inboxMessagesMax: INBOX_MESSAGES_MAX,
    onFatal,
    onCheckpointed: () => {
      compactor.maybeCompact();
      snapshotSender.expire();
    },
    snapshots: snapshots.driver,
    onConfigEntries: (appended) => members.appended(appended),
    ...(metrics !== undefined ? { metrics } : {}),
  });
  const retention = createRetention(config, logger, stores, replica, disk);
  const server = createServer(config, stores, replica, members.view, (id) => learnedClientAddr.get(id) ?? members.view.directory.clientAddr(id), logFn, disk, metrics);
  const autoCreateQueues = config.autoCreateTopicEnable ? config.defaultTopicQueueNums : 0;
  const schedule = new ScheduleService({ stateMachine: stores.stateMachine, delayLevelsMs: config.messageDelayLevel, autoCreateQueues, leaderReady: () => replica.leaderReady, propose: (data) => replica.propose(data), logger });
  return { transport, throttle, snapshotSender, replica, server, retention, schedule, advertisedAddr };
}

/** The client listener of this replica. */
function createServer(
  config: BrokerConfig,
  stores: Stores,
  replica: Replica,
  members: MembersView,
  clientAddrOf: (id: NodeId) => string,
  logFn: LogFn,
  disk: DiskUsage,
  metrics: BrokerMetrics | undefined,
): BrokerServer {
  return new BrokerServer({
    host: config.brokerIP1,
    port: config.listenPort,
    advertisedAddr: `${config.brokerIP1}:${config.listenPort}`,
    nodeId: config.dLegerSelfId,
    seedPeers: config.dLegerPeers.map((p) => p.id),
    peerAddr: `${selfPeer(config).host}:${selfPeer(config).port}`,
    members,
    brokerName: config.brokerName,
    autoCreateTopicEnable: config.autoCreateTopicEnable,
    defaultTopicQueueNums: config.defaultTopicQueueNums,
    sendTimeoutMs: config.sendTimeoutMs,
    replica,
    stateMachine: stores.stateMachine,
    log: logFn,
    clientAddrOf,
    connectionsMax: config.clientConnectionsMax,
    connectionsPerAddressMax: config.clientConnectionsPerAddressMax,
    firstFrameTimeoutMs: config.clientFirstFrameTimeoutMs,
    metricsPort: config.metricsPromExporterPort,
    logFirstIndex: () => stores.log.firstIndex(),
    disk,
    writesStalled: () => replica.writesStalled,
    slaveRead: slaveReadSettingsOf(config, stores.log),
    delayLevelsMs: config.messageDelayLevel,
    ...(metrics !== undefined ? { metrics } : {}),
  });
}

/** The master's retention proposals (retention-service.ts), by the config's rules. */
function createRetention(config: BrokerConfig, logger: Logger, { log, stateMachine }: Stores, replica: Replica, disk: DiskUsage): RetentionService {
  return new RetentionService({
    settings: {
      fileReservedMs: config.fileReservedTime * 3_600_000,
      deleteWhen: config.deleteWhen,
      diskMaxUsedSpaceRatio: config.diskMaxUsedSpaceRatio,
      diskSpaceCleanForciblyRatio: config.diskSpaceCleanForciblyRatio,
      markIntervalBytes: config.mappedFileSizeCommitLog,
      markCountMax: RETENTION_MARK_COUNT_MAX,
    },
    stateMachine,
    bytesAfter: (index) => log.bytesAfter(index),
    diskUsedPercent: () => disk.usedPercent,
    leaderReady: () => replica.leaderReady,
    propose: (data) => replica.propose(data),
    logger,
  });
}

/** Snapshots between this replica and its peers: streamed to a follower behind the log's start
 *  (snapshot-transfer.ts), installed from the master (snapshot-install.ts). */
function createSnapshotLink(stores: Stores, logFn: LogFn, driver: () => Replica) {
  let transport: PeerTransport | undefined;
  const receiver = new SnapshotReceiver({ deliver: (msg) => driver().receive([msg]), log: logFn });
  const sender = new SnapshotSender({
    read: (index, term) => {
      const mark = stores.marks.get(index);
      if (mark.term !== term) throw new Error(`the mark at ${index} has term ${mark.term}, not ${term}`);
      return mark.bytes;
    },
    sendChunk: (to, frame, data) => transport?.sendSnapChunk(to, frame, data) ?? false,
    report: (to, ok) => driver().snapshotReported(to, ok),
    log: logFn,
  });
  const driverPart: SnapshotDriver = {
    send: (m) => sender.send(m),
    install: (index, term, restartLog) => installSnapshot({ receiver, stateMachine: stores.stateMachine, marks: stores.marks }, index, term, restartLog),
  };
  return {
    sender,
    driver: driverPart,
    bindTransport: (t: PeerTransport): void => {
      transport = t;
    },
    transportHooks: {
      onSnapChunk: (from: NodeId, frame: PeerSnapChunk, data: Uint8Array) => receiver.onChunk(from, frame, data),
      onSnapAck: (from: NodeId, ack: PeerSnapAck) => sender.onAck(from, ack),
      onPeerDown: (peer: NodeId) => sender.peerDown(peer),
    },
  };
}

/** Paces what the replica sends a follower far behind (catch-up-throttle.ts). */
function createThrottle(config: BrokerConfig, logFn: LogFn, stores: Stores, transport: PeerTransport, replica: () => Replica): CatchUpThrottle {
  const dropped = new WarningSummary({ log: logFn, msg: 'catch-up appends to a paced follower dropped (its queue is full; it is probed again)', intervalMs: PEER_WARNING_INTERVAL_MS });
  return new CatchUpThrottle({
    sender: transport,
    throttlePointBytes: config.peerPushThrottlePoint,
    quotaBytesPerSecond: config.peerPushQuota,
    queueBytesMax: PEER_SEND_QUEUE_BYTES_MAX,
    bytesAfter: (index) => stores.log.bytesAfter(index),
    lastIndex: () => stores.log.lastIndex(),
    onDropped: (peer, reason) => {
      dropped.note('dropped', peer, { reason });
      replica().sendFailed(peer);
    },
  });
}

function createTransport(
  config: BrokerConfig,
  logger: Logger,
  logFn: LogFn,
  advertisedAddr: string,
  replica: () => Replica,
  onPeerClientAddr: (peer: NodeId, addr: string) => void,
  snapshots: Pick<PeerTransportOptions, 'onSnapChunk' | 'onSnapAck'> & { onPeerDown: (peer: NodeId) => void },
  members: NodeMembers,
  onRemoved: (index: number) => void,
): PeerTransport {
  const self = selfPeer(config);
  const sendFailures = new WarningSummary({ log: logFn, msg: 'messages to a peer dropped (it reads too slowly or not at all; it is probed again)', intervalMs: PEER_WARNING_INTERVAL_MS });
  return new PeerTransport({
    group: config.dLegerGroup,
    self,
    peers: members.peers(),
    configIndex: () => members.view.configIndex(),
    // Joining and no configuration yet: the master may be a replica added after our dLegerPeers.
    acceptUnknown: () => members.joining(),
    clientAddr: advertisedAddr,
    onRemoved: (from, index) => {
      // Not while joining (a new replica may take a removed one's name), nor once a later
      // configuration is known here (it was added back since).
      if (members.joining() || index < members.view.configIndex()) return;
      logger.warn({ from, index }, `${from} says this replica was removed from the group at log index ${index}`);
      onRemoved(index);
    },
    removedAt: (peer) => members.removedAt(peer),
    log: logFn,
    onMessages: (msgs) => replica().receive(msgs),
    onPeerDown: (peer, reason) => {
      if (replica().role.leaderId === peer) logger.warn({ peer, reason }, 'lost the connection to the master');
      snapshots.onPeerDown(peer);
      replica().peerDown(peer);
    },
    onSendFailed: (peer, reason) => {
      sendFailures.note('dropped', peer, { reason });
      replica().sendFailed(peer);
    },
    onPeerClientAddr,
    onSnapChunk: snapshots.onSnapChunk,
    onSnapAck: snapshots.onSnapAck,
  });
}

/** Starts the transport, the driver and the server. A port in use, most often, refuses one:
 *  then nothing may keep running half-started (a Raft member without a client listener would
 *  vote and replicate while no client can reach it), so everything is closed. */
async function startParts({ transport, replica, server, retention, schedule }: NodeParts, closers: readonly (() => Promise<void>)[], logger: Logger): Promise<void> {
  try {
    await transport.start();
    replica.start();
    await server.start();
    // The master's timers: they propose only while this replica is a ready master.
    retention.start();
    schedule.start();
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'could not start; closing');
    for (const close of closers) {
      await close().catch(() => {}); // each on its own: a part that never started may refuse
    }
    throw err;
  }
}

/** On the master: transfer leadership to the most caught-up follower and wait (bounded). */
async function handOverLeadership(replica: Replica, self: NodeId, logger: Logger): Promise<void> {
  const st = replica.status();
  if (st.role !== Role.Leader || st.conf.voters.length < 2) return;
  let best: NodeId = '';
  let bestMatch = -1;
  for (const [id, p] of Object.entries(st.progress)) {
    if (id !== self && st.conf.voters.includes(id) && p.recentActive && p.match > bestMatch) {
      best = id;
      bestMatch = p.match;
    }
  }
  if (!best) return;
  logger.info({ to: best, match: bestMatch, lastIndex: st.lastIndex }, 'stopping: handing leadership over');
  replica.transferLeadership(best);
  const deadline = Date.now() + TRANSFER_ON_STOP_MS_MAX;
  while (Date.now() < deadline && replica.role.role === Role.Leader) await new Promise((r) => setTimeout(r, 5));
  if (replica.role.role === Role.Leader) {
    logger.warn({ to: best }, 'leadership hand-over did not finish in time; stopping anyway');
    return;
  }
  // Entries this master proposed commit under the new one; answer their producers before leaving.
  while (Date.now() < deadline && replica.pendingProposals > 0) await new Promise((r) => setTimeout(r, 5));
}

export interface StoreRepair {
  /** What was cut from the commitlog (empty: nothing was wrong with it). */
  readonly cuts: readonly string[];
  readonly lastIndex: number;
  /** The state checkpoint was ahead of the kept log and was removed (rebuilt by replay). */
  readonly stateRebuilt: boolean;
}

/**
 * `raftmq node --repair`: makes a store that recovery refuses usable again. The commitlog keeps
 * its valid prefix (repairCommitLog); the hard state keeps term and vote but says recovering, so
 * the replica votes again only once its master has re-replicated what was cut (it may have been
 * acknowledged); a state checkpoint above the kept log is removed and rebuilt from it.
 */
export async function repairStore(config: BrokerConfig, logger: Logger): Promise<StoreRepair> {
  const root = config.storePathRootDir;
  const { cuts, lastIndex } = await repairCommitLog(commitLogOptions(config, logger));
  const meta = await openMetaStore(path.join(root, 'meta'));
  try {
    const hs = meta.getHardState();
    if (cuts.length > 0) await meta.setHardState({ term: hs.term, vote: hs.vote, commit: Math.min(hs.commit, lastIndex), recovering: true });
  } finally {
    await meta.close();
  }
  const stateDir = path.join(root, 'state');
  let stateRebuilt = false;
  const sm = await BrokerStateMachine.open(stateDir, stateMachineOptions(config, () => undefined));
  const applied = sm.appliedIndex;
  await sm.close({ checkpoint: false });
  if (applied > lastIndex) {
    fs.rmSync(stateDir, { recursive: true, force: true });
    stateRebuilt = true;
  }
  for (const cut of cuts) logger.warn({ cut }, 'repair: cut the commitlog');
  logger.warn({ lastIndex, stateRebuilt, cuts: cuts.length }, cuts.length > 0 ? 'repair: store repaired; the master re-replicates what was cut' : 'repair: the commitlog needed no repair');
  return { cuts, lastIndex, stateRebuilt };
}

function stateMachineOptions(config: BrokerConfig, readEntry: (index: number) => Uint8Array | undefined) {
  return {
    brokerName: config.brokerName,
    keyIndexCapacity: config.messageIndexEnable ? config.maxIndexNum : 0,
    autoCreateTopicEnable: config.autoCreateTopicEnable,
    defaultTopicQueueNums: config.defaultTopicQueueNums,
    readEntry,
  };
}

/** Opens the commitlog, the metadata store and the state machine; closes what opened on failure. */
async function openStores(config: BrokerConfig, logger: Logger, metrics: BrokerMetrics | undefined): Promise<Stores> {
  const root = config.storePathRootDir;
  let log: CommitLog | null = null;
  let meta: MetaStore | null = null;
  try {
    const commitLog = await openCommitLog(commitLogOptions(config, logger, metrics));
    log = commitLog;
    const metaStore = await openMetaStore(path.join(root, 'meta'));
    meta = metaStore;
    const marks = MarkStore.open(path.join(root, 'snapshots'));
    const stateMachine = await BrokerStateMachine.open(
      path.join(root, 'state'),
      stateMachineOptions(config, (index) => {
        if (index < commitLog.firstIndex() || index > commitLog.lastIndex()) return undefined;
        return commitLog.read(index, 1)[0]?.data;
      }),
    );
    stateMachine.onMark((mark) => {
      try {
        marks.put(mark);
      } catch (err) {
        // The state is unaffected; this replica cannot send this mark to a follower behind it.
        logger.error({ err: (err as Error).message, index: mark.index }, 'retention: could not write the snapshot of a mark');
      }
    });
    if (await finishInterruptedInstall(stateMachine, commitLog)) {
      logger.warn({ appliedIndex: stateMachine.appliedIndex }, 'finished a snapshot install a stop interrupted: the log restarts after it');
    }
    if (stateMachine.appliedIndex > commitLog.lastIndex()) {
      await stateMachine.close({ checkpoint: false });
      throw new CommitLogError('STORE_CORRUPT', `store ${root}: the state checkpoint is at index ${stateMachine.appliedIndex} but the commitlog ends at ${commitLog.lastIndex()} (log data lost)`);
    }
    const keyIndexRebuild = stateMachine.startKeyIndexRebuild((from, maxBytes) => commitLog.read(from, maxBytes), commitLog.firstIndex(), KEY_INDEX_REBUILD_BYTES_MAX);
    return { log: commitLog, meta: metaStore, stateMachine, marks, keyIndexRebuild };
  } catch (err) {
    await meta?.close().catch(() => {});
    await log?.close().catch(() => {});
    throw err;
  }
}
