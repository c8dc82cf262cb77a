// What the store knows about its log in memory, shared by its parts: where the log starts and
// ends, how far it is written and flushed (as indexes and as physical positions), the term of
// every record and the recent records. The parts move these forward; the invariants say in which
// order.
import type { CommitLogError } from './errors.ts';
import { RecordCache } from './record-cache.ts';
import { TermRuns } from './term-runs.ts';
import type { LogRecord } from './types.ts';

export type LifecycleState = 'opening' | 'open' | 'closing' | 'closed';

export class LogState {
  lifecycle: LifecycleState = 'opening';

  // Indexes. Invariant: first - 1 <= flushed <= written <= last.
  first = 1;
  /** Accepted (lastIndex()): moved by append, cut back by a truncation or a failed write. */
  last = 0;
  /** Written to the files: what reads may take from disk. */
  written = 0;
  flushed = 0;
  /** Term of first - 1 (remembered across retention). */
  prevTerm = 0;

  // Physical positions. Invariant: flushedPos <= writtenPos <= acceptPos.
  /** Start of the segment the next accepted record goes to (if it fits). */
  acceptSegStart = 0;
  acceptPos = 0;
  writtenPos = 0;
  flushedPos = 0;

  readonly runs = new TermRuns();
  /** Always holds every record accepted and not yet written. */
  readonly cache: RecordCache;

  /** Set after a failed fdatasync or an I/O error: writes are refused from then on. */
  failed: CommitLogError | null = null;
  /** truncateAfter is cutting the files: a flush round must not move flushed forward. */
  truncating = false;

  appendCalls = 0;
  recordsAppended = 0;
  flushRounds = 0;

  constructor(cacheBytesMax: number) {
    this.cache = new RecordCache(cacheBytesMax);
  }

  /** The term runs and the record cache learn of an accepted record. */
  remember(r: LogRecord, bodyBytes: number): void {
    this.runs.add(r.index, r.term);
    this.cache.push(r, bodyBytes);
  }

  lastTerm(): number {
    return this.runs.lastTerm(this.prevTerm);
  }

  /** Drops records above `index` from memory: last, term runs, cache. */
  cutMemoryAfter(index: number): void {
    this.last = index;
    this.runs.cutAfter(index);
    this.cache.cutAfter(index);
  }
}
