// One member of the chaos workload's consumer group, as a process of its own so that the
// `consumer-kill` fault can SIGKILL it (a crash: no offset commit, no unregister). A PushConsumer
// whose handler fails some messages: each try of a message fails with failPercent % chance, decided
// by a hash of (seed, id, reconsumeTimes) so a replay fails the same tries, and a few "doomed"
// messages (1 in DOOMED_EVERY ids by the same hash) fail every try and end in the DLQ.
//
// It writes one JSON line per event on stdout (consumer-members.ts records them in the history):
//   {"e":"ready","clientId":..}  {"e":"rebalance","at":..,"queues":[..]}
//   {"e":"call","start":..,"at":..,"id":..,"key":..,"queue":..,"queueOffset":..,"reconsumeTimes":..,"result":..}
//   {"e":"left","at":..}
// Times are epoch milliseconds from performance.timeOrigin + performance.now(), the clock the
// runner's recorder also uses. SIGTERM shuts the member down gracefully (commit, unregister).
//
// usage: node --import tsx consumer-member.ts '<MemberConfig as JSON>'
import { performance } from 'node:perf_hooks';
import { crc32 } from 'node:zlib';
import { PushConsumer, type ConsumedMessage, type MessageQueue } from '../client/index.ts';
import { queueName } from './history.ts';
import { idOfBody } from './workload.ts';

export interface MemberConfig {
  readonly group: string;
  readonly clientId: string;
  readonly topic: string;
  readonly namesrv?: readonly string[];
  readonly servers?: readonly string[];
  readonly orderly: boolean;
  readonly maxReconsumeTimes: number;
  readonly failPercent: number;
  readonly seed: number;
}

/** 1 in this many messages fails every try (so some reach the DLQ). */
const DOOMED_EVERY = 50;
/** Handlers take this long at most (a short, varying pause: overlaps become visible). */
const HANDLER_MS_MAX = 20;
/** An ordered queue's failed message is retried after this (short, so runs end). */
const SUSPEND_MS = 100;
const OFFSET_PERSIST_MS = 1000;

function hash(text: string): number {
  return crc32(Buffer.from(text, 'latin1'));
}

/** Whether the handler fails this try of message `id` (the same answer in every process). */
function failsTry(seed: number, id: string, reconsumeTimes: number, failPercent: number): boolean {
  if (doomed(seed, id)) return true;
  return hash(`${seed}:${id}:${reconsumeTimes}`) % 100 < failPercent;
}

function doomed(seed: number, id: string): boolean {
  return hash(`${seed}:${id}`) % DOOMED_EVERY === 0;
}

const now = (): number => performance.timeOrigin + performance.now();
const emit = (line: object): void => void process.stdout.write(JSON.stringify(line) + '\n');
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(config: MemberConfig): Promise<void> {
  const consumer = new PushConsumer({
    group: config.group,
    clientId: config.clientId,
    ...(config.namesrv ? { namesrv: [...config.namesrv] } : { servers: [...(config.servers ?? [])] }),
    consumeFrom: 'first',
    maxReconsumeTimes: config.maxReconsumeTimes,
    suspendCurrentQueueTimeMillis: SUSPEND_MS,
    persistConsumerOffsetInterval: OFFSET_PERSIST_MS,
    onRebalance: (queues) => emit({ e: 'rebalance', at: now(), queues: queues.map((q) => queueName(q.brokerName, q.topic, q.queueId)) }),
  });
  consumer.subscribe(config.topic, '*');
  // One call of the handler: every message of it is recorded with the call's interval and result.
  // `mq`: the queue pulled from (a retried message's is the group's retry topic's).
  const handle = async (msgs: ConsumedMessage[], mq: MessageQueue): Promise<boolean> => {
    const queue = queueName(mq.brokerName, mq.topic, mq.queueId);
    const start = now();
    const ids = msgs.map((m) => idOfBody(m.body));
    const fail = msgs.some((m, i) => failsTry(config.seed, ids[i]!, m.reconsumeTimes, config.failPercent));
    await pause(hash(`${start}`) % (HANDLER_MS_MAX + 1));
    const at = now();
    msgs.forEach((m, i) =>
      emit({ e: 'call', start, at, id: ids[i], ...(m.keys ? { key: m.keys } : {}), queue, queueOffset: m.queueOffset, reconsumeTimes: m.reconsumeTimes, result: fail ? 'fail' : 'success' }),
    );
    return !fail;
  };
  if (config.orderly) consumer.registerMessageListenerOrderly(async (msgs, ctx) => ((await handle(msgs, ctx.messageQueue)) ? 'SUCCESS' : 'SUSPEND_CURRENT_QUEUE_A_MOMENT'));
  else consumer.registerMessageListener(async (msgs, ctx) => ((await handle(msgs, ctx.messageQueue)) ? 'CONSUME_SUCCESS' : 'RECONSUME_LATER'));
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void consumer.shutdown().finally(() => {
      emit({ e: 'left', at: now() });
      process.exit(0);
    });
  });
  await consumer.start();
  emit({ e: 'ready', clientId: consumer.clientId });
}

try {
  await main(JSON.parse(process.argv[2] ?? '') as MemberConfig);
} catch (err) {
  process.stderr.write(`consumer-member: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
