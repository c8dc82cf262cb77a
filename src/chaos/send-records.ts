// What a history says about each message id (rules in checker.ts's header): its attempts and
// their outcomes, its first ack, and, once the dumps are read (stored.ts), where it is stored.
import { sortAttempts, type Attempts, type Failure } from './availability.ts';
import type { HistoryEvent, SendEvent } from './history.ts';

/** What the history says about one message id. */
export interface SendRecord {
  readonly id: string;
  readonly client: string;
  readonly topic: string;
  readonly key?: string;
  firstInvokeT: number;
  attempts: number;
  okCount: number;
  okT: number;
  /** The group its first ack named (resolved by GroupOf), else where it is stored. */
  group?: string;
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
  /** First position in its group's reference dump's message list, -1 when absent. */
  refPos: number;
  /** The group of that reference dump. */
  refGroup: string;
  /** Copies over every group's reference dump. */
  refCopies: number;
  /** The groups whose reference dump stores it, in the order found. */
  readonly refGroups: string[];
}

/** An event's group as the dumps name it: with one group among the dumps every event is its
 *  (a run of one group records none); otherwise the event's own, '' when it has none. */
export type GroupOf = (group: string | undefined) => string;

export interface IndexedSends {
  readonly sends: Map<string, SendRecord>;
  readonly attempts: Attempts;
  readonly counts: { ids: number; attempts: number; acked: number; failed: number; unknown: number };
  /** 'ok' events per group. */
  readonly ackedByGroup: Map<string, number>;
  readonly runEndT: number;
}

export function indexSends(events: readonly HistoryEvent[], groupOf: GroupOf): IndexedSends {
  const sends = new Map<string, SendRecord>();
  const okPairs: [number, number][] = [];
  const failures: Failure[] = [];
  const counts = { ids: 0, attempts: 0, acked: 0, failed: 0, unknown: 0 };
  const ackedByGroup = new Map<string, number>();
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
      const group = groupOf(ev.group);
      ackedByGroup.set(group, (ackedByGroup.get(group) ?? 0) + 1);
      if (rec.okCount === 0) recordAck(rec, ev, group);
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
  return { sends, attempts: sortAttempts(okPairs, failures), counts, ackedByGroup, runEndT };
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
    refGroup: '',
    refCopies: 0,
    refGroups: [],
  };
}

function recordAck(rec: SendRecord, ev: SendEvent, group: string): void {
  rec.okT = ev.t;
  if (ev.queueId !== undefined) rec.group = group;
  rec.queueId = ev.queueId;
  rec.queueOffset = ev.queueOffset;
}

/** Marks the ids consumers received; returns the number of receive events. */
export function markReceived(sends: Map<string, SendRecord>, events: readonly HistoryEvent[]): number {
  let received = 0;
  for (const ev of events) {
    if (ev.op !== 'receive') continue;
    received++;
    const rec = sends.get(ev.id);
    if (rec) rec.received = true;
  }
  return received;
}
