// A warning that may recur many times a second (a slow peer, refused connections): for each key
// (a peer, an address) the first occurrence is logged at once, later ones are counted and summed
// up in one line per interval. Keys are bounded (beyond KEYS_MAX, new keys share one line).

export interface WarnLogger {
  warn(fields: object, msg: string): void;
}

/** Keys tracked at once; more share the OTHER_KEY line. */
const KEYS_MAX = 1024;
const OTHER_KEY = '(others)';

interface KeyState {
  lastLoggedMs: number;
  count: number;
  reason: string;
  timer: NodeJS.Timeout | null;
}

export class ThrottledWarning {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly logger: WarnLogger,
    private readonly msg: string,
    private readonly intervalMs: number,
  ) {}

  /** Records one occurrence for `key`: logged now if no line for it went out within the
   *  interval, else counted into its line at the end of it. */
  note(key: string, reason: string): void {
    if (!this.keys.has(key) && this.keys.size >= KEYS_MAX) key = OTHER_KEY;
    let st = this.keys.get(key);
    if (st === undefined) {
      st = { lastLoggedMs: Number.NEGATIVE_INFINITY, count: 0, reason, timer: null };
      this.keys.set(key, st);
    }
    st.count++;
    st.reason = reason;
    const waitMs = st.lastLoggedMs + this.intervalMs - Date.now();
    if (waitMs <= 0) this.flushKey(key, st);
    else if (st.timer === null) {
      st.timer = setTimeout(() => this.flushKey(key, st), waitMs);
      st.timer.unref();
    }
  }

  /** Logs what is pending for every key. */
  flush(): void {
    for (const [key, st] of this.keys) this.flushKey(key, st);
  }

  private flushKey(key: string, st: KeyState): void {
    if (st.timer !== null) clearTimeout(st.timer);
    st.timer = null;
    if (st.count === 0) {
      // Quiet for a whole interval: forget the key (a bounded map).
      if (Date.now() - st.lastLoggedMs >= this.intervalMs) this.keys.delete(key);
      return;
    }
    st.lastLoggedMs = Date.now();
    this.logger.warn({ key, count: st.count, reason: st.reason, intervalMs: this.intervalMs }, this.msg);
    st.count = 0;
  }
}
