// The HTML report of a chaos run: one self-contained page (inline CSS and SVG, no scripts, no
// external resources) that shows at a glance what the faults did: a timeline of throughput,
// latency and failed writes per second with the fault windows shaded and every master change
// marked, then the verdict, the findings with their first examples and recovery per fault
// (tables in report-tables.ts, data in report-data.ts).
import type { CheckResult, FaultImpact } from './checker.ts';
import type { HistoryEvent } from './history.ts';
import { masterChanges, masterLabel, timelineSeries, type MasterChange, type ReportMeta, type TimelineSeries } from './report-data.ts';
import { esc, fmtClock, fmtCount, fmtMs, fmtS, maxOf, n, niceCeil } from './report-format.ts';
import {
  metaLine,
  renderFindings,
  renderGroups,
  renderHeadline,
  renderInjections,
  renderMasters,
  renderOutside,
  renderRecoveryByFault,
  verdictBadge,
} from './report-tables.ts';
import { renderConsumers } from './report-consumers.ts';
import { summaryLine } from './summary.ts';

export { masterChanges, timelineSeries, type MasterChange, type ReportMeta, type TimelineSeries } from './report-data.ts';
export { esc } from './report-format.ts';

export function renderReport(events: readonly HistoryEvent[], result: CheckResult, meta: ReportMeta): string {
  const series = timelineSeries(events);
  const masters = masterChanges(events);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(meta.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${esc(meta.title)} ${verdictBadge(result)}</h1>
<p class="meta">${esc(metaLine(meta, result))}</p>
</header>
${renderHeadline(result)}
${renderGroups(result)}
${renderConsumers(result)}
<section>
<h2>Timeline</h2>
${renderTimeline(series, result, masters, meta)}
</section>
<section>
<h2>Recovery per fault</h2>
${renderRecoveryByFault(result)}
</section>
<section>
<h2>Findings</h2>
${renderFindings(result)}
</section>
<section>
<h2>Unavailability outside fault windows</h2>
${renderOutside(result)}
</section>
<section>
<h2>Fault injections</h2>
${renderInjections(result.recovery)}
</section>
<section>
<h2>Master changes</h2>
${renderMasters(masters)}
</section>
<section>
<h2>Summary line</h2>
<pre>${esc(summaryLine(result, meta))}</pre>
</section>
</body>
</html>
`;
}


// ---------------------------------------------------------------------------------------------
// The SVG timeline

const W = 1200;
const LEFT = 70;
const RIGHT = 20;
const PLOT_W = W - LEFT - RIGHT;
const LANE_ROW = 16;
const THROUGHPUT_H = 170;
const LATENCY_H = 170;
const FAILED_H = 60;
const GAP = 26;
const FAULT_COLORS = ['#f4a261', '#8ecae6', '#b5a1e0', '#95d5b2', '#f28482', '#e9c46a', '#84a59d', '#cdb4db', '#ffafcc', '#a3c4f3'];

interface Frame {
  /** Run time in ms -> x. */
  readonly x: (tMs: number) => number;
  readonly runMs: number;
}

function renderTimeline(series: TimelineSeries, result: CheckResult, masters: MasterChange[], meta: ReportMeta): string {
  const runMs = Math.max(series.seconds * 1000, result.runEndT, meta.durationS * 1000, 1000);
  const frame: Frame = { runMs, x: (t) => LEFT + (Math.min(Math.max(t, 0), runMs) / runMs) * PLOT_W };
  const colors = faultColors(result.recovery, meta.faults);

  const faultLabels = placeLabels(result.recovery.map((f) => ({ x: frame.x(f.startT), text: f.fault })));
  // 'no master' gets a grey line but no label: after every kill it would crowd the lane.
  const masterLabels = placeLabels(masters.map((m) => ({ x: frame.x(m.t), text: masterLabel(m) })));
  const faultLaneH = laneHeight(faultLabels);
  const masterLaneH = laneHeight(masterLabels);
  const faultTop = 18;
  const masterTop = faultTop + faultLaneH + 6;
  const throughputTop = masterTop + masterLaneH + 22;
  const latencyTop = throughputTop + THROUGHPUT_H + GAP;
  const failedTop = latencyTop + LATENCY_H + GAP;
  const axisTop = failedTop + FAILED_H;
  const height = axisTop + 44;

  const parts: string[] = [];
  parts.push(laneTitle('faults', faultTop + 12), laneTitle('master', masterTop + 12));
  parts.push(faultShading(result.recovery, colors, frame, throughputTop, axisTop));
  parts.push(faultLane(result.recovery, faultLabels, colors, frame, faultTop));
  parts.push(throughputPanel(series, frame, throughputTop));
  parts.push(latencyPanel(series, frame, latencyTop));
  parts.push(failedPanel(series, result, frame, failedTop));
  parts.push(masterMarks(masters, masterLabels, frame, masterTop, axisTop));
  parts.push(timeAxis(frame, axisTop));
  return `<figure class="timeline">
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="timeline of throughput, latency and failures with fault windows and master changes">
${parts.join('\n')}
</svg>
<figcaption>${timelineLegend(result.recovery, colors)}</figcaption>
</figure>`;
}

interface PlacedLabel {
  readonly x: number;
  readonly textX: number;
  readonly text: string;
  readonly row: number;
}

/** Greedy rows so that labels do not overlap (width estimated from the character count); a
 *  label near the right edge is moved left to stay inside. */
function placeLabels(labels: { x: number; text: string }[]): PlacedLabel[] {
  const rowEnds: number[] = [];
  return labels.map(({ x, text }) => {
    if (!text) return { x, textX: x, text, row: 0 };
    const width = textWidth(text) + 8;
    const textX = Math.min(x + 3, W - RIGHT - width);
    let row = rowEnds.findIndex((end) => end <= textX);
    if (row < 0) row = rowEnds.length;
    rowEnds[row] = textX + width;
    return { x, textX, text, row };
  });
}

function textWidth(text: string): number {
  return text.length * 6.2;
}

function laneHeight(labels: PlacedLabel[]): number {
  const rows = labels.reduce((n, l) => Math.max(n, l.row + 1), 1);
  return rows * LANE_ROW;
}

function laneTitle(text: string, y: number): string {
  return `<text class="lane" x="${LEFT - 8}" y="${y}" text-anchor="end">${esc(text)}</text>`;
}

function faultColors(recovery: FaultImpact[], names: string[]): Map<string, string> {
  const all = [...new Set([...names, ...recovery.map((f) => f.fault)])].sort();
  return new Map(all.map((name, i) => [name, FAULT_COLORS[i % FAULT_COLORS.length]]));
}

function faultShading(recovery: FaultImpact[], colors: Map<string, string>, frame: Frame, top: number, bottom: number): string {
  return recovery
    .map((f) => {
      const x0 = frame.x(f.startT);
      const w = Math.max(1.5, frame.x(f.endT) - x0);
      return `<rect x="${n(x0)}" y="${top}" width="${n(w)}" height="${bottom - top}" fill="${colors.get(f.fault)}" fill-opacity="0.28"><title>${esc(faultTitle(f))}</title></rect>`;
    })
    .join('\n');
}

function faultLane(recovery: FaultImpact[], labels: PlacedLabel[], colors: Map<string, string>, frame: Frame, top: number): string {
  return recovery
    .map((f, i) => {
      const label = labels[i];
      const x0 = frame.x(f.startT);
      const w = Math.max(1.5, frame.x(f.endT) - x0);
      const y = top + label.row * LANE_ROW;
      return (
        `<rect x="${n(x0)}" y="${y + 1}" width="${n(w)}" height="${LANE_ROW - 3}" fill="${colors.get(f.fault)}" rx="2"><title>${esc(faultTitle(f))}</title></rect>` +
        `<text class="label" x="${n(label.textX)}" y="${y + 11}">${esc(f.fault)}</text>`
      );
    })
    .join('\n');
}

function faultTitle(f: FaultImpact): string {
  const impact = f.recoveryMs === undefined ? 'no failed writes' : `unavailable ${fmtMs(f.recoveryMs)}${f.recoveredT === undefined ? ' (never recovered)' : ''}`;
  return `${f.fault} #${f.faultId} ${fmtS(f.startT)}–${fmtS(f.endT)}${f.healed ? '' : ' (not healed)'}${f.detail ? ` · ${f.detail}` : ''} · ${impact} · longest stall ${fmtMs(f.stallMs)}`;
}

function masterMarks(masters: MasterChange[], labels: PlacedLabel[], frame: Frame, top: number, bottom: number): string {
  return masters
    .map((m, i) => {
      const x = n(frame.x(m.t));
      const y = top + labels[i].row * LANE_ROW;
      const title = `${fmtS(m.t)}: ${m.group !== undefined ? `${m.group}: ` : ''}${m.node ? `master ${m.node}` : 'no master'}${m.term !== undefined ? ` (term ${m.term})` : ''}`;
      if (!m.node) return `<g class="master none"><title>${esc(title)}</title><line x1="${x}" y1="${top + 2}" x2="${x}" y2="${bottom}"/></g>`;
      return `<g class="master"><title>${esc(title)}</title><line x1="${x}" y1="${y + 2}" x2="${x}" y2="${bottom}"/><text x="${n(labels[i].textX)}" y="${y + 11}">${esc(masterLabel(m))}</text></g>`;
    })
    .join('\n');
}

function throughputPanel(series: TimelineSeries, frame: Frame, top: number): string {
  const max = niceCeil(maxOf(series.acked, 1));
  const y = (v: number) => top + THROUGHPUT_H - (v / max) * THROUGHPUT_H;
  const ticks = [0, max / 4, max / 2, (3 * max) / 4, max];
  const grid = ticks.map((v) => hGrid(y(v), fmtCount(v))).join('');
  // A step line: each second's value spans that second.
  let d = `M${n(frame.x(0))},${n(y(0))}`;
  series.acked.forEach((v, s) => {
    d += ` L${n(frame.x(s * 1000))},${n(y(v))} L${n(frame.x((s + 1) * 1000))},${n(y(v))}`;
  });
  d += ` L${n(frame.x(series.seconds * 1000))},${n(y(0))} Z`;
  return `${panelTitle('acked sends per second', top)}${grid}<path class="throughput" d="${d}"/>${frameRect(top, THROUGHPUT_H)}`;
}

function latencyPanel(series: TimelineSeries, frame: Frame, top: number): string {
  const finite = series.p99.filter((v) => Number.isFinite(v));
  const maxDecade = Math.max(1, Math.ceil(Math.log10(maxOf(finite, 10))));
  const y = (ms: number) => top + LATENCY_H - (Math.log10(Math.max(1, ms)) / maxDecade) * LATENCY_H;
  let grid = '';
  for (let d = 0; d <= maxDecade; d++) grid += hGrid(y(10 ** d), fmtMs(10 ** d));
  const line = (values: number[], cls: string) => `<path class="${cls}" d="${stepPath(values, frame, y)}"/>`;
  // Above the panel, right-aligned: inside it would hide the lines at their peaks.
  const ly = top - 10;
  const legend =
    `<g class="legend"><line class="p99" x1="${W - RIGHT - 130}" x2="${W - RIGHT - 110}" y1="${ly}" y2="${ly}"/><text x="${W - RIGHT - 106}" y="${ly + 4}">p99</text>` +
    `<line class="p50" x1="${W - RIGHT - 60}" x2="${W - RIGHT - 40}" y1="${ly}" y2="${ly}"/><text x="${W - RIGHT - 36}" y="${ly + 4}">p50</text></g>`;
  return `${panelTitle('latency of acked sends (log scale)', top)}${grid}${line(series.p99, 'p99')}${line(series.p50, 'p50')}${legend}${frameRect(top, LATENCY_H)}`;
}

/** A step line through each second's value; seconds without a value break it. */
function stepPath(values: number[], frame: Frame, y: (v: number) => number): string {
  let d = '';
  let drawing = false;
  values.forEach((v, s) => {
    if (!Number.isFinite(v)) {
      drawing = false;
      return;
    }
    d += `${drawing ? 'L' : 'M'}${n(frame.x(s * 1000))},${n(y(v))} L${n(frame.x((s + 1) * 1000))},${n(y(v))} `;
    drawing = true;
  });
  return d.trim() || 'M0,0';
}

function failedPanel(series: TimelineSeries, result: CheckResult, frame: Frame, top: number): string {
  const max = niceCeil(maxOf(series.failed, 1));
  const y = (v: number) => top + FAILED_H - (v / max) * FAILED_H;
  const windows = [
    ...result.recovery.flatMap((f) => (f.firstFailureT === undefined ? [] : [{ from: f.firstFailureT, to: f.recoveredT ?? result.runEndT, cls: 'unavailable', title: `${f.fault} #${f.faultId}: unavailable ${fmtMs(f.recoveryMs ?? 0)}` }])),
    ...result.unavailableOutsideFaults.map((w) => ({ from: w.fromT, to: w.toT, cls: 'unavailable outside', title: `outside any fault: unavailable ${fmtMs(w.durationMs)} (${w.firstError})` })),
  ]
    .map((w) => `<rect class="${w.cls}" x="${n(frame.x(w.from))}" y="${top}" width="${n(Math.max(3, frame.x(w.to) - frame.x(w.from)))}" height="${FAILED_H}"><title>${esc(w.title)}</title></rect>`)
    .join('');
  const barW = Math.max(1, PLOT_W / series.seconds - 0.5);
  const bars = series.failed
    .map((v, s) => (v ? `<rect class="failed" x="${n(frame.x(s * 1000))}" y="${n(y(v))}" width="${n(barW)}" height="${n(top + FAILED_H - y(v))}"><title>${esc(`${s}s: ${v} failed or unknown`)}</title></rect>` : ''))
    .join('');
  const grid = hGrid(y(0), '0') + hGrid(y(max), fmtCount(max));
  return `${panelTitle('failed or unknown sends per second; red band: unavailable (first failure to next ok)', top)}${grid}${windows}${bars}${frameRect(top, FAILED_H)}`;
}

function panelTitle(text: string, top: number): string {
  return `<text class="panel" x="${LEFT}" y="${top - 6}">${esc(text)}</text>`;
}

function hGrid(y: number, label: string): string {
  return `<line class="grid" x1="${LEFT}" x2="${W - RIGHT}" y1="${n(y)}" y2="${n(y)}"/><text class="tick" x="${LEFT - 6}" y="${n(y + 4)}" text-anchor="end">${esc(label)}</text>`;
}

function frameRect(top: number, h: number): string {
  return `<rect class="frame" x="${LEFT}" y="${top}" width="${PLOT_W}" height="${h}"/>`;
}

function timeAxis(frame: Frame, top: number): string {
  const step = tickStep(frame.runMs / 1000);
  let out = `<line class="axis" x1="${LEFT}" x2="${W - RIGHT}" y1="${top}" y2="${top}"/>`;
  for (let s = 0; s * 1000 <= frame.runMs; s += step) {
    const x = n(frame.x(s * 1000));
    out += `<line class="axis" x1="${x}" x2="${x}" y1="${top}" y2="${top + 5}"/><text class="tick" x="${x}" y="${top + 18}" text-anchor="middle">${esc(fmtClock(s))}</text>`;
  }
  return out + `<text class="tick" x="${LEFT + PLOT_W / 2}" y="${top + 36}" text-anchor="middle">time since start (m:ss)</text>`;
}

function tickStep(seconds: number): number {
  for (const step of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]) if (seconds / step <= 12) return step;
  return 7200;
}

function timelineLegend(recovery: FaultImpact[], colors: Map<string, string>): string {
  const used = [...new Set(recovery.map((f) => f.fault))].sort();
  const swatches = used.map((name) => `<span class="swatch" style="background:${colors.get(name)}"></span>${esc(name)}`).join(' ');
  return `${swatches ? `Fault windows (injection to heal): ${swatches}. ` : 'No faults injected. '}Dashed lines: master changes, named by the new master (grey: no master). Red bands below: unavailable. Hover for details.`;
}


const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2330;background:#fff;margin:24px auto;max-width:1240px;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 2px}
h3.ok{color:#1b7f3b}h3.bad{color:#b3261e}h3.warn{color:#9a6700}
.meta{color:#5b6472;margin:4px 0 12px}
.note{color:#5b6472;margin:2px 0 8px;font-size:13px}
.none{color:#5b6472}.none.ok{color:#1b7f3b}
.badge{display:inline-block;font-size:15px;padding:2px 12px;border-radius:12px;vertical-align:middle;color:#fff;letter-spacing:.05em}
.badge.pass{background:#1b7f3b}.badge.fail{background:#b3261e}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(108px,1fr));gap:8px;margin:12px 0 4px}
.card{border:1px solid #dde2ea;border-radius:8px;padding:8px 12px;background:#f7f9fb}
.card .value{font-size:22px;font-weight:600}
.card .label{font-size:12px;color:#5b6472}
.card.bad{background:#fdecea;border-color:#f1b0ab}.card.bad .value{color:#b3261e}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid #e6e9ef;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f1f4f8;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafbfc}
pre{background:#f7f9fb;border:1px solid #dde2ea;padding:8px;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere}
figure.timeline{margin:0}
figure.timeline svg{max-width:100%;height:auto}
figcaption{color:#5b6472;font-size:13px;margin-top:4px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin:0 4px 0 6px;vertical-align:-1px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
svg .lane,svg .panel{font-size:12px;fill:#3c4555;font-weight:600}
svg .panel,svg .master text,svg .legend text{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .tick{font-size:11px;fill:#5b6472}
svg .label{font-size:11px;fill:#1d2330}
svg .grid{stroke:#e6e9ef;stroke-width:1}
svg .frame{fill:none;stroke:#c4cad4}
svg .axis{stroke:#8a93a3}
svg .throughput{fill:#4e79a7;fill-opacity:.35;stroke:#2f5d8a;stroke-width:1}
svg .p50{fill:none;stroke:#2f5d8a;stroke-width:1.5}
svg .p99{fill:none;stroke:#e15759;stroke-width:1.5}
svg .legend text{font-size:11px;fill:#3c4555}
svg .failed{fill:#b3261e}
svg .unavailable{fill:#e15759;fill-opacity:.22}
svg .unavailable.outside{fill:#7b1e1e;fill-opacity:.4}
svg .master line{stroke:#1d2330;stroke-width:1.2;stroke-dasharray:4 3}
svg .master text{font-size:11px;font-weight:600;fill:#1d2330}
svg .master.none line{stroke:#9aa3b2}
svg .master.none text{fill:#7a8394;font-weight:400}
`;
