// One benchmark run: a fresh local broker group (or several, servers.ts), warmup, a measured
// window, teardown.
import { delay } from '../../src/net/index.ts';
import { Histogram } from './histogram.ts';
import { LoadChild, splitInflight } from './load-children.ts';
import { contextSwitches, freeDiskBytes, machineBusyCpuSeconds, onTmpfs, rssMiB, totalCpu, totalCpuSeconds } from './proc-stats.ts';
import { WindowSeries } from './rss-series.ts';
import { BenchServers } from './servers.ts';
import { PlotSeries, retentionRemovedIn, storeUsage } from './store-size.ts';

export type FlushType = 'SYNC_FLUSH' | 'ASYNC_FLUSH';

export interface BenchOptions {
  /** Broker groups behind one NameServer (1: one group, no NameServer, as before --groups). */
  readonly groups: number;
  readonly nodes: number;
  readonly size: number;
  readonly inflight: number;
  readonly producers: number;
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly flush: FlushType;
  /** Queues of the bench topic on each group. */
  readonly queues: number;
  /** The load processes' producers are idempotent (Producer's default). */
  readonly idempotence: boolean;
  /** Extra broker.conf keys for every replica (bench --set). */
  readonly brokerConf?: Readonly<Record<string, string>>;
  /** Each replica serves Prometheus metrics on a port of its own (bench --metrics). */
  readonly metrics?: boolean;
}

/** The headline figures of one run (or the medians of several): the stdout JSON line. */
export interface BenchFigures {
  readonly nodes: number;
  readonly size: number;
  readonly inflight: number;
  readonly flush: FlushType;
  readonly msgsPerSec: number;
  readonly mbPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly serverCpuSecPer100k: number;
  readonly clientCpuSecPer100k: number;
  readonly serverRssMiB: number;
}

export interface ReplicaRss {
  readonly id: string;
  readonly firstMiB: number;
  readonly lastMiB: number;
  readonly maxMiB: number;
  /** Least-squares growth over the window's once-a-second samples. */
  readonly trendMiBPerMin: number;
  /** The same from the window's second minute on (the heap reaches its working size in the
   *  first minute of load); NaN for a window shorter than two minutes. */
  readonly settledTrendMiBPerMin: number;
  /** The median of each whole minute of the window. */
  readonly minuteMediansMiB: readonly number[];
}

/** A replica's store on disk over the window (store-size.ts): allocated bytes, logs/ left out. */
export interface ReplicaStore {
  readonly id: string;
  readonly firstMiB: number;
  readonly lastMiB: number;
  readonly maxMiB: number;
  /** Least-squares growth from the window's second minute on; NaN for a window shorter than two minutes. */
  readonly settledTrendMiBPerMin: number;
  /** The median of each whole minute of the window. */
  readonly minuteMediansMiB: readonly number[];
  /** Files in the store at the end of the window. */
  readonly lastFiles: number;
  /** Segments the replica's retention removed: the sum over "retention removed segments" in the
   *  log files it still keeps (older files may have been rotated away); NaN when none could be read. */
  readonly retentionRemovedSegments: number;
}

/** Points of one replica's series for bench --plot: (second of the window, MiB). */
export interface ReplicaPlot {
  readonly id: string;
  readonly rss: readonly (readonly [number, number])[];
  readonly store: readonly (readonly [number, number])[];
}

/** One run: the figures and what goes with them on stderr. */
export interface RunResult {
  readonly figures: BenchFigures;
  /** Mean latency: by Little's law, inflight ~ msgsPerSec x meanMs / 1000 (a self-check). */
  readonly meanMs: number;
  readonly acked: number;
  readonly failed: number;
  readonly firstError: string;
  readonly windowSec: number;
  readonly serverCpuPercent: number;
  /** The kernel's part of serverCpuSecPer100k (stime): syscalls, page-cache copies, TCP, exits to
   *  the host on a VM; the rest is the replicas' own code, V8 and libc. */
  readonly serverSysCpuSecPer100k: number;
  /** Each replica's CPU over the window (100 = one core), in the order of `rss`. */
  readonly replicaCpuPercent: readonly number[];
  /** Messages per Raft entry committed in the window, over all groups (each group's commitIndex
   *  read just after the window opened and just after it closed): the batching the groups got. */
  readonly msgsPerEntry: number;
  /** Times per second the replicas' threads were preempted for another runnable thread (the
   *  kernel's nonvoluntary context switches): how oversubscribed the CPUs were. */
  readonly serverPreemptionsPerSec: number;
  /** The NameServer's CPU over the window; NaN with one group (no NameServer). */
  readonly namesrvCpuPercent: number;
  readonly clientCpuPercent: number;
  /** Share of the load processes' wall time spent in GC pauses inside the window (their mean). */
  readonly clientGcPausePercent: number;
  /** Busy CPU of everything else on the machine (this driver, the NameServer, other jobs), 100 = one core:
   *  the load that competed with the run. An estimate, good to about a tenth of a core; never below 0. */
  readonly otherCpuPercent: number;
  readonly rss: readonly ReplicaRss[];
  readonly store: readonly ReplicaStore[];
  /** Seconds between the store samples (and between the points of `plot`, at first). */
  readonly storeSampleSec: number;
  readonly plot: readonly ReplicaPlot[];
  /** Each replica's pid -> its id, with "(master)" on the master at the start. */
  readonly serverIds: ReadonlyMap<number, string>;
  /** The measured window on the monotonic clock, in microseconds (process.hrtime, as V8's profiles). */
  readonly windowMicros: { readonly start: number; readonly end: number };
  /** Why the window ended before --duration ('' when it did not). */
  readonly cutShort: string;
}

const TOPIC = 'bench';
/** The product's default segment size (the test launcher's 64 MiB would roll 16x as often). */
const SEGMENT_BYTES = String(1024 ** 3);
/** Stop measuring when the disk holding the data gets this full: nothing deletes old segments,
 *  and the machine may be shared (a long run at full load writes tens of GB per replica). */
const DISK_RESERVE_BYTES = 10 * 1024 ** 3;
const MB = 1e6;
/** RSS growth is also fitted from this second of the window on (see ReplicaRss). */
const SETTLED_AFTER_SEC = 60;
/** The store on disk is measured every this many seconds of the window (a walk of its files);
 *  the chart of --plot keeps one RSS and one store point per replica as often. */
const STORE_SAMPLE_SEC = 5;
const MiB = 1024 ** 2;

/** Everything a run has started, so an interrupt can stop it synchronously (see killAllNow). */
const live = { servers: new Set<BenchServers>(), children: new Set<LoadChild>() };

/** SIGKILLs every server and load process by PID and removes the data directories. */
export function killAllNow(): void {
  for (const c of live.children) c.kill();
  for (const s of live.servers) s.killNow();
  live.children.clear();
  live.servers.clear();
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));
/** Latencies keep three significant digits (0.412 ms, 12.3 ms, 104 ms). */
const roundMs = (x: number): number => (Number.isFinite(x) ? Number(x.toPrecision(3)) : x);

export interface RunOnceOptions {
  /** Stop the replicas with SIGTERM and wait for their exit (so that --cpu-prof writes its files). */
  readonly gracefulStop?: boolean;
  /** Called after each second of load, warmup included, with that second's rate (a progress bar). */
  readonly onSecond?: (msgsPerSec: number) => void;
}

export async function runOnce(opts: BenchOptions, label: string, say: (line: string) => void, how: RunOnceOptions = {}): Promise<RunResult> {
  const serversOpts = {
    groups: opts.groups,
    nodes: opts.nodes,
    metrics: opts.metrics === true,
    extra: { mappedFileSizeCommitLog: SEGMENT_BYTES, ...opts.brokerConf, flushDiskType: opts.flush },
  };
  // The servers as first started, before the masters: enough to kill and destroy them.
  let started: BenchServers | null = null;
  const children: LoadChild[] = [];
  let stopped = false;
  try {
    const servers = await BenchServers.start(serversOpts, TOPIC, opts.queues, (s) => {
      started = s;
      live.servers.add(s);
    });
    const replicas = servers.replicas;
    const serverPids = replicas.map((r) => r.pid);
    const namesrvPids = servers.namesrvPids;
    const serverIds = new Map(replicas.map((r) => [r.pid, r.master ? `${r.id} (master)` : r.id]));
    say(`${label}: ${servers.describe()}, data in ${servers.roots.join(' ')} (${(freeDiskBytes(servers.root) / 1024 ** 3).toFixed(0)} GiB free)`);
    if (onTmpfs(servers.root)) say(`${label}: WARNING the data directory is on tmpfs: fsync costs nothing there (set TMPDIR to a real disk)`);

    for (const [i, inflight] of splitInflight(opts.inflight, opts.producers).entries()) {
      const child = new LoadChild(`load child ${i}`, { ...servers.target, topic: TOPIC, size: opts.size, inflight, idempotence: opts.idempotence });
      live.children.add(child);
      children.push(child);
    }
    await Promise.all(children.map((c) => c.ready(30_000)));
    const clientPids = children.map((c) => c.pid);

    // Progress once a second, in warmup and in the window alike.
    let phaseHist = new Histogram();
    let lastCpu = { t: performance.now(), server: totalCpuSeconds(serverPids), client: totalCpuSeconds(clientPids) };
    const tick = async (phase: string, second: number, of: number): Promise<{ serverPct: number; rss: number[] }> => {
      const reports = await Promise.all(children.map((c) => c.poll(2000)));
      const dead = servers.deadReplica();
      if (dead) throw new Error(`replica ${dead.id} (pid ${dead.pid}) exited during the run`);
      const now = { t: performance.now(), server: totalCpuSeconds(serverPids), client: totalCpuSeconds(clientPids) };
      const sec = (now.t - lastCpu.t) / 1000;
      const serverPct = ((now.server - lastCpu.server) / sec) * 100;
      const clientPct = ((now.client - lastCpu.client) / sec) * 100;
      lastCpu = now;
      let acked = 0;
      let failed = 0;
      for (const r of reports) {
        if (r === null) continue;
        acked += r.acked;
        failed += r.failed;
        phaseHist.merge(r.hist);
      }
      const rss = serverPids.map((pid) => rssMiB(pid) ?? NaN);
      how.onSecond?.(Math.round(acked / sec));
      say(
        `${label} ${phase} ${String(second).padStart(3)}/${of} s: ${Math.round(acked / sec)} msgs/s` +
          `${failed > 0 ? ` (${failed} failed)` : ''}, p99 so far ${roundMs(phaseHist.percentile(0.99))} ms,` +
          ` server CPU ${Math.round(serverPct)}%, client CPU ${Math.round(clientPct)}%, RSS MiB ${rss.map((x) => Math.round(x)).join('/')}` +
          `${reports.includes(null) ? ' (a child did not answer the poll)' : ''}`,
      );
      return { serverPct, rss };
    };

    const warmupStart = performance.now();
    for (let s = 1; s <= opts.warmupSec; s++) {
      await delay(Math.max(0, warmupStart + s * 1000 - performance.now()));
      await tick('warmup', s, opts.warmupSec);
    }

    // The window: server and client CPU read from /proc right at its two ends.
    phaseHist = new Histogram();
    const startMicros = Number(process.hrtime.bigint() / 1000n);
    const sample = () => {
      const server = totalCpu(serverPids);
      const perReplica = serverPids.map((pid) => totalCpuSeconds([pid]));
      const preempted = serverPids.reduce((n, pid) => n + (contextSwitches(pid)?.involuntary ?? NaN), 0);
      return { t: performance.now(), server: server.total, serverSys: server.sys, perReplica, preempted, namesrv: totalCpuSeconds(namesrvPids), client: totalCpuSeconds(clientPids), machine: machineBusyCpuSeconds() };
    };
    const start = sample();
    for (const c of children) c.measure();
    const entriesAtStart = await servers.committedEntries();
    lastCpu = start;
    const rssSeries = serverPids.map((pid) => {
      const series = new WindowSeries(SETTLED_AFTER_SEC);
      series.add(0, rssMiB(pid) ?? NaN);
      return series;
    });
    const plots = serverPids.map((pid) => {
      const rss = new PlotSeries(STORE_SAMPLE_SEC);
      rss.add(0, rssMiB(pid) ?? NaN);
      return { rss, store: new PlotSeries(STORE_SAMPLE_SEC) };
    });
    const addRss = (i: number, mib: number): void => {
      const t = (performance.now() - start.t) / 1000;
      rssSeries[i].add(t, mib);
      plots[i].rss.add(t, mib);
    };
    // The store on disk: its own series, sampled every STORE_SAMPLE_SEC (a walk is cheap, not free).
    const storeSeries = replicas.map(() => new WindowSeries(SETTLED_AFTER_SEC));
    const storeFiles = replicas.map(() => NaN);
    const addStore = (): void => {
      const t = (performance.now() - start.t) / 1000;
      replicas.forEach((n, i) => {
        const u = storeUsage(n.dir);
        if (u === null) return;
        const mib = u.bytes / MiB;
        storeSeries[i].add(t, mib);
        plots[i].store.add(t, mib);
        storeFiles[i] = u.files;
      });
    };
    addStore();
    let cutShort = '';
    for (let s = 1; s <= opts.durationSec; s++) {
      await delay(Math.max(0, start.t + s * 1000 - performance.now()));
      const { rss } = await tick('measure', s, opts.durationSec);
      rss.forEach((x, i) => addRss(i, x));
      if (s % STORE_SAMPLE_SEC === 0) addStore();
      const free = freeDiskBytes(servers.root);
      if (free < DISK_RESERVE_BYTES) {
        cutShort = `disk nearly full (${(free / 1024 ** 3).toFixed(1)} GiB left) after ${s} s`;
        break;
      }
    }
    const endMicros = Number(process.hrtime.bigint() / 1000n);
    const end = sample();
    const entries = (await servers.committedEntries()) - entriesAtStart;
    const results = await Promise.all(children.map((c) => c.stop(10_000)));
    stopped = true;
    const finalRss = serverPids.map((pid) => rssMiB(pid) ?? NaN);
    finalRss.forEach((x, i) => addRss(i, x));
    addStore();
    const removedSegments = replicas.map((n) => retentionRemovedIn(`${n.dir}/logs`));

    const hist = new Histogram();
    let acked = 0;
    let failed = 0;
    let msgsPerSec = 0;
    let firstError = '';
    let gcPauseMs = 0;
    for (const r of results) {
      gcPauseMs += r.gcPauseMs;
      hist.merge(r.hist);
      acked += r.acked;
      failed += r.failed;
      // Each child's own count over its own window; the windows differ by an IPC hop.
      msgsPerSec += r.seconds > 0 ? r.acked / r.seconds : 0;
      firstError ||= r.firstError;
    }
    const windowSec = (end.t - start.t) / 1000;
    const serverCpu = end.server - start.server;
    const clientCpu = end.client - start.client;
    // An estimate from two different clocks: the machine's busy time in /proc/stat is sampled per
    // tick, the processes' utime+stime come from their exact run time, and the readings are not
    // simultaneous. The difference is noise of up to about a tenth of a core either way (the
    // matrix in docs/bench/bench.md came out between -12 and +4), so a negative result is shown as 0.
    const otherCpu = Math.max(0, end.machine - start.machine - serverCpu - clientCpu);
    // CPU per message: CPU of the window over the messages of the same window.
    const msgsInWindow = msgsPerSec * windowSec;
    const per100k = (cpu: number): number => (msgsInWindow > 0 ? round((cpu / msgsInWindow) * 100_000, 3) : NaN);
    const figures: BenchFigures = {
      nodes: opts.nodes,
      size: opts.size,
      inflight: opts.inflight,
      flush: opts.flush,
      msgsPerSec: Math.round(msgsPerSec),
      mbPerSec: round((msgsPerSec * opts.size) / MB, 2),
      p50Ms: roundMs(hist.percentile(0.5)),
      p99Ms: roundMs(hist.percentile(0.99)),
      p999Ms: roundMs(hist.percentile(0.999)),
      serverCpuSecPer100k: per100k(serverCpu),
      clientCpuSecPer100k: per100k(clientCpu),
      serverRssMiB: round(Math.max(...finalRss), 1),
    };
    return {
      figures,
      serverIds,
      windowMicros: { start: startMicros, end: endMicros },
      meanMs: roundMs(hist.meanMs),
      acked,
      failed,
      firstError,
      windowSec: round(windowSec, 3),
      serverCpuPercent: Math.round((serverCpu / windowSec) * 100),
      serverSysCpuSecPer100k: per100k(end.serverSys - start.serverSys),
      replicaCpuPercent: end.perReplica.map((cpu, i) => Math.round(((cpu - start.perReplica[i]!) / windowSec) * 100)),
      msgsPerEntry: entries > 0 ? round(msgsInWindow / entries, 1) : NaN,
      serverPreemptionsPerSec: Math.round((end.preempted - start.preempted) / windowSec),
      namesrvCpuPercent: namesrvPids.length === 0 ? NaN : Math.round(((end.namesrv - start.namesrv) / windowSec) * 100),
      clientCpuPercent: Math.round((clientCpu / windowSec) * 100),
      clientGcPausePercent: results.length > 0 ? round((gcPauseMs / results.length / (windowSec * 1000)) * 100, 2) : NaN,
      otherCpuPercent: Math.round((otherCpu / windowSec) * 100),
      rss: replicas.map((n, i) => ({ id: n.id, ...rssSeries[i].summary(windowSec), trendMiBPerMin: round(rssSeries[i].all.slopeMiBPerMin, 1) })),
      store: replicas.map((n, i) => ({
        id: n.id,
        ...storeSeries[i].summary(windowSec),
        lastFiles: storeFiles[i],
        retentionRemovedSegments: removedSegments[i],
      })),
      storeSampleSec: STORE_SAMPLE_SEC,
      plot: replicas.map((n, i) => ({
        id: serverIds.get(n.pid) ?? n.id,
        rss: plots[i].rss.points.map(([t, v]) => [round(t, 1), round(v, 1)] as const),
        store: plots[i].store.points.map(([t, v]) => [round(t, 1), round(v, 1)] as const),
      })),
      cutShort,
    };
  } finally {
    // Stopped children drain their sends in flight and leave; after a failure, no waiting.
    await Promise.all(children.map((c) => c.end(stopped ? 5000 : 0)));
    for (const c of children) live.children.delete(c);
    const s = started as BenchServers | null;
    if (s !== null) {
      if (how.gracefulStop) await s.stopGracefully();
      await s.destroy();
      live.servers.delete(s);
    }
  }
}
