// The reference Storage: the durable log kept in memory. Used by tests and the simulation.
// The core only reads it (Storage); the driver writes it with append/setHardState after a Ready.

import { assert } from '../util/index.ts';
import { CompactedError, UnavailableError } from './errors.ts';
import { decodeConfChangeEntry } from './conf.ts';
import type { ConfAt, ConfState, Entry, HardState, SnapshotMeta, Storage } from './types.ts';
import { EntryType, NONE } from './types.ts';

export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: NONE, commit: 0 };
  /** Entries [offset, offset + ents.length). */
  private ents: Entry[] = [];
  /** Index of ents[0]; the compaction point is offset - 1. */
  private offset = 1;
  /** Term of the entry at offset - 1 (0 for a log never compacted). */
  private compactedTerm = 0;
  /** The configuration in force at offset - 1 (null: no conf entry at or below it, the seed). */
  private compactedConf: ConfState | null = null;
  /** What the driver's state machine knows (setConfState); see initialConfState(). */
  private appliedConf: ConfAt | null = null;

  initialHardState(): HardState {
    return this.hardState;
  }

  firstIndex(): number {
    return this.offset;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  term(index: number): number {
    if (index === this.offset - 1) return this.compactedTerm;
    if (index < this.offset) {
      if (index === 0) return 0;
      throw new CompactedError(index, this.offset);
    }
    const last = this.lastIndex();
    if (index > last) throw new UnavailableError(index, last);
    return this.ents[index - this.offset].term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.offset) throw new CompactedError(lo, this.offset);
    const last = this.lastIndex();
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.offset];
      bytes += e.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): SnapshotMeta {
    return { index: this.offset - 1, term: this.compactedTerm, conf: this.compactedConf };
  }

  /** The configuration set by setConfState(), or the snapshot's if that is newer (or none was
   *  set); null when neither knows one (the seed). */
  initialConfState(): ConfAt | null {
    const snap: ConfAt | null = this.compactedConf !== null ? { index: this.offset - 1, conf: this.compactedConf } : null;
    if (this.appliedConf === null) return snap;
    if (snap === null || this.appliedConf.index >= snap.index) return this.appliedConf;
    return snap;
  }

  // ---- mutators (driver side) ----

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /** The configuration the driver's state machine holds at its applied index (a driver that
   *  restarts the core with RaftConfig.applied sets it; see Storage.initialConfState). */
  setConfState(c: ConfAt | null): void {
    this.appliedConf = c;
  }

  /** Appends `entries` (contiguous). If entries[0].index <= lastIndex, the stored suffix from
   *  there is truncated first. Entries below the first index are ignored (already compacted). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    const last = this.lastIndex();
    assert(first <= last + 1, `MemoryStorage.append: gap (first ${first}, last ${last})`);
    let from = 0;
    if (first < this.offset) {
      from = this.offset - first;
      if (from >= entries.length) return;
    }
    // Truncate a conflicting (or overlapping) suffix.
    const keep = entries[from].index - this.offset;
    if (keep < this.ents.length) this.ents.length = keep;
    for (let i = from; i < entries.length; i++) {
      const e = entries[i];
      assert(e.index === this.offset + this.ents.length, `MemoryStorage.append: not contiguous at ${e.index}`);
      this.ents.push(e);
    }
  }

  /**
   * Discards entries up to and including `index` (retention): the driver keeps its state
   * machine's state at `index` as the snapshot. Refused (RangeError) above `applied`, the
   * state machine's applied index (a snapshot is of applied state; unchecked when not given,
   * for callers that track it elsewhere), or above the last index.
   */
  compact(index: number, applied?: number): void {
    if (index < this.offset) return;
    if (applied !== undefined && index > applied) throw new RangeError(`MemoryStorage.compact: ${index} is above the applied index ${applied}`);
    if (index > this.lastIndex()) throw new RangeError(`MemoryStorage.compact: ${index} is above the last index ${this.lastIndex()}`);
    this.compactedTerm = this.ents[index - this.offset].term;
    for (let i = index - this.offset; i >= 0; i--) {
      const e = this.ents[i];
      if (e.type === EntryType.ConfChange) {
        this.compactedConf = decodeConfChangeEntry(e.data).conf;
        break;
      }
    }
    this.ents = this.ents.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  /** Installs a snapshot (Ready.snapshot): the log is discarded and now starts after it. */
  applySnapshot(meta: SnapshotMeta): void {
    assert(meta.index >= 0 && meta.term >= 0, `MemoryStorage.applySnapshot: bad ${JSON.stringify(meta)}`);
    this.ents = [];
    this.offset = meta.index + 1;
    this.compactedTerm = meta.term;
    this.compactedConf = meta.conf ?? null;
  }

  /** Drops the stored entries after `index` (a truncation that reached the disk alone). */
  truncateAfter(index: number): void {
    assert(index >= this.offset - 1, `MemoryStorage.truncateAfter: ${index} is below the compaction point ${this.offset - 1}`);
    if (index < this.lastIndex()) this.ents.length = index + 1 - this.offset;
  }

  /** An independent copy (entry objects are shared: they are immutable). */
  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.hardState = this.hardState;
    c.ents = this.ents.slice();
    c.offset = this.offset;
    c.compactedTerm = this.compactedTerm;
    c.compactedConf = this.compactedConf;
    c.appliedConf = this.appliedConf;
    return c;
  }

  /** All stored entries (a copy of the array; for checkers). */
  allEntries(): Entry[] {
    return this.ents.slice();
  }
}
