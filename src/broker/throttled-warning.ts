// A warning that may recur many times a second (a slow peer, refused connections): the first
// occurrence is logged at once, later ones are counted and summed up in one line per interval.

export interface WarnLogger {
  warn(fields: object, msg: string): void;
}

export class ThrottledWarning {
  private lastLoggedMs = Number.NEGATIVE_INFINITY;
  /** Occurrences not logged yet, by key (a peer id, an address). */
  private pending = new Map<string, number>();
  private lastReason = '';
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logger: WarnLogger,
    private readonly msg: string,
    private readonly intervalMs: number,
  ) {}

  /** Records one occurrence for `key`: logged now if no line went out within the interval, else
   *  counted into the line at the end of it. */
  note(key: string, reason: string): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
    this.lastReason = reason;
    const waitMs = this.lastLoggedMs + this.intervalMs - Date.now();
    if (waitMs <= 0) this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), waitMs);
      this.timer.unref();
    }
  }

  /** Logs what is pending (nothing if nothing is). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size === 0) return;
    this.lastLoggedMs = Date.now();
    const counts = Object.fromEntries(this.pending);
    this.pending = new Map();
    this.logger.warn({ counts, reason: this.lastReason }, this.msg);
  }
}
