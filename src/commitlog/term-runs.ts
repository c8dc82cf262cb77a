// The term of every record in the log, from memory: runs of consecutive indexes with one term
// (terms only go up, so a log of millions of records has a few runs).
import { assert } from '../util/index.ts';

export class TermRuns {
  /** runTerms[k] is the term of [runStarts[k], runStarts[k + 1]). */
  private runStarts: number[] = [];
  private runTerms: number[] = [];

  /** The record at `index` (the next after the last one known) has `term`. */
  add(index: number, term: number): void {
    if (this.runTerms.length === 0 || this.runTerms[this.runTerms.length - 1] !== term) {
      this.runStarts.push(index);
      this.runTerms.push(term);
    }
  }

  /** Term of `index`; some run must cover it. */
  termOf(index: number): number {
    return this.runTerms[this.runOf(index)];
  }

  /** The last record's term, or `ifEmpty` without records. */
  lastTerm(ifEmpty: number): number {
    return this.runTerms.length === 0 ? ifEmpty : this.runTerms[this.runTerms.length - 1];
  }

  /** Forgets the terms of records above `index`. */
  cutAfter(index: number): void {
    while (this.runStarts.length > 0 && this.runStarts[this.runStarts.length - 1] > index) {
      this.runStarts.pop();
      this.runTerms.pop();
    }
  }

  /** Forgets the terms of records below `first` (retention). */
  dropBefore(first: number): void {
    const r = this.runOf(first);
    this.runStarts = this.runStarts.slice(r);
    this.runTerms = this.runTerms.slice(r);
    this.runStarts[0] = first;
  }

  clear(): void {
    this.runStarts = [];
    this.runTerms = [];
  }

  private runOf(index: number): number {
    let lo = 0;
    let hi = this.runStarts.length - 1;
    assert(hi >= 0 && this.runStarts[0] <= index, `a term run covers index ${index}`);
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runStarts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
