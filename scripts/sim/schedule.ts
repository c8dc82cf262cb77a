// Fault schedules for the simulation: fast-check arbitraries that generate a cluster shape, a
// Raft configuration and a sequence of operations (ticks, deliveries, network faults,
// partitions, crashes, restarts, proposals, transfers, unreachable reports), plus the runner
// that plays a schedule against a SimCluster and heals it at the end (liveness).
//
// A run is fully determined by its seed: the schedule is fc.sample(arbitrary, { seed }) and the
// cluster's own Prng (message order, disk latency, node seeds) is seeded with the same number.

import type { DriverBug } from './cluster.ts';
import fc from 'fast-check';
import type { ConfChangeOp, TestBug } from '../../src/raft/index.ts';
import { SimCluster } from './cluster.ts';
import type { NodeFactory } from './cluster.ts';
import type { Violation } from './checkers.ts';

export type Op =
  | { readonly t: 'tick'; readonly count: number }
  | { readonly t: 'tickOne'; readonly node: number }
  | { readonly t: 'deliver'; readonly count: number }
  | { readonly t: 'deliverAll' }
  | { readonly t: 'drop'; readonly count: number }
  | { readonly t: 'dup'; readonly count: number }
  /** Network quality: loss and duplication in percent, delay up to `delay` steps. */
  | { readonly t: 'net'; readonly dropPct: number; readonly dupPct: number; readonly delay: number }
  | { readonly t: 'isolate'; readonly node: number }
  | { readonly t: 'split'; readonly mask: number }
  | { readonly t: 'oneWay'; readonly from: number; readonly to: number }
  | { readonly t: 'ring'; readonly node: number }
  | { readonly t: 'heal' }
  | { readonly t: 'crash'; readonly node: number }
  /** Crashes a node the driver believes is leader (if any). */
  | { readonly t: 'crashLeader' }
  /** Cuts a believed leader off from everyone (if any). */
  | { readonly t: 'isolateLeader' }
  /** Crashes `node` and deletes its store (a replaced disk): it restarts empty (SimCluster.wipe). */
  | { readonly t: 'wipe'; readonly node: number }
  /** Every node loses power at once (SimCluster.powerCut). */
  | { readonly t: 'powerCut' }
  /** Restarts `node`, or if it is up the lowest crashed node. */
  | { readonly t: 'restart'; readonly node: number }
  /** node -1: whichever node the driver believes is leader (else a random live node). */
  | { readonly t: 'propose'; readonly node: number; readonly count: number }
  | { readonly t: 'transfer'; readonly to: number }
  /** A transport report; unless `spurious`, only made when the link is really down. */
  | { readonly t: 'unreachable'; readonly node: number; readonly peer: number; readonly spurious: boolean }
  /** A membership change at a believed leader; `pick` chooses the node among those the change
   *  fits (SimCluster.confChange). */
  | { readonly t: 'conf'; readonly op: ConfChangeOp; readonly pick: number; readonly force: boolean }
  /** A linearizable read (ReadIndex) at `node` (-1: a believed leader, else a random live node). */
  | { readonly t: 'read'; readonly node: number };

export interface Schedule {
  readonly nodes: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly maxEntriesPerMessage: number;
  readonly maxInflightPerFollower: number;
  readonly fsyncStepsMax: number;
  readonly tornWrites: boolean;
  /** Pipelined persistence (the broker driver's mode); see SimCluster. */
  readonly pipelined?: boolean;
  /** Nodes start with fresh (recovering) stores, as a new broker group does. */
  readonly freshStores?: boolean;
  /** Chance that a node compacts its store after applying a batch (snapshots); 0 or absent: never. */
  readonly compactChance?: number;
  /** Spare nodes (empty stores, empty seeds) that conf changes may add. */
  readonly spares?: number;
  readonly ops: readonly Op[];
}

/** default: the main property test. crashy: more crashes and leader faults, slices of one
 *  entry per message and single nodes ticking alone (finds Figure 8 style histories). wipes:
 *  crashy, plus replicas whose store is deleted (they restart empty and must catch up before
 *  they vote) and power cuts of every node at once; check-quorum on, as the broker runs it (a
 *  stale leader must step down). snapshots: crashy's operations with log compaction on (nodes
 *  compact their stores at random applied points; followers behind get snapshots), and more
 *  duplication and delay so that snapshots arrive late and twice. Compaction is off in the other
 *  profiles unless ScheduleOptions.compact turns it on (so their seeds replay as before). */
export type Profile = 'default' | 'crashy' | 'wipes' | 'snapshots' | 'membership';

/** Spare node ids of the membership profile. */
export const MEMBERSHIP_SPARES = 3;

export interface ScheduleOptions {
  readonly steps: number;
  /** Fixed cluster size; random 3 or 5 when absent. */
  readonly nodes?: number;
  readonly profile?: Profile;
  /** Fixed pre-vote setting; random when absent. */
  readonly preVote?: boolean;
  readonly tornWrites?: boolean;
  /** Fixed persistence mode; otherwise odd seeds run pipelined, even seeds one write at a time
   *  (chosen outside the schedule generator, so older seeds replay the same schedules). */
  readonly pipelined?: boolean;
  /** Fixed per-message entry limit (1 makes a leader send old entries apart from its no-op). */
  readonly maxEntriesPerMessage?: number;
  /** Log compaction (snapshots); default: on in profile snapshots only. Its chance per applied
   *  batch is picked per seed from COMPACT_CHANCES (outside the generator, like `pipelined`). */
  readonly compact?: boolean;
}

/** Chance per applied batch that a node compacts, by seed % 3: rare, frequent, nearly always. */
export const COMPACT_CHANCES: readonly number[] = [0.05, 0.3, 0.8];

/** Whether a run of these options compacts, and how often (0: never). */
export function compactChanceOf(seed: number, opts: ScheduleOptions): number {
  const on = opts.compact ?? (opts.profile === 'snapshots' || (opts.profile === 'membership' && (seed >> 1) % 2 === 0));
  return on ? COMPACT_CHANCES[seed % COMPACT_CHANCES.length] : 0;
}

const anyNode = fc.integer({ min: 0, max: 4 });
/** The membership profile's nodes: up to 5 seeds and 3 spares. */
const anyNodeWithSpares = fc.integer({ min: 0, max: 7 });

/** Membership changes: adds of spare (or removed) nodes, promotions, removals (the leader's too). */
function confOps(): { weight: number; arbitrary: fc.Arbitrary<Op> }[] {
  const conf = (op: ConfChangeOp, weight: number) => ({
    weight,
    arbitrary: fc.record({
      t: fc.constant('conf' as const),
      op: fc.constant(op),
      pick: fc.integer({ min: 0, max: 7 }),
      force: fc.integer({ min: 0, max: 5 }).map((x) => x === 0),
    }),
  });
  return [conf('addLearner', 6), conf('promote', 6), conf('addVoter', 3), conf('remove', 6)];
}

function opArb(profile: Profile): fc.Arbitrary<Op> {
  const membership = profile === 'membership';
  const node = membership ? anyNodeWithSpares : anyNode;
  const crashy = profile === 'crashy' || profile === 'wipes' || profile === 'snapshots';
  const snapshots = profile === 'snapshots';
  const wipes =
    profile === 'wipes' || membership
      ? [
          { weight: membership ? 2 : 5, arbitrary: fc.record({ t: fc.constant('wipe' as const), node }) },
          { weight: membership ? 1 : 2, arbitrary: fc.constant({ t: 'powerCut' as const }) },
        ]
      : [];
  return fc.oneof(
    ...wipes,
    ...(membership ? confOps() : []),
    ...(membership
      ? [{ weight: 12, arbitrary: fc.record({ t: fc.constant('read' as const), node: fc.oneof({ weight: 1, arbitrary: fc.constant(-1) }, { weight: 2, arbitrary: node }) }) }]
      : []),
    { weight: 60, arbitrary: fc.record({ t: fc.constant('tick' as const), count: fc.integer({ min: 1, max: 3 }) }) },
    { weight: crashy ? 40 : 4, arbitrary: fc.record({ t: fc.constant('tickOne' as const), node }) },
    { weight: 70, arbitrary: fc.record({ t: fc.constant('deliver' as const), count: fc.integer({ min: 1, max: 12 }) }) },
    { weight: 20, arbitrary: fc.constant({ t: 'deliverAll' as const }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('drop' as const), count: fc.integer({ min: 1, max: 6 }) }) },
    { weight: snapshots ? 8 : 3, arbitrary: fc.record({ t: fc.constant('dup' as const), count: fc.integer({ min: 1, max: 6 }) }) },
    {
      weight: snapshots ? 6 : 3,
      arbitrary: fc.record({
        t: fc.constant('net' as const),
        dropPct: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 })),
        dupPct: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 })),
        delay: fc.integer({ min: 0, max: 4 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('isolate' as const), node }) },
    { weight: crashy ? 6 : 1, arbitrary: fc.constant({ t: 'isolateLeader' as const }) },
    { weight: crashy ? 6 : 1, arbitrary: fc.constant({ t: 'crashLeader' as const }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('split' as const), mask: fc.integer({ min: 1, max: 30 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('oneWay' as const), from: node, to: node }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('ring' as const), node }) },
    { weight: 8, arbitrary: fc.constant({ t: 'heal' as const }) },
    { weight: crashy ? 8 : 2, arbitrary: fc.record({ t: fc.constant('crash' as const), node }) },
    { weight: crashy ? 10 : 6, arbitrary: fc.record({ t: fc.constant('restart' as const), node }) },
    {
      weight: 35,
      arbitrary: fc.record({
        t: fc.constant('propose' as const),
        node: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: node }),
        count: fc.integer({ min: 1, max: 4 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('transfer' as const), to: node }) },
    {
      weight: 3,
      arbitrary: fc.record({ t: fc.constant('unreachable' as const), node, peer: node, spurious: fc.integer({ min: 0, max: 3 }).map((x) => x === 0) }),
    },
  );
}

export function scheduleArb(opts: ScheduleOptions): fc.Arbitrary<Schedule> {
  return fc.record({
    nodes: opts.nodes !== undefined ? fc.constant(opts.nodes) : fc.constantFrom(3, 5),
    preVote: opts.preVote !== undefined ? fc.constant(opts.preVote) : opts.profile === 'membership' ? fc.constant(true) : fc.boolean(),
    checkQuorum: opts.profile === 'wipes' || opts.profile === 'membership' ? fc.constant(true) : fc.boolean(),
    electionTicks: fc.integer({ min: 5, max: 10 }),
    heartbeatTicks: fc.integer({ min: 1, max: 2 }),
    maxEntriesPerMessage: opts.maxEntriesPerMessage !== undefined ? fc.constant(opts.maxEntriesPerMessage) : fc.constantFrom(1, 3, 64),
    maxInflightPerFollower: fc.constantFrom(1, 4, 256),
    fsyncStepsMax: fc.integer({ min: 0, max: 4 }),
    tornWrites: opts.tornWrites !== undefined ? fc.constant(opts.tornWrites) : fc.boolean(),
    freshStores: fc.constant(opts.profile === 'wipes' || opts.profile === 'membership'),
    ops: fc.array(opArb(opts.profile ?? 'default'), { minLength: opts.steps, maxLength: opts.steps }),
  });
}

/** The schedule of a seed (deterministic: fast-check's generator seeded with `seed`). */
export function generateSchedule(seed: number, opts: ScheduleOptions): Schedule {
  return fc.sample(scheduleArb(opts), { seed, numRuns: 1 })[0];
}

export interface RunOptions {
  readonly testBugs?: ReadonlySet<TestBug>;
  /** Heal and check liveness at the end (default true). */
  readonly settle?: boolean;
  /** Ticks allowed to settle, in election timeouts (default 50). */
  readonly settleElectionTimeouts?: number;
  readonly factory?: NodeFactory;
  /** Break the simulated driver on purpose (bug-injection tests of the checkers). */
  readonly driverBug?: DriverBug;
}

export interface RunResult {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly violation: Violation | null;
  /** Index of the op during which the violation was found (-1: while settling). */
  readonly failedAtStep: number | null;
  readonly elections: number;
  readonly committed: number;
  readonly settleTicks: number;
  readonly trace: readonly string[];
  readonly cluster: SimCluster;
}

function describe(op: Op): string {
  const { t, ...rest } = op;
  const args = Object.entries(rest).map(([k, v]) => `${k}=${v}`).join(' ');
  return args ? `${t} ${args}` : t;
}

export function applyOp(c: SimCluster, op: Op): void {
  const n = c.size;
  c.stepClock();
  c.note(`op ${describe(op)}`);
  switch (op.t) {
    case 'tick':
      for (let k = 0; k < op.count; k++) c.tickAll();
      break;
    case 'tickOne':
      c.tick(op.node % n);
      break;
    case 'deliver':
      c.deliver(op.count);
      break;
    case 'deliverAll':
      c.deliverAll();
      break;
    case 'drop':
      c.dropSome(op.count);
      break;
    case 'dup':
      c.duplicateSome(op.count);
      break;
    case 'net':
      c.setNetwork(op.dropPct / 100, op.dupPct / 100, op.delay);
      break;
    case 'isolate':
      c.isolate(op.node % n);
      break;
    case 'split':
      c.split(op.mask & ((1 << n) - 1) || 1);
      break;
    case 'oneWay':
      c.oneWay(op.from % n, op.to % n);
      break;
    case 'ring':
      c.ring(op.node % n);
      break;
    case 'heal':
      c.heal();
      break;
    case 'crash':
      c.crash(op.node % n);
      break;
    case 'crashLeader': {
      const leaders = c.believedLeaders();
      if (leaders.length) c.crash(leaders[c.prng.int(leaders.length)]);
      break;
    }
    case 'isolateLeader': {
      const leaders = c.believedLeaders();
      if (leaders.length) c.isolate(leaders[c.prng.int(leaders.length)]);
      break;
    }
    case 'powerCut':
      c.powerCut();
      break;
    case 'wipe':
      c.wipe(op.node % n);
      break;
    case 'restart': {
      let i = op.node % n;
      if (c.isAlive(i)) {
        i = -1;
        for (let j = 0; j < n; j++) if (!c.isAlive(j)) { i = j; break; }
      }
      if (i >= 0) c.restart(i);
      break;
    }
    case 'propose': {
      let i = op.node;
      if (i < 0) {
        const leaders = c.believedLeaders();
        if (leaders.length) i = leaders[c.prng.int(leaders.length)];
        else i = c.prng.int(n);
      }
      c.propose(i % n, op.count);
      break;
    }
    case 'transfer': {
      const leaders = c.believedLeaders();
      if (leaders.length) c.transfer(leaders[0], op.to % n);
      break;
    }
    case 'conf':
      c.confChange(op.op, op.pick, op.force);
      break;
    case 'read': {
      let i = op.node;
      if (i < 0) {
        const leaders = c.believedLeaders();
        i = leaders.length ? leaders[c.prng.int(leaders.length)] : c.prng.int(n);
      }
      c.read(i % n);
      break;
    }
    case 'unreachable': {
      const a = op.node % n;
      const b = op.peer % n;
      if (a !== b && (op.spurious || c.linkDown(a, b))) c.reportUnreachable(a, b);
      break;
    }
  }
}

export function runSchedule(seed: number, s: Schedule, opts: RunOptions = {}): RunResult {
  const c = new SimCluster({
    nodes: s.nodes,
    seed,
    raft: {
      preVote: s.preVote,
      checkQuorum: s.checkQuorum,
      electionTicks: s.electionTicks,
      heartbeatTicks: s.heartbeatTicks,
      maxEntriesPerMessage: s.maxEntriesPerMessage,
      maxInflightPerFollower: s.maxInflightPerFollower,
    },
    ...(opts.testBugs ? { testBugs: opts.testBugs } : {}),
    fsyncStepsMax: s.fsyncStepsMax,
    tornWrites: s.tornWrites,
    pipelinedWrites: s.pipelined ?? false,
    ...(s.compactChance ? { compactChance: s.compactChance } : {}),
    freshStores: s.freshStores ?? false,
    ...(s.spares ? { spares: s.spares } : {}),
    ...(opts.driverBug ? { driverBug: opts.driverBug } : {}),
    ...(opts.factory ? { factory: opts.factory } : {}),
  });
  c.note(
    `cluster ${s.nodes} nodes preVote=${s.preVote} checkQuorum=${s.checkQuorum} election=${s.electionTicks} heartbeat=${s.heartbeatTicks} ` +
      `maxEntries=${s.maxEntriesPerMessage} inflight=${s.maxInflightPerFollower} fsync<=${s.fsyncStepsMax} torn=${s.tornWrites} pipelined=${s.pipelined ?? false} compact=${s.compactChance ?? 0}`,
  );
  let failedAtStep: number | null = null;
  let steps = 0;
  for (const op of s.ops) {
    applyOp(c, op);
    steps++;
    if (c.violation) {
      failedAtStep = steps - 1;
      break;
    }
  }
  let settleTicks = 0;
  if (!c.violation && opts.settle !== false) {
    // First with the partitions and crashes left in place: a connected majority must elect.
    c.settlePartial((opts.settleElectionTimeouts ?? 50) * s.electionTicks);
    if (c.violation) failedAtStep = -1;
  }
  if (!c.violation && opts.settle !== false) {
    c.note('settle: heal everything, expect a leader and every proposal resolved');
    settleTicks = c.settle((opts.settleElectionTimeouts ?? 50) * s.electionTicks);
    if (c.violation) failedAtStep = -1;
  }
  return {
    seed,
    nodes: s.nodes,
    steps,
    violation: c.violation,
    failedAtStep,
    elections: c.checker.elections,
    committed: c.checker.committedIndex(),
    settleTicks,
    trace: c.lastTrace(40),
    cluster: c,
  };
}

/** Generates the schedule of `seed` and runs it. */
export function runSeed(seed: number, sched: ScheduleOptions, opts: RunOptions = {}): RunResult {
  const compactChance = compactChanceOf(seed, sched);
  const spares = sched.profile === 'membership' ? { spares: MEMBERSHIP_SPARES } : {};
  return runSchedule(seed, { ...generateSchedule(seed, sched), pipelined: sched.pipelined ?? seed % 2 === 1, ...(compactChance > 0 ? { compactChance } : {}), ...spares }, opts);
}

/** The command that replays one run. */
export function replayCommand(seed: number, sched: ScheduleOptions, bug?: string): string {
  const parts = ['npm run sim --', `--seed ${seed}`, '--runs 1', `--steps ${sched.steps}`];
  if (sched.nodes !== undefined) parts.push(`--nodes ${sched.nodes}`);
  if (sched.profile && sched.profile !== 'default') parts.push(`--profile ${sched.profile}`);
  if (sched.preVote !== undefined) parts.push(`--prevote ${sched.preVote ? 'on' : 'off'}`);
  if (sched.tornWrites !== undefined) parts.push(`--torn ${sched.tornWrites ? 'on' : 'off'}`);
  if (sched.pipelined !== undefined) parts.push(`--pipelined ${sched.pipelined ? 'on' : 'off'}`);
  if (sched.compact !== undefined) parts.push(`--compact ${sched.compact ? 'on' : 'off'}`);
  if (bug) parts.push(`--bug ${bug}`);
  return parts.join(' ');
}
