// The chaos checker: reads a history and the replicas' final dumps, says what went wrong.
// Pure and offline: no processes, no clock. One pass over the events plus sorts, so a
// million-event history checks in seconds.
//
// Broker groups: dumps carry their group (brokerName). Replicas are compared within their group,
// each group's reference dump is its final log, and a message id must be stored by one group
// only. An ack or a receive names its group (the run's only one when the dumps name none), so
// (topic, queue, offset) below means (group, topic, queue, offset).
//
// Rules (a "send" is one message id; it may have several attempts = invoke + outcome):
// - acked: the number of send 'ok' events.
// - lost: an id with at least one 'ok' that is in no replica's committed messages (of any
//   group) and was never received by a consumer, unless it expired by retention.
// - expiredByRetention: such an id whose 'ok' names a queue offset below the first offset of
//   that queue its group's reference dump covers (a dump replayed from a retention mark covers each
//   queue from its next offset at the mark; coverage.ts): retention deleted it on every replica.
//   Counted, not a finding. An 'ok' without an offset is never expired (it can only be lost).
// - Messages of the broker's own topics (%RETRY%, %DLQ%, SCHEDULE_TOPIC_XXXX: copies of sends
//   made by retries and delays) take part only in the replicas' comparison (divergent).
// - duplicated: an id stored more than once over the groups' reference dumps (per group the
//   replica with the highest commitIndex; ties: more messages, then the first): twice in one
//   group, or in two groups. With `idempotentProducers` every one is unexplained (the producer's
//   window must answer a retry, and a send moves group only when certainly not stored).
//   Otherwise explained when the id had an 'unknown' outcome, an attempt without an outcome, or
//   more than one attempt (a retry); unexplained otherwise. Only unexplained ones fail the check.
//   What the dumps store is what the broker's state machine stored (dump.ts): a retried batch
//   the window answered is in the log, not in the messages.
// - failedButStored: every attempt of the id ended in 'fail' (a definite refusal), yet some
//   replica stores it. phantom: a stored non-empty id the history never sent.
// - reordered: for two acked sends A, B of the same client (the same topic and key for the
//   per-key rule; the same group, topic and queue for the per-queue rule) where A's first 'ok' is
//   strictly earlier than B's first invoke, B must be stored after A: per key by position in the
//   group's reference dump's log, among sends stored by one group (two groups' logs have no
//   common order; sends not stored, e.g. expired ones, take no part; falls back
//   to queueOffset on one queue when there are no dumps), per queue by queueOffset (from the
//   'ok', else the dump). Sends that overlapped in time are concurrent and may land in any
//   order; equal timestamps count as overlap. With `orderAcrossClients`, the rule also applies
//   between clients (real-time order implies log order in a linearizable log, but only when
//   every client's `t` is from one clock). reordered counts the sends B that break either rule (each once). A consumer seeing a
//   queue's offsets go backwards is redelivery, not a finding.
// - misplaced: an 'ok' or a receive names (group, topic, queue, offset) where that group's
//   reference dump stores a different id (an offset the dump does not cover is not checked).
// - divergent: the number of replica pairs of one group whose committed prefixes disagree: for indexes up to
//   min(commitIndex) of the two, from the later of their first entries (a compacted prefix is
//   not compared), both must have the entry with equal term and hash, and their decoded
//   messages in that range must be the same (from after the later of their replay marks, when
//   a dump was replayed from a retention mark: queue offsets included). The first differing
//   index is reported.
// - recovery per fault injection: a fault owns [start, until], until = end + graceMs, cut at the
//   next injection's start (but never before its own end). The first attempt invoked in it that
//   ended 'fail' or 'unknown' opens the unavailability window; the earliest 'ok' among attempts
//   invoked after that failure's invoke closes it (never closed: open until the end of the run).
//   Injections without such a failure had no impact. stallMs (needs no failures: the client's
//   retries can hide a failover as latency) is the longest time inside [start, until] in which
//   no send got its 'ok'.
// - unavailableOutsideFaults: the same windows for failed attempts whose [invoke, outcome]
//   touches no fault's [start, until] (a send in flight when a fault hit belongs to the fault);
//   failures before a window closes belong to it.
// - consumers (only when the history has consume events): consumer groups' findings, rules in
//   consume-check.ts (overlaps outside a rebalance, unconsumed, retries, orderly), over the
//   acknowledged sends.
// - ok: no lost, unexplained duplicated, failedButStored, phantom, reordered, misplaced or
//   divergent finding, and no consumer-group finding. Availability is measured, not judged.

import { DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX, SCHEDULE_TOPIC } from '../protocol/index.ts';
import { checkConsumers, type ConsumeResult } from './consume-check.ts';
import { faultWindows, measureFault, statsByFault, windowsOutsideFaults, type FaultImpact, type FaultStats, type UnavailableWindow } from './availability.ts';
import { dumpStarts, type DumpStart } from './coverage.ts';
import { findDivergence, type Divergence } from './divergence.ts';
import { FindingBuilder, type Finding } from './findings.ts';
import type { HistoryEvent, ReceiveEvent, ReplicaDump, SendEvent } from './history.ts';
import { findReorders, type ReorderedFinding } from './order.ts';
import { indexSends, markReceived, type GroupOf, type SendRecord } from './send-records.ts';
import { findDuplicates, findLost, groupResolver, groupViews, markStored, type DuplicatedFinding, type GroupView, type LostMessage, type StoredAgainstHistory } from './stored.ts';

export type { ConsumeResult, ConsumerGroupResult } from './consume-check.ts';
export type { DumpStart } from './coverage.ts';
export type { Divergence } from './divergence.ts';
export type { FaultImpact, FaultStats, FaultWindow, UnavailableWindow } from './availability.ts';
export type { Finding } from './findings.ts';
export type { OrderViolation } from './order.ts';
export type { DuplicateMessage, LostMessage, StoredAgainstHistory } from './stored.ts';

export interface CheckOptions {
  /** Failures this long after a fault's end still belong to it (default 5000 ms). */
  readonly graceMs?: number;
  /** Examples kept per finding (default 20). */
  readonly maxExamples?: number;
  /** Apply the ordering rules between different clients too (default false). */
  readonly orderAcrossClients?: boolean;
  /** Every producer of the history was idempotent: any duplicate is a finding (default false). */
  readonly idempotentProducers?: boolean;
  /** Consumer groups: how long around a member's allocation change overlaps are expected
   *  (consume-check.ts). */
  readonly consumeSettleMs?: number;
}

export interface Misplaced {
  readonly source: 'ack' | 'receive';
  readonly id: string;
  readonly client: string;
  readonly topic: string;
  /** The group the ack or receive named; absent with one group. */
  readonly group?: string;
  readonly queueId: number;
  readonly queueOffset: number;
  readonly storedId: string;
}

/** One broker group's part of the result (only the findings that belong to one group). */
export interface GroupResult {
  /** brokerName; '' when the dumps name none. */
  readonly group: string;
  readonly replicas: readonly string[];
  readonly referenceNode?: string;
  /** The reference dump's commit index and stored messages. */
  readonly commitIndex: number;
  readonly stored: number;
  /** Retried batches the producers' windows answered (reference dump). */
  readonly retriesAnswered: number;
  /** 'ok' events that named this group. */
  readonly acked: number;
  readonly lost: number;
  /** Ids this group stores more than once, or that another group stores too. */
  readonly duplicated: number;
  readonly reordered: number;
  readonly divergent: number;
}

export interface CheckResult {
  /** True when nothing that breaks a guarantee was found (explained duplicates are allowed). */
  readonly ok: boolean;
  readonly runEndT: number;
  readonly idempotentProducers: boolean;
  readonly sends: { readonly ids: number; readonly attempts: number; readonly acked: number; readonly failed: number; readonly unknown: number };
  readonly received: number;
  /** The reference replica (its group's, per group, comma-separated, with several groups). */
  readonly referenceNode?: string;
  /** Per broker group, in the order the dumps name them. */
  readonly groups: GroupResult[];
  readonly lost: Finding<LostMessage>;
  /** Acknowledged, stored nowhere, below what the reference dump covers: deleted by retention. */
  readonly expiredByRetention: Finding<LostMessage>;
  /** Where each dump's messages start (retention). */
  readonly dumpStarts: DumpStart[];
  readonly duplicated: DuplicatedFinding;
  readonly failedButStored: Finding<StoredAgainstHistory>;
  readonly phantom: Finding<StoredAgainstHistory>;
  readonly reordered: ReorderedFinding;
  readonly misplaced: Finding<Misplaced>;
  readonly divergent: Finding<Divergence>;
  readonly faultInjections: number;
  readonly recovery: FaultImpact[];
  readonly recoveryByFault: Record<string, FaultStats>;
  readonly unavailableOutsideFaults: UnavailableWindow[];
  /** Consumer groups (push consumers); absent when the history has none. */
  readonly consumers?: ConsumeResult;
}

const DEFAULT_GRACE_MS = 5000;
const DEFAULT_MAX_EXAMPLES = 20;

export function checkHistory(events: readonly HistoryEvent[], dumps: readonly ReplicaDump[], options: CheckOptions = {}): CheckResult {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const maxExamples = options.maxExamples ?? DEFAULT_MAX_EXAMPLES;
  const idempotent = options.idempotentProducers ?? false;
  // The workload's own topics: copies in retry, dead-letter and delay topics are the broker's
  // (consume-check.ts judges those), not second stores of a send. Replicas compare everything.
  const views = groupViews(dumps.map(withoutInternalTopics));
  const groupOf = groupResolver(views);
  const named = views.length > 1;
  const { sends, attempts, counts, ackedByGroup, runEndT } = indexSends(events, groupOf);
  const stored = markStored(sends, views, maxExamples);
  const receivedIds = markReceived(sends, events);
  const { lost, expired } = findLost(sends, views, maxExamples);
  const duplicated = findDuplicates(sends, views, idempotent, maxExamples);
  const { reordered, violators } = findReorders(sends, views.some((v) => v.reference !== undefined), options.orderAcrossClients ?? false, named, maxExamples);
  const misplaced = findMisplaced(events, views, groupOf, named, maxExamples);
  const divergence = groupViews(dumps).map((v) => findDivergence(v.dumps, maxExamples));
  const divergent = mergeFindings(divergence, maxExamples);
  const faults = faultWindows(events, runEndT, graceMs);
  const recovery = faults.map((f) => measureFault(f, attempts, runEndT));
  const unavailableOutsideFaults = windowsOutsideFaults(faults, attempts, runEndT);
  const acked = [...sends.values()].filter((r) => r.okCount > 0).map((r) => ({ id: r.id, topic: r.topic }));
  const consumers = checkConsumers(events, acked, { maxExamples, ...(options.consumeSettleMs !== undefined ? { settleMs: options.consumeSettleMs } : {}) });
  const ok =
    (consumers?.ok ?? true) &&
    lost.count === 0 &&
    duplicated.unexplained === 0 &&
    stored.failedButStored.count === 0 &&
    stored.phantom.count === 0 &&
    reordered.count === 0 &&
    misplaced.count === 0 &&
    divergent.count === 0;
  const references = views.flatMap((v) => (v.reference ? [v.reference.node] : []));
  return {
    ok,
    runEndT,
    idempotentProducers: idempotent,
    sends: counts,
    received: receivedIds,
    ...(references.length > 0 ? { referenceNode: references.join(', ') } : {}),
    groups: views.map((v, i) => groupResult(v, sends, ackedByGroup, violators, divergence[i]!.count)),
    lost,
    expiredByRetention: expired,
    dumpStarts: dumpStarts(dumps),
    duplicated,
    failedButStored: stored.failedButStored,
    phantom: stored.phantom,
    reordered,
    misplaced,
    divergent,
    faultInjections: faults.length,
    recovery,
    recoveryByFault: statsByFault(recovery),
    unavailableOutsideFaults,
    ...(consumers ? { consumers } : {}),
  };
}

/** One group's counts: lost and reordered by the group the ack named, duplicated by the groups
 *  storing it (an id in two groups counts in both). */
function groupResult(view: GroupView, sends: Map<string, SendRecord>, ackedByGroup: Map<string, number>, violators: ReadonlySet<string>, divergent: number): GroupResult {
  let lost = 0;
  let duplicated = 0;
  let reordered = 0;
  for (const id of violators) if (sends.get(id)?.group === view.name) reordered++;
  for (const rec of sends.values()) {
    if (rec.okCount > 0 && !rec.stored && !rec.received && rec.group === view.name) lost++;
    if (rec.refCopies > 1 && rec.refGroups.includes(view.name)) duplicated++;
  }
  const ref = view.reference;
  return {
    group: view.name,
    replicas: view.dumps.map((d) => d.node),
    ...(ref ? { referenceNode: ref.node } : {}),
    commitIndex: ref?.commitIndex ?? 0,
    stored: ref?.messages.length ?? 0,
    retriesAnswered: ref?.retriesAnswered ?? 0,
    acked: ackedByGroup.get(view.name) ?? 0,
    lost,
    duplicated,
    reordered,
    divergent,
  };
}

/** Topics the broker writes itself: a group's %RETRY% and %DLQ% topics, SCHEDULE_TOPIC_XXXX. */
function isInternalTopic(topic: string): boolean {
  return topic.startsWith(RETRY_GROUP_TOPIC_PREFIX) || topic.startsWith(DLQ_GROUP_TOPIC_PREFIX) || topic === SCHEDULE_TOPIC;
}

function withoutInternalTopics(dump: ReplicaDump): ReplicaDump {
  return dump.messages.some((m) => isInternalTopic(m.topic)) ? { ...dump, messages: dump.messages.filter((m) => !isInternalTopic(m.topic)) } : dump;
}

function mergeFindings<T>(findings: readonly Finding<T>[], maxExamples: number): Finding<T> {
  const count = findings.reduce((n, f) => n + f.count, 0);
  return { count, examples: findings.flatMap((f) => f.examples).slice(0, maxExamples) };
}

// ---------------------------------------------------------------------------------------------
// Acks and receives against the stored queues

function findMisplaced(events: readonly HistoryEvent[], views: readonly GroupView[], groupOf: GroupOf, named: boolean, maxExamples: number): Finding<Misplaced> {
  const found = new FindingBuilder<Misplaced>(maxExamples);
  const queues = new Map<string, string[]>();
  for (const v of views) if (v.reference) storedQueues(v.name, v.reference.messages, queues);
  if (queues.size === 0) return found.done();
  for (const ev of events) {
    if (!isAckOrReceive(ev)) continue;
    const { topic, queueId, queueOffset } = ev;
    if (queueId === undefined || queueOffset === undefined) continue;
    const group = groupOf(ev.group);
    const storedId = queues.get(`${group}\u0000${topic}\u0000${queueId}`)?.[queueOffset];
    if (storedId === undefined || storedId === ev.id) continue; // not stored there at all: lost, not misplaced
    found.add({ source: ev.op === 'send' ? 'ack' : 'receive', id: ev.id, client: ev.client, topic, ...(named ? { group } : {}), queueId, queueOffset, storedId });
  }
  return found.done();
}

function isAckOrReceive(ev: HistoryEvent): ev is SendEvent | ReceiveEvent {
  return (ev.op === 'send' && ev.type === 'ok') || ev.op === 'receive';
}

/** group + topic + queue -> ids by queue offset. */
function storedQueues(group: string, messages: ReplicaDump['messages'], into: Map<string, string[]>): void {
  for (const m of messages) {
    const name = `${group}\u0000${m.topic}\u0000${m.queueId}`;
    let ids = into.get(name);
    if (!ids) into.set(name, (ids = []));
    ids[m.queueOffset] = m.id;
  }
}
