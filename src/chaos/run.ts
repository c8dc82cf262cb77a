// One chaos run, start to end: network (if it can), NameServers (if any), the replicas of every
// broker group, the topic on every group, workload, nemesis cycles, heal, catch-up, graceful
// stop, dumps, checker, files. Used by scripts/chaos.ts and the smoke test.
//
// The workload's clients go through the NameServers whenever the run has any (by default when it
// has several groups), and address the one group's replicas directly otherwise.
import fs from 'node:fs';
import path from 'node:path';
import type { NodeStatus } from '../protocol/index.ts';
import { Admin, NamesrvClient } from '../client/index.ts';
import { delay } from '../net/index.ts';
import { check, renderHtml, summarize, type RunMeta } from './analysis.ts';
import type { CheckResult } from './checker.ts';
import { dumpReplica } from './dump.ts';
import { Nemesis, unavailableReason } from './faults.ts';
import { parseHistory, type ReplicaDump } from './history.ts';
import { Monitor } from './monitor.ts';
import { ChaosNamesrvs } from './namesrvs.ts';
import { snapshotSources } from './code-snapshot.ts';
import { checkPrerequisites, NetLab } from './net.ts';
import { ChaosNodes, SEGMENT_BYTES } from './nodes.ts';
import { HistoryRecorder } from './recorder.ts';
import { RETENTION_SEGMENT_BYTES, retentionConfig, snapshotsInstalled } from './retention.ts';
import { CHAOS_MESSAGE_DELAY_LEVEL, ConsumerMembers } from './consumer-members.ts';
import { Workload } from './workload.ts';

export interface ChaosOptions {
  /** Replicas per broker group. */
  readonly nodes: number;
  /** Broker groups (default 1). */
  readonly groups?: number;
  /** NameServer processes (default: 1 with several groups, else 0). */
  readonly namesrvs?: number;
  /** Idempotent producers (default true): any duplicate is then a finding. */
  readonly idempotence?: boolean;
  /** Fault names, already expanded ('all' is the CLI's business). */
  readonly faults: readonly string[];
  /** 'random' (default): faults drawn with the seeded PRNG; 'sequence': the list in order, once. */
  readonly order?: 'random' | 'sequence';
  readonly durationS: number;
  readonly intervalS: number;
  readonly holdS: number;
  readonly seed: number;
  readonly outDir: string;
  readonly producers: number;
  /** Send loops per producer. */
  readonly workers: number;
  readonly ratePerSec: number;
  readonly consumers: number;
  /** Members of the workload's consumer group (PushConsumers in child processes; default 0). */
  readonly pushConsumers?: number;
  /** The consumer group consumes orderly (queue locks). */
  readonly pushOrderly?: boolean;
  readonly queues: number;
  /** 'auto': namespaces when the machine allows them; 'off': always 127.0.0.1. */
  readonly netns: 'auto' | 'off';
  /** Seconds the replicas keep messages (retention.ts: short segments, cuts, marks, snapshots);
   *  absent: no retention (the default hours, never reached in a run). */
  readonly retentionS?: number;
  /** Keep the replicas' data directories (default: only when the check fails or they did not catch up). */
  readonly keepData?: boolean;
  readonly log: (line: string) => void;
  readonly progressEveryMs?: number;
  /** Called once a second while faults run (a terminal's progress bar). */
  readonly onProgress?: (p: ChaosProgress) => void;
}

export interface ChaosProgress {
  readonly elapsedS: number;
  readonly acked: number;
  readonly unknown: number;
  readonly failed: number;
  readonly fault: string;
  readonly master: string;
}

export interface ChaosOutcome {
  readonly result: CheckResult;
  readonly summary: string;
  readonly meta: RunMeta;
  readonly files: { readonly history: string; readonly findings: string; readonly report: string };
  readonly caughtUp: boolean;
  readonly consumersDrained: boolean;
  /** With push consumers: every acknowledged message was consumed or failed for good in time. */
  readonly pushDrained?: boolean;
  /** Per replica, the snapshots it installed from the master (its logs say so). */
  readonly snapshotsInstalled: Readonly<Record<string, number>>;
}

const TOPIC = 'chaos';
const START_TIMEOUT_MS = 30_000;
/** The replicas' registerNameServerPeriod: short, so a restarted NameServer is refilled soon. */
const REGISTER_PERIOD_MS = 2000;
/** How long the NameServers may take to route the topic to every group. */
const ROUTE_TIMEOUT_MS = 30_000;
/** Load keeps running this long after the last heal, so recovery shows in the history. */
const SETTLE_MS = 5000;
const CATCH_UP_TIMEOUT_MS = 60_000;
const DRAIN_TIMEOUT_MS = 30_000;

export async function runChaos(opts: ChaosOptions): Promise<ChaosOutcome> {
  const log = opts.log;
  const groups = opts.groups ?? 1;
  const namesrvCount = opts.namesrvs ?? (groups > 1 ? 1 : 0);
  const idempotence = opts.idempotence ?? true;
  const pushConsumers = opts.pushConsumers ?? 0;
  fs.mkdirSync(opts.outDir, { recursive: true });
  const dataDir = path.join(opts.outDir, 'data');
  fs.rmSync(dataDir, { recursive: true, force: true });

  // ---- the means: namespaces, delay relays ----
  let lab: NetLab | null = null;
  let labProblem = opts.netns === 'off' ? 'disabled (--netns off)' : '';
  if (opts.netns === 'auto') {
    const pre = checkPrerequisites({ log });
    if (pre.ok && pre.firewall) {
      try {
        lab = NetLab.create({ nodes: groups * opts.nodes, firewall: pre.firewall });
      } catch (err) {
        labProblem = `creating the namespaces failed: ${(err as Error).message.split('\n')[0]}`;
      }
    } else {
      labProblem = `missing ${pre.missing.join(', ')}`;
    }
  }
  const relays = opts.faults.includes('random-delay') && !lab?.netem;
  const delayMode = !opts.faults.includes('random-delay') ? 'none' : lab?.netem ? 'netem' : 'relay (no sch_netem: userspace delay relay on Raft traffic)';
  const skipped: { fault: string; reason: string }[] = [];
  const usable: string[] = [];
  for (const f of opts.order === 'sequence' ? opts.faults : [...new Set(opts.faults)]) {
    const reason = unavailableReason(f, { nodes: opts.nodes, lab, labProblem, relays, namesrvs: namesrvCount, pushConsumers });
    if (reason === null) usable.push(f);
    else if (!skipped.some((s) => s.fault === f)) skipped.push({ fault: f, reason });
  }
  log(lab ? `network: namespaces ${lab.hosts.map((h) => `${h.ns}=${h.ip}`).join(' ')}, bridge ${lab.bridgeIp}, netem ${lab.netem ? 'yes' : 'no'}` : `network: 127.0.0.1 (no namespaces: ${labProblem || 'not needed'})`);
  if (opts.faults.includes('random-delay')) log(`random-delay: ${delayMode}`);
  for (const s of skipped) log(`${s.fault}: skipped (${s.reason})`);
  log(`seed ${opts.seed}; faults ${usable.join(',') || '(none)'}${opts.order === 'sequence' ? ' (in this order)' : ''}`);

  let meta: RunMeta = {
    nodes: opts.nodes,
    groups,
    namesrvs: namesrvCount,
    idempotence,
    durationS: opts.durationS,
    seed: opts.seed,
    faults: usable,
    skipped,
    startedAt: new Date().toISOString(),
    namespaces: lab !== null,
    delayMode,
    ...(opts.retentionS !== undefined ? { retentionS: opts.retentionS } : {}),
    ...(pushConsumers > 0 ? { pushConsumers, pushOrderly: opts.pushOrderly ?? false } : {}),
  };
  const segmentBytes = opts.retentionS !== undefined ? RETENTION_SEGMENT_BYTES : SEGMENT_BYTES;
  if (opts.retentionS !== undefined) log(`retention ${opts.retentionS}s: ${segmentBytes / 1024 / 1024} MiB segments, a mark per segment of log`);

  const historyPath = path.join(opts.outDir, 'history.jsonl');
  const recorder = new HistoryRecorder(historyPath);
  const code = snapshotSources();
  let nodes: ChaosNodes | null = null;
  let namesrvs: ChaosNamesrvs | null = null;
  let monitor: Monitor | null = null;
  let workload: Workload | null = null;
  let members: ConsumerMembers | null = null;
  let progress: NodeJS.Timeout | null = null;
  try {
    // Consumers: retries come back after 1 s (every delay level), so retry chains end in a run.
    const extraConfig =
      opts.retentionS !== undefined || pushConsumers > 0
        ? { ...(opts.retentionS !== undefined ? retentionConfig(opts.retentionS) : {}), ...(pushConsumers > 0 ? { messageDelayLevel: CHAOS_MESSAGE_DELAY_LEVEL } : {}) }
        : undefined;
    if (namesrvCount > 0) {
      // In the root namespace, on the bridge: partitions cut replicas from each other only.
      namesrvs = await ChaosNamesrvs.create({ count: namesrvCount, host: lab ? lab.bridgeIp : '127.0.0.1', dir: path.join(dataDir, 'namesrv'), srcDir: code.srcDir });
      await namesrvs.startAll();
      log(`NameServers ${namesrvs.addrs.join(' ')}`);
    }
    nodes = await ChaosNodes.create({
      nodes: opts.nodes,
      groups,
      dir: dataDir,
      lab,
      relays,
      srcDir: code.srcDir,
      ...(namesrvs ? { namesrvAddr: namesrvs.addrs, registerNameServerPeriodMs: REGISTER_PERIOD_MS } : {}),
      ...(extraConfig ? { extraConfig } : {}),
    });
    nodes.startAll();
    const n = nodes;
    monitor = new Monitor(new Map(n.specs.map((s) => [s.id, { addr: s.clientAddr, group: s.group }])), recorder);
    monitor.start();
    const leaderless = await monitor.waitForMasters(START_TIMEOUT_MS);
    if (leaderless.length > 0) throw new Error(`no master in ${leaderless.join(', ')} within ${START_TIMEOUT_MS} ms (node logs: ${dataDir}/<id>/logs)`);
    log(`${groups > 1 ? `groups ${n.groups.map((g) => `${g}=${n.idsOf(g).join(',')}`).join(' ')}; masters ${monitor.master}` : `master ${monitor.master}`}; creating topic ${TOPIC} with ${opts.queues} queues${groups > 1 ? ' on every group' : ''}`);
    // On each group's master directly: the topic exists on every group whatever the NameServers know.
    await Promise.all(n.groups.map((g) => createTopicOn(n.idsOf(g).map((id) => n.spec(id).clientAddr), opts.queues)));
    if (namesrvs) {
      const waitedMs = await waitForRoute(namesrvs.addrs, n.groups, ROUTE_TIMEOUT_MS);
      log(`the NameServers route ${TOPIC} to ${n.groups.join(', ')} (after ${waitedMs} ms); clients go through them; producers ${idempotence ? 'idempotent' : 'without idempotence'}`);
    } else if (!idempotence) log('producers without idempotence');

    const target = namesrvs ? { namesrv: namesrvs.addrs } : { servers: n.specs.map((s) => s.clientAddr) };
    if (pushConsumers > 0) {
      members = new ConsumerMembers({
        count: pushConsumers,
        orderly: opts.pushOrderly ?? false,
        topic: TOPIC,
        ...target,
        groupServers: new Map(n.groups.map((g) => [g, n.idsOf(g).map((id) => n.spec(id).clientAddr)])),
        seed: opts.seed,
        srcDir: code.srcDir,
        recorder,
        log,
      });
      members.startAll();
      log(`push consumers: ${pushConsumers} members of ${opts.pushOrderly ? 'an orderly' : 'a concurrent'} group`);
    }
    const m = members;
    workload = new Workload({
      ...target,
      ...(m ? { onAcked: (id: string) => m.acked(id) } : {}),
      groups: n.groups,
      idempotence,
      topic: TOPIC,
      producers: opts.producers,
      workers: opts.workers,
      ratePerSec: opts.ratePerSec,
      consumers: opts.consumers,
      queues: opts.queues,
      recorder,
    });
    const nemesis = new Nemesis({ faults: usable, nodes, namesrvs, consumers: members, lab, monitor, recorder, seed: opts.seed, order: opts.order ?? 'random', log });
    const startedAt = Date.now();
    const w = workload;
    const mon = monitor;
    const everyMs = opts.progressEveryMs ?? 5000;
    let loggedAt = startedAt;
    progress = setInterval(() => {
      const now = Date.now();
      const s = Math.round((now - startedAt) / 1000);
      opts.onProgress?.({ elapsedS: s, acked: w.acked, unknown: w.unknown, failed: w.failed, fault: nemesis.current || '-', master: mon.master || '-' });
      if (now - loggedAt < everyMs - 500) return;
      loggedAt = now;
      log(`${s}s acked ${w.acked} unknown ${w.unknown} failed ${w.failed} received ${w.received} | fault ${nemesis.current || '-'} | master ${mon.master || '-'}`);
    }, Math.min(1000, everyMs));
    workload.start();

    await nemesis.run({ intervalMs: opts.intervalS * 1000, holdMs: opts.holdS * 1000, endAt: startedAt + opts.durationS * 1000 });
    nemesis.stop();
    // The cycles' real length (a sequence may end before --duration).
    meta = { ...meta, durationS: Math.round((Date.now() - startedAt) / 1000) };

    // ---- heal everything, let it settle ----
    await nemesis.heal();
    lab?.healAll();
    for (const id of nodes.ids) {
      if (nodes.isSuspended(id)) nodes.resume(id);
      if (!nodes.running(id)) nodes.start(id);
    }
    if (namesrvs) for (let i = 0; i < namesrvs.addrs.length; i++) if (!namesrvs.running(i)) await namesrvs.start(i);
    if (members) for (let i = 0; i < members.count; i++) if (!members.running(i)) members.start(i);
    log(`healed; load continues ${SETTLE_MS / 1000}s`);
    await delay(SETTLE_MS);
    await workload.stopProducers();
    clearInterval(progress);
    progress = null;

    const reported = await waitForCatchUp(monitor, new Map(n.groups.map((g) => [g, n.idsOf(g)])), CATCH_UP_TIMEOUT_MS);
    if (!reported.caughtUp) log(`replicas did not catch up within ${CATCH_UP_TIMEOUT_MS / 1000}s: ${reported.detail}`);
    else log(`replicas caught up at commit index ${[...reported.commitByGroup].map(([g, c]) => (groups > 1 ? `${g} ${c}` : String(c))).join(', ')}`);
    const consumersDrained = await workload.drainConsumers(DRAIN_TIMEOUT_MS);
    if (!consumersDrained) log(`consumers did not read every acknowledged message within ${DRAIN_TIMEOUT_MS / 1000}s`);
    let pushDrained: boolean | undefined;
    if (members) {
      pushDrained = await members.drain(DRAIN_TIMEOUT_MS);
      if (!pushDrained) log(`push consumers: ${members.pendingCount} acknowledged messages neither consumed nor failed for good within ${DRAIN_TIMEOUT_MS / 1000}s`);
      await members.stopAll();
      const dead = await members.readDlq();
      log(`push consumers: ${members.calls} handler calls; ${dead} messages in the DLQ`);
      members = null;
    }
    // Commit indexes as late as possible: consumers only read, so nothing commits after this
    // except the hand-over no-ops of the graceful stop (not counted: they are beyond it).
    const finalStatuses = await monitor.pollAll();
    await workload.stopConsumers();
    await monitor.stop();
    monitor = null;
    log(`acked ${workload.acked} unknown ${workload.unknown} failed ${workload.failed} received ${workload.received}; faults injected ${nemesis.injectedTotal}`);

    // ---- stop, dump, check ----
    await nodes.stopAll();
    await nodes.stopRelays();
    await namesrvs?.stopAll();
    const dumps: ReplicaDump[] = [];
    for (const s of nodes.specs) {
      const reportedCommit = finalStatuses.get(s.id)?.commitIndex ?? reported.byNode.get(s.id) ?? 0;
      dumps.push(await dumpReplica({ node: s.id, ...(groups > 1 ? { group: s.group } : {}), dir: s.dir, segmentBytes, reportedCommitIndex: reportedCommit }));
    }
    const installed = Object.fromEntries(nodes.specs.map((s) => [s.id, snapshotsInstalled(s.dir)]));
    recorder.close();
    const events = parseHistory(fs.readFileSync(historyPath, 'utf8'));
    const result = check(events, dumps, { idempotentProducers: idempotence });
    for (const d of result.dumpStarts) {
      const queues = d.queues.map((q) => `${q.topic}/${q.queueId}@${q.offset}`).join(' ');
      log(`dump ${d.node}: ${d.replayedAfter > 0 ? `from the mark at ${d.replayedAfter}, queues from ${queues || '0'}` : 'from the log\'s start'}; snapshots installed ${installed[d.node]}`);
    }
    const files = {
      history: historyPath,
      findings: path.join(opts.outDir, 'findings.json'),
      report: path.join(opts.outDir, 'report.html'),
    };
    fs.writeFileSync(files.findings, JSON.stringify({ meta, caughtUp: reported.caughtUp, consumersDrained, ...(pushDrained !== undefined ? { pushDrained } : {}), snapshotsInstalled: installed, result }, null, 2) + '\n');
    fs.writeFileSync(files.report, renderHtml(events, result, meta));
    const keep = opts.keepData ?? (!result.ok || !reported.caughtUp);
    if (!keep) fs.rmSync(dataDir, { recursive: true, force: true });
    else log(`replica data kept in ${dataDir}`);
    return { result, summary: summarize(result, meta), meta, files, caughtUp: reported.caughtUp, consumersDrained, ...(pushDrained !== undefined ? { pushDrained } : {}), snapshotsInstalled: installed };
  } finally {
    if (progress) clearInterval(progress);
    recorder.close();
    await workload?.stopProducers().catch(() => {});
    await workload?.stopConsumers().catch(() => {});
    await members?.stopAll().catch(() => {});
    await monitor?.stop().catch(() => {});
    await nodes?.destroy().catch(() => {});
    await namesrvs?.destroy().catch(() => {});
    lab?.cleanup();
    code.remove();
  }
}

/** Creates the topic through one group's replicas (the Admin finds the master). */
async function createTopicOn(servers: string[], queues: number): Promise<void> {
  const admin = new Admin({ servers, timeoutMs: 10_000 });
  try {
    await admin.createTopic(TOPIC, queues);
  } finally {
    await admin.close();
  }
}

/** Waits until a NameServer routes the topic to every group (the replicas registered it), so
 *  the producers spread over all groups from their first send; returns the ms waited. */
async function waitForRoute(namesrv: readonly string[], groups: readonly string[], timeoutMs: number): Promise<number> {
  const client = new NamesrvClient({ namesrv, requestTimeoutMs: 1000 });
  const started = Date.now();
  let seen: string[] = [];
  let problem = '';
  try {
    while (Date.now() - started < timeoutMs) {
      try {
        const route = await client.topicRoute(TOPIC);
        seen = route.queueDatas.map((q) => q.brokerName);
        if (groups.every((g) => seen.includes(g))) return Date.now() - started;
      } catch (err) {
        problem = (err as Error).message;
      }
      await delay(200);
    }
  } finally {
    await client.close();
  }
  throw new Error(`the NameServers did not route ${TOPIC} to every group within ${timeoutMs} ms (routed to: ${seen.join(', ') || 'none'}${problem ? `; last error: ${problem}` : ''}): do the replicas register (namesrvAddr)?`);
}

/** Waits until, in every group, every replica answers with the same commit index, applied and
 *  last index equal to it, and a master among them: the logs are complete and quiet. */
async function waitForCatchUp(
  monitor: Monitor,
  groups: ReadonlyMap<string, readonly string[]>,
  timeoutMs: number,
): Promise<{ caughtUp: boolean; commitByGroup: Map<string, number>; byNode: Map<string, number>; detail: string }> {
  const deadline = Date.now() + timeoutMs;
  let detail = '';
  let byNode = new Map<string, number>();
  while (Date.now() < deadline) {
    const st = await monitor.pollAll();
    byNode = new Map([...st].map(([id, s]) => [id, s?.commitIndex ?? 0]));
    const problems: string[] = [];
    const commitByGroup = new Map<string, number>();
    for (const [group, ids] of groups) {
      const all = ids.map((id) => st.get(id) ?? null);
      const answered = all.filter((s): s is NodeStatus => s !== null);
      const commit = answered[0]?.commitIndex ?? -1;
      commitByGroup.set(group, commit);
      const quiet =
        answered.length === ids.length &&
        answered.some((s) => s.role === 'MASTER') &&
        answered.every((s) => s.commitIndex === commit && s.appliedIndex === commit && s.lastIndex === commit);
      if (!quiet) problems.push(ids.map((id, i) => (all[i] ? `${id} ${all[i]!.role} c${all[i]!.commitIndex}/a${all[i]!.appliedIndex}/l${all[i]!.lastIndex}` : `${id} no answer`)).join(', '));
    }
    if (problems.length === 0) return { caughtUp: true, commitByGroup, byNode, detail: '' };
    detail = problems.join('; ');
    await delay(200);
  }
  return { caughtUp: false, commitByGroup: new Map(), byNode, detail };
}
