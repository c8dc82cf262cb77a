// npm run bench: throughput, latency and cost of a local raftmq broker group, measured with
// raftmq's own client from separate load processes. See --help; the pieces are in scripts/bench/.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseFlagsOrHelp, startProgress, UsageError, type FlagValues, type Progress } from '../src/cli/index.ts';
import { markdownReport, median, medianFigures, type CompareCell, type ReportContext } from './bench/report.ts';
import { formatSummary, mainThreadProfilesIn, summarizeProfile, type CpuProfile } from './bench/cpu-profile.ts';
import { breakdown, breakdownTable, readTraces } from './bench/latency-breakdown.ts';
import { describeMachine, measureMachine } from './bench/machine-figures.ts';
import { killAllNow, runOnce, type BenchFigures, type BenchOptions, type RunResult } from './bench/run.ts';
import { alternatingRuns, checkCompareFlags, MATRIX, onOffAxisOf, optionsFrom, resultLabels, SPEC, type OnOffAxis } from './bench/options.ts';
import { svgChart } from './bench/svg-chart.ts';
import { lineChartSvg } from './bench/line-chart.ts';

// On a terminal, a bar over the seconds of load of the whole bench; its lines print above it.
let bar: Progress = startProgress({ unit: 's', enabled: false });
let secondsDone = 0;
const say = (line: string): void => bar.log(line);
const printResult = (line: string): void => bar.log(line, process.stdout);
const startBar = (seconds: number): void => {
  bar = startProgress({ total: seconds, unit: 's of load', rate: false });
};
const onSecond = (msgsPerSec: number): void => {
  secondsDone++;
  bar.update(secondsDone, `${msgsPerSec} msgs/s`);
};

interface RunSummary {
  readonly figures: BenchFigures;
  readonly failedSends: number;
  /** Median busy CPU of everything else on the machine during the windows (100 = one core). */
  readonly otherCpuPercent: number;
  readonly note: string;
}

/** --runs runs of one configuration; the medians, or throws when a run broke. */
async function runConfig(opts: BenchOptions, runs: number, label: string, traceDir?: string, cpuProfDir?: string, plotFile?: string): Promise<RunSummary> {
  const figures: BenchFigures[] = [];
  const otherCpu: number[] = [];
  let failedSends = 0;
  const notes: string[] = [];
  for (let r = 1; r <= runs; r++) {
    const runLabel = `${label}run ${r}/${runs}`;
    // Replicas and load processes inherit the environment: RAFTMQ_TRACE_DIR turns their tracing on.
    const runTraceDir = traceDir === undefined ? undefined : path.join(traceDir, `run-${r}`);
    if (runTraceDir !== undefined) {
      fs.rmSync(runTraceDir, { recursive: true, force: true });
      process.env.RAFTMQ_TRACE_DIR = runTraceDir;
    }
    // Replicas take extra Node flags from RAFTMQ_REPLICA_NODE_FLAGS (see spawnNode).
    const runProfDir = cpuProfDir === undefined ? undefined : path.join(cpuProfDir, `run-${r}`);
    if (runProfDir !== undefined) {
      fs.rmSync(runProfDir, { recursive: true, force: true });
      fs.mkdirSync(runProfDir, { recursive: true });
      process.env.RAFTMQ_REPLICA_NODE_FLAGS = `--cpu-prof --cpu-prof-dir=${runProfDir}`;
    }
    let res: RunResult;
    try {
      res = await runOnce(opts, runLabel, say, { gracefulStop: runProfDir !== undefined, onSecond });
    } finally {
      delete process.env.RAFTMQ_TRACE_DIR;
      delete process.env.RAFTMQ_REPLICA_NODE_FLAGS;
    }
    if (runProfDir !== undefined) {
      const profiles = mainThreadProfilesIn(runProfDir);
      if (profiles.length === 0) say(`${runLabel}: WARNING no .cpuprofile in ${runProfDir} (a replica did not exit cleanly)`);
      for (const { file, pid } of profiles) {
        const who = res.serverIds.get(pid) ?? `pid ${pid}`;
        say(formatSummary(`${runLabel}: ${who} (${path.basename(file)})`, summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile, 15, res.windowMicros.start, res.windowMicros.end)));
      }
    }
    if (runTraceDir !== undefined) {
      try {
        say(`${runLabel}: ${breakdownTable(breakdown(readTraces(runTraceDir)))}`);
      } catch (err) {
        say(`${runLabel}: WARNING the traces in ${runTraceDir} could not be put together: ${(err as Error).message}`);
      }
    }
    figures.push(res.figures);
    otherCpu.push(res.otherCpuPercent);
    failedSends += res.failed;
    const extra = { meanMs: res.meanMs, acked: res.acked, failed: res.failed, windowSec: res.windowSec, serverCpuPercent: res.serverCpuPercent, serverSysCpuSecPer100k: res.serverSysCpuSecPer100k, replicaCpuPercent: Object.fromEntries(res.rss.map((x, i) => [x.id, res.replicaCpuPercent[i]])), msgsPerEntry: res.msgsPerEntry, serverPreemptionsPerSec: res.serverPreemptionsPerSec, ...(Number.isNaN(res.namesrvCpuPercent) ? {} : { namesrvCpuPercent: res.namesrvCpuPercent }), clientCpuPercent: res.clientCpuPercent, clientGcPausePercent: res.clientGcPausePercent, otherCpuPercent: res.otherCpuPercent, cores: os.cpus().length };
    say(`${runLabel}: ${JSON.stringify({ ...res.figures, ...extra })}`);
    // A trend over a few seconds mostly shows the heap warming up: only a minute or more says
    // anything about growth per minute.
    const signed = (x: number): string => `${x >= 0 ? '+' : ''}${x}`;
    const trend = (x: { trendMiBPerMin: number; settledTrendMiBPerMin: number }): string =>
      (res.windowSec >= 60 ? `, trend ${signed(x.trendMiBPerMin)} MiB/min` : '') +
      (Number.isFinite(x.settledTrendMiBPerMin) ? `, from minute 1 on ${signed(x.settledTrendMiBPerMin)} MiB/min` : '');
    const rss = res.rss.map((x) => `${x.id} ${x.firstMiB} -> ${x.lastMiB} (max ${x.maxMiB}${trend(x)})`);
    say(`${runLabel}: RSS MiB per replica over the window (first -> last sample): ${rss.join(', ')}`);
    if (res.rss.some((x) => x.minuteMediansMiB.length >= 2)) {
      say(`${runLabel}: RSS MiB per replica, median of each minute: ${res.rss.map((x) => `${x.id} ${x.minuteMediansMiB.join(' ')}`).join('; ')}`);
    }
    const store = res.store.map((x) => `${x.id} ${x.firstMiB} -> ${x.lastMiB} (max ${x.maxMiB}` +
      `${Number.isFinite(x.settledTrendMiBPerMin) ? `, from minute 1 on ${signed(x.settledTrendMiBPerMin)} MiB/min` : ''}` +
      `, ${x.lastFiles} files at the end, retention removed ${Number.isNaN(x.retentionRemovedSegments) ? '?' : x.retentionRemovedSegments} segments since the start)`);
    say(`${runLabel}: store MiB on disk per replica over the window (first -> last sample, every ${res.storeSampleSec} s, logs/ left out): ${store.join(', ')}`);
    if (res.store.some((x) => x.minuteMediansMiB.length >= 2)) {
      say(`${runLabel}: store MiB per replica, median of each minute: ${res.store.map((x) => `${x.id} ${x.minuteMediansMiB.join(' ')}`).join('; ')}`);
    }
    if (plotFile !== undefined) {
      const file = runs === 1 ? plotFile : plotFile.replace(/(\.svg)?$/i, `.run-${r}.svg`);
      const conf = Object.entries(opts.brokerConf ?? {}).map(([k, v]) => `${k}=${v}`).join('; ');
      const subtitle = `${opts.groups > 1 ? `${opts.groups} groups x ` : ''}${opts.nodes} nodes, ${opts.size} B, ${opts.inflight} in flight, ${opts.flush}, ${res.windowSec} s window` +
        `${conf ? `; ${conf}` : ''}; ${res.figures.msgsPerSec} msgs/s, p99 ${res.figures.p99Ms} ms${res.failed > 0 ? `, ${res.failed} sends failed` : ''}`;
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      fs.writeFileSync(
        file,
        lineChartSvg(
          [
            { title: 'Resident memory (VmRSS) per replica', yLabel: 'RSS (MiB)', series: res.plot.map((p) => ({ name: p.id, points: p.rss })) },
            { title: 'Store on disk per replica (allocated, logs/ left out)', yLabel: 'store (MiB)', series: res.plot.map((p) => ({ name: p.id, points: p.store })) },
          ],
          { title: `raftmq bench${label ? ` ${label.trim()}` : ''}: RSS and store size over the window`, subtitle },
        ),
      );
      say(`${runLabel}: wrote ${file}`);
    }
    if (res.failed > 0) {
      say(`${runLabel}: WARNING ${res.failed} sends failed (first: ${res.firstError}); the figures count only acked sends`);
      notes.push(`${res.failed} failed: ${res.firstError}`);
    }
    if (res.cutShort) {
      say(`${runLabel}: WARNING window cut short: ${res.cutShort}`);
      notes.push(`cut short: ${res.cutShort}`);
    }
  }
  return { figures: medianFigures(figures), failedSends, otherCpuPercent: median(otherCpu), note: notes.join('; ') };
}

/** --metrics both, --idempotence both: every run twice, off and on, the order alternating; two
 *  lines of medians. */
async function onAndOff(axis: OnOffAxis, opts: BenchOptions, runs: number): Promise<number> {
  const figures: Record<'off' | 'on', BenchFigures[]> = { off: [], on: [] };
  let failed = 0;
  for (const { pair, mode } of alternatingRuns(runs)) {
    const s = await runConfig({ ...opts, [axis]: mode === 'on' }, 1, `${axis} ${mode}, pair ${pair}/${runs} `);
    figures[mode].push(s.figures);
    failed += s.failedSends;
  }
  for (const mode of ['off', 'on'] as const) printResult(JSON.stringify({ ...resultLabels(opts, { axis, mode }), ...medianFigures(figures[mode]) }));
  return failed > 0 ? 1 : 0;
}

async function single(flags: FlagValues): Promise<number> {
  const { runs, ...opts } = optionsFrom(flags, false);
  const axis = onOffAxisOf(flags);
  if (axis !== null) {
    const ctx = await context(opts.durationSec, opts.warmupSec, runs, opts.producers);
    say(`bench --${axis} both: ${JSON.stringify(opts)}, ${runs} pair(s) of runs; ${ctx.machine}, commit ${ctx.commit}`);
    say(`bench: machine figures: ${ctx.machineFigures}`);
    startBar(2 * runs * (opts.warmupSec + opts.durationSec));
    return onAndOff(axis, opts, runs);
  }
  const traceDir = flags.trace === undefined ? undefined : path.resolve(String(flags.trace));
  const cpuProfDir = flags['cpu-prof'] === undefined ? undefined : path.resolve(String(flags['cpu-prof']));
  if (traceDir !== undefined && opts.inflight !== 1) throw new UsageError(`--trace needs --inflight 1 (sends are matched to proposals by time), got ${opts.inflight}`);
  const ctx = await context(opts.durationSec, opts.warmupSec, runs, opts.producers);
  say(`bench: ${JSON.stringify(opts)}, ${runs} run(s); ${ctx.machine}, commit ${ctx.commit}`);
  say(`bench: machine figures: ${ctx.machineFigures}`);
  startBar(runs * (opts.warmupSec + opts.durationSec));
  const plotFile = flags.plot === undefined ? undefined : String(flags.plot);
  const summary = await runConfig(opts, runs, '', traceDir, cpuProfDir, plotFile);
  printResult(JSON.stringify({ ...resultLabels(opts), ...summary.figures }));
  return summary.failedSends > 0 ? 1 : 0;
}

async function context(durationSec: number, warmupSec: number, runs: number, producers: number): Promise<ReportContext> {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (dirty) commit += ' (with uncommitted changes)';
  } catch {
    // not a git checkout
  }
  const cpus = os.cpus();
  const machine = `${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, Linux ${os.release()}, Node ${process.version}`;
  // On the file system the replicas' temp directories use (see LocalCluster).
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-bench-machine-'));
  let machineFigures: string;
  try {
    machineFigures = describeMachine(await measureMachine(scratch));
  } catch (err) {
    machineFigures = `not measured (${(err as Error).message})`;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return { date: new Date().toISOString(), machine, machineFigures, commit, durationSec, warmupSec, runs, producers };
}

async function compare(flags: FlagValues): Promise<number> {
  checkCompareFlags(flags);
  const { runs, ...base } = optionsFrom({ ...flags, inflight: flags.inflight ?? Math.max(...MATRIX.inflight) }, true);
  const axis = <T,>(given: unknown, all: readonly T[]): readonly T[] => (given === undefined ? all : [given as T]);
  const cellsToRun: BenchOptions[] = [];
  for (const nodes of axis(flags.nodes, MATRIX.nodes))
    for (const size of axis(flags.size, MATRIX.size))
      for (const inflight of axis(flags.inflight, MATRIX.inflight))
        for (const flush of axis(flags.flush, MATRIX.flush)) {
          if (base.producers > inflight) continue; // a cell needs a send in flight per producer
          cellsToRun.push({ ...base, nodes, size, inflight, flush });
        }
  if (cellsToRun.length === 0) throw new UsageError(`no cell of the matrix has at least --producers (${base.producers}) in flight`);
  const outDir = path.resolve(String(flags.out));
  fs.mkdirSync(outDir, { recursive: true });
  const ctx = await context(base.durationSec, base.warmupSec, runs, base.producers);
  say(`bench: machine figures: ${ctx.machineFigures}`);
  say(`bench --compare: ${cellsToRun.length} cells, ${base.warmupSec} s warmup + ${base.durationSec} s each, ${runs} run(s) per cell, output in ${outDir}`);
  startBar(cellsToRun.length * runs * (base.warmupSec + base.durationSec));
  const done: CompareCell[] = [];
  let status = 0;
  for (const [i, cell] of cellsToRun.entries()) {
    const label = `cell ${i + 1}/${cellsToRun.length} (${cell.nodes} nodes, ${cell.size} B, ${cell.inflight} in flight, ${cell.flush}) `;
    say(`${label}starting`);
    let result: CompareCell;
    try {
      const s = await runConfig(cell, runs, label);
      result = { nodes: cell.nodes, size: cell.size, inflight: cell.inflight, flush: cell.flush, figures: s.figures, failedSends: s.failedSends, otherCpuPercent: s.otherCpuPercent, note: s.note };
      printResult(JSON.stringify(s.figures));
      if (s.failedSends > 0) status = 1;
    } catch (err) {
      say(`${label}FAILED: ${(err as Error).message}`);
      result = { nodes: cell.nodes, size: cell.size, inflight: cell.inflight, flush: cell.flush, figures: null, failedSends: 0, otherCpuPercent: NaN, note: (err as Error).message };
      status = 1;
    }
    done.push(result);
    say(`${label}done: ${result.figures ? `${result.figures.msgsPerSec} msgs/s, p99 ${result.figures.p99Ms} ms` : 'failed'}`);
    // Rewritten after every cell, so an interrupted matrix still leaves what it measured.
    fs.writeFileSync(path.join(outDir, 'bench.md'), markdownReport(done, ctx));
    fs.writeFileSync(path.join(outDir, 'bench.svg'), svgChart(done, `${ctx.warmupSec} s warmup + ${ctx.durationSec} s per cell, ${ctx.runs} run(s), commit ${ctx.commit}, ${ctx.date.slice(0, 16)}`));
  }
  say(`bench --compare: wrote ${path.join(outDir, 'bench.md')} and ${path.join(outDir, 'bench.svg')}`);
  return status;
}

async function main(argv: string[]): Promise<number> {
  let flags: FlagValues | null;
  try {
    flags = parseFlagsOrHelp(SPEC, argv);
  } catch (err) {
    if (err instanceof UsageError) {
      say(`bench: ${err.message}`);
      return 2;
    }
    throw err;
  }
  if (flags === null) return 0;
  // Whatever ends this process (a crash, a closed stderr pipe: `| head`), the servers must not
  // outlive it: they are detached, and nothing else would stop them or delete their data.
  process.on('exit', () => killAllNow());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      bar.stop();
      say(`bench: ${signal}, stopping the servers and load processes`);
      killAllNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  try {
    return flags.compare ? await compare(flags) : await single(flags);
  } catch (err) {
    bar.stop();
    if (err instanceof UsageError) {
      say(`bench: ${err.message}`);
      return 2;
    }
    // Expected failures (a replica died, no master) read best as one line; BENCH_DEBUG=1 for the stack.
    say(`bench: ${process.env.BENCH_DEBUG ? ((err as Error).stack ?? String(err)) : (err as Error).message}`);
    return 1;
  } finally {
    bar.stop();
  }
}

process.exitCode = await main(process.argv.slice(2));
