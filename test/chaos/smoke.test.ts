// Smoke run of the chaos runner: a 3-node group, leader kills, one partition (only where the
// machine allows network namespaces: root and `ip`) and one replica replaced through membership
// changes, a real workload, the checker.
// Nothing acknowledged may be lost, no replica may diverge, no key or queue may reorder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { runChaos } from '../../src/chaos/index.ts';

type ChaosOptions = Parameters<typeof runChaos>[0];
type Outcome = Awaited<ReturnType<typeof runChaos>>;

/** A chaos run of 3 nodes into a temp directory (removed after); its log lines are printed when
 *  the checks fail or the replicas did not catch up. */
async function smoke(t: Test, name: string, opts: Omit<ChaosOptions, 'nodes' | 'order' | 'outDir' | 'producers' | 'queues' | 'netns' | 'keepData' | 'log'>): Promise<Outcome> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), `raftmq-chaos-${name}-`));
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
  const lines: string[] = [];
  const outcome = await runChaos({ nodes: 3, order: 'sequence', outDir: out, producers: 2, queues: 4, netns: 'auto', keepData: false, log: (line) => lines.push(line), ...opts });
  for (const s of outcome.meta.skipped) t.comment(`${s.fault} skipped: ${s.reason}`);
  t.comment(outcome.summary);
  if (!outcome.result.ok || !outcome.caughtUp) t.comment(lines.join('\n'));
  return outcome;
}

/** What every run must show: nothing lost, diverged, reordered or misplaced, every duplicate
 *  explained, and the replicas caught up. */
function safe(t: Test, outcome: Outcome, misplacedWhat: string): void {
  const r = outcome.result;
  t.ok(r.sends.acked > 0, 'some sends were acknowledged');
  t.equal(r.lost.count, 0, 'nothing acknowledged was lost');
  t.equal(r.divergent.count, 0, 'replicas agree on their committed logs');
  t.equal(r.reordered.count, 0, 'no key or queue reordered');
  t.equal(r.duplicated.unexplained, 0, 'every duplicate follows an unknown outcome or a retry');
  t.equal(r.misplaced.count, 0, misplacedWhat);
  t.ok(outcome.caughtUp, 'replicas caught up after the heal');
}

t.test('chaos smoke: leader kills, a partition and a replica replaced (member remove, member add) on 3 nodes', async (t) => {
  const outcome = await smoke(t, 'smoke', {
    faults: ['leader-kill', 'random-partition', 'membership', 'leader-kill'],
    durationS: 36,
    intervalS: 3,
    holdS: 3,
    seed: 1,
    workers: 4,
    ratePerSec: 150,
    consumers: 1,
  });
  const r = outcome.result;
  safe(t, outcome, 'acks and receives name what the log stores');
  t.ok(r.faultInjections >= 3, `faults were injected (${r.faultInjections}; the partition only with namespaces)`);
  t.ok(r.recovery.some((f) => f.fault === 'membership'), 'a replica was replaced');
  for (const f of ['history', 'findings', 'report'] as const) t.ok(fs.statSync(outcome.files[f]).size > 0, `${f} file written`);
  const summary = JSON.parse(outcome.summary) as Record<string, unknown>;
  t.equal(summary.nodes, 3);
  t.equal(summary.lost, 0);
});

// With --retention: 1 MiB segments and messages kept 3 s, so at 1000 messages/s the log is cut
// every few seconds; the replica wiped at the second fault restarts after the master's log was cut
// and must catch up through a mark snapshot. No consumer, so acked messages the cuts deleted are
// only in the history: they must come out as expired, never lost, and the dumps (replayed from a
// mark) must agree with each other and with the acks' queue offsets.
t.test('chaos smoke with retention: a leader kill and a wiped replica that needs a snapshot', async (t) => {
  const seed = 2;
  t.comment(`seed ${seed}`);
  const outcome = await smoke(t, 'retention', {
    faults: ['leader-kill', 'wipe-replica'],
    durationS: 20,
    intervalS: 5,
    holdS: 3,
    seed,
    workers: 8,
    ratePerSec: 1000,
    consumers: 0,
    retentionS: 3,
  });
  const r = outcome.result;
  t.comment(`expiredByRetention ${r.expiredByRetention.count}; snapshots installed ${JSON.stringify(outcome.snapshotsInstalled)}`);
  safe(t, outcome, 'acks name what the log stores at the offsets it covers');
  t.equal(r.faultInjections, 2, 'both faults were injected');
  t.ok(r.dumpStarts.some((d) => d.replayedAfter > 0 && d.queues.length > 0), 'the log was cut: dumps start at a mark, above offset 0');
  t.ok(r.expiredByRetention.count > 0, `acked messages deleted by retention are counted as expired (${r.expiredByRetention.count})`);
  const installed = Object.values(outcome.snapshotsInstalled).reduce((a, b) => a + b, 0);
  t.ok(installed >= 1, `the wiped replica caught up through a snapshot (${installed} installed)`);
});
