// The for-await form of the push consumer: the pulled messages of every allocated queue, each
// with ack() (consumed) and reconsumeLater() (sent back, as a handler's RECONSUME_LATER). Not
// yet acknowledged messages stay held in their queue, so flow control bounds them.
import type { ConsumeHost, ConsumeService } from './consume-host.ts';
import { finishBatch } from './consume-concurrently.ts';
import type { ProcessQueue, QueueEntry } from './process-queue.ts';
import type { AckableMessage } from './types.ts';

interface Item {
  readonly pq: ProcessQueue;
  readonly entry: QueueEntry;
}

export class ConsumeIterator implements ConsumeService {
  private items: Item[] = [];
  private taker: (() => void) | null = null;
  private attached = false;
  private closed = false;

  constructor(
    private readonly host: ConsumeHost,
    /** The queues now allocated, to hand out what they hold when an iteration starts. */
    private readonly queues: () => Iterable<ProcessQueue>,
  ) {}

  dispatch(pq: ProcessQueue): void {
    if (!this.attached || pq.dropped) return;
    for (const entry of pq.takePending(pq.pendingCount)) this.items.push({ pq, entry });
    this.wake();
  }

  /** One iteration at a time; ends at shutdown. Leaving it early gives the messages not yet
   *  yielded back to their queues (the next iteration gets them). */
  async *messages(): AsyncGenerator<AckableMessage, void, undefined> {
    if (this.attached) throw new TypeError('one messages() iteration at a time');
    this.attached = true;
    try {
      for (const pq of this.queues()) this.dispatch(pq);
      for (;;) {
        const item = await this.take();
        if (item === undefined) return;
        if (item.pq.dropped) continue;
        yield this.ackable(item);
      }
    } finally {
      this.attached = false;
      for (const it of this.items.splice(0)) it.pq.returnPending([it.entry]);
    }
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  private ackable({ pq, entry }: Item): AckableMessage {
    let done = false;
    const finish = (ok: boolean) => {
      if (done || pq.dropped) return;
      done = true;
      void finishBatch(this.host, pq, [entry], ok, 0, () => this.dispatch(pq));
    };
    return { ...entry.msg, ack: () => finish(true), reconsumeLater: () => finish(false) };
  }

  private async take(): Promise<Item | undefined> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) return item;
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.taker = resolve));
      this.taker = null;
    }
  }

  private wake(): void {
    const t = this.taker;
    this.taker = null;
    t?.();
  }
}
