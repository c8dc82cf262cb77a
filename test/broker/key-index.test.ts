// The key index and the message lookups: derived state built on apply, bounded, rebuilt from the
// log, and lookups that find only what is stored.
import t from 'tap';
import { BrokerStateMachine, KeyIndex, makeMsgId, messageKeyHash as keyHash, type BrokerCommand } from '../../src/broker/index.ts';
import { Harness, brokerErrorCode, type FakeLog } from './harness.ts';

const send = (topic: string, queueId: number, messages: { keys?: string; body: string }[], autoCreateQueues = 4): BrokerCommand => ({
  kind: 'sendBatch',
  topic,
  queueId,
  storeTimestamp: 1000,
  autoCreateQueues,
  messages: messages.map((m) => ({ body: Buffer.from(m.body), ...(m.keys !== undefined ? { keys: m.keys } : {}) })),
});

const bodies = (ms: readonly { body: Uint8Array }[]): string[] => ms.map((m) => Buffer.from(m.body).toString());

/** The log's entries as the commitlog's read gives them. */
const reader = (log: FakeLog) => (from: number, maxBytes: number) => {
  const out = [];
  let bytes = 0;
  for (let i = from; i <= log.entries.length; i++) {
    const e = log.entries[i - 1]!;
    if (out.length > 0 && bytes + e.data.byteLength > maxBytes) break;
    out.push(e);
    bytes += e.data.byteLength;
  }
  return out;
};

t.test('the ring keeps the newest entries, finds them newest first, and drops below a log index', async (t) => {
  const index = new KeyIndex(4);
  const h = keyHash('T', 'k');
  for (let i = 1; i <= 6; i++) index.add(h, i, 0);
  t.equal(index.size, 4);
  t.same(index.candidates('T', 'k', 10).map((c) => c.logIndex), [6, 5, 4, 3], 'the two oldest were overwritten');
  t.same(index.candidates('T', 'k', 2).map((c) => c.logIndex), [6, 5]);
  t.same(index.candidates('U', 'k', 10), [], 'another topic, another hash');
  index.dropBefore(5);
  t.same(index.candidates('T', 'k', 10).map((c) => c.logIndex), [6, 5]);
  t.equal(index.size, 2);
});

t.test('apply files every key of a message (keys separated by spaces) and lookups check topic and key', async (t) => {
  const h = new Harness({ keyIndexCapacity: 100 });
  h.run(send('T', 0, [{ keys: 'order-1 vip', body: 'a' }, { body: 'no key' }, { keys: 'order-2', body: 'b' }]));
  h.run(send('U', 1, [{ keys: 'order-1', body: 'other topic' }]));
  h.run(send('T', 1, [{ keys: 'vip', body: 'c' }]));
  t.same(bodies(h.sm.messagesByKey('T', 'vip', 10)), ['c', 'a'], 'newest first');
  t.same(bodies(h.sm.messagesByKey('T', 'order-1', 10)), ['a']);
  t.same(bodies(h.sm.messagesByKey('U', 'order-1', 10)), ['other topic']);
  t.same(bodies(h.sm.messagesByKey('T', 'vip', 1)), ['c'], 'at most max');
  t.same(h.sm.messagesByKey('T', 'order', 10), [], 'a key is matched whole');
  const [m] = h.sm.messagesByKey('T', 'order-2', 10);
  t.match(m, { topic: 'T', queueId: 0, queueOffset: 2, logIndex: 1, msgId: makeMsgId('broker-a', 1, 2), keys: 'order-2' });
  t.equal(h.sm.keyIndexEntries, 5);
});

t.test('a msgId finds its message; one that names no stored message finds nothing and trips nothing', async (t) => {
  const h = new Harness({ keyIndexCapacity: 100, autoCreateTopicEnable: false });
  h.run('raft-noop');
  h.run({ kind: 'createTopic', topic: 'T', queues: 2 });
  h.run(send('T', 1, [{ body: 'x' }, { body: 'y' }]));
  h.run(send('Nope', 0, [{ keys: 'k', body: 'refused on apply' }], 0));
  t.equal(Buffer.from(h.sm.messageById(makeMsgId('broker-a', 3, 1))!.body).toString(), 'y');
  t.equal(h.sm.messageById(makeMsgId('broker-a', 3, 2)), undefined, 'a slot past the batch');
  t.equal(h.sm.messageById(makeMsgId('broker-a', 1, 0)), undefined, 'the raft no-op');
  t.equal(h.sm.messageById(makeMsgId('broker-a', 2, 0)), undefined, 'a createTopic entry');
  t.equal(h.sm.messageById(makeMsgId('broker-a', 4, 0)), undefined, 'a batch refused on apply');
  t.equal(h.sm.messageById(makeMsgId('broker-a', 99, 0)), undefined, 'not applied (yet)');
  t.same(h.sm.messagesByKey('Nope', 'k', 10), [], 'nor by key');
  t.equal(brokerErrorCode(() => h.sm.messageById(makeMsgId('broker-b', 3, 1))), 'BAD_REQUEST', 'another broker group');
  t.equal(brokerErrorCode(() => h.sm.messageById('zz')), 'BAD_REQUEST');
});

t.test('with the index off, lookups by key are refused and by id still work', async (t) => {
  const h = new Harness();
  h.run(send('T', 0, [{ keys: 'k', body: 'x' }]));
  t.equal(brokerErrorCode(() => h.sm.messagesByKey('T', 'k', 1)), 'BAD_REQUEST');
  t.equal(h.sm.keyIndexEntries, -1);
  t.ok(h.sm.messageById(makeMsgId('broker-a', 1, 0)));
});

t.test('a restart rebuilds the index from the log up to the checkpoint; apply adds the rest', async (t) => {
  const h = new Harness({ keyIndexCapacity: 1000 });
  for (let i = 0; i < 20; i++) h.run(send('T', i % 4, [{ keys: `k${i} all`, body: `m${i}` }, { body: 'keyless' }]));
  const restarted = new BrokerStateMachine(h.log.options({ keyIndexCapacity: 1000 }));
  restarted.restore(h.sm.snapshot());
  const done = restarted.rebuildKeyIndex(reader(h.log), 1, 1 << 30)!;
  t.same(done, { fromIndex: 1, entriesRead: 20, bytesRead: done.bytesRead, keys: 40 });
  t.same(bodies(restarted.messagesByKey('T', 'k7', 10)), ['m7']);
  t.same(bodies(restarted.messagesByKey('T', 'all', 3)), ['m19', 'm18', 'm17'], 'in the order apply filed them');
  restarted.apply(h.log.append(send('T', 0, [{ keys: 'all', body: 'after' }])));
  t.same(bodies(restarted.messagesByKey('T', 'all', 2)), ['after', 'm19']);
});

t.test('the rebuild reads newest first and stops once the index is full or its byte budget is spent', async (t) => {
  const h = new Harness({ keyIndexCapacity: 10_000 });
  for (let i = 0; i < 10_000; i++) h.log.append(send('T', 0, [{ keys: `k${i}`, body: 'x' }]));
  const small = new BrokerStateMachine(h.log.options({ keyIndexCapacity: 100 }));
  for (const e of h.log.entries) small.apply(e);
  const fresh = new BrokerStateMachine(h.log.options({ keyIndexCapacity: 100 }));
  fresh.restore(small.snapshot());
  const full = fresh.rebuildKeyIndex(reader(h.log), 1, 1 << 30)!;
  t.ok(full.entriesRead < 10_000 && full.fromIndex > 1, `read ${full.entriesRead} entries from ${full.fromIndex}: only the newest steps`);
  t.equal(fresh.keyIndexEntries, 100);
  t.same(bodies(fresh.messagesByKey('T', 'k9999', 1)), ['x']);
  t.same(fresh.messagesByKey('T', 'k0', 1), [], 'the oldest are not held');
  const budget = new BrokerStateMachine(h.log.options({ keyIndexCapacity: 100_000 }));
  budget.restore(small.snapshot());
  const cut = budget.rebuildKeyIndex(reader(h.log), 1, 1000)!;
  t.ok(cut.bytesRead < 200_000 && cut.fromIndex > 1, `stopped after ${cut.bytesRead} bytes`);
});

t.test('the rebuild runs in steps while apply goes on: lookups say OVERLOADED until it is done, then find old and new in order', async (t) => {
  const h = new Harness({ keyIndexCapacity: 100_000 });
  for (let i = 0; i < 10_000; i++) h.run(send('T', 0, [{ keys: i % 1000 === 0 ? 'old all' : `k${i}`, body: `m${i}` }]));
  const restarted = new BrokerStateMachine(h.log.options({ keyIndexCapacity: 100_000 }));
  restarted.restore(h.sm.snapshot());
  let reads = 0;
  const read = reader(h.log);
  const rebuild = restarted.startKeyIndexRebuild((from, max) => (reads++, read(from, max)), 1, 1 << 30)!;
  t.ok(restarted.keyIndexRebuilding);
  rebuild.step();
  t.ok(!rebuild.done && reads > 0, 'a step reads part of the log');
  // Apply goes on: newer entries are filed at once.
  restarted.apply(h.log.append(send('T', 0, [{ keys: 'new all', body: 'after-1' }])));
  rebuild.step();
  restarted.apply(h.log.append(send('T', 0, [{ keys: 'new all', body: 'after-2' }])));
  t.same(bodies(restarted.messagesByKey('T', 'new', 2)), ['after-2', 'after-1'], 'a lookup that the new entries answer in full is answered');
  t.equal(brokerErrorCode(() => restarted.messagesByKey('T', 'all', 5)), 'OVERLOADED', 'one that older entries may answer is not (no incomplete answer)');
  t.equal(brokerErrorCode(() => restarted.messagesByKey('T', 'old', 1)), 'OVERLOADED');
  while (!rebuild.done) rebuild.step();
  const done = restarted.finishKeyIndexRebuild()!;
  t.equal(done.entriesRead, 10_000);
  t.notOk(restarted.keyIndexRebuilding);
  t.same(bodies(restarted.messagesByKey('T', 'all', 4)), ['after-2', 'after-1', 'm9000', 'm8000'], 'old and new keys, newest first');
  t.same(bodies(restarted.messagesByKey('T', 'k1', 1)), ['m1']);
  t.equal(restarted.keyIndexEntries, 9_990 + 10 * 2 + 2 * 2, 'one entry per key: 9,990 with one, 10 old and 2 new with two');
});

t.test('each step of the rebuild reads about its own entries, not a whole read buffer past them', async (t) => {
  const h = new Harness({ keyIndexCapacity: 100_000 });
  for (let i = 0; i < 50_000; i++) h.run(send('T', 0, [{ keys: `k${i}`, body: 'x' }]));
  const restarted = new BrokerStateMachine(h.log.options({ keyIndexCapacity: 100_000 }));
  restarted.restore(h.sm.snapshot());
  let delivered = 0;
  const read = reader(h.log);
  const done = restarted.rebuildKeyIndex((from, max) => {
    const got = read(from, max);
    delivered += got.length;
    return got;
  }, 1, 1 << 30)!;
  t.equal(done.entriesRead, 50_000);
  t.ok(delivered <= 50_000 * 1.1, `the reads returned ${delivered} records for 50000 entries`);
});
