// One allocated queue's messages between the pull and the handler (RocketMQ's ProcessQueue):
// what was pulled and not yet consumed, in offset order, its count and bytes for flow control,
// and the committable offset: the lowest offset not yet consumed (a message in a handler holds
// back the commit of everything after it, so a crash replays it rather than losing it).
import type { MessageQueue } from '../publish-route.ts';
import type { ConsumedMessage } from './types.ts';

export interface QueueEntry {
  /** reconsumeTimes rises locally for an orderly retry in place. */
  msg: ConsumedMessage;
  readonly offset: number;
  readonly bytes: number;
}

export class ProcessQueue {
  /** Pulled and not yet consumed, by offset; inserted in rising offset order. */
  private readonly held = new Map<number, QueueEntry>();
  /** Of `held`, those not handed to a handler yet, in order. */
  private pending: QueueEntry[] = [];
  private heldBytes = 0;
  /** The offset after the last pull put here (the pull's nextOffset, past filtered messages). */
  private pulledUntil: number;
  private roomWaiters: Array<() => void> = [];
  /** Taken away (rebalance, shutdown): no more pulls or dispatches. */
  dropped = false;
  /** Orderly: the lock at the master, and when it was last granted (ms, Date.now). */
  locked = false;
  lastLockAt = 0;
  /** Orderly: a batch is in a handler (one at a time per queue). */
  consuming = false;
  /** Handler calls in flight for this queue: a queue taken away waits for them (bounded). */
  inFlight = 0;

  constructor(
    readonly mq: MessageQueue,
    startOffset: number,
  ) {
    this.pulledUntil = startOffset;
  }

  /** Messages held (pulled, not consumed). */
  get count(): number {
    return this.held.size;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** Where the next pull starts. */
  get nextPullOffset(): number {
    return this.pulledUntil;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Adds a pull's messages (offsets above any held) and moves the pull position to `nextOffset`. */
  put(entries: readonly QueueEntry[], nextOffset: number): void {
    for (const e of entries) {
      if (e.offset < this.pulledUntil || this.held.has(e.offset)) continue; // a repeated pull
      this.held.set(e.offset, e);
      this.pending.push(e);
      this.heldBytes += e.bytes;
    }
    if (nextOffset > this.pulledUntil) this.pulledUntil = nextOffset;
  }

  /** The broker moved the pull position (an offset past the queue's end, or below its first
   *  message after retention): taken when nothing is held, else the held messages come first. */
  correctOffset(nextOffset: number): void {
    if (this.held.size === 0) this.pulledUntil = nextOffset;
  }

  /** Up to `max` entries for a handler, oldest first. */
  takePending(max: number): QueueEntry[] {
    return this.pending.splice(0, max);
  }

  /** Entries handed out and not consumed go back to the front (an orderly retry in place, an
   *  iterator left early), ahead of the rest, in offset order. */
  returnPending(entries: readonly QueueEntry[]): void {
    const back = entries.filter((e) => this.held.get(e.offset) === e);
    if (back.length === 0) return;
    this.pending = [...back, ...this.pending].sort((a, b) => a.offset - b.offset);
  }

  /** Marks entries consumed; wakes a pull waiting for room. */
  remove(entries: readonly QueueEntry[]): void {
    for (const e of entries) {
      if (this.held.get(e.offset) !== e) continue;
      this.held.delete(e.offset);
      this.heldBytes -= e.bytes;
    }
    this.wake();
  }

  /** The offset to commit: the lowest not yet consumed, or the pull position when all are. */
  committableOffset(): number {
    for (const offset of this.held.keys()) return offset;
    return this.pulledUntil;
  }

  /** Flow control: no pull while this queue holds `countMax` messages or `bytesMax` bytes. */
  isFull(countMax: number, bytesMax: number): boolean {
    return this.held.size >= countMax || this.heldBytes >= bytesMax;
  }

  /** Resolves at the next removal or drop, or after `ms` (a liveness guard). */
  waitForRoom(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.roomWaiters.push(done);
    });
  }

  drop(): void {
    this.dropped = true;
    this.pending = [];
    this.wake();
  }

  private wake(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }
}
