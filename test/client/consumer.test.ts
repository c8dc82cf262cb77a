import t from 'tap';
import type { Test } from 'tap';
import { FakeBroker, fakeMasterAndSlave } from './fake-broker.ts';
import { Admin, PullConsumer, type StoredMessage } from '../../src/client/index.ts';

const text = (m: StoredMessage) => Buffer.from(m.body).toString();

async function cluster(t: Test): Promise<{ master: FakeBroker; slave: FakeBroker }> {
  const { master, slave } = await fakeMasterAndSlave(t);
  for (const b of [master, slave]) b.createTopic('orders', 2);
  return { master, slave };
}

/** Stores the same messages on both fakes (as replication would). */
function storeBoth(brokers: FakeBroker[], queueId: number, bodies: string[]): void {
  for (const b of brokers) b.store('orders', queueId, bodies.map((s) => ({ body: Buffer.from(s) })));
}

t.test('pull reads from a slave when asked; commitOffset goes to the master through NOT_MASTER', async (t) => {
  const { master, slave } = await cluster(t);
  storeBoth([master, slave], 0, ['a', 'b', 'c']);
  const consumer = new PullConsumer({ servers: [slave.addr], group: 'g', readFrom: 'slave' });
  t.teardown(() => consumer.close());
  const r = await consumer.pull('orders', 0, 1, { maxCount: 10 });
  t.same(r.messages.map(text), ['b', 'c']);
  t.equal(r.nextOffset, 3);
  t.equal(slave.count('pull'), 1);
  t.equal(master.count('pull'), 0);
  await consumer.commitOffset('orders', 0, 3);
  t.equal(master.offsets.get('g/orders/0'), 3);
  t.equal(await consumer.queryOffset('orders', 0), 3);
  t.equal(await consumer.queryOffset('orders', 1), -1, 'none committed');
});

t.test('the iterator long-polls every queue and commits what was processed', async (t) => {
  const { master } = await cluster(t);
  storeBoth([master], 0, ['q0-0', 'q0-1']);
  const consumer = new PullConsumer({ servers: [master.addr], group: 'g' });
  t.teardown(() => consumer.close());
  const got: string[] = [];
  setTimeout(() => storeBoth([master], 1, ['q1-0']), 100); // arrives during a long poll
  for await (const m of consumer.messages('orders', { from: 'first', waitMs: 5000, commitIntervalMs: 50 })) {
    got.push(text(m));
    if (got.length === 3) break;
  }
  t.same(got.sort(), ['q0-0', 'q0-1', 'q1-0']);
  t.ok(
    master.requests.some((r) => r.type === 'pull' && r.waitMs > 0 && r.queueId === 1),
    'queue 1 was long-polled',
  );
  t.equal(master.offsets.get('g/orders/0'), 2, 'queue 0 committed past both messages');
  t.equal(
    master.offsets.get('g/orders/1'),
    0,
    'the message in hand at break is not committed (at-least-once: it is redelivered); the group\'s start is',
  );
});

t.test('the iterator resumes at the committed offset, whatever from says, and ends after idleTimeoutMs', async (t) => {
  const { master } = await cluster(t);
  storeBoth([master], 0, ['a', 'b', 'c', 'd']);
  master.offsets.set('g/orders/0', 2);
  const consumer = new PullConsumer({ servers: [master.addr], group: 'g' });
  t.teardown(() => consumer.close());
  const got: string[] = [];
  const started = Date.now();
  for await (const m of consumer.messages('orders', { from: 'first', idleTimeoutMs: 150, waitMs: 50 })) {
    got.push(text(m));
  }
  t.same(got, ['c', 'd']);
  t.ok(Date.now() - started < 5000, 'the idle timeout ends it (a liveness guard)');
  t.equal(master.offsets.get('g/orders/0'), 4, 'committed at the end');
});

t.test('from last (the default): a queue without a committed offset starts at the end, and that start is committed', async (t) => {
  const { master } = await cluster(t);
  storeBoth([master], 0, ['old']);
  storeBoth([master], 1, ['old-1', 'old-2']);
  const consumer = new PullConsumer({ servers: [master.addr], group: 'g' });
  t.teardown(() => consumer.close());
  setTimeout(() => storeBoth([master], 0, ['new']), 100);
  const got: string[] = [];
  for await (const m of consumer.messages('orders', { idleTimeoutMs: 400, waitMs: 1000 })) got.push(text(m));
  t.same(got, ['new']);
  t.equal(master.offsets.get('g/orders/1'), 2, 'queue 1 gave nothing, but the group now starts it at its end of then');
  storeBoth([master], 1, ['later']);
  got.length = 0;
  for await (const m of consumer.messages('orders', { from: 'last', idleTimeoutMs: 200, waitMs: 50 })) got.push(text(m));
  t.same(got, ['later'], 'the next iterator of the group resumes there: nothing stored in between is skipped');
});

t.test('from first: a queue without a committed offset starts at its oldest message', async (t) => {
  const { master } = await cluster(t);
  storeBoth([master], 0, ['a', 'b']);
  storeBoth([master], 1, ['c', 'd', 'e']);
  master.offsets.set('g/orders/1', 2);
  const consumer = new PullConsumer({ servers: [master.addr], group: 'g' });
  t.teardown(() => consumer.close());
  const got: string[] = [];
  for await (const m of consumer.messages('orders', { from: 'first', idleTimeoutMs: 150, waitMs: 50 })) got.push(text(m));
  t.same(got, ['a', 'b', 'e'], 'queue 1 resumes at its committed offset');
  t.same([master.offsets.get('g/orders/0'), master.offsets.get('g/orders/1')], [2, 3]);
});

t.test('from a timestamp: a queue without a committed offset starts at the first message stored at or after it', async (t) => {
  const { master } = await cluster(t);
  master.store('orders', 0, [{ body: Buffer.from('at-100') }], 100);
  master.store('orders', 0, [{ body: Buffer.from('at-200') }, { body: Buffer.from('at-200b') }], 200);
  master.store('orders', 0, [{ body: Buffer.from('at-300') }], 300);
  master.store('orders', 1, [{ body: Buffer.from('q1-at-150') }], 150);
  const consumer = new PullConsumer({ servers: [master.addr], group: 'g' });
  t.teardown(() => consumer.close());
  const got: string[] = [];
  for await (const m of consumer.messages('orders', { from: { timestamp: 200 }, idleTimeoutMs: 150, waitMs: 50 })) got.push(text(m));
  t.same(got, ['at-200', 'at-200b', 'at-300']);
  t.equal(master.count('searchOffset'), 2, 'one search per queue');
  t.equal(master.offsets.get('g/orders/1'), 1, 'queue 1 (all older) starts at its end, committed');
});

t.test('fromBeginning replays every queue from offset 0 whatever the group committed, commits nothing, and shows the same messages each time', async (t) => {
  const { master } = await cluster(t);
  storeBoth([master], 0, ['a', 'b', 'c']);
  storeBoth([master], 1, ['d']);
  master.offsets.set('g/orders/0', 2);
  const consumer = new PullConsumer({ servers: [master.addr], group: 'g' });
  t.teardown(() => consumer.close());
  const replay = async (count: number) => {
    const got: string[] = [];
    for await (const m of consumer.messages('orders', { fromBeginning: true, idleTimeoutMs: 150, waitMs: 50, commitIntervalMs: 10 })) {
      got.push(text(m));
      if (got.length === count) break;
    }
    return got;
  };
  t.same(await replay(4), ['a', 'b', 'c', 'd']);
  t.same(await replay(4), ['a', 'b', 'c', 'd'], 'the second run shows the same messages');
  t.same(await replay(2), ['a', 'b']);
  t.same(await replay(2), ['a', 'b']);
  t.equal(master.count('commitOffset'), 0, 'nothing committed');
  t.same([master.offsets.get('g/orders/0'), master.offsets.get('g/orders/1')], [2, undefined], "the group's offsets are as they were");
  await t.rejects(consumer.messages('orders', { fromBeginning: true, from: 'first' }).next(), { name: 'TypeError', message: /exclude each other/ });
  await t.rejects(consumer.messages('orders', { from: 'newest' as never }).next(), { name: 'TypeError', message: /from must be/ });
  await t.rejects(consumer.messages('orders', { from: { timestamp: -1 } }).next(), { name: 'TypeError' });
});

t.test('the first pull of each queue is handed over in queue order, however the answers arrive', async (t) => {
  const { master } = await cluster(t);
  storeBoth([master], 0, ['q0-a', 'q0-b']);
  storeBoth([master], 1, ['q1-a']);
  let held = false;
  master.hook = (frame, conn, b) => {
    if (frame.type !== 'pull' || frame.queueId !== 0 || held) return false;
    held = true; // queue 0's first answer arrives after queue 1's
    setTimeout(() => {
      const queue = b.topics.get('orders')![0]!;
      conn.send({ id: frame.id, type: 'pullResult', messages: queue.slice(frame.offset, frame.offset + frame.maxCount), nextOffset: queue.length, minOffset: 0, maxOffset: queue.length });
    }, 100);
    return true;
  };
  const consumer = new PullConsumer({ servers: [master.addr], group: 'g' });
  t.teardown(() => consumer.close());
  const got: string[] = [];
  for await (const m of consumer.messages('orders', { fromBeginning: true, idleTimeoutMs: 300, waitMs: 50 })) got.push(text(m));
  t.ok(held);
  t.same(got, ['q0-a', 'q0-b', 'q1-a']);
});

t.test('periodic commits happen while iterating; close() commits and ends the iteration', async (t) => {
  const { master } = await cluster(t);
  storeBoth([master], 0, ['a', 'b']);
  const consumer = new PullConsumer({ servers: [master.addr], group: 'g' });
  const seen: string[] = [];
  const loop = (async () => {
    for await (const m of consumer.messages('orders', { from: 'first', commitIntervalMs: 30, waitMs: 2000 })) {
      seen.push(text(m));
    }
  })();
  while (master.offsets.get('g/orders/0') !== 2) await new Promise((r) => setTimeout(r, 10));
  t.pass('offset 2 committed by the periodic commit');
  await consumer.close();
  await loop;
  t.same(seen, ['a', 'b']);
});

t.test('admin: statusAll reports unreachable nodes, createTopic and route go to the master', async (t) => {
  const { master, slave } = await cluster(t);
  const dead = await FakeBroker.start('n2');
  const deadAddr = dead.addr;
  await dead.close();
  const admin = new Admin({ servers: [slave.addr] });
  t.teardown(() => admin.close());
  const all = await admin.statusAll([master.addr, slave.addr, deadAddr]);
  t.match(all, [
    { addr: master.addr, status: { role: 'MASTER' }, error: null },
    { addr: slave.addr, status: { role: 'SLAVE' }, error: null },
    { addr: deadAddr, status: null, error: { code: 'CONNECTION_LOST' } },
  ]);
  await admin.createTopic('fresh', 3);
  t.equal(master.topics.get('fresh')?.length, 3);
  t.equal(slave.count('createTopic'), 0, 'discovery found the master via the slave');
  t.match(await admin.route('orders'), { type: 'route', queues: 2 });
  await admin.transferLeader('n1');
  t.equal(master.count('transferLeader'), 1);
});

t.test('admin: resetOffsetByTime sets every queue to the first message at or after a time; consumerProgress shows offsets and lag', async (t) => {
  const { master, slave } = await cluster(t);
  master.store('orders', 0, [{ body: Buffer.from('a') }, { body: Buffer.from('b') }], 100);
  master.store('orders', 0, [{ body: Buffer.from('c') }], 300);
  master.store('orders', 1, [{ body: Buffer.from('d') }], 200);
  master.offsets.set('g/orders/0', 3);
  const admin = new Admin({ servers: [slave.addr] });
  t.teardown(() => admin.close());
  t.same(await admin.consumerProgress('g', 'orders'), [
    { queueId: 0, minOffset: 0, maxOffset: 3, offset: 3, lag: 0 },
    { queueId: 1, minOffset: 0, maxOffset: 1, offset: -1, lag: null },
  ]);
  t.same(await admin.resetOffsetByTime('g', 'orders', 150), [
    { queueId: 0, previous: 3, offset: 2 },
    { queueId: 1, previous: -1, offset: 0 },
  ]);
  t.same([master.offsets.get('g/orders/0'), master.offsets.get('g/orders/1')], [2, 0]);
  t.same((await admin.consumerProgress('g', 'orders')).map((p) => p.lag), [1, 1]);
  t.same(await admin.resetOffsetByTime('g', 'orders', 1000), [
    { queueId: 0, previous: 2, offset: 3 },
    { queueId: 1, previous: 0, offset: 1 },
  ], 'a time after every message: the end of each queue');
  t.equal(slave.count('commitOffset'), 0, 'offsets are read and written on the master');
  await t.rejects(admin.resetOffsetByTime('g', 'orders', -1), TypeError);
  await t.rejects(admin.resetOffsetByTime('g', 'nope', 0), { code: 'TOPIC_NOT_FOUND' });
  await t.rejects(admin.consumerProgress('g', 'nope'), { code: 'TOPIC_NOT_FOUND' });
});
