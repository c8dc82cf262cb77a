// The leader's view of one follower (etcd's tracker.Progress) and its in-flight append window.

import { assert } from '../util/index.ts';
import type { ProgressStatus } from './types.ts';

/**
 * A bounded ring of the appends sent but not yet acknowledged (last index and data bytes of
 * each), in increasing index order. Freed from the front when acknowledgements arrive. Bounded
 * in count and in bytes (etcd's MaxInflightBytes): what a leader has in flight to a follower that
 * stopped answering is a fixed amount, however long it stays silent.
 */
export class Inflights {
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private countValue = 0;
  private bytesValue = 0;

  constructor(
    readonly countMax: number,
    /** The window is full once this many data bytes are in flight (one append may pass it, so
     *  an entry larger than the limit can still be sent). */
    readonly bytesMax: number = Number.POSITIVE_INFINITY,
  ) {
    assert(countMax > 0, 'Inflights: countMax must be positive');
    assert(bytesMax > 0, 'Inflights: bytesMax must be positive');
    this.indexes = new Array<number>(countMax).fill(0);
    this.sizes = new Array<number>(countMax).fill(0);
  }

  get count(): number {
    return this.countValue;
  }

  /** Data bytes of the appends in flight. */
  get bytes(): number {
    return this.bytesValue;
  }

  full(): boolean {
    return this.countValue === this.countMax || this.bytesValue >= this.bytesMax;
  }

  /** Records an append whose last entry is `index`, carrying `bytes` of entry data. */
  add(index: number, bytes = 0): void {
    assert(!this.full(), 'Inflights.add: window is full');
    if (this.countValue > 0) {
      const lastIndex = this.indexes[(this.start + this.countValue - 1) % this.countMax];
      assert(index > lastIndex, `Inflights.add: ${index} not above ${lastIndex}`);
    }
    const slot = (this.start + this.countValue) % this.countMax;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this.countValue++;
    this.bytesValue += bytes;
  }

  /** Frees every in-flight append whose last index is <= `index`. */
  freeLE(index: number): void {
    while (this.countValue > 0 && this.indexes[this.start] <= index) {
      this.bytesValue -= this.sizes[this.start];
      this.start = (this.start + 1) % this.countMax;
      this.countValue--;
    }
    if (this.countValue === 0) {
      this.start = 0;
      this.bytesValue = 0;
    }
  }

  /** Frees the oldest in-flight append (a heartbeat response proves the follower is alive). */
  freeFirstOne(): void {
    if (this.countValue === 0) return;
    this.freeLE(this.indexes[this.start]);
  }

  reset(): void {
    this.start = 0;
    this.countValue = 0;
    this.bytesValue = 0;
  }
}

export enum ProgressState {
  /** One append at a time until the leader learns where the follower's log matches. */
  Probe = 'Probe',
  /** Appends are pipelined: next advances optimistically, bounded by the inflight window. */
  Replicate = 'Replicate',
  /** The entries the follower needs are compacted: a snapshot was sent; no appends until it is
   *  answered (AppendResp) or its transfer is reported (reportSnapshot, reportUnreachable). */
  Snapshot = 'Snapshot',
}

export class Progress {
  /** Highest index known to match the leader's log. */
  match: number;
  /** Next index to send. Invariant: match < next. */
  next: number;
  state = ProgressState.Probe;
  /** Probe state: an append was sent and not answered; no more until a response or heartbeat. */
  probeSent = false;
  /** State Snapshot: the index of the snapshot sent (0 otherwise). */
  pendingSnapshot = 0;
  /** Heard from within the current check-quorum period. */
  recentActive = false;
  /** recentActive at the end of the previous check-quorum period: recentActive || this is "heard
   *  from within the last one or two periods", which does not flicker at a period's start (for the
   *  conf change checks). */
  activeLastPeriod = false;
  /** The highest ReadIndex round this peer acknowledged (a heartbeat response) in this term. */
  readAckRound = 0;
  /** A node the latest conf entry removed (0: a member): the leader keeps replicating to it until
   *  a heartbeat tells it that entry is committed, so that it applies its removal and stops. */
  removedAt = 0;
  readonly inflights: Inflights;

  constructor(match: number, next: number, inflightCountMax: number, inflightBytesMax?: number) {
    assert(match < next, `Progress: match ${match} must be below next ${next}`);
    this.match = match;
    this.next = next;
    this.inflights = new Inflights(inflightCountMax, inflightBytesMax);
  }

  /** Back to a fresh Probe state at (match, next) (a new term). */
  reset(match: number, next: number): void {
    assert(match < next, `Progress.reset: match ${match} must be below next ${next}`);
    this.match = match;
    this.next = next;
    this.state = ProgressState.Probe;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.recentActive = false;
    this.activeLastPeriod = false;
    this.readAckRound = 0;
    this.inflights.reset();
  }

  /** Heard from recently: in this check-quorum period or the one before. */
  recentlyActive(): boolean {
    return this.recentActive || this.activeLastPeriod;
  }

  /** Probes from match + 1; from a Snapshot state, after the snapshot sent (etcd). */
  becomeProbe(): void {
    this.next = this.state === ProgressState.Snapshot ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.state = ProgressState.Probe;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = ProgressState.Replicate;
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /** A snapshot at `index` was sent: nothing more until it is answered or reported. */
  becomeSnapshot(index: number): void {
    this.state = ProgressState.Snapshot;
    this.pendingSnapshot = index;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** The snapshot transfer was reported finished (`ok`) or failed: Probe (after the snapshot if
   *  ok, from match + 1 if not), paused until the follower answers (a heartbeat response). */
  snapshotReported(ok: boolean): void {
    assert(this.state === ProgressState.Snapshot, `Progress.snapshotReported: state is ${this.state}`);
    if (!ok) this.pendingSnapshot = 0;
    this.becomeProbe();
    this.probeSent = true;
  }

  /** The follower's log ends at `lastIndex`, below its match: it lost its store. Probe from there. */
  lostEntriesAbove(lastIndex: number): void {
    assert(lastIndex < this.match, `Progress.lostEntriesAbove: ${lastIndex} is not below match ${this.match}`);
    this.match = lastIndex;
    this.pendingSnapshot = 0;
    this.becomeProbe();
  }

  /** The follower acknowledged up to `index`. Returns false if that was old news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /**
   * The follower rejected an append at prevIndex `rejected`; `matchHint` is the highest index
   * that may still match. Returns false if the rejection is stale (ignored).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    // A rejection of an append sent before the snapshot: the snapshot's answer will tell.
    if (this.state === ProgressState.Snapshot) return false;
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    if (matchHint < this.match) {
      // The follower's log ends below what it acknowledged: it lost its store (a replaced disk,
      // a repaired tail). Raft assumes durable logs, and without this the leader would probe
      // at the old match forever. Lowering match never lowers the commit index (it only moves
      // forward), and if the rejection was a stale one the next acknowledgement raises it again.
      this.match = matchHint;
    }
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending another append to this follower must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  /** An append carrying `entryCount` entries up to `lastIndex` was sent. */
  sentEntries(entryCount: number, lastIndex: number, bytes = 0): void {
    if (this.state === ProgressState.Replicate) {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else {
      this.probeSent = true;
    }
  }

  toStatus(learner: boolean): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      pendingSnapshot: this.pendingSnapshot,
      inflight: this.inflights.count,
      inflightBytes: this.inflights.bytes,
      recentActive: this.recentActive,
      learner,
    };
  }
}
