// One member of a consumer group in its own process, for the benchmarks and the multi-process
// group test: a PushConsumer on one topic that reports on stdout, one JSON line per event:
//   {"ev":"ready","clientId"}                       started
//   {"ev":"rebalance","t","queues":["broker/q",...]} its queues after a reallocation (t: Date.now())
//   {"ev":"consumed","t","n"}                      every 200 ms: messages consumed so far
//   {"ev":"msg","t","q","o","id","k","r","b"}      with --each: one per message at handler start (queue,
//                                                  offset, msgId, keys, reconsumeTimes, body as UTF-8
//                                                  clipped to 64 characters)
// It runs until SIGTERM (shutdown: commits, unregisters) or SIGKILL.
//   tsx scripts/bench/push-member.ts --servers H:P,H:P --group G --topic T [--orderly] [--each] [--client-id ID]
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
  onRebalance: (queues) => out({ ev: 'rebalance', t: Date.now(), queues: queues.filter((q) => q.topic === flags.topic).map((q) => `${q.brokerName}/${q.queueId}`) }),
});
consumer.subscribe(String(flags.topic), '*');
let consumed = 0;
const seen = (m: { queueId: number; queueOffset: number; msgId: string; keys: string; reconsumeTimes: number; brokerName: string; body: Uint8Array }): void => {
  consumed++;
  if (each) out({ ev: 'msg', t: Date.now(), q: `${m.brokerName}/${m.queueId}`, o: m.queueOffset, id: m.msgId, k: m.keys, r: m.reconsumeTimes, b: Buffer.from(m.body.subarray(0, 64)).toString() });
};
if (flags.orderly === true) {
  consumer.registerMessageListenerOrderly((msgs) => {
    for (const m of msgs) seen(m);
    return 'SUCCESS';
  });
} else {
  consumer.registerMessageListener((msgs) => {
    for (const m of msgs) seen(m);
    return 'CONSUME_SUCCESS';
  });
}
await consumer.start();
out({ ev: 'ready', clientId: consumer.clientId });
const ticker = setInterval(() => out({ ev: 'consumed', t: Date.now(), n: consumed }), 200);
process.on('SIGTERM', () => {
  clearInterval(ticker);
  void consumer.shutdown().finally(() => process.exit(0));
});
