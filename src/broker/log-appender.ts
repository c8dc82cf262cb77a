// The replica's appends to its commitlog, made to wait out a full disk instead of failing.
//
// The commitlog answers a write that hits ENOSPC with DISK_FULL: it cuts the partial write back,
// rejects that append and every append accepted after it (their records leave the log: its
// lastIndex() drops back to what was written), and takes appends again once there is space. So
// here a DISK_FULL never reaches the caller: the rejected batches, and every batch appended
// after them, wait in order and are appended again, oldest first, every `retryMs` until the
// disk takes them. A batch's promise resolves only once all of it is durable (as the log's own
// append promise does), so the replica's acknowledgements wait exactly as long as the disk does:
// a follower that cannot write does not acknowledge, a leader does not count its own copy.
//
// One line is logged when a stall starts and one when it ends, whatever the number of retries.
// Any other write error is passed on (the replica stops: the disk's state is unknown).
import type { CommitLog } from '../commitlog/index.ts';
import type { Entry } from '../raft/index.ts';
import { assert, isNoSpaceError } from '../util/index.ts';
import type { ReplicaLogger } from './replica-options.ts';

/** Default for LogAppenderOptions.retryMs. */
export const DISK_FULL_RETRY_MS = 500;

export interface LogAppenderOptions {
  readonly log: CommitLog;
  readonly logger: ReplicaLogger;
  /** How long a stalled append waits before it is tried again. */
  readonly retryMs?: number;
}

/** Why a batch waiting for disk space was given up: the replica is stopping. */
export class AppendAbandoned extends Error {
  override readonly name = 'AppendAbandoned';
  readonly code = 'SHUTTING_DOWN';
}

interface Batch {
  readonly entries: readonly Entry[];
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  /** Handed to the log (and not failed since); false while it waits to be appended again. */
  issued: boolean;
  /** Appended again after a DISK_FULL: its durability ends the stall. */
  retried: boolean;
}

export function isDiskFull(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'DISK_FULL';
}

/** Runs `write` until it does not fail for lack of space, every `retryMs`; one warning for all
 *  the tries and one info line when it went through. A stop gives it up (AppendAbandoned). */
export async function retryWhileNoSpace(write: () => Promise<void>, what: string, opts: { logger: ReplicaLogger; retryMs: number; stopped: () => boolean }): Promise<void> {
  for (let logged = false; ; logged = true) {
    try {
      await write();
      if (logged) opts.logger.info({}, `${what} is written: the disk has space again`);
      return;
    } catch (err) {
      if (!isNoSpaceError(err)) throw err;
      if (opts.stopped()) throw new AppendAbandoned('the replica stopped while its disk was full');
      if (!logged) opts.logger.warn({ err: (err as Error).message }, `${what} cannot be written: the disk is full; nothing that depends on it is acted on until it is, and it is tried again`);
      await new Promise((r) => setTimeout(r, opts.retryMs));
    }
  }
}

/** Awaits a write that may be left out (at a stop): a full disk only says so. */
export async function unlessNoSpace(logger: ReplicaLogger, write: Promise<unknown>, what: string): Promise<void> {
  try {
    await write;
  } catch (err) {
    if (!isNoSpaceError(err)) throw err;
    logger.warn({ err: (err as Error).message }, `stopping: ${what} was not written (the disk is full)`);
  }
}

export class LogAppender {
  private readonly log: CommitLog;
  private readonly logger: ReplicaLogger;
  /** How long a stalled write waits before it is tried again. */
  readonly retryMs: number;
  /** Batches not yet durable, in index order: issued ones first, then the waiting ones (once a
   *  batch waits, every later one does too). */
  private readonly pending: Batch[] = [];
  /** Last index of the newest batch appended (issued or waiting), or where a truncation cut. */
  private expectedLast: number;
  private stalledSinceMs = -1;
  private stalledBatches = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private abandoned = false;
  private truncating = false;
  /** Called once no batch waits to be appended again (truncateAfter). */
  private nothingWaitsWaiters: Array<() => void> = [];
  private readonly stallWaiters = new Set<() => void>();
  /** Stalls so far (for status and tests). */
  stalls = 0;

  constructor(opts: LogAppenderOptions) {
    this.log = opts.log;
    this.logger = opts.logger;
    this.retryMs = opts.retryMs ?? DISK_FULL_RETRY_MS;
    this.expectedLast = opts.log.lastIndex();
  }

  /** Whether appends are waiting for disk space now. */
  get stalled(): boolean {
    return this.stalledSinceMs >= 0;
  }

  /** The last index the log holds once every batch appended so far is in it. */
  lastIndex(): number {
    return this.expectedLast;
  }

  /** Appends `entries` (they start right after lastIndex()); resolves once they are durable. A
   *  full disk delays the promise, never rejects it; other write errors reject it. */
  append(entries: readonly Entry[]): Promise<void> {
    if (this.abandoned) return Promise.reject(new AppendAbandoned('the replica is stopping'));
    assert(entries.length > 0 && entries[0].index === this.expectedLast + 1, `LogAppender.append: entries at ${entries[0]?.index}, expected ${this.expectedLast + 1}`);
    this.expectedLast = entries[entries.length - 1].index;
    return new Promise<void>((resolve, reject) => {
      const batch: Batch = { entries, resolve, reject, issued: false, retried: false };
      // Behind a batch that waits for space, or after the log dropped batches issued before this
      // one (a DISK_FULL whose rejections have not reached us yet): wait, in order.
      const wait = this.waiting() > 0 || this.log.lastIndex() < entries[0].index - 1;
      this.pending.push(batch);
      if (wait) this.beginStall();
      else this.issue(batch, entries);
    });
  }

  /** Removes the log's entries after `index` (a Raft conflict); the caller sends no append
   *  until it is done. Batches waiting for space are appended again first (the cut must come
   *  after them). This relies on the commitlog's truncateAfter settling every append accepted
   *  before it, and failing with DISK_FULL, without cutting, when one of them fails: then the
   *  failed batches wait, are appended again, and the cut is tried once more. */
  async truncateAfter(index: number): Promise<void> {
    await this.cut(() => this.log.truncateAfter(index));
    assert(this.waiting() === 0, 'LogAppender.truncateAfter: the log cut while an append before the cut had failed');
    this.expectedLast = index;
  }

  /** Empties the log and restarts it at `first` (a snapshot was installed); as truncateAfter. */
  async restartAt(first: number, prevTerm: number): Promise<void> {
    await this.cut(() => this.log.restartAt(first, prevTerm));
    this.expectedLast = first - 1;
  }

  /** Runs a cut of the log after the batches waiting for space; a DISK_FULL (an append before it
   *  failed) has it tried again once those are back in, or after retryMs. */
  private async cut(run: () => Promise<void>): Promise<void> {
    for (;;) {
      if (this.waiting() > 0) await new Promise<void>((resolve) => this.nothingWaitsWaiters.push(resolve));
      this.truncating = true;
      try {
        await run();
        return;
      } catch (err) {
        if (!isDiskFull(err)) throw err;
      } finally {
        this.truncating = false;
      }
      if (this.waiting() === 0) await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  /** Resolves true once `durable` resolves, false as soon as appends stall (at once if they
   *  already are): for a caller that must not wait for the disk to have space again. */
  raceStall(durable: Promise<unknown>): Promise<boolean> {
    if (this.stalled) return Promise.resolve(false);
    return new Promise<boolean>((resolve, reject) => {
      const onStall = (): void => resolve(false);
      this.stallWaiters.add(onStall);
      durable.then(
        () => {
          this.stallWaiters.delete(onStall);
          resolve(true);
        },
        (err: unknown) => {
          this.stallWaiters.delete(onStall);
          reject(err);
        },
      );
    });
  }

  /** Stopping: batches waiting for space are rejected (AppendAbandoned); none is tried again. */
  abandon(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const waiting = this.pending.filter((b) => !b.issued);
    if (waiting.length > 0) this.logger.warn({ batches: waiting.length, firstIndex: waiting[0].entries[0].index }, 'stopping while the disk is full: entries not written here are left to the group to send again');
    for (const b of waiting) {
      this.remove(b);
      b.reject(new AppendAbandoned('the replica stopped while its disk was full'));
    }
  }

  private waiting(): number {
    let n = 0;
    for (let i = this.pending.length - 1; i >= 0 && !this.pending[i].issued; i--) n++;
    return n;
  }

  /** Removes a batch that is done (durable, failed, abandoned). */
  private remove(batch: Batch): void {
    const i = this.pending.indexOf(batch);
    if (i >= 0) this.pending.splice(i, 1);
    this.settleNothingWaits();
  }

  private settleNothingWaits(): void {
    if (this.waiting() > 0 || this.nothingWaitsWaiters.length === 0) return;
    const ws = this.nothingWaitsWaiters;
    this.nothingWaitsWaiters = [];
    for (const w of ws) w();
  }

  /** Hands `entries` (all of the batch, or what of it is not in the log yet) to the log. */
  private issue(batch: Batch, entries: readonly Entry[]): void {
    batch.issued = true;
    const written = entries.length > 0 ? this.log.append(entries) : this.log.flush();
    written.then(
      () => this.durable(batch),
      (err: unknown) => this.failed(batch, err),
    );
  }

  private durable(batch: Batch): void {
    this.remove(batch);
    batch.resolve();
    if (batch.retried && this.stalled && this.waiting() === 0) this.endStall();
  }

  private failed(batch: Batch, err: unknown): void {
    if (isDiskFull(err) && !this.abandoned) {
      batch.issued = false;
      this.beginStall();
      return;
    }
    this.remove(batch);
    batch.reject(err as Error);
  }

  private beginStall(): void {
    if (!this.stalled) {
      this.stalledSinceMs = performance.now();
      this.stalledBatches = 0;
      this.stalls++;
      this.logger.warn(
        { lastIndex: this.log.lastIndex(), retryMs: this.retryMs },
        'commitlog write failed: the disk is full (DISK_FULL); this replica acknowledges nothing newer and retries the write until there is space',
      );
      const ws = [...this.stallWaiters];
      this.stallWaiters.clear();
      for (const w of ws) w();
    }
    this.scheduleRetry();
  }

  private endStall(): void {
    const ms = Math.round(performance.now() - this.stalledSinceMs);
    this.logger.info({ stalledMs: ms, batches: this.stalledBatches, lastIndex: this.log.lastIndex() }, 'commitlog writes go through again: the disk has space');
    this.stalledSinceMs = -1;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== null || this.abandoned) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.retry();
    }, this.retryMs);
  }

  /** Appends every waiting batch again, oldest first, each from where the log ends (a batch cut
   *  short by the failure keeps the prefix that was written). */
  private retry(): void {
    if (this.abandoned) return;
    // A truncation settles the appends before it: none may be added while it runs (it fails
    // with DISK_FULL when one of them does, and appends them again itself).
    if (this.truncating) return this.scheduleRetry();
    const waiting = this.pending.filter((b) => !b.issued);
    if (waiting.length === 0) return;
    let next = this.log.lastIndex() + 1;
    for (const b of waiting) {
      const first = b.entries[0].index;
      assert(first <= next, `LogAppender.retry: a gap before ${first} (the log ends at ${next - 1})`);
      // Entries below `next` were written before the failure: they must be these very ones.
      for (let k = 0; k < b.entries.length && b.entries[k].index < next; k++) {
        assert(this.log.termAt(b.entries[k].index) === b.entries[k].term, `LogAppender.retry: entry ${b.entries[k].index} in the log is of another term`);
      }
      const rest = b.entries.slice(Math.max(0, next - first));
      b.retried = true;
      this.stalledBatches++;
      this.issue(b, rest);
      next = Math.max(next, b.entries[b.entries.length - 1].index + 1);
    }
    this.settleNothingWaits();
  }
}
