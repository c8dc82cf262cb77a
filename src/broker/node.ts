// One replica process: opens the store, the state machine and the Raft core, wires the driver
// to the peer transport and the client server, and stops them in order.
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { openCommitLog, openMetaStore, CommitLogRaftStorage } from '../commitlog/index.ts';
import type { CommitLog, MetaStore } from '../commitlog/types.ts';
import type { LogFn } from '../net/index.ts';
import { RaftNode } from '../raft/raw-node.ts';
import { DEFAULT_RAFT_CONFIG, Role, type NodeId } from '../raft/types.ts';
import { raftTicksOf, selfPeer, type BrokerConfig } from './config.ts';
import type { Logger } from './logger.ts';
import { PeerTransport } from './peer-transport.ts';
import { Replica } from './replica.ts';
import { BrokerServer } from './server.ts';
import { BrokerStateMachine } from './state-machine.ts';
import { traceAs } from '../trace/trace.ts';

/** Proposals waiting for commit on one replica. */
const PENDING_PROPOSALS_MAX = 100_000;
/** Peer messages queued between two driver turns. */
const INBOX_MESSAGES_MAX = 100_000;
/** How long a graceful stop waits for the leadership hand-over. */
const TRANSFER_ON_STOP_MS_MAX = 2000;

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
  const peers = config.dLegerPeers.map((p) => p.id);
  const logFn: LogFn = (level, msg, fields) => logger[level === 'debug' ? 'debug' : level](fields ?? {}, msg);

  traceAs(self.id);
  const { log, meta, stateMachine: sm } = await openStores(config, logger);

  const storage = new CommitLogRaftStorage(log, meta);
  const ticks = raftTicksOf(config);
  const raft = new RaftNode(
    {
      ...DEFAULT_RAFT_CONFIG,
      id: self.id,
      peers,
      seed: randomInt(2 ** 31),
      electionTicks: ticks.electionTicks,
      heartbeatTicks: ticks.heartbeatTicks,
      preferredLeader: config.preferredLeaderId,
      applied: sm.appliedIndex,
      // Apply (and answer) once committed, without waiting for our own fsync: see replica.ts.
      applyUnpersisted: true,
    },
    storage,
  );
  logger.info(
    { nodeId: self.id, firstIndex: log.firstIndex(), lastIndex: log.lastIndex(), appliedIndex: sm.appliedIndex, term: meta.getHardState().term },
    'store opened',
  );

  const learnedClientAddr = new Map<NodeId, string>();
  const configuredClientAddr = new Map(config.clientPeers.map((p) => [p.id, `${p.host}:${p.port}`]));
  const clientAddrOf = (id: NodeId): string => learnedClientAddr.get(id) ?? configuredClientAddr.get(id) ?? '';
  const advertisedAddr = `${config.brokerIP1}:${config.listenPort}`;

  let replica: Replica;
  const transport = new PeerTransport({
    group: config.dLegerGroup,
    self,
    peers: config.dLegerPeers.filter((p) => p.id !== self.id),
    clientAddr: advertisedAddr,
    log: logFn,
    onMessages: (msgs) => replica.receive(msgs),
    onPeerDown: (peer, reason) => {
      if (replica.role.leaderId === peer) logger.warn({ peer, reason }, 'lost the connection to the master');
      replica.peerDown(peer);
    },
    onPeerClientAddr: (peer, addr) => learnedClientAddr.set(peer, addr),
  });
  let fatalExit: ((err: Error) => void) | null = null;
  replica = new Replica({
    nodeId: self.id,
    raft,
    log,
    meta,
    stateMachine: sm,
    peers: transport,
    logger,
    tickMs: config.tickMs,
    proposalTimeoutMs: config.sendTimeoutMs,
    checkpointIntervalMs: config.checkpointIntervalMs,
    flushDiskType: config.flushDiskType,
    pendingProposalsMax: PENDING_PROPOSALS_MAX,
    inboxMessagesMax: INBOX_MESSAGES_MAX,
    onFatal: (err) => fatalExit?.(err),
  });
  const server = new BrokerServer({
    host: config.brokerIP1,
    port: config.listenPort,
    advertisedAddr,
    nodeId: self.id,
    peers,
    brokerName: config.brokerName,
    autoCreateTopicEnable: config.autoCreateTopicEnable,
    defaultTopicQueueNums: config.defaultTopicQueueNums,
    sendTimeoutMs: config.sendTimeoutMs,
    replica,
    stateMachine: sm,
    log: logFn,
    clientAddrOf,
    connectionsMax: config.clientConnectionsMax,
    connectionsPerAddressMax: config.clientConnectionsPerAddressMax,
    firstFrameTimeoutMs: config.clientFirstFrameTimeoutMs,
  });

  let stopping: Promise<void> | null = null;
  const closeAll = async (): Promise<void> => {
    await server.close();
    await replica.stop();
    await transport.close();
    await sm.close({ checkpoint: false });
    await meta.close();
    await log.close();
  };
  try {
    await transport.start();
    replica.start();
    await server.start();
  } catch (err) {
    // A port in use, most often. Nothing may keep running half-started (a Raft member without a
    // client listener would vote and replicate while no client can reach it): close it all.
    logger.error({ err: (err as Error).message }, 'could not start; closing');
    for (const close of [() => server.close(), () => replica.stop(), () => transport.close(), () => sm.close({ checkpoint: false }), () => meta.close(), () => log.close()]) {
      await close().catch(() => {}); // each on its own: a part that never started may refuse
    }
    throw err;
  }
  logger.info({ nodeId: self.id, peerAddr: `${self.host}:${self.port}`, clientAddr: advertisedAddr, pid: process.pid }, 'replica started');

  fatalExit = (err) => {
    logger.error({ err: err.message }, 'fatal: the replica cannot go on');
    void closeAll().finally(() => process.exit(3));
  };

  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      await handOverLeadership(replica, peers, self.id, logger);
      await closeAll();
      logger.info({ nodeId: self.id }, 'replica stopped');
    })();
    return stopping;
  };
  return { config, replica, server, clientPort: server.port, stop };
}

/** On the master: transfer leadership to the most caught-up follower and wait (bounded). */
async function handOverLeadership(replica: Replica, peers: readonly NodeId[], self: NodeId, logger: Logger): Promise<void> {
  const st = replica.status();
  if (st.role !== Role.Leader || peers.length < 2) return;
  let best: NodeId = '';
  let bestMatch = -1;
  for (const [id, p] of Object.entries(st.progress)) {
    if (id !== self && p.recentActive && p.match > bestMatch) {
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

/** Opens the commitlog, the metadata store and the state machine; closes what opened on failure. */
async function openStores(config: BrokerConfig, logger: Logger): Promise<{ log: CommitLog; meta: MetaStore; stateMachine: BrokerStateMachine }> {
  const root = config.storePathRootDir;
  let log: CommitLog | null = null;
  let meta: MetaStore | null = null;
  try {
    const commitLog = await openCommitLog({
      dir: path.join(root, 'commitlog'),
      segmentBytes: config.mappedFileSizeCommitLog,
      flushDiskType: config.flushDiskType,
      flushIntervalMs: config.flushIntervalMs,
      crcOffloadMinBytes: config.crcOffloadMinBytes,
      directIo: config.directIoEnable,
      log: (level, msg, fields) => logger[level](fields ?? {}, msg),
    });
    log = commitLog;
    const metaStore = await openMetaStore(path.join(root, 'meta'));
    meta = metaStore;
    const stateMachine = await BrokerStateMachine.open(path.join(root, 'state'), {
      brokerName: config.brokerName,
      autoCreateTopicEnable: config.autoCreateTopicEnable,
      defaultTopicQueueNums: config.defaultTopicQueueNums,
      readEntry: (index) => {
        if (index < commitLog.firstIndex() || index > commitLog.lastIndex()) return undefined;
        return commitLog.read(index, 1)[0]?.data;
      },
    });
    return { log: commitLog, meta: metaStore, stateMachine };
  } catch (err) {
    await meta?.close().catch(() => {});
    await log?.close().catch(() => {});
    throw err;
  }
}

