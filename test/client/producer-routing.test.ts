// The producer over a cluster of broker groups: routes from a real in-process NameServer,
// stand-in brokers (fake-broker.ts) as the groups' replicas. Round robin over every group's
// queues, keyed sends pinned to their queue, unkeyed sends moving away from a group that did not
// store them, idempotent retries on the same queue, a master change pushed by the NameServer, and
// sends going on from cached routes while the NameServer is down.
import t from 'tap';
import type { Test } from 'tap';
import { Producer, keyHash } from '../../src/client/index.ts';
import { NamesrvServer } from '../../src/namesrv/index.ts';
import { Connection } from '../../src/net/index.ts';
import { PERM_READ_WRITE, type BrokerRegistration } from '../../src/protocol/index.ts';
import { FakeBroker, type AnyFrame } from './fake-broker.ts';

/** Liveness guard for what should take milliseconds. */
const PROMPT_MS = 5000;
const body = (s: string) => Buffer.from(s);

interface World {
  ns: NamesrvServer;
  register(reg: Partial<BrokerRegistration> & Pick<BrokerRegistration, 'brokerName' | 'nodeId' | 'brokerAddr'>): Promise<void>;
  brokers: Record<string, FakeBroker>;
}

async function world(t: Test, groups: Record<string, string[]>, queues = 2): Promise<World> {
  const ns = await NamesrvServer.start({ host: '127.0.0.1', port: 0 });
  const conn = new Connection({ host: '127.0.0.1', port: ns.port });
  const brokers: Record<string, FakeBroker> = {};
  t.teardown(async () => {
    await conn.close();
    await ns.close();
    await Promise.all(Object.values(brokers).map((b) => b.close()));
  });
  const register: World['register'] = async (reg) => {
    await conn.request({
      type: 'registerBroker',
      broker: {
        clusterName: 'DefaultCluster',
        brokerId: 0,
        role: 'MASTER',
        term: 1,
        topics: [{ topic: 'T', readQueueNums: queues, writeQueueNums: queues, perm: PERM_READ_WRITE }],
        ...reg,
      },
    });
  };
  for (const [group, nodes] of Object.entries(groups)) {
    for (const [i, nodeId] of nodes.entries()) {
      const b = await FakeBroker.start(nodeId);
      b.createTopic('T', queues);
      brokers[nodeId] = b;
      if (i === 0) await register({ brokerName: group, nodeId, brokerAddr: b.addr });
      else {
        b.role = 'SLAVE';
        await register({ brokerName: group, nodeId, brokerAddr: b.addr, role: 'SLAVE', brokerId: i });
      }
    }
  }
  return { ns, register, brokers };
}

const sends = (b: FakeBroker): AnyFrame[] => b.requests.filter((r) => r.type === 'send');
const stored = (b: FakeBroker): number => (b.topics.get('T') ?? []).reduce((n, q) => n + q.length, 0);

t.test('unkeyed sends go round robin over every queue of every group', async (t) => {
  const w = await world(t, { 'broker-a': ['a1'], 'broker-b': ['b1'] });
  const announced: string[] = [];
  const producer = new Producer({ namesrv: [w.ns.addr], onGroupClient: (name) => void announced.push(name) });
  t.teardown(() => producer.close());
  const seen: string[] = [];
  for (let i = 0; i < 8; i++) {
    await producer.send('T', { body: body(`m${i}`) });
  }
  for (const [name, b] of Object.entries(w.brokers)) for (const [q, msgs] of b.topics.get('T')!.entries()) seen.push(`${name}/${q}:${msgs.length}`);
  t.same(seen.sort(), ['a1/0:2', 'a1/1:2', 'b1/0:2', 'b1/1:2'], 'two messages on each of the four queues');
  t.same(announced.sort(), ['broker-a', 'broker-b'], 'each group client is announced once');
  const queues = await producer.queuesOf('T');
  t.same(queues.map((q) => `${q.brokerName}/${q.queueId}`), ['broker-a/0', 'broker-a/1', 'broker-b/0', 'broker-b/1']);
});

t.test('a keyed send always goes to the same queue, and waits for its group instead of moving', async (t) => {
  const w = await world(t, { 'broker-a': ['a1'], 'broker-b': ['b1'] });
  const producer = new Producer({ namesrv: [w.ns.addr], sendTimeoutMs: 10_000 });
  t.teardown(() => producer.close());
  // A key whose queue is broker-a's queue 1 (index 1 of the four).
  let key = 'k';
  for (let i = 0; keyHash(key) % 4 !== 1; i++) key = `k${i}`;
  for (let i = 0; i < 5; i++) await producer.send('T', { body: body(`x${i}`), keys: key });
  t.equal(w.brokers.a1!.topics.get('T')![1]!.length, 5, 'all five on broker-a queue 1');
  t.equal(stored(w.brokers.b1!), 0);

  // broker-a has no master for a while (an election): the keyed send waits instead of moving.
  w.brokers.a1!.role = 'SLAVE';
  setTimeout(() => (w.brokers.a1!.role = 'MASTER'), 400);
  const r = await producer.send('T', { body: body('late'), keys: key });
  t.match(r, { queueId: 1 });
  t.equal(w.brokers.a1!.topics.get('T')![1]!.length, 6, 'stored on its own queue once broker-a took writes again');
  t.equal(stored(w.brokers.b1!), 0, 'never moved to broker-b');
});

t.test('an unkeyed send that a group certainly did not store moves to another group: no failed send', async (t) => {
  const w = await world(t, { 'broker-a': ['a1'], 'broker-b': ['b1'] });
  const producer = new Producer({ namesrv: [w.ns.addr] });
  t.teardown(() => producer.close());
  w.brokers.a1!.hook = (f, conn) => {
    if (f.type !== 'send') return false;
    conn.send({ id: f.id, type: 'error', code: 'NOT_MASTER', message: 'no master now' });
    return true;
  };
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send('T', { body: body(`u${i}`) })));
  t.equal(results.length, 20, 'every send succeeded');
  t.equal(stored(w.brokers.b1!), 20, 'all stored by broker-b');
  t.equal(stored(w.brokers.a1!), 0);
});

t.test('idempotent: a try with an unknown outcome is retried on the same queue with the same producer id and seq', async (t) => {
  const w = await world(t, { 'broker-a': ['a1'], 'broker-b': ['b1'] });
  const producer = new Producer({ namesrv: [w.ns.addr], sendTimeoutMs: 3000, requestTimeoutMs: 300 });
  t.teardown(() => producer.close());
  let swallowed = 0;
  for (const b of [w.brokers.a1!, w.brokers.b1!]) {
    b.hook = (f) => f.type === 'send' && swallowed++ === 0; // the very first send is never answered
  }
  const r = await producer.send('T', { body: body('once') });
  const all = [...sends(w.brokers.a1!), ...sends(w.brokers.b1!)];
  t.equal(all.length, 2, 'one try lost, one retry');
  t.equal(all[0]!.producerId, producer.producerId, 'the request names the producer');
  t.equal(all[1]!.producerId, all[0]!.producerId);
  t.equal(all[1]!.seq, all[0]!.seq, 'the retry repeats the sequence number');
  t.equal(all[1]!.queueId, all[0]!.queueId, 'on the same queue');
  t.ok(sends(w.brokers.a1!).length === 2 || sends(w.brokers.b1!).length === 2, 'of the same group');
  t.equal(r.queueId, all[0]!.queueId);
  // The next message to that queue gets the next number.
  const again = await producer.send('T', { body: body('next') }, { queueId: all[0]!.queueId + (sends(w.brokers.a1!).length === 2 ? 0 : 2) });
  const last = [...sends(w.brokers.a1!), ...sends(w.brokers.b1!)].at(-1)!;
  t.equal(last.seq, all[0]!.seq + 1, 'sequence numbers go on from there');
  t.equal(again.queueId, all[0]!.queueId);
});

t.test('a send in flight to a master that stopped answering goes to the new master the moment the NameServer tells of it', async (t) => {
  const w = await world(t, { 'broker-a': ['a1', 'a2'] });
  const producer = new Producer({ namesrv: [w.ns.addr], sendTimeoutMs: 60_000, retryTimesWhenSendFailed: 0 });
  t.teardown(() => producer.close());
  await producer.send('T', { body: body('warm') });
  w.brokers.a1!.hook = (f) => f.type === 'send'; // stopped: sends are never answered
  const started = Date.now();
  const pending = producer.send('T', { body: body('moved') });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(sends(w.brokers.a1!).length, 2, 'the try reached the old master');
  // The election: a2 becomes master in term 2 and registers at once.
  w.brokers.a2!.role = 'MASTER';
  await w.register({ brokerName: 'broker-a', nodeId: 'a2', brokerAddr: w.brokers.a2!.addr, term: 2 });
  const r = await pending;
  const elapsed = Date.now() - started;
  t.ok(elapsed < PROMPT_MS, `answered after ${elapsed} ms, not after the try's 60 s timeout`);
  t.equal(sends(w.brokers.a2!).length, 1);
  t.equal(sends(w.brokers.a2!)[0]!.seq, sends(w.brokers.a1!)[1]!.seq, 'the same batch, the same sequence number');
  t.equal(r.queueOffset, 0, 'stored by the new master');
});

t.test('sends go on from cached routes while every NameServer is down', async (t) => {
  const w = await world(t, { 'broker-a': ['a1'], 'broker-b': ['b1'] });
  const producer = new Producer({ namesrv: [w.ns.addr], requestTimeoutMs: 500 });
  t.teardown(() => producer.close());
  await producer.send('T', { body: body('first') });
  await w.ns.close();
  // A refusal marks the route for a refresh, which fails: the cached route is kept.
  let refusals = 1;
  w.brokers.a1!.hook = (f, conn) => {
    if (f.type !== 'send' || refusals-- <= 0) return false;
    conn.send({ id: f.id, type: 'error', code: 'NOT_MASTER', message: 'electing' });
    return true;
  };
  for (let i = 0; i < 10; i++) await producer.send('T', { body: body(`c${i}`) });
  t.equal(stored(w.brokers.a1!) + stored(w.brokers.b1!), 11, 'every send stored');
});

t.test('callback and oneway sends', async (t) => {
  const w = await world(t, { 'broker-a': ['a1'] });
  const producer = new Producer({ namesrv: [w.ns.addr] });
  t.teardown(() => producer.close());
  const result = await new Promise<unknown>((resolve, reject) => producer.send('T', { body: body('cb') }, (err, r) => (err ? reject(err) : resolve(r))));
  t.match(result, { queueOffset: 0 });
  const failed = await new Promise<Error | null>((resolve) => producer.send('nope', { body: body('cb') }, (err) => resolve(err)));
  t.match(failed, { code: 'TOPIC_NOT_FOUND' }, 'a callback gets the error');
  producer.sendOneway('T', { body: body('fire') });
  for (let i = 0; i < 100 && stored(w.brokers.a1!) < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(stored(w.brokers.a1!), 2, 'the oneway message arrived');
  t.throws(() => producer.sendOneway('T', { body: 'not bytes' as never }), TypeError);
});

t.test('servers and namesrv exclude each other; one of them (or NAMESRV_ADDR) is needed', async (t) => {
  t.throws(() => new Producer({ servers: ['127.0.0.1:1'], namesrv: ['127.0.0.1:2'] }), /not both/);
  const saved = process.env.NAMESRV_ADDR;
  delete process.env.NAMESRV_ADDR;
  t.teardown(() => {
    if (saved !== undefined) process.env.NAMESRV_ADDR = saved;
  });
  t.throws(() => new Producer({}), /NAMESRV_ADDR/);
  t.throws(() => new Producer({ namesrv: ['127.0.0.1:1'], producerId: 'bad id!' }), /producerId/);
});
