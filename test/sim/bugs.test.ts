// Bug injection: the simulation must find the bugs the core can be built with
// (RaftConfig.testBugs). A checker suite that passes a broken core proves nothing.
// Every search is over a fixed, printed range of seeds, so it is deterministic; the seeds that
// find the bug are printed so each can be replayed (npm run sim -- --seed S --runs 1 ...).

import t from 'tap';
import type { Test } from 'tap';
import type { TestBug } from '../../src/raft/index.ts';
import { figure8, runFigure8Seed } from '../../scripts/sim/figure8.ts';
import { singleServerChange } from '../../scripts/sim/single-server.ts';
import { replayCommand, runSeed } from '../../scripts/sim/schedule.ts';
import type { ScheduleOptions } from '../../scripts/sim/schedule.ts';
import type { DriverBug } from '../../scripts/sim/cluster.ts';

const COMMIT_OLD_TERM = new Set<TestBug>(['commit-old-term-by-counting']);
const VOTE_STALE = new Set<TestBug>(['vote-for-stale-log']);
const RECOVERING_VOTES = new Set<TestBug>(['recovering-votes']);
const TIE_BREAK_ALWAYS = new Set<TestBug>(['pre-vote-tie-break-always']);

t.test('Figure 8, scripted: a correct core keeps the entry, the counting bug loses a committed entry', async (t) => {
  for (const seed of [1, 2, 3]) {
    const ok = figure8(seed);
    t.equal(ok.violation, null, `seed ${seed}: no violation without the bug`);
    t.notOk(ok.completed, 'n1 cannot win term 4: the term-3 no-op reached n2');
    const bad = figure8(seed, COMMIT_OLD_TERM);
    t.equal(bad.violation?.invariant, 'leader-completeness', `seed ${seed}: ${bad.violation?.message}`);
  }
});

t.test('commit-old-term-by-counting is found by a seed search over randomized Figure 8 schedules', async (t) => {
  const SEEDS = 300; // seeds 1..300; the first hit is seed 34 (13 hits in 1..1000)
  const found: number[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runFigure8Seed(seed, COMMIT_OLD_TERM);
    if (r.violation) {
      t.equal(r.violation.invariant, 'leader-completeness', `seed ${seed}: ${r.violation.message}`);
      found.push(seed);
    }
  }
  t.comment(`found by seeds ${found.join(', ')}; replay: npm run sim -- --profile figure8 --bug commit-old-term-by-counting --runs 1 --seed ${found[0]}`);
  t.ok(found.length >= 1, `found within ${SEEDS} runs`);
  // The same schedules without the bug: not one violation (the search itself is not the bug).
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runFigure8Seed(seed);
    if (r.violation) {
      t.fail(`seed ${seed} without the bug: ${r.violation.invariant}: ${r.violation.message}`, { trace: r.trace.join('\n') });
      return;
    }
  }
  t.pass(`${SEEDS} Figure 8 schedules without the bug are clean`);
});

t.test('vote-for-stale-log is found by the main schedule generator', async (t) => {
  for (const nodes of [3, 5]) {
    const sched: ScheduleOptions = { steps: 300, nodes };
    const found: number[] = [];
    const invariants = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const r = runSeed(seed, sched, { testBugs: VOTE_STALE });
      if (r.violation) {
        found.push(seed);
        invariants.add(r.violation.invariant);
      }
    }
    t.comment(`${nodes} nodes: found by ${found.length}/40 seeds (${[...invariants].join(', ')}); e.g. ${found[0] !== undefined ? replayCommand(found[0], sched, 'vote-for-stale-log') : '-'}`);
    t.ok(found.length >= 1, `${nodes} nodes: found within 40 runs`);
  }
});

t.test('recovering-votes (a replaced disk votes as if it still held its log) is found by the wipes profile', async (t) => {
  const sched: ScheduleOptions = { steps: 300, nodes: 3, profile: 'wipes' };
  const found: number[] = [];
  const invariants = new Set<string>();
  for (let seed = 1; seed <= 150 && found.length < 3; seed++) {
    const r = runSeed(seed, sched, { testBugs: RECOVERING_VOTES });
    if (r.violation) {
      found.push(seed);
      invariants.add(r.violation.invariant);
    }
  }
  t.comment(`found by seeds ${found.join(', ')} (${[...invariants].join(', ')}); e.g. ${found[0] !== undefined ? replayCommand(found[0], sched, 'recovering-votes') : '-'}`);
  t.ok(found.length >= 1, 'found within 150 runs');
  for (const seed of found) {
    const r = runSeed(seed, sched);
    t.equal(r.violation, null, `seed ${seed} is clean without the bug${r.violation ? `: ${r.violation.invariant}: ${r.violation.message}` : ''}`);
  }
});

t.test('pre-vote-tie-break-always (a lower id that cannot win blocks a higher one for good) is found by the partial-connectivity liveness check', async (t) => {
  const sched: ScheduleOptions = { steps: 300, nodes: 5 };
  let found = -1;
  for (let seed = 1; seed <= 300 && found < 0; seed++) {
    const r = runSeed(seed, sched, { testBugs: TIE_BREAK_ALWAYS });
    if (r.violation) {
      t.equal(r.violation.invariant, 'liveness', `seed ${seed}: ${r.violation.message}`);
      found = seed;
    }
  }
  t.ok(found > 0, `found within 300 runs (seed ${found}; replay: ${replayCommand(found, sched, 'pre-vote-tie-break-always')})`);
  if (found > 0) t.equal(runSeed(found, sched).violation, null, 'and that seed is clean without the bug');
});

/** Searches seeds 1..maxSeeds (stopping after `enough` hits) of pipelined, crashy 3-node schedules
 *  for a run the broken driver fails, then checks those seeds are clean with a correct driver. */
async function findDriverBug(t: Test, bug: DriverBug, maxSeeds: number, enough: number): Promise<void> {
  const sched: ScheduleOptions = { steps: 300, nodes: 3, tornWrites: false, pipelined: true, profile: 'crashy' };
  const found: number[] = [];
  const invariants = new Set<string>();
  for (let seed = 1; seed <= maxSeeds && found.length < enough; seed++) {
    const r = runSeed(seed, sched, { driverBug: bug });
    if (r.violation) {
      found.push(seed);
      invariants.add(r.violation.invariant);
    }
  }
  t.comment(`found by seeds ${found.join(', ')} (${[...invariants].join(', ')})`);
  t.ok(found.length >= 1, `found within ${maxSeeds} runs`);
  for (const seed of found) {
    const r = runSeed(seed, sched);
    t.equal(r.violation, null, `seed ${seed} with a correct driver: ${r.violation?.invariant ?? 'clean'}`);
  }
}

t.test('a pipelined driver that acknowledges before its write is durable is found', async (t) => {
  // The broker's driver pipelines persistence (RaftNode.accept / persisted). Sending append
  // acknowledgements when a write starts lets a crash take away an entry a majority "has".
  await findDriverBug(t, 'ack-before-durable', 200, 3);
});

t.test('a pipelined driver that checkpoints applied entries its durable log does not hold yet is found', async (t) => {
  // With applyUnpersisted a committed entry may be applied before this node's own write of it is
  // durable. Checkpointing that applied index (instead of at most the durable log's stable end)
  // restarts the node above its log after a crash, or on top of a stale suffix.
  await findDriverBug(t, 'checkpoint-above-durable', 3000, 2);
});

t.test('commit-ahead-of-log (a durable commit index above what the durable log holds for sure) is found by the independent-writes crash model', async (t) => {
  // Found by a search: npm run sim -- --runs 2000 --seed 1 --nodes 5 --steps 600 --torn on --pipelined on --bug commit-ahead-of-log
  // (seed 1481: a hard state durable without the truncation of its Ready; after the restart the
  // old entry at 6 counted as committed). Replayed here; the search takes too long for npm test.
  const sched: ScheduleOptions = { steps: 600, nodes: 5, tornWrites: true, pipelined: true };
  const bad = runSeed(1481, sched, { driverBug: 'commit-ahead-of-log' });
  t.equal(bad.violation?.invariant, 'committed-stable', `with the bug: ${bad.violation?.message}`);
  const ok = runSeed(1481, sched);
  t.equal(ok.violation, null, 'the same schedule with the driver as it is: clean');
});

const INSTALL_STALE = new Set<TestBug>(['install-stale-snapshot']);

t.test('install-stale-snapshot (a follower installs a snapshot at or below its commit index) is found by the snapshots profile', async (t) => {
  // Stale snapshots reach followers as duplicates and late deliveries of Snapshot messages.
  for (const nodes of [3, 5]) {
    const sched: ScheduleOptions = { steps: 300, nodes, profile: 'snapshots' };
    const found: number[] = [];
    const invariants = new Set<string>();
    for (let seed = 1; seed <= 120 && found.length < 2; seed++) {
      const r = runSeed(seed, sched, { testBugs: INSTALL_STALE });
      if (r.violation) {
        found.push(seed);
        invariants.add(r.violation.invariant);
      }
    }
    t.comment(`${nodes} nodes: found by seeds ${found.join(', ')} (${[...invariants].join(', ')}); e.g. ${found[0] !== undefined ? replayCommand(found[0], sched, 'install-stale-snapshot') : '-'}`);
    t.ok(found.length >= 1, `${nodes} nodes: found within 120 runs`);
    for (const seed of found) {
      const r = runSeed(seed, sched);
      t.equal(r.violation, null, `seed ${seed} is clean without the bug${r.violation ? `: ${r.violation.invariant}: ${r.violation.message}` : ''}`);
      t.ok(r.cluster.stats.snapshotsInstalled > 0, `seed ${seed} installs snapshots without the bug too`);
    }
  }
});

t.test('compact-stale-state (the driver keeps the state of the wrong index as its snapshot) is found by the state checker', async (t) => {
  const sched: ScheduleOptions = { steps: 300, nodes: 3, profile: 'snapshots' };
  const found: number[] = [];
  for (let seed = 1; seed <= 50 && found.length < 2; seed++) {
    const r = runSeed(seed, sched, { driverBug: 'compact-stale-state' });
    if (r.violation) {
      t.equal(r.violation.invariant, 'snapshot-state', `seed ${seed}: ${r.violation.message}`);
      found.push(seed);
    }
  }
  t.ok(found.length >= 1, `found within 50 runs (seeds ${found.join(', ')}; replay: ${replayCommand(found[0] ?? 0, sched, 'compact-stale-state')})`);
  for (const seed of found) t.equal(runSeed(seed, sched).violation, null, `seed ${seed} is clean with a correct driver`);
});

const CONF_BEFORE_TERM_COMMIT = new Set<TestBug>(['conf-change-before-term-commit']);
const TWO_CONF_IN_FLIGHT = new Set<TestBug>(['two-conf-changes-in-flight']);

t.test('conf-change-before-term-commit: the single-server change bug, scripted, loses a committed entry; the correct core does not', async (t) => {
  for (const seed of [1, 2, 3]) {
    const ok = singleServerChange(seed);
    t.equal(ok.violation, null, `seed ${seed}: no violation without the bug`);
    t.ok(ok.completed, `seed ${seed}: the script runs to its end (n0 wins term 3 under C1)`);
    const bad = singleServerChange(seed, CONF_BEFORE_TERM_COMMIT);
    t.equal(bad.violation?.invariant, 'leader-completeness', `seed ${seed}: ${bad.violation?.message.slice(0, 120)}`);
  }
});

t.test('two-conf-changes-in-flight is found by the membership schedules', async (t) => {
  for (const nodes of [3, 5]) {
    const sched: ScheduleOptions = { steps: 300, nodes, profile: 'membership' };
    const found: number[] = [];
    const invariants = new Set<string>();
    for (let seed = 1; seed <= 200 && found.length < 2; seed++) {
      const r = runSeed(seed, sched, { testBugs: TWO_CONF_IN_FLIGHT });
      if (r.violation) {
        found.push(seed);
        invariants.add(r.violation.invariant);
      }
    }
    t.comment(`${nodes} nodes: found by seeds ${found.join(', ')} (${[...invariants].join(', ')}); e.g. ${found[0] !== undefined ? replayCommand(found[0], sched, 'two-conf-changes-in-flight') : '-'}`);
    t.ok(found.length >= 1, `${nodes} nodes: found within 200 runs`);
    for (const seed of found) t.equal(runSeed(seed, sched).violation, null, `seed ${seed} is clean without the bug`);
  }
});
