// raftmq dlq list | resend in-process against a BrokerServer (fake master replica, in-memory
// state): a group's dead letters as a table and as --json, one resent by msgId and all of them
// to their first topic, and the usage errors.
import t, { type Test } from 'tap';
import { BrokerServer, planSendBack } from '../../src/broker/index.ts';
import { COMMANDS } from '../../src/cli/index.ts';
import { Harness, applyingMaster, testServerOptions } from '../broker/harness.ts';
import { captured } from '../helpers/console.ts';

async function serve(t: Test) {
  const h = new Harness();
  const master = applyingMaster(h);
  h.run({ kind: 'createTopic', topic: 'orders', queues: 2 });
  h.run(h.sm.prepareSend('orders', 0, [{ body: Buffer.from('a'), keys: 'k-a', tags: 'TagA' }, { body: Buffer.from('b') }], 1000));
  // Both fail for good: straight to the DLQ (delayLevel -1), as an orderly consumer sends them.
  for (const queueOffset of [0, 1]) {
    const plan = planSendBack(h.sm, { group: 'billing', topic: 'orders', queueId: 0, queueOffset, delayLevel: -1, maxReconsumeTimes: 16 }, 18, 2000 + queueOffset);
    if (h.sm.topicQueueCount(plan.ensureTopic.topic) === undefined) h.run({ kind: 'createTopic', ...plan.ensureTopic });
    h.run(plan.cmd);
  }
  const server = new BrokerServer(testServerOptions(h.sm, master));
  await server.start();
  t.teardown(() => server.close());
  const first = h.sm.pull('orders', 0, 0, 2, 1024).messages;
  return { h, servers: `127.0.0.1:${server.port}`, ids: first.map((m) => m.msgId) };
}

const dlq = async (args: string[]) => captured(async () => (await COMMANDS.dlq!.load()).run(args));

t.test('dlq list shows the dead letters with their first msgId, topic, reconsume times, keys and tags; --json as documented', async (t) => {
  const { servers, ids } = await serve(t);
  const table = await dlq(['list', '-g', 'billing', '--servers', servers]);
  t.equal(table.value, 0);
  t.match(table.out, /#Broker Name\s+#MsgId\s+#Topic\s+#Reconsume Times\s+#Stored\s+#Keys\s+#Tags/);
  t.match(table.out, new RegExp(`-\\s+${ids[0]}\\s+orders\\s+1\\s+1970-01-01T00:00:02\\S*\\s+k-a\\s+TagA`));
  const json = JSON.parse((await dlq(['list', '-g', 'billing', '--servers', servers, '--json'])).out);
  t.match(json, [
    { msgId: ids[0], queueOffset: 0, topic: 'orders', reconsumeTimes: 1, storeTimestamp: 2000, keys: 'k-a', tags: 'TagA' },
    { msgId: ids[1], queueOffset: 1, topic: 'orders', reconsumeTimes: 1, keys: '', tags: '' },
  ]);
  t.not(json[0].offsetMsgId, ids[0], 'the stored copy has its own offsetMsgId');
  t.match((await dlq(['list', '-g', 'nobody', '--servers', servers])).out, /nobody has no dead letter/);
});

t.test('dlq resend sends one dead letter by msgId, or all, to the topic they were first sent to', async (t) => {
  const { h, servers, ids } = await serve(t);
  const before = h.log.entries.length;
  const one = await dlq(['resend', '-g', 'billing', '--servers', servers, '--msg-id', ids[1]!, '--json']);
  t.equal(one.value, 0, one.err);
  t.match(JSON.parse(one.out), { msgId: ids[1], topic: 'orders' });
  const stored = () => [0, 1].flatMap((q) => h.sm.pull('orders', q, 0, 100, 1 << 20).messages).filter((m) => m.logIndex > before);
  t.equal(stored().length, 1, 'stored once more in orders');
  t.match(stored()[0], { msgId: ids[1], reconsumeTimes: 0 }, 'keeps its msgId, reconsume times start again');
  t.equal(stored()[0]!.properties.RETRY_TOPIC, undefined);
  const all = await dlq(['resend', '-g', 'billing', '--servers', servers, '--all']);
  t.equal(all.value, 0, all.err);
  t.match(all.out, new RegExp(`${ids[0]} resent to orders`));
  t.equal(stored().length, 3);
  t.equal(h.sm.queueBounds('%DLQ%billing', 0).maxOffset, 2, 'they stay in the DLQ');
  t.equal((await dlq(['resend', '-g', 'billing', '--servers', servers, '--msg-id', 'nope'])).value, 1);
  await t.rejects(dlq(['resend', '-g', 'billing', '--servers', servers]), /exactly one of --msg-id or --all/);
  await t.rejects(dlq(['purge', '-g', 'billing']), /unknown dlq command/);
});
