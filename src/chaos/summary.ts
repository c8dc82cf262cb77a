// The one JSON line a chaos run ends with (the issue fixes its shape and key order).
import type { CheckResult } from './checker.ts';

export interface SummaryMeta {
  readonly nodes: number;
  readonly durationS: number;
}

export interface RecoverySummary {
  readonly p50: number;
  readonly max: number;
  readonly count: number;
}

/** `{"nodes":N,"durationS":N,"faults":N,"acked":N,"lost":N,"duplicated":N,"reordered":N,
 *  "divergent":N,"recoveryMs":{"<fault>":{"p50":N,"max":N,"count":N}}}`: faults is the number of
 *  injections; every injected fault is listed, count 0 when none caused unavailability. */
export function summaryLine(result: CheckResult, meta: SummaryMeta): string {
  const recoveryMs: Record<string, RecoverySummary> = {};
  for (const [fault, s] of Object.entries(result.recoveryByFault)) {
    recoveryMs[fault] = { p50: Math.round(s.p50), max: Math.round(s.max), count: s.count };
  }
  return JSON.stringify({
    nodes: meta.nodes,
    durationS: meta.durationS,
    faults: result.faultInjections,
    acked: result.sends.acked,
    lost: result.lost.count,
    duplicated: result.duplicated.count,
    reordered: result.reordered.count,
    divergent: result.divergent.count,
    recoveryMs,
  });
}
