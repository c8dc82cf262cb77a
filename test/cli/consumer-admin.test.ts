// raftmq consumerConnection and consumerProgress in-process against a BrokerServer (fake master
// replica, in-memory state): what they print, as tables and as --json, and the rows they build.
import t, { type Test } from 'tap';
import { BrokerServer } from '../../src/broker/index.ts';
import { COMMANDS, connectionRowsOf, consumerProgressLines, progressRowsOf } from '../../src/cli/index.ts';
import type { BrokerInfo } from '../../src/client/index.ts';
import { Connection } from '../../src/net/index.ts';
import { Harness, applyingMaster, testServerOptions } from '../broker/harness.ts';
import { captured } from '../helpers/console.ts';

async function serve(t: Test) {
  const h = new Harness();
  h.run({ kind: 'createTopic', topic: 'orders', queues: 2 });
  h.send('orders', 0, ['a', 'b', 'c']);
  h.send('orders', 1, ['d']);
  h.run({ kind: 'commitOffsets', entries: [h.sm.prepareCommitOffset('billing', 'orders', 0, 1), h.sm.prepareCommitOffset('other', 'orders', 1, 1)] });
  const server = new BrokerServer(testServerOptions(h.sm, applyingMaster(h), { clientAddrOf: () => '127.0.0.1:1' }));
  await server.start();
  const member = new Connection({ host: '127.0.0.1', port: server.port, reconnect: 'lazy' });
  t.teardown(async () => {
    await member.close();
    await server.close();
  });
  await member.request({ type: 'heartbeat', group: 'billing', clientId: '10.0.0.7@pid1', consumeModel: 'CLUSTERING', subscriptions: [{ topic: 'orders', expression: 'TagA || TagB' }] } as never);
  return { servers: `127.0.0.1:${server.port}` };
}

t.test('consumerConnection lists the live members with model and subscriptions; --json as documented', async (t) => {
  const { servers } = await serve(t);
  const run = async (args: string[]) => captured(async () => (await COMMANDS.consumerConnection!.load()).run(args));
  const table = await run(['-g', 'billing', '--servers', servers]);
  t.equal(table.value, 0);
  t.match(table.out, /#ClientId\s+#ClientAddr\s+#Model\s+#Subscriptions/);
  t.match(table.out, /10\.0\.0\.7@pid1\s+127\.0\.0\.1:\d+\s+CLUSTERING\s+orders\(TagA \|\| TagB\)/);
  const json = await run(['-g', 'billing', '--servers', servers, '--json']);
  t.match(JSON.parse(json.out), [{ clientId: '10.0.0.7@pid1', consumeModel: 'CLUSTERING', subscriptions: [{ topic: 'orders', expression: 'TagA || TagB' }], brokerNames: ['-'] }]);
  t.match((await run(['-g', 'nobody', '--servers', servers])).out, /no live member of nobody/);
});

t.test("consumerProgress shows the group's queues with broker offset, consumer offset and diff, and the total", async (t) => {
  const { servers } = await serve(t);
  const run = async (args: string[]) => captured(async () => (await COMMANDS.consumerProgress!.load()).run(args));
  const table = await run(['-g', 'billing', '--servers', servers]);
  t.equal(table.value, 0);
  t.match(table.out, /orders\s+broker-a\s+0\s+3\s+1\s+2/);
  t.match(table.out, /Diff Total: 2/);
  t.notMatch(table.out, /orders\s+broker-a\s+1\s/, "the other group's queue is not listed");
  const json = JSON.parse((await run(['-g', 'billing', '--servers', servers, '--json'])).out);
  t.same(json, { queues: [{ topic: 'orders', brokerName: 'broker-a', queueId: 0, brokerOffset: 3, consumerOffset: 1, diff: 2 }], diffTotal: 2 });
});

t.test('rows merge members over broker groups and order progress by topic, group, queue', async (t) => {
  const conn = (clientId: string) => ({ clientId, clientAddr: 'x:1', consumeModel: 'CLUSTERING' as const, subscriptions: [], lastHeartbeatAgoMs: 0 });
  t.match(connectionRowsOf([{ brokerName: 'broker-a', connections: [conn('b'), conn('a')] }, { brokerName: 'broker-b', connections: [conn('a')] }]), [
    { clientId: 'a', brokerNames: ['broker-a', 'broker-b'] },
    { clientId: 'b', brokerNames: ['broker-a'] },
  ]);
  const info = {
    status: { brokerName: 'broker-b' },
    topics: [{ topic: 't', queues: [{ queueId: 0, minOffset: 0, maxOffset: 10, lastUpdateTimestamp: 0 }, { queueId: 1, minOffset: 0, maxOffset: 4, lastUpdateTimestamp: 0 }] }],
    consumerOffsets: [
      { group: 'g', topic: 't', queueId: 1, offset: 4, lag: 0 },
      { group: 'g', topic: 't', queueId: 0, offset: 7, lag: 3 },
      { group: 'h', topic: 't', queueId: 0, offset: 0, lag: 10 },
    ],
  } as unknown as BrokerInfo;
  const rows = progressRowsOf('g', info);
  t.same(rows.map((r) => [r.queueId, r.brokerOffset, r.consumerOffset, r.diff]), [[0, 10, 7, 3], [1, 4, 4, 0]]);
  t.match(consumerProgressLines(rows).at(-1), 'Diff Total: 3');
});
