// raftmq clusterList (mqadmin clusterList): clusters -> broker groups -> replicas, as the
// NameServer has them.
import { ClusterAdmin, type ClusterInfo } from '../client/index.ts';
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';
import { tableLines } from './table.ts';
import { NAMESRV_FLAG, namesrvOf } from './target.ts';

export const SPEC: CommandSpec = {
  usage: 'raftmq clusterList [-n H:P[;H:P]] [-c CLUSTER] [--json]',
  summary:
    'Lists every broker group the NameServer knows, by cluster: each live replica with its brokerId\n' +
    '(0: the master), node id, client address, role, Raft term and how long ago it last registered.\n' +
    '--json prints the NameServer\'s cluster info as one object: {"brokerAddrTable": {brokerName:\n' +
    '{"cluster","brokerName","brokerAddrs","replicas"}}, "clusterAddrTable": {cluster: [brokerName]}}.',
  flags: [
    NAMESRV_FLAG,
    { name: 'cluster', short: ['c'], kind: 'string', help: 'only this cluster (brokerClusterName)' },
    { name: 'json', kind: 'bool', help: 'print the cluster info as one JSON object' },
  ],
};

/** The plain table: one row per replica (a group without a live replica: one row of "-"). */
export function clusterListLines(info: ClusterInfo, cluster?: string): string[] {
  const rows = [['#Cluster Name', '#Broker Name', '#BID', '#Node', '#Addr', '#Role', '#Term', '#Last Registered']];
  const clusters = Object.keys(info.clusterAddrTable)
    .filter((c) => cluster === undefined || c === cluster)
    .sort();
  for (const c of clusters) {
    for (const name of [...info.clusterAddrTable[c]!].sort()) {
      const group = info.brokerAddrTable[name];
      const replicas = [...(group?.replicas ?? [])].sort((a, b) => a.brokerId - b.brokerId || a.nodeId.localeCompare(b.nodeId));
      if (replicas.length === 0) rows.push([c, name, '-', '-', '-', '-', '-', '-']);
      for (const r of replicas) rows.push([c, name, String(r.brokerId), r.nodeId, r.addr, r.role, String(r.term), `${(r.silentMs / 1000).toFixed(1)} s ago`]);
    }
  }
  return tableLines(rows);
}

/** The cluster info restricted to one cluster (or as it is). */
export function clusterInfoOf(info: ClusterInfo, cluster?: string): ClusterInfo {
  if (cluster === undefined) return info;
  const names = info.clusterAddrTable[cluster] ?? [];
  return {
    clusterAddrTable: names.length > 0 ? { [cluster]: names } : {},
    brokerAddrTable: Object.fromEntries(names.filter((n) => info.brokerAddrTable[n] !== undefined).map((n) => [n, info.brokerAddrTable[n]!])),
  };
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const cluster = flags.cluster === undefined ? undefined : String(flags.cluster);
  const admin = new ClusterAdmin({ namesrv: namesrvOf(flags) });
  try {
    const info = await admin.clusterInfo();
    if (cluster !== undefined && info.clusterAddrTable[cluster] === undefined) {
      console.error(`raftmq clusterList: the NameServer knows no cluster ${cluster} (known: ${Object.keys(info.clusterAddrTable).sort().join(', ') || 'none'})`);
      return 1;
    }
    console.log(flags.json ? JSON.stringify(clusterInfoOf(info, cluster)) : clusterListLines(info, cluster).join('\n'));
    return 0;
  } finally {
    await admin.close();
  }
}
