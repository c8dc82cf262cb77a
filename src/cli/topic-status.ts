// raftmq topicStatus (mqadmin topicStatus): every queue of a topic on every broker group that
// holds it, with its min and max offset and last update time.
import { Admin, ClusterAdmin, type GroupOutcome, type GroupTopicOffset } from '../client/index.ts';
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';
import { tableLines, timeText } from './table.ts';
import { GROUP_TARGET_FLAGS, targetOf } from './target.ts';

export const SPEC: CommandSpec = {
  usage: 'raftmq topicStatus -t TOPIC (-n H:P[;H:P] [--broker-name B] | --servers H:P[,...]) [--json]',
  summary:
    "Shows every queue of the topic on each broker group of its route (the NameServer's), or on the\n" +
    "one group --servers names: its min offset, max offset (the next to be written) and when it last\n" +
    "took a message (UTC; - when the broker does not say), from each group's master. A group that\n" +
    'does not answer is named on stderr and the exit status is 1. --json prints one JSON array of\n' +
    '{"brokerName","queueId","minOffset","maxOffset","lastUpdateTimestamp"} (ms, or null).',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'topic', short: ['t'], kind: 'string', help: 'topic', required: true },
    { name: 'json', kind: 'bool', help: 'print one JSON array' },
  ],
};

export function topicStatusLines(queues: readonly GroupTopicOffset[]): string[] {
  const sorted = [...queues].sort((a, b) => a.brokerName.localeCompare(b.brokerName) || a.queueId - b.queueId);
  return tableLines([
    ['#Broker Name', '#QID', '#Min Offset', '#Max Offset', '#Last Updated'],
    ...sorted.map((q) => [q.brokerName, String(q.queueId), String(q.minOffset), String(q.maxOffset), timeText(q.lastUpdateTimestamp)]),
  ]);
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const topic = String(flags.topic);
  const target = targetOf(flags);
  let result: { queues: GroupTopicOffset[]; failed: GroupOutcome[] };
  if (target.kind === 'servers') {
    const admin = new Admin({ servers: target.servers });
    try {
      result = { queues: await admin.topicStatus(topic), failed: [] };
    } finally {
      await admin.close();
    }
  } else {
    const admin = new ClusterAdmin({ namesrv: target.namesrv });
    try {
      result = await admin.topicStatus(topic);
    } finally {
      await admin.close();
    }
    if (target.brokerName !== null) {
      const name = target.brokerName;
      result = { queues: result.queues.filter((q) => q.brokerName === name), failed: result.failed.filter((f) => f.brokerName === name) };
      if (result.queues.length === 0 && result.failed.length === 0) {
        console.error(`raftmq topicStatus: the route of ${topic} names no group ${name}`);
        return 1;
      }
    }
  }
  const queues = [...result.queues].sort((a, b) => a.brokerName.localeCompare(b.brokerName) || a.queueId - b.queueId);
  console.log(flags.json ? JSON.stringify(queues) : topicStatusLines(queues).join('\n'));
  for (const f of result.failed) console.error(`raftmq topicStatus: ${f.brokerName}: ${f.error?.code ?? 'INTERNAL'}: ${f.error?.message ?? ''}`);
  return result.failed.length > 0 ? 1 : 0;
}
