// raftmq consume: read a topic's messages (all queues), from the group's offsets or the beginning.
import { PullConsumer } from '../client/index.ts';
import { parseFlagsOrHelp, parseServers, type CommandSpec } from './args.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq consume --servers H:P[,...] --topic T [--group G] [--from-beginning] [--count N] [--idle-timeout-ms MS] [--json]',
  summary:
    'Reads committed messages of every queue of T (from any replica), long-polling for new ones, and\n' +
    'commits the group\'s offsets as it goes (at-least-once). Stops after --count messages or when no\n' +
    'message arrived for --idle-timeout-ms. --json prints one line per message:\n' +
    '{"topic","queueId","queueOffset","msgId","keys","body"} (body as UTF-8).',
  flags: [
    { name: 'servers', kind: 'string', help: 'client addresses of the replicas', required: true },
    { name: 'topic', kind: 'string', help: 'topic', required: true },
    { name: 'group', kind: 'string', help: 'consumer group', default: 'raftmq-cli' },
    { name: 'from-beginning', kind: 'bool', help: 'ignore committed offsets, start at offset 0' },
    { name: 'count', kind: 'int', help: 'stop after this many messages', min: 1 },
    { name: 'idle-timeout-ms', kind: 'int', help: 'stop after this long without a message (0: never)', default: 5000, min: 0 },
    { name: 'json', kind: 'bool', help: 'one JSON line per message' },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const consumer = new PullConsumer({ servers: parseServers(String(flags.servers)), group: String(flags.group) });
  const limit = flags.count === undefined ? Infinity : Number(flags.count);
  let seen = 0;
  try {
    for await (const m of consumer.messages(String(flags.topic), { fromBeginning: flags['from-beginning'] === true, idleTimeoutMs: Number(flags['idle-timeout-ms']) })) {
      const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength).toString('utf8');
      if (flags.json) {
        console.log(JSON.stringify({ topic: m.topic, queueId: m.queueId, queueOffset: m.queueOffset, msgId: m.msgId, keys: m.keys, body }));
      } else {
        console.log(`${m.topic}/${m.queueId}@${m.queueOffset} ${m.msgId}${m.keys ? ` key=${m.keys}` : ''} ${body}`);
      }
      if (++seen >= limit) break;
    }
    if (!flags.json) process.stderr.write(`${seen} messages\n`);
    return 0;
  } finally {
    await consumer.close();
  }
}
