import t from 'tap';
import { contextSwitches } from '../../scripts/bench/proc-stats.ts';

t.test('context switches of a process from /proc/<pid>/status', async (t) => {
  const before = contextSwitches(process.pid);
  t.ok(before !== null && Number.isInteger(before.voluntary) && Number.isInteger(before.involuntary) && before.voluntary >= 0 && before.involuntary >= 0);
  // Sleeping gives the CPU up: a voluntary switch of this (main) thread at least.
  await new Promise((r) => setTimeout(r, 20));
  const after = contextSwitches(process.pid)!;
  t.ok(after.voluntary > before!.voluntary, 'a sleep is a voluntary switch');
  t.ok(after.involuntary >= before!.involuntary);
  t.equal(contextSwitches(2 ** 31 - 1), null, 'no such process');
});
