// Promises waiting on the log: appends (resolved in index order once written or flushed, per
// flushDiskType) and flush waits (resolved once flushed up to their index).

interface Waiter {
  readonly index: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Resolved append waiters kept at the front of the queue before it is compacted. */
const APPEND_HEAD_SLACK_MAX = 1024;

export class Waiters {
  /** In index order (appends are accepted in index order). */
  private appends: Waiter[] = [];
  private appendsHead = 0;
  private flushes: Waiter[] = [];

  /** A promise resolved by resolveAppends(>= index). */
  waitAppend(index: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.appends.push({ index, resolve, reject });
    });
  }

  /** A promise resolved by resolveFlushes(>= index). */
  waitFlush(index: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.flushes.push({ index, resolve, reject });
    });
  }

  hasFlushWaiters(): boolean {
    return this.flushes.length > 0;
  }

  resolveAppends(upTo: number): void {
    const ws = this.appends;
    let h = this.appendsHead;
    while (h < ws.length && ws[h].index <= upTo) ws[h++].resolve();
    if (h === ws.length) {
      this.appends = [];
      this.appendsHead = 0;
    } else if (h > APPEND_HEAD_SLACK_MAX && h * 2 > ws.length) {
      this.appends = ws.slice(h);
      this.appendsHead = 0;
    } else {
      this.appendsHead = h;
    }
  }

  resolveFlushes(upTo: number): void {
    if (this.flushes.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of this.flushes) {
      if (w.index <= upTo) w.resolve();
      else keep.push(w);
    }
    this.flushes = keep;
  }

  /** Every flush wait: everything that exists is flushed (after a truncation). */
  resolveAllFlushes(): void {
    const fws = this.flushes;
    this.flushes = [];
    for (const w of fws) w.resolve();
  }

  /** Rejects appends above `above` (all of them if -1) and flush waits that cannot be met. */
  rejectAbove(err: Error, above: number): void {
    const ws = this.appends;
    const keep: Waiter[] = [];
    for (let h = this.appendsHead; h < ws.length; h++) {
      if (ws[h].index > above) ws[h].reject(err);
      else keep.push(ws[h]);
    }
    this.appends = keep;
    this.appendsHead = 0;
    const fws = this.flushes;
    this.flushes = [];
    for (const w of fws) {
      if (w.index > above) w.reject(err);
      else this.flushes.push(w);
    }
  }
}
