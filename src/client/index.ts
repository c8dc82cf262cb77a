// The client folder's API for the CLI, the chaos runner and tests. The package's public API is the
// part of it that ../index.ts exports.
export { Producer, keyHash } from './producer.ts';
export type { ProducerOptions, ProducerMessage, SendOptions, SendCallback, QueueSelector, MessageQueue } from './producer.ts';
export { PullConsumer } from './consumer.ts';
export type { PullConsumerOptions, PullOptions, ReadOptions, MessagesOptions, ConsumeFrom, ReadFrom, ConsumeQueueRef, GroupOption } from './consumer.ts';
export {
  PushConsumer,
  AllocateMessageQueueAveragely,
  AllocateMessageQueueAveragelyByCircle,
  AllocateMessageQueueConsistentHash,
  AllocateMessageQueueByConfig,
} from './push/index.ts';
export type {
  AllocateStrategy,
  PushConsumerOptions,
  ConsumedMessage,
  AckableMessage,
  ConsumeConcurrentlyStatus,
  ConsumeOrderlyStatus,
  ConsumeConcurrentlyContext,
  ConsumeOrderlyContext,
  MessageListenerConcurrently,
  MessageListenerOrderly,
} from './push/index.ts';
export {
  compareQueues,
  queueIdOf,
  ProcessQueue,
  LocalFileOffsetStore,
  RemoteOffsetStore,
  ConsumeConcurrentlyService,
  ConsumeOrderlyService,
  HEARTBEAT_FRESH_MS,
  NEW_MASTER_VIEW_GRACE_MS,
  GroupMembership,
  Semaphore,
  pullLoop,
  type PullLoopOptions,
  type Brokers,
  type QueueEntry,
  type ConsumeHost,
  type ConsumeEvent,
} from './push/index.ts';
export { Admin, ClusterAdmin, groupServers } from './admin.ts';
export type { AdminOptions, ClusterAdminOptions, GroupOutcome, GroupTopicOffset, NodeStatusResult, OffsetReadOptions, OffsetReset, QueueProgress, TopicGroupsOptions, TopicOffset } from './admin.ts';
export {
  MEMBER_ID_PATTERN,
  MEMBER_POLL_MS,
  MEMBER_PROMOTE_RETRY_MS,
  MEMBER_CATCH_UP_TIMEOUT_MS_DEFAULT,
  LEARNER_LAGS_PATTERN,
  checkMemberId,
  checkMemberAddrs,
} from './membership.ts';
export type { AddMemberOptions, MemberChangeOptions, MemberProgress } from './membership.ts';
export { ClusterClient, type ClusterOptions } from './cluster.ts';
export { LatencyFaultTolerance, notAvailableMs, FAILURE_AS_LATENCY_MS, LATENCY_MAX_MS, NOT_AVAILABLE_MS } from './latency-fault.ts';
export { publishRouteOf, publishRouteOfGroup, type PublishRoute } from './publish-route.ts';
export { NamesrvClient, parseNamesrvAddr, namesrvAddrFromEnv, NAMESRV_ADDR_ENV, type NamesrvClientOptions } from './namesrv-client.ts';
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
  MemberInfo,
  MembersInfo,
  TopicRouteData,
  QueueData,
  BrokerData,
  ClusterInfo,
  RouteChanges,
} from '../protocol/index.ts';
