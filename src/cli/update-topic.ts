// raftmq updateTopic (mqadmin updateTopic): create a topic, or grow it, on every broker group of
// a cluster or on the groups named, through each group's master.
import { ClusterAdmin, type GroupOutcome } from '../client/index.ts';
import { TOPIC_QUEUE_COUNT_MAX } from '../protocol/index.ts';
import { parseFlagsOrHelp, UsageError, type CommandSpec } from './args.ts';
import { oneGroup, outcomeJson, outcomeLines, outcomeStatus } from './outcome.ts';
import { NAMESRV_FLAG, SERVERS_FLAG, targetOf } from './target.ts';

export const SPEC: CommandSpec = {
  usage: 'raftmq updateTopic -t TOPIC [-n H:P[;H:P]] [-c CLUSTER | --broker-names a,b | --servers H:P[,...]] [--queues N] [--json]',
  summary:
    'Creates the topic with N queues on each broker group, or grows it there to N (queues never\n' +
    'shrink): on every group of the cluster (the only cluster the NameServer knows, when none is\n' +
    'named), on the groups --broker-names lists, or on the one group --servers names. Each group\'s\n' +
    'master answers once the change is committed there; one line per group says what happened, and\n' +
    'the exit status is 1 when a group failed (run it again: it is idempotent). raftmq has one\n' +
    "queue count per group, read and write alike: RocketMQ's -r and -w both set it. The NameServer\n" +
    'shows the new route at the groups\' next registration. --json prints one JSON array of\n' +
    '{"brokerName","result":"done"|"failed","error":null|{"code","message"}}.',
  flags: [
    NAMESRV_FLAG,
    SERVERS_FLAG,
    { name: 'topic', short: ['t'], kind: 'string', help: 'topic name ([%|a-zA-Z0-9_-], at most 127 characters)', required: true },
    { name: 'cluster', short: ['c'], kind: 'string', help: 'every group of this cluster (brokerClusterName)' },
    { name: 'broker-names', kind: 'string', help: 'these groups only (brokerNames, comma-separated)' },
    { name: 'queues', short: ['r', 'w'], kind: 'int', help: 'queue count per group', default: 8, min: 1, max: TOPIC_QUEUE_COUNT_MAX },
    { name: 'json', kind: 'bool', help: 'print one JSON array' },
  ],
};

/** --broker-names as a list of names, each checked non-empty and given once. */
export function parseBrokerNames(value: string): string[] {
  const names = value.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw new UsageError(`--broker-names: "${value}" has an empty name`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new UsageError(`--broker-names: ${dup} is named twice`);
  return names;
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const topic = String(flags.topic);
  const queues = Number(flags.queues);
  const target = targetOf(flags);
  const cluster = flags.cluster === undefined ? undefined : String(flags.cluster);
  const brokerNames = flags['broker-names'] === undefined ? undefined : parseBrokerNames(String(flags['broker-names']));
  let outcomes: GroupOutcome[];
  if (target.kind === 'servers') {
    if (cluster !== undefined || brokerNames !== undefined) throw new UsageError('--cluster and --broker-names pick groups the NameServer knows: they go with --namesrv, not --servers');
    outcomes = [await oneGroup(target.servers, (admin) => admin.createTopic(topic, queues))];
  } else {
    const admin = new ClusterAdmin({ namesrv: target.namesrv });
    try {
      outcomes = await admin.updateTopic(topic, queues, { ...(cluster !== undefined ? { cluster } : {}), ...(brokerNames !== undefined ? { brokerNames } : {}) });
    } finally {
      await admin.close();
    }
  }
  console.log(flags.json ? JSON.stringify(outcomes.map(outcomeJson)) : outcomeLines(outcomes, `topic ${topic} has ${queues} queues`, `no topic ${topic}`).join('\n'));
  return outcomeStatus(outcomes);
}
