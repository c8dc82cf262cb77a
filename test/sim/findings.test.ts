// Replays of core findings the simulation made. Marked todo until the core (or the driver
// contract) changes; then drop the todo and keep them as regressions.

import t from 'tap';
import { replayCommand, runSeed } from '../../scripts/sim/schedule.ts';
import type { ScheduleOptions } from '../../scripts/sim/schedule.ts';

t.test(
  'a torn write (hard state durable, only a prefix of its entries) restarts cleanly',
  // Found by the simulation: RaftLog asserted "commit 15 above last index 14" on restart, because
  // HardState.commit can be durable while entries of the same Ready are not. Fixed by clamping
  // the restored commit index to the last durable entry.
  async (t) => {
    const sched: ScheduleOptions = { steps: 1000, tornWrites: true };
    const r = runSeed(500384, sched);
    t.equal(r.violation, null, `${r.violation?.invariant}: ${r.violation?.message} (${replayCommand(500384, sched)})`);
  },
);

t.test(
  'a recovering voter does not elect an empty candidate that has seen the group (wipes, 3 nodes)',
  // Found by the simulation: n0's store was wiped, n1 had cleared recovering on the first
  // leader's first append but crashed before persisting it, and n2, the only other holder of a
  // committed entry, was down; n0 voted for empty n1, which became leader without the entry.
  // Fixed by Message.recovering: a recovering voter votes only for a candidate as new as itself.
  async (t) => {
    const sched: ScheduleOptions = { steps: 300, nodes: 3, profile: 'wipes' };
    const r = runSeed(50002968, sched);
    t.equal(r.violation, null, `${r.violation?.invariant}: ${r.violation?.message} (${replayCommand(50002968, sched)})`);
  },
);

t.test(
  'a voter that has seen the group does not elect a recovering candidate (wipes, 3 nodes)',
  // Found by the simulation: the mirror of the case above. n0 had cleared recovering on the
  // first leader's first append but crashed before persisting it (empty log, not recovering);
  // n1, which held the committed entries with n2, was wiped and asked for votes with its empty
  // log while n2 was cut off; n0 saw an empty log as good as its own and voted for it. Fixed: a
  // node that is not recovering does not vote for one that is.
  async (t) => {
    const sched: ScheduleOptions = { steps: 300, nodes: 3, profile: 'wipes' };
    const r = runSeed(50019049, sched);
    t.equal(r.violation, null, `${r.violation?.invariant}: ${r.violation?.message} (${replayCommand(50019049, sched)})`);
  },
);

t.test(
  'recovering nodes that cannot win do not hold up an election for long (wipes, 5 nodes, pre-vote off)',
  // Found by the simulation's liveness check: after healing, only one of five nodes could win
  // (two were recovering with empty logs, two were behind it), and without pre-vote the four
  // kept raising the term and resetting its election timer: no leader within 50 election
  // timeouts. Fixed: a recovering node campaigns through a pre-vote whatever the setting.
  async (t) => {
    const sched: ScheduleOptions = { steps: 300, nodes: 5, profile: 'wipes' };
    const r = runSeed(60062092, sched);
    t.equal(r.violation, null, `${r.violation?.invariant}: ${r.violation?.message} (${replayCommand(60062092, sched)})`);
  },
);
