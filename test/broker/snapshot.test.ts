// Snapshots of the broker state machine: a machine restored from another's snapshot is that
// machine, for every read and for every entry applied after it; every replicated table is in the
// snapshot, and the state lives nowhere else.
import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Snapshot } from '../../src/broker/index.ts';
import { BrokerStateMachine, CHECKPOINT_CHUNK_ENTRY_COUNT, decodeSnapshot, encodeSnapshot } from '../../src/broker/index.ts';
import { PULL_COUNT_MAX } from '../../src/protocol/index.ts';
import { AssertionError } from '../../src/util/index.ts';
import { arbStep, arbSteps, CLIENT_IDS, GROUPS, PRODUCERS, SCHEDULE_LEVELS, TOPICS } from './arbitraries.ts';
import { buildLog, confStep, FakeLog, type Step } from './harness.ts';

/** Timestamps searchOffset is asked about: before, among and after the arbitraries' ones. */
const SEARCH_TIMESTAMPS = [0, 2 ** 20, 2 ** 41, 2 ** 43];
/** Queue ids asked about beyond the queues a topic has (arbitraries use 0..5, topics up to 8). */
const QUEUE_ID_LIMIT = 8;

/** Creates every topic the arbitraries use, so that more sends and commits are accepted, and locks
 *  a queue of each for a member the arbitraries never name (so the lock stays). */
const SETUP: Step[] = [
  ...TOPICS.map((topic): Step => ({ kind: 'createTopic', topic, queues: 6 })),
  { kind: 'lockQueues', group: GROUPS[0]!, clientId: '10.0.0.9@setup', atMs: 0, queues: TOPICS.map((topic) => ({ topic, queueId: 5 })) },
  // A delay level the arbitraries never move, so its schedule offset stays.
  { kind: 'scheduleSkip', level: SCHEDULE_LEVELS + 1, from: 0, to: 7 },
];

/** Every answer a client could get from the applied state, as comparable text. */
function observe(sm: BrokerStateMachine): string {
  const out: unknown[] = [sm.appliedIndex, sm.appliedTerm, sm.listTopics(), sm.retainedFrom, sm.retentionMarks, sm.membership];
  for (let level = 1; level <= SCHEDULE_LEVELS + 1; level++) out.push(sm.scheduleOffset(level));
  for (let i = 0; i <= sm.appliedIndex; i++) out.push(sm.membershipAt(i)?.index ?? 0);
  for (const { topic, queues } of sm.listTopics()) {
    for (let q = 0; q < queues; q++) {
      const bounds = sm.queueBounds(topic, q);
      const messages: unknown[] = [];
      for (let o = bounds.minOffset; o < bounds.maxOffset; ) {
        const r = sm.pull(topic, q, o, PULL_COUNT_MAX, 1 << 30);
        for (const m of r.messages) messages.push([m.queueOffset, m.msgId, m.logIndex, m.storeTimestamp, m.keys, m.tags, m.properties, Buffer.from(m.body).toString('hex')]);
        if (r.nextOffset === o) break;
        o = r.nextOffset;
      }
      out.push([topic, q, bounds, messages, SEARCH_TIMESTAMPS.map((ts) => sm.searchOffset(topic, q, ts)), PRODUCERS.map((p) => sm.producerWindow(topic, q, p))]);
    }
  }
  for (const group of GROUPS) {
    for (const topic of TOPICS) for (let q = 0; q < QUEUE_ID_LIMIT; q++) out.push([group, topic, q, sm.queryOffset(group, topic, q), sm.queueLock(group, topic, q) ?? null]);
    for (const clientId of CLIENT_IDS) out.push([group, clientId, sm.queueLocksOf(group, clientId)]);
  }
  return JSON.stringify(out);
}

t.test('a machine restored from a snapshot answers every read and applies the next entries exactly as the original', async (t) => {
  let runsWithAllTables = 0;
  fc.assert(
    // The setup (every table filled) in 3 of 4 runs: enough runs restore every table, and a
    // quarter still start from the empty state.
    fc.property(fc.nat({ max: 3 }).map((n) => n > 0), fc.array(arbStep(), { minLength: 10, maxLength: 60 }), arbSteps, fc.nat(), fc.boolean(), (withSetup, steps: Step[], after: Step[], restoredAtSeed, viaBytes) => {
      const before = withSetup ? [...SETUP, ...steps] : steps;
      const log = buildLog([...before, ...after]);
      const original = new BrokerStateMachine(log.options());
      for (const e of log.entries.slice(0, before.length)) original.apply(e);
      const snapshot = viaBytes ? decodeSnapshot(encodeSnapshot(original.snapshot())) : original.snapshot();
      if (Object.values(snapshot.tables).every((rows) => rows.length > 0)) runsWithAllTables++;
      // The restored machine has state of its own (behind or ahead) and other local options.
      const restored = new BrokerStateMachine(log.options({ autoCreateTopicEnable: false, defaultTopicQueueNums: 16 }));
      for (const e of log.entries.slice(0, restoredAtSeed % (log.entries.length + 1))) restored.apply(e);
      restored.restore(snapshot);
      if (observe(restored) !== observe(original)) throw new Error('the restored machine answers differently');
      for (const e of log.entries.slice(before.length)) {
        const want = JSON.stringify(original.apply(e));
        const got = JSON.stringify(restored.apply(e));
        if (got !== want) throw new Error(`entry ${e.index} applied differently: ${got}, expected ${want}`);
      }
      if (observe(restored) !== observe(original)) throw new Error('the restored machine answers differently after the next entries');
      if (Buffer.compare(Buffer.from(restored.serializeState()), Buffer.from(original.serializeState())) !== 0) throw new Error('state bytes differ');
    }),
    // 250 runs (150 before the queue locks): one more table to fill makes runs with every table
    // non-empty rarer.
    { numRuns: 250 },
  );
  t.ok(runsWithAllTables >= 20, `${runsWithAllTables} runs restored a snapshot with every table non-empty`);
});

/** Fills every table: topics, queues with messages, consumer offsets, retention marks. */
function fullLog(): FakeLog {
  const log = new FakeLog();
  log.append({ kind: 'retain', cutAt: 0, atMs: 5 });
  log.append({ kind: 'createTopic', topic: TOPICS[0], queues: 2 });
  for (let i = 0; i < 3; i++) log.append({ kind: 'sendBatch', topic: TOPICS[i % 2], queueId: i % 2, storeTimestamp: 10 + i, autoCreateQueues: 4, producerId: PRODUCERS[0], seq: i, messages: [{ body: Uint8Array.of(i) }] });
  log.append({ kind: 'commitOffsets', entries: [{ group: GROUPS[0], topic: TOPICS[0], queueId: 0, offset: 1 }] });
  log.append({ kind: 'lockQueues', group: GROUPS[0], clientId: CLIENT_IDS[0], atMs: 20, queues: [{ topic: TOPICS[0], queueId: 1 }] });
  log.append({ kind: 'scheduleSkip', level: 2, from: 0, to: 3 });
  log.append(confStep('addLearner', 'n3', ['n0', 'n1', 'n2'], ['n3']));
  return log;
}

t.test('every replicated table is in the snapshot, and leaving any one out is noticed', async (t) => {
  const log = fullLog();
  const original = new BrokerStateMachine(log.options());
  for (const e of log.entries) original.apply(e);
  const snapshot = original.snapshot();
  const empty = new BrokerStateMachine(log.options()).snapshot();
  const names = Object.keys(snapshot.tables) as (keyof Snapshot['tables'])[];
  t.same(names, ['topics', 'consumeQueues', 'consumerOffsets', 'retention', 'membership', 'producerWindows', 'queueLocks'].concat('schedule' in snapshot.tables ? ['schedule'] : []));
  for (const name of names) {
    const without = { ...snapshot, tables: { ...snapshot.tables, [name]: empty.tables[name] } } as Snapshot;
    const restored = new BrokerStateMachine(log.options());
    let noticed: string;
    try {
      restored.restore(without);
      noticed = observe(restored) !== observe(original) ? 'reads differ' : '';
    } catch (err) {
      if (!(err instanceof AssertionError)) throw err;
      noticed = `restore refuses it: ${err.message}`;
    }
    t.ok(noticed, `a snapshot without ${name}: ${noticed || 'NOT noticed: observe() must read every table'}`);
  }
});

t.test('the state machine keeps replicated state only in its tables', async (t) => {
  // A new field of the machine is either replicated state, which belongs in a ReplicatedTable
  // listed in src/broker/state/tables.ts (so checkpoints and snapshots carry it), or something
  // every replica may hold differently (a cache, an option, a listener, the key index derived
  // from the log): only that goes here.
  const notReplicated = ['listeners', 'batches', 'queueTimes', 'sendOptions', 'context', 'store', 'closed', 'brokerName', 'readEntry', 'keyIndex', 'keyIndexRebuild', 'markListener', 'membershipListener', 'checkpointedCut', 'bugMarkUncut'];
  const sm = new BrokerStateMachine(new FakeLog().options());
  t.same(Object.keys(sm).sort(), ['applied', 'appliedTermValue', 'tables', ...notReplicated].sort());
});

t.test('a snapshot holds no message bodies', async (t) => {
  const log = new FakeLog();
  const body = Buffer.from('a body that must stay in the log only, '.repeat(4));
  for (let i = 0; i < 5; i++) log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 1, messages: [{ body, keys: 'k', tags: 't', properties: { p: 'v' } }] });
  const sm = new BrokerStateMachine(log.options());
  for (const e of log.entries) sm.apply(e);
  const bytes = Buffer.from(encodeSnapshot(sm.snapshot()));
  t.equal(bytes.indexOf(body), -1);
  t.ok(bytes.length < 5 * body.length, `${bytes.length} bytes`);
});

t.test('a malformed snapshot is an assertion', async (t) => {
  const log = fullLog();
  const sm = new BrokerStateMachine(log.options());
  for (const e of log.entries) sm.apply(e);
  const good = sm.snapshot();
  const fresh = (): BrokerStateMachine => new BrokerStateMachine(log.options());
  t.throws(() => fresh().restore({ ...good, formatVersion: 99 }), AssertionError, 'another format');
  const { consumerOffsets: _, ...missing } = good.tables;
  t.throws(() => fresh().restore({ ...good, tables: missing } as unknown as Snapshot), AssertionError, 'a table missing');
  t.throws(() => fresh().restore({ ...good, tables: { ...good.tables, topics: [] } }), AssertionError, 'queues of unknown topics');
  t.throws(() => fresh().restore({ ...good, appliedIndex: 1 }), AssertionError, 'queues pointing past the applied index');
});

t.test('a durable machine restored from a snapshot checkpoints the new state whole and drops the old', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-snap-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Queue A/0 spans three checkpoint chunks (two go cold); the snapshot is taken in its second.
  const log = new FakeLog();
  const send = (topic: string, queueId: number, count: number): void => {
    log.append({ kind: 'sendBatch', topic, queueId, storeTimestamp: log.entries.length, autoCreateQueues: 2, messages: Array.from({ length: count }, (_, i) => ({ body: Uint8Array.of(i & 0xff) })) });
  };
  for (let i = 0; i < 5; i++) send('A', 0, 1000);
  log.append({ kind: 'commitOffsets', entries: [{ group: 'g', topic: 'A', queueId: 0, offset: 100 }] });
  const snapshotAt = log.entries.length;
  for (let i = 0; i < 6; i++) send('A', 0, 1000);
  send('A', 1, 10);
  send('B', 0, 10);
  log.append({ kind: 'commitOffsets', entries: [{ group: 'g', topic: 'B', queueId: 0, offset: 5 }, { group: 'g', topic: 'A', queueId: 0, offset: 9000 }] });
  t.ok(log.entries.length > snapshotAt && 11 * 1000 > 2 * CHECKPOINT_CHUNK_ENTRY_COUNT);

  const atSnapshot = new BrokerStateMachine(log.options());
  for (const e of log.entries.slice(0, snapshotAt)) atSnapshot.apply(e);
  const full = new BrokerStateMachine(log.options());
  for (const e of log.entries) full.apply(e);

  let sm = await BrokerStateMachine.open(dir, log.options());
  for (const e of log.entries) sm.apply(e);
  await sm.checkpoint();
  t.ok(sm.hotRunCount < full.hotRunCount, 'part of A/0 is cold');
  sm.restore(atSnapshot.snapshot());
  t.equal(observe(sm), observe(atSnapshot), 'answers as the snapshot says at once');
  await sm.close({ checkpoint: false }); // a crash before the next checkpoint: the old state stays
  sm = await BrokerStateMachine.open(dir, log.options());
  t.equal(observe(sm), observe(full), 'a crash before the checkpoint leaves the old checkpoint whole');

  sm.restore(atSnapshot.snapshot());
  t.equal(await sm.checkpoint(), snapshotAt);
  await sm.close({ checkpoint: false });
  sm = await BrokerStateMachine.open(dir, log.options());
  t.equal(observe(sm), observe(atSnapshot), 'after a restart: the snapshot state, nothing of the old');
  t.same(Buffer.from(sm.serializeState()), Buffer.from(atSnapshot.serializeState()));
  for (const e of log.entries.slice(snapshotAt)) sm.apply(e);
  t.equal(observe(sm), observe(full), 'and the entries after it apply as they did');
  await sm.close();
});
