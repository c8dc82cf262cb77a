// The chaos checker: reads a history and the replicas' final dumps, says what went wrong.
// Pure and offline: no processes, no clock. One pass over the events plus sorts, so a
// million-event history checks in seconds.
//
// Rules (a "send" is one message id; it may have several attempts = invoke + outcome):
// - acked: the number of send 'ok' events.
// - lost: an id with at least one 'ok' that is in no replica's committed messages and was
//   never received by a consumer, unless it expired by retention.
// - expiredByRetention: such an id whose 'ok' names a queue offset below the first offset of
//   that queue the reference dump covers (a dump replayed from a retention mark covers each
//   queue from its next offset at the mark; coverage.ts): retention deleted it on every replica.
//   Counted, not a finding. An 'ok' without an offset is never expired (it can only be lost).
// - duplicated: an id stored more than once in the reference dump (the replica with the highest
//   commitIndex; ties: more messages, then the first). Explained when the id had an 'unknown'
//   outcome, an attempt without an outcome, or more than one attempt (a retry); unexplained
//   otherwise. Only unexplained ones fail the check.
// - failedButStored: every attempt of the id ended in 'fail' (a definite refusal), yet some
//   replica stores it. phantom: a stored non-empty id the history never sent.
// - reordered: for two acked sends A, B of the same client (the same topic and key for the
//   per-key rule; the same topic and queue for the per-queue rule) where A's first 'ok' is
//   strictly earlier than B's first invoke, B must be stored after A: per key by position in the
//   reference dump's log (sends it does not store, e.g. expired ones, take no part; falls back
//   to queueOffset on one queue when there are no dumps), per queue by queueOffset (from the
//   'ok', else the dump). Sends that overlapped in time are concurrent and may land in any
//   order; equal timestamps count as overlap. With `orderAcrossClients`, the rule also applies
//   between clients (real-time order implies log order in a linearizable log, but only when
//   every client's `t` is from one clock). reordered counts the sends B that break either rule (each once). A consumer seeing a
//   queue's offsets go backwards is redelivery, not a finding.
// - misplaced: an 'ok' or a receive names (topic, queue, offset) where the reference dump
//   stores a different id (an offset the dump does not cover is not checked).
// - divergent: the number of replica pairs whose committed prefixes disagree: for indexes up to
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
// - ok: no lost, unexplained duplicated, failedButStored, phantom, reordered, misplaced or
//   divergent finding. Availability is measured, not judged.

import {
  faultWindows,
  measureFault,
  sortAttempts,
  statsByFault,
  windowsOutsideFaults,
  type Failure,
  type FaultImpact,
  type FaultStats,
  type UnavailableWindow,
} from './availability.ts';
import { dumpStarts, queueStartLookup, type DumpStart, type QueueStartOf } from './coverage.ts';
import { findDivergence, type Divergence } from './divergence.ts';
import { FindingBuilder, push, type Finding } from './findings.ts';
import type { DumpedMessage, HistoryEvent, ReceiveEvent, ReplicaDump, SendEvent } from './history.ts';

export type { DumpStart } from './coverage.ts';
export type { Divergence } from './divergence.ts';
export type { FaultImpact, FaultStats, FaultWindow, UnavailableWindow } from './availability.ts';
export type { Finding } from './findings.ts';

export interface CheckOptions {
  /** Failures this long after a fault's end still belong to it (default 5000 ms). */
  readonly graceMs?: number;
  /** Examples kept per finding (default 20). */
  readonly maxExamples?: number;
  /** Apply the ordering rules between different clients too (default false). */
  readonly orderAcrossClients?: boolean;
}

export interface LostMessage {
  readonly id: string;
  readonly client: string;
  readonly ackT: number;
  readonly key?: string;
  readonly topic: string;
  readonly queueId?: number;
  readonly queueOffset?: number;
}

export interface DuplicateMessage {
  readonly id: string;
  readonly copies: number;
  readonly logIndexes: number[];
  readonly explained: boolean;
  /** Why it is explained ('unknown', 'retried', 'no outcome'), or why not. */
  readonly reason: string;
}

export interface StoredAgainstHistory {
  readonly id: string;
  readonly logIndex: number;
  readonly node: string;
  /** failedButStored: the last error; phantom: ''. */
  readonly error: string;
}

export interface OrderViolation {
  readonly rule: 'key' | 'queue';
  readonly client: string;
  readonly topic: string;
  /** The key (rule 'key') or the queue id (rule 'queue'). */
  readonly group: string;
  /** Acked before `later` was invoked, yet stored after it. */
  readonly earlier: { readonly id: string; readonly ackT: number; readonly position: string };
  readonly later: { readonly id: string; readonly invokeT: number; readonly position: string };
}

export interface Misplaced {
  readonly source: 'ack' | 'receive';
  readonly id: string;
  readonly client: string;
  readonly topic: string;
  readonly queueId: number;
  readonly queueOffset: number;
  readonly storedId: string;
}

export interface CheckResult {
  /** True when nothing that breaks a guarantee was found (explained duplicates are allowed). */
  readonly ok: boolean;
  readonly runEndT: number;
  readonly sends: { readonly ids: number; readonly attempts: number; readonly acked: number; readonly failed: number; readonly unknown: number };
  readonly received: number;
  readonly referenceNode?: string;
  readonly lost: Finding<LostMessage>;
  /** Acknowledged, stored nowhere, below what the reference dump covers: deleted by retention. */
  readonly expiredByRetention: Finding<LostMessage>;
  /** Where each dump's messages start (retention). */
  readonly dumpStarts: DumpStart[];
  readonly duplicated: Finding<DuplicateMessage> & { readonly explained: number; readonly unexplained: number };
  readonly failedButStored: Finding<StoredAgainstHistory>;
  readonly phantom: Finding<StoredAgainstHistory>;
  readonly reordered: Finding<OrderViolation> & { readonly byKey: number; readonly byQueue: number };
  readonly misplaced: Finding<Misplaced>;
  readonly divergent: Finding<Divergence>;
  readonly faultInjections: number;
  readonly recovery: FaultImpact[];
  readonly recoveryByFault: Record<string, FaultStats>;
  readonly unavailableOutsideFaults: UnavailableWindow[];
}

const DEFAULT_GRACE_MS = 5000;
const DEFAULT_MAX_EXAMPLES = 20;

/** What the history says about one message id. */
interface SendRecord {
  readonly id: string;
  readonly client: string;
  readonly topic: string;
  readonly key?: string;
  firstInvokeT: number;
  attempts: number;
  okCount: number;
  okT: number;
  queueId?: number;
  queueOffset?: number;
  failCount: number;
  unknownCount: number;
  /** Attempts that never got an outcome. */
  openCount: number;
  /** Invoke time of the attempt waiting for its outcome, NaN when none. */
  pendingInvokeT: number;
  lastError: string;
  stored: boolean;
  received: boolean;
  /** First position in the reference dump's message list, -1 when absent. */
  refPos: number;
  refCopies: number;
}

export function checkHistory(events: readonly HistoryEvent[], dumps: readonly ReplicaDump[], options: CheckOptions = {}): CheckResult {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const maxExamples = options.maxExamples ?? DEFAULT_MAX_EXAMPLES;
  const { sends, attempts, counts, runEndT } = indexSends(events);
  const reference = pickReference(dumps);
  const stored = markStored(sends, dumps, reference, maxExamples);
  const receivedIds = markReceived(sends, events);
  const { lost, expired } = findLost(sends, queueStartLookup(reference), maxExamples);
  const duplicated = findDuplicates(sends, reference, maxExamples);
  const reordered = findReorders(sends, reference !== undefined, options.orderAcrossClients ?? false, maxExamples);
  const misplaced = findMisplaced(events, reference, maxExamples);
  const divergent = findDivergence(dumps, maxExamples);
  const faults = faultWindows(events, runEndT, graceMs);
  const recovery = faults.map((f) => measureFault(f, attempts, runEndT));
  const unavailableOutsideFaults = windowsOutsideFaults(faults, attempts, runEndT);
  const ok =
    lost.count === 0 &&
    duplicated.unexplained === 0 &&
    stored.failedButStored.count === 0 &&
    stored.phantom.count === 0 &&
    reordered.count === 0 &&
    misplaced.count === 0 &&
    divergent.count === 0;
  return {
    ok,
    runEndT,
    sends: counts,
    received: receivedIds,
    referenceNode: reference?.node,
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
  };
}

// ---------------------------------------------------------------------------------------------
// Sends and attempts

function indexSends(events: readonly HistoryEvent[]) {
  const sends = new Map<string, SendRecord>();
  const okPairs: [number, number][] = [];
  const failures: Failure[] = [];
  const counts = { ids: 0, attempts: 0, acked: 0, failed: 0, unknown: 0 };
  let runEndT = 0;
  for (const ev of events) {
    if (ev.t > runEndT) runEndT = ev.t;
    if (ev.op !== 'send') continue;
    let rec = sends.get(ev.id);
    if (!rec) {
      rec = newRecord(ev);
      sends.set(ev.id, rec);
    }
    if (ev.type === 'invoke') {
      if (!Number.isNaN(rec.pendingInvokeT)) rec.openCount++; // the previous attempt never got an outcome
      rec.attempts++;
      counts.attempts++;
      rec.pendingInvokeT = ev.t;
      continue;
    }
    // Attempts of one id are sequential (a retry follows an outcome), so the open one is this one's.
    const invokeT = Number.isNaN(rec.pendingInvokeT) ? ev.t - (ev.latencyMs ?? 0) : rec.pendingInvokeT;
    rec.pendingInvokeT = NaN;
    if (ev.type === 'ok') {
      counts.acked++;
      if (rec.okCount === 0) recordAck(rec, ev);
      rec.okCount++;
      okPairs.push([invokeT, ev.t]);
    } else {
      if (ev.type === 'fail') {
        counts.failed++;
        rec.failCount++;
      } else {
        counts.unknown++;
        rec.unknownCount++;
      }
      rec.lastError = ev.error ?? ev.type;
      failures.push({ invokeT, endT: ev.t, error: rec.lastError });
    }
  }
  for (const rec of sends.values()) if (!Number.isNaN(rec.pendingInvokeT)) rec.openCount++;
  counts.ids = sends.size;
  return { sends, attempts: sortAttempts(okPairs, failures), counts, runEndT };
}

function newRecord(ev: SendEvent): SendRecord {
  return {
    id: ev.id,
    client: ev.client,
    topic: ev.topic,
    key: ev.key,
    firstInvokeT: ev.type === 'invoke' ? ev.t : ev.t - (ev.latencyMs ?? 0),
    attempts: 0,
    okCount: 0,
    okT: 0,
    failCount: 0,
    unknownCount: 0,
    openCount: 0,
    pendingInvokeT: NaN,
    lastError: '',
    stored: false,
    received: false,
    refPos: -1,
    refCopies: 0,
  };
}

function recordAck(rec: SendRecord, ev: SendEvent): void {
  rec.okT = ev.t;
  rec.queueId = ev.queueId;
  rec.queueOffset = ev.queueOffset;
}

// ---------------------------------------------------------------------------------------------
// Stored messages: lost, duplicated, failed-but-stored, phantom

/** The replica that knows the most committed entries: its log is the final log. */
function pickReference(dumps: readonly ReplicaDump[]): ReplicaDump | undefined {
  let best: ReplicaDump | undefined;
  for (const d of dumps) {
    if (!best || d.commitIndex > best.commitIndex || (d.commitIndex === best.commitIndex && d.messages.length > best.messages.length)) best = d;
  }
  return best;
}

function markStored(sends: Map<string, SendRecord>, dumps: readonly ReplicaDump[], reference: ReplicaDump | undefined, maxExamples: number) {
  const failedButStored = new FindingBuilder<StoredAgainstHistory>(maxExamples);
  const phantom = new FindingBuilder<StoredAgainstHistory>(maxExamples);
  const seenPhantoms = new Set<string>();
  for (const dump of dumps) {
    const isReference = dump === reference;
    const messages = dump.messages;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (m.id === '') continue;
      const rec = sends.get(m.id);
      if (!rec) {
        if (!seenPhantoms.has(m.id)) {
          seenPhantoms.add(m.id);
          phantom.add({ id: m.id, logIndex: m.logIndex, node: dump.node, error: '' });
        }
        continue;
      }
      if (!rec.stored && definitelyFailed(rec)) {
        failedButStored.add({ id: m.id, logIndex: m.logIndex, node: dump.node, error: rec.lastError });
      }
      rec.stored = true;
      if (isReference) {
        if (rec.refPos < 0) {
          rec.refPos = i;
          if (rec.queueId === undefined) adoptStoredSlot(rec, m);
        }
        rec.refCopies++;
      }
    }
  }
  return { failedButStored: failedButStored.done(), phantom: phantom.done() };
}

/** An 'ok' without the slot it was stored in: take it from the final log. */
function adoptStoredSlot(rec: SendRecord, m: DumpedMessage): void {
  if (rec.okCount === 0) return;
  rec.queueId = m.queueId;
  rec.queueOffset = m.queueOffset;
}

function definitelyFailed(rec: SendRecord): boolean {
  return rec.failCount > 0 && rec.okCount === 0 && rec.unknownCount === 0 && rec.openCount === 0;
}

function markReceived(sends: Map<string, SendRecord>, events: readonly HistoryEvent[]): number {
  let received = 0;
  for (const ev of events) {
    if (ev.op !== 'receive') continue;
    received++;
    const rec = sends.get(ev.id);
    if (rec) rec.received = true;
  }
  return received;
}

function findLost(sends: Map<string, SendRecord>, queueStart: QueueStartOf, maxExamples: number): { lost: Finding<LostMessage>; expired: Finding<LostMessage> } {
  const lost = new FindingBuilder<LostMessage>(maxExamples);
  const expired = new FindingBuilder<LostMessage>(maxExamples);
  for (const rec of sends.values()) {
    if (rec.okCount === 0 || rec.stored || rec.received) continue;
    const m = { id: rec.id, client: rec.client, ackT: rec.okT, key: rec.key, topic: rec.topic, queueId: rec.queueId, queueOffset: rec.queueOffset };
    const belowCoverage = rec.queueId !== undefined && rec.queueOffset !== undefined && rec.queueOffset < queueStart(rec.topic, rec.queueId);
    (belowCoverage ? expired : lost).add(m);
  }
  return { lost: lost.done(), expired: expired.done() };
}

function findDuplicates(sends: Map<string, SendRecord>, reference: ReplicaDump | undefined, maxExamples: number): CheckResult['duplicated'] {
  const dups: SendRecord[] = [];
  for (const rec of sends.values()) if (rec.refCopies > 1) dups.push(rec);
  const copiesAt = logIndexesOf(new Set(dups.map((r) => r.id)), reference);
  // Unexplained ones first: they are the interesting examples.
  const described = dups.map((rec) => describeDuplicate(rec, copiesAt.get(rec.id) ?? []));
  described.sort((a, b) => Number(a.explained) - Number(b.explained));
  const explained = described.filter((d) => d.explained).length;
  return {
    count: described.length,
    explained,
    unexplained: described.length - explained,
    examples: described.slice(0, maxExamples),
  };
}

function logIndexesOf(ids: Set<string>, dump: ReplicaDump | undefined): Map<string, number[]> {
  const at = new Map<string, number[]>();
  if (!dump || ids.size === 0) return at;
  for (const m of dump.messages) {
    if (!ids.has(m.id)) continue;
    const list = at.get(m.id);
    if (list) list.push(m.logIndex);
    else at.set(m.id, [m.logIndex]);
  }
  return at;
}

function describeDuplicate(rec: SendRecord, logIndexes: number[]): DuplicateMessage {
  const why = rec.unknownCount > 0 ? 'unknown' : rec.openCount > 0 ? 'no outcome' : rec.attempts > 1 ? 'retried' : '';
  return {
    id: rec.id,
    copies: rec.refCopies,
    logIndexes,
    explained: why !== '',
    reason: why || `one attempt, ended ${rec.okCount > 0 ? 'ok' : 'fail'}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Order

interface Ordered {
  readonly rec: SendRecord;
  readonly position: number;
  readonly label: string;
}

function findReorders(sends: Map<string, SendRecord>, haveDump: boolean, acrossClients: boolean, maxExamples: number): CheckResult['reordered'] {
  const byKey = new Map<string, Ordered[]>();
  const byQueue = new Map<string, Ordered[]>();
  for (const rec of sends.values()) {
    if (rec.okCount === 0) continue;
    const who = acrossClients ? '' : rec.client;
    if (rec.key !== undefined && rec.key !== '') {
      if (haveDump && rec.refPos >= 0) push(byKey, `${who}\u0000${rec.topic}\u0000${rec.key}`, { rec, position: rec.refPos, label: `log position ${rec.refPos}` });
      else if (!haveDump && rec.queueId !== undefined && rec.queueOffset !== undefined) {
        push(byKey, `${who}\u0000${rec.topic}\u0000${rec.key}\u0000${rec.queueId}`, { rec, position: rec.queueOffset, label: `queue ${rec.queueId} offset ${rec.queueOffset}` });
      }
    }
    if (rec.queueId !== undefined && rec.queueOffset !== undefined) {
      push(byQueue, `${who}\u0000${rec.topic}\u0000${rec.queueId}`, { rec, position: rec.queueOffset, label: `queue ${rec.queueId} offset ${rec.queueOffset}` });
    }
  }
  const examples = new FindingBuilder<OrderViolation>(maxExamples);
  const violators = new Set<string>();
  const countKey = sweepGroups(byKey, 'key', examples, violators);
  const countQueue = sweepGroups(byQueue, 'queue', examples, violators);
  const found = examples.done();
  return { count: violators.size, byKey: countKey, byQueue: countQueue, examples: found.examples };
}

function sweepGroups(groups: Map<string, Ordered[]>, rule: 'key' | 'queue', examples: FindingBuilder<OrderViolation>, violators: Set<string>): number {
  let count = 0;
  for (const items of groups.values()) {
    if (items.length < 2) continue;
    for (const v of violationsIn(items)) {
      count++;
      violators.add(v.later.rec.id);
      examples.add({
        rule,
        client: v.later.rec.client,
        topic: v.later.rec.topic,
        group: rule === 'key' ? (v.later.rec.key ?? '') : String(v.later.rec.queueId),
        earlier: { id: v.earlier.rec.id, ackT: v.earlier.rec.okT, position: v.earlier.label },
        later: { id: v.later.rec.id, invokeT: v.later.rec.firstInvokeT, position: v.later.label },
      });
    }
  }
  return count;
}

/** Each send B stored before some send A that was acked strictly before B was first invoked:
 *  sweep B in invoke order, keeping the highest position among sends acked before it. */
function* violationsIn(items: Ordered[]): Generator<{ earlier: Ordered; later: Ordered }> {
  const byAck = [...items].sort((a, b) => a.rec.okT - b.rec.okT);
  const byInvoke = [...items].sort((a, b) => a.rec.firstInvokeT - b.rec.firstInvokeT);
  let highest: Ordered | undefined;
  let next = 0;
  for (const later of byInvoke) {
    while (next < byAck.length && byAck[next].rec.okT < later.rec.firstInvokeT) {
      const acked = byAck[next++];
      if (!highest || acked.position > highest.position) highest = acked;
    }
    if (highest && highest.rec !== later.rec && highest.position >= later.position) yield { earlier: highest, later };
  }
}

// ---------------------------------------------------------------------------------------------
// Acks and receives against the stored queues

function findMisplaced(events: readonly HistoryEvent[], reference: ReplicaDump | undefined, maxExamples: number): Finding<Misplaced> {
  const found = new FindingBuilder<Misplaced>(maxExamples);
  if (!reference) return found.done();
  const queues = storedQueues(reference.messages);
  for (const ev of events) {
    if (!isAckOrReceive(ev)) continue;
    const { topic, queueId, queueOffset } = ev;
    if (queueId === undefined || queueOffset === undefined) continue;
    const storedId = queues.get(`${topic}\u0000${queueId}`)?.[queueOffset];
    if (storedId === undefined || storedId === ev.id) continue; // not stored there at all: lost, not misplaced
    found.add({ source: ev.op === 'send' ? 'ack' : 'receive', id: ev.id, client: ev.client, topic, queueId, queueOffset, storedId });
  }
  return found.done();
}

function isAckOrReceive(ev: HistoryEvent): ev is SendEvent | ReceiveEvent {
  return (ev.op === 'send' && ev.type === 'ok') || ev.op === 'receive';
}

/** topic + queue -> ids by queue offset. */
function storedQueues(messages: readonly DumpedMessage[]): Map<string, string[]> {
  const queues = new Map<string, string[]>();
  for (const m of messages) {
    const name = `${m.topic}\u0000${m.queueId}`;
    let ids = queues.get(name);
    if (!ids) queues.set(name, (ids = []));
    ids[m.queueOffset] = m.id;
  }
  return queues;
}
