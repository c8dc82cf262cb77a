// The data the chaos report draws: per-second throughput, failures and latency of the sends, and
// the master changes the monitor saw (per group when the run has several).
import { percentile } from './findings.ts';
import type { HistoryEvent } from './history.ts';

export interface ReportMeta {
  readonly title: string;
  readonly nodes: number;
  /** Broker groups of the run (absent: one). */
  readonly groups?: number;
  readonly seed?: number;
  readonly faults: string[];
  readonly durationS: number;
}

/** Per second of the run (index = second): acks, failed or unknown outcomes, latency of acks. */
export interface TimelineSeries {
  readonly seconds: number;
  readonly acked: number[];
  readonly failed: number[];
  /** NaN for a second without acks. */
  readonly p50: number[];
  readonly p99: number[];
}

export interface MasterChange {
  readonly t: number;
  /** The broker group; absent when the run has one group. */
  readonly group?: string;
  /** '' when no replica answered as master. */
  readonly node: string;
  readonly term?: number;
}


export function timelineSeries(events: readonly HistoryEvent[]): TimelineSeries {
  const invokedAt = new Map<string, number>();
  const latencies: number[][] = [];
  const acked: number[] = [];
  const failed: number[] = [];
  let lastT = 0;
  for (const ev of events) {
    if (ev.t > lastT) lastT = ev.t;
    if (ev.op !== 'send') continue;
    if (ev.type === 'invoke') {
      invokedAt.set(ev.id, ev.t);
      continue;
    }
    const second = Math.max(0, Math.floor(ev.t / 1000));
    const latency = ev.latencyMs ?? ev.t - (invokedAt.get(ev.id) ?? ev.t);
    invokedAt.delete(ev.id);
    if (ev.type === 'ok') {
      acked[second] = (acked[second] ?? 0) + 1;
      (latencies[second] ??= []).push(latency);
    } else {
      failed[second] = (failed[second] ?? 0) + 1;
    }
  }
  const seconds = Math.max(1, Math.ceil(lastT / 1000));
  const p50: number[] = [];
  const p99: number[] = [];
  for (let s = 0; s < seconds; s++) {
    const sorted = (latencies[s] ?? []).sort((a, b) => a - b);
    p50.push(sorted.length ? percentile(sorted, 0.5) : NaN);
    p99.push(sorted.length ? percentile(sorted, 0.99) : NaN);
    acked[s] ??= 0;
    failed[s] ??= 0;
  }
  return { seconds, acked: acked.slice(0, seconds), failed: failed.slice(0, seconds), p50, p99 };
}

/** The monitor's master observations, keeping only changes (of each group's master). */
export function masterChanges(events: readonly HistoryEvent[]): MasterChange[] {
  const changes: MasterChange[] = [];
  const last = new Map<string, string>();
  for (const ev of events) {
    if (ev.op !== 'master') continue;
    const group = ev.group ?? '';
    if (last.get(group) === ev.node) continue;
    last.set(group, ev.node);
    changes.push({ t: ev.t, ...(ev.group !== undefined ? { group: ev.group } : {}), node: ev.node, term: ev.term });
  }
  return changes;
}

/** A master change's label: the node, after its group when the run has several. */
export function masterLabel(m: MasterChange): string {
  return m.group !== undefined && m.node !== '' ? `${m.group}:${m.node}` : m.node;
}

