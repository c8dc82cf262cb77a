// Membership changes asked of this replica (the master), on their way to the Raft core: one at a
// time (the core refuses a second while one is in flight; this refuses a second before the first
// even reached it). Each is answered once its entry is applied, or with the core's refusal.
import type { ConfChange, Entry, RaftNodeApi } from '../raft/index.ts';
import { EntryType } from '../raft/index.ts';
import type { CommitWaiters } from './commit-waiters.ts';
import { ProposalError, refusalError } from './errors.ts';
import type { ReplicaLogger } from './replica-options.ts';

interface PendingConfChange {
  readonly change: ConfChange;
  readonly force: boolean;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: ProposalError) => void;
}

export class ConfChangeQueue {
  private pending: PendingConfChange | null = null;

  get size(): number {
    return this.pending === null ? 0 : 1;
  }

  /** Queues `change` for the core; resolves once its entry is applied. */
  add(change: ConfChange, force: boolean): Promise<unknown> {
    if (this.pending !== null) return Promise.reject(new ProposalError('MEMBER_CHANGE_REFUSED', 'another membership change is being proposed'));
    return new Promise((resolve, reject) => {
      this.pending = { change, force, resolve, reject };
    });
  }

  /** Gives the queued change to the core; once accepted it waits in `waiters` for its apply. */
  propose(raft: RaftNodeApi, waiters: CommitWaiters, deadlineMs: number, logger: ReplicaLogger): void {
    const c = this.pending;
    if (c === null) return;
    this.pending = null;
    const result = raft.proposeConfChange(c.change, { force: c.force });
    if (!result.ok) {
      c.reject(refusalError(result));
      return;
    }
    logger.info({ op: c.change.op, node: c.change.node, index: result.lastIndex, term: result.term }, 'membership change proposed');
    waiters.add(result.lastIndex, result.term, deadlineMs, c.resolve, c.reject);
  }

  rejectAll(err: ProposalError): void {
    this.pending?.reject(err);
    this.pending = null;
  }
}

export function hasConfEntry(entries: readonly Entry[]): boolean {
  for (let i = 0; i < entries.length; i++) if (entries[i].type === EntryType.ConfChange) return true;
  return false;
}
