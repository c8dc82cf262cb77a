// Recent records in memory, [start, last]: reads of the tail (followers close behind, pulls of
// new messages) take them without a syscall. It always holds every record accepted and not yet
// written (the pump's writes complete after append returns), so it only evicts written ones.
import type { LogRecord } from './types.ts';

/** What one cached record costs besides its body (the object, the array slot). */
const CACHE_RECORD_OVERHEAD_BYTES = 64;
/** Evicted slots kept at the front of the array before it is compacted. */
const CACHE_HEAD_SLACK_MAX = 4096;

export class RecordCache {
  private records: LogRecord[] = [];
  private head = 0;
  private startIndex = 1;
  private bytes = 0;

  constructor(private readonly bytesMax: number) {}

  /** Index of the first cached record; start > last when the cache is empty. */
  get start(): number {
    return this.startIndex;
  }

  /** The record at `index`, for start <= index <= last. */
  at(index: number): LogRecord {
    return this.records[this.head + index - this.startIndex];
  }

  /** Caches the record after the last one (`bodyBytes`: its body length). */
  push(r: LogRecord, bodyBytes: number): void {
    this.records.push(r);
    this.bytes += bodyBytes + CACHE_RECORD_OVERHEAD_BYTES;
  }

  /** Empty, the next record to be cached being `index` (after recovery). */
  resetTo(index: number): void {
    this.records = [];
    this.head = 0;
    this.startIndex = index;
    this.bytes = 0;
  }

  /** Drops the oldest records while over the budget, never one above `written`. */
  evict(written: number): void {
    while (this.bytes > this.bytesMax && this.startIndex <= written && this.head < this.records.length) {
      const r = this.records[this.head];
      (this.records as (LogRecord | undefined)[])[this.head] = undefined;
      this.head++;
      this.startIndex++;
      this.bytes -= r.data.byteLength + CACHE_RECORD_OVERHEAD_BYTES;
    }
    this.compact();
  }

  /** Drops records above `index` (a truncation, a failed write); empty: starts after `index`. */
  cutAfter(index: number): void {
    while (this.startIndex + (this.records.length - this.head) - 1 > index && this.records.length > this.head) {
      const r = this.records.pop() as LogRecord;
      this.bytes -= r.data.byteLength + CACHE_RECORD_OVERHEAD_BYTES;
    }
    if (this.records.length === this.head) this.resetTo(index + 1);
  }

  /** Drops records below `first` (retention). */
  dropBefore(first: number): void {
    while (this.startIndex < first && this.head < this.records.length) {
      const r = this.records[this.head++];
      this.bytes -= r.data.byteLength + CACHE_RECORD_OVERHEAD_BYTES;
      this.startIndex++;
    }
    if (this.startIndex < first) this.startIndex = first;
    this.compact();
  }

  private compact(): void {
    if (this.head > CACHE_HEAD_SLACK_MAX && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
  }
}
