// raftmq send: one message, or a load run with --count (ends with one JSON line).
import { Producer } from '../client/index.ts';
import { parseFlagsOrHelp, UsageError, type CommandSpec } from './args.ts';
import { progressShown, startProgress } from './progress.ts';
import { GROUP_TARGET_FLAGS, groupServersOf, targetOf } from './target.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq send (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) --topic T [--key K] (--body TEXT | --count N [--size BYTES] [--inflight K])',
  summary:
    'Sends through the master; a send is acknowledged once a majority of replicas has it on disk.\n' +
    'With --namesrv the queues of every group holding T are used (--broker-name: one group only).\n' +
    'With --body: one message, prints its msgId, queue and offset. With --count: a load run of N\n' +
    'messages of --size bytes with --inflight sends awaiting acks at once; progress on stderr (a bar\n' +
    'with rate and ETA on a terminal, else a line every second), then one JSON line\n' +
    '{"sent","acked","failed","msgsPerSec"}.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'topic', kind: 'string', help: 'topic', required: true },
    { name: 'key', kind: 'string', help: 'message key (same key, same queue: per-key order)' },
    { name: 'tags', kind: 'string', help: 'message tags' },
    { name: 'body', kind: 'string', help: 'message body (UTF-8)' },
    { name: 'count', kind: 'int', help: 'load run: messages to send', min: 1 },
    { name: 'size', kind: 'int', help: 'load run: body bytes', default: 1024, min: 1, max: 4 * 1024 * 1024 },
    { name: 'inflight', kind: 'int', help: 'load run: sends in flight', default: 64, min: 1, max: 65536 },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  if ((flags.body === undefined) === (flags.count === undefined)) throw new UsageError('give exactly one of --body or --count');
  const target = targetOf(flags);
  // The whole cluster through the NameServer, or one group's replicas.
  const producer = new Producer(target.kind === 'namesrv' && target.brokerName === null ? { namesrv: target.namesrv } : { servers: (await groupServersOf(target)).servers });
  const topic = String(flags.topic);
  const keys = flags.key === undefined ? undefined : String(flags.key);
  const tags = flags.tags === undefined ? undefined : String(flags.tags);
  try {
    if (flags.body !== undefined) {
      const r = await producer.send(topic, { body: Buffer.from(String(flags.body)), ...(keys ? { keys } : {}), ...(tags ? { tags } : {}) });
      console.log(JSON.stringify(r));
      return 0;
    }
    return await loadRun(producer, topic, keys, tags, Number(flags.count), Number(flags.size), Number(flags.inflight));
  } finally {
    await producer.close();
  }
}

async function loadRun(producer: Producer, topic: string, keys: string | undefined, tags: string | undefined, count: number, size: number, inflight: number): Promise<number> {
  const body = Buffer.alloc(size, 0x61);
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let firstError = '';
  const t0 = performance.now();
  const bar = startProgress({ total: count, unit: 'msgs' });
  const lines = !progressShown();
  const progress = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    bar.update(acked + failed, failed > 0 ? `(${failed} failed)` : '');
    if (lines) process.stderr.write(`sent ${sent} acked ${acked} failed ${failed} (${Math.round(acked / s)} msgs/s)\n`);
  }, lines ? 1000 : 200);
  const worker = async (): Promise<void> => {
    while (sent < count) {
      sent++;
      try {
        await producer.send(topic, { body, ...(keys ? { keys } : {}), ...(tags ? { tags } : {}) });
        acked++;
      } catch (err) {
        failed++;
        if (!firstError) firstError = (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
  clearInterval(progress);
  bar.update(acked + failed, failed > 0 ? `(${failed} failed)` : '');
  bar.stop();
  const seconds = (performance.now() - t0) / 1000;
  if (firstError) process.stderr.write(`first error: ${firstError}\n`);
  console.log(JSON.stringify({ sent, acked, failed, msgsPerSec: Math.round(acked / seconds) }));
  return failed === 0 ? 0 : 1;
}
