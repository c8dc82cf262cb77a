// Number, time and HTML formatting shared by the chaos report's parts.

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

export function n(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

export function opt(v: number | undefined): string {
  return v === undefined ? '' : String(v);
}

export function fmtMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.round(ms)} ms`;
}

export function fmtS(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function fmtClock(s: number): string {
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function fmtCount(v: number): string {
  if (v >= 10_000) return `${Math.round(v / 1000)}k`;
  if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
  return String(Math.round(v));
}

/** The largest value, at least `floor` (no spread: runs can be long). */
export function maxOf(values: number[], floor: number): number {
  let max = floor;
  for (const v of values) if (v > max) max = v;
  return max;
}

/** 1, 2 or 5 times a power of ten, at least v. */
export function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

