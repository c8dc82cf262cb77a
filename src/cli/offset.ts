// raftmq offset show | reset: a consumer group's committed offsets of a topic, and RocketMQ's
// resetOffsetByTime.
import { Admin } from '../client/index.ts';
import { helpText, parseFlagsOrHelp, parseTimestampMs, UsageError, type CommandSpec } from './args.ts';
import { GROUP_TARGET_FLAGS, groupServersOf, targetOf } from './target.ts';

const SHOW: CommandSpec = {
  usage: 'raftmq offset show (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) --group G --topic T [--consistency linearizable] [--json]',
  summary:
    "Shows, for every queue of T, the group's committed offset (the next message it will read), the\n" +
    "queue's min and max offset (max: the next offset to be written) and the lag (max - committed),\n" +
    'as the master has them. "-" marks a queue where the group has no committed offset.\n' +
    'With --consistency linearizable the master first confirms with a quorum that it still leads\n' +
    '(one heartbeat round), so a master cut off from its group cannot answer stale offsets.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'group', kind: 'string', help: 'consumer group', required: true },
    { name: 'topic', kind: 'string', help: 'topic', required: true },
    { name: 'consistency', kind: 'string', help: 'committed or linearizable', default: 'committed', choices: ['committed', 'linearizable'] },
    { name: 'json', kind: 'bool', help: 'one JSON line per queue: {"queueId","minOffset","maxOffset","offset","lag"} (offset -1, lag null: none committed)' },
  ],
};

const RESET: CommandSpec = {
  usage: 'raftmq offset reset (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) --group G --topic T --timestamp MS|ISO',
  summary:
    "RocketMQ's resetOffsetByTime: sets the group's committed offset of every queue of T to the first\n" +
    "message stored at or after the time (the queue's max offset when every message is older), so the\n" +
    "group reads again from there (an earlier time) or skips ahead (a later one). Running consumers of\n" +
    'the group keep their own positions and commit them over the reset: stop them first. Prints each\n' +
    'queue as "queue Q: BEFORE -> AFTER".',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'group', kind: 'string', help: 'consumer group', required: true },
    { name: 'topic', kind: 'string', help: 'topic', required: true },
    { name: 'timestamp', kind: 'string', help: 'ms since the epoch, or ISO 8601 (2026-12-06T14:00:00Z; without a zone: local time)', required: true },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    console.log(`${helpText(SHOW)}\n\n${helpText(RESET)}`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'show' && sub !== 'reset') throw new UsageError(`unknown offset command "${sub}" (show or reset)`);
  const flags = parseFlagsOrHelp(sub === 'show' ? SHOW : RESET, rest);
  if (flags === null) return 0;
  const timestamp = sub === 'reset' ? parseTimestampMs(String(flags.timestamp), 'timestamp') : 0;
  const admin = new Admin({ servers: (await groupServersOf(targetOf(flags))).servers });
  const group = String(flags.group);
  const topic = String(flags.topic);
  try {
    if (sub === 'reset') {
      for (const r of await admin.resetOffsetByTime(group, topic, timestamp)) {
        console.log(`queue ${r.queueId}: ${r.previous < 0 ? '-' : r.previous} -> ${r.offset}`);
      }
      return 0;
    }
    const progress = await admin.consumerProgress(group, topic, { consistency: flags.consistency === 'linearizable' ? 'linearizable' : 'committed' });
    if (flags.json) {
      for (const p of progress) console.log(JSON.stringify(p));
      return 0;
    }
    const rows = [['queue', 'min', 'max', 'offset', 'lag'], ...progress.map((p) => [p.queueId, p.minOffset, p.maxOffset, p.offset < 0 ? '-' : p.offset, p.lag ?? '-'].map(String))];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
    const lag = progress.reduce((sum, p) => sum + (p.lag ?? 0), 0);
    const none = progress.filter((p) => p.lag === null).length;
    console.log(`total lag ${lag}${none > 0 ? ` (${none} of ${progress.length} queues without a committed offset)` : ''}`);
    return 0;
  } finally {
    await admin.close();
  }
}
