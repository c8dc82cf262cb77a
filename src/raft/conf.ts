// Membership as data (etcd's confchange/, single-server changes): the entry codec, the pure
// function that applies one change to a configuration, and the history of configurations a
// node's log holds (the latest is in force, committed or not; a truncation reverts to the one
// before).

import { assert } from '../util/index.ts';
import type { ConfAt, ConfChange, ConfChangeEntry, ConfChangeOp, ConfState, Entry, NodeId } from './types.ts';
import { EntryType } from './types.ts';

const OPS: readonly ConfChangeOp[] = ['addLearner', 'addVoter', 'promote', 'remove'];
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 JSON: conf entries are rare, and a human can read them in a dump of the log. */
export function encodeConfChangeEntry(e: ConfChangeEntry): Uint8Array {
  const plain = { op: e.op, node: e.node, context: e.context, conf: { voters: [...e.conf.voters], learners: [...e.conf.learners] } };
  return encoder.encode(JSON.stringify(plain));
}

function isIdList(v: unknown): v is NodeId[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');
}

/** Decodes a ConfChange entry's data; throws TypeError on anything that is not one. */
export function decodeConfChangeEntry(data: Uint8Array): ConfChangeEntry {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new TypeError(`conf change entry: not UTF-8 JSON (${(err as Error).message})`);
  }
  const o = v as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) throw new TypeError('conf change entry: not an object');
  if (!OPS.includes(o.op as ConfChangeOp)) throw new TypeError(`conf change entry: bad op ${JSON.stringify(o.op)}`);
  if (typeof o.node !== 'string' || o.node === '') throw new TypeError('conf change entry: bad node');
  if (typeof o.context !== 'string') throw new TypeError('conf change entry: bad context');
  const c = o.conf as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null || !isIdList(c.voters) || !isIdList(c.learners)) throw new TypeError('conf change entry: bad conf');
  const conf: ConfState = { voters: c.voters, learners: c.learners };
  if (!isValidConf(conf)) throw new TypeError('conf change entry: conf has duplicates or a voter that is also a learner');
  return { op: o.op as ConfChangeOp, node: o.node, context: o.context, conf };
}

/** No duplicates, voters and learners disjoint. */
export function isValidConf(conf: ConfState): boolean {
  const all = new Set([...conf.voters, ...conf.learners]);
  return all.size === conf.voters.length + conf.learners.length;
}

export function isMemberOf(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

/** The configuration after `cc`, or why it does not fit `conf` (a BAD_CONF_CHANGE reason). addVoter
 *  of a learner is a promotion. */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState | string {
  const { node } = cc;
  const voter = conf.voters.includes(node);
  const learner = conf.learners.includes(node);
  switch (cc.op) {
    case 'addLearner':
      if (voter || learner) return `${node} is already a ${voter ? 'voter' : 'learner'}`;
      return { voters: conf.voters, learners: [...conf.learners, node] };
    case 'addVoter':
      if (voter) return `${node} is already a voter`;
      return { voters: [...conf.voters, node], learners: conf.learners.filter((id) => id !== node) };
    case 'promote':
      if (!learner) return voter ? `${node} is already a voter` : `${node} is not a member`;
      return { voters: [...conf.voters, node], learners: conf.learners.filter((id) => id !== node) };
    case 'remove':
      if (!voter && !learner) return `${node} is not a member`;
      if (voter && conf.voters.length === 1) return `${node} is the last voter`;
      return { voters: conf.voters.filter((id) => id !== node), learners: conf.learners.filter((id) => id !== node) };
  }
}

/**
 * The configurations of a node's log, oldest first: the base (the seed, the state machine's
 * configuration at its applied index, or a snapshot's), then one per ConfChange entry after it.
 * The last one is in force. Entries at or below the commit index never change, so only the
 * latest committed one is kept besides the uncommitted ones.
 */
export class ConfHistory {
  private readonly history: ConfAt[];

  constructor(base: ConfAt) {
    this.history = [base];
  }

  current(): ConfState {
    return this.history[this.history.length - 1].conf;
  }

  /** The configuration before the one in force (itself when there is none). */
  previous(): ConfState {
    const h = this.history;
    return h[Math.max(0, h.length - 2)].conf;
  }

  /** Index of the entry the configuration in force comes from (0: the seed). */
  currentIndex(): number {
    return this.history[this.history.length - 1].index;
  }

  /** The log became a snapshot at `index` whose configuration is `conf`. */
  restore(index: number, conf: ConfState): void {
    this.history.length = 0;
    this.history.push({ index, conf });
  }

  /**
   * Entries entries[from..] were written to the log, replacing everything from entries[from].index
   * on. Returns whether the configuration in force changed. `committed` (the commit index before
   * the write) lets it forget configurations that can no longer be reverted to.
   */
  onAppend(entries: readonly Entry[], from: number, committed: number): boolean {
    const h = this.history;
    const before = h[h.length - 1];
    const first = entries[from].index;
    while (h.length > 1 && h[h.length - 1].index >= first) h.pop();
    assert(h[h.length - 1].index < first, `ConfHistory.onAppend: the base conf at ${h[h.length - 1].index} would be truncated by ${first}`);
    for (let i = from; i < entries.length; i++) {
      const e = entries[i];
      if (e.type === EntryType.ConfChange) h.push({ index: e.index, conf: decodeConfChangeEntry(e.data).conf });
    }
    while (h.length > 1 && h[1].index <= committed) h.shift();
    return h[h.length - 1] !== before;
  }
}
