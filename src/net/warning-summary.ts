// A warning that can fire once per connection (refusals, evictions, timeouts) is logged as one
// line per interval with counts, never one line per event: a flood of connections must not turn
// into a flood of log lines that costs the process more than the connections themselves.
import type { LogFn } from './server.ts';

/** Addresses counted separately within one interval; the rest are counted as `other`. */
export const SUMMARY_ADDRESSES_MAX = 64;
/** Addresses named in one summary line, the busiest first. */
export const SUMMARY_ADDRESSES_LISTED_MAX = 5;

export interface WarningSummaryOptions {
  readonly log: LogFn;
  /** The `msg` of every line. */
  readonly msg: string;
  /** At most one summary line per interval (plus the line of the first event). */
  readonly intervalMs: number;
}

/**
 * The first event after a quiet interval is logged at once, with its details, so an operator
 * sees the trouble start; the events of the following interval are counted by kind and by
 * address, and logged as one line when it ends. An interval with no event ends the summary.
 */
export class WarningSummary {
  private readonly counts = new Map<string, number>();
  private readonly addresses = new Map<string, number>();
  private otherAddresses = 0;
  private total = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly opts: WarningSummaryOptions) {}

  /** One event of `kind` from `address`; `fields` are logged only if it is the first. */
  note(kind: string, address: string, fields: Record<string, unknown> = {}): void {
    if (this.closed) return;
    if (this.timer === null) {
      this.opts.log('warn', this.opts.msg, { event: kind, remote: address, ...fields, nextSummaryInMs: this.opts.intervalMs });
      this.arm();
      return;
    }
    this.total++;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    const n = this.addresses.get(address);
    if (n !== undefined) this.addresses.set(address, n + 1);
    else if (this.addresses.size < SUMMARY_ADDRESSES_MAX) this.addresses.set(address, 1);
    else this.otherAddresses++;
  }

  /** Logs what is counted (if anything) and stops. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.emit();
  }

  private arm(): void {
    this.timer = setTimeout(() => this.endInterval(), this.opts.intervalMs);
    this.timer.unref();
  }

  private endInterval(): void {
    this.timer = null;
    if (this.total === 0) return;
    this.emit();
    this.arm();
  }

  private emit(): void {
    if (this.total === 0) return;
    const busiest = [...this.addresses].sort((a, b) => b[1] - a[1]).slice(0, SUMMARY_ADDRESSES_LISTED_MAX);
    this.opts.log('warn', this.opts.msg, {
      summary: true,
      events: this.total,
      intervalMs: this.opts.intervalMs,
      byKind: Object.fromEntries(this.counts),
      addressCount: this.addresses.size,
      busiestAddresses: Object.fromEntries(busiest),
      // Events from addresses beyond SUMMARY_ADDRESSES_MAX, not told apart.
      ...(this.otherAddresses > 0 ? { otherAddressEvents: this.otherAddresses } : {}),
    });
    this.counts.clear();
    this.addresses.clear();
    this.otherAddresses = 0;
    this.total = 0;
  }
}
