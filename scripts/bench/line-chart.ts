// bench --plot: a standalone SVG of values over the measured window, panels stacked on one
// shared time axis (the soak's chart: each replica's RSS and its store on disk), one polyline per
// series, each panel with its own y axis from 0, a legend of the series' names on top.
import { escapeXml, niceAxis } from './svg-chart.ts';

export interface LineSeries {
  readonly name: string;
  /** (second of the window, value) in time order. */
  readonly points: readonly (readonly [number, number])[];
}

export interface LinePanel {
  readonly title: string;
  /** The y axis' label (with the unit). */
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
}

const WIDTH = 880;
const LEFT = 72; // y tick labels and the rotated y label
const RIGHT = 24;
const TOP = 64; // title, subtitle, legend
const PANEL_H = 220;
const PANEL_GAP = 56; // the panel's title and the x tick labels of the panel above
const BOTTOM = 48; // x tick labels and the x label
const COLORS = ['#3b6fb6', '#e0912f', '#3a9a5b', '#c0392b', '#8e5ea2', '#7f7f7f', '#17a2b8'];

/** A tick label: seconds, or minutes for a window of 10 minutes or more ("12", "12.5"). */
function formatSec(sec: number, inMinutes: boolean): string {
  return inMinutes ? `${Number((sec / 60).toFixed(1))}` : `${Number(sec.toFixed(1))}`;
}

const formatValue = (v: number): string => String(Number(v.toPrecision(4)));

/** The chart; series with the same name in different panels get the same colour. */
export function lineChartSvg(panels: readonly LinePanel[], opts: { title: string; subtitle?: string; xLabel?: string }): string {
  const names = [...new Set(panels.flatMap((p) => p.series.map((s) => s.name)))];
  const color = (name: string): string => COLORS[names.indexOf(name) % COLORS.length]!;
  const allT = panels.flatMap((p) => p.series.flatMap((s) => s.points.map((pt) => pt[0])));
  const tMax = Math.max(1, ...allT);
  const inMinutes = tMax >= 600;
  const xAxis = niceAxis(inMinutes ? tMax / 60 : tMax);
  const xTop = xAxis.top * (inMinutes ? 60 : 1);
  const xStep = xAxis.step * (inMinutes ? 60 : 1);
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (t: number): number => LEFT + (t / xTop) * plotW;
  // The subtitle, broken at '; ' into lines of about 150 characters.
  const subLines: string[] = [];
  for (const part of (opts.subtitle ?? '').split('; ')) {
    const lastLine = subLines.length > 0 ? subLines[subLines.length - 1]! : undefined;
    if (lastLine !== undefined && lastLine.length + 2 + part.length <= 150) subLines[subLines.length - 1] = `${lastLine}; ${part}`;
    else subLines.push(part);
  }
  const top0 = TOP + 13 * Math.max(0, subLines.length - 1);
  const height = top0 + panels.length * (PANEL_H + PANEL_GAP) - PANEL_GAP + BOTTOM + 24;
  const xLabel = opts.xLabel ?? `time in the measured window (${inMinutes ? 'min' : 's'})`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="22" font-size="15" font-weight="bold">${escapeXml(opts.title)}</text>`,
  ];
  subLines.forEach((line, i) => out.push(`<text x="16" y="${36 + i * 13}" font-size="10" fill="#555555">${escapeXml(line)}</text>`));
  // Legend
  let lx = LEFT;
  for (const name of names) {
    out.push(`<line x1="${lx}" y1="${top0 - 12}" x2="${lx + 18}" y2="${top0 - 12}" stroke="${color(name)}" stroke-width="2.5"/>`);
    out.push(`<text x="${lx + 23}" y="${top0 - 8}" font-size="11">${escapeXml(name)}</text>`);
    lx += 23 + name.length * 7 + 18;
  }
  panels.forEach((panel, i) => {
    const top = top0 + 24 + i * (PANEL_H + PANEL_GAP);
    const bottom = top + PANEL_H;
    const values = panel.series.flatMap((s) => s.points.map((pt) => pt[1])).filter(Number.isFinite);
    const { top: yTop, step: yStep } = niceAxis(Math.max(0, ...values));
    const y = (v: number): number => bottom - (v / yTop) * PANEL_H;
    out.push(`<text x="${LEFT}" y="${top - 8}" font-size="13" font-weight="bold">${escapeXml(panel.title)}</text>`);
    for (let v = 0; v <= yTop + yStep / 2; v += yStep) {
      const gy = y(v).toFixed(1);
      out.push(`<line x1="${LEFT}" y1="${gy}" x2="${LEFT + plotW}" y2="${gy}" stroke="#e3e3e3"/>`);
      out.push(`<text x="${LEFT - 6}" y="${gy}" font-size="10" text-anchor="end" dominant-baseline="middle">${formatValue(v)}</text>`);
    }
    for (let t = 0; t <= xTop + xStep / 2; t += xStep) {
      const gx = x(t).toFixed(1);
      out.push(`<line x1="${gx}" y1="${top}" x2="${gx}" y2="${bottom}" stroke="#f0f0f0"/>`);
      out.push(`<text x="${gx}" y="${bottom + 14}" font-size="10" text-anchor="middle">${formatSec(t, inMinutes)}</text>`);
    }
    out.push(`<line x1="${LEFT}" y1="${bottom}" x2="${LEFT + plotW}" y2="${bottom}" stroke="#333333"/>`);
    out.push(`<line x1="${LEFT}" y1="${top}" x2="${LEFT}" y2="${bottom}" stroke="#333333"/>`);
    const cy = (top + bottom) / 2;
    out.push(`<text x="18" y="${cy}" font-size="11" text-anchor="middle" transform="rotate(-90 18 ${cy})">${escapeXml(panel.yLabel)}</text>`);
    for (const s of panel.series) {
      const pts = s.points.filter((pt) => Number.isFinite(pt[0]) && Number.isFinite(pt[1]));
      if (pts.length === 0) continue;
      const attr = pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      out.push(
        `<polyline fill="none" stroke="${color(s.name)}" stroke-width="1.5" stroke-linejoin="round" points="${attr}">` +
          `<title>${escapeXml(`${panel.title}: ${s.name}`)}</title></polyline>`,
      );
    }
  });
  out.push(`<text x="${LEFT + plotW / 2}" y="${height - 12}" font-size="11" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
