// Paces the replication of a long backlog (DLedger's peer push throttle, with its key names):
// while clients are writing, entries further than `throttlePointBytes` behind the end of the log
// go to a follower at no more than `quotaBytesPerSecond`, so that a follower returning from a long
// pause cannot take the CPU and disk the live write path shares with it. Once no new entry has
// been written for a second, the backlog goes at full speed. Appends to a paced follower wait in
// order in a queue of their own (bounded by the leader's in-flight window, and by
// `queueBytesMax`); every other message passes at once. Raft tolerates delayed and lost messages,
// so pacing can cost a follower time, never safety.
import { MessageType, type Message, type NodeId } from '../raft/index.ts';
import type { PeerSender } from './replica-options.ts';

export interface CatchUpThrottleOptions {
  readonly sender: PeerSender;
  /** Appends starting further than this many log bytes behind the end are paced; 0: none is. */
  readonly throttlePointBytes: number;
  /** Paced entry bytes per follower per second. */
  readonly quotaBytesPerSecond: number;
  /** Bytes a follower queue may hold; an append beyond it is dropped (the leader probes again). */
  readonly queueBytesMax: number;
  /** Log bytes after `index` (CommitLog.bytesAfter). */
  readonly bytesAfter: (index: number) => number;
  readonly lastIndex: () => number;
  /** An append was dropped: the leader should probe that follower again. */
  readonly onDropped: (peer: NodeId, reason: string) => void;
  /** Milliseconds; Date.now by default (injected by tests). */
  readonly now?: () => number;
  /** Runs `fn` after `ms`; returns a cancel function. setTimeout (unref'd) by default. */
  readonly schedule?: (fn: () => void, ms: number) => () => void;
}

const WINDOW_MS = 1000;
/** The log counts as written to for this long after its last index last grew. */
const WRITING_WINDOW_MS = 1000;

interface FollowerPace {
  readonly queue: Message[];
  queuedBytes: number;
  windowStart: number;
  usedBytes: number;
  cancelDrain: (() => void) | null;
}

function entryBytes(m: Message): number {
  let bytes = 0;
  for (let i = 0; i < m.entries.length; i++) bytes += m.entries[i].data.byteLength;
  return bytes;
}

function defaultSchedule(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
}

export class CatchUpThrottle implements PeerSender {
  private readonly opts: CatchUpThrottleOptions;
  private readonly now: () => number;
  private readonly schedule: (fn: () => void, ms: number) => () => void;
  private readonly followers = new Map<NodeId, FollowerPace>();
  private lastIndexSeen = 0;
  private lastGrowthAt = Number.NEGATIVE_INFINITY;
  private closed = false;
  /** Paced bytes sent, and appends dropped, since the start (read by the tests). */
  pacedBytes = 0;
  dropped = 0;

  constructor(opts: CatchUpThrottleOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.schedule = opts.schedule ?? defaultSchedule;
  }

  send(to: NodeId, messages: Message[]): void {
    if (this.closed) return;
    if (this.opts.throttlePointBytes === 0) return this.opts.sender.send(to, messages);
    this.noteGrowth();
    const pace = this.paceOf(to);
    const now = this.now();
    const pass: Message[] = [];
    for (const m of messages) {
      if (m.type !== MessageType.Append) pass.push(m);
      else if (pace.queue.length === 0 && this.mayGo(pace, m, now)) pass.push(m);
      else this.enqueue(to, pace, m);
    }
    if (pass.length > 0) this.opts.sender.send(to, pass);
    if (pace.queue.length > 0 && pace.cancelDrain === null) this.scheduleDrain(to, pace, now);
  }

  /** Followers with appends waiting, and the bytes they hold. */
  queued(): { followers: number; bytes: number } {
    let followers = 0;
    let bytes = 0;
    for (const p of this.followers.values()) {
      if (p.queue.length > 0) followers++;
      bytes += p.queuedBytes;
    }
    return { followers, bytes };
  }

  close(): void {
    this.closed = true;
    for (const p of this.followers.values()) {
      p.cancelDrain?.();
      p.cancelDrain = null;
      p.queue.length = 0;
      p.queuedBytes = 0;
    }
  }

  private noteGrowth(): void {
    const last = this.opts.lastIndex();
    if (last > this.lastIndexSeen) {
      this.lastIndexSeen = last;
      this.lastGrowthAt = this.now();
    }
  }

  private paceOf(to: NodeId): FollowerPace {
    let p = this.followers.get(to);
    if (p === undefined) {
      p = { queue: [], queuedBytes: 0, windowStart: this.now(), usedBytes: 0, cancelDrain: null };
      this.followers.set(to, p);
    }
    return p;
  }

  /** Whether append `m` may leave now, charging the follower's quota if it is paced. */
  private mayGo(pace: FollowerPace, m: Message, now: number): boolean {
    if (m.entries.length === 0) return true;
    const writing = now - this.lastGrowthAt < WRITING_WINDOW_MS;
    if (!writing || this.opts.bytesAfter(m.index) <= this.opts.throttlePointBytes) return true;
    if (now - pace.windowStart >= WINDOW_MS) {
      pace.windowStart = now;
      pace.usedBytes = 0;
    }
    if (pace.usedBytes >= this.opts.quotaBytesPerSecond) return false;
    const bytes = entryBytes(m);
    pace.usedBytes += bytes;
    this.pacedBytes += bytes;
    return true;
  }

  private enqueue(to: NodeId, pace: FollowerPace, m: Message): void {
    const bytes = entryBytes(m);
    if (pace.queuedBytes + bytes > this.opts.queueBytesMax) {
      this.dropped++;
      this.opts.onDropped(to, `catch-up queue full (${pace.queuedBytes} bytes waiting)`);
      return;
    }
    pace.queue.push(m);
    pace.queuedBytes += bytes;
  }

  private scheduleDrain(to: NodeId, pace: FollowerPace, now: number): void {
    const wait = Math.max(1, pace.windowStart + WINDOW_MS - now);
    pace.cancelDrain = this.schedule(() => {
      pace.cancelDrain = null;
      this.drain(to, pace);
    }, wait);
  }

  /** Sends what the new window allows of the queue, in order. */
  private drain(to: NodeId, pace: FollowerPace): void {
    if (this.closed) return;
    this.noteGrowth();
    const now = this.now();
    const out: Message[] = [];
    while (pace.queue.length > 0 && this.mayGo(pace, pace.queue[0], now)) {
      const m = pace.queue.shift()!;
      pace.queuedBytes -= entryBytes(m);
      out.push(m);
    }
    if (out.length > 0) this.opts.sender.send(to, out);
    if (pace.queue.length > 0) this.scheduleDrain(to, pace, now);
  }
}
