// Proposals waiting for their entry to commit and apply, by log index. The driver answers each
// with the state machine's result, or with a ProposalError saying why it will not get one.
import type { NodeId } from '../raft/index.ts';
import { ProposalError } from './errors.ts';

interface Waiter {
  readonly term: number;
  readonly deadlineMs: number;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: ProposalError) => void;
}

export class CommitWaiters {
  /** Insertion order is deadline order (one timeout for all, a monotonic clock). */
  private readonly byIndex = new Map<number, Waiter>();

  get size(): number {
    return this.byIndex.size;
  }

  /** Waits for the entry this leader proposed at `index` in `term`. */
  add(index: number, term: number, deadlineMs: number, resolve: (result: unknown) => void, reject: (err: ProposalError) => void): void {
    // A waiter left at this index from an older term: a newer term's entry took its index here.
    const stale = this.byIndex.get(index);
    if (stale) {
      this.byIndex.delete(index); // re-inserted below, at the end: the Map stays in deadline order
      // Not certainly lost: another replica may still hold the old entry and a later leader may
      // commit it. Only an entry committed at its index with another term is certainly lost
      // (applied()). So: unknown, as a timeout.
      stale.reject(new ProposalError('TIMEOUT', 'leadership changed before the entry committed; it may still commit'));
    }
    this.byIndex.set(index, { term, deadlineMs, resolve, reject });
  }

  /** The entry at `index` of `term` was applied with `result`: its waiter gets the result if it
   *  proposed that very entry, NOT_MASTER (naming `leaderId`) if another term's took its place. */
  applied(index: number, term: number, result: unknown, leaderId: NodeId): void {
    const w = this.byIndex.get(index);
    if (w === undefined) return;
    this.byIndex.delete(index);
    if (w.term === term) w.resolve(result);
    else w.reject(new ProposalError('NOT_MASTER', 'leadership changed before the entry committed', leaderId));
  }

  /** Answers TIMEOUT to the waiters whose deadline passed. */
  expire(nowMs: number, leaderId: NodeId): void {
    // Only the head can expire first: deadlines grow along the Map.
    for (const [index, w] of this.byIndex) {
      if (w.deadlineMs > nowMs) break;
      this.byIndex.delete(index);
      w.reject(new ProposalError('TIMEOUT', 'not committed in time (the entry may still commit)', leaderId));
    }
  }

  rejectAll(err: ProposalError): void {
    for (const w of this.byIndex.values()) w.reject(err);
    this.byIndex.clear();
  }
}
