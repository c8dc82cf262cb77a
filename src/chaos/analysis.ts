// The runner's side of the checker and the report (checker.ts, report.ts and summary.ts are
// their own modules): one place that calls them, so the runner does not depend on their
// internals.
import { checkHistory, type CheckResult } from './checker.ts';
import type { HistoryEvent, ReplicaDump } from './history.ts';
import { renderReport, type ReportMeta } from './report.ts';
import { summaryLine } from './summary.ts';

export interface RunMeta {
  readonly nodes: number;
  readonly durationS: number;
  readonly seed: number;
  readonly faults: readonly string[];
  readonly skipped: readonly { readonly fault: string; readonly reason: string }[];
  readonly startedAt: string;
  readonly namespaces: boolean;
  readonly delayMode: string;
  /** --retention, when given. */
  readonly retentionS?: number;
}

/** Every client of a run lives in the runner's process and stamps `t` from one monotonic clock,
 *  so real-time order between clients is meaningful: the ordering rules apply across them. */
export function check(events: readonly HistoryEvent[], dumps: readonly ReplicaDump[]): CheckResult {
  return checkHistory(events, dumps, { orderAcrossClients: true });
}

export function summarize(result: CheckResult, meta: RunMeta): string {
  return summaryLine(result, { nodes: meta.nodes, durationS: meta.durationS });
}

export function renderHtml(events: readonly HistoryEvent[], result: CheckResult, meta: RunMeta): string {
  return renderReport(events, result, reportMeta(meta));
}

function reportMeta(meta: RunMeta): ReportMeta {
  const where = meta.namespaces ? 'network namespaces' : '127.0.0.1';
  const skipped = meta.skipped.length > 0 ? `; skipped: ${meta.skipped.map((s) => s.fault).join(', ')}` : '';
  return {
    title: `raftmq chaos: ${meta.nodes} nodes, ${meta.durationS} s (${where}, started ${meta.startedAt}${skipped})`,
    nodes: meta.nodes,
    seed: meta.seed,
    faults: [...meta.faults],
    durationS: meta.durationS,
  };
}
