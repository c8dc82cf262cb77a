// raftmq consumerConnection (mqadmin consumerConnection): a consumer group's live members as the
// masters know them from their heartbeats, with consume model and subscriptions.
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';
import { connectionRowsOf, groupEndpointsOf, onEachMaster, type ConnectionRow } from './consumer-admin.ts';
import { tableLines } from './table.ts';
import { GROUP_TARGET_FLAGS, targetOf } from './target.ts';

export const SPEC: CommandSpec = {
  usage: 'raftmq consumerConnection -g GROUP (-n H:P[;H:P] [--broker-name B] | --servers H:P[,...]) [--json]',
  summary:
    "Shows the consumer group's live members as the master of each broker group knows them (members\n" +
    'heartbeat every master each second; one silent for 3 s or whose connection closed is gone):\n' +
    'client id, address, consume model, subscriptions (topic(expression)) and the broker groups that\n' +
    'have it. A group that does not answer is named on stderr and the exit status is 1. --json prints\n' +
    'one JSON array of {"clientId","clientAddr","consumeModel","subscriptions","brokerNames"}.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'group', short: ['g'], kind: 'string', help: 'consumer group', required: true },
    { name: 'json', kind: 'bool', help: 'print one JSON array' },
  ],
};

export function consumerConnectionLines(rows: readonly ConnectionRow[]): string[] {
  return tableLines([
    ['#ClientId', '#ClientAddr', '#Model', '#Subscriptions', '#Brokers'],
    ...rows.map((r) => [r.clientId, r.clientAddr, r.consumeModel, r.subscriptions.map((s) => `${s.topic}(${s.expression})`).join(' '), r.brokerNames.join(',')]),
  ]);
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const group = String(flags.group);
  const results = await onEachMaster(await groupEndpointsOf(targetOf(flags)), async (client, call) => {
    const resp = await client.callMaster<'consumerList'>({ type: 'consumerList', group, withConnections: true }, call);
    return resp.view.connections ?? [];
  });
  const rows = connectionRowsOf(results.filter((r) => r.value !== null).map((r) => ({ brokerName: r.brokerName ?? '-', connections: r.value! })));
  console.log(flags.json ? JSON.stringify(rows) : rows.length === 0 ? `no live member of ${group}` : consumerConnectionLines(rows).join('\n'));
  const failed = results.filter((r) => r.error !== null);
  for (const f of failed) console.error(`raftmq consumerConnection: ${f.brokerName ?? '--servers'}: ${f.error!.code}: ${f.error!.message}`);
  return failed.length > 0 ? 1 : 0;
}
