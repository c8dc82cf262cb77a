// A process's own garbage-collector pauses over a window, for the bench's load processes and
// bench:client: each pause holds back every send the process has in flight.
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';

export class GcPauses {
  pauseMs = 0;
  scavenges = 0;
  fullGcs = 0;
  private fromMs = Infinity;
  private toMs = Infinity;
  private readonly observer = new PerformanceObserver((list) => this.count(list.getEntries()));

  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  /** Zeroes the counts; GCs that start from now on count. */
  start(): void {
    this.pauseMs = this.scavenges = this.fullGcs = 0;
    this.fromMs = performance.now();
    this.toMs = Infinity;
  }

  /** GCs that start after now no longer count. Resolves once the ones before are all counted:
   *  Node hands a GC's entry to observers from a later turn of the event loop. */
  async stop(): Promise<void> {
    this.toMs = performance.now();
    for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
    this.count(this.observer.takeRecords());
  }

  close(): void {
    this.observer.disconnect();
  }

  private count(entries: readonly PerformanceEntry[]): void {
    for (const e of entries) {
      if (e.startTime < this.fromMs || e.startTime >= this.toMs) continue;
      this.pauseMs += e.duration;
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) this.scavenges++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.fullGcs++;
    }
  }
}
