// Push consumers routed by a NameServer over two broker groups (in-process masters): the
// queues of both groups divided among the members, messages from both with their brokerName,
// heartbeats to both masters, offsets committed to each group's master.
import t from 'tap';
import { PushConsumer } from '../../src/client/index.ts';
import { NamesrvServer } from '../../src/namesrv/index.ts';
import { Connection } from '../../src/net/index.ts';
import { PERM_READ_WRITE } from '../../src/protocol/index.ts';
import { startMaster, until } from './push-harness.ts';

t.test('two members over two broker groups: 4 queues divided, every message consumed, offsets at each master', async (t) => {
  const ns = await NamesrvServer.start({ host: '127.0.0.1', port: 0 });
  const conn = new Connection({ host: '127.0.0.1', port: ns.port });
  const members: PushConsumer[] = [];
  t.teardown(async () => {
    await conn.close();
    await ns.close();
  });
  const a = await startMaster(t, { brokerName: 'broker-a' });
  const b = await startMaster(t, { brokerName: 'broker-b' });
  for (const [name, m] of [['broker-a', a], ['broker-b', b]] as const) {
    m.createTopic('T', 2);
    await conn.request({
      type: 'registerBroker',
      broker: { clusterName: 'DefaultCluster', brokerName: name, nodeId: 'n1', brokerAddr: m.addr, brokerId: 0, role: 'MASTER', term: 3, topics: [{ topic: 'T', readQueueNums: 2, writeQueueNums: 2, perm: PERM_READ_WRITE }] },
    });
  }
  const seen = new Map<string, string>();
  for (const id of ['m1', 'm2']) {
    const c = new PushConsumer({ namesrv: [`127.0.0.1:${ns.port}`], group: 'G', clientId: id, consumeFrom: 'first', heartbeatBrokerInterval: 200, pullLongPollMs: 500, persistConsumerOffsetInterval: 100 });
    a.track(c); // shut down before the masters close (a's teardown runs first)
    c.subscribe('T');
    c.registerMessageListener((msgs) => {
      for (const m of msgs) seen.set(Buffer.from(m.body).toString(), m.brokerName);
      return 'CONSUME_SUCCESS';
    });
    await c.start();
    members.push(c);
  }
  const [m1, m2] = members as [PushConsumer, PushConsumer];
  await until(t, 'two queues each', () => m1.allocatedQueues().length === 2 && m2.allocatedQueues().length === 2);
  t.strictSame(m1.allocatedQueues(), [
    { topic: 'T', brokerName: 'broker-a', queueId: 0 },
    { topic: 'T', brokerName: 'broker-a', queueId: 1 },
  ]);
  t.strictSame(m2.allocatedQueues().map((q) => q.brokerName), ['broker-b', 'broker-b']);
  for (const [name, m] of [['a', a], ['b', b]] as const) for (let q = 0; q < 2; q++) m.send('T', q, [`${name}${q}-0`, `${name}${q}-1`]);
  await until(t, 'all 8 consumed', () => seen.size === 8);
  t.equal(seen.get('b1-0'), 'broker-b', 'the message names its broker group');
  await until(t, 'offsets committed at both masters', () => [a, b].every((m) => m.h.sm.queryOffset('G', 'T', 0) === 2 && m.h.sm.queryOffset('G', 'T', 1) === 2));
  t.strictSame([...b.server.groups.registry.view('G').clientIds], ['m1', 'm2'], 'both members heartbeat to broker-b too');
  await Promise.all(members.map((c) => c.shutdown()));
  t.strictSame([...a.server.groups.registry.view('G').clientIds], [], 'shutdown unregistered them');
});
