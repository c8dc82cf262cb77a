// The Raft core's read-only Storage view over the commitlog (entries, terms) and the meta store
// (hard state). The driver writes through CommitLog / MetaStore directly.
import type { ConfAt, Entry, EntryType, HardState, SnapshotMeta, Storage } from '../raft/index.ts';
import { CommitLogError } from './errors.ts';
import type { CommitLog, MetaStore } from './types.ts';

/** One entries() call returns at most this many entries (the core asks again for more). */
const ENTRIES_PER_CALL_MAX = 65536;

export class CommitLogRaftStorage implements Storage {
  constructor(
    private readonly log: CommitLog,
    private readonly meta: MetaStore,
    /** The snapshot the driver can send (the broker's retention mark at its cut); absent, or
     *  null: the entry before the log's first (a log never compacted has none). */
    private readonly snapshotOf?: () => SnapshotMeta | null,
    /** The configuration the driver's state machine applied last (Storage.initialConfState);
     *  absent: none (the seed). */
    private readonly confOf?: () => ConfAt | null,
  ) {}

  initialHardState(): HardState {
    return this.meta.getHardState();
  }

  initialConfState(): ConfAt | null {
    return this.confOf?.() ?? null;
  }

  firstIndex(): number {
    return this.log.firstIndex();
  }

  lastIndex(): number {
    return this.log.lastIndex();
  }

  snapshot(): SnapshotMeta {
    const driven = this.snapshotOf?.() ?? null;
    if (driven !== null) return driven;
    return { index: this.log.firstIndex() - 1, term: this.log.firstIndex() > 1 ? this.log.termAt(this.log.firstIndex() - 1) : 0 };
  }

  /** Throws CommitLogError COMPACTED below firstIndex() - 1, INVALID_ARGUMENT above lastIndex(). */
  term(index: number): number {
    return this.log.termAt(index);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi) {
      throw new CommitLogError('INVALID_ARGUMENT', `entries(${lo}, ${hi}): bad range`);
    }
    if (lo < this.log.firstIndex()) {
      throw new CommitLogError('COMPACTED', `entries(${lo}, ${hi}): below the first index ${this.log.firstIndex()}`);
    }
    if (hi > this.log.lastIndex() + 1) {
      throw new CommitLogError('INVALID_ARGUMENT', `entries(${lo}, ${hi}): beyond the last index ${this.log.lastIndex()}`);
    }
    const out: Entry[] = [];
    let bytes = 0;
    let next = lo;
    while (next < hi && out.length < ENTRIES_PER_CALL_MAX) {
      const got = this.log.read(next, out.length === 0 ? maxBytes : maxBytes - bytes);
      if (got.length === 0) break;
      let stop = false;
      for (const r of got) {
        if (r.index >= hi) {
          stop = true;
          break;
        }
        if (out.length > 0 && bytes + r.data.byteLength > maxBytes) {
          stop = true;
          break;
        }
        out.push({ index: r.index, term: r.term, type: r.type as EntryType, data: r.data });
        bytes += r.data.byteLength;
        next = r.index + 1;
      }
      if (stop || bytes >= maxBytes) break;
    }
    return out;
  }
}
