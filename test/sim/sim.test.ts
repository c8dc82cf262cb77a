// The main property: hundreds of randomized fault schedules over 3- and 5-node clusters of real
// cores, checked after every step (safety) and healed at the end (liveness). Zero violations.
// The base seed is fixed so `npm test` is deterministic; SIM_SEED=<n> explores other seeds.
// A failure prints the seed, the replay command and the last lines of the trace.

import t from 'tap';
import { replayCommand, runSeed } from '../../scripts/sim/schedule.ts';
import type { ScheduleOptions } from '../../scripts/sim/schedule.ts';

const BASE_SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 20260101;
const RUNS_PER_SIZE = Number(process.env.SIM_RUNS ?? 500);
const STEPS = 300;
const LONG_RUNS = Number(process.env.SIM_LONG_RUNS ?? 40);

for (const nodes of [3, 5]) {
  t.test(`${RUNS_PER_SIZE} schedules of ${STEPS} steps on ${nodes} nodes keep every invariant`, async (t) => {
    const first = BASE_SEED + nodes * 1_000_000;
    t.comment(`seeds ${first}..${first + RUNS_PER_SIZE - 1} (SIM_SEED=${BASE_SEED})`);
    const sched: ScheduleOptions = { steps: STEPS, nodes };
    let elections = 0;
    let committed = 0;
    let acked = 0;
    let crashes = 0;
    const started = Date.now();
    for (let r = 0; r < RUNS_PER_SIZE; r++) {
      const seed = first + r;
      const res = runSeed(seed, sched);
      elections += res.elections;
      committed += res.committed;
      acked += res.cluster.stats.acked;
      crashes += res.cluster.stats.crashes;
      if (res.violation) {
        t.fail(`seed ${seed}: ${res.violation.invariant}: ${res.violation.message}`, {
          replay: replayCommand(seed, sched),
          step: res.failedAtStep,
          trace: res.trace.join('\n'),
        });
        return;
      }
    }
    t.comment(`${elections} elections, ${committed} entries committed, ${acked} proposals acknowledged, ${crashes} crashes, ${Date.now() - started} ms`);
    t.ok(elections >= RUNS_PER_SIZE, 'schedules elect leaders');
    t.ok(committed >= RUNS_PER_SIZE * 5, 'schedules commit entries');
  });
}

t.test(`${LONG_RUNS} long schedules (2000 steps) on 5 nodes with torn writes keep every invariant`, async (t) => {
  for (let r = 0; r < LONG_RUNS; r++) {
    const seed = BASE_SEED + 7_000_000 + r;
    const sched: ScheduleOptions = { steps: 2000, nodes: 5, tornWrites: true };
    const res = runSeed(seed, sched);
    if (res.violation) {
      t.fail(`seed ${seed}: ${res.violation.invariant}: ${res.violation.message}`, { replay: replayCommand(seed, sched), trace: res.trace.join('\n') });
      return;
    }
  }
  t.pass(`${LONG_RUNS} long schedules`);
});

t.test('schedules with wiped stores (replicas restart empty and catch up) keep every invariant', async (t) => {
  const runs = Number(process.env.SIM_WIPE_RUNS ?? 300);
  let wipes = 0;
  for (const nodes of [3, 5]) {
    for (let r = 0; r < runs; r++) {
      const seed = BASE_SEED + 9_000_000 + nodes * 100_000 + r;
      const sched: ScheduleOptions = { steps: STEPS, nodes, profile: 'wipes' };
      const res = runSeed(seed, sched);
      wipes += res.cluster.stats.wipes;
      if (res.violation) {
        t.fail(`seed ${seed}: ${res.violation.invariant}: ${res.violation.message}`, { replay: replayCommand(seed, sched), trace: res.trace.join('\n') });
        return;
      }
    }
  }
  t.comment(`${2 * runs} schedules, ${wipes} stores wiped`);
  t.ok(wipes >= runs, 'the schedules wipe stores');
});

t.test('schedules with log compaction (snapshots to followers behind) keep every invariant, the restored states included', async (t) => {
  const runs = Number(process.env.SIM_SNAPSHOT_RUNS ?? 300);
  let installed = 0;
  let sent = 0;
  let compactions = 0;
  for (const nodes of [3, 5]) {
    for (let r = 0; r < runs; r++) {
      const seed = BASE_SEED + 11_000_000 + nodes * 100_000 + r;
      const sched: ScheduleOptions = { steps: STEPS, nodes, profile: 'snapshots' };
      const res = runSeed(seed, sched);
      installed += res.cluster.stats.snapshotsInstalled;
      sent += res.cluster.stats.snapshotsSent;
      compactions += res.cluster.stats.compactions;
      if (res.violation) {
        t.fail(`seed ${seed}: ${res.violation.invariant}: ${res.violation.message}`, { replay: replayCommand(seed, sched), trace: res.trace.join('\n') });
        return;
      }
    }
  }
  t.comment(`${2 * runs} schedules, ${compactions} compactions, ${sent} snapshots sent, ${installed} installed`);
  t.ok(installed >= runs / 10, 'the schedules install snapshots');
});

t.test('wiped stores with log compaction: a replica restarted empty catches up through a snapshot', async (t) => {
  const runs = Number(process.env.SIM_SNAPSHOT_RUNS ?? 300) / 3;
  let installed = 0;
  let wipes = 0;
  for (const nodes of [3, 5]) {
    for (let r = 0; r < runs; r++) {
      const seed = BASE_SEED + 12_000_000 + nodes * 100_000 + r;
      const sched: ScheduleOptions = { steps: STEPS, nodes, profile: 'wipes', compact: true };
      const res = runSeed(seed, sched);
      installed += res.cluster.stats.snapshotsInstalled;
      wipes += res.cluster.stats.wipes;
      if (res.violation) {
        t.fail(`seed ${seed}: ${res.violation.invariant}: ${res.violation.message}`, { replay: replayCommand(seed, sched), trace: res.trace.join('\n') });
        return;
      }
    }
  }
  t.comment(`${2 * runs} schedules, ${wipes} stores wiped, ${installed} snapshots installed`);
  t.ok(installed >= 1, 'the schedules install snapshots');
});

t.test('schedules with membership changes (spares join, learners are promoted, members and leaders are removed) and ReadIndex reads keep every invariant', async (t) => {
  const runs = Number(process.env.SIM_MEMBERSHIP_RUNS ?? 300);
  const totals = { confProposed: 0, confApplied: 0, retired: 0, leaderRemovals: 0, readsServed: 0 };
  for (const nodes of [3, 5]) {
    for (let r = 0; r < runs; r++) {
      const seed = BASE_SEED + 13_000_000 + nodes * 100_000 + r;
      const sched: ScheduleOptions = { steps: STEPS, nodes, profile: 'membership' };
      const res = runSeed(seed, sched);
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += res.cluster.stats[k];
      if (res.violation) {
        t.fail(`seed ${seed}: ${res.violation.invariant}: ${res.violation.message}`, { replay: replayCommand(seed, sched), trace: res.trace.join('\n') });
        return;
      }
    }
  }
  t.comment(`${2 * runs} schedules: ${totals.confProposed} conf changes taken, ${totals.confApplied} applied, ${totals.retired} removed nodes stopped (${totals.leaderRemovals} leaders), ${totals.readsServed} linearizable reads confirmed`);
  t.ok(totals.confApplied >= runs / 2, 'the schedules apply conf changes');
  t.ok(totals.retired >= 1, 'and remove members');
  t.ok(totals.readsServed >= 1, 'and confirm ReadIndex reads');
});
