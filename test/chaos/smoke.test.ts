// Smoke runs of the chaos runner: two broker groups of 3 behind a NameServer with leader kills,
// one partition (only where the machine allows network namespaces: root and `ip`), one replica
// replaced through membership changes and the NameServer killed; then one group under retention.
// A real workload of idempotent producers, the checker: nothing acknowledged may be lost, no
// replica may diverge from its group, no key or queue may reorder, nothing may be stored twice.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { runChaos } from '../../src/chaos/index.ts';

type ChaosOptions = Parameters<typeof runChaos>[0];
type Outcome = Awaited<ReturnType<typeof runChaos>>;

/** A chaos run of groups of 3 nodes into a temp directory (removed after); its log lines are
 *  printed when the checks fail or the replicas did not catch up. */
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

/** What every run must show: nothing lost, diverged, reordered, misplaced or stored twice (the
 *  producers are idempotent), and the replicas caught up. */
function safe(t: Test, outcome: Outcome, misplacedWhat: string): void {
  const r = outcome.result;
  t.ok(r.sends.acked > 0, 'some sends were acknowledged');
  t.equal(r.lost.count, 0, 'nothing acknowledged was lost');
  t.equal(r.divergent.count, 0, 'replicas agree on their committed logs');
  t.equal(r.reordered.count, 0, 'no key or queue reordered');
  t.equal(r.idempotentProducers, true, 'the producers were idempotent');
  t.equal(r.duplicated.count, 0, 'nothing stored twice: retries were answered from the producers\u2019 windows');
  t.equal(r.misplaced.count, 0, misplacedWhat);
  t.equal(r.failedButStored.count, 0, 'nothing the broker refused for certain was stored');
  t.equal(r.phantom.count, 0, 'nothing stored that the workload did not send');
  t.ok(r.ok, 'the checker passes the run');
  t.ok(outcome.caughtUp, 'replicas caught up after the heal');
}

t.test('chaos smoke: two groups of 3, leader kills, a partition, a replica replaced (member remove, member add), the NameServer killed', async (t) => {
  const outcome = await smoke(t, 'smoke', {
    groups: 2,
    faults: ['leader-kill', 'random-partition', 'membership', 'namesrv-kill', 'leader-kill'],
    // A cap: the sequence of 5 faults ends first. A 1 s interval and a 2 s hold (the membership
    // fault does its whole replacement before its hold) still keep each fault far longer than an
    // election and the NameServer down for a whole registration period.
    durationS: 30,
    intervalS: 1,
    holdS: 2,
    seed: 1,
    workers: 4,
    ratePerSec: 150,
    consumers: 1,
  });
  const r = outcome.result;
  safe(t, outcome, 'acks and receives name what the log stores');
  t.ok(r.faultInjections >= 4, `faults were injected (${r.faultInjections}; the partition only with namespaces)`);
  t.ok(r.recovery.some((f) => f.fault === 'membership'), 'a replica was replaced');
  t.ok(r.recovery.some((f) => f.fault === 'namesrv-kill'), 'the NameServer was killed and restarted');
  t.same(r.groups.map((g) => g.group), ['broker-a', 'broker-b'], 'dumps of both groups');
  for (const g of r.groups) t.ok(g.acked > 0 && g.stored > 0, `${g.group} took sends (${g.acked} acked, ${g.stored} stored)`);
  for (const f of ['history', 'findings', 'report'] as const) t.ok(fs.statSync(outcome.files[f]).size > 0, `${f} file written`);
  const summary = JSON.parse(outcome.summary) as { nodes: number; lost: number; duplicated: number; groups: Record<string, { divergent: number }> };
  t.equal(summary.nodes, 3);
  t.equal(summary.lost, 0);
  t.equal(summary.duplicated, 0);
  t.same(Object.keys(summary.groups), ['broker-a', 'broker-b'], 'a summary line per group');
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
    durationS: 17,
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
