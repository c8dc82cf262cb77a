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
