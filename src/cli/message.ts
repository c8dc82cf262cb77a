// raftmq message: find messages by msgId or by key (RocketMQ's queryMsgById / queryMsgByKey).
import { Admin, type StoredMessage } from '../client/index.ts';
import { QUERY_MESSAGE_COUNT_MAX } from '../protocol/index.ts';
import { parseFlagsOrHelp, UsageError, type CommandSpec } from './args.ts';
import { GROUP_TARGET_FLAGS, groupServersOf, targetOf } from './target.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq message (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) (--id MSGID | --topic T --key K [--max N]) [--json]',
  summary:
    'Finds stored messages. --id: the message a msgId names (the id says which log entry holds it).\n' +
    '--key: the newest messages of T whose keys include K, from the replicas\' key index\n' +
    '(messageIndexEnable; it holds the newest maxIndexNum keys). Asks the master, or any replica\n' +
    'when there is none. Prints each message (body as UTF-8, cut at --body-chars), or with --json one\n' +
    'line per message {"topic","queueId","queueOffset","msgId","keys","tags","storeTimestamp","body"}.\n' +
    'Exit status 1 when nothing is found.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'id', kind: 'string', help: 'msgId, as a send printed it' },
    { name: 'topic', kind: 'string', help: 'with --key: the topic' },
    { name: 'key', kind: 'string', help: 'a message key (one of the space-separated keys a producer set)' },
    { name: 'max', kind: 'int', help: 'with --key: most messages to print', default: 32, min: 1, max: QUERY_MESSAGE_COUNT_MAX },
    { name: 'body-chars', kind: 'int', help: 'characters of each body printed (not with --json)', default: 200, min: 0 },
    { name: 'json', kind: 'bool', help: 'one JSON line per message' },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const byId = flags.id !== undefined;
  if (byId === (flags.key !== undefined)) throw new UsageError('give exactly one of --id or --key');
  if (!byId && flags.topic === undefined) throw new UsageError('--key needs --topic');
  if (byId && flags.topic !== undefined) throw new UsageError('--topic goes with --key; a msgId names its message alone');
  const admin = new Admin({ servers: (await groupServersOf(targetOf(flags))).servers });
  try {
    const found = byId
      ? [await admin.viewMessage(String(flags.id))].filter((m): m is StoredMessage => m !== null)
      : await admin.queryMessage(String(flags.topic), String(flags.key), Number(flags.max));
    for (const m of found) console.log(flags.json ? JSON.stringify(jsonOf(m)) : describe(m, Number(flags['body-chars'])));
    if (found.length === 0) process.stderr.write(byId ? `no message ${String(flags.id)} is stored\n` : `no message of ${String(flags.topic)} with key ${String(flags.key)} is in the key index\n`);
    return found.length > 0 ? 0 : 1;
  } finally {
    await admin.close();
  }
}

function bodyText(m: StoredMessage): string {
  return Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength).toString('utf8');
}

function jsonOf(m: StoredMessage): object {
  return { topic: m.topic, queueId: m.queueId, queueOffset: m.queueOffset, msgId: m.msgId, keys: m.keys, tags: m.tags, storeTimestamp: m.storeTimestamp, body: bodyText(m) };
}

function describe(m: StoredMessage, bodyChars: number): string {
  const body = bodyText(m);
  const shown = body.length > bodyChars ? `${body.slice(0, bodyChars)}... (${m.body.byteLength} bytes)` : body;
  return [
    `${m.msgId} ${m.topic}/${m.queueId}@${m.queueOffset} stored ${new Date(m.storeTimestamp).toISOString()}`,
    `  keys=${m.keys || '-'} tags=${m.tags || '-'}${Object.keys(m.properties).length > 0 ? ` properties=${JSON.stringify(m.properties)}` : ''}`,
    `  ${shown}`,
  ].join('\n');
}
