// Entries the core holds that are not yet persisted (etcd's unstable).
//
// Invariant: entries [offset, offsetInProgress) have been handed to the driver in a Ready and
// are being written; [offsetInProgress, lastIndex] have not been handed out yet. Everything
// below `offset` is in Storage.

import { assert } from '../util/index.ts';
import type { Entry } from './types.ts';

export class Unstable {
  ents: Entry[] = [];
  offset: number;
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  /** Term of `index`, or -1 if it is not held here. */
  termOf(index: number): number {
    const i = index - this.offset;
    if (i < 0 || i >= this.ents.length) return -1;
    return this.ents[i].term;
  }

  hasNextEntries(): boolean {
    return this.offsetInProgress <= this.lastIndex();
  }

  /** Entries not yet handed out (a fresh array: later appends must not change it). */
  nextEntries(): Entry[] {
    return this.ents.slice(this.offsetInProgress - this.offset);
  }

  acceptInProgress(): void {
    this.offsetInProgress = this.offset + this.ents.length;
  }

  /** Entries up to `index` (with `term`) are persisted. Ignored if they were replaced since. */
  stableTo(index: number, term: number): boolean {
    if (this.termOf(index) !== term) return false;
    const drop = index + 1 - this.offset;
    this.ents = drop === this.ents.length ? [] : this.ents.slice(drop);
    this.offset = index + 1;
    if (this.offsetInProgress < this.offset) this.offsetInProgress = this.offset;
    return true;
  }

  /** Appends entries[from..], truncating any held suffix at or after entries[from].index. The
   *  caller guarantees that storage holds everything below that index which must be kept. */
  truncateAndAppend(entries: readonly Entry[], from: number): void {
    const first = entries[from].index;
    const last = this.lastIndex();
    if (first === last + 1) {
      // Common case: a plain append.
    } else if (first <= this.offset) {
      // Replace everything held here; storage's suffix from `first` is truncated by the driver.
      this.ents = [];
      this.offset = first;
      this.offsetInProgress = first;
    } else {
      assert(first <= last, `Unstable.truncateAndAppend: gap at ${first} (last ${last})`);
      this.ents.length = first - this.offset;
      if (this.offsetInProgress > first) this.offsetInProgress = first;
    }
    const ents = this.ents;
    for (let i = from; i < entries.length; i++) ents.push(entries[i]);
  }

  /** Entries [lo, hi), all held here. */
  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && hi <= this.lastIndex() + 1 && lo <= hi, `Unstable.slice: [${lo}, ${hi}) out of range`);
    return this.ents.slice(lo - this.offset, hi - this.offset);
  }
}
