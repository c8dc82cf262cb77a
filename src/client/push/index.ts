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
