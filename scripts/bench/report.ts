// Summaries of runs: medians over runs, and the --compare Markdown table.
import type { BenchFigures, FlushType } from './run.ts';

/** One cell of the --compare matrix: its figures, or null when its runs failed. */
export interface CompareCell {
  readonly nodes: number;
  readonly size: number;
  readonly inflight: number;
  readonly flush: FlushType;
  readonly figures: BenchFigures | null;
  /** Sends that failed in the measured windows (the figures count only acked ones). */
  readonly failedSends: number;
  /** Busy CPU of other processes on the machine during the window, 100 = one core, an estimate
   *  clamped at 0 (see RunResult.otherCpuPercent); NaN if unknown. */
  readonly otherCpuPercent: number;
  /** An error, or why a window was cut short; '' when none. */
  readonly note: string;
}

export interface ReportContext {
  readonly date: string;
  readonly machine: string;
  /** What the machine itself measured at the start (machine-figures.ts), as one line. */
  readonly machineFigures: string;
  readonly commit: string;
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly runs: number;
  readonly producers: number;
}

export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

type NumericKey = { [K in keyof BenchFigures]: BenchFigures[K] extends number ? K : never }[keyof BenchFigures];
const MEDIAN_KEYS: readonly NumericKey[] = [
  'msgsPerSec', 'mbPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'serverCpuSecPer100k', 'clientCpuSecPer100k', 'serverRssMiB',
];

/** Each figure's median over the runs, on its own (the median run of one figure need not be
 *  the median run of another). Runs must share nodes, size, inflight and flush. */
export function medianFigures(runs: readonly BenchFigures[]): BenchFigures {
  if (runs.length === 0) throw new Error('no runs');
  const out: Record<string, number | string> = { ...runs[0] };
  for (const k of MEDIAN_KEYS) {
    const m = median(runs.map((r) => r[k]));
    out[k] = k === 'msgsPerSec' ? Math.round(m) : Number(m.toPrecision(6));
  }
  return out as unknown as BenchFigures;
}

const COLUMNS = [
  'nodes', 'size B', 'inflight', 'flush', 'msgs/s', 'MB/s', 'p50 ms', 'p99 ms', 'p99.9 ms',
  'server CPU s/100k', 'client CPU s/100k', 'server RSS MiB', 'failed sends', 'other load CPU %', 'note',
] as const;

const cellText = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const num = (x: number): string => (Number.isFinite(x) ? String(x) : '-');

export function markdownTable(cells: readonly CompareCell[]): string {
  const lines = [`| ${COLUMNS.join(' | ')} |`, `|${COLUMNS.map((_, i) => (i < 4 || i === COLUMNS.length - 1 ? '---|' : '---:|')).join('')}`];
  for (const c of cells) {
    const f = c.figures;
    const figures = f
      ? [f.msgsPerSec, f.mbPerSec, f.p50Ms, f.p99Ms, f.p999Ms, f.serverCpuSecPer100k, f.clientCpuSecPer100k, f.serverRssMiB].map(num)
      : Array<string>(8).fill('-');
    const row = [String(c.nodes), String(c.size), String(c.inflight), c.flush, ...figures, String(c.failedSends), num(c.otherCpuPercent), cellText(c.note || (f ? '' : 'failed'))];
    lines.push(`| ${row.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function markdownReport(cells: readonly CompareCell[], ctx: ReportContext): string {
  return [
    '# raftmq benchmark matrix',
    '',
    `${ctx.date}, ${ctx.machine}, commit ${ctx.commit}.`,
    `Machine figures measured before the matrix (they move from day to day on a shared machine; compare them before comparing two reports): ${ctx.machineFigures}.`,
    `Each cell: a fresh local group on 127.0.0.1, ${ctx.warmupSec} s warmup, ${ctx.durationSec} s measured,` +
      ` ${ctx.runs} run(s) (medians), load from ${ctx.producers} producer process(es) of raftmq's own client;` +
      ' "inflight" = that many independent send() calls each awaiting its own ack.',
    'Latency is per send, call to ack. CPU is user+system time from /proc/<pid>/stat over the measured window,' +
      ' all replicas together (server) or all load processes (client), per 100,000 acked messages.' +
      ' MB/s counts message bodies (10^6 bytes). RSS is the largest replica\'s VmRSS at the end.' +
      ' "Other load" is the busy CPU of every other process on the machine in the window (100 = one core): what competed with the run;' +
      ' an estimate (machine busy time from /proc/stat minus the run\'s own CPU, two differently kept clocks), good to about 10, shown as 0 when it comes out negative.',
    '',
    markdownTable(cells),
    '',
    '![msgs/s and p99 per cell](bench.svg)',
    '',
  ].join('\n');
}
