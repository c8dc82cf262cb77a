// The consume queues' cold tier: a durable state machine keeps only the recent part of each queue
// in memory (chunks a completed checkpoint holds in full are read back from LevelDB), and must
// still answer exactly like an in-memory machine fed the same entries, across restarts.
import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Level } from 'level';
import {
  BrokerStateMachine,
  CHECKPOINT_CHUNK_ENTRY_COUNT,
  COLD_CHUNK_CACHE_COUNT_MAX,
} from '../../src/broker/index.ts';
import { PULL_COUNT_MAX, SEND_BATCH_COUNT_MAX } from '../../src/protocol/index.ts';
import { FakeLog } from './harness.ts';

const C = CHECKPOINT_CHUNK_ENTRY_COUNT;
const TOPIC = 'T';
const QUEUES = 4;
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
t.comment(`seed ${SEED} (replay: SEED=${SEED} npx tap test/broker/cold-tier.test.ts)`);

/** mulberry32: a uniform integer in [0, n). (An LCG in float64 arithmetic loses its low bits.) */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
}

/** Sends of 1..40 messages to random queues; each body names its queue and offset. */
function buildLog(seed: number, total: number): FakeLog {
  const rand = rng(seed);
  const log = new FakeLog();
  const next = new Array<number>(QUEUES).fill(0);
  for (let sent = 0; sent < total; ) {
    const q = rand(QUEUES);
    const n = Math.min(1 + rand(40), total - sent);
    const messages = Array.from({ length: n }, (_, i) => ({ body: Buffer.from(`${q}:${next[q] + i}`) }));
    log.append({ kind: 'sendBatch', topic: TOPIC, queueId: q, storeTimestamp: 1, autoCreateQueues: QUEUES, messages });
    next[q] += n;
    sent += n;
  }
  return log;
}

/** Lets a checkpoint take its snapshot and start its write, which cannot finish before the
 *  event loop turns: what is applied next is applied while the write is in flight. */
async function snapshotTaken(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** An assertion (our own durable data is wrong) whose message matches `message`. */
const assertion = (message: RegExp): { name: string; message: RegExp } => ({ name: 'AssertionError', message });

type Row = [number, number, string, string];
const rows = (sm: BrokerStateMachine, q: number, offset: number, count: number): Row[] =>
  sm.pull(TOPIC, q, offset, count, 1 << 30).messages.map((m) => [m.queueOffset, m.logIndex, m.msgId, Buffer.from(m.body).toString()]);

/** Pulls every queue whole from offset 0, then random reads all over (more chunks than the
 *  cache holds, so it evicts), and counts what differs from `ref` or from the bodies' names. */
function mismatches(sm: BrokerStateMachine, ref: BrokerStateMachine, rand: (n: number) => number): number {
  let bad = 0;
  for (let q = 0; q < QUEUES; q++) {
    const max = ref.queueBounds(TOPIC, q).maxOffset;
    if (sm.queueBounds(TOPIC, q).maxOffset !== max) bad++;
    for (let o = 0; o < max; o += PULL_COUNT_MAX) {
      const got = rows(sm, q, o, PULL_COUNT_MAX);
      const want = rows(ref, q, o, PULL_COUNT_MAX);
      if (got.length !== want.length) bad++;
      want.forEach((w, i) => {
        const g = got[i];
        if (g === undefined || g[0] !== w[0] || g[1] !== w[1] || g[2] !== w[2] || g[3] !== w[3] || w[3] !== `${q}:${w[0]}`) bad++;
      });
    }
  }
  for (let k = 0; k < 3000; k++) {
    const q = rand(QUEUES);
    const o = rand(ref.queueBounds(TOPIC, q).maxOffset);
    const n = 1 + rand(32);
    if (JSON.stringify(rows(sm, q, o, n)) !== JSON.stringify(rows(ref, q, o, n))) bad++;
  }
  return bad;
}

// 300k messages of ~20 per batch: ~15k runs, ~73 chunks (more than the chunk cache holds).
const TOTAL = 300_000;
const CHECKPOINT_EVERY = 50; // entries (about 1000 messages)
/** Hot runs allowed, whatever the total: per queue the margin chunk, the partial chunk and what
 *  came since the checkpoint, at no fewer than 10 messages a batch on average (they are 1..40). */
const HOT_RUN_BOUND = Math.floor((QUEUES * 3 * C) / 10);

t.test('a durable machine keeps a bounded hot tier and reads like an in-memory one, across restarts', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-cold-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rand = rng(SEED + 1);
  const log = buildLog(SEED, TOTAL);
  const ref = new BrokerStateMachine(log.options());
  for (const e of log.entries) ref.apply(e);
  t.ok(ref.hotRunCount > 2 * HOT_RUN_BOUND, `the in-memory machine holds every run (${ref.hotRunCount}), well above the bound ${HOT_RUN_BOUND}`);

  let sm = await BrokerStateMachine.open(dir, log.options());
  const lastCheckpointed = log.entries.length - 3 * CHECKPOINT_EVERY; // the rest stays only in the log
  let maxHot = 0;
  let pending: Promise<number> | undefined;
  for (const e of log.entries) {
    sm.apply(e);
    maxHot = Math.max(maxHot, sm.hotRunCount);
    if (e.index <= lastCheckpointed && e.index % CHECKPOINT_EVERY === 0) {
      // As a replica does: apply goes on while the checkpoint is written; one at a time.
      await pending;
      pending = sm.checkpoint();
      await snapshotTaken();
    }
  }
  const lastCheckpoint = await pending;
  t.ok(maxHot <= HOT_RUN_BOUND, `hot runs stay at most ${HOT_RUN_BOUND} (max ${maxHot}) for ${ref.hotRunCount} batches`);
  t.equal(mismatches(sm, ref, rand), 0, 'every offset reads the same messages');
  t.ok(sm.coldChunkCacheSize <= COLD_CHUNK_CACHE_COUNT_MAX, `chunk cache bounded (${sm.coldChunkCacheSize})`);
  t.same(Buffer.from(sm.serializeState()), Buffer.from(ref.serializeState()), 'same state bytes, cold or hot');

  // Crash: what was applied after the last checkpoint is replayed from the log.
  await sm.close({ checkpoint: false });
  sm = await BrokerStateMachine.open(dir, log.options());
  t.equal(sm.appliedIndex, lastCheckpoint);
  t.ok(sm.hotRunCount <= (QUEUES * C) / 10, `a restore loads only partial chunks (${sm.hotRunCount} hot runs)`);
  for (const e of log.entries.slice(sm.appliedIndex)) sm.apply(e);
  t.equal(mismatches(sm, ref, rand), 0, 'after a crash and replay');
  t.same(Buffer.from(sm.serializeState()), Buffer.from(ref.serializeState()));

  // Clean restart: everything checkpointed, nothing to replay.
  await sm.close();
  sm = await BrokerStateMachine.open(dir, log.options());
  t.equal(sm.appliedIndex, log.entries.length);
  t.ok(sm.hotRunCount <= (QUEUES * C) / 10, `after a clean restart, ${sm.hotRunCount} hot runs`);
  t.equal(mismatches(sm, ref, rand), 0, 'after a clean restart');
  t.same(Buffer.from(sm.serializeState()), Buffer.from(ref.serializeState()));
  t.ok(sm.coldChunkCacheSize <= COLD_CHUNK_CACHE_COUNT_MAX);
  await sm.close();
});

t.test('an in-memory machine never makes anything cold', async (t) => {
  const log = buildLog(SEED, 3 * C);
  const sm = new BrokerStateMachine(log.options());
  let batches = 0;
  for (const e of log.entries) {
    sm.apply(e);
    batches++;
    if (batches % 100 === 0) await sm.checkpoint();
  }
  t.equal(sm.hotRunCount, batches, 'one hot run per batch');
  t.equal(sm.coldChunkCacheSize, 0);
});

type Action =
  | { readonly kind: 'send'; readonly queue: number; readonly batches: number; readonly size: number }
  | { readonly kind: 'checkpoint' | 'checkpointNoWait' | 'crash' | 'close' }
  | { readonly kind: 'pull'; readonly queue: number; readonly at: number; readonly count: number };

const arbAction: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      queue: fc.nat({ max: 1 }),
      batches: fc.integer({ min: 1, max: 30 }),
      // Small batches make many runs per chunk; big ones fill chunks fast (and cross them).
      size: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 300, max: SEND_BATCH_COUNT_MAX })),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('checkpoint' as const, 'checkpointNoWait' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('crash' as const, 'close' as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('pull' as const), queue: fc.nat({ max: 1 }), at: fc.double({ min: 0, max: 1, noNaN: true }), count: fc.integer({ min: 1, max: PULL_COUNT_MAX }) }) },
);

t.test('property: apply, checkpoint, pull and restart interleaved read like an in-memory machine', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'raftmq-cold-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  let run = 0;
  let runsWithCold = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(arbAction, { minLength: 5, maxLength: 40 }), async (actions) => {
      const log = new FakeLog();
      const model = new BrokerStateMachine(log.options());
      const dir = path.join(root, `run-${run++}`);
      let sm = await BrokerStateMachine.open(dir, log.options());
      let sawCold = false;
      let pending: Promise<number> | undefined;
      const catchUp = (): void => {
        for (const e of log.entries.slice(sm.appliedIndex)) sm.apply(e);
      };
      try {
        for (const a of actions) {
          if (a.kind === 'send') {
            for (let b = 0; b < a.batches; b++) {
              const messages = Array.from({ length: a.size }, (_, i) => ({ body: Uint8Array.of(b, i & 0xff) }));
              model.apply(log.append({ kind: 'sendBatch', topic: TOPIC, queueId: a.queue, storeTimestamp: log.entries.length, autoCreateQueues: 2, messages }));
            }
            catchUp();
          } else if (a.kind === 'checkpoint') {
            await sm.checkpoint();
          } else if (a.kind === 'checkpointNoWait') {
            pending = sm.checkpoint(); // the next sends apply while it is written
            await snapshotTaken();
          } else if (a.kind === 'crash' || a.kind === 'close') {
            await sm.close({ checkpoint: a.kind === 'close' });
            await pending;
            pending = undefined;
            sm = await BrokerStateMachine.open(dir, log.options());
            catchUp();
          } else if (a.kind === 'pull' && model.topicQueueCount(TOPIC) !== undefined) {
            const offset = Math.floor(a.at * model.queueBounds(TOPIC, a.queue).maxOffset);
            const got = rows(sm, a.queue, offset, a.count);
            const want = rows(model, a.queue, offset, a.count);
            if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`pull ${a.queue}@${offset}+${a.count} differs`);
          }
          sawCold ||= sm.hotRunCount < model.hotRunCount;
        }
        if (Buffer.compare(Buffer.from(sm.serializeState()), Buffer.from(model.serializeState())) !== 0) throw new Error('state bytes differ');
        if (sm.coldChunkCacheSize > COLD_CHUNK_CACHE_COUNT_MAX) throw new Error('chunk cache over its limit');
        if (sawCold) runsWithCold++;
      } finally {
        await pending;
        await sm.close();
      }
    }),
    { seed: SEED, numRuns: 40 },
  );
  t.ok(runsWithCold >= 5, `${runsWithCold} of ${run} runs pulled from a machine with cold entries`);
});

t.test('damaged checkpoint chunks are assertions, never wrong answers', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'raftmq-cold-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const log = buildLog(SEED, 3 * QUEUES * C); // ~3 chunks a queue: chunk 0 and 1 are full
  const key = (chunk: number): string => `q:${TOPIC}:0000:${String(chunk).padStart(10, '0')}`;
  /** A checkpointed copy of the log's state in a new dir, damaged by `damage`. */
  const damaged = async (name: string, damage: (db: Level<string, Uint8Array>) => Promise<void>): Promise<string> => {
    const dir = path.join(root, name);
    const sm = await BrokerStateMachine.open(dir, log.options());
    for (const e of log.entries) sm.apply(e);
    await sm.close();
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    t.ok((await db.get(key(1)))?.length === C * 8, 'chunk 1 of queue 0 is full');
    await damage(db);
    await db.close();
    return dir;
  };
  const chunk1 = async (db: Level<string, Uint8Array>): Promise<Uint8Array> => (await db.get(key(1)))!;

  const gap = await damaged('gap', (db) => db.del(key(1)));
  await t.rejects(BrokerStateMachine.open(gap, log.options()), assertion(/chunk 2 of T\/0 does not follow offset 4096/));
  const short = await damaged('short', async (db) => db.put(key(1), (await chunk1(db)).subarray(8)));
  await t.rejects(BrokerStateMachine.open(short, log.options()), assertion(/chunk 1 of T\/0 is short but not the last/));
  const disordered = await damaged('disordered', async (db) => {
    const bytes = (await chunk1(db)).slice();
    bytes.copyWithin(800, 0, 8);
    await db.put(key(1), bytes);
  });
  await t.rejects(BrokerStateMachine.open(disordered, log.options()), assertion(/entry \d+ is invalid/));
  const backwards = await damaged('backwards', async (db) => db.put(key(1), (await db.get(key(0)))!));
  await t.rejects(BrokerStateMachine.open(backwards, log.options()), assertion(/chunk 1 of T\/0 goes back/));

  // Restore checked it; if it disappears later, the read asserts instead of answering.
  const dir = await damaged('ok', async () => {});
  const sm = await BrokerStateMachine.open(dir, log.options());
  t.equal(sm.pull(TOPIC, 0, C + 5, 1, 1 << 20).messages[0].queueOffset, C + 5);
  await (sm as unknown as { db: Level<string, Uint8Array> }).db.del(key(0));
  t.throws(() => sm.pull(TOPIC, 0, 5, 1, 1 << 20), assertion(/checkpoint chunk q:T:0000:0000000000 is missing/));
  await sm.close();
});
