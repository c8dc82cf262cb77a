// What the consume services need from the push consumer (kept small so each service can be
// tested with a fake one).
import type { MessageQueue } from '../publish-route.ts';
import type { ProcessQueue, QueueEntry } from './process-queue.ts';
import type { Semaphore } from './semaphore.ts';

export interface ConsumeHost {
  readonly consumeModel: 'CLUSTERING' | 'BROADCASTING';
  readonly consumeMessageBatchMaxSize: number;
  readonly maxReconsumeTimes: number;
  readonly suspendCurrentQueueTimeMillis: number;
  /** A message whose sendBack failed is consumed again here after this (CONSUME_LATER_MS). */
  readonly consumeLaterMs: number;
  readonly semaphore: Semaphore;
  /** False once shutdown began. */
  readonly running: boolean;
  /** When the master of `brokerName` last answered this member's heartbeat (Date.now(); 0:
   *  never): orderly consumption stops where it is stale. */
  heartbeatAnsweredAt(brokerName: string): number;
  /** RocketMQ's sendMessageBack to the master of the queue's broker group; false when it failed. */
  sendBack(mq: MessageQueue, entry: QueueEntry, delayLevel: number, maxReconsumeTimes: number): Promise<boolean>;
  /** The queue's committable offset moved (offset store update). */
  progress(pq: ProcessQueue): void;
  /** Counts an event for stats() (a failed handler, a failed sendBack, ...). */
  count(event: ConsumeEvent): void;
}

export type ConsumeEvent = 'consumed' | 'failed' | 'sentBack' | 'sendBackFailed' | 'broadcastFailed' | 'toDlq' | 'suspended';

/** Delivers a queue's pending messages (the concurrent service, the for-await sink, the orderly
 *  service). Called after each pull that added messages and when a held-back queue may go on. */
export interface ConsumeService {
  dispatch(pq: ProcessQueue): void;
}
