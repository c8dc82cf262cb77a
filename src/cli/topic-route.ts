// raftmq topicRoute (mqadmin topicRoute): which broker groups hold a topic's queues, and each
// group's replicas.
import { ClusterAdmin, type TopicRouteData } from '../client/index.ts';
import { PERM_READ, PERM_WRITE } from '../protocol/index.ts';
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';
import { tableLines } from './table.ts';
import { NAMESRV_FLAG, namesrvOf } from './target.ts';

export const SPEC: CommandSpec = {
  usage: 'raftmq topicRoute -t TOPIC [-n H:P[;H:P]] [--json]',
  summary:
    "Shows the topic's route as the NameServer computes it: each broker group holding its queues\n" +
    '(read and write queue counts, permission) with its master and replicas. --json prints RocketMQ\'s\n' +
    'TopicRouteData: {"queueDatas": [{"brokerName","readQueueNums","writeQueueNums","perm",\n' +
    '"topicSysFlag"}], "brokerDatas": [{"cluster","brokerName","brokerAddrs","replicas"}]}.',
  flags: [
    NAMESRV_FLAG,
    { name: 'topic', short: ['t'], kind: 'string', help: 'topic', required: true },
    { name: 'json', kind: 'bool', help: 'print the TopicRouteData as one JSON object' },
  ],
};

/** RocketMQ's PermName.perm2String, without the inherit bit: R, W or - each. */
export function permText(perm: number): string {
  return `${perm & PERM_READ ? 'R' : '-'}${perm & PERM_WRITE ? 'W' : '-'}`;
}

export function topicRouteLines(route: TopicRouteData): string[] {
  const rows = [['#Broker Name', '#Read Queues', '#Write Queues', '#Perm', '#Master', '#Replicas']];
  for (const q of [...route.queueDatas].sort((a, b) => a.brokerName.localeCompare(b.brokerName))) {
    const group = route.brokerDatas.find((b) => b.brokerName === q.brokerName);
    const replicas = [...(group?.replicas ?? [])].sort((a, b) => a.brokerId - b.brokerId).map((r) => `${r.nodeId}@${r.addr}`);
    rows.push([q.brokerName, String(q.readQueueNums), String(q.writeQueueNums), permText(q.perm), group?.brokerAddrs['0'] ?? 'none', replicas.join(',') || '-']);
  }
  return tableLines(rows);
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const admin = new ClusterAdmin({ namesrv: namesrvOf(flags) });
  try {
    const route = await admin.topicRoute(String(flags.topic));
    console.log(flags.json ? JSON.stringify(route) : topicRouteLines(route).join('\n'));
    return 0;
  } finally {
    await admin.close();
  }
}
