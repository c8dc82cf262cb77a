// One member of a consumer group in its own process, for the benchmarks and the multi-process
// group test: a PushConsumer on one topic that reports on stdout, one JSON line per event:
//   {"ev":"ready","clientId"}                       started
//   {"ev":"rebalance","t","queues":["broker/q",...]} its queues after a reallocation (t: Date.now())
//   {"ev":"consumed","t","n"}                      every 200 ms: messages consumed so far
//   {"ev":"msg","t","q","o","id","k","r","b","f"}  with --each: one per message at handler start (queue,
//                                                  offset, msgId, keys, reconsumeTimes, body as UTF-8
//                                                  clipped to 64 characters, f: 1 when this try fails)
// --fail-percent P fails P% of the tries (decided by a hash of the body and the try, so a rerun
// fails the same ones) and --fail-key K every try of messages with key K (RECONSUME_LATER).
// It runs until SIGTERM (shutdown: commits, unregisters) or SIGKILL.
//   tsx scripts/bench/push-member.ts --servers H:P,H:P --group G --topic T [--orderly] [--each] [--client-id ID]
import { createHash } from 'node:crypto';
import { PushConsumer } from '../../src/client/index.ts';
import { parseFlagsOrHelp, type CommandSpec } from '../../src/cli/index.ts';

const SPEC: CommandSpec = {
  usage: 'tsx scripts/bench/push-member.ts --servers H:P[,H:P] --group G --topic T [--orderly] [--each] [--client-id ID] [--from first|last]',
  summary: 'One push-consumer member reporting its rebalances and consumption as JSON lines on stdout.',
  flags: [
    { name: 'servers', kind: 'string', help: "one broker group's client addresses", required: true },
    { name: 'group', kind: 'string', help: 'consumer group', required: true },
    { name: 'topic', kind: 'string', help: 'topic', required: true },
    { name: 'orderly', kind: 'bool', help: 'an orderly listener (queue locks)' },
    { name: 'each', kind: 'bool', help: 'one line per handler call' },
    { name: 'client-id', kind: 'string', help: 'the member id' },
    { name: 'from', kind: 'string', help: 'where a queue without a committed offset starts', default: 'first', choices: ['first', 'last'] },
    { name: 'fail-percent', kind: 'int', help: 'tries that fail (RECONSUME_LATER), percent', default: 0, min: 0, max: 100 },
    { name: 'fail-key', kind: 'string', help: 'messages with this key fail every try' },
    { name: 'max-reconsume', kind: 'int', help: 'maxReconsumeTimes', min: -1, max: 1000 },
  ],
};

const flags = parseFlagsOrHelp(SPEC, process.argv.slice(2));
if (flags === null) process.exit(0);
const each = flags.each === true;
const out = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

const consumer = new PushConsumer({
  group: String(flags.group),
  servers: String(flags.servers).split(','),
  consumeFrom: flags.from === 'last' ? 'last' : 'first',
  ...(flags['client-id'] !== undefined ? { clientId: String(flags['client-id']) } : {}),
  ...(flags['max-reconsume'] !== undefined ? { maxReconsumeTimes: Number(flags['max-reconsume']) } : {}),
  onRebalance: (queues) => out({ ev: 'rebalance', t: Date.now(), queues: queues.filter((q) => q.topic === flags.topic).map((q) => `${q.brokerName}/${q.queueId}`) }),
});
consumer.subscribe(String(flags.topic), '*');
let consumed = 0;
const failPercent = Number(flags['fail-percent']);
const failKey = flags['fail-key'] === undefined ? null : String(flags['fail-key']);
type Seen = { queueId: number; queueOffset: number; msgId: string; keys: string; reconsumeTimes: number; brokerName: string; body: Uint8Array };
/** Whether this try of `m` fails: always for --fail-key, else by a hash of the body and the try. */
const fails = (m: Seen): boolean => {
  if (failKey !== null && m.keys === failKey) return true;
  if (failPercent === 0) return false;
  const h = createHash('sha1').update(m.body).update(String(m.reconsumeTimes)).digest();
  return h.readUInt16BE(0) % 100 < failPercent;
};
/** Reports one try; true when it fails. */
const seen = (m: Seen): boolean => {
  consumed++;
  const failed = fails(m);
  if (each) out({ ev: 'msg', t: Date.now(), q: `${m.brokerName}/${m.queueId}`, o: m.queueOffset, id: m.msgId, k: m.keys, r: m.reconsumeTimes, b: Buffer.from(m.body.subarray(0, 64)).toString(), ...(failed ? { f: 1 } : {}) });
  return failed;
};
if (flags.orderly === true) {
  consumer.registerMessageListenerOrderly((msgs) => (msgs.map(seen).some((f) => f) ? 'SUSPEND_CURRENT_QUEUE_A_MOMENT' : 'SUCCESS'));
} else {
  consumer.registerMessageListener((msgs) => (msgs.map(seen).some((f) => f) ? 'RECONSUME_LATER' : 'CONSUME_SUCCESS'));
}
await consumer.start();
out({ ev: 'ready', clientId: consumer.clientId });
const ticker = setInterval(() => out({ ev: 'consumed', t: Date.now(), n: consumed }), 200);
process.on('SIGTERM', () => {
  clearInterval(ticker);
  void consumer.shutdown().finally(() => process.exit(0));
});
