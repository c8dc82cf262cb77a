// The dumps against the history (rules `lost`, `expiredByRetention`, `duplicated`,
// `failedButStored` and `phantom` in checker.ts's header): each broker group's replicas, its
// reference dump (its final log), and which ids the groups store, how often and where.
import { queueStartLookup, type QueueStartOf } from './coverage.ts';
import { FindingBuilder, type Finding } from './findings.ts';
import type { DumpedMessage, ReplicaDump } from './history.ts';
import type { GroupOf, SendRecord } from './send-records.ts';

/** One broker group's dumps. */
export interface GroupView {
  /** brokerName; '' for dumps that name none (a run of one group). */
  readonly name: string;
  readonly dumps: readonly ReplicaDump[];
  /** The replica that knows the most committed entries: its log is the group's final log. */
  readonly reference: ReplicaDump | undefined;
  readonly queueStart: QueueStartOf;
}

export interface LostMessage {
  readonly id: string;
  readonly client: string;
  readonly ackT: number;
  readonly key?: string;
  readonly topic: string;
  /** The group the ack named; absent with one group. */
  readonly group?: string;
  readonly queueId?: number;
  readonly queueOffset?: number;
}

export interface DuplicateMessage {
  readonly id: string;
  /** Copies over every group's final log. */
  readonly copies: number;
  readonly logIndexes: number[];
  /** The groups that store it (more than one: a message in two groups); absent with one group. */
  readonly groups?: string[];
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

export type DuplicatedFinding = Finding<DuplicateMessage> & {
  readonly explained: number;
  readonly unexplained: number;
  /** Ids stored by more than one group. */
  readonly acrossGroups: number;
};

/** The dumps by group, in the order the groups first appear. */
export function groupViews(dumps: readonly ReplicaDump[]): GroupView[] {
  const byName = new Map<string, ReplicaDump[]>();
  for (const d of dumps) {
    const list = byName.get(d.group ?? '');
    if (list) list.push(d);
    else byName.set(d.group ?? '', [d]);
  }
  return [...byName].map(([name, list]) => {
    const reference = pickReference(list);
    return { name, dumps: list, reference, queueStart: queueStartLookup(reference) };
  });
}

/** See GroupOf. */
export function groupResolver(views: readonly GroupView[]): GroupOf {
  if (views.length === 1) {
    const only = views[0]!.name;
    return () => only;
  }
  return (group) => group ?? '';
}

/** The replica that knows the most committed entries (ties: more messages, then the first). */
function pickReference(dumps: readonly ReplicaDump[]): ReplicaDump | undefined {
  let best: ReplicaDump | undefined;
  for (const d of dumps) {
    if (!best || d.commitIndex > best.commitIndex || (d.commitIndex === best.commitIndex && d.messages.length > best.messages.length)) best = d;
  }
  return best;
}

export function markStored(sends: Map<string, SendRecord>, views: readonly GroupView[], maxExamples: number) {
  const failedButStored = new FindingBuilder<StoredAgainstHistory>(maxExamples);
  const phantom = new FindingBuilder<StoredAgainstHistory>(maxExamples);
  const seenPhantoms = new Set<string>();
  for (const view of views) {
    for (const dump of view.dumps) {
      const isReference = dump === view.reference;
      const messages = dump.messages;
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
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
        if (isReference) noteReferenceCopy(rec, view.name, m, i);
      }
    }
  }
  return { failedButStored: failedButStored.done(), phantom: phantom.done() };
}

function noteReferenceCopy(rec: SendRecord, group: string, m: DumpedMessage, position: number): void {
  if (rec.refPos < 0) {
    rec.refPos = position;
    rec.refGroup = group;
    // An 'ok' without the slot it was stored in: take it from the final log.
    if (rec.queueId === undefined && rec.okCount > 0) {
      rec.group = group;
      rec.queueId = m.queueId;
      rec.queueOffset = m.queueOffset;
    }
  }
  if (!rec.refGroups.includes(group)) rec.refGroups.push(group);
  rec.refCopies++;
}

function definitelyFailed(rec: SendRecord): boolean {
  return rec.failCount > 0 && rec.okCount === 0 && rec.unknownCount === 0 && rec.openCount === 0;
}

export function findLost(sends: Map<string, SendRecord>, views: readonly GroupView[], maxExamples: number): { lost: Finding<LostMessage>; expired: Finding<LostMessage> } {
  const lost = new FindingBuilder<LostMessage>(maxExamples);
  const expired = new FindingBuilder<LostMessage>(maxExamples);
  const starts = new Map(views.map((v) => [v.name, v.queueStart]));
  const named = views.length > 1;
  for (const rec of sends.values()) {
    if (rec.okCount === 0 || rec.stored || rec.received) continue;
    const m = { id: rec.id, client: rec.client, ackT: rec.okT, key: rec.key, topic: rec.topic, ...(named && rec.group !== undefined ? { group: rec.group } : {}), queueId: rec.queueId, queueOffset: rec.queueOffset };
    const queueStart = rec.group === undefined ? undefined : starts.get(rec.group);
    const belowCoverage = queueStart !== undefined && rec.queueId !== undefined && rec.queueOffset !== undefined && rec.queueOffset < queueStart(rec.topic, rec.queueId);
    (belowCoverage ? expired : lost).add(m);
  }
  return { lost: lost.done(), expired: expired.done() };
}

/**
 * Ids stored more than once over the groups' final logs. With idempotent producers every one is
 * unexplained: a retry must be answered from the producer's window, and a message moves to
 * another group only after a try that certainly stored nothing.
 */
export function findDuplicates(sends: Map<string, SendRecord>, views: readonly GroupView[], idempotent: boolean, maxExamples: number): DuplicatedFinding {
  const dups: SendRecord[] = [];
  for (const rec of sends.values()) if (rec.refCopies > 1) dups.push(rec);
  const copiesAt = logIndexesOf(new Set(dups.map((r) => r.id)), views);
  // Unexplained ones first: they are the interesting examples.
  const described = dups.map((rec) => describeDuplicate(rec, copiesAt.get(rec.id) ?? [], idempotent, views.length > 1));
  described.sort((a, b) => Number(a.explained) - Number(b.explained));
  const explained = described.filter((d) => d.explained).length;
  return {
    count: described.length,
    explained,
    unexplained: described.length - explained,
    acrossGroups: dups.filter((r) => r.refGroups.length > 1).length,
    examples: described.slice(0, maxExamples),
  };
}

function logIndexesOf(ids: Set<string>, views: readonly GroupView[]): Map<string, number[]> {
  const at = new Map<string, number[]>();
  if (ids.size === 0) return at;
  for (const view of views) {
    for (const m of view.reference?.messages ?? []) {
      if (!ids.has(m.id)) continue;
      const list = at.get(m.id);
      if (list) list.push(m.logIndex);
      else at.set(m.id, [m.logIndex]);
    }
  }
  return at;
}

function describeDuplicate(rec: SendRecord, logIndexes: number[], idempotent: boolean, named: boolean): DuplicateMessage {
  const base = { id: rec.id, copies: rec.refCopies, logIndexes, ...(named ? { groups: [...rec.refGroups] } : {}) };
  if (idempotent) {
    const where = rec.refGroups.length > 1 ? `stored by groups ${rec.refGroups.join(' and ')}` : `stored ${rec.refCopies} times`;
    return { ...base, explained: false, reason: `idempotent producer, yet ${where}` };
  }
  const why = rec.unknownCount > 0 ? 'unknown' : rec.openCount > 0 ? 'no outcome' : rec.attempts > 1 ? 'retried' : '';
  return { ...base, explained: why !== '', reason: why || `one attempt, ended ${rec.okCount > 0 ? 'ok' : 'fail'}` };
}
