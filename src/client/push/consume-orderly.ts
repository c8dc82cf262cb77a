// Orderly consumption (RocketMQ's ConsumeMessageOrderlyService): one batch of a queue at a time,
// in queue order, only while this member holds the queue's lock at the master (clustering). A
// failed batch (SUSPEND_CURRENT_QUEUE_A_MOMENT or a throw) is tried again in place after
// suspendCurrentQueueTimeMillis, blocking the queue; never sent to the retry topic. With
// maxReconsumeTimes >= 0, a message tried that often goes to the DLQ (sendBack, delay level -1).
import { delay } from '../../net/index.ts';
import type { ConsumeHost, ConsumeService } from './consume-host.ts';
import { HEARTBEAT_FRESH_MS } from './membership.ts';
import type { ProcessQueue, QueueEntry } from './process-queue.ts';
import type { ConsumeOrderlyContext, MessageListenerOrderly } from './types.ts';

/** A queue whose lock was not renewed for this long is not consumed (RocketMQ's
 *  REBALANCE_LOCK_MAX_LIVE_TIME on the client: half the broker's lock lifetime). */
export const LOCK_EXPIRED_AFTER_MS = 30_000;

/** Whether this member may consume `pq` now. Clustering needs a live lock, and a heartbeat the
 *  queue's master answered within HEARTBEAT_FRESH_MS: a member cut off (or paused) for longer may
 *  have been dropped, its locks given to another member, so it starts no new batch there until a
 *  heartbeat gets through and the lock is taken again (onRejoin). */
export function holdsLock(host: ConsumeHost, pq: ProcessQueue, now: number): boolean {
  if (host.consumeModel === 'BROADCASTING') return true;
  return pq.locked && now - pq.lastLockAt < LOCK_EXPIRED_AFTER_MS && now - host.heartbeatAnsweredAt(pq.mq.brokerName) < HEARTBEAT_FRESH_MS;
}

export class ConsumeOrderlyService implements ConsumeService {
  constructor(
    private readonly host: ConsumeHost,
    private readonly listener: MessageListenerOrderly,
  ) {}

  dispatch(pq: ProcessQueue): void {
    if (pq.consuming || pq.dropped) return;
    pq.consuming = true;
    void this.loop(pq).finally(() => {
      pq.consuming = false;
    });
  }

  /** Batches of one queue, one after another, until it holds nothing pending, loses its lock or
   *  is taken away (a message in hand is finished and its progress kept first). */
  private async loop(pq: ProcessQueue): Promise<void> {
    while (!pq.dropped && this.host.running && holdsLock(this.host, pq, Date.now())) {
      const batch = pq.takePending(this.host.consumeMessageBatchMaxSize);
      if (batch.length === 0) return;
      const ctx: ConsumeOrderlyContext = { messageQueue: pq.mq, suspendCurrentQueueTimeMillis: this.host.suspendCurrentQueueTimeMillis };
      let ok: boolean;
      await this.host.semaphore.acquire();
      pq.inFlight++;
      try {
        ok = (await this.listener(batch.map((e) => e.msg), ctx)) === 'SUCCESS';
      } catch {
        ok = false;
      } finally {
        this.host.semaphore.release();
        pq.inFlight--;
      }
      if (ok) {
        for (let i = 0; i < batch.length; i++) this.host.count('consumed');
        pq.remove(batch);
        this.host.progress(pq);
        continue;
      }
      if (pq.dropped) return;
      const rest = await this.toDlqIfExhausted(pq, batch);
      if (rest.length === 0) continue;
      for (const e of rest) e.msg = { ...e.msg, reconsumeTimes: e.msg.reconsumeTimes + 1 };
      pq.returnPending(rest);
      this.host.count('suspended');
      await delay(Math.max(0, ctx.suspendCurrentQueueTimeMillis));
    }
  }

  /** Sends the messages tried maxReconsumeTimes times to the DLQ (removed once stored); returns
   *  the others, and those whose sendBack failed, to be tried again in place. */
  private async toDlqIfExhausted(pq: ProcessQueue, batch: QueueEntry[]): Promise<QueueEntry[]> {
    const max = this.host.maxReconsumeTimes;
    for (let i = 0; i < batch.length; i++) this.host.count('failed');
    if (max < 0 || this.host.consumeModel === 'BROADCASTING') return batch;
    const exhausted = batch.filter((e) => e.msg.reconsumeTimes >= max);
    if (exhausted.length === 0) return batch;
    const sent = await Promise.all(exhausted.map((e) => this.host.sendBack(pq.mq, e, -1, max)));
    const stored = exhausted.filter((_, i) => sent[i]);
    for (const _ of stored) this.host.count('toDlq');
    pq.remove(stored);
    this.host.progress(pq);
    return batch.filter((e) => !stored.includes(e));
  }
}
