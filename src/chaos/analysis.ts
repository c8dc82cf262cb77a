// The runner's side of the checker and the report (checker.ts, report.ts and summary.ts are
// their own modules): one place that calls them, so the runner does not depend on their
// internals.
import { checkHistory, type CheckOptions, type CheckResult } from './checker.ts';
import type { HistoryEvent, ReplicaDump } from './history.ts';
import { renderReport, type ReportMeta } from './report.ts';
import { summaryLine } from './summary.ts';

export interface RunMeta {
  /** Replicas per broker group. */
  readonly nodes: number;
  /** Broker groups (absent in findings written before groups: one). */
  readonly groups?: number;
  /** NameServer processes. */
  readonly namesrvs?: number;
  /** The workload's producers were idempotent. */
  readonly idempotence?: boolean;
  readonly durationS: number;
  readonly seed: number;
  readonly faults: readonly string[];
  readonly skipped: readonly { readonly fault: string; readonly reason: string }[];
  readonly startedAt: string;
  readonly namespaces: boolean;
  readonly delayMode: string;
  /** --retention, when given. */
  readonly retentionS?: number;
  /** --push-consumers and --push-orderly, when consumers ran. */
  readonly pushConsumers?: number;
  readonly pushOrderly?: boolean;
}

/** Every client of a run lives in the runner's process and stamps `t` from one monotonic clock,
 *  so real-time order between clients is meaningful: the ordering rules apply across them. */
export function check(events: readonly HistoryEvent[], dumps: readonly ReplicaDump[], options: Pick<CheckOptions, 'idempotentProducers'> = {}): CheckResult {
  return checkHistory(events, dumps, { ...options, orderAcrossClients: true });
}

export function summarize(result: CheckResult, meta: RunMeta): string {
  return summaryLine(result, { nodes: meta.nodes, durationS: meta.durationS });
}

export function renderHtml(events: readonly HistoryEvent[], result: CheckResult, meta: RunMeta): string {
  return renderReport(events, result, reportMeta(meta));
}

function reportMeta(meta: RunMeta): ReportMeta {
  const where = meta.namespaces ? 'network namespaces' : '127.0.0.1';
  const groups = meta.groups ?? 1;
  const shape = groups > 1 ? `${groups} groups of ${meta.nodes} nodes, ${meta.namesrvs ?? 0} NameServer${meta.namesrvs === 1 ? '' : 's'}` : `${meta.nodes} nodes`;
  const skipped = meta.skipped.length > 0 ? `; skipped: ${meta.skipped.map((s) => s.fault).join(', ')}` : '';
  const consumers = meta.pushConsumers ? `, ${meta.pushConsumers} push consumer${meta.pushConsumers === 1 ? '' : 's'}${meta.pushOrderly ? ' (orderly)' : ''}` : '';
  return {
    title: `raftmq chaos: ${shape}${consumers}, ${meta.durationS} s (${where}, started ${meta.startedAt}${skipped})`,
    nodes: meta.nodes,
    ...(groups > 1 ? { groups } : {}),
    seed: meta.seed,
    faults: [...meta.faults],
    durationS: meta.durationS,
  };
}
