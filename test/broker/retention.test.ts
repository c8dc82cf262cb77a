// Retention in the state machine: a retain entry cuts the log at an earlier mark on every
// replica alike (the same minimum queue offsets), and a machine restored from a mark's snapshot,
// holding only the log after the mark, ends in the same state as one that applied everything.
import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Level } from 'level';
import type { MarkSnapshot } from '../../src/broker/index.ts';
import { BrokerStateMachine, CHECKPOINT_CHUNK_ENTRY_COUNT, decodeSnapshot } from '../../src/broker/index.ts';
import { PULL_COUNT_MAX } from '../../src/protocol/index.ts';
import type { ApplyEntry } from '../../src/broker/index.ts';
import { arbStep, GROUPS, TOPICS } from './arbitraries.ts';
import { FakeLog, type Step } from './harness.ts';

const SETUP: Step[] = TOPICS.map((topic) => ({ kind: 'createTopic', topic, queues: 6 }));

/** A step of a log with retention: a command, a new mark, or a cut at the k-th live mark. */
type RStep = Step | { mark: true } | { cut: number };

const arbRStep: fc.Arbitrary<RStep> = fc.oneof(
  { weight: 12, arbitrary: arbStep() },
  { weight: 2, arbitrary: fc.constant({ mark: true as const }) },
  { weight: 1, arbitrary: fc.nat({ max: 6 }).map((cut) => ({ cut })) },
);

interface Built {
  readonly log: FakeLog;
  /** The same log with every cut replaced by a plain mark (cutAt 0). */
  readonly uncut: FakeLog;
}

/** Builds the log; cuts name a live mark (a cut with none becomes a plain mark). */
function build(steps: readonly RStep[]): Built {
  const log = new FakeLog();
  const uncut = new FakeLog();
  let term = 1;
  const live: number[] = [];
  const both = (s: Step): void => {
    log.append(s, term);
    uncut.append(s, term);
  };
  for (const s of [...SETUP, ...steps]) {
    if (s === 'raft-noop') {
      term++;
      both(s);
    } else if ('mark' in s || 'cut' in s) {
      const cutAt = 'cut' in s && live.length > 0 ? live[s.cut % live.length] : 0;
      if (cutAt > 0) live.splice(0, live.indexOf(cutAt) + 1);
      live.push(log.entries.length + 1);
      log.append({ kind: 'retain', cutAt, atMs: 1000 + log.entries.length }, term);
      uncut.append({ kind: 'retain', cutAt: 0, atMs: 1000 + uncut.entries.length }, term);
    } else if ('conf' in s || s.kind !== 'retain') {
      both(s);
    }
  }
  return { log, uncut };
}

/** Every message of every queue from `from(topic, queue)`, and the queue bounds. */
function readAll(sm: BrokerStateMachine, from: (topic: string, q: number) => number): string {
  const out: unknown[] = [sm.appliedIndex, sm.listTopics()];
  for (const { topic, queues } of sm.listTopics()) {
    for (let q = 0; q < queues; q++) {
      const bounds = sm.queueBounds(topic, q);
      const messages: unknown[] = [];
      for (let o = from(topic, q); o < bounds.maxOffset; ) {
        const r = sm.pull(topic, q, o, PULL_COUNT_MAX, 1 << 30);
        for (const m of r.messages) messages.push([m.queueOffset, m.msgId, m.logIndex, Buffer.from(m.body).toString('hex')]);
        if (r.nextOffset === o) break;
        o = r.nextOffset;
      }
      out.push([topic, q, bounds.maxOffset, messages]);
    }
  }
  for (const group of GROUPS) for (const topic of TOPICS) for (let q = 0; q < 6; q++) out.push(sm.queryOffset(group, topic, q));
  return JSON.stringify(out);
}

function applyAll(sm: BrokerStateMachine, entries: readonly ApplyEntry[]): void {
  for (const e of entries) sm.apply(e);
}

t.test('a cut drops the same prefix of every queue: minOffset is where the first retained entry starts, and nothing at or after it changes', async (t) => {
  let runsWithCuts = 0;
  fc.assert(
    fc.property(fc.array(arbRStep, { minLength: 5, maxLength: 80 }), (steps) => {
      const { log, uncut } = build(steps);
      const sm = new BrokerStateMachine(log.options());
      const model = new BrokerStateMachine(uncut.options());
      applyAll(sm, log.entries);
      applyAll(model, uncut.entries);
      const retainedFrom = sm.retainedFrom;
      if (retainedFrom > 1) runsWithCuts++;
      for (const { topic, queues } of sm.listTopics()) {
        for (let q = 0; q < queues; q++) {
          const bounds = sm.queueBounds(topic, q);
          const modelBounds = model.queueBounds(topic, q);
          if (bounds.maxOffset !== modelBounds.maxOffset) throw new Error(`${topic}/${q}: max ${bounds.maxOffset}, model ${modelBounds.maxOffset}`);
          // The model's messages below retainedFrom are exactly the ones cut.
          const below = model.pull(topic, q, 0, PULL_COUNT_MAX, 1 << 30).messages.filter((m) => m.logIndex < retainedFrom).length;
          if (bounds.minOffset !== below) throw new Error(`${topic}/${q}: minOffset ${bounds.minOffset}, ${below} messages are below the cut at ${retainedFrom}`);
          const early = sm.pull(topic, q, 0, 1, 1 << 30);
          if (bounds.minOffset > 0 && (early.messages.length !== 0 || early.nextOffset !== bounds.minOffset)) throw new Error('a pull below minOffset must answer minOffset');
        }
      }
      const from = (topic: string, q: number): number => sm.queueBounds(topic, q).minOffset;
      if (readAll(sm, from) !== readAll(model, from)) throw new Error('the retained messages differ from the uncut model');
    }),
    { numRuns: 200 },
  );
  t.ok(runsWithCuts >= 30, `${runsWithCuts} runs cut the log`);
});

/** The property: a machine restored from a mark snapshot, holding only the log after the mark,
 *  serves what a replica that applied everything serves, and ends with the same state. */
function restoreProperty(bugs: ReadonlySet<'mark-snapshot-uncut'> | undefined, counter: { restores: number }) {
  return fc.property(fc.array(arbRStep, { minLength: 5, maxLength: 80 }), fc.nat(), (steps, pick) => {
    const { log } = build(steps);
    const marks: MarkSnapshot[] = [];
    const original = new BrokerStateMachine(log.options(bugs === undefined ? {} : { testBugs: bugs }));
    original.onMark((m) => marks.push(m));
    applyAll(original, log.entries);
    const mark = marks[pick % marks.length];
    if (mark === undefined) return;
    // The cut at the mark, if no later cut passed it: from then on both must agree.
    if (original.retentionMarks.some((m) => m.index === mark.index)) {
      const cut = log.append({ kind: 'retain', cutAt: mark.index, atMs: 1 }, log.entries.at(-1)!.term);
      original.apply(cut);
    }
    // Entries up to the mark are gone from this replica's log.
    const restored = new BrokerStateMachine(log.options({ readEntry: (i) => (i <= mark.index ? undefined : log.readEntry(i)) }));
    restored.restore(decodeSnapshot(mark.bytes));
    if (restored.appliedIndex !== mark.index || restored.retainedFrom !== mark.index + 1) throw new Error('the mark snapshot is not at its mark');
    // Step by step beside a replica that applied everything: from its minOffset on, the
    // restored one serves exactly what that replica serves (it cannot serve below the mark).
    const beside = new BrokerStateMachine(log.options());
    applyAll(beside, log.entries.slice(0, mark.index));
    for (const e of log.entries.slice(mark.index)) {
      restored.apply(e);
      beside.apply(e);
      const from = (topic: string, q: number): number => restored.queueBounds(topic, q).minOffset;
      if (readAll(restored, from) !== readAll(beside, from)) throw new Error(`the restored machine (mark ${mark.index}) reads differently at ${e.index}`);
    }
    counter.restores++;
    if (Buffer.compare(Buffer.from(restored.serializeState()), Buffer.from(original.serializeState())) !== 0) throw new Error(`state bytes differ (mark ${mark.index})`);
  });
}

t.test('a machine restored from a mark snapshot, with the log after the mark only, ends as the one that applied everything', async (t) => {
  const counter = { restores: 0 };
  fc.assert(restoreProperty(undefined, counter), { numRuns: 200 });
  t.ok(counter.restores >= 50, `${counter.restores} restores from a mark`);
});

t.test('planted bug: a mark snapshot whose queues are not cut at the mark is found', async (t) => {
  const result = fc.check(restoreProperty(new Set(['mark-snapshot-uncut']), { restores: 0 }), { numRuns: 200 });
  t.ok(result.failed, `found: ${result.failed ? String((result.errorInstance as Error | undefined)?.message) : 'NOT found'} (seed ${result.seed})`);
});

t.test('a retain naming no mark is refused on every replica alike, and cuts nothing', async (t) => {
  const log = new FakeLog();
  log.append({ kind: 'retain', cutAt: 0, atMs: 1 });
  log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 1, messages: [{ body: Uint8Array.of(1) }] });
  const bad = log.append({ kind: 'retain', cutAt: 2, atMs: 2 });
  const sm = new BrokerStateMachine(log.options());
  applyAll(sm, log.entries.slice(0, 2));
  t.match(sm.apply(bad), { type: 'error', code: 'BAD_REQUEST', message: /2 is not a retention mark/ });
  t.equal(sm.retainedFrom, 1);
  t.throws(() => sm.prepareRetain(2, 5), { code: 'BAD_REQUEST' });
  t.same(sm.prepareRetain(1, 5), { kind: 'retain', cutAt: 1, atMs: 5 });
});

t.test('a durable machine deletes the checkpoint chunks below a cut, and reopens with the same minimum offsets', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-retention-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const C = CHECKPOINT_CHUNK_ENTRY_COUNT;
  const log = new FakeLog();
  const body = Uint8Array.of(7);
  const send = (): void => void log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 1, messages: Array.from({ length: 256 }, () => ({ body })) });
  for (let i = 0; i < (2 * C + 512) / 256; i++) send(); // 2.125 chunks
  const mark = log.append({ kind: 'retain', cutAt: 0, atMs: 1 }).index;
  for (let i = 0; i < C / 256; i++) send();
  let sm = await BrokerStateMachine.open(dir, log.options());
  applyAll(sm, log.entries);
  await sm.checkpoint(); // the chunks go cold
  const cut = log.append({ kind: 'retain', cutAt: mark, atMs: 2 });
  sm.apply(cut);
  const bounds = sm.queueBounds('T', 0);
  t.same(bounds, { minOffset: 2 * C + 512, maxOffset: 3 * C + 512 });
  const before = readAll(sm, () => bounds.minOffset);
  await sm.close();
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  const keys = await db.keys({ gte: 'q:', lt: 'q;' }).all();
  await db.close();
  t.same(keys, ['q:T:0000:0000000002', 'q:T:0000:0000000003', 'q:T:0000:min'], 'the chunks wholly below minOffset are deleted');
  sm = await BrokerStateMachine.open(dir, log.options());
  t.same(sm.queueBounds('T', 0), bounds);
  t.equal(sm.retainedFrom, mark + 1);
  t.equal(readAll(sm, () => bounds.minOffset), before, 'the reopened machine serves the same messages');
  await sm.close();
});

t.test('a durable machine restored from a mark snapshot checkpoints and reopens as it was', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-retention-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = new FakeLog();
  for (let i = 0; i < 40; i++) log.append({ kind: 'sendBatch', topic: 'T', queueId: i % 2, storeTimestamp: 1, autoCreateQueues: 2, messages: Array.from({ length: 200 }, () => ({ body: Uint8Array.of(i) })) });
  let markSnapshot: MarkSnapshot | undefined;
  const source = new BrokerStateMachine(log.options());
  source.onMark((m) => (markSnapshot = m));
  applyAll(source, log.entries);
  source.apply(log.append({ kind: 'retain', cutAt: 0, atMs: 1 }));
  for (let i = 0; i < 3; i++) log.append({ kind: 'sendBatch', topic: 'T', queueId: 1, storeTimestamp: 2, autoCreateQueues: 2, messages: [{ body: Uint8Array.of(99) }] });
  applyAll(source, log.entries.slice(source.appliedIndex));
  let sm = await BrokerStateMachine.open(dir, log.options());
  applyAll(sm, log.entries.slice(0, 5)); // something to replace
  await sm.checkpoint();
  sm.restore(decodeSnapshot(markSnapshot!.bytes));
  applyAll(sm, log.entries.slice(markSnapshot!.index));
  await sm.close();
  sm = await BrokerStateMachine.open(dir, log.options());
  t.same(sm.queueBounds('T', 0), { minOffset: 4000, maxOffset: 4000 });
  t.same(sm.queueBounds('T', 1), { minOffset: 4000, maxOffset: 4003 });
  t.same(sm.pull('T', 1, 0, 10, 1 << 20).nextOffset, 4000);
  t.same(sm.pull('T', 1, 4000, 10, 1 << 20).messages.map((m) => m.body[0]), [99, 99, 99]);
  await sm.close();
});

t.test('a snapshot restored while the key index is being refilled after a start drops the refill (its log is going away)', async (t) => {
  const log = new FakeLog();
  let mark: MarkSnapshot | undefined;
  const source = new BrokerStateMachine(log.options({ keyIndexCapacity: 100 }));
  source.onMark((m) => (mark = m));
  for (let i = 0; i < 5; i++) source.apply(log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 1, messages: [{ body: Uint8Array.of(i), keys: `k${i}` }] }));
  source.apply(log.append({ kind: 'retain', cutAt: 0, atMs: 1 }));
  // A replica restarted at its checkpoint of index 3: its key index is empty until refilled.
  const atThree = new BrokerStateMachine(log.options());
  applyAll(atThree, log.entries.slice(0, 3));
  const restarted = new BrokerStateMachine(log.options({ keyIndexCapacity: 100 }));
  restarted.restore(atThree.snapshot());
  const rebuild = restarted.startKeyIndexRebuild((from) => log.entries.slice(from - 1, from).map((e) => ({ index: e.index, type: e.type, data: e.data })), 1, 1 << 20);
  t.ok(rebuild !== undefined && restarted.keyIndexRebuilding, 'a refill is running');
  restarted.restore(decodeSnapshot(mark!.bytes));
  t.notOk(restarted.keyIndexRebuilding, 'the restore dropped it');
  t.same(restarted.messagesByKey('T', 'k1', 5), [], 'and lookups answer (nothing below the mark), not OVERLOADED');
});
