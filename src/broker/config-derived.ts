// What a replica's parts take from its config: the commitlog's options, the Raft timing in ticks,
// its own dLegerPeers entry, the slave-read settings of its server.
import path from 'node:path';
import { CACHE_BYTES_DEFAULT, type CommitLogOptions } from '../commitlog/index.ts';
import type { BrokerConfig, PeerAddress } from './config.ts';
import type { SlaveReadSettings } from './consumer-groups/index.ts';
import type { Logger } from './logger.ts';
import type { BrokerMetrics } from './metrics.ts';

/** The Raft timing of a config in ticks (the core counts ticks, not milliseconds). */
export function raftTicksOf(cfg: BrokerConfig): { electionTicks: number; heartbeatTicks: number } {
  const heartbeatTicks = Math.max(1, Math.round(cfg.heartbeatIntervalMs / cfg.tickMs));
  const electionTicks = Math.max(2 * heartbeatTicks, Math.round(cfg.electionTimeoutMs / cfg.tickMs));
  return { electionTicks, heartbeatTicks };
}

/** This replica's entry in dLegerPeers. */
export function selfPeer(cfg: BrokerConfig): PeerAddress {
  return cfg.dLegerPeers.find((p) => p.id === cfg.dLegerSelfId)!;
}

/** The commitlog's options for this replica's store. */
export function commitLogOptions(config: BrokerConfig, logger: Logger, metrics?: BrokerMetrics): CommitLogOptions {
  return {
    ...(metrics !== undefined ? { observer: metrics } : {}),
    dir: path.join(config.storePathRootDir, 'commitlog'),
    segmentBytes: config.mappedFileSizeCommitLog,
    flushDiskType: config.flushDiskType,
    flushIntervalMs: config.flushIntervalMs,
    crcOffloadMinBytes: config.crcOffloadMinBytes,
    directIo: config.directIoEnable,
    recycledSegmentsMax: config.recycledSegmentsMax,
    log: (level, msg, fields) => logger[level](fields ?? {}, msg),
  };
}

/** slaveReadEnable over this replica's log: the record cache (CACHE_BYTES_DEFAULT; the commitlog
 *  is opened with its default) is the log tail it keeps in memory. */
export function slaveReadSettingsOf(config: BrokerConfig, log: { bytesAfter(index: number): number }): SlaveReadSettings {
  return { enable: config.slaveReadEnable, ratioPercent: config.accessMessageInMemoryMaxRatio, memoryBytes: CACHE_BYTES_DEFAULT, bytesAfter: (index) => log.bytesAfter(index) };
}
