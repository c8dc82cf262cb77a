// npm run chaos -- --nodes 3|5 [--groups G] --faults leader-kill,random-partition,... --duration S ...
// Runs one broker group (or G of them behind NameServers) under faults with a workload, checks
// the history against the replicas' final logs, writes DIR/history.jsonl, DIR/findings.json, DIR/report.html, and prints one JSON
// summary line as the last line of stdout. Progress goes to stderr.
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { parseFlagsOrHelp, startProgress, UsageError, type CommandSpec } from '../src/cli/index.ts';
import { ALL_FAULTS, DELAY_JITTER_MS, DELAY_MS, faultsValidFor, GROUPS_MAX, LONG_SUSPEND_MS, LOSS_PERCENT, NAMESRV_COUNT_MAX, PUSH_CONSUMERS_MAX, runChaos } from '../src/chaos/index.ts';

const SPEC: CommandSpec = {
  usage: 'npm run chaos -- --nodes 3|5 [--groups G] [--namesrv K] --faults F1,F2,...|all --duration S [--interval S] [--hold S] [--seed N] [--out DIR] [--producers P] [--retention S] [--no-idempotence]',
  summary: [
    'Chaos test of a raftmq broker group, in the spirit of OpenMessaging Chaos and Jepsen. Starts the',
    'replicas as real processes, each in its own network namespace when run as root (else on',
    '127.0.0.1, where partitions and loss are skipped), runs producers and consumers from outside, and',
    'cycles: run normally for --interval, inject a fault drawn (seeded) from --faults, hold it for',
    '--hold, heal, repeat until --duration. Then it heals everything, waits for the replicas to catch',
    'up, stops them, reads their logs and checks the history: lost, duplicated, reordered, divergent,',
    'recovery time per fault. The last stdout line is the JSON summary.',
    '',
    'Groups (--groups G): G broker groups of --nodes replicas each (broker-a with a0, a1, ..., broker-b',
    'with b0, ...) and --namesrv NameServer processes (default 1 with G > 1) that every replica registers',
    'with. The topic is created on every group; producers and consumers go through the NameServers',
    'whenever a run has any. A replica fault draws its group first (seeded), then aims within it (a',
    'leader fault hits that group\'s master). Replicas are checked for divergence within their group;',
    'lost, duplicated, misplaced and reordered over all groups (a message must live in one group only).',
    '',
    'Producers are idempotent (the client\'s default): a retry is answered from the broker\'s window, so',
    'any duplicate is a finding. --no-idempotence runs them at-least-once, as before: duplicates after an',
    'unknown outcome or a retry are then explained, not findings.',
    '',
    'Faults:',
    '  leader-kill       SIGKILL the master; restarted at heal',
    '  random-kill       SIGKILL one random replica; restarted at heal',
    '  minor-kill        SIGKILL floor((n-1)/2) replicas (a majority stays)',
    '  major-kill        SIGKILL ceil(n/2) replicas: writes must stop, and resume after heal',
    '  leader-suspend    SIGSTOP the master; SIGCONT at heal',
    '  random-suspend    SIGSTOP one random replica; SIGCONT at heal',
    `  slave-long-suspend  SIGSTOP one slave for ${LONG_SUSPEND_MS / 1000} s (whatever --hold): it falls far behind under load`,
    '  wipe-replica      SIGKILL one replica, delete its store, restart it empty at heal (it catches up',
    '                    from the master; skipped while another replica is down or recovering)',
    '  mistyped-peer     restart one slave with another peer\'s Raft port mistyped in its dLegerPeers',
    '  wrong-group       restart one slave with another dLegerGroup (its peers refuse it)',
    '  stale-config      restart one slave with the dLegerPeers of a smaller, older group (its peers refuse it)',
    '  membership        replace a replica as an operator does (every other time the master): SIGKILL, member',
    '                    remove, wipe, restart it joining, member add (learner, promoted once caught up)',
    '  random-partition  cut the replicas into two random halves (needs namespaces)',
    '  leader-partition  isolate the master in a minority (needs namespaces)',
    '  partition-majorities-ring  5 nodes: each sees only its ring neighbours (a majority)',
    '  bridge            5 nodes: two halves that only one middle replica connects',
    `  random-loss       drop ${LOSS_PERCENT}% of the packets arriving at random replicas (needs namespaces)`,
    `  random-delay      ${DELAY_MS} ms +/- ${DELAY_JITTER_MS} ms on random replicas: tc netem when the kernel has it,`,
    '                    else a userspace relay in front of each Raft port delays the peer traffic',
    '  namesrv-kill      SIGKILL one NameServer; restarted (empty, refilled by registrations) at heal',
    '  consumer-kill     SIGKILL one member of the consumer group (--push-consumers); a new one starts at heal',
    '  all               every fault valid for --nodes (and namesrv-kill when the run has NameServers,',
    '                    consumer-kill when it has push consumers)',
    '',
    'Consumer groups (--push-consumers N): N PushConsumers of one group, each a process, consume the topic;',
    'their handlers fail 10% of the tries and every try of 1 message in 50 (maxReconsumeTimes 3, every',
    'delay level 1 s), so messages retry through %RETRY% and some end in %DLQ%. Checked: every acknowledged',
    'message consumed or in the DLQ, no two members on one queue at once outside a rebalance (never, with',
    '--push-orderly), retry counts, per-key order when orderly. Details: docs/chaos.md.',
    '',
    'Retention (--retention S): the replicas keep messages S seconds, with 1 MiB commit log segments',
    '(a retention mark per MiB of log), deletion at every hour and 200 ms checkpoints, so the log is cut',
    'and its segments deleted during the run, and a wiped replica catches up through a snapshot. The',
    'dumps then start at a mark snapshot; an acknowledged message below what the final log covers is',
    'counted as expiredByRetention, not lost.',
    '',
    'Progress on stderr: a line every 5 s, and under the lines a bar with the time left when stderr is a',
    'terminal. Files in --out: history.jsonl (every operation), findings.json (the checker), report.html',
    '(timeline).',
  ].join('\n'),
  flags: [
    { name: 'nodes', kind: 'int', help: 'replicas per group: 3 or 5', default: 3, min: 3, max: 5 },
    { name: 'groups', kind: 'int', help: 'broker groups (broker-a, broker-b, ...)', default: 1, min: 1, max: GROUPS_MAX },
    { name: 'namesrv', kind: 'int', help: 'NameServer processes (default: 1 with --groups 2 or more, else 0)', min: 0, max: NAMESRV_COUNT_MAX },
    { name: 'no-idempotence', kind: 'bool', help: 'producers without idempotence (at-least-once: duplicates after a retry are explained)' },
    { name: 'faults', kind: 'string', help: 'comma-separated fault names, or all', default: 'all' },
    { name: 'duration', kind: 'int', help: 'seconds of cycles (then heal, settle, check)', default: 60, min: 1, max: 86_400 },
    { name: 'interval', kind: 'int', help: 'seconds of normal running before each fault', default: 10, min: 1, max: 3600 },
    { name: 'hold', kind: 'int', help: 'seconds each fault lasts', default: 10, min: 1, max: 3600 },
    { name: 'order', kind: 'string', help: 'random: draw each fault (seeded); sequence: the --faults list in order, once', default: 'random', choices: ['random', 'sequence'] },
    { name: 'seed', kind: 'int', help: 'PRNG seed for the fault choices (default: random, printed)', min: 0, max: 2 ** 31 - 1 },
    { name: 'out', kind: 'string', help: 'output directory (default ./chaos-out/<time>)' },
    { name: 'producers', kind: 'int', help: 'producer clients', default: 4, min: 1, max: 64 },
    { name: 'workers', kind: 'int', help: 'send loops per producer (half of them keyed)', default: 4, min: 1, max: 64 },
    { name: 'rate', kind: 'int', help: 'messages per second, all producers together', default: 200, min: 1, max: 100_000 },
    { name: 'consumers', kind: 'int', help: 'consumer clients (each reads every queue)', default: 1, min: 0, max: 16 },
    { name: 'push-consumers', kind: 'int', help: 'members of one consumer group (PushConsumers, each a process; consumer-kill kills one)', default: 0, min: 0, max: PUSH_CONSUMERS_MAX },
    { name: 'push-orderly', kind: 'bool', help: 'the consumer group consumes orderly (queue locks; needs --push-consumers)' },
    { name: 'queues', kind: 'int', help: 'queues of the test topic', default: 4, min: 1, max: 64 },
    { name: 'netns', kind: 'string', help: 'network namespaces: auto (when root) or off', default: 'auto', choices: ['auto', 'off'] },
    { name: 'retention', kind: 'int', help: 'seconds the replicas keep messages (default: off, no retention in a run)', min: 1, max: 86_400 },
    { name: 'keep-data', kind: 'bool', help: 'keep the replicas\' data (default: only when the check fails or they did not catch up)' },
  ],
};

function parseFaults(text: string, nodes: number, namesrvs: number, sequence: boolean, pushConsumers: number): string[] {
  const valid = faultsValidFor(nodes, namesrvs, pushConsumers);
  if (text.trim() === 'all') return valid;
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  // A sequence may repeat a fault; a random draw list needs each once.
  const list = sequence ? names : [...new Set(names)];
  if (list.length === 0) throw new UsageError('--faults needs at least one fault name (or all)');
  for (const f of list) {
    if (!ALL_FAULTS.includes(f)) throw new UsageError(`--faults: unknown fault "${f}"; known: ${ALL_FAULTS.join(', ')}, all`);
    if (!valid.includes(f)) {
      if (f === 'consumer-kill') throw new UsageError('--faults: consumer-kill needs push consumers (--push-consumers 1 or more)');
      throw new UsageError(f === 'namesrv-kill' ? '--faults: namesrv-kill needs a NameServer (--namesrv 1, or --groups 2)' : `--faults: ${f} needs 5 nodes (--nodes 5)`);
    }
  }
  return list;
}

async function main(argv: string[]): Promise<number> {
  let flags;
  let faults: string[];
  let namesrvs: number;
  try {
    flags = parseFlagsOrHelp(SPEC, argv);
    if (flags === null) return 0;
    if (flags.nodes !== 3 && flags.nodes !== 5) throw new UsageError(`--nodes must be 3 or 5, got ${String(flags.nodes)}`);
    namesrvs = flags.namesrv === undefined ? (Number(flags.groups) > 1 ? 1 : 0) : Number(flags.namesrv);
    if (Number(flags.groups) > 1 && namesrvs === 0) throw new UsageError('--groups 2 or more needs a NameServer: the clients find the groups through it (--namesrv 1 or more)');
    if (flags['push-orderly'] === true && Number(flags['push-consumers']) === 0) throw new UsageError('--push-orderly needs --push-consumers 1 or more');
    faults = parseFaults(String(flags.faults), Number(flags.nodes), namesrvs, flags.order === 'sequence', Number(flags['push-consumers']));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`chaos: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const nodes = Number(flags.nodes);
  const groups = Number(flags.groups);
  const idempotence = flags['no-idempotence'] !== true;
  const seed = flags.seed === undefined ? randomInt(2 ** 31 - 1) : Number(flags.seed);
  const out = path.resolve(flags.out === undefined ? path.join('chaos-out', new Date().toISOString().replace(/[:.]/g, '-')) : String(flags.out));
  // On a terminal, a bar over --duration with what the workload has acked so far.
  const bar = startProgress({ total: Number(flags.duration), unit: 's', rate: false });
  const log = (line: string): void => bar.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
  log(`${groups > 1 ? `groups ${groups} of ` : ''}nodes ${nodes}${namesrvs > 0 ? `, NameServers ${namesrvs}` : ''}${idempotence ? '' : ', producers without idempotence'}, duration ${String(flags.duration)}s, interval ${String(flags.interval)}s, hold ${String(flags.hold)}s, seed ${seed}${flags.retention !== undefined ? `, retention ${String(flags.retention)}s` : ''}, out ${out}`);
  let outcome;
  try {
    outcome = await runChaos({
      nodes,
      groups,
      namesrvs,
      idempotence,
      faults,
      order: flags.order === 'sequence' ? 'sequence' : 'random',
      durationS: Number(flags.duration),
      intervalS: Number(flags.interval),
      holdS: Number(flags.hold),
      seed,
      outDir: out,
      producers: Number(flags.producers),
      workers: Number(flags.workers),
      ratePerSec: Number(flags.rate),
      consumers: Number(flags.consumers),
      pushConsumers: Number(flags['push-consumers']),
      pushOrderly: flags['push-orderly'] === true,
      queues: Number(flags.queues),
      netns: flags.netns === 'off' ? 'off' : 'auto',
      ...(flags['keep-data'] ? { keepData: true } : {}),
      ...(flags.retention !== undefined ? { retentionS: Number(flags.retention) } : {}),
      log,
      onProgress: (p) => bar.update(Math.min(p.elapsedS, Number(flags.duration)), `acked ${p.acked} | fault ${p.fault} | master ${p.master}`),
    });
  } finally {
    bar.stop();
  }
  const r = outcome.result;
  for (const g of r.groups.length > 1 ? r.groups : []) {
    log(`${g.group} (${g.replicas.join(',')}): acked ${g.acked}, stored ${g.stored}, retries answered ${g.retriesAnswered}, lost ${g.lost}, duplicated ${g.duplicated}, reordered ${g.reordered}, divergent ${g.divergent}`);
  }
  const dupNote = r.idempotentProducers ? ` (idempotent producers: each is a finding${r.duplicated.acrossGroups > 0 ? `; ${r.duplicated.acrossGroups} in two groups` : ''})` : ` (unexplained ${r.duplicated.unexplained})`;
  log(`lost ${r.lost.count}, duplicated ${r.duplicated.count}${dupNote}, reordered ${r.reordered.count}, divergent ${r.divergent.count}, misplaced ${r.misplaced.count}, phantom ${r.phantom.count}, failedButStored ${r.failedButStored.count}`);
  if (flags.retention !== undefined) {
    const installed = Object.entries(outcome.snapshotsInstalled).map(([id, n]) => `${id}=${n}`).join(' ');
    const cut = r.dumpStarts.some((d) => d.queues.length > 0);
    log(`retention: expiredByRetention ${r.expiredByRetention.count}, dumps start above offset 0: ${cut ? 'yes' : 'no'}, snapshots installed ${installed}`);
  }
  if (r.consumers) {
    const c = r.consumers;
    for (const g of c.groups) log(`consumer group ${g.consumerGroup} (${g.orderly ? 'orderly' : 'concurrently'}, ${g.members} members started, ${g.kills} killed): ${g.calls} handler calls, ${g.failedCalls} failed, consumed ${g.consumed}, consumed again ${g.duplicateConsumptions}, in the DLQ ${g.dlq}`);
    log(`consumers: unconsumed ${c.unconsumed.count}, overlaps ${c.overlaps.count} (in a rebalance, expected: ${c.overlapsInRebalance}), retries ${c.retries.count} (excused ${c.retriesExplained}), orderly ${c.orderly.count}${outcome.pushDrained === false ? '; the drain timed out' : ''}`);
  }
  log(`files: ${outcome.files.history}, ${outcome.files.findings}, ${outcome.files.report}`);
  console.log(outcome.summary);
  return r.ok && outcome.caughtUp ? 0 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // Everything the run made is already cleaned up (run.ts's finally, cleanup.ts).
  console.error(`chaos: ${(err as Error).message}`);
  process.exitCode = 1;
}
