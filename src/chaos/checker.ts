// The chaos checker: reads a history and the replicas' final dumps, says what went wrong.
// Pure and offline: no processes, no clock. One pass over the events plus sorts, so a
// million-event history checks in seconds.
//
// Rules (a "send" is one message id; it may have several attempts = invoke + outcome):
// - acked: the number of send 'ok' events.
// - lost: an id with at least one 'ok' that is in no replica's committed messages and was
//   never received by a consumer.
// - duplicated: an id stored more than once in the reference dump (the replica with the highest
//   commitIndex; ties: more messages, then the first). Explained when the id had an 'unknown'
//   outcome, an attempt without an outcome, or more than one attempt (a retry); unexplained
//   otherwise. Only unexplained ones fail the check.
// - failedButStored: every attempt of the id ended in 'fail' (a definite refusal), yet some
//   replica stores it. phantom: a stored non-empty id the history never sent.
// - reordered: for two acked sends A, B of the same client (the same topic and key for the
//   per-key rule; the same topic and queue for the per-queue rule) where A's first 'ok' is
//   strictly earlier than B's first invoke, B must be stored after A: per key by position in the
//   reference dump's log (falls back to queueOffset on one queue when there are no dumps), per
//   queue by queueOffset (from the 'ok', else the dump). Sends that overlapped in time are
//   concurrent and may land in any order; equal timestamps count as overlap. With
//   `orderAcrossClients`, the rule also applies between clients (real-time order implies log
//   order in a linearizable log, but only when every client's `t` is from one clock).
//   reordered counts the sends B that break either rule (each once). A consumer seeing a
//   queue's offsets go backwards is redelivery, not a finding.
// - misplaced: an 'ok' or a receive names (topic, queue, offset) where the reference dump
//   stores a different id.
// - divergent: the number of replica pairs whose committed prefixes disagree: for indexes up to
//   min(commitIndex) of the two, from the later of their first entries (a compacted prefix is
//   not compared), both must have the entry with equal term and hash, and their decoded
//   messages in that range must be the same. The first differing index is reported.
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

import type { DumpedMessage, HistoryEvent, ReceiveEvent, ReplicaDump, SendEvent } from './history.ts';

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

export interface Divergence {
  readonly a: string;
  readonly b: string;
  readonly index: number;
  readonly what: 'missing' | 'term' | 'hash' | 'messages';
  readonly detail: string;
}

/** One injected fault, from its start to its heal. */
export interface FaultWindow {
  readonly fault: string;
  readonly faultId: number;
  readonly detail?: string;
  readonly startT: number;
  /** Heal time, or the end of the run when it was never healed. */
  readonly endT: number;
  readonly healed: boolean;
  /** Failures invoked in [startT, untilT] are this fault's (end + grace, cut at the next injection). */
  readonly untilT: number;
}

export interface FaultImpact extends FaultWindow {
  /** Set when a write failed: the failure's invoke time, the recovering 'ok', the window. */
  readonly firstFailureT?: number;
  readonly firstError?: string;
  readonly recoveredT?: number;
  readonly recoveryMs?: number;
  readonly stallMs: number;
}

export interface FaultStats {
  readonly injections: number;
  /** Injections that caused unavailability (a failed or unknown write). */
  readonly count: number;
  readonly p50: number;
  readonly max: number;
  readonly stallP50: number;
  readonly stallMax: number;
}

export interface UnavailableWindow {
  readonly fromT: number;
  readonly toT: number;
  readonly durationMs: number;
  readonly recovered: boolean;
  readonly failures: number;
  readonly firstError: string;
}

/** A count and its first examples. */
export interface Finding<T> {
  readonly count: number;
  readonly examples: T[];
}

export interface CheckResult {
  /** True when nothing that breaks a guarantee was found (explained duplicates are allowed). */
  readonly ok: boolean;
  readonly runEndT: number;
  readonly sends: { readonly ids: number; readonly attempts: number; readonly acked: number; readonly failed: number; readonly unknown: number };
  readonly received: number;
  readonly referenceNode?: string;
  readonly lost: Finding<LostMessage>;
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

interface Failure {
  readonly invokeT: number;
  readonly endT: number;
  readonly error: string;
}

/** Attempt outcomes needed for availability, as sorted columns. */
interface Attempts {
  /** 'ok' attempts sorted by invoke time, with the earliest 'ok' time from each position on. */
  readonly okInvokeT: Float64Array;
  readonly okEarliestFrom: Float64Array;
  /** 'ok' times, sorted. */
  readonly okT: Float64Array;
  /** fail / unknown attempts sorted by invoke time. */
  readonly failures: Failure[];
}

export function checkHistory(events: readonly HistoryEvent[], dumps: readonly ReplicaDump[], options: CheckOptions = {}): CheckResult {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const maxExamples = options.maxExamples ?? DEFAULT_MAX_EXAMPLES;
  const { sends, attempts, counts, runEndT } = indexSends(events);
  const reference = pickReference(dumps);
  const stored = markStored(sends, dumps, reference, maxExamples);
  const receivedIds = markReceived(sends, events);
  const lost = findLost(sends, maxExamples);
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

function sortAttempts(okPairs: [number, number][], failures: Failure[]): Attempts {
  okPairs.sort((a, b) => a[0] - b[0]);
  const n = okPairs.length;
  const okInvokeT = new Float64Array(n);
  const okEarliestFrom = new Float64Array(n);
  const okT = new Float64Array(n);
  let earliest = Infinity;
  for (let i = n - 1; i >= 0; i--) {
    const [invokeT, doneT] = okPairs[i];
    okInvokeT[i] = invokeT;
    okT[i] = doneT;
    earliest = Math.min(earliest, doneT);
    okEarliestFrom[i] = earliest;
  }
  okT.sort();
  failures.sort((a, b) => a.invokeT - b.invokeT);
  return { okInvokeT, okEarliestFrom, okT, failures };
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

function findLost(sends: Map<string, SendRecord>, maxExamples: number): Finding<LostMessage> {
  const lost = new FindingBuilder<LostMessage>(maxExamples);
  for (const rec of sends.values()) {
    if (rec.okCount === 0 || rec.stored || rec.received) continue;
    lost.add({ id: rec.id, client: rec.client, ackT: rec.okT, key: rec.key, topic: rec.topic, queueId: rec.queueId, queueOffset: rec.queueOffset });
  }
  return lost.done();
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

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
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

// ---------------------------------------------------------------------------------------------
// Replica agreement

function findDivergence(dumps: readonly ReplicaDump[], maxExamples: number): Finding<Divergence> {
  const found = new FindingBuilder<Divergence>(maxExamples);
  const lookups = dumps.map(entryLookup);
  for (let i = 0; i < dumps.length; i++) {
    for (let j = i + 1; j < dumps.length; j++) {
      const d = firstDisagreement(dumps[i], lookups[i], dumps[j], lookups[j]);
      if (d) found.add(d);
    }
  }
  return found.done();
}

type Entry = ReplicaDump['entries'][number];
type EntryLookup = { readonly first: number; readonly at: (index: number) => Entry | undefined };

/** Index -> entry; O(1) on the usual contiguous log, a Map when it has holes. */
function entryLookup(dump: ReplicaDump): EntryLookup {
  const entries = dump.entries;
  if (entries.length === 0) return { first: Infinity, at: () => undefined };
  const first = entries[0].index;
  const contiguous = entries[entries.length - 1].index - first === entries.length - 1;
  if (contiguous) return { first, at: (index) => entries[index - first] };
  const map = new Map<number, Entry>();
  let lowest = Infinity;
  for (const e of entries) {
    map.set(e.index, e);
    lowest = Math.min(lowest, e.index);
  }
  return { first: lowest, at: (index) => map.get(index) };
}

function firstDisagreement(a: ReplicaDump, la: EntryLookup, b: ReplicaDump, lb: EntryLookup): Divergence | undefined {
  const upTo = Math.min(a.commitIndex, b.commitIndex);
  const from = Math.max(1, la.first, lb.first);
  const pair = { a: a.node, b: b.node };
  for (let index = from; index <= upTo; index++) {
    const ea = la.at(index);
    const eb = lb.at(index);
    if (!ea || !eb) {
      const missingOn = !ea && !eb ? `${a.node} and ${b.node}` : !ea ? a.node : b.node;
      return { ...pair, index, what: 'missing', detail: `committed entry ${index} (commitIndex ${a.node}=${a.commitIndex}, ${b.node}=${b.commitIndex}) is missing on ${missingOn}` };
    }
    if (ea.term !== eb.term) return { ...pair, index, what: 'term', detail: `entry ${index}: term ${ea.term} on ${a.node}, ${eb.term} on ${b.node}` };
    if (ea.hash !== eb.hash) return { ...pair, index, what: 'hash', detail: `entry ${index} (term ${ea.term}): hash ${ea.hash} on ${a.node}, ${eb.hash} on ${b.node}` };
  }
  return firstMessageDisagreement(a, b, from, upTo);
}

/** The decoded messages of the compared range must be the same list. */
function firstMessageDisagreement(a: ReplicaDump, b: ReplicaDump, from: number, upTo: number): Divergence | undefined {
  const ma = messagesIn(a.messages, from, upTo);
  const mb = messagesIn(b.messages, from, upTo);
  const n = Math.max(ma.length, mb.length);
  for (let k = 0; k < n; k++) {
    const x = ma[k];
    const y = mb[k];
    if (x && y && sameMessage(x, y)) continue;
    const index = Math.min(x?.logIndex ?? Infinity, y?.logIndex ?? Infinity);
    return { a: a.node, b: b.node, index, what: 'messages', detail: `committed messages differ at entry ${index}: ${describeMessage(x)} on ${a.node}, ${describeMessage(y)} on ${b.node}` };
  }
  return undefined;
}

function messagesIn(messages: readonly DumpedMessage[], from: number, upTo: number): DumpedMessage[] {
  let lo = 0;
  while (lo < messages.length && messages[lo].logIndex < from) lo++;
  let hi = lo;
  while (hi < messages.length && messages[hi].logIndex <= upTo) hi++;
  return messages.slice(lo, hi);
}

function sameMessage(x: DumpedMessage, y: DumpedMessage): boolean {
  return x.id === y.id && x.logIndex === y.logIndex && x.topic === y.topic && x.queueId === y.queueId && x.queueOffset === y.queueOffset;
}

function describeMessage(m: DumpedMessage | undefined): string {
  return m ? `${m.id || '(no id)'} ${m.topic}/${m.queueId}@${m.queueOffset}` : 'nothing';
}

// ---------------------------------------------------------------------------------------------
// Availability

function faultWindows(events: readonly HistoryEvent[], runEndT: number, graceMs: number): FaultWindow[] {
  const starts = new Map<number, Extract<HistoryEvent, { op: 'fault' }>>();
  const ends = new Map<number, number>();
  for (const ev of events) {
    if (ev.op !== 'fault') continue;
    if (ev.type === 'start') starts.set(ev.faultId, ev);
    else ends.set(ev.faultId, ev.t);
  }
  const sorted = [...starts.values()].sort((a, b) => a.t - b.t);
  return sorted.map((s, i) => {
    const end = ends.get(s.faultId);
    const endT = end ?? runEndT;
    const nextStartT = sorted[i + 1]?.t ?? Infinity;
    const untilT = Math.min(runEndT, Math.max(endT, Math.min(endT + graceMs, nextStartT)));
    return { fault: s.fault, faultId: s.faultId, detail: s.detail, startT: s.t, endT, healed: end !== undefined, untilT };
  });
}

function measureFault(f: FaultWindow, attempts: Attempts, runEndT: number): FaultImpact {
  const base = { ...f, stallMs: longestGapWithoutOk(attempts.okT, f.startT, f.untilT) };
  const i = lowerBound(attempts.failures, f.startT, (x) => x.invokeT);
  const failure = attempts.failures[i];
  if (!failure || failure.invokeT > f.untilT) return base;
  const recoveredT = earliestOkInvokedAfter(attempts, failure.invokeT);
  const closedT = recoveredT ?? runEndT;
  return { ...base, firstFailureT: failure.invokeT, firstError: failure.error, recoveredT, recoveryMs: closedT - failure.invokeT };
}

function windowsOutsideFaults(faults: FaultWindow[], attempts: Attempts, runEndT: number): UnavailableWindow[] {
  const windows: UnavailableWindow[] = [];
  let open: { fromT: number; toT: number; recovered: boolean; failures: number; firstError: string } | undefined;
  for (const failure of attempts.failures) {
    if (touchesAnyFault(faults, failure)) continue;
    if (open && failure.invokeT < open.toT) {
      open.failures++;
      continue;
    }
    if (open) windows.push(closeWindow(open));
    const recoveredT = earliestOkInvokedAfter(attempts, failure.invokeT);
    open = { fromT: failure.invokeT, toT: recoveredT ?? runEndT, recovered: recoveredT !== undefined, failures: 1, firstError: failure.error };
  }
  if (open) windows.push(closeWindow(open));
  return windows;
}

function closeWindow(w: { fromT: number; toT: number; recovered: boolean; failures: number; firstError: string }): UnavailableWindow {
  return { ...w, durationMs: w.toT - w.fromT };
}

/** Faults are few (one per interval), so a linear scan per failure is cheap enough. */
function touchesAnyFault(faults: FaultWindow[], failure: Failure): boolean {
  for (const f of faults) if (failure.endT >= f.startT && failure.invokeT <= f.untilT) return true;
  return false;
}

function earliestOkInvokedAfter(attempts: Attempts, t: number): number | undefined {
  const i = upperBound(attempts.okInvokeT, t);
  return i < attempts.okEarliestFrom.length ? attempts.okEarliestFrom[i] : undefined;
}

/** The longest stretch of [from, to] with no 'ok' completing in it. */
function longestGapWithoutOk(okT: Float64Array, from: number, to: number): number {
  if (to <= from) return 0;
  let prev = from;
  let longest = 0;
  for (let i = upperBound(okT, from); i < okT.length && okT[i] <= to; i++) {
    longest = Math.max(longest, okT[i] - prev);
    prev = okT[i];
  }
  return Math.max(longest, to - prev);
}

function statsByFault(recovery: FaultImpact[]): Record<string, FaultStats> {
  const groups = new Map<string, FaultImpact[]>();
  for (const r of recovery) push(groups, r.fault, r);
  const stats: Record<string, FaultStats> = {};
  for (const [fault, list] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) {
    const windows = list.flatMap((r) => (r.recoveryMs === undefined ? [] : [r.recoveryMs])).sort((a, b) => a - b);
    const stalls = list.map((r) => r.stallMs).sort((a, b) => a - b);
    stats[fault] = {
      injections: list.length,
      count: windows.length,
      p50: percentile(windows, 0.5),
      max: windows.at(-1) ?? 0,
      stallP50: percentile(stalls, 0.5),
      stallMax: stalls.at(-1) ?? 0,
    };
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Nearest-rank percentile of a sorted list; 0 for an empty one. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1];
}

/** First position whose key is >= t. */
function lowerBound<T>(list: readonly T[], t: number, key: (x: T) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(list[mid]) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First position whose value is > t. */
function upperBound(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class FindingBuilder<T> {
  private count = 0;
  private readonly examples: T[] = [];
  constructor(private readonly max: number) {}
  add(example: T): void {
    this.count++;
    if (this.examples.length < this.max) this.examples.push(example);
  }
  done(): Finding<T> {
    return { count: this.count, examples: this.examples };
  }
}
