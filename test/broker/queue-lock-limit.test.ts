// The queue lock table's bound: QUEUE_LOCK_COUNT_MAX locks. A full table still renews the locks it
// holds; a new lock is refused OVERLOADED (nothing changed) while every lock is fresh, and takes the
// room of the lapsed ones once some lapsed (every replica drops the same, at the entry's atMs).
// And a snapshot from before the table (format 3) restores with no locks.
import t from 'tap';
import { BrokerStateMachine, QUEUE_LOCK_COUNT_MAX, decodeSnapshot, encodeSnapshot, type Snapshot } from '../../src/broker/index.ts';
import { LOCK_BATCH_QUEUE_COUNT_MAX, QUEUE_LOCK_LIFETIME_MS, TOPIC_QUEUE_COUNT_MAX } from '../../src/protocol/index.ts';
import { FakeLog } from './harness.ts';

const ALL_QUEUES = Array.from({ length: TOPIC_QUEUE_COUNT_MAX }, (_, queueId) => ({ topic: 'T', queueId }));
const GROUP_COUNT = QUEUE_LOCK_COUNT_MAX / TOPIC_QUEUE_COUNT_MAX;

t.test('a full lock table renews, refuses new locks while all are fresh, and drops lapsed ones for room', async (t) => {
  t.equal(LOCK_BATCH_QUEUE_COUNT_MAX, TOPIC_QUEUE_COUNT_MAX, 'one request locks a whole topic here');
  const log = new FakeLog();
  const sm = new BrokerStateMachine(log.options());
  const run = (cmd: Parameters<FakeLog['append']>[0]) => sm.apply(log.append(cmd));
  run({ kind: 'createTopic', topic: 'T', queues: TOPIC_QUEUE_COUNT_MAX });
  const t0 = 1_000_000;
  // Half the groups lock at t0, the other half a lifetime later (so they lapse later).
  let granted = 0;
  for (let g = 0; g < GROUP_COUNT; g++) {
    const atMs = g < GROUP_COUNT / 2 ? t0 : t0 + QUEUE_LOCK_LIFETIME_MS;
    const r = run({ kind: 'lockQueues', group: `g${g}`, clientId: 'c1', atMs, queues: ALL_QUEUES });
    granted += r.type === 'lockedQueues' ? r.queues.length : 0;
  }
  t.equal(granted, QUEUE_LOCK_COUNT_MAX, 'every lock granted');
  t.equal(sm.queueLockCount, QUEUE_LOCK_COUNT_MAX, 'full');

  const fresh = t0 + QUEUE_LOCK_LIFETIME_MS;
  t.match(run({ kind: 'lockQueues', group: 'extra', clientId: 'c2', atMs: fresh, queues: [{ topic: 'T', queueId: 0 }] }), { type: 'error', code: 'OVERLOADED' }, 'every lock fresh: a new one is refused');
  t.equal(sm.queueLockCount, QUEUE_LOCK_COUNT_MAX, 'and nothing changed');
  t.same(run({ kind: 'lockQueues', group: 'g0', clientId: 'c1', atMs: fresh, queues: [{ topic: 'T', queueId: 7 }] }), { type: 'lockedQueues', queues: [{ topic: 'T', queueId: 7 }] }, 'a renewal needs no room');
  t.same(run({ kind: 'lockQueues', group: 'g0', clientId: 'c2', atMs: fresh + 1, queues: [{ topic: 'T', queueId: 8 }] }), { type: 'lockedQueues', queues: [{ topic: 'T', queueId: 8 }] }, 'taking over a lapsed lock needs no room either');

  // The first half lapsed (but g0's queues 7 and 8), the second half has not.
  const later = t0 + QUEUE_LOCK_LIFETIME_MS + 1;
  const before = new BrokerStateMachine(log.options());
  before.restore(decodeSnapshot(encodeSnapshot(sm.snapshot())));
  t.same(run({ kind: 'lockQueues', group: 'extra', clientId: 'c2', atMs: later, queues: [{ topic: 'T', queueId: 0 }] }), { type: 'lockedQueues', queues: [{ topic: 'T', queueId: 0 }] }, 'room made of the lapsed locks');
  t.equal(sm.queueLockCount, (GROUP_COUNT / 2) * TOPIC_QUEUE_COUNT_MAX + 2 + 1, 'the lapsed ones went, the fresh ones and the renewed two stayed');
  t.same(sm.queueLock('g0', 'T', 7), { clientId: 'c1', lockedAtMs: fresh });
  t.equal(sm.queueLock('g0', 'T', 0), undefined);
  t.same(sm.queueLock(`g${GROUP_COUNT - 1}`, 'T', 5), { clientId: 'c1', lockedAtMs: t0 + QUEUE_LOCK_LIFETIME_MS });
  // A replica restored before that entry applies it alike.
  before.apply(log.entries[log.entries.length - 1]!);
  t.ok(Buffer.from(before.serializeState()).equals(Buffer.from(sm.serializeState())), 'a restored replica drops the same locks');
});

t.test('a snapshot of format 3 (before the queue locks) restores, with no locks', async (t) => {
  const log = new FakeLog();
  const sm = new BrokerStateMachine(log.options());
  sm.apply(log.append({ kind: 'createTopic', topic: 'T', queues: 2 }));
  const { queueLocks: _, ...older } = sm.snapshot().tables;
  const bytes = encodeSnapshot({ ...sm.snapshot(), formatVersion: 3, tables: older } as unknown as Snapshot);
  const restored = new BrokerStateMachine(log.options());
  restored.restore(decodeSnapshot(bytes));
  t.same(Buffer.from(restored.serializeState()), Buffer.from(sm.serializeState()));
  t.equal(restored.queueLockCount, 0);
});
