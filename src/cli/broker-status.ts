// raftmq brokerStatus (mqadmin brokerStatus): one replica's status and what it knows, or every
// replica's that the NameServer lists.
import { Admin, ClusterAdmin, groupServers, type BrokerInfo } from '../client/index.ts';
import { parseFlagsOrHelp, parseServers, UsageError, type CommandSpec } from './args.ts';
import { timeText } from './table.ts';
import { NAMESRV_FLAG, namesrvOf } from './target.ts';

export const SPEC: CommandSpec = {
  usage: 'raftmq brokerStatus (-b H:P | [-n H:P[;H:P]] [-c CLUSTER]) [--json]',
  summary:
    'Shows what one replica (-b: its client address) says about itself, as "key: value" lines: its\n' +
    'group, node id, role, Raft term and indexes, store and disk state, its topics and queues,\n' +
    'consumer groups and recent role changes. Without -b: every replica of every group the NameServer\n' +
    'lists (of one cluster with -c), one block each. A replica that does not answer is named on\n' +
    'stderr (exit status 1). --json prints each replica\'s BrokerInfo, one JSON line per replica:\n' +
    '{"status","staleness","metricsPort","topics","consumerOffsets","roleChanges","keyIndexEntries","truncated"}.',
  flags: [
    { name: 'broker', short: ['b'], kind: 'string', help: 'client address (host:port) of one replica' },
    NAMESRV_FLAG,
    { name: 'cluster', short: ['c'], kind: 'string', help: 'without -b: only the groups of this cluster' },
    { name: 'json', kind: 'bool', help: 'one JSON line (BrokerInfo) per replica' },
  ],
};

/** mqadmin's "key: value" block of one replica. */
export function brokerStatusLines(info: BrokerInfo): string[] {
  const s = info.status;
  const queues = info.topics.reduce((n, t) => n + t.queues.length, 0);
  const lastChange = info.roleChanges.at(-1);
  const pairs: [string, unknown][] = [
    ['brokerName', s.brokerName],
    ['nodeId', s.nodeId],
    ['addr', s.addr],
    ['brokerId', s.brokerId],
    ['role', s.role],
    ['raftRole', s.raftRole],
    ['memberKind', s.memberKind ?? '-'],
    ['term', s.term],
    ['leader', s.leaderId === '' ? '-' : `${s.leaderId} (${s.leaderAddr})`],
    ['commitIndex', s.commitIndex],
    ['appliedIndex', s.appliedIndex],
    ['lastIndex', s.lastIndex],
    ['firstIndex', s.firstIndex ?? '-'],
    ['retainedFrom', s.retainedFrom ?? '-'],
    ['store', s.recovering ? 'rebuilding' : 'ok'],
    ['staleness', info.staleness ?? '-'],
    ['diskUsedPercent', s.diskUsedPercent ?? '-'],
    ['diskFull', s.diskFull ?? false],
    ['topics', info.topics.length],
    ['queues', queues],
    ['consumerGroups', new Set(info.consumerOffsets.map((o) => o.group)).size],
    ['keyIndexEntries', info.keyIndexEntries < 0 ? 'off' : info.keyIndexEntries],
    ['lastRoleChange', lastChange === undefined ? '-' : `${timeText(lastChange.atMs)} ${lastChange.role} term ${lastChange.term}`],
    ['metricsPort', info.metricsPort === 0 ? 'off' : info.metricsPort],
    ['pid', s.pid],
    ['truncated', info.truncated],
  ];
  return pairs.map(([k, v]) => `${k.padEnd(20)}: ${String(v)}`);
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  let addrs: string[];
  if (flags.broker !== undefined) {
    if (flags.namesrv !== undefined || flags.cluster !== undefined) throw new UsageError('-b names one replica: give it alone, or -n (and -c) for every replica');
    if (String(flags.broker).includes(',')) throw new UsageError('-b takes one host:port (without it: every replica the NameServer lists)');
    addrs = parseServers(String(flags.broker));
  } else {
    const admin = new ClusterAdmin({ namesrv: namesrvOf(flags) });
    try {
      addrs = (await admin.groups(flags.cluster === undefined ? undefined : String(flags.cluster))).flatMap(groupServers);
    } finally {
      await admin.close();
    }
  }
  if (addrs.length === 0) throw new Error('the NameServer lists no replica: are the brokers started with namesrvAddr in their broker.conf?');
  const admin = new Admin({ servers: addrs });
  try {
    const results = await Promise.all(addrs.map((a) => admin.brokerInfo(a).then((info) => ({ a, info }), (err: Error) => ({ a, err }))));
    const blocks: string[] = [];
    for (const r of results) {
      if ('err' in r) console.error(`raftmq brokerStatus: ${r.a}: ${r.err.message}`);
      else if (flags.json) console.log(JSON.stringify(r.info));
      else blocks.push([`# ${r.a}`, ...brokerStatusLines(r.info)].join('\n'));
    }
    if (!flags.json && blocks.length > 0) console.log(blocks.join('\n\n'));
    return results.some((r) => 'err' in r) ? 1 : 0;
  } finally {
    await admin.close();
  }
}
