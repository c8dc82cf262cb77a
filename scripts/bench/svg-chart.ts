// The --compare chart as a standalone SVG: one panel per inflight value (each with its own
// linear msgs/s axis, since 1 and 256 in flight differ by orders of magnitude), groups of bars
// per nodes x size, one bar per flush type, each bar labelled with msgs/s and p99.
import type { CompareCell } from './report.ts';

const BAR_W = 36;
const BAR_GAP = 6;
const GROUP_GAP = 26;
const PLOT_H = 260;
const AXIS_W = 56;
const PANEL_GAP = 24;
const TOP = 92; // title, legend, panel titles and room for the labels above the tallest bar
const BOTTOM = 44; // group labels
const COLORS: Record<string, string> = { SYNC_FLUSH: '#3b6fb6', ASYNC_FLUSH: '#e0912f' };
const FALLBACK_COLOR = '#777777';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 812, 15.2k, 60k, 152k, 1.23M */
export function formatRate(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x < 1000) return String(Math.round(x));
  if (x < 100_000) return `${(x / 1000).toFixed(1).replace(/\.0$/, '')}k`;
  if (x < 1_000_000) return `${Math.round(x / 1000)}k`;
  return `${(x / 1e6).toFixed(2)}M`;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

const formatMs = (x: number): string => (Number.isFinite(x) ? `${Number(x.toPrecision(3))}ms` : '-');

/** A round axis maximum and step for values up to `max`: about 4-5 gridlines. */
export function niceAxis(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const rough = max / 4;
  const pow = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= rough)!;
  return { top: step * Math.ceil(max / step), step };
}

const unique = <T,>(xs: readonly T[]): T[] => [...new Set(xs)];

export function svgChart(cells: readonly CompareCell[], subtitle = '', title = 'raftmq: msgs/s per cell (labels: msgs/s, p99 latency)'): string {
  const panels = unique(cells.map((c) => c.inflight)).sort((a, b) => a - b);
  const groupKey = (c: CompareCell): string => `${c.nodes}|${c.size}`;
  const groups = unique(
    [...cells].sort((a, b) => a.nodes - b.nodes || a.size - b.size).map(groupKey),
  );
  const flushes = unique(cells.map((c) => c.flush)).sort((a, b) => (a === 'SYNC_FLUSH' ? -1 : b === 'SYNC_FLUSH' ? 1 : 0));
  const groupW = flushes.length * BAR_W + (flushes.length - 1) * BAR_GAP;
  const panelW = AXIS_W + GROUP_GAP + groups.length * (groupW + GROUP_GAP);
  const width = Math.max(480, 16 + panels.length * panelW + (panels.length - 1) * PANEL_GAP + 16);
  const height = TOP + PLOT_H + BOTTOM;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${width - 16}" y="22" font-size="10" fill="#555555" text-anchor="end">${escapeXml(subtitle)}</text>`,
  ];
  // Legend
  let lx = 16;
  for (const f of flushes) {
    out.push(`<rect x="${lx}" y="32" width="12" height="12" fill="${COLORS[f] ?? FALLBACK_COLOR}"/>`);
    out.push(`<text x="${lx + 16}" y="42" font-size="11">${escapeXml(f)}</text>`);
    lx += 16 + f.length * 7 + 16;
  }
  out.push(`<text x="${lx}" y="42" font-size="11" fill="#555555">upper label: p99 latency; lower label: msgs/s</text>`);

  panels.forEach((inflight, p) => {
    const x0 = 16 + p * (panelW + PANEL_GAP);
    const plotX = x0 + AXIS_W;
    const plotBottom = TOP + PLOT_H;
    const inPanel = cells.filter((c) => c.inflight === inflight);
    const { top, step } = niceAxis(Math.max(0, ...inPanel.map((c) => c.figures?.msgsPerSec ?? 0)));
    const y = (v: number): number => plotBottom - (v / top) * PLOT_H;
    out.push(`<text x="${plotX}" y="${TOP - 34}" font-size="13" font-weight="bold">${inflight} in flight</text>`);
    for (let v = 0; v <= top + step / 2; v += step) {
      const gy = y(v).toFixed(1);
      out.push(`<line x1="${plotX}" y1="${gy}" x2="${x0 + panelW}" y2="${gy}" stroke="#e3e3e3"/>`);
      out.push(`<text x="${plotX - 6}" y="${gy}" font-size="10" text-anchor="end" dominant-baseline="middle">${formatRate(v)}</text>`);
    }
    out.push(`<line x1="${plotX}" y1="${plotBottom}" x2="${x0 + panelW}" y2="${plotBottom}" stroke="#333333"/>`);
    groups.forEach((g, gi) => {
      const gx = plotX + GROUP_GAP + gi * (groupW + GROUP_GAP);
      const [nodes, size] = g.split('|').map(Number);
      out.push(`<text x="${gx + groupW / 2}" y="${plotBottom + 16}" font-size="11" text-anchor="middle">${nodes} nodes</text>`);
      out.push(`<text x="${gx + groupW / 2}" y="${plotBottom + 30}" font-size="11" text-anchor="middle">${escapeXml(formatBytes(size))}</text>`);
      flushes.forEach((f, fi) => {
        const c = inPanel.find((x) => groupKey(x) === g && x.flush === f);
        if (!c) return;
        const bx = gx + fi * (BAR_W + BAR_GAP);
        const cx = bx + BAR_W / 2;
        const tip = escapeXml(`${c.nodes} nodes, ${formatBytes(c.size)}, ${c.inflight} in flight, ${c.flush}`);
        if (!c.figures) {
          out.push(`<text x="${cx}" y="${plotBottom - 6}" font-size="10" fill="#c0392b" text-anchor="middle">failed<title>${tip}: ${escapeXml(c.note)}</title></text>`);
          return;
        }
        const by = y(c.figures.msgsPerSec);
        out.push(
          `<rect class="bar" x="${bx}" y="${by.toFixed(1)}" width="${BAR_W}" height="${(plotBottom - by).toFixed(1)}" fill="${COLORS[f] ?? FALLBACK_COLOR}">` +
            `<title>${tip}: ${c.figures.msgsPerSec} msgs/s, p50 ${c.figures.p50Ms} ms, p99 ${c.figures.p99Ms} ms</title></rect>`,
        );
        out.push(`<text x="${cx}" y="${(by - 4).toFixed(1)}" font-size="9" text-anchor="middle">${formatRate(c.figures.msgsPerSec)}</text>`);
        out.push(`<text x="${cx}" y="${(by - 15).toFixed(1)}" font-size="9" fill="#555555" text-anchor="middle">${formatMs(c.figures.p99Ms)}</text>`);
      });
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
