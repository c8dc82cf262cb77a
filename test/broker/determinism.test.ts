import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ApplyResult } from '../../src/broker/index.ts';
import { BrokerStateMachine, CHECKPOINT_CHUNK_ENTRY_COUNT } from '../../src/broker/index.ts';
import { arbSteps, TOPICS } from './arbitraries.ts';
import { buildLog, FakeLog, offsetHoles } from './harness.ts';

/** Everything a consumer could read: every queue of every topic, pulled whole. */
function readAll(sm: BrokerStateMachine): unknown[] {
  const out: unknown[] = [];
  for (const { topic, queues } of sm.listTopics()) {
    for (let q = 0; q < queues; q++) {
      const r = sm.pull(topic, q, 0, 1024, 1 << 30);
      out.push([topic, q, r.maxOffset, r.messages.map((m) => [m.queueOffset, m.msgId, m.logIndex, m.storeTimestamp, m.keys, m.tags, m.properties, Buffer.from(m.body).toString('hex')])]);
    }
  }
  return out;
}

t.test('replicas fed the same entries produce the same results and the same state', async (t) => {
  fc.assert(
    fc.property(arbSteps, (steps) => {
      const log = buildLog(steps);
      const a = new BrokerStateMachine(log.options());
      // Local options differ: apply must not depend on them.
      const b = new BrokerStateMachine(log.options({ autoCreateTopicEnable: false, defaultTopicQueueNums: 16 }));
      const ra = log.entries.map((e) => a.apply(e));
      const rb = log.entries.map((e) => b.apply(e));
      t.same(rb, ra);
      t.same(Buffer.from(b.serializeState()), Buffer.from(a.serializeState()));
      t.same(readAll(b), readAll(a));
      // Queue offsets are dense per queue: each accepted send continues where its queue stood.
      t.equal(offsetHoles(log.entries, ra), 0);
    }),
    { numRuns: 150 },
  );
});


type Action = 'checkpoint' | 'checkpointNoWait' | 'crash' | 'close';

t.test('checkpoint, crash or restart, and replay give the same state as never restarting', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'raftmq-sm-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      arbSteps,
      fc.array(fc.record({ at: fc.nat({ max: 60 }), action: fc.constantFrom<Action>('checkpoint', 'checkpointNoWait', 'crash', 'close') }), { maxLength: 6 }),
      async (steps, schedule) => {
        const log = buildLog(steps);
        const ref = new BrokerStateMachine(log.options());
        const expected = log.entries.map((e) => ref.apply(e));
        const dir = path.join(root, `run-${run++}`);
        let sm = await BrokerStateMachine.open(dir, log.options());
        t.equal(sm.appliedIndex, 0);
        const got: ApplyResult[] = [];
        const applyUpTo = (n: number): void => {
          while (sm.appliedIndex < Math.min(n, log.entries.length)) {
            const e = log.entries[sm.appliedIndex];
            got[e.index - 1] = sm.apply(e);
            if (JSON.stringify(got[e.index - 1]) !== JSON.stringify(expected[e.index - 1])) t.fail(`entry ${e.index} applied differently after a restart`);
          }
        };
        let durable = 0;
        let pending: Promise<number> | undefined;
        try {
          for (const { at, action } of [...schedule].sort((x, y) => x.at - y.at)) {
            applyUpTo(at);
            if (action === 'checkpoint') {
              durable = await sm.checkpoint();
              t.equal(durable, sm.appliedIndex);
            } else if (action === 'checkpointNoWait') {
              pending = sm.checkpoint();
              applyUpTo(at + 3); // apply goes on while the batch is written
            } else {
              const before = sm.appliedIndex;
              await sm.close({ checkpoint: action === 'close' });
              if (pending !== undefined) durable = Math.max(durable, await pending);
              pending = undefined;
              if (action === 'close') durable = before;
              sm = await BrokerStateMachine.open(dir, log.options());
              t.equal(sm.appliedIndex, durable, `${action}: resumes after the last checkpoint`);
            }
          }
          applyUpTo(log.entries.length);
          t.same(got, expected);
          t.same(Buffer.from(sm.serializeState()), Buffer.from(ref.serializeState()));
          t.same(readAll(sm), readAll(ref));
        } finally {
          await sm.close();
        }
      },
    ),
    { numRuns: 40 },
  );
});

t.test('consume queues that span many checkpoint chunks restore exactly', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-sm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = new FakeLog();
  const ref = new BrokerStateMachine(log.options());
  let sm = await BrokerStateMachine.open(dir, log.options());
  const body = Uint8Array.of(7);
  const total = CHECKPOINT_CHUNK_ENTRY_COUNT * 2 + 500;
  let sent = 0;
  let batches = 0;
  while (sent < total) {
    const n = Math.min(1000, total - sent);
    const e = log.append({ kind: 'sendBatch', topic: TOPICS[0], queueId: 1, storeTimestamp: 5, autoCreateQueues: 4, messages: Array.from({ length: n }, () => ({ body })) });
    ref.apply(e);
    sm.apply(e);
    sent += n;
    if (++batches % 3 === 0) await sm.checkpoint(); // partial chunks get rewritten
  }
  await sm.checkpoint();
  const tail = log.append({ kind: 'sendBatch', topic: TOPICS[0], queueId: 1, storeTimestamp: 6, autoCreateQueues: 4, messages: [{ body }] });
  ref.apply(tail);
  sm.apply(tail);
  await sm.close({ checkpoint: false }); // crash: the tail is only in the log
  sm = await BrokerStateMachine.open(dir, log.options());
  t.equal(sm.appliedIndex, tail.index - 1);
  t.equal(sm.queueBounds(TOPICS[0], 1).maxOffset, total);
  const replayed = sm.apply(tail);
  t.equal(replayed.type === 'sendResult' && replayed.results[0].queueOffset, total, 'the replayed message gets the same offset');
  t.same(Buffer.from(sm.serializeState()), Buffer.from(ref.serializeState()));
  await sm.close();
});

/** `count` single-message sends to one queue, as a log. */
function sendLog(count: number): FakeLog {
  const log = new FakeLog();
  for (let i = 0; i < count; i++) {
    log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 1, messages: [{ body: Buffer.from(`m${i}`) }] });
  }
  return log;
}

t.test('checkpoint() takes its batch in the call: what is applied after it is not in it', async (t) => {
  // The replica relies on this to never checkpoint above its durable log (applyUnpersisted).
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-sm-snap-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = sendLog(10);
  let sm = await BrokerStateMachine.open(dir, log.options());
  for (const e of log.entries.slice(0, 5)) sm.apply(e);
  const pending = sm.checkpoint();
  for (const e of log.entries.slice(5)) sm.apply(e); // synchronously, before any microtask
  t.equal(await pending, 5, 'the checkpoint holds what was applied at the call');
  await sm.close({ checkpoint: false }); // a crash
  sm = await BrokerStateMachine.open(dir, log.options());
  t.equal(sm.appliedIndex, 5, 'a restart resumes after entry 5');
  t.equal(sm.queueBounds('T', 0).maxOffset, 5, 'with the queue as it was at entry 5');
  await sm.close();
});

t.test('a failed checkpoint write fails every later checkpoint (none may skip its changes)', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-sm-fail-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = sendLog(10);
  let sm = await BrokerStateMachine.open(dir, log.options());
  for (const e of log.entries.slice(0, 3)) sm.apply(e);
  t.equal(await sm.checkpoint(), 3);
  const db = (sm as unknown as { store: { db: { batch: (...args: unknown[]) => Promise<void> } } }).store.db;
  const realBatch = db.batch.bind(db);
  db.batch = async () => {
    throw new Error('injected: disk full');
  };
  for (const e of log.entries.slice(3, 6)) sm.apply(e);
  await t.rejects(sm.checkpoint(), /injected/, 'the write fails');
  db.batch = realBatch; // the disk is fine again
  for (const e of log.entries.slice(6)) sm.apply(e);
  await t.rejects(sm.checkpoint(), /injected/, 'a later checkpoint fails too: it would lack entries 4-6');
  await t.rejects(sm.close(), /injected/, 'close reports it');
  sm = await BrokerStateMachine.open(dir, log.options());
  t.equal(sm.appliedIndex, 3, 'a restart resumes after the last good checkpoint');
  await sm.close();
});
