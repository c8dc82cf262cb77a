// raftmq deleteTopic (mqadmin deleteTopic): remove a topic from every broker group of a cluster.
import { ClusterAdmin, type GroupOutcome } from '../client/index.ts';
import { parseFlagsOrHelp, UsageError, type CommandSpec } from './args.ts';
import { oneGroup, outcomeJson, outcomeLines, outcomeStatus } from './outcome.ts';
import { NAMESRV_FLAG, SERVERS_FLAG, targetOf } from './target.ts';

export const SPEC: CommandSpec = {
  usage: 'raftmq deleteTopic -t TOPIC [-n H:P[;H:P]] [-c CLUSTER | --servers H:P[,...]] [--json]',
  summary:
    'Removes the topic from every broker group of the cluster (every group the NameServer knows when\n' +
    'none is named) that has it, or from the one group --servers names, through each master: its\n' +
    'queues and consumer offsets go; its messages stay in the log until retention deletes them. One\n' +
    'line per group ("no topic" where it was not); exit status 1 when a group failed, or when no\n' +
    'group had the topic. --json prints one JSON array of\n' +
    '{"brokerName","result":"done"|"absent"|"failed","error":null|{"code","message"}}.',
  flags: [
    NAMESRV_FLAG,
    SERVERS_FLAG,
    { name: 'topic', short: ['t'], kind: 'string', help: 'topic', required: true },
    { name: 'cluster', short: ['c'], kind: 'string', help: 'only the groups of this cluster (brokerClusterName)' },
    { name: 'json', kind: 'bool', help: 'print one JSON array' },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const topic = String(flags.topic);
  const target = targetOf(flags);
  const cluster = flags.cluster === undefined ? undefined : String(flags.cluster);
  let outcomes: GroupOutcome[];
  if (target.kind === 'servers') {
    if (cluster !== undefined) throw new UsageError('--cluster picks groups the NameServer knows: it goes with --namesrv, not --servers');
    outcomes = [await oneGroup(target.servers, (admin) => admin.deleteTopic(topic))];
  } else {
    const admin = new ClusterAdmin({ namesrv: target.namesrv });
    try {
      outcomes = await admin.deleteTopic(topic, cluster !== undefined ? { cluster } : {});
    } finally {
      await admin.close();
    }
  }
  console.log(flags.json ? JSON.stringify(outcomes.map(outcomeJson)) : outcomeLines(outcomes, `topic ${topic} deleted`, `no topic ${topic}`).join('\n'));
  return outcomes.every((o) => o.result === 'absent') ? 1 : outcomeStatus(outcomes);
}
