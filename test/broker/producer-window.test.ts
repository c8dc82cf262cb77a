// The idempotent producers' windows (state/producer-window-table.ts, applied in
// commands/send-batch.ts): a retry is answered with the first result and stores nothing, a seq
// reused with another count is refused, the window and the table are bounded with a deterministic
// eviction, and snapshots and checkpoints carry the windows.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Level } from 'level';
import { BrokerStateMachine, decodeSnapshot, encodeSnapshot, IDEMPOTENCE_PAIRS_MAX, type ApplyResult, type Snapshot, type SendBatchCommand } from '../../src/broker/index.ts';
import { IDEMPOTENCE_WINDOW_BATCHES } from '../../src/protocol/index.ts';
import { FakeLog } from './harness.ts';

const body = (s: string): Uint8Array => Buffer.from(s);

function send(topic: string, queueId: number, producerId: string | undefined, seq: number, bodies: string[], storeTimestamp = 1000): SendBatchCommand {
  const messages = bodies.map((b) => ({ body: body(b), keys: `key-${b}` }));
  const cmd: SendBatchCommand = { kind: 'sendBatch', topic, queueId, storeTimestamp, autoCreateQueues: 4, messages };
  return producerId === undefined ? cmd : { ...cmd, producerId, seq };
}

function batchOf(r: ApplyResult) {
  if (r.type !== 'sendResult') throw new Error(`expected a send result, got ${JSON.stringify(r)}`);
  return r.batch;
}

t.test('a retry within the window is answered with the first result and stores nothing', async (t) => {
  const log = new FakeLog();
  const sm = new BrokerStateMachine(log.options({ keyIndexCapacity: 100 }));
  const events: number[] = [];
  sm.onApplied((e) => events.push(e.logIndex));
  const first = sm.apply(log.append(send('T', 1, 'p1', 0, ['a', 'b'])));
  sm.apply(log.append(send('T', 1, 'p1', 2, ['c'])));
  sm.apply(log.append(send('T', 1, undefined, 0, ['no producer'])));
  const bounds = sm.queueBounds('T', 1);
  const keys = sm.keyIndexEntries;
  const cached = sm.decodedBatchCacheSize;
  const retry = sm.apply(log.append(send('T', 1, 'p1', 0, ['a', 'b'])));
  t.same(batchOf(retry), batchOf(first), 'the same msgIdHead, firstOffset, logIndex and count');
  t.same(retry.type === 'sendResult' && retry.results.map((r) => r.msgId), first.type === 'sendResult' && first.results.map((r) => r.msgId));
  t.equal(retry.type === 'sendResult' && retry.duplicate, true, 'marked as a duplicate');
  t.equal(first.type === 'sendResult' && first.duplicate, undefined, 'the first one is not');
  t.same(sm.queueBounds('T', 1), bounds, 'no queue entry');
  t.equal(sm.keyIndexEntries, keys, 'no key filed');
  t.equal(sm.decodedBatchCacheSize, cached, 'no batch cached');
  t.same(events, [1, 2, 3], 'no pull woken');
  t.same(sm.pull('T', 1, 0, 10, 1 << 20).messages.map((m) => Buffer.from(m.body).toString()), ['a', 'b', 'c', 'no producer'], 'each message stored once');
  t.same(sm.producerWindow('T', 1, 'p1').map((b) => b.firstSeq), [0, 2], 'the retry is not recorded again');
  // The same seq on another queue, topic or producer is another batch.
  t.equal(batchOf(sm.apply(log.append(send('T', 2, 'p1', 0, ['a', 'b'])))).firstOffset, 0);
  t.equal(batchOf(sm.apply(log.append(send('T', 1, 'p2', 0, ['a', 'b'])))).firstOffset, 4);
  t.equal(sm.queueBounds('T', 1).maxOffset, 6);
});

t.test('the same first seq with another count is refused (sequence reused), stores nothing and leaves the window', async (t) => {
  const log = new FakeLog();
  const sm = new BrokerStateMachine(log.options());
  sm.apply(log.append(send('T', 0, 'p1', 5, ['a', 'b'])));
  const before = sm.producerWindow('T', 0, 'p1');
  const r = sm.apply(log.append(send('T', 0, 'p1', 5, ['a', 'b', 'c'])));
  t.match(r, { type: 'error', code: 'BAD_REQUEST', message: /sequence reused/ });
  t.equal(sm.queueBounds('T', 0).maxOffset, 2);
  t.same(sm.producerWindow('T', 0, 'p1'), before);
  // A batch that overlaps a stored one without starting at the same seq is not a retry.
  t.equal(batchOf(sm.apply(log.append(send('T', 0, 'p1', 6, ['x'])))).firstOffset, 2);
});

t.test('a refused batch is not recorded: its retry is applied again, not answered from the window', async (t) => {
  const log = new FakeLog();
  const sm = new BrokerStateMachine(log.options());
  const refused = sm.apply(log.append({ ...send('T', 0, 'p1', 0, ['a']), autoCreateQueues: 0 }));
  t.match(refused, { type: 'error', code: 'TOPIC_NOT_FOUND' });
  t.same(sm.producerWindow('T', 0, 'p1'), []);
  sm.apply(log.append({ kind: 'createTopic', topic: 'T', queues: 1 }));
  t.match(sm.apply(log.append({ ...send('T', 3, 'p1', 0, ['a']), autoCreateQueues: 0 })), { type: 'error', code: 'BAD_REQUEST' }, 'no such queue');
  const stored = sm.apply(log.append({ ...send('T', 0, 'p1', 0, ['a']), autoCreateQueues: 0 }));
  t.equal(stored.type === 'sendResult' && stored.duplicate, undefined, 'stored now');
  t.equal(sm.queueBounds('T', 0).maxOffset, 1);
});

t.test(`a window holds the last ${IDEMPOTENCE_WINDOW_BATCHES} batches: an older retry is stored again`, async (t) => {
  const log = new FakeLog();
  const sm = new BrokerStateMachine(log.options());
  for (let i = 0; i <= IDEMPOTENCE_WINDOW_BATCHES; i++) sm.apply(log.append(send('T', 0, 'p1', i * 2, [`m${i}a`, `m${i}b`])));
  const window = sm.producerWindow('T', 0, 'p1');
  t.equal(window.length, IDEMPOTENCE_WINDOW_BATCHES);
  t.same(window[0], { firstSeq: 2, count: 2, logIndex: 2, firstOffset: 2 }, 'the first batch went');
  t.same(window.at(-1), { firstSeq: 2 * IDEMPOTENCE_WINDOW_BATCHES, count: 2, logIndex: IDEMPOTENCE_WINDOW_BATCHES + 1, firstOffset: 2 * IDEMPOTENCE_WINDOW_BATCHES });
  const second = sm.apply(log.append(send('T', 0, 'p1', 2, ['m1a', 'm1b'])));
  t.equal(second.type === 'sendResult' && second.duplicate, true, 'the oldest batch held is still recognised');
  const first = sm.apply(log.append(send('T', 0, 'p1', 0, ['m0a', 'm0b'])));
  t.same([first.type === 'sendResult' && first.duplicate, batchOf(first).firstOffset], [undefined, 2 * IDEMPOTENCE_WINDOW_BATCHES + 2], 'past the window: stored a second time (at-least-once)');
});

/** A machine whose producer table is full: one single-message batch of producer `p<i>` on T/0
 *  per entry (entry i + 1), i < IDEMPOTENCE_PAIRS_MAX. */
function fullTable(): { log: FakeLog; sm: BrokerStateMachine } {
  const log = new FakeLog();
  const sm = new BrokerStateMachine(log.options());
  for (let i = 0; i < IDEMPOTENCE_PAIRS_MAX; i++) sm.apply(log.append(send('T', 0, `p${i}`, 0, ['x'])));
  return { log, sm };
}

t.test(`at most ${IDEMPOTENCE_PAIRS_MAX} producer-queue pairs: a new one evicts the pair whose last batch is the oldest`, async (t) => {
  const { log, sm } = fullTable();
  t.equal(sm.producerWindowCount, IDEMPOTENCE_PAIRS_MAX);
  sm.apply(log.append(send('T', 0, 'p0', 1, ['y']))); // p0 wrote last now; p1 is the oldest
  sm.apply(log.append(send('T', 0, 'new-1', 0, ['z'])));
  t.equal(sm.producerWindowCount, IDEMPOTENCE_PAIRS_MAX);
  t.same(sm.producerWindow('T', 0, 'p1'), [], 'p1 evicted');
  t.equal(sm.producerWindow('T', 0, 'p0').length, 2, 'p0 kept: it wrote more recently');
  sm.apply(log.append(send('T', 0, 'new-2', 0, ['z'])));
  t.same(sm.producerWindow('T', 0, 'p2'), [], 'then p2');
  const retry = sm.apply(log.append(send('T', 0, 'p1', 0, ['x'])));
  t.equal(retry.type === 'sendResult' && retry.duplicate, undefined, 'an evicted pair\'s retry is stored again');
  t.same(sm.producerWindow('T', 0, 'p3'), [], 'and its new window evicted p3');
  // Every replica evicts alike, however it got there: one restored from a snapshot midway.
  const restored = new BrokerStateMachine(log.options());
  restored.restore(decodeSnapshot(encodeSnapshot(sm.snapshot())));
  const more = [send('T', 0, 'p4', 1, ['z']), send('T', 0, 'new-3', 0, ['z']), send('T', 0, 'new-4', 0, ['z'])].map((c) => log.append(c));
  for (const e of more) t.same(restored.apply(e), sm.apply(e));
  t.same(Buffer.from(restored.serializeState()), Buffer.from(sm.serializeState()));
  t.same([sm.producerWindow('T', 0, 'p5'), sm.producerWindow('T', 0, 'p6')], [[], []], 'p4 wrote again, so p5 and p6 went instead');
  t.equal(sm.producerWindow('T', 0, 'p4').length, 2);
});

t.test('pairs whose last batches are at the same log index are evicted in key order', async (t) => {
  const { log, sm } = fullTable();
  const snapshot = sm.snapshot();
  // Made up (apply never writes two windows at one index): p9 and p10 both end at entry 1.
  const rows = snapshot.tables.producerWindows.map(([topic, queueId, producerId, batches]) => {
    if (producerId === 'p9' || producerId === 'p10') return [topic, queueId, producerId, [0, 1, 1, 0]] as const;
    if (producerId === 'p0') return [topic, queueId, producerId, [0, 1, 2, 0]] as const;
    return [topic, queueId, producerId, batches] as const;
  });
  const restored = new BrokerStateMachine(log.options());
  restored.restore({ ...snapshot, tables: { ...snapshot.tables, producerWindows: rows } } as Snapshot);
  restored.apply(log.append(send('T', 0, 'new-1', 0, ['z'])));
  t.same(restored.producerWindow('T', 0, 'p10'), [], '"p:T:0000:p10" sorts before "p:T:0000:p9"');
  t.equal(restored.producerWindow('T', 0, 'p9').length, 1);
  restored.apply(log.append(send('T', 0, 'new-2', 0, ['z'])));
  t.same(restored.producerWindow('T', 0, 'p9'), []);
  restored.apply(log.append(send('T', 0, 'new-3', 0, ['z'])));
  t.same(restored.producerWindow('T', 0, 'p0'), [], 'then the one at entry 2');
  t.equal(restored.producerWindow('T', 0, 'p1').length, 1);
});

t.test('snapshots and checkpoints keep the windows: a retry after a restore or a restart is still answered with the first result', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-producer-window-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = new FakeLog();
  let sm = await BrokerStateMachine.open(dir, log.options());
  const firsts: ApplyResult[] = [];
  for (let i = 0; i < 40; i++) firsts.push(sm.apply(log.append(send('T', i % 2, `p${i % 3}`, i, [`m${i}`]))));
  sm.apply(log.append(send('U', 0, 'p0', 0, ['u'])));
  await sm.checkpoint();
  sm.apply(log.append({ kind: 'deleteTopic', topic: 'U' }));
  const afterCheckpoint = sm.apply(log.append(send('T', 0, 'p9', 7, ['late'])));
  await sm.close({ checkpoint: false }); // a crash: the last two entries are replayed
  sm = await BrokerStateMachine.open(dir, log.options());
  t.equal(sm.producerWindow('U', 0, 'p0').length, 1, 'the checkpoint had U\'s window');
  for (const e of log.entries.slice(sm.appliedIndex)) sm.apply(e);
  t.same(sm.producerWindow('U', 0, 'p0'), [], 'the replayed deleteTopic drops it');
  const ref = new BrokerStateMachine(log.options());
  for (const e of log.entries) ref.apply(e);
  t.same(Buffer.from(sm.serializeState()), Buffer.from(ref.serializeState()), 'the restarted machine is the one that never stopped');
  const retries = [send('T', 1, 'p1', 37, ['m37']), send('T', 0, 'p9', 7, ['late'])].map((c) => log.append(c));
  t.same(batchOf(sm.apply(retries[0]!)), batchOf(firsts[37]!), 'a batch from before the checkpoint');
  t.same(batchOf(sm.apply(retries[1]!)), batchOf(afterCheckpoint), 'a batch replayed after the restart');
  await sm.close();

  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  const keys = await db.keys({ gte: 'p:', lt: 'p;' }).all();
  await db.close();
  t.same(keys, ['p:T:0000:p0', 'p:T:0000:p1', 'p:T:0000:p2', 'p:T:0000:p9', 'p:T:0001:p0', 'p:T:0001:p1', 'p:T:0001:p2'], 'one record per window, the deleted topic\'s gone');

  for (const e of log.entries.slice(ref.appliedIndex)) ref.apply(e);
  const restored = new BrokerStateMachine(log.options());
  restored.restore(decodeSnapshot(encodeSnapshot(ref.snapshot())));
  const retry = log.append(send('T', 0, 'p0', 36, ['m36']));
  t.same(batchOf(restored.apply(retry)), batchOf(firsts[36]!), 'a machine restored from a snapshot answers a retry with the first result');
});

t.test('a snapshot of format 2 (before the producer windows) restores, with no windows', async (t) => {
  const log = new FakeLog();
  const sm = new BrokerStateMachine(log.options());
  sm.apply(log.append(send('T', 0, undefined, 0, ['a'])));
  const { producerWindows: _, ...older } = sm.snapshot().tables;
  const bytes = encodeSnapshot({ ...sm.snapshot(), formatVersion: 2, tables: older } as unknown as Snapshot);
  const restored = new BrokerStateMachine(log.options());
  restored.restore(decodeSnapshot(bytes));
  t.same(Buffer.from(restored.serializeState()), Buffer.from(sm.serializeState()));
});
