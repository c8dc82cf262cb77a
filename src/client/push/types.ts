// The push consumer's public types: options, what handlers receive and return.
import type { StoredMessage } from '../../protocol/index.ts';
import type { ConsumeFrom } from '../consumer.ts';
import type { MessageQueue } from '../publish-route.ts';
import type { AllocateStrategy } from './allocate.ts';

/** A message as a handler sees it: `topic` is the topic it was first sent to (also for a retried
 *  message, read from the group's retry topic), `reconsumeTimes` how often it came back. */
export type ConsumedMessage = StoredMessage & { readonly brokerName: string; readonly reconsumeTimes: number };

/** A message of the for-await form: ack() when done, reconsumeLater() to have it back later
 *  (sendBack to the group's retry topic). Unacknowledged messages count against flow control. */
export type AckableMessage = ConsumedMessage & { ack(): void; reconsumeLater(): void };

export type ConsumeConcurrentlyStatus = 'CONSUME_SUCCESS' | 'RECONSUME_LATER';
export type ConsumeOrderlyStatus = 'SUCCESS' | 'SUSPEND_CURRENT_QUEUE_A_MOMENT';

export interface ConsumeConcurrentlyContext {
  readonly messageQueue: MessageQueue;
  /** Delay level of a sendBack after RECONSUME_LATER: 0 (default) lets the broker choose
   *  RETRY_DELAY_LEVEL_BASE + reconsumeTimes; -1 sends the batch straight to the DLQ. */
  delayLevelWhenNextConsume: number;
}

export interface ConsumeOrderlyContext {
  readonly messageQueue: MessageQueue;
  /** How long the queue waits before the same messages are tried again (default: the
   *  consumer's suspendCurrentQueueTimeMillis). */
  suspendCurrentQueueTimeMillis: number;
}

export type MessageListenerConcurrently = (msgs: ConsumedMessage[], ctx: ConsumeConcurrentlyContext) => Promise<ConsumeConcurrentlyStatus> | ConsumeConcurrentlyStatus;
export type MessageListenerOrderly = (msgs: ConsumedMessage[], ctx: ConsumeOrderlyContext) => Promise<ConsumeOrderlyStatus> | ConsumeOrderlyStatus;

export interface PushConsumerOptions {
  /** The consumer group. */
  readonly group: string;
  /** NameServer addresses (default NAMESRV_ADDR when `servers` is not given). */
  readonly namesrv?: readonly string[];
  /** One broker group's replicas instead of NameServers. */
  readonly servers?: readonly string[];
  readonly consumeModel?: 'CLUSTERING' | 'BROADCASTING';
  readonly allocateStrategy?: AllocateStrategy;
  /** Where a queue without a committed offset starts (default 'last'). */
  readonly consumeFrom?: ConsumeFrom;
  readonly pullBatchSize?: number;
  /** Messages per handler call. */
  readonly consumeMessageBatchMaxSize?: number;
  /** Handler calls running at once. */
  readonly consumeThreadMax?: number;
  /** A queue is not pulled while it holds this many messages not yet consumed... */
  readonly pullThresholdForQueue?: number;
  /** ... or this many bytes of bodies. */
  readonly pullThresholdSizeForQueue?: number;
  /** Tries before the DLQ (orderly: -1, the default there, retries without end). */
  readonly maxReconsumeTimes?: number;
  readonly suspendCurrentQueueTimeMillis?: number;
  readonly persistConsumerOffsetInterval?: number;
  readonly heartbeatBrokerInterval?: number;
  readonly rebalanceInterval?: number;
  /** Broadcasting: the folder of the local offset files (default ~/.raftmq_offsets). */
  readonly offsetStoreDir?: string;
  /** This member's id (CLIENT_ID_PATTERN); default host@pid@random. */
  readonly clientId?: string;
  /** Called after each reallocation with every queue this member now consumes. */
  readonly onRebalance?: (queues: readonly MessageQueue[]) => void;
  /** Default timeout of one request. */
  readonly requestTimeoutMs?: number;
  /** How long the broker holds a pull (default BROKER_SUSPEND_MAX_TIME_MS; tests shorten it). */
  readonly pullLongPollMs?: number;
}
