// npm run sim -- --runs N [--seed S] [--nodes 3|5] [--steps N] [--bug NAME] ...
// Runs randomized fault schedules against simulated clusters of real Raft cores (the simulator is
// scripts/sim/, its tests test/sim/). Progress goes to stderr; the first failing seed is printed
// with its replay command and the tail of its trace; stdout ends with exactly one JSON line.

import type { TestBug } from '../src/raft/index.ts';
import type { DriverBug } from './sim/cluster.ts';
import { runFigure8Seed } from './sim/figure8.ts';
import { replayCommand, runSeed } from './sim/schedule.ts';
import type { Profile, ScheduleOptions } from './sim/schedule.ts';

const CORE_BUGS: readonly TestBug[] = ['commit-old-term-by-counting', 'vote-for-stale-log', 'recovering-votes', 'pre-vote-tie-break-always', 'install-stale-snapshot', 'conf-change-before-term-commit', 'two-conf-changes-in-flight'];
/** Bugs of the simulated driver (the broker's replica loop), not of the core. */
const DRIVER_BUGS: readonly DriverBug[] = ['ack-before-durable', 'checkpoint-above-durable', 'commit-ahead-of-log', 'compact-stale-state'];
const BUGS: readonly string[] = [...CORE_BUGS, ...DRIVER_BUGS];
const PROFILES = ['default', 'crashy', 'wipes', 'snapshots', 'membership', 'figure8'] as const;

const HELP = `usage: npm run sim -- [options]

Runs deterministic simulations of 3- or 5-node Raft clusters under randomized faults (message
loss, delay, duplication, reordering, partitions, crashes that lose unsynced writes, restarts,
proposals, leadership transfers, unreachable reports), checks the safety invariants after every
step and liveness after healing. Run r uses seed S + r; a seed replays its run exactly.

options:
  --runs N          number of schedules (default 100)
  --seed S          seed of the first run (default: derived from the clock, printed)
  --nodes 3|5       cluster size (default: random per run)
  --steps N         operations per schedule (default 300)
  --bug NAME        build the cores with a test bug: ${BUGS.join(', ')}
  --profile P       default | crashy (more crashes, leader faults) | wipes (crashy, plus stores
                    deleted: replicas restart empty and catch up; and power cuts of every node)
                    | snapshots (crashy, with log compaction: followers behind get snapshots,
                    which the network drops, delays, duplicates and reorders)
                    | membership (crashy and wipes faults, plus membership changes: 2 spare
                    nodes join with empty stores and seeds; adds, promotions, removals of
                    any member, the leader included; half the seeds compact; pre-vote and
                    check-quorum on)
                    | figure8 (scripted phases, 3 nodes; --steps and --nodes do not apply)
  --prevote on|off  fix pre-vote (default: random per run)
  --torn on|off     torn writes on crash (default: random per run)
  --pipelined on|off  pipelined persistence, as the broker runs it (default: odd seeds on)
  --compact on|off  log compaction and snapshots (default: on in profile snapshots only); its
                    chance per applied batch is 0.05, 0.3 or 0.8 by seed % 3
  --quiet           no progress lines
  --help            this text

output: progress on stderr; the last line on stdout is
  {"runs":N,"steps":N,"violations":N,"firstFailingSeed":S|null,"elections":N,"committed":N,
   "compactions":N,"snapshotsSent":N,"snapshotsInstalled":N,"confProposed":N,"confRefused":N,
   "confApplied":N,"readsRequested":N,"readsRefused":N,"readsServed":N,"retired":N,"leaderRemovals":N,"wipes":N,"crashes":N,"acked":N}
exit status: 0 no violation, 1 violations found, 2 bad arguments.`;

function usageError(msg: string): never {
  process.stderr.write(`sim: ${msg} (see --help)\n`);
  process.exit(2);
}

function intArg(name: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined) usageError(`${name} needs a value`);
  if (!/^\d+$/.test(v)) usageError(`${name} must be an integer, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) usageError(`${name} must be in [${min}, ${max}], got ${n}`);
  return n;
}

function onOff(name: string, v: string | undefined): boolean {
  if (v === 'on') return true;
  if (v === 'off') return false;
  usageError(`${name} must be on or off, got '${v ?? ''}'`);
}

interface Args {
  runs: number;
  seed: number;
  seedGiven: boolean;
  nodes?: number;
  steps: number;
  bug?: TestBug | DriverBug;
  profile: (typeof PROFILES)[number];
  preVote?: boolean;
  torn?: boolean;
  pipelined?: boolean;
  compact?: boolean;
  quiet: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { runs: 100, seed: 0, seedGiven: false, steps: 300, profile: 'default', quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    switch (k) {
      case '--help':
      case '-h':
        process.stdout.write(`${HELP}\n`);
        process.exit(0);
      // falls through (exit never returns)
      case '--runs':
        a.runs = intArg(k, v, 1, 10_000_000);
        i++;
        break;
      case '--seed':
        a.seed = intArg(k, v, 0, 2 ** 31 - 1);
        a.seedGiven = true;
        i++;
        break;
      case '--nodes':
        a.nodes = intArg(k, v, 3, 5);
        if (a.nodes !== 3 && a.nodes !== 5) usageError(`--nodes must be 3 or 5, got ${a.nodes}`);
        i++;
        break;
      case '--steps':
        a.steps = intArg(k, v, 1, 1_000_000);
        i++;
        break;
      case '--bug':
        if (!BUGS.includes(v ?? '')) usageError(`--bug must be one of ${BUGS.join(', ')}, got '${v ?? ''}'`);
        a.bug = v as TestBug | DriverBug;
        i++;
        break;
      case '--profile':
        if (!PROFILES.includes(v as Args['profile'])) usageError(`--profile must be one of ${PROFILES.join(', ')}, got '${v ?? ''}'`);
        a.profile = v as Args['profile'];
        i++;
        break;
      case '--prevote':
        a.preVote = onOff(k, v);
        i++;
        break;
      case '--torn':
        a.torn = onOff(k, v);
        i++;
        break;
      case '--pipelined':
        a.pipelined = onOff(k, v);
        i++;
        break;
      case '--compact':
        a.compact = onOff(k, v);
        i++;
        break;
      case '--quiet':
        a.quiet = true;
        break;
      default:
        usageError(`unknown argument '${k}'`);
    }
  }
  if (!a.seedGiven) a.seed = Date.now() % 1_000_000_000;
  return a;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const sched: ScheduleOptions = {
    steps: args.steps,
    ...(args.nodes !== undefined ? { nodes: args.nodes } : {}),
    ...(args.profile !== 'figure8' ? { profile: args.profile as Profile } : {}),
    ...(args.preVote !== undefined ? { preVote: args.preVote } : {}),
    ...(args.torn !== undefined ? { tornWrites: args.torn } : {}),
    ...(args.pipelined !== undefined ? { pipelined: args.pipelined } : {}),
    ...(args.compact !== undefined ? { compact: args.compact } : {}),
  };
  const isDriverBug = (DRIVER_BUGS as readonly string[]).includes(args.bug ?? '');
  const bugs = args.bug && !isDriverBug ? new Set<TestBug>([args.bug as TestBug]) : undefined;
  const runOpts = { ...(bugs ? { testBugs: bugs } : {}), ...(isDriverBug ? { driverBug: args.bug as DriverBug } : {}) };
  const log = (s: string): void => {
    if (!args.quiet) process.stderr.write(`${s}\n`);
  };
  log(`sim: ${args.runs} runs from seed ${args.seed}, profile ${args.profile}${args.bug ? `, bug ${args.bug}` : ''}`);

  let steps = 0;
  let violations = 0;
  let firstFailingSeed: number | null = null;
  let elections = 0;
  let committed = 0;
  let compactions = 0;
  let snapshotsSent = 0;
  let snapshotsInstalled = 0;
  const conf = { readsRequested: 0, readsRefused: 0, readsServed: 0, confProposed: 0, confRefused: 0, confApplied: 0, retired: 0, leaderRemovals: 0, wipes: 0, crashes: 0, acked: 0 };
  const started = Date.now();
  let lastProgress = started;
  for (let r = 0; r < args.runs; r++) {
    const seed = args.seed + r;
    let violation;
    let trace: readonly string[];
    let replay: string;
    if (args.profile === 'figure8') {
      const res = runFigure8Seed(seed, bugs);
      violation = res.violation;
      trace = res.trace;
      steps += res.schedule.phases.length;
      elections += res.elections;
      committed += res.committed;
      replay = `npm run sim -- --profile figure8 --runs 1 --seed ${seed}${args.bug ? ` --bug ${args.bug}` : ''}`;
    } else {
      const res = runSeed(seed, sched, runOpts);
      violation = res.violation;
      trace = res.trace;
      steps += res.steps;
      elections += res.elections;
      committed += res.committed;
      compactions += res.cluster.stats.compactions;
      snapshotsSent += res.cluster.stats.snapshotsSent;
      snapshotsInstalled += res.cluster.stats.snapshotsInstalled;
      for (const k of Object.keys(conf) as (keyof typeof conf)[]) conf[k] += res.cluster.stats[k];
      replay = replayCommand(seed, sched, args.bug);
    }
    if (violation) {
      violations++;
      if (firstFailingSeed === null) {
        firstFailingSeed = seed;
        process.stderr.write(`\nVIOLATION in seed ${seed}: ${violation.invariant}: ${violation.message}\n`);
        process.stderr.write(`replay: ${replay}\nlast steps:\n${trace.map((l) => `  ${l}`).join('\n')}\n\n`);
      }
    }
    const now = Date.now();
    if (now - lastProgress >= 3000) {
      lastProgress = now;
      log(`sim: ${r + 1}/${args.runs} runs, ${steps} steps, ${violations} violations, ${((now - started) / 1000).toFixed(1)} s`);
    }
  }
  log(`sim: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.stdout.write(`${JSON.stringify({ runs: args.runs, steps, violations, firstFailingSeed, elections, committed, compactions, snapshotsSent, snapshotsInstalled, ...conf })}\n`);
  process.exitCode = violations > 0 ? 1 : 0;
}

main();
