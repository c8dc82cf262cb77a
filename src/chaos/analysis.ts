// The runner's side of the checker and the report (checker.ts, report.ts, summary.ts are their own
// modules): one place that calls them, so the runner does not depend on their internals.
// The report module is loaded when present; without it a plain page links the findings.
import type { HistoryEvent, ReplicaDump } from './history.ts';
import { checkHistory, type CheckResult } from './checker.ts';
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
}

/** Every client of a run lives in the runner's process and stamps `t` from one monotonic clock,
 *  so real-time order between clients is meaningful: the ordering rules apply across them. */
export function check(events: readonly HistoryEvent[], dumps: readonly ReplicaDump[]): CheckResult {
  return checkHistory(events, dumps, { orderAcrossClients: true });
}

export function summarize(result: CheckResult, meta: RunMeta): string {
  return summaryLine(result, { nodes: meta.nodes, durationS: meta.durationS });
}

/** report.ts's meta (kept structural: the module may be absent). */
interface ReportMeta {
  readonly title: string;
  readonly nodes: number;
  readonly seed?: number;
  readonly faults: string[];
  readonly durationS: number;
}
type RenderReport = (events: readonly HistoryEvent[], result: CheckResult, meta: ReportMeta) => string;

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

export async function renderHtml(events: readonly HistoryEvent[], result: CheckResult, meta: RunMeta): Promise<string> {
  // A variable specifier keeps this file compiling while report.ts is not there yet.
  const reportModule = './report.ts';
  try {
    const mod = (await import(reportModule)) as { renderReport?: RenderReport };
    if (typeof mod.renderReport === 'function') return mod.renderReport(events, result, reportMeta(meta));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  const esc = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
  return `<!doctype html><meta charset="utf-8"><title>raftmq chaos</title><h1>raftmq chaos run</h1><p>report.ts not available; findings:</p><pre>${esc(JSON.stringify({ meta, result }, null, 2))}</pre>`;
}
