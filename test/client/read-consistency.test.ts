// `consistency` on reads: absent from the frame by default (the committed read), 'linearizable'
// when the consumer or the call asks for it, on pulls, offset queries and the admin's offset
// reads alike; anything else is a TypeError before a request leaves.
import t from 'tap';
import { FakeBroker } from './fake-broker.ts';
import { Admin, PullConsumer, type ReadConsistency } from '../../src/client/index.ts';

async function broker(t: { teardown(fn: () => unknown): void }): Promise<FakeBroker> {
  const b = await FakeBroker.start('n0');
  t.teardown(() => b.close());
  b.createTopic('orders', 2);
  return b;
}

const sent = (b: FakeBroker, type: string) => b.requests.filter((r) => r.type === type).map((r) => r.consistency);

t.test('a consumer reads committed by default: no consistency field on the wire', async (t) => {
  const b = await broker(t);
  const consumer = new PullConsumer({ servers: [b.addr], group: 'g' });
  t.teardown(() => consumer.close());
  await consumer.pull('orders', 0, 0);
  await consumer.queryOffset('orders', 0);
  await consumer.pull('orders', 0, 0, { consistency: 'committed' });
  t.same(sent(b, 'pull'), [undefined, undefined]);
  t.same(sent(b, 'queryOffset'), [undefined]);
});

t.test("the consumer's consistency applies to every pull and offset query, the iterator's too; a call may override it", async (t) => {
  const b = await broker(t);
  b.store('orders', 0, [{ body: Buffer.from('a') }]);
  const consumer = new PullConsumer({ servers: [b.addr], group: 'g', consistency: 'linearizable' });
  t.teardown(() => consumer.close());
  await consumer.pull('orders', 0, 0);
  await consumer.pull('orders', 0, 0, { consistency: 'committed' });
  await consumer.queryOffset('orders', 1);
  t.same(sent(b, 'pull'), ['linearizable', undefined]);
  t.same(sent(b, 'queryOffset'), ['linearizable']);
  for await (const _ of consumer.messages('orders', { from: 'first', idleTimeoutMs: 100, waitMs: 20 })) void _;
  t.ok(sent(b, 'queryOffset').length >= 3 && sent(b, 'queryOffset').every((c) => c === 'linearizable'), 'the iterator asks its starts linearizably');
  t.ok(sent(b, 'pull').slice(2).every((c) => c === 'linearizable'), 'and pulls so');
});

t.test("the admin's offset reads take it per call", async (t) => {
  const b = await broker(t);
  const admin = new Admin({ servers: [b.addr] });
  t.teardown(() => admin.close());
  await admin.consumerProgress('g', 'orders');
  t.same([...sent(b, 'pull'), ...sent(b, 'queryOffset')], [undefined, undefined, undefined, undefined]);
  b.requests.length = 0;
  const progress = await admin.consumerProgress('g', 'orders', { consistency: 'linearizable' });
  t.equal(progress.length, 2);
  t.same([...sent(b, 'pull'), ...sent(b, 'queryOffset')], Array(4).fill('linearizable'));
  b.requests.length = 0;
  await admin.resetOffsetByTime('g', 'orders', 0, { consistency: 'linearizable' });
  t.same(sent(b, 'queryOffset'), ['linearizable', 'linearizable']);
});

t.test('a consistency that does not exist is a TypeError, and nothing is sent', async (t) => {
  const b = await broker(t);
  const bad = 'strong' as ReadConsistency;
  t.throws(() => new PullConsumer({ servers: [b.addr], group: 'g', consistency: bad }), { name: 'TypeError', message: /consistency must be 'committed' or 'linearizable', got "strong"/ });
  const consumer = new PullConsumer({ servers: [b.addr], group: 'g' });
  t.teardown(() => consumer.close());
  await t.rejects(consumer.pull('orders', 0, 0, { consistency: bad }), TypeError);
  await t.rejects(consumer.queryOffset('orders', 0, { consistency: bad }), TypeError);
  t.equal(b.requests.length, 0);
});
