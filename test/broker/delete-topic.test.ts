// deleteTopic: the topic, its queues and its consumer offsets go on every replica; its messages
// stay in the log but nothing serves them; a topic created again starts at offset 0; checkpoints,
// restarts, snapshots, retention and the key index cope with the deleted topic. And the queues'
// last update time in queueList (brokerInfo).
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Level } from 'level';
import { BrokerStateMachine, CHECKPOINT_CHUNK_ENTRY_COUNT, decodeSnapshot, type MarkSnapshot } from '../../src/broker/index.ts';
import { brokerErrorCode, FakeLog, Harness } from './harness.ts';

const body = (s: string): Uint8Array => Buffer.from(s);

/** Topic T (2 queues) with messages, keys and an offset commit; topic U beside it. */
function filled(log: FakeLog): void {
  log.append({ kind: 'createTopic', topic: 'T', queues: 2 });
  log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 100, autoCreateQueues: 0, messages: [{ body: body('t0'), keys: 'k' }, { body: body('t1') }] });
  log.append({ kind: 'sendBatch', topic: 'T', queueId: 1, storeTimestamp: 101, autoCreateQueues: 0, messages: [{ body: body('t2') }] });
  log.append({ kind: 'sendBatch', topic: 'U', queueId: 0, storeTimestamp: 102, autoCreateQueues: 1, messages: [{ body: body('u0'), keys: 'k' }] });
  log.append({ kind: 'commitOffsets', entries: [{ group: 'g', topic: 'T', queueId: 0, offset: 1 }, { group: 'g', topic: 'U', queueId: 0, offset: 1 }] });
}

function applyAll(sm: BrokerStateMachine, log: FakeLog, from = 0): void {
  for (const e of log.entries.slice(from)) sm.apply(e);
}

t.test('a deleted topic is gone with its queues and offsets; its messages are found by no read', async (t) => {
  const log = new FakeLog();
  filled(log);
  const sm = new BrokerStateMachine(log.options({ keyIndexCapacity: 100 }));
  applyAll(sm, log);
  const msgId = sm.pull('T', 0, 0, 1, 1 << 20).messages[0]!.msgId;
  t.equal(sm.messagesByKey('T', 'k', 5).length, 1);
  t.same(sm.apply(log.append(sm.prepareDeleteTopic('T'))), { type: 'ok' });
  t.same(sm.listTopics(), [{ topic: 'U', queues: 1 }]);
  t.equal(brokerErrorCode(() => sm.pull('T', 0, 0, 10, 1 << 20)), 'TOPIC_NOT_FOUND');
  t.equal(sm.queryOffset('g', 'T', 0), -1, 'its offsets are gone');
  t.equal(sm.queryOffset('g', 'U', 0), 1, 'other topics keep theirs');
  t.equal(sm.messageById(msgId), undefined, 'its msgIds find nothing');
  t.same(sm.messagesByKey('T', 'k', 5), [], 'nor its keys');
  t.equal(sm.messagesByKey('U', 'k', 5).length, 1);
  t.equal(brokerErrorCode(() => sm.prepareDeleteTopic('T')), 'TOPIC_NOT_FOUND', 'refused before proposing');
  t.same(sm.apply(log.append({ kind: 'deleteTopic', topic: 'T' })), { type: 'error', code: 'TOPIC_NOT_FOUND', message: 'topic T does not exist' }, 'and on apply');
  t.equal(brokerErrorCode(() => sm.prepareDeleteTopic('bad name')), 'BAD_REQUEST');
});

t.test('a topic created again starts at offset 0 and serves only its new messages', async (t) => {
  const log = new FakeLog();
  filled(log);
  log.append({ kind: 'deleteTopic', topic: 'T' });
  log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 200, autoCreateQueues: 4, messages: [{ body: body('new'), keys: 'k' }] });
  const h = new BrokerStateMachine(log.options({ keyIndexCapacity: 100 }));
  applyAll(h, log);
  t.equal(h.topicQueueCount('T'), 4, 'auto-created again with the default queue count');
  t.same(h.queueBounds('T', 0), { minOffset: 0, maxOffset: 1 });
  t.same(h.pull('T', 0, 0, 10, 1 << 20).messages.map((m) => [m.queueOffset, Buffer.from(m.body).toString()]), [[0, 'new']]);
  t.same(h.messagesByKey('T', 'k', 5).map((m) => Buffer.from(m.body).toString()), ['new'], 'the key index serves the new message only');
  t.equal(h.queryOffset('g', 'T', 0), -1);
});

t.test('checkpoints delete the topic\'s records (cold chunks included), and a restart or a snapshot restore gives the same state', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-delete-topic-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const C = CHECKPOINT_CHUNK_ENTRY_COUNT;
  const log = new FakeLog();
  filled(log);
  for (let i = 0; i < (3 * C) / 1024; i++) log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 300 + i, autoCreateQueues: 0, messages: Array.from({ length: 1024 }, () => ({ body: body('x') })) });
  let sm = await BrokerStateMachine.open(dir, log.options());
  applyAll(sm, log);
  await sm.checkpoint();
  t.ok(sm.hotRunCount < (3 * C) / 1024, 'T/0\'s first chunks went cold');
  const deleteAt = log.entries.length;
  log.append({ kind: 'deleteTopic', topic: 'T' });
  applyAll(sm, log, deleteAt);
  await sm.checkpoint();
  await sm.close();
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  const keys = await db.keys().all();
  await db.close();
  t.same(keys.filter((k) => /^(t:T$|q:T:|o:[^:]+:T:)/.test(k)), [], 'no record of T is left');
  t.ok(keys.includes('t:U') && keys.includes('o:g:U:0'), 'U\'s records stay');

  // Deleted and created again between two checkpoints: the old chunks are deleted before the new
  // ones are written under the same keys.
  sm = await BrokerStateMachine.open(dir, log.options());
  log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 400, autoCreateQueues: 2, messages: [{ body: body('again') }] });
  applyAll(sm, log, sm.appliedIndex);
  await sm.checkpoint();
  log.append({ kind: 'deleteTopic', topic: 'T' });
  log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 401, autoCreateQueues: 2, messages: [{ body: body('third') }, { body: body('time') }] });
  applyAll(sm, log, sm.appliedIndex);
  await sm.close();
  sm = await BrokerStateMachine.open(dir, log.options());
  const ref = new BrokerStateMachine(log.options());
  applyAll(ref, log);
  t.same(Buffer.from(sm.serializeState()), Buffer.from(ref.serializeState()), 'the reopened machine is the one that never stopped');
  t.same(sm.pull('T', 0, 0, 10, 1 << 20).messages.map((m) => Buffer.from(m.body).toString()), ['third', 'time']);
  await sm.close();

  const restored = new BrokerStateMachine(log.options());
  restored.restore(decodeSnapshot(Buffer.from(ref.serializeState())));
  t.same(Buffer.from(restored.serializeState()), Buffer.from(ref.serializeState()), 'a snapshot after the deletion restores the same state');
});

t.test('retention cuts around a deleted topic, and a mark snapshot taken after the deletion restores it', async (t) => {
  const log = new FakeLog();
  filled(log);
  const mark1 = log.append({ kind: 'retain', cutAt: 0, atMs: 1 }).index;
  log.append({ kind: 'deleteTopic', topic: 'T' });
  log.append({ kind: 'sendBatch', topic: 'U', queueId: 0, storeTimestamp: 500, autoCreateQueues: 1, messages: [{ body: body('u1') }] });
  const mark2 = log.append({ kind: 'retain', cutAt: mark1, atMs: 2 }).index;
  log.append({ kind: 'sendBatch', topic: 'T', queueId: 1, storeTimestamp: 600, autoCreateQueues: 2, messages: [{ body: body('t-new') }] });
  const marks: MarkSnapshot[] = [];
  const sm = new BrokerStateMachine(log.options());
  sm.onMark((m) => marks.push(m));
  applyAll(sm, log);
  t.equal(sm.retainedFrom, mark1 + 1);
  t.same(sm.queueBounds('U', 0), { minOffset: 1, maxOffset: 2 }, 'U is cut at the mark');
  t.same(sm.queueBounds('T', 1), { minOffset: 0, maxOffset: 1 }, 'the new T is not touched by the cut');
  const last = marks.find((m) => m.index === mark2)!;
  const restored = new BrokerStateMachine(log.options({ readEntry: (i) => (i <= mark2 ? undefined : log.readEntry(i)) }));
  restored.restore(decodeSnapshot(last.bytes));
  applyAll(restored, log, mark2);
  t.same(restored.listTopics(), sm.listTopics());
  t.same(restored.pull('T', 1, 0, 10, 1 << 20).messages.map((m) => m.queueOffset), [0]);
});

t.test('queueList gives each queue the store timestamp of its newest message (0 for none), also after a restart', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-queue-times-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = new FakeLog();
  filled(log);
  log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 150, autoCreateQueues: 0, messages: [{ body: body('t3') }] });
  let sm = await BrokerStateMachine.open(dir, log.options());
  applyAll(sm, log);
  const times = (m: BrokerStateMachine): unknown => m.queueList(100).topics.map((x) => [x.topic, x.queues.map((q) => q.lastUpdateTimestamp)]);
  t.same(times(sm), [['T', [150, 101]], ['U', [102]]]);
  t.same(sm.queueList(100).topics[0]!.queues[0], { queueId: 0, minOffset: 0, maxOffset: 3, lastUpdateTimestamp: 150 });
  sm.apply(log.append({ kind: 'createTopic', topic: 'T', queues: 3 }));
  t.same(times(sm), [['T', [150, 101, 0]], ['U', [102]]], 'a queue with no message: 0');
  await sm.close();
  sm = await BrokerStateMachine.open(dir, log.options());
  t.same(times(sm), [['T', [150, 101, 0]], ['U', [102]]], 'read back from the log after a restart');
  await sm.close();
  const ref = new BrokerStateMachine(log.options());
  applyAll(ref, log);
  const blind = new BrokerStateMachine(log.options({ readEntry: () => undefined }));
  blind.restore(ref.snapshot());
  t.same(times(blind), [['T', [0, 0, 0]], ['U', [0]]], 'a log that does not hold the entries (yet): 0');
});

t.test('a topic deleted on the master is deleted by apply on every replica alike', async (t) => {
  const h = new Harness();
  h.send('T', 0, ['a']);
  h.run(h.sm.prepareDeleteTopic('T'));
  const replica = new BrokerStateMachine(h.log.options({ autoCreateTopicEnable: false }));
  applyAll(replica, h.log);
  t.same(Buffer.from(replica.serializeState()), Buffer.from(h.sm.serializeState()));
  t.same(replica.listTopics(), []);
});
