// RocketMQ's latency fault tolerance (sendLatencyFaultEnable, off by default): a broker group
// whose sends were slow, or failed, is avoided for a while by new unkeyed sends. Off by default
// because when every group had a hiccup, avoiding them all leaves none (then any is used).

/** Observed latency thresholds (ms) and how long each makes the group unavailable (ms). */
export const LATENCY_MAX_MS: readonly number[] = [50, 100, 550, 1800, 3000, 5000, 15_000];
export const NOT_AVAILABLE_MS: readonly number[] = [0, 0, 2000, 5000, 6000, 10_000, 30_000];
/** A failed try counts as this latency (RocketMQ 5's isolation value). */
export const FAILURE_AS_LATENCY_MS = 10_000;

/** How long a send that took `latencyMs` makes its group unavailable. */
export function notAvailableMs(latencyMs: number): number {
  for (let i = LATENCY_MAX_MS.length - 1; i >= 0; i--) {
    if (latencyMs >= LATENCY_MAX_MS[i]!) return NOT_AVAILABLE_MS[i]!;
  }
  return 0;
}

export class LatencyFaultTolerance {
  /** Group -> time (Date.now()) before which it is avoided. Bounded by the groups a producer
   *  sends to (the route's groups). */
  private readonly until = new Map<string, number>();

  /** A try to `group` took `latencyMs` (or failed, `failed`). */
  update(group: string, latencyMs: number, failed: boolean, now: number): void {
    const ms = notAvailableMs(failed ? Math.max(latencyMs, FAILURE_AS_LATENCY_MS) : latencyMs);
    if (ms === 0) {
      this.until.delete(group);
      return;
    }
    this.until.set(group, now + ms);
  }

  isAvailable(group: string, now: number): boolean {
    const t = this.until.get(group);
    if (t === undefined) return true;
    if (now >= t) {
      this.until.delete(group);
      return true;
    }
    return false;
  }

  /** Forgets groups no route names any more. */
  retain(groups: ReadonlySet<string>): void {
    for (const g of this.until.keys()) if (!groups.has(g)) this.until.delete(g);
  }
}
