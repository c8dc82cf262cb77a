// Throughput of the core alone: 3 nodes, no I/O, batches of 64 x 1 KiB entries.
// Target: >= 1,000,000 committed entries/s. The machine is shared, so the best of a few runs
// counts, and RAFT_PERF_MIN can lower the bar on a loaded CI box.

import t from 'tap';
import { runCoreBench } from './bench-driver.ts';

const minPerSecond = Number(process.env.RAFT_PERF_MIN ?? 1_000_000);

t.test('the core commits >= 1M entries/s (3 nodes, 64 x 1 KiB batches, no I/O)', async (t) => {
  runCoreBench(100_000); // warm up the JIT
  let best = 0;
  for (let i = 0; i < 3 && best < minPerSecond; i++) {
    const r = runCoreBench(300_000);
    t.ok(r.entries >= 300_000, 'all entries committed');
    best = Math.max(best, r.entriesPerSecond);
  }
  t.comment(`best: ${Math.round(best).toLocaleString('en-US')} entries/s`);
  t.ok(best >= minPerSecond, `${Math.round(best)} entries/s >= ${minPerSecond}`);
});
