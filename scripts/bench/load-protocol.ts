// Messages between the bench driver and its load children (Node IPC, one JSON object each).
import type { HistogramJson } from './histogram.ts';

/** What a child is told at start (its one argv argument, as JSON). */
export interface LoadChildConfig {
  /** The one group's replicas; or, with several groups, `namesrv`. */
  readonly servers?: readonly string[];
  /** NameServer addresses: the producer routes over every group's queues. */
  readonly namesrv?: readonly string[];
  /** Idempotent sends (the Producer's default) or not. */
  readonly idempotence: boolean;
  readonly topic: string;
  readonly size: number;
  /** Concurrent send loops in this child, each awaiting its own ack. */
  readonly inflight: number;
}

export type DriverMessage =
  /** Start the measured window: counters and histogram from zero. */
  | { readonly type: 'measure' }
  /** Progress since the previous poll (warmup included). */
  | { readonly type: 'poll' }
  /** End the measured window, answer with the result, drain and exit. */
  | { readonly type: 'stop' };

export interface ProgressReport {
  readonly type: 'progress';
  readonly acked: number;
  readonly failed: number;
  readonly hist: HistogramJson;
}

export interface WindowResult {
  readonly type: 'result';
  /** Sends acknowledged inside the window (whenever they were made). */
  readonly acked: number;
  readonly failed: number;
  readonly firstError: string;
  /** The window as this child saw it, from `measure` to `stop`. */
  readonly seconds: number;
  /** Latency of every send acknowledged inside the window, call to ack. */
  readonly hist: HistogramJson;
  /** This process's garbage-collector pauses inside the window (every one stalls all its sends). */
  readonly gcPauseMs: number;
}

export type ChildMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'fatal'; readonly error: string }
  | ProgressReport
  | WindowResult;
