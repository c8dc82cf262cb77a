// The push consumer's public part, re-exported by ../index.ts.
export { PushConsumer } from './push-consumer.ts';
export {
  AllocateMessageQueueAveragely,
  AllocateMessageQueueAveragelyByCircle,
  AllocateMessageQueueConsistentHash,
  AllocateMessageQueueByConfig,
  type AllocateStrategy,
} from './allocate.ts';
export type {
  PushConsumerOptions,
  ConsumedMessage,
  AckableMessage,
  ConsumeConcurrentlyStatus,
  ConsumeOrderlyStatus,
  ConsumeConcurrentlyContext,
  ConsumeOrderlyContext,
  MessageListenerConcurrently,
  MessageListenerOrderly,
} from './types.ts';
// The parts tests drive directly (not in the package's API).
export { compareQueues, queueIdOf, CONSISTENT_HASH_VIRTUAL_NODES_DEFAULT } from './allocate.ts';
export { ProcessQueue, type QueueEntry } from './process-queue.ts';
export { LocalFileOffsetStore, RemoteOffsetStore, LOCAL_OFFSETS_COUNT_MAX, type OffsetStore } from './offset-store.ts';
export { ConsumeConcurrentlyService, CONSUME_LATER_MS } from './consume-concurrently.ts';
export { ConsumeOrderlyService, LOCK_EXPIRED_AFTER_MS } from './consume-orderly.ts';
export { HEARTBEAT_FRESH_MS, NEW_MASTER_VIEW_GRACE_MS, GroupMembership } from './membership.ts';
export type { ConsumeHost, ConsumeEvent, ConsumeService } from './consume-host.ts';
export { Semaphore } from './semaphore.ts';
export { pullLoop, consumedOf, type PullLoopOptions } from './pull-loop.ts';
export type { Brokers } from './brokers.ts';
