// raftmq dlq list | resend: a consumer group's dead letters (%DLQ%<group>, queue 0 on each broker
// group), and sending them again to the topic they were first sent to (property RETRY_TOPIC), as
// RocketMQ's console resends a dead letter. A resent message stays in the DLQ too.
import { Producer, RaftmqError, type StoredMessage } from '../client/index.ts';
import {
  PROPERTY_DELAY_TIME_LEVEL,
  PROPERTY_REAL_QUEUE_ID,
  PROPERTY_REAL_TOPIC,
  PROPERTY_RECONSUME_TIME,
  PROPERTY_RETRY_TOPIC,
  PULL_COUNT_MAX,
  dlqTopicOf,
  type MessageInput,
} from '../protocol/index.ts';
import { helpText, parseFlagsOrHelp, UsageError, type CommandSpec } from './args.ts';
import { groupEndpointsOf, onEachMaster, type GroupEndpoint } from './consumer-admin.ts';
import { tableLines, timeText } from './table.ts';
import { GROUP_TARGET_FLAGS, targetOf } from './target.ts';

/** Dead letters read per broker group at most (--max). */
const DLQ_LIST_MAX_DEFAULT = 1000;
const DLQ_LIST_MAX_LIMIT = 100_000;
/** Body bytes per pull while listing. */
const PULL_BYTES_MAX = 4 * 1024 * 1024;

const LIST: CommandSpec = {
  usage: 'raftmq dlq list -g GROUP (-n H:P[;H:P] [--broker-name B] | --servers H:P[,...]) [--max N] [--json]',
  summary:
    "Lists a consumer group's dead letters (messages that failed maxReconsumeTimes times, in\n" +
    '%DLQ%GROUP) on each broker group, oldest first: msgId (the first delivery\'s), the topic it was\n' +
    'sent to, reconsume times, store time (UTC), keys and tags. --json prints one JSON array of\n' +
    '{"brokerName","msgId","offsetMsgId","queueOffset","topic","reconsumeTimes","storeTimestamp","keys","tags"}.\n' +
    'A broker group that does not answer is named on stderr and the exit status is 1.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'group', short: ['g'], kind: 'string', help: 'consumer group', required: true },
    { name: 'max', kind: 'int', help: 'most dead letters read per broker group', default: DLQ_LIST_MAX_DEFAULT, min: 1, max: DLQ_LIST_MAX_LIMIT },
    { name: 'json', kind: 'bool', help: 'print one JSON array' },
  ],
};

const RESEND: CommandSpec = {
  usage: 'raftmq dlq resend -g GROUP (-n H:P[;H:P] [--broker-name B] | --servers H:P[,...]) (--msg-id ID | --all) [--json]',
  summary:
    'Sends dead letters of the group again to the topic they were first sent to (RETRY_TOPIC), on\n' +
    'the broker group that holds them, with their body, keys, tags and properties (reconsume times\n' +
    'start again at 0). --msg-id: the one with that msgId (or offsetMsgId); --all: every one (up to\n' +
    `${DLQ_LIST_MAX_DEFAULT} per broker group). They stay in the DLQ. Prints each resent msgId and where it went;\n` +
    '--json one JSON line each {"msgId","topic","brokerName","newMsgId"}. Exit status 1 when one\n' +
    'could not be resent or none matched.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'group', short: ['g'], kind: 'string', help: 'consumer group', required: true },
    { name: 'msg-id', kind: 'string', help: 'the dead letter to resend' },
    { name: 'all', kind: 'bool', help: 'resend every dead letter of the group' },
    { name: 'json', kind: 'bool', help: 'one JSON line per resent message' },
  ],
};

/** A dead letter as listed. */
export interface DeadLetter {
  readonly brokerName: string;
  readonly message: StoredMessage;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    console.log(`${helpText(LIST)}\n\n${helpText(RESEND)}`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'list' && sub !== 'resend') throw new UsageError(`unknown dlq command "${sub}" (list or resend)`);
  const flags = parseFlagsOrHelp(sub === 'list' ? LIST : RESEND, rest);
  if (flags === null) return 0;
  const group = String(flags.group);
  if (sub === 'resend' && (flags['msg-id'] !== undefined) === (flags.all === true)) throw new UsageError('give exactly one of --msg-id or --all');
  const groups = await groupEndpointsOf(targetOf(flags));
  const { letters, failed } = await readDeadLetters(groups, group, sub === 'list' ? Number(flags.max) : DLQ_LIST_MAX_DEFAULT);
  for (const f of failed) console.error(`raftmq dlq: ${f}`);
  if (sub === 'list') {
    console.log(flags.json ? JSON.stringify(letters.map(jsonOf)) : letters.length === 0 ? `${group} has no dead letter` : dlqLines(letters).join('\n'));
    return failed.length > 0 ? 1 : 0;
  }
  const id = flags['msg-id'] === undefined ? null : String(flags['msg-id']);
  const chosen = id === null ? letters : letters.filter((l) => l.message.msgId === id || l.message.offsetMsgId === id);
  if (chosen.length === 0) {
    console.error(id === null ? `raftmq dlq: ${group} has no dead letter` : `raftmq dlq: no dead letter of ${group} has msgId ${id}`);
    return 1;
  }
  const ok = await resend(groups, chosen, flags.json === true);
  return ok && failed.length === 0 ? 0 : 1;
}

/** Every dead letter of `group` on each broker group, up to `max` each, oldest first. */
async function readDeadLetters(groups: readonly GroupEndpoint[], group: string, max: number): Promise<{ letters: DeadLetter[]; failed: string[] }> {
  const topic = dlqTopicOf(group);
  const results = await onEachMaster(groups, async (client, call) => {
    const out: StoredMessage[] = [];
    let offset = 0;
    while (out.length < max) {
      let r;
      try {
        r = await client.callMaster<'pull'>({ type: 'pull', topic, queueId: 0, offset, maxCount: Math.min(PULL_COUNT_MAX, max - out.length), maxBytes: PULL_BYTES_MAX, waitMs: 0 }, call);
      } catch (err) {
        // No DLQ on this broker group: no dead letter there.
        if (err instanceof RaftmqError && err.code === 'TOPIC_NOT_FOUND') return out;
        throw err;
      }
      out.push(...r.messages);
      if (r.nextOffset === offset || r.nextOffset >= r.maxOffset) break;
      offset = r.nextOffset;
    }
    return out;
  });
  const letters: DeadLetter[] = [];
  const failed: string[] = [];
  for (const r of results) {
    if (r.error !== null) failed.push(`${r.brokerName ?? '--servers'}: ${r.error.code}: ${r.error.message}`);
    for (const m of r.value ?? []) letters.push({ brokerName: r.brokerName ?? m.brokerName ?? '-', message: m });
  }
  return { letters, failed };
}

/** Sends each letter to its RETRY_TOPIC through a producer of the broker group that holds it. */
async function resend(groups: readonly GroupEndpoint[], letters: readonly DeadLetter[], json: boolean): Promise<boolean> {
  let ok = true;
  for (const g of groups) {
    const mine = letters.filter((l) => g.brokerName === null || l.brokerName === g.brokerName);
    if (mine.length === 0) continue;
    const producer = new Producer({ servers: g.servers });
    try {
      for (const { message: m } of mine) {
        const topic = m.properties[PROPERTY_RETRY_TOPIC];
        if (topic === undefined) {
          console.error(`raftmq dlq: ${m.msgId} has no ${PROPERTY_RETRY_TOPIC} property: not resent`);
          ok = false;
          continue;
        }
        try {
          const r = await producer.send(topic, resentMessage(m));
          const brokerName = g.brokerName ?? '-';
          console.log(json ? JSON.stringify({ msgId: m.msgId, topic, brokerName, newMsgId: r.msgId }) : `${m.msgId} resent to ${topic} (${brokerName}) as ${r.msgId}`);
        } catch (err) {
          console.error(`raftmq dlq: ${m.msgId} not resent: ${(err as Error).message}`);
          ok = false;
        }
      }
    } finally {
      await producer.close();
    }
  }
  return ok;
}

/** The dead letter as sent again: its retry bookkeeping gone, the rest kept (ORIGIN_MESSAGE_ID
 *  too, so it keeps its msgId). */
function resentMessage(m: StoredMessage): MessageInput {
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.properties)) {
    if (k !== PROPERTY_RETRY_TOPIC && k !== PROPERTY_RECONSUME_TIME && k !== PROPERTY_REAL_TOPIC && k !== PROPERTY_REAL_QUEUE_ID && k !== PROPERTY_DELAY_TIME_LEVEL) properties[k] = v;
  }
  return { body: m.body, ...(m.keys !== '' ? { keys: m.keys } : {}), ...(m.tags !== '' ? { tags: m.tags } : {}), ...(Object.keys(properties).length > 0 ? { properties } : {}) };
}

function jsonOf({ brokerName, message: m }: DeadLetter): object {
  return { brokerName, msgId: m.msgId, offsetMsgId: m.offsetMsgId ?? m.msgId, queueOffset: m.queueOffset, topic: m.properties[PROPERTY_RETRY_TOPIC] ?? null, reconsumeTimes: m.reconsumeTimes, storeTimestamp: m.storeTimestamp, keys: m.keys, tags: m.tags };
}

export function dlqLines(letters: readonly DeadLetter[]): string[] {
  return tableLines([
    ['#Broker Name', '#MsgId', '#Topic', '#Reconsume Times', '#Stored', '#Keys', '#Tags'],
    ...letters.map(({ brokerName, message: m }) => [brokerName, m.msgId, m.properties[PROPERTY_RETRY_TOPIC] ?? '-', String(m.reconsumeTimes), timeText(m.storeTimestamp), m.keys || '-', m.tags || '-']),
  ]);
}
