// raftmq consume: read a topic's messages (all queues), from the group's offsets or the beginning.
import { PullConsumer, type ConsumeFrom } from '../client/index.ts';
import { parseFlagsOrHelp, parseTimestampMs, UsageError, type CommandSpec } from './args.ts';
import { progressShown, startProgress } from './progress.ts';
import { GROUP_TARGET_FLAGS, groupServersOf, targetOf } from './target.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq consume (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) --topic T [--group G] [--from first|last|TIME | --from-beginning] [--count N] [--idle-timeout-ms MS] [--json]',
  summary:
    'Reads committed messages of every queue of T (from any replica; with --namesrv, the queues of\n' +
    'every group holding T, or of one with --broker-name), long-polling for new ones, and\n' +
    "commits the group's offsets as it goes (at-least-once). Each queue starts at the group's committed\n" +
    'offset; where the group has none, where --from says (RocketMQ\'s ConsumeFromWhere), and that start\n' +
    'is committed, so it is decided once. --from-beginning instead replays every queue from offset 0,\n' +
    "ignoring the group's offsets and committing nothing: run twice over the same stored messages, it\n" +
    "prints the same ones. To move a group's offsets: raftmq offset reset. Stops after --count messages\n" +
    'or when no message arrived for --idle-timeout-ms; a topic that does not exist is an error (exit 1).\n' +
    '--json prints one line per message: {"topic","queueId","queueOffset","msgId","keys","body"}\n' +
    '(body as UTF-8). With the messages going to a file or pipe and stderr a terminal (and no --json),\n' +
    'a bar on stderr shows the count, rate and, with --count, the time left.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'topic', kind: 'string', help: 'topic', required: true },
    { name: 'group', kind: 'string', help: 'consumer group', default: 'raftmq-cli' },
    { name: 'from', kind: 'string', help: 'queues without a committed offset start at: first (oldest message), last (only new ones; the default), or the first message stored at or after a time (ms since the epoch or ISO 8601)' },
    { name: 'from-beginning', kind: 'bool', help: 'replay: ignore committed offsets, start every queue at offset 0, commit nothing' },
    { name: 'count', kind: 'int', help: 'stop after this many messages', min: 1 },
    { name: 'idle-timeout-ms', kind: 'int', help: 'stop after this long without a message (0: never)', default: 5000, min: 0 },
    { name: 'json', kind: 'bool', help: 'one JSON line per message' },
  ],
};

/** --from as the consumer's option. */
function parseFrom(value: string): ConsumeFrom {
  if (value === 'first' || value === 'last') return value;
  return { timestamp: parseTimestampMs(value, 'from') };
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const fromBeginning = flags['from-beginning'] === true;
  if (fromBeginning && flags.from !== undefined) {
    throw new UsageError('--from-beginning and --from exclude each other: --from-beginning ignores committed offsets, --from applies only where there is none');
  }
  const from = flags.from === undefined ? undefined : parseFrom(String(flags.from));
  const target = targetOf(flags);
  const group = String(flags.group);
  // Every group's queues through the NameServer, or one group's replicas.
  const consumer = new PullConsumer(target.kind === 'namesrv' && target.brokerName === null ? { namesrv: target.namesrv, group } : { servers: (await groupServersOf(target)).servers, group });
  const limit = flags.count === undefined ? Infinity : Number(flags.count);
  const idleTimeoutMs = Number(flags['idle-timeout-ms']);
  let seen = 0;
  // The messages are the progress when they go to the terminal themselves.
  const bar = startProgress({ ...(limit !== Infinity ? { total: limit } : {}), unit: 'msgs', enabled: !flags.json && progressShown() && process.stdout.isTTY !== true });
  try {
    const messages = consumer.messages(String(flags.topic), {
      ...(fromBeginning ? { fromBeginning } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(idleTimeoutMs > 0 ? { idleTimeoutMs } : {}),
    });
    for await (const m of messages) {
      const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength).toString('utf8');
      if (flags.json) {
        console.log(JSON.stringify({ topic: m.topic, queueId: m.queueId, queueOffset: m.queueOffset, msgId: m.msgId, keys: m.keys, body }));
      } else {
        console.log(`${m.topic}/${m.queueId}@${m.queueOffset} ${m.msgId}${m.keys ? ` key=${m.keys}` : ''} ${body}`);
      }
      bar.update(++seen);
      if (seen >= limit) break;
    }
    bar.stop();
    if (!flags.json) process.stderr.write(`${seen} messages\n`);
    return 0;
  } finally {
    bar.stop();
    await consumer.close();
  }
}
