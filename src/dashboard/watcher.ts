// Watches a broker group for the dashboard: every pollMs it asks each replica for brokerInfo and
// scrapes its /metrics, keeps the last answers, a short history of rates for the charts, and a
// timeline of master changes and replicas going down or coming back. A replica that does not
// answer is shown down with its last error; the others go on being shown.
import { Admin } from '../client/index.ts';
import type { BrokerInfo } from '../protocol/index.ts';
import type { ChartView, GroupView, Overview, ReplicaView, TimelineEvent } from './model.ts';
import { figuresOf, ratePoint, type RatePoint, type ScrapeFigures } from './rates.ts';
import { SECTION_BUILDERS } from './sections.ts';

/** Points kept for the charts (at the default poll, five minutes). */
const CHART_POINTS_MAX = 300;
/** Timeline events kept. */
const TIMELINE_EVENTS_MAX = 100;
/** Overview listeners (open pages) at once. */
const LISTENERS_MAX = 256;

export interface WatcherOptions {
  readonly servers: readonly string[];
  readonly pollMs: number;
  /** Timeout of one replica's answer (and of one scrape); default pollMs, at most 2 s. */
  readonly requestTimeoutMs?: number;
}

interface ReplicaState {
  readonly addr: string;
  info: BrokerInfo | null;
  up: boolean;
  error: string;
  lastSeenMs: number;
  scrape: ScrapeFigures | null;
}

export class ClusterWatcher {
  readonly admin: Admin;
  private readonly opts: WatcherOptions;
  private readonly replicas: ReplicaState[];
  private readonly points: RatePoint[] = [];
  private readonly events: TimelineEvent[] = [];
  /** Master changes already on the timeline, by "term:nodeId". */
  private readonly mastersSeen = new Set<string>();
  private readonly listeners = new Set<(o: Overview) => void>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private last: Overview;

  constructor(opts: WatcherOptions) {
    this.opts = opts;
    this.admin = new Admin({ servers: opts.servers, requestTimeoutMs: this.timeoutMs, connectTimeoutMs: this.timeoutMs });
    this.replicas = opts.servers.map((addr) => ({ addr, info: null, up: false, error: 'not asked yet', lastSeenMs: 0, scrape: null }));
    this.last = this.build();
  }

  private get timeoutMs(): number {
    return this.opts.requestTimeoutMs ?? Math.min(2000, this.opts.pollMs);
  }

  start(): void {
    if (this.timer !== null) return;
    const tick = (): void => {
      this.polling ??= this.pollOnce().finally(() => (this.polling = null));
    };
    tick();
    this.timer = setInterval(tick, this.opts.pollMs);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
    this.listeners.clear();
    await this.admin.close();
  }

  overview(): Overview {
    return this.last;
  }

  /** Calls `fn` with each new overview; returns the unsubscribe. Refused past LISTENERS_MAX. */
  onUpdate(fn: (o: Overview) => void): (() => void) | null {
    if (this.listeners.size >= LISTENERS_MAX) return null;
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** One round: every replica asked at once; then the overview is rebuilt and sent out. */
  async pollOnce(): Promise<void> {
    const now = Date.now();
    const pairs: { before: ScrapeFigures; after: ScrapeFigures }[] = [];
    await Promise.all(this.replicas.map(async (r) => {
      const pair = await this.pollReplica(r, now);
      if (pair !== null) pairs.push(pair);
    }));
    this.noteMasters();
    if (pairs.length > 0) {
      if (this.points.length >= CHART_POINTS_MAX) this.points.shift();
      this.points.push(ratePoint(pairs, now));
    }
    this.last = this.build();
    for (const fn of this.listeners) fn(this.last);
  }

  private async pollReplica(r: ReplicaState, now: number): Promise<{ before: ScrapeFigures; after: ScrapeFigures } | null> {
    let info: BrokerInfo;
    try {
      info = await this.admin.brokerInfo(r.addr, this.timeoutMs);
    } catch (err) {
      if (r.up) this.note({ atMs: now, kind: 'down', text: `${r.info?.status.nodeId ?? r.addr} stopped answering (${(err as Error).message})` });
      r.up = false;
      r.error = (err as Error).message;
      r.scrape = null;
      return null;
    }
    if (!r.up && r.lastSeenMs > 0) this.note({ atMs: now, kind: 'up', text: `${info.status.nodeId} answers again` });
    r.info = info;
    r.up = true;
    r.error = '';
    r.lastSeenMs = now;
    if (info.metricsPort <= 0) return null;
    const host = r.addr.slice(0, r.addr.lastIndexOf(':'));
    try {
      const res = await fetch(`http://${host}:${info.metricsPort}/metrics`, { signal: AbortSignal.timeout(this.timeoutMs) });
      const after = figuresOf(await res.text(), Date.now());
      const before = r.scrape;
      r.scrape = after;
      return before === null ? null : { before, after };
    } catch {
      r.scrape = null;
      return null;
    }
  }

  /** Master changes the replicas report (each keeps its last few), once each, at the earliest
   *  time any replica saw it. */
  private noteMasters(): void {
    const found = new Map<string, { atMs: number; leader: string; term: number }>();
    for (const r of this.replicas) {
      for (const c of r.info?.roleChanges ?? []) {
        if (c.leaderId === '') continue;
        const key = `${c.term}:${c.leaderId}`;
        const seen = found.get(key);
        if (seen === undefined || c.atMs < seen.atMs) found.set(key, { atMs: c.atMs, leader: c.leaderId, term: c.term });
      }
    }
    for (const [key, m] of [...found].sort((a, b) => a[1].atMs - b[1].atMs)) {
      if (this.mastersSeen.has(key)) continue;
      this.mastersSeen.add(key);
      this.note({ atMs: m.atMs, kind: 'master', text: `${m.leader} became master (term ${m.term})` });
    }
  }

  private note(e: TimelineEvent): void {
    this.events.push(e);
    this.events.sort((a, b) => a.atMs - b.atMs);
    if (this.events.length > TIMELINE_EVENTS_MAX) this.events.shift();
  }

  private build(): Overview {
    const groups = this.groups();
    const masterInfo = this.masterInfo(groups);
    const best = this.replicas.filter((r) => r.up && r.info !== null).sort((a, b) => b.info!.status.appliedIndex - a.info!.status.appliedIndex)[0]?.info ?? null;
    const input = { master: masterInfo, best, infos: this.replicas.map((r) => ({ addr: r.addr, info: r.info, up: r.up })) };
    return {
      generatedAtMs: Date.now(),
      pollMs: this.opts.pollMs,
      groups,
      charts: this.charts(),
      timeline: [...this.events].reverse(),
      sections: SECTION_BUILDERS.map((b) => b(input)),
    };
  }

  private masterInfo(groups: readonly GroupView[]): BrokerInfo | null {
    const master = groups[0]?.master ?? '';
    return this.replicas.find((r) => r.up && r.info?.status.nodeId === master)?.info ?? null;
  }

  /** Replicas by broker group; the master is the one saying MASTER in the highest term. */
  private groups(): GroupView[] {
    const byName = new Map<string, ReplicaState[]>();
    for (const r of this.replicas) {
      const name = r.info?.status.brokerName ?? '?';
      (byName.get(name) ?? byName.set(name, []).get(name)!).push(r);
    }
    return [...byName].map(([brokerName, rs]) => {
      const masters = rs.filter((r) => r.up && r.info!.status.role === 'MASTER').sort((a, b) => b.info!.status.term - a.info!.status.term);
      const master = masters[0]?.info?.status ?? null;
      const term = Math.max(0, ...rs.filter((r) => r.up).map((r) => r.info!.status.term));
      return { brokerName, master: master?.nodeId ?? '', term, replicas: rs.map((r) => replicaView(r, master?.lastIndex ?? null, master?.nodeId ?? '')) };
    });
  }

  private charts(): ChartView[] {
    const times = this.points.map((p) => p.atMs / 1000);
    return [
      { id: 'throughput', title: 'Messages per second', unit: 'msgs/s', times, series: [{ label: 'in', values: this.points.map((p) => p.inPerSec) }, { label: 'out', values: this.points.map((p) => p.outPerSec) }] },
      {
        id: 'latency',
        title: 'Latency (ms)',
        unit: 'ms',
        times,
        series: [
          { label: 'send p50', values: this.points.map((p) => p.sendP50Ms) },
          { label: 'send p99', values: this.points.map((p) => p.sendP99Ms) },
          { label: 'append p99', values: this.points.map((p) => p.appendP99Ms) },
        ],
      },
    ];
  }
}

function replicaView(r: ReplicaState, masterLastIndex: number | null, master: string): ReplicaView {
  const st = r.info?.status;
  const host = r.addr.slice(0, r.addr.lastIndexOf(':'));
  return {
    addr: r.addr,
    nodeId: st?.nodeId ?? '',
    up: r.up,
    error: r.error,
    // A replica that claims MASTER in an older term than the master's is a deposed one.
    role: !r.up || st === undefined ? 'DOWN' : st.nodeId === master ? 'MASTER' : 'SLAVE',
    term: st?.term ?? 0,
    commitIndex: st?.commitIndex ?? 0,
    appliedIndex: st?.appliedIndex ?? 0,
    lastIndex: st?.lastIndex ?? 0,
    behindEntries: r.up && st !== undefined && masterLastIndex !== null ? Math.max(0, masterLastIndex - st.lastIndex) : null,
    recovering: st?.recovering ?? false,
    staleness: r.info?.staleness ?? '',
    pid: st?.pid ?? 0,
    metricsAddr: r.info !== null && r.info.metricsPort > 0 ? `${host}:${r.info.metricsPort}` : '',
    lastSeenMs: r.lastSeenMs,
  };
}
