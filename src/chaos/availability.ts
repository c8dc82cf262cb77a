// Availability in a chaos history: which fault injections made writes fail and for how long
// (recovery), the longest stretch without an acknowledged write (stall), and unavailability
// outside any fault. The rules are in checker.ts's header.

import { lowerBound, percentile, push, upperBound } from './findings.ts';
import type { HistoryEvent } from './history.ts';

/** One injected fault, from its start to its heal. */
export interface FaultWindow {
  readonly fault: string;
  readonly faultId: number;
  readonly detail?: string;
  readonly startT: number;
  /** Heal time, or the end of the run when it was never healed. */
  readonly endT: number;
  readonly healed: boolean;
  /** Failures invoked in [startT, untilT] are this fault's (end + grace, cut at the next injection). */
  readonly untilT: number;
}

export interface FaultImpact extends FaultWindow {
  /** Set when a write failed: the failure's invoke time, the recovering 'ok', the window. */
  readonly firstFailureT?: number;
  readonly firstError?: string;
  readonly recoveredT?: number;
  readonly recoveryMs?: number;
  readonly stallMs: number;
}

export interface FaultStats {
  readonly injections: number;
  /** Injections that caused unavailability (a failed or unknown write). */
  readonly count: number;
  readonly p50: number;
  readonly max: number;
  readonly stallP50: number;
  readonly stallMax: number;
}

export interface UnavailableWindow {
  readonly fromT: number;
  readonly toT: number;
  readonly durationMs: number;
  readonly recovered: boolean;
  readonly failures: number;
  readonly firstError: string;
}

/** A send attempt that ended 'fail' or 'unknown'. */
export interface Failure {
  readonly invokeT: number;
  readonly endT: number;
  readonly error: string;
}

/** Attempt outcomes needed for availability, as sorted columns. */
export interface Attempts {
  /** 'ok' attempts sorted by invoke time, with the earliest 'ok' time from each position on. */
  readonly okInvokeT: Float64Array;
  readonly okEarliestFrom: Float64Array;
  /** 'ok' times, sorted. */
  readonly okT: Float64Array;
  /** fail / unknown attempts sorted by invoke time. */
  readonly failures: Failure[];
}

/** The columns of Attempts from the 'ok' (invoke, done) pairs and the failures. */
export function sortAttempts(okPairs: [number, number][], failures: Failure[]): Attempts {
  okPairs.sort((a, b) => a[0] - b[0]);
  const n = okPairs.length;
  const okInvokeT = new Float64Array(n);
  const okEarliestFrom = new Float64Array(n);
  const okT = new Float64Array(n);
  let earliest = Infinity;
  for (let i = n - 1; i >= 0; i--) {
    const [invokeT, doneT] = okPairs[i];
    okInvokeT[i] = invokeT;
    okT[i] = doneT;
    earliest = Math.min(earliest, doneT);
    okEarliestFrom[i] = earliest;
  }
  okT.sort();
  failures.sort((a, b) => a.invokeT - b.invokeT);
  return { okInvokeT, okEarliestFrom, okT, failures };
}

export function faultWindows(events: readonly HistoryEvent[], runEndT: number, graceMs: number): FaultWindow[] {
  const starts = new Map<number, Extract<HistoryEvent, { op: 'fault' }>>();
  const ends = new Map<number, number>();
  for (const ev of events) {
    if (ev.op !== 'fault') continue;
    if (ev.type === 'start') starts.set(ev.faultId, ev);
    else ends.set(ev.faultId, ev.t);
  }
  const sorted = [...starts.values()].sort((a, b) => a.t - b.t);
  return sorted.map((s, i) => {
    const end = ends.get(s.faultId);
    const endT = end ?? runEndT;
    const nextStartT = sorted[i + 1]?.t ?? Infinity;
    const untilT = Math.min(runEndT, Math.max(endT, Math.min(endT + graceMs, nextStartT)));
    return { fault: s.fault, faultId: s.faultId, detail: s.detail, startT: s.t, endT, healed: end !== undefined, untilT };
  });
}

export function measureFault(f: FaultWindow, attempts: Attempts, runEndT: number): FaultImpact {
  const base = { ...f, stallMs: longestGapWithoutOk(attempts.okT, f.startT, f.untilT) };
  const i = lowerBound(attempts.failures, f.startT, (x) => x.invokeT);
  const failure = attempts.failures[i];
  if (!failure || failure.invokeT > f.untilT) return base;
  const recoveredT = earliestOkInvokedAfter(attempts, failure.invokeT);
  const closedT = recoveredT ?? runEndT;
  return { ...base, firstFailureT: failure.invokeT, firstError: failure.error, recoveredT, recoveryMs: closedT - failure.invokeT };
}

export function windowsOutsideFaults(faults: FaultWindow[], attempts: Attempts, runEndT: number): UnavailableWindow[] {
  const windows: UnavailableWindow[] = [];
  let open: { fromT: number; toT: number; recovered: boolean; failures: number; firstError: string } | undefined;
  for (const failure of attempts.failures) {
    if (touchesAnyFault(faults, failure)) continue;
    if (open && failure.invokeT < open.toT) {
      open.failures++;
      continue;
    }
    if (open) windows.push(closeWindow(open));
    const recoveredT = earliestOkInvokedAfter(attempts, failure.invokeT);
    open = { fromT: failure.invokeT, toT: recoveredT ?? runEndT, recovered: recoveredT !== undefined, failures: 1, firstError: failure.error };
  }
  if (open) windows.push(closeWindow(open));
  return windows;
}

function closeWindow(w: { fromT: number; toT: number; recovered: boolean; failures: number; firstError: string }): UnavailableWindow {
  return { ...w, durationMs: w.toT - w.fromT };
}

/** Faults are few (one per interval), so a linear scan per failure is cheap enough. */
function touchesAnyFault(faults: FaultWindow[], failure: Failure): boolean {
  for (const f of faults) if (failure.endT >= f.startT && failure.invokeT <= f.untilT) return true;
  return false;
}

function earliestOkInvokedAfter(attempts: Attempts, t: number): number | undefined {
  const i = upperBound(attempts.okInvokeT, t);
  return i < attempts.okEarliestFrom.length ? attempts.okEarliestFrom[i] : undefined;
}

/** The longest stretch of [from, to] with no 'ok' completing in it. */
function longestGapWithoutOk(okT: Float64Array, from: number, to: number): number {
  if (to <= from) return 0;
  let prev = from;
  let longest = 0;
  for (let i = upperBound(okT, from); i < okT.length && okT[i] <= to; i++) {
    longest = Math.max(longest, okT[i] - prev);
    prev = okT[i];
  }
  return Math.max(longest, to - prev);
}

export function statsByFault(recovery: FaultImpact[]): Record<string, FaultStats> {
  const groups = new Map<string, FaultImpact[]>();
  for (const r of recovery) push(groups, r.fault, r);
  const stats: Record<string, FaultStats> = {};
  for (const [fault, list] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) {
    const windows = list.flatMap((r) => (r.recoveryMs === undefined ? [] : [r.recoveryMs])).sort((a, b) => a - b);
    const stalls = list.map((r) => r.stallMs).sort((a, b) => a - b);
    stats[fault] = {
      injections: list.length,
      count: windows.length,
      p50: percentile(windows, 0.5),
      max: windows.at(-1) ?? 0,
      stallP50: percentile(stalls, 0.5),
      stallMax: stalls.at(-1) ?? 0,
    };
  }
  return stats;
}
