// Replica agreement: the committed prefixes of every pair of replicas' dumps must be the same
// entries and the same messages (rule `divergent` in checker.ts's header).

import { FindingBuilder, type Finding } from './findings.ts';
import type { DumpedMessage, ReplicaDump } from './history.ts';

export interface Divergence {
  readonly a: string;
  readonly b: string;
  readonly index: number;
  readonly what: 'missing' | 'term' | 'hash' | 'messages';
  readonly detail: string;
}

/** Replica pairs whose committed prefixes disagree (rule `divergent` in checker.ts). */
export function findDivergence(dumps: readonly ReplicaDump[], maxExamples: number): Finding<Divergence> {
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
  // A dump replayed from a retention mark has the messages of the entries after it only.
  return firstMessageDisagreement(a, b, Math.max(from, (a.replayedAfter ?? 0) + 1, (b.replayedAfter ?? 0) + 1), upTo);
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
