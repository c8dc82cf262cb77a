// The consumer-group checker (src/chaos/consume-check.ts) must fire on histories that break each
// rule and stay quiet on correct ones. Hand-made cases per rule, then a property test: a simulated
// correct group (members, rebalances, failures retried through the retry topic or in place, dead
// letters) passes, and the same run with one planted bug is caught.
// Replay: SEED=<seed> npx tap test/chaos/consume-check.test.ts
import fc from 'fast-check';
import t from 'tap';
import { checkConsumers, checkHistory, queueName, renderReport, summaryLine, type ConsumeEvent, type HistoryEvent } from '../../src/chaos/index.ts';

const SEED = process.env.SEED !== undefined ? Number(process.env.SEED) : Date.now() % 2 ** 31;
const G = 'G';
const TOPIC = 'T';
const Q = (id: number): string => queueName('b', TOPIC, id);
const RETRY_Q = queueName('b', `%RETRY%${G}`, 0);

function ev(t: number, client: string, rest: Omit<ConsumeEvent, 't' | 'wall' | 'client' | 'op' | 'consumerGroup'>): ConsumeEvent {
  return { t, wall: t, client, op: 'consume', consumerGroup: G, ...rest };
}
const join = (t: number, m: string, orderly = false, max = 2): ConsumeEvent => ev(t, m, { type: 'join', topic: TOPIC, orderly, maxReconsumeTimes: max });
const rebalance = (t: number, m: string, queues: string[]): ConsumeEvent => ev(t, m, { type: 'rebalance', queues });
const dlq = (t: number, id: string): ConsumeEvent => ev(t, 'checker', { type: 'dlq', id });
function call(m: string, id: string, start: number, end: number, queue: string, o: number, rc = 0, ok = true, key?: string): ConsumeEvent {
  return ev(end, m, { type: 'call', id, queue, queueOffset: o, startT: start, reconsumeTimes: rc, result: ok ? 'success' : 'fail', ...(key !== undefined ? { key } : {}) });
}
const acked = (...ids: string[]) => ids.map((id) => ({ id, topic: TOPIC }));
const SETTLE = { settleMs: 5 };

t.test('no consume events: no consumer result', async (t) => {
  t.equal(checkConsumers([], acked('a')), null);
});

t.test('a clean group passes', async (t) => {
  const r = checkConsumers([join(0, 'm1'), join(0, 'm2'), call('m1', 'a', 1000, 1010, Q(0), 0), call('m2', 'b', 1005, 1015, Q(1), 0)], acked('a', 'b'), SETTLE)!;
  t.ok(r.ok);
  t.equal(r.groups[0]!.consumed, 2);
});

t.test('two members on one queue at once, far from any rebalance, is a finding', async (t) => {
  const events = [join(0, 'm1'), join(0, 'm2'), call('m1', 'a', 1000, 1010, Q(0), 0), call('m2', 'b', 1005, 1015, Q(0), 1)];
  const r = checkConsumers(events, acked('a', 'b'), SETTLE)!;
  t.equal(r.overlaps.count, 1);
  t.equal(r.overlaps.examples[0]!.queue, Q(0));
  t.notOk(r.ok);
  // One member's own calls of one queue may overlap (concurrent consumption).
  t.ok(checkConsumers([join(0, 'm1'), call('m1', 'a', 1000, 1010, Q(0), 0), call('m1', 'b', 1005, 1015, Q(0), 1)], acked('a', 'b'), SETTLE)!.ok);
});

t.test('an overlap next to a rebalance is expected: counted, not a finding', async (t) => {
  const events = [join(0, 'm1'), join(0, 'm2'), rebalance(1001, 'm2', [Q(0)]), call('m1', 'a', 1000, 1010, Q(0), 0), call('m2', 'b', 1005, 1015, Q(0), 1)];
  const r = checkConsumers(events, acked('a', 'b'), SETTLE)!;
  t.equal(r.overlaps.count, 0);
  t.equal(r.overlapsInRebalance, 1);
  t.ok(r.ok);
});

t.test('ordered groups: any overlap on a queue is a finding, even in a rebalance or of one member', async (t) => {
  const events = [join(0, 'm1', true), join(0, 'm2', true), rebalance(950, 'm2', [Q(0)]), call('m1', 'a', 1000, 1010, Q(0), 0), call('m2', 'b', 1005, 1015, Q(0), 1)];
  t.equal(checkConsumers(events, acked('a', 'b'), SETTLE)!.overlaps.count, 1);
  const own = [join(0, 'm1', true), call('m1', 'a', 1000, 1010, Q(0), 0), call('m1', 'b', 1005, 1015, Q(0), 1)];
  t.equal(checkConsumers(own, acked('a', 'b'), SETTLE)!.overlaps.count, 1);
});

t.test('an acknowledged message neither consumed nor in the DLQ is a finding; duplicates are counted', async (t) => {
  const events = [join(0, 'm1'), call('m1', 'a', 10, 20, Q(0), 0), call('m1', 'a', 30, 40, Q(0), 0), call('m1', 'c', 50, 60, Q(0), 2, 0, false)];
  const r = checkConsumers(events, acked('a', 'b', 'c'), SETTLE)!;
  t.equal(r.unconsumed.count, 2, 'b never handled, c only failed');
  t.same(r.unconsumed.examples.map((u) => u.id).sort(), ['b', 'c']);
  t.equal(r.duplicateConsumptions, 1);
  t.equal(r.groups[0]!.duplicateConsumptions, 1);
  // A message of another topic is not this group's business.
  t.equal(checkConsumers(events, [{ id: 'x', topic: 'other' }], SETTLE)!.unconsumed.count, 0);
});

t.test('retries: failed k times then succeeded with reconsumeTimes k passes; counts skipped or not counted up are findings', async (t) => {
  const good = [join(0, 'm1'), call('m1', 'a', 10, 20, Q(0), 0, 0, false), call('m1', 'a', 30, 40, RETRY_Q, 0, 1, false), call('m1', 'a', 50, 60, RETRY_Q, 1, 2)];
  t.ok(checkConsumers(good, acked('a'), SETTLE)!.ok);
  // The retry came back without its count raised (a broker that forgot reconsumeTimes).
  const same = [join(0, 'm1'), call('m1', 'a', 10, 20, Q(0), 0, 0, false), call('m1', 'a', 30, 40, RETRY_Q, 0, 0)];
  const r1 = checkConsumers(same, acked('a'), SETTLE)!;
  t.equal(r1.retries.count, 1);
  t.equal(r1.retries.examples[0]!.rule, 'retry-missing');
  // A count that skips one.
  const skipped = [join(0, 'm1'), call('m1', 'a', 10, 20, Q(0), 0, 0, false), call('m1', 'a', 30, 40, RETRY_Q, 0, 2)];
  const r2 = checkConsumers(skipped, acked('a'), SETTLE)!;
  t.ok(r2.retries.examples.some((v) => v.rule === 'count-skipped'));
  // A lost retry right at a rebalance of the failing member is excused.
  const lostAtRebalance = [join(0, 'm1'), join(0, 'm2'), call('m1', 'a', 10, 20, Q(0), 0, 0, false), rebalance(22, 'm1', []), call('m2', 'a', 100, 110, Q(0), 0, 0)];
  const r3 = checkConsumers(lostAtRebalance, acked('a'), SETTLE)!;
  t.equal(r3.retries.count, 0);
  t.equal(r3.retriesExplained, 1);
});

t.test('dead letters: in the DLQ after maxReconsumeTimes + 1 failures, not before; a last failure must reach it', async (t) => {
  const fails = (n: number): ConsumeEvent[] => Array.from({ length: n }, (_, i) => call('m1', 'a', 10 + 20 * i, 20 + 20 * i, i === 0 ? Q(0) : RETRY_Q, i, i, false));
  t.ok(checkConsumers([join(0, 'm1', false, 2), ...fails(3), dlq(500, 'a')], acked('a'), SETTLE)!.ok, '3 failures with maxReconsumeTimes 2, then the DLQ');
  const early = checkConsumers([join(0, 'm1', false, 2), ...fails(2), dlq(500, 'a')], acked('a'), SETTLE)!;
  t.ok(early.retries.examples.some((v) => v.rule === 'dlq-early'), 'in the DLQ after 2 failures');
  const missing = checkConsumers([join(0, 'm1', false, 2), ...fails(3)], acked('a'), SETTLE)!;
  t.ok(missing.retries.examples.some((v) => v.rule === 'dlq-missing'), 'the third failure must go to the DLQ');
  t.equal(missing.unconsumed.count, 1);
});

t.test('ordered groups: per key and queue, messages are first handled in queue order', async (t) => {
  const inOrder = [join(0, 'm1', true), call('m1', 'a', 10, 20, Q(0), 0, 0, true, 'k'), call('m1', 'b', 30, 40, Q(0), 1, 0, true, 'k')];
  t.ok(checkConsumers(inOrder, acked('a', 'b'), SETTLE)!.ok);
  const swapped = [join(0, 'm1', true), call('m1', 'b', 10, 20, Q(0), 1, 0, true, 'k'), call('m1', 'a', 30, 40, Q(0), 0, 0, true, 'k')];
  const r = checkConsumers(swapped, acked('a', 'b'), SETTLE)!;
  t.equal(r.orderly.count, 1);
  t.equal(r.orderly.examples[0]!.storedFirst.id, 'a');
  // A redelivery of an earlier message after a later one (a rebalance) is not a reorder.
  const again = [...inOrder, call('m1', 'a', 50, 60, Q(0), 0, 0, true, 'k')];
  t.ok(checkConsumers(again, acked('a', 'b'), SETTLE)!.ok);
});

t.test('checkHistory carries the consumer result and fails the run on its findings', async (t) => {
  const sendOk = (id: string, at: number): HistoryEvent[] => [
    { t: at, wall: at, client: 'p0', op: 'send', type: 'invoke', id, topic: TOPIC },
    { t: at + 1, wall: at + 1, client: 'p0', op: 'send', type: 'ok', id, topic: TOPIC, queueId: 0, queueOffset: 0, latencyMs: 1 },
    // A pull consumer read it (no dumps here: without a receive it would be lost).
    { t: at + 2, wall: at + 2, client: 'c0', op: 'receive', type: 'ok', id, topic: TOPIC, queueId: 0, queueOffset: at },
  ];
  const clean = checkHistory([...sendOk('a', 0), join(0, 'm1'), call('m1', 'a', 10, 20, Q(0), 0)], []);
  t.ok(clean.ok);
  t.equal(clean.consumers?.groups[0]?.consumed, 1);
  const missing = checkHistory([...sendOk('a', 0), ...sendOk('b', 2), join(0, 'm1'), call('m1', 'a', 10, 20, Q(0), 0)], []);
  t.notOk(missing.ok);
  t.equal(missing.consumers?.unconsumed.count, 1);
  t.equal(checkHistory(sendOk('a', 0), []).consumers, undefined, 'no consumer groups: no consumers part');
});

// ---------------------------------------------------------------------------------------------
// Property: simulated correct groups pass; one planted bug is caught.

interface Sim {
  readonly events: ConsumeEvent[];
  readonly acked: { id: string; topic: string }[];
  readonly orderly: boolean;
  readonly max: number;
}

const simArb = fc
  .record({
    members: fc.integer({ min: 1, max: 3 }),
    queues: fc.integer({ min: 1, max: 4 }),
    orderly: fc.boolean(),
    max: fc.integer({ min: 0, max: 3 }),
    // Per message: its key (0-2) and how many times its handler fails (up to max + 1: the DLQ).
    messages: fc.array(fc.record({ key: fc.integer({ min: 0, max: 2 }), fails: fc.integer({ min: 0, max: 4 }) }), { minLength: 1, maxLength: 30 }),
    epochs: fc.integer({ min: 1, max: 3 }),
  })
  .map(simulate);

/** Calls one after another (no overlap at all), epochs of allocations separated by rebalances
 *  far apart, failures retried through the retry queue (or in place when orderly). */
function simulate(p: { members: number; queues: number; orderly: boolean; max: number; messages: { key: number; fails: number }[]; epochs: number }): Sim {
  const events: ConsumeEvent[] = [];
  let now = 0;
  const tick = (): number => (now += 1000);
  const members = Array.from({ length: p.members }, (_, i) => `m${i}`);
  for (const m of members) events.push(join(0, m, p.orderly, p.max));
  const offsets = new Map<number, number>();
  const msgs = p.messages.map((m, i) => {
    const q = m.key % p.queues; // a key's messages share a queue, as keyed sends
    const o = offsets.get(q) ?? 0;
    offsets.set(q, o + 1);
    return { id: `x${i}`, key: `k${m.key}`, q, o, fails: Math.min(m.fails, p.max + 1) };
  });
  const perEpoch = Math.ceil(msgs.length / p.epochs);
  let retryOffset = 0;
  const retries: { m: (typeof msgs)[number]; rc: number }[] = [];
  for (let e = 0; e < p.epochs; e++) {
    const owner = (q: number): string => members[(q + e) % members.length]!;
    if (e > 0) for (const m of members) events.push(rebalance(tick(), m, []));
    tick();
    for (const m of msgs.slice(e * perEpoch, (e + 1) * perEpoch)) {
      const who = owner(m.q);
      const s = tick();
      const ok = m.fails === 0;
      events.push(call(who, m.id, s, s + 10, Q(m.q), m.o, 0, ok, m.key));
      if (ok) continue;
      if (p.orderly) {
        // In place, at once, blocking the queue.
        for (let rc = 1; rc <= m.fails && rc <= p.max; rc++) {
          const s2 = tick();
          events.push(call(who, m.id, s2, s2 + 10, Q(m.q), m.o, rc, rc === m.fails, m.key));
        }
        if (m.fails > p.max) events.push(dlq(tick(), m.id));
      } else if (p.max === 0) events.push(dlq(tick(), m.id));
      else retries.push({ m, rc: 1 });
    }
    // The retry queue, drained at the epoch's end (its messages fail again until their count).
    while (retries.length > 0) {
      const { m, rc } = retries.shift()!;
      const s = tick();
      const ok = rc === m.fails;
      events.push(call(owner(0), m.id, s, s + 10, RETRY_Q, retryOffset++, rc, ok, m.key));
      if (ok) continue;
      if (rc >= p.max) events.push(dlq(tick(), m.id));
      else retries.push({ m, rc: rc + 1 });
    }
  }
  return { events, acked: msgs.map((m) => ({ id: m.id, topic: TOPIC })), orderly: p.orderly, max: p.max };
}

type Bug = 'drop-consumption' | 'overlap' | 'uncounted-retry' | 'lost-dead-letter' | 'reorder';

/** The run with one bug planted, or null when the run has nothing to plant it in. */
function plant(sim: Sim, bug: Bug, pick: number): ConsumeEvent[] | null {
  const events = sim.events.map((e) => ({ ...e }));
  const calls = events.filter((e) => e.type === 'call');
  const choose = <T,>(list: T[]): T | undefined => (list.length === 0 ? undefined : list[pick % list.length]);
  switch (bug) {
    case 'drop-consumption': {
      const victim = choose(calls.filter((c) => c.result === 'success'));
      if (!victim) return null;
      return events.filter((e) => !(e.type === 'call' && e.id === victim.id && e.result === 'success'));
    }
    case 'overlap': {
      // A second member handles a message of the queue while its owner does: far from rebalances.
      if (!sim.orderly && events.filter((e) => e.type === 'join').length < 2) return null;
      const victim = choose(calls);
      if (!victim) return null;
      const other = events.find((e) => e.type === 'join' && e.client !== victim.client)?.client ?? victim.client;
      return [...events, call(other, 'intruder', victim.startT! + 1, victim.t + 1, victim.queue!, 999)];
    }
    case 'uncounted-retry': {
      const victim = choose(calls.filter((c) => c.reconsumeTimes! > 0));
      if (!victim) return null;
      (victim as { reconsumeTimes: number }).reconsumeTimes = 0;
      return events;
    }
    case 'lost-dead-letter': {
      const victim = choose(events.filter((e) => e.type === 'dlq'));
      if (!victim) return null;
      return events.filter((e) => e !== victim);
    }
    case 'reorder': {
      if (!sim.orderly) return null;
      // Two messages of one key and queue: the later one first handled before the earlier one.
      const firsts = calls.filter((c) => c.reconsumeTimes === 0 && c.queue !== RETRY_Q);
      const pairs = firsts.flatMap((a) => firsts.filter((b) => b.key === a.key && b.queue === a.queue && b.queueOffset! > a.queueOffset!).map((b) => [a, b] as const));
      const pair = choose(pairs);
      if (!pair) return null;
      const [a, b] = pair;
      (b as { startT: number }).startT = a.startT! - 1;
      return events;
    }
  }
}

t.test(`simulated correct groups pass (seed ${SEED})`, async (t) => {
  t.comment(`seed ${SEED} (SEED=${SEED} replays)`);
  fc.assert(
    fc.property(simArb, (sim) => {
      const r = checkConsumers(sim.events, sim.acked, SETTLE)!;
      if (!r.ok) throw new Error(JSON.stringify({ overlaps: r.overlaps, unconsumed: r.unconsumed, retries: r.retries, orderly: r.orderly }));
    }),
    { seed: SEED, numRuns: 300 },
  );
});

t.test(`a planted bug is always caught (seed ${SEED})`, async (t) => {
  const bugs: Bug[] = ['drop-consumption', 'overlap', 'uncounted-retry', 'lost-dead-letter', 'reorder'];
  const planted = new Map<Bug, number>(bugs.map((b) => [b, 0]));
  fc.assert(
    fc.property(simArb, fc.constantFrom(...bugs), fc.nat(), (sim, bug, pick) => {
      const events = plant(sim, bug, pick);
      fc.pre(events !== null);
      planted.set(bug, planted.get(bug)! + 1);
      return !checkConsumers(events!, sim.acked, SETTLE)!.ok;
    }),
    { seed: SEED, numRuns: 400 },
  );
  for (const [bug, n] of planted) t.ok(n > 0, `${bug} was planted ${n} times and caught`);
});

t.test('the report shows the consumer groups and the summary line their counts', async (t) => {
  const events = [join(0, 'm1'), join(0, 'm2'), call('m1', 'a', 1000, 1010, Q(0), 0), call('m2', 'b', 1005, 1015, Q(0), 1)];
  const sendOk = (id: string): HistoryEvent[] => [
    { t: 1, wall: 1, client: 'p0', op: 'send', type: 'invoke', id, topic: TOPIC },
    { t: 2, wall: 2, client: 'p0', op: 'send', type: 'ok', id, topic: TOPIC, queueId: 0, queueOffset: id === 'a' ? 0 : 1, latencyMs: 1 },
    { t: 3, wall: 3, client: 'c0', op: 'receive', type: 'ok', id, topic: TOPIC, queueId: 0, queueOffset: id === 'a' ? 0 : 1 },
  ];
  const history = [...sendOk('a'), ...sendOk('b'), ...events];
  const result = checkHistory(history, [], { consumeSettleMs: 5 });
  t.equal(result.consumers?.overlaps.count, 1);
  const html = renderReport(history, result, { title: 'x', nodes: 3, seed: 1, faults: [], durationS: 1 });
  t.match(html, /<h2>Consumer groups<\/h2>/);
  t.match(html, /Overlapping consumption: 1/);
  const summary = JSON.parse(summaryLine(result, { nodes: 3, durationS: 1 })) as { consumers?: Record<string, number> };
  t.same(summary.consumers, { consumed: 2, unconsumed: 0, overlaps: 1, overlapsInRebalance: 0, duplicateConsumptions: 0, retries: 0, orderly: 0, dlq: 0 });
  t.notOk('consumers' in JSON.parse(summaryLine(checkHistory(sendOk('a'), []), { nodes: 3, durationS: 1 })), 'no consumers key without consumer groups');
});

t.test('copies in the retry, dead-letter and delay topics are not duplicates of a send', async (t) => {
  const history: HistoryEvent[] = [
    { t: 1, wall: 1, client: 'p0', op: 'send', type: 'invoke', id: 'p0-000001', topic: TOPIC },
    { t: 2, wall: 2, client: 'p0', op: 'send', type: 'ok', id: 'p0-000001', topic: TOPIC, queueId: 0, queueOffset: 0, latencyMs: 1 },
  ];
  const messages = [
    { id: 'p0-000001', topic: TOPIC, queueId: 0, queueOffset: 0, logIndex: 1 },
    { id: 'p0-000001', topic: 'SCHEDULE_TOPIC_XXXX', queueId: 3, queueOffset: 0, logIndex: 2 },
    { id: 'p0-000001', topic: `%RETRY%${G}`, queueId: 0, queueOffset: 0, logIndex: 3 },
    { id: 'p0-000001', topic: `%DLQ%${G}`, queueId: 0, queueOffset: 0, logIndex: 4 },
  ];
  const entries = [1, 2, 3, 4].map((index) => ({ index, term: 1, hash: `h${index}` }));
  const dump = (node: string, msgs = messages) => ({ node, commitIndex: 4, entries, messages: msgs });
  const r = checkHistory(history, [dump('n0'), dump('n1')], { idempotentProducers: true });
  t.equal(r.duplicated.count, 0);
  t.equal(r.groups[0]!.stored, 1, 'the send is stored once');
  t.ok(r.ok);
  // Replicas are still compared on every topic.
  const other = messages.map((m) => (m.topic === `%DLQ%${G}` ? { ...m, id: 'p0-000002' } : m));
  t.equal(checkHistory(history, [dump('n0'), dump('n1', other)]).divergent.count, 1, 'a differing DLQ is divergence');
});
