// npm run bench's command line: the flags and their --help text, the checks of flags that do
// not go together, the options of a run, and the order of the runs of an on/off comparison.
import { parseFlags, UsageError, type CommandSpec, type FlagValues } from '../../src/cli/index.ts';
import { brokerConfFrom } from './broker-conf.ts';
import type { BenchOptions, FlushType } from './run.ts';

export const FLUSH_TYPES: readonly FlushType[] = ['SYNC_FLUSH', 'ASYNC_FLUSH'];
export const MATRIX = { nodes: [3, 5], size: [128, 1024], inflight: [1, 64, 256], flush: FLUSH_TYPES } as const;
/** Broker groups of --groups: each is --nodes replicas, so 8 x 7 processes at most. */
export const GROUPS_MAX = 8;

// Defaults are applied in optionsFrom, not in the spec, so that --compare can tell a given axis
// flag (which narrows the matrix to that value) from an absent one.
export const SPEC: CommandSpec = {
  usage:
    'npm run bench -- [--nodes 3|5] [--groups G] [--size BYTES] [--inflight K] [--producers P] [--duration S]\n' +
    '                 [--warmup S] [--flush SYNC_FLUSH|ASYNC_FLUSH] [--runs R] [--queues Q] [--compare [--out DIR]]\n' +
    '                 [--trace DIR] [--cpu-prof DIR] [--set KEY=VALUE,...] [--metrics off|on|both]\n' +
    '                 [--idempotence on|off|both] [--plot FILE]',
  summary:
    'Starts a fresh local broker group (temp dir, 127.0.0.1) per run, waits for a master, creates the\n' +
    'topic, warms up, then drives it for --duration seconds from P load processes: K independent\n' +
    'send() calls in flight, each awaiting its own ack. Progress on stderr every second (under it a bar\n' +
    'with the time left when stderr is a terminal), one line per run on stderr, and one JSON line on\n' +
    'stdout with the medians over the runs:\n' +
    '  {"nodes","size","inflight","flush","msgsPerSec","mbPerSec","p50Ms","p99Ms","p999Ms",\n' +
    '   "serverCpuSecPer100k","clientCpuSecPer100k","serverRssMiB"}\n' +
    '(led by "groups" with --groups above 1, and by "idempotence" when it is off or both).\n' +
    'Latency: each send from call to ack. CPU: utime+stime from /proc/<pid>/stat over the measured\n' +
    'window, all replicas (server) or all load processes (client); the per-run line on stderr also has\n' +
    'serverSysCpuSecPer100k, the kernel\'s (stime) part of the server figure, replicaCpuPercent, each\n' +
    'replica\'s CPU in the window (100 = one core), msgsPerEntry, messages per Raft entry committed in\n' +
    'the window (all groups), serverPreemptionsPerSec, how often the kernel preempted a replica\'s thread\n' +
    'for another (CPUs oversubscribed), and clientGcPausePercent, the load processes\' share of time in\n' +
    'GC pauses. RSS: the largest replica\'s VmRSS at the end; each run also prints on stderr\n' +
    'every replica\'s RSS (sampled each second) and its store on disk (allocated bytes under\n' +
    'storePathRootDir, logs/ left out, sampled every 5 s): first, last, max, the trend from minute 1\n' +
    'on, the median of each minute, and the segments retention removed.\n' +
    '--groups G (not --compare or --metrics): G broker groups (broker-a, broker-b, ...) of --nodes each\n' +
    'behind one NameServer, the topic created with --queues queues on every group, and the producers\n' +
    'routed by the NameServer (sends go round robin over every group\'s queues). Server CPU and RSS\n' +
    'cover every replica of every group; the NameServer\'s CPU is namesrvCpuPercent on stderr.\n' +
    '--idempotence off: the load processes\' producers are not idempotent (on, the default, is what a\n' +
    'Producer does unless told otherwise); --idempotence both (not --compare): like --metrics both,\n' +
    'each run twice, off and on, alternating; {"idempotence":"off",...} then {"idempotence":"on",...}.\n' +
    '--compare runs the matrix (3 and 5 nodes; 128 B and 1 KiB; 1, 64 and 256 in flight;\n' +
    'both flush types), one JSON line per cell on stdout, and writes DIR/bench.md and DIR/bench.svg;\n' +
    'an axis flag given with --compare narrows the matrix to that value.\n' +
    '--trace DIR (with --inflight 1): every process records each send\'s steps (src/trace/trace.ts) into\n' +
    'DIR/run-N, and each run ends with a table of where the time of one send goes.\n' +
    '--cpu-prof DIR (not --compare): the replicas run under node --cpu-prof, write DIR/run-N/*.cpuprofile\n' +
    '(open in Chrome DevTools or speedscope) and are stopped gracefully; each run ends with every\n' +
    'replica\'s top functions by self time in the measured window (profiling costs CPU: not headline figures).\n' +
    '--metrics on: every replica serves Prometheus metrics (metricsPromExporterPort, a free port each);\n' +
    '--metrics both (not --compare): each run is done twice, metrics off and on, in alternating order,\n' +
    'and two JSON lines give the medians, {"metrics":"off",...} then {"metrics":"on",...}: what\n' +
    'recording the metrics costs, measured on the same machine at the same time.\n' +
    '--plot FILE (not --compare or a "both"): writes an SVG line chart of each replica\'s RSS and\n' +
    'store on disk (MiB) over the measured window, one point per 5 s (FILE.run-N.svg for each run\n' +
    'when --runs > 1). A soak with retention (deleteWhen lists all 24 hours, 0;1;2 and so on to 23):\n' +
    '  --size 128 --duration 1800 --runs 1 --plot soak.svg\n' +
    '  --set "mappedFileSizeCommitLog=16777216,fileReservedTime=0.03,deleteWhen=0;1;2;...;23,checkpointIntervalMs=1000"\n' +
    'Exit status 1 when a send failed or a run broke (the JSON is still printed), 2 for bad flags.',
  flags: [
    { name: 'nodes', kind: 'int', help: 'replicas in the group (in each group with --groups; default 3)', min: 1, max: 7 },
    { name: 'groups', kind: 'int', help: 'broker groups behind one NameServer (1: one group, no NameServer)', default: 1, min: 1, max: GROUPS_MAX },
    { name: 'size', kind: 'int', help: 'message body bytes (default 1024)', min: 1, max: 4 * 1024 * 1024 },
    { name: 'inflight', kind: 'int', help: 'sends in flight, each awaiting its ack (default 256)', min: 1, max: 65536 },
    { name: 'flush', kind: 'string', help: 'flushDiskType of the replicas (default SYNC_FLUSH)', choices: FLUSH_TYPES },
    { name: 'producers', kind: 'int', help: 'load processes (one Producer each) sharing the in-flight sends', default: 1, min: 1, max: 64 },
    { name: 'duration', kind: 'int', help: 'measured seconds per run (default 10; 5 per cell with --compare)', min: 1, max: 86_400 },
    { name: 'warmup', kind: 'int', help: 'unmeasured seconds of load before the window', default: 3, min: 0, max: 3600 },
    { name: 'runs', kind: 'int', help: 'runs, each on a fresh group; figures are medians (default 3; 1 per cell with --compare)', min: 1, max: 100 },
    { name: 'queues', kind: 'int', help: 'queues of the bench topic on each group (sends round-robin over them)', default: 4, min: 1, max: 1024 },
    { name: 'compare', kind: 'bool', help: 'run the matrix and write bench.md and bench.svg' },
    { name: 'out', kind: 'string', help: 'output directory of --compare', default: './bench-out' },
    { name: 'trace', kind: 'string', help: 'with --inflight 1 (not --compare): trace each send\'s steps into DIR and print the breakdown' },
    { name: 'cpu-prof', kind: 'string', help: 'not with --compare: CPU-profile the replicas into DIR and print their top functions' },
    { name: 'set', kind: 'string', help: 'broker.conf keys for every replica, KEY=VALUE[,KEY=VALUE...] (e.g. directIoEnable=false), to compare settings' },
    { name: 'plot', kind: 'string', help: 'not with --compare: write an SVG chart of each replica\'s RSS and store size over the window to FILE' },
    { name: 'metrics', kind: 'string', help: 'replicas serve Prometheus metrics: off, on, or both (alternating runs)', default: 'off', choices: ['off', 'on', 'both'] },
    { name: 'idempotence', kind: 'string', help: 'idempotent producers: on, off, or both (alternating runs)', default: 'on', choices: ['on', 'off', 'both'] },
  ],
};

/** The flags of `argv` (null for --help), without printing anything: parseFlagsOrHelp prints. */
export function parseBenchFlags(argv: readonly string[]): FlagValues | null {
  return parseFlags(SPEC, argv);
}

export type BenchRunOptions = BenchOptions & { readonly runs: number };

/** The options of the runs; UsageError for values that do not go together. */
export function optionsFrom(flags: FlagValues, compare: boolean): BenchRunOptions {
  const nodes = Number(flags.nodes ?? 3);
  if (nodes % 2 === 0) throw new UsageError(`--nodes should be odd (3 or 5), got ${nodes}`);
  const inflight = Number(flags.inflight ?? 256);
  const producers = Number(flags.producers);
  if (producers > inflight) throw new UsageError(`--producers (${producers}) must not exceed --inflight (${inflight}): each producer needs a send in flight`);
  const groups = Number(flags.groups ?? 1);
  // LocalClusterSet writes one broker.conf for all replicas: no metrics port of each one's own.
  if (groups > 1 && flags.metrics !== undefined && flags.metrics !== 'off') throw new UsageError(`--metrics ${String(flags.metrics)} works with one group, not with --groups ${groups}`);
  return {
    groups,
    nodes,
    size: Number(flags.size ?? 1024),
    inflight,
    producers,
    durationSec: Number(flags.duration ?? (compare ? 5 : 10)),
    warmupSec: Number(flags.warmup ?? 3),
    flush: (flags.flush ?? 'SYNC_FLUSH') as FlushType,
    queues: Number(flags.queues ?? 4),
    idempotence: flags.idempotence !== 'off',
    brokerConf: brokerConfFrom(flags.set),
    metrics: flags.metrics === 'on',
    runs: Number(flags.runs ?? (compare ? 1 : 3)),
  };
}

/** What an on/off comparison switches: each run is made with the setting off and on. */
export type OnOffAxis = 'metrics' | 'idempotence';

/** The axis given as "both" (null for none); UsageError for flags that do not go with it. */
export function onOffAxisOf(flags: FlagValues): OnOffAxis | null {
  const axes = (['metrics', 'idempotence'] as const).filter((a) => flags[a] === 'both');
  if (axes.length === 0) return null;
  if (axes.length > 1) throw new UsageError('--metrics both and --idempotence both: compare one setting at a time');
  const axis = axes[0]!;
  for (const f of ['plot', 'trace', 'cpu-prof'] as const) {
    if (flags[f] !== undefined) throw new UsageError(`--${f} works with one run at a time, not with --${axis} both`);
  }
  return axis;
}

/** UsageError for flags that do not go with --compare (its report has no column for them). */
export function checkCompareFlags(flags: FlagValues): void {
  if (flags.trace !== undefined) throw new UsageError('--trace works with one configuration at --inflight 1, not with --compare');
  for (const axis of ['metrics', 'idempotence'] as const) {
    if (flags[axis] === 'both') throw new UsageError(`--${axis} both works with one configuration, not with --compare`);
  }
  if (flags['cpu-prof'] !== undefined) throw new UsageError('--cpu-prof works with one configuration, not with --compare');
  if (flags.plot !== undefined) throw new UsageError('--plot works with one configuration, not with --compare');
  if (Number(flags.groups ?? 1) > 1) throw new UsageError('--groups works with one configuration, not with --compare');
  if (flags.idempotence === 'off') throw new UsageError('--idempotence off works with one configuration, not with --compare');
}

export interface OnOffRun {
  /** 1-based pair. */
  readonly pair: number;
  readonly mode: 'off' | 'on';
}

/** The runs of an on/off comparison: each pair runs both modes, off first in odd pairs and on
 *  first in even ones, so that neither mode always meets the machine warmer. */
export function alternatingRuns(pairs: number): OnOffRun[] {
  if (!Number.isInteger(pairs) || pairs < 1) throw new RangeError(`pairs must be a positive integer, got ${pairs}`);
  const out: OnOffRun[] = [];
  for (let pair = 1; pair <= pairs; pair++) {
    for (const mode of pair % 2 === 1 ? (['off', 'on'] as const) : (['on', 'off'] as const)) out.push({ pair, mode });
  }
  return out;
}

/** The keys that lead a result line: the on/off mode, groups above 1, idempotence when off
 *  (default runs print exactly what they printed before these flags). */
export function resultLabels(opts: BenchOptions, onOff?: { readonly axis: OnOffAxis; readonly mode: 'off' | 'on' }): Record<string, string | number> {
  const labels: Record<string, string | number> = {};
  if (onOff !== undefined) labels[onOff.axis] = onOff.mode;
  if (opts.groups > 1) labels.groups = opts.groups;
  if (onOff?.axis !== 'idempotence' && !opts.idempotence) labels.idempotence = 'off';
  return labels;
}
