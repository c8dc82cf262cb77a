// Failed messages of a clustering push consumer come back through the group's retry topic
// (delay levels shortened at the broker) under their first topic and msgId with a rising
// reconsumeTimes, and end either consumed or, after maxReconsumeTimes tries, in the group's DLQ.
// Broadcasting drops failures; its offsets live in a local file per member.
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PushConsumer, type ConsumedMessage } from '../../src/client/index.ts';
import { dlqTopicOf } from '../../src/protocol/index.ts';
import { startMaster, until } from './push-harness.ts';

const fast = { persistConsumerOffsetInterval: 100, heartbeatBrokerInterval: 200, rebalanceInterval: 300, pullLongPollMs: 500, consumeFrom: 'first' as const };
const LEVELS_MS = Array<number>(18).fill(30);

t.test('RECONSUME_LATER and throws go to the retry topic; after maxReconsumeTimes tries to the DLQ', async (t) => {
  const m = await startMaster(t, { delayLevelsMs: LEVELS_MS });
  m.createTopic('T', 2);
  const tries = new Map<string, ConsumedMessage[]>();
  const c = new PushConsumer({ servers: [m.addr], group: 'G', clientId: 'r1', ...fast, maxReconsumeTimes: 3 });
  c.subscribe('T');
  c.registerMessageListener(async (msgs) => {
    const msg = msgs[0]!;
    const body = Buffer.from(msg.body).toString();
    tries.set(body, [...(tries.get(body) ?? []), msg]);
    if (body === 'always') return 'RECONSUME_LATER' as const;
    if (body === 'once' && msg.reconsumeTimes === 0) throw new Error('first try fails');
    return 'CONSUME_SUCCESS' as const;
  });
  await c.start();
  m.track(c);
  m.send('T', 0, ['ok', 'once']);
  m.send('T', 1, ['always']);
  await until(t, 'once consumed on its retry', () => tries.get('once')?.length === 2);
  const [first, retried] = tries.get('once')!;
  t.match(retried, { topic: 'T', msgId: first!.msgId, reconsumeTimes: 1, body: first!.body }, 'the retry: first topic and msgId, reconsumeTimes 1');
  const dlq = () => {
    try {
      return m.h.sm.pull(dlqTopicOf('G'), 0, 0, 10, 1 << 20).messages;
    } catch {
      return []; // created by the first dead letter
    }
  };
  await until(t, 'always in the DLQ', () => dlq().length === 1);
  t.equal(Buffer.from(dlq()[0]!.body).toString(), 'always');
  t.strictSame(tries.get('always')!.map((x) => x.reconsumeTimes), [0, 1, 2, 3], 'tried maxReconsumeTimes + 1 times, then dead-lettered');
  t.equal(tries.get('ok')!.length, 1);
  // The broker stores the dead letter before its answer reaches the client's counter.
  await until(t, 'five sendBacks counted', () => c.stats().sentBack >= 5);
  t.ok(c.stats().sentBack >= 5, `sent back ${c.stats().sentBack}`);
});

t.test('broadcasting: every member gets every message, failures are not retried, offsets in a local file', async (t) => {
  const m = await startMaster(t);
  m.createTopic('T', 2);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-push-bc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const got = new Map<string, string[]>();
  const member = (id: string) => {
    const c = new PushConsumer({ servers: [m.addr], group: 'B', clientId: id, ...fast, consumeModel: 'BROADCASTING', offsetStoreDir: dir });
    m.track(c);
    c.subscribe('T');
    c.registerMessageListener((msgs) => {
      for (const msg of msgs) got.set(id, [...(got.get(id) ?? []), Buffer.from(msg.body).toString()]);
      return msgs[0]!.queueOffset === 0 && msgs[0]!.queueId === 0 ? ('RECONSUME_LATER' as const) : ('CONSUME_SUCCESS' as const);
    });
    return c;
  };
  const a = member('a');
  const b = member('b');
  await a.start();
  await b.start();
  m.send('T', 0, ['x0', 'x1']);
  m.send('T', 1, ['y0']);
  await until(t, 'both got all three', () => (got.get('a')?.length ?? 0) === 3 && (got.get('b')?.length ?? 0) === 3);
  t.strictSame(new Set(got.get('a')), new Set(['x0', 'x1', 'y0']));
  t.strictSame(new Set(got.get('b')), new Set(['x0', 'x1', 'y0']));
  t.equal(a.allocatedQueues().length, 2, 'every member takes every queue');
  await a.shutdown();
  t.equal(a.stats().broadcastFailed, 1, 'the failed message was dropped, not retried');
  const file = path.join(dir, 'a', 'B', 'offsets.json');
  t.match(JSON.parse(await readFile(file, 'utf8')), { version: 1, offsets: [{ topic: 'T', queueId: 0, offset: 2 }, { topic: 'T', queueId: 1, offset: 1 }] });
  m.send('T', 0, ['x2']);
  const again = member('a');
  got.delete('a');
  await again.start();
  await until(t, 'the restarted member got only the new message', () => (got.get('a')?.length ?? 0) >= 1);
  await until(t, 'b got it too', () => (got.get('b')?.length ?? 0) === 4);
  await Promise.all([again.shutdown(), b.shutdown()]);
  t.strictSame(got.get('a'), ['x2'], 'resumed at its file offsets');
});
