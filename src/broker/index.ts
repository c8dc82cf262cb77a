// The broker folder's API for the CLI, the chaos runner and tests. Other folders import the broker
// only from here; inside the folder, files import each other directly.
export { CatchUpThrottle, type CatchUpThrottleOptions } from './catch-up-throttle.ts';
export { DiskUsage, usedPercentOf, type DiskSpace, type DiskUsageOptions } from './disk-usage.ts';
export { LogAppender, AppendAbandoned, DISK_FULL_RETRY_MS, type LogAppenderOptions } from './log-appender.ts';
export * from './commands.ts';
export * from './config.ts';
export * from './consume-queue.ts';
export * from './consumer-groups/index.ts';
export * from './errors.ts';
export * from './logger.ts';
export { BrokerMetrics, CONSUMER_LAG_SERIES_MAX, type MetricsSources, type ReplicaMetrics, type ServerMetrics, type FlushMetrics } from './metrics.ts';
export * from './node.ts';
export { NamesrvRegistrar, namesrvRegistrar, ROLE_POLL_MS, TOPICS_CHECK_MS_MIN, UNREGISTER_WAIT_MS, type NamesrvRegistrarOptions, type RegistrarSources } from './namesrv-registrar.ts';
export {
  PeerTransport,
  PEER_FRAME_BYTES_TARGET,
  PEER_SEND_QUEUE_BYTES_MAX,
  messageWireBytes,
  peerListDigest,
  peerIdsOf,
  splitIntoFrames,
  wireMessageProblem,
  type PeerTransportOptions,
} from './peer-transport.ts';
export * from './replica.ts';
export { decideRetention, type RetentionDecision, type RetentionInputs, type RetentionSettings } from './retention-policy.ts';
export { MarkStore, MarkStoreError, MARK_SNAPSHOT_BYTES_MAX } from './retention-marks.ts';
export { RetentionService, RETENTION_CHECK_INTERVAL_MS } from './retention-service.ts';
export { ScheduleService, SCHEDULE_CHECK_INTERVAL_MS } from './schedule-service.ts';
export { lookAtLevel, type ScheduleLook, type ScheduleProposal } from './schedule-decision.ts';
export { planSendBack, routeDelayed, MAX_RECONSUME_TIMES_LIMIT, type SendBackRequest } from './delayed-send.ts';
export { DEFAULT_DELAY_LEVELS_MS, DELAY_LEVEL_COUNT_MAX, formatMessageDelayLevel, parseMessageDelayLevel, requestedDelayLevel } from './delay-levels.ts';
export { LogCompactor } from './log-compactor.ts';
export { SnapshotReceiver, SnapshotSender, SNAPSHOT_CHUNK_BYTES, SNAPSHOT_STALL_MS, SNAPSHOT_WINDOW_CHUNKS, SNAPSHOT_STAGED_BYTES_MAX, type ReceivedSnapshot } from './snapshot-transfer.ts';
export { installSnapshot, finishInterruptedInstall } from './snapshot-install.ts';
export * from './replica-options.ts';
export * from './role.ts';
export * from './send-batch-encoding.ts';
export * from './server.ts';
export * from './state-machine.ts';
export { MemberDirectory, encodeMemberContext, decodeMemberContext, type Membership, type MemberAddress } from './membership.ts';
export { type MembersView } from './member-requests.ts';
