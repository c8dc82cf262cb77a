// Order of acknowledged sends (rule `reordered` in checker.ts's header). Positions are compared
// within one broker group only: two groups' logs have no common order.
import { FindingBuilder, push, type Finding } from './findings.ts';
import type { SendRecord } from './send-records.ts';

export interface OrderViolation {
  readonly rule: 'key' | 'queue';
  readonly client: string;
  readonly topic: string;
  /** The key (rule 'key') or the queue id (rule 'queue'), after its group when the run has several. */
  readonly group: string;
  /** Acked before `later` was invoked, yet stored after it. */
  readonly earlier: { readonly id: string; readonly ackT: number; readonly position: string };
  readonly later: { readonly id: string; readonly invokeT: number; readonly position: string };
}

export type ReorderedFinding = Finding<OrderViolation> & { readonly byKey: number; readonly byQueue: number };

interface Ordered {
  readonly rec: SendRecord;
  readonly position: number;
  readonly label: string;
}

/** `named`: the run has several groups (labels say which). `violators`: the ids counted. */
export function findReorders(sends: Map<string, SendRecord>, haveDump: boolean, acrossClients: boolean, named: boolean, maxExamples: number): { reordered: ReorderedFinding; violators: ReadonlySet<string> } {
  const byKey = new Map<string, Ordered[]>();
  const byQueue = new Map<string, Ordered[]>();
  for (const rec of sends.values()) {
    if (rec.okCount === 0) continue;
    const who = acrossClients ? '' : rec.client;
    if (rec.key !== undefined && rec.key !== '') {
      if (haveDump && rec.refPos >= 0) push(byKey, `${who}\u0000${rec.refGroup}\u0000${rec.topic}\u0000${rec.key}`, { rec, position: rec.refPos, label: `${named ? `${rec.refGroup} ` : ''}log position ${rec.refPos}` });
      else if (!haveDump && rec.queueId !== undefined && rec.queueOffset !== undefined) {
        push(byKey, `${who}\u0000${rec.group ?? ''}\u0000${rec.topic}\u0000${rec.key}\u0000${rec.queueId}`, { rec, position: rec.queueOffset, label: queueLabel(rec, named) });
      }
    }
    if (rec.queueId !== undefined && rec.queueOffset !== undefined) {
      push(byQueue, `${who}\u0000${rec.group ?? ''}\u0000${rec.topic}\u0000${rec.queueId}`, { rec, position: rec.queueOffset, label: queueLabel(rec, named) });
    }
  }
  const examples = new FindingBuilder<OrderViolation>(maxExamples);
  const violators = new Set<string>();
  const countKey = sweepGroups(byKey, 'key', named, examples, violators);
  const countQueue = sweepGroups(byQueue, 'queue', named, examples, violators);
  const found = examples.done();
  return { reordered: { count: violators.size, byKey: countKey, byQueue: countQueue, examples: found.examples }, violators };
}

function queueLabel(rec: SendRecord, named: boolean): string {
  return `${named && rec.group !== undefined ? `${rec.group} ` : ''}queue ${rec.queueId} offset ${rec.queueOffset}`;
}

function sweepGroups(groups: Map<string, Ordered[]>, rule: 'key' | 'queue', named: boolean, examples: FindingBuilder<OrderViolation>, violators: Set<string>): number {
  let count = 0;
  for (const items of groups.values()) {
    if (items.length < 2) continue;
    for (const v of violationsIn(items)) {
      count++;
      violators.add(v.later.rec.id);
      const rec = v.later.rec;
      const what = rule === 'key' ? (rec.key ?? '') : String(rec.queueId);
      const brokerGroup = rule === 'key' ? rec.refGroup : (rec.group ?? '');
      examples.add({
        rule,
        client: rec.client,
        topic: rec.topic,
        group: named && brokerGroup !== '' ? `${brokerGroup}/${what}` : what,
        earlier: { id: v.earlier.rec.id, ackT: v.earlier.rec.okT, position: v.earlier.label },
        later: { id: rec.id, invokeT: rec.firstInvokeT, position: v.later.label },
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
    while (next < byAck.length && byAck[next]!.rec.okT < later.rec.firstInvokeT) {
      const acked = byAck[next++]!;
      if (!highest || acked.position > highest.position) highest = acked;
    }
    if (highest && highest.rec !== later.rec && highest.position >= later.position) yield { earlier: highest, later };
  }
}
