// The chaos checker must fire on hand-made histories that break each guarantee and stay quiet on
// a clean one (a checker that never fires proves nothing). The property test builds correct
// random runs, then breaks one thing. Replay it: SEED=<seed> npx tap test/chaos/checker.test.ts
import fc from 'fast-check';
import t from 'tap';
import {
  checkHistory,
  type CheckOptions,
  type DumpedMessage,
  type HistoryEvent,
  type ReplicaDump,
  type SendEvent,
  summaryLine,
} from '../../src/chaos/index.ts';

const SEED = process.env.SEED !== undefined ? Number(process.env.SEED) : Date.now() % 2 ** 31;
const NUM_RUNS = Number(process.env.NUM_RUNS ?? 200);

// ---------------------------------------------------------------------------------------------
// Builders for hand-made histories

type Outcome = 'ok' | 'fail' | 'unknown';
interface Where {
  readonly q?: number;
  readonly o?: number;
  readonly key?: string;
  readonly topic?: string;
  /** The broker group an ack names (runs of several groups). */
  readonly group?: string;
}

/** One attempt: an invoke at `at` and its outcome at `done` (no outcome when done is null). */
function send(client: string, id: string, at: number, done: number | null, outcome: Outcome, where: Where = {}): HistoryEvent[] {
  const topic = where.topic ?? 'T';
  const base = { client, id, topic, ...(where.key !== undefined ? { key: where.key } : {}) };
  const invoke: SendEvent = { ...base, t: at, wall: at, op: 'send', type: 'invoke' };
  if (done === null) return [invoke];
  const end: SendEvent = {
    ...base,
    t: done,
    wall: done,
    op: 'send',
    type: outcome,
    latencyMs: done - at,
    ...(outcome === 'ok' ? { ...(where.group !== undefined ? { group: where.group } : {}), queueId: where.q ?? 0, queueOffset: where.o ?? 0 } : { error: outcome === 'fail' ? 'NOT_MASTER' : 'timeout' }),
  };
  return [invoke, end];
}

function receive(client: string, id: string, at: number, q: number, o: number, group?: string): HistoryEvent {
  return { t: at, wall: at, client, op: 'receive', type: 'ok', id, topic: 'T', ...(group !== undefined ? { group } : {}), queueId: q, queueOffset: o };
}

function fault(type: 'start' | 'end', name: string, faultId: number, at: number): HistoryEvent {
  return { t: at, wall: at, client: 'nemesis', op: 'fault', type, fault: name, faultId };
}

/** Messages stored one per log entry from index 1, queue offsets in order per queue. */
function stored(...specs: (string | [id: string, q: number, key?: string])[]): DumpedMessage[] {
  const next = new Map<number, number>();
  return specs.map((s, i) => {
    const [id, q, key] = typeof s === 'string' ? [s, 0, undefined] : s;
    const o = next.get(q) ?? 0;
    next.set(q, o + 1);
    return { id, topic: 'T', queueId: q, queueOffset: o, logIndex: i + 1, ...(key !== undefined ? { key } : {}) };
  });
}

function dump(node: string, messages: DumpedMessage[], commitIndex = messages.length, lastIndex = commitIndex): ReplicaDump {
  const entries = [];
  for (let index = 1; index <= lastIndex; index++) entries.push({ index, term: 1, hash: `h${index}` });
  return { node, commitIndex, entries, messages: messages.filter((m) => m.logIndex <= commitIndex) };
}

function three(messages: DumpedMessage[]): ReplicaDump[] {
  return ['n0', 'n1', 'n2'].map((n) => dump(n, messages));
}

/** Three replicas of broker group `group` (ids a0.. for broker-a), each entry hashed with the
 *  group's name: two groups' logs are different logs. */
function groupOf3(group: string, messages: DumpedMessage[]): ReplicaDump[] {
  const letter = group.slice(-1);
  return [0, 1, 2].map((i) => {
    const d = dump(`${letter}${i}`, messages);
    return { ...d, group, entries: d.entries.map((e) => ({ ...e, hash: `${group}-${e.hash}` })) };
  });
}

const clean: HistoryEvent[] = [
  ...send('p0', 'a', 0, 10, 'ok', { q: 0, o: 0, key: 'k' }),
  ...send('p0', 'b', 20, 30, 'ok', { q: 0, o: 1, key: 'k' }),
  ...send('p1', 'c', 5, 25, 'ok', { q: 1, o: 0 }),
  ...send('p1', 'd', 40, 45, 'fail'),
  receive('c0', 'a', 50, 0, 0),
  receive('c0', 'b', 51, 0, 1),
  receive('c0', 'c', 52, 1, 0),
];
const cleanLog = stored(['a', 0, 'k'], ['c', 1], ['b', 0, 'k']);

function check(events: HistoryEvent[], dumps: ReplicaDump[], options?: CheckOptions) {
  return checkHistory(events, dumps, options);
}

// ---------------------------------------------------------------------------------------------
// Hand-made histories

t.test('a clean history passes with every count zero', async (t) => {
  const r = check(clean, three(cleanLog));
  t.ok(r.ok);
  t.same(r.sends, { ids: 4, attempts: 4, acked: 3, failed: 1, unknown: 0 });
  t.equal(r.received, 3);
  for (const f of [r.lost, r.duplicated, r.failedButStored, r.phantom, r.reordered, r.misplaced, r.divergent]) t.equal(f.count, 0);
  t.same(r.unavailableOutsideFaults, [{ fromT: 40, toT: 52, durationMs: 12, recovered: false, failures: 1, firstError: 'NOT_MASTER' }], 'the failed send, never followed by an ok');
  t.equal(
    summaryLine(r, { nodes: 3, durationS: 60 }),
    '{"nodes":3,"durationS":60,"faults":0,"acked":3,"lost":0,"duplicated":0,"reordered":0,"divergent":0,"recoveryMs":{}}',
  );
});

t.test('lost: an acked send in no dump and never received', async (t) => {
  const notReceived = clean.filter((e) => !(e.op === 'receive' && e.id === 'c'));
  const withoutC = stored(['a', 0, 'k'], ['b', 0, 'k']);
  const r = check(notReceived, three(withoutC));
  t.notOk(r.ok);
  t.equal(r.lost.count, 1);
  t.same(r.lost.examples[0], { id: 'c', client: 'p1', ackT: 25, key: undefined, topic: 'T', queueId: 1, queueOffset: 0 });
  t.equal(check(clean, three(withoutC)).lost.count, 0, 'a consumer received it: not lost');
  // Stored on one replica only (the others lag behind): not lost.
  const full = stored(['a', 0, 'k'], ['b', 0, 'k'], ['c', 1]);
  t.equal(check(notReceived, [dump('n0', full), dump('n1', full, 2), dump('n2', full, 2)]).lost.count, 0);
  t.equal(check(notReceived, []).lost.count, 1, 'no dumps: a and b were received, c is lost');
  t.equal(check(notReceived.filter((e) => e.op !== 'receive'), []).lost.count, 3, 'no dumps, no receives: every ack is lost');
});

t.test('duplicated: after an unknown it is explained, with one acked attempt it is not', async (t) => {
  const retried = [...send('p0', 'x', 0, 3000, 'unknown'), ...send('p0', 'x', 3001, 3010, 'ok', { q: 0, o: 1 })];
  const twice = stored('x', 'x');
  const r = check(retried, three(twice));
  t.equal(r.duplicated.count, 1);
  t.equal(r.duplicated.explained, 1);
  t.equal(r.duplicated.unexplained, 0);
  t.match(r.duplicated.examples[0], { id: 'x', copies: 2, logIndexes: [1, 2], explained: true, reason: 'unknown' });
  t.ok(r.ok, 'an explained duplicate does not fail the run');

  const once = send('p0', 'y', 0, 10, 'ok', { q: 0, o: 0 });
  const u = check(once, three(stored('y', 'y')));
  t.equal(u.duplicated.count, 1);
  t.equal(u.duplicated.unexplained, 1);
  t.match(u.duplicated.examples[0], { id: 'y', explained: false, reason: 'one attempt, ended ok' });
  t.notOk(u.ok);

  const noOutcome = [...send('p0', 'z', 0, null, 'ok'), ...send('p0', 'z', 10, 20, 'ok', { q: 0, o: 1 })];
  t.match(check(noOutcome, three(stored('z', 'z'))).duplicated.examples[0], { explained: true, reason: 'no outcome' });
  const twoFails = [...send('p0', 'w', 0, 5, 'fail'), ...send('p0', 'w', 10, 20, 'ok', { q: 0, o: 1 })];
  t.match(check(twoFails, three(stored('w', 'w'))).duplicated.examples[0], { explained: true, reason: 'retried' });
});

t.test('idempotent producers: any duplicate is a finding, a retry after an unknown outcome included', async (t) => {
  // The planted bug: the window should have answered the retry, yet the log stores x twice.
  const retried = [...send('p0', 'x', 0, 3000, 'unknown'), ...send('p0', 'x', 3001, 3010, 'ok', { q: 0, o: 0 })];
  const twice = stored('x', 'x');
  t.ok(check(retried, three(twice)).ok, 'without idempotence: explained by the unknown outcome');
  const r = check(retried, three(twice), { idempotentProducers: true });
  t.notOk(r.ok, 'with idempotence the run fails');
  t.equal(r.idempotentProducers, true);
  t.equal(r.duplicated.count, 1);
  t.equal(r.duplicated.unexplained, 1);
  t.equal(r.duplicated.explained, 0);
  t.match(r.duplicated.examples[0], { id: 'x', copies: 2, logIndexes: [1, 2], explained: false, reason: /idempotent producer, yet stored 2 times/ });
  t.match(summaryLine(r, { nodes: 3, durationS: 60 }), /"duplicated":1,.*"idempotent":true}$/);
  const clean1 = check(retried, three(stored('x')), { idempotentProducers: true });
  t.ok(clean1.ok, 'the retry answered from the window: stored once');
  t.equal(clean1.duplicated.count, 0);
  t.match(summaryLine(clean1, { nodes: 3, durationS: 60 }), /"duplicated":0,.*"idempotent":true}$/);
});

t.test('two broker groups: a message in both is a duplicate; replicas, slots and order are per group', async (t) => {
  // broker-a stores a then b on queue 0; broker-b stores c then b (the same id again) on its queue 0.
  const a = stored('a', 'b');
  const b = stored('c', 'b');
  const events = [
    ...send('p0', 'a', 0, 10, 'ok', { q: 0, o: 0, group: 'broker-a' }),
    ...send('p0', 'b', 20, 30, 'ok', { q: 0, o: 1, group: 'broker-a' }),
    ...send('p1', 'c', 0, 10, 'ok', { q: 0, o: 0, group: 'broker-b' }),
    receive('c0', 'a', 40, 0, 0, 'broker-a'),
    receive('c0', 'c', 41, 0, 0, 'broker-b'),
  ];
  const dumps = [...groupOf3('broker-a', a), ...groupOf3('broker-b', b)];
  const r = check(events, dumps, { idempotentProducers: true });
  t.equal(r.divergent.count, 0, 'the groups\u2019 logs differ, but each group\u2019s replicas agree');
  t.equal(r.misplaced.count, 0, 'queue 0 offset 0 is a in broker-a and c in broker-b: each ack names its own group');
  t.equal(r.lost.count, 0);
  t.equal(r.duplicated.count, 1, 'b lives in two groups');
  t.equal(r.duplicated.acrossGroups, 1);
  t.match(r.duplicated.examples[0], { id: 'b', copies: 2, groups: ['broker-a', 'broker-b'], explained: false, reason: /stored by groups broker-a and broker-b/ });
  t.notOk(r.ok);
  t.same(
    r.groups.map((g) => [g.group, g.replicas.join(','), g.referenceNode, g.acked, g.duplicated, g.divergent]),
    [
      ['broker-a', 'a0,a1,a2', 'a0', 2, 1, 0],
      ['broker-b', 'b0,b1,b2', 'b0', 1, 1, 0],
    ],
  );
  t.equal(r.referenceNode, 'a0, b0');
  const line = JSON.parse(summaryLine(r, { nodes: 3, durationS: 60 })) as { groups: Record<string, { duplicated: number }> };
  t.same(Object.keys(line.groups), ['broker-a', 'broker-b'], 'the summary has a line per group');
  t.equal(line.groups['broker-b']!.duplicated, 1);

  // Without the group names the slots would collide: every check is by (group, topic, queue, offset).
  const wrongGroup = [...events, receive('c1', 'a', 50, 0, 0, 'broker-b')];
  t.match(check(wrongGroup, dumps).misplaced.examples, [{ source: 'receive', id: 'a', group: 'broker-b', storedId: 'c' }]);
  // A replica of broker-b that differs from its own group is divergent; the count is per group.
  const bad = groupOf3('broker-b', b);
  (bad[1]!.entries[0] as { hash: string }).hash = 'other';
  const d = check(events, [...groupOf3('broker-a', a), ...bad]);
  t.equal(d.divergent.count, 2, 'b1 against b0 and b2');
  t.same(d.groups.map((g) => g.divergent), [0, 2]);
  // Lost: acked by broker-b, stored nowhere.
  const lostD = check([...events, ...send('p1', 'e', 60, 70, 'ok', { q: 1, o: 0, group: 'broker-b' })], dumps);
  t.match(lostD.lost.examples, [{ id: 'e', group: 'broker-b', queueId: 1 }]);
  t.same(lostD.groups.map((g) => g.lost), [0, 1]);
  // Per-queue order holds within a group only: offset 0 in broker-b after offset 1 in broker-a is fine.
  const crossOrder = [...send('p0', 'a', 0, 10, 'ok', { q: 0, o: 1, group: 'broker-a' }), ...send('p0', 'c', 20, 30, 'ok', { q: 0, o: 0, group: 'broker-b' })];
  t.equal(check(crossOrder, [...groupOf3('broker-a', stored('z', 'a')), ...groupOf3('broker-b', stored('c'))]).reordered.count, 0);
});

t.test('failedButStored: a definite failure must not be stored; phantom: a stored id nobody sent', async (t) => {
  const r = check(send('p0', 'f', 0, 10, 'fail'), three(stored('f', 'ghost', '')));
  t.equal(r.failedButStored.count, 1);
  t.match(r.failedButStored.examples[0], { id: 'f', logIndex: 1, error: 'NOT_MASTER' });
  t.equal(r.phantom.count, 1, "one phantom id, counted once over three replicas; '' is not the workload's");
  t.match(r.phantom.examples[0], { id: 'ghost', logIndex: 2 });
  t.notOk(r.ok);
  const retriedOk = [...send('p0', 'f', 0, 10, 'fail'), ...send('p0', 'f', 11, 20, 'ok', { q: 0, o: 0 })];
  t.equal(check(retriedOk, three(stored('f'))).failedButStored.count, 0, 'a later ok attempt stored it');
  t.equal(check(send('p0', 'f', 0, 10, 'unknown'), three(stored('f'))).failedButStored.count, 0, 'unknown may be stored');
});

t.test('reordered per key: acked before the next was invoked, yet stored after it', async (t) => {
  const events = [...send('p0', 'a', 0, 10, 'ok', { key: 'k', q: 0, o: 1 }), ...send('p0', 'b', 20, 30, 'ok', { key: 'k', q: 1, o: 0 })];
  // Different queues (say the queue count changed), so only the log order can tell.
  const r = check(events, three(stored(['b', 1, 'k'], ['a', 0, 'k'])));
  t.equal(r.reordered.count, 1);
  t.equal(r.reordered.byKey, 1);
  t.equal(r.reordered.byQueue, 0);
  t.match(r.reordered.examples[0], { rule: 'key', client: 'p0', group: 'k', earlier: { id: 'a', ackT: 10 }, later: { id: 'b', invokeT: 20 } });
  t.notOk(r.ok);

  const overlapping = [...send('p0', 'a', 0, 10, 'ok', { key: 'k', q: 0, o: 1 }), ...send('p0', 'b', 5, 30, 'ok', { key: 'k', q: 1, o: 0 })];
  t.equal(check(overlapping, three(stored(['b', 1, 'k'], ['a', 0, 'k']))).reordered.count, 0, 'b was invoked before a was acked: concurrent');
  const sameMs = [...send('p0', 'a', 0, 10, 'ok', { key: 'k', q: 0, o: 1 }), ...send('p0', 'b', 10, 30, 'ok', { key: 'k', q: 1, o: 0 })];
  t.equal(check(sameMs, three(stored(['b', 1, 'k'], ['a', 0, 'k']))).reordered.count, 0, 'the same millisecond counts as overlap');
  const otherKey = [...send('p0', 'a', 0, 10, 'ok', { key: 'k', q: 0, o: 1 }), ...send('p0', 'b', 20, 30, 'ok', { key: 'j', q: 1, o: 0 })];
  t.equal(check(otherKey, three(stored(['b', 1, 'j'], ['a', 0, 'k']))).reordered.count, 0, 'different keys');
  // Without dumps, the queue offsets of one queue still order a key.
  const noDump = [...send('p0', 'a', 0, 10, 'ok', { key: 'k', q: 0, o: 5 }), ...send('p0', 'b', 20, 30, 'ok', { key: 'k', q: 0, o: 4 })];
  const nd = check(noDump, []);
  t.equal(nd.reordered.byKey, 1);
  t.equal(nd.reordered.byQueue, 1);
  t.equal(nd.reordered.count, 1, 'one send breaking both rules counts once');
});

t.test('reordered per queue: the same producer on one queue, offsets against ack order', async (t) => {
  const events = [
    ...send('p0', 'a', 0, 10, 'ok', { q: 2, o: 7 }),
    ...send('p0', 'b', 20, 30, 'ok', { q: 2, o: 6 }),
    ...send('p0', 'c', 40, 50, 'ok', { q: 2, o: 8 }),
  ];
  const r = check(events, []);
  t.equal(r.reordered.count, 1);
  t.equal(r.reordered.byQueue, 1);
  t.match(r.reordered.examples[0], { rule: 'queue', group: '2', earlier: { id: 'a', position: 'queue 2 offset 7' }, later: { id: 'b', position: 'queue 2 offset 6' } });

  const twoProducers = [...send('p0', 'a', 0, 10, 'ok', { q: 2, o: 7 }), ...send('p1', 'b', 20, 30, 'ok', { q: 2, o: 6 })];
  t.equal(check(twoProducers, []).reordered.count, 0, 'different producers are not ordered by default');
  t.equal(check(twoProducers, [], { orderAcrossClients: true }).reordered.count, 1, 'unless asked to');
  const otherQueue = [...send('p0', 'a', 0, 10, 'ok', { q: 2, o: 7 }), ...send('p0', 'b', 20, 30, 'ok', { q: 3, o: 6 })];
  t.equal(check(otherQueue, []).reordered.count, 0);
  // Acks that do not say where they were stored: the final log does.
  const noSlots = [...send('p0', 'a', 0, 10, 'ok'), ...send('p0', 'b', 20, 30, 'ok')].map((e) => (e.op === 'send' ? { ...e, queueId: undefined, queueOffset: undefined } : e));
  const fromDump = check(noSlots, three(stored(['b', 2], ['a', 2])));
  t.equal(fromDump.reordered.byQueue, 1);
  t.match(fromDump.reordered.examples[0], { earlier: { id: 'a', position: 'queue 2 offset 1' }, later: { id: 'b', position: 'queue 2 offset 0' } });
  const pipelined = [...send('p0', 'a', 0, 10, 'ok', { q: 2, o: 7 }), ...send('p0', 'b', 1, 9, 'ok', { q: 2, o: 6 })];
  t.equal(check(pipelined, []).reordered.count, 0, 'in flight together: either order is fine');
});

t.test('a consumer seeing offsets go backwards (redelivery) is not a finding', async (t) => {
  const events = [...clean, receive('c0', 'a', 60, 0, 0), receive('c0', 'b', 61, 0, 1), receive('c1', 'b', 62, 0, 1), receive('c1', 'a', 63, 0, 0)];
  const r = check(events, three(cleanLog));
  t.ok(r.ok);
  t.equal(r.reordered.count, 0);
});

t.test('misplaced: an ack or a receive naming a slot that stores another id', async (t) => {
  const events = [...send('p0', 'a', 0, 10, 'ok', { q: 0, o: 1 }), ...send('p0', 'b', 0, 12, 'ok', { q: 0, o: 0 }), receive('c0', 'a', 20, 0, 0)];
  const r = check(events, three(stored('a', 'b')));
  t.equal(r.misplaced.count, 2);
  t.match(r.misplaced.examples, [
    { source: 'ack', id: 'a', queueOffset: 1, storedId: 'b' },
    { source: 'ack', id: 'b', queueOffset: 0, storedId: 'a' },
  ]);
  t.notOk(r.ok);
  const wrongReceive = check([...send('p0', 'a', 0, 10, 'ok', { q: 0, o: 0 }), receive('c0', 'a', 20, 0, 1)], three(stored('a', 'b')));
  t.match(wrongReceive.misplaced.examples, [{ source: 'receive', id: 'a', queueOffset: 1, storedId: 'b' }]);
});

t.test('divergent: committed prefixes must agree entry by entry', async (t) => {
  const log = stored('a', 'b', 'c', 'd', 'e');
  const events = ['a', 'b', 'c', 'd', 'e'].flatMap((id, i) => send('p0', id, i * 10, i * 10 + 5, 'ok', { q: 0, o: i }));
  t.equal(check(events, three(log)).divergent.count, 0);

  const badHash = dump('n1', log);
  (badHash.entries[2] as { hash: string }).hash = 'other';
  const r = check(events, [dump('n0', log), badHash, dump('n2', log)]);
  t.equal(r.divergent.count, 2, 'n1 disagrees with n0 and with n2: two pairs');
  t.match(r.divergent.examples[0], { a: 'n0', b: 'n1', index: 3, what: 'hash' });
  t.notOk(r.ok);

  const badTerm = dump('n1', log);
  (badTerm.entries[1] as { term: number }).term = 2;
  t.match(check(events, [dump('n0', log), badTerm]).divergent.examples[0], { index: 2, what: 'term' });

  // Beyond the lower commitIndex, an uncommitted suffix may differ.
  const lagging = dump('n1', log, 3, 5);
  (lagging.entries[4] as { hash: string }).hash = 'uncommitted';
  t.equal(check(events, [dump('n0', log), lagging]).divergent.count, 0);

  // A replica that claims commitIndex 5 but lacks entry 4.
  const holey: ReplicaDump = { ...dump('n1', log), entries: dump('n1', log).entries.filter((e) => e.index !== 4) };
  t.match(check(events, [dump('n0', log), holey]).divergent.examples[0], { index: 4, what: 'missing' });
  const short = dump('n1', log, 5, 3);
  t.match(check(events, [dump('n0', log), short]).divergent.examples[0], { index: 4, what: 'missing', detail: /missing on n1/ });

  // Same entries, but an acked message is not among the committed messages of one replica.
  const noC: ReplicaDump = { ...dump('n1', log), messages: log.filter((m) => m.id !== 'c') };
  t.match(check(events, [dump('n0', log), noC]).divergent.examples[0], { index: 3, what: 'messages' });

  // A compacted prefix (the log starts later) is not compared.
  const compacted: ReplicaDump = { ...dump('n1', log), entries: dump('n1', log).entries.slice(2), messages: log.slice(2) };
  t.equal(check(events, [dump('n0', log), compacted]).divergent.count, 0);
});

t.test('recovery: from the first failure after an injection to the next ok', async (t) => {
  const events: HistoryEvent[] = [
    ...send('p0', 's1', 900, 910, 'ok', { q: 0, o: 0 }),
    fault('start', 'leader-kill', 1, 1000),
    ...send('p0', 's2', 990, 1050, 'fail'), // invoked before the injection: not counted
    ...send('p0', 's3', 1100, 1150, 'unknown'),
    ...send('p1', 's4', 1090, 1400, 'ok', { q: 0, o: 1 }), // invoked before the failure: not the recovery
    ...send('p0', 's5', 1200, 1500, 'ok', { q: 0, o: 2 }),
    ...send('p1', 's6', 1300, 1600, 'ok', { q: 0, o: 3 }),
    fault('end', 'leader-kill', 1, 2000),
    fault('start', 'leader-kill', 2, 3000),
    ...send('p0', 's7', 3100, 3110, 'ok', { q: 0, o: 4 }),
    fault('end', 'leader-kill', 2, 4000),
    fault('start', 'random-partition', 3, 5000),
    ...send('p0', 's8', 5100, 5200, 'fail'),
    ...send('p0', 's9', 5300, 5400, 'ok', { q: 0, o: 5 }),
    fault('end', 'random-partition', 3, 6000),
    // Outside every window (the last one closes at 6000 + 5000 grace).
    ...send('p0', 's10', 20_000, 20_100, 'unknown'),
    ...send('p1', 's11', 20_050, 20_060, 'fail'),
    ...send('p0', 's12', 20_200, 20_700, 'ok', { q: 0, o: 6 }),
    ...send('p0', 's13', 30_000, 30_100, 'fail'),
  ];
  const r = check(events, three(stored('s1', 's4', 's5', 's6', 's7', 's9', 's12')));
  t.ok(r.ok);
  t.equal(r.faultInjections, 3);
  t.match(r.recovery[0], { fault: 'leader-kill', faultId: 1, firstFailureT: 1100, firstError: 'timeout', recoveredT: 1500, recoveryMs: 400, healed: true });
  t.equal(r.recovery[1].recoveryMs, undefined, 'no impact');
  t.match(r.recovery[2], { fault: 'random-partition', recoveryMs: 300 });
  t.same(
    r.recovery.map((f) => f.untilT),
    [3000, 5000, 11_000],
    'a fault owns its grace period (5 s after its end) up to the next injection',
  );
  t.equal(r.recovery[0].stallMs, 3000 - 1600, 'no ok from 1600 until the next injection');
  t.equal(r.recovery[1].stallMs, 5000 - 3110);
  t.same(r.recoveryByFault['leader-kill'], { injections: 2, count: 1, p50: 400, max: 400, stallP50: 1400, stallMax: 1890 });
  // s2 failed at 1050, inside the first fault, though it was invoked before: not outside.
  t.same(r.unavailableOutsideFaults, [
    { fromT: 20_000, toT: 20_700, durationMs: 700, recovered: true, failures: 2, firstError: 'timeout' },
    { fromT: 30_000, toT: 30_100, durationMs: 100, recovered: false, failures: 1, firstError: 'NOT_MASTER' },
  ]);
  t.equal(
    summaryLine(r, { nodes: 5, durationS: 30 }),
    '{"nodes":5,"durationS":30,"faults":3,"acked":7,"lost":0,"duplicated":0,"reordered":0,"divergent":0,' +
      '"recoveryMs":{"leader-kill":{"p50":400,"max":400,"count":1},"random-partition":{"p50":300,"max":300,"count":1}}}',
  );

  const lateFailure = [fault('start', 'random-delay', 1, 0), fault('end', 'random-delay', 1, 1000), ...send('p0', 'x', 4000, 4100, 'fail'), ...send('p0', 'y', 4200, 4300, 'ok')];
  t.equal(check(lateFailure, []).recovery[0].recoveryMs, 300, 'within the default 5 s grace: the fault’s');
  const short = check(lateFailure, [], { graceMs: 1000 });
  t.equal(short.recovery[0].recoveryMs, undefined);
  t.match(short.unavailableOutsideFaults, [{ fromT: 4000, toT: 4300, durationMs: 300 }]);

  const neverHealed = check([fault('start', 'major-kill', 9, 100), ...send('p0', 'x', 200, 300, 'unknown'), ...send('p0', 'y', 400, 3400, 'unknown')], []);
  t.match(neverHealed.recovery[0], { healed: false, endT: 3400, firstFailureT: 200, recoveredT: undefined, recoveryMs: 3200 });
});

t.test('events written out of time order across clients give the same result', async (t) => {
  const byClient = [...clean].sort((a, b) => a.client.localeCompare(b.client) || a.t - b.t);
  t.same(check(byClient, three(cleanLog)), check(clean, three(cleanLog)));
});

// ---------------------------------------------------------------------------------------------
// Random correct runs, then one thing broken

interface SendSpec {
  readonly client: number;
  /** -1: no key. */
  readonly key: number;
  readonly queue: number;
  readonly gap: number;
  readonly toCommit: number;
  readonly toAck: number;
  readonly outcome: 'ok' | 'fail' | 'unknown-stored' | 'unknown-lost' | 'unknown-then-ok';
}

interface Run {
  readonly events: HistoryEvent[];
  readonly dumps: ReplicaDump[];
}

const QUEUES = 4;

/** A correct run: each attempt commits between its invoke and its outcome, the log is in commit
 *  order (so acked-before-invoked implies stored-before), keys go to one queue. */
function correctRun(specs: readonly SendSpec[]): Run {
  const events: HistoryEvent[] = [];
  const commits: { at: number; id: string; key?: string; q: number }[] = [];
  let now = 0;
  specs.forEach((s, i) => {
    now += s.gap;
    const id = `m${i}`;
    const client = `p${s.client}`;
    const q = s.key >= 0 ? s.key % QUEUES : s.queue;
    const where = { q, ...(s.key >= 0 ? { key: `k${s.key}` } : {}) };
    const attempt = (at: number, outcome: Outcome, commitsIt: boolean) => {
      const commitAt = at + s.toCommit + i / 1e6; // distinct commit times
      if (commitsIt) commits.push({ at: commitAt, id, q, ...(where.key ? { key: where.key } : {}) });
      events.push(...send(client, id, at, commitAt + s.toAck, outcome, where));
    };
    if (s.outcome === 'ok') attempt(now, 'ok', true);
    else if (s.outcome === 'fail') attempt(now, 'fail', false);
    else if (s.outcome === 'unknown-stored') attempt(now, 'unknown', true);
    else if (s.outcome === 'unknown-lost') attempt(now, 'unknown', false);
    else {
      attempt(now, 'unknown', true);
      attempt(now + s.toCommit + s.toAck + 1, 'ok', true);
    }
  });
  commits.sort((a, b) => a.at - b.at);
  const offsets = new Map<number, number>();
  const messages: DumpedMessage[] = commits.map((c, i) => {
    const o = offsets.get(c.q) ?? 0;
    offsets.set(c.q, o + 1);
    return { id: c.id, topic: 'T', queueId: c.q, queueOffset: o, logIndex: i + 2, ...(c.key ? { key: c.key } : {}) }; // entry 1: the no-op
  });
  // Acks report where their message was stored (the last copy: the ok attempt commits last).
  const slot = new Map(messages.map((m) => [m.id, m]));
  const withSlots = events.map((e) => (e.op === 'send' && e.type === 'ok' ? { ...e, queueId: slot.get(e.id)!.queueId, queueOffset: slot.get(e.id)!.queueOffset } : e));
  withSlots.sort((a, b) => a.t - b.t);
  const last = messages.length + 1;
  const lagging = Math.max(1, Math.floor(last / 2));
  return { events: withSlots, dumps: [dump('n0', messages, last), dump('n1', messages, last), dump('n2', messages, lagging, last)] };
}

const specArb: fc.Arbitrary<SendSpec> = fc.record({
  client: fc.integer({ min: 0, max: 2 }),
  key: fc.integer({ min: -3, max: 4 }).map((k) => (k < 0 ? -1 : k)),
  queue: fc.integer({ min: 0, max: QUEUES - 1 }),
  gap: fc.integer({ min: 0, max: 20 }),
  toCommit: fc.integer({ min: 1, max: 30 }),
  toAck: fc.integer({ min: 0, max: 30 }),
  outcome: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'fail', 'unknown-stored', 'unknown-lost', 'unknown-then-ok'),
});
const runArb = fc.array(specArb, { minLength: 1, maxLength: 60 }).map(correctRun);

function ackedIds(run: Run): string[] {
  return [...new Set(run.events.flatMap((e) => (e.op === 'send' && e.type === 'ok' ? [e.id] : [])))];
}

t.test('property: correct random runs pass; dropping, swapping or corrupting one thing is found', async (t) => {
  t.comment(`seed ${SEED} (replay: SEED=${SEED} npx tap test/chaos/checker.test.ts)`);
  const params = { seed: SEED, numRuns: NUM_RUNS };

  fc.assert(
    fc.property(runArb, ({ events, dumps }) => {
      const r = checkHistory(events, dumps);
      return r.ok && r.lost.count === 0 && r.duplicated.unexplained === 0 && r.reordered.count === 0 && r.divergent.count === 0 && r.misplaced.count === 0;
    }),
    params,
  );
  t.pass('correct runs pass');

  fc.assert(
    fc.property(runArb, fc.nat(), (run, pick) => {
      const acked = ackedIds(run);
      fc.pre(acked.length > 0);
      const victim = acked[pick % acked.length];
      const dumps = run.dumps.map((d) => ({ ...d, messages: d.messages.filter((m) => m.id !== victim) }));
      const r = checkHistory(run.events, dumps);
      return r.lost.count === 1 && r.lost.examples[0].id === victim && !r.ok;
    }),
    params,
  );
  t.pass('dropping an acked message from every dump is one lost message');

  fc.assert(
    fc.property(runArb, fc.nat(), (run, pick) => {
      const pair = orderedPair(run, pick);
      fc.pre(pair !== undefined);
      const [a, b] = pair!;
      // Swap where a and b are stored: in the acks and in every dump.
      const slotOf = (id: string) => run.dumps[0].messages.find((m) => m.id === id)!;
      const sa = slotOf(a);
      const sb = slotOf(b);
      const events = run.events.map((e) => {
        if (e.op !== 'send' || e.type !== 'ok') return e;
        if (e.id === a) return { ...e, queueOffset: sb.queueOffset };
        if (e.id === b) return { ...e, queueOffset: sa.queueOffset };
        return e;
      });
      const swapId = (m: DumpedMessage): DumpedMessage => (m.id === a ? { ...m, id: b } : m.id === b ? { ...m, id: a } : m);
      const dumps = run.dumps.map((d) => ({ ...d, messages: d.messages.map(swapId) }));
      const r = checkHistory(events, dumps);
      return r.reordered.count >= 1 && r.reordered.byQueue >= 1 && !r.ok;
    }),
    params,
  );
  t.pass('swapping where two ordered sends of one queue are stored is a reorder');

  fc.assert(
    fc.property(runArb, fc.nat(), (run, pick) => {
      const n1 = run.dumps[1];
      const index = 1 + (pick % n1.commitIndex);
      const entries = n1.entries.map((e) => (e.index === index ? { ...e, hash: 'corrupt' } : e));
      const r = checkHistory(run.events, [run.dumps[0], { ...n1, entries }, run.dumps[2]]);
      const covered = index <= run.dumps[2].commitIndex;
      return r.divergent.count === (covered ? 2 : 1) && r.divergent.examples.every((d) => d.index === index && d.what === 'hash');
    }),
    params,
  );
  t.pass('corrupting one committed entry on one replica is a divergence');
});

/** Two acked sends of one client on one queue, stored once each, a acked before b was invoked. */
function orderedPair(run: Run, pick: number): [string, string] | undefined {
  const copies = new Map<string, number>();
  for (const m of run.dumps[0].messages) copies.set(m.id, (copies.get(m.id) ?? 0) + 1);
  const sends = new Map<string, { client: string; q: number; invokeT: number; okT: number }>();
  for (const e of run.events) {
    if (e.op !== 'send') continue;
    if (e.type === 'invoke' && !sends.has(e.id)) sends.set(e.id, { client: e.client, q: -1, invokeT: e.t, okT: -1 });
    if (e.type === 'ok') Object.assign(sends.get(e.id)!, { q: e.queueId, okT: e.t });
  }
  const acked = [...sends].filter(([id, s]) => s.okT >= 0 && copies.get(id) === 1);
  const pairs: [string, string][] = [];
  for (const [a, sa] of acked) {
    for (const [b, sb] of acked) if (sa.client === sb.client && sa.q === sb.q && sa.okT < sb.invokeT) pairs.push([a, b]);
  }
  return pairs.length ? pairs[pick % pairs.length] : undefined;
}

// Half a million events: more than a 10-minute run at the default 200 sends a second writes
// (120k messages x invoke, outcome and receive = 360k). It took 3.8 s on a 2-core machine; the
// bound is loose so that a loaded machine does not fail it; a quadratic step would.
t.test('half a million events check in seconds', async (t) => {
  const specs: SendSpec[] = [];
  let x = SEED >>> 0 || 1;
  const rand = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  for (let i = 0; i < 250_000; i++) {
    specs.push({ client: rand(8), key: rand(3) === 0 ? rand(1000) : -1, queue: rand(QUEUES), gap: rand(2), toCommit: 1 + rand(20), toAck: rand(10), outcome: 'ok' });
  }
  const run = correctRun(specs);
  const started = performance.now();
  const r = checkHistory(run.events, run.dumps);
  const ms = performance.now() - started;
  t.comment(`${run.events.length} events, 3 dumps: ${Math.round(ms)} ms`);
  t.ok(r.ok);
  t.equal(r.sends.acked, 250_000);
  t.ok(ms < 20_000, 'fast enough for a 10-minute run');
});
