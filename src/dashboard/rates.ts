// Counters and histograms scraped from the replicas' /metrics turned into per-second rates and
// latency quantiles between two scrapes, summed over the replicas (the master changes; a replica
// that restarted starts its counters again, which counts as no change, never as a negative rate).
import { histogramBuckets, parsePrometheusText, quantileBetween, sumOf, type Sample } from '../metrics/index.ts';

/** What one scrape of one replica gives the charts. */
export interface ScrapeFigures {
  readonly atMs: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly sendBuckets: ReadonlyMap<number, number>;
  readonly appendBuckets: ReadonlyMap<number, number>;
}

export function figuresOf(text: string, atMs: number): ScrapeFigures {
  const samples: Sample[] = parsePrometheusText(text);
  return {
    atMs,
    messagesIn: sumOf(samples, 'raftmq_broker_messages_in_total'),
    messagesOut: sumOf(samples, 'raftmq_broker_messages_out_total'),
    sendBuckets: histogramBuckets(samples, 'raftmq_broker_send_seconds'),
    appendBuckets: histogramBuckets(samples, 'raftmq_raft_append_seconds'),
  };
}

/** One point of the charts. */
export interface RatePoint {
  readonly atMs: number;
  readonly inPerSec: number;
  readonly outPerSec: number;
  /** Send latency quantiles in ms over the interval (null: no send in it). */
  readonly sendP50Ms: number | null;
  readonly sendP99Ms: number | null;
  readonly appendP99Ms: number | null;
}

/** Buckets `after` minus `before`, counted as none where a counter went back (a restart). */
function bucketDelta(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>, into: Map<number, number>): void {
  const restarted = [...after].some(([le, n]) => n < (before.get(le) ?? 0));
  for (const [le, n] of after) into.set(le, (into.get(le) ?? 0) + (restarted ? 0 : n - (before.get(le) ?? 0)));
}

const ms = (seconds: number): number | null => (Number.isFinite(seconds) ? Math.round(seconds * 1e5) / 100 : null);

/** The point between each replica's previous and current scrape (pairs of the same replica). */
export function ratePoint(pairs: readonly { readonly before: ScrapeFigures; readonly after: ScrapeFigures }[], atMs: number): RatePoint {
  let inPerSec = 0;
  let outPerSec = 0;
  const send = new Map<number, number>();
  const append = new Map<number, number>();
  const empty = new Map<number, number>();
  for (const { before, after } of pairs) {
    const seconds = (after.atMs - before.atMs) / 1000;
    if (seconds <= 0) continue;
    inPerSec += Math.max(0, after.messagesIn - before.messagesIn) / seconds;
    outPerSec += Math.max(0, after.messagesOut - before.messagesOut) / seconds;
    bucketDelta(before.sendBuckets, after.sendBuckets, send);
    bucketDelta(before.appendBuckets, after.appendBuckets, append);
  }
  return {
    atMs,
    inPerSec: Math.round(inPerSec),
    outPerSec: Math.round(outPerSec),
    sendP50Ms: ms(quantileBetween(empty, send, 0.5)),
    sendP99Ms: ms(quantileBetween(empty, send, 0.99)),
    appendP99Ms: ms(quantileBetween(empty, append, 0.99)),
  };
}
