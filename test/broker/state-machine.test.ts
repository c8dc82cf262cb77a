import t from 'tap';
import {
  type ApplyResult,
  BrokerStateMachine,
  DECODED_BATCH_CACHE_COUNT_MAX,
  makeMsgId,
  parseMsgId,
  encodeCommand,
} from '../../src/broker/index.ts';
import { AssertionError } from '../../src/util/index.ts';
import { Harness, brokerErrorCode } from './harness.ts';

function offsets(r: ApplyResult): number[] {
  if (r.type !== 'sendResult') throw new Error(`expected a send result, got ${JSON.stringify(r)}`);
  return r.results.map((x) => x.queueOffset);
}


t.test('sends assign consecutive queue offsets per queue', async (t) => {
  const h = new Harness();
  t.same(offsets(h.send('T', 0, ['a', 'b'])), [0, 1]);
  t.same(offsets(h.send('T', 1, ['c'])), [0]);
  t.same(offsets(h.send('T', 0, ['d', 'e', 'f'])), [2, 3, 4]);
  t.same(offsets(h.send('U', 0, ['g'])), [0]);
  t.same(h.sm.queueBounds('T', 0), { minOffset: 0, maxOffset: 5 });
  t.same(h.sm.queueBounds('T', 1), { minOffset: 0, maxOffset: 1 });
  t.same(h.sm.queueBounds('T', 3), { minOffset: 0, maxOffset: 0 });
  t.equal(h.sm.appliedIndex, 4);
});

t.test('send results carry the log index and unique, parseable msgIds', async (t) => {
  const h = new Harness();
  h.run('raft-noop');
  const r = h.send('T', 2, ['a', 'b', 'c']);
  t.ok(r.type === 'sendResult');
  if (r.type !== 'sendResult') return;
  t.same(r.results.map((x) => [x.queueId, x.logIndex]), [[2, 2], [2, 2], [2, 2]]);
  t.equal(new Set(r.results.map((x) => x.msgId)).size, 3);
  t.equal(r.results[1].msgId, makeMsgId('broker-a', 2, 1));
  t.same(parseMsgId(r.results[1].msgId), { brokerName: 'broker-a', logIndex: 2, slot: 1 });
  t.equal(r.results[0].msgId.length, makeMsgId('broker-a', 2 ** 40, 1023).length, 'fixed width for one broker');
  t.equal(parseMsgId('xyz'), undefined);
});

t.test('a send to an unknown topic creates it with defaultTopicQueueNums queues', async (t) => {
  const h = new Harness({ defaultTopicQueueNums: 3 });
  t.equal(h.sm.topicQueueCount('New'), undefined);
  t.equal(brokerErrorCode(() => h.sm.checkSend('New', 3, [{ body: Buffer.from('x') }])), 'BAD_REQUEST', 'queue beyond the default count');
  t.same(offsets(h.send('New', 2, ['x'])), [0]);
  t.equal(h.sm.topicQueueCount('New'), 3);
  t.same(h.sm.listTopics(), [{ topic: 'New', queues: 3 }]);
});

t.test('with autoCreateTopicEnable off, unknown topics are refused before and on apply', async (t) => {
  const h = new Harness({ autoCreateTopicEnable: false });
  t.equal(brokerErrorCode(() => h.sm.checkSend('New', 0, [{ body: Buffer.from('x') }])), 'TOPIC_NOT_FOUND');
  const r = h.run({ kind: 'sendBatch', topic: 'New', queueId: 0, storeTimestamp: 1, autoCreateQueues: 0, messages: [{ body: Buffer.from('x') }] });
  t.same(r, { type: 'error', code: 'TOPIC_NOT_FOUND', message: 'topic New does not exist' });
  t.equal(h.sm.appliedIndex, 1, 'a rejected entry is still applied');
  t.equal(h.sm.topicQueueCount('New'), undefined);
  t.same(h.run(h.sm.prepareCreateTopic('New', 2)), { type: 'ok' });
  t.same(offsets(h.send('New', 1, ['x'])), [0]);
  t.equal(h.run({ kind: 'sendBatch', topic: 'New', queueId: 5, storeTimestamp: 1, autoCreateQueues: 0, messages: [{ body: Buffer.from('x') }] }).type, 'error', 'queue out of range on apply');
});

t.test('createTopic grows a topic and refuses to shrink it', async (t) => {
  const h = new Harness();
  t.same(h.run({ kind: 'createTopic', topic: 'T', queues: 2 }), { type: 'ok' });
  t.same(h.run({ kind: 'createTopic', topic: 'T', queues: 8 }), { type: 'ok' });
  t.equal(h.sm.topicQueueCount('T'), 8);
  t.equal(brokerErrorCode(() => h.sm.prepareCreateTopic('T', 4)), 'BAD_REQUEST');
  const r = h.run({ kind: 'createTopic', topic: 'T', queues: 4 });
  t.equal(r.type === 'error' && r.code, 'BAD_REQUEST');
  t.equal(h.sm.topicQueueCount('T'), 8);
  t.equal(brokerErrorCode(() => h.sm.prepareCreateTopic('bad name', 4)), 'BAD_REQUEST');
  t.equal(brokerErrorCode(() => h.sm.prepareCreateTopic('T2', 0)), 'BAD_REQUEST');
});

t.test('consumer offsets commit and query per group, topic and queue', async (t) => {
  const h = new Harness();
  h.run({ kind: 'createTopic', topic: 'T', queues: 2 });
  h.send('T', 0, ['0', '1', '2', '3', '4', '5', '6', '7']);
  h.send('T', 1, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  t.equal(h.sm.queryOffset('g', 'T', 0), -1, 'none committed');
  const e = h.sm.prepareCommitOffset('g', 'T', 0, 7);
  const r = h.run({ kind: 'commitOffsets', entries: [e, { group: 'g', topic: 'T', queueId: 1, offset: 3 }, { group: 'h', topic: 'T', queueId: 0, offset: 1 }] });
  t.same(r, { type: 'offsetsCommitted', rejected: [] });
  t.equal(h.sm.queryOffset('g', 'T', 0), 7);
  t.equal(h.sm.queryOffset('g', 'T', 1), 3);
  t.equal(h.sm.queryOffset('h', 'T', 0), 1);
  h.run({ kind: 'commitOffsets', entries: [{ group: 'g', topic: 'T', queueId: 0, offset: 2 }] });
  t.equal(h.sm.queryOffset('g', 'T', 0), 2, 'the last commit wins, even backwards (reset)');
  t.equal(brokerErrorCode(() => h.sm.prepareCommitOffset('g', 'Nope', 0, 1)), 'TOPIC_NOT_FOUND');
  t.equal(brokerErrorCode(() => h.sm.prepareCommitOffset('g', 'T', 2, 1)), 'BAD_REQUEST');
  t.equal(brokerErrorCode(() => h.sm.prepareCommitOffset('g', 'T', 0, -1)), 'BAD_REQUEST');
  const mixed = h.run({ kind: 'commitOffsets', entries: [{ group: 'g', topic: 'Nope', queueId: 0, offset: 1 }, { group: 'g', topic: 'T', queueId: 1, offset: 9 }, { group: 'g', topic: 'T', queueId: 9, offset: 1 }] });
  t.same(mixed, { type: 'offsetsCommitted', rejected: [0, 2] }, 'bad entries of a batch are rejected alone');
  t.equal(h.sm.queryOffset('g', 'T', 1), 9);
});

t.test('a commit offset is in 0..maxOffset of its queue: refused past it before proposing and on apply', async (t) => {
  const h = new Harness();
  h.run({ kind: 'createTopic', topic: 'T', queues: 2 });
  h.send('T', 0, ['a', 'b', 'c']);
  t.equal(h.sm.prepareCommitOffset('g', 'T', 0, 3).offset, 3, 'maxOffset itself (everything read) is allowed');
  t.equal(h.sm.prepareCommitOffset('g', 'T', 1, 0).offset, 0, 'an empty queue takes 0');
  for (const [queueId, offset, max] of [[0, 4, 3], [0, 1e15, 3], [1, 1, 0]]) {
    t.throws(() => h.sm.prepareCommitOffset('g', 'T', queueId, offset), { code: 'BAD_REQUEST', message: new RegExp(`^offset ${offset} is past the end of T/${queueId}, whose max offset .* is ${max}; commit offsets are in 0\\.\\.${max}$`) }, `T/${queueId} at ${offset}`);
  }
  // Apply decides alone (an entry proposed without the check): the same refusal on every replica.
  const r = h.run({ kind: 'commitOffsets', entries: [{ group: 'g', topic: 'T', queueId: 0, offset: 1e15 }, { group: 'g', topic: 'T', queueId: 0, offset: 2 }, { group: 'g', topic: 'T', queueId: 1, offset: 1 }] });
  t.same(r, { type: 'offsetsCommitted', rejected: [0, 2] });
  t.equal(h.sm.queryOffset('g', 'T', 0), 2);
  t.equal(h.sm.queryOffset('g', 'T', 1), -1);
  h.send('T', 1, ['x']);
  t.same(h.run({ kind: 'commitOffsets', entries: [{ group: 'g', topic: 'T', queueId: 1, offset: 1 }] }), { type: 'offsetsCommitted', rejected: [] }, 'allowed once the queue has grown');
});

t.test('searchOffset finds the first message stored at or after a time (maxOffset when all are older)', async (t) => {
  const h = new Harness();
  h.run({ kind: 'createTopic', topic: 'T', queues: 2 });
  h.send('T', 0, ['a0', 'a1'], 100); // offsets 0, 1
  h.send('T', 1, ['other'], 150);
  h.send('T', 0, ['b0'], 200); // 2
  h.send('T', 0, ['c0', 'c1', 'c2'], 200); // 3..5: same millisecond as b0
  h.send('T', 0, ['d0'], 300); // 6
  const at = (ts: number) => h.sm.searchOffset('T', 0, ts);
  t.same([0, 99, 100, 101, 199, 200, 201, 300, 301, 1e15].map(at), [0, 0, 0, 2, 2, 2, 6, 6, 7, 7]);
  t.equal(h.sm.searchOffset('T', 1, 151), 1);
  h.run({ kind: 'createTopic', topic: 'T', queues: 3 });
  t.equal(h.sm.searchOffset('T', 2, 5), 0, 'an empty queue: 0');
  t.throws(() => h.sm.searchOffset('Nope', 0, 1), { code: 'TOPIC_NOT_FOUND' });
  t.throws(() => h.sm.searchOffset('T', 3, 1), { code: 'BAD_REQUEST' });
  t.throws(() => h.sm.searchOffset('T', 0, -1), { code: 'BAD_REQUEST', message: /timestamp must be a non-negative integer/ });
  t.throws(() => h.sm.searchOffset('T', 0, 1.5), { code: 'BAD_REQUEST' });
  // Every answer agrees with a linear scan of the queue's timestamps.
  const stamps = h.sm.pull('T', 0, 0, 32, 1 << 20).messages.map((m) => m.storeTimestamp);
  for (let ts = 0; ts <= 310; ts++) {
    const want = stamps.findIndex((s) => s >= ts);
    if (at(ts) !== (want < 0 ? stamps.length : want)) t.fail(`at ${ts}: ${at(ts)}, a scan says ${want}`);
  }
});

t.test('searchOffset reads batch heads from the log; an entry it cannot serve is INTERNAL', async (t) => {
  const h = new Harness();
  for (let i = 0; i < 100; i++) h.send('T', 0, ['x'], 1000 + i); // more batches than the decoded-batch cache keeps
  const reads = h.log.reads;
  t.equal(h.sm.searchOffset('T', 0, 1010), 10);
  t.ok(h.log.reads - reads <= 8, `a binary search: ${h.log.reads - reads} log reads for 100 batches`);
  h.log.entries[10 - 1] = { ...h.log.entries[10 - 1]!, data: undefined as unknown as Uint8Array }; // the log lost entry 10 (offset 9)
  t.throws(() => h.sm.searchOffset('T', 0, 1009), { code: 'INTERNAL', message: /cannot serve entry 10/ });
});

t.test('pull reads by offset within count and byte limits', async (t) => {
  const h = new Harness();
  h.send('T', 0, ['a0', 'a1', 'a2'], 111);
  h.send('T', 1, ['other']);
  h.run({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 222, autoCreateQueues: 4, messages: [{ body: Buffer.from('b0'), keys: 'k', tags: 'tg', properties: { p: 'v' } }] });
  const all = h.sm.pull('T', 0, 0, 32, 1 << 20);
  t.same(all.messages.map((m) => Buffer.from(m.body).toString()), ['a0', 'a1', 'a2', 'b0']);
  t.same(all.messages.map((m) => m.queueOffset), [0, 1, 2, 3]);
  t.same([all.nextOffset, all.minOffset, all.maxOffset], [4, 0, 4]);
  const last = all.messages[3];
  t.same(
    { topic: last.topic, queueId: last.queueId, logIndex: last.logIndex, storeTimestamp: last.storeTimestamp, keys: last.keys, tags: last.tags, properties: last.properties, reconsumeTimes: last.reconsumeTimes },
    { topic: 'T', queueId: 0, logIndex: 3, storeTimestamp: 222, keys: 'k', tags: 'tg', properties: { p: 'v' }, reconsumeTimes: 0 },
  );
  t.equal(all.messages[0].keys, '');
  t.equal(all.messages[0].storeTimestamp, 111);
  t.equal(all.messages[1].msgId, makeMsgId('broker-a', 1, 1));

  const two = h.sm.pull('T', 0, 1, 2, 1 << 20);
  t.same(two.messages.map((m) => m.queueOffset), [1, 2]);
  t.equal(two.nextOffset, 3);
  const byBytes = h.sm.pull('T', 0, 0, 32, 5);
  t.same(byBytes.messages.map((m) => m.queueOffset), [0, 1], 'stops before exceeding maxBytes');
  const oneAnyway = h.sm.pull('T', 0, 0, 32, 1);
  t.equal(oneAnyway.messages.length, 1, 'at least one message even above maxBytes');
  const atEnd = h.sm.pull('T', 0, 4, 32, 1 << 20);
  t.same([atEnd.messages.length, atEnd.nextOffset, atEnd.maxOffset], [0, 4, 4]);
  const past = h.sm.pull('T', 0, 99, 32, 1 << 20);
  t.same([past.messages.length, past.nextOffset], [0, 4], 'an offset past the end is pointed back to maxOffset');
  const empty = h.sm.pull('T', 3, 0, 32, 1 << 20);
  t.same([empty.messages.length, empty.nextOffset, empty.maxOffset], [0, 0, 0]);
  t.equal(brokerErrorCode(() => h.sm.pull('Nope', 0, 0, 1, 1)), 'TOPIC_NOT_FOUND');
  t.equal(brokerErrorCode(() => h.sm.pull('T', 4, 0, 1, 1)), 'BAD_REQUEST');
  t.equal(brokerErrorCode(() => h.sm.pull('T', 0, 0, 0, 1)), 'BAD_REQUEST');
  t.equal(brokerErrorCode(() => h.sm.pull('T', 0, -1, 1, 1)), 'BAD_REQUEST');
});

t.test('entries in the log but not yet applied are invisible to pulls', async (t) => {
  const h = new Harness();
  h.send('T', 0, ['applied']);
  h.log.append(h.sm.prepareSend('T', 0, [{ body: Buffer.from('in log, not committed') }], 1));
  const r = h.sm.pull('T', 0, 1, 32, 1 << 20);
  t.same([r.messages.length, r.maxOffset], [0, 1]);
  t.equal(h.sm.pull('T', 0, 0, 32, 1 << 20).messages.length, 1);
  h.sm.apply(h.log.entries[1]);
  t.equal(h.sm.pull('T', 0, 1, 32, 1 << 20).messages.length, 1, 'visible once applied');
});

t.test('a pull of many messages of one batch decodes the batch once', async (t) => {
  const h = new Harness();
  h.send('T', 0, Array.from({ length: 40 }, (_, i) => `m${i}`));
  for (let i = 0; i < DECODED_BATCH_CACHE_COUNT_MAX + 5; i++) h.send('T', 1, ['filler']);
  t.ok(h.sm.decodedBatchCacheSize <= DECODED_BATCH_CACHE_COUNT_MAX, 'the cache is bounded');
  h.log.reads = 0;
  const r = h.sm.pull('T', 0, 0, 32, 1 << 20);
  t.equal(r.messages.length, 32);
  t.equal(h.log.reads, 1, 'one log read for 32 messages');
  h.sm.pull('T', 0, 32, 32, 1 << 20);
  t.equal(h.log.reads, 1, 'the next pull hits the cache');
});

t.test('a pull stops where the log cannot serve an entry', async (t) => {
  const h = new Harness();
  h.send('T', 0, ['a']);
  for (let i = 0; i < DECODED_BATCH_CACHE_COUNT_MAX; i++) h.send('T', 1, ['filler']);
  h.send('T', 0, ['b']);
  (h.log.entries as unknown[])[0] = { index: 1, term: 1, type: 0, data: undefined };
  const r = h.sm.pull('T', 0, 0, 32, 1 << 20);
  t.same([r.messages.length, r.nextOffset], [0, 0]);
});

t.test('onApplied tells listeners which queue grew', async (t) => {
  const h = new Harness();
  const seen: string[] = [];
  const off = h.sm.onApplied((e) => seen.push(`${e.topic}/${e.queueId}<${e.maxOffset}@${e.logIndex}`));
  h.send('T', 0, ['a', 'b']);
  h.run({ kind: 'createTopic', topic: 'U', queues: 1 });
  h.send('T', 1, ['c']);
  off();
  h.send('T', 1, ['d']);
  t.same(seen, ['T/0<2@1', 'T/1<1@3']);
});

t.test('apply takes each entry once and in order; anything else is a programmer error', async (t) => {
  const h = new Harness();
  const e1 = h.log.append('raft-noop');
  t.same(h.sm.apply(e1), { type: 'noop' });
  t.throws(() => h.sm.apply(e1), AssertionError, 'replay of an applied entry');
  t.throws(() => h.sm.apply({ index: 3, term: 1, type: 0, data: encodeCommand({ kind: 'noop' }) }), AssertionError, 'a gap');
  t.throws(() => h.sm.apply({ index: 2, term: 1, type: 0, data: Uint8Array.of(1, 2, 3) }), AssertionError, 'garbage');
  t.throws(() => h.sm.apply({ index: 2, term: 1, type: 7, data: new Uint8Array(0) }), AssertionError, 'unknown type');
  t.throws(() => h.sm.apply({ index: 2, term: 0, type: 1, data: new Uint8Array(0) }), AssertionError, 'term going back');
  t.same(h.sm.apply({ index: 2, term: 2, type: 0, data: encodeCommand({ kind: 'noop' }) }), { type: 'noop' });
  t.same([h.sm.appliedIndex, h.sm.appliedTerm], [2, 2]);
});

t.test('options are checked', async (t) => {
  t.throws(() => new BrokerStateMachine({ brokerName: '', readEntry: () => undefined }), TypeError);
  t.throws(() => new BrokerStateMachine({ brokerName: 'b', readEntry: () => undefined, defaultTopicQueueNums: 0 }), TypeError);
});
