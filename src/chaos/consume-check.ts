// The consumer-group half of the chaos checker: reads the members' consume events (history.ts's
// ConsumeEvent) and says what went wrong. Pure and offline, as checker.ts.
//
// Rules, per consumer group (one 'join' event names its topic, orderly and maxReconsumeTimes):
// - overlaps: two handler calls of messages of one queue (the queue pulled from) by two members,
//   whose [startT, t] intervals intersect. A member's allocation must have changed (join, leave,
//   kill or rebalance of either member) within settleMs of the overlap for it to be expected:
//   then it is counted in overlapsInRebalance, not a finding. Ordered groups: every overlap on a
//   queue is a finding, even of one member or during a rebalance (queue locks forbid it).
// - unconsumed: an acknowledged message of the group's topic that no call consumed successfully
//   and that is not in the group's DLQ at the end. Several successful calls of one message are
//   counted (duplicateConsumptions: expected around rebalances and crashes), not findings.
// - retries: a call with reconsumeTimes r needs, for each j < r, a failed call of the message
//   with reconsumeTimes j that ended before it started (a count made up or skipped); a failed
//   call with reconsumeTimes j < maxReconsumeTimes needs a later call with j + 1 (the retry came
//   back, counted up); one with j >= maxReconsumeTimes needs the message in the DLQ; a message in
//   the DLQ needs a failed call with reconsumeTimes >= maxReconsumeTimes (it failed
//   maxReconsumeTimes + 1 times). The second and third rules are excused (retriesExplained) when
//   the failing member's allocation changed within settleMs of the failure: a retry kept in
//   memory (its send back failed) is redelivered from the queue by the next owner instead.
// - orderly (ordered groups): per key and queue, messages are first handled in queue order.
import { CONSUMER_HEARTBEAT_TIMEOUT_MS } from '../protocol/index.ts';
import { FindingBuilder, lowerBound, push, type Finding } from './findings.ts';
import type { ConsumeEvent, HistoryEvent } from './history.ts';

export interface ConsumeCheckOptions {
  /** How long around a member's allocation change an overlap or a lost retry is expected
   *  (default: 2 s + the heartbeat timeout, 5000 ms). */
  readonly settleMs?: number;
  readonly maxExamples?: number;
}

/** An acknowledged send, as the producer side of the checker knows it. */
export interface AckedMessage {
  readonly id: string;
  readonly topic: string;
}

export interface Overlap {
  readonly consumerGroup: string;
  readonly queue: string;
  readonly a: { readonly member: string; readonly id: string; readonly startT: number; readonly endT: number };
  readonly b: { readonly member: string; readonly id: string; readonly startT: number; readonly endT: number };
}

export interface Unconsumed {
  readonly consumerGroup: string;
  readonly id: string;
  /** Calls of it that failed. */
  readonly failures: number;
}

export interface RetryViolation {
  readonly consumerGroup: string;
  readonly id: string;
  readonly rule: 'count-skipped' | 'retry-missing' | 'dlq-missing' | 'dlq-early';
  readonly reconsumeTimes: number;
  readonly member?: string;
  readonly t?: number;
}

export interface OrderlyViolation {
  readonly consumerGroup: string;
  readonly key: string;
  readonly queue: string;
  /** Stored first in the queue, yet first handled after `handledFirst`. */
  readonly storedFirst: { readonly id: string; readonly queueOffset: number; readonly firstStartT: number };
  readonly handledFirst: { readonly id: string; readonly queueOffset: number; readonly firstStartT: number };
}

export interface ConsumerGroupResult {
  readonly consumerGroup: string;
  readonly topic: string;
  readonly orderly: boolean;
  readonly maxReconsumeTimes: number;
  /** Members that joined (a restarted member counts again). */
  readonly members: number;
  readonly kills: number;
  readonly rebalances: number;
  readonly calls: number;
  readonly failedCalls: number;
  /** Distinct messages consumed successfully. */
  readonly consumed: number;
  readonly duplicateConsumptions: number;
  readonly dlq: number;
  readonly overlapsInRebalance: number;
}

export interface ConsumeResult {
  readonly groups: ConsumerGroupResult[];
  readonly overlaps: Finding<Overlap>;
  readonly unconsumed: Finding<Unconsumed>;
  readonly retries: Finding<RetryViolation>;
  readonly orderly: Finding<OrderlyViolation>;
  readonly overlapsInRebalance: number;
  readonly duplicateConsumptions: number;
  readonly retriesExplained: number;
  /** No finding (overlaps, unconsumed, retries, orderly). */
  readonly ok: boolean;
}

/** A member learns of another's departure within the heartbeat timeout; 2 s more for its
 *  rebalance to drop or take the queues. */
export const CONSUME_SETTLE_MS_DEFAULT = 2000 + CONSUMER_HEARTBEAT_TIMEOUT_MS;
const MAX_EXAMPLES_DEFAULT = 20;

interface Call {
  readonly member: string;
  readonly id: string;
  readonly key: string;
  readonly queue: string;
  readonly queueOffset: number;
  readonly startT: number;
  readonly endT: number;
  readonly reconsumeTimes: number;
  readonly ok: boolean;
}

interface GroupEvents {
  topic: string;
  orderly: boolean;
  maxReconsumeTimes: number;
  members: number;
  kills: number;
  rebalances: number;
  readonly calls: Call[];
  /** Per member, the times its allocation changed (sorted: events come in time order). */
  readonly changes: Map<string, number[]>;
  readonly dlq: Set<string>;
}

/** Null when the history has no consume events (a run without consumer groups). */
export function checkConsumers(events: readonly HistoryEvent[], acked: Iterable<AckedMessage>, options: ConsumeCheckOptions = {}): ConsumeResult | null {
  const settleMs = options.settleMs ?? CONSUME_SETTLE_MS_DEFAULT;
  const maxExamples = options.maxExamples ?? MAX_EXAMPLES_DEFAULT;
  const groups = collect(events);
  if (groups.size === 0) return null;
  const overlaps = new FindingBuilder<Overlap>(maxExamples);
  const unconsumed = new FindingBuilder<Unconsumed>(maxExamples);
  const retries = new FindingBuilder<RetryViolation>(maxExamples);
  const orderly = new FindingBuilder<OrderlyViolation>(maxExamples);
  const ackedList = [...acked];
  const results: ConsumerGroupResult[] = [];
  let overlapsInRebalance = 0;
  let duplicateConsumptions = 0;
  let retriesExplained = 0;
  for (const [name, g] of groups) {
    const changedNear = (member: string, from: number, to: number): boolean => {
      const times = g.changes.get(member) ?? [];
      const i = lowerBound(times, from - settleMs, (x) => x);
      return i < times.length && times[i]! <= to + settleMs;
    };
    const expected = findOverlaps(name, g, changedNear, overlaps);
    const byId = new Map<string, Call[]>();
    for (const c of g.calls) push(byId, c.id, c);
    let consumed = 0;
    let duplicates = 0;
    for (const calls of byId.values()) {
      const successes = calls.reduce((n, c) => n + (c.ok ? 1 : 0), 0);
      if (successes > 0) consumed++;
      if (successes > 1) duplicates += successes - 1;
    }
    for (const m of ackedList) {
      if (m.topic !== g.topic || g.dlq.has(m.id)) continue;
      const calls = byId.get(m.id) ?? [];
      if (!calls.some((c) => c.ok)) unconsumed.add({ consumerGroup: name, id: m.id, failures: calls.length });
    }
    retriesExplained += checkRetries(name, g, byId, changedNear, retries);
    if (g.orderly) checkOrder(name, g, orderly);
    overlapsInRebalance += expected;
    duplicateConsumptions += duplicates;
    results.push({
      consumerGroup: name,
      topic: g.topic,
      orderly: g.orderly,
      maxReconsumeTimes: g.maxReconsumeTimes,
      members: g.members,
      kills: g.kills,
      rebalances: g.rebalances,
      calls: g.calls.length,
      failedCalls: g.calls.reduce((n, c) => n + (c.ok ? 0 : 1), 0),
      consumed,
      duplicateConsumptions: duplicates,
      dlq: g.dlq.size,
      overlapsInRebalance: expected,
    });
  }
  const found = { overlaps: overlaps.done(), unconsumed: unconsumed.done(), retries: retries.done(), orderly: orderly.done() };
  const ok = found.overlaps.count === 0 && found.unconsumed.count === 0 && found.retries.count === 0 && found.orderly.count === 0;
  return { groups: results, ...found, overlapsInRebalance, duplicateConsumptions, retriesExplained, ok };
}

function collect(events: readonly HistoryEvent[]): Map<string, GroupEvents> {
  const groups = new Map<string, GroupEvents>();
  const groupOf = (ev: ConsumeEvent): GroupEvents => {
    let g = groups.get(ev.consumerGroup);
    if (!g) groups.set(ev.consumerGroup, (g = { topic: '', orderly: false, maxReconsumeTimes: 0, members: 0, kills: 0, rebalances: 0, calls: [], changes: new Map(), dlq: new Set() }));
    return g;
  };
  for (const ev of events) {
    if (ev.op !== 'consume') continue;
    const g = groupOf(ev);
    switch (ev.type) {
      case 'join':
        g.members++;
        g.topic = ev.topic ?? g.topic;
        g.orderly = ev.orderly ?? false;
        g.maxReconsumeTimes = ev.maxReconsumeTimes ?? g.maxReconsumeTimes;
        push(g.changes, ev.client, ev.t);
        break;
      case 'kill':
      case 'leave':
      case 'rebalance':
        if (ev.type === 'kill') g.kills++;
        if (ev.type === 'rebalance') g.rebalances++;
        push(g.changes, ev.client, ev.t);
        break;
      case 'call':
        if (ev.id === undefined || ev.id === '' || ev.queue === undefined) break;
        g.calls.push({
          member: ev.client,
          id: ev.id,
          key: ev.key ?? '',
          queue: ev.queue,
          queueOffset: ev.queueOffset ?? -1,
          startT: ev.startT ?? ev.t,
          endT: ev.t,
          reconsumeTimes: ev.reconsumeTimes ?? 0,
          ok: ev.result === 'success',
        });
        break;
      case 'dlq':
        if (ev.id !== undefined && ev.id !== '') g.dlq.add(ev.id);
        break;
    }
  }
  // Members in child processes stamp their own events: keep each member's changes sorted.
  for (const g of groups.values()) for (const times of g.changes.values()) times.sort((x, y) => x - y);
  return groups;
}

/** Adds the unexpected overlaps to `found`; returns the expected ones (inside a rebalance). */
function findOverlaps(name: string, g: GroupEvents, changedNear: (member: string, from: number, to: number) => boolean, found: FindingBuilder<Overlap>): number {
  const byQueue = new Map<string, Call[]>();
  for (const c of g.calls) push(byQueue, c.queue, c);
  let expected = 0;
  for (const [queue, calls] of byQueue) {
    calls.sort((x, y) => x.startT - y.startT);
    let active: Call[] = [];
    for (const c of calls) {
      active = active.filter((a) => a.endT > c.startT);
      for (const a of active) {
        if (a.member === c.member && !g.orderly) continue; // one member's own calls run concurrently
        const from = c.startT;
        const to = Math.min(a.endT, c.endT);
        if (!g.orderly && (changedNear(a.member, from, to) || changedNear(c.member, from, to))) {
          expected++;
          continue;
        }
        found.add({
          consumerGroup: name,
          queue,
          a: { member: a.member, id: a.id, startT: a.startT, endT: a.endT },
          b: { member: c.member, id: c.id, startT: c.startT, endT: c.endT },
        });
      }
      active.push(c);
    }
  }
  return expected;
}

/** Adds violations of the retry rules to `found`; returns the excused ones. */
function checkRetries(name: string, g: GroupEvents, byId: Map<string, Call[]>, changedNear: (member: string, from: number, to: number) => boolean, found: FindingBuilder<RetryViolation>): number {
  let excused = 0;
  const max = g.maxReconsumeTimes;
  for (const [id, calls] of byId) {
    calls.sort((x, y) => x.startT - y.startT);
    for (const c of calls) {
      // Every count below this call's must have failed before it started.
      for (let j = 0; j < c.reconsumeTimes; j++) {
        if (!calls.some((f) => !f.ok && f.reconsumeTimes === j && f.endT <= c.startT)) {
          found.add({ consumerGroup: name, id, rule: 'count-skipped', reconsumeTimes: c.reconsumeTimes, member: c.member, t: c.startT });
          break;
        }
      }
      if (c.ok) continue;
      const next = c.reconsumeTimes + 1;
      const followed = c.reconsumeTimes >= max ? g.dlq.has(id) : calls.some((n) => n.reconsumeTimes === next && n.startT >= c.endT);
      if (followed) continue;
      if (changedNear(c.member, c.endT, c.endT)) excused++;
      else found.add({ consumerGroup: name, id, rule: c.reconsumeTimes >= max ? 'dlq-missing' : 'retry-missing', reconsumeTimes: c.reconsumeTimes, member: c.member, t: c.endT });
    }
    if (g.dlq.has(id) && !calls.some((c) => !c.ok && c.reconsumeTimes >= max)) {
      found.add({ consumerGroup: name, id, rule: 'dlq-early', reconsumeTimes: calls.reduce((m, c) => Math.max(m, c.reconsumeTimes), -1) });
    }
  }
  for (const id of g.dlq) if (!byId.has(id)) found.add({ consumerGroup: name, id, rule: 'dlq-early', reconsumeTimes: -1 });
  return excused;
}

/** Per key and queue: the order of first handler calls must be the queue's order. */
function checkOrder(name: string, g: GroupEvents, found: FindingBuilder<OrderlyViolation>): void {
  const first = new Map<string, Map<number, Call>>();
  for (const c of g.calls) {
    if (c.key === '' || c.queueOffset < 0) continue;
    const k = `${c.key}\u0000${c.queue}`;
    let byOffset = first.get(k);
    if (!byOffset) first.set(k, (byOffset = new Map()));
    const seen = byOffset.get(c.queueOffset);
    if (!seen || c.startT < seen.startT) byOffset.set(c.queueOffset, c);
  }
  for (const byOffset of first.values()) {
    const inOrder = [...byOffset.values()].sort((x, y) => x.queueOffset - y.queueOffset);
    // Sweep in queue order, keeping the latest first start so far: a message first handled
    // before it was stored after it.
    let latest: Call | undefined;
    for (const c of inOrder) {
      if (latest && c.startT < latest.startT) {
        found.add({
          consumerGroup: name,
          key: c.key,
          queue: c.queue,
          storedFirst: { id: latest.id, queueOffset: latest.queueOffset, firstStartT: latest.startT },
          handledFirst: { id: c.id, queueOffset: c.queueOffset, firstStartT: c.startT },
        });
      }
      if (!latest || c.startT > latest.startT) latest = c;
    }
  }
}
