// The one JSON line a chaos run ends with (the issue fixes its shape and key order).
import type { CheckResult, ConsumeResult } from './checker.ts';

export interface SummaryMeta {
  readonly nodes: number;
  readonly durationS: number;
}

export interface RecoverySummary {
  readonly p50: number;
  readonly max: number;
  readonly count: number;
}

export interface GroupSummary {
  readonly acked: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
  readonly divergent: number;
}

/** `{"nodes":N,"durationS":N,"faults":N,"acked":N,"lost":N,"duplicated":N,"reordered":N,
 *  "divergent":N,"recoveryMs":{"<fault>":{"p50":N,"max":N,"count":N}}}`: faults is the number of
 *  injections; every injected fault is listed, count 0 when none caused unavailability. Then,
 *  only when they apply: `"idempotent":true` (every producer was: any duplicate is a finding) and
 *  `"groups":{"<brokerName>":{"acked":N,"lost":N,"duplicated":N,"reordered":N,"divergent":N}}`
 *  for a run of several broker groups (nodes is then per group), and `"consumers":{..}` for a run
 *  with consumer groups (consumersSummary). */
export function summaryLine(result: CheckResult, meta: SummaryMeta): string {
  const recoveryMs: Record<string, RecoverySummary> = {};
  for (const [fault, s] of Object.entries(result.recoveryByFault)) {
    recoveryMs[fault] = { p50: Math.round(s.p50), max: Math.round(s.max), count: s.count };
  }
  const groups: Record<string, GroupSummary> = {};
  for (const g of result.groups) groups[g.group] = { acked: g.acked, lost: g.lost, duplicated: g.duplicated, reordered: g.reordered, divergent: g.divergent };
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
    ...(result.idempotentProducers ? { idempotent: true } : {}),
    ...(result.groups.length > 1 ? { groups } : {}),
    ...(result.consumers ? { consumers: consumersSummary(result.consumers) } : {}),
  });
}

/** With consumer groups: `"consumers":{"consumed":N,"unconsumed":N,"overlaps":N,
 *  "overlapsInRebalance":N,"duplicateConsumptions":N,"retries":N,"orderly":N,"dlq":N}`. */
function consumersSummary(c: ConsumeResult): Record<string, number> {
  const sum = (f: (g: ConsumeResult['groups'][number]) => number): number => c.groups.reduce((n, g) => n + f(g), 0);
  return {
    consumed: sum((g) => g.consumed),
    unconsumed: c.unconsumed.count,
    overlaps: c.overlaps.count,
    overlapsInRebalance: c.overlapsInRebalance,
    duplicateConsumptions: c.duplicateConsumptions,
    retries: c.retries.count,
    orderly: c.orderly.count,
    dlq: sum((g) => g.dlq),
  };
}
