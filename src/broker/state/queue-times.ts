// When each queue last received a message (RocketMQ's topicStatus "last update"): the store
// timestamp of the queue's newest message. Derived, not replicated: the consume queue names the
// newest message's log entry and the entry's head holds its timestamp, so nothing is added to
// apply; this only remembers the answer per queue, so that the operator's reads, which ask for
// every queue each time, read an entry's head only when the queue has a newer one.
import type { ConsumeQueue } from '../consume-queue.ts';
import { SLOT_RADIX } from '../consume-queue.ts';
import type { SendBatchCache } from './send-batch-cache.ts';

/** Queues remembered; beyond it the one remembered first is forgotten (read again when asked). */
export const QUEUE_TIMES_COUNT_MAX = 8192;

interface Remembered {
  readonly logIndex: number;
  readonly storeTimestamp: number;
}

export class QueueTimes {
  /** "topic\0queueId" -> the queue's newest entry when last read, oldest first. */
  private readonly byQueue = new Map<string, Remembered>();

  constructor(private readonly batches: SendBatchCache) {}

  /** The store timestamp of the newest message `cq` serves; 0 when it serves none, or when this
   *  replica's log no longer holds that entry. */
  lastUpdateTimestamp(topic: string, queueId: number, cq: ConsumeQueue | undefined): number {
    if (cq === undefined || cq.size === 0) return 0;
    const logIndex = Math.floor(cq.lastPacked / SLOT_RADIX);
    const key = `${topic}\0${queueId}`;
    const known = this.byQueue.get(key);
    // A log index names one entry for good (committed), so a match is the same message; a queue
    // deleted and created again points at later entries.
    if (known !== undefined && known.logIndex === logIndex) return known.storeTimestamp;
    const head = this.batches.headAt(logIndex);
    if (head === undefined) return 0; // not remembered: the log may get the entry back
    const storeTimestamp = head.storeTimestamp;
    this.byQueue.delete(key);
    this.byQueue.set(key, { logIndex, storeTimestamp });
    if (this.byQueue.size > QUEUE_TIMES_COUNT_MAX) this.byQueue.delete(this.byQueue.keys().next().value!);
    return storeTimestamp;
  }
}
