// Linearizable reads waiting on Raft's ReadIndex: each gets a context the core echoes in a
// ReadState with the commit index the master confirmed with a quorum, and is answered once this
// replica has applied up to that index (the read then reflects every write acknowledged before
// it began). A read whose ReadState never comes (no quorum, the master changed) times out.
import type { RaftNodeApi } from '../raft/index.ts';
import { ProposalError, refusalError } from './errors.ts';

/** Linearizable reads waiting for their ReadIndex confirmation or their apply, at most. */
export const LINEARIZABLE_READS_MAX = 4096;

interface Read {
  readonly deadlineMs: number;
  readonly resolve: () => void;
  readonly reject: (err: ProposalError) => void;
  /** The confirmed index once its ReadState came; 0 before. */
  index: number;
}

export class ReadIndexWaiters {
  private nextId = 1;
  /** Insertion order is deadline order (one timeout for all, a monotonic clock). */
  private readonly reads = new Map<number, Read>();
  /** Contexts not yet given to the core. */
  private toCore: Uint8Array[] = [];

  constructor(private readonly max: number) {}

  get size(): number {
    return this.reads.size;
  }

  /** A new read; its context waits in takeNew() for the core. */
  add(deadlineMs: number): Promise<void> {
    if (this.reads.size >= this.max) return Promise.reject(new ProposalError('OVERLOADED', `more than ${this.max} linearizable reads waiting`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.reads.set(id, { deadlineMs, resolve, reject, index: 0 });
      this.toCore.push(contextOf(id));
    });
  }

  /** Hands the new reads to the core; false when there were none. */
  feed(raft: RaftNodeApi): boolean {
    if (this.toCore.length === 0) return false;
    const list = this.toCore;
    this.toCore = [];
    for (const ctx of list) {
      const r = raft.readIndex(ctx);
      if (!r.ok) this.refused(ctx, refusalError(r));
    }
    return true;
  }

  /** The core refused the read of `ctx`. */
  private refused(ctx: Uint8Array, err: ProposalError): void {
    const id = idOf(ctx);
    const r = this.reads.get(id);
    if (r === undefined) return;
    this.reads.delete(id);
    r.reject(err);
  }

  /** A ReadState came: the read of `ctx` may be answered once `index` is applied. */
  confirmed(ctx: Uint8Array, index: number, appliedIndex: number): void {
    const id = idOf(ctx);
    const r = this.reads.get(id);
    if (r === undefined || r.index > 0) return;
    r.index = index;
    if (appliedIndex >= index) {
      this.reads.delete(id);
      r.resolve();
    }
  }

  /** Answers the confirmed reads up to `appliedIndex`. */
  applied(appliedIndex: number): void {
    for (const [id, r] of this.reads) {
      if (r.index > 0 && r.index <= appliedIndex) {
        this.reads.delete(id);
        r.resolve();
      }
    }
  }

  /** Rejects the reads whose deadline passed with `err()`. */
  expire(nowMs: number, err: () => ProposalError): void {
    for (const [id, r] of this.reads) {
      if (r.deadlineMs > nowMs) break;
      this.reads.delete(id);
      r.reject(err());
    }
  }

  /** Rejects every read not yet confirmed (the master changed: its confirmation will not come). */
  rejectUnconfirmed(err: ProposalError): void {
    for (const [id, r] of this.reads) {
      if (r.index > 0) continue;
      this.reads.delete(id);
      r.reject(err);
    }
    this.toCore = [];
  }

  rejectAll(err: ProposalError): void {
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
    this.toCore = [];
  }
}

function contextOf(id: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(id);
  return b;
}

function idOf(ctx: Uint8Array): number {
  if (ctx.byteLength !== 8) return 0;
  return Buffer.from(ctx.buffer, ctx.byteOffset, 8).readDoubleBE(0);
}
