// The single-server membership change bug (Ongaro, raft-dev, 2015), scripted on a SimCluster of
// 4 voters and a learner: a new leader that takes a conf change before it has committed an entry
// of its own term lets two configurations whose majorities do not overlap both decide. With a
// correct core the script runs to the end without a violation; with testBugs
// 'conf-change-before-term-commit' Leader Completeness fires.
//
//   0. n0 leads term 1 of {n0, n1, n2, n3}; n4 joins as a learner and catches up.
//   1. n0, cut off with n4, promotes n4: C1 = {n0..n4} reaches n4 only; n0 crashes.
//   2. n1 wins term 2 with the votes of n2 and n3 (C); its appends reach n2 only. The buggy
//      leader removes n0 at once: C2 = {n1, n2, n3}, committed by n1 and n2 (2 of 3) together
//      with n1's no-op. A correct one refuses (CONF_CHANGE_IN_FLIGHT): its no-op needs 3 of C.
//   3. n0 restarts beside n3 and n4 only and wins term 3 under C1 with their votes (3 of 5): n3
//      never got a term-2 entry. It lacks what n1 and n2 committed.

import { type TestBug, Role } from '../../src/raft/index.ts';
import { SimCluster } from './cluster.ts';
import { scriptSteps, type ScenarioResult } from './scripted.ts';

export function singleServerChange(seed: number, testBugs?: ReadonlySet<TestBug>): ScenarioResult {
  const c = new SimCluster({
    nodes: 4,
    spares: 1,
    seed,
    raft: { preVote: false, checkQuorum: false, electionTicks: 10, heartbeatTicks: 1 },
    ...(testBugs ? { testBugs } : {}),
    fsyncStepsMax: 0,
  });
  const { done, drain, campaignUntil, leaderTicks } = scriptSteps(c);

  // 0.
  if (!campaignUntil(0, Role.Leader, true)) return done(false);
  leaderTicks(0, 2);
  c.proposeConf(0, { op: 'addLearner', node: 'n4', context: '' });
  leaderTicks(0, 3);
  if (c.status(0)?.progress.n4?.state !== 'Replicate') return done(false);
  // 1.
  c.split(0b10001);
  c.proposeConf(0, { op: 'promote', node: 'n4', context: '' });
  drain();
  if (c.status(4)?.conf.voters.length !== 5) return done(false);
  c.crash(0);
  // 2.
  if (!campaignUntil(1, Role.Candidate, false)) return done(false);
  c.deliverAll(); // n2 and n3 get the vote request and answer
  c.oneWay(1, 3); // n1's appends will not reach n3
  c.deliverAll(); // n1 gets the votes: leader of term 2
  if (c.status(1)?.role !== Role.Leader) return done(false);
  c.proposeConf(1, { op: 'remove', node: 'n0', context: '' }, true); // forced: it has heard from nobody yet
  drain();
  // 3.
  c.split(0b11001);
  c.restart(0);
  const elected = campaignUntil(0, Role.Leader, true);
  return done(elected);
}
