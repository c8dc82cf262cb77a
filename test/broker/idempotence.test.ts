// Property: idempotent producers send batches and retry earlier ones at random (some within
// their window, some long after it), now and then a topic is deleted, while one replica is
// restored from a snapshot and another is checkpointed, crashed and restarted in the middle.
// Every replica answers every entry alike and ends with the same state digest; a retry within
// the window never stores a second copy and gets the first result (one past it is stored
// again); queue offsets stay dense. A planted bug (restores forget the windows) must be found.
// The seed is printed; SEED=<n> replays it.
import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BrokerStateMachine, decodeCommand, decodeSnapshot, encodeSnapshot, type ApplyResult, type BrokerStateMachineOptions, type SendBatchCommand } from '../../src/broker/index.ts';
import { IDEMPOTENCE_WINDOW_BATCHES, type SendBatchResult } from '../../src/protocol/index.ts';
import { FakeLog, offsetHoles } from './harness.ts';

const PRODUCERS = ['p0', 'host@2:p1'];
const TOPICS = ['T', 'U'];
const QUEUES = 2;

type Action = 'restore' | 'checkpoint' | 'crash' | 'close';
type Step =
  | { readonly kind: 'send'; readonly hot: boolean; readonly producer: number; readonly topic: number; readonly queue: number; readonly count: number }
  /** `old`: among the first third of the sends (more likely past its window). */
  | { readonly kind: 'retry'; readonly pick: number; readonly old: boolean }
  | { readonly kind: 'deleteU' }
  | { readonly kind: 'noop' }
  | { readonly kind: 'action'; readonly action: Action };

// Two sends in three go to one hot (producer, queue) pair, so its window overflows and retries land
// both within it and past it.
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({ kind: fc.constant('send' as const), hot: fc.constantFrom(true, true, false), producer: fc.nat({ max: PRODUCERS.length - 1 }), topic: fc.nat({ max: TOPICS.length - 1 }), queue: fc.nat({ max: QUEUES - 1 }), count: fc.integer({ min: 1, max: 4 }) }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('retry' as const), pick: fc.nat(), old: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'noop' as const }) },
  { weight: 1, arbitrary: fc.constantFrom<Step>({ kind: 'deleteU' }, { kind: 'noop' }, { kind: 'noop' }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('action' as const), action: fc.constantFrom<Action>('restore', 'checkpoint', 'crash', 'close') }) },
);
const arbSteps = fc.array(arbStep, { minLength: 20, maxLength: 200, size: 'max' });

interface Built {
  readonly log: FakeLog;
  /** Replica actions, each after the entry count it names. */
  readonly actions: readonly { readonly at: number; readonly action: Action }[];
}

/** The log the steps make: sends take the producer's next seqs on their queue, retries resend an
 *  earlier send unchanged (but the new master's timestamp). */
function build(steps: readonly Step[]): Built {
  const log = new FakeLog();
  for (const topic of TOPICS) log.append({ kind: 'createTopic', topic, queues: QUEUES });
  const nextSeq = new Map<string, number>();
  const sent: SendBatchCommand[] = [];
  const actions: { at: number; action: Action }[] = [];
  for (const s of steps) {
    if (s.kind === 'action') actions.push({ at: log.entries.length, action: s.action });
    else if (s.kind === 'noop') log.append('raft-noop');
    else if (s.kind === 'deleteU') log.append({ kind: 'deleteTopic', topic: 'U' });
    else if (s.kind === 'retry') {
      const from = s.old ? Math.ceil(sent.length / 3) : sent.length;
      if (sent.length > 0) log.append({ ...sent[s.pick % from]!, storeTimestamp: 1000 + log.entries.length });
    } else {
      const [producer, topic, queue] = s.hot ? [0, 0, 0] : [s.producer, s.topic, s.queue];
      const producerId = PRODUCERS[producer]!;
      const pair = `${TOPICS[topic]}/${queue}/${producerId}`;
      const seq = nextSeq.get(pair) ?? 0;
      nextSeq.set(pair, seq + s.count);
      const messages = Array.from({ length: s.count }, (_, i) => ({ body: Buffer.from(`${pair}#${seq + i}`) }));
      const cmd: SendBatchCommand = { kind: 'sendBatch', topic: TOPICS[topic]!, queueId: queue, storeTimestamp: 1000 + log.entries.length, autoCreateQueues: QUEUES, producerId, seq, messages };
      sent.push(cmd);
      log.append(cmd);
    }
  }
  return { log, actions };
}

interface Counts {
  withinWindow: number;
  pastWindow: number;
  restores: number;
  restarts: number;
}

/** The specification of the window, as a model: per (topic, queue, producer) the last
 *  IDEMPOTENCE_WINDOW_BATCHES batches stored. Checks each send's result against it. */
function checkAgainstModel(log: FakeLog, results: readonly ApplyResult[], counts: Counts): void {
  const windows = new Map<string, { firstSeq: number; batch: SendBatchResult }[]>();
  log.entries.forEach((e, i) => {
    if (e.type !== 0) return;
    const cmd = decodeCmd(e.data);
    if (cmd === 'deleteU') {
      for (const key of [...windows.keys()]) if (key.startsWith('U/')) windows.delete(key);
      return;
    }
    if (cmd === undefined) return;
    const r = results[i]!;
    if (r.type !== 'sendResult') throw new Error(`entry ${e.index}: ${JSON.stringify(r)}`);
    const key = `${cmd.topic}/${cmd.queueId}/${cmd.producerId}`;
    const window = windows.get(key) ?? [];
    const held = window.find((b) => b.firstSeq === cmd.seq);
    if (held !== undefined) {
      counts.withinWindow++;
      if (r.duplicate !== true || JSON.stringify(r.batch) !== JSON.stringify(held.batch)) {
        throw new Error(`entry ${e.index}: a retry within the window got ${JSON.stringify(r)}, not the first result ${JSON.stringify(held.batch)}`);
      }
      return;
    }
    if (r.duplicate === true) throw new Error(`entry ${e.index}: answered as a duplicate, but its window does not hold seq ${cmd.seq}`);
    if (r.batch.logIndex !== e.index) throw new Error(`entry ${e.index}: stored at ${r.batch.logIndex}`);
    if (isRetry(log, i)) counts.pastWindow++;
    window.push({ firstSeq: cmd.seq!, batch: r.batch });
    if (window.length > IDEMPOTENCE_WINDOW_BATCHES) window.shift();
    windows.set(key, window);
  });
}

function decodeCmd(data: Uint8Array): SendBatchCommand | 'deleteU' | undefined {
  const cmd = decodeCommand(data);
  if (cmd.kind === 'deleteTopic') return 'deleteU';
  return cmd.kind === 'sendBatch' ? cmd : undefined;
}

/** Whether the send at entries[i] repeats an earlier one (same producer, queue and seq). */
function isRetry(log: FakeLog, i: number): boolean {
  const cmd = decodeCmd(log.entries[i]!.data) as SendBatchCommand;
  return log.entries.slice(0, i).some((e) => {
    if (e.type !== 0) return false;
    const c = decodeCmd(e.data);
    return typeof c === 'object' && c.topic === cmd.topic && c.queueId === cmd.queueId && c.producerId === cmd.producerId && c.seq === cmd.seq;
  });
}

type Bugs = BrokerStateMachineOptions['testBugs'];

/** The property: replica A applies the log; B is restored from its own snapshot at each
 *  'restore'; C is a durable replica checkpointed, crashed or closed and reopened. */
function property(root: string, bugs: Bugs, counts: Counts) {
  let run = 0;
  return fc.asyncProperty(arbSteps, async (steps) => {
    const { log, actions } = build(steps);
    const options = log.options(bugs === undefined ? {} : { testBugs: bugs });
    const a = new BrokerStateMachine(log.options());
    const expected = log.entries.map((e) => a.apply(e));
    checkAgainstModel(log, expected, counts);
    const holes = offsetHoles(log.entries, expected);
    if (holes !== 0) throw new Error(`${holes} sends whose queue offsets are not dense`);

    let b = new BrokerStateMachine(options);
    const dir = path.join(root, `run-${run++}`);
    let c = await BrokerStateMachine.open(dir, options);
    const applyUpTo = (sm: BrokerStateMachine, n: number, who: string): void => {
      while (sm.appliedIndex < n) {
        const e = log.entries[sm.appliedIndex]!;
        const got = JSON.stringify(sm.apply(e));
        if (got !== JSON.stringify(expected[e.index - 1])) throw new Error(`${who}: entry ${e.index} answered ${got}, replica A ${JSON.stringify(expected[e.index - 1])}`);
      }
    };
    try {
      for (const { at, action } of actions) {
        applyUpTo(b, at, 'B');
        applyUpTo(c, at, 'C');
        if (action === 'restore') {
          const restored = new BrokerStateMachine(options);
          restored.restore(decodeSnapshot(encodeSnapshot(b.snapshot())));
          b = restored;
          counts.restores++;
        } else if (action === 'checkpoint') {
          await c.checkpoint();
        } else {
          await c.close({ checkpoint: action === 'close' });
          c = await BrokerStateMachine.open(dir, options);
          counts.restarts++;
        }
      }
      applyUpTo(b, log.entries.length, 'B');
      applyUpTo(c, log.entries.length, 'C (after its restarts)');
      const digest = Buffer.from(a.serializeState());
      if (!digest.equals(Buffer.from(b.serializeState()))) throw new Error('B (restored from snapshots) ends with another state digest');
      if (!digest.equals(Buffer.from(c.serializeState()))) throw new Error('C (restarted from checkpoints) ends with another state digest');
    } finally {
      await c.close();
    }
  });
}

const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);

t.test('replicas restored or restarted in the middle answer retries as the others do: within the window the first result, nothing stored twice', async (t) => {
  t.comment(`seed ${seed} (SEED=${seed} replays)`);
  const root = await mkdtemp(path.join(os.tmpdir(), 'raftmq-idempotence-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const counts: Counts = { withinWindow: 0, pastWindow: 0, restores: 0, restarts: 0 };
  await fc.assert(property(root, undefined, counts), { numRuns: 100, seed });
  t.ok(counts.withinWindow >= 200 && counts.pastWindow >= 20 && counts.restores >= 20 && counts.restarts >= 20, `retries within the window ${counts.withinWindow}, past it ${counts.pastWindow}; restores ${counts.restores}, restarts ${counts.restarts}`);
});

t.test('planted bug: restores that forget the producer windows are found', async (t) => {
  t.comment(`seed ${seed} (SEED=${seed} replays)`);
  const root = await mkdtemp(path.join(os.tmpdir(), 'raftmq-idempotence-bug-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const counts: Counts = { withinWindow: 0, pastWindow: 0, restores: 0, restarts: 0 };
  const result = await fc.check(property(root, new Set(['producer-windows-forgotten-on-restore']), counts), { numRuns: 60, seed });
  t.ok(result.failed, `found: ${result.failed ? String((result.errorInstance as Error | undefined)?.message) : 'NOT found'} (seed ${result.seed})`);
});
