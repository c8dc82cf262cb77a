// Puts the trace files of a one-in-flight run (src/trace/trace.ts) together into the steps of a
// send: for each message the master proposed, the client's send and ack, the master's request and
// reply, and the slave whose acknowledgement came first (the one that made the entry committed
// with the master's own copy). Only meaningful with one send in flight: requests and replies
// carry no log index and are matched to proposals by time.
import fs from 'node:fs';
import path from 'node:path';
import type { TraceEvent } from '../../src/trace/index.ts';

interface Point {
  readonly t: number;
  readonly ix: number;
}

type Timeline = Map<TraceEvent, Point[]>;

export interface StepFigures {
  readonly step: string;
  /** Messages the step was measured for (flush steps: only those whose ack waited for a flush). */
  readonly count: number;
  readonly p50Us: number;
  readonly meanUs: number;
  readonly p90Us: number;
}

export interface Breakdown {
  readonly master: string;
  readonly messages: number;
  readonly steps: readonly StepFigures[];
}

/** Reads DIR/<name>-<pid>.trace files: the timeline of each process by its name. */
export function readTraces(dir: string): Map<string, Timeline> {
  const out = new Map<string, Timeline>();
  for (const f of fs.readdirSync(dir)) {
    const m = /^(.+)-\d+\.trace$/.exec(f);
    if (m === null) continue;
    const timeline: Timeline = out.get(m[1]) ?? new Map();
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      const [event, ix, t] = line.split(' ');
      if (t === undefined) continue;
      const list = timeline.get(event as TraceEvent) ?? [];
      list.push({ t: Number(t), ix: Number(ix) });
      timeline.set(event as TraceEvent, list);
    }
    out.set(m[1], timeline);
  }
  return out;
}

/** How many points come before time `t` (`orAt`: at or before it); points are in time order. */
function countBefore(points: readonly Point[], t: number, orAt: boolean): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid].t < t || (orAt && points[mid].t === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first point at or after time `t` whose index is at least `ix` (undefined if none). */
function firstAfter(points: readonly Point[] | undefined, t: number, ix = -1): Point | undefined {
  if (points === undefined) return undefined;
  for (let i = countBefore(points, t, false); i < points.length; i++) if (points[i].ix >= ix) return points[i];
  return undefined;
}

/** The last point at or before time `t` (undefined if none). */
function lastBefore(points: readonly Point[] | undefined, t: number): Point | undefined {
  if (points === undefined) return undefined;
  const n = countBefore(points, t, true);
  return n > 0 ? points[n - 1] : undefined;
}

const STEPS = [
  'client send -> master has the request',
  'request -> proposed',
  'proposed -> append handed to the transport',
  'append: master -> slave',
  'slave: append received -> written',
  'slave: written -> flush started',
  'slave: flush (fdatasync)',
  'slave: durable (or written) -> ack handed to the transport',
  'ack: slave -> master',
  'master: ack received -> applied',
  'master: applied -> reply queued',
  'reply: master -> client ack',
  'total (client send -> ack)',
  '(master: proposed -> its own write)',
  '(master: its own flush)',
] as const;

/** The steps of every message the master proposed, after skipping the first `skipFraction` of
 *  them (warmup). Throws when there is no client or no master in the traces. */
export function breakdown(traces: Map<string, Timeline>, skipFraction = 0.1): Breakdown {
  const client = traces.get('client');
  if (client === undefined) throw new Error('no client trace');
  const replicas = [...traces.keys()].filter((k) => k !== 'client');
  const proposals = (name: string): number => traces.get(name)?.get('replica.propose')?.length ?? 0;
  const masterName = replicas.sort((a, b) => proposals(b) - proposals(a))[0];
  if (masterName === undefined || proposals(masterName) === 0) throw new Error('no replica proposed anything');
  const master = traces.get(masterName)!;
  const slaves = replicas.filter((r) => r !== masterName).map((r) => traces.get(r)!);

  const samples = new Map<string, number[]>(STEPS.map((s) => [s, []]));
  const add = (step: (typeof STEPS)[number], us: number): void => void samples.get(step)!.push(us);
  const props = master.get('replica.propose')!;
  let messages = 0;
  for (const p of props.slice(Math.floor(props.length * skipFraction))) {
    const req = lastBefore(master.get('server.request'), p.t);
    const send = firstAfter(master.get('replica.sendAppend'), p.t, p.ix);
    const apply = firstAfter(master.get('replica.apply'), p.t, p.ix);
    if (req === undefined || send === undefined || apply === undefined) continue;
    const reply = firstAfter(master.get('server.reply'), apply.t);
    const cSend = lastBefore(client.get('client.send'), req.t);
    const cAck = reply && firstAfter(client.get('client.ack'), reply.t);
    if (reply === undefined || cSend === undefined || cAck === undefined) continue;
    // The slave whose acknowledgement left first.
    let best: { recv: Point; written: Point; ack: Point; flush?: { start: Point; end: Point } } | undefined;
    for (const s of slaves) {
      const recv = firstAfter(s.get('replica.recvAppend'), send.t, p.ix);
      const written = recv && firstAfter(s.get('log.written'), recv.t, p.ix);
      const ack = written && firstAfter(s.get('replica.sendAck'), written.t, p.ix);
      if (recv === undefined || written === undefined || ack === undefined) continue;
      const start = firstAfter(s.get('log.flushStart'), written.t, p.ix);
      const end = start && firstAfter(s.get('log.flushEnd'), start.t, p.ix);
      // Under SYNC_FLUSH the ack waits for the flush; under ASYNC_FLUSH it leaves before it.
      const flush = start !== undefined && end !== undefined && end.t <= ack.t ? { start, end } : undefined;
      if (best === undefined || ack.t < best.ack.t) best = { recv, written, ack, flush };
    }
    if (best === undefined) continue;
    const recvAck = firstAfter(master.get('replica.recvAck'), best.ack.t, p.ix);
    if (recvAck === undefined) continue;
    messages++;
    add('client send -> master has the request', req.t - cSend.t);
    add('request -> proposed', p.t - req.t);
    add('proposed -> append handed to the transport', send.t - p.t);
    add('append: master -> slave', best.recv.t - send.t);
    add('slave: append received -> written', best.written.t - best.recv.t);
    if (best.flush) {
      add('slave: written -> flush started', best.flush.start.t - best.written.t);
      add('slave: flush (fdatasync)', best.flush.end.t - best.flush.start.t);
    }
    add('slave: durable (or written) -> ack handed to the transport', best.ack.t - (best.flush?.end.t ?? best.written.t));
    add('ack: slave -> master', recvAck.t - best.ack.t);
    add('master: ack received -> applied', apply.t - recvAck.t);
    add('master: applied -> reply queued', reply.t - apply.t);
    add('reply: master -> client ack', cAck.t - reply.t);
    add('total (client send -> ack)', cAck.t - cSend.t);
    const ownWrite = firstAfter(master.get('log.written'), p.t, p.ix);
    if (ownWrite) add('(master: proposed -> its own write)', ownWrite.t - p.t);
    const ownStart = ownWrite && firstAfter(master.get('log.flushStart'), ownWrite.t, p.ix);
    const ownEnd = ownStart && firstAfter(master.get('log.flushEnd'), ownStart.t, p.ix);
    if (ownStart && ownEnd) add('(master: its own flush)', ownEnd.t - ownStart.t);
  }
  const steps = STEPS.map((step): StepFigures => {
    const xs = samples.get(step)!.sort((a, b) => a - b);
    const n = xs.length;
    const at = (q: number): number => (n === 0 ? NaN : xs[Math.min(n - 1, Math.floor(n * q))]);
    return { step, count: n, p50Us: at(0.5), meanUs: n === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / n, p90Us: at(0.9) };
  });
  return { master: masterName, messages, steps };
}

export function breakdownTable(b: Breakdown): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-').padStart(8);
  const width = Math.max(...b.steps.map((s) => s.step.length));
  const lines = [`per-message steps of ${b.messages} sends (master ${b.master}), microseconds:`, `${'step'.padEnd(width)}      p50     mean      p90`];
  for (const s of b.steps) lines.push(`${s.step.padEnd(width)} ${f(s.p50Us)} ${f(s.meanUs)} ${f(s.p90Us)}`);
  return lines.join('\n');
}
