// Property: producers send delayed messages at random levels (and some not delayed) while masters
// in turn look at the delay levels and propose deliveries from their own, possibly lagging,
// applied state; now and then the master fails over to a replica restored from a snapshot or
// restarted from its checkpoint, which may propose again a delivery its predecessor already got
// committed. Every replica ends with the same state digest; every delayed message is delivered
// exactly once, to the queue it was sent to, never before its delay by the entries' timestamps;
// queue offsets stay dense. A planted bug (apply skips the `from` check) must be found.
// The seed is printed; SEED=<n> replays it.
import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  BrokerStateMachine,
  decodeCommand,
  decodeSnapshot,
  encodeSnapshot,
  formatMessageDelayLevel,
  lookAtLevel,
  parseConfig,
  parseMessageDelayLevel,
  renderConfig,
  requestedDelayLevel,
  routeDelayed,
  type ApplyResult,
  type BrokerStateMachineOptions,
} from '../../src/broker/index.ts';
import { PROPERTY_DELAY_TIME_LEVEL, PROPERTY_REAL_QUEUE_ID, PROPERTY_REAL_TOPIC } from '../../src/protocol/index.ts';
import { FakeLog, Harness, offsetHoles } from './harness.ts';

/** Delay of each level (ms of the test's clock). */
const DELAYS = [10, 30, 60];
const QUEUES = 2;

type Step =
  /** level 0: not delayed; above DELAYS.length: the last level. */
  | { readonly kind: 'send'; readonly level: number; readonly queue: number; readonly count: number }
  | { readonly kind: 'tick'; readonly ms: number }
  /** The master applies up to `entries` more of the log (it lags until it does). */
  | { readonly kind: 'catchUp'; readonly entries: number }
  | { readonly kind: 'deliver'; readonly level: number }
  /** A new master: a replica `lag` entries behind the log, restored from its snapshot or
   *  restarted from its checkpoint. */
  | { readonly kind: 'failover'; readonly from: 'snapshot' | 'checkpoint'; readonly lag: number };

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), level: fc.nat({ max: DELAYS.length + 1 }), queue: fc.nat({ max: QUEUES - 1 }), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.nat({ max: 40 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('catchUp' as const), entries: fc.nat({ max: 6 }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), level: fc.integer({ min: 1, max: DELAYS.length }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('failover' as const), from: fc.constantFrom<'snapshot' | 'checkpoint'>('snapshot', 'checkpoint'), lag: fc.nat({ max: 8 }) }) },
);
const arbSteps = fc.array(arbStep, { minLength: 20, maxLength: 150, size: 'max' });

interface Sent {
  readonly topic: string;
  readonly queueId: number;
  readonly level: number;
  readonly storeTimestamp: number;
}

interface Counts {
  delayed: number;
  reproposalsRefused: number;
  failovers: number;
}

type Bugs = BrokerStateMachineOptions['testBugs'];

function applyUpTo(sm: BrokerStateMachine, log: FakeLog, n: number): void {
  while (sm.appliedIndex < Math.min(n, log.entries.length)) sm.apply(log.entries[sm.appliedIndex]!);
}

/** Every delivered batch (a send with schedule fields the reference applied) per message body,
 *  checked against what was sent. Throws on a message delivered twice, early, elsewhere, or
 *  never. */
function checkDeliveries(log: FakeLog, results: readonly ApplyResult[], sent: ReadonlyMap<string, Sent>, counts: Counts): void {
  const delivered = new Map<string, number>();
  log.entries.forEach((e, i) => {
    if (e.type !== 0) return;
    const cmd = decodeCommand(e.data);
    if (cmd.kind !== 'sendBatch' || cmd.schedule === undefined) return;
    const r = results[i]!;
    if (r.type === 'error') {
      counts.reproposalsRefused++;
      return;
    }
    if (r.type !== 'sendResult') throw new Error(`entry ${e.index}: ${JSON.stringify(r)}`);
    for (const m of cmd.messages) {
      const body = Buffer.from(m.body).toString();
      const s = sent.get(body);
      if (s === undefined || s.level === 0) throw new Error(`entry ${e.index} delivers ${body}, which was not sent delayed`);
      if (delivered.has(body)) throw new Error(`${body} delivered twice: entries ${delivered.get(body)} and ${e.index}`);
      delivered.set(body, e.index);
      if (cmd.topic !== s.topic || cmd.queueId !== s.queueId) throw new Error(`${body} sent to ${s.topic}/${s.queueId}, delivered to ${cmd.topic}/${cmd.queueId}`);
      const delay = DELAYS[Math.min(s.level, DELAYS.length) - 1]!;
      if (cmd.storeTimestamp < s.storeTimestamp + delay) throw new Error(`${body} delivered at ${cmd.storeTimestamp}, before ${s.storeTimestamp} + ${delay}`);
      for (const p of [PROPERTY_DELAY_TIME_LEVEL, PROPERTY_REAL_TOPIC, PROPERTY_REAL_QUEUE_ID]) {
        if (m.properties?.[p] !== undefined) throw new Error(`${body} delivered with property ${p}`);
      }
    }
  });
  for (const [body, s] of sent) {
    if (s.level > 0 && !delivered.has(body)) throw new Error(`${body} (level ${s.level}) never delivered`);
  }
}

function property(root: string, bugs: Bugs, counts: Counts) {
  let run = 0;
  return fc.asyncProperty(arbSteps, async (steps) => {
    const log = new FakeLog();
    const options = log.options(bugs === undefined ? {} : { testBugs: bugs });
    log.append({ kind: 'createTopic', topic: 'T', queues: QUEUES });
    let now = 1_000_000;
    const sent = new Map<string, Sent>();
    let master = new BrokerStateMachine(options);
    // B: an in-memory replica that snapshots; C: a durable one that checkpoints and restarts.
    const b = new BrokerStateMachine(options);
    const dir = path.join(root, `run-${run++}`);
    // Opened at its first restart (a LevelDB store per run costs more than the rest of it).
    let c: BrokerStateMachine | undefined;
    const opened: BrokerStateMachine[] = [];
    const deliver = (level: number): boolean => {
      const look = lookAtLevel(master, level, DELAYS[level - 1]!, now, 0);
      if (look.proposal === null) return false;
      log.append(look.proposal);
      return true;
    };
    try {
      for (const s of steps) {
        if (s.kind === 'tick') now += s.ms;
        else if (s.kind === 'catchUp') applyUpTo(master, log, master.appliedIndex + s.entries);
        else if (s.kind === 'deliver') deliver(s.level);
        else if (s.kind === 'send') {
          applyUpTo(master, log, 1);
          const bodies = Array.from({ length: s.count }, (_, i) => `m${sent.size + i}`);
          const messages = bodies.map((body) => ({ body: Buffer.from(body), ...(s.level > 0 ? { properties: { [PROPERTY_DELAY_TIME_LEVEL]: String(s.level) } } : {}) }));
          const cmd = routeDelayed(master.prepareSend('T', s.queue, messages, now), DELAYS.length);
          for (const body of bodies) sent.set(body, { topic: 'T', queueId: s.queue, level: s.level, storeTimestamp: now });
          if (s.level > 0) counts.delayed += s.count;
          log.append(cmd);
        } else {
          counts.failovers++;
          const at = Math.max(master.appliedIndex, log.entries.length - s.lag);
          if (s.from === 'snapshot') {
            applyUpTo(b, log, at);
            master = new BrokerStateMachine(options);
            master.restore(decodeSnapshot(encodeSnapshot(b.snapshot())));
          } else {
            if (c === undefined) {
              c = await BrokerStateMachine.open(dir, options);
              opened.push(c);
            }
            applyUpTo(c, log, at);
            await c.checkpoint();
            await c.close({ checkpoint: false });
            c = await BrokerStateMachine.open(dir, options);
            opened.push(c);
            master = c;
          }
        }
      }
      // Drain: time passes, the master catches up and delivers until nothing is left.
      now += 10 * DELAYS.at(-1)!;
      for (let guard = 0; guard < 10_000; guard++) {
        applyUpTo(master, log, log.entries.length);
        let any = false;
        for (let level = 1; level <= DELAYS.length; level++) any = deliver(level) || any;
        if (!any) break;
      }
      const a = new BrokerStateMachine(options);
      const results = log.entries.map((e) => a.apply(e));
      checkDeliveries(log, results, sent, counts);
      const holes = offsetHoles(log.entries, results);
      if (holes !== 0) throw new Error(`${holes} sends whose queue offsets are not dense`);
      const digest = Buffer.from(a.serializeState());
      for (const [who, sm] of [['B', b], ['C', c ?? b], ['the master', master]] as const) {
        applyUpTo(sm, log, log.entries.length);
        if (!digest.equals(Buffer.from(sm.serializeState()))) throw new Error(`${who} ends with another state digest`);
      }
    } finally {
      for (const sm of opened) await sm.close({ checkpoint: false });
    }
  });
}

const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);

t.test('delayed messages are delivered exactly once, to their queue, never early, across failovers that re-propose deliveries', async (t) => {
  t.comment(`seed ${seed} (SEED=${seed} replays)`);
  const root = await mkdtemp(path.join(os.tmpdir(), 'raftmq-schedule-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const counts: Counts = { delayed: 0, reproposalsRefused: 0, failovers: 0 };
  await fc.assert(property(root, undefined, counts), { numRuns: 30, seed });
  t.comment(`delayed ${counts.delayed}, re-proposed deliveries refused ${counts.reproposalsRefused}, failovers ${counts.failovers}`);
  t.ok(counts.delayed >= 500 && counts.reproposalsRefused >= 20 && counts.failovers >= 30, `delayed ${counts.delayed}, re-proposed deliveries refused ${counts.reproposalsRefused}, failovers ${counts.failovers}`);
});

t.test('planted bug: apply that takes a delivery whatever the schedule offset is found', async (t) => {
  t.comment(`seed ${seed} (SEED=${seed} replays)`);
  const root = await mkdtemp(path.join(os.tmpdir(), 'raftmq-schedule-bug-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const counts: Counts = { delayed: 0, reproposalsRefused: 0, failovers: 0 };
  // Found is enough: no shrinking (each shrink step replays a run with its LevelDB store).
  const result = await fc.check(property(root, new Set(['schedule-from-unchecked']), counts), { numRuns: 60, seed, endOnFailure: true });
  t.ok(result.failed, `found: ${result.failed ? String((result.errorInstance as Error | undefined)?.message) : 'NOT found'} (seed ${result.seed})`);
});

t.test('messageDelayLevel: units ms s m h d, written back in the largest unit; bad values named', async (t) => {
  t.same(parseMessageDelayLevel('1s 5s 2m 1h 1d 250ms'), [1000, 5000, 120_000, 3_600_000, 86_400_000, 250]);
  t.equal(formatMessageDelayLevel([1000, 5000, 120_000, 3_600_000, 86_400_000, 250]), '1s 5s 2m 1h 1d 250ms');
  for (const bad of ['', '1x', '0s', '-1s', '31d', '1.5s', Array.from({ length: 65 }, () => '1s').join(' ')]) {
    t.type(parseMessageDelayLevel(bad), 'string', JSON.stringify(bad.slice(0, 20)));
  }
  const conf = 'dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913\ndLegerSelfId=n1\n';
  const cfg = parseConfig(`${conf}messageDelayLevel=500ms 2s 90s\n`);
  t.same(cfg.messageDelayLevel, [500, 2000, 90_000]);
  t.same(parseConfig(renderConfig(cfg)).messageDelayLevel, [500, 2000, 90_000], 'renders back as the same levels');
  t.throws(() => parseConfig(`${conf}messageDelayLevel=1s soon\n`), { name: 'ConfigError', message: /broker\.conf: messageDelayLevel "soon" is not a duration/ });
  t.equal(requestedDelayLevel(undefined, 3), 0);
  t.equal(requestedDelayLevel({ DELAY: '0' }, 3), 0);
  t.equal(requestedDelayLevel({ DELAY: '2' }, 3), 2);
  t.equal(requestedDelayLevel({ DELAY: '99' }, 3), 3, 'above the last level: the last level');
  t.throws(() => requestedDelayLevel({ DELAY: 'x' }, 3), /DELAY must be a delay level/);
});

t.test('the master skips delayed messages retention deleted, and runs whose real queue is gone; apply takes a skip only from the current offset', async (t) => {
  const h = new Harness();
  h.run({ kind: 'createTopic', topic: 'T', queues: 1 });
  const delayed = (body: string, topic = 'T') => routeDelayed(h.sm.prepareSend(topic, 0, [{ body: Buffer.from(body), properties: { DELAY: '1' } }], 1000), DELAYS.length);
  h.run(delayed('a'));
  h.run({ kind: 'retain', cutAt: 0, atMs: 1 });
  const mark = h.log.entries.length;
  h.run(delayed('b'));
  h.run({ kind: 'retain', cutAt: mark, atMs: 2 });
  t.same(h.sm.queueBounds('SCHEDULE_TOPIC_XXXX', 0), { minOffset: 1, maxOffset: 2 }, 'retention cut the first delayed message');
  const skip = lookAtLevel(h.sm, 1, DELAYS[0]!, 5000, 0).proposal;
  t.same(skip, { kind: 'scheduleSkip', level: 1, from: 0, to: 1 });
  t.same(h.run(skip!), { type: 'ok' });
  t.match(h.run(skip!), { type: 'error', code: 'BAD_REQUEST', message: /schedule offset is 1, not 0/ }, 'the same skip again is refused');
  const deliver = lookAtLevel(h.sm, 1, DELAYS[0]!, 5000, 0).proposal;
  t.match(deliver, { kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 5000, schedule: { level: 1, from: 1, to: 2 } });
  t.equal(lookAtLevel(h.sm, 1, DELAYS[0]!, 1000, 0).dueAtMs, 1000 + DELAYS[0]!, 'not due before its delay');
  h.run(deliver!);
  h.run(delayed('c', 'Gone'));
  t.same(lookAtLevel(h.sm, 1, DELAYS[0]!, 5000, 0).proposal, { kind: 'scheduleSkip', level: 1, from: 2, to: 3 }, 'a message whose topic does not exist (deleted, or never created) is skipped');
  t.match(lookAtLevel(h.sm, 1, DELAYS[0]!, 5000, 4).proposal, { kind: 'sendBatch', topic: 'Gone', autoCreateQueues: 4 }, 'unless the delivery may create it');
});
