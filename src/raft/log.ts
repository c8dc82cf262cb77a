// The Raft log: Storage (persisted) followed by Unstable (not yet persisted), with the commit
// and apply cursors. Invariant: applied <= committed <= lastIndex(). A snapshot received from
// the leader and not yet installed (unstable.snapshot) replaces the whole log: firstIndex() is
// its index + 1 and term() knows its term.

import { assert } from '../util/index.ts';
import { Unstable } from './log-unstable.ts';
import type { Entry, SnapshotMeta, Storage } from './types.ts';

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  committed: number;
  /** Last index handed to the driver for applying and acknowledged by advance(). */
  applied: number;

  /** Hand out committed entries that are not yet persisted locally (see RaftConfig). */
  private readonly applyUnpersisted: boolean;

  /** Told of every write to the log: entries[from..] replace the log from entries[from].index on
   *  (the Raft core tracks ConfChange entries with it). */
  onAppend: ((entries: readonly Entry[], from: number) => void) | null = null;

  constructor(storage: Storage, committed: number, applied: number, applyUnpersisted = false) {
    this.storage = storage;
    this.applyUnpersisted = applyUnpersisted;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    const first = storage.firstIndex();
    this.applied = Math.max(applied, first - 1);
    // A durable commit index may run ahead of the durable entries (the hard state and the entries
    // of one Ready are separate writes, and a crash can land between them). Commit is only a
    // hint here: clamp it; the leader tells us again. What was applied must be in the log.
    assert(this.applied <= this.lastIndex(), `RaftLog: applied ${this.applied} above last index ${this.lastIndex()}`);
    this.committed = Math.min(Math.max(committed, this.applied), this.lastIndex());
  }

  /** The first index whose entry the log holds (storage may be compacted between calls). */
  firstIndex(): number {
    const i = this.unstable.maybeFirstIndex();
    return i >= 0 ? i : this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.offset + this.unstable.ents.length - 1;
  }

  /** Last index that is durable locally (entries below the unstable part); 0 while a snapshot is
   *  being installed (the durable log is then the one it replaces). */
  persistedLastIndex(): number {
    return this.unstable.snapshot !== null ? 0 : this.unstable.offset - 1;
  }

  /** Term of `index`; 0 if beyond the last index or unknown (compacted). */
  term(index: number): number {
    const t = this.unstable.termOf(index);
    if (t >= 0) return t;
    if (index > this.lastIndex() || index < this.firstIndex() - 1) return 0;
    return this.storage.term(index);
  }

  /** Whether `index` is compacted away (its term is not known). */
  isCompacted(index: number): boolean {
    return index > 0 && index < this.firstIndex() - 1;
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(index: number, term: number): boolean {
    if (index > this.lastIndex() || this.isCompacted(index)) return false;
    return this.term(index) === term;
  }

  /** Raft 5.4.1: a log ending at (lastIndex, term) is at least as up to date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Index of the first entry of `entries` whose term differs from ours (or that we lack); 0 if
   *  all match. */
  findConflict(entries: readonly Entry[]): number {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /** The largest index <= `index` whose term is <= `term`, with that term; fast back-off. An
   *  index whose term is unknown (compacted) is returned with term 0. */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      if (this.isCompacted(index)) return { index, term: 0 };
      const ourTerm = this.term(index);
      if (ourTerm <= term) return { index, term: ourTerm };
    }
    return { index: 0, term: 0 };
  }

  /**
   * Follower side of AppendEntries: if our log holds (prevIndex, prevTerm), appends the entries
   * that are new (truncating a conflicting suffix) and advances the commit index. Returns the
   * index of the last new entry, or -1 if the log does not match at prevIndex.
   */
  maybeAppend(prevIndex: number, prevTerm: number, committed: number, entries: readonly Entry[]): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNewIndex = prevIndex + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      assert(conflictIndex > this.committed, `RaftLog.maybeAppend: conflict at ${conflictIndex} is committed (${this.committed})`);
      this.unstable.truncateAndAppend(entries, conflictIndex - (prevIndex + 1));
      this.onAppend?.(entries, conflictIndex - (prevIndex + 1));
    }
    this.commitTo(Math.min(committed, lastNewIndex));
    return lastNewIndex;
  }

  /** Leader side: appends freshly proposed entries. Returns the new last index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    assert(entries[0].index - 1 >= this.committed, `RaftLog.append: ${entries[0].index} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(entries, 0);
    this.onAppend?.(entries, 0);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index > this.committed) {
      assert(index <= this.lastIndex(), `RaftLog.commitTo: ${index} above last index ${this.lastIndex()}`);
      this.committed = index;
    }
  }

  /** Commits `index` if it is from `term` (Raft 5.4.2); with `anyTerm` (a test bug) it does not
   *  check the term. Returns whether the commit index moved. */
  maybeCommit(index: number, term: number, anyTerm = false): boolean {
    if (index > this.committed && (anyTerm || this.term(index) === term)) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /**
   * Follower: the leader sent a snapshot. Returns false (nothing changes but maybe the commit
   * index) if it is stale (at or below our commit index) or if our log already holds its last
   * entry (then the commit index moves up to it). Otherwise the log becomes the snapshot
   * (restore): every entry is discarded, committed = snap.index, and the snapshot waits in
   * unstable for the driver (Ready.snapshot). `installStale` is a test bug: restore a stale one.
   */
  maybeRestore(snap: SnapshotMeta, installStale = false): boolean {
    if (snap.index <= this.committed && !installStale) return false;
    if (snap.index > this.committed && this.matchTerm(snap.index, snap.term)) {
      this.commitTo(snap.index);
      return false;
    }
    this.unstable.restore(snap);
    this.committed = snap.index;
    return true;
  }

  /** The driver installed `snap` in its state machine: it is applied. */
  appliedSnapshot(snap: SnapshotMeta): void {
    this.applied = snap.index;
  }

  appliedTo(index: number): void {
    assert(index <= this.committed && index >= this.applied, `RaftLog.appliedTo: ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  /** Highest index that may be handed out to apply: committed, and persisted locally unless
   *  applyUnpersisted (a committed entry is durable on a quorum and never changes). */
  maxAppliableIndex(): number {
    return Math.min(this.committed, this.applyUnpersisted ? this.lastIndex() : this.persistedLastIndex());
  }

  /** The index after which committed entries are handed out: applied, or a snapshot handed out
   *  and not yet applied. While a snapshot waits to be handed out, -1: nothing can be applied. */
  private applyFloor(): number {
    const snap = this.unstable.snapshot;
    if (snap === null) return this.applied;
    if (!this.unstable.snapshotInProgress) return -1;
    return Math.max(this.applied, snap.index);
  }

  hasNextCommittedEntries(): boolean {
    const floor = this.applyFloor();
    return floor >= 0 && this.maxAppliableIndex() > floor;
  }

  nextCommittedEntries(bytesMax: number): Entry[] {
    const floor = this.applyFloor();
    if (floor < 0) return [];
    const hi = this.maxAppliableIndex() + 1;
    const lo = floor + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, bytesMax);
  }

  /**
   * Entries [lo, hi), at least one if lo < hi, stopping before the data size would exceed
   * `bytesMax`.
   */
  slice(lo: number, hi: number, bytesMax: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `RaftLog.slice: [${lo}, ${hi}) out of range`);
    if (lo >= hi) return [];
    const u = this.unstable;
    let out: Entry[] | null = null;
    let bytes = 0;
    if (lo < u.offset) {
      const stored = this.storage.entries(lo, Math.min(hi, u.offset), bytesMax);
      if (stored.length === 0) return stored;
      const next = stored[stored.length - 1].index + 1;
      if (next < Math.min(hi, u.offset) || next >= hi) return stored;
      out = stored.slice(); // the storage may hand out a shared array
      for (let i = 0; i < stored.length; i++) bytes += stored[i].data.byteLength;
      lo = next;
    }
    // The unstable part: scan sizes, then one slice.
    const ents = u.ents;
    let end = lo;
    for (; end < hi; end++) {
      const size = ents[end - u.offset].data.byteLength;
      if (bytes + size > bytesMax && (out !== null || end > lo)) break;
      bytes += size;
    }
    if (out === null) return u.slice(lo, end);
    for (let i = lo; i < end; i++) out.push(ents[i - u.offset]);
    return out;
  }
}
