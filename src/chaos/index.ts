// The chaos runner's API for scripts/chaos.ts and its tests. delay-relay.ts is not here: it is a
// program of its own, started as a child process.
export { checkHistory, type CheckOptions, type CheckResult, type GroupResult } from './checker.ts';
export { checkConsumers, CONSUME_SETTLE_MS_DEFAULT, type ConsumeCheckOptions, type ConsumeResult, type ConsumerGroupResult } from './consume-check.ts';
export { replayLog, replayMessages, type LogRecord, type Replay, type ReplayOptions } from './dump.ts';
export { EMPTY_SEED, seedForLog, seedFromSnapshot, type ReplaySeed } from './mark-seed.ts';
export { retentionConfig, RETENTION_SEGMENT_BYTES, snapshotsInstalled } from './retention.ts';
export {
  ALL_FAULTS,
  NAMESRV_FAULTS,
  CONSUMER_FAULTS,
  DELAY_JITTER_MS,
  DELAY_MS,
  LONG_SUSPEND_MS,
  LOSS_PERCENT,
  bridgeCuts,
  componentCuts,
  faultsValidFor,
  mistypePeer,
  wrongGroup,
  staleConfig,
  ringCuts,
  type Cuts,
} from './faults.ts';
export { parseHistory, queueName, type ConsumeEvent, type DumpedMessage, type HistoryEvent, type QueueStart, type ReplicaDump, type SendEvent } from './history.ts';
export { esc, masterChanges, renderReport, timelineSeries, type ReportMeta } from './report.ts';
export { GROUPS_MAX, groupName, replicaIds } from './nodes.ts';
export { NAMESRV_COUNT_MAX } from './namesrvs.ts';
export { CHAOS_CONSUMER_GROUP, CHAOS_MAX_RECONSUME_TIMES, ConsumerMembers, PUSH_CONSUMERS_MAX, type ConsumerMembersOptions } from './consumer-members.ts';
export { HistoryRecorder } from './recorder.ts';
export { runChaos, type ChaosProgress } from './run.ts';
export { summaryLine } from './summary.ts';
export { bodyOf, idOfBody } from './workload.ts';
