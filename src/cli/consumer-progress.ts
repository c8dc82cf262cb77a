// raftmq consumerProgress (mqadmin consumerProgress): per queue of every topic a consumer group
// has committed offsets in, the broker's max offset, the group's offset and the difference.
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';
import { groupEndpointsOf, onEachMaster, progressRowsOf, type ProgressRow } from './consumer-admin.ts';
import { tableLines } from './table.ts';
import { GROUP_TARGET_FLAGS, targetOf } from './target.ts';

export const SPEC: CommandSpec = {
  usage: 'raftmq consumerProgress -g GROUP (-n H:P[;H:P] [--broker-name B] | --servers H:P[,...]) [--json]',
  summary:
    'Shows, for every queue of every topic the consumer group has a committed offset in, on each\n' +
    "broker group (its master's view): the broker offset (the queue's max offset, the next to be\n" +
    "written), the group's committed offset and their difference, then the total difference. A\n" +
    'group that does not answer is named on stderr and the exit status is 1. --json prints one JSON\n' +
    'object {"queues":[{"topic","brokerName","queueId","brokerOffset","consumerOffset","diff"}],"diffTotal"}.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'group', short: ['g'], kind: 'string', help: 'consumer group', required: true },
    { name: 'json', kind: 'bool', help: 'print one JSON object' },
  ],
};

export function consumerProgressLines(rows: readonly ProgressRow[]): string[] {
  const total = rows.reduce((sum, r) => sum + r.diff, 0);
  return [
    ...tableLines([
      ['#Topic', '#Broker Name', '#QID', '#Broker Offset', '#Consumer Offset', '#Diff'],
      ...rows.map((r) => [r.topic, r.brokerName, String(r.queueId), String(r.brokerOffset), String(r.consumerOffset), String(r.diff)]),
    ]),
    '',
    `Diff Total: ${total}`,
  ];
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const group = String(flags.group);
  const results = await onEachMaster(await groupEndpointsOf(targetOf(flags)), async (client, call) => (await client.callMaster<'brokerInfo'>({ type: 'brokerInfo' }, call)).info);
  const rows = results.flatMap((r) => (r.value === null ? [] : progressRowsOf(group, r.value)));
  rows.sort((a, b) => a.topic.localeCompare(b.topic) || a.brokerName.localeCompare(b.brokerName) || a.queueId - b.queueId);
  const diffTotal = rows.reduce((sum, r) => sum + r.diff, 0);
  console.log(flags.json ? JSON.stringify({ queues: rows, diffTotal }) : rows.length === 0 ? `${group} has no committed offset` : consumerProgressLines(rows).join('\n'));
  for (const r of results) {
    if (r.value?.truncated === true) console.error(`raftmq consumerProgress: ${r.value.status.brokerName}: its offset list was cut at the broker's row limit; queues may be missing`);
    if (r.error !== null) console.error(`raftmq consumerProgress: ${r.brokerName ?? '--servers'}: ${r.error.code}: ${r.error.message}`);
  }
  return results.some((r) => r.error !== null) ? 1 : 0;
}
