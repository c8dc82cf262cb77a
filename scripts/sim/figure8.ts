// The Figure 8 scenario of the Raft paper (section 5.4.2), scripted on a 3-node SimCluster:
// a leader that commits an entry of an earlier term by counting replicas lets a later leader
// overwrite a committed entry. With a correct core the script runs to the end without a
// violation; with testBugs 'commit-old-term-by-counting' Leader Completeness fires.
//
//   1. n0 leads term 1; index 1 (its no-op) is everywhere. n0 is cut off, appends A at index 2
//      (term 1) alone, and crashes.
//   2. n1 wins term 2 with n2's vote; its no-op (index 2, term 2) never leaves it; it crashes.
//   3. n0 restarts and wins term 3 with n2's vote (its log (2,1) is as up to date as n2's
//      (1,1)). It replicates A to n2, one entry per message. A correct leader waits until its
//      term-3 no-op is on a majority; the buggy one commits A at once. n0 crashes before its
//      no-op reaches n2.
//   4. n1 restarts and wins term 4 with n2's vote (its last term 2 beats n2's 1): it lacks A.

import fc from 'fast-check';
import { type TestBug, Role } from '../../src/raft/index.ts';
import { SimCluster } from './cluster.ts';
import { scriptSteps, type ScenarioResult } from './scripted.ts';

export function figure8(seed: number, testBugs?: ReadonlySet<TestBug>): ScenarioResult {
  const c = new SimCluster({
    nodes: 3,
    seed,
    raft: { preVote: false, checkQuorum: false, electionTicks: 10, heartbeatTicks: 1, maxEntriesPerMessage: 1 },
    ...(testBugs ? { testBugs } : {}),
    fsyncStepsMax: 0,
  });
  const { done, drain, campaignUntil } = scriptSteps(c);

  // 1.
  if (!campaignUntil(0, Role.Leader, true)) return done(false);
  c.tick(0);
  drain();
  c.isolate(0);
  c.propose(0, 1);
  c.crash(0);
  c.heal();
  // 2.
  if (!campaignUntil(1, Role.Candidate, false)) return done(false);
  c.deliverAll(); // n2 gets the vote request and answers
  c.oneWay(1, 2); // n1's appends will not reach n2
  c.deliverAll(); // n1 gets the vote: leader of term 2
  drain();
  if (c.status(1)?.role !== Role.Leader) return done(false);
  c.crash(1);
  c.heal();
  // 3.
  c.restart(0);
  // n0's first campaign (term 2) is refused by n2, which voted for n1 then; term 3 wins.
  if (!campaignUntil(0, Role.Leader, true)) return done(false);
  for (let k = 0; k < 200 && c.checker.committedIndex() < 2 && !c.violation; k++) {
    c.stepClock();
    c.deliver(1);
    if (c.inFlight === 0) c.tick(0);
  }
  c.isolate(0);
  c.crash(0);
  c.dropSome(c.inFlight);
  c.heal();
  // 4.
  c.restart(1);
  const elected = campaignUntil(1, Role.Leader, true);
  return done(elected);
}

// ---------------------------------------------------------------- randomized Figure 8 family

/** One phase: a crashed node may restart; `leader` (restarted if down) campaigns alone (only
 *  it ticks) until elected, is maybe cut off, takes proposals, then lets messages through one at
 *  a time: `deliver` of them, or (crash 'afterCommit') until the cluster's commit index moves;
 *  then maybe crashes with everything it still had in flight. */
export interface Phase {
  readonly restart: number;
  readonly leader: number;
  readonly isolate: boolean;
  readonly propose: number;
  readonly deliver: number;
  readonly crash: 'no' | 'now' | 'afterCommit';
}

export interface Figure8Schedule {
  readonly preVote: boolean;
  readonly phases: readonly Phase[];
}

export function figure8Arb(): fc.Arbitrary<Figure8Schedule> {
  const node = fc.integer({ min: 0, max: 2 });
  const phase = fc.record({
    restart: fc.integer({ min: -1, max: 2 }),
    leader: node,
    isolate: fc.boolean(),
    propose: fc.integer({ min: 0, max: 2 }),
    deliver: fc.integer({ min: 0, max: 8 }),
    crash: fc.constantFrom('no' as const, 'now' as const, 'afterCommit' as const),
  });
  return fc.record({ preVote: fc.boolean(), phases: fc.array(phase, { minLength: 3, maxLength: 8 }) });
}

/** Plays the phases of `seed` (then heals and checks liveness as the main simulation does). */
export interface Figure8Result extends ScenarioResult {
  readonly schedule: Figure8Schedule;
  readonly elections: number;
  readonly committed: number;
}

export function runFigure8Seed(seed: number, testBugs?: ReadonlySet<TestBug>): Figure8Result {
  const schedule = fc.sample(figure8Arb(), { seed, numRuns: 1 })[0];
  const c = new SimCluster({
    nodes: 3,
    seed,
    raft: { preVote: schedule.preVote, checkQuorum: false, electionTicks: 10, heartbeatTicks: 1, maxEntriesPerMessage: 1 },
    ...(testBugs ? { testBugs } : {}),
    fsyncStepsMax: 0,
  });
  for (const p of schedule.phases) {
    if (c.violation) break;
    if (p.restart >= 0) c.restart(p.restart);
    c.restart(p.leader);
    c.note(`phase ${JSON.stringify(p)}`);
    for (let t = 0; t < 30 && c.status(p.leader)?.role !== Role.Leader && !c.violation; t++) {
      c.tick(p.leader);
      for (let k = 0; k < 50 && c.inFlight > 0 && c.status(p.leader)?.role !== Role.Leader; k++) {
        c.stepClock();
        c.deliverAll();
      }
    }
    if (p.isolate) c.isolate(p.leader);
    c.propose(p.leader, p.propose);
    if (p.isolate) c.heal();
    const committed = c.checker.committedIndex();
    const deliverMax = p.crash === 'now' ? 0 : p.crash === 'afterCommit' ? 100 : p.deliver;
    for (let k = 0; k < deliverMax && !c.violation; k++) {
      c.stepClock();
      if (c.inFlight === 0) c.tick(p.leader);
      c.deliver(1);
      if (p.crash === 'afterCommit' && c.checker.committedIndex() > committed) break;
    }
    if (p.crash !== 'no') {
      c.isolate(p.leader);
      c.crash(p.leader);
      c.dropSome(c.inFlight);
      c.heal();
    }
  }
  if (!c.violation) c.settle(50 * 10);
  return {
    violation: c.violation,
    completed: true,
    trace: c.lastTrace(40),
    schedule,
    elections: c.checker.elections,
    committed: c.checker.committedIndex(),
  };
}
