// Entries the core holds that are not yet persisted (etcd's unstable), and a snapshot received
// from the leader that is not yet installed.
//
// Invariant: entries [offset, offsetInProgress) have been handed to the driver in a Ready and
// are being written; [offsetInProgress, lastIndex] have not been handed out yet. Everything
// below `offset` is in Storage, or (while `snapshot` is set) in that snapshot: then offset is
// snapshot.index + 1 and the log below it is the snapshot, whatever Storage still holds.

import { assert } from '../util/index.ts';
import type { Entry, SnapshotMeta } from './types.ts';

export class Unstable {
  ents: Entry[] = [];
  offset: number;
  offsetInProgress: number;
  /** A snapshot to install (Ready.snapshot), until the driver reports it durable. */
  snapshot: SnapshotMeta | null = null;
  /** The snapshot was handed to the driver in a Ready. */
  snapshotInProgress = false;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  /** The first index of the log while a snapshot is pending (its index + 1), else -1. */
  maybeFirstIndex(): number {
    return this.snapshot !== null ? this.snapshot.index + 1 : -1;
  }

  /** Term of `index`, or -1 if it is not held here (an entry, or the pending snapshot's index). */
  termOf(index: number): number {
    const i = index - this.offset;
    if (i < 0 || i >= this.ents.length) {
      if (this.snapshot !== null && index === this.snapshot.index) return this.snapshot.term;
      return -1;
    }
    return this.ents[i].term;
  }

  hasNextEntries(): boolean {
    return this.offsetInProgress <= this.lastIndex();
  }

  /** Entries not yet handed out (a fresh array: later appends must not change it). */
  nextEntries(): Entry[] {
    return this.ents.slice(this.offsetInProgress - this.offset);
  }

  /** The pending snapshot if it was not handed out yet. */
  nextSnapshot(): SnapshotMeta | null {
    return this.snapshot !== null && !this.snapshotInProgress ? this.snapshot : null;
  }

  acceptInProgress(): void {
    this.offsetInProgress = this.offset + this.ents.length;
    if (this.snapshot !== null) this.snapshotInProgress = true;
  }

  /** Entries up to `index` (with `term`) are persisted (and the pending snapshot before them, if
   *  it was handed out). Ignored if they were replaced since, or if a snapshot not yet handed out
   *  precedes them (the report is then about a log it replaced). */
  stableTo(index: number, term: number): boolean {
    if (this.termOf(index) !== term) return false;
    if (this.snapshot !== null) {
      if (!this.snapshotInProgress) return false;
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
    const drop = index + 1 - this.offset;
    if (drop <= 0) return true;
    this.ents = drop === this.ents.length ? [] : this.ents.slice(drop);
    this.offset = index + 1;
    if (this.offsetInProgress < this.offset) this.offsetInProgress = this.offset;
    return true;
  }

  /** The log becomes `snap`: every entry held here is discarded (the driver resets its storage
   *  when it installs the snapshot). */
  restore(snap: SnapshotMeta): void {
    this.ents = [];
    this.offset = snap.index + 1;
    this.offsetInProgress = this.offset;
    this.snapshot = snap;
    this.snapshotInProgress = false;
  }

  /** Appends entries[from..], truncating any held suffix at or after entries[from].index. The
   *  caller guarantees that storage holds everything below that index which must be kept. */
  truncateAndAppend(entries: readonly Entry[], from: number): void {
    const first = entries[from].index;
    const last = this.lastIndex();
    if (first === last + 1) {
      // Common case: a plain append.
    } else if (first <= this.offset) {
      assert(this.snapshot === null || first > this.snapshot.index, `Unstable.truncateAndAppend: ${first} would overwrite the pending snapshot at ${this.snapshot?.index}`);
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
