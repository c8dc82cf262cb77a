// Concurrent consumption (RocketMQ's ConsumeMessageConcurrentlyService): a queue's messages go
// to the handler in batches of consumeMessageBatchMaxSize, at most consumeThreadMax calls at once
// over all queues. A failed batch (RECONSUME_LATER or a throw) is sent back to the broker, to
// come again through the group's retry topic; a message whose sendBack failed is consumed again
// here after CONSUME_LATER_MS (ConsumeHost.consumeLaterMs). Broadcasting never retries.
import type { ConsumeEvent, ConsumeHost, ConsumeService } from './consume-host.ts';
import type { ProcessQueue, QueueEntry } from './process-queue.ts';
import type { ConsumeConcurrentlyContext, MessageListenerConcurrently } from './types.ts';

/** A message whose sendBack failed is consumed again locally after this (consumeMessageLater). */
export const CONSUME_LATER_MS = 5000;

export class ConsumeConcurrentlyService implements ConsumeService {
  constructor(
    private readonly host: ConsumeHost,
    private readonly listener: MessageListenerConcurrently,
  ) {}

  dispatch(pq: ProcessQueue): void {
    while (!pq.dropped && pq.pendingCount > 0) {
      const batch = pq.takePending(this.host.consumeMessageBatchMaxSize);
      pq.inFlight++;
      void this.run(pq, batch);
    }
  }

  private async run(pq: ProcessQueue, batch: QueueEntry[]): Promise<void> {
    await this.host.semaphore.acquire();
    try {
      // A queue taken away before its turn: its new owner starts at the committed offset, which
      // this batch held back.
      if (pq.dropped || !this.host.running) return;
      const ctx: ConsumeConcurrentlyContext = { messageQueue: pq.mq, delayLevelWhenNextConsume: 0 };
      let ok: boolean;
      try {
        ok = (await this.listener(batch.map((e) => e.msg), ctx)) === 'CONSUME_SUCCESS';
      } catch {
        ok = false;
      }
      // A queue being taken away keeps what was consumed (its offset is committed after the
      // calls in flight end); a failure there is left to the new owner, which starts before it.
      if (pq.dropped && !ok) return;
      await finishBatch(this.host, pq, batch, ok, ctx.delayLevelWhenNextConsume, () => this.dispatch(pq));
    } finally {
      this.host.semaphore.release();
      pq.inFlight--;
    }
  }
}

/** The outcome of a batch (the handler's, or a for-await message's ack or reconsumeLater):
 *  consumed messages leave the queue and its offset moves; failed ones are sent back (clustering),
 *  or, when that fails, come back here after host.consumeLaterMs through `redispatch`. */
export async function finishBatch(host: ConsumeHost, pq: ProcessQueue, batch: readonly QueueEntry[], ok: boolean, delayLevel: number, redispatch: () => void): Promise<void> {
  const count = (e: ConsumeEvent, n: number) => {
    for (let i = 0; i < n; i++) host.count(e);
  };
  if (ok) {
    count('consumed', batch.length);
    pq.remove(batch);
    host.progress(pq);
    return;
  }
  count('failed', batch.length);
  if (host.consumeModel === 'BROADCASTING') {
    count('broadcastFailed', batch.length); // RocketMQ drops them: no retry in broadcasting
    pq.remove(batch);
    host.progress(pq);
    return;
  }
  const sent = await Promise.all(batch.map((e) => host.sendBack(pq.mq, e, delayLevel, host.maxReconsumeTimes)));
  const back = batch.filter((_, i) => sent[i]);
  const later = batch.filter((_, i) => !sent[i]);
  count('sentBack', back.length);
  count('sendBackFailed', later.length);
  pq.remove(back);
  host.progress(pq);
  if (later.length === 0) return;
  for (const e of later) e.msg = { ...e.msg, reconsumeTimes: e.msg.reconsumeTimes + 1 };
  // Not awaited: the handler slot is free meanwhile. Unref'd: a queue dropped at shutdown
  // ignores it, and it must not hold the process.
  setTimeout(() => {
    if (pq.dropped) return;
    pq.returnPending(later);
    redispatch();
  }, host.consumeLaterMs).unref();
}
