// Summary of a V8 .cpuprofile (as written by node --cpu-prof): where a process's busy time went,
// by function self time, for bench --cpu-prof.
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame { readonly functionName: string; readonly url: string; readonly lineNumber: number }
interface ProfileNode { readonly id: number; readonly callFrame: CallFrame }
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  /** Monotonic clock, microseconds (the clock of process.hrtime). */
  readonly startTime: number;
}

export interface ProfileItem { readonly name: string; readonly sec: number; readonly share: number }
export interface ProfileSummary {
  readonly totalSec: number;
  /** Sampled time that was not (idle): JavaScript, GC, native code. */
  readonly busySec: number;
  readonly gcSec: number;
  /** Largest self times first; share is of busySec. */
  readonly top: readonly ProfileItem[];
}

/** "(garbage collector)", "(program)" and "(idle)" are V8's names for time outside any JS function. */
const IDLE = '(idle)';
const GC = '(garbage collector)';

function label(cf: CallFrame): string {
  const name = cf.functionName === '' ? '(anonymous)' : cf.functionName;
  if (cf.url === '') return name;
  const file = cf.url.replace(/^file:\/\//, '').split('/').slice(-2).join('/');
  return `${name} ${file}:${cf.lineNumber + 1}`;
}

/** Self time by function over the samples taken in [fromMicros, toMicros] (default: all). */
export function summarizeProfile(p: CpuProfile, topN = 12, fromMicros = -Infinity, toMicros = Infinity): ProfileSummary {
  const labels = new Map<number, string>(p.nodes.map((n) => [n.id, label(n.callFrame)]));
  const selfMicros = new Map<string, number>();
  let total = 0;
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = Math.max(0, p.timeDeltas[i] ?? 0);
    at += dt;
    if (at < fromMicros || at > toMicros) continue;
    const name = labels.get(p.samples[i]) ?? '(unknown)';
    selfMicros.set(name, (selfMicros.get(name) ?? 0) + dt);
    total += dt;
  }
  const idle = selfMicros.get(IDLE) ?? 0;
  const busy = total - idle;
  const top = [...selfMicros]
    .filter(([name]) => name !== IDLE)
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([name, us]) => ({ name, sec: us / 1e6, share: busy > 0 ? us / busy : 0 }));
  return { totalSec: total / 1e6, busySec: busy / 1e6, gcSec: (selfMicros.get(GC) ?? 0) / 1e6, top };
}

export function formatSummary(title: string, s: ProfileSummary): string {
  const head = `${title}: sampled ${s.totalSec.toFixed(1)} s of the window, busy ${s.busySec.toFixed(2)} s (GC ${s.gcSec.toFixed(2)} s); top self time:`;
  return [head, ...s.top.map((t) => `  ${(t.share * 100).toFixed(1).padStart(5)}%  ${t.sec.toFixed(3).padStart(7)} s  ${t.name}`)].join('\n');
}

/**
 * The main-thread .cpuprofile files in dir, named by node as
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile (thread 0 is the main one; the others are
 * workers, such as tsx's loader).
 */
export function mainThreadProfilesIn(dir: string): { file: string; pid: number }[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir)
    .map((f) => ({ f, parts: f.split('.') }))
    .filter(({ f, parts }) => f.endsWith('.cpuprofile') && parts.length === 7 && parts[4] === '0')
    .map(({ f, parts }) => ({ file: path.join(dir, f), pid: Number(parts[3]) }));
}
