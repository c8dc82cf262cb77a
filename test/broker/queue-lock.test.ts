// Property: members of two groups lock, renew and unlock queues at random (some release
// everything, as a member that left; time moves on, sometimes past the lock lifetime; a topic is
// deleted and created again), while one replica is restored from a snapshot (a failover: a new
// master) and another is checkpointed, crashed and restarted in the middle. A lock is granted
// only when the queue is free, already the caller's or lapsed, so two members never hold one
// queue with unexpired locks; every replica answers every entry alike and holds the same state
// at every restore and restart (a failover keeps every lock). Planted bugs (restores forget the
// locks; expiry compared the wrong way) must be found. SEED=<n> replays a run.
import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BrokerStateMachine, decodeCommand, decodeSnapshot, encodeSnapshot, type ApplyResult, type BrokerStateMachineOptions } from '../../src/broker/index.ts';
import { QUEUE_LOCK_LIFETIME_MS, type QueueRef } from '../../src/protocol/index.ts';
import { FakeLog } from './harness.ts';

const CLIENTS = ['10.0.0.1@a', '10.0.0.2@b', '10.0.0.3@c'];
const GROUPS = ['g1', 'g2'];
/** Queues locks are asked for: T has 3, U 2 (U is deleted and created again now and then). */
const QUEUES: readonly QueueRef[] = [
  { topic: 'T', queueId: 0 },
  { topic: 'T', queueId: 1 },
  { topic: 'T', queueId: 2 },
  { topic: 'U', queueId: 0 },
  { topic: 'U', queueId: 1 },
];

type Action = 'restore' | 'checkpoint' | 'crash' | 'close';
type Step =
  | { readonly kind: 'lock' | 'unlock'; readonly client: number; readonly group: number; readonly queues: readonly number[] }
  | { readonly kind: 'unlockAll'; readonly client: number; readonly group: number }
  /** The master's clock moves on by `ms`. */
  | { readonly kind: 'time'; readonly ms: number }
  | { readonly kind: 'deleteU' | 'createU' | 'noop' }
  | { readonly kind: 'action'; readonly action: Action };

const arbQueues = fc.uniqueArray(fc.nat({ max: QUEUES.length - 1 }), { minLength: 1, maxLength: 3 });
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('lock' as const), client: fc.nat({ max: CLIENTS.length - 1 }), group: fc.constantFrom(0, 0, 1), queues: arbQueues }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unlock' as const), client: fc.nat({ max: CLIENTS.length - 1 }), group: fc.constantFrom(0, 0, 1), queues: arbQueues }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unlockAll' as const), client: fc.nat({ max: CLIENTS.length - 1 }), group: fc.constantFrom(0, 0, 1) }) },
  // Mostly less than a lifetime; now and then past one (locks lapse), or exactly at its edge.
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('time' as const),
      ms: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 20_000 }) }, { weight: 1, arbitrary: fc.constantFrom(QUEUE_LOCK_LIFETIME_MS, QUEUE_LOCK_LIFETIME_MS + 1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * QUEUE_LOCK_LIFETIME_MS }) }),
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom<Step>({ kind: 'deleteU' }, { kind: 'createU' }, { kind: 'noop' }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('action' as const), action: fc.constantFrom<Action>('restore', 'checkpoint', 'crash', 'close') }) },
);
const arbSteps = fc.array(arbStep, { minLength: 20, maxLength: 150, size: 'max' });

interface Built {
  readonly log: FakeLog;
  readonly actions: readonly { readonly at: number; readonly action: Action }[];
}

function build(steps: readonly Step[]): Built {
  const log = new FakeLog();
  log.append({ kind: 'createTopic', topic: 'T', queues: 3 });
  log.append({ kind: 'createTopic', topic: 'U', queues: 2 });
  let nowMs = 1_000_000;
  const actions: { at: number; action: Action }[] = [];
  for (const s of steps) {
    if (s.kind === 'action') actions.push({ at: log.entries.length, action: s.action });
    else if (s.kind === 'time') nowMs += s.ms;
    else if (s.kind === 'noop') log.append('raft-noop');
    else if (s.kind === 'deleteU') log.append({ kind: 'deleteTopic', topic: 'U' });
    else if (s.kind === 'createU') log.append({ kind: 'createTopic', topic: 'U', queues: 2 });
    else if (s.kind === 'unlockAll') log.append({ kind: 'unlockAllQueues', group: GROUPS[s.group]!, clientId: CLIENTS[s.client]! });
    else if (s.kind === 'lock' || s.kind === 'unlock') {
      const queues = s.queues.map((i) => QUEUES[i]!);
      const common = { group: GROUPS[s.group]!, clientId: CLIENTS[s.client]!, queues };
      log.append(s.kind === 'lock' ? { kind: 'lockQueues', atMs: nowMs, ...common } : { kind: 'unlockQueues', ...common });
    }
  }
  return { log, actions };
}

interface Counts {
  granted: number;
  refusedHeld: number;
  takenOverLapsed: number;
  restores: number;
  restarts: number;
}

/** Every lock as (group, topic, queueId) -> holder, from a machine's reads. */
function locksOf(sm: BrokerStateMachine): string {
  const out: unknown[] = [];
  for (const group of GROUPS) {
    for (const q of QUEUES) out.push(sm.queueLock(group, q.topic, q.queueId) ?? null);
    for (const c of CLIENTS) out.push(sm.queueLocksOf(group, c));
  }
  return JSON.stringify(out);
}

/**
 * Replica A applies the log entry by entry. Before each lock entry its current locks are the
 * reference: a queue is granted exactly when it exists and is free, the caller's, or lapsed at the
 * entry's atMs (the specification, computed here, not by the table); so no lock of another member
 * that has not lapsed is ever taken.
 */
function checkLock(a: BrokerStateMachine, data: Uint8Array, result: ApplyResult, locksBefore: Map<string, { clientId: string; lockedAtMs: number } | undefined>, counts: Counts): void {
  const cmd = decodeCommand(data);
  if (cmd.kind !== 'lockQueues') return;
  if (result.type !== 'lockedQueues') throw new Error(`lock answered ${JSON.stringify(result)}`);
  const granted = new Set(result.queues.map((q) => `${q.topic}/${q.queueId}`));
  for (const q of cmd.queues) {
    const key = `${cmd.group}/${q.topic}/${q.queueId}`;
    const before = locksBefore.get(key);
    const exists = (a.topicQueueCount(q.topic) ?? 0) > q.queueId;
    const free = before === undefined || before.clientId === cmd.clientId || cmd.atMs - before.lockedAtMs > QUEUE_LOCK_LIFETIME_MS;
    const got = granted.has(`${q.topic}/${q.queueId}`);
    if (got !== (exists && free)) {
      throw new Error(`lock of ${key} by ${cmd.clientId} at ${cmd.atMs}: ${got ? 'granted' : 'refused'}, but it was held by ${JSON.stringify(before)} (lifetime ${QUEUE_LOCK_LIFETIME_MS})`);
    }
    const now = a.queueLock(cmd.group, q.topic, q.queueId);
    if (got && (now?.clientId !== cmd.clientId || now.lockedAtMs !== cmd.atMs)) throw new Error(`granted ${key} but the table holds ${JSON.stringify(now)}`);
    if (got) counts.granted++;
    if (got && before !== undefined && before.clientId !== cmd.clientId) counts.takenOverLapsed++;
    if (!got && exists) counts.refusedHeld++;
  }
}

function snapshotLocks(a: BrokerStateMachine): Map<string, { clientId: string; lockedAtMs: number } | undefined> {
  const m = new Map<string, { clientId: string; lockedAtMs: number } | undefined>();
  for (const group of GROUPS) for (const q of QUEUES) m.set(`${group}/${q.topic}/${q.queueId}`, a.queueLock(group, q.topic, q.queueId));
  return m;
}

type Bugs = BrokerStateMachineOptions['testBugs'];

function property(root: string, bugs: Bugs, counts: Counts) {
  let run = 0;
  return fc.asyncProperty(arbSteps, async (steps) => {
    const { log, actions } = build(steps);
    const options = log.options(bugs === undefined ? {} : { testBugs: bugs });
    // A runs with the bugs too: the reference check catches a bug in apply itself.
    const a = new BrokerStateMachine(options);
    const expected: ApplyResult[] = [];
    let b = new BrokerStateMachine(options);
    const dir = path.join(root, `run-${run++}`);
    let c = await BrokerStateMachine.open(dir, options);
    const applyAUpTo = (n: number): void => {
      while (a.appliedIndex < n) {
        const e = log.entries[a.appliedIndex]!;
        const before = snapshotLocks(a);
        const r = a.apply(e);
        expected.push(r);
        if (e.type === 0) checkLock(a, e.data, r, before, counts);
      }
    };
    const applyUpTo = (sm: BrokerStateMachine, n: number, who: string): void => {
      while (sm.appliedIndex < n) {
        const e = log.entries[sm.appliedIndex]!;
        const got = JSON.stringify(sm.apply(e));
        if (got !== JSON.stringify(expected[e.index - 1])) throw new Error(`${who}: entry ${e.index} answered ${got}, replica A ${JSON.stringify(expected[e.index - 1])}`);
      }
    };
    const same = (sm: BrokerStateMachine, who: string): void => {
      if (locksOf(sm) !== locksOf(a)) throw new Error(`${who} at ${sm.appliedIndex} holds other locks than A: ${locksOf(sm)} against ${locksOf(a)}`);
      if (!Buffer.from(sm.serializeState()).equals(Buffer.from(a.serializeState()))) throw new Error(`${who} at ${sm.appliedIndex}: another state digest than A`);
    };
    try {
      for (const { at, action } of actions) {
        applyAUpTo(at);
        applyUpTo(b, at, 'B');
        applyUpTo(c, at, 'C');
        if (action === 'restore') {
          const restored = new BrokerStateMachine(options);
          restored.restore(decodeSnapshot(encodeSnapshot(b.snapshot())));
          b = restored;
          same(b, 'B (restored from a snapshot)');
          counts.restores++;
        } else if (action === 'checkpoint') {
          await c.checkpoint();
        } else {
          await c.close({ checkpoint: action === 'close' });
          c = await BrokerStateMachine.open(dir, options);
          // A crash loses what was not checkpointed: C replays it and must then be A again.
          applyUpTo(c, at, 'C (replaying after its restart)');
          same(c, 'C (restarted from its checkpoint)');
          counts.restarts++;
        }
      }
      applyAUpTo(log.entries.length);
      applyUpTo(b, log.entries.length, 'B');
      applyUpTo(c, log.entries.length, 'C (after its restarts)');
      same(b, 'B');
      same(c, 'C');
    } finally {
      await c.close();
    }
  });
}

const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);

t.test('a queue lock is granted only when free, the caller\'s or lapsed, and every replica, restored or restarted, holds the same locks', async (t) => {
  t.comment(`seed ${seed} (SEED=${seed} replays)`);
  const root = await mkdtemp(path.join(os.tmpdir(), 'raftmq-queue-lock-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const counts: Counts = { granted: 0, refusedHeld: 0, takenOverLapsed: 0, restores: 0, restarts: 0 };
  await fc.assert(property(root, undefined, counts), { numRuns: 50, seed });
  t.ok(counts.granted >= 300 && counts.refusedHeld >= 100 && counts.takenOverLapsed >= 20 && counts.restores >= 20 && counts.restarts >= 20, `granted ${counts.granted}, refused (held by another) ${counts.refusedHeld}, taken over after lapsing ${counts.takenOverLapsed}; restores ${counts.restores}, restarts ${counts.restarts}`);
});

for (const bug of ['queue-locks-forgotten-on-restore', 'queue-lock-expiry-reversed'] as const) {
  t.test(`planted bug ${bug} is found`, async (t) => {
    t.comment(`seed ${seed} (SEED=${seed} replays)`);
    const root = await mkdtemp(path.join(os.tmpdir(), 'raftmq-queue-lock-bug-'));
    t.teardown(() => rm(root, { recursive: true, force: true }));
    const counts: Counts = { granted: 0, refusedHeld: 0, takenOverLapsed: 0, restores: 0, restarts: 0 };
    const result = await fc.check(property(root, new Set([bug]), counts), { numRuns: 60, seed });
    t.ok(result.failed, `found: ${result.failed ? String((result.errorInstance as Error | undefined)?.message).slice(0, 300) : 'NOT found'} (seed ${result.seed})`);
  });
}
