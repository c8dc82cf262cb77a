// The client folder's API for the CLI, the chaos runner and tests. The package's public API is the
// part of it that ../index.ts exports.
export { Producer, keyHash } from './producer.ts';
export type { ProducerOptions, SendOptions } from './producer.ts';
export { PullConsumer } from './consumer.ts';
export type { PullConsumerOptions, PullOptions, ReadOptions, MessagesOptions, ConsumeFrom, ReadFrom } from './consumer.ts';
export { Admin } from './admin.ts';
export type { AdminOptions, NodeStatusResult, OffsetReadOptions, OffsetReset, QueueProgress } from './admin.ts';
export { ClusterClient, type ClusterOptions } from './cluster.ts';
export { RaftmqError, isRaftmqError, isRetryable, RETRYABLE_CODES } from '../protocol/index.ts';
export type { WriteOutcome } from '../protocol/index.ts';
export type { PullResponse, RouteResponse } from './types.ts';
export type {
  ErrorCode,
  MessageInput,
  StoredMessage,
  SendResultItem,
  NodeStatus,
  ReplicaInfo,
  BrokerInfo,
  RoleChange,
  QueueInfo,
  GroupQueueInfo,
  ReadConsistency,
} from '../protocol/index.ts';
