// Writes history events as JSON lines while the run goes on: buffered, flushed every
// FLUSH_INTERVAL_MS or once BUFFER_BYTES_MAX is reached, with synchronous writes so memory stays
// bounded and nothing is lost at exit. Also stamps each event with `t` and `wall`.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { formatEvent, type HistoryEvent } from './history.ts';

const BUFFER_BYTES_MAX = 1024 * 1024;
const FLUSH_INTERVAL_MS = 200;

/** An event before the recorder stamps it. */
export type UnstampedEvent = HistoryEvent extends infer E ? (E extends HistoryEvent ? Omit<E, 't' | 'wall'> : never) : never;

export class HistoryRecorder {
  private readonly fd: number;
  private buffer: string[] = [];
  private bufferBytes = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly startPerf = performance.now();
  private closed = false;

  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'w');
    this.timer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Milliseconds since the run started (monotonic). */
  now(): number {
    return Math.round((performance.now() - this.startPerf) * 10) / 10;
  }

  /** Milliseconds since the run started of an epoch time read as performance.timeOrigin +
   *  performance.now() in any process of this machine (consumer-member.ts's clock). */
  fromEpoch(epochMs: number): number {
    return Math.round((epochMs - performance.timeOrigin - this.startPerf) * 10) / 10;
  }

  record(ev: UnstampedEvent): void {
    this.recordAt(ev, this.now());
  }

  /** Records an event that happened at `t` (ms since the start; another process's, fromEpoch). */
  recordAt(ev: UnstampedEvent, t: number): void {
    if (this.closed) return;
    const stamped = { t, wall: Math.round(performance.timeOrigin + this.startPerf + t), ...ev } as HistoryEvent;
    const line = formatEvent(stamped) + '\n';
    this.buffer.push(line);
    this.bufferBytes += line.length;
    if (this.bufferBytes >= BUFFER_BYTES_MAX) this.flush();
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    fs.writeSync(this.fd, this.buffer.join(''));
    this.buffer = [];
    this.bufferBytes = 0;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    clearInterval(this.timer);
    fs.closeSync(this.fd);
  }
}
